/* Unit tests for the .vmx parser and disk finder, fed from memory. */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "vm/vmx.h"
#include "include/xd-report.h"

static int
parse (const char *text, struct vmx_config *cfg)
{
  return vmx_parse (text, strlen (text), "t.vmx", cfg);
}

START_TEST (test_vmx_values)
{
  struct vmx_config cfg;

  ck_assert_int_eq (parse (".encoding = \"UTF-8\"\r\n"
                           "# a comment = \"x\"\n"
                           "\n"
                           "  displayName = \"a |22quoted|22 |7C name\" # c\n"
                           "memSize = 2048\n"
                           "DisplayName = \"later\"\n", &cfg), 0);
  ck_assert_uint_eq (cfg.len, 4);
  ck_assert_str_eq (vmx_get (&cfg, ".encoding"), "UTF-8");
  ck_assert_str_eq (cfg.entries[1].value, "a \"quoted\" | name");
  ck_assert_str_eq (vmx_get (&cfg, "memsize"), "2048");
  ck_assert_str_eq (vmx_get (&cfg, "displayname"), "later");
  ck_assert_ptr_null (vmx_get (&cfg, "nothing"));
  vmx_config_free (&cfg);
}
END_TEST

START_TEST (test_vmx_refused)
{
  static const char *const bad[] = {
    "just words\n",
    "a = \"unterminated\n",
    "a = \"x\" trailing\n",
    "a = \"bad |2 escape\"\n",
    "a = \"bad |zz escape\"\n",
    "a = \"nul |00 byte\"\n",
    "a = \"tab\x01ctl\"\n",
    "k\"ey = \"x\"\n",
    " = \"no key\"\n",
    "a = un\"quoted\n",
  };
  struct vmx_config cfg;
  size_t i;
  char *big;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    ck_assert_msg (parse (bad[i], &cfg) == -1, "accepted: %s", bad[i]);
    ck_assert_int_eq (errno, EIO);
  }
  /* A NUL byte in the text, a line too long, too many lines. */
  ck_assert_int_eq (vmx_parse ("a = \"b\"\n\0", 9, "t.vmx", &cfg), -1);
  big = malloc (VMX_MAX_SIZE + 1);
  ck_assert_ptr_nonnull (big);
  memset (big, 'x', VMX_MAX_LINE + 1);
  memcpy (big, "a = \"", 5);
  big[VMX_MAX_LINE + 1] = '\0';
  ck_assert_int_eq (parse (big, &cfg), -1);
  for (i = 0; i + 6 <= VMX_MAX_SIZE - 6; i += 6)
    memcpy (big + i, "a = 1\n", 6);
  big[i] = '\0';
  ck_assert_int_eq (parse (big, &cfg), -1);
  /* Exactly the longest line is fine. */
  memset (big, 'x', VMX_MAX_LINE);
  memcpy (big, "a = \"", 5);
  big[VMX_MAX_LINE - 1] = '"';
  big[VMX_MAX_LINE] = '\0';
  ck_assert_int_eq (parse (big, &cfg), 0);
  vmx_config_free (&cfg);
  free (big);
}
END_TEST

START_TEST (test_vmx_disks)
{
  struct vmx_config cfg;
  struct vmx_disk_ref *d;
  size_t n;

  ck_assert_int_eq (parse ("config.version = \"8\"\n"
                           "nvme0:0.fileName = \"n.vmdk\"\n"
                           "sata0:1.fileName = \"s.vmdk\"\n"
                           "scsi1:0.fileName = \"b.vmdk\"\n"
                           "scsi0:10.fileName = \"c.vmdk\"\n"
                           "scsi0:2.fileName = \"a-000003.vmdk\"\n"
                           "ide1:0.deviceType = \"cdrom-image\"\n"
                           "ide1:0.fileName = \"cd.vmdk\"\n"
                           "ide0:0.fileName = \"os.iso\"\n"
                           "sata0:0.fileName = \"gone.vmdk\"\n"
                           "sata0:0.present = \"FALSE\"\n"
                           "scsi2.present = \"false\"\n"
                           "scsi2:0.fileName = \"ctl.vmdk\"\n"
                           "floppy0.fileName = \"f.vmdk\"\n"
                           "scsi0:0.fileName = \"old.vmdk\"\n"
                           "SCSI0:0.FILENAME = \"new.vmdk\"\n"
                           "scsi1000:0.fileName = \"big.vmdk\"\n"
                           "scsi0:0:0.fileName = \"odd.vmdk\"\n"
                           "scsi0:02.fileName = \"zero.vmdk\"\n"
                           "scsi00:2.fileName = \"zero.vmdk\"\n", &cfg), 0);
  ck_assert_int_eq (vmx_find_disks (&cfg, "t.vmx", &d, &n), 0);
  ck_assert_uint_eq (n, 6);
  ck_assert_str_eq (d[0].key, "scsi0:0");
  ck_assert_str_eq (d[0].file, "new.vmdk");
  ck_assert_str_eq (d[1].key, "scsi0:2");
  ck_assert_str_eq (d[2].key, "scsi0:10");
  ck_assert_str_eq (d[3].key, "scsi1:0");
  ck_assert_str_eq (d[4].key, "sata0:1");
  ck_assert_str_eq (d[5].key, "nvme0:0");
  free (d);
  vmx_config_free (&cfg);
}
END_TEST

START_TEST (test_vmx_probe)
{
  static const char vmx[] = ".encoding = \"UTF-8\"\nvirtualHW.version = "
    "\"19\"\n";
  static const char disk_only[] = "scsi0:0.fileName = \"a.vmdk\"\n";
  static const char descriptor[] = "# Disk DescriptorFile\nversion=1\n"
    "CID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"
    "RW 2048 FLAT \"a-flat.vmdk\" 0\nddb.virtualHWVersion = \"4\"\n";
  static const char vmsd[] = ".encoding = \"UTF-8\"\n"
    "snapshot.numSnapshots = \"1\"\nsnapshot0.disk0.fileName = \"a.vmdk\"\n";
  uint8_t bin[64] = "config.version = \"8\"\n";

  ck_assert (vmx_looks_like ((const uint8_t *) vmx, strlen (vmx)));
  ck_assert (vmx_looks_like ((const uint8_t *) disk_only,
                             strlen (disk_only)));
  ck_assert (!vmx_looks_like ((const uint8_t *) descriptor,
                              strlen (descriptor)));
  ck_assert (!vmx_looks_like ((const uint8_t *) vmsd, strlen (vmsd)));
  ck_assert (!vmx_looks_like (bin, sizeof bin));
  ck_assert (!vmx_looks_like (bin, 0));
}
END_TEST

static Suite *
vm_suite (void)
{
  Suite *s = suite_create ("vm");
  TCase *tc = tcase_create ("vmx");

  tcase_add_test (tc, test_vmx_values);
  tcase_add_test (tc, test_vmx_refused);
  tcase_add_test (tc, test_vmx_disks);
  tcase_add_test (tc, test_vmx_probe);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (vm_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
