/* xdisk fuzz target: a whole VMDK opened and read by the VMDK read path
 * (common/vmdk-read.c) through the registry, as the vmdkx plugin opens
 * it: descriptor, extents, parents, grain table lookups through the
 * table cache, inflating compressed grains, block status.
 *
 * The input is a VMDK file, or a bundle (fuzz.h) of a descriptor and
 * its extents or of a snapshot chain.  The files are written to a
 * private temporary directory, since extents and parents are opened by
 * name.
 */

#include <config.h>

#include "fuzz.h"
#include "core/xd-format.h"

extern const struct xd_format xd_format_vmdk;

/* Small, so that grain tables and inflated grains are evicted. */
#define CACHE_BYTES (256 * 1024)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Odd-sized inputs serve snapshots whatever their parentCID. */
  struct xd_open_opts opts = { .cache_bytes = CACHE_BYTES,
                               .ignore_parent_mismatch = size & 1 };
  struct fz_bundle b;
  const char *path;

  fz_init ();
  fz_bundle_parse (data, size, "disk.vmdk", &b);
  path = fz_write_files (&b);
  fz_serve_file (path, &xd_format_vmdk, &opts);
  fz_remove_files (&b);
  fz_bundle_free (&b);
  return 0;
}
