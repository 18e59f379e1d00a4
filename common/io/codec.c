/* xdisk: the pools of compressors and decompressors, see xd-codec.h. */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#ifdef HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif
#ifdef HAVE_LIBZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif

#include "io/xd-codec.h"

/* ---- the pool: idle codecs, taken and given back under a lock ---- */

/* The first member of every codec, so that one list holds either kind. */
struct codec_link {
  struct codec_link *next;
};

struct idle_list {
  pthread_mutex_t lock;
  struct codec_link *head;
};

static void
idle_init (struct idle_list *l)
{
  pthread_mutex_init (&l->lock, NULL);
  l->head = NULL;
}

/* An idle codec, or NULL if there is none. */
static struct codec_link *
idle_take (struct idle_list *l)
{
  struct codec_link *c;

  pthread_mutex_lock (&l->lock);
  c = l->head;
  if (c)
    l->head = c->next;
  pthread_mutex_unlock (&l->lock);
  return c;
}

static void
idle_give (struct idle_list *l, struct codec_link *c)
{
  pthread_mutex_lock (&l->lock);
  c->next = l->head;
  l->head = c;
  pthread_mutex_unlock (&l->lock);
}

/* ---- inflaters ---- */

struct xd_inflater {
  struct codec_link link;       /* first: on the idle list */
  unsigned char *in;            /* compressed bytes */
  size_t in_cap;
#ifdef HAVE_LIBDEFLATE
  struct libdeflate_decompressor *d;
#else
  z_stream zs;                  /* zlib wrapper */
  z_stream raw;                 /* raw deflate, set up on first use */
  bool raw_ready;
#endif
#ifdef HAVE_LIBZSTD
  ZSTD_DCtx *zd;                /* set up on first use */
#endif
};

struct xd_inflaters {
  struct idle_list idle;
};

/* Idle inflaters keep input buffers up to this size (64K grains need
 * 64K + a little); those for huge grains are freed after each use.
 */
#define INFLATER_KEEP_MAX (1u << 20)

static void
inflater_free (struct xd_inflater *inf)
{
#ifdef HAVE_LIBDEFLATE
  libdeflate_free_decompressor (inf->d);
#else
  inflateEnd (&inf->zs);
  if (inf->raw_ready)
    inflateEnd (&inf->raw);
#endif
#ifdef HAVE_LIBZSTD
  ZSTD_freeDCtx (inf->zd);
#endif
  free (inf->in);
  free (inf);
}

static struct xd_inflater *
inflater_new (void)
{
  struct xd_inflater *inf = calloc (1, sizeof *inf);

  if (inf == NULL)
    return NULL;
#ifdef HAVE_LIBDEFLATE
  inf->d = libdeflate_alloc_decompressor ();
  if (inf->d == NULL) {
    free (inf);
    errno = ENOMEM;
    return NULL;
  }
#else
  if (inflateInit (&inf->zs) != Z_OK) {
    free (inf);
    errno = ENOMEM;
    return NULL;
  }
#endif
  return inf;
}

struct xd_inflaters *
xd_inflaters_new (void)
{
  struct xd_inflaters *pool = calloc (1, sizeof *pool);

  if (pool == NULL)
    return NULL;
  idle_init (&pool->idle);
  return pool;
}

void
xd_inflaters_free (struct xd_inflaters *pool)
{
  struct codec_link *c;

  if (pool == NULL)
    return;
  while ((c = idle_take (&pool->idle)) != NULL)
    inflater_free ((struct xd_inflater *) c);
  pthread_mutex_destroy (&pool->idle.lock);
  free (pool);
}

struct xd_inflater *
xd_inflater_get (struct xd_inflaters *pool, size_t in_size)
{
  struct xd_inflater *inf;
  unsigned char *p;

  inf = (struct xd_inflater *) idle_take (&pool->idle);
  if (inf == NULL && (inf = inflater_new ()) == NULL)
    return NULL;
  if (inf->in_cap < in_size) {
    p = realloc (inf->in, in_size);
    if (p == NULL) {
      inflater_free (inf);
      return NULL;
    }
    inf->in = p;
    inf->in_cap = in_size;
  }
  return inf;
}

unsigned char *
xd_inflater_input (struct xd_inflater *inf)
{
  return inf->in;
}

void
xd_inflater_put (struct xd_inflaters *pool, struct xd_inflater *inf)
{
  if (inf->in_cap > INFLATER_KEEP_MAX) {
    free (inf->in);
    inf->in = NULL;
    inf->in_cap = 0;
  }
  idle_give (&pool->idle, &inf->link);
}

#ifdef HAVE_LIBDEFLATE

static int
run_deflate (struct xd_inflater *inf, enum xd_deflate_wrap wrap,
             size_t size, void *out, size_t cap, size_t *got)
{
  size_t used;

  *got = 0;
  if (wrap == XD_DEFLATE_ZLIB)
    return (int) libdeflate_zlib_decompress (inf->d, inf->in, size, out, cap,
                                             got);
  /* The _ex form reports how much input the stream used, which is what
   * lets padding follow it.
   */
  return (int) libdeflate_deflate_decompress_ex (inf->d, inf->in, size, out,
                                                 cap, &used, got);
}

const char *
xd_inflate_library (void)
{
  return "libdeflate";
}

#else /* zlib */

static int
run_zstream (z_stream *zs, unsigned char *in, size_t size, void *out,
             size_t cap, size_t *got)
{
  int r;

  if (inflateReset (zs) != Z_OK)
    return Z_STREAM_ERROR;
  zs->next_in = in;
  zs->avail_in = size;
  zs->next_out = out;
  zs->avail_out = cap;
  r = inflate (zs, Z_FINISH);
  *got = zs->total_out;
  if (r == Z_OK)                /* progress, but the stream goes on */
    r = Z_BUF_ERROR;
  return r == Z_STREAM_END ? 0 : r;
}

static int
run_deflate (struct xd_inflater *inf, enum xd_deflate_wrap wrap,
             size_t size, void *out, size_t cap, size_t *got)
{
  *got = 0;
  if (wrap == XD_DEFLATE_ZLIB)
    return run_zstream (&inf->zs, inf->in, size, out, cap, got);
  if (!inf->raw_ready) {
    if (inflateInit2 (&inf->raw, -15) != Z_OK)
      return Z_MEM_ERROR;
    inf->raw_ready = true;
  }
  return run_zstream (&inf->raw, inf->in, size, out, cap, got);
}

const char *
xd_inflate_library (void)
{
  return "zlib";
}

#endif

/* ---- zstd ---- */

#ifdef HAVE_LIBZSTD
/* Frames until OUT is full: what follows is padding or the next
 * cluster's frame.
 */
static int
run_zstd (struct xd_inflater *inf, size_t size, void *out, size_t cap,
          size_t *got)
{
  ZSTD_inBuffer in = { inf->in, size, 0 };
  ZSTD_outBuffer o = { out, cap, 0 };

  *got = 0;
  if (inf->zd == NULL && (inf->zd = ZSTD_createDCtx ()) == NULL)
    return ZSTD_error_memory_allocation;
  ZSTD_DCtx_reset (inf->zd, ZSTD_reset_session_only);
  while (o.pos < o.size) {
    size_t r = ZSTD_decompressStream (inf->zd, &o, &in);
    if (ZSTD_isError (r))
      return (int) ZSTD_getErrorCode (r);
    if (in.pos == in.size && o.pos < o.size)
      break;                    /* the input ended first */
  }
  *got = o.pos;
  return 0;
}
#endif

int
xd_inflater_run (struct xd_inflater *inf, enum xd_deflate_wrap wrap,
                 size_t size, void *out, size_t cap, size_t *got)
{
  if (wrap != XD_ZSTD)
    return run_deflate (inf, wrap, size, out, cap, got);
#ifdef HAVE_LIBZSTD
  return run_zstd (inf, size, out, cap, got);
#else
  *got = 0;
  return -1;
#endif
}

const char *
xd_inflate_error (enum xd_deflate_wrap wrap, int r)
{
#ifdef HAVE_LIBZSTD
  if (wrap == XD_ZSTD)
    return ZSTD_getErrorString ((ZSTD_ErrorCode) r);
#endif
  (void) r;
  return wrap == XD_ZSTD ? "zstd is not built in" : xd_inflate_library ();
}

/* ---- deflaters ---- */

struct xd_deflater {
  struct codec_link link;       /* first: on the idle list */
#ifdef HAVE_LIBDEFLATE
  struct libdeflate_compressor *c;
#else
  z_stream zs;
#endif
};

struct xd_deflaters {
  struct idle_list idle;
  int level;
};

static void
deflater_free (struct xd_deflater *d)
{
#ifdef HAVE_LIBDEFLATE
  libdeflate_free_compressor (d->c);
#else
  deflateEnd (&d->zs);
#endif
  free (d);
}

static struct xd_deflater *
deflater_new (int level)
{
  struct xd_deflater *d = calloc (1, sizeof *d);

  if (d == NULL)
    return NULL;
#ifdef HAVE_LIBDEFLATE
  d->c = libdeflate_alloc_compressor (level);
  if (d->c == NULL) {
    free (d);
    errno = ENOMEM;
    return NULL;
  }
#else
  if (deflateInit (&d->zs, level) != Z_OK) {
    free (d);
    errno = ENOMEM;
    return NULL;
  }
#endif
  return d;
}

struct xd_deflaters *
xd_deflaters_new (int level)
{
  struct xd_deflaters *pool = calloc (1, sizeof *pool);

  if (pool == NULL)
    return NULL;
  idle_init (&pool->idle);
  pool->level = level;
  return pool;
}

void
xd_deflaters_free (struct xd_deflaters *pool)
{
  struct codec_link *c;

  if (pool == NULL)
    return;
  while ((c = idle_take (&pool->idle)) != NULL)
    deflater_free ((struct xd_deflater *) c);
  pthread_mutex_destroy (&pool->idle.lock);
  free (pool);
}

struct xd_deflater *
xd_deflater_get (struct xd_deflaters *pool)
{
  struct xd_deflater *d = (struct xd_deflater *) idle_take (&pool->idle);

  return d ? d : deflater_new (pool->level);
}

void
xd_deflater_put (struct xd_deflaters *pool, struct xd_deflater *d)
{
  idle_give (&pool->idle, &d->link);
}

/* Both libraries store incompressible data in stored blocks, a few
 * bytes per block: a sixteenth and a constant are more than enough.
 */
size_t
xd_deflate_bound (size_t size)
{
  return size + size / 16 + 1024;
}

size_t
xd_deflater_run (struct xd_deflater *d, const void *in, size_t size,
                 void *out, size_t cap)
{
#ifdef HAVE_LIBDEFLATE
  return libdeflate_zlib_compress (d->c, in, size, out, cap);
#else
  if (deflateReset (&d->zs) != Z_OK)
    return 0;
  d->zs.next_in = (unsigned char *) in;
  d->zs.avail_in = size;
  d->zs.next_out = out;
  d->zs.avail_out = cap;
  if (deflate (&d->zs, Z_FINISH) != Z_STREAM_END)
    return 0;
  return cap - d->zs.avail_out;
#endif
}
