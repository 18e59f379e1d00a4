/* xdisk: writing to the VHDX log (for vhdx-write.c).
 *
 * The replay of a dirty log into the file, on the writer's first write
 * (opening replays it in memory only, vhdx-log.c), and the log entries
 * of the writer's transactions.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "vhd/vhdx-log.h"
#include "vhd/vhdx-write.h"
#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

int
vhdx_log_apply (struct xd_io *io)
{
  struct overlay *ov = vhdx_log_overlay_rw (io);
  size_t i;

  if (ov == NULL || ov->applied)
    return 0;
  for (i = 0; i < ov->nr_ops; i++) {
    const struct log_op *op = &ov->ops[i];
    int r = op->data
      ? xd_io_write (ov->base, op->data, op->length, op->offset,
                     "VHDX log replay")
      : xd_io_zero (ov->base, op->offset, op->length, "VHDX log replay");
    if (r == -1)
      return -1;
  }
  /* LastFileOffset: the file is at least that long after replay. */
  if (ov->base->size < io->size &&
      xd_io_truncate (ov->base, io->size, "VHDX log replay") == -1)
    return -1;
  /* Durable before the writer's header stops naming the log
   * (test-vhdx's replay power-loss case, tests/mutants.txt).
   */
  if (xd_io_flush (ov->base) == -1)
    return -1;
  ov->applied = true;
  xd_debug ("%s: VHDX log replayed into the file: %zu writes", io->name,
            ov->nr_ops);
  return 0;
}

uint8_t *
vhdx_log_build_entry (const struct vhdx_log_entry *e,
                      const struct vhdx_log_sector *secs, size_t n,
                      uint32_t *len)
{
  uint64_t desc_sectors = xd_div_round_up (LOG_HEADER_SIZE +
                                           (uint64_t) n * LOG_DESC_SIZE,
                                           LOG_SECTOR);
  uint64_t total = (desc_sectors + n) * LOG_SECTOR;
  uint8_t *buf;
  size_t i;

  if (total > UINT32_MAX || (buf = calloc (1, total)) == NULL) {
    xd_error ("calloc: %m");
    return NULL;
  }
  memcpy (buf, "loge", 4);
  xd_put_le32 (buf + 8, (uint32_t) total);
  xd_put_le32 (buf + 12, e->tail);
  xd_put_le64 (buf + 16, e->sequence);
  xd_put_le32 (buf + 24, (uint32_t) n);
  memcpy (buf + 32, e->log_guid, 16);
  xd_put_le64 (buf + 48, e->flushed_file_offset);
  xd_put_le64 (buf + 56, e->last_file_offset);
  for (i = 0; i < n; i++) {
    uint8_t *d = buf + LOG_HEADER_SIZE + i * LOG_DESC_SIZE;
    uint8_t *s = buf + (desc_sectors + i) * LOG_SECTOR;
    const uint8_t *data = secs[i].data;

    /* The first 8 and last 4 bytes of the sector go in the descriptor,
     * the sequence number in their place in the data sector.
     */
    memcpy (d, "desc", 4);
    memcpy (d + 4, data + 4092, 4);
    memcpy (d + 8, data, 8);
    xd_put_le64 (d + 16, secs[i].file_offset);
    xd_put_le64 (d + 24, e->sequence);
    memcpy (s, "data", 4);
    xd_put_le32 (s + 4, (uint32_t) (e->sequence >> 32));
    memcpy (s + 8, data + 8, 4084);
    xd_put_le32 (s + 4092, (uint32_t) e->sequence);
  }
  xd_put_le32 (buf + 4, xd_crc32c (0, buf, total));
  *len = (uint32_t) total;
  return buf;
}
