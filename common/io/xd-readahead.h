/* xdisk: sequential read-ahead in front of a slow xd_io.
 *
 * Over a transport every read is a round trip, and a client that
 * copies a disk waits for each of its requests before it sends the
 * next one on that connection (nbdkit serves one request at a time per
 * connection when the layer below does).  This io notices reads that
 * continue where an earlier one ended (a few such streams at once) and
 * loads the chunks that follow into buffers, on worker threads, while
 * the client is busy: its next read is then a copy out of memory.
 *
 * Chunks are CHUNK_SIZE bytes, aligned; at most NR_CHUNKS are held,
 * which bounds the memory.  Chunks are loaded ahead of a stream only
 * while free buffers remain: one is freed once a read has taken its
 * last byte, or when no stream is heading for it any more.
 *
 * Reads never see other bytes than a read of the io below would give:
 * the io below is read-only.  A failed read-ahead is forgotten, not
 * reported: a read of that range goes to the io below itself, so an
 * error reaches only a reader of the range, and a passing one (a
 * dropped connection that the layer below retries) none.
 */
#ifndef XDISK_READAHEAD_H
#define XDISK_READAHEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "io/xd-io.h"

/* Wrap BASE (ownership taken, also on failure), whose pread must be
 * thread-safe, in read-ahead of up to AHEAD bytes, shared between the
 * streams that read now, in at most NR_CHUNKS buffers of CHUNK_SIZE
 * bytes (not 0), loaded by NR_THREADS threads (with none, by readers
 * only).  NULL after reporting an error.
 */
extern struct xd_io *xd_io_open_readahead (struct xd_io *base,
                                           size_t chunk_size,
                                           size_t nr_chunks, size_t ahead,
                                           size_t nr_threads);

/* A client is about to read from OFFSET on (it asked where the data
 * is): read up to LEN bytes there ahead, unless a stream is on its way
 * there already.
 */
extern void xd_readahead_hint (struct xd_io *io, uint64_t offset,
                               uint64_t len);

/* True in the threads that read ahead: an io below that queues reads
 * (a pool of connections) serves the others first.
 */
extern bool xd_readahead_in_worker (void);

/* Counters for debug messages and tests (a readahead io only). */
struct xd_readahead_stats {
  uint64_t loaded;              /* chunks read ahead */
  uint64_t failed;              /* read-aheads that failed */
  uint64_t hits;                /* reads (or parts) served from chunks */
  uint64_t direct;              /* reads (or parts) sent to the io below */
  uint64_t unused;              /* chunks dropped before any read used them */
};
extern void xd_readahead_get_stats (struct xd_io *io,
                                    struct xd_readahead_stats *stats);

#endif /* XDISK_READAHEAD_H */
