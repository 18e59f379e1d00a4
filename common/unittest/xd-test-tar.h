/* xdisk: tar headers built in memory for the unit tests. */
#ifndef XD_TEST_TAR_H
#define XD_TEST_TAR_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* MAGIC: "ustar" (POSIX, with version "00") or "ustar  " (old GNU). */
static inline void
xd_test_tar_header (uint8_t *b, const char *name, uint64_t size, char type,
                    const char *magic)
{
  unsigned sum = 0;
  size_t i;

  memset (b, 0, 512);
  memcpy (b, name, strnlen (name, 100));
  memcpy (b + 100, "0000644", 7);
  memcpy (b + 108, "0000000", 7);
  memcpy (b + 116, "0000000", 7);
  {
    char num[32];
    snprintf (num, sizeof num, "%011llo", (unsigned long long) size);
    memcpy (b + 124, num, 11);
  }
  memcpy (b + 136, "00000000000", 11);
  b[156] = (uint8_t) type;
  if (strcmp (magic, "ustar") == 0)
    memcpy (b + 257, "ustar\0" "00", 8);
  else
    memcpy (b + 257, "ustar  ", 8);
  memset (b + 148, ' ', 8);
  for (i = 0; i < 512; i++)
    sum += b[i];
  {
    char num[16];
    snprintf (num, sizeof num, "%06o", sum & 0777777);
    memcpy (b + 148, num, 7);
  }
}

#endif /* XD_TEST_TAR_H */
