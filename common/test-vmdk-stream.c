/* Unit tests for the streamOptimized VMDK writer (vmdk-stream-write.c):
 * the engine writes into a growable memory io, the result is parsed
 * by the VMDK reader and walked marker by marker.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "vmdk.h"
#include "vmdk-read.h"
#include "vmdk-stream.h"
#include "xd-bytes.h"
#include "xd-format.h"
#include "xd-io.h"
#include "xd-report.h"
#include "xd-test.h"

#define GRAIN 65536
#define MIB (1024 * 1024)

/* Deterministic, compressible but not trivial content. */
static void
fill (unsigned char *buf, size_t len, uint64_t offset)
{
  size_t i;

  for (i = 0; i < len; i++) {
    uint64_t o = offset + i;

    buf[i] = (o / 512) % 7 == 3 ? 0 : (unsigned char) ((o * 2654435761U) >> 13);
  }
}

struct made {
  struct xd_io *io;             /* the memory io, kept for reading */
  struct vmdk_stream_writer *w;
};

static struct vmdk_stream_writer *
make (uint64_t size, struct xd_io **iop)
{
  struct xd_create_opts co = { .size = size, .path = "/tmp/t.vmdk" };
  struct xd_io *io = xd_io_new_memory_rw (NULL, 0, "t.vmdk");
  struct vmdk_stream_writer *w;

  ck_assert_ptr_nonnull (io);
  *iop = xd_io_ref (io);
  w = vmdk_stream_create (io, &co, "lsilogic", "7");
  ck_assert_ptr_nonnull (w);
  return w;
}

/* Close the writer and reopen the result with the reader; compare it
 * with EXPECT (SIZE bytes).
 */
static void
verify (struct xd_io *io, const unsigned char *expect, uint64_t size)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
  const unsigned char *bytes = xd_io_memory_contents (io);
  struct xd_io *rd = xd_io_open_memory (bytes, io->size, "out.vmdk");
  struct vmdk_disk *disk;
  unsigned char *got = malloc (size);

  ck_assert_ptr_nonnull (got);
  disk = vmdk_disk_open (rd, res, &opts);
  ck_assert_msg (disk != NULL, "reopen: %s", last_error);
  ck_assert_uint_eq (disk->size, size);
  ck_assert_int_eq (vmdk_disk_read (disk, got, size, 0), 0);
  ck_assert (memcmp (got, expect, size) == 0);
  vmdk_disk_close (disk);
  xd_resolver_free (res);
  free (got);
}

/* Walk the file: header, grains ascending, GT markers, GD, footer, EOS
 * as the last two sectors.  Returns the grains stored.
 */
static unsigned
check_structure (struct xd_io *io, uint64_t capacity)
{
  const unsigned char *f = xd_io_memory_contents (io);
  uint64_t len = io->size, s, gd_sector = 0, last_lba = 0;
  unsigned grains = 0, gts = 0;
  bool any = false, saw_gd = false, saw_footer = false;

  ck_assert_uint_eq (len % 512, 0);
  ck_assert_uint_eq (xd_le32 (f), VMDK_MAGIC_KDMV);
  ck_assert_uint_eq (xd_le32 (f + 4), 3);
  ck_assert_uint_eq (xd_le32 (f + 8), 0x30001);
  ck_assert_uint_eq (xd_le64 (f + 12), capacity);
  ck_assert_uint_eq (xd_le64 (f + 20), 128);
  ck_assert_uint_eq (xd_le32 (f + 44), 512);
  ck_assert_uint_eq (xd_le64 (f + 48), 0);
  ck_assert (xd_le64 (f + 56) == VMDK_GD_AT_END);
  ck_assert_uint_eq (xd_le64 (f + 64), 128);
  ck_assert_uint_eq (f[77], 1);
  ck_assert (memcmp (f + 73, "\n \r\n", 4) == 0);
  ck_assert_ptr_nonnull (strstr ((const char *) f + 512,
                                 "createType=\"streamOptimized\""));
  ck_assert_ptr_nonnull (strstr ((const char *) f + 512,
                                 "# The Disk Data Base"));
  for (s = 128; s * 512 < len;) {
    const unsigned char *m = f + s * 512;
    uint64_t val = xd_le64 (m);
    uint32_t size = xd_le32 (m + 8);

    if (size != 0) {
      ck_assert (!saw_gd);
      ck_assert (!any || val > last_lba);
      ck_assert_uint_eq (val % 128, 0);
      last_lba = val;
      any = true;
      grains++;
      s += (12 + size + 511) / 512;
      continue;
    }
    switch (xd_le32 (m + 12)) {
    case 0:
      ck_assert (saw_footer);
      ck_assert_uint_eq ((s + 1) * 512, len);
      ck_assert (val == 0);
      return grains;
    case 1:
      ck_assert (!saw_gd);
      ck_assert_uint_eq (val, 4);
      gts++;
      break;
    case 2:
      ck_assert (!saw_gd);
      saw_gd = true;
      gd_sector = s + 1;
      break;
    case 3:
      ck_assert (saw_gd);
      ck_assert_uint_eq (val, 1);
      ck_assert_uint_eq (xd_le64 (m + 512 + 56), gd_sector);
      ck_assert (memcmp (m + 512, f, 56) == 0);
      /* footer + EOS are the last two sectors */
      ck_assert_uint_eq ((s + 3) * 512, len);
      saw_footer = true;
      break;
    default:
      ck_abort_msg ("unknown marker type at sector %lu", (unsigned long) s);
    }
    s += 1 + val;
  }
  ck_abort_msg ("no end-of-stream marker");
  return 0;
}

START_TEST (test_in_order)
{
  uint64_t size = 3 * MIB + 512 * 5;    /* a cut last grain */
  unsigned char *data = malloc (size);
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (size, &io);
  uint64_t off;

  fill (data, size, 0);
  memset (data + MIB, 0, 2 * GRAIN);   /* two zero grains */
  for (off = 0; off < size; off += 4096) {
    uint32_t n = size - off < 4096 ? size - off : 4096;
    ck_assert_int_eq (vmdk_stream_pwrite (w, data + off, n, off), 0);
  }
  ck_assert_int_eq (vmdk_stream_finish (w), 0);
  ck_assert_int_eq (vmdk_stream_finish (w), 0);        /* idempotent */
  vmdk_stream_close (w);
  ck_assert_uint_eq (check_structure (io, size / 512),
                     (size + GRAIN - 1) / GRAIN - 2);
  verify (io, data, size);
  xd_io_close (io);
  free (data);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("vmdk-stream");
  TCase *tc = tcase_create ("vmdk-stream");
  SRunner *sr;
  int failed;

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_in_order);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
