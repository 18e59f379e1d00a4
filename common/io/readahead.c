/* xdisk: sequential read-ahead in front of a slow xd_io, see
 * xd-readahead.h.
 *
 * One lock guards the chunks and the streams; reads of the io below and
 * copies out of a chunk happen outside it.  A chunk goes EMPTY ->
 * QUEUED -> LOADING -> DONE or FAILED, and back to QUEUED for another
 * offset when it is reused.  A reader that needs a QUEUED chunk loads
 * it itself rather than wait for a worker; one that needs a LOADING
 * chunk waits for it.  A chunk is never reused while LOADING or while
 * a reader copies out of it (refs), so a reader never sees bytes of
 * another offset.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "include/xd-math.h"
#include "io/xd-readahead.h"
#include "include/xd-report.h"

/* Recent sequential readers followed at once (nbdcopy's workers, a
 * format's metadata walk beside its data).
 */
#define NR_STREAMS 8
/* A stream that read within this many reads is still going (with
 * several streams, their reads take turns).
 */
#define RECENT 8

enum chunk_state { CHUNK_EMPTY, CHUNK_QUEUED, CHUNK_LOADING, CHUNK_DONE,
                   CHUNK_FAILED };

struct chunk {
  enum chunk_state state;
  uint64_t index;               /* offset / chunk_size */
  size_t len;                   /* bytes (less at the end of the io) */
  unsigned refs;                /* readers copying out of buf */
  bool used;                    /* a read took bytes from it */
  bool consumed;                /* a read took its last byte */
  uint64_t stamp;               /* when queued or last used */
  char *buf;                    /* allocated when first queued */
};

struct stream {
  bool live;
  uint64_t start;               /* where its first read started */
  uint64_t last;                /* where its last read started */
  uint64_t next;                /* where its last read ended */
  uint64_t reads;               /* reads that continued it */
  uint64_t stamp;
};

struct readahead {
  struct xd_io *base;
  size_t chunk_size;
  uint64_t ahead;
  size_t nr_chunks;
  struct chunk *chunks;
  struct stream streams[NR_STREAMS];
  uint64_t clock;               /* counts reads, for the stamps */
  pthread_mutex_t lock;
  pthread_cond_t work;          /* a chunk was queued, or stopping */
  pthread_cond_t loaded;        /* a chunk left LOADING */
  bool stopping;
  size_t nr_threads;
  pthread_t *threads;
  struct xd_readahead_stats stats;
};

static uint64_t
chunk_offset (const struct readahead *ra, const struct chunk *c)
{
  return c->index * ra->chunk_size;
}

/* The chunk holding chunk number INDEX, in any state but EMPTY. */
static struct chunk *
find_chunk (struct readahead *ra, uint64_t index)
{
  size_t i;

  for (i = 0; i < ra->nr_chunks; i++)
    if (ra->chunks[i].state != CHUNK_EMPTY && ra->chunks[i].index == index)
      return &ra->chunks[i];
  return NULL;
}

/* True if stream S read recently: one that stopped (a copy worker at
 * the end of its part) does not hold chunks or share the read-ahead.
 */
static bool
going (const struct readahead *ra, const struct stream *s)
{
  return s->live && ra->clock - s->stamp <= RECENT;
}

/* A read at OFFSET, inside what a stream that stopped has read: that
 * range is read again (another copy), and the old stream must not keep
 * it from being read ahead (read_already).
 */
static void
forget_streams_over (struct readahead *ra, uint64_t offset)
{
  size_t i;

  for (i = 0; i < NR_STREAMS; i++) {
    struct stream *s = &ra->streams[i];
    if (s->live && !going (ra, s) && s->start <= offset && offset < s->next)
      s->live = false;
  }
}

/* Note a read of [OFFSET, END): true if it continues a recent stream,
 * that is starts at most a chunk before where one ended, or at most
 * AHEAD after it (a client that copies only the data skips the holes;
 * the chunks read ahead in a hole are then free again).  Otherwise it
 * starts a stream in place of the least recent one.
 */
static bool
note_stream (struct readahead *ra, uint64_t offset, uint64_t end)
{
  struct stream *victim = &ra->streams[0];
  size_t i;

  forget_streams_over (ra, offset);
  for (i = 0; i < NR_STREAMS; i++) {
    struct stream *s = &ra->streams[i];
    if (s->live && offset <= s->next + ra->ahead &&
        s->next <= offset + ra->chunk_size) {
      s->last = offset;
      s->next = xd_max_u64 (s->next, end);
      s->reads++;
      s->stamp = ra->clock;
      return true;
    }
    if (victim->live && (!s->live || s->stamp < victim->stamp))
      victim = s;
  }
  victim->live = true;
  victim->start = victim->last = offset;
  victim->reads = 0;
  victim->next = end;
  victim->stamp = ra->clock;
  return false;
}

/* True if a stream reads chunk C now or will soon: C ends after the
 * start of the stream's last read, which may still be copying out of
 * it, and starts no further than SHARE after the stream's end.
 */
static bool
wanted (const struct readahead *ra, const struct chunk *c, uint64_t share)
{
  uint64_t start = chunk_offset (ra, c), end = start + c->len;
  size_t i;

  for (i = 0; i < NR_STREAMS; i++) {
    const struct stream *s = &ra->streams[i];
    if (going (ra, s) && s->last < end && start <= s->next + share)
      return true;
  }
  return false;
}

/* True if another stream has read all of chunk number INDEX already:
 * a stream that runs into the range another one started at (a copy
 * split between workers) is not read ahead of there twice.
 */
static bool
read_already (const struct readahead *ra, uint64_t index)
{
  uint64_t start = index * ra->chunk_size, end = start + ra->chunk_size;
  size_t i;

  for (i = 0; i < NR_STREAMS; i++) {
    const struct stream *s = &ra->streams[i];
    if (s->live && s->start <= start && end <= s->next)
      return true;
  }
  return false;
}

/* A chunk to load another offset into, or NULL: an empty or failed one
 * first, else the least recently used of those no stream wants, each
 * stream reading SHARE ahead.
 */
static struct chunk *
free_chunk (struct readahead *ra, uint64_t share)
{
  struct chunk *best = NULL;
  size_t i;

  for (i = 0; i < ra->nr_chunks; i++) {
    struct chunk *c = &ra->chunks[i];
    if (c->refs > 0)
      continue;
    if (c->state == CHUNK_EMPTY || c->state == CHUNK_FAILED)
      return c;
    if (c->state == CHUNK_DONE && (c->consumed || !wanted (ra, c, share)) &&
        (best == NULL || c->stamp < best->stamp))
      best = c;
  }
  if (best != NULL && !best->used)
    ra->stats.unused++;
  return best;
}

/* How far ahead of one stream to read: AHEAD shared between the
 * streams that read sequentially now (continued at least once, and
 * recently), so that each gets its part of the buffers.
 */
static uint64_t
ahead_of_each (const struct readahead *ra)
{
  uint64_t busy = 0;
  size_t i;

  for (i = 0; i < NR_STREAMS; i++) {
    const struct stream *s = &ra->streams[i];
    if (going (ra, s) && s->reads > 0)
      busy++;
  }
  return xd_max_u64 (ra->ahead / xd_max_u64 (busy, 1), ra->chunk_size);
}

/* Queue the chunks of [FROM, FROM + the stream's share of AHEAD, at
 * most LIMIT) that are not held yet, while free buffers last.
 */
static void
schedule (struct readahead *ra, uint64_t from, uint64_t limit)
{
  uint64_t size = ra->base->size, share = ahead_of_each (ra), index, last;

  if (from >= size || limit == 0)
    return;
  last = (xd_min_u64 (size - from, xd_min_u64 (share, limit)) - 1 + from) /
    ra->chunk_size;
  for (index = from / ra->chunk_size; index <= last; index++) {
    struct chunk *c;

    if (find_chunk (ra, index) != NULL || read_already (ra, index))
      continue;
    c = free_chunk (ra, share);
    if (c == NULL)
      return;
    if (c->buf == NULL && (c->buf = malloc (ra->chunk_size)) == NULL) {
      c->state = CHUNK_EMPTY;
      return;                   /* no memory: no read-ahead */
    }
    c->state = CHUNK_QUEUED;
    c->index = index;
    c->len = (size_t) xd_min_u64 (ra->chunk_size,
                                  size - index * ra->chunk_size);
    c->used = c->consumed = false;
    c->stamp = ra->clock;
    pthread_cond_signal (&ra->work);
  }
}

/* Load the QUEUED chunk C: called with the lock held, which is dropped
 * during the read.  A failure is only counted: see xd-readahead.h.
 */
static void
load_chunk (struct readahead *ra, struct chunk *c)
{
  int r;

  c->state = CHUNK_LOADING;
  pthread_mutex_unlock (&ra->lock);
  /* What the io below reports of a failure is only debug: a reader of
   * the range will meet the error itself.
   */
  xd_error_hold ();
  r = ra->base->ops->pread (ra->base, c->buf, c->len, chunk_offset (ra, c));
  if (r == -1)
    xd_debug ("%s: read-ahead of %zu bytes at offset %" PRIu64 " failed: %s",
              ra->base->name, c->len, chunk_offset (ra, c),
              strerror (errno ? errno : EIO));
  xd_error_release (false);
  pthread_mutex_lock (&ra->lock);
  if (r == 0) {
    c->state = CHUNK_DONE;
    ra->stats.loaded++;
  }
  else {
    c->state = CHUNK_FAILED;
    ra->stats.failed++;
  }
  pthread_cond_broadcast (&ra->loaded);
}

/* The QUEUED chunk queued first, or NULL. */
static struct chunk *
next_queued (struct readahead *ra)
{
  struct chunk *first = NULL;
  size_t i;

  for (i = 0; i < ra->nr_chunks; i++) {
    struct chunk *c = &ra->chunks[i];
    if (c->state == CHUNK_QUEUED &&
        (first == NULL || c->stamp < first->stamp ||
         (c->stamp == first->stamp && c->index < first->index)))
      first = c;
  }
  return first;
}

/* Set in the read-ahead's own threads. */
static _Thread_local bool in_worker;

bool
xd_readahead_in_worker (void)
{
  return in_worker;
}

static void *
worker (void *arg)
{
  struct readahead *ra = arg;

  in_worker = true;
  pthread_mutex_lock (&ra->lock);
  while (!ra->stopping) {
    struct chunk *c = next_queued (ra);
    if (c == NULL)
      pthread_cond_wait (&ra->work, &ra->lock);
    else
      load_chunk (ra, c);
  }
  pthread_mutex_unlock (&ra->lock);
  return NULL;
}

/* Copy out of the DONE chunk C the bytes of [OFFSET, END) it holds into
 * P: called with the lock held, dropped during the copy.  Returns the
 * number of bytes copied.
 */
static size_t
copy_out (struct readahead *ra, struct chunk *c, char *p, uint64_t offset,
          uint64_t end)
{
  uint64_t start = chunk_offset (ra, c);
  size_t in = (size_t) (offset - start);
  size_t n = (size_t) xd_min_u64 (end - offset, c->len - in);

  c->refs++;
  c->stamp = ra->clock;
  ra->stats.hits++;
  pthread_mutex_unlock (&ra->lock);
  memcpy (p, c->buf + in, n);
  pthread_mutex_lock (&ra->lock);
  c->refs--;
  c->used = true;
  if (in + n == c->len)
    c->consumed = true;
  return n;
}

/* How much of [OFFSET, END) to read from the io below: up to the first
 * chunk boundary where a chunk is held (loaded or on its way).
 */
static size_t
direct_span (struct readahead *ra, uint64_t offset, uint64_t end)
{
  uint64_t q = (offset / ra->chunk_size + 1) * ra->chunk_size;

  while (q < end) {
    struct chunk *c = find_chunk (ra, q / ra->chunk_size);
    if (c != NULL && c->state != CHUNK_FAILED)
      break;
    q += ra->chunk_size;
  }
  return (size_t) (xd_min_u64 (q, end) - offset);
}

static int
readahead_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct readahead *ra = io->priv;
  uint64_t end = offset + count;
  char *p = buf;
  int r = 0;

  pthread_mutex_lock (&ra->lock);
  ra->clock++;
  /* A large read is taken for the start of a copy, and read ahead of
   * at once.
   */
  if (note_stream (ra, offset, end) || count >= ra->chunk_size)
    schedule (ra, end, UINT64_MAX);
  while (offset < end) {
    struct chunk *c = find_chunk (ra, offset / ra->chunk_size);
    size_t n;

    if (c != NULL && c->state == CHUNK_QUEUED) {
      if (offset == chunk_offset (ra, c) && end - offset >= c->len) {
        /* All of it is for this read: straight into its buffer, one
         * copy fewer.
         */
        c->state = CHUNK_EMPTY;
        continue;
      }
      load_chunk (ra, c);
      continue;
    }
    if (c != NULL && c->state == CHUNK_LOADING) {
      pthread_cond_wait (&ra->loaded, &ra->lock);
      continue;
    }
    if (c != NULL && c->state == CHUNK_DONE)
      n = copy_out (ra, c, p, offset, end);
    else {
      n = direct_span (ra, offset, end);
      ra->stats.direct++;
      pthread_mutex_unlock (&ra->lock);
      r = ra->base->ops->pread (ra->base, p, n, offset);
      pthread_mutex_lock (&ra->lock);
      if (r == -1)
        break;
    }
    p += n;
    offset += n;
  }
  if (r == -1) {
    int err = errno;
    pthread_mutex_unlock (&ra->lock);
    errno = err;
    return -1;
  }
  pthread_mutex_unlock (&ra->lock);
  return 0;
}

static int
readahead_allocation (struct xd_io *io, uint64_t offset, bool *is_data,
                      uint64_t *run)
{
  struct readahead *ra = io->priv;

  if (ra->base->ops->allocation == NULL) {
    *is_data = true;
    *run = io->size - offset;
    return 0;
  }
  return ra->base->ops->allocation (ra->base, offset, is_data, run);
}

static void
stop_threads (struct readahead *ra)
{
  size_t i;

  pthread_mutex_lock (&ra->lock);
  ra->stopping = true;
  pthread_cond_broadcast (&ra->work);
  pthread_mutex_unlock (&ra->lock);
  for (i = 0; i < ra->nr_threads; i++)
    pthread_join (ra->threads[i], NULL);
  ra->nr_threads = 0;
}

static void
free_readahead (struct readahead *ra)
{
  size_t i;

  stop_threads (ra);
  for (i = 0; i < ra->nr_chunks; i++)
    free (ra->chunks[i].buf);
  free (ra->chunks);
  free (ra->threads);
  pthread_cond_destroy (&ra->loaded);
  pthread_cond_destroy (&ra->work);
  pthread_mutex_destroy (&ra->lock);
  xd_io_close (ra->base);
  free (ra);
}

static void
readahead_close (struct xd_io *io)
{
  struct readahead *ra = io->priv;

  stop_threads (ra);
  xd_debug ("%s: read-ahead: %" PRIu64 " chunks loaded, %" PRIu64
            " failed, %" PRIu64 " dropped unused; %" PRIu64
            " reads from chunks, %" PRIu64 " from below",
            ra->base->name, ra->stats.loaded, ra->stats.failed,
            ra->stats.unused, ra->stats.hits, ra->stats.direct);
  free_readahead (ra);
}

static const struct xd_io_ops readahead_ops = {
  .pread = readahead_pread,
  .allocation = readahead_allocation,
  .close = readahead_close,
};

void
xd_readahead_hint (struct xd_io *io, uint64_t offset, uint64_t len)
{
  struct readahead *ra = io->priv;
  size_t i;

  pthread_mutex_lock (&ra->lock);
  for (i = 0; i < NR_STREAMS; i++) {
    const struct stream *s = &ra->streams[i];
    if (going (ra, s) && offset <= s->next + ra->ahead &&
        s->next <= offset + ra->chunk_size)
      break;                    /* a stream is on its way there */
  }
  if (i == NR_STREAMS) {
    ra->clock++;
    note_stream (ra, offset, offset);
    schedule (ra, offset, len);
  }
  pthread_mutex_unlock (&ra->lock);
}

void
xd_readahead_get_stats (struct xd_io *io, struct xd_readahead_stats *stats)
{
  struct readahead *ra = io->priv;

  pthread_mutex_lock (&ra->lock);
  *stats = ra->stats;
  pthread_mutex_unlock (&ra->lock);
}

static int
start_threads (struct readahead *ra, size_t nr_threads)
{
  ra->threads = calloc (nr_threads ? nr_threads : 1, sizeof *ra->threads);
  if (ra->threads == NULL)
    return -1;
  while (ra->nr_threads < nr_threads) {
    int err = pthread_create (&ra->threads[ra->nr_threads], NULL, worker, ra);
    if (err != 0) {
      errno = err;
      return -1;
    }
    ra->nr_threads++;
  }
  return 0;
}

struct xd_io *
xd_io_open_readahead (struct xd_io *base, size_t chunk_size,
                      size_t nr_chunks, size_t ahead, size_t nr_threads)
{
  struct readahead *ra;
  struct xd_io *io;

  if (chunk_size == 0) {
    xd_error ("%s: read-ahead in chunks of 0 bytes", base->name);
    xd_io_close (base);
    errno = EINVAL;
    return NULL;
  }
  ra = calloc (1, sizeof *ra);
  if (ra == NULL) {
    xd_error ("%s: calloc: %s", base->name, strerror (errno));
    xd_io_close (base);
    return NULL;
  }
  ra->base = base;
  ra->chunk_size = chunk_size;
  ra->nr_chunks = nr_chunks;
  ra->ahead = ahead;
  pthread_mutex_init (&ra->lock, NULL);
  pthread_cond_init (&ra->work, NULL);
  pthread_cond_init (&ra->loaded, NULL);
  ra->chunks = calloc (nr_chunks ? nr_chunks : 1, sizeof *ra->chunks);
  if (ra->chunks == NULL || start_threads (ra, nr_threads) == -1) {
    xd_error ("%s: starting read-ahead: %s", base->name, strerror (errno));
    free_readahead (ra);
    return NULL;
  }
  io = xd_io_new (&readahead_ops, base->name, base->size, ra);
  if (io == NULL)
    free_readahead (ra);
  return io;
}
