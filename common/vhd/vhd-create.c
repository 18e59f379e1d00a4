/* xdisk vhdx: creating VHD images (create-type=fixed|dynamic, and
 * differencing children with create-parent=).
 *
 * Written from the Microsoft "Virtual Hard Disk Image Format
 * Specification" (2006) and what the products accept
 * (../shared/docs/write-targets.md):
 *  - the current size is exactly the size asked for;
 *  - the footer is laid out as Hyper-V lays it out: the geometry is the
 *    specification's CHS for the size (rounded down when the size is
 *    not a whole number of cylinders) and the creator is "win " (see
 *    VHD_CREATOR_APP in vhd-write.h for why);
 *  - a dynamic VHD's BAT has exactly as many entries as the size needs
 *    (Azure refuses a spare one);
 *  - a fixed VHD is the data and the footer: a sparse file, any size
 *    the 64-bit size field and the file system allow (Azure takes up to
 *    32 TiB; qemu stops at 2040 GiB).
 * Layout of dynamic and differencing disks, as Hyper-V and qemu lay them
 * out: the footer copy at 0, the dynamic header at 512, the BAT at
 * 1536, then the parent locators' data, then the blocks and the footer.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vhd/vhd-write.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"

#define VHD_BAT_OFFSET 1536
#define VHD_EPOCH 946684800     /* 2000-01-01 00:00:00 UTC */
#define MAX_CHS (UINT64_C (65535) * 16 * 255)

/* The algorithm of the specification's appendix ("CHS Calculation"),
 * which Hyper-V, blktap and qemu share: blktap's "vhd-util check"
 * refuses a footer whose geometry is larger than this one.
 */
bool
vhd_geometry_for_size (uint64_t size, uint16_t *cyl, uint8_t *heads,
                       uint8_t *secs)
{
  uint64_t total = size / 512, t = xd_min_u64 (total, MAX_CHS), cth;
  unsigned spt, h;

  if (t >= UINT64_C (65535) * 16 * 63) {
    spt = 255;
    h = 16;
    cth = t / spt;
  }
  else {
    spt = 17;
    cth = t / spt;
    h = (unsigned) ((cth + 1023) / 1024);
    if (h < 4)
      h = 4;
    if (cth >= h * 1024u || h > 16) {
      spt = 31;
      h = 16;
      cth = t / spt;
    }
    if (cth >= h * 1024u) {
      spt = 63;
      h = 16;
      cth = t / spt;
    }
  }
  /* t is at most 65535 * 16 * 255 sectors, so cth / h fits 16 bits. */
  *cyl = (uint16_t) (cth / h);
  *heads = (uint8_t) h;
  *secs = (uint8_t) spt;
  return size % 512 == 0 && cth / h * h * spt == total;
}

/* UTF-8 TEXT as UTF-16 (BIG_ENDIAN or little) into OUT (CAP bytes).
 * Returns the bytes used, or -1 if TEXT is not UTF-8 or does not fit.
 */
static int
to_utf16 (const char *text, bool big_endian, uint8_t *out, size_t cap)
{
  const unsigned char *s = (const unsigned char *) text;
  size_t n = 0;

  while (*s) {
    uint32_t c;
    int more, i;
    uint16_t units[2];
    int nu;

    if (*s < 0x80) { c = *s; more = 0; }
    else if ((*s & 0xe0) == 0xc0) { c = *s & 0x1f; more = 1; }
    else if ((*s & 0xf0) == 0xe0) { c = *s & 0x0f; more = 2; }
    else if ((*s & 0xf8) == 0xf0) { c = *s & 0x07; more = 3; }
    else return -1;
    s++;
    for (i = 0; i < more; i++, s++) {
      if ((*s & 0xc0) != 0x80)
        return -1;
      c = (c << 6) | (*s & 0x3f);
    }
    if (c >= 0x10000) {
      c -= 0x10000;
      units[0] = (uint16_t) (0xd800 | (c >> 10));
      units[1] = (uint16_t) (0xdc00 | (c & 0x3ff));
      nu = 2;
    }
    else {
      units[0] = (uint16_t) c;
      nu = 1;
    }
    for (i = 0; i < nu; i++) {
      if (n + 2 > cap)
        return -1;
      out[n + !big_endian] = units[i] >> 8;
      out[n + big_endian] = units[i] & 0xff;
      n += 2;
    }
  }
  return (int) n;
}

/* ---- the footer and the dynamic header ---- */

struct vhd_new {
  uint64_t size;
  uint32_t type;
  uint32_t block_size;
  uint64_t bat_entries;
  uint8_t uuid[16];
  uint32_t timestamp;
  /* differencing */
  const struct vd_layer *parent;
  const char *parent_abs, *parent_rel;
};

static void
put_be16 (uint8_t *p, uint16_t v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static void
make_footer (const struct vhd_new *nv, uint8_t f[VHD_FOOTER_SIZE])
{
  uint16_t cyl;
  uint8_t heads, secs;

  memset (f, 0, VHD_FOOTER_SIZE);
  memcpy (f, VHD_FOOTER_COOKIE, 8);
  xd_put_be32 (f + 8, 2);                       /* features: reserved */
  xd_put_be32 (f + 12, 0x00010000);             /* format version 1.0 */
  xd_put_be64 (f + VHD_FOOTER_DATA_OFFSET,
               nv->type == VHD_TYPE_FIXED ? UINT64_MAX : VHD_FOOTER_SIZE);
  xd_put_be32 (f + VHD_FOOTER_TIMESTAMP, nv->timestamp);
  memcpy (f + VHD_FOOTER_CREATOR_APP, VHD_CREATOR_APP, 4);
  xd_put_be32 (f + VHD_FOOTER_CREATOR_VERSION, VHD_CREATOR_VERSION);
  memcpy (f + 36, "Wi2k", 4);                   /* creator host OS */
  xd_put_be64 (f + VHD_FOOTER_ORIGINAL_SIZE, nv->size);
  xd_put_be64 (f + VHD_FOOTER_CURRENT_SIZE, nv->size);
  vhd_geometry_for_size (nv->size, &cyl, &heads, &secs);
  put_be16 (f + VHD_FOOTER_GEOMETRY, cyl);
  f[VHD_FOOTER_GEOMETRY + 2] = heads;
  f[VHD_FOOTER_GEOMETRY + 3] = secs;
  xd_put_be32 (f + VHD_FOOTER_DISK_TYPE, nv->type);
  memcpy (f + VHD_FOOTER_UNIQUE_ID, nv->uuid, 16);
  xd_put_be32 (f + VHD_FOOTER_CHECKSUM,
               vhd_checksum (f, VHD_FOOTER_SIZE, VHD_FOOTER_CHECKSUM));
}

/* A parent locator: CODE, its data (UTF-16LE of NAME) at *AT, which
 * moves past the 512-byte-aligned space it takes.  The data space is
 * stored in bytes, as Windows does (the specification says sectors;
 * readers use the data length).
 */
static int
add_locator (struct xd_io *io, uint8_t *loc, const char *code,
             const char *name, uint64_t *at)
{
  uint8_t data[4096] = { 0 };
  int n = to_utf16 (name, false, data, sizeof data);
  uint32_t space;

  if (n <= 0) {
    xd_error ("%s: parent path \"%s\" is not UTF-8 or longer than %zu "
              "UTF-16 bytes", io->name, name, sizeof data);
    errno = EINVAL;
    return -1;
  }
  space = ((uint32_t) n + 511) & ~UINT32_C (511);
  memcpy (loc, code, 4);
  xd_put_be32 (loc + 4, space);
  xd_put_be32 (loc + 8, (uint32_t) n);
  xd_put_be64 (loc + 16, *at);
  if (xd_io_write (io, data, space, *at, "VHD parent locator") == -1)
    return -1;
  *at += space;
  return 0;
}

/* The dynamic header in HDR; the locators' data is written from *AT. */
static int
make_dyn_header (struct xd_io *io, const struct vhd_new *nv,
                 uint8_t hdr[VHD_DYN_HEADER_SIZE], uint64_t *at)
{
  memset (hdr, 0, VHD_DYN_HEADER_SIZE);
  memcpy (hdr, VHD_DYN_COOKIE, 8);
  xd_put_be64 (hdr + 8, UINT64_MAX);            /* data offset: unused */
  xd_put_be64 (hdr + VHD_DYN_TABLE_OFFSET, VHD_BAT_OFFSET);
  xd_put_be32 (hdr + 24, 0x00010000);           /* header version */
  xd_put_be32 (hdr + VHD_DYN_MAX_TABLE_ENTRIES,
               (uint32_t) nv->bat_entries);
  xd_put_be32 (hdr + VHD_DYN_BLOCK_SIZE, nv->block_size);
  if (nv->parent) {
    const char *base = strrchr (nv->parent_abs, '/');
    base = base ? base + 1 : nv->parent_abs;
    memcpy (hdr + VHD_DYN_PARENT_UUID, nv->parent->footer.unique_id, 16);
    xd_put_be32 (hdr + VHD_DYN_PARENT_TIMESTAMP,
                 nv->parent->footer.timestamp);
    if (to_utf16 (base, true, hdr + VHD_DYN_PARENT_NAME, 512) < 0)
      xd_debug ("%s: parent name \"%s\" does not fit the header's 512 "
                "bytes: left empty", io->name, base);
    if (nv->parent_rel &&
        add_locator (io, hdr + VHD_DYN_LOCATORS, "W2ru", nv->parent_rel,
                     at) == -1)
      return -1;
    if (add_locator (io, hdr + VHD_DYN_LOCATORS + 24, "W2ku",
                     nv->parent_abs, at) == -1)
      return -1;
  }
  xd_put_be32 (hdr + VHD_DYN_CHECKSUM,
               vhd_checksum (hdr, VHD_DYN_HEADER_SIZE, VHD_DYN_CHECKSUM));
  return 0;
}

static int
write_bat (struct xd_io *io, uint64_t entries, uint64_t *end)
{
  uint64_t bytes = (entries * 4 + 511) & ~UINT64_C (511), off = 0;
  size_t chunk = 65536;
  uint8_t *buf = malloc (chunk);

  if (buf == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return -1;
  }
  memset (buf, 0xff, chunk);
  while (off < bytes) {
    size_t n = (size_t) xd_min_u64 (chunk, bytes - off);
    if (xd_io_write (io, buf, n, VHD_BAT_OFFSET + off, "BAT") == -1) {
      free (buf);
      return -1;
    }
    off += n;
  }
  free (buf);
  *end = VHD_BAT_OFFSET + bytes;
  return 0;
}

static int
write_image (struct xd_io *io, const struct vhd_new *nv)
{
  uint8_t footer[VHD_FOOTER_SIZE], hdr[VHD_DYN_HEADER_SIZE];
  uint64_t end;

  make_footer (nv, footer);
  if (nv->type == VHD_TYPE_FIXED)
    return xd_io_write (io, footer, sizeof footer, nv->size, "VHD footer");
  if (write_bat (io, nv->bat_entries, &end) == -1 ||
      make_dyn_header (io, nv, hdr, &end) == -1 ||
      xd_io_write (io, hdr, sizeof hdr, VHD_FOOTER_SIZE,
                   "VHD dynamic header") == -1 ||
      xd_io_write (io, footer, sizeof footer, 0, "VHD footer copy") == -1 ||
      xd_io_write (io, footer, sizeof footer, end, "VHD footer") == -1)
    return -1;
  return 0;
}

/* ---- options ---- */

static int
choose_type (struct xd_io *io, const struct xd_create_opts *copts,
             struct vhd_new *nv)
{
  const char *t = copts->type;

  if (copts->parent) {
    if (t && strcmp (t, "differencing") != 0 && strcmp (t, "dynamic") != 0) {
      xd_error ("%s: create-type=%s: a VHD with create-parent= is a "
                "differencing disk", io->name, t);
      errno = EINVAL;
      return -1;
    }
    nv->type = VHD_TYPE_DIFF;
  }
  else if (t == NULL || strcmp (t, "dynamic") == 0)
    nv->type = VHD_TYPE_DYNAMIC;
  else if (strcmp (t, "fixed") == 0)
    nv->type = VHD_TYPE_FIXED;
  else {
    xd_error ("%s: create-type=%s: VHD types are fixed and dynamic "
              "(differencing: give create-parent=FILE)", io->name, t);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
check_size (struct xd_io *io, struct vhd_new *nv)
{
  uint64_t max = nv->type == VHD_TYPE_FIXED ? VHD_MAX_FIXED_SIZE
    : VHD_MAX_DYNAMIC_SIZE;

  if (nv->size == 0 || nv->size % 512) {
    xd_error ("%s: create-size=%" PRIu64 ": a VHD's size is a whole "
              "number of 512-byte sectors, at least one", io->name,
              nv->size);
    errno = EINVAL;
    return -1;
  }
  if (nv->size > max) {
    xd_error ("%s: create-size=%" PRIu64 " is too big for a %s VHD "
              "(at most %" PRIu64 " bytes%s)", io->name, nv->size,
              nv->type == VHD_TYPE_FIXED ? "fixed" : "dynamic", max,
              nv->type == VHD_TYPE_FIXED ? ""
              : ", 2040 GiB: use create-type=fixed or VHDX");
    errno = EFBIG;
    return -1;
  }
  if (nv->size % (1u << 20))
    xd_debug ("%s: warning: the VHD's size %" PRIu64 " is not a whole "
              "number of MiB: Azure refuses such disks", io->name,
              nv->size);
  return 0;
}

static int
check_block_size (struct xd_io *io, const struct xd_create_opts *copts,
                  struct vhd_new *nv)
{
  uint32_t bs = copts->block_size ? copts->block_size : VHD_DEFAULT_BLOCK;

  if (!xd_is_power_of_2 (bs) || bs < VHD_MIN_CREATE_BLOCK ||
      bs > VHD_MAX_BLOCK_SIZE) {
    xd_error ("%s: create-block-size=%" PRIu32 ": VHD blocks are a power "
              "of 2 from 512K to 256M", io->name, bs);
    errno = EINVAL;
    return -1;
  }
  if (nv->type == VHD_TYPE_FIXED && copts->block_size)
    xd_debug ("%s: create-block-size does not apply to a fixed VHD",
              io->name);
  nv->block_size = bs;
  nv->bat_entries = xd_div_round_up (nv->size, bs);
  return 0;
}

static int
new_identity (struct vhd_new *nv)
{
  time_t now = time (NULL);

  if (xd_uuid_generate (nv->uuid) == -1)
    return -1;
  nv->timestamp = now > VHD_EPOCH ? (uint32_t) (now - VHD_EPOCH) : 0;
  return 0;
}

/* ---- the parent of a differencing disk ---- */

/* Open the parent (a VHD: a VHD child's parent is a VHD) for its
 * identity and size.
 */
static struct vd_disk *
open_parent (struct xd_io *io, const struct xd_resolver *res,
             const struct xd_create_opts *copts,
             const struct xd_open_opts *opts, const char *ref)
{
  struct xd_open_opts popts = *opts;
  const struct xd_format *f;
  struct xd_io *pio;

  pio = xd_resolver_open (res, io->name, ref, "parent");
  if (pio == NULL)
    return NULL;
  f = xd_detect (pio);
  if (f == NULL) {
    xd_io_close (pio);
    return NULL;
  }
  if (strcmp (f->name, "vhd") != 0) {
    xd_error ("%s: create-parent=%s is a %s image: a VHD differencing "
              "disk's parent must be a VHD (create a VHDX child with "
              "create-format=vhdx, or a qcow2 overlay)", io->name,
              copts->parent, f->display);
    xd_io_close (pio);
    errno = EINVAL;
    return NULL;
  }
  popts.writable = false;
  popts.depth = opts->depth + 1;
  return vd_disk_open (pio, res, &popts);
}

/* The name to store as the relative locator: ".\dir\name" for a parent
 * at or below the child's directory, else NULL.
 */
static char *
relative_locator (const char *ref)
{
  char *s, *p;

  if (ref[0] == '/' || strncmp (ref, "../", 3) == 0)
    return NULL;
  if (asprintf (&s, ".\\%s", ref) == -1)
    return NULL;
  for (p = s; *p; p++)
    if (*p == '/')
      *p = '\\';
  return s;
}

static int
create_diff (struct xd_io *io, const struct xd_resolver *res,
             const struct xd_create_opts *copts,
             const struct xd_open_opts *opts, struct vhd_new *nv)
{
  char *ref;
  struct vd_disk *parent = NULL;
  int r = -1;

  if (copts->path == NULL) {
    xd_error ("%s: a differencing VHD needs the path of the file being "
              "created, to name its parent relative to it", io->name);
    errno = EINVAL;
    return -1;
  }
  ref = xd_parent_ref_name (copts->path, copts->parent);
  if (ref == NULL)
    return -1;
  parent = open_parent (io, res, copts, opts, ref);
  if (parent == NULL)
    goto out;
  nv->size = parent->top->size;
  if (copts->size && copts->size != nv->size) {
    xd_error ("%s: create-size=%" PRIu64 " differs from the size of the "
              "parent %s (%" PRIu64 "): a VHD child has its parent's size",
              io->name, copts->size, copts->parent, nv->size);
    errno = EINVAL;
    goto out;
  }
  nv->parent = parent->top;
  nv->parent_abs = copts->parent;
  nv->parent_rel = relative_locator (ref);
  if (check_size (io, nv) == -1 || check_block_size (io, copts, nv) == -1 ||
      write_image (io, nv) == -1)
    goto out;
  r = 0;
 out:
  free ((char *) nv->parent_rel);
  vd_disk_close (parent);
  free (ref);
  return r;
}

void *
vhd_w_create (struct xd_io *io, const struct xd_resolver *res,
              const struct xd_create_opts *copts,
              const struct xd_open_opts *opts)
{
  struct vhd_new nv = { .size = copts->size };
  int r;

  if (choose_type (io, copts, &nv) == -1 || new_identity (&nv) == -1)
    goto fail;
  if (nv.type == VHD_TYPE_DIFF)
    r = create_diff (io, res, copts, opts, &nv);
  else
    r = check_size (io, &nv) == -1 || check_block_size (io, copts, &nv) == -1
      || write_image (io, &nv) == -1 ? -1 : 0;
  if (r == -1 || xd_io_flush (io) == -1)
    goto fail;
  return vhd_w_open (io, res, opts);
 fail:
  xd_io_close (io);
  return NULL;
}
