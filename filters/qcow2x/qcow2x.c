/* xdisk qcow2x filter: qcow2 decoded from the layer below.
 *
 * All of qcow2 is in common/qcow2-*.c; the filter is its format list.
 * Backing files and external data files are names outside the stream:
 * the plugin serves those.
 */

#include <config.h>

#include "glue/xd-filter-glue.h"

extern const struct xd_format xd_format_qcow2;

static const struct xd_format *const qcow2x_formats[] = {
  &xd_format_qcow2, NULL
};

XD_REGISTER_FILTER ("qcow2x", "qcow2 decoding filter", qcow2x_formats,
                    "\nsnapshot=NAME|ID    Serve this internal snapshot.")
