/* xdisk: what every read path reports extents with.
 *
 * Format code is free of nbdkit calls: errors go through xd_error,
 * extents through the callback below, so the same read path can be
 * driven by the plugins, unit tests and fuzzers.  The formats
 * themselves are struct xd_format (xd-format.h).
 */
#ifndef XDISK_DRIVER_H
#define XDISK_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

/* For callback parameters a function has to take but does not use. */
#define XD_UNUSED __attribute__ ((unused))

/* Extent types, with the same values as NBDKIT_EXTENT_*.  Use DATA, or
 * HOLE|ZERO for ranges that read as zeros and are not allocated, or ZERO
 * for allocated zeros.  HOLE alone does not read as zeros: never use it.
 */
#define XD_EXTENT_DATA 0
#define XD_EXTENT_HOLE 1
#define XD_EXTENT_ZERO 2
#define XD_EXTENT_UNALLOCATED (XD_EXTENT_HOLE | XD_EXTENT_ZERO)

/* Report the next extent.  Extents are reported in ascending order and
 * without gaps, the first starting at the offset asked about.  Returns 0
 * or -1 after reporting an error.
 */
typedef int (*xd_extent_fn) (void *opaque, uint64_t offset, uint64_t length,
                             uint32_t type);

#endif /* XDISK_DRIVER_H */
