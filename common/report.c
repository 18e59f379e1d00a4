/* xdisk: error and debug message routing, see xd-report.h. */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdarg.h>

#include "xd-report.h"

static void
stderr_report (const char *fmt, va_list args)
{
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
}

static xd_report_fn error_fn = stderr_report;
static xd_report_fn debug_fn = NULL;

void
xd_set_reporters (xd_report_fn error, xd_report_fn debug)
{
  error_fn = error;
  debug_fn = debug;
}

void
xd_error (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  if (error_fn) {
    va_start (args, fmt);
    errno = saved_errno;        /* for %m */
    error_fn (fmt, args);
    va_end (args);
  }
  errno = saved_errno;
}

void
xd_debug (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list args;

  if (debug_fn) {
    va_start (args, fmt);
    errno = saved_errno;
    debug_fn (fmt, args);
    va_end (args);
  }
  errno = saved_errno;
}
