/* xdisk: the qcow2 format (a read-only one: its table is the reader's).
 *
 * Recognising a qcow2 file, the plugin's parameters and what --dump-plugin
 * says live here; reading the image lives in qcow2-read.c.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "include/xd-bytes.h"
#include "core/xd-format.h"
#include "include/xd-report.h"

static bool
qcow2_probe (struct xd_io *io XD_UNUSED, const uint8_t *head, size_t len)
{
  return len >= 8 && xd_be32 (head) == QCOW2_MAGIC;
}

static int
qcow2_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  if (strcmp (key, "snapshot") == 0) {
    if (*value == '\0') {
      xd_error ("snapshot: empty snapshot name or id");
      errno = EINVAL;
      return -1;
    }
    opts->snapshot = value;
    return 0;
  }
  return 1;
}

static void
qcow2_dump (const char *prefix)
{
  printf ("%sversions=2,3\n", prefix);
  printf ("%scluster_sizes=512-2097152\n", prefix);
  printf ("%sextended_l2=yes\n", prefix);
  printf ("%sexternal_data_file=yes\n", prefix);
  printf ("%ssnapshots=yes\n", prefix);
  printf ("%scompression=zlib%s\n", prefix,
#ifdef HAVE_LIBZSTD
          ",zstd"
#else
          ""
#endif
          );
}

const struct xd_format xd_format_qcow2 = {
  .name = "qcow2",
  .display = "qcow2",
  .plugin = "qcow2x",
  .probe = qcow2_probe,
  .config = qcow2_config,
  .config_help =
    "snapshot=NAME|ID             Serve this internal snapshot.",
  .dump = qcow2_dump,
  .open = qcow2_open,
  .close = qcow2_close,
  .size = qcow2_size,
  .preferred_block = qcow2_preferred_block,
  .pread = qcow2_pread,
  .extents = qcow2_extents,
  .describe = qcow2_describe,
};
