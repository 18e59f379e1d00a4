/* xdisk xvax filter: a disk of a XenServer / XCP-ng XVA export decoded
 * from the layer below (the tar is one stream).
 *
 * All of XVA is in common/xva.c; the filter is its format list.
 */

#include <config.h>

#include "glue/xd-filter-glue.h"

extern const struct xd_format xd_reader_xva;

static const struct xd_format *const xvax_formats[] = {
  &xd_reader_xva, NULL
};

XD_REGISTER_FILTER ("xvax", "XenServer XVA export decoding filter",
                    xvax_formats,
                    "\ndisk=N|NAME|UUID  The disk to serve (default: the "
                    "first).\n"
                    "verify=true  Check each chunk's checksum on its first "
                    "read.")
