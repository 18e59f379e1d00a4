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

#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"

struct xd_vmdesc;

/* Most disks an export holds (each its own VDI and VBD). */
#define XD_XVA_MAX_DISKS 255
/* Largest disk: what a VHD-based SR, every XenServer's and XCP-ng's
 * default storage, can hold (../shared/docs/appliance-targets.md §5.7).
 */
#define XD_XVA_MAX_DISK_SIZE (UINT64_C (2040) << 30)

/* ova.xml (xva-xml-write.c).  Object ids are fixed-width "Ref:NNN", the
 * disks' VDIs first, so that the VDIs sort in disk order (§5.1); REF
 * gets disk I's, its chunk directory.
 */
#define XD_XVA_REF_SIZE 8       /* "Ref:NNN" and its NUL */
extern void xd_xva_vdi_ref (size_t i, char ref[XD_XVA_REF_SIZE]);
/* The text of ova.xml for the machine VM whose disk I has
 * VIRTUAL_SIZES[I] bytes (VM->nr_disks of them, at most
 * XD_XVA_MAX_DISKS), with fresh UUIDs: malloc'd, its length in *LEN;
 * NULL after reporting (FILE names the export in messages).
 */
extern char *xd_xva_make_ova_xml (const struct xd_vmdesc *vm,
                                  const uint64_t *virtual_sizes,
                                  const char *file, size_t *len);

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
