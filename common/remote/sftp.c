/* xdisk: the SFTP site (see xd-remote.h, xd-site.h). */

#include <config.h>

#include <errno.h>

#include "remote/xd-site.h"
#include "include/xd-report.h"

#ifdef HAVE_LIBSSH

#error "to be written"

#else /* !HAVE_LIBSSH */

struct xd_site *
xd_sftp_site_new (const struct xd_url *url,
                  const struct xd_remote_opts *opts XD_UNUSED)
{
  xd_error ("%s:// URLs need SFTP support: xdisk was built without "
            "libssh (Debian: libssh-dev)", url->scheme);
  errno = ENOTSUP;
  return NULL;
}

#endif /* !HAVE_LIBSSH */
