/* xdisk: CRC-32C, see xd-checksum.h.
 *
 * A slice-by-8 table implementation: portable, and fast enough that
 * checksumming the VHDX metadata at open is not noticeable.  The tables
 * are built once, on first use.
 */

#include <config.h>

#include <pthread.h>
#include <stdint.h>

#include "include/xd-bytes.h"
#include "core/xd-checksum.h"

#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
build_tables (void)
{
  uint32_t i, j, c;

  for (i = 0; i < 256; ++i) {
    c = i;
    for (j = 0; j < 8; ++j)
      c = (c >> 1) ^ ((c & 1) ? CRC32C_POLY_REFLECTED : 0);
    table[0][i] = c;
  }
  for (i = 0; i < 256; ++i)
    for (j = 1; j < 8; ++j)
      table[j][i] = (table[j - 1][i] >> 8) ^ table[0][table[j - 1][i] & 0xff];
}

uint32_t
xd_crc32c (uint32_t crc, const void *buf, size_t len)
{
  const unsigned char *p = buf;

  pthread_once (&table_once, build_tables);
  crc = ~crc;
  while (len >= 8) {
    uint32_t lo = xd_le32 (p) ^ crc, hi = xd_le32 (p + 4);
    crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
      table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
      table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
    p += 8;
    len -= 8;
  }
  while (len-- > 0)
    crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

uint32_t
xd_crc32c_skip_field (const void *buf, size_t len, size_t field_offset)
{
  static const unsigned char zeros[4];
  const unsigned char *p = buf;
  uint32_t crc;

  if (field_offset + 4 > len)
    return xd_crc32c (0, buf, len);
  crc = xd_crc32c (0, p, field_offset);
  crc = xd_crc32c (crc, zeros, 4);
  return xd_crc32c (crc, p + field_offset + 4, len - field_offset - 4);
}
