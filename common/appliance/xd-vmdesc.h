/* xdisk: the virtual machine an appliance being created describes.
 *
 * OVA and XVA creation take the same parameters (create-name=,
 * create-cpus=, create-memory=, create-firmware=, create-os=,
 * create-nic=, create-network=, create-disk-bus=, create-hwversion=),
 * with defaults that make a bootable BIOS machine on every importer
 * (../shared/docs/appliance-targets.md).  xd_vmdesc_init checks them
 * once and resolves each to what both writers need; each writer then
 * spells it its own way (OVF ResourceType items, XenServer records).
 */
#ifndef XDISK_VMDESC_H
#define XDISK_VMDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"

enum xd_firmware { XD_FIRMWARE_BIOS, XD_FIRMWARE_EFI };
enum xd_nic { XD_NIC_NONE, XD_NIC_E1000, XD_NIC_E1000E, XD_NIC_VMXNET3 };
enum xd_disk_bus { XD_BUS_SCSI, XD_BUS_SATA, XD_BUS_IDE };
enum xd_manifest { XD_MANIFEST_SHA256, XD_MANIFEST_SHA1, XD_MANIFEST_NONE };
enum xd_chunk_sum { XD_CHUNK_SHA1, XD_CHUNK_XXHASH };

/* The disks of an appliance are stored one after another and written
 * in order.  A write to a disk while the one before it, already
 * written to, is not yet finished waits this long for it: nbdkit may
 * serve a new client before it has run the close of the client that
 * wrote the disk before (which finishes it).  Past it, the write is
 * refused.  Generous, so that no load makes a sequential copy fail.
 */
#define XD_APPLIANCE_TURN_SECONDS 30

/* A guest OS create-os= knows, with each product's id for it. */
struct xd_guest_os {
  const char *name;             /* create-os= spelling: "debian12-64" */
  unsigned cim_id;              /* OVF OperatingSystemSection ovf:id */
  const char *vmw_os_type;      /* OVF vmw:osType: "debian12_64Guest" */
  const char *xen_template;     /* XenServer base_template_name */
  bool windows;                 /* viridian, and Windows' XenServer
                                 * platform flags */
};

/* The guest OS create-os= calls NAME, or NULL. */
extern const struct xd_guest_os *xd_guest_os_by_name (const char *name);
/* The names create-os= accepts, comma-separated, for messages. */
extern const char *xd_guest_os_names (void);

struct xd_vmdesc {
  char *name;                   /* default: file name without extension */
  unsigned cpus;                /* default 1 */
  uint64_t memory;              /* bytes, a whole MiB; default 1 GiB */
  enum xd_firmware firmware;    /* default BIOS */
  const struct xd_guest_os *os; /* default other64 */
  enum xd_nic nic;              /* default E1000 (the portable one) */
  char *network;                /* default "VM Network" */
  enum xd_disk_bus bus;         /* default SCSI (lsilogic) */
  unsigned hwversion;           /* the NN of vmx-NN (7..22); default 13 */
  enum xd_manifest manifest;    /* OVA; default SHA-256 */
  enum xd_chunk_sum checksum;   /* XVA; default SHA-1 (every xapi) */
  char *ovf_template;           /* create-ovf=: path, or NULL */
  uint64_t *sizes;              /* one per disk, bytes, each rounded up
                                 * to a whole MiB (vmdesc.c says why) */
  size_t nr_disks;              /* 0 with create-ovf= and no
                                 * create-size=: the template's sizes */
};

/* Check COPTS's machine parameters and sizes, and fill DESC with them
 * and the defaults.  PATH is the appliance's file (its base name
 * without extension is the default name).  KIND ("OVA", "XVA") names
 * the appliance in messages; parameters that do not apply to it
 * (create-manifest= for XVA, create-checksum= for OVA) are refused.
 * 0, or -1 after reporting which parameter was wrong and what it
 * accepts.
 */
extern int xd_vmdesc_init (struct xd_vmdesc *desc,
                           const struct xd_create_opts *copts,
                           const char *path, const char *kind);
extern void xd_vmdesc_free (struct xd_vmdesc *desc);

#endif /* XDISK_VMDESC_H */
