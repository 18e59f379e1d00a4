/* xdisk fuzz target: the VDI write path (common/vdi-write.c: dynamic,
 * static and differencing images).  fz_write_run (fuzz-write-common.c)
 * opens a mutated or freshly created image writable, checks it, writes,
 * zeroes, trims and flushes it as the input says, then closes, reopens,
 * checks and reads it back against a shadow copy.  The input (fuzz.h):
 * the ops, then the image (a file, or a bundle with its extents or its
 * parent), or a few bytes saying what to create.
 */

#include <config.h>

#include <stddef.h>

#include "fuzz.h"
#include "core/xd-format.h"

extern const struct xd_format xd_format_vdi;

static const char *const types[] = { "dynamic", "static", NULL };

static const struct fz_write_target target = {
  .format = &xd_format_vdi,
  .default_name = "disk.vdi",
  .types = types,
  .differencing = true,
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return fz_write_run (&target, data, size);
}
