/* xdisk vmdkx: opening a VMDK disk (descriptor, extents, parent chain)
 * and its read path.  nbdkit-free: errors go through xd_error.
 */
#ifndef XDISK_VMDK_READ_H
#define XDISK_VMDK_READ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmdk/vmdk.h"
#include "io/xd-cache.h"
#include "core/xd-format.h"
#include "io/xd-inflate.h"
#include "io/xd-io.h"

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
  struct vmdk_wtables *w;       /* writable sparse extents (vmdk-write.c) */
  unsigned line;                /* its descriptor line, for messages */
  _Atomic bool written;         /* written since the last flush */
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

  /* ---- writing (vmdk-write.c): the top disk opened writable ---- */
  bool writable;
  const char *readonly_why;     /* why it cannot be written, or NULL */
  /* The descriptor text as read (NUL-terminated) and where it lives:
   * the text file, or the embedded area of the sparse file.
   */
  char *desc_text;
  size_t desc_len;
  struct xd_io *desc_io;
  uint64_t desc_offset;
  pthread_mutex_t lock;         /* allocation, metadata, the CID */
  bool lock_init;
  bool cid_done;                /* the first write changed the CID */
  _Atomic bool desc_written;    /* the CID was written, not yet flushed */
  char *why_buf;                /* readonly_why, when built */
  /* A streamOptimized image being created (vmdk-stream-write.c): every
   * op goes to it.
   */
  struct vmdk_stream_writer *stream;
};

struct vmdk_wtables;

/* vmdk-read.c helpers the write path shares. */
extern size_t vmdk_find_extent (const struct vmdk_disk *d, uint64_t offset);
extern int vmdk_lookup_grain (struct vmdk_extent *e, uint64_t grain,
                              enum vmdk_grain_state *st, uint64_t *sector);
/* Read COUNT bytes at OFFSET from D's parent, zeros where it has none. */
extern int vmdk_read_parent (struct vmdk_disk *d, unsigned char *buf,
                             uint64_t count, uint64_t offset);

/* ---- vmdk-write.c ---- */

/* Prepare D (opened with opts->writable) for writing: reopen extent
 * files for writing, load the redundant grain directories, decide
 * readonly_why.  Errors only for failures (reported); a kind that
 * cannot be written sets readonly_why and returns 0.
 */
extern int vmdk_write_prepare (struct vmdk_disk *d);
/* The grain table entry of GRAIN of a writable extent (host order). */
extern int vmdk_wt_get (struct vmdk_extent *e, uint64_t grain,
                        uint32_t *gte);
extern void vmdk_wtables_free (struct vmdk_wtables *w);
/* A new random CID, never OLD nor ffffffff/fffffffe. */
extern uint32_t vmdk_new_cid (uint32_t old);
extern bool vmdk_disk_can_write (struct vmdk_disk *d, const char **why);
extern int vmdk_disk_write (struct vmdk_disk *d, const void *buf,
                            uint64_t count, uint64_t offset);
extern int vmdk_disk_zero (struct vmdk_disk *d, uint64_t count,
                           uint64_t offset, bool may_trim, bool fast);
extern int vmdk_disk_trim (struct vmdk_disk *d, uint64_t count,
                           uint64_t offset);
extern int vmdk_disk_flush (struct vmdk_disk *d);
extern int vmdk_disk_check (struct vmdk_disk *d);

/* ---- vmdk-create.c ---- */
extern struct vmdk_disk *vmdk_disk_create (struct xd_io *io,
                                           const struct xd_resolver *res,
                                           const struct xd_create_opts *copts,
                                           const struct xd_open_opts *opts);

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
