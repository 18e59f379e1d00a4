/* xdisk fuzz target: the VMDK sparse write path (common/vmdk-write.c:
 * monolithicSparse and twoGbMaxExtentSparse extents, delta disks).
 * fz_write_run (fuzz-write-common.c) opens a mutated or freshly created
 * image writable, checks it, writes, zeroes, trims and flushes it as the
 * input says, then closes, reopens, checks and reads it back against a
 * shadow copy.  The input (fuzz.h): the ops, then the image (a file, or
 * a bundle with its extents or its parent), or a few bytes saying what
 * to create.
 */

#include <config.h>

#include <stddef.h>

#include "fuzz.h"
#include "core/xd-format.h"

extern const struct xd_format xd_format_vmdk;

static const char *const types[] = { "monolithic-sparse", "split-sparse",
                                     NULL };

static const struct fz_write_target target = {
  .format = &xd_format_vmdk,
  .default_name = "disk.vmdk",
  .types = types,
  .differencing = true,
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return fz_write_run (&target, data, size);
}
