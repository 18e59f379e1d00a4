/* xdisk: the ordered write window of a stream being written; see
 * xd-window.h.  Every function here is called with win->lock held.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "io/xd-window.h"
#include "include/xd-clock.h"

void
xd_window_init (struct xd_window *win, uint64_t size, uint64_t end,
                unsigned stall_ms, unsigned grace_ms, pthread_mutex_t *lock,
                pthread_cond_t *cond, const struct xd_window_ops *ops,
                void *owner)
{
  win->size = size;
  win->end = end;
  win->stall_ms = stall_ms;
  win->grace_ms = grace_ms;
  win->lock = lock;
  win->cond = cond;
  win->ops = ops;
  win->owner = owner;
}

int
xd_window_fail (struct xd_window *win, int err)
{
  if (!win->failed) {
    win->failed = true;
    win->error = err;
  }
  pthread_cond_broadcast (win->cond);
  errno = win->error;
  return -1;
}

int
xd_window_settle_ready (struct xd_window *win)
{
  while (win->next < win->end && !win->failed) {
    int r = win->ops->settle_next (win->owner);

    if (r == -1)
      return -1;
    if (r == 0)
      break;
  }
  pthread_cond_broadcast (win->cond);
  return win->failed ? (errno = win->error, -1) : 0;
}

/* The lowest unit that a waiting request wants to write. */
static uint64_t
lowest_waiter (const struct xd_window *win)
{
  const struct xd_window_waiter *x;
  uint64_t unit = UINT64_MAX;

  for (x = win->waiters; x; x = x->next)
    if (x->unit < unit)
      unit = x->unit;
  return unit;
}

/* Nothing has advanced for the stall time: every unit below the lowest
 * one that a waiting request wants goes as it is.  No request in
 * progress writes there, so the client skipped those ranges.  Not
 * further: nbdcopy's connections write far apart, and the requests of
 * the others are still to come.
 */
static int
force_below_waiters (struct xd_window *win)
{
  uint64_t below = lowest_waiter (win);

  win->ops->say_stalled (win->owner, below);
  win->stalls++;
  if (below > win->floor)
    win->floor = below;
  return xd_window_settle_ready (win);
}

/* The stall time is STALL_MS while other requests are in progress, and
 * the shorter GRACE_MS while every request in progress waits for the
 * window (see vmdk-stream.h).
 */
int
xd_window_wait (struct xd_window *win, uint64_t unit)
{
  uint64_t seen = win->progress, since = xd_now_ms ();
  struct xd_window_waiter me = { .unit = unit };
  struct xd_window_waiter **pp;
  int r = 0;

  if (unit < win->next + win->size)
    return 0;
  win->waits++;
  me.next = win->waiters;
  win->waiters = &me;
  win->waiting++;
  while (unit >= win->next + win->size) {
    unsigned limit = win->active > win->waiting
      ? win->stall_ms : win->grace_ms;
    uint64_t now = xd_now_ms ();
    struct timespec ts;

    if (win->failed) {
      r = win->ops->refuse_failed (win->owner);
      break;
    }
    if (win->progress != seen) {
      seen = win->progress;
      since = now;
    }
    if (now - since >= limit) {
      r = force_below_waiters (win);
      if (r == -1)
        break;
      /* The owner may still have units to settle (compressing them):
       * wait for them, and a whole limit before forcing again.
       */
      since = now;
      seen = win->progress;
      if (unit < win->next + win->size)
        break;
    }
    ts = xd_monotonic_at (since + limit);
    pthread_cond_timedwait (win->cond, win->lock, &ts);
  }
  for (pp = &win->waiters; *pp != &me; pp = &(*pp)->next)
    ;
  *pp = me.next;
  win->waiting--;
  return r;
}

uint64_t
xd_window_settle_zeroed (struct xd_window *win, uint64_t count,
                         uint64_t offset, uint64_t unit_bytes)
{
  uint64_t done = 0;

  while (count - done >= unit_bytes && !win->failed
         && (offset + done) / unit_bytes == win->next) {
    if (win->ops->settle_zeroed (win->owner) != 1)
      break;
    done += unit_bytes;
  }
  if (done)
    pthread_cond_broadcast (win->cond);
  return done;
}

int
xd_window_write (struct xd_window *win, int checked,
                 const unsigned char *buf, uint32_t count, uint64_t offset,
                 unsigned unit_bytes)
{
  int r = checked;

  win->active++;
  while (r == 0 && count > 0) {
    uint64_t unit = offset / unit_bytes;
    unsigned off = offset % unit_bytes;
    unsigned n = unit_bytes - off < count ? unit_bytes - off : count;

    if (buf == NULL && off == 0) {
      uint64_t z = xd_window_settle_zeroed (win, count, offset, unit_bytes);

      if (z > 0) {
        offset += z;
        count -= z;
        continue;
      }
    }
    r = win->ops->write_in_unit (win->owner, unit, buf, off, n, offset);
    if (r == 0 && win->failed)
      r = win->ops->refuse_failed (win->owner);
    if (buf)
      buf += n;
    offset += n;
    count -= n;
  }
  win->active--;
  pthread_cond_broadcast (win->cond);
  return r;
}
