/* xdisk vhdx: writing, creating and checking VHD images (nbdkit-free).
 *
 * The VHD format driver (xd_format_vhd in vhd-format.c) serves a
 * struct vhd_handle: the read path's vd_disk plus what writing needs.
 * VHDX has its own write path.
 */
#ifndef XDISK_VHD_WRITE_H
#define XDISK_VHD_WRITE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhd/vhd-read.h"
#include "core/xd-format.h"

/* Largest virtual size of a dynamic or differencing VHD: 2040 GiB, the
 * limit of Hyper-V and qemu (block offsets are 32-bit sector numbers).
 * A fixed VHD only has the 64-bit size field and the file system as
 * limits; we stop at 2^63 bytes minus the footer (nbdkit's limit).
 */
#define VHD_MAX_DYNAMIC_SIZE (UINT64_C (0xff000000) * 512)
#define VHD_MAX_FIXED_SIZE (((UINT64_C (1) << 63) - 1024) & ~UINT64_C (511))

/* Block sizes we create (the reader takes any power of 2 from 512). */
#define VHD_MIN_CREATE_BLOCK (512u << 10)
#define VHD_DEFAULT_BLOCK (2u << 20)

/* The creator application we write, and why the geometry is the
 * specification's (../shared/docs/write-targets.md section 1; the
 * vhdx man page, "The footer: XenServer, qemu, Azure, Hyper-V").  Two
 * readers disagree on what a VHD's size is:
 *  - qemu before 10.0 serves the CHS size (cylinders x heads x sectors,
 *    rounded down from the size) for any creator it does not know, and
 *    the current size only for "win ", "qem2", "d2v ", "CTXS", "tap\0"
 *    or a 65535/16/255 geometry;
 *  - blktap's "vhd-util check" (XenServer, XCP-ng) refuses a geometry
 *    larger than the one the specification computes from the current
 *    size ("geometry too large"), so 65535/16/255 passes only from
 *    65535 * 16 * 255 sectors (about 136.9 GB) up.
 * So the geometry is the specification's and the creator one that qemu
 * reads by its current size: "win ", Hyper-V's, whose layout this is
 * and whose VHDs Azure, XenServer, qemu and VirtualBox all take.  Not
 * "tap": blktap then expects its batmap (from creator version 1.2 on)
 * and refuses versions past its own; not "qem2", "d2v " or "CTXS",
 * which would claim tools whose layout this is not.  The creator
 * version is xdisk's 1.0, so that our VHDs can still be told apart.
 */
#define VHD_CREATOR_APP "win "
#define VHD_CREATOR_VERSION 0x00010000

/* Blocks reserved at once at the end of the file (one footer move and
 * flush for that many allocations), and new blocks whose BAT entries
 * wait for the next commit (one flush for that many allocations).
 */
#define VHD_RESERVE_BLOCKS 32
#define VHD_MAX_PENDING 64

/* A new block whose data is written but whose BAT entry is not yet in
 * the file: the cached BAT page says where it is and stays pinned.
 */
struct vhd_pending {
  uint64_t block;
  uint32_t sector;              /* the BAT entry */
  const void *page;             /* pinned BAT cache page */
};

struct vhd_handle {
  struct vd_disk *disk;
  const char *readonly_why;     /* NULL if writable */
  /* Allocation (new blocks, sector bitmaps, BAT entries, the footer's
   * move) is serialized; writes into present sectors are not.
   * (test-vhd-write's allocation race holds one thread inside it while
   * another writes into the same block; tests/mutants.txt drops it.)
   */
  pthread_mutex_t lock;
  uint8_t footer[VHD_FOOTER_SIZE];  /* the top's footer, as stored */
  uint64_t alloc_end;           /* where the next block goes; the
                                 * footer (top->data_end) is at or after
                                 * it: space between is reserved */
  uint64_t meta_end;            /* end of the header, BAT and locators */
  struct vhd_pending pending[VHD_MAX_PENDING];
  size_t npending;
};

/* ---- the format driver's ops (vhd-write.c) ---- */
extern void *vhd_w_open (struct xd_io *io, const struct xd_resolver *res,
                         const struct xd_open_opts *opts);
extern void vhd_w_close (void *h);
extern uint64_t vhd_w_size (void *h);
extern uint32_t vhd_w_preferred_block (void *h);
extern int vhd_w_pread (void *h, void *buf, uint32_t count, uint64_t off);
extern int vhd_w_extents (void *h, uint32_t count, uint64_t offset,
                          bool req_one, xd_extent_fn add, void *opaque);
extern char *vhd_w_describe (void *h);
extern bool vhd_w_can_write (void *h, const char **why);
extern int vhd_w_pwrite (void *h, const void *buf, uint32_t count,
                         uint64_t off);
extern int vhd_w_zero (void *h, uint32_t count, uint64_t off, bool may_trim,
                       bool fast);
extern int vhd_w_trim (void *h, uint32_t count, uint64_t off);
extern int vhd_w_flush (void *h);
/* The last client has gone: commit, give back the reserved space. */
extern int vhd_w_finish (void *h);

/* ---- creating (vhd-create.c) ---- */
extern void *vhd_w_create (struct xd_io *io, const struct xd_resolver *res,
                           const struct xd_create_opts *copts,
                           const struct xd_open_opts *opts);

/* The footer geometry for SIZE bytes: the specification's CHS algorithm
 * (65535/16/255 from about 136.9 GB up).  True if it gives exactly
 * SIZE; else its size is smaller than SIZE, as blktap requires.
 */
extern bool vhd_geometry_for_size (uint64_t size, uint16_t *cyl,
                                   uint8_t *heads, uint8_t *secs);

/* ---- checking (vhd-check.c) ---- */

/* Check the structure of the top VHD of H: footer checksums (and the
 * copy at offset 0), the dynamic header, BAT bounds, blocks inside the
 * file, before the footer and not overlapping each other or the
 * metadata, the sizes.  0, or -1 after reporting every problem.
 */
extern int vhd_w_check (void *h);

#endif /* XDISK_VHD_WRITE_H */
