/* xdisk fuzz target: VHD metadata read through an xd_io: the footer at
 * the end and its copy at offset 0, the size rules, the dynamic header
 * and the parent locators it points to, and the GUID text conversions.
 * (The BAT is looked up by the read path: see fuzz-vhd-disk.)
 *
 * The input is a VHD file, or a bundle (fuzz.h) whose first file is one.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vhd/vhd.h"
#include "core/xd-guid.h"
#include "core/xd-text.h"

static void
guid_round_trip (const uint8_t g[16])
{
  char text[37];
  uint8_t back[16];

  xd_guid_format (g, text);
  if (xd_guid_parse (text, back) == -1 || memcmp (g, back, 16) != 0)
    fz_fail ("GUID %s does not parse back to itself", text);
}

static void
locators (struct xd_io *io, const struct vhd_dyn_header *h)
{
  size_t i;

  for (i = 0; i < VHD_NR_LOCATORS; i++) {
    const struct vhd_locator *l = &h->locators[i];
    unsigned long before;
    uint8_t *raw;
    char *name;

    if (l->data_length == 0 || l->data_length > 65536)
      continue;
    raw = malloc (l->data_length);
    if (raw == NULL)
      return;
    before = fz_begin ();
    if (xd_io_read (io, raw, l->data_length, l->data_offset,
                    "VHD parent locator") == 0) {
      name = xd_utf16le_to_utf8 (raw, l->data_length & ~1u);
      free (name);
      name = xd_strndup_field (raw, l->data_length);
      free (name);
    }
    else
      fz_check_failure (-1, before, "xd_io_read");
    free (raw);
  }
}

static void
footer (struct xd_io *io, uint64_t offset)
{
  uint8_t buf[VHD_FOOTER_SIZE];
  struct vhd_footer f;
  struct vhd_dyn_header h;
  unsigned long before;
  int r, mode;

  if (xd_io_read (io, buf, sizeof buf, offset, "VHD footer") == -1)
    return;
  if (vhd_parse_footer (buf, io->name, true, &f) == -1)
    return;
  before = fz_begin ();
  r = vhd_parse_footer (buf, io->name, false, &f);
  if (r == -1)
    fz_fail ("vhd_parse_footer: quiet and verbose disagree");
  for (mode = VHD_SIZE_AUTO; mode <= VHD_SIZE_GEOMETRY; mode++)
    vhd_disk_size (&f, mode, io->name);
  guid_round_trip (f.unique_id);
  if (f.disk_type == VHD_TYPE_FIXED)
    return;
  before = fz_begin ();
  r = vhd_read_dyn_header (io, f.data_offset, &h);
  fz_check_failure (r, before, "vhd_read_dyn_header");
  if (r == 0) {
    guid_round_trip (h.parent_uuid);
    locators (io, &h);
  }
}

/* Parse the start of the input as GUID text; what parses must format
 * back to the same GUID.
 */
static void
guid_text (const uint8_t *data, size_t size)
{
  char text[40];
  uint8_t g[16];

  size = size < sizeof text - 1 ? size : sizeof text - 1;
  memcpy (text, data, size);
  text[size] = '\0';
  if (xd_guid_parse (text, g) == 0)
    guid_round_trip (g);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_bundle b;
  struct xd_io *io;

  fz_init ();
  guid_text (data, size);
  fz_bundle_parse (data, size, "fuzz.vhd", &b);
  if (fz_want_fixed_checksums (size))
    fz_fix_checksums (&b);
  io = fz_io_open (&b.files[0]);
  if (io->size >= VHD_FOOTER_SIZE) {
    footer (io, io->size - VHD_FOOTER_SIZE);
    footer (io, 0);
  }
  xd_io_close (io);
  fz_bundle_free (&b);
  return 0;
}
