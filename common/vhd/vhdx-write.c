/* xdisk vhdx: writing into VHDX images through the VHDX log.
 *
 * Payload data goes straight into the file: in place into present
 * blocks (in parallel, no lock), or into new blocks at the end of the
 * file, 1 MiB aligned, under the writer's lock (test-vhdx's allocation
 * race holds one thread inside it while another writes into the same
 * block; tests/mutants.txt drops the lock).  Metadata changes (BAT
 * entries, sector bitmap sectors) are gathered in a transaction of
 * whole 4 KiB sectors, and committed as [MS-VHDX] requires:
 *
 *   1. flush (the new data, and the previous transaction's in-place
 *      writes, are durable);
 *   2. write the log entry (its own tail: every earlier entry is already
 *      applied and durable), flush; the first entry of a log is written
 *      before the header that names its LogGuid;
 *   3. write the sectors in place; the next commit or flush makes that
 *      durable.
 * (tests/mutants.txt breaks each of these steps in turn, and the replay
 * and header flushes below: test-vhdx's power-loss cases, whose disks
 * may garble the sector being written, must catch every one.)
 *
 * A fixed or dynamic disk keeps the BAT changes of new and dropped
 * blocks pending (visible in memory) until a flush or a full entry: an
 * NBD write not yet flushed may be lost in a crash, so one commit per
 * flush is enough.  A differencing disk commits each operation, as its
 * readers take sector bitmaps from the file.
 *
 * A crash leaves the newest valid entry for the next open to replay,
 * which rewrites whole sectors, so replaying it twice is harmless.  The
 * first write of a session replays a dirty log into the file and writes
 * a header with new FileWriteGuid and DataWriteGuid; the first commit
 * after it (or after a flush) starts a log with a new LogGuid; a flush
 * writes a header with LogGuid zero (an empty log) so that the file
 * needs no replay after a clean stop.  Headers alternate: each update
 * goes to the header that is not current, with the next sequence
 * number, flushed.
 *
 * The BAT pages the writer changes are held in memory, and the writer
 * installs its lookup as the top layer's BAT override while attached
 * (readers look there first, vhd-read.c bat_entry), so the bounded read
 * cache never holds a stale page.  Freed blocks are never reused: a
 * write racing a trim can only land in dead space.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhdx-write.h"
#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"

#define MIB (UINT64_C (1) << 20)
#define ROUND_UP(v, a) (((v) + (a) - 1) / (a) * (a))
#define SECTOR 4096u
#define PAGE_ENTRIES (SECTOR / 8)
/* Sectors in one log entry: with its descriptor sector it stays far
 * below the smallest log (1 MiB).
 */
#define TXN_MAX 120

struct bat_change {
  uint64_t index, entry;
};

struct txn {
  size_t n;
  uint64_t off[TXN_MAX];
  uint8_t *buf[TXN_MAX];
  struct bat_change *bat;
  size_t nbat, bat_cap;
  uint64_t *freed;              /* old blocks to punch after commit */
  size_t nfreed, freed_cap;
};

struct vhdx_writer {
  struct vd_layer *l;
  pthread_mutex_t lock;
  _Atomic bool started;         /* the first write's work is done */
  _Atomic bool broken;          /* a commit failed half way */
  uint64_t file_end;            /* next allocation, 1 MiB aligned */
  struct vhdx_header hdr;       /* the current header */
  int slot;                     /* ... and where it is: 1 or 2 */
  bool log_active;              /* hdr.log_guid is not zero */
  uint32_t log_head;            /* where the next entry goes */
  uint64_t next_seq;
  size_t nr_pages;
  _Atomic (_Atomic uint64_t *) *pages;
  /* Metadata changes not yet committed.  A differencing disk commits
   * each operation's at once (readers take sector bitmaps from the
   * file); the others keep BAT changes of new or dropped blocks here,
   * already visible in the pages, until a flush or a full entry: writes
   * not flushed may be lost in a crash, never the structure.
   */
  struct txn pending;
};

/* ---- small helpers ---- */

void
vhdx_build_header (uint8_t *buf, const struct vhdx_header *h)
{
  memset (buf, 0, VHDX_HEADER_SIZE);
  memcpy (buf, "head", 4);
  xd_put_le64 (buf + 8, h->sequence);
  memcpy (buf + 16, h->file_write_guid, 16);
  memcpy (buf + 32, h->data_write_guid, 16);
  memcpy (buf + 48, h->log_guid, 16);
  buf[66] = 1;                  /* Version 1; LogVersion 0 */
  xd_put_le32 (buf + 68, h->log_length);
  xd_put_le64 (buf + 72, h->log_offset);
  xd_put_le32 (buf + 4, xd_crc32c (0, buf, VHDX_HEADER_SIZE));
}

static int
bad_state (struct vd_layer *l, uint64_t block, uint64_t entry)
{
  xd_error ("%s: VHDX BAT entry for block %" PRIu64 " has state %u, which "
            "cannot be written in a %s VHDX", l->io->name, block,
            VHDX_BAT_STATE (entry), l->diff ? "differencing" : "dynamic");
  errno = EIO;
  return -1;
}

/* Is [WHERE, WHERE+LEN) a place payload may be written: inside the file
 * and clear of the headers, the log, the BAT and the metadata?
 */
static bool
space_ok (const struct vd_layer *l, uint64_t where, uint64_t len)
{
  const struct vhdx_info *x = &l->x;
  uint64_t end;

  if (xd_add_overflow (where, len, &end) || end > l->io->size ||
      where < MIB)
    return false;
  if (where < x->bat_offset + x->bat_length && x->bat_offset < end)
    return false;
  if (where < x->metadata_offset + x->metadata_length &&
      x->metadata_offset < end)
    return false;
  if (where < x->header.log_offset + x->header.log_length &&
      x->header.log_offset < end)
    return false;
  return true;
}

static int
check_space (const struct vd_layer *l, uint64_t block, uint64_t where,
             uint64_t len)
{
  if (space_ok (l, where, len))
    return 0;
  xd_error ("%s: VHDX BAT entry for block %" PRIu64 " (file offset %" PRIu64
            ") is beyond the end of the file or overlaps the headers, the "
            "log, the BAT or the metadata: not writing there", l->io->name,
            block, where);
  errno = EIO;
  return -1;
}

/* ---- the writer's BAT pages ---- */

/* The top layer's BAT override (struct vd_layer) while attached. */
static bool
writer_bat_lookup (void *opaque, uint64_t index, uint64_t *entry)
{
  struct vhdx_writer *w = opaque;
  _Atomic uint64_t *page;

  if (index / PAGE_ENTRIES >= w->nr_pages)
    return false;
  page = atomic_load_explicit (&w->pages[index / PAGE_ENTRIES],
                               memory_order_acquire);
  if (page == NULL)
    return false;
  *entry = atomic_load_explicit (&page[index % PAGE_ENTRIES],
                                 memory_order_acquire);
  return true;
}

/* Load BAT page P into the writer (under the lock). */
static int
load_page (struct vhdx_writer *w, uint64_t p)
{
  uint8_t buf[SECTOR];
  _Atomic uint64_t *page;
  size_t i;

  if (w->pages[p])
    return 0;
  if (xd_io_read (w->l->io, buf, SECTOR, w->l->x.bat_offset + p * SECTOR,
                  "BAT") == -1)
    return -1;
  page = malloc (PAGE_ENTRIES * sizeof *page);
  if (page == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  for (i = 0; i < PAGE_ENTRIES; i++)
    atomic_init (&page[i], xd_le64 (buf + 8 * i));
  atomic_store_explicit (&w->pages[p], page, memory_order_release);
  return 0;
}

/* ---- transactions ---- */

static void
txn_reset (struct txn *t)
{
  size_t i;

  for (i = 0; i < t->n; i++)
    free (t->buf[i]);
  t->n = t->nbat = t->nfreed = 0;
}

static void
txn_free (struct txn *t)
{
  txn_reset (t);
  free (t->bat);
  free (t->freed);
}

/* The entry INDEX as it will be after T commits. */
static int
txn_entry (struct vhdx_writer *w, struct txn *t, uint64_t index,
           uint64_t *entry)
{
  size_t i;

  for (i = t->nbat; i > 0; i--)
    if (t->bat[i - 1].index == index) {
      *entry = t->bat[i - 1].entry;
      return 0;
    }
  return vd_layer_bat_entry (w->l, index, entry);
}

/* The buffer of the sector at file offset OFF in T, loaded on first use.
 * Callers make room (txn_room) first.
 */
static uint8_t *
txn_sector (struct vhdx_writer *w, struct txn *t, uint64_t off)
{
  size_t i;

  for (i = 0; i < t->n; i++)
    if (t->off[i] == off)
      return t->buf[i];
  if (t->n == TXN_MAX) {
    xd_error ("%s: VHDX log entry is full (internal error)", w->l->io->name);
    errno = EIO;
    return NULL;
  }
  t->buf[t->n] = malloc (SECTOR);
  if (t->buf[t->n] == NULL) {
    xd_error ("malloc: %m");
    return NULL;
  }
  if (xd_io_read (w->l->io, t->buf[t->n], SECTOR, off,
                  "VHDX metadata sector") == -1) {
    free (t->buf[t->n]);
    return NULL;
  }
  t->off[t->n] = off;
  return t->buf[t->n++];
}

static int
txn_set_bat (struct vhdx_writer *w, struct txn *t, uint64_t index,
             uint64_t entry)
{
  uint64_t p = index / PAGE_ENTRIES;
  uint8_t *s;

  if (load_page (w, p) == -1 ||
      (s = txn_sector (w, t, w->l->x.bat_offset + p * SECTOR)) == NULL)
    return -1;
  xd_put_le64 (s + (index % PAGE_ENTRIES) * 8, entry);
  if (!w->l->diff)              /* deferred: visible now (see pending) */
    atomic_store_explicit (&w->pages[p][index % PAGE_ENTRIES], entry,
                           memory_order_release);
  if (XD_RESERVE (t->bat, t->nbat, t->bat_cap, 1) == -1) {
    xd_error ("realloc: %m");
    return -1;
  }
  t->bat[t->nbat++] = (struct bat_change) { index, entry };
  return 0;
}

static int
txn_add_freed (struct txn *t, uint64_t where)
{
  if (XD_RESERVE (t->freed, t->nfreed, t->freed_cap, 1) == -1) {
    xd_error ("realloc: %m");
    return -1;
  }
  t->freed[t->nfreed++] = where;
  return 0;
}

/* Is bit B of the sector bitmap at SB set, as T will leave it? */
static int
txn_bit (struct vhdx_writer *w, struct txn *t, uint64_t sb, uint64_t b,
         bool *set)
{
  uint64_t off = sb + (b / 8 / SECTOR) * SECTOR;
  uint8_t byte;
  size_t i;

  for (i = 0; i < t->n; i++)
    if (t->off[i] == off) {
      *set = (t->buf[i][(b / 8) % SECTOR] >> (b % 8)) & 1;
      return 0;
    }
  if (xd_io_read (w->l->io, &byte, 1, sb + b / 8, "sector bitmap") == -1)
    return -1;
  *set = (byte >> (b % 8)) & 1;
  return 0;
}

/* Set bits [FIRST, FIRST+COUNT) of the sector bitmap at SB. */
static int
txn_set_bits (struct vhdx_writer *w, struct txn *t, uint64_t sb,
              uint64_t first, uint64_t count)
{
  uint64_t b = first, end = first + count;

  while (b < end) {
    uint64_t sec = b / 8 / SECTOR;
    uint64_t stop = xd_min_u64 (end, (sec + 1) * SECTOR * 8);
    uint8_t *s = txn_sector (w, t, sb + sec * SECTOR);
    if (s == NULL)
      return -1;
    for (; b < stop; b++)
      s[(b / 8) % SECTOR] |= 1u << (b % 8);
  }
  return 0;
}

/* ---- headers and the log ---- */

static int
write_header (struct vhdx_writer *w, const struct vhdx_header *h)
{
  uint8_t buf[VHDX_HEADER_SIZE];
  int slot = w->slot == 1 ? 2 : 1;

  vhdx_build_header (buf, h);
  if (xd_io_write (w->l->io, buf, sizeof buf,
                   slot == 1 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET,
                   "VHDX header") == -1 ||
      xd_io_flush (w->l->io) == -1)
    return -1;
  w->slot = slot;
  w->hdr = *h;
  return 0;
}

/* Put the new LogGuid G in the header, once the first entry with it is
 * durable: a torn first entry then belongs to no log (a reader finding
 * only a broken entry of the header's log refuses the file).
 */
static int
activate_log (struct vhdx_writer *w, const uint8_t g[16])
{
  struct vhdx_header h = w->hdr;

  h.sequence++;
  memcpy (h.log_guid, g, 16);
  if (write_header (w, &h) == -1)
    return -1;
  w->log_active = true;
  return 0;
}

static int
commit (struct vhdx_writer *w, struct txn *t)
{
  struct vd_layer *l = w->l;
  struct xd_io *io = l->io;
  struct vhdx_log_sector secs[TXN_MAX];
  struct vhdx_log_entry e;
  uint8_t *entry = NULL;
  uint32_t len, need;
  bool activate = !w->log_active;
  size_t i;

  if (t->n == 0) {
    txn_reset (t);
    return 0;
  }
  /* From here on a failure leaves the file to the next open's replay,
   * and this process's view of it uncertain.
   */
  w->broken = true;
  if (xd_io_flush (io) == -1)
    return -1;
  for (i = 0; i < t->n; i++)
    secs[i] = (struct vhdx_log_sector) { t->off[i], t->buf[i] };
  need = (xd_div_round_up (64 + 32 * t->n, SECTOR) + t->n) * SECTOR;
  if (activate) {
    if (xd_guid_generate (e.log_guid) == -1)
      return -1;
    w->log_head = 0;
  }
  else
    memcpy (e.log_guid, w->hdr.log_guid, 16);
  if ((uint64_t) w->log_head + need > w->hdr.log_length)
    w->log_head = 0;
  e.sequence = w->next_seq;
  e.tail = w->log_head;
  e.flushed_file_offset = e.last_file_offset = io->size;
  entry = vhdx_log_build_entry (&e, secs, t->n, &len);
  if (entry == NULL)
    return -1;
  if (xd_io_write (io, entry, len, w->hdr.log_offset + w->log_head,
                   "VHDX log entry") == -1 ||
      xd_io_flush (io) == -1 ||
      (activate && activate_log (w, e.log_guid) == -1)) {
    free (entry);
    return -1;
  }
  free (entry);
  for (i = 0; i < t->n; i++)
    if (xd_io_write (io, t->buf[i], SECTOR, t->off[i],
                     "VHDX metadata") == -1)
      return -1;
  for (i = 0; i < t->nbat; i++) {
    _Atomic uint64_t *page = w->pages[t->bat[i].index / PAGE_ENTRIES];
    atomic_store_explicit (&page[t->bat[i].index % PAGE_ENTRIES],
                           t->bat[i].entry, memory_order_release);
  }
  w->log_head += len;
  w->next_seq++;
  w->broken = false;
  /* Old blocks of zeroed or trimmed ranges: give the space back to the
   * file system if it can (best effort, the space is never reused).
   */
  if (io->ops->punch)
    for (i = 0; i < t->nfreed; i++)
      io->ops->punch (io, t->freed[i], l->block_size);
  txn_reset (t);
  return 0;
}

/* Commit T if K more sectors might not fit. */
static int
txn_room (struct vhdx_writer *w, struct txn *t, size_t k)
{
  return t->n + k > TXN_MAX ? commit (w, t) : 0;
}

/* ---- starting a session ---- */

static int
start_locked (struct vhdx_writer *w)
{
  struct vd_layer *l = w->l;
  struct vhdx_header h = w->hdr;
  uint64_t end;

  if (w->started)
    return 0;
  if (vhdx_log_apply (l->io) == -1)
    return -1;
  end = ROUND_UP (l->io->size, MIB);
  end = xd_max_u64 (end, h.log_offset + h.log_length);
  end = xd_max_u64 (end, l->x.bat_offset + l->x.bat_length);
  end = xd_max_u64 (end, l->x.metadata_offset + l->x.metadata_length);
  w->file_end = end;
  /* New GUIDs; the log stays empty until the first entry (commit). */
  h.sequence++;
  memset (h.log_guid, 0, 16);
  if (xd_guid_generate (h.file_write_guid) == -1 ||
      xd_guid_generate (h.data_write_guid) == -1 ||
      write_header (w, &h) == -1)
    return -1;
  w->log_active = false;
  atomic_store (&w->started, true);
  return 0;
}

static int
ensure_started (struct vhdx_writer *w)
{
  int r = 0;

  if (atomic_load (&w->started) && !w->broken)
    return 0;
  pthread_mutex_lock (&w->lock);
  if (w->broken) {
    xd_error ("%s: an earlier VHDX metadata update failed: reopen the image "
              "(its log is replayed then)", w->l->io->name);
    errno = EIO;
    r = -1;
  }
  else
    r = start_locked (w);
  pthread_mutex_unlock (&w->lock);
  return r;
}

/* A new region of LEN bytes at the end of the file, reading as zeros. */
static int
alloc_space (struct vhdx_writer *w, uint64_t len, uint64_t *where)
{
  struct xd_io *io = w->l->io;
  uint64_t end;

  if (xd_add_overflow (w->file_end, len, &end) || end > (UINT64_C (1) << 50)) {
    xd_error ("%s: VHDX file would grow beyond 1 PiB", io->name);
    errno = EFBIG;
    return -1;
  }
  if (io->size < end && xd_io_truncate (io, end, "new VHDX block") == -1)
    return -1;
  *where = w->file_end;
  w->file_end = end;
  return 0;
}

/* ---- writing one block ---- */

/* Write BUF (NULL: zeros) into present space. */
static int
plain_write (struct vd_layer *l, const void *buf, uint64_t n, uint64_t off)
{
  return buf ? xd_io_write (l->io, buf, n, off, "data block")
    : xd_io_zero (l->io, off, n, "data block");
}

/* Are all sectors of [IN_BLOCK, IN_BLOCK+N) of a partially present
 * BLOCK in this file?
 */
static int
bits_all_set (struct vd_layer *l, uint64_t block, uint64_t in_block,
              uint64_t n, bool *all)
{
  uint32_t sec = l->x.logical_sector_size;
  uint64_t se, first, count, b;
  uint8_t bits[512];

  *all = false;
  if (vd_layer_bat_entry (l, vhdx_bat_index_of_bitmap
                          (&l->x, block / l->x.chunk_ratio), &se) == -1)
    return -1;
  if (VHDX_BAT_STATE (se) != 6 || !space_ok (l, VHDX_BAT_OFFSET (se), MIB))
    return 0;
  first = (block % l->x.chunk_ratio) * (l->block_size / sec) +
    in_block / sec;
  count = xd_div_round_up (in_block % sec + n, sec);
  for (b = first; b < first + count;) {
    uint64_t byte0 = b / 8;
    uint64_t nb = xd_min_u64 (sizeof bits, (first + count + 7) / 8 - byte0);
    if (xd_io_read (l->io, bits, nb, VHDX_BAT_OFFSET (se) + byte0,
                    "sector bitmap") == -1)
      return -1;
    for (; b < first + count && b / 8 < byte0 + nb; b++)
      if (!((bits[b / 8 - byte0] >> (b % 8)) & 1))
        return 0;
  }
  *all = true;
  return 0;
}

/* A block in a non-present state gets new space, all of it present. */
static int
alloc_full (struct vhdx_writer *w, struct txn *t, uint64_t block,
            const void *buf, uint64_t n, uint64_t in_block)
{
  uint64_t where;

  if (alloc_space (w, w->l->block_size, &where) == -1 ||
      (buf && xd_io_write (w->l->io, buf, n, where + in_block,
                           "data block") == -1))
    return -1;
  return txn_set_bat (w, t, vhdx_bat_index_of_block (&w->l->x, block),
                      where | VHDX_BAT_FULLY_PRESENT);
}

/* Fill the sector at IN_BLOCK A of BLOCK into P as the disk reads it now:
 * from this file if its bit is set, else from the parent.
 */
static int
fill_sector (struct vhdx_writer *w, struct txn *t, uint64_t block,
             uint64_t where, uint64_t sb, uint64_t bit, uint64_t a,
             uint8_t *p)
{
  struct vd_layer *l = w->l;
  uint32_t sec = l->x.logical_sector_size;
  bool set = false;

  if (where && txn_bit (w, t, sb, bit, &set) == -1)
    return -1;
  if (set)
    return xd_io_read (l->io, p, sec, where + a, "data block");
  return vd_layer_read (l->parent, p, sec, block * l->block_size + a);
}

/* Differencing disk: write whole sectors into BLOCK (allocating it when
 * WHERE is 0) and set their bits in the sector bitmap.
 */
static int
write_sectors (struct vhdx_writer *w, struct txn *t, uint64_t block,
               uint64_t where, const void *buf, uint64_t n,
               uint64_t in_block)
{
  struct vd_layer *l = w->l;
  uint32_t sec = l->x.logical_sector_size;
  uint64_t sbi = vhdx_bat_index_of_bitmap (&l->x, block / l->x.chunk_ratio);
  uint64_t a = in_block / sec * sec;
  uint64_t b = ROUND_UP (in_block + n, sec);
  uint64_t first = (block % l->x.chunk_ratio) * (l->block_size / sec);
  uint64_t se, sb;
  bool new_block = where == 0;
  uint8_t *tmp = NULL;
  int r = -1;

  if (txn_room (w, t, 6) == -1 || txn_entry (w, t, sbi, &se) == -1)
    return -1;
  if (VHDX_BAT_STATE (se) == VHDX_BAT_NOT_PRESENT) {
    if (alloc_space (w, MIB, &sb) == -1 ||
        txn_set_bat (w, t, sbi, sb | 6) == -1)
      return -1;
  }
  else if (VHDX_BAT_STATE (se) == 6) {
    sb = VHDX_BAT_OFFSET (se);
    if (check_space (l, block, sb, MIB) == -1)
      return -1;
  }
  else {
    xd_error ("%s: VHDX sector bitmap entry for block %" PRIu64 " has "
              "state %u", l->io->name, block, VHDX_BAT_STATE (se));
    errno = EIO;
    return -1;
  }
  if (new_block && alloc_space (w, l->block_size, &where) == -1)
    return -1;
  /* Zeros into a new block need no data write (its space reads as
   * zeros), unless sectors at the edges keep some of the parent's data.
   */
  if (buf || !new_block || a < in_block || in_block + n < b) {
    tmp = malloc (b - a);
    if (tmp == NULL) {
      xd_error ("malloc: %m");
      return -1;
    }
    if ((a < in_block &&
         fill_sector (w, t, block, new_block ? 0 : where, sb,
                      first + a / sec, a, tmp) == -1) ||
        (in_block + n < b && (b - sec > a || a == in_block) &&
         fill_sector (w, t, block, new_block ? 0 : where, sb,
                      first + (b - sec) / sec, b - sec,
                      tmp + (b - sec - a)) == -1))
      goto out;
    if (buf)
      memcpy (tmp + (in_block - a), buf, n);
    else
      memset (tmp + (in_block - a), 0, n);
    if (xd_io_write (l->io, tmp, b - a, where + a, "data block") == -1)
      goto out;
  }
  if (txn_set_bits (w, t, sb, first + a / sec, (b - a) / sec) == -1 ||
      (new_block &&
       txn_set_bat (w, t, vhdx_bat_index_of_block (&l->x, block),
                    where | VHDX_BAT_PARTIALLY_PRESENT) == -1))
    goto out;
  r = 0;
 out:
  free (tmp);
  return r;
}

/* Write N bytes of BUF (NULL: zeros) at IN_BLOCK of BLOCK, under the
 * lock, adding metadata changes to T.
 */
static int
write_block_locked (struct vhdx_writer *w, struct txn *t, uint64_t block,
                    const void *buf, uint64_t n, uint64_t in_block)
{
  struct vd_layer *l = w->l;
  uint64_t e, where;
  bool whole = in_block == 0 &&
    (n == l->block_size || block * l->block_size + n == l->size);

  if (txn_room (w, t, 6) == -1 ||
      txn_entry (w, t, vhdx_bat_index_of_block (&l->x, block), &e) == -1)
    return -1;
  where = VHDX_BAT_OFFSET (e);
  switch (VHDX_BAT_STATE (e)) {
  case VHDX_BAT_FULLY_PRESENT:
    if (check_space (l, block, where, l->block_size) == -1)
      return -1;
    return plain_write (l, buf, n, where + in_block);
  case VHDX_BAT_PARTIALLY_PRESENT:
    if (!l->diff)
      return bad_state (l, block, e);
    if (check_space (l, block, where, l->block_size) == -1)
      return -1;
    return write_sectors (w, t, block, where, buf, n, in_block);
  case VHDX_BAT_NOT_PRESENT:
    if (l->diff && !whole)
      return write_sectors (w, t, block, 0, buf, n, in_block);
    /* fall through */
  case VHDX_BAT_UNDEFINED: case VHDX_BAT_ZERO: case VHDX_BAT_UNMAPPED:
    return alloc_full (w, t, block, buf, n, in_block);
  }
  return bad_state (l, block, e);
}

/* After an operation that returned R (under the lock): a differencing
 * disk commits what it changed, even after an error part way.
 */
static int
end_op (struct vhdx_writer *w, int r)
{
  int err = errno;

  if (!w->l->diff)
    return r;
  if (commit (w, &w->pending) == -1)
    return -1;
  errno = err;
  return r;
}

/* Write into one block: without the lock where the space is present. */
static int
write_block (struct vhdx_writer *w, uint64_t block, const void *buf,
             uint64_t n, uint64_t in_block)
{
  struct vd_layer *l = w->l;
  uint64_t e;
  bool all;
  int r;

  if (vd_layer_bat_entry (l, vhdx_bat_index_of_block (&l->x, block),
                          &e) == -1)
    return -1;
  if (VHDX_BAT_STATE (e) == VHDX_BAT_FULLY_PRESENT) {
    if (check_space (l, block, VHDX_BAT_OFFSET (e), l->block_size) == -1)
      return -1;
    return plain_write (l, buf, n, VHDX_BAT_OFFSET (e) + in_block);
  }
  if (VHDX_BAT_STATE (e) == VHDX_BAT_PARTIALLY_PRESENT && l->diff) {
    if (bits_all_set (l, block, in_block, n, &all) == -1)
      return -1;
    if (all && check_space (l, block, VHDX_BAT_OFFSET (e),
                            l->block_size) == 0)
      return plain_write (l, buf, n, VHDX_BAT_OFFSET (e) + in_block);
  }
  pthread_mutex_lock (&w->lock);
  r = end_op (w, write_block_locked (w, &w->pending, block, buf, n,
                                     in_block));
  pthread_mutex_unlock (&w->lock);
  return r;
}

/* The writer attached to layer L (the override is ours), or NULL. */
static struct vhdx_writer *
attached_writer (const struct vd_layer *l)
{
  return l->bat_override == writer_bat_lookup ? l->bat_override_opaque
    : NULL;
}

static struct vhdx_writer *
writer_of (struct vd_disk *disk)
{
  struct vhdx_writer *w = attached_writer (disk->top);

  if (w == NULL) {
    xd_error ("%s: the image is not open for writing", disk->top->io->name);
    errno = EROFS;
  }
  return w;
}

int
vhdx_pwrite (struct vd_disk *disk, const void *buf, uint32_t count,
             uint64_t offset)
{
  struct vhdx_writer *w = writer_of (disk);
  const uint8_t *p = buf;

  if (w == NULL || ensure_started (w) == -1)
    return -1;
  while (count > 0) {
    uint64_t bs = w->l->block_size, in_block = offset % bs;
    uint64_t n = xd_min_u64 (count, bs - in_block);
    if (write_block (w, offset / bs, p, n, in_block) == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* ---- zero and trim ---- */

/* Set BLOCK to STATE (zero or unmapped, offset 0), freeing its space. */
static int
drop_block (struct vhdx_writer *w, struct txn *t, uint64_t block,
            uint64_t e, unsigned state)
{
  uint64_t st = VHDX_BAT_STATE (e);

  if (txn_room (w, t, 1) == -1 ||
      txn_set_bat (w, t, vhdx_bat_index_of_block (&w->l->x, block),
                   state) == -1)
    return -1;
  if ((st == VHDX_BAT_FULLY_PRESENT || st == VHDX_BAT_PARTIALLY_PRESENT) &&
      space_ok (w->l, VHDX_BAT_OFFSET (e), w->l->block_size))
    return txn_add_freed (t, VHDX_BAT_OFFSET (e));
  return 0;
}

/* Zero N bytes at IN_BLOCK of BLOCK (under the lock). */
static int
zero_block (struct vhdx_writer *w, struct txn *t, uint64_t block,
            uint64_t n, uint64_t in_block, bool fast)
{
  struct vd_layer *l = w->l;
  bool whole = in_block == 0 &&
    (n == l->block_size || block * l->block_size + n == l->size);
  bool keep = l->x.leave_blocks_allocated && !l->diff;
  uint64_t e;
  unsigned st;

  if (txn_entry (w, t, vhdx_bat_index_of_block (&l->x, block), &e) == -1)
    return -1;
  st = VHDX_BAT_STATE (e);
  if (st == VHDX_BAT_ZERO ||
      (!l->diff && (st == VHDX_BAT_NOT_PRESENT || st == VHDX_BAT_UNMAPPED ||
                    st == VHDX_BAT_UNDEFINED)))
    return 0;                   /* reads as zeros already */
  if (whole && !keep)
    return drop_block (w, t, block, e, VHDX_BAT_ZERO);
  if (st == VHDX_BAT_FULLY_PRESENT)
    return write_block_locked (w, t, block, NULL, n, in_block);
  if (fast) {
    errno = ENOTSUP;
    return -1;
  }
  return write_block_locked (w, t, block, NULL, n, in_block);
}

int
vhdx_zero (struct vd_disk *disk, uint32_t count, uint64_t offset,
           bool may_trim XD_UNUSED, bool fast)
{
  struct vhdx_writer *w = writer_of (disk);
  int r = 0;

  if (w == NULL || ensure_started (w) == -1)
    return -1;
  pthread_mutex_lock (&w->lock);
  while (r == 0 && count > 0) {
    uint64_t bs = w->l->block_size, in_block = offset % bs;
    uint64_t n = xd_min_u64 (count, bs - in_block);
    r = zero_block (w, &w->pending, offset / bs, n, in_block, fast);
    offset += n;
    count -= n;
  }
  r = end_op (w, r);
  pthread_mutex_unlock (&w->lock);
  return r;
}

int
vhdx_trim (struct vd_disk *disk, uint32_t count, uint64_t offset)
{
  struct vhdx_writer *w = writer_of (disk);
  struct vd_layer *l;
  struct txn *t;
  int r = 0;

  if (w == NULL || ensure_started (w) == -1)
    return -1;
  l = w->l;
  if (l->x.leave_blocks_allocated && !l->diff)
    return 0;                   /* a fixed VHDX keeps its blocks */
  pthread_mutex_lock (&w->lock);
  t = &w->pending;
  while (r == 0 && count > 0) {
    uint64_t bs = l->block_size, in_block = offset % bs, block = offset / bs;
    uint64_t n = xd_min_u64 (count, bs - in_block), e = 0;
    unsigned st;
    bool whole = in_block == 0 && (n == bs || offset + n == l->size);

    offset += n;
    count -= n;
    if (!whole)
      continue;                 /* trim may leave data where it is */
    r = txn_entry (w, t, vhdx_bat_index_of_block (&l->x, block), &e);
    st = VHDX_BAT_STATE (e);
    if (r == 0 &&
        (st == VHDX_BAT_FULLY_PRESENT || st == VHDX_BAT_PARTIALLY_PRESENT))
      /* A differencing disk must not expose its parent: zero state. */
      r = drop_block (w, t, block, e,
                      l->diff ? VHDX_BAT_ZERO : VHDX_BAT_UNMAPPED);
  }
  r = end_op (w, r);
  pthread_mutex_unlock (&w->lock);
  return r;
}

int
vhdx_flush (struct vd_disk *disk)
{
  struct vhdx_writer *w = attached_writer (disk->top);
  struct vhdx_header h;
  int r = 0;

  if (w == NULL)
    return 0;
  if (!atomic_load (&w->started))
    return xd_io_flush (w->l->io);
  pthread_mutex_lock (&w->lock);
  if ((!w->broken && commit (w, &w->pending) == -1) ||
      xd_io_flush (w->l->io) == -1)
    r = -1;
  else if (w->log_active && !w->broken) {
    /* Every entry is applied and durable: the log is empty now. */
    h = w->hdr;
    h.sequence++;
    memset (h.log_guid, 0, 16);
    r = write_header (w, &h);
    if (r == 0)
      w->log_active = false;
  }
  pthread_mutex_unlock (&w->lock);
  return r;
}

/* ---- attaching ---- */

bool
vhdx_can_write (struct vd_disk *disk, const char **why)
{
  struct vd_layer *l = disk->top;

  if (l->kind != VD_VHDX || attached_writer (l) == NULL ||
      !xd_io_writable (l->io)) {
    *why = "the VHDX file is open read-only";
    return false;
  }
  return true;
}

int
vhdx_writer_attach (struct vd_disk *disk)
{
  struct vd_layer *l = disk->top;
  struct vhdx_writer *w;

  if (l->kind != VD_VHDX || !xd_io_writable (l->io))
    return 0;
  w = calloc (1, sizeof *w);
  if (w == NULL) {
    xd_error ("calloc: %m");
    return -1;
  }
  w->l = l;
  pthread_mutex_init (&w->lock, NULL);
  w->hdr = l->x.header;
  w->slot = l->x.current_header;
  w->next_seq = 1;
  w->nr_pages = xd_div_round_up (l->x.bat_entries, PAGE_ENTRIES);
  w->pages = calloc (w->nr_pages ? w->nr_pages : 1, sizeof *w->pages);
  if (w->pages == NULL) {
    xd_error ("calloc: %m");
    pthread_mutex_destroy (&w->lock);
    free (w);
    return -1;
  }
  l->bat_override = writer_bat_lookup;
  l->bat_override_opaque = w;
  return 0;
}

void
vhdx_writer_detach (struct vd_disk *disk)
{
  struct vd_layer *l = disk ? disk->top : NULL;
  struct vhdx_writer *w = l ? attached_writer (l) : NULL;
  size_t i;

  if (w == NULL)
    return;
  l->bat_override = NULL;
  l->bat_override_opaque = NULL;
  txn_free (&w->pending);
  for (i = 0; i < w->nr_pages; i++)
    free ((void *) w->pages[i]);
  free (w->pages);
  pthread_mutex_destroy (&w->lock);
  free (w);
}
