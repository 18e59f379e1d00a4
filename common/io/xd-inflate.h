/* xdisk: a pool of decompressors for compressed grains and clusters.
 *
 * Setting up a decompressor (a libdeflate_decompressor or a z_stream)
 * and a buffer for the compressed bytes costs more than inflating a
 * small grain, so each compressed image keeps the idle ones in a pool.
 * A thread takes one for one grain and gives it back: grains inflate in
 * parallel with no lock held, and the pool never holds more inflaters
 * than there were requests in flight at once.
 *
 * libdeflate inflates whole buffers about three times as fast as zlib
 * (see the README); zlib is the fallback when it is not built in.
 */
#ifndef XDISK_INFLATE_H
#define XDISK_INFLATE_H

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

#endif /* XDISK_INFLATE_H */
