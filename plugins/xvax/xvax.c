/* xdisk xvax: the nbdkit plugin serving a disk of a XenServer / XCP-ng
 * XVA export, read in place, or creating one (create=true).
 *
 * All of XVA is in common/xva.c; the plugin is its format list.
 */

#include <config.h>

#include "glue/xd-glue.h"

extern const struct xd_format xd_format_xva;

static const struct xd_format *const xvax_formats[] = {
  &xd_format_xva, NULL
};

XD_REGISTER_PLUGIN ("xvax", "XenServer / XCP-ng XVA export plugin",
                    xvax_formats,
                    "\ndisk=N|NAME|UUID  The disk to serve (default: the "
                    "first).\n"
                    "verify=true  Check each chunk's checksum on its first "
                    "read.\n"
                    "\nCreating an XVA (create=true, see the man page): "
                    "one NBD export per disk,\n"
                    "named Ref:000, Ref:001, ..., written in order, one "
                    "disk at a time; each disk\n"
                    "at most 2040G, rounded up to whole MiB.  "
                    "create-checksum=sha1 (the default,\n"
                    "every XenServer) or xxhash (XenServer 8, XCP-ng 8.x "
                    "only).")
