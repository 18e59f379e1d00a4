/* xdisk: the plugins' parameters for images read where they live, see
 * xd-glue-remote.h and xd-remote.h.
 *
 * password= is read as nbdkit's own plugins read it (-, +FILE, -FD),
 * kept only here and in the site, and wiped at unload.  Nothing this
 * file prints holds it: URLs are shown through xd_url_display.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "glue/xd-glue-remote.h"
#include "remote/xd-remote.h"
#include "include/xd-report.h"

static char *url_arg;                   /* url= as given */
static struct xd_url url;               /* parsed in .config_complete */
static char *url_shown;                 /* xd_url_display (&url) */
static char *user, *password;
static char *cainfo, *thumbprint, *known_hosts, *identity;
static struct xd_remote_opts opts;
static bool opts_ready;

/* Opened in .get_ready. */
static struct xd_url_policy policy;
static struct xd_site *site;

static void
init_opts (void)
{
  if (!opts_ready) {
    xd_remote_opts_init (&opts);
    opts_ready = true;
  }
}

bool
xd_glue_looks_like_url (const char *value)
{
  return strncasecmp (value, "http://", 7) == 0 ||
    strncasecmp (value, "https://", 8) == 0 ||
    strncasecmp (value, "ssh://", 6) == 0;
}

static int
set_string (char **field, const char *key, const char *value)
{
  free (*field);
  *field = strdup (value);
  if (*field == NULL) {
    nbdkit_error ("%s: strdup: %m", key);
    return -1;
  }
  return 0;
}

static int
set_unsigned (unsigned *field, const char *key, const char *value,
              unsigned min, unsigned max)
{
  unsigned v;

  if (nbdkit_parse_unsigned (key, value, &v) == -1)
    return -1;
  if (v < min || v > max) {
    nbdkit_error ("%s=%u: must be from %u to %u", key, v, min, max);
    return -1;
  }
  *field = v;
  return 0;
}

static int
set_bool (bool *field, const char *key, const char *value)
{
  int r = nbdkit_parse_bool (value);

  if (r == -1) {
    nbdkit_error ("%s: expected true or false", key);
    return -1;
  }
  *field = r;
  return 0;
}

static int
set_redirects (const char *value)
{
  if (strcmp (value, "none") == 0 || strcmp (value, "false") == 0)
    opts.redirects = XD_REDIRECTS_NONE;
  else if (strcmp (value, "same-origin") == 0)
    opts.redirects = XD_REDIRECTS_SAME_ORIGIN;
  else if (strcmp (value, "any") == 0)
    opts.redirects = XD_REDIRECTS_ANY;
  else {
    nbdkit_error ("redirects=%s: expected none, same-origin or any", value);
    return -1;
  }
  return 0;
}

static int
set_password (const char *value)
{
  if (password) {
    explicit_bzero (password, strlen (password));
    free (password);
    password = NULL;
  }
  return nbdkit_read_password (value, &password);
}

int
xd_glue_config_remote (const char *key, const char *value)
{
  init_opts ();
  if (strcmp (key, "url") == 0)
    return set_string (&url_arg, key, value);
  if (strcmp (key, "user") == 0)
    return set_string (&user, key, value);
  if (strcmp (key, "password") == 0)
    return set_password (value);
  if (strcmp (key, "sslverify") == 0)
    return set_bool (&opts.sslverify, key, value);
  if (strcmp (key, "cainfo") == 0)
    return set_string (&cainfo, key, value);
  if (strcmp (key, "thumbprint") == 0)
    return set_string (&thumbprint, key, value);
  if (strcmp (key, "redirects") == 0)
    return set_redirects (value);
  if (strcmp (key, "known-hosts") == 0)
    return set_string (&known_hosts, key, value);
  if (strcmp (key, "identity") == 0)
    return set_string (&identity, key, value);
  if (strcmp (key, "verify-remote-host") == 0)
    return set_bool (&opts.verify_remote_host, key, value);
  if (strcmp (key, "connections") == 0)
    return set_unsigned (&opts.connections, key, value, 1, 64);
  if (strcmp (key, "retries") == 0)
    return set_unsigned (&opts.retries, key, value, 0, 100);
  if (strcmp (key, "retry-seconds") == 0)
    return set_unsigned (&opts.retry_seconds, key, value, 0, 3600);
  if (strcmp (key, "timeout") == 0)
    return set_unsigned (&opts.timeout, key, value, 0, 86400);
  return 1;
}

bool
xd_glue_remote (void)
{
  return url_arg != NULL;
}

/* Parameters that only mean something with url= are refused without
 * it: a user who typed password= for a local file made a mistake.
 */
static int
refuse_without_url (void)
{
  const char *given = user ? "user" : password ? "password" :
    cainfo ? "cainfo" : thumbprint ? "thumbprint" :
    known_hosts ? "known-hosts" : identity ? "identity" : NULL;

  if (given) {
    nbdkit_error ("%s= is for images given by url=", given);
    return -1;
  }
  return 0;
}

int
xd_glue_remote_complete (void)
{
  init_opts ();
  if (url_arg == NULL)
    return refuse_without_url ();
  if (xd_url_parse (url_arg, &url) == -1)
    return -1;
  url_shown = xd_url_display (&url);
  opts.user = user;
  opts.password = password;
  opts.cainfo = cainfo;
  opts.thumbprint = thumbprint;
  opts.known_hosts = known_hosts;
  opts.identity = identity;
  return 0;
}

unsigned
xd_glue_remote_connections (void)
{
  init_opts ();
  return opts.connections;
}

const char *
xd_glue_remote_display (void)
{
  return url_shown ? url_shown : "url";
}

struct xd_io *
xd_glue_remote_open (const char *allow, struct xd_resolver **resolver)
{
  struct xd_io *io;

  if (xd_url_policy_init (&policy, &url, allow) == -1)
    return NULL;
  site = xd_site_new (&url, &opts);
  if (site == NULL)
    return NULL;
  *resolver = xd_resolver_new_url (site, &policy);
  if (*resolver == NULL)
    return NULL;
  io = xd_resolver_open_top (*resolver, &url);
  if (io)
    nbdkit_debug ("%s: %" PRIu64 " bytes on the server", url_shown,
                  (uint64_t) io->size);
  return io;
}

void
xd_glue_remote_close (void)
{
  xd_site_free (site);
  site = NULL;
  xd_url_policy_free (&policy);
}

void
xd_glue_remote_free (void)
{
  xd_glue_remote_close ();
  if (password) {
    explicit_bzero (password, strlen (password));
    free (password);
  }
  password = NULL;
  free (url_arg);
  free (url_shown);
  free (user);
  free (cainfo);
  free (thumbprint);
  free (known_hosts);
  free (identity);
  url_arg = url_shown = user = cainfo = thumbprint = NULL;
  known_hosts = identity = NULL;
  if (url.scheme)
    xd_url_free (&url);
}

void
xd_glue_remote_dump (void)
{
#ifdef HAVE_LIBCURL
  printf ("xdisk_libcurl=yes\n");
#else
  printf ("xdisk_libcurl=no\n");
#endif
#ifdef HAVE_LIBSSH
  printf ("xdisk_libssh=yes\n");
#else
  printf ("xdisk_libssh=no\n");
#endif
}
