/* xdisk: resolvers for the names an image holds (see xd-format.h).
 *
 * The directory resolver is the path policy of xd-path.h plus opening
 * the file; the stream resolver refuses every name, for images that
 * arrive as one stream (an nbdkit filter's layer below).
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xd-format.h"
#include "core/xd-path.h"
#include "include/xd-report.h"
#include "include/xd-vector.h"

struct xd_io *
xd_resolver_try_open (const struct xd_resolver *r, const char *from,
                      const char *name)
{
  if (name == NULL || name[0] == '\0') {
    errno = EINVAL;
    return NULL;
  }
  return r->ops->try_open (r, from, name);
}

void
xd_resolver_report (const struct xd_resolver *r, const char *from,
                    const char *name, const char *what, int err)
{
  if (name == NULL || name[0] == '\0') {
    xd_error ("%s: %s name is empty", from, what);
    errno = EINVAL;
    return;
  }
  r->ops->report (r, from, name, what, err);
  errno = err;
}

struct xd_io *
xd_resolver_open (const struct xd_resolver *r, const char *from,
                  const char *name, const char *what)
{
  struct xd_io *io = xd_resolver_try_open (r, from, name);

  if (io == NULL)
    xd_resolver_report (r, from, name, what, errno);
  return io;
}

int
xd_resolver_list (const struct xd_resolver *r, const char *from, bool up,
                  xd_list_fn fn, void *opaque)
{
  if (r->ops->list == NULL)
    return 0;
  return r->ops->list (r, from, up, fn, opaque);
}

void
xd_resolver_free (struct xd_resolver *r)
{
  if (r == NULL)
    return;
  if (r->ops->free)
    r->ops->free (r);
  free (r);
}

static struct xd_resolver *
resolver_new (const struct xd_resolver_ops *ops, void *priv)
{
  struct xd_resolver *r = calloc (1, sizeof *r);

  if (r == NULL) {
    xd_error ("calloc: %m");
    return NULL;
  }
  r->ops = ops;
  r->priv = priv;
  return r;
}

/* ---- local directories under the path policy ---- */

static struct xd_io *
dir_try_open (const struct xd_resolver *r, const char *from, const char *name)
{
  const struct xd_path_policy *policy = r->priv;
  char *path = xd_try_resolve_ref (policy, from, name);
  struct xd_io *io;
  int err;

  if (path == NULL)
    return NULL;
  /* Quiet, as promised: the caller reports once if nothing works. */
  xd_error_hold ();
  io = xd_io_open_file (path);
  err = errno;
  xd_error_release (false);
  free (path);
  errno = err;
  return io;
}

static void
dir_report (const struct xd_resolver *r, const char *from, const char *name,
            const char *what, int err)
{
  const struct xd_path_policy *policy = r->priv;
  char *path = xd_resolve_ref (policy, from, name, what);

  /* Resolved, so opening it failed (a directory, no permission). */
  if (path) {
    errno = err;
    xd_error ("%s: %s \"%s\" (%s) cannot be opened: %m",
              from, what, name, path);
    free (path);
  }
}

static char *
dir_part (const char *path, bool up)
{
  char *dir = strdup (path), *slash;
  int levels = up ? 2 : 1;

  if (dir == NULL)
    return NULL;
  while (levels-- > 0) {
    slash = strrchr (dir, '/');
    if (slash == NULL) {
      strcpy (dir, ".");
      break;
    }
    if (slash == dir) {
      dir[1] = '\0';
      break;
    }
    *slash = '\0';
  }
  return dir;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Names in sorted order, so that a search is repeatable. */
static int
dir_list (const struct xd_resolver *r XD_UNUSED, const char *from, bool up,
          xd_list_fn fn, void *opaque)
{
  char *dir = dir_part (from, up), **names = NULL;
  size_t n = 0, cap = 0, i;
  struct dirent *d;
  DIR *dp;
  int ret = 0;

  if (dir == NULL || (dp = opendir (dir)) == NULL) {
    free (dir);
    return 0;                   /* nothing to list is not an error */
  }
  while ((d = readdir (dp)) != NULL) {
    char *path;
    if (d->d_name[0] == '.')
      continue;
    if (XD_RESERVE (names, n, cap, 1) == -1)
      break;
    if (asprintf (&path, "%s/%s", strcmp (dir, "/") ? dir : "",
                  d->d_name) == -1)
      break;
    names[n++] = path;
  }
  closedir (dp);
  if (n)
    qsort (names, n, sizeof *names, compare_names);
  for (i = 0; i < n && ret == 0; i++)
    ret = fn (opaque, names[i]);
  for (i = 0; i < n; i++)
    free (names[i]);
  free (names);
  free (dir);
  return ret < 0 ? -1 : 0;
}

static const struct xd_resolver_ops dir_ops = {
  .try_open = dir_try_open,
  .report = dir_report,
  .list = dir_list,
};

struct xd_resolver *
xd_resolver_new_dir (const struct xd_path_policy *policy)
{
  return resolver_new (&dir_ops, (void *) policy);
}

/* ---- a lone stream ---- */

static struct xd_io *
stream_try_open (const struct xd_resolver *r XD_UNUSED,
                 const char *from XD_UNUSED, const char *name XD_UNUSED)
{
  errno = EPERM;
  return NULL;
}

static void
stream_report (const struct xd_resolver *r, const char *from,
               const char *name, const char *what, int err XD_UNUSED)
{
  xd_error ("%s: the image names the %s \"%s\", a file outside %s: "
            "only the plugin form, with local files, can serve it",
            from, what, name, (const char *) r->priv);
}

static void
stream_free (struct xd_resolver *r)
{
  free (r->priv);
}

static const struct xd_resolver_ops stream_ops = {
  .try_open = stream_try_open,
  .report = stream_report,
  .free = stream_free,
};

struct xd_resolver *
xd_resolver_new_stream (const char *kind)
{
  char *copy = strdup (kind);
  struct xd_resolver *r;

  if (copy == NULL) {
    xd_error ("strdup: %m");
    return NULL;
  }
  r = resolver_new (&stream_ops, copy);
  if (r == NULL)
    free (copy);
  return r;
}
