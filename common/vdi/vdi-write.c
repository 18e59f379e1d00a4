/* xdisk: writing VirtualBox VDI images (static, dynamic, differencing).
 *
 * Writes into an allocated block go straight to its place in the file,
 * in parallel.  A write into a free or zero block allocates a new block
 * at the end of the data area, under the handle's lock (test-vdi's
 * allocation race holds one thread inside it while another writes into
 * the same block; tests/mutants.txt drops the lock): the block's data
 * is written first (read-modify-write from the parent or zeros for a
 * partial block), then the entry in the in-memory map points at it.  The map entries and the allocated-block counter reach the file
 * at the next flush, in this order:
 *
 *   1. the header's cBlocksAllocated (with the new modification UUID),
 *   2. fdatasync: the new blocks and the counter are durable,
 *   3. the changed map sectors,
 *   4. fdatasync.
 *
 * (tests/mutants.txt breaks each step in turn: test-vdi's power-loss
 * cases must catch every one.)
 *
 * So no map entry on disk ever points at unwritten data, and the
 * counter on disk is never below the slots the map uses: VirtualBox and
 * qemu both put their next new block at slot cBlocksAllocated, so a
 * counter that lagged would make them overwrite a block in use.  A
 * power cut between 2 and 4 leaves the counter ahead of the map: the
 * blocks being allocated are leaked (qemu-img check then says
 * "allocated blocks mismatch"), nothing else.  The next write session
 * puts new blocks back at the first unused slot and sets the counter
 * back to the number of blocks in use.
 *
 * Blocks are never freed: zero and trim of an allocated block punch a
 * hole in its data (it reads as zeros), so the slots stay dense and
 * cBlocksAllocated equals the blocks in use, as qemu-img check and
 * VirtualBox's own writer expect.  Zeroing a whole free block of a
 * differencing image stores VDI_BLOCK_ZERO, which reads as zeros and
 * hides the parent; a free block of an image without a parent already
 * reads as zeros.
 *
 * The first write of a session gives the image a new modification
 * UUID (uuidModify), as VirtualBox does.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdi/vdi-write.h"
#include "include/xd-bytes.h"
#include "core/xd-check.h"
#include "core/xd-format.h"
#include "include/xd-math.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"

#define MAP_SECTOR 512u
#define PER_SECTOR (MAP_SECTOR / 4)

/* Map sectors written at once by a flush. */
#define MAP_WRITE_SECTORS 128u

/* The largest map a writable top image keeps whole (256 Mi blocks; a
 * larger image is served read-only).
 */
#define VDI_MAP_WRITABLE_MAX (UINT64_C (1) << 30)

/* What a writable open adds to its top image (l->writer). */
struct vdi_writer {
  bool write_ready;             /* the first write's work is done */
  pthread_mutex_t lock;         /* allocation, the map, the header */
  uint32_t next_slot;           /* where the next new block goes */
  uint32_t counter;             /* cBlocksAllocated to write */
  uint32_t counter_on_disk;     /* ... as last written */
  uint8_t *dirty;               /* one bit per 512-byte map sector */
  uint64_t nr_dirty;            /* set bits in DIRTY */
};

static bool
is_allocated (uint32_t entry)
{
  return entry < VDI_BLOCK_ZERO;
}

/* ---- set-up ---- */

/* Find the slots in use; choose the next slot and the counter. */
static int
find_slots (struct vdi_layer *l, struct vdi_writer *w)
{
  uint64_t i, in_use = 0, next = 0, sectors;

  for (i = 0; i < l->blocks; i++) {
    uint32_t e = l->map[i];
    if (!is_allocated (e))
      continue;
    in_use++;
    if (e + (uint64_t) 1 > next)
      next = e + (uint64_t) 1;
  }
  sectors = xd_div_round_up (l->blocks * 4, MAP_SECTOR);
  w->dirty = calloc (xd_div_round_up (sectors, 8), 1);
  if (w->dirty == NULL) {
    xd_error ("calloc: %m");
    return -1;
  }
  w->next_slot = (uint32_t) xd_min_u64 (next, UINT32_MAX);
  w->counter_on_disk = l->h.blocks_allocated;
  /* Dense slots (the usual case, and what a power cut during our own
   * allocation leaves): the counter is the number in use, which also
   * takes back blocks leaked by a crash.  Else never lower it.
   */
  if (in_use == next)
    w->counter = w->next_slot;
  else
    w->counter = (uint32_t) xd_max_u64 (l->h.blocks_allocated, next);
  return 0;
}

int
vdi_write_attach (struct vdi_layer *l)
{
  struct vdi_writer *w;

  /* Writes change map entries: the whole map must be in memory. */
  if (l->map == NULL && l->blocks * 4 <= VDI_MAP_WRITABLE_MAX &&
      vdi_map_keep_whole (l) == -1)
    return -1;
  if (l->map == NULL)
    return 0;                   /* read-only: vdi_can_write says why */
  w = calloc (1, sizeof *w);
  if (w == NULL) {
    xd_error ("calloc: %m");
    return -1;
  }
  if (find_slots (l, w) == -1) {
    free (w);
    return -1;
  }
  pthread_mutex_init (&w->lock, NULL);
  l->writer = w;
  return 0;
}

bool
vdi_can_write (void *h, const char **why)
{
  struct vdi_layer *l = h;

  if (l->map == NULL) {
    *why = "the VDI block map is too large to keep in memory for writing";
    return false;
  }
  if (l->writer == NULL || !xd_io_writable (l->io)) {
    *why = "the VDI file could not be opened for writing";
    return false;
  }
  /* VirtualBox refuses a count above the block count, and the count
   * may not be below the slots in use: no count is right then.
   */
  if (l->writer->next_slot > l->h.blocks) {
    *why = "the VDI block map uses slots beyond the block count (the "
      "image is damaged)";
    return false;
  }
  return true;
}

/* ---- header and map ---- */

/* Write cBlocksAllocated, uuidCreate and uuidModify: adjacent fields
 * in both header versions, so one write inside the first sector.
 */
static int
write_header_locked (struct vdi_layer *l)
{
  struct vdi_writer *w = l->writer;
  uint8_t buf[36];
  uint64_t off = l->h.major == 0 ? VDI0_BLOCKS_ALLOCATED
    : VDI1_BLOCKS_ALLOCATED;

  xd_put_le32 (buf, w->counter);
  memcpy (buf + 4, l->h.uuid_create, 16);
  memcpy (buf + 20, l->h.uuid_modify, 16);
  if (xd_io_write (l->io, buf, sizeof buf, off, "VDI header") == -1)
    return -1;
  w->counter_on_disk = w->counter;
  l->h.blocks_allocated = w->counter;
  return 0;
}

/* The first write of a session: a new modification UUID, and the
 * counter as vdi_write_attach chose it.
 */
static int
prepare_locked (struct vdi_layer *l)
{
  struct vdi_writer *w = l->writer;
  uint8_t old[16];

  if (w->write_ready)
    return 0;
  memcpy (old, l->h.uuid_modify, 16);
  if (xd_guid_generate (l->h.uuid_modify) == -1)
    return -1;
  if (write_header_locked (l) == -1) {
    memcpy (l->h.uuid_modify, old, 16);
    return -1;
  }
  __atomic_store_n (&w->write_ready, true, __ATOMIC_RELEASE);
  return 0;
}

static int
prepare (struct vdi_layer *l)
{
  struct vdi_writer *w = l->writer;
  int r;

  if (w == NULL) {
    xd_error ("%s: the VDI was not opened for writing", l->io->name);
    errno = EROFS;
    return -1;
  }
  if (__atomic_load_n (&w->write_ready, __ATOMIC_ACQUIRE))
    return 0;
  pthread_mutex_lock (&w->lock);
  r = prepare_locked (l);
  pthread_mutex_unlock (&w->lock);
  return r;
}

static void
mark_dirty_locked (struct vdi_layer *l, uint64_t block)
{
  struct vdi_writer *w = l->writer;
  uint64_t s = block / PER_SECTOR;

  if (!(w->dirty[s / 8] & (1u << (s % 8)))) {
    w->dirty[s / 8] |= (uint8_t) (1u << (s % 8));
    w->nr_dirty++;
  }
}

static bool
is_dirty (const struct vdi_layer *l, uint64_t s)
{
  const struct vdi_writer *w = l->writer;

  return w->dirty[s / 8] & (1u << (s % 8));
}

/* Write the dirty map sectors [FIRST, FIRST+N) from the in-memory map. */
static int
write_map_run_locked (struct vdi_layer *l, uint8_t *buf, uint64_t first,
                      uint64_t n)
{
  struct vdi_writer *w = l->writer;
  uint64_t i, start = first * PER_SECTOR;
  uint64_t end = xd_min_u64 ((first + n) * PER_SECTOR, l->blocks);
  uint64_t bytes = (end - start) * 4;

  for (i = start; i < end; i++)
    xd_put_le32 (buf + (i - start) * 4, l->map[i]);
  if (xd_io_write (l->io, buf, bytes, l->h.blocks_offset + start * 4,
                   "VDI block map") == -1)
    return -1;
  for (i = first; i < first + n; i++)
    w->dirty[i / 8] &= (uint8_t) ~(1u << (i % 8));
  w->nr_dirty -= n;
  return 0;
}

static int
write_map_locked (struct vdi_layer *l)
{
  struct vdi_writer *w = l->writer;
  uint64_t sectors = xd_div_round_up (l->blocks * 4, MAP_SECTOR), s = 0;
  uint8_t *buf;
  int r = 0;

  if (w->nr_dirty == 0)
    return 0;
  buf = malloc (MAP_WRITE_SECTORS * MAP_SECTOR);
  if (buf == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  while (r == 0 && s < sectors && w->nr_dirty > 0) {
    uint64_t n = 0;
    if (!is_dirty (l, s)) {
      s++;
      continue;
    }
    while (s + n < sectors && n < MAP_WRITE_SECTORS && is_dirty (l, s + n))
      n++;
    r = write_map_run_locked (l, buf, s, n);
    s += n;
  }
  free (buf);
  return r;
}

static int
flush_locked (struct vdi_layer *l)
{
  struct vdi_writer *w = l->writer;

  /* Nothing is written before the first write (the counter may differ
   * from the file's only because setup chose to correct it).
   */
  if (w->write_ready && w->counter != w->counter_on_disk &&
      write_header_locked (l) == -1)
    return -1;
  if (xd_io_flush (l->io) == -1)
    return -1;
  if (w->nr_dirty == 0)
    return 0;
  if (write_map_locked (l) == -1)
    return -1;
  return xd_io_flush (l->io);
}

int
vdi_flush (void *h)
{
  struct vdi_layer *l = h;
  struct vdi_writer *w = l->writer;
  int r;

  if (w == NULL)
    return 0;
  pthread_mutex_lock (&w->lock);
  r = flush_locked (l);
  pthread_mutex_unlock (&w->lock);
  return r;
}

/* The last client has gone: make what it left unflushed durable.  VDI
 * has nothing else to finish, so later clients may write again.
 */
int
vdi_finish (void *h)
{
  return vdi_flush (h);
}

/* Persist what a client left unflushed when the image is closed, then
 * release the writer.
 */
void
vdi_write_detach (struct vdi_layer *l)
{
  struct vdi_writer *w = l->writer;

  if (w == NULL)
    return;
  if (w->write_ready && (w->nr_dirty || w->counter != w->counter_on_disk))
    (void) vdi_flush (l);
  pthread_mutex_destroy (&w->lock);
  free (w->dirty);
  free (w);
  l->writer = NULL;
}

/* ---- data ---- */

/* Offset in the file of byte IN_BLOCK of the block in SLOT. */
static int
slot_offset (struct vdi_layer *l, uint64_t slot, uint64_t in_block,
             uint64_t *off)
{
  uint64_t base;

  if (xd_mul_overflow (slot, l->total_block, &base) ||
      xd_add_overflow (base, l->h.data_offset + l->h.block_extra + in_block,
                       off)) {
    xd_error ("%s: VDI block slot %" PRIu64 " lies beyond the largest file "
              "offset", l->io->name, slot);
    errno = EFBIG;
    return -1;
  }
  return 0;
}

/* The file offset of N bytes at IN_BLOCK of the allocated block BLOCK
 * (in slot ENTRY), which must lie inside the file: a damaged map entry
 * must not make a write land far beyond it.
 */
static int
in_place_offset (struct vdi_layer *l, uint64_t block, uint32_t entry,
                 uint64_t in_block, uint64_t n, uint64_t *off)
{
  if (slot_offset (l, entry, in_block, off) == -1)
    return -1;
  if (*off + n > l->io->size) {
    xd_error ("%s: VDI block map entry %" PRIu32 " for block %" PRIu64
              " points beyond the end of the file", l->io->name, entry,
              block);
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
write_in_place (struct vdi_layer *l, uint64_t block, uint32_t entry,
                uint64_t in_block, const uint8_t *data, uint64_t n)
{
  uint64_t off;

  if (in_place_offset (l, block, entry, in_block, n, &off) == -1)
    return -1;
  return xd_io_write (l->io, data, n, off, "VDI data block");
}

/* Make the block now at slot SLOT read DATA (N bytes at IN_BLOCK) over
 * what block BLOCK showed before (its ENTRY: free or zero).
 */
static int
fill_new_block_locked (struct vdi_layer *l, uint64_t block, uint32_t entry,
                       uint64_t slot, uint64_t in_block, const uint8_t *data,
                       uint64_t n)
{
  uint64_t bs = l->h.block_size, start = block << l->shift;
  uint64_t in_disk = xd_min_u64 (bs, l->size - start);
  uint64_t slot_start, base;
  bool zeros_below, fresh;
  uint8_t *buf;
  int r, err;

  if (slot_offset (l, slot, 0, &base) == -1)
    return -1;
  slot_start = base - l->h.block_extra;
  zeros_below = entry == VDI_BLOCK_ZERO || l->parent == NULL;
  fresh = slot_start >= l->io->size;    /* nothing in the file there */
  /* The whole block, or only the data when the rest reads as zeros
   * and lies past the end of the file (a hole once the file grows).
   */
  if ((in_block == 0 && n >= in_disk) || (zeros_below && fresh))
    return xd_io_write (l->io, data, n, base + in_block, "VDI data block");
  buf = calloc (1, bs);
  if (buf == NULL) {
    xd_error ("calloc: %m");
    return -1;
  }
  r = vdi_layer_read (l, buf, in_disk, start);
  if (r == 0) {
    memcpy (buf + in_block, data, n);
    r = xd_io_write (l->io, buf, bs, base, "VDI data block");
  }
  err = errno;
  free (buf);
  errno = err;
  return r;
}

/* Allocate a block for BLOCK (ENTRY free or zero) holding DATA. */
static int
allocate_locked (struct vdi_layer *l, uint64_t block, uint32_t entry,
                 uint64_t in_block, const uint8_t *data, uint64_t n)
{
  struct vdi_writer *w = l->writer;
  uint64_t slot = w->next_slot, end;

  if (slot >= l->h.blocks || slot >= VDI_BLOCK_ZERO) {
    xd_error ("%s: VDI: no free block slot: the image's %" PRIu32 " slots "
              "are all used (blocks leaked by earlier crashes?)",
              l->io->name, l->h.blocks);
    errno = ENOSPC;
    return -1;
  }
  if (fill_new_block_locked (l, block, entry, slot, in_block, data, n) == -1
      || slot_offset (l, slot, l->h.block_size, &end) == -1)
    return -1;
  if (l->io->size < end && xd_io_truncate (l->io, end, "VDI data block") == -1)
    return -1;
  /* The data is in place: now the map may point at it. */
  __atomic_store_n (&l->map[block], (uint32_t) slot, __ATOMIC_RELEASE);
  w->next_slot = (uint32_t) slot + 1;
  if (w->counter < w->next_slot)
    w->counter = w->next_slot;
  mark_dirty_locked (l, block);
  return 0;
}

static int
write_block (struct vdi_layer *l, uint64_t block, uint64_t in_block,
             const uint8_t *data, uint64_t n)
{
  struct vdi_writer *w = l->writer;
  uint32_t entry;
  int r;

  if (vdi_map_entry (l, block, &entry) == -1)
    return -1;
  if (is_allocated (entry))
    return write_in_place (l, block, entry, in_block, data, n);
  pthread_mutex_lock (&w->lock);
  entry = l->map[block];                /* another thread may have won */
  if (is_allocated (entry)) {
    pthread_mutex_unlock (&w->lock);
    return write_in_place (l, block, entry, in_block, data, n);
  }
  r = allocate_locked (l, block, entry, in_block, data, n);
  pthread_mutex_unlock (&w->lock);
  return r;
}

/* Call FN for each piece of [OFFSET, OFFSET+COUNT) inside one block. */
typedef int (*piece_fn) (struct vdi_layer *l, uint64_t block,
                         uint64_t in_block, uint64_t n, const uint8_t *data,
                         void *arg);

static int
for_each_block (struct vdi_layer *l, uint64_t offset, uint64_t count,
                const uint8_t *data, piece_fn fn, void *arg)
{
  while (count > 0) {
    uint64_t block = offset >> l->shift;
    uint64_t in_block = offset & (l->h.block_size - 1);
    uint64_t n = xd_min_u64 (count, l->h.block_size - in_block);

    if (offset >= l->size || n > l->size - offset) {
      xd_error ("%s: VDI: request beyond the end of the disk", l->io->name);
      errno = EIO;
      return -1;
    }
    if (fn (l, block, in_block, n, data, arg) == -1)
      return -1;
    offset += n;
    count -= n;
    if (data)
      data += n;
  }
  return 0;
}

static int
write_piece (struct vdi_layer *l, uint64_t block, uint64_t in_block,
             uint64_t n, const uint8_t *data, void *arg XD_UNUSED)
{
  return write_block (l, block, in_block, data, n);
}

int
vdi_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  struct vdi_layer *l = h;

  if (prepare (l) == -1)
    return -1;
  return for_each_block (l, offset, count, buf, write_piece, NULL);
}

/* ---- zero and trim ---- */

struct zero_args {
  bool fast;
  bool trim;                    /* trim: never allocate or store ZERO */
  bool probe;                   /* only fail if a piece would be slow */
};

static int
zero_in_place (struct vdi_layer *l, uint64_t block, uint32_t entry,
               uint64_t in_block, uint64_t n)
{
  uint64_t off;

  if (in_place_offset (l, block, entry, in_block, n, &off) == -1)
    return -1;
  return xd_io_zero (l->io, off, n, "VDI data block");
}

/* A whole free block of an image with a parent: store ZERO. */
static int
zero_whole_free (struct vdi_layer *l, uint64_t block)
{
  struct vdi_writer *w = l->writer;
  uint32_t entry;

  pthread_mutex_lock (&w->lock);
  entry = l->map[block];
  if (entry == VDI_BLOCK_FREE) {
    __atomic_store_n (&l->map[block], VDI_BLOCK_ZERO, __ATOMIC_RELEASE);
    mark_dirty_locked (l, block);
  }
  pthread_mutex_unlock (&w->lock);
  if (is_allocated (entry))
    return zero_in_place (l, block, entry, 0,
                          xd_min_u64 (l->h.block_size,
                                      l->size - (block << l->shift)));
  return 0;
}

static int
zero_piece (struct vdi_layer *l, uint64_t block, uint64_t in_block,
            uint64_t n, const uint8_t *data XD_UNUSED, void *arg)
{
  const struct zero_args *a = arg;
  uint64_t start = block << l->shift;
  bool whole = in_block == 0 &&
    n >= xd_min_u64 (l->h.block_size, l->size - start);
  uint32_t entry;
  uint8_t *zeros;
  int r, err;

  if (vdi_map_entry (l, block, &entry) == -1)
    return -1;
  /* Only part of a free block under a parent needs data written. */
  if (a->fast && !whole && !is_allocated (entry) && !a->trim &&
      entry != VDI_BLOCK_ZERO && l->parent != NULL) {
    errno = ENOTSUP;
    return -1;
  }
  if (a->probe)
    return 0;
  if (is_allocated (entry))
    return zero_in_place (l, block, entry, in_block, n);
  /* Free or zero: zeros already, unless a parent shows through. */
  if (a->trim || entry == VDI_BLOCK_ZERO || l->parent == NULL)
    return 0;
  if (whole)
    return zero_whole_free (l, block);
  zeros = calloc (1, n);
  if (zeros == NULL) {
    xd_error ("calloc: %m");
    return -1;
  }
  r = write_block (l, block, in_block, zeros, n);
  err = errno;
  free (zeros);
  errno = err;
  return r;
}

int
vdi_zero (void *h, uint32_t count, uint64_t offset, bool may_trim XD_UNUSED,
          bool fast)
{
  struct vdi_layer *l = h;
  struct zero_args a = { .fast = fast, .trim = false };
  struct zero_args probe = { .fast = true, .probe = true };

  if (prepare (l) == -1)
    return -1;
  /* A fast zero that cannot be done fast fails before it changes
   * anything (NBD: fail fast without modifying the disk): look at every
   * block first, then zero.
   */
  if (fast && for_each_block (l, offset, count, NULL, zero_piece,
                              &probe) == -1)
    return -1;
  return for_each_block (l, offset, count, NULL, zero_piece, &a);
}

/* Trim punches holes in allocated blocks (they read as zeros) and
 * leaves free blocks as they are: what a parent shows there stays.
 */
int
vdi_trim (void *h, uint32_t count, uint64_t offset)
{
  struct vdi_layer *l = h;
  struct zero_args a = { .fast = false, .trim = true };

  if (prepare (l) == -1)
    return -1;
  return for_each_block (l, offset, count, NULL, zero_piece, &a);
}

/* ---- check ---- */

struct check_state {
  struct xd_check c;
  struct vdi_layer *l;
};

#define problem(cs, ...) xd_check_problem (&(cs)->c, __VA_ARGS__)

/* What VirtualBox's header validator refuses beyond what the reader
 * already refused.
 */
static void
check_header (struct check_state *c, const struct vdi_header *h)
{
  uint8_t lchs[16];

  if (xd_guid_is_null (h->uuid_create))
    problem (c, "the creation UUID is null (VirtualBox refuses the image)");
  if (xd_guid_is_null (h->uuid_modify))
    problem (c, "the modification UUID is null (VirtualBox refuses the "
             "image)");
  if (h->major == 1 && h->header_size >= VDI1_PLUS_HEADER_SIZE &&
      xd_io_read (c->l->io, lchs, sizeof lchs, VDI1_LCHS_GEOMETRY,
                  "VDI header") == 0 &&
      xd_le32 (lchs + 12) != VDI_GEOMETRY_SECTOR_SIZE)
    problem (c, "the LCHS geometry's sector size is %" PRIu32 ", not 512 "
             "(VirtualBox refuses the image)", xd_le32 (lchs + 12));
}

/* One map entry I (block I) holding slot E. */
static void
check_entry (struct check_state *c, const struct vdi_header *h,
             uint8_t *used, uint64_t i, uint32_t e, uint64_t *in_use,
             uint64_t *next)
{
  struct vdi_layer *l = c->l;
  uint64_t off, need;

  if (e >= h->blocks) {
    problem (c, "block %" PRIu64 " is in slot %" PRIu32 ", beyond the "
             "block count %" PRIu32, i, e, h->blocks);
    return;
  }
  if (used[e / 8] & (1u << (e % 8))) {
    problem (c, "block %" PRIu64 " shares slot %" PRIu32 " with another "
             "block", i, e);
    return;
  }
  used[e / 8] |= (uint8_t) (1u << (e % 8));
  ++*in_use;
  if (e + (uint64_t) 1 > *next)
    *next = e + (uint64_t) 1;
  need = i < l->blocks ? xd_min_u64 (h->block_size,
                                     h->disk_size - (i << l->shift)) : 0;
  if (slot_offset (l, e, need, &off) == -1 || off > l->io->size)
    problem (c, "block %" PRIu64 " (slot %" PRIu32 ") ends beyond the end "
             "of the file (size %" PRIu64 ")", i, e, l->io->size);
}

static void
check_map (struct check_state *c, const struct vdi_header *h)
{
  struct vdi_layer *l = c->l;
  const uint64_t chunk = 16384;
  uint64_t i, in_use = 0, next = 0;
  uint8_t *used = calloc (xd_div_round_up (h->blocks, 8), 1);
  uint8_t *buf = malloc (chunk * 4);

  if (used == NULL || buf == NULL) {
    problem (c, "out of memory for the block map");
    goto out;
  }
  for (i = 0; i < h->blocks; i += chunk) {
    uint64_t j, n = xd_min_u64 (chunk, h->blocks - i);
    if (xd_io_read (l->io, buf, n * 4, h->blocks_offset + i * 4,
                    "VDI block map") == -1) {
      problem (c, "the block map cannot be read");
      goto out;
    }
    for (j = 0; j < n; j++) {
      uint32_t e = xd_le32 (buf + j * 4);
      if (is_allocated (e))
        check_entry (c, h, used, i + j, e, &in_use, &next);
    }
  }
  if (h->blocks_allocated < next)
    problem (c, "cBlocksAllocated is %" PRIu32 " but slot %" PRIu64 " is "
             "in use: VirtualBox and qemu would put a new block over it",
             h->blocks_allocated, next - 1);
  else if (h->blocks_allocated != in_use)
    xd_debug ("%s: VDI check: cBlocksAllocated is %" PRIu32 ", %" PRIu64
              " blocks are in use: %" PRIu64 " leaked", l->io->name,
              h->blocks_allocated, in_use, h->blocks_allocated - in_use);
 out:
  free (used);
  free (buf);
}

int
vdi_check (void *h)
{
  struct vdi_layer *l = h;
  struct check_state c = { .l = l };
  struct vdi_header hd;

  if (vdi_read_header (l->io, &hd) == -1)
    return -1;
  xd_check_init (&c.c, l->io->name, "VDI check");
  check_header (&c, &hd);
  check_map (&c, &hd);
  return xd_check_end (&c.c);
}
