/* xdisk vhdx: the nbdkit plugin serving Microsoft VHD and VHDX disks,
 * told apart by signature.
 *
 * All of VHD and VHDX is in common/vhd*.c; the plugin is its format
 * list.
 */

#include <config.h>

#include "glue/xd-glue.h"

extern const struct xd_format xd_format_vhd;
extern const struct xd_format xd_format_vhdx;
extern const struct xd_format xd_reader_ova;
extern const struct xd_format xd_format_ovf;

static const struct xd_format *const vhdx_formats[] = {
  &xd_format_vhdx, &xd_format_vhd, &xd_reader_ova,
  &xd_format_ovf, NULL
};

XD_REGISTER_PLUGIN ("vhdx", "Microsoft VHD and VHDX virtual disk plugin",
                    vhdx_formats,
                    "\nsize=current|geometry|auto  Which VHD footer size to "
                    "serve.\n"
                    "ignore-parent-mismatch=true  Serve a differencing disk "
                    "whose parent ID does not match.\n"
                    "disk=N|NAME  OVA: the disk to serve (default: the "
                    "first).\n"
                    "verify=true  OVA: check the disk against the "
                    "manifest.")
