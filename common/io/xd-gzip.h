/* xdisk: random access to a gzip stream, with no temporary copy.
 *
 * An OVA member with ovf:compression="gzip", or an XVA compressed as a
 * whole, is read through an xd_io whose bytes are the stream's
 * decompressed contents.  Opening it inflates the whole stream once,
 * checking every member's CRC-32 and length, and records restart
 * points every SPAN bytes of output (1 MiB at first): the input
 * position (to the bit) of a deflate block boundary and the 32 KiB of
 * output before it, which deflate may refer back to.  A read then
 * inflates from the nearest point before it, never from the start.
 *
 * Memory: each point keeps its window compressed (a few bytes for
 * zeros, up to 32 KiB for random data).  When the points outgrow
 * BUDGET bytes the span doubles and every other point is dropped, so
 * the index never uses more than BUDGET (plus the last span's points):
 * a 100 GiB stream of random data within a 32 MiB budget gets a point
 * every 128 MiB.  Spans of up to XD_GZIP_CACHE_SPAN bytes recently
 * inflated are kept in a cache of XD_GZIP_CACHE_SLOTS entries, so
 * sequential reads inflate each span once.  Reads are thread-safe.
 *
 * Files of several gzip members (concatenated gzip files, pigz's
 * output) are one stream; zero bytes after the last member are
 * ignored.
 */
#ifndef XDISK_GZIP_H
#define XDISK_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"

#define XD_GZIP_FIRST_SPAN (UINT64_C (1) << 20)
#define XD_GZIP_CACHE_SLOTS 8
#define XD_GZIP_CACHE_SPAN (UINT64_C (8) << 20)
/* The smallest budget honoured, whatever BUDGET says. */
#define XD_GZIP_MIN_BUDGET (UINT64_C (1) << 20)

/* True if HEAD (LEN bytes) starts like a gzip member. */
extern bool xd_gzip_magic (const uint8_t *head, size_t len);

/* Index the gzip stream in BASE (ownership taken, closed on failure
 * too) and return an io over its decompressed bytes, named NAME.  NULL
 * after reporting an error (a corrupt or truncated stream, a CRC
 * mismatch).
 */
extern struct xd_io *xd_io_open_gzip (struct xd_io *base, uint64_t budget,
                                      const char *name);

/* Inflate the start of a gzip stream HEAD (LEN bytes) into OUT (CAP
 * bytes): the bytes produced, 0 if none (for probes; reports nothing).
 */
extern size_t xd_gzip_peek (const uint8_t *head, size_t len, uint8_t *out,
                            size_t cap);

#endif /* XDISK_GZIP_H */
