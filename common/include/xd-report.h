/* xdisk: error and debug messages from format code.
 *
 * The format code in common/ and the read paths in plugins/ do not call
 * nbdkit directly, so that the same code runs in unit tests and fuzzers.
 * The nbdkit glue routes these to nbdkit_verror / nbdkit_vdebug; by
 * default errors go to stderr and debug messages are dropped.
 *
 * Both functions preserve errno, so a caller can set errno, report,
 * and return -1.
 */
#ifndef XDISK_REPORT_H
#define XDISK_REPORT_H

#include <stdarg.h>
#include <stdbool.h>

typedef void (*xd_report_fn) (const char *fmt, va_list args);

extern void xd_set_reporters (xd_report_fn error, xd_report_fn debug);

extern void xd_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));
extern void xd_debug (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* For code that tries a fallback (a redundant table, a second header):
 * between xd_error_hold and xd_error_release, errors reported by this
 * thread are held back.  xd_error_release (true) then reports the first
 * of them, once; xd_error_release (false) passes it to the debug channel
 * (the fallback worked).  Later held errors only go to debug.  Holds
 * nest; the outermost release decides.  Both preserve errno.
 */
extern void xd_error_hold (void);
extern void xd_error_release (bool report);

#endif /* XDISK_REPORT_H */
