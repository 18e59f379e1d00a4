/* xdisk: is a buffer all zero bytes?
 *
 * Used on the hot path (zero grains and blocks are not stored), so it
 * leaves the work to memcmp: if the first byte is zero and every byte
 * equals the one before it, all are zero.
 */
#ifndef XDISK_ISZERO_H
#define XDISK_ISZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static inline bool
xd_is_zero (const void *buf, size_t len)
{
  const unsigned char *p = buf;

  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

#endif /* XDISK_ISZERO_H */
