/* xdisk: create=true and the create-* parameters of the plugins (the
 * same names as nbdkit's vddk plugin), and choosing the format of a new
 * file, which has no content to detect.
 */
#ifndef XDISK_GLUE_CREATE_H
#define XDISK_GLUE_CREATE_H

#include <stdbool.h>

#include "core/xd-format.h"
#include "core/xd-path.h"

/* 0 if KEY is a create parameter (taken), 1 if not, -1 on a bad value
 * (reported).
 */
extern int xd_glue_config_create (const char *key, const char *value);

/* True once create=true was given. */
extern bool xd_glue_creating (void);

/* Check the create parameters once all are known: 0 or -1 reported. */
extern int xd_glue_create_complete (void);

/* The real path FILE will have once created (its directory must exist):
 * malloc'd, or NULL after reporting.
 */
extern char *xd_glue_create_path (const char *file);

/* Create the file PATH and, in it, an image of the format chosen
 * (format= / create-format=, else the file name's extension, else the
 * plugin's only creatable format).  POLICY is set up here for PATH
 * (with create-parent='s directory allowed) and RES is made from it;
 * both are the caller's to free, also on failure.  On failure the file
 * is removed unless it existed before.  NULL after reporting.
 */
extern struct xd_image *xd_glue_create_image (const char *path,
                                              const char *allow_external,
                                              struct xd_path_policy *policy,
                                              struct xd_resolver **res);

extern void xd_glue_create_free (void);

#define XD_GLUE_CREATE_HELP \
  "create=true         Create FILE (see the man page for what each\n" \
  "                    format and product needs).\n" \
  "create-size=SIZE[,SIZE...]  Virtual size of the new disk (one per disk\n" \
  "                    of an appliance).\n" \
  "create-type=TYPE    Kind of image (e.g. dynamic, fixed).\n" \
  "create-format=FMT   Format of the new file (default: by its extension).\n" \
  "create-block-size=SIZE  Block or grain size (VHD, VHDX, VDI).\n" \
  "create-sector-size=512|4096  Logical sector size (VHDX).\n" \
  "create-adapter-type=ADAPTER  Adapter recorded in a VMDK descriptor.\n" \
  "create-hwversion=VERSION  VMware hardware version of a VMDK or OVA.\n" \
  "create-parent=FILE  Create a differencing child of FILE.\n" \
  "create-overwrite=true  Replace FILE if it exists.\n" \
  "create-name=NAME create-cpus=N create-memory=SIZE create-firmware=bios|efi\n" \
  "create-os=OS create-nic=none|e1000|e1000e|vmxnet3 create-network=NAME\n" \
  "create-disk-bus=scsi|sata|ide  The machine an appliance (OVA, XVA)\n" \
  "                    describes.\n" \
  "create-manifest=sha256|sha1|none  OVA: the manifest's digests.\n" \
  "create-ovf=FILE     OVA: start from this OVF descriptor.\n" \
  "create-checksum=sha1|xxhash  XVA: the chunks' checksums.\n"

#endif /* XDISK_GLUE_CREATE_H */
