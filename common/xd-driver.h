/* xdisk: what a format supplies to become an nbdkit plugin.
 *
 * A plugin is a struct xd_driver plus XD_REGISTER_PLUGIN (xd-glue.h).
 * Everything in the driver is free of nbdkit calls: errors go through
 * xd_error, extents through a callback, so the same read path can be
 * driven by unit tests, fuzzers, and the diskx plugin.
 */
#ifndef XDISK_DRIVER_H
#define XDISK_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "xd-path.h"

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

/* Options common to every format, from the plugin's parameters. */
struct xd_open_opts {
  const struct xd_path_policy *policy;
  uint64_t cache_bytes;         /* budget for metadata table caches */
};

struct xd_driver {
  const char *format;           /* "VMDK", for messages */
  /* Extra parameters: text for --help (may be NULL) and a handler that
   * returns 0 if it took KEY, 1 if KEY is not its, -1 on a bad value.
   */
  const char *config_help;
  int (*config) (const char *key, const char *value);
  /* Extra --dump-plugin lines, NAME_key=value.  May be NULL. */
  void (*dump) (void);

  /* Parse the image at PATH (a real path) into a disk handle shared by
   * all connections.  NULL after reporting an error.
   */
  void *(*open) (const char *path, const struct xd_open_opts *opts);
  void (*close) (void *disk);
  uint64_t (*size) (void *disk);
  /* The natural I/O size (grain or block size), or 0. */
  uint32_t (*preferred_block) (void *disk);
  /* Read COUNT bytes at OFFSET (inside the disk).  Returns 0, or -1 with
   * errno set (EIO for corrupt data) after reporting an error.  Called
   * from many threads at once.
   */
  int (*pread) (void *disk, void *buf, uint32_t count, uint64_t offset);
  /* Report allocation from OFFSET for at least one extent and up to
   * COUNT bytes (more than one extent unless REQ_ONE).  May be NULL.
   */
  int (*extents) (void *disk, uint32_t count, uint64_t offset, bool req_one,
                  xd_extent_fn add, void *opaque);
  /* What was opened, for the export description: malloc'd, or NULL. */
  char *(*describe) (void *disk);
};

#endif /* XDISK_DRIVER_H */
