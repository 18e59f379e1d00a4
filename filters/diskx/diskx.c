/* xdisk diskx filter: any format the pack reads, detected from the
 * contents of the layer below.
 *
 * The filter is the registry's whole format list (common/registry.c).
 */

#include <config.h>

#include "glue/xd-filter-glue.h"

XD_REGISTER_FILTER ("diskx", "any virtual disk decoded, format detected",
                    xd_formats,
                    "\nand every parameter of the format filters that "
                    "applies to one stream,\n"
                    "e.g. size=current|geometry|auto (VHD).")
