/* Unit tests for the read-ahead io (xd-readahead.h): whatever the
 * order and the threads of the reads, they return the bytes of the io
 * below; a failed read-ahead reaches only a reader of its range.  And
 * the read-around of the block cache (xd-iocache.h).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "io/xd-io.h"
#include "io/xd-iocache.h"
#include "io/xd-readahead.h"
#include "unittest/xd-test.h"

#define CHUNK 4096
#define SIZE (CHUNK * 64 + 1000)        /* a short last chunk */

/* The io below: byte I is a function of I, and reads of [fail_lo,
 * fail_hi) fail with EIO while failing is set.
 */
struct below {
  pthread_mutex_t lock;
  bool failing;
  uint64_t fail_lo, fail_hi;
  uint64_t reads, bytes;
};

static unsigned char
pattern (uint64_t i)
{
  return (unsigned char) (i * 7 + (i >> 12) * 13);
}

static int
below_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct below *b = io->priv;
  unsigned char *p = buf;
  bool fail;
  size_t i;

  pthread_mutex_lock (&b->lock);
  fail = b->failing && offset < b->fail_hi && b->fail_lo < offset + count;
  b->reads++;
  b->bytes += count;
  pthread_mutex_unlock (&b->lock);
  if (fail) {
    errno = EIO;
    return -1;
  }
  for (i = 0; i < count; i++)
    p[i] = pattern (offset + i);
  return 0;
}

static const struct xd_io_ops below_ops = { .pread = below_pread };

static struct below below;

static struct xd_io *
open_test_io (size_t nr_chunks, size_t threads)
{
  struct xd_io *base;
  struct xd_io *io;

  memset (&below, 0, sizeof below);
  pthread_mutex_init (&below.lock, NULL);
  base = xd_io_new (&below_ops, "below", SIZE, &below);
  ck_assert_ptr_nonnull (base);
  io = xd_io_open_readahead (base, CHUNK, nr_chunks, nr_chunks / 2 * CHUNK,
                             threads);
  ck_assert_ptr_nonnull (io);
  return io;
}

/* Read [OFFSET, OFFSET + COUNT) and check every byte. */
static void
read_check (struct xd_io *io, uint64_t offset, size_t count)
{
  unsigned char *buf = malloc (count);
  size_t i;

  ck_assert_ptr_nonnull (buf);
  ck_assert_int_eq (io->ops->pread (io, buf, count, offset), 0);
  for (i = 0; i < count; i++)
    if (buf[i] != pattern (offset + i))
      ck_abort_msg ("byte %" PRIu64 " of a read of %zu at %" PRIu64
                    " is wrong", offset + i, count, offset);
  free (buf);
}

/* Wait until a read-ahead has failed (not a timing: a bound on a
 * hang).
 */
static void
wait_failed (struct xd_io *io)
{
  struct xd_readahead_stats st;
  int i;

  for (i = 0; i < 600000; i++) {
    xd_readahead_get_stats (io, &st);
    if (st.failed > 0)
      return;
    usleep (100);
  }
  ck_abort_msg ("the read-ahead never failed");
}

START_TEST (test_sequential)
{
  struct xd_io *io = open_test_io (8, 3);
  struct xd_readahead_stats st;
  uint64_t off;

  /* Unaligned reads of 1000 bytes from start to end. */
  for (off = 0; off < SIZE; off += 1000)
    read_check (io, off, (size_t) (SIZE - off < 1000 ? SIZE - off : 1000));
  xd_readahead_get_stats (io, &st);
  ck_assert_uint_gt (st.hits, 0);
  ck_assert_uint_eq (st.failed, 0);
  /* Each chunk was read once, either ahead or by a reader, apart from
   * the first reads, before the stream was seen.
   */
  ck_assert_uint_le (below.bytes, SIZE + 2 * CHUNK);
  xd_io_close (io);
}
END_TEST

/* A second copy of the same range is read ahead too. */
START_TEST (test_read_twice)
{
  struct xd_io *io = open_test_io (8, 2);
  struct xd_readahead_stats st;
  uint64_t off, hits;
  int pass;

  for (pass = 0; pass < 2; pass++) {
    xd_readahead_get_stats (io, &st);
    hits = st.hits;
    for (off = 0; off < SIZE; off += 1000)
      read_check (io, off, (size_t) (SIZE - off < 1000 ? SIZE - off : 1000));
    xd_readahead_get_stats (io, &st);
    ck_assert_uint_gt (st.hits - hits, SIZE / 1000 / 2);
  }
  xd_io_close (io);
}
END_TEST

/* No threads: readers load the chunks queued for them; no chunks:
 * every read goes below.
 */
START_TEST (test_no_threads)
{
  struct xd_io *io = open_test_io (4, 0);
  uint64_t off;

  for (off = 0; off < 20 * CHUNK; off += 1000)
    read_check (io, off, 1000);
  xd_io_close (io);
  io = open_test_io (0, 2);
  for (off = 0; off < 20 * CHUNK; off += 3000)
    read_check (io, off, 3000);
  xd_io_close (io);
}
END_TEST

START_TEST (test_large_reads)
{
  struct xd_io *io = open_test_io (4, 2);
  uint64_t off;

  /* Whole chunks, which a read may take over from the read-ahead. */
  for (off = 0; off + 2 * CHUNK <= SIZE; off += 2 * CHUNK)
    read_check (io, off, 2 * CHUNK);
  for (off = 0; off + CHUNK <= SIZE; off += CHUNK)
    read_check (io, off, CHUNK);
  /* Reads larger than all the chunks together, across chunk ends. */
  for (off = 100; off + 5 * CHUNK < SIZE; off += 5 * CHUNK)
    read_check (io, off, 5 * CHUNK);
  read_check (io, 0, SIZE);
  read_check (io, SIZE - 1, 1);
  xd_io_close (io);
}
END_TEST

struct reader {
  struct xd_io *io;
  unsigned seed;
  bool sequential;
};

static void *
reader_thread (void *arg)
{
  struct reader *r = arg;
  uint64_t off = (uint64_t) (rand_r (&r->seed) % SIZE);
  int i;

  for (i = 0; i < 400; i++) {
    size_t count = (size_t) (rand_r (&r->seed) % (3 * CHUNK)) + 1;
    if (!r->sequential || off >= SIZE)
      off = (uint64_t) (rand_r (&r->seed) % SIZE);
    if (count > SIZE - off)
      count = (size_t) (SIZE - off);
    read_check (r->io, off, count);
    off += count;
  }
  return NULL;
}

/* Several threads, some sequential from random places, some reading at
 * random, with few chunks: chunks are reused all the time.
 */
START_TEST (test_threads)
{
  struct xd_io *io = open_test_io (4, 3);
  struct reader r[6];
  pthread_t t[6];
  int i;

  for (i = 0; i < 6; i++) {
    r[i].io = io;
    r[i].seed = (unsigned) i + 1;
    r[i].sequential = i % 3 != 0;
    ck_assert_int_eq (pthread_create (&t[i], NULL, reader_thread, &r[i]), 0);
  }
  for (i = 0; i < 6; i++)
    pthread_join (t[i], NULL);
  xd_io_close (io);
}
END_TEST

/* A read-ahead that fails is not reported, and a later read of its
 * range gets the data when the io below works again.
 */
START_TEST (test_failed_readahead_forgotten)
{
  struct xd_io *io = open_test_io (8, 2);

  below.fail_lo = 3 * CHUNK;
  below.fail_hi = 3 * CHUNK + 1;
  below.failing = true;
  read_check (io, 0, CHUNK);
  read_check (io, CHUNK, CHUNK);        /* a stream: 2*CHUNK on is read ahead */
  wait_failed (io);
  ck_assert_str_eq (last_error, "");
  pthread_mutex_lock (&below.lock);
  below.failing = false;
  pthread_mutex_unlock (&below.lock);
  read_check (io, 2 * CHUNK, 2 * CHUNK);
  xd_io_close (io);
}
END_TEST

/* While the io below fails, a reader of the range gets the error, and
 * readers of other ranges their data.
 */
START_TEST (test_error_reaches_reader)
{
  struct xd_io *io = open_test_io (8, 2);
  char buf[CHUNK];

  below.fail_lo = 3 * CHUNK + 10;
  below.fail_hi = 3 * CHUNK + 11;
  below.failing = true;
  read_check (io, 0, CHUNK);
  read_check (io, CHUNK, CHUNK);
  read_check (io, 2 * CHUNK, CHUNK);
  errno = 0;
  ck_assert_int_eq (io->ops->pread (io, buf, 20, 3 * CHUNK), -1);
  ck_assert_int_eq (errno, EIO);
  read_check (io, 3 * CHUNK + 11, 100);
  read_check (io, 4 * CHUNK, CHUNK);
  read_check (io, 3 * CHUNK, 10);
  xd_io_close (io);
}
END_TEST

/* A hint (an extents reply) reads ahead where a client will read. */
START_TEST (test_hint)
{
  struct xd_io *io = open_test_io (8, 2);
  struct xd_readahead_stats st;

  xd_readahead_hint (io, 10 * CHUNK, 2 * CHUNK);
  read_check (io, 10 * CHUNK + 5, 100);
  xd_readahead_get_stats (io, &st);
  ck_assert_uint_eq (st.hits, 1);
  ck_assert_uint_eq (st.direct, 0);
  read_check (io, 11 * CHUNK, 100);
  xd_readahead_get_stats (io, &st);
  ck_assert_uint_eq (st.hits, 2);
  /* Past the end: nothing. */
  xd_readahead_hint (io, SIZE, CHUNK);
  xd_readahead_hint (io, SIZE - 1, CHUNK);
  read_check (io, SIZE - 1, 1);
  xd_io_close (io);
}
END_TEST

/* The block cache's read-around (xd-iocache.h), used while opening. */
START_TEST (test_iocache_read_around)
{
  struct xd_io *base, *io;
  uint64_t reads;

  memset (&below, 0, sizeof below);
  pthread_mutex_init (&below.lock, NULL);
  base = xd_io_new (&below_ops, "below", SIZE, &below);
  ck_assert_ptr_nonnull (base);
  io = xd_io_open_cached (base, CHUNK, 16);
  ck_assert_ptr_nonnull (io);
  xd_io_cached_read_around (io, 4);
  read_check (io, 10, 100);
  ck_assert_uint_eq (below.reads, 1);
  ck_assert_uint_eq (below.bytes, 4 * CHUNK);
  read_check (io, 3 * CHUNK + 5, 200);  /* came with block 0 */
  ck_assert_uint_eq (below.reads, 1);
  /* Read-around at the end: only what there is, zeros after. */
  read_check (io, SIZE - 2 * CHUNK, 2 * CHUNK);
  read_check (io, SIZE - 100, 100);
  reads = below.reads;
  xd_io_cached_read_around (io, 1);
  read_check (io, 20 * CHUNK + 1, 10);
  ck_assert_uint_eq (below.reads, reads + 1);
  read_check (io, 21 * CHUNK + 1, 10);
  ck_assert_uint_eq (below.reads, reads + 2);
  /* A failure reaches the reader, and nothing is cached by it. */
  below.fail_lo = 30 * CHUNK;
  below.fail_hi = 30 * CHUNK + 1;
  below.failing = true;
  xd_io_cached_read_around (io, 4);
  ck_assert_int_eq (xd_io_read (io, (char [10]) { 0 }, 10, 28 * CHUNK, "x"),
                    -1);
  ck_assert_int_eq (errno, EIO);
  below.failing = false;
  read_check (io, 28 * CHUNK, 3 * CHUNK);
  xd_io_close (io);
}
END_TEST

static Suite *
readahead_suite (void)
{
  Suite *s = suite_create ("readahead");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_sequential);
  tcase_add_test (tc, test_read_twice);
  tcase_add_test (tc, test_no_threads);
  tcase_add_test (tc, test_large_reads);
  tcase_add_test (tc, test_threads);
  tcase_add_test (tc, test_failed_readahead_forgotten);
  tcase_add_test (tc, test_error_reaches_reader);
  tcase_add_test (tc, test_hint);
  tcase_add_test (tc, test_iocache_read_around);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (readahead_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
