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
 * does not advance the disk position (see xva-index.c).
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
#include "appliance/ova.h"

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

/* The XVA reader's operations, and the fields of a format table that
 * name them: xd_reader_xva (the registry's) and xd_format_xva (the
 * plugins', composed with the XVA writer in xva-format.c) share them.
 */
extern bool xva_probe (struct xd_io *io, const uint8_t *head, size_t len);
extern void *xva_open (struct xd_io *io, const struct xd_resolver *res,
                       const struct xd_open_opts *opts);
extern void xva_close (void *h);
extern uint64_t xva_size (void *h);
extern uint32_t xva_preferred_block (void *h);
extern int xva_pread (void *h, void *buf, uint32_t count, uint64_t offset);
extern int xva_extents (void *h, uint32_t count, uint64_t offset,
                        bool req_one, xd_extent_fn add, void *opaque);
extern char *xva_describe (void *h);

#define XVA_READ_FIELDS \
  .name = "xva",                                \
  .display = "XVA",                             \
  .plugin = "xvax",                             \
  .probe = xva_probe,                           \
  .config = xd_appliance_config,                \
  .open = xva_open,                             \
  .close = xva_close,                           \
  .size = xva_size,                             \
  .preferred_block = xva_preferred_block,       \
  .pread = xva_pread,                           \
  .extents = xva_extents,                       \
  .describe = xva_describe

extern const struct xd_format xd_reader_xva;

#endif /* XDISK_XVA_H */
