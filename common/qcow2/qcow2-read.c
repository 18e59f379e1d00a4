/* xdisk: reading qcow2 images (the format table is in qcow2-format.c).
 *
 * A guest offset maps through the L1 table (in memory) and an L2 table
 * (one cluster, through a bounded xd_cache) to a cluster descriptor:
 * unallocated (read the backing file, or zeros), zero, data at a host
 * offset (in this file or the external data file), or compressed.  With
 * extended L2 entries each cluster is 32 subclusters with their own
 * allocation and zero bits.  Reads walk runs of neighbouring clusters
 * of one kind, so a run of data clusters that are contiguous in the
 * file is one pread.  Compressed clusters inflate without any lock
 * held, into the caller's buffer when it wants the whole cluster, else
 * through a small cache of inflated clusters.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "qcow2/qcow2.h"
#include "include/xd-bytes.h"
#include "io/xd-cache.h"
#include "core/xd-format.h"
#include "io/xd-codec.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define MAX_INFLATED_CLUSTERS 16

struct qcow2_disk {
  struct xd_io *io;             /* the qcow2 file */
  struct xd_io *data;           /* guest clusters: io or the data file */
  struct qcow2_header h;
  struct qcow2_snapshot *snaps;
  const struct qcow2_snapshot *snap;    /* served, or NULL */
  uint64_t size;                /* served */
  uint64_t *l1;                 /* L2 table offsets */
  uint32_t l1_size;
  struct xd_cache *l2_cache;    /* key: L1 index */
  struct xd_cache *cluster_cache;       /* inflated; key: descriptor */
  struct xd_inflaters *inflaters;       /* deflate and zstd */
  struct xd_image *backing;
  uint64_t backing_size;
  bool corrupt;                 /* the corrupt bit was set */
};

/* One run of guest bytes of a single kind. */
enum run_kind { RUN_UNALLOCATED, RUN_ZERO, RUN_ZERO_ALLOC, RUN_DATA,
                RUN_COMPRESSED };

struct run {
  enum run_kind kind;
  uint64_t length;
  uint64_t host;                /* RUN_DATA: host offset of the start */
  uint64_t entry;               /* RUN_COMPRESSED: the L2 entry */
};

/* ---- L2 tables ---- */

static int
load_l2 (void *opaque, uint64_t key, void *buf)
{
  struct qcow2_disk *d = opaque;
  char what[64];

  snprintf (what, sizeof what, "L2 table %" PRIu64, key);
  return xd_io_read (d->io, buf, d->h.cluster_size, d->l1[key], what);
}

#define bad_entry(d, off, fmt, ...)                                     \
  do {                                                                  \
    xd_error ("%s: L2 entry for guest offset %" PRIu64 ": " fmt,        \
              (d)->io->name, (off), ##__VA_ARGS__);                     \
    errno = EIO;                                                        \
    return -1;                                                          \
  } while (0)

/* Classify the guest byte OFFSET from its L2 entry E (and subcluster
 * bitmap BITMAP with extended L2 entries) into R: its kind, the host
 * offset for data, and the bytes to the end of its cluster or
 * subcluster.
 */
static int
classify (const struct qcow2_disk *d, uint64_t offset, uint64_t e,
          uint64_t bitmap, struct run *r)
{
  const struct qcow2_header *h = &d->h;
  uint64_t within = offset & (h->cluster_size - 1);
  uint64_t host = e & QCOW2_OFFSET_MASK;
  bool allocated, zero;
  unsigned sc;

  r->entry = e;
  if (e & QCOW2_COMPRESSED) {
    if (d->data != d->io)
      bad_entry (d, offset, "compressed cluster in an image with an "
                 "external data file");
    r->kind = RUN_COMPRESSED;
    r->length = h->cluster_size - within;
    return 0;
  }
  if (host & (h->cluster_size - 1))
    bad_entry (d, offset, "host offset %" PRIu64 " is not cluster-aligned",
               host);
  allocated = host != 0 || (d->data != d->io && (e & QCOW2_COPIED));
  if (!h->extended_l2) {
    r->length = h->cluster_size - within;
    zero = (e & QCOW2_ZERO_FLAG) != 0;
    if (zero && h->version < 3)
      bad_entry (d, offset, "zero cluster flag in a version 2 image");
  }
  else {
    sc = within >> h->subcluster_bits;
    r->length = (UINT64_C (1) << h->subcluster_bits)
      - (within & ((UINT64_C (1) << h->subcluster_bits) - 1));
    zero = (bitmap >> (32 + sc)) & 1;
    if ((bitmap >> sc) & 1) {
      if (zero)
        bad_entry (d, offset, "subcluster %u is both allocated and zero",
                   sc);
      if (!allocated)
        bad_entry (d, offset, "subcluster %u is allocated in a cluster "
                   "without a host offset", sc);
      host += (uint64_t) sc << h->subcluster_bits;
    }
    else if (!zero)
      allocated = false;
  }
  if (zero)
    r->kind = allocated ? RUN_ZERO_ALLOC : RUN_ZERO;
  else if (allocated) {
    r->kind = RUN_DATA;
    r->host = host + (within & ((UINT64_C (1) << h->subcluster_bits) - 1));
  }
  else
    r->kind = RUN_UNALLOCATED;
  return 0;
}

/* True if NEXT continues R (same kind, and for data the next host
 * byte).  Compressed clusters are never merged.
 */
static bool
continues (const struct run *r, const struct run *next)
{
  if (r->kind != next->kind || r->kind == RUN_COMPRESSED)
    return false;
  return r->kind != RUN_DATA || next->host == r->host + r->length;
}

/* Find the run starting at guest OFFSET, at most MAX bytes, within one
 * L2 table.
 */
static int
lookup (struct qcow2_disk *d, uint64_t offset, uint64_t max, struct run *r)
{
  const struct qcow2_header *h = &d->h;
  unsigned shift = h->cluster_bits + h->l2_bits;
  uint64_t l1i = offset >> shift;
  uint64_t end = xd_min_u64 (offset + max, (l1i + 1) << shift);
  uint64_t pos, idx, mask = (UINT64_C (1) << h->l2_bits) - 1;
  const uint8_t *table;
  const uint8_t *p;
  struct run next;
  int ret = 0;

  if (l1i >= d->l1_size || d->l1[l1i] == 0) {
    r->kind = RUN_UNALLOCATED;
    r->length = end - offset;
    return 0;
  }
  table = xd_cache_pin (d->l2_cache, l1i, load_l2, d);
  if (table == NULL)
    return -1;
  for (pos = offset; pos < end; pos += next.length) {
    idx = (pos >> h->cluster_bits) & mask;
    p = table + idx * h->l2_entry_bytes;
    if (classify (d, pos, xd_be64 (p), h->extended_l2 ? xd_be64 (p + 8) : 0,
                  &next) == -1) {
      ret = -1;
      break;
    }
    if (pos == offset)
      *r = next;
    else if (continues (r, &next))
      r->length += next.length;
    else
      break;
  }
  xd_cache_unpin (d->l2_cache, table);
  if (ret == 0 && r->length > end - offset)
    r->length = end - offset;
  return ret;
}

/* ---- reading runs ---- */

static int
read_backing (struct qcow2_disk *d, uint8_t *buf, uint64_t count,
              uint64_t offset)
{
  uint64_t n = 0;

  if (d->backing && offset < d->backing_size) {
    n = xd_min_u64 (count, d->backing_size - offset);
    if (xd_image_read (d->backing, buf, n, offset) == -1)
      return -1;
  }
  memset (buf + n, 0, count - n);
  return 0;
}

/* Data clusters must lie inside the file, but the last one may be cut
 * short by its end (a file truncated after its last write): those bytes
 * read as zeros, as in qemu.  Returns the bytes of [HOST, HOST+COUNT)
 * inside the file, or -1 after reporting.
 */
static int64_t
data_in_file (struct qcow2_disk *d, uint64_t count, uint64_t host,
              uint64_t offset)
{
  struct xd_io *io = d->data;
  uint64_t limit = io->size, end;

  xd_round_up_overflow (io->size, d->h.cluster_size, &limit);
  if (xd_add_overflow (host, count, &end) || end > limit) {
    xd_error ("%s: guest offset %" PRIu64 ": data cluster at host offset "
              "%" PRIu64 " (%" PRIu64 " bytes) is beyond the end of %s "
              "(size %" PRIu64 ")", d->io->name, offset, host, count,
              io->name, io->size);
    errno = EIO;
    return -1;
  }
  return host < io->size ? xd_min_u64 (count, io->size - host) : 0;
}

static int
read_data (struct qcow2_disk *d, uint8_t *buf, uint64_t count, uint64_t host,
           uint64_t offset)
{
  int64_t n = data_in_file (d, count, host, offset);

  if (n == -1)
    return -1;
  if (n > 0 && xd_io_read (d->data, buf, n, host, "data cluster") == -1)
    return -1;
  memset (buf + n, 0, count - n);
  return 0;
}

/* ---- compressed clusters ---- */

static int
bad_compressed (struct qcow2_disk *d, uint64_t host, const char *why,
                const char *lib, const char *err)
{
  xd_error ("%s: compressed cluster at host offset %" PRIu64 " %s "
            "(%s: %s)", d->io->name, host, why, lib, err);
  errno = EIO;
  return -1;
}

/* Decompress the cluster stored as LEN bytes at HOST into OUT (one
 * cluster): raw deflate or zstd frames, either followed by padding to
 * the sector (or by the next compressed cluster).
 */
static int
decompress (struct qcow2_disk *d, enum xd_deflate_wrap how, uint64_t host,
            size_t len, uint8_t *out)
{
  struct xd_inflater *inf;
  size_t got = 0;
  int r;

  inf = xd_inflater_get (d->inflaters, len);
  if (inf == NULL) {
    xd_error ("%s: cannot allocate an inflater: %m", d->io->name);
    return -1;
  }
  if (xd_io_read (d->io, xd_inflater_input (inf), len, host,
                  "compressed cluster") == -1) {
    xd_inflater_put (d->inflaters, inf);
    return -1;
  }
  r = xd_inflater_run (inf, how, len, out, d->h.cluster_size, &got);
  xd_inflater_put (d->inflaters, inf);
  if (r != 0 || got != d->h.cluster_size) {
    char err[128];
    if (how != XD_ZSTD) {
      snprintf (err, sizeof err, "error %d, %zu bytes out", r, got);
      return bad_compressed (d, host, "does not inflate to a cluster",
                             xd_inflate_library (), err);
    }
    snprintf (err, sizeof err, "%s, %zu bytes out",
              r ? xd_inflate_error (how, r) : "truncated", got);
    return bad_compressed (d, host, "does not decompress to a cluster",
                           "zstd", err);
  }
  return 0;
}

/* Inflate the compressed cluster of L2 entry ENTRY into OUT (one
 * cluster).
 */
static int
inflate_cluster (struct qcow2_disk *d, uint64_t entry, uint8_t *out)
{
  uint64_t host, len;

  qcow2_compressed_range (&d->h, entry, &host, &len);
  if (host >= d->io->size) {
    xd_error ("%s: compressed cluster at host offset %" PRIu64 " is beyond "
              "the end of the file (size %" PRIu64 ")", d->io->name, host,
              d->io->size);
    errno = EIO;
    return -1;
  }
  /* The last sector may run past the end of the file. */
  len = xd_min_u64 (len, d->io->size - host);
  if (d->h.compression == QCOW2_ZSTD) {
#ifdef HAVE_LIBZSTD
    return decompress (d, XD_ZSTD, host, len, out);
#else
    xd_error ("%s: the image has zstd-compressed clusters, but this plugin "
              "was built without libzstd", d->io->name);
    errno = EIO;
    return -1;
#endif
  }
  return decompress (d, XD_DEFLATE_RAW, host, len, out);
}

static int
load_cluster (void *opaque, uint64_t key, void *buf)
{
  return inflate_cluster (opaque, key, buf);
}

static int
read_compressed (struct qcow2_disk *d, uint8_t *buf, uint64_t count,
                 uint64_t offset, uint64_t entry)
{
  uint64_t within = offset & (d->h.cluster_size - 1);
  uint64_t key = entry & ~(QCOW2_COPIED | QCOW2_COMPRESSED);
  const uint8_t *c;

  if (within == 0 && count == d->h.cluster_size)
    return inflate_cluster (d, entry, buf);
  c = xd_cache_pin (d->cluster_cache, key, load_cluster, d);
  if (c == NULL)
    return -1;
  memcpy (buf, c + within, count);
  xd_cache_unpin (d->cluster_cache, c);
  return 0;
}

int
qcow2_pread (void *hv, void *bufv, uint32_t count, uint64_t offset)
{
  struct qcow2_disk *d = hv;
  uint8_t *buf = bufv;
  struct run r;
  int ret = 0;

  while (count > 0 && ret == 0) {
    if (lookup (d, offset, count, &r) == -1)
      return -1;
    switch (r.kind) {
    case RUN_UNALLOCATED:
      ret = read_backing (d, buf, r.length, offset);
      break;
    case RUN_ZERO:
    case RUN_ZERO_ALLOC:
      memset (buf, 0, r.length);
      break;
    case RUN_DATA:
      ret = read_data (d, buf, r.length, r.host, offset);
      break;
    case RUN_COMPRESSED:
      ret = read_compressed (d, buf, r.length, offset, r.entry);
      break;
    }
    buf += r.length;
    offset += r.length;
    count -= r.length;
  }
  return ret;
}

/* ---- extents ---- */

/* Extents of the backing image for unallocated bytes, clipped to it. */
static int
backing_extents (struct qcow2_disk *d, uint64_t count, uint64_t offset,
                 bool req_one, xd_extent_fn add, void *opaque)
{
  uint64_t n = 0;

  if (d->backing && offset < d->backing_size) {
    n = xd_min_u64 (count, d->backing_size - offset);
    if (xd_image_extents (d->backing, n, offset, req_one, add, opaque) == -1)
      return -1;
    if (req_one)
      return 0;
  }
  if (n < count)
    return add (opaque, offset + n, count - n, XD_EXTENT_UNALLOCATED);
  return 0;
}

/* Data clusters whose host bytes are a hole in the file (preallocated
 * metadata, zeros written as holes) read as zeros: report them as
 * allocated zeros, as qemu's map does; so do the bytes of the last
 * cluster past the end of the file.
 */
static int
data_extents (struct qcow2_disk *d, uint64_t count, uint64_t offset,
              uint64_t host, bool req_one, xd_extent_fn add, void *opaque)
{
  uint64_t run, n;
  bool is_data;

  if (data_in_file (d, count, host, offset) == -1)
    return -1;
  while (count > 0) {
    if (host >= d->data->size) {
      is_data = false;
      run = count;
    }
    else if (xd_io_allocation (d->data, host, &is_data, &run) == -1)
      return -1;
    n = xd_min_u64 (run, count);
    if (add (opaque, offset, n,
             is_data ? XD_EXTENT_DATA : XD_EXTENT_ZERO) == -1)
      return -1;
    if (req_one)
      return 0;
    offset += n;
    host += n;
    count -= n;
  }
  return 0;
}

int
qcow2_extents (void *hv, uint32_t count, uint64_t offset, bool req_one,
               xd_extent_fn add, void *opaque)
{
  struct qcow2_disk *d = hv;
  struct run r;
  int ret = 0;

  while (count > 0) {
    if (lookup (d, offset, count, &r) == -1)
      return -1;
    switch (r.kind) {
    case RUN_UNALLOCATED:
      ret = backing_extents (d, r.length, offset, req_one, add, opaque);
      break;
    case RUN_ZERO:
      ret = add (opaque, offset, r.length, XD_EXTENT_UNALLOCATED);
      break;
    case RUN_ZERO_ALLOC:
      ret = add (opaque, offset, r.length, XD_EXTENT_ZERO);
      break;
    case RUN_DATA:
      ret = data_extents (d, r.length, offset, r.host, req_one, add, opaque);
      break;
    case RUN_COMPRESSED:
      ret = add (opaque, offset, r.length, XD_EXTENT_DATA);
      break;
    }
    if (ret == -1 || req_one)
      return ret;
    offset += r.length;
    count -= r.length;
  }
  return 0;
}

/* ---- opening ---- */

void
qcow2_close (void *hv)
{
  struct qcow2_disk *d = hv;

  if (d == NULL)
    return;
  if (d->backing)
    xd_image_close (d->backing);
  if (d->l2_cache)
    xd_cache_free (d->l2_cache);
  if (d->cluster_cache)
    xd_cache_free (d->cluster_cache);
  if (d->inflaters)
    xd_inflaters_free (d->inflaters);
  if (d->data && d->data != d->io)
    xd_io_close (d->data);
  xd_io_close (d->io);
  qcow2_snapshots_free (d->snaps, d->h.nb_snapshots);
  qcow2_header_free (&d->h);
  free (d->l1);
  free (d);
}

/* Choose the L1 table: the active one, or a snapshot's. */
static int
open_l1 (struct qcow2_disk *d, const char *key)
{
  uint64_t off = d->h.l1_offset;
  char what[80];

  d->l1_size = d->h.l1_size;
  d->size = d->h.size;
  if (key) {
    d->snap = qcow2_find_snapshot (d->snaps, d->h.nb_snapshots, key);
    if (d->snap == NULL) {
      xd_error ("%s: snapshot=%s: no internal snapshot has that id or "
                "name (the image has %" PRIu32 ")", d->io->name, key,
                d->h.nb_snapshots);
      errno = ENOENT;
      return -1;
    }
    snprintf (what, sizeof what, "L1 table of snapshot %s", d->snap->id);
    if (qcow2_check_l1 (&d->h, d->io->name, d->io->size, d->snap->l1_offset,
                        d->snap->l1_size, 0, what) == -1)
      return -1;
    off = d->snap->l1_offset;
    d->l1_size = d->snap->l1_size;
    d->size = d->snap->disk_size;
  }
  /* qemu serves whole sectors of the virtual size. */
  if (d->size % 512)
    xd_debug ("%s: virtual size %" PRIu64 " is not a multiple of 512: "
              "serving %" PRIu64 " bytes, as qemu does", d->io->name,
              d->size, d->size / 512 * 512);
  d->size = d->size / 512 * 512;
  return qcow2_load_l1 (d->io, &d->h, off, d->l1_size, &d->l1);
}

static int
open_caches (struct qcow2_disk *d, const struct xd_open_opts *opts)
{
  uint64_t cs = d->h.cluster_size;
  size_t n;

  n = xd_cache_entries_for (opts->cache_bytes, cs, 4);
  d->l2_cache = xd_cache_new (cs, n);
  if (d->l2_cache == NULL)
    return -1;
  n = xd_cache_entries_for (opts->cache_bytes / 4, cs, 2);
  d->cluster_cache = xd_cache_new (cs, n > MAX_INFLATED_CLUSTERS
                                   ? MAX_INFLATED_CLUSTERS : n);
  if (d->cluster_cache == NULL)
    return -1;
  d->inflaters = xd_inflaters_new ();
  if (d->inflaters == NULL) {
    xd_error ("%s: cannot allocate the inflater pool: %m", d->io->name);
    return -1;
  }
  return 0;
}

static int
open_data_file (struct qcow2_disk *d, const struct xd_resolver *res)
{
  if (!(d->h.incompatible & QCOW2_INCOMPAT_DATA_FILE))
    return 0;
  if (d->h.data_file == NULL) {
    xd_error ("%s: the image keeps its data in an external data file but "
              "does not name it (no data file header extension)",
              d->io->name);
    errno = EIO;
    return -1;
  }
  d->data = xd_resolver_open (res, d->io->name, d->h.data_file, "data file");
  return d->data ? 0 : -1;
}

/* qemu's names for formats that this pack calls otherwise. */
static const char *
backing_format_name (const char *qemu_name)
{
  if (qemu_name == NULL)
    return NULL;
  if (strcasecmp (qemu_name, "vpc") == 0 &&
      xd_format_by_name ("vpc") == NULL)
    return "vhd";
  if (strcasecmp (qemu_name, "file") == 0)
    return "raw";
  return qemu_name;
}

static int
open_backing (struct qcow2_disk *d, const struct xd_resolver *res,
              const struct xd_open_opts *opts)
{
  struct xd_open_opts sub = *opts;

  if (d->h.backing_file == NULL)
    return 0;
  sub.snapshot = NULL;          /* snapshot= is this image's only */
  d->backing = xd_image_open_ref (res, d->io->name, d->h.backing_file,
                                  "backing file",
                                  backing_format_name (d->h.backing_format),
                                  &sub);
  if (d->backing == NULL)
    return -1;
  d->backing_size = xd_image_size (d->backing);
  return 0;
}

static void
warn_features (struct qcow2_disk *d)
{
  if (d->h.incompatible & QCOW2_INCOMPAT_CORRUPT) {
    d->corrupt = true;
    xd_debug ("%s: WARNING: the image is marked corrupt (incompatible "
              "feature bit 1): qemu found an inconsistency in its metadata; "
              "serving it read-only as qemu would, but data may be wrong",
              d->io->name);
  }
#ifndef HAVE_LIBZSTD
  if (d->h.compression == QCOW2_ZSTD)
    xd_debug ("%s: compression type zstd, but this plugin was built "
              "without libzstd: compressed clusters will fail to read",
              d->io->name);
#endif
  if (d->h.incompatible & QCOW2_INCOMPAT_DIRTY)
    xd_debug ("%s: the dirty bit is set (refcounts may be stale, which "
              "does not matter to a reader)", d->io->name);
}

void *
qcow2_open (struct xd_io *io, const struct xd_resolver *res,
            const struct xd_open_opts *opts)
{
  struct qcow2_disk *d = calloc (1, sizeof *d);

  if (d == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  d->io = io;
  d->data = io;
  if (qcow2_read_header (io, &d->h) == -1)
    goto fail;
  warn_features (d);
  if (qcow2_read_snapshots (io, &d->h, &d->snaps) == -1 ||
      open_l1 (d, opts->snapshot) == -1 ||
      open_caches (d, opts) == -1 ||
      open_data_file (d, res) == -1 ||
      open_backing (d, res, opts) == -1)
    goto fail;
  return d;

 fail:
  qcow2_close (d);
  return NULL;
}

uint64_t
qcow2_size (void *hv)
{
  return ((struct qcow2_disk *) hv)->size;
}

uint32_t
qcow2_preferred_block (void *hv)
{
  return ((struct qcow2_disk *) hv)->h.cluster_size;
}

/* ---- the export description ---- */

/* Append to a malloc'd string; on failure the string is freed. */
static char *
append (char *s, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static char *
append (char *s, const char *fmt, ...)
{
  va_list args;
  char *more, *r;

  if (s == NULL)
    return NULL;
  va_start (args, fmt);
  if (vasprintf (&more, fmt, args) == -1)
    more = NULL;
  va_end (args);
  if (more == NULL || asprintf (&r, "%s%s", s, more) == -1)
    r = NULL;
  free (more);
  free (s);
  return r;
}

#define MAX_LISTED_SNAPSHOTS 16

static char *
describe_snapshots (struct qcow2_disk *d, char *s)
{
  uint32_t i, n = d->h.nb_snapshots;

  if (n == 0)
    return s;
  s = append (s, ", %" PRIu32 " internal snapshot%s:", n, n == 1 ? "" : "s");
  for (i = 0; i < n && i < MAX_LISTED_SNAPSHOTS; i++)
    s = append (s, " %s \"%s\" (%" PRIu64 " bytes)%s", d->snaps[i].id,
                d->snaps[i].name, d->snaps[i].disk_size,
                i + 1 < n ? "," : "");
  if (n > MAX_LISTED_SNAPSHOTS)
    s = append (s, " ...");
  if (d->snap)
    s = append (s, "; serving snapshot %s \"%s\"", d->snap->id,
                d->snap->name);
  return s;
}

char *
qcow2_describe (void *hv)
{
  struct qcow2_disk *d = hv;
  const struct qcow2_header *h = &d->h;
  char *s, *b;

  s = strdup ("");
  if (d->corrupt)
    s = append (s, "WARNING: image marked corrupt; ");
  s = append (s, "qcow2 v%" PRIu32 " (compat %s), %" PRIu64 "-byte "
              "clusters, %u-bit refcounts%s%s, %s compression",
              h->version, h->version == 2 ? "0.10" : "1.1",
              h->cluster_size, 1u << h->refcount_order,
              h->extended_l2 ? ", extended L2 entries" : "",
              (h->compatible & QCOW2_COMPAT_LAZY_REFCOUNTS)
              ? ", lazy refcounts" : "",
              qcow2_compression_name (h->compression));
  if (d->data != d->io)
    s = append (s, ", data file %s", h->data_file);
  s = describe_snapshots (d, s);
  if (d->backing) {
    b = xd_image_describe (d->backing);
    s = append (s, "; backing file %s (%s): %s", h->backing_file,
                d->backing->format->name, b ? b : "");
    free (b);
  }
  return s;
}
