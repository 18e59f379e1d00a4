/* xdisk fuzzing: the write paths (see fz_write_run in fuzz.h).
 *
 * An image, mutated or created by the format's own create op, is opened
 * writable through the registry as a plugin opens it, checked by the
 * format's check op, then takes the writes, zeroes, trims and flushes
 * the input describes.  A shadow copy of every range the ops touch
 * holds what the image must read back: the bytes before the ops, then
 * each acknowledged write or zero (a trim or a failed op makes its range
 * unknown).  The image is read back through the same handle, closed,
 * reopened read-only, checked again and read back again.
 *
 * Corrupt images need only fail cleanly.  But when the check found the
 * image sound, writes must keep it sound: it must reopen, keep its size,
 * pass the check and read back as the shadow says.  (A corrupt image may
 * cross-link two blocks, so that one write rightly shows up twice: hence
 * the strict oracle only for images the check passed.)
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "include/xd-bytes.h"
#include "core/xd-format.h"
#include "include/xd-math.h"
#include "core/xd-path.h"

#define OP_BYTES 8
#define MAX_OPS 32
/* The longest op, and all ops together: bounds the work per input
 * (an op may span several blocks of 1 or 2 MiB).
 */
#define MAX_OP_LEN (3u << 20)
#define MAX_TOTAL (6u << 20)
/* Image parts shorter than this ask the target to create the image. */
#define CREATE_PARAMS 16
/* Small, so that table pages are evicted between ops. */
#define CACHE_BYTES (64 * 1024)

enum op_kind { OP_WRITE, OP_ZERO, OP_TRIM, OP_FLUSH };

struct op {
  enum op_kind kind;
  uint64_t offset;
  uint32_t len;
  bool may_trim, fast;
  uint8_t fill;
};

/* A range of the disk the ops touch: what it must read back. */
struct span {
  uint64_t start, len;
  uint8_t *data;
  uint8_t *known;               /* 1: data[i] is what must be read */
};

struct run {
  const struct fz_write_target *t;
  struct op ops[MAX_OPS];
  size_t nr_ops;
  struct span spans[MAX_OPS];
  size_t nr_spans;
  uint64_t size;
  bool created;                 /* made by the create op, sound */
  bool sound;                   /* the check passed before the ops */
  bool op_failed;
  uint8_t *buf;                 /* MAX_OP_LEN bytes for writes and reads */
};

static void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size);

  if (p == NULL)
    abort ();
  return p;
}

/* ---- decoding the ops ----
 *
 * Byte 0 of the input is the number of ops, then OP_BYTES per op:
 *   kind (low 2 bits: write, zero, trim, flush; 0x40 may_trim, 0x80
 *   fast), position le32 (odd: a byte offset, even: a sector number),
 *   length le16 (odd: bytes, even: sectors), fill byte (0: zeros).
 * Offsets wrap to the disk and lengths are clipped to its end, so that
 * every op lands somewhere.
 */

static void
decode_op (const uint8_t *p, struct op *op)
{
  uint32_t pos = xd_le32 (p + 1);
  uint16_t len = xd_le16 (p + 5);

  op->kind = (enum op_kind) (p[0] & 3);
  op->may_trim = (p[0] & 0x40) != 0;
  op->fast = (p[0] & 0x80) != 0;
  op->offset = (pos & 1) ? pos >> 1 : (uint64_t) (pos >> 1) * 512;
  op->len = (len & 1) ? len >> 1 : (uint32_t) (len >> 1) * 512;
  op->fill = p[7];
}

/* Fit the ops to a disk of SIZE bytes and the budget. */
static void
fit_ops (struct run *r)
{
  uint64_t total = 0;
  size_t i, n = 0;

  for (i = 0; i < r->nr_ops; i++) {
    struct op op = r->ops[i];
    if (op.kind != OP_FLUSH) {
      op.offset %= r->size;
      op.len = (uint32_t) xd_min_u64 (xd_min_u64 (op.len, MAX_OP_LEN),
                                      r->size - op.offset);
      if (op.len == 0)
        op.len = 1;
      if (total + op.len > MAX_TOTAL)
        continue;
      total += op.len;
    }
    r->ops[n++] = op;
  }
  r->nr_ops = n;
}

/* ---- the shadow ---- */

static int
cmp_span (const void *a, const void *b)
{
  const struct span *x = a, *y = b;

  return x->start < y->start ? -1 : x->start > y->start;
}

/* One span per op, sorted, then merged where they overlap or touch. */
static void
build_spans (struct run *r)
{
  size_t i, n = 0;

  for (i = 0; i < r->nr_ops; i++)
    if (r->ops[i].kind != OP_FLUSH)
      r->spans[n++] = (struct span) { .start = r->ops[i].offset,
                                        .len = r->ops[i].len };
  qsort (r->spans, n, sizeof r->spans[0], cmp_span);
  r->nr_spans = 0;
  for (i = 0; i < n; i++) {
    struct span *last = r->nr_spans ? &r->spans[r->nr_spans - 1] : NULL;
    if (last && r->spans[i].start <= last->start + last->len)
      last->len = xd_max_u64 (last->len, r->spans[i].start +
                              r->spans[i].len - last->start);
    else
      r->spans[r->nr_spans++] = r->spans[i];
  }
  for (i = 0; i < r->nr_spans; i++) {
    r->spans[i].data = xcalloc (r->spans[i].len, 1);
    r->spans[i].known = xcalloc (r->spans[i].len, 1);
  }
}

static void
free_spans (struct run *r)
{
  size_t i;

  for (i = 0; i < r->nr_spans; i++) {
    free (r->spans[i].data);
    free (r->spans[i].known);
  }
}

static struct span *
span_of (struct run *r, uint64_t offset)
{
  size_t i;

  for (i = 0; i < r->nr_spans; i++)
    if (offset >= r->spans[i].start &&
        offset - r->spans[i].start < r->spans[i].len)
      return &r->spans[i];
  fz_fail ("no span holds offset %" PRIu64, offset);
}

/* Record that [OFFSET, OFFSET+LEN) reads as DATA (NULL: unknown). */
static void
shadow_set (struct run *r, uint64_t offset, uint32_t len, const uint8_t *data)
{
  struct span *s = span_of (r, offset);
  uint64_t at = offset - s->start;

  if (data)
    memcpy (s->data + at, data, len);
  memset (s->known + at, data != NULL, len);
}

/* Read every span through IMG: fill the shadow (FILL), or compare the
 * known bytes with it.
 */
static void
read_spans (struct run *r, struct xd_image *img, bool fill, const char *when)
{
  size_t i;

  for (i = 0; i < r->nr_spans; i++) {
    struct span *s = &r->spans[i];
    uint64_t done, j;
    for (done = 0; done < s->len; done += MAX_OP_LEN) {
      uint32_t n = (uint32_t) xd_min_u64 (MAX_OP_LEN, s->len - done);
      unsigned long before = fz_begin ();
      int ret = xd_image_read (img, r->buf, n, s->start + done);
      fz_check_failure (ret, before, "xd_image_read");
      if (fill) {
        if (ret == 0)
          shadow_set (r, s->start + done, n, r->buf);
        continue;
      }
      if (!r->sound || r->op_failed)
        continue;
      if (ret == -1)
        fz_fail ("%s: reading %" PRIu64 "+%" PRIu32 " of a sound image "
                 "failed", when, s->start + done, n);
      /* memcmp first: a byte loop is instrumented and slow. */
      if (memcmp (s->data + done, r->buf, n) == 0)
        continue;
      for (j = 0; j < n; j++)
        if (s->known[done + j] && s->data[done + j] != r->buf[j])
          fz_fail ("%s: byte %" PRIu64 " reads 0x%02x, not 0x%02x", when,
                   s->start + done + j, r->buf[j], s->data[done + j]);
    }
  }
}

/* ---- running the ops ---- */

/* Bytes that tell ops and places apart, so that data written to the
 * wrong place or lost shows: a window, chosen by the fill byte and the
 * op's index, of a table made once (a byte loop per op would be
 * instrumented, and slow).
 */
#define PATTERN_SHIFTS 4096

static void
make_data (uint8_t *buf, const struct op *op, size_t index)
{
  static uint8_t *pattern;
  uint32_t i, shift;

  if (op->fill == 0) {
    memset (buf, 0, op->len);
    return;
  }
  if (pattern == NULL) {
    pattern = xcalloc (MAX_OP_LEN + PATTERN_SHIFTS, 1);
    for (i = 0; i < MAX_OP_LEN + PATTERN_SHIFTS; i++)
      pattern[i] = (uint8_t) (i * 7 + (i >> 9) + (i >> 17) + 1);
  }
  shift = (op->fill * 131u + (uint32_t) index * 17u) % PATTERN_SHIFTS;
  memcpy (buf, pattern + shift, op->len);
}

static int
do_op (struct run *r, struct xd_image *img, const struct op *op, size_t i)
{
  switch (op->kind) {
  case OP_WRITE:
    make_data (r->buf, op, i);
    return xd_image_write (img, r->buf, op->len, op->offset);
  case OP_ZERO:
    return xd_image_zero (img, op->len, op->offset, op->may_trim, op->fast);
  case OP_TRIM:
    return xd_image_trim (img, op->len, op->offset);
  case OP_FLUSH:
    return xd_image_flush (img);
  }
  abort ();
}

/* With XDISK_FUZZ_VERBOSE: each op and what it returned. */
static void
log_op (const struct op *op, size_t i, int ret)
{
  static const char *const names[] = { "write", "zero", "trim", "flush" };

  if (getenv ("XDISK_FUZZ_VERBOSE"))
    fprintf (stderr, "op %zu: %s %" PRIu64 "+%" PRIu32 "%s%s: %d (%s)\n",
             i, names[op->kind], op->offset, op->len,
             op->may_trim ? " may_trim" : "", op->fast ? " fast" : "",
             ret, ret == 0 ? "ok" : strerror (errno));
}

static void
run_ops (struct run *r, struct xd_image *img)
{
  static const uint8_t zeros[MAX_OP_LEN];
  size_t i;

  for (i = 0; i < r->nr_ops; i++) {
    const struct op *op = &r->ops[i];
    unsigned long before = fz_begin ();
    int ret = do_op (r, img, op, i);
    int err = errno;

    log_op (op, i, ret);
    errno = err;

    /* A fast zero may refuse with ENOTSUP, reporting nothing. */
    if (ret == -1 && op->kind == OP_ZERO && op->fast && errno == ENOTSUP &&
        fz_errors () == before)
      continue;
    fz_check_failure (ret, before, "a write op");
    if (ret == -1)
      r->op_failed = true;
    if (op->kind == OP_FLUSH)
      continue;
    if (ret == 0 && op->kind == OP_WRITE)
      shadow_set (r, op->offset, op->len, r->buf);
    else if (ret == 0 && op->kind == OP_ZERO)
      shadow_set (r, op->offset, op->len, zeros);
    else                        /* trimmed: may read as anything */
      shadow_set (r, op->offset, op->len, NULL);
  }
}

/* ---- opening and checking ---- */

struct place {
  struct xd_path_policy policy;
  struct xd_resolver *res;
  const char *path;
};

static void
place_init (struct place *pl, const char *path)
{
  pl->path = path;
  if (xd_path_policy_init (&pl->policy, path, NULL) == -1)
    fz_fail ("xd_path_policy_init %s", path);
  pl->res = xd_resolver_new_dir (&pl->policy);
  if (pl->res == NULL)
    fz_fail ("xd_resolver_new_dir");
}

static void
place_free (struct place *pl)
{
  xd_resolver_free (pl->res);
  xd_path_policy_free (&pl->policy);
}

static struct xd_image *
open_image (const struct run *r, const struct place *pl, bool writable)
{
  struct xd_open_opts opts = { .cache_bytes = CACHE_BYTES,
                               .writable = writable };
  struct xd_image *img = NULL;
  unsigned long before = fz_begin ();
  struct xd_io *io;

  io = writable ? xd_io_open_file_rw (pl->path) : xd_io_open_file (pl->path);
  if (io)
    img = xd_image_open (io, pl->res, &opts, r->t->format);
  fz_check_failure (img ? 0 : -1, before, "xd_image_open");
  return img;
}

/* What the plugin glue does when the last client goes and at unload:
 * finish the image, flush it.  (Close alone need not write back what a
 * format keeps in memory until a flush: the VMDK grain tables.)
 */
static void
finish_image (struct run *r, struct xd_image *img)
{
  unsigned long before = fz_begin ();
  int ret = xd_image_finish (img);

  fz_check_failure (ret, before, "xd_image_finish");
  if (ret == 0) {
    before = fz_begin ();
    ret = xd_image_flush (img);
    fz_check_failure (ret, before, "xd_image_flush");
  }
  if (ret == -1)
    r->op_failed = true;
}

/* Open, check, write, read back: true if the image took the ops. */
static bool
write_image (struct run *r, const struct place *pl)
{
  struct xd_image *img = open_image (r, pl, true);
  const char *why = NULL;

  if (img == NULL) {
    if (r->created)
      fz_fail ("an image the create op made does not open for writing");
    return false;
  }
  r->sound = fz_check_image (img) == 0;
  if (r->created && !r->sound)
    fz_fail ("an image the create op made, written and flushed, fails "
             "the check");
  r->size = xd_image_size (img);
  if (!xd_image_can_write (img, &why) || r->size == 0) {
    if (r->size && why == NULL)
      fz_fail ("a writable image refused writes without saying why");
    if (r->created)
      fz_fail ("an image the create op made refuses writes: %s",
               why ? why : "(size 0)");
    xd_image_close (img);
    return false;
  }
  fit_ops (r);
  build_spans (r);
  read_spans (r, img, true, "before the ops");
  run_ops (r, img);
  read_spans (r, img, false, "after the ops");
  finish_image (r, img);
  xd_image_close (img);
  return true;
}

/* After close: the image reopens read-only, as the same size, sound if
 * it was, with the bytes the shadow holds.
 */
static void
verify_image (struct run *r, const struct place *pl)
{
  struct xd_image *img = open_image (r, pl, false);
  bool strict = r->sound && !r->op_failed;

  if (img == NULL) {
    if (strict)
      fz_fail ("a sound image does not reopen after the ops");
    return;
  }
  if (strict && xd_image_size (img) != r->size)
    fz_fail ("the disk size changed from %" PRIu64 " to %" PRIu64,
             r->size, xd_image_size (img));
  if (fz_check_image (img) == -1 && strict)
    fz_fail ("the ops made a sound image fail the check");
  if (xd_image_size (img) == r->size)
    read_spans (r, img, false, "after reopening");
  xd_image_close (img);
}

/* ---- images made by the create op ---- */

/* 0: the format's default; the others, valid or not for the format. */
static const uint32_t block_sizes[] = { 0, 1 << 20, 2 << 20, 512 << 10,
                                        4 << 20 };

/* Create PATH as P asks (see fz_write_run), with PARENT as its parent
 * if not NULL, write to it and flush it.  0, or -1 (reported) if the
 * create op refused or the write or flush failed.
 */
static int
create_image (const struct run *r, const char *path, const char *parent,
              const uint8_t *p)
{
  const struct fz_write_target *t = r->t;
  size_t nr_types = 0;
  struct xd_create_opts copts = { .path = path, .parent = parent };
  struct xd_open_opts opts = { .cache_bytes = CACHE_BYTES,
                               .writable = true };
  struct place pl;
  struct xd_image *img;
  struct xd_io *io;
  unsigned long before;
  int ret = -1;

  while (t->types[nr_types])
    nr_types++;
  /* A child takes the default type (some formats refuse any other)
   * unless bit 7 asks for one.
   */
  if (parent == NULL || (p[0] & 0x80))
    copts.type = t->types[p[0] % nr_types];
  /* 1 to 16 MiB, sometimes with a few sectors more. */
  copts.size = (uint64_t) (p[1] % 16 + 1) << 20;
  if (p[1] & 0x80)
    copts.size += (uint64_t) (p[2] % 8) * 512;
  copts.block_size = block_sizes[p[3] % (sizeof block_sizes /
                                         sizeof block_sizes[0])];
  before = fz_begin ();
  io = xd_io_create_file (path, true);
  fz_check_failure (io ? 0 : -1, before, "xd_io_create_file");
  if (io == NULL)
    return -1;
  place_init (&pl, path);       /* the policy needs the file to exist */
  before = fz_begin ();
  img = xd_image_create (io, pl.res, &copts, &opts, t->format);
  fz_check_failure (img ? 0 : -1, before, "xd_image_create");
  if (img) {
    /* Some data, so that the image has allocated blocks. */
    static uint8_t data[64 * 1024];
    memset (data, p[4] | 1, sizeof data);
    before = fz_begin ();
    ret = xd_image_write (img, data, sizeof data, 0);
    fz_check_failure (ret, before, "writing a created image");
    if (ret == 0) {
      before = fz_begin ();
      ret = xd_image_flush (img);
      fz_check_failure (ret, before, "flushing a created image");
    }
    xd_image_close (img);
  }
  place_free (&pl);
  return img ? ret : -1;
}

/* Byte P[5] bit 0: a differencing child of a created parent. */
static int
create_images (const struct run *r, const char *path, const uint8_t *p)
{
  char parent[4096];
  const char *slash = strrchr (path, '/');

  if (!(p[5] & 1) || !r->t->differencing)
    return create_image (r, path, NULL, p);
  snprintf (parent, sizeof parent, "%.*s/parent-%s",
            (int) (slash - path), path, slash + 1);
  if (create_image (r, parent, NULL, p) == -1)
    return -1;
  return create_image (r, path, parent, p + 6);
}

/* ---- the target ---- */

int
fz_write_run (const struct fz_write_target *t, const uint8_t *data,
              size_t size)
{
  struct run r = { .t = t };
  uint8_t params[2 * CREATE_PARAMS] = { 0 };
  struct fz_bundle b;
  struct place pl;
  size_t head, i, rest;
  const char *path;

  fz_init ();
  r.nr_ops = size ? xd_min_u64 (data[0], MAX_OPS) : 0;
  r.nr_ops = xd_min_u64 (r.nr_ops, (size - (size > 0)) / OP_BYTES);
  for (i = 0; i < r.nr_ops; i++)
    decode_op (data + 1 + i * OP_BYTES, &r.ops[i]);
  head = size ? 1 + r.nr_ops * OP_BYTES : 0;
  rest = size - head;
  r.buf = xcalloc (MAX_OP_LEN, 1);

  if (rest < CREATE_PARAMS) {
    memcpy (params, data + head, rest);
    fz_bundle_parse (NULL, 0, t->default_name, &b);
    path = fz_write_files (&b);
    if (create_images (&r, path, params) == -1)
      goto out;
    r.created = true;
  }
  else {
    fz_bundle_parse (data + head, rest, t->default_name, &b);
    if (fz_want_fixed_checksums (size))
      fz_fix_checksums (&b);
    path = fz_write_files (&b);
  }
  place_init (&pl, path);
  if (write_image (&r, &pl))
    verify_image (&r, &pl);
  place_free (&pl);
 out:
  free_spans (&r);
  free (r.buf);
  fz_clear_files ();
  fz_bundle_free (&b);
  return 0;
}
