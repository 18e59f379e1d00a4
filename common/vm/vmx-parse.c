/* xdisk: parsing VMware .vmx files and finding the VM's disks (see
 * vmx.h).
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vm/vmx.h"
#include "include/xd-report.h"
#include "include/xd-vector.h"

/* The buses whose devices may be disks, in the order disks are listed. */
static const char *const buses[] = { "scsi", "ide", "sata", "nvme" };
#define NR_BUSES (sizeof buses / sizeof buses[0])

static bool
is_blank (char c)
{
  return c == ' ' || c == '\t';
}

static int
hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char) tolower ((unsigned char) c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A decimal number of 1 to 3 digits at *P, no sign, no leading zero
 * (as VMware writes them: so that one device has one spelling, and
 * "scsi0:01" is no second scsi0:1): advances *P.
 */
static bool
parse_unit (const char **p, const char *end, unsigned *out)
{
  unsigned v = 0, digits = 0;

  if (end - *p >= 2 && (*p)[0] == '0' && (*p)[1] >= '0' && (*p)[1] <= '9')
    return false;
  while (*p < end && **p >= '0' && **p <= '9' && digits < 4) {
    v = v * 10 + (unsigned) (**p - '0');
    (*p)++;
    digits++;
  }
  if (digits == 0 || v > VMX_MAX_UNIT)
    return false;
  *out = v;
  return true;
}

/* Is KEY (LEN bytes) `<bus><N>:<M>` followed by SUFFIX (".fileName",
 * case-insensitive)?  Fills REF's key, bus, controller and unit.
 */
static bool
parse_device_key (const char *key, size_t len, const char *suffix,
                  struct vmx_disk_ref *ref)
{
  const char *end = key + len, *p;
  size_t b, blen, slen = strlen (suffix);

  for (b = 0; b < NR_BUSES; b++) {
    blen = strlen (buses[b]);
    if (len > blen && strncasecmp (key, buses[b], blen) == 0)
      break;
  }
  if (b == NR_BUSES)
    return false;
  p = key + blen;
  if (!parse_unit (&p, end, &ref->controller) || p == end || *p++ != ':' ||
      !parse_unit (&p, end, &ref->unit))
    return false;
  if ((size_t) (end - p) != slen || strncasecmp (p, suffix, slen) != 0)
    return false;
  ref->bus = (unsigned) b;
  snprintf (ref->key, sizeof ref->key, "%s%u:%u", buses[b],
            ref->controller, ref->unit);
  return true;
}

/* The key of the line at P (before '=', blanks trimmed): its length,
 * 0 if the line holds no '='.
 */
static size_t
line_key (const char *p, const char *end, const char **key)
{
  const char *eq, *k;

  while (p < end && is_blank (*p))
    p++;
  eq = memchr (p, '=', (size_t) (end - p));
  if (eq == NULL || *p == '#')
    return 0;
  for (k = eq; k > p && is_blank (k[-1]); k--)
    ;
  *key = p;
  return (size_t) (k - p);
}

static bool
is_key (const char *key, size_t len, const char *name)
{
  return len == strlen (name) && strncasecmp (key, name, len) == 0;
}

bool
vmx_looks_like (const uint8_t *head, size_t len)
{
  const char *p = (const char *) head, *end = p + len, *nl, *key;
  struct vmx_disk_ref ref;
  size_t klen;

  if (len == 0 || memchr (head, '\0', len) != NULL ||
      memmem (head, len, "createType", 10) != NULL ||
      memmem (head, len, "# Disk DescriptorFile", 21) != NULL)
    return false;
  for (; p < end; p = nl + 1) {
    nl = memchr (p, '\n', (size_t) (end - p));
    if (nl == NULL)
      nl = end;
    klen = line_key (p, nl, &key);
    if (klen && (is_key (key, klen, "config.version") ||
                 is_key (key, klen, "virtualHW.version") ||
                 parse_device_key (key, klen, ".fileName", &ref)))
      return true;
  }
  return false;
}

static int
bad_line (const char *file, size_t lineno, const char *why)
{
  xd_error ("%s: line %zu: %s", file, lineno, why);
  errno = EIO;
  return -1;
}

/* Decode the value between P and END (the quotes removed): |XX is the
 * byte XX.  malloc'd in *OUT; NULL message on success, else why not.
 */
static const char *
decode_value (const char *p, const char *end, char **out)
{
  char *v = malloc ((size_t) (end - p) + 1), *o = v;
  int hi, lo;

  if (v == NULL)
    return "out of memory";
  while (p < end) {
    if (*p != '|') {
      *o++ = *p++;
      continue;
    }
    if (end - p < 3 || (hi = hex_digit (p[1])) < 0 ||
        (lo = hex_digit (p[2])) < 0) {
      free (v);
      return "'|' not followed by two hex digits (VMware writes a '|' "
        "in a value as |7C)";
    }
    if (hi == 0 && lo == 0) {
      free (v);
      return "the value holds |00, a NUL byte";
    }
    *o++ = (char) (hi << 4 | lo);
    p += 3;
  }
  *o = '\0';
  *out = v;
  return NULL;
}

/* The value after '=' in P..END: quoted ("..." with nothing but blanks
 * or a comment after it) or, leniently, a bare word.
 */
static const char *
parse_value (const char *p, const char *end, char **out)
{
  const char *start, *stop, *q;

  while (p < end && is_blank (*p))
    p++;
  if (p < end && *p == '"') {
    start = ++p;
    stop = memchr (p, '"', (size_t) (end - p));
    if (stop == NULL)
      return "the value's closing quote is missing";
    for (q = stop + 1; q < end && is_blank (*q); q++)
      ;
    if (q < end && *q != '#')
      return "text after the value's closing quote";
  }
  else {
    start = p;
    for (stop = p; stop < end && !is_blank (*stop) && *stop != '#'; stop++)
      if (*stop == '"')
        return "a quote inside an unquoted value";
  }
  for (q = start; q < stop; q++)
    if ((unsigned char) *q < 0x20 && *q != '\t')
      return "a control character in the value";
  return decode_value (start, stop, out);
}

/* A key is printable ASCII without blanks or quotes. */
static bool
good_key (const char *key, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    if (key[i] <= ' ' || key[i] > '~' || key[i] == '"')
      return false;
  return len > 0;
}

static int
parse_line (const char *p, const char *end, const char *file,
            size_t lineno, struct vmx_config *cfg)
{
  struct vmx_entry e;
  const char *key, *why;
  size_t klen = line_key (p, end, &key);

  while (p < end && is_blank (*p))
    p++;
  if (p == end || *p == '#')
    return 0;
  if (klen == 0)
    return bad_line (file, lineno, "not a `key = \"value\"` line");
  if (!good_key (key, klen))
    return bad_line (file, lineno, "the key holds a blank, a quote or a "
                     "character that is not printable ASCII");
  if (cfg->len >= VMX_MAX_ENTRIES)
    return bad_line (file, lineno, "more key = value lines than a .vmx "
                     "may hold");
  why = parse_value (memchr (key, '=', (size_t) (end - key)) + 1, end,
                     &e.value);
  if (why)
    return bad_line (file, lineno, why);
  e.key = strndup (key, klen);
  if (e.key == NULL || XD_RESERVE (cfg->entries, cfg->len, cfg->cap, 1)) {
    free (e.key);
    free (e.value);
    xd_error ("%s: %m", file);
    return -1;
  }
  cfg->entries[cfg->len++] = e;
  return 0;
}

int
vmx_parse (const char *text, size_t len, const char *file,
           struct vmx_config *cfg)
{
  const char *p = text, *end = text + len, *nl, *eol;
  size_t lineno;

  memset (cfg, 0, sizeof *cfg);
  if (len > VMX_MAX_SIZE) {
    xd_error ("%s: %zu bytes, more than the %u a .vmx may hold", file, len,
              VMX_MAX_SIZE);
    errno = EIO;
    return -1;
  }
  if (memchr (text, '\0', len) != NULL) {
    xd_error ("%s: holds a NUL byte: not a .vmx text file", file);
    errno = EIO;
    return -1;
  }
  for (lineno = 1; p < end; p = nl + 1, lineno++) {
    nl = memchr (p, '\n', (size_t) (end - p));
    if (nl == NULL)
      nl = end;
    if (nl - p > VMX_MAX_LINE) {
      vmx_config_free (cfg);
      xd_error ("%s: line %zu: longer than the %d bytes a .vmx line may "
                "hold", file, lineno, VMX_MAX_LINE);
      errno = EIO;
      return -1;
    }
    eol = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    if (parse_line (p, eol, file, lineno, cfg) == -1) {
      vmx_config_free (cfg);
      return -1;
    }
  }
  return 0;
}

void
vmx_config_free (struct vmx_config *cfg)
{
  size_t i;

  for (i = 0; i < cfg->len; i++) {
    free (cfg->entries[i].key);
    free (cfg->entries[i].value);
  }
  free (cfg->entries);
  memset (cfg, 0, sizeof *cfg);
}

const char *
vmx_get (const struct vmx_config *cfg, const char *key)
{
  size_t i;

  for (i = cfg->len; i > 0; i--)
    if (strcasecmp (cfg->entries[i - 1].key, key) == 0)
      return cfg->entries[i - 1].value;
  return NULL;
}

/* Is the device (or controller) NAME marked present = "FALSE"? */
static bool
absent (const struct vmx_config *cfg, const char *name)
{
  char key[VMX_DISK_KEY_MAX + 16];
  const char *v;

  snprintf (key, sizeof key, "%s.present", name);
  v = vmx_get (cfg, key);
  return v && (strcasecmp (v, "false") == 0 || strcmp (v, "0") == 0);
}

/* Is REF a hard disk the VM has, given its fileName FILE? */
static bool
is_hard_disk (const struct vmx_config *cfg, const struct vmx_disk_ref *ref,
              const char *file)
{
  char key[VMX_DISK_KEY_MAX + 16];
  const char *type;
  size_t n = strlen (file);

  snprintf (key, sizeof key, "%s.deviceType", ref->key);
  type = vmx_get (cfg, key);
  if (type && (strcasestr (type, "cdrom") || strcasestr (type, "floppy")))
    return false;
  snprintf (key, sizeof key, "%s%u", buses[ref->bus], ref->controller);
  if (absent (cfg, ref->key) || absent (cfg, key))
    return false;
  return n > 5 && strcasecmp (file + n - 5, ".vmdk") == 0;
}

static int
compare_refs (const void *a, const void *b)
{
  const struct vmx_disk_ref *x = a, *y = b;

  if (x->bus != y->bus)
    return x->bus < y->bus ? -1 : 1;
  if (x->controller != y->controller)
    return x->controller < y->controller ? -1 : 1;
  if (x->unit != y->unit)
    return x->unit < y->unit ? -1 : 1;
  return 0;
}

int
vmx_find_disks (const struct vmx_config *cfg, const char *file,
                struct vmx_disk_ref **disks, size_t *n)
{
  struct vmx_disk_ref ref, *v = NULL;
  size_t i, len = 0, cap = 0;

  for (i = 0; i < cfg->len; i++) {
    const struct vmx_entry *e = &cfg->entries[i];

    if (!parse_device_key (e->key, strlen (e->key), ".fileName", &ref) ||
        vmx_get (cfg, e->key) != e->value ||    /* a later one wins */
        !is_hard_disk (cfg, &ref, e->value))
      continue;
    if (len >= VMX_MAX_DISKS) {
      xd_error ("%s: more than the %d disks a VM may have", file,
                VMX_MAX_DISKS);
      free (v);
      errno = EIO;
      return -1;
    }
    if (XD_RESERVE (v, len, cap, 1) == -1) {
      xd_error ("%s: %m", file);
      free (v);
      return -1;
    }
    ref.file = e->value;
    v[len++] = ref;
  }
  if (len > 1)
    qsort (v, len, sizeof *v, compare_refs);
  *disks = v;
  *n = len;
  return 0;
}
