/* xdisk vmdkx: the one writer of sparse headers and descriptors
 * (vmdk-create.c), for create=true and for the streamOptimized writer
 * (vmdk-stream-write.c).
 */
#ifndef XDISK_VMDK_CREATE_H
#define XDISK_VMDK_CREATE_H

#include <stdint.h>

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

#endif /* XDISK_VMDK_CREATE_H */
