/* xdisk: a test io that holds one write back, to force a race.
 *
 * Two threads writing into the same unallocated block at once must end
 * up with one block holding both writes: the writer allocates under its
 * lock, and the second thread, once it has the lock, finds the block
 * allocated.  Left to the scheduler, the window where both threads
 * allocate is too short to be hit reliably.  The gate io makes it
 * certain: armed with thread A's data, it holds the write that carries
 * that data (the new block's contents, written after the space is
 * claimed and before the table entry points at it) until the test
 * releases it, which the test does once thread B's write has returned.
 *
 *   - A writer that allocates without its lock lets B allocate a block
 *     of its own and return while A is held: two blocks, and the table
 *     entry written last loses the other thread's data.
 *   - A writer that holds its lock blocks B on it; B cannot return, so
 *     the hold ends after a timeout (XD_GATE_HOLD_SECONDS, times
 *     XDISK_TIMEOUT_SCALE), A finishes, and B then writes in place.
 *
 * The timeout only lets a correct writer go on: the test's verdict is
 * from the image's structure and data, never from the time taken.
 */
#ifndef XDISK_GATE_IO_H
#define XDISK_GATE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"

#define XD_GATE_HOLD_SECONDS 2

/* A growable memory io (as xd_io_new_memory_rw: a copy of the LEN bytes
 * at BUF) behind a gate, not yet armed.  NULL after reporting.
 */
extern struct xd_io *xd_gate_io_new (const void *buf, size_t len,
                                     const char *name);

/* The current bytes of the gate io IO (its size is IO->size). */
extern const unsigned char *xd_gate_io_contents (struct xd_io *io);

/* One write of the race: LEN bytes of BUF at OFF; R gets its result. */
struct xd_gate_write {
  const void *buf;
  uint32_t len;
  uint64_t off;
  int r;
};

/* The writer's write op: WRITE (OPAQUE, BUF, LEN, OFF), 0 or -1. */
typedef int (*xd_gate_write_fn) (void *opaque, const void *buf,
                                 uint32_t len, uint64_t off);

/* The race on the image in IO: A's write in one thread, held at its
 * data (the gate armed with A's buffer); then B's in another; when B
 * has returned, the hold is released and A joined.  Says on stderr how
 * the hold ended.  False if A's data was never written (waited for 60
 * s, scaled; both writes still ran to the end).
 */
extern bool xd_gate_race (struct xd_io *io, xd_gate_write_fn write,
                          void *opaque, struct xd_gate_write *a,
                          struct xd_gate_write *b);

#endif /* XDISK_GATE_IO_H */
