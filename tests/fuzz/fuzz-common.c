/* xdisk fuzzing: bundles, in-memory and on-disk images, reporters and
 * the whole-disk exerciser shared by the targets (see fuzz.h).
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "vhd/vhd.h"
#include "vhd/vhdx.h"
#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "core/xd-format.h"
#include "include/xd-math.h"
#include "core/xd-path.h"
#include "include/xd-report.h"

/* ---- messages ---- */

static unsigned long nr_errors;
static bool verbose;

static void
report (const char *prefix, const char *fmt, va_list args)
{
  char msg[1024];

  /* Format even when quiet: a bad format argument is a bug to find. */
  vsnprintf (msg, sizeof msg, fmt, args);
  if (verbose)
    fprintf (stderr, "%s%s\n", prefix, msg);
}

static void
count_error (const char *fmt, va_list args)
{
  nr_errors++;
  report ("error: ", fmt, args);
}

static void
debug (const char *fmt, va_list args)
{
  report ("debug: ", fmt, args);
}

void
fz_init (void)
{
  verbose = getenv ("XDISK_FUZZ_VERBOSE") != NULL;
  xd_set_reporters (count_error, debug);
}

unsigned long
fz_errors (void)
{
  return nr_errors;
}

unsigned long
fz_begin (void)
{
  errno = 0;
  return nr_errors;
}

void
fz_fail (const char *fmt, ...)
{
  va_list args;

  fprintf (stderr, "xdisk fuzz: invariant broken: ");
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fputc ('\n', stderr);
  abort ();
}

void
fz_check_failure (int r, unsigned long before, const char *what)
{
  if (r != -1)
    return;
  if (nr_errors == before)
    fz_fail ("%s returned -1 without reporting an error", what);
  if (errno == 0)
    fz_fail ("%s returned -1 with errno 0", what);
}

/* ---- bundles ---- */

static void *
xmalloc_or_die (void *p)
{
  if (p == NULL) {
    perror ("xdisk fuzz");
    abort ();
  }
  return p;
}

/* Names become files in the private directory: keep them plain. */
static void
set_name (struct fz_file *f, const uint8_t *name, size_t len, size_t index)
{
  size_t i;
  bool ok = len > 0 && len <= FZ_MAX_NAME && name[0] != '.';

  for (i = 0; ok && i < len; i++)
    ok = (name[i] >= 'a' && name[i] <= 'z') ||
      (name[i] >= 'A' && name[i] <= 'Z') ||
      (name[i] >= '0' && name[i] <= '9') ||
      name[i] == '.' || name[i] == '-' || name[i] == '_';
  if (ok) {
    memcpy (f->name, name, len);
    f->name[len] = '\0';
  }
  else
    snprintf (f->name, sizeof f->name, "file%zu", index);
}

static struct fz_file *
new_file (struct fz_bundle *b, const uint8_t *name, size_t len,
          const char *default_name)
{
  struct fz_file *f;

  if (b->nr_files == FZ_MAX_FILES)
    return NULL;
  f = &b->files[b->nr_files];
  memset (f, 0, sizeof *f);
  if (name)
    set_name (f, name, len, b->nr_files);
  else
    snprintf (f->name, sizeof f->name, "%s", default_name);
  b->nr_files++;
  return f;
}

static void
add_chunk (struct fz_file *f, uint64_t off, const uint8_t *data, size_t len)
{
  struct fz_chunk *c;

  if (off >= FZ_MAX_FILE_SIZE)
    return;
  len = xd_min_u64 (len, FZ_MAX_FILE_SIZE - off);
  c = xmalloc_or_die (realloc (f->chunks, (f->nr_chunks + 1) * sizeof *c));
  f->chunks = c;
  c[f->nr_chunks++] = (struct fz_chunk) { off, data, len };
  if (!f->size_set)
    f->size = xd_max_u64 (f->size, off + len);
}

static void
parse_records (const uint8_t *p, const uint8_t *end,
               const char *default_name, struct fz_bundle *b)
{
  struct fz_file *cur = NULL;

  while (p < end) {
    uint8_t type = *p++;
    if (type == 'F' && p < end && (size_t) (end - p) > *p) {
      cur = new_file (b, p + 1, *p, default_name);
      if (cur == NULL)
        return;
      p += 1 + *p;
      continue;
    }
    if (cur == NULL && (type == 'S' || type == 'D'))
      cur = new_file (b, NULL, 0, default_name);
    if (type == 'S' && end - p >= 8) {
      cur->size = xd_min_u64 (xd_le64 (p), FZ_MAX_FILE_SIZE);
      cur->size_set = true;
      p += 8;
    }
    else if (type == 'D' && end - p >= 12 &&
             cur->nr_chunks < FZ_MAX_CHUNKS) {
      uint64_t off = xd_le64 (p);
      size_t len = xd_min_u64 (xd_le32 (p + 8), (size_t) (end - p) - 12);
      add_chunk (cur, off, p + 12, len);
      p += 12 + len;
    }
    else
      return;
  }
}

void
fz_bundle_parse (const uint8_t *data, size_t size, const char *default_name,
                 struct fz_bundle *b)
{
  memset (b, 0, sizeof *b);
  if (size >= 4 && memcmp (data, FZ_MAGIC, 4) == 0)
    parse_records (data + 4, data + size, default_name, b);
  else
    add_chunk (new_file (b, NULL, 0, default_name), 0, data, size);
  if (b->nr_files == 0)
    new_file (b, NULL, 0, default_name);
}

void
fz_bundle_free (struct fz_bundle *b)
{
  size_t i;

  for (i = 0; i < b->nr_files; i++)
    free (b->files[i].chunks);
  memset (b, 0, sizeof *b);
}

/* ---- an xd_io over a bundle file ---- */

static int
bundle_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  const struct fz_file *f = io->priv;
  uint8_t *p = buf;
  size_t i;

  /* Later chunks win, as when the files are written in order. */
  memset (p, 0, count);
  for (i = 0; i < f->nr_chunks; i++) {
    const struct fz_chunk *c = &f->chunks[i];
    uint64_t start = xd_max_u64 (c->offset, offset);
    uint64_t end = xd_min_u64 (c->offset + c->len, offset + count);
    if (start < end)
      memcpy (p + (start - offset), c->data + (start - c->offset),
              end - start);
  }
  return 0;
}

static void
bundle_close (struct xd_io *io)
{
  (void) io;
}

static const struct xd_io_ops bundle_ops = {
  .pread = bundle_pread,
  .close = bundle_close,
};

struct xd_io *
fz_io_open (const struct fz_file *f)
{
  struct xd_io *io = xmalloc_or_die (calloc (1, sizeof *io));

  io->ops = &bundle_ops;
  io->name = xmalloc_or_die (strdup (f->name));
  io->size = f->size;
  io->priv = (void *) f;
  io->refs = 1;
  return io;
}

/* ---- fixing checksums ---- */

/* Bytes checksummed per input at most: a log full of entry headers
 * claiming to be huge must not make the target itself slow.
 */
#define FIX_BUDGET (16u << 20)

/* Read without reporting: the target counts reported errors. */
static bool
read_at (struct xd_io *io, void *buf, size_t len, uint64_t off)
{
  return xd_io_contains (io, off, len) &&
    io->ops->pread (io, buf, len, off) == 0;
}

static void
add_patch (struct fz_bundle *b, struct fz_file *f, uint64_t off,
           uint32_t v, bool big_endian)
{
  uint8_t *p;

  if (b->nr_patches == FZ_MAX_PATCHES || off + 4 > f->size)
    return;
  p = b->patches[b->nr_patches++];
  if (big_endian)
    xd_put_be32 (p, v);
  else
    xd_put_le32 (p, v);
  add_chunk (f, off, p, 4);
}

static void
fix_vhd (struct fz_bundle *b, struct fz_file *f, struct xd_io *io)
{
  uint8_t buf[VHD_DYN_HEADER_SIZE];
  uint64_t where[2], dyn;
  size_t i;

  if (io->size < VHD_FOOTER_SIZE)
    return;
  where[0] = 0;
  where[1] = io->size - VHD_FOOTER_SIZE;
  for (i = 0; i < 2; i++) {
    if (!read_at (io, buf, VHD_FOOTER_SIZE, where[i]) ||
        memcmp (buf, VHD_FOOTER_COOKIE, 8) != 0)
      continue;
    add_patch (b, f, where[i] + VHD_FOOTER_CHECKSUM,
               vhd_checksum (buf, VHD_FOOTER_SIZE, VHD_FOOTER_CHECKSUM),
               true);
    dyn = xd_be64 (buf + VHD_FOOTER_DATA_OFFSET);
    if (read_at (io, buf, VHD_DYN_HEADER_SIZE, dyn) &&
        memcmp (buf, VHD_DYN_COOKIE, 8) == 0)
      add_patch (b, f, dyn + VHD_DYN_CHECKSUM,
                 vhd_checksum (buf, VHD_DYN_HEADER_SIZE, VHD_DYN_CHECKSUM),
                 true);
  }
}

/* A VHDX structure of LEN bytes at OFF with signature SIG and its
 * CRC-32C at offset 4.
 */
static void
fix_crc (struct fz_bundle *b, struct fz_file *f, struct xd_io *io,
         uint64_t off, size_t len, const char *sig, size_t *budget)
{
  uint8_t *buf;

  if (len > *budget)
    return;
  *budget -= len;
  buf = xmalloc_or_die (malloc (len));
  if (read_at (io, buf, len, off) && memcmp (buf, sig, 4) == 0)
    add_patch (b, f, off + 4, xd_crc32c_skip_field (buf, len, 4), false);
  free (buf);
}

/* Log entries that do not wrap around the end of the log. */
static void
fix_log (struct fz_bundle *b, struct fz_file *f, struct xd_io *io,
         uint64_t log_off, uint32_t log_len, size_t *budget)
{
  uint8_t hdr[64];
  uint64_t pos;
  uint32_t len;

  if (log_len > FZ_MAX_FILE_SIZE || !xd_io_contains (io, log_off, log_len))
    return;
  for (pos = 0; pos + sizeof hdr <= log_len; pos += 4096) {
    if (!read_at (io, hdr, sizeof hdr, log_off + pos) ||
        memcmp (hdr, "loge", 4) != 0)
      continue;
    len = xd_le32 (hdr + 8);
    if (len >= sizeof hdr && len <= log_len - pos)
      fix_crc (b, f, io, log_off + pos, len, "loge", budget);
  }
}

static void
fix_vhdx (struct fz_bundle *b, struct fz_file *f, struct xd_io *io)
{
  static const uint64_t headers[2] = { VHDX_HEADER1_OFFSET,
                                       VHDX_HEADER2_OFFSET };
  uint8_t h[VHDX_HEADER_SIZE];
  size_t budget = FIX_BUDGET, i;

  fix_crc (b, f, io, VHDX_REGION1_OFFSET, VHDX_REGION_SIZE, "regi", &budget);
  fix_crc (b, f, io, VHDX_REGION2_OFFSET, VHDX_REGION_SIZE, "regi", &budget);
  for (i = 0; i < 2; i++) {
    fix_crc (b, f, io, headers[i], VHDX_HEADER_SIZE, "head", &budget);
    if (read_at (io, h, sizeof h, headers[i]) && memcmp (h, "head", 4) == 0)
      fix_log (b, f, io, xd_le64 (h + 72), xd_le32 (h + 68), &budget);
  }
}

void
fz_fix_checksums (struct fz_bundle *b)
{
  size_t i;

  for (i = 0; i < b->nr_files; i++) {
    struct fz_file *f = &b->files[i];
    struct xd_io *io = fz_io_open (f);
    char id[8];

    if (read_at (io, id, 8, 0) && memcmp (id, VHDX_FILE_ID, 8) == 0)
      fix_vhdx (b, f, io);
    else
      fix_vhd (b, f, io);
    xd_io_close (io);
  }
}

/* ---- files in a private directory ---- */

static char dir[PATH_MAX];

static void
remove_dir (void)
{
  if (dir[0])
    rmdir (dir);
}

static void
make_dir (void)
{
  const char *tmp = getenv ("TMPDIR");
  char templ[PATH_MAX];

  snprintf (templ, sizeof templ, "%s/xdisk-fuzz.XXXXXX",
            tmp && *tmp ? tmp : "/tmp");
  /* Real path: the image path is compared with resolved references. */
  if (mkdtemp (templ) == NULL || realpath (templ, dir) == NULL) {
    perror ("xdisk fuzz: temporary directory");
    abort ();
  }
  atexit (remove_dir);
}

static void
write_file (const struct fz_file *f)
{
  char path[PATH_MAX + FZ_MAX_NAME + 2];
  size_t i;
  int fd;

  snprintf (path, sizeof path, "%s/%s", dir, f->name);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1)
    goto fail;
  for (i = 0; i < f->nr_chunks; i++) {
    const struct fz_chunk *c = &f->chunks[i];
    if (c->len && pwrite (fd, c->data, c->len, (off_t) c->offset) !=
        (ssize_t) c->len)
      goto fail;
  }
  /* Sets the size and leaves holes where no data was given. */
  if (ftruncate (fd, (off_t) f->size) == -1 || close (fd) == -1)
    goto fail;
  return;
 fail:
  perror (path);
  abort ();
}

const char *
fz_write_files (const struct fz_bundle *b)
{
  static char first[PATH_MAX + FZ_MAX_NAME + 2];
  size_t i;

  if (dir[0] == '\0')
    make_dir ();
  for (i = 0; i < b->nr_files; i++)
    write_file (&b->files[i]);
  snprintf (first, sizeof first, "%s/%s", dir, b->files[0].name);
  return first;
}

void
fz_remove_files (const struct fz_bundle *b)
{
  char path[PATH_MAX + FZ_MAX_NAME + 2];
  size_t i;

  for (i = 0; i < b->nr_files; i++) {
    snprintf (path, sizeof path, "%s/%s", dir, b->files[i].name);
    unlink (path);
  }
}

void
fz_clear_files (void)
{
  char path[PATH_MAX + 260];
  struct dirent *d;
  DIR *dp;

  if (dir[0] == '\0' || (dp = opendir (dir)) == NULL)
    return;
  while ((d = readdir (dp)) != NULL) {
    if (strcmp (d->d_name, ".") == 0 || strcmp (d->d_name, "..") == 0)
      continue;
    snprintf (path, sizeof path, "%s/%s", dir, d->d_name);
    unlink (path);
  }
  closedir (dp);
}

/* ---- exercising a whole disk ---- */

/* Blocks read per input: enough to reach every structure of a small
 * image, few enough that a disk claiming exabytes is as cheap as one of
 * a few MiB.
 */
#define FZ_BLOCK (64 * 1024)
#define FZ_MAX_BLOCKS 48

static const uint8_t zeros[FZ_BLOCK];

struct extent_check {
  uint64_t start, next, end;
  const uint8_t *data;          /* the block as read, or NULL */
  bool req_one;
  unsigned n;
};

static int
check_extent (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  struct extent_check *c = opaque;
  uint64_t i;

  if (c->req_one && c->n > 0)
    fz_fail ("req_one extents: more than one extent");
  if (offset != c->next || length == 0 || length > c->end - offset)
    fz_fail ("extent %" PRIu64 "+%" PRIu64 " does not follow %" PRIu64
             " inside [%" PRIu64 ", %" PRIu64 ")",
             offset, length, c->next, c->start, c->end);
  if (type != XD_EXTENT_DATA && type != XD_EXTENT_ZERO &&
      type != XD_EXTENT_UNALLOCATED)
    fz_fail ("extent %" PRIu64 " has type %" PRIu32, offset, type);
  /* memcmp, not a loop: a byte loop would be coverage-instrumented and
   * take most of the fuzzing time.
   */
  if ((type & XD_EXTENT_ZERO) && c->data &&
      memcmp (c->data + (offset - c->start), zeros, length) != 0) {
    for (i = offset - c->start; c->data[i] == 0; i++)
      ;
    fz_fail ("extent %" PRIu64 "+%" PRIu64 " is reported as zero but "
             "byte %" PRIu64 " reads as 0x%02x", offset, length,
             c->start + i, c->data[i]);
  }
  c->next += length;
  c->n++;
  return 0;
}

static void
check_extents (void *disk, const struct fz_disk_ops *ops, uint64_t off,
               uint32_t len, const uint8_t *data, bool req_one)
{
  struct extent_check c = { .start = off, .next = off, .end = off + len,
                            .data = data, .req_one = req_one };
  unsigned long before = fz_begin ();
  int r;

  r = ops->extents (disk, len, off, req_one, check_extent, &c);
  fz_check_failure (r, before, "extents");
  if (r == 0 && (c.n == 0 || (!req_one && c.next != c.end)))
    fz_fail ("extents of %" PRIu64 "+%" PRIu32 " stop at %" PRIu64,
             off, len, c.next);
}

/* Read a block, then a piece of it at an odd offset: both must agree. */
static void
exercise_block (void *disk, const struct fz_disk_ops *ops, uint64_t off,
                uint32_t len, uint8_t *buf, uint8_t *piece)
{
  unsigned long before = fz_begin ();
  uint32_t poff = len / 3 + 1, plen = len / 2;
  int r, pr;

  r = ops->read (disk, buf, len, off);
  fz_check_failure (r, before, "read");
  check_extents (disk, ops, off, len, r == 0 ? buf : NULL, false);
  check_extents (disk, ops, off, len, NULL, true);
  if (plen == 0 || poff + plen > len)
    return;
  before = fz_begin ();
  pr = ops->read (disk, piece, plen, off + poff);
  fz_check_failure (pr, before, "read");
  if (r == 0 && pr == 0 && memcmp (buf + poff, piece, plen) != 0)
    fz_fail ("reading %" PRIu64 "+%" PRIu32 " gives other bytes than "
             "reading %" PRIu64 "+%" PRIu32, off + poff, plen, off, len);
}

void
fz_exercise_disk (void *disk, uint64_t size, const struct fz_disk_ops *ops)
{
  static uint8_t buf[FZ_BLOCK], piece[FZ_BLOCK];
  uint64_t step = FZ_BLOCK, off;
  unsigned i;

  if (size == 0)
    return;
  if (size / FZ_BLOCK >= FZ_MAX_BLOCKS)
    step = (size / FZ_MAX_BLOCKS) & ~UINT64_C (511);
  for (i = 0, off = 0; i < FZ_MAX_BLOCKS && off < size; i++, off += step)
    exercise_block (disk, ops, off, xd_min_u64 (FZ_BLOCK, size - off),
                    buf, piece);
  /* The tail of the disk, where partial grains and blocks are. */
  off = size - xd_min_u64 (size, FZ_BLOCK);
  exercise_block (disk, ops, off, size - off, buf, piece);
}

/* ---- whole disks through the registry ---- */

static int
image_read (void *disk, void *buf, uint32_t count, uint64_t offset)
{
  return xd_image_read (disk, buf, count, offset);
}

static int
image_extents (void *disk, uint32_t count, uint64_t offset, bool req_one,
               xd_extent_fn add, void *opaque)
{
  return xd_image_extents (disk, count, offset, req_one, add, opaque);
}

static const struct fz_disk_ops image_ops = {
  .read = image_read,
  .extents = image_extents,
};

int
fz_check_image (struct xd_image *img)
{
  unsigned long before;
  int ret;

  if (img->format->check == NULL)
    return 0;
  before = fz_begin ();
  ret = img->format->check (img->h);
  if (ret != 0 && ret != -1)
    fz_fail ("check returned %d", ret);
  fz_check_failure (ret, before, "check");
  return ret;
}

void
fz_exercise_image (struct xd_image *img)
{
  uint64_t size = xd_image_size (img);

  if (size > INT64_MAX)
    fz_fail ("disk of %" PRIu64 " bytes", size);
  free (xd_image_describe (img));
  fz_check_image (img);
  fz_exercise_disk (img, size, &image_ops);
  xd_image_close (img);
}

void
fz_serve_file (const char *path, const struct xd_format *format,
               const struct xd_open_opts *opts)
{
  struct xd_path_policy policy;
  struct xd_resolver *res;
  struct xd_image *img = NULL;
  struct xd_io *io;
  unsigned long before;

  if (xd_path_policy_init (&policy, path, NULL) == -1)
    fz_fail ("xd_path_policy_init %s", path);
  res = xd_resolver_new_dir (&policy);
  if (res == NULL)
    fz_fail ("xd_resolver_new_dir");
  before = fz_begin ();
  io = xd_io_open_file (path);
  if (io)
    img = xd_image_open (io, res, opts, format);
  fz_check_failure (img ? 0 : -1, before, "xd_image_open");
  if (img)
    fz_exercise_image (img);
  xd_resolver_free (res);
  xd_path_policy_free (&policy);
}
