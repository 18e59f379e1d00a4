/* xdisk: the sector contents the crash tests write (the power-loss
 * simulator, common/crash.c, and the NBD client of the kill tests,
 * tests/crash-client.c).
 *
 * Sector S written by operation K (K >= 1) of a run with SEED holds 64
 * words derived from K, S and SEED, so a sector read back is traced to
 * the one operation that wrote it there, and data from another sector,
 * operation or run is recognised.  Header-only: crash-client links no
 * xdisk library.
 */
#ifndef XDISK_PATTERN_H
#define XDISK_PATTERN_H

#include <stdint.h>
#include <string.h>

#define XD_PATTERN_SECTOR 512

static inline uint64_t
xd_pattern_word (uint64_t seed, unsigned long k, uint64_t s, unsigned j)
{
  uint64_t w0 = ((uint64_t) k << 32) | (s & 0xffffffff);

  if (j == 0)
    return w0;
  return (w0 + (uint64_t) j * UINT64_C (0x9E3779B97F4A7C15)) ^
    (seed * UINT64_C (0xD6E8FEB86659FD93));
}

/* Fill COUNT sectors from sector FIRST with op K's contents. */
static inline void
xd_pattern_fill (uint64_t seed, unsigned char *buf, unsigned long k,
                 uint64_t first, uint64_t count)
{
  uint64_t s;
  unsigned j;

  for (s = 0; s < count; s++)
    for (j = 0; j < XD_PATTERN_SECTOR / 8; j++) {
      uint64_t w = xd_pattern_word (seed, k, first + s, j);
      memcpy (buf + s * XD_PATTERN_SECTOR + j * 8, &w, 8);
    }
}

/* The op whose contents sector S holds, or 0 if none. */
static inline unsigned long
xd_pattern_op (uint64_t seed, const unsigned char *sec, uint64_t s)
{
  uint64_t w0;
  unsigned long k;
  unsigned j;

  memcpy (&w0, sec, 8);
  k = (unsigned long) (w0 >> 32);
  if (k == 0 || (w0 & 0xffffffff) != (s & 0xffffffff))
    return 0;
  for (j = 1; j < XD_PATTERN_SECTOR / 8; j++) {
    uint64_t w;
    memcpy (&w, sec + j * 8, 8);
    if (w != xd_pattern_word (seed, k, s, j))
      return 0;
  }
  return k;
}

#endif /* XDISK_PATTERN_H */
