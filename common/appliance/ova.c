/* xdisk: OVA appliances as a format driver (see ova.h, xd-format.h).
 *
 * An OVA is a tar archive: the OVF descriptor first, an optional
 * manifest (.mf), an optional certificate (.cert, ignored), then the
 * disk files the descriptor's References list, each possibly split
 * into chunks (ovf:chunkSize) or gzip'd (ovf:compression="gzip").  A
 * disk is served from its place in the archive: its member (or its
 * chunks joined, or an index into its gzip stream) becomes an xd_io,
 * its format is detected, and it is opened with the names it holds
 * resolving to members of the same archive.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "appliance/ova.h"
#include "core/xd-format.h"
#include "io/xd-gzip.h"
#include "include/xd-math.h"
#include "include/xd-vector.h"
#include "include/xd-report.h"
#include "archive/xd-tar.h"
#include "core/xd-text.h"
#include "archive/xd-xml.h"

/* ---- the OVF descriptor ---- */

static char *
dup_or_null (const char *s)
{
  return s ? strdup (s) : NULL;
}

/* Text of an element, blanks trimmed, malloc'd. */
static char *
trimmed (const char *s)
{
  size_t len;

  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
    s++;
  len = strlen (s);
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                     s[len - 1] == '\r' || s[len - 1] == '\n'))
    len--;
  return strndup (s, len);
}

static int
parse_u64 (const char *s, uint64_t *v)
{
  char *end;

  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  errno = 0;
  *v = strtoull (s, &end, 10);
  if (errno)
    return -1;
  while (*end == ' ')
    end++;
  return *end ? -1 : 0;
}

int
xd_ovf_capacity (const char *cap, const char *units, uint64_t *bytes)
{
  static const struct { const char *name; unsigned shift; } words[] = {
    { "byte", 0 }, { "bytes", 0 }, { "KiloBytes", 10 },
    { "MegaBytes", 20 }, { "GigaBytes", 30 }, { "TeraBytes", 40 },
  };
  uint64_t v, mult = 1;
  size_t i;

  if (parse_u64 (cap, &v) == -1)
    return -1;
  if (units && *units) {
    unsigned base, exp;
    char rest;
    for (i = 0; i < sizeof words / sizeof words[0]; i++)
      if (strcasecmp (units, words[i].name) == 0)
        break;
    if (i < sizeof words / sizeof words[0])
      mult = UINT64_C (1) << words[i].shift;
    else if (sscanf (units, "byte * %u^%u%c", &base, &exp, &rest) == 2 &&
             (base == 2 || base == 10 || base == 1024) && exp <= 64) {
      for (; exp > 0; exp--)
        if (xd_mul_overflow (mult, base, &mult))
          return -1;
    }
    else
      return -1;
  }
  return xd_mul_overflow (v, mult, bytes) ? -1 : 0;
}

static int
add_file (struct xd_ovf *ovf, const struct xd_xml *e, const char *file)
{
  struct xd_ovf_file *f;
  const char *href = xd_xml_attr (e, "href");
  const char *comp = xd_xml_attr (e, "compression");
  const char *chunk = xd_xml_attr (e, "chunkSize");

  if (href == NULL || *href == '\0') {
    xd_error ("%s: a References/File element has no ovf:href", file);
    errno = EIO;
    return -1;
  }
  if (XD_RESERVE (ovf->files, ovf->nfiles, ovf->files_cap, 1) == -1)
    goto nomem;
  f = &ovf->files[ovf->nfiles];
  memset (f, 0, sizeof *f);
  ovf->nfiles++;
  f->id = dup_or_null (xd_xml_attr (e, "id"));
  f->href = strdup (href);
  if (f->href == NULL)
    goto nomem;
  f->has_size = parse_u64 (xd_xml_attr (e, "size"), &f->size) == 0;
  if (comp && *comp && strcasecmp (comp, "identity") != 0) {
    if (strcasecmp (comp, "gzip") != 0) {
      xd_error ("%s: file \"%s\" is compressed with \"%s\", which is not "
                "supported (only gzip is)", file, href, comp);
      errno = EIO;
      return -1;
    }
    f->gzip = true;
  }
  if (chunk && (parse_u64 (chunk, &f->chunk_size) == -1 ||
                f->chunk_size == 0)) {
    xd_error ("%s: file \"%s\" has an invalid ovf:chunkSize \"%s\"", file,
              href, chunk);
    errno = EIO;
    return -1;
  }
  return 0;
 nomem:
  xd_error ("%s: out of memory", file);
  return -1;
}

static int
add_disk (struct xd_ovf *ovf, const struct xd_xml *e, const char *file)
{
  struct xd_ovf_disk *d;
  const char *cap = xd_xml_attr (e, "capacity");
  const char *units = xd_xml_attr (e, "capacityAllocationUnits");

  if (XD_RESERVE (ovf->disks, ovf->ndisks, ovf->disks_cap, 1) == -1) {
    xd_error ("%s: out of memory", file);
    return -1;
  }
  d = &ovf->disks[ovf->ndisks];
  memset (d, 0, sizeof *d);
  ovf->ndisks++;
  d->disk_id = dup_or_null (xd_xml_attr (e, "diskId"));
  d->file_ref = dup_or_null (xd_xml_attr (e, "fileRef"));
  if (cap) {
    d->has_capacity = xd_ovf_capacity (cap, units, &d->capacity) == 0;
    if (!d->has_capacity)
      xd_debug ("%s: disk \"%s\": ovf:capacity \"%s\" with units \"%s\" "
                "not understood", file, d->disk_id ? d->disk_id : "?", cap,
                units ? units : "");
  }
  return 0;
}

/* The VM's name and product: the first VirtualSystem's Name and ovf:id,
 * the first ProductSection's Product and Vendor.
 */
static int
add_names (struct xd_ovf *ovf, const struct xd_xml *root)
{
  const struct xd_xml *vs = xd_xml_next (root, NULL, "VirtualSystem");
  const struct xd_xml *ps = xd_xml_next (root, NULL, "ProductSection");
  const struct xd_xml *e;

  if (vs) {
    ovf->vm_id = dup_or_null (xd_xml_attr (vs, "id"));
    if ((e = xd_xml_child (vs, "Name", NULL)) != NULL &&
        (ovf->vm_name = trimmed (e->text)) == NULL)
      return -1;
  }
  if (ps) {
    if ((e = xd_xml_child (ps, "Product", NULL)) != NULL &&
        (ovf->product = trimmed (e->text)) == NULL)
      return -1;
    if ((e = xd_xml_child (ps, "Vendor", NULL)) != NULL &&
        (ovf->vendor = trimmed (e->text)) == NULL)
      return -1;
  }
  return 0;
}

int
xd_ovf_parse (const char *buf, size_t len, const char *file,
              struct xd_ovf *ovf)
{
  struct xd_xml *root = xd_xml_parse (buf, len, file);
  const struct xd_xml *e;
  size_t i, j;

  memset (ovf, 0, sizeof *ovf);
  if (root == NULL)
    return -1;
  if (strcmp (root->name, "Envelope") != 0) {
    xd_error ("%s: not an OVF descriptor (root element <%s>, not "
              "<Envelope>)", file, root->name);
    errno = EIO;
    goto fail;
  }
  for (e = NULL; (e = xd_xml_next (root, e, "File")) != NULL; )
    if (strcmp (e->parent->name, "References") == 0 &&
        add_file (ovf, e, file) == -1)
      goto fail;
  for (e = NULL; (e = xd_xml_next (root, e, "Disk")) != NULL; )
    if (strcmp (e->parent->name, "DiskSection") == 0 &&
        add_disk (ovf, e, file) == -1)
      goto fail;
  if (add_names (ovf, root) == -1) {
    xd_error ("%s: out of memory", file);
    goto fail;
  }
  for (i = 0; i < ovf->ndisks; i++)
    for (j = 0; j < ovf->nfiles && ovf->disks[i].file_ref; j++)
      if (ovf->files[j].id &&
          strcmp (ovf->files[j].id, ovf->disks[i].file_ref) == 0) {
        ovf->disks[i].file = &ovf->files[j];
        break;
      }
  xd_xml_free (root);
  return 0;

 fail:
  xd_xml_free (root);
  xd_ovf_free (ovf);
  errno = EIO;
  return -1;
}

void
xd_ovf_free (struct xd_ovf *ovf)
{
  size_t i;

  for (i = 0; i < ovf->nfiles; i++) {
    free (ovf->files[i].id);
    free (ovf->files[i].href);
  }
  for (i = 0; i < ovf->ndisks; i++) {
    free (ovf->disks[i].disk_id);
    free (ovf->disks[i].file_ref);
  }
  free (ovf->files);
  free (ovf->disks);
  free (ovf->vm_id);
  free (ovf->vm_name);
  free (ovf->product);
  free (ovf->vendor);
  memset (ovf, 0, sizeof *ovf);
}

/* ---- the manifest ---- */

/* Parse one line: ALG(NAME)= HEX or ALG (NAME) = HEX. */
static int
parse_mf_line (char *line, struct xd_mf_entry *e)
{
  char *open = strchr (line, '('), *close = strrchr (line, ')'), *p;
  size_t i, n;

  if (open == NULL || close == NULL || close < open)
    return -1;
  for (p = open; p > line && p[-1] == ' '; p--)
    ;
  *p = '\0';
  if (xd_digest_by_name (line, &e->alg) == -1)
    return -1;
  *close = '\0';
  p = close + 1;
  while (*p == ' ')
    p++;
  if (*p++ != '=')
    return -1;
  while (*p == ' ')
    p++;
  n = strlen (p);
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r'))
    n--;
  if (n != xd_digest_hex_len (e->alg))
    return -1;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if (c >= 'A' && c <= 'F')
      p[i] = (char) (c - 'A' + 'a');
    else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return -1;
  }
  p[n] = '\0';
  e->name = strdup (open + 1);
  e->hex = strdup (p);
  if (e->name == NULL || e->hex == NULL) {
    free (e->name);
    free (e->hex);
    return -2;
  }
  return 0;
}

int
xd_mf_parse (const char *buf, size_t len, const char *file, struct xd_mf *mf)
{
  char *copy = malloc (len + 1), *line, *save = NULL;

  memset (mf, 0, sizeof *mf);
  if (copy == NULL) {
    xd_error ("%s: malloc: %m", file);
    return -1;
  }
  memcpy (copy, buf, len);
  copy[len] = '\0';
  /* NULs pad ovftool's manifests: the text ends at the first one. */
  for (line = strtok_r (copy, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save)) {
    struct xd_mf_entry e;
    int r;
    if (strspn (line, " \r\t") == strlen (line))
      continue;
    r = parse_mf_line (line, &e);
    if (r == -2)
      goto nomem;
    if (r == -1) {
      xd_debug ("%s: skipping a manifest line that is not a digest", file);
      continue;
    }
    if (XD_RESERVE (mf->entries, mf->n, mf->cap, 1) == -1) {
      free (e.name);
      free (e.hex);
      goto nomem;
    }
    mf->entries[mf->n++] = e;
  }
  free (copy);
  return 0;
 nomem:
  xd_error ("%s: out of memory", file);
  free (copy);
  xd_mf_free (mf);
  return -1;
}

void
xd_mf_free (struct xd_mf *mf)
{
  size_t i;

  for (i = 0; i < mf->n; i++) {
    free (mf->entries[i].name);
    free (mf->entries[i].hex);
  }
  free (mf->entries);
  memset (mf, 0, sizeof *mf);
}

const struct xd_mf_entry *
xd_mf_find (const struct xd_mf *mf, const char *name)
{
  size_t i;

  for (i = 0; i < mf->n; i++)
    if (strcmp (mf->entries[i].name, name) == 0)
      return &mf->entries[i];
  return NULL;
}

/* ---- the format driver ---- */

struct ova {
  struct xd_io *io;
  struct xd_tar *tar;
  struct xd_resolver *res;
  struct xd_image *img;
  char *description;
};

bool
ova_probe (struct xd_io *io, const uint8_t *head, size_t len)
{
  return xd_tar_probe_first (io, head, len, ".ovf", false) ||
         xd_tar_unfinished (head, len, "OVA");
}

/* An OVA xdisk was creating and never completed: say so, in the words
 * of the reader of any appliance (OVA, XVA).
 */
int
xd_appliance_refuse_unfinished (struct xd_io *io, const char *kind)
{
  uint8_t head[XD_TAR_BLOCK];

  if (io->size < sizeof head ||
      xd_io_read (io, head, sizeof head, 0, "the first block") == -1 ||
      !xd_tar_unfinished (head, sizeof head, kind))
    return 0;
  xd_error ("%s: this %s was never finished: xdisk's creation of it "
            "stopped before the archive was complete (nbdkit killed, a "
            "full disk, or a disk never written), so it holds no usable "
            "appliance", io->name, kind);
  errno = EIO;
  return -1;
}

/* disk=, verify=: shared with XVA (xva.c). */
int
xd_appliance_config (struct xd_open_opts *opts, const char *key,
                     const char *value)
{
  int r;

  if (strcmp (key, "disk") == 0) {
    if (*value == '\0') {
      xd_error ("disk=: give a disk number or name");
      return -1;
    }
    opts->disk = value;
    return 0;
  }
  if (strcmp (key, "verify") == 0) {
    if ((r = xd_parse_bool (key, value)) == -1)
      return -1;
    opts->verify = r;
    return 0;
  }
  return 1;
}

/* Read a whole small member (the descriptor, the manifest). */
static char *
read_member (struct xd_tar *tar, const struct xd_tar_member *m, size_t *len)
{
  char *buf;

  if (m->size > XD_OVF_MAX_SIZE) {
    xd_error ("%s: member \"%s\" is %" PRIu64 " bytes, more than the %"
              PRIu64 " accepted for metadata", tar->io->name, m->name,
              m->size, XD_OVF_MAX_SIZE);
    errno = EIO;
    return NULL;
  }
  buf = malloc (m->size + 1);
  if (buf == NULL) {
    xd_error ("%s: malloc: %m", tar->io->name);
    return NULL;
  }
  if (xd_io_read (tar->io, buf, m->size, m->offset, m->name) == -1) {
    free (buf);
    return NULL;
  }
  buf[m->size] = '\0';
  *len = m->size;
  return buf;
}

static const char *
disk_label (const struct xd_ovf_disk *d)
{
  return d->disk_id ? d->disk_id : "(no diskId)";
}

/* What the appliance holds, for the error of an unknown disk=. */
static void
report_disks (const char *name, const char *kind, const struct xd_ovf *ovf,
              const char *asked)
{
  char *list = NULL;
  size_t len = 0, i;
  FILE *fp = open_memstream (&list, &len);

  if (fp == NULL) {
    xd_error ("%s: disk=%s: no such disk", name, asked);
    return;
  }
  for (i = 0; i < ovf->ndisks; i++)
    fprintf (fp, "%s%zu (%s, file %s)", i ? ", " : "", i,
             disk_label (&ovf->disks[i]),
             ovf->disks[i].file ? ovf->disks[i].file->href : "missing");
  if (ovf->ndisks == 0)
    fprintf (fp, "no disk");
  fclose (fp);
  xd_error ("%s: disk=%s: no such disk; the %s holds: %s (use disk=N, "
            "counted from 0, or disk=FILE)", name, asked, kind,
            list ? list : "?");
  free (list);
}

int
xd_ovf_choose_disk (const char *name, const char *kind,
                    const struct xd_ovf *ovf, const char *asked,
                    size_t *chosen)
{
  uint64_t n;
  size_t i;

  if (ovf->ndisks == 0) {
    xd_error ("%s: the OVF descriptor lists no disk (DiskSection)", name);
    errno = EIO;
    return -1;
  }
  if (asked == NULL) {
    *chosen = 0;
    return 0;
  }
  if (parse_u64 (asked, &n) == 0 && n < ovf->ndisks) {
    *chosen = (size_t) n;
    return 0;
  }
  for (i = 0; i < ovf->ndisks; i++) {
    const struct xd_ovf_disk *d = &ovf->disks[i];
    if ((d->file && strcmp (d->file->href, asked) == 0) ||
        (d->disk_id && strcmp (d->disk_id, asked) == 0)) {
      *chosen = i;
      return 0;
    }
  }
  report_disks (name, kind, ovf, asked);
  errno = EINVAL;
  return -1;
}

static const struct xd_tar_member *
find_suffix (const struct xd_tar *tar, const char *suffix)
{
  size_t i, s = strlen (suffix);

  for (i = 0; i < tar->n; i++) {
    size_t n = strlen (tar->members[i].name);
    if (n > s && strcasecmp (tar->members[i].name + n - s, suffix) == 0)
      return &tar->members[i];
  }
  return NULL;
}

/* Check one stored file NAME against the manifest. */
static int
verify_one (struct xd_tar *tar, const struct xd_mf *mf, const char *name)
{
  const struct xd_mf_entry *e = xd_mf_find (mf, name);
  char hex[XD_DIGEST_HEX_MAX];
  struct xd_io *io;
  int r;

  if (e == NULL) {
    xd_error ("%s: verify=true: the manifest has no digest for \"%s\"",
              tar->io->name, name);
    errno = EIO;
    return -1;
  }
  io = xd_tar_open (tar, name);
  if (io == NULL) {
    xd_error ("%s: verify=true: cannot open member \"%s\"", tar->io->name,
              name);
    errno = EIO;
    return -1;
  }
  r = xd_digest_io (e->alg, io, hex);
  xd_io_close (io);
  if (r == -1)
    return -1;
  if (strcmp (hex, e->hex) != 0) {
    xd_error ("%s: verify=true: member \"%s\" does not match the "
              "manifest: its %s is %s, the manifest says %s",
              tar->io->name, name, xd_digest_name (e->alg), hex, e->hex);
    errno = EIO;
    return -1;
  }
  xd_debug ("%s: member \"%s\" matches its %s in the manifest",
            tar->io->name, name, xd_digest_name (e->alg));
  return 0;
}

/* The descriptor (the first member) says which file is the disk and how
 * it is stored: check it too when the manifest lists it (ovftool and
 * VirtualBox always do).
 */
static int
verify_descriptor (struct xd_tar *tar, const struct xd_mf *mf)
{
  const char *name = tar->members[0].name;

  if (xd_mf_find (mf, name))
    return verify_one (tar, mf, name);
  xd_debug ("%s: the manifest has no digest for the descriptor \"%s\"",
            tar->io->name, name);
  return 0;
}

/* verify=true: the manifest's digest of the chosen file (each chunk's
 * for a chunked file).  Lines for members that are missing are only
 * worth a debug message: VMware manifests name files left out.
 */
static int
verify_file (struct xd_tar *tar, const struct xd_ovf_file *f)
{
  const struct xd_tar_member *m = find_suffix (tar, ".mf");
  struct xd_mf mf;
  size_t len, i;
  char *buf;
  int r = 0;

  if (m == NULL) {
    xd_error ("%s: verify=true: the OVA has no manifest (.mf member)",
              tar->io->name);
    errno = EIO;
    return -1;
  }
  if ((buf = read_member (tar, m, &len)) == NULL)
    return -1;
  r = xd_mf_parse (buf, len, m->name, &mf);
  free (buf);
  if (r == -1)
    return -1;
  for (i = 0; i < mf.n; i++)
    if (xd_tar_find (tar, mf.entries[i].name) == NULL)
      xd_debug ("%s: the manifest names \"%s\", which the archive does "
                "not hold", tar->io->name, mf.entries[i].name);
  if (verify_descriptor (tar, &mf) == -1)
    r = -1;
  else if (xd_tar_find (tar, f->href) || xd_mf_find (&mf, f->href))
    r = verify_one (tar, &mf, f->href);
  else {
    for (i = 0; r == 0; i++) {
      char chunk[XD_TAR_MAX_NAME + 16];
      snprintf (chunk, sizeof chunk, "%s.%09zu", f->href, i);
      if (xd_tar_find (tar, chunk) == NULL)
        break;
      r = verify_one (tar, &mf, chunk);
    }
  }
  xd_mf_free (&mf);
  return r;
}

/* By name: the detector hands out a format's reader, LIST holds the
 * tables the plugin serves.
 */
/* Open the chosen disk's file as an io: its member, its chunks, and
 * through the gzip index if compressed.
 */
static struct xd_io *
open_disk_io (struct ova *o, const struct xd_ovf_file *f,
              const struct xd_open_opts *opts)
{
  struct xd_io *io = xd_tar_open (o->tar, f->href);
  char *name;

  if (io == NULL) {
    if (errno == ENOMEM)
      xd_error ("%s: out of memory", o->io->name);
    else
      xd_error ("%s: the OVF names the disk file \"%s\", which is not a "
                "%smember of the archive", o->io->name, f->href,
                errno == EPERM ? "safe name for a " : "");
    errno = EIO;
    return NULL;
  }
  if (f->has_size && !f->chunk_size && f->size != io->size)
    xd_debug ("%s: ovf:size of \"%s\" is %" PRIu64 ", the member has %"
              PRIu64 " bytes", o->io->name, f->href, f->size, io->size);
  if (!f->gzip)
    return io;
  if (asprintf (&name, "%s (gunzipped)", io->name) == -1) {
    xd_io_close (io);
    return NULL;
  }
  io = xd_io_open_gzip (io, opts->cache_bytes, name);
  free (name);
  return io;
}

/* Detect the disk's format and check that the plugin serves it. */
static const struct xd_format *
disk_format (struct xd_io *io, const struct xd_open_opts *opts)
{
  const struct xd_format *f = xd_detect (io);

  if (f == NULL)
    return NULL;
  if (f == &xd_reader_ova || strcmp (f->name, "xva") == 0) {
    xd_error ("%s: the disk is itself an appliance (%s): not served",
              io->name, f->display);
    errno = EIO;
    return NULL;
  }
  if (opts->served && !xd_format_in (opts->served, f)) {
    xd_error ("%s: the disk in this OVA is a %s file: use the %s plugin "
              "(or diskx, which serves every format)", io->name,
              f->display, f->plugin);
    errno = EINVAL;
    return NULL;
  }
  return f;
}

static char *
make_description (const struct ova *o, const struct xd_ovf *ovf, size_t k,
                  const char *warning)
{
  const struct xd_ovf_disk *d = &ovf->disks[k];
  char *inner = xd_image_describe (o->img), *s = NULL;
  const char *vm = ovf->vm_name ? ovf->vm_name : ovf->vm_id;

  if (asprintf (&s, "OVA appliance%s%s%s%s%s%s%s%s, disk %zu of %zu (%s, "
                "file %s%s): %s%s",
                vm ? " \"" : "", vm ? vm : "", vm ? "\"" : "",
                ovf->product ? ", product " : "",
                ovf->product ? ovf->product : "",
                ovf->vendor ? " (vendor " : "",
                ovf->vendor ? ovf->vendor : "", ovf->vendor ? ")" : "",
                k, ovf->ndisks, disk_label (d), d->file->href,
                d->file->gzip ? ", gzip" : "",
                inner ? inner : o->img->format->display,
                warning ? warning : "") == -1)
    s = NULL;
  free (inner);
  return s;
}


/* The descriptor: the first member, named *.ovf. */
static int
load_ovf (struct ova *o, struct xd_ovf *ovf)
{
  const struct xd_tar_member *m = o->tar->n ? &o->tar->members[0] : NULL;
  size_t len;
  char *buf;
  int r;

  if (m == NULL || strlen (m->name) < 5 ||
      strcasecmp (m->name + strlen (m->name) - 4, ".ovf") != 0) {
    xd_error ("%s: not an OVA: its first member is not an OVF descriptor "
              "(*.ovf)", o->io->name);
    errno = EIO;
    return -1;
  }
  if ((buf = read_member (o->tar, m, &len)) == NULL)
    return -1;
  r = xd_ovf_parse (buf, len, m->name, ovf);
  free (buf);
  return r;
}

void *
ova_open (struct xd_io *io, const struct xd_resolver *res XD_UNUSED,
          const struct xd_open_opts *opts)
{
  struct ova *o = calloc (1, sizeof *o);
  struct xd_ovf ovf = { 0 };
  struct xd_open_opts deeper = *opts;
  const struct xd_ovf_disk *d;
  const struct xd_format *f;
  char warning[256] = "";
  struct xd_io *dio;
  size_t k;

  if (o == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  o->io = io;
  if (xd_appliance_refuse_unfinished (io, "OVA") == -1 ||
      (o->tar = xd_tar_index (io)) == NULL ||
      (o->res = xd_resolver_new_archive (o->tar)) == NULL ||
      load_ovf (o, &ovf) == -1 ||
      xd_ovf_choose_disk (io->name, "OVA", &ovf, opts->disk, &k) == -1)
    goto fail;
  d = &ovf.disks[k];
  if (d->file == NULL) {
    xd_error ("%s: disk %zu (%s) has the fileRef \"%s\", which names no "
              "References/File", io->name, k, disk_label (d),
              d->file_ref ? d->file_ref : "");
    errno = EIO;
    goto fail;
  }
  if (opts->verify && verify_file (o->tar, d->file) == -1)
    goto fail;
  if ((dio = open_disk_io (o, d->file, opts)) == NULL)
    goto fail;
  if ((f = disk_format (dio, opts)) == NULL) {
    xd_io_close (dio);
    goto fail;
  }
  deeper.depth++;
  deeper.disk = NULL;
  deeper.verify = false;
  o->img = xd_image_open (dio, o->res, &deeper, f);
  if (o->img == NULL)
    goto fail;
  if (d->has_capacity && d->capacity != xd_image_size (o->img)) {
    snprintf (warning, sizeof warning, " (warning: the OVF gives its "
              "capacity as %" PRIu64 " bytes, the disk has %" PRIu64 ")",
              d->capacity, xd_image_size (o->img));
    xd_debug ("%s:%s", io->name, warning);
  }
  o->description = make_description (o, &ovf, k, warning);
  xd_debug ("%s: serving disk %zu (%s, %s) as %s", io->name, k,
            disk_label (d), d->file->href, f->display);
  xd_ovf_free (&ovf);
  return o;

 fail:
  xd_ovf_free (&ovf);
  ova_close (o);
  return NULL;
}

void
ova_close (void *h)
{
  struct ova *o = h;

  xd_image_close (o->img);
  xd_resolver_free (o->res);
  xd_tar_free (o->tar);
  xd_io_close (o->io);
  free (o->description);
  free (o);
}

uint64_t
ova_size (void *h)
{
  return xd_image_size (((struct ova *) h)->img);
}

uint32_t
ova_preferred_block (void *h)
{
  struct xd_image *img = ((struct ova *) h)->img;

  return img->format->preferred_block ?
    img->format->preferred_block (img->h) : 0;
}

int
ova_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return xd_image_read (((struct ova *) h)->img, buf, count, offset);
}

int
ova_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
             xd_extent_fn add, void *opaque)
{
  return xd_image_extents (((struct ova *) h)->img, count, offset, req_one,
                           add, opaque);
}

char *
ova_describe (void *h)
{
  struct ova *o = h;

  return o->description ? strdup (o->description) : NULL;
}

const struct xd_format xd_reader_ova = {
  OVA_READ_FIELDS,
};
