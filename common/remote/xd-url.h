/* xdisk: URLs of remote images, and the names images hold resolved
 * against them.
 *
 * An image given by url= names other files (extents, parents, backing
 * files, disks of a VM).  Those names come from the image, so they are
 * untrusted: they are resolved against the directory of the file that
 * holds them, on the same scheme, host and port, with the query string
 * of the image's URL kept (an ESXi datastore's ?dcPath=&dsName=), and
 * the result must lie under the confinement root (the image's
 * directory by default) or one of the prefixes the user allowed.
 *
 * Paths are kept percent-encoded as they go on the wire; the bytes of a
 * name are encoded segment by segment and never decoded.
 *
 * Nothing here prints a password or a query string's secret values:
 * xd_url_display is what messages show.
 */
#ifndef XDISK_URL_H
#define XDISK_URL_H

#include <stdbool.h>

struct xd_url {
  char *scheme;                 /* "http", "https" or "ssh", lower case */
  char *user;                   /* user name from the URL, decoded, or NULL */
  char *host;                   /* as written, without brackets for IPv6 */
  unsigned port;                /* given, or the scheme's default */
  bool port_given;
  char *path;                   /* percent-encoded, starts with '/' */
  char *query;                  /* without the '?', or NULL */
};

/* Parse TEXT (url= as given).  Refuses other schemes, a password in the
 * URL (use password=), a fragment, control characters and a malformed
 * host or port.  The message never repeats the URL's userinfo.  0, or
 * -1 after reporting.
 */
extern int xd_url_parse (const char *text, struct xd_url *url);
extern void xd_url_free (struct xd_url *url);
extern int xd_url_copy (const struct xd_url *from, struct xd_url *to);

/* The URL to send: scheme://host[:port]/path[?query], without the user.
 * Malloc'd, NULL on allocation failure (reported).
 */
extern char *xd_url_wire (const struct xd_url *url);

/* The URL for messages and debug output: as xd_url_wire, but query
 * values other than dcPath and dsName are shown as "..." (a SAS token or
 * a signature is a credential).  Malloc'd, never NULL (a fixed text on
 * allocation failure, which must still be freed).
 */
extern char *xd_url_display (const struct xd_url *url);

/* The path, percent-decoded (SFTP paths are plain bytes).  Malloc'd, or
 * NULL with errno EINVAL for an encoded NUL, reported.
 */
extern char *xd_url_decoded_path (const struct xd_url *url);

/* Same scheme, host and port (and user). */
extern bool xd_url_same_origin (const struct xd_url *a, const struct xd_url *b);

/* True if URL's path lies inside the directory PREFIX_PATH (encoded,
 * with or without a trailing '/').
 */
extern bool xd_url_path_inside (const struct xd_url *url,
                                const char *prefix_path);

/* The directory part of URL's path, ending in '/'.  Malloc'd or NULL
 * (reported).
 */
extern char *xd_url_dir (const struct xd_url *url);

/* Resolve NAME, a name stored in the file at FROM, to *OUT: same origin
 * and query as FROM.  The name's bytes: '\' is read as '/'; a Windows
 * absolute name (C:\..., \\?\..., \\server\...) keeps only its last
 * component, in FROM's directory; '/'-absolute names are paths on the
 * same host; "." and ".." segments are applied (refused if they climb
 * above '/'); every other byte outside the unreserved set is
 * percent-encoded.  Refused (errno EINVAL, *WHY set to a static
 * explanation, nothing reported): an empty name, control characters, a
 * scheme or protocol prefix ("http:", "file:", "json:", "nbd:" ...),
 * and a percent-encoded '.', '/', '\' or NUL (an escape written to get
 * past these checks).  0 on success.
 */
extern int xd_url_resolve (const struct xd_url *from, const char *name,
                           struct xd_url *out, const char **why);

#endif /* XDISK_URL_H */
