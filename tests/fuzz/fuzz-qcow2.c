/* xdisk fuzz target: qcow2 metadata read through an xd_io: the header
 * and its extensions (feature names, backing format, data file name,
 * encryption pointer), the backing file name, the active L1 table and
 * every L2 table offset in it, the snapshot table and each snapshot's
 * L1 table placement, and the decoding of compressed cluster
 * descriptors.
 *
 * The input is a qcow2 file, or a bundle (fuzz.h) whose first file is.
 */

#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qcow2/qcow2.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"

static void
check_header (struct xd_io *io, const struct qcow2_header *h)
{
  if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
      h->cluster_bits > QCOW2_MAX_CLUSTER_BITS ||
      h->size > QCOW2_MAX_SIZE || h->crypt_method != 0 ||
      (h->incompatible & ~QCOW2_INCOMPAT_KNOWN) ||
      (h->l1_size && !xd_io_contains (io, h->l1_offset,
                                      (uint64_t) h->l1_size * 8)) ||
      h->l1_size < qcow2_l1_entries_needed (h, h->size))
    fz_fail ("qcow2_read_header accepted cluster_bits %" PRIu32 ", size %"
             PRIu64 ", L1 %" PRIu64 "+%" PRIu32, h->cluster_bits, h->size,
             h->l1_offset, h->l1_size);
  if (h->backing_file && (strlen (h->backing_file) == 0 ||
                          strlen (h->backing_file) > QCOW2_MAX_BACKING_NAME))
    fz_fail ("backing file name of %zu bytes", strlen (h->backing_file));
}

static void
check_l1 (struct xd_io *io, const struct qcow2_header *h)
{
  unsigned long before = fz_begin ();
  uint64_t *l1, off, len;
  uint32_t i;
  int r;

  r = qcow2_load_l1 (io, h, h->l1_offset, h->l1_size, &l1);
  fz_check_failure (r, before, "qcow2_load_l1");
  if (r == -1)
    return;
  for (i = 0; i < h->l1_size; i++) {
    if (l1[i] && ((l1[i] & (h->cluster_size - 1)) ||
                  !xd_io_contains (io, l1[i], h->cluster_size)))
      fz_fail ("L1 entry %" PRIu32 " = %" PRIu64 " accepted", i, l1[i]);
    /* Decode the entry as if it were a compressed descriptor. */
    qcow2_compressed_range (h, l1[i] | (uint64_t) i << 40, &off, &len);
    if (len == 0 || len > (UINT64_C (1) << (h->cluster_bits + 1)))
      fz_fail ("compressed descriptor length %" PRIu64, len);
  }
  free (l1);
}

static void
check_snapshots (struct xd_io *io, const struct qcow2_header *h)
{
  unsigned long before = fz_begin ();
  struct qcow2_snapshot *s;
  uint32_t i;
  int r;

  r = qcow2_read_snapshots (io, h, &s);
  fz_check_failure (r, before, "qcow2_read_snapshots");
  if (r == -1)
    return;
  for (i = 0; i < h->nb_snapshots; i++) {
    if (s[i].disk_size > QCOW2_MAX_SIZE)
      fz_fail ("snapshot disk size %" PRIu64, s[i].disk_size);
    before = fz_begin ();
    r = qcow2_check_l1 (h, io->name, io->size, s[i].l1_offset,
                        s[i].l1_size, 0, "snapshot L1");
    fz_check_failure (r, before, "qcow2_check_l1");
    if (qcow2_find_snapshot (s, h->nb_snapshots, s[i].id) == NULL)
      fz_fail ("snapshot %s not found by its id", s[i].id);
  }
  qcow2_snapshots_free (s, h->nb_snapshots);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_bundle b;
  struct qcow2_header h;
  struct xd_io *io;
  unsigned long before;
  size_t i;
  int r;

  fz_init ();
  fz_bundle_parse (data, size, "disk.qcow2", &b);
  io = fz_io_open (&b.files[0]);
  before = fz_begin ();
  r = qcow2_read_header (io, &h);
  fz_check_failure (r, before, "qcow2_read_header");
  if (r == 0) {
    check_header (io, &h);
    for (i = 0; i < 64; i++)
      qcow2_feature_name (&h, i % 3, i);
    check_l1 (io, &h);
    check_snapshots (io, &h);
    qcow2_header_free (&h);
  }
  xd_io_close (io);
  fz_bundle_free (&b);
  return 0;
}
