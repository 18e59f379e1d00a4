/* xdisk fuzz target: a whole VHD or VHDX opened and read by their read
 * path (common/vhd-read.c) through the registry, as the vhdx plugin
 * opens it: footer and dynamic header or VHDX headers, log replay and
 * metadata, parent locators and chains, BAT lookups through the table
 * cache, sector bitmaps, block status.
 *
 * The input is a VHD file, or a bundle (fuzz.h) of a VHDX or of a
 * differencing chain.  The files are written to a private temporary
 * directory (sparse), since parents are opened by name.
 */

#include <config.h>

#include "fuzz.h"
#include "vhd/vhd.h"
#include "core/xd-format.h"

extern const struct xd_format xd_format_vhd;

/* Small, so that BAT pages are evicted. */
#define CACHE_BYTES (64 * 1024)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* The input's size picks the options, so that all are covered. */
  struct xd_open_opts opts = { .cache_bytes = CACHE_BYTES,
                               .vhd_size_mode = (int) (size % 3),
                               .ignore_parent_mismatch = (size / 3) & 1 };
  struct fz_bundle b;
  const char *path;

  fz_init ();
  fz_bundle_parse (data, size, "disk.vhd", &b);
  if (fz_want_fixed_checksums (size))
    fz_fix_checksums (&b);
  path = fz_write_files (&b);
  /* The VHD format opens VHDX too: one read path, told apart inside. */
  fz_serve_file (path, &xd_format_vhd, &opts);
  fz_remove_files (&b);
  fz_bundle_free (&b);
  return 0;
}
