/* xdisk: a user's own OVF as the descriptor of an OVA being created
 * (create-ovf=FILE; see xd-ovf-write.h).
 *
 * The template is kept byte for byte except for the References element
 * and the DiskSection's Disk elements, which are rewritten for the
 * disks xdisk writes (with the namespace prefixes the template uses
 * for them).  expat reads it with namespace processing, so that the
 * envelope's version is told by its namespace URI whatever the prefix
 * (../shared/docs/appliance-targets.md §2.1: envelope/2 is refused),
 * and reports the byte offsets of the elements to replace.
 *
 * The template is untrusted input: its size is bounded
 * (XD_OVF_MAX_SIZE), and so are the nesting depth and the number of
 * elements; a DOCTYPE is refused, so that no entity can be declared or
 * expand; only UTF-8 (or ASCII) is taken, so that the bytes spliced in
 * are in the document's encoding.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "appliance/ova.h"
#include "appliance/xd-ovf-write.h"
#include "archive/xd-xml.h"
#include "archive/xd-xml-write.h"
#include "include/xd-report.h"
#include "include/xd-vector.h"

#ifdef XML_UNICODE
#error "xdisk needs expat built with UTF-8 XML_Char"
#endif

#define NS_OVF1 "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_OVF2 "http://schemas.dmtf.org/ovf/envelope/2"

/* expat joins a name's namespace URI, local name and prefix with this
 * (XML_ParserCreateNS, XML_SetReturnNSTriplet); it cannot occur in
 * a name, and a URI with it would not match the ones looked for.
 */
#define NS_SEP '\n'

/* Longest HostResource text kept ("ovf:/disk/" and an id). */
#define MAX_HOST_RESOURCE 1024

/* Bytes [start, end) of the template. */
struct span {
  size_t start, end;
};

/* How an element xdisk writes is spelled: its element prefix, the
 * namespace declarations it carried (kept), the prefix of its ovf:
 * attributes, and a declaration of that prefix when none is in scope.
 */
struct spelling {
  char *prefix;                 /* "ovf:" or "" */
  char *decls;                  /* ' xmlns:a="..."' ..., or "" */
  char *attr_prefix;            /* "ovf:" */
  char *attr_decl;              /* ' xmlns:ovf="..."', or "" */
};

struct tdisk {
  struct span span;             /* the whole Disk element */
  struct spelling sp;
  char *disk_id;
  uint64_t capacity;            /* bytes, 0 if none given */
};

struct xd_ovf_template {
  char *file;
  char *buf;                    /* a copy of the template */
  size_t len;
  bool has_refs;
  struct span refs;             /* References, if has_refs */
  size_t refs_at;               /* else where one goes: after the
                                 * Envelope's start tag */
  struct spelling refs_sp;      /* of References (and its Files) */
  char *indent;                 /* blanks before References on its line */
  struct tdisk *disks;
  size_t nr_disks, disks_cap;
};

/* A namespace-qualified name as expat reports it. */
struct qname {
  const char *uri, *local, *prefix;
  size_t uri_len, local_len, prefix_len;
};

/* A namespace declaration in scope. */
struct binding {
  char *prefix;                 /* NULL: the default namespace */
  char *uri;
  unsigned depth;               /* of the element declaring it */
};

struct parse {
  XML_Parser xp;
  struct binding *bindings;
  size_t nr_bindings, bindings_cap;
  struct xd_ovf_template *t;
  const char *file;
  bool failed;
  unsigned depth;
  size_t nodes;
  bool root_seen;
  bool envelope2;               /* the root is an OVF 2 Envelope */
  unsigned virtual_systems, disk_sections, references;
  unsigned in_disk_section;     /* depth of the DiskSection, or 0 */
  unsigned in_refs;             /* depth of References, or 0 */
  size_t refs_tag_end;
  struct tdisk *open_disk;      /* a Disk whose end is awaited */
  size_t disk_tag_end;
  /* HostResource texts, and the one being read. */
  char **hosts;
  size_t nr_hosts, hosts_cap;
  bool in_host;
  char host[MAX_HOST_RESOURCE + 1];
  size_t host_len;
};

/* ---- expat callbacks ---- */

static void
fail (struct parse *ps, const char *what)
{
  if (ps->failed)
    return;
  ps->failed = true;
  xd_error ("%s: create-ovf: XML line %zu: %s", ps->file,
            (size_t) XML_GetCurrentLineNumber (ps->xp), what);
  XML_StopParser (ps->xp, XML_FALSE);
}

static void
fail_nomem (struct parse *ps)
{
  if (ps->failed)
    return;
  ps->failed = true;
  xd_error ("%s: create-ovf: out of memory", ps->file);
  XML_StopParser (ps->xp, XML_FALSE);
}

static void
split_name (const char *s, struct qname *q)
{
  const char *a = strchr (s, NS_SEP), *b;

  memset (q, 0, sizeof *q);
  if (a == NULL) {              /* no namespace */
    q->local = s;
    q->local_len = strlen (s);
    return;
  }
  q->uri = s;
  q->uri_len = (size_t) (a - s);
  q->local = a + 1;
  b = strchr (q->local, NS_SEP);
  if (b == NULL) {              /* the default namespace, no prefix */
    q->local_len = strlen (q->local);
    return;
  }
  q->local_len = (size_t) (b - q->local);
  q->prefix = b + 1;
  q->prefix_len = strlen (q->prefix);
}

static bool
eq (const char *s, size_t len, const char *word)
{
  return s && strlen (word) == len && memcmp (s, word, len) == 0;
}

/* An element or attribute of the OVF 1.x namespace called LOCAL. */
static bool
is_ovf (const struct qname *q, const char *local)
{
  return eq (q->uri, q->uri_len, NS_OVF1) &&
         eq (q->local, q->local_len, local);
}

/* "ovf:" for a prefixed name, "" for the default namespace. */
static char *
prefix_of (const struct qname *q)
{
  char *p;

  if (q->prefix == NULL)
    return strdup ("");
  p = malloc (q->prefix_len + 2);
  if (p) {
    memcpy (p, q->prefix, q->prefix_len);
    p[q->prefix_len] = ':';
    p[q->prefix_len + 1] = '\0';
  }
  return p;
}

/* An OVF attribute LOCAL of ATTS, prefixed (ovf:diskId) or not (the
 * readers of §2.3 strip prefixes, so users write both).
 */
static const char *
ovf_attr (const char **atts, const char *local)
{
  struct qname q;

  for (; atts[0]; atts += 2) {
    split_name (atts[0], &q);
    if ((q.uri == NULL || eq (q.uri, q.uri_len, NS_OVF1)) &&
        eq (q.local, q.local_len, local))
      return atts[1];
  }
  return NULL;
}

static void XMLCALL
on_ns_decl (void *data, const XML_Char *prefix, const XML_Char *uri)
{
  struct parse *ps = data;
  struct binding *b;

  if (ps->failed)
    return;
  if (XD_RESERVE (ps->bindings, ps->nr_bindings, ps->bindings_cap, 1) == -1) {
    fail_nomem (ps);
    return;
  }
  b = &ps->bindings[ps->nr_bindings];
  /* Declarations come before the start of the element carrying them. */
  b->depth = ps->depth + 1;
  b->prefix = prefix ? strdup (prefix) : NULL;
  b->uri = strdup (uri ? uri : "");
  if ((prefix && b->prefix == NULL) || b->uri == NULL) {
    free (b->prefix);
    free (b->uri);
    fail_nomem (ps);
    return;
  }
  ps->nr_bindings++;
}

/* The declarations of the elements ending at DEPTH go out of scope. */
static void
end_bindings (struct parse *ps, unsigned depth)
{
  while (ps->nr_bindings > 0 &&
         ps->bindings[ps->nr_bindings - 1].depth >= depth) {
    ps->nr_bindings--;
    free (ps->bindings[ps->nr_bindings].prefix);
    free (ps->bindings[ps->nr_bindings].uri);
  }
}

static bool
same_prefix (const char *a, const char *b)
{
  return a == b || (a && b && strcmp (a, b) == 0);
}

/* Whether binding I is the one in scope for its prefix. */
static bool
in_scope (const struct parse *ps, size_t i)
{
  size_t j;

  for (j = i + 1; j < ps->nr_bindings; j++)
    if (same_prefix (ps->bindings[j].prefix, ps->bindings[i].prefix))
      return false;
  return true;
}

/* A prefix bound to the OVF namespace here, or NULL. */
static const char *
ovf_prefix_in_scope (const struct parse *ps)
{
  size_t i;

  for (i = ps->nr_bindings; i > 0; i--) {
    const struct binding *b = &ps->bindings[i - 1];
    if (b->prefix && strcmp (b->uri, NS_OVF1) == 0 && in_scope (ps, i - 1))
      return b->prefix;
  }
  return NULL;
}

/* Whether the element at DEPTH itself declares PREFIX. */
static bool
declares (const struct parse *ps, unsigned depth, const char *prefix)
{
  size_t i;

  for (i = 0; i < ps->nr_bindings; i++)
    if (ps->bindings[i].depth == depth &&
        same_prefix (ps->bindings[i].prefix, prefix))
      return true;
  return false;
}

/* ' xmlns:p="uri"' for each declaration the element at DEPTH carries. */
static char *
own_decls (const struct parse *ps, unsigned depth)
{
  char *out = NULL;
  size_t len = 0, i;
  FILE *fp = open_memstream (&out, &len);

  if (fp == NULL)
    return NULL;
  for (i = 0; i < ps->nr_bindings; i++) {
    const struct binding *b = &ps->bindings[i];
    if (b->depth != depth)
      continue;
    fprintf (fp, " xmlns%s%s=\"", b->prefix ? ":" : "",
             b->prefix ? b->prefix : "");
    xd_xml_put_escaped (fp, b->uri);
    fputc ('"', fp);
  }
  if (xd_ovf_close_output (fp, &out, &len) == -1)
    return NULL;
  return out;
}

/* How an element at DEPTH whose own prefix is Q's (Q NULL: the
 * Envelope's children, written fresh: no declarations of its own) is
 * rewritten.  Its ovf: attributes take a prefix bound to the OVF
 * namespace there, or one declared on it: "ovf", or "ovf0", "ovf1"...
 * if the element already declares that name otherwise.
 */
static int
spell (struct parse *ps, const struct qname *q, unsigned depth,
       struct spelling *sp)
{
  const char *ap = ovf_prefix_in_scope (ps);
  char name[32] = "ovf";
  unsigned k;

  sp->prefix = q ? prefix_of (q) : NULL;
  sp->decls = q ? own_decls (ps, depth) : strdup ("");
  if (ap) {
    sp->attr_decl = strdup ("");
    if (asprintf (&sp->attr_prefix, "%s:", ap) == -1)
      sp->attr_prefix = NULL;
  }
  else {
    for (k = 0; q && declares (ps, depth, name); k++)
      snprintf (name, sizeof name, "ovf%u", k);
    if (asprintf (&sp->attr_prefix, "%s:", name) == -1)
      sp->attr_prefix = NULL;
    if (asprintf (&sp->attr_decl, " xmlns:%s=\"" NS_OVF1 "\"", name) == -1)
      sp->attr_decl = NULL;
  }
  if ((q && sp->prefix == NULL) || sp->decls == NULL ||
      sp->attr_prefix == NULL || sp->attr_decl == NULL) {
    fail_nomem (ps);
    return -1;
  }
  return 0;
}

static void
free_spelling (struct spelling *sp)
{
  free (sp->prefix);
  free (sp->decls);
  free (sp->attr_prefix);
  free (sp->attr_decl);
  memset (sp, 0, sizeof *sp);
}

static void
start_root (struct parse *ps, const struct qname *q)
{
  ps->root_seen = true;
  if (eq (q->uri, q->uri_len, NS_OVF2) &&
      eq (q->local, q->local_len, "Envelope")) {
    ps->envelope2 = true;
    fail (ps, "an OVF 2.0 Envelope (namespace " NS_OVF2 "): write OVF 1.x "
          "(" NS_OVF1 "): Proxmox and virt-v2v read only that "
          "(appliance-targets.md §2.1)");
    return;
  }
  if (!is_ovf (q, "Envelope"))
    fail (ps, "the root element is not an OVF 1.x Envelope (namespace "
          NS_OVF1 ")");
  ps->t->refs_at = (size_t) XML_GetCurrentByteIndex (ps->xp) +
                   (size_t) XML_GetCurrentByteCount (ps->xp);
  /* A References xdisk adds: the Envelope's element prefix. */
  if (spell (ps, NULL, 2, &ps->t->refs_sp) == 0) {
    free (ps->t->refs_sp.prefix);
    ps->t->refs_sp.prefix = prefix_of (q);
    if (ps->t->refs_sp.prefix == NULL)
      fail_nomem (ps);
  }
}

static void
start_references (struct parse *ps, const struct qname *q)
{
  struct xd_ovf_template *t = ps->t;
  size_t at = (size_t) XML_GetCurrentByteIndex (ps->xp);
  size_t col = at;

  if (++ps->references > 1) {
    fail (ps, "more than one References element");
    return;
  }
  t->has_refs = true;
  t->refs.start = at;
  ps->refs_tag_end = at + (size_t) XML_GetCurrentByteCount (ps->xp);
  ps->in_refs = ps->depth;
  while (col > 0 && (t->buf[col - 1] == ' ' || t->buf[col - 1] == '\t'))
    col--;
  free_spelling (&t->refs_sp);
  if (spell (ps, q, ps->depth, &t->refs_sp) == -1)
    return;
  t->indent = strndup (t->buf + col, at - col);
  if (t->indent == NULL)
    fail_nomem (ps);
}

static void
start_disk (struct parse *ps, const struct qname *q, const char **atts)
{
  struct xd_ovf_template *t = ps->t;
  const char *id = ovf_attr (atts, "diskId");
  const char *cap = ovf_attr (atts, "capacity");
  const char *units = ovf_attr (atts, "capacityAllocationUnits");
  struct tdisk *d;
  size_t i;

  if (id == NULL || *id == '\0') {
    fail (ps, "a Disk has no ovf:diskId");
    return;
  }
  for (i = 0; i < t->nr_disks; i++)
    if (strcmp (t->disks[i].disk_id, id) == 0) {
      fail (ps, "two Disks have the same ovf:diskId");
      return;
    }
  if (XD_RESERVE (t->disks, t->nr_disks, t->disks_cap, 1) == -1) {
    fail_nomem (ps);
    return;
  }
  d = &t->disks[t->nr_disks++];
  memset (d, 0, sizeof *d);
  d->span.start = (size_t) XML_GetCurrentByteIndex (ps->xp);
  ps->disk_tag_end = d->span.start +
                     (size_t) XML_GetCurrentByteCount (ps->xp);
  if (spell (ps, q, ps->depth, &d->sp) == -1)
    return;
  d->disk_id = strdup (id);
  if (d->disk_id == NULL) {
    fail_nomem (ps);
    return;
  }
  /* A capacity xdisk cannot read (an ovftool ${property}, say) is
   * none: create-size= must give the size then.
   */
  if (cap && xd_ovf_capacity (cap, units, &d->capacity) == -1) {
    xd_debug ("%s: create-ovf: disk \"%s\": ovf:capacity \"%s\" (units "
              "\"%s\") not understood: create-size= gives its size",
              ps->file, id, cap, units ? units : "");
    d->capacity = 0;
  }
  ps->open_disk = d;
}

/* An element in the OVF namespace at DEPTH (the Envelope is 1). */
static void
start_ovf_element (struct parse *ps, const struct qname *q,
                   const char **atts)
{
  if (is_ovf (q, "VirtualSystem"))
    ps->virtual_systems++;
  else if (ps->depth == 2 && is_ovf (q, "References"))
    start_references (ps, q);
  else if (ps->depth == 2 && is_ovf (q, "DiskSection")) {
    if (++ps->disk_sections > 1)
      fail (ps, "more than one DiskSection");
    ps->in_disk_section = ps->depth;
  }
  else if (ps->in_disk_section && ps->depth == ps->in_disk_section + 1 &&
           is_ovf (q, "Disk"))
    start_disk (ps, q, atts);
}

static void XMLCALL
on_start (void *data, const XML_Char *name, const XML_Char **atts)
{
  struct parse *ps = data;
  struct qname q;

  if (ps->failed)
    return;
  if (++ps->depth > XD_XML_MAX_DEPTH) {
    fail (ps, "elements nested too deeply");
    return;
  }
  if (++ps->nodes > XD_XML_MAX_NODES) {
    fail (ps, "too many elements");
    return;
  }
  split_name (name, &q);
  /* What is inside References or a Disk is replaced, so it counts for
   * nothing.  HostResource is RASD's, but any namespace will do: the
   * readers of §2.3 strip prefixes.
   */
  if (ps->in_refs || ps->open_disk)
    return;
  if (ps->depth == 1)
    start_root (ps, &q);
  else if (eq (q.local, q.local_len, "HostResource")) {
    ps->in_host = true;
    ps->host_len = 0;
  }
  else if (eq (q.uri, q.uri_len, NS_OVF1))
    start_ovf_element (ps, &q, atts);
}

static void
end_host (struct parse *ps)
{
  char *s;

  ps->in_host = false;
  if (ps->host_len > MAX_HOST_RESOURCE)
    return;                     /* names no disk of ours */
  s = strndup (ps->host, ps->host_len);
  if (s == NULL ||
      XD_RESERVE (ps->hosts, ps->nr_hosts, ps->hosts_cap, 1) == -1) {
    free (s);
    fail_nomem (ps);
    return;
  }
  ps->hosts[ps->nr_hosts++] = s;
}

/* Where the element ending now ends: after its end tag, or after its
 * start tag TAG_END for an empty element (<Disk .../>, whose end
 * event has no bytes of its own).
 */
static size_t
element_end (struct parse *ps, size_t tag_end)
{
  size_t count = (size_t) XML_GetCurrentByteCount (ps->xp);

  if (count == 0)
    return tag_end;
  return (size_t) XML_GetCurrentByteIndex (ps->xp) + count;
}

static void XMLCALL
on_end (void *data, const XML_Char *name)
{
  struct parse *ps = data;

  (void) name;
  if (ps->failed)
    return;
  if (ps->in_host)
    end_host (ps);
  if (ps->open_disk && ps->depth == ps->in_disk_section + 1) {
    ps->open_disk->span.end = element_end (ps, ps->disk_tag_end);
    ps->open_disk = NULL;
  }
  if (ps->in_refs == ps->depth) {
    ps->t->refs.end = element_end (ps, ps->refs_tag_end);
    ps->in_refs = 0;
  }
  if (ps->in_disk_section == ps->depth)
    ps->in_disk_section = 0;
  end_bindings (ps, ps->depth);
  ps->depth--;
}

static void XMLCALL
on_text (void *data, const XML_Char *s, int len)
{
  struct parse *ps = data;
  size_t n = (size_t) len;

  if (ps->failed || !ps->in_host)
    return;
  if (ps->host_len + n > MAX_HOST_RESOURCE) {
    ps->host_len = MAX_HOST_RESOURCE + 1;       /* too long: ignored */
    return;
  }
  memcpy (ps->host + ps->host_len, s, n);
  ps->host_len += n;
}

static void XMLCALL
on_doctype (void *data, const XML_Char *name, const XML_Char *sysid,
            const XML_Char *pubid, int has_internal_subset)
{
  (void) name; (void) sysid; (void) pubid; (void) has_internal_subset;
  fail (data, "a DOCTYPE is refused (no entity may be declared)");
}

static void XMLCALL
on_xml_decl (void *data, const XML_Char *version, const XML_Char *encoding,
             int standalone)
{
  (void) version; (void) standalone;
  if (encoding && strcasecmp (encoding, "UTF-8") != 0 &&
      strcasecmp (encoding, "US-ASCII") != 0)
    fail (data, "only a UTF-8 template can be completed (the XML "
          "declaration names another encoding)");
}

/* ---- checks on the whole document ---- */

static bool
trim_eq (const char *s, const char *prefix, const char *id)
{
  size_t len, plen = strlen (prefix), idlen = strlen (id);

  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
    s++;
  len = strlen (s);
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                     s[len - 1] == '\r' || s[len - 1] == '\n'))
    len--;
  return len == plen + idlen && memcmp (s, prefix, plen) == 0 &&
         memcmp (s + plen, id, idlen) == 0;
}

/* Whether a HostResource names disk ID, in the forms §2.2 lists. */
static bool
disk_named (const struct parse *ps, const char *id)
{
  size_t i;

  for (i = 0; i < ps->nr_hosts; i++)
    if (trim_eq (ps->hosts[i], "ovf:/disk/", id) ||
        trim_eq (ps->hosts[i], "/disk/", id) ||
        trim_eq (ps->hosts[i], "ovf://disk/", id))
      return true;
  return false;
}

/* A HostResource naming a File (an ISO): the rewritten References
 * hold the disks only, so it would name nothing.
 */
static const char *
file_named (const struct parse *ps)
{
  size_t i;

  for (i = 0; i < ps->nr_hosts; i++)
    if (strstr (ps->hosts[i], "/file/"))
      return ps->hosts[i];
  return NULL;
}

static int
refuse (const char *file, const char *what)
{
  xd_error ("%s: create-ovf: cannot complete this OVF: %s", file, what);
  errno = EINVAL;
  return -1;
}

static int
check_document (struct parse *ps)
{
  struct xd_ovf_template *t = ps->t;
  size_t i;
  const char *f;

  if (ps->virtual_systems == 0)
    return refuse (ps->file, "it has no VirtualSystem");
  if (ps->virtual_systems > 1)
    return refuse (ps->file, "it has several VirtualSystems (an OVA "
                   "xdisk creates holds one machine)");
  if (ps->disk_sections == 0)
    return refuse (ps->file, "it has no DiskSection");
  if (t->nr_disks == 0)
    return refuse (ps->file, "its DiskSection declares no Disk");
  for (i = 0; i < t->nr_disks; i++)
    if (!disk_named (ps, t->disks[i].disk_id)) {
      xd_error ("%s: create-ovf: cannot complete this OVF: no Item's "
                "HostResource names Disk \"%s\" (ovf:/disk/%s)", ps->file,
                t->disks[i].disk_id, t->disks[i].disk_id);
      errno = EINVAL;
      return -1;
    }
  if ((f = file_named (ps)) != NULL) {
    xd_error ("%s: create-ovf: cannot complete this OVF: HostResource "
              "\"%s\" names a File, but the OVA holds only the disks "
              "xdisk writes", ps->file, f);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* expat in namespace mode, returning prefixes, with our handlers. */
static XML_Parser
make_parser (struct parse *ps)
{
  XML_Parser xp = XML_ParserCreateNS (NULL, NS_SEP);

  if (xp == NULL)
    return NULL;
  XML_SetReturnNSTriplet (xp, XML_TRUE);
  XML_SetUserData (xp, ps);
  XML_SetElementHandler (xp, on_start, on_end);
  XML_SetCharacterDataHandler (xp, on_text);
  XML_SetStartNamespaceDeclHandler (xp, on_ns_decl);
  XML_SetStartDoctypeDeclHandler (xp, on_doctype);
  XML_SetXmlDeclHandler (xp, on_xml_decl);
  XML_SetParamEntityParsing (xp, XML_PARAM_ENTITY_PARSING_NEVER);
  return xp;
}

static int
run_parser (struct parse *ps, const char *buf, size_t len)
{
  if (XML_Parse (ps->xp, buf, (int) len, XML_TRUE) == XML_STATUS_ERROR &&
      !ps->failed) {
    xd_error ("%s: create-ovf: XML line %zu: %s", ps->file,
              (size_t) XML_GetCurrentLineNumber (ps->xp),
              XML_ErrorString (XML_GetErrorCode (ps->xp)));
    ps->failed = true;
  }
  if (ps->failed) {
    errno = EINVAL;
    return -1;
  }
  return check_document (ps);
}

static void
free_parse (struct parse *ps)
{
  size_t i;

  for (i = 0; i < ps->nr_hosts; i++)
    free (ps->hosts[i]);
  free (ps->hosts);
  end_bindings (ps, 0);
  free (ps->bindings);
  if (ps->xp)
    XML_ParserFree (ps->xp);
}

struct xd_ovf_template *
xd_ovf_template_parse (const char *buf, size_t len, const char *file)
{
  struct xd_ovf_template *t = NULL;
  struct parse ps = { .file = file };

  if (len > XD_OVF_MAX_SIZE) {
    xd_error ("%s: create-ovf: %zu bytes, more than the %" PRIu64 " an OVF "
              "descriptor may have", file, len, XD_OVF_MAX_SIZE);
    errno = EFBIG;
    return NULL;
  }
  /* UTF-16 and UTF-32 have NULs in any OVF's ASCII names. */
  if (memchr (buf, '\0', len)) {
    refuse (file, "it is not UTF-8 text (it holds a NUL byte)");
    return NULL;
  }
  t = calloc (1, sizeof *t);
  if (t == NULL || (t->file = strdup (file)) == NULL ||
      (t->buf = malloc (len + 1)) == NULL) {
    xd_error ("%s: create-ovf: out of memory", file);
    goto fail;
  }
  memcpy (t->buf, buf, len);
  t->buf[len] = '\0';
  t->len = len;
  ps.t = t;
  ps.xp = make_parser (&ps);
  if (ps.xp == NULL) {
    xd_error ("%s: create-ovf: XML_ParserCreateNS: out of memory", file);
    goto fail;
  }
  if (run_parser (&ps, t->buf, len) == -1)
    goto fail;
  free_parse (&ps);
  return t;

 fail:
  {
    int saved = errno;
    free_parse (&ps);
    xd_ovf_template_free (t);
    errno = saved;
  }
  return NULL;
}

void
xd_ovf_template_free (struct xd_ovf_template *t)
{
  size_t i;

  if (t == NULL)
    return;
  for (i = 0; i < t->nr_disks; i++) {
    free_spelling (&t->disks[i].sp);
    free (t->disks[i].disk_id);
  }
  free (t->disks);
  free (t->file);
  free (t->buf);
  free_spelling (&t->refs_sp);
  free (t->indent);
  free (t);
}

size_t
xd_ovf_template_disks (const struct xd_ovf_template *t)
{
  return t->nr_disks;
}

uint64_t
xd_ovf_template_capacity (const struct xd_ovf_template *t, size_t i)
{
  return i < t->nr_disks ? t->disks[i].capacity : 0;
}

/* ---- rendering ---- */

static void
put_references (FILE *fp, const struct xd_ovf_template *t,
                const struct xd_ovf_disk_out *disks, size_t nr)
{
  const struct spelling *sp = &t->refs_sp;
  const char *indent = t->indent ? t->indent : "  ";
  char id[32];
  size_t i;

  if (!t->has_refs)             /* a new one after the Envelope's tag */
    fprintf (fp, "\n%s", indent);
  fprintf (fp, "<%sReferences%s%s>", sp->prefix, sp->decls, sp->attr_decl);
  for (i = 0; i < nr; i++) {
    snprintf (id, sizeof id, "file%zu", i + 1);
    fprintf (fp, "\n%s  ", indent);
    xd_ovf_put_file (fp, sp->prefix, sp->attr_prefix, id, &disks[i]);
  }
  fprintf (fp, "\n%s</%sReferences>", indent, sp->prefix);
}

static void
put_disk (FILE *fp, const struct xd_ovf_template *t, size_t i,
          const struct xd_ovf_disk_out *d)
{
  const struct spelling *sp = &t->disks[i].sp;
  char id[32];

  snprintf (id, sizeof id, "file%zu", i + 1);
  fprintf (fp, "<%sDisk%s%s %sdiskId=\"", sp->prefix, sp->decls,
           sp->attr_decl, sp->attr_prefix);
  xd_xml_put_escaped (fp, t->disks[i].disk_id);
  fputc ('"', fp);
  xd_ovf_put_disk_attrs (fp, sp->attr_prefix, id, d);
  fputs ("/>", fp);
}

/* The pieces replaced, in document order: References (or where it
 * goes) and each Disk.  They never overlap: References and DiskSection
 * are both children of the Envelope.
 */
struct edit {
  struct span span;
  size_t disk;                  /* SIZE_MAX: References */
};

static int
cmp_edit (const void *a, const void *b)
{
  const struct edit *x = a, *y = b;

  return x->span.start < y->span.start ? -1 : x->span.start > y->span.start;
}

int
xd_ovf_template_render (const struct xd_ovf_template *t,
                        const struct xd_ovf_disk_out *disks, size_t nr,
                        char **out, size_t *len)
{
  struct edit *edits;
  size_t i, at = 0;
  FILE *fp;

  *out = NULL;
  *len = 0;
  if (nr != t->nr_disks) {
    xd_error ("%s: create-ovf: %zu disks given for a template of %zu",
              t->file, nr, t->nr_disks);
    errno = EINVAL;
    return -1;
  }
  edits = calloc (nr + 1, sizeof *edits);
  if (edits == NULL) {
    xd_error ("%s: create-ovf: calloc: %m", t->file);
    return -1;
  }
  edits[0].span = t->has_refs ? t->refs
                              : (struct span) { t->refs_at, t->refs_at };
  edits[0].disk = SIZE_MAX;
  for (i = 0; i < nr; i++) {
    edits[i + 1].span = t->disks[i].span;
    edits[i + 1].disk = i;
  }
  qsort (edits, nr + 1, sizeof *edits, cmp_edit);
  fp = open_memstream (out, len);
  if (fp == NULL) {
    xd_error ("%s: create-ovf: open_memstream: %m", t->file);
    free (edits);
    return -1;
  }
  for (i = 0; i <= nr; i++) {
    if (edits[i].span.start < at || edits[i].span.end < edits[i].span.start ||
        edits[i].span.end > t->len) {
      /* Cannot happen for a template that parsed: a bug here. */
      xd_error ("%s: create-ovf: internal error: overlapping edits", t->file);
      errno = EINVAL;
      break;
    }
    fwrite (t->buf + at, 1, edits[i].span.start - at, fp);
    if (edits[i].disk == SIZE_MAX)
      put_references (fp, t, disks, nr);
    else
      put_disk (fp, t, edits[i].disk, &disks[edits[i].disk]);
    at = edits[i].span.end;
  }
  free (edits);
  if (i <= nr) {
    fclose (fp);
    free (*out);
    *out = NULL;
    return -1;
  }
  fwrite (t->buf + at, 1, t->len - at, fp);
  return xd_ovf_close_output (fp, out, len);
}
