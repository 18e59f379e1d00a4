/* xdisk fuzz target: the tar index (common/tar.c): headers in every
 * form (ustar, old GNU, GNU long names and base-256 sizes, pax
 * records), checksums, member slices and chunk joins, name
 * normalisation and the archive resolver's confinement.
 *
 * The input is a tar archive, or a bundle (fuzz.h) whose first file is
 * one.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "archive/xd-tar.h"

/* Whether a component of NAME is "..": "a/../x" is, "..foo" is not. */
static bool
has_dotdot (const char *name)
{
  const char *p = name;

  for (;;) {
    size_t len = strcspn (p, "/");
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return true;
    if (p[len] == '\0')
      return false;
    p += len + 1;
  }
}

static int
count (void *opaque, const char *name, bool safe, uint64_t offset,
       uint64_t size)
{
  size_t *n = opaque;

  (void) offset;
  if (safe && (name[0] == '/' || has_dotdot (name)))
    fz_fail ("unsafe name \"%s\" passed as safe", name);
  if (size > UINT64_MAX - offset)
    fz_fail ("member wraps");
  return ++*n > 100000;
}

static void
read_member (struct xd_io *io)
{
  uint8_t buf[4096];
  uint64_t n = io->size < sizeof buf ? io->size : sizeof buf;
  unsigned long before = fz_begin ();

  if (n && xd_io_read (io, buf, n, 0, "head") == -1)
    fz_check_failure (-1, before, "xd_io_read");
  before = fz_begin ();
  if (io->size > n &&
      xd_io_read (io, buf, n, io->size - n, "tail") == -1)
    fz_check_failure (-1, before, "xd_io_read");
}

static void
resolve (struct xd_resolver *res, const char *from, const char *name,
         bool may_succeed)
{
  struct xd_io *io = xd_resolver_try_open (res, from, name);

  if (io && !may_succeed)
    fz_fail ("\"%s\" resolved inside the archive", name);
  if (io) {
    read_member (io);
    xd_io_close (io);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_bundle b;
  struct xd_io *io;
  struct xd_tar *tar;
  unsigned long before;
  size_t n = 0, i;

  fz_init ();
  fz_bundle_parse (data, size, "fuzz.tar", &b);
  io = fz_io_open (&b.files[0]);
  before = fz_begin ();
  if (xd_tar_walk (io, count, &n) == -1)
    fz_check_failure (-1, before, "xd_tar_walk");
  free (xd_tar_first_name (io));
  before = fz_begin ();
  tar = xd_tar_index (io);
  fz_check_failure (tar ? 0 : -1, before, "xd_tar_index");
  if (tar) {
    struct xd_resolver *res = xd_resolver_new_archive (tar);
    for (i = 0; i < tar->n && i < 64; i++) {
      const struct xd_tar_member *m = &tar->members[i];
      char *norm = xd_tar_normalize (m->name);
      struct xd_io *mio;
      if (norm == NULL || strcmp (norm, m->name) != 0)
        fz_fail ("stored name \"%s\" is not normalised", m->name);
      free (norm);
      if (xd_tar_find (tar, m->name) != m)
        fz_fail ("member \"%s\" not found by name", m->name);
      mio = xd_tar_open (tar, m->name);
      if (mio == NULL)
        fz_fail ("member \"%s\" cannot be opened", m->name);
      read_member (mio);
      xd_io_close (mio);
      if (res) {
        char *up;
        resolve (res, "x", m->name, true);
        if (asprintf (&up, "../%s", m->name) > 0) {
          resolve (res, "x", up, false);
          free (up);
        }
      }
    }
    if (res) {
      resolve (res, "x", "/etc/passwd", false);
      resolve (res, "x", "a/../../b", false);
      xd_resolver_free (res);
    }
    xd_tar_free (tar);
  }
  xd_io_close (io);
  fz_bundle_free (&b);
  return 0;
}
