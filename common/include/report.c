/* xdisk: error and debug message routing, see xd-report.h. */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdarg.h>

#include "include/xd-report.h"

static void
stderr_report (const char *fmt, va_list args)
{
  vfprintf (stderr, fmt, args);
  fputc ('\n', stderr);
}

static xd_report_fn error_fn = stderr_report;
static xd_report_fn debug_fn = NULL;

/* Errors held back by xd_error_hold: the first one's text. */
static _Thread_local unsigned hold_depth;
static _Thread_local bool held;
static _Thread_local char held_msg[2048];

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

  if (hold_depth > 0) {
    va_start (args, fmt);
    errno = saved_errno;        /* for %m */
    if (!held) {
      vsnprintf (held_msg, sizeof held_msg, fmt, args);
      held = true;
    }
    else if (debug_fn)
      debug_fn (fmt, args);
    va_end (args);
  }
  else if (error_fn) {
    va_start (args, fmt);
    errno = saved_errno;        /* for %m */
    error_fn (fmt, args);
    va_end (args);
  }
  errno = saved_errno;
}

void
xd_error_hold (void)
{
  hold_depth++;
}

void
xd_error_release (bool report)
{
  int saved_errno = errno;

  if (hold_depth == 0 || --hold_depth > 0 || !held)
    return;
  held = false;
  if (report)
    xd_error ("%s", held_msg);
  else
    xd_debug ("%s (recovered from)", held_msg);
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
