/* xdisk: an XVA's chunk index, built by a walk over the tar headers
 * that goes on after open as far as reads need it; see xva.h.
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

#include "include/xd-math.h"
#include "include/xd-search.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"
#include "archive/xd-tar.h"
#include "appliance/xva-index.h"
#include "appliance/xva.h"

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
int
xva_walk_step (struct xva *x)
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
uint64_t
xva_indexed_to (const struct xva *x)
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
  r = xva_indexed_to (x) >= end;
  pthread_mutex_unlock (&x->lock);
  return r;
}

/* Walk until the chosen disk is indexed up to END, or MAX_STEPS
 * members later.  0, or -1 after reporting.
 */
int
xva_index_to (struct xva *x, uint64_t end, size_t max_steps)
{
  size_t steps;
  int r = 0;

  if (indexed_beyond (x, end))
    return 0;
  pthread_mutex_lock (&x->walk_lock);
  for (steps = 0; steps < max_steps && !indexed_beyond (x, end); steps++)
    if ((r = xva_walk_step (x)) == -1)
      break;
  pthread_mutex_unlock (&x->walk_lock);
  return r;
}

int
xva_walk_to_end (struct xva *x)
{
  while (!x->walk_done)
    if (xva_walk_step (x) == -1)
      return -1;
  return 0;
}

/* ---- lookups ---- */

/* The first chunk ending after OFFSET (n if none). */
static size_t
find_chunk (const struct vdi_state *v, uint64_t offset)
{
  return XD_SEARCH_ENDING_AFTER (v->chunks, v->n, pos, len, offset);
}

/* The chunk holding or after OFFSET, copied (the index may grow under
 * other threads): false if none is indexed there.
 */
bool
xva_chunk_at (struct xva *x, uint64_t offset, size_t *i, struct chunk *c)
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
