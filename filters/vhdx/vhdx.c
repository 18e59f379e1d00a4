/* xdisk vhdx filter: Microsoft VHD and VHDX decoded from the layer
 * below, told apart by signature.
 *
 * All of VHD and VHDX is in common/vhd*.c; the filter is its format
 * list.
 */

#include <config.h>

#include "glue/xd-filter-glue.h"

extern const struct xd_format xd_reader_vhd;
extern const struct xd_format xd_reader_vhdx;
extern const struct xd_format xd_reader_ova;

static const struct xd_format *const vhdx_formats[] = {
  &xd_reader_vhdx, &xd_reader_vhd, &xd_reader_ova, NULL
};

XD_REGISTER_FILTER ("vhdx", "Microsoft VHD and VHDX decoding filter",
                    vhdx_formats,
                    "\nsize=current|geometry|auto  Which VHD footer size to "
                    "serve.")
