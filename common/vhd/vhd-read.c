/* xdisk vhdx: reading VHD and VHDX images and their parent chains.
 *
 * Every image of a chain is a vd_layer.  layer_map() turns a virtual
 * offset into a run: bytes stored in this file (XD_RUN_DATA), zeros
 * (XD_RUN_ZERO) or bytes to read from the parent (XD_RUN_PARENT).  BAT pages
 * are held in a bounded xd_cache.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhd-read.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"
#include "io/xd-runs.h"
#include "core/xd-text.h"


static void layer_free (struct vd_layer *l);

/* ---- BAT ---- */

static int
load_bat_page (void *opaque, uint64_t key, void *buf)
{
  struct vd_layer *l = opaque;
  uint64_t entry_size = l->kind == VD_VHDX ? 8 : 4;
  uint64_t bat_bytes = l->bat_entries * entry_size;
  uint64_t start = key * VD_BAT_PAGE;
  uint64_t n = xd_min_u64 (VD_BAT_PAGE, bat_bytes - start);

  /* Past the BAT's end: unallocated (0xFF for VHD, NOT_PRESENT for VHDX). */
  memset (buf, l->kind == VD_VHDX ? 0 : 0xff, VD_BAT_PAGE);
  return xd_io_read (l->io, buf, n, l->bat_offset + start, "BAT");
}

static int
bat_entry (struct vd_layer *l, uint64_t index, uint64_t *entry)
{
  uint64_t entry_size = l->kind == VD_VHDX ? 8 : 4;
  uint64_t per_page = VD_BAT_PAGE / entry_size;
  const uint8_t *page;

  /* BAT pages a VHDX writer has changed live in the writer. */
  if (l->bat_override &&
      l->bat_override (l->bat_override_opaque, index, entry))
    return 0;
  page = xd_cache_pin (l->bat_cache, index / per_page, load_bat_page, l);
  if (page == NULL)
    return -1;
  if (entry_size == 8)
    *entry = xd_le64 (page + (index % per_page) * 8);
  else
    *entry = xd_be32 (page + (index % per_page) * 4);
  xd_cache_unpin (l->bat_cache, page);
  return 0;
}

static int
beyond_eof (struct vd_layer *l, uint64_t block, uint64_t where)
{
  xd_error ("%s: BAT entry for block %" PRIu64 " (file offset %" PRIu64
            ") points beyond the end of the file", l->io->name, block, where);
  errno = EIO;
  return -1;
}

/* Read the sector bitmap bits for sectors FIRST.. of a block and count
 * how many in a row share the bit of FIRST, up to MAX.  MSB_FIRST: VHD
 * numbers bits from the top of each byte, VHDX from the bottom.  The
 * bits are read a piece at a time into a buffer on the stack, and only
 * as far as the run goes: no allocation on the read path.
 */
static int
bitmap_run (struct vd_layer *l, uint64_t bitmap_off, uint64_t first,
            uint64_t max, bool msb_first, bool *set, uint64_t *run)
{
  uint8_t bits[512];
  uint64_t i = 0, byte0, nbytes, stop, s;
  unsigned bit;
  bool b;

  while (i < max) {
    byte0 = (first + i) / 8;
    nbytes = xd_min_u64 ((first + max + 7) / 8 - byte0, sizeof bits);
    stop = xd_min_u64 (max, (byte0 + nbytes) * 8 - first);
    if (xd_io_read (l->io, bits, nbytes, bitmap_off + byte0,
                    "sector bitmap") == -1)
      return -1;
    for (; i < stop; i++) {
      s = first + i - byte0 * 8;
      bit = msb_first ? 7 - s % 8 : s % 8;
      b = (bits[s / 8] >> bit) & 1;
      if (i == 0)
        *set = b;
      else if (b != *set) {
        *run = i;
        return 0;
      }
    }
  }
  *run = i;
  return 0;
}

/* A VHD block (bitmap and data, [BASE, END) in the file) must not
 * overlap the footer copy, the dynamic header or the BAT: a crafted BAT
 * could otherwise serve the image's own metadata as disk data.
 */
static bool
vhd_block_overlaps_metadata (const struct vd_layer *l, uint64_t base,
                             uint64_t end)
{
  uint64_t hdr = l->footer.data_offset;
  uint64_t bat_end = l->bat_offset + l->bat_entries * 4;

  return base < VHD_FOOTER_SIZE ||
    (base < hdr + VHD_DYN_HEADER_SIZE && hdr < end) ||
    (base < bat_end && l->bat_offset < end);
}

static int
map_vhd (struct vd_layer *l, uint64_t off, uint64_t len, int *kind,
         uint64_t *file_off, uint64_t *run)
{
  uint64_t block = off / l->block_size, in_block = off % l->block_size;
  uint64_t entry, base, end;

  *run = xd_min_u64 (len, l->block_size - in_block);
  if (l->kind == VD_VHD_FIXED) {
    if (off >= l->data_end)
      *kind = XD_RUN_ZERO;
    else {
      *kind = XD_RUN_DATA;
      *file_off = off;
      *run = xd_min_u64 (len, l->data_end - off);
    }
    return 0;
  }
  if (block >= l->bat_entries) {
    *kind = l->diff ? XD_RUN_PARENT : XD_RUN_ZERO;
    return 0;
  }
  if (bat_entry (l, block, &entry) == -1)
    return -1;
  if (entry == VHD_BAT_UNUSED) {
    *kind = l->diff ? XD_RUN_PARENT : XD_RUN_ZERO;
    return 0;
  }
  base = entry * 512;
  if (xd_add_overflow (base, l->bitmap_bytes + (uint64_t) l->block_size,
                       &end) || end > l->data_end)
    return beyond_eof (l, block, base);
  if (vhd_block_overlaps_metadata (l, base, end)) {
    xd_error ("%s: BAT entry for block %" PRIu64 " (file offset %" PRIu64
              ") overlaps the footer copy, the dynamic header or the BAT",
              l->io->name, block, base);
    errno = EIO;
    return -1;
  }
  *kind = XD_RUN_DATA;
  *file_off = base + l->bitmap_bytes + in_block;
  if (l->diff) {
    bool set;
    uint64_t n;
    if (bitmap_run (l, base, in_block / 512,
                    xd_div_round_up (in_block % 512 + *run, 512),
                    true, &set, &n) == -1)
      return -1;
    *run = xd_min_u64 (*run, n * 512 - in_block % 512);
    if (!set)
      *kind = XD_RUN_PARENT;
  }
  return 0;
}

static int
check_vhdx_offset (struct vd_layer *l, uint64_t block, uint64_t where,
                   uint64_t len)
{
  uint64_t end;

  if (xd_add_overflow (where, len, &end) || end > l->io->size)
    return beyond_eof (l, block, where);
  if (where < (1u << 20) ||
      (where < l->x.bat_offset + l->x.bat_length &&
       l->x.bat_offset < end) ||
      (where < l->x.metadata_offset + l->x.metadata_length &&
       l->x.metadata_offset < end)) {
    xd_error ("%s: BAT entry for block %" PRIu64 " (file offset %" PRIu64
              ") overlaps the headers, the BAT or the metadata region",
              l->io->name, block, where);
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
map_vhdx (struct vd_layer *l, uint64_t off, uint64_t len, int *kind,
          uint64_t *file_off, uint64_t *run)
{
  uint64_t block = off / l->block_size, in_block = off % l->block_size;
  uint64_t entry, sb_entry, where;
  uint32_t sec = l->x.logical_sector_size;
  bool set;
  uint64_t n, chunk, first;

  *run = xd_min_u64 (len, l->block_size - in_block);
  if (bat_entry (l, vhdx_bat_index_of_block (&l->x, block), &entry) == -1)
    return -1;
  where = VHDX_BAT_OFFSET (entry);
  switch (VHDX_BAT_STATE (entry)) {
  case VHDX_BAT_NOT_PRESENT:
    *kind = l->diff ? XD_RUN_PARENT : XD_RUN_ZERO;
    return 0;
  case VHDX_BAT_UNDEFINED: case VHDX_BAT_ZERO: case VHDX_BAT_UNMAPPED:
    *kind = XD_RUN_ZERO;
    return 0;
  case VHDX_BAT_FULLY_PRESENT:
    if (check_vhdx_offset (l, block, where, l->block_size) == -1)
      return -1;
    *kind = XD_RUN_DATA;
    *file_off = where + in_block;
    return 0;
  case VHDX_BAT_PARTIALLY_PRESENT:
    if (!l->diff)
      break;
    if (check_vhdx_offset (l, block, where, l->block_size) == -1)
      return -1;
    chunk = block / l->x.chunk_ratio;
    if (bat_entry (l, vhdx_bat_index_of_bitmap (&l->x, chunk),
                   &sb_entry) == -1)
      return -1;
    if (VHDX_BAT_STATE (sb_entry) != 6) {
      xd_error ("%s: VHDX sector bitmap for block %" PRIu64
                " is not present", l->io->name, block);
      errno = EIO;
      return -1;
    }
    if (check_vhdx_offset (l, block, VHDX_BAT_OFFSET (sb_entry),
                           1u << 20) == -1)
      return -1;
    first = (block % l->x.chunk_ratio) * (l->block_size / sec) +
      in_block / sec;
    if (bitmap_run (l, VHDX_BAT_OFFSET (sb_entry), first,
                    xd_div_round_up (in_block % sec + *run, sec),
                    false, &set, &n) == -1)
      return -1;
    *run = xd_min_u64 (*run, n * sec - in_block % sec);
    *kind = set ? XD_RUN_DATA : XD_RUN_PARENT;
    *file_off = where + in_block;
    return 0;
  }
  xd_error ("%s: VHDX BAT entry for block %" PRIu64 " has invalid state %u",
            l->io->name, block, VHDX_BAT_STATE (entry));
  errno = EIO;
  return -1;
}

static int
layer_map (void *layer, uint64_t off, uint64_t len, int *kind,
           uint64_t *file_off, uint64_t *run)
{
  struct vd_layer *l = layer;

  if (l->kind == VD_VHDX)
    return map_vhdx (l, off, len, kind, file_off, run);
  return map_vhd (l, off, len, kind, file_off, run);
}

/* ---- reading ---- */

static const struct xd_runs_ops vd_runs =
  XD_RUNS_OPS (struct vd_layer, layer_map, "data block");

int
vd_disk_read (struct vd_disk *disk, void *buf, uint32_t count,
              uint64_t offset)
{
  return xd_runs_read (&vd_runs, disk->top, buf, count, offset);
}

/* Holes in the file are whole pages, but the data of a dynamic VHD
 * block starts 512 bytes into a page, after the block's sector bitmap.
 * So a data run found with SEEK_DATA/SEEK_HOLE can begin or end with
 * zero sectors that share a page with the bitmap or with real data.
 * nbdcopy reads every 256K request that holds any data: on the
 * bench's qemu-written VHD these edges made it read 15% more bytes.
 *
 * Look at the first page of the data run at FILE_OFF (RUN bytes) and,
 * if a hole follows it (HOLE_AFTER), at its last page.  *LEAD is the
 * length of the zero sectors it starts with, *TRAIL of those it ends
 * with (only looked for when there is no LEAD).
 */
#define VD_PAGE 4096

static int
zero_edges (struct vd_layer *l, uint64_t file_off, uint64_t run,
            bool hole_after, uint64_t *lead, uint64_t *trail)
{
  unsigned char buf[VD_PAGE];
  uint64_t n, z, end = file_off + run, edge;

  *lead = *trail = 0;
  n = xd_min_u64 (run, VD_PAGE - file_off % VD_PAGE);
  if (xd_io_read (l->io, buf, n, file_off, "data block") == -1)
    return -1;
  for (z = 0; z < n && buf[z] == 0; z++)
    ;
  edge = (file_off + z) & ~UINT64_C (511);  /* whole sectors of zeros */
  if (edge > file_off) {
    *lead = edge - file_off;
    return 0;
  }
  if (!hole_after || run <= n)
    return 0;
  n = xd_min_u64 (run - n, end % VD_PAGE ? end % VD_PAGE : VD_PAGE);
  if (xd_io_read (l->io, buf, n, end - n, "data block") == -1)
    return -1;
  for (z = 0; z < n && buf[n - 1 - z] == 0; z++)
    ;
  edge = (end - z + 511) & ~UINT64_C (511);
  if (edge < end)
    *trail = end - edge;
  return 0;
}

/* The run at FILE_OFF in L is data.  Trim zero edges off VHD blocks. */
static int
data_extent (struct vd_layer *l, uint64_t file_off, uint64_t arun,
             uint32_t *type, uint64_t *run)
{
  bool hole_after = arun < *run;
  uint64_t lead, trail;

  *run = xd_min_u64 (*run, arun);
  *type = XD_EXTENT_DATA;
  if (l->kind != VD_VHD_DYNAMIC && l->kind != VD_VHD_DIFF)
    return 0;                   /* fixed VHD and VHDX blocks are aligned */
  if (zero_edges (l, file_off, *run, hole_after, &lead, &trail) == -1)
    return -1;
  if (lead) {
    *run = lead;
    *type = XD_EXTENT_ZERO;     /* allocated, reads as zeros */
  }
  else
    *run -= trail;
  return 0;
}

/* Is the run at OFF in TOP data or zeros?  Follows parents. */
static int
layer_extent (struct vd_layer *top, uint64_t off, uint64_t len,
              uint32_t *type, uint64_t *run)
{
  struct xd_run_place at;

  if (xd_runs_locate (&vd_runs, top, off, len, &at, run) == -1)
    return -1;
  if (at.owner && at.is_data)
    return data_extent (at.owner, at.file_off, at.file_run, type, run);
  if (at.owner)                 /* a hole in the file */
    *run = xd_min_u64 (*run, at.file_run);
  *type = XD_EXTENT_UNALLOCATED;
  return 0;
}

int
vd_disk_extents (struct vd_disk *disk, uint32_t count, uint64_t offset,
                 bool req_one, xd_extent_fn add, void *opaque)
{
  uint64_t end = offset + count;

  while (offset < end) {
    uint32_t type;
    uint64_t run;

    if (layer_extent (disk->top, offset, end - offset, &type, &run) == -1)
      return -1;
    if (add (opaque, offset, run, type) == -1)
      return -1;
    offset += run;
    if (req_one)
      break;
  }
  return 0;
}

/* ---- opening ---- */

static int
setup_bat_cache (struct vd_layer *l, const struct xd_open_opts *opts)
{
  size_t n = xd_cache_entries_for (opts->cache_bytes, VD_BAT_PAGE, 4);

  l->bat_cache = xd_cache_new (VD_BAT_PAGE, n);
  return l->bat_cache ? 0 : -1;
}

static int
open_vhd (struct vd_layer *l, const struct xd_open_opts *opts)
{
  struct xd_io *io = l->io;
  uint8_t buf[VHD_FOOTER_SIZE];
  uint64_t bat_end;

  if (io->size < VHD_FOOTER_SIZE) {
    xd_error ("%s: not a VHD or VHDX file (too small)", io->name);
    errno = EIO;
    return -1;
  }
  if (xd_io_read (io, buf, sizeof buf, io->size - VHD_FOOTER_SIZE,
                  "VHD footer") == -1)
    return -1;
  if (vhd_parse_footer (buf, io->name, true, &l->footer) == -1 &&
      memcmp (buf + 1, VHD_FOOTER_COOKIE, 8) == 0) {
    /* Old Virtual PC wrote a 511-byte footer: the byte sum is the same
     * with the missing last (reserved, zero) byte.
     */
    memmove (buf, buf + 1, VHD_FOOTER_SIZE - 1);
    buf[VHD_FOOTER_SIZE - 1] = 0;
    if (vhd_parse_footer (buf, io->name, true, &l->footer) == 0) {
      xd_debug ("%s: 511-byte VHD footer (old Virtual PC)", io->name);
      l->data_end = io->size - (VHD_FOOTER_SIZE - 1);
      goto parsed;
    }
  }
  if (vhd_parse_footer (buf, io->name, true, &l->footer) == -1) {
    bool end_cookie = memcmp (buf, VHD_FOOTER_COOKIE, 8) == 0;
    /* Dynamic disks keep a copy of the footer at offset 0. */
    if (xd_io_read (io, buf, sizeof buf, 0, "VHD footer") == -1)
      return -1;
    if (memcmp (buf, VHD_FOOTER_COOKIE, 8) != 0) {
      if (end_cookie) {
        xd_error ("%s: VHD footer checksum mismatch or invalid field",
                  io->name);
        errno = EIO;
      }
      else {
        xd_error ("%s: not a VHD or VHDX file (no \"conectix\" or "
                  "\"vhdxfile\" signature)", io->name);
        errno = EIO;
      }
      return -1;
    }
    if (vhd_parse_footer (buf, io->name, false, &l->footer) == -1)
      return -1;
    if (l->footer.disk_type == VHD_TYPE_FIXED) {
      xd_error ("%s: VHD footer at the end is damaged", io->name);
      errno = EIO;
      return -1;
    }
    xd_debug ("%s: VHD footer at the end is damaged: using the copy at "
              "offset 0", io->name);
    l->data_end = io->size;
  }
  else
    l->data_end = io->size - VHD_FOOTER_SIZE;
 parsed:
  l->size = vhd_disk_size (&l->footer, (enum vhd_size_mode) opts->vhd_size_mode,
                           io->name);

  if (l->footer.disk_type == VHD_TYPE_FIXED) {
    l->kind = VD_VHD_FIXED;
    l->block_size = 2u << 20;
    return 0;
  }
  l->kind = l->footer.disk_type == VHD_TYPE_DIFF ? VD_VHD_DIFF
    : VD_VHD_DYNAMIC;
  l->diff = l->kind == VD_VHD_DIFF;
  if (vhd_read_dyn_header (io, l->footer.data_offset, &l->dyn) == -1)
    return -1;
  l->block_size = l->dyn.block_size;
  l->bitmap_bytes = (xd_div_round_up (l->block_size / 512, 8) + 511) &
    ~UINT32_C (511);
  l->bat_offset = l->dyn.table_offset;
  l->bat_entries = l->dyn.max_table_entries;
  if (l->bat_entries * l->block_size < l->size) {
    xd_error ("%s: VHD BAT has %" PRIu64 " entries of %" PRIu32
              " bytes: too few for a disk of %" PRIu64 " bytes", io->name,
              l->bat_entries, l->block_size, l->size);
    errno = EIO;
    return -1;
  }
  if (xd_add_overflow (l->bat_offset, l->bat_entries * 4, &bat_end) ||
      bat_end > io->size) {
    xd_error ("%s: VHD BAT at offset %" PRIu64 " is beyond the end of the "
              "file", io->name, l->bat_offset);
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
open_vhdx (struct vd_layer *l)
{
  struct vhdx_info first;
  struct xd_io *replayed;

  if (l->io->size >= UINT64_C (1) << 50 ||
      vhdx_read_headers (l->io, &first) == -1)
    return -1;
  if (!xd_guid_is_null (first.header.log_guid)) {
    if (vhdx_replay_log (l->io, &first.header, &replayed,
                         &l->log_entries) == -1)
      return -1;
    l->io = replayed;
  }
  if (vhdx_read_info (l->io, &l->x) == -1)
    return -1;
  l->kind = VD_VHDX;
  l->diff = l->x.has_parent;
  l->size = l->x.disk_size;
  l->block_size = l->x.block_size;
  l->bat_offset = l->x.bat_offset;
  l->bat_entries = l->x.bat_entries;
  return 0;
}

/* Open one layer from IO, taking ownership of IO. */
static struct vd_layer *
layer_open (struct xd_io *io, const struct xd_open_opts *opts)
{
  struct vd_layer *l = calloc (1, sizeof *l);
  int r;

  if (l == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  l->io = io;
  r = vhdx_probe (l->io) ? open_vhdx (l) : open_vhd (l, opts);
  if (r == -1 || (l->kind != VD_VHD_FIXED &&
                  setup_bat_cache (l, opts) == -1)) {
    layer_free (l);
    return NULL;
  }
  return l;
}

static void
layer_free (struct vd_layer *l)
{
  while (l) {
    struct vd_layer *parent = l->parent;
    if (l->bat_cache)
      xd_cache_free (l->bat_cache);
    vhdx_info_free (&l->x);
    if (l->io)
      xd_io_close (l->io);
    free (l);
    l = parent;
  }
}

/* ---- parents ---- */

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* MacX locators hold a file URL (RFC 2396): "file://localhost/a%20b.vhd"
 * or "file:///a%20b.vhd" -> "/a b.vhd", in place.
 */
static void
file_url_to_path (char *url)
{
  char *in = url, *out = url;

  if (strncmp (in, "file://localhost/", 17) == 0)
    in += 16;
  else if (strncmp (in, "file://", 7) == 0)
    in += 7;
  while (*in) {
    int hi, lo;
    if (in[0] == '%' && (hi = hex_value (in[1])) >= 0 &&
        (lo = hex_value (in[2])) >= 0 && (hi || lo)) {
      *out++ = (char) (hi * 16 + lo);
      in += 3;
    }
    else
      *out++ = *in++;
  }
  *out = '\0';
}

/* The name stored in VHD locator LOC, as UTF-8, or NULL. */
static char *
vhd_locator_name (struct vd_layer *l, const struct vhd_locator *loc)
{
  uint8_t *raw;
  char *name = NULL;

  if (loc->data_length == 0 || loc->data_length > 65536)
    return NULL;
  raw = malloc (loc->data_length + 1);
  if (raw == NULL)
    return NULL;
  if (xd_io_read (l->io, raw, loc->data_length, loc->data_offset,
                  "VHD parent locator") == 0) {
    if (strcmp (loc->code, "W2ru") == 0 || strcmp (loc->code, "W2ku") == 0)
      name = xd_utf16le_to_utf8 (raw, loc->data_length & ~1u);
    else {
      name = xd_strndup_field (raw, loc->data_length);
      if (name && strcmp (loc->code, "MacX") == 0)
        file_url_to_path (name);
    }
  }
  free (raw);
  return name;
}

/* A differencing disk may name its parent several ways.  They are tried
 * quietly in order; when none resolves, one error is reported, for the
 * first name the path policy refused (the likeliest reason), else for
 * the first name tried.
 */
struct parent_try {
  char *name;                   /* the name to report, malloc'd */
  int err;                      /* ... and why it failed (errno) */
};

static struct xd_io *
try_parent (struct vd_layer *l, const struct xd_resolver *res,
            const char *name, struct parent_try *t)
{
  struct xd_io *pio = xd_resolver_try_open (res, l->io->name, name);
  int err = errno;

  if (pio == NULL && (t->name == NULL ||
                      (err == EPERM && t->err != EPERM))) {
    free (t->name);
    t->name = strdup (name);
    t->err = err;
  }
  return pio;
}

/* Report the failure recorded in T. */
static struct xd_io *
report_parent (struct vd_layer *l, const struct xd_resolver *res,
               struct parent_try *t)
{
  xd_resolver_report (res, l->io->name, t->name, "parent", t->err);
  free (t->name);
  t->name = NULL;
  return NULL;
}

static struct xd_io *
find_vhd_parent (struct vd_layer *l, const struct xd_resolver *res)
{
  static const char *const order[] = { "W2ru", "W2ku", "MacX", "Wi2r",
                                       "Wi2k" };
  struct parent_try t = { NULL, 0 };
  size_t i, j;

  for (i = 0; i < sizeof order / sizeof order[0]; i++)
    for (j = 0; j < VHD_NR_LOCATORS; j++) {
      const struct vhd_locator *loc = &l->dyn.locators[j];
      struct xd_io *pio;
      char *name;
      if (strncmp (loc->code, order[i], 4) != 0)
        continue;
      name = vhd_locator_name (l, loc);
      if (name == NULL || *name == '\0') {
        free (name);
        continue;
      }
      pio = try_parent (l, res, name, &t);
      free (name);
      if (pio) {
        free (t.name);
        return pio;
      }
    }
  if (t.name)
    return report_parent (l, res, &t);
  xd_error ("%s: VHD differencing disk: parent not found (no usable "
            "parent locator)", l->io->name);
  errno = ENOENT;
  return NULL;
}

static struct xd_io *
find_vhdx_parent (struct vd_layer *l, const struct xd_resolver *res)
{
  const char *names[3] = { l->x.relative_path, l->x.volume_path,
                           l->x.absolute_win32_path };
  struct parent_try t = { NULL, 0 };
  size_t i;

  for (i = 0; i < 3; i++) {
    struct xd_io *pio;
    if (names[i] == NULL || *names[i] == '\0')
      continue;
    pio = try_parent (l, res, names[i], &t);
    if (pio) {
      free (t.name);
      return pio;
    }
  }
  if (t.name)
    return report_parent (l, res, &t);
  xd_error ("%s: VHDX differencing disk: parent not found (no parent "
            "path in the parent locator)", l->io->name);
  errno = ENOENT;
  return NULL;
}

static bool
guid_text_matches (const char *text, const uint8_t guid[16])
{
  uint8_t g[16];

  return text && xd_guid_parse (text, g) == 0 && memcmp (g, guid, 16) == 0;
}

static int
check_parent (struct vd_layer *child, struct vd_layer *parent,
              const struct xd_open_opts *opts)
{
  const char *why = NULL;

  if (child->kind == VD_VHDX) {
    if (parent->kind != VD_VHDX)
      why = "the parent is not a VHDX";
    else if (!guid_text_matches (child->x.parent_linkage,
                                 parent->x.header.data_write_guid) &&
             !guid_text_matches (child->x.parent_linkage2,
                                 parent->x.header.data_write_guid))
      why = "parent_linkage does not match the parent's DataWriteGuid";
  }
  else {
    if (parent->kind == VD_VHDX)
      why = "the parent is not a VHD";
    else if (memcmp (child->dyn.parent_uuid, parent->footer.unique_id,
                     16) != 0)
      why = "the parent unique ID does not match";
    else if (child->dyn.parent_timestamp != parent->footer.timestamp)
      why = "the parent time stamp does not match";
  }
  if (why == NULL)
    return 0;
  if (opts->ignore_parent_mismatch) {
    xd_debug ("%s: parent %s: %s (ignored)", child->io->name,
              parent->io->name, why);
    return 0;
  }
  xd_error ("%s: parent %s mismatch: %s (ignore-parent-mismatch=true "
            "serves it anyway)", child->io->name, parent->io->name, why);
  errno = EIO;
  return -1;
}

static int
open_parents (struct vd_disk *disk, const struct xd_resolver *res,
              const struct xd_open_opts *opts)
{
  struct vd_layer *l = disk->top;
  char *chain[XD_MAX_CHAIN + 1];
  size_t n = 0, i;
  int r = -1;

  chain[n++] = l->io->name;
  while (l->diff) {
    struct xd_io *pio = l->kind == VD_VHDX ? find_vhdx_parent (l, res)
      : find_vhd_parent (l, res);
    if (pio == NULL)
      goto out;
    for (i = 0; i < n; i++)
      if (strcmp (chain[i], pio->name) == 0) {
        xd_error ("%s: parent %s makes a loop in the chain", l->io->name,
                  pio->name);
        xd_io_close (pio);
        errno = EIO;
        goto out;
      }
    if (n > XD_MAX_CHAIN || opts->depth + n >= XD_MAX_CHAIN) {
      xd_error ("%s: parent chain is deeper than %d", disk->top->io->name,
                XD_MAX_CHAIN);
      xd_io_close (pio);
      errno = EIO;
      goto out;
    }
    l->parent = layer_open (pio, opts);
    if (l->parent == NULL || check_parent (l, l->parent, opts) == -1)
      goto out;
    l = l->parent;
    chain[n++] = l->io->name;
    disk->depth++;
  }
  r = 0;
 out:
  return r;
}

struct vd_disk *
vd_disk_open (struct xd_io *io, const struct xd_resolver *res,
              const struct xd_open_opts *opts)
{
  struct vd_disk *disk = calloc (1, sizeof *disk);

  if (disk == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  disk->top = layer_open (io, opts);
  if (disk->top == NULL || open_parents (disk, res, opts) == -1) {
    vd_disk_close (disk);
    return NULL;
  }
  return disk;
}

void
vd_disk_close (struct vd_disk *disk)
{
  if (disk) {
    layer_free (disk->top);
    free (disk);
  }
}

char *
vd_disk_describe (struct vd_disk *disk)
{
  struct vd_layer *l = disk->top;
  static const char *const kinds[] = { "fixed", "dynamic", "differencing" };
  char size[32], block[32], creator[5], *s = NULL;
  size_t i;
  int r;

  /* "win " -> "win": creator codes are padded with spaces or NULs. */
  memcpy (creator, l->footer.creator_app, sizeof creator);
  for (i = 4; i > 0 && (creator[i - 1] == ' ' || creator[i - 1] == 0); i--)
    creator[i - 1] = 0;

  xd_human_size (l->size, size, sizeof size);
  xd_human_size (l->block_size, block, sizeof block);
  if (l->kind == VD_VHDX) {
    char logs[48] = "";
    if (l->log_entries)
      snprintf (logs, sizeof logs, ", log replayed: %u entries",
                l->log_entries);
    r = asprintf (&s, "VHDX %s, %s blocks, %" PRIu32 "-byte sectors, %s, "
                  "parent chain depth %u%s",
                  l->diff ? "differencing"
                  : l->x.leave_blocks_allocated ? "fixed" : "dynamic",
                  block, l->x.logical_sector_size, size, disk->depth, logs);
  }
  else if (l->kind == VD_VHD_FIXED)
    r = asprintf (&s, "VHD fixed (creator %s %u.%u), %s",
                  creator, l->footer.creator_major,
                  l->footer.creator_minor, size);
  else
    r = asprintf (&s, "VHD %s (creator %s %u.%u), %s blocks, %s, "
                  "parent chain depth %u", kinds[l->kind],
                  creator, l->footer.creator_major,
                  l->footer.creator_minor, block, size, disk->depth);
  return r == -1 ? NULL : s;
}

/* ---- for the writers (vhd-write.c, vhdx-write.c) ---- */

int
vd_layer_bat_entry (struct vd_layer *l, uint64_t index, uint64_t *entry)
{
  return bat_entry (l, index, entry);
}

/* Make the cached page of VHD BAT entry INDEX say VALUE.  A page not
 * cached is loaded from the file first.  The entry is stored with one
 * aligned 32-bit store, so a reader sees the old or the new entry.  If
 * KEEP is not NULL the page stays pinned (so it is not evicted and
 * reloaded from a file that does not hold VALUE yet) and *KEEP is set
 * for xd_cache_unpin.
 */
int
vd_layer_bat_set_cached (struct vd_layer *l, uint64_t index, uint32_t value,
                         const void **keep)
{
  uint64_t per_page = VD_BAT_PAGE / 4;
  uint8_t *page;
  uint32_t be;

  page = (uint8_t *) xd_cache_pin (l->bat_cache, index / per_page,
                                   load_bat_page, l);
  if (page == NULL)
    return -1;
  xd_put_be32 (&be, value);
  __atomic_store_n ((uint32_t *) (void *) (page + (index % per_page) * 4),
                    be, __ATOMIC_RELEASE);
  if (keep)
    *keep = page;
  else
    xd_cache_unpin (l->bat_cache, page);
  return 0;
}

int
vd_layer_read (struct vd_layer *l, void *buf, uint64_t count,
               uint64_t offset)
{
  return xd_runs_read (&vd_runs, l, buf, count, offset);
}
