/* xdisk fuzz target: VHDX metadata read through an xd_io: both headers,
 * the log replay (the overlay it builds is read back and its allocation
 * map checked), the region tables, the metadata table and items (with
 * the parent locator) and the derived parameters of vhdx_read_info.
 *
 * A VHDX is at least a few MiB, mostly zeros: inputs are bundles
 * (fuzz.h) whose first file is the image; fuzz-pack makes them.
 */

#include <config.h>

#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "vhd/vhdx.h"
#include "include/xd-math.h"

/* memcmp rather than a byte loop, which coverage would instrument. */
static bool
is_zero (const uint8_t *p, size_t len)
{
  static const uint8_t zeros[4096];

  return memcmp (p, zeros, len) == 0;
}

/* Walk the allocation map of IO (at most 64 runs): what it calls a hole
 * must read as zeros.
 */
static void
check_allocation (struct xd_io *io)
{
  static uint8_t buf[4096];
  uint64_t off = 0, run;
  unsigned long before;
  size_t n;
  unsigned i;
  bool is_data;
  int r;

  for (i = 0; i < 64 && off < io->size; i++, off += run) {
    before = fz_begin ();
    r = xd_io_allocation (io, off, &is_data, &run);
    fz_check_failure (r, before, "xd_io_allocation");
    if (r == -1)
      return;
    if (run == 0 || run > io->size - off)
      fz_fail ("allocation at %" PRIu64 ": run %" PRIu64 " in a file of %"
               PRIu64 " bytes", off, run, io->size);
    /* Reading data runs too applies the replayed writes. */
    n = xd_min_u64 (run, sizeof buf);
    if (xd_io_read (io, buf, n, off, "run") == 0 && !is_data &&
        !is_zero (buf, n))
      fz_fail ("allocation at %" PRIu64 ": a hole does not read as zeros",
               off);
  }
}

static void
check_info (struct xd_io *io, const struct vhdx_info *x)
{
  uint64_t last_block;

  if (!xd_is_power_of_2 (x->block_size) || x->chunk_ratio == 0 ||
      x->data_blocks == 0 || x->bat_entries * 8 > x->bat_length ||
      !xd_io_contains (io, x->bat_offset, x->bat_length) ||
      !xd_io_contains (io, x->metadata_offset, x->metadata_length))
    fz_fail ("vhdx_read_info accepted block size %" PRIu32 ", BAT %" PRIu64
             "+%" PRIu32 " for %" PRIu64 " entries", x->block_size,
             x->bat_offset, x->bat_length, x->bat_entries);
  last_block = x->data_blocks - 1;
  if (vhdx_bat_index_of_block (x, last_block) >= x->bat_entries ||
      (x->has_parent &&
       vhdx_bat_index_of_bitmap (x, last_block / x->chunk_ratio)
       >= x->bat_entries))
    fz_fail ("the BAT index of block %" PRIu64 " is beyond the %" PRIu64
             " entries", last_block, x->bat_entries);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const uint8_t zero_guid[16];
  struct fz_bundle b;
  struct vhdx_info first, info;
  struct xd_io *io, *replayed;
  unsigned long before;
  unsigned entries;
  int r;

  fz_init ();
  fz_bundle_parse (data, size, "fuzz.vhdx", &b);
  if (fz_want_fixed_checksums (size))
    fz_fix_checksums (&b);
  io = fz_io_open (&b.files[0]);
  vhdx_probe (io);
  before = fz_begin ();
  r = vhdx_read_headers (io, &first);
  fz_check_failure (r, before, "vhdx_read_headers");
  if (r == 0 && memcmp (first.header.log_guid, zero_guid, 16) != 0) {
    before = fz_begin ();
    r = vhdx_replay_log (io, &first.header, &replayed, &entries);
    fz_check_failure (r, before, "vhdx_replay_log");
    if (r == 0 && replayed != io) {
      /* The log may grow the file (LastFileOffset), within reason. */
      if (replayed->size > xd_max_u64 (io->size, UINT64_C (1) << 50))
        fz_fail ("the replayed log makes the file %" PRIu64 " bytes",
                 replayed->size);
      io = replayed;
      check_allocation (io);
    }
  }
  before = fz_begin ();
  r = vhdx_read_info (io, &info);
  fz_check_failure (r, before, "vhdx_read_info");
  if (r == 0) {
    check_info (io, &info);
    vhdx_info_free (&info);
  }
  xd_io_close (io);
  fz_bundle_free (&b);
  return 0;
}
