/* xdisk: make a seed image for the write-path fuzz targets with the
 * format's own create op, and give it some data.
 *
 *   fuzz-mkimage FORMAT TYPE SIZE BLOCK-SIZE OUT [PARENT]
 *
 * FORMAT is a registry name (vmdk, vhd, vhdx, vdi), TYPE a create-type=
 * value, SIZE and BLOCK-SIZE in bytes (0: the default), PARENT makes a
 * differencing child.  A few ranges (the start, the middle, the last
 * sectors) are written with a pattern, so that the seed has allocated
 * blocks and filled tables for the fuzzer to mutate.
 */

#include <config.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xd-format.h"
#include "core/xd-path.h"

static int
write_pattern (struct xd_image *img)
{
  static unsigned char buf[8 * 1024];
  uint64_t size = xd_image_size (img), at[3];
  size_t i;

  for (i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char) (i * 13 + (i >> 9) + 1);
  at[0] = 0;
  at[1] = size / 2 / 512 * 512;
  at[2] = size > 4096 ? size - 4096 : 0;
  for (i = 0; i < 3; i++) {
    uint32_t n = size - at[i] < sizeof buf ? size - at[i] : sizeof buf;
    if (xd_image_write (img, buf, n, at[i]) == -1)
      return -1;
  }
  return xd_image_flush (img);
}

int
main (int argc, char *argv[])
{
  struct xd_create_opts copts = { 0 };
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  const struct xd_format *format;
  struct xd_path_policy policy;
  struct xd_resolver *res;
  struct xd_image *img;
  struct xd_io *io;
  char parent[PATH_MAX];
  int status = EXIT_FAILURE;

  if (argc != 6 && argc != 7) {
    fprintf (stderr, "usage: %s FORMAT TYPE SIZE BLOCK-SIZE OUT [PARENT]\n",
             argv[0]);
    return EXIT_FAILURE;
  }
  format = xd_format_writable (xd_format_by_name (argv[1]));
  if (format == NULL || format->create == NULL) {
    fprintf (stderr, "%s: %s: no such format that creates\n", argv[0],
             argv[1]);
    return EXIT_FAILURE;
  }
  copts.type = argv[2];
  copts.size = strtoull (argv[3], NULL, 0);
  copts.block_size = (uint32_t) strtoul (argv[4], NULL, 0);
  copts.path = argv[5];
  if (argc == 7) {
    if (realpath (argv[6], parent) == NULL) {
      perror (argv[6]);
      return EXIT_FAILURE;
    }
    copts.parent = parent;
  }
  io = xd_io_create_file (argv[5], true);
  if (io == NULL)
    return EXIT_FAILURE;
  if (xd_path_policy_init (&policy, argv[5], NULL) == -1)
    return EXIT_FAILURE;
  res = xd_resolver_new_dir (&policy);
  if (res == NULL)
    return EXIT_FAILURE;
  img = xd_image_create (io, res, &copts, &opts, format);
  if (img) {
    if (write_pattern (img) == 0)
      status = EXIT_SUCCESS;
    xd_image_close (img);
  }
  xd_resolver_free (res);
  xd_path_policy_free (&policy);
  return status;
}
