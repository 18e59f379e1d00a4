/* sftp-read: read a file through xdisk's SFTP site (common/remote/sftp.c)
 * for tests/test-sftp-site.sh, without nbdkit.
 *
 *   sftp-read [OPTIONS] URL OUT      copy the file at URL to OUT
 *   sftp-read [OPTIONS] --list URL   print the files of URL's directory
 *
 * OPTIONS: --known-hosts FILE, --identity FILE, --no-verify,
 * --password-file FILE, --user NAME, --connections N, --retries N,
 * --block BYTES (the size of each read), --at OFFSET --run COMMAND (run
 * COMMAND with system(3) before the read at OFFSET: a test drops the
 * connection or shrinks the file there).
 * Exit status: 0; 2 the site could not be made; 3 open failed (the
 * errno's name is printed); 4 a read failed; 1 anything else.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/xd-report.h"
#include "remote/xd-remote.h"

static void
report_error (const char *fmt, va_list args)
{
  fprintf (stderr, "sftp-read: error: ");
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
}

static void
report_debug (const char *fmt, va_list args)
{
  fprintf (stderr, "sftp-read: debug: ");
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
}

static int
print_name (void *opaque, const char *name)
{
  (void) opaque;
  printf ("%s\n", name);
  return 0;
}

/* The first line of FILE, malloc'd. */
static char *
read_line (const char *file)
{
  char *line = NULL;
  size_t n = 0;
  FILE *f = fopen (file, "r");
  ssize_t len;

  if (f == NULL || (len = getline (&line, &n, f)) < 0) {
    perror (file);
    exit (1);
  }
  fclose (f);
  line[strcspn (line, "\n")] = '\0';
  return line;
}

static int
copy_out (struct xd_io *io, const char *out, size_t block,
          uint64_t at, const char *run)
{
  FILE *f = fopen (out, "w");
  unsigned char *buf = malloc (block);
  uint64_t off;
  int r = 0;

  if (f == NULL || buf == NULL) {
    perror (out);
    r = 1;
  }
  for (off = 0; r == 0 && off < io->size; off += block) {
    size_t n = io->size - off < block ? io->size - off : block;

    if (run && off >= at) {
      if (system (run) != 0)
        fprintf (stderr, "sftp-read: %s failed\n", run);
      run = NULL;
    }
    if (xd_io_read (io, buf, n, off, "data") == -1)
      r = 4;
    else if (fwrite (buf, 1, n, f) != n) {
      perror (out);
      r = 1;
    }
  }
  /* Freed on every path: the sanitizer build checks for leaks. */
  free (buf);
  if (f && fclose (f) != 0 && r == 0)
    r = 1;
  return r;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "known-hosts", required_argument, NULL, 'k' },
    { "identity", required_argument, NULL, 'i' },
    { "no-verify", no_argument, NULL, 'n' },
    { "password-file", required_argument, NULL, 'p' },
    { "user", required_argument, NULL, 'u' },
    { "connections", required_argument, NULL, 'c' },
    { "retries", required_argument, NULL, 'r' },
    { "block", required_argument, NULL, 'b' },
    { "at", required_argument, NULL, 'a' },
    { "run", required_argument, NULL, 'x' },
    { "list", no_argument, NULL, 'l' },
    { "debug", no_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  struct xd_remote_opts opts;
  struct xd_url url;
  struct xd_site *site;
  struct xd_io *io;
  bool list = false, debug = false;
  size_t block = 4 << 20;
  uint64_t at = 0;
  const char *run = NULL;
  int c, r;

  xd_remote_opts_init (&opts);
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'k': opts.known_hosts = optarg; break;
    case 'i': opts.identity = optarg; break;
    case 'n': opts.verify_remote_host = false; break;
    case 'p': opts.password = read_line (optarg); break;
    case 'u': opts.user = optarg; break;
    case 'c': opts.connections = (unsigned) atoi (optarg); break;
    case 'r': opts.retries = (unsigned) atoi (optarg); break;
    case 'b': block = strtoull (optarg, NULL, 0); break;
    case 'a': at = strtoull (optarg, NULL, 0); break;
    case 'x': run = optarg; break;
    case 'l': list = true; break;
    case 'd': debug = true; break;
    default: return 1;
    }
  }
  if (argc - optind != (list ? 1 : 2) || block == 0 ||
      opts.connections == 0) {
    fprintf (stderr, "usage: see the comment in tests/sftp-read.c\n");
    return 1;
  }
  xd_set_reporters (report_error, debug ? report_debug : NULL);
  if (xd_url_parse (argv[optind], &url) == -1)
    return 1;
  site = xd_site_new (&url, &opts);
  if (site == NULL) {
    /* Freed on every path: the sanitizer build checks for leaks. */
    xd_url_free (&url);
    free ((char *) opts.password);
    return 2;
  }
  if (list) {
    char *dir = xd_url_dir (&url);

    r = dir && xd_site_list (site, dir, print_name, NULL) == 0 ? 0 : 1;
    free (dir);
  }
  else {
    io = xd_site_open (site, &url, false);
    if (io == NULL) {
      fprintf (stderr, "sftp-read: open: errno %s\n",
               errno == ENOENT ? "ENOENT" : errno == EACCES ? "EACCES"
               : errno == EIO ? "EIO" : "other");
      r = 3;
    }
    else {
      r = copy_out (io, argv[optind + 1], block, at, run);
      xd_io_close (io);
    }
  }
  xd_site_free (site);
  xd_url_free (&url);
  free ((char *) opts.password);
  return r;
}
