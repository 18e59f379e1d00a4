/* Unit tests for the shared plumbing: I/O bounds, the table cache and
 * path resolution.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <check.h>

#include "io/xd-cache.h"
#include "core/xd-checksum.h"
#include "core/xd-guid.h"
#include "core/xd-text.h"
#include "io/xd-io.h"
#include "core/xd-path.h"
#include "include/xd-report.h"
#include "unittest/xd-test.h"

START_TEST (test_io_memory_bounds)
{
  unsigned char data[100], buf[16];
  struct xd_io *io;
  size_t i;

  for (i = 0; i < sizeof data; ++i)
    data[i] = (unsigned char) i;
  io = xd_io_open_memory (data, sizeof data, "mem.img");
  ck_assert_ptr_nonnull (io);
  ck_assert_int_eq (xd_io_read (io, buf, 16, 84, "tail"), 0);
  ck_assert_uint_eq (buf[15], 99);
  ck_assert_int_eq (xd_io_read (io, buf, 16, 85, "grain table 7"), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_ptr_nonnull (strstr (last_error, "mem.img"));
  ck_assert_ptr_nonnull (strstr (last_error, "grain table 7"));
  /* An offset that would wrap around when added to the count. */
  ck_assert_int_eq (xd_io_read (io, buf, 16, UINT64_MAX - 8, "x"), -1);
  ck_assert (!xd_io_contains (io, UINT64_MAX, 2));
  ck_assert (xd_io_contains (io, 100, 0));
  xd_io_close (io);
}
END_TEST

START_TEST (test_io_file)
{
  char path[] = "/tmp/xdisk-unit.XXXXXX";
  int fd = mkstemp (path);
  unsigned char buf[4];
  struct xd_io *io;
  bool is_data;
  uint64_t run;

  ck_assert_int_ne (fd, -1);
  ck_assert_int_eq (pwrite (fd, "abcd", 4, 1 << 20), 4);
  close (fd);
  io = xd_io_open_file (path);
  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, (1 << 20) + 4);
  ck_assert_int_eq (xd_io_read (io, buf, 4, 1 << 20, "data"), 0);
  ck_assert_mem_eq (buf, "abcd", 4);
  ck_assert_int_eq (xd_io_allocation (io, 0, &is_data, &run), 0);
  /* On file systems without holes everything is data. */
  ck_assert (run >= 1 && run <= io->size);
  ck_assert_int_eq (xd_io_allocation (io, 1 << 20, &is_data, &run), 0);
  ck_assert (is_data);
  xd_io_close (io);
  unlink (path);

  ck_assert_ptr_null (xd_io_open_file (path));
  ck_assert_ptr_nonnull (strstr (last_error, path));
}
END_TEST

static int loads;

static int
load_table (void *opaque __attribute__ ((unused)), uint64_t key, void *buf)
{
  if (key == 666) {
    errno = EIO;
    xd_error ("table %" PRIu64 " is bad", key);
    return -1;
  }
  __atomic_add_fetch (&loads, 1, __ATOMIC_SEQ_CST);
  memset (buf, (int) (key & 0xff), 64);
  return 0;
}

START_TEST (test_cache_bounded)
{
  struct xd_cache *c = xd_cache_new (64, 4);
  struct xd_cache_stats st;
  const unsigned char *t;
  uint64_t k;

  loads = 0;
  for (k = 0; k < 100; ++k) {
    t = xd_cache_pin (c, k % 10, load_table, NULL);
    ck_assert_ptr_nonnull (t);
    ck_assert_uint_eq (t[63], k % 10);
    xd_cache_unpin (c, t);
  }
  xd_cache_get_stats (c, &st);
  ck_assert_uint_le (st.entries, 4);
  ck_assert_uint_eq (st.hits + st.misses, 100);

  /* Recently used entries stay. */
  loads = 0;
  t = xd_cache_pin (c, 3, load_table, NULL);
  xd_cache_unpin (c, t);
  t = xd_cache_pin (c, 3, load_table, NULL);
  xd_cache_unpin (c, t);
  ck_assert_int_le (loads, 1);

  /* Failures are not cached and are reported. */
  ck_assert_ptr_null (xd_cache_pin (c, 666, load_table, NULL));
  ck_assert_int_eq (errno, EIO);
  ck_assert_ptr_nonnull (strstr (last_error, "666"));
  xd_cache_free (c);
}
END_TEST

START_TEST (test_cache_pinned_survive)
{
  struct xd_cache *c = xd_cache_new (64, 2);
  const unsigned char *pinned[5];
  int i;

  /* Pinning more than the limit works; entries stay valid while pinned. */
  for (i = 0; i < 5; ++i)
    pinned[i] = xd_cache_pin (c, (uint64_t) i + 1, load_table, NULL);
  for (i = 0; i < 5; ++i)
    ck_assert_uint_eq (pinned[i][0], i + 1);
  for (i = 0; i < 5; ++i)
    xd_cache_unpin (c, pinned[i]);
  xd_cache_free (c);
}
END_TEST

struct thread_arg {
  struct xd_cache *c;
  int seed;
  int bad;
};

static void *
hammer (void *argv)
{
  struct thread_arg *a = argv;
  unsigned s = (unsigned) a->seed;
  int i;

  for (i = 0; i < 20000; ++i) {
    uint64_t key = rand_r (&s) % 64;
    const unsigned char *t = xd_cache_pin (a->c, key, load_table, NULL);
    if (t == NULL || t[0] != key || t[63] != key)
      a->bad++;
    if (t)
      xd_cache_unpin (a->c, t);
  }
  return NULL;
}

START_TEST (test_cache_threads)
{
  struct xd_cache *c = xd_cache_new (64, 8);
  pthread_t th[4];
  struct thread_arg args[4];
  int i;

  for (i = 0; i < 4; ++i) {
    args[i] = (struct thread_arg) { .c = c, .seed = i, .bad = 0 };
    pthread_create (&th[i], NULL, hammer, &args[i]);
  }
  for (i = 0; i < 4; ++i) {
    pthread_join (th[i], NULL);
    ck_assert_int_eq (args[i].bad, 0);
  }
  xd_cache_free (c);
}
END_TEST

/* A scratch tree: DIR/img/{disk,sub/x}, DIR/outside, DIR/img/link -> ../outside */
static char tree[64];

static void
make_tree (void)
{
  char p[256];
  FILE *f;

  strcpy (tree, "/tmp/xdisk-path.XXXXXX");
  ck_assert_ptr_nonnull (mkdtemp (tree));
  snprintf (p, sizeof p, "%s/img", tree);        mkdir (p, 0700);
  snprintf (p, sizeof p, "%s/img/sub", tree);    mkdir (p, 0700);
  const char *files[] = { "img/disk", "img/base.vhd", "img/sub/x", "outside" };
  for (size_t i = 0; i < 4; ++i) {
    snprintf (p, sizeof p, "%s/%s", tree, files[i]);
    f = fopen (p, "w");
    ck_assert_ptr_nonnull (f);
    fclose (f);
  }
  snprintf (p, sizeof p, "%s/img/link", tree);
  ck_assert_int_eq (symlink ("../outside", p), 0);
}

static void
remove_tree (void)
{
  char cmd[128];
  snprintf (cmd, sizeof cmd, "rm -rf %s", tree);
  ck_assert_int_eq (system (cmd), 0);
}

START_TEST (test_path_policy)
{
  struct xd_path_policy pol;
  char from[256], *r;

  make_tree ();
  snprintf (from, sizeof from, "%s/img/disk", tree);
  ck_assert_int_eq (xd_path_policy_init (&pol, from, NULL), 0);

  r = xd_resolve_ref (&pol, from, "sub/x", "extent file");
  ck_assert_ptr_nonnull (r);
  ck_assert_ptr_nonnull (strstr (r, "/img/sub/x"));
  free (r);

  /* Windows names: absolute falls back to the base name here. */
  r = xd_resolve_ref (&pol, from, "C:\\VMs\\base.vhd", "parent");
  ck_assert_ptr_nonnull (r);
  ck_assert_ptr_nonnull (strstr (r, "/img/base.vhd"));
  free (r);
  r = xd_resolve_ref (&pol, from, ".\\sub\\x", "parent");
  ck_assert_ptr_nonnull (r);
  free (r);

  /* Outside the directory: refused, naming the option. */
  ck_assert_ptr_null (xd_resolve_ref (&pol, from, "../outside", "extent file"));
  ck_assert_ptr_nonnull (strstr (last_error, "allow-external-files"));
  ck_assert_ptr_null (xd_resolve_ref (&pol, from, "link", "extent file"));
  ck_assert_ptr_null (xd_resolve_ref (&pol, from, "/etc/passwd", "parent"));
  ck_assert_int_eq (errno, EPERM);

  /* Missing: the error lists what was tried. */
  ck_assert_ptr_null (xd_resolve_ref (&pol, from, "C:\\x\\nosuch.vhd", "parent"));
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_ptr_nonnull (strstr (last_error, "nosuch.vhd"));
  ck_assert_ptr_nonnull (strstr (last_error, "tried"));
  xd_path_policy_free (&pol);

  /* allow-external-files=true lifts the restriction. */
  ck_assert_int_eq (xd_path_policy_init (&pol, from, "true"), 0);
  r = xd_resolve_ref (&pol, from, "../outside", "extent file");
  ck_assert_ptr_nonnull (r);
  free (r);
  xd_path_policy_free (&pol);

  /* ... and so does a list of directories. */
  ck_assert_int_eq (xd_path_policy_init (&pol, from, tree), 0);
  r = xd_resolve_ref (&pol, from, "link", "extent file");
  ck_assert_ptr_nonnull (r);
  free (r);
  xd_path_policy_free (&pol);

  /* xd_try_resolve_ref reports nothing, and says why in errno. */
  ck_assert_int_eq (xd_path_policy_init (&pol, from, NULL), 0);
  last_error[0] = '\0';
  ck_assert_ptr_null (xd_try_resolve_ref (&pol, from, "../outside"));
  ck_assert_int_eq (errno, EPERM);
  ck_assert_ptr_null (xd_try_resolve_ref (&pol, from, "nosuch.vhd"));
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_str_eq (last_error, "");
  r = xd_try_resolve_ref (&pol, from, "sub/x");
  ck_assert_ptr_nonnull (r);
  free (r);
  xd_path_policy_free (&pol);
  remove_tree ();
}
END_TEST

/* Held errors: only the first is reported, once, and only if asked. */
START_TEST (test_error_hold)
{
  xd_error_hold ();
  xd_error ("first %d", 1);
  xd_error ("second");
  ck_assert_str_eq (last_error, "");
  xd_error_release (false);
  ck_assert_str_eq (last_error, "");

  xd_error_hold ();
  xd_error_hold ();
  xd_error ("first %d", 2);
  xd_error_release (true);
  ck_assert_str_eq (last_error, "");      /* still held: nested */
  xd_error ("second");
  errno = EIO;
  xd_error_release (true);
  ck_assert_int_eq (errno, EIO);
  ck_assert_str_eq (last_error, "first 2");

  xd_error ("not held");
  ck_assert_str_eq (last_error, "not held");
}
END_TEST

START_TEST (test_crc32c)
{
  unsigned char hdr[16] = "abcdWXYZefghijkl";

  ck_assert_uint_eq (xd_crc32c (0, "123456789", 9), 0xe3069283);
  ck_assert_uint_eq (xd_crc32c (0, "", 0), 0);
  /* Incremental equals one-shot. */
  ck_assert_uint_eq (xd_crc32c (xd_crc32c (0, "1234", 4), "56789", 5),
                     0xe3069283);
  /* Skipping a field is the same as zeroing it. */
  uint32_t skipped = xd_crc32c_skip_field (hdr, 16, 4);
  memset (hdr + 4, 0, 4);
  ck_assert_uint_eq (skipped, xd_crc32c (0, hdr, 16));
}
END_TEST

START_TEST (test_utf16)
{
  /* "C:\é" then U+1F600 as a surrogate pair, then NUL and junk. */
  const unsigned char s[] = { 'C', 0, ':', 0, '\\', 0, 0xE9, 0,
                              0x3D, 0xD8, 0x00, 0xDE, 0, 0, 'x', 0 };
  const unsigned char lone[] = { 0x00, 0xDC };
  char *r;

  r = xd_utf16le_to_utf8 (s, sizeof s);
  ck_assert_ptr_nonnull (r);
  ck_assert_str_eq (r, "C:\\\xc3\xa9\xf0\x9f\x98\x80");
  free (r);
  ck_assert_ptr_null (xd_utf16le_to_utf8 (lone, sizeof lone));
  ck_assert_int_eq (errno, EILSEQ);
  ck_assert_ptr_null (xd_utf16le_to_utf8 (s, 3));
  r = xd_strndup_field ("abc\0def", 7);
  ck_assert_str_eq (r, "abc");
  free (r);
  r = xd_strndup_field ("abcdef", 3);
  ck_assert_str_eq (r, "abc");
  free (r);
}
END_TEST

/* The stored (mixed-order) bytes of a GUID and its text, both ways; a
 * generated GUID has its version where its byte order puts it.
 */
START_TEST (test_guid)
{
  static const uint8_t stored[16] = {
    0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
    0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59, 0x13 };
  uint8_t g[16], u[16];
  char text[XD_GUID_TEXT];
  int i, v4_guid = 0, v4_uuid = 0;

  xd_guid_format (stored, text);
  ck_assert_str_eq (text, "b04aefb7-d19e-4a81-b789-25b8e9445913");
  ck_assert_int_eq (xd_guid_parse ("{B04AEFB7-D19E-4A81-B789-25B8E9445913}",
                                   g), 0);
  ck_assert_mem_eq (g, stored, 16);
  ck_assert_int_eq (xd_guid_parse ("b04aefb7-d19e-4a81-b789-25b8e944591", g),
                    -1);
  ck_assert_int_eq (xd_guid_parse ("b04aefb7+d19e-4a81-b789-25b8e9445913", g),
                    -1);
  ck_assert (!xd_guid_is_null (stored));
  memset (g, 0, 16);
  ck_assert (xd_guid_is_null (g));
  for (i = 0; i < 8; i++) {
    ck_assert_int_eq (xd_guid_generate (g), 0);
    ck_assert_int_eq (xd_uuid_generate (u), 0);
    ck_assert_uint_eq (g[8] & 0xc0, 0x80);
    ck_assert_uint_eq (u[8] & 0xc0, 0x80);
    xd_guid_format (g, text);
    v4_guid += text[14] == '4';
    v4_uuid += (u[6] >> 4) == 4;
  }
  ck_assert_int_eq (v4_guid, 8);
  ck_assert_int_eq (v4_uuid, 8);
}
END_TEST

static Suite *
common_suite (void)
{
  Suite *s = suite_create ("common");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_io_memory_bounds);
  tcase_add_test (tc, test_io_file);
  tcase_add_test (tc, test_cache_bounded);
  tcase_add_test (tc, test_cache_pinned_survive);
  tcase_add_test (tc, test_cache_threads);
  tcase_add_test (tc, test_path_policy);
  tcase_add_test (tc, test_error_hold);
  tcase_add_test (tc, test_crc32c);
  tcase_add_test (tc, test_utf16);
  tcase_add_test (tc, test_guid);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (common_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
