/* xdisk vhdx: the nbdkit plugin serving Microsoft VHD and VHDX disks.
 *
 * The driver table maps the glue's callbacks onto the read path in
 * vhd-read.c; the parsers are in common/vhd-*.c and common/vhdx-*.c.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd-glue.h"
#include "vhd-read.h"

static bool ignore_parent_mismatch = false;
static enum vhd_size_mode size_mode = VHD_SIZE_AUTO;

static int
vhdx_config (const char *key, const char *value)
{
  int r;

  if (strcmp (key, "ignore-parent-mismatch") == 0) {
    r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    ignore_parent_mismatch = r;
    return 0;
  }
  if (strcmp (key, "size") == 0) {
    if (strcmp (value, "auto") == 0)
      size_mode = VHD_SIZE_AUTO;
    else if (strcmp (value, "current") == 0)
      size_mode = VHD_SIZE_CURRENT;
    else if (strcmp (value, "geometry") == 0)
      size_mode = VHD_SIZE_GEOMETRY;
    else {
      nbdkit_error ("size: expected current, geometry or auto, not '%s'",
                    value);
      return -1;
    }
    return 0;
  }
  return 1;
}

static void
vhdx_dump (void)
{
  printf ("vhdx_formats=vhd,vhdx\n");
  printf ("vhdx_max_chain_depth=%d\n", VD_MAX_CHAIN);
  printf ("vhdx_log_replay=yes\n");
}

static void *
vhdx_open (const char *path, const struct xd_open_opts *opts)
{
  struct vd_options vopts = {
    .size_mode = size_mode,
    .ignore_parent_mismatch = ignore_parent_mismatch,
  };

  return vd_disk_open (path, opts, &vopts);
}

static void
vhdx_close (void *disk)
{
  vd_disk_close (disk);
}

static uint64_t
vhdx_size (void *disk)
{
  return ((struct vd_disk *) disk)->top->size;
}

static uint32_t
vhdx_preferred_block (void *disk)
{
  return ((struct vd_disk *) disk)->top->block_size;
}

static int
vhdx_pread (void *disk, void *buf, uint32_t count, uint64_t offset)
{
  return vd_disk_read (disk, buf, count, offset);
}

static int
vhdx_extents (void *disk, uint32_t count, uint64_t offset, bool req_one,
              xd_extent_fn add, void *opaque)
{
  return vd_disk_extents (disk, count, offset, req_one, add, opaque);
}

static char *
vhdx_describe (void *disk)
{
  return vd_disk_describe (disk);
}

#define VHDX_HELP \
  "\nsize=current|geometry|auto  Which VHD footer size to serve.\n" \
  "ignore-parent-mismatch=true  Serve a differencing disk whose parent " \
  "ID does not match."

static const struct xd_driver vhdx_driver = {
  .format = "VHD/VHDX",
  .config_help = VHDX_HELP,
  .config = vhdx_config,
  .dump = vhdx_dump,
  .open = vhdx_open,
  .close = vhdx_close,
  .size = vhdx_size,
  .preferred_block = vhdx_preferred_block,
  .pread = vhdx_pread,
  .extents = vhdx_extents,
  .describe = vhdx_describe,
};

XD_REGISTER_PLUGIN ("vhdx", "Microsoft VHD and VHDX virtual disk plugin",
                    vhdx_driver, VHDX_HELP)
