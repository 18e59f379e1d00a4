/* Unit tests for the VMDK descriptor parser and sparse header checks,
 * fed from memory buffers.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "vmdk.h"
#include "xd-bytes.h"
#include "xd-io.h"
#include "xd-report.h"
#include "xd-test.h"

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
  ck_assert_int_eq (parse ("RW 10 SESPARSE \"a\"\n", &d), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "seSparse"));
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

START_TEST (test_cowd_and_sesparse)
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
  memset (img, 0, 8);
  xd_put_le32 (img, VMDK_MAGIC_SESPARSE);
  ck_assert_int_eq (read_header (img, sizeof img, &sp), -1);
  ck_assert_ptr_nonnull (strstr (last_error, "seSparse is not supported"));
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
  tcase_add_test (tc, test_cowd_and_sesparse);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
