/* xdisk: reading through a layer's run map; see xd-runs.h. */

#include <config.h>

#include <string.h>

#include "include/xd-math.h"
#include "io/xd-runs.h"

static uint64_t
layer_size (const struct xd_runs_ops *ops, const void *layer)
{
  return *(const uint64_t *) ((const char *) layer + ops->size_at);
}

static void *
layer_parent (const struct xd_runs_ops *ops, const void *layer)
{
  void *parent;

  /* A pointer to the format's own layer type, read as bytes. */
  memcpy (&parent, (const char *) layer + ops->parent_at, sizeof parent);
  return parent;
}

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
  uint64_t size = layer_size (ops, layer);
  void *parent = layer_parent (ops, layer);

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

/* Ask the file of AT->owner whether AT->file_off is data or a hole. */
static int
query_file (const struct xd_runs_ops *ops, struct xd_run_place *at)
{
  struct xd_io *io =
    *(struct xd_io *const *) ((const char *) at->owner + ops->io_at);

  return xd_io_allocation (io, at->file_off, &at->is_data, &at->file_run);
}

int
xd_runs_locate (const struct xd_runs_ops *ops, void *layer, uint64_t off,
                uint64_t len, struct xd_run_place *at, uint64_t *run)
{
  memset (at, 0, sizeof *at);
  *run = len;
  while (layer) {
    uint64_t size = layer_size (ops, layer);
    int kind;

    if (off >= size)            /* a parent smaller than its child */
      return 0;
    if (ops->map (layer, off, xd_min_u64 (len, size - off), &kind,
                  &at->file_off, run) == -1)
      return -1;
    if (kind == XD_RUN_DATA) {
      at->owner = layer;
      return query_file (ops, at);
    }
    if (kind != XD_RUN_PARENT)
      return 0;
    len = *run;
    layer = layer_parent (ops, layer);
  }
  return 0;
}
