/* xdisk: OVA appliances (an OVF descriptor and its disks in a tar).
 *
 * The parsers are here for the format driver (ova.c), the unit tests
 * and the fuzzers.
 */
#ifndef XDISK_OVA_H
#define XDISK_OVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-digest.h"
#include "core/xd-format.h"

/* Largest OVF descriptor or manifest read. */
#define XD_OVF_MAX_SIZE (UINT64_C (16) << 20)

struct xd_ovf_file {
  char *id;                     /* ovf:id */
  char *href;                   /* ovf:href: the member name */
  uint64_t size;                /* ovf:size, if has_size */
  bool has_size;
  bool gzip;                    /* ovf:compression="gzip" */
  uint64_t chunk_size;          /* ovf:chunkSize, 0 if none */
};

struct xd_ovf_disk {
  char *disk_id;                /* ovf:diskId */
  char *file_ref;               /* ovf:fileRef */
  uint64_t capacity;            /* bytes, if has_capacity */
  bool has_capacity;
  const struct xd_ovf_file *file;       /* NULL if fileRef names none */
};

struct xd_ovf {
  struct xd_ovf_file *files;
  size_t nfiles, files_cap;
  struct xd_ovf_disk *disks;
  size_t ndisks, disks_cap;
  char *vm_id, *vm_name;        /* VirtualSystem ovf:id and Name */
  char *product, *vendor;       /* ProductSection */
};

/* Parse an OVF descriptor (LEN bytes of BUF, from FILE).  0, or -1
 * after reporting an error (errno EIO).  Free with xd_ovf_free.
 */
extern int xd_ovf_parse (const char *buf, size_t len, const char *file,
                         struct xd_ovf *ovf);
extern void xd_ovf_free (struct xd_ovf *ovf);

/* The disk ASKED names (disk=: an index counted from 0, an href or a
 * diskId; NULL: the first) among OVF's disks, in *CHOSEN.  NAME and
 * KIND ("OVA", "OVF") are for the errors, which list the disks.  0, or
 * -1 after reporting.
 */
extern int xd_ovf_choose_disk (const char *name, const char *kind,
                               const struct xd_ovf *ovf, const char *asked,
                               size_t *chosen);

/* Bytes in ovf:capacity CAP with units UNITS ("byte", "byte * 2^30",
 * "GigaBytes", NULL for bytes).  -1 if either is not understood or the
 * product overflows.
 */
extern int xd_ovf_capacity (const char *cap, const char *units,
                            uint64_t *bytes);

/* One line of a manifest: "SHA256(name)= hex" (ovftool) or
 * "SHA256 (name) = hex" (VirtualBox).
 */
struct xd_mf_entry {
  enum xd_digest_alg alg;
  char *name;
  char *hex;                    /* lowercase */
};

struct xd_mf {
  struct xd_mf_entry *entries;
  size_t n, cap;
};

/* Parse a manifest.  Lines that are not digests are skipped (debug);
 * trailing padding (spaces, NULs) is ignored.  -1 only on allocation
 * failure (reported).
 */
extern int xd_mf_parse (const char *buf, size_t len, const char *file,
                        struct xd_mf *mf);
extern void xd_mf_free (struct xd_mf *mf);
extern const struct xd_mf_entry *xd_mf_find (const struct xd_mf *mf,
                                             const char *name);

/* -1 after reporting if IO is an appliance of KIND ("OVA", "XVA")
 * whose creation by xdisk never finished, else 0.
 */
extern int xd_appliance_refuse_unfinished (struct xd_io *io,
                                           const char *kind);

/* disk= and verify=, for the OVA and XVA formats. */
extern int xd_appliance_config (struct xd_open_opts *opts, const char *key,
                                const char *value);

/* The OVA reader's operations, and the fields of a format table that
 * name them: xd_reader_ova (the registry's) and xd_format_ova (the
 * plugins', composed with the OVA writer in ova-format.c) share them.
 */
extern bool ova_probe (struct xd_io *io, const uint8_t *head, size_t len);
extern void *ova_open (struct xd_io *io, const struct xd_resolver *res,
                       const struct xd_open_opts *opts);
extern void ova_close (void *h);
extern uint64_t ova_size (void *h);
extern uint32_t ova_preferred_block (void *h);
extern int ova_pread (void *h, void *buf, uint32_t count, uint64_t offset);
extern int ova_extents (void *h, uint32_t count, uint64_t offset,
                        bool req_one, xd_extent_fn add, void *opaque);
extern char *ova_describe (void *h);

#define XD_APPLIANCE_HELP \
  "\ndisk=N|NAME        OVA/XVA: the disk to serve (default: the first).\n" \
  "verify=true        OVA/XVA: check the manifest digests or checksums."

#define OVA_READ_FIELDS \
  .name = "ova",                                \
  .display = "OVA",                             \
  .plugin = "diskx",                            \
  .probe = ova_probe,                           \
  .config = xd_appliance_config,                \
  .config_help = XD_APPLIANCE_HELP,             \
  .open = ova_open,                             \
  .close = ova_close,                           \
  .size = ova_size,                             \
  .preferred_block = ova_preferred_block,       \
  .pread = ova_pread,                           \
  .extents = ova_extents,                       \
  .describe = ova_describe

extern const struct xd_format xd_reader_ova;

#endif /* XDISK_OVA_H */
