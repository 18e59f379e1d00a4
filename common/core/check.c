/* xdisk: what the formats' structure checks share, see xd-check.h. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/xd-check.h"
#include "include/xd-report.h"
#include "include/xd-vector.h"

void
xd_check_init (struct xd_check *c, const char *name, const char *prefix)
{
  *c = (struct xd_check) { .name = name, .prefix = prefix };
}

void
xd_check_problem (struct xd_check *c, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  if (c->problems++ >= XD_CHECK_MAX_REPORTS)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  xd_error ("%s: %s: %s", c->name, c->prefix, msg);
}

void
xd_check_add (struct xd_check *c, uint64_t start, uint64_t end,
              const char *what, uint64_t index)
{
  if (XD_RESERVE (c->ranges, c->n, c->cap, 1) == -1) {
    xd_check_problem (c, "out of memory for the overlap check");
    return;
  }
  c->ranges[c->n++] = (struct xd_check_range) { start, end, what, index };
}

static int
cmp_start (const void *a, const void *b)
{
  const struct xd_check_range *x = a, *y = b;

  return x->start < y->start ? -1 : x->start > y->start;
}

void
xd_check_overlaps (struct xd_check *c, const char *unit)
{
  size_t i, last = 0;

  qsort (c->ranges, c->n, sizeof *c->ranges, cmp_start);
  for (i = 1; i < c->n; i++) {
    const struct xd_check_range *a = &c->ranges[last], *b = &c->ranges[i];
    if (b->start < a->end)
      xd_check_problem (c, "%s %" PRIu64 " (%s %" PRIu64 "-%" PRIu64 ") "
                        "overlaps %s %" PRIu64 " (%s %" PRIu64 "-%" PRIu64
                        ")", b->what, b->index, unit, b->start, b->end,
                        a->what, a->index, unit, a->start, a->end);
    /* Compare each range with the one reaching furthest before it. */
    if (b->end > a->end)
      last = i;
  }
}

int
xd_check_end (struct xd_check *c)
{
  if (c->problems > XD_CHECK_MAX_REPORTS)
    xd_error ("%s: %s: %u more problems", c->name, c->prefix,
              c->problems - XD_CHECK_MAX_REPORTS);
  free (c->ranges);
  c->ranges = NULL;
  c->n = c->cap = 0;
  if (c->problems == 0)
    return 0;
  errno = EIO;
  return -1;
}
