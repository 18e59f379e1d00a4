/* xdisk: the VMDK text descriptor parser.
 *
 * A descriptor is lines of "key = value" pairs, extent lines
 * ("RW 2048 FLAT "name" 0") and comments.  Everything is untrusted:
 * lines are bounded by the text given, numbers are range checked and
 * any line that is neither a pair, an extent nor a comment is refused
 * with its line number.
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmdk/vmdk.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"

const char *
vmdk_kind_name (enum vmdk_kind kind)
{
  switch (kind) {
  case VMDK_FLAT: return "FLAT";
  case VMDK_SPARSE: return "SPARSE";
  case VMDK_ZERO: return "ZERO";
  case VMDK_VMFSSPARSE: return "VMFSSPARSE";
  case VMDK_SESPARSE: return "SESPARSE";
  }
  return "?";
}

const char *
vmdk_access_name (enum vmdk_access access)
{
  switch (access) {
  case VMDK_RW: return "RW";
  case VMDK_RDONLY: return "RDONLY";
  case VMDK_NOACCESS: return "NOACCESS";
  }
  return "?";
}

void
vmdk_descriptor_free (struct vmdk_descriptor *desc)
{
  size_t i;

  for (i = 0; i < desc->nr_extents; ++i)
    free (desc->extents[i].filename);
  free (desc->extents);
  free (desc->create_type);
  free (desc->parent_hint);
  free (desc->adapter);
  memset (desc, 0, sizeof *desc);
}

static const char *
skip_space (const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}

/* Read one word or "quoted string" at *P into a malloc'd string. */
static char *
take_token (const char **p, const char *end)
{
  const char *s = skip_space (*p, end), *e;
  char *r;

  if (s >= end)
    return NULL;
  if (*s == '"') {
    s++;
    e = memchr (s, '"', end - s);
    if (e == NULL)
      return NULL;
    *p = e + 1;
  }
  else {
    e = s;
    while (e < end && *e != ' ' && *e != '\t')
      e++;
    *p = e;
  }
  r = strndup (s, e - s);
  return r;
}

static int
parse_u64 (const char *s, int base, uint64_t *r)
{
  char *end;
  unsigned long long v;

  if (*s == '\0' || *s == '-' || *s == '+' || isspace ((unsigned char) *s))
    return -1;
  errno = 0;
  v = strtoull (s, &end, base);
  if (errno != 0 || *end != '\0')
    return -1;
  *r = v;
  return 0;
}

static int
parse_kind (const char *s, enum vmdk_kind *kind)
{
  if (strcmp (s, "FLAT") == 0 || strcmp (s, "VMFS") == 0 ||
      strcmp (s, "VMFSRDM") == 0 || strcmp (s, "VMFSRAW") == 0)
    *kind = VMDK_FLAT;
  else if (strcmp (s, "SPARSE") == 0)
    *kind = VMDK_SPARSE;
  else if (strcmp (s, "ZERO") == 0)
    *kind = VMDK_ZERO;
  else if (strcmp (s, "VMFSSPARSE") == 0)
    *kind = VMDK_VMFSSPARSE;
  else if (strcmp (s, "SESPARSE") == 0)
    *kind = VMDK_SESPARSE;
  else
    return -1;
  return 0;
}

#define desc_error(fmt, ...)                                            \
  do {                                                                  \
    xd_error ("%s: descriptor line %u: " fmt, name, lineno, ##__VA_ARGS__); \
    errno = EIO;                                                        \
    goto fail;                                                          \
  } while (0)

/* Parse an extent line (it starts with RW, RDONLY or NOACCESS). */
static int
parse_extent (const char *p, const char *end, const char *name,
              unsigned lineno, struct vmdk_desc_extent *ext)
{
  char *access = NULL, *sectors = NULL, *kind = NULL, *offset = NULL;
  int r;

  memset (ext, 0, sizeof *ext);
  ext->line = lineno;
  access = take_token (&p, end);
  sectors = take_token (&p, end);
  kind = take_token (&p, end);
  if (!access || !sectors || !kind)
    desc_error ("incomplete extent line");
  if (strcmp (access, "RW") == 0) ext->access = VMDK_RW;
  else if (strcmp (access, "RDONLY") == 0) ext->access = VMDK_RDONLY;
  else ext->access = VMDK_NOACCESS;
  if (parse_u64 (sectors, 10, &ext->sectors) == -1)
    desc_error ("extent size \"%s\" is not a number", sectors);
  if (ext->sectors == 0)
    desc_error ("extent has 0 sectors");
  if (ext->sectors > UINT64_MAX / VMDK_SECTOR)
    desc_error ("extent size %" PRIu64 " sectors overflows", ext->sectors);
  r = parse_kind (kind, &ext->kind);
  if (r == -1)
    desc_error ("unknown extent type \"%s\"", kind);
  if (ext->kind != VMDK_ZERO) {
    p = skip_space (p, end);
    if (p >= end || *p != '"')
      desc_error ("extent file name missing or not quoted");
    ext->filename = take_token (&p, end);
    if (ext->filename == NULL)
      desc_error ("unterminated quoted extent file name");
    if (ext->filename[0] == '\0')
      desc_error ("empty extent file name");
    offset = take_token (&p, end);
    if (offset) {
      if (ext->kind != VMDK_FLAT)
        desc_error ("an offset is only allowed for flat extents");
      if (parse_u64 (offset, 10, &ext->offset) == -1)
        desc_error ("extent offset \"%s\" is not a number", offset);
      if (ext->offset > UINT64_MAX / VMDK_SECTOR ||
          ext->offset + ext->sectors < ext->offset ||
          ext->offset + ext->sectors > UINT64_MAX / VMDK_SECTOR)
        desc_error ("extent offset %" PRIu64 " overflows", ext->offset);
    }
  }
  p = skip_space (p, end);
  if (p < end)
    desc_error ("unexpected text after the extent");
  free (access); free (sectors); free (kind); free (offset);
  return 0;
 fail:
  free (access); free (sectors); free (kind); free (offset);
  free (ext->filename);
  ext->filename = NULL;
  return -1;
}

/* Store "key = value", VALUE unquoted. */
static int
set_pair (struct vmdk_descriptor *desc, const char *key, const char *value,
          const char *name, unsigned lineno)
{
  uint64_t v;

  if (strcmp (key, "version") == 0) {
    if (parse_u64 (value, 10, &v) == -1 || v < 1 || v > 3)
      desc_error ("unsupported version \"%s\"", value);
    desc->version = v;
  }
  else if (strcmp (key, "CID") == 0 || strcmp (key, "parentCID") == 0) {
    if (parse_u64 (value, 16, &v) == -1 || v > UINT32_MAX)
      desc_error ("%s \"%s\" is not a 32 bit hex number", key, value);
    if (key[0] == 'C')
      desc->cid = v;
    else {
      desc->parent_cid = v;
      desc->has_parent_cid = true;
    }
  }
  else if (strcmp (key, "createType") == 0) {
    free (desc->create_type);
    if ((desc->create_type = strdup (value)) == NULL) goto fail;
  }
  else if (strcmp (key, "parentFileNameHint") == 0) {
    free (desc->parent_hint);
    if ((desc->parent_hint = strdup (value)) == NULL) goto fail;
  }
  else if (strcmp (key, "ddb.adapterType") == 0) {
    free (desc->adapter);
    if ((desc->adapter = strdup (value)) == NULL) goto fail;
  }
  /* Everything else (ddb.geometry.*, encoding, ...) is informational. */
  return 0;
 fail:
  return -1;
}

static int
parse_pair (struct vmdk_descriptor *desc, const char *p, const char *end,
            const char *eq, const char *name, unsigned lineno)
{
  const char *ke = eq, *vs = skip_space (eq + 1, end), *ve = end;
  char *key = NULL, *value = NULL;
  int r;

  while (ke > p && (ke[-1] == ' ' || ke[-1] == '\t'))
    ke--;
  while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
    ve--;
  if (ke == p)
    desc_error ("missing key before '='");
  if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
    vs++;
    ve--;
  }
  key = strndup (p, ke - p);
  value = strndup (vs, ve - vs);
  if (!key || !value)
    goto fail;
  r = set_pair (desc, key, value, name, lineno);
  free (key);
  free (value);
  return r;
 fail:
  free (key);
  free (value);
  return -1;
}

static bool
is_extent_line (const char *p, const char *end)
{
  static const char *const words[] = { "RW ", "RDONLY ", "NOACCESS ",
                                       "RW\t", "RDONLY\t", "NOACCESS\t" };
  size_t i, n;

  for (i = 0; i < sizeof words / sizeof words[0]; ++i) {
    n = strlen (words[i]);
    if ((size_t) (end - p) >= n && memcmp (p, words[i], n) == 0)
      return true;
  }
  return false;
}

static int
add_extent (struct vmdk_descriptor *desc, const struct vmdk_desc_extent *ext)
{
  if (XD_RESERVE (desc->extents, desc->nr_extents, desc->extents_cap, 1)
      == -1)
    return -1;
  desc->extents[desc->nr_extents++] = *ext;
  return 0;
}

static int
parse_line (struct vmdk_descriptor *desc, const char *p, const char *end,
            const char *name, unsigned lineno)
{
  struct vmdk_desc_extent ext;
  const char *eq;

  p = skip_space (p, end);
  while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
    end--;
  if (p == end || *p == '#')
    return 0;
  if (is_extent_line (p, end)) {
    if (parse_extent (p, end, name, lineno, &ext) == -1)
      return -1;
    if (add_extent (desc, &ext) == -1) {
      free (ext.filename);
      return -1;
    }
    return 0;
  }
  eq = memchr (p, '=', end - p);
  if (eq == NULL)
    desc_error ("syntax error (neither \"key = value\" nor an extent)");
  return parse_pair (desc, p, end, eq, name, lineno);
 fail:
  return -1;
}

int
vmdk_parse_descriptor (const char *text, size_t len, const char *name,
                       struct vmdk_descriptor *desc)
{
  const char *p = text, *end, *nl;
  unsigned lineno = 0;
  size_t i;

  memset (desc, 0, sizeof *desc);
  desc->version = 1;
  desc->parent_cid = UINT32_MAX;
  end = memchr (text, '\0', len);
  if (end == NULL)
    end = text + len;
  if (end - text > VMDK_MAX_DESCRIPTOR) {
    xd_error ("%s: descriptor line 1: descriptor is %zu bytes, more than "
              "the limit of %d", name, (size_t) (end - text),
              VMDK_MAX_DESCRIPTOR);
    errno = EIO;
    return -1;
  }
  for (i = 0; i < (size_t) (end - text); ++i) {
    unsigned char c = text[i];
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
      lineno = 1;
      for (p = text; p < text + i; ++p)
        lineno += *p == '\n';
      xd_error ("%s: descriptor line %u: binary data (byte 0x%02x): not a "
                "VMDK descriptor", name, lineno, c);
      errno = EIO;
      return -1;
    }
  }
  for (p = text; p < end; p = nl + 1) {
    lineno++;
    nl = memchr (p, '\n', end - p);
    if (nl == NULL)
      nl = end;
    if (parse_line (desc, p, nl, name, lineno) == -1)
      goto fail;
    if (nl == end)
      break;
  }
  if (desc->nr_extents == 0) {
    xd_error ("%s: descriptor line %u: the descriptor has no extents "
              "(not a VMDK descriptor?)", name, lineno);
    errno = EIO;
    goto fail;
  }
  return 0;
 fail:
  if (errno == 0 || errno == ENOMEM)
    errno = errno ? errno : EIO;
  vmdk_descriptor_free (desc);
  return -1;
}
