/* Unit tests for writing and creating VMDK images in memory: the
 * layout of a new monolithicSparse file, writes read back, the check
 * op, and the power-loss simulator (xd-crash.h) over every crash state
 * of random writes: into a new image (grains and preallocated grain
 * tables), into one whose grain directory has no tables yet (new
 * tables and directory entries), and into a delta disk over a parent
 * full of data (read-modify-write from the parent, zeros hiding it);
 * and two threads allocating the same grain, the race forced.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmdk/vmdk.h"
#include "vmdk/vmdk-read.h"
#include "include/xd-bytes.h"
#include "testlib/xd-crash.h"
#include "testlib/xd-gate-io.h"
#include "core/xd-format.h"
#include "io/xd-io.h"
#include "core/xd-path.h"
#include "unittest/xd-test.h"

extern const struct xd_format xd_format_vmdk;
extern const struct xd_format xd_reader_vmdk;

#define MiB (UINT64_C (1) << 20)

static void *
create_mem (uint64_t size, const char *type, struct xd_resolver **res)
{
  struct xd_create_opts copts = { .size = size, .type = type };
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_io *io = xd_io_new_memory_rw (NULL, 0, "mem.vmdk");

  ck_assert_ptr_nonnull (io);
  *res = xd_resolver_new_stream ("a test buffer");
  ck_assert_ptr_nonnull (*res);
  return xd_format_vmdk.create (io, *res, &copts, &opts);
}

START_TEST (test_create_layout)
{
  struct xd_resolver *res;
  void *h = create_mem (100 * MiB, NULL, &res);
  unsigned char buf[4096];
  const char *why;

  ck_assert_ptr_nonnull (h);
  ck_assert_uint_eq (xd_format_vmdk.size (h), 100 * MiB);
  ck_assert (xd_format_vmdk.can_write (h, &why));
  memset (buf, 0x5a, sizeof buf);
  ck_assert_int_eq (xd_format_vmdk.pwrite (h, buf, 1000, 65000), 0);
  ck_assert_int_eq (xd_format_vmdk.flush (h), 0);
  ck_assert_int_eq (xd_format_vmdk.check (h), 0);
  memset (buf, 0, sizeof buf);
  ck_assert_int_eq (xd_format_vmdk.pread (h, buf, 2000, 64500), 0);
  ck_assert_uint_eq (buf[0], 0);
  ck_assert_uint_eq (buf[499], 0);
  ck_assert_uint_eq (buf[500], 0x5a);
  ck_assert_uint_eq (buf[1499], 0x5a);
  ck_assert_uint_eq (buf[1500], 0);

  xd_format_vmdk.close (h);
  xd_resolver_free (res);
}
END_TEST

static int
read_header (const unsigned char *img, size_t len, struct vmdk_sparse *sp)
{
  struct xd_io *io = xd_io_open_memory (img, len, "img");
  int r = vmdk_read_sparse_header (io, sp);

  xd_io_close (io);
  return r;
}

/* The bytes of a new monolithicSparse image of SIZE, flushed. */
static unsigned char *
new_image (uint64_t size, size_t *len)
{
  struct xd_recorder *rec;
  struct xd_create_opts copts = { .size = size };
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_io *io = xd_recorder_io_new (NULL, 0, "new.vmdk", &rec);
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  unsigned char *copy;
  void *h;

  ck_assert_ptr_nonnull (io);
  xd_io_ref (io);
  h = xd_format_vmdk.create (io, res, &copts, &opts);
  ck_assert_ptr_nonnull (h);
  ck_assert_int_eq (xd_format_vmdk.flush (h), 0);
  *len = io->size;
  copy = malloc (*len);
  ck_assert_ptr_nonnull (copy);
  ck_assert_int_eq (xd_io_read (io, copy, *len, 0, "image"), 0);
  xd_format_vmdk.close (h);
  xd_io_close (io);
  xd_recorder_free (rec);
  xd_resolver_free (res);
  return copy;
}

START_TEST (test_header_fields)
{
  size_t len;
  unsigned char *img = new_image (100 * MiB, &len);
  struct vmdk_sparse sp;
  uint64_t i;

  ck_assert_int_eq (read_header (img, len, &sp), 0);
  ck_assert_uint_eq (sp.version, 1);
  ck_assert_uint_eq (sp.flags, 3);
  ck_assert_uint_eq (sp.grain_sectors, 128);
  ck_assert_uint_eq (sp.gtes_per_gt, 512);
  ck_assert_uint_eq (sp.desc_offset, 1);
  ck_assert_uint_eq (sp.desc_size, 20);
  ck_assert_uint_eq (sp.rgd_offset, 21);
  ck_assert_uint_eq (sp.overhead % 128, 0);
  ck_assert_uint_eq (len, sp.overhead * 512);
  ck_assert (memcmp (img + 512, "# Disk DescriptorFile\n", 22) == 0);
  ck_assert_ptr_nonnull (strstr ((char *) img + 512, "\n# Extent description\n"));
  ck_assert_ptr_nonnull (strstr ((char *) img + 512, "\n# The Disk Data Base \n#DDB\n"));
  ck_assert_ptr_nonnull (strstr ((char *) img + 512, "createType=\"monolithicSparse\""));
  /* Both directories full, each entry at its own table. */
  for (i = 0; i < sp.nr_gd_entries; ++i) {
    ck_assert_uint_ne (xd_le32 (img + sp.gd_offset * 512 + i * 4), 0);
    ck_assert_uint_ne (xd_le32 (img + sp.rgd_offset * 512 + i * 4), 0);
  }
  free (img);
}
END_TEST

/* Clear both grain directories: every table becomes one to allocate. */
static void
drop_tables (unsigned char *img, size_t len)
{
  struct vmdk_sparse sp;

  ck_assert_int_eq (read_header (img, len, &sp), 0);
  memset (img + sp.gd_offset * 512, 0, sp.nr_gd_entries * 4);
  memset (img + sp.rgd_offset * 512, 0, sp.nr_gd_entries * 4);
}

/* Crash states are also read through the redundant grain directory
 * and tables, as a repair would (the primary ones lost): they too may
 * point only at durable grains and tables.  The view is a copy of the
 * file with the two directory offsets of the header swapped.
 */
struct redundant_view {
  void *h;
  unsigned char *copy;
};

static void *
rv_open (struct xd_io *io, const struct xd_resolver *res,
         const struct xd_open_opts *opts)
{
  struct redundant_view *v = calloc (1, sizeof *v);
  unsigned char gd[8];
  struct xd_io *view;

  v->copy = malloc (io->size ? io->size : 1);
  ck_assert_ptr_nonnull (v->copy);
  if (xd_io_read (io, v->copy, io->size, 0, "the image") == -1) {
    xd_io_close (io);
    free (v->copy);
    free (v);
    return NULL;
  }
  if (io->size >= 64 && xd_le64 (v->copy + 48) != 0) {
    memcpy (gd, v->copy + 56, 8);
    memcpy (v->copy + 56, v->copy + 48, 8);
    memcpy (v->copy + 48, gd, 8);
  }
  view = xd_io_open_memory (v->copy, io->size, io->name);
  xd_io_close (io);
  v->h = view ? xd_format_vmdk.open (view, res, opts) : NULL;
  if (v->h == NULL) {
    free (v->copy);
    free (v);
    return NULL;
  }
  return v;
}

static void
rv_close (void *h)
{
  struct redundant_view *v = h;

  xd_format_vmdk.close (v->h);
  free (v->copy);
  free (v);
}

static uint64_t
rv_size (void *h)
{
  return xd_format_vmdk.size (((struct redundant_view *) h)->h);
}

static int
rv_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return xd_format_vmdk.pread (((struct redundant_view *) h)->h, buf, count,
                               offset);
}

/* No check op: the redundant copies may run ahead of the primary ones. */
static const struct xd_format redundant_format = {
  .name = "vmdk", .display = "VMDK through its redundant tables",
  .open = rv_open, .close = rv_close, .size = rv_size, .pread = rv_pread,
};

static void
run_powerloss_case (struct xd_powerloss_case *c)
{
  struct xd_powerloss_stats st;

  ck_assert_msg (xd_powerloss_run (c, &st) == 0, "%s: %s", c->name,
                 last_error);
  fprintf (stderr, "test-vmdk-write: %s: %lu crash states checked "
           "(%lu epochs, %lu writes, %lu barriers, %lu reopened)\n",
           c->name, st.states, st.epochs, st.writes, st.flushes,
           st.reopened);
  ck_assert_uint_gt (st.states, 50);
  c->check_format = &redundant_format;
  ck_assert_msg (xd_powerloss_run (c, &st) == 0, "%s, redundant tables: %s",
                 c->name, last_error);
  c->check_format = NULL;
}

static void
run_powerloss (const char *name, unsigned char *img, size_t len,
               unsigned seed, unsigned ops)
{
  struct xd_create_opts copts = { .size = 3 * MiB / 2 };
  struct xd_powerloss_case c = {
    .name = name, .format = &xd_format_vmdk, .io_name = "pl.vmdk",
    .seed = seed, .nr_ops = ops, .max_sectors = 300, .flush_every = 5,
    .use_zero = true, .exhaustive_max = 8, .samples_per_epoch = 16,
  };

  if (img) {
    c.image = img;
    c.image_len = len;
  }
  else
    c.create = &copts;
  run_powerloss_case (&c);
}

START_TEST (test_powerloss_new)
{
  run_powerloss ("new monolithicSparse", NULL, 0, 11, 40);
}
END_TEST

START_TEST (test_powerloss_new_tables)
{
  size_t len;
  /* 33 MiB: 2 grain tables, none allocated. */
  unsigned char *img = new_image (33 * MiB, &len);

  drop_tables (img, len);
  run_powerloss ("grain tables to allocate", img, len, 12, 30);
  free (img);
}
END_TEST

/* A delta disk over a parent file full of data: partial grains are
 * read-modify-written from the parent, zeros must hide it.
 */
START_TEST (test_powerloss_delta)
{
  char dir[] = "/tmp/test-vmdk-write.XXXXXX", parent[64], child[64];
  struct xd_create_opts pcopts = { .size = 3 * MiB / 2 };
  struct xd_create_opts copts = { .parent = parent, .path = child };
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_path_policy policy;
  struct xd_resolver *res;
  struct xd_io *io;
  unsigned char *data = malloc (pcopts.size);
  void *h;
  size_t i;

  ck_assert_ptr_nonnull (mkdtemp (dir));
  snprintf (parent, sizeof parent, "%s/parent.vmdk", dir);
  snprintf (child, sizeof child, "%s/child.vmdk", dir);
  io = xd_io_create_file (parent, false);
  ck_assert_ptr_nonnull (io);
  /* The policy needs the file to exist: it holds its directory. */
  ck_assert_int_eq (xd_path_policy_init (&policy, parent, NULL), 0);
  res = xd_resolver_new_dir (&policy);
  h = xd_format_vmdk.create (io, res, &pcopts, &opts);
  ck_assert_ptr_nonnull (h);
  for (i = 0; i < pcopts.size; ++i)
    data[i] = 0xa0 ^ (i >> 9);
  ck_assert_int_eq (xd_format_vmdk.pwrite (h, data, pcopts.size, 0), 0);
  xd_format_vmdk.close (h);

  struct xd_powerloss_case c = {
    .name = "delta disk", .format = &xd_format_vmdk, .create = &copts,
    .io_name = child, .res = res, .seed = 13, .nr_ops = 30,
    .max_sectors = 300, .flush_every = 5, .use_zero = true,
    .exhaustive_max = 8, .samples_per_epoch = 16,
  };
  run_powerloss_case (&c);
  xd_resolver_free (res);
  xd_path_policy_free (&policy);
  unlink (parent);
  rmdir (dir);
  free (data);
}
END_TEST

START_TEST (test_check_finds_overlap)
{
  size_t len;
  unsigned char *img = new_image (MiB, &len);
  struct vmdk_sparse sp;
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  struct xd_io *io;
  uint64_t gt;
  void *h;

  ck_assert_int_eq (read_header (img, len, &sp), 0);
  gt = xd_le32 (img + sp.gd_offset * 512);
  /* Grain 0 at the grain directory, grain 1 beyond the end. */
  xd_put_le32 (img + gt * 512, (uint32_t) sp.gd_offset);
  xd_put_le32 (img + gt * 512 + 4, 1000000);
  io = xd_io_new_memory_rw (img, len, "bad.vmdk");
  h = xd_format_vmdk.open (io, res, &opts);
  ck_assert_ptr_nonnull (h);
  ck_assert_int_eq (xd_format_vmdk.check (h), -1);
  ck_error_has ("bad.vmdk");
  xd_format_vmdk.close (h);
  xd_resolver_free (res);
  free (img);
}
END_TEST

/* The reader's table opens read-only whatever opts->writable says, and
 * shares its read fields with the composed table, which attaches the
 * writer (the grain table hook) and releases it on close.
 */
START_TEST (test_reader_table)
{
  size_t len;
  unsigned char *img = new_image (MiB, &len);
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  struct xd_io *io = xd_io_new_memory_rw (img, len, "ro.vmdk");
  unsigned char buf[4096], zero[4096] = { 0 };
  struct vmdk_disk *d;

  ck_assert_str_eq (xd_reader_vmdk.name, xd_format_vmdk.name);
  ck_assert (xd_reader_vmdk.probe == xd_format_vmdk.probe);
  ck_assert (xd_reader_vmdk.config == xd_format_vmdk.config);
  ck_assert (xd_reader_vmdk.size == xd_format_vmdk.size);
  ck_assert (xd_reader_vmdk.can_write == NULL);
  ck_assert (xd_reader_vmdk.pwrite == NULL);
  ck_assert (xd_reader_vmdk.create == NULL);

  ck_assert_ptr_nonnull (io);
  xd_io_ref (io);
  d = xd_reader_vmdk.open (io, res, &opts);
  ck_assert_ptr_nonnull (d);
  ck_assert (!d->writable);
  ck_assert (d->extents[0].gte_lookup == NULL);
  ck_assert_int_eq (xd_reader_vmdk.pread (d, buf, sizeof buf, 0), 0);
  ck_assert (memcmp (buf, zero, sizeof buf) == 0);
  xd_reader_vmdk.close (d);
  ck_assert (memcmp (xd_io_memory_contents (io), img, len) == 0);

  xd_io_ref (io);
  d = xd_format_vmdk.open (io, res, &opts);
  ck_assert_ptr_nonnull (d);
  ck_assert (d->writable);
  ck_assert (d->extents[0].gte_lookup != NULL);
  xd_format_vmdk.close (d);
  xd_io_close (io);
  xd_resolver_free (res);
  free (img);
}
END_TEST

/* ---- two threads allocating the same grain (the disk's lock) ---- */

static int
race_write (void *h, const void *buf, uint32_t len, uint64_t off)
{
  return xd_format_vmdk.pwrite (h, buf, len, off);
}

/* Thread A writes sector 0 of the unallocated grain 0, thread B sector
 * 8; A's write of the new grain is held until B has returned, or, as B
 * waits for the lock, until the gate's timeout (xd-gate-io.h).  Without
 * the lock around allocation, B allocates a grain of its own meanwhile
 * and A's grain table entry, set last, loses B's data
 * (tests/mutants.txt: vmdk-alloc-unlocked).
 */
START_TEST (test_alloc_race)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  static unsigned char model[MiB], back[MiB];
  struct xd_gate_write a, b;
  struct xd_io *io;
  size_t len;
  unsigned char *img = new_image (MiB, &len);
  void *h;

  io = xd_gate_io_new (img, len, "gate.vmdk");
  ck_assert_ptr_nonnull (io);
  free (img);
  h = xd_format_vmdk.open (io, res, &opts);
  ck_assert_ptr_nonnull (h);
  /* The first write (a new CID) out of the way. */
  memset (model + 512 * 1024, 0x55, 512);
  ck_assert_int_eq (xd_format_vmdk.pwrite (h, model + 512 * 1024, 512,
                                           512 * 1024), 0);
  memset (model, 0xaa, 512);
  memset (model + 4096, 0xbb, 512);
  a = (struct xd_gate_write) { model, 512, 0, -1 };
  b = (struct xd_gate_write) { model + 4096, 512, 4096, -1 };
  ck_assert_msg (xd_gate_race (io, race_write, h, &a, &b),
                 "thread A never wrote its new grain");
  ck_assert_int_eq (a.r, 0);
  ck_assert_int_eq (b.r, 0);
  ck_assert_int_eq (xd_format_vmdk.flush (h), 0);
  ck_assert_int_eq (xd_format_vmdk.pread (h, back, MiB, 0), 0);
  ck_assert (memcmp (back, model, MiB) == 0);
  ck_assert_int_eq (xd_format_vmdk.check (h), 0);
  xd_format_vmdk.close (h);
  xd_resolver_free (res);
}
END_TEST

static Suite *
vmdk_write_suite (void)
{
  Suite *s = suite_create ("vmdk-write");
  TCase *tc = tcase_create ("write");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_create_layout);
  tcase_add_test (tc, test_header_fields);
  tcase_add_test (tc, test_check_finds_overlap);
  tcase_add_test (tc, test_reader_table);
  tcase_add_test (tc, test_powerloss_new);
  tcase_add_test (tc, test_powerloss_new_tables);
  tcase_add_test (tc, test_powerloss_delta);
  suite_add_tcase (s, tc);
  /* Alone in its case: CK_RUN_CASE=race runs it without the rest. */
  tc = tcase_create ("race");
  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_alloc_race);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (vmdk_write_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
