/* xdisk: VMDK sparse extent headers (KDMV, COWD; seSparse is in
 * vmdk-sesparse.c), grain directories and streamOptimized marker walking.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk/vmdk.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define bad(fmt, ...)                                           \
  do {                                                          \
    xd_error ("%s: " fmt, io->name, ##__VA_ARGS__);             \
    errno = EIO;                                                \
    return -1;                                                  \
  } while (0)

static int
check_geometry (struct xd_io *io, struct vmdk_sparse *sp)
{
  uint64_t bytes;

  if (!xd_is_power_of_2 (sp->grain_sectors))
    bad ("grain size %" PRIu64 " sectors is not a power of 2",
         sp->grain_sectors);
  if (sp->grain_sectors > VMDK_MAX_GRAIN_SECTORS)
    bad ("grain size %" PRIu64 " sectors is larger than the limit %d",
         sp->grain_sectors, VMDK_MAX_GRAIN_SECTORS);
  if (xd_mul_overflow (sp->capacity, VMDK_SECTOR, &bytes) ||
      bytes > INT64_MAX)
    bad ("capacity %" PRIu64 " sectors overflows", sp->capacity);
  if (!xd_is_power_of_2 (sp->gtes_per_gt) ||
      sp->gtes_per_gt > VMDK_MAX_GTES_PER_GT)
    bad ("numGTEsPerGT %" PRIu32 " is not a power of 2 in 1..%d",
         sp->gtes_per_gt, VMDK_MAX_GTES_PER_GT);
  sp->nr_grains = xd_div_round_up (sp->capacity, sp->grain_sectors);
  sp->nr_gd_entries = xd_div_round_up (sp->nr_grains, sp->gtes_per_gt);
  return 0;
}

static int
parse_kdmv (struct xd_io *io, const unsigned char *h, struct vmdk_sparse *sp)
{
  memset (sp, 0, sizeof *sp);
  sp->version = xd_le32 (h + 4);
  sp->flags = xd_le32 (h + 8);
  sp->capacity = xd_le64 (h + 12);
  sp->grain_sectors = xd_le64 (h + 20);
  sp->desc_offset = xd_le64 (h + 28);
  sp->desc_size = xd_le64 (h + 36);
  sp->gtes_per_gt = xd_le32 (h + 44);
  sp->rgd_offset = xd_le64 (h + 48);
  sp->gd_offset = xd_le64 (h + 56);
  sp->overhead = xd_le64 (h + 64);
  sp->compressed = (sp->flags & VMDK_FLAG_COMPRESSED) != 0;
  sp->markers = (sp->flags & VMDK_FLAG_MARKERS) != 0;

  if (sp->version < 1 || sp->version > 3)
    bad ("sparse header version %" PRIu32 " is not supported (1..3)",
         sp->version);
  if ((sp->flags & VMDK_FLAG_NEWLINE_TEST) &&
      (h[73] != '\n' || h[74] != ' ' || h[75] != '\r' || h[76] != '\n'))
    bad ("newline detection characters are wrong: the file was corrupted "
         "by an ASCII (text mode) transfer");
  if (sp->compressed && xd_le16 (h + 77) != 1)
    bad ("compressAlgorithm %u is not supported (only deflate)",
         xd_le16 (h + 77));
  if (sp->grain_sectors == 0)
    bad ("grain size 0 is invalid");
  if (check_geometry (io, sp) == -1)
    return -1;
  /* descriptorOffset is 64 bits: a huge one must not wrap into the file. */
  if (sp->desc_offset != 0 &&
      (sp->desc_size > VMDK_MAX_DESCRIPTOR / VMDK_SECTOR ||
       sp->desc_offset > UINT64_MAX / VMDK_SECTOR ||
       !xd_io_contains (io, sp->desc_offset * VMDK_SECTOR,
                        sp->desc_size * VMDK_SECTOR)))
    bad ("embedded descriptor (offset %" PRIu64 ", %" PRIu64 " sectors) is "
         "absurd or beyond the end of the file",
         sp->desc_offset, sp->desc_size);
  return 0;
}

static int
parse_cowd (struct xd_io *io, const unsigned char *h, struct vmdk_sparse *sp)
{
  memset (sp, 0, sizeof *sp);
  sp->cowd = true;
  sp->version = xd_le32 (h + 4);
  sp->flags = xd_le32 (h + 8);
  sp->capacity = xd_le32 (h + 12);
  sp->grain_sectors = xd_le32 (h + 16);
  sp->gd_offset = xd_le32 (h + 20);
  sp->gtes_per_gt = VMDK_COWD_GTES_PER_GT;
  if (sp->version != 1)
    bad ("COWD version %" PRIu32 " is not supported", sp->version);
  if (sp->grain_sectors == 0)
    bad ("grain size 0 is invalid");
  if (check_geometry (io, sp) == -1)
    return -1;
  if (xd_le32 (h + 24) < sp->nr_gd_entries)
    bad ("numGDEntries %" PRIu32 " is too small for capacity %" PRIu64,
         xd_le32 (h + 24), sp->capacity);
  return 0;
}

/* The footer of a stream is the header copy in the second-to-last sector
 * (followed by the end-of-stream marker).
 */
static int
try_footer (struct xd_io *io, struct vmdk_sparse *sp)
{
  unsigned char f[VMDK_SECTOR];
  struct vmdk_sparse fsp;

  if (io->size < 3 * VMDK_SECTOR ||
      io->ops->pread (io, f, sizeof f, io->size - 2 * VMDK_SECTOR) == -1 ||
      xd_le32 (f) != VMDK_MAGIC_KDMV) {
    xd_debug ("%s: no stream footer found", io->name);
    return -1;
  }
  /* Take only the grain directory from the footer, and only if it
   * describes the same geometry (a damaged footer is not an error: the
   * markers are walked instead).
   */
  fsp = *sp;
  fsp.gd_offset = xd_le64 (f + 56);
  fsp.rgd_offset = xd_le64 (f + 48);
  fsp.flags = xd_le32 (f + 8);
  if (xd_le64 (f + 12) != sp->capacity ||
      xd_le64 (f + 20) != sp->grain_sectors ||
      xd_le32 (f + 44) != sp->gtes_per_gt ||
      fsp.gd_offset == VMDK_GD_AT_END || fsp.gd_offset == 0 ||
      fsp.gd_offset >= io->size / VMDK_SECTOR) {
    xd_debug ("%s: the stream footer is damaged", io->name);
    return -1;
  }
  fsp.compressed = (fsp.flags & VMDK_FLAG_COMPRESSED) != 0;
  fsp.markers = (fsp.flags & VMDK_FLAG_MARKERS) != 0;
  fsp.footer_used = true;
  *sp = fsp;
  return 0;
}

int
vmdk_read_sparse_header (struct xd_io *io, struct vmdk_sparse *sp)
{
  unsigned char h[VMDK_SECTOR];
  uint32_t magic;

  if (io->size < VMDK_SECTOR)
    bad ("file is truncated (%" PRIu64 " bytes): no sparse header",
         io->size);
  if (xd_io_read (io, h, sizeof h, 0, "sparse header") == -1)
    return -1;
  magic = xd_le32 (h);
  if (magic == VMDK_MAGIC_COWD)
    return parse_cowd (io, h, sp);
  if (magic == VMDK_MAGIC_SESPARSE)
    return vmdk_parse_sesparse (io, h, sp);
  if (magic != VMDK_MAGIC_KDMV)
    bad ("bad magic 0x%08" PRIx32 ": not a VMDK sparse extent", magic);
  if (parse_kdmv (io, h, sp) == -1)
    return -1;
  if (sp->gd_offset == VMDK_GD_AT_END && try_footer (io, sp) == -1)
    sp->gd_offset = 0;          /* the caller walks the markers */
  return 0;
}

/* Where may a grain table or directory live?  Not in the header. */
static int
check_table (struct xd_io *io, const struct vmdk_sparse *sp,
             const char *what, uint64_t idx, uint64_t sector, uint64_t bytes)
{
  uint64_t off;

  if (sector == 0)
    bad ("%s %" PRIu64 " at sector 0 overlaps the header", what, idx);
  if (xd_mul_overflow (sector, VMDK_SECTOR, &off) ||
      !xd_io_contains (io, off, bytes))
    bad ("%s %" PRIu64 " at sector %" PRIu64 " (%" PRIu64 " bytes) is "
         "beyond the end of the file (size %" PRIu64 ")",
         what, idx, sector, bytes, io->size);
  if (!sp->cowd && sp->desc_offset != 0 && sector < sp->desc_offset +
      sp->desc_size && sp->desc_offset < sector + xd_div_round_up (bytes, VMDK_SECTOR))
    bad ("%s %" PRIu64 " at sector %" PRIu64 " overlaps the embedded "
         "descriptor", what, idx, sector);
  if (sp->cowd && sector < 4)
    bad ("%s %" PRIu64 " at sector %" PRIu64 " overlaps the header",
         what, idx, sector);
  return 0;
}

int
vmdk_check_gt_offset (struct xd_io *io, const struct vmdk_sparse *sp,
                      uint64_t gd_index, uint64_t gt_sector)
{
  uint64_t gd_bytes = sp->nr_gd_entries * 4;
  uint64_t gt_bytes = (uint64_t) sp->gtes_per_gt * 4;
  uint64_t gt_off = gt_sector * VMDK_SECTOR, gd_off;

  if (check_table (io, sp, "grain table", gd_index, gt_sector, gt_bytes) == -1)
    return -1;
  gd_off = sp->gd_offset * VMDK_SECTOR;
  if (gt_off < gd_off + gd_bytes && gd_off < gt_off + gt_bytes)
    bad ("grain table %" PRIu64 " at sector %" PRIu64 " overlaps the grain "
         "directory", gd_index, gt_sector);
  return 0;
}

static int
load_one_gd (struct xd_io *io, const struct vmdk_sparse *sp,
             uint64_t gd_sector, uint32_t *gd)
{
  struct vmdk_sparse tmp = *sp;
  unsigned char *raw;
  uint64_t bytes = sp->nr_gd_entries * 4, i;

  if (check_table (io, sp, "grain directory", 0, gd_sector, bytes) == -1)
    return -1;
  raw = malloc (bytes ? bytes : 1);
  if (raw == NULL)
    return -1;
  if (xd_io_read (io, raw, bytes, gd_sector * VMDK_SECTOR,
                  "grain directory") == -1) {
    free (raw);
    return -1;
  }
  tmp.gd_offset = gd_sector;
  for (i = 0; i < sp->nr_gd_entries; ++i) {
    gd[i] = xd_le32 (raw + i * 4);
    if (gd[i] != 0 && vmdk_check_gt_offset (io, &tmp, i, gd[i]) == -1) {
      free (raw);
      return -1;
    }
  }
  free (raw);
  return 0;
}

int
vmdk_load_gd (struct xd_io *io, struct vmdk_sparse *sp, uint32_t **gdp)
{
  uint32_t *gd;
  bool has_rgd = !sp->cowd && (sp->flags & VMDK_FLAG_REDUNDANT_GT) &&
    sp->rgd_offset != 0;

  if (sp->sesparse)
    return vmdk_load_se_gd (io, sp, gdp);

  /* 2^32 sectors of 512 bytes... nr_gd_entries is bounded by capacity,
   * which fits in 2^63 bytes, and grains >= 1 sector, GTs >= 1 entry:
   * still check the table size against the file before allocating.
   */
  if (sp->nr_gd_entries > io->size / 4 + 1)
    bad ("grain directory of %" PRIu64 " entries is beyond the end of the "
         "file: capacity %" PRIu64 " is absurd for this file",
         sp->nr_gd_entries, sp->capacity);
  gd = calloc (sp->nr_gd_entries ? sp->nr_gd_entries : 1, sizeof *gd);
  if (gd == NULL)
    return -1;
  /* With a redundant copy to fall back on, a damaged primary is only
   * reported if the copy is damaged too (and then once, not twice).
   */
  if (has_rgd)
    xd_error_hold ();
  if (load_one_gd (io, sp, sp->gd_offset, gd) == 0) {
    if (has_rgd)
      xd_error_release (false);
    *gdp = gd;
    return 0;
  }
  if (has_rgd) {
    xd_debug ("%s: the primary grain directory is unusable, using the "
              "redundant grain directory at sector %" PRIu64,
              io->name, sp->rgd_offset);
    if (load_one_gd (io, sp, sp->rgd_offset, gd) == 0) {
      xd_error_release (false);
      /* The read path checks grains against the directory in use; the
       * primary's offset may be anything, even one that overflows.
       */
      sp->gd_offset = sp->rgd_offset;
      *gdp = gd;
      return 0;
    }
    xd_error_release (true);
  }
  free (gd);
  errno = EIO;
  return -1;
}

#define MARKER_EOS 0
#define MARKER_GT 1
#define MARKER_GD 2
#define MARKER_FOOTER 3

/* One marker of a stream, as read at an offset. */
struct marker {
  bool grain;                   /* a grain marker (else metadata or EOS) */
  bool eos;
  uint64_t grain_nr;            /* grain markers: the grain */
  uint64_t next;                /* offset of the next marker */
};

/* Read and check the marker at OFF. */
static int
read_marker (struct xd_io *io, const struct vmdk_sparse *sp, uint64_t off,
             struct marker *mk)
{
  unsigned char m[16];
  uint64_t val, grain_bytes = sp->grain_sectors * VMDK_SECTOR;
  uint32_t size, type;

  if (xd_io_read (io, m, sizeof m, off, "stream marker") == -1)
    return -1;
  val = xd_le64 (m);
  size = xd_le32 (m + 8);
  type = xd_le32 (m + 12);
  mk->grain = size > 0;
  mk->eos = false;
  if (size > 0) {
    if (size > 2 * grain_bytes + 4096 || off + 12 + size > io->size)
      bad ("grain marker at offset %" PRIu64 " has an absurd size %" PRIu32,
           off, size);
    if (val % sp->grain_sectors != 0 || val >= sp->capacity)
      bad ("grain marker at offset %" PRIu64 " has a bad lba %" PRIu64,
           off, val);
    mk->grain_nr = val / sp->grain_sectors;
    mk->next = (off + 12 + size + VMDK_SECTOR - 1)
      & ~(uint64_t) (VMDK_SECTOR - 1);
    return 0;
  }
  if (type == MARKER_EOS) {
    mk->eos = true;
    return 0;
  }
  if (type > MARKER_FOOTER || val > io->size / VMDK_SECTOR)
    bad ("stream marker at offset %" PRIu64 " is corrupt (type %" PRIu32
         ", %" PRIu64 " sectors)", off, type, val);
  mk->next = off + VMDK_SECTOR + val * VMDK_SECTOR;
  return 0;
}

/* Where the walk starts: overHead, a 64-bit sector count from the
 * header, checked before it is multiplied out.
 */
static int
stream_start (struct xd_io *io, const struct vmdk_sparse *sp, uint64_t *off)
{
  if (sp->overhead > io->size / VMDK_SECTOR)
    bad ("overHead %" PRIu64 " sectors (where the grains start) is beyond "
         "the end of the stream (%" PRIu64 " bytes)", sp->overhead, io->size);
  *off = xd_max_u64 (sp->overhead, 1) * VMDK_SECTOR;
  return 0;
}

/* The full map of an out-of-order stream: one sector per grain. */
static int
map_every_grain (struct xd_io *io, const struct vmdk_sparse *sp,
                 uint64_t **mapp)
{
  struct marker mk;
  uint64_t off, *map;

  if (sp->nr_grains > io->size / 12 + 1)
    bad ("capacity %" PRIu64 " is absurd for a stream of %" PRIu64 " bytes",
         sp->capacity, io->size);
  if (stream_start (io, sp, &off) == -1)
    return -1;
  map = calloc (sp->nr_grains ? sp->nr_grains : 1, sizeof *map);
  if (map == NULL)
    return -1;
  for (; off + 16 <= io->size && off > 0; off = mk.next) {
    if (read_marker (io, sp, off, &mk) == -1) {
      free (map);
      return -1;
    }
    if (mk.eos)
      break;
    if (mk.grain)
      map[mk.grain_nr] = off / VMDK_SECTOR;
  }
  *mapp = map;
  return 0;
}

/* An index of a footer-less stream in the order VMware and qemu write
 * it: the grains of one grain table's range in one run of markers,
 * runs in any order.  Remembering where each run starts costs 8 bytes
 * per grain table (256 KiB for 2 TB of 64K grains) instead of 8 bytes
 * per grain (256 MiB); vmdk_stream_table re-reads one run on demand.  A
 * stream where a range's grains come back after another range's is
 * mapped grain by grain instead.
 */
int
vmdk_index_stream (struct xd_io *io, const struct vmdk_sparse *sp,
                   struct vmdk_stream_index *ix)
{
  struct marker mk;
  uint64_t off, group, last = UINT64_MAX;
  bool ordered = true;

  xd_debug ("%s: stream footer missing or damaged: indexing the grains by "
            "walking the markers", io->name);
  memset (ix, 0, sizeof *ix);
  if (sp->nr_gd_entries > io->size / 12 + 1)
    bad ("capacity %" PRIu64 " is absurd for a stream of %" PRIu64 " bytes",
         sp->capacity, io->size);
  if (stream_start (io, sp, &off) == -1)
    return -1;
  ix->run_start = calloc (sp->nr_gd_entries ? sp->nr_gd_entries : 1,
                          sizeof *ix->run_start);
  if (ix->run_start == NULL)
    return -1;
  for (; off + 16 <= io->size && off > 0; off = mk.next) {
    if (read_marker (io, sp, off, &mk) == -1)
      goto fail;
    if (mk.eos)
      break;
    if (!mk.grain)
      continue;
    group = mk.grain_nr / sp->gtes_per_gt;
    if (group == last)
      continue;
    if (ix->run_start[group] != 0)
      ordered = false;          /* this range's grains come back */
    else
      ix->run_start[group] = off / VMDK_SECTOR;
    last = group;
  }
  if (ordered)
    return 0;
  xd_debug ("%s: the stream's grains are out of order: mapping each grain",
            io->name);
  free (ix->run_start);
  ix->run_start = NULL;
  return map_every_grain (io, sp, &ix->map);

 fail:
  vmdk_stream_index_free (ix);
  return -1;
}

int
vmdk_stream_table (struct xd_io *io, const struct vmdk_sparse *sp,
                   const struct vmdk_stream_index *ix, uint64_t group,
                   uint64_t *table)
{
  struct marker mk;
  uint64_t off, first = group * sp->gtes_per_gt, i;

  memset (table, 0, sp->gtes_per_gt * sizeof *table);
  if (ix->map) {
    for (i = 0; i < sp->gtes_per_gt && first + i < sp->nr_grains; i++)
      table[i] = ix->map[first + i];
    return 0;
  }
  off = ix->run_start[group] * VMDK_SECTOR;
  for (; off > 0 && off + 16 <= io->size; off = mk.next) {
    if (read_marker (io, sp, off, &mk) == -1)
      return -1;
    if (mk.eos)
      break;
    if (!mk.grain)
      continue;
    if (mk.grain_nr / sp->gtes_per_gt != group)
      break;                    /* the end of this range's run */
    table[mk.grain_nr - first] = off / VMDK_SECTOR;
  }
  return 0;
}

void
vmdk_stream_index_free (struct vmdk_stream_index *ix)
{
  free (ix->run_start);
  free (ix->map);
  ix->run_start = NULL;
  ix->map = NULL;
}
