/* xdisk: what the formats' structure checks (the check op of struct
 * xd_format) share: reporting problems, the first few in full and then
 * a count, and finding the structures of a file that overlap (tables,
 * blocks, grains, metadata regions).
 *
 *   struct xd_check c;
 *   xd_check_init (&c, io->name, "check");
 *   xd_check_add (&c, start, end, "grain table", 3);
 *   ...
 *   xd_check_overlaps (&c, "bytes");
 *   return xd_check_end (&c);
 */
#ifndef XDISK_CHECK_H
#define XDISK_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Problems reported in full; the rest are counted. */
#define XD_CHECK_MAX_REPORTS 20

struct xd_check_range {
  uint64_t start, end;          /* [start, end), in any unit */
  const char *what;             /* "grain table", "BAT entry" */
  uint64_t index;
};

struct xd_check {
  const char *name;             /* the file, for messages */
  const char *prefix;           /* "check", "VHDX check" */
  unsigned problems;
  struct xd_check_range *ranges;
  size_t n, cap;
};

extern void xd_check_init (struct xd_check *c, const char *name,
                           const char *prefix);

/* Count a problem; report it as "NAME: PREFIX: message" while fewer
 * than XD_CHECK_MAX_REPORTS were.
 */
extern void xd_check_problem (struct xd_check *c, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Remember that WHAT number INDEX occupies [START, END) for
 * xd_check_overlaps.  Out of memory counts (and reports) as a problem.
 */
extern void xd_check_add (struct xd_check *c, uint64_t start, uint64_t end,
                          const char *what, uint64_t index);

/* Report every range that overlaps another ("WHAT INDEX (UNIT S-E)
 * overlaps WHAT INDEX (UNIT S-E)").
 */
extern void xd_check_overlaps (struct xd_check *c, const char *unit);

/* Report how many problems went unreported and free the ranges: 0 if
 * there were none, else -1 with errno EIO.
 */
extern int xd_check_end (struct xd_check *c);

#endif /* XDISK_CHECK_H */
