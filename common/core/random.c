/* xdisk: the one source of random numbers; see xd-random.h. */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "core/xd-random.h"
#include "include/xd-report.h"

int
xd_random_bytes (void *buf, size_t len)
{
  unsigned char *p = buf;

  /* getrandom returns at most 32 MiB at once and may be interrupted. */
  while (len > 0) {
    ssize_t r = getrandom (p, len, 0);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      xd_error ("getrandom: %m");
      return -1;
    }
    p += r;
    len -= (size_t) r;
  }
  return 0;
}

uint32_t
xd_random_u32 (void)
{
  struct timespec ts;
  uint32_t r;

  /* Never block: the caller has no way to fail. */
  if (getrandom (&r, sizeof r, GRND_NONBLOCK) == sizeof r)
    return r;
  clock_gettime (CLOCK_REALTIME, &ts);
  return ((uint32_t) ts.tv_sec ^ (uint32_t) ts.tv_nsec ^
          ((uint32_t) getpid () << 16)) * 2654435761U;
}
