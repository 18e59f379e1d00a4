/* xdisk vmdkx: creating a streamOptimized VMDK; see vmdk-stream.h.
 *
 * The layout is the one VMware's tools write (ovftool, ESXi exports):
 *
 *   sector 0      sparse header v3, flags 0x30001 (newline test,
 *                 compressed grains, markers), gdOffset GD_AT_END
 *   sector 1..    the embedded descriptor
 *   sector 128..  grains in ascending LBA order, each a 12-byte grain
 *                 marker (LBA, compressed size) + zlib stream, padded
 *                 to a sector; after the grains of each grain table
 *                 that has any, a GT marker and the table (4 sectors)
 *   then          GD marker + grain directory (0 for tables without
 *                 grains), footer marker + footer (the header with the
 *                 real gdOffset), end-of-stream marker: the footer and
 *                 the end-of-stream marker are the last two sectors.
 *
 * This file handles the requests: it puts their bytes into the grains
 * of the window and hands complete grains to the ordered compression
 * pipeline (vmdk-stream-pipe.c), which compresses and appends them.
 * The header and the descriptor are written by vmdk-layout.c.
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

#include "vmdk/vmdk.h"
#include "vmdk/vmdk-layout.h"
#include "vmdk/vmdk-stream.h"
#include "vmdk/vmdk-stream-pipe.h"
#include "io/xd-codec.h"
#include "io/xd-io.h"
#include "include/xd-math.h"
#include "core/xd-random.h"
#include "include/xd-report.h"

/* The sparse header (and footer, with the real GD_OFFSET). */
static void
put_header (unsigned char *h, uint64_t capacity, uint64_t desc_sectors,
            uint64_t gd_offset)
{
  vmdk_put_sparse_header (h, &(struct vmdk_sparse_layout) {
      .version = 3,
      .flags = VMDK_FLAG_NEWLINE_TEST | VMDK_FLAG_COMPRESSED
               | VMDK_FLAG_MARKERS,
      .capacity = capacity, .desc_offset = 1, .desc_sectors = desc_sectors,
      .rgd_offset = 0,          /* none in a stream */
      .gd_offset = gd_offset, .overhead = OVERHEAD_SECTORS,
      .compress = 1,            /* deflate */
    });
}

/* The descriptor, written by vmdk-layout.c with a new CID (any but
 * ffffffff, which means "no parent") and long content ID.
 */
static char *
make_descriptor (uint64_t capacity, const char *file,
                 const char *adapter, const char *hwversion)
{
  struct vmdk_new_ids ids;
  unsigned i;

  do
    ids.cid = xd_random_u32 ();
  while (ids.cid == 0xffffffff);
  for (i = 0; i < 3; i++)
    ids.content[i] = xd_random_u32 ();
  return vmdk_stream_descriptor (capacity, file, adapter, hwversion, &ids);
}

/* The file name the extent line gives: the created file's base name. */
static const char *
base_name (const char *path)
{
  const char *slash = strrchr (path, '/');

  return slash ? slash + 1 : path;
}

/* The public interface. */

struct vmdk_stream_writer *
vmdk_stream_create (struct xd_io *io, const struct xd_create_opts *copts,
                    const char *adapter_type, const char *hwversion)
{
  struct vmdk_stream_writer *w;
  char *desc = NULL;
  unsigned char *start = NULL;
  uint64_t desc_sectors;
  size_t len;

  if (copts->size == 0 || copts->size % VMDK_SECTOR != 0
      || copts->size > VMDK_STREAM_MAX_SIZE) {
    xd_error ("%s: a streamOptimized VMDK's size must be a nonzero multiple "
              "of 512 bytes up to 2 TiB (asked %" PRIu64 ")", io->name,
              copts->size);
    xd_io_close (io);
    errno = EINVAL;
    return NULL;
  }
  w = calloc (1, sizeof *w);
  if (w == NULL) {
    xd_error ("%s: out of memory", io->name);
    xd_io_close (io);
    return NULL;
  }
  w->io = io;
  w->size = copts->size;
  w->capacity = copts->size / VMDK_SECTOR;
  w->nr_grains = (w->capacity + GRAIN_SECTORS - 1) / GRAIN_SECTORS;
  w->nr_gts = (w->nr_grains + GTES - 1) / GTES;
  w->max_workers = VMDK_STREAM_MAX_WORKERS;
  xd_window_init (&w->win,
                  xd_min_u64 (VMDK_STREAM_WINDOW / GRAIN_BYTES, w->nr_grains),
                  w->nr_grains, VMDK_STREAM_STALL_MS, VMDK_STREAM_GRACE_MS,
                  &w->lock, &w->cond, &vmdk_stream_window_ops, w);
  w->out_cap = (MARKER_GRAIN_HEAD + xd_deflate_bound (GRAIN_BYTES)
                + 2 * VMDK_SECTOR)
    / VMDK_SECTOR * VMDK_SECTOR;
  pthread_mutex_init (&w->lock, NULL);
  xd_cond_init_monotonic (&w->cond);
  pthread_cond_init (&w->work, NULL);
  w->queue_end = &w->queue;
  w->ring = calloc (w->win.size, sizeof *w->ring);
  w->gd = calloc (w->nr_gts, sizeof *w->gd);
  w->stored = calloc ((w->nr_grains + 7) / 8, 1);
  w->deflaters = xd_deflaters_new (DEFLATE_LEVEL);
  desc = make_descriptor (w->capacity,
                          base_name (copts->path ? copts->path : io->name),
                          adapter_type ? adapter_type : "lsilogic",
                          hwversion ? hwversion : "4");
  if (w->ring == NULL || w->gd == NULL || w->stored == NULL
      || w->deflaters == NULL || desc == NULL) {
    xd_error ("%s: out of memory", io->name);
    goto err;
  }
  len = strlen (desc);
  desc_sectors = (len + VMDK_SECTOR - 1) / VMDK_SECTOR;
  if (1 + desc_sectors > OVERHEAD_SECTORS) {
    xd_error ("%s: the descriptor is too long (%zu bytes)", io->name, len);
    errno = EINVAL;
    goto err;
  }
  put_header (w->header, w->capacity, desc_sectors, VMDK_GD_AT_END);
  start = calloc (OVERHEAD_SECTORS, VMDK_SECTOR);
  if (start == NULL) {
    xd_error ("%s: out of memory", io->name);
    goto err;
  }
  memcpy (start, w->header, VMDK_SECTOR);
  memcpy (start + VMDK_SECTOR, desc, len);
  if (xd_io_write (io, start, OVERHEAD_SECTORS * VMDK_SECTOR, 0,
                   "header and descriptor") == -1)
    goto err;
  w->file_end = OVERHEAD_SECTORS;
  free (start);
  free (desc);
  return w;

 err:
  free (start);
  free (desc);
  w->finished = true;           /* nothing to finish in a failed create */
  vmdk_stream_close (w);
  return NULL;
}

int
vmdk_stream_set_window (struct vmdk_stream_writer *w, uint64_t window_bytes,
                        unsigned stall_ms, unsigned grace_ms)
{
  uint64_t slots = window_bytes / GRAIN_BYTES;
  struct slot **ring;

  if (w->started) {
    xd_error ("%s: the stream window cannot change after the first write",
              w->io->name);
    return errno = EINVAL, -1;
  }
  if (slots == 0 || window_bytes % GRAIN_BYTES != 0) {
    xd_error ("%s: the stream window (%" PRIu64 " bytes) must be a nonzero "
              "multiple of the %u-byte grain", w->io->name, window_bytes,
              GRAIN_BYTES);
    return errno = EINVAL, -1;
  }
  if (slots > w->nr_grains)
    slots = w->nr_grains;
  ring = calloc (slots, sizeof *ring);
  if (ring == NULL) {
    xd_error ("%s: out of memory for the stream window", w->io->name);
    return -1;
  }
  free (w->ring);
  w->ring = ring;
  w->win.size = slots;
  if (stall_ms)
    w->win.stall_ms = stall_ms;
  if (grace_ms)
    w->win.grace_ms = grace_ms;
  return 0;
}

int
vmdk_stream_set_workers (struct vmdk_stream_writer *w, unsigned n)
{
  if (w->started) {
    xd_error ("%s: the compressing threads cannot change after the first "
              "write", w->io->name);
    return errno = EINVAL, -1;
  }
  w->max_workers = n < VMDK_STREAM_MAX_WORKERS ? n : VMDK_STREAM_MAX_WORKERS;
  return 0;
}

uint64_t
vmdk_stream_size (const struct vmdk_stream_writer *w)
{
  return w->size;
}

uint32_t
vmdk_stream_grain_bytes (const struct vmdk_stream_writer *w
                         __attribute__ ((unused)))
{
  return GRAIN_BYTES;
}

bool
vmdk_stream_all_appended (struct vmdk_stream_writer *w)
{
  bool all;

  pthread_mutex_lock (&w->lock);
  all = w->win.next >= w->nr_grains;
  pthread_mutex_unlock (&w->lock);
  return all;
}

uint64_t
vmdk_stream_stored_bytes (struct vmdk_stream_writer *w)
{
  uint64_t stored;

  pthread_mutex_lock (&w->lock);
  stored = w->stored_grains * GRAIN_BYTES;
  pthread_mutex_unlock (&w->lock);
  return stored;
}

static bool
is_stored (const struct vmdk_stream_writer *w, uint64_t g)
{
  return w->stored[g / 8] & (1 << (g % 8));
}

static int
refuse_behind (struct vmdk_stream_writer *w, uint64_t offset)
{
  uint64_t bytes = w->win.size * GRAIN_BYTES;
  bool mib = bytes % (1024 * 1024) == 0;

  xd_error ("%s: write at offset %" PRIu64 " comes after that part of the "
            "streamOptimized image was written: writes must arrive in "
            "ascending order within a window of %" PRIu64 " %s",
            w->io->name, offset, mib ? bytes >> 20 : bytes >> 10,
            mib ? "MiB" : "KiB");
  return errno = EIO, -1;
}

/* The slot of grain G, ready for writing (lock held): waits for the
 * window and for a compression of G in progress.  1 if there is
 * nothing to write (zeros over a settled grain that was not stored).
 */
static int
writable_slot (struct vmdk_stream_writer *w, uint64_t g, bool zeros,
               uint64_t disk_offset, struct slot **sp)
{
  struct slot **at, *s;

  for (;;) {
    if (xd_window_wait (&w->win, g) == -1)
      return -1;
    if (g < w->win.next) {
      /* Zeros over a grain that was not stored change nothing. */
      if (zeros && !is_stored (w, g))
        return 1;
      return refuse_behind (w, disk_offset);
    }
    at = vmdk_stream_slot_at (w, g);
    s = *at;
    if (s == NULL) {
      s = calloc (1, sizeof *s);
      if (s == NULL) {
        xd_error ("%s: out of memory for the stream window", w->io->name);
        return -1;
      }
      s->grain = g;
      *at = s;
    }
    if (s->state != SLOT_COMPRESSING && s->state != SLOT_QUEUED)
      break;
    /* Once compressed it may be appended and freed: look again. */
    pthread_cond_wait (&w->cond, &w->lock);
  }
  if (s->state == SLOT_DONE) {  /* rewritten before its turn came */
    free (s->out);
    s->out = NULL;
    s->out_len = 0;
    s->state = SLOT_FILLING;
  }
  *sp = s;
  return 0;
}

/* Write or (BUF NULL) zero LEN bytes at byte OFF of grain G (lock
 * held): the window's step for a request (xd_window_write).
 */
int
vmdk_stream_write_in_grain (void *h, uint64_t g, const void *buf,
                            unsigned off, unsigned len, uint64_t disk_offset)
{
  struct vmdk_stream_writer *w = h;
  bool zeros = buf == NULL || xd_is_zero (buf, len);
  struct slot *s;
  unsigned i;
  int r;

  r = writable_slot (w, g, zeros, disk_offset, &s);
  if (r != 0)
    return r == 1 ? 0 : -1;
  if (s->data == NULL && !zeros) {
    s->data = calloc (1, GRAIN_BYTES);
    if (s->data == NULL) {
      xd_error ("%s: out of memory for the stream window", w->io->name);
      return -1;
    }
  }
  if (s->data) {
    if (buf)
      memcpy (s->data + off, buf, len);
    else
      memset (s->data + off, 0, len);
  }
  for (i = (off + VMDK_SECTOR - 1) / VMDK_SECTOR;
       (i + 1) * VMDK_SECTOR <= off + len; i++)
    s->filled[i / 64] |= UINT64_C (1) << (i % 64);
  w->win.progress++;
  if (vmdk_stream_slot_complete (w, s) && vmdk_stream_settle (w, s) == -1)
    return -1;
  return xd_window_settle_ready (&w->win);
}

static int
check_request (struct vmdk_stream_writer *w, uint32_t count, uint64_t offset,
               const char *what)
{
  uint64_t end;

  if (w->win.failed)
    return vmdk_stream_refuse_failed (w);
  if (w->finished) {
    xd_error ("%s: the streamOptimized image is finished: no more %s",
              w->io->name, what);
    return errno = EROFS, -1;
  }
  if (xd_add_overflow (offset, count, &end) || end > w->size) {
    xd_error ("%s: %s beyond the end of the disk", w->io->name, what);
    return errno = EINVAL, -1;
  }
  return 0;
}

static int
write_range (struct vmdk_stream_writer *w, const unsigned char *buf,
             uint32_t count, uint64_t offset, const char *what)
{
  int r;

  pthread_mutex_lock (&w->lock);
  r = check_request (w, count, offset, what);
  w->started = true;
  r = xd_window_write (&w->win, r, buf, count, offset, GRAIN_BYTES);
  pthread_mutex_unlock (&w->lock);
  return r;
}

int
vmdk_stream_pwrite (struct vmdk_stream_writer *w, const void *buf,
                    uint32_t count, uint64_t offset)
{
  return write_range (w, buf, count, offset, "writes");
}

int
vmdk_stream_zero (struct vmdk_stream_writer *w, uint32_t count,
                  uint64_t offset)
{
  return write_range (w, NULL, count, offset, "writes");
}

int
vmdk_stream_pread (struct vmdk_stream_writer *w, void *buf, uint32_t count,
                   uint64_t offset)
{
  unsigned char *p = buf;
  uint64_t end;
  int r = 0;

  if (xd_add_overflow (offset, count, &end) || end > w->size) {
    xd_error ("%s: read beyond the end of the disk", w->io->name);
    return errno = EINVAL, -1;
  }
  pthread_mutex_lock (&w->lock);
  while (count > 0) {
    uint64_t g = offset / GRAIN_BYTES;
    unsigned off = offset % GRAIN_BYTES;
    unsigned n = GRAIN_BYTES - off < count ? GRAIN_BYTES - off : count;
    struct slot *s = *vmdk_stream_slot_at (w, g);

    if (g < w->win.next && is_stored (w, g)) {
      xd_error ("%s: offset %" PRIu64 " was already compressed into the "
                "stream being written: it reads back once the image is "
                "finished and reopened", w->io->name, offset);
      r = -1;
      errno = EIO;
      break;
    }
    if (g >= w->win.next && s && s->grain == g && s->data)
      memcpy (p, s->data + off, n);
    else
      memset (p, 0, n);
    p += n;
    offset += n;
    count -= n;
  }
  pthread_mutex_unlock (&w->lock);
  return r;
}

int
vmdk_stream_flush (struct vmdk_stream_writer *w)
{
  int r = 0;

  /* The complete grains at the window's back edge go to the file
   * first: the workers may still be compressing them.
   */
  pthread_mutex_lock (&w->lock);
  while (!w->win.failed && w->win.next < w->nr_grains) {
    struct slot *s = *vmdk_stream_slot_at (w, w->win.next);

    if (s == NULL || s->grain != w->win.next || s->state == SLOT_FILLING)
      break;
    pthread_cond_wait (&w->cond, &w->lock);
  }
  if (w->win.failed)
    r = vmdk_stream_refuse_failed (w);
  pthread_mutex_unlock (&w->lock);
  return r == 0 ? xd_io_flush (w->io) : -1;
}

int
vmdk_stream_finish (struct vmdk_stream_writer *w)
{
  int r = 0, err;

  pthread_mutex_lock (&w->lock);
  if (w->finished) {
    r = w->finish_result;
    err = w->win.error;
    pthread_mutex_unlock (&w->lock);
    if (r == -1)
      errno = err ? err : EIO;
    return r;
  }
  w->win.floor = w->nr_grains;
  while (r == 0 && w->win.next < w->nr_grains && !w->win.failed) {
    r = xd_window_settle_ready (&w->win);
    if (r == 0 && w->win.next < w->nr_grains && !w->win.failed)
      pthread_cond_wait (&w->cond, &w->lock);
  }
  if (w->win.failed)
    r = vmdk_stream_refuse_failed (w);
  if (r == 0)
    r = vmdk_stream_write_tail (w);
  xd_debug ("%s: stream of %" PRIu64 " grains: %" PRIu64 " stored, %"
            PRIu64 " writes waited for the window, %" PRIu64 " stalls",
            w->io->name, w->nr_grains, w->stored_grains, w->win.waits,
            w->win.stalls);
  w->finished = true;
  pthread_mutex_unlock (&w->lock);
  if (r == 0)
    r = xd_io_flush (w->io);
  if (r == -1) {
    err = errno;
    xd_error ("%s: the streamOptimized image could not be finished",
              w->io->name);
    errno = err;
  }
  pthread_mutex_lock (&w->lock);
  w->finish_result = r;
  if (r == -1 && !w->win.failed)
    xd_window_fail (&w->win, errno);
  pthread_mutex_unlock (&w->lock);
  return r;
}

void
vmdk_stream_close (struct vmdk_stream_writer *w)
{
  uint64_t i;

  if (w == NULL)
    return;
  if (!w->finished)
    vmdk_stream_finish (w);
  vmdk_stream_stop_workers (w);
  if (w->ring)
    for (i = 0; i < w->win.size; i++)
      vmdk_stream_slot_free (w->ring[i]);
  xd_deflaters_free (w->deflaters);
  free (w->ring);
  free (w->gd);
  free (w->stored);
  pthread_cond_destroy (&w->cond);
  pthread_cond_destroy (&w->work);
  pthread_mutex_destroy (&w->lock);
  xd_io_close (w->io);
  free (w);
}

