/* xdisk vmdkx: creating VMDK disks (create=true).
 *
 * Files are laid out as VMware lays them out:
 *
 * - monolithicSparse: one hosted sparse file, header version 1, 64 KiB
 *   grains, 512 entries per grain table, the descriptor embedded at
 *   sector 1 (20 sectors), then the redundant grain directory and its
 *   tables, the grain directory and its tables (all tables allocated,
 *   as VMware does), the overhead rounded up to a grain;
 * - twoGbMaxExtentSparse: a text descriptor and NAME-s001.vmdk ...
 *   sparse extents of 4192256 sectors (2047 MiB) each, no embedded
 *   descriptor;
 * - monolithicFlat, vmfs (ESXi thick), vmfsThin (ESXi thin, written
 *   as ESXi writes it: createType "vmfs" with ddb.thinProvisioned):
 *   a text descriptor and NAME-flat.vmdk;
 * - twoGbMaxExtentFlat: a text descriptor and NAME-f001.vmdk ...;
 * - streamOptimized: vmdk-stream-write.c, whose header and descriptor
 *   are written here too (vmdk_put_sparse_header,
 *   vmdk_stream_descriptor);
 * - a child of create-parent=: monolithicSparse or
 *   twoGbMaxExtentSparse with parentCID and parentFileNameHint.
 *
 * The descriptor has VMware's comment lines and only the ddb keys
 * VMware writes (adapterType, geometry, longContentID, uuid,
 * virtualHWVersion; a child only longContentID; a stream no uuid).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vmdk/vmdk-create.h"
#include "vmdk/vmdk-read.h"
#include "vmdk/vmdk-write.h"
#include "vmdk/vmdk-stream.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"

#define GRAIN_SECTORS 128
#define GTES_PER_GT 512
#define EMBEDDED_DESC_SECTORS 20
/* VMware's split extents: 2047 MiB. */
#define SPLIT_SECTORS UINT64_C (4192256)
/* The largest disk VMware makes (VMFS 6): 62 TiB. */
#define MAX_BYTES (UINT64_C (62) << 40)

enum create_kind { MONO_SPARSE, SPLIT_SPARSE, MONO_FLAT, SPLIT_FLAT,
                   VMFS_THICK, VMFS_THIN, STREAM };

struct create_type {
  const char *vddk, *vmware;
  enum create_kind kind;
};

/* In the order of enum create_kind. */
static const struct create_type types[] = {
  { "monolithic-sparse", "monolithicSparse", MONO_SPARSE },
  { "split-sparse", "twoGbMaxExtentSparse", SPLIT_SPARSE },
  { "monolithic-flat", "monolithicFlat", MONO_FLAT },
  { "split-flat", "twoGbMaxExtentFlat", SPLIT_FLAT },
  { "vmfs-flat", "vmfs", VMFS_THICK },
  { "vmfs-thin", "vmfsThin", VMFS_THIN },
  { "stream-optimized", "streamOptimized", STREAM },
};

struct name_value {
  const char *name, *value;
};

/* Adapters: vddk's names and VMware's, to what ddb.adapterType says. */
static const struct name_value adapters[] = {
  { "ide", "ide" }, { "scsi-buslogic", "buslogic" },
  { "buslogic", "buslogic" }, { "scsi-lsilogic", "lsilogic" },
  { "lsilogic", "lsilogic" }, { "legacyESX", "legacyESX" },
  { "lsisas1068", "lsisas1068" }, { "pvscsi", "pvscsi" },
  { NULL, NULL }
};

/* vddk's names (VixDiskLib's hardware versions) and the numbers VMware
 * writes for them in ddb.virtualHWVersion.
 */
static const struct name_value hwversions[] = {
  { "workstation4", "3" }, { "workstation5", "4" }, { "workstation6", "6" },
  { "esx30", "4" }, { "esx4x", "7" }, { "esx50", "8" }, { "esx51", "9" },
  { "esx55", "10" }, { "esx60", "11" }, { "esx65", "13" },
  { NULL, NULL }
};

static const char *
find_value (const struct name_value *t, const char *name)
{
  for (; t->name; ++t)
    if (strcasecmp (name, t->name) == 0)
      return t->value;
  return NULL;
}

struct plan {
  const struct create_type *type;
  const char *adapter, *hwversion;
  uint64_t sectors;             /* capacity */
  char *dir, *base;             /* the new file's directory, name w/o .vmdk */
  const char *own_name;         /* a stream's one extent: the file itself */
  char *parent_name;            /* parentFileNameHint, or NULL */
  uint32_t cid, parent_cid;
  uint32_t content[3];          /* longContentID's first words */
  unsigned char uuid[16];       /* ddb.uuid (not in a child or a stream) */
  char **files;                 /* extent files created (for cleanup) */
  size_t nr_files, files_cap;
};

/* ---- parameters ------------------------------------------------------- */

static int
parse_type (const char *path, const char *s, struct plan *p)
{
  size_t i;

  if (s == NULL)
    s = "monolithicSparse";
  for (i = 0; i < sizeof types / sizeof types[0]; ++i)
    if (strcasecmp (s, types[i].vddk) == 0 ||
        strcasecmp (s, types[i].vmware) == 0) {
      p->type = &types[i];
      return 0;
    }
  xd_error ("%s: create-type=%s: unknown VMDK type (monolithic-sparse, "
            "split-sparse, monolithic-flat, split-flat, vmfs-flat, vmfs-thin, "
            "stream-optimized, or VMware's names monolithicSparse, "
            "twoGbMaxExtentSparse, monolithicFlat, twoGbMaxExtentFlat, vmfs, "
            "vmfsThin, streamOptimized)", path, s);
  errno = EINVAL;
  return -1;
}

static int
parse_adapter (const char *path, const char *s, struct plan *p)
{
  p->adapter = find_value (adapters, s ? s : "lsilogic");
  if (p->adapter)
    return 0;
  xd_error ("%s: create-adapter-type=%s: unknown adapter (ide, "
            "scsi-buslogic, scsi-lsilogic, or VMware's ide, buslogic, "
            "lsilogic, legacyESX, lsisas1068, pvscsi)", path, s);
  errno = EINVAL;
  return -1;
}

static int
parse_hwversion (const char *path, const char *s, struct plan *p)
{
  p->hwversion = find_value (hwversions, s ? s : "workstation5");
  if (p->hwversion)
    return 0;
  if (strspn (s, "0123456789") == strlen (s) && strlen (s) >= 1 &&
      strlen (s) <= 3 && atoi (s) >= 1) {
    p->hwversion = s;
    return 0;
  }
  xd_error ("%s: create-hwversion=%s: not a hardware version (workstation4, "
            "workstation5, workstation6, esx30, esx4x, esx50, esx51, esx55, "
            "esx60, esx65, or a number such as 13)", path, s);
  errno = EINVAL;
  return -1;
}

/* The new file's directory and its name without ".vmdk". */
static int
split_path (const char *path, struct plan *p)
{
  char *c1 = strdup (path), *c2 = strdup (path), *b;
  size_t n;

  if (c1 == NULL || c2 == NULL) {
    free (c1);
    free (c2);
    xd_error ("strdup: %m");
    return -1;
  }
  p->dir = strdup (dirname (c1));
  b = basename (c2);
  n = strlen (b);
  if (n > 5 && strcasecmp (b + n - 5, ".vmdk") == 0)
    b[n - 5] = '\0';
  p->base = strdup (b);
  free (c1);
  free (c2);
  if (p->dir == NULL || p->base == NULL) {
    xd_error ("strdup: %m");
    return -1;
  }
  return 0;
}

static bool
is_sparse (enum create_kind k)
{
  return k == MONO_SPARSE || k == SPLIT_SPARSE;
}

static bool
is_split (enum create_kind k)
{
  return k == SPLIT_SPARSE || k == SPLIT_FLAT;
}

/* Open the parent to learn its CID and size. */
static int
read_parent (const struct xd_resolver *res,
             const struct xd_create_opts *copts,
             const struct xd_open_opts *opts, struct plan *p, uint64_t *size)
{
  struct xd_open_opts popts = *opts;
  struct vmdk_disk *parent;
  struct xd_io *io;

  if (!is_sparse (p->type->kind)) {
    xd_error ("%s: a child of create-parent= is a sparse VMDK: give "
              "create-type=monolithicSparse or twoGbMaxExtentSparse",
              copts->path);
    errno = EINVAL;
    return -1;
  }
  p->parent_name = xd_parent_ref_name (copts->path, copts->parent);
  if (p->parent_name == NULL)
    return -1;
  io = xd_resolver_open (res, copts->path, p->parent_name, "parent");
  if (io == NULL)
    return -1;
  popts.writable = false;
  popts.depth++;
  parent = vmdk_disk_open (io, res, &popts);
  if (parent == NULL) {
    xd_error ("%s: create-parent=%s: a VMDK child needs a VMDK parent",
              copts->path, copts->parent);
    return -1;
  }
  p->parent_cid = parent->desc.cid;
  *size = parent->size;
  vmdk_disk_close (parent);
  return 0;
}

static int
check_size (const struct xd_create_opts *copts, struct plan *p,
            uint64_t size)
{
  uint64_t max = MAX_BYTES;

  if (size == 0 || size % VMDK_SECTOR != 0) {
    xd_error ("%s: create-size=%" PRIu64 " is not a positive multiple of "
              "512 bytes (a VMDK's capacity is in sectors)", copts->path,
              size);
    errno = EINVAL;
    return -1;
  }
  /* A monolithic sparse file addresses grains with 32-bit sectors:
   * leave room for the overhead (at most 2 GiB for 2 TiB).
   */
  if (p->type->kind == MONO_SPARSE)
    max = (UINT64_C (2) << 40) - (UINT64_C (4) << 30);
  if (size > max) {
    xd_error ("%s: create-size=%" PRIu64 " is larger than a %s VMDK can "
              "be (%" PRIu64 " bytes)", copts->path, size,
              p->type->vmware, max);
    errno = EFBIG;
    return -1;
  }
  p->sectors = size / VMDK_SECTOR;
  return 0;
}

/* ---- the descriptor --------------------------------------------------- */

/* VMware's BIOS geometry: IDE 16 heads, 63 sectors, at most 16383
 * cylinders; SCSI 64/32 below 1 GiB, 128/32 below 2 GiB, else 255/63.
 * VMware's exporters write a stream's SCSI geometry as 255/63 at any
 * size.
 */
static void
geometry (const struct plan *p, uint64_t *c, unsigned *h, unsigned *s)
{
  if (strcmp (p->adapter, "ide") == 0) {
    *h = 16;
    *s = 63;
  }
  else if (p->type->kind == STREAM) {
    *h = 255;
    *s = 63;
  }
  else if (p->sectors < (UINT64_C (1) << 21)) {
    *h = 64;
    *s = 32;
  }
  else if (p->sectors < (UINT64_C (1) << 22)) {
    *h = 128;
    *s = 32;
  }
  else {
    *h = 255;
    *s = 63;
  }
  *c = p->sectors / (*h * *s);
  if (*c == 0)
    *c = 1;
  if (strcmp (p->adapter, "ide") == 0 && *c > 16383)
    *c = 16383;
}

static const char *
extent_kind (const struct plan *p)
{
  switch (p->type->kind) {
  case MONO_SPARSE: case SPLIT_SPARSE: case STREAM: return "SPARSE";
  case VMFS_THICK: case VMFS_THIN: return "VMFS";
  default: return "FLAT";
  }
}

/* The name of extent I (0-based) of N. */
static char *
extent_name (const struct plan *p, size_t i)
{
  char *s = NULL;
  int r;

  switch (p->type->kind) {
  case MONO_SPARSE:
    r = asprintf (&s, "%s.vmdk", p->base);
    break;
  case SPLIT_SPARSE:
    r = asprintf (&s, "%s-s%03zu.vmdk", p->base, i + 1);
    break;
  case SPLIT_FLAT:
    r = asprintf (&s, "%s-f%03zu.vmdk", p->base, i + 1);
    break;
  case STREAM:
    r = asprintf (&s, "%s", p->own_name);
    break;
  default:
    r = asprintf (&s, "%s-flat.vmdk", p->base);
  }
  if (r == -1) {
    xd_error ("asprintf: %m");
    return NULL;
  }
  return s;
}

static size_t
nr_extents (const struct plan *p)
{
  return is_split (p->type->kind)
    ? xd_div_round_up (p->sectors, SPLIT_SECTORS) : 1;
}

static uint64_t
extent_sectors (const struct plan *p, size_t i)
{
  if (!is_split (p->type->kind))
    return p->sectors;
  return xd_min_u64 (SPLIT_SECTORS, p->sectors - i * SPLIT_SECTORS);
}

/* Append to a growing string; false on failure (reported). */
struct text {
  char *s;
  size_t len;
  bool failed;
};

static void
add (struct text *t, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static void
add (struct text *t, const char *fmt, ...)
{
  va_list ap;
  char *piece, *n;
  int r;

  if (t->failed)
    return;
  va_start (ap, fmt);
  r = vasprintf (&piece, fmt, ap);
  va_end (ap);
  n = r == -1 ? NULL : realloc (t->s, t->len + r + 1);
  if (n == NULL) {
    if (r != -1)
      free (piece);
    xd_error ("descriptor: %m");
    t->failed = true;
    return;
  }
  memcpy (n + t->len, piece, r + 1);
  t->s = n;
  t->len += r;
  free (piece);
}

/* The random parts of a new disk's descriptor besides its CID. */
static void
draw_ids (struct plan *p)
{
  unsigned i;

  for (i = 0; i < 3; i++)
    p->content[i] = vmdk_new_cid (0);
  if (p->parent_name)
    return;
  for (i = 0; i < 16; i += 4)
    xd_put_le32 (p->uuid + i, vmdk_new_cid (0));
}

static void
add_ddb (struct text *t, const struct plan *p)
{
  const unsigned char *u = p->uuid;
  uint64_t c;
  unsigned h, s;

  add (t, "# The Disk Data Base \n#DDB\n\n");
  if (p->parent_name == NULL) {
    geometry (p, &c, &h, &s);
    add (t, "ddb.adapterType = \"%s\"\n", p->adapter);
    add (t, "ddb.geometry.cylinders = \"%" PRIu64 "\"\n", c);
    add (t, "ddb.geometry.heads = \"%u\"\n", h);
    add (t, "ddb.geometry.sectors = \"%u\"\n", s);
  }
  /* VMware ends the long content ID with the CID. */
  add (t, "ddb.longContentID = \"%08" PRIx32 "%08" PRIx32 "%08" PRIx32
       "%08" PRIx32 "\"\n", p->content[0], p->content[1], p->content[2],
       p->cid);
  if (p->parent_name)
    return;
  if (p->type->kind == VMFS_THIN)
    add (t, "ddb.thinProvisioned = \"1\"\n");
  if (p->type->kind != STREAM)
    add (t, "ddb.uuid = \"%02x %02x %02x %02x %02x %02x %02x %02x-"
         "%02x %02x %02x %02x %02x %02x %02x %02x\"\n", u[0], u[1], u[2],
         u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
         u[14], u[15]);
  add (t, "ddb.virtualHWVersion = \"%s\"\n", p->hwversion);
}

static char *
make_descriptor (const struct plan *p)
{
  struct text t = { .s = NULL };
  size_t i, n = nr_extents (p);

  add (&t, "# Disk DescriptorFile\nversion=1\n");
  /* VMware's exporters write neither line into a stream. */
  if (p->type->kind != STREAM)
    add (&t, "encoding=\"UTF-8\"\n");
  add (&t, "CID=%08" PRIx32 "\n", p->cid);
  add (&t, "parentCID=%08" PRIx32 "\n",
       p->parent_name ? p->parent_cid : UINT32_MAX);
  if (p->type->kind != STREAM)
    add (&t, "isNativeSnapshot=\"no\"\n");
  /* ESXi names a thin disk "vmfs" and says so in the DDB. */
  add (&t, "createType=\"%s\"\n",
       p->type->kind == VMFS_THIN ? "vmfs" : p->type->vmware);
  if (p->parent_name)
    add (&t, "parentFileNameHint=\"%s\"\n", p->parent_name);
  add (&t, "\n# Extent description\n");
  for (i = 0; i < n; ++i) {
    char *name = extent_name (p, i);
    if (name == NULL) {
      free (t.s);
      return NULL;
    }
    /* FLAT extents give their offset; ESXi writes none for VMFS. */
    add (&t, "RW %" PRIu64 " %s \"%s\"%s\n", extent_sectors (p, i),
         extent_kind (p), name,
         strcmp (extent_kind (p), "FLAT") == 0 ? " 0" : "");
    free (name);
  }
  add (&t, "\n");
  add_ddb (&t, p);
  if (t.failed) {
    free (t.s);
    return NULL;
  }
  return t.s;
}

char *
vmdk_stream_descriptor (uint64_t capacity, const char *file,
                        const char *adapter, const char *hwversion,
                        const struct vmdk_new_ids *ids)
{
  struct plan p = {
    .type = &types[STREAM], .adapter = adapter, .hwversion = hwversion,
    .sectors = capacity, .own_name = file, .cid = ids->cid,
    .content = { ids->content[0], ids->content[1], ids->content[2] },
  };

  return make_descriptor (&p);
}

/* ---- sparse extents --------------------------------------------------- */

void
vmdk_put_sparse_header (unsigned char *h, const struct vmdk_sparse_layout *l)
{
  memset (h, 0, VMDK_SECTOR);
  xd_put_le32 (h, VMDK_MAGIC_KDMV);
  xd_put_le32 (h + 4, l->version);
  xd_put_le32 (h + 8, l->flags);
  xd_put_le64 (h + 12, l->capacity);
  xd_put_le64 (h + 20, GRAIN_SECTORS);
  xd_put_le64 (h + 28, l->desc_offset);
  xd_put_le64 (h + 36, l->desc_sectors);
  xd_put_le32 (h + 44, GTES_PER_GT);
  xd_put_le64 (h + 48, l->rgd_offset);
  xd_put_le64 (h + 56, l->gd_offset);
  xd_put_le64 (h + 64, l->overhead);
  h[72] = 0;                    /* uncleanShutdown */
  h[73] = '\n';
  h[74] = ' ';
  h[75] = '\r';
  h[76] = '\n';
  h[77] = l->compress;          /* compressAlgorithm (le16) */
}

/* Lay out a hosted sparse extent of SECTORS in IO (empty), with the
 * descriptor DESC embedded (or NULL).
 */
static int
write_sparse (struct xd_io *io, uint64_t sectors, const char *desc)
{
  unsigned char h[VMDK_SECTOR];
  uint64_t grains = xd_div_round_up (sectors, GRAIN_SECTORS);
  uint64_t gts = xd_div_round_up (grains, GTES_PER_GT);
  uint64_t gd_sectors = xd_div_round_up (gts * 4, VMDK_SECTOR);
  uint64_t gt_sectors = GTES_PER_GT * 4 / VMDK_SECTOR;
  uint64_t desc_off = desc ? 1 : 0, desc_sectors = desc ? EMBEDDED_DESC_SECTORS : 0;
  uint64_t rgd = 1 + desc_sectors, gd = rgd + gd_sectors + gts * gt_sectors;
  uint64_t overhead = gd + gd_sectors + gts * gt_sectors, i;
  unsigned char *dir;
  int r;

  overhead = xd_div_round_up (overhead, GRAIN_SECTORS) * GRAIN_SECTORS;
  vmdk_put_sparse_header (h, &(struct vmdk_sparse_layout) {
      .version = 1,
      .flags = VMDK_FLAG_NEWLINE_TEST | VMDK_FLAG_REDUNDANT_GT,
      .capacity = sectors, .desc_offset = desc_off,
      .desc_sectors = desc_sectors, .rgd_offset = rgd, .gd_offset = gd,
      .overhead = overhead,
    });
  /* The tables are all allocated, zero (unallocated grains): the file
   * is extended sparsely over them; then the directories point at them.
   */
  if (xd_io_truncate (io, overhead * VMDK_SECTOR, "sparse extent") == -1)
    return -1;
  dir = malloc (gd_sectors * VMDK_SECTOR);
  if (dir == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return -1;
  }
  memset (dir, 0, gd_sectors * VMDK_SECTOR);
  for (i = 0; i < gts; ++i)
    xd_put_le32 (dir + i * 4, rgd + gd_sectors + i * gt_sectors);
  r = xd_io_write (io, dir, gd_sectors * VMDK_SECTOR, rgd * VMDK_SECTOR,
                   "redundant grain directory");
  for (i = 0; i < gts; ++i)
    xd_put_le32 (dir + i * 4, gd + gd_sectors + i * gt_sectors);
  if (r == 0)
    r = xd_io_write (io, dir, gd_sectors * VMDK_SECTOR, gd * VMDK_SECTOR,
                     "grain directory");
  free (dir);
  if (r == 0 && desc)
    r = xd_io_write (io, desc, strlen (desc), VMDK_SECTOR,
                     "embedded descriptor");
  if (r == 0)
    r = xd_io_write (io, h, sizeof h, 0, "sparse header");
  return r;
}

/* ---- extent files ----------------------------------------------------- */

static struct xd_io *
create_extent_file (struct plan *p, const char *name)
{
  char *path;
  struct xd_io *io;

  if (asprintf (&path, "%s/%s", p->dir, name) == -1) {
    xd_error ("asprintf: %m");
    return NULL;
  }
  if (XD_RESERVE (p->files, p->nr_files, p->files_cap, 1) == -1) {
    xd_error ("realloc: %m");
    free (path);
    return NULL;
  }
  io = xd_io_create_file (path, false);
  if (io == NULL) {
    free (path);
    return NULL;
  }
  p->files[p->nr_files++] = path;
  return io;
}

static int
create_extents (struct plan *p, struct xd_io *top, const char *desc)
{
  size_t i, n = nr_extents (p);
  int r = 0;

  if (p->type->kind == MONO_SPARSE)
    return write_sparse (top, p->sectors, desc);
  if (xd_io_write (top, desc, strlen (desc), 0, "descriptor") == -1)
    return -1;
  for (i = 0; i < n && r == 0; ++i) {
    char *name = extent_name (p, i);
    struct xd_io *io = name ? create_extent_file (p, name) : NULL;
    uint64_t sectors = extent_sectors (p, i);
    free (name);
    if (io == NULL)
      return -1;
    if (is_sparse (p->type->kind))
      r = write_sparse (io, sectors, NULL);
    else
      r = xd_io_truncate (io, sectors * VMDK_SECTOR, "flat extent");
    if (r == 0)
      r = xd_io_flush (io);
    xd_io_close (io);
  }
  return r;
}

static void
plan_free (struct plan *p, bool remove)
{
  size_t i;

  for (i = 0; i < p->nr_files; ++i) {
    if (remove)
      unlink (p->files[i]);
    free (p->files[i]);
  }
  free (p->files);
  free (p->dir);
  free (p->base);
  free (p->parent_name);
}

static struct vmdk_disk *
create_stream (struct xd_io *io, const struct xd_create_opts *copts,
               struct plan *p)
{
  struct vmdk_disk *d = calloc (1, sizeof *d);

  if (d == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  d->path = strdup (io->name);
  if (d->path == NULL) {
    xd_error ("%s: strdup: %m", io->name);
    xd_io_close (io);
    vmdk_disk_close (d);
    return NULL;
  }
  d->stream = vmdk_stream_create (io, copts, p->adapter, p->hwversion);
  if (d->stream == NULL) {
    vmdk_disk_close (d);
    return NULL;
  }
  d->size = vmdk_stream_size (d->stream);
  d->grain_bytes = vmdk_stream_grain_bytes (d->stream);
  d->writable = true;
  return d;
}

struct vmdk_disk *
vmdk_disk_create (struct xd_io *io, const struct xd_resolver *res,
                  const struct xd_create_opts *copts,
                  const struct xd_open_opts *opts)
{
  struct plan p = { .type = NULL };
  struct xd_open_opts wopts = *opts;
  struct vmdk_disk *d = NULL;
  uint64_t size = copts->size, psize;
  char *desc = NULL;
  struct xd_create_opts named = *copts;

  /* A memory io (unit tests) has no path: messages use its name. */
  if (named.path == NULL)
    named.path = io->name;
  copts = &named;

  if (parse_type (copts->path, copts->type, &p) == -1 ||
      parse_adapter (copts->path, copts->adapter_type, &p) == -1 ||
      parse_hwversion (copts->path, copts->hwversion, &p) == -1)
    goto fail;
  if (p.type->kind == STREAM) {
    if (copts->parent) {
      xd_error ("%s: a streamOptimized VMDK cannot have a parent",
                copts->path);
      errno = EINVAL;
      goto fail;
    }
    plan_free (&p, false);
    return create_stream (io, copts, &p);
  }
  if (split_path (copts->path, &p) == -1)
    goto fail;
  if (copts->parent) {
    if (read_parent (res, copts, opts, &p, &psize) == -1)
      goto fail;
    if (size && size != psize) {
      xd_error ("%s: create-size=%" PRIu64 " differs from the size of the "
                "parent %s (%" PRIu64 "): a VMDK child has its parent's size",
                copts->path, size, copts->parent, psize);
      errno = EINVAL;
      goto fail;
    }
    size = psize;
  }
  if (check_size (copts, &p, size) == -1)
    goto fail;
  p.cid = vmdk_new_cid (UINT32_MAX);
  draw_ids (&p);
  desc = make_descriptor (&p);
  if (desc == NULL)
    goto fail;
  if (p.type->kind == MONO_SPARSE &&
      strlen (desc) > EMBEDDED_DESC_SECTORS * VMDK_SECTOR) {
    xd_error ("%s: the descriptor (%zu bytes) does not fit the %d sectors "
              "VMware embeds (a parent name too long?)", copts->path,
              strlen (desc), EMBEDDED_DESC_SECTORS);
    errno = ENAMETOOLONG;
    goto fail;
  }
  if (create_extents (&p, io, desc) == -1 || xd_io_flush (io) == -1)
    goto fail;
  free (desc);
  desc = NULL;
  wopts.writable = true;
  d = vmdk_disk_open (io, res, &wopts);
  io = NULL;
  if (d == NULL)
    goto fail;
  /* A new disk has no snapshots yet: no new CID on the first write. */
  d->cid_done = true;
  plan_free (&p, false);
  return d;

 fail:
  free (desc);
  if (io)
    xd_io_close (io);
  plan_free (&p, true);
  return NULL;
}
