/* xdisk: power-loss simulation for the write paths, see xd-crash.h. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib/xd-crash.h"
#include "testlib/xd-pattern.h"
#include "include/xd-iszero.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define SECTOR 512


/* ---- crash states ---- */

/* What the recorder logs (below). */
enum rec_kind { REC_WRITE, REC_TRUNCATE, REC_FLUSH, REC_MARK };

struct rec_entry {
  enum rec_kind kind;
  uint64_t offset;              /* write: where; truncate: new size */
  size_t len;                   /* write: bytes in DATA */
  unsigned char *data;
  unsigned long mark;           /* REC_MARK: client ops flushed */
};

/* A crash state: the file's bytes, and which of its sectors were ever
 * written (or were in the image at the start): the others are holes.
 */
struct state {
  unsigned char *buf;
  unsigned char *written;       /* one per sector */
  size_t len, cap;
};

static int
state_reserve (struct state *st, size_t len)
{
  if (len > st->cap) {
    size_t cap = st->cap ? st->cap : 65536;
    unsigned char *p, *w;
    while (cap < len)
      cap *= 2;
    p = realloc (st->buf, cap);
    if (p == NULL)
      return -1;
    st->buf = p;
    w = realloc (st->written, cap / SECTOR + 1);
    if (w == NULL)
      return -1;
    st->written = w;
    st->cap = cap;
  }
  return 0;
}

static void
state_free (struct state *st)
{
  free (st->buf);
  free (st->written);
}

/* DST (empty) becomes a copy of SRC. */
static int
state_copy (struct state *dst, const struct state *src)
{
  if (state_reserve (dst, src->len) == -1)
    return -1;
  memcpy (dst->buf, src->buf, src->len);
  memcpy (dst->written, src->written, (src->len + SECTOR - 1) / SECTOR);
  dst->len = src->len;
  return 0;
}

/* Mark the sectors holding bytes [FROM, TO) as written (or holes). */
static void
state_mark (struct state *st, uint64_t from, uint64_t to, bool written)
{
  if (from < to)
    memset (st->written + from / SECTOR, written,
            (to + SECTOR - 1) / SECTOR - from / SECTOR);
}

/* Grow ST to LEN bytes, the new space a hole (zeros). */
static void
state_grow (struct state *st, size_t len)
{
  memset (st->buf + st->len, 0, len - st->len);
  state_mark (st, xd_div_round_up (st->len, SECTOR) * SECTOR, len, false);
  st->len = len;
}

/* Apply entry E to ST; when SECTORS is non-NULL, only the sectors of a
 * write it selects (a torn write).
 */
static int
state_apply (struct state *st, const struct rec_entry *e,
             const bool *sectors)
{
  size_t end, i;

  if (e->kind == REC_TRUNCATE) {
    if (state_reserve (st, e->offset) == -1)
      return -1;
    if (e->offset > st->len)
      state_grow (st, e->offset);
    st->len = e->offset;
    return 0;
  }
  if (e->kind != REC_WRITE)
    return 0;
  end = e->offset + e->len;
  if (state_reserve (st, end) == -1)
    return -1;
  if (end > st->len)
    state_grow (st, end);
  if (sectors == NULL) {
    memcpy (st->buf + e->offset, e->data, e->len);
    state_mark (st, e->offset, end, true);
    return 0;
  }
  for (i = 0; i * SECTOR < e->len; i++)
    if (sectors[i]) {
      size_t n = xd_min_u64 (SECTOR, e->len - i * SECTOR);
      memcpy (st->buf + e->offset + i * SECTOR, e->data + i * SECTOR, n);
      state_mark (st, e->offset + i * SECTOR, e->offset + i * SECTOR + n,
                  true);
    }
  return 0;
}

/* Garbage: what a sector a file system gave the file before the data
 * landed may hold.  Never zero, never an op's pattern.
 */
static void
fill_garbage (unsigned char *p, uint64_t offset, uint64_t count)
{
  uint64_t i;

  for (i = 0; i < count; i++)
    p[i] = (unsigned char) (((offset + i) * 0x9D) >> 3) | 0x41;
}

/* A write W that did not land (or the sectors of a torn one not in
 * SECTORS) leaves garbage in the sectors of the file it covers that no
 * write ever reached (holes, or space the file grew into past it).
 */
static void
state_expose (struct state *st, const struct rec_entry *w,
              const bool *sectors)
{
  uint64_t s, from, to, a, b;
  size_t i;

  if (w->kind != REC_WRITE)
    return;
  for (i = 0; i * SECTOR < w->len; i++) {
    if (sectors && sectors[i])
      continue;
    from = w->offset + i * SECTOR;
    to = xd_min_u64 (w->offset + xd_min_u64 ((i + 1) * SECTOR, w->len),
                     st->len);
    /* Only its own bytes: it need not be aligned to the file's sectors. */
    for (s = from / SECTOR; s * SECTOR < to; s++) {
      a = xd_max_u64 (from, s * SECTOR);
      b = xd_min_u64 (to, (s + 1) * SECTOR);
      if (!st->written[s])
        fill_garbage (st->buf + a, a, b - a);
    }
  }
}

/* ---- the recorder ---- */

struct xd_recorder {
  pthread_mutex_t lock;
  struct xd_io *mem;            /* the current bytes */
  struct state now;             /* the same, and which sectors are holes */
  struct state base;            /* that at xd_recorder_start */
  struct rec_entry *log;
  size_t n, cap;
};

static int
rec_append (struct xd_recorder *rec, struct rec_entry e)
{
  if (rec->n == rec->cap) {
    size_t cap = rec->cap ? rec->cap * 2 : 256;
    struct rec_entry *p = realloc (rec->log, cap * sizeof *p);
    if (p == NULL)
      return -1;
    rec->log = p;
    rec->cap = cap;
  }
  rec->log[rec->n++] = e;
  return 0;
}

static int
rec_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  struct xd_recorder *rec = io->priv;

  return rec->mem->ops->pread (rec->mem, buf, count, offset);
}

static int
rec_pwrite (struct xd_io *io, const void *buf, size_t count, uint64_t offset)
{
  struct xd_recorder *rec = io->priv;
  struct rec_entry e = { .kind = REC_WRITE, .offset = offset, .len = count };
  int r = -1;

  pthread_mutex_lock (&rec->lock);
  e.data = malloc (count ? count : 1);
  if (e.data) {
    memcpy (e.data, buf, count);
    if (state_apply (&rec->now, &e, NULL) == 0 && rec_append (rec, e) == 0)
      r = xd_io_write (rec->mem, buf, count, offset, "recorded write");
    else
      free (e.data);
  }
  pthread_mutex_unlock (&rec->lock);
  return r;
}

static int
rec_flush (struct xd_io *io)
{
  struct xd_recorder *rec = io->priv;
  struct rec_entry e = { .kind = REC_FLUSH };
  int r;

  pthread_mutex_lock (&rec->lock);
  r = rec_append (rec, e);
  pthread_mutex_unlock (&rec->lock);
  return r;
}

static int
rec_truncate (struct xd_io *io, uint64_t size)
{
  struct xd_recorder *rec = io->priv;
  struct rec_entry e = { .kind = REC_TRUNCATE, .offset = size };
  int r = -1;

  pthread_mutex_lock (&rec->lock);
  if (state_apply (&rec->now, &e, NULL) == 0 && rec_append (rec, e) == 0)
    r = xd_io_truncate (rec->mem, size, "recorded truncate");
  pthread_mutex_unlock (&rec->lock);
  return r;
}

static void
rec_close (struct xd_io *io XD_UNUSED)
{
  /* The recorder outlives its io. */
}

static const struct xd_io_ops recorder_ops = {
  .pread = rec_pread,
  .close = rec_close,
  .pwrite = rec_pwrite,
  .flush = rec_flush,
  .truncate = rec_truncate,
};

struct xd_io *
xd_recorder_io_new (const void *buf, size_t len, const char *name,
                    struct xd_recorder **recp)
{
  struct xd_recorder *rec = calloc (1, sizeof *rec);
  struct xd_io *io;

  if (rec == NULL)
    return NULL;
  rec->mem = xd_io_new_memory_rw (buf, len, name);
  if (rec->mem == NULL || state_reserve (&rec->now, len) == -1) {
    xd_io_close (rec->mem);
    state_free (&rec->now);
    free (rec);
    return NULL;
  }
  /* What the image held at the start is data, not holes. */
  if (len)
    memcpy (rec->now.buf, buf, len);
  state_mark (&rec->now, 0, len, true);
  rec->now.len = len;
  pthread_mutex_init (&rec->lock, NULL);
  io = xd_io_new (&recorder_ops, name, len, rec);
  if (io == NULL) {
    xd_recorder_free (rec);
    return NULL;
  }
  *recp = rec;
  return io;
}

static void
rec_clear_log (struct xd_recorder *rec)
{
  size_t i;

  for (i = 0; i < rec->n; i++)
    free (rec->log[i].data);
  rec->n = 0;
}

void
xd_recorder_start (struct xd_recorder *rec)
{
  pthread_mutex_lock (&rec->lock);
  rec_clear_log (rec);
  rec->base.len = 0;
  if (state_copy (&rec->base, &rec->now) == -1)
    rec->base.len = (size_t) -1;        /* check_log fails */
  else                          /* its holes are not known to be holes */
    state_mark (&rec->base, 0, rec->base.len, true);
  pthread_mutex_unlock (&rec->lock);
}

static void
rec_mark (struct xd_recorder *rec, unsigned long ops_flushed)
{
  struct rec_entry e = { .kind = REC_MARK, .mark = ops_flushed };

  pthread_mutex_lock (&rec->lock);
  rec_append (rec, e);
  pthread_mutex_unlock (&rec->lock);
}

void
xd_recorder_counts (const struct xd_recorder *rec, size_t *writes,
                    size_t *flushes)
{
  size_t i;

  *writes = *flushes = 0;
  for (i = 0; i < rec->n; i++) {
    if (rec->log[i].kind == REC_FLUSH)
      (*flushes)++;
    else if (rec->log[i].kind != REC_MARK)
      (*writes)++;
  }
}

void
xd_recorder_free (struct xd_recorder *rec)
{
  if (rec == NULL)
    return;
  rec_clear_log (rec);
  free (rec->log);
  state_free (&rec->base);
  state_free (&rec->now);
  xd_io_close (rec->mem);
  pthread_mutex_destroy (&rec->lock);
  free (rec);
}

/* ---- the client's operations and what each sector may hold ---- */

enum op_kind { OP_WRITE, OP_ZERO };

struct client_op {
  enum op_kind kind;
  uint64_t first, count;        /* sectors */
};

/* What each sector may hold once the client ops 1..FLUSHED are durable:
 * STABLE[s] is the last of them to touch s (0: the base contents), and
 * PENDING_ZERO[s] says a later zero op touches s.
 */
struct model {
  const struct client_op *ops;  /* ops[k - 1] is op k */
  unsigned long nr_ops;
  uint64_t nr_sectors;
  const unsigned char *base_disk;
  uint64_t seed;                /* of the sector contents */
  unsigned long flushed;
  bool ready;                   /* pending_* computed for FLUSHED */
  unsigned long *stable;
  bool *pending_zero;
  bool *pending_write;
  bool garbled;                 /* the state has a garbled sector */
};

static void
model_advance (struct model *m, unsigned long flushed)
{
  unsigned long k;
  uint64_t s;

  if (flushed < m->flushed || (m->ready && flushed == m->flushed))
    return;
  m->ready = true;
  for (k = m->flushed + 1; k <= flushed; k++)
    for (s = 0; s < m->ops[k - 1].count; s++)
      m->stable[m->ops[k - 1].first + s] = k;
  m->flushed = flushed;
  memset (m->pending_zero, 0, m->nr_sectors * sizeof *m->pending_zero);
  memset (m->pending_write, 0, m->nr_sectors * sizeof *m->pending_write);
  for (k = flushed + 1; k <= m->nr_ops; k++)
    for (s = 0; s < m->ops[k - 1].count; s++)
      if (m->ops[k - 1].kind == OP_ZERO)
        m->pending_zero[m->ops[k - 1].first + s] = true;
      else
        m->pending_write[m->ops[k - 1].first + s] = true;
}

static bool
op_covers (const struct client_op *op, uint64_t s)
{
  return s >= op->first && s - op->first < op->count;
}

/* Whether sector S may read as SEC: XD_PL_OK, or the kind of failure
 * (described in WHY).
 */
static enum xd_powerloss_failure
sector_allowed (const struct model *m, uint64_t s, const unsigned char *sec,
                char *why, size_t why_len)
{
  unsigned long st = m->stable[s], k = xd_pattern_op (m->seed, sec, s);
  const unsigned char *base = m->base_disk + s * SECTOR;

  if (k != 0) {
    if (k == st && m->ops[k - 1].kind == OP_WRITE)
      return XD_PL_OK;
    if (k > m->flushed && k <= m->nr_ops &&
        m->ops[k - 1].kind == OP_WRITE && op_covers (&m->ops[k - 1], s))
      return XD_PL_OK;
    snprintf (why, why_len, "holds the data of op %lu, but op %lu was the "
              "last flushed write there", k, st);
    return k < st && k <= m->nr_ops && op_covers (&m->ops[k - 1], s)
      ? XD_PL_OLD_DATA : XD_PL_GARBAGE;
  }
  if (xd_is_zero (sec, SECTOR)) {
    if ((st == 0 && xd_is_zero (base, SECTOR)) ||
        (st != 0 && m->ops[st - 1].kind == OP_ZERO) || m->pending_zero[s])
      return XD_PL_OK;
  }
  else if (st == 0 && memcmp (sec, base, SECTOR) == 0)
    return XD_PL_OK;
  /* A write in flight at the crash, lost, may leave garbage where it
   * went into a hole (see xd-crash.h): where the sector read as zeros
   * before it; in a state with a garbled sector, anywhere it went.
   */
  else if ((m->pending_write[s] || m->pending_zero[s]) &&
           (m->garbled || (st == 0 && xd_is_zero (base, SECTOR)) ||
            (st != 0 && m->ops[st - 1].kind == OP_ZERO)))
    return XD_PL_OK;
  if (st == 0)
    snprintf (why, why_len, "should hold its original contents");
  else
    snprintf (why, why_len, "lost op %lu (%s), acknowledged before a "
              "completed flush", st,
              m->ops[st - 1].kind == OP_ZERO ? "zero" : "write");
  if (xd_is_zero (sec, SECTOR))
    return XD_PL_ZEROS;
  return memcmp (sec, base, SECTOR) == 0 ? XD_PL_OLD_DATA : XD_PL_GARBAGE;
}

/* ---- building and checking crash states ---- */

struct run {
  const struct xd_powerloss_case *c;
  struct xd_powerloss_stats *stats;
  const struct xd_resolver *res;
  struct model m;
  uint64_t disk_size;
  unsigned char *seen;          /* the disk as the state showed it */
  unsigned long epoch;
  unsigned long max_states;     /* XDISK_CRASH_MAX_STATES, 0: no cap */
  bool torn;                    /* the state has a torn write */
  uint64_t garble;              /* the file offset of a garbled sector,
                                   UINT64_MAX: none */
  char what[256];               /* the state, for messages */
};

/* Record a failure of kind KIND (the first one is reported). */
static void
fail (struct run *r, enum xd_powerloss_failure kind)
{
  if (r->stats->failure == XD_PL_OK) {
    r->stats->failure = kind;
    r->stats->failed_torn = r->torn;
  }
  r->stats->kinds |= 1u << kind;
}

/* Check every sector of R->seen against the model. */
static int
verify_sectors (struct run *r)
{
  uint64_t s, bad = 0;

  for (s = 0; s < r->m.nr_sectors; s++) {
    char why[160];
    enum xd_powerloss_failure kind =
      sector_allowed (&r->m, s, r->seen + s * SECTOR, why, sizeof why);
    if (kind == XD_PL_OK)
      continue;
    if (bad++ == 0)
      fprintf (stderr, "%s: %s: sector %" PRIu64 " %s\n", r->c->name,
               r->what, s, why);
    fail (r, kind);
  }
  if (bad > 1)
    fprintf (stderr, "%s: %s: %" PRIu64 " sectors wrong in all\n",
             r->c->name, r->what, bad);
  return bad ? -1 : 0;
}

/* Open the state read-only, check it, and verify every sector. */
static int
check_state (struct run *r, const struct state *st)
{
  const struct xd_format *f = r->c->check_format ? r->c->check_format
                                                 : r->c->format;
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  struct xd_io *io;
  void *h;
  int ret = -1;

  io = xd_io_open_memory (st->buf, st->len, r->c->io_name);
  if (io == NULL)
    return -1;
  h = f->open (io, r->res, &opts);
  if (h == NULL) {
    fprintf (stderr, "%s: %s: the image does not open\n", r->c->name,
             r->what);
    fail (r, XD_PL_OPEN);
    return -1;
  }
  if (f->size (h) != r->disk_size) {
    fprintf (stderr, "%s: %s: the disk size changed to %" PRIu64 "\n",
             r->c->name, r->what, f->size (h));
    fail (r, XD_PL_SIZE);
    goto out;
  }
  if (f->check && f->check (h) == -1) {
    fprintf (stderr, "%s: %s: the check found a problem\n", r->c->name,
             r->what);
    fail (r, XD_PL_CHECK);
    goto out;
  }
  if (f->pread (h, r->seen, (uint32_t) r->disk_size, 0) == -1) {
    fprintf (stderr, "%s: %s: reading the disk failed\n", r->c->name,
             r->what);
    fail (r, XD_PL_READ);
    goto out;
  }
  ret = verify_sectors (r);
 out:
  f->close (h);
  return ret;
}

/* Sectors the write after the crash changes, in the state numbered N:
 * the last one, and one that moves around the disk (often in a block
 * the crash left unallocated, or half allocated).
 */
static void
reopen_sectors (const struct run *r, unsigned long n, uint64_t sec[2])
{
  sec[0] = r->m.nr_sectors - 1;
  sec[1] = (n * UINT64_C (2654435761)) % (r->m.nr_sectors - 1);
}

/* Write the sectors SEC with their new contents, flush and check. */
static int
write_after_crash (struct run *r, struct xd_io *io, const uint64_t sec[2])
{
  const struct xd_format *f = r->c->format;
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  unsigned char buf[SECTOR];
  void *h;
  int i, ret = 0;

  h = f->open (xd_io_ref (io), r->res, &opts);
  if (h == NULL) {
    fprintf (stderr, "%s: %s: the image does not open for writing\n",
             r->c->name, r->what);
    return -1;
  }
  for (i = 0; i < 2 && ret == 0; i++) {
    xd_pattern_fill (r->c->seed, buf, r->m.nr_ops + 1, sec[i], 1);
    if (f->pwrite (h, buf, SECTOR, sec[i] * SECTOR) == -1)
      ret = -1;
  }
  if (ret == -1 || (f->flush && f->flush (h) == -1) ||
      (f->check && f->check (h) == -1)) {
    fprintf (stderr, "%s: %s: writing after the crash failed\n",
             r->c->name, r->what);
    ret = -1;
  }
  f->close (h);
  return ret;
}

/* After those writes, every sector must read as the crash state showed
 * it (R->seen), but for the sectors written.
 */
static int
reverify (struct run *r, struct xd_io *io, const uint64_t sec[2])
{
  const struct xd_format *f = r->c->format;
  struct xd_open_opts opts = { .cache_bytes = 1 << 20 };
  unsigned char *back = malloc (r->disk_size);
  struct xd_io *ro;
  uint64_t s;
  void *h;
  int i, ret = -1;

  if (back == NULL)
    return -1;
  for (i = 0; i < 2; i++)
    xd_pattern_fill (r->c->seed, r->seen + sec[i] * SECTOR,
                     r->m.nr_ops + 1, sec[i], 1);
  ro = xd_io_open_memory (xd_io_memory_contents (io), io->size,
                          r->c->io_name);
  h = ro ? f->open (ro, r->res, &opts) : NULL;
  if (h == NULL)
    fprintf (stderr, "%s: %s: the image does not open after writing "
             "into it\n", r->c->name, r->what);
  else if (f->pread (h, back, (uint32_t) r->disk_size, 0) == -1)
    fprintf (stderr, "%s: %s: reading after writing into it failed\n",
             r->c->name, r->what);
  else {
    for (s = 0; s < r->m.nr_sectors; s++)
      if (memcmp (back + s * SECTOR, r->seen + s * SECTOR, SECTOR) != 0)
        break;
    if (s == r->m.nr_sectors)
      ret = 0;
    else
      fprintf (stderr, "%s: %s: after writing sectors %" PRIu64 " and %"
               PRIu64 " into it, sector %" PRIu64 " changed\n", r->c->name,
               r->what, sec[0], sec[1], s);
  }
  if (h)
    f->close (h);
  free (back);
  return ret;
}

/* The image after a crash must also take writes again, and keep the
 * rest of what it showed.
 */
static int
reopen_for_writing (struct run *r, const struct state *st)
{
  struct xd_io *io;
  uint64_t sec[2];
  int ret;

  io = xd_io_new_memory_rw (st->buf, st->len, r->c->io_name);
  if (io == NULL)
    return -1;
  r->stats->reopened++;
  reopen_sectors (r, r->stats->states, sec);
  ret = write_after_crash (r, io, sec);
  if (ret == -1)
    fail (r, XD_PL_REOPEN);
  else if ((ret = reverify (r, io, sec)) == -1)
    fail (r, XD_PL_REVERIFY);
  xd_io_close (io);
  return ret;
}

static int
try_state (struct run *r, const struct state *st)
{
  r->stats->states++;
  r->stats->torn += r->torn;
  if (check_state (r, st) == -1)
    return -1;
  /* A check format without writes (a read-only view) skips this. */
  if (r->stats->states % 16 == 0 && r->c->format->pwrite &&
      (r->c->check_format == NULL || r->c->check_format->pwrite))
    return reopen_for_writing (r, st);
  return 0;
}

/* Check the state START (the bytes when the epoch began) plus the
 * writes W[i] chosen by MASK, in log order; TORN, if not NULL, tears
 * write W[TORN_AT].  The writes left out leave garbage where the file
 * grew past them.
 */
static int
try_subset (struct run *r, const struct state *start,
            const struct rec_entry *const *w, size_t n, const bool *mask,
            size_t torn_at, const bool *torn)
{
  struct state st = { 0 };
  size_t i, applied = 0;
  int pass, ret = 0;

  if (r->max_states && r->stats->states >= r->max_states)
    return 0;
  if (state_copy (&st, start) == -1) {
    state_free (&st);
    return -1;
  }
  /* The writes that landed, garbage where others did not, and the
   * writes again over garbage that overlaps them.
   */
  for (pass = 0; pass < 3 && ret == 0; pass++)
    for (i = 0; i < n && ret == 0; i++) {
      const bool *part = torn && i == torn_at ? torn : NULL;
      if (pass == 1 && (part || !mask[i]))
        state_expose (&st, w[i], part);
      else if (pass != 1 && (part || mask[i]))
        ret = state_apply (&st, w[i], part);
    }
  if (ret == -1) {
    state_free (&st);
    return -1;
  }
  if (r->garble < st.len) {
    uint64_t end = xd_min_u64 (r->garble + SECTOR, st.len);
    fill_garbage (st.buf + r->garble, r->garble, end - r->garble);
  }
  for (i = 0; i < n; i++)
    applied += mask[i];
  snprintf (r->what, sizeof r->what, "epoch %lu, %zu of its %zu writes "
            "applied%s%s", r->epoch, applied, n, torn ? ", one torn" : "",
            r->garble != UINT64_MAX ? ", the sector at the last one's "
            "offset garbled" : "");
  r->torn = torn != NULL || r->garble != UINT64_MAX;
  r->m.garbled = r->garble != UINT64_MAX;
  ret = try_state (r, &st);
  state_free (&st);
  return ret;
}

/* A small deterministic generator (the tests must not be flaky). */
static uint64_t
next_random (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Garbled sectors (xd_powerloss_case.garble): for each write, any of
 * the writes before it, and it with one of its sectors garbage.
 */
static int
garble_writes (struct run *r, const struct state *start,
               const struct rec_entry *const *w, size_t n, bool *mask,
               uint64_t *rnd)
{
  size_t i, j;
  int ret = 0;

  for (i = 0; i < n && ret == 0; i++) {
    if (w[i]->kind != REC_WRITE)
      continue;
    for (j = 0; j < n; j++)
      mask[j] = j == i || (j < i && (next_random (rnd) & 1));
    r->garble = w[i]->offset +
      next_random (rnd) % ((w[i]->len + SECTOR - 1) / SECTOR) * SECTOR;
    ret = try_subset (r, start, w, n, mask, 0, NULL);
    r->garble = UINT64_MAX;
  }
  return ret;
}

static int
check_epoch (struct run *r, const struct state *start,
             const struct rec_entry *const *w, size_t n, uint64_t *rnd)
{
  unsigned exhaustive = r->c->exhaustive_max ? r->c->exhaustive_max : 10;
  unsigned samples = r->c->samples_per_epoch ? r->c->samples_per_epoch : 64;
  bool *mask = calloc (n + 1, sizeof *mask);
  size_t i;
  int ret = -1;

  if (mask == NULL)
    return -1;
  r->stats->epochs++;
  if (n <= exhaustive) {
    unsigned long bits;
    for (bits = 0; bits < (1UL << n); bits++) {
      for (i = 0; i < n; i++)
        mask[i] = (bits >> i) & 1;
      if (try_subset (r, start, w, n, mask, 0, NULL) == -1)
        goto out;
    }
  }
  else {
    unsigned t;
    /* Every in-order cut, then random subsets. */
    for (i = 0; i <= n; i++) {
      size_t j;
      for (j = 0; j < n; j++)
        mask[j] = j < i;
      if (i % (n / samples + 1) == 0 || i == n)
        if (try_subset (r, start, w, n, mask, 0, NULL) == -1)
          goto out;
    }
    for (t = 0; t < samples; t++) {
      for (i = 0; i < n; i++)
        mask[i] = next_random (rnd) & 1;
      if (try_subset (r, start, w, n, mask, 0, NULL) == -1)
        goto out;
    }
  }
  /* Torn writes: everything before one multi-sector write, and part of
   * it.
   */
  for (i = 0; i < n; i++) {
    size_t j, nsec;
    bool *torn;
    if (w[i]->kind != REC_WRITE || w[i]->len <= SECTOR)
      continue;
    nsec = (w[i]->len + SECTOR - 1) / SECTOR;
    torn = calloc (nsec, sizeof *torn);
    if (torn == NULL)
      goto out;
    for (j = 0; j < nsec; j++)
      torn[j] = next_random (rnd) & 1;
    for (j = 0; j < n; j++)
      mask[j] = j < i;
    j = (size_t) try_subset (r, start, w, n, mask, i, torn);
    free (torn);
    if ((int) j == -1)
      goto out;
  }
  if (r->c->garble && garble_writes (r, start, w, n, mask, rnd) == -1)
    goto out;
  ret = 0;
 out:
  free (mask);
  return ret;
}

/* Walk the log epoch by epoch. */
static int
check_log (struct run *r, struct xd_recorder *rec)
{
  struct state cur = { 0 };
  const struct rec_entry **w = NULL;
  uint64_t rnd = 0x9E3779B97F4A7C15ULL ^ r->c->seed;
  unsigned long flushed = 0;
  size_t i = 0, n;
  int ret = -1;

  if (rec->base.len == (size_t) -1 || state_copy (&cur, &rec->base) == -1) {
    state_free (&cur);
    return -1;
  }
  w = calloc (rec->n + 1, sizeof *w);
  if (w == NULL)
    goto out;
  for (;;) {
    size_t start = i;
    /* The epoch: up to the next barrier or the end of the log.  A client
     * flush marked inside it completed before the crash.
     */
    n = 0;
    for (; i < rec->n && rec->log[i].kind != REC_FLUSH; i++) {
      if (rec->log[i].kind == REC_MARK)
        flushed = rec->log[i].mark;
      else
        w[n++] = &rec->log[i];
    }
    model_advance (&r->m, flushed);
    if (check_epoch (r, &cur, w, n, &rnd) == -1)
      goto out;
    for (; start < i; start++)
      if (state_apply (&cur, &rec->log[start], NULL) == -1)
        goto out;
    r->epoch++;
    if (i >= rec->n)
      break;
    i++;                        /* the barrier */
  }
  ret = 0;
 out:
  free (w);
  state_free (&cur);
  return ret;
}

/* ---- driving the format ---- */

static void *
open_case (const struct xd_powerloss_case *c, const struct xd_resolver *res,
           struct xd_recorder **rec)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20, .writable = true };
  struct xd_io *io;

  io = xd_recorder_io_new (c->image, c->create ? 0 : c->image_len,
                           c->io_name, rec);
  if (io == NULL)
    return NULL;
  if (c->create)
    return c->format->create (io, res, c->create, &opts);
  return c->format->open (io, res, &opts);
}

static int
run_ops (struct run *r, void *h, struct xd_recorder *rec,
         struct client_op *ops)
{
  const struct xd_powerloss_case *c = r->c;
  const struct xd_format *f = c->format;
  uint64_t rnd = 0x2545F4914F6CDD1DULL ^ ((uint64_t) c->seed << 1);
  uint32_t max = c->max_sectors ? c->max_sectors : 64;
  unsigned every = c->flush_every ? c->flush_every : 8;
  unsigned char *buf = malloc ((size_t) max * SECTOR);
  unsigned long k, next_flush = 1 + next_random (&rnd) % (2 * every);
  int ret = -1;

  if (buf == NULL)
    return -1;
  for (k = 1; k <= c->nr_ops; k++) {
    struct client_op *op = &ops[k - 1];
    op->first = next_random (&rnd) % r->m.nr_sectors;
    op->count = 1 + next_random (&rnd) % max;
    if (op->count > r->m.nr_sectors - op->first)
      op->count = r->m.nr_sectors - op->first;
    op->kind = c->use_zero && next_random (&rnd) % 5 == 0 ? OP_ZERO
                                                          : OP_WRITE;
    if (op->kind == OP_ZERO) {
      bool may_trim = next_random (&rnd) & 1;
      if (xd_image_zero (&(struct xd_image) { f, h },
                         (uint32_t) (op->count * SECTOR),
                         op->first * SECTOR, may_trim, false) == -1)
        goto fail;
    }
    else {
      xd_pattern_fill (c->seed, buf, k, op->first, op->count);
      if (f->pwrite (h, buf, (uint32_t) (op->count * SECTOR),
                     op->first * SECTOR) == -1)
        goto fail;
    }
    if (k == next_flush) {
      if (f->flush && f->flush (h) == -1)
        goto fail;
      rec_mark (rec, k);
      next_flush = k + 1 + next_random (&rnd) % (2 * every);
    }
  }
  ret = 0;
  goto out;
 fail:
  fprintf (stderr, "%s: client op %lu failed: %s\n", c->name, k,
           strerror (errno));
 out:
  free (buf);
  return ret;
}

static unsigned char *
read_disk (const struct xd_format *f, void *h, uint64_t size)
{
  unsigned char *buf = malloc (size ? size : 1);

  if (buf && f->pread (h, buf, (uint32_t) size, 0) == -1) {
    free (buf);
    return NULL;
  }
  return buf;
}

int
xd_powerloss_run (const struct xd_powerloss_case *c,
                  struct xd_powerloss_stats *stats)
{
  struct xd_resolver *stream = NULL;
  struct xd_recorder *rec = NULL;
  struct client_op *ops = NULL;
  struct run r = { .c = c, .stats = stats, .garble = UINT64_MAX };
  size_t writes, flushes;
  void *h = NULL;
  int ret = -1;

  memset (stats, 0, sizeof *stats);
  /* Under valgrind (tests/run-sanitizers) the states are checked for
   * memory errors, not for coverage: a cap keeps that run short.
   */
  if (getenv ("XDISK_CRASH_MAX_STATES"))
    r.max_states = strtoul (getenv ("XDISK_CRASH_MAX_STATES"), NULL, 10);
  r.res = c->res;
  if (r.res == NULL && (r.res = stream = xd_resolver_new_stream
                        ("the power-loss test's image")) == NULL)
    return -1;
  h = open_case (c, r.res, &rec);
  if (h == NULL) {
    fprintf (stderr, "%s: the image does not open or create\n", c->name);
    goto out;
  }
  r.disk_size = c->format->size (h);
  if (r.disk_size == 0 || r.disk_size % SECTOR != 0 ||
      r.disk_size > (UINT32_C (1) << 30)) {
    fprintf (stderr, "%s: disk size %" PRIu64 " not usable here\n",
             c->name, r.disk_size);
    goto out;
  }
  if (c->format->flush && c->format->flush (h) == -1)
    goto out;
  xd_recorder_start (rec);

  r.m.nr_sectors = r.disk_size / SECTOR;
  r.m.nr_ops = c->nr_ops;
  r.m.seed = c->seed;
  ops = calloc (c->nr_ops + 1, sizeof *ops);
  r.m.ops = ops;
  r.m.stable = calloc (r.m.nr_sectors, sizeof *r.m.stable);
  r.m.pending_zero = calloc (r.m.nr_sectors, sizeof *r.m.pending_zero);
  r.m.pending_write = calloc (r.m.nr_sectors, sizeof *r.m.pending_write);
  r.seen = malloc (r.disk_size);
  r.m.base_disk = read_disk (c->format, h, r.disk_size);
  if (ops == NULL || r.m.stable == NULL || r.m.pending_zero == NULL ||
      r.m.pending_write == NULL ||
      r.seen == NULL || r.m.base_disk == NULL)
    goto out;
  if (run_ops (&r, h, rec, ops) == -1)
    goto out;
  c->format->close (h);         /* its writes are checked too */
  h = NULL;

  xd_recorder_counts (rec, &writes, &flushes);
  stats->writes = writes;
  stats->flushes = flushes;
  ret = check_log (&r, rec);
 out:
  if (h)
    c->format->close (h);
  xd_recorder_free (rec);
  xd_resolver_free (stream);
  free (ops);
  free (r.m.stable);
  free (r.m.pending_zero);
  free (r.m.pending_write);
  free ((void *) r.m.base_disk);
  free (r.seen);
  if (ret == -1 && stats->failure == XD_PL_OK)
    stats->failure = XD_PL_SETUP;
  return ret;
}
