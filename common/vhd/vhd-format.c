/* xdisk: VHD and VHDX as format drivers (see xd-format.h).
 *
 * One read path (vhd-read.c) serves both, telling them apart by
 * signature; the registry lists them as two formats so that detection
 * and messages name the right one.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhd-read.h"
#include "vhd/vhd-write.h"
#include "vhd/vhdx-write.h"
#include "core/xd-format.h"
#include "core/xd-report.h"
#include "core/xd-text.h"

static bool
vhdx_format_probe (struct xd_io *io XD_UNUSED, const uint8_t *head,
                   size_t len)
{
  return len >= 8 && memcmp (head, "vhdxfile", 8) == 0;
}

/* A dynamic or differencing VHD starts with a copy of its footer; a
 * fixed one has its footer only in the last 512 bytes (511 in images
 * from before Virtual PC 2004).
 */
static bool
vhd_format_probe (struct xd_io *io, const uint8_t *head, size_t len)
{
  uint8_t tail[VHD_FOOTER_SIZE];
  uint64_t size = io->size;

  if (len >= 8 && memcmp (head, VHD_FOOTER_COOKIE, 8) == 0)
    return true;
  if (size < VHD_FOOTER_SIZE)
    return false;
  if (io->ops->pread (io, tail, sizeof tail, size - sizeof tail) == -1)
    return false;
  return memcmp (tail, VHD_FOOTER_COOKIE, 8) == 0 ||
    memcmp (tail + 1, VHD_FOOTER_COOKIE, 8) == 0;
}

static int
vhd_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  int r;

  r = xd_config_parent_mismatch (opts, key, value);
  if (r != 1)
    return r;
  if (strcmp (key, "size") == 0) {
    if (strcmp (value, "auto") == 0)
      opts->vhd_size_mode = VHD_SIZE_AUTO;
    else if (strcmp (value, "current") == 0)
      opts->vhd_size_mode = VHD_SIZE_CURRENT;
    else if (strcmp (value, "geometry") == 0)
      opts->vhd_size_mode = VHD_SIZE_GEOMETRY;
    else {
      xd_error ("size: expected current, geometry or auto, not '%s'", value);
      return -1;
    }
    return 0;
  }
  return 1;
}

static void
vhd_dump (const char *prefix)
{
  printf ("%sformats=vhd,vhdx\n", prefix);
  printf ("%smax_chain_depth=%d\n", prefix, XD_MAX_CHAIN);
  printf ("%slog_replay=yes\n", prefix);
}

static uint64_t
vd_size (void *h)
{
  return ((struct vd_disk *) h)->top->size;
}

static uint32_t
vd_preferred_block (void *h)
{
  return ((struct vd_disk *) h)->top->block_size;
}

static int
vd_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return vd_disk_read (h, buf, count, offset);
}

static int
vd_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
            xd_extent_fn add, void *opaque)
{
  return vd_disk_extents (h, count, offset, req_one, add, opaque);
}

static char *
vd_describe (void *h)
{
  return vd_disk_describe (h);
}

#define VHD_HELP \
  "size=current|geometry|auto  Which VHD footer size to serve.\n" \
  "ignore-parent-mismatch=true  Serve a differencing disk whose parent " \
  "ID does not match."

/* VHD: the handle is a struct vhd_handle (vhd-write.h). */
const struct xd_format xd_format_vhd = {
  .name = "vhd",
  .display = "VHD",
  .plugin = "vhdx",
  .probe = vhd_format_probe,
  .config = vhd_config,
  .config_help = VHD_HELP,
  .dump = vhd_dump,
  .open = vhd_w_open,
  .close = vhd_w_close,
  .size = vhd_w_size,
  .preferred_block = vhd_w_preferred_block,
  .pread = vhd_w_pread,
  .extents = vhd_w_extents,
  .describe = vhd_w_describe,
  .can_write = vhd_w_can_write,
  .pwrite = vhd_w_pwrite,
  .zero = vhd_w_zero,
  .trim = vhd_w_trim,
  .flush = vhd_w_flush,
  .finish = vhd_w_finish,
  .create = vhd_w_create,
  .check = vhd_w_check,
  .create_types = "fixed, dynamic (default; differencing with "
  "create-parent=)",
};

/* ---- VHDX: writing and creating (vhdx-write.c, vhdx-create.c) ---- */

static void *
vhdx_open (struct xd_io *io, const struct xd_resolver *res,
           const struct xd_open_opts *opts)
{
  struct vd_disk *disk = vd_disk_open (io, res, opts);

  if (disk && opts->writable && vhdx_writer_attach (disk) == -1) {
    vd_disk_close (disk);
    return NULL;
  }
  return disk;
}

static void
vhdx_close (void *h)
{
  vhdx_flush (h);               /* empties the log after writes */
  vd_disk_close (h);
}

static bool
vhdx_can_write_op (void *h, const char **why)
{
  return vhdx_can_write (h, why);
}

static int
vhdx_pwrite_op (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  return vhdx_pwrite (h, buf, count, offset);
}

static int
vhdx_zero_op (void *h, uint32_t count, uint64_t offset, bool may_trim,
              bool fast)
{
  return vhdx_zero (h, count, offset, may_trim, fast);
}

static int
vhdx_trim_op (void *h, uint32_t count, uint64_t offset)
{
  return vhdx_trim (h, count, offset);
}

static int
vhdx_flush_op (void *h)
{
  return vhdx_flush (h);
}

static void *
vhdx_create_op (struct xd_io *io, const struct xd_resolver *res,
                const struct xd_create_opts *copts,
                const struct xd_open_opts *opts)
{
  return vhdx_create (io, res, copts, opts);
}

static int
vhdx_check_op (void *h)
{
  return vhdx_check (h);
}

const struct xd_format xd_format_vhdx = {
  .name = "vhdx",
  .display = "VHDX",
  .plugin = "vhdx",
  .probe = vhdx_format_probe,
  .config = vhd_config,
  .open = vhdx_open,
  .close = vhdx_close,
  .size = vd_size,
  .preferred_block = vd_preferred_block,
  .pread = vd_pread,
  .extents = vd_extents,
  .describe = vd_describe,
  .can_write = vhdx_can_write_op,
  .pwrite = vhdx_pwrite_op,
  .zero = vhdx_zero_op,
  .trim = vhdx_trim_op,
  .flush = vhdx_flush_op,
  .create = vhdx_create_op,
  .finish = vhdx_flush_op,
  .check = vhdx_check_op,
  .create_types = "dynamic, fixed (create-parent=FILE: a differencing "
  "child)",
};
