/* xdisk fuzz target: the VMware .vmx parser and disk finder
 * (common/vm/vmx-parse.c).
 *
 * The input is .vmx text.  Every failure must be reported; what is
 * accepted must hold the promises of vmx.h: disks in bus, N, M order,
 * well-formed device keys, fileNames ending in .vmdk, bounded counts.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "vm/vmx.h"

static void
check_disks (const struct vmx_disk_ref *d, size_t n)
{
  size_t i;
  char key[VMX_DISK_KEY_MAX];
  static const char *const buses[] = { "scsi", "ide", "sata", "nvme" };

  if (n > VMX_MAX_DISKS)
    fz_fail ("%zu disks", n);
  for (i = 0; i < n; i++) {
    size_t len = strlen (d[i].file);

    if (d[i].bus > 3 || d[i].controller > VMX_MAX_UNIT ||
        d[i].unit > VMX_MAX_UNIT)
      fz_fail ("disk %zu: bus %u, %u:%u", i, d[i].bus, d[i].controller,
               d[i].unit);
    snprintf (key, sizeof key, "%s%u:%u", buses[d[i].bus], d[i].controller,
              d[i].unit);
    if (strcmp (key, d[i].key) != 0)
      fz_fail ("disk %zu: key %s, expected %s", i, d[i].key, key);
    if (len < 6 || strcasecmp (d[i].file + len - 5, ".vmdk") != 0)
      fz_fail ("disk %zu: file \"%s\" is not a .vmdk", i, d[i].file);
    if (i > 0 && (d[i - 1].bus > d[i].bus ||
                  (d[i - 1].bus == d[i].bus &&
                   (d[i - 1].controller > d[i].controller ||
                    (d[i - 1].controller == d[i].controller &&
                     d[i - 1].unit >= d[i].unit)))))
      fz_fail ("disks %zu and %zu out of order or repeated", i - 1, i);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vmx_config cfg;
  struct vmx_disk_ref *disks;
  unsigned long before;
  size_t n;
  int r;

  fz_init ();
  (void) vmx_looks_like (data, size);
  before = fz_begin ();
  r = vmx_parse ((const char *) data, size, "fuzz.vmx", &cfg);
  fz_check_failure (r, before, "vmx_parse");
  if (r == -1)
    return 0;
  if (cfg.len > VMX_MAX_ENTRIES)
    fz_fail ("%zu entries", cfg.len);
  before = fz_begin ();
  r = vmx_find_disks (&cfg, "fuzz.vmx", &disks, &n);
  fz_check_failure (r, before, "vmx_find_disks");
  if (r == 0) {
    check_disks (disks, n);
    free (disks);
  }
  vmx_config_free (&cfg);
  return 0;
}
