/* xdisk: creating VDI images as VirtualBox lays them out.
 *
 * The pre-header with VirtualBox's banner, header version 1.1 of 400
 * bytes (with the LCHS geometry), the block map at 1 MiB and the data
 * at the next 1 MiB boundary after the map (VirtualBox's VDI_DATA_ALIGN),
 * legacy and LCHS geometry 0/0/0/512, a random creation UUID and a
 * random modification UUID (VirtualBox refuses a null one).  A dynamic
 * image ends where the data starts; a static one has every block
 * allocated in order (entry i = i) and the file's full size, sparse.  A
 * differencing child names its parent by the parent's creation UUID
 * (uuidLinkage) and modification UUID (uuidParentModify), the only
 * link VDI has: the reader finds the parent by UUID.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vdi/vdi-write.h"
#include "include/xd-bytes.h"
#include "core/xd-format.h"
#include "include/xd-math.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"
#include "core/xd-text.h"

/* Map entries written at once. */
#define MAP_CHUNK 16384u

/* The block map must end, rounded up to 1 MiB, within the 32-bit
 * data offset: at most this many blocks.
 */
#define VDI_CREATE_MAX_BLOCKS \
  ((uint32_t) (((UINT32_MAX / VDI_DATA_ALIGN) * VDI_DATA_ALIGN - \
                VDI_DATA_ALIGN) / 4))

struct new_vdi {
  uint32_t type;
  uint64_t size;
  uint32_t block_size;
  uint32_t blocks;
  uint32_t blocks_offset, data_offset;
  const struct vdi_header *parent;      /* or NULL */
};

static int
create_error (struct xd_io *io, int err, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static int
create_error (struct xd_io *io, int err, const char *fmt, ...)
{
  char why[384];
  va_list args;

  va_start (args, fmt);
  vsnprintf (why, sizeof why, fmt, args);
  va_end (args);
  xd_error ("%s: cannot create the VDI: %s", io->name, why);
  errno = err;
  return -1;
}

static int
choose_type (struct xd_io *io, const struct xd_create_opts *copts,
             struct new_vdi *n)
{
  const char *t = copts->type;

  if (t == NULL || strcasecmp (t, "dynamic") == 0)
    n->type = VDI_TYPE_NORMAL;
  else if (strcasecmp (t, "static") == 0 || strcasecmp (t, "fixed") == 0)
    n->type = VDI_TYPE_FIXED;
  else if (strcasecmp (t, "differencing") == 0 && copts->parent)
    n->type = VDI_TYPE_DIFF;
  else
    return create_error (io, EINVAL, "create-type=%s: the VDI types are "
                         "dynamic (the default) and static (or fixed); "
                         "create-parent=FILE makes a differencing image", t);
  if (copts->parent == NULL)
    return 0;
  if (n->type == VDI_TYPE_FIXED)
    return create_error (io, EINVAL, "a differencing image (create-parent=) "
                         "cannot be static: VirtualBox's differencing images "
                         "grow");
  n->type = VDI_TYPE_DIFF;
  return 0;
}

/* Block size, size, block count and the two offsets. */
static int
choose_layout (struct xd_io *io, const struct xd_create_opts *copts,
               struct new_vdi *n)
{
  char s[32], b[32];
  uint64_t blocks, map_end;

  n->size = copts->size ? copts->size : n->parent->disk_size;
  if (copts->block_size) {
    n->block_size = copts->block_size;
    if (!xd_is_power_of_2 (n->block_size) ||
        n->block_size < VDI_CREATE_MIN_BLOCK_SIZE ||
        n->block_size > VDI_CREATE_MAX_BLOCK_SIZE)
      return create_error (io, EINVAL, "create-block-size=%" PRIu32 ": a "
                           "VDI block size is a power of two from 512K to "
                           "8M (qemu reads only 1M)", n->block_size);
  }
  else
    n->block_size = n->parent ? n->parent->block_size
      : VDI_DEFAULT_BLOCK_SIZE;
  xd_human_size (n->size, s, sizeof s);
  xd_human_size (n->block_size, b, sizeof b);
  if (n->size == 0 || n->size % 512 != 0)
    return create_error (io, EINVAL, "create-size=%" PRIu64 ": the size of "
                         "a VDI is a positive whole number of 512-byte "
                         "sectors", n->size);
  blocks = xd_div_round_up (n->size, n->block_size);
  if (blocks > VDI_CREATE_MAX_BLOCKS)
    return create_error (io, EFBIG, "create-size=%s is too big for a VDI "
                         "with %s blocks: at most %" PRIu32 " blocks (the "
                         "block map must end below 4 GiB), that is %" PRIu64
                         " bytes", s, b, VDI_CREATE_MAX_BLOCKS,
                         (uint64_t) VDI_CREATE_MAX_BLOCKS * n->block_size);
  n->blocks = (uint32_t) blocks;
  n->blocks_offset = VDI_DATA_ALIGN;
  map_end = n->blocks_offset + blocks * 4;
  n->data_offset = (uint32_t) (xd_div_round_up (map_end, VDI_DATA_ALIGN) *
                               VDI_DATA_ALIGN);
  return 0;
}

static void
put_geometry (uint8_t *p)
{
  xd_put_le32 (p, 0);                   /* cylinders */
  xd_put_le32 (p + 4, 0);               /* heads */
  xd_put_le32 (p + 8, 0);               /* sectors */
  xd_put_le32 (p + 12, VDI_GEOMETRY_SECTOR_SIZE);
}

/* The pre-header and header (VDI_PRE_HEADER_SIZE + 400 bytes). */
static int
encode_header (const struct new_vdi *n, uint8_t *buf)
{
  memset (buf, 0, VDI_HEAD_BYTES);
  memcpy (buf, VDI_VBOX_BANNER, strlen (VDI_VBOX_BANNER));
  xd_put_le32 (buf + VDI_SIGNATURE_OFFSET, VDI_SIGNATURE);
  xd_put_le32 (buf + VDI_VERSION_OFFSET, VDI_VERSION_1_1);
  xd_put_le32 (buf + VDI1_HEADER_SIZE, VDI1_PLUS_HEADER_SIZE);
  xd_put_le32 (buf + VDI1_TYPE, n->type);
  xd_put_le32 (buf + VDI1_FLAGS, 0);
  xd_put_le32 (buf + VDI1_BLOCKS_OFFSET, n->blocks_offset);
  xd_put_le32 (buf + VDI1_DATA_OFFSET, n->data_offset);
  put_geometry (buf + VDI1_LEGACY_GEOMETRY);
  xd_put_le64 (buf + VDI1_DISK_SIZE, n->size);
  xd_put_le32 (buf + VDI1_BLOCK_SIZE, n->block_size);
  xd_put_le32 (buf + VDI1_BLOCK_EXTRA, 0);
  xd_put_le32 (buf + VDI1_BLOCKS, n->blocks);
  xd_put_le32 (buf + VDI1_BLOCKS_ALLOCATED,
               n->type == VDI_TYPE_FIXED ? n->blocks : 0);
  if (xd_guid_generate (buf + VDI1_UUID_CREATE) == -1 ||
      xd_guid_generate (buf + VDI1_UUID_MODIFY) == -1)
    return -1;
  if (n->parent) {
    memcpy (buf + VDI1_UUID_LINKAGE, n->parent->uuid_create, 16);
    memcpy (buf + VDI1_UUID_PARENT_MODIFY, n->parent->uuid_modify, 16);
  }
  put_geometry (buf + VDI1_LCHS_GEOMETRY);
  return 0;
}

static int
write_map (struct xd_io *io, const struct new_vdi *n)
{
  uint8_t *buf = malloc (MAP_CHUNK * 4);
  uint64_t i, j;
  int r = 0;

  if (buf == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  for (i = 0; r == 0 && i < n->blocks; i += MAP_CHUNK) {
    uint64_t count = xd_min_u64 (MAP_CHUNK, n->blocks - i);
    for (j = 0; j < count; j++)
      xd_put_le32 (buf + j * 4, n->type == VDI_TYPE_FIXED ? (uint32_t) (i + j)
                   : VDI_BLOCK_FREE);
    r = xd_io_write (io, buf, count * 4, n->blocks_offset + i * 4,
                     "VDI block map");
  }
  free (buf);
  return r;
}

static int
write_image (struct xd_io *io, const struct new_vdi *n)
{
  uint8_t head[VDI_HEAD_BYTES];
  uint64_t end = n->data_offset;

  if (n->type == VDI_TYPE_FIXED &&
      xd_add_overflow (end, (uint64_t) n->blocks * n->block_size, &end))
    return create_error (io, EFBIG, "the file size overflows");
  if (encode_header (n, head) == -1 ||
      xd_io_write (io, head, VDI_PRE_HEADER_SIZE + VDI1_PLUS_HEADER_SIZE, 0,
                   "VDI header") == -1 ||
      write_map (io, n) == -1 ||
      xd_io_truncate (io, end, "VDI data area") == -1)
    return -1;
  return xd_io_flush (io);
}

/* Read the header of the parent at COPTS->parent, which must be a VDI. */
static int
read_parent (struct xd_io *io, const struct xd_resolver *res,
             const struct xd_create_opts *copts, struct vdi_header *ph)
{
  uint8_t head[VDI_PRE_HEADER_SIZE];
  struct xd_io *pio;
  char *name;
  int r = -1;

  name = xd_parent_ref_name (copts->path ? copts->path : io->name,
                             copts->parent);
  if (name == NULL)
    return -1;
  pio = xd_resolver_open (res, io->name, name, "parent (create-parent=)");
  free (name);
  if (pio == NULL)
    return -1;
  if (pio->size < sizeof head ||
      xd_io_read (pio, head, sizeof head, 0, "VDI header") == -1 ||
      !vdi_probe (head, sizeof head))
    create_error (io, EINVAL, "create-parent=%s is not a VDI image: a VDI "
                  "differencing image names its parent by UUID, so its "
                  "parent must be a VDI", copts->parent);
  else
    r = vdi_read_header (pio, ph);
  xd_io_close (pio);
  return r;
}

void *
vdi_create (struct xd_io *io, const struct xd_resolver *res,
            const struct xd_create_opts *copts,
            const struct xd_open_opts *opts)
{
  struct xd_open_opts o = *opts;
  struct vdi_header ph;
  struct new_vdi n = { 0 };

  if (choose_type (io, copts, &n) == -1)
    goto fail;
  if (copts->parent) {
    if (read_parent (io, res, copts, &ph) == -1)
      goto fail;
    n.parent = &ph;
  }
  else if (copts->size == 0) {
    create_error (io, EINVAL, "create-size=SIZE is needed");
    goto fail;
  }
  if (choose_layout (io, copts, &n) == -1 || write_image (io, &n) == -1)
    goto fail;
  o.writable = true;
  if (copts->parent)
    o.parent = copts->parent;
  return vdi_format_open (io, res, &o);
 fail:
  xd_io_close (io);
  return NULL;
}
