/* xdisk vdix: the nbdkit plugin serving VirtualBox VDI disks and their
 * differencing (snapshot) chains.
 *
 * All of VDI is in common/vdi-*.c; the plugin is its format list.
 */

#include <config.h>

#include "glue/xd-glue.h"

extern const struct xd_format xd_format_vdi;
extern const struct xd_format xd_format_vbox;

static const struct xd_format *const vdix_formats[] = {
  &xd_format_vdi, &xd_format_vbox, NULL
};

XD_REGISTER_PLUGIN ("vdix", "VirtualBox VDI virtual disk plugin",
                    vdix_formats,
                    "\nparent=<FILENAME>   The parent of a differencing VDI "
                    "(else searched by UUID).\n"
                    "ignore-parent-mismatch=true  Serve a differencing disk "
                    "whose parent UUIDs do not match.\n"
                    "file=VM.vbox disk=SATA:0:0  a VirtualBox VM: its "
                    "current state's disks, each an export.")
