/* xdisk fuzz target: URLs and the names images hold resolved against
 * them (common/remote/url.c).
 *
 * The input is a URL, a newline, then a name (the bytes an image would
 * hold; a NUL ends it).  Oracles:
 * - a URL that parses is canonical: its wire form parses again to the
 *   same path and query, and its display form never shows a query
 *   value but dcPath's and dsName's;
 * - a name that resolves keeps the base's origin and query, yields a
 *   canonical path with no "." or ".." segment and no %-escape of '.'
 *   or '/', and a name holding ".." segments never lands outside "/";
 * - a name with a scheme prefix, a control byte or an encoded '.', '/',
 *   '\' or NUL is never resolved.
 */

#include <config.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "remote/xd-url.h"

static void
check_canonical (const struct xd_url *url)
{
  struct xd_url again;
  char *wire = xd_url_wire (url);

  if (wire == NULL)
    return;
  if (xd_url_parse (wire, &again) == -1)
    fz_fail ("the wire form \"%s\" does not parse", wire);
  if (strcmp (again.path, url->path) != 0)
    fz_fail ("path \"%s\" is not canonical: \"%s\"", url->path, again.path);
  if ((again.query == NULL) != (url->query == NULL) ||
      (url->query && strcmp (again.query, url->query) != 0))
    fz_fail ("the query changed through the wire form");
  xd_url_free (&again);
  free (wire);
}

/* Every "k=v" of the display's query is dcPath, dsName or "...". */
static void
check_display (const struct xd_url *url)
{
  char *shown = xd_url_display (url), *q = strchr (shown, '?'), *save, *kv;

  for (kv = q ? strtok_r (q + 1, "&", &save) : NULL; kv;
       kv = strtok_r (NULL, "&", &save)) {
    const char *eq = strchr (kv, '=');
    if (eq && strncmp (kv, "dcPath=", 7) != 0 &&
        strncmp (kv, "dsName=", 7) != 0 && strcmp (eq, "=...") != 0)
      fz_fail ("the display shows the query value \"%s\"", kv);
  }
  free (shown);
}

static bool
has_dot_segment (const char *path)
{
  const char *p = path;

  while ((p = strchr (p, '/')) != NULL) {
    p++;
    if ((p[0] == '.' && (p[1] == '/' || p[1] == '\0')) ||
        (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')))
      return true;
  }
  return false;
}

/* A name the resolver must refuse whatever the base. */
static bool
must_refuse (const char *name)
{
  const char *p;
  size_t len = 0;

  for (p = name; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      return true;
  while (isalnum ((unsigned char) name[len]) || name[len] == '+' ||
         name[len] == '-' || name[len] == '.')
    len++;
  if (isalpha ((unsigned char) name[0]) && name[len] == ':' && len >= 2)
    return true;
  return strcasestr (name, "%2e") || strcasestr (name, "%2f") ||
    strcasestr (name, "%5c") || strstr (name, "%00");
}

static void
check_resolve (const struct xd_url *base, const char *name)
{
  struct xd_url out;
  const char *why = NULL;

  if (xd_url_resolve (base, name, &out, &why) == -1) {
    if (why == NULL)
      fz_fail ("a refusal with no reason");
    return;
  }
  if (must_refuse (name))
    fz_fail ("\"%s\" was resolved", name);
  if (!xd_url_same_origin (base, &out))
    fz_fail ("\"%s\" changed the origin", name);
  if ((base->query == NULL) != (out.query == NULL) ||
      (base->query && strcmp (base->query, out.query) != 0))
    fz_fail ("\"%s\" changed the query", name);
  if (out.path[0] != '/' || has_dot_segment (out.path) ||
      strcasestr (out.path, "%2e") || strstr (out.path, "//"))
    fz_fail ("\"%s\" resolved to the path \"%s\"", name, out.path);
  check_canonical (&out);
  xd_url_free (&out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nl = memchr (data, '\n', size);
  size_t url_len = nl ? (size_t) (nl - data) : size;
  char *text = strndup ((const char *) data, url_len);
  char *name = nl ? strndup ((const char *) nl + 1,
                             size - url_len - 1) : NULL;
  struct xd_url url;
  unsigned long before;
  int r;

  if (text == NULL || (nl && name == NULL))
    abort ();
  fz_init ();
  before = fz_begin ();
  r = xd_url_parse (text, &url);
  fz_check_failure (r, before, "xd_url_parse");
  if (r == 0) {
    check_canonical (&url);
    check_display (&url);
    if (name)
      check_resolve (&url, name);
    xd_url_free (&url);
  }
  free (text);
  free (name);
  return 0;
}
