/* xdisk: pack image files into a fuzz input bundle (see fuzz.h).
 *
 *   fuzz-pack [-m MAXBYTES] OUT FILE...
 *
 * Each FILE becomes a file of the bundle under its base name, with its
 * size and its non-zero 512-byte sectors as data records, so a 4 MiB
 * VHDX that is mostly zeros packs into a few KiB.  The first FILE is the
 * image the targets open.  make-seeds uses this.
 *
 * With -m, data records stop once the bundle would pass MAXBYTES (the
 * fuzzers' -max_len): the last 64 KiB of each file (VHD footers, stream
 * footers) come first, then the file from its start, where the metadata
 * of every format is.  Files stay their full size.
 */

#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "include/xd-bytes.h"

#define SECTOR 512

#define TAIL (64 * 1024)

static uint64_t budget = UINT64_MAX;    /* bytes left under -m */

static void
put_u64 (FILE *out, uint64_t v)
{
  uint8_t b[8];

  xd_put_le64 (b, v);
  fwrite (b, 1, 8, out);
}

/* A data record, clipped to what is left of the budget. */
static void
put_data (FILE *out, uint64_t off, const uint8_t *p, size_t len)
{
  uint8_t b[4];

  if (budget <= 13)
    return;
  if (len > budget - 13)
    len = budget - 13;
  budget -= 13 + len;
  fputc ('D', out);
  put_u64 (out, off);
  xd_put_le32 (b, (uint32_t) len);
  fwrite (b, 1, 4, out);
  fwrite (p, 1, len, out);
}

static bool
sector_is_zero (const uint8_t *buf, size_t len, size_t off)
{
  size_t i, end = len - off < SECTOR ? len : off + SECTOR;

  for (i = off; i < end; i++)
    if (buf[i])
      return false;
  return true;
}

/* Data records for the non-zero sectors of BUF in [FROM, TO). */
static void
put_range (FILE *out, const uint8_t *buf, size_t from, size_t to)
{
  size_t off = from, start;

  while (off < to) {
    while (off < to && sector_is_zero (buf, to, off))
      off += SECTOR;
    if (off >= to)
      break;
    start = off;
    while (off < to && !sector_is_zero (buf, to, off))
      off += SECTOR;
    if (off > to)
      off = to;
    put_data (out, start, buf + start, off - start);
  }
}

static uint8_t *
read_all (const char *path, size_t *lenp)
{
  FILE *in = fopen (path, "rb");
  uint8_t *buf = NULL, *n;
  size_t len = 0, got;

  if (in == NULL) {
    perror (path);
    return NULL;
  }
  do {
    n = realloc (buf, len + (1 << 20));
    if (n == NULL) {
      perror ("realloc");
      free (buf);
      fclose (in);
      return NULL;
    }
    buf = n;
    got = fread (buf + len, 1, 1 << 20, in);
    len += got;
  } while (got > 0);
  fclose (in);
  *lenp = len;
  return buf;
}

static int
pack_file (FILE *out, const char *path)
{
  const char *name = strrchr (path, '/') ? strrchr (path, '/') + 1 : path;
  size_t len, tail;
  uint8_t *buf;

  if (strlen (name) == 0 || strlen (name) > FZ_MAX_NAME) {
    fprintf (stderr, "%s: name too long for a bundle\n", path);
    return -1;
  }
  buf = read_all (path, &len);
  if (buf == NULL)
    return -1;
  fputc ('F', out);
  fputc ((int) strlen (name), out);
  fputs (name, out);
  fputc ('S', out);
  put_u64 (out, len);
  budget -= budget < 1 + 1 + strlen (name) + 9 ? budget
    : 1 + 1 + strlen (name) + 9;
  tail = len > TAIL ? (len - TAIL) & ~(size_t) (SECTOR - 1) : 0;
  put_range (out, buf, tail, len);
  put_range (out, buf, 0, tail);
  free (buf);
  return 0;
}

int
main (int argc, char *argv[])
{
  FILE *out;
  int i, first = 1;

  if (argc > 2 && strcmp (argv[1], "-m") == 0) {
    budget = strtoull (argv[2], NULL, 0);
    first = 3;
  }
  if (argc - first < 2) {
    fprintf (stderr, "usage: %s [-m MAXBYTES] OUT FILE...\n", argv[0]);
    return EXIT_FAILURE;
  }
  out = fopen (argv[first], "wb");
  if (out == NULL) {
    perror (argv[first]);
    return EXIT_FAILURE;
  }
  fputs (FZ_MAGIC, out);
  budget -= budget < 4 ? budget : 4;
  for (i = first + 1; i < argc; i++)
    if (pack_file (out, argv[i]) == -1) {
      fclose (out);
      remove (argv[first]);
      return EXIT_FAILURE;
    }
  if (fclose (out) != 0) {
    perror (argv[first]);
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
