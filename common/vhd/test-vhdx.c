/* Unit tests for writing and creating VHDX (vhdx-write.c, vhdx-create.c,
 * vhdx-check.c, the log writer in vhdx-log.c), on growable memory ios.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhdx-write.h"
#include "include/xd-bytes.h"
#include "testlib/xd-crash.h"
#include "testlib/xd-gate-io.h"
#include "unittest/xd-test.h"
#include "core/xd-guid.h"

#define MIB (1u << 20)
#define DISK (8 * MIB)

static struct xd_resolver *res;
static const struct xd_open_opts wopts = { .cache_bytes = MIB,
                                           .writable = true };
static const struct xd_open_opts ropts = { .cache_bytes = MIB };

static struct vd_disk *
create (const char *type, uint32_t block_size, uint32_t sector_size)
{
  struct xd_create_opts c = { .size = DISK, .type = type,
                              .block_size = block_size,
                              .sector_size = sector_size,
                              .path = "mem.vhdx" };
  struct xd_io *io = xd_io_new_memory_rw (NULL, 0, "mem.vhdx");

  ck_assert_ptr_nonnull (io);
  if (res == NULL)
    res = xd_resolver_new_stream ("the test's memory");
  return vhdx_create (io, res, &c, &wopts);
}

/* Open a copy of the bytes of the memory io IO.  With KEEP, *KEEP gets
 * a reference to the copy (the disk's io may become a log overlay).
 */
static struct vd_disk *
reopen_io (struct xd_io *io, const struct xd_open_opts *opts,
           struct xd_io **keep)
{
  struct xd_io *copy = xd_io_new_memory_rw (xd_io_memory_contents (io),
                                            io->size, "copy.vhdx");

  ck_assert_ptr_nonnull (copy);
  if (keep)
    *keep = xd_io_ref (copy);
  return vd_disk_open (copy, res, opts);
}

/* Close DISK as the format's close does: its writer first. */
static void
close_disk (struct vd_disk *disk)
{
  vhdx_writer_detach (disk);
  vd_disk_close (disk);
}

static struct vd_disk *
reopen (struct vd_disk *disk, const struct xd_open_opts *opts)
{
  return reopen_io (disk->top->io, opts, NULL);
}

static void
assert_reads (struct vd_disk *disk, const uint8_t *expect)
{
  uint8_t *buf = malloc (DISK);

  ck_assert_ptr_nonnull (buf);
  ck_assert_int_eq (vd_disk_read (disk, buf, DISK, 0), 0);
  if (memcmp (buf, expect, DISK) != 0) {
    size_t i;
    for (i = 0; buf[i] == expect[i]; i++)
      ;
    ck_abort_msg ("byte %zu reads %d, expected %d", i, buf[i], expect[i]);
  }
  free (buf);
}

/* Writes of every shape, zeros, trims: the disk reads as the model. */
static void
exercise (struct vd_disk *disk, uint8_t *model)
{
  static const struct { uint64_t off; uint32_t len; } w[] = {
    { 0, 512 }, { 1000, 5000 }, { MIB - 700, 1400 }, { 3 * MIB, MIB },
    { 5 * MIB + 1, 2 * MIB + 77 }, { DISK - 100, 100 },
  };
  uint8_t *buf = malloc (3 * MIB);
  size_t i;

  ck_assert_ptr_nonnull (buf);
  for (i = 0; i < sizeof w / sizeof w[0]; i++) {
    memset (buf, (int) i + 1, w[i].len);
    ck_assert_int_eq (vhdx_pwrite (disk, buf, w[i].len, w[i].off), 0);
    memcpy (model + w[i].off, buf, w[i].len);
  }
  ck_assert_int_eq (vhdx_zero (disk, 2000, 1500, false, false), 0);
  memset (model + 1500, 0, 2000);
  ck_assert_int_eq (vhdx_zero (disk, MIB, 3 * MIB, true, false), 0);
  memset (model + 3 * MIB, 0, MIB);
  ck_assert_int_eq (vhdx_trim (disk, 2 * MIB, 6 * MIB), 0);
  /* Trimmed blocks read as zeros (dynamic) or stay (fixed). */
  ck_assert_int_eq (vd_disk_read (disk, buf, 2 * MIB, 6 * MIB), 0);
  for (i = 0; i < 2 * MIB; i++)
    ck_assert (buf[i] == 0 || buf[i] == model[6 * MIB + i]);
  memcpy (model + 6 * MIB, buf, 2 * MIB);
  assert_reads (disk, model);
  free (buf);
}

START_TEST (test_create_write)
{
  static const char *const types[] = { "dynamic", "fixed" };
  uint8_t *model = calloc (1, DISK);
  unsigned t, sector;

  for (t = 0; t < 2; t++)
    for (sector = 512; sector <= 4096; sector *= 8) {
      struct vd_disk *disk = create (types[t], MIB, sector), *again;
      ck_assert_ptr_nonnull (disk);
      ck_assert_int_eq (disk->top->x.logical_sector_size, sector);
      ck_assert_int_eq (disk->top->x.leave_blocks_allocated, t == 1);
      memset (model, 0, DISK);
      assert_reads (disk, model);
      exercise (disk, model);
      ck_assert_int_eq (vhdx_check (disk), 0);
      ck_assert_int_eq (vhdx_flush (disk), 0);
      again = reopen (disk, &ropts);
      ck_assert_ptr_nonnull (again);
      assert_reads (again, model);
      ck_assert_int_eq (again->top->log_entries, 0);
      ck_assert_int_eq (vhdx_check (again), 0);
      close_disk (again);
      close_disk (disk);
    }
  free (model);
}
END_TEST

/* Write a header naming the log of the entry at the start of L's log. */
static void
log_in_use (struct vd_layer *l)
{
  struct vhdx_info x;
  uint8_t entry[64], h[VHDX_HEADER_SIZE];

  ck_assert_int_eq (vhdx_read_headers (l->io, &x), 0);
  ck_assert_int_eq (xd_io_read (l->io, entry, 64, x.header.log_offset,
                                "log"), 0);
  ck_assert (memcmp (entry, "loge", 4) == 0);
  memcpy (x.header.log_guid, entry + 32, 16);
  x.header.sequence++;
  vhdx_build_header (h, &x.header);
  ck_assert_int_eq (xd_io_write (l->io, h, sizeof h,
                                 x.current_header == 1
                                 ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET,
                                 "header"), 0);
}

/* The log without its in-place update: replayed on open. */
START_TEST (test_log_replay)
{
  struct vd_disk *disk = create ("dynamic", MIB, 512), *again;
  uint8_t *model = calloc (1, DISK), buf[4096] = { 0 };
  struct xd_io *file;
  uint64_t bat;

  ck_assert_ptr_nonnull (disk);
  memset (model + 2 * MIB, 0x5a, 4096);
  ck_assert_int_eq (vhdx_pwrite (disk, model + 2 * MIB, 4096, 2 * MIB), 0);
  ck_assert_int_eq (vhdx_flush (disk), 0);
  /* As a crash after the commit, before the flush empties the log,
   * leaves the file: the header names the log again, and the in-place
   * BAT update never reached the disk.
   */
  log_in_use (disk->top);
  bat = disk->top->x.bat_offset;
  ck_assert_int_eq (xd_io_write (disk->top->io, buf, 4096, bat, "BAT"), 0);
  again = reopen (disk, &ropts);
  ck_assert_ptr_nonnull (again);
  ck_assert_int_ge (again->top->log_entries, 1);
  assert_reads (again, model);
  ck_assert_int_eq (vhdx_check (again), 0);
  close_disk (again);
  /* The reader table replays it in memory only, even asked to write. */
  file = xd_io_new_memory_rw (xd_io_memory_contents (disk->top->io),
                              disk->top->io->size, "copy.vhdx");
  ck_assert_ptr_nonnull (file);
  again = xd_reader_vhdx.open (file, res, &wopts);
  ck_assert_ptr_nonnull (again);
  ck_assert (again->top->bat_override == NULL);
  ck_assert_int_ge (again->top->log_entries, 1);
  assert_reads (again, model);
  xd_reader_vhdx.close (again);
  /* Writable: the first write replays it into the file. */
  again = reopen_io (disk->top->io, &wopts, &file);
  ck_assert_ptr_nonnull (again);
  ck_assert_int_eq (vhdx_writer_attach (again), 0);
  memset (model + 5 * MIB, 0x77, 512);
  ck_assert_int_eq (vhdx_pwrite (again, model + 5 * MIB, 512, 5 * MIB), 0);
  ck_assert_int_eq (vhdx_flush (again), 0);
  close_disk (disk);
  disk = reopen_io (file, &ropts, NULL);
  xd_io_close (file);
  ck_assert_int_eq (disk->top->log_entries, 0);
  assert_reads (disk, model);
  close_disk (disk);
  close_disk (again);
  free (model);
}
END_TEST

START_TEST (test_structure)
{
  struct vd_disk *disk = create ("fixed", 2 * MIB, 512);
  uint64_t i, e, expect = 0;

  ck_assert_ptr_nonnull (disk);
  ck_assert_int_eq (disk->top->x.bat_offset % MIB, 0);
  ck_assert_int_eq (disk->top->x.metadata_offset % MIB, 0);
  ck_assert_int_eq (disk->top->x.header.log_offset % MIB, 0);
  for (i = 0; i < disk->top->x.bat_entries; i++) {
    ck_assert_int_eq (vd_layer_bat_entry (disk->top, i, &e), 0);
    ck_assert_int_eq (VHDX_BAT_STATE (e), VHDX_BAT_FULLY_PRESENT);
    if (i == 0)
      expect = VHDX_BAT_OFFSET (e);
    ck_assert_uint_eq (VHDX_BAT_OFFSET (e), expect + i * 2 * MIB);
  }
  close_disk (disk);
  disk = create ("dynamic", 0, 4096);
  ck_assert_ptr_nonnull (disk);
  ck_assert_int_eq (disk->top->x.block_size, 32 * MIB);
  ck_assert_int_eq (vd_layer_bat_entry (disk->top, 0, &e), 0);
  ck_assert_uint_eq (e, VHDX_BAT_NOT_PRESENT);
  close_disk (disk);
}
END_TEST

START_TEST (test_bad_create)
{
  ck_assert_ptr_null (create ("sparse", 0, 0));
  ck_error_has ("create-type");
  ck_assert_ptr_null (create (NULL, 3 * MIB, 0));
  ck_error_has ("create-block-size");
  ck_assert_ptr_null (create (NULL, 0, 1024));
  ck_error_has ("create-sector-size");
}
END_TEST

START_TEST (test_header_round_trip)
{
  struct vhdx_header h = { .sequence = 77, .log_length = MIB,
                           .log_offset = MIB }, back;
  uint8_t buf[VHDX_HEADER_SIZE];

  ck_assert_int_eq (xd_guid_generate (h.data_write_guid), 0);
  ck_assert_int_eq (h.data_write_guid[7] >> 4, 4);
  vhdx_build_header (buf, &h);
  ck_assert_int_eq (vhdx_parse_header (buf, &back), 0);
  ck_assert_uint_eq (back.sequence, 77);
  ck_assert_uint_eq (back.log_length, MIB);
  ck_assert_uint_eq (back.log_offset, MIB);
  ck_assert (memcmp (back.data_write_guid, h.data_write_guid, 16) == 0);
  buf[100] ^= 1;
  ck_assert_int_eq (vhdx_parse_header (buf, &back), -1);
}
END_TEST

/* ---- power loss (xd-crash.h) ---- */

/* A parent image in memory, which the resolver below hands out for any
 * name ending in "parent.vhdx".
 */
static uint8_t *parent_buf;
static size_t parent_len;

static struct xd_io *
mem_try_open (const struct xd_resolver *r XD_UNUSED,
              const char *from XD_UNUSED, const char *name)
{
  size_t n = strlen (name);

  if (parent_buf == NULL || n < 11 || strcmp (name + n - 11, "parent.vhdx")) {
    errno = ENOENT;
    return NULL;
  }
  return xd_io_open_memory (parent_buf, parent_len, "parent.vhdx");
}

static void
mem_report (const struct xd_resolver *r XD_UNUSED, const char *from,
            const char *name, const char *what, int err)
{
  xd_error ("%s: %s %s: %s", from, what, name, strerror (err));
}

static const struct xd_resolver_ops mem_ops = {
  .try_open = mem_try_open, .report = mem_report,
};
static const struct xd_resolver mem_res = { .ops = &mem_ops };

/* The disks of the power-loss cases: 1 MiB blocks, so that the short
 * runs below allocate many of them.  Under valgrind (tests/run-sanitizers
 * caps the states with XDISK_CRASH_MAX_STATES: it looks for memory
 * errors, not for coverage) 2 MiB, as every state copies and reads the
 * whole disk.
 */
#define PL_SIZE (getenv ("XDISK_CRASH_MAX_STATES") ? 2 * MIB : 8 * MIB)

/* A dynamic parent with data in some places. */
static void
make_parent (uint32_t sector)
{
  struct vd_disk *disk = create ("dynamic", PL_SIZE, sector);
  uint8_t buf[8192];
  struct xd_io *io;

  ck_assert_ptr_nonnull (disk);
  memset (buf, 0xa5, sizeof buf);
  ck_assert_int_eq (vhdx_pwrite (disk, buf, sizeof buf, 4096), 0);
  ck_assert_int_eq (vhdx_pwrite (disk, buf, sizeof buf, MIB - 4096), 0);
  ck_assert_int_eq (vhdx_flush (disk), 0);
  io = disk->top->io;
  free (parent_buf);
  parent_len = io->size;
  parent_buf = malloc (parent_len);
  ck_assert_ptr_nonnull (parent_buf);
  memcpy (parent_buf, xd_io_memory_contents (io), parent_len);
  close_disk (disk);
}

static void
powerloss (const char *name, const char *type, uint32_t sector,
           const char *parent, unsigned nr_ops, unsigned exhaustive,
           unsigned samples)
{
  extern const struct xd_format xd_format_vhdx;
  struct xd_create_opts copts = { .size = parent ? 0 : PL_SIZE,
                                  .type = type, .block_size = MIB,
                                  .sector_size = sector, .parent = parent,
                                  .path = "child.vhdx" };
  struct xd_powerloss_case c = {
    .name = name, .format = &xd_format_vhdx, .create = &copts,
    .io_name = "child.vhdx", .res = parent ? &mem_res : NULL,
    .seed = 11 + sector + nr_ops, .nr_ops = nr_ops, .max_sectors = 24,
    .flush_every = 6,
    .use_zero = true, .exhaustive_max = exhaustive,
    .samples_per_epoch = samples,
    /* 512-byte sectors: a metadata sector torn into garbage must be
     * repaired by the log (4096: a 512e disk tears its pieces, which the
     * writer's read-modify-writes of client data cannot survive).
     */
    .garble = sector == 512,
  };
  struct xd_powerloss_stats st;

  if (parent)
    make_parent (sector);
  ck_assert_msg (xd_powerloss_run (&c, &st) == 0, "%s: %s", name,
                 last_error);
  fprintf (stderr, "power loss, %s: %lu crash states, %lu epochs, %lu "
           "writes, %lu flushes, %lu reopened for writing\n", name,
           st.states, st.epochs, st.writes, st.flushes, st.reopened);
  ck_assert_uint_gt (st.states, 50);
}

START_TEST (test_powerloss_dynamic)
{
  powerloss ("dynamic 512", "dynamic", 512, NULL, 30, 10, 32);
  powerloss ("dynamic 4096", "dynamic", 4096, NULL, 24, 8, 16);
}
END_TEST

START_TEST (test_powerloss_fixed)
{
  powerloss ("fixed", "fixed", 512, NULL, 24, 8, 16);
}
END_TEST

START_TEST (test_powerloss_child)
{
  powerloss ("child 512", NULL, 512, "parent.vhdx", 30, 10, 32);
  powerloss ("child 4096", NULL, 4096, "parent.vhdx", 24, 8, 16);
}
END_TEST

/* An image whose log must be replayed (as test_log_replay makes it):
 * the first write replays it, flushes, and only then drops it from the
 * header.
 */
START_TEST (test_powerloss_replay)
{
  extern const struct xd_format xd_format_vhdx;
  struct vd_disk *disk = create ("dynamic", PL_SIZE, 512);
  uint8_t buf[4096], *image;
  struct xd_powerloss_stats st;
  size_t len;

  ck_assert_ptr_nonnull (disk);
  memset (buf, 0x5a, sizeof buf);
  ck_assert_int_eq (vhdx_pwrite (disk, buf, sizeof buf, 2 * MIB), 0);
  ck_assert_int_eq (vhdx_flush (disk), 0);
  log_in_use (disk->top);
  memset (buf, 0, sizeof buf);
  ck_assert_int_eq (xd_io_write (disk->top->io, buf, sizeof buf,
                                 disk->top->x.bat_offset, "BAT"), 0);
  len = disk->top->io->size;
  image = malloc (len);
  ck_assert_ptr_nonnull (image);
  memcpy (image, xd_io_memory_contents (disk->top->io), len);
  close_disk (disk);
  {
    struct xd_powerloss_case c = {
      .name = "log replay", .format = &xd_format_vhdx, .image = image,
      .image_len = len, .io_name = "replay.vhdx", .seed = 23, .nr_ops = 20,
      .max_sectors = 24, .flush_every = 6, .use_zero = true,
      .exhaustive_max = 8, .samples_per_epoch = 8, .garble = true,
    };
    ck_assert_msg (xd_powerloss_run (&c, &st) == 0, "log replay: %s",
                   last_error);
  }
  fprintf (stderr, "power loss, log replay: %lu crash states\n", st.states);
  ck_assert_uint_gt (st.states, 50);
  free (image);
}
END_TEST

START_TEST (test_powerloss_long)
{
  powerloss ("dynamic, long", "dynamic", 512, NULL, 120, 3, 3);
  powerloss ("child, long", NULL, 512, "parent.vhdx", 60, 3, 3);
}
END_TEST

/* ---- two threads allocating the same block (the writer's lock) ---- */

static int
race_write (void *disk, const void *buf, uint32_t len, uint64_t off)
{
  return vhdx_pwrite (disk, buf, len, off);
}

/* A dynamic VHDX on a gate io, its session started and one block in
 * use, so that the next new block starts at the end of the file.
 */
static struct vd_disk *
open_gated (uint8_t *model)
{
  struct vd_disk *made = create ("dynamic", MIB, 512), *disk;
  struct xd_io *io;

  ck_assert_ptr_nonnull (made);
  ck_assert_int_eq (vhdx_flush (made), 0);
  io = xd_gate_io_new (xd_io_memory_contents (made->top->io),
                       made->top->io->size, "gate.vhdx");
  ck_assert_ptr_nonnull (io);
  close_disk (made);
  disk = vd_disk_open (io, res, &wopts);
  ck_assert_ptr_nonnull (disk);
  ck_assert_int_eq (vhdx_writer_attach (disk), 0);
  memset (model + 6 * MIB, 0x66, 512);
  ck_assert_int_eq (vhdx_pwrite (disk, model + 6 * MIB, 512, 6 * MIB), 0);
  return disk;
}

/* Thread A writes sector 0 of the unallocated block 2, thread B sector
 * 8.  A's write of the new block's data is held (xd-gate-io.h) until B
 * has returned, or, as B waits for the writer's lock, until the gate's
 * timeout.  Without the lock around allocation, B allocates a block of
 * its own meanwhile and A's table entry, written last, loses B's data
 * (tests/mutants.txt: vhdx-alloc-unlocked).
 */
START_TEST (test_alloc_race)
{
  uint8_t *model = calloc (1, DISK);
  struct vd_disk *disk, *again;
  struct xd_io *io, *copy;
  struct xd_gate_write a, b;
  uint64_t before, e;

  ck_assert_ptr_nonnull (model);
  disk = open_gated (model);
  io = disk->top->io;
  before = io->size;
  memset (model + 2 * MIB, 0xaa, 512);
  memset (model + 2 * MIB + 4096, 0xbb, 512);
  a = (struct xd_gate_write) { model + 2 * MIB, 512, 2 * MIB, -1 };
  b = (struct xd_gate_write) { model + 2 * MIB + 4096, 512,
                               2 * MIB + 4096, -1 };
  ck_assert_msg (xd_gate_race (io, race_write, disk, &a, &b),
                 "thread A never wrote its new block's data");
  ck_assert_int_eq (a.r, 0);
  ck_assert_int_eq (b.r, 0);
  /* One new block, at the old end of the file, holding both writes. */
  ck_assert_msg (io->size == before + MIB,
                 "the file grew by %" PRIu64 " bytes, not one 1 MiB block",
                 io->size - before);
  ck_assert_int_eq (vd_layer_bat_entry (disk->top, vhdx_bat_index_of_block
                                        (&disk->top->x, 2), &e), 0);
  ck_assert_uint_eq (VHDX_BAT_STATE (e), VHDX_BAT_FULLY_PRESENT);
  ck_assert_uint_eq (VHDX_BAT_OFFSET (e), before);
  assert_reads (disk, model);
  ck_assert_int_eq (vhdx_check (disk), 0);
  ck_assert_int_eq (vhdx_flush (disk), 0);
  copy = xd_io_new_memory_rw (xd_gate_io_contents (io), io->size,
                              "copy.vhdx");
  ck_assert_ptr_nonnull (copy);
  again = vd_disk_open (copy, res, &ropts);
  ck_assert_ptr_nonnull (again);
  assert_reads (again, model);
  close_disk (again);
  close_disk (disk);
  free (model);
}
END_TEST

static Suite *
vhdx_suite (void)
{
  Suite *s = suite_create ("vhdx-write");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 600);   /* the sanitizer build is slow */
  tcase_add_test (tc, test_create_write);
  tcase_add_test (tc, test_log_replay);
  tcase_add_test (tc, test_structure);
  tcase_add_test (tc, test_bad_create);
  tcase_add_test (tc, test_header_round_trip);
  tcase_add_test (tc, test_powerloss_dynamic);
  tcase_add_test (tc, test_powerloss_fixed);
  tcase_add_test (tc, test_powerloss_child);
  tcase_add_test (tc, test_powerloss_long);
  tcase_add_test (tc, test_powerloss_replay);
  suite_add_tcase (s, tc);
  /* Alone in its case: CK_RUN_CASE=race runs it without the rest. */
  tc = tcase_create ("race");
  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_alloc_race);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (vhdx_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  if (res)
    xd_resolver_free (res);
  free (parent_buf);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
