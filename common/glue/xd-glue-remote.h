/* xdisk: the plugins' parameters for images read where they live
 * (url= and its credentials, TLS and SSH settings), see xd-remote.h.
 * Includers define NBDKIT_API_VERSION and include nbdkit-plugin.h
 * first.
 */
#ifndef XDISK_GLUE_REMOTE_H
#define XDISK_GLUE_REMOTE_H

#include <stdbool.h>

#include "core/xd-format.h"

#define XD_GLUE_REMOTE_HELP \
  "url=<URL>           An image on a server (http://, https://, ssh://),\n" \
  "                    instead of file=.  Served read-only.\n" \
  "user=<USER> password=<PASSWORD>|-|+FILE|-FD\n" \
  "                    Credentials for url= (HTTP Basic, VMware, SSH).\n" \
  "sslverify=false     Do not verify the HTTPS server's certificate.\n" \
  "cainfo=<FILE>       CA certificates for HTTPS.\n" \
  "thumbprint=<xx:xx:..>|sha256//<BASE64>\n" \
  "                    Accept only this certificate (VMware's thumbprint).\n" \
  "redirects=none|same-origin|any   Which HTTP redirects to follow.\n" \
  "known-hosts=<FILE>  SSH known hosts (default ~/.ssh/known_hosts).\n" \
  "identity=<FILE>     SSH private key.\n" \
  "verify-remote-host=false  Do not check the SSH host key.\n" \
  "connections=<N>     Connections to the server (default 4).\n" \
  "retries=<N> retry-seconds=<S>  Budget for transient failures.\n" \
  "timeout=<S>         Seconds one request may take (default none).\n"

/* 0 if KEY is one of the parameters above (taken), 1 if not, -1 on a
 * bad value (reported).
 */
extern int xd_glue_config_remote (const char *key, const char *value);

/* A bare argument or file= that is a URL: true for http://, https://,
 * ssh://.
 */
extern bool xd_glue_looks_like_url (const char *value);

/* url= was given. */
extern bool xd_glue_remote (void);

/* Check the parameters once all are given: 0 or -1 after reporting. */
extern int xd_glue_remote_complete (void);

/* connections= (or its default). */
extern unsigned xd_glue_remote_connections (void);

/* The url= for messages (never a secret). */
extern const char *xd_glue_remote_display (void);

/* Connect and open the image at url=, with a resolver for the names it
 * holds under allow-external-files= ALLOW.  NULL after reporting.
 */
extern struct xd_io *xd_glue_remote_open (const char *allow,
                                          struct xd_resolver **resolver);

/* After the image and the resolver are closed. */
extern void xd_glue_remote_close (void);

/* Forget the parameters (.unload), wiping the password. */
extern void xd_glue_remote_free (void);

/* --dump-plugin lines: which URL schemes this build serves. */
extern void xd_glue_remote_dump (void);

#endif /* XDISK_GLUE_REMOTE_H */
