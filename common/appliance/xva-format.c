/* xdisk: the XVA format as the plugins serve it: the reader, and the
 * creation of new exports (xva-write.c).
 *
 * An XVA is never written in place: an existing one is served
 * read-only, and create=true makes a new one, whose handle is the
 * writer's (xd_xva_creating, served one NBD export per disk).
 */

#include <config.h>

#include "appliance/xva.h"
#include "appliance/xva-write.h"

const struct xd_format xd_format_xva = {
  XVA_READ_FIELDS,
  .create = xva_create,
  .created = &xd_xva_creating,
};
