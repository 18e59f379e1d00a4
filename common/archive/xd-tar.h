/* xdisk: tar archives read in place (OVA appliances, XVA exports).
 *
 * One pass over the headers of an archive read through an xd_io finds
 * every member's name, data offset and size; no data is copied.  The
 * forms read are POSIX ustar, old GNU (what ovftool writes: magic
 * "ustar  "), GNU (long names in 'L' members, base-256 sizes) and pax
 * ('x' extended headers: path and size).  Every header's checksum and
 * every field is checked; a member whose data would run past the end
 * of the archive is an error.
 *
 * A member is then read as an xd_io over its slice of the archive, or
 * over its chunks ("disk.vmdk.000000000", ...) joined in order, and
 * the names an image inside the archive holds resolve only to members
 * of that archive (xd_resolver_new_archive).
 */
#ifndef XDISK_TAR_H
#define XDISK_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"
#include "io/xd-io.h"

#define XD_TAR_BLOCK 512

/* Most members xd_tar_index keeps (memory bound: about 64 bytes plus
 * the name for each).
 */
#define XD_TAR_MAX_MEMBERS (UINT32_C (1) << 20)

/* Longest member name accepted (GNU 'L' and pax path records). */
#define XD_TAR_MAX_NAME 4096

struct xd_tar_member {
  char *name;                   /* normalised: no "./", no "//" */
  uint64_t offset;              /* of the data in the archive */
  uint64_t size;
};

/* Called for every regular file of the archive, in archive order, with
 * its normalised name (see xd_tar_normalize); members whose names are
 * unsafe ("..", absolute) are passed with SAFE false.  Return 0 to go
 * on, 1 to stop, -1 to stop after reporting an error.
 */
typedef int (*xd_tar_fn) (void *opaque, const char *name, bool safe,
                          uint64_t offset, uint64_t size);

/* Walk the headers of the tar archive in IO.  0 at the end of the
 * archive (or when FN returned 1), -1 after reporting an error.
 */
extern int xd_tar_walk (struct xd_io *io, xd_tar_fn fn, void *opaque);

/* A walk over the headers one member at a time, for readers that index
 * a large archive only as far as they need (XVA).  The cursor reads IO
 * (not a reference: IO must outlive it).
 */
struct xd_tar_cursor;
extern struct xd_tar_cursor *xd_tar_cursor_new (struct xd_io *io);
extern void xd_tar_cursor_free (struct xd_tar_cursor *c);

/* Read headers until the next regular member has been handed to FN.
 * 1 if it was and FN returned 0, 2 if FN returned 1, 0 at the end of
 * the archive (and at every call after it), -1 after reporting an
 * error (FN's, or a bad header: errno EIO).
 */
extern int xd_tar_next (struct xd_tar_cursor *c, xd_tar_fn fn, void *opaque);

/* The archive offset of the next header the cursor reads. */
extern uint64_t xd_tar_cursor_offset (const struct xd_tar_cursor *c);

/* True if the last xd_tar_next failed reading IO (not on a bad
 * header): the cursor has not moved, and calling again retries the
 * read (a transport's error may pass).
 */
extern bool xd_tar_cursor_io_failed (const struct xd_tar_cursor *c);

/* True if IO starts with a valid tar header (checksum and all) whose
 * first regular member's name ends with SUFFIX (case-insensitive), or
 * is exactly SUFFIX when EXACT.  Reports nothing.
 */
extern bool xd_tar_probe_first (struct xd_io *io, const uint8_t *head,
                                size_t len, const char *suffix, bool exact);

/* What block 0 of an archive xdisk is creating says until the archive
 * is complete (archive/tar-write.c), KIND being "OVA" or "XVA": no tar
 * header, so that a creation cut short leaves a file every reader
 * refuses.
 */
#define XD_TAR_UNFINISHED_TEXT "xdisk: this %s was never finished"

/* True if HEAD (LEN bytes, the start of a file) is that block for
 * KIND: the readers then say so rather than fail on a bad header.
 */
extern bool xd_tar_unfinished (const uint8_t *head, size_t len,
                               const char *kind);

/* True if BLOCK (512 bytes) is a tar header with a valid checksum. */
extern bool xd_tar_header_valid (const uint8_t *block);

/* The name of the first member of an archive, or NULL (quiet). */
extern char *xd_tar_first_name (struct xd_io *io);

/* Normalise a member name or a name stored in an image: drop "./"
 * components and repeated slashes.  NULL with errno EPERM for absolute
 * names and any ".." component, EINVAL for empty names, ENOMEM.
 */
extern char *xd_tar_normalize (const char *name);

/* ---- an index of the members ---- */

struct xd_tar {
  struct xd_io *io;             /* the archive (a reference) */
  struct xd_tar_member *members;        /* archive order */
  size_t n, cap;
  size_t *sorted;               /* indexes of members, by name */
};

/* Index the archive in IO (takes a reference on IO; the caller keeps
 * its own).  NULL after reporting an error, for instance more than
 * XD_TAR_MAX_MEMBERS members or the same name twice.
 */
extern struct xd_tar *xd_tar_index (struct xd_io *io);
extern void xd_tar_free (struct xd_tar *tar);

/* The member called NAME (normalised first), or NULL. */
extern const struct xd_tar_member *xd_tar_find (const struct xd_tar *tar,
                                                const char *name);

/* Open NAME as an xd_io: the member itself or, if there is no such
 * member, its chunks NAME.000000000, NAME.000000001, ... joined in
 * order.  NULL with errno ENOENT, EPERM or EINVAL, nothing reported
 * (but for allocation failures).
 */
extern struct xd_io *xd_tar_open (struct xd_tar *tar, const char *name);

/* Names held by images in the archive resolve to its members only: a
 * name relative to the member that holds it, "./" dropped; ".." and
 * absolute names are refused (EPERM).  TAR must outlive the resolver.
 */
extern struct xd_resolver *xd_resolver_new_archive (struct xd_tar *tar);

#endif /* XDISK_TAR_H */
