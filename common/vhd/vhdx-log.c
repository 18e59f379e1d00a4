/* xdisk: replaying a VHDX log in memory.
 *
 * A VHDX that Hyper-V did not close cleanly has a non-empty log: a
 * circular buffer of entries ("loge"), each a 4 KiB-aligned header with
 * descriptors ("desc": one 4 KiB sector of data, "zero": a zeroed range)
 * followed by the data sectors ("data").  The active sequence is the
 * run of valid entries, with consecutive sequence numbers, from the tail
 * named by the newest entry up to that entry.  We never write the file:
 * the replayed writes become an overlay xd_io that patches every read,
 * so headers, metadata, BAT and data are all parsed as Hyper-V would see
 * them after replay.  A writer puts them into the file on its first
 * write (vhdx_log_apply, vhdx-log-write.c).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhdx.h"
#include "vhd/vhdx-log.h"
#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"

/* ---- the overlay xd_io ---- */

static int
overlay_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct overlay *ov = io->priv;
  uint8_t *p = buf;
  size_t i, from_base = 0;

  if (ov->applied)
    return ov->base->ops->pread (ov->base, buf, count, offset);
  if (offset < ov->base->size)
    from_base = xd_min_u64 (count, ov->base->size - offset);
  if (from_base &&
      ov->base->ops->pread (ov->base, p, from_base, offset) == -1)
    return -1;
  memset (p + from_base, 0, count - from_base);
  for (i = 0; i < ov->nr_ops; i++) {
    const struct log_op *op = &ov->ops[i];
    uint64_t start = xd_max_u64 (op->offset, offset);
    uint64_t end = xd_min_u64 (op->offset + op->length, offset + count);
    if (start >= end)
      continue;
    if (op->data)
      memcpy (p + (start - offset), op->data + (start - op->offset),
              end - start);
    else
      memset (p + (start - offset), 0, end - start);
  }
  return 0;
}

static int
overlay_allocation (struct xd_io *io, uint64_t offset, bool *is_data,
                    uint64_t *run)
{
  struct overlay *ov = io->priv;
  uint64_t next = io->size;
  size_t i;

  if (ov->applied)
    return xd_io_allocation (ov->base, offset, is_data, run);
  for (i = 0; i < ov->nr_ops; i++) {
    const struct log_op *op = &ov->ops[i];
    if (offset >= op->offset && offset < op->offset + op->length) {
      *is_data = true;
      *run = op->offset + op->length - offset;
      return 0;
    }
    if (op->offset > offset)
      next = xd_min_u64 (next, op->offset);
  }
  if (offset >= ov->base->size) {
    *is_data = false;
    *run = next - offset;
    return 0;
  }
  if (xd_io_allocation (ov->base, offset, is_data, run) == -1)
    return -1;
  *run = xd_min_u64 (*run, next - offset);
  return 0;
}

static void
overlay_close (struct xd_io *io)
{
  struct overlay *ov = io->priv;
  size_t i;

  for (i = 0; i < ov->nr_ops; i++)
    free (ov->ops[i].data);
  free (ov->ops);
  xd_io_close (ov->base);
  free (ov);
}

/* Writes reach the file only once the log is applied to it (the writer
 * does that before its first write).
 */
static void
grow_base (struct xd_io *base, uint64_t end)
{
  uint64_t old = base->size;

  while (end > old && !atomic_compare_exchange_weak (&base->size, &old, end))
    ;
}

static int
overlay_pwrite (struct xd_io *io, const void *buf, size_t count,
                uint64_t offset)
{
  struct overlay *ov = io->priv;

  if (!ov->applied) {
    errno = EROFS;
    return -1;
  }
  if (ov->base->ops->pwrite (ov->base, buf, count, offset) == -1)
    return -1;
  grow_base (ov->base, offset + count);
  return 0;
}

static int
overlay_flush (struct xd_io *io)
{
  struct overlay *ov = io->priv;

  return ov->base->ops->flush ? ov->base->ops->flush (ov->base) : 0;
}

static int
overlay_truncate (struct xd_io *io, uint64_t size)
{
  struct overlay *ov = io->priv;

  if (!ov->applied || ov->base->ops->truncate == NULL) {
    errno = EROFS;
    return -1;
  }
  if (ov->base->ops->truncate (ov->base, size) == -1)
    return -1;
  ov->base->size = size;
  return 0;
}

static int
overlay_punch (struct xd_io *io, uint64_t offset, uint64_t count)
{
  struct overlay *ov = io->priv;

  if (!ov->applied || ov->base->ops->punch == NULL) {
    errno = ENOTSUP;
    return -1;
  }
  return ov->base->ops->punch (ov->base, offset, count);
}

static const struct xd_io_ops overlay_ops = {
  .pread = overlay_pread,
  .allocation = overlay_allocation,
  .close = overlay_close,
};

static const struct xd_io_ops overlay_rw_ops = {
  .pread = overlay_pread,
  .allocation = overlay_allocation,
  .close = overlay_close,
  .pwrite = overlay_pwrite,
  .flush = overlay_flush,
  .truncate = overlay_truncate,
  .punch = overlay_punch,
};

struct overlay *
vhdx_log_overlay_rw (struct xd_io *io)
{
  return io->ops == &overlay_rw_ops ? io->priv : NULL;
}

/* ---- parsing the log ---- */

/* What is known of the entry starting at one 4 KiB slot of the log. */
struct log_slot {
  enum { SLOT_UNKNOWN, SLOT_INVALID, SLOT_VALID } state;
  uint32_t len, tail;
  uint64_t seq;
};

struct log_ctx {
  struct xd_io *io;
  const struct vhdx_header *h;
  uint8_t *log;                 /* the whole log region */
  struct log_slot *slots;       /* log_length / LOG_SECTOR of them */
  bool bad_crc;                 /* some entry failed its CRC */
  /* Entry bytes checksummed, and the most we are willing to: see
   * entry_at.
   */
  uint64_t checked, budget;
  bool over_budget;
};

/* Copy LEN bytes at circular offset OFF of the log. */
static void
log_copy (const struct log_ctx *c, void *dst, uint64_t off, uint64_t len)
{
  uint64_t first;

  off %= c->h->log_length;
  first = xd_min_u64 (len, c->h->log_length - off);
  memcpy (dst, c->log + off, first);
  memcpy ((uint8_t *) dst + first, c->log, len - first);
}

/* Is there a valid entry at OFF?  Sets *SEQ, *LEN, *TAIL.  Returns true
 * if the entry's signature, CRC, LogGuid and descriptors are valid.
 */
static bool
entry_valid (struct log_ctx *c, uint64_t off, uint64_t *seq,
             uint32_t *len, uint32_t *tail)
{
  uint8_t hdr[LOG_HEADER_SIZE];
  uint8_t *entry;
  uint32_t count, i, data_desc = 0;
  uint64_t desc_bytes, desc_sectors;
  bool ok = false;

  log_copy (c, hdr, off, sizeof hdr);
  if (memcmp (hdr, "loge", 4) != 0)
    return false;
  *len = xd_le32 (hdr + 8);
  *tail = xd_le32 (hdr + 12);
  *seq = xd_le64 (hdr + 16);
  count = xd_le32 (hdr + 24);
  if (*len == 0 || *len % LOG_SECTOR != 0 || *len > c->h->log_length ||
      *tail % LOG_SECTOR != 0 || *tail >= c->h->log_length || *seq == 0 ||
      memcmp (hdr + 32, c->h->log_guid, 16) != 0)
    return false;
  desc_bytes = LOG_HEADER_SIZE + (uint64_t) count * LOG_DESC_SIZE;
  desc_sectors = xd_div_round_up (desc_bytes, LOG_SECTOR);
  if (desc_sectors * LOG_SECTOR > *len)
    return false;
  if (*len > c->budget - c->checked) {
    c->over_budget = true;
    return false;
  }
  c->checked += *len;
  entry = malloc (*len);
  if (entry == NULL)
    return false;
  log_copy (c, entry, off, *len);
  if (xd_le32 (entry + 4) != xd_crc32c_skip_field (entry, *len, 4)) {
    c->bad_crc = true;
    goto out;
  }
  for (i = 0; i < count; i++) {
    const uint8_t *d = entry + LOG_HEADER_SIZE + i * LOG_DESC_SIZE;
    if (xd_le64 (d + 24) != *seq)
      goto out;
    if (memcmp (d, "desc", 4) == 0) {
      const uint8_t *s = entry + (desc_sectors + data_desc) * LOG_SECTOR;
      if ((desc_sectors + data_desc + 1) * LOG_SECTOR > *len ||
          memcmp (s, "data", 4) != 0 ||
          (((uint64_t) xd_le32 (s + 4) << 32) | xd_le32 (s + 4092)) != *seq)
        goto out;
      data_desc++;
    }
    else if (memcmp (d, "zero", 4) != 0)
      goto out;
  }
  ok = (desc_sectors + data_desc) * LOG_SECTOR == *len;
 out:
  free (entry);
  return ok;
}

/* entry_valid, remembered per slot (every entry starts at a slot).
 * Without this the search below checksums the same entries again for
 * every candidate, and crafted headers claiming huge overlapping entries
 * at every slot make it quadratic in the log's size (hours for a log of
 * a few hundred MiB); the budget bounds what is left to a few times the
 * log's size, which a real log, its entries laid end to end, never needs.
 */
static bool
entry_at (struct log_ctx *c, uint64_t off, uint64_t *seq, uint32_t *len,
          uint32_t *tail)
{
  struct log_slot *sl = &c->slots[off / LOG_SECTOR];

  if (sl->state == SLOT_UNKNOWN) {
    sl->state = entry_valid (c, off, &sl->seq, &sl->len, &sl->tail)
      ? SLOT_VALID : SLOT_INVALID;
  }
  *seq = sl->seq;
  *len = sl->len;
  *tail = sl->tail;
  return sl->state == SLOT_VALID;
}

static int
add_op (struct overlay *ov, uint64_t offset, uint64_t length,
        uint8_t *data)
{
  if (XD_RESERVE (ov->ops, ov->nr_ops, ov->ops_cap, 1) == -1) {
    xd_error ("realloc: %m");
    free (data);
    return -1;
  }
  ov->ops[ov->nr_ops++] = (struct log_op) { offset, length, data };
  return 0;
}

static int
bad_log (const struct log_ctx *c, const char *why)
{
  xd_error ("%s: VHDX log entry: %s", c->io->name, why);
  errno = EIO;
  return -1;
}

/* Turn the (valid) entry at OFF into overlay operations. */
static int
apply_entry (const struct log_ctx *c, struct overlay *ov, uint64_t off,
             uint32_t len, uint64_t *last_file_offset)
{
  uint8_t *entry = malloc (len);
  uint32_t count, i, data_desc = 0;
  uint64_t desc_sectors, flushed;
  int r = -1;

  if (entry == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  log_copy (c, entry, off, len);
  count = xd_le32 (entry + 24);
  flushed = xd_le64 (entry + 48);
  *last_file_offset = xd_max_u64 (*last_file_offset, xd_le64 (entry + 56));
  if (flushed > c->io->size) {
    bad_log (c, "FlushedFileOffset is beyond the end of the file");
    goto out;
  }
  /* LastFileOffset becomes the replayed file's size: keep it within the
   * 1 PiB the writes themselves are held to.
   */
  if (*last_file_offset > (UINT64_C (1) << 50)) {
    bad_log (c, "LastFileOffset is beyond 1 PiB");
    goto out;
  }
  desc_sectors = xd_div_round_up (LOG_HEADER_SIZE +
                                  (uint64_t) count * LOG_DESC_SIZE,
                                  LOG_SECTOR);
  for (i = 0; i < count; i++) {
    const uint8_t *d = entry + LOG_HEADER_SIZE + i * LOG_DESC_SIZE;
    uint64_t file_off = xd_le64 (d + 16), end;

    if (memcmp (d, "zero", 4) == 0) {
      uint64_t zlen = xd_le64 (d + 8);
      if (file_off % LOG_SECTOR || zlen % LOG_SECTOR ||
          xd_add_overflow (file_off, zlen, &end) || end > (UINT64_C (1) << 50)) {
        bad_log (c, "zero descriptor range is not valid");
        goto out;
      }
      if (add_op (ov, file_off, zlen, NULL) == -1)
        goto out;
    }
    else {
      const uint8_t *s = entry + (desc_sectors + data_desc++) * LOG_SECTOR;
      uint8_t *sector = malloc (LOG_SECTOR);
      if (file_off % LOG_SECTOR || file_off > (UINT64_C (1) << 50)) {
        free (sector);
        bad_log (c, "data descriptor file offset is not valid");
        goto out;
      }
      if (sector == NULL) {
        xd_error ("malloc: %m");
        goto out;
      }
      /* Leading 8 and trailing 4 bytes live in the descriptor. */
      memcpy (sector, d + 8, 8);
      memcpy (sector + 8, s + 8, 4084);
      memcpy (sector + 4092, d + 4, 4);
      if (add_op (ov, file_off, LOG_SECTOR, sector) == -1)
        goto out;
    }
  }
  r = 0;
 out:
  free (entry);
  return r;
}

/* Find the active sequence: the newest valid entry whose tail leads to
 * it through valid entries with consecutive sequence numbers.  Returns
 * the number of entries (0: nothing to replay) and its tail in *TAIL_OFF.
 */
static unsigned
find_sequence (struct log_ctx *c, uint64_t *tail_off)
{
  uint64_t best_seq = 0, off;
  unsigned best_n = 0;

  for (off = 0; off < c->h->log_length; off += LOG_SECTOR) {
    uint64_t seq, s, pos, expect;
    uint32_t len, tail, l, t;
    unsigned n = 0;

    if (!entry_at (c, off, &seq, &len, &tail) || seq <= best_seq)
      continue;
    /* Walk from the tail to this entry. */
    pos = tail;
    if (!entry_at (c, pos, &s, &l, &t))
      continue;
    expect = s;
    for (;;) {
      if (!entry_at (c, pos, &s, &l, &t) || s != expect)
        break;
      n++;
      if (pos == off)
        break;
      pos = (pos + l) % c->h->log_length;
      expect++;
      if (n > c->h->log_length / LOG_SECTOR)
        break;
    }
    if (pos == off && s == seq && n > 0) {
      best_seq = seq;
      best_n = n;
      *tail_off = tail;
    }
  }
  return best_n;
}

int
vhdx_replay_log (struct xd_io *io, const struct vhdx_header *h,
                 struct xd_io **out, unsigned *entries)
{
  struct log_ctx c = { .io = io, .h = h };
  struct overlay *ov = NULL;
  struct xd_io *oio = NULL;
  uint64_t end, tail = 0, pos, last = 0;
  unsigned n, i;

  *out = io;
  *entries = 0;
  if (h->log_offset % (1u << 20) || h->log_length % (1u << 20) ||
      h->log_length == 0 || h->log_offset < (1u << 20) ||
      xd_add_overflow (h->log_offset, h->log_length, &end) ||
      end > io->size) {
    xd_error ("%s: VHDX header: log at offset %" PRIu64 " length %" PRIu32
              " is misaligned or beyond the end of the file", io->name,
              h->log_offset, h->log_length);
    errno = EIO;
    return -1;
  }
  c.log = malloc (h->log_length);
  if (c.log == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  if (xd_io_read (io, c.log, h->log_length, h->log_offset, "VHDX log") == -1)
    goto err;
  /* Real logs are laid end to end: four times the log is plenty. */
  c.budget = 4 * (uint64_t) h->log_length + (16u << 20);
  c.slots = calloc (h->log_length / LOG_SECTOR, sizeof *c.slots);
  if (c.slots == NULL) {
    xd_error ("calloc: %m");
    goto err;
  }
  n = find_sequence (&c, &tail);
  if (c.over_budget) {
    bad_log (&c, "the entry headers claim overlapping entries of more "
             "bytes than any log holds (crafted or corrupt log)");
    goto err;
  }
  if (n == 0 && c.bad_crc) {
    /* Entries of this log exist but none is intact: refuse rather than
     * serve data Hyper-V may have written only to the log.
     */
    bad_log (&c, "checksum mismatch (CRC-32C) and no valid log sequence");
    goto err;
  }
  if (n == 0) {
    xd_debug ("%s: VHDX log has no valid entries: nothing to replay",
              io->name);
    free (c.slots);
    free (c.log);
    return 0;
  }
  ov = calloc (1, sizeof *ov);
  oio = calloc (1, sizeof *oio);
  if (ov == NULL || oio == NULL || (oio->name = strdup (io->name)) == NULL) {
    xd_error ("calloc: %m");
    goto err;
  }
  ov->base = io;
  for (i = 0, pos = tail; i < n; i++) {
    uint64_t seq;
    uint32_t len, t;
    entry_at (&c, pos, &seq, &len, &t);
    if (apply_entry (&c, ov, pos, len, &last) == -1)
      goto err;
    pos = (pos + len) % h->log_length;
  }
  oio->ops = xd_io_writable (io) ? &overlay_rw_ops : &overlay_ops;
  oio->priv = ov;
  oio->refs = 1;
  oio->size = xd_max_u64 (io->size, last);
  xd_debug ("%s: VHDX log replayed in memory: %u entries, %zu writes",
            io->name, n, ov->nr_ops);
  free (c.slots);
  free (c.log);
  *out = oio;
  *entries = n;
  return 0;

 err:
  if (ov) {
    for (i = 0; i < ov->nr_ops; i++)
      free (ov->ops[i].data);
    free (ov->ops);
    free (ov);
  }
  if (oio)
    free (oio->name);
  free (oio);
  free (c.slots);
  free (c.log);
  return -1;
}
