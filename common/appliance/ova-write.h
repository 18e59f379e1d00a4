/* xdisk: creating OVA appliances (ova-write.c).
 *
 * nbdkit vmdkx file=app.ova create=true create-size=20G writes a ustar
 * archive: the OVF descriptor first, the manifest, then each disk as a
 * streamOptimized VMDK written as the client writes it, with no
 * temporary copy (vmdk-stream-write.c).  The descriptor's room is
 * reserved first and filled in last, with the member sizes and the
 * manifest digests, when the last disk is complete.  The disks are
 * written one after another, each served as its own NBD export.
 */
#ifndef XDISK_OVA_WRITE_H
#define XDISK_OVA_WRITE_H

#include "core/xd-format.h"

/* xd_format.create for OVA: a new appliance in IO as COPTS asks.  The
 * handle is served by xd_ova_creating.
 */
extern void *ova_create (struct xd_io *io, const struct xd_resolver *res,
                         const struct xd_create_opts *copts,
                         const struct xd_open_opts *opts);

/* The table of an OVA being created: its disks (xd_format.disks) and
 * its close, which reports an appliance left incomplete.
 */
extern const struct xd_format xd_ova_creating;

#endif /* XDISK_OVA_WRITE_H */
