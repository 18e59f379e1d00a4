/* xdisk: a test io that holds one write back, to force a race (see
 * xd-gate-io.h).  It forwards every call to a growable memory io.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib/xd-gate-io.h"
#include "include/xd-report.h"

struct gate {
  struct xd_io *base;           /* a growable memory io */
  pthread_mutex_t lock;         /* guards the fields below */
  pthread_cond_t cond;          /* signalled when they change */
  const void *mark;             /* armed: the bytes to hold a write for */
  size_t mark_len;
  bool held, released, timed_out;
};

/* XDISK_TIMEOUT_SCALE (tests/functions.sh): slow builds wait longer. */
static double
timeout_scale (void)
{
  const char *s = getenv ("XDISK_TIMEOUT_SCALE");
  double v = s ? strtod (s, NULL) : 1;

  return v >= 1 ? v : 1;
}

/* The CLOCK_MONOTONIC time SECONDS (scaled) from now. */
static struct timespec
deadline (unsigned seconds)
{
  struct timespec t;
  double d = seconds * timeout_scale ();

  clock_gettime (CLOCK_MONOTONIC, &t);
  t.tv_sec += (time_t) d;
  t.tv_nsec += (long) ((d - (double) (time_t) d) * 1e9);
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

/* Does the write of BUF (COUNT bytes) carry the armed data?  Locked. */
static bool
is_armed_write (const struct gate *g, const void *buf, size_t count)
{
  return g->mark && memmem (buf, count, g->mark, g->mark_len) != NULL;
}

/* Hold the calling write until released or timed out.  Locked. */
static void
hold (struct gate *g)
{
  struct timespec until = deadline (XD_GATE_HOLD_SECONDS);

  g->mark = NULL;
  g->held = true;
  pthread_cond_broadcast (&g->cond);
  while (!g->released)
    if (pthread_cond_timedwait (&g->cond, &g->lock, &until) == ETIMEDOUT) {
      g->timed_out = true;
      break;
    }
  g->released = true;
}

static int
gate_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct gate *g = io->priv;

  return g->base->ops->pread (g->base, buf, count, offset);
}

static int
gate_pwrite (struct xd_io *io, const void *buf, size_t count,
             uint64_t offset)
{
  struct gate *g = io->priv;

  pthread_mutex_lock (&g->lock);
  if (is_armed_write (g, buf, count))
    hold (g);
  pthread_mutex_unlock (&g->lock);
  return g->base->ops->pwrite (g->base, buf, count, offset);
}

static int
gate_flush (struct xd_io *io)
{
  struct gate *g = io->priv;

  return g->base->ops->flush (g->base);
}

static int
gate_truncate (struct xd_io *io, uint64_t size)
{
  struct gate *g = io->priv;

  /* The memory io zeroes what is cut off from its own recorded size. */
  g->base->size = io->size;
  return g->base->ops->truncate (g->base, size);
}

static void
gate_close (struct xd_io *io)
{
  struct gate *g = io->priv;

  xd_io_close (g->base);
  pthread_cond_destroy (&g->cond);
  pthread_mutex_destroy (&g->lock);
  free (g);
}

static const struct xd_io_ops gate_ops = {
  .pread = gate_pread,
  .close = gate_close,
  .pwrite = gate_pwrite,
  .flush = gate_flush,
  .truncate = gate_truncate,
};

struct xd_io *
xd_gate_io_new (const void *buf, size_t len, const char *name)
{
  struct gate *g = calloc (1, sizeof *g);
  pthread_condattr_t attr;
  struct xd_io *io;

  if (g == NULL) {
    xd_error ("%s: calloc: %m", name);
    return NULL;
  }
  g->base = xd_io_new_memory_rw (buf, len, name);
  if (g->base == NULL) {
    free (g);
    return NULL;
  }
  pthread_mutex_init (&g->lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&g->cond, &attr);
  pthread_condattr_destroy (&attr);
  io = xd_io_new (&gate_ops, name, len, g);
  if (io == NULL)
    gate_close (&(struct xd_io) { .priv = g });
  return io;
}

const unsigned char *
xd_gate_io_contents (struct xd_io *io)
{
  struct gate *g = io->priv;

  return xd_io_memory_contents (g->base);
}

/* Hold the next write whose buffer contains the LEN bytes at MARK (kept
 * by the caller until the hold is over), once.
 */
static void
xd_gate_arm (struct xd_io *io, const void *mark, size_t len)
{
  struct gate *g = io->priv;

  pthread_mutex_lock (&g->lock);
  g->mark = mark;
  g->mark_len = len;
  g->held = g->released = g->timed_out = false;
  pthread_mutex_unlock (&g->lock);
}

/* Wait until a write is held (true), or for at most 60 s, scaled. */
static bool
xd_gate_wait_held (struct xd_io *io)
{
  struct gate *g = io->priv;
  struct timespec until = deadline (60);
  bool held;

  pthread_mutex_lock (&g->lock);
  while (!g->held &&
         pthread_cond_timedwait (&g->cond, &g->lock, &until) != ETIMEDOUT)
    ;
  held = g->held;
  pthread_mutex_unlock (&g->lock);
  return held;
}

/* End the hold now (no-op if it is over). */
static void
xd_gate_release (struct xd_io *io)
{
  struct gate *g = io->priv;

  pthread_mutex_lock (&g->lock);
  g->released = true;
  pthread_cond_broadcast (&g->cond);
  pthread_mutex_unlock (&g->lock);
}

/* Did the hold end by its timeout, not by xd_gate_release? */
static bool
xd_gate_timed_out (struct xd_io *io)
{
  struct gate *g = io->priv;
  bool r;

  pthread_mutex_lock (&g->lock);
  r = g->timed_out;
  pthread_mutex_unlock (&g->lock);
  return r;
}

/* ---- the two writers ---- */

struct racer {
  xd_gate_write_fn write;
  void *opaque;
  struct xd_gate_write *w;
  pthread_t thread;
};

static void *
racer_run (void *arg)
{
  struct racer *t = arg;

  t->w->r = t->write (t->opaque, t->w->buf, t->w->len, t->w->off);
  return NULL;
}

/* Start T's write in a thread: test code, so a failure aborts. */
static void
racer_start (struct racer *t)
{
  int err = pthread_create (&t->thread, NULL, racer_run, t);

  if (err) {
    errno = err;
    perror ("pthread_create");
    abort ();
  }
}

bool
xd_gate_race (struct xd_io *io, xd_gate_write_fn write, void *opaque,
              struct xd_gate_write *a, struct xd_gate_write *b)
{
  struct racer ta = { .write = write, .opaque = opaque, .w = a };
  struct racer tb = { .write = write, .opaque = opaque, .w = b };
  bool held;

  xd_gate_arm (io, a->buf, a->len);
  racer_start (&ta);
  held = xd_gate_wait_held (io);
  racer_start (&tb);
  pthread_join (tb.thread, NULL);
  xd_gate_release (io);
  pthread_join (ta.thread, NULL);
  if (held)
    fprintf (stderr, "%s: allocation race: thread A held until %s\n",
             io->name, xd_gate_timed_out (io)
             ? "the timeout (B waited for the lock)" : "B had returned");
  return held;
}
