/* xdisk: the OVA format as the plugins serve it: the reader, and the
 * creation of new appliances (ova-write.c).
 *
 * An OVA is never written in place: an existing one is served
 * read-only, and create=true makes a new one, whose handle is the
 * writer's (xd_ova_creating, served one NBD export per disk).
 */

#include <config.h>

#include "appliance/ova.h"
#include "appliance/ova-write.h"

const struct xd_format xd_format_ova = {
  OVA_READ_FIELDS,
  .create = ova_create,
  .created = &xd_ova_creating,
};
