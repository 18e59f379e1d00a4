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

/* The location attribute (XML escapes decoded, malloc'd) of the
 * HardDisk element with UUID in the VirtualBox settings file TEXT
 * (NUL-terminated), or NULL.
 */
extern char *vdi_vbox_location (const char *text, const uint8_t uuid[16]);

/* ---- the opened image (shared by vdi-read.c, vdi-write.c and
 * vdi-create.c; not an interface for other code) ---- */

struct xd_cache;
struct xd_open_opts;
struct xd_resolver;
struct xd_create_opts;

struct vdi_layer {
  struct xd_io *io;
  struct vdi_header h;
  uint64_t size;                /* of the disk */
  uint64_t blocks;              /* map entries in use */
  uint64_t total_block;         /* extra data + block size */
  unsigned shift;               /* log2 of the block size */
  /* The whole map (host order), or NULL.  Entries change only in the
   * top image being written, under LOCK, with atomic stores; readers
   * load them atomically without the lock.
   */
  uint32_t *map;
  struct xd_cache *map_cache;   /* ... or pages of it (read-only) */
  bool has_parent;
  const char *found_by;         /* how the parent was found */
  struct vdi_layer *parent;

  /* ---- writing (the top image of a writable open only) ---- */
  bool writable;                /* opened with opts->writable */
  bool write_ready;             /* the first write's work is done */
  bool write_failed;            /* a metadata write failed: refuse more */
  pthread_mutex_t lock;         /* allocation, the map, the header */
  uint32_t next_slot;           /* where the next new block goes */
  uint32_t counter;             /* cBlocksAllocated to write */
  uint32_t counter_on_disk;     /* ... as last written */
  uint8_t *dirty;               /* one bit per 512-byte map sector */
  uint64_t nr_dirty;            /* set bits in DIRTY */
};

/* Open the VDI in IO (and its parents), see xd_format.open. */
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

/* vdi-write.c: prepare L (opened writable) for writes; the write ops of
 * xd_format_vdi.
 */
extern int vdi_write_setup (struct vdi_layer *l);
extern void vdi_write_cleanup (struct vdi_layer *l);
/* Flush what a client left unflushed (the image is being closed). */
extern void vdi_write_close (struct vdi_layer *l);
extern bool vdi_can_write (void *h, const char **why);
extern int vdi_pwrite (void *h, const void *buf, uint32_t count,
                       uint64_t offset);
extern int vdi_zero (void *h, uint32_t count, uint64_t offset, bool may_trim,
                     bool fast);
extern int vdi_trim (void *h, uint32_t count, uint64_t offset);
extern int vdi_flush (void *h);
extern int vdi_finish (void *h);
extern int vdi_check (void *h);

/* vdi-create.c: xd_format.create. */
extern void *vdi_create (struct xd_io *io, const struct xd_resolver *res,
                         const struct xd_create_opts *copts,
                         const struct xd_open_opts *opts);

#endif /* XDISK_VDI_H */
