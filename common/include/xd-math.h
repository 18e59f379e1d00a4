/* xdisk: overflow-checked arithmetic and small integer helpers.
 *
 * Every size, count and offset taken from an image is combined with
 * these, so that a crafted header cannot wrap a product or a sum into a
 * small, plausible-looking number.
 */
#ifndef XDISK_MATH_H
#define XDISK_MATH_H

#include <stdbool.h>
#include <stdint.h>

/* Each returns true if the result overflowed (and then *r is unusable). */
static inline bool
xd_add_overflow (uint64_t a, uint64_t b, uint64_t *r)
{
  return __builtin_add_overflow (a, b, r);
}

static inline bool
xd_mul_overflow (uint64_t a, uint64_t b, uint64_t *r)
{
  return __builtin_mul_overflow (a, b, r);
}

static inline bool
xd_is_power_of_2 (uint64_t v)
{
  return v != 0 && (v & (v - 1)) == 0;
}

/* log2 of a power of two. */
static inline unsigned
xd_log2 (uint64_t v)
{
  return v ? 63 - (unsigned) __builtin_clzll (v) : 0;
}

static inline uint64_t
xd_min_u64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

static inline uint64_t
xd_max_u64 (uint64_t a, uint64_t b)
{
  return a > b ? a : b;
}

/* Round up to a multiple of a power of two, or report overflow. */
static inline bool
xd_round_up_overflow (uint64_t v, uint64_t pow2, uint64_t *r)
{
  if (xd_add_overflow (v, pow2 - 1, r))
    return true;
  *r &= ~(pow2 - 1);
  return false;
}

/* Ceiling division, a and b from disk, b != 0 checked by the caller. */
static inline uint64_t
xd_div_round_up (uint64_t a, uint64_t b)
{
  return a / b + (a % b != 0);
}

#endif /* XDISK_MATH_H */
