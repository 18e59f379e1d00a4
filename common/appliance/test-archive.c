/* Unit tests for archives read in place: the tar index (every header
 * form, checksums, bounds), member slices and chunk joins, the archive
 * resolver's confinement, the OVF descriptor, manifest and ova.xml
 * readers, and the gzip restart-point index.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <zlib.h>

#include "appliance/ova.h"
#include "io/xd-gzip.h"
#include "io/xd-io.h"
#include "archive/xd-tar.h"
#include "archive/xd-tar-write.h"
#include "unittest/xd-test.h"
#include "unittest/xd-test-tar.h"
#include "archive/xd-xml.h"
#include "appliance/xva.h"

/* An archive built in memory. */
struct archive {
  uint8_t buf[1 << 16];
  size_t len;
};

static void
add_raw (struct archive *a, const char *name, const void *data, size_t size,
         char type, const char *magic)
{
  xd_test_tar_header (a->buf + a->len, name, size, type, magic);
  a->len += 512;
  memcpy (a->buf + a->len, data, size);
  a->len += (size + 511) / 512 * 512;
}

static void
add (struct archive *a, const char *name, const char *text)
{
  add_raw (a, name, text, strlen (text), '0', "ustar");
}

static struct xd_tar *
index_of (struct archive *a, struct xd_io **io)
{
  *io = xd_io_open_memory (a->buf, a->len + 1024, "test.tar");
  ck_assert_ptr_nonnull (*io);
  return xd_tar_index (*io);
}

static void
expect_member (struct xd_tar *tar, const char *name, const char *text)
{
  struct xd_io *io = xd_tar_open (tar, name);
  char buf[256] = "";

  ck_assert_msg (io != NULL, "member %s not opened", name);
  ck_assert_uint_eq (io->size, strlen (text));
  ck_assert_int_eq (xd_io_read (io, buf, io->size, 0, "member"), 0);
  ck_assert_str_eq (buf, text);
  xd_io_close (io);
}

START_TEST (test_tar_forms)
{
  static struct archive a;
  char pax[256], longname[300];
  struct xd_io *io;
  struct xd_tar *tar;
  uint8_t *h;

  memset (&a, 0, sizeof a);
  add (&a, "./first.ovf", "descriptor");
  /* ustar prefix + name. */
  add (&a, "ignored", "x");
  h = a.buf + a.len - 1024;
  memset (h, 0, 100);
  memcpy (h, "name.txt", 8);
  memcpy (h + 345, "some/dir", 8);
  xd_test_tar_header (h, "name.txt", 1, '0', "ustar");
  memcpy (h + 345, "some/dir", 8);
  {
    unsigned sum = 0;
    size_t i;
    memset (h + 148, ' ', 8);
    for (i = 0; i < 512; i++)
      sum += h[i];
    snprintf ((char *) h + 148, 8, "%06o", sum & 0777777);
  }
  /* GNU long name. */
  memset (longname, 'n', 200);
  strcpy (longname + 200, ".vmdk");
  add_raw (&a, "././@LongLink", longname, strlen (longname) + 1, 'L',
           "ustar  ");
  add_raw (&a, "truncated-name", "long", 4, '0', "ustar  ");
  /* pax path and size (the header's size field says 99). */
  snprintf (pax, sizeof pax, "%d path=pax/name\n%d size=3\n", 17, 10);
  add_raw (&a, "PaxHeaders/x", pax, strlen (pax), 'x', "ustar");
  xd_test_tar_header (a.buf + a.len, "short", 99, '0', "ustar");
  a.len += 512;
  memcpy (a.buf + a.len, "pax", 3);
  a.len += 512;
  /* Chunks. */
  add (&a, "disk.vmdk.000000000", "abc");
  add (&a, "disk.vmdk.000000001", "defg");
  /* A directory and a symlink are not members. */
  add_raw (&a, "dir/", "", 0, '5', "ustar");
  add_raw (&a, "link", "", 0, '2', "ustar");

  tar = index_of (&a, &io);
  ck_assert_ptr_nonnull (tar);
  ck_assert_uint_eq (tar->n, 6);
  ck_assert_str_eq (tar->members[0].name, "first.ovf");
  expect_member (tar, "first.ovf", "descriptor");
  expect_member (tar, "./first.ovf", "descriptor");
  expect_member (tar, "some/dir/name.txt", "x");
  expect_member (tar, longname, "long");
  expect_member (tar, "pax/name", "pax");
  expect_member (tar, "disk.vmdk", "abcdefg");
  ck_assert_ptr_null (xd_tar_open (tar, "nosuch"));
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_ptr_null (xd_tar_open (tar, "../first.ovf"));
  ck_assert_int_eq (errno, EPERM);
  xd_tar_free (tar);
  xd_io_close (io);
}
END_TEST

/* Headers xdisk writes read back with its own reader: ustar below
 * 8 GiB, the GNU base-256 size above; the unfinished marker is no
 * header at all.
 */
static int
record_member (void *opaque, const char *name, bool safe XD_UNUSED,
               uint64_t offset, uint64_t size)
{
  char *out = opaque;

  sprintf (out + strlen (out), "%s@%llu+%llu;", name,
           (unsigned long long) offset, (unsigned long long) size);
  return 0;
}

START_TEST (test_tar_write)
{
  static struct archive a;
  char seen[256] = "", name[128];
  struct xd_io *io;
  uint64_t big = (UINT64_C (9) << 30) + 7, v = 0;
  uint8_t h[XD_TAR_BLOCK];
  int i;

  memset (&a, 0, sizeof a);
  ck_assert_int_eq (xd_tar_make_header (a.buf, "vm.ovf", 5, 1700000000), 0);
  memcpy (a.buf + 512, "hello", 5);
  ck_assert_int_eq (xd_tar_make_header (a.buf + 1024, "vm-disk1.vmdk", 512,
                                        1700000000), 0);
  ck_assert_mem_eq (a.buf + 257, "ustar\0" "00", 8);
  a.len = 2048;
  io = xd_io_open_memory (a.buf, a.len + 1024, "w.tar");
  ck_assert_int_eq (xd_tar_walk (io, record_member, seen), 0);
  ck_assert_str_eq (seen, "vm.ovf@512+5;vm-disk1.vmdk@1536+512;");
  xd_io_close (io);

  /* 8 GiB and more: GNU form, base-256 size, still a valid header. */
  ck_assert_int_eq (xd_tar_make_header (h, "big.vmdk", big, 0), 0);
  ck_assert (xd_tar_header_valid (h));
  ck_assert_mem_eq (h + 257, "ustar  \0", 8);
  ck_assert_uint_eq (h[124], 0x80);
  for (i = 1; i < 12; i++)
    v = v << 8 | h[124 + i];
  ck_assert_uint_eq (v, big);
  /* The largest ustar size keeps the ustar form. */
  ck_assert_int_eq (xd_tar_make_header (h, "edge", (UINT64_C (1) << 33) - 1,
                                        0), 0);
  ck_assert_mem_eq (h + 257, "ustar\0" "00", 8);

  /* Names: 1 to 99 bytes. */
  memset (name, 'n', 100);
  name[100] = '\0';
  ck_assert_int_eq (xd_tar_make_header (h, name, 1, 0), -1);
  ck_assert_int_eq (xd_tar_make_header (h, "", 1, 0), -1);
  name[99] = '\0';
  ck_assert_int_eq (xd_tar_make_header (h, name, 1, 0), 0);

  /* An unfinished archive is refused. */
  xd_tar_make_unfinished (a.buf, "OVA");
  ck_assert (!xd_tar_header_valid (a.buf));
  io = xd_io_open_memory (a.buf, a.len + 1024, "w.tar");
  ck_assert_int_eq (xd_tar_walk (io, record_member, seen), -1);
  xd_io_close (io);
}
END_TEST

START_TEST (test_tar_base256)
{
  static struct archive a;
  struct xd_io *io;
  struct xd_tar *tar;
  uint8_t *h;
  unsigned sum = 0;
  size_t i;

  memset (&a, 0, sizeof a);
  add (&a, "big", "12345");
  h = a.buf;
  memset (h + 124, 0, 12);
  h[124] = 0x80;
  h[135] = 5;
  memset (h + 148, ' ', 8);
  for (i = 0; i < 512; i++)
    sum += h[i];
  snprintf ((char *) h + 148, 8, "%06o", sum & 0777777);
  tar = index_of (&a, &io);
  ck_assert_ptr_nonnull (tar);
  expect_member (tar, "big", "12345");
  xd_tar_free (tar);
  xd_io_close (io);
}
END_TEST

/* An io over an archive in memory whose reads at or past FAIL_AT fail
 * (EIO) while FAILS lasts: a transport's passing error.
 */
struct flaky {
  const struct archive *a;
  uint64_t fail_at;
  int fails;
};

static int
flaky_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct flaky *f = io->priv;

  if (offset + count > f->fail_at && f->fails > 0) {
    f->fails--;
    errno = EIO;
    return -1;
  }
  memcpy (buf, f->a->buf + offset, count);
  return 0;
}

static const struct xd_io_ops flaky_ops = { .pread = flaky_pread };

static int
count_member (void *opaque, const char *name XD_UNUSED, bool safe XD_UNUSED,
              uint64_t offset XD_UNUSED, uint64_t size XD_UNUSED)
{
  (*(int *) opaque)++;
  return 0;
}

START_TEST (test_tar_cursor)
{
  static struct archive a;
  struct flaky f = { .a = &a, .fails = 0 };
  struct xd_tar_cursor *c;
  struct xd_io *io;
  int seen = 0;

  static char big[8001];

  /* The first member's data is longer than the cursor's window of
   * headers, so the second header takes a read of its own.
   */
  memset (big, 'a', 8000);
  memset (&a, 0, sizeof a);
  add (&a, "one", big);
  add (&a, "two", "22");
  add (&a, "three", "333");
  a.len += 1024;
  io = xd_io_new (&flaky_ops, "flaky.tar", a.len, &f);
  ck_assert_ptr_nonnull (io);
  c = xd_tar_cursor_new (io);
  ck_assert_ptr_nonnull (c);
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), 1);
  ck_assert_int_eq (seen, 1);
  ck_assert_uint_eq (xd_tar_cursor_offset (c), 512 + 8192);
  /* A failed read leaves the cursor where it was; the next call reads
   * the same header again.
   */
  f.fail_at = 512 + 8192;
  f.fails = 1;
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), -1);
  ck_assert (xd_tar_cursor_io_failed (c));
  ck_assert_uint_eq (xd_tar_cursor_offset (c), 512 + 8192);
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), 1);
  ck_assert (!xd_tar_cursor_io_failed (c));
  ck_assert_int_eq (seen, 2);
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), 1);
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), 0);
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), 0);
  ck_assert_int_eq (seen, 3);
  xd_tar_cursor_free (c);

  /* A bad header is not a failed read. */
  a.buf[512 + 8192] ^= 1;
  c = xd_tar_cursor_new (io);
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), 1);
  ck_assert_int_eq (xd_tar_next (c, count_member, &seen), -1);
  ck_assert (!xd_tar_cursor_io_failed (c));
  ck_error_has ("bad checksum");
  xd_tar_cursor_free (c);
  xd_io_close (io);
}
END_TEST

START_TEST (test_tar_bad)
{
  static struct archive a;
  struct xd_io *io;
  struct xd_tar *tar;

  /* A bad checksum. */
  memset (&a, 0, sizeof a);
  add (&a, "x", "data");
  a.buf[0] = 'y';
  tar = index_of (&a, &io);
  ck_assert_ptr_null (tar);
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("test.tar");
  ck_error_has ("bad checksum");
  xd_io_close (io);

  /* A member past the end. */
  memset (&a, 0, sizeof a);
  xd_test_tar_header (a.buf, "x", 1 << 30, '0', "ustar");
  a.len = 512;
  tar = index_of (&a, &io);
  ck_assert_ptr_null (tar);
  ck_error_has ("runs past the end");
  xd_io_close (io);

  /* The same name twice. */
  memset (&a, 0, sizeof a);
  add (&a, "x", "1");
  add (&a, "./x", "2");
  tar = index_of (&a, &io);
  ck_assert_ptr_null (tar);
  ck_error_has ("twice");
  xd_io_close (io);

  /* Invalid octal. */
  memset (&a, 0, sizeof a);
  add (&a, "x", "1");
  a.buf[124] = '9';
  {
    unsigned sum = 0;
    size_t i;
    memset (a.buf + 148, ' ', 8);
    for (i = 0; i < 512; i++)
      sum += a.buf[i];
    snprintf ((char *) a.buf + 148, 8, "%06o", sum & 0777777);
  }
  tar = index_of (&a, &io);
  ck_assert_ptr_null (tar);
  ck_error_has ("invalid size");
  xd_io_close (io);
}
END_TEST

START_TEST (test_normalize)
{
  char *s;

  s = xd_tar_normalize ("./a//b/./c");
  ck_assert_str_eq (s, "a/b/c");
  free (s);
  ck_assert_ptr_null (xd_tar_normalize ("a/../b"));
  ck_assert_int_eq (errno, EPERM);
  ck_assert_ptr_null (xd_tar_normalize ("/etc/passwd"));
  ck_assert_int_eq (errno, EPERM);
  ck_assert_ptr_null (xd_tar_normalize ("./"));
  ck_assert_int_eq (errno, EINVAL);
}
END_TEST

START_TEST (test_archive_resolver)
{
  static struct archive a;
  struct xd_io *io, *m;
  struct xd_tar *tar;
  struct xd_resolver *res;

  memset (&a, 0, sizeof a);
  add (&a, "app.ovf", "d");
  add (&a, "dir/desc.vmdk", "descriptor");
  add (&a, "dir/extent.vmdk", "extent");
  add (&a, "top.vmdk", "top");
  tar = index_of (&a, &io);
  ck_assert_ptr_nonnull (tar);
  res = xd_resolver_new_archive (tar);
  /* Relative to the member that names it. */
  m = xd_resolver_try_open (res, "test.tar:dir/desc.vmdk", "extent.vmdk");
  ck_assert_ptr_nonnull (m);
  ck_assert_str_eq (m->name, "test.tar:dir/extent.vmdk");
  xd_io_close (m);
  m = xd_resolver_try_open (res, "test.tar:dir/desc.vmdk", "./extent.vmdk");
  ck_assert_ptr_nonnull (m);
  xd_io_close (m);
  /* Never outside the archive. */
  ck_assert_ptr_null (xd_resolver_try_open (res, "test.tar:dir/desc.vmdk",
                                            "../top.vmdk"));
  ck_assert_int_eq (errno, EPERM);
  ck_assert_ptr_null (xd_resolver_open (res, "test.tar:top.vmdk",
                                        "/etc/passwd", "parent"));
  ck_assert_int_eq (errno, EPERM);
  ck_error_has ("outside the archive");
  ck_assert_ptr_null (xd_resolver_open (res, "test.tar:top.vmdk",
                                        "nosuch.vmdk", "extent file"));
  ck_error_has ("not a member");
  xd_resolver_free (res);
  xd_tar_free (tar);
  xd_io_close (io);
}
END_TEST

START_TEST (test_segments)
{
  static const char text[] = "0123456789abcdefghij";
  struct xd_io_segment segs[] = { { 2, 3 }, { 10, 0 }, { 15, 4 } };
  struct xd_io *base = xd_io_open_memory (text, 20, "base"), *io;
  char buf[8] = "";

  io = xd_io_open_segments (base, segs, 3, "joined");
  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, 7);
  ck_assert_int_eq (xd_io_read (io, buf, 7, 0, "all"), 0);
  ck_assert_mem_eq (buf, "234fghi", 7);
  ck_assert_int_eq (xd_io_read (io, buf, 3, 2, "middle"), 0);
  ck_assert_mem_eq (buf, "4fg", 3);
  ck_assert_int_eq (xd_io_read (io, buf, 1, 7, "past"), -1);
  xd_io_close (io);
  segs[2].size = 6;
  ck_assert_ptr_null (xd_io_open_segments (base, segs, 3, "bad"));
  ck_error_has ("beyond the end");
  xd_io_close (base);
}
END_TEST

static const char ovf_text[] =
  "<?xml version=\"1.0\"?>\n<!-- a comment -->\n"
  "<ovf:Envelope xmlns:ovf=\"x\">\n"
  " <References>\n"
  "  <File ovf:href=\"a.vmdk\" ovf:id=\"f1\" ovf:size=\"1234\"/>\n"
  "  <File ovf:href='b.vmdk.gz' ovf:id='f2' ovf:compression='gzip' "
  "ovf:chunkSize='1000'/>\n"
  " </References>\n"
  " <DiskSection><Info>d</Info>\n"
  "  <Disk ovf:capacity=\"2\" ovf:capacityAllocationUnits=\"byte * 2^30\" "
  "ovf:diskId=\"d1\" ovf:fileRef=\"f1\"/>\n"
  "  <Disk ovf:capacity=\"3\" ovf:capacityAllocationUnits=\"MegaBytes\" "
  "ovf:diskId=\"d2\" ovf:fileRef=\"f2\"/>\n"
  "  <Disk ovf:capacity=\"4\" ovf:diskId=\"d3\" ovf:fileRef=\"none\"/>\n"
  " </DiskSection>\n"
  " <VirtualSystem ovf:id=\"vm1\"><Info>i</Info>\n"
  "  <Name> My &amp; &#x56;M </Name>\n"
  "  <ProductSection><Product><![CDATA[Prod<uct>]]></Product>"
  "<Vendor>Ven&lt;dor</Vendor></ProductSection>\n"
  " </VirtualSystem>\n"
  "</ovf:Envelope>\n";

START_TEST (test_ovf)
{
  struct xd_ovf ovf;

  ck_assert_int_eq (xd_ovf_parse (ovf_text, strlen (ovf_text), "t.ovf",
                                  &ovf), 0);
  ck_assert_uint_eq (ovf.nfiles, 2);
  ck_assert_str_eq (ovf.files[0].href, "a.vmdk");
  ck_assert (ovf.files[0].has_size && ovf.files[0].size == 1234);
  ck_assert (!ovf.files[0].gzip);
  ck_assert (ovf.files[1].gzip);
  ck_assert_uint_eq (ovf.files[1].chunk_size, 1000);
  ck_assert_uint_eq (ovf.ndisks, 3);
  ck_assert_uint_eq (ovf.disks[0].capacity, UINT64_C (2) << 30);
  ck_assert_uint_eq (ovf.disks[1].capacity, UINT64_C (3) << 20);
  ck_assert_uint_eq (ovf.disks[2].capacity, 4);
  ck_assert_ptr_eq (ovf.disks[0].file, &ovf.files[0]);
  ck_assert_ptr_eq (ovf.disks[1].file, &ovf.files[1]);
  ck_assert_ptr_null (ovf.disks[2].file);
  ck_assert_str_eq (ovf.vm_id, "vm1");
  ck_assert_str_eq (ovf.vm_name, "My & VM");
  ck_assert_str_eq (ovf.product, "Prod<uct>");
  ck_assert_str_eq (ovf.vendor, "Ven<dor");
  xd_ovf_free (&ovf);
}
END_TEST

START_TEST (test_ovf_bad)
{
  static const char *const bad[] = {
    "<Envelope><References></Envelope>",
    "<Envelope a=\"1></Envelope>",
    "<Envelope>&bogus;</Envelope>",
    "<Envelope></Envelope><Second/>",
    "no xml at all",
    "<NotAnEnvelope/>",
    "<Envelope><References><File ovf:id=\"x\"/></References></Envelope>",
    "<Envelope><References><File ovf:href=\"x\" ovf:compression=\"xz\"/>"
    "</References></Envelope>",
  };
  struct xd_ovf ovf;
  size_t i;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    last_error[0] = '\0';
    ck_assert_msg (xd_ovf_parse (bad[i], strlen (bad[i]), "bad.ovf",
                                 &ovf) == -1, "accepted: %s", bad[i]);
    ck_assert_int_eq (errno, EIO);
    ck_error_has ("bad.ovf");
  }
}
END_TEST

/* A document of DEPTH nested <a> elements, closed; the caller frees. */
static char *
nested (size_t depth, size_t *len)
{
  char *doc = malloc (depth * 7 + 1);
  size_t i, o = 0;

  ck_assert_ptr_nonnull (doc);
  for (i = 0; i < depth; i++)
    o += (size_t) sprintf (doc + o, "<a>");
  for (i = 0; i < depth; i++)
    o += (size_t) sprintf (doc + o, "</a>");
  *len = o;
  return doc;
}

START_TEST (test_xml_depth)
{
  struct xd_xml *root;
  size_t len;
  char *doc = nested (XD_XML_MAX_DEPTH, &len);

  root = xd_xml_parse (doc, len, "deep.xml");
  ck_assert_ptr_nonnull (root);
  xd_xml_free (root);
  free (doc);
  doc = nested (XD_XML_MAX_DEPTH + 1, &len);
  errno = 0;
  ck_assert_ptr_null (xd_xml_parse (doc, len, "deep.xml"));
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("deep.xml: XML line 1: elements nested too deeply");
  free (doc);
  doc = nested (1000, &len);
  ck_assert_ptr_null (xd_xml_parse (doc, len / 2, "deep.xml"));
  ck_error_has ("nested too deeply");
  free (doc);
}
END_TEST

/* References decode to UTF-8, in text and in attributes; CDATA is text;
 * prefixes go; an element's text joins its runs around its children;
 * NUL padding after the document is allowed.
 */
START_TEST (test_xml_refs)
{
  static const char doc[] =
    "\xef\xbb\xbf<?xml version=\"1.0\"?>\n"
    "<x:r x:t=\"&#65;&#x42;&amp;&lt;&quot;&apos;&gt;&#x263A;\" u='1'>"
    "a&#10;b&#x1F600;<!-- c --><![CDATA[<&amp;>]]>"
    "<k/>&#233;<?pi x?>z</x:r>\0\0\0";
  struct xd_xml *root = xd_xml_parse (doc, sizeof doc - 1, "refs.xml");

  ck_assert_ptr_nonnull (root);
  ck_assert_str_eq (root->name, "r");
  ck_assert_str_eq (xd_xml_attr (root, "t"), "AB&<\"'>\xe2\x98\xba");
  ck_assert_str_eq (xd_xml_attr (root, "u"), "1");
  ck_assert_str_eq (root->text, "a\nb\xf0\x9f\x98\x80<&amp;>\xc3\xa9z");
  ck_assert_ptr_nonnull (xd_xml_child (root, "k", NULL));
  ck_assert_str_eq (xd_xml_child (root, "k", NULL)->text, "");
  xd_xml_free (root);
}
END_TEST

/* A DOCTYPE is refused, whatever it holds: so no entity is declared,
 * and none expands.
 */
START_TEST (test_xml_doctype)
{
  static const char *const docs[] = {
    "<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>",
    "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
    " <!ENTITY lol \"lol\">\n"
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
    "]>\n<lolz>&lol2;</lolz>",
    "<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>",
    "<!DOCTYPE r>\n<r/>",
  };
  size_t i;

  for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    last_error[0] = '\0';
    errno = 0;
    ck_assert_msg (xd_xml_parse (docs[i], strlen (docs[i]), "dt.xml") == NULL,
                   "accepted: %s", docs[i]);
    ck_assert_int_eq (errno, EIO);
    ck_error_has ("dt.xml: XML line ");
    ck_error_has ("DOCTYPE");
  }
}
END_TEST

/* Malformed documents fail with errno EIO and a message naming the
 * file and the line.
 */
START_TEST (test_xml_malformed)
{
  static const struct { const char *doc; size_t len; const char *what; }
  bad[] = {
#define BAD(d, w) { d, sizeof d - 1, w }
    BAD ("<a>\n<b>\n</a>", "XML line 3: mismatched end tag"),
    BAD ("<a><b></b>", "XML line 1: the document ends inside an element"),
    BAD ("", "XML line 1: no root element"),
    BAD ("  \n", "no root element"),
    BAD ("no xml at all", "XML line 1: "),
    BAD ("<a/><b/>", "XML line 1: "),
    BAD ("<a>&bogus;</a>", "XML line 1: "),
    BAD ("<a>&#0;</a>", "XML line 1: "),
    BAD ("<a>&#xD800;</a>", "XML line 1: "),
    BAD ("<a>&#x110000;</a>", "XML line 1: "),
    BAD ("<a>&amp</a>", "XML line 1: "),
    BAD ("<a x=\"1\" x=\"2\"/>", "XML line 1: "),
    BAD ("<a x=1/>", "XML line 1: "),
    BAD ("<a x=\"<\"/>", "XML line 1: "),
    BAD ("<a>\n\xff\xfe</a>", "XML line 2: "),
    BAD ("<a>\0</a>", "XML line 1: "),
    BAD ("<a><!-- x </a>", "XML line 1: "),
    BAD ("<a><![CDATA[ x </a>", "XML line 1: "),
#undef BAD
  };
  size_t i;

  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    last_error[0] = '\0';
    errno = 0;
    ck_assert_msg (xd_xml_parse (bad[i].doc, bad[i].len, "bad.xml") == NULL,
                   "accepted #%zu: %s", i, bad[i].doc);
    ck_assert_int_eq (errno, EIO);
    ck_error_has ("bad.xml: ");
    ck_error_has (bad[i].what);
  }
}
END_TEST

/* The attributes of one element are bounded too.  (The bound on
 * elements, 2 million, takes too long to reach under valgrind.)
 */
START_TEST (test_xml_attrs)
{
  char *doc = malloc (300 * 16);
  struct xd_xml *root;
  size_t i, k, o;

  ck_assert_ptr_nonnull (doc);
  for (i = 256; i <= 257; i++) {
    o = (size_t) sprintf (doc, "<a");
    for (k = 0; k < i; k++)
      o += (size_t) sprintf (doc + o, " a%zu='v'", k);
    o += (size_t) sprintf (doc + o, "/>");
    root = xd_xml_parse (doc, o, "attrs.xml");
    ck_assert_msg ((root != NULL) == (i == 256), "%zu attributes", i);
    if (root)
      ck_assert_str_eq (xd_xml_attr (root, "a255"), "v");
    xd_xml_free (root);
  }
  ck_error_has ("attrs.xml: XML line 1: too many attributes");
  free (doc);
}
END_TEST

START_TEST (test_capacity)
{
  uint64_t v;

  ck_assert_int_eq (xd_ovf_capacity ("5", NULL, &v), 0);
  ck_assert_uint_eq (v, 5);
  ck_assert_int_eq (xd_ovf_capacity ("5", "byte * 10^3", &v), 0);
  ck_assert_uint_eq (v, 5000);
  ck_assert_int_eq (xd_ovf_capacity ("1", "GigaBytes", &v), 0);
  ck_assert_uint_eq (v, UINT64_C (1) << 30);
  ck_assert_int_eq (xd_ovf_capacity ("16", "byte * 2^60", &v), -1);
  ck_assert_int_eq (xd_ovf_capacity ("1", "furlongs", &v), -1);
  ck_assert_int_eq (xd_ovf_capacity ("-1", NULL, &v), -1);
}
END_TEST

START_TEST (test_manifest)
{
  static const char mf[] =
    "SHA256(a.vmdk)= 0123456789ABCDEF0123456789abcdef"
    "0123456789abcdef0123456789abcdef\n"
    "SHA1 (b c.vmdk) = 0123456789abcdef0123456789abcdef01234567\r\n"
    "MD5(x)= 00\n"
    "SHA1(short)= 0123\n"
    "garbage line\n"
    "                    ";
  struct xd_mf m;

  ck_assert_int_eq (xd_mf_parse (mf, sizeof mf - 1, "t.mf", &m), 0);
  ck_assert_uint_eq (m.n, 2);
  ck_assert_str_eq (m.entries[0].name, "a.vmdk");
  ck_assert_int_eq (m.entries[0].alg, XD_DIGEST_SHA256);
  ck_assert_str_eq (m.entries[0].hex, "0123456789abcdef0123456789abcdef"
                    "0123456789abcdef0123456789abcdef");
  ck_assert_ptr_nonnull (xd_mf_find (&m, "b c.vmdk"));
  ck_assert_int_eq (xd_mf_find (&m, "b c.vmdk")->alg, XD_DIGEST_SHA1);
  ck_assert_ptr_null (xd_mf_find (&m, "x"));
  xd_mf_free (&m);
}
END_TEST

START_TEST (test_xva_meta)
{
  static const char xml[] =
    "<value><struct><member><name>version</name><value><struct/></value>"
    "</member><member><name>objects</name><value><array><data>"
    "<value><struct><member><name>class</name><value>VM</value></member>"
    "<member><name>id</name><value>Ref:0</value></member>"
    "<member><name>snapshot</name><value><struct><member><name>name_label"
    "</name><value>my vm</value></member></struct></value></member>"
    "</struct></value>"
    "<value><struct><member><name>class</name><value><string>VDI</string>"
    "</value></member><member><name>id</name><value>Ref:7</value></member>"
    "<member><name>snapshot</name><value><struct>"
    "<member><name>uuid</name><value>u-1</value></member>"
    "<member><name>name_label</name><value>disk 0</value></member>"
    "<member><name>virtual_size</name><value>1073741824</value></member>"
    "</struct></value></member></struct></value>"
    "</data></array></value></member></struct></value>";
  static const char legacy[] =
    "<appliance version=\"0.1\"><vm name=\"v\"><label>old</label>"
    "<vdi name=\"d\" size=\"2000000000\" source=\"file://sda\" "
    "type=\"dir-gzipped-chunks\"/></vm></appliance>";
  struct xd_xva_meta m;

  ck_assert_int_eq (xd_xva_parse_meta (xml, sizeof xml - 1, "ova.xml", &m),
                    0);
  ck_assert (!m.legacy);
  ck_assert_str_eq (m.vm_name, "my vm");
  ck_assert_uint_eq (m.n, 1);
  ck_assert_str_eq (m.vdis[0].ref, "Ref:7");
  ck_assert_str_eq (m.vdis[0].uuid, "u-1");
  ck_assert_str_eq (m.vdis[0].name, "disk 0");
  ck_assert_uint_eq (m.vdis[0].size, UINT64_C (1) << 30);
  xd_xva_meta_free (&m);

  ck_assert_int_eq (xd_xva_parse_meta (legacy, sizeof legacy - 1, "ova.xml",
                                       &m), 0);
  ck_assert (m.legacy);
  ck_assert_str_eq (m.vdis[0].ref, "sda");
  ck_assert_uint_eq (m.vdis[0].size, 2000000000);
  xd_xva_meta_free (&m);

  ck_assert_int_eq (xd_xva_parse_meta ("<value/>", 8, "ova.xml", &m), -1);
  ck_error_has ("not XVA metadata");
}
END_TEST

/* ---- gzip ---- */

static size_t
gzip_member (const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
  z_stream zs = { 0 };
  size_t n;

  ck_assert_int_eq (deflateInit2 (&zs, 6, Z_DEFLATED, 31, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = (Bytef *) in;
  zs.avail_in = (uInt) len;
  zs.next_out = out;
  zs.avail_out = (uInt) cap;
  ck_assert_int_eq (deflate (&zs, Z_FINISH), Z_STREAM_END);
  n = cap - zs.avail_out;
  deflateEnd (&zs);
  return n;
}

#define PLAIN (6u << 20)

START_TEST (test_gzip_index)
{
  uint8_t *plain = malloc (PLAIN), *packed = malloc (2 * PLAIN);
  uint8_t *buf = malloc (1 << 20);
  uint32_t x = 1;
  size_t i, n, total;
  struct xd_io *io;

  /* Text-like data, zeros, and random bytes, in two gzip members. */
  for (i = 0; i < PLAIN; i++) {
    x = x * 1103515245 + 12345;
    plain[i] = i < PLAIN / 3 ? (uint8_t) ("abcdefgh"[(x >> 16) & 7]) :
      i < PLAIN / 2 ? 0 : (uint8_t) (x >> 16);
  }
  n = gzip_member (plain, PLAIN / 2 + 12345, packed, 2 * PLAIN);
  total = n + gzip_member (plain + PLAIN / 2 + 12345, PLAIN / 2 - 12345,
                           packed + n, 2 * PLAIN - n);
  io = xd_io_open_gzip (xd_io_open_memory (packed, total, "t.gz"), 0,
                        "t.gz (gunzipped)");
  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, PLAIN);
  /* Backwards, across members and restart points. */
  for (i = PLAIN; i > 0; ) {
    size_t len = i >= 300007 ? 300007 : i;
    i -= len;
    ck_assert_int_eq (xd_io_read (io, buf, len, i, "piece"), 0);
    ck_assert_msg (memcmp (buf, plain + i, len) == 0, "differs at %zu", i);
  }
  xd_io_close (io);

  /* A corrupt CRC, a truncated stream, trailing garbage. */
  packed[n - 8] ^= 1;
  ck_assert_ptr_null (xd_io_open_gzip (xd_io_open_memory (packed, total,
                                                          "crc.gz"), 0,
                                       "crc.gz"));
  ck_error_has ("CRC-32");
  packed[n - 8] ^= 1;
  ck_assert_ptr_null (xd_io_open_gzip (xd_io_open_memory (packed, total - 9,
                                                          "short.gz"), 0,
                                       "short.gz"));
  ck_assert_int_eq (errno, EIO);
  ck_assert_ptr_null (xd_io_open_gzip (xd_io_open_memory (plain, 1000,
                                                          "plain"), 0,
                                       "plain"));
  ck_error_has ("no gzip header");
  free (plain);
  free (packed);
  free (buf);
}
END_TEST

/* Many threads reading the same spans at once: the ones that find a
 * span being inflated wait for it; everyone gets the right bytes.
 */
struct gz_reader {
  struct xd_io *io;
  const uint8_t *plain;
  unsigned seed;
  bool ok;
};

static void *
gz_read_thread (void *arg)
{
  struct gz_reader *r = arg;
  uint8_t *buf = malloc (70000);
  unsigned x = r->seed;
  size_t k;

  r->ok = buf != NULL;
  for (k = 0; r->ok && k < 400; k++) {
    size_t len, off;
    x = x * 1103515245 + 12345;
    len = 1 + (x >> 8) % 70000;
    x = x * 1103515245 + 12345;
    /* Mostly near the front, where every thread is, as nbdcopy reads. */
    off = (k * 8192 + (x >> 8) % 262144) % (PLAIN - len);
    if (xd_io_read (r->io, buf, len, off, "piece") == -1 ||
        memcmp (buf, r->plain + off, len) != 0)
      r->ok = false;
  }
  free (buf);
  return NULL;
}

START_TEST (test_gzip_threads)
{
  uint8_t *plain = malloc (PLAIN), *packed = malloc (2 * PLAIN);
  struct gz_reader readers[8];
  pthread_t th[8];
  uint32_t x = 7;
  size_t i, n;
  struct xd_io *io;

  for (i = 0; i < PLAIN; i++) {
    x = x * 1103515245 + 12345;
    plain[i] = (i / 4096) % 3 ? (uint8_t) (x >> 16) : (uint8_t) (i / 4096);
  }
  n = gzip_member (plain, PLAIN, packed, 2 * PLAIN);
  io = xd_io_open_gzip (xd_io_open_memory (packed, n, "t.gz"), 0,
                        "t.gz (gunzipped)");
  ck_assert_ptr_nonnull (io);
  for (i = 0; i < 8; i++) {
    readers[i] = (struct gz_reader) { .io = io, .plain = plain,
                                      .seed = (unsigned) i + 1 };
    ck_assert_int_eq (pthread_create (&th[i], NULL, gz_read_thread,
                                      &readers[i]), 0);
  }
  for (i = 0; i < 8; i++) {
    pthread_join (th[i], NULL);
    ck_assert_msg (readers[i].ok, "reader %zu read wrong bytes", i);
  }
  xd_io_close (io);
  free (plain);
  free (packed);
}
END_TEST

static Suite *
archive_suite (void)
{
  Suite *s = suite_create ("archive");
  TCase *tc = tcase_create ("core");

  tcase_set_timeout (tc, 60);
  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_tar_forms);
  tcase_add_test (tc, test_tar_base256);
  tcase_add_test (tc, test_tar_write);
  tcase_add_test (tc, test_tar_bad);
  tcase_add_test (tc, test_tar_cursor);
  tcase_add_test (tc, test_normalize);
  tcase_add_test (tc, test_archive_resolver);
  tcase_add_test (tc, test_segments);
  tcase_add_test (tc, test_ovf);
  tcase_add_test (tc, test_ovf_bad);
  tcase_add_test (tc, test_xml_depth);
  tcase_add_test (tc, test_xml_refs);
  tcase_add_test (tc, test_xml_doctype);
  tcase_add_test (tc, test_xml_malformed);
  tcase_add_test (tc, test_xml_attrs);
  tcase_add_test (tc, test_capacity);
  tcase_add_test (tc, test_manifest);
  tcase_add_test (tc, test_xva_meta);
  tcase_add_test (tc, test_gzip_index);
  tcase_add_test (tc, test_gzip_threads);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (archive_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
