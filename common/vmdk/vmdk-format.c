/* xdisk: VMDK as a format driver (see xd-format.h): the composed table
 * the plugins list.
 *
 * Its read fields are the reader's (vmdk-reader.c, vmdk-read.c); its
 * open and close are the composed ones (vmdk-disk.c: the reader with
 * the writer attached when writable); its create is the creator's
 * (vmdk-create.c).  A streamOptimized image being created is served by
 * its stream writer (vmdk-stream-write.c) alone.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmdk/vmdk-write.h"
#include "vmdk/vmdk-stream.h"
#include "core/xd-format.h"
#include "core/xd-text.h"

static void *
vmdk_open (struct xd_io *io, const struct xd_resolver *res,
           const struct xd_open_opts *opts)
{
  return vmdk_disk_open (io, res, opts);
}

static void
vmdk_close (void *h)
{
  vmdk_disk_close (h);
}

static int
vmdk_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct vmdk_disk *d = h;

  if (d->stream)
    return vmdk_stream_pread (d->stream, buf, count, offset);
  return vmdk_disk_read (d, buf, count, offset);
}

static int
vmdk_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
              xd_extent_fn add, void *opaque)
{
  struct vmdk_disk *d = h;

  if (d->stream)                /* being written: all data */
    return add (opaque, offset, count, XD_EXTENT_DATA);
  return vmdk_disk_extents (d, count, offset, req_one, add, opaque);
}

static char *
vmdk_describe (void *h)
{
  struct vmdk_disk *d = h;
  char size[32], *r = NULL;

  if (d->stream) {
    xd_human_size (d->size, size, sizeof size);
    if (asprintf (&r, "VMDK streamOptimized, being created, %s", size) == -1)
      return NULL;
    return r;
  }
  return vmdk_disk_describe (d);
}

/* ---- writing ---- */

static bool
vmdk_can_write (void *h, const char **why)
{
  struct vmdk_disk *d = h;

  if (d->stream) {
    *why = NULL;
    return true;
  }
  return vmdk_disk_can_write (d, why);
}

static int
vmdk_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  struct vmdk_disk *d = h;

  if (d->stream)
    return vmdk_stream_pwrite (d->stream, buf, count, offset);
  return vmdk_disk_write (d, buf, count, offset);
}

static int
vmdk_zero (void *h, uint32_t count, uint64_t offset, bool may_trim, bool fast)
{
  struct vmdk_disk *d = h;

  if (d->stream) {
    /* A fast zero is a client pre-zeroing the disk (nbdcopy does):
     * settling the grains as zeros now would refuse every later data
     * write into them, so refuse it; a stream starts all zeros anyway.
     */
    if (fast) {
      errno = ENOTSUP;
      return -1;
    }
    return vmdk_stream_zero (d->stream, count, offset);
  }
  return vmdk_disk_zero (d, count, offset, may_trim, fast);
}

static int
vmdk_trim (void *h, uint32_t count, uint64_t offset)
{
  struct vmdk_disk *d = h;

  if (d->stream)                /* allowed by NBD: a no-op */
    return 0;
  return vmdk_disk_trim (d, count, offset);
}

static int
vmdk_flush (void *h)
{
  struct vmdk_disk *d = h;

  if (d->stream)
    return vmdk_stream_flush (d->stream);
  return vmdk_disk_flush (d);
}

static int
vmdk_finish (void *h)
{
  struct vmdk_disk *d = h;

  if (d->stream)
    return vmdk_stream_finish (d->stream);
  return vmdk_disk_flush (d);
}

static int
vmdk_check (void *h)
{
  struct vmdk_disk *d = h;

  if (d->stream)
    return 0;                   /* checked when read back */
  return vmdk_disk_check (d);
}

static void *
vmdk_create (struct xd_io *io, const struct xd_resolver *res,
             const struct xd_create_opts *copts,
             const struct xd_open_opts *opts)
{
  return vmdk_disk_create (io, res, copts, opts);
}

const struct xd_format xd_format_vmdk = {
  VMDK_READ_FIELDS,
  .open = vmdk_open,
  .close = vmdk_close,
  .pread = vmdk_pread,
  .extents = vmdk_extents,
  .describe = vmdk_describe,
  .can_write = vmdk_can_write,
  .pwrite = vmdk_pwrite,
  .zero = vmdk_zero,
  .trim = vmdk_trim,
  .flush = vmdk_flush,
  .create = vmdk_create,
  .finish = vmdk_finish,
  .check = vmdk_check,
  .create_types = "monolithic-sparse (monolithicSparse, the default), "
    "split-sparse (twoGbMaxExtentSparse), monolithic-flat (monolithicFlat), "
    "split-flat (twoGbMaxExtentFlat), vmfs-flat (vmfs), vmfs-thin (vmfsThin), "
    "stream-optimized (streamOptimized)",
};
