/* Unit tests for the codec pools (xd-codec.h): both deflate wrappers
 * and zstd inflate through the pool, what the deflaters write inflates
 * back, damaged or cut input fails, and threads taking codecs at once
 * never make more of them than were in use at once.
 */

#include <config.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <zlib.h>
#ifdef HAVE_LIBZSTD
#include <zstd.h>
#endif

#include "io/xd-codec.h"

#define GRAIN 65536
#define THREADS 4
#define ROUNDS 200

/* Bytes that compress, as text does. */
static void
fill_text (unsigned char *p, size_t n, unsigned seed)
{
  size_t i;

  for (i = 0; i < n; i++)
    p[i] = "xdisk grains "[(i * 7 / 13 + seed) % 13];
}

/* Bytes that do not compress (a fixed xorshift, no unseeded random). */
static void
fill_noise (unsigned char *p, size_t n, uint32_t x)
{
  size_t i;

  for (i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = x;
  }
}

/* Inflate the SIZE bytes of PACKED, as a reader does; the result of
 * xd_inflater_run.
 */
static int
inflate_via_pool (struct xd_inflaters *pool, enum xd_deflate_wrap wrap,
                  const void *packed, size_t size, void *out, size_t cap,
                  size_t *got)
{
  struct xd_inflater *inf = xd_inflater_get (pool, size);
  int r;

  ck_assert_ptr_nonnull (inf);
  memcpy (xd_inflater_input (inf), packed, size);
  r = xd_inflater_run (inf, wrap, size, out, cap, got);
  xd_inflater_put (pool, inf);
  return r;
}

/* Both wrappers, through the pool, and a raw stream followed by the
 * padding qcow2 adds.
 */
START_TEST (test_inflate)
{
  struct xd_inflaters *pool = xd_inflaters_new ();
  unsigned char plain[4096], packed[8192], out[4096];
  uLongf packed_len = sizeof packed;
  struct xd_inflater *inf;
  z_stream zs;
  size_t got;

  fill_text (plain, sizeof plain, 0);
  ck_assert_int_eq (compress (packed, &packed_len, plain, sizeof plain),
                    Z_OK);
  inf = xd_inflater_get (pool, packed_len);
  ck_assert_ptr_nonnull (inf);
  memcpy (xd_inflater_input (inf), packed, packed_len);
  ck_assert_int_eq (xd_inflater_run (inf, XD_DEFLATE_ZLIB, packed_len, out,
                                     sizeof out, &got), 0);
  ck_assert_uint_eq (got, sizeof plain);
  ck_assert_mem_eq (out, plain, sizeof plain);
  /* A damaged stream fails. */
  xd_inflater_input (inf)[packed_len / 2] ^= 0xff;
  ck_assert_int_ne (xd_inflater_run (inf, XD_DEFLATE_ZLIB, packed_len, out,
                                     sizeof out, &got), 0);
  xd_inflater_put (pool, inf);

  memset (&zs, 0, sizeof zs);
  ck_assert_int_eq (deflateInit2 (&zs, 6, Z_DEFLATED, -12, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = plain;
  zs.avail_in = sizeof plain;
  zs.next_out = packed;
  zs.avail_out = sizeof packed;
  ck_assert_int_eq (deflate (&zs, Z_FINISH), Z_STREAM_END);
  packed_len = zs.total_out;
  deflateEnd (&zs);
  inf = xd_inflater_get (pool, packed_len + 512);
  memcpy (xd_inflater_input (inf), packed, packed_len);
  memset (xd_inflater_input (inf) + packed_len, 0xee, 512);
  ck_assert_int_eq (xd_inflater_run (inf, XD_DEFLATE_RAW, packed_len + 512,
                                     out, sizeof out, &got), 0);
  ck_assert_uint_eq (got, sizeof plain);
  ck_assert_mem_eq (out, plain, sizeof plain);
  xd_inflater_put (pool, inf);
  ck_assert_ptr_nonnull (xd_inflate_library ());
  xd_inflaters_free (pool);
}
END_TEST

/* A grain of text and one of noise: deflated by the pool, they inflate
 * back through the inflater pool and through zlib itself (what other
 * readers of the image use).
 */
START_TEST (test_deflate_round_trip)
{
  struct xd_deflaters *dpool = xd_deflaters_new (6);
  struct xd_inflaters *ipool = xd_inflaters_new ();
  size_t cap = xd_deflate_bound (GRAIN), n, got;
  unsigned char *plain = malloc (GRAIN), *packed = malloc (cap);
  unsigned char *out = malloc (GRAIN);
  struct xd_deflater *d;
  uLongf zlen;
  int kind;

  ck_assert_ptr_nonnull (dpool);
  ck_assert_ptr_nonnull (ipool);
  for (kind = 0; kind < 2; kind++) {
    if (kind == 0)
      fill_text (plain, GRAIN, 3);
    else
      fill_noise (plain, GRAIN, 2463534242u);
    d = xd_deflater_get (dpool);
    ck_assert_ptr_nonnull (d);
    n = xd_deflater_run (d, plain, GRAIN, packed, cap);
    xd_deflater_put (dpool, d);
    ck_assert_uint_gt (n, 0);
    ck_assert_uint_le (n, cap);
    if (kind == 0)
      ck_assert_uint_lt (n, GRAIN / 8);
    ck_assert_int_eq (inflate_via_pool (ipool, XD_DEFLATE_ZLIB, packed, n,
                                        out, GRAIN, &got), 0);
    ck_assert_uint_eq (got, GRAIN);
    ck_assert_mem_eq (out, plain, GRAIN);
    zlen = GRAIN;
    ck_assert_int_eq (uncompress (out, &zlen, packed, n), Z_OK);
    ck_assert_uint_eq (zlen, GRAIN);
    ck_assert_mem_eq (out, plain, GRAIN);
  }
  /* Too little room: 0, not a cut stream. */
  d = xd_deflater_get (dpool);
  ck_assert_uint_eq (xd_deflater_run (d, plain, GRAIN, packed, 64), 0);
  xd_deflater_put (dpool, d);
  xd_deflaters_free (dpool);
  xd_inflaters_free (ipool);
  free (plain);
  free (packed);
  free (out);
}
END_TEST

/* Damaged, cut or foreign input fails to inflate, and never writes
 * past the output's room.
 */
START_TEST (test_inflate_corrupt)
{
  struct xd_deflaters *dpool = xd_deflaters_new (6);
  struct xd_inflaters *ipool = xd_inflaters_new ();
  size_t cap = xd_deflate_bound (GRAIN), n, got;
  unsigned char *plain = malloc (GRAIN), *packed = malloc (cap);
  unsigned char *bad = malloc (cap), *out = malloc (GRAIN + 1);
  struct xd_deflater *d = xd_deflater_get (dpool);

  fill_text (plain, GRAIN, 5);
  n = xd_deflater_run (d, plain, GRAIN, packed, cap);
  xd_deflater_put (dpool, d);
  ck_assert_uint_gt (n, 16);
  /* Cut short. */
  ck_assert_int_ne (inflate_via_pool (ipool, XD_DEFLATE_ZLIB, packed, n / 2,
                                      out, GRAIN, &got), 0);
  /* A wrong zlib header (not deflate). */
  memcpy (bad, packed, n);
  bad[0] = 0x79;
  ck_assert_int_ne (inflate_via_pool (ipool, XD_DEFLATE_ZLIB, bad, n, out,
                                      GRAIN, &got), 0);
  /* A wrong Adler-32 at the end. */
  memcpy (bad, packed, n);
  bad[n - 1] ^= 0x01;
  ck_assert_int_ne (inflate_via_pool (ipool, XD_DEFLATE_ZLIB, bad, n, out,
                                      GRAIN, &got), 0);
  /* More bytes than the output holds. */
  out[GRAIN / 2] = 0xa5;
  ck_assert_int_ne (inflate_via_pool (ipool, XD_DEFLATE_ZLIB, packed, n, out,
                                      GRAIN / 2, &got), 0);
  ck_assert_uint_eq (out[GRAIN / 2], 0xa5);
  /* Noise is not a stream, in any of the wrappings. */
  fill_noise (bad, 4096, 88172645u);
  ck_assert_int_ne (inflate_via_pool (ipool, XD_DEFLATE_ZLIB, bad, 4096, out,
                                      GRAIN, &got), 0);
  ck_assert_int_ne (inflate_via_pool (ipool, XD_DEFLATE_RAW, bad, 4096, out,
                                      GRAIN, &got), 0);
#ifdef HAVE_LIBZSTD
  ck_assert_int_ne (inflate_via_pool (ipool, XD_ZSTD, bad, 4096, out,
                                      GRAIN, &got), 0);
  ck_assert_ptr_nonnull (xd_inflate_error (XD_ZSTD, 1));
#endif
  /* The pool still works after the failures. */
  ck_assert_int_eq (inflate_via_pool (ipool, XD_DEFLATE_ZLIB, packed, n, out,
                                      GRAIN, &got), 0);
  ck_assert_mem_eq (out, plain, GRAIN);
  xd_deflaters_free (dpool);
  xd_inflaters_free (ipool);
  free (plain);
  free (packed);
  free (bad);
  free (out);
}
END_TEST

#ifdef HAVE_LIBZSTD
/* zstd frames through the pool (qcow2 compression_type=zstd). */
START_TEST (test_inflate_zstd)
{
  struct xd_inflaters *pool = xd_inflaters_new ();
  unsigned char plain[8192], packed[8192 + 512], out[8192];
  size_t n, got;

  fill_text (plain, sizeof plain, 1);
  n = ZSTD_compress (packed, sizeof packed, plain, sizeof plain, 3);
  ck_assert (!ZSTD_isError (n));
  /* Padding after the frame, as a qcow2 cluster has. */
  memset (packed + n, 0, 512);
  ck_assert_int_eq (inflate_via_pool (pool, XD_ZSTD, packed, n + 512, out,
                                      sizeof out, &got), 0);
  ck_assert_uint_eq (got, sizeof plain);
  ck_assert_mem_eq (out, plain, sizeof plain);
  xd_inflaters_free (pool);
}
END_TEST
#endif

/* Threads sharing the pools: every round takes a deflater and an
 * inflater, round-trips a grain and gives both back.  The codecs the
 * threads see are at most one of each per thread (the pool reuses
 * them), and every round trip is right.
 */
struct user {
  struct xd_deflaters *dpool;
  struct xd_inflaters *ipool;
  unsigned id;
  const void *seen_d[ROUNDS], *seen_i[ROUNDS];
  unsigned failures;
};

static void *
use_pools (void *arg)
{
  struct user *u = arg;
  size_t cap = xd_deflate_bound (GRAIN), n, got;
  unsigned char *plain = malloc (GRAIN), *packed = malloc (cap);
  unsigned char *out = malloc (GRAIN);
  unsigned r;

  for (r = 0; r < ROUNDS; r++) {
    struct xd_deflater *d = xd_deflater_get (u->dpool);
    struct xd_inflater *inf;

    fill_text (plain, GRAIN, u->id * ROUNDS + r);
    n = d ? xd_deflater_run (d, plain, GRAIN, packed, cap) : 0;
    u->seen_d[r] = d;
    if (d)
      xd_deflater_put (u->dpool, d);
    inf = xd_inflater_get (u->ipool, n);
    u->seen_i[r] = inf;
    if (n == 0 || inf == NULL) {
      u->failures++;
      if (inf)
        xd_inflater_put (u->ipool, inf);
      continue;
    }
    memcpy (xd_inflater_input (inf), packed, n);
    if (xd_inflater_run (inf, XD_DEFLATE_ZLIB, n, out, GRAIN, &got) != 0
        || got != GRAIN || memcmp (out, plain, GRAIN) != 0)
      u->failures++;
    xd_inflater_put (u->ipool, inf);
  }
  free (plain);
  free (packed);
  free (out);
  return NULL;
}

/* The distinct pointers among the N of P. */
static size_t
distinct (const void **p, size_t n)
{
  size_t i, j, count = 0;

  for (i = 0; i < n; i++) {
    for (j = 0; j < i && p[j] != p[i]; j++)
      ;
    count += j == i;
  }
  return count;
}

START_TEST (test_pool_threads)
{
  static struct user users[THREADS];
  static const void *all_d[THREADS * ROUNDS], *all_i[THREADS * ROUNDS];
  struct xd_deflaters *dpool = xd_deflaters_new (6);
  struct xd_inflaters *ipool = xd_inflaters_new ();
  pthread_t t[THREADS];
  unsigned i;

  for (i = 0; i < THREADS; i++) {
    users[i] = (struct user) { .dpool = dpool, .ipool = ipool, .id = i };
    ck_assert_int_eq (pthread_create (&t[i], NULL, use_pools, &users[i]), 0);
  }
  for (i = 0; i < THREADS; i++) {
    ck_assert_int_eq (pthread_join (t[i], NULL), 0);
    ck_assert_uint_eq (users[i].failures, 0);
    memcpy (all_d + i * ROUNDS, users[i].seen_d, sizeof users[i].seen_d);
    memcpy (all_i + i * ROUNDS, users[i].seen_i, sizeof users[i].seen_i);
  }
  ck_assert_uint_le (distinct (all_d, THREADS * ROUNDS), THREADS);
  ck_assert_uint_le (distinct (all_i, THREADS * ROUNDS), THREADS);
  /* One thread alone reuses the one it gave back. */
  {
    struct xd_deflater *a = xd_deflater_get (dpool), *b;

    xd_deflater_put (dpool, a);
    b = xd_deflater_get (dpool);
    ck_assert_ptr_eq (a, b);
    xd_deflater_put (dpool, b);
  }
  xd_deflaters_free (dpool);
  xd_inflaters_free (ipool);
}
END_TEST

static Suite *
codec_suite (void)
{
  Suite *s = suite_create ("codec");
  TCase *tc = tcase_create ("core");

  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_inflate);
  tcase_add_test (tc, test_deflate_round_trip);
  tcase_add_test (tc, test_inflate_corrupt);
#ifdef HAVE_LIBZSTD
  tcase_add_test (tc, test_inflate_zstd);
#endif
  tcase_add_test (tc, test_pool_threads);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (codec_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
