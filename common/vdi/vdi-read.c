/* xdisk: reading VirtualBox VDI images and their differencing chains.
 *
 * Every image of a chain is a vdi_layer; the top one is the handle.
 * layer_map() turns a virtual offset into a run: bytes stored in this
 * file (XD_RUN_DATA), zeros (XD_RUN_ZERO) or bytes to read from the parent
 * (XD_RUN_PARENT).  A small block map is kept whole; a large one (a 2 TB
 * disk with 1 MiB blocks has an 8 MiB map) is paged through a bounded
 * xd_cache.
 *
 * A differencing image names its parent only by UUID, so the parent is
 * searched for: parent=FILE, then the VDI files of the image's directory
 * and of the directory above, then the media registry of a .vbox file
 * there (vdi_find_parent).
 *
 * xd_reader_vdi, at the end, serves an image read-only; vdi-format.c
 * builds the full format on it, and nothing here calls back into that.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vdi/vdi.h"
#include "archive/xd-xml.h"
#include "include/xd-bytes.h"
#include "io/xd-cache.h"
#include "core/xd-format.h"
#include "include/xd-math.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"
#include "io/xd-runs.h"
#include "core/xd-text.h"

/* Block map pages in the cache, and the largest map kept whole. */
#define VDI_MAP_PAGE (64u << 10)
#define VDI_MAP_WHOLE_MAX (1u << 20)

/* The largest .vbox file read when searching for a parent. */
#define VDI_VBOX_MAX (16u << 20)


/* The creation UUIDs of the images above one being opened: a parent
 * UUID among them makes a loop.
 */
struct vdi_seen {
  const uint8_t *uuid;
  const struct vdi_seen *next;
};

static int
corrupt (struct vdi_layer *l, const char *fmt, uint64_t a, uint64_t b)
{
  char why[160];

  snprintf (why, sizeof why, fmt, a, b);
  xd_error ("%s: %s", l->io->name, why);
  errno = EIO;
  return -1;
}

/* ---- block map ---- */

static int
load_map_page (void *opaque, uint64_t key, void *buf)
{
  struct vdi_layer *l = opaque;
  uint64_t start = key * VDI_MAP_PAGE;
  uint64_t n = xd_min_u64 (VDI_MAP_PAGE, l->blocks * 4 - start);

  memset (buf, 0xff, VDI_MAP_PAGE);    /* past the end: free */
  return xd_io_read (l->io, buf, n, l->h.blocks_offset + start,
                     "VDI block map");
}

int
vdi_map_entry (struct vdi_layer *l, uint64_t block, uint32_t *entry)
{
  const uint64_t per_page = VDI_MAP_PAGE / 4;
  const uint8_t *page;

  if (l->map) {
    *entry = __atomic_load_n (&l->map[block], __ATOMIC_ACQUIRE);
    return 0;
  }
  page = xd_cache_pin (l->map_cache, block / per_page, load_map_page, l);
  if (page == NULL)
    return -1;
  *entry = xd_le32 (page + (block % per_page) * 4);
  xd_cache_unpin (l->map_cache, page);
  return 0;
}

static int
load_whole_map (struct vdi_layer *l)
{
  uint64_t bytes = l->blocks * 4, i;

  l->map = malloc (bytes);
  if (l->map == NULL) {
    xd_error ("malloc: %m");
    return -1;
  }
  if (xd_io_read (l->io, l->map, bytes, l->h.blocks_offset,
                  "VDI block map") == -1)
    return -1;
  for (i = 0; i < l->blocks; i++)
    l->map[i] = le32toh (l->map[i]);
  return 0;
}

/* A small map is kept whole, a large one paged through a cache. */
static int
setup_map (struct vdi_layer *l, const struct xd_open_opts *opts)
{
  uint64_t bytes = l->blocks * 4;
  size_t n;

  if (bytes <= VDI_MAP_WHOLE_MAX && bytes <= opts->cache_bytes / 4)
    return load_whole_map (l);
  n = xd_cache_entries_for (opts->cache_bytes, VDI_MAP_PAGE, 4);
  l->map_cache = xd_cache_new (VDI_MAP_PAGE, n);
  return l->map_cache ? 0 : -1;
}

/* Entries change only in a map kept whole (as VirtualBox keeps it):
 * the code that changes them asks for it here, and the pages go.
 */
int
vdi_map_keep_whole (struct vdi_layer *l)
{
  if (l->map)
    return 0;
  if (load_whole_map (l) == -1) {
    free (l->map);
    l->map = NULL;
    return -1;
  }
  xd_cache_free (l->map_cache);
  l->map_cache = NULL;
  return 0;
}

/* Where the run at OFF (at most LEN bytes, inside the disk) comes from. */
static int
layer_map (void *layer, uint64_t off, uint64_t len, int *kind,
           uint64_t *file_off, uint64_t *run)
{
  struct vdi_layer *l = layer;
  uint64_t block = off >> l->shift;
  uint64_t in_block = off & (l->h.block_size - 1);
  uint64_t base, need, end;
  uint32_t entry;

  *run = xd_min_u64 (len, l->h.block_size - in_block);
  if (vdi_map_entry (l, block, &entry) == -1)
    return -1;
  if (entry == VDI_BLOCK_FREE) {
    *kind = l->parent ? XD_RUN_PARENT : XD_RUN_ZERO;
    return 0;
  }
  if (entry == VDI_BLOCK_ZERO) {
    *kind = XD_RUN_ZERO;
    return 0;
  }
  /* Only the part of the block inside the disk must be in the file. */
  need = xd_min_u64 (l->h.block_size, l->size - (block << l->shift));
  if (xd_mul_overflow (entry, l->total_block, &base) ||
      xd_add_overflow (base, l->h.data_offset + l->h.block_extra, &base) ||
      xd_add_overflow (base, need, &end) || end > l->io->size)
    return corrupt (l, "VDI block map entry %" PRIu64 " for block %" PRIu64
                    " points beyond the end of the file", entry, block);
  *kind = XD_RUN_DATA;
  *file_off = base + in_block;
  return 0;
}

/* ---- reading ---- */

static const struct xd_runs_ops vdi_runs =
  XD_RUNS_OPS (struct vdi_layer, layer_map, "VDI data block");

int
vdi_layer_read (struct vdi_layer *l, uint8_t *buf, uint64_t count,
                uint64_t off)
{
  return xd_runs_read (&vdi_runs, l, buf, count, off);
}

int
vdi_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return vdi_layer_read (h, buf, count, offset);
}

/* Is the run at OFF in TOP data or zeros?  Follows parents. */
static int
layer_extent (struct vdi_layer *top, uint64_t off, uint64_t len,
              uint32_t *type, uint64_t *run)
{
  struct xd_run_place at;

  if (xd_runs_locate (&vdi_runs, top, off, len, &at, run) == -1)
    return -1;
  if (at.owner == NULL)
    *type = XD_EXTENT_UNALLOCATED;
  else {
    /* A hole in the file inside an allocated block reads as zeros. */
    *run = xd_min_u64 (*run, at.file_run);
    *type = at.is_data ? XD_EXTENT_DATA : XD_EXTENT_ZERO;
  }
  return 0;
}

/* Neighbouring runs of the same type are merged into one extent. */
int
vdi_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
             xd_extent_fn add, void *opaque)
{
  uint64_t end = offset + count, start = offset, len = 0;
  uint32_t type, last = 0;

  while (offset < end) {
    uint64_t run;

    if (layer_extent (h, offset, end - offset, &type, &run) == -1)
      return -1;
    if (len > 0 && type != last) {
      if (add (opaque, start, len, last) == -1)
        return -1;
      if (req_one)
        return 0;
      start = offset;
      len = 0;
    }
    last = type;
    len += run;
    offset += run;
  }
  return len > 0 ? add (opaque, start, len, last) : 0;
}

/* ---- finding the parent ---- */

struct search {
  const struct xd_resolver *res;
  const char *from;             /* the child's io name */
  const uint8_t *uuid;          /* the parent's creation UUID */
  struct xd_io *found;
  char *refused;                /* a VDI the path policy kept us from */
  size_t nr_refused;            /* ... of this many */
  char *vbox_location;          /* the parent's location in a .vbox */
  struct xd_io *vbox;           /* ... and the .vbox file, open */
};

static bool
has_suffix (const char *name, const char *suffix)
{
  size_t n = strlen (name), s = strlen (suffix);

  return n >= s && strcasecmp (name + n - s, suffix) == 0;
}

/* Does IO hold a VDI whose creation UUID is S->uuid?  Quiet. */
static bool
is_wanted (struct search *s, struct xd_io *io)
{
  uint8_t head[VDI_HEAD_BYTES];
  size_t len = (size_t) xd_min_u64 (io->size, sizeof head);
  size_t at;
  bool r;

  if (strcmp (io->name, s->from) == 0)
    return false;
  xd_error_hold ();
  r = xd_io_read (io, head, len, 0, "VDI header") == 0 &&
    vdi_probe (head, len);
  xd_error_release (false);
  if (!r)
    return false;
  at = xd_le32 (head + VDI_VERSION_OFFSET) >> 16 == 0 ? VDI0_UUID_CREATE
    : VDI1_UUID_CREATE;
  return len >= at + 16 && memcmp (head + at, s->uuid, 16) == 0;
}

static int
search_dir_entry (void *opaque, const char *name)
{
  struct search *s = opaque;
  struct xd_io *io = xd_resolver_try_open (s->res, s->from, name);

  if (io == NULL) {
    if (errno == EPERM && has_suffix (name, ".vdi") && s->nr_refused++ == 0)
      s->refused = strdup (name);
    return 0;
  }
  if (is_wanted (s, io)) {
    s->found = io;
    return 1;
  }
  xd_io_close (io);
  return 0;
}

/* The location of the HardDisk with UUID in the VirtualBox settings
 * TEXT (NUL-terminated), or NULL.  Differencing images are HardDisk
 * elements nested in their parent's; the nesting does not matter here.
 * A document the XML reader refuses (after reporting) names nothing.
 */
char *
vdi_vbox_location (const char *text, const uint8_t uuid[16])
{
  struct xd_xml *root = xd_xml_parse (text, strlen (text), ".vbox file");
  const struct xd_xml *e = NULL;
  char *loc = NULL;

  if (root == NULL)
    return NULL;
  while ((e = xd_xml_next (root, e, "HardDisk")) != NULL) {
    const char *u = xd_xml_attr (e, "uuid");
    const char *where = xd_xml_attr (e, "location");
    uint8_t g[16];

    if (u && where && xd_guid_parse (u, g) == 0 &&
        memcmp (g, uuid, 16) == 0) {
      loc = strdup (where);
      break;
    }
  }
  xd_xml_free (root);
  return loc;
}

static int
search_vbox_entry (void *opaque, const char *name)
{
  struct search *s = opaque;
  struct xd_io *io;
  char *text;

  if (!has_suffix (name, ".vbox"))
    return 0;
  io = xd_resolver_try_open (s->res, s->from, name);
  if (io == NULL)
    return 0;
  if (io->size > VDI_VBOX_MAX || (text = malloc (io->size + 1)) == NULL) {
    xd_io_close (io);
    return 0;
  }
  xd_error_hold ();
  if (xd_io_read (io, text, io->size, 0, ".vbox file") == 0) {
    text[io->size] = '\0';
    s->vbox_location = vdi_vbox_location (text, s->uuid);
  }
  xd_error_release (false);
  free (text);
  if (s->vbox_location) {
    s->vbox = io;
    return 1;
  }
  xd_io_close (io);
  return 0;
}

/* Open the file the user named with parent=.  It may lie outside the
 * directories the path policy permits: that policy is for names stored
 * in images, and this one was given on the command line.
 */
static struct xd_io *
open_user_parent (struct vdi_layer *l, const struct xd_resolver *res,
                  const char *path)
{
  struct xd_io *io = xd_resolver_try_open (res, l->io->name, path);

  if (io == NULL && errno == EPERM)
    io = xd_io_open_file (path);
  else if (io == NULL)
    xd_resolver_report (res, l->io->name, path, "parent (parent=)", errno);
  return io;
}

static struct xd_io *
open_vbox_parent (struct vdi_layer *l, const struct xd_resolver *res,
                  struct search *s)
{
  struct xd_io *io = xd_resolver_try_open (res, s->vbox->name,
                                           s->vbox_location);

  if (io == NULL)
    xd_resolver_report (res, s->vbox->name, s->vbox_location,
                        "parent (from its media registry)", errno);
  else
    xd_debug ("%s: parent %s found through %s", l->io->name, io->name,
              s->vbox->name);
  return io;
}

static void
report_not_found (struct vdi_layer *l, const struct search *s)
{
  char uuid[37], refused[512] = "";

  xd_guid_format (l->h.uuid_linkage, uuid);
  if (s->refused)
    snprintf (refused, sizeof refused, "; %zu VDI file(s) outside the "
              "directories the path policy permits were not looked at "
              "(such as %s): allow-external-files=true or a list of "
              "directories allows them", s->nr_refused, s->refused);
  xd_error ("%s: VDI differencing image: parent {%s} not found in this "
            "directory, the one above, or the media registry of a .vbox "
            "file there; give it with parent=FILE%s", l->io->name, uuid,
            refused);
  errno = ENOENT;
}

/* The parent of L as the media registry of the VM being opened names it
 * (opts->vbox_text): *IO opened, or NULL if the registry does not name
 * it.  -1 after reporting a parent it names but that cannot be opened.
 */
static int
open_registry_parent (struct vdi_layer *l, const struct xd_resolver *res,
                      const struct xd_open_opts *opts, struct xd_io **io)
{
  char *loc = vdi_vbox_location (opts->vbox_text, l->h.uuid_linkage);

  *io = NULL;
  if (loc == NULL)
    return 0;
  l->found_by = "the VM's .vbox media registry";
  *io = xd_resolver_try_open (res, opts->vbox_name, loc);
  if (*io == NULL)
    xd_resolver_report (res, opts->vbox_name, loc,
                        "parent (from its media registry)", errno);
  free (loc);
  return *io ? 0 : -1;
}

/* Find and open the parent of L.  NULL after reporting. */
static struct xd_io *
vdi_find_parent (struct vdi_layer *l, const struct xd_resolver *res,
                 const struct xd_open_opts *opts)
{
  struct search s = { .res = res, .from = l->io->name,
                      .uuid = l->h.uuid_linkage };
  struct xd_io *io = NULL;
  int up, r = 0;

  if (opts->parent) {
    l->found_by = "parent=";
    return open_user_parent (l, res, opts->parent);
  }
  if (opts->vbox_text &&
      (open_registry_parent (l, res, opts, &io) == -1 || io))
    return io;
  /* Listing stops at a match but returns 0 for it, as for no match. */
  for (up = 0; up <= 1 && r == 0 && s.found == NULL; up++)
    r = xd_resolver_list (res, l->io->name, up, search_dir_entry, &s);
  l->found_by = "directory search";
  for (up = 0; up <= 1 && r == 0 && s.found == NULL && s.vbox == NULL; up++)
    r = xd_resolver_list (res, l->io->name, up, search_vbox_entry, &s);
  if (s.found)
    io = s.found;
  else if (s.vbox) {
    l->found_by = ".vbox media registry";
    io = open_vbox_parent (l, res, &s);
    xd_io_close (s.vbox);
  }
  else if (r == 0)
    report_not_found (l, &s);
  free (s.refused);
  free (s.vbox_location);
  return io;
}

/* ---- opening ---- */

/* Is P the parent child L records?  Checked before P's own parents are
 * looked for, so that a wrong parent is named as such.
 */
static int
check_parent (const struct vdi_layer *l, const struct vdi_layer *p,
              const struct xd_open_opts *opts)
{
  const char *why = NULL;

  if (memcmp (p->h.uuid_create, l->h.uuid_linkage, 16) != 0)
    why = "its UUID is not the parent UUID this image records";
  else if (!xd_guid_is_null (l->h.uuid_parent_modify) &&
           memcmp (p->h.uuid_modify, l->h.uuid_parent_modify, 16) != 0)
    why = "its modification UUID is not the one this image records "
      "(the parent was changed after this image was made)";
  if (why == NULL)
    return 0;
  if (opts->ignore_parent_mismatch) {
    xd_debug ("%s: parent %s: %s (ignored)", l->io->name, p->io->name, why);
    return 0;
  }
  xd_error ("%s: parent %s does not match: %s (ignore-parent-mismatch=true "
            "serves it anyway)", l->io->name, p->io->name, why);
  errno = EIO;
  return -1;
}

static struct vdi_layer *layer_open (struct xd_io *io,
                                     const struct xd_resolver *res,
                                     const struct xd_open_opts *opts,
                                     const struct vdi_seen *above,
                                     const struct vdi_layer *child,
                                     const struct xd_open_opts *child_opts);

static int
open_parent (struct vdi_layer *l, const struct xd_resolver *res,
             const struct xd_open_opts *opts, const struct vdi_seen *above)
{
  struct vdi_seen me = { l->h.uuid_create, above };
  struct xd_open_opts popts = *opts;
  const struct vdi_seen *s;
  struct xd_io *io;
  char uuid[37];

  xd_guid_format (l->h.uuid_linkage, uuid);
  for (s = &me; s; s = s->next)
    if (memcmp (s->uuid, l->h.uuid_linkage, 16) == 0) {
      xd_error ("%s: VDI parent {%s} makes a loop in the chain",
                l->io->name, uuid);
      errno = EIO;
      return -1;
    }
  if (opts->depth + 1 > XD_MAX_CHAIN) {
    xd_error ("%s: VDI parent {%s}: the chain is deeper than %d images",
              l->io->name, uuid, XD_MAX_CHAIN);
    errno = EIO;
    return -1;
  }
  io = vdi_find_parent (l, res, opts);
  if (io == NULL)
    return -1;
  popts.depth++;
  popts.parent = NULL;          /* parent= names the top's parent only */
  l->parent = layer_open (io, res, &popts, &me, l, opts);
  return l->parent ? 0 : -1;
}

/* Open the image in IO; CHILD (with its options) is the image whose
 * parent it is, or NULL.
 */
static struct vdi_layer *
layer_open (struct xd_io *io, const struct xd_resolver *res,
            const struct xd_open_opts *opts, const struct vdi_seen *above,
            const struct vdi_layer *child,
            const struct xd_open_opts *child_opts)
{
  struct vdi_layer *l = calloc (1, sizeof *l);

  if (l == NULL) {
    xd_error ("calloc: %m");
    xd_io_close (io);
    return NULL;
  }
  l->io = io;
  if (vdi_read_header (io, &l->h) == -1 ||
      (child && check_parent (child, l, child_opts) == -1))
    goto fail;
  l->size = l->h.disk_size;
  l->blocks = vdi_blocks_in_use (&l->h);
  l->total_block = (uint64_t) l->h.block_extra + l->h.block_size;
  l->shift = xd_log2 (l->h.block_size);
  l->has_parent = !xd_guid_is_null (l->h.uuid_linkage) &&
    (l->h.type == VDI_TYPE_DIFF || l->h.type == VDI_TYPE_UNDO);
  if (setup_map (l, opts) == -1)
    goto fail;
  if (l->has_parent && open_parent (l, res, opts, above) == -1)
    goto fail;
  return l;
 fail:
  vdi_layer_free (l);
  return NULL;
}

void
vdi_layer_free (struct vdi_layer *l)
{
  while (l) {
    struct vdi_layer *parent = l->parent;
    if (l->map_cache)
      xd_cache_free (l->map_cache);
    free (l->map);
    if (l->io)
      xd_io_close (l->io);
    free (l);
    l = parent;
  }
}

struct vdi_layer *
vdi_layer_open (struct xd_io *io, const struct xd_resolver *res,
                const struct xd_open_opts *opts)
{
  return layer_open (io, res, opts, NULL, NULL, NULL);
}

void *
vdi_open (struct xd_io *io, const struct xd_resolver *res,
          const struct xd_open_opts *opts)
{
  return vdi_layer_open (io, res, opts);
}

void
vdi_close (void *h)
{
  vdi_layer_free (h);
}

uint64_t
vdi_size (void *h)
{
  return ((struct vdi_layer *) h)->size;
}

uint32_t
vdi_preferred_block (void *h)
{
  return ((struct vdi_layer *) h)->h.block_size;
}

/* ---- description ---- */

/* Append to the description in BUF (LEN bytes), truncating. */
static void
add (char *buf, size_t len, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
add (char *buf, size_t len, const char *fmt, ...)
{
  size_t used = strlen (buf);
  va_list args;

  if (used + 1 >= len)
    return;
  va_start (args, fmt);
  vsnprintf (buf + used, len - used, fmt, args);
  va_end (args);
}

char *
vdi_describe (void *h)
{
  const struct vdi_layer *top = h, *l;
  char buf[3072] = "", size[32], block[32], u1[37], u2[37];
  unsigned depth = 0;

  for (l = top->parent; l; l = l->parent)
    depth++;
  xd_human_size (top->size, size, sizeof size);
  xd_human_size (top->h.block_size, block, sizeof block);
  xd_guid_format (top->h.uuid_create, u1);
  xd_guid_format (top->h.uuid_modify, u2);
  add (buf, sizeof buf, "VDI %s, header %u.%u (%" PRIu32 " bytes), %s "
       "blocks", vdi_type_name (top->h.type), top->h.major, top->h.minor,
       top->h.header_size, block);
  if (top->h.block_extra)
    add (buf, sizeof buf, " + %" PRIu32 " bytes extra", top->h.block_extra);
  add (buf, sizeof buf, ", %s, UUID {%s}, modification UUID {%s}", size,
       u1, u2);
  if (depth == 0)
    return strdup (buf);
  add (buf, sizeof buf, ", parent chain depth %u:", depth);
  for (l = top; l->parent; l = l->parent) {
    xd_guid_format (l->parent->h.uuid_create, u1);
    add (buf, sizeof buf, " %s {%s} (%s, found by %s)%s",
         l->parent->io->name, u1, vdi_type_name (l->parent->h.type),
         l->found_by, l->parent->parent ? "," : "");
  }
  return strdup (buf);
}

/* ---- the format ---- */

bool
vdi_probe_fn (struct xd_io *io XD_UNUSED, const uint8_t *head, size_t len)
{
  return vdi_probe (head, len);
}

/* parent=, as a real path: the current directory is the user's only
 * while the parameters are parsed.  Freed when the plugin is unloaded.
 */
static char *user_parent;

static void __attribute__ ((destructor))
vdi_free_user_parent (void)
{
  free (user_parent);
  user_parent = NULL;
}

int
vdi_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  char *path;
  int r;

  r = xd_config_parent_mismatch (opts, key, value);
  if (r != 1)
    return r;
  if (strcmp (key, "parent") != 0)
    return 1;
  path = realpath (value, NULL);
  if (path == NULL) {
    xd_error ("parent: %s: %m", value);
    return -1;
  }
  free (user_parent);
  opts->parent = user_parent = path;
  return 0;
}

void
vdi_dump (const char *prefix)
{
  printf ("%sformats=vdi\n", prefix);
  printf ("%smax_chain_depth=%d\n", prefix, XD_MAX_CHAIN);
  printf ("%sparent_search=parent=,directory,directory-above,vbox-registry\n",
          prefix);
}

/* The reader alone: an image opened through it is read-only. */
const struct xd_format xd_reader_vdi = {
  VDI_READ_FIELDS,
  .open = vdi_open,
  .close = vdi_close,
};
