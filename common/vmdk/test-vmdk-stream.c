/* Unit tests for the streamOptimized VMDK writer (vmdk-stream-write.c,
 * vmdk-stream-pipe.c, and its header and descriptor from vmdk-layout.c):
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

#include "vmdk/vmdk.h"
#include "vmdk/vmdk-layout.h"
#include "vmdk/vmdk-read.h"
#include "vmdk/vmdk-stream.h"
#include "include/xd-bytes.h"
#include "core/xd-format.h"
#include "io/xd-io.h"
#include "include/xd-report.h"
#include "unittest/xd-test.h"

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

static bool
all_zero_buf (const unsigned char *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp (p, p + 1, n - 1) == 0);
}

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
  disk = vmdk_reader_open (rd, res, &opts);
  ck_assert_msg (disk != NULL, "reopen: %s", last_error);
  ck_assert_uint_eq (disk->size, size);
  ck_assert_int_eq (vmdk_disk_read (disk, got, size, 0), 0);
  ck_assert (memcmp (got, expect, size) == 0);
  vmdk_reader_close (disk);
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

/* Grains written in a shuffled order within the window, in pieces. */
START_TEST (test_out_of_order)
{
  uint64_t size = 4 * MIB, ngr = size / GRAIN, i;
  unsigned char *data = malloc (size);
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (size, &io);

  fill (data, size, 0);
  ck_assert_int_eq (vmdk_stream_set_window (w, 16 * GRAIN, 0, 0), 0);
  /* Blocks of 8 grains, each block backwards, second halves first. */
  for (i = 0; i < ngr; i += 8) {
    uint64_t j;

    for (j = 8; j-- > 0;) {
      uint64_t off = (i + j) * GRAIN;

      ck_assert_int_eq (vmdk_stream_pwrite (w, data + off + GRAIN / 2,
                                            GRAIN / 2, off + GRAIN / 2), 0);
    }
    for (j = 8; j-- > 0;) {
      uint64_t off = (i + j) * GRAIN;

      ck_assert_int_eq (vmdk_stream_pwrite (w, data + off, GRAIN / 2, off),
                        0);
    }
  }
  vmdk_stream_close (w);
  ck_assert_uint_eq (check_structure (io, size / 512), ngr);
  verify (io, data, size);
  xd_io_close (io);
  free (data);
}
END_TEST

/* A grain rewritten after it was complete but before its turn. */
START_TEST (test_rewrite_in_window)
{
  uint64_t size = MIB;
  unsigned char *data = malloc (size);
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (size, &io);
  unsigned char buf[4096];

  fill (data, size, 0);
  ck_assert_int_eq (vmdk_stream_pwrite (w, data + GRAIN, 3 * GRAIN, GRAIN),
                    0);
  memset (buf, 'x', sizeof buf);
  memcpy (data + GRAIN + 100, buf, sizeof buf);
  ck_assert_int_eq (vmdk_stream_pwrite (w, buf, sizeof buf, GRAIN + 100), 0);
  /* Reads see the window. */
  ck_assert_int_eq (vmdk_stream_pread (w, buf, sizeof buf, GRAIN + 50), 0);
  ck_assert (memcmp (buf, data + GRAIN + 50, sizeof buf) == 0);
  ck_assert_int_eq (vmdk_stream_pread (w, buf, sizeof buf, 8 * GRAIN), 0);
  ck_assert (all_zero_buf (buf, sizeof buf));
  ck_assert_int_eq (vmdk_stream_pwrite (w, data, GRAIN, 0), 0);
  ck_assert_int_eq (vmdk_stream_flush (w), 0);
  /* Grains 0-3 are in the file now: reading them is refused. */
  ck_assert_int_eq (vmdk_stream_pread (w, buf, sizeof buf, GRAIN), -1);
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("already compressed");
  ck_assert_int_eq (vmdk_stream_pwrite (w, data + 4 * GRAIN, size - 4 * GRAIN,
                                        4 * GRAIN), 0);
  vmdk_stream_close (w);
  check_structure (io, size / 512);
  verify (io, data, size);
  xd_io_close (io);
  free (data);
}
END_TEST

/* zero() and all-zero writes store nothing; empty grain tables are 0 in
 * the directory; only the tables with grains are written.
 */
START_TEST (test_zero_grains)
{
  uint64_t size = UINT64_C (3) << 30;   /* 3 GiB: 96 grain tables */
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (size, &io);
  unsigned char *grain = malloc (GRAIN), *zeros = calloc (1, GRAIN);
  unsigned char *expect = calloc (1, 8 * MIB);
  const unsigned char *f;
  uint64_t off, gd;
  unsigned i;

  fill (grain, GRAIN, 7);
  ck_assert_int_eq (vmdk_stream_zero (w, 64 * GRAIN, 0), 0);
  ck_assert_int_eq (vmdk_stream_pwrite (w, zeros, GRAIN, 64 * GRAIN), 0);
  ck_assert_int_eq (vmdk_stream_pwrite (w, grain, GRAIN, 65 * GRAIN), 0);
  /* Zero up to 2 GiB in big requests, then one grain of data. */
  for (off = 66 * GRAIN; off < (UINT64_C (2) << 30); off += 32 * MIB) {
    uint64_t n = (UINT64_C (2) << 30) - off;

    ck_assert_int_eq (vmdk_stream_zero (w, n < 32 * MIB ? n : 32 * MIB, off),
                      0);
  }
  ck_assert_int_eq (vmdk_stream_pwrite (w, grain, GRAIN, UINT64_C (2) << 30),
                    0);
  /* Zeros over grains already settled (and not stored) are accepted. */
  ck_assert_int_eq (vmdk_stream_zero (w, GRAIN, 0), 0);
  ck_assert_int_eq (vmdk_stream_pwrite (w, zeros, 512, 3 * GRAIN), 0);
  vmdk_stream_close (w);
  ck_assert_uint_eq (check_structure (io, size / 512), 2);
  f = xd_io_memory_contents (io);
  /* The directory: the footer's gdOffset, tables 0 and 64 only. */
  gd = xd_le64 (f + io->size - 2 * 512 + 56);
  for (i = 0; i < 96; i++)
    ck_assert_msg ((xd_le32 (f + gd * 512 + 4 * i) != 0) == (i == 0 || i == 64),
                   "GD entry %u", i);
  ck_assert_uint_eq (xd_le32 (f + (gd - 1) * 512), 1);
  /* Read back the first 8 MiB and the grain at 2 GiB. */
  memcpy (expect + 65 * GRAIN, grain, GRAIN);
  {
    struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
    struct xd_resolver *res = xd_resolver_new_stream ("a test buffer");
    struct xd_io *rd = xd_io_open_memory (f, io->size, "out.vmdk");
    struct vmdk_disk *disk = vmdk_reader_open (rd, res, &opts);
    unsigned char *got = malloc (8 * MIB);

    ck_assert_ptr_nonnull (disk);
    ck_assert_int_eq (vmdk_disk_read (disk, got, 8 * MIB, 0), 0);
    ck_assert (memcmp (got, expect, 8 * MIB) == 0);
    ck_assert_int_eq (vmdk_disk_read (disk, got, GRAIN, UINT64_C (2) << 30),
                      0);
    ck_assert (memcmp (got, grain, GRAIN) == 0);
    ck_assert_int_eq (vmdk_disk_read (disk, got, GRAIN, size - GRAIN), 0);
    ck_assert (all_zero_buf (got, GRAIN));
    vmdk_reader_close (disk);
    xd_resolver_free (res);
    free (got);
  }
  xd_io_close (io);
  free (grain);
  free (zeros);
  free (expect);
}
END_TEST

/* Unaligned pieces that leave sectors half written: those grains wait
 * for finish, which writes them as they are.
 */
START_TEST (test_partial)
{
  uint64_t size = 2 * MIB, off;
  unsigned char *data = calloc (1, size), *piece = malloc (size);
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (size, &io);
  unsigned step = 0;

  fill (piece, size, 3);
  for (off = 7; off < size - 4000; off += 1000 + step) {
    unsigned n = 333 + (step * 97) % 3000;

    if (off + n > size)
      n = size - off;
    memcpy (data + off, piece + off, n);
    ck_assert_int_eq (vmdk_stream_pwrite (w, piece + off, n, off), 0);
    step++;
  }
  ck_assert_int_eq (vmdk_stream_finish (w), 0);
  /* Finished: no more writes. */
  ck_assert_int_eq (vmdk_stream_pwrite (w, piece, 512, 0), -1);
  ck_error_has ("finished");
  vmdk_stream_close (w);
  check_structure (io, size / 512);
  verify (io, data, size);
  xd_io_close (io);
  free (data);
  free (piece);
}
END_TEST

/* A write far beyond the window, with nobody filling the gap: after the
 * grace time the oldest grains go as they are, and a later write into
 * them is refused, naming the window.
 */
START_TEST (test_beyond_window)
{
  uint64_t size = 2 * MIB;
  unsigned char *data = calloc (1, size), *piece = malloc (size);
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (size, &io);

  fill (piece, size, 11);
  ck_assert_int_eq (vmdk_stream_set_window (w, 4 * GRAIN, 50, 10), 0);
  memcpy (data, piece, 1000);
  ck_assert_int_eq (vmdk_stream_pwrite (w, piece, 1000, 0), 0);
  memcpy (data + 20 * GRAIN, piece + 20 * GRAIN, GRAIN);
  ck_assert_int_eq (vmdk_stream_pwrite (w, piece + 20 * GRAIN, GRAIN,
                                        20 * GRAIN), 0);
  ck_assert_int_eq (vmdk_stream_set_window (w, 8 * GRAIN, 0, 0), -1);
  ck_assert_int_eq (vmdk_stream_pwrite (w, piece + 1000, 1000, 1000), -1);
  ck_assert_int_eq (errno, EIO);
  ck_error_has ("t.vmdk");
  ck_error_has ("window of 256 KiB");
  /* Zeros into a settled grain that was never stored are accepted. */
  ck_assert_int_eq (vmdk_stream_zero (w, GRAIN, 5 * GRAIN), 0);
  ck_assert_int_eq (vmdk_stream_pwrite (w, piece + 5 * GRAIN, 512,
                                        5 * GRAIN), -1);
  vmdk_stream_close (w);
  check_structure (io, size / 512);
  verify (io, data, size);
  xd_io_close (io);
  free (data);
  free (piece);
}
END_TEST

/* Several threads writing interleaved chunks (as nbdcopy's connections
 * do), with a window smaller than their spread: they wait for each
 * other, nothing is refused.
 */
struct worker {
  struct vmdk_stream_writer *w;
  const unsigned char *data;
  uint64_t size;
  unsigned id, nr;
  int result;
};

static void *
work (void *arg)
{
  struct worker *k = arg;
  uint64_t chunk = 256 * 1024, off;

  for (off = k->id * chunk; off < k->size; off += k->nr * chunk)
    if (vmdk_stream_pwrite (k->w, k->data + off, chunk, off) == -1) {
      k->result = -1;
      break;
    }
  return NULL;
}

static void
threads (unsigned workers)
{
  enum { NR = 4 };
  uint64_t size = 32 * MIB;
  unsigned char *data = malloc (size);
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (size, &io);
  struct worker k[NR];
  pthread_t t[NR];
  unsigned i;

  fill (data, size, 5);
  memset (data + 3 * MIB, 0, 5 * MIB);
  ck_assert_int_eq (vmdk_stream_set_window (w, 2 * MIB, 0, 0), 0);
  ck_assert_int_eq (vmdk_stream_set_workers (w, workers), 0);
  for (i = 0; i < NR; i++) {
    k[i] = (struct worker) { .w = w, .data = data, .size = size, .id = i,
                             .nr = NR };
    ck_assert_int_eq (pthread_create (&t[i], NULL, work, &k[i]), 0);
  }
  for (i = 0; i < NR; i++) {
    pthread_join (t[i], NULL);
    ck_assert_int_eq (k[i].result, 0);
  }
  vmdk_stream_close (w);
  ck_assert_uint_eq (check_structure (io, size / 512), size / GRAIN - 80);
  verify (io, data, size);
  xd_io_close (io);
  free (data);
}

START_TEST (test_threads)
{
  threads (VMDK_STREAM_MAX_WORKERS);
}
END_TEST

/* The same with no worker threads: the writing threads compress. */
START_TEST (test_threads_inline)
{
  threads (0);
}
END_TEST

START_TEST (test_errors)
{
  struct xd_create_opts co = { .size = 1000, .path = "bad.vmdk" };
  struct xd_io *io;
  struct vmdk_stream_writer *w;
  unsigned char buf[512] = { 1 };

  ck_assert_ptr_null (vmdk_stream_create (xd_io_new_memory_rw (NULL, 0, "b"),
                                          &co, NULL, NULL));
  ck_error_has ("multiple of 512");
  co.size = 0;
  ck_assert_ptr_null (vmdk_stream_create (xd_io_new_memory_rw (NULL, 0, "b"),
                                          &co, NULL, NULL));
  co.size = VMDK_STREAM_MAX_SIZE + 512;
  ck_assert_ptr_null (vmdk_stream_create (xd_io_new_memory_rw (NULL, 0, "b"),
                                          &co, NULL, NULL));
  ck_error_has ("2 TiB");
  w = make (MIB, &io);
  ck_assert_int_eq (vmdk_stream_set_window (w, 1000, 0, 0), -1);
  ck_assert_int_eq (vmdk_stream_set_window (w, 0, 0, 0), -1);
  ck_assert_int_eq (vmdk_stream_pwrite (w, buf, 512, MIB), -1);
  ck_error_has ("beyond the end");
  ck_assert_int_eq (vmdk_stream_pread (w, buf, 512, MIB - 256), -1);
  ck_assert_uint_eq (vmdk_stream_size (w), MIB);
  ck_assert_uint_eq (vmdk_stream_grain_bytes (w), GRAIN);
  ck_assert_int_eq (vmdk_stream_flush (w), 0);
  vmdk_stream_close (w);
  /* An empty disk: header, descriptor, GD, footer, EOS. */
  ck_assert_uint_eq (check_structure (io, MIB / 512), 0);
  ck_assert_uint_eq (io->size, (128 + 2 + 3) * 512);
  xd_io_close (io);
}
END_TEST

/* The descriptor, as VMware writes it. */
START_TEST (test_descriptor)
{
  struct xd_io *io;
  struct vmdk_stream_writer *w = make (UINT64_C (40) << 30, &io);
  const char *d;
  struct vmdk_descriptor desc;

  vmdk_stream_close (w);
  d = (const char *) xd_io_memory_contents (io) + 512;
  ck_assert_int_eq (strncmp (d, "# Disk DescriptorFile\nversion=1\nCID=", 36),
                    0);
  ck_assert_ptr_nonnull (strstr (d, "\nparentCID=ffffffff\n"));
  ck_assert_ptr_nonnull (strstr (d, "\n# Extent description\n"
                                 "RW 83886080 SPARSE \"t.vmdk\"\n\n"
                                 "# The Disk Data Base \n#DDB\n\n"));
  ck_assert_ptr_nonnull (strstr (d, "ddb.adapterType = \"lsilogic\"\n"));
  ck_assert_ptr_nonnull (strstr (d, "ddb.geometry.cylinders = \"5221\"\n"
                                 "ddb.geometry.heads = \"255\"\n"
                                 "ddb.geometry.sectors = \"63\"\n"));
  ck_assert_ptr_nonnull (strstr (d, "ddb.virtualHWVersion = \"7\"\n"));
  ck_assert_int_eq (vmdk_parse_descriptor (d, 512 * xd_le64 (
                      xd_io_memory_contents (io) + 36), "t.vmdk", &desc), 0);
  ck_assert_str_eq (desc.create_type, "streamOptimized");
  ck_assert_uint_eq (desc.extents[0].sectors, 83886080);
  vmdk_descriptor_free (&desc);
  xd_io_close (io);
}
END_TEST

/* The header and the descriptor come from the creator's one writer
 * (vmdk-layout.c): every byte of both, for fixed IDs, with the
 * geometry VMware's exporters write (255 heads at any size, where a
 * hosted disk of 100 MiB gets 64).
 */
START_TEST (test_shared_writer)
{
  const struct vmdk_new_ids ids = {
    .cid = 0x12345678, .content = { 0x9abcdef0, 0x0fedcba9, 0x87654321 },
  };
  unsigned char h[512], want[512];
  char *d;

  d = vmdk_stream_descriptor (204800, "x.vmdk", "lsilogic", "7", &ids);
  ck_assert_ptr_nonnull (d);
  ck_assert_str_eq (d,
                    "# Disk DescriptorFile\n"
                    "version=1\n"
                    "CID=12345678\n"
                    "parentCID=ffffffff\n"
                    "createType=\"streamOptimized\"\n"
                    "\n"
                    "# Extent description\n"
                    "RW 204800 SPARSE \"x.vmdk\"\n"
                    "\n"
                    "# The Disk Data Base \n"
                    "#DDB\n"
                    "\n"
                    "ddb.adapterType = \"lsilogic\"\n"
                    "ddb.geometry.cylinders = \"12\"\n"
                    "ddb.geometry.heads = \"255\"\n"
                    "ddb.geometry.sectors = \"63\"\n"
                    "ddb.longContentID = "
                    "\"9abcdef00fedcba98765432112345678\"\n"
                    "ddb.virtualHWVersion = \"7\"\n");
  free (d);
  d = vmdk_stream_descriptor (UINT64_C (40) << 21, "y.vmdk", "ide", "4",
                              &ids);
  ck_assert_ptr_nonnull (d);
  ck_assert_ptr_nonnull (strstr (d, "ddb.adapterType = \"ide\"\n"
                                 "ddb.geometry.cylinders = \"16383\"\n"
                                 "ddb.geometry.heads = \"16\"\n"
                                 "ddb.geometry.sectors = \"63\"\n"));
  free (d);

  memset (h, 0xee, sizeof h);
  vmdk_put_sparse_header (h, &(struct vmdk_sparse_layout) {
      .version = 3, .flags = 0x30001, .capacity = 204800, .desc_offset = 1,
      .desc_sectors = 1, .gd_offset = UINT64_MAX, .overhead = 128,
      .compress = 1,
    });
  memset (want, 0, sizeof want);
  memcpy (want, "KDMV", 4);
  want[4] = 3;
  want[8] = 1;
  want[10] = 3;                 /* flags 0x30001 */
  xd_put_le64 (want + 12, 204800);
  want[20] = 128;               /* grain sectors */
  want[28] = 1;                 /* descriptor offset */
  want[36] = 1;                 /* descriptor sectors */
  xd_put_le32 (want + 44, 512); /* grain table entries */
  xd_put_le64 (want + 56, UINT64_MAX);
  want[64] = 128;               /* overhead */
  memcpy (want + 73, "\n \r\n", 4);
  want[77] = 1;                 /* deflate */
  ck_assert_mem_eq (h, want, sizeof h);
}
END_TEST

/* A disk that fills up: writes past CAP bytes fail with ENOSPC. */
struct small_disk {
  unsigned char *buf;
  size_t cap;
};

static int
small_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct small_disk *d = io->priv;

  memcpy (buf, d->buf + offset, count);
  return 0;
}

static int
small_pwrite (struct xd_io *io, const void *buf, size_t count,
              uint64_t offset)
{
  struct small_disk *d = io->priv;

  if (offset + count > d->cap) {
    errno = ENOSPC;
    return -1;
  }
  memcpy (d->buf + offset, buf, count);
  return 0;
}

static int
small_flush (struct xd_io *io __attribute__ ((unused)))
{
  return 0;
}

static int
small_truncate (struct xd_io *io, uint64_t size)
{
  struct small_disk *d = io->priv;

  if (size > d->cap)
    return errno = ENOSPC, -1;
  return 0;
}

static void
small_close (struct xd_io *io)
{
  struct small_disk *d = io->priv;

  free (d->buf);
  free (d);
}

static const struct xd_io_ops small_ops = {
  .pread = small_pread, .pwrite = small_pwrite, .flush = small_flush,
  .truncate = small_truncate, .close = small_close,
};

START_TEST (test_disk_full)
{
  struct small_disk *d = malloc (sizeof *d);
  struct xd_create_opts co = { .size = 4 * MIB, .path = "full.vmdk" };
  struct xd_io *io;
  struct vmdk_stream_writer *w;
  unsigned char *data = malloc (4 * MIB);
  uint64_t off, good_end;
  int r = 0;

  d->cap = 200 * 1024;
  d->buf = calloc (1, d->cap);
  io = xd_io_new (&small_ops, "full.vmdk", 0, d);
  ck_assert_ptr_nonnull (io);
  xd_io_ref (io);
  w = vmdk_stream_create (io, &co, "ide", "4");
  ck_assert_ptr_nonnull (w);
  fill (data, 4 * MIB, 1);
  /* Grains compress in the background: the failure reaches a later
   * request, or finish.
   */
  for (off = 0; off < 4 * MIB && r == 0; off += GRAIN)
    r = vmdk_stream_pwrite (w, data + off, GRAIN, off);
  if (r == 0)
    r = vmdk_stream_finish (w);
  ck_assert_int_eq (r, -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_error_has ("full.vmdk");
  ck_assert_int_eq (vmdk_stream_pwrite (w, data, GRAIN, 4 * MIB - GRAIN), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert_int_eq (vmdk_stream_flush (w), -1);
  ck_assert_int_eq (vmdk_stream_finish (w), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert_int_eq (vmdk_stream_finish (w), -1);
  good_end = io->size;
  vmdk_stream_close (w);
  /* What is in the file is whole grains after the header. */
  ck_assert_uint_eq (good_end % 512, 0);
  ck_assert_uint_le (good_end, d->cap);
  ck_assert_uint_eq (xd_le32 (d->buf), VMDK_MAGIC_KDMV);
  ck_assert_ptr_nonnull (strstr ((const char *) d->buf + 512,
                                 "ddb.adapterType = \"ide\"\n"
                                 "ddb.geometry.cylinders = \"8\"\n"
                                 "ddb.geometry.heads = \"16\"\n"));
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
  tcase_add_test (tc, test_out_of_order);
  tcase_add_test (tc, test_rewrite_in_window);
  tcase_add_test (tc, test_zero_grains);
  tcase_add_test (tc, test_partial);
  tcase_add_test (tc, test_beyond_window);
  tcase_add_test (tc, test_threads);
  tcase_add_test (tc, test_threads_inline);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_descriptor);
  tcase_add_test (tc, test_shared_writer);
  tcase_add_test (tc, test_disk_full);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
