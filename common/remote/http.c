/* xdisk: the HTTP site (see xd-remote.h, xd-site.h). */

#include <config.h>

#include <errno.h>

#include "remote/xd-site.h"
#include "include/xd-report.h"

#ifdef HAVE_LIBCURL

#error "to be written"

#else /* !HAVE_LIBCURL */

struct xd_site *
xd_http_site_new (const struct xd_url *url,
                  const struct xd_remote_opts *opts XD_UNUSED)
{
  xd_error ("%s:// URLs need HTTP support: xdisk was built without "
            "libcurl (Debian: libcurl4-openssl-dev)", url->scheme);
  errno = ENOTSUP;
  return NULL;
}

#endif /* !HAVE_LIBCURL */
