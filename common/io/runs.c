/* xdisk: reading through a layer's run map; see xd-runs.h. */

#include <config.h>

#include <string.h>

#include "include/xd-math.h"
#include "io/xd-runs.h"

/* Extend the data run at OFF (RUN bytes at FILE_OFF) over the blocks
 * after it that the file stores right after it, up to LEFT bytes.
 */
static int
merge_following (const struct xd_runs_ops *ops, void *layer, uint64_t off,
                 uint64_t left, uint64_t file_off, uint64_t *run)
{
  while (*run < left) {
    int next_kind;
    uint64_t next_off = 0, next_run;
    if (ops->map (layer, off + *run, left - *run, &next_kind, &next_off,
                  &next_run) == -1)
      return -1;
    if (next_kind != XD_RUN_DATA || next_off != file_off + *run)
      break;
    *run += next_run;
  }
  return 0;
}

int
xd_runs_read (const struct xd_runs_ops *ops, void *layer, uint8_t *buf,
              uint64_t count, uint64_t off)
{
  const char *base = layer;
  struct xd_io *io = *(struct xd_io *const *) (base + ops->io_at);
  uint64_t size = *(const uint64_t *) (base + ops->size_at);
  void *parent;

  /* A pointer to the format's own layer type, read as bytes. */
  memcpy (&parent, base + ops->parent_at, sizeof parent);
  while (count > 0) {
    int kind;
    uint64_t file_off = 0, run, left;

    if (off >= size) {          /* a parent smaller than its child */
      memset (buf, 0, count);
      return 0;
    }
    left = xd_min_u64 (count, size - off);
    if (ops->map (layer, off, left, &kind, &file_off, &run) == -1)
      return -1;
    if (kind == XD_RUN_DATA &&
        merge_following (ops, layer, off, left, file_off, &run) == -1)
      return -1;
    if (kind == XD_RUN_DATA) {
      if (xd_io_read (io, buf, run, file_off, ops->what) == -1)
        return -1;
    }
    else if (kind == XD_RUN_PARENT && parent) {
      if (xd_runs_read (ops, parent, buf, run, off) == -1)
        return -1;
    }
    else
      memset (buf, 0, run);
    buf += run;
    off += run;
    count -= run;
  }
  return 0;
}
