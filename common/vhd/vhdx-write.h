/* xdisk vhdx: writing into VHDX images and creating them (nbdkit-free).
 *
 * A writable top VHDX layer gets a vhdx_writer.  Payload data is written
 * in place or into new blocks at the end of the file (1 MiB aligned);
 * every metadata change (BAT entries, sector bitmaps) goes through the
 * VHDX log: data flushed, then the log entry flushed, then the change
 * applied in place.  Headers alternate by sequence number.
 */
#ifndef XDISK_VHDX_WRITE_H
#define XDISK_VHDX_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "vhd/vhd-read.h"
#include "vhd/vhdx.h"
#include "core/xd-format.h"

/* Give the top layer of DISK (a VHDX opened writable) a writer.  Does
 * not touch the file.  0, or -1 after reporting.
 */
extern int vhdx_writer_attach (struct vd_disk *disk);
extern void vhdx_writer_free (struct vhdx_writer *w);

/* The BAT entry INDEX as the writer holds it: false if the writer has
 * not loaded that BAT page (then the file has it).
 */
extern bool vhdx_writer_bat_lookup (struct vhdx_writer *w, uint64_t index,
                                    uint64_t *entry);

extern bool vhdx_can_write (struct vd_disk *disk, const char **why);
extern int vhdx_pwrite (struct vd_disk *disk, const void *buf,
                        uint32_t count, uint64_t offset);
extern int vhdx_zero (struct vd_disk *disk, uint32_t count, uint64_t offset,
                      bool may_trim, bool fast);
extern int vhdx_trim (struct vd_disk *disk, uint32_t count,
                      uint64_t offset);
/* Make every write durable and leave the log empty (LogGuid zero). */
extern int vhdx_flush (struct vd_disk *disk);

/* Verify the structure of the top layer: headers, region tables, BAT
 * states and offsets (inside the file, 1 MiB aligned, no overlaps), the
 * log.  0, or -1 after reporting every problem.
 */
extern int vhdx_check (struct vd_disk *disk);

/* Create a VHDX in IO (see xd_format.create) and open it writable. */
extern struct vd_disk *vhdx_create (struct xd_io *io,
                                    const struct xd_resolver *res,
                                    const struct xd_create_opts *copts,
                                    const struct xd_open_opts *opts);

/* ---- shared by the writer and the creator ---- */

/* The 4 KiB header H (signature, CRC-32C, version 1) into BUF. */
extern void vhdx_build_header (uint8_t *buf, const struct vhdx_header *h);

#endif /* XDISK_VHDX_WRITE_H */
