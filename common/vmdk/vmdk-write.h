/* xdisk vmdkx: the write side of VMDK: writing into a disk opened by
 * the reader (vmdk-write.c), checking it (vmdk-check.c), creating one
 * (vmdk-create.c) and the composed open and close (vmdk-disk.c).
 * The read side (vmdk-read.h) never includes this header.
 */
#ifndef XDISK_VMDK_WRITE_H
#define XDISK_VMDK_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmdk/vmdk-read.h"
#include "core/xd-format.h"
#include "io/xd-io.h"

/* ---- vmdk-disk.c: the composed open and close ---- */

/* Open the disk as the reader does (vmdk_reader_open) and, when
 * OPTS->writable, prepare it for writing (vmdk_write_prepare).
 */
extern struct vmdk_disk *vmdk_disk_open (struct xd_io *io,
                                         const struct xd_resolver *res,
                                         const struct xd_open_opts *opts);
/* Release the writer (a stream being created, the grain tables in
 * memory), then close the disk as the reader does.
 */
extern void vmdk_disk_close (struct vmdk_disk *disk);

/* ---- vmdk-write.c ---- */

/* Prepare D (the top of a chain, opened by the reader) for writing:
 * reopen extent files for writing, load the redundant grain
 * directories, install the grain table lookup in the sparse extents,
 * decide readonly_why.  Errors only for failures (reported); a kind
 * that cannot be written sets readonly_why and returns 0.
 */
extern int vmdk_write_prepare (struct vmdk_disk *d);
/* Free what vmdk_write_prepare set up (the grain tables in memory, the
 * hooks, the lock), leaving D to the reader's close.  Writes nothing.
 */
extern void vmdk_write_release (struct vmdk_disk *d);
/* A new random CID, never OLD nor ffffffff/fffffffe. */
extern uint32_t vmdk_new_cid (uint32_t old);
extern bool vmdk_disk_can_write (struct vmdk_disk *d, const char **why);
extern int vmdk_disk_write (struct vmdk_disk *d, const void *buf,
                            uint64_t count, uint64_t offset);
extern int vmdk_disk_zero (struct vmdk_disk *d, uint64_t count,
                           uint64_t offset, bool may_trim, bool fast);
extern int vmdk_disk_trim (struct vmdk_disk *d, uint64_t count,
                           uint64_t offset);
extern int vmdk_disk_flush (struct vmdk_disk *d);

/* ---- vmdk-check.c ---- */
extern int vmdk_disk_check (struct vmdk_disk *d);

/* ---- vmdk-create.c ---- */
extern struct vmdk_disk *vmdk_disk_create (struct xd_io *io,
                                           const struct xd_resolver *res,
                                           const struct xd_create_opts *copts,
                                           const struct xd_open_opts *opts);

#endif /* XDISK_VMDK_WRITE_H */
