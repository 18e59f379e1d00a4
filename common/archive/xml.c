/* xdisk: the XML reader of xd-xml.h, on top of expat.
 *
 * expat tokenises, checks that the document is well formed, decodes
 * the input encoding and the character and predefined entity
 * references; this file builds the tree and holds the project's
 * limits.  The documents come from untrusted archives, so a DOCTYPE is
 * refused outright: none of the metadata this pack reads has one, and
 * without it no entity can be declared, so none can expand ("billion
 * laughs") or name an external file.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "include/xd-report.h"
#include "archive/xd-xml.h"
#include "include/xd-vector.h"

#ifdef XML_UNICODE
#error "xdisk needs expat built with UTF-8 XML_Char"
#endif

/* Most attributes one element may carry. */
#define MAX_ATTRS 256
/* Most bytes handed to expat at once (XML_Parse takes an int). */
#define FEED_BYTES (16 << 20)

struct parser {
  XML_Parser xp;
  const char *file;
  size_t nodes;
  unsigned depth;               /* elements open */
  struct xd_xml *root, *cur;
  /* expat hands text over in pieces, a line or a reference at a time:
   * they gather here and join the current element's text at its next
   * tag, which then grows once for each run of text.
   */
  char *pending;
  size_t npending, pending_cap;
  size_t text_len[XD_XML_MAX_DEPTH];    /* of each open element's text */
  bool failed;                  /* an error is reported, expat stopped */
};

/* Report WHAT at the current line and stop expat.  Handlers may still
 * be called for what expat has already read: each returns at once
 * once FAILED is set.
 */
static void
parse_error (struct parser *ps, const char *what)
{
  if (ps->failed)
    return;
  ps->failed = true;
  xd_error ("%s: XML line %zu: %s", ps->file,
            (size_t) XML_GetCurrentLineNumber (ps->xp), what);
  XML_StopParser (ps->xp, XML_FALSE);
}

static void
alloc_error (struct parser *ps, const char *fn)
{
  if (ps->failed)
    return;
  ps->failed = true;
  xd_error ("%s: %s: %m", ps->file, fn);
  XML_StopParser (ps->xp, XML_FALSE);
}

/* "ovf:Disk" is "Disk": see xd-xml.h. */
static const char *
local_name (const char *name)
{
  const char *colon = strchr (name, ':');

  return colon && colon[1] ? colon + 1 : name;
}

/* Copy expat's decoded NULL-terminated name/value pairs onto E. */
static int
add_attrs (struct parser *ps, struct xd_xml *e, const XML_Char **atts)
{
  size_t n = 0, i;

  while (atts[2 * n])
    n++;
  if (n == 0)
    return 0;
  if (n > MAX_ATTRS) {
    parse_error (ps, "too many attributes");
    return -1;
  }
  if ((e->attrs = calloc (n, sizeof *e->attrs)) == NULL) {
    alloc_error (ps, "calloc");
    return -1;
  }
  for (i = 0; i < n; i++) {
    e->attrs[i].name = strdup (local_name (atts[2 * i]));
    e->attrs[i].value = strdup (atts[2 * i + 1]);
    e->nattrs++;                /* freed with E either way */
    if (e->attrs[i].name == NULL || e->attrs[i].value == NULL) {
      alloc_error (ps, "strdup");
      return -1;
    }
  }
  return 0;
}

/* Hang E under the current element (or make it the root). */
static void
link_element (struct parser *ps, struct xd_xml *e)
{
  e->parent = ps->cur;
  if (ps->cur == NULL)
    ps->root = e;
  else if (ps->cur->last)
    ps->cur->last->next = e;
  else
    ps->cur->child = e;
  if (ps->cur)
    ps->cur->last = e;
}

/* Append the gathered text to the current element's.  0, or -1 after
 * reporting.
 */
static int
flush_text (struct parser *ps)
{
  size_t *len = &ps->text_len[ps->depth - 1];
  char *t;

  if (ps->npending == 0)
    return 0;
  t = realloc (ps->cur->text, *len + ps->npending + 1);
  if (t == NULL) {
    alloc_error (ps, "realloc");
    return -1;
  }
  memcpy (t + *len, ps->pending, ps->npending);
  *len += ps->npending;
  t[*len] = '\0';
  ps->cur->text = t;
  ps->npending = 0;
  return 0;
}

static void XMLCALL
on_start (void *opaque, const XML_Char *name, const XML_Char **atts)
{
  struct parser *ps = opaque;
  struct xd_xml *e;

  if (ps->failed || (ps->cur && flush_text (ps) == -1))
    return;
  if (ps->depth >= XD_XML_MAX_DEPTH) {
    parse_error (ps, "elements nested too deeply");
    return;
  }
  if (ps->nodes >= XD_XML_MAX_NODES) {
    parse_error (ps, "too many elements");
    return;
  }
  if ((e = calloc (1, sizeof *e)) == NULL ||
      (e->name = strdup (local_name (name))) == NULL) {
    free (e);
    alloc_error (ps, "calloc");
    return;
  }
  /* In the tree at once, so that the tree's free takes it on failure. */
  link_element (ps, e);
  ps->nodes++;
  if (add_attrs (ps, e, atts) == -1)
    return;
  ps->text_len[ps->depth++] = 0;
  ps->cur = e;
}

static void XMLCALL
on_end (void *opaque, const XML_Char *name)
{
  struct parser *ps = opaque;

  (void) name;                  /* expat checked that it matches */
  if (ps->failed || flush_text (ps) == -1)
    return;
  if (ps->cur->text == NULL && (ps->cur->text = strdup ("")) == NULL) {
    alloc_error (ps, "strdup");
    return;
  }
  ps->cur = ps->cur->parent;
  ps->depth--;
}

/* Text, CDATA sections included, already decoded: gather it. */
static void XMLCALL
on_text (void *opaque, const XML_Char *s, int len)
{
  struct parser *ps = opaque;

  if (ps->failed || ps->cur == NULL || len <= 0)
    return;             /* whitespace outside the root: ignored */
  if (XD_RESERVE (ps->pending, ps->npending, ps->pending_cap,
                  (size_t) len) == -1) {
    alloc_error (ps, "realloc");
    return;
  }
  memcpy (ps->pending + ps->npending, s, (size_t) len);
  ps->npending += (size_t) len;
}

static void XMLCALL
on_doctype (void *opaque, const XML_Char *name, const XML_Char *sysid,
            const XML_Char *pubid, int has_internal_subset)
{
  (void) name;
  (void) sysid;
  (void) pubid;
  (void) has_internal_subset;
  parse_error (opaque, "a DOCTYPE declaration: refused, as no appliance "
               "metadata has one and its entities could expand without "
               "bound");
}

/* What went wrong, for an error expat found. */
static const char *
expat_error (const struct parser *ps)
{
  enum XML_Error code = XML_GetErrorCode (ps->xp);

  switch (code) {
  case XML_ERROR_TAG_MISMATCH:
    return "mismatched end tag";
  case XML_ERROR_NO_ELEMENTS:
    return ps->root ? "the document ends inside an element"
      : "no root element";
  default:
    return XML_ErrorString (code);
  }
}

/* Hand LEN bytes of BUF to expat.  0, or -1 after reporting. */
static int
feed (struct parser *ps, const char *buf, size_t len)
{
  for (;;) {
    int n = len > FEED_BYTES ? FEED_BYTES : (int) len;
    bool last = (size_t) n == len;
    if (XML_Parse (ps->xp, buf, n, last) != XML_STATUS_OK) {
      if (!ps->failed)
        parse_error (ps, expat_error (ps));
      return -1;
    }
    if (last)
      return 0;
    buf += n;
    len -= (size_t) n;
  }
}

struct xd_xml *
xd_xml_parse (const char *buf, size_t len, const char *file)
{
  struct parser ps = { .file = file };
  int r;

  /* NUL padding after the document (tar members, fixed fields). */
  while (len > 0 && buf[len - 1] == '\0')
    len--;
  if ((ps.xp = XML_ParserCreate (NULL)) == NULL) {
    xd_error ("%s: XML_ParserCreate: out of memory", file);
    errno = EIO;
    return NULL;
  }
  XML_SetUserData (ps.xp, &ps);
  XML_SetElementHandler (ps.xp, on_start, on_end);
  XML_SetCharacterDataHandler (ps.xp, on_text);
  XML_SetStartDoctypeDeclHandler (ps.xp, on_doctype);
  r = feed (&ps, buf, len);
  XML_ParserFree (ps.xp);
  free (ps.pending);
  if (r == -1) {
    xd_xml_free (ps.root);
    errno = EIO;
    return NULL;
  }
  return ps.root;
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
