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

#include "vhd/vhd-write.h"
#include "include/xd-bytes.h"
#include "core/xd-check.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

struct checker {
  struct xd_check c;            /* ranges: metadata and blocks, bytes */
  struct vd_layer *l;
  const char *name;
  uint64_t footer_off;
  struct vhd_footer f;
  struct vhd_dyn_header dyn;
  uint32_t bitmap_bytes;
};

#define problem(ck, ...) xd_check_problem (&(ck)->c, __VA_ARGS__)

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
  xd_check_add (&c->c, start, end, what, 0);
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
  if (add_meta (c, 0, VHD_FOOTER_SIZE, "metadata (footer copy)") == -1 ||
      add_meta (c, c->f.data_offset, VHD_DYN_HEADER_SIZE,
                "metadata (dynamic header)") == -1 ||
      add_meta (c, c->dyn.table_offset,
                (uint64_t) c->dyn.max_table_entries * 4,
                "metadata (BAT)") == -1)
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
                "metadata (parent locator data)");
  }
  return 0;
}

/* Read the BAT and check each present block: inside the file, before
 * the footer, and (through the ranges) clear of the metadata and of
 * every other block.
 */
static int
check_blocks (struct checker *c)
{
  uint64_t n = c->dyn.max_table_entries, i, j, last_end = 0, nv = 0;
  uint64_t span = c->bitmap_bytes + (uint64_t) c->dyn.block_size;
  uint64_t blocks = xd_div_round_up (c->f.current_size, c->dyn.block_size);
  uint8_t page[4096];

  for (i = 0; i < n; i += sizeof page / 4) {
    uint64_t k = xd_min_u64 (n - i, sizeof page / 4);
    if (xd_io_read (c->l->io, page, k * 4, c->dyn.table_offset + i * 4,
                    "BAT") == -1) {
      problem (c, "the BAT cannot be read");
      return -1;
    }
    for (j = 0; j < k; j++) {
      uint32_t e = xd_be32 (page + j * 4);
      uint64_t base = (uint64_t) e * 512;
      if (e == VHD_BAT_UNUSED)
        continue;
      nv++;
      if (i + j >= blocks)
        problem (c, "BAT entry %" PRIu64 " is beyond the disk's size but "
                 "present", i + j);
      if (base + span > c->footer_off)
        problem (c, "block %" PRIu64 " at offset %" PRIu64 " ends at %"
                 PRIu64 ", past the footer (at %" PRIu64 ")", i + j, base,
                 base + span, c->footer_off);
      else
        xd_check_add (&c->c, base, base + span, "block", i + j);
      last_end = base + span > last_end ? base + span : last_end;
    }
  }
  xd_check_overlaps (&c->c, "bytes");
  if (nv && last_end < c->footer_off)
    xd_debug ("%s: check: %" PRIu64 " bytes between the last block and "
              "the footer", c->name, c->footer_off - last_end);
  xd_debug ("%s: check: %" PRIu64 " blocks present of %" PRIu64, c->name,
            nv, n);
  return 0;
}

int
vhd_w_check (void *hv)
{
  struct vhd_handle *h = hv;
  struct checker c = { .l = h->disk->top, .name = h->disk->top->io->name };

  xd_check_init (&c.c, c.name, "check");

  if (c.l->kind == VD_VHDX) {
    xd_error ("%s: check: a VHDX image, not a VHD", c.name);
    errno = EINVAL;
    return -1;
  }
  if (check_footers (&c) == 0 && c.f.disk_type != VHD_TYPE_FIXED &&
      check_header (&c) == 0)
    check_blocks (&c);
  return xd_check_end (&c.c);
}
