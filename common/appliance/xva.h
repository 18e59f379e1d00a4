/* xdisk: XenServer / XCP-ng XVA exports.
 *
 * An XVA is a tar: ova.xml first (the VM's metadata, an XML-RPC
 * value), then for each disk (VDI) its contents in 1 MiB chunk files
 * "Ref:NNN/00000000", ... where Ref:NNN is the VDI's id in ova.xml,
 * each followed by a checksum member: "....checksum" (SHA-1, lowercase
 * hex, before XenServer 8.1) or "....xxhash" (XXH64 seed 0, 16
 * uppercase hex digits).  Chunks of zeros are left out, but the first
 * and the last chunk are always there; an empty chunk file is a
 * keep-alive the exporter wrote while it had nothing to send, which
 * does not advance the disk position (see xva.c).
 *
 * Legacy exports (<appliance version="0.1">) hold each disk as gzip
 * chunks "sda/chunk-000000000.gz", ... of 1e9 bytes each.
 */
#ifndef XDISK_XVA_H
#define XDISK_XVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"

#define XD_XVA_CHUNK (UINT64_C (1) << 20)
#define XD_XVA_LEGACY_CHUNK UINT64_C (1000000000)
/* Largest ova.xml read. */
#define XD_XVA_MAX_XML (UINT64_C (64) << 20)

struct xd_xva_vdi {
  char *ref;                    /* "Ref:NNN": the chunk directory; legacy:
                                 * the source directory ("sda") */
  char *uuid;
  char *name;                   /* name_label */
  uint64_t size;                /* virtual_size */
};

struct xd_xva_meta {
  bool legacy;                  /* <appliance version="0.1"> */
  char *vm_name;
  struct xd_xva_vdi *vdis;
  size_t n, cap;
};

/* Parse ova.xml (LEN bytes of BUF, from FILE).  0, or -1 after
 * reporting an error (errno EIO).
 */
extern int xd_xva_parse_meta (const char *buf, size_t len, const char *file,
                              struct xd_xva_meta *meta);
extern void xd_xva_meta_free (struct xd_xva_meta *meta);

extern const struct xd_format xd_format_xva;

#endif /* XDISK_XVA_H */
