/* xdisk vhdx: writing into VHD images (fixed, dynamic, differencing).
 *
 * Fixed: the disk is the file, less its footer: writes go straight
 * through.
 *
 * Dynamic and differencing: a block not yet present is allocated at the
 * end of the file, where the footer is, so that a crash can never leave
 * a BAT entry pointing at garbage nor a file without a footer at its
 * end:
 *   1. reserve: the footer is written further on, up to
 *      VHD_RESERVE_BLOCKS blocks past the last one, and flushed (the old footer stays valid
 *      where it was until then; the space between is a hole);
 *   2. the new block's sector bitmap (over the old footer, if it was
 *      there) and its data are written into the reserved space, and the
 *      cached BAT page is made to point at it (pinned, so that reads see
 *      it), but the BAT entry waits in h->pending;
 *   3. commit (at every flush, when VHD_MAX_PENDING blocks wait, at the
 *      end): flush, then write the waiting BAT entries; they are durable
 *      at the flush that ends the commit or the next one.
 * So a BAT entry is never durable before its block (tests/mutants.txt
 * breaks each of these steps in turn: test-vhd-write's power-loss cases
 * must catch every one).  A crash leaves, at
 * worst, blocks whose BAT entries were not written (their writes were
 * not flushed, so may be lost) and the reserved space: unused space
 * before the footer, which VHD allows.  When the last client goes (and
 * at close) the footer is moved back to the end of the last block and
 * the file cut there (footer first, flush, then truncate).
 *
 * Sector bitmaps: a new block of a dynamic disk has every bit set
 * (readers ignore them there).  In a differencing disk a bit says the
 * child holds the sector: a write sets the bits of the sectors it
 * covers once their data is durable (data, flush, bitmap), and a sector
 * it covers only in part first gets its other bytes from what the disk
 * shows there (the parent's).
 *
 * Zero: an absent block of a dynamic disk already reads as zeros; a
 * present one gets its range punched (or zeroed).  A differencing disk
 * writes zeros (it must hide the parent).  Trim: a dynamic disk drops
 * whole present blocks by setting their BAT entries back to unused and
 * punching the space (VHD cannot give the space back: it stays in the
 * file, reading as zeros); parts of blocks are zeroed.  A differencing
 * disk ignores trims (deallocating would expose the parent) and a fixed
 * disk punches holes.
 *
 * Allocation (new blocks, bitmap bits, BAT entries) takes the handle's
 * lock; writes into sectors already present do not.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhd-write.h"
#include "include/xd-bytes.h"
#include "include/xd-iszero.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

static struct vd_layer *
top_of (void *h)
{
  return ((struct vhd_handle *) h)->disk->top;
}

/* ---- opening ---- */

/* The end of the metadata of a dynamic or differencing VHD: the footer
 * copy, the dynamic header, the BAT and the parent locators' data.  New
 * blocks go after it.
 */
static uint64_t
metadata_end (const struct vd_layer *l)
{
  uint64_t end, e;
  size_t i;

  end = xd_max_u64 (VHD_FOOTER_SIZE,
                    l->footer.data_offset + VHD_DYN_HEADER_SIZE);
  end = xd_max_u64 (end, l->bat_offset + l->bat_entries * 4);
  for (i = 0; l->diff && i < VHD_NR_LOCATORS; i++) {
    const struct vhd_locator *loc = &l->dyn.locators[i];
    if (loc->code[0] == '\0' || loc->data_length == 0)
      continue;
    if (!xd_add_overflow (loc->data_offset, loc->data_length, &e) &&
        e <= l->io->size)
      end = xd_max_u64 (end, e);
  }
  return end;
}

/* Why the opened image cannot be written, or NULL. */
static const char *
readonly_reason (struct vhd_handle *h, const struct xd_open_opts *opts)
{
  struct vd_layer *l = top_of (h);

  if (!opts->writable || !xd_io_writable (l->io))
    return "the file is opened read-only";
  if (l->kind == VD_VHDX)
    return "a VHDX image opened as a VHD";
  if (l->data_end + VHD_FOOTER_SIZE != l->io->size)
    return "the VHD footer at the end of the file is damaged or short "
      "(511 bytes): rewriting the file's end is not safe";
  if (l->kind == VD_VHD_FIXED && l->size > l->data_end)
    return "the fixed VHD's size (from its CHS geometry) is larger than "
      "the data in the file";
  return NULL;
}

static int
init_writer (struct vhd_handle *h)
{
  struct vd_layer *l = top_of (h);
  uint64_t end;

  if (xd_io_read (l->io, h->footer, VHD_FOOTER_SIZE, l->data_end,
                  "VHD footer") == -1)
    return -1;
  if (l->kind == VD_VHD_FIXED)
    return 0;
  h->meta_end = metadata_end (l);
  end = xd_max_u64 (l->data_end, h->meta_end);
  if (xd_round_up_overflow (end, 512, &h->alloc_end)) {
    xd_error ("%s: VHD footer offset %" PRIu64 " is out of range",
              l->io->name, end);
    errno = EIO;
    return -1;
  }
  return 0;
}

void *
vhd_w_open (struct xd_io *io, const struct xd_resolver *res,
            const struct xd_open_opts *opts)
{
  struct vhd_handle *h = calloc (1, sizeof *h);

  if (h == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  pthread_mutex_init (&h->lock, NULL);
  h->disk = vd_disk_open (io, res, opts);
  if (h->disk == NULL) {
    vhd_w_close (h);
    return NULL;
  }
  h->readonly_why = readonly_reason (h, opts);
  if (h->readonly_why == NULL && init_writer (h) == -1) {
    h->readonly_why = "the image could not be opened for writing";
    vhd_w_close (h);
    return NULL;
  }
  return h;
}

static int settle (struct vhd_handle *h);

void
vhd_w_close (void *hv)
{
  struct vhd_handle *h = hv;

  if (h == NULL)
    return;
  if (h->disk) {
    struct vd_layer *l = h->disk->top;
    settle (h);
    while (h->npending)         /* a failed commit: drop the pins */
      xd_cache_unpin (l->bat_cache, h->pending[--h->npending].page);
  }
  vd_disk_close (h->disk);
  pthread_mutex_destroy (&h->lock);
  free (h);
}

/* ---- the read side, through the handle ---- */

uint64_t
vhd_w_size (void *h)
{
  return top_of (h)->size;
}

uint32_t
vhd_w_preferred_block (void *h)
{
  return top_of (h)->block_size;
}

int
vhd_w_pread (void *h, void *buf, uint32_t count, uint64_t off)
{
  return vd_disk_read (((struct vhd_handle *) h)->disk, buf, count, off);
}

int
vhd_w_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
               xd_extent_fn add, void *opaque)
{
  return vd_disk_extents (((struct vhd_handle *) h)->disk, count, offset,
                          req_one, add, opaque);
}

char *
vhd_w_describe (void *h)
{
  return vd_disk_describe (((struct vhd_handle *) h)->disk);
}

bool
vhd_w_can_write (void *hv, const char **why)
{
  struct vhd_handle *h = hv;

  *why = h->readonly_why;
  return h->readonly_why == NULL;
}

/* ---- writing ---- */

/* Write N bytes of BUF (NULL: zeros) at file offset OFF. */
static int
put (struct vd_layer *l, const uint8_t *buf, uint64_t n, uint64_t off)
{
  if (buf == NULL)
    return xd_io_zero (l->io, off, n, "data block");
  return xd_io_write (l->io, buf, n, off, "data block");
}

/* BASE: where the present block BLOCK (BAT entry ENTRY) starts, after
 * checking that it lies between the metadata and the footer: a corrupt
 * BAT must not make us write over the image's own structures.
 */
static int
block_base (struct vhd_handle *h, struct vd_layer *l, uint64_t block,
            uint64_t entry, uint64_t *base)
{
  uint64_t b = entry * 512, end;

  if (b < h->meta_end ||
      xd_add_overflow (b, l->bitmap_bytes + (uint64_t) l->block_size, &end)
      || end > l->data_end) {
    xd_error ("%s: BAT entry for block %" PRIu64 " (file offset %" PRIu64
              ") is not between the metadata (ending at %" PRIu64 ") and "
              "the footer (at %" PRIu64 "): not writing there",
              l->io->name, block, b, h->meta_end, l->data_end);
    errno = EIO;
    return -1;
  }
  *base = b;
  return 0;
}

/* VHD sector bitmaps number bits from the top of each byte. */
static inline unsigned
bit_mask (uint64_t sector)
{
  return 0x80u >> (sector % 8);
}

/* Walk the bits of sectors [FIRST, FIRST+N) of the block at BASE, a
 * piece of the bitmap at a time.  SET: set them all (and write the
 * bitmap back); else find whether they are all set (*ALL).
 */
static int
walk_bits (struct vd_layer *l, uint64_t base, uint64_t first, uint64_t n,
           bool set, bool *all)
{
  uint8_t bits[512];
  uint64_t s = first, end = first + n;

  *all = true;
  while (s < end) {
    uint64_t byte0 = s / 8;
    uint64_t nb = xd_min_u64 ((end + 7) / 8 - byte0, sizeof bits);
    uint64_t stop = xd_min_u64 (end, (byte0 + nb) * 8);
    if (xd_io_read (l->io, bits, nb, base + byte0, "sector bitmap") == -1)
      return -1;
    for (; s < stop; s++) {
      if (set)
        bits[s / 8 - byte0] |= bit_mask (s);
      else if (!(bits[s / 8 - byte0] & bit_mask (s))) {
        *all = false;
        return 0;
      }
    }
    if (set &&
        xd_io_write (l->io, bits, nb, base + byte0, "sector bitmap") == -1)
      return -1;
  }
  return 0;
}

/* Are the bits of sectors [FIRST, FIRST+N) of the block at BASE all set? */
static int
bits_all_set (struct vd_layer *l, uint64_t base, uint64_t first, uint64_t n,
              bool *all)
{
  return walk_bits (l, base, first, n, false, all);
}

/* Set the bits of sectors [FIRST, FIRST+N) of the block at BASE. */
static int
set_bits (struct vd_layer *l, uint64_t base, uint64_t first, uint64_t n)
{
  bool all;

  return walk_bits (l, base, first, n, true, &all);
}

/* Write part of sector S of a differencing block whose data starts at
 * DATA in the file, the sector not being present yet: its other bytes
 * are what the disk shows now (the parent's).  DISK_S is the sector's
 * offset on the disk; [AT, AT+N) the part written from SRC (NULL:
 * zeros).
 */
static int
merge_sector (struct vhd_handle *h, struct vd_layer *l, uint64_t data,
              uint64_t s, uint64_t disk_s, unsigned at, unsigned n,
              const uint8_t *src)
{
  uint8_t sec[512];

  if (vd_disk_read (h->disk, sec, sizeof sec, disk_s) == -1)
    return -1;
  if (src)
    memcpy (sec + at, src, n);
  else
    memset (sec + at, 0, n);
  return xd_io_write (l->io, sec, sizeof sec, data + s * 512,
                      "data block");
}

/* Write [IN, IN+N) of a block whose data starts at DATA in the file
 * (OFF: the disk offset of IN) from BUF (NULL: zeros).  HEAD_SET and
 * TAIL_SET: the first and last sectors touched are present already (or
 * the layer has no parent), so a partial write of them goes straight
 * in; else they are merged with what the disk shows.  FRESH: the data
 * area is new and reads as zeros, so zeros need no writing.
 */
struct piece {
  uint64_t data, in, n, off;
  const uint8_t *buf;
  bool head_set, tail_set, fresh;
};

static int
put_piece (struct vd_layer *l, const struct piece *p, uint64_t from,
           uint64_t to)
{
  if (to <= from || (p->buf == NULL && p->fresh))
    return 0;
  return put (l, p->buf ? p->buf + (from - p->in) : NULL, to - from,
              p->data + from);
}

static int
write_piece (struct vhd_handle *h, struct vd_layer *l, const struct piece *p)
{
  uint64_t end = p->in + p->n, hs = p->in / 512, ts = (end - 1) / 512;
  uint64_t disk0 = p->off - p->in;      /* disk offset of the block */
  uint64_t mid0 = p->in, mid1 = end;
  const uint8_t *b = p->buf;

  if (p->in % 512 && !p->head_set) {
    uint64_t stop = xd_min_u64 (end, (hs + 1) * 512);
    if (merge_sector (h, l, p->data, hs, disk0 + hs * 512, p->in % 512,
                      stop - p->in, b) == -1)
      return -1;
    mid0 = stop;
  }
  if (end % 512 && !p->tail_set && mid0 < end) {
    uint64_t start = xd_max_u64 (mid0, ts * 512);
    if (merge_sector (h, l, p->data, ts, disk0 + ts * 512, start % 512,
                      end - start, b ? b + (start - p->in) : NULL) == -1)
      return -1;
    mid1 = start;
  }
  return put_piece (l, p, mid0, mid1);
}

/* Step 1 of the head comment: make room for a block of SPAN bytes at
 * h->alloc_end.  Under the lock.
 */
static int
reserve (struct vhd_handle *h, struct vd_layer *l, uint64_t span)
{
  uint64_t limit = (uint64_t) (VHD_BAT_UNUSED - 1) * 512, n, end;
  uint64_t old_size = l->io->size;

  if (h->alloc_end + span <= l->data_end)
    return 0;
  if (h->alloc_end > limit) {
    xd_error ("%s: no room for another block: VHD block offsets are "
              "32-bit sector numbers, so the file cannot grow past 2 TiB",
              l->io->name);
    errno = EFBIG;
    return -1;
  }
  /* A quarter of the blocks already there (a small image stays
   * small), at most VHD_RESERVE_BLOCKS, within the 2 TiB limit.
   */
  n = xd_min_u64 (VHD_RESERVE_BLOCKS,
                  (h->alloc_end - xd_min_u64 (h->alloc_end, h->meta_end)) /
                  span / 4);
  for (n = n ? n : 1; n > 1; n /= 2)
    if (h->alloc_end + (n - 1) * span <= limit)
      break;
  for (;;) {
    int r;
    end = h->alloc_end + n * span;
    /* A file size limit may allow one block, not the reserve. */
    if (n > 1)
      xd_error_hold ();
    r = xd_io_write (l->io, h->footer, VHD_FOOTER_SIZE, end,
                     "VHD footer") == -1 || xd_io_flush (l->io) == -1
      ? -1 : 0;
    if (n > 1)
      xd_error_release (false);
    if (r == 0)
      break;
    /* A footer written in part would hide the old one: cut it off. */
    xd_error_hold ();
    xd_io_truncate (l->io, old_size, "VHD footer");
    xd_error_release (false);
    if (n == 1)
      return -1;
    n = 1;
  }
  l->data_end = end;
  return 0;
}

static bool
is_pending (struct vhd_handle *h, uint64_t block)
{
  size_t i;

  for (i = 0; i < h->npending; i++)
    if (h->pending[i].block == block)
      return true;
  return false;
}

/* Step 3: flush, then write the waiting BAT entries.  Under the lock. */
static int
commit (struct vhd_handle *h, struct vd_layer *l)
{
  size_t i, done = 0;
  int r = 0;

  if (h->npending == 0)
    return 0;
  if (xd_io_flush (l->io) == -1)
    return -1;
  for (i = 0; i < h->npending; i++) {
    struct vhd_pending *pe = &h->pending[i];
    uint8_t entry[4];
    xd_put_be32 (entry, pe->sector);
    if (xd_io_write (l->io, entry, 4, l->bat_offset + pe->block * 4,
                     "BAT entry") == -1) {
      r = -1;
      break;
    }
    xd_cache_unpin (l->bat_cache, pe->page);
    done++;
  }
  memmove (h->pending, h->pending + done,
           (h->npending - done) * sizeof h->pending[0]);
  h->npending -= done;
  return r;
}

/* Move the footer back to the end of the last block and cut the file
 * there.  Under the lock, after a commit.
 */
static int
give_back_reserve (struct vhd_handle *h, struct vd_layer *l)
{
  if (l->data_end <= h->alloc_end)
    return 0;
  if (xd_io_write (l->io, h->footer, VHD_FOOTER_SIZE, h->alloc_end,
                   "VHD footer") == -1 ||
      xd_io_flush (l->io) == -1 ||
      xd_io_truncate (l->io, h->alloc_end + VHD_FOOTER_SIZE,
                      "VHD footer") == -1)
    return -1;
  l->data_end = h->alloc_end;
  return 0;
}

/* Step 2: allocate block BLOCK of L and write the piece P into it.
 * Under the lock.
 */
static int
allocate_block (struct vhd_handle *h, struct vd_layer *l, uint64_t block,
                struct piece *p)
{
  uint64_t span = l->bitmap_bytes + (uint64_t) l->block_size, base;
  uint64_t s0 = p->in / 512, ns = (p->in % 512 + p->n + 511) / 512;
  struct vhd_pending *pe;
  uint8_t *bitmap;
  int r = -1;

  if ((h->npending == VHD_MAX_PENDING && commit (h, l) == -1) ||
      reserve (h, l, span) == -1)
    return -1;
  /* The space is used from now on, whatever happens next. */
  base = h->alloc_end;
  h->alloc_end += span;

  bitmap = calloc (1, l->bitmap_bytes);
  if (bitmap == NULL) {
    xd_error ("%s: calloc: %m", l->io->name);
    return -1;
  }
  if (l->diff) {
    uint64_t s;
    for (s = s0; s < s0 + ns; s++)
      bitmap[s / 8] |= bit_mask (s);
  }
  else
    memset (bitmap, 0xff, l->bitmap_bytes);
  p->data = base + l->bitmap_bytes;
  p->fresh = true;
  if (xd_io_write (l->io, bitmap, l->bitmap_bytes, base,
                   "sector bitmap") == -1 ||
      write_piece (h, l, p) == -1)
    goto out;
  pe = &h->pending[h->npending];
  pe->block = block;
  pe->sector = (uint32_t) (base / 512);
  if (vd_layer_bat_set_cached (l, block, pe->sector, &pe->page) == -1)
    goto out;
  h->npending++;
  r = 0;
 out:
  free (bitmap);
  return r;
}

/* Write the piece P into the present block at BASE of the differencing
 * layer L, some of whose sectors are not present yet.  Under the lock.
 */
static int
update_diff_block (struct vhd_handle *h, struct vd_layer *l, uint64_t base,
                   struct piece *p)
{
  uint64_t s0 = p->in / 512, s1 = (p->in + p->n - 1) / 512;

  if (bits_all_set (l, base, s0, 1, &p->head_set) == -1 ||
      bits_all_set (l, base, s1, 1, &p->tail_set) == -1)
    return -1;
  p->data = base + l->bitmap_bytes;
  p->fresh = false;
  if (write_piece (h, l, p) == -1)
    return -1;
  /* The data before the bits, unless the whole block is still new. */
  if (!is_pending (h, p->off / l->block_size) && xd_io_flush (l->io) == -1)
    return -1;
  return set_bits (l, base, s0, s1 - s0 + 1);
}

static int
write_block_locked (struct vhd_handle *h, struct vd_layer *l, uint64_t block,
                    struct piece *p)
{
  uint64_t entry, base;
  bool all;

  if (vd_layer_bat_entry (l, block, &entry) == -1)
    return -1;
  if (entry == VHD_BAT_UNUSED) {
    if (p->buf == NULL && !l->diff)
      return 0;                 /* zeros already */
    return allocate_block (h, l, block, p);
  }
  if (block_base (h, l, block, entry, &base) == -1)
    return -1;
  if (l->diff) {
    uint64_t s0 = p->in / 512;
    if (bits_all_set (l, base, s0, (p->in % 512 + p->n + 511) / 512,
                      &all) == -1)
      return -1;
    if (!all)
      return update_diff_block (h, l, base, p);
  }
  return put (l, p->buf, p->n, base + l->bitmap_bytes + p->in);
}

/* Write N bytes of BUF (NULL: zeros) at disk offset OFF, all inside one
 * block of the dynamic or differencing layer L.
 */
static int
write_block (struct vhd_handle *h, struct vd_layer *l, const uint8_t *buf,
             uint64_t n, uint64_t off)
{
  uint64_t block = off / l->block_size, entry, base;
  struct piece p = { .in = off % l->block_size, .n = n, .off = off,
                     .buf = buf, .head_set = !l->diff,
                     .tail_set = !l->diff };
  bool all = true;
  int r;

  /* A block and the sectors written present already: no lock. */
  if (vd_layer_bat_entry (l, block, &entry) == -1)
    return -1;
  if (entry != VHD_BAT_UNUSED) {
    if (block_base (h, l, block, entry, &base) == -1)
      return -1;
    if (l->diff &&
        bits_all_set (l, base, p.in / 512, (p.in % 512 + n + 511) / 512,
                      &all) == -1)
      return -1;
    if (all)
      return put (l, buf, n, base + l->bitmap_bytes + p.in);
  }
  else if (!l->diff && (buf == NULL || xd_is_zero (buf, n)))
    return 0;                   /* an absent block reads as zeros */

  pthread_mutex_lock (&h->lock);
  r = write_block_locked (h, l, block, &p);
  pthread_mutex_unlock (&h->lock);
  return r;
}

/* Split [OFF, OFF+COUNT) into pieces inside single blocks. */
static int
write_blocks (struct vhd_handle *h, const uint8_t *buf, uint64_t count,
              uint64_t off)
{
  struct vd_layer *l = h->disk->top;

  while (count > 0) {
    uint64_t n = xd_min_u64 (count, l->block_size - off % l->block_size);
    if (write_block (h, l, buf, n, off) == -1)
      return -1;
    if (buf)
      buf += n;
    off += n;
    count -= n;
  }
  return 0;
}

int
vhd_w_pwrite (void *hv, const void *buf, uint32_t count, uint64_t off)
{
  struct vhd_handle *h = hv;
  struct vd_layer *l = h->disk->top;

  if (l->kind == VD_VHD_FIXED)
    return xd_io_write (l->io, buf, count, off, "data");
  return write_blocks (h, buf, count, off);
}

/* BLOCK is no longer new: forget its waiting BAT entry. */
static void
drop_pending (struct vhd_handle *h, struct vd_layer *l, uint64_t block)
{
  size_t i;

  for (i = 0; i < h->npending; i++)
    if (h->pending[i].block == block) {
      xd_cache_unpin (l->bat_cache, h->pending[i].page);
      h->pending[i] = h->pending[--h->npending];
      return;
    }
}

/* Drop the present block BLOCK of a dynamic layer: BAT entry unused,
 * then its space punched (it reads as zeros in either order, so a crash
 * leaves a block of zeros at worst).
 */
static int
trim_block (struct vhd_handle *h, struct vd_layer *l, uint64_t block)
{
  uint64_t entry, base = 0;
  uint8_t unused[4];
  int r = -1;

  pthread_mutex_lock (&h->lock);
  if (vd_layer_bat_entry (l, block, &entry) == -1)
    goto out;
  r = 0;
  if (entry == VHD_BAT_UNUSED)
    goto out;
  r = -1;
  if (block_base (h, l, block, entry, &base) == -1)
    goto out;
  xd_put_be32 (unused, VHD_BAT_UNUSED);
  if (xd_io_write (l->io, unused, 4, l->bat_offset + block * 4,
                   "BAT entry") == -1 ||
      vd_layer_bat_set_cached (l, block, VHD_BAT_UNUSED, NULL) == -1)
    goto out;
  drop_pending (h, l, block);
  r = 0;
  /* Give the space back to the file system where it can. */
  if (l->io->ops->punch)
    l->io->ops->punch (l->io, base,
                       l->bitmap_bytes + (uint64_t) l->block_size);
 out:
  pthread_mutex_unlock (&h->lock);
  return r;
}

/* Zero (TRIM false) or trim [OFF, OFF+COUNT) of a dynamic layer. */
static int
clear_dynamic (struct vhd_handle *h, uint64_t count, uint64_t off,
               bool may_trim)
{
  struct vd_layer *l = h->disk->top;

  while (count > 0) {
    uint64_t n = xd_min_u64 (count, l->block_size - off % l->block_size);
    int r;
    if (may_trim && n == l->block_size)
      r = trim_block (h, l, off / l->block_size);
    else
      r = write_block (h, l, NULL, n, off);
    if (r == -1)
      return -1;
    off += n;
    count -= n;
  }
  return 0;
}

int
vhd_w_zero (void *hv, uint32_t count, uint64_t off, bool may_trim, bool fast)
{
  struct vhd_handle *h = hv;
  struct vd_layer *l = h->disk->top;

  switch (l->kind) {
  case VD_VHD_FIXED:
    return xd_io_zero (l->io, off, count, "data");
  case VD_VHD_DYNAMIC:
    return clear_dynamic (h, count, off, may_trim);
  default:
    /* Hiding the parent means writing zeros into new blocks. */
    if (fast) {
      errno = ENOTSUP;
      return -1;
    }
    return write_blocks (h, NULL, count, off);
  }
}

/* A trim is a zero that may deallocate, except in a differencing
 * image, where it does nothing: it must never expose the parent.
 */
int
vhd_w_trim (void *hv, uint32_t count, uint64_t off)
{
  struct vhd_handle *h = hv;
  enum vd_kind kind = h->disk->top->kind;

  if (kind != VD_VHD_FIXED && kind != VD_VHD_DYNAMIC)
    return 0;
  return vhd_w_zero (hv, count, off, true, false);
}

int
vhd_w_flush (void *hv)
{
  struct vhd_handle *h = hv;
  struct vd_layer *l = h->disk->top;
  int r;

  pthread_mutex_lock (&h->lock);
  r = commit (h, l);
  pthread_mutex_unlock (&h->lock);
  return r == -1 ? -1 : xd_io_flush (l->io);
}

/* Commit, give the reserved space back, flush. */
static int
settle (struct vhd_handle *h)
{
  struct vd_layer *l = h->disk->top;
  int r;

  if (h->readonly_why || l->kind == VD_VHD_FIXED)
    return 0;
  pthread_mutex_lock (&h->lock);
  r = commit (h, l) == -1 || give_back_reserve (h, l) == -1 ? -1 : 0;
  pthread_mutex_unlock (&h->lock);
  return r == -1 ? -1 : xd_io_flush (l->io);
}

int
vhd_w_finish (void *h)
{
  return settle (h);
}
