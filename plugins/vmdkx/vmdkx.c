/* xdisk vmdkx: the nbdkit plugin serving VMware VMDK disks.
 *
 * The driver table below maps the glue's callbacks onto the read path in
 * vmdk-read.c; the parsers are in common/vmdk-*.c.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd-glue.h"
#include "vmdk-read.h"

/* -D vmdkx.grains=1: a debug message for every grain looked up. */
NBDKIT_DLL_PUBLIC int vmdkx_debug_grains = 0;

static bool ignore_parent_mismatch = false;

static int
vmdkx_config (const char *key, const char *value)
{
  int r;

  if (strcmp (key, "ignore-parent-mismatch") == 0) {
    r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    ignore_parent_mismatch = r;
    return 0;
  }
  return 1;
}

static void
vmdkx_dump (void)
{
  printf ("vmdkx_create_types=monolithicSparse,monolithicFlat,"
          "twoGbMaxExtentSparse,twoGbMaxExtentFlat,streamOptimized,vmfs,"
          "vmfsThin,vmfsSparse,vmfsPreallocated,vmfsEagerZeroedThick,"
          "vmfsRDM,vmfsRaw,custom,partitionedDevice\n");
  printf ("vmdkx_extent_types=FLAT,SPARSE,ZERO,VMFS,VMFSSPARSE,VMFSRDM,"
          "VMFSRAW\n");
  printf ("vmdkx_sparse_versions=1,2,3\n");
  printf ("vmdkx_max_chain_depth=%d\n", VMDK_MAX_CHAIN);
  printf ("vmdkx_max_grain_sectors=%d\n", VMDK_MAX_GRAIN_SECTORS);
  printf ("vmdkx_sesparse=no\n");
}

static void *
vmdkx_open (const char *path, const struct xd_open_opts *opts)
{
  struct vmdk_open_flags flags = {
    .ignore_parent_mismatch = ignore_parent_mismatch,
    .debug_grains = &vmdkx_debug_grains,
  };

  return vmdk_disk_open (path, opts, &flags);
}

static void
vmdkx_close (void *disk)
{
  vmdk_disk_close (disk);
}

static uint64_t
vmdkx_size (void *disk)
{
  return ((struct vmdk_disk *) disk)->size;
}

static uint32_t
vmdkx_preferred_block (void *disk)
{
  return ((struct vmdk_disk *) disk)->grain_bytes;
}

static int
vmdkx_pread (void *disk, void *buf, uint32_t count, uint64_t offset)
{
  return vmdk_disk_read (disk, buf, count, offset);
}

static int
vmdkx_extents (void *disk, uint32_t count, uint64_t offset, bool req_one,
               xd_extent_fn add, void *opaque)
{
  return vmdk_disk_extents (disk, count, offset, req_one, add, opaque);
}

static char *
vmdkx_describe (void *disk)
{
  return vmdk_disk_describe (disk);
}

static const struct xd_driver vmdk_driver = {
  .format = "VMDK",
  .config_help =
    "ignore-parent-mismatch=true  Serve a snapshot whose parentCID does "
    "not match its parent.",
  .config = vmdkx_config,
  .dump = vmdkx_dump,
  .open = vmdkx_open,
  .close = vmdkx_close,
  .size = vmdkx_size,
  .preferred_block = vmdkx_preferred_block,
  .pread = vmdkx_pread,
  .extents = vmdkx_extents,
  .describe = vmdkx_describe,
};

XD_REGISTER_PLUGIN ("vmdkx", "VMware VMDK virtual disk plugin", vmdk_driver,
                    "\nignore-parent-mismatch=true  Serve a snapshot whose "
                    "parentCID does not match its parent.")
