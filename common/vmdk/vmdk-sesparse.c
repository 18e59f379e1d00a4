/* xdisk: VMDK seSparse extents (ESXi 6.5+ snapshots on VMFS6).
 *
 * There is no published specification.  The layout (as ESXi writes it
 * and qemu reads it since 4.1): sector 0 is the constant header, all
 * little-endian 64-bit fields; it gives the place and size (in sectors)
 * of the volatile header, the journal, the grain directory, the grain
 * tables, the free bitmap, the back map and the grains.  Grain directory
 * entries are 0 (no grain table) or 0x10000000'xxxxxxxx, the index of a
 * 64-sector grain table in the grain tables area.  A grain table entry's
 * top nibble is its type: 0 unallocated (the whole entry 0), 1 unmapped
 * by the guest (SCSI UNMAP) and 2 zeroed, both reading as zeros, and 3
 * allocated, whose other 60 bits hold a grain index in the grains area,
 * with its low 12 bits stored in bits 48..59 and the rest in bits 0..47.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk/vmdk.h"
#include "include/xd-bytes.h"
#include "include/xd-iszero.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define bad(fmt, ...)                                           \
  do {                                                          \
    xd_error ("%s: seSparse " fmt, io->name, ##__VA_ARGS__);    \
    errno = EIO;                                                \
    return -1;                                                  \
  } while (0)

#define GD_ALLOCATED UINT64_C (0x10000000)      /* top half of a GD entry */
#define GTE_TYPE_SHIFT 60
#define GTE_UNALLOCATED 0
#define GTE_UNMAPPED 1
#define GTE_ZERO 2
#define GTE_ALLOCATED 3

/* An area of the file named by the constant header, in sectors. */
struct area {
  const char *what;
  uint64_t off, len;
};

/* The fields qemu and ESXi agree on: anything else is a variant
 * nobody has seen, refused rather than guessed at.
 */
static int
check_constants (struct xd_io *io, const unsigned char *h)
{
  uint64_t v;
  unsigned i;

  if (xd_le64 (h) != VMDK_MAGIC_SESPARSE)
    bad ("constant header magic 0x%016" PRIx64 " is wrong (expected "
         "0x%016" PRIx64 ")", xd_le64 (h), (uint64_t) VMDK_MAGIC_SESPARSE);
  if (xd_le64 (h + 8) != VMDK_SESPARSE_VERSION)
    bad ("version 0x%016" PRIx64 " is not supported (only 0x%016" PRIx64 ")",
         xd_le64 (h + 8), VMDK_SESPARSE_VERSION);
  if (xd_le64 (h + 24) != VMDK_SESPARSE_GRAIN_SECTORS)
    bad ("grain size %" PRIu64 " sectors is not supported (only %d)",
         xd_le64 (h + 24), VMDK_SESPARSE_GRAIN_SECTORS);
  if (xd_le64 (h + 32) != VMDK_SESPARSE_GT_SECTORS)
    bad ("grain table size %" PRIu64 " sectors is not supported (only %d)",
         xd_le64 (h + 32), VMDK_SESPARSE_GT_SECTORS);
  if (xd_le64 (h + 40) != 0)
    bad ("flags 0x%016" PRIx64 " are not supported", xd_le64 (h + 40));
  for (i = 0; i < 4; i++) {
    v = xd_le64 (h + 48 + i * 8);
    if (v != 0)
      bad ("reserved field %u is 0x%016" PRIx64 ", not 0", i + 1, v);
  }
  if (!xd_is_zero (h + 208, VMDK_SECTOR - 208))
    bad ("constant header padding is not zero");
  return 0;
}

/* Each area used for reading: after the constant header, with an end
 * that can be multiplied out to bytes, and apart from the others.
 */
static int
check_areas (struct xd_io *io, const struct area *a, size_t n)
{
  size_t i, j;

  for (i = 0; i < n; i++) {
    if (a[i].off == 0)
      bad ("%s at sector 0 overlaps the constant header", a[i].what);
    if (a[i].len > INT64_MAX / VMDK_SECTOR ||
        a[i].off > INT64_MAX / VMDK_SECTOR - a[i].len)
      bad ("%s (sector %" PRIu64 ", %" PRIu64 " sectors) is absurd",
           a[i].what, a[i].off, a[i].len);
  }
  for (i = 0; i < n; i++)
    for (j = i + 1; j < n; j++)
      if (a[i].len && a[j].len && a[i].off < a[j].off + a[j].len &&
          a[j].off < a[i].off + a[i].len)
        bad ("%s (sector %" PRIu64 ", %" PRIu64 " sectors) overlaps the %s "
             "(sector %" PRIu64 ", %" PRIu64 " sectors)", a[i].what,
             a[i].off, a[i].len, a[j].what, a[j].off, a[j].len);
  return 0;
}

static int
read_volatile (struct xd_io *io, uint64_t sector)
{
  unsigned char v[VMDK_SECTOR];

  if (!xd_io_contains (io, sector * VMDK_SECTOR, VMDK_SECTOR))
    bad ("volatile header at sector %" PRIu64 " is beyond the end of the "
         "file (size %" PRIu64 ")", sector, io->size);
  if (xd_io_read (io, v, sizeof v, sector * VMDK_SECTOR,
                  "seSparse volatile header") == -1)
    return -1;
  if (xd_le64 (v) != VMDK_MAGIC_SESPARSE_VOLATILE)
    bad ("volatile header magic 0x%016" PRIx64 " is wrong (expected "
         "0x%016" PRIx64 ")", xd_le64 (v),
         (uint64_t) VMDK_MAGIC_SESPARSE_VOLATILE);
  if (xd_le64 (v + 24) != 0)
    bad ("volatile header replayJournal is %" PRIu64 ": the journal was "
         "not replayed (the snapshot was not closed cleanly; let ESXi open "
         "it first)", xd_le64 (v + 24));
  if (!xd_is_zero (v + 32, VMDK_SECTOR - 32))
    bad ("volatile header padding is not zero");
  return 0;
}

int
vmdk_parse_sesparse (struct xd_io *io, const unsigned char *h,
                     struct vmdk_sparse *sp)
{
  struct area a[4] = {
    { "volatile header", xd_le64 (h + 80), xd_le64 (h + 88) },
    { "grain directory", xd_le64 (h + 128), xd_le64 (h + 136) },
    { "grain tables area", xd_le64 (h + 144), xd_le64 (h + 152) },
    { "grains area", xd_le64 (h + 192), xd_le64 (h + 200) },
  };
  uint64_t bytes;

  memset (sp, 0, sizeof *sp);
  sp->sesparse = true;
  if (check_constants (io, h) == -1 || check_areas (io, a, 4) == -1)
    return -1;
  sp->capacity = xd_le64 (h + 16);
  sp->grain_sectors = VMDK_SESPARSE_GRAIN_SECTORS;
  sp->gtes_per_gt = VMDK_SESPARSE_GTES_PER_GT;
  if (xd_mul_overflow (sp->capacity, VMDK_SECTOR, &bytes) ||
      bytes > INT64_MAX)
    bad ("capacity %" PRIu64 " sectors overflows", sp->capacity);
  sp->nr_grains = xd_div_round_up (sp->capacity, sp->grain_sectors);
  sp->nr_gd_entries = xd_div_round_up (sp->nr_grains, sp->gtes_per_gt);
  if (a[0].len == 0)
    bad ("volatile header size is 0");
  if (a[1].len * (VMDK_SECTOR / 8) < sp->nr_gd_entries)
    bad ("grain directory of %" PRIu64 " sectors is too small for capacity "
         "%" PRIu64 " sectors (needs %" PRIu64 " entries)",
         a[1].len, sp->capacity, sp->nr_gd_entries);
  if (!xd_io_contains (io, a[1].off * VMDK_SECTOR, sp->nr_gd_entries * 8))
    bad ("grain directory at sector %" PRIu64 " (%" PRIu64 " entries) is "
         "beyond the end of the file (size %" PRIu64 ")",
         a[1].off, sp->nr_gd_entries, io->size);
  sp->gd_offset = a[1].off;
  sp->gt_offset = a[2].off;
  sp->nr_gts = a[2].len / VMDK_SESPARSE_GT_SECTORS;
  sp->grains_offset = a[3].off;
  sp->nr_slots = a[3].len / VMDK_SESPARSE_GRAIN_SECTORS;
  return read_volatile (io, a[0].off);
}

/* Decode and check grain directory entry I. */
static int
gd_entry (struct xd_io *io, const struct vmdk_sparse *sp, uint64_t i,
          uint64_t v, uint32_t *out)
{
  uint64_t idx = v & UINT32_MAX, gt_sector;

  *out = 0;
  if (v == 0)
    return 0;
  if (v >> 32 != GD_ALLOCATED)
    bad ("grain directory entry %" PRIu64 " is 0x%016" PRIx64 ": not a grain "
         "table (the top half must be 0x%08" PRIx64 ")", i, v, GD_ALLOCATED);
  if (idx >= sp->nr_gts || idx >= UINT32_MAX)
    bad ("grain directory entry %" PRIu64 " names grain table %" PRIu64
         ", outside the grain tables area (%" PRIu64 " tables)",
         i, idx, sp->nr_gts);
  /* The area's end fits in 2^63 bytes (check_areas). */
  gt_sector = sp->gt_offset + idx * VMDK_SESPARSE_GT_SECTORS;
  if (!xd_io_contains (io, gt_sector * VMDK_SECTOR,
                       VMDK_SESPARSE_GT_SECTORS * VMDK_SECTOR))
    bad ("grain table %" PRIu64 " (grain directory entry %" PRIu64 ") at "
         "sector %" PRIu64 " is beyond the end of the file (size %" PRIu64
         ")", idx, i, gt_sector, io->size);
  *out = idx + 1;
  return 0;
}

int
vmdk_load_se_gd (struct xd_io *io, const struct vmdk_sparse *sp,
                 uint32_t **gdp)
{
  uint64_t n = sp->nr_gd_entries, i;
  unsigned char *raw;
  uint32_t *gd;

  /* vmdk_parse_sesparse checked the n entries lie in the file. */
  raw = malloc (n ? n * 8 : 1);
  gd = calloc (n ? n : 1, sizeof *gd);
  if (raw == NULL || gd == NULL) {
    xd_error ("%s: cannot allocate the seSparse grain directory: %m",
              io->name);
    goto fail;
  }
  if (xd_io_read (io, raw, n * 8, sp->gd_offset * VMDK_SECTOR,
                  "seSparse grain directory") == -1)
    goto fail;
  for (i = 0; i < n; i++)
    if (gd_entry (io, sp, i, xd_le64 (raw + i * 8), &gd[i]) == -1)
      goto fail;
  free (raw);
  *gdp = gd;
  return 0;

 fail:
  free (raw);
  free (gd);
  return -1;
}

/* The grain of an allocated entry: its slot in the grains area, where it
 * must lie in the file (the last grain of a capacity that is not a
 * whole number of grains only as far as the capacity).
 */
static int
allocated_grain (struct xd_io *io, const struct vmdk_sparse *sp,
                 uint64_t grain, uint64_t gte, uint64_t *sector)
{
  uint64_t slot = ((gte >> 48) & 0xfff) | ((gte & UINT64_C (0xffffffffffff))
                                           << 12);
  uint64_t bytes = sp->grain_sectors * VMDK_SECTOR;
  uint64_t tail = sp->capacity * VMDK_SECTOR - grain * bytes;

  if (slot >= sp->nr_slots)
    bad ("grain %" PRIu64 " (entry 0x%016" PRIx64 ") is grain %" PRIu64
         " of the grains area, which holds %" PRIu64, grain, gte, slot,
         sp->nr_slots);
  /* The area's end fits in 2^63 bytes (check_areas). */
  *sector = sp->grains_offset + slot * sp->grain_sectors;
  if (!xd_io_contains (io, *sector * VMDK_SECTOR, xd_min_u64 (bytes, tail)))
    bad ("grain %" PRIu64 " at sector %" PRIu64 " is beyond the end of the "
         "file (size %" PRIu64 ")", grain, *sector, io->size);
  return 0;
}

int
vmdk_se_decode_gte (struct xd_io *io, const struct vmdk_sparse *sp,
                    uint64_t grain, uint64_t gte,
                    enum vmdk_grain_state *st, uint64_t *sector)
{
  *st = VMDK_GRAIN_UNALLOCATED;
  switch (gte >> GTE_TYPE_SHIFT) {
  case GTE_UNALLOCATED:
    if (gte != 0)
      bad ("grain table entry of grain %" PRIu64 " is 0x%016" PRIx64 ": "
           "unallocated, but with other bits set", grain, gte);
    return 0;
  case GTE_UNMAPPED:
  case GTE_ZERO:
    /* As qemu does, the low bits of these are not looked at. */
    *st = VMDK_GRAIN_ZERO;
    return 0;
  case GTE_ALLOCATED:
    if (allocated_grain (io, sp, grain, gte, sector) == -1)
      return -1;
    *st = VMDK_GRAIN_DATA;
    return 0;
  default:
    bad ("grain table entry of grain %" PRIu64 " is 0x%016" PRIx64 ": "
         "unknown type %" PRIu64, grain, gte, gte >> GTE_TYPE_SHIFT);
  }
}
