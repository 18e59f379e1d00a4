/* xdisk: VHD and VHDX as format drivers (see xd-format.h), composed
 * of the reader (vhd-read.c, its tables in vhd-reader.c) and the
 * writers (vhd-write.c, vhdx-write.c) and creators and checkers.
 *
 * VHD: the VHD writer wraps the reader's struct vd_disk in a struct
 * vhd_handle and keeps the reader's cached BAT pages up to date.
 * VHDX: the handle is the reader's struct vd_disk; a writable one gets
 * a writer, which installs its BAT lookup in the top layer and is
 * released before the reader closes.
 */

#include <config.h>

#include "vhd/vhd-read.h"
#include "vhd/vhd-write.h"
#include "vhd/vhdx-write.h"
#include "core/xd-format.h"

/* VHD: the handle is a struct vhd_handle (vhd-write.h). */
const struct xd_format xd_format_vhd = {
  VHD_NAME_FIELDS,
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
  vhdx_writer_detach (h);       /* the writer goes before the reader */
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
  VHDX_NAME_FIELDS,
  .open = vhdx_open,
  .close = vhdx_close,
  VD_DISK_READ_FIELDS,
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
