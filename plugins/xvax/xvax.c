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
                    "\nCreating an XVA (create=true, see the man page):\n"
                    "create-size=SIZE[,SIZE...]  One disk per size, each "
                    "its own NBD export\n"
                    "    (Ref:000, Ref:001, ...), written in order; at most "
                    "2040G each.\n"
                    "create-name=NAME create-cpus=N create-memory=SIZE\n"
                    "create-firmware=bios|efi create-os=OS "
                    "create-nic=none|e1000|e1000e|vmxnet3\n"
                    "create-network=NAME  The VM's description.\n"
                    "create-checksum=sha1|xxhash  Chunk checksums: SHA-1 "
                    "(default, every XenServer)\n"
                    "    or XXH64 (XenServer 8, XCP-ng 8.x).")
