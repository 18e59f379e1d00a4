/* xdisk: pools of decompressors and compressors for compressed grains
 * and clusters (codec.c).
 *
 * Setting up a decompressor (a libdeflate_decompressor or a z_stream)
 * and a buffer for the compressed bytes costs more than inflating a
 * small grain, so each compressed image keeps the idle ones in a pool.
 * A thread takes one for one grain and gives it back: grains inflate in
 * parallel with no lock held, and the pool never holds more inflaters
 * than there were requests in flight at once.  Compressors (the
 * streamOptimized VMDK writer's) are pooled the same way.
 *
 * libdeflate inflates whole buffers about three times as fast as zlib
 * (see the README); zlib is the fallback when it is not built in.
 */
#ifndef XDISK_CODEC_H
#define XDISK_CODEC_H

#include <stddef.h>

struct xd_inflaters;
struct xd_inflater;

enum xd_deflate_wrap {
  XD_DEFLATE_ZLIB,              /* RFC 1950 (VMDK grains) */
  XD_DEFLATE_RAW,               /* RFC 1951 alone (qcow2 clusters) */
  XD_ZSTD,                      /* zstd frames (qcow2 compression_type 1);
                                 * only when HAVE_LIBZSTD */
};

/* NULL with errno set, nothing reported. */
extern struct xd_inflaters *xd_inflaters_new (void);
extern void xd_inflaters_free (struct xd_inflaters *pool);

/* An idle inflater whose input buffer holds IN_SIZE bytes; NULL with
 * errno set, nothing reported.
 */
extern struct xd_inflater *xd_inflater_get (struct xd_inflaters *pool,
                                            size_t in_size);
extern unsigned char *xd_inflater_input (struct xd_inflater *inf);
extern void xd_inflater_put (struct xd_inflaters *pool,
                             struct xd_inflater *inf);

/* Inflate the stream of SIZE bytes in INF's input buffer into OUT (room
 * for CAP bytes).  Returns 0 with *GOT = the bytes produced when the
 * stream ended within CAP, else the library's nonzero error code.  RAW
 * allows input after the end of the stream (qcow2 rounds compressed
 * clusters up to whole sectors); ZLIB does not.  ZSTD decompresses
 * frames until OUT is full, and allows input after that (returning 0
 * with *GOT < CAP if the input ends first).
 */
extern int xd_inflater_run (struct xd_inflater *inf,
                            enum xd_deflate_wrap wrap, size_t size,
                            void *out, size_t cap, size_t *got);

/* "libdeflate" or "zlib", for messages. */
extern const char *xd_inflate_library (void);

/* What xd_inflater_run's nonzero result R means, for messages. */
extern const char *xd_inflate_error (enum xd_deflate_wrap wrap, int r);

/* Compressors, all at one LEVEL (zlib's scale: 6 is its default).
 * NULL with errno set, nothing reported.
 */
struct xd_deflaters;
struct xd_deflater;

extern struct xd_deflaters *xd_deflaters_new (int level);
extern void xd_deflaters_free (struct xd_deflaters *pool);
/* An idle deflater, or a new one; NULL with errno set, nothing
 * reported.
 */
extern struct xd_deflater *xd_deflater_get (struct xd_deflaters *pool);
extern void xd_deflater_put (struct xd_deflaters *pool,
                             struct xd_deflater *d);
/* Compress SIZE bytes of IN into a zlib stream (RFC 1950, as VMDK
 * grains hold) in OUT (room for CAP bytes): the stream's size, or 0 if
 * it does not fit or the library fails.  A CAP of xd_deflate_bound
 * (SIZE) always fits.
 */
extern size_t xd_deflater_run (struct xd_deflater *d, const void *in,
                               size_t size, void *out, size_t cap);
extern size_t xd_deflate_bound (size_t size);

#endif /* XDISK_CODEC_H */
