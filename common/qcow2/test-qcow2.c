/* Unit tests for the qcow2 header, extension, feature and snapshot
 * parsers, fed from memory buffers.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "qcow2/qcow2.h"
#include "include/xd-bytes.h"
#include "io/xd-io.h"
#include "include/xd-report.h"
#include "unittest/xd-test.h"

#define CLUSTER 65536
#define IMG_SIZE (4 * CLUSTER)

/* A v3 image of 4 clusters: header, L1 at cluster 1 (one entry), a
 * refcount table at cluster 2, an L2 table at cluster 3.  Virtual size
 * 256 MiB; every cluster unallocated.
 */
static uint8_t img[IMG_SIZE];

static size_t ext_pos;

static void
make_image (uint32_t version)
{
  memset (img, 0, sizeof img);
  xd_put_be32 (img, QCOW2_MAGIC);
  xd_put_be32 (img + 4, version);
  xd_put_be32 (img + 20, 16);
  xd_put_be64 (img + 24, UINT64_C (1) << 28);
  xd_put_be32 (img + 36, 1);
  xd_put_be64 (img + 40, CLUSTER);
  xd_put_be64 (img + 48, 2 * CLUSTER);
  xd_put_be32 (img + 56, 1);
  if (version == 3) {
    xd_put_be32 (img + 96, 4);
    xd_put_be32 (img + 100, 112);
    ext_pos = 112;
  }
  else
    ext_pos = 72;
}

static void
add_ext (uint32_t type, const void *data, uint32_t len)
{
  xd_put_be32 (img + ext_pos, type);
  xd_put_be32 (img + ext_pos + 4, len);
  memcpy (img + ext_pos + 8, data, len);
  ext_pos += 8 + (len + 7) / 8 * 8;
}

static void
add_feature (uint8_t *table, size_t i, uint8_t type, uint8_t bit,
             const char *name)
{
  table[i * 48] = type;
  table[i * 48 + 1] = bit;
  strncpy ((char *) table + i * 48 + 2, name, 46);
}

static int
parse (struct qcow2_header *h)
{
  return qcow2_parse_header (img, CLUSTER, IMG_SIZE, "t.qcow2", h);
}

START_TEST (test_good_v3)
{
  struct qcow2_header h;
  uint8_t table[2 * 48] = { 0 };

  make_image (3);
  add_ext (QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
  add_feature (table, 0, 0, 0, "dirty bit");
  add_feature (table, 1, 1, 0, "lazy refcounts");
  add_ext (QCOW2_EXT_FEATURE_NAMES, table, sizeof table);
  xd_put_be64 (img + 8, 1024);
  xd_put_be32 (img + 16, 8);
  memcpy (img + 1024, "base.img", 8);
  ck_assert_int_eq (parse (&h), 0);
  ck_assert_uint_eq (h.version, 3);
  ck_assert_uint_eq (h.cluster_size, CLUSTER);
  ck_assert_uint_eq (h.l2_bits, 13);
  ck_assert_str_eq (h.backing_file, "base.img");
  ck_assert_str_eq (h.backing_format, "qcow2");
  ck_assert_str_eq (qcow2_feature_name (&h, 1, 0), "lazy refcounts");
  ck_assert_ptr_null (qcow2_feature_name (&h, 0, 5));
  ck_assert_ptr_null (h.data_file);
  qcow2_header_free (&h);
}
END_TEST

START_TEST (test_good_v2)
{
  struct qcow2_header h;

  make_image (2);
  /* v2 has no feature fields: whatever follows is an extension. */
  add_ext (QCOW2_EXT_DATA_FILE, "x", 1);
  ck_assert_int_eq (parse (&h), 0);
  ck_assert_uint_eq (h.version, 2);
  ck_assert_uint_eq (h.refcount_order, 4);
  ck_assert_uint_eq (h.header_length, 72);
  ck_assert_ptr_null (h.data_file);     /* no data file bit */
  qcow2_header_free (&h);
}
END_TEST

START_TEST (test_bad_fixed)
{
  struct qcow2_header h;

  make_image (3);
  img[0] = 'X';
  ck_fails_with (parse (&h), EIO, "bad magic");
  make_image (4);
  ck_fails_with (parse (&h), EIO, "version 4");
  make_image (3);
  xd_put_be32 (img + 20, 22);
  ck_fails_with (parse (&h), EIO, "cluster_bits 22");
  xd_put_be32 (img + 20, 8);
  ck_fails_with (parse (&h), EIO, "cluster_bits 8");
  make_image (3);
  xd_put_be32 (img + 100, 100);
  ck_fails_with (parse (&h), EIO, "header_length");
  make_image (3);
  xd_put_be32 (img + 96, 7);
  ck_fails_with (parse (&h), EIO, "refcount_order 7");
  make_image (3);
  xd_put_be64 (img + 24, UINT64_MAX);
  ck_fails_with (parse (&h), EIO, "virtual size");
  make_image (3);
  xd_put_be32 (img + 60, 1);
  xd_put_be64 (img + 64, 100);
  ck_fails_with (parse (&h), EIO, "snapshots_offset");
  ck_fails_with (qcow2_parse_header (img, 50, 50, "t", &h), EIO,
                 "bad magic");
  ck_fails_with (qcow2_parse_header (img, 80, 80, "t", &h), EIO,
                 "truncated");
}
END_TEST

START_TEST (test_bad_l1)
{
  struct qcow2_header h;

  make_image (3);
  xd_put_be64 (img + 40, CLUSTER + 8);
  ck_fails_with (parse (&h), EIO, "not cluster-aligned");
  ck_error_has ("L1");
  make_image (3);
  xd_put_be64 (img + 40, 16 * CLUSTER);
  ck_fails_with (parse (&h), EIO, "not inside the file");
  make_image (3);
  xd_put_be32 (img + 36, 0);
  ck_fails_with (parse (&h), EIO, "too few");
  make_image (3);
  xd_put_be32 (img + 36, UINT32_MAX);
  ck_fails_with (parse (&h), EIO, "limit");
  make_image (3);
  xd_put_be64 (img + 40, UINT64_C (0xffffffffffff0000));
  ck_fails_with (parse (&h), EIO, "not inside the file");
}
END_TEST

START_TEST (test_features)
{
  struct qcow2_header h;
  uint8_t table[48] = { 0 };

  /* Dirty and corrupt bits and lazy refcounts parse; the reader
   * decides what to do with them.
   */
  make_image (3);
  xd_put_be64 (img + 72, QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
  xd_put_be64 (img + 80, QCOW2_COMPAT_LAZY_REFCOUNTS | (UINT64_C (1) << 40));
  xd_put_be64 (img + 88, UINT64_C (1) << 50);
  ck_assert_int_eq (parse (&h), 0);
  qcow2_header_free (&h);
  /* Unknown incompatible bits are refused, named from the table. */
  make_image (3);
  add_feature (table, 0, 0, 9, "time travel");
  add_ext (QCOW2_EXT_FEATURE_NAMES, table, sizeof table);
  xd_put_be64 (img + 72, (UINT64_C (1) << 9) | (UINT64_C (1) << 63));
  ck_fails_with (parse (&h), ENOTSUP, "bit 9 (\"time travel\")");
  ck_error_has ("bit 63");
  /* Encryption. */
  make_image (3);
  xd_put_be32 (img + 32, 2);
  ck_fails_with (parse (&h), ENOTSUP, "encrypted");
  ck_error_has ("LUKS");
  make_image (2);
  xd_put_be32 (img + 32, 1);
  ck_fails_with (parse (&h), ENOTSUP, "AES");
  /* Extended L2 needs 16K clusters. */
  make_image (3);
  xd_put_be64 (img + 72, QCOW2_INCOMPAT_EXTL2);
  ck_assert_int_eq (parse (&h), 0);
  ck_assert (h.extended_l2);
  ck_assert_uint_eq (h.l2_entry_bytes, 16);
  ck_assert_uint_eq (h.l2_bits, 12);
  ck_assert_uint_eq (h.subcluster_bits, 11);
  qcow2_header_free (&h);
  xd_put_be32 (img + 20, 13);
  ck_fails_with (parse (&h), EIO, "extended L2");
}
END_TEST

START_TEST (test_compression_type)
{
  struct qcow2_header h;

  make_image (3);
  xd_put_be64 (img + 72, QCOW2_INCOMPAT_COMPRESSION);
  img[104] = 1;
  ck_assert_int_eq (parse (&h), 0);
  ck_assert_int_eq (h.compression, QCOW2_ZSTD);
  qcow2_header_free (&h);
  img[104] = 0;
  ck_fails_with (parse (&h), EIO, "compression");
  img[104] = 2;
  ck_fails_with (parse (&h), EIO, "unknown compression type 2");
  make_image (3);
  img[104] = 1;
  ck_fails_with (parse (&h), EIO, "feature bit");
  /* header_length 104: no compression_type field. */
  make_image (3);
  xd_put_be32 (img + 100, 104);
  img[104] = 1;
  ext_pos = 104;
  /* byte 104 starts the extensions: an unknown one, ignored */
  ck_assert_int_eq (parse (&h), 0);
  ck_assert_int_eq (h.compression, QCOW2_ZLIB);
  qcow2_header_free (&h);
}
END_TEST

START_TEST (test_extensions)
{
  struct qcow2_header h;
  uint8_t crypto[16] = { 0 };

  make_image (3);
  xd_put_be64 (img + 72, QCOW2_INCOMPAT_DATA_FILE);
  add_ext (QCOW2_EXT_DATA_FILE, "data.raw", 8);
  add_ext (0x12345678, "ignored", 7);
  add_ext (QCOW2_EXT_BITMAPS, crypto, 16);
  ck_assert_int_eq (parse (&h), 0);
  ck_assert_str_eq (h.data_file, "data.raw");
  ck_assert (h.has_bitmaps_ext);
  qcow2_header_free (&h);
  /* Twice. */
  add_ext (QCOW2_EXT_DATA_FILE, "data2.raw", 9);
  ck_fails_with (parse (&h), EIO, "twice");
  /* Too long for the header area. */
  make_image (3);
  xd_put_be32 (img + ext_pos, QCOW2_EXT_BACKING_FORMAT);
  xd_put_be32 (img + ext_pos + 4, CLUSTER);
  ck_fails_with (parse (&h), EIO, "beyond the end of the header area");
  /* An extension must end before the backing file name. */
  make_image (3);
  add_ext (QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
  xd_put_be64 (img + 8, 120);
  xd_put_be32 (img + 16, 4);
  ck_fails_with (parse (&h), EIO, "header extension");
  /* Bad lengths. */
  make_image (3);
  add_ext (QCOW2_EXT_CRYPTO, crypto, 8);
  ck_fails_with (parse (&h), EIO, "encryption header extension");
  make_image (3);
  add_ext (QCOW2_EXT_FEATURE_NAMES, img + 2048, 47);
  ck_fails_with (parse (&h), EIO, "feature name table");
  make_image (3);
  add_ext (QCOW2_EXT_BACKING_FORMAT, "", 0);
  ck_fails_with (parse (&h), EIO, "backing format");
  make_image (3);
  add_ext (QCOW2_EXT_BACKING_FORMAT, "q\0w", 3);
  ck_fails_with (parse (&h), EIO, "NUL");
}
END_TEST

START_TEST (test_backing_name)
{
  struct qcow2_header h;

  make_image (3);
  xd_put_be64 (img + 8, CLUSTER - 4);
  xd_put_be32 (img + 16, 8);
  ck_fails_with (parse (&h), EIO, "backing file name");
  make_image (3);
  xd_put_be64 (img + 8, 512);
  xd_put_be32 (img + 16, 1024);
  ck_fails_with (parse (&h), EIO, "backing_file_size");
  make_image (3);
  xd_put_be64 (img + 8, 16);
  xd_put_be32 (img + 16, 4);
  ck_fails_with (parse (&h), EIO, "backing file name");
  make_image (3);
  xd_put_be64 (img + 8, 512);
  xd_put_be32 (img + 16, 4);
  memcpy (img + 512, "a\0bc", 4);
  ck_fails_with (parse (&h), EIO, "NUL");
}
END_TEST

START_TEST (test_compressed_range)
{
  struct qcow2_header h = { .cluster_bits = 16 };
  uint64_t off, len;
  unsigned x = 62 - 8;

  qcow2_compressed_range (&h, (UINT64_C (3) << x) | 0x10203, &off, &len);
  ck_assert_uint_eq (off, 0x10203);
  ck_assert_uint_eq (len, 4 * 512 - 0x003);
  h.cluster_bits = 9;           /* one bit of sector count */
  qcow2_compressed_range (&h, (UINT64_C (1) << 61) | 0x400, &off, &len);
  ck_assert_uint_eq (off, 0x400);
  ck_assert_uint_eq (len, 1024);
}
END_TEST

/* Snapshot entry at POS with id ID, name NAME, EXTRA bytes of extra
 * data (disk size at 8 when EXTRA >= 16); returns the next position.
 */
static size_t
put_snapshot (size_t pos, uint64_t l1_off, uint32_t l1_size, const char *id,
              const char *name, uint32_t extra, uint64_t disk_size)
{
  size_t idl = strlen (id), nl = strlen (name);

  xd_put_be64 (img + pos, l1_off);
  xd_put_be32 (img + pos + 8, l1_size);
  img[pos + 12] = 0; img[pos + 13] = idl;
  img[pos + 14] = 0; img[pos + 15] = nl;
  xd_put_be32 (img + pos + 36, extra);
  if (extra >= 16)
    xd_put_be64 (img + pos + 48, disk_size);
  memcpy (img + pos + 40 + extra, id, idl);
  memcpy (img + pos + 40 + extra + idl, name, nl);
  return pos + (40 + extra + idl + nl + 7) / 8 * 8;
}

START_TEST (test_snapshots)
{
  struct qcow2_header h;
  struct qcow2_snapshot *s;
  struct xd_io *io;
  size_t pos;

  make_image (3);
  xd_put_be32 (img + 60, 3);
  xd_put_be64 (img + 64, 3 * CLUSTER);
  pos = put_snapshot (3 * CLUSTER, CLUSTER, 1, "1", "first", 16, 1 << 20);
  pos = put_snapshot (pos, CLUSTER, 1, "2", "1", 0, 0);
  put_snapshot (pos, 0, 0, "7", "empty", 24, 0);
  io = xd_io_open_memory (img, IMG_SIZE, "t.qcow2");
  ck_assert_ptr_nonnull (io);
  ck_assert_int_eq (qcow2_read_header (io, &h), 0);
  ck_assert_int_eq (qcow2_read_snapshots (io, &h, &s), 0);
  ck_assert_str_eq (s[0].name, "first");
  ck_assert_uint_eq (s[0].disk_size, 1 << 20);
  ck_assert_uint_eq (s[1].disk_size, h.size);
  ck_assert_uint_eq (s[2].disk_size, 0);
  /* IDs first, then names. */
  ck_assert_ptr_eq (qcow2_find_snapshot (s, 3, "1"), &s[0]);
  ck_assert_ptr_eq (qcow2_find_snapshot (s, 3, "empty"), &s[2]);
  ck_assert_ptr_null (qcow2_find_snapshot (s, 3, "nosuch"));
  ck_assert_int_eq (qcow2_check_l1 (&h, "t", IMG_SIZE, s[0].l1_offset,
                                    s[0].l1_size, s[0].disk_size, "L1"), 0);
  ck_assert_int_eq (qcow2_check_l1 (&h, "t", IMG_SIZE, s[2].l1_offset,
                                    s[2].l1_size, s[2].disk_size, "L1"), 0);
  qcow2_snapshots_free (s, 3);
  /* An entry running off the end of the file. */
  h.snapshots_offset = IMG_SIZE - 16;
  ck_fails_with (qcow2_read_snapshots (io, &h, &s), EIO,
                 "snapshot table entry 0");
  ck_error_has ("beyond the end");
  h.snapshots_offset = 3 * CLUSTER;
  xd_put_be32 (img + 3 * CLUSTER + 36, 5000);
  ck_fails_with (qcow2_read_snapshots (io, &h, &s), EIO,
                 "extra data size 5000");
  qcow2_header_free (&h);
  xd_io_close (io);
}
END_TEST

START_TEST (test_load_l1)
{
  struct qcow2_header h;
  struct xd_io *io;
  uint64_t *l1;

  make_image (3);
  io = xd_io_open_memory (img, IMG_SIZE, "t.qcow2");
  ck_assert_int_eq (qcow2_read_header (io, &h), 0);
  xd_put_be64 (img + CLUSTER, QCOW2_COPIED | (3 * CLUSTER));
  ck_assert_int_eq (qcow2_load_l1 (io, &h, CLUSTER, 1, &l1), 0);
  ck_assert_uint_eq (l1[0], 3 * CLUSTER);
  free (l1);
  xd_put_be64 (img + CLUSTER, 3 * CLUSTER + 512);
  ck_fails_with (qcow2_load_l1 (io, &h, CLUSTER, 1, &l1), EIO,
                 "not cluster-aligned");
  xd_put_be64 (img + CLUSTER, 4 * CLUSTER);
  ck_fails_with (qcow2_load_l1 (io, &h, CLUSTER, 1, &l1), EIO,
                 "L1 entry 0");
  ck_error_has ("beyond the end of the file");
  qcow2_header_free (&h);
  xd_io_close (io);
}
END_TEST

static Suite *
qcow2_suite (void)
{
  Suite *s = suite_create ("qcow2");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_good_v3);
  tcase_add_test (tc, test_good_v2);
  tcase_add_test (tc, test_bad_fixed);
  tcase_add_test (tc, test_bad_l1);
  tcase_add_test (tc, test_features);
  tcase_add_test (tc, test_compression_type);
  tcase_add_test (tc, test_extensions);
  tcase_add_test (tc, test_backing_name);
  tcase_add_test (tc, test_compressed_range);
  tcase_add_test (tc, test_snapshots);
  tcase_add_test (tc, test_load_l1);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (qcow2_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
