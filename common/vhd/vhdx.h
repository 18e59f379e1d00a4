/* xdisk: Microsoft VHDX ([MS-VHDX]) on-disk structures.
 *
 * All fields are little-endian; GUIDs are stored as Windows does (first
 * three fields little-endian).
 */
#ifndef XDISK_VHDX_H
#define XDISK_VHDX_H

#include <stdbool.h>
#include <stdint.h>

#include "io/xd-io.h"

#define VHDX_FILE_ID "vhdxfile"
#define VHDX_HEADER1_OFFSET (64u << 10)
#define VHDX_HEADER2_OFFSET (128u << 10)
#define VHDX_HEADER_SIZE 4096
#define VHDX_REGION1_OFFSET (192u << 10)
#define VHDX_REGION2_OFFSET (256u << 10)
#define VHDX_REGION_SIZE (64u << 10)
#define VHDX_REGION_MAX_ENTRIES 2047
#define VHDX_METADATA_TABLE_SIZE (64u << 10)
#define VHDX_METADATA_MAX_ENTRIES 2047
#define VHDX_MIN_BLOCK_SIZE (1u << 20)
#define VHDX_MAX_BLOCK_SIZE (256u << 20)

/* BAT entry payload / sector bitmap states (low 3 bits). */
#define VHDX_BAT_NOT_PRESENT 0
#define VHDX_BAT_UNDEFINED 1
#define VHDX_BAT_ZERO 2
#define VHDX_BAT_UNMAPPED 3
#define VHDX_BAT_FULLY_PRESENT 6
#define VHDX_BAT_PARTIALLY_PRESENT 7
#define VHDX_BAT_STATE(e) ((unsigned) ((e) & 7))
#define VHDX_BAT_OFFSET(e) (((e) >> 20) << 20)   /* bytes */

/* GUIDs of the regions, metadata items and the parent locator type, as
 * stored in the file.
 */
extern const uint8_t vhdx_guid_bat[16], vhdx_guid_metadata[16];
extern const uint8_t vhdx_guid_file_params[16], vhdx_guid_disk_size[16];
extern const uint8_t vhdx_guid_page83[16], vhdx_guid_logical_sector[16];
extern const uint8_t vhdx_guid_physical_sector[16];
extern const uint8_t vhdx_guid_parent_locator[16];
extern const uint8_t vhdx_guid_vhdx_locator_type[16];

struct vhdx_header {
  uint64_t sequence;
  uint8_t file_write_guid[16];
  uint8_t data_write_guid[16];
  uint8_t log_guid[16];
  uint32_t log_length;
  uint64_t log_offset;
};

struct vhdx_info {
  struct vhdx_header header;    /* the current header */
  int current_header;           /* 1 or 2 */
  uint64_t bat_offset;
  uint32_t bat_length;
  uint64_t metadata_offset;
  uint32_t metadata_length;
  uint32_t block_size;
  bool leave_blocks_allocated;
  bool has_parent;
  uint64_t disk_size;
  uint32_t logical_sector_size;
  uint32_t physical_sector_size;
  uint64_t chunk_ratio;         /* data blocks per sector bitmap block */
  uint64_t data_blocks;
  uint64_t bat_entries;         /* entries the BAT must hold */
  /* Parent locator key/values (malloc'd UTF-8, or NULL). */
  char *parent_linkage;
  char *parent_linkage2;
  char *relative_path;
  char *volume_path;
  char *absolute_win32_path;
};

/* True if IO begins with the VHDX file identifier. */
extern bool vhdx_probe (struct xd_io *io);

/* Parse headers, region table and metadata of IO into INFO.  Returns 0,
 * or -1 after reporting an error (errno EIO).
 */
extern int vhdx_read_info (struct xd_io *io, struct vhdx_info *info);
extern void vhdx_info_free (struct vhdx_info *info);

/* Read both headers and choose the current one (into INFO->header). */
extern int vhdx_read_headers (struct xd_io *io, struct vhdx_info *info);

/* If header H has a LogGuid, find the active log sequence of IO and
 * replay it in memory: *OUT becomes an xd_io that reads IO with the log
 * applied (it owns IO from then on), *ENTRIES the entries replayed.  With
 * nothing to replay *OUT is IO.  Returns 0 or -1 after reporting.
 */
extern int vhdx_replay_log (struct xd_io *io, const struct vhdx_header *h,
                            struct xd_io **out, unsigned *entries);

/* Parse one 4 KiB header (checks signature, CRC, version). */
extern int vhdx_parse_header (const uint8_t *buf, struct vhdx_header *h);

/* Check a 64 KiB region table; returns 0 or -1 without reporting,
 * setting *WHY to a reason.
 */
extern int vhdx_check_region_table (const uint8_t *buf, const char **why);

/* Index in the BAT of data block B and of the sector bitmap of chunk C. */
static inline uint64_t
vhdx_bat_index_of_block (const struct vhdx_info *info, uint64_t b)
{
  return b + b / info->chunk_ratio;
}

static inline uint64_t
vhdx_bat_index_of_bitmap (const struct vhdx_info *info, uint64_t c)
{
  return c * (info->chunk_ratio + 1) + info->chunk_ratio;
}

#endif /* XDISK_VHDX_H */
