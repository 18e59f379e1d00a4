/* xdisk: a block cache in front of a slow xd_io, see xd-iocache.h. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "io/xd-cache.h"
#include "io/xd-iocache.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

struct cached {
  struct xd_io *base;
  size_t block_size;
  struct xd_cache *blocks;
  _Atomic size_t around;        /* blocks read per miss */
};

/* Read LEN bytes at OFF of the io below into BUF, reporting failures. */
static int
read_base (struct cached *c, void *buf, size_t len, uint64_t off)
{
  if (c->base->ops->pread (c->base, buf, len, off) == -1) {
    int err = errno ? errno : EIO;
    xd_error ("%s: reading %zu bytes at offset %" PRIu64 ": %s",
              c->base->name, len, off, strerror (err));
    errno = err;
    return -1;
  }
  return 0;
}

/* Read N blocks from block KEY on in one read: the first into BUF, the
 * others into the cache (those not there yet).  -1 if the read failed;
 * without memory for the others, just block KEY.
 */
static int
load_blocks (struct cached *c, uint64_t key, void *buf, size_t n)
{
  uint64_t off = key * c->block_size;
  size_t len = (size_t) xd_min_u64 (n * c->block_size, c->base->size - off);
  char *tmp = calloc (n, c->block_size);
  size_t i;

  if (tmp == NULL)
    return -2;
  if (read_base (c, tmp, len, off) == -1) {
    free (tmp);
    return -1;
  }
  memcpy (buf, tmp, c->block_size);
  for (i = 1; i * c->block_size < len; i++)
    xd_cache_put (c->blocks, key + i, tmp + i * c->block_size);
  free (tmp);
  return 0;
}

/* Fill BUF with block KEY of the io below; past its end, zeros. */
static int
load_block (void *opaque, uint64_t key, void *buf)
{
  struct cached *c = opaque;
  uint64_t off = key * c->block_size;
  size_t len = (size_t) xd_min_u64 (c->block_size, c->base->size - off);
  size_t around = c->around;

  if (around > 1 && len == c->block_size) {
    int r = load_blocks (c, key, buf, around);
    if (r != -2)
      return r;
  }
  if (len < c->block_size)
    memset ((char *) buf + len, 0, c->block_size - len);
  return read_base (c, buf, len, off);
}

static int
cached_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct cached *c = io->priv;
  char *p = buf;

  if (count >= c->block_size)
    return c->base->ops->pread (c->base, buf, count, offset);
  while (count > 0) {
    uint64_t key = offset / c->block_size;
    size_t in = (size_t) (offset % c->block_size);
    size_t n = xd_min_u64 (count, c->block_size - in);
    const char *block = xd_cache_pin (c->blocks, key, load_block, c);
    if (block == NULL)
      return -1;
    memcpy (p, block + in, n);
    xd_cache_unpin (c->blocks, block);
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static int
cached_allocation (struct xd_io *io, uint64_t offset, bool *is_data,
                   uint64_t *run)
{
  struct cached *c = io->priv;

  if (c->base->ops->allocation == NULL) {
    *is_data = true;
    *run = io->size - offset;
    return 0;
  }
  return c->base->ops->allocation (c->base, offset, is_data, run);
}

static void
cached_close (struct xd_io *io)
{
  struct cached *c = io->priv;

  xd_cache_free (c->blocks);
  xd_io_close (c->base);
  free (c);
}

static const struct xd_io_ops cached_ops = {
  .pread = cached_pread,
  .allocation = cached_allocation,
  .close = cached_close,
};

struct xd_io *
xd_io_open_cached (struct xd_io *base, size_t block_size, size_t max_blocks)
{
  struct cached *c = calloc (1, sizeof *c);
  struct xd_io *io;

  if (c == NULL) {
    xd_error ("%s: calloc: %m", base->name);
    xd_io_close (base);
    return NULL;
  }
  c->base = base;
  c->block_size = block_size;
  c->blocks = xd_cache_new (block_size, max_blocks);
  if (c->blocks == NULL) {
    xd_io_close (base);
    free (c);
    return NULL;
  }
  c->around = 1;
  io = xd_io_new (&cached_ops, base->name, base->size, c);
  if (io == NULL)
    cached_close (&(struct xd_io) { .priv = c });
  return io;
}

void
xd_io_cached_read_around (struct xd_io *io, size_t blocks)
{
  struct cached *c = io->priv;

  c->around = blocks ? blocks : 1;
}
