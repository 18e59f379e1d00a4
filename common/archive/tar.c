/* xdisk: tar archives read in place; see xd-tar.h.
 *
 * A header is one 512-byte block:
 *
 *   0 name[100]  100 mode[8]  108 uid[8]  116 gid[8]  124 size[12]
 *   136 mtime[12]  148 chksum[8]  156 typeflag  157 linkname[100]
 *   257 magic[6]  263 version[2]  ...  345 prefix[155] (ustar only)
 *
 * Numbers are octal text ended by a space or NUL, or (GNU) base-256
 * binary when the first byte has its top bit set.  The checksum is the
 * sum of the header's bytes with the checksum field taken as spaces;
 * old writers summed signed chars, so both sums are accepted.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "include/xd-iszero.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"
#include "archive/xd-tar.h"

/* Largest pax extended header read (its records are kept in memory). */
#define MAX_PAX_SIZE (UINT64_C (1) << 20)

/* Pending names and sizes from 'L' and 'x' members for the next one. */
struct pending {
  char *long_name;              /* GNU 'L' */
  char *pax_path;               /* pax "path" */
  bool has_pax_size;
  uint64_t pax_size;
};

static void
pending_clear (struct pending *p)
{
  free (p->long_name);
  free (p->pax_path);
  memset (p, 0, sizeof *p);
}

/* Parse the numeric field F of LEN bytes.  Returns 0, or -1 if it is
 * not a valid number (the caller reports).
 */
static int
parse_number (const uint8_t *f, size_t len, uint64_t *v)
{
  size_t i = 0;
  uint64_t r = 0;

  if (f[0] & 0x80) {
    /* Base-256: big-endian, the first byte's top bit the marker.  A
     * negative number (0xff first) is never a valid size or offset.
     */
    if (f[0] != 0x80)
      return -1;
    for (i = 1; i < len; i++) {
      if (r > (UINT64_MAX >> 8))
        return -1;
      r = (r << 8) | f[i];
    }
    *v = r;
    return 0;
  }
  while (i < len && f[i] == ' ')
    i++;
  if (i == len || f[i] < '0' || f[i] > '7')
    return -1;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
    if (r > (UINT64_MAX >> 3))
      return -1;
    r = (r << 3) | (uint64_t) (f[i] - '0');
  }
  /* The digits end with a space, a NUL or the end of the field. */
  for (; i < len; i++)
    if (f[i] != ' ' && f[i] != '\0')
      return -1;
  *v = r;
  return 0;
}

static bool
checksum_ok (const uint8_t *b)
{
  uint64_t stored;
  uint32_t usum = 8 * ' ';
  int32_t ssum = 8 * ' ';
  size_t i;

  if (parse_number (b + 148, 8, &stored) == -1)
    return false;
  /* The checksum field counts as spaces.  The unsigned sum is the
   * usual one (a loop the compiler vectorises); the signed one only
   * for the old writers that used it.
   */
  for (i = 0; i < 148; i++)
    usum += b[i];
  for (i = 156; i < XD_TAR_BLOCK; i++)
    usum += b[i];
  if (stored == usum)
    return true;
  for (i = 0; i < XD_TAR_BLOCK; i++)
    if (i < 148 || i >= 156)
      ssum += (int8_t) b[i];
  return (int64_t) stored == ssum;
}

static bool
is_ustar (const uint8_t *b)
{
  return memcmp (b + 257, "ustar", 6) == 0;     /* "ustar\0" + "00" */
}

char *
xd_tar_normalize (const char *name)
{
  size_t len = strlen (name), o = 0;
  const char *p = name;
  char *out;

  if (len == 0) {
    errno = EINVAL;
    return NULL;
  }
  if (name[0] == '/') {
    errno = EPERM;
    return NULL;
  }
  out = malloc (len + 1);
  if (out == NULL)
    return NULL;
  while (*p) {
    const char *slash = strchr (p, '/');
    size_t n = slash ? (size_t) (slash - p) : strlen (p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      free (out);
      errno = EPERM;
      return NULL;
    }
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (o > 0)
        out[o++] = '/';
      memcpy (out + o, p, n);
      o += n;
    }
    p += n;
    if (*p == '/')
      p++;
  }
  out[o] = '\0';
  if (o == 0) {
    free (out);
    errno = EINVAL;
    return NULL;
  }
  return out;
}

/* Read the data of a 'L' or 'x' member (SIZE bytes at OFFSET) into a
 * NUL-terminated buffer.
 */
static char *
read_meta (struct xd_io *io, uint64_t offset, uint64_t size, uint64_t max,
           const char *what)
{
  char *buf;

  if (size > max) {
    xd_error ("%s: tar %s at offset %" PRIu64 " is %" PRIu64 " bytes, more "
              "than the %" PRIu64 " accepted", io->name, what,
              offset - XD_TAR_BLOCK, size, max);
    errno = EIO;
    return NULL;
  }
  buf = malloc (size + 1);
  if (buf == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return NULL;
  }
  if (xd_io_read (io, buf, size, offset, what) == -1) {
    free (buf);
    return NULL;
  }
  buf[size] = '\0';
  return buf;
}

/* Parse the records "LEN KEY=VALUE\n" of a pax extended header BUF of
 * SIZE bytes, keeping path and size.  AT is the header's offset.
 */
static int
parse_pax (struct xd_io *io, char *buf, size_t size, uint64_t at,
           struct pending *p)
{
  size_t pos = 0;

  while (pos < size) {
    size_t len = 0, i = pos;
    char *key, *eq, *value;

    while (i < size && buf[i] >= '0' && buf[i] <= '9' && len < size)
      len = len * 10 + (size_t) (buf[i++] - '0');
    if (i == pos || i >= size || buf[i] != ' ' || len <= i - pos + 1 ||
        len > size - pos || buf[pos + len - 1] != '\n')
      goto bad;
    key = buf + i + 1;
    buf[pos + len - 1] = '\0';
    eq = strchr (key, '=');
    if (eq == NULL)
      goto bad;
    *eq = '\0';
    value = eq + 1;
    if (strcmp (key, "path") == 0) {
      if (strlen (value) > XD_TAR_MAX_NAME)
        goto bad;
      free (p->pax_path);
      p->pax_path = strdup (value);
      if (p->pax_path == NULL) {
        xd_error ("%s: strdup: %m", io->name);
        return -1;
      }
    }
    else if (strcmp (key, "size") == 0) {
      char *end;
      if (value[0] < '0' || value[0] > '9')
        goto bad;
      errno = 0;
      p->pax_size = strtoull (value, &end, 10);
      if (errno || *end)
        goto bad;
      p->has_pax_size = true;
    }
    pos += len;
  }
  return 0;

 bad:
  xd_error ("%s: tar pax extended header at offset %" PRIu64 " has a "
            "malformed record at byte %zu", io->name, at, pos);
  errno = EIO;
  return -1;
}

/* The name of the member whose header is B: a pending long name, else
 * ustar's prefix/name, else the name field.  Malloc'd.
 */
static char *
header_name (struct xd_io *io, const uint8_t *b, struct pending *p)
{
  char buf[256 + 2];
  char *r;

  if (p->pax_path)
    r = strdup (p->pax_path);
  else if (p->long_name)
    r = strdup (p->long_name);
  else {
    size_t nl = strnlen ((const char *) b, 100);
    size_t pl = is_ustar (b) ? strnlen ((const char *) b + 345, 155) : 0;
    size_t o = 0;
    if (pl) {
      memcpy (buf, b + 345, pl);
      o = pl;
      buf[o++] = '/';
    }
    memcpy (buf + o, b, nl);
    buf[o + nl] = '\0';
    r = strdup (buf);
  }
  if (r == NULL)
    xd_error ("%s: strdup: %m", io->name);
  return r;
}

/* Hand a regular member to FN. */
static int
emit (struct xd_io *io, const uint8_t *b, struct pending *p,
      uint64_t offset, uint64_t size, xd_tar_fn fn, void *opaque)
{
  char *raw = header_name (io, b, p), *norm;
  size_t len;
  int r;

  if (raw == NULL)
    return -1;
  len = strlen (raw);
  if (len > 0 && raw[len - 1] == '/') {        /* a directory, old style */
    free (raw);
    return 0;
  }
  norm = xd_tar_normalize (raw);
  if (norm == NULL && errno == ENOMEM) {
    xd_error ("%s: malloc: %m", io->name);
    free (raw);
    return -1;
  }
  if (norm == NULL)
    xd_debug ("%s: tar member \"%s\" has an unsafe or empty name",
              io->name, raw);
  r = fn (opaque, norm ? norm : raw, norm != NULL, offset, size);
  free (norm);
  free (raw);
  return r;
}

/* Headers are read through a small window: a member of a few bytes (an
 * XVA checksum) and the header after it then cost one read, not two.
 */
#define WINDOW 4096

struct window {
  uint8_t buf[WINDOW];
  uint64_t start, len;
};

static int
read_header (struct xd_io *io, struct window *w, uint64_t at, uint8_t *b)
{
  if (at < w->start || at - w->start + XD_TAR_BLOCK > w->len) {
    uint64_t n = xd_min_u64 (WINDOW, io->size - at);
    if (xd_io_read (io, w->buf, n, at, "tar header") == -1)
      return -1;
    w->start = at;
    w->len = n;
  }
  memcpy (b, w->buf + (at - w->start), XD_TAR_BLOCK);
  return 0;
}

struct xd_tar_cursor {
  struct xd_io *io;
  struct window win;
  struct pending p;
  uint64_t at;                  /* the next header */
  bool end;                     /* the end of the archive was reached */
  bool io_failed;               /* the last step failed reading IO */
};

struct xd_tar_cursor *
xd_tar_cursor_new (struct xd_io *io)
{
  struct xd_tar_cursor *c = calloc (1, sizeof *c);

  if (c == NULL)
    xd_error ("%s: calloc: %m", io->name);
  else
    c->io = io;
  return c;
}

void
xd_tar_cursor_free (struct xd_tar_cursor *c)
{
  if (c) {
    pending_clear (&c->p);
    free (c);
  }
}

uint64_t
xd_tar_cursor_offset (const struct xd_tar_cursor *c)
{
  return c->at;
}

bool
xd_tar_cursor_io_failed (const struct xd_tar_cursor *c)
{
  return c->io_failed;
}

/* Check the header B at C->at and find its member's size and the next
 * header.  0, or -1 after reporting.
 */
static int
header_extent (struct xd_tar_cursor *c, const uint8_t *b, char type,
               uint64_t *size, uint64_t *next)
{
  struct xd_io *io = c->io;
  uint64_t data = c->at + XD_TAR_BLOCK;

  if (!checksum_ok (b)) {
    xd_error ("%s: tar header at offset %" PRIu64 " has a bad checksum "
              "(not a tar archive, or corrupt)", io->name, c->at);
    return -1;
  }
  if (parse_number (b + 124, 12, size) == -1) {
    xd_error ("%s: tar header at offset %" PRIu64 " has an invalid size "
              "field", io->name, c->at);
    return -1;
  }
  if (c->p.has_pax_size && type != 'x' && type != 'g' && type != 'L')
    *size = c->p.pax_size;
  if (xd_round_up_overflow (*size, XD_TAR_BLOCK, next) ||
      xd_add_overflow (data, *next, next) ||
      !xd_io_contains (io, data, *size)) {
    xd_error ("%s: tar member at offset %" PRIu64 " (%" PRIu64 " bytes) "
              "runs past the end of the archive (size %" PRIu64 "): "
              "truncated?", io->name, c->at, *size, io->size);
    return -1;
  }
  *next = xd_min_u64 (*next, io->size);
  return 0;
}

/* One header at C->at: 1 if it was a regular member (handed to FN,
 * whose result is in *FN_RESULT), 0 if not, 2 at the end of the
 * archive, -1 on error (reported; errno set).
 */
static int
step (struct xd_tar_cursor *c, xd_tar_fn fn, void *opaque, int *fn_result)
{
  struct xd_io *io = c->io;
  uint8_t b[XD_TAR_BLOCK];
  uint64_t size, data = c->at + XD_TAR_BLOCK, next;
  char type;
  int r = 0;

  if (c->at == io->size)
    return 2;                   /* no end blocks: accepted, as GNU tar */
  if (io->size - c->at < XD_TAR_BLOCK) {
    xd_error ("%s: the tar header at offset %" PRIu64 " is cut short: "
              "the archive is truncated", io->name, c->at);
    goto eio;
  }
  if (read_header (io, &c->win, c->at, b) == -1) {
    c->io_failed = true;
    return -1;
  }
  if (xd_is_zero (b, XD_TAR_BLOCK))
    return 2;                   /* the end of the archive */
  type = (char) b[156];
  if (header_extent (c, b, type, &size, &next) == -1)
    goto eio;

  switch (type) {
  case 'L': {                   /* GNU long name of the next member */
    char *s = read_meta (io, data, size, XD_TAR_MAX_NAME, "long name");
    if (s == NULL) {
      c->io_failed = size <= XD_TAR_MAX_NAME;   /* not too long: a read */
      return -1;
    }
    free (c->p.long_name);
    c->p.long_name = s;
    break;
  }
  case 'x': {                   /* pax extended header */
    char *s = read_meta (io, data, size, MAX_PAX_SIZE,
                         "pax extended header");
    if (s == NULL) {
      c->io_failed = size <= MAX_PAX_SIZE;
      return -1;
    }
    r = parse_pax (io, s, size, c->at, &c->p);
    free (s);
    if (r == -1)
      return -1;
    break;
  }
  case 'K': case 'g':           /* long link name, pax global header */
    break;
  case 'S': case 'M':
    xd_error ("%s: tar member at offset %" PRIu64 " is a GNU %s member, "
              "which is not supported", io->name, c->at,
              type == 'S' ? "sparse" : "multi-volume");
    goto eio;
  case 'V':                     /* a volume label */
    break;
  case '0': case '\0': case '7':        /* regular files */
    *fn_result = emit (io, b, &c->p, data, size, fn, opaque);
    pending_clear (&c->p);
    if (*fn_result == -1)
      return -1;
    c->at = next;
    return 1;
  default:                      /* links, directories, devices, fifos */
    pending_clear (&c->p);
    break;
  }
  c->at = next;
  return 0;

 eio:
  errno = EIO;
  return -1;
}

int
xd_tar_next (struct xd_tar_cursor *c, xd_tar_fn fn, void *opaque)
{
  int r, fn_result = 0;

  if (c->end)
    return 0;
  c->io_failed = false;
  while ((r = step (c, fn, opaque, &fn_result)) == 0)
    ;
  switch (r) {
  case 2:
    c->end = true;
    return 0;
  case 1:
    return fn_result == 1 ? 2 : 1;
  default:
    return -1;
  }
}

int
xd_tar_walk (struct xd_io *io, xd_tar_fn fn, void *opaque)
{
  struct xd_tar_cursor *c = xd_tar_cursor_new (io);
  int r;

  if (c == NULL)
    return -1;
  while ((r = xd_tar_next (c, fn, opaque)) == 1)
    ;
  xd_tar_cursor_free (c);
  return r == -1 ? -1 : 0;
}

/* ---- probing ---- */

bool
xd_tar_header_valid (const uint8_t *block)
{
  return !xd_is_zero (block, XD_TAR_BLOCK) && checksum_ok (block);
}

struct first {
  char *name;
};

static int
take_first (void *opaque, const char *name, bool safe XD_UNUSED,
            uint64_t offset XD_UNUSED, uint64_t size XD_UNUSED)
{
  struct first *f = opaque;

  f->name = strdup (name);
  return 1;
}

char *
xd_tar_first_name (struct xd_io *io)
{
  struct first f = { NULL };
  int r;

  xd_error_hold ();
  r = xd_tar_walk (io, take_first, &f);
  xd_error_release (false);
  if (r == -1) {
    free (f.name);
    return NULL;
  }
  return f.name;
}

bool
xd_tar_probe_first (struct xd_io *io, const uint8_t *head, size_t len,
                    const char *suffix, bool exact)
{
  char *name;
  size_t n, s = strlen (suffix);
  bool ok;

  /* Cheap test first: a whole header with a good checksum. */
  if (len < XD_TAR_BLOCK || xd_is_zero (head, XD_TAR_BLOCK) ||
      !checksum_ok (head))
    return false;
  name = xd_tar_first_name (io);
  if (name == NULL)
    return false;
  n = strlen (name);
  if (exact)
    ok = strcmp (name, suffix) == 0;
  else
    ok = n > s && strcasecmp (name + n - s, suffix) == 0;
  free (name);
  return ok;
}

/* ---- the index ---- */

static int
add_member (void *opaque, const char *name, bool safe, uint64_t offset,
            uint64_t size)
{
  struct xd_tar *tar = opaque;
  struct xd_tar_member *m;

  if (!safe)
    return 0;                   /* never resolvable: leave it out */
  if (tar->n >= XD_TAR_MAX_MEMBERS) {
    xd_error ("%s: the archive has more than %" PRIu32 " members",
              tar->io->name, XD_TAR_MAX_MEMBERS);
    errno = EIO;
    return -1;
  }
  if (XD_RESERVE (tar->members, tar->n, tar->cap, 1) == -1) {
    xd_error ("%s: realloc: %m", tar->io->name);
    return -1;
  }
  m = &tar->members[tar->n];
  m->name = strdup (name);
  if (m->name == NULL) {
    xd_error ("%s: strdup: %m", tar->io->name);
    return -1;
  }
  m->offset = offset;
  m->size = size;
  tar->n++;
  return 0;
}

static int
compare_members (const void *a, const void *b, void *opaque)
{
  const struct xd_tar *tar = opaque;

  return strcmp (tar->members[*(const size_t *) a].name,
                 tar->members[*(const size_t *) b].name);
}

static int
sort_index (struct xd_tar *tar)
{
  size_t i;

  tar->sorted = malloc ((tar->n ? tar->n : 1) * sizeof *tar->sorted);
  if (tar->sorted == NULL) {
    xd_error ("%s: malloc: %m", tar->io->name);
    return -1;
  }
  for (i = 0; i < tar->n; i++)
    tar->sorted[i] = i;
  qsort_r (tar->sorted, tar->n, sizeof *tar->sorted, compare_members, tar);
  for (i = 1; i < tar->n; i++)
    if (strcmp (tar->members[tar->sorted[i]].name,
                tar->members[tar->sorted[i - 1]].name) == 0) {
      xd_error ("%s: the archive holds the member \"%s\" twice",
                tar->io->name, tar->members[tar->sorted[i]].name);
      errno = EIO;
      return -1;
    }
  return 0;
}

struct xd_tar *
xd_tar_index (struct xd_io *io)
{
  struct xd_tar *tar = calloc (1, sizeof *tar);

  if (tar == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    return NULL;
  }
  tar->io = xd_io_ref (io);
  if (xd_tar_walk (io, add_member, tar) == -1 || sort_index (tar) == -1) {
    xd_tar_free (tar);
    return NULL;
  }
  return tar;
}

void
xd_tar_free (struct xd_tar *tar)
{
  size_t i;

  if (tar == NULL)
    return;
  for (i = 0; i < tar->n; i++)
    free (tar->members[i].name);
  free (tar->members);
  free (tar->sorted);
  xd_io_close (tar->io);
  free (tar);
}

static const struct xd_tar_member *
find_normalized (const struct xd_tar *tar, const char *name)
{
  size_t lo = 0, hi = tar->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct xd_tar_member *m = &tar->members[tar->sorted[mid]];
    int c = strcmp (name, m->name);
    if (c == 0)
      return m;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

const struct xd_tar_member *
xd_tar_find (const struct xd_tar *tar, const char *name)
{
  char *norm = xd_tar_normalize (name);
  const struct xd_tar_member *m;

  if (norm == NULL)
    return NULL;
  m = find_normalized (tar, norm);
  free (norm);
  return m;
}

/* NAME.000000000, NAME.000000001, ... as one io, or NULL with errno
 * ENOENT if there is no first chunk.
 */
static struct xd_io *
open_chunks (struct xd_tar *tar, const char *norm, const char *io_name)
{
  struct xd_io_segment *segs = NULL;
  size_t n = 0, cap = 0, len = strlen (norm) + 16;
  char *chunk = malloc (len);
  struct xd_io *io = NULL;

  if (chunk == NULL)
    return NULL;
  for (;;) {
    const struct xd_tar_member *m;
    snprintf (chunk, len, "%s.%09zu", norm, n);
    m = find_normalized (tar, chunk);
    if (m == NULL)
      break;
    if (XD_RESERVE (segs, n, cap, 1) == -1)
      goto out;
    segs[n].offset = m->offset;
    segs[n].size = m->size;
    n++;
  }
  if (n == 0)
    errno = ENOENT;
  else
    io = xd_io_open_segments (tar->io, segs, n, io_name);
 out:
  free (segs);
  free (chunk);
  return io;
}

struct xd_io *
xd_tar_open (struct xd_tar *tar, const char *name)
{
  char *norm = xd_tar_normalize (name), *io_name;
  const struct xd_tar_member *m;
  struct xd_io *io;

  if (norm == NULL)
    return NULL;
  if (asprintf (&io_name, "%s:%s", tar->io->name, norm) == -1) {
    free (norm);
    return NULL;
  }
  m = find_normalized (tar, norm);
  if (m)
    io = xd_io_open_slice (tar->io, m->offset, m->size, io_name);
  else
    io = open_chunks (tar, norm, io_name);
  free (io_name);
  free (norm);
  return io;
}

/* ---- the archive resolver ---- */

/* The directory, inside the archive, of the member io FROM ("" at the
 * top): member ios are named "ARCHIVE:MEMBER".
 */
static char *
member_dir (const struct xd_tar *tar, const char *from)
{
  size_t an = strlen (tar->io->name);
  const char *member, *slash;

  if (strncmp (from, tar->io->name, an) != 0 || from[an] != ':')
    return strdup ("");
  member = from + an + 1;
  slash = strrchr (member, '/');
  return strndup (member, slash ? (size_t) (slash - member + 1) : 0);
}

static struct xd_io *
archive_try_open (const struct xd_resolver *r, const char *from,
                  const char *name)
{
  struct xd_tar *tar = r->priv;
  char *dir, *full;
  struct xd_io *io;

  if (name[0] == '/') {
    errno = EPERM;
    return NULL;
  }
  dir = member_dir (tar, from);
  if (dir == NULL || asprintf (&full, "%s%s", dir, name) == -1) {
    free (dir);
    errno = ENOMEM;
    return NULL;
  }
  free (dir);
  io = xd_tar_open (tar, full);
  free (full);
  return io;
}

static void
archive_report (const struct xd_resolver *r, const char *from,
                const char *name, const char *what, int err)
{
  const struct xd_tar *tar = r->priv;

  if (err == EPERM)
    xd_error ("%s: the %s \"%s\" lies outside the archive %s: a name held "
              "by an image in an archive may only name another member",
              from, what, name, tar->io->name);
  else if (err == ENOENT)
    xd_error ("%s: the %s \"%s\" is not a member of the archive %s",
              from, what, name, tar->io->name);
  else {
    errno = err;
    xd_error ("%s: the %s \"%s\" cannot be opened: %m", from, what, name);
  }
}

static int
archive_list (const struct xd_resolver *r, const char *from XD_UNUSED,
              bool up, xd_list_fn fn, void *opaque)
{
  const struct xd_tar *tar = r->priv;
  size_t i;
  int ret = 0;

  if (up)
    return 0;
  /* Names relative to the top of the archive, as try_open takes them. */
  for (i = 0; i < tar->n && ret == 0; i++)
    ret = fn (opaque, tar->members[tar->sorted[i]].name);
  return ret < 0 ? -1 : 0;
}

static const struct xd_resolver_ops archive_ops = {
  .try_open = archive_try_open,
  .report = archive_report,
  .list = archive_list,
};

struct xd_resolver *
xd_resolver_new_archive (struct xd_tar *tar)
{
  struct xd_resolver *r = calloc (1, sizeof *r);

  if (r == NULL) {
    xd_error ("calloc: %m");
    return NULL;
  }
  r->ops = &archive_ops;
  r->priv = tar;
  return r;
}

bool
xd_tar_unfinished (const uint8_t *head, size_t len, const char *kind)
{
  char text[64];
  int n = snprintf (text, sizeof text, XD_TAR_UNFINISHED_TEXT, kind);

  return n > 0 && (size_t) n < sizeof text && len >= (size_t) n &&
         memcmp (head, text, n) == 0;
}
