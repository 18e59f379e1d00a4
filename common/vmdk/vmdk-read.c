/* xdisk vmdkx: opening a VMDK disk and reading it.
 *
 * A disk is a list of extents laid end to end (from the descriptor),
 * each FLAT (a range of a file), ZERO, or sparse (KDMV hosted sparse,
 * possibly streamOptimized, a COWD redo log or an ESXi seSparse
 * snapshot), plus an optional parent disk that unallocated grains read
 * from.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk/vmdk-read.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "include/xd-search.h"
#include "include/xd-report.h"
#include "core/xd-text.h"

#define MAX_INFLATED_GRAINS 16

static int *debug_grains;

/* ---- opening ---------------------------------------------------------- */

struct chain {
  const char *paths[XD_MAX_CHAIN];
  unsigned depth;
};

static struct vmdk_disk *open_disk (struct xd_io *io,
                                    const struct xd_resolver *res,
                                    const struct xd_open_opts *opts,
                                    struct chain *chain);

static int
load_gt (void *opaque, uint64_t key, void *buf)
{
  struct vmdk_extent *e = opaque;
  char what[64];

  snprintf (what, sizeof what, "grain table %" PRIu64, key);
  return xd_io_read (e->io, buf, (size_t) e->sp.gtes_per_gt * 4,
                     (uint64_t) e->gd[key] * VMDK_SECTOR, what);
}

/* seSparse grain tables: 4096 entries of 64 bits. */
static int
load_se_gt (void *opaque, uint64_t key, void *buf)
{
  struct vmdk_extent *e = opaque;
  char what[64];

  snprintf (what, sizeof what, "seSparse grain table %" PRIu32,
            e->gd[key] - 1);
  return xd_io_read (e->io, buf, (size_t) e->sp.gtes_per_gt * 8,
                     vmdk_se_gt_offset (&e->sp, e->gd[key]), what);
}

/* Grain tables of a footer-less stream, rebuilt from its markers:
 * gtes_per_gt sectors of 64 bits each (a stream may exceed 2 TiB).
 */
static int
load_stream_gt (void *opaque, uint64_t key, void *buf)
{
  struct vmdk_extent *e = opaque;

  return vmdk_stream_table (e->io, &e->sp, &e->stream, key, buf);
}

/* What the inflated-grain cache loader needs besides the grain number
 * (the cache key): the sector of the grain's marker, from the lookup.
 */
struct grain_load {
  struct vmdk_extent *e;
  uint64_t marker_sector;
};

/* Inflate GRAIN, whose marker is at SECTOR, into OUT (one grain). */
static int
inflate_grain (struct vmdk_extent *e, uint64_t grain, uint64_t sector,
               unsigned char *out)
{
  unsigned char m[12];
  struct xd_inflater *inf;
  uint64_t off = sector * VMDK_SECTOR, want, tail;
  uint32_t size;
  size_t got = 0;
  int r;

  if (xd_io_read (e->io, m, sizeof m, off, "grain marker") == -1)
    return -1;
  size = xd_le32 (m + 8);
  if (size == 0 || size > 2 * e->grain_bytes + 4096 ||
      !xd_io_contains (e->io, off + 12, size)) {
    xd_error ("%s: grain %" PRIu64 " at offset %" PRIu64 ": compressed size "
              "%" PRIu32 " is absurd or beyond the end of the file: cannot "
              "inflate", e->io->name, grain, off, size);
    errno = EIO;
    return -1;
  }
  if (xd_le64 (m) != grain * e->sp.grain_sectors)
    xd_debug ("%s: grain %" PRIu64 " marker says lba %" PRIu64,
              e->io->name, grain, xd_le64 (m));
  inf = xd_inflater_get (e->inflaters, size);
  if (inf == NULL) {
    xd_error ("%s: cannot allocate an inflater: %m", e->io->name);
    return -1;
  }
  if (xd_io_read (e->io, xd_inflater_input (inf), size, off + 12,
                  "compressed grain") == -1) {
    xd_inflater_put (e->inflaters, inf);
    return -1;
  }
  r = xd_inflater_run (inf, XD_DEFLATE_ZLIB, size, out, e->grain_bytes, &got);
  xd_inflater_put (e->inflaters, inf);
  want = e->grain_bytes;
  tail = e->sp.capacity * VMDK_SECTOR - grain * e->grain_bytes;
  if (tail < want)
    want = tail;                /* the last grain of a partial capacity */
  if (r != 0 || (got != e->grain_bytes && got != want)) {
    xd_error ("%s: grain %" PRIu64 " at offset %" PRIu64 " does not inflate "
              "to a grain (%zu bytes, %s error %d, expected %" PRIu64 ")",
              e->io->name, grain, off, got, xd_inflate_library (), r, e->grain_bytes);
    errno = EIO;
    return -1;
  }
  memset (out + got, 0, e->grain_bytes - got);
  return 0;
}

static int
load_grain (void *opaque, uint64_t key, void *buf)
{
  struct grain_load *gl = opaque;

  return inflate_grain (gl->e, key, gl->marker_sector, buf);
}

static int
open_sparse (struct vmdk_extent *e, const struct xd_open_opts *opts,
             size_t nr_extents)
{
  uint64_t budget = opts->cache_bytes / (nr_extents ? nr_extents : 1);
  size_t gt_size, n;

  if (vmdk_read_sparse_header (e->io, &e->sp) == -1)
    return -1;
  e->kind = e->sp.sesparse ? VMDK_SESPARSE
    : e->sp.cowd ? VMDK_VMFSSPARSE : VMDK_SPARSE;
  e->grain_bytes = e->sp.grain_sectors * VMDK_SECTOR;
  if (e->sp.gd_offset == 0 && e->sp.markers) {
    if (vmdk_index_stream (e->io, &e->sp, &e->stream) == -1)
      return -1;
    e->streamed = true;
    if (e->stream.run_start) {
      gt_size = (size_t) e->sp.gtes_per_gt * sizeof (uint64_t);
      n = xd_cache_entries_for (budget, gt_size, 4);
      e->gt_cache = xd_cache_new (gt_size, n);
      if (e->gt_cache == NULL)
        return -1;
    }
  }
  else {
    if (vmdk_load_gd (e->io, &e->sp, &e->gd) == -1)
      return -1;
    gt_size = (size_t) e->sp.gtes_per_gt * (e->sp.sesparse ? 8 : 4);
    n = xd_cache_entries_for (budget, gt_size, 4);
    e->gt_cache = xd_cache_new (gt_size, n);
    if (e->gt_cache == NULL)
      return -1;
  }
  if (e->sp.compressed) {
    n = xd_cache_entries_for (budget / 4, e->grain_bytes, 2);
    e->grain_cache = xd_cache_new (e->grain_bytes,
                                   n > MAX_INFLATED_GRAINS
                                   ? MAX_INFLATED_GRAINS : n);
    if (e->grain_cache == NULL)
      return -1;
    e->inflaters = xd_inflaters_new ();
    if (e->inflaters == NULL) {
      xd_error ("%s: cannot allocate inflaters: %m", e->io->name);
      return -1;
    }
  }
  return 0;
}

static int
open_extent (struct vmdk_disk *d, const struct vmdk_desc_extent *de,
             struct vmdk_extent *e, bool text_descriptor,
             const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  uint64_t need;

  e->kind = de->kind;
  e->access = de->access;
  e->line = de->line;
  e->length = de->sectors * VMDK_SECTOR;
  if (de->kind == VMDK_ZERO)
    return 0;
  /* A descriptor embedded in a sparse extent describes that file itself,
   * whatever name it was written with (monolithic files get renamed).
   */
  if (!text_descriptor && de->kind != VMDK_FLAT)
    e->io = xd_io_ref (d->io);
  else
    e->io = xd_resolver_open (res, d->path, de->filename, "extent file");
  if (e->io == NULL)
    return -1;
  /* ... but no descriptor may make a FLAT extent of its own file. */
  if ((text_descriptor || de->kind == VMDK_FLAT) &&
      strcmp (e->io->name, d->path) == 0) {
    xd_error ("%s: descriptor line %u: extent \"%s\" is the descriptor "
              "itself (loop / overlaps the descriptor)",
              d->path, de->line, de->filename);
    errno = EIO;
    return -1;
  }
  if (de->kind != VMDK_FLAT)
    return open_sparse (e, opts, d->desc.nr_extents);
  e->file_offset = de->offset * VMDK_SECTOR;
  need = e->file_offset + e->length;    /* checked by the parser */
  if (e->io->size < need) {
    xd_error ("%s: extent file is shorter than its descriptor says "
              "(%" PRIu64 " bytes, needs %" PRIu64 ")",
              e->io->name, e->io->size, need);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* Keep the descriptor TEXT (LEN bytes at OFFSET of IO) for the first
 * write, which changes the CID in it.  R is the result of parsing it,
 * returned.
 */
static int
keep_text (struct vmdk_disk *d, struct xd_io *io, char *text, size_t len,
           uint64_t offset, int r)
{
  char *t;

  if (r == -1) {
    free (text);
    return -1;
  }
  t = realloc (text, len + 1);
  if (t == NULL) {
    free (text);
    return -1;
  }
  t[len] = '\0';
  d->desc_text = t;
  d->desc_len = strlen (t);
  d->desc_io = io;
  d->desc_offset = offset;
  return 0;
}

static int
read_text_descriptor (struct vmdk_disk *d, struct xd_io *io)
{
  char *text;
  int r;

  if (io->size > VMDK_MAX_DESCRIPTOR) {
    xd_error ("%s: bad magic: not a VMDK (no sparse header and too large "
              "for a descriptor)", d->path);
    errno = EIO;
    return -1;
  }
  if (io->size == 0) {
    xd_error ("%s: empty file: not a VMDK", d->path);
    errno = EIO;
    return -1;
  }
  text = malloc (io->size);
  if (text == NULL)
    return -1;
  r = xd_io_read (io, text, io->size, 0, "descriptor");
  if (r == 0)
    r = vmdk_parse_descriptor (text, io->size, d->path, &d->desc);
  return keep_text (d, io, text, io->size, 0, r);
}

static int
read_embedded_descriptor (struct vmdk_disk *d, struct xd_io *io,
                          const struct vmdk_sparse *sp)
{
  size_t len = sp->desc_size * VMDK_SECTOR;
  char *text;
  int r;

  text = malloc (len ? len : 1);
  if (text == NULL)
    return -1;
  r = xd_io_read (io, text, len, sp->desc_offset * VMDK_SECTOR,
                  "embedded descriptor");
  if (r == 0)
    r = vmdk_parse_descriptor (text, len, d->path, &d->desc);
  return keep_text (d, io, text, len, sp->desc_offset * VMDK_SECTOR, r);
}

/* Fill d->desc: from the text file, the embedded descriptor, or a
 * synthetic one-extent descriptor for a bare sparse file.
 */
static int
read_descriptor (struct vmdk_disk *d, bool *text)
{
  struct xd_io *io = d->io;
  unsigned char magic[4];
  struct vmdk_sparse sp;
  int r = -1;

  *text = false;
  if (io->size >= 4 && xd_io_read (io, magic, 4, 0, "magic") == -1)
    goto out;
  if (io->size < 4 ||
      (xd_le32 (magic) != VMDK_MAGIC_KDMV &&
       xd_le32 (magic) != VMDK_MAGIC_COWD &&
       xd_le32 (magic) != VMDK_MAGIC_SESPARSE)) {
    *text = true;
    r = read_text_descriptor (d, io);
    goto out;
  }
  if (vmdk_read_sparse_header (io, &sp) == -1)
    goto out;
  if (!sp.cowd && sp.desc_offset != 0 && sp.desc_size != 0) {
    r = read_embedded_descriptor (d, io, &sp);
    goto out;
  }
  /* A bare sparse extent: serve it alone. */
  memset (&d->desc, 0, sizeof d->desc);
  d->desc.version = 1;
  d->desc.parent_cid = UINT32_MAX;
  d->desc.extents = calloc (1, sizeof *d->desc.extents);
  d->desc.create_type = strdup (sp.sesparse ? "seSparse"
                                : sp.cowd ? "vmfsSparse" : "monolithicSparse");
  if (!d->desc.extents || !d->desc.create_type)
    goto out;
  d->desc.nr_extents = 1;
  d->desc.extents[0].kind = sp.sesparse ? VMDK_SESPARSE
    : sp.cowd ? VMDK_VMFSSPARSE : VMDK_SPARSE;
  d->desc.extents[0].sectors = sp.capacity;
  d->desc.extents[0].filename = strdup (d->path);
  if (!d->desc.extents[0].filename)
    goto out;
  if (sp.capacity == 0) {
    xd_error ("%s: sparse extent capacity is 0", d->path);
    errno = EIO;
    goto out;
  }
  r = 0;
 out:
  return r;
}

static bool
known_create_type (const char *t)
{
  static const char *const types[] = {
    "monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
    "twoGbMaxExtentFlat", "streamOptimized", "vmfs", "vmfsThin",
    "vmfsSparse", "vmfsPreallocated", "vmfsEagerZeroedThick", "vmfsRDM",
    "vmfsRaw", "vmfsPassthroughRawDeviceMap", "vmfsRawDeviceMap",
    "custom", "partitionedDevice", "fullDevice", "seSparse",
  };
  size_t i;

  for (i = 0; i < sizeof types / sizeof types[0]; ++i)
    if (strcmp (t, types[i]) == 0)
      return true;
  return false;
}

static int
open_extents (struct vmdk_disk *d, bool text, const struct xd_resolver *res,
              const struct xd_open_opts *opts)
{
  size_t i;
  uint64_t pos = 0;

  if (d->desc.create_type == NULL)
    xd_debug ("%s: descriptor has no createType", d->path);
  else if (!known_create_type (d->desc.create_type))
    xd_debug ("%s: unknown createType \"%s\", using the extents as given",
              d->path, d->desc.create_type);
  d->extents = calloc (d->desc.nr_extents, sizeof *d->extents);
  if (d->extents == NULL)
    return -1;
  d->nr_extents = d->desc.nr_extents;
  for (i = 0; i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    if (open_extent (d, &d->desc.extents[i], e, text, res, opts) == -1)
      return -1;
    e->start = pos;
    if (xd_add_overflow (pos, e->length, &pos) || pos > INT64_MAX) {
      xd_error ("%s: descriptor line %u: total capacity overflows",
                d->path, d->desc.extents[i].line);
      errno = EIO;
      return -1;
    }
    if (e->grain_bytes > d->grain_bytes)
      d->grain_bytes = e->grain_bytes;
  }
  d->size = pos;
  return 0;
}

static int
open_parent (struct vmdk_disk *d, const struct xd_resolver *res,
             const struct xd_open_opts *opts, struct chain *chain)
{
  struct xd_io *pio;
  unsigned i;

  if (d->desc.parent_hint == NULL || !d->desc.has_parent_cid ||
      d->desc.parent_cid == UINT32_MAX)
    return 0;
  pio = xd_resolver_open (res, d->path, d->desc.parent_hint, "parent");
  if (pio == NULL)
    return -1;
  for (i = 0; i < chain->depth; ++i)
    if (strcmp (chain->paths[i], pio->name) == 0) {
      xd_error ("%s: parentFileNameHint \"%s\" makes a parent loop",
                d->path, d->desc.parent_hint);
      xd_io_close (pio);
      errno = EIO;
      return -1;
    }
  if (chain->depth >= XD_MAX_CHAIN ||
      opts->depth + chain->depth >= XD_MAX_CHAIN) {
    xd_error ("%s: snapshot chain is deeper than %d (loop?)",
              d->path, XD_MAX_CHAIN);
    xd_io_close (pio);
    errno = EIO;
    return -1;
  }
  d->parent = open_disk (pio, res, opts, chain);
  if (d->parent == NULL)
    return -1;
  if (d->parent->desc.cid != d->desc.parent_cid) {
    if (!opts->ignore_parent_mismatch) {
      xd_error ("%s: parentCID %08" PRIx32 " does not match the CID "
                "%08" PRIx32 " of the parent %s (use "
                "ignore-parent-mismatch=true to serve it anyway)",
                d->path, d->desc.parent_cid, d->parent->desc.cid,
                d->parent->path);
      errno = EIO;
      return -1;
    }
    xd_debug ("%s: ignoring parentCID mismatch", d->path);
  }
  d->depth = d->parent->depth + 1;
  return 0;
}

/* Open the disk whose descriptor (or sparse extent) is IO, taking
 * ownership of IO.
 */
static struct vmdk_disk *
open_disk (struct xd_io *io, const struct xd_resolver *res,
           const struct xd_open_opts *opts, struct chain *chain)
{
  struct vmdk_disk *d = calloc (1, sizeof *d);
  bool text;

  if (d == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  d->depth = 1;
  d->io = io;
  d->path = strdup (io->name);
  if (d->path == NULL) {
    xd_error ("%s: strdup: %m", io->name);
    vmdk_reader_close (d);
    return NULL;
  }
  chain->paths[chain->depth++] = d->path;
  if (read_descriptor (d, &text) == -1 ||
      open_extents (d, text, res, opts) == -1 ||
      open_parent (d, res, opts, chain) == -1)
    goto fail;
  chain->depth--;
  xd_debug ("%s: %s, %zu extents, %" PRIu64 " bytes, chain depth %u",
            d->path, d->desc.create_type ? d->desc.create_type : "?",
            d->nr_extents, d->size, d->depth);
  return d;
 fail:
  chain->depth--;
  vmdk_reader_close (d);
  return NULL;
}

struct vmdk_disk *
vmdk_reader_open (struct xd_io *io, const struct xd_resolver *res,
                  const struct xd_open_opts *opts)
{
  struct chain chain = { .depth = 0 };

  if (opts->vmdk_debug_grains)
    debug_grains = opts->vmdk_debug_grains;
  return open_disk (io, res, opts, &chain);
}

void
vmdk_reader_close (struct vmdk_disk *d)
{
  size_t i;

  if (d == NULL)
    return;
  for (i = 0; i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    if (e->gt_cache) xd_cache_free (e->gt_cache);
    if (e->grain_cache)
      xd_cache_free (e->grain_cache);
    xd_inflaters_free (e->inflaters);
    free (e->gd);
    vmdk_stream_index_free (&e->stream);
    if (e->io) xd_io_close (e->io);
  }
  free (d->extents);
  vmdk_reader_close (d->parent);
  free (d->desc_text);
  vmdk_descriptor_free (&d->desc);
  xd_io_close (d->io);
  free (d->path);
  free (d);
}

/* ---- grain lookup ----------------------------------------------------- */

static bool
grain_overlaps_metadata (const struct vmdk_extent *e, uint64_t sector)
{
  uint64_t off = sector * VMDK_SECTOR;
  uint64_t gd_off = e->sp.gd_offset * VMDK_SECTOR;
  uint64_t gd_len = e->sp.nr_gd_entries * 4;

  if (sector < (e->sp.cowd ? 4 : 1) || sector > INT64_MAX / VMDK_SECTOR)
    return true;
  if (!e->sp.cowd && e->sp.desc_offset && sector < e->sp.desc_offset +
      e->sp.desc_size && e->sp.desc_offset <= sector)
    return true;
  if (!e->sp.cowd && sector == 1 && e->sp.overhead > 1)
    return true;
  /* A compressed grain starts with its marker: only check that sector. */
  uint64_t len = e->sp.compressed ? VMDK_SECTOR : e->grain_bytes;

  return e->gd && off < gd_off + gd_len && gd_off < off + len;
}

/* Look up GRAIN of seSparse extent E. */
static int
lookup_se_grain (struct vmdk_extent *e, uint64_t grain,
                 enum vmdk_grain_state *st, uint64_t *sector)
{
  const unsigned char *gt;
  uint64_t gti = grain / e->sp.gtes_per_gt, gte;

  if (e->gd[gti] == 0)
    return 0;
  gt = xd_cache_pin (e->gt_cache, gti, load_se_gt, e);
  if (gt == NULL)
    return -1;
  gte = xd_le64 (gt + (grain % e->sp.gtes_per_gt) * 8);
  xd_cache_unpin (e->gt_cache, gt);
  return vmdk_se_decode_gte (e->io, &e->sp, grain, gte, st, sector);
}

/* Look up GRAIN of extent E: its state and, for data, its sector. */
int
vmdk_lookup_grain (struct vmdk_extent *e, uint64_t grain,
              enum vmdk_grain_state *st, uint64_t *sector)
{
  const unsigned char *gt;
  uint64_t gti, gte;

  *st = VMDK_GRAIN_UNALLOCATED;
  if (grain >= e->sp.nr_grains)
    return 0;
  if (e->sp.sesparse)
    return lookup_se_grain (e, grain, st, sector);
  if (e->streamed && e->stream.map) {
    gte = e->stream.map[grain];
  }
  else if (e->streamed) {
    gti = grain / e->sp.gtes_per_gt;
    if (e->stream.run_start[gti] == 0)
      return 0;
    gt = xd_cache_pin (e->gt_cache, gti, load_stream_gt, e);
    if (gt == NULL)
      return -1;
    memcpy (&gte, gt + (grain % e->sp.gtes_per_gt) * sizeof gte, sizeof gte);
    xd_cache_unpin (e->gt_cache, gt);
  }
  else if (e->gte_lookup) {
    uint32_t g;
    if (e->gte_lookup (e->gte_opaque, grain, &g) == -1)
      return -1;
    gte = g;
  }
  else {
    gti = grain / e->sp.gtes_per_gt;
    if (e->gd[gti] == 0)
      return 0;
    gt = xd_cache_pin (e->gt_cache, gti, load_gt, e);
    if (gt == NULL)
      return -1;
    gte = xd_le32 (gt + (grain % e->sp.gtes_per_gt) * 4);
    xd_cache_unpin (e->gt_cache, gt);
  }
  if (gte == 0)
    return 0;
  /* 1 means "zeroed grain" only when the header enables it (flag bit
   * 2); otherwise sector 1 is inside the header or descriptor.
   */
  if (gte == 1 && !e->sp.cowd && (e->sp.flags & VMDK_FLAG_ZERO_GTE)) {
    *st = VMDK_GRAIN_ZERO;
    return 0;
  }
  if (grain_overlaps_metadata (e, gte)) {
    xd_error ("%s: grain %" PRIu64 " at sector %" PRIu64 " overlaps the "
              "header or the grain directory", e->io->name, grain, gte);
    errno = EIO;
    return -1;
  }
  if (!e->sp.compressed &&
      !xd_io_contains (e->io, gte * VMDK_SECTOR, e->grain_bytes) &&
      !xd_io_contains (e->io, gte * VMDK_SECTOR,
                       e->sp.capacity * VMDK_SECTOR
                       - grain * e->grain_bytes)) {
    xd_error ("%s: grain %" PRIu64 " at sector %" PRIu64 " is beyond the "
              "end of the file (size %" PRIu64 ")",
              e->io->name, grain, gte, e->io->size);
    errno = EIO;
    return -1;
  }
  *st = VMDK_GRAIN_DATA;
  *sector = gte;
  return 0;
}

/* ---- reading ---------------------------------------------------------- */

int
vmdk_read_parent (struct vmdk_disk *d, unsigned char *buf, uint64_t count,
             uint64_t offset)
{
  uint64_t n = 0;

  if (d->parent && offset < d->parent->size) {
    n = xd_min_u64 (count, d->parent->size - offset);
    if (vmdk_disk_read (d->parent, buf, n, offset) == -1)
      return -1;
  }
  memset (buf + n, 0, count - n);
  return 0;
}

static int
read_compressed (struct vmdk_extent *e, uint64_t grain, uint64_t sector,
                 unsigned char *buf, uint64_t inoff, uint64_t n)
{
  struct grain_load gl = { .e = e, .marker_sector = sector };
  const unsigned char *g;

  g = xd_cache_pin (e->grain_cache, grain, load_grain, &gl);
  if (g == NULL)
    return -1;
  memcpy (buf, g + inoff, n);
  xd_cache_unpin (e->grain_cache, g);
  return 0;
}

/* A run of grains contiguous in the file, read with one pread. */
struct run {
  unsigned char *buf;
  uint64_t file_off, len;
};

static int
flush_run (struct vmdk_extent *e, struct run *r)
{
  int ret = 0;

  if (r->len)
    ret = xd_io_read (e->io, r->buf, r->len, r->file_off, "grain");
  r->len = 0;
  return ret;
}

static int
read_sparse (struct vmdk_disk *d, struct vmdk_extent *e, unsigned char *buf,
             uint64_t count, uint64_t rel)
{
  struct run run = { .len = 0 };
  enum vmdk_grain_state st;
  uint64_t grain, inoff, n, sector = 0, foff;

  while (count > 0) {
    grain = rel / e->grain_bytes;
    inoff = rel % e->grain_bytes;
    n = xd_min_u64 (count, e->grain_bytes - inoff);
    if (vmdk_lookup_grain (e, grain, &st, &sector) == -1)
      return -1;
    if (debug_grains && *debug_grains)
      xd_debug ("%s: grain %" PRIu64 " state %d sector %" PRIu64,
                e->io->name, grain, st, sector);
    if (st == VMDK_GRAIN_DATA && !e->sp.compressed) {
      foff = sector * VMDK_SECTOR + inoff;
      if (run.len && run.file_off + run.len == foff)
        run.len += n;
      else {
        if (flush_run (e, &run) == -1)
          return -1;
        run.buf = buf;
        run.file_off = foff;
        run.len = n;
      }
    }
    else {
      if (flush_run (e, &run) == -1)
        return -1;
      if (st == VMDK_GRAIN_DATA) {
        if (read_compressed (e, grain, sector, buf, inoff, n) == -1)
          return -1;
      }
      else if (st == VMDK_GRAIN_ZERO)
        memset (buf, 0, n);
      else if (vmdk_read_parent (d, buf, n, e->start + rel) == -1)
        return -1;
    }
    buf += n;
    rel += n;
    count -= n;
  }
  return flush_run (e, &run);
}

size_t
vmdk_find_extent (const struct vmdk_disk *d, uint64_t offset)
{
  return XD_SEARCH_AT_OR_BEFORE (d->extents, d->nr_extents, start, offset);
}

int
vmdk_disk_read (struct vmdk_disk *d, void *vbuf, uint64_t count,
                uint64_t offset)
{
  unsigned char *buf = vbuf;
  size_t i = vmdk_find_extent (d, offset);

  for (; count > 0 && i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    uint64_t rel = offset - e->start;
    uint64_t n;

    if (e->length == 0 || rel >= e->length)
      continue;
    n = xd_min_u64 (count, e->length - rel);
    switch (e->kind) {
    case VMDK_ZERO:
      memset (buf, 0, n);
      break;
    case VMDK_FLAT:
      /* NOACCESS extents read as zeros: VMware refuses access, we serve
       * the disk without them (see the man page).
       */
      if (e->access == VMDK_NOACCESS)
        memset (buf, 0, n);
      else if (xd_io_read (e->io, buf, n, e->file_offset + rel,
                           "flat extent") == -1)
        return -1;
      break;
    default:
      if (e->access == VMDK_NOACCESS)
        memset (buf, 0, n);
      else if (read_sparse (d, e, buf, n, rel) == -1)
        return -1;
    }
    buf += n;
    offset += n;
    count -= n;
  }
  if (count > 0)
    memset (buf, 0, count);
  return 0;
}

/* ---- extents ---------------------------------------------------------- */

struct emitter {
  xd_extent_fn add;
  void *opaque;
  bool req_one, done, have;
  uint64_t off, len;
  uint32_t type;
};

static int
emit (struct emitter *em, uint64_t len, uint32_t type)
{
  if (em->done || len == 0)
    return 0;
  if (em->have && em->type == type) {
    em->len += len;
    return 0;
  }
  if (em->have) {
    if (em->add (em->opaque, em->off, em->len, em->type) == -1)
      return -1;
    if (em->req_one) {
      em->done = true;
      em->have = false;
      return 0;
    }
    em->off += em->len;
  }
  em->have = true;
  em->len = len;
  em->type = type;
  return 0;
}

static int disk_extents (struct vmdk_disk *d, uint64_t count,
                         uint64_t offset, struct emitter *em);

static int
parent_extents (struct vmdk_disk *d, uint64_t count, uint64_t offset,
                struct emitter *em)
{
  uint64_t n = 0;

  if (d->parent && offset < d->parent->size) {
    n = xd_min_u64 (count, d->parent->size - offset);
    if (disk_extents (d->parent, n, offset, em) == -1)
      return -1;
  }
  return emit (em, count - n, XD_EXTENT_UNALLOCATED);
}

static int
flat_extents (struct vmdk_extent *e, uint64_t count, uint64_t rel,
              struct emitter *em)
{
  bool is_data;
  uint64_t run;

  while (count > 0 && !em->done) {
    if (xd_io_allocation (e->io, e->file_offset + rel, &is_data, &run) == -1)
      return -1;
    run = xd_min_u64 (xd_max_u64 (run, 1), count);
    if (emit (em, run, is_data ? XD_EXTENT_DATA : XD_EXTENT_UNALLOCATED) == -1)
      return -1;
    rel += run;
    count -= run;
  }
  return 0;
}

static int
sparse_extents (struct vmdk_disk *d, struct vmdk_extent *e, uint64_t count,
                uint64_t rel, struct emitter *em)
{
  enum vmdk_grain_state st;
  uint64_t grain, n, sector;

  while (count > 0 && !em->done) {
    grain = rel / e->grain_bytes;
    n = xd_min_u64 (count, e->grain_bytes - rel % e->grain_bytes);
    if (vmdk_lookup_grain (e, grain, &st, &sector) == -1)
      return -1;
    if (st == VMDK_GRAIN_DATA) {
      if (emit (em, n, XD_EXTENT_DATA) == -1)
        return -1;
    }
    else if (st == VMDK_GRAIN_ZERO) {
      if (emit (em, n, XD_EXTENT_ZERO) == -1)
        return -1;
    }
    else if (parent_extents (d, n, e->start + rel, em) == -1)
      return -1;
    rel += n;
    count -= n;
  }
  return 0;
}

static int
disk_extents (struct vmdk_disk *d, uint64_t count, uint64_t offset,
              struct emitter *em)
{
  size_t i = vmdk_find_extent (d, offset);

  for (; count > 0 && i < d->nr_extents && !em->done; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    uint64_t rel = offset - e->start, n;
    int r;

    if (e->length == 0 || rel >= e->length)
      continue;
    n = xd_min_u64 (count, e->length - rel);
    if (e->kind == VMDK_ZERO || e->access == VMDK_NOACCESS)
      r = emit (em, n, XD_EXTENT_UNALLOCATED);
    else if (e->kind == VMDK_FLAT)
      r = flat_extents (e, n, rel, em);
    else
      r = sparse_extents (d, e, n, rel, em);
    if (r == -1)
      return -1;
    offset += n;
    count -= n;
  }
  if (count > 0)
    return emit (em, count, XD_EXTENT_UNALLOCATED);
  return 0;
}

int
vmdk_disk_extents (struct vmdk_disk *d, uint64_t count, uint64_t offset,
                   bool req_one, xd_extent_fn add, void *opaque)
{
  struct emitter em = { .add = add, .opaque = opaque, .req_one = req_one,
                        .off = offset };

  if (disk_extents (d, count, offset, &em) == -1)
    return -1;
  if (em.have && !em.done)
    return add (opaque, em.off, em.len, em.type);
  return 0;
}

/* ---- description ------------------------------------------------------ */

char *
vmdk_disk_describe (struct vmdk_disk *d)
{
  char size[32], grain[32], kinds[96] = "", *r = NULL;
  const struct vmdk_extent *e0 = &d->extents[0];

  xd_human_size (d->size, size, sizeof size);
  if (e0->kind == VMDK_SESPARSE) {
    xd_human_size (e0->grain_bytes, grain, sizeof grain);
    snprintf (kinds, sizeof kinds, "SESPARSE, %s grains", grain);
  }
  else if (e0->kind == VMDK_SPARSE || e0->kind == VMDK_VMFSSPARSE) {
    xd_human_size (e0->grain_bytes, grain, sizeof grain);
    snprintf (kinds, sizeof kinds, "%s%s v%" PRIu32 ", %s grains",
              e0->sp.cowd ? "COWD" : "SPARSE",
              e0->sp.compressed ? " compressed" : "", e0->sp.version, grain);
  }
  else
    snprintf (kinds, sizeof kinds, "%s", vmdk_kind_name (e0->kind));
  if (asprintf (&r, "VMDK %s, adapter %s, %s, %zu extent%s (%s%s), "
                "chain depth %u",
                d->desc.create_type ? d->desc.create_type : "unknown",
                d->desc.adapter ? d->desc.adapter : "unknown", size,
                d->nr_extents, d->nr_extents == 1 ? "" : "s", kinds,
                d->nr_extents > 1 ? ", ..." : "", d->depth) == -1)
    return NULL;
  return r;
}
