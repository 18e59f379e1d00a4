/* xdisk: URLs of remote images and the names images hold resolved
 * against them (see xd-url.h).
 *
 * A path is kept in one canonical encoding, so that two spellings of
 * the same file compare equal and confinement is a prefix test: split
 * at '/', each segment decoded to its bytes, "." and ".." applied, each
 * segment encoded again with every byte outside RFC 3986's pchar set
 * as %XX.  The user's url= is trusted and canonicalised so; a name read
 * from an image is not decoded at all (its '%' becomes %25), and a name
 * that spells '.', '/', '\' or NUL in percent-encoding is refused
 * outright: it can only be an attempt to get past these checks
 * (remote-sources.md §5.2).
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "remote/xd-url.h"
#include "include/xd-report.h"

/* Longest url= or name accepted: far beyond any real path. */
#define MAX_URL_LEN 8192

static int
hex_value (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower ((unsigned char) c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* RFC 3986 pchar minus '%': kept literally in a segment. */
static bool
is_pchar (unsigned char c)
{
  return isalnum (c) || strchr ("-._~!$&'()*+,;=:@", c) != NULL;
}

static bool
has_control (const char *s)
{
  for (; *s; s++)
    if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7f)
      return true;
  return false;
}

/* ---- canonical paths: a list of decoded segments ---- */

struct segs {
  char **v;                     /* each segment's bytes, NUL-terminated */
  size_t n;
};

static void
segs_free (struct segs *s)
{
  for (size_t i = 0; i < s->n; i++)
    free (s->v[i]);
  free (s->v);
  s->v = NULL;
  s->n = 0;
}

/* Apply one segment of LEN bytes at P: "." and "" are dropped, ".."
 * removes the last segment (-1 with errno ERANGE when there is none).
 */
static int
segs_push (struct segs *s, const char *p, size_t len)
{
  char **v;

  if (len == 0 || (len == 1 && p[0] == '.'))
    return 0;
  if (len == 2 && p[0] == '.' && p[1] == '.') {
    if (s->n == 0) {
      errno = ERANGE;
      return -1;
    }
    free (s->v[--s->n]);
    return 0;
  }
  v = realloc (s->v, (s->n + 1) * sizeof *v);
  if (v == NULL)
    return -1;
  s->v = v;
  s->v[s->n] = strndup (p, len);
  if (s->v[s->n] == NULL)
    return -1;
  s->n++;
  return 0;
}

/* Decode %XX in the LEN bytes at P into OUT (room for LEN + 1).  The
 * length decoded, or -1 with errno EINVAL for a malformed escape or an
 * encoded NUL.
 */
static ssize_t
percent_decode (const char *p, size_t len, char *out)
{
  size_t i, o = 0;

  for (i = 0; i < len; i++) {
    int hi, lo;
    if (p[i] != '%') {
      out[o++] = p[i];
      continue;
    }
    hi = i + 2 < len ? hex_value (p[i + 1]) : -1;
    lo = hi >= 0 ? hex_value (p[i + 2]) : -1;
    if (lo < 0 || (hi == 0 && lo == 0)) {
      errno = EINVAL;
      return -1;
    }
    out[o++] = (char) (hi * 16 + lo);
    i += 2;
  }
  out[o] = '\0';
  return (ssize_t) o;
}

/* Split the encoded PATH (the user's) into decoded segments. */
static int
segs_from_encoded (struct segs *s, const char *path)
{
  const char *p = path;

  while (*p) {
    size_t len = strcspn (p, "/");
    char *seg = malloc (len + 1);
    ssize_t n;
    int r;

    if (seg == NULL)
      return -1;
    n = percent_decode (p, len, seg);
    r = n < 0 ? -1 : segs_push (s, seg, (size_t) n);
    free (seg);
    if (r == -1)
      return -1;
    p += len;
    if (*p == '/')
      p++;
  }
  return 0;
}

/* Add the raw segments of NAME (bytes from an image, '/'-separated). */
static int
segs_from_raw (struct segs *s, const char *name)
{
  const char *p = name;

  while (*p) {
    size_t len = strcspn (p, "/");
    if (segs_push (s, p, len) == -1)
      return -1;
    p += len;
    if (*p == '/')
      p++;
  }
  return 0;
}

/* The encoded path "/seg/seg" (a trailing '/' if DIR), malloc'd. */
static char *
segs_encode (const struct segs *s, bool dir)
{
  size_t bytes = 2, i, o = 0;
  char *out;

  for (i = 0; i < s->n; i++)
    bytes += 3 * strlen (s->v[i]) + 1;
  out = malloc (bytes);
  if (out == NULL)
    return NULL;
  for (i = 0; i < s->n; i++) {
    const unsigned char *c = (const unsigned char *) s->v[i];
    out[o++] = '/';
    for (; *c; c++) {
      if (is_pchar (*c))
        out[o++] = (char) *c;
      else
        o += (size_t) sprintf (out + o, "%%%02X", *c);
    }
  }
  if (o == 0 || dir)
    out[o++] = '/';
  out[o] = '\0';
  return out;
}

/* The canonical form of the user's encoded PATH, or NULL (errno). */
static char *
canonical_path (const char *path)
{
  struct segs s = { 0 };
  char *out = NULL;

  if (segs_from_encoded (&s, path) == 0)
    out = segs_encode (&s, false);
  segs_free (&s);
  return out;
}

/* ---- parsing ---- */

static const struct {
  const char *scheme, *canonical;
  unsigned port;
} schemes[] = {
  { "http", "http", 80 },
  { "https", "https", 443 },
  { "ssh", "ssh", 22 },
  { "sftp", "ssh", 22 },
};

void
xd_url_free (struct xd_url *url)
{
  free (url->scheme);
  free (url->user);
  free (url->host);
  free (url->path);
  free (url->query);
  memset (url, 0, sizeof *url);
}

static int
parse_scheme (const char *text, struct xd_url *url, const char **rest)
{
  const char *sep = strstr (text, "://");
  size_t i;

  if (sep != NULL)
    for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
      if ((size_t) (sep - text) == strlen (schemes[i].scheme) &&
          strncasecmp (text, schemes[i].scheme, (size_t) (sep - text)) == 0) {
        url->scheme = strdup (schemes[i].canonical);
        url->port = schemes[i].port;
        *rest = sep + 3;
        return url->scheme ? 0 : -1;
      }
  xd_error ("url: only http://, https:// and ssh:// URLs can be served "
            "(the URL must start with one of them)");
  errno = EINVAL;
  return -1;
}

/* USERINFO (LEN bytes): a user name only, decoded. */
static int
parse_user (const char *userinfo, size_t len, struct xd_url *url)
{
  if (memchr (userinfo, ':', len) != NULL) {
    /* The URL is not repeated: it holds a password. */
    xd_error ("url: a password in the URL is not accepted: give it with "
              "password=+FILE (or password=-, password=-FD)");
    errno = EINVAL;
    return -1;
  }
  url->user = malloc (len + 1);
  if (url->user == NULL)
    return -1;
  if (len == 0 || percent_decode (userinfo, len, url->user) < 0) {
    xd_error ("url: the user name before '@' is empty or badly encoded");
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
parse_port (const char *p, size_t len, struct xd_url *url)
{
  unsigned long port = 0;
  size_t i;

  for (i = 0; i < len && port <= 65535; i++) {
    if (!isdigit ((unsigned char) p[i]))
      break;
    port = port * 10 + (unsigned long) (p[i] - '0');
  }
  if (len == 0 || i < len || port == 0 || port > 65535) {
    xd_error ("url: the port \"%.*s\" is not a number from 1 to 65535",
              (int) (len > 16 ? 16 : len), p);
    errno = EINVAL;
    return -1;
  }
  url->port = (unsigned) port;
  url->port_given = true;
  return 0;
}

static bool
valid_host (const char *host, bool bracketed)
{
  const char *allowed = bracketed ? "0123456789abcdefABCDEF:." : "-._";

  if (*host == '\0')
    return false;
  for (; *host; host++)
    if (!(bracketed ? false : isalnum ((unsigned char) *host)) &&
        strchr (allowed, *host) == NULL)
      return false;
  return true;
}

/* HOSTPORT (LEN bytes): host, [v6] or host:port. */
static int
parse_hostport (const char *hp, size_t len, struct xd_url *url)
{
  const char *host = hp, *colon;
  size_t hostlen;
  bool bracketed = len > 0 && hp[0] == '[';

  if (bracketed) {
    const char *close = memchr (hp, ']', len);
    if (close == NULL)
      goto bad;
    host = hp + 1;
    hostlen = (size_t) (close - host);
    colon = close + 1 < hp + len ? close + 1 : NULL;
    if (colon && *colon != ':')
      goto bad;
  }
  else {
    colon = memchr (hp, ':', len);
    hostlen = colon ? (size_t) (colon - hp) : len;
  }
  url->host = strndup (host, hostlen);
  if (url->host == NULL)
    return -1;
  if (!valid_host (url->host, bracketed))
    goto bad;
  if (colon)
    return parse_port (colon + 1, (size_t) (hp + len - colon - 1), url);
  return 0;

 bad:
  xd_error ("url: the host name is missing or malformed");
  errno = EINVAL;
  return -1;
}

static int
parse_authority (const char *auth, size_t len, struct xd_url *url)
{
  const char *at = NULL;
  size_t i;

  for (i = 0; i < len; i++)     /* the last '@': a user may hold one */
    if (auth[i] == '@')
      at = auth + i;
  if (at) {
    if (parse_user (auth, (size_t) (at - auth), url) == -1)
      return -1;
    len -= (size_t) (at + 1 - auth);
    auth = at + 1;
  }
  return parse_hostport (auth, len, url);
}

/* The path and query after the authority. */
static int
parse_path_query (const char *p, struct xd_url *url)
{
  size_t pathlen = strcspn (p, "?");
  char *raw;

  if (strchr (p, '#') != NULL) {
    xd_error ("url: a '#' fragment is never sent to a server: "
              "percent-encode '#' in a file name as %%23");
    errno = EINVAL;
    return -1;
  }
  raw = strndup (p, pathlen);
  if (raw == NULL)
    return -1;
  url->path = canonical_path (raw);
  free (raw);
  if (url->path == NULL) {
    xd_error ("url: the path holds a malformed %%-escape, an encoded NUL "
              "or a \"..\" above the root");
    errno = EINVAL;
    return -1;
  }
  if (p[pathlen] == '?' && p[pathlen + 1] != '\0') {
    url->query = strdup (p + pathlen + 1);
    if (url->query == NULL)
      return -1;
  }
  return 0;
}

int
xd_url_parse (const char *text, struct xd_url *url)
{
  const char *rest;
  size_t authlen;

  memset (url, 0, sizeof *url);
  if (strlen (text) > MAX_URL_LEN || has_control (text) ||
      strchr (text, ' ') != NULL) {
    xd_error ("url: longer than %d bytes, or holds a space or a control "
              "character (percent-encode a space as %%20)", MAX_URL_LEN);
    errno = EINVAL;
    return -1;
  }
  if (parse_scheme (text, url, &rest) == -1)
    goto fail;
  authlen = strcspn (rest, "/?#");
  if (parse_authority (rest, authlen, url) == -1 ||
      parse_path_query (rest + authlen, url) == -1)
    goto fail;
  return 0;

 fail:
  if (errno == ENOMEM)
    xd_error ("url: %m");
  xd_url_free (url);
  return -1;
}

static char *
dup_or_null (const char *s, bool *failed)
{
  char *d = s ? strdup (s) : NULL;

  if (s && d == NULL)
    *failed = true;
  return d;
}

int
xd_url_copy (const struct xd_url *from, struct xd_url *to)
{
  bool failed = false;

  to->scheme = dup_or_null (from->scheme, &failed);
  to->user = dup_or_null (from->user, &failed);
  to->host = dup_or_null (from->host, &failed);
  to->path = dup_or_null (from->path, &failed);
  to->query = dup_or_null (from->query, &failed);
  to->port = from->port;
  to->port_given = from->port_given;
  if (failed) {
    xd_error ("strdup: %m");
    xd_url_free (to);
    return -1;
  }
  return 0;
}

/* ---- printing ---- */

/* QUERY with the values of every key but dcPath and dsName hidden. */
static char *
display_query (const char *query)
{
  size_t bytes = strlen (query) * 2 + 8, o = 0;
  char *out = malloc (bytes);
  const char *p = query;

  if (out == NULL)
    return NULL;
  while (*p) {
    size_t len = strcspn (p, "&"), keylen = strcspn (p, "=&");
    bool shown = (keylen == 6 && strncmp (p, "dcPath", 6) == 0) ||
                 (keylen == 6 && strncmp (p, "dsName", 6) == 0) ||
                 keylen == len;
    if (o)
      out[o++] = '&';
    if (shown) {
      memcpy (out + o, p, len);
      o += len;
    }
    else {
      memcpy (out + o, p, keylen);
      o += keylen;
      memcpy (out + o, "=...", 4);
      o += 4;
    }
    p += len;
    if (*p == '&')
      p++;
  }
  out[o] = '\0';
  return out;
}

static char *
format_url (const struct xd_url *url, const char *query)
{
  bool v6 = strchr (url->host, ':') != NULL;
  char port[16] = "";
  char *out;

  if (url->port_given)
    snprintf (port, sizeof port, ":%u", url->port);
  if (asprintf (&out, "%s://%s%s%s%s%s%s%s", url->scheme, v6 ? "[" : "",
                url->host, v6 ? "]" : "", port, url->path,
                query ? "?" : "", query ? query : "") == -1)
    return NULL;
  return out;
}

char *
xd_url_wire (const struct xd_url *url)
{
  char *out = format_url (url, url->query);

  if (out == NULL)
    xd_error ("asprintf: %m");
  return out;
}

char *
xd_url_display (const struct xd_url *url)
{
  char *query = url->query ? display_query (url->query) : NULL;
  char *out = NULL;

  if (url->query == NULL || query != NULL)
    out = format_url (url, query);
  free (query);
  return out ? out : strdup ("(a URL: out of memory)");
}

char *
xd_url_decoded_path (const struct xd_url *url)
{
  size_t len = strlen (url->path);
  char *out = malloc (len + 1);

  if (out == NULL) {
    xd_error ("malloc: %m");
    return NULL;
  }
  if (percent_decode (url->path, len, out) < 0) {
    xd_error ("url: the path holds an encoded NUL");
    free (out);
    errno = EINVAL;
    return NULL;
  }
  return out;
}

/* ---- comparing ---- */

static bool
same_or_both_null (const char *a, const char *b)
{
  return a == b || (a && b && strcmp (a, b) == 0);
}

bool
xd_url_same_origin (const struct xd_url *a, const struct xd_url *b)
{
  return strcmp (a->scheme, b->scheme) == 0 &&
    strcasecmp (a->host, b->host) == 0 && a->port == b->port &&
    same_or_both_null (a->user, b->user);
}

bool
xd_url_path_inside (const struct xd_url *url, const char *prefix_path)
{
  size_t len = strlen (prefix_path);

  while (len > 0 && prefix_path[len - 1] == '/')
    len--;
  /* "/" itself: everything is inside. */
  if (len == 0)
    return true;
  return strncmp (url->path, prefix_path, len) == 0 &&
    url->path[len] == '/';
}

char *
xd_url_dir (const struct xd_url *url)
{
  const char *slash = strrchr (url->path, '/');
  char *dir = strndup (url->path, (size_t) (slash - url->path) + 1);

  if (dir == NULL)
    xd_error ("strndup: %m");
  return dir;
}

/* ---- resolving names from images ---- */

/* A prefix "xyz:" of two or more letters is a scheme or a protocol
 * ("file:", "json:", "nbd:"); one letter is a Windows drive.
 */
static bool
has_scheme (const char *name)
{
  size_t len = 0;

  if (!isalpha ((unsigned char) name[0]))
    return false;
  while (isalnum ((unsigned char) name[len]) || name[len] == '+' ||
         name[len] == '-' || name[len] == '.')
    len++;
  return name[len] == ':' && len >= 2;
}

/* %2e, %2f, %5c or %00, in any case. */
static bool
has_encoded_escape (const char *name)
{
  for (const char *p = strchr (name, '%'); p; p = strchr (p + 1, '%')) {
    int hi = hex_value (p[1]), lo = hi < 0 ? -1 : hex_value (p[2]);
    int c = hi * 16 + lo;
    if (lo >= 0 && (c == '.' || c == '/' || c == '\\' || c == 0))
      return true;
  }
  return false;
}

/* A Windows absolute name ("C:/x", "//?/C:/x", "//server/share/x",
 * after '\' became '/'): only its last component can mean anything
 * here.
 */
static bool
is_windows_absolute (const char *name)
{
  return (isalpha ((unsigned char) name[0]) && name[1] == ':') ||
    (name[0] == '/' && name[1] == '/');
}

static const char *
check_name (const char *name)
{
  if (name[0] == '\0')
    return "the name is empty";
  if (strlen (name) > MAX_URL_LEN)
    return "the name is too long";
  if (has_control (name))
    return "the name holds a control character";
  if (has_scheme (name))
    return "the name has a scheme or protocol prefix; only names of files "
      "beside the image are followed";
  if (has_encoded_escape (name))
    return "the name spells '.', '/', '\\' or NUL with a %-escape";
  return NULL;
}

int
xd_url_resolve (const struct xd_url *from, const char *name,
                struct xd_url *out, const char **why)
{
  struct segs s = { 0 };
  char *copy = NULL, *path = NULL, *p;
  const char *last;
  int ret = -1;

  memset (out, 0, sizeof *out);
  *why = check_name (name);
  if (*why) {
    errno = EINVAL;
    return -1;
  }
  copy = strdup (name);
  if (copy == NULL)
    goto oom;
  for (p = copy; *p; p++)
    if (*p == '\\')
      *p = '/';
  if (is_windows_absolute (copy)) {
    last = strrchr (copy, '/');
    last = last ? last + 1 : copy + 2;
    memmove (copy, last, strlen (last) + 1);
    if (copy[0] == '\0' || strcmp (copy, "..") == 0 ||
        strcmp (copy, ".") == 0) {
      *why = "the Windows path names no file";
      errno = EINVAL;
      goto out;
    }
  }
  /* Relative names start from FROM's directory. */
  if (copy[0] != '/') {
    char *dir = xd_url_dir (from);
    int r = dir ? segs_from_encoded (&s, dir) : -1;
    free (dir);
    if (r == -1)
      goto oom;
  }
  if (segs_from_raw (&s, copy) == -1) {
    if (errno == ERANGE) {
      *why = "the name climbs above the server's root with \"..\"";
      errno = EINVAL;
      goto out;
    }
    goto oom;
  }
  if (s.n == 0 || copy[strlen (copy) - 1] == '/') {
    *why = "the name is a directory, not a file";
    errno = EINVAL;
    goto out;
  }
  path = segs_encode (&s, false);
  if (path == NULL || xd_url_copy (from, out) == -1)
    goto oom;
  free (out->path);
  out->path = path;
  path = NULL;
  ret = 0;
  goto out;

 oom:
  *why = "out of memory";
  errno = ENOMEM;
 out:
  free (path);
  free (copy);
  segs_free (&s);
  return ret;
}
