/* Unit tests for XVA creation (xva-write.c, xva-xml-write.c): exports
 * written through the API into memory, in order and out of order, with
 * zero chunks, two disks, SHA-1 and XXH64 checksums; read back with
 * xdisk's own XVA reader (verify=true) and compared byte for byte; the
 * member order of the tar; ova.xml parsed by the reader's parser; disks
 * out of order refused; the unfinished marker until completion, the
 * real header written last, after a flush; a full disk.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "appliance/xd-vmdesc.h"
#include "appliance/xva.h"
#include "appliance/xva-write.h"
#include "archive/xd-tar.h"
#include "core/xd-digest.h"
#include "core/xd-format.h"
#include "io/xd-io.h"
#include "unittest/xd-test.h"

#define MIB (1024 * 1024)

/* An export being created in memory; IO outlives the writer. */
struct fixture {
  struct xd_io *io;
  void *w;
};

static void
create (struct fixture *f, const uint64_t *sizes, size_t n,
        const char *checksum)
{
  struct xd_create_opts copts = {
    .size = sizes[0], .sizes = sizes, .nr_sizes = n, .path = "/tmp/t.xva",
    .vm = { .checksum = checksum },
  };
  struct xd_open_opts opts = { .writable = true };

  f->io = xd_io_new_memory_rw (NULL, 0, "t.xva");
  ck_assert_ptr_nonnull (f->io);
  xd_io_ref (f->io);
  f->w = xva_create (f->io, NULL, &copts, &opts);
  ck_assert_msg (f->w != NULL, "create: %s", last_error);
}

static struct xd_image *
disk (struct fixture *f, size_t i)
{
  return xd_xva_creating.disk (f->w, i);
}

static void
done (struct fixture *f)
{
  xd_xva_creating.close (f->w);
  xd_io_close (f->io);
}

/* A recognisable pattern: byte I of the disk, seeded by DISK. */
static void
pattern (unsigned char *buf, size_t len, uint64_t offset, unsigned disk)
{
  size_t i;

  for (i = 0; i < len; i++)
    buf[i] = (unsigned char) ((offset + i) * 7 / 13 + disk * 31 + 1);
}

static void
write_pattern (struct xd_image *img, uint64_t offset, size_t len,
               unsigned disk)
{
  unsigned char *buf = malloc (len);

  pattern (buf, len, offset, disk);
  ck_assert_msg (xd_image_write (img, buf, len, offset) == 0, "write: %s",
                 last_error);
  free (buf);
}

/* Open disk WHICH of the finished export with the reader, verify=true,
 * and return its bytes (SIZE of them).
 */
static unsigned char *
read_back (struct fixture *f, const char *which, uint64_t *size)
{
  struct xd_io *copy = xd_io_open_memory (xd_io_memory_contents (f->io),
                                          f->io->size, "t.xva");
  struct xd_resolver *res = xd_resolver_new_stream ("test");
  struct xd_open_opts opts = { .disk = which, .verify = true };
  extern const struct xd_format xd_reader_xva;
  struct xd_image *img = xd_image_open (copy, res, &opts, &xd_reader_xva);
  unsigned char *buf;

  ck_assert_msg (img != NULL, "reading back: %s", last_error);
  *size = xd_image_size (img);
  buf = malloc (*size);
  ck_assert_msg (xd_image_read (img, buf, *size, 0) == 0, "read: %s",
                 last_error);
  xd_image_close (img);
  xd_resolver_free (res);
  return buf;
}

/* The members of the archive, in order, separated by spaces. */
static char *
members (struct fixture *f)
{
  struct xd_io *copy = xd_io_open_memory (xd_io_memory_contents (f->io),
                                          f->io->size, "t.xva");
  struct xd_tar *tar = xd_tar_index (copy);
  char *list = NULL;
  size_t len = 0, i;
  FILE *fp = open_memstream (&list, &len);

  ck_assert_ptr_nonnull (tar);
  for (i = 0; i < tar->n; i++)
    fprintf (fp, "%s%s", i ? " " : "", tar->members[i].name);
  fclose (fp);
  xd_tar_free (tar);
  xd_io_close (copy);
  return list;
}

static void
expect_members (struct fixture *f, const char *want)
{
  char *got = members (f);

  ck_assert_msg (strcmp (got, want) == 0, "members:\n%s\nexpected:\n%s",
                 got, want);
  free (got);
}

static void
expect_pattern (const unsigned char *buf, uint64_t offset, size_t len,
                unsigned d)
{
  unsigned char *want = malloc (len);

  pattern (want, len, offset, d);
  ck_assert_msg (memcmp (buf + offset, want, len) == 0,
                 "bytes at %" PRIu64 " differ", offset);
  free (want);
}

static void
expect_zeros (const unsigned char *buf, uint64_t offset, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    ck_assert_msg (buf[offset + i] == 0, "byte %" PRIu64 " is not zero",
                   offset + i);
}

/* Block 0 of an export not yet complete is no tar header. */
static void
expect_unfinished (struct fixture *f)
{
  const unsigned char *p = xd_io_memory_contents (f->io);

  ck_assert (!xd_tar_header_valid (p));
  ck_assert (strstr ((const char *) p, "never finished") != NULL);
}

START_TEST (test_in_order)
{
  struct fixture f;
  uint64_t size = 3 * MIB, got;
  unsigned char *buf;

  create (&f, &size, 1, NULL);
  write_pattern (disk (&f, 0), 0, 3 * MIB, 0);
  expect_unfinished (&f);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  expect_members (&f, "ova.xml Ref:000/00000000 Ref:000/00000000.checksum "
                  "Ref:000/00000001 Ref:000/00000001.checksum "
                  "Ref:000/00000002 Ref:000/00000002.checksum");
  buf = read_back (&f, NULL, &got);
  ck_assert_uint_eq (got, size);
  expect_pattern (buf, 0, size, 0);
  free (buf);
  done (&f);
}
END_TEST

/* Chunks written backwards, within the window, in odd pieces. */
START_TEST (test_out_of_order)
{
  struct fixture f;
  uint64_t size = 8 * MIB, got, off;
  unsigned char *buf;
  char *list;

  create (&f, &size, 1, "xxhash");
  for (off = size; off > 0; off -= 3 * 65536 + 4096) {
    uint64_t start = off > 3 * 65536 + 4096 ? off - (3 * 65536 + 4096) : 0;

    write_pattern (disk (&f, 0), start, off - start, 0);
    if (start == 0)
      break;
  }
  /* Read back from the window and from the archive before finishing. */
  buf = malloc (size);
  ck_assert_int_eq (xd_image_read (disk (&f, 0), buf, size, 0), 0);
  expect_pattern (buf, 0, size, 0);
  free (buf);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  buf = read_back (&f, "0", &got);
  ck_assert_uint_eq (got, size);
  expect_pattern (buf, 0, size, 0);
  free (buf);
  list = members (&f);
  ck_assert (strstr (list, "Ref:000/00000007.xxhash") != NULL);
  free (list);
  done (&f);
}
END_TEST

/* Zero chunks are left out but the first and the last; a size that is
 * not whole MiB is rounded up.
 */
START_TEST (test_zero_chunks)
{
  struct fixture f;
  uint64_t size = 5 * MIB - 1000, got;
  unsigned char *buf;

  create (&f, &size, 1, "sha1");
  ck_assert_uint_eq (xd_image_size (disk (&f, 0)), 5 * MIB);
  ck_assert_int_eq (xd_image_zero (disk (&f, 0), 2 * MIB, 0, false, false),
                    0);
  write_pattern (disk (&f, 0), 2 * MIB + 512, 4096, 0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  expect_members (&f, "ova.xml Ref:000/00000000 Ref:000/00000000.checksum "
                  "Ref:000/00000002 Ref:000/00000002.checksum "
                  "Ref:000/00000004 Ref:000/00000004.checksum");
  buf = read_back (&f, NULL, &got);
  ck_assert_uint_eq (got, 5 * MIB);
  expect_zeros (buf, 0, 2 * MIB + 512);
  expect_pattern (buf, 2 * MIB + 512, 4096, 0);
  expect_zeros (buf, 2 * MIB + 512 + 4096, 3 * MIB - 512 - 4096);
  free (buf);
  done (&f);
}
END_TEST

/* Two disks, one after the other; the second refused until the first
 * is finished; a probe of the second does not finish it.
 */
START_TEST (test_two_disks)
{
  struct fixture f;
  uint64_t sizes[2] = { 2 * MIB, 3 * MIB }, got;
  unsigned char *buf, b[512] = { 1 };

  create (&f, sizes, 2, NULL);
  ck_assert_uint_eq (xd_xva_creating.disks (f.w), 2);
  ck_assert_str_eq (xd_xva_creating.disk_name (f.w, 1), "Ref:001");
  ck_fails_with (xd_image_write (disk (&f, 1), b, 512, 0), EBUSY,
                 "one after another");
  ck_assert_int_eq (xd_image_finish (disk (&f, 1)), 0);    /* a probe */
  write_pattern (disk (&f, 0), 0, 2 * MIB, 0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  expect_unfinished (&f);
  ck_fails_with (xd_image_write (disk (&f, 0), b, 512, 0), EROFS,
                 "finished");
  write_pattern (disk (&f, 1), MIB, MIB, 1);
  /* Disk 0 reads back from the archive while disk 1 is written. */
  buf = malloc (2 * MIB);
  ck_assert_int_eq (xd_image_read (disk (&f, 0), buf, 2 * MIB, 0), 0);
  expect_pattern (buf, 0, 2 * MIB, 0);
  free (buf);
  ck_assert_int_eq (xd_image_finish (disk (&f, 1)), 0);
  expect_members (&f, "ova.xml Ref:000/00000000 Ref:000/00000000.checksum "
                  "Ref:000/00000001 Ref:000/00000001.checksum "
                  "Ref:001/00000000 Ref:001/00000000.checksum "
                  "Ref:001/00000001 Ref:001/00000001.checksum "
                  "Ref:001/00000002 Ref:001/00000002.checksum");
  buf = read_back (&f, "1", &got);
  ck_assert_uint_eq (got, 3 * MIB);
  expect_zeros (buf, 0, MIB);
  expect_pattern (buf, MIB, MIB, 1);
  expect_zeros (buf, 2 * MIB, MIB);
  free (buf);
  buf = read_back (&f, "0", &got);
  expect_pattern (buf, 0, 2 * MIB, 0);
  free (buf);
  done (&f);
}
END_TEST

/* The chunk checksums are the digests of the chunks, in xapi's text. */
START_TEST (test_checksum_text)
{
  struct fixture f;
  uint64_t size = MIB;
  const unsigned char *p;
  unsigned char *chunk = malloc (MIB);
  char hex[XD_DIGEST_HEX_MAX], want[XD_DIGEST_HEX_MAX];
  struct xd_io *copy;
  struct xd_tar *tar;
  const struct xd_tar_member *m;

  create (&f, &size, 1, "xxhash");
  write_pattern (disk (&f, 0), 0, MIB, 0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  pattern (chunk, MIB, 0, 0);
  snprintf (want, sizeof want, "%016" PRIX64, xd_xxh64 (chunk, MIB));
  copy = xd_io_open_memory (xd_io_memory_contents (f.io), f.io->size, "t");
  tar = xd_tar_index (copy);
  m = xd_tar_find (tar, "Ref:000/00000000.xxhash");
  ck_assert_ptr_nonnull (m);
  ck_assert_uint_eq (m->size, 16);
  p = xd_io_memory_contents (f.io) + m->offset;
  memcpy (hex, p, 16);
  hex[16] = '\0';
  ck_assert_str_eq (hex, want);
  xd_tar_free (tar);
  xd_io_close (copy);
  done (&f);
  create (&f, &size, 1, "sha1");
  write_pattern (disk (&f, 0), 0, MIB, 0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  xd_digest_buf (XD_DIGEST_SHA1, chunk, MIB, want);
  copy = xd_io_open_memory (xd_io_memory_contents (f.io), f.io->size, "t");
  tar = xd_tar_index (copy);
  m = xd_tar_find (tar, "Ref:000/00000000.checksum");
  ck_assert_ptr_nonnull (m);
  ck_assert_uint_eq (m->size, 40);
  memcpy (hex, xd_io_memory_contents (f.io) + m->offset, 40);
  hex[40] = '\0';
  ck_assert_str_eq (hex, want);
  xd_tar_free (tar);
  xd_io_close (copy);
  free (chunk);
  done (&f);
}
END_TEST

/* ova.xml: what the reader's parser takes, with each disk's size. */
START_TEST (test_ova_xml)
{
  struct xd_vmdesc vm = { .name = (char *) "a<b", .cpus = 2,
                          .memory = 2048 * (uint64_t) MIB,
                          .firmware = XD_FIRMWARE_EFI,
                          .os = xd_guest_os_by_name ("other64"),
                          .nic = XD_NIC_E1000,
                          .network = (char *) "VM Network",
                          .nr_disks = 2 };
  uint64_t sizes[2] = { MIB, 4 * MIB };
  struct xd_xva_meta meta;
  size_t len;
  char *xml = xd_xva_make_ova_xml (&vm, sizes, "t.xva", &len);

  ck_assert_ptr_nonnull (xml);
  ck_assert_int_eq (xd_xva_parse_meta (xml, len, "ova.xml", &meta), 0);
  ck_assert_str_eq (meta.vm_name, "a<b");
  ck_assert_uint_eq (meta.n, 2);
  ck_assert_str_eq (meta.vdis[0].ref, "Ref:000");
  ck_assert_str_eq (meta.vdis[1].ref, "Ref:001");
  ck_assert_uint_eq (meta.vdis[1].size, 4 * MIB);
  ck_assert (strstr (xml, "<name>export_vsn</name><value>2</value>"));
  ck_assert (strstr (xml, "<name>firmware</name><value>uefi</value>"));
  ck_assert (strstr (xml, "<name>VCPUs_at_startup</name><value>2</value>"));
  ck_assert (strstr (xml, "<name>suspend_SR</name>"));
  ck_assert (strstr (xml, "<value>VIF</value>"));
  xd_xva_meta_free (&meta);
  free (xml);
}
END_TEST

/* A write behind what was stored is refused, naming the window. */
START_TEST (test_behind_window)
{
  struct fixture f;
  uint64_t size = 80 * MIB;
  unsigned char b[4096] = { 7 };

  create (&f, &size, 1, NULL);
  write_pattern (disk (&f, 0), 0, MIB, 0);
  /* Beyond the window: waits for the grace time, then settles 1..69. */
  write_pattern (disk (&f, 0), 70 * MIB, MIB, 0);
  ck_fails_with (xd_image_write (disk (&f, 0), b, sizeof b, 0), EIO,
                 "window of 64 MiB");
  /* Zeros over a chunk left out change nothing. */
  ck_assert_int_eq (xd_image_zero (disk (&f, 0), MIB, 5 * MIB, false, false),
                    0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  done (&f);
}
END_TEST

/* Closed (nbdkit exiting) with the last disk written but not yet
 * finished: finished then, the export complete.
 */
START_TEST (test_close_finishes)
{
  struct fixture f;
  uint64_t sizes[2] = { MIB, 2 * MIB }, got;
  unsigned char *buf;

  create (&f, sizes, 2, NULL);
  write_pattern (disk (&f, 0), 0, MIB, 0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  write_pattern (disk (&f, 1), 0, MIB, 1);
  last_error[0] = '\0';
  xd_xva_creating.close (f.w);
  ck_assert_str_eq (last_error, "");
  f.w = NULL;
  buf = read_back (&f, "1", &got);
  ck_assert_uint_eq (got, 2 * MIB);
  expect_pattern (buf, 0, MIB, 1);
  expect_zeros (buf, MIB, MIB);
  free (buf);
  xd_io_close (f.io);
}
END_TEST

/* Closed with a disk never written: unusable, and said so. */
START_TEST (test_incomplete)
{
  struct fixture f;
  uint64_t sizes[2] = { MIB, MIB };

  create (&f, sizes, 2, NULL);
  write_pattern (disk (&f, 0), 0, MIB, 0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  last_error[0] = '\0';
  xd_xva_creating.close (f.w);
  ck_error_has ("incomplete");
  ck_error_has ("1 (Ref:001)");
  expect_unfinished (&f);
  xd_io_close (f.io);
}
END_TEST

START_TEST (test_bad_params)
{
  struct xd_create_opts copts = { .size = MIB, .path = "/tmp/t.xva" };
  uint64_t big = (UINT64_C (2040) << 30) + 1;
  struct xd_io *io;

  copts.size = big;
  io = xd_io_new_memory_rw (NULL, 0, "t.xva");
  errno = 0;
  ck_assert_ptr_null (xva_create (io, NULL, &copts, NULL));
  ck_error_has ("2040 GiB");
  copts.size = MIB;
  copts.vm.os = "plan9";
  io = xd_io_new_memory_rw (NULL, 0, "t.xva");
  ck_assert_ptr_null (xva_create (io, NULL, &copts, NULL));
  ck_error_has ("create-os");
  copts.vm.os = NULL;
  copts.vm.manifest = "sha1";
  io = xd_io_new_memory_rw (NULL, 0, "t.xva");
  ck_assert_ptr_null (xva_create (io, NULL, &copts, NULL));
  ck_error_has ("create-manifest");
}
END_TEST

/* An io in memory that logs its writes and flushes, and fails writes
 * past CAP bytes with ENOSPC (a full disk).
 */
struct log_disk {
  unsigned char *buf;
  size_t cap;
  char ops[4096][2];            /* 'w' or 'f', and whether at offset 0 */
  size_t n;
};

static int
log_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct log_disk *d = io->priv;

  memcpy (buf, d->buf + offset, count);
  return 0;
}

static void
log_op (struct log_disk *d, char kind, bool at0)
{
  if (d->n < sizeof d->ops / sizeof d->ops[0]) {
    d->ops[d->n][0] = kind;
    d->ops[d->n][1] = at0;
    d->n++;
  }
}

static int
log_pwrite (struct xd_io *io, const void *buf, size_t count,
            uint64_t offset)
{
  struct log_disk *d = io->priv;

  if (offset + count > d->cap)
    return errno = ENOSPC, -1;
  memcpy (d->buf + offset, buf, count);
  if (offset + count > io->size)
    io->size = offset + count;
  log_op (d, 'w', offset == 0);
  return 0;
}

static int
log_flush (struct xd_io *io)
{
  log_op (io->priv, 'f', false);
  return 0;
}

static int
log_truncate (struct xd_io *io, uint64_t size)
{
  struct log_disk *d = io->priv;

  return size > d->cap ? (errno = ENOSPC, -1) : 0;
}

static void
log_close (struct xd_io *io)
{
  struct log_disk *d = io->priv;

  free (d->buf);
  free (d);
}

static const struct xd_io_ops log_ops = {
  .pread = log_pread, .pwrite = log_pwrite, .flush = log_flush,
  .truncate = log_truncate, .close = log_close,
};

static struct log_disk *
create_logged (struct fixture *f, uint64_t size, size_t cap)
{
  struct log_disk *d = calloc (1, sizeof *d);
  struct xd_create_opts copts = { .size = size, .path = "/tmp/l.xva" };

  d->cap = cap;
  d->buf = calloc (1, cap);
  f->io = xd_io_new (&log_ops, "l.xva", 0, d);
  ck_assert_ptr_nonnull (f->io);
  xd_io_ref (f->io);
  f->w = xva_create (f->io, NULL, &copts, NULL);
  ck_assert_msg (f->w != NULL, "create: %s", last_error);
  return d;
}

/* Crash safety: block 0 is written twice, first the unfinished marker
 * and last of all the header of ova.xml, after everything else was
 * written and flushed, and flushed itself.
 */
START_TEST (test_header_last)
{
  struct fixture f;
  struct log_disk *d = create_logged (&f, 3 * MIB, 8 * MIB);
  size_t i, at0 = 0;

  write_pattern (disk (&f, 0), 0, 3 * MIB, 0);
  ck_assert_int_eq (xd_image_finish (disk (&f, 0)), 0);
  ck_assert_uint_ge (d->n, 5);
  for (i = 0; i < d->n; i++)
    at0 += d->ops[i][1];
  ck_assert_uint_eq (at0, 2);
  ck_assert (d->ops[0][0] == 'w' && d->ops[0][1]);
  ck_assert (d->ops[d->n - 1][0] == 'f');
  ck_assert (d->ops[d->n - 2][0] == 'w' && d->ops[d->n - 2][1]);
  ck_assert (d->ops[d->n - 3][0] == 'f');
  ck_assert (xd_tar_header_valid (d->buf));
  done (&f);
}
END_TEST

/* A full disk: the write that meets it fails with ENOSPC, and so does
 * every later request; the export stays unusable.
 */
START_TEST (test_disk_full)
{
  struct fixture f;
  struct log_disk *d = create_logged (&f, 8 * MIB, 3 * MIB);
  unsigned char *buf = malloc (MIB);
  uint64_t off;
  int r = 0;

  pattern (buf, MIB, 0, 0);
  for (off = 0; off < 8 * MIB && r == 0; off += MIB)
    r = xd_image_write (disk (&f, 0), buf, MIB, off);
  ck_assert_int_eq (r, -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_error_has ("l.xva");
  ck_fails_with (xd_image_write (disk (&f, 0), buf, 512, 7 * MIB), ENOSPC,
                 "earlier write");
  ck_fails_with (xd_image_read (disk (&f, 0), buf, 512, 0), ENOSPC,
                 "earlier write");
  ck_fails_with (xd_image_flush (disk (&f, 0)), ENOSPC, "earlier write");
  ck_fails_with (xd_image_finish (disk (&f, 0)), ENOSPC, "finished");
  ck_assert (!xd_tar_header_valid (d->buf));
  last_error[0] = '\0';
  xd_xva_creating.close (f.w);
  ck_error_has ("incomplete");
  ck_assert (!xd_tar_header_valid (d->buf));
  xd_io_close (f.io);
  free (buf);
}
END_TEST

static Suite *
xva_write_suite (void)
{
  Suite *s = suite_create ("xva-write");
  TCase *tc = tcase_create ("core");

  tcase_set_timeout (tc, 60);
  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_in_order);
  tcase_add_test (tc, test_out_of_order);
  tcase_add_test (tc, test_zero_chunks);
  tcase_add_test (tc, test_two_disks);
  tcase_add_test (tc, test_checksum_text);
  tcase_add_test (tc, test_ova_xml);
  tcase_add_test (tc, test_behind_window);
  tcase_add_test (tc, test_incomplete);
  tcase_add_test (tc, test_close_finishes);
  tcase_add_test (tc, test_bad_params);
  tcase_add_test (tc, test_header_last);
  tcase_add_test (tc, test_disk_full);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (xva_write_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
