/* Unit tests for the HTTP site (http.c) against a purpose-built server,
 * test-http-server.py, started here on 127.0.0.1 at a free port: reads
 * return exactly the bytes asked or fail with EIO, never bytes from
 * another offset; retries, logins and sessions behave as xd-remote.h
 * says; no message holds the password.
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "include/xd-clock.h"
#include "include/xd-report.h"
#include "io/xd-io.h"
#include "remote/xd-site.h"

#define SMALL_SIZE 70000
#define BIG_SIZE ((10 << 20) + 123)     /* several 4 MiB pieces */
#define PASSWORD "secret"

static unsigned port, tls_port;       /* tls_port 0: no TLS tests */
static pid_t server_pids[2], parent_pid;
static bool use_tls;            /* open on the TLS server, not http:// */
static char root[] = "/tmp/xd-test-http.XXXXXX";

/* Every message, appended: a read reports two. */
static char errors[8192];

static void
capture (const char *fmt, va_list args)
{
  size_t len = strlen (errors);

  if (len < sizeof errors - 2) {
    vsnprintf (errors + len, sizeof errors - len - 1, fmt, args);
    strcat (errors, "\n");
  }
}

static void
setup (void)
{
  errors[0] = '\0';
  xd_set_reporters (capture, NULL);
}

static void
teardown (void)
{
  ck_assert_msg (strstr (errors, PASSWORD) == NULL,
                 "the password reached a message: %s", errors);
}

#define ck_errors_have(word)                                            \
  ck_assert_msg (strstr (errors, (word)) != NULL,                       \
                 "errors \"%s\" lack \"%s\"", errors, (word))

static unsigned char
pattern (uint64_t i)
{
  return (unsigned char) (i * 7 + (i >> 12) * 13 + (i >> 20));
}

/* ---- the server ---- */

static void
write_file (const char *name, size_t size)
{
  char path[256];
  FILE *fp;

  snprintf (path, sizeof path, "%s/%s", root, name);
  fp = fopen (path, "w");
  if (fp == NULL) {
    perror (path);
    exit (EXIT_FAILURE);
  }
  for (size_t i = 0; i < size; i++)
    putc (pattern (i), fp);
  fclose (fp);
}

static void
stop_server (void)
{
  char cmd[300];

  if (getpid () != parent_pid)
    return;                     /* a test's fork: the server is not its */
  for (int i = 0; i < 2; i++)
    if (server_pids[i] > 0) {
      kill (server_pids[i], SIGTERM);
      waitpid (server_pids[i], NULL, 0);
    }
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system (cmd) != 0)
    fprintf (stderr, "test-http: cannot remove %s\n", root);
}

/* Run the server (over TLS with ROOT/cert.pem when TLS) as
 * server_pids[TLS]: its port, or 0 when it cannot run.
 */
static unsigned
run_server (bool tls)
{
  char cert[300], key[300];
  unsigned p = 0;
  int fds[2];
  FILE *fp;
  pid_t pid;

  snprintf (cert, sizeof cert, "%s/cert.pem", root);
  snprintf (key, sizeof key, "%s/key.pem", root);
  if (pipe (fds) == -1)
    return 0;
  pid = fork ();
  if (pid == -1)
    return 0;
  if (pid == 0) {
    dup2 (fds[1], 1);
    close (fds[0]);
    close (fds[1]);
    if (tls)
      execlp ("python3", "python3", XD_HTTP_SERVER, root, cert, key,
              (char *) NULL);
    else
      execlp ("python3", "python3", XD_HTTP_SERVER, root, (char *) NULL);
    _exit (127);
  }
  server_pids[tls] = pid;
  close (fds[1]);
  fp = fdopen (fds[0], "r");
  if (fp == NULL || fscanf (fp, "%u", &p) != 1)
    p = 0;
  if (fp)
    fclose (fp);
  return p;
}

/* A self-signed certificate for the TLS tests, by openssl(1): true if
 * made.
 */
static bool
make_certificate (void)
{
  char cmd[1024];

  snprintf (cmd, sizeof cmd,
            "cd '%s' && openssl req -x509 -newkey ec "
            "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
            "-subj /CN=xdisk-test -keyout key.pem -out cert.pem "
            ">/dev/null 2>&1", root);
  return system (cmd) == 0;
}

/* The output of openssl(1) COMMAND on the test certificate, its last
 * line's text after '=' if AFTER_EQ, into OUT.
 */
static void
openssl_output (const char *command, bool after_eq, char *out, size_t len)
{
  char cmd[1024];
  FILE *fp;
  char *eq;

  snprintf (cmd, sizeof cmd, "cd '%s' && %s", root, command);
  fp = popen (cmd, "r");
  ck_assert_ptr_nonnull (fp);
  ck_assert_ptr_nonnull (fgets (out, (int) len, fp));
  pclose (fp);
  out[strcspn (out, "\n")] = '\0';
  eq = strchr (out, '=');
  if (after_eq && eq != NULL)
    memmove (out, eq + 1, strlen (eq));
}

/* 0, or -1 when the server cannot run (the test is skipped). */
static int
start_server (void)
{
  if (mkdtemp (root) == NULL)
    return -1;
  parent_pid = getpid ();
  atexit (stop_server);
  write_file ("small", SMALL_SIZE);
  write_file ("big", BIG_SIZE);
  port = run_server (false);
  if (port == 0) {
    fprintf (stderr, "test-http: the test server did not start\n");
    return -1;
  }
  if (make_certificate ())
    tls_port = run_server (true);
  if (tls_port == 0)
    fprintf (stderr, "test-http: no TLS tests: openssl(1) or python3's "
             "ssl could not run\n");
  return 0;
}

/* The counters of a session TAG on the server. */
static void
session_stats (const char *tag, unsigned *basic, unsigned *cookie)
{
  char url[128];
  FILE *mem;
  char *text = NULL;
  size_t len = 0;
  CURL *h = curl_easy_init ();

  snprintf (url, sizeof url, "http://127.0.0.1:%u/stats/%s", port, tag);
  ck_assert_msg (!use_tls, "stats are read over http");
  mem = open_memstream (&text, &len);
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, mem);
  ck_assert_int_eq (curl_easy_perform (h), CURLE_OK);
  curl_easy_cleanup (h);
  fclose (mem);
  ck_assert_int_eq (sscanf (text, "basic=%u cookie=%u", basic, cookie), 2);
  free (text);
}

/* ---- helpers ---- */

static struct xd_site *
site_with (struct xd_remote_opts *opts)
{
  struct xd_url url;
  char text[64];
  struct xd_site *site;

  snprintf (text, sizeof text, "%s://127.0.0.1:%u/",
            use_tls ? "https" : "http", use_tls ? tls_port : port);
  ck_assert_int_eq (xd_url_parse (text, &url), 0);
  site = xd_http_site_new (&url, opts);
  xd_url_free (&url);
  return site;
}

static struct xd_site *
site_new (void)
{
  struct xd_remote_opts opts;

  xd_remote_opts_init (&opts);
  opts.retry_seconds = 10;
  return site_with (&opts);
}

static struct xd_io *
open_path (struct xd_site *site, const char *path, bool quiet)
{
  struct xd_url url;
  char text[256];
  struct xd_io *io;

  snprintf (text, sizeof text, "%s://127.0.0.1:%u%s",
            use_tls ? "https" : "http", use_tls ? tls_port : port, path);
  ck_assert_int_eq (xd_url_parse (text, &url), 0);
  io = site->ops->open (site, &url, quiet);
  xd_url_free (&url);
  return io;
}

/* Read [OFFSET, OFFSET+COUNT) and compare it with the pattern. */
static void
read_check (struct xd_io *io, uint64_t offset, size_t count)
{
  unsigned char *buf = malloc (count);
  size_t i;

  ck_assert_ptr_nonnull (buf);
  ck_assert_msg (xd_io_read (io, buf, count, offset, "test") == 0,
                 "read %" PRIu64 "+%zu: %s", offset, count, errors);
  /* One check, not one per byte: each costs libcheck a write. */
  for (i = 0; i < count && buf[i] == pattern (offset + i); i++)
    ;
  ck_assert_msg (i == count, "byte %" PRIu64 " wrong", offset + i);
  free (buf);
}

/* The read must fail with EIO and a message with WORD. */
static void
read_fails (struct xd_io *io, uint64_t offset, size_t count, const char *word)
{
  unsigned char *buf = malloc (count);

  errors[0] = '\0';
  errno = 0;
  ck_assert_int_eq (xd_io_read (io, buf, count, offset, "test"), -1);
  ck_assert_int_eq (errno, EIO);
  ck_errors_have (word);
  free (buf);
}

/* ---- tests ---- */

START_TEST (test_exact_ranges)
{
  struct xd_site *site = site_new ();
  struct xd_io *io = open_path (site, "/ok/small", false);

  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, SMALL_SIZE);
  read_check (io, 0, 1);
  read_check (io, 1, 511);
  read_check (io, 4095, 5000);
  read_check (io, SMALL_SIZE - 17, 17);
  read_check (io, 0, SMALL_SIZE);
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_split_read)
{
  struct xd_site *site = site_new ();
  struct xd_io *io = open_path (site, "/ok/big", false);

  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, BIG_SIZE);
  read_check (io, 0, BIG_SIZE);
  read_check (io, 4097, (9 << 20) + 5);
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_range_ignored)
{
  struct xd_site *site = site_new ();
  struct xd_io *io = open_path (site, "/ignore/small", false);

  ck_assert_ptr_nonnull (io);
  /* 200 with the whole file answers a range covering it (ESXi). */
  read_check (io, 0, SMALL_SIZE);
  /* Elsewhere it would be the wrong bytes. */
  read_fails (io, 10, 100, "ignored the range");
  read_fails (io, 0, 100, "ignored the range");
  read_fails (io, 60000, 10000, "range 60000-69999");
  xd_io_close (io);
  /* As many bytes as asked, but from the start of the file. */
  io = open_path (site, "/liar/small", false);
  ck_assert_ptr_nonnull (io);
  read_check (io, 0, 1000);
  read_fails (io, 1000, 1000, "ignored the range");
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_ranges_refused_at_open)
{
  struct xd_site *site = site_new ();

  errno = 0;
  ck_assert_ptr_null (open_path (site, "/norange/small", false));
  ck_assert_int_eq (errno, EIO);
  ck_errors_have ("does not honour byte ranges");
  ck_errors_have ("/norange/small");
  site->ops->free (site);
}
END_TEST

START_TEST (test_head_refused)
{
  struct xd_site *site = site_new ();
  struct xd_io *io = open_path (site, "/nohead/small", false);

  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, SMALL_SIZE);
  read_check (io, 100, 1000);
  xd_io_close (io);
  io = open_path (site, "/presigned/small", false);
  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, SMALL_SIZE);
  read_check (io, 0, 10);
  xd_io_close (io);
  io = open_path (site, "/noaccept/small", false);
  ck_assert_ptr_nonnull (io);
  ck_assert_uint_eq (io->size, SMALL_SIZE);
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_short_and_wrong)
{
  struct xd_site *site = site_new ();
  struct xd_io *io = open_path (site, "/short/small", false);

  ck_assert_ptr_nonnull (io);
  read_fails (io, 1000, 2000, "short answer");
  xd_io_close (io);
  io = open_path (site, "/wrongcr/small", false);
  ck_assert_ptr_nonnull (io);
  read_fails (io, 1000, 2000, "sent bytes 1001-3000 instead");
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_retries)
{
  struct xd_site *site = site_new ();
  struct xd_io *io;

  /* Two 503s (one at open), then the answers. */
  io = open_path (site, "/flaky/2/flaky1/small", false);
  ck_assert_ptr_nonnull (io);
  read_check (io, 5, 50000);
  xd_io_close (io);
  /* Retry-After: 1 is waited for (the backoff would be 50-100 ms). */
  uint64_t t0 = xd_now_ms ();
  io = open_path (site, "/later/1/later1/small", false);
  ck_assert_ptr_nonnull (io);
  ck_assert_uint_ge (xd_now_ms () - t0, 1000);
  xd_io_close (io);
  /* A dropped connection. */
  io = open_path (site, "/drop/1/drop1/small", false);
  ck_assert_ptr_nonnull (io);
  read_check (io, 7, 700);
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_retries_exhausted)
{
  struct xd_remote_opts opts;
  struct xd_site *site;

  xd_remote_opts_init (&opts);
  opts.retries = 2;
  site = site_with (&opts);
  errno = 0;
  ck_assert_ptr_null (open_path (site, "/busy/small", false));
  ck_assert_int_eq (errno, EIO);
  ck_errors_have ("HTTP 503, after 3 tries");
  site->ops->free (site);

  /* The time budget ends it too. */
  opts.retries = 100;
  opts.retry_seconds = 0;
  site = site_with (&opts);
  errors[0] = '\0';
  ck_assert_ptr_null (open_path (site, "/busy/small", false));
  ck_assert_int_eq (errno, EIO);
  ck_errors_have ("after 1 tries within 0 s");
  site->ops->free (site);
}
END_TEST

START_TEST (test_not_found)
{
  struct xd_site *site = site_new ();

  errno = 0;
  ck_assert_ptr_null (open_path (site, "/ok/nothing", true));
  ck_assert_int_eq (errno, ENOENT);
  ck_assert_str_eq (errors, "");        /* quiet */
  ck_assert_ptr_null (open_path (site, "/ok/nothing", false));
  ck_assert_int_eq (errno, ENOENT);
  ck_errors_have ("/ok/nothing: no such file (HTTP 404)");
  site->ops->free (site);
}
END_TEST

START_TEST (test_login)
{
  struct xd_remote_opts opts;
  struct xd_site *site;
  struct xd_io *io;

  xd_remote_opts_init (&opts);
  site = site_with (&opts);
  errno = 0;
  ck_assert_ptr_null (open_path (site, "/auth/small", false));
  ck_assert_int_eq (errno, EACCES);
  ck_errors_have ("give user= and password=");
  site->ops->free (site);

  opts.user = "user";
  opts.password = "wrong-" PASSWORD;
  site = site_with (&opts);
  errno = 0;
  ck_assert_ptr_null (open_path (site, "/auth/small", false));
  ck_assert_int_eq (errno, EACCES);
  ck_errors_have ("refused the user name/password");
  site->ops->free (site);

  opts.password = PASSWORD;
  site = site_with (&opts);
  io = open_path (site, "/auth/small", false);
  ck_assert_ptr_nonnull (io);
  read_check (io, 3, 3000);
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

/* Basic once, then the cookie; an expired cookie (401 or 403): one new
 * login, and the reads go on.
 */
static void
session_case (const char *limit, const char *tag)
{
  struct xd_remote_opts opts;
  struct xd_site *site;
  struct xd_io *io;
  char path[128];
  unsigned basic, cookie;

  xd_remote_opts_init (&opts);
  opts.user = "user";
  opts.password = PASSWORD;
  site = site_with (&opts);
  snprintf (path, sizeof path, "/session/%s/%s/small", limit, tag);
  io = open_path (site, path, false);
  ck_assert_ptr_nonnull (io);
  session_stats (tag, &basic, &cookie);
  ck_assert_uint_eq (basic, 1);
  ck_assert_uint_eq (cookie, 0);
  for (unsigned i = 0; i < 5; i++)
    read_check (io, i * 1000, 1000);
  /* Reads 1-3 on the first cookie, read 4 refused, a login (Basic)
   * for it, read 5 on the new cookie.
   */
  session_stats (tag, &basic, &cookie);
  ck_assert_uint_eq (basic, 2);
  ck_assert_uint_eq (cookie, 5);
  xd_io_close (io);
  site->ops->free (site);
}

START_TEST (test_session)
{
  session_case ("3", "sess401");
  session_case ("-3", "sess403");
}
END_TEST

/* Eight threads on two connections, on a session that expires every
 * four requests: each read gets its bytes; the logins stay one per
 * expiry (only one thread logs in again; the others wait for it).
 */
#define THREADS 8
#define THREAD_READS 10

static void *
reader (void *arg)
{
  struct xd_io *io = arg;

  for (unsigned i = 0; i < THREAD_READS; i++)
    read_check (io, (i * 7919) % (SMALL_SIZE - 5000), 5000);
  return NULL;
}

START_TEST (test_threads)
{
  struct xd_remote_opts opts;
  struct xd_site *site;
  struct xd_io *io;
  pthread_t threads[THREADS];
  unsigned basic, cookie;

  xd_remote_opts_init (&opts);
  opts.user = "user";
  opts.password = PASSWORD;
  opts.connections = 2;
  site = site_with (&opts);
  io = open_path (site, "/session/4/threads/small", false);
  ck_assert_ptr_nonnull (io);
  for (unsigned i = 0; i < THREADS; i++)
    ck_assert_int_eq (pthread_create (&threads[i], NULL, reader, io), 0);
  for (unsigned i = 0; i < THREADS; i++)
    pthread_join (threads[i], NULL);
  session_stats ("threads", &basic, &cookie);
  /* A cookie is refused only after 4 good uses. */
  ck_assert_uint_le (basic, 1 + THREADS * THREAD_READS / 4);
  ck_assert_uint_ge (basic, 2);
  xd_io_close (io);

  /* A split read on one connection. */
  opts.connections = 1;
  opts.user = opts.password = NULL;
  site->ops->free (site);
  site = site_with (&opts);
  io = open_path (site, "/ok/big", false);
  ck_assert_ptr_nonnull (io);
  read_check (io, 1, BIG_SIZE - 1);
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_redirects)
{
  struct xd_remote_opts opts;
  struct xd_site *site;
  struct xd_io *io;

  xd_remote_opts_init (&opts);
  site = site_with (&opts);
  errno = 0;
  ck_assert_ptr_null (open_path (site, "/redir/small", false));
  ck_assert_int_eq (errno, EIO);
  ck_errors_have ("redirects=same-origin would follow it");
  site->ops->free (site);

  opts.redirects = XD_REDIRECTS_SAME_ORIGIN;
  opts.user = "user";
  opts.password = PASSWORD;
  site = site_with (&opts);
  io = open_path (site, "/redir/small", false);
  ck_assert_msg (io != NULL, "%s", errors);
  read_check (io, 0, 100);
  xd_io_close (io);
  /* localhost is another origin than 127.0.0.1. */
  errors[0] = '\0';
  ck_assert_ptr_null (open_path (site, "/xredir/ok/small", false));
  ck_errors_have ("redirects=any would follow it");
  site->ops->free (site);

  /* Followed there, but without the login: /auth/ asks for one. */
  opts.redirects = XD_REDIRECTS_ANY;
  site = site_with (&opts);
  io = open_path (site, "/xredir/ok/small", false);
  ck_assert_msg (io != NULL, "%s", errors);
  read_check (io, 100, 1000);
  xd_io_close (io);
  errno = 0;
  ck_assert_ptr_null (open_path (site, "/xredir/auth/small", false));
  ck_assert_int_eq (errno, EACCES);
  ck_errors_have ("give user= and password=");
  io = open_path (site, "/auth/small", false);
  ck_assert_ptr_nonnull (io);
  xd_io_close (io);
  site->ops->free (site);
}
END_TEST

START_TEST (test_thumbprint_syntax)
{
  struct xd_remote_opts opts;
  struct xd_site *site;

  xd_remote_opts_init (&opts);
  opts.thumbprint = "12:34";
  errno = 0;
  ck_assert_ptr_null (site_with (&opts));
  ck_assert_int_eq (errno, EINVAL);
  ck_errors_have ("thumbprint=");
  opts.thumbprint = "0A:1b:2C:3d:4E:5f:60:71:82:93:A4:B5:C6:D7:E8:F9:0a:1B:2c:3D";
  site = site_with (&opts);
  ck_assert_ptr_nonnull (site);
  site->ops->free (site);
  opts.thumbprint = "sha256//AAAA";
  site = site_with (&opts);
  ck_assert_ptr_nonnull (site);
  site->ops->free (site);
}
END_TEST

/* Open a file on the TLS server with OPTS; NULL if refused. */
static struct xd_io *
tls_open (struct xd_remote_opts *opts, const char *path, struct xd_site **site)
{
  struct xd_io *io;

  use_tls = true;
  *site = site_with (opts);
  ck_assert_ptr_nonnull (*site);
  errors[0] = '\0';
  io = open_path (*site, path, false);
  use_tls = false;
  return io;
}

static void
tls_accepted (struct xd_remote_opts *opts)
{
  struct xd_site *site;
  struct xd_io *io = tls_open (opts, "/ok/small", &site);

  ck_assert_msg (io != NULL, "refused: %s", errors);
  read_check (io, 100, 20000);
  xd_io_close (io);
  (*site->ops->free) (site);
}

/* Refused in the handshake: the login never reached the server. */
static void
tls_refused (struct xd_remote_opts *opts, const char *tag, const char *word)
{
  struct xd_site *site;
  struct xd_io *io;
  char path[64];
  unsigned basic, cookie;

  opts->user = "user";
  opts->password = PASSWORD;
  snprintf (path, sizeof path, "/session/5/%s/small", tag);
  io = tls_open (opts, path, &site);
  ck_assert_ptr_null (io);
  ck_assert_int_eq (errno, EIO);
  ck_errors_have (word);
  session_stats (tag, &basic, &cookie);
  ck_assert_uint_eq (basic + cookie, 0);
  site->ops->free (site);
}

START_TEST (test_tls)
{
  struct xd_remote_opts opts;
  char sha1[128], sha256[160], pin[128], wrong[128], *p;

  if (tls_port == 0)
    return;
  openssl_output ("openssl x509 -in cert.pem -noout -fingerprint -sha1",
                  true, sha1, sizeof sha1);
  openssl_output ("openssl x509 -in cert.pem -noout -fingerprint -sha256",
                  true, sha256, sizeof sha256);
  strcpy (pin, "sha256//");
  openssl_output ("openssl x509 -in cert.pem -noout -pubkey | "
                  "openssl pkey -pubin -outform der | "
                  "openssl dgst -sha256 -binary | base64",
                  false, pin + 8, sizeof pin - 8);

  /* Self-signed: refused by default, read with sslverify=false. */
  xd_remote_opts_init (&opts);
  tls_refused (&opts, "tls1", "certificate");
  xd_remote_opts_init (&opts);
  opts.sslverify = false;
  tls_accepted (&opts);

  /* Pinned: accepted although the chain does not verify. */
  xd_remote_opts_init (&opts);
  opts.thumbprint = sha1;
  tls_accepted (&opts);
  for (p = sha256; *p; p++)
    *p = (char) tolower ((unsigned char) *p);
  opts.thumbprint = sha256;
  tls_accepted (&opts);
  opts.thumbprint = pin;
  tls_accepted (&opts);

  /* Another thumbprint: refused before any request, naming both. */
  strcpy (wrong, sha1);
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  opts.thumbprint = wrong;
  tls_refused (&opts, "tls2", wrong);
  ck_errors_have (sha1);
  ck_errors_have ("127.0.0.1");
  opts.user = opts.password = NULL;
  opts.thumbprint = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  tls_refused (&opts, "tls3", "127.0.0.1");
}
END_TEST

static Suite *
http_suite (void)
{
  Suite *s = suite_create ("http");
  TCase *tc = tcase_create ("core");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_exact_ranges);
  tcase_add_test (tc, test_split_read);
  tcase_add_test (tc, test_range_ignored);
  tcase_add_test (tc, test_ranges_refused_at_open);
  tcase_add_test (tc, test_head_refused);
  tcase_add_test (tc, test_short_and_wrong);
  tcase_add_test (tc, test_retries);
  tcase_add_test (tc, test_retries_exhausted);
  tcase_add_test (tc, test_not_found);
  tcase_add_test (tc, test_login);
  tcase_add_test (tc, test_session);
  tcase_add_test (tc, test_threads);
  tcase_add_test (tc, test_redirects);
  tcase_add_test (tc, test_thumbprint_syntax);
  tcase_add_test (tc, test_tls);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr;
  int failed;

  if (start_server () == -1) {
    fprintf (stderr, "test-http: skipped: python3 cannot run the test "
             "server\n");
    return 77;
  }
  sr = srunner_create (http_suite ());
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
