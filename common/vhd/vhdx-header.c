/* xdisk: VHDX headers, region tables and metadata. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhdx.h"
#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "core/xd-guid.h"
#include "include/xd-math.h"
#include "include/xd-report.h"
#include "core/xd-text.h"

/* The GUIDs of the VHDX specification, as it writes them. */
const uint8_t vhdx_guid_bat[16] =
  XD_GUID_BYTES (0x2dc27766, 0xf623, 0x4200, 0x9d64, 0x115e9bfd4a08);
const uint8_t vhdx_guid_metadata[16] =
  XD_GUID_BYTES (0x8b7ca206, 0x4790, 0x4b9a, 0xb8fe, 0x575f050f886e);
const uint8_t vhdx_guid_file_params[16] =
  XD_GUID_BYTES (0xcaa16737, 0xfa36, 0x4d43, 0xb3b6, 0x33f0aa44e76b);
const uint8_t vhdx_guid_disk_size[16] =
  XD_GUID_BYTES (0x2fa54224, 0xcd1b, 0x4876, 0xb211, 0x5dbed83bf4b8);
const uint8_t vhdx_guid_page83[16] =
  XD_GUID_BYTES (0xbeca12ab, 0xb2e6, 0x4523, 0x93ef, 0xc309e000c746);
const uint8_t vhdx_guid_logical_sector[16] =
  XD_GUID_BYTES (0x8141bf1d, 0xa96f, 0x4709, 0xba47, 0xf233a8faab5f);
const uint8_t vhdx_guid_physical_sector[16] =
  XD_GUID_BYTES (0xcda348c7, 0x445d, 0x4471, 0x9cc9, 0xe9885251c556);
const uint8_t vhdx_guid_parent_locator[16] =
  XD_GUID_BYTES (0xa8d35f2d, 0xb30b, 0x454d, 0xabf7, 0xd3d84834ab0c);
const uint8_t vhdx_guid_vhdx_locator_type[16] =
  XD_GUID_BYTES (0xb04aefb7, 0xd19e, 0x4a81, 0xb789, 0x25b8e9445913);

bool
vhdx_probe (struct xd_io *io)
{
  char id[8];

  if (io->size < 8 || io->ops->pread (io, id, 8, 0) == -1)
    return false;
  return memcmp (id, VHDX_FILE_ID, 8) == 0;
}

int
vhdx_parse_header (const uint8_t *buf, struct vhdx_header *h)
{
  if (memcmp (buf, "head", 4) != 0)
    return -1;
  if (xd_le32 (buf + 4) !=
      xd_crc32c_skip_field (buf, VHDX_HEADER_SIZE, 4))
    return -1;
  if (xd_le16 (buf + 66) != 1)
    return -1;
  h->sequence = xd_le64 (buf + 8);
  memcpy (h->file_write_guid, buf + 16, 16);
  memcpy (h->data_write_guid, buf + 32, 16);
  memcpy (h->log_guid, buf + 48, 16);
  h->log_length = xd_le32 (buf + 68);
  h->log_offset = xd_le64 (buf + 72);
  return 0;
}

int
vhdx_read_headers (struct xd_io *io, struct vhdx_info *info)
{
  uint8_t buf[VHDX_HEADER_SIZE];
  struct vhdx_header h[2];
  bool ok[2];
  int i;

  for (i = 0; i < 2; i++) {
    uint64_t off = i == 0 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET;
    if (xd_io_read (io, buf, sizeof buf, off, "VHDX header") == -1)
      return -1;
    ok[i] = vhdx_parse_header (buf, &h[i]) == 0;
    if (!ok[i])
      xd_debug ("%s: VHDX header %d is not valid (signature, checksum or "
                "version)", io->name, i + 1);
  }
  if (!ok[0] && !ok[1]) {
    xd_error ("%s: both VHDX headers are invalid (bad signature, checksum "
              "or version)", io->name);
    errno = EIO;
    return -1;
  }
  if (ok[0] && ok[1] && h[0].sequence == h[1].sequence &&
      memcmp (&h[0], &h[1], sizeof h[0]) != 0)
    xd_debug ("%s: both VHDX headers have sequence number %" PRIu64,
              io->name, h[0].sequence);
  i = !ok[0] ? 1 : !ok[1] ? 0 : h[1].sequence > h[0].sequence ? 1 : 0;
  info->header = h[i];
  info->current_header = i + 1;
  return 0;
}

int
vhdx_check_region_table (const uint8_t *buf, const char **why)
{
  if (memcmp (buf, "regi", 4) != 0) {
    *why = "bad signature";
    return -1;
  }
  if (xd_le32 (buf + 4) != xd_crc32c_skip_field (buf, VHDX_REGION_SIZE, 4)) {
    *why = "checksum mismatch";
    return -1;
  }
  if (xd_le32 (buf + 8) > VHDX_REGION_MAX_ENTRIES) {
    *why = "too many entries";
    return -1;
  }
  return 0;
}

/* A region must be 1 MiB aligned, inside the file, past the first 1 MiB
 * (headers and region tables) and not overlap the other region.
 */
static int
check_region (struct xd_io *io, const char *what, uint64_t off,
              uint64_t len)
{
  uint64_t end;

  if (off % (1u << 20) != 0 || len % (1u << 20) != 0 || len == 0) {
    xd_error ("%s: VHDX region table: %s region offset %" PRIu64
              " or length %" PRIu64 " is not a multiple of 1 MiB",
              io->name, what, off, len);
    errno = EIO;
    return -1;
  }
  if (off < (1u << 20)) {
    xd_error ("%s: VHDX region table: %s region at %" PRIu64
              " overlaps the headers", io->name, what, off);
    errno = EIO;
    return -1;
  }
  if (xd_add_overflow (off, len, &end) || end > io->size) {
    xd_error ("%s: VHDX region table: %s region at %" PRIu64 " length %"
              PRIu64 " is beyond the end of the file", io->name, what,
              off, len);
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
read_region_table (struct xd_io *io, struct vhdx_info *info)
{
  uint8_t *buf = malloc (VHDX_REGION_SIZE);
  const char *why = NULL;
  uint32_t n, i;
  bool have_bat = false, have_meta = false;
  int t, r = -1;

  if (buf == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  for (t = 0; t < 2; t++) {
    uint64_t off = t == 0 ? VHDX_REGION1_OFFSET : VHDX_REGION2_OFFSET;
    if (xd_io_read (io, buf, VHDX_REGION_SIZE, off,
                    "VHDX region table") == -1)
      goto out;
    if (vhdx_check_region_table (buf, &why) == 0)
      break;
    xd_debug ("%s: VHDX region table %d: %s", io->name, t + 1, why);
  }
  if (t == 2) {
    xd_error ("%s: both VHDX region tables are invalid: %s%s", io->name,
              why, strstr (why, "checksum") ? "" : " (checksum not reached)");
    errno = EIO;
    goto out;
  }
  n = xd_le32 (buf + 8);
  for (i = 0; i < n; i++) {
    const uint8_t *e = buf + 16 + 32 * i;
    uint64_t off = xd_le64 (e + 16);
    uint32_t len = xd_le32 (e + 24);
    bool required = xd_le32 (e + 28) & 1;

    if (memcmp (e, vhdx_guid_bat, 16) == 0 && !have_bat) {
      if (check_region (io, "BAT", off, len) == -1)
        goto out;
      info->bat_offset = off;
      info->bat_length = len;
      have_bat = true;
    }
    else if (memcmp (e, vhdx_guid_metadata, 16) == 0 && !have_meta) {
      if (check_region (io, "metadata", off, len) == -1)
        goto out;
      info->metadata_offset = off;
      info->metadata_length = len;
      have_meta = true;
    }
    else if (required) {
      xd_error ("%s: VHDX region table has an unknown or duplicate "
                "required region", io->name);
      errno = EIO;
      goto out;
    }
  }
  if (!have_bat || !have_meta) {
    xd_error ("%s: VHDX region table has no %s region", io->name,
              have_bat ? "metadata" : "BAT");
    errno = EIO;
    goto out;
  }
  if (info->bat_offset < info->metadata_offset + info->metadata_length &&
      info->metadata_offset < info->bat_offset + info->bat_length) {
    xd_error ("%s: VHDX region table: the BAT region overlaps the "
              "metadata region", io->name);
    errno = EIO;
    goto out;
  }
  r = 0;
 out:
  free (buf);
  return r;
}

static int
bad_item (struct xd_io *io, const char *what)
{
  xd_error ("%s: VHDX metadata: %s", io->name, what);
  errno = EIO;
  return -1;
}

static char *
locator_string (const uint8_t *item, uint32_t item_len, uint32_t off,
                uint16_t len)
{
  if ((uint64_t) off + len > item_len)
    return NULL;
  return xd_utf16le_to_utf8 (item + off, len);
}

static int
parse_parent_locator (struct xd_io *io, const uint8_t *item, uint32_t len,
                      struct vhdx_info *info)
{
  uint16_t n, i;

  if (len < 20)
    return bad_item (io, "parent locator is too short");
  if (memcmp (item, vhdx_guid_vhdx_locator_type, 16) != 0)
    return bad_item (io, "parent locator type is not the VHDX type");
  n = xd_le16 (item + 18);
  if (20 + 12 * (uint64_t) n > len)
    return bad_item (io, "parent locator entries are beyond the item");
  for (i = 0; i < n; i++) {
    const uint8_t *e = item + 20 + 12 * i;
    char *key = locator_string (item, len, xd_le32 (e), xd_le16 (e + 8));
    char *value = locator_string (item, len, xd_le32 (e + 4),
                                  xd_le16 (e + 10));
    char **slot = NULL;

    if (key == NULL || value == NULL) {
      free (key);
      free (value);
      return bad_item (io, "parent locator entry is beyond the item or "
                       "not valid UTF-16");
    }
    if (strcmp (key, "parent_linkage") == 0) slot = &info->parent_linkage;
    else if (strcmp (key, "parent_linkage2") == 0)
      slot = &info->parent_linkage2;
    else if (strcmp (key, "relative_path") == 0) slot = &info->relative_path;
    else if (strcmp (key, "volume_path") == 0) slot = &info->volume_path;
    else if (strcmp (key, "absolute_win32_path") == 0)
      slot = &info->absolute_win32_path;
    free (key);
    if (slot && *slot == NULL)
      *slot = value;
    else
      free (value);
  }
  if (info->parent_linkage == NULL)
    return bad_item (io, "parent locator has no parent_linkage");
  return 0;
}

static int
parse_item (struct xd_io *io, const uint8_t *id, const uint8_t *item,
            uint32_t len, bool required, struct vhdx_info *info,
            unsigned *seen)
{
  if (memcmp (id, vhdx_guid_file_params, 16) == 0 && len >= 8) {
    info->block_size = xd_le32 (item);
    info->leave_blocks_allocated = xd_le32 (item + 4) & 1;
    info->has_parent = xd_le32 (item + 4) & 2;
    *seen |= 1;
  }
  else if (memcmp (id, vhdx_guid_disk_size, 16) == 0 && len >= 8) {
    info->disk_size = xd_le64 (item);
    *seen |= 2;
  }
  else if (memcmp (id, vhdx_guid_logical_sector, 16) == 0 && len >= 4) {
    info->logical_sector_size = xd_le32 (item);
    *seen |= 4;
  }
  else if (memcmp (id, vhdx_guid_physical_sector, 16) == 0 && len >= 4) {
    info->physical_sector_size = xd_le32 (item);
    *seen |= 8;
  }
  else if (memcmp (id, vhdx_guid_page83, 16) == 0)
    ;
  else if (memcmp (id, vhdx_guid_parent_locator, 16) == 0) {
    if (parse_parent_locator (io, item, len, info) == -1)
      return -1;
    *seen |= 16;
  }
  else if (required)
    return bad_item (io, "unknown required metadata item");
  return 0;
}

static int
read_metadata (struct xd_io *io, struct vhdx_info *info)
{
  uint8_t *table = malloc (VHDX_METADATA_TABLE_SIZE);
  uint8_t *item = NULL;
  unsigned seen = 0;
  uint16_t n, i;
  int r = -1;

  if (table == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  if (xd_io_read (io, table, VHDX_METADATA_TABLE_SIZE,
                  info->metadata_offset, "VHDX metadata table") == -1)
    goto out;
  if (memcmp (table, "metadata", 8) != 0) {
    bad_item (io, "metadata table signature is not \"metadata\"");
    goto out;
  }
  n = xd_le16 (table + 10);
  if (n > VHDX_METADATA_MAX_ENTRIES) {
    bad_item (io, "metadata table has too many entries");
    goto out;
  }
  for (i = 0; i < n; i++) {
    const uint8_t *e = table + 32 + 32 * i;
    uint32_t off = xd_le32 (e + 16), len = xd_le32 (e + 20);
    bool required = xd_le32 (e + 24) & 4;

    if (len == 0)
      continue;
    if (off < VHDX_METADATA_TABLE_SIZE ||
        (uint64_t) off + len > info->metadata_length ||
        len > (1u << 20)) {
      bad_item (io, "metadata item is outside the metadata region");
      goto out;
    }
    item = malloc (len);
    if (item == NULL) {
      xd_error ("malloc: %m");
      goto out;
    }
    if (xd_io_read (io, item, len, info->metadata_offset + off,
                    "VHDX metadata item") == -1 ||
        parse_item (io, e, item, len, required, info, &seen) == -1)
      goto out;
    free (item);
    item = NULL;
  }
  if ((seen & 15) != 15) {
    bad_item (io, "a required metadata item (file parameters, virtual "
              "disk size, sector sizes) is missing");
    goto out;
  }
  r = 0;
 out:
  free (item);
  free (table);
  return r;
}

static int
check_parameters (struct xd_io *io, struct vhdx_info *info)
{
  uint64_t bat_bytes, sb;

  if (!xd_is_power_of_2 (info->block_size) ||
      info->block_size < VHDX_MIN_BLOCK_SIZE ||
      info->block_size > VHDX_MAX_BLOCK_SIZE) {
    xd_error ("%s: VHDX block size %" PRIu32 " is not a power of 2 between "
              "1 MiB and 256 MiB", io->name, info->block_size);
    errno = EIO;
    return -1;
  }
  if (info->logical_sector_size != 512 && info->logical_sector_size != 4096)
    return bad_item (io, "logical sector size is not 512 or 4096");
  if (info->physical_sector_size != 512 &&
      info->physical_sector_size != 4096)
    return bad_item (io, "physical sector size is not 512 or 4096");
  if (info->disk_size == 0 || info->disk_size > (UINT64_C (64) << 40) ||
      info->disk_size % info->logical_sector_size != 0)
    return bad_item (io, "virtual disk size is 0, above 64 TiB or not a "
                     "multiple of the logical sector size");
  if (info->has_parent && info->parent_linkage == NULL)
    return bad_item (io, "differencing disk has no parent locator");
  info->chunk_ratio = ((UINT64_C (1) << 23) * info->logical_sector_size) /
    info->block_size;
  info->data_blocks = xd_div_round_up (info->disk_size, info->block_size);
  if (info->has_parent) {
    sb = xd_div_round_up (info->data_blocks, info->chunk_ratio);
    info->bat_entries = sb * (info->chunk_ratio + 1);
  }
  else
    info->bat_entries = info->data_blocks +
      (info->data_blocks - 1) / info->chunk_ratio;
  bat_bytes = info->bat_entries * 8;
  if (bat_bytes > info->bat_length) {
    xd_error ("%s: VHDX BAT region (%" PRIu32 " bytes) is too small for %"
              PRIu64 " entries", io->name, info->bat_length,
              info->bat_entries);
    errno = EIO;
    return -1;
  }
  return 0;
}

int
vhdx_read_info (struct xd_io *io, struct vhdx_info *info)
{
  memset (info, 0, sizeof *info);
  if (vhdx_read_headers (io, info) == -1 ||
      read_region_table (io, info) == -1 ||
      read_metadata (io, info) == -1 ||
      check_parameters (io, info) == -1) {
    vhdx_info_free (info);
    return -1;
  }
  return 0;
}

void
vhdx_info_free (struct vhdx_info *info)
{
  free (info->parent_linkage);
  free (info->parent_linkage2);
  free (info->relative_path);
  free (info->volume_path);
  free (info->absolute_win32_path);
  memset (info, 0, sizeof *info);
}
