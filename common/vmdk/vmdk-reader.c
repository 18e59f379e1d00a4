/* xdisk: VMDK read-only, as a format driver (see xd-format.h).
 *
 * The probe, the parameters and the reader's table: a disk opened
 * through xd_reader_vmdk is read-only whatever opts->writable says.
 * The read path is vmdk-read.c, the parsers vmdk-descriptor.c,
 * vmdk-sparse.c and vmdk-sesparse.c; the composed table, which adds
 * the writer, is vmdk-format.c.
 */

#include <config.h>

#include <stdio.h>
#include <string.h>

#include "vmdk/vmdk-read.h"
#include "include/xd-bytes.h"
#include "core/xd-format.h"

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

bool
vmdk_probe (struct xd_io *io, const uint8_t *head, size_t len)
{
  return has_sparse_magic (head, len) ||
    looks_like_descriptor (head, len, io->size);
}

int
vmdk_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  return xd_config_parent_mismatch (opts, key, value);
}

void
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

uint64_t
vmdk_size (void *h)
{
  return ((struct vmdk_disk *) h)->size;
}

uint32_t
vmdk_preferred_block (void *h)
{
  return ((struct vmdk_disk *) h)->grain_bytes;
}

static void *
reader_open (struct xd_io *io, const struct xd_resolver *res,
             const struct xd_open_opts *opts)
{
  return vmdk_reader_open (io, res, opts);
}

static void
reader_close (void *h)
{
  vmdk_reader_close (h);
}

static int
reader_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return vmdk_disk_read (h, buf, count, offset);
}

static int
reader_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
                xd_extent_fn add, void *opaque)
{
  return vmdk_disk_extents (h, count, offset, req_one, add, opaque);
}

static char *
reader_describe (void *h)
{
  return vmdk_disk_describe (h);
}

const struct xd_format xd_reader_vmdk = {
  VMDK_READ_FIELDS,
  .open = reader_open,
  .close = reader_close,
  .pread = reader_pread,
  .extents = reader_extents,
  .describe = reader_describe,
};
