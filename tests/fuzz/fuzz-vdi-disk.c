/* xdisk fuzz target: a whole VDI opened and read through the registry
 * as the vdix plugin opens it: header, block map (whole or paged through
 * the cache), the parent search by UUID among the files of the
 * directory and through .vbox media registries, parent checks and
 * chains, block status.
 *
 * The input is a VDI file, or a bundle (fuzz.h) of a differencing chain
 * (and .vbox files).  The files are written to a private temporary
 * directory (sparse), since parents are searched for by listing it.
 */

#include <config.h>

#include "fuzz.h"
#include "core/xd-format.h"

extern const struct xd_format xd_format_vdi;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* The input's size picks the options, so that all are covered:
   * small caches page the block map.
   */
  struct xd_open_opts opts = { .cache_bytes = (size & 1) ? 64 * 1024
                                                         : 32 << 20,
                               .ignore_parent_mismatch = (size / 2) & 1 };
  struct fz_bundle b;
  const char *path;

  fz_init ();
  fz_bundle_parse (data, size, "disk.vdi", &b);
  path = fz_write_files (&b);
  fz_serve_file (path, &xd_format_vdi, &opts);
  fz_remove_files (&b);
  fz_bundle_free (&b);
  return 0;
}
