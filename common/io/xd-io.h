/* xdisk: the I/O interface the format code reads images through.
 *
 * Parsers and read paths never touch file descriptors or nbdkit: they
 * read through a struct xd_io, which may be a local file, a memory
 * buffer (unit tests, fuzzers) or, later, another nbdkit backend.
 *
 * Every read is checked against the size of the underlying object, and
 * a failed or out-of-range read is reported with the object's name and
 * the name of the structure being read, with errno set to EIO for
 * corrupt or truncated images.
 */
#ifndef XDISK_IO_H
#define XDISK_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xd_io;

struct xd_io_ops {
  /* Read exactly COUNT bytes at OFFSET (already range-checked).
   * Returns 0, or -1 with errno set (without reporting).
   */
  int (*pread) (struct xd_io *io, void *buf, size_t count, uint64_t offset);
  /* Optional: find the allocation state at OFFSET.  Sets *IS_DATA and
   * *RUN, the number of bytes from OFFSET with the same state (at least
   * 1, clipped to the object size).  Without it everything is data.
   */
  int (*allocation) (struct xd_io *io, uint64_t offset,
                     bool *is_data, uint64_t *run);
  void (*close) (struct xd_io *io);

  /* ---- writable objects only (NULL elsewhere) ---- */

  /* Write exactly COUNT bytes at OFFSET, which may lie past the end:
   * the object grows.  0, or -1 with errno set (without reporting).
   */
  int (*pwrite) (struct xd_io *io, const void *buf, size_t count,
                 uint64_t offset);
  /* Make every completed write durable (fdatasync). */
  int (*flush) (struct xd_io *io);
  /* Set the size of the object (shrink or grow with zeros). */
  int (*truncate) (struct xd_io *io, uint64_t size);
  /* Optional: deallocate [OFFSET, OFFSET+COUNT) so that it reads as
   * zeros (punching a hole); -1 with errno ENOTSUP if it cannot.
   */
  int (*punch) (struct xd_io *io, uint64_t offset, uint64_t count);
};

struct xd_io {
  const struct xd_io_ops *ops;
  char *name;                   /* for messages: the path as resolved */
  /* Bytes.  Atomic because a writable object grows while other threads
   * read: a reader sees either size, and both are consistent because
   * formats write data before any table points at it.
   */
  _Atomic uint64_t size;
  void *priv;                   /* the implementation's own state */
  unsigned refs;                /* xd_io_ref; closed when it drops to 0 */
};

/* A new io over an implementation: OPS, NAME (copied), SIZE, PRIV.
 * Returns NULL after reporting an error (PRIV is not freed then).
 */
extern struct xd_io *xd_io_new (const struct xd_io_ops *ops, const char *name,
                                uint64_t size, void *priv);

/* Open a local file read-only with O_CLOEXEC.  PATH is used as the name
 * in messages.  Returns NULL after reporting an error.
 */
extern struct xd_io *xd_io_open_file (const char *path);

/* Open a local file for reading and writing (pwrite, flush, truncate,
 * punch).  Returns NULL after reporting an error; or, when the file or
 * its file system is read-only, NULL with errno EACCES, EROFS or EPERM
 * and nothing reported, so that the caller may fall back to
 * xd_io_open_file.
 */
extern struct xd_io *xd_io_open_file_rw (const char *path);

/* Create the local file PATH, empty, for reading and writing: refused
 * (EEXIST, reported) if it exists, unless OVERWRITE, which truncates it.
 */
extern struct xd_io *xd_io_create_file (const char *path, bool overwrite);

/* A growable, writable object in memory, starting as a copy of the LEN
 * bytes at BUF (BUF may be NULL when LEN is 0): unit tests, fuzzers and
 * crash simulation.  xd_io_memory_contents gives its current bytes.
 */
extern struct xd_io *xd_io_new_memory_rw (const void *buf, size_t len,
                                          const char *name);
extern const unsigned char *xd_io_memory_contents (struct xd_io *io);

/* Wrap a memory buffer (not copied; it must outlive the io). */
extern struct xd_io *xd_io_open_memory (const void *buf, size_t len,
                                        const char *name);

/* A range of BASE: the bytes [OFFSET, OFFSET + SIZE), which must lie
 * inside BASE (an archive member).  Takes a reference on BASE (the
 * caller keeps its own).  NULL after reporting an error.
 */
extern struct xd_io *xd_io_open_slice (struct xd_io *base, uint64_t offset,
                                       uint64_t size, const char *name);

/* Several ranges of BASE joined in order (an archive member split into
 * chunks).  SEGS is copied; each must lie inside BASE.  Takes a
 * reference on BASE.  NULL after reporting an error.
 */
struct xd_io_segment {
  uint64_t offset, size;
};
extern struct xd_io *xd_io_open_segments (struct xd_io *base,
                                          const struct xd_io_segment *segs,
                                          size_t n, const char *name);

/* A new member being appended to an archive in BASE (writable): the
 * bytes of BASE from OFFSET on, starting empty (size 0) and growing as
 * it is written.  Flushing it flushes BASE; setting its size only
 * records it (BASE keeps its bytes).  Takes a reference on BASE.  NULL
 * after reporting.
 */
extern struct xd_io *xd_io_open_tail (struct xd_io *base, uint64_t offset,
                                      const char *name);

/* Drop a reference; the last one closes the io.  Never fails. */
extern void xd_io_close (struct xd_io *io);

/* Take another reference (an image whose descriptor is also its extent
 * holds its io twice).  Not thread-safe: for use while opening.
 */
extern struct xd_io *xd_io_ref (struct xd_io *io);

/* Read COUNT bytes at OFFSET.  WHAT names the structure being read
 * ("grain table 3", "footer").  Reads that fall outside the object are
 * refused: "NAME: WHAT at offset X (N bytes) is beyond the end of the
 * file (size S)".  Returns 0 or -1 with errno set and the error reported.
 */
extern int xd_io_read (struct xd_io *io, void *buf, size_t count,
                       uint64_t offset, const char *what);

/* True if the object can be written (xd_io_write and the rest). */
extern bool xd_io_writable (const struct xd_io *io);

/* Write COUNT bytes at OFFSET; writing past the end grows the object.
 * WHAT names the structure being written.  0, or -1 with errno set and
 * the error reported ("NAME: writing WHAT at offset X: ...").
 */
extern int xd_io_write (struct xd_io *io, const void *buf, size_t count,
                        uint64_t offset, const char *what);

/* Make every completed write durable.  0 or -1 reported. */
extern int xd_io_flush (struct xd_io *io);

/* Set the size of the object to SIZE.  0 or -1 reported. */
extern int xd_io_truncate (struct xd_io *io, uint64_t size,
                           const char *what);

/* Make [OFFSET, OFFSET+COUNT) read as zeros, deallocating it where the
 * object can (a hole in a sparse file), else writing zeros.  0 or -1
 * reported.
 */
extern int xd_io_zero (struct xd_io *io, uint64_t offset, uint64_t count,
                       const char *what);

/* True if [OFFSET, OFFSET+COUNT) lies inside the object. */
extern bool xd_io_contains (const struct xd_io *io,
                            uint64_t offset, uint64_t count);

/* Allocation state of the object at OFFSET; see xd_io_ops.allocation. */
extern int xd_io_allocation (struct xd_io *io, uint64_t offset,
                             bool *is_data, uint64_t *run);

#endif /* XDISK_IO_H */
