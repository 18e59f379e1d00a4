/* Unit tests for the VDI header parser, fed from memory buffers. */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>

#include "vdi/vdi.h"
#include "testlib/xd-crash.h"
#include "testlib/xd-gate-io.h"
#include "include/xd-bytes.h"
#include "core/xd-format.h"
#include "io/xd-io.h"
#include "core/xd-guid.h"
#include "core/xd-path.h"
#include "include/xd-report.h"
#include "unittest/xd-test.h"

static const uint8_t uuid_a[16] = {
  0xb2, 0xe8, 0xad, 0x96, 0x0b, 0xe5, 0xc3, 0x44,
  0x8a, 0x64, 0x36, 0x08, 0xec, 0x6c, 0x52, 0x34
};
static const uint8_t uuid_b[16] = { 1, 2, 3, 4, 5, 6, 7, 8,
                                    9, 10, 11, 12, 13, 14, 15, 16 };

/* A version 1.1 header as VirtualBox writes it (400 bytes, map at 1 MiB,
 * data at 2 MiB) or as qemu does (384 bytes, map at 512).
 */
static void
make_v1 (uint8_t *buf, bool vbox, uint32_t type, uint64_t disk,
         uint32_t block_size, uint32_t blocks)
{
  memset (buf, 0, VDI_HEAD_BYTES);
  strcpy ((char *) buf, vbox ? "<<< Oracle VM VirtualBox Disk Image >>>\n"
          : "<<< QEMU VM Virtual Disk Image >>>\n");
  xd_put_le32 (buf + VDI_SIGNATURE_OFFSET, VDI_SIGNATURE);
  xd_put_le32 (buf + VDI_VERSION_OFFSET, 0x00010001);
  xd_put_le32 (buf + VDI1_HEADER_SIZE, vbox ? 400 : 384);
  xd_put_le32 (buf + VDI1_TYPE, type);
  strcpy ((char *) buf + VDI1_COMMENT, "a comment");
  xd_put_le32 (buf + VDI1_BLOCKS_OFFSET, vbox ? 1 << 20 : 512);
  xd_put_le32 (buf + VDI1_DATA_OFFSET, vbox ? 2 << 20 : 512 + blocks * 4);
  xd_put_le64 (buf + VDI1_DISK_SIZE, disk);
  xd_put_le32 (buf + VDI1_BLOCK_SIZE, block_size);
  xd_put_le32 (buf + VDI1_BLOCKS, blocks);
  memcpy (buf + VDI1_UUID_CREATE, uuid_a, 16);
  memcpy (buf + VDI1_UUID_MODIFY, uuid_b, 16);
  if (type == VDI_TYPE_DIFF) {
    memcpy (buf + VDI1_UUID_LINKAGE, uuid_b, 16);
    memcpy (buf + VDI1_UUID_PARENT_MODIFY, uuid_a, 16);
  }
}

static int
parse (const uint8_t *buf, struct vdi_header *h)
{
  last_error[0] = '\0';
  return vdi_parse_header (buf, VDI_HEAD_BYTES, "t.vdi", h);
}

START_TEST (test_vdi_vbox_header)
{
  uint8_t buf[VDI_HEAD_BYTES];
  struct vdi_header h;
  char text[37];

  make_v1 (buf, true, VDI_TYPE_NORMAL, 1474560, 1 << 20, 2);
  ck_assert (vdi_probe (buf, sizeof buf));
  ck_assert_int_eq (parse (buf, &h), 0);
  ck_assert_str_eq (h.banner, "<<< Oracle VM VirtualBox Disk Image >>>");
  ck_assert_str_eq (h.comment, "a comment");
  ck_assert_uint_eq (h.major, 1);
  ck_assert_uint_eq (h.minor, 1);
  ck_assert_uint_eq (h.header_size, 400);
  ck_assert_uint_eq (h.blocks_offset, 1 << 20);
  ck_assert_uint_eq (h.data_offset, 2 << 20);
  ck_assert_uint_eq (h.disk_size, 1474560);
  ck_assert_uint_eq (h.blocks, 2);
  ck_assert_uint_eq (vdi_blocks_in_use (&h), 2);
  ck_assert (xd_guid_is_null (h.uuid_linkage));
  xd_guid_format (h.uuid_create, text);
  ck_assert_str_eq (text, "96ade8b2-e50b-44c3-8a64-3608ec6c5234");
  ck_assert_str_eq (vdi_type_name (h.type), "dynamic");
}
END_TEST

START_TEST (test_vdi_qemu_header)
{
  uint8_t buf[VDI_HEAD_BYTES];
  struct vdi_header h;

  make_v1 (buf, false, VDI_TYPE_FIXED, 10 << 20, 1 << 20, 10);
  ck_assert_int_eq (parse (buf, &h), 0);
  ck_assert_uint_eq (h.header_size, 384);
  ck_assert_uint_eq (h.blocks_offset, 512);
  ck_assert_uint_eq (h.data_offset, 552);
  ck_assert_str_eq (vdi_type_name (h.type), "fixed");
  /* The banner is never looked at. */
  memset (buf, 'x', VDI_BANNER_SIZE);
  ck_assert_int_eq (parse (buf, &h), 0);
  /* Version 1.0: the same header. */
  xd_put_le32 (buf + VDI_VERSION_OFFSET, 0x00010000);
  ck_assert_int_eq (parse (buf, &h), 0);
  ck_assert_uint_eq (h.minor, 0);
}
END_TEST

START_TEST (test_vdi_v0_header)
{
  uint8_t buf[VDI_HEAD_BYTES];
  struct vdi_header h;

  memset (buf, 0, sizeof buf);
  xd_put_le32 (buf + VDI_SIGNATURE_OFFSET, VDI_SIGNATURE);
  xd_put_le32 (buf + VDI_VERSION_OFFSET, 0);
  xd_put_le32 (buf + VDI0_TYPE, VDI_TYPE_DIFF);
  xd_put_le64 (buf + VDI0_DISK_SIZE, 3 << 20);
  xd_put_le32 (buf + VDI0_BLOCK_SIZE, 1 << 20);
  xd_put_le32 (buf + VDI0_BLOCKS, 3);
  xd_put_le32 (buf + VDI0_BLOCKS_ALLOCATED, 1);
  memcpy (buf + VDI0_UUID_CREATE, uuid_a, 16);
  memcpy (buf + VDI0_UUID_LINKAGE, uuid_b, 16);
  ck_assert_int_eq (parse (buf, &h), 0);
  ck_assert_uint_eq (h.major, 0);
  ck_assert_uint_eq (h.blocks_offset, 420);
  ck_assert_uint_eq (h.data_offset, 432);
  ck_assert_uint_eq (h.block_extra, 0);
  ck_assert_int_eq (memcmp (h.uuid_linkage, uuid_b, 16), 0);
  ck_assert (xd_guid_is_null (h.uuid_parent_modify));
  ck_assert_str_eq (vdi_type_name (h.type), "differencing");
}
END_TEST

START_TEST (test_vdi_block_sizes)
{
  uint8_t buf[VDI_HEAD_BYTES];
  struct vdi_header h;

  /* Any power of 2 from 512 bytes to 256 MiB, with extra data. */
  make_v1 (buf, true, VDI_TYPE_NORMAL, 5000, 512, 10);
  ck_assert_int_eq (parse (buf, &h), 0);
  make_v1 (buf, true, VDI_TYPE_NORMAL, 1 << 28, 1 << 28, 1);
  xd_put_le32 (buf + VDI1_BLOCK_EXTRA, 4096);
  ck_assert_int_eq (parse (buf, &h), 0);
  ck_assert_uint_eq (h.block_extra, 4096);
  /* A last block only partly inside the disk. */
  make_v1 (buf, true, VDI_TYPE_NORMAL, (1 << 20) + 1, 1 << 20, 2);
  ck_assert_int_eq (parse (buf, &h), 0);
  ck_assert_uint_eq (vdi_blocks_in_use (&h), 2);
  /* More map entries than the disk needs are allowed. */
  make_v1 (buf, true, VDI_TYPE_NORMAL, 1 << 20, 1 << 20, 5);
  ck_assert_int_eq (parse (buf, &h), 0);
  ck_assert_uint_eq (vdi_blocks_in_use (&h), 1);
}
END_TEST

/* Set the u32 at OFF of a good header to V: parsing must fail and the
 * error name WORD.
 */
static void
refuse_u32 (bool vbox, size_t off, uint32_t v, const char *word)
{
  uint8_t buf[VDI_HEAD_BYTES];
  struct vdi_header h;

  make_v1 (buf, vbox, VDI_TYPE_NORMAL, 10 << 20, 1 << 20, 10);
  xd_put_le32 (buf + off, v);
  errno = 0;
  ck_assert_int_eq (parse (buf, &h), -1);
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("t.vdi");
  ck_error_has (word);
}

START_TEST (test_vdi_refused)
{
  uint8_t buf[VDI_HEAD_BYTES];
  struct vdi_header h;

  refuse_u32 (true, VDI_SIGNATURE_OFFSET, 0xbeda107e, "signature");
  refuse_u32 (true, VDI_VERSION_OFFSET, 0x00020000, "version 2.0");
  refuse_u32 (true, VDI_VERSION_OFFSET, 0x00010002, "version 1.2");
  refuse_u32 (true, VDI1_HEADER_SIZE, 383, "header size");
  refuse_u32 (false, VDI1_HEADER_SIZE, 500, "block map offset");
  refuse_u32 (true, VDI1_BLOCKS_OFFSET, 455, "block map offset");
  refuse_u32 (false, VDI1_DATA_OFFSET, 551, "data offset");
  refuse_u32 (true, VDI1_DATA_OFFSET, 100, "data offset");
  refuse_u32 (true, VDI1_TYPE, 0, "image type");
  refuse_u32 (true, VDI1_TYPE, 5, "image type");
  refuse_u32 (true, VDI1_BLOCK_SIZE, 0, "block size");
  refuse_u32 (true, VDI1_BLOCK_SIZE, 3 << 19, "block size");
  refuse_u32 (true, VDI1_BLOCK_SIZE, 256, "block size");
  refuse_u32 (true, VDI1_BLOCK_SIZE, 1u << 31, "block size");
  refuse_u32 (true, VDI1_BLOCK_EXTRA, 1000, "extra");
  refuse_u32 (true, VDI1_BLOCK_EXTRA, 1u << 31, "extra");
  refuse_u32 (true, VDI1_BLOCKS, 0, "block count");
  refuse_u32 (true, VDI1_BLOCKS, 9, "block count");
  refuse_u32 (true, VDI1_BLOCKS_ALLOCATED, 11, "allocated block count");
  refuse_u32 (true, VDI1_DISK_SIZE, 0, "disk size");
  /* A huge block count: the data offset cannot hold its map. */
  refuse_u32 (true, VDI1_BLOCKS, 0xffffffff, "data offset");

  /* A differencing image without a parent UUID. */
  make_v1 (buf, true, VDI_TYPE_DIFF, 10 << 20, 1 << 20, 10);
  ck_assert_int_eq (parse (buf, &h), 0);
  memset (buf + VDI1_UUID_LINKAGE, 0, 16);
  ck_assert_int_eq (parse (buf, &h), -1);
  ck_error_has ("parent UUID");

  /* Too short for the header. */
  make_v1 (buf, false, VDI_TYPE_NORMAL, 10 << 20, 1 << 20, 10);
  ck_assert_int_eq (vdi_parse_header (buf, 455, "t.vdi", &h), -1);
  ck_error_has ("truncated");
  ck_assert_int_eq (vdi_parse_header (buf, 456, "t.vdi", &h), 0);
  ck_assert_int_eq (vdi_parse_header (buf, 60, "t.vdi", &h), -1);
  ck_error_has ("not a VDI");
  ck_assert (!vdi_probe (buf, 71));
}
END_TEST

START_TEST (test_vdi_read_header)
{
  uint8_t *file = calloc (1, 2 << 20);
  struct xd_io *io;
  struct vdi_header h;

  ck_assert_ptr_nonnull (file);
  make_v1 (file, true, VDI_TYPE_NORMAL, 10 << 20, 1 << 20, 10);
  /* The map at 1 MiB needs 40 bytes. */
  io = xd_io_open_memory (file, (1 << 20) + 40, "m.vdi");
  ck_assert_int_eq (vdi_read_header (io, &h), 0);
  xd_io_close (io);
  io = xd_io_open_memory (file, (1 << 20) + 39, "m.vdi");
  ck_assert_int_eq (vdi_read_header (io, &h), -1);
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("block map");
  ck_error_has ("m.vdi");
  xd_io_close (io);
  io = xd_io_open_memory (file, 300, "m.vdi");
  ck_assert_int_eq (vdi_read_header (io, &h), -1);
  ck_error_has ("truncated");
  xd_io_close (io);
  free (file);
}
END_TEST

START_TEST (test_vdi_uuid)
{
  uint8_t u[16];
  char text[37];

  ck_assert_int_eq (xd_guid_parse ("{96ADE8B2-E50B-44C3-8A64-3608EC6C5234}",
                                    u), 0);
  ck_assert_int_eq (memcmp (u, uuid_a, 16), 0);
  xd_guid_format (uuid_b, text);
  ck_assert_str_eq (text, "04030201-0605-0807-090a-0b0c0d0e0f10");
  ck_assert_int_eq (xd_guid_parse ("96ade8b2-e50b-44c3-8a64", u), -1);
  ck_assert_int_eq (xd_guid_parse ("96ade8b2-e50b-44c3-8a64-3608ec6c523x",
                                    u), -1);
}
END_TEST

/* ---- detection and the read path, from memory ---- */

extern const struct xd_format xd_format_vdi;

/* A qemu-style image of 4 blocks of 4 KiB (the last one half inside the
 * disk): block 0 stored second, block 1 free, block 2 zero, block 3
 * stored first.
 */
#define T_BS 4096
#define T_DATA 1024
static uint8_t *
make_image (size_t *len)
{
  size_t n = T_DATA + 2 * T_BS;
  uint8_t *f = calloc (1, n);

  ck_assert_ptr_nonnull (f);
  make_v1 (f, false, VDI_TYPE_NORMAL, 3 * T_BS + T_BS / 2, T_BS, 4);
  xd_put_le32 (f + VDI1_DATA_OFFSET, T_DATA);
  xd_put_le32 (f + VDI1_BLOCKS_ALLOCATED, 2);
  xd_put_le32 (f + 512, 1);
  xd_put_le32 (f + 516, VDI_BLOCK_FREE);
  xd_put_le32 (f + 520, VDI_BLOCK_ZERO);
  xd_put_le32 (f + 524, 0);
  memset (f + T_DATA, 0x33, T_BS);
  memset (f + T_DATA + T_BS, 0x11, T_BS);
  *len = n;
  return f;
}

static struct xd_image *
open_image (const uint8_t *f, size_t len, struct xd_resolver **res)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  struct xd_io *io = xd_io_open_memory (f, len, "mem.vdi");

  ck_assert_ptr_nonnull (io);
  *res = xd_resolver_new_stream ("a test buffer");
  ck_assert_ptr_nonnull (*res);
  return xd_image_open (io, *res, &opts, NULL);
}

START_TEST (test_vdi_detect)
{
  size_t len;
  uint8_t *f = make_image (&len);
  struct xd_io *io = xd_io_open_memory (f, len, "mem.vdi");

  ck_assert_ptr_eq (xd_detect (io), &xd_reader_vdi);
  ck_assert_ptr_eq (xd_format_by_name ("VDI"), &xd_reader_vdi);
  xd_io_close (io);
  /* The banner does not matter; the signature does. */
  memset (f, 0, 64);
  io = xd_io_open_memory (f, len, "mem.vdi");
  ck_assert_ptr_eq (xd_detect (io), &xd_reader_vdi);
  xd_io_close (io);
  f[VDI_SIGNATURE_OFFSET] ^= 1;
  io = xd_io_open_memory (f, len, "mem.vdi");
  ck_assert_ptr_ne (xd_detect (io), &xd_reader_vdi);
  xd_io_close (io);
  free (f);
}
END_TEST


/* The reader's table: the composed table's read operations and no
 * write ones; a writable open through it attaches no writer.
 */
START_TEST (test_vdi_reader_table)
{
  size_t len;
  uint8_t *f = make_image (&len), buf[T_BS];
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  struct xd_io *io = xd_io_open_memory (f, len, "mem.vdi");
  struct vdi_layer *l;

  ck_assert_ptr_nonnull (res);
  ck_assert_ptr_nonnull (io);
  ck_assert_ptr_eq (xd_reader_vdi.probe, xd_format_vdi.probe);
  ck_assert_ptr_eq (xd_reader_vdi.pread, xd_format_vdi.pread);
  ck_assert_ptr_eq (xd_reader_vdi.extents, xd_format_vdi.extents);
  ck_assert_ptr_eq (xd_reader_vdi.describe, xd_format_vdi.describe);
  ck_assert_ptr_null (xd_reader_vdi.can_write);
  ck_assert_ptr_null (xd_reader_vdi.pwrite);
  ck_assert_ptr_null (xd_reader_vdi.flush);
  ck_assert_ptr_null (xd_reader_vdi.create);
  ck_assert_ptr_null (xd_reader_vdi.check);
  l = xd_reader_vdi.open (io, res, &opts);
  ck_assert_ptr_nonnull (l);
  ck_assert_ptr_null (l->writer);
  ck_assert_int_eq (xd_reader_vdi.pread (l, buf, T_BS, 0), 0);
  ck_assert_int_eq (buf[0], 0x11);
  xd_reader_vdi.close (l);
  xd_resolver_free (res);
  free (f);
}
END_TEST

static int
collect (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  char *out = opaque;
  size_t n = strlen (out);

  snprintf (out + n, 256 - n, "%u:%u:%u ", (unsigned) offset,
            (unsigned) length, (unsigned) type);
  return 0;
}

START_TEST (test_vdi_read)
{
  size_t len, i;
  uint8_t *f = make_image (&len), buf[4 * T_BS];
  struct xd_resolver *res;
  struct xd_image *img = open_image (f, len, &res);
  char map[256] = "", *desc;

  ck_assert_ptr_nonnull (img);
  ck_assert_uint_eq (xd_image_size (img), 3 * T_BS + T_BS / 2);
  ck_assert_int_eq (xd_image_read (img, buf, 3 * T_BS + T_BS / 2, 0), 0);
  for (i = 0; i < 3 * T_BS + T_BS / 2; i++)
    ck_assert_uint_eq (buf[i], i < T_BS ? 0x11 : i >= 3 * T_BS ? 0x33 : 0);
  ck_assert_int_eq (xd_image_extents (img, 3 * T_BS + T_BS / 2, 0, false,
                                      collect, map), 0);
  ck_assert_str_eq (map, "0:4096:0 4096:8192:3 12288:2048:0 ");
  desc = xd_image_describe (img);
  ck_assert_ptr_nonnull (strstr (desc, "VDI dynamic, header 1.1 (384 bytes)"));
  ck_assert_ptr_nonnull (strstr (desc, "4 KiB blocks"));
  free (desc);
  xd_image_close (img);
  xd_resolver_free (res);

  /* An entry past the end of the file: EIO on the read that needs it. */
  xd_put_le32 (f + 512, 2);
  img = open_image (f, len, &res);
  ck_assert_ptr_nonnull (img);
  ck_assert_int_eq (xd_image_read (img, buf, 100, T_BS * 3), 0);
  errno = 0;
  ck_assert_int_eq (xd_image_read (img, buf, 100, 10), -1);
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("block map entry 2 for block 0");
  xd_image_close (img);
  xd_resolver_free (res);

  /* The last block needs only its part inside the disk. */
  xd_put_le32 (f + 512, 1);
  img = open_image (f, len - T_BS / 2, &res);
  ck_assert_ptr_nonnull (img);
  xd_image_close (img);
  xd_resolver_free (res);
  xd_put_le32 (f + 524, 1);
  img = open_image (f, len - T_BS / 2 - 1, &res);
  ck_assert_ptr_nonnull (img);
  ck_assert_int_eq (xd_image_read (img, buf, 1, 3 * T_BS), -1);
  xd_image_close (img);
  xd_resolver_free (res);

  /* A differencing image in a stream: its parent cannot be searched. */
  xd_put_le32 (f + VDI1_TYPE, VDI_TYPE_DIFF);
  memcpy (f + VDI1_UUID_LINKAGE, uuid_b, 16);
  ck_assert_ptr_null (open_image (f, len, &res));
  ck_error_has ("parent {04030201-0605-0807-090a-0b0c0d0e0f10} not found");
  xd_resolver_free (res);
  free (f);
}
END_TEST

static void
touch (const char *dir, const char *name)
{
  char p[256];
  FILE *f;

  snprintf (p, sizeof p, "%s/%s", dir, name);
  f = fopen (p, "w");
  ck_assert_ptr_nonnull (f);
  fclose (f);
}

/* An image in MACHINE/Snapshots/ with a .vbox file in MACHINE may name
 * files anywhere in MACHINE, but not beside it.
 */
START_TEST (test_vdi_machine_folder)
{
  char tree[] = "/tmp/xdisk-vdi.XXXXXX", p[256], from[256], cmd[300], *r;
  struct xd_path_policy pol;

  ck_assert_ptr_nonnull (mkdtemp (tree));
  snprintf (p, sizeof p, "%s/M", tree);
  ck_assert_int_eq (mkdir (p, 0700), 0);
  snprintf (p, sizeof p, "%s/M/Snapshots", tree);
  ck_assert_int_eq (mkdir (p, 0700), 0);
  touch (tree, "M/base.vdi");
  touch (tree, "M/Snapshots/c.vdi");
  touch (tree, "outside.vdi");
  snprintf (from, sizeof from, "%s/M/Snapshots/c.vdi", tree);

  /* No .vbox file: confined to Snapshots/. */
  ck_assert_int_eq (xd_path_policy_init (&pol, from, NULL), 0);
  ck_assert_ptr_nonnull (strstr (pol.root_dir, "/M/Snapshots"));
  ck_assert_ptr_null (xd_try_resolve_ref (&pol, from, "../base.vdi"));
  ck_assert_int_eq (errno, EPERM);
  xd_path_policy_free (&pol);

  /* A directory called x.vbox is not a machine file. */
  snprintf (p, sizeof p, "%s/M/x.vbox", tree);
  ck_assert_int_eq (mkdir (p, 0700), 0);
  ck_assert_int_eq (xd_path_policy_init (&pol, from, NULL), 0);
  ck_assert_ptr_nonnull (strstr (pol.root_dir, "/M/Snapshots"));
  xd_path_policy_free (&pol);

  /* With M/M.vbox the machine folder is the root. */
  touch (tree, "M/M.vbox");
  ck_assert_int_eq (xd_path_policy_init (&pol, from, NULL), 0);
  ck_assert_ptr_null (strstr (pol.root_dir, "Snapshots"));
  r = xd_try_resolve_ref (&pol, from, "../base.vdi");
  ck_assert_ptr_nonnull (r);
  free (r);
  ck_assert_ptr_null (xd_try_resolve_ref (&pol, from, "../../outside.vdi"));
  ck_assert_int_eq (errno, EPERM);
  xd_path_policy_free (&pol);

  /* Only a folder called Snapshots widens. */
  snprintf (from, sizeof from, "%s/M/base.vdi", tree);
  ck_assert_int_eq (xd_path_policy_init (&pol, from, NULL), 0);
  ck_assert_ptr_null (xd_try_resolve_ref (&pol, from, "../outside.vdi"));
  xd_path_policy_free (&pol);

  snprintf (cmd, sizeof cmd, "rm -rf %s", tree);
  ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* The .vbox media registry: the location of the HardDisk with the UUID
 * asked for, its character references decoded (the XML reader's);
 * documents that name no parent, malformed ones among them, give NULL,
 * as they did before (the search goes on past them).
 */
START_TEST (test_vdi_vbox_registry)
{
  static const char *const nothing[] = {
    "not XML at all",
    /* An unfinished comment hides the rest. */
    "<VirtualBox><!-- <HardDisk uuid=\"{%s}\" location=\"a.vdi\"/>"
    "</VirtualBox>",
    /* An unquoted attribute value. */
    "<VirtualBox><HardDisk uuid=\"{%s}\" location=a.vdi/></VirtualBox>",
    /* No location, and another disk's UUID. */
    "<VirtualBox><HardDisk uuid=\"{%s}\"/></VirtualBox>",
    "<VirtualBox><HardDisk uuid=\"{00000000-0000-0000-0000-000000000001}\""
    " location=\"a.vdi\"/></VirtualBox>",
  };
  char u[37], text[512], *loc;
  size_t i;

  xd_guid_format (uuid_a, u);
  for (i = 0; i < sizeof nothing / sizeof nothing[0]; i++) {
    snprintf (text, sizeof text, nothing[i], u);
    ck_assert_ptr_null (vdi_vbox_location (text, uuid_a));
  }

  snprintf (text, sizeof text,
            "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"x\">\n"
            "<!-- a comment -->\n<MediaRegistry><HardDisks>\n"
            "<HardDisk uuid=\"{%s}\" location=\"base.vdi\">\n"
            "  <HardDisk uuid=\"%s\"\n"
            "   location=\"..&#x2F;disks &amp; more&#47;s&#x31;.vdi\"/>\n"
            "</HardDisk></HardDisks></MediaRegistry></VirtualBox>\n",
            "00000000-0000-0000-0000-000000000002", u);
  loc = vdi_vbox_location (text, uuid_a);
  ck_assert_ptr_nonnull (loc);
  ck_assert_str_eq (loc, "../disks & more/s1.vdi");
  free (loc);
}
END_TEST

/* ---- writing and creating ---- */

/* Create a VDI in memory as COPTS says; the handle is writable. */
static void *
create_mem (const struct xd_create_opts *copts, struct xd_io **io,
            struct xd_resolver *res)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };

  *io = xd_io_new_memory_rw (NULL, 0, copts->path ? copts->path : "new.vdi");
  ck_assert_ptr_nonnull (*io);
  xd_io_ref (*io);                      /* keep it after the close */
  return xd_format_vdi.create (*io, res, copts, &opts);
}

START_TEST (test_vdi_create_layout)
{
  struct xd_create_opts copts = { .size = 5 * 1048576 + 512 };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  const uint8_t *f;
  struct xd_io *io;
  void *h;
  uint8_t buf[4096];
  uint32_t i;

  h = create_mem (&copts, &io, res);
  ck_assert_ptr_nonnull (h);
  f = xd_io_memory_contents (io);
  ck_assert_int_eq (memcmp (f, VDI_VBOX_BANNER, strlen (VDI_VBOX_BANNER)), 0);
  ck_assert_uint_eq (xd_le32 (f + VDI_VERSION_OFFSET), 0x00010001);
  ck_assert_uint_eq (xd_le32 (f + VDI1_HEADER_SIZE), 400);
  ck_assert_uint_eq (xd_le32 (f + VDI1_TYPE), VDI_TYPE_NORMAL);
  ck_assert_uint_eq (xd_le32 (f + VDI1_BLOCKS_OFFSET), 1 << 20);
  ck_assert_uint_eq (xd_le32 (f + VDI1_DATA_OFFSET), 2 << 20);
  ck_assert_uint_eq (xd_le32 (f + VDI1_BLOCK_SIZE), 1 << 20);
  ck_assert_uint_eq (xd_le32 (f + VDI1_BLOCKS), 6);
  ck_assert_uint_eq (xd_le32 (f + VDI1_BLOCKS_ALLOCATED), 0);
  ck_assert_uint_eq (xd_le32 (f + VDI1_LEGACY_GEOMETRY + 12), 512);
  ck_assert_uint_eq (xd_le32 (f + VDI1_LCHS_GEOMETRY + 12), 512);
  ck_assert (!xd_guid_is_null (f + VDI1_UUID_CREATE));
  ck_assert (!xd_guid_is_null (f + VDI1_UUID_MODIFY));
  ck_assert_uint_eq (f[VDI1_UUID_CREATE + 7] >> 4, 4);   /* version 4 */
  ck_assert (xd_guid_is_null (f + VDI1_UUID_LINKAGE));
  for (i = 0; i < 6; i++)
    ck_assert_uint_eq (xd_le32 (f + (1 << 20) + 4 * i), VDI_BLOCK_FREE);
  ck_assert_uint_eq (io->size, 2 << 20);
  ck_assert_int_eq (xd_format_vdi.check (h), 0);

  /* A partial write allocates one block at the end, the rest zeros; the
   * map and counter reach the file at the flush.
   */
  memset (buf, 0x5a, sizeof buf);
  ck_assert_int_eq (xd_format_vdi.pwrite (h, buf, 1000, 3 * 1048576 + 7), 0);
  ck_assert_uint_eq (io->size, 3 << 20);
  f = xd_io_memory_contents (io);
  ck_assert_uint_eq (xd_le32 (f + (1 << 20) + 12), VDI_BLOCK_FREE);
  ck_assert_int_eq (xd_format_vdi.flush (h), 0);
  f = xd_io_memory_contents (io);
  ck_assert_uint_eq (xd_le32 (f + (1 << 20) + 12), 0);
  ck_assert_uint_eq (xd_le32 (f + VDI1_BLOCKS_ALLOCATED), 1);
  ck_assert_int_eq (xd_format_vdi.pread (h, buf, 4096, 3 * 1048576), 0);
  for (i = 0; i < 4096; i++)
    ck_assert_uint_eq (buf[i], i >= 7 && i < 1007 ? 0x5a : 0);
  ck_assert_int_eq (xd_format_vdi.check (h), 0);
  xd_format_vdi.close (h);
  xd_io_close (io);

  /* Static: every block allocated in order, the full size. */
  copts.type = "static";
  h = create_mem (&copts, &io, res);
  ck_assert_ptr_nonnull (h);
  f = xd_io_memory_contents (io);
  ck_assert_uint_eq (xd_le32 (f + VDI1_TYPE), VDI_TYPE_FIXED);
  ck_assert_uint_eq (xd_le32 (f + VDI1_BLOCKS_ALLOCATED), 6);
  for (i = 0; i < 6; i++)
    ck_assert_uint_eq (xd_le32 (f + (1 << 20) + 4 * i), i);
  ck_assert_uint_eq (io->size, (2 << 20) + 6 * (1 << 20));
  ck_assert_int_eq (xd_format_vdi.check (h), 0);
  xd_format_vdi.close (h);
  xd_io_close (io);
  xd_resolver_free (res);
}
END_TEST

/* A map the reader would page through its cache is kept whole when a
 * writer is attached (the writer asks the reader for it); the reader
 * alone pages it, and reads what was written.
 */
START_TEST (test_vdi_write_paged_map)
{
  struct xd_create_opts copts = { .size = 6 << 20 };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  struct xd_open_opts opts = { .cache_bytes = 16, .writable = true };
  uint8_t buf[512];
  struct vdi_layer *l;
  struct xd_io *io;
  void *h;

  h = create_mem (&copts, &io, res);
  ck_assert_ptr_nonnull (h);
  xd_format_vdi.close (h);

  xd_io_ref (io);
  l = xd_format_vdi.open (io, res, &opts);
  ck_assert_ptr_nonnull (l);
  ck_assert_ptr_nonnull (l->map);
  ck_assert_ptr_null (l->map_cache);
  ck_assert_ptr_nonnull (l->writer);
  memset (buf, 0x77, sizeof buf);
  ck_assert_int_eq (xd_format_vdi.pwrite (l, buf, sizeof buf, 4 << 20), 0);
  xd_format_vdi.close (l);              /* flushes */

  xd_io_ref (io);
  l = xd_reader_vdi.open (io, res, &opts);
  ck_assert_ptr_nonnull (l);
  ck_assert_ptr_null (l->map);
  ck_assert_ptr_nonnull (l->map_cache);
  memset (buf, 0, sizeof buf);
  ck_assert_int_eq (xd_reader_vdi.pread (l, buf, sizeof buf, 4 << 20), 0);
  ck_assert_uint_eq (buf[0], 0x77);
  ck_assert_uint_eq (buf[511], 0x77);
  xd_reader_vdi.close (l);
  xd_io_close (io);
  xd_resolver_free (res);
}
END_TEST

START_TEST (test_vdi_check_finds)
{
  struct xd_create_opts copts = { .size = 4 << 20, .block_size = 1 << 20 };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  uint8_t buf[512], *copy;
  struct xd_io *io, *io2;
  size_t len;
  void *h;
  int k;

  h = create_mem (&copts, &io, res);
  ck_assert_ptr_nonnull (h);
  memset (buf, 1, sizeof buf);
  ck_assert_int_eq (xd_format_vdi.pwrite (h, buf, 512, 0), 0);
  ck_assert_int_eq (xd_format_vdi.pwrite (h, buf, 512, 2 << 20), 0);
  xd_format_vdi.close (h);
  len = io->size;
  copy = malloc (len);
  ck_assert_ptr_nonnull (copy);
  for (k = 0; k < 5; k++) {
    memcpy (copy, xd_io_memory_contents (io), len);
    switch (k) {
    case 0: break;                                      /* sound */
    case 1: xd_put_le32 (copy + (1 << 20) + 8, 0); break;   /* shared */
    case 2: xd_put_le32 (copy + VDI1_BLOCKS_ALLOCATED, 1); break;
    case 3: memset (copy + VDI1_UUID_MODIFY, 0, 16); break;
    case 4: xd_put_le32 (copy + (1 << 20) + 4, 7); break;   /* > blocks */
    }
    io2 = xd_io_open_memory (copy, len, "c.vdi");
    h = xd_format_vdi.open (io2, res, &opts);
    ck_assert_ptr_nonnull (h);
    last_error[0] = '\0';
    ck_assert_int_eq (xd_format_vdi.check (h), k == 0 ? 0 : -1);
    switch (k) {
    case 1: ck_error_has ("shares slot 0"); break;
    case 2: ck_error_has ("cBlocksAllocated is 1 but slot 1 is in use"); break;
    case 3: ck_error_has ("modification UUID is null"); break;
    case 4: ck_error_has ("beyond the block count"); break;
    }
    xd_format_vdi.close (h);
  }
  free (copy);
  xd_io_close (io);
  xd_resolver_free (res);
}
END_TEST

/* A qemu-style image (384-byte header, map at 512, no alignment) of
 * NB blocks of 4 KiB, every third one allocated (filled with 0x77).
 */
static uint8_t *
make_qemu_image (uint32_t nb, size_t *len)
{
  uint32_t data = (512 + nb * 4 + 511) / 512 * 512, i, used = 0;
  uint8_t *f;

  *len = data + (size_t) (nb / 3 + 1) * T_BS;
  f = calloc (1, *len);
  ck_assert_ptr_nonnull (f);
  make_v1 (f, false, VDI_TYPE_NORMAL, (uint64_t) nb * T_BS, T_BS, nb);
  xd_put_le32 (f + VDI1_DATA_OFFSET, data);
  for (i = 0; i < nb; i++) {
    if (i % 3 == 1) {
      memset (f + data + (size_t) used * T_BS, 0x77, T_BS);
      xd_put_le32 (f + 512 + 4 * i, used++);
    }
    else
      xd_put_le32 (f + 512 + 4 * i, i % 6 == 0 ? VDI_BLOCK_ZERO
                   : VDI_BLOCK_FREE);
  }
  xd_put_le32 (f + VDI1_BLOCKS_ALLOCATED, used);
  *len = data + (size_t) used * T_BS;
  return f;
}

static void
powerloss (struct xd_powerloss_case *c)
{
  struct xd_powerloss_stats st;

  c->format = &xd_format_vdi;
  if (c->io_name == NULL)
    c->io_name = "pl.vdi";
  c->use_zero = true;
  ck_assert_int_eq (xd_powerloss_run (c, &st), 0);
  fprintf (stderr, "vdi power loss %s: %lu crash states, %lu epochs, %lu "
           "writes, %lu flushes, %lu reopened for writing\n", c->name,
           st.states, st.epochs, st.writes, st.flushes, st.reopened);
  ck_assert_uint_gt (st.states, 50);
  ck_assert_uint_gt (st.flushes, 3);
}

START_TEST (test_vdi_powerloss_dynamic)
{
  struct xd_create_opts copts = { .size = 4 << 20, .block_size = 512 << 10 };
  struct xd_powerloss_case c = {
    .name = "dynamic", .create = &copts, .seed = 11, .nr_ops = 40,
    .max_sectors = 1200, .flush_every = 5,
  };

  powerloss (&c);
}
END_TEST

START_TEST (test_vdi_powerloss_static)
{
  struct xd_create_opts copts = { .size = 3 << 20, .type = "static",
                                  .block_size = 512 << 10 };
  struct xd_powerloss_case c = {
    .name = "static", .create = &copts, .seed = 12, .nr_ops = 30,
    .max_sectors = 600, .flush_every = 4,
  };

  powerloss (&c);
}
END_TEST

/* Short runs over an existing qemu-style image with 4 KiB blocks: many
 * allocations, every crash state of each epoch.  From seed 4 on, the
 * file goes on past its blocks with garbage (blocks an earlier crash
 * leaked), where the new blocks go: a map entry durable before its
 * block would show it.
 */
START_TEST (test_vdi_powerloss_qemu_image)
{
  const size_t leaked = 24 * T_BS;
  size_t len, i;
  uint8_t *f = make_qemu_image (96, &len);
  unsigned seed;

  f = realloc (f, len + leaked);
  ck_assert_ptr_nonnull (f);
  for (i = len; i < len + leaked; i++)
    f[i] = (uint8_t) (i * 13 + 5) | 0x10;
  for (seed = 1; seed <= 6; seed++) {
    struct xd_powerloss_case c = {
      .name = seed < 4 ? "qemu-image" : "qemu-image, leaked blocks",
      .image = f, .image_len = seed < 4 ? len : len + leaked, .seed = seed,
      .nr_ops = 24, .max_sectors = 20, .flush_every = 3,
      .exhaustive_max = 12,
    };
    powerloss (&c);
  }
  free (f);
}
END_TEST

/* A version 0 image (NB blocks of 4 KiB, map after the header), or a
 * qemu-style 1.1 one with EXTRA bytes before each block; all free.
 */
static uint8_t *
make_old_image (bool v0, uint32_t extra, uint32_t nb, size_t *len)
{
  uint8_t *f;

  *len = VDI_PRE_HEADER_SIZE + VDI0_HEADER_SIZE + 4 * nb + 1024;
  f = calloc (1, *len);
  ck_assert_ptr_nonnull (f);
  if (v0) {
    xd_put_le32 (f + VDI_SIGNATURE_OFFSET, VDI_SIGNATURE);
    xd_put_le32 (f + VDI0_TYPE, VDI_TYPE_NORMAL);
    xd_put_le64 (f + VDI0_DISK_SIZE, (uint64_t) nb * T_BS);
    xd_put_le32 (f + VDI0_BLOCK_SIZE, T_BS);
    xd_put_le32 (f + VDI0_BLOCKS, nb);
    memcpy (f + VDI0_UUID_CREATE, uuid_a, 16);
    memcpy (f + VDI0_UUID_MODIFY, uuid_b, 16);
    memset (f + VDI_PRE_HEADER_SIZE + VDI0_HEADER_SIZE, 0xff, 4 * nb);
    *len = VDI_PRE_HEADER_SIZE + VDI0_HEADER_SIZE + 4 * nb;
  }
  else {
    make_v1 (f, false, VDI_TYPE_NORMAL, (uint64_t) nb * T_BS, T_BS, nb);
    xd_put_le32 (f + VDI1_BLOCK_EXTRA, extra);
    xd_put_le32 (f + VDI1_DATA_OFFSET, 512 + 4 * nb);
    memset (f + 512, 0xff, 4 * nb);
    *len = 512 + 4 * nb;
  }
  return f;
}

START_TEST (test_vdi_write_old_layouts)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  uint8_t buf[3 * T_BS];
  int k;

  for (k = 0; k < 2; k++) {
    size_t len, i;
    uint8_t *f = make_old_image (k == 0, 512, 16, &len);
    struct xd_io *io = xd_io_new_memory_rw (f, len, "old.vdi");
    const uint8_t *m;
    void *h;
    unsigned seed;

    ck_assert_ptr_nonnull (io);
    xd_io_ref (io);
    h = xd_format_vdi.open (io, res, &opts);
    ck_assert_ptr_nonnull (h);
    memset (buf, 0x3c, sizeof buf);
    ck_assert_int_eq (xd_format_vdi.pwrite (h, buf, 5000, 3 * T_BS - 7), 0);
    ck_assert_int_eq (xd_format_vdi.flush (h), 0);
    ck_assert_int_eq (xd_format_vdi.check (h), 0);
    ck_assert_int_eq (xd_format_vdi.pread (h, buf, sizeof buf, 2 * T_BS), 0);
    for (i = 0; i < sizeof buf; i++)
      ck_assert_uint_eq (buf[i], i >= T_BS - 7 && i < T_BS - 7 + 5000
                         ? 0x3c : 0);
    xd_format_vdi.close (h);
    m = xd_io_memory_contents (io);
    ck_assert_uint_eq (xd_le32 (m + (k == 0 ? VDI0_BLOCKS_ALLOCATED
                                     : VDI1_BLOCKS_ALLOCATED)), 3);
    ck_assert_int_ne (memcmp (m + (k == 0 ? VDI0_UUID_MODIFY
                                   : VDI1_UUID_MODIFY), uuid_b, 16), 0);
    ck_assert_int_eq (memcmp (m + (k == 0 ? VDI0_UUID_CREATE
                                   : VDI1_UUID_CREATE), uuid_a, 16), 0);
    xd_io_close (io);

    for (seed = 1; seed <= 2; seed++) {
      struct xd_powerloss_case c = {
        .name = k == 0 ? "v0" : "extra", .image = f, .image_len = len,
        .seed = seed, .nr_ops = 24, .max_sectors = 20, .flush_every = 3,
      };
      powerloss (&c);
    }
    free (f);
  }
  xd_resolver_free (res);
}
END_TEST

/* Threads writing interleaved sectors of the same blocks at once: the
 * allocations race, every sector must end up with its thread's last
 * value.
 */
#define CT_THREADS 4
#define CT_BLOCKS 1024
#define CT_SECTORS (CT_BLOCKS * T_BS / 512)

struct ct_arg {
  void *h;
  unsigned t;
  uint8_t last[CT_SECTORS];             /* value written, 0: zeroed */
};

static void *
ct_run (void *opaque)
{
  struct ct_arg *a = opaque;
  uint64_t rnd = 88172645463325252ULL + a->t;
  uint8_t buf[512];
  unsigned s;
  int i;

  /* Every thread walks the blocks in the same order: each allocation
   * is contended.
   */
  for (s = a->t; s < CT_SECTORS; s += T_BS / 512) {
    memset (buf, (int) (1 + a->t), sizeof buf);
    if (xd_format_vdi.pwrite (a->h, buf, 512, (uint64_t) s * 512) == -1)
      return a;
    a->last[s] = buf[0];
  }
  for (i = 0; i < 2000; i++) {
    rnd ^= rnd << 13; rnd ^= rnd >> 7; rnd ^= rnd << 17;
    s = (unsigned) (rnd % (CT_SECTORS / CT_THREADS)) * CT_THREADS + a->t;
    if (rnd % 7 == 0) {
      if (xd_format_vdi.zero (a->h, 512, (uint64_t) s * 512, false,
                              false) == -1)
        return a;
      a->last[s] = 0;
    }
    else {
      memset (buf, (int) (1 + (i + a->t) % 250), sizeof buf);
      if (xd_format_vdi.pwrite (a->h, buf, 512, (uint64_t) s * 512) == -1)
        return a;
      a->last[s] = buf[0];
    }
    if (i % 500 == 0 && xd_format_vdi.flush (a->h) == -1)
      return a;
  }
  return NULL;
}

START_TEST (test_vdi_concurrent_writes)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  static struct ct_arg args[CT_THREADS];
  pthread_t th[CT_THREADS];
  uint8_t *f, *disk;
  struct xd_io *io;
  size_t len, s, i;
  unsigned t;
  void *h;

  f = make_old_image (false, 0, CT_BLOCKS, &len);
  io = xd_io_new_memory_rw (f, len, "conc.vdi");
  ck_assert_ptr_nonnull (io);
  xd_io_ref (io);
  h = xd_format_vdi.open (io, res, &opts);
  ck_assert_ptr_nonnull (h);
  for (t = 0; t < CT_THREADS; t++) {
    memset (&args[t], 0, sizeof args[t]);
    args[t].h = h;
    args[t].t = t;
    ck_assert_int_eq (pthread_create (&th[t], NULL, ct_run, &args[t]), 0);
  }
  for (t = 0; t < CT_THREADS; t++) {
    void *r;
    ck_assert_int_eq (pthread_join (th[t], &r), 0);
    ck_assert_ptr_null (r);
  }
  ck_assert_int_eq (xd_format_vdi.flush (h), 0);
  ck_assert_int_eq (xd_format_vdi.check (h), 0);
  xd_format_vdi.close (h);

  /* Reopened from the file alone. */
  opts.writable = false;
  h = xd_format_vdi.open (io, res, &opts);
  ck_assert_ptr_nonnull (h);
  disk = malloc (CT_SECTORS * 512);
  ck_assert_ptr_nonnull (disk);
  ck_assert_int_eq (xd_format_vdi.pread (h, disk, CT_SECTORS * 512, 0), 0);
  for (s = 0; s < CT_SECTORS; s++)
    for (i = 0; i < 512; i++)
      ck_assert_uint_eq (disk[s * 512 + i], args[s % CT_THREADS].last[s]);
  ck_assert_int_eq (xd_format_vdi.check (h), 0);
  xd_format_vdi.close (h);
  free (disk);
  free (f);
  xd_resolver_free (res);
}
END_TEST

/* A differencing child over a parent file: the parent is found by UUID
 * in the child's directory in every crash state.
 */
START_TEST (test_vdi_powerloss_diff)
{
  char dir[] = "/tmp/vdi-pl.XXXXXX", ppath[64], cpath[64], cmd[96];
  struct xd_create_opts pcopts = { .size = 3 << 20, .block_size = 512 << 10 };
  struct xd_create_opts copts = { .block_size = 512 << 10 };
  struct xd_path_policy pol;
  struct xd_resolver *res;
  struct xd_io *io;
  FILE *fp;
  uint8_t buf[4096];
  void *h;
  unsigned seed;

  ck_assert_ptr_nonnull (mkdtemp (dir));
  snprintf (ppath, sizeof ppath, "%s/parent.vdi", dir);
  snprintf (cpath, sizeof cpath, "%s/child.vdi", dir);
  res = xd_resolver_new_stream ("a test buffer");
  h = create_mem (&pcopts, &io, res);
  ck_assert_ptr_nonnull (h);
  memset (buf, 0xaa, sizeof buf);
  for (seed = 0; seed < 3 << 20; seed += 300 << 10)
    ck_assert_int_eq (xd_format_vdi.pwrite (h, buf, sizeof buf, seed), 0);
  xd_format_vdi.close (h);
  xd_resolver_free (res);
  fp = fopen (ppath, "w");
  ck_assert_ptr_nonnull (fp);
  ck_assert_uint_eq (fwrite (xd_io_memory_contents (io), 1, io->size, fp),
                     io->size);
  fclose (fp);
  xd_io_close (io);

  fp = fopen (cpath, "w");              /* the policy needs it to exist */
  ck_assert_ptr_nonnull (fp);
  fclose (fp);
  ck_assert_int_eq (xd_path_policy_init (&pol, cpath, NULL), 0);
  res = xd_resolver_new_dir (&pol);
  ck_assert_ptr_nonnull (res);
  copts.parent = ppath;
  copts.path = cpath;
  for (seed = 1; seed <= 1; seed++) {
    struct xd_powerloss_case c = {
      .name = "differencing", .create = &copts, .io_name = cpath,
      .res = res, .seed = seed, .nr_ops = 30, .max_sectors = 900,
      .flush_every = 4,
    };
    powerloss (&c);
  }
  xd_resolver_free (res);
  xd_path_policy_free (&pol);
  snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* ---- two threads allocating the same block (the writer's lock) ---- */

static int
race_write (void *h, const void *buf, uint32_t len, uint64_t off)
{
  return xd_format_vdi.pwrite (h, buf, len, off);
}

/* Thread A writes the whole of the free block 0, thread B one sector of
 * it; A's write of the new block's data is held until B has returned,
 * or, as B waits for the lock, until the gate's timeout (xd-gate-io.h).
 * Without the lock around allocation, B takes the same slot meanwhile
 * and A's whole block, written last, loses B's sector
 * (tests/mutants.txt: vdi-alloc-unlocked).
 */
START_TEST (test_vdi_alloc_race)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  uint8_t model[4 * T_BS] = { 0 }, back[4 * T_BS];
  uint8_t whole[T_BS];          /* A's block, without B's sector */
  struct xd_gate_write a, b;
  struct xd_io *io;
  size_t len;
  uint8_t *f = make_old_image (false, 0, 4, &len);
  void *h;

  io = xd_gate_io_new (f, len, "gate.vdi");
  ck_assert_ptr_nonnull (io);
  free (f);
  h = xd_format_vdi.open (io, res, &opts);
  ck_assert_ptr_nonnull (h);
  memset (model, 0xaa, T_BS);
  memset (model + 1024, 0xbb, 512);
  memset (whole, 0xaa, T_BS);
  a = (struct xd_gate_write) { whole, T_BS, 0, -1 };
  b = (struct xd_gate_write) { model + 1024, 512, 1024, -1 };
  ck_assert_msg (xd_gate_race (io, race_write, h, &a, &b),
                 "thread A never wrote its new block's data");
  ck_assert_int_eq (a.r, 0);
  ck_assert_int_eq (b.r, 0);
  ck_assert_int_eq (xd_format_vdi.flush (h), 0);
  ck_assert_int_eq (xd_format_vdi.pread (h, back, sizeof back, 0), 0);
  ck_assert (memcmp (back, model, sizeof back) == 0);
  ck_assert_int_eq (xd_format_vdi.check (h), 0);
  xd_format_vdi.close (h);
  xd_resolver_free (res);
}
END_TEST

static Suite *
vdi_suite (void)
{
  Suite *s = suite_create ("vdi");
  TCase *tc = tcase_create ("header");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, test_vdi_vbox_header);
  tcase_add_test (tc, test_vdi_qemu_header);
  tcase_add_test (tc, test_vdi_v0_header);
  tcase_add_test (tc, test_vdi_block_sizes);
  tcase_add_test (tc, test_vdi_refused);
  tcase_add_test (tc, test_vdi_read_header);
  tcase_add_test (tc, test_vdi_uuid);
  tcase_add_test (tc, test_vdi_machine_folder);
  tcase_add_test (tc, test_vdi_vbox_registry);
  tcase_add_test (tc, test_vdi_detect);
  tcase_add_test (tc, test_vdi_reader_table);
  tcase_add_test (tc, test_vdi_read);
  tcase_add_test (tc, test_vdi_create_layout);
  tcase_add_test (tc, test_vdi_check_finds);
  tcase_add_test (tc, test_vdi_write_paged_map);
  suite_add_tcase (s, tc);
  tc = tcase_create ("powerloss");
  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_vdi_powerloss_dynamic);
  tcase_add_test (tc, test_vdi_powerloss_static);
  tcase_add_test (tc, test_vdi_powerloss_qemu_image);
  tcase_add_test (tc, test_vdi_powerloss_diff);
  tcase_add_test (tc, test_vdi_write_old_layouts);
  tcase_add_test (tc, test_vdi_concurrent_writes);
  suite_add_tcase (s, tc);
  /* Alone in its case: CK_RUN_CASE=race runs it without the rest. */
  tc = tcase_create ("race");
  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_vdi_alloc_race);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (vdi_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
