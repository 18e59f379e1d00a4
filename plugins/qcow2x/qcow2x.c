/* xdisk qcow2x: the nbdkit plugin serving qemu qcow2 disks.
 *
 * All of qcow2 is in common/qcow2-*.c; the plugin is its format list.
 */

#include <config.h>

#include "glue/xd-glue.h"

extern const struct xd_format xd_format_qcow2;

static const struct xd_format *const qcow2x_formats[] = {
  &xd_format_qcow2, NULL
};

XD_REGISTER_PLUGIN ("qcow2x", "qemu qcow2 virtual disk plugin",
                    qcow2x_formats,
                    "\nsnapshot=NAME|ID    Serve this internal snapshot "
                    "instead of the active disk.")
