/* xdisk: XVA exports as a format driver; see xva.h.
 *
 * ova.xml is read by xva-meta.c; the chunk index, and the walk over
 * the tar headers that builds it, are in xva-index.c.  Here: choosing
 * the disk, legacy exports, checksums, and serving reads and extents.
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
#include "include/xd-report.h"
#include "archive/xd-tar.h"
#include "appliance/xva-index.h"
#include "appliance/xva.h"

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

static bool
zstd_magic (const uint8_t *head, size_t len)
{
  return len >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f &&
    head[3] == 0xfd;
}

bool
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
  return xd_tar_probe_first (io, head, len, "ova.xml", true) ||
         xd_tar_unfinished (head, len, "XVA");
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
    if (xva_walk_step (x) == -1)
      return -1;
  if (r == 0) {
    if (xva_walk_to_end (x) == -1)  /* to list every disk */
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

void *
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
      xd_appliance_refuse_unfinished (x->io, "XVA") == -1 ||
      (x->cursor = xd_tar_cursor_new (x->io)) == NULL)
    goto fail;
  if (xva_walk_step (x) == -1)      /* ova.xml */
    goto fail;
  if (!x->saw_xml) {
    xd_error ("%s: empty archive, not an XVA", x->io->name);
    errno = EIO;
    goto fail;
  }
  if (x->meta.legacy)
    eager = SIZE_MAX;           /* few members, all needed at open */
  while (!x->walk_done && x->members < eager)
    if (xva_walk_step (x) == -1)
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

void
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

uint64_t
xva_size (void *h)
{
  struct xva *x = h;

  return x->meta.vdis[x->chosen].size;
}

uint32_t
xva_preferred_block (void *h XD_UNUSED)
{
  return XD_XVA_CHUNK;
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

int
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

  if (xva_index_to (x, offset + count, SIZE_MAX) == -1)
    return -1;
  while (count > 0) {
    struct chunk c;
    size_t i;
    bool have = xva_chunk_at (x, offset, &i, &c);
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
int
xva_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
             xd_extent_fn add, void *opaque)
{
  struct xva *x = h;
  uint64_t end = xd_min_u64 (offset + count, xva_size (h));

  if (x->meta.legacy)
    return legacy_extents (x, offset, end, req_one, add, opaque);
  if (xva_index_to (x, offset + 1, SIZE_MAX) == -1 ||
      xva_index_to (x, end, EXTENTS_AHEAD) == -1)
    return -1;
  pthread_mutex_lock (&x->lock);
  end = xd_min_u64 (end, xva_indexed_to (x));
  pthread_mutex_unlock (&x->lock);

  while (offset < end) {
    struct chunk c;
    size_t i;
    bool have = xva_chunk_at (x, offset, &i, &c);
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

char *
xva_describe (void *h)
{
  struct xva *x = h;

  return x->description ? strdup (x->description) : NULL;
}

const struct xd_format xd_reader_xva = {
  XVA_READ_FIELDS,
};
