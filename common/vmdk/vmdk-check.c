/* xdisk vmdkx: the structure verifier (the format's check op).
 *
 * For each hosted sparse extent, read from the file as it is now: the
 * header, both grain directories and every grain table.  Every table
 * and grain must lie inside the file, none may overlap another or the
 * header, the descriptor or the directories; an entry set in a grain
 * table must be set to the same value in its redundant copy, and a
 * directory entry set in the primary directory must be set in the
 * redundant one (the writer updates the redundant copies first, so
 * this holds at every point of its write sequence).  The descriptor's
 * extents must match the sparse capacities.  Every problem is reported.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk/vmdk-write.h"
#include "include/xd-bytes.h"
#include "core/xd-check.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

/* One sparse extent being checked. */
struct checker {
  struct xd_check c;            /* ranges in sectors */
  struct xd_io *io;
  const struct vmdk_sparse *sp;
};

#define problem(ck, ...) xd_check_problem (&(ck)->c, __VA_ARGS__)

/* A table or grain of BYTES at SECTOR: inside the file, remembered for
 * the overlap check.  False if it is not inside.
 */
static bool
place (struct checker *c, uint64_t sector, uint64_t bytes, const char *what,
       uint64_t idx)
{
  uint64_t off;

  if (xd_mul_overflow (sector, VMDK_SECTOR, &off) ||
      !xd_io_contains (c->io, off, bytes)) {
    problem (c, "%s %" PRIu64 " at sector %" PRIu64 " (%" PRIu64 " bytes) "
             "is beyond the end of the file (%" PRIu64 " bytes)", what, idx,
             sector, bytes, c->io->size);
    return false;
  }
  xd_check_add (&c->c, sector, sector + xd_div_round_up (bytes, VMDK_SECTOR),
                what, idx);
  return true;
}

/* Read a table of N 32-bit entries at SECTOR into OUT (host order). */
static int
read_u32s (struct checker *c, uint64_t sector, uint64_t n, uint32_t *out,
           const char *what)
{
  unsigned char *raw = malloc (n ? n * 4 : 1);
  uint64_t i;

  if (raw == NULL) {
    xd_error ("%s: malloc: %m", c->io->name);
    return -1;
  }
  if (xd_io_read (c->io, raw, n * 4, sector * VMDK_SECTOR, what) == -1) {
    free (raw);
    return -1;
  }
  for (i = 0; i < n; ++i)
    out[i] = xd_le32 (raw + i * 4);
  free (raw);
  return 0;
}

static void
check_entries (struct checker *c, uint64_t gti, const uint32_t *gt,
               const uint32_t *rgt)
{
  const struct vmdk_sparse *sp = c->sp;
  uint64_t gb = sp->grain_sectors * VMDK_SECTOR, j;

  for (j = 0; j < sp->gtes_per_gt; ++j) {
    uint64_t grain = gti * sp->gtes_per_gt + j, len;
    uint32_t v = gt ? gt[j] : 0;

    if (gt && rgt && v != 0 && rgt[j] != v)
      problem (c, "grain %" PRIu64 ": the grain table says sector %" PRIu32
               ", the redundant grain table %" PRIu32, grain, v, rgt[j]);
    if (v == 0 || (v == 1 && (sp->flags & VMDK_FLAG_ZERO_GTE)))
      continue;
    if (grain >= sp->nr_grains) {
      problem (c, "grain table %" PRIu64 " has an entry for grain %" PRIu64
               ", beyond the capacity", gti, grain);
      continue;
    }
    len = xd_min_u64 (gb, sp->capacity * VMDK_SECTOR - grain * gb);
    place (c, v, len, "grain", grain);
  }
}

static int
check_tables (struct checker *c, const uint32_t *gd, const uint32_t *rgd)
{
  const struct vmdk_sparse *sp = c->sp;
  uint64_t gt_bytes = (uint64_t) sp->gtes_per_gt * 4, i;
  uint32_t *gt = malloc (gt_bytes), *rgt = malloc (gt_bytes);
  int r = -1;

  if (gt == NULL || rgt == NULL) {
    xd_error ("%s: malloc: %m", c->io->name);
    goto out;
  }
  for (i = 0; i < sp->nr_gd_entries; ++i) {
    bool have = false, rhave = false;
    if (gd[i] && place (c, gd[i], gt_bytes, "grain table", i))
      have = read_u32s (c, gd[i], sp->gtes_per_gt, gt, "grain table") == 0;
    if (rgd && rgd[i] &&
        place (c, rgd[i], gt_bytes, "redundant grain table", i))
      rhave = read_u32s (c, rgd[i], sp->gtes_per_gt, rgt,
                         "redundant grain table") == 0;
    if (rgd && gd[i] && !rgd[i])
      problem (c, "grain directory entry %" PRIu64 " is set but the "
               "redundant grain directory's is not", i);
    check_entries (c, i, have ? gt : NULL, rhave ? rgt : NULL);
  }
  r = 0;
 out:
  free (gt);
  free (rgt);
  return r;
}

static unsigned
check_sparse (struct vmdk_extent *e)
{
  struct vmdk_sparse sp;
  struct checker c = { .io = e->io, .sp = &sp };
  unsigned problems;
  uint32_t *gd = NULL, *rgd = NULL;
  uint64_t n, dir_bytes;
  bool has_rgd;

  if (vmdk_read_sparse_header (e->io, &sp) == -1)
    return 1;
  if (sp.cowd || sp.sesparse || sp.compressed || sp.markers)
    return 0;                   /* not written by xdisk: not checked */
  xd_check_init (&c.c, e->io->name, "check");
  n = sp.nr_gd_entries;
  dir_bytes = n * 4;
  has_rgd = (sp.flags & VMDK_FLAG_REDUNDANT_GT) && sp.rgd_offset != 0;
  xd_check_add (&c.c, 0, 1, "header", 0);
  if (sp.desc_offset)
    place (&c, sp.desc_offset, sp.desc_size * VMDK_SECTOR,
           "embedded descriptor", 0);
  if (n > e->io->size / 4 + 1)
    problem (&c, "capacity %" PRIu64 " needs a grain directory larger "
             "than the file", sp.capacity);
  else if (place (&c, sp.gd_offset, dir_bytes, "grain directory", 0) &&
           (!has_rgd || place (&c, sp.rgd_offset, dir_bytes,
                               "redundant grain directory", 0))) {
    gd = calloc (n ? n : 1, 4);
    rgd = has_rgd ? calloc (n ? n : 1, 4) : NULL;
    if (gd == NULL || (has_rgd && rgd == NULL) ||
        read_u32s (&c, sp.gd_offset, n, gd, "grain directory") == -1 ||
        (has_rgd && read_u32s (&c, sp.rgd_offset, n, rgd,
                               "redundant grain directory") == -1) ||
        check_tables (&c, gd, rgd) == -1)
      xd_check_problem (&c.c, "the grain tables cannot be read");
  }
  xd_check_overlaps (&c.c, "sectors");
  if (e->length > sp.capacity * VMDK_SECTOR)
    problem (&c, "the descriptor gives the extent %" PRIu64 " sectors, more "
             "than its capacity %" PRIu64, e->length / VMDK_SECTOR,
             sp.capacity);
  problems = c.c.problems;
  xd_check_end (&c.c);
  free (gd);
  free (rgd);
  return problems;
}

int
vmdk_disk_check (struct vmdk_disk *d)
{
  unsigned problems = 0;
  size_t i;

  if (d->writable && vmdk_disk_flush (d) == -1)
    return -1;
  for (i = 0; i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    if (e->kind == VMDK_SPARSE)
      problems += check_sparse (e);
    else if (e->kind == VMDK_FLAT && e->io &&
             e->io->size < e->file_offset + e->length) {
      xd_error ("%s: check: the flat extent file is shorter than the "
                "descriptor says", e->io->name);
      problems++;
    }
  }
  if (d->desc.create_type == NULL) {
    xd_error ("%s: check: the descriptor has no createType", d->path);
    problems++;
  }
  if (problems) {
    errno = EIO;
    return -1;
  }
  return 0;
}
