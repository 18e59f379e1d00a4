/* xdisk vdix filter: VirtualBox VDI decoded from the layer below.
 *
 * All of VDI is in common/vdi-*.c; the filter is its format list.  A
 * differencing VDI names its parent by UUID only, which a stream cannot
 * search for: the plugin serves those.
 */

#include <config.h>

#include "glue/xd-filter-glue.h"

extern const struct xd_format xd_reader_vdi;

static const struct xd_format *const vdix_formats[] = {
  &xd_reader_vdi, NULL
};

XD_REGISTER_FILTER ("vdix", "VirtualBox VDI decoding filter", vdix_formats,
                    "")
