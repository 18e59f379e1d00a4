/* xdisk vhdx: the read path for VHD and VHDX images (nbdkit-free). */
#ifndef XDISK_VHD_READ_H
#define XDISK_VHD_READ_H

#include <stdbool.h>
#include <stddef.h>
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
  /* A writer's BAT entries, looked up before the file's: true and
   * *ENTRY if the writer holds entry INDEX.  Installed by the VHDX
   * writer while it is attached (vhdx-write.c), NULL without one.
   */
  bool (*bat_override) (void *opaque, uint64_t index, uint64_t *entry);
  void *bat_override_opaque;
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

/* BAT entry INDEX of layer L (VHDX: 64-bit entries, VHD: 32-bit). */
extern int vd_layer_bat_entry (struct vd_layer *l, uint64_t index,
                               uint64_t *entry);
/* Read COUNT bytes at virtual OFFSET of layer L (and its parents). */
extern int vd_layer_read (struct vd_layer *l, void *buf, uint64_t count,
                          uint64_t offset);

/* ---- the format tables ---- */

/* The read side's format ops (vhd-reader.c).  The reader tables
 * (xd_reader_vhd, xd_reader_vhdx: a read-only struct vd_disk) and the
 * composed ones (xd_format_vhd, xd_format_vhdx in vhd-format.c) take
 * them through the macros below, so that the tables cannot drift.
 */
extern const struct xd_format xd_reader_vhd;
extern const struct xd_format xd_reader_vhdx;

extern bool vd_probe_vhd (struct xd_io *io, const uint8_t *head,
                          size_t len);
extern bool vd_probe_vhdx (struct xd_io *io, const uint8_t *head,
                           size_t len);
extern int vd_config (struct xd_open_opts *opts, const char *key,
                      const char *value);
extern void vd_dump (const char *prefix);
/* The ops on a struct vd_disk handle. */
extern uint64_t vd_size (void *h);
extern uint32_t vd_preferred_block (void *h);
extern int vd_pread (void *h, void *buf, uint32_t count, uint64_t offset);
extern int vd_extents (void *h, uint32_t count, uint64_t offset,
                       bool req_one, xd_extent_fn add, void *opaque);
extern char *vd_describe (void *h);

#define VHD_HELP \
  "size=current|geometry|auto  Which VHD footer size to serve.\n" \
  "ignore-parent-mismatch=true  Serve a differencing disk whose parent " \
  "ID does not match."

/* What names and detects each format, and its parameters. */
#define VHD_NAME_FIELDS \
  .name = "vhd", .display = "VHD", .plugin = "vhdx", \
  .probe = vd_probe_vhd, .config = vd_config, .config_help = VHD_HELP, \
  .dump = vd_dump
#define VHDX_NAME_FIELDS \
  .name = "vhdx", .display = "VHDX", .plugin = "vhdx", \
  .probe = vd_probe_vhdx, .config = vd_config

/* Serving a struct vd_disk (VHDX's handle in both tables; the composed
 * VHD table serves a struct vhd_handle, vhd-write.h, which wraps one).
 */
#define VD_DISK_READ_FIELDS \
  .size = vd_size, .preferred_block = vd_preferred_block, \
  .pread = vd_pread, .extents = vd_extents, .describe = vd_describe

#endif /* XDISK_VHD_READ_H */
