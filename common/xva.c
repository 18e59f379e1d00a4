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

#include "ova.h"
#include "xd-digest.h"
#include "xd-gzip.h"
#include "xd-math.h"
#include "xd-report.h"
#include "xd-tar.h"
#include "xd-xml.h"
#include "xva.h"

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
  struct xd_xva_vdi *v = realloc (meta->vdis, (meta->n + 1) * sizeof *v);

  if (v == NULL) {
    xd_error ("%s: out of memory", file);
    return -1;
  }
  meta->vdis = v;
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
};

struct vdi_state {
  struct chunk *chunks;
  size_t n, cap;
  struct xd_io_segment *gz;     /* legacy: gzip'd chunk members */
  size_t ngz;
  int64_t last;                 /* number of the last chunk file, -1 */
  uint64_t pos;
  bool started, finished;       /* its run of members began, ended */
};

struct xva {
  struct xd_io *io;             /* the archive (gunzipped if need be) */
  struct xd_xva_meta meta;
  struct vdi_state *vdis;
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
  struct vdi_state *disk;
  bool verify;
  pthread_mutex_t lock;
  uint8_t *verified;            /* bitmap by chunk index */
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
  if (len == 0) {               /* a keep-alive */
    v->pos = end;
    return 0;
  }
  if (v->n == v->cap) {
    size_t cap = v->cap ? 2 * v->cap : 64;
    c = realloc (v->chunks, cap * sizeof *c);
    if (c == NULL) {
      xd_error ("%s: out of memory for the chunk index", x->io->name);
      return -1;
    }
    v->chunks = c;
    v->cap = cap;
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
  struct xd_io_segment *g;
  char want[32];

  snprintf (want, sizeof want, "chunk-%09zu.gz", v->ngz);
  if (strcmp (base, want) != 0)
    return bad (x, name, "legacy chunks must be chunk-000000000.gz, "
                "chunk-000000001.gz, ... in order");
  if (v->ngz >= 1000000)
    return bad (x, name, "too many chunks");
  g = realloc (v->gz, (v->ngz + 1) * sizeof *g);
  if (g == NULL) {
    xd_error ("%s: out of memory", x->io->name);
    return -1;
  }
  v->gz = g;
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

static int
choose (struct xva *x, const char *asked)
{
  size_t i, n = 0;
  uint64_t want;
  char *end;

  for (i = 0; i < x->meta.n; i++) {
    const struct xd_xva_vdi *v = &x->meta.vdis[i];
    bool has = x->vdis[i].started;
    if (!has)
      continue;
    if (asked == NULL ||
        strcmp (asked, v->name) == 0 || strcasecmp (asked, v->uuid) == 0)
      goto found;
    errno = 0;
    want = strtoull (asked, &end, 10);
    if (!errno && *end == '\0' && asked[0] >= '0' && asked[0] <= '9' &&
        want == n)
      goto found;
    n++;
  }
  {
    char *list = NULL;
    size_t len = 0;
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
    return -1;
  }
 found:
  x->chosen = i;
  x->disk = &x->vdis[i];
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

static void *
xva_open (struct xd_io *io, const struct xd_resolver *res XD_UNUSED,
          const struct xd_open_opts *opts)
{
  struct xva *x = calloc (1, sizeof *x);
  size_t i;

  if (x == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  pthread_mutex_init (&x->lock, NULL);
  if ((x->io = unwrap (io, opts)) == NULL)
    goto fail;
  if (xd_tar_walk (x->io, index_member, x) == -1)
    goto fail;
  if (!x->saw_xml) {
    xd_error ("%s: empty archive, not an XVA", x->io->name);
    errno = EIO;
    goto fail;
  }
  if (choose (x, opts->disk) == -1)
    goto fail;
  /* Keep only the chosen disk's index. */
  for (i = 0; i < x->meta.n; i++)
    if (i != x->chosen) {
      free (x->vdis[i].chunks);
      x->vdis[i].chunks = NULL;
    }
  if (x->meta.legacy) {
    if (open_legacy (x, opts) == -1)
      goto fail;
  }
  else
    x->verify = opts->verify;
  if (opts->verify && x->meta.legacy)
    xd_debug ("%s: verify=true: a legacy XVA has no checksums; its gzip "
              "CRCs were checked at open", x->io->name);
  if (x->verify) {
    bool xxh = false, none = false;
    for (i = 0; i < x->disk->n; i++) {
      xxh |= x->disk->chunks[i].kind == CSUM_XXH;
      none |= x->disk->chunks[i].kind == CSUM_NONE;
    }
    if (none) {
      xd_error ("%s: verify=true: some chunks of this disk have no checksum "
                "member", x->io->name);
      errno = EIO;
      goto fail;
    }
    if ((xxh && !xd_xxh64_available ()) ||
        (!xxh && x->disk->n && !xd_digest_available ())) {
      xd_error ("%s: verify=true: this build cannot check %s checksums "
                "(built without %s)", x->io->name, xxh ? "XXH64" : "SHA-1",
                xxh ? "libxxhash" : "nettle");
      errno = ENOTSUP;
      goto fail;
    }
    x->verified = calloc (x->disk->n / 8 + 1, 1);
    if (x->verified == NULL) {
      xd_error ("%s: calloc: %m", x->io->name);
      goto fail;
    }
  }
  {
    const struct xd_xva_vdi *v = &x->meta.vdis[x->chosen];
    if (asprintf (&x->description, "XVA export%s%s%s, disk \"%s\" (%s), "
                  "%" PRIu64 " bytes, %zu chunks present%s",
                  x->meta.vm_name ? " of VM \"" : "",
                  x->meta.vm_name ? x->meta.vm_name : "",
                  x->meta.vm_name ? "\"" : "", v->name, v->uuid, v->size,
                  x->meta.legacy ? x->disk->ngz : x->disk->n,
                  x->verify ? ", checksums verified on read"
                  : x->meta.legacy ? " (legacy gzip'd chunks)" : "") == -1)
      x->description = NULL;
    xd_debug ("%s: serving VDI %s (\"%s\"): %zu chunks", x->io->name,
              v->ref, v->name, x->disk->n);
  }
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
  free (x->verified);
  free (x->description);
  pthread_mutex_destroy (&x->lock);
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
  size_t lo = 0, hi = v->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v->chunks[mid].pos + v->chunks[mid].len <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int
verify_chunk (struct xva *x, size_t i)
{
  const struct chunk *c = &x->disk->chunks[i];
  char stored[41], hex[XD_DIGEST_HEX_MAX];
  size_t slen = c->kind == CSUM_SHA1 ? 40 : 16;
  unsigned char *buf;
  bool done;

  pthread_mutex_lock (&x->lock);
  done = x->verified[i / 8] & (1u << (i % 8));
  pthread_mutex_unlock (&x->lock);
  if (done)
    return 0;
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
  x->verified[i / 8] |= (uint8_t) (1u << (i % 8));
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
  const struct vdi_state *v = x->disk;
  size_t i = find_chunk (v, offset);
  char *p = buf;

  while (count > 0) {
    const struct chunk *c = i < v->n ? &v->chunks[i] : NULL;
    uint64_t n;
    if (c == NULL || c->pos > offset) {         /* a hole */
      n = c ? xd_min_u64 (count, c->pos - offset) : count;
      memset (p, 0, n);
    }
    else {
      n = xd_min_u64 (count, c->pos + c->len - offset);
      if (x->verify && verify_chunk (x, i) == -1)
        return -1;
      if (xd_io_read (x->io, p, n, c->data + (offset - c->pos),
                      "chunk") == -1)
        return -1;
      i++;
    }
    p += n;
    count -= (uint32_t) n;
    offset += n;
  }
  return 0;
}

static int
xva_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
             xd_extent_fn add, void *opaque)
{
  struct xva *x = h;
  const struct vdi_state *v = x->disk;
  uint64_t end = xd_min_u64 (offset + count, xva_size (h));
  size_t i = find_chunk (v, offset);

  if (x->meta.legacy) {
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

  while (offset < end) {
    const struct chunk *c = i < v->n ? &v->chunks[i] : NULL;
    uint64_t n;
    uint32_t type;
    if (c == NULL || c->pos > offset) {
      n = (c ? xd_min_u64 (end, c->pos) : end) - offset;
      type = XD_EXTENT_HOLE | XD_EXTENT_ZERO;
    }
    else {
      n = xd_min_u64 (end, c->pos + c->len) - offset;
      type = XD_EXTENT_DATA;
      i++;
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
