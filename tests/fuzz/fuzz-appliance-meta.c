/* xdisk fuzz target: the appliance metadata readers: the XML reader
 * (common/xml.c) and on top of it the OVF descriptor (References, Disk
 * capacities and units, names), OVA manifests, and XVA ova.xml (the
 * XML-RPC objects and the legacy appliance form).
 *
 * The input is the text; every reader sees all of it.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "appliance/ova.h"
#include "archive/xd-xml.h"
#include "appliance/xva.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  struct xd_ovf ovf;
  struct xd_mf mf;
  struct xd_xva_meta meta;
  unsigned long before;
  uint64_t bytes;
  size_t i;
  int r;

  fz_init ();
  before = fz_begin ();
  r = xd_ovf_parse (text, size, "fuzz.ovf", &ovf);
  fz_check_failure (r, before, "xd_ovf_parse");
  if (r == 0) {
    for (i = 0; i < ovf.ndisks; i++)
      if (ovf.disks[i].file &&
          (ovf.disks[i].file < ovf.files ||
           ovf.disks[i].file >= ovf.files + ovf.nfiles))
        fz_fail ("disk %zu points outside the file list", i);
    xd_ovf_free (&ovf);
  }
  if (xd_mf_parse (text, size, "fuzz.mf", &mf) == 0) {
    for (i = 0; i < mf.n; i++)
      if (strlen (mf.entries[i].hex) != xd_digest_hex_len (mf.entries[i].alg))
        fz_fail ("manifest digest of the wrong length");
    xd_mf_free (&mf);
  }
  before = fz_begin ();
  r = xd_xva_parse_meta (text, size, "ova.xml", &meta);
  fz_check_failure (r, before, "xd_xva_parse_meta");
  if (r == 0)
    xd_xva_meta_free (&meta);
  /* Capacity units: the first line as "CAP UNITS". */
  if (size < 256) {
    char buf[256], *sp;
    memcpy (buf, data, size);
    buf[size] = '\0';
    sp = strchr (buf, ' ');
    if (sp)
      *sp++ = '\0';
    (void) xd_ovf_capacity (buf, sp, &bytes);
  }
  return 0;
}
