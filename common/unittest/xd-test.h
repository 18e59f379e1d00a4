/* xdisk: shared set-up for the libcheck unit tests.
 *
 * The library reports errors through xd_error; the tests capture the
 * last message instead of printing it, so that they can check it names
 * the file and the field.
 */
#ifndef XD_TEST_H
#define XD_TEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "include/xd-report.h"

static char last_error[1024];

static void
capture_error (const char *fmt, va_list args)
{
  vsnprintf (last_error, sizeof last_error, fmt, args);
}

/* Checked fixture: run before each test. */
static void
setup (void)
{
  last_error[0] = '\0';
  xd_set_reporters (capture_error, NULL);
}

#define ck_error_has(word) \
  ck_assert_msg (strstr (last_error, (word)) != NULL, \
                 "error \"%s\" lacks \"%s\"", last_error, (word))

/* CALL must fail (return -1) with errno ERR and a message containing
 * WORD.  The message and errno are cleared first: the message or errno
 * an earlier call left must not satisfy the check.
 */
#define ck_fails_with(call, err, word) do {                             \
    int ck_r_, ck_e_;                                                   \
    last_error[0] = '\0';                                               \
    errno = 0;                                                          \
    ck_r_ = (call);                                                     \
    ck_e_ = errno;                                                      \
    ck_assert_msg (ck_r_ == -1, "%s returned %d, not -1", #call, ck_r_); \
    ck_assert_msg (ck_e_ == (err), "%s: errno %d (%s), expected %s",    \
                   #call, ck_e_, strerror (ck_e_), #err);               \
    ck_error_has (word);                                                \
  } while (0)

#endif /* XD_TEST_H */
