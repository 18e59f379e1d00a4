/* xdisk vmdkx: opening a VMDK disk (descriptor, extents, parent chain)
 * and its read path.  nbdkit-free: errors go through xd_error.
 */
#ifndef VMDKX_VMDK_READ_H
#define VMDKX_VMDK_READ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmdk.h"
#include "xd-cache.h"
#include "xd-driver.h"
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
  /* Compressed extents: idle inflaters (see vmdk-read.c), under the
   * lock, which exists iff grain_cache does.
   */
  pthread_mutex_t inflaters_lock;
  struct inflater *inflaters;
};

struct vmdk_disk {
  char *path;
  struct vmdk_descriptor desc;
  struct vmdk_extent *extents;
  size_t nr_extents;
  uint64_t size;
  uint32_t grain_bytes;         /* largest grain, for preferred_block */
  struct vmdk_disk *parent;
  unsigned depth;               /* 1 = no parent */
};

struct vmdk_open_flags {
  bool ignore_parent_mismatch;
  int *debug_grains;            /* the plugin's debug flag, may be NULL */
};

extern struct vmdk_disk *vmdk_disk_open (const char *path,
                                         const struct xd_open_opts *opts,
                                         const struct vmdk_open_flags *flags);
extern void vmdk_disk_close (struct vmdk_disk *disk);
extern int vmdk_disk_read (struct vmdk_disk *disk, void *buf, uint64_t count,
                           uint64_t offset);
extern int vmdk_disk_extents (struct vmdk_disk *disk, uint64_t count,
                              uint64_t offset, bool req_one,
                              xd_extent_fn add, void *opaque);
extern char *vmdk_disk_describe (struct vmdk_disk *disk);

#endif /* VMDKX_VMDK_READ_H */
