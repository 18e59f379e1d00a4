/* xdisk: text stored in images, see xd-text.h. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "include/xd-bytes.h"
#include "include/xd-report.h"
#include "core/xd-text.h"

/* Append code point CP as UTF-8 at OUT, returning the bytes written. */
static size_t
put_utf8 (char *out, uint32_t cp)
{
  if (cp < 0x80) {
    out[0] = (char) cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char) (0xC0 | (cp >> 6));
    out[1] = (char) (0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char) (0xE0 | (cp >> 12));
    out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char) (0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char) (0xF0 | (cp >> 18));
  out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char) (0x80 | (cp & 0x3F));
  return 4;
}

char *
xd_utf16le_to_utf8 (const void *buf, size_t len)
{
  const unsigned char *p = buf;
  size_t units = len / 2, i, n = 0;
  char *out;

  if (len % 2 != 0) {
    errno = EILSEQ;
    return NULL;
  }
  /* Each UTF-16 code unit becomes at most 3 bytes of UTF-8 (a surrogate
   * pair, 2 units, becomes 4).
   */
  out = malloc (units * 3 + 1);
  if (out == NULL)
    return NULL;
  for (i = 0; i < units; ++i) {
    uint32_t cp = xd_le16 (p + 2 * i);
    if (cp == 0)
      break;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo = i + 1 < units ? xd_le16 (p + 2 * (i + 1)) : 0;
      if (lo < 0xDC00 || lo > 0xDFFF)
        goto bad;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      i++;
    }
    else if (cp >= 0xDC00 && cp <= 0xDFFF)
      goto bad;
    n += put_utf8 (out + n, cp);
  }
  out[n] = '\0';
  return out;

 bad:
  free (out);
  errno = EILSEQ;
  return NULL;
}

char *
xd_strndup_field (const void *buf, size_t len)
{
  const char *p = buf;
  const char *nul = memchr (p, '\0', len);

  return strndup (p, nul ? (size_t) (nul - p) : len);
}

int
xd_parse_bool (const char *key, const char *value)
{
  static const char *const yes[] = { "1", "true", "yes", "on" };
  static const char *const no[] = { "0", "false", "no", "off" };
  size_t i;

  for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp (value, yes[i]) == 0)
      return 1;
    if (strcasecmp (value, no[i]) == 0)
      return 0;
  }
  xd_error ("%s=%s: expected true or false", key, value);
  return -1;
}

void
xd_human_size (uint64_t v, char *out, size_t len)
{
  static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB",
                                       "PiB", "EiB" };
  size_t u = 0;

  while (u < 6 && v >= 1024 && v % 1024 == 0) {
    v /= 1024;
    u++;
  }
  snprintf (out, len, "%" PRIu64 " %s", v, units[u]);
}
