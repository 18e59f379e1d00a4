/* Unit tests of the power-loss simulator (xd-crash.h) itself: a sound
 * toy format passes, and toy formats with the classic mistakes (a flush
 * that does not reach the disk, a table written before the data it
 * points at) are caught.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xd-crash.h"
#include "xd-math.h"
#include "xd-test.h"

/* A toy format: an 8-byte header "TOYDISK\0", then a table of NR_BLOCKS
 * 8-byte little-endian offsets (0: unallocated, reads as zeros), then
 * 4 KiB blocks appended in the order written.  MODE selects a mistake.
 */
#define TOY_BLOCK 4096
#define TOY_BLOCKS 64
#define TOY_SIZE ((uint64_t) TOY_BLOCK * TOY_BLOCKS)
#define TOY_DATA_START 4096

enum toy_mode { TOY_SOUND, TOY_NO_BARRIER, TOY_TABLE_FIRST };
static enum toy_mode toy_mode;

struct toy {
  struct xd_io *io;
  uint64_t table[TOY_BLOCKS];
};

static void *
toy_open (struct xd_io *io, const struct xd_resolver *res XD_UNUSED,
          const struct xd_open_opts *opts XD_UNUSED)
{
  struct toy *t = calloc (1, sizeof *t);
  char magic[8];

  if (t == NULL || xd_io_read (io, magic, 8, 0, "magic") == -1 ||
      memcmp (magic, "TOYDISK", 8) != 0 ||
      xd_io_read (io, t->table, sizeof t->table, 8, "table") == -1) {
    free (t);
    xd_io_close (io);
    return NULL;
  }
  t->io = io;
  return t;
}

static void *
toy_create (struct xd_io *io, const struct xd_resolver *res,
            const struct xd_create_opts *copts XD_UNUSED,
            const struct xd_open_opts *opts)
{
  static const uint64_t empty[TOY_BLOCKS];

  if (xd_io_write (io, "TOYDISK", 8, 0, "magic") == -1 ||
      xd_io_write (io, empty, sizeof empty, 8, "table") == -1 ||
      xd_io_truncate (io, TOY_DATA_START, "data start") == -1) {
    xd_io_close (io);
    return NULL;
  }
  return toy_open (io, res, opts);
}

static void
toy_close (void *h)
{
  struct toy *t = h;

  xd_io_close (t->io);
  free (t);
}

static uint64_t
toy_size (void *h XD_UNUSED)
{
  return TOY_SIZE;
}

static int
toy_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct toy *t = h;
  char *p = buf;

  while (count > 0) {
    uint64_t b = offset / TOY_BLOCK, in = offset % TOY_BLOCK;
    uint32_t n = (uint32_t) xd_min_u64 (count, TOY_BLOCK - in);
    if (t->table[b] == 0)
      memset (p, 0, n);
    else if (xd_io_read (t->io, p, n, t->table[b] + in, "block") == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static int
toy_flush (void *h)
{
  struct toy *t = h;

  return toy_mode == TOY_NO_BARRIER ? 0 : xd_io_flush (t->io);
}

/* A new block: the data, a barrier, then the table entry. */
static int
toy_allocate (struct toy *t, uint64_t b, const unsigned char *block)
{
  uint64_t where = t->io->size;

  if (toy_mode == TOY_TABLE_FIRST) {
    if (xd_io_write (t->io, &where, 8, 8 + b * 8, "table") == -1)
      return -1;
  }
  if (xd_io_write (t->io, block, TOY_BLOCK, where, "block") == -1 ||
      toy_flush (t) == -1)
    return -1;
  if (toy_mode != TOY_TABLE_FIRST &&
      xd_io_write (t->io, &where, 8, 8 + b * 8, "table") == -1)
    return -1;
  t->table[b] = where;
  return 0;
}

static int
toy_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  struct toy *t = h;
  const char *p = buf;
  unsigned char block[TOY_BLOCK];

  while (count > 0) {
    uint64_t b = offset / TOY_BLOCK, in = offset % TOY_BLOCK;
    uint32_t n = (uint32_t) xd_min_u64 (count, TOY_BLOCK - in);
    if (t->table[b] == 0) {
      memset (block, 0, sizeof block);
      memcpy (block + in, p, n);
      if (toy_allocate (t, b, block) == -1)
        return -1;
    }
    else if (xd_io_write (t->io, p, n, t->table[b] + in, "block") == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static const struct xd_format toy_format = {
  .name = "toy", .display = "toy",
  .open = toy_open, .close = toy_close, .size = toy_size,
  .pread = toy_pread, .pwrite = toy_pwrite, .flush = toy_flush,
  .create = toy_create,
};

static int
run_toy (enum toy_mode mode, struct xd_powerloss_stats *st)
{
  struct xd_create_opts copts = { .size = TOY_SIZE };
  struct xd_powerloss_case c = {
    .name = "toy", .format = &toy_format, .create = &copts,
    .io_name = "toy.img", .seed = 7, .nr_ops = 60, .max_sectors = 24,
    .flush_every = 6, .use_zero = true, .exhaustive_max = 8,
    .samples_per_epoch = 32,
  };

  toy_mode = mode;
  return xd_powerloss_run (&c, st);
}

START_TEST (test_sound_format_passes)
{
  struct xd_powerloss_stats st;

  ck_assert_int_eq (run_toy (TOY_SOUND, &st), 0);
  ck_assert_uint_gt (st.states, 100);
  ck_assert_uint_gt (st.flushes, 5);
  ck_assert_uint_gt (st.reopened, 0);
}
END_TEST

START_TEST (test_lost_flush_is_caught)
{
  struct xd_powerloss_stats st;

  ck_assert_int_eq (run_toy (TOY_NO_BARRIER, &st), -1);
}
END_TEST

START_TEST (test_table_before_data_is_caught)
{
  struct xd_powerloss_stats st;

  ck_assert_int_eq (run_toy (TOY_TABLE_FIRST, &st), -1);
}
END_TEST

START_TEST (test_recorder_counts)
{
  struct xd_recorder *rec;
  struct xd_io *io = xd_recorder_io_new ("abc", 3, "rec", &rec);
  size_t w, f;

  ck_assert_ptr_nonnull (io);
  ck_assert_int_eq (xd_io_write (io, "x", 1, 10, "x"), 0);
  xd_recorder_start (rec);
  ck_assert_int_eq (xd_io_write (io, "y", 1, 20, "y"), 0);
  ck_assert_int_eq (xd_io_flush (io), 0);
  ck_assert_int_eq (xd_io_truncate (io, 5, "t"), 0);
  xd_recorder_counts (rec, &w, &f);
  ck_assert_uint_eq (w, 2);
  ck_assert_uint_eq (f, 1);
  ck_assert_uint_eq (io->size, 5);
  xd_io_close (io);
  xd_recorder_free (rec);
}
END_TEST

static Suite *
crash_suite (void)
{
  Suite *s = suite_create ("crash");
  TCase *tc = tcase_create ("powerloss");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_recorder_counts);
  tcase_add_test (tc, test_sound_format_passes);
  tcase_add_test (tc, test_lost_flush_is_caught);
  tcase_add_test (tc, test_table_before_data_is_caught);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (crash_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
