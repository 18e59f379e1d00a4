/* Unit tests of the power-loss simulator (xd-crash.h) itself: a sound
 * toy format passes, and toy formats with the classic mistakes are
 * caught, each for the reason it should be (the failure kind), in a
 * state the simulator had to build to find it:
 *   (a) overwrites of present blocks held back and written after the
 *       flush's barrier, not before: older data shows after a flush;
 *   (b) a flush that does not make a new table entry durable: zeros
 *       where flushed data was;
 *   (c) a table kept with a checksum and rewritten in one multi-sector
 *       write: only a torn write breaks it;
 *   (d) a table entry written before its block, into space that holds
 *       garbage, or into a hole that the lost block leaves garbage in;
 *   (e) an allocator that forgets the blocks in use on a writable
 *       open: only the write after the crash, read back, shows it.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib/xd-crash.h"
#include "include/xd-math.h"
#include "unittest/xd-test.h"

/* A toy format: an 8-byte header "TOYDISK\0", then a table of NR_BLOCKS
 * 8-byte little-endian offsets (0: unallocated, reads as zeros), then
 * (TOY_TORN only) an 8-byte checksum of header and table, then 4 KiB
 * blocks from TOY_DATA_START, each new one after the last one in use.
 * MODE selects a mistake.
 */
#define TOY_BLOCK 4096
#define TOY_BLOCKS 64
#define TOY_SIZE ((uint64_t) TOY_BLOCK * TOY_BLOCKS)
#define TOY_DATA_START 4096
#define TOY_TABLE 8
#define TOY_SUM (TOY_TABLE + TOY_BLOCKS * 8)

enum toy_mode {
  TOY_SOUND, TOY_STALE, TOY_LOST_TABLE, TOY_TORN, TOY_TABLE_FIRST,
  TOY_FORGET_BLOCKS,
};
static enum toy_mode toy_mode;
/* Grow the file over the whole data area (a hole) before the first
 * block goes into it, as VHD reserves space ahead: a lost block there
 * reads as garbage.
 */
static bool toy_prealloc;

struct toy {
  struct xd_io *io;
  uint64_t table[TOY_BLOCKS];
  uint64_t next;                /* where the next block goes */
  /* TOY_STALE: overwrites held back until the next flush. */
  struct { uint64_t offset; uint32_t len; unsigned char *data; } held[256];
  size_t nheld;
};

static uint64_t
toy_sum (const struct toy *t)
{
  uint64_t sum = 0x70D15C;
  size_t b;

  for (b = 0; b < TOY_BLOCKS; b++)
    sum = (sum ^ t->table[b]) * UINT64_C (0x100000001B3);
  return sum;
}

static int toy_write_held (struct toy *t);

static void *
toy_open (struct xd_io *io, const struct xd_resolver *res XD_UNUSED,
          const struct xd_open_opts *opts)
{
  struct toy *t = calloc (1, sizeof *t);
  uint64_t sum;
  char magic[8];
  size_t b;

  if (t == NULL || xd_io_read (io, magic, 8, 0, "magic") == -1 ||
      memcmp (magic, "TOYDISK", 8) != 0 ||
      xd_io_read (io, t->table, sizeof t->table, TOY_TABLE, "table") == -1 ||
      (toy_mode == TOY_TORN &&
       (xd_io_read (io, &sum, 8, TOY_SUM, "sum") == -1 ||
        sum != toy_sum (t)))) {
    free (t);
    xd_io_close (io);
    return NULL;
  }
  t->io = io;
  t->next = TOY_DATA_START;
  if (toy_mode != TOY_FORGET_BLOCKS || !opts->writable)
    for (b = 0; b < TOY_BLOCKS; b++)
      t->next = xd_max_u64 (t->next, t->table[b] ? t->table[b] + TOY_BLOCK
                                                 : 0);
  return t;
}

static void *
toy_create (struct xd_io *io, const struct xd_resolver *res,
            const struct xd_create_opts *copts XD_UNUSED,
            const struct xd_open_opts *opts)
{
  static const uint64_t empty[TOY_BLOCKS];
  struct toy t = { 0 };
  uint64_t sum = toy_sum (&t);

  if (xd_io_write (io, "TOYDISK", 8, 0, "magic") == -1 ||
      xd_io_write (io, empty, sizeof empty, TOY_TABLE, "table") == -1 ||
      xd_io_write (io, &sum, 8, TOY_SUM, "sum") == -1 ||
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

  toy_write_held (t);
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

/* Write the overwrites held back. */
static int
toy_write_held (struct toy *t)
{
  size_t i;
  int r = 0;

  for (i = 0; i < t->nheld; i++) {
    if (r == 0 && xd_io_write (t->io, t->held[i].data, t->held[i].len,
                               t->held[i].offset, "block") == -1)
      r = -1;
    free (t->held[i].data);
  }
  t->nheld = 0;
  return r;
}

static int
toy_flush (void *h)
{
  struct toy *t = h;

  if (toy_mode == TOY_LOST_TABLE)
    return 0;
  if (toy_mode == TOY_STALE)      /* the mistake: barrier first */
    return xd_io_flush (t->io) == -1 ? -1 : toy_write_held (t);
  return xd_io_flush (t->io);
}

/* An overwrite of a present block. */
static int
toy_overwrite (struct toy *t, const void *p, uint32_t n, uint64_t where)
{
  if (toy_mode != TOY_STALE)
    return xd_io_write (t->io, p, n, where, "block");
  if (t->nheld == sizeof t->held / sizeof t->held[0] &&
      toy_write_held (t) == -1)
    return -1;
  t->held[t->nheld].data = malloc (n);
  if (t->held[t->nheld].data == NULL)
    return -1;
  memcpy (t->held[t->nheld].data, p, n);
  t->held[t->nheld].offset = where;
  t->held[t->nheld].len = n;
  t->nheld++;
  return 0;
}

/* Point the table at block B: its entry alone, or (TOY_TORN) the whole
 * header, table and checksum in one write.
 */
static int
toy_set_entry (struct toy *t, uint64_t b, uint64_t where)
{
  unsigned char meta[TOY_SUM + 8];
  uint64_t sum;

  t->table[b] = where;
  if (toy_mode != TOY_TORN)
    return xd_io_write (t->io, &where, 8, TOY_TABLE + b * 8, "table");
  sum = toy_sum (t);
  memcpy (meta, "TOYDISK", 8);
  memcpy (meta + TOY_TABLE, t->table, sizeof t->table);
  memcpy (meta + TOY_SUM, &sum, 8);
  return xd_io_write (t->io, meta, sizeof meta, 0, "table");
}

/* A new block: the data, a barrier, then the table entry. */
static int
toy_allocate (struct toy *t, uint64_t b, const unsigned char *block)
{
  uint64_t where = t->next;

  if (toy_prealloc && t->io->size < TOY_DATA_START + TOY_SIZE &&
      (xd_io_truncate (t->io, TOY_DATA_START + TOY_SIZE, "data area") == -1
       || xd_io_flush (t->io) == -1))
    return -1;
  if (toy_mode == TOY_TABLE_FIRST && toy_set_entry (t, b, where) == -1)
    return -1;
  if (xd_io_write (t->io, block, TOY_BLOCK, where, "block") == -1 ||
      xd_io_flush (t->io) == -1)
    return -1;
  if (toy_mode != TOY_TABLE_FIRST && toy_set_entry (t, b, where) == -1)
    return -1;
  t->next = where + TOY_BLOCK;
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
    else if (toy_overwrite (t, p, n, t->table[b] + in) == -1)
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

/* An existing toy image: a few blocks, then GARBAGE_BLOCKS blocks of
 * garbage where new blocks will go.
 */
static unsigned char *
make_garbage_image (size_t *len)
{
  struct xd_open_opts opts = { .writable = true };
  struct xd_create_opts copts = { .size = TOY_SIZE };
  const size_t garbage_blocks = 48;
  unsigned char data[3 * TOY_BLOCK], *img;
  struct xd_io *io = xd_io_new_memory_rw (NULL, 0, "toy.img");
  size_t i, used;
  void *h;

  ck_assert_ptr_nonnull (io);
  xd_io_ref (io);
  toy_mode = TOY_SOUND;
  h = toy_create (io, NULL, &copts, &opts);
  ck_assert_ptr_nonnull (h);
  memset (data, 0x3c, sizeof data);
  ck_assert_int_eq (toy_pwrite (h, data, sizeof data, 20 * TOY_BLOCK), 0);
  toy_close (h);
  used = io->size;
  *len = used + garbage_blocks * TOY_BLOCK;
  img = malloc (*len);
  ck_assert_ptr_nonnull (img);
  memcpy (img, xd_io_memory_contents (io), used);
  for (i = used; i < *len; i++)
    img[i] = (unsigned char) (i * 7 + 1) | 0x80;
  xd_io_close (io);
  return img;
}

static int
run_toy (enum toy_mode mode, const void *image, size_t image_len,
         struct xd_powerloss_stats *st)
{
  struct xd_create_opts copts = { .size = TOY_SIZE };
  struct xd_powerloss_case c = {
    .name = "toy", .format = &toy_format,
    .create = image ? NULL : &copts, .image = image,
    .image_len = image_len,
    .io_name = "toy.img", .seed = 7, .nr_ops = 60, .max_sectors = 24,
    .flush_every = 6, .use_zero = true, .exhaustive_max = 8,
    .samples_per_epoch = 32,
  };
  int r;

  toy_mode = mode;
  r = xd_powerloss_run (&c, st);
  fprintf (stderr, "toy mode %d: %d after %lu states (%lu torn), failure "
           "%d, kinds %#x%s\n", mode, r, st->states, st->torn, st->failure,
           st->kinds, st->failed_torn ? ", in a torn state" : "");
  return r;
}

/* The seed is fixed: so are the states each run checks. */
static bool
found (const struct xd_powerloss_stats *st, enum xd_powerloss_failure kind)
{
  return (st->kinds & (1u << kind)) != 0;
}

START_TEST (test_sound_format_passes)
{
  struct xd_powerloss_stats st;
  unsigned char *img;
  size_t len;

  ck_assert_int_eq (run_toy (TOY_SOUND, NULL, 0, &st), 0);
  ck_assert_int_eq (st.failure, XD_PL_OK);
  ck_assert_uint_gt (st.states, 100);
  ck_assert_uint_gt (st.torn, 10);
  ck_assert_uint_gt (st.flushes, 5);
  ck_assert_uint_gt (st.reopened, 0);
  img = make_garbage_image (&len);
  ck_assert_int_eq (run_toy (TOY_SOUND, img, len, &st), 0);
  ck_assert_uint_gt (st.states, 100);
  free (img);
}
END_TEST

/* (a) */
START_TEST (test_stale_after_flush_is_caught)
{
  struct xd_powerloss_stats st;

  ck_assert_int_eq (run_toy (TOY_STALE, NULL, 0, &st), -1);
  ck_assert (found (&st, XD_PL_OLD_DATA));
  ck_assert (!st.failed_torn);
  ck_assert_uint_eq (st.states, 113);
}
END_TEST

/* (b) */
START_TEST (test_zeros_after_flush_are_caught)
{
  struct xd_powerloss_stats st;

  ck_assert_int_eq (run_toy (TOY_LOST_TABLE, NULL, 0, &st), -1);
  ck_assert_int_eq (st.failure, XD_PL_ZEROS);
  ck_assert (!st.failed_torn);
  ck_assert_uint_eq (st.states, 78);
}
END_TEST

/* (c) */
START_TEST (test_torn_write_is_caught)
{
  struct xd_powerloss_stats st;

  ck_assert_int_eq (run_toy (TOY_TORN, NULL, 0, &st), -1);
  ck_assert_int_eq (st.failure, XD_PL_OPEN);
  ck_assert (st.failed_torn);
  ck_assert_uint_eq (st.states, 8);
}
END_TEST

/* (d) */
START_TEST (test_table_before_data_is_caught)
{
  struct xd_powerloss_stats st;
  unsigned char *img;
  size_t len;

  img = make_garbage_image (&len);
  ck_assert_int_eq (run_toy (TOY_TABLE_FIRST, img, len, &st), -1);
  ck_assert_int_eq (st.failure, XD_PL_GARBAGE);
  ck_assert (!st.failed_torn);
  ck_assert_uint_eq (st.states, 76);
  free (img);
  toy_prealloc = true;
  ck_assert_int_eq (run_toy (TOY_SOUND, NULL, 0, &st), 0);
  ck_assert_int_eq (run_toy (TOY_TABLE_FIRST, NULL, 0, &st), -1);
  toy_prealloc = false;
  ck_assert_int_eq (st.failure, XD_PL_GARBAGE);
  ck_assert_uint_eq (st.states, 78);
}
END_TEST

/* (e) */
START_TEST (test_write_after_crash_is_read_back)
{
  struct xd_powerloss_stats st;

  ck_assert_int_eq (run_toy (TOY_FORGET_BLOCKS, NULL, 0, &st), -1);
  ck_assert_int_eq (st.failure, XD_PL_REVERIFY);
  ck_assert_uint_eq (st.states, 16);
  ck_assert_uint_eq (st.reopened, 1);
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
  tcase_add_test (tc, test_stale_after_flush_is_caught);
  tcase_add_test (tc, test_zeros_after_flush_are_caught);
  tcase_add_test (tc, test_torn_write_is_caught);
  tcase_add_test (tc, test_table_before_data_is_caught);
  tcase_add_test (tc, test_write_after_crash_is_read_back);
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
