/* xdisk vhdx: the read path for VHD and VHDX images (nbdkit-free). */
#ifndef XDISK_VHD_READ_H
#define XDISK_VHD_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "vhd/vhd.h"
#include "vhd/vhdx.h"
#include "io/xd-cache.h"
#include "core/xd-format.h"
#include "io/xd-io.h"

#define VD_BAT_PAGE 4096

enum vd_kind { VD_VHD_FIXED, VD_VHD_DYNAMIC, VD_VHD_DIFF, VD_VHDX };

/* One image of a chain. */
struct vd_layer {
  struct xd_io *io;
  enum vd_kind kind;
  uint64_t size;                /* virtual size served */
  uint64_t data_end;            /* VHD: end of usable data in the file */
  uint32_t block_size;
  bool diff;                    /* reads some sectors from the parent */
  /* VHD */
  struct vhd_footer footer;
  struct vhd_dyn_header dyn;
  uint32_t bitmap_bytes;        /* sector bitmap before each block */
  /* VHDX */
  struct vhdx_info x;
  unsigned log_entries;         /* log entries replayed in memory */
  struct vhdx_writer *xw;       /* VHDX writer of a writable top layer */
  /* BAT */
  uint64_t bat_offset, bat_entries;
  struct xd_cache *bat_cache;
  struct vd_layer *parent;
};

struct vd_disk {
  struct vd_layer *top;
  unsigned depth;               /* parents below the top */
};

/* Open the VHD or VHDX image in IO (ownership taken); parents are
 * opened through RES.
 */
extern struct vd_disk *vd_disk_open (struct xd_io *io,
                                     const struct xd_resolver *res,
                                     const struct xd_open_opts *opts);
extern void vd_disk_close (struct vd_disk *disk);
extern int vd_disk_read (struct vd_disk *disk, void *buf, uint32_t count,
                         uint64_t offset);
extern int vd_disk_extents (struct vd_disk *disk, uint32_t count,
                            uint64_t offset, bool req_one,
                            xd_extent_fn add, void *opaque);
extern char *vd_disk_describe (struct vd_disk *disk);

/* ---- for the writers (vhd-write.c, vhdx-write.c) ---- */

/* Make the cached BAT entry INDEX say VALUE; KEEP: keep the page
 * pinned (see vhd-read.c).
 */
extern int vd_layer_bat_set_cached (struct vd_layer *l, uint64_t index,
                                    uint32_t value, const void **keep);

struct vhdx_writer;

/* BAT entry INDEX of layer L (VHDX: 64-bit entries, VHD: 32-bit). */
extern int vd_layer_bat_entry (struct vd_layer *l, uint64_t index,
                               uint64_t *entry);
/* Read COUNT bytes at virtual OFFSET of layer L (and its parents). */
extern int vd_layer_read (struct vd_layer *l, void *buf, uint64_t count,
                          uint64_t offset);

#endif /* XDISK_VHD_READ_H */
