/* xdisk: tar headers for the archives xdisk creates, see
 * xd-tar-write.h.
 *
 * Header layout (POSIX.1-1988 ustar, offsets in bytes):
 *   0 name[100]  100 mode[8]  108 uid[8]  116 gid[8]  124 size[12]
 *   136 mtime[12]  148 chksum[8]  156 typeflag  257 magic[6]
 *   263 version[2]  265 uname[32]  297 gname[32]
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "archive/xd-tar-write.h"
#include "include/xd-report.h"

/* Largest size ustar's 11 octal digits hold: 8 GiB - 1. */
#define USTAR_MAX_SIZE ((UINT64_C (1) << 33) - 1)

/* Write V as LEN - 1 octal digits and a NUL into FIELD. */
static void
put_octal (uint8_t *field, size_t len, uint64_t v)
{
  char digits[24];

  snprintf (digits, sizeof digits, "%0*llo", (int) (len - 1),
            (unsigned long long) v);
  memcpy (field, digits, len);
}

/* GNU base-256: the top bit of the first byte set, the value big-endian
 * in the remaining bytes of the 12-byte field.
 */
static void
put_base256 (uint8_t field[12], uint64_t v)
{
  int i;

  memset (field, 0, 12);
  for (i = 11; i >= 4; i--, v >>= 8)
    field[i] = (uint8_t) v;
  field[0] = 0x80;
}

/* The checksum: the sum of every byte with the field itself as spaces. */
static void
put_checksum (uint8_t block[XD_TAR_BLOCK])
{
  unsigned sum = 0;
  size_t i;

  memset (block + 148, ' ', 8);
  for (i = 0; i < XD_TAR_BLOCK; i++)
    sum += block[i];
  put_octal (block + 148, 7, sum);
}

int
xd_tar_make_header (uint8_t block[XD_TAR_BLOCK], const char *name,
                    uint64_t size, uint64_t mtime)
{
  size_t name_len = strlen (name);

  if (name_len == 0 || name_len > XD_TAR_WRITE_MAX_NAME) {
    xd_error ("tar member name '%s': must be 1 to %d bytes", name,
              XD_TAR_WRITE_MAX_NAME);
    errno = EINVAL;
    return -1;
  }
  memset (block, 0, XD_TAR_BLOCK);
  memcpy (block, name, name_len);
  put_octal (block + 100, 8, 0644);
  put_octal (block + 108, 8, 0);
  put_octal (block + 116, 8, 0);
  put_octal (block + 136, 12, mtime & ((UINT64_C (1) << 33) - 1));
  block[156] = '0';
  memcpy (block + 265, "root", 4);
  memcpy (block + 297, "root", 4);
  if (size <= USTAR_MAX_SIZE) {
    put_octal (block + 124, 12, size);
    memcpy (block + 257, "ustar\0" "00", 8);
  }
  else {
    put_base256 (block + 124, size);
    memcpy (block + 257, "ustar  ", 8);   /* GNU magic and version */
  }
  put_checksum (block);
  return 0;
}

void
xd_tar_make_unfinished (uint8_t block[XD_TAR_BLOCK], const char *kind)
{
  memset (block, 0, XD_TAR_BLOCK);
  snprintf ((char *) block, XD_TAR_BLOCK,
            XD_TAR_UNFINISHED_TEXT ": its creation stopped before the "
            "last disk was written and the archive completed.\n", kind);
  /* A checksum field that cannot match: not octal digits. */
  memcpy (block + 148, "NOTATAR", 8);
}
