/* xdisk: Microsoft VHD (Virtual PC / Hyper-V) on-disk structures.
 *
 * All multi-byte fields are big-endian.  The footer (512 bytes) is at the
 * end of every VHD, and a copy of it at offset 0 of dynamic and
 * differencing disks.  Offsets below are byte offsets in the structure;
 * they are also used by the test-image generator.
 */
#ifndef XDISK_VHD_H
#define XDISK_VHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"

#define VHD_FOOTER_SIZE 512
#define VHD_FOOTER_COOKIE "conectix"
#define VHD_FOOTER_CREATOR_APP 28      /* 4 bytes */
#define VHD_FOOTER_CREATOR_VERSION 32  /* be16 major, be16 minor */
#define VHD_FOOTER_DATA_OFFSET 16      /* be64 */
#define VHD_FOOTER_TIMESTAMP 24        /* be32 */
#define VHD_FOOTER_ORIGINAL_SIZE 40    /* be64 */
#define VHD_FOOTER_CURRENT_SIZE 48     /* be64 */
#define VHD_FOOTER_GEOMETRY 56         /* be16 cyl, u8 heads, u8 sectors */
#define VHD_FOOTER_DISK_TYPE 60        /* be32 */
#define VHD_FOOTER_CHECKSUM 64         /* be32 */
#define VHD_FOOTER_UNIQUE_ID 68        /* 16 bytes */

#define VHD_DYN_HEADER_SIZE 1024
#define VHD_DYN_COOKIE "cxsparse"
#define VHD_DYN_TABLE_OFFSET 16        /* be64 */
#define VHD_DYN_MAX_TABLE_ENTRIES 28   /* be32 */
#define VHD_DYN_BLOCK_SIZE 32          /* be32 */
#define VHD_DYN_CHECKSUM 36            /* be32 */
#define VHD_DYN_PARENT_UUID 40         /* 16 bytes */
#define VHD_DYN_PARENT_TIMESTAMP 56    /* be32 */
#define VHD_DYN_PARENT_NAME 64         /* 512 bytes UTF-16BE */
#define VHD_DYN_LOCATORS 576           /* 8 x 24 bytes */
#define VHD_NR_LOCATORS 8

#define VHD_TYPE_FIXED 2
#define VHD_TYPE_DYNAMIC 3
#define VHD_TYPE_DIFF 4

#define VHD_BAT_UNUSED 0xFFFFFFFFu

/* Block sizes we accept: 512 bytes to 256 MiB, a power of 2. */
#define VHD_MIN_BLOCK_SIZE 512u
#define VHD_MAX_BLOCK_SIZE (256u << 20)

struct vhd_footer {
  char creator_app[5];
  uint16_t creator_major, creator_minor;
  uint32_t timestamp;
  uint64_t data_offset;
  uint64_t current_size;
  uint16_t cylinders;
  uint8_t heads, sectors;
  uint32_t disk_type;
  uint8_t unique_id[16];
};

struct vhd_locator {
  char code[5];                 /* platform code: W2ru, W2ku, Mac X, ... */
  uint32_t data_space;          /* bytes reserved */
  uint32_t data_length;         /* bytes used */
  uint64_t data_offset;
};

struct vhd_dyn_header {
  uint64_t table_offset;
  uint32_t max_table_entries;
  uint32_t block_size;
  uint8_t parent_uuid[16];
  uint32_t parent_timestamp;
  struct vhd_locator locators[VHD_NR_LOCATORS];
};

/* One's complement of the byte sum of BUF, with the 4 bytes at
 * CHECKSUM_FIELD counted as zero.
 */
extern uint32_t vhd_checksum (const void *buf, size_t len,
                              size_t checksum_field);

/* Validate and decode a 512-byte footer read from NAME.  WHERE is "end"
 * or "start" for messages.  QUIET suppresses the error (sets errno only).
 * Returns 0 or -1 with errno = EIO.
 */
extern int vhd_parse_footer (const uint8_t *buf, const char *name,
                             bool quiet, struct vhd_footer *f);

/* Read and validate the dynamic header at OFFSET of IO. */
extern int vhd_read_dyn_header (struct xd_io *io, uint64_t offset,
                                struct vhd_dyn_header *h);

/* Size served for footer F: MODE is 0 auto, 1 current, 2 geometry. */
enum vhd_size_mode { VHD_SIZE_AUTO, VHD_SIZE_CURRENT, VHD_SIZE_GEOMETRY };
extern uint64_t vhd_disk_size (const struct vhd_footer *f,
                               enum vhd_size_mode mode, const char *name);

#endif /* XDISK_VHD_H */
