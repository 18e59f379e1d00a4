/* xdisk: VirtualBox VDI on-disk structures.
 *
 * A VDI starts with a 72-byte pre-header: 64 bytes of banner text (for
 * eyes only: every writer puts its own there), the signature 0xbeda107f
 * at 0x40 and the header version (major << 16 | minor) at 0x44.  The
 * header follows at 0x48.  Version 1.x headers name their own size
 * (384 bytes as qemu writes them, 400 bytes with the LCHS geometry as
 * VirtualBox writes them), the block map offset and the data offset;
 * version 0.x headers are shorter and the block map follows them.
 *
 * The block map holds one little-endian 32-bit entry per block: the
 * index of the block in the data area (block i's data is at
 * data_offset + entry * (block_extra + block_size) + block_extra), or
 * VDI_BLOCK_FREE (not stored: read from the parent, zeros without one)
 * or VDI_BLOCK_ZERO (reads as zeros, hiding the parent).
 *
 * Offsets below are byte offsets in the file; the test-image generator
 * and the unit tests use them too.  All fields are little-endian.
 */
#ifndef XDISK_VDI_H
#define XDISK_VDI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"
#include "io/xd-io.h"

#define VDI_BANNER_SIZE 64
#define VDI_SIGNATURE_OFFSET 0x40
#define VDI_SIGNATURE 0xbeda107fu
#define VDI_VERSION_OFFSET 0x44
#define VDI_PRE_HEADER_SIZE 72

/* Version 1.x header fields. */
#define VDI1_HEADER_SIZE 0x48          /* u32, 384 or 400 */
#define VDI1_TYPE 0x4c
#define VDI1_FLAGS 0x50
#define VDI1_COMMENT 0x54              /* 256 bytes, UTF-8 */
#define VDI1_BLOCKS_OFFSET 0x154       /* u32 */
#define VDI1_DATA_OFFSET 0x158         /* u32 */
#define VDI1_LEGACY_GEOMETRY 0x15c     /* cyl, heads, sectors, sector size */
#define VDI1_DISK_SIZE 0x170           /* u64 */
#define VDI1_BLOCK_SIZE 0x178
#define VDI1_BLOCK_EXTRA 0x17c
#define VDI1_BLOCKS 0x180
#define VDI1_BLOCKS_ALLOCATED 0x184
#define VDI1_UUID_CREATE 0x188
#define VDI1_UUID_MODIFY 0x198
#define VDI1_UUID_LINKAGE 0x1a8
#define VDI1_UUID_PARENT_MODIFY 0x1b8
#define VDI1_LCHS_GEOMETRY 0x1c8       /* only in 400-byte headers */
#define VDI1_MIN_HEADER_SIZE 384
#define VDI1_PLUS_HEADER_SIZE 400

/* Version 0.x header fields (348 bytes, no sizes or offsets: the block
 * map follows the header, the data follows the map).
 */
#define VDI0_TYPE 0x48
#define VDI0_FLAGS 0x4c
#define VDI0_COMMENT 0x50
#define VDI0_LEGACY_GEOMETRY 0x150
#define VDI0_DISK_SIZE 0x160
#define VDI0_BLOCK_SIZE 0x168
#define VDI0_BLOCKS 0x16c
#define VDI0_BLOCKS_ALLOCATED 0x170
#define VDI0_UUID_CREATE 0x174
#define VDI0_UUID_MODIFY 0x184
#define VDI0_UUID_LINKAGE 0x194
#define VDI0_HEADER_SIZE 348

#define VDI_COMMENT_SIZE 256

/* Bytes read from the start of a file to parse its header. */
#define VDI_HEAD_BYTES 512

#define VDI_TYPE_NORMAL 1               /* dynamic */
#define VDI_TYPE_FIXED 2                /* static */
#define VDI_TYPE_UNDO 3
#define VDI_TYPE_DIFF 4

#define VDI_BLOCK_FREE 0xffffffffu
#define VDI_BLOCK_ZERO 0xfffffffeu

/* What VirtualBox writes (and what we create): the banner, header 1.1
 * of 400 bytes, the block map and the data on 1 MiB boundaries, 1 MiB
 * blocks by default.
 */
#define VDI_VBOX_BANNER "<<< Oracle VM VirtualBox Disk Image >>>\n"
#define VDI_VERSION_1_1 0x00010001u
#define VDI_DATA_ALIGN (1u << 20)
#define VDI_DEFAULT_BLOCK_SIZE (1u << 20)
#define VDI_GEOMETRY_SECTOR_SIZE 512u
/* Block sizes we create (VirtualBox's AllocationBlockSize setting takes
 * any power of two; qemu reads only 1 MiB blocks).
 */
#define VDI_CREATE_MIN_BLOCK_SIZE (512u << 10)
#define VDI_CREATE_MAX_BLOCK_SIZE (8u << 20)

/* Block sizes we accept: powers of two from 512 bytes to 256 MiB. */
#define VDI_MIN_BLOCK_SIZE 512u
#define VDI_MAX_BLOCK_SIZE (256u << 20)

struct vdi_header {
  char banner[VDI_BANNER_SIZE + 1];     /* printable text of the banner */
  unsigned major, minor;
  uint32_t header_size;
  uint32_t type;
  uint32_t flags;
  char comment[VDI_COMMENT_SIZE + 1];
  uint64_t blocks_offset;               /* of the block map */
  uint64_t data_offset;
  uint64_t disk_size;
  uint32_t block_size;
  uint32_t block_extra;
  uint32_t blocks;                      /* entries in the block map */
  uint32_t blocks_allocated;
  uint8_t uuid_create[16];
  uint8_t uuid_modify[16];
  uint8_t uuid_linkage[16];             /* parent's uuid_create */
  uint8_t uuid_parent_modify[16];       /* parent's uuid_modify (1.x) */
};

/* True if HEAD (LEN bytes from offset 0) has the VDI signature. */
extern bool vdi_probe (const uint8_t *head, size_t len);

/* Validate and decode the pre-header and header in BUF, the first LEN
 * bytes of the file NAME (LEN may be less than VDI_HEAD_BYTES for a
 * short file).  Returns 0, or -1 with errno = EIO after reporting an
 * error naming NAME and the field.  Checks that do not need the file's
 * size; see vdi_read_header.
 */
extern int vdi_parse_header (const uint8_t *buf, size_t len,
                             const char *name, struct vdi_header *h);

/* Read and validate the header of IO, and check that the block map
 * entries for the disk lie inside the file.
 */
extern int vdi_read_header (struct xd_io *io, struct vdi_header *h);

/* Number of blocks that hold the disk: the block map entries used. */
extern uint64_t vdi_blocks_in_use (const struct vdi_header *h);

/* "dynamic", "fixed", "undo", "differencing". */
extern const char *vdi_type_name (uint32_t type);

/* The location attribute (malloc'd, its character references decoded)
 * of the HardDisk element with UUID in the VirtualBox settings file TEXT
 * (NUL-terminated), or NULL.  The file is read through the project's
 * XML reader (archive/xd-xml.h): one it refuses names nothing.
 */
extern char *vdi_vbox_location (const char *text, const uint8_t uuid[16]);

/* ---- the opened image (shared by vdi-read.c, vdi-write.c and
 * vdi-create.c; not an interface for other code) ---- */

struct xd_cache;
struct vdi_writer;

struct vdi_layer {
  struct xd_io *io;
  struct vdi_header h;
  uint64_t size;                /* of the disk */
  uint64_t blocks;              /* map entries in use */
  uint64_t total_block;         /* extra data + block size */
  unsigned shift;               /* log2 of the block size */
  /* The whole map (host order), or NULL.  Entries change only in the
   * top image being written, under the writer's lock, with atomic
   * stores; readers load them atomically without the lock.  This is
   * how writes reach the read path: the reader consults no writer.
   */
  uint32_t *map;
  struct xd_cache *map_cache;   /* ... or pages of it (read-only) */
  bool has_parent;
  const char *found_by;         /* how the parent was found */
  struct vdi_layer *parent;
  /* The top image of a writable open: the writer's state (vdi-write.c
   * attaches and releases it; the reader never looks inside).
   */
  struct vdi_writer *writer;
};

/* Open the VDI in IO (and its parents) for reading, see xd_format.open
 * (OPTS->writable is not looked at).
 */
extern struct vdi_layer *vdi_layer_open (struct xd_io *io,
                                         const struct xd_resolver *res,
                                         const struct xd_open_opts *opts);
extern void vdi_layer_free (struct vdi_layer *l);

/* Read COUNT bytes at OFF of the disk L shows (parents included). */
extern int vdi_layer_read (struct vdi_layer *l, uint8_t *buf, uint64_t count,
                           uint64_t off);

/* The map entry of BLOCK (< l->blocks).  0 or -1 reported. */
extern int vdi_map_entry (struct vdi_layer *l, uint64_t block,
                          uint32_t *entry);

/* Keep the whole block map of L in memory (l->map) instead of pages of
 * it, as a writer needs.  0 or -1 reported.
 */
extern int vdi_map_keep_whole (struct vdi_layer *l);

/* ---- vdi-read.c: the reader's operations.  xd_reader_vdi (vdi-read.c)
 * and xd_format_vdi (vdi-format.c) share them through VDI_READ_FIELDS,
 * so that the two tables cannot drift apart.
 */
extern bool vdi_probe_fn (struct xd_io *io, const uint8_t *head, size_t len);
extern int vdi_config (struct xd_open_opts *opts, const char *key,
                       const char *value);
extern void vdi_dump (const char *prefix);
extern void *vdi_open (struct xd_io *io, const struct xd_resolver *res,
                       const struct xd_open_opts *opts);
extern void vdi_close (void *h);
extern uint64_t vdi_size (void *h);
extern uint32_t vdi_preferred_block (void *h);
extern int vdi_pread (void *h, void *buf, uint32_t count, uint64_t offset);
extern int vdi_extents (void *h, uint32_t count, uint64_t offset,
                        bool req_one, xd_extent_fn add, void *opaque);
extern char *vdi_describe (void *h);

/* The reader's table, in the registry (read-only opens). */
extern const struct xd_format xd_reader_vdi;

/* Every field of a VDI table but open, close and the write fields. */
#define VDI_READ_FIELDS                         \
  .name = "vdi",                                \
  .display = "VDI",                             \
  .plugin = "vdix",                             \
  .probe = vdi_probe_fn,                        \
  .config = vdi_config,                         \
  .dump = vdi_dump,                             \
  .size = vdi_size,                             \
  .preferred_block = vdi_preferred_block,       \
  .pread = vdi_pread,                           \
  .extents = vdi_extents,                       \
  .describe = vdi_describe

#endif /* XDISK_VDI_H */
