/* xdisk fuzz target: VDI metadata: the pre-header and header of every
 * version, the block map and read path over an xd_io in memory (a lone
 * stream: a differencing image's parent cannot be searched for), UUID
 * text, and the .vbox media registry scanner (the input read as text).
 *
 * The input is a VDI file, or a bundle (fuzz.h) whose first file is one.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vdi/vdi.h"
#include "core/xd-format.h"
#include "core/xd-guid.h"

extern const struct xd_format xd_format_vdi;

static void
uuid_round_trip (const uint8_t u[16])
{
  char text[37];
  uint8_t back[16];

  xd_guid_format (u, text);
  if (xd_guid_parse (text, back) == -1 || memcmp (u, back, 16) != 0)
    fz_fail ("UUID %s does not parse back to itself", text);
}

static void
header (struct xd_io *io)
{
  unsigned long before = fz_begin ();
  struct vdi_header h;
  int r = vdi_read_header (io, &h);

  fz_check_failure (r, before, "vdi_read_header");
  if (r == -1)
    return;
  if (vdi_blocks_in_use (&h) > h.blocks ||
      (uint64_t) h.block_size * h.blocks < h.disk_size ||
      h.data_offset < h.blocks_offset + (uint64_t) h.blocks * 4)
    fz_fail ("vdi_read_header accepted an inconsistent header");
  uuid_round_trip (h.uuid_create);
  uuid_round_trip (h.uuid_linkage);
  vdi_type_name (h.type);
}

static void
serve (struct xd_io *io, size_t size)
{
  struct xd_open_opts opts = { .cache_bytes = (size & 1) ? 64 * 1024
                                                         : 1 << 20,
                               .ignore_parent_mismatch = (size / 2) & 1 };
  struct xd_resolver *res = xd_resolver_new_stream ("the fuzz input");
  unsigned long before;
  struct xd_image *img;

  if (res == NULL)
    fz_fail ("xd_resolver_new_stream");
  before = fz_begin ();
  img = xd_image_open (io, res, &opts, &xd_format_vdi);
  fz_check_failure (img ? 0 : -1, before, "xd_image_open");
  if (img)
    fz_exercise_image (img);
  xd_resolver_free (res);
}

/* The input as the text of a .vbox file, looked up with a UUID taken
 * from the input too, so that matches happen.
 */
static void
vbox_text (const uint8_t *data, size_t size)
{
  char *text = malloc (size + 1), *loc;
  uint8_t uuid[16] = { 0 };
  const char *u;

  if (text == NULL)
    return;
  memcpy (text, data, size);
  text[size] = '\0';
  u = strstr (text, "uuid=\"");
  if (u)
    xd_guid_parse (u + 6, uuid);
  loc = vdi_vbox_location (text, uuid);
  free (loc);
  free (text);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_bundle b;
  struct xd_io *io;

  fz_init ();
  vbox_text (data, size);
  fz_bundle_parse (data, size, "fuzz.vdi", &b);
  io = fz_io_open (&b.files[0]);
  header (io);
  serve (io, size);             /* takes IO */
  fz_bundle_free (&b);
  return 0;
}
