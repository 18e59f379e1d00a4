/* xdisk: the OVF descriptor of an OVA being created.
 *
 * An OVF 1.x envelope every importer in ../shared/docs/appliance-targets.md
 * accepts (§2, checklist §7), rendered from the machine description
 * (xd-vmdesc.h) and the disks written; or a user's own OVF
 * (create-ovf=FILE) with its References and DiskSection filled in for
 * the disks xdisk writes.
 *
 * The OVA writer reserves the descriptor's room in the archive before
 * the disks are written and renders it last, when the member sizes are
 * known: the length of a rendering grows only with the digits of the
 * numbers in it, so rendering with every size at UINT64_MAX gives the
 * most room any final rendering needs.
 */
#ifndef XDISK_OVF_WRITE_H
#define XDISK_OVF_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "appliance/xd-vmdesc.h"

/* A disk of the OVA as the descriptor records it. */
struct xd_ovf_disk_out {
  const char *href;             /* the member's name: "app-disk1.vmdk" */
  uint64_t capacity;            /* virtual size, bytes */
  uint64_t file_size;           /* bytes of the member (File ovf:size) */
  uint64_t populated;           /* bytes of data (Disk ovf:populatedSize) */
};

/* Render the descriptor for DESC and its NR disks (NR = desc->nr_disks)
 * into *OUT (malloc'd, NUL-terminated; *LEN bytes without the NUL).
 * 0, or -1 after reporting.
 */
extern int xd_ovf_render (const struct xd_vmdesc *desc,
                          const struct xd_ovf_disk_out *disks, size_t nr,
                          char **out, size_t *len);

/* A user's OVF, given as create-ovf=FILE. */
struct xd_ovf_template;

/* Parse LEN bytes of BUF read from FILE: refused (reported, NULL) if it
 * is not an OVF 1.x envelope with exactly one VirtualSystem, or has no
 * DiskSection, or its disks cannot be matched to what xdisk writes
 * (every Disk must be named by a disk Item's HostResource), naming what
 * is missing.
 */
extern struct xd_ovf_template *xd_ovf_template_parse (const char *buf,
                                                      size_t len,
                                                      const char *file);
extern void xd_ovf_template_free (struct xd_ovf_template *t);

/* The number of disks the template's DiskSection declares, and disk
 * I's capacity in bytes (0 if it gives none): the sizes of the disks
 * when create-size= is not given.
 */
extern size_t xd_ovf_template_disks (const struct xd_ovf_template *t);
extern uint64_t xd_ovf_template_capacity (const struct xd_ovf_template *t,
                                          size_t i);

/* The template with its References (one File per disk, nothing else)
 * and its DiskSection's Disks (in order: their diskIds kept; fileRef,
 * capacity, capacityAllocationUnits, format and populatedSize set)
 * filled in for NR disks (NR = xd_ovf_template_disks), everything else
 * kept as the user wrote it.  Output as xd_ovf_render.
 */
extern int xd_ovf_template_render (const struct xd_ovf_template *t,
                                   const struct xd_ovf_disk_out *disks,
                                   size_t nr, char **out, size_t *len);

/* ---- shared by ovf-write.c and ovf-template.c ---- */

/* The disk format URI of a streamOptimized VMDK (§2.2). */
#define XD_OVF_STREAM_URI \
  "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"

/* The attributes of a Disk after its diskId (each with a leading
 * space, attribute names prefixed by PFX, "ovf:"): fileRef FILE_ID,
 * capacity and capacityAllocationUnits, format, populatedSize.
 */
extern void xd_ovf_put_disk_attrs (FILE *fp, const char *pfx,
                                   const char *file_id,
                                   const struct xd_ovf_disk_out *d);

/* A References/File element for D: <EPFX File PFX href=.. id=FILE_ID
 * size=../> (EPFX the element prefix, "" or "ovf:").
 */
extern void xd_ovf_put_file (FILE *fp, const char *epfx, const char *pfx,
                             const char *file_id,
                             const struct xd_ovf_disk_out *d);

/* Close FP, an open_memstream writing *OUT and *LEN: 0, or -1 after
 * reporting (*OUT freed and NULL).
 */
extern int xd_ovf_close_output (FILE *fp, char **out, size_t *len);

#endif /* XDISK_OVF_WRITE_H */
