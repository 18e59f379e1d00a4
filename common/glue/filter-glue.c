/* xdisk: the nbdkit filter callbacks every filter shares, see
 * xd-filter-glue.h.
 *
 * How the layer below is read.  The image is parsed once and shared by
 * all connections, as in the plugins: the first connection's .prepare
 * opens contexts of its own into the layer below (nbdkit's "shared"
 * contexts, which outlive the connection) and parses the image through
 * them; later connections reuse it.  A failure is reported to that
 * connection, and the next connection tries again.
 *
 * Reads go to the layer below through a small pool of those contexts.
 * nbdkit's curl and ssh plugins serve one request at a time per
 * connection (thread model serialize_requests), and nbdkit lets a
 * filter open several: with one request in flight per context, up to
 * POOL_SIZE round trips overlap.  Under the parallel model one context
 * takes everything at once; under the stricter models (one request in
 * the whole server) one context serves one request at a time.
 *
 * Over a transport every read is a round trip, so the image is read
 * through a block cache (xd-iocache.h): the small reads of headers,
 * tables, markers and compressed grains come from whole blocks.
 *
 * Such a layer below also makes nbdkit serve each client connection
 * one request at a time (the thread model of a server is the strictest
 * of its layers), so a copying client waits a round trip per request.
 * The decoded disk is therefore read ahead (xd-readahead.h): pieces
 * after where a client stopped are decoded by threads of the filter
 * through the pool while the client is busy, and its next request is
 * a copy out of memory.  The read-ahead threads take a context only
 * when no client's read waits for one.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue/xd-filter-glue.h"
#include "io/xd-iocache.h"
#include "include/xd-math.h"
#include "io/xd-readahead.h"
#include "include/xd-report.h"

const char *const xd_glue_kind = "filter";

/* Contexts of the layer below: measured on bench/remote (VHDX, 10 ms a
 * request), 8 nearly halved the time of 4 with nbdcopy -C 4; 16 gained
 * a little more, but is a lot of sessions to open on one server.
 */
#define POOL_SIZE 8
/* Requests to the layer below are split into pieces of at most this
 * (nbdkit's own limit on a request is 64M).
 */
#define MAX_NEXT_READ (UINT32_C (32) << 20)
/* Blocks of the cache in front of the layer below: reads smaller than
 * this cost one round trip per block.
 */
#define IO_BLOCK_SIZE (1024 * 1024)
/* Blocks a miss of the block cache reads while the image is opened. */
#define OPEN_READ_AROUND 4
/* The request size the filter asks clients for (nbdcopy and qemu-img
 * use it).  With read-ahead a request costs a copy, not a round trip;
 * on bench/remote 32 MiB was slower (buffers that large are mapped and
 * faulted in afresh for every request, in nbdkit and in nbdcopy) and 1
 * or 2 MiB no faster.
 */
#define FILTER_PREFERRED (UINT32_C (4) << 20)
/* Pieces of the disk read ahead (xd-readahead.h): 2 and 8 MiB did no
 * better on bench/remote.
 */
#define READ_AHEAD_CHUNK (UINT32_C (4) << 20)
/* Read ahead where an extents reply says the data starts. */
#define EXTENTS_HINT (2 * READ_AHEAD_CHUNK)
/* A read of the layer below of twice this or more that a client waits
 * for is split over the contexts of the pool, in parallel, when it has
 * several.  The read-ahead's reads are not: nobody waits for them yet,
 * and each piece costs a round trip.
 */
#define SPLIT_MIN (UINT32_C (1) << 20)

struct slot {
  nbdkit_next *next;
  bool busy;                    /* a request is on it (under pool.lock) */
};

struct pool {
  struct slot slots[POOL_SIZE];
  size_t nr_slots;
  bool serialize;               /* the layer below takes one request
                                 * per context at a time */
  pthread_mutex_t lock;
  pthread_cond_t freed;         /* a slot stopped being busy */
  unsigned clients_waiting;     /* reads for clients waiting for a slot */
};

static int final_thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
static nbdkit_backend *backend;

/* Opened by the first connection, under open_lock. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool pool = {
  .lock = PTHREAD_MUTEX_INITIALIZER,
  .freed = PTHREAD_COND_INITIALIZER,
};
static struct xd_resolver *resolver;
static struct xd_image *disk;
static struct xd_io *served;    /* DISK as an io, behind read-ahead */

void
xd_filter_load (void)
{
  xd_set_reporters (nbdkit_verror, nbdkit_vdebug);
}

void
xd_filter_unload (void)
{
  xd_glue_forget_description ();
}

/* Keys a plugin below may also have: they are the filter's only when
 * the value is one the filter understands.  cache= is a size here and
 * default|none for the file plugin; size= is auto|current|geometry for
 * VHD and a size for the memory plugin.
 */
static bool
belongs_below (const char *key, const char *value)
{
  if (strcmp (key, "cache") == 0)
    return value[0] < '0' || value[0] > '9';
  if (strcmp (key, "size") == 0)
    return strcmp (value, "auto") != 0 && strcmp (value, "current") != 0 &&
      strcmp (value, "geometry") != 0;
  return strcmp (key, "file") == 0;
}

int
xd_filter_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
                  const char *key, const char *value)
{
  if (!belongs_below (key, value)) {
    switch (xd_glue_config_common (key, value)) {
    case -1: return -1;
    case 0: return 0;
    }
  }
  return next (nxdata, key, value);
}

int
xd_filter_get_ready (int thread_model)
{
  final_thread_model = thread_model;
  return 0;
}

int
xd_filter_after_fork (nbdkit_backend *b)
{
  backend = b;
  return 0;
}

/* ---- reading the layer below ---- */

static struct slot *
idle_slot (void)
{
  size_t i;

  for (i = 0; i < pool.nr_slots; i++)
    if (!pool.slots[i].busy)
      return &pool.slots[i];
  return NULL;
}

/* A context for one request.  A read a client waits for goes before
 * the read-ahead's (xd-readahead.h): the read-ahead threads take a
 * context only when no client read waits for one.
 */
static struct slot *
take_slot (void)
{
  bool ahead = xd_readahead_in_worker ();
  struct slot *s;

  if (!pool.serialize)
    return &pool.slots[0];
  pthread_mutex_lock (&pool.lock);
  if (!ahead)
    pool.clients_waiting++;
  while ((ahead && pool.clients_waiting > 0) || (s = idle_slot ()) == NULL)
    pthread_cond_wait (&pool.freed, &pool.lock);
  s->busy = true;
  if (!ahead)
    pool.clients_waiting--;
  pthread_mutex_unlock (&pool.lock);
  return s;
}

static void
give_slot (struct slot *s)
{
  if (!pool.serialize)
    return;
  pthread_mutex_lock (&pool.lock);
  s->busy = false;
  pthread_cond_broadcast (&pool.freed);
  pthread_mutex_unlock (&pool.lock);
}

/* Read COUNT bytes at OFFSET with one context: the layer below takes
 * requests of up to MAX_NEXT_READ.
 */
static int
read_below (char *p, size_t count, uint64_t offset)
{
  while (count > 0) {
    uint32_t n = (uint32_t) xd_min_u64 (count, MAX_NEXT_READ);
    struct slot *s = take_slot ();
    int err = 0, r;
    r = s->next->pread (s->next, p, n, offset, 0, &err);
    give_slot (s);
    if (r == -1) {
      /* The transport's own errno, never turned into data. */
      errno = err ? err : EIO;
      return -1;
    }
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* One piece of a read split over the pool. */
struct piece {
  char *p;
  size_t count;
  uint64_t offset;
  int err;                      /* errno, or 0 */
  pthread_t thread;
};

static void *
read_piece (void *arg)
{
  struct piece *pc = arg;

  pc->err = read_below (pc->p, pc->count, pc->offset) == -1 ? errno : 0;
  return NULL;
}

/* A large read, over a layer that takes one request per context at a
 * time (curl, ssh), is split into one piece per context, read in
 * parallel: a client with one connection (qemu-img) then still has
 * several round trips in flight.
 */
static int
next_pread (struct xd_io *io XD_UNUSED, void *buf, size_t count,
            uint64_t offset)
{
  struct piece pieces[POOL_SIZE];
  size_t n = pool.nr_slots, i, started, each;
  int err = 0;

  if (!pool.serialize || n < 2 || count < 2 * SPLIT_MIN ||
      xd_readahead_in_worker ())
    return read_below (buf, count, offset);
  /* Pieces of at least SPLIT_MIN, so that the contexts left over serve
   * the pieces of other requests in flight.
   */
  n = xd_min_u64 (n, count / SPLIT_MIN);
  each = (count / n + 4095) & ~(size_t) 4095;
  n = xd_div_round_up (count, each);
  for (i = 0; i < n; i++) {
    pieces[i].p = (char *) buf + i * each;
    pieces[i].offset = offset + i * each;
    pieces[i].count = xd_min_u64 (each, count - i * each);
  }
  for (started = 1; started < n; started++)
    if (pthread_create (&pieces[started].thread, NULL, read_piece,
                        &pieces[started]) != 0)
      break;
  /* The first piece here, and any piece no thread could start. */
  read_piece (&pieces[0]);
  for (i = started; i < n; i++)
    read_piece (&pieces[i]);
  for (i = 0; i < n; i++) {
    if (i > 0 && i < started)
      pthread_join (pieces[i].thread, NULL);
    if (pieces[i].err && !err)
      err = pieces[i].err;
  }
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

/* Holes of the layer below (a sparse file, a raw disk): data unless it
 * says ZERO.
 */
static int
next_allocation (struct xd_io *io, uint64_t offset, bool *is_data,
                 uint64_t *run)
{
  uint32_t count = (uint32_t) xd_min_u64 (io->size - offset, MAX_NEXT_READ);
  struct nbdkit_extents *exts;
  struct nbdkit_extent e;
  struct slot *s;
  int err = 0, r;

  exts = nbdkit_extents_new (offset, io->size);
  if (exts == NULL)
    return -1;
  s = take_slot ();
  r = s->next->can_extents (s->next) == 1
    ? s->next->extents (s->next, count, offset, NBDKIT_FLAG_REQ_ONE, exts,
                        &err)
    : 1;
  give_slot (s);
  if (r == -1 || nbdkit_extents_count (exts) == 0) {
    nbdkit_extents_free (exts);
    if (r == -1) {
      errno = err ? err : EIO;
      return -1;
    }
    *is_data = true;
    *run = io->size - offset;
    return 0;
  }
  e = nbdkit_get_extent (exts, 0);
  *is_data = (e.type & NBDKIT_EXTENT_ZERO) == 0;
  *run = e.offset + e.length - offset;
  nbdkit_extents_free (exts);
  return 0;
}

static const struct xd_io_ops next_ops = {
  .pread = next_pread,
  .allocation = next_allocation,
};

static void
pool_close (void)
{
  size_t i;

  for (i = 0; i < pool.nr_slots; i++) {
    pool.slots[i].next->finalize (pool.slots[i].next);
    nbdkit_next_context_close (pool.slots[i].next);
  }
  pool.nr_slots = 0;
}

/* A prepared context into the layer below, or NULL.  nbdkit checks
 * each request against the size a context has seen, so each asks for
 * it once.
 */
static nbdkit_next *
open_context (void)
{
  nbdkit_next *next = nbdkit_next_context_open (backend, 1, "", 1);

  if (next == NULL)
    return NULL;
  if (next->prepare (next) == -1) {
    nbdkit_next_context_close (next);
    return NULL;
  }
  if (next->get_size (next) == -1) {
    next->finalize (next);
    nbdkit_next_context_close (next);
    return NULL;
  }
  return next;
}

/* Contexts into the layer below: several when it serves one request per
 * connection at a time, one when it is parallel (it needs no more) or
 * when the whole server takes one request at a time (more would break
 * that promise).
 */
static int
pool_open (void)
{
  size_t want = final_thread_model == NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS
    ? POOL_SIZE : 1;

  pool.serialize = final_thread_model != NBDKIT_THREAD_MODEL_PARALLEL;
  while (pool.nr_slots < want) {
    nbdkit_next *next = open_context ();
    if (next == NULL) {
      if (pool.nr_slots > 0)
        break;                  /* fewer contexts will do */
      nbdkit_error ("%s: cannot open the layer below the filter",
                    xd_glue_name);
      return -1;
    }
    pool.slots[pool.nr_slots].next = next;
    pool.slots[pool.nr_slots].busy = false;
    pool.nr_slots++;
  }
  return 0;
}

/* Read-ahead of the decoded disk, where clients read sequentially
 * whatever the layout of the image (blocks out of order, compressed
 * grains): chunks decoded ahead on several threads use the contexts
 * below in parallel, and compressed ones several CPUs.  cache= bytes of
 * chunks (2 to 64), shared between the streams, loaded by two threads
 * fewer than there are contexts below, so that a client's read that
 * misses does not queue behind them (4 threads when the layer below is
 * parallel or has few contexts).
 */
static struct xd_io *
open_readahead (void)
{
  size_t threads = pool.serialize && pool.nr_slots > 2
    ? pool.nr_slots - 2 : 4;

  return xd_glue_open_readahead (disk, xd_glue_name, READ_AHEAD_CHUNK,
                                 threads);
}

/* The io over the layer below, behind the block cache, which gets a
 * quarter of cache= (4 to 32 blocks).  Messages name it after the
 * filter, as the file's own name is the layer below's business.
 */
static struct xd_io *
open_below (void)
{
  int64_t size = pool.slots[0].next->get_size (pool.slots[0].next);
  uint64_t blocks = xd_glue_opts.cache_bytes / 4 / IO_BLOCK_SIZE;
  char name[64];
  struct xd_io *io;

  if (size == -1)
    return NULL;
  snprintf (name, sizeof name, "%s filter input", xd_glue_name);
  io = xd_io_new (&next_ops, name, (uint64_t) size, NULL);
  if (io == NULL)
    return NULL;
  blocks = xd_min_u64 (xd_max_u64 (blocks, 4), 32);
  return xd_io_open_cached (io, IO_BLOCK_SIZE, (size_t) blocks);
}

static void
close_image (void)
{
  if (served != NULL)
    xd_io_close (served);       /* stops the read-ahead threads */
  served = NULL;
  xd_image_close (disk);
  disk = NULL;
  xd_resolver_free (resolver);
  resolver = NULL;
  pool_close ();
}

/* Open the image through the layer below, once: the caller holds
 * open_lock.
 */
static int
open_image (void)
{
  const struct xd_format *format;
  struct xd_io *io;

  if (pool_open () == -1)
    return -1;
  resolver = xd_resolver_new_stream ("the data the filter decodes");
  io = resolver ? open_below () : NULL;
  if (io == NULL) {
    close_image ();
    return -1;
  }
  /* Headers and tables lie close together and are read one after the
   * other: while opening, a miss reads several blocks in one round trip
   * (a VHDX's header, metadata and BAT: one instead of three).
   */
  xd_io_cached_read_around (io, OPEN_READ_AROUND);
  format = xd_glue_choose_format (io);
  if (format == NULL) {
    xd_io_close (io);
    close_image ();
    return -1;
  }
  nbdkit_debug ("%s filter: decoding %s, %zu context(s) below",
                xd_glue_name, format->display, pool.nr_slots);
  xd_glue_opts.served = xd_glue_formats;
  disk = xd_image_open (io, resolver, &xd_glue_opts, format);
  if (disk == NULL) {
    close_image ();
    return -1;
  }
  xd_io_cached_read_around (io, 1);
  served = open_readahead ();
  if (served == NULL) {
    close_image ();
    return -1;
  }
  xd_glue_set_description (xd_image_describe (disk));
  return 0;
}

void
xd_filter_cleanup (nbdkit_backend *b XD_UNUSED)
{
  close_image ();
}

/* ---- connections ---- */

void *
xd_filter_open (nbdkit_next_open *next, nbdkit_context *context,
                int readonly XD_UNUSED, const char *exportname,
                int is_tls XD_UNUSED)
{
  /* The connection's own context below stays unused for data, but
   * nbdkit wants one; read-only, as the filter is.
   */
  if (next (context, 1, exportname) == -1)
    return NULL;
  if (backend == NULL)
    backend = nbdkit_context_get_backend (context);
  return NBDKIT_HANDLE_NOT_NEEDED;
}

int
xd_filter_prepare (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED,
                   int readonly XD_UNUSED)
{
  int r = 0;

  pthread_mutex_lock (&open_lock);
  if (disk == NULL)
    r = open_image ();
  pthread_mutex_unlock (&open_lock);
  return r;
}

int64_t
xd_filter_get_size (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED)
{
  return (int64_t) xd_image_size (disk);
}

const char *
xd_filter_export_description (nbdkit_next *next XD_UNUSED,
                              void *handle XD_UNUSED)
{
  return xd_glue_description ();
}

int
xd_filter_block_size (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED,
                      uint32_t *minimum, uint32_t *preferred,
                      uint32_t *maximum)
{
  /* Over a transport a request costs a round trip, not the page faults
   * that make large requests slower locally (see glue-common.c): ask
   * clients for large ones.
   */
  *minimum = 1;
  *preferred = FILTER_PREFERRED;
  *maximum = 0xffffffff;
  return 0;
}

/* can_write, can_flush, can_trim, can_zero and can_fast_zero:
 * read-only, whatever the layer below allows.
 */
int
xd_filter_never (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED)
{
  return 0;
}

/* can_extents (the filter answers from the decoded image's map) and
 * can_multi_conn (every connection reads the one shared image).
 */
int
xd_filter_always (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED)
{
  return 1;
}

int
xd_filter_can_fua (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED)
{
  return NBDKIT_FUA_NONE;
}

/* A cache request must not reach the layer below with decoded offsets. */
int
xd_filter_can_cache (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED)
{
  return NBDKIT_CACHE_NONE;
}

int
xd_filter_pread (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED,
                 void *buf, uint32_t count, uint64_t offset,
                 uint32_t flags XD_UNUSED, int *err)
{
  if (served->ops->pread (served, buf, count, offset) == -1) {
    *err = errno ? errno : EIO;
    return -1;
  }
  return 0;
}

/* A client that asks where the data is (nbdcopy, qemu-img) is about to
 * read it: the first data of the reply is read ahead a little, while
 * the client gets ready.
 */
static void
hint_readahead (struct nbdkit_extents *extents)
{
  size_t i, n = nbdkit_extents_count (extents);

  for (i = 0; i < n; i++) {
    struct nbdkit_extent e = nbdkit_get_extent (extents, i);
    if ((e.type & NBDKIT_EXTENT_ZERO) == 0) {
      xd_readahead_hint (served, e.offset, EXTENTS_HINT);
      return;
    }
  }
}

int
xd_filter_extents (nbdkit_next *next XD_UNUSED, void *handle XD_UNUSED,
                   uint32_t count, uint64_t offset, uint32_t flags,
                   struct nbdkit_extents *extents, int *err)
{
  if (xd_image_extents (disk, count, offset,
                        (flags & NBDKIT_FLAG_REQ_ONE) != 0,
                        xd_glue_add_extent, extents) == -1) {
    *err = errno ? errno : EIO;
    return -1;
  }
  hint_readahead (extents);
  return 0;
}
