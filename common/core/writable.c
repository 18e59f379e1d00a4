/* xdisk: every format as the table a plugin serves, and from a format's
 * reader to the table that composes it with its writer (see
 * xd-format.h).  On the write side: linking it links every writer.
 */

#include <config.h>

#include <stddef.h>
#include <string.h>

#include "core/xd-format.h"

extern const struct xd_format xd_format_vmdk;
extern const struct xd_format xd_format_vhd;
extern const struct xd_format xd_format_vhdx;
extern const struct xd_format xd_format_vdi;
extern const struct xd_format xd_format_qcow2;
extern const struct xd_format xd_format_ova;
extern const struct xd_format xd_format_xva;
extern const struct xd_format xd_format_vmx;
extern const struct xd_format xd_format_vbox;
extern const struct xd_format xd_format_ovf;

/* The registry's order (registry.c), each writable format composed. */
const struct xd_format *const xd_formats_served[] = {
  &xd_format_ova,
  &xd_format_xva,
  &xd_format_vhdx,
  &xd_format_qcow2,
  &xd_format_vhd,
  &xd_format_vdi,
  &xd_format_vbox,
  &xd_format_ovf,
  &xd_format_vmx,
  &xd_format_vmdk,
  &xd_format_raw,
  NULL,
};

const struct xd_format *
xd_format_writable (const struct xd_format *format)
{
  size_t i;

  for (i = 0; format && xd_formats_served[i]; i++)
    if (strcmp (xd_formats_served[i]->name, format->name) == 0)
      return xd_formats_served[i];
  return format;
}

bool
xd_vm_params_given (const struct xd_vm_params *vm)
{
  return vm->name || vm->cpus || vm->memory || vm->firmware || vm->os ||
         vm->nic || vm->network || vm->disk_bus || vm->manifest ||
         vm->checksum || vm->ovf;
}
