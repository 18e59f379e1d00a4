/* xdisk fuzz target: VMDK sparse extents read through an xd_io: the KDMV
 * and COWD headers (and the stream footer), the embedded descriptor, the
 * grain directory (and its redundant copy) with every grain table offset
 * checked, and the streamOptimized marker walk; seSparse constant and
 * volatile headers, grain directory, and grain table entries decoded.
 *
 * The input is a sparse extent, or a bundle (fuzz.h) whose first file
 * is one.
 */

#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmdk/vmdk.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"

static void
check_header (const struct vmdk_sparse *sp)
{
  if (!xd_is_power_of_2 (sp->grain_sectors) ||
      sp->grain_sectors > VMDK_MAX_GRAIN_SECTORS ||
      !xd_is_power_of_2 (sp->gtes_per_gt) ||
      sp->gtes_per_gt > VMDK_MAX_GTES_PER_GT ||
      sp->capacity > INT64_MAX / VMDK_SECTOR ||
      sp->nr_grains * sp->grain_sectors < sp->capacity ||
      sp->nr_gd_entries * sp->gtes_per_gt < sp->nr_grains)
    fz_fail ("sparse header: capacity %" PRIu64 ", grain %" PRIu64
             ", %" PRIu32 " GTEs per GT", sp->capacity, sp->grain_sectors,
             sp->gtes_per_gt);
}

static void
embedded_descriptor (struct xd_io *io, const struct vmdk_sparse *sp)
{
  struct vmdk_descriptor desc;
  size_t len = sp->desc_size * VMDK_SECTOR;
  unsigned long before;
  char *text;
  int r;

  text = malloc (len ? len : 1);
  if (text == NULL)
    return;
  before = fz_begin ();
  r = xd_io_read (io, text, len, sp->desc_offset * VMDK_SECTOR,
                  "embedded descriptor");
  if (r == 0)
    r = vmdk_parse_descriptor (text, len, io->name, &desc);
  fz_check_failure (r, before, "embedded descriptor");
  if (r == 0)
    vmdk_descriptor_free (&desc);
  free (text);
}

static void
grain_directory (struct xd_io *io, struct vmdk_sparse *sp)
{
  unsigned long before = fz_begin ();
  uint32_t *gd = NULL;
  uint64_t i;
  int r;

  r = vmdk_load_gd (io, sp, &gd);
  fz_check_failure (r, before, "vmdk_load_gd");
  if (r == -1)
    return;
  if (sp->gd_offset == 0 || sp->gd_offset > io->size / VMDK_SECTOR)
    fz_fail ("grain directory loaded from sector %" PRIu64, sp->gd_offset);
  for (i = 0; i < sp->nr_gd_entries && sp->sesparse; i++)
    if (gd[i] != 0 &&
        (gd[i] > sp->nr_gts ||
         vmdk_se_gt_offset (sp, gd[i]) + sp->gtes_per_gt * 8 > io->size))
      fz_fail ("seSparse grain table %" PRIu32 " was accepted beyond the "
               "area or the file", gd[i] - 1);
  for (i = 0; i < sp->nr_gd_entries && !sp->sesparse; i++)
    if (gd[i] != 0 &&
        (uint64_t) gd[i] * VMDK_SECTOR + sp->gtes_per_gt * 4 > io->size)
      fz_fail ("grain table %" PRIu64 " at sector %" PRIu32 " was accepted "
               "beyond the end of the file", i, gd[i]);
  free (gd);
}

/* Decode every entry of grain table GT (of seSparse grain directory
 * entry I): an accepted grain lies in the grains area and the file.
 */
static void
se_table (struct xd_io *io, const struct vmdk_sparse *sp, uint64_t i,
          const unsigned char *gt)
{
  enum vmdk_grain_state st;
  uint64_t j, grain, sector, bytes;
  unsigned long before;
  int r;

  for (j = 0; j < sp->gtes_per_gt; j++) {
    grain = i * sp->gtes_per_gt + j;
    if (grain >= sp->nr_grains)
      break;
    before = fz_begin ();
    r = vmdk_se_decode_gte (io, sp, grain, xd_le64 (gt + j * 8), &st,
                            &sector);
    fz_check_failure (r, before, "vmdk_se_decode_gte");
    if (r == -1 || st != VMDK_GRAIN_DATA)
      continue;
    bytes = xd_min_u64 (4096, sp->capacity * VMDK_SECTOR - grain * 4096);
    if (sector < sp->grains_offset ||
        sector >= sp->grains_offset + sp->nr_slots * 8 ||
        sector * VMDK_SECTOR + bytes > io->size)
      fz_fail ("seSparse grain %" PRIu64 " accepted at sector %" PRIu64,
               grain, sector);
  }
}

/* The grain tables of an seSparse extent, a bounded number of them. */
static void
se_tables (struct xd_io *io, const struct vmdk_sparse *sp)
{
  unsigned long before;
  size_t gt_bytes = sp->gtes_per_gt * 8;
  unsigned char *gt;
  uint32_t *gd = NULL;
  uint64_t i;
  int r;

  before = fz_begin ();
  r = vmdk_load_se_gd (io, sp, &gd);
  fz_check_failure (r, before, "vmdk_load_se_gd");
  if (r == -1)
    return;
  gt = malloc (gt_bytes);
  if (gt == NULL)
    abort ();
  for (i = 0; i < sp->nr_gd_entries; i += sp->nr_gd_entries / 16 + 1) {
    if (gd[i] == 0)
      continue;
    before = fz_begin ();
    r = xd_io_read (io, gt, gt_bytes, vmdk_se_gt_offset (sp, gd[i]),
                    "seSparse grain table");
    fz_check_failure (r, before, "seSparse grain table read");
    if (r == 0)
      se_table (io, sp, i, gt);
  }
  free (gt);
  free (gd);
}

static void
stream (struct xd_io *io, const struct vmdk_sparse *sp)
{
  unsigned long before = fz_begin ();
  struct vmdk_stream_index ix;
  uint64_t *table, g, i, groups;
  int r;

  r = vmdk_index_stream (io, sp, &ix);
  fz_check_failure (r, before, "vmdk_index_stream");
  if (r == -1)
    return;
  if ((ix.run_start == NULL) == (ix.map == NULL))
    fz_fail ("stream index has %s", ix.map ? "both forms" : "neither form");
  table = malloc (sp->gtes_per_gt * sizeof *table);
  if (table == NULL)
    abort ();
  /* Rebuild a bounded number of tables, spread over the disk. */
  groups = sp->nr_gd_entries;
  for (g = 0; g < groups; g += groups / 16 + 1) {
    before = fz_begin ();
    r = vmdk_stream_table (io, sp, &ix, g, table);
    fz_check_failure (r, before, "vmdk_stream_table");
    if (r == -1)
      continue;
    for (i = 0; i < sp->gtes_per_gt; i++)
      if (table[i] >= io->size / VMDK_SECTOR + 1)
        fz_fail ("stream grain %" PRIu64 " at sector %" PRIu64 " is beyond "
                 "the end of the file", g * sp->gtes_per_gt + i, table[i]);
  }
  free (table);
  vmdk_stream_index_free (&ix);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_bundle b;
  struct vmdk_sparse sp, gd_sp;
  struct xd_io *io;
  unsigned long before;
  int r;

  fz_init ();
  fz_bundle_parse (data, size, "fuzz.vmdk", &b);
  io = fz_io_open (&b.files[0]);
  before = fz_begin ();
  r = vmdk_read_sparse_header (io, &sp);
  fz_check_failure (r, before, "vmdk_read_sparse_header");
  if (r == 0) {
    check_header (&sp);
    if (!sp.cowd && sp.desc_offset != 0 && sp.desc_size != 0)
      embedded_descriptor (io, &sp);
    /* The plugin walks the markers only for a stream without a grain
     * directory, but both must be safe on any header that was accepted.
     */
    gd_sp = sp;
    grain_directory (io, &gd_sp);
    if (sp.sesparse)
      se_tables (io, &sp);
    else if (sp.gd_offset == 0 || sp.markers)
      stream (io, &sp);
  }
  xd_io_close (io);
  fz_bundle_free (&b);
  return 0;
}
