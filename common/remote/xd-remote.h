/* xdisk: images read where they live: over HTTP(S) (libcurl) and SFTP
 * (libssh).
 *
 * A site is one origin (scheme, user, host, port) with its credentials,
 * its connections and, for a VMware datastore, its session cookie.
 * Every file of an image (the image, its extents, parents, backing
 * files) is opened from the same site, through the url resolver below,
 * which applies the confinement rule of xd-url.h.
 *
 * The ios a site opens are read-only, thread-safe (many reads in
 * flight at once over the site's connections), and report errors with
 * xd_url_display's form of the URL: never a password, a cookie or a
 * token.
 */
#ifndef XDISK_REMOTE_H
#define XDISK_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/xd-format.h"
#include "io/xd-io.h"
#include "remote/xd-url.h"

enum xd_redirects {
  XD_REDIRECTS_NONE,            /* default: a 3xx is an error */
  XD_REDIRECTS_SAME_ORIGIN,     /* followed to the same origin only */
  XD_REDIRECTS_ANY,             /* followed anywhere (no credentials) */
};

struct xd_remote_opts {
  const char *user;             /* user=, else the URL's user */
  const char *password;         /* password= as read (a secret), or NULL */
  /* HTTP(S). */
  bool sslverify;               /* verify the server's certificate */
  const char *cainfo;           /* cainfo=FILE, or NULL */
  /* thumbprint=: a certificate's SHA-1 (VMware's xx:xx:... form, 20
   * pairs) or SHA-256 (32 pairs), or curl's "sha256//BASE64" of the
   * public key.  The connection is refused before any credential is
   * sent when it does not match.
   */
  const char *thumbprint;
  enum xd_redirects redirects;
  /* SSH. */
  const char *known_hosts;      /* known-hosts=FILE, or NULL: defaults */
  const char *identity;         /* identity=FILE, or NULL */
  bool verify_remote_host;      /* default true */
  /* Both. */
  unsigned connections;         /* at most this many at once (> 0) */
  unsigned retries;             /* transient failures retried per request */
  unsigned retry_seconds;       /* and for at most this long in all */
  unsigned timeout;             /* seconds a request may take, 0: none */
};

/* Defaults: sslverify, verify_remote_host, XD_REDIRECTS_NONE, 4
 * connections, 4 retries within 60 s, no timeout.
 */
extern void xd_remote_opts_init (struct xd_remote_opts *opts);

struct xd_site;

/* A site for the origin of URL, connecting lazily or now (SSH connects
 * and authenticates now, so that a wrong key is said at startup).
 * OPTS is copied (strings too).  NULL after reporting; errno ENOTSUP
 * when xdisk was built without the library the scheme needs.
 */
extern struct xd_site *xd_site_new (const struct xd_url *url,
                                    const struct xd_remote_opts *opts);
extern void xd_site_free (struct xd_site *site);

/* Open the file at URL (same origin as the site) read-only: its size
 * from HEAD or fstat.  The io's name is xd_url_display (URL): the url
 * resolver finds the URL of a file again by it.  QUIET: report nothing and return NULL with
 * errno ENOENT (no such file), EACCES (refused: wrong credentials,
 * forbidden), or EIO (anything else).  Otherwise report why.
 */
extern struct xd_io *xd_site_open (struct xd_site *site,
                                   const struct xd_url *url, bool quiet);

/* Call FN with the URL path (encoded, absolute) of every file in the
 * directory DIR (encoded, ending in '/'), sorted, when the protocol can
 * list (SFTP); 0 without calling FN when it cannot (HTTP).  -1 if FN
 * returns -1.  FN returning 1 stops the walk.
 */
extern int xd_site_list (struct xd_site *site, const char *dir,
                         xd_list_fn fn, void *opaque);

/* The confinement of names an image holds: the image's directory, or
 * everything on the site (allow-external-files=true), or that plus
 * listed directory prefixes of the same origin.
 */
struct xd_url_policy {
  struct xd_url top;            /* the image as given */
  char *root_dir;               /* top's directory (encoded path) */
  bool allow_any;
  char **allowed_dirs;          /* encoded path prefixes, same origin */
  size_t nr_allowed_dirs;
};

/* ALLOW is allow-external-files=: NULL/"false", "true", or a list of
 * URLs separated by spaces or commas, each a directory on TOP's origin
 * (refused otherwise).  0 or -1 after reporting.
 */
extern int xd_url_policy_init (struct xd_url_policy *policy,
                               const struct xd_url *top, const char *allow);
extern void xd_url_policy_free (struct xd_url_policy *policy);

/* A resolver that opens names through SITE under POLICY (both must
 * outlive it).  The 'from' names it is given and gives are
 * xd_url_display forms of the ios it opened; it keeps the URL of each.
 * Every io it opens is wrapped in a block cache (xd-iocache.h).
 */
extern struct xd_resolver *xd_resolver_new_url (struct xd_site *site,
                                                const struct xd_url_policy *policy);

/* Open the top image URL through RESOLVER (one made by
 * xd_resolver_new_url), so that names in it resolve against it.
 * Reported on failure.
 */
extern struct xd_io *xd_resolver_open_top (const struct xd_resolver *r,
                                           const struct xd_url *url);

#endif /* XDISK_REMOTE_H */
