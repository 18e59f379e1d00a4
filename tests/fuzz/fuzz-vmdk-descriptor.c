/* xdisk fuzz target: the VMDK text descriptor parser.
 *
 * The input is descriptor text, as found in a descriptor file or
 * embedded in a sparse extent.
 */

#include <config.h>

#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "vmdk/vmdk.h"

static void
check_descriptor (const struct vmdk_descriptor *desc)
{
  size_t i;

  if (desc->nr_extents == 0 || desc->version < 1 || desc->version > 3)
    fz_fail ("descriptor: %zu extents, version %u", desc->nr_extents,
             desc->version);
  for (i = 0; i < desc->nr_extents; i++) {
    const struct vmdk_desc_extent *e = &desc->extents[i];
    if (e->sectors == 0 || e->sectors > UINT64_MAX / 512 ||
        e->offset > UINT64_MAX / 512 ||
        e->offset + e->sectors > UINT64_MAX / 512)
      fz_fail ("extent %zu: %" PRIu64 " sectors at %" PRIu64, i,
               e->sectors, e->offset);
    if ((e->kind == VMDK_ZERO) != (e->filename == NULL) ||
        (e->filename && e->filename[0] == '\0'))
      fz_fail ("extent %zu: kind %s with file name %s", i,
               vmdk_kind_name (e->kind), e->filename ? "\"\"" : "NULL");
    if (strcmp (vmdk_kind_name (e->kind), "?") == 0 ||
        strcmp (vmdk_access_name (e->access), "?") == 0)
      fz_fail ("extent %zu: unknown kind or access", i);
    if (e->offset && e->kind != VMDK_FLAT)
      fz_fail ("extent %zu: offset on a non-flat extent", i);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vmdk_descriptor desc;
  unsigned long before;
  int r;

  fz_init ();
  before = fz_begin ();
  r = vmdk_parse_descriptor ((const char *) data, size, "fuzz.vmdk", &desc);
  fz_check_failure (r, before, "vmdk_parse_descriptor");
  if (r == 0) {
    check_descriptor (&desc);
    vmdk_descriptor_free (&desc);
  }
  return 0;
}
