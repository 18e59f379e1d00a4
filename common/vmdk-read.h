/* xdisk vmdkx: opening a VMDK disk (descriptor, extents, parent chain)
 * and its read path.  nbdkit-free: errors go through xd_error.
 */
#ifndef XDISK_VMDK_READ_H
#define XDISK_VMDK_READ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmdk.h"
#include "xd-cache.h"
#include "xd-format.h"
#include "xd-inflate.h"
#include "xd-io.h"

#define VMDK_MAX_CHAIN 256

struct vmdk_extent {
  enum vmdk_kind kind;
  enum vmdk_access access;
  uint64_t start, length;       /* bytes in the virtual disk */
  struct xd_io *io;             /* NULL for ZERO */
  uint64_t file_offset;         /* bytes, flat extents */
  struct vmdk_sparse sp;        /* sparse extents */
  uint64_t grain_bytes;
  uint32_t *gd;                 /* grain directory, or NULL */
  bool streamed;                /* footer-less stream, indexed at open */
  struct vmdk_stream_index stream;
  struct xd_cache *gt_cache;
  struct xd_cache *grain_cache; /* inflated grains (compressed) */
  struct xd_inflaters *inflaters; /* compressed extents */
};

struct vmdk_disk {
  struct xd_io *io;             /* the descriptor or sparse file opened */
  char *path;                   /* its name */
  struct vmdk_descriptor desc;
  struct vmdk_extent *extents;
  size_t nr_extents;
  uint64_t size;
  uint32_t grain_bytes;         /* largest grain, for preferred_block */
  struct vmdk_disk *parent;
  unsigned depth;               /* 1 = no parent */
};

/* Open the disk whose descriptor or sparse extent is IO (ownership
 * taken); extent files and parents are opened through RES.
 */
extern struct vmdk_disk *vmdk_disk_open (struct xd_io *io,
                                         const struct xd_resolver *res,
                                         const struct xd_open_opts *opts);
extern void vmdk_disk_close (struct vmdk_disk *disk);
extern int vmdk_disk_read (struct vmdk_disk *disk, void *buf, uint64_t count,
                           uint64_t offset);
extern int vmdk_disk_extents (struct vmdk_disk *disk, uint64_t count,
                              uint64_t offset, bool req_one,
                              xd_extent_fn add, void *opaque);
extern char *vmdk_disk_describe (struct vmdk_disk *disk);

#endif /* XDISK_VMDK_READ_H */
