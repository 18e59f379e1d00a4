/* xdisk: a block cache in front of a slow xd_io.
 *
 * Over a transport every read is a round trip (an HTTP range request,
 * an ssh read), and format code makes many small ones: headers, table
 * entries, grain markers, compressed grains.  This io serves reads
 * smaller than a block from whole aligned blocks of the io below, kept
 * in a bounded, thread-safe cache (xd-cache.h), so that neighbouring
 * small reads (a run of compressed grains, a walk over markers, the
 * entries of one table) cost one round trip.  Reads of a block or more
 * go straight through: they are already as large as a round trip can
 * usefully be.
 */
#ifndef XDISK_IOCACHE_H
#define XDISK_IOCACHE_H

#include <stddef.h>

#include "io/xd-io.h"

/* Wrap BASE (ownership taken, also on failure) in a cache of at most
 * MAX_BLOCKS blocks of BLOCK_SIZE bytes (a power of two).  NULL after
 * reporting an error.
 */
extern struct xd_io *xd_io_open_cached (struct xd_io *base, size_t block_size,
                                        size_t max_blocks);

/* From now on a miss reads BLOCKS blocks (1 by default) in one read of
 * the io below and caches them all: while opening an image, whose
 * headers and tables lie close together and are read one after the
 * other, that saves round trips.  IO must come from xd_io_open_cached.
 */
extern void xd_io_cached_read_around (struct xd_io *io, size_t blocks);

#endif /* XDISK_IOCACHE_H */
