/* xdisk vhdx: creating VHDX images.
 *
 * Laid out as Hyper-V lays them out: the file type identifier, two
 * headers and two region tables in the first 1 MiB, then the log
 * (1 MiB), the metadata region (1 MiB) and the BAT, each on a 1 MiB
 * boundary, then the payload blocks.  Unallocated BAT entries are
 * NOT_PRESENT (0).  A fixed VHDX has every payload block FULLY_PRESENT
 * at its preallocated place and LeaveBlockAllocated set; the file is
 * sparse, so that costs nothing until written.  A differencing child
 * names its parent by the parent's DataWriteGuid and paths.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhdx-write.h"
#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "include/xd-math.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"

#define MIB (UINT64_C (1) << 20)
#define LOG_OFFSET MIB
#define LOG_LENGTH MIB
#define METADATA_OFFSET (2 * MIB)
#define METADATA_LENGTH MIB
#define BAT_OFFSET (3 * MIB)
#define MAX_DISK_SIZE (UINT64_C (64) << 40)
#define DEFAULT_BLOCK_SIZE (32u << 20)   /* Hyper-V's for fixed, dynamic */
#define DEFAULT_CHILD_BLOCK_SIZE (2u << 20)   /* ... and differencing */

/* Metadata item flags. */
#define IS_VIRTUAL_DISK 2
#define IS_REQUIRED 4

struct layout {
  bool fixed;
  uint64_t size;
  uint32_t block_size, sector_size;
  uint64_t chunk_ratio, data_blocks, bat_entries, bat_length, data_offset;
  /* A child: its parent's DataWriteGuid and the names stored for it. */
  bool child;
  uint8_t parent_guid[16];
  char *relative_path, *absolute_path;
};

static void
put_le16 (uint8_t *p, uint32_t v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
}

/* UTF-8 (as file names are) to UTF-16LE at OUT, which has room for 2 *
 * strlen (S) units.  Returns the bytes written.
 */
static size_t
utf8_to_utf16le (const char *s, uint8_t *out)
{
  const unsigned char *p = (const unsigned char *) s;
  size_t n = 0;

  while (*p) {
    uint32_t c = *p++;
    int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (more)
      c &= 0x3f >> more;
    for (; more > 0 && (*p & 0xc0) == 0x80; more--)
      c = (c << 6) | (*p++ & 0x3f);
    if (c >= 0x10000) {
      c -= 0x10000;
      put_le16 (out + n, 0xd800 | (c >> 10));
      put_le16 (out + n + 2, 0xdc00 | (c & 0x3ff));
      n += 4;
    }
    else {
      put_le16 (out + n, c);
      n += 2;
    }
  }
  return n;
}

static int
bad_create (const char *name, const char *why)
{
  xd_error ("%s: cannot create the VHDX: %s", name, why);
  errno = EINVAL;
  return -1;
}

/* ---- the structures ---- */

static int
write_identifier (struct xd_io *io)
{
  uint8_t buf[8 + 512] = "vhdxfile";

  utf8_to_utf16le ("xdisk " PACKAGE_VERSION, buf + 8);
  return xd_io_write (io, buf, sizeof buf, 0, "VHDX file type identifier");
}

static int
write_headers (struct xd_io *io)
{
  uint8_t buf[VHDX_HEADER_SIZE];
  struct vhdx_header h = { .sequence = 1, .log_length = LOG_LENGTH,
                           .log_offset = LOG_OFFSET };

  if (xd_guid_generate (h.file_write_guid) == -1 ||
      xd_guid_generate (h.data_write_guid) == -1)
    return -1;
  vhdx_build_header (buf, &h);
  if (xd_io_write (io, buf, sizeof buf, VHDX_HEADER1_OFFSET,
                   "VHDX header 1") == -1)
    return -1;
  h.sequence = 2;
  vhdx_build_header (buf, &h);
  return xd_io_write (io, buf, sizeof buf, VHDX_HEADER2_OFFSET,
                      "VHDX header 2");
}

static void
region_entry (uint8_t *e, const uint8_t guid[16], uint64_t off,
              uint32_t len)
{
  memcpy (e, guid, 16);
  xd_put_le64 (e + 16, off);
  xd_put_le32 (e + 24, len);
  xd_put_le32 (e + 28, 1);      /* Required */
}

static int
write_region_tables (struct xd_io *io, const struct layout *lay)
{
  uint8_t *buf = calloc (1, VHDX_REGION_SIZE);
  int r;

  if (buf == NULL) {
    xd_error ("calloc: %m");
    return -1;
  }
  memcpy (buf, "regi", 4);
  xd_put_le32 (buf + 8, 2);
  region_entry (buf + 16, vhdx_guid_bat, BAT_OFFSET, lay->bat_length);
  region_entry (buf + 48, vhdx_guid_metadata, METADATA_OFFSET,
                METADATA_LENGTH);
  xd_put_le32 (buf + 4, xd_crc32c (0, buf, VHDX_REGION_SIZE));
  r = xd_io_write (io, buf, VHDX_REGION_SIZE, VHDX_REGION1_OFFSET,
                   "VHDX region table 1") == -1 ||
    xd_io_write (io, buf, VHDX_REGION_SIZE, VHDX_REGION2_OFFSET,
                 "VHDX region table 2") == -1 ? -1 : 0;
  free (buf);
  return r;
}

/* Add a key/value pair to the parent locator at LOC (its entries start
 * at 20, the strings at *TEXT).
 */
static void
locator_pair (uint8_t *loc, unsigned i, size_t *text, const char *key,
              const char *value)
{
  uint8_t *e = loc + 20 + 12 * i;
  size_t klen, vlen;

  klen = utf8_to_utf16le (key, loc + *text);
  xd_put_le32 (e, *text);
  put_le16 (e + 8, klen);
  *text += klen;
  vlen = utf8_to_utf16le (value, loc + *text);
  xd_put_le32 (e + 4, *text);
  put_le16 (e + 10, vlen);
  *text += vlen;
}

/* The parent locator item into LOC (room for 64 KiB); its length. */
static size_t
build_locator (const struct layout *lay, uint8_t *loc)
{
  char linkage[40];
  size_t text;
  unsigned n = 0;

  linkage[0] = '{';
  xd_guid_format (lay->parent_guid, linkage + 1);
  strcat (linkage, "}");
  memcpy (loc, vhdx_guid_vhdx_locator_type, 16);
  text = 20 + 12 * (1 + (lay->relative_path != NULL) +
                    (lay->absolute_path != NULL));
  locator_pair (loc, n++, &text, "parent_linkage", linkage);
  if (lay->relative_path)
    locator_pair (loc, n++, &text, "relative_path", lay->relative_path);
  if (lay->absolute_path)
    locator_pair (loc, n++, &text, "absolute_win32_path", lay->absolute_path);
  put_le16 (loc + 18, n);
  return text;
}

static void
metadata_entry (uint8_t *table, unsigned i, const uint8_t guid[16],
                uint32_t off, uint32_t len, uint32_t flags)
{
  uint8_t *e = table + 32 + 32 * i;

  memcpy (e, guid, 16);
  xd_put_le32 (e + 16, off);
  xd_put_le32 (e + 20, len);
  xd_put_le32 (e + 24, flags);
}

static int
write_metadata (struct xd_io *io, const struct layout *lay)
{
  /* The table, then the items from 64 KiB, each on 4 KiB. */
  uint8_t *buf = calloc (1, 2 * VHDX_METADATA_TABLE_SIZE);
  uint8_t *item;
  unsigned n = 0;
  uint32_t off = VHDX_METADATA_TABLE_SIZE;
  size_t len;
  int r;

  if (buf == NULL) {
    xd_error ("calloc: %m");
    return -1;
  }
  memcpy (buf, "metadata", 8);
  item = buf + off;
  xd_put_le32 (item, lay->block_size);
  xd_put_le32 (item + 4, lay->child ? 2 : lay->fixed ? 1 : 0);
  metadata_entry (buf, n++, vhdx_guid_file_params, off, 8, IS_REQUIRED);
  off += 4096;
  xd_put_le64 (buf + off, lay->size);
  metadata_entry (buf, n++, vhdx_guid_disk_size, off, 8,
                  IS_VIRTUAL_DISK | IS_REQUIRED);
  off += 4096;
  if (xd_guid_generate (buf + off) == -1) {
    free (buf);
    return -1;
  }
  metadata_entry (buf, n++, vhdx_guid_page83, off, 16,
                  IS_VIRTUAL_DISK | IS_REQUIRED);
  off += 4096;
  xd_put_le32 (buf + off, lay->sector_size);
  metadata_entry (buf, n++, vhdx_guid_logical_sector, off, 4,
                  IS_VIRTUAL_DISK | IS_REQUIRED);
  off += 4096;
  xd_put_le32 (buf + off, 4096);
  metadata_entry (buf, n++, vhdx_guid_physical_sector, off, 4,
                  IS_VIRTUAL_DISK | IS_REQUIRED);
  off += 4096;
  if (lay->child) {
    len = build_locator (lay, buf + off);
    metadata_entry (buf, n++, vhdx_guid_parent_locator, off, len,
                    IS_REQUIRED);
  }
  put_le16 (buf + 10, n);
  r = xd_io_write (io, buf, 2 * VHDX_METADATA_TABLE_SIZE, METADATA_OFFSET,
                   "VHDX metadata");
  free (buf);
  return r;
}

/* A fixed VHDX: every payload block present, in order. */
static int
write_fixed_bat (struct xd_io *io, const struct layout *lay)
{
  uint8_t *buf = malloc (MIB);
  uint64_t i, b = 0, per = MIB / 8;
  int r = 0;

  if (buf == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  for (i = 0; r == 0 && i < lay->bat_entries; i += per) {
    uint64_t j, n = xd_min_u64 (per, lay->bat_entries - i);
    memset (buf, 0, MIB);
    for (j = 0; j < n; j++) {
      if ((i + j) % (lay->chunk_ratio + 1) == lay->chunk_ratio)
        continue;               /* sector bitmap: not present */
      xd_put_le64 (buf + 8 * j, (lay->data_offset + b * lay->block_size) |
                   VHDX_BAT_FULLY_PRESENT);
      b++;
    }
    r = xd_io_write (io, buf, n * 8, BAT_OFFSET + 8 * i, "VHDX BAT");
  }
  free (buf);
  return r;
}

/* ---- parameters ---- */

static int
plan (const char *name, const struct xd_create_opts *copts,
      struct layout *lay)
{
  const char *type = copts->type;

  if (type == NULL || strcmp (type, "dynamic") == 0)
    lay->fixed = false;
  else if (strcmp (type, "fixed") == 0)
    lay->fixed = true;
  else
    return bad_create (name, "create-type must be fixed or dynamic (a "
                       "differencing child is created with create-parent=)");
  if (lay->child && lay->fixed)
    return bad_create (name, "a differencing child (create-parent=) is "
                       "neither fixed nor dynamic: leave out create-type");
  if (copts->block_size)
    lay->block_size = copts->block_size;
  if (!xd_is_power_of_2 (lay->block_size) ||
      lay->block_size < VHDX_MIN_BLOCK_SIZE ||
      lay->block_size > VHDX_MAX_BLOCK_SIZE)
    return bad_create (name, "create-block-size must be a power of 2 from "
                       "1M to 256M");
  if (copts->sector_size) {
    if (lay->child && copts->sector_size != lay->sector_size)
      return bad_create (name, "create-sector-size differs from the "
                         "parent's logical sector size");
    lay->sector_size = copts->sector_size;
  }
  if (lay->sector_size != 512 && lay->sector_size != 4096)
    return bad_create (name, "create-sector-size must be 512 or 4096");
  if (copts->size) {
    if (lay->child && copts->size != lay->size)
      return bad_create (name, "create-size differs from the parent's "
                         "virtual size (a child has its parent's size)");
    lay->size = copts->size;
  }
  if (lay->size == 0 || lay->size > MAX_DISK_SIZE)
    return bad_create (name, "the virtual size must be from 1 sector to "
                       "64 TiB (the VHDX limit)");
  if (lay->size % lay->sector_size)
    return bad_create (name, "the virtual size must be a multiple of the "
                       "logical sector size (create-sector-size)");
  lay->chunk_ratio = ((UINT64_C (1) << 23) * lay->sector_size) /
    lay->block_size;
  lay->data_blocks = xd_div_round_up (lay->size, lay->block_size);
  if (lay->child)
    lay->bat_entries = xd_div_round_up (lay->data_blocks, lay->chunk_ratio) *
      (lay->chunk_ratio + 1);
  else
    lay->bat_entries = lay->data_blocks +
      (lay->data_blocks - 1) / lay->chunk_ratio;
  lay->bat_length = xd_div_round_up (lay->bat_entries * 8, MIB) * MIB;
  lay->data_offset = BAT_OFFSET + lay->bat_length;
  return 0;
}

/* "dir/p.vhdx" -> ".\dir\p.vhdx"; "/a/p.vhdx" -> "\a\p.vhdx". */
static char *
windows_name (const char *name, bool relative)
{
  char *s = malloc (strlen (name) + 3), *p;

  if (s == NULL) {
    xd_error ("malloc: %m");
    return NULL;
  }
  strcpy (s, relative ? ".\\" : "");
  strcat (s, name);
  for (p = s; *p; p++)
    if (*p == '/')
      *p = '\\';
  return s;
}

/* Open the parent to learn its size, sector size and DataWriteGuid. */
static int
plan_parent (struct xd_io *io, const struct xd_resolver *res,
             const struct xd_create_opts *copts,
             const struct xd_open_opts *opts, struct layout *lay)
{
  struct xd_open_opts popts = *opts;
  struct xd_image *img;
  struct vd_layer *pl;
  char *name = xd_parent_ref_name (copts->path ? copts->path : io->name,
                                   copts->parent);
  int r = -1;

  if (name == NULL)
    return -1;
  popts.writable = false;
  img = xd_image_open_ref (res, io->name, name, "parent", "vhdx", &popts);
  if (img == NULL)
    goto out;
  pl = ((struct vd_disk *) img->h)->top;
  if (pl->kind != VD_VHDX) {
    bad_create (io->name, "the parent of a VHDX must be a VHDX");
    goto out;
  }
  lay->child = true;
  lay->size = pl->x.disk_size;
  lay->sector_size = pl->x.logical_sector_size;
  memcpy (lay->parent_guid, pl->x.header.data_write_guid, 16);
  if (name[0] != '/' &&
      (lay->relative_path = windows_name (name, true)) == NULL)
    goto out;
  if ((lay->absolute_path = windows_name (copts->parent, false)) == NULL)
    goto out;
  r = 0;
 out:
  if (img)
    xd_image_close (img);
  free (name);
  return r;
}

struct vd_disk *
vhdx_create (struct xd_io *io, const struct xd_resolver *res,
             const struct xd_create_opts *copts,
             const struct xd_open_opts *opts)
{
  struct layout lay = { .block_size = DEFAULT_BLOCK_SIZE,
                        .sector_size = 512 };
  struct vd_disk *disk = NULL;
  uint64_t end;

  if (copts->parent) {
    lay.block_size = DEFAULT_CHILD_BLOCK_SIZE;
    if (plan_parent (io, res, copts, opts, &lay) == -1)
      goto out;
  }
  if (plan (io->name, copts, &lay) == -1)
    goto out;
  end = lay.data_offset + (lay.fixed ? lay.data_blocks * lay.block_size : 0);
  if (xd_io_truncate (io, end, "new VHDX") == -1 ||
      write_identifier (io) == -1 || write_headers (io) == -1 ||
      write_region_tables (io, &lay) == -1 ||
      write_metadata (io, &lay) == -1 ||
      (lay.fixed && write_fixed_bat (io, &lay) == -1) ||
      xd_io_flush (io) == -1)
    goto out;
  disk = vd_disk_open (io, res, opts);
  io = NULL;
  if (disk && vhdx_writer_attach (disk) == -1) {
    vd_disk_close (disk);
    disk = NULL;
  }
 out:
  if (io)
    xd_io_close (io);
  free (lay.relative_path);
  free (lay.absolute_path);
  return disk;
}
