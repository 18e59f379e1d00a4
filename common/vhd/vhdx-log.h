/* xdisk: the VHDX log's layout and the in-memory replay (vhdx-log.c),
 * shared with the log writer (vhdx-log-write.c).  Private to vhd/.
 */
#ifndef XDISK_VHDX_LOG_H
#define XDISK_VHDX_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"

#define LOG_SECTOR 4096
#define LOG_HEADER_SIZE 64
#define LOG_DESC_SIZE 32

/* One replayed write, applied in log order. */
struct log_op {
  uint64_t offset, length;
  uint8_t *data;                /* LOG_SECTOR bytes, or NULL for zeros */
};

/* The overlay xd_io of vhdx_replay_log: the file with the log's writes
 * applied in memory.
 */
struct overlay {
  struct xd_io *base;
  struct log_op *ops;
  size_t nr_ops, ops_cap;
  /* The writer has replayed the log into BASE (vhdx_log_apply): the
   * overlay is now a window onto BASE, and writes go through to it.
   */
  _Atomic bool applied;
};

/* The overlay of IO if IO is a replay over a writable file, else NULL. */
extern struct overlay *vhdx_log_overlay_rw (struct xd_io *io);

#endif /* XDISK_VHDX_LOG_H */
