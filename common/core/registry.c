/* xdisk: the registry of formats, content detection, and images of any
 * format (see xd-format.h).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xd-format.h"
#include "include/xd-math.h"
#include "include/xd-report.h"
#include "core/xd-text.h"

extern const struct xd_format xd_reader_vmdk;
extern const struct xd_format xd_reader_vhd;
extern const struct xd_format xd_reader_vhdx;
extern const struct xd_format xd_reader_vdi;
extern const struct xd_format xd_format_qcow2;
extern const struct xd_format xd_reader_ova;
extern const struct xd_format xd_reader_xva;
extern const struct xd_format xd_format_vmx;
extern const struct xd_format xd_format_vbox;
extern const struct xd_format xd_format_ovf;

/* Each format's reader (its writer is composed with it in the table a
 * plugin serves: xd_format_writable): detection, format names and the
 * parents and backing files in chains only ever read.
 *
 * Probed in this order.  Appliances (tar archives with a valid header
 * checksum and a telling first member) first; formats with a magic
 * number next; a
 * VirtualBox .vbox (XML with VirtualBox and Machine elements), an OVF
 * descriptor (XML in the OVF envelope namespace), a VMware
 * .vmx (text with its own keys and no descriptor keyword) and the
 * VMDK text descriptor (recognised by its keywords) after them; raw,
 * which matches nothing, last.
 */
const struct xd_format *const xd_formats[] = {
  &xd_reader_ova,
  &xd_reader_xva,
  &xd_reader_vhdx,
  &xd_format_qcow2,
  &xd_reader_vhd,
  &xd_reader_vdi,
  &xd_format_vbox,
  &xd_format_ovf,
  &xd_format_vmx,
  &xd_reader_vmdk,
  &xd_format_raw,
  NULL,
};

const struct xd_format *
xd_format_by_name (const char *name)
{
  size_t i;

  for (i = 0; xd_formats[i]; i++)
    if (strcasecmp (xd_formats[i]->name, name) == 0)
      return xd_formats[i];
  return NULL;
}

bool
xd_format_in (const struct xd_format *const *list, const struct xd_format *f)
{
  size_t i;

  for (i = 0; list[i]; i++)
    if (strcmp (list[i]->name, f->name) == 0)
      return true;
  return false;
}

const struct xd_format *
xd_detect (struct xd_io *io)
{
  uint8_t head[XD_PROBE_BYTES];
  size_t len = (size_t) xd_min_u64 (io->size, sizeof head), i;

  if (len > 0 && xd_io_read (io, head, len, 0, "format signature") == -1)
    return NULL;
  for (i = 0; xd_formats[i]; i++)
    if (xd_formats[i]->probe && xd_formats[i]->probe (io, head, len))
      return xd_formats[i];
  return &xd_format_raw;
}

int
xd_config_parent_mismatch (struct xd_open_opts *opts, const char *key,
                           const char *value)
{
  int r;

  if (strcmp (key, "ignore-parent-mismatch") != 0)
    return 1;
  r = xd_parse_bool (key, value);
  if (r == -1)
    return -1;
  opts->ignore_parent_mismatch = r;
  return 0;
}

/* ---- raw: the file is the disk ---- */

static void *
raw_open (struct xd_io *io, const struct xd_resolver *res XD_UNUSED,
          const struct xd_open_opts *opts XD_UNUSED)
{
  return io;
}

static void
raw_close (void *h)
{
  xd_io_close (h);
}

static uint64_t
raw_size (void *h)
{
  return ((struct xd_io *) h)->size;
}

static int
raw_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return xd_io_read (h, buf, count, offset, "data");
}

static int
raw_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
             xd_extent_fn add, void *opaque)
{
  struct xd_io *io = h;
  uint64_t end = xd_min_u64 (offset + count, io->size);

  while (offset < end) {
    bool is_data;
    uint64_t run;
    if (xd_io_allocation (io, offset, &is_data, &run) == -1)
      return -1;
    run = xd_min_u64 (run, end - offset);
    if (add (opaque, offset, run,
             is_data ? XD_EXTENT_DATA : XD_EXTENT_UNALLOCATED) == -1)
      return -1;
    offset += run;
    if (req_one)
      break;
  }
  return 0;
}

static char *
raw_describe (void *h)
{
  char *s;

  if (asprintf (&s, "raw, %" PRIu64 " bytes", ((struct xd_io *) h)->size)
      == -1)
    return NULL;
  return s;
}

const struct xd_format xd_format_raw = {
  .name = "raw",
  .display = "raw",
  .plugin = "diskx",
  .open = raw_open,
  .close = raw_close,
  .size = raw_size,
  .pread = raw_pread,
  .extents = raw_extents,
  .describe = raw_describe,
};

/* ---- images of any format ---- */

/* An image of FORMAT opened (COPTS NULL) or created in IO, which is
 * taken.
 */
static struct xd_image *
image_new (struct xd_io *io, const struct xd_resolver *res,
           const struct xd_create_opts *copts,
           const struct xd_open_opts *opts, const struct xd_format *format)
{
  struct xd_image *img = calloc (1, sizeof *img);

  if (img == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  img->format = copts && format->created ? format->created : format;
  img->h = copts ? format->create (io, res, copts, opts)
                 : format->open (io, res, opts);
  if (img->h == NULL) {
    free (img);
    return NULL;
  }
  return img;
}

struct xd_image *
xd_image_open (struct xd_io *io, const struct xd_resolver *res,
               const struct xd_open_opts *opts,
               const struct xd_format *format)
{
  if (opts->depth >= XD_MAX_CHAIN) {
    xd_error ("%s: the chain of parents and backing files is deeper than "
              "%d (a loop?)", io->name, XD_MAX_CHAIN);
    xd_io_close (io);
    errno = EIO;
    return NULL;
  }
  if (format == NULL && (format = xd_detect (io)) == NULL) {
    xd_io_close (io);
    return NULL;
  }
  return image_new (io, res, NULL, opts, format);
}

struct xd_image *
xd_image_open_ref (const struct xd_resolver *res, const char *from,
                   const char *name, const char *what,
                   const char *format_name, const struct xd_open_opts *opts)
{
  const struct xd_format *format = NULL;
  struct xd_open_opts deeper = *opts;
  struct xd_io *io;

  if (format_name && (format = xd_format_by_name (format_name)) == NULL) {
    xd_error ("%s: the %s \"%s\" is recorded as format \"%s\", which this "
              "pack does not read", from, what, name, format_name);
    errno = EIO;
    return NULL;
  }
  io = xd_resolver_open (res, from, name, what);
  if (io == NULL)
    return NULL;
  deeper.depth++;
  deeper.writable = false;      /* parents are never written */
  return xd_image_open (io, res, &deeper, format);
}

void
xd_image_close (struct xd_image *img)
{
  if (img == NULL)
    return;
  img->format->close (img->h);
  free (img);
}

uint64_t
xd_image_size (const struct xd_image *img)
{
  return img->format->size (img->h);
}

int
xd_image_read (struct xd_image *img, void *buf, uint32_t count,
               uint64_t offset)
{
  return img->format->pread (img->h, buf, count, offset);
}

int
xd_image_extents (struct xd_image *img, uint32_t count, uint64_t offset,
                  bool req_one, xd_extent_fn add, void *opaque)
{
  uint64_t size = xd_image_size (img);

  if (img->format->extents)
    return img->format->extents (img->h, count, offset, req_one, add, opaque);
  return add (opaque, offset, xd_min_u64 (count, size - offset),
              XD_EXTENT_DATA);
}

static int
image_io_pread (struct xd_io *io, void *buf, size_t count, uint64_t offset)
{
  return xd_image_read (io->priv, buf, (uint32_t) count, offset);
}

static const struct xd_io_ops image_io_ops = {
  .pread = image_io_pread,
};

struct xd_io *
xd_image_as_io (struct xd_image *img, const char *name)
{
  return xd_io_new (&image_io_ops, name, xd_image_size (img), img);
}

char *
xd_image_describe (const struct xd_image *img)
{
  return img->format->describe ? img->format->describe (img->h) : NULL;
}

/* ---- writing ---- */

bool
xd_image_can_write (const struct xd_image *img, const char **why)
{
  *why = NULL;
  /* An appliance being created: its disks are written, unless it says
   * why not (a VM's .vmx serves its disks as they are).
   */
  if (img->format->disks)
    return img->format->can_write == NULL ||
      img->format->can_write (img->h, why);
  if (img->format->pwrite == NULL)
    return false;               /* a read-only format: nothing to say */
  if (img->format->can_write == NULL)
    return true;
  return img->format->can_write (img->h, why);
}

int
xd_image_write (struct xd_image *img, const void *buf, uint32_t count,
                uint64_t offset)
{
  if (img->format->pwrite == NULL) {
    /* A reader's table (the registry's): see xd_format_writable. */
    xd_error ("%s: the image was opened read-only, by the format's "
              "reader", img->format->display);
    errno = EROFS;
    return -1;
  }
  return img->format->pwrite (img->h, buf, count, offset);
}

/* Zeros the slow way, for formats without a zero op. */
static int
write_zeros (struct xd_image *img, uint32_t count, uint64_t offset)
{
  static const unsigned char zeros[65536];

  while (count > 0) {
    uint32_t n = count < sizeof zeros ? count : (uint32_t) sizeof zeros;
    if (img->format->pwrite (img->h, zeros, n, offset) == -1)
      return -1;
    count -= n;
    offset += n;
  }
  return 0;
}

int
xd_image_zero (struct xd_image *img, uint32_t count, uint64_t offset,
               bool may_trim, bool fast)
{
  if (img->format->zero)
    return img->format->zero (img->h, count, offset, may_trim, fast);
  if (fast) {
    errno = ENOTSUP;
    return -1;
  }
  return write_zeros (img, count, offset);
}

int
xd_image_trim (struct xd_image *img, uint32_t count, uint64_t offset)
{
  return img->format->trim ? img->format->trim (img->h, count, offset) : 0;
}

int
xd_image_flush (struct xd_image *img)
{
  return img->format->flush ? img->format->flush (img->h) : 0;
}

int
xd_image_finish (struct xd_image *img)
{
  return img->format->finish ? img->format->finish (img->h) : 0;
}

struct xd_image *
xd_image_create (struct xd_io *io, const struct xd_resolver *res,
                 const struct xd_create_opts *copts,
                 const struct xd_open_opts *opts,
                 const struct xd_format *format)
{
  if (format->create == NULL) {
    xd_error ("%s: this pack cannot create %s images", io->name,
              format->display);
    xd_io_close (io);
    errno = ENOTSUP;
    return NULL;
  }
  return image_new (io, res, copts, opts, format);
}

/* The parent's name relative to the child's directory when it lies at
 * or below it, else the parent's absolute path.
 */
char *
xd_parent_ref_name (const char *child_path, const char *parent_path)
{
  const char *slash = strrchr (child_path, '/');
  size_t dir_len = slash ? (size_t) (slash - child_path) : 0;
  char *name;

  if (slash && strncmp (parent_path, child_path, dir_len) == 0 &&
      parent_path[dir_len] == '/' && parent_path[dir_len + 1] != '\0')
    name = strdup (parent_path + dir_len + 1);
  else
    name = strdup (parent_path);
  if (name == NULL)
    xd_error ("%s: strdup: %m", child_path);
  return name;
}
