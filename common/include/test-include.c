/* Unit tests of the tiny headers in common/include: byte order, checked
 * arithmetic, growable arrays, is-zero and the sorted-range search.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "include/xd-bytes.h"
#include "include/xd-clock.h"
#include "include/xd-iszero.h"
#include "include/xd-math.h"
#include "include/xd-search.h"
#include "include/xd-vector.h"

START_TEST (test_bytes)
{
  const unsigned char b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  unsigned char out[8];

  ck_assert_uint_eq (xd_le16 (b), 0x0201);
  ck_assert_uint_eq (xd_be16 (b), 0x0102);
  ck_assert_uint_eq (xd_le32 (b + 1), 0x05040302);
  ck_assert_uint_eq (xd_be32 (b), 0x01020304);
  ck_assert_uint_eq (xd_le64 (b), UINT64_C (0x0807060504030201));
  ck_assert_uint_eq (xd_be64 (b), UINT64_C (0x0102030405060708));
  xd_put_be64 (out, UINT64_C (0x0102030405060708));
  ck_assert_mem_eq (out, b, 8);
  xd_put_le32 (out, 0x04030201);
  ck_assert_mem_eq (out, b, 4);
}
END_TEST

START_TEST (test_math)
{
  uint64_t r;

  ck_assert (!xd_add_overflow (1, 2, &r) && r == 3);
  ck_assert (xd_add_overflow (UINT64_MAX, 1, &r));
  ck_assert (xd_mul_overflow (UINT64_C (1) << 32, UINT64_C (1) << 32, &r));
  ck_assert (!xd_mul_overflow (512, 1000, &r) && r == 512000);
  ck_assert (xd_is_power_of_2 (65536));
  ck_assert (!xd_is_power_of_2 (0));
  ck_assert (!xd_is_power_of_2 (3 * 512));
  ck_assert_uint_eq (xd_log2 (65536), 16);
  ck_assert (!xd_round_up_overflow (513, 512, &r) && r == 1024);
  ck_assert (xd_round_up_overflow (UINT64_MAX - 3, 512, &r));
  ck_assert_uint_eq (xd_div_round_up (1025, 512), 3);
}
END_TEST

/* Appending one at a time keeps every element, and the capacity grows
 * geometrically: a thousand appends move the array a handful of times.
 */
START_TEST (test_vector_append)
{
  XD_VECTOR (uint32_t) v = { 0 };
  size_t i, moves = 0, last_cap = 0;

  for (i = 0; i < 1000; i++) {
    ck_assert_int_eq (xd_vector_append (&v, (uint32_t) (i * 7)), 0);
    if (v.cap != last_cap) {
      moves++;
      ck_assert_uint_ge (v.cap, 2 * last_cap);
      last_cap = v.cap;
    }
  }
  ck_assert_uint_eq (v.len, 1000);
  ck_assert_uint_ge (v.cap, v.len);
  ck_assert_uint_le (moves, 10);
  for (i = 0; i < 1000; i++)
    ck_assert_uint_eq (v.ptr[i], i * 7);
  xd_vector_free (&v);
  ck_assert_ptr_null (v.ptr);
  ck_assert_uint_eq (v.len, 0);
  ck_assert_uint_eq (v.cap, 0);
}
END_TEST

/* Reserving leaves the length alone and makes room for exactly what was
 * asked or more; reserving what is already there does not move it.
 */
START_TEST (test_vector_reserve)
{
  XD_VECTOR (char) v = { 0 };
  char *before;

  ck_assert_int_eq (xd_vector_reserve (&v, 100), 0);
  ck_assert_uint_eq (v.len, 0);
  ck_assert_uint_ge (v.cap, 100);
  before = v.ptr;
  v.len = 50;
  ck_assert_int_eq (xd_vector_reserve (&v, 50), 0);
  ck_assert_ptr_eq (v.ptr, before);
  xd_vector_free (&v);
}
END_TEST

/* A count from a crafted image must not wrap the allocation: sizes whose
 * element count or byte count overflow fail with ENOMEM and leave the
 * array as it was.
 */
START_TEST (test_vector_overflow)
{
  struct big { uint64_t a, b; };
  XD_VECTOR (struct big) v = { 0 };
  struct big *ptr = NULL;
  size_t len = 0, cap = 0;

  ck_assert_int_eq (xd_vector_append (&v, ((struct big) { 1, 2 })), 0);
  errno = 0;
  ck_assert_int_eq (xd_vector_reserve (&v, SIZE_MAX), -1);
  ck_assert_int_eq (errno, ENOMEM);
  /* 2^60 elements of 16 bytes: the byte count wraps to 0. */
  errno = 0;
  ck_assert_int_eq (xd_vector_reserve (&v, (size_t) 1 << 60), -1);
  ck_assert_int_eq (errno, ENOMEM);
  ck_assert_uint_eq (v.len, 1);
  ck_assert_uint_eq (v.ptr[0].b, 2);
  xd_vector_free (&v);

  /* The same through separate fields. */
  ck_assert_int_eq (XD_RESERVE (ptr, len, cap, (size_t) 1 << 61), -1);
  ck_assert_ptr_null (ptr);
  ck_assert_uint_eq (cap, 0);
  ck_assert_int_eq (XD_RESERVE (ptr, len, cap, 3), 0);
  ck_assert_uint_ge (cap, 3);
  free (ptr);
}
END_TEST

START_TEST (test_iszero)
{
  unsigned char b[4097];
  size_t n, i;

  memset (b, 0, sizeof b);
  ck_assert (xd_is_zero (b, 0));
  for (n = 1; n <= sizeof b; n = n < 64 ? n + 1 : n * 2 + 1) {
    ck_assert (xd_is_zero (b, n));
    /* A non-zero byte anywhere, the first and the last included. */
    for (i = 0; i < n; i++) {
      b[i] = 0x80;
      ck_assert_msg (!xd_is_zero (b, n), "byte %zu of %zu", i, n);
      b[i] = 0;
    }
  }
  /* Bytes beyond the length do not count. */
  b[10] = 1;
  ck_assert (xd_is_zero (b, 10));
}
END_TEST

struct range { uint64_t start; uint32_t pad; uint64_t len; };

/* What the search must answer, found by walking the array. */
static size_t
linear_at_or_before (const struct range *r, size_t n, uint64_t offset)
{
  size_t i, found = 0;

  for (i = 0; i < n; i++)
    if (r[i].start <= offset)
      found = i;
  return found;
}

static size_t
linear_ending_after (const struct range *r, size_t n, uint64_t offset)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (r[i].start + r[i].len > offset)
      return i;
  return n;
}

/* Every offset around every boundary, for every length up to 9, of
 * ranges with gaps between some of them.
 */
START_TEST (test_search)
{
  struct range r[9];
  uint64_t starts[9];
  uint64_t at = 10, off;
  size_t n, i;

  for (i = 0; i < 9; i++) {
    r[i].start = starts[i] = at;
    r[i].len = 5 + i;
    at += r[i].len + (i % 3 == 0 ? 4 : 0);
  }
  for (n = 0; n <= 9; n++)
    for (off = 0; off < at + 5; off++) {
      ck_assert_uint_eq (XD_SEARCH_AT_OR_BEFORE (r, n, start, off),
                         linear_at_or_before (r, n, off));
      ck_assert_uint_eq (XD_SEARCH_STARTS (starts, n, off),
                         linear_at_or_before (r, n, off));
      ck_assert_uint_eq (XD_SEARCH_ENDING_AFTER (r, n, start, len, off),
                         linear_ending_after (r, n, off));
    }
  /* Offsets near the top of the range do not wrap. */
  r[0].start = 0;
  r[1].start = UINT64_MAX - 1;
  ck_assert_uint_eq (XD_SEARCH_AT_OR_BEFORE (r, 2, start, UINT64_MAX), 1);
  ck_assert_uint_eq (XD_SEARCH_AT_OR_BEFORE (r, 2, start, UINT64_MAX - 2),
                     0);
}
END_TEST

START_TEST (test_clock)
{
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond;
  struct timespec ts = xd_monotonic_at (UINT64_C (12345));
  uint64_t start;

  ck_assert_int_eq (ts.tv_sec, 12);
  ck_assert_int_eq (ts.tv_nsec, 345000000);
  /* A wait times out on the monotonic clock: not before its deadline,
   * and not at once.
   */
  xd_cond_init_monotonic (&cond);
  start = xd_now_ms ();
  ts = xd_monotonic_at (start + 50);
  pthread_mutex_lock (&lock);
  while (pthread_cond_timedwait (&cond, &lock, &ts) == 0)
    ;
  pthread_mutex_unlock (&lock);
  ck_assert_uint_ge (xd_now_ms (), start + 50);
  pthread_cond_destroy (&cond);
}
END_TEST

static Suite *
include_suite (void)
{
  Suite *s = suite_create ("include");
  TCase *tc = tcase_create ("headers");

  tcase_add_test (tc, test_bytes);
  tcase_add_test (tc, test_math);
  tcase_add_test (tc, test_vector_append);
  tcase_add_test (tc, test_vector_reserve);
  tcase_add_test (tc, test_vector_overflow);
  tcase_add_test (tc, test_iszero);
  tcase_add_test (tc, test_search);
  tcase_add_test (tc, test_clock);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (include_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
