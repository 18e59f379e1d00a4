/* xdisk: VMDK metadata parsing (VMware "Virtual Disk Format 1.1").
 *
 * The descriptor parser works on text in memory; the sparse-extent code
 * reads hosted sparse (KDMV), ESX redo-log (COWD) and ESXi seSparse
 * headers, loads and validates the grain directory and walks
 * streamOptimized markers when the footer is missing.  Everything here
 * is nbdkit-free.
 */
#ifndef XDISK_VMDK_H
#define XDISK_VMDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"

/* Descriptor text larger than this is refused (real ones are < 10 KiB). */
#define VMDK_MAX_DESCRIPTOR (1024 * 1024)
/* Largest grain accepted: 2^16 sectors = 32 MiB (the spec only says a
 * power of 2 greater than 8 sectors; VMware uses 128 sectors).
 */
#define VMDK_MAX_GRAIN_SECTORS 65536
#define VMDK_MAX_GTES_PER_GT 65536
#define VMDK_COWD_GTES_PER_GT 4096
#define VMDK_GD_AT_END UINT64_C (0xffffffffffffffff)
#define VMDK_SECTOR 512

#define VMDK_MAGIC_KDMV 0x564d444bU     /* "KDMV" read as le32 */
#define VMDK_MAGIC_COWD 0x44574f43U     /* "COWD" */
#define VMDK_MAGIC_SESPARSE 0xcafebabeU /* le64 0x00000000cafebabe */
#define VMDK_MAGIC_SESPARSE_VOLATILE 0xcafecafeU

/* seSparse (ESXi 6.5+ snapshots on VMFS6): the only layout ESXi writes
 * and qemu reads: 4 KiB grains, grain tables of 4096 64-bit entries.
 */
#define VMDK_SESPARSE_VERSION UINT64_C (0x0000000200000001)
#define VMDK_SESPARSE_GRAIN_SECTORS 8
#define VMDK_SESPARSE_GT_SECTORS 64
#define VMDK_SESPARSE_GTES_PER_GT (VMDK_SESPARSE_GT_SECTORS * VMDK_SECTOR / 8)

#define VMDK_FLAG_NEWLINE_TEST (1U << 0)
#define VMDK_FLAG_REDUNDANT_GT (1U << 1)
#define VMDK_FLAG_ZERO_GTE (1U << 2)
#define VMDK_FLAG_COMPRESSED (1U << 16)
#define VMDK_FLAG_MARKERS (1U << 17)

enum vmdk_access { VMDK_RW, VMDK_RDONLY, VMDK_NOACCESS };
enum vmdk_kind { VMDK_FLAT, VMDK_SPARSE, VMDK_ZERO, VMDK_VMFSSPARSE,
                 VMDK_SESPARSE };

struct vmdk_desc_extent {
  enum vmdk_access access;
  enum vmdk_kind kind;
  uint64_t sectors;
  char *filename;               /* NULL for ZERO */
  uint64_t offset;              /* in sectors, FLAT only */
  unsigned line;
};

struct vmdk_descriptor {
  unsigned version;
  uint32_t cid, parent_cid;
  bool has_parent_cid;
  char *create_type;
  char *parent_hint;            /* parentFileNameHint, or NULL */
  char *adapter;                /* ddb.adapterType, or NULL */
  struct vmdk_desc_extent *extents;
  size_t nr_extents, extents_cap;
};

/* Parse LEN bytes of descriptor TEXT (stops at the first NUL).  NAME is
 * the file, for messages.  Returns 0, or -1 (errno EIO) after reporting
 * "NAME: descriptor line N: ...".
 */
extern int vmdk_parse_descriptor (const char *text, size_t len,
                                  const char *name,
                                  struct vmdk_descriptor *desc);
extern void vmdk_descriptor_free (struct vmdk_descriptor *desc);
extern const char *vmdk_kind_name (enum vmdk_kind kind);
extern const char *vmdk_access_name (enum vmdk_access access);

/* A parsed and validated sparse extent header (KDMV, COWD or seSparse). */
struct vmdk_sparse {
  bool cowd, sesparse;
  uint32_t version, flags;
  uint64_t capacity;            /* sectors */
  uint64_t grain_sectors;
  uint64_t desc_offset, desc_size;      /* sectors */
  uint32_t gtes_per_gt;
  uint64_t gd_offset, rgd_offset;       /* sectors */
  uint64_t overhead;            /* sectors */
  uint64_t nr_grains, nr_gd_entries;
  bool compressed, markers;
  bool footer_used;             /* header came from a stream footer */
  /* seSparse only (gd_offset is its grain directory): */
  uint64_t gt_offset, nr_gts;   /* grain tables: sector, tables */
  uint64_t grains_offset, nr_slots;     /* grains: sector, grains */
};

/* What a grain table entry says about a grain. */
enum vmdk_grain_state {
  VMDK_GRAIN_UNALLOCATED,       /* read the parent, or zeros */
  VMDK_GRAIN_ZERO,              /* zeros, hiding the parent */
  VMDK_GRAIN_DATA,              /* at a sector of the extent file */
};

/* Read and validate the header at offset 0 of IO.  Returns 0 or -1
 * (errno EIO) after reporting an error naming the field.
 */
extern int vmdk_read_sparse_header (struct xd_io *io, struct vmdk_sparse *sp);

/* Parse the seSparse constant header H (the first sector of IO) and
 * its volatile header.  Called by vmdk_read_sparse_header.
 */
extern int vmdk_parse_sesparse (struct xd_io *io, const unsigned char *h,
                                struct vmdk_sparse *sp);

/* Load an seSparse grain directory into *GD (malloc'd, nr_gd_entries
 * entries): 0 for no grain table, else 1 + the index of the grain table
 * in the grain tables area, every one checked to lie in the file.
 */
extern int vmdk_load_se_gd (struct xd_io *io, const struct vmdk_sparse *sp,
                            uint32_t **gd);

/* The byte offset of the grain table of a nonzero seSparse GD entry. */
static inline uint64_t
vmdk_se_gt_offset (const struct vmdk_sparse *sp, uint32_t gd_entry)
{
  return (sp->gt_offset + (uint64_t) (gd_entry - 1) * VMDK_SESPARSE_GT_SECTORS)
    * VMDK_SECTOR;
}

/* Decode the seSparse grain table entry GTE of GRAIN: its state and, for
 * data, the sector of the grain, checked to lie in the file.  Returns 0,
 * or -1 (errno EIO) for an entry of an unknown type or out of range.
 */
extern int vmdk_se_decode_gte (struct xd_io *io, const struct vmdk_sparse *sp,
                               uint64_t grain, uint64_t gte,
                               enum vmdk_grain_state *st, uint64_t *sector);

/* Load the grain directory into *GD (malloc'd, nr_gd_entries entries of
 * GT sector offsets), falling back to the redundant one when the primary
 * is unusable, checking every entry.  SP->gd_offset becomes the sector
 * of the directory loaded (the redundant one after a fallback), which
 * grains must not overlap.  An seSparse directory is loaded with
 * vmdk_load_se_gd.  Returns 0 or -1.
 */
extern int vmdk_load_gd (struct xd_io *io, struct vmdk_sparse *sp,
                         uint32_t **gd);

/* Check one grain table: in the file, not overlapping the header. */
extern int vmdk_check_gt_offset (struct xd_io *io,
                                 const struct vmdk_sparse *sp,
                                 uint64_t gd_index, uint64_t gt_sector);

/* The index of a streamOptimized extent without a usable footer, made
 * by walking its markers: where each grain table's run of grain
 * markers starts (RUN_START, a sector per grain table, 0 for none), or,
 * for a stream whose grains are out of order, MAP, the sector of every
 * grain's marker (0 for none).  Exactly one of the two is set.
 */
struct vmdk_stream_index {
  uint64_t *run_start;
  uint64_t *map;
};

extern int vmdk_index_stream (struct xd_io *io, const struct vmdk_sparse *sp,
                              struct vmdk_stream_index *ix);

/* Fill TABLE (gtes_per_gt entries) with the sector of the marker of
 * each grain of grain table GROUP, or 0.  Returns 0 or -1.
 */
extern int vmdk_stream_table (struct xd_io *io, const struct vmdk_sparse *sp,
                              const struct vmdk_stream_index *ix,
                              uint64_t group, uint64_t *table);
extern void vmdk_stream_index_free (struct vmdk_stream_index *ix);

#endif /* XDISK_VMDK_H */
