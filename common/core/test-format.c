/* Unit tests for the registry: the content detector on every format and
 * on near-misses, images of any format, and resolvers (the inflater
 * pool's tests are in io/test-codec.c).
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <check.h>

#include "include/xd-bytes.h"
#include "core/xd-format.h"
#include "io/xd-io.h"
#include "core/xd-path.h"
#include "unittest/xd-test.h"
#include "unittest/xd-test-tar.h"

#define IMG_SIZE 8192
/* The size of a text image: its length. */
#define TEXT_SIZE ((size_t) -1)

/* What an image of SIZE bytes must be detected as, given its bytes. */
struct probe_case {
  const char *label;
  const char *expect;           /* format name */
  void (*fill) (uint8_t *img, size_t size);
  size_t size;
};

static void
fill_kdmv (uint8_t *img, size_t size XD_UNUSED)
{
  memcpy (img, "KDMV", 4);
}

static void
fill_cowd (uint8_t *img, size_t size XD_UNUSED)
{
  memcpy (img, "COWD", 4);
}

static void
fill_sesparse (uint8_t *img, size_t size XD_UNUSED)
{
  xd_put_le64 (img, UINT64_C (0xcafebabe));
}

static void
fill_descriptor (uint8_t *img, size_t size XD_UNUSED)
{
  strcpy ((char *) img, "# Disk DescriptorFile\nversion=1\nCID=fffffffe\n"
          "createType=\"monolithicFlat\"\nRW 2048 FLAT \"x-flat.vmdk\" 0\n");
}

/* No header comment: still a descriptor by its keys. */
static void
fill_bare_descriptor (uint8_t *img, size_t size XD_UNUSED)
{
  strcpy ((char *) img, "version=1\ncreateType=\"vmfs\"\n"
          "RW 2048 VMFS \"x-flat.vmdk\"\n");
}

static void
fill_vhdx (uint8_t *img, size_t size XD_UNUSED)
{
  memcpy (img, "vhdxfile", 8);
}

static void
fill_vhd_dynamic (uint8_t *img, size_t size)
{
  memcpy (img, "conectix", 8);
  memcpy (img + size - 512, "conectix", 8);
}

static void
fill_vhd_fixed (uint8_t *img, size_t size)
{
  memcpy (img + size - 512, "conectix", 8);
}

/* Virtual PC before 2004: a 511-byte footer. */
static void
fill_vhd_old (uint8_t *img, size_t size)
{
  memcpy (img + size - 511, "conectix", 8);
}

/* VDI: the signature at 0x40 decides; the banner before it is text. */
static void
fill_vdi (uint8_t *img, size_t size XD_UNUSED)
{
  xd_put_le32 (img + 0x40, 0xbeda107f);
}

static void
fill_vdi_banner_only (uint8_t *img, size_t size XD_UNUSED)
{
  strcpy ((char *) img, "<<< Oracle VM VirtualBox Disk Image >>>\n");
}

static void
fill_text (uint8_t *img, size_t size XD_UNUSED)
{
  strcpy ((char *) img, "Just a text file that talks about createType "
          "and nothing else.\n");
}

/* A raw disk whose guest wrote a descriptor-like text past the probe
 * window, and binary data before it: not a descriptor.
 */
static void
fill_boot_sector (uint8_t *img, size_t size XD_UNUSED)
{
  img[510] = 0x55;
  img[511] = 0xaa;
  strcpy ((char *) img + 4200, "# Disk DescriptorFile\n");
}

static void
fill_short_magic (uint8_t *img, size_t size XD_UNUSED)
{
  memcpy (img, "vhdxfil", 7);
}

static void
fill_nothing (uint8_t *img XD_UNUSED, size_t size XD_UNUSED)
{
}

/* Appliances: a tar whose first member is the OVF descriptor, or
 * ova.xml; near-misses are raw.
 */
static void
fill_ova (uint8_t *img, size_t size XD_UNUSED)
{
  xd_test_tar_header (img, "app.ovf", 100, '0', "ustar  ");
  strcpy ((char *) img + 512, "<Envelope/>");
}

static void
fill_xva (uint8_t *img, size_t size XD_UNUSED)
{
  xd_test_tar_header (img, "ova.xml", 100, '0', "ustar");
}

static void
fill_tar_other (uint8_t *img, size_t size XD_UNUSED)
{
  xd_test_tar_header (img, "disk.vmdk", 100, '0', "ustar");
}

static void
fill_ova_bad_sum (uint8_t *img, size_t size XD_UNUSED)
{
  fill_ova (img, size);
  img[0] = 'b';                 /* "bpp.ovf": the checksum no longer fits */
}

static void
fill_ova_truncated (uint8_t *img, size_t size XD_UNUSED)
{
  xd_test_tar_header (img, "app.ovf", 1 << 20, '0', "ustar");
}

static void
fill_xva_lookalike (uint8_t *img, size_t size XD_UNUSED)
{
  xd_test_tar_header (img, "ova.xml.bak", 100, '0', "ustar");
}

static void
fill_zstd (uint8_t *img, size_t size XD_UNUSED)
{
  memcpy (img, "\x28\xb5\x2f\xfd", 4);
}

static void
fill_ovf (uint8_t *img, size_t size XD_UNUSED)
{
  strcpy ((char *) img, "<?xml version=\"1.0\"?>\n<Envelope "
          "xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "
          "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\">\n"
          "<References/>\n</Envelope>\n");
}

static void
fill_ovf_prefixed (uint8_t *img, size_t size XD_UNUSED)
{
  strcpy ((char *) img, "<ovf:Envelope "
          "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/2\">"
          "</ovf:Envelope>");
}

/* A SOAP envelope: XML with an Envelope root, not OVF's. */
static void
fill_soap (uint8_t *img, size_t size XD_UNUSED)
{
  strcpy ((char *) img, "<soap:Envelope xmlns:soap=\"http://schemas."
          "xmlsoap.org/soap/envelope/\"><soap:Body/></soap:Envelope>");
}

static const struct probe_case cases[] = {
  { "OVF descriptor", "ovf", fill_ovf, TEXT_SIZE },
  { "OVF descriptor, ovf: prefix", "ovf", fill_ovf_prefixed, TEXT_SIZE },
  { "SOAP envelope", "raw", fill_soap, TEXT_SIZE },
  { "OVA", "ova", fill_ova, IMG_SIZE },
  { "XVA", "xva", fill_xva, IMG_SIZE },
  { "zstd stream (an XVA, refused with a hint)", "xva", fill_zstd, IMG_SIZE },
  { "tar of something else", "raw", fill_tar_other, IMG_SIZE },
  { "OVA with a bad header checksum", "raw", fill_ova_bad_sum, IMG_SIZE },
  { "OVA whose descriptor runs past the end", "raw", fill_ova_truncated,
    IMG_SIZE },
  { "tar whose first member is ova.xml.bak", "raw", fill_xva_lookalike,
    IMG_SIZE },
  { "KDMV sparse", "vmdk", fill_kdmv, IMG_SIZE },
  { "COWD redo log", "vmdk", fill_cowd, IMG_SIZE },
  { "seSparse", "vmdk", fill_sesparse, IMG_SIZE },
  { "descriptor", "vmdk", fill_descriptor, TEXT_SIZE },
  { "descriptor without its comment", "vmdk", fill_bare_descriptor, TEXT_SIZE },
  { "descriptor padded with NULs", "vmdk", fill_descriptor, 1024 },
  { "VHDX", "vhdx", fill_vhdx, IMG_SIZE },
  { "dynamic VHD", "vhd", fill_vhd_dynamic, IMG_SIZE },
  { "fixed VHD", "vhd", fill_vhd_fixed, IMG_SIZE },
  { "fixed VHD, 511-byte footer", "vhd", fill_vhd_old, IMG_SIZE },
  { "VDI", "vdi", fill_vdi, IMG_SIZE },
  { "VDI banner without signature", "raw", fill_vdi_banner_only, IMG_SIZE },
  { "text file", "raw", fill_text, TEXT_SIZE },
  { "boot sector", "raw", fill_boot_sector, IMG_SIZE },
  { "truncated magic", "raw", fill_short_magic, 7 },
  { "all zeros", "raw", fill_nothing, IMG_SIZE },
  { "empty", "raw", fill_nothing, 0 },
};

START_TEST (test_detect)
{
  const struct probe_case *c = &cases[_i];
  uint8_t *img = calloc (1, IMG_SIZE + 1);
  const struct xd_format *f;
  struct xd_io *io;
  size_t size;

  ck_assert_ptr_nonnull (img);
  c->fill (img, c->size == TEXT_SIZE ? IMG_SIZE : c->size);
  size = c->size == TEXT_SIZE ? strlen ((char *) img) : c->size;
  io = xd_io_open_memory (img, size, c->label);
  ck_assert_ptr_nonnull (io);
  f = xd_detect (io);
  ck_assert_ptr_nonnull (f);
  ck_assert_msg (strcmp (f->name, c->expect) == 0, "%s: detected %s, not %s",
                 c->label, f->name, c->expect);
  xd_io_close (io);
  free (img);
}
END_TEST

START_TEST (test_by_name)
{
  size_t i;

  ck_assert_ptr_eq (xd_format_by_name ("raw"), &xd_format_raw);
  ck_assert_ptr_nonnull (xd_format_by_name ("VMDK"));
  ck_assert_ptr_null (xd_format_by_name ("floppy"));
  /* Every format is found by its name, and raw is last. */
  for (i = 0; xd_formats[i]; i++) {
    ck_assert_ptr_eq (xd_format_by_name (xd_formats[i]->name), xd_formats[i]);
    ck_assert_ptr_nonnull (xd_formats[i]->plugin);
  }
  ck_assert_ptr_eq (xd_formats[i - 1], &xd_format_raw);
}
END_TEST

/* The registry holds readers, which never write; the served list holds
 * the same formats in the same order, the writable ones composed with
 * their writers, and xd_format_writable goes from one to the other.
 */
START_TEST (test_readers_and_served)
{
  size_t i, writable = 0;

  for (i = 0; xd_formats[i]; i++) {
    const struct xd_format *served = xd_formats_served[i];
    ck_assert_ptr_nonnull (served);
    ck_assert_str_eq (served->name, xd_formats[i]->name);
    ck_assert_ptr_null (xd_formats[i]->pwrite);
    ck_assert_ptr_null (xd_formats[i]->create);
    ck_assert_ptr_eq (xd_format_writable (xd_formats[i]), served);
    ck_assert_ptr_eq (xd_format_writable (served), served);
    if (served->pwrite) {
      ck_assert_ptr_ne (served, xd_formats[i]);
      ck_assert_ptr_nonnull (served->create);
      writable++;
    }
  }
  ck_assert_ptr_null (xd_formats_served[i]);
  ck_assert_uint_eq (writable, 4);      /* VMDK, VHD, VHDX, VDI */
  ck_assert_ptr_null (xd_format_writable (NULL));
}
END_TEST

static int
collect (void *opaque, uint64_t offset XD_UNUSED, uint64_t length,
         uint32_t type)
{
  uint64_t *data_bytes = opaque;

  if (type == XD_EXTENT_DATA)
    *data_bytes += length;
  return 0;
}

START_TEST (test_image_raw)
{
  static const char bytes[] = "0123456789abcdef";
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  struct xd_io *io = xd_io_open_memory (bytes, 16, "mem");
  struct xd_image *img;
  uint64_t data_bytes = 0;
  char buf[4], *d;

  img = xd_image_open (io, res, &opts, NULL);
  ck_assert_ptr_nonnull (img);
  ck_assert_ptr_eq (img->format, &xd_format_raw);
  ck_assert_uint_eq (xd_image_size (img), 16);
  ck_assert_int_eq (xd_image_read (img, buf, 4, 10), 0);
  ck_assert_mem_eq (buf, "abcd", 4);
  ck_assert_int_eq (xd_image_read (img, buf, 4, 14), -1);
  ck_assert_int_eq (xd_image_extents (img, 16, 0, false, collect,
                                      &data_bytes), 0);
  ck_assert_uint_eq (data_bytes, 16);
  d = xd_image_describe (img);
  ck_assert_ptr_nonnull (strstr (d, "raw"));
  free (d);
  xd_image_close (img);
  xd_resolver_free (res);
}
END_TEST

/* Loops through files that name each other end at XD_MAX_CHAIN. */
START_TEST (test_image_depth)
{
  struct xd_open_opts opts = { .depth = XD_MAX_CHAIN };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  struct xd_io *io = xd_io_open_memory ("x", 1, "deep");

  ck_assert_ptr_null (xd_image_open (io, res, &opts, NULL));
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("deep");
  ck_error_has ("deeper than");
  xd_resolver_free (res);
}
END_TEST

START_TEST (test_stream_resolver)
{
  struct xd_resolver *res = xd_resolver_new_stream ("the filter's data");

  ck_assert_ptr_null (xd_resolver_try_open (res, "top.vmdk", "base.vmdk"));
  ck_assert_int_eq (errno, EPERM);
  last_error[0] = '\0';
  ck_assert_ptr_null (xd_resolver_open (res, "top.vmdk", "base.vmdk",
                                        "parent"));
  ck_error_has ("top.vmdk");
  ck_error_has ("parent \"base.vmdk\"");
  ck_error_has ("the filter's data");
  ck_error_has ("plugin");
  ck_assert_ptr_null (xd_image_open_ref (res, "top.qcow2", "b.raw",
                                         "backing file", "nosuch",
                                         &(struct xd_open_opts) { 0 }));
  ck_error_has ("nosuch");
  xd_resolver_free (res);
}
END_TEST

static void
write_file (const char *path, const char *text)
{
  FILE *fp = fopen (path, "w");

  ck_assert_ptr_nonnull (fp);
  fputs (text, fp);
  fclose (fp);
}

static int
count_names (void *opaque, const char *name)
{
  unsigned *n = opaque;

  if (strstr (name, "sibling") || strstr (name, "img"))
    (*n)++;
  return 0;
}

START_TEST (test_dir_resolver)
{
  char dir[] = "/tmp/xd-test-format.XXXXXX", inner[128], top[160],
    sib[160], out[160];
  struct xd_path_policy policy;
  struct xd_resolver *res;
  struct xd_io *io;
  unsigned n = 0;

  ck_assert_ptr_nonnull (mkdtemp (dir));
  snprintf (inner, sizeof inner, "%s/vm", dir);
  ck_assert_int_eq (mkdir (inner, 0700), 0);
  snprintf (top, sizeof top, "%s/img", inner);
  snprintf (sib, sizeof sib, "%s/sibling", inner);
  snprintf (out, sizeof out, "%s/outside", dir);
  write_file (top, "top");
  write_file (sib, "sib");
  write_file (out, "out");
  ck_assert_int_eq (xd_path_policy_init (&policy, top, NULL), 0);
  res = xd_resolver_new_dir (&policy);
  ck_assert_ptr_nonnull (res);

  io = xd_resolver_open (res, top, "sibling", "parent");
  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, 3);
  xd_io_close (io);
  ck_assert_ptr_null (xd_resolver_try_open (res, top, "../outside"));
  ck_assert_int_eq (errno, EPERM);
  ck_assert_ptr_null (xd_resolver_try_open (res, top, "nosuch"));
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_ptr_null (xd_resolver_open (res, top, "../outside",
                                        "backing file"));
  ck_error_has ("allow-external-files");
  ck_assert_int_eq (xd_resolver_list (res, top, false, count_names, &n), 0);
  ck_assert_uint_eq (n, 2);

  xd_resolver_free (res);
  xd_path_policy_free (&policy);
  unlink (top);
  unlink (sib);
  unlink (out);
  rmdir (inner);
  rmdir (dir);
}
END_TEST

static Suite *
format_suite (void)
{
  Suite *s = suite_create ("format");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_loop_test (tc, test_detect, 0, sizeof cases / sizeof cases[0]);
  tcase_add_test (tc, test_by_name);
  tcase_add_test (tc, test_readers_and_served);
  tcase_add_test (tc, test_image_raw);
  tcase_add_test (tc, test_image_depth);
  tcase_add_test (tc, test_stream_resolver);
  tcase_add_test (tc, test_dir_resolver);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (format_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
