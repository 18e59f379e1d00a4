/* Unit tests for writing, creating and checking VHDs, in memory. */

#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "vhd/vhd-write.h"
#include "include/xd-bytes.h"
#include "testlib/xd-crash.h"
#include "testlib/xd-gate-io.h"
#include "core/xd-format.h"
#include "io/xd-io.h"
#include "core/xd-path.h"
#include "include/xd-report.h"
#include "unittest/xd-test.h"

extern const struct xd_format xd_format_vhd;

static const struct xd_format *F = &xd_format_vhd;

static struct xd_resolver *res;

static void
setup_res (void)
{
  setup ();
  res = xd_resolver_new_stream ("the test's memory");
  ck_assert_ptr_nonnull (res);
}

static void
teardown_res (void)
{
  xd_resolver_free (res);
}

static const struct xd_open_opts wopts = { .cache_bytes = 1 << 20,
                                           .writable = true };

static void *
create_mem (const char *type, uint64_t size, uint32_t block_size)
{
  struct xd_create_opts c = { .size = size, .type = type,
                              .block_size = block_size };
  struct xd_io *io = xd_io_new_memory_rw (NULL, 0, "mem.vhd");

  ck_assert_ptr_nonnull (io);
  return F->create (io, res, &c, &wopts);
}

/* Reopen the bytes of H's file as a new image (H is closed). */
static void *
reopen (void *h)
{
  struct xd_io *io = ((struct vhd_handle *) h)->disk->top->io;
  struct xd_io *copy = xd_io_new_memory_rw (xd_io_memory_contents (io),
                                            io->size, "mem.vhd");
  void *h2;

  F->close (h);
  ck_assert_ptr_nonnull (copy);
  h2 = F->open (copy, res, &wopts);
  ck_assert_ptr_nonnull (h2);
  return h2;
}

static uint8_t *
file_bytes (void *h, uint64_t *size)
{
  struct xd_io *io = ((struct vhd_handle *) h)->disk->top->io;

  *size = io->size;
  return (uint8_t *) xd_io_memory_contents (io);
}

START_TEST (test_geometry)
{
  uint16_t c;
  uint8_t hd, s;

  ck_assert (vhd_geometry_for_size (963 * 4 * 17 * 512, &c, &hd, &s));
  ck_assert_uint_eq (c, 963);
  ck_assert_uint_eq (hd, 4);
  ck_assert_uint_eq (s, 17);
  /* Not whole cylinders: the specification's geometry all the same,
   * rounded down (blktap refuses a larger one, such as 65535/16/255).
   */
  ck_assert (!vhd_geometry_for_size (30 * 1048576 + 3584, &c, &hd, &s));
  ck_assert_uint_eq (c, 903);
  ck_assert_uint_eq (hd, 4);
  ck_assert_uint_eq (s, 17);
  ck_assert (!vhd_geometry_for_size (UINT64_C (127) << 30, &c, &hd, &s));
  ck_assert_uint_eq (c, 65278);
  ck_assert_uint_eq (hd, 16);
  ck_assert_uint_eq (s, 255);
  /* The largest CHS size exactly, and larger: the maximum. */
  ck_assert (vhd_geometry_for_size (UINT64_C (65535) * 16 * 255 * 512,
                                    &c, &hd, &s));
  ck_assert_uint_eq (c, 65535);
  ck_assert (!vhd_geometry_for_size (UINT64_C (3) << 40, &c, &hd, &s));
  ck_assert_uint_eq (c, 65535);
  ck_assert_uint_eq (hd, 16);
  ck_assert_uint_eq (s, 255);
  /* 16 heads, 63 sectors. */
  ck_assert (vhd_geometry_for_size (UINT64_C (5000) * 16 * 63 * 512,
                                    &c, &hd, &s));
  ck_assert_uint_eq (c, 5000);
  ck_assert_uint_eq (hd, 16);
  ck_assert_uint_eq (s, 63);
}
END_TEST

/* Write a pattern of partial, unaligned, block-crossing writes into H
 * and into MODEL; zero a range; compare.
 */
static void
write_and_compare (void *h, uint8_t *model, uint64_t size)
{
  static const struct { uint64_t off, len; } w[] = {
    { 0, 1 }, { 511, 2 }, { 1000, 70000 }, { 524288 - 100, 300 },
    { 3 * 524288 + 7, 524288 * 2 }, { 0, 0 },
  };
  uint8_t *buf = malloc (size), *back = malloc (size);
  size_t i;

  ck_assert_ptr_nonnull (buf);
  ck_assert_ptr_nonnull (back);
  for (i = 0; w[i].len; i++) {
    memset (buf, (int) (i + 0x41), w[i].len);
    ck_assert_int_eq (F->pwrite (h, buf, w[i].len, w[i].off), 0);
    memcpy (model + w[i].off, buf, w[i].len);
  }
  ck_assert_int_eq (F->zero (h, 4000, 1500, false, false), 0);
  memset (model + 1500, 0, 4000);
  ck_assert_int_eq (F->flush (h), 0);
  ck_assert_int_eq (F->pread (h, back, size, 0), 0);
  ck_assert (memcmp (back, model, size) == 0);
  ck_assert_int_eq (F->check (h), 0);
  free (buf);
  free (back);
}

START_TEST (test_create_dynamic)
{
  uint64_t size = 4 * 1048576 + 1024, fsize, fsize2;
  uint8_t *model = calloc (1, size), *f;
  uint8_t *back = malloc (size);
  void *h = create_mem (NULL, size, 524288);

  ck_assert_ptr_nonnull (h);
  ck_assert_uint_eq (F->size (h), size);
  ck_assert_int_eq (F->check (h), 0);
  f = file_bytes (h, &fsize);
  ck_assert_uint_eq (fsize, 1536 + 512 + 512);
  ck_assert_uint_eq (xd_be32 (f + 512 + VHD_DYN_MAX_TABLE_ENTRIES), 9);
  ck_assert (memcmp (f + VHD_FOOTER_CREATOR_APP, "win ", 4) == 0);
  write_and_compare (h, model, size);
  /* Zeroing a whole absent block allocates nothing. */
  file_bytes (h, &fsize);
  ck_assert_int_eq (F->zero (h, 524288, 7 * 524288, false, false), 0);
  file_bytes (h, &fsize2);
  ck_assert_uint_eq (fsize2, fsize);
  h = reopen (h);
  ck_assert_int_eq (F->pread (h, back, size, 0), 0);
  ck_assert (memcmp (back, model, size) == 0);
  ck_assert_int_eq (F->check (h), 0);
  /* Trim of a whole present block: reads zeros, BAT entry unused. */
  ck_assert_int_eq (F->trim (h, 524288, 0), 0);
  memset (model, 0, 524288);
  ck_assert_int_eq (F->pread (h, back, size, 0), 0);
  ck_assert (memcmp (back, model, size) == 0);
  f = file_bytes (h, &fsize);
  ck_assert_uint_eq (xd_be32 (f + 1536), VHD_BAT_UNUSED);
  ck_assert_int_eq (F->check (h), 0);
  F->close (h);
  free (model);
  free (back);
}
END_TEST

/* The reader table serves the same bytes, read-only even when asked
 * to write, with no write op at all.
 */
START_TEST (test_reader_table)
{
  const struct xd_format *R = &xd_reader_vhd;
  uint64_t size = 4 * 1048576 + 1024, fsize;
  uint8_t *model = calloc (1, size), *back = malloc (size), *f;
  void *h = create_mem (NULL, size, 524288), *r;
  struct xd_io *copy;

  ck_assert_ptr_nonnull (h);
  write_and_compare (h, model, size);
  f = file_bytes (h, &fsize);
  copy = xd_io_new_memory_rw (f, fsize, "mem.vhd");
  F->close (h);
  ck_assert_ptr_nonnull (copy);
  ck_assert_str_eq (R->name, F->name);
  ck_assert (R->probe == F->probe && R->config == F->config);
  ck_assert (R->can_write == NULL && R->pwrite == NULL && R->zero == NULL &&
             R->trim == NULL && R->flush == NULL && R->finish == NULL &&
             R->create == NULL && R->check == NULL);
  r = R->open (copy, res, &wopts);
  ck_assert_ptr_nonnull (r);
  ck_assert_uint_eq (R->size (r), size);
  ck_assert_int_eq (R->pread (r, back, size, 0), 0);
  ck_assert (memcmp (back, model, size) == 0);
  R->close (r);
  free (model);
  free (back);
}
END_TEST

START_TEST (test_create_fixed)
{
  uint64_t size = 3 * 1048576, fsize;
  uint8_t *model = calloc (1, size);
  void *h = create_mem ("fixed", size, 0);

  ck_assert_ptr_nonnull (h);
  file_bytes (h, &fsize);
  ck_assert_uint_eq (fsize, size + 512);
  write_and_compare (h, model, size);
  h = reopen (h);
  ck_assert_int_eq (F->check (h), 0);
  F->close (h);
  free (model);
}
END_TEST

START_TEST (test_create_bad)
{
  ck_assert_ptr_null (create_mem (NULL, 1000, 0));
  ck_error_has ("512-byte");
  ck_assert_ptr_null (create_mem (NULL, 1 << 20, 1 << 18));
  ck_error_has ("power of 2");
  ck_assert_ptr_null (create_mem ("sparse", 1 << 20, 0));
  ck_error_has ("create-type=sparse");
  ck_assert_ptr_null (create_mem (NULL, VHD_MAX_DYNAMIC_SIZE + 512, 0));
  ck_error_has ("too big");
}
END_TEST

/* The check finds blocks that overlap, point into the metadata or past
 * the footer, and a footer copy that differs.
 */
START_TEST (test_check_finds)
{
  uint64_t size = 2 * 1048576, fsize;
  uint8_t *f, one = 1, saved[4];
  void *h = create_mem (NULL, size, 524288);

  ck_assert_ptr_nonnull (h);
  ck_assert_int_eq (F->pwrite (h, &one, 1, 0), 0);
  ck_assert_int_eq (F->pwrite (h, &one, 1, 524288), 0);
  ck_assert_int_eq (F->finish (h), 0);         /* BAT written, file cut */
  ck_assert_int_eq (F->check (h), 0);
  f = file_bytes (h, &fsize);
  /* Block 1 onto block 0. */
  memcpy (f + 1536 + 4, f + 1536, 4);
  ck_assert_int_eq (F->check (h), -1);
  ck_error_has ("overlap");
  /* Block 1 into the BAT (block 0 absent). */
  memcpy (saved, f + 1536, 4);
  xd_put_be32 (f + 1536, VHD_BAT_UNUSED);
  xd_put_be32 (f + 1536 + 4, 3);
  ck_assert_int_eq (F->check (h), -1);
  ck_error_has ("metadata");
  /* Block 1 past the footer. */
  xd_put_be32 (f + 1536 + 4, (uint32_t) (fsize / 512));
  ck_assert_int_eq (F->check (h), -1);
  ck_error_has ("past the footer");
  xd_put_be32 (f + 1536 + 4, VHD_BAT_UNUSED);
  memcpy (f + 1536, saved, 4);
  ck_assert_int_eq (F->check (h), 0);
  /* The copy at offset 0. */
  f[100] ^= 1;
  ck_assert_int_eq (F->check (h), -1);
  ck_error_has ("copy at offset 0");
  f[100] ^= 1;
  /* A write into a block whose BAT entry points at the BAT is refused. */
  xd_put_be32 (f + 1536, 3);
  h = reopen (h);
  ck_assert_int_eq (F->pwrite (h, &one, 1, 0), -1);
  ck_error_has ("not writing there");
  F->close (h);
}
END_TEST


/* ---- power loss (xd-crash.h) ---- */

/* Crash states are checked as other VHD readers (Hyper-V, qemu) take
 * them: with a valid footer at the end of the file, which xdisk's own
 * reader does without (it falls back on the copy at the start).
 */
static void *
strict_open (struct xd_io *io, const struct xd_resolver *r,
             const struct xd_open_opts *opts)
{
  struct vhd_footer f;
  uint8_t buf[VHD_FOOTER_SIZE];

  if (io->size < VHD_FOOTER_SIZE ||
      xd_io_read (io, buf, sizeof buf, io->size - VHD_FOOTER_SIZE,
                  "VHD footer") == -1 ||
      vhd_parse_footer (buf, io->name, false, &f) == -1) {
    xd_error ("%s: no valid footer at the end of the file", io->name);
    xd_io_close (io);
    return NULL;
  }
  return F->open (io, r, opts);
}

static void
powerloss (struct xd_powerloss_case *c)
{
  static struct xd_format strict;
  struct xd_powerloss_stats st;

  strict = *F;
  strict.open = strict_open;
  c->check_format = &strict;
  c->format = F;
  if (c->io_name == NULL)
    c->io_name = "pl.vhd";
  c->use_zero = true;
  ck_assert_int_eq (xd_powerloss_run (c, &st), 0);
  fprintf (stderr, "vhd power loss %s (seed %u): %lu crash states, %lu "
           "epochs, %lu writes, %lu flushes, %lu reopened for writing\n",
           c->name, c->seed, st.states, st.epochs, st.writes, st.flushes,
           st.reopened);
  ck_assert_uint_gt (st.states, 20);
  ck_assert_uint_gt (st.flushes, 3);
}

/* New dynamic VHDs with small blocks: many allocations, reserves and
 * commits (every crash state of the short epochs).
 */
START_TEST (test_powerloss_dynamic)
{
  struct xd_create_opts copts = { .size = 4 << 20,
                                  .block_size = 512 << 10 };
  unsigned seed;

  for (seed = 1; seed <= 2; seed++) {
    struct xd_powerloss_case c = {
      .name = "dynamic", .create = &copts, .seed = seed, .nr_ops = 24,
      .max_sectors = 1100, .flush_every = 4,
    };
    powerloss (&c);
  }
}
END_TEST

START_TEST (test_powerloss_fixed)
{
  struct xd_create_opts copts = { .size = 3 << 20, .type = "fixed" };
  struct xd_powerloss_case c = {
    .name = "fixed", .create = &copts, .seed = 5, .nr_ops = 30,
    .max_sectors = 600, .flush_every = 4,
  };

  powerloss (&c);
}
END_TEST

/* An existing image, 12 of its 16 blocks written: more blocks and trims
 * (whole blocks) into it.  With that many blocks the writer reserves
 * space for several at once, and gives back what is left at the end
 * (footer, flush, truncate).
 */
START_TEST (test_powerloss_existing)
{
  uint64_t size = 8 << 20, fsize, b;
  uint8_t buf[4096];
  void *h = create_mem (NULL, size, 524288);
  uint8_t *copy;
  unsigned seed;

  ck_assert_ptr_nonnull (h);
  memset (buf, 0x5a, sizeof buf);
  for (b = 0; b < 16; b++)
    if (b % 4 != 3)
      ck_assert_int_eq (F->pwrite (h, buf, sizeof buf, b * 524288 + 4096),
                        0);
  ck_assert_int_eq (F->finish (h), 0);
  copy = malloc (file_bytes (h, &fsize) ? fsize : 1);
  ck_assert_ptr_nonnull (copy);
  memcpy (copy, file_bytes (h, &fsize), fsize);
  F->close (h);
  for (seed = 6; seed <= 7; seed++) {
    struct xd_powerloss_case c = {
      .name = "existing", .image = copy, .image_len = fsize, .seed = seed,
      .nr_ops = 20, .max_sectors = 1100, .flush_every = 3,
    };
    powerloss (&c);
  }
  free (copy);
}
END_TEST

/* A differencing child over a parent file on disk, found through its
 * locators in every crash state; partial sectors merged from it.
 */
START_TEST (test_powerloss_diff)
{
  char dir[] = "/tmp/vhd-pl.XXXXXX", ppath[64], cpath[64];
  struct xd_create_opts copts = { .block_size = 512 << 10 };
  struct xd_path_policy pol;
  struct xd_resolver *dres;
  uint64_t fsize;
  uint8_t buf[4096];
  void *h;
  FILE *fp;
  unsigned seed;

  ck_assert_ptr_nonnull (mkdtemp (dir));
  snprintf (ppath, sizeof ppath, "%s/parent.vhd", dir);
  snprintf (cpath, sizeof cpath, "%s/child.vhd", dir);
  h = create_mem (NULL, 3 << 20, 524288);
  ck_assert_ptr_nonnull (h);
  memset (buf, 0xaa, sizeof buf);
  for (seed = 0; seed < 3 << 20; seed += 300 << 10)
    ck_assert_int_eq (F->pwrite (h, buf, sizeof buf, seed), 0);
  ck_assert_int_eq (F->finish (h), 0);
  fp = fopen (ppath, "w");
  ck_assert_ptr_nonnull (fp);
  file_bytes (h, &fsize);
  ck_assert_uint_eq (fwrite (file_bytes (h, &fsize), 1, fsize, fp), fsize);
  fclose (fp);
  F->close (h);

  fp = fopen (cpath, "w");              /* the policy needs it to exist */
  ck_assert_ptr_nonnull (fp);
  fclose (fp);
  ck_assert_int_eq (xd_path_policy_init (&pol, cpath, NULL), 0);
  dres = xd_resolver_new_dir (&pol);
  ck_assert_ptr_nonnull (dres);
  copts.parent = ppath;
  copts.path = cpath;
  for (seed = 9; seed <= 10; seed++) {
    struct xd_powerloss_case c = {
      .name = "differencing", .create = &copts, .io_name = cpath,
      .res = dres, .seed = seed, .nr_ops = 24, .max_sectors = 900,
      .flush_every = 4,
    };
    powerloss (&c);
  }
  xd_resolver_free (dres);
  xd_path_policy_free (&pol);
  unlink (cpath);
  unlink (ppath);
  rmdir (dir);
}
END_TEST

/* ---- two threads allocating the same block (the handle's lock) ---- */

static int
race_write (void *h, const void *buf, uint32_t len, uint64_t off)
{
  return F->pwrite (h, buf, len, off);
}

/* Thread A writes sector 0 of the absent block 0 of a dynamic VHD,
 * thread B sector 8; A's write of the new block's data is held until B
 * has returned, or, as B waits for the lock, until the gate's timeout
 * (xd-gate-io.h).  Without the lock around allocation, B allocates a
 * block of its own meanwhile and A's BAT entry, set last, loses B's
 * data (tests/mutants.txt: vhd-alloc-unlocked).
 */
START_TEST (test_alloc_race)
{
  const uint64_t size = 4 << 20, bs = 512 << 10;
  uint8_t *model = calloc (1, size), *back = malloc (size);
  struct xd_gate_write a, b;
  struct vd_layer *l;
  struct xd_io *io;
  const uint8_t *f;
  uint64_t fsize;
  uint32_t first;
  void *h = create_mem (NULL, size, (uint32_t) bs);

  ck_assert_ptr_nonnull (h);
  ck_assert_ptr_nonnull (model);
  ck_assert_ptr_nonnull (back);
  /* Block 4 first, so that block 0 goes after it. */
  memset (model + 4 * bs, 0x44, 512);
  ck_assert_int_eq (F->pwrite (h, model + 4 * bs, 512, 4 * bs), 0);
  ck_assert_int_eq (F->flush (h), 0);
  f = file_bytes (h, &fsize);
  io = xd_gate_io_new (f, fsize, "gate.vhd");
  ck_assert_ptr_nonnull (io);
  F->close (h);
  h = F->open (io, res, &wopts);
  ck_assert_ptr_nonnull (h);
  l = ((struct vhd_handle *) h)->disk->top;
  first = xd_be32 (xd_gate_io_contents (io) + l->bat_offset + 4 * 4);
  memset (model, 0xaa, 512);
  memset (model + 4096, 0xbb, 512);
  a = (struct xd_gate_write) { model, 512, 0, -1 };
  b = (struct xd_gate_write) { model + 4096, 512, 4096, -1 };
  ck_assert_msg (xd_gate_race (io, race_write, h, &a, &b),
                 "thread A never wrote its new block's data");
  ck_assert_int_eq (a.r, 0);
  ck_assert_int_eq (b.r, 0);
  ck_assert_int_eq (F->flush (h), 0);
  /* One new block, right after block 4's, holding both writes. */
  ck_assert_uint_eq (xd_be32 (xd_gate_io_contents (io) + l->bat_offset),
                     first + (l->bitmap_bytes + bs) / 512);
  ck_assert_int_eq (F->pread (h, back, (uint32_t) size, 0), 0);
  ck_assert (memcmp (back, model, size) == 0);
  ck_assert_int_eq (F->check (h), 0);
  F->close (h);
  free (model);
  free (back);
}
END_TEST

static Suite *
vhd_write_suite (void)
{
  Suite *s = suite_create ("vhd-write");
  TCase *tc = tcase_create ("vhd-write");

  tcase_add_checked_fixture (tc, setup_res, teardown_res);
  tcase_add_test (tc, test_geometry);
  tcase_add_test (tc, test_create_dynamic);
  tcase_add_test (tc, test_reader_table);
  tcase_add_test (tc, test_create_fixed);
  tcase_add_test (tc, test_create_bad);
  tcase_add_test (tc, test_check_finds);
  suite_add_tcase (s, tc);
  tc = tcase_create ("powerloss");
  tcase_add_checked_fixture (tc, setup_res, teardown_res);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_powerloss_dynamic);
  tcase_add_test (tc, test_powerloss_fixed);
  tcase_add_test (tc, test_powerloss_existing);
  tcase_add_test (tc, test_powerloss_diff);
  suite_add_tcase (s, tc);
  /* Alone in its case: CK_RUN_CASE=race runs it without the rest. */
  tc = tcase_create ("race");
  tcase_add_checked_fixture (tc, setup_res, teardown_res);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_alloc_race);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (vhd_write_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
