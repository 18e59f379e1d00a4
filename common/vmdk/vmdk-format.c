/* xdisk: VMDK as a format driver (see xd-format.h).
 *
 * The read path is vmdk-read.c, the parsers vmdk-descriptor.c and
 * vmdk-sparse.c; this file is what the registry and the plugins see.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk/vmdk-read.h"
#include "vmdk/vmdk-stream.h"
#include "include/xd-bytes.h"
#include "core/xd-format.h"
#include "core/xd-text.h"

static bool
has_sparse_magic (const uint8_t *head, size_t len)
{
  uint32_t magic;

  if (len < 4)
    return false;
  magic = xd_le32 (head);
  return magic == VMDK_MAGIC_KDMV || magic == VMDK_MAGIC_COWD ||
    magic == VMDK_MAGIC_SESPARSE;
}

/* A text descriptor: small, and with the line VMware writes first or
 * the createType key every descriptor has, near the start.  Only the
 * text before the first NUL counts (qemu pads descriptors with NULs).
 */
static bool
looks_like_descriptor (const uint8_t *head, size_t len, uint64_t size)
{
  if (size > VMDK_MAX_DESCRIPTOR)
    return false;
  len = strnlen ((const char *) head, len);
  if (len == 0)
    return false;
  if (memmem (head, len, "# Disk DescriptorFile", 21) != NULL)
    return true;
  return memmem (head, len, "createType", 10) != NULL &&
    (memmem (head, len, "RW ", 3) != NULL ||
     memmem (head, len, "RDONLY ", 7) != NULL ||
     memmem (head, len, "NOACCESS ", 9) != NULL);
}

static bool
vmdk_probe (struct xd_io *io, const uint8_t *head, size_t len)
{
  return has_sparse_magic (head, len) ||
    looks_like_descriptor (head, len, io->size);
}

static int
vmdk_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  return xd_config_parent_mismatch (opts, key, value);
}

static void
vmdk_dump (const char *prefix)
{
  printf ("%screate_types=monolithicSparse,monolithicFlat,"
          "twoGbMaxExtentSparse,twoGbMaxExtentFlat,streamOptimized,vmfs,"
          "vmfsThin,vmfsSparse,vmfsPreallocated,vmfsEagerZeroedThick,"
          "vmfsRDM,vmfsRaw,custom,partitionedDevice,seSparse\n", prefix);
  printf ("%sextent_types=FLAT,SPARSE,ZERO,VMFS,VMFSSPARSE,VMFSRDM,"
          "VMFSRAW,SESPARSE\n", prefix);
  printf ("%ssparse_versions=1,2,3\n", prefix);
  printf ("%smax_chain_depth=%d\n", prefix, XD_MAX_CHAIN);
  printf ("%smax_grain_sectors=%d\n", prefix, VMDK_MAX_GRAIN_SECTORS);
  printf ("%ssesparse=yes\n", prefix);
}

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

static uint64_t
vmdk_size (void *h)
{
  return ((struct vmdk_disk *) h)->size;
}

static uint32_t
vmdk_preferred_block (void *h)
{
  return ((struct vmdk_disk *) h)->grain_bytes;
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
  .name = "vmdk",
  .display = "VMDK",
  .plugin = "vmdkx",
  .probe = vmdk_probe,
  .config = vmdk_config,
  .config_help =
    "ignore-parent-mismatch=true  Serve a snapshot whose parentCID does "
    "not match its parent.",
  .dump = vmdk_dump,
  .open = vmdk_open,
  .close = vmdk_close,
  .size = vmdk_size,
  .preferred_block = vmdk_preferred_block,
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
