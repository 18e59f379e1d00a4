/* Unit tests for the VMDK descriptor parser and sparse header checks,
 * fed from memory buffers.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "vmdk/vmdk.h"
#include "include/xd-bytes.h"
#include "io/xd-io.h"
#include "include/xd-report.h"
#include "unittest/xd-test.h"

static int
parse (const char *text, struct vmdk_descriptor *d)
{
  return vmdk_parse_descriptor (text, strlen (text), "t.vmdk", d);
}

START_TEST (test_desc_basic)
{
  struct vmdk_descriptor d;
  const char *text =
    "# Disk DescriptorFile\r\n"
    "version=1\r\n"
    "CID=12ab34cd\r\n"
    "parentCID=ffffffff\r\n"
    "createType=\"twoGbMaxExtentFlat\"\r\n"
    "\r\n"
    "# Extent description\r\n"
    "RW 4192256 FLAT \"my disk-f001.vmdk\" 0\r\n"
    "RDONLY 2048 SPARSE \"s.vmdk\"\r\n"
    "NOACCESS 100 ZERO\r\n"
    "RW 8 VMFSRDM \"rdm.vmdk\" 16\r\n"
    "ddb.adapterType = \"lsilogic\"\r\n"
    "ddb.geometry.cylinders = \"16383\"\r\n";

  ck_assert_int_eq (parse (text, &d), 0);
  ck_assert_uint_eq (d.cid, 0x12ab34cd);
  ck_assert_uint_eq (d.parent_cid, 0xffffffff);
  ck_assert_str_eq (d.create_type, "twoGbMaxExtentFlat");
  ck_assert_str_eq (d.adapter, "lsilogic");
  ck_assert_uint_eq (d.nr_extents, 4);
  ck_assert_str_eq (d.extents[0].filename, "my disk-f001.vmdk");
  ck_assert_uint_eq (d.extents[0].sectors, 4192256);
  ck_assert_int_eq (d.extents[1].kind, VMDK_SPARSE);
  ck_assert_int_eq (d.extents[1].access, VMDK_RDONLY);
  ck_assert_int_eq (d.extents[2].kind, VMDK_ZERO);
  ck_assert_ptr_null (d.extents[2].filename);
  ck_assert_int_eq (d.extents[3].kind, VMDK_FLAT);
  ck_assert_uint_eq (d.extents[3].offset, 16);
  vmdk_descriptor_free (&d);
}
END_TEST

START_TEST (test_desc_errors)
{
  struct vmdk_descriptor d;

  ck_assert_int_eq (parse ("version=1\nRW 0 FLAT \"a\" 0\n", &d), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "descriptor line 2"));
  ck_assert_int_eq (parse ("version=1\nthis is garbage\n", &d), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "descriptor line 2"));
  ck_assert_int_eq (parse ("version=1\n# nothing\n", &d), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "no extents"));
  ck_assert_int_eq (parse ("RW 10 FLAT \"a\" 18446744073709551615\n", &d),
                    -1);
  ck_assert_ptr_nonnull (strstr (last_error, "overflows"));
  ck_assert_int_eq (parse ("RW 10 FLAT \"a\n", &d), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "descriptor line 1"));
  ck_assert_int_eq (parse ("RW 10 SESPARSE \"a\" 5\n", &d), -1);
  ck_error_has ("only allowed for flat extents");
  ck_assert_int_eq (parse ("RW 10 SESPARSE \"a-sesparse.vmdk\"\n", &d), 0);
  ck_assert_int_eq (d.extents[0].kind, VMDK_SESPARSE);
  ck_assert_str_eq (vmdk_kind_name (d.extents[0].kind), "SESPARSE");
  vmdk_descriptor_free (&d);
  ck_assert_int_eq (parse ("version=7\nRW 10 ZERO\n", &d), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "version"));
  ck_assert_int_eq (errno, EIO);
}
END_TEST

/* A minimal KDMV header: 1 MiB, 64 KiB grains, GD at sector 1. */
static void
make_header (unsigned char *h, uint64_t grain, uint32_t gtes)
{
  memset (h, 0, 512);
  memcpy (h, "KDMV", 4);
  xd_put_le32 (h + 4, 1);
  xd_put_le32 (h + 8, 3);
  xd_put_le64 (h + 12, 2048);
  xd_put_le64 (h + 20, grain);
  xd_put_le32 (h + 44, gtes);
  xd_put_le64 (h + 48, 1);
  xd_put_le64 (h + 56, 1);
  xd_put_le64 (h + 64, 8);
  h[73] = '\n'; h[74] = ' '; h[75] = '\r'; h[76] = '\n';
}

static int
read_header (unsigned char *img, size_t len, struct vmdk_sparse *sp)
{
  struct xd_io *io = xd_io_open_memory (img, len, "s.vmdk");
  int r;

  ck_assert_ptr_nonnull (io);
  r = vmdk_read_sparse_header (io, sp);
  xd_io_close (io);
  return r;
}

START_TEST (test_header)
{
  static unsigned char img[4096];
  struct vmdk_sparse sp;

  make_header (img, 128, 512);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), 0);
  ck_assert_uint_eq (sp.nr_grains, 16);
  ck_assert_uint_eq (sp.nr_gd_entries, 1);

  make_header (img, 3, 512);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "grain size"));
  make_header (img, 0, 512);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "grain size"));
  make_header (img, 128, 0);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "numGTEsPerGT"));
  make_header (img, 128, 512);
  xd_put_le64 (img + 12, UINT64_MAX / 2);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "capacity"));
  make_header (img, 128, 512);
  img[75] = '\n';
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "ASCII"));
  make_header (img, 128, 512);
  img[0] = 'X';
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "magic"));
  make_header (img, 128, 512);
  ck_assert_int_eq (read_header (img, 100, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "truncated"));
}
END_TEST

START_TEST (test_gd)
{
  static unsigned char img[4096];
  struct vmdk_sparse sp;
  struct xd_io *io;
  uint32_t *gd = NULL;

  make_header (img, 128, 512);
  xd_put_le32 (img + 512, 2);           /* GT at sector 2, 4 sectors */
  io = xd_io_open_memory (img, sizeof img, "s.vmdk");
  ck_assert_int_eq (vmdk_read_sparse_header (io, &sp), 0);
  ck_assert_int_eq (vmdk_load_gd (io, &sp, &gd), 0);
  ck_assert_uint_eq (gd[0], 2);
  free (gd);
  /* GT past the end, no usable redundant GD. */
  xd_put_le32 (img + 512, 100);
  ck_assert_int_eq (vmdk_load_gd (io, &sp, &gd), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "grain table"));
  ck_assert_ptr_nonnull (strstr (last_error, "beyond the end of the file"));
  /* GD overlapping the header. */
  sp.gd_offset = 0;
  sp.flags = 0;
  ck_assert_int_eq (vmdk_load_gd (io, &sp, &gd), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "overlaps"));
  xd_io_close (io);
}
END_TEST

START_TEST (test_rgd_fallback)
{
  static unsigned char img[8192];
  struct vmdk_sparse sp;
  struct xd_io *io;
  uint32_t *gd = NULL;

  /* Primary GD at sector 1 points past the end; redundant GD at
   * sector 2 points to a GT at sector 3.
   */
  make_header (img, 128, 512);
  xd_put_le64 (img + 48, 2);
  xd_put_le32 (img + 512, 1000);
  xd_put_le32 (img + 1024, 3);
  io = xd_io_open_memory (img, sizeof img, "s.vmdk");
  ck_assert_int_eq (vmdk_read_sparse_header (io, &sp), 0);
  ck_assert_int_eq (vmdk_load_gd (io, &sp, &gd), 0);
  ck_assert_uint_eq (gd[0], 3);
  /* The directory in use is the redundant one. */
  ck_assert_uint_eq (sp.gd_offset, 2);
  free (gd);
  /* Without the redundant-GT flag there is no fallback. */
  sp.gd_offset = 1;
  sp.flags &= ~VMDK_FLAG_REDUNDANT_GT;
  ck_assert_int_eq (vmdk_load_gd (io, &sp, &gd), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "beyond the end of the file"));
  xd_io_close (io);
}
END_TEST

/* Write a marker: VAL, SIZE, TYPE at OFF. */
static void
put_marker (unsigned char *img, size_t off, uint64_t val, uint32_t size,
            uint32_t type)
{
  xd_put_le64 (img + off, val);
  xd_put_le32 (img + off + 8, size);
  xd_put_le32 (img + off + 12, type);
}

START_TEST (test_stream_walk)
{
  static unsigned char img[16 * 512];
  struct vmdk_sparse sp;
  struct xd_io *io;
  struct vmdk_stream_index ix;
  static uint64_t table[512];

  memset (img, 0, sizeof img);
  make_header (img, 128, 512);
  xd_put_le64 (img + 56, VMDK_GD_AT_END);
  xd_put_le64 (img + 64, 2);
  xd_put_le32 (img + 8, 3 | VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS);
  img[77] = 1;
  put_marker (img, 2 * 512, 256, 20, 0);        /* grain 2 at sector 2 */
  put_marker (img, 3 * 512, 1, 0, 1);           /* GT marker, 1 sector */
  put_marker (img, 5 * 512, 0, 600, 0);         /* grain 0 at sector 5 */
  put_marker (img, 7 * 512, 0, 0, 0);           /* EOS */
  io = xd_io_open_memory (img, sizeof img, "st.vmdk");
  /* No footer: the header leaves the GD to the walk. */
  ck_assert_int_eq (vmdk_read_sparse_header (io, &sp), 0);
  ck_assert_uint_eq (sp.gd_offset, 0);
  /* One grain table's range (512 grains): indexed by where its run of
   * markers starts, the table rebuilt from the run.
   */
  ck_assert_int_eq (vmdk_index_stream (io, &sp, &ix), 0);
  ck_assert_ptr_nonnull (ix.run_start);
  ck_assert_ptr_null (ix.map);
  ck_assert_uint_eq (ix.run_start[0], 2);
  ck_assert_int_eq (vmdk_stream_table (io, &sp, &ix, 0, table), 0);
  ck_assert_uint_eq (table[0], 5);
  ck_assert_uint_eq (table[1], 0);
  ck_assert_uint_eq (table[2], 2);
  vmdk_stream_index_free (&ix);
  /* 2 grains per table: grain 2's range, then grain 0's, then grain 2's
   * again is out of order, and mapped grain by grain.
   */
  xd_put_le32 (img + 44, 2);
  put_marker (img, 7 * 512, 256, 20, 0);        /* grain 2 at sector 7 */
  put_marker (img, 8 * 512, 0, 0, 0);           /* EOS */
  ck_assert_int_eq (vmdk_read_sparse_header (io, &sp), 0);
  ck_assert_int_eq (vmdk_index_stream (io, &sp, &ix), 0);
  ck_assert_ptr_null (ix.run_start);
  ck_assert_ptr_nonnull (ix.map);
  ck_assert_int_eq (vmdk_stream_table (io, &sp, &ix, 1, table), 0);
  ck_assert_uint_eq (table[0], 7);
  ck_assert_uint_eq (table[1], 0);
  vmdk_stream_index_free (&ix);
  /* An absurd grain marker size. */
  put_marker (img, 5 * 512, 0, 0x7fffffff, 0);
  ck_assert_int_eq (vmdk_index_stream (io, &sp, &ix), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "absurd"));
  /* A grain marker whose lba is not a grain boundary. */
  put_marker (img, 5 * 512, 3, 20, 0);
  ck_assert_int_eq (vmdk_index_stream (io, &sp, &ix), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "lba"));
  xd_io_close (io);
}
END_TEST

START_TEST (test_cowd)
{
  static unsigned char img[4096];
  struct vmdk_sparse sp;

  memset (img, 0, sizeof img);
  memcpy (img, "COWD", 4);
  xd_put_le32 (img + 4, 1);
  xd_put_le32 (img + 12, 8192);
  xd_put_le32 (img + 16, 16);
  xd_put_le32 (img + 20, 4);
  xd_put_le32 (img + 24, 1);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), 0);
  ck_assert (sp.cowd);
  ck_assert_uint_eq (sp.gtes_per_gt, 4096);
  ck_assert_uint_eq (sp.nr_grains, 512);
  xd_put_le32 (img + 16, 12);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "grain size"));
  xd_put_le32 (img + 16, 1);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "numGDEntries"));
}
END_TEST

/* A small seSparse extent: capacity 2 grain tables' worth (64 MiB),
 * volatile header at sector 1, grain directory at 2, grain tables area
 * at 8 (2 tables), grains area at 136 (8 grains).
 */
#define SE_GT 8
#define SE_GRAINS 136
#define SE_SIZE (SE_GRAINS * 512 + 8 * 4096)
static unsigned char se_img[SE_SIZE];

static void
make_sesparse (void)
{
  unsigned char *h = se_img, *v = se_img + 512;

  memset (se_img, 0, sizeof se_img);
  xd_put_le64 (h, 0xcafebabe);
  xd_put_le64 (h + 8, UINT64_C (0x200000001));
  xd_put_le64 (h + 16, 2 * 4096 * 8);
  xd_put_le64 (h + 24, 8);
  xd_put_le64 (h + 32, 64);
  xd_put_le64 (h + 80, 1);              /* volatile header */
  xd_put_le64 (h + 88, 1);
  xd_put_le64 (h + 128, 2);             /* grain directory */
  xd_put_le64 (h + 136, 1);
  xd_put_le64 (h + 144, SE_GT);         /* grain tables */
  xd_put_le64 (h + 152, 128);
  xd_put_le64 (h + 192, SE_GRAINS);     /* grains */
  xd_put_le64 (h + 200, 64);
  xd_put_le64 (v, 0xcafecafe);
  /* GD entry 1 -> grain table 0; entry 0 unallocated. */
  xd_put_le64 (se_img + 2 * 512 + 8, UINT64_C (0x1000000000000000));
}

static int
se_header (struct vmdk_sparse *sp)
{
  return read_header (se_img, sizeof se_img, sp);
}

/* Set one header field, expect a refusal naming WORD, then restore. */
static void
se_reject (size_t off, uint64_t val, const char *word)
{
  struct vmdk_sparse sp;
  uint64_t old = xd_le64 (se_img + off);

  xd_put_le64 (se_img + off, val);
  ck_assert_int_eq (se_header (&sp), -1);
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("s.vmdk");
  ck_error_has (word);
  xd_put_le64 (se_img + off, old);
  ck_assert_int_eq (se_header (&sp), 0);
}

START_TEST (test_sesparse_header)
{
  struct vmdk_sparse sp;

  make_sesparse ();
  ck_assert_int_eq (se_header (&sp), 0);
  ck_assert (sp.sesparse);
  ck_assert (!sp.cowd);
  ck_assert_uint_eq (sp.grain_sectors, 8);
  ck_assert_uint_eq (sp.gtes_per_gt, 4096);
  ck_assert_uint_eq (sp.nr_grains, 8192);
  ck_assert_uint_eq (sp.nr_gd_entries, 2);
  ck_assert_uint_eq (sp.gd_offset, 2);
  ck_assert_uint_eq (sp.nr_gts, 2);
  ck_assert_uint_eq (sp.nr_slots, 8);
  se_reject (0, UINT64_C (0x1cafebabe), "magic");
  se_reject (8, UINT64_C (0x200000002), "version");
  se_reject (8, 1, "version");
  se_reject (24, 16, "grain size");
  se_reject (32, 32, "grain table size");
  se_reject (40, 4, "flags");
  se_reject (72, 1, "reserved field 4");
  se_reject (300, 1, "padding");
  se_reject (16, UINT64_MAX, "capacity");
  se_reject (80, 0, "overlaps the constant header");
  se_reject (80, SE_SIZE / 512, "volatile header at sector");
  se_reject (88, 0, "volatile header size is 0");
  se_reject (128, UINT64_MAX, "absurd");
  se_reject (136, UINT64_MAX / 512, "absurd");
  se_reject (136, 0, "too small");
  se_reject (128, SE_SIZE / 512 - 0, "grain directory at sector");
  se_reject (144, 2, "overlaps");
  se_reject (192, SE_GT + 100, "overlaps");
  se_reject (512, 0xcafebabe, "volatile header magic");
  se_reject (512 + 24, 1, "replayJournal");
  se_reject (512 + 32, 1, "volatile header padding");
  /* A truncated constant header. */
  ck_assert_int_eq (read_header (se_img, 300, &sp), -1);
  ck_error_has ("truncated");
}
END_TEST

static int
se_decode (const struct vmdk_sparse *sp, uint64_t grain, uint64_t gte,
           enum vmdk_grain_state *st, uint64_t *sector)
{
  struct xd_io *io = xd_io_open_memory (se_img, sizeof se_img, "s.vmdk");
  int r;

  ck_assert_ptr_nonnull (io);
  r = vmdk_se_decode_gte (io, sp, grain, gte, st, sector);
  xd_io_close (io);
  return r;
}

START_TEST (test_sesparse_gd_gte)
{
  struct vmdk_sparse sp;
  enum vmdk_grain_state st;
  uint64_t sector = 0;
  struct xd_io *io;
  uint32_t *gd = NULL;
  unsigned char *gde = se_img + 2 * 512 + 8;

  make_sesparse ();
  ck_assert_int_eq (se_header (&sp), 0);
  io = xd_io_open_memory (se_img, sizeof se_img, "s.vmdk");
  ck_assert_ptr_nonnull (io);
  ck_assert_int_eq (vmdk_load_gd (io, &sp, &gd), 0);
  ck_assert_uint_eq (gd[0], 0);
  ck_assert_uint_eq (gd[1], 1);
  ck_assert_uint_eq (vmdk_se_gt_offset (&sp, gd[1]), SE_GT * 512);
  free (gd);
  /* Grain table 1 of the area. */
  xd_put_le64 (gde, UINT64_C (0x1000000000000001));
  ck_assert_int_eq (vmdk_load_se_gd (io, &sp, &gd), 0);
  ck_assert_uint_eq (vmdk_se_gt_offset (&sp, gd[1]), (SE_GT + 64) * 512);
  free (gd);
  /* Bad entries: the type, the index. */
  xd_put_le64 (gde, UINT64_C (0x2000000000000000));
  ck_assert_int_eq (vmdk_load_se_gd (io, &sp, &gd), -1);
  ck_error_has ("grain directory entry 1");
  ck_error_has ("not a grain table");
  xd_put_le64 (gde, UINT64_C (0x1000000100000000));
  ck_assert_int_eq (vmdk_load_se_gd (io, &sp, &gd), -1);
  xd_put_le64 (gde, UINT64_C (0x1000000000000002));
  ck_assert_int_eq (vmdk_load_se_gd (io, &sp, &gd), -1);
  ck_error_has ("outside the grain tables area");
  xd_io_close (io);

  /* Grain table entries. */
  ck_assert_int_eq (se_decode (&sp, 5, 0, &st, &sector), 0);
  ck_assert_int_eq (st, VMDK_GRAIN_UNALLOCATED);
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x1000000000000000), &st,
                               &sector), 0);
  ck_assert_int_eq (st, VMDK_GRAIN_ZERO);
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x2000000000000000), &st,
                               &sector), 0);
  ck_assert_int_eq (st, VMDK_GRAIN_ZERO);
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x3000000000000000), &st,
                               &sector), 0);
  ck_assert_int_eq (st, VMDK_GRAIN_DATA);
  ck_assert_uint_eq (sector, SE_GRAINS);
  /* Slot 7: its low 12 bits sit in bits 48..59. */
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x3007000000000000), &st,
                               &sector), 0);
  ck_assert_uint_eq (sector, SE_GRAINS + 7 * 8);
  /* Slot 4096 (bit 0): beyond the 8 slots of the area. */
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x3000000000000001), &st,
                               &sector), -1);
  ck_error_has ("grain 4096 of the grains area, which holds 8");
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x3008000000000000), &st,
                               &sector), -1);
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x0000000000000001), &st,
                               &sector), -1);
  ck_error_has ("unallocated, but with other bits set");
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x4000000000000000), &st,
                               &sector), -1);
  ck_error_has ("unknown type 4");
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0xf000000000000000), &st,
                               &sector), -1);
  ck_assert_int_eq (errno, EIO);
  /* A grains area reaching past the end of the file. */
  sp.nr_slots = 100;
  ck_assert_int_eq (se_decode (&sp, 5, UINT64_C (0x3008000000000000), &st,
                               &sector), -1);
  ck_error_has ("beyond the end of the file");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("vmdk");
  TCase *tc = tcase_create ("vmdk");
  SRunner *sr;
  int failed;

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_desc_basic);
  tcase_add_test (tc, test_desc_errors);
  tcase_add_test (tc, test_header);
  tcase_add_test (tc, test_gd);
  tcase_add_test (tc, test_rgd_fallback);
  tcase_add_test (tc, test_stream_walk);
  tcase_add_test (tc, test_cowd);
  tcase_add_test (tc, test_sesparse_header);
  tcase_add_test (tc, test_sesparse_gd_gte);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
