/* xdisk: what each remote protocol implements (see xd-remote.h).
 * Internal to common/remote/.
 */
#ifndef XDISK_SITE_H
#define XDISK_SITE_H

#include "remote/xd-remote.h"

struct xd_site_ops {
  const char *protocol;         /* "HTTP", "SFTP": for messages */
  /* As xd_site_open. */
  struct xd_io *(*open) (struct xd_site *site, const struct xd_url *url,
                         bool quiet);
  /* As xd_site_list; NULL when the protocol cannot list. */
  int (*list) (struct xd_site *site, const char *dir,
               xd_list_fn fn, void *opaque);
  /* Free the site; every io it opened has been closed. */
  void (*free) (struct xd_site *site);
};

/* Each protocol's site begins with this. */
struct xd_site {
  const struct xd_site_ops *ops;
};

/* Each returns NULL after reporting. */
extern struct xd_site *xd_http_site_new (const struct xd_url *url,
                                         const struct xd_remote_opts *opts);
extern struct xd_site *xd_sftp_site_new (const struct xd_url *url,
                                         const struct xd_remote_opts *opts);

#endif /* XDISK_SITE_H */
