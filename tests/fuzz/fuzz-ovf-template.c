/* xdisk fuzz target: the create-ovf= template reader and filler
 * (common/appliance/ovf-template.c).
 *
 * The input is the template.  One that parses is filled twice, with
 * small numbers and with every number at UINT64_MAX: the second must be
 * at least as long (the OVA writer reserves the descriptor's room so),
 * and the first must parse again as a template with the same disks and
 * the capacities written (and, where the OVF reader reads it, each
 * Disk linked to its File).
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "appliance/ova.h"
#include "appliance/xd-ovf-write.h"

#define MAX_DISKS 64

/* The strict oracle is the template reader itself: the project's OVF
 * reader strips prefixes, so a template with, say, a vendor's own
 * References element elsewhere reads differently there, rightly.
 */
static void
check_readback (const char *out, size_t len, size_t nr)
{
  struct xd_ovf_template *again;
  struct xd_ovf ovf;
  size_t i;

  again = xd_ovf_template_parse (out, len, "filled.ovf");
  if (again == NULL)
    fz_fail ("a filled template is no template");
  if (xd_ovf_template_disks (again) != nr)
    fz_fail ("a filled template has %zu disks, not %zu",
             xd_ovf_template_disks (again), nr);
  for (i = 0; i < nr; i++)
    if (xd_ovf_template_capacity (again, i) != (i + 1) << 20)
      fz_fail ("filled: disk %zu has not the capacity written", i);
  xd_ovf_template_free (again);
  if (xd_ovf_parse (out, len, "filled.ovf", &ovf) == 0) {
    if (ovf.nfiles == nr && ovf.ndisks == nr)
      for (i = 0; i < nr; i++)
        if (ovf.disks[i].file != &ovf.files[i])
          fz_fail ("filled: disk %zu not linked to its file", i);
    xd_ovf_free (&ovf);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct xd_ovf_disk_out disks[MAX_DISKS];
  static char hrefs[MAX_DISKS][32];
  struct xd_ovf_template *t;
  unsigned long before;
  char *small, *big;
  size_t nr, i, small_len, big_len;

  fz_init ();
  before = fz_begin ();
  t = xd_ovf_template_parse ((const char *) data, size, "fuzz.ovf");
  fz_check_failure (t ? 0 : -1, before, "xd_ovf_template_parse");
  if (t == NULL)
    return 0;
  nr = xd_ovf_template_disks (t);
  if (nr == 0)
    fz_fail ("a template without disks was accepted");
  if (nr > MAX_DISKS) {
    xd_ovf_template_free (t);
    return 0;
  }
  for (i = 0; i < nr; i++) {
    snprintf (hrefs[i], sizeof hrefs[i], "disk%zu.vmdk", i + 1);
    disks[i] = (struct xd_ovf_disk_out) {
      .href = hrefs[i], .capacity = (i + 1) << 20, .file_size = 512 * i,
      .populated = i,
    };
  }
  if (xd_ovf_template_render (t, disks, nr, &small, &small_len) == -1)
    fz_fail ("a parsed template does not render");
  for (i = 0; i < nr; i++)
    disks[i].capacity = disks[i].file_size = disks[i].populated =
      UINT64_MAX;
  if (xd_ovf_template_render (t, disks, nr, &big, &big_len) == -1)
    fz_fail ("a parsed template does not render at the most");
  if (big_len < small_len)
    fz_fail ("the UINT64_MAX rendering (%zu) is shorter than another (%zu)",
             big_len, small_len);
  check_readback (small, small_len, nr);
  free (small);
  free (big);
  xd_ovf_template_free (t);
  return 0;
}
