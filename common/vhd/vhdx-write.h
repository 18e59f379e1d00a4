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

/* Give the top layer of DISK (a VHDX opened writable) a writer, which
 * installs its BAT pages as the layer's BAT override (the reader looks
 * there first).  Does not touch the file.  0, or -1 after reporting.
 */
extern int vhdx_writer_attach (struct vd_disk *disk);
/* Remove the override and release the writer, if DISK (or NULL) has
 * one: before vd_disk_close.  Does not touch the file (vhdx_flush does).
 */
extern void vhdx_writer_detach (struct vd_disk *disk);

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

/* ---- writing the log (vhdx-log-write.c) ---- */

/* If IO is the in-memory replay of vhdx_replay_log over a writable file,
 * write the replayed log into the file and flush: from then on IO reads
 * and writes the file itself.  0, or -1 after reporting.
 */
extern int vhdx_log_apply (struct xd_io *io);

/* One 4 KiB metadata sector to log: its file offset and contents. */
struct vhdx_log_sector {
  uint64_t file_offset;
  const uint8_t *data;
};

struct vhdx_log_entry {
  uint8_t log_guid[16];
  uint64_t sequence;            /* nonzero */
  uint32_t tail;                /* offset in the log of the oldest entry
                                 * still needed */
  uint64_t flushed_file_offset, last_file_offset;
};

/* A log entry (header, data descriptors, data sectors, CRC-32C) for the
 * N sectors SECS: malloc'd, *LEN bytes (a multiple of 4 KiB), or NULL
 * after reporting.
 */
extern uint8_t *vhdx_log_build_entry (const struct vhdx_log_entry *e,
                                      const struct vhdx_log_sector *secs,
                                      size_t n, uint32_t *len);

/* ---- shared by the writer and the creator ---- */

/* The 4 KiB header H (signature, CRC-32C, version 1) into BUF. */
extern void vhdx_build_header (uint8_t *buf, const struct vhdx_header *h);

#endif /* XDISK_VHDX_WRITE_H */
