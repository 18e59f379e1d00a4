/* xdisk vmdkx: what a new VMDK is made of; see vmdk-layout.h.
 *
 * The descriptor has VMware's comment lines and only the ddb keys
 * VMware writes (adapterType, geometry, longContentID, uuid,
 * virtualHWVersion; a child only longContentID; a stream no uuid).
 */

#include <config.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmdk/vmdk.h"
#include "vmdk/vmdk-layout.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

/* In the order of enum vmdk_new_kind. */
static const struct vmdk_new_type types[] = {
  { "monolithic-sparse", "monolithicSparse", VMDK_NEW_MONO_SPARSE },
  { "split-sparse", "twoGbMaxExtentSparse", VMDK_NEW_SPLIT_SPARSE },
  { "monolithic-flat", "monolithicFlat", VMDK_NEW_MONO_FLAT },
  { "split-flat", "twoGbMaxExtentFlat", VMDK_NEW_SPLIT_FLAT },
  { "vmfs-flat", "vmfs", VMDK_NEW_VMFS_THICK },
  { "vmfs-thin", "vmfsThin", VMDK_NEW_VMFS_THIN },
  { "stream-optimized", "streamOptimized", VMDK_NEW_STREAM },
};

const struct vmdk_new_type *
vmdk_new_type_find (const char *name)
{
  size_t i;

  for (i = 0; i < sizeof types / sizeof types[0]; ++i)
    if (strcasecmp (name, types[i].vddk) == 0 ||
        strcasecmp (name, types[i].vmware) == 0)
      return &types[i];
  return NULL;
}

bool
vmdk_new_is_sparse (const struct vmdk_new_disk *n)
{
  return n->type->kind == VMDK_NEW_MONO_SPARSE
    || n->type->kind == VMDK_NEW_SPLIT_SPARSE;
}

static bool
is_split (const struct vmdk_new_disk *n)
{
  return n->type->kind == VMDK_NEW_SPLIT_SPARSE
    || n->type->kind == VMDK_NEW_SPLIT_FLAT;
}

/* ---- the descriptor --------------------------------------------------- */

/* VMware's BIOS geometry: IDE 16 heads, 63 sectors, at most 16383
 * cylinders; SCSI 64/32 below 1 GiB, 128/32 below 2 GiB, else 255/63.
 * VMware's exporters write a stream's SCSI geometry as 255/63 at any
 * size.
 */
static void
geometry (const struct vmdk_new_disk *n, uint64_t *c, unsigned *h,
          unsigned *s)
{
  if (strcmp (n->adapter, "ide") == 0) {
    *h = 16;
    *s = 63;
  }
  else if (n->type->kind == VMDK_NEW_STREAM) {
    *h = 255;
    *s = 63;
  }
  else if (n->sectors < (UINT64_C (1) << 21)) {
    *h = 64;
    *s = 32;
  }
  else if (n->sectors < (UINT64_C (1) << 22)) {
    *h = 128;
    *s = 32;
  }
  else {
    *h = 255;
    *s = 63;
  }
  *c = n->sectors / (*h * *s);
  if (*c == 0)
    *c = 1;
  if (strcmp (n->adapter, "ide") == 0 && *c > 16383)
    *c = 16383;
}

static const char *
extent_kind (const struct vmdk_new_disk *n)
{
  switch (n->type->kind) {
  case VMDK_NEW_MONO_SPARSE: case VMDK_NEW_SPLIT_SPARSE: case VMDK_NEW_STREAM:
    return "SPARSE";
  case VMDK_NEW_VMFS_THICK: case VMDK_NEW_VMFS_THIN: return "VMFS";
  default: return "FLAT";
  }
}

/* The name of extent I (0-based) of N. */
char *
vmdk_new_extent_name (const struct vmdk_new_disk *n, size_t i)
{
  char *s = NULL;
  int r;

  switch (n->type->kind) {
  case VMDK_NEW_MONO_SPARSE:
    r = asprintf (&s, "%s.vmdk", n->base);
    break;
  case VMDK_NEW_SPLIT_SPARSE:
    r = asprintf (&s, "%s-s%03zu.vmdk", n->base, i + 1);
    break;
  case VMDK_NEW_SPLIT_FLAT:
    r = asprintf (&s, "%s-f%03zu.vmdk", n->base, i + 1);
    break;
  case VMDK_NEW_STREAM:
    r = asprintf (&s, "%s", n->own_name);
    break;
  default:
    r = asprintf (&s, "%s-flat.vmdk", n->base);
  }
  if (r == -1) {
    xd_error ("asprintf: %m");
    return NULL;
  }
  return s;
}

size_t
vmdk_new_nr_extents (const struct vmdk_new_disk *n)
{
  return is_split (n)
    ? xd_div_round_up (n->sectors, VMDK_NEW_SPLIT_SECTORS) : 1;
}

uint64_t
vmdk_new_extent_sectors (const struct vmdk_new_disk *n, size_t i)
{
  if (!is_split (n))
    return n->sectors;
  return xd_min_u64 (VMDK_NEW_SPLIT_SECTORS,
                     n->sectors - i * VMDK_NEW_SPLIT_SECTORS);
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


static void
add_ddb (struct text *t, const struct vmdk_new_disk *n)
{
  const unsigned char *u = n->uuid;
  uint64_t c;
  unsigned h, s;

  add (t, "# The Disk Data Base \n#DDB\n\n");
  if (n->parent_name == NULL) {
    geometry (n, &c, &h, &s);
    add (t, "ddb.adapterType = \"%s\"\n", n->adapter);
    add (t, "ddb.geometry.cylinders = \"%" PRIu64 "\"\n", c);
    add (t, "ddb.geometry.heads = \"%u\"\n", h);
    add (t, "ddb.geometry.sectors = \"%u\"\n", s);
  }
  /* VMware ends the long content ID with the CID. */
  add (t, "ddb.longContentID = \"%08" PRIx32 "%08" PRIx32 "%08" PRIx32
       "%08" PRIx32 "\"\n", n->content[0], n->content[1], n->content[2],
       n->cid);
  if (n->parent_name)
    return;
  if (n->type->kind == VMDK_NEW_VMFS_THIN)
    add (t, "ddb.thinProvisioned = \"1\"\n");
  if (n->type->kind != VMDK_NEW_STREAM)
    add (t, "ddb.uuid = \"%02x %02x %02x %02x %02x %02x %02x %02x-"
         "%02x %02x %02x %02x %02x %02x %02x %02x\"\n", u[0], u[1], u[2],
         u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
         u[14], u[15]);
  add (t, "ddb.virtualHWVersion = \"%s\"\n", n->hwversion);
}

char *
vmdk_new_descriptor (const struct vmdk_new_disk *n)
{
  struct text t = { .s = NULL };
  size_t i, nr = vmdk_new_nr_extents (n);

  add (&t, "# Disk DescriptorFile\nversion=1\n");
  /* VMware's exporters write neither line into a stream. */
  if (n->type->kind != VMDK_NEW_STREAM)
    add (&t, "encoding=\"UTF-8\"\n");
  add (&t, "CID=%08" PRIx32 "\n", n->cid);
  add (&t, "parentCID=%08" PRIx32 "\n",
       n->parent_name ? n->parent_cid : UINT32_MAX);
  if (n->type->kind != VMDK_NEW_STREAM)
    add (&t, "isNativeSnapshot=\"no\"\n");
  /* ESXi names a thin disk "vmfs" and says so in the DDB. */
  add (&t, "createType=\"%s\"\n",
       n->type->kind == VMDK_NEW_VMFS_THIN ? "vmfs" : n->type->vmware);
  if (n->parent_name)
    add (&t, "parentFileNameHint=\"%s\"\n", n->parent_name);
  add (&t, "\n# Extent description\n");
  for (i = 0; i < nr; ++i) {
    char *name = vmdk_new_extent_name (n, i);
    if (name == NULL) {
      free (t.s);
      return NULL;
    }
    /* FLAT extents give their offset; ESXi writes none for VMFS. */
    add (&t, "RW %" PRIu64 " %s \"%s\"%s\n",
         vmdk_new_extent_sectors (n, i), extent_kind (n), name,
         strcmp (extent_kind (n), "FLAT") == 0 ? " 0" : "");
    free (name);
  }
  add (&t, "\n");
  add_ddb (&t, n);
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
  struct vmdk_new_disk n = {
    .type = &types[VMDK_NEW_STREAM], .adapter = adapter,
    .hwversion = hwversion,
    .sectors = capacity, .own_name = file, .cid = ids->cid,
    .content = { ids->content[0], ids->content[1], ids->content[2] },
  };

  return vmdk_new_descriptor (&n);
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
  xd_put_le64 (h + 20, VMDK_NEW_GRAIN_SECTORS);
  xd_put_le64 (h + 28, l->desc_offset);
  xd_put_le64 (h + 36, l->desc_sectors);
  xd_put_le32 (h + 44, VMDK_NEW_GTES_PER_GT);
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

