/* xdisk fuzz target: a whole qcow2 disk opened and read by its read
 * path (common/qcow2-read.c) through the registry, as the qcow2x plugin
 * opens it: header, L1 and L2 tables through the table cache, standard
 * and extended L2 entries, zero and compressed clusters (inflated
 * directly and through the inflated-cluster cache), external data
 * files, backing files of any format, internal snapshots, block status.
 *
 * The input is a qcow2 file, or a bundle (fuzz.h) of an image with its
 * backing files or data file, written to a private temporary directory
 * since those are opened by name.
 */

#include <config.h>

#include "fuzz.h"
#include "core/xd-format.h"

extern const struct xd_format xd_format_qcow2;

/* Small, so that L2 tables and inflated clusters are evicted. */
#define CACHE_BYTES (64 * 1024)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* The input's size picks whether a snapshot is served. */
  static const char *const snapshots[] = { NULL, NULL, "1", "2" };
  struct xd_open_opts opts = { .cache_bytes = CACHE_BYTES,
                               .snapshot = snapshots[size % 4] };
  struct fz_bundle b;
  const char *path;

  fz_init ();
  fz_bundle_parse (data, size, "disk.qcow2", &b);
  path = fz_write_files (&b);
  fz_serve_file (path, &xd_format_qcow2, &opts);
  fz_remove_files (&b);
  fz_bundle_free (&b);
  return 0;
}
