/* xdisk: VDI pre-header and header parsing, see vdi.h. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vdi/vdi.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"

bool
vdi_probe (const uint8_t *head, size_t len)
{
  return len >= VDI_PRE_HEADER_SIZE &&
    xd_le32 (head + VDI_SIGNATURE_OFFSET) == VDI_SIGNATURE;
}

const char *
vdi_type_name (uint32_t type)
{
  switch (type) {
  case VDI_TYPE_NORMAL: return "dynamic";
  case VDI_TYPE_FIXED: return "fixed";
  case VDI_TYPE_UNDO: return "undo";
  case VDI_TYPE_DIFF: return "differencing";
  default: return "unknown";
  }
}

uint64_t
vdi_blocks_in_use (const struct vdi_header *h)
{
  return xd_div_round_up (h->disk_size, h->block_size);
}

static int
bad (const char *name, const char *field, const char *fmt, uint64_t value)
{
  char why[128];

  snprintf (why, sizeof why, fmt, value);
  xd_error ("%s: VDI header: %s %s", name, field, why);
  errno = EIO;
  return -1;
}

/* Copy a NUL-padded text field, keeping printable ASCII and UTF-8
 * bytes and replacing control characters (the banner ends in '\n').
 */
static void
copy_text (char *out, const uint8_t *in, size_t len)
{
  size_t i;

  for (i = 0; i < len && in[i]; i++)
    out[i] = in[i] < 0x20 || in[i] == 0x7f ? ' ' : (char) in[i];
  while (i > 0 && out[i - 1] == ' ')
    i--;
  out[i] = '\0';
}

static void
decode_v0 (const uint8_t *buf, struct vdi_header *h)
{
  h->header_size = VDI0_HEADER_SIZE;
  h->type = xd_le32 (buf + VDI0_TYPE);
  h->flags = xd_le32 (buf + VDI0_FLAGS);
  copy_text (h->comment, buf + VDI0_COMMENT, VDI_COMMENT_SIZE);
  h->disk_size = xd_le64 (buf + VDI0_DISK_SIZE);
  h->block_size = xd_le32 (buf + VDI0_BLOCK_SIZE);
  h->block_extra = 0;
  h->blocks = xd_le32 (buf + VDI0_BLOCKS);
  h->blocks_allocated = xd_le32 (buf + VDI0_BLOCKS_ALLOCATED);
  memcpy (h->uuid_create, buf + VDI0_UUID_CREATE, 16);
  memcpy (h->uuid_modify, buf + VDI0_UUID_MODIFY, 16);
  memcpy (h->uuid_linkage, buf + VDI0_UUID_LINKAGE, 16);
  memset (h->uuid_parent_modify, 0, 16);
  /* The map follows the header, the data follows the map. */
  h->blocks_offset = VDI_PRE_HEADER_SIZE + VDI0_HEADER_SIZE;
  h->data_offset = h->blocks_offset + (uint64_t) h->blocks * 4;
}

static void
decode_v1 (const uint8_t *buf, struct vdi_header *h)
{
  h->header_size = xd_le32 (buf + VDI1_HEADER_SIZE);
  h->type = xd_le32 (buf + VDI1_TYPE);
  h->flags = xd_le32 (buf + VDI1_FLAGS);
  copy_text (h->comment, buf + VDI1_COMMENT, VDI_COMMENT_SIZE);
  h->blocks_offset = xd_le32 (buf + VDI1_BLOCKS_OFFSET);
  h->data_offset = xd_le32 (buf + VDI1_DATA_OFFSET);
  h->disk_size = xd_le64 (buf + VDI1_DISK_SIZE);
  h->block_size = xd_le32 (buf + VDI1_BLOCK_SIZE);
  h->block_extra = xd_le32 (buf + VDI1_BLOCK_EXTRA);
  h->blocks = xd_le32 (buf + VDI1_BLOCKS);
  h->blocks_allocated = xd_le32 (buf + VDI1_BLOCKS_ALLOCATED);
  memcpy (h->uuid_create, buf + VDI1_UUID_CREATE, 16);
  memcpy (h->uuid_modify, buf + VDI1_UUID_MODIFY, 16);
  memcpy (h->uuid_linkage, buf + VDI1_UUID_LINKAGE, 16);
  memcpy (h->uuid_parent_modify, buf + VDI1_UUID_PARENT_MODIFY, 16);
}

/* Version 1.x only: the header's own size and the two offsets. */
static int
check_v1_layout (const char *name, const struct vdi_header *h)
{
  uint64_t map_end;

  if (h->header_size < VDI1_MIN_HEADER_SIZE)
    return bad (name, "header size", "%" PRIu64 " is less than 384",
                h->header_size);
  if (h->blocks_offset < VDI_PRE_HEADER_SIZE + (uint64_t) h->header_size)
    return bad (name, "block map offset", "%" PRIu64 " is inside the header",
                h->blocks_offset);
  map_end = h->blocks_offset + (uint64_t) h->blocks * 4;
  if (h->data_offset < map_end)
    return bad (name, "data offset", "%" PRIu64 " is inside the block map",
                h->data_offset);
  return 0;
}

static int
check_sizes (const char *name, const struct vdi_header *h)
{
  if (h->type < VDI_TYPE_NORMAL || h->type > VDI_TYPE_DIFF)
    return bad (name, "image type", "%" PRIu64 " is not 1 to 4", h->type);
  if (!xd_is_power_of_2 (h->block_size) ||
      h->block_size < VDI_MIN_BLOCK_SIZE || h->block_size > VDI_MAX_BLOCK_SIZE)
    return bad (name, "block size", "%" PRIu64 " is not a power of 2 from "
                "512 bytes to 256 MiB", h->block_size);
  if (h->block_extra != 0 &&
      (!xd_is_power_of_2 (h->block_extra) ||
       h->block_extra > VDI_MAX_BLOCK_SIZE))
    return bad (name, "block extra data size", "%" PRIu64 " is not 0 or a "
                "power of 2 up to 256 MiB", h->block_extra);
  if (h->disk_size == 0)
    return bad (name, "disk size", "is %" PRIu64, 0);
  if (h->blocks == 0)
    return bad (name, "block count", "is %" PRIu64, 0);
  if ((uint64_t) h->blocks * h->block_size < h->disk_size)
    return bad (name, "block count", "%" PRIu64 " is too small for the "
                "disk size", h->blocks);
  if (h->blocks_allocated > h->blocks)
    return bad (name, "allocated block count", "%" PRIu64 " is more than "
                "the block count", h->blocks_allocated);
  if (h->type == VDI_TYPE_DIFF && xd_guid_is_null (h->uuid_linkage)) {
    xd_error ("%s: VDI header: parent UUID is null in a differencing image",
              name);
    errno = EIO;
    return -1;
  }
  return 0;
}

int
vdi_parse_header (const uint8_t *buf, size_t len, const char *name,
                  struct vdi_header *h)
{
  uint32_t version;
  size_t need;

  memset (h, 0, sizeof *h);
  if (!vdi_probe (buf, len)) {
    xd_error ("%s: not a VDI file (no signature 0xbeda107f at offset 0x40)",
              name);
    errno = EIO;
    return -1;
  }
  copy_text (h->banner, buf, VDI_BANNER_SIZE);
  version = xd_le32 (buf + VDI_VERSION_OFFSET);
  h->major = version >> 16;
  h->minor = version & 0xffff;
  if (h->major > 1 || (h->major == 1 && h->minor > 1)) {
    xd_error ("%s: unsupported VDI header version %u.%u (only 0.x, 1.0 and "
              "1.1 are known)", name, h->major, h->minor);
    errno = EIO;
    return -1;
  }
  need = VDI_PRE_HEADER_SIZE + (h->major == 0 ? VDI0_HEADER_SIZE
                                : VDI1_MIN_HEADER_SIZE);
  if (len < need) {
    xd_error ("%s: VDI header is truncated (the file has %zu bytes, the "
              "header needs %zu)", name, len, need);
    errno = EIO;
    return -1;
  }
  if (h->major == 0)
    decode_v0 (buf, h);
  else {
    decode_v1 (buf, h);
    if (check_v1_layout (name, h) == -1)
      return -1;
  }
  return check_sizes (name, h);
}

int
vdi_read_header (struct xd_io *io, struct vdi_header *h)
{
  uint8_t buf[VDI_HEAD_BYTES];
  size_t len = (size_t) xd_min_u64 (io->size, sizeof buf);
  uint64_t map_end;

  if (xd_io_read (io, buf, len, 0, "VDI header") == -1 ||
      vdi_parse_header (buf, len, io->name, h) == -1)
    return -1;
  /* Entries past the disk's last block are never read. */
  map_end = h->blocks_offset + vdi_blocks_in_use (h) * 4;
  if (map_end > io->size) {
    xd_error ("%s: VDI block map (offset %" PRIu64 ", %" PRIu64 " bytes) "
              "is beyond the end of the file (size %" PRIu64 ")", io->name,
              h->blocks_offset, vdi_blocks_in_use (h) * 4, io->size);
    errno = EIO;
    return -1;
  }
  return 0;
}
