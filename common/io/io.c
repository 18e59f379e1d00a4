/* xdisk: local-file and memory implementations of struct xd_io. */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/xd-io.h"
#include "include/xd-math.h"
#include "include/xd-search.h"
#include "include/xd-report.h"

#define XD_IO_UNUSED __attribute__ ((unused))

struct file_priv {
  int fd;
  bool can_seek_data;           /* SEEK_DATA/SEEK_HOLE worked at open */
  bool is_block;                /* a block device: no truncate, no holes */
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

/* pread(2) and pwrite(2) may move less than asked for, or be stopped
 * by a signal before moving anything: loop until done.  Moving zero
 * bytes means the file shrank under us (or the device is full without
 * saying so), which is an I/O error.  WRITING: pwrite from BUF, which
 * is then only read.
 */
static int
full_rw (int fd, void *buf, size_t count, uint64_t offset, bool writing)
{
  char *p = buf;

  while (count > 0) {
    ssize_t r = writing ? pwrite (fd, p, count, (off_t) offset)
      : pread (fd, p, count, (off_t) offset);
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

static int
file_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct file_priv *fp = io->priv;

  return full_rw (fp->fd, buf, count, offset, false);
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

/* Wrap the open descriptor FD of PATH; closes FD on failure. */
static struct xd_io *
file_from_fd (const char *path, int fd, const struct xd_io_ops *ops)
{
  struct file_priv *fp;
  struct stat st;
  struct xd_io *io;

  if (fstat (fd, &st) == -1) {
    xd_error ("%s: fstat: %m", path);
    close (fd);
    return NULL;
  }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode)) {
    xd_error ("%s: not a regular file or block device", path);
    close (fd);
    errno = EINVAL;
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
  fp->is_block = S_ISBLK (st.st_mode);
  /* ENXIO means "no data after offset 0": an all-hole file. */
  fp->can_seek_data = S_ISREG (st.st_mode) &&
    (lseek (fd, 0, SEEK_DATA) != -1 || errno == ENXIO);

  io = xd_io_new (ops, path, (uint64_t) st.st_size, fp);
  if (io == NULL) {
    close (fd);
    free (fp);
  }
  return io;
}

struct xd_io *
xd_io_open_file (const char *path)
{
  int fd;

  /* O_NONBLOCK: opening a FIFO (met when a parent search opens the
   * files of a directory) must not wait for a writer; it is refused
   * by file_from_fd.  Reads of regular files and block devices ignore
   * it.
   */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd == -1) {
    xd_error ("%s: open: %m", path);
    return NULL;
  }
  return file_from_fd (path, fd, &file_ops);
}

/* ---- writable local files ---- */

static int
file_pwrite (struct xd_io *io, const void *buf, size_t count,
             uint64_t offset)
{
  struct file_priv *fp = io->priv;

  return full_rw (fp->fd, (void *) buf, count, offset, true);
}

static int
file_flush (struct xd_io *io)
{
  struct file_priv *fp = io->priv;

  /* fdatasync also writes the inode's size when the file grew. */
  return fdatasync (fp->fd);
}

static int
file_truncate (struct xd_io *io, uint64_t size)
{
  struct file_priv *fp = io->priv;

  if (fp->is_block) {
    errno = EINVAL;
    return -1;
  }
  return ftruncate (fp->fd, (off_t) size);
}

static int
file_punch (struct xd_io *io, uint64_t offset, uint64_t count)
{
  struct file_priv *fp = io->priv;

#if defined (FALLOC_FL_PUNCH_HOLE) && defined (FALLOC_FL_KEEP_SIZE)
  if (!fp->is_block &&
      fallocate (fp->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 (off_t) offset, (off_t) count) == 0)
    return 0;
  if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
    return -1;
#else
  (void) fp; (void) offset; (void) count;
#endif
  errno = ENOTSUP;
  return -1;
}

static const struct xd_io_ops file_rw_ops = {
  .pread = file_pread,
  .allocation = file_allocation,
  .close = file_close,
  .pwrite = file_pwrite,
  .flush = file_flush,
  .truncate = file_truncate,
  .punch = file_punch,
};

struct xd_io *
xd_io_open_file_rw (const char *path)
{
  int fd = open (path, O_RDWR | O_CLOEXEC | O_NONBLOCK);

  if (fd == -1) {
    int err = errno;
    /* A read-only file is no error: the caller serves it read-only. */
    if (err != EACCES && err != EROFS && err != EPERM)
      xd_error ("%s: open for writing: %s", path, strerror (err));
    errno = err;
    return NULL;
  }
  return file_from_fd (path, fd, &file_rw_ops);
}

struct xd_io *
xd_io_create_file (const char *path, bool overwrite)
{
  int flags = O_RDWR | O_CLOEXEC | O_CREAT;
  int fd;

  flags |= overwrite ? O_TRUNC : O_EXCL;
  fd = open (path, flags, 0644);
  if (fd == -1) {
    int err = errno;
    if (err == EEXIST)
      xd_error ("%s: the file exists: it is not overwritten unless "
                "create-overwrite=true", path);
    else
      xd_error ("%s: create: %m", path);
    errno = err;
    return NULL;
  }
  return file_from_fd (path, fd, &file_rw_ops);
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

/* ---- growable memory ---- */

struct memory_rw_priv {
  pthread_mutex_t lock;         /* guards buf and cap */
  unsigned char *buf;
  size_t cap;
};

static int
memory_rw_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct memory_rw_priv *mp = io->priv;

  pthread_mutex_lock (&mp->lock);
  memcpy (buf, mp->buf + offset, count);
  pthread_mutex_unlock (&mp->lock);
  return 0;
}

/* Make room for SIZE bytes, zeroing what is new.  Called locked. */
static int
memory_rw_reserve (struct memory_rw_priv *mp, uint64_t size)
{
  unsigned char *p;
  size_t cap;

  if (size <= mp->cap)
    return 0;
  if (size > SIZE_MAX / 2) {
    errno = ENOSPC;
    return -1;
  }
  cap = mp->cap ? mp->cap : 4096;
  while (cap < size)
    cap *= 2;
  p = realloc (mp->buf, cap);
  if (p == NULL)
    return -1;
  memset (p + mp->cap, 0, cap - mp->cap);
  mp->buf = p;
  mp->cap = cap;
  return 0;
}

static int
memory_rw_pwrite (struct xd_io *io, const void *buf, size_t count,
                  uint64_t offset)
{
  struct memory_rw_priv *mp = io->priv;
  int r;

  pthread_mutex_lock (&mp->lock);
  r = memory_rw_reserve (mp, offset + count);
  if (r == 0)
    memcpy (mp->buf + offset, buf, count);
  pthread_mutex_unlock (&mp->lock);
  return r;
}

static int
memory_rw_flush (struct xd_io *io XD_IO_UNUSED)
{
  return 0;
}

static int
memory_rw_truncate (struct xd_io *io, uint64_t size)
{
  struct memory_rw_priv *mp = io->priv;
  int r;

  pthread_mutex_lock (&mp->lock);
  r = memory_rw_reserve (mp, size);
  /* Bytes cut off read as zeros if the object grows again. */
  if (r == 0 && size < io->size)
    memset (mp->buf + size, 0, io->size - size);
  pthread_mutex_unlock (&mp->lock);
  return r;
}

static void
memory_rw_close (struct xd_io *io)
{
  struct memory_rw_priv *mp = io->priv;

  pthread_mutex_destroy (&mp->lock);
  free (mp->buf);
  free (mp);
}

static const struct xd_io_ops memory_rw_ops = {
  .pread = memory_rw_pread,
  .close = memory_rw_close,
  .pwrite = memory_rw_pwrite,
  .flush = memory_rw_flush,
  .truncate = memory_rw_truncate,
};

struct xd_io *
xd_io_new_memory_rw (const void *buf, size_t len, const char *name)
{
  struct memory_rw_priv *mp = calloc (1, sizeof *mp);
  struct xd_io *io;

  if (mp == NULL || memory_rw_reserve (mp, len) == -1) {
    xd_error ("%s: malloc: %m", name);
    free (mp);
    return NULL;
  }
  if (len > 0)
    memcpy (mp->buf, buf, len);
  pthread_mutex_init (&mp->lock, NULL);
  io = xd_io_new (&memory_rw_ops, name, len, mp);
  if (io == NULL)
    memory_rw_close (&(struct xd_io) { .priv = mp });
  return io;
}

const unsigned char *
xd_io_memory_contents (struct xd_io *io)
{
  struct memory_rw_priv *mp = io->priv;

  return io->ops == &memory_rw_ops ? mp->buf : NULL;
}

/* ---- writing through any writable io ---- */

bool
xd_io_writable (const struct xd_io *io)
{
  return io->ops->pwrite != NULL;
}

/* Grow the recorded size to END if it is larger; other writers may grow
 * it at the same time.
 */
static void
grow_size (struct xd_io *io, uint64_t end)
{
  uint64_t old = io->size;

  while (end > old &&
         !atomic_compare_exchange_weak (&io->size, &old, end))
    ;
}

int
xd_io_write (struct xd_io *io, const void *buf, size_t count,
             uint64_t offset, const char *what)
{
  uint64_t end;

  if (!xd_io_writable (io)) {
    errno = EROFS;
    xd_error ("%s: writing %s: the file is open read-only", io->name, what);
    return -1;
  }
  if (xd_add_overflow (offset, count, &end) || end > INT64_MAX) {
    errno = EFBIG;
    xd_error ("%s: writing %s at offset %" PRIu64 ": beyond the largest "
              "file size", io->name, what, offset);
    return -1;
  }
  if (io->ops->pwrite (io, buf, count, offset) == -1) {
    int err = errno ? errno : EIO;
    xd_error ("%s: writing %s at offset %" PRIu64 ": %s",
              io->name, what, offset, strerror (err));
    errno = err;
    return -1;
  }
  grow_size (io, end);
  return 0;
}

int
xd_io_flush (struct xd_io *io)
{
  if (io->ops->flush == NULL)
    return 0;
  if (io->ops->flush (io) == -1) {
    int err = errno ? errno : EIO;
    xd_error ("%s: flush: %s", io->name, strerror (err));
    errno = err;
    return -1;
  }
  return 0;
}

int
xd_io_truncate (struct xd_io *io, uint64_t size, const char *what)
{
  if (io->ops->truncate == NULL || size > INT64_MAX) {
    errno = io->ops->truncate ? EFBIG : EROFS;
    xd_error ("%s: setting the size to %" PRIu64 " (%s): %s",
              io->name, size, what, strerror (errno));
    return -1;
  }
  if (io->ops->truncate (io, size) == -1) {
    int err = errno ? errno : EIO;
    xd_error ("%s: setting the size to %" PRIu64 " (%s): %s",
              io->name, size, what, strerror (err));
    errno = err;
    return -1;
  }
  io->size = size;
  return 0;
}

int
xd_io_zero (struct xd_io *io, uint64_t offset, uint64_t count,
            const char *what)
{
  static const unsigned char zeros[65536];

  if (io->ops->punch && offset + count <= io->size &&
      io->ops->punch (io, offset, count) == 0)
    return 0;
  while (count > 0) {
    size_t n = (size_t) xd_min_u64 (count, sizeof zeros);
    if (xd_io_write (io, zeros, n, offset, what) == -1)
      return -1;
    offset += n;
    count -= n;
  }
  return 0;
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
  /* The last segment starting at or before OFFSET. */
  size_t lo = XD_SEARCH_STARTS (sp->starts, sp->n, offset);
  char *p = buf;

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

/* ---- the tail of an object, from an offset on ---- */

struct tail_priv {
  struct xd_io *base;
  uint64_t offset;
};

static int
tail_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct tail_priv *tp = io->priv;

  return tp->base->ops->pread (tp->base, buf, count, tp->offset + offset);
}

static int
tail_pwrite (struct xd_io *io, const void *buf, size_t count,
             uint64_t offset)
{
  struct tail_priv *tp = io->priv;
  uint64_t at = tp->offset + offset;

  if (tp->base->ops->pwrite (tp->base, buf, count, at) == -1)
    return -1;
  grow_size (tp->base, at + count);
  return 0;
}

static int
tail_flush (struct xd_io *io)
{
  struct tail_priv *tp = io->priv;

  return tp->base->ops->flush ? tp->base->ops->flush (tp->base) : 0;
}

/* The base keeps what lies past the new end: the archive writer
 * overwrites it or cuts the archive at its end.
 */
static int
tail_truncate (struct xd_io *io XD_IO_UNUSED, uint64_t size XD_IO_UNUSED)
{
  return 0;
}

static void
tail_close (struct xd_io *io)
{
  struct tail_priv *tp = io->priv;

  xd_io_close (tp->base);
  free (tp);
}

static const struct xd_io_ops tail_ops = {
  .pread = tail_pread,
  .close = tail_close,
  .pwrite = tail_pwrite,
  .flush = tail_flush,
  .truncate = tail_truncate,
};

struct xd_io *
xd_io_open_tail (struct xd_io *base, uint64_t offset, const char *name)
{
  struct tail_priv *tp = calloc (1, sizeof *tp);
  struct xd_io *io;

  if (tp == NULL) {
    xd_error ("%s: calloc: %m", name);
    return NULL;
  }
  tp->base = base;
  tp->offset = offset;
  io = xd_io_new (&tail_ops, name, 0, tp);
  if (io == NULL) {
    free (tp);
    return NULL;
  }
  xd_io_ref (base);
  return io;
}
