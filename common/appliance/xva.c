/* xdisk: XVA exports as a format driver; see xva.h.
 *
 * Where a chunk's data belongs.  xapi's importer (stream_vdi.ml,
 * recv_all_vdi) reads a disk's chunk files in archive order and keeps
 * a position, starting at 0.  For each chunk file numbered N after the
 * one numbered L (L = -1 at first), whose number must be greater, it
 * first skips (N - L - 1) chunks of zeros, each as long as the first
 * chunk file of the whole import, then writes the file's bytes at the
 * position and moves past them.  It stops when the position reaches
 * the disk's virtual size.  So an empty keep-alive file moves nothing
 * but the number: the data of the next file lands one chunk earlier
 * than its number times 1 MiB.  This reader places data the same way
 * and refuses what the importer refuses (numbers that do not increase,
 * chunks of another disk in the middle) and what would not fit (a chunk
 * longer than 1 MiB, data past the virtual size).
 *
 * A missing chunk reads as zeros and is reported as a hole; the disk's
 * size is ova.xml's virtual_size, so a zero tail past the last chunk
 * file is kept.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "appliance/ova.h"
#include "core/xd-digest.h"
#include "io/xd-gzip.h"
#include "include/xd-math.h"
#include "include/xd-search.h"
#include "include/xd-vector.h"
#include "core/xd-report.h"
#include "archive/xd-tar.h"
#include "archive/xd-xml.h"
#include "appliance/xva.h"

/* ---- ova.xml ---- */

/* The <value> of the member NAME of the XML-RPC <struct> S. */
static const struct xd_xml *
struct_get (const struct xd_xml *s, const char *name)
{
  const struct xd_xml *m, *n;

  if (s == NULL)
    return NULL;
  for (m = NULL; (m = xd_xml_child (s, "member", m)) != NULL; ) {
    n = xd_xml_child (m, "name", NULL);
    if (n && strcmp (n->text, name) == 0)
      return xd_xml_child (m, "value", NULL);
  }
  return NULL;
}

/* The text of an XML-RPC <value>: typed (<string>, <i8>, ...) or bare. */
static const char *
value_text (const struct xd_xml *v)
{
  if (v == NULL)
    return NULL;
  if (v->child && v->child->child == NULL)
    return v->child->text;
  return v->text;
}

static const struct xd_xml *
value_struct (const struct xd_xml *v)
{
  return v ? xd_xml_child (v, "struct", NULL) : NULL;
}

static int
parse_size (const char *s, uint64_t *v)
{
  char *end;

  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  errno = 0;
  *v = strtoull (s, &end, 10);
  return errno || *end ? -1 : 0;
}

static int
add_vdi (struct xd_xva_meta *meta, const char *ref, const char *uuid,
         const char *name, uint64_t size, const char *file)
{
  struct xd_xva_vdi *v;

  if (XD_RESERVE (meta->vdis, meta->n, meta->cap, 1) == -1) {
    xd_error ("%s: out of memory", file);
    return -1;
  }
  v = &meta->vdis[meta->n++];
  v->ref = strdup (ref);
  v->uuid = strdup (uuid ? uuid : "");
  v->name = strdup (name ? name : "");
  v->size = size;
  if (v->ref == NULL || v->uuid == NULL || v->name == NULL) {
    xd_error ("%s: out of memory", file);
    return -1;
  }
  return 0;
}

/* One object of the "objects" array: {class, id, snapshot}. */
static int
parse_object (struct xd_xva_meta *meta, const struct xd_xml *s,
              const char *file)
{
  const char *cls = value_text (struct_get (s, "class"));
  const char *id = value_text (struct_get (s, "id"));
  const struct xd_xml *snap = value_struct (struct_get (s, "snapshot"));
  const char *vsize;
  uint64_t size;

  if (cls == NULL || id == NULL)
    return 0;
  if (strcmp (cls, "VM") == 0 && meta->vm_name == NULL) {
    const char *name = value_text (struct_get (snap, "name_label"));
    if (name && (meta->vm_name = strdup (name)) == NULL) {
      xd_error ("%s: out of memory", file);
      return -1;
    }
    return 0;
  }
  if (strcmp (cls, "VDI") != 0)
    return 0;
  vsize = value_text (struct_get (snap, "virtual_size"));
  if (parse_size (vsize, &size) == -1) {
    xd_error ("%s: VDI %s has no valid virtual_size (\"%s\")", file, id,
              vsize ? vsize : "");
    errno = EIO;
    return -1;
  }
  return add_vdi (meta, id, value_text (struct_get (snap, "uuid")),
                  value_text (struct_get (snap, "name_label")), size, file);
}

/* Legacy: <appliance version="0.1"><vm ...><label>..</label>
 * <vdi name=".." size=".." source="file://sda" type="dir-gzipped-chunks"
 * .../></vm></appliance>.
 */
static int
parse_legacy (struct xd_xva_meta *meta, const struct xd_xml *root,
              const char *file)
{
  const struct xd_xml *e, *label;

  meta->legacy = true;
  if ((e = xd_xml_next (root, NULL, "vm")) != NULL &&
      (label = xd_xml_child (e, "label", NULL)) != NULL &&
      (meta->vm_name = strdup (label->text)) == NULL)
    return -1;
  for (e = NULL; (e = xd_xml_next (root, e, "vdi")) != NULL; ) {
    const char *src = xd_xml_attr (e, "source");
    const char *type = xd_xml_attr (e, "type");
    uint64_t size;
    if (src == NULL || strncmp (src, "file://", 7) != 0 ||
        parse_size (xd_xml_attr (e, "size"), &size) == -1) {
      xd_error ("%s: a <vdi> element has no valid source or size", file);
      errno = EIO;
      return -1;
    }
    if (type && strcmp (type, "dir-gzipped-chunks") != 0) {
      xd_error ("%s: vdi \"%s\" is of type \"%s\", which is not supported "
                "(only dir-gzipped-chunks is)", file, src + 7, type);
      errno = EIO;
      return -1;
    }
    if (add_vdi (meta, src + 7, NULL, xd_xml_attr (e, "name"), size,
                 file) == -1)
      return -1;
  }
  return 0;
}

int
xd_xva_parse_meta (const char *buf, size_t len, const char *file,
                   struct xd_xva_meta *meta)
{
  struct xd_xml *root = xd_xml_parse (buf, len, file);
  const struct xd_xml *objs, *data, *v;
  int r = 0;

  memset (meta, 0, sizeof *meta);
  if (root == NULL)
    return -1;
  if (strcmp (root->name, "appliance") == 0)
    r = parse_legacy (meta, root, file);
  else if (strcmp (root->name, "value") == 0 &&
           (objs = struct_get (value_struct (root), "objects")) != NULL &&
           (data = xd_xml_child (xd_xml_child (objs, "array", NULL)
                                 ? xd_xml_child (objs, "array", NULL)
                                 : objs, "data", NULL)) != NULL) {
    for (v = NULL; r == 0 && (v = xd_xml_child (data, "value", v)); )
      r = parse_object (meta, value_struct (v), file);
  }
  else {
    xd_error ("%s: not XVA metadata (no objects array)", file);
    errno = EIO;
    r = -1;
  }
  xd_xml_free (root);
  if (r == -1) {
    xd_xva_meta_free (meta);
    errno = EIO;
  }
  return r;
}

void
xd_xva_meta_free (struct xd_xva_meta *meta)
{
  size_t i;

  for (i = 0; i < meta->n; i++) {
    free (meta->vdis[i].ref);
    free (meta->vdis[i].uuid);
    free (meta->vdis[i].name);
  }
  free (meta->vdis);
  free (meta->vm_name);
  memset (meta, 0, sizeof *meta);
}

/* ---- the chunk index ---- */

enum csum_kind { CSUM_NONE, CSUM_SHA1, CSUM_XXH };

struct chunk {
  uint64_t pos;                 /* in the disk */
  uint64_t data;                /* in the archive */
  uint64_t csum;                /* checksum member's data, if kind */
  uint32_t len;
  uint32_t number;
  uint8_t kind;
  bool verified;                /* its checksum was checked */
};

struct vdi_state {
  struct chunk *chunks;
  size_t n, cap;
  struct xd_io_segment *gz;     /* legacy: gzip'd chunk members */
  size_t ngz, gz_cap;
  int64_t last;                 /* number of the last chunk file, -1 */
  uint64_t pos;
  bool started, finished;       /* its run of members began, ended */
};

struct xva {
  struct xd_io *io;             /* the archive (gunzipped if need be) */
  struct xd_xva_meta meta;
  struct vdi_state *vdis;
  /* The walk over the tar headers, which goes on after open as reads
   * need it (see index_to).  walk_lock serialises the walkers; LOCK
   * guards what readers look at: the chunks, positions and flags the
   * walk updates.
   */
  struct xd_tar_cursor *cursor;
  pthread_mutex_t walk_lock;
  bool walk_failed;             /* under walk_lock */
  bool walk_done;               /* the end of the archive was reached */
  size_t members;               /* regular members seen so far */
  uint64_t first_len;           /* the first chunk file's length */
  bool have_first;
  size_t current;               /* VDI whose run of chunks is open */
  bool in_run;
  bool expect;                  /* a chunk file waits for its checksum */
  uint32_t expect_num;
  size_t expect_vdi;
  struct chunk *pending;        /* that chunk, NULL for a keep-alive */
  bool saw_xml;
  /* Serving. */
  size_t chosen;
  struct vdi_state *disk;       /* the chosen one; NULL until chosen */
  bool verify;
  pthread_mutex_t lock;
  struct xd_io **parts;         /* legacy: the inflated chunks */
  size_t nparts;
  uint64_t legacy_bytes;        /* legacy: their total size */
  char *description;
};

static int
find_vdi (const struct xva *x, const char *prefix, size_t plen, size_t *k)
{
  size_t i;

  for (i = 0; i < x->meta.n; i++)
    if (strlen (x->meta.vdis[i].ref) == plen &&
        memcmp (x->meta.vdis[i].ref, prefix, plen) == 0) {
      *k = i;
      return 0;
    }
  return -1;
}

static int
bad (const struct xva *x, const char *member, const char *why)
{
  xd_error ("%s: chunk \"%s\": %s", x->io->name, member, why);
  errno = EIO;
  return -1;
}

/* The checksum member of the chunk before it. */
static int
take_checksum (struct xva *x, const char *name, uint64_t offset,
               uint64_t size)
{
  struct chunk *c = x->pending;
  const char *dot = strrchr (name, '.');
  uint8_t kind;

  x->pending = NULL;
  x->expect = false;
  if (dot && strcmp (dot, ".checksum") == 0) {
    if (size != 40)
      return bad (x, name, "a .checksum member must hold 40 hex digits");
    kind = CSUM_SHA1;
  }
  else if (dot && strcmp (dot, ".xxhash") == 0) {
    if (size != 16)
      return bad (x, name, "an .xxhash member must hold 16 hex digits");
    kind = CSUM_XXH;
  }
  else
    return bad (x, name, "unknown checksum kind");
  if (c) {                      /* not for a keep-alive */
    c->kind = kind;
    c->csum = offset;
  }
  return 0;
}

/* A chunk file NUMBER (LEN bytes at OFFSET) of VDI K: place it. */
static int
place_chunk (struct xva *x, size_t k, const char *name, uint32_t number,
             uint64_t offset, uint64_t len)
{
  struct vdi_state *v = &x->vdis[k];
  uint64_t gap, end, size = x->meta.vdis[k].size;
  struct chunk *c;

  if (v->finished || (x->in_run && x->current != k && v->started))
    return bad (x, name, "the disk's chunks are not all together");
  if (x->in_run && x->current != k)
    x->vdis[x->current].finished = true;
  x->current = k;
  x->in_run = true;
  v->started = true;
  if ((int64_t) number <= v->last)
    return bad (x, name, "chunk numbers must increase");
  if (len > XD_XVA_CHUNK)
    return bad (x, name, "a chunk file is larger than 1 MiB");
  if (!x->have_first) {
    if (len == 0)
      return bad (x, name, "the first chunk file of the export is empty");
    x->first_len = len;
    x->have_first = true;
    if (len != XD_XVA_CHUNK)
      xd_debug ("%s: the first chunk is %" PRIu64 " bytes: skipped chunks "
                "count as that many zeros, as xapi's importer has it",
                x->io->name, len);
  }
  if (v->pos >= size)
    return bad (x, name, "chunk after the end of the disk");
  if (xd_mul_overflow ((uint64_t) (number - v->last - 1), x->first_len, &gap)
      || xd_add_overflow (v->pos, gap, &v->pos) ||
      xd_add_overflow (v->pos, len, &end) || end > size)
    return bad (x, name, "its data lies past the disk's virtual size");
  v->last = number;
  x->expect = true;
  x->expect_num = number;
  x->expect_vdi = k;
  x->pending = NULL;
  if (len == 0 || (x->disk && k != x->chosen)) {
    v->pos = end;               /* a keep-alive, or a disk not served */
    return 0;
  }
  if (XD_RESERVE (v->chunks, v->n, v->cap, 1) == -1) {
    xd_error ("%s: out of memory for the chunk index", x->io->name);
    return -1;
  }
  c = &v->chunks[v->n++];
  memset (c, 0, sizeof *c);
  c->pos = v->pos;
  c->data = offset;
  c->len = (uint32_t) len;
  c->number = number;
  x->pending = c;
  v->pos = end;
  return 0;
}

static int
read_meta (struct xva *x, const char *name, uint64_t offset, uint64_t size)
{
  char *buf;
  int r;

  if (strcmp (name, "ova.xml") != 0) {
    xd_error ("%s: not an XVA: the first member is \"%s\", not ova.xml",
              x->io->name, name);
    errno = EIO;
    return -1;
  }
  if (size > XD_XVA_MAX_XML) {
    xd_error ("%s: ova.xml is %" PRIu64 " bytes, more than the %" PRIu64
              " accepted", x->io->name, size, XD_XVA_MAX_XML);
    errno = EIO;
    return -1;
  }
  if ((buf = malloc (size + 1)) == NULL) {
    xd_error ("%s: malloc: %m", x->io->name);
    return -1;
  }
  if (xd_io_read (x->io, buf, size, offset, "ova.xml") == -1) {
    free (buf);
    return -1;
  }
  r = xd_xva_parse_meta (buf, size, "ova.xml", &x->meta);
  free (buf);
  if (r == -1)
    return -1;
  x->vdis = calloc (x->meta.n ? x->meta.n : 1, sizeof *x->vdis);
  if (x->vdis == NULL) {
    xd_error ("%s: calloc: %m", x->io->name);
    return -1;
  }
  for (size_t i = 0; i < x->meta.n; i++)
    x->vdis[i].last = -1;
  return 0;
}

/* Legacy: DIR/chunk-NNNNNNNNN.gz, numbered from 0 without gaps. */
static int
legacy_chunk (struct xva *x, size_t k, const char *name, const char *base,
              uint64_t offset, uint64_t size)
{
  struct vdi_state *v = &x->vdis[k];
  char want[32];

  snprintf (want, sizeof want, "chunk-%09zu.gz", v->ngz);
  if (strcmp (base, want) != 0)
    return bad (x, name, "legacy chunks must be chunk-000000000.gz, "
                "chunk-000000001.gz, ... in order");
  if (v->ngz >= 1000000)
    return bad (x, name, "too many chunks");
  if (XD_RESERVE (v->gz, v->ngz, v->gz_cap, 1) == -1) {
    xd_error ("%s: out of memory", x->io->name);
    return -1;
  }
  v->gz[v->ngz].offset = offset;
  v->gz[v->ngz].size = size;
  v->ngz++;
  v->started = true;
  return 0;
}

static int
index_member (void *opaque, const char *name, bool safe XD_UNUSED,
              uint64_t offset, uint64_t size)
{
  struct xva *x = opaque;
  const char *slash = strchr (name, '/'), *num;
  size_t k, i;

  if (!x->saw_xml) {
    x->saw_xml = true;
    return read_meta (x, name, offset, size) == -1 ? -1 : 0;
  }
  if (x->expect) {
    const char *ref = x->meta.vdis[x->expect_vdi].ref;
    size_t rl = strlen (ref);
    char num8[16];
    snprintf (num8, sizeof num8, "%08" PRIu32 ".", x->expect_num);
    x->expect = false;
    if (strncmp (name, ref, rl) == 0 && name[rl] == '/' &&
        strncmp (name + rl + 1, num8, 9) == 0 &&
        strchr (name + rl + 1, '/') == NULL)
      return take_checksum (x, name, offset, size);
    x->pending = NULL;          /* no checksum for it */
  }
  if (slash == NULL || find_vdi (x, name, (size_t) (slash - name), &k)) {
    xd_debug ("%s: ignoring member \"%s\"", x->io->name, name);
    return 0;
  }
  if (x->meta.legacy)
    return legacy_chunk (x, k, name, slash + 1, offset, size);
  num = slash + 1;
  for (i = 0; num[i] >= '0' && num[i] <= '9'; i++)
    ;
  if (i != 8 || (num[i] != '\0' && num[i] != '.'))
    return bad (x, name, "not an 8-digit chunk number");
  if (num[i] == '.')            /* a checksum with no chunk before it */
    return bad (x, name, "a checksum member that follows no chunk");
  return place_chunk (x, k, name, (uint32_t) strtoul (num, NULL, 10),
                      offset, size);
}

/* ---- the walk, as far as it is needed ---- */

/* Members indexed at open; the rest are indexed as reads reach them.
 * 4096 members are about 2 GiB of a disk's chunks: an export that
 * small is checked whole at open, while a fully written 2 TiB one (4
 * million members spread over the whole file) opens at once instead of
 * reading every header first.  XDISK_XVA_EAGER_MEMBERS overrides it
 * (the tests use 1 to index everything lazily).
 */
#define EAGER_MEMBERS 4096
/* Most members an extents request indexes beyond what it must: its
 * answer may stop short of what the client asked, at what is indexed.
 */
#define EXTENTS_AHEAD 1024

static size_t
eager_members (void)
{
  const char *e = getenv ("XDISK_XVA_EAGER_MEMBERS");
  char *end;
  unsigned long long n;

  if (e == NULL || *e == '\0')
    return EAGER_MEMBERS;
  errno = 0;
  n = strtoull (e, &end, 10);
  if (errno || *end != '\0' || n > SIZE_MAX)
    return EAGER_MEMBERS;
  return (size_t) n;
}

static int
index_member_locked (void *opaque, const char *name, bool safe,
                     uint64_t offset, uint64_t size)
{
  struct xva *x = opaque;
  int r;

  pthread_mutex_lock (&x->lock);
  x->members++;
  r = index_member (x, name, safe, offset, size);
  pthread_mutex_unlock (&x->lock);
  return r;
}

/* Index the next member, and the checksum member after a chunk, so that
 * readers never see a chunk without its checksum (walk_lock held, or
 * open).  0, or -1 after reporting.
 */
static int
walk_step (struct xva *x)
{
  int r;

  if (x->walk_failed) {
    xd_error ("%s: the archive could not be indexed past offset %" PRIu64
              " (see the first error)", x->io->name,
              xd_tar_cursor_offset (x->cursor));
    errno = EIO;
    return -1;
  }
  do
    r = xd_tar_next (x->cursor, index_member_locked, x);
  while (r == 1 && x->expect);
  if (r == -1) {
    /* Bad headers or chunks stay bad; a failed read (over a transport,
     * through a filter) is tried again by the next read that needs it.
     */
    if (!xd_tar_cursor_io_failed (x->cursor))
      x->walk_failed = true;
    return -1;
  }
  if (r == 0) {
    pthread_mutex_lock (&x->lock);
    x->walk_done = true;
    pthread_mutex_unlock (&x->lock);
  }
  return 0;
}

/* How far the chosen disk's chunks are known (LOCK held): its data
 * below this offset is indexed.
 */
static uint64_t
indexed_to (const struct xva *x)
{
  if (x->walk_done || x->disk->finished)
    return UINT64_MAX;
  if (x->expect && x->expect_vdi == x->chosen && x->pending)
    return x->pending->pos;     /* its checksum is not indexed yet */
  return x->disk->pos;
}

static bool
indexed_beyond (struct xva *x, uint64_t end)
{
  bool r;

  pthread_mutex_lock (&x->lock);
  r = indexed_to (x) >= end;
  pthread_mutex_unlock (&x->lock);
  return r;
}

/* Walk until the chosen disk is indexed up to END, or MAX_STEPS
 * members later.  0, or -1 after reporting.
 */
static int
index_to (struct xva *x, uint64_t end, size_t max_steps)
{
  size_t steps;
  int r = 0;

  if (indexed_beyond (x, end))
    return 0;
  pthread_mutex_lock (&x->walk_lock);
  for (steps = 0; steps < max_steps && !indexed_beyond (x, end); steps++)
    if ((r = walk_step (x)) == -1)
      break;
  pthread_mutex_unlock (&x->walk_lock);
  return r;
}

static int
walk_to_end (struct xva *x)
{
  while (!x->walk_done)
    if (walk_step (x) == -1)
      return -1;
  return 0;
}

/* ---- the format driver ---- */

static bool
zstd_magic (const uint8_t *head, size_t len)
{
  return len >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f &&
    head[3] == 0xfd;
}

static bool
xva_probe (struct xd_io *io, const uint8_t *head, size_t len)
{
  uint8_t out[XD_TAR_BLOCK];

  if (zstd_magic (head, len))
    return true;                /* refused at open, with a hint */
  if (xd_gzip_magic (head, len)) {
    if (xd_gzip_peek (head, len, out, sizeof out) != sizeof out)
      return false;
    /* Only the first header is there: check it alone. */
    return memcmp (out, "ova.xml", 8) == 0 && xd_tar_header_valid (out);
  }
  return xd_tar_probe_first (io, head, len, "ova.xml", true);
}

/* Pick the disk ASKED (NULL: the first) among the disks that have
 * chunks, counted in ova.xml's order: 1 if chosen, 0 if there is no
 * such disk, 2 if the walk must go on to tell (a disk that could be
 * the one, or could shift the count, has not shown a chunk yet).
 */
static int
try_choose (struct xva *x, const char *asked)
{
  bool numeric = asked && asked[0] >= '0' && asked[0] <= '9';
  uint64_t want = 0;
  size_t i, n = 0;
  char *end;

  if (numeric) {
    errno = 0;
    want = strtoull (asked, &end, 10);
    numeric = !errno && *end == '\0';
  }
  for (i = 0; i < x->meta.n; i++) {
    const struct xd_xva_vdi *v = &x->meta.vdis[i];
    bool named = asked && (strcmp (asked, v->name) == 0 ||
                           strcasecmp (asked, v->uuid) == 0);
    if (!x->vdis[i].started) {
      if (!x->walk_done && (asked == NULL || named || numeric))
        return 2;
      continue;
    }
    if (asked == NULL || named || (numeric && want == n)) {
      x->chosen = i;
      return 1;
    }
    n++;
  }
  return 0;
}

static void
report_no_disk (struct xva *x, const char *asked)
{
  char *list = NULL;
  size_t len = 0, i, n;
  FILE *fp = open_memstream (&list, &len);

  for (i = 0, n = 0; fp && i < x->meta.n; i++)
    if (x->vdis[i].started) {
      fprintf (fp, "%s%zu (\"%s\", %s, %" PRIu64 " bytes)", n ? ", " : "",
               n, x->meta.vdis[i].name, x->meta.vdis[i].uuid,
               x->meta.vdis[i].size);
      n++;
    }
  if (fp)
    fclose (fp);
  if (asked)
    xd_error ("%s: disk=%s: no such disk; the XVA holds: %s (use disk=N, "
              "counted from 0, a name label or a UUID)", x->io->name,
              asked, n ? list : "no disk");
  else
    xd_error ("%s: the XVA holds no disk data", x->io->name);
  free (list);
  errno = asked ? EINVAL : EIO;
}

/* Walk as far as it takes to pick the disk, then keep only its index. */
static int
choose (struct xva *x, const char *asked)
{
  size_t i;
  int r;

  while ((r = try_choose (x, asked)) == 2)
    if (walk_step (x) == -1)
      return -1;
  if (r == 0) {
    if (walk_to_end (x) == -1)  /* to list every disk */
      return -1;
    report_no_disk (x, asked);
    return -1;
  }
  x->disk = &x->vdis[x->chosen];   /* from now on only its chunks */
  if (x->expect && x->expect_vdi != x->chosen)
    x->pending = NULL;          /* in an index about to be freed */
  for (i = 0; i < x->meta.n; i++)
    if (i != x->chosen) {
      free (x->vdis[i].chunks);
      x->vdis[i].chunks = NULL;
      x->vdis[i].n = x->vdis[i].cap = 0;
    }
  return 0;
}

static void xva_close (void *h);

/* Legacy: inflate-index every chunk of the chosen disk; all but the
 * last must hold exactly 1e9 bytes.
 */
static int
open_legacy (struct xva *x, const struct xd_open_opts *opts)
{
  const struct vdi_state *v = x->disk;
  uint64_t size = x->meta.vdis[x->chosen].size;
  size_t i;

  x->parts = calloc (v->ngz ? v->ngz : 1, sizeof *x->parts);
  if (x->parts == NULL) {
    xd_error ("%s: calloc: %m", x->io->name);
    return -1;
  }
  for (i = 0; i < v->ngz; i++) {
    char *name;
    struct xd_io *slice;
    if (asprintf (&name, "%s:%s/chunk-%09zu.gz", x->io->name,
                  x->meta.vdis[x->chosen].ref, i) == -1)
      return -1;
    slice = xd_io_open_slice (x->io, v->gz[i].offset, v->gz[i].size, name);
    x->parts[i] = slice ? xd_io_open_gzip (slice, opts->cache_bytes, name)
      : NULL;
    free (name);
    if (x->parts[i] == NULL)
      return -1;
    x->nparts++;
    if (i + 1 < v->ngz && x->parts[i]->size != XD_XVA_LEGACY_CHUNK) {
      xd_error ("%s: legacy chunk %zu inflates to %" PRIu64 " bytes, not "
                "1000000000", x->io->name, i, x->parts[i]->size);
      errno = EIO;
      return -1;
    }
    x->legacy_bytes += x->parts[i]->size;
  }
  if (x->legacy_bytes > size) {
    xd_error ("%s: the legacy chunks hold %" PRIu64 " bytes, more than the "
              "disk's size %" PRIu64, x->io->name, x->legacy_bytes, size);
    errno = EIO;
    return -1;
  }
  return 0;
}

static struct xd_io *
unwrap (struct xd_io *io, const struct xd_open_opts *opts)
{
  uint8_t head[16];
  size_t len = (size_t) xd_min_u64 (io->size, sizeof head);
  char *name;
  struct xd_io *gz;

  if (xd_io_read (io, head, len, 0, "signature") == -1) {
    xd_io_close (io);
    return NULL;
  }
  if (zstd_magic (head, len)) {
    xd_error ("%s: this is compressed with zstd (an XVA exported with "
              "compression=zstd?), which cannot be read in place: "
              "decompress it first with: zstd -d FILE", io->name);
    xd_io_close (io);
    errno = ENOTSUP;
    return NULL;
  }
  if (!xd_gzip_magic (head, len))
    return io;
  if (asprintf (&name, "%s (gunzipped)", io->name) == -1) {
    xd_io_close (io);
    return NULL;
  }
  gz = xd_io_open_gzip (io, opts->cache_bytes, name);
  free (name);
  return gz;
}

/* verify=true: the first chunk's checksum kind must be one this build
 * checks (a later chunk of another kind fails on its read).
 */
static int
check_verify (struct xva *x)
{
  const struct chunk *c = x->disk->n ? &x->disk->chunks[0] : NULL;

  if (c == NULL)
    return 0;
  if (c->kind == CSUM_NONE) {
    xd_error ("%s: verify=true: chunk %08" PRIu32 " of this disk has no "
              "checksum member", x->io->name, c->number);
    errno = EIO;
    return -1;
  }
  if ((c->kind == CSUM_XXH && !xd_xxh64_available ()) ||
      (c->kind == CSUM_SHA1 && !xd_digest_available ())) {
    xd_error ("%s: verify=true: this build cannot check %s checksums "
              "(built without %s)", x->io->name,
              c->kind == CSUM_XXH ? "XXH64" : "SHA-1",
              c->kind == CSUM_XXH ? "libxxhash" : "nettle");
    errno = ENOTSUP;
    return -1;
  }
  return 0;
}

static int
describe (struct xva *x)
{
  const struct xd_xva_vdi *v = &x->meta.vdis[x->chosen];
  char legacy[64] = "";

  if (x->meta.legacy)
    snprintf (legacy, sizeof legacy, ", %zu legacy gzip'd chunks",
              x->disk->ngz);
  if (asprintf (&x->description, "XVA export%s%s%s, disk \"%s\" (%s), "
                "%" PRIu64 " bytes%s%s",
                x->meta.vm_name ? " of VM \"" : "",
                x->meta.vm_name ? x->meta.vm_name : "",
                x->meta.vm_name ? "\"" : "", v->name, v->uuid, v->size,
                legacy, x->verify ? ", checksums verified on read" : "")
      == -1) {
    x->description = NULL;
    xd_error ("%s: asprintf: %m", x->io->name);
    return -1;
  }
  xd_debug ("%s: serving VDI %s (\"%s\"); %zu members indexed at open%s",
            x->io->name, v->ref, v->name, x->members,
            x->walk_done ? " (all)" : ", the rest as reads reach them");
  return 0;
}

static void *
xva_open (struct xd_io *io, const struct xd_resolver *res XD_UNUSED,
          const struct xd_open_opts *opts)
{
  struct xva *x = calloc (1, sizeof *x);
  size_t eager = eager_members ();

  if (x == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  pthread_mutex_init (&x->lock, NULL);
  pthread_mutex_init (&x->walk_lock, NULL);
  if ((x->io = unwrap (io, opts)) == NULL ||
      (x->cursor = xd_tar_cursor_new (x->io)) == NULL)
    goto fail;
  if (walk_step (x) == -1)      /* ova.xml */
    goto fail;
  if (!x->saw_xml) {
    xd_error ("%s: empty archive, not an XVA", x->io->name);
    errno = EIO;
    goto fail;
  }
  if (x->meta.legacy)
    eager = SIZE_MAX;           /* few members, all needed at open */
  while (!x->walk_done && x->members < eager)
    if (walk_step (x) == -1)
      goto fail;
  if (choose (x, opts->disk) == -1)
    goto fail;
  if (x->meta.legacy) {
    if (open_legacy (x, opts) == -1)
      goto fail;
    if (opts->verify)
      xd_debug ("%s: verify=true: a legacy XVA has no checksums; its gzip "
                "CRCs were checked at open", x->io->name);
  }
  else {
    x->verify = opts->verify;
    if (x->verify && check_verify (x) == -1)
      goto fail;
  }
  if (describe (x) == -1)
    goto fail;
  return x;

 fail:
  xva_close (x);
  return NULL;
}

static void
xva_close (void *h)
{
  struct xva *x = h;
  size_t i;

  if (x->vdis)
    for (i = 0; i < x->meta.n; i++) {
      free (x->vdis[i].chunks);
      free (x->vdis[i].gz);
    }
  for (i = 0; i < x->nparts; i++)
    xd_io_close (x->parts[i]);
  free (x->parts);
  free (x->vdis);
  xd_xva_meta_free (&x->meta);
  xd_io_close (x->io);
  xd_tar_cursor_free (x->cursor);
  free (x->description);
  pthread_mutex_destroy (&x->lock);
  pthread_mutex_destroy (&x->walk_lock);
  free (x);
}

static uint64_t
xva_size (void *h)
{
  struct xva *x = h;

  return x->meta.vdis[x->chosen].size;
}

static uint32_t
xva_preferred_block (void *h XD_UNUSED)
{
  return XD_XVA_CHUNK;
}

/* The first chunk ending after OFFSET (n if none). */
static size_t
find_chunk (const struct vdi_state *v, uint64_t offset)
{
  return XD_SEARCH_ENDING_AFTER (v->chunks, v->n, pos, len, offset);
}

/* The chunk holding or after OFFSET, copied (the index may grow under
 * other threads): false if none is indexed there.
 */
static bool
chunk_at (struct xva *x, uint64_t offset, size_t *i, struct chunk *c)
{
  const struct vdi_state *v = x->disk;
  bool found;

  pthread_mutex_lock (&x->lock);
  *i = find_chunk (v, offset);
  found = *i < v->n;
  if (found)
    *c = v->chunks[*i];
  pthread_mutex_unlock (&x->lock);
  return found;
}

static int
checksum_kind_ok (struct xva *x, const struct chunk *c)
{
  if (c->kind == CSUM_NONE) {
    xd_error ("%s: verify=true: chunk %08" PRIu32 " of disk %s has no "
              "checksum member", x->io->name, c->number,
              x->meta.vdis[x->chosen].ref);
    errno = EIO;
    return -1;
  }
  if ((c->kind == CSUM_XXH && !xd_xxh64_available ()) ||
      (c->kind == CSUM_SHA1 && !xd_digest_available ())) {
    xd_error ("%s: verify=true: chunk %08" PRIu32 " has a checksum kind "
              "this build cannot check", x->io->name, c->number);
    errno = ENOTSUP;
    return -1;
  }
  return 0;
}

/* Check chunk I (C, a copy) against its checksum member, once. */
static int
verify_chunk (struct xva *x, size_t i, const struct chunk *c)
{
  char stored[41], hex[XD_DIGEST_HEX_MAX];
  size_t slen = c->kind == CSUM_SHA1 ? 40 : 16;
  unsigned char *buf;
  bool done;

  pthread_mutex_lock (&x->lock);
  done = x->disk->chunks[i].verified;
  pthread_mutex_unlock (&x->lock);
  if (done)
    return 0;
  if (checksum_kind_ok (x, c) == -1)
    return -1;
  buf = malloc (c->len);
  if (buf == NULL)
    return -1;
  if (xd_io_read (x->io, buf, c->len, c->data, "chunk") == -1 ||
      xd_io_read (x->io, stored, slen, c->csum, "chunk checksum") == -1) {
    free (buf);
    return -1;
  }
  stored[slen] = '\0';
  if (c->kind == CSUM_SHA1) {
    if (xd_digest_buf (XD_DIGEST_SHA1, buf, c->len, hex) == -1) {
      free (buf);
      return -1;
    }
  }
  else
    snprintf (hex, sizeof hex, "%016" PRIX64, xd_xxh64 (buf, c->len));
  free (buf);
  if (strcmp (hex, stored) != 0) {
    xd_error ("%s: chunk %08" PRIu32 " of disk %s fails its %s checksum "
              "(stored %s, computed %s): the export is corrupt",
              x->io->name, c->number, x->meta.vdis[x->chosen].ref,
              c->kind == CSUM_SHA1 ? "SHA-1" : "XXH64", stored, hex);
    errno = EIO;
    return -1;
  }
  pthread_mutex_lock (&x->lock);
  x->disk->chunks[i].verified = true;
  pthread_mutex_unlock (&x->lock);
  return 0;
}

static int chunks_pread (struct xva *x, void *buf, uint32_t count,
                         uint64_t offset);

static int
legacy_pread (struct xva *x, char *p, uint32_t count, uint64_t offset)
{
  while (count > 0) {
    uint64_t k = offset / XD_XVA_LEGACY_CHUNK, in, n;
    if (offset >= x->legacy_bytes) {
      memset (p, 0, count);
      return 0;
    }
    in = offset - k * XD_XVA_LEGACY_CHUNK;
    n = xd_min_u64 (count, x->parts[k]->size - in);
    if (xd_io_read (x->parts[k], p, n, in, "legacy chunk") == -1)
      return -1;
    p += n;
    count -= (uint32_t) n;
    offset += n;
  }
  return 0;
}

static int
xva_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct xva *x = h;

  if (x->meta.legacy)
    return legacy_pread (x, buf, count, offset);
  return chunks_pread (x, buf, count, offset);
}

static int
chunks_pread (struct xva *x, void *buf, uint32_t count, uint64_t offset)
{
  char *p = buf;

  if (index_to (x, offset + count, SIZE_MAX) == -1)
    return -1;
  while (count > 0) {
    struct chunk c;
    size_t i;
    bool have = chunk_at (x, offset, &i, &c);
    uint64_t n;
    if (!have || c.pos > offset) {              /* a hole */
      n = have ? xd_min_u64 (count, c.pos - offset) : count;
      memset (p, 0, n);
    }
    else {
      n = xd_min_u64 (count, c.pos + c.len - offset);
      if (x->verify && verify_chunk (x, i, &c) == -1)
        return -1;
      if (xd_io_read (x->io, p, n, c.data + (offset - c.pos),
                      "chunk") == -1)
        return -1;
    }
    p += n;
    count -= (uint32_t) n;
    offset += n;
  }
  return 0;
}

static int
legacy_extents (struct xva *x, uint64_t offset, uint64_t end, bool req_one,
                xd_extent_fn add, void *opaque)
{
  /* Data as far as the chunks go, then the zero tail. */
  if (offset < x->legacy_bytes) {
    uint64_t n = xd_min_u64 (end, x->legacy_bytes) - offset;
    if (add (opaque, offset, n, XD_EXTENT_DATA) == -1)
      return -1;
    offset += n;
    if (req_one)
      return 0;
  }
  if (offset < end)
    return add (opaque, offset, end - offset, XD_EXTENT_UNALLOCATED);
  return 0;
}

/* The answer stops where the index stops: indexing the whole request
 * could mean reading every header of a 2 TiB export for one request.
 */
static int
xva_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
             xd_extent_fn add, void *opaque)
{
  struct xva *x = h;
  uint64_t end = xd_min_u64 (offset + count, xva_size (h));

  if (x->meta.legacy)
    return legacy_extents (x, offset, end, req_one, add, opaque);
  if (index_to (x, offset + 1, SIZE_MAX) == -1 ||
      index_to (x, end, EXTENTS_AHEAD) == -1)
    return -1;
  pthread_mutex_lock (&x->lock);
  end = xd_min_u64 (end, indexed_to (x));
  pthread_mutex_unlock (&x->lock);

  while (offset < end) {
    struct chunk c;
    size_t i;
    bool have = chunk_at (x, offset, &i, &c);
    uint64_t n;
    uint32_t type;
    if (!have || c.pos > offset) {
      n = (have ? xd_min_u64 (end, c.pos) : end) - offset;
      type = XD_EXTENT_HOLE | XD_EXTENT_ZERO;
    }
    else {
      n = xd_min_u64 (end, c.pos + c.len) - offset;
      type = XD_EXTENT_DATA;
    }
    if (add (opaque, offset, n, type) == -1)
      return -1;
    offset += n;
    if (req_one)
      break;
  }
  return 0;
}

static char *
xva_describe (void *h)
{
  struct xva *x = h;

  return x->description ? strdup (x->description) : NULL;
}

const struct xd_format xd_format_xva = {
  .name = "xva",
  .display = "XVA",
  .plugin = "xvax",
  .probe = xva_probe,
  .config = xd_appliance_config,
  .open = xva_open,
  .close = xva_close,
  .size = xva_size,
  .preferred_block = xva_preferred_block,
  .pread = xva_pread,
  .extents = xva_extents,
  .describe = xva_describe,
};
