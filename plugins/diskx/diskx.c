/* xdisk diskx: the nbdkit plugin serving a disk image of any format the
 * pack reads, detected from the file's contents.
 *
 * The plugin is the registry's whole format list (common/registry.c):
 * the glue detects the format and opens it with the same code as that
 * format's own plugin, which makes every format's parameters diskx's.
 */

#include <config.h>

#include "glue/xd-glue.h"

/* -D diskx.grains=1: a debug message for every VMDK grain looked up. */
NBDKIT_DLL_PUBLIC int diskx_debug_grains = 0;

static void __attribute__ ((constructor))
diskx_debug_flags (void)
{
  xd_glue_opts.vmdk_debug_grains = &diskx_debug_grains;
}

XD_REGISTER_PLUGIN ("diskx", "any virtual disk, format detected by content",
                    xd_formats_served,
                    "\nand every parameter of the format plugins: "
                    "ignore-parent-mismatch=true,\n"
                    "size=current|geometry|auto (VHD), disk=N|NAME and "
                    "verify=true (OVA, XVA), ...")
