/* xdisk vmdkx: opening a VMDK disk (descriptor, extents, parent chain)
 * and its read path.  nbdkit-free: errors go through xd_error.
 *
 * The read side only: the writer (vmdk-write.h) attaches to a disk
 * opened here and installs what the read path must consult (a grain
 * table lookup hook); nothing here calls it by name.
 */
#ifndef XDISK_VMDK_READ_H
#define XDISK_VMDK_READ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmdk/vmdk.h"
#include "io/xd-cache.h"
#include "core/xd-format.h"
#include "io/xd-codec.h"
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
  /* Installed by a writer on the sparse extents it writes, NULL
   * otherwise: grain table entries are looked up through GTE_LOOKUP
   * (with GTE_OPAQUE, the writer's tables), whose tables in memory are
   * newer than the file's.  It gives the entry of GRAIN in host order.
   */
  int (*gte_lookup) (void *opaque, uint64_t grain, uint32_t *gte);
  void *gte_opaque;
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

  /* ---- writing (vmdk-write.h): the top disk opened writable ----
   * The reader keeps the descriptor text for the writer's first write
   * (desc_text to desc_offset) and frees it; everything else here is
   * the writer's, released by the composed close (vmdk-disk.c)
   * before the reader's close.
   */
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

/* Open the disk whose descriptor or sparse extent is IO (ownership
 * taken) for reading; extent files and parents are opened through
 * RES.  OPTS->writable is not looked at: the composed open
 * (vmdk_disk_open, vmdk-write.h) attaches the writer.
 */
extern struct vmdk_disk *vmdk_reader_open (struct xd_io *io,
                                           const struct xd_resolver *res,
                                           const struct xd_open_opts *opts);
/* Close what vmdk_reader_open opened, and the parents.  A writer
 * attached to D must have been released first.
 */
extern void vmdk_reader_close (struct vmdk_disk *disk);

/* vmdk-read.c helpers the write path shares. */
extern size_t vmdk_find_extent (const struct vmdk_disk *d, uint64_t offset);
extern int vmdk_lookup_grain (struct vmdk_extent *e, uint64_t grain,
                              enum vmdk_grain_state *st, uint64_t *sector);
/* Read COUNT bytes at OFFSET from D's parent, zeros where it has none. */
extern int vmdk_read_parent (struct vmdk_disk *d, unsigned char *buf,
                             uint64_t count, uint64_t offset);

extern int vmdk_disk_read (struct vmdk_disk *disk, void *buf, uint64_t count,
                           uint64_t offset);
extern int vmdk_disk_extents (struct vmdk_disk *disk, uint64_t count,
                              uint64_t offset, bool req_one,
                              xd_extent_fn add, void *opaque);
extern char *vmdk_disk_describe (struct vmdk_disk *disk);

/* ---- vmdk-reader.c: the reader's format table ---- */

/* What the reader's table (xd_reader_vmdk) and the composed one
 * (xd_format_vmdk, vmdk-format.c) share, so that they cannot drift.
 * Open, close and the read path are each table's own: the composed
 * table serves a streamOptimized image being created from its writer.
 */
extern bool vmdk_probe (struct xd_io *io, const uint8_t *head, size_t len);
extern int vmdk_config (struct xd_open_opts *opts, const char *key,
                        const char *value);
extern void vmdk_dump (const char *prefix);
extern uint64_t vmdk_size (void *h);
extern uint32_t vmdk_preferred_block (void *h);

#define VMDK_READ_FIELDS                                                \
  .name = "vmdk",                                                       \
  .display = "VMDK",                                                    \
  .plugin = "vmdkx",                                                    \
  .probe = vmdk_probe,                                                  \
  .config = vmdk_config,                                                \
  .config_help =                                                        \
    "ignore-parent-mismatch=true  Serve a snapshot whose parentCID does " \
    "not match its parent.",                                            \
  .dump = vmdk_dump,                                                    \
  .size = vmdk_size,                                                    \
  .preferred_block = vmdk_preferred_block

#endif /* XDISK_VMDK_READ_H */
