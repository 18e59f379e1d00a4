/* xdisk: unit tests of OVA creation (ova-write.c), through the format
 * table in memory: what the archive holds, read back with xdisk's own
 * tar and OVA readers; the order of the disks; the archive refused
 * until it is complete.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "appliance/ova.h"
#include "appliance/ova-write.h"
#include "archive/xd-tar.h"
#include "core/xd-digest.h"
#include "io/xd-io.h"
#include "unittest/xd-test.h"

#define MiB (UINT64_C (1) << 20)

extern const struct xd_format xd_format_ova;

/* The appliance being created, and its file in memory. */
struct created {
  struct xd_io *io;             /* our reference to the file */
  struct xd_image *img;
};

static void
create (struct created *c, const uint64_t *sizes, size_t n,
        const char *manifest)
{
  struct xd_create_opts copts = {
    .size = sizes[0], .sizes = sizes, .nr_sizes = n, .path = "/t/vm.ova",
  };
  struct xd_open_opts opts = { .writable = true };
  struct xd_resolver *res = xd_resolver_new_stream ("test");

  copts.vm.manifest = manifest;
  c->io = xd_io_new_memory_rw (NULL, 0, "vm.ova");
  ck_assert_ptr_nonnull (c->io);
  c->img = xd_image_create (xd_io_ref (c->io), res, &copts, &opts,
                            &xd_format_ova);
  ck_assert_msg (c->img != NULL, "create: %s", last_error);
  xd_resolver_free (res);
  ck_assert_uint_eq (c->img->format->disks (c->img->h), n);
}

static struct xd_image *
disk (struct created *c, size_t i)
{
  return c->img->format->disk (c->img->h, i);
}

/* Fill disk I with a pattern of its index, a hole in its middle. */
static void
write_disk (struct created *c, size_t i)
{
  struct xd_image *d = disk (c, i);
  uint64_t size = xd_image_size (d), off;
  static unsigned char buf[MiB];

  for (off = 0; off < size; off += MiB) {
    if (off == MiB)
      continue;                 /* never written: reads as zeros */
    memset (buf, 'a' + (int) i, sizeof buf);
    memcpy (buf, &off, sizeof off);
    ck_assert_int_eq (xd_image_write (d, buf, MiB, off), 0);
  }
}

static void
check_disk_bytes (struct xd_image *d, size_t i)
{
  static unsigned char buf[MiB], want[MiB];
  uint64_t size = xd_image_size (d), off;

  for (off = 0; off < size; off += MiB) {
    memset (want, off == MiB ? 0 : 'a' + (int) i, sizeof want);
    if (off != MiB)
      memcpy (want, &off, sizeof off);
    ck_assert_int_eq (xd_image_read (d, buf, MiB, off), 0);
    ck_assert_msg (memcmp (buf, want, MiB) == 0, "disk %zu at %llu", i,
                   (unsigned long long) off);
  }
}

static int
list_member (void *opaque, const char *name, bool safe, uint64_t offset,
             uint64_t size)
{
  char *out = opaque;

  (void) safe, (void) offset, (void) size;
  strcat (out, name);
  strcat (out, " ");
  return 0;
}

/* The finished archive, as a file of its own. */
static struct xd_io *
snapshot (struct created *c)
{
  return xd_io_open_memory (xd_io_memory_contents (c->io), c->io->size,
                            "vm.ova");
}

/* Open disk K of the archive with the OVA reader, checking the
 * manifest when it has one.
 */
static struct xd_resolver *lone;        /* outlives the images read */

static struct xd_image *
read_back (struct xd_io *file, const char *k, bool verify)
{
  struct xd_open_opts opts = { .disk = k, .verify = verify };
  struct xd_image *img;

  if (lone == NULL)
    lone = xd_resolver_new_stream ("test");
  img = xd_image_open (xd_io_ref (file), lone, &opts, &xd_reader_ova);
  ck_assert_msg (img != NULL, "read back: %s", last_error);
  return img;
}

START_TEST (test_one_disk)
{
  static const uint64_t sizes[] = { 4 * MiB };
  struct created c;
  struct xd_io *file;
  struct xd_image *img;
  char names[256] = "";

  create (&c, sizes, 1, NULL);
  write_disk (&c, 0);
  /* Not complete yet: no tar reader takes it. */
  file = snapshot (&c);
  ck_assert (!xd_tar_header_valid (xd_io_memory_contents (c.io)));
  ck_assert_int_eq (xd_tar_walk (file, list_member, names), -1);
  xd_io_close (file);
  ck_assert_int_eq (xd_image_finish (disk (&c, 0)), 0);

  file = snapshot (&c);
  names[0] = '\0';
  ck_assert_int_eq (xd_tar_walk (file, list_member, names), 0);
  ck_assert_str_eq (names, "vm.ovf vm.mf vm-disk1.vmdk ");
  img = read_back (file, NULL, xd_digest_available ());
  check_disk_bytes (img, 0);
  xd_image_close (img);
  /* The disk reads back through the writer too, once finished. */
  check_disk_bytes (disk (&c, 0), 0);
  xd_io_close (file);
  xd_image_close (c.img);
  xd_io_close (c.io);
}
END_TEST

START_TEST (test_two_disks_in_order)
{
  static const uint64_t sizes[] = { 3 * MiB, 2 * MiB };
  struct created c;
  struct xd_io *file;
  struct xd_image *img;
  char names[256] = "";
  unsigned char byte = 1;

  create (&c, sizes, 2, "none");
  ck_assert_str_eq (c.img->format->disk_name (c.img->h, 1), "vm-disk2.vmdk");
  /* Disk 2 first: refused at once, disk 1 was never written. */
  ck_fails_with (xd_image_write (disk (&c, 1), &byte, 1, 0), EPERM,
                 "vm-disk1.vmdk is finished");
  write_disk (&c, 0);
  ck_assert_int_eq (xd_image_finish (disk (&c, 0)), 0);
  /* A finished disk takes no more writes. */
  ck_fails_with (xd_image_write (disk (&c, 0), &byte, 1, 0), EROFS,
                 "is complete");
  /* A disk whose client left without writing stays unwritten. */
  ck_assert_int_eq (xd_image_finish (disk (&c, 1)), 0);
  ck_assert (!xd_tar_header_valid (xd_io_memory_contents (c.io)));
  write_disk (&c, 1);
  ck_assert_int_eq (xd_image_finish (disk (&c, 1)), 0);

  file = snapshot (&c);
  ck_assert_int_eq (xd_tar_walk (file, list_member, names), 0);
  ck_assert_str_eq (names, "vm.ovf vm-disk1.vmdk vm-disk2.vmdk ");
  img = read_back (file, "1", false);
  ck_assert_uint_eq (xd_image_size (img), 2 * MiB);
  check_disk_bytes (img, 1);
  xd_image_close (img);
  img = read_back (file, "0", false);
  check_disk_bytes (img, 0);
  xd_image_close (img);
  xd_io_close (file);
  xd_image_close (c.img);
  xd_io_close (c.io);
}
END_TEST

START_TEST (test_closed_unfinished)
{
  static const uint64_t sizes[] = { 2 * MiB, 2 * MiB };
  struct created c;
  struct xd_io *file;
  char names[256] = "";

  create (&c, sizes, 2, NULL);
  write_disk (&c, 0);
  ck_assert_int_eq (xd_image_finish (disk (&c, 0)), 0);
  last_error[0] = '\0';
  xd_image_close (c.img);       /* disk 2 never written */
  ck_error_has ("incomplete");
  ck_error_has ("vm-disk2.vmdk");
  file = snapshot (&c);
  ck_assert_int_eq (xd_tar_walk (file, list_member, names), -1);
  xd_io_close (file);
  xd_io_close (c.io);
}
END_TEST

/* nbdkit may clean up before the last client's close: closing the
 * appliance finishes the disk being written, completing the archive.
 */
START_TEST (test_close_finishes)
{
  static const uint64_t sizes[] = { 2 * MiB };
  struct created c;
  struct xd_io *file;
  struct xd_image *img;

  create (&c, sizes, 1, "sha1");
  write_disk (&c, 0);
  xd_image_close (c.img);
  file = snapshot (&c);
  img = read_back (file, NULL, xd_digest_available ());
  check_disk_bytes (img, 0);
  xd_image_close (img);
  xd_io_close (file);
  xd_io_close (c.io);
}
END_TEST

static Suite *
ova_write_suite (void)
{
  Suite *s = suite_create ("ova-write");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_one_disk);
  tcase_add_test (tc, test_two_disks_in_order);
  tcase_add_test (tc, test_closed_unfinished);
  tcase_add_test (tc, test_close_finishes);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (ova_write_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  xd_resolver_free (lone);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
