/* xdisk vmdkx: the streamOptimized writer's ordered compression
 * pipeline; see vmdk-stream-pipe.h, and vmdk-stream-write.c for the
 * file's layout.
 *
 * Concurrency: one mutex guards the window and the file's end.  A
 * writer copies its bytes into the grain's buffer under the lock; a
 * complete grain goes on a queue that worker threads (one per CPU)
 * take grains from and compress with the lock released, so grains
 * compress in parallel even for a client with one request in flight;
 * whoever finds the oldest grains ready appends them, under the lock,
 * in order.  A write beyond the window waits (see
 * xd_window_wait in io/window.c).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmdk/vmdk-stream-pipe.h"
#include "include/xd-bytes.h"
#include "include/xd-report.h"

static void
put_marker (unsigned char *m, uint64_t val, enum marker_type type)
{
  memset (m, 0, VMDK_SECTOR);
  xd_put_le64 (m, val);
  xd_put_le32 (m + 12, type);
}

/* Writing the file (lock held). */

/* A request after a failure (lock held). */
int
vmdk_stream_refuse_failed (struct vmdk_stream_writer *w)
{
  xd_error ("%s: an earlier write to the stream failed (%s)", w->io->name,
            strerror (w->win.error));
  errno = w->win.error;
  return -1;
}

static int
append (struct vmdk_stream_writer *w, const void *buf, uint64_t sectors,
        const char *what)
{
  if (w->file_end + sectors > UINT32_MAX) {
    xd_error ("%s: the stream would pass 2 TiB, the most a VMDK grain "
              "table can address", w->io->name);
    return xd_window_fail (&w->win, EFBIG);
  }
  if (xd_io_write (w->io, buf, sectors * VMDK_SECTOR,
                   w->file_end * VMDK_SECTOR, what) == -1) {
    /* Best effort: cut what was written of it (a full disk), leaving
     * whole grains and tables that a marker walk can index.
     */
    int e = errno;

    xd_error_hold ();
    xd_io_truncate (w->io, w->file_end * VMDK_SECTOR, "the stream");
    xd_error_release (false);
    /* ENOSPC or EFBIG tell the client more */
    return xd_window_fail (&w->win, e);
  }
  w->file_end += sectors;
  return 0;
}

/* After the last grain of a table: its marker and the table, if any
 * grain of it was stored.
 */
static int
write_gt (struct vmdk_stream_writer *w, uint64_t gt_index)
{
  unsigned char buf[(1 + GT_SECTORS) * VMDK_SECTOR];
  size_t i;

  if (!w->gt_used)
    return 0;
  put_marker (buf, GT_SECTORS, MARKER_GT);
  for (i = 0; i < GTES; i++)
    xd_put_le32 (buf + VMDK_SECTOR + 4 * i, w->gt[i]);
  w->gd[gt_index] = w->file_end + 1;
  if (append (w, buf, 1 + GT_SECTORS, "grain table") == -1)
    return -1;
  memset (w->gt, 0, sizeof w->gt);
  w->gt_used = false;
  return 0;
}

/* Grain w->win.next is settled: move on, closing its table if it was the
 * table's last.
 */
static int
advance (struct vmdk_stream_writer *w)
{
  uint64_t g = w->win.next++;

  w->win.progress++;
  if (w->win.next % GTES == 0 || w->win.next == w->nr_grains)
    return write_gt (w, g / GTES);
  return 0;
}

static int
append_grain (struct vmdk_stream_writer *w, struct slot *s)
{
  uint64_t sector = w->file_end;

  if (append (w, s->out, s->out_len / VMDK_SECTOR, "grain") == -1)
    return -1;
  w->gt[s->grain % GTES] = sector;
  w->gt_used = true;
  w->stored_grains++;
  w->stored[s->grain / 8] |= 1 << (s->grain % 8);
  return 0;
}

/* Slots. */

struct slot **
vmdk_stream_slot_at (struct vmdk_stream_writer *w, uint64_t grain)
{
  return &w->ring[grain % w->win.size];
}

void
vmdk_stream_slot_free (struct slot *s)
{
  if (s) {
    free (s->data);
    free (s->out);
    free (s);
  }
}

/* The sectors of grain G inside the disk (the last grain may be cut). */
static unsigned
grain_sectors_in_disk (const struct vmdk_stream_writer *w, uint64_t g)
{
  uint64_t left = w->capacity - g * GRAIN_SECTORS;

  return left < GRAIN_SECTORS ? left : GRAIN_SECTORS;
}

bool
vmdk_stream_slot_complete (const struct vmdk_stream_writer *w,
                           const struct slot *s)
{
  unsigned n = grain_sectors_in_disk (w, s->grain), i;

  for (i = 0; i < n; i++)
    if (!(s->filled[i / 64] & (UINT64_C (1) << (i % 64))))
      return false;
  return true;
}

/* Compress S (FILLING, lock held) to DONE.  The lock is released
 * while deflating; S stays in the ring (only DONE slots are freed).
 */
static int
compress_slot (struct vmdk_stream_writer *w, struct slot *s)
{
  struct xd_deflater *d;
  unsigned char *out;
  size_t n;

  if (s->data == NULL || xd_is_zero (s->data, GRAIN_BYTES)) {
    s->state = SLOT_DONE;
    s->out_len = 0;
    pthread_cond_broadcast (&w->cond);
    return 0;
  }
  d = xd_deflater_get (w->deflaters);
  out = malloc (w->out_cap);
  if (d == NULL || out == NULL) {
    xd_error ("%s: out of memory compressing a grain", w->io->name);
    if (d)
      xd_deflater_put (w->deflaters, d);
    free (out);
    return xd_window_fail (&w->win, ENOMEM);
  }
  s->state = SLOT_COMPRESSING;
  pthread_mutex_unlock (&w->lock);
  n = xd_deflater_run (d, s->data, GRAIN_BYTES, out + MARKER_GRAIN_HEAD,
                       w->out_cap - MARKER_GRAIN_HEAD - VMDK_SECTOR);
  xd_deflater_put (w->deflaters, d);
  if (n > 0) {
    size_t total = (MARKER_GRAIN_HEAD + n + VMDK_SECTOR - 1)
      / VMDK_SECTOR * VMDK_SECTOR;

    xd_put_le64 (out, s->grain * GRAIN_SECTORS);
    xd_put_le32 (out + 8, n);
    memset (out + MARKER_GRAIN_HEAD + n, 0, total - MARKER_GRAIN_HEAD - n);
    s->out_len = total;
    /* Keep only what the stream takes: the window's memory bound. */
    if (total < w->out_cap) {
      unsigned char *fit = realloc (out, total);

      if (fit)
        out = fit;
    }
  }
  pthread_mutex_lock (&w->lock);
  s->out = out;
  s->state = SLOT_DONE;
  w->win.progress++;
  pthread_cond_broadcast (&w->cond);
  if (n == 0) {
    xd_error ("%s: deflating grain %" PRIu64 " failed", w->io->name,
              s->grain);
    return xd_window_fail (&w->win, EIO);
  }
  return 0;
}

static void start_workers (struct vmdk_stream_writer *w);

/* S (FILLING, lock held) is complete or due: hand it to the workers,
 * or compress it here if there are none.
 */
int
vmdk_stream_settle (struct vmdk_stream_writer *w, struct slot *s)
{
  /* Not at create: nbdkit forks after that (--run, daemon mode), and
   * threads do not survive a fork.
   */
  if (!w->workers_tried) {
    w->workers_tried = true;
    start_workers (w);
  }
  if (w->nr_workers == 0 || s->data == NULL)
    return compress_slot (w, s);
  s->state = SLOT_QUEUED;
  s->queued = NULL;
  *w->queue_end = s;
  w->queue_end = &s->queued;
  pthread_cond_signal (&w->work);
  return 0;
}

/* Grain w->win.next, at the window's back edge, if it is settled:
 * appended if DONE; below the floor, compressed as it is, or skipped if
 * never written (xd_window_settle_ready's step, lock held).
 */
static int
settle_next (void *h)
{
  struct vmdk_stream_writer *w = h;
  struct slot **at = vmdk_stream_slot_at (w, w->win.next);
  struct slot *s = *at;

  if (s == NULL || s->grain != w->win.next) {
    if (w->win.next >= w->win.floor)
      return 0;
    return advance (w) == -1 ? -1 : 1;
  }
  if (s->state == SLOT_FILLING) {
    if (w->win.next >= w->win.floor)
      return 0;
    return vmdk_stream_settle (w, s) == -1 ? -1 : 1;
  }
  if (s->state != SLOT_DONE)
    return 0;
  if (s->out_len > 0 && append_grain (w, s) == -1)
    return -1;
  *at = NULL;
  vmdk_stream_slot_free (s);
  return advance (w) == -1 ? -1 : 1;
}

/* Grain w->win.next was zeroed whole: settled if its slot is empty. */
static int
settle_zeroed (void *h)
{
  struct vmdk_stream_writer *w = h;

  if (*vmdk_stream_slot_at (w, w->win.next) != NULL)
    return 0;
  return advance (w) == -1 ? -1 : 1;
}

static int
refuse_failed (void *h)
{
  return vmdk_stream_refuse_failed (h);
}

static void
say_stalled (void *h, uint64_t below)
{
  struct vmdk_stream_writer *w = h;

  xd_debug ("%s: stream window stalled, writing grains below %" PRIu64
            " as they are", w->io->name, below);
}

const struct xd_window_ops vmdk_stream_window_ops = {
  .settle_next = settle_next,
  .settle_zeroed = settle_zeroed,
  .write_in_unit = vmdk_stream_write_in_grain,
  .refuse_failed = refuse_failed,
  .say_stalled = say_stalled,
};

/* A compressing thread: takes complete grains off the queue, deflates
 * them (lock released) and appends what has become ready.
 */
static void *
worker (void *arg)
{
  struct vmdk_stream_writer *w = arg;

  pthread_mutex_lock (&w->lock);
  for (;;) {
    struct slot *s;

    while (!w->stop && w->queue == NULL)
      pthread_cond_wait (&w->work, &w->lock);
    if (w->stop)
      break;
    s = w->queue;
    w->queue = s->queued;
    if (w->queue == NULL)
      w->queue_end = &w->queue;
    if (compress_slot (w, s) == 0)
      xd_window_settle_ready (&w->win);     /* errors are in w->win.failed */
  }
  pthread_mutex_unlock (&w->lock);
  return NULL;
}

static void
start_workers (struct vmdk_stream_writer *w)
{
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);
  unsigned want = cpus < 1 ? 1 : cpus > w->max_workers
    ? w->max_workers : (unsigned) cpus;

  while (w->nr_workers < want
         && pthread_create (&w->workers[w->nr_workers], NULL, worker, w) == 0)
    w->nr_workers++;
}

void
vmdk_stream_stop_workers (struct vmdk_stream_writer *w)
{
  unsigned i;

  pthread_mutex_lock (&w->lock);
  w->stop = true;
  pthread_cond_broadcast (&w->work);
  pthread_mutex_unlock (&w->lock);
  for (i = 0; i < w->nr_workers; i++)
    pthread_join (w->workers[i], NULL);
  w->nr_workers = 0;
}

/* The end of the stream: GD marker + GD, footer marker + footer, EOS. */
int
vmdk_stream_write_tail (struct vmdk_stream_writer *w)
{
  uint64_t gd_sectors = (w->nr_gts * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR;
  uint64_t n = 1 + gd_sectors + 2 + 1;
  unsigned char *buf = calloc (n, VMDK_SECTOR), *p;
  uint64_t i;
  int r;

  if (buf == NULL) {
    xd_error ("%s: out of memory for the grain directory", w->io->name);
    return xd_window_fail (&w->win, ENOMEM);
  }
  put_marker (buf, gd_sectors, MARKER_GD);
  for (i = 0; i < w->nr_gts; i++)
    xd_put_le32 (buf + VMDK_SECTOR + 4 * i, w->gd[i]);
  p = buf + (1 + gd_sectors) * VMDK_SECTOR;
  put_marker (p, 1, MARKER_FOOTER);
  memcpy (p + VMDK_SECTOR, w->header, VMDK_SECTOR);
  xd_put_le64 (p + VMDK_SECTOR + 56, w->file_end + 1);
  put_marker (p + 2 * VMDK_SECTOR, 0, MARKER_EOS);
  r = append (w, buf, n, "grain directory, footer and end-of-stream marker");
  free (buf);
  return r;
}

