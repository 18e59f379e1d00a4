/* xdisk: a small XML reader; see xd-xml.h. */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xd-report.h"
#include "archive/xd-xml.h"
#include "include/xd-vector.h"

struct parser {
  const char *p, *end, *start;
  const char *file;
  size_t nodes;
  unsigned depth;
  struct xd_xml *root, *cur;
};

static void
parse_error (struct parser *ps, const char *what)
{
  size_t line = 1;
  const char *q;

  for (q = ps->start; q < ps->p && q < ps->end; q++)
    line += *q == '\n';
  xd_error ("%s: XML line %zu: %s", ps->file, line, what);
  errno = EIO;
}

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_name_char (char c)
{
  return !is_space (c) && c != '>' && c != '/' && c != '=' && c != '<' &&
    c != '"' && c != '\'' && c != '\0' && c != '?' && c != '!';
}

/* Skip past the string S, or fail. */
static int
skip_past (struct parser *ps, const char *s, const char *what)
{
  size_t n = strlen (s);

  while (ps->end - ps->p >= (ptrdiff_t) n) {
    if (memcmp (ps->p, s, n) == 0) {
      ps->p += n;
      return 0;
    }
    ps->p++;
  }
  parse_error (ps, what);
  return -1;
}

/* Append the UTF-8 encoding of CP to OUT at *O. */
static void
put_utf8 (char *out, size_t *o, uint32_t cp)
{
  if (cp < 0x80)
    out[(*o)++] = (char) cp;
  else if (cp < 0x800) {
    out[(*o)++] = (char) (0xc0 | (cp >> 6));
    out[(*o)++] = (char) (0x80 | (cp & 0x3f));
  }
  else if (cp < 0x10000) {
    out[(*o)++] = (char) (0xe0 | (cp >> 12));
    out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3f));
    out[(*o)++] = (char) (0x80 | (cp & 0x3f));
  }
  else {
    out[(*o)++] = (char) (0xf0 | (cp >> 18));
    out[(*o)++] = (char) (0x80 | ((cp >> 12) & 0x3f));
    out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3f));
    out[(*o)++] = (char) (0x80 | (cp & 0x3f));
  }
}

/* Decode LEN bytes of S (entity references) into a new string.  A
 * reference decodes to no more bytes than it takes, so LEN + 1 is room
 * enough.
 */
static char *
decode (struct parser *ps, const char *s, size_t len)
{
  static const struct { const char *name; char c; } ents[] = {
    { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
    { "quot;", '"' }, { "apos;", '\'' },
  };
  char *out = malloc (len + 1);
  size_t i = 0, o = 0, k;

  if (out == NULL) {
    xd_error ("%s: malloc: %m", ps->file);
    return NULL;
  }
  while (i < len) {
    if (s[i] != '&') {
      out[o++] = s[i++];
      continue;
    }
    for (k = 0; k < sizeof ents / sizeof ents[0]; k++) {
      size_t n = strlen (ents[k].name);
      if (len - i - 1 >= n && memcmp (s + i + 1, ents[k].name, n) == 0) {
        out[o++] = ents[k].c;
        i += n + 1;
        break;
      }
    }
    if (k < sizeof ents / sizeof ents[0])
      continue;
    if (len - i > 2 && s[i + 1] == '#') {
      uint32_t cp = 0;
      size_t j = i + 2;
      bool hex = j < len && s[j] == 'x';
      unsigned digits = 0;
      if (hex)
        j++;
      for (; j < len && s[j] != ';' && digits < 8; j++, digits++) {
        char c = s[j];
        int d = c >= '0' && c <= '9' ? c - '0' :
          hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 :
          hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
          break;
        cp = cp * (hex ? 16 : 10) + (uint32_t) d;
      }
      if (j < len && s[j] == ';' && digits > 0 && cp > 0 && cp <= 0x10ffff &&
          j + 1 - i >= 4) {     /* "&#N;" is 4 bytes, UTF-8 at most 4 */
        put_utf8 (out, &o, cp);
        i = j + 1;
        continue;
      }
    }
    free (out);
    parse_error (ps, "bad entity or character reference");
    return NULL;
  }
  out[o] = '\0';
  return out;
}

/* Append decoded text to the current element's text. */
static int
add_text (struct parser *ps, const char *s, size_t len, bool raw)
{
  char *t, *n;
  size_t old;

  if (ps->cur == NULL || len == 0)
    return 0;                   /* text outside the root: ignored */
  if (raw) {
    t = strndup (s, len);
    if (t == NULL) {
      xd_error ("%s: strndup: %m", ps->file);
      return -1;
    }
  }
  else if ((t = decode (ps, s, len)) == NULL)
    return -1;
  old = strlen (ps->cur->text);
  n = realloc (ps->cur->text, old + strlen (t) + 1);
  if (n == NULL) {
    xd_error ("%s: realloc: %m", ps->file);
    free (t);
    return -1;
  }
  strcpy (n + old, t);
  ps->cur->text = n;
  free (t);
  return 0;
}

static const char *
local_name (const char *s, size_t len, size_t *out_len)
{
  const char *colon = memchr (s, ':', len);

  if (colon && colon + 1 < s + len) {
    *out_len = len - (size_t) (colon + 1 - s);
    return colon + 1;
  }
  *out_len = len;
  return s;
}

static int
add_attr (struct parser *ps, struct xd_xml *e, const char *name,
          size_t nlen, const char *val, size_t vlen)
{
  struct xd_xml_attr *a;
  size_t ln;
  const char *l = local_name (name, nlen, &ln);

  if (e->nattrs >= 256) {
    parse_error (ps, "too many attributes");
    return -1;
  }
  if (XD_RESERVE (e->attrs, e->nattrs, e->attrs_cap, 1) == -1) {
    xd_error ("%s: realloc: %m", ps->file);
    return -1;
  }
  a = &e->attrs[e->nattrs];
  a->name = strndup (l, ln);
  a->value = decode (ps, val, vlen);
  if (a->name == NULL || a->value == NULL) {
    free (a->name);
    free (a->value);
    if (errno != EIO)
      xd_error ("%s: malloc: %m", ps->file);
    return -1;
  }
  e->nattrs++;
  return 0;
}

static struct xd_xml *
new_element (struct parser *ps, const char *name, size_t len)
{
  struct xd_xml *e, **link;
  size_t ln;
  const char *l = local_name (name, len, &ln);

  if (ps->nodes >= XD_XML_MAX_NODES) {
    parse_error (ps, "too many elements");
    return NULL;
  }
  if (ps->cur == NULL && ps->root) {
    parse_error (ps, "a second root element");
    return NULL;
  }
  e = calloc (1, sizeof *e);
  if (e == NULL || (e->name = strndup (l, ln)) == NULL ||
      (e->text = strdup ("")) == NULL) {
    xd_error ("%s: calloc: %m", ps->file);
    xd_xml_free (e);
    return NULL;
  }
  ps->nodes++;
  e->parent = ps->cur;
  if (ps->cur == NULL)
    ps->root = e;
  else {
    link = ps->cur->last ? &ps->cur->last->next : &ps->cur->child;
    *link = e;
    ps->cur->last = e;
  }
  return e;
}

/* At "<name ...": parse a start tag. */
static int
start_tag (struct parser *ps)
{
  const char *name = ++ps->p;
  struct xd_xml *e;

  while (ps->p < ps->end && is_name_char (*ps->p))
    ps->p++;
  if (ps->p == name) {
    parse_error (ps, "bad element name");
    return -1;
  }
  if ((e = new_element (ps, name, (size_t) (ps->p - name))) == NULL)
    return -1;
  for (;;) {
    const char *an, *av;
    size_t anl;
    char q;
    while (ps->p < ps->end && is_space (*ps->p))
      ps->p++;
    if (ps->p >= ps->end)
      break;
    if (*ps->p == '>') {
      ps->p++;
      if (++ps->depth > XD_XML_MAX_DEPTH) {
        parse_error (ps, "elements nested too deeply");
        return -1;
      }
      ps->cur = e;
      return 0;
    }
    if (*ps->p == '/' && ps->p + 1 < ps->end && ps->p[1] == '>') {
      ps->p += 2;               /* empty element */
      return 0;
    }
    an = ps->p;
    while (ps->p < ps->end && is_name_char (*ps->p))
      ps->p++;
    anl = (size_t) (ps->p - an);
    while (ps->p < ps->end && is_space (*ps->p))
      ps->p++;
    if (anl == 0 || ps->p >= ps->end || *ps->p != '=')
      break;
    ps->p++;
    while (ps->p < ps->end && is_space (*ps->p))
      ps->p++;
    if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\''))
      break;
    q = *ps->p++;
    av = ps->p;
    while (ps->p < ps->end && *ps->p != q && *ps->p != '<')
      ps->p++;
    if (ps->p >= ps->end || *ps->p != q)
      break;
    if (add_attr (ps, e, an, anl, av, (size_t) (ps->p - av)) == -1)
      return -1;
    ps->p++;
  }
  parse_error (ps, "malformed start tag");
  return -1;
}

static int
end_tag (struct parser *ps)
{
  const char *name = ps->p += 2;
  size_t len, ln;
  const char *l;

  while (ps->p < ps->end && is_name_char (*ps->p))
    ps->p++;
  len = (size_t) (ps->p - name);
  l = local_name (name, len, &ln);
  while (ps->p < ps->end && is_space (*ps->p))
    ps->p++;
  if (ps->p >= ps->end || *ps->p != '>' || ps->cur == NULL ||
      strlen (ps->cur->name) != ln || memcmp (ps->cur->name, l, ln) != 0) {
    parse_error (ps, "mismatched end tag");
    return -1;
  }
  ps->p++;
  ps->cur = ps->cur->parent;
  ps->depth--;
  return 0;
}

static int
markup (struct parser *ps)
{
  size_t left = (size_t) (ps->end - ps->p);

  if (left >= 4 && memcmp (ps->p, "<!--", 4) == 0)
    return skip_past (ps, "-->", "unterminated comment");
  if (left >= 9 && memcmp (ps->p, "<![CDATA[", 9) == 0) {
    const char *s = ps->p += 9;
    if (skip_past (ps, "]]>", "unterminated CDATA section") == -1)
      return -1;
    return add_text (ps, s, (size_t) (ps->p - 3 - s), true);
  }
  if (left >= 2 && (ps->p[1] == '?' || ps->p[1] == '!'))
    /* <?xml ...?>, <!DOCTYPE ...> (no internal subset with '>' in it) */
    return skip_past (ps, ">", "unterminated declaration");
  if (left >= 2 && ps->p[1] == '/')
    return end_tag (ps);
  return start_tag (ps);
}

struct xd_xml *
xd_xml_parse (const char *buf, size_t len, const char *file)
{
  struct parser ps = {
    .p = buf, .end = buf + len, .start = buf, .file = file,
  };

  /* A UTF-8 byte order mark. */
  if (len >= 3 && memcmp (buf, "\xef\xbb\xbf", 3) == 0)
    ps.p += 3;
  while (ps.p < ps.end) {
    const char *lt = memchr (ps.p, '<', (size_t) (ps.end - ps.p));
    const char *stop = lt ? lt : ps.end;
    const char *nul = memchr (ps.p, '\0', (size_t) (stop - ps.p));
    if (nul) {
      /* NUL padding after the document (tar members, fixed fields). */
      const char *q = nul;
      while (q < ps.end && *q == '\0')
        q++;
      if (q == ps.end && ps.root && ps.cur == NULL)
        break;
      ps.p = nul;
      parse_error (&ps, "NUL byte in the document");
      goto fail;
    }
    if (add_text (&ps, ps.p, (size_t) (stop - ps.p), false) == -1)
      goto fail;
    ps.p = stop;
    if (lt && markup (&ps) == -1)
      goto fail;
  }
  if (ps.root == NULL || ps.cur != NULL) {
    parse_error (&ps, ps.root ? "the document ends inside an element"
                 : "no root element");
    goto fail;
  }
  return ps.root;

 fail:
  xd_xml_free (ps.root);
  errno = EIO;
  return NULL;
}

void
xd_xml_free (struct xd_xml *e)
{
  /* Iterative over siblings, recursive only as deep as the document
   * (bounded by XD_XML_MAX_DEPTH).
   */
  while (e) {
    struct xd_xml *next = e->next;
    size_t i;
    xd_xml_free (e->child);
    for (i = 0; i < e->nattrs; i++) {
      free (e->attrs[i].name);
      free (e->attrs[i].value);
    }
    free (e->attrs);
    free (e->name);
    free (e->text);
    free (e);
    e = next;
  }
}

const char *
xd_xml_attr (const struct xd_xml *e, const char *name)
{
  size_t i;

  for (i = 0; i < e->nattrs; i++)
    if (strcmp (e->attrs[i].name, name) == 0)
      return e->attrs[i].value;
  return NULL;
}

const struct xd_xml *
xd_xml_child (const struct xd_xml *e, const char *name,
              const struct xd_xml *after)
{
  const struct xd_xml *c = after ? after->next : e->child;

  for (; c; c = c->next)
    if (strcmp (c->name, name) == 0)
      return c;
  return NULL;
}

const struct xd_xml *
xd_xml_next (const struct xd_xml *root, const struct xd_xml *e,
             const char *name)
{
  const struct xd_xml *c = e ? e : root;

  for (;;) {
    /* Pre-order: first child, else next sibling, else up. */
    if (c->child)
      c = c->child;
    else {
      while (c != root && c->next == NULL)
        c = c->parent;
      if (c == root)
        return NULL;
      c = c->next;
    }
    if (strcmp (c->name, name) == 0)
      return c;
  }
}
