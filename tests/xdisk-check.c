/* xdisk-check: check the structure of an image with its format's check
 * op (the verifier the tests run after writes, and where qemu-img has
 * no check, as for VHD).
 *
 *   xdisk-check [-f FORMAT] FILE
 *
 * Exit status 0: no problem found; 1: problems (printed); 2: the image
 * does not open, or its format has no check.
 */

#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xd-format.h"
#include "core/xd-path.h"
#include "include/xd-report.h"

static void
print_error (const char *fmt, va_list ap)
{
  fprintf (stderr, "xdisk-check: ");
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
}

int
main (int argc, char **argv)
{
  const struct xd_format *format = NULL;
  struct xd_open_opts opts = { .cache_bytes = 32 << 20 };
  struct xd_path_policy policy;
  struct xd_resolver *res;
  struct xd_image *img;
  struct xd_io *io;
  char *path;
  int c, r;

  xd_set_reporters (print_error, NULL);
  while ((c = getopt (argc, argv, "f:")) != -1) {
    if (c != 'f' || (format = xd_format_by_name (optarg)) == NULL) {
      fprintf (stderr, "usage: xdisk-check [-f FORMAT] FILE\n");
      return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf (stderr, "usage: xdisk-check [-f FORMAT] FILE\n");
    return 2;
  }
  path = realpath (argv[optind], NULL);
  if (path == NULL) {
    perror (argv[optind]);
    return 2;
  }
  if (xd_path_policy_init (&policy, path, "true") == -1 ||
      (res = xd_resolver_new_dir (&policy)) == NULL ||
      (io = xd_io_open_file (path)) == NULL ||
      (format == NULL && (format = xd_detect (io)) == NULL) ||
      /* The check op is on the write side, with the writer. */
      (img = xd_image_open (io, res, &opts,
                            xd_format_writable (format))) == NULL)
    return 2;
  if (img->format->check == NULL) {
    fprintf (stderr, "xdisk-check: %s: no check for %s images\n", path,
             img->format->display);
    return 2;
  }
  r = img->format->check (img->h);
  if (r == 0)
    printf ("%s: %s: no problems found\n", path, img->format->display);
  xd_image_close (img);
  xd_resolver_free (res);
  xd_path_policy_free (&policy);
  free (path);
  return r == 0 ? 0 : 1;
}
