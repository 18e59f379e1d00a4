/* xdisk: the SFTP site (see xd-remote.h, xd-site.h).
 *
 * A site holds a pool of up to opts->connections SSH sessions, each
 * with its SFTP session.  libssh sessions must not be used by two
 * threads at once (remote-sources.md §2.2), so a thread takes a free
 * session for the whole of one read and gives it back; the first
 * session is made when the site is, so that a wrong host key or a
 * refused key is said at startup, and the others when a thread finds
 * none free.
 *
 * libssh 0.10's sftp_read sends one READ and waits for it: one round
 * trip per call.  Reads here are pipelined instead: many READs of
 * SFTP_PIECE bytes in flight on one session (sftp_async_read_begin),
 * collected in order, a short answer re-requested for the rest; a
 * large read is also split over several sessions in threads.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>

#include "remote/xd-site.h"
#include "include/xd-report.h"

#ifdef HAVE_LIBSSH

#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "include/xd-clock.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"

/* Bytes asked for by one READ.  OpenSSH's sftp-server answers at most
 * 64 KiB up to 8.5 and 261120 bytes from 8.6 (remote-sources.md §2.2);
 * libssh 0.10 cannot ask the server its limit (no limits@openssh.com),
 * so the size every server answers in full.  A shorter answer is
 * re-requested anyway.
 */
#define SFTP_PIECE (64 * 1024)

/* READs in flight at once on one session: 32 × 64 KiB = 2 MiB, enough
 * to fill a link of 200 MB/s at 10 ms round trip.
 */
#define SFTP_IN_FLIGHT 32

/* Reads at least this large are split over several sessions. */
#define SFTP_SPLIT_MIN (2 * 1024 * 1024)

/* One session of the pool. */
struct sftp_conn {
  ssh_session ssh;              /* NULL: not connected (yet, or again) */
  sftp_session sftp;
  bool busy;                    /* taken by a thread */
  unsigned generation;          /* bumped at each (re)connection */
};

struct sftp_site {
  struct xd_site site;
  struct xd_url url;            /* the site's origin (and first file) */
  char *origin;                 /* "ssh://host:port" for messages */
  char *user;
  char *password;               /* a secret: never printed */
  char *known_hosts;
  char *identity;
  bool verify_remote_host;
  unsigned retries, retry_seconds, timeout;

  pthread_mutex_t lock;         /* guards conns[].busy, .ssh on take */
  pthread_cond_t freed;         /* a session was given back */
  unsigned nr_conns;            /* opts->connections */
  struct sftp_conn *conns;
};

/* An open file: its handle on each session that has read it, opened
 * lazily.  Handle I is used only by the thread holding session I.
 */
struct sftp_handle {
  sftp_file file;
  unsigned generation;          /* the session's when it was opened */
};

struct sftp_io {
  struct sftp_site *site;
  char *path;                   /* decoded: SFTP paths are bytes */
  char *display;                /* xd_url_display form */
  struct sftp_handle *handles;  /* site->nr_conns of them */
};

/* ---- connecting ---- */

/* The user to log in as: user=, else the URL's, else the local one. */
static char *
local_user_name (void)
{
  struct passwd pw, *res = NULL;
  char buf[4096];

  if (getpwuid_r (geteuid (), &pw, buf, sizeof buf, &res) != 0 || res == NULL)
    return NULL;
  return strdup (pw.pw_name);
}

/* Say why the server's host key is refused: the host, the key's type
 * and SHA-256 fingerprint, and how to accept it.
 */
static void
report_host_key (const struct sftp_site *s, ssh_session ssh,
                 enum ssh_known_hosts_e state)
{
  ssh_key key = NULL;
  unsigned char *hash = NULL;
  size_t hash_len = 0;
  char *fingerprint = NULL;
  const char *type = "unknown type";
  const char *what;

  if (ssh_get_server_publickey (ssh, &key) == SSH_OK) {
    type = ssh_key_type_to_char (ssh_key_type (key));
    if (ssh_get_publickey_hash (key, SSH_PUBLICKEY_HASH_SHA256,
                                &hash, &hash_len) == 0)
      fingerprint = ssh_get_fingerprint_hash (SSH_PUBLICKEY_HASH_SHA256,
                                              hash, hash_len);
  }
  switch (state) {
  case SSH_KNOWN_HOSTS_CHANGED:
    what = "has CHANGED from the one in the known hosts (someone may be "
      "intercepting the connection)";
    break;
  case SSH_KNOWN_HOSTS_OTHER:
    what = "is of another type than the one in the known hosts";
    break;
  default:
    what = "is not in the known hosts";
  }
  xd_error ("%s: the host key of %s (%s %s) %s (%s): check the "
            "fingerprint, add the key to a known-hosts file (ssh-keyscan "
            "-p %u %s >> FILE) and give known-hosts=FILE, or give "
            "verify-remote-host=false to skip the check",
            s->origin, s->url.host, type ? type : "?",
            fingerprint ? fingerprint : "(no fingerprint)", what,
            s->known_hosts ? s->known_hosts
            : "~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts",
            s->url.port, s->url.host);
  ssh_string_free_char (fingerprint);
  ssh_clean_pubkey_hash (&hash);
  ssh_key_free (key);
}

/* Check the server's host key against the known hosts (known-hosts=,
 * else ~/.ssh/known_hosts then /etc/ssh/ssh_known_hosts, libssh's
 * defaults as nbdkit's ssh plugin uses them).  0, or -1 reported.
 */
static int
verify_host (const struct sftp_site *s, ssh_session ssh)
{
  enum ssh_known_hosts_e state;

  if (!s->verify_remote_host)
    return 0;
  state = ssh_session_is_known_server (ssh);
  switch (state) {
  case SSH_KNOWN_HOSTS_OK:
    return 0;
  case SSH_KNOWN_HOSTS_ERROR:
    xd_error ("%s: checking the host key of %s: %s",
              s->origin, s->url.host, ssh_get_error (ssh));
    return -1;
  default:
    report_host_key (s, ssh, state);
    return -1;
  }
}

/* Keyboard-interactive login with the password, as ESXi's sshd asks
 * for it (remote-sources.md §2.3): every hidden prompt is answered with
 * it; a prompt that echoes asks for something else, so it fails.
 */
static int
auth_kbdint (ssh_session ssh, const char *password)
{
  unsigned round;
  int rc, i, n;
  char echo;

  for (round = 0; round < 8; round++) {
    rc = ssh_userauth_kbdint (ssh, NULL, NULL);
    if (rc != SSH_AUTH_INFO)
      return rc;
    n = ssh_userauth_kbdint_getnprompts (ssh);
    for (i = 0; i < n; i++) {
      if (ssh_userauth_kbdint_getprompt (ssh, (unsigned) i, &echo) == NULL ||
          echo ||
          ssh_userauth_kbdint_setanswer (ssh, (unsigned) i, password) < 0)
        return SSH_AUTH_DENIED;
    }
  }
  return SSH_AUTH_DENIED;
}

/* Public keys (identity= first, then libssh's defaults and the agent),
 * then password= when given, as a password or keyboard-interactive.
 * 0, or -1 reported (never the password).
 */
static int
authenticate (const struct sftp_site *s, ssh_session ssh)
{
  int methods;

  if (ssh_userauth_none (ssh, NULL) == SSH_AUTH_SUCCESS)
    return 0;
  methods = ssh_userauth_list (ssh, NULL);
  if ((methods & SSH_AUTH_METHOD_PUBLICKEY) &&
      ssh_userauth_publickey_auto (ssh, NULL, NULL) == SSH_AUTH_SUCCESS)
    return 0;
  if (s->password && (methods & SSH_AUTH_METHOD_PASSWORD) &&
      ssh_userauth_password (ssh, NULL, s->password) == SSH_AUTH_SUCCESS)
    return 0;
  if (s->password && (methods & SSH_AUTH_METHOD_INTERACTIVE) &&
      auth_kbdint (ssh, s->password) == SSH_AUTH_SUCCESS)
    return 0;
  xd_error ("%s: the server refused user %s (tried: public key%s%s%s%s)",
            s->origin, s->user,
            s->identity ? " " : "", s->identity ? s->identity : "",
            s->password ? ", password" : "",
            s->password && !(methods & (SSH_AUTH_METHOD_PASSWORD |
                                        SSH_AUTH_METHOD_INTERACTIVE))
            ? " (not offered by the server)" : "");
  return -1;
}

static int
set_options (const struct sftp_site *s, ssh_session ssh)
{
  int port = (int) s->url.port;
  long timeout = s->timeout;
  /* Small reads are one round trip each: without TCP_NODELAY, Nagle's
   * algorithm holds a READ back until the last answer is acknowledged.
   */
  int nodelay = 1;

  if (ssh_options_set (ssh, SSH_OPTIONS_HOST, s->url.host) != SSH_OK ||
      ssh_options_set (ssh, SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set (ssh, SSH_OPTIONS_USER, s->user) != SSH_OK ||
      ssh_options_set (ssh, SSH_OPTIONS_NODELAY, &nodelay) != SSH_OK ||
      (s->known_hosts &&
       ssh_options_set (ssh, SSH_OPTIONS_KNOWNHOSTS,
                        s->known_hosts) != SSH_OK) ||
      (s->identity &&
       ssh_options_set (ssh, SSH_OPTIONS_ADD_IDENTITY,
                        s->identity) != SSH_OK) ||
      (timeout > 0 &&
       ssh_options_set (ssh, SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK)) {
    xd_error ("%s: setting the SSH options: %s",
              s->origin, ssh_get_error (ssh));
    return -1;
  }
  return 0;
}

static void
disconnect (struct sftp_conn *c)
{
  if (c->sftp)
    sftp_free (c->sftp);
  if (c->ssh) {
    ssh_disconnect (c->ssh);
    ssh_free (c->ssh);
  }
  c->sftp = NULL;
  c->ssh = NULL;
}

/* Connect, check the host, log in, start SFTP.  QUIET: a failure goes
 * to the debug channel only (a reconnection being retried).  0 or -1.
 */
static int
connect_conn (const struct sftp_site *s, struct sftp_conn *c, bool quiet)
{
  if (quiet)
    xd_error_hold ();
  c->ssh = ssh_new ();
  if (c->ssh == NULL) {
    xd_error ("%s: ssh_new failed", s->origin);
    goto fail;
  }
  if (set_options (s, c->ssh) == -1)
    goto fail;
  if (ssh_connect (c->ssh) != SSH_OK) {
    xd_error ("%s: connecting: %s", s->origin, ssh_get_error (c->ssh));
    goto fail;
  }
  if (verify_host (s, c->ssh) == -1 || authenticate (s, c->ssh) == -1)
    goto fail;
  c->sftp = sftp_new (c->ssh);
  if (c->sftp == NULL || sftp_init (c->sftp) != SSH_OK) {
    xd_error ("%s: starting SFTP (is the sftp subsystem enabled?): %s",
              s->origin, ssh_get_error (c->ssh));
    goto fail;
  }
  c->generation++;
  if (quiet)
    xd_error_release (false);
  xd_debug ("%s: connected as %s", s->origin, s->user);
  return 0;

 fail:
  disconnect (c);
  if (quiet)
    xd_error_release (false);
  errno = EIO;
  return -1;
}

/* ---- the pool ---- */

/* Take a free session, connecting one when none is free and the pool
 * is not full, else waiting.  Its index, or -1 reported.
 */
static int
take_conn (struct sftp_site *s, bool quiet)
{
  unsigned i, empty;
  int r;

  pthread_mutex_lock (&s->lock);
  for (;;) {
    empty = s->nr_conns;
    for (i = 0; i < s->nr_conns; i++) {
      if (s->conns[i].busy)
        continue;
      if (s->conns[i].ssh)
        break;
      if (empty == s->nr_conns)
        empty = i;
    }
    if (i < s->nr_conns || empty < s->nr_conns)
      break;
    pthread_cond_wait (&s->freed, &s->lock);
  }
  if (i == s->nr_conns)
    i = empty;
  s->conns[i].busy = true;
  pthread_mutex_unlock (&s->lock);

  if (s->conns[i].ssh == NULL &&
      connect_conn (s, &s->conns[i], quiet) == -1) {
    r = errno;
    pthread_mutex_lock (&s->lock);
    s->conns[i].busy = false;
    pthread_cond_signal (&s->freed);
    pthread_mutex_unlock (&s->lock);
    errno = r;
    return -1;
  }
  return (int) i;
}

/* Take session I itself (closing a file's handle on it). */
static void
take_conn_index (struct sftp_site *s, unsigned i)
{
  pthread_mutex_lock (&s->lock);
  while (s->conns[i].busy)
    pthread_cond_wait (&s->freed, &s->lock);
  s->conns[i].busy = true;
  pthread_mutex_unlock (&s->lock);
}

static void
give_conn (struct sftp_site *s, unsigned i)
{
  pthread_mutex_lock (&s->lock);
  s->conns[i].busy = false;
  /* Broadcast: take_conn_index waits for one particular session. */
  pthread_cond_broadcast (&s->freed);
  pthread_mutex_unlock (&s->lock);
}

/* True if the session's connection is gone (worth reconnecting), as
 * opposed to an answer of the server about the file.
 */
static bool
conn_dropped (const struct sftp_conn *c)
{
  int err;

  if (c->ssh == NULL || !ssh_is_connected (c->ssh))
    return true;
  err = sftp_get_error (c->sftp);
  return err == SSH_FX_CONNECTION_LOST || err == SSH_FX_NO_CONNECTION ||
    ssh_get_error_code (c->ssh) == SSH_FATAL;
}

/* errno for the SFTP status of the last request on C. */
static int
sftp_errno (const struct sftp_conn *c)
{
  switch (sftp_get_error (c->sftp)) {
  case SSH_FX_NO_SUCH_FILE:
  case SSH_FX_NO_SUCH_PATH:
    return ENOENT;
  case SSH_FX_PERMISSION_DENIED:
    return EACCES;
  default:
    return EIO;
  }
}

/* ---- reads ---- */

/* The handle of IO on session I, opened now if it has none (or one of
 * an earlier connection of the session, which died with it).  NULL
 * with errno set (not reported).
 */
static sftp_file
get_handle (struct sftp_io *io, unsigned i)
{
  struct sftp_conn *c = &io->site->conns[i];
  struct sftp_handle *h = &io->handles[i];

  if (h->file && h->generation == c->generation)
    return h->file;
  /* A handle of a session that was reconnected belongs to an SFTP
   * session already freed: it cannot be closed, only forgotten (a few
   * bytes lost per dropped connection).
   */
  h->file = sftp_open (c->sftp, io->path, O_RDONLY, 0);
  if (h->file == NULL) {
    errno = sftp_errno (c);
    return NULL;
  }
  h->generation = c->generation;
  return h->file;
}

/* One READ in flight. */
struct sftp_req {
  uint32_t id;
  size_t pos, len;              /* where in the caller's buffer */
};
typedef XD_VECTOR (struct sftp_req) req_queue;

/* Send a READ for LEN bytes at POS of the range at OFFSET. */
static int
begin_piece (sftp_file f, req_queue *q, uint64_t offset,
             size_t pos, size_t len)
{
  int id;

  if (xd_vector_reserve (q, 1) == -1)
    return -1;
  if (sftp_seek64 (f, offset + pos) < 0)
    return -1;
  id = sftp_async_read_begin (f, (uint32_t) len);
  if (id < 0)
    return -1;
  q->ptr[q->len++] = (struct sftp_req) { .id = (uint32_t) id,
                                         .pos = pos, .len = len };
  return 0;
}

/* Collect the answers still in flight after a failure, so that the
 * session's queue holds none of them.
 */
static void
drain (const struct sftp_conn *c, sftp_file f, unsigned char *buf,
       req_queue *q, size_t head)
{
  for (; head < q->len && c->ssh && ssh_is_connected (c->ssh); head++)
    if (sftp_async_read (f, buf + q->ptr[head].pos, (uint32_t) q->ptr[head].len,
                         q->ptr[head].id) == SSH_ERROR)
      break;
}

/* Read COUNT bytes at OFFSET of IO on session I: up to SFTP_IN_FLIGHT
 * READs outstanding, collected in the order sent.  A short answer
 * (the server's cap) is re-requested for its rest; no data at all
 * before the end is EIO.  0, or -1 with errno set; *DROPPED says the
 * connection went away (worth a retry).
 */
static int
read_on_conn (struct sftp_io *io, unsigned i, unsigned char *buf,
              size_t count, uint64_t offset, bool *dropped)
{
  struct sftp_conn *c = &io->site->conns[i];
  req_queue q = { 0 };
  size_t head = 0, next = 0;
  sftp_file f;
  int n, err = 0;

  *dropped = false;
  f = get_handle (io, i);
  if (f == NULL) {
    err = errno;
    goto out;
  }
  while (next < count || head < q.len) {
    struct sftp_req r;

    while (next < count && q.len - head < SFTP_IN_FLIGHT) {
      size_t len = xd_min_u64 (count - next, SFTP_PIECE);

      if (begin_piece (f, &q, offset, next, len) == -1) {
        err = errno == ENOMEM ? ENOMEM : EIO;
        goto out;
      }
      next += len;
    }
    r = q.ptr[head++];
    n = sftp_async_read (f, buf + r.pos, (uint32_t) r.len, r.id);
    if (n == SSH_ERROR || n < 0) {
      err = sftp_errno (c);
      goto out;
    }
    if (n == 0) {
      xd_debug ("%s: the server says end of file at offset %" PRIu64
                " (expected %zu bytes more)", io->display,
                offset + r.pos, r.len);
      err = EIO;
      goto out;
    }
    /* A short answer: ask again for the rest of the piece. */
    if ((size_t) n < r.len &&
        begin_piece (f, &q, offset, r.pos + n, r.len - n) == -1) {
      err = errno == ENOMEM ? ENOMEM : EIO;
      goto out;
    }
    /* Keep the queue from growing without bound. */
    if (head == q.len) {
      head = 0;
      q.len = 0;
    }
  }

 out:
  if (err) {
    *dropped = conn_dropped (c);
    if (!*dropped)
      drain (c, f, buf, &q, head);
  }
  xd_vector_free (&q);
  errno = err;
  return err ? -1 : 0;
}

/* Read a range on one session, reconnecting and retrying when the
 * connection drops, at most site->retries times within retry_seconds.
 * A missing file or a refusal is never retried.  0, or -1 with errno.
 */
static int
read_range (struct sftp_io *io, unsigned char *buf, size_t count,
            uint64_t offset)
{
  struct sftp_site *s = io->site;
  uint64_t deadline = xd_now_ms () + (uint64_t) s->retry_seconds * 1000;
  unsigned attempt = 0;
  bool dropped;
  int i, r;

  for (;;) {
    i = take_conn (s, attempt > 0);
    if (i >= 0) {
      r = read_on_conn (io, (unsigned) i, buf, count, offset, &dropped);
      if (r == 0 || !dropped) {
        give_conn (s, (unsigned) i);
        return r;
      }
      r = errno;
      xd_debug ("%s: the connection dropped reading %zu bytes at offset "
                "%" PRIu64 "%s", io->display, count, offset,
                attempt < s->retries ? ": reconnecting" : "");
      disconnect (&s->conns[i]);
      give_conn (s, (unsigned) i);
      errno = r == 0 ? EIO : r;
    }
    if (attempt >= s->retries || xd_now_ms () >= deadline)
      return -1;
    /* Back off: 100 ms, 200 ms, ... at most 1.6 s. */
    usleep (100000u << xd_min_u64 (attempt, 4));
    attempt++;
  }
}

/* A part of a large read done by a thread. */
struct sftp_part {
  struct sftp_io *io;
  unsigned char *buf;
  size_t count;
  uint64_t offset;
  int r, err;
  pthread_t thread;
};

static void *
part_thread (void *arg)
{
  struct sftp_part *p = arg;

  p->r = read_range (p->io, p->buf, p->count, p->offset);
  p->err = errno;
  return NULL;
}

/* Large reads are split over the sessions, each part in its own thread
 * (this one does the first).
 */
static int
sftp_pread (struct xd_io *xio, void *buf, size_t count, uint64_t offset)
{
  struct sftp_io *io = xio->priv;
  struct sftp_part parts[64];
  size_t nparts, each, i;
  int r = 0, err = 0;

  nparts = xd_min_u64 (io->site->nr_conns, sizeof parts / sizeof parts[0]);
  nparts = xd_min_u64 (nparts, count / (SFTP_SPLIT_MIN / 2));
  if (count < SFTP_SPLIT_MIN || nparts < 2)
    return read_range (io, buf, count, offset);

  /* Parts of whole pieces, the last taking the remainder. */
  each = (count / nparts + SFTP_PIECE - 1) / SFTP_PIECE * SFTP_PIECE;
  for (i = 0; i < nparts; i++) {
    parts[i] = (struct sftp_part) {
      .io = io, .buf = (unsigned char *) buf + i * each,
      .offset = offset + i * each,
      .count = i + 1 < nparts ? each : count - i * each,
    };
  }
  /* Rounding up may leave the last parts empty. */
  while (nparts > 1 && (nparts - 1) * each >= count)
    nparts--;
  parts[nparts - 1].count = count - (nparts - 1) * each;

  for (i = 1; i < nparts; i++)
    if (pthread_create (&parts[i].thread, NULL, part_thread, &parts[i]) != 0) {
      /* No thread: this one reads the part after its own. */
      parts[i].thread = pthread_self ();
      parts[i].r = read_range (io, parts[i].buf, parts[i].count,
                               parts[i].offset);
      parts[i].err = errno;
    }
  part_thread (&parts[0]);
  for (i = 0; i < nparts; i++) {
    if (i > 0 && !pthread_equal (parts[i].thread, pthread_self ()))
      pthread_join (parts[i].thread, NULL);
    if (parts[i].r == -1 && r == 0) {
      r = -1;
      err = parts[i].err;
    }
  }
  errno = err;
  return r;
}

static void
sftp_io_close (struct xd_io *xio)
{
  struct sftp_io *io = xio->priv;
  struct sftp_site *s = io->site;
  unsigned i;

  for (i = 0; i < s->nr_conns; i++) {
    struct sftp_handle *h = &io->handles[i];

    if (h->file == NULL)
      continue;
    take_conn_index (s, i);
    if (h->generation == s->conns[i].generation && s->conns[i].sftp)
      sftp_close (h->file);
    give_conn (s, i);
  }
  free (io->handles);
  free (io->display);
  free (io->path);
  free (io);
}

static const struct xd_io_ops sftp_io_ops = {
  .pread = sftp_pread,
  .close = sftp_io_close,
};

/* ---- the site ---- */

/* Open PATH on a session to learn its size (and keep that handle).
 * QUIET: errno only.
 */
static struct xd_io *
sftp_site_open (struct xd_site *site, const struct xd_url *url, bool quiet)
{
  struct sftp_site *s = (struct sftp_site *) site;
  struct sftp_io *io;
  struct xd_io *xio = NULL;
  sftp_attributes attrs;
  sftp_file f;
  uint64_t size = 0;
  int i, err;

  io = calloc (1, sizeof *io);
  if (io == NULL ||
      (io->handles = calloc (s->nr_conns, sizeof *io->handles)) == NULL) {
    err = errno;
    if (!quiet)
      xd_error ("%s: calloc: %s", s->origin, strerror (err));
    goto fail;
  }
  io->site = s;
  io->display = xd_url_display (url);
  if (quiet)
    xd_error_hold ();
  io->path = xd_url_decoded_path (url);
  if (quiet)
    xd_error_release (false);
  if (io->path == NULL) {
    err = errno == EINVAL ? EINVAL : EIO;
    goto fail;
  }

  i = take_conn (s, quiet);
  if (i < 0) {
    err = EIO;
    goto fail;
  }
  f = get_handle (io, (unsigned) i);
  attrs = f ? sftp_fstat (f) : NULL;
  err = f == NULL ? errno : attrs == NULL ? sftp_errno (&s->conns[i]) : 0;
  if (err && !quiet)
    xd_error ("%s: %s: %s", io->display,
              f == NULL ? "open" : "fstat",
              err == ENOENT ? "no such file"
              : err == EACCES ? "permission denied"
              : ssh_get_error (s->conns[i].ssh));
  if (attrs) {
    if (attrs->type != SSH_FILEXFER_TYPE_REGULAR) {
      err = EIO;
      if (!quiet)
        xd_error ("%s: not a regular file", io->display);
    }
    if (!(attrs->flags & SSH_FILEXFER_ATTR_SIZE) && !err) {
      err = EIO;
      if (!quiet)
        xd_error ("%s: the server did not say the file's size", io->display);
    }
    size = attrs->size;
    sftp_attributes_free (attrs);
  }
  give_conn (s, (unsigned) i);
  if (err)
    goto fail;

  xio = xd_io_new (&sftp_io_ops, io->display, size, io);
  if (xio == NULL) {
    err = EIO;
    goto fail;
  }
  return xio;

 fail:
  if (io && io->handles)
    sftp_io_close (&(struct xd_io) { .priv = io });
  else if (io) {
    free (io->display);
    free (io);
  }
  errno = err;
  return NULL;
}

/* Bytes kept as they are in a URL path segment: RFC 3986's unreserved
 * set (and '/', which separates the segments).
 */
static bool
path_byte_plain (unsigned char b)
{
  return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
    (b >= '0' && b <= '9') || b == '-' || b == '.' || b == '_' || b == '~';
}

/* DIR (encoded, ending in '/') followed by NAME's bytes encoded. */
static char *
encode_entry (const char *dir, const char *name)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t dl = strlen (dir), nl = strlen (name), i;
  char *out, *o;

  out = malloc (dl + 3 * nl + 1);
  if (out == NULL)
    return NULL;
  memcpy (out, dir, dl);
  o = out + dl;
  for (i = 0; i < nl; i++) {
    unsigned char b = (unsigned char) name[i];

    if (path_byte_plain (b))
      *o++ = (char) b;
    else {
      *o++ = '%';
      *o++ = hex[b >> 4];
      *o++ = hex[b & 15];
    }
  }
  *o = '\0';
  return out;
}

typedef XD_VECTOR (char *) name_list;

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The regular files of the directory DIR's entries, encoded, into V. */
static int
read_dir (struct sftp_site *s, struct sftp_conn *c, const char *dir,
          const char *decoded, name_list *v)
{
  sftp_dir d;
  sftp_attributes a;
  int r = 0;

  d = sftp_opendir (c->sftp, decoded);
  if (d == NULL) {
    xd_error ("%s%s: listing the directory: %s", s->origin, dir,
              ssh_get_error (c->ssh));
    return -1;
  }
  while ((a = sftp_readdir (c->sftp, d)) != NULL) {
    char *name = NULL;

    if (a->type == SSH_FILEXFER_TYPE_REGULAR && a->name &&
        (name = encode_entry (dir, a->name)) == NULL)
      r = -1;
    sftp_attributes_free (a);
    if (name && xd_vector_append (v, name) == -1) {
      free (name);
      r = -1;
    }
    if (r == -1) {
      xd_error ("%s%s: listing the directory: out of memory",
                s->origin, dir);
      break;
    }
  }
  if (r == 0 && !sftp_dir_eof (d)) {
    xd_error ("%s%s: listing the directory: %s", s->origin, dir,
              ssh_get_error (c->ssh));
    r = -1;
  }
  sftp_closedir (d);
  return r;
}

static int
sftp_site_list (struct xd_site *site, const char *dir,
                xd_list_fn fn, void *opaque)
{
  struct sftp_site *s = (struct sftp_site *) site;
  struct xd_url du = s->url;
  name_list v = { 0 };
  char *decoded;
  size_t i;
  int c, r;

  du.path = (char *) dir;
  decoded = xd_url_decoded_path (&du);
  if (decoded == NULL)
    return -1;
  c = take_conn (s, false);
  if (c < 0) {
    free (decoded);
    return -1;
  }
  r = read_dir (s, &s->conns[c], dir, decoded, &v);
  give_conn (s, (unsigned) c);
  free (decoded);

  if (r == 0)
    qsort (v.ptr, v.len, sizeof v.ptr[0], compare_strings);
  for (i = 0; r == 0 && i < v.len; i++) {
    r = fn (opaque, v.ptr[i]);
    if (r == 1)
      r = 0, i = v.len;
  }
  for (i = 0; i < v.len; i++)
    free (v.ptr[i]);
  xd_vector_free (&v);
  return r == -1 ? -1 : 0;
}

static void
sftp_site_free (struct xd_site *site)
{
  struct sftp_site *s = (struct sftp_site *) site;
  unsigned i;

  if (s == NULL)
    return;
  for (i = 0; s->conns && i < s->nr_conns; i++)
    disconnect (&s->conns[i]);
  free (s->conns);
  pthread_cond_destroy (&s->freed);
  pthread_mutex_destroy (&s->lock);
  xd_url_free (&s->url);
  free (s->origin);
  free (s->user);
  if (s->password) {
    /* Do not leave the secret in freed memory. */
    memset (s->password, 0, strlen (s->password));
    __asm__ __volatile__ ("" : : "r" (s->password) : "memory");
    free (s->password);
  }
  free (s->known_hosts);
  free (s->identity);
  free (s);
}

static const struct xd_site_ops sftp_site_ops = {
  .protocol = "SFTP",
  .open = sftp_site_open,
  .list = sftp_site_list,
  .free = sftp_site_free,
};

/* strdup of an optional string: 0, or -1 (ENOMEM). */
static int
copy_opt (char **to, const char *from)
{
  *to = NULL;
  if (from && (*to = strdup (from)) == NULL)
    return -1;
  return 0;
}

static int
copy_settings (struct sftp_site *s, const struct xd_url *url,
               const struct xd_remote_opts *opts)
{
  if (xd_url_copy (url, &s->url) == -1)
    return -1;
  if (asprintf (&s->origin, "ssh://%s%s%s:%u",
                strchr (url->host, ':') ? "[" : "", url->host,
                strchr (url->host, ':') ? "]" : "", url->port) == -1) {
    s->origin = NULL;
    return -1;
  }
  if (copy_opt (&s->user, opts->user ? opts->user : url->user) == -1 ||
      copy_opt (&s->password, opts->password) == -1 ||
      copy_opt (&s->known_hosts, opts->known_hosts) == -1 ||
      copy_opt (&s->identity, opts->identity) == -1)
    return -1;
  if (s->user == NULL && (s->user = local_user_name ()) == NULL)
    return -1;
  s->verify_remote_host = opts->verify_remote_host;
  s->retries = opts->retries;
  s->retry_seconds = opts->retry_seconds;
  s->timeout = opts->timeout;
  s->nr_conns = opts->connections > 0 ? opts->connections : 1;
  s->conns = calloc (s->nr_conns, sizeof *s->conns);
  return s->conns ? 0 : -1;
}

struct xd_site *
xd_sftp_site_new (const struct xd_url *url, const struct xd_remote_opts *opts)
{
  struct sftp_site *s;
  int i;

  s = calloc (1, sizeof *s);
  if (s == NULL) {
    xd_error ("ssh://%s: calloc: %m", url->host);
    return NULL;
  }
  s->site.ops = &sftp_site_ops;
  pthread_mutex_init (&s->lock, NULL);
  pthread_cond_init (&s->freed, NULL);
  if (copy_settings (s, url, opts) == -1) {
    xd_error ("ssh://%s: out of memory, or no local user name", url->host);
    sftp_site_free (&s->site);
    return NULL;
  }
  /* Connect now: a wrong host key or key is said at startup. */
  i = take_conn (s, false);
  if (i < 0) {
    sftp_site_free (&s->site);
    errno = EIO;
    return NULL;
  }
  give_conn (s, (unsigned) i);
  return &s->site;
}

#else /* !HAVE_LIBSSH */

struct xd_site *
xd_sftp_site_new (const struct xd_url *url,
                  const struct xd_remote_opts *opts XD_UNUSED)
{
  xd_error ("%s:// URLs need SFTP support: xdisk was built without "
            "libssh (Debian: libssh-dev)", url->scheme);
  errno = ENOTSUP;
  return NULL;
}

#endif /* !HAVE_LIBSSH */
