/* xdisk: create=true and the create-* parameters, see xd-glue-create.h. */

#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "glue/xd-glue-common.h"
#include "glue/xd-glue-create.h"
#include "include/xd-vector.h"

static bool creating;                   /* create=true */
static bool overwrite;                  /* create-overwrite=true */
static struct xd_create_opts copts;
static char *parent_path;               /* create-parent=, real path */
static char *ovf_path;                  /* create-ovf=, real path */
static uint64_t *sizes;                 /* create-size=A,B,... */
static const struct xd_format *create_format;   /* create-format= */

bool
xd_glue_creating (void)
{
  return creating;
}

static int
parse_bool (const char *key, const char *value, bool *out)
{
  int r = nbdkit_parse_bool (value);

  if (r == -1)
    return -1;
  (void) key;
  *out = r;
  return 0;
}

/* A size that fits in 32 bits: create-block-size, create-sector-size. */
static int
parse_size32 (const char *key, const char *value, uint32_t *out)
{
  int64_t r = nbdkit_parse_size (value);

  if (r == -1)
    return -1;
  if (r == 0 || r > UINT32_MAX) {
    nbdkit_error ("%s=%s: out of range", key, value);
    return -1;
  }
  *out = (uint32_t) r;
  return 0;
}

static int
config_create_format (const char *value)
{
  const struct xd_format *f = xd_glue_served (xd_format_by_name (value));

  if (f == NULL || f->create == NULL) {
    nbdkit_error ("create-format=%s: %s cannot create that format (see "
                  "'%s --help')", value, xd_glue_name, xd_glue_name);
    return -1;
  }
  create_format = f;
  return 0;
}

/* create-size=SIZE[,SIZE...]: one size per disk (several only for an
 * appliance).
 */
static int
config_sizes (const char *value)
{
  char *list = strdup (value), *item, *save = NULL;
  size_t n = 0, cap = 0;

  if (list == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  free (sizes);
  sizes = NULL;
  for (item = strtok_r (list, ",", &save); item;
       item = strtok_r (NULL, ",", &save)) {
    int64_t r = nbdkit_parse_size (item);
    if (r == -1)
      goto err;
    if (r == 0) {
      nbdkit_error ("create-size=%s: a disk of 0 bytes", value);
      goto err;
    }
    if (XD_RESERVE (sizes, n, cap, 1) == -1) {
      nbdkit_error ("realloc: %m");
      goto err;
    }
    sizes[n++] = (uint64_t) r;
  }
  free (list);
  copts.sizes = sizes;
  copts.nr_sizes = n;
  copts.size = n ? sizes[0] : 0;
  return 0;
 err:
  free (list);
  return -1;
}

/* The machine an appliance describes: checked by the appliance. */
static int
config_vm (const char *key, const char *value)
{
  static const struct { const char *key; size_t offset; } strings[] = {
    { "create-name", offsetof (struct xd_vm_params, name) },
    { "create-firmware", offsetof (struct xd_vm_params, firmware) },
    { "create-os", offsetof (struct xd_vm_params, os) },
    { "create-nic", offsetof (struct xd_vm_params, nic) },
    { "create-network", offsetof (struct xd_vm_params, network) },
    { "create-disk-bus", offsetof (struct xd_vm_params, disk_bus) },
    { "create-manifest", offsetof (struct xd_vm_params, manifest) },
    { "create-checksum", offsetof (struct xd_vm_params, checksum) },
  };
  size_t i;

  for (i = 0; i < sizeof strings / sizeof strings[0]; i++)
    if (strcmp (key, strings[i].key) == 0) {
      *(const char **) ((char *) &copts.vm + strings[i].offset) = value;
      return 0;
    }
  if (strcmp (key, "create-cpus") == 0) {
    if (nbdkit_parse_unsigned (key, value, &copts.vm.cpus) == -1)
      return -1;
    if (copts.vm.cpus == 0) {
      nbdkit_error ("create-cpus=%s: at least 1", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "create-memory") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1)
      return -1;
    copts.vm.memory = (uint64_t) r;
    return 0;
  }
  if (strcmp (key, "create-ovf") == 0) {
    free (ovf_path);
    ovf_path = nbdkit_realpath (value);
    copts.vm.ovf = ovf_path;
    return ovf_path ? 0 : -1;
  }
  return 1;
}

int
xd_glue_config_create (const char *key, const char *value)
{
  if (strcmp (key, "create") == 0)
    return parse_bool (key, value, &creating);
  if (strcmp (key, "create-overwrite") == 0)
    return parse_bool (key, value, &overwrite);
  if (strcmp (key, "create-size") == 0)
    return config_sizes (value);
  if (strcmp (key, "create-type") == 0) {
    copts.type = value;
    return 0;
  }
  if (strcmp (key, "create-adapter-type") == 0) {
    copts.adapter_type = value;
    return 0;
  }
  if (strcmp (key, "create-hwversion") == 0) {
    copts.hwversion = value;
    return 0;
  }
  if (strcmp (key, "create-block-size") == 0)
    return parse_size32 (key, value, &copts.block_size);
  if (strcmp (key, "create-sector-size") == 0)
    return parse_size32 (key, value, &copts.sector_size);
  if (strcmp (key, "create-format") == 0)
    return config_create_format (value);
  if (strcmp (key, "create-parent") == 0) {
    free (parent_path);
    parent_path = nbdkit_realpath (value);
    return parent_path ? 0 : -1;
  }
  return config_vm (key, value);
}

int
xd_glue_create_complete (void)
{
  if (!creating) {
    if (copts.size || copts.type || parent_path || create_format ||
        xd_vm_params_given (&copts.vm)) {
      nbdkit_error ("create-* parameters are given without create=true");
      return -1;
    }
    return 0;
  }
  if (copts.size == 0 && parent_path == NULL && ovf_path == NULL) {
    nbdkit_error ("create=true needs create-size=SIZE (or create-parent="
                  "FILE, whose size the child takes, or create-ovf=FILE, "
                  "whose disks give theirs)");
    return -1;
  }
  copts.parent = parent_path;
  return 0;
}

void
xd_glue_create_free (void)
{
  free (parent_path);
  parent_path = NULL;
  free (ovf_path);
  ovf_path = NULL;
  free (sizes);
  sizes = NULL;
}

char *
xd_glue_create_path (const char *file)
{
  char *copy1 = strdup (file), *copy2 = strdup (file);
  char *dir = NULL, *path = NULL;

  if (copy1 == NULL || copy2 == NULL) {
    nbdkit_error ("strdup: %m");
    goto out;
  }
  dir = nbdkit_realpath (dirname (copy1));
  if (dir == NULL)
    goto out;
  if (asprintf (&path, "%s/%s", strcmp (dir, "/") ? dir : "",
                basename (copy2)) == -1) {
    nbdkit_error ("asprintf: %m");
    path = NULL;
  }
 out:
  free (copy1);
  free (copy2);
  free (dir);
  return path;
}

/* The format of a new file: create-format= or format=, else by the
 * extension of PATH, else the only format the plugin can create.
 */
static const struct xd_format *
choose_create_format (const char *path, const struct xd_format *pinned)
{
  static const struct { const char *ext, *format; } by_ext[] = {
    { ".vhd", "vhd" }, { ".vhdx", "vhdx" }, { ".avhdx", "vhdx" },
    { ".avhd", "vhd" }, { ".vmdk", "vmdk" }, { ".vdi", "vdi" },
    { ".qcow2", "qcow2" }, { ".ova", "ova" }, { ".xva", "xva" },
  };
  const char *dot = strrchr (path, '.');
  const struct xd_format *only = NULL;
  size_t i, n = 0;

  if (create_format)
    return create_format;
  if (pinned && pinned->create)
    return pinned;
  for (i = 0; dot && i < sizeof by_ext / sizeof by_ext[0]; i++) {
    const struct xd_format *f;
    if (strcasecmp (dot, by_ext[i].ext) != 0)
      continue;
    f = xd_glue_served (xd_format_by_name (by_ext[i].format));
    if (f && f->create)
      return f;
    if (f) {
      nbdkit_error ("%s: the %s %s reads %s files but cannot create them "
                    "(give create-format=NAME for another format)", path,
                    xd_glue_name, xd_glue_kind, f->display);
      return NULL;
    }
  }
  for (i = 0; xd_glue_formats[i]; i++)
    if (xd_glue_formats[i]->create) {
      only = xd_glue_formats[i];
      n++;
    }
  if (n == 1)
    return only;
  if (n == 0)
    nbdkit_error ("%s: the %s %s cannot create images", path, xd_glue_name,
                  xd_glue_kind);
  else
    nbdkit_error ("%s: which format to create is not clear from the file "
                  "name: give create-format=NAME", path);
  return NULL;
}

/* Several disks and a machine description make an appliance: refuse
 * them for a single disk.
 */
static int
check_appliance_params (const char *path, const struct xd_format *format)
{
  bool appliance = format->created && format->created->disks;

  if (appliance)
    return 0;
  if (copts.nr_sizes > 1) {
    nbdkit_error ("%s: create-size= gives %zu sizes, but a %s file holds "
                  "one disk (only an appliance, OVA or XVA, holds several)",
                  path, copts.nr_sizes, format->display);
    return -1;
  }
  if (xd_vm_params_given (&copts.vm)) {
    nbdkit_error ("%s: create-name=, create-cpus= and the other machine "
                  "parameters describe an appliance (OVA, XVA), not a %s "
                  "disk", path, format->display);
    return -1;
  }
  return 0;
}

/* The path policy of a new image: its directory, what
 * allow-external-files says, and create-parent's directory.
 */
static int
init_policy (const char *path, const char *allow_external,
             struct xd_path_policy *policy)
{
  char *copy, *dir;
  int r;

  if (xd_path_policy_init (policy, path, allow_external) == -1)
    return -1;
  if (parent_path == NULL)
    return 0;
  copy = strdup (parent_path);
  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  dir = dirname (copy);
  r = xd_path_policy_allow_dir (policy, dir);
  free (copy);
  return r;
}

struct xd_image *
xd_glue_create_image (const char *path, const char *allow_external,
                      struct xd_path_policy *policy,
                      struct xd_resolver **res)
{
  const struct xd_format *format;
  struct xd_image *img;
  struct xd_io *io;

  format = choose_create_format (path, xd_glue_pinned_format ());
  if (format == NULL || check_appliance_params (path, format) == -1)
    return NULL;
  io = xd_io_create_file (path, overwrite);
  if (io == NULL)
    return NULL;
  if (init_policy (path, allow_external, policy) == -1 ||
      (*res = xd_resolver_new_dir (policy)) == NULL) {
    xd_io_close (io);
    unlink (path);
    return NULL;
  }
  nbdkit_debug ("%s: creating a %s image", path, format->display);
  copts.path = path;
  xd_glue_opts.writable = true;
  img = xd_image_create (io, *res, &copts, &xd_glue_opts, format);
  if (img == NULL)
    unlink (path);
  return img;
}
