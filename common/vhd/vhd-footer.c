/* xdisk: VHD footer and dynamic header parsing. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhd.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

uint32_t
vhd_checksum (const void *buf, size_t len, size_t checksum_field)
{
  const uint8_t *p = buf;
  uint32_t sum = 0;
  size_t i;

  for (i = 0; i < len; i++) {
    if (i >= checksum_field && i < checksum_field + 4)
      continue;
    sum += p[i];
  }
  return ~sum;
}

int
vhd_parse_footer (const uint8_t *buf, const char *name, bool quiet,
                  struct vhd_footer *f)
{
  uint32_t stored, computed;

  if (memcmp (buf, VHD_FOOTER_COOKIE, 8) != 0) {
    if (!quiet)
      xd_error ("%s: VHD footer has no \"conectix\" cookie", name);
    errno = EIO;
    return -1;
  }
  stored = xd_be32 (buf + VHD_FOOTER_CHECKSUM);
  computed = vhd_checksum (buf, VHD_FOOTER_SIZE, VHD_FOOTER_CHECKSUM);
  if (stored != computed) {
    if (!quiet)
      xd_error ("%s: VHD footer checksum mismatch (stored 0x%08x, "
                "computed 0x%08x)", name, stored, computed);
    errno = EIO;
    return -1;
  }
  memcpy (f->creator_app, buf + VHD_FOOTER_CREATOR_APP, 4);
  f->creator_app[4] = '\0';
  f->creator_major = xd_be16 (buf + VHD_FOOTER_CREATOR_VERSION);
  f->creator_minor = xd_be16 (buf + VHD_FOOTER_CREATOR_VERSION + 2);
  f->timestamp = xd_be32 (buf + VHD_FOOTER_TIMESTAMP);
  f->data_offset = xd_be64 (buf + VHD_FOOTER_DATA_OFFSET);
  f->current_size = xd_be64 (buf + VHD_FOOTER_CURRENT_SIZE);
  f->cylinders = xd_be16 (buf + VHD_FOOTER_GEOMETRY);
  f->heads = buf[VHD_FOOTER_GEOMETRY + 2];
  f->sectors = buf[VHD_FOOTER_GEOMETRY + 3];
  f->disk_type = xd_be32 (buf + VHD_FOOTER_DISK_TYPE);
  memcpy (f->unique_id, buf + VHD_FOOTER_UNIQUE_ID, 16);

  if (f->disk_type != VHD_TYPE_FIXED && f->disk_type != VHD_TYPE_DYNAMIC &&
      f->disk_type != VHD_TYPE_DIFF) {
    if (!quiet)
      xd_error ("%s: VHD footer disk type %" PRIu32 " is not supported "
                "(fixed 2, dynamic 3, differencing 4)", name, f->disk_type);
    errno = EIO;
    return -1;
  }
  if (f->current_size % 512 != 0) {
    if (!quiet)
      xd_error ("%s: VHD footer current size %" PRIu64
                " is not a multiple of 512", name, f->current_size);
    errno = EIO;
    return -1;
  }
  /* NBD sizes are signed 64-bit: a larger disk could never be served
   * (and a fixed disk's size is not bounded by its data, which may be
   * short).
   */
  if (f->current_size > INT64_MAX) {
    if (!quiet)
      xd_error ("%s: VHD footer current size %" PRIu64 " is larger than "
                "the largest disk NBD can serve (2^63 - 1 bytes)", name,
                f->current_size);
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
parse_locator (const uint8_t *p, struct vhd_locator *l)
{
  memcpy (l->code, p, 4);
  l->code[4] = '\0';
  l->data_space = xd_be32 (p + 4);
  l->data_length = xd_be32 (p + 8);
  l->data_offset = xd_be64 (p + 16);
  return 0;
}

int
vhd_read_dyn_header (struct xd_io *io, uint64_t offset,
                     struct vhd_dyn_header *h)
{
  uint8_t buf[VHD_DYN_HEADER_SIZE];
  uint32_t stored, computed;
  size_t i;

  if (xd_io_read (io, buf, sizeof buf, offset, "VHD dynamic header") == -1)
    return -1;
  if (memcmp (buf, VHD_DYN_COOKIE, 8) != 0) {
    xd_error ("%s: VHD dynamic header at offset %" PRIu64
              " has no \"cxsparse\" cookie", io->name, offset);
    errno = EIO;
    return -1;
  }
  stored = xd_be32 (buf + VHD_DYN_CHECKSUM);
  computed = vhd_checksum (buf, sizeof buf, VHD_DYN_CHECKSUM);
  if (stored != computed) {
    xd_error ("%s: VHD dynamic header checksum mismatch (stored 0x%08x, "
              "computed 0x%08x)", io->name, stored, computed);
    errno = EIO;
    return -1;
  }
  h->table_offset = xd_be64 (buf + VHD_DYN_TABLE_OFFSET);
  h->max_table_entries = xd_be32 (buf + VHD_DYN_MAX_TABLE_ENTRIES);
  h->block_size = xd_be32 (buf + VHD_DYN_BLOCK_SIZE);
  memcpy (h->parent_uuid, buf + VHD_DYN_PARENT_UUID, 16);
  h->parent_timestamp = xd_be32 (buf + VHD_DYN_PARENT_TIMESTAMP);
  for (i = 0; i < VHD_NR_LOCATORS; i++)
    parse_locator (buf + VHD_DYN_LOCATORS + 24 * i, &h->locators[i]);

  if (!xd_is_power_of_2 (h->block_size) ||
      h->block_size < VHD_MIN_BLOCK_SIZE ||
      h->block_size > VHD_MAX_BLOCK_SIZE) {
    xd_error ("%s: VHD dynamic header block size %" PRIu32
              " is not a power of 2 between %u and %u", io->name,
              h->block_size, VHD_MIN_BLOCK_SIZE, VHD_MAX_BLOCK_SIZE);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* qemu and Virtual PC showed the guest the CHS size, and qemu still does
 * for these creators; everybody else (Hyper-V, Azure, Disk2vhd, Xen,
 * qemu with force_size = "qem2") means the current size.
 */
static bool
creator_uses_geometry (const struct vhd_footer *f)
{
  return strcmp (f->creator_app, "vpc ") == 0 ||
    strcmp (f->creator_app, "qemu") == 0;
}

uint64_t
vhd_disk_size (const struct vhd_footer *f, enum vhd_size_mode mode,
               const char *name)
{
  uint64_t chs = (uint64_t) f->cylinders * f->heads * f->sectors * 512;
  bool geometry;

  switch (mode) {
  case VHD_SIZE_CURRENT: geometry = false; break;
  case VHD_SIZE_GEOMETRY: geometry = true; break;
  default:
    geometry = creator_uses_geometry (f);
    /* The largest geometry means "too big for CHS": qemu then uses the
     * current size too.
     */
    if (f->cylinders == 65535 && f->heads == 16 && f->sectors == 255)
      geometry = false;
    break;
  }
  if (chs != f->current_size)
    xd_debug ("%s: VHD current size %" PRIu64 " differs from the CHS size "
              "%" PRIu64 " (%u/%u/%u, creator \"%s\"): serving the %s size",
              name, f->current_size, chs, f->cylinders, f->heads, f->sectors,
              f->creator_app, geometry ? "CHS" : "current");
  return geometry ? chs : f->current_size;
}
