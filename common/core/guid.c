/* xdisk: GUIDs and UUIDs; see xd-guid.h. */

#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xd-guid.h"
#include "core/xd-random.h"
#include "include/xd-bytes.h"
#include "include/xd-iszero.h"

/* Random bytes with the version (4, random) in the high nibble of the
 * byte at VERSION_AT and the variant (binary 10) in byte 8: where the
 * version lands depends on the byte order of the time_hi field.
 */
static int
generate (uint8_t g[16], size_t version_at)
{
  if (xd_random_bytes (g, 16) == -1)
    return -1;
  g[version_at] = (uint8_t) ((g[version_at] & 0x0f) | 0x40);
  g[8] = (uint8_t) ((g[8] & 0x3f) | 0x80);
  return 0;
}

int
xd_guid_generate (uint8_t guid[16])
{
  return generate (guid, 7);    /* time_hi little-endian */
}

int
xd_uuid_generate (uint8_t uuid[16])
{
  return generate (uuid, 6);    /* time_hi big-endian */
}

void
xd_guid_format (const uint8_t g[16], char out[XD_GUID_TEXT])
{
  snprintf (out, XD_GUID_TEXT,
            "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            (unsigned) xd_le32 (g), (unsigned) xd_le16 (g + 4),
            (unsigned) xd_le16 (g + 6), g[8], g[9], g[10], g[11], g[12],
            g[13], g[14], g[15]);
}

int
xd_guid_parse (const char *s, uint8_t g[16])
{
  /* Where each stored byte's two hex digits stand in the text. */
  static const int pos[16] = { 6, 4, 2, 0, 11, 9, 16, 14,
                               19, 21, 24, 26, 28, 30, 32, 34 };
  size_t i;

  if (*s == '{')
    s++;
  if (strlen (s) < 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' ||
      s[23] != '-')
    return -1;
  for (i = 0; i < 16; i++) {
    char hex[3] = { s[pos[i]], s[pos[i] + 1], '\0' };
    if (!isxdigit ((unsigned char) hex[0]) ||
        !isxdigit ((unsigned char) hex[1]))
      return -1;
    g[i] = (uint8_t) strtoul (hex, NULL, 16);
  }
  return 0;
}

bool
xd_guid_is_null (const uint8_t guid[16])
{
  return xd_is_zero (guid, 16);
}
