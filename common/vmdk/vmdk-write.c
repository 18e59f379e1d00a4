/* xdisk vmdkx: writing into VMDK disks.
 *
 * Flat extents are written in place.  A hosted sparse extent (KDMV,
 * versions 1-3, not compressed) gets new grains appended at the end of
 * its file and new grain tables when its directory has none for a
 * range; both grain directories (and their tables) are kept in step.
 *
 * Crash safety.  The grain tables a writer changes are kept in memory
 * (struct vmdk_wtables) and written back by flush, in this order:
 *
 *   1. new grain tables, both copies, in space no entry points at yet;
 *   2. fdatasync: every grain and every new table is durable;
 *   3. the redundant copies: changed redundant tables, new RGD entries;
 *   4. fdatasync;
 *   5. the primary copies: changed grain tables, new GD entries;
 *   6. fdatasync.
 *
 * (tests/mutants.txt breaks each step in turn: test-vmdk-write's
 * power-loss cases, which also read every crash state through the
 * redundant tables, must catch every one.)
 *
 * So no entry ever points at unwritten data, and at any point an entry
 * set in the primary copy is set, to the same value, in the redundant
 * one (vmdk_disk_check verifies exactly that).  A crash before a flush
 * loses the grains allocated since the previous one (allowed: they
 * were never acknowledged as durable) and leaks their space at the end
 * of the file.  Writes into allocated grains and flat extents go to
 * the file directly, in parallel; allocation and write-back hold the
 * disk's lock (test-vmdk-write's allocation race holds one thread inside
 * it while another writes into the same grain; tests/mutants.txt lets
 * the second go on without it).
 *
 * The first write gives the disk a new random CID in its descriptor,
 * as VMware does, so that snapshots made of the old content no longer
 * match it (their parentCID check fails; xdisk does not look for them).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmdk/vmdk-write.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "core/xd-random.h"
#include "include/xd-report.h"

/* State of a grain table of a writable extent. */
enum { WT_CLEAN, WT_DIRTY, WT_NEW };

struct vmdk_wtables {
  struct vmdk_extent *e;        /* the extent they are of */
  uint32_t *rgd;                /* redundant GD (sectors), or NULL */
  uint32_t *rgd_new;            /* sectors of new redundant tables */
  uint32_t **gt;                /* loaded tables, host order, or NULL */
  unsigned char *state;         /* WT_* per table */
  uint32_t *dirty;              /* indexes of non-clean tables */
  size_t nr_dirty;
  uint64_t file_end;            /* next free byte (sector aligned) */
  uint64_t gt_bytes;            /* bytes of one table on disk */
  uint64_t nr_tables;           /* entries of the grain directory */
  bool zero_gte;                /* GTE 1 (zeroed grain) allowed */
  pthread_mutex_t load_lock;
};

/* The tables of extent E, installed with its lookup hook, or NULL. */
static inline struct vmdk_wtables *
wt_of (const struct vmdk_extent *e)
{
  return e->gte_opaque;
}

static int wt_lookup (void *opaque, uint64_t grain, uint32_t *gte);

/* ---- preparing a disk for writing ------------------------------------ */

static int
set_why (struct vmdk_disk *d, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static int
set_why (struct vmdk_disk *d, const char *fmt, ...)
{
  va_list ap;
  char *s;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (r == -1) {
    xd_error ("%s: vasprintf: %m", d->path);
    return -1;
  }
  free (d->why_buf);
  d->why_buf = s;
  d->readonly_why = s;
  return 0;
}

static void
wtables_free (struct vmdk_wtables *w)
{
  uint64_t i;

  if (w == NULL)
    return;
  for (i = 0; w->gt && i < w->nr_tables; ++i)
    free (w->gt[i]);
  free (w->rgd);
  free (w->rgd_new);
  free (w->state);
  free (w->dirty);
  free (w->gt);
  pthread_mutex_destroy (&w->load_lock);
  free (w);
}

/* Load the redundant grain directory of E into W. */
static int
load_rgd (struct vmdk_extent *e, struct vmdk_wtables *w)
{
  struct vmdk_sparse tmp = e->sp;
  uint64_t n = e->sp.nr_gd_entries, i;
  unsigned char *raw;

  w->rgd = calloc (n ? n : 1, sizeof *w->rgd);
  w->rgd_new = calloc (n ? n : 1, sizeof *w->rgd_new);
  raw = malloc (n ? n * 4 : 1);
  if (!w->rgd || !w->rgd_new || !raw) {
    free (raw);
    xd_error ("%s: malloc: %m", e->io->name);
    return -1;
  }
  /* The header's sector, untrusted: its byte offset must not wrap. */
  if (e->sp.rgd_offset > e->io->size / VMDK_SECTOR) {
    xd_error ("%s: the redundant grain directory at sector %" PRIu64
              " is beyond the end of the file", e->io->name,
              e->sp.rgd_offset);
    free (raw);
    errno = EIO;
    return -1;
  }
  if (xd_io_read (e->io, raw, n * 4, e->sp.rgd_offset * VMDK_SECTOR,
                  "redundant grain directory") == -1) {
    free (raw);
    return -1;
  }
  tmp.gd_offset = e->sp.rgd_offset;
  for (i = 0; i < n; ++i) {
    w->rgd[i] = xd_le32 (raw + i * 4);
    if (w->rgd[i] && vmdk_check_gt_offset (e->io, &tmp, i, w->rgd[i]) == -1) {
      free (raw);
      return -1;
    }
  }
  free (raw);
  return 0;
}

static int
wtables_new (struct vmdk_extent *e)
{
  struct vmdk_wtables *w = calloc (1, sizeof *w);
  uint64_t n = e->sp.nr_gd_entries;

  if (w == NULL) {
    xd_error ("%s: calloc: %m", e->io->name);
    return -1;
  }
  pthread_mutex_init (&w->load_lock, NULL);
  w->e = e;
  /* From now on the read path looks entries up in W. */
  e->gte_opaque = w;
  e->gte_lookup = wt_lookup;
  w->gt = calloc (n ? n : 1, sizeof *w->gt);
  w->state = calloc (n ? n : 1, 1);
  w->dirty = calloc (n ? n : 1, sizeof *w->dirty);
  if (!w->gt || !w->state || !w->dirty) {
    xd_error ("%s: calloc: %m", e->io->name);
    return -1;
  }
  w->gt_bytes = (uint64_t) e->sp.gtes_per_gt * 4;
  w->nr_tables = n;
  w->file_end = xd_div_round_up (e->io->size, VMDK_SECTOR) * VMDK_SECTOR;
  w->zero_gte = (e->sp.flags & VMDK_FLAG_ZERO_GTE) != 0;
  if ((e->sp.flags & VMDK_FLAG_REDUNDANT_GT) && e->sp.rgd_offset != 0)
    return load_rgd (e, w);
  return 0;
}

/* Reopen the extent file of E for writing (the resolver opens names
 * read-only; the name it gives is the resolved path).
 */
static int
reopen_rw (struct vmdk_disk *d, struct vmdk_extent *e)
{
  struct xd_io *rw;
  int err;

  if (e->io == d->io || xd_io_writable (e->io))
    return 0;
  xd_error_hold ();
  rw = xd_io_open_file_rw (e->io->name);
  err = errno;
  xd_error_release (false);
  if (rw == NULL)
    return set_why (d, "extent file %s cannot be opened for writing: %s",
                    e->io->name, strerror (err));
  xd_io_close (e->io);
  e->io = rw;
  return 0;
}

/* Why extent E of D cannot be written, set in D, or nothing. */
static int
check_extent (struct vmdk_disk *d, struct vmdk_extent *e, size_t i)
{
  if (e->access != VMDK_RW)
    return set_why (d, "extent %zu (descriptor line %u) is %s", i + 1,
                    e->line, vmdk_access_name (e->access));
  switch (e->kind) {
  case VMDK_ZERO:
    return set_why (d, "extent %zu (descriptor line %u) is a ZERO extent, "
                    "which holds no data", i + 1, e->line);
  case VMDK_VMFSSPARSE:
    return set_why (d, "%s is an ESX redo log (COWD, vmfsSparse): xdisk "
                    "serves these read-only", e->io->name);
  case VMDK_SESPARSE:
    return set_why (d, "%s is an ESXi seSparse snapshot: xdisk serves "
                    "these read-only", e->io->name);
  case VMDK_SPARSE:
    if (e->sp.compressed || e->sp.markers)
      return set_why (d, "%s is a streamOptimized extent (compressed grains "
                      "in stream order), which cannot be written in place: "
                      "create a new image with create=true "
                      "create-type=streamOptimized instead", e->io->name);
    if (e->sp.gd_offset == e->sp.rgd_offset &&
        (e->sp.flags & VMDK_FLAG_REDUNDANT_GT))
      return set_why (d, "%s: the primary grain directory is damaged (the "
                      "redundant one is in use): serving read-only",
                      e->io->name);
    break;
  case VMDK_FLAT:
    break;
  }
  return 0;
}

static bool
is_raw_device_map (const char *type)
{
  return type &&
    (strstr (type, "Raw") || strstr (type, "RDM") ||
     strcmp (type, "partitionedDevice") == 0 ||
     strcmp (type, "fullDevice") == 0);
}

int
vmdk_write_prepare (struct vmdk_disk *d)
{
  size_t i;

  d->writable = true;
  pthread_mutex_init (&d->lock, NULL);
  d->lock_init = true;
  if (is_raw_device_map (d->desc.create_type))
    return set_why (d, "createType %s maps a raw device: write to the "
                    "device on ESXi instead", d->desc.create_type);
  for (i = 0; i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    if (check_extent (d, e, i) == -1)
      return -1;
    if (d->readonly_why)
      return 0;
    if (reopen_rw (d, e) == -1)
      return -1;
    if (d->readonly_why)
      return 0;
    if (e->kind == VMDK_SPARSE && wtables_new (e) == -1)
      return -1;
  }
  return 0;
}

void
vmdk_write_release (struct vmdk_disk *d)
{
  size_t i;

  for (i = 0; i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    wtables_free (wt_of (e));
    e->gte_lookup = NULL;
    e->gte_opaque = NULL;
  }
  free (d->why_buf);
  d->why_buf = NULL;
  d->readonly_why = NULL;
  if (d->lock_init)
    pthread_mutex_destroy (&d->lock);
  d->lock_init = false;
}

bool
vmdk_disk_can_write (struct vmdk_disk *d, const char **why)
{
  *why = d->readonly_why;
  return d->writable && d->readonly_why == NULL;
}

/* ---- grain tables in memory ------------------------------------------ */

static int
load_table (struct vmdk_extent *e, uint64_t gti, uint32_t **out)
{
  struct vmdk_wtables *w = wt_of (e);
  uint32_t *t, sector;
  unsigned char *raw = NULL;
  char what[64];
  uint64_t j;
  int r = -1;

  pthread_mutex_lock (&w->load_lock);
  t = __atomic_load_n (&w->gt[gti], __ATOMIC_ACQUIRE);
  if (t) {
    r = 0;
    goto out;
  }
  sector = __atomic_load_n (&e->gd[gti], __ATOMIC_ACQUIRE);
  t = calloc (e->sp.gtes_per_gt, sizeof *t);
  raw = malloc (w->gt_bytes);
  if (t == NULL || raw == NULL) {
    xd_error ("%s: malloc: %m", e->io->name);
    free (t);
    t = NULL;
    goto out;
  }
  snprintf (what, sizeof what, "grain table %" PRIu64, gti);
  if (sector != 0 &&
      xd_io_read (e->io, raw, w->gt_bytes, (uint64_t) sector * VMDK_SECTOR,
                  what) == -1) {
    free (t);
    t = NULL;
    goto out;
  }
  for (j = 0; sector != 0 && j < e->sp.gtes_per_gt; ++j)
    t[j] = xd_le32 (raw + j * 4);
  __atomic_store_n (&w->gt[gti], t, __ATOMIC_RELEASE);
  r = 0;
 out:
  pthread_mutex_unlock (&w->load_lock);
  free (raw);
  *out = t;
  return r;
}

/* The entry of GRAIN in the tables OPAQUE (host order): the read
 * path's lookup hook, installed by wtables_new.
 */
static int
wt_lookup (void *opaque, uint64_t grain, uint32_t *gte)
{
  struct vmdk_wtables *w = opaque;
  struct vmdk_extent *e = w->e;
  uint64_t gti = grain / e->sp.gtes_per_gt;
  uint32_t *t = __atomic_load_n (&w->gt[gti], __ATOMIC_ACQUIRE);

  *gte = 0;
  if (t == NULL) {
    if (__atomic_load_n (&e->gd[gti], __ATOMIC_ACQUIRE) == 0)
      return 0;
    if (load_table (e, gti, &t) == -1)
      return -1;
  }
  *gte = __atomic_load_n (&t[grain % e->sp.gtes_per_gt], __ATOMIC_ACQUIRE);
  return 0;
}

static void
mark_dirty (struct vmdk_wtables *w, uint64_t gti, int state)
{
  if (w->state[gti] == WT_CLEAN)
    w->dirty[w->nr_dirty++] = gti;
  if (w->state[gti] != WT_NEW)
    w->state[gti] = state;
}

/* Space at the end of E's file: BYTES (a multiple of the sector) at
 * *SECTOR, which (with the space) must fit the 32-bit sector numbers
 * of grain tables.  Called with the disk's lock held.
 */
static int
reserve (struct vmdk_extent *e, uint64_t bytes, uint32_t *sector)
{
  struct vmdk_wtables *w = wt_of (e);
  uint64_t end = w->file_end + bytes;

  if (end / VMDK_SECTOR > UINT32_MAX) {
    xd_error ("%s: the extent file would grow beyond 2 TiB, the most a "
              "hosted sparse extent can address (32-bit sector numbers)",
              e->io->name);
    errno = EFBIG;
    return -1;
  }
  *sector = w->file_end / VMDK_SECTOR;
  w->file_end = end;
  return 0;
}

/* The table of grain range GTI, made (in memory, with its space
 * reserved) if the directory has none.  Lock held.
 */
static int
get_table (struct vmdk_extent *e, uint64_t gti, uint32_t **out)
{
  struct vmdk_wtables *w = wt_of (e);
  uint64_t bytes = xd_div_round_up (w->gt_bytes, VMDK_SECTOR) * VMDK_SECTOR;
  uint32_t sector, rsector = 0, *t;

  *out = __atomic_load_n (&w->gt[gti], __ATOMIC_ACQUIRE);
  if (*out)
    return 0;
  if (e->gd[gti] != 0)
    return load_table (e, gti, out);
  if (reserve (e, bytes, &sector) == -1 ||
      (w->rgd && reserve (e, bytes, &rsector) == -1))
    return -1;
  t = calloc (e->sp.gtes_per_gt, sizeof *t);
  if (t == NULL) {
    xd_error ("%s: calloc: %m", e->io->name);
    return -1;
  }
  __atomic_store_n (&w->gt[gti], t, __ATOMIC_RELEASE);
  __atomic_store_n (&e->gd[gti], sector, __ATOMIC_RELEASE);
  if (w->rgd)
    w->rgd_new[gti] = rsector;
  mark_dirty (w, gti, WT_NEW);
  *out = t;
  return 0;
}

/* Set the entry of GRAIN (lock held; its table exists). */
static void
set_gte (struct vmdk_extent *e, uint64_t grain, uint32_t value)
{
  uint64_t gti = grain / e->sp.gtes_per_gt;
  struct vmdk_wtables *w = wt_of (e);
  uint32_t *t = w->gt[gti];

  __atomic_store_n (&t[grain % e->sp.gtes_per_gt], value, __ATOMIC_RELEASE);
  mark_dirty (w, gti, WT_DIRTY);
}

/* ---- write-back (flush) ---------------------------------------------- */

static int
write_table (struct vmdk_extent *e, uint64_t gti, uint32_t sector,
             const char *what)
{
  const struct vmdk_wtables *wt = wt_of (e);
  unsigned char *raw = malloc (wt->gt_bytes);
  const uint32_t *t = wt->gt[gti];
  char w[64];
  uint64_t j;
  int r;

  if (raw == NULL) {
    xd_error ("%s: malloc: %m", e->io->name);
    return -1;
  }
  for (j = 0; j < e->sp.gtes_per_gt; ++j)
    xd_put_le32 (raw + j * 4, __atomic_load_n (&t[j], __ATOMIC_ACQUIRE));
  snprintf (w, sizeof w, "%s %" PRIu64, what, gti);
  r = xd_io_write (e->io, raw, wt->gt_bytes,
                   (uint64_t) sector * VMDK_SECTOR, w);
  free (raw);
  return r;
}

static int
write_gd_entry (struct vmdk_extent *e, uint64_t gd_sector, uint64_t gti,
                uint32_t value, const char *what)
{
  unsigned char b[4];

  xd_put_le32 (b, value);
  return xd_io_write (e->io, b, 4, gd_sector * VMDK_SECTOR + gti * 4, what);
}

/* Step STEP (1, 3 or 5 of the comment at the top) for extent E. */
static int
write_back_step (struct vmdk_extent *e, int step)
{
  struct vmdk_wtables *w = wt_of (e);
  size_t k;

  for (k = 0; k < w->nr_dirty; ++k) {
    uint64_t i = w->dirty[k];
    bool is_new = w->state[i] == WT_NEW;
    int r = 0;

    if (step == 1 && is_new) {
      r = write_table (e, i, e->gd[i], "new grain table");
      if (r == 0 && w->rgd)
        r = write_table (e, i, w->rgd_new[i], "new redundant grain table");
    }
    else if (step == 3 && w->rgd && is_new) {
      r = write_gd_entry (e, e->sp.rgd_offset, i, w->rgd_new[i],
                          "redundant grain directory");
      if (r == 0)
        w->rgd[i] = w->rgd_new[i];
    }
    else if (step == 3 && w->rgd && w->rgd[i])
      r = write_table (e, i, w->rgd[i], "redundant grain table");
    else if (step == 5 && is_new)
      r = write_gd_entry (e, e->sp.gd_offset, i, e->gd[i], "grain directory");
    else if (step == 5)
      r = write_table (e, i, e->gd[i], "grain table");
    if (r == -1)
      return -1;
  }
  return 0;
}

static bool
extent_dirty (const struct vmdk_extent *e)
{
  const struct vmdk_wtables *w = wt_of (e);

  return w && w->nr_dirty > 0;
}

/* fdatasync every file written since the last flush (ALL: every file
 * with dirty tables too).
 */
static int
sync_files (struct vmdk_disk *d)
{
  size_t i;

  if (atomic_exchange (&d->desc_written, false) &&
      xd_io_flush (d->desc_io) == -1) {
    d->desc_written = true;
    return -1;
  }
  for (i = 0; i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    if (!atomic_exchange (&e->written, false) && !extent_dirty (e))
      continue;
    if (xd_io_flush (e->io) == -1) {
      e->written = true;
      return -1;
    }
  }
  return 0;
}

/* Write every changed table back, in the crash-safe order.  Lock held. */
static int
write_back (struct vmdk_disk *d)
{
  static const int steps[] = { 1, 3, 5 };
  size_t i, s;

  for (s = 0; s < 3; ++s) {
    for (i = 0; i < d->nr_extents; ++i)
      if (extent_dirty (&d->extents[i]) &&
          write_back_step (&d->extents[i], steps[s]) == -1)
        return -1;
    if (sync_files (d) == -1)
      return -1;
  }
  for (i = 0; i < d->nr_extents; ++i) {
    struct vmdk_wtables *w = wt_of (&d->extents[i]);
    size_t k;
    if (w == NULL)
      continue;
    for (k = 0; k < w->nr_dirty; ++k)
      w->state[w->dirty[k]] = WT_CLEAN;
    w->nr_dirty = 0;
  }
  return 0;
}

int
vmdk_disk_flush (struct vmdk_disk *d)
{
  int r;

  if (!d->writable || d->readonly_why)
    return 0;
  pthread_mutex_lock (&d->lock);
  r = write_back (d);
  pthread_mutex_unlock (&d->lock);
  return r;
}

/* ---- the CID ---------------------------------------------------------- */

/* A new CID: random, and neither the old one nor one of the values
 * that mean "none" (ffffffff) or "new" (fffffffe).
 */
uint32_t
vmdk_new_cid (uint32_t old)
{
  uint32_t c;

  do
    c = xd_random_u32 ();
  while (c == old || c >= 0xfffffffeU);
  return c;
}

/* Where the value of the CID line starts in the descriptor text, and
 * how long it is; false if there is no CID line.
 */
static bool
find_cid (const char *t, size_t *pos, size_t *len)
{
  const char *p = t;

  while (p && *p) {
    const char *q = p + strspn (p, " \t");
    if (strncmp (q, "CID", 3) == 0) {
      const char *v = q + 3 + strspn (q + 3, " \t");
      if (*v == '=') {
        v++;
        v += strspn (v, " \t\"");
        *pos = v - t;
        *len = strspn (v, "0123456789abcdefABCDEF");
        return true;
      }
    }
    p = strchr (p, '\n');
    if (p)
      p++;
  }
  return false;
}

/* Write CID over the old value in the descriptor, in place and with
 * as many digits as the old one had (qemu writes no leading zeros), so
 * that the descriptor never changes length: one small write that a
 * crash leaves either old or new (or, torn at a sector boundary, a mix
 * of both: still a valid CID).  *CID is made to fit the digits.
 */
static int
replace_cid (struct vmdk_disk *d, uint32_t *cid)
{
  char val[32];
  size_t pos, len;

  if (!find_cid (d->desc_text, &pos, &len) || len == 0 ||
      len >= sizeof val) {
    xd_debug ("%s: the descriptor has no CID line to update", d->path);
    return 0;
  }
  if (len < 8)
    *cid &= (UINT32_C (1) << (4 * len)) - 1;
  if (*cid == d->desc.cid)
    *cid ^= 1;
  snprintf (val, sizeof val, "%0*" PRIx32, (int) len, *cid);
  if (xd_io_write (d->desc_io, val, len, d->desc_offset + pos,
                   "descriptor CID") == -1)
    return -1;
  memcpy (d->desc_text + pos, val, len);
  d->desc_written = true;
  return 0;
}

/* The first write: a new CID, as VMware gives a disk whose content
 * changes.
 */
static int
first_write (struct vmdk_disk *d)
{
  int r = 0;

  if (__atomic_load_n (&d->cid_done, __ATOMIC_ACQUIRE))
    return 0;
  pthread_mutex_lock (&d->lock);
  if (!d->cid_done) {
    uint32_t cid = vmdk_new_cid (d->desc.cid);
    r = replace_cid (d, &cid);
    if (r == 0) {
      xd_debug ("%s: first write: CID %08" PRIx32 " -> %08" PRIx32,
                d->path, d->desc.cid, cid);
      d->desc.cid = cid;
      __atomic_store_n (&d->cid_done, true, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock (&d->lock);
  return r;
}

/* ---- writing sparse extents ------------------------------------------ */

/* Fill G (one grain) with what grain GRAIN of E holds below its state
 * ST: zeros, or the parent's data.  SKIP: the bytes [A, B) about to be
 * overwritten need not be read.
 */
static int
grain_base (struct vmdk_disk *d, struct vmdk_extent *e, uint64_t grain,
            enum vmdk_grain_state st, unsigned char *g, uint64_t a,
            uint64_t b)
{
  uint64_t start = grain * e->grain_bytes;
  uint64_t len = xd_min_u64 (e->grain_bytes, e->length - start);

  memset (g, 0, e->grain_bytes);
  if (st == VMDK_GRAIN_ZERO || d->parent == NULL ||
      e->start + start >= d->parent->size)
    return 0;
  if (a > 0 && vmdk_read_parent (d, g, xd_min_u64 (a, len),
                                 e->start + start) == -1)
    return -1;
  if (b < len && vmdk_read_parent (d, g + b, len - b,
                                   e->start + start + b) == -1)
    return -1;
  return 0;
}

/* Allocate the grains [G0, G0 + N) of E (all not allocated, checked
 * under the lock by the caller) with contents BUF (N grains): tables
 * first, then the grains in one run at the end of the file, then the
 * entries.  Lock held.
 */
static int
alloc_grains (struct vmdk_extent *e, uint64_t g0, uint64_t n,
              const unsigned char *buf)
{
  uint32_t *t, sector;
  uint64_t i, off;

  for (i = 0; i < n; ++i)
    if (get_table (e, (g0 + i) / e->sp.gtes_per_gt, &t) == -1)
      return -1;
  off = wt_of (e)->file_end;
  if (reserve (e, n * e->grain_bytes, &sector) == -1)
    return -1;
  if (xd_io_write (e->io, buf, n * e->grain_bytes, off, "new grains") == -1) {
    wt_of (e)->file_end = off;
    return -1;
  }
  e->written = true;
  for (i = 0; i < n; ++i)
    set_gte (e, g0 + i, sector + i * e->sp.grain_sectors);
  return 0;
}

/* The longest run of grains from G0 (at most MAX) that are not
 * allocated, under the lock.  Their states go in ST.
 */
static int
unallocated_run (struct vmdk_extent *e, uint64_t g0, uint64_t max,
                 enum vmdk_grain_state *st, uint64_t *n)
{
  uint64_t i, sector;

  for (i = 0; i < max; ++i) {
    if (vmdk_lookup_grain (e, g0 + i, &st[i], &sector) == -1)
      return -1;
    if (st[i] == VMDK_GRAIN_DATA)
      break;
  }
  *n = i;
  return 0;
}

/* Write COUNT bytes of BUF at REL of E, starting in grain G0 (not
 * allocated when looked at): allocate the run of unallocated grains it
 * covers, read-modify-writing the partial grains at either end.  Sets
 * *DONE to the bytes written (0 if the first grain got allocated by
 * another thread meanwhile: the caller writes it in place).
 */
static int
write_new_grains (struct vmdk_disk *d, struct vmdk_extent *e,
                  const unsigned char *buf, uint64_t count, uint64_t rel,
                  uint64_t *done)
{
  uint64_t gb = e->grain_bytes, g0 = rel / gb, inoff = rel % gb;
  uint64_t max = xd_div_round_up (inoff + count, gb), n, i, len;
  enum vmdk_grain_state *st = NULL;
  unsigned char *g = NULL;
  int r = -1;

  *done = 0;
  st = malloc (max * sizeof *st);
  if (st == NULL) {
    xd_error ("%s: malloc: %m", e->io->name);
    return -1;
  }
  pthread_mutex_lock (&d->lock);
  if (unallocated_run (e, g0, max, st, &n) == -1)
    goto out;
  if (n == 0) {
    r = 0;
    goto out;
  }
  len = xd_min_u64 (count, n * gb - inoff);
  g = malloc (n * gb);
  if (g == NULL) {
    xd_error ("%s: malloc: %m", e->io->name);
    goto out;
  }
  for (i = 0; i < n; ++i) {
    uint64_t a = i == 0 ? inoff : 0;
    uint64_t b = xd_min_u64 (gb, inoff + len - i * gb);
    if ((a > 0 || b < gb) &&
        grain_base (d, e, g0 + i, st[i], g + i * gb, a, b) == -1)
      goto out;
  }
  memcpy (g + inoff, buf, len);
  if (alloc_grains (e, g0, n, g) == -1)
    goto out;
  *done = len;
  r = 0;
 out:
  pthread_mutex_unlock (&d->lock);
  free (g);
  free (st);
  return r;
}

static int
write_sparse (struct vmdk_disk *d, struct vmdk_extent *e,
              const unsigned char *buf, uint64_t count, uint64_t rel)
{
  enum vmdk_grain_state st;
  uint64_t n, sector = 0, done;

  while (count > 0) {
    uint64_t grain = rel / e->grain_bytes, inoff = rel % e->grain_bytes;
    if (vmdk_lookup_grain (e, grain, &st, &sector) == -1)
      return -1;
    if (st != VMDK_GRAIN_DATA) {
      if (write_new_grains (d, e, buf, count, rel, &done) == -1)
        return -1;
      if (done > 0) {
        buf += done;
        rel += done;
        count -= done;
        continue;
      }
      if (vmdk_lookup_grain (e, grain, &st, &sector) == -1)
        return -1;
    }
    n = xd_min_u64 (count, e->grain_bytes - inoff);
    if (xd_io_write (e->io, buf, n, (uint64_t) sector * VMDK_SECTOR + inoff,
                     "grain") == -1)
      return -1;
    e->written = true;
    buf += n;
    rel += n;
    count -= n;
  }
  return 0;
}

/* Call FN for each piece of [OFFSET, OFFSET+COUNT) in one extent. */
typedef int (*piece_fn) (struct vmdk_disk *d, struct vmdk_extent *e,
                         const unsigned char *buf, uint64_t n, uint64_t rel,
                         void *opaque);

static int
for_each_piece (struct vmdk_disk *d, const unsigned char *buf,
                uint64_t count, uint64_t offset, piece_fn fn, void *opaque)
{
  size_t i = vmdk_find_extent (d, offset);

  for (; count > 0 && i < d->nr_extents; ++i) {
    struct vmdk_extent *e = &d->extents[i];
    uint64_t rel = offset - e->start, n;

    if (e->length == 0 || rel >= e->length)
      continue;
    n = xd_min_u64 (count, e->length - rel);
    if (fn (d, e, buf, n, rel, opaque) == -1)
      return -1;
    if (buf)
      buf += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static int
write_piece (struct vmdk_disk *d, struct vmdk_extent *e,
             const unsigned char *buf, uint64_t n, uint64_t rel,
             void *opaque)
{
  (void) opaque;
  if (e->kind == VMDK_FLAT) {
    e->written = true;
    return xd_io_write (e->io, buf, n, e->file_offset + rel, "flat extent");
  }
  return write_sparse (d, e, buf, n, rel);
}

static int
refuse_readonly (struct vmdk_disk *d)
{
  xd_error ("%s: cannot write: %s", d->path,
            d->readonly_why ? d->readonly_why : "opened read-only");
  errno = EROFS;
  return -1;
}

int
vmdk_disk_write (struct vmdk_disk *d, const void *buf, uint64_t count,
                 uint64_t offset)
{
  if (!d->writable || d->readonly_why)
    return refuse_readonly (d);
  if (first_write (d) == -1)
    return -1;
  return for_each_piece (d, buf, count, offset, write_piece, NULL);
}

/* ---- zeroing ---------------------------------------------------------- */

struct zero_args {
  bool may_trim, fast;
  bool trim;                    /* trim: never allocate */
  bool probe;                   /* only fail if a piece would be slow */
};

/* Zero one piece of grain GRAIN of E that is not allocated (state ST)
 * and which the parent would show through: a zeroed-grain entry where
 * the header allows and the whole grain goes, else a grain of zeros
 * (with the parent's data around a partial piece).
 */
static int
zero_over_parent (struct vmdk_disk *d, struct vmdk_extent *e, uint64_t grain,
                  uint64_t inoff, uint64_t n, bool fast)
{
  enum vmdk_grain_state st;
  uint64_t sector, done;
  uint32_t *t;
  unsigned char *z;
  int r = -1;

  if (wt_of (e)->zero_gte && n == e->grain_bytes) {
    pthread_mutex_lock (&d->lock);
    if (vmdk_lookup_grain (e, grain, &st, &sector) == -1 ||
        get_table (e, grain / e->sp.gtes_per_gt, &t) == -1)
      r = -1;
    else if (st == VMDK_GRAIN_UNALLOCATED) {
      set_gte (e, grain, 1);
      r = 0;
    }
    else if (st == VMDK_GRAIN_DATA) {
      /* Allocated meanwhile by another thread. */
      e->written = true;
      r = xd_io_zero (e->io, (uint64_t) sector * VMDK_SECTOR,
                      e->grain_bytes, "grain");
    }
    else
      r = 0;
    pthread_mutex_unlock (&d->lock);
    return r;
  }
  if (fast) {
    errno = ENOTSUP;
    return -1;
  }
  z = calloc (1, n);
  if (z == NULL) {
    xd_error ("%s: calloc: %m", e->io->name);
    return -1;
  }
  r = write_new_grains (d, e, z, n, grain * e->grain_bytes + inoff, &done);
  if (r == 0 && done == 0)
    r = write_sparse (d, e, z, n, grain * e->grain_bytes + inoff);
  free (z);
  return r;
}

static int
zero_sparse (struct vmdk_disk *d, struct vmdk_extent *e, uint64_t count,
             uint64_t rel, const struct zero_args *za)
{
  enum vmdk_grain_state st;
  uint64_t sector = 0;

  while (count > 0) {
    uint64_t grain = rel / e->grain_bytes, inoff = rel % e->grain_bytes;
    uint64_t n = xd_min_u64 (count, e->grain_bytes - inoff);
    bool below = d->parent && e->start + rel < d->parent->size;

    if (vmdk_lookup_grain (e, grain, &st, &sector) == -1)
      return -1;
    if (za->probe) {
      /* zero_over_parent is fast only with a zeroed-grain entry. */
      if (st == VMDK_GRAIN_UNALLOCATED && below && !za->trim &&
          !(wt_of (e)->zero_gte && n == e->grain_bytes)) {
        errno = ENOTSUP;
        return -1;
      }
    }
    else if (st == VMDK_GRAIN_DATA) {
      /* Zeros in place: a hole in the file where it can. */
      e->written = true;
      if (xd_io_zero (e->io, (uint64_t) sector * VMDK_SECTOR + inoff, n,
                      "grain") == -1)
        return -1;
    }
    else if (st == VMDK_GRAIN_UNALLOCATED && below && !za->trim &&
             zero_over_parent (d, e, grain, inoff, n, za->fast) == -1)
      return -1;
    rel += n;
    count -= n;
  }
  return 0;
}

static int
zero_piece (struct vmdk_disk *d, struct vmdk_extent *e,
            const unsigned char *buf, uint64_t n, uint64_t rel, void *opaque)
{
  struct zero_args *za = opaque;

  (void) buf;
  if (za->probe)
    return e->kind == VMDK_FLAT ? 0 : zero_sparse (d, e, n, rel, za);
  if (e->kind == VMDK_FLAT) {
    e->written = true;
    return xd_io_zero (e->io, e->file_offset + rel, n, "flat extent");
  }
  return zero_sparse (d, e, n, rel, za);
}

int
vmdk_disk_zero (struct vmdk_disk *d, uint64_t count, uint64_t offset,
                bool may_trim, bool fast)
{
  struct zero_args za = { .may_trim = may_trim, .fast = fast };
  struct zero_args probe = { .fast = true, .probe = true };

  if (!d->writable || d->readonly_why)
    return refuse_readonly (d);
  /* A fast zero that cannot be done fast fails before it changes
   * anything (NBD: fail fast without modifying the disk): look at every
   * grain first, then zero.
   */
  if (fast && for_each_piece (d, NULL, count, offset, zero_piece,
                              &probe) == -1)
    return -1;
  if (first_write (d) == -1)
    return -1;
  return for_each_piece (d, NULL, count, offset, zero_piece, &za);
}

/* Trim: holes in flat extents and in allocated grains (they read as
 * zeros); unallocated grains keep showing what they showed (the
 * parent's data), so nothing is allocated.  Grain space is not given
 * back to the grain table: VMware has no state for a freed grain.
 */
int
vmdk_disk_trim (struct vmdk_disk *d, uint64_t count, uint64_t offset)
{
  struct zero_args za = { .may_trim = true, .trim = true };

  if (!d->writable || d->readonly_why)
    return refuse_readonly (d);
  if (first_write (d) == -1)
    return -1;
  return for_each_piece (d, NULL, count, offset, zero_piece, &za);
}
