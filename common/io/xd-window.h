/* xdisk: the ordered write window of a stream being written (window.c).
 *
 * A writer that must append its units (the grains of a streamOptimized
 * VMDK, the chunks of an XVA disk) in ascending order, while NBD clients
 * write them in any order, holds the units of a window in memory.  This
 * is the part both writers share:
 *
 *   next      the window's back edge: the first unit not yet settled
 *   floor     units below it are settled as they are (what was never
 *             written reads as zeros)
 *   waiters   the requests that wait for the window to reach their unit
 *
 * The owner keeps the units' data and says, unit by unit, when the one
 * at the back edge is settled (struct xd_window_ops).  A request beyond
 * the window waits; when nothing has advanced for the stall time the
 * floor goes up to the lowest unit a waiting request wants: no request
 * in progress writes below it, so the client skipped those ranges.
 *
 * Every function is called with the owner's lock held (win->lock); the
 * ones that wait release it while they wait.  win->cond is broadcast
 * whenever the back edge moves or the stream fails.
 */
#ifndef XDISK_WINDOW_H
#define XDISK_WINDOW_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* A request waiting for the window (on its stack). */
struct xd_window_waiter {
  uint64_t unit;
  struct xd_window_waiter *next;
};

/* What the owner of a window does for it; OWNER is win->owner. */
struct xd_window_ops {
  /* Settle unit win->next if it is ready: 1 if something changed (the
   * edge moved, or the unit's state did: look again), 0 if it is not
   * ready, -1 if the stream failed.
   */
  int (*settle_next) (void *owner);
  /* Settle unit win->next as zeros (the client zeroed all of it) if
   * nothing was written to it: 1 if settled, 0 if not, -1 on failure.
   */
  int (*settle_zeroed) (void *owner);
  /* Write (BUF NULL: zero) LEN bytes at byte OFF of UNIT, DISK_OFFSET
   * in the disk (for errors): 0, or -1 with errno.
   */
  int (*write_in_unit) (void *owner, uint64_t unit, const void *buf,
                        unsigned off, unsigned len, uint64_t disk_offset);
  /* A request finds the stream failed: report it, -1 with errno. */
  int (*refuse_failed) (void *owner);
  /* The debug line of a stall: units below BELOW settle as they are. */
  void (*say_stalled) (void *owner, uint64_t below);
};

struct xd_window {
  uint64_t size;                /* units in the window */
  uint64_t end;                 /* units in the stream */
  uint64_t next;                /* first unit not yet settled */
  uint64_t floor;               /* units below it settle as they are */
  unsigned stall_ms, grace_ms;  /* see xd_window_wait */
  unsigned active, waiting;     /* requests in progress, waiting */
  struct xd_window_waiter *waiters;     /* the waiting ones */
  uint64_t progress;            /* bumped whenever anything advances */
  uint64_t waits, stalls;       /* for the owner's debug line */
  bool failed;                  /* the stream cannot go on */
  int error;                    /* errno of the first failure */
  pthread_mutex_t *lock;        /* the owner's */
  pthread_cond_t *cond;         /* the owner's: the window moved */
  const struct xd_window_ops *ops;
  void *owner;
};

/* Set up WIN (zeroed by the caller's calloc) for OWNER. */
extern void xd_window_init (struct xd_window *win, uint64_t size,
                            uint64_t end, unsigned stall_ms,
                            unsigned grace_ms, pthread_mutex_t *lock,
                            pthread_cond_t *cond,
                            const struct xd_window_ops *ops, void *owner);

/* The stream cannot go on: record ERR (the first one is kept and given
 * to every later request) and wake every waiting thread.  -1 with errno
 * set to the first error.
 */
extern int xd_window_fail (struct xd_window *win, int err);

/* Settle the units at the back edge that are ready (ops->settle_next),
 * then wake every waiting thread.  -1 with the first error if the
 * stream has failed.
 */
extern int xd_window_settle_ready (struct xd_window *win);

/* Wait until UNIT fits in the window.  -1 if the stream fails. */
extern int xd_window_wait (struct xd_window *win, uint64_t unit);

/* A write request: BUF (NULL: zeros) of COUNT bytes at OFFSET, unit
 * by unit of UNIT_BYTES (ops->write_in_unit; whole units of zeros at
 * the back edge settle at once, xd_window_settle_zeroed).  CHECKED is
 * the result of the owner's checks of the request: unless it is 0
 * nothing is written, and it is returned.  The request counts as in
 * progress while it runs; every waiting thread is woken at its end.
 */
extern int xd_window_write (struct xd_window *win, int checked,
                            const unsigned char *buf, uint32_t count,
                            uint64_t offset, unsigned unit_bytes);

/* Zeros over COUNT bytes at OFFSET: the whole units of UNIT_BYTES at the
 * back edge with nothing written to them settle at once (a client
 * zeroing a hole).  The bytes settled.
 */
extern uint64_t xd_window_settle_zeroed (struct xd_window *win,
                                         uint64_t count, uint64_t offset,
                                         uint64_t unit_bytes);

#endif /* XDISK_WINDOW_H */
