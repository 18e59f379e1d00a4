/* xdisk: waits with a timeout, on the monotonic clock.
 *
 * The writers that wait (a streamOptimized VMDK's or an XVA's
 * reordering window, an appliance's next disk) measure time in
 * milliseconds of CLOCK_MONOTONIC, so that setting the wall clock
 * never shortens or stretches a wait, and their condition variables
 * time out on the same clock.
 */
#ifndef XDISK_CLOCK_H
#define XDISK_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds of the monotonic clock. */
static inline uint64_t
xd_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The monotonic time MS (as xd_now_ms counts) for pthread_cond_timedwait. */
static inline struct timespec
xd_monotonic_at (uint64_t ms)
{
  struct timespec ts = { .tv_sec = ms / 1000,
                         .tv_nsec = (long) (ms % 1000) * 1000000 };

  return ts;
}

/* Initialise COND to time out on the monotonic clock. */
static inline void
xd_cond_init_monotonic (pthread_cond_t *cond)
{
  pthread_condattr_t attr;

  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (cond, &attr);
  pthread_condattr_destroy (&attr);
}

#endif /* XDISK_CLOCK_H */
