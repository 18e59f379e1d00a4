/* xdisk: reading a disk whose blocks a map turns into runs, through a
 * chain of parents (VHD, VHDX and VDI share this).
 *
 * A format's map says, for an offset into one layer of a chain, how
 * many bytes from there are stored in the layer's file in one piece
 * (XD_RUN_DATA, at a file offset), read as zeros (XD_RUN_ZERO) or come
 * from the layer's parent (XD_RUN_PARENT).  xd_runs_read turns a
 * request into reads: blocks stored one after the other in the file
 * cost one pread, whatever the block size.
 */
#ifndef XDISK_RUNS_H
#define XDISK_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"

enum xd_run_kind { XD_RUN_DATA, XD_RUN_ZERO, XD_RUN_PARENT };

struct xd_runs_ops {
  /* Map LEN (> 0) bytes at OFF of LAYER: *KIND, *FILE_OFF for data,
   * and *RUN, from 1 to LEN bytes.  0, or -1 after reporting.
   */
  int (*map) (void *layer, uint64_t off, uint64_t len, int *kind,
              uint64_t *file_off, uint64_t *run);
  /* Where the layer struct keeps its file (struct xd_io *), the size it
   * serves (uint64_t) and its parent (a pointer to a layer, or NULL):
   * offsetof of each.
   */
  size_t io_at, size_at, parent_at;
  const char *what;             /* what a data read reads, for messages */
};

/* The ops of a layer struct LAYER_TYPE that keeps its file, size and
 * parent in fields named io, size and parent (VHD's, VHDX's and VDI's
 * do), with its map MAP and WHAT for messages.
 */
#define XD_RUNS_OPS(LAYER_TYPE, MAP, WHAT)              \
  {                                                     \
    .map = (MAP),                                       \
    .io_at = offsetof (LAYER_TYPE, io),                 \
    .size_at = offsetof (LAYER_TYPE, size),             \
    .parent_at = offsetof (LAYER_TYPE, parent),         \
    .what = (WHAT),                                     \
  }

/* Read COUNT bytes at OFF of LAYER into BUF.  Past the end of a layer
 * (a parent smaller than its child) reads zeros.  0, or -1 after
 * reporting.
 */
extern int xd_runs_read (const struct xd_runs_ops *ops, void *layer,
                         uint8_t *buf, uint64_t count, uint64_t off);

/* Where a run of a chain is stored (xd_runs_locate). */
struct xd_run_place {
  void *owner;                  /* the layer whose file holds it, or NULL:
                                 * unallocated (a zero run, past the end
                                 * of a layer, or no parent) */
  uint64_t file_off;            /* where in the owner's file */
  bool is_data;                 /* data in the file there, not a hole */
  uint64_t file_run;            /* how many bytes from file_off are so */
};

/* Where the LEN (> 0) bytes at OFF of LAYER are stored, following
 * parents: *AT, and *RUN, from 1 to LEN bytes that the chain's maps
 * place alike (file_run may be shorter or longer).  0, or -1 after
 * reporting.
 */
extern int xd_runs_locate (const struct xd_runs_ops *ops, void *layer,
                           uint64_t off, uint64_t len,
                           struct xd_run_place *at, uint64_t *run);

#endif /* XDISK_RUNS_H */
