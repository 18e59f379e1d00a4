/* xdisk tests: the VHD structure check (qemu-img check has none for
 * VHD), run on the images the tests create and write.
 *
 *   vhd-check [-v] FILE...
 *
 * Opens each FILE as a VHD (its parents through the directory resolver,
 * external files allowed) and runs the format's check: exit status 0 if
 * every file is sound, 1 after printing the problems.  -v prints the
 * debug messages too.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd-format.h"
#include "xd-io.h"
#include "xd-path.h"
#include "xd-report.h"

extern const struct xd_format xd_format_vhd;

static void
to_stderr (const char *fmt, va_list args)
{
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
}

static int
check_file (const char *path)
{
  struct xd_path_policy policy;
  struct xd_resolver *res = NULL;
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  struct xd_io *io;
  void *h = NULL;
  int r = -1;

  if (xd_path_policy_init (&policy, path, "true") == -1)
    return -1;
  res = xd_resolver_new_dir (&policy);
  io = res ? xd_io_open_file (path) : NULL;
  if (io)
    h = xd_format_vhd.open (io, res, &opts);
  if (h) {
    r = xd_format_vhd.check (h);
    xd_format_vhd.close (h);
  }
  xd_resolver_free (res);
  xd_path_policy_free (&policy);
  return r;
}

int
main (int argc, char *argv[])
{
  int i = 1, status = 0;

  if (argc > 1 && strcmp (argv[1], "-v") == 0) {
    xd_set_reporters (to_stderr, to_stderr);
    i++;
  }
  if (i >= argc) {
    fprintf (stderr, "usage: vhd-check [-v] FILE...\n");
    return 2;
  }
  for (; i < argc; i++)
    if (check_file (argv[i]) == -1) {
      fprintf (stderr, "vhd-check: %s: NOT OK\n", argv[i]);
      status = 1;
    }
  return status;
}
