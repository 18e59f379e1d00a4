/* xdisk: tar headers for the archives xdisk creates (OVA, XVA).
 *
 * What every importer reads (../shared/docs/appliance-targets.md §1.1,
 * §5.1): POSIX ustar headers for regular files with flat names; for a
 * member of 8 GiB or more, whose size does not fit ustar's 11 octal
 * digits, the GNU form with a base-256 size (VirtualBox and GNU tar
 * read it; pax headers are refused by VirtualBox and never written).
 */
#ifndef XDISK_TAR_WRITE_H
#define XDISK_TAR_WRITE_H

#include <stdint.h>

#include "archive/xd-tar.h"

/* Longest member name written (ustar's name field, NUL-terminated). */
#define XD_TAR_WRITE_MAX_NAME 99

/* Fill BLOCK with the header of the regular file NAME (1 to
 * XD_TAR_WRITE_MAX_NAME bytes, no NUL) of SIZE bytes, mode 0644, owner
 * 0, modified at MTIME (seconds since the epoch).  0, or -1 with errno
 * EINVAL (reported) for a name that does not fit.
 */
extern int xd_tar_make_header (uint8_t block[XD_TAR_BLOCK], const char *name,
                               uint64_t size, uint64_t mtime);

/* Fill BLOCK with what an archive being created starts with until it is
 * complete: a block no tar reader takes for a header (its checksum is
 * wrong), saying in plain text that the KIND ("OVA", "XVA") was not
 * finished.  Written first and replaced by the real first header last,
 * so that a creation cut short leaves a file every reader refuses.
 */
extern void xd_tar_make_unfinished (uint8_t block[XD_TAR_BLOCK],
                                    const char *kind);

/* SIZE rounded up to whole blocks: a member's data plus its padding. */
static inline uint64_t
xd_tar_padded (uint64_t size)
{
  return (size + XD_TAR_BLOCK - 1) / XD_TAR_BLOCK * XD_TAR_BLOCK;
}

#endif /* XDISK_TAR_WRITE_H */
