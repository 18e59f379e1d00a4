/* xdisk vhdx: a structure verifier for VHDX images (the check op).
 *
 * Checks what a writer could get wrong and qemu-img check does not all
 * look at: both region tables intact and equal, the log placed sanely,
 * every BAT entry in a valid state for the kind of disk, present blocks
 * and sector bitmaps 1 MiB aligned, inside the file, clear of the
 * headers, log, BAT and metadata, and not overlapping each other.  A
 * dirty log is not a fault (the open replayed it); it is noted.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhdx-write.h"
#include "include/xd-bytes.h"
#include "core/xd-check.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define MIB (UINT64_C (1) << 20)
/* The image being checked. */
struct check {
  struct xd_check c;
  struct vd_layer *l;
};

#define problem(ck, ...) xd_check_problem (&(ck)->c, __VA_ARGS__)

static void
check_region_tables (struct check *c)
{
  uint8_t *t1 = malloc (VHDX_REGION_SIZE), *t2 = malloc (VHDX_REGION_SIZE);
  const char *why;

  if (t1 == NULL || t2 == NULL ||
      xd_io_read (c->l->io, t1, VHDX_REGION_SIZE, VHDX_REGION1_OFFSET,
                  "VHDX region table 1") == -1 ||
      xd_io_read (c->l->io, t2, VHDX_REGION_SIZE, VHDX_REGION2_OFFSET,
                  "VHDX region table 2") == -1)
    problem (c, "cannot read the region tables");
  else if (vhdx_check_region_table (t1, &why) == -1)
    problem (c, "region table 1: %s", why);
  else if (vhdx_check_region_table (t2, &why) == -1)
    problem (c, "region table 2: %s", why);
  else if (memcmp (t1, t2, VHDX_REGION_SIZE) != 0)
    problem (c, "the two region tables differ");
  free (t1);
  free (t2);
}

static void
check_headers (struct check *c)
{
  uint8_t buf[VHDX_HEADER_SIZE];
  struct vhdx_header h;
  const struct vhdx_header *cur = &c->l->x.header;
  int i, valid = 0;

  for (i = 0; i < 2; i++)
    if (xd_io_read (c->l->io, buf, sizeof buf,
                    i ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET,
                    "VHDX header") == 0 &&
        vhdx_parse_header (buf, &h) == 0)
      valid++;
  if (valid < 2)
    xd_debug ("%s: VHDX check: one header is not valid (an interrupted "
              "header update; the other one is used)", c->l->io->name);
  if (cur->log_offset % MIB || cur->log_length % MIB ||
      cur->log_length == 0 || cur->log_offset < MIB ||
      cur->log_offset + cur->log_length > c->l->io->size)
    problem (c, "log at offset %" PRIu64 " length %" PRIu32 " is not 1 MiB "
             "aligned or not inside the file", cur->log_offset,
             cur->log_length);
  if (c->l->log_entries)
    xd_debug ("%s: VHDX check: the log was not empty (%u entries "
              "replayed at open)", c->l->io->name, c->l->log_entries);
}

/* A present block or sector bitmap at WHERE, LEN bytes. */
static int
check_present (struct check *c, uint64_t index, const char *what,
               uint64_t where, uint64_t len)
{
  uint64_t end;

  if (where < MIB || xd_add_overflow (where, len, &end) ||
      end > c->l->io->size) {
    problem (c, "BAT entry %" PRIu64 " (%s) at offset %" PRIu64
             " is not inside the file (size %" PRIu64 ")", index, what,
             where, (uint64_t) c->l->io->size);
    return 0;
  }
  xd_check_add (&c->c, where, end, what, index);
  return 0;
}

static int
check_bat (struct check *c)
{
  struct vd_layer *l = c->l;
  const struct vhdx_info *x = &l->x;
  uint64_t i, e;

  for (i = 0; i < x->bat_entries; i++) {
    bool is_sb = i % (x->chunk_ratio + 1) == x->chunk_ratio;
    uint64_t block = i - i / (x->chunk_ratio + 1);
    unsigned st;

    if (vd_layer_bat_entry (l, i, &e) == -1)
      return -1;
    st = VHDX_BAT_STATE (e);
    if ((e >> 3) & 0x1ffff)
      problem (c, "BAT entry %" PRIu64 " has reserved bits set", i);
    if (is_sb) {
      if (st == VHDX_BAT_NOT_PRESENT)
        continue;
      if (st != 6 || !l->diff)
        problem (c, "sector bitmap BAT entry %" PRIu64 " has state %u in a "
                 "%s disk", i, st, l->diff ? "differencing" : "non-"
                 "differencing");
      else if (check_present (c, i, "sector bitmap", VHDX_BAT_OFFSET (e),
                              MIB) == -1)
        return -1;
      continue;
    }
    if (block >= x->data_blocks) {
      if (e != 0)
        problem (c, "BAT entry %" PRIu64 " is past the last block but not "
                 "zero", i);
      continue;
    }
    switch (st) {
    case VHDX_BAT_NOT_PRESENT: case VHDX_BAT_UNDEFINED:
    case VHDX_BAT_ZERO: case VHDX_BAT_UNMAPPED:
      break;
    case VHDX_BAT_PARTIALLY_PRESENT:
      if (!l->diff) {
        problem (c, "BAT entry %" PRIu64 " is partially present in a "
                 "non-differencing disk", i);
        break;
      }
      if (vd_layer_bat_entry (l, vhdx_bat_index_of_bitmap
                              (x, block / x->chunk_ratio), &e) == -1)
        return -1;
      if (VHDX_BAT_STATE (e) != 6)
        problem (c, "block %" PRIu64 " is partially present but its sector "
                 "bitmap is not", block);
      if (vd_layer_bat_entry (l, i, &e) == -1)
        return -1;
      /* fall through */
    case VHDX_BAT_FULLY_PRESENT:
      if (check_present (c, i, "payload block", VHDX_BAT_OFFSET (e),
                         l->block_size) == -1)
        return -1;
      break;
    default:
      problem (c, "BAT entry %" PRIu64 " has invalid state %u", i, st);
    }
  }
  return 0;
}

int
vhdx_check (struct vd_disk *disk)
{
  struct check c = { .l = disk->top };
  const struct vhdx_info *x = &c.l->x;

  if (c.l->kind != VD_VHDX) {
    xd_error ("%s: not a VHDX", c.l->io->name);
    errno = EINVAL;
    return -1;
  }
  xd_check_init (&c.c, c.l->io->name, "VHDX check");
  check_headers (&c);
  check_region_tables (&c);
  xd_check_add (&c.c, 0, MIB, "the headers", 0);
  xd_check_add (&c.c, x->header.log_offset,
                x->header.log_offset + x->header.log_length, "the log", 0);
  xd_check_add (&c.c, x->bat_offset, x->bat_offset + x->bat_length,
                "the BAT", 0);
  xd_check_add (&c.c, x->metadata_offset,
                x->metadata_offset + x->metadata_length,
                "the metadata region", 0);
  if (check_bat (&c) == -1)
    xd_check_problem (&c.c, "the BAT cannot be read");
  xd_check_overlaps (&c.c, "bytes");
  return xd_check_end (&c.c);
}
