/* xdisk: the HTTP site (see xd-remote.h, xd-site.h).
 *
 * A site is one origin.  It holds a bounded pool of libcurl easy
 * handles that share one connection, DNS and TLS session cache (a share
 * handle with locks), so that nbdkit's parallel threads and the
 * read-ahead threads each take a handle, read, and give it back; a
 * thread finding none free waits.  Each file opened on the site is an
 * xd_io whose reads are single-range GETs checked to the byte
 * (remote-sources.md §3.1): nothing the server sends is used unless it
 * is exactly the range asked.
 *
 * VMware datastores (§1.2): Basic authentication until the site sets a
 * cookie (vmware_soap_session, or any other), then the cookies instead;
 * a 401 or 403 answered to a cookie means the session expired: the
 * cookies are dropped and one thread logs in again with Basic while the
 * others wait for the new cookie.
 */

#include <config.h>

#include <errno.h>

#include "remote/xd-site.h"
#include "include/xd-report.h"

#ifdef HAVE_LIBCURL

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#ifdef HAVE_OPENSSL
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#endif

#include "core/xd-random.h"
#include "include/xd-clock.h"

/* A client read of at least 2 * HTTP_SPLIT bytes is cut into pieces of
 * HTTP_SPLIT read over several connections at once.  4 MiB: large
 * enough that a 10 ms request latency costs little against the transfer
 * (4 MiB take ~35 ms at 1 Gbit/s), small enough that a 32 MiB read
 * (nbdkit's maximum request) keeps 8 connections busy; S3's guidance is
 * 8–16 MB per range (remote-sources.md §3.2), ESXi's own tools use 1 MiB
 * (NFC) to 32 MiB (Proxmox) pages (§1.3).
 */
#define HTTP_SPLIT (UINT64_C (4) << 20)

#define HTTP_MAX_REDIRECTS 5
#define HTTP_MAX_RELOGINS 5     /* per request */
#define HTTP_MAX_COOKIES 8
#define HTTP_MAX_COOKIE_LEN 4096
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define RETRY_AFTER_MAX_MS 30000

enum thumb_kind { THUMB_NONE, THUMB_PUBKEY, THUMB_SHA1, THUMB_SHA256 };

struct http_site {
  struct xd_site site;
  struct xd_url origin;
  char *user, *password, *cainfo;
  char *pubkey_pin;             /* thumbprint=sha256//..., for curl */
  enum thumb_kind thumb_kind;
  unsigned char thumb[32];      /* a certificate digest (SHA-1 or SHA-256) */
  char *thumb_text;             /* thumbprint= as given, for messages */
  bool sslverify;
  enum xd_redirects redirects;
  unsigned retries, retry_seconds, timeout;

  CURLSH *share;
  pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

  /* The pool: handles[i] is free when !busy[i]. */
  pthread_mutex_t pool_lock;
  pthread_cond_t pool_cond;
  size_t nr_handles;
  CURL **handles;
  bool *busy;

  /* The session: the cookies the site set ("name=value" each). */
  pthread_mutex_t session_lock;
  pthread_cond_t session_cond;
  char *cookies[HTTP_MAX_COOKIES];
  size_t nr_cookies;
  unsigned session_gen;         /* changes when the cookies do */
  bool had_session;             /* the site set a cookie once */
  bool relogin_busy;            /* a thread is logging in again */

  /* Jitter for the backoff (xorshift, seeded from xd_random_u32). */
  pthread_mutex_t rand_lock;
  uint64_t rand_state;
};

struct http_file {
  struct http_site *site;
  char *wire;                   /* the URL read (after redirects at open) */
  bool same_origin;             /* false: sent without credentials */
  char *display;                /* xd_url_display: for messages */
  uint64_t size;
};

/* One request and what came back. */
struct http_req {
  /* Asked. */
  const char *wire;
  char *wire_owned;             /* after a redirect: the URL followed */
  bool same_origin;
  bool head;
  bool ranged;
  uint64_t first, last;         /* inclusive */
  unsigned char *dst;
  size_t cap;
  /* Sent. */
  bool sent_cookie, sent_basic;
  unsigned gen;                 /* session_gen of the cookies sent */
  bool relogin_owner;
  char *cookie_header;
  /* Received. */
  CURLcode rc;
  long status;
  size_t got;
  bool overflow;                /* more body than asked, or misplaced */
  bool have_cr, cr_bad, cr_total_known;
  uint64_t cr_first, cr_last, cr_total;
  bool have_length;
  uint64_t length;
  bool accept_ranges;
  unsigned retry_after_ms;      /* 0: none given */
  char *new_cookies[HTTP_MAX_COOKIES];
  size_t nr_new_cookies;
  char errbuf[CURL_ERROR_SIZE];
};

/* The thumbprint a TLS handshake of this thread was refused for. */
static __thread char seen_thumb[32 * 3];

/* ---- small parsers ---- */

/* Parse the decimal digits at *P into *V (no sign, no overflow). */
static bool
parse_u64 (const char **p, uint64_t *v)
{
  const char *s = *p;
  uint64_t n = 0;

  if (*s < '0' || *s > '9')
    return false;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (n > (UINT64_MAX - (unsigned) (*s - '0')) / 10)
      return false;
    n = n * 10 + (unsigned) (*s - '0');
  }
  *p = s;
  *v = n;
  return true;
}

static const char *
skip_spaces (const char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

/* "bytes FIRST-LAST/TOTAL", the total may be "*" (§3.1). */
static void
parse_content_range (struct http_req *r, const char *v)
{
  r->have_cr = true;
  r->cr_bad = true;
  if (strncasecmp (v, "bytes ", 6) != 0)
    return;
  v = skip_spaces (v + 6);
  if (!parse_u64 (&v, &r->cr_first) || *v++ != '-' ||
      !parse_u64 (&v, &r->cr_last) || *v++ != '/' ||
      r->cr_last < r->cr_first)
    return;
  if (*v == '*') {
    r->cr_total_known = false;
    v++;
  }
  else {
    if (!parse_u64 (&v, &r->cr_total) || r->cr_last >= r->cr_total)
      return;
    r->cr_total_known = true;
  }
  if (*skip_spaces (v) != '\0')
    return;
  r->cr_bad = false;
}

/* Keep "name=value" of a Set-Cookie line (its attributes are not
 * needed: every cookie of the site is sent to the whole site).
 */
static void
keep_cookie (struct http_req *r, const char *v)
{
  size_t len = strcspn (v, ";");
  const char *eq = memchr (v, '=', len);

  while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
    len--;
  if (eq == NULL || eq == v || len > HTTP_MAX_COOKIE_LEN ||
      r->nr_new_cookies == HTTP_MAX_COOKIES)
    return;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char) v[i] < 0x21 || v[i] == 0x7f)
      return;                   /* nothing that would break the header */
  r->new_cookies[r->nr_new_cookies] = strndup (v, len);
  if (r->new_cookies[r->nr_new_cookies] != NULL)
    r->nr_new_cookies++;
}

static void
reset_response (struct http_req *r)
{
  r->have_cr = r->cr_bad = r->cr_total_known = false;
  r->have_length = r->accept_ranges = false;
  r->retry_after_ms = 0;
}

static size_t
header_cb (char *data, size_t size, size_t n, void *opaque)
{
  struct http_req *r = opaque;
  size_t len = size * n;
  char line[HTTP_MAX_COOKIE_LEN + 64];
  const char *v;

  if (len >= sizeof line)
    return len;                 /* no header we read is that long */
  memcpy (line, data, len);
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
    len--;
  line[len] = '\0';

  if (strncmp (line, "HTTP/", 5) == 0) {
    /* A new response (after a 100 Continue): its status is what
     * write_cb needs before the first byte of the body.
     */
    uint64_t code = 0;
    reset_response (r);
    v = strchr (line, ' ');
    if (v != NULL) {
      v = skip_spaces (v);
      if (!parse_u64 (&v, &code) || code > 999)
        code = 0;
    }
    r->status = (long) code;
    return size * n;
  }
  v = strchr (line, ':');
  if (v == NULL)
    return size * n;
  v = skip_spaces (v + 1);
#define IS(name) (strncasecmp (line, name ":", sizeof name) == 0)
  if (IS ("content-range"))
    parse_content_range (r, v);
  else if (IS ("content-length")) {
    r->have_length = parse_u64 (&v, &r->length) && *skip_spaces (v) == '\0';
  }
  else if (IS ("accept-ranges"))
    r->accept_ranges = strcasecmp (v, "bytes") == 0;
  else if (IS ("retry-after")) {
    uint64_t s;
    if (parse_u64 (&v, &s))
      r->retry_after_ms = s * 1000 > RETRY_AFTER_MAX_MS || s > 1000000
        ? RETRY_AFTER_MAX_MS : (unsigned) s * 1000;
  }
  else if (IS ("set-cookie"))
    keep_cookie (r, v);
#undef IS
  return size * n;
}

/* Straight into the caller's buffer, never past it, and only the body
 * of a 206 or a 200: more stops the transfer.  Which of those bodies
 * are the bytes asked is check_range's decision, after the transfer.
 */
static size_t
write_cb (char *data, size_t size, size_t n, void *opaque)
{
  struct http_req *r = opaque;
  size_t len = size * n;

  if (r->status != 206 && r->status != 200)
    return len;                 /* an error page: not data */
  if (len > r->cap - r->got) {
    r->overflow = true;
    return 0;
  }
  memcpy (r->dst + r->got, data, len);
  r->got += len;
  return len;
}

/* ---- the share handle ---- */

static void
share_lock (CURL *h XD_UNUSED, curl_lock_data data,
            curl_lock_access access XD_UNUSED, void *opaque)
{
  struct http_site *s = opaque;

  pthread_mutex_lock (&s->share_locks[data]);
}

static void
share_unlock (CURL *h XD_UNUSED, curl_lock_data data, void *opaque)
{
  struct http_site *s = opaque;

  pthread_mutex_unlock (&s->share_locks[data]);
}

/* ---- TLS thumbprints ---- */

#ifdef HAVE_OPENSSL
static int ssl_ex_index = -1;
static pthread_once_t ssl_ex_once = PTHREAD_ONCE_INIT;

static void
ssl_ex_init (void)
{
  ssl_ex_index = SSL_CTX_get_ex_new_index (0, NULL, NULL, NULL, NULL);
}

static void
format_thumb (const unsigned char *d, size_t len, char *out)
{
  for (size_t i = 0; i < len; i++)
    sprintf (out + 3 * i, "%02X%s", d[i], i + 1 < len ? ":" : "");
}

/* Called by OpenSSL for each certificate of the chain, leaf last.  The
 * leaf's digest must be the thumbprint; the chain's own verdict is
 * overridden: a pinned certificate is accepted even where sslverify
 * would refuse it (self-signed, or named by an IP address), since that
 * is what pinning a thumbprint is for.  A refusal ends the handshake,
 * before any request (or credential) is sent.
 */
static int
thumb_verify_cb (int preverify XD_UNUSED, X509_STORE_CTX *x)
{
  SSL *ssl = X509_STORE_CTX_get_ex_data (x, SSL_get_ex_data_X509_STORE_CTX_idx ());
  struct http_site *s = SSL_CTX_get_ex_data (SSL_get_SSL_CTX (ssl), ssl_ex_index);
  X509 *cert = X509_STORE_CTX_get_current_cert (x);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  size_t want = s->thumb_kind == THUMB_SHA1 ? 20 : 32;

  if (X509_STORE_CTX_get_error_depth (x) > 0) {
    X509_STORE_CTX_set_error (x, X509_V_OK);
    return 1;
  }
  if (cert == NULL ||
      !X509_digest (cert, want == 20 ? EVP_sha1 () : EVP_sha256 (),
                    md, &md_len) ||
      md_len != want || memcmp (md, s->thumb, want) != 0) {
    if (md_len == want)
      format_thumb (md, md_len, seen_thumb);
    return 0;
  }
  X509_STORE_CTX_set_error (x, X509_V_OK);
  return 1;
}

static CURLcode
ssl_ctx_cb (CURL *h XD_UNUSED, void *sslctx, void *opaque)
{
  SSL_CTX *ctx = sslctx;

  if (!SSL_CTX_set_ex_data (ctx, ssl_ex_index, opaque))
    return CURLE_SSL_CERTPROBLEM;
  SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER, thumb_verify_cb);
  return CURLE_OK;
}
#endif /* HAVE_OPENSSL */

static int
hex_digit (char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* thumbprint=: "sha256//BASE64" (curl checks the public key), or
 * VMware's form, hex pairs separated by ':' of the certificate's SHA-1
 * (20 pairs) or SHA-256 (32 pairs), in any case (§1.6).
 */
static int
parse_thumbprint (struct http_site *s, const char *t)
{
  size_t n = 0;
  const char *p = t;

  s->thumb_text = strdup (t);
  if (s->thumb_text == NULL)
    goto nomem;
  if (strncmp (t, "sha256//", 8) == 0) {
    s->thumb_kind = THUMB_PUBKEY;
    s->pubkey_pin = strdup (t);
    if (s->pubkey_pin == NULL)
      goto nomem;
    return 0;
  }
  for (;;) {
    int hi = hex_digit (p[0]), lo = hi < 0 ? -1 : hex_digit (p[1]);
    if (lo < 0 || n == sizeof s->thumb)
      goto bad;
    s->thumb[n++] = (unsigned char) (hi << 4 | lo);
    p += 2;
    if (*p == '\0')
      break;
    if (*p++ != ':')
      goto bad;
  }
  if (n != 20 && n != 32)
    goto bad;
#ifndef HAVE_OPENSSL
  xd_error ("thumbprint=: a certificate thumbprint needs OpenSSL: xdisk "
            "was built without it (Debian: libssl-dev); "
            "thumbprint=sha256//BASE64 pins the public key instead");
  errno = ENOTSUP;
  return -1;
#else
  {
    curl_version_info_data *v = curl_version_info (CURLVERSION_NOW);
    if (v->ssl_version == NULL || strncmp (v->ssl_version, "OpenSSL", 7) != 0) {
      xd_error ("thumbprint=: a certificate thumbprint needs libcurl "
                "built with OpenSSL (this one uses %s); "
                "thumbprint=sha256//BASE64 pins the public key instead",
                v->ssl_version ? v->ssl_version : "no TLS");
      errno = ENOTSUP;
      return -1;
    }
  }
  pthread_once (&ssl_ex_once, ssl_ex_init);
  s->thumb_kind = n == 20 ? THUMB_SHA1 : THUMB_SHA256;
  return 0;
#endif
 bad:
  xd_error ("thumbprint=: expected sha256//BASE64, or hex pairs separated "
            "by ':' (20 for SHA-1, 32 for SHA-256), not \"%s\"", t);
  errno = EINVAL;
  return -1;
 nomem:
  xd_error ("thumbprint=: %s", strerror (errno));
  return -1;
}

/* ---- the pool ---- */

static size_t
pool_get (struct http_site *s)
{
  size_t i;

  pthread_mutex_lock (&s->pool_lock);
  for (;;) {
    for (i = 0; i < s->nr_handles; i++)
      if (!s->busy[i])
        goto found;
    pthread_cond_wait (&s->pool_cond, &s->pool_lock);
  }
 found:
  s->busy[i] = true;
  pthread_mutex_unlock (&s->pool_lock);
  return i;
}

/* A free handle without waiting, or (size_t) -1. */
static size_t
pool_try_get (struct http_site *s)
{
  size_t i;

  pthread_mutex_lock (&s->pool_lock);
  for (i = 0; i < s->nr_handles; i++)
    if (!s->busy[i]) {
      s->busy[i] = true;
      break;
    }
  pthread_mutex_unlock (&s->pool_lock);
  return i < s->nr_handles ? i : (size_t) -1;
}

static void
pool_put (struct http_site *s, size_t i)
{
  pthread_mutex_lock (&s->pool_lock);
  s->busy[i] = false;
  pthread_cond_signal (&s->pool_cond);
  pthread_mutex_unlock (&s->pool_lock);
}

/* ---- the session ---- */

static void
drop_cookies_locked (struct http_site *s)
{
  for (size_t i = 0; i < s->nr_cookies; i++)
    free (s->cookies[i]);
  s->nr_cookies = 0;
  s->session_gen++;
}

/* Under session_lock: the site had a session, has lost its cookies
 * and can log in again.
 */
static bool
must_relogin_locked (const struct http_site *s)
{
  return s->had_session && s->nr_cookies == 0 && s->user != NULL;
}

/* Under session_lock, with a handle taken: wait while another thread
 * logs in again (it holds its handle already, so this cannot starve
 * it), then become that thread if the site had a session and has none
 * now.  Without MAY_WAIT (the multi loop, which cannot wait for
 * itself) -1 instead of waiting.
 */
static int
session_turn_locked (struct http_site *s, struct http_req *r, bool may_wait)
{
  while (s->relogin_busy) {
    if (!may_wait)
      return -1;
    pthread_cond_wait (&s->session_cond, &s->session_lock);
  }
  if (must_relogin_locked (s)) {
    s->relogin_busy = true;
    r->relogin_owner = true;
  }
  return 0;
}

/* False while the site must log in again (pieces read at once would
 * each log in).
 */
static bool
session_settled (struct http_site *s)
{
  bool settled;

  pthread_mutex_lock (&s->session_lock);
  settled = !s->relogin_busy && !must_relogin_locked (s);
  pthread_mutex_unlock (&s->session_lock);
  return settled;
}

/* Store the cookies R brought (replacing those of the same name), end
 * R's login turn.
 */
static void
session_leave (struct http_site *s, struct http_req *r)
{
  pthread_mutex_lock (&s->session_lock);
  for (size_t i = 0; i < r->nr_new_cookies; i++) {
    char *c = r->new_cookies[i];
    size_t name_len = strcspn (c, "=");
    size_t j;

    for (j = 0; j < s->nr_cookies; j++)
      if (strncmp (s->cookies[j], c, name_len + 1) == 0)
        break;
    if (j == HTTP_MAX_COOKIES) {
      free (c);
      continue;
    }
    if (j < s->nr_cookies)
      free (s->cookies[j]);
    else
      s->nr_cookies++;
    s->cookies[j] = c;
    s->session_gen++;
    s->had_session = true;
  }
  r->nr_new_cookies = 0;
  if (r->relogin_owner) {
    r->relogin_owner = false;
    s->relogin_busy = false;
    pthread_cond_broadcast (&s->session_cond);
  }
  pthread_mutex_unlock (&s->session_lock);
}

/* A 401/403 answered to the cookies R sent: the session expired.  Drop
 * them, unless another thread already replaced them.
 */
static void
session_expired (struct http_site *s, const struct http_req *r)
{
  pthread_mutex_lock (&s->session_lock);
  if (r->gen == s->session_gen)
    drop_cookies_locked (s);
  pthread_mutex_unlock (&s->session_lock);
}

/* The cookies, or Basic, for a request to the site's origin. */
static int
set_credentials (struct http_site *s, CURL *h, struct http_req *r,
                 bool may_wait)
{
  pthread_mutex_lock (&s->session_lock);
  if (session_turn_locked (s, r, may_wait) == -1) {
    pthread_mutex_unlock (&s->session_lock);
    return -1;
  }
  r->gen = s->session_gen;
  if (s->nr_cookies > 0) {
    size_t len = 1;
    for (size_t i = 0; i < s->nr_cookies; i++)
      len += strlen (s->cookies[i]) + 2;
    r->cookie_header = malloc (len);
    if (r->cookie_header == NULL) {
      pthread_mutex_unlock (&s->session_lock);
      return -1;
    }
    r->cookie_header[0] = '\0';
    for (size_t i = 0; i < s->nr_cookies; i++) {
      if (i > 0)
        strcat (r->cookie_header, "; ");
      strcat (r->cookie_header, s->cookies[i]);
    }
    r->sent_cookie = true;
  }
  pthread_mutex_unlock (&s->session_lock);

  if (r->sent_cookie)
    curl_easy_setopt (h, CURLOPT_COOKIE, r->cookie_header);
  else if (s->user != NULL) {
    /* Never in the URL: the options keep it out of every message. */
    curl_easy_setopt (h, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
    curl_easy_setopt (h, CURLOPT_USERNAME, s->user);
    curl_easy_setopt (h, CURLOPT_PASSWORD, s->password ? s->password : "");
    r->sent_basic = true;
  }
  return 0;
}

/* ---- one request ---- */

static void
tls_options (struct http_site *s, CURL *h, const struct http_req *r)
{
  /* A thumbprint replaces the chain and name checks on the site's own
   * origin (see thumb_verify_cb); elsewhere sslverify= decides.
   */
  bool pinned = r->same_origin && s->thumb_kind != THUMB_NONE;
  bool verify = s->sslverify && !pinned;

  curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, (long) verify);
  curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (s->cainfo)
    curl_easy_setopt (h, CURLOPT_CAINFO, s->cainfo);
  if (!pinned)
    return;
  if (s->thumb_kind == THUMB_PUBKEY)
    curl_easy_setopt (h, CURLOPT_PINNEDPUBLICKEY, s->pubkey_pin);
#ifdef HAVE_OPENSSL
  else {
    curl_easy_setopt (h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt (h, CURLOPT_SSL_CTX_DATA, s);
  }
#endif
}

static int
req_setup (struct http_site *s, CURL *h, struct http_req *r, bool may_wait)
{
  char range[64];

  curl_easy_reset (h);
  r->status = 0;
  r->got = 0;
  r->overflow = false;
  r->sent_cookie = r->sent_basic = false;
  r->errbuf[0] = '\0';
  reset_response (r);

  curl_easy_setopt (h, CURLOPT_SHARE, s->share);
  curl_easy_setopt (h, CURLOPT_URL, r->wire);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt (h, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 0L); /* see follow_redirect */
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt (h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, r);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt (h, CURLOPT_PRIVATE, r);
  if (s->timeout > 0)
    curl_easy_setopt (h, CURLOPT_TIMEOUT, (long) s->timeout);
  if (r->head)
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  if (r->ranged) {
    /* Fewer, larger writes into the caller's buffer (§3.2). */
    if (r->cap >= 65536)
      curl_easy_setopt (h, CURLOPT_BUFFERSIZE, 256L * 1024);
    snprintf (range, sizeof range, "%" PRIu64 "-%" PRIu64, r->first, r->last);
    curl_easy_setopt (h, CURLOPT_RANGE, range); /* copied by curl */
  }
  tls_options (s, h, r);
  if (r->same_origin && set_credentials (s, h, r, may_wait) == -1)
    return -1;
  return 0;
}


/* ---- retries ---- */

/* Worth another try (§1.2: what ESXi and the tools that read it do). */
static bool
transient_status (long status)
{
  return status == 408 || status == 429 || status == 500 ||
    status == 502 || status == 503 || status == 504;
}

static bool
transient_curl (CURLcode rc)
{
  return rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
    rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE ||
    rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT;
}

static uint64_t
next_random (struct http_site *s)
{
  uint64_t x;

  pthread_mutex_lock (&s->rand_lock);
  x = s->rand_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  s->rand_state = x;
  pthread_mutex_unlock (&s->rand_lock);
  return x;
}

/* The wait before try number TRIES + 1: the server's Retry-After
 * (capped), else 100 ms doubling up to 5 s, each between half and all
 * of that, so that threads failing together do not retry together.
 */
static unsigned
backoff_ms (struct http_site *s, unsigned tries, const struct http_req *r)
{
  unsigned ms = BACKOFF_FIRST_MS;

  if (r->retry_after_ms > 0)
    return r->retry_after_ms;
  for (unsigned i = 1; i < tries && ms < BACKOFF_MAX_MS; i++)
    ms *= 2;
  if (ms > BACKOFF_MAX_MS)
    ms = BACKOFF_MAX_MS;
  return ms / 2 + (unsigned) (next_random (s) % (ms / 2 + 1));
}

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { .tv_sec = ms / 1000,
                         .tv_nsec = (long) (ms % 1000) * 1000000 };

  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* curl's own text for a failure: its error buffer, unless (it never
 * should) that holds the password or a cookie of the site.
 */
static const char *
curl_error_text (struct http_site *s, const struct http_req *r)
{
  bool secret = r->errbuf[0] == '\0';

  if (!secret && s->password != NULL && s->password[0] != '\0' &&
      strstr (r->errbuf, s->password) != NULL)
    secret = true;
  if (!secret && r->cookie_header != NULL) {
    const char *v = strchr (r->cookie_header, '=');
    if (v != NULL && v[1] != '\0' && strstr (r->errbuf, v + 1) != NULL)
      secret = true;
  }
  return secret ? curl_easy_strerror (r->rc) : r->errbuf;
}

/* ---- redirects ---- */

static bool
origin_matches (const struct xd_url *a, const struct xd_url *b)
{
  return strcmp (a->scheme, b->scheme) == 0 &&
    strcasecmp (a->host, b->host) == 0 && a->port == b->port;
}

/* Remove "user:password@" from the URL TEXT, in place.  curl's
 * redirect URL carries the login set with CURLOPT_USERNAME/PASSWORD
 * when the Location is relative; a login in a Location is never used
 * either: the site's own is sent to its origin only.
 */
static void
strip_userinfo (char *text)
{
  char *host = strstr (text, "://");
  size_t len;
  char *at;

  if (host == NULL)
    return;
  host += 3;
  len = strcspn (host, "/?#");
  at = memrchr (host, '@', len);
  if (at != NULL)
    memmove (host, at + 1, strlen (at + 1) + 1);
}

/* Follow a 3xx to LOCATION (absolute, as curl resolved it) as
 * redirects= allows (§3.1): never to another scheme than http(s), and
 * to another origin only with redirects=any, then without credentials
 * or cookies.  0: R now asks the new URL; -1: refused, MSG says why.
 */
static int
follow_redirect (struct http_site *s, struct http_req *r, char *location,
                 const char *display, char *msg, size_t msg_len)
{
  struct xd_url u;
  char *shown, *wire;
  bool same;
  int ok;

  if (location == NULL) {
    snprintf (msg, msg_len, "%s: the server redirects (HTTP %ld) without "
              "a Location", display, r->status);
    return -1;
  }
  strip_userinfo (location);
  xd_error_hold ();
  ok = xd_url_parse (location, &u);
  xd_error_release (false);
  if (ok == -1 || (strcmp (u.scheme, "http") != 0 &&
                   strcmp (u.scheme, "https") != 0)) {
    snprintf (msg, msg_len, "%s: the server redirects (HTTP %ld) to a "
              "location that is not an http(s) URL: not followed",
              display, r->status);
    if (ok == 0)
      xd_url_free (&u);
    return -1;
  }
  shown = xd_url_display (&u);
  same = origin_matches (&u, &s->origin);
  if (s->redirects == XD_REDIRECTS_NONE || (!same && s->redirects != XD_REDIRECTS_ANY)) {
    snprintf (msg, msg_len, "%s: the server redirects (HTTP %ld) to %s: "
              "not followed (redirects=%s would follow it)", display,
              r->status, shown, same ? "same-origin" : "any");
    free (shown);
    xd_url_free (&u);
    return -1;
  }
  wire = xd_url_wire (&u);
  xd_url_free (&u);
  if (wire == NULL) {
    free (shown);
    snprintf (msg, msg_len, "%s: %s", display, strerror (ENOMEM));
    return -1;
  }
  xd_debug ("%s: redirected (HTTP %ld) to %s", display, r->status, shown);
  free (shown);
  free (r->wire_owned);
  r->wire = r->wire_owned = wire;
  r->same_origin = same;
  return 0;
}

/* ---- the request driver ---- */

/* Run one exchange of R on a pooled handle: sets R's response fields.
 * LOCATION gets the redirect target of a 3xx (malloc'd), or NULL.
 */
static void
exchange (struct http_site *s, struct http_req *r, char **location)
{
  size_t slot;
  CURL *h;
  long code = 0;
  char *loc = NULL;

  *location = NULL;
  slot = pool_get (s);
  h = s->handles[slot];
  free (r->cookie_header);
  r->cookie_header = NULL;
  if (req_setup (s, h, r, true) == -1) {
    r->rc = CURLE_OUT_OF_MEMORY;
    r->errbuf[0] = '\0';
  }
  else {
    seen_thumb[0] = '\0';
    r->rc = curl_easy_perform (h);
    if (curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
        code != 0)
      r->status = code;
    if (r->status >= 300 && r->status < 400 &&
        curl_easy_getinfo (h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
        loc != NULL)
      *location = strdup (loc);
  }
  pool_put (s, slot);
  if (!r->same_origin) {
    /* Cookies from another origin are not the site's session. */
    for (size_t i = 0; i < r->nr_new_cookies; i++)
      free (r->new_cookies[i]);
    r->nr_new_cookies = 0;
  }
  else
    session_leave (s, r);
}

/* A response worth a look by the caller (any status but those handled
 * here), or -1 with errno and MSG: ENOENT (404, 410), EACCES (401, 403
 * after one new login), EIO (anything else, after the retries).  A
 * HEAD refused with 405, 501 or (without credentials) 403 is returned
 * to the caller, which then asks with GET.
 */
static int
http_do (struct http_site *s, struct http_req *r, const char *display,
         char *msg, size_t msg_len)
{
  uint64_t deadline = xd_now_ms () + (uint64_t) s->retry_seconds * 1000;
  unsigned tries = 0, hops = 0, relogins = 0, refused_gen = 0;
  char why[CURL_ERROR_SIZE + 32];
  char *location;

  for (;;) {
    exchange (s, r, &location);
    long st = r->status;

    if (r->rc != CURLE_OK && !(r->rc == CURLE_WRITE_ERROR && r->overflow)) {
      free (location);
      if (transient_curl (r->rc)) {
        snprintf (why, sizeof why, "%s", curl_error_text (s, r));
        goto retry;
      }
      if (seen_thumb[0] != '\0')
        snprintf (msg, msg_len, "%s: the certificate of %s has the "
                  "thumbprint %s, not %s (thumbprint=): refused",
                  display, s->origin.host, seen_thumb, s->thumb_text);
      else
        snprintf (msg, msg_len, "%s: %s", display, curl_error_text (s, r));
      errno = r->rc == CURLE_OUT_OF_MEMORY ? ENOMEM : EIO;
      return -1;
    }
    if (st >= 300 && st < 400 && st != 304) {
      int ok = ++hops > HTTP_MAX_REDIRECTS ? -1 :
        follow_redirect (s, r, location, display, msg, msg_len);
      if (hops > HTTP_MAX_REDIRECTS)
        snprintf (msg, msg_len, "%s: more than %d redirects", display,
                  HTTP_MAX_REDIRECTS);
      free (location);
      if (ok == -1) {
        errno = EIO;
        return -1;
      }
      continue;
    }
    free (location);
    if ((st == 401 || st == 403) && r->sent_cookie &&
        (relogins == 0 || r->gen != refused_gen) &&
        relogins < HTTP_MAX_RELOGINS) {
      /* §1.2: the session expired; a new login with Basic.  Again only
       * if a newer cookie (another thread's login) is refused too: on
       * a busy site a short session can end before this thread used it.
       */
      xd_debug ("%s: session refused (HTTP %ld): logging in again",
                display, st);
      relogins++;
      refused_gen = r->gen;
      session_expired (s, r);
      continue;
    }
    if (r->head && (st == 405 || st == 501 ||
                    (st == 403 && !r->sent_cookie && !r->sent_basic)))
      return 0;
    if (st == 401 || st == 403) {
      if (st == 401 && r->sent_basic)
        snprintf (msg, msg_len, "%s: the server refused the user "
                  "name/password (HTTP 401)", display);
      else if (st == 401 && !r->sent_cookie)
        snprintf (msg, msg_len, "%s: the server asks for a user name and "
                  "password (HTTP 401): give user= and password=", display);
      else
        snprintf (msg, msg_len, "%s: access refused (HTTP %ld)", display, st);
      errno = EACCES;
      return -1;
    }
    if (st == 404 || st == 410) {
      snprintf (msg, msg_len, "%s: no such file (HTTP %ld)", display, st);
      errno = ENOENT;
      return -1;
    }
    if (!transient_status (st))
      return 0;
    snprintf (why, sizeof why, "HTTP %ld", st);

  retry:
    tries++;
    if (tries > s->retries) {
      snprintf (msg, msg_len, "%s: %s, after %u tries (retries=%u)",
                display, why, tries, s->retries);
      errno = EIO;
      return -1;
    }
    unsigned ms = backoff_ms (s, tries, r);
    if (xd_now_ms () + ms > deadline) {
      snprintf (msg, msg_len, "%s: %s, after %u tries within %u s",
                display, why, tries, s->retry_seconds);
      errno = EIO;
      return -1;
    }
    xd_debug ("%s: %s: retry %u of %u in %u ms", display, why, tries,
              s->retries, ms);
    sleep_ms (ms);
  }
}

static void
req_free (struct http_req *r)
{
  free (r->wire_owned);
  free (r->cookie_header);
  for (size_t i = 0; i < r->nr_new_cookies; i++)
    free (r->new_cookies[i]);
  r->wire_owned = r->cookie_header = NULL;
  r->nr_new_cookies = 0;
}

/* ---- reads ---- */

/* Only the exact range asked (§3.1): a 206 whose Content-Range is
 * FIRST-LAST (of the size known from open, or '*') with that many bytes,
 * or a 200 to a range from 0 whose body is exactly the count (ESXi's
 * answer when the range covers a small file, §1.3).
 */
static int
check_range (const struct http_file *f, const struct http_req *r,
             char *msg, size_t msg_len)
{
  size_t count = r->cap;
  const char *d = f->display;
  uint64_t a = r->first, b = r->last;

  if (r->status == 200 && (a != 0 || r->overflow || r->got != count))
    snprintf (msg, msg_len, "%s: range %" PRIu64 "-%" PRIu64 ": the server "
              "ignored the range (HTTP 200, %s): refused", d, a, b,
              r->overflow || r->got > count ? "not the bytes asked"
              : "a short body");
  else if (r->overflow)
    snprintf (msg, msg_len, "%s: range %" PRIu64 "-%" PRIu64 ": the server "
              "sent more than the %zu bytes asked (HTTP %ld)", d, a, b,
              count, r->status);
  else if (r->status == 206 && (!r->have_cr || r->cr_bad))
    snprintf (msg, msg_len, "%s: range %" PRIu64 "-%" PRIu64 ": HTTP 206 "
              "with %s Content-Range", d, a, b,
              r->have_cr ? "a malformed" : "no");
  else if (r->status == 206 && (r->cr_first != a || r->cr_last != b))
    snprintf (msg, msg_len, "%s: range %" PRIu64 "-%" PRIu64 ": the server "
              "sent bytes %" PRIu64 "-%" PRIu64 " instead", d, a, b,
              r->cr_first, r->cr_last);
  else if (r->status == 206 && r->cr_total_known && r->cr_total != f->size)
    snprintf (msg, msg_len, "%s: range %" PRIu64 "-%" PRIu64 ": the server "
              "now gives the size %" PRIu64 ", not %" PRIu64, d, a, b,
              r->cr_total, f->size);
  else if (r->status == 206 && r->got != count)
    snprintf (msg, msg_len, "%s: range %" PRIu64 "-%" PRIu64 ": short "
              "answer, %zu of %zu bytes", d, a, b, r->got, count);
  else if (r->status != 206 && r->status != 200)
    snprintf (msg, msg_len, "%s: range %" PRIu64 "-%" PRIu64 ": unexpected "
              "HTTP status %ld", d, a, b, r->status);
  else
    return 0;
  return -1;
}

static void
req_init_range (struct http_req *r, const struct http_file *f,
                void *buf, size_t count, uint64_t offset)
{
  memset (r, 0, sizeof *r);
  r->wire = f->wire;
  r->same_origin = f->same_origin;
  r->ranged = true;
  r->first = offset;
  r->last = offset + count - 1;
  r->dst = buf;
  r->cap = count;
}

static int
pread_one (struct http_file *f, void *buf, size_t count, uint64_t offset)
{
  struct http_req r;
  char msg[512];
  int ret = -1;

  req_init_range (&r, f, buf, count, offset);
  if (http_do (f->site, &r, f->display, msg, sizeof msg) == -1)
    xd_error ("%s", msg);
  else if (check_range (f, &r, msg, sizeof msg) == -1) {
    xd_error ("%s", msg);
    errno = EIO;
  }
  else
    ret = 0;
  req_free (&r);
  return ret;
}

/* Run the pieces REQS[0..N) over the handles SLOTS[0..NR_SLOTS) at once
 * (curl multi), each handle taking the next piece when it is done.
 * DONE[i]: piece i came back right.  Anything else (an error, a retry,
 * a new login, a redirect) is left to pread_one.
 */
static void
run_pieces (struct http_file *f, struct http_req *reqs, bool *done, size_t n,
            const size_t *slots, size_t nr_slots)
{
  struct http_site *s = f->site;
  CURLM *m = curl_multi_init ();
  size_t next = 0, active = 0;
  char msg[512];

  if (m == NULL)
    return;
  for (size_t i = 0; i < nr_slots && next < n; i++, next++) {
    CURL *h = s->handles[slots[i]];
    if (req_setup (s, h, &reqs[next], false) == 0 &&
        curl_multi_add_handle (m, h) == CURLM_OK)
      active++;
  }
  while (active > 0) {
    int running, left;
    CURLMsg *cm;

    if (curl_multi_perform (m, &running) != CURLM_OK)
      break;
    while ((cm = curl_multi_info_read (m, &left)) != NULL) {
      struct http_req *r;
      long code = 0;
      CURL *h = cm->easy_handle;

      if (cm->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo (h, CURLINFO_PRIVATE, (char **) &r);
      r->rc = cm->data.result;
      if (curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
          code != 0)
        r->status = code;
      curl_multi_remove_handle (m, h);
      active--;
      if (r->same_origin)
        session_leave (s, r);
      done[r - reqs] = (r->rc == CURLE_OK ||
                        (r->rc == CURLE_WRITE_ERROR && r->overflow)) &&
        check_range (f, r, msg, sizeof msg) == 0;
      for (; next < n; next++)
        if (req_setup (s, h, &reqs[next], false) == 0 &&
            curl_multi_add_handle (m, h) == CURLM_OK) {
          active++;
          next++;
          break;
        }
    }
    if (active > 0 && curl_multi_poll (m, NULL, 0, 1000, NULL) != CURLM_OK)
      break;
  }
  /* After a multi failure (never seen): what is still attached, and a
   * login turn taken by a piece that did not finish.
   */
  for (size_t i = 0; i < nr_slots; i++)
    curl_multi_remove_handle (m, s->handles[slots[i]]);
  curl_multi_cleanup (m);
  for (size_t i = 0; i < n; i++)
    if (reqs[i].relogin_owner)
      session_leave (s, &reqs[i]);
}

/* A large read, cut in HTTP_SPLIT pieces read over as many free
 * connections as there are (at least one: it waits for that).
 */
static int
pread_split (struct http_file *f, unsigned char *buf, size_t count,
             uint64_t offset)
{
  struct http_site *s = f->site;
  size_t n = (count + HTTP_SPLIT - 1) / HTTP_SPLIT;
  struct http_req *reqs = calloc (n, sizeof *reqs);
  bool *done = calloc (n, sizeof *done);
  size_t *slots = calloc (s->nr_handles, sizeof *slots);
  size_t nr_slots = 0, k;
  int ret = 0;

  if (reqs == NULL || done == NULL || slots == NULL) {
    free (reqs);
    free (done);
    free (slots);
    return pread_one (f, buf, count, offset);
  }
  for (size_t i = 0; i < n; i++) {
    size_t at = i * HTTP_SPLIT;
    size_t len = count - at < HTTP_SPLIT ? count - at : HTTP_SPLIT;
    req_init_range (&reqs[i], f, buf + at, len, offset + at);
  }
  if (session_settled (s)) {
    slots[nr_slots++] = pool_get (s);
    while (nr_slots < n && (k = pool_try_get (s)) != (size_t) -1)
      slots[nr_slots++] = k;
    run_pieces (f, reqs, done, n, slots, nr_slots);
    for (size_t i = 0; i < nr_slots; i++)
      pool_put (s, slots[i]);
  }

  for (size_t i = 0; i < n; i++) {
    if (ret == 0 && !done[i])
      ret = pread_one (f, reqs[i].dst, reqs[i].cap, reqs[i].first);
    req_free (&reqs[i]);
  }
  free (reqs);
  free (done);
  free (slots);
  return ret;
}

static int
http_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct http_file *f = io->priv;

  if (count == 0)
    return 0;
  if (count >= 2 * HTTP_SPLIT)
    return pread_split (f, buf, count, offset);
  return pread_one (f, buf, count, offset);
}

static void
file_free (struct http_file *f)
{
  if (f == NULL)
    return;
  free (f->wire);
  free (f->display);
  free (f);
}

static void
http_close (struct xd_io *io)
{
  file_free (io->priv);
}

static const struct xd_io_ops http_io_ops = {
  .pread = http_pread,
  .close = http_close,
};

/* ---- open: the size, and whether ranges are honoured ---- */

/* GET bytes=0-0 (§3.1): for a server that refuses HEAD (a presigned
 * URL), gives no length, or does not say Accept-Ranges.  Sets *SIZE
 * unless HAVE_SIZE.
 */
static int
probe_range (struct http_file *f, bool have_size, uint64_t *size,
             char *msg, size_t msg_len)
{
  unsigned char byte;
  struct http_req r;
  int ret = -1;

  req_init_range (&r, f, &byte, 1, 0);
  if (http_do (f->site, &r, f->display, msg, msg_len) == -1)
    goto out;
  errno = EIO;
  if (r.status == 200)
    snprintf (msg, msg_len, "%s: the server does not honour byte ranges "
              "(HTTP 200 to Range: bytes=0-0): it cannot be read in place",
              f->display);
  else if (r.status != 206)
    snprintf (msg, msg_len, "%s: unexpected HTTP status %ld to HEAD and "
              "to GET bytes=0-0", f->display, r.status);
  else if (!r.have_cr || r.cr_bad || r.cr_first != 0 || r.cr_last != 0 ||
           r.got != 1 || r.overflow)
    snprintf (msg, msg_len, "%s: a wrong answer to GET bytes=0-0 (HTTP 206 "
              "with %s Content-Range and %zu bytes)", f->display,
              r.have_cr && !r.cr_bad ? "another" : "no valid", r.got);
  else if (!have_size && !r.cr_total_known)
    snprintf (msg, msg_len, "%s: the server gives no size (no HEAD, "
              "Content-Range bytes 0-0/*)", f->display);
  else if (have_size && r.cr_total_known && r.cr_total != *size)
    snprintf (msg, msg_len, "%s: the server gives two sizes: %" PRIu64
              " (HEAD) and %" PRIu64 " (GET)", f->display, *size, r.cr_total);
  else {
    if (!have_size)
      *size = r.cr_total;
    ret = 0;
  }
 out:
  if (ret == 0 && r.wire_owned != NULL) {
    free (f->wire);
    f->wire = r.wire_owned;
    f->same_origin = r.same_origin;
    r.wire_owned = NULL;
  }
  req_free (&r);
  return ret;
}

/* HEAD: the size and Accept-Ranges; a redirect followed here is where
 * every read goes.
 */
static int
file_size (struct http_file *f, uint64_t *size, char *msg, size_t msg_len)
{
  struct http_req r = { .wire = f->wire, .same_origin = true, .head = true };
  bool have_size, ranges;
  int ret;

  if (http_do (f->site, &r, f->display, msg, msg_len) == -1) {
    req_free (&r);
    return -1;
  }
  if (r.wire_owned != NULL) {
    free (f->wire);
    f->wire = r.wire_owned;
    f->same_origin = r.same_origin;
    r.wire_owned = NULL;
  }
  have_size = r.status == 200 && r.have_length;
  ranges = r.status == 200 && r.accept_ranges;
  if (have_size)
    *size = r.length;
  req_free (&r);
  if (have_size && (ranges || *size == 0))
    return 0;
  ret = probe_range (f, have_size, size, msg, msg_len);
  return ret;
}

static struct xd_io *
http_open (struct xd_site *site, const struct xd_url *url, bool quiet)
{
  struct http_site *s = (struct http_site *) site;
  struct http_file *f = calloc (1, sizeof *f);
  char msg[1024];
  uint64_t size = 0;
  struct xd_io *io;

  if (f == NULL) {
    if (!quiet)
      xd_error ("%s", strerror (errno));
    return NULL;
  }
  f->site = s;
  f->same_origin = true;
  f->display = xd_url_display (url);
  f->wire = xd_url_wire (url);
  if (f->wire == NULL) {
    file_free (f);
    errno = ENOMEM;
    return NULL;
  }
  if (!origin_matches (url, &s->origin)) {
    if (!quiet)
      xd_error ("%s: not on the site %s://%s:%u", f->display,
                s->origin.scheme, s->origin.host, s->origin.port);
    file_free (f);
    errno = EINVAL;
    return NULL;
  }
  if (file_size (f, &size, msg, sizeof msg) == -1) {
    int err = errno;
    if (!quiet)
      xd_error ("%s", msg);
    file_free (f);
    errno = err == ENOENT || err == EACCES ? err : EIO;
    return NULL;
  }
  f->size = size;
  io = xd_io_new (&http_io_ops, f->display, size, f);
  if (io == NULL)
    file_free (f);
  return io;
}

/* ---- the site ---- */

static void
http_site_free (struct xd_site *site)
{
  struct http_site *s = (struct http_site *) site;

  if (s == NULL)
    return;
  for (size_t i = 0; i < s->nr_handles; i++)
    if (s->handles[i])
      curl_easy_cleanup (s->handles[i]);
  if (s->share)
    curl_share_cleanup (s->share);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy (&s->share_locks[i]);
  pthread_mutex_destroy (&s->pool_lock);
  pthread_cond_destroy (&s->pool_cond);
  pthread_mutex_destroy (&s->session_lock);
  pthread_cond_destroy (&s->session_cond);
  pthread_mutex_destroy (&s->rand_lock);
  drop_cookies_locked (s);
  free (s->handles);
  free (s->busy);
  xd_url_free (&s->origin);
  free (s->user);
  if (s->password) {
    /* A secret: not left in freed memory. */
    volatile char *p = s->password;
    while (*p)
      *p++ = '\0';
    free (s->password);
  }
  free (s->cainfo);
  free (s->pubkey_pin);
  free (s->thumb_text);
  free (s);
}

static const struct xd_site_ops http_site_ops = {
  .protocol = "HTTP",
  .open = http_open,
  .list = NULL,                 /* HTTP cannot list a directory */
  .free = http_site_free,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init_once (void)
{
  curl_init_rc = curl_global_init (CURL_GLOBAL_DEFAULT);
}

static int
dup_opt (char **to, const char *from)
{
  if (from == NULL)
    return 0;
  *to = strdup (from);
  return *to ? 0 : -1;
}

static int
site_pool_init (struct http_site *s, unsigned connections)
{
  s->share = curl_share_init ();
  if (s->share == NULL)
    return -1;
  curl_share_setopt (s->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (s->share, CURLSHOPT_USERDATA, s);
  curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

  s->handles = calloc (connections, sizeof *s->handles);
  s->busy = calloc (connections, sizeof *s->busy);
  if (s->handles == NULL || s->busy == NULL)
    return -1;
  s->nr_handles = connections;
  for (size_t i = 0; i < connections; i++)
    if ((s->handles[i] = curl_easy_init ()) == NULL)
      return -1;
  return 0;
}

struct xd_site *
xd_http_site_new (const struct xd_url *url, const struct xd_remote_opts *opts)
{
  struct http_site *s;
  const char *user = opts->user ? opts->user : url->user;

  if (strcmp (url->scheme, "http") != 0 && strcmp (url->scheme, "https") != 0) {
    xd_error ("%s:// is not an HTTP URL", url->scheme);
    errno = EINVAL;
    return NULL;
  }
  pthread_once (&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK) {
    xd_error ("libcurl: %s", curl_easy_strerror (curl_init_rc));
    errno = EIO;
    return NULL;
  }
  s = calloc (1, sizeof *s);
  if (s == NULL) {
    xd_error ("%s", strerror (errno));
    return NULL;
  }
  s->site.ops = &http_site_ops;
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init (&s->share_locks[i], NULL);
  pthread_mutex_init (&s->pool_lock, NULL);
  pthread_cond_init (&s->pool_cond, NULL);
  pthread_mutex_init (&s->session_lock, NULL);
  pthread_cond_init (&s->session_cond, NULL);
  pthread_mutex_init (&s->rand_lock, NULL);
  s->rand_state = ((uint64_t) xd_random_u32 () << 32) | xd_random_u32 () | 1;
  s->sslverify = opts->sslverify;
  s->redirects = opts->redirects;
  s->retries = opts->retries;
  s->retry_seconds = opts->retry_seconds;
  s->timeout = opts->timeout;

  if (xd_url_copy (url, &s->origin) == -1 ||
      dup_opt (&s->user, user) == -1 ||
      dup_opt (&s->password, opts->password) == -1 ||
      dup_opt (&s->cainfo, opts->cainfo) == -1) {
    xd_error ("%s", strerror (errno));
    goto err;
  }
  if (opts->thumbprint && parse_thumbprint (s, opts->thumbprint) == -1)
    goto err;
  if (site_pool_init (s, opts->connections > 0 ? opts->connections : 1) == -1) {
    xd_error ("libcurl: cannot make %u connection handles",
              opts->connections);
    errno = ENOMEM;
    goto err;
  }
  return &s->site;

 err:
  {
    int err = errno;
    http_site_free (&s->site);
    errno = err;
  }
  return NULL;
}

#else /* !HAVE_LIBCURL */

struct xd_site *
xd_http_site_new (const struct xd_url *url,
                  const struct xd_remote_opts *opts XD_UNUSED)
{
  xd_error ("%s:// URLs need HTTP support: xdisk was built without "
            "libcurl (Debian: libcurl4-openssl-dev)", url->scheme);
  errno = ENOTSUP;
  return NULL;
}

#endif /* !HAVE_LIBCURL */
