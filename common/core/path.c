/* xdisk: resolving file names stored in images, see xd-path.h. */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xd-path.h"
#include "include/xd-report.h"

#define MAX_CANDIDATES 4

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');
  char *dir;

  if (slash == NULL)
    return strdup (".");
  if (slash == path)
    return strdup ("/");
  dir = strndup (path, (size_t) (slash - path));
  return dir;
}

bool
xd_path_is_inside (const char *path, const char *dir)
{
  size_t n = strlen (dir);

  if (strcmp (dir, "/") == 0)
    return path[0] == '/';
  return strncmp (path, dir, n) == 0 && path[n] == '/';
}

int
xd_path_policy_allow_dir (struct xd_path_policy *policy, const char *dir)
{
  char *real = realpath (dir, NULL);
  char **dirs;

  if (real == NULL) {
    xd_error ("allow-external-files: %s: %m", dir);
    return -1;
  }
  dirs = realloc (policy->allowed_dirs,
                  (policy->nr_allowed_dirs + 1) * sizeof *dirs);
  if (dirs == NULL) {
    xd_error ("realloc: %m");
    free (real);
    return -1;
  }
  policy->allowed_dirs = dirs;
  dirs[policy->nr_allowed_dirs++] = real;
  return 0;
}

static int
parse_allowed_dirs (struct xd_path_policy *policy, const char *list)
{
  char *copy = strdup (list), *saveptr = NULL, *dir;
  int r = 0;

  if (copy == NULL) {
    xd_error ("strdup: %m");
    return -1;
  }
  for (dir = strtok_r (copy, ":", &saveptr); dir && r == 0;
       dir = strtok_r (NULL, ":", &saveptr))
    r = xd_path_policy_allow_dir (policy, dir);
  free (copy);
  return r;
}

/* True if DIR holds a regular file whose name ends in ".vbox". */
static bool
has_vbox_file (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  struct stat st;
  bool found = false;

  if (d == NULL)
    return false;
  while (!found && (e = readdir (d)) != NULL) {
    size_t n = strlen (e->d_name);
    char *path;
    if (n <= 5 || strcmp (e->d_name + n - 5, ".vbox") != 0)
      continue;
    if (asprintf (&path, "%s/%s", dir, e->d_name) == -1)
      break;
    found = stat (path, &st) == 0 && S_ISREG (st.st_mode);
    free (path);
  }
  closedir (d);
  return found;
}

/* VirtualBox keeps a machine's differencing images in the Snapshots
 * folder of its machine folder, which holds the .vbox file and usually
 * the base image.  For an image in such a Snapshots folder, the machine
 * folder is the confinement root, so that the chain opens without
 * allow-external-files.  Returns the new root (malloc'd) or NULL.
 */
static char *
machine_folder (const char *dir)
{
  const char *slash = strrchr (dir, '/');
  char *parent;

  if (slash == NULL || strcmp (slash + 1, "Snapshots") != 0 || slash == dir)
    return NULL;
  parent = strndup (dir, (size_t) (slash - dir));
  if (parent && !has_vbox_file (parent)) {
    free (parent);
    parent = NULL;
  }
  return parent;
}

int
xd_path_policy_init (struct xd_path_policy *policy, const char *image_path,
                     const char *allow)
{
  char *real, *machine;

  memset (policy, 0, sizeof *policy);
  real = realpath (image_path, NULL);
  if (real == NULL) {
    xd_error ("%s: %m", image_path);
    return -1;
  }
  policy->root_dir = dir_of (real);
  free (real);
  if (policy->root_dir == NULL) {
    xd_error ("strdup: %m");
    return -1;
  }
  machine = machine_folder (policy->root_dir);
  if (machine) {
    free (policy->root_dir);
    policy->root_dir = machine;
  }

  if (allow == NULL || strcmp (allow, "false") == 0)
    return 0;
  if (strcmp (allow, "true") == 0) {
    policy->allow_external = true;
    return 0;
  }
  if (parse_allowed_dirs (policy, allow) == -1) {
    xd_path_policy_free (policy);
    return -1;
  }
  return 0;
}

void
xd_path_policy_free (struct xd_path_policy *policy)
{
  size_t i;

  free (policy->root_dir);
  for (i = 0; i < policy->nr_allowed_dirs; ++i)
    free (policy->allowed_dirs[i]);
  free (policy->allowed_dirs);
  memset (policy, 0, sizeof *policy);
}

static bool
policy_permits (const struct xd_path_policy *policy, const char *real)
{
  size_t i;

  if (policy->allow_external)
    return true;
  if (xd_path_is_inside (real, policy->root_dir))
    return true;
  for (i = 0; i < policy->nr_allowed_dirs; ++i)
    if (xd_path_is_inside (real, policy->allowed_dirs[i]))
      return true;
  return false;
}

/* A name written by Windows: a drive letter, a UNC path, or backslashes. */
static bool
is_windows_name (const char *name)
{
  return strchr (name, '\\') != NULL ||
    (((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z'))
     && name[1] == ':');
}

/* Join DIR and NAME unless NAME is absolute.  Returns malloc'd or NULL. */
static char *
join (const char *dir, const char *name)
{
  char *r;

  if (name[0] == '/')
    return strdup (name);
  if (asprintf (&r, "%s/%s", dir, name) == -1)
    return NULL;
  return r;
}

/* Build the list of paths to try for NAME from directory DIR. */
static size_t
candidates (const char *dir, const char *name, char *out[MAX_CANDIDATES])
{
  size_t n = 0;
  char *slashed, *p, *base;

  if (!is_windows_name (name)) {
    out[n++] = join (dir, name);
    return n;
  }

  slashed = strdup (name);
  if (slashed == NULL)
    return 0;
  for (p = slashed; *p; ++p)
    if (*p == '\\')
      *p = '/';
  /* "C:/VMs/x.vhd" cannot exist here as such; a relative ".\x.vhd"
   * ("./x.vhd") can, relative to the image's directory.
   */
  if (slashed[1] != ':' && slashed[0] != '/')
    out[n++] = join (dir, slashed);
  base = strrchr (slashed, '/');
  base = base ? base + 1 : (slashed[1] == ':' ? slashed + 2 : slashed);
  if (*base)
    out[n++] = join (dir, base);
  free (slashed);
  return n;
}

static void
report_not_found (const char *from, const char *name, const char *what,
                  char *tried[], size_t n)
{
  char list[4096] = "";
  size_t i, len = 0;

  for (i = 0; i < n; ++i) {
    if (tried[i] == NULL)
      continue;
    int w = snprintf (list + len, sizeof list - len, "%s%s",
                      len ? ", " : "", tried[i]);
    if (w < 0 || (size_t) w >= sizeof list - len)
      break;
    len += (size_t) w;
  }
  errno = ENOENT;
  xd_error ("%s: %s \"%s\" not found (tried: %s)", from, what, name, list);
}

/* xd_resolve_ref, and xd_try_resolve_ref when REPORT is false. */
static char *
resolve (const struct xd_path_policy *policy, const char *from,
         const char *name, const char *what, bool report)
{
  char *tried[MAX_CANDIDATES] = { NULL };
  char *dir, *real = NULL;
  size_t n, i;

  if (name[0] == '\0') {
    errno = EINVAL;
    if (report)
      xd_error ("%s: %s name is empty", from, what);
    return NULL;
  }
  dir = dir_of (from);
  if (dir == NULL) {
    xd_error ("strdup: %m");
    return NULL;
  }
  n = candidates (dir, name, tried);
  free (dir);

  for (i = 0; i < n && real == NULL; ++i)
    if (tried[i])
      real = realpath (tried[i], NULL);
  if (real == NULL) {
    errno = ENOENT;
    if (report)
      report_not_found (from, name, what, tried, n);
  }
  else if (!policy_permits (policy, real)) {
    errno = EPERM;
    if (report)
      xd_error ("%s: %s \"%s\" resolves to %s, which is outside the "
                "image's directory %s; use allow-external-files=true (or a "
                "list of directories) to allow it",
                from, what, name, real, policy->root_dir);
    free (real);
    real = NULL;
  }
  for (i = 0; i < n; ++i)
    free (tried[i]);
  return real;
}

char *
xd_resolve_ref (const struct xd_path_policy *policy, const char *from,
                const char *name, const char *what)
{
  return resolve (policy, from, name, what, true);
}

char *
xd_try_resolve_ref (const struct xd_path_policy *policy, const char *from,
                    const char *name)
{
  return resolve (policy, from, name, "", false);
}
