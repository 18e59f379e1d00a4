/* xdisk vmdkx: the nbdkit plugin serving VMware VMDK disks.
 *
 * All of VMDK is in common/vmdk-*.c; the plugin is its format list.
 */

#include <config.h>

#include "glue/xd-glue.h"

extern const struct xd_format xd_format_vmdk;
extern const struct xd_format xd_format_ova;
extern const struct xd_format xd_format_vmx;
extern const struct xd_format xd_format_ovf;

/* -D vmdkx.grains=1: a debug message for every grain looked up. */
NBDKIT_DLL_PUBLIC int vmdkx_debug_grains = 0;

static void __attribute__ ((constructor))
vmdkx_debug_flags (void)
{
  xd_glue_opts.vmdk_debug_grains = &vmdkx_debug_grains;
}

static const struct xd_format *const vmdkx_formats[] = {
  &xd_format_vmdk, &xd_format_ova, &xd_format_vmx,
  &xd_format_ovf, NULL
};

XD_REGISTER_PLUGIN ("vmdkx", "VMware VMDK virtual disk plugin", vmdkx_formats,
                    "\nignore-parent-mismatch=true  Serve a snapshot whose "
                    "parentCID does not match its parent.\n"
                    "disk=N|NAME  OVA: the disk to serve (default: the "
                    "first).\n"
                    "verify=true  OVA: check the disk against the "
                    "manifest.\n"
                    "file=VM.vmx disk=scsi0:0  a VM: its disks, each an "
                    "export named by its device key.\n"
                    "file=APP.ovf disk=N|FILE  an OVF with its disks "
                    "beside it: each an export named by its file.")
