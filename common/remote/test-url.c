/* Unit tests for URLs of remote images and the resolution of the names
 * images hold against them (xd-url.h), and the confinement policy
 * (xd-remote.h).
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "remote/xd-remote.h"
#include "remote/xd-url.h"
#include "unittest/xd-test.h"

static const char *esxi =
  "https://esxi.example:8443/folder/vm%20one/disk.vmdk"
  "?dcPath=ha-datacenter&dsName=ds%201";

START_TEST (test_parse)
{
  struct xd_url u;
  char *s;

  ck_assert_int_eq (xd_url_parse (esxi, &u), 0);
  ck_assert_str_eq (u.scheme, "https");
  ck_assert_str_eq (u.host, "esxi.example");
  ck_assert_uint_eq (u.port, 8443);
  ck_assert_str_eq (u.path, "/folder/vm%20one/disk.vmdk");
  ck_assert_str_eq (u.query, "dcPath=ha-datacenter&dsName=ds%201");
  s = xd_url_wire (&u);
  ck_assert_str_eq (s, esxi);
  free (s);
  xd_url_free (&u);

  ck_assert_int_eq (xd_url_parse ("SSH://root@[::1]/vmfs/a%2fb", &u), 0);
  ck_assert_str_eq (u.scheme, "ssh");
  ck_assert_str_eq (u.user, "root");
  ck_assert_str_eq (u.host, "::1");
  ck_assert_uint_eq (u.port, 22);
  ck_assert (!u.port_given);
  /* An encoded '/' stays part of its segment. */
  ck_assert_str_eq (u.path, "/vmfs/a%2Fb");
  s = xd_url_wire (&u);
  ck_assert_str_eq (s, "ssh://[::1]/vmfs/a%2Fb");
  free (s);
  xd_url_free (&u);

  /* Canonical paths: dot segments applied, escapes of pchars decoded. */
  ck_assert_int_eq (xd_url_parse ("http://h/a/./b/../%63.vmdk", &u), 0);
  ck_assert_str_eq (u.path, "/a/c.vmdk");
  xd_url_free (&u);
  ck_assert_int_eq (xd_url_parse ("http://h", &u), 0);
  ck_assert_str_eq (u.path, "/");
  xd_url_free (&u);
}
END_TEST

START_TEST (test_parse_refused)
{
  struct xd_url u;

  ck_fails_with (xd_url_parse ("ftp://h/x", &u), EINVAL, "http://");
  ck_fails_with (xd_url_parse ("file:///etc/passwd", &u), EINVAL, "http://");
  ck_fails_with (xd_url_parse ("https://root:s3cret@h/x", &u), EINVAL,
            "password=");
  ck_assert (strstr (last_error, "s3cret") == NULL);
  ck_fails_with (xd_url_parse ("https://h:99999/x", &u), EINVAL, "port");
  ck_fails_with (xd_url_parse ("https://h:/x", &u), EINVAL, "port");
  ck_fails_with (xd_url_parse ("https:///x", &u), EINVAL, "host");
  ck_fails_with (xd_url_parse ("https://h/x#frag", &u), EINVAL, "fragment");
  ck_fails_with (xd_url_parse ("https://h/a b", &u), EINVAL, "space");
  ck_fails_with (xd_url_parse ("https://h/a\nb", &u), EINVAL, "control");
  ck_fails_with (xd_url_parse ("https://h/a%zz", &u), EINVAL, "escape");
  ck_fails_with (xd_url_parse ("https://h/a%00b", &u), EINVAL, "NUL");
  ck_fails_with (xd_url_parse ("https://h/../x", &u), EINVAL, "root");
}
END_TEST

START_TEST (test_display_hides_secrets)
{
  struct xd_url u;
  char *s;

  ck_assert_int_eq (xd_url_parse ("https://me@blob.example/c/d.vhd"
                                  "?sv=2020&sig=SECRET&dsName=x", &u), 0);
  s = xd_url_display (&u);
  ck_assert_str_eq (s, "https://blob.example/c/d.vhd?sv=...&sig=...&dsName=x");
  free (s);
  xd_url_free (&u);
}
END_TEST

/* Resolve NAME against FROM and compare the wire URL with WANT, or
 * expect a refusal whose reason holds WANT when FAILS.
 */
static void
check_resolve (const char *from, const char *name, const char *want,
               bool fails)
{
  struct xd_url base, out;
  const char *why = NULL;
  char *s;
  int r;

  ck_assert_int_eq (xd_url_parse (from, &base), 0);
  r = xd_url_resolve (&base, name, &out, &why);
  if (fails) {
    ck_assert_msg (r == -1, "\"%s\" was not refused", name);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_msg (strstr (why, want) != NULL, "\"%s\": reason \"%s\"",
                   name, why);
  }
  else {
    ck_assert_msg (r == 0, "\"%s\" refused: %s", name, why);
    s = xd_url_wire (&out);
    ck_assert_str_eq (s, want);
    free (s);
    xd_url_free (&out);
  }
  xd_url_free (&base);
}

START_TEST (test_resolve)
{
  check_resolve (esxi, "disk-flat.vmdk",
                 "https://esxi.example:8443/folder/vm%20one/disk-flat.vmdk"
                 "?dcPath=ha-datacenter&dsName=ds%201", false);
  /* Bytes are encoded, never decoded: '%' in a name is a '%'. */
  check_resolve ("http://h/d/x.vmdk", "a b#%41+.vmdk",
                 "http://h/d/a%20b%23%2541+.vmdk", false);
  check_resolve ("http://h/d/e/x.vmdk", "../base.vmdk",
                 "http://h/d/base.vmdk", false);
  check_resolve ("http://h/d/x.vmdk", "/vmfs/volumes/u/b.vmdk",
                 "http://h/vmfs/volumes/u/b.vmdk", false);
  /* Windows names: '\' as '/', absolute ones by their last component. */
  check_resolve ("http://h/d/x.avhdx", ".\\Gen 1_AB.avhdx",
                 "http://h/d/Gen%201_AB.avhdx", false);
  check_resolve ("http://h/d/x.vhd", "C:\\Projects\\fat-parent.vhd",
                 "http://h/d/fat-parent.vhd", false);
  check_resolve ("http://h/d/x.vhdx", "\\\\?\\Volume{1}\\vm\\p.vhdx",
                 "http://h/d/p.vhdx", false);
  check_resolve ("http://h/d/x.vhdx", "C:\\", "no file", true);
  /* Refused outright. */
  check_resolve ("http://h/d/x.vmdk", "", "empty", true);
  check_resolve ("http://h/d/x.vmdk", "../../../etc/passwd", "root", true);
  check_resolve ("http://h/d/x.vmdk", "file:///etc/passwd", "scheme", true);
  check_resolve ("http://h/d/x.vmdk", "https://other/x.vmdk", "scheme",
                 true);
  check_resolve ("http://h/d/x.vmdk", "json:{\"file\":1}", "scheme", true);
  check_resolve ("http://h/d/x.vmdk", "%2e%2e/%2E%2E/etc/passwd", "%-escape",
                 true);
  check_resolve ("http://h/d/x.vmdk", "a%2fb", "%-escape", true);
  check_resolve ("http://h/d/x.vmdk", "a\x01" "b", "control", true);
  check_resolve ("http://h/d/x.vmdk", "dir/", "directory", true);
}
END_TEST

START_TEST (test_inside)
{
  struct xd_url u;

  ck_assert_int_eq (xd_url_parse ("http://h/a/bc/d.vmdk", &u), 0);
  ck_assert (xd_url_path_inside (&u, "/a/bc/"));
  ck_assert (xd_url_path_inside (&u, "/a/bc"));
  ck_assert (xd_url_path_inside (&u, "/a"));
  ck_assert (xd_url_path_inside (&u, "/"));
  ck_assert (!xd_url_path_inside (&u, "/a/b"));
  ck_assert (!xd_url_path_inside (&u, "/a/bc/d"));
  xd_url_free (&u);
}
END_TEST

START_TEST (test_same_origin)
{
  struct xd_url a, b;

  ck_assert_int_eq (xd_url_parse ("https://H.example/x", &a), 0);
  ck_assert_int_eq (xd_url_parse ("https://h.example:443/y", &b), 0);
  ck_assert (xd_url_same_origin (&a, &b));
  xd_url_free (&b);
  ck_assert_int_eq (xd_url_parse ("http://h.example/y", &b), 0);
  ck_assert (!xd_url_same_origin (&a, &b));
  xd_url_free (&b);
  ck_assert_int_eq (xd_url_parse ("https://h.example:444/y", &b), 0);
  ck_assert (!xd_url_same_origin (&a, &b));
  xd_url_free (&b);
  ck_assert_int_eq (xd_url_parse ("https://u@h.example/y", &b), 0);
  ck_assert (!xd_url_same_origin (&a, &b));
  xd_url_free (&b);
  xd_url_free (&a);
}
END_TEST

START_TEST (test_policy)
{
  struct xd_url top;
  struct xd_url_policy p;

  ck_assert_int_eq (xd_url_parse ("http://h/vms/a/top.vmdk?q=1", &top), 0);
  ck_assert_int_eq (xd_url_policy_init (&p, &top, NULL), 0);
  ck_assert_str_eq (p.root_dir, "/vms/a/");
  ck_assert (!p.allow_any);
  xd_url_policy_free (&p);
  ck_assert_int_eq (xd_url_policy_init (&p, &top, "true"), 0);
  ck_assert (p.allow_any);
  xd_url_policy_free (&p);
  ck_assert_int_eq (xd_url_policy_init (&p, &top, "http://h/base/,"
                                        " http://h/other"), 0);
  ck_assert_uint_eq (p.nr_allowed_dirs, 2);
  ck_assert_str_eq (p.allowed_dirs[0], "/base");
  xd_url_policy_free (&p);
  ck_fails_with (xd_url_policy_init (&p, &top, "http://other/base/"), EINVAL,
            "not on the image's server");
  xd_url_free (&top);
}
END_TEST

static Suite *
url_suite (void)
{
  Suite *s = suite_create ("url");
  TCase *tc = tcase_create ("url");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_parse);
  tcase_add_test (tc, test_parse_refused);
  tcase_add_test (tc, test_display_hides_secrets);
  tcase_add_test (tc, test_resolve);
  tcase_add_test (tc, test_inside);
  tcase_add_test (tc, test_same_origin);
  tcase_add_test (tc, test_policy);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (url_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
