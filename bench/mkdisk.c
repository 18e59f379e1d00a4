/* xdisk bench: write the deterministic raw test disk.
 *
 * Usage: mkdisk FILE SIZE_MIB [SEED]
 *
 * The disk is made of 1 MiB regions.  A PRNG seeded with SEED picks the
 * kind of every region, so the same SEED always gives the same bytes:
 *   about 50% incompressible data (PRNG output),
 *   about 20% compressible data (repeated text lines and byte patterns),
 *   about 30% holes (never written, so the file stays sparse).
 * Compiled on the fly by bench/run; C11, no dependency beyond libc.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REGION (1024 * 1024)

enum region_kind { REGION_RANDOM, REGION_TEXT, REGION_HOLE };

/* xorshift64*: tiny, fast and good enough for incompressible bytes. */
static uint64_t
next_random (uint64_t *state)
{
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * UINT64_C (2685821657736338717);
}

static enum region_kind
pick_kind (uint64_t *state)
{
  unsigned roll = (unsigned) (next_random (state) >> 32) % 10;

  if (roll < 5)
    return REGION_RANDOM;
  if (roll < 7)
    return REGION_TEXT;
  return REGION_HOLE;
}

static void
fill_random (unsigned char *buf, uint64_t *state)
{
  for (size_t i = 0; i < REGION; i += 8) {
    uint64_t v = next_random (state);
    memcpy (buf + i, &v, 8);
  }
}

/* Compressible but not all zero (zero blocks would be detected and
 * dropped by qemu-img, turning the region into a hole).  Alternate
 * text lines naming the region with short repeating byte patterns.
 */
static void
fill_text (unsigned char *buf, uint64_t region)
{
  size_t pos = 0;
  unsigned line = 0;

  while (pos < REGION) {
    char text[128];
    int len;

    if (line % 4 == 3)
      len = snprintf (text, sizeof text, "%c%c%c%c%c%c%c%c\n",
                      'A' + (int) (line % 26), 'a' + (int) (region % 26),
                      '0' + (int) (line % 10), '#', '-', '=', '+', '.');
    else
      len = snprintf (text, sizeof text,
                      "xdisk bench region %" PRIu64 " line %u: the quick "
                      "brown fox jumps over the lazy dog\n", region, line);
    for (int i = 0; i < len && pos < REGION; i++)
      buf[pos++] = (unsigned char) text[i];
    line++;
  }
}

static int
write_region (int fd, const unsigned char *buf, uint64_t region)
{
  off_t offset = (off_t) (region * REGION);
  size_t done = 0;

  while (done < REGION) {
    ssize_t r = pwrite (fd, buf + done, REGION - done,
                        offset + (off_t) done);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    done += (size_t) r;
  }
  return 0;
}

int
main (int argc, char *argv[])
{
  const char *file;
  char *end;
  uint64_t regions, state;
  unsigned char *buf;
  int fd;

  if (argc < 3 || argc > 4) {
    fprintf (stderr, "usage: %s FILE SIZE_MIB [SEED]\n", argv[0]);
    return 2;
  }
  file = argv[1];
  errno = 0;
  regions = strtoull (argv[2], &end, 10);
  if (errno || *end || regions == 0 || regions > (UINT64_C (1) << 30)) {
    fprintf (stderr, "%s: bad size in MiB: %s\n", argv[0], argv[2]);
    return 2;
  }
  state = argc == 4 ? strtoull (argv[3], NULL, 0) : 0x5eed;
  state ^= UINT64_C (0x9e3779b97f4a7c15); /* never let the state be 0 */
  if (state == 0)
    state = 1;

  buf = malloc (REGION);
  if (buf == NULL) {
    perror ("malloc");
    return 1;
  }
  fd = open (file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate (fd, (off_t) (regions * REGION)) < 0) {
    perror (file);
    return 1;
  }

  for (uint64_t region = 0; region < regions; region++) {
    enum region_kind kind = pick_kind (&state);

    if (kind == REGION_HOLE)
      continue;
    if (kind == REGION_RANDOM)
      fill_random (buf, &state);
    else
      fill_text (buf, region);
    if (write_region (fd, buf, region) < 0) {
      perror (file);
      return 1;
    }
  }

  if (close (fd) < 0) {
    perror (file);
    return 1;
  }
  free (buf);
  return 0;
}
