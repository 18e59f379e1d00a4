/* xdisk: random access to a gzip stream through restart points; see
 * xd-gzip.h.
 *
 * The technique: deflate output may refer back at most 32 KiB, and
 * deflate blocks need not start on a byte boundary.  So inflation can
 * restart at any block boundary given the input position to the bit
 * and the 32 KiB of output before it: a raw inflater is primed with the
 * bits of the boundary's byte (inflatePrime) and given that output as
 * its dictionary (inflateSetDictionary).  zlib's Z_BLOCK flush stops at
 * every block boundary, where data_type tells the bit position.
 *
 * This streams with zlib rather than the shared inflater pool
 * (xd-codec.h): the pool inflates whole buffers, and restarting in
 * the middle of a stream needs zlib's streaming calls.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "include/xd-bytes.h"
#include "io/xd-gzip.h"
#include "include/xd-math.h"
#include "include/xd-search.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"

#define WINDOW 32768
#define IN_CHUNK 65536
#define OUT_CHUNK (256 * 1024)
/* Longest file name or comment in a gzip header we skip over. */
#define MAX_HEADER_TEXT (1024 * 1024)

/* gzip header flags (RFC 1952). */
#define FHCRC 0x02
#define FEXTRA 0x04
#define FNAME 0x08
#define FCOMMENT 0x10

struct point {
  uint64_t out;                 /* decompressed offset */
  uint64_t in;                  /* next input byte in the base io */
  unsigned bits;                /* bits of the byte before IN still unread */
  uint32_t wsize;               /* window bytes (uncompressed) */
  uint32_t wlen;                /* window bytes as stored (compressed) */
  unsigned char *window;
};

struct slot {
  size_t point;                 /* cached span: from this point */
  unsigned char *buf;           /* NULL while BUSY */
  size_t len;
  uint64_t used;                /* LRU tick, 0 if empty */
  bool busy;                    /* a thread is inflating the span */
};

struct gz {
  struct xd_io *base;
  struct point *points;
  size_t n, cap;
  uint64_t span, memory, budget;
  uint64_t size;                /* decompressed */
  pthread_mutex_t lock;
  pthread_cond_t filled;        /* a busy slot was filled or given up */
  struct slot slots[XD_GZIP_CACHE_SLOTS];
  uint64_t tick;
};

/* A reader of the compressed input. */
struct cursor {
  struct xd_io *base;
  z_stream zs;
  unsigned char *in;
  uint64_t in_start;            /* base offset of in[0] */
};

bool
xd_gzip_magic (const uint8_t *head, size_t len)
{
  return len >= 10 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 8 &&
    (head[3] & 0xe0) == 0;
}

size_t
xd_gzip_peek (const uint8_t *head, size_t len, uint8_t *out, size_t cap)
{
  z_stream zs = { 0 };
  size_t got;

  if (!xd_gzip_magic (head, len) || inflateInit2 (&zs, 15 + 16) != Z_OK)
    return 0;
  zs.next_in = (Bytef *) head;
  zs.avail_in = (uInt) len;
  zs.next_out = out;
  zs.avail_out = (uInt) cap;
  inflate (&zs, Z_SYNC_FLUSH);
  got = cap - zs.avail_out;
  inflateEnd (&zs);
  return got;
}

static uint64_t
cursor_pos (const struct cursor *c)
{
  return c->in_start + (uint64_t) (c->zs.next_in - c->in);
}

/* Move the input to base offset POS (nothing buffered). */
static void
cursor_seek (struct cursor *c, uint64_t pos)
{
  c->in_start = pos;
  c->zs.next_in = c->in;
  c->zs.avail_in = 0;
}

/* Refill the input; 0 with avail_in > 0, or -1 at the end of the base
 * (errno EIO, reported) or on a read error.
 */
static int
cursor_fill (struct cursor *c, const char *name)
{
  uint64_t pos = cursor_pos (c), n;

  if (pos >= c->base->size) {
    xd_error ("%s: the gzip stream ends early (truncated at %" PRIu64
              " bytes)", name, c->base->size);
    errno = EIO;
    return -1;
  }
  n = xd_min_u64 (IN_CHUNK, c->base->size - pos);
  if (xd_io_read (c->base, c->in, n, pos, "gzip data") == -1)
    return -1;
  c->in_start = pos;
  c->zs.next_in = c->in;
  c->zs.avail_in = (uInt) n;
  return 0;
}

/* Skip a NUL-terminated header field at *POS. */
static int
skip_text (struct xd_io *base, uint64_t *pos, const char *name)
{
  unsigned char buf[256];
  uint64_t start = *pos;

  while (*pos - start < MAX_HEADER_TEXT && *pos < base->size) {
    size_t n = (size_t) xd_min_u64 (sizeof buf, base->size - *pos);
    unsigned char *nul;
    if (xd_io_read (base, buf, n, *pos, "gzip header") == -1)
      return -1;
    nul = memchr (buf, 0, n);
    if (nul) {
      *pos += (uint64_t) (nul - buf) + 1;
      return 0;
    }
    *pos += n;
  }
  xd_error ("%s: gzip header at offset %" PRIu64 " has an unterminated or "
            "overlong name or comment", name, start);
  errno = EIO;
  return -1;
}

/* Parse the gzip member header at POS; *DATA is where deflate starts. */
static int
parse_header (struct xd_io *base, uint64_t pos, uint64_t *data,
              const char *name)
{
  uint8_t h[10];

  if (!xd_io_contains (base, pos, sizeof h)) {
    xd_error ("%s: truncated gzip header at offset %" PRIu64, name, pos);
    errno = EIO;
    return -1;
  }
  if (xd_io_read (base, h, sizeof h, pos, "gzip header") == -1)
    return -1;
  if (!xd_gzip_magic (h, sizeof h)) {
    xd_error ("%s: no gzip header at offset %" PRIu64 " (bad magic, method "
              "or flags)", name, pos);
    errno = EIO;
    return -1;
  }
  pos += 10;
  if (h[3] & FEXTRA) {
    uint8_t x[2];
    if (xd_io_read (base, x, 2, pos, "gzip extra field") == -1)
      return -1;
    pos += 2 + (uint64_t) xd_le16 (x);
  }
  if ((h[3] & FNAME) && skip_text (base, &pos, name) == -1)
    return -1;
  if ((h[3] & FCOMMENT) && skip_text (base, &pos, name) == -1)
    return -1;
  if (h[3] & FHCRC)
    pos += 2;
  if (pos >= base->size) {
    xd_error ("%s: gzip member at offset %" PRIu64 " has no data", name,
              pos);
    errno = EIO;
    return -1;
  }
  *data = pos;
  return 0;
}

/* After a member's deflate data (the cursor's position) and its 8-byte
 * trailer: find the next member, if any.  *MORE false at the end of the
 * stream (end of file, or only zeros after it).
 */
static int
next_member (struct cursor *c, const uint8_t *trailer_expect, bool *more,
             const char *name)
{
  uint64_t pos = cursor_pos (c), q;
  uint8_t t[8];

  if (!xd_io_contains (c->base, pos, 8)) {
    xd_error ("%s: the gzip stream ends before its trailer", name);
    errno = EIO;
    return -1;
  }
  if (xd_io_read (c->base, t, 8, pos, "gzip trailer") == -1)
    return -1;
  if (trailer_expect && memcmp (t, trailer_expect, 8) != 0) {
    xd_error ("%s: gzip member ending at offset %" PRIu64 " fails its %s "
              "check: the data is corrupt", name, pos + 8,
              memcmp (t, trailer_expect, 4) ? "CRC-32" : "length");
    errno = EIO;
    return -1;
  }
  pos += 8;
  /* Zeros to the end (padding) finish the stream. */
  for (q = pos; q < c->base->size; ) {
    uint8_t buf[4096];
    size_t n = (size_t) xd_min_u64 (sizeof buf, c->base->size - q), i;
    if (xd_io_read (c->base, buf, n, q, "gzip data") == -1)
      return -1;
    for (i = 0; i < n && buf[i] == 0; i++)
      ;
    if (i < n) {
      uint64_t data;
      if (q + i != pos) {
        xd_error ("%s: zero bytes then data after the gzip member ending "
                  "at offset %" PRIu64, name, pos);
        errno = EIO;
        return -1;
      }
      if (parse_header (c->base, pos, &data, name) == -1)
        return -1;
      inflateReset (&c->zs);
      cursor_seek (c, data);
      *more = true;
      return 0;
    }
    q += n;
  }
  *more = false;
  return 0;
}

/* ---- the index ---- */

static void
free_points (struct gz *gz)
{
  size_t i;

  for (i = 0; i < gz->n; i++)
    free (gz->points[i].window);
  free (gz->points);
}

/* Keep points at least SPAN apart, freeing the others. */
static void
thin_points (struct gz *gz)
{
  size_t i, k = 1;

  for (i = 1; i < gz->n; i++) {
    struct point *p = &gz->points[i];
    if (p->out - gz->points[k - 1].out >= gz->span)
      gz->points[k++] = *p;
    else {
      gz->memory -= sizeof *p + p->wlen;
      free (p->window);
    }
  }
  gz->n = k;
}

static int
add_point (struct gz *gz, uint64_t out, uint64_t in, unsigned bits,
           const unsigned char *win, size_t wsize, const char *name)
{
  unsigned char tmp[WINDOW + WINDOW / 8 + 64];
  uLongf wlen = sizeof tmp;
  struct point *p;

  if (XD_RESERVE (gz->points, gz->n, gz->cap, 1) == -1)
    goto nomem;
  p = &gz->points[gz->n];
  memset (p, 0, sizeof *p);
  p->out = out;
  p->in = in;
  p->bits = bits;
  if (wsize) {
    if (compress2 (tmp, &wlen, win, wsize, 1) != Z_OK)
      goto nomem;
    p->window = malloc (wlen);
    if (p->window == NULL)
      goto nomem;
    memcpy (p->window, tmp, wlen);
    p->wlen = (uint32_t) wlen;
    p->wsize = (uint32_t) wsize;
  }
  gz->n++;
  gz->memory += sizeof *p + p->wlen;
  while (gz->memory > gz->budget && gz->n > 2) {
    gz->span *= 2;
    thin_points (gz);
  }
  return 0;

 nomem:
  xd_error ("%s: out of memory for the gzip index", name);
  errno = ENOMEM;
  return -1;
}

/* Inflate the whole stream once: check it, count it, record points. */
static int
build_index (struct gz *gz, uint64_t data, const char *name)
{
  struct cursor c = { .base = gz->base };
  unsigned char *out = malloc (WINDOW + OUT_CHUNK);
  uint64_t total = 0, member = 0, last = 0;
  uLong crc = crc32 (0, NULL, 0);
  size_t have = 0;
  int ret = -1;

  c.in = malloc (IN_CHUNK);
  if (out == NULL || c.in == NULL || inflateInit2 (&c.zs, -15) != Z_OK) {
    xd_error ("%s: out of memory for inflate", name);
    free (out);
    free (c.in);
    return -1;
  }
  cursor_seek (&c, data);
  if (add_point (gz, 0, data, 0, NULL, 0, name) == -1)
    goto out;
  for (;;) {
    size_t got;
    int z;
    if (c.zs.avail_in == 0 && cursor_fill (&c, name) == -1)
      goto out;
    c.zs.next_out = out + have;
    c.zs.avail_out = (uInt) (WINDOW + OUT_CHUNK - have);
    z = inflate (&c.zs, Z_BLOCK);
    got = WINDOW + OUT_CHUNK - have - c.zs.avail_out;
    crc = crc32 (crc, out + have, (uInt) got);
    have += got;
    total += got;
    member += got;
    if (z == Z_STREAM_END) {
      uint8_t t[8];
      bool more;
      xd_put_le32 (t, (uint32_t) crc);
      xd_put_le32 (t + 4, (uint32_t) member);
      if (next_member (&c, t, &more, name) == -1)
        goto out;
      if (!more)
        break;
      crc = crc32 (0, NULL, 0);
      member = 0;
    }
    else if (z != Z_OK && !(z == Z_BUF_ERROR && got == 0 &&
                            (c.zs.avail_in == 0 || c.zs.avail_out == 0))) {
      xd_error ("%s: corrupt gzip data near offset %" PRIu64 " (zlib: %s)",
                name, cursor_pos (&c), c.zs.msg ? c.zs.msg : "error");
      errno = EIO;
      goto out;
    }
    else if ((c.zs.data_type & 128) && !(c.zs.data_type & 64) &&
             total - last >= gz->span) {
      size_t w = (size_t) xd_min_u64 (have, WINDOW);
      if (add_point (gz, total, cursor_pos (&c),
                     (unsigned) (c.zs.data_type & 7), out + have - w, w,
                     name) == -1)
        goto out;
      last = total;
    }
    if (have == WINDOW + OUT_CHUNK) {
      memmove (out, out + have - WINDOW, WINDOW);
      have = WINDOW;
    }
  }
  gz->size = total;
  ret = 0;
 out:
  inflateEnd (&c.zs);
  free (out);
  free (c.in);
  return ret;
}

/* ---- reads ---- */

/* Inflate N bytes into OUT from point P, after skipping SKIP bytes. */
static int
inflate_from (struct gz *gz, const struct point *p, uint64_t skip,
              unsigned char *out, uint64_t n, const char *name)
{
  struct cursor c = { .base = gz->base };
  unsigned char *discard = NULL, win[WINDOW];
  int ret = -1;

  c.in = malloc (IN_CHUNK);
  if (skip)
    discard = malloc (IN_CHUNK);
  if (c.in == NULL || (skip && discard == NULL) ||
      inflateInit2 (&c.zs, -15) != Z_OK) {
    xd_error ("%s: out of memory for inflate", name);
    free (c.in);
    free (discard);
    return -1;
  }
  if (p->bits) {
    uint8_t b;
    if (xd_io_read (gz->base, &b, 1, p->in - 1, "gzip data") == -1)
      goto out;
    inflatePrime (&c.zs, (int) p->bits, b >> (8 - p->bits));
  }
  if (p->wsize) {
    uLongf wsize = sizeof win;
    if (uncompress (win, &wsize, p->window, p->wlen) != Z_OK ||
        wsize != p->wsize ||
        inflateSetDictionary (&c.zs, win, (uInt) wsize) != Z_OK) {
      xd_error ("%s: gzip index window lost", name);
      errno = EIO;
      goto out;
    }
  }
  cursor_seek (&c, p->in);
  while (n > 0) {
    size_t want, got;
    int z;
    if (c.zs.avail_in == 0 && cursor_fill (&c, name) == -1)
      goto out;
    if (skip) {
      want = (size_t) xd_min_u64 (skip, IN_CHUNK);
      c.zs.next_out = discard;
    }
    else {
      want = (size_t) xd_min_u64 (n, UINT32_C (1) << 30);
      c.zs.next_out = out;
    }
    c.zs.avail_out = (uInt) want;
    z = inflate (&c.zs, Z_NO_FLUSH);
    got = want - c.zs.avail_out;
    if (skip)
      skip -= got;
    else {
      out += got;
      n -= got;
    }
    if (z == Z_STREAM_END) {
      bool more;
      if (next_member (&c, NULL, &more, name) == -1)
        goto out;
      if (!more && (n > 0 || skip > 0)) {
        xd_error ("%s: the gzip stream changed since it was indexed", name);
        errno = EIO;
        goto out;
      }
    }
    else if (z != Z_OK && !(z == Z_BUF_ERROR && c.zs.avail_in == 0)) {
      xd_error ("%s: corrupt gzip data near offset %" PRIu64 " (zlib: %s)",
                name, cursor_pos (&c), c.zs.msg ? c.zs.msg : "error");
      errno = EIO;
      goto out;
    }
  }
  ret = 0;
 out:
  inflateEnd (&c.zs);
  free (c.in);
  free (discard);
  return ret;
}

/* The last point at or before OFFSET. */
static size_t
find_point (const struct gz *gz, uint64_t offset)
{
  return XD_SEARCH_AT_OR_BEFORE (gz->points, gz->n, out, offset);
}

/* The slot caching span I, or -1. */
static int
slot_of (const struct gz *gz, size_t i)
{
  size_t s;

  for (s = 0; s < XD_GZIP_CACHE_SLOTS; s++)
    if (gz->slots[s].used && gz->slots[s].point == i)
      return (int) s;
  return -1;
}

/* The least recently used slot that no thread is filling, or -1. */
static int
slot_victim (const struct gz *gz)
{
  int s, victim = -1;

  for (s = 0; s < XD_GZIP_CACHE_SLOTS; s++)
    if (!gz->slots[s].busy &&
        (victim == -1 || gz->slots[s].used < gz->slots[victim].used))
      victim = s;
  return victim;
}

/* Inflate span I (LEN bytes from point I) into slot S, which the
 * caller marked busy; called and returning with the lock held.
 */
static int
slot_fill (struct gz *gz, int s, size_t i, uint64_t len, const char *name)
{
  unsigned char *span;
  int r = -1;

  pthread_mutex_unlock (&gz->lock);
  span = malloc (len ? len : 1);
  if (span == NULL)
    xd_error ("%s: out of memory for an inflated span", name);
  else
    r = inflate_from (gz, &gz->points[i], 0, span, len, name);
  pthread_mutex_lock (&gz->lock);
  gz->slots[s].busy = false;
  if (r == -1) {
    free (span);
    gz->slots[s].used = 0;
  }
  else {
    gz->slots[s].buf = span;
    gz->slots[s].len = len;
  }
  pthread_cond_broadcast (&gz->filled);
  return r;
}

/* Copy N bytes at IN of span I (LEN bytes) through the cache.  Readers
 * of a span another thread is inflating wait for it rather than
 * inflate it again: nbdcopy and qemu-img keep many reads in flight, and
 * a span of 1 MiB holds many compressed grains.  Returns 1 if copied,
 * 0 if every slot is busy (the caller inflates on its own), -1 on error.
 */
static int
cached_read (struct gz *gz, size_t i, uint64_t len, void *buf, uint64_t in,
             size_t n, const char *name)
{
  int s, r = 1;

  pthread_mutex_lock (&gz->lock);
  while ((s = slot_of (gz, i)) >= 0 && gz->slots[s].busy)
    pthread_cond_wait (&gz->filled, &gz->lock);
  if (s == -1) {
    if ((s = slot_victim (gz)) == -1) {
      pthread_mutex_unlock (&gz->lock);
      return 0;
    }
    free (gz->slots[s].buf);
    gz->slots[s].buf = NULL;
    gz->slots[s].point = i;
    gz->slots[s].busy = true;
    gz->slots[s].used = ++gz->tick;
    r = slot_fill (gz, s, i, len, name) == -1 ? -1 : 1;
  }
  if (r == 1) {
    memcpy (buf, gz->slots[s].buf + in, n);
    gz->slots[s].used = ++gz->tick;
  }
  pthread_mutex_unlock (&gz->lock);
  return r;
}

static int
gz_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct gz *gz = io->priv;
  unsigned char *p = buf;

  while (count > 0) {
    size_t i = find_point (gz, offset);
    const struct point *pt = &gz->points[i];
    uint64_t end = i + 1 < gz->n ? gz->points[i + 1].out : gz->size;
    uint64_t in = offset - pt->out, len = end - pt->out;
    size_t n = (size_t) xd_min_u64 (count, end - offset);
    int r = 0;

    if (len <= XD_GZIP_CACHE_SPAN &&
        (r = cached_read (gz, i, len, p, in, n, io->name)) == -1)
      return -1;
    if (r == 0 && inflate_from (gz, pt, in, p, n, io->name) == -1)
      return -1;
    p += n;
    count -= n;
    offset += n;
  }
  return 0;
}

static void
gz_close (struct xd_io *io)
{
  struct gz *gz = io->priv;
  size_t s;

  for (s = 0; s < XD_GZIP_CACHE_SLOTS; s++)
    free (gz->slots[s].buf);
  free_points (gz);
  pthread_mutex_destroy (&gz->lock);
  pthread_cond_destroy (&gz->filled);
  xd_io_close (gz->base);
  free (gz);
}

static const struct xd_io_ops gz_ops = {
  .pread = gz_pread,
  .close = gz_close,
};

struct xd_io *
xd_io_open_gzip (struct xd_io *base, uint64_t budget, const char *name)
{
  struct gz *gz = calloc (1, sizeof *gz);
  struct xd_io *io;
  uint64_t data;

  if (gz == NULL) {
    xd_error ("%s: calloc: %m", name);
    xd_io_close (base);
    return NULL;
  }
  gz->base = base;
  gz->span = XD_GZIP_FIRST_SPAN;
  gz->budget = xd_max_u64 (budget, XD_GZIP_MIN_BUDGET);
  pthread_mutex_init (&gz->lock, NULL);
  pthread_cond_init (&gz->filled, NULL);
  if (parse_header (base, 0, &data, name) == -1 ||
      build_index (gz, data, name) == -1)
    goto fail;
  xd_debug ("%s: gzip stream of %" PRIu64 " bytes inflates to %" PRIu64
            "; %zu restart points (every %" PRIu64 " bytes or more), %"
            PRIu64 " bytes of index", name, base->size, gz->size, gz->n,
            gz->span, gz->memory);
  io = xd_io_new (&gz_ops, name, gz->size, gz);
  if (io == NULL)
    goto fail;
  return io;

 fail:
  free_points (gz);
  pthread_mutex_destroy (&gz->lock);
  pthread_cond_destroy (&gz->filled);
  xd_io_close (base);
  free (gz);
  return NULL;
}
