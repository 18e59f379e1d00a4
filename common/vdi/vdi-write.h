/* xdisk: the VDI write side (vdi-write.c, vdi-create.c, vdi-format.c).
 *
 * The reader (vdi-read.c) never includes this header: a writer is
 * attached to an image the reader opened, and reaches the read path
 * only through the reader's own block map (struct vdi_layer).
 */
#ifndef XDISK_VDI_WRITE_H
#define XDISK_VDI_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "vdi/vdi.h"

struct xd_create_opts;

/* vdi-write.c: make the top image L (opened by the reader) writable:
 * keep its whole block map, find the slots in use, choose the next slot
 * and the counter.  An image whose map is too large to keep stays
 * read-only (vdi_can_write says why).  0 or -1 reported.
 */
extern int vdi_write_attach (struct vdi_layer *l);
/* Flush what a client left unflushed, then release the writer; the
 * reader may then close L.
 */
extern void vdi_write_detach (struct vdi_layer *l);

/* The write operations of xd_format_vdi. */
extern bool vdi_can_write (void *h, const char **why);
extern int vdi_pwrite (void *h, const void *buf, uint32_t count,
                       uint64_t offset);
extern int vdi_zero (void *h, uint32_t count, uint64_t offset, bool may_trim,
                     bool fast);
extern int vdi_trim (void *h, uint32_t count, uint64_t offset);
extern int vdi_flush (void *h);
extern int vdi_finish (void *h);
extern int vdi_check (void *h);

/* vdi-format.c: xd_format_vdi's open: the reader's, then the writer
 * attached when OPTS->writable.
 */
extern void *vdi_format_open (struct xd_io *io, const struct xd_resolver *res,
                              const struct xd_open_opts *opts);

/* vdi-create.c: xd_format.create. */
extern void *vdi_create (struct xd_io *io, const struct xd_resolver *res,
                         const struct xd_create_opts *copts,
                         const struct xd_open_opts *opts);

#endif /* XDISK_VDI_WRITE_H */
