/* xdisk: finding the entry that holds an offset in a sorted array.
 *
 * Extent lists, chunk indexes, segment tables and restart points are
 * arrays sorted by a 64-bit start offset, their ranges not overlapping.
 * The macros take the array, its length and the name of the start (and
 * length) field; the binary search itself is written once, below.
 */
#ifndef XDISK_SEARCH_H
#define XDISK_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The start of entry I of the array at BASE, its entries STRIDE bytes
 * apart, the start field AT bytes into each.
 */
static inline uint64_t
xd_search_start_ (const void *base, size_t stride, size_t at, size_t i)
{
  uint64_t v;

  memcpy (&v, (const char *) base + i * stride + at, sizeof v);
  return v;
}

/* The last of N entries whose start is at or before OFFSET: the only one
 * that can hold it.  0 if there is none (N == 0, or OFFSET before the
 * first), so the caller still checks that the entry holds OFFSET.
 */
static inline size_t
xd_search_at_or_before_ (const void *base, size_t n, size_t stride,
                         size_t at, uint64_t offset)
{
  size_t lo = 0, hi = n;

  /* Invariant: entries before lo start at or before OFFSET (or lo is
   * 0), entries from hi on start after it.
   */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (xd_search_start_ (base, stride, at, mid) <= offset)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

#define XD_SEARCH_CHECK_FIELD_(array, field)                             \
  _Static_assert (sizeof (array)->field == sizeof (uint64_t),            \
                  #field " must be a 64-bit offset")

/* Index of the last entry of ARRAY[0..N) whose FIELD is <= OFFSET (0 if
 * none).  For an array of bare uint64_t starts, use XD_SEARCH_STARTS.
 */
#define XD_SEARCH_AT_OR_BEFORE(array, n, field, offset)                  \
  __extension__ ({                                                       \
    XD_SEARCH_CHECK_FIELD_ (array, field);                               \
    xd_search_at_or_before_ ((array), (n), sizeof *(array),              \
                             offsetof (__typeof__ (*(array)), field),    \
                             (offset));                                  \
  })

#define XD_SEARCH_STARTS(starts, n, offset)                              \
  __extension__ ({                                                       \
    _Static_assert (sizeof *(starts) == sizeof (uint64_t),               \
                    "starts must be 64-bit offsets");                    \
    xd_search_at_or_before_ ((starts), (n), sizeof (uint64_t), 0,        \
                             (offset));                                  \
  })

/* Index of the first entry of ARRAY[0..N) whose range [START,
 * START + LEN) ends after OFFSET: the one holding OFFSET, or the next
 * one after a gap; N if OFFSET is past them all.
 */
#define XD_SEARCH_ENDING_AFTER(array, n, start, len, offset)             \
  __extension__ ({                                                       \
    size_t xd_i_ = XD_SEARCH_AT_OR_BEFORE (array, n, start, offset);     \
    if (xd_i_ < (n) &&                                                   \
        (array)[xd_i_].start + (array)[xd_i_].len <= (offset))           \
      xd_i_++;                                                           \
    xd_i_;                                                               \
  })

#endif /* XDISK_SEARCH_H */
