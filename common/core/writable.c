/* xdisk: from a format's reader to the table that composes it with its
 * writer (see xd-format.h).  On the write side: linking it links every
 * writer.
 */

#include <config.h>

#include <stddef.h>
#include <string.h>

#include "core/xd-format.h"

extern const struct xd_format xd_format_vmdk;
extern const struct xd_format xd_format_vhd;
extern const struct xd_format xd_format_vhdx;
extern const struct xd_format xd_format_vdi;

static const struct xd_format *const composed[] = {
  &xd_format_vmdk, &xd_format_vhd, &xd_format_vhdx, &xd_format_vdi, NULL,
};

const struct xd_format *
xd_format_writable (const struct xd_format *format)
{
  size_t i;

  for (i = 0; format && composed[i]; i++)
    if (strcmp (composed[i]->name, format->name) == 0)
      return composed[i];
  return format;
}
