/* xdisk: an XVA's ova.xml, the VM's metadata as an XML-RPC value
 * (or, in legacy exports, an <appliance>): the disks (VDIs) it lists,
 * with their chunk directories, names and virtual sizes; see xva.h.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "include/xd-vector.h"
#include "include/xd-report.h"
#include "archive/xd-xml.h"
#include "appliance/xva.h"

/* The <value> of the member NAME of the XML-RPC <struct> S. */
static const struct xd_xml *
struct_get (const struct xd_xml *s, const char *name)
{
  const struct xd_xml *m, *n;

  if (s == NULL)
    return NULL;
  for (m = NULL; (m = xd_xml_child (s, "member", m)) != NULL; ) {
    n = xd_xml_child (m, "name", NULL);
    if (n && strcmp (n->text, name) == 0)
      return xd_xml_child (m, "value", NULL);
  }
  return NULL;
}

/* The text of an XML-RPC <value>: typed (<string>, <i8>, ...) or bare. */
static const char *
value_text (const struct xd_xml *v)
{
  if (v == NULL)
    return NULL;
  if (v->child && v->child->child == NULL)
    return v->child->text;
  return v->text;
}

static const struct xd_xml *
value_struct (const struct xd_xml *v)
{
  return v ? xd_xml_child (v, "struct", NULL) : NULL;
}

static int
parse_size (const char *s, uint64_t *v)
{
  char *end;

  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  errno = 0;
  *v = strtoull (s, &end, 10);
  return errno || *end ? -1 : 0;
}

static int
add_vdi (struct xd_xva_meta *meta, const char *ref, const char *uuid,
         const char *name, uint64_t size, const char *file)
{
  struct xd_xva_vdi *v;

  if (XD_RESERVE (meta->vdis, meta->n, meta->cap, 1) == -1) {
    xd_error ("%s: out of memory", file);
    return -1;
  }
  v = &meta->vdis[meta->n++];
  v->ref = strdup (ref);
  v->uuid = strdup (uuid ? uuid : "");
  v->name = strdup (name ? name : "");
  v->size = size;
  if (v->ref == NULL || v->uuid == NULL || v->name == NULL) {
    xd_error ("%s: out of memory", file);
    return -1;
  }
  return 0;
}

/* One object of the "objects" array: {class, id, snapshot}. */
static int
parse_object (struct xd_xva_meta *meta, const struct xd_xml *s,
              const char *file)
{
  const char *cls = value_text (struct_get (s, "class"));
  const char *id = value_text (struct_get (s, "id"));
  const struct xd_xml *snap = value_struct (struct_get (s, "snapshot"));
  const char *vsize;
  uint64_t size;

  if (cls == NULL || id == NULL)
    return 0;
  if (strcmp (cls, "VM") == 0 && meta->vm_name == NULL) {
    const char *name = value_text (struct_get (snap, "name_label"));
    if (name && (meta->vm_name = strdup (name)) == NULL) {
      xd_error ("%s: out of memory", file);
      return -1;
    }
    return 0;
  }
  if (strcmp (cls, "VDI") != 0)
    return 0;
  vsize = value_text (struct_get (snap, "virtual_size"));
  if (parse_size (vsize, &size) == -1) {
    xd_error ("%s: VDI %s has no valid virtual_size (\"%s\")", file, id,
              vsize ? vsize : "");
    errno = EIO;
    return -1;
  }
  return add_vdi (meta, id, value_text (struct_get (snap, "uuid")),
                  value_text (struct_get (snap, "name_label")), size, file);
}

/* Legacy: <appliance version="0.1"><vm ...><label>..</label>
 * <vdi name=".." size=".." source="file://sda" type="dir-gzipped-chunks"
 * .../></vm></appliance>.
 */
static int
parse_legacy (struct xd_xva_meta *meta, const struct xd_xml *root,
              const char *file)
{
  const struct xd_xml *e, *label;

  meta->legacy = true;
  if ((e = xd_xml_next (root, NULL, "vm")) != NULL &&
      (label = xd_xml_child (e, "label", NULL)) != NULL &&
      (meta->vm_name = strdup (label->text)) == NULL)
    return -1;
  for (e = NULL; (e = xd_xml_next (root, e, "vdi")) != NULL; ) {
    const char *src = xd_xml_attr (e, "source");
    const char *type = xd_xml_attr (e, "type");
    uint64_t size;
    if (src == NULL || strncmp (src, "file://", 7) != 0 ||
        parse_size (xd_xml_attr (e, "size"), &size) == -1) {
      xd_error ("%s: a <vdi> element has no valid source or size", file);
      errno = EIO;
      return -1;
    }
    if (type && strcmp (type, "dir-gzipped-chunks") != 0) {
      xd_error ("%s: vdi \"%s\" is of type \"%s\", which is not supported "
                "(only dir-gzipped-chunks is)", file, src + 7, type);
      errno = EIO;
      return -1;
    }
    if (add_vdi (meta, src + 7, NULL, xd_xml_attr (e, "name"), size,
                 file) == -1)
      return -1;
  }
  return 0;
}

int
xd_xva_parse_meta (const char *buf, size_t len, const char *file,
                   struct xd_xva_meta *meta)
{
  struct xd_xml *root = xd_xml_parse (buf, len, file);
  const struct xd_xml *objs, *data, *v;
  int r = 0;

  memset (meta, 0, sizeof *meta);
  if (root == NULL)
    return -1;
  if (strcmp (root->name, "appliance") == 0)
    r = parse_legacy (meta, root, file);
  else if (strcmp (root->name, "value") == 0 &&
           (objs = struct_get (value_struct (root), "objects")) != NULL &&
           (data = xd_xml_child (xd_xml_child (objs, "array", NULL)
                                 ? xd_xml_child (objs, "array", NULL)
                                 : objs, "data", NULL)) != NULL) {
    for (v = NULL; r == 0 && (v = xd_xml_child (data, "value", v)); )
      r = parse_object (meta, value_struct (v), file);
  }
  else {
    xd_error ("%s: not XVA metadata (no objects array)", file);
    errno = EIO;
    r = -1;
  }
  xd_xml_free (root);
  if (r == -1) {
    xd_xva_meta_free (meta);
    errno = EIO;
  }
  return r;
}

void
xd_xva_meta_free (struct xd_xva_meta *meta)
{
  size_t i;

  for (i = 0; i < meta->n; i++) {
    free (meta->vdis[i].ref);
    free (meta->vdis[i].uuid);
    free (meta->vdis[i].name);
  }
  free (meta->vdis);
  free (meta->vm_name);
  memset (meta, 0, sizeof *meta);
}
