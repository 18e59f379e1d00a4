/* xdisk: creating XenServer / XCP-ng XVA exports (xva-write.c).
 *
 * nbdkit xvax file=vm.xva create=true create-size=20G writes an export
 * as xapi writes one: ova.xml first (the XML-RPC records of the VM, its
 * VBDs, VDIs, SR, VIF and network), then each disk's 1 MiB chunks
 * "Ref:NNN/NNNNNNNN" in ascending order, each followed by its checksum
 * member (SHA-1, or XXH64 with create-checksum=xxhash); all-zero chunks
 * are left out but the first and the last.  Out-of-order writes go
 * through a bounded reordering window.  The disks are written one after
 * another, each served as its own NBD export.
 */
#ifndef XDISK_XVA_WRITE_H
#define XDISK_XVA_WRITE_H

#include "core/xd-format.h"

/* xd_format.create for XVA: a new export in IO as COPTS asks.  The
 * handle is served by xd_xva_creating.
 */
extern void *xva_create (struct xd_io *io, const struct xd_resolver *res,
                         const struct xd_create_opts *copts,
                         const struct xd_open_opts *opts);

/* The table of an XVA being created: its disks (xd_format.disks) and
 * its close, which reports an export left incomplete.
 */
extern const struct xd_format xd_xva_creating;

#endif /* XDISK_XVA_WRITE_H */
