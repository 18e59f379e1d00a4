/* xdisk fuzz target: a whole OVA or XVA opened through the registry as
 * diskx opens it (detected), then read: the descriptor, the disk
 * choice, manifests, member ios, gzip members, the XVA chunk placement
 * and checksums, and the inner image's read path.
 *
 * The input is an archive, or a bundle (fuzz.h) whose first file is
 * one.
 */

#include <config.h>

#include <stdlib.h>

#include "fuzz.h"
#include "core/xd-format.h"

#define CACHE_BYTES (64 * 1024)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct xd_open_opts opts = { .cache_bytes = CACHE_BYTES,
                               .verify = size & 1,
                               .disk = (size & 2) ? "1" : NULL };
  struct fz_bundle b;
  const char *path;

  fz_init ();
  /* Half the inputs have their XVA chunks indexed lazily, by the reads
   * (as a large export is), half all at open.
   */
  setenv ("XDISK_XVA_EAGER_MEMBERS", (size & 4) ? "1" : "4096", 1);
  fz_bundle_parse (data, size, "app.ova", &b);
  path = fz_write_files (&b);
  fz_serve_file (path, NULL, &opts);
  fz_remove_files (&b);
  fz_bundle_free (&b);
  return 0;
}
