/* xdisk: VHD and VHDX read-only, as format drivers (see xd-format.h).
 *
 * One read path (vhd-read.c) serves both, telling them apart by
 * signature; they are two formats so that detection and messages name
 * the right one.  The reader tables open a struct vd_disk read-only
 * (opts->writable is ignored); the composed tables of vhd-format.c add
 * the writers, and share the ops here through vhd-read.h's macros.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhd-read.h"
#include "core/xd-format.h"
#include "include/xd-report.h"
#include "core/xd-text.h"

bool
vd_probe_vhdx (struct xd_io *io XD_UNUSED, const uint8_t *head, size_t len)
{
  return len >= 8 && memcmp (head, "vhdxfile", 8) == 0;
}

/* A dynamic or differencing VHD starts with a copy of its footer; a
 * fixed one has its footer only in the last 512 bytes (511 in images
 * from before Virtual PC 2004).
 */
bool
vd_probe_vhd (struct xd_io *io, const uint8_t *head, size_t len)
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

int
vd_config (struct xd_open_opts *opts, const char *key, const char *value)
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

void
vd_dump (const char *prefix)
{
  printf ("%sformats=vhd,vhdx\n", prefix);
  printf ("%smax_chain_depth=%d\n", prefix, XD_MAX_CHAIN);
  printf ("%slog_replay=yes\n", prefix);
}

/* ---- serving a struct vd_disk ---- */

static void *
vd_open (struct xd_io *io, const struct xd_resolver *res,
         const struct xd_open_opts *opts)
{
  return vd_disk_open (io, res, opts);
}

static void
vd_close (void *h)
{
  vd_disk_close (h);
}

uint64_t
vd_size (void *h)
{
  return ((struct vd_disk *) h)->top->size;
}

uint32_t
vd_preferred_block (void *h)
{
  return ((struct vd_disk *) h)->top->block_size;
}

int
vd_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return vd_disk_read (h, buf, count, offset);
}

int
vd_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
            xd_extent_fn add, void *opaque)
{
  return vd_disk_extents (h, count, offset, req_one, add, opaque);
}

char *
vd_describe (void *h)
{
  return vd_disk_describe (h);
}

const struct xd_format xd_reader_vhd = {
  VHD_NAME_FIELDS,
  .open = vd_open,
  .close = vd_close,
  VD_DISK_READ_FIELDS,
};

const struct xd_format xd_reader_vhdx = {
  VHDX_NAME_FIELDS,
  .open = vd_open,
  .close = vd_close,
  VD_DISK_READ_FIELDS,
};
