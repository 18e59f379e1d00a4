/* xdisk: sites, the confinement of names on them, and the resolver
 * that opens an image's names through a site (see xd-remote.h).
 *
 * The resolver knows the URL of every io it opened, by the io's name
 * (xd_url_display of its URL): a name stored in that file is resolved
 * against that URL (xd_url_resolve), checked against the policy, and
 * opened through the site.  Names never change the origin, the
 * credentials or the query string (an ESXi datastore's dcPath and
 * dsName go to every sibling).
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "remote/xd-site.h"
#include "io/xd-iocache.h"
#include "include/xd-report.h"
#include "include/xd-vector.h"

/* Every file is read through a block cache: format code's small reads
 * of headers, tables and grains cost one round trip per block.  Reads
 * of a block or more (a flat extent's data) go straight through.
 * Measured on bench/remote-chain's sparse VMDK chain (512 MiB, 10 ms a
 * round trip, nbdcopy -C 4): 8 blocks of 1 MiB, read two at a time,
 * thrashed under four client streams and the read-ahead (each range
 * fetched up to 21 times, 2.3 times the files' bytes, 1.9 s); 32
 * blocks of 1 MiB: 1.2-1.3 s; 16 blocks of 4 MiB: 0.8 s (curl alone
 * fetching the files over 4 connections: 0.54 s).  At most 64 MiB a
 * file.
 */
#define REMOTE_BLOCK_SIZE (4 * 1024 * 1024)
#define REMOTE_CACHE_BLOCKS 16

void
xd_remote_opts_init (struct xd_remote_opts *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->sslverify = true;
  opts->verify_remote_host = true;
  opts->redirects = XD_REDIRECTS_NONE;
  /* HTTP, measured (http.c, 7 Dec 2026): lighttpd on 127.0.0.1, a
   * 1 GiB file, N threads each reading its part in sequential 4 MiB
   * preads over N connections: 1: 1.7-4.8 GB/s, 4: 2.2-2.8 GB/s,
   * 8: 1.8-2.4 GB/s (one thread's 32 MiB reads, split over 1/4/8
   * connections: 1.7-2.3 GB/s each); curl -o /dev/null on one
   * connection: 3.7-4.1 GB/s.  On loopback with 2 shared CPUs the
   * copying bounds it and more connections gain nothing; they pay off
   * where each request waits on latency (ESXi, §1.3), where 4 is what
   * Proxmox and XO settled on (remote-sources.md §1.2).
   */
  opts->connections = 4;
  opts->retries = 4;
  opts->retry_seconds = 60;
}

/* ---- sites ---- */

struct xd_site *
xd_site_new (const struct xd_url *url, const struct xd_remote_opts *opts)
{
  if (strcmp (url->scheme, "ssh") == 0)
    return xd_sftp_site_new (url, opts);
  return xd_http_site_new (url, opts);
}

void
xd_site_free (struct xd_site *site)
{
  if (site)
    site->ops->free (site);
}

struct xd_io *
xd_site_open (struct xd_site *site, const struct xd_url *url, bool quiet)
{
  return site->ops->open (site, url, quiet);
}

int
xd_site_list (struct xd_site *site, const char *dir, xd_list_fn fn,
              void *opaque)
{
  if (site->ops->list == NULL)
    return 0;
  return site->ops->list (site, dir, fn, opaque);
}

/* ---- the policy ---- */

/* One item of allow-external-files=: a URL of a directory on TOP's
 * origin.
 */
static int
add_allowed (struct xd_url_policy *policy, const char *item)
{
  struct xd_url url;
  char *dir;
  size_t cap = policy->nr_allowed_dirs;

  if (xd_url_parse (item, &url) == -1)
    return -1;
  if (!xd_url_same_origin (&url, &policy->top)) {
    char *shown = xd_url_display (&url);
    xd_error ("allow-external-files: %s is not on the image's server: "
              "names in an image never lead to another scheme, host, "
              "port or user", shown);
    free (shown);
    xd_url_free (&url);
    errno = EINVAL;
    return -1;
  }
  dir = strdup (url.path);
  xd_url_free (&url);
  if (dir == NULL ||
      XD_RESERVE (policy->allowed_dirs, policy->nr_allowed_dirs, cap, 1)
      == -1) {
    xd_error ("allow-external-files: %m");
    free (dir);
    return -1;
  }
  policy->allowed_dirs[policy->nr_allowed_dirs++] = dir;
  return 0;
}

static int
parse_allowed (struct xd_url_policy *policy, const char *allow)
{
  char *copy = strdup (allow), *item, *save = NULL;
  int ret = 0;

  if (copy == NULL) {
    xd_error ("strdup: %m");
    return -1;
  }
  for (item = strtok_r (copy, " ,", &save); item && ret == 0;
       item = strtok_r (NULL, " ,", &save))
    ret = add_allowed (policy, item);
  free (copy);
  return ret;
}

int
xd_url_policy_init (struct xd_url_policy *policy, const struct xd_url *top,
                    const char *allow)
{
  memset (policy, 0, sizeof *policy);
  if (xd_url_copy (top, &policy->top) == -1)
    return -1;
  policy->root_dir = xd_url_dir (top);
  if (policy->root_dir == NULL)
    goto fail;
  if (allow == NULL || strcmp (allow, "false") == 0)
    return 0;
  if (strcmp (allow, "true") == 0) {
    policy->allow_any = true;
    return 0;
  }
  if (parse_allowed (policy, allow) == 0)
    return 0;
 fail:
  xd_url_policy_free (policy);
  return -1;
}

void
xd_url_policy_free (struct xd_url_policy *policy)
{
  size_t i;

  xd_url_free (&policy->top);
  free (policy->root_dir);
  for (i = 0; i < policy->nr_allowed_dirs; i++)
    free (policy->allowed_dirs[i]);
  free (policy->allowed_dirs);
  memset (policy, 0, sizeof *policy);
}

static bool
policy_permits (const struct xd_url_policy *policy, const struct xd_url *url)
{
  size_t i;

  if (policy->allow_any || xd_url_path_inside (url, policy->root_dir))
    return true;
  for (i = 0; i < policy->nr_allowed_dirs; i++)
    if (xd_url_path_inside (url, policy->allowed_dirs[i]))
      return true;
  return false;
}

/* ---- the resolver ---- */

struct known {
  char *name;                   /* the io's name: xd_url_display (url) */
  struct xd_url url;
};

struct url_resolver {
  struct xd_site *site;
  const struct xd_url_policy *policy;
  /* Files opened so far; opens run in one thread, but a format may open
   * a file lazily later (a VMDK's extents), so the table is locked.
   */
  pthread_mutex_t lock;
  struct known *known;
  size_t nr_known, cap_known;
};

/* A copy of the URL of the io named FROM, or -1 (EINVAL). */
static int
find_known (struct url_resolver *ur, const char *from, struct xd_url *url)
{
  int ret = -1;
  size_t i;

  pthread_mutex_lock (&ur->lock);
  for (i = 0; i < ur->nr_known; i++)
    if (strcmp (ur->known[i].name, from) == 0) {
      ret = xd_url_copy (&ur->known[i].url, url);
      break;
    }
  pthread_mutex_unlock (&ur->lock);
  if (i == ur->nr_known)
    errno = EINVAL;
  return ret;
}

static int
remember (struct url_resolver *ur, const char *name, const struct xd_url *url)
{
  struct known k = { .name = strdup (name) };
  int ret = -1;

  pthread_mutex_lock (&ur->lock);
  if (k.name && xd_url_copy (url, &k.url) == 0) {
    if (XD_RESERVE (ur->known, ur->nr_known, ur->cap_known, 1) == 0) {
      ur->known[ur->nr_known++] = k;
      ret = 0;
    }
    else
      xd_url_free (&k.url);
  }
  pthread_mutex_unlock (&ur->lock);
  if (ret == -1) {
    xd_error ("%s: %m", name);
    free (k.name);
  }
  return ret;
}

/* Open URL through the site, behind a block cache, and remember it. */
static struct xd_io *
open_url (struct url_resolver *ur, const struct xd_url *url, bool quiet)
{
  struct xd_io *io = xd_site_open (ur->site, url, quiet);

  if (io == NULL)
    return NULL;
  io = xd_io_open_cached (io, REMOTE_BLOCK_SIZE, REMOTE_CACHE_BLOCKS);
  if (io == NULL)
    return NULL;
  if (remember (ur, io->name, url) == -1) {
    xd_io_close (io);
    return NULL;
  }
  return io;
}

/* Resolve NAME stored in FROM: 0 and *URL, or -1 with errno EINVAL
 * (*WHY says why) or EPERM (outside the policy).
 */
static int
resolve (struct url_resolver *ur, const char *from, const char *name,
         struct xd_url *url, const char **why)
{
  struct xd_url base;
  int r;

  *why = "the file holding it was not opened by this resolver";
  if (find_known (ur, from, &base) == -1)
    return -1;
  r = xd_url_resolve (&base, name, url, why);
  xd_url_free (&base);
  if (r == -1)
    return -1;
  if (!policy_permits (ur->policy, url)) {
    xd_url_free (url);
    errno = EPERM;
    return -1;
  }
  return 0;
}

static struct xd_io *
url_try_open (const struct xd_resolver *r, const char *from, const char *name)
{
  struct url_resolver *ur = r->priv;
  struct xd_url url;
  struct xd_io *io;
  const char *why;
  int err;

  if (resolve (ur, from, name, &url, &why) == -1)
    return NULL;
  io = open_url (ur, &url, true);
  err = errno;
  xd_url_free (&url);
  errno = err;
  return io;
}

static void
url_report (const struct xd_resolver *r, const char *from, const char *name,
            const char *what, int err XD_UNUSED)
{
  struct url_resolver *ur = r->priv;
  struct xd_url url;
  struct xd_io *io;
  const char *why;
  char *shown;

  if (resolve (ur, from, name, &url, &why) == -1) {
    if (errno == EPERM) {
      xd_error ("%s: %s \"%s\" lies outside the image's directory %s: "
                "allow-external-files=URL-PREFIX (or true) would allow it",
                from, what, name, ur->policy->root_dir);
      errno = EPERM;
    }
    else
      xd_error ("%s: %s \"%s\" refused: %s", from, what, name, why);
    return;
  }
  /* Open it again, this time saying why it fails. */
  shown = xd_url_display (&url);
  io = xd_site_open (ur->site, &url, false);
  if (io) {
    xd_io_close (io);
    xd_error ("%s: %s \"%s\" (%s) could not be opened", from, what, name,
              shown);
  }
  else
    xd_debug ("%s: %s \"%s\" is %s", from, what, name, shown);
  free (shown);
  xd_url_free (&url);
}

struct list_ctx {
  struct url_resolver *ur;
  xd_list_fn fn;
  void *opaque;
};

/* The site lists encoded paths; names handed on are the decoded bytes
 * (an absolute path on the site), which try_open encodes again.
 */
static int
list_one (void *opaque, const char *encoded)
{
  struct list_ctx *ctx = opaque;
  struct xd_url url = { .path = (char *) encoded };
  char *name = xd_url_decoded_path (&url);
  int r;

  if (name == NULL)
    return 0;                   /* a name that cannot be a file: skip */
  r = ctx->fn (ctx->opaque, name);
  free (name);
  return r;
}

/* The directory of FROM, or the one above it (UP). */
static char *
list_dir (const struct xd_url *from, bool up)
{
  char *dir = xd_url_dir (from), *slash;

  if (dir && up && strcmp (dir, "/") != 0) {
    dir[strlen (dir) - 1] = '\0';
    slash = strrchr (dir, '/');
    slash[1] = '\0';
  }
  return dir;
}

/* Names in DIR of files already opened: all a site that cannot list
 * (HTTP) knows, e.g. the .vbox registry a VDI chain was opened from.
 */
static int
list_known (struct url_resolver *ur, const char *dir, struct list_ctx *ctx)
{
  size_t i, n, len = strlen (dir);
  char **paths;
  int r = 0;

  pthread_mutex_lock (&ur->lock);
  n = ur->nr_known;
  paths = calloc (n ? n : 1, sizeof *paths);
  for (i = 0; paths && i < n; i++)
    if (strncmp (ur->known[i].url.path, dir, len) == 0 &&
        strchr (ur->known[i].url.path + len, '/') == NULL)
      paths[i] = strdup (ur->known[i].url.path);
  pthread_mutex_unlock (&ur->lock);
  for (i = 0; paths && i < n; i++) {
    if (paths[i] && r == 0)
      r = list_one (ctx, paths[i]);
    free (paths[i]);
  }
  free (paths);
  return r;
}

static int
url_list (const struct xd_resolver *r, const char *from, bool up,
          xd_list_fn fn, void *opaque)
{
  struct url_resolver *ur = r->priv;
  struct list_ctx ctx = { ur, fn, opaque };
  struct xd_url base;
  char *dir;
  int ret;

  if (find_known (ur, from, &base) == -1)
    return 0;
  dir = list_dir (&base, up);
  xd_url_free (&base);
  if (dir == NULL)
    return -1;
  ret = ur->site->ops->list ? xd_site_list (ur->site, dir, list_one, &ctx)
                            : list_known (ur, dir, &ctx);
  free (dir);
  return ret < 0 ? -1 : 0;
}

static void
url_free (struct xd_resolver *r)
{
  struct url_resolver *ur = r->priv;
  size_t i;

  for (i = 0; i < ur->nr_known; i++) {
    free (ur->known[i].name);
    xd_url_free (&ur->known[i].url);
  }
  free (ur->known);
  pthread_mutex_destroy (&ur->lock);
  free (ur);
}

static const struct xd_resolver_ops url_ops = {
  .try_open = url_try_open,
  .report = url_report,
  .list = url_list,
  .free = url_free,
};

struct xd_resolver *
xd_resolver_new_url (struct xd_site *site, const struct xd_url_policy *policy)
{
  struct url_resolver *ur = calloc (1, sizeof *ur);
  struct xd_resolver *r = calloc (1, sizeof *r);

  if (ur == NULL || r == NULL) {
    xd_error ("calloc: %m");
    free (ur);
    free (r);
    return NULL;
  }
  ur->site = site;
  ur->policy = policy;
  pthread_mutex_init (&ur->lock, NULL);
  r->ops = &url_ops;
  r->priv = ur;
  return r;
}

struct xd_io *
xd_resolver_open_top (const struct xd_resolver *r, const struct xd_url *url)
{
  return open_url (r->priv, url, false);
}
