/* xdisk vmdkx filter: VMware VMDK decoded from the layer below.
 *
 * All of VMDK is in common/vmdk-*.c; the filter is its format list.
 */

#include <config.h>

#include "glue/xd-filter-glue.h"

extern const struct xd_format xd_reader_vmdk;
extern const struct xd_format xd_reader_ova;

static const struct xd_format *const vmdkx_formats[] = {
  &xd_reader_vmdk, &xd_reader_ova, NULL
};

XD_REGISTER_FILTER ("vmdkx", "VMware VMDK decoding filter", vmdkx_formats,
                    "\nignore-parent-mismatch=true  (no parents through a "
                    "filter: ignored)")
