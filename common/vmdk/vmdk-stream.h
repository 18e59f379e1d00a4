/* xdisk vmdkx: creating a streamOptimized VMDK (vmdk-stream-write.c,
 * the requests; vmdk-stream-pipe.c, the ordered compression pipeline).
 *
 * NBD clients write out of order, but a streamOptimized extent must
 * hold its grains in strictly ascending order (VirtualBox's stream
 * reader refuses anything else).  The writer keeps a bounded window of
 * grains not yet written: a grain is compressed (in parallel) and
 * appended once every grain before it is complete or known to be
 * skipped; a write behind what has already gone to the file is
 * refused, naming the window.  vmdk_stream_finish writes the grain
 * tables that remain, the grain directory, the footer and the
 * end-of-stream marker, as VMware writes them.
 */
#ifndef XDISK_VMDK_STREAM_H
#define XDISK_VMDK_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/xd-format.h"
#include "io/xd-io.h"

struct vmdk_stream_writer;

/* The reordering window: grains held in memory until every grain
 * before them is complete.  64 MiB of grains (1024 grains of 64 KiB)
 * by default; the memory used is at most the window of raw grains plus
 * their compressed copies waiting for their turn (at most twice the
 * window).
 */
#define VMDK_STREAM_WINDOW (UINT64_C (64) << 20)
/* A write beyond the window waits for the writes before it to fill the
 * window's oldest grains.  When nothing has advanced for this long
 * (milliseconds) while other requests are in progress, or for
 * VMDK_STREAM_GRACE_MS while every request in progress is such a
 * waiting one, the grains below the lowest waiting request are written
 * as they are (what was never written reads as zeros).  A client that
 * skips zero ranges instead of writing zeros (nbdcopy
 * --destination-is-zero) loses the grace time once per skipped range
 * longer than the window; a client whose connections each pause longer
 * than the grace time while another writes beyond the window may get
 * its later writes refused.
 */
#define VMDK_STREAM_STALL_MS 5000
#define VMDK_STREAM_GRACE_MS 1000
/* The largest virtual size: grain table entries are 32-bit sector
 * numbers, so a sparse extent addresses at most 2 TiB.
 */
#define VMDK_STREAM_MAX_SIZE (UINT64_C (2) << 40)
/* Grains are compressed by a thread per online CPU, up to this many. */
#define VMDK_STREAM_MAX_WORKERS 16

/* Start a streamOptimized image in IO (empty, writable; ownership
 * taken) of COPTS->size bytes, with the descriptor's adapter type and
 * hardware version from COPTS (already validated by the caller, in
 * VMware's spellings: "lsilogic", "7").  NULL after reporting.
 */
extern struct vmdk_stream_writer *
vmdk_stream_create (struct xd_io *io, const struct xd_create_opts *copts,
                    const char *adapter_type, const char *hwversion);
/* Change the window (bytes, a multiple of the grain size, at least one
 * grain) and the stall times (ms; 0 keeps the current ones) before the
 * first write.  0, or -1 after reporting.
 */
extern int vmdk_stream_set_window (struct vmdk_stream_writer *w,
                                   uint64_t window_bytes,
                                   unsigned stall_ms, unsigned grace_ms);
/* At most N compressing threads (0: the writing threads compress),
 * before the first write.  0, or -1 after reporting.
 */
extern int vmdk_stream_set_workers (struct vmdk_stream_writer *w,
                                    unsigned n);
/* Frees everything; finishes the image first if not yet finished. */
extern void vmdk_stream_close (struct vmdk_stream_writer *w);
extern uint64_t vmdk_stream_size (const struct vmdk_stream_writer *w);
extern uint32_t vmdk_stream_grain_bytes (const struct vmdk_stream_writer *w);
/* True once every grain of the disk has gone to the file: nothing can
 * be written any more, and finishing loses nothing.
 */
extern bool vmdk_stream_all_appended (struct vmdk_stream_writer *w);
/* Bytes of the grains stored with data so far (an OVF's populatedSize). */
extern uint64_t vmdk_stream_stored_bytes (struct vmdk_stream_writer *w);
/* Reads return what was written where it is still known (the window),
 * zeros where nothing was written, and EIO (reported) for grains
 * already compressed to the file.
 */
extern int vmdk_stream_pread (struct vmdk_stream_writer *w, void *buf,
                              uint32_t count, uint64_t offset);
extern int vmdk_stream_pwrite (struct vmdk_stream_writer *w, const void *buf,
                               uint32_t count, uint64_t offset);
/* Zeros are written as zeros (an all-zero grain is not stored).  A
 * caller asked for a FAST zero should refuse it (ENOTSUP): qemu-img
 * pre-zeroes a whole target that way, which would push the window past
 * the data to come.
 */
extern int vmdk_stream_zero (struct vmdk_stream_writer *w, uint32_t count,
                             uint64_t offset);
/* Durability of a stream being written: the complete grains at the
 * window's back edge are appended (waiting for their compression), then
 * what is in the file is made durable (fdatasync).  Grains behind an
 * incomplete one stay in memory, and the image is complete only after
 * finish.
 */
extern int vmdk_stream_flush (struct vmdk_stream_writer *w);
extern int vmdk_stream_finish (struct vmdk_stream_writer *w);

#endif /* XDISK_VMDK_STREAM_H */
