/* Unit tests for the VHD and VHDX parsers, fed from memory buffers. */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "vhd/vhd.h"
#include "vhd/vhdx.h"
#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "io/xd-io.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"
#include "unittest/xd-test.h"

static void
put_le16 (uint8_t *p, uint16_t v)
{
  p[0] = v & 0xff;
  p[1] = v >> 8;
}

/* ---- VHD ---- */

static void
make_footer (uint8_t *f, const char *creator, uint64_t size,
             uint16_t cyl, uint8_t heads, uint8_t secs, uint32_t type)
{
  memset (f, 0, VHD_FOOTER_SIZE);
  memcpy (f, VHD_FOOTER_COOKIE, 8);
  memcpy (f + VHD_FOOTER_CREATOR_APP, creator, 4);
  xd_put_be64 (f + VHD_FOOTER_CURRENT_SIZE, size);
  f[VHD_FOOTER_GEOMETRY] = cyl >> 8;
  f[VHD_FOOTER_GEOMETRY + 1] = cyl & 0xff;
  f[VHD_FOOTER_GEOMETRY + 2] = heads;
  f[VHD_FOOTER_GEOMETRY + 3] = secs;
  xd_put_be32 (f + VHD_FOOTER_DISK_TYPE, type);
  xd_put_be32 (f + VHD_FOOTER_CHECKSUM,
               vhd_checksum (f, VHD_FOOTER_SIZE, VHD_FOOTER_CHECKSUM));
}

START_TEST (test_vhd_footer)
{
  uint8_t f[VHD_FOOTER_SIZE];
  struct vhd_footer footer;

  make_footer (f, "win ", 10 << 20, 304, 4, 17, VHD_TYPE_FIXED);
  ck_assert_int_eq (vhd_parse_footer (f, "t.vhd", false, &footer), 0);
  ck_assert_str_eq (footer.creator_app, "win ");
  ck_assert_uint_eq (footer.current_size, 10 << 20);
  ck_assert_uint_eq (footer.cylinders, 304);
  f[100] ^= 1;
  ck_fails_with (vhd_parse_footer (f, "t.vhd", false, &footer), EIO,
                 "checksum");
  ck_error_has ("footer");
  make_footer (f, "win ", 10 << 20, 304, 4, 17, 5);
  ck_fails_with (vhd_parse_footer (f, "t.vhd", false, &footer), EIO,
                 "disk type");
  /* Found by fuzz-vhd-disk: a fixed VHD of 2^64 - 2^32 bytes. */
  make_footer (f, "win ", UINT64_C (0xffffffff00000000), 304, 4, 17,
               VHD_TYPE_FIXED);
  ck_fails_with (vhd_parse_footer (f, "t.vhd", false, &footer), EIO,
                 "current size");
  make_footer (f, "win ", UINT64_C (1) << 63, 304, 4, 17, VHD_TYPE_FIXED);
  ck_fails_with (vhd_parse_footer (f, "t.vhd", false, &footer), EIO,
                 "largest disk");
  make_footer (f, "win ", (UINT64_C (1) << 63) - 512, 304, 4, 17,
               VHD_TYPE_FIXED);
  ck_assert_int_eq (vhd_parse_footer (f, "t.vhd", false, &footer), 0);
}
END_TEST

START_TEST (test_vhd_size_rule)
{
  uint8_t f[VHD_FOOTER_SIZE];
  struct vhd_footer footer;
  uint64_t chs = 304 * 4 * 17 * 512;

  make_footer (f, "vpc ", 10 << 20, 304, 4, 17, VHD_TYPE_DYNAMIC);
  ck_assert_int_eq (vhd_parse_footer (f, "t", false, &footer), 0);
  ck_assert_uint_eq (vhd_disk_size (&footer, VHD_SIZE_AUTO, "t"), chs);
  ck_assert_uint_eq (vhd_disk_size (&footer, VHD_SIZE_CURRENT, "t"),
                     10 << 20);
  make_footer (f, "wa\0\0", 10 << 20, 304, 4, 17, VHD_TYPE_DYNAMIC);
  ck_assert_int_eq (vhd_parse_footer (f, "t", false, &footer), 0);
  ck_assert_uint_eq (vhd_disk_size (&footer, VHD_SIZE_AUTO, "t"), 10 << 20);
  ck_assert_uint_eq (vhd_disk_size (&footer, VHD_SIZE_GEOMETRY, "t"), chs);
  make_footer (f, "qemu", UINT64_C (1) << 40, 65535, 16, 255,
               VHD_TYPE_DYNAMIC);
  ck_assert_int_eq (vhd_parse_footer (f, "t", false, &footer), 0);
  ck_assert_uint_eq (vhd_disk_size (&footer, VHD_SIZE_AUTO, "t"),
                     UINT64_C (1) << 40);
}
END_TEST

static void
make_dyn_header (uint8_t *h, uint32_t block_size)
{
  memset (h, 0, VHD_DYN_HEADER_SIZE);
  memcpy (h, VHD_DYN_COOKIE, 8);
  xd_put_be64 (h + 8, UINT64_MAX);
  xd_put_be64 (h + VHD_DYN_TABLE_OFFSET, 1536);
  xd_put_be32 (h + VHD_DYN_MAX_TABLE_ENTRIES, 5);
  xd_put_be32 (h + VHD_DYN_BLOCK_SIZE, block_size);
  xd_put_be32 (h + VHD_DYN_CHECKSUM,
               vhd_checksum (h, VHD_DYN_HEADER_SIZE, VHD_DYN_CHECKSUM));
}

START_TEST (test_vhd_dyn_header)
{
  uint8_t h[VHD_DYN_HEADER_SIZE];
  struct vhd_dyn_header dyn;
  struct xd_io *io;

  make_dyn_header (h, 2 << 20);
  io = xd_io_open_memory (h, sizeof h, "t.vhd");
  ck_assert_int_eq (vhd_read_dyn_header (io, 0, &dyn), 0);
  ck_assert_uint_eq (dyn.block_size, 2 << 20);
  ck_assert_uint_eq (dyn.max_table_entries, 5);
  h[200] ^= 1;
  ck_fails_with (vhd_read_dyn_header (io, 0, &dyn), EIO, "checksum");
  ck_error_has ("dynamic header");
  make_dyn_header (h, 3 << 20);
  ck_fails_with (vhd_read_dyn_header (io, 0, &dyn), EIO, "block size");
  make_dyn_header (h, 1u << 30);
  ck_fails_with (vhd_read_dyn_header (io, 0, &dyn), EIO, "block size");
  ck_fails_with (vhd_read_dyn_header (io, 100, &dyn), EIO,
                 "beyond the end of the file");
  xd_io_close (io);
}
END_TEST

START_TEST (test_guid)
{
  const char *text = "b04aefb7-d19e-4a81-b789-25b8e9445913";
  static const uint8_t stored[16] = {
    0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
    0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59, 0x13 };
  uint8_t g[16];
  char out[37];

  ck_assert_int_eq (xd_guid_parse (text, g), 0);
  ck_assert_mem_eq (g, stored, 16);
  ck_assert_int_eq (xd_guid_parse ("{B04AEFB7-D19E-4A81-B789-25B8E9445913}",
                                    g), 0);
  ck_assert_mem_eq (g, stored, 16);
  xd_guid_format (stored, out);
  ck_assert_str_eq (out, text);
  ck_assert_int_eq (xd_guid_parse ("b04aefb7-d19e-4a81-b789", g), -1);
  ck_assert_int_eq (xd_guid_parse ("x04aefb7-d19e-4a81-b789-25b8e9445913",
                                    g), -1);
}
END_TEST

/* ---- VHDX: a 5 MiB image in memory ----
 * 0: identifier, 64K/128K headers, 192K/256K region tables,
 * 1M metadata region, 2M BAT region, 3M log, 4M one data block.
 */
#define IMG_SIZE (5u << 20)
#define MB (1u << 20)

static const uint8_t g_bat[16] = {
  0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
  0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 };
static const uint8_t g_meta[16] = {
  0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
  0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e };
static const char *const item_guids[4] = {
  "caa16737-fa36-4d43-b3b6-33f0aa44e76b",       /* file parameters */
  "2fa54224-cd1b-4876-b211-5dbed83bf4b8",       /* virtual disk size */
  "8141bf1d-a96f-4709-ba47-f233a8faab5f",       /* logical sector */
  "cda348c7-445d-4471-9cc9-e9885251c556",       /* physical sector */
};
static const uint8_t log_guid[16] = { 1, 2, 3, 4, 5, 6, 7, 8,
                                      9, 10, 11, 12, 13, 14, 15, 16 };

static void
seal_header (uint8_t *img, uint32_t off)
{
  xd_put_le32 (img + off + 4, xd_crc32c_skip_field (img + off, 4096, 4));
}

static void
write_header (uint8_t *img, uint32_t off, uint64_t seq, bool with_log)
{
  uint8_t *h = img + off;

  memset (h, 0, 4096);
  memcpy (h, "head", 4);
  xd_put_le64 (h + 8, seq);
  h[32] = (uint8_t) seq;                        /* DataWriteGuid */
  if (with_log)
    memcpy (h + 48, log_guid, 16);
  h[66] = 1;                                    /* version */
  xd_put_le32 (h + 68, MB);                     /* log length */
  xd_put_le64 (h + 72, 3 * MB);                 /* log offset */
  seal_header (img, off);
}

static void
seal_region (uint8_t *img, uint32_t off)
{
  xd_put_le32 (img + off + 4,
               xd_crc32c_skip_field (img + off, VHDX_REGION_SIZE, 4));
}

static void
write_region (uint8_t *img, uint32_t off, uint64_t bat_off)
{
  uint8_t *r = img + off;

  memset (r, 0, VHDX_REGION_SIZE);
  memcpy (r, "regi", 4);
  xd_put_le32 (r + 8, 2);
  memcpy (r + 16, g_bat, 16);
  xd_put_le64 (r + 32, bat_off);
  xd_put_le32 (r + 40, MB);
  xd_put_le32 (r + 44, 1);
  memcpy (r + 48, g_meta, 16);
  xd_put_le64 (r + 64, MB);
  xd_put_le32 (r + 72, MB);
  xd_put_le32 (r + 76, 1);
  seal_region (img, off);
}

static void
write_metadata (uint8_t *img, uint32_t block_size)
{
  uint8_t *m = img + MB;
  int i;

  memset (m, 0, MB);
  memcpy (m, "metadata", 8);
  put_le16 (m + 10, 4);
  for (i = 0; i < 4; i++) {
    uint8_t *e = m + 32 + 32 * i;
    ck_assert_int_eq (xd_guid_parse (item_guids[i], e), 0);
    xd_put_le32 (e + 16, 65536 + 8 * i);
    xd_put_le32 (e + 20, 8);
    xd_put_le32 (e + 24, 4);                    /* required */
  }
  xd_put_le32 (m + 65536, block_size);
  xd_put_le64 (m + 65536 + 8, 8 * MB);
  xd_put_le32 (m + 65536 + 16, 512);
  xd_put_le32 (m + 65536 + 24, 512);
}

static uint8_t *
make_vhdx (void)
{
  uint8_t *img = calloc (1, IMG_SIZE);

  ck_assert_ptr_nonnull (img);
  memcpy (img, VHDX_FILE_ID, 8);
  write_header (img, VHDX_HEADER1_OFFSET, 5, false);
  write_header (img, VHDX_HEADER2_OFFSET, 6, false);
  write_region (img, VHDX_REGION1_OFFSET, 2 * MB);
  write_region (img, VHDX_REGION2_OFFSET, 2 * MB);
  write_metadata (img, 2 * MB);
  /* Block 0 fully present at 4 MiB. */
  xd_put_le64 (img + 2 * MB, (uint64_t) 4 * MB | VHDX_BAT_FULLY_PRESENT);
  memset (img + 4 * MB, 0x5a, MB);
  return img;
}

static int
open_info (uint8_t *img, struct vhdx_info *info)
{
  struct xd_io *io = xd_io_open_memory (img, IMG_SIZE, "t.vhdx");
  int r;

  ck_assert (vhdx_probe (io));
  r = vhdx_read_info (io, info);
  xd_io_close (io);
  return r;
}

START_TEST (test_vhdx_good)
{
  uint8_t *img = make_vhdx ();
  struct vhdx_info info;

  ck_assert_int_eq (open_info (img, &info), 0);
  ck_assert_int_eq (info.current_header, 2);
  ck_assert_uint_eq (info.block_size, 2 * MB);
  ck_assert_uint_eq (info.disk_size, 8 * MB);
  ck_assert_uint_eq (info.data_blocks, 4);
  ck_assert_uint_eq (info.chunk_ratio, 2048);
  ck_assert_uint_eq (info.bat_offset, 2 * MB);
  ck_assert_uint_eq (vhdx_bat_index_of_block (&info, 2049), 2050);
  vhdx_info_free (&info);
  /* A damaged newer header: the older one is used. */
  img[VHDX_HEADER2_OFFSET + 200] ^= 1;
  ck_assert_int_eq (open_info (img, &info), 0);
  ck_assert_int_eq (info.current_header, 1);
  vhdx_info_free (&info);
  free (img);
}
END_TEST

START_TEST (test_vhdx_bad_headers)
{
  uint8_t *img = make_vhdx ();
  struct vhdx_info info;

  img[VHDX_HEADER1_OFFSET + 200] ^= 1;
  img[VHDX_HEADER2_OFFSET + 200] ^= 1;
  ck_fails_with (open_info (img, &info), EIO, "checksum");
  ck_error_has ("header");
  free (img);
}
END_TEST

START_TEST (test_vhdx_bad_region)
{
  uint8_t *img = make_vhdx ();
  struct vhdx_info info;

  img[VHDX_REGION1_OFFSET + 100] ^= 1;
  img[VHDX_REGION2_OFFSET + 100] ^= 1;
  ck_fails_with (open_info (img, &info), EIO, "checksum");
  ck_error_has ("region table");
  /* BAT region overlapping the headers. */
  write_region (img, VHDX_REGION1_OFFSET, 0);
  ck_fails_with (open_info (img, &info), EIO, "overlaps");
  /* An unknown required region. */
  write_region (img, VHDX_REGION1_OFFSET, 2 * MB);
  xd_put_le32 (img + VHDX_REGION1_OFFSET + 8, 3);
  img[VHDX_REGION1_OFFSET + 80] = 0x77;
  xd_put_le64 (img + VHDX_REGION1_OFFSET + 96, 3 * MB);
  xd_put_le32 (img + VHDX_REGION1_OFFSET + 104, MB);
  xd_put_le32 (img + VHDX_REGION1_OFFSET + 108, 1);
  seal_region (img, VHDX_REGION1_OFFSET);
  ck_fails_with (open_info (img, &info), EIO, "required region");
  free (img);
}
END_TEST

START_TEST (test_vhdx_bad_metadata)
{
  uint8_t *img = make_vhdx ();
  struct vhdx_info info;

  write_metadata (img, 3 * MB);
  ck_fails_with (open_info (img, &info), EIO, "block size");
  write_metadata (img, 512 * MB);
  ck_fails_with (open_info (img, &info), EIO, "block size");
  write_metadata (img, 2 * MB);
  img[MB + 32 + 3] ^= 0xff;     /* file parameters item now unknown */
  ck_fails_with (open_info (img, &info), EIO,
                 "unknown required metadata item");
  write_metadata (img, 2 * MB);
  xd_put_le32 (img + MB + 32 + 16, 2 * MB);     /* item outside region */
  ck_fails_with (open_info (img, &info), EIO, "outside the metadata region");
  free (img);
}
END_TEST

/* A log entry at the start of the log writing one 4 KiB sector of 0xc3
 * at 4 MiB + 4 KiB, and zeroing 4 KiB at 4 MiB.
 */
static void
write_log_entry (uint8_t *img, uint64_t seq)
{
  uint8_t *e = img + 3 * MB;
  uint8_t *d;

  memset (e, 0, 8192);
  memcpy (e, "loge", 4);
  xd_put_le32 (e + 8, 8192);                    /* entry length */
  xd_put_le32 (e + 12, 0);                      /* tail */
  xd_put_le64 (e + 16, seq);
  xd_put_le32 (e + 24, 2);                      /* descriptors */
  memcpy (e + 32, log_guid, 16);
  xd_put_le64 (e + 48, IMG_SIZE);               /* flushed file offset */
  xd_put_le64 (e + 56, IMG_SIZE);               /* last file offset */
  d = e + 64;
  memcpy (d, "zero", 4);
  xd_put_le64 (d + 8, 4096);
  xd_put_le64 (d + 16, 4 * MB);
  xd_put_le64 (d + 24, seq);
  d += 32;
  memcpy (d, "desc", 4);
  memset (d + 4, 0xc3, 4);                      /* trailing bytes */
  memset (d + 8, 0xc3, 8);                      /* leading bytes */
  xd_put_le64 (d + 16, 4 * MB + 4096);
  xd_put_le64 (d + 24, seq);
  d = e + 4096;
  memcpy (d, "data", 4);
  xd_put_le32 (d + 4, (uint32_t) (seq >> 32));
  memset (d + 8, 0xc3, 4084);
  xd_put_le32 (d + 4092, (uint32_t) seq);
  xd_put_le32 (e + 4, xd_crc32c_skip_field (e, 8192, 4));
}

START_TEST (test_vhdx_log_replay)
{
  uint8_t *img = make_vhdx ();
  struct vhdx_info info;
  struct xd_io *io, *out;
  unsigned entries;
  uint8_t buf[8192];
  size_t i;

  write_header (img, VHDX_HEADER2_OFFSET, 6, true);
  write_log_entry (img, 42);
  io = xd_io_open_memory (img, IMG_SIZE, "t.vhdx");
  ck_assert_int_eq (vhdx_read_headers (io, &info), 0);
  ck_assert_int_eq (vhdx_replay_log (io, &info.header, &out, &entries), 0);
  ck_assert_uint_eq (entries, 1);
  ck_assert_ptr_ne (out, io);
  ck_assert_int_eq (xd_io_read (out, buf, sizeof buf, 4 * MB, "data"), 0);
  for (i = 0; i < 4096; i++)
    ck_assert_uint_eq (buf[i], 0);
  for (i = 4096; i < 8192; i++)
    ck_assert_uint_eq (buf[i], 0xc3);
  /* The file itself is untouched. */
  ck_assert_uint_eq (img[4 * MB], 0x5a);
  ck_assert_int_eq (vhdx_read_info (out, &info), 0);
  vhdx_info_free (&info);
  xd_io_close (out);

  /* A damaged entry and nothing else: refused. */
  img[3 * MB + 5000] ^= 1;
  io = xd_io_open_memory (img, IMG_SIZE, "t.vhdx");
  ck_assert_int_eq (vhdx_read_headers (io, &info), 0);
  ck_fails_with (vhdx_replay_log (io, &info.header, &out, &entries), EIO,
                 "log entry");
  ck_error_has ("checksum");
  xd_io_close (io);

  /* Log outside the file. */
  write_log_entry (img, 42);
  xd_put_le64 (img + VHDX_HEADER2_OFFSET + 72, 5 * MB);
  seal_header (img, VHDX_HEADER2_OFFSET);
  io = xd_io_open_memory (img, IMG_SIZE, "t.vhdx");
  ck_assert_int_eq (vhdx_read_headers (io, &info), 0);
  ck_fails_with (vhdx_replay_log (io, &info.header, &out, &entries), EIO,
                 "beyond the end of the file");
  xd_io_close (io);
  free (img);
}
END_TEST

static Suite *
vhd_suite (void)
{
  Suite *s = suite_create ("vhd");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_vhd_footer);
  tcase_add_test (tc, test_vhd_size_rule);
  tcase_add_test (tc, test_vhd_dyn_header);
  tcase_add_test (tc, test_guid);
  tcase_add_test (tc, test_vhdx_good);
  tcase_add_test (tc, test_vhdx_bad_headers);
  tcase_add_test (tc, test_vhdx_bad_region);
  tcase_add_test (tc, test_vhdx_bad_metadata);
  tcase_add_test (tc, test_vhdx_log_replay);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (vhd_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
