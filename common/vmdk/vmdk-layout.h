/* xdisk vmdkx: what a new VMDK is made of (vmdk-layout.c): the kinds
 * the creator makes, the names and sizes of their extents, the one
 * writer of sparse headers and descriptors.  Used by the creator
 * (vmdk-create.c) and the streamOptimized writer (vmdk-stream-write.c);
 * it does no I/O.
 */
#ifndef XDISK_VMDK_LAYOUT_H
#define XDISK_VMDK_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What every hosted sparse extent VMware writes has: 64 KiB grains,
 * 512 entries per grain table; a monolithicSparse file embeds its
 * descriptor in 20 sectors.
 */
#define VMDK_NEW_GRAIN_SECTORS 128
#define VMDK_NEW_GTES_PER_GT 512
#define VMDK_NEW_EMBEDDED_DESC_SECTORS 20
/* VMware's split extents: 2047 MiB. */
#define VMDK_NEW_SPLIT_SECTORS UINT64_C (4192256)

enum vmdk_new_kind { VMDK_NEW_MONO_SPARSE, VMDK_NEW_SPLIT_SPARSE,
                     VMDK_NEW_MONO_FLAT, VMDK_NEW_SPLIT_FLAT,
                     VMDK_NEW_VMFS_THICK, VMDK_NEW_VMFS_THIN,
                     VMDK_NEW_STREAM };

/* A kind of VMDK, by vddk's name and VMware's createType. */
struct vmdk_new_type {
  const char *vddk, *vmware;
  enum vmdk_new_kind kind;
};

/* The type named NAME (either spelling, any case), or NULL. */
extern const struct vmdk_new_type *vmdk_new_type_find (const char *name);

/* What a new disk's descriptor says. */
struct vmdk_new_disk {
  const struct vmdk_new_type *type;
  const char *adapter, *hwversion;      /* VMware's spellings */
  uint64_t sectors;             /* capacity */
  char *base;                   /* the new file's name w/o .vmdk */
  const char *own_name;         /* a stream's one extent: the file itself */
  char *parent_name;            /* parentFileNameHint, or NULL */
  uint32_t cid, parent_cid;
  uint32_t content[3];          /* longContentID's first words */
  unsigned char uuid[16];       /* ddb.uuid (not in a child or a stream) */
};

extern bool vmdk_new_is_sparse (const struct vmdk_new_disk *n);
extern size_t vmdk_new_nr_extents (const struct vmdk_new_disk *n);
extern uint64_t vmdk_new_extent_sectors (const struct vmdk_new_disk *n,
                                         size_t i);
/* The name of extent I (0-based): NULL after reporting. */
extern char *vmdk_new_extent_name (const struct vmdk_new_disk *n, size_t i);
/* The descriptor text, as VMware writes it: NULL after reporting. */
extern char *vmdk_new_descriptor (const struct vmdk_new_disk *n);

/* What a new hosted sparse header holds besides what every one VMware
 * writes holds (64 KiB grains, 512 entries per grain table, the
 * newline test characters).  Offsets and sizes in sectors.
 */
struct vmdk_sparse_layout {
  uint32_t version;             /* 1; 3 for a stream */
  uint32_t flags;               /* VMDK_FLAG_* */
  uint64_t capacity;
  uint64_t desc_offset, desc_sectors;   /* 0, 0: no embedded descriptor */
  uint64_t rgd_offset;          /* 0: no redundant grain directory */
  uint64_t gd_offset;           /* VMDK_GD_AT_END in a stream's header */
  uint64_t overhead;
  uint8_t compress;             /* compressAlgorithm: 0 none, 1 deflate */
};

/* The header sector H (VMDK_SECTOR bytes) of layout L. */
extern void vmdk_put_sparse_header (unsigned char *h,
                                    const struct vmdk_sparse_layout *l);

/* The random parts of a new descriptor: the CID, and the first three
 * words of ddb.longContentID (VMware ends it with the CID).
 */
struct vmdk_new_ids {
  uint32_t cid;
  uint32_t content[3];
};

/* The descriptor of a streamOptimized image of CAPACITY sectors whose
 * one extent is the file FILE (a base name), as VMware's exporters
 * write it: no encoding, isNativeSnapshot or ddb.uuid lines, and their
 * BIOS geometry (16 or 255 heads, 63 sectors, at any size).  ADAPTER
 * and HWVERSION in VMware's spellings.  NULL after reporting.
 */
extern char *vmdk_stream_descriptor (uint64_t capacity, const char *file,
                                     const char *adapter,
                                     const char *hwversion,
                                     const struct vmdk_new_ids *ids);

#endif /* XDISK_VMDK_LAYOUT_H */
