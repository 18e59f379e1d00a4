/* xdisk vmdkx: creating a streamOptimized VMDK; see vmdk-stream.h.
 *
 * The layout is the one VMware's tools write (ovftool, ESXi exports):
 *
 *   sector 0      sparse header v3, flags 0x30001 (newline test,
 *                 compressed grains, markers), gdOffset GD_AT_END
 *   sector 1..    the embedded descriptor
 *   sector 128..  grains in ascending LBA order, each a 12-byte grain
 *                 marker (LBA, compressed size) + zlib stream, padded
 *                 to a sector; after the grains of each grain table
 *                 that has any, a GT marker and the table (4 sectors)
 *   then          GD marker + grain directory (0 for tables without
 *                 grains), footer marker + footer (the header with the
 *                 real gdOffset), end-of-stream marker: the footer and
 *                 the end-of-stream marker are the last two sectors.
 *
 * Concurrency: one mutex guards the window and the file's end.  A
 * writer copies its bytes into the grain's buffer under the lock; a
 * complete grain goes on a queue that worker threads (one per CPU)
 * take grains from and compress with the lock released, so grains
 * compress in parallel even for a client with one request in flight;
 * whoever finds the oldest grains ready appends them, under the lock,
 * in order.  A write beyond the window waits (see wait_window).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>
#ifdef HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include "vmdk/vmdk.h"
#include "vmdk/vmdk-stream.h"
#include "include/xd-bytes.h"
#include "io/xd-io.h"
#include "include/xd-iszero.h"
#include "include/xd-math.h"
#include "core/xd-random.h"
#include "core/xd-report.h"

#define GRAIN_SECTORS 128
#define GRAIN_BYTES (GRAIN_SECTORS * VMDK_SECTOR)
#define GTES 512
#define GT_SECTORS (GTES * 4 / VMDK_SECTOR)
#define OVERHEAD_SECTORS 128    /* the first grain's sector, as VMware */
#define MARKER_GRAIN_HEAD 12    /* lba (8) + size (4) */
#define DEFLATE_LEVEL 6         /* zlib's default, as VMware and qemu */

enum marker_type { MARKER_EOS = 0, MARKER_GT = 1, MARKER_GD = 2,
                   MARKER_FOOTER = 3 };

enum slot_state {
  SLOT_FILLING,                 /* taking writes */
  SLOT_QUEUED,                  /* complete, waiting for a worker */
  SLOT_COMPRESSING,             /* a thread deflates it, lock released */
  SLOT_DONE,                    /* ready to append (out, or a zero grain) */
};

struct slot {
  uint64_t grain;
  enum slot_state state;
  unsigned char *data;          /* GRAIN_BYTES, NULL while all zero */
  uint64_t filled[GRAIN_SECTORS / 64];  /* sectors written in full */
  unsigned char *out;           /* DONE: marker + stream + padding */
  size_t out_len;               /* 0: an all-zero grain, not stored */
  struct slot *queued;          /* next on the workers' queue */
};

struct deflater {
  struct deflater *next;
#ifdef HAVE_LIBDEFLATE
  struct libdeflate_compressor *c;
#else
  z_stream zs;
#endif
};

/* A request waiting for the window (on its stack). */
struct waiter {
  uint64_t grain;
  struct waiter *next;
};

struct vmdk_stream_writer {
  struct xd_io *io;
  uint64_t size, capacity;      /* bytes, sectors */
  uint64_t nr_grains, nr_gts;
  pthread_mutex_t lock;
  pthread_cond_t cond;          /* a slot changed state, or next moved */
  uint64_t window;              /* slots in the ring */
  unsigned stall_ms, grace_ms;
  struct slot **ring;           /* grain g at ring[g % window] */
  uint64_t next;                /* first grain not yet appended */
  uint64_t floor;               /* grains below it are appended as they are */
  uint64_t file_end;            /* sectors */
  uint32_t gt[GTES];            /* the table of grain next / GTES */
  bool gt_used;
  uint32_t *gd;                 /* nr_gts entries */
  unsigned char *stored;        /* bitmap: grains appended with data */
  uint64_t progress;            /* bumped whenever anything advances */
  unsigned active, waiting;     /* requests in progress, waiting */
  struct waiter *waiters;       /* the waiting ones */
  uint64_t stored_grains, waits, stalls;  /* for the debug line */
  bool started, finished, failed;
  int error;                    /* errno of the first failure */
  int finish_result;
  struct deflater *idle;
  /* The compressing threads (none: the writing thread compresses). */
  pthread_t workers[VMDK_STREAM_MAX_WORKERS];
  unsigned nr_workers, max_workers;
  bool workers_tried;           /* started on the first complete grain */
  pthread_cond_t work;          /* the queue has a slot, or stop */
  struct slot *queue, **queue_end;
  bool stop;
  unsigned char header[VMDK_SECTOR];
  size_t out_cap;               /* bytes of a slot's out buffer */
};

/* Time. */

static uint64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deflaters. */

static void
deflater_free (struct deflater *d)
{
#ifdef HAVE_LIBDEFLATE
  libdeflate_free_compressor (d->c);
#else
  deflateEnd (&d->zs);
#endif
  free (d);
}

static struct deflater *
deflater_new (void)
{
  struct deflater *d = calloc (1, sizeof *d);

  if (d == NULL)
    return NULL;
#ifdef HAVE_LIBDEFLATE
  d->c = libdeflate_alloc_compressor (DEFLATE_LEVEL);
  if (d->c == NULL) {
    free (d);
    errno = ENOMEM;
    return NULL;
  }
#else
  if (deflateInit (&d->zs, DEFLATE_LEVEL) != Z_OK) {
    free (d);
    errno = ENOMEM;
    return NULL;
  }
#endif
  return d;
}

/* More than a grain's zlib stream can take with either library (both
 * store incompressible data in stored blocks: a few bytes per block).
 */
static size_t
deflate_bound (void)
{
  return GRAIN_BYTES + GRAIN_BYTES / 16 + 1024;
}

/* Deflate GRAIN_BYTES of IN into OUT (CAP bytes): the stream's size,
 * or 0 on failure.
 */
static size_t
deflate_grain (struct deflater *d, const void *in, unsigned char *out,
               size_t cap)
{
#ifdef HAVE_LIBDEFLATE
  return libdeflate_zlib_compress (d->c, in, GRAIN_BYTES, out, cap);
#else
  if (deflateReset (&d->zs) != Z_OK)
    return 0;
  d->zs.next_in = (unsigned char *) in;
  d->zs.avail_in = GRAIN_BYTES;
  d->zs.next_out = out;
  d->zs.avail_out = cap;
  if (deflate (&d->zs, Z_FINISH) != Z_STREAM_END)
    return 0;
  return cap - d->zs.avail_out;
#endif
}

/* Take an idle deflater (lock held), or make one. */
static struct deflater *
deflater_get (struct vmdk_stream_writer *w)
{
  struct deflater *d = w->idle;

  if (d != NULL) {
    w->idle = d->next;
    return d;
  }
  return deflater_new ();
}

/* Metadata sectors. */

/* The sparse header (and footer, with the real GD_OFFSET). */
static void
put_header (unsigned char *h, uint64_t capacity, uint64_t desc_sectors,
            uint64_t gd_offset)
{
  memset (h, 0, VMDK_SECTOR);
  xd_put_le32 (h, VMDK_MAGIC_KDMV);
  xd_put_le32 (h + 4, 3);
  xd_put_le32 (h + 8, VMDK_FLAG_NEWLINE_TEST | VMDK_FLAG_COMPRESSED
               | VMDK_FLAG_MARKERS);
  xd_put_le64 (h + 12, capacity);
  xd_put_le64 (h + 20, GRAIN_SECTORS);
  xd_put_le64 (h + 28, 1);      /* descriptorOffset */
  xd_put_le64 (h + 36, desc_sectors);
  xd_put_le32 (h + 44, GTES);
  xd_put_le64 (h + 48, 0);      /* rgdOffset: none in a stream */
  xd_put_le64 (h + 56, gd_offset);
  xd_put_le64 (h + 64, OVERHEAD_SECTORS);
  h[72] = 0;                    /* uncleanShutdown */
  h[73] = '\n';
  h[74] = ' ';
  h[75] = '\r';
  h[76] = '\n';
  h[77] = 1;                    /* compressAlgorithm: deflate */
  h[78] = 0;
}

static void
put_marker (unsigned char *m, uint64_t val, enum marker_type type)
{
  memset (m, 0, VMDK_SECTOR);
  xd_put_le64 (m, val);
  xd_put_le32 (m + 12, type);
}

/* The descriptor as VMware's tools write it: comment lines included,
 * and only the DDB keys they write.
 */
static char *
make_descriptor (uint64_t capacity, const char *file,
                 const char *adapter, const char *hwversion)
{
  bool ide = strcmp (adapter, "ide") == 0;
  uint64_t heads = ide ? 16 : 255, sectors = 63;
  uint64_t cylinders = capacity / (heads * sectors);
  uint32_t cid;
  char *text;

  if (ide && cylinders > 16383)
    cylinders = 16383;
  if (cylinders == 0)
    cylinders = 1;
  do
    cid = xd_random_u32 ();
  while (cid == 0xffffffff);
  if (asprintf (&text,
                "# Disk DescriptorFile\n"
                "version=1\n"
                "CID=%08" PRIx32 "\n"
                "parentCID=ffffffff\n"
                "createType=\"streamOptimized\"\n"
                "\n"
                "# Extent description\n"
                "RW %" PRIu64 " SPARSE \"%s\"\n"
                "\n"
                "# The Disk Data Base \n"
                "#DDB\n"
                "\n"
                "ddb.adapterType = \"%s\"\n"
                "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
                "ddb.geometry.heads = \"%" PRIu64 "\"\n"
                "ddb.geometry.sectors = \"%" PRIu64 "\"\n"
                "ddb.longContentID = \"%08" PRIx32 "%08" PRIx32 "%08" PRIx32
                "%08" PRIx32 "\"\n"
                "ddb.virtualHWVersion = \"%s\"\n",
                cid, capacity, file, adapter, cylinders, heads, sectors,
                xd_random_u32 (), xd_random_u32 (), xd_random_u32 (), cid,
                hwversion) == -1)
    return NULL;
  return text;
}

/* The file name the extent line gives: the created file's base name. */
static const char *
base_name (const char *path)
{
  const char *slash = strrchr (path, '/');

  return slash ? slash + 1 : path;
}

/* Writing the file (lock held). */

/* The stream cannot go on: record ERR (the first one is kept and
 * given to every later request) and wake every waiting thread.
 */
static int
fail (struct vmdk_stream_writer *w, int err)
{
  if (!w->failed) {
    w->failed = true;
    w->error = err;
  }
  pthread_cond_broadcast (&w->cond);
  errno = w->error;
  return -1;
}

/* A request after a failure (lock held). */
static int
refuse_failed (struct vmdk_stream_writer *w)
{
  xd_error ("%s: an earlier write to the stream failed (%s)", w->io->name,
            strerror (w->error));
  errno = w->error;
  return -1;
}

static int
append (struct vmdk_stream_writer *w, const void *buf, uint64_t sectors,
        const char *what)
{
  if (w->file_end + sectors > UINT32_MAX) {
    xd_error ("%s: the stream would pass 2 TiB, the most a VMDK grain "
              "table can address", w->io->name);
    return fail (w, EFBIG);
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
    return fail (w, e);         /* ENOSPC or EFBIG tell the client more */
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

/* Grain w->next is settled: move on, closing its table if it was the
 * table's last.
 */
static int
advance (struct vmdk_stream_writer *w)
{
  uint64_t g = w->next++;

  w->progress++;
  if (w->next % GTES == 0 || w->next == w->nr_grains)
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

static struct slot **
ring_at (struct vmdk_stream_writer *w, uint64_t grain)
{
  return &w->ring[grain % w->window];
}

static void
slot_free (struct slot *s)
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

static bool
slot_complete (const struct vmdk_stream_writer *w, const struct slot *s)
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
  struct deflater *d;
  unsigned char *out;
  size_t n;

  if (s->data == NULL || xd_is_zero (s->data, GRAIN_BYTES)) {
    s->state = SLOT_DONE;
    s->out_len = 0;
    pthread_cond_broadcast (&w->cond);
    return 0;
  }
  d = deflater_get (w);
  out = malloc (w->out_cap);
  if (d == NULL || out == NULL) {
    xd_error ("%s: out of memory compressing a grain", w->io->name);
    if (d)
      deflater_free (d);
    free (out);
    return fail (w, ENOMEM);
  }
  s->state = SLOT_COMPRESSING;
  pthread_mutex_unlock (&w->lock);
  n = deflate_grain (d, s->data, out + MARKER_GRAIN_HEAD,
                     w->out_cap - MARKER_GRAIN_HEAD - VMDK_SECTOR);
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
  d->next = w->idle;
  w->idle = d;
  s->out = out;
  s->state = SLOT_DONE;
  w->progress++;
  pthread_cond_broadcast (&w->cond);
  if (n == 0) {
    xd_error ("%s: deflating grain %" PRIu64 " failed", w->io->name,
              s->grain);
    return fail (w, EIO);
  }
  return 0;
}

static void start_workers (struct vmdk_stream_writer *w);

/* S (FILLING, lock held) is complete or due: hand it to the workers,
 * or compress it here if there are none.
 */
static int
settle_slot (struct vmdk_stream_writer *w, struct slot *s)
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

/* Append every grain at the window's back edge that is settled: DONE,
 * or below the floor (then compressed as it is, or skipped if never
 * written).  Lock held.
 */
static int
emit_ready (struct vmdk_stream_writer *w)
{
  while (w->next < w->nr_grains && !w->failed) {
    struct slot **at = ring_at (w, w->next);
    struct slot *s = *at;

    if (s == NULL || s->grain != w->next) {
      if (w->next >= w->floor)
        break;
      if (advance (w) == -1)
        return -1;
      continue;
    }
    if (s->state == SLOT_FILLING) {
      if (w->next >= w->floor)
        break;
      if (settle_slot (w, s) == -1)
        return -1;
      continue;
    }
    if (s->state != SLOT_DONE)
      break;
    if (s->out_len > 0 && append_grain (w, s) == -1)
      return -1;
    *at = NULL;
    slot_free (s);
    if (advance (w) == -1)
      return -1;
  }
  pthread_cond_broadcast (&w->cond);
  return w->failed ? (errno = w->error, -1) : 0;
}

/* The lowest grain that a waiting request wants to write. */
static uint64_t
lowest_waiter (const struct vmdk_stream_writer *w)
{
  const struct waiter *x;
  uint64_t g = UINT64_MAX;

  for (x = w->waiters; x; x = x->next)
    if (x->grain < g)
      g = x->grain;
  return g;
}

/* Wait until grain G fits in the window (lock held).  When nothing has
 * advanced for the stall time, every grain below the lowest one that a
 * waiting request wants goes as it is: no request in progress writes
 * there, so the client skipped those ranges (they read as zeros).  Not
 * further: nbdcopy's connections write far apart, and the requests of
 * the others are still to come.
 */
static int
wait_window (struct vmdk_stream_writer *w, uint64_t g)
{
  uint64_t seen = w->progress, since = now_ms ();
  struct waiter me = { .grain = g };
  struct waiter **pp;
  int r = 0;

  if (g < w->next + w->window)
    return 0;
  w->waits++;
  me.next = w->waiters;
  w->waiters = &me;
  w->waiting++;
  while (g >= w->next + w->window) {
    unsigned limit = w->active > w->waiting ? w->stall_ms : w->grace_ms;
    uint64_t now = now_ms ();
    struct timespec ts;
    uint64_t until;

    if (w->failed) {
      r = refuse_failed (w);
      break;
    }
    if (w->progress != seen) {
      seen = w->progress;
      since = now;
    }
    if (now - since >= limit) {
      uint64_t f = lowest_waiter (w);

      xd_debug ("%s: stream window stalled, writing grains below %" PRIu64
                " as they are", w->io->name, f);
      w->stalls++;
      if (f > w->floor)
        w->floor = f;
      r = emit_ready (w);
      if (r == -1)
        break;
      /* The workers may still have to compress some: wait for them,
       * and a whole limit before forcing again.
       */
      since = now;
      seen = w->progress;
      if (g < w->next + w->window)
        break;
    }
    until = since + limit;
    ts.tv_sec = until / 1000;
    ts.tv_nsec = (until % 1000) * 1000000;
    pthread_cond_timedwait (&w->cond, &w->lock, &ts);
  }
  for (pp = &w->waiters; *pp != &me; pp = &(*pp)->next)
    ;
  *pp = me.next;
  w->waiting--;
  return r;
}

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
      emit_ready (w);           /* errors are in w->failed */
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

static void
stop_workers (struct vmdk_stream_writer *w)
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

/* The public interface. */

struct vmdk_stream_writer *
vmdk_stream_create (struct xd_io *io, const struct xd_create_opts *copts,
                    const char *adapter_type, const char *hwversion)
{
  struct vmdk_stream_writer *w;
  pthread_condattr_t ca;
  char *desc = NULL;
  unsigned char *start = NULL;
  uint64_t desc_sectors;
  size_t len;

  if (copts->size == 0 || copts->size % VMDK_SECTOR != 0
      || copts->size > VMDK_STREAM_MAX_SIZE) {
    xd_error ("%s: a streamOptimized VMDK's size must be a nonzero multiple "
              "of 512 bytes up to 2 TiB (asked %" PRIu64 ")", io->name,
              copts->size);
    xd_io_close (io);
    errno = EINVAL;
    return NULL;
  }
  w = calloc (1, sizeof *w);
  if (w == NULL) {
    xd_error ("%s: out of memory", io->name);
    xd_io_close (io);
    return NULL;
  }
  w->io = io;
  w->size = copts->size;
  w->capacity = copts->size / VMDK_SECTOR;
  w->nr_grains = (w->capacity + GRAIN_SECTORS - 1) / GRAIN_SECTORS;
  w->nr_gts = (w->nr_grains + GTES - 1) / GTES;
  w->stall_ms = VMDK_STREAM_STALL_MS;
  w->grace_ms = VMDK_STREAM_GRACE_MS;
  w->max_workers = VMDK_STREAM_MAX_WORKERS;
  w->window = VMDK_STREAM_WINDOW / GRAIN_BYTES;
  if (w->window > w->nr_grains)
    w->window = w->nr_grains;
  w->out_cap = (MARKER_GRAIN_HEAD + deflate_bound () + 2 * VMDK_SECTOR)
    / VMDK_SECTOR * VMDK_SECTOR;
  pthread_mutex_init (&w->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&w->cond, &ca);
  pthread_condattr_destroy (&ca);
  pthread_cond_init (&w->work, NULL);
  w->queue_end = &w->queue;
  w->ring = calloc (w->window, sizeof *w->ring);
  w->gd = calloc (w->nr_gts, sizeof *w->gd);
  w->stored = calloc ((w->nr_grains + 7) / 8, 1);
  desc = make_descriptor (w->capacity,
                          base_name (copts->path ? copts->path : io->name),
                          adapter_type ? adapter_type : "lsilogic",
                          hwversion ? hwversion : "4");
  if (w->ring == NULL || w->gd == NULL || w->stored == NULL || desc == NULL) {
    xd_error ("%s: out of memory", io->name);
    goto err;
  }
  len = strlen (desc);
  desc_sectors = (len + VMDK_SECTOR - 1) / VMDK_SECTOR;
  if (1 + desc_sectors > OVERHEAD_SECTORS) {
    xd_error ("%s: the descriptor is too long (%zu bytes)", io->name, len);
    errno = EINVAL;
    goto err;
  }
  put_header (w->header, w->capacity, desc_sectors, VMDK_GD_AT_END);
  start = calloc (OVERHEAD_SECTORS, VMDK_SECTOR);
  if (start == NULL) {
    xd_error ("%s: out of memory", io->name);
    goto err;
  }
  memcpy (start, w->header, VMDK_SECTOR);
  memcpy (start + VMDK_SECTOR, desc, len);
  if (xd_io_write (io, start, OVERHEAD_SECTORS * VMDK_SECTOR, 0,
                   "header and descriptor") == -1)
    goto err;
  w->file_end = OVERHEAD_SECTORS;
  free (start);
  free (desc);
  return w;

 err:
  free (start);
  free (desc);
  w->finished = true;           /* nothing to finish in a failed create */
  vmdk_stream_close (w);
  return NULL;
}

int
vmdk_stream_set_window (struct vmdk_stream_writer *w, uint64_t window_bytes,
                        unsigned stall_ms, unsigned grace_ms)
{
  uint64_t slots = window_bytes / GRAIN_BYTES;
  struct slot **ring;

  if (w->started) {
    xd_error ("%s: the stream window cannot change after the first write",
              w->io->name);
    return errno = EINVAL, -1;
  }
  if (slots == 0 || window_bytes % GRAIN_BYTES != 0) {
    xd_error ("%s: the stream window (%" PRIu64 " bytes) must be a nonzero "
              "multiple of the %u-byte grain", w->io->name, window_bytes,
              GRAIN_BYTES);
    return errno = EINVAL, -1;
  }
  if (slots > w->nr_grains)
    slots = w->nr_grains;
  ring = calloc (slots, sizeof *ring);
  if (ring == NULL) {
    xd_error ("%s: out of memory for the stream window", w->io->name);
    return -1;
  }
  free (w->ring);
  w->ring = ring;
  w->window = slots;
  if (stall_ms)
    w->stall_ms = stall_ms;
  if (grace_ms)
    w->grace_ms = grace_ms;
  return 0;
}

int
vmdk_stream_set_workers (struct vmdk_stream_writer *w, unsigned n)
{
  if (w->started) {
    xd_error ("%s: the compressing threads cannot change after the first "
              "write", w->io->name);
    return errno = EINVAL, -1;
  }
  w->max_workers = n < VMDK_STREAM_MAX_WORKERS ? n : VMDK_STREAM_MAX_WORKERS;
  return 0;
}

uint64_t
vmdk_stream_size (const struct vmdk_stream_writer *w)
{
  return w->size;
}

uint32_t
vmdk_stream_grain_bytes (const struct vmdk_stream_writer *w
                         __attribute__ ((unused)))
{
  return GRAIN_BYTES;
}

static bool
is_stored (const struct vmdk_stream_writer *w, uint64_t g)
{
  return w->stored[g / 8] & (1 << (g % 8));
}

static int
refuse_behind (struct vmdk_stream_writer *w, uint64_t offset)
{
  uint64_t bytes = w->window * GRAIN_BYTES;
  bool mib = bytes % (1024 * 1024) == 0;

  xd_error ("%s: write at offset %" PRIu64 " comes after that part of the "
            "streamOptimized image was written: writes must arrive in "
            "ascending order within a window of %" PRIu64 " %s",
            w->io->name, offset, mib ? bytes >> 20 : bytes >> 10,
            mib ? "MiB" : "KiB");
  return errno = EIO, -1;
}

/* The slot of grain G, ready for writing (lock held): waits for the
 * window and for a compression of G in progress.  1 if there is
 * nothing to write (zeros over a settled grain that was not stored).
 */
static int
writable_slot (struct vmdk_stream_writer *w, uint64_t g, bool zeros,
               uint64_t disk_offset, struct slot **sp)
{
  struct slot **at, *s;

  for (;;) {
    if (wait_window (w, g) == -1)
      return -1;
    if (g < w->next) {
      /* Zeros over a grain that was not stored change nothing. */
      if (zeros && !is_stored (w, g))
        return 1;
      return refuse_behind (w, disk_offset);
    }
    at = ring_at (w, g);
    s = *at;
    if (s == NULL) {
      s = calloc (1, sizeof *s);
      if (s == NULL) {
        xd_error ("%s: out of memory for the stream window", w->io->name);
        return -1;
      }
      s->grain = g;
      *at = s;
    }
    if (s->state != SLOT_COMPRESSING && s->state != SLOT_QUEUED)
      break;
    /* Once compressed it may be appended and freed: look again. */
    pthread_cond_wait (&w->cond, &w->lock);
  }
  if (s->state == SLOT_DONE) {  /* rewritten before its turn came */
    free (s->out);
    s->out = NULL;
    s->out_len = 0;
    s->state = SLOT_FILLING;
  }
  *sp = s;
  return 0;
}

/* Write or (BUF NULL) zero LEN bytes at byte OFF of grain G (lock
 * held).
 */
static int
write_in_grain (struct vmdk_stream_writer *w, uint64_t g, const void *buf,
                unsigned off, unsigned len, uint64_t disk_offset)
{
  bool zeros = buf == NULL || xd_is_zero (buf, len);
  struct slot *s;
  unsigned i;
  int r;

  r = writable_slot (w, g, zeros, disk_offset, &s);
  if (r != 0)
    return r == 1 ? 0 : -1;
  if (s->data == NULL && !zeros) {
    s->data = calloc (1, GRAIN_BYTES);
    if (s->data == NULL) {
      xd_error ("%s: out of memory for the stream window", w->io->name);
      return -1;
    }
  }
  if (s->data) {
    if (buf)
      memcpy (s->data + off, buf, len);
    else
      memset (s->data + off, 0, len);
  }
  for (i = (off + VMDK_SECTOR - 1) / VMDK_SECTOR;
       (i + 1) * VMDK_SECTOR <= off + len; i++)
    s->filled[i / 64] |= UINT64_C (1) << (i % 64);
  w->progress++;
  if (slot_complete (w, s) && settle_slot (w, s) == -1)
    return -1;
  return emit_ready (w);
}

/* Zeros over whole grains at the window's back edge with nothing in
 * their slots settle at once (a client zeroing a large hole).  Returns
 * the bytes settled (lock held).
 */
static uint64_t
zero_at_edge (struct vmdk_stream_writer *w, uint64_t count, uint64_t offset)
{
  uint64_t done = 0;

  while (count - done >= GRAIN_BYTES && !w->failed
         && (offset + done) / GRAIN_BYTES == w->next
         && *ring_at (w, w->next) == NULL) {
    if (advance (w) == -1)
      break;
    done += GRAIN_BYTES;
  }
  if (done)
    pthread_cond_broadcast (&w->cond);
  return done;
}

static int
check_request (struct vmdk_stream_writer *w, uint32_t count, uint64_t offset,
               const char *what)
{
  uint64_t end;

  if (w->failed)
    return refuse_failed (w);
  if (w->finished) {
    xd_error ("%s: the streamOptimized image is finished: no more %s",
              w->io->name, what);
    return errno = EROFS, -1;
  }
  if (xd_add_overflow (offset, count, &end) || end > w->size) {
    xd_error ("%s: %s beyond the end of the disk", w->io->name, what);
    return errno = EINVAL, -1;
  }
  return 0;
}

static int
write_range (struct vmdk_stream_writer *w, const unsigned char *buf,
             uint32_t count, uint64_t offset, const char *what)
{
  int r;

  pthread_mutex_lock (&w->lock);
  r = check_request (w, count, offset, what);
  w->started = true;
  w->active++;
  while (r == 0 && count > 0) {
    uint64_t g = offset / GRAIN_BYTES;
    unsigned off = offset % GRAIN_BYTES;
    unsigned n = GRAIN_BYTES - off < count ? GRAIN_BYTES - off : count;

    if (buf == NULL && off == 0) {
      uint64_t z = zero_at_edge (w, count, offset);

      if (z > 0) {
        offset += z;
        count -= z;
        continue;
      }
    }
    r = write_in_grain (w, g, buf, off, n, offset);
    if (r == 0 && w->failed)
      r = refuse_failed (w);
    if (buf)
      buf += n;
    offset += n;
    count -= n;
  }
  w->active--;
  pthread_cond_broadcast (&w->cond);
  pthread_mutex_unlock (&w->lock);
  return r;
}

int
vmdk_stream_pwrite (struct vmdk_stream_writer *w, const void *buf,
                    uint32_t count, uint64_t offset)
{
  return write_range (w, buf, count, offset, "writes");
}

int
vmdk_stream_zero (struct vmdk_stream_writer *w, uint32_t count,
                  uint64_t offset)
{
  return write_range (w, NULL, count, offset, "writes");
}

int
vmdk_stream_pread (struct vmdk_stream_writer *w, void *buf, uint32_t count,
                   uint64_t offset)
{
  unsigned char *p = buf;
  uint64_t end;
  int r = 0;

  if (xd_add_overflow (offset, count, &end) || end > w->size) {
    xd_error ("%s: read beyond the end of the disk", w->io->name);
    return errno = EINVAL, -1;
  }
  pthread_mutex_lock (&w->lock);
  while (count > 0) {
    uint64_t g = offset / GRAIN_BYTES;
    unsigned off = offset % GRAIN_BYTES;
    unsigned n = GRAIN_BYTES - off < count ? GRAIN_BYTES - off : count;
    struct slot *s = *ring_at (w, g);

    if (g < w->next && is_stored (w, g)) {
      xd_error ("%s: offset %" PRIu64 " was already compressed into the "
                "stream being written: it reads back once the image is "
                "finished and reopened", w->io->name, offset);
      r = -1;
      errno = EIO;
      break;
    }
    if (g >= w->next && s && s->grain == g && s->data)
      memcpy (p, s->data + off, n);
    else
      memset (p, 0, n);
    p += n;
    offset += n;
    count -= n;
  }
  pthread_mutex_unlock (&w->lock);
  return r;
}

int
vmdk_stream_flush (struct vmdk_stream_writer *w)
{
  int r = 0;

  /* The complete grains at the window's back edge go to the file
   * first: the workers may still be compressing them.
   */
  pthread_mutex_lock (&w->lock);
  while (!w->failed && w->next < w->nr_grains) {
    struct slot *s = *ring_at (w, w->next);

    if (s == NULL || s->grain != w->next || s->state == SLOT_FILLING)
      break;
    pthread_cond_wait (&w->cond, &w->lock);
  }
  if (w->failed)
    r = refuse_failed (w);
  pthread_mutex_unlock (&w->lock);
  return r == 0 ? xd_io_flush (w->io) : -1;
}

/* The end of the stream: GD marker + GD, footer marker + footer, EOS. */
static int
write_tail (struct vmdk_stream_writer *w)
{
  uint64_t gd_sectors = (w->nr_gts * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR;
  uint64_t n = 1 + gd_sectors + 2 + 1;
  unsigned char *buf = calloc (n, VMDK_SECTOR), *p;
  uint64_t i;
  int r;

  if (buf == NULL) {
    xd_error ("%s: out of memory for the grain directory", w->io->name);
    return fail (w, ENOMEM);
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

int
vmdk_stream_finish (struct vmdk_stream_writer *w)
{
  int r = 0, err;

  pthread_mutex_lock (&w->lock);
  if (w->finished) {
    r = w->finish_result;
    err = w->error;
    pthread_mutex_unlock (&w->lock);
    if (r == -1)
      errno = err ? err : EIO;
    return r;
  }
  w->floor = w->nr_grains;
  while (r == 0 && w->next < w->nr_grains && !w->failed) {
    r = emit_ready (w);
    if (r == 0 && w->next < w->nr_grains && !w->failed)
      pthread_cond_wait (&w->cond, &w->lock);
  }
  if (w->failed)
    r = refuse_failed (w);
  if (r == 0)
    r = write_tail (w);
  xd_debug ("%s: stream of %" PRIu64 " grains: %" PRIu64 " stored, %"
            PRIu64 " writes waited for the window, %" PRIu64 " stalls",
            w->io->name, w->nr_grains, w->stored_grains, w->waits,
            w->stalls);
  w->finished = true;
  pthread_mutex_unlock (&w->lock);
  if (r == 0)
    r = xd_io_flush (w->io);
  if (r == -1) {
    err = errno;
    xd_error ("%s: the streamOptimized image could not be finished",
              w->io->name);
    errno = err;
  }
  pthread_mutex_lock (&w->lock);
  w->finish_result = r;
  if (r == -1 && !w->failed)
    fail (w, errno);
  pthread_mutex_unlock (&w->lock);
  return r;
}

void
vmdk_stream_close (struct vmdk_stream_writer *w)
{
  uint64_t i;

  if (w == NULL)
    return;
  if (!w->finished)
    vmdk_stream_finish (w);
  stop_workers (w);
  if (w->ring)
    for (i = 0; i < w->window; i++)
      slot_free (w->ring[i]);
  while (w->idle) {
    struct deflater *d = w->idle;

    w->idle = d->next;
    deflater_free (d);
  }
  free (w->ring);
  free (w->gd);
  free (w->stored);
  pthread_cond_destroy (&w->cond);
  pthread_cond_destroy (&w->work);
  pthread_mutex_destroy (&w->lock);
  xd_io_close (w->io);
  free (w);
}
