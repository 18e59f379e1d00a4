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
 * - streamOptimized: vmdk-stream-write.c;
 * - a child of create-parent=: monolithicSparse or
 *   twoGbMaxExtentSparse with parentCID and parentFileNameHint.
 *
 * The kinds, their extents' names and sizes, the descriptor and the
 * sparse header are vmdk-layout.c's; this file decides them from the
 * parameters and writes the files.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vmdk/vmdk-layout.h"
#include "vmdk/vmdk-read.h"
#include "vmdk/vmdk-write.h"
#include "vmdk/vmdk-stream.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"

/* The largest disk VMware makes (VMFS 6): 62 TiB. */
#define MAX_BYTES (UINT64_C (62) << 40)

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

/* What is being created: what the descriptor says, and the files. */
struct plan {
  struct vmdk_new_disk n;
  char *dir;                    /* the new file's directory */
  char **files;                 /* extent files created (for cleanup) */
  size_t nr_files, files_cap;
};

/* ---- parameters ------------------------------------------------------- */

/* Report that PARAM=VALUE names nothing known; WHAT says what it is. */
static int
unknown_value (const char *path, const char *param, const char *value,
               const char *what)
{
  xd_error ("%s: %s=%s: %s", path, param, value, what);
  errno = EINVAL;
  return -1;
}

/* PARAM=NAME looked up in T (any case): what VMware writes for it, or
 * NULL after reporting it unknown (WHAT says what is known).
 */
static const char *
lookup (const char *path, const char *param, const char *name,
        const struct name_value *t, const char *what)
{
  for (; t->name; ++t)
    if (strcasecmp (name, t->name) == 0)
      return t->value;
  unknown_value (path, param, name, what);
  return NULL;
}

static int
parse_type (const char *path, const char *s, struct plan *p)
{
  if (s == NULL)
    s = "monolithicSparse";
  p->n.type = vmdk_new_type_find (s);
  if (p->n.type)
    return 0;
  return unknown_value (path, "create-type", s,
                        "unknown VMDK type (monolithic-sparse, "
                        "split-sparse, monolithic-flat, split-flat, "
                        "vmfs-flat, vmfs-thin, stream-optimized, or "
                        "VMware's names monolithicSparse, "
                        "twoGbMaxExtentSparse, monolithicFlat, "
                        "twoGbMaxExtentFlat, vmfs, vmfsThin, "
                        "streamOptimized)");
}

static int
parse_adapter (const char *path, const char *s, struct plan *p)
{
  p->n.adapter = lookup (path, "create-adapter-type", s ? s : "lsilogic",
                         adapters, "unknown adapter (ide, scsi-buslogic, "
                         "scsi-lsilogic, or VMware's ide, buslogic, "
                         "lsilogic, legacyESX, lsisas1068, pvscsi)");
  return p->n.adapter ? 0 : -1;
}

/* 1 to 999: a hardware version VMware has no name for, taken as is. */
static bool
is_hwversion_number (const char *s)
{
  size_t n = strlen (s);

  return strspn (s, "0123456789") == n && n >= 1 && n <= 3 && atoi (s) >= 1;
}

static int
parse_hwversion (const char *path, const char *s, struct plan *p)
{
  /* No name in the table is a number. */
  if (s && is_hwversion_number (s)) {
    p->n.hwversion = s;
    return 0;
  }
  p->n.hwversion = lookup (path, "create-hwversion", s ? s : "workstation5",
                           hwversions, "not a hardware version "
                           "(workstation4, workstation5, workstation6, "
                           "esx30, esx4x, esx50, esx51, esx55, esx60, "
                           "esx65, or a number such as 13)");
  return p->n.hwversion ? 0 : -1;
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
  p->n.base = strdup (b);
  free (c1);
  free (c2);
  if (p->dir == NULL || p->n.base == NULL) {
    xd_error ("strdup: %m");
    return -1;
  }
  return 0;
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

  if (!vmdk_new_is_sparse (&p->n)) {
    xd_error ("%s: a child of create-parent= is a sparse VMDK: give "
              "create-type=monolithicSparse or twoGbMaxExtentSparse",
              copts->path);
    errno = EINVAL;
    return -1;
  }
  p->n.parent_name = xd_parent_ref_name (copts->path, copts->parent);
  if (p->n.parent_name == NULL)
    return -1;
  io = xd_resolver_open (res, copts->path, p->n.parent_name, "parent");
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
  p->n.parent_cid = parent->desc.cid;
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
  if (p->n.type->kind == VMDK_NEW_MONO_SPARSE)
    max = (UINT64_C (2) << 40) - (UINT64_C (4) << 30);
  if (size > max) {
    xd_error ("%s: create-size=%" PRIu64 " is larger than a %s VMDK can "
              "be (%" PRIu64 " bytes)", copts->path, size,
              p->n.type->vmware, max);
    errno = EFBIG;
    return -1;
  }
  p->n.sectors = size / VMDK_SECTOR;
  return 0;
}

/* The random parts of a new disk's descriptor besides its CID. */
static void
draw_ids (struct plan *p)
{
  unsigned i;

  for (i = 0; i < 3; i++)
    p->n.content[i] = vmdk_new_cid (0);
  if (p->n.parent_name)
    return;
  for (i = 0; i < 16; i += 4)
    xd_put_le32 (p->n.uuid + i, vmdk_new_cid (0));
}

/* Lay out a hosted sparse extent of SECTORS in IO (empty), with the
 * descriptor DESC embedded (or NULL).
 */
static int
write_sparse (struct xd_io *io, uint64_t sectors, const char *desc)
{
  unsigned char h[VMDK_SECTOR];
  uint64_t grains = xd_div_round_up (sectors, VMDK_NEW_GRAIN_SECTORS);
  uint64_t gts = xd_div_round_up (grains, VMDK_NEW_GTES_PER_GT);
  uint64_t gd_sectors = xd_div_round_up (gts * 4, VMDK_SECTOR);
  uint64_t gt_sectors = VMDK_NEW_GTES_PER_GT * 4 / VMDK_SECTOR;
  uint64_t desc_off = desc ? 1 : 0;
  uint64_t desc_sectors = desc ? VMDK_NEW_EMBEDDED_DESC_SECTORS : 0;
  uint64_t rgd = 1 + desc_sectors, gd = rgd + gd_sectors + gts * gt_sectors;
  uint64_t overhead = gd + gd_sectors + gts * gt_sectors, i;
  unsigned char *dir;
  int r;

  overhead = xd_div_round_up (overhead, VMDK_NEW_GRAIN_SECTORS)
    * VMDK_NEW_GRAIN_SECTORS;
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
  size_t i, n = vmdk_new_nr_extents (&p->n);
  int r = 0;

  if (p->n.type->kind == VMDK_NEW_MONO_SPARSE)
    return write_sparse (top, p->n.sectors, desc);
  if (xd_io_write (top, desc, strlen (desc), 0, "descriptor") == -1)
    return -1;
  for (i = 0; i < n && r == 0; ++i) {
    char *name = vmdk_new_extent_name (&p->n, i);
    struct xd_io *io = name ? create_extent_file (p, name) : NULL;
    uint64_t sectors = vmdk_new_extent_sectors (&p->n, i);
    free (name);
    if (io == NULL)
      return -1;
    if (vmdk_new_is_sparse (&p->n))
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
  free (p->n.base);
  free (p->n.parent_name);
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
  d->stream = vmdk_stream_create (io, copts, p->n.adapter, p->n.hwversion);
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
  struct plan p = { .n.type = NULL };
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
  if (p.n.type->kind == VMDK_NEW_STREAM) {
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
  p.n.cid = vmdk_new_cid (UINT32_MAX);
  draw_ids (&p);
  desc = vmdk_new_descriptor (&p.n);
  if (desc == NULL)
    goto fail;
  if (p.n.type->kind == VMDK_NEW_MONO_SPARSE &&
      strlen (desc) > VMDK_NEW_EMBEDDED_DESC_SECTORS * VMDK_SECTOR) {
    xd_error ("%s: the descriptor (%zu bytes) does not fit the %d sectors "
              "VMware embeds (a parent name too long?)", copts->path,
              strlen (desc), VMDK_NEW_EMBEDDED_DESC_SECTORS);
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
