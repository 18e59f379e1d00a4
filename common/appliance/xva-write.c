/* xdisk: creating XenServer / XCP-ng XVA exports; see xva-write.h.
 *
 * The archive, as xapi writes it (../shared/docs/appliance-targets.md
 * §5.1, §8):
 *
 *   block 0        until the export is complete: a block no tar reader
 *                  takes for a header (xd_tar_make_unfinished); last of
 *                  all: the header of ova.xml
 *   block 1..      ova.xml (xva-xml-write.c), known at create
 *   then           for each disk in order, for each chunk in ascending
 *                  order that is stored: "Ref:NNN/%08d" (1 MiB) and
 *                  "Ref:NNN/%08d.checksum" (SHA-1, 40 lowercase hex) or
 *                  ".xxhash" (XXH64, 16 uppercase hex), no newline
 *   end            two zero blocks
 *
 * A disk's virtual size is rounded up to a whole MiB, so that every
 * chunk is exactly 1 MiB (xapi takes the length of the first chunk it
 * reads for every gap of every disk, §5.1).  All-zero chunks are left
 * out, but chunk 0 and the last chunk are always stored.
 *
 * NBD clients write out of order, but the chunks must be in ascending
 * order.  The disk being written has a window of chunks held in memory
 * (XVA_WINDOW chunks of 1 MiB): a chunk is hashed and appended when
 * every chunk before it is complete or settled.  A write beyond the
 * window waits; when nothing advances for the stall time the chunks
 * below the lowest waiting write are settled as they are (what was
 * never written reads as zeros).  A write behind what was appended is
 * refused, naming the window.  The window's waiting and settling in
 * order are io/window.c's, shared with the streamOptimized VMDK writer.
 *
 * The disks are stored one after another: disk K+1 can be written only
 * once disk K is finished (its last client has gone after writing).
 * When the last disk is finished the archive is completed: the end
 * blocks, a flush, the header of ova.xml, a flush.  Until then the
 * file is refused by every reader, whatever happens to the process.
 *
 * Concurrency: one mutex guards everything; hashing a chunk (SHA-1 or
 * XXH64) is fast enough to be done by the writer that completes it.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/xd-vmdesc.h"
#include "appliance/xva.h"
#include "appliance/xva-write.h"
#include "archive/xd-tar-write.h"
#include "core/xd-digest.h"
#include "io/xd-window.h"
#include "include/xd-clock.h"
#include "include/xd-iszero.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define CHUNK XD_XVA_CHUNK
#define SECTOR 512
#define CHUNK_SECTORS (CHUNK / SECTOR)
/* The reordering window: 64 chunks, 64 MiB of memory at most. */
#define XVA_WINDOW 64
/* See vmdk-stream.h: nothing has advanced for this long (ms) while
 * other requests are in progress, or for the grace time while every
 * request in progress waits for the window: settle what is below.
 */
#define XVA_STALL_MS 5000
#define XVA_GRACE_MS 1000
/* A stored chunk in the archive: its header, its 1 MiB, the checksum
 * member's header and its text padded to a block.
 */
#define STORED_BYTES (XD_TAR_BLOCK + CHUNK + 2 * XD_TAR_BLOCK)

/* A chunk of the window. */
struct slot {
  uint64_t chunk;
  unsigned char *data;          /* NULL while only zeros were written */
  uint64_t filled[CHUNK_SECTORS / 64];  /* sectors written */
};

struct xva_writer;

struct xva_disk {
  struct xva_writer *w;
  size_t index;
  char ref[XD_XVA_REF_SIZE];    /* chunk directory and export name */
  uint64_t size;                /* virtual size, whole MiB */
  uint64_t nr_chunks;
  uint64_t start;               /* offset of its first chunk's header */
  uint8_t *stored;              /* bitmap of chunks in the archive */
  uint64_t nr_stored;
  uint64_t unwritten;           /* bytes settled without being written */
  bool touched;                 /* written or zeroed at least once */
  bool finished;
};

struct xva_writer {
  struct xd_io *io;
  pthread_mutex_t lock;
  pthread_cond_t cond;          /* the window moved, or a failure */
  struct xd_vmdesc vm;
  struct xva_disk *disks;
  struct xd_image *images;      /* one per disk, served by xva_disk_ops */
  size_t nr_disks;
  size_t current;               /* the disk being written */
  uint64_t mtime;               /* of every member */
  uint64_t file_end;            /* bytes of the archive written */
  char *xml;                    /* ova.xml */
  size_t xml_len;
  unsigned char *zeros;         /* a chunk of zeros */
  /* The window of the current disk. */
  struct slot *ring[XVA_WINDOW];
  /* Chunk buffers of settled slots, kept for the next ones: a fresh
   * 1 MiB allocation costs its page faults and the kernel's zeroing
   * every time (most of the CPU time over the NBD limit, bench/README.md).
   */
  unsigned char *spare[XVA_WINDOW];
  size_t nr_spare;
  /* win.next: the first chunk of the current disk not settled; chunks
   * below win.floor settle as they are; win.failed and win.error: the
   * export failed.
   */
  struct xd_window win;
  bool complete;
};

static const struct xd_format xva_disk_ops;


/* ---- failures ---- */

/* The export cannot go on: keep the first error for every later
 * request (lock held).
 */
static int
fail (struct xva_writer *w, int err)
{
  return xd_window_fail (&w->win, err ? err : EIO);
}

static int
refuse_failed (struct xva_writer *w)
{
  xd_error ("%s: an earlier write to the XVA export failed (%s): it cannot "
            "be completed", w->io->name, strerror (w->win.error));
  errno = w->win.error;
  return -1;
}

/* ---- appending chunks (lock held) ---- */

static bool
is_stored (const struct xva_disk *d, uint64_t k)
{
  return d->stored[k / 8] & (1 << (k % 8));
}

/* The checksum member's suffix and text of CHUNK bytes at DATA. */
static void
chunk_sum (const struct xva_writer *w, const unsigned char *data,
           const char **suffix, char hex[XD_DIGEST_HEX_MAX])
{
  if (w->vm.checksum == XD_CHUNK_XXHASH) {
    /* xapi compares "%016LX" of the 64-bit value (§5.2). */
    *suffix = "xxhash";
    snprintf (hex, XD_DIGEST_HEX_MAX, "%016" PRIX64, xd_xxh64 (data, CHUNK));
  }
  else {
    *suffix = "checksum";
    xd_digest_buf (XD_DIGEST_SHA1, data, CHUNK, hex);
  }
}

static int
append (struct xva_writer *w, const void *buf, size_t len, const char *what)
{
  if (xd_io_write (w->io, buf, len, w->file_end, what) == -1)
    return fail (w, errno);
  w->file_end += len;
  return 0;
}

/* Chunk K of D, DATA (NULL: zeros), and its checksum member. */
static int
append_chunk (struct xva_writer *w, struct xva_disk *d, uint64_t k,
              const unsigned char *data)
{
  uint8_t head[XD_TAR_BLOCK], tail[2 * XD_TAR_BLOCK] = { 0 };
  char name[XD_TAR_WRITE_MAX_NAME + 1], hex[XD_DIGEST_HEX_MAX];
  const char *suffix;

  if (data == NULL)
    data = w->zeros;
  chunk_sum (w, data, &suffix, hex);
  snprintf (name, sizeof name, "%s/%08" PRIu64, d->ref, k);
  if (xd_tar_make_header (head, name, CHUNK, w->mtime) == -1)
    return fail (w, EINVAL);
  snprintf (name, sizeof name, "%s/%08" PRIu64 ".%s", d->ref, k, suffix);
  if (xd_tar_make_header (tail, name, strlen (hex), w->mtime) == -1)
    return fail (w, EINVAL);
  memcpy (tail + XD_TAR_BLOCK, hex, strlen (hex));
  if (append (w, head, sizeof head, "chunk header") == -1 ||
      append (w, data, CHUNK, "chunk") == -1 ||
      append (w, tail, sizeof tail, "chunk checksum") == -1)
    return -1;
  d->stored[k / 8] |= 1 << (k % 8);
  d->nr_stored++;
  return 0;
}

static struct slot **
slot_at (struct xva_writer *w, uint64_t k)
{
  return &w->ring[k % XVA_WINDOW];
}

static void
slot_free (struct slot *s)
{
  if (s) {
    free (s->data);
    free (s);
  }
}

/* A chunk buffer of zeros: a spare one, or a new one. */
static unsigned char *
buffer_get (struct xva_writer *w)
{
  unsigned char *p;

  if (w->nr_spare == 0)
    return calloc (1, CHUNK);
  p = w->spare[--w->nr_spare];
  memset (p, 0, CHUNK);
  return p;
}

/* Settled S goes: its buffer is kept for the next slots. */
static void
slot_recycle (struct xva_writer *w, struct slot *s)
{
  if (s->data && w->nr_spare < XVA_WINDOW) {
    w->spare[w->nr_spare++] = s->data;
    s->data = NULL;
  }
  slot_free (s);
}

static unsigned
sectors_filled (const struct slot *s)
{
  unsigned n = 0, i;

  for (i = 0; i < CHUNK_SECTORS / 64; i++)
    n += __builtin_popcountll (s->filled[i]);
  return n;
}

/* Chunk w->win.next of D is settled: appended if it holds data or must be
 * there (the first and the last, §5.1), else left out.  ZEROED: the
 * client zeroed all of it (not a never-written chunk).
 */
static int
settle_next (struct xva_writer *w, struct xva_disk *d, bool zeroed)
{
  uint64_t k = w->win.next;
  struct slot **at = slot_at (w, k), *s = *at;
  const unsigned char *data = NULL;

  if (s && s->chunk == k) {
    d->unwritten += (uint64_t) (CHUNK_SECTORS - sectors_filled (s)) * SECTOR;
    if (s->data && !xd_is_zero (s->data, CHUNK))
      data = s->data;
  }
  else {
    s = NULL;
    if (!zeroed)
      d->unwritten += CHUNK;
  }
  if ((data || k == 0 || k == d->nr_chunks - 1) &&
      append_chunk (w, d, k, data) == -1)
    return -1;
  if (s) {
    *at = NULL;
    slot_recycle (w, s);
  }
  w->win.next++;
  w->win.progress++;
  return 0;
}

static bool
slot_complete (const struct slot *s)
{
  size_t i;

  for (i = 0; i < CHUNK_SECTORS / 64; i++)
    if (s->filled[i] != UINT64_MAX)
      return false;
  return true;
}

/* ---- the window's steps (lock held) ---- */

/* The disk being written, whose chunks the window holds. */
static struct xva_disk *
current_disk (struct xva_writer *w)
{
  return &w->disks[w->current];
}

/* Chunk w->win.next, if it is complete or below the floor, is settled
 * (xd_window_settle_ready's step).
 */
static int
settle_ready_next (void *h)
{
  struct xva_writer *w = h;
  struct slot *s = *slot_at (w, w->win.next);
  bool mine = s && s->chunk == w->win.next;

  if (!(mine && slot_complete (s)) && w->win.next >= w->win.floor)
    return 0;
  return settle_next (w, current_disk (w), false) == -1 ? -1 : 1;
}

/* Chunk w->win.next was zeroed whole: settled if its slot is empty. */
static int
settle_zeroed_next (void *h)
{
  struct xva_writer *w = h;

  if (*slot_at (w, w->win.next) != NULL)
    return 0;
  return settle_next (w, current_disk (w), true) == -1 ? -1 : 1;
}

static int
refuse_failed_op (void *h)
{
  return refuse_failed (h);
}

static void
say_stalled (void *h, uint64_t below)
{
  struct xva_writer *w = h;

  xd_debug ("%s: XVA window stalled, settling the chunks of %s below %"
            PRIu64 " as they are", w->io->name, current_disk (w)->ref, below);
}

static int
refuse_behind (struct xva_writer *w, struct xva_disk *d, uint64_t offset)
{
  xd_error ("%s: write at offset %" PRIu64 " of disk %zu (%s) comes after "
            "that chunk was stored in the XVA: writes must arrive in "
            "ascending order within a window of %d MiB", w->io->name,
            offset, d->index, d->ref, XVA_WINDOW);
  return errno = EIO, -1;
}

/* Write (BUF NULL: zero) LEN bytes at OFF of chunk K of the disk being
 * written (xd_window_write's step).
 */
static int
write_in_chunk (void *h, uint64_t k, const void *buf, unsigned off,
                unsigned len, uint64_t disk_offset)
{
  struct xva_writer *w = h;
  struct xva_disk *d = current_disk (w);
  bool zeros = buf == NULL || xd_is_zero (buf, len);
  struct slot **at, *s;
  unsigned i;

  if (xd_window_wait (&w->win, k) == -1)
    return -1;
  if (k < w->win.next)              /* zeros over a chunk left out: no change */
    return zeros && !is_stored (d, k) ? 0 : refuse_behind (w, d, disk_offset);
  at = slot_at (w, k);
  if ((s = *at) == NULL) {
    if ((s = *at = calloc (1, sizeof *s)) == NULL) {
      xd_error ("%s: out of memory for the XVA window", w->io->name);
      return errno = ENOMEM, -1;
    }
    s->chunk = k;
  }
  if (s->data == NULL && !zeros &&
      (s->data = buffer_get (w)) == NULL) {
    xd_error ("%s: out of memory for the XVA window", w->io->name);
    return errno = ENOMEM, -1;
  }
  if (s->data && buf)
    memcpy (s->data + off, buf, len);
  else if (s->data)
    memset (s->data + off, 0, len);
  for (i = (off + SECTOR - 1) / SECTOR; (i + 1) * SECTOR <= off + len; i++)
    s->filled[i / 64] |= UINT64_C (1) << (i % 64);
  w->win.progress++;
  return xd_window_settle_ready (&w->win);
}

static const struct xd_window_ops window_ops = {
  .settle_next = settle_ready_next,
  .settle_zeroed = settle_zeroed_next,
  .write_in_unit = write_in_chunk,
  .refuse_failed = refuse_failed_op,
  .say_stalled = say_stalled,
};

/* ---- requests on a disk ---- */

/* A write to a disk after the one being written waits, while that one
 * has been written to, up to XD_APPLIANCE_TURN_SECONDS for it to be
 * finished: its last client may have just gone, the close that
 * finishes it not yet run by nbdkit.  A disk before it never written
 * to refuses the write at once.
 */
static void
wait_turn (struct xva_writer *w, const struct xva_disk *d)
{
  uint64_t until = xd_now_ms () + XD_APPLIANCE_TURN_SECONDS * 1000;
  struct timespec ts = xd_monotonic_at (until);

  while (!w->win.failed && w->current < d->index &&
         w->disks[w->current].touched && xd_now_ms () < until)
    pthread_cond_timedwait (&w->cond, &w->lock, &ts);
}

static int
check_write (struct xva_disk *d, uint32_t count, uint64_t offset)
{
  struct xva_writer *w = d->w;
  struct xva_disk *cur;
  uint64_t end;

  wait_turn (w, d);
  cur = &w->disks[w->current];
  if (w->win.failed)
    return refuse_failed (w);
  if (xd_add_overflow (offset, count, &end) || end > d->size) {
    xd_error ("%s: write beyond the end of disk %zu (%s)", w->io->name,
              d->index, d->ref);
    return errno = EINVAL, -1;
  }
  if (d->finished) {
    xd_error ("%s: disk %zu (%s) is finished, its chunks stored in the XVA: "
              "no more writes", w->io->name, d->index, d->ref);
    return errno = EROFS, -1;
  }
  if (d != cur) {
    xd_error ("%s: disk %zu (%s) cannot be written yet: the disks of an XVA "
              "are stored one after another and must be written in order, "
              "one at a time; disk %zu (%s) is being written (it is finished "
              "when its last client disconnects)", w->io->name, d->index,
              d->ref, cur->index, cur->ref);
    return errno = EBUSY, -1;
  }
  return 0;
}

static int
write_range (struct xva_disk *d, const unsigned char *buf, uint32_t count,
             uint64_t offset)
{
  struct xva_writer *w = d->w;
  int r;

  pthread_mutex_lock (&w->lock);
  r = check_write (d, count, offset);
  if (r == 0)
    d->touched = true;
  r = xd_window_write (&w->win, r, buf, count, offset, CHUNK);
  pthread_mutex_unlock (&w->lock);
  return r;
}

static int
disk_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  return write_range (h, buf, count, offset);
}

/* A fast zero is refused: qemu-img pre-zeroes a whole target that way,
 * which would push the window past the data to come.
 */
static int
disk_zero (void *h, uint32_t count, uint64_t offset,
           bool may_trim __attribute__ ((unused)), bool fast)
{
  if (fast)
    return errno = ENOTSUP, -1;
  return write_range (h, NULL, count, offset);
}

/* The offset in the archive of the data of stored chunk K of D: the
 * chunks before it that were stored are STORED_BYTES each.
 */
static uint64_t
stored_offset (const struct xva_disk *d, uint64_t k)
{
  uint64_t rank = 0, i;

  for (i = 0; i < k / 8; i++)
    rank += __builtin_popcount (d->stored[i]);
  rank += __builtin_popcount (d->stored[k / 8] & ((1u << (k % 8)) - 1));
  return d->start + rank * STORED_BYTES + XD_TAR_BLOCK;
}

/* N bytes at OFF of chunk K: from the archive if settled, from the
 * window if not, zeros where nothing is (lock held).
 */
static int
read_chunk (struct xva_writer *w, struct xva_disk *d, uint64_t k,
            unsigned char *p, unsigned off, unsigned n)
{
  bool settled = d->index < w->current ||
                 (d->index == w->current && k < w->win.next);
  struct slot *s = *slot_at (w, k);

  if (settled && is_stored (d, k))
    return xd_io_read (w->io, p, n, stored_offset (d, k) + off, "chunk");
  if (!settled && d->index == w->current && s && s->chunk == k && s->data)
    memcpy (p, s->data + off, n);
  else
    memset (p, 0, n);
  return 0;
}

static int
disk_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct xva_disk *d = h;
  struct xva_writer *w = d->w;
  unsigned char *p = buf;
  uint64_t end;
  int r = 0;

  if (xd_add_overflow (offset, count, &end) || end > d->size) {
    xd_error ("%s: read beyond the end of disk %zu (%s)", w->io->name,
              d->index, d->ref);
    return errno = EINVAL, -1;
  }
  pthread_mutex_lock (&w->lock);
  if (w->win.failed)
    r = refuse_failed (w);
  while (r == 0 && count > 0) {
    unsigned off = offset % CHUNK;
    unsigned n = xd_min_u64 (CHUNK - off, count);

    r = read_chunk (w, d, offset / CHUNK, p, off, n);
    p += n;
    offset += n;
    count -= n;
  }
  pthread_mutex_unlock (&w->lock);
  return r;
}

static int
disk_flush (void *h)
{
  struct xva_disk *d = h;
  struct xva_writer *w = d->w;
  int r = 0;

  pthread_mutex_lock (&w->lock);
  if (w->win.failed)
    r = refuse_failed (w);
  else if (xd_io_flush (w->io) == -1)
    r = fail (w, errno);
  pthread_mutex_unlock (&w->lock);
  return r;
}

/* The last disk is finished: the end of the archive, then (durable
 * first) the header that makes ova.xml, and so the archive, readable.
 */
static int
complete_export (struct xva_writer *w)
{
  uint8_t end[2 * XD_TAR_BLOCK] = { 0 }, head[XD_TAR_BLOCK];

  if (xd_tar_make_header (head, "ova.xml", w->xml_len, w->mtime) == -1)
    return fail (w, EINVAL);
  if (append (w, end, sizeof end, "end of archive") == -1)
    return -1;
  if (xd_io_flush (w->io) == -1)
    return fail (w, errno);
  if (xd_io_write (w->io, head, sizeof head, 0, "ova.xml header") == -1 ||
      xd_io_flush (w->io) == -1)
    return fail (w, errno);
  w->complete = true;
  xd_debug ("%s: XVA export complete (disks: %zu, bytes: %" PRIu64 ")",
            w->io->name, w->nr_disks, w->file_end);
  return 0;
}

/* Settle every chunk of D that is left, move on to the next disk, and
 * complete the export after the last (lock held).
 */
static int
finish_current (struct xva_writer *w, struct xva_disk *d)
{
  w->win.floor = d->nr_chunks;
  if (xd_window_settle_ready (&w->win) == -1 || xd_io_flush (w->io) == -1)
    return fail (w, errno);
  d->finished = true;
  xd_debug ("%s: disk %zu (%s) finished: %" PRIu64 " of %" PRIu64
            " chunks stored, %" PRIu64 " bytes never written (zeros), %"
            PRIu64 " writes waited for the window, %" PRIu64 " stalls",
            w->io->name, d->index, d->ref, d->nr_stored, d->nr_chunks,
            d->unwritten, w->win.waits, w->win.stalls);
  pthread_cond_broadcast (&w->cond);         /* the next disk's turn */
  if (++w->current == w->nr_disks)
    return complete_export (w);
  w->win.next = w->win.floor = 0;
  w->win.end = w->disks[w->current].nr_chunks;
  w->disks[w->current].start = w->file_end;
  return 0;
}

/* The glue calls it when a disk's last client has gone.  A disk that
 * no client wrote (a probe such as nbdinfo --list), or that is not yet
 * the one being written, is left as it is.
 */
static int
disk_finish (void *h)
{
  struct xva_disk *d = h;
  struct xva_writer *w = d->w;
  int r = 0;

  pthread_mutex_lock (&w->lock);
  if (d->finished)
    ;
  else if (w->win.failed)
    r = refuse_failed (w);
  else if (d->index != w->current || !d->touched)
    xd_debug ("%s: disk %zu (%s) was not written: not finished yet",
              w->io->name, d->index, d->ref);
  else
    r = finish_current (w, d);
  pthread_mutex_unlock (&w->lock);
  if (r == -1) {
    int e = errno;

    xd_error ("%s: disk %zu (%s) could not be finished", w->io->name,
              d->index, d->ref);
    errno = e;
  }
  return r;
}

static uint64_t
disk_size (void *h)
{
  return ((struct xva_disk *) h)->size;
}

static uint32_t
disk_preferred_block (void *h __attribute__ ((unused)))
{
  return CHUNK;
}

static char *
disk_describe (void *h)
{
  struct xva_disk *d = h;
  char *s;

  if (asprintf (&s, "XVA export being created, disk %zu (%s) of %zu",
                d->index, d->ref, d->w->nr_disks) == -1)
    return NULL;
  return s;
}

/* The table of each disk's image (xd_xva_creating.disk). */
static const struct xd_format xva_disk_ops = {
  .name = "xva",
  .display = "XVA",
  .plugin = "xvax",
  .size = disk_size,
  .preferred_block = disk_preferred_block,
  .pread = disk_pread,
  .describe = disk_describe,
  .pwrite = disk_pwrite,
  .zero = disk_zero,
  .flush = disk_flush,
  .finish = disk_finish,
};

/* ---- create and close ---- */

static void
writer_free (struct xva_writer *w)
{
  size_t i;

  for (i = 0; i < XVA_WINDOW; i++)
    slot_free (w->ring[i]);
  for (i = 0; i < w->nr_spare; i++)
    free (w->spare[i]);
  for (i = 0; w->disks && i < w->nr_disks; i++)
    free (w->disks[i].stored);
  free (w->disks);
  free (w->images);
  free (w->xml);
  free (w->zeros);
  xd_vmdesc_free (&w->vm);
  pthread_cond_destroy (&w->cond);
  pthread_mutex_destroy (&w->lock);
  xd_io_close (w->io);
  free (w);
}

/* The digest create-checksum= asks, if this build has it. */
static int
check_checksum (const struct xva_writer *w)
{
  if (w->vm.checksum == XD_CHUNK_XXHASH && !xd_xxh64_available ()) {
    xd_error ("%s: create-checksum=xxhash: this build of xdisk has no "
              "libxxhash; use create-checksum=sha1", w->io->name);
    return errno = ENOTSUP, -1;
  }
  if (w->vm.checksum == XD_CHUNK_SHA1 && !xd_digest_available ()) {
    xd_error ("%s: create-checksum=sha1: this build of xdisk has no nettle "
              "to compute SHA-1%s", w->io->name, xd_xxh64_available ()
              ? "; use create-checksum=xxhash (XenServer 8, XCP-ng 8.x)" : "");
    return errno = ENOTSUP, -1;
  }
  return 0;
}

static int
setup_disk (struct xva_writer *w, size_t i, uint64_t *vsize)
{
  struct xva_disk *d = &w->disks[i];
  uint64_t asked = w->vm.sizes[i];

  if (asked == 0 || asked > XD_XVA_MAX_DISK_SIZE) {
    xd_error ("%s: create-size: disk %zu of %" PRIu64 " bytes: an XVA disk "
              "must be 1 byte to 2040 GiB, the largest VDI a VHD-based SR "
              "(the default storage of XenServer and XCP-ng) holds",
              w->io->name, i, asked);
    return errno = EINVAL, -1;
  }
  d->w = w;
  d->index = i;
  xd_xva_vdi_ref (i, d->ref);
  /* Whole chunks: xapi reuses the first chunk's length for every gap. */
  d->size = xd_div_round_up (asked, CHUNK) * CHUNK;
  if (d->size != asked)
    xd_debug ("%s: disk %zu: %" PRIu64 " bytes rounded up to %" PRIu64
              " (whole MiB chunks)", w->io->name, i, asked, d->size);
  d->nr_chunks = d->size / CHUNK;
  d->stored = calloc ((d->nr_chunks + 7) / 8, 1);
  w->images[i].format = &xva_disk_ops;
  w->images[i].h = d;
  *vsize = d->size;
  return d->stored ? 0 : (errno = ENOMEM, -1);
}

/* Block 0 says the export is unfinished; ova.xml follows. */
static int
write_start (struct xva_writer *w)
{
  size_t len = XD_TAR_BLOCK + xd_tar_padded (w->xml_len);
  uint8_t *buf = calloc (1, len);
  int r;

  if (buf == NULL) {
    xd_error ("%s: out of memory", w->io->name);
    return errno = ENOMEM, -1;
  }
  xd_tar_make_unfinished (buf, "XVA");
  memcpy (buf + XD_TAR_BLOCK, w->xml, w->xml_len);
  r = append (w, buf, len, "unfinished marker and ova.xml");
  free (buf);
  return r;
}

static int
setup (struct xva_writer *w, const struct xd_create_opts *copts)
{
  uint64_t *vsizes;
  size_t i;
  int r = 0;

  if (xd_vmdesc_init (&w->vm, copts, copts->path ? copts->path : w->io->name,
                      "XVA") == -1 ||
      check_checksum (w) == -1)
    return -1;
  if (w->vm.nr_disks == 0 || w->vm.nr_disks > XD_XVA_MAX_DISKS) {
    xd_error ("%s: create-size: an XVA holds 1 to %d disks (asked %zu)",
              w->io->name, XD_XVA_MAX_DISKS, w->vm.nr_disks);
    return errno = EINVAL, -1;
  }
  w->nr_disks = w->vm.nr_disks;
  w->disks = calloc (w->nr_disks, sizeof *w->disks);
  w->images = calloc (w->nr_disks, sizeof *w->images);
  w->zeros = calloc (1, CHUNK);
  vsizes = calloc (w->nr_disks, sizeof *vsizes);
  if (w->disks == NULL || w->images == NULL || w->zeros == NULL ||
      vsizes == NULL) {
    xd_error ("%s: out of memory", w->io->name);
    free (vsizes);
    return errno = ENOMEM, -1;
  }
  for (i = 0; r == 0 && i < w->nr_disks; i++)
    r = setup_disk (w, i, &vsizes[i]);
  if (r == 0 &&
      (w->xml = xd_xva_make_ova_xml (&w->vm, vsizes, w->io->name,
                                     &w->xml_len)) == NULL)
    r = -1;
  free (vsizes);
  if (r == 0)
    r = write_start (w);
  w->disks[0].start = w->file_end;
  w->win.end = w->disks[0].nr_chunks;
  return r;
}

void *
xva_create (struct xd_io *io,
            const struct xd_resolver *res __attribute__ ((unused)),
            const struct xd_create_opts *copts,
            const struct xd_open_opts *opts __attribute__ ((unused)))
{
  struct xva_writer *w = calloc (1, sizeof *w);

  if (w == NULL) {
    xd_error ("%s: out of memory", io->name);
    xd_io_close (io);
    return NULL;
  }
  w->io = io;
  w->mtime = (uint64_t) time (NULL);
  pthread_mutex_init (&w->lock, NULL);
  xd_cond_init_monotonic (&w->cond);
  xd_window_init (&w->win, XVA_WINDOW, 0, XVA_STALL_MS, XVA_GRACE_MS,
                  &w->lock, &w->cond, &window_ops, w);
  if (setup (w, copts) == -1) {
    int e = errno;

    writer_free (w);
    errno = e;
    return NULL;
  }
  return w;
}

/* nbdkit is exiting, every client gone: the disk being written is
 * finished as its last client's disconnection would have finished it
 * (nbdkit 1.32 may clean up before it runs the close of a client that
 * has just gone), which completes the export if it was the last disk.
 * An export with disks never written says so: it stays unusable (its
 * first block is no tar header).
 */
static void
xva_writer_close (void *h)
{
  struct xva_writer *w = h;
  char *list = NULL;
  size_t len = 0, i;
  FILE *fp;

  if (w == NULL)
    return;
  if (!w->complete && !w->win.failed && w->disks[w->current].touched) {
    xd_debug ("%s: exiting: disk %zu (%s) finished now", w->io->name,
              w->current, w->disks[w->current].ref);
    pthread_mutex_lock (&w->lock);
    finish_current (w, &w->disks[w->current]);
    pthread_mutex_unlock (&w->lock);
  }
  if (!w->complete && (fp = open_memstream (&list, &len)) != NULL) {
    for (i = w->current; i < w->nr_disks; i++)
      fprintf (fp, "%s%zu (%s)", i > w->current ? ", " : "", i,
               w->disks[i].ref);
    fclose (fp);
    xd_error ("%s: the XVA export is incomplete and unusable: disk%s %s "
              "never finished (every disk must be written and its last "
              "client disconnect)%s", w->io->name,
              w->nr_disks - w->current > 1 ? "s" : "", list ? list : "?",
              w->win.failed ? "; a write failed" : "");
    free (list);
  }
  writer_free (w);
}

/* ---- the export's table ---- */

static size_t
xva_disks (void *h)
{
  return ((struct xva_writer *) h)->nr_disks;
}

static const char *
xva_disk_name (void *h, size_t i)
{
  struct xva_writer *w = h;

  return i < w->nr_disks ? w->disks[i].ref : NULL;
}

static struct xd_image *
xva_disk (void *h, size_t i)
{
  struct xva_writer *w = h;

  return i < w->nr_disks ? &w->images[i] : NULL;
}

/* The export's own ops serve its first disk, for a caller that does not
 * use xd_format.disks.
 */
static struct xva_disk *
first (void *h)
{
  return &((struct xva_writer *) h)->disks[0];
}

static uint64_t
first_size (void *h)
{
  return disk_size (first (h));
}

static int
first_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return disk_pread (first (h), buf, count, offset);
}

static int
first_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  return disk_pwrite (first (h), buf, count, offset);
}

static int
first_zero (void *h, uint32_t count, uint64_t offset, bool may_trim,
            bool fast)
{
  return disk_zero (first (h), count, offset, may_trim, fast);
}

static int
first_flush (void *h)
{
  return disk_flush (first (h));
}

static int
first_finish (void *h)
{
  return disk_finish (first (h));
}

static char *
first_describe (void *h)
{
  return disk_describe (first (h));
}

const struct xd_format xd_xva_creating = {
  .name = "xva",
  .display = "XVA",
  .plugin = "xvax",
  .close = xva_writer_close,
  .size = first_size,
  .preferred_block = disk_preferred_block,
  .pread = first_pread,
  .describe = first_describe,
  .pwrite = first_pwrite,
  .zero = first_zero,
  .flush = first_flush,
  .finish = first_finish,
  .disks = xva_disks,
  .disk_name = xva_disk_name,
  .disk = xva_disk,
};
