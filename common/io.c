/* xdisk: local-file and memory implementations of struct xd_io. */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xd-io.h"
#include "xd-math.h"
#include "xd-report.h"

struct file_priv {
  int fd;
  bool can_seek_data;           /* SEEK_DATA/SEEK_HOLE worked at open */
};

struct memory_priv {
  const unsigned char *buf;
};

struct xd_io *
xd_io_new (const struct xd_io_ops *ops, const char *name, uint64_t size,
           void *priv)
{
  struct xd_io *io = calloc (1, sizeof *io);

  if (io == NULL || (io->name = strdup (name)) == NULL) {
    xd_error ("%s: calloc: %m", name);
    free (io);
    return NULL;
  }
  io->ops = ops;
  io->size = size;
  io->priv = priv;
  io->refs = 1;
  return io;
}

/* pread(2) may return less than asked for: loop until done.  A read of
 * zero bytes means the file shrank under us, which is an I/O error.
 */
static int
file_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct file_priv *fp = io->priv;
  char *p = buf;

  while (count > 0) {
    ssize_t r = pread (fp->fd, p, count, (off_t) offset);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0) {
      errno = EIO;
      return -1;
    }
    p += r;
    count -= (size_t) r;
    offset += (uint64_t) r;
  }
  return 0;
}

/* Report holes in sparse files with SEEK_DATA / SEEK_HOLE, so that flat
 * extents and raw files report their holes to NBD clients.
 */
static int
file_allocation (struct xd_io *io, uint64_t offset, bool *is_data,
                 uint64_t *run)
{
  struct file_priv *fp = io->priv;
  off_t data, hole;

  if (!fp->can_seek_data) {
    *is_data = true;
    *run = io->size - offset;
    return 0;
  }
  data = lseek (fp->fd, (off_t) offset, SEEK_DATA);
  if (data == -1) {
    if (errno != ENXIO)
      return -1;
    /* No data from here to the end of the file. */
    *is_data = false;
    *run = io->size - offset;
    return 0;
  }
  if ((uint64_t) data > offset) {
    *is_data = false;
    *run = (uint64_t) data - offset;
    return 0;
  }
  hole = lseek (fp->fd, (off_t) offset, SEEK_HOLE);
  if (hole == -1)
    return -1;
  *is_data = true;
  *run = (uint64_t) hole > offset ? (uint64_t) hole - offset : 1;
  return 0;
}

static void
file_close (struct xd_io *io)
{
  struct file_priv *fp = io->priv;

  close (fp->fd);
  free (fp);
}

static const struct xd_io_ops file_ops = {
  .pread = file_pread,
  .allocation = file_allocation,
  .close = file_close,
};

struct xd_io *
xd_io_open_file (const char *path)
{
  struct file_priv *fp;
  struct stat st;
  struct xd_io *io;
  int fd;

  /* O_NONBLOCK: opening a FIFO (met when a parent search opens the
   * files of a directory) must not wait for a writer; it is refused
   * below.  Reads of regular files and block devices ignore it.
   */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd == -1) {
    xd_error ("%s: open: %m", path);
    return NULL;
  }
  if (fstat (fd, &st) == -1) {
    xd_error ("%s: fstat: %m", path);
    close (fd);
    return NULL;
  }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode)) {
    xd_error ("%s: not a regular file or block device", path);
    close (fd);
    return NULL;
  }
  if (S_ISBLK (st.st_mode)) {
    off_t end = lseek (fd, 0, SEEK_END);
    if (end == -1) {
      xd_error ("%s: lseek: %m", path);
      close (fd);
      return NULL;
    }
    st.st_size = end;
  }

  fp = calloc (1, sizeof *fp);
  if (fp == NULL) {
    xd_error ("%s: calloc: %m", path);
    close (fd);
    return NULL;
  }
  fp->fd = fd;
  /* ENXIO means "no data after offset 0": an all-hole file. */
  fp->can_seek_data = S_ISREG (st.st_mode) &&
    (lseek (fd, 0, SEEK_DATA) != -1 || errno == ENXIO);

  io = xd_io_new (&file_ops, path, (uint64_t) st.st_size, fp);
  if (io == NULL) {
    close (fd);
    free (fp);
  }
  return io;
}

static int
memory_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct memory_priv *mp = io->priv;

  memcpy (buf, mp->buf + offset, count);
  return 0;
}

static void
memory_close (struct xd_io *io)
{
  free (io->priv);
}

static const struct xd_io_ops memory_ops = {
  .pread = memory_pread,
  .close = memory_close,
};

struct xd_io *
xd_io_open_memory (const void *buf, size_t len, const char *name)
{
  struct memory_priv *mp = calloc (1, sizeof *mp);
  struct xd_io *io;

  if (mp == NULL) {
    xd_error ("%s: calloc: %m", name);
    return NULL;
  }
  mp->buf = buf;
  io = xd_io_new (&memory_ops, name, len, mp);
  if (io == NULL)
    free (mp);
  return io;
}

void
xd_io_close (struct xd_io *io)
{
  if (io == NULL || --io->refs > 0)
    return;
  if (io->ops->close)
    io->ops->close (io);
  free (io->name);
  free (io);
}

struct xd_io *
xd_io_ref (struct xd_io *io)
{
  io->refs++;
  return io;
}

bool
xd_io_contains (const struct xd_io *io, uint64_t offset, uint64_t count)
{
  uint64_t end;

  return !xd_add_overflow (offset, count, &end) && end <= io->size;
}

int
xd_io_read (struct xd_io *io, void *buf, size_t count, uint64_t offset,
            const char *what)
{
  if (!xd_io_contains (io, offset, count)) {
    errno = EIO;
    xd_error ("%s: %s at offset %" PRIu64 " (%zu bytes) is beyond the end "
              "of the file (size %" PRIu64 ")",
              io->name, what, offset, count, io->size);
    return -1;
  }
  if (io->ops->pread (io, buf, count, offset) == -1) {
    if (errno == 0)
      errno = EIO;
    /* strerror, not %m, which makes nbdkit 1.32 hang at exit under ASan
     * (tests/functions.sh): I/O errors of transports are tested there. */
    xd_error ("%s: reading %s at offset %" PRIu64 ": %s",
              io->name, what, offset, strerror (errno));
    return -1;
  }
  return 0;
}

int
xd_io_allocation (struct xd_io *io, uint64_t offset, bool *is_data,
                  uint64_t *run)
{
  if (offset >= io->size) {
    /* Past the end of a short backing object: reads would fail, but
     * callers only ask inside the object, so treat this as data.
     */
    *is_data = true;
    *run = UINT64_MAX - offset;
    return 0;
  }
  if (io->ops->allocation == NULL) {
    *is_data = true;
    *run = io->size - offset;
    return 0;
  }
  if (io->ops->allocation (io, offset, is_data, run) == -1) {
    xd_error ("%s: finding allocated ranges at offset %" PRIu64 ": %m",
              io->name, offset);
    return -1;
  }
  if (*run > io->size - offset)
    *run = io->size - offset;
  if (*run == 0)
    *run = 1;
  return 0;
}

/* ---- ranges of another io (archive members) ---- */

struct segments_priv {
  struct xd_io *base;
  size_t n;
  struct xd_io_segment *segs;
  uint64_t *starts;             /* offset of each segment in this io */
};

static int
segments_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct segments_priv *sp = io->priv;
  size_t lo = 0, hi = sp->n;
  char *p = buf;

  /* The last segment starting at or before OFFSET. */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (sp->starts[mid] <= offset)
      lo = mid;
    else
      hi = mid;
  }
  while (count > 0) {
    uint64_t in, n;
    if (lo >= sp->n) {
      errno = EIO;
      return -1;
    }
    in = offset - sp->starts[lo];
    if (in >= sp->segs[lo].size) {
      lo++;
      continue;
    }
    n = xd_min_u64 (count, sp->segs[lo].size - in);
    if (sp->base->ops->pread (sp->base, p, n, sp->segs[lo].offset + in) == -1)
      return -1;
    p += n;
    count -= n;
    offset += n;
    lo++;
  }
  return 0;
}

static int
segments_allocation (struct xd_io *io, uint64_t offset, bool *is_data,
                     uint64_t *run)
{
  struct segments_priv *sp = io->priv;

  /* A slice of a sparse file keeps its holes. */
  if (sp->n == 1 && sp->base->ops->allocation) {
    if (sp->base->ops->allocation (sp->base, sp->segs[0].offset + offset,
                                   is_data, run) == -1)
      return -1;
    *run = xd_min_u64 (*run, io->size - offset);
    return 0;
  }
  *is_data = true;
  *run = io->size - offset;
  return 0;
}

static void
segments_close (struct xd_io *io)
{
  struct segments_priv *sp = io->priv;

  xd_io_close (sp->base);
  free (sp->segs);
  free (sp->starts);
  free (sp);
}

static const struct xd_io_ops segments_ops = {
  .pread = segments_pread,
  .allocation = segments_allocation,
  .close = segments_close,
};

struct xd_io *
xd_io_open_segments (struct xd_io *base, const struct xd_io_segment *segs,
                     size_t n, const char *name)
{
  struct segments_priv *sp = calloc (1, sizeof *sp);
  uint64_t total = 0;
  struct xd_io *io;
  size_t i;

  if (sp == NULL || n == 0 ||
      (sp->segs = calloc (n, sizeof *segs)) == NULL ||
      (sp->starts = calloc (n, sizeof *sp->starts)) == NULL) {
    xd_error ("%s: calloc: %m", name);
    goto fail;
  }
  for (i = 0; i < n; i++) {
    if (!xd_io_contains (base, segs[i].offset, segs[i].size)) {
      xd_error ("%s: part %zu (%" PRIu64 " bytes at offset %" PRIu64 ") "
                "is beyond the end of %s", name, i, segs[i].size,
                segs[i].offset, base->name);
      errno = EIO;
      goto fail;
    }
    sp->segs[i] = segs[i];
    sp->starts[i] = total;
    if (xd_add_overflow (total, segs[i].size, &total)) {
      xd_error ("%s: the parts add up to more than 2^64 bytes", name);
      errno = EIO;
      goto fail;
    }
  }
  sp->n = n;
  sp->base = base;
  io = xd_io_new (&segments_ops, name, total, sp);
  if (io == NULL)
    goto fail;
  xd_io_ref (base);
  return io;

 fail:
  if (sp) {
    free (sp->segs);
    free (sp->starts);
  }
  free (sp);
  return NULL;
}

struct xd_io *
xd_io_open_slice (struct xd_io *base, uint64_t offset, uint64_t size,
                  const char *name)
{
  struct xd_io_segment seg = { offset, size };

  return xd_io_open_segments (base, &seg, 1, name);
}
