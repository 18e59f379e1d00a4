/* xdisk: the VDI format, composed of the reader and the writer.
 *
 * xd_format_vdi reads through the reader's own operations (the fields
 * VDI_READ_FIELDS names) and writes through vdi-write.c's.  Opening
 * opens the image with the reader and, for a writable open, attaches
 * the writer to its top image; closing releases the writer (flushing
 * what a client left unflushed) before the reader closes the chain.
 */

#include <config.h>

#include <stddef.h>

#include "vdi/vdi-write.h"
#include "core/xd-format.h"

void *
vdi_format_open (struct xd_io *io, const struct xd_resolver *res,
                 const struct xd_open_opts *opts)
{
  struct vdi_layer *l = vdi_layer_open (io, res, opts);

  if (l && opts->writable && vdi_write_attach (l) == -1) {
    vdi_layer_free (l);
    return NULL;
  }
  return l;
}

static void
vdi_format_close (void *h)
{
  vdi_write_detach (h);
  vdi_layer_free (h);
}

const struct xd_format xd_format_vdi = {
  VDI_READ_FIELDS,
  .open = vdi_format_open,
  .close = vdi_format_close,
  .can_write = vdi_can_write,
  .pwrite = vdi_pwrite,
  .zero = vdi_zero,
  .trim = vdi_trim,
  .flush = vdi_flush,
  .create = vdi_create,
  .finish = vdi_finish,
  .check = vdi_check,
  .create_types = "dynamic (default), static (or fixed); create-parent= "
  "makes a differencing image",
};
