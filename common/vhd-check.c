/* xdisk vhdx: the VHD structure verifier (qemu-img check has none for
 * VHD).  It reports every problem it finds with xd_error and returns -1
 * if there was any:
 *  - a valid footer (cookie, checksum, type) in the last 512 bytes;
 *  - fixed: the file is the current size plus the footer;
 *  - dynamic and differencing: the copy at offset 0 equal to the footer,
 *    the dynamic header's cookie, checksum and block size, the BAT
 *    inside the file and before the footer, enough entries for the
 *    size, every present block inside the file, before the footer, clear
 *    of the metadata (footer copy, header, BAT, parent locators) and of
 *    every other block.
 * Space between the last block and the footer (a crash between the
 * steps of an allocation leaves some) is not a problem: it is only
 * reported to the debug channel.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhd-write.h"
#include "xd-bytes.h"
#include "xd-math.h"
#include "xd-report.h"

#define MAX_REPORTED 20

struct checker {
  struct vd_layer *l;
  const char *name;
  unsigned problems;
  uint64_t footer_off;
  struct vhd_footer f;
  struct vhd_dyn_header dyn;
  uint32_t bitmap_bytes;
  /* metadata ranges [start, end) */
  uint64_t meta[2 + VHD_NR_LOCATORS][2];
  size_t nmeta;
};

static void problem (struct checker *c, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static void
problem (struct checker *c, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  c->problems++;
  if (c->problems > MAX_REPORTED)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  xd_error ("%s: check: %s", c->name, msg);
}

static int
check_footers (struct checker *c)
{
  struct xd_io *io = c->l->io;
  uint8_t end[VHD_FOOTER_SIZE], copy[VHD_FOOTER_SIZE];

  if (io->size < VHD_FOOTER_SIZE ||
      xd_io_read (io, end, sizeof end, io->size - VHD_FOOTER_SIZE,
                  "VHD footer") == -1 ||
      vhd_parse_footer (end, c->name, false, &c->f) == -1) {
    problem (c, "no valid footer in the last 512 bytes of the file");
    return -1;
  }
  c->footer_off = io->size - VHD_FOOTER_SIZE;
  if (c->f.disk_type == VHD_TYPE_FIXED) {
    if (c->f.current_size != c->footer_off)
      problem (c, "fixed VHD of current size %" PRIu64 " in a file of %"
               PRIu64 " bytes (expected the size plus 512)",
               c->f.current_size, io->size);
    return 0;
  }
  if (xd_io_read (io, copy, sizeof copy, 0, "VHD footer copy") == -1 ||
      memcmp (copy, end, sizeof end) != 0)
    problem (c, "the footer copy at offset 0 differs from the footer at "
             "the end");
  return 0;
}

static int
add_meta (struct checker *c, uint64_t start, uint64_t len, const char *what)
{
  uint64_t end;

  if (xd_add_overflow (start, len, &end) || end > c->footer_off) {
    problem (c, "%s at offset %" PRIu64 " (%" PRIu64 " bytes) is not "
             "before the footer (at %" PRIu64 ")", what, start, len,
             c->footer_off);
    return -1;
  }
  c->meta[c->nmeta][0] = start;
  c->meta[c->nmeta][1] = end;
  c->nmeta++;
  return 0;
}

static int
check_header (struct checker *c)
{
  struct xd_io *io = c->l->io;
  uint64_t need;
  size_t i;

  if (vhd_read_dyn_header (io, c->f.data_offset, &c->dyn) == -1) {
    problem (c, "no valid dynamic header at offset %" PRIu64,
             c->f.data_offset);
    return -1;
  }
  c->bitmap_bytes = (xd_div_round_up (c->dyn.block_size / 512, 8) + 511) &
    ~UINT32_C (511);
  if (add_meta (c, 0, VHD_FOOTER_SIZE, "footer copy") == -1 ||
      add_meta (c, c->f.data_offset, VHD_DYN_HEADER_SIZE,
                "dynamic header") == -1 ||
      add_meta (c, c->dyn.table_offset,
                (uint64_t) c->dyn.max_table_entries * 4, "BAT") == -1)
    return -1;
  need = xd_div_round_up (c->f.current_size, c->dyn.block_size);
  if (c->dyn.max_table_entries < need)
    problem (c, "BAT has %" PRIu32 " entries: %" PRIu64 " needed for %"
             PRIu64 " bytes", c->dyn.max_table_entries, need,
             c->f.current_size);
  else if (c->dyn.max_table_entries > need)
    xd_debug ("%s: check: BAT has %" PRIu32 " entries, %" PRIu64
              " more than the size needs", c->name,
              c->dyn.max_table_entries, c->dyn.max_table_entries - need);
  for (i = 0; c->f.disk_type == VHD_TYPE_DIFF && i < VHD_NR_LOCATORS; i++) {
    const struct vhd_locator *loc = &c->dyn.locators[i];
    if (loc->code[0] && loc->data_length)
      add_meta (c, loc->data_offset, loc->data_length,
                "parent locator data");
  }
  return 0;
}

struct placed {
  uint64_t base, block;
};

static int
cmp_placed (const void *a, const void *b)
{
  const struct placed *x = a, *y = b;

  return x->base < y->base ? -1 : x->base > y->base;
}

/* Check block BLOCK at BASE against the file and the metadata. */
static void
check_block (struct checker *c, uint64_t block, uint64_t base)
{
  uint64_t end = base + c->bitmap_bytes + (uint64_t) c->dyn.block_size;
  size_t i;

  if (end > c->footer_off) {
    problem (c, "block %" PRIu64 " at offset %" PRIu64 " ends at %" PRIu64
             ", past the footer (at %" PRIu64 ")", block, base, end,
             c->footer_off);
    return;
  }
  for (i = 0; i < c->nmeta; i++)
    if (base < c->meta[i][1] && c->meta[i][0] < end)
      problem (c, "block %" PRIu64 " at offset %" PRIu64 " overlaps the "
               "metadata at %" PRIu64 "-%" PRIu64, block, base,
               c->meta[i][0], c->meta[i][1]);
}

/* Read the BAT, check each present block, then look for overlaps. */
static int
check_blocks (struct checker *c)
{
  uint64_t n = c->dyn.max_table_entries, i, j, last_end = 0;
  uint64_t span = c->bitmap_bytes + (uint64_t) c->dyn.block_size;
  struct placed *v = NULL;
  size_t nv = 0;
  uint8_t page[4096];

  v = malloc (sizeof *v * (n ? n : 1));
  if (v == NULL) {
    xd_error ("%s: malloc: %m", c->name);
    return -1;
  }
  for (i = 0; i < n; i += sizeof page / 4) {
    uint64_t k = xd_min_u64 (n - i, sizeof page / 4);
    if (xd_io_read (c->l->io, page, k * 4, c->dyn.table_offset + i * 4,
                    "BAT") == -1) {
      problem (c, "the BAT cannot be read");
      free (v);
      return -1;
    }
    for (j = 0; j < k; j++) {
      uint32_t e = xd_be32 (page + j * 4);
      if (e == VHD_BAT_UNUSED)
        continue;
      if (i + j >= xd_div_round_up (c->f.current_size, c->dyn.block_size))
        problem (c, "BAT entry %" PRIu64 " is beyond the disk's size but "
                 "present", i + j);
      check_block (c, i + j, (uint64_t) e * 512);
      v[nv].base = (uint64_t) e * 512;
      v[nv].block = i + j;
      nv++;
    }
  }
  qsort (v, nv, sizeof *v, cmp_placed);
  for (i = 1; i < nv; i++)
    if (v[i].base < v[i - 1].base + span)
      problem (c, "blocks %" PRIu64 " and %" PRIu64 " overlap (offsets %"
               PRIu64 " and %" PRIu64 ")", v[i - 1].block, v[i].block,
               v[i - 1].base, v[i].base);
  if (nv)
    last_end = v[nv - 1].base + span;
  if (nv && last_end < c->footer_off)
    xd_debug ("%s: check: %" PRIu64 " bytes between the last block and "
              "the footer", c->name, c->footer_off - last_end);
  xd_debug ("%s: check: %zu blocks present of %" PRIu64, c->name, nv, n);
  free (v);
  return 0;
}

int
vhd_w_check (void *hv)
{
  struct vhd_handle *h = hv;
  struct checker c = { .l = h->disk->top, .name = h->disk->top->io->name };

  if (c.l->kind == VD_VHDX) {
    xd_error ("%s: check: a VHDX image, not a VHD", c.name);
    errno = EINVAL;
    return -1;
  }
  if (check_footers (&c) == 0 && c.f.disk_type != VHD_TYPE_FIXED &&
      check_header (&c) == 0)
    check_blocks (&c);
  if (c.problems > MAX_REPORTED)
    xd_error ("%s: check: %u problems in all", c.name, c.problems);
  if (c.problems) {
    errno = EIO;
    return -1;
  }
  return 0;
}
