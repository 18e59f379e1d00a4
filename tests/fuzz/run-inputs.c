/* xdisk: run a fuzz target's LLVMFuzzerTestOneInput over saved inputs,
 * without libFuzzer.
 *
 *   run-fuzz-TARGET FILE|DIR...
 *
 * Each FILE, and each file in each DIR (not recursively, in name order,
 * skipping dot files), is read into a buffer of exactly its size (so a
 * sanitizer build catches reads past the end) and passed to the target.
 * make check links every target with this to replay the crash inputs
 * kept in tests/fuzz/regress/TARGET/.  A crash or an abort is a failure.
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
run_file (const char *path, unsigned *count)
{
  FILE *fp = fopen (path, "rb");
  struct stat st;
  uint8_t *buf;
  size_t len;

  if (fp == NULL || fstat (fileno (fp), &st) == -1) {
    perror (path);
    if (fp)
      fclose (fp);
    return -1;
  }
  len = (size_t) st.st_size;
  buf = malloc (len ? len : 1);
  if (buf == NULL || fread (buf, 1, len, fp) != len) {
    fprintf (stderr, "%s: cannot read\n", path);
    free (buf);
    fclose (fp);
    return -1;
  }
  fclose (fp);
  LLVMFuzzerTestOneInput (buf, len);
  free (buf);
  (*count)++;
  return 0;
}

static int
skip_dot (const struct dirent *d)
{
  return d->d_name[0] != '.';
}

static int
run_dir (const char *path, unsigned *count)
{
  struct dirent **names;
  int n, i, r = 0;

  n = scandir (path, &names, skip_dot, alphasort);
  if (n == -1) {
    perror (path);
    return -1;
  }
  for (i = 0; i < n; i++) {
    size_t len = strlen (path) + strlen (names[i]->d_name) + 2;
    char *file = malloc (len);
    struct stat st;

    if (file == NULL) {
      perror ("malloc");
      r = -1;
    }
    else {
      snprintf (file, len, "%s/%s", path, names[i]->d_name);
      if (stat (file, &st) == 0 && S_ISREG (st.st_mode) &&
          run_file (file, count) == -1)
        r = -1;
      free (file);
    }
    free (names[i]);
  }
  free (names);
  return r;
}

int
main (int argc, char *argv[])
{
  unsigned count = 0;
  int i, status = EXIT_SUCCESS;
  struct stat st;

  if (argc < 2) {
    fprintf (stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return EXIT_FAILURE;
  }
  for (i = 1; i < argc; i++) {
    if (stat (argv[i], &st) == -1) {
      perror (argv[i]);
      status = EXIT_FAILURE;
    }
    else if (S_ISDIR (st.st_mode) ? run_dir (argv[i], &count) == -1
             : run_file (argv[i], &count) == -1)
      status = EXIT_FAILURE;
  }
  printf ("%s: %u inputs\n", argv[0], count);
  return status;
}
