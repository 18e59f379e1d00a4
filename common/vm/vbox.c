/* xdisk: a VirtualBox VM given by its .vbox, served as its disks (vm.h).
 *
 * The current state's disks are the AttachedDevice type="HardDisk"
 * elements of the Machine's own StorageControllers (a child of Machine,
 * or of its Hardware in newer settings files; a Snapshot element holds
 * an older state's and is not looked at).  Each names an Image uuid,
 * which the media registry (nested HardDisk elements: vdi-read.c's
 * vdi_vbox_location reads it) maps to a location relative to the .vbox
 * (remote-sources.md §5.1).  That file is the state's newest image;
 * its format is detected (VirtualBox also keeps VMDK and VHD disks).
 * A differencing VDI's parent is found by the VDI driver: the .vbox's
 * text is passed down (xd_open_opts.vbox_text) so that it is looked up
 * there first, which also works where the resolver cannot list a
 * directory (HTTP).  Each disk is an export named CONTROLLER:PORT:DEVICE
 * ("SATA:0:0").
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vdi/vdi.h"
#include "archive/xd-xml.h"
#include "core/xd-format.h"
#include "core/xd-guid.h"
#include "include/xd-report.h"
#include "include/xd-vector.h"

/* The largest .vbox read, as the VDI parent search reads them. */
#define VBOX_MAX_SIZE (16u << 20)
/* The longest controller name used in an export name. */
#define VBOX_MAX_CONTROLLER 128

static bool
vbox_probe (struct xd_io *io XD_UNUSED, const uint8_t *head, size_t len)
{
  return len > 0 && memchr (head, '\0', len) == NULL &&
    memmem (head, len, "<VirtualBox", 11) != NULL &&
    memmem (head, len, "<Machine", 8) != NULL;
}

static int
vbox_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  if (strcmp (key, "disk") != 0)
    return 1;
  if (*value == '\0') {
    xd_error ("disk=: give a disk's controller:port:device (SATA:0:0)");
    return -1;
  }
  opts->disk = value;
  return 0;
}

struct vbox_open {
  struct vm *vm;
  const char *text;             /* the .vbox */
  const struct xd_resolver *res;
  const struct xd_open_opts *opts;      /* with the registry set */
};

/* A hard disk attached to a controller, at PORT and DEVICE. */
struct attached {
  unsigned long port, device;
  const struct xd_xml *dev;
};

/* A controller's name becomes part of export names: bounded, no
 * control characters, no ':' (the key's separator) nor '/'.
 */
static int
check_controller_name (const struct vbox_open *o, const char *name)
{
  const char *p;

  for (p = name; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == ':' || *p == '/')
      break;
  if (*p == '\0' && *name && strlen (name) <= VBOX_MAX_CONTROLLER)
    return 0;
  xd_error ("%s: StorageController name \"%.*s\": empty, longer than %d "
            "bytes, or holding a control character, ':' or '/'",
            o->vm->io->name, VBOX_MAX_CONTROLLER, name, VBOX_MAX_CONTROLLER);
  errno = EIO;
  return -1;
}

/* The number in attribute ATTR of DEV (0 if absent). */
static int
position (const struct vbox_open *o, const char *name,
          const struct xd_xml *dev, const char *attr, unsigned long *out)
{
  const char *v = xd_xml_attr (dev, attr);
  char *end;

  *out = 0;
  if (v == NULL)
    return 0;
  errno = 0;
  *out = strtoul (v, &end, 10);
  if (errno == 0 && *end == '\0' && end != v && *v != '-' && *out <= 65535)
    return 0;
  xd_error ("%s: controller \"%s\": an AttachedDevice's %s \"%s\" is not a "
            "number from 0 to 65535", o->vm->io->name, name, attr, v);
  errno = EIO;
  return -1;
}

/* Add the hard disk A attached to controller NAME. */
static int
add_device (struct vbox_open *o, const char *name, const struct attached *a)
{
  char key[VBOX_MAX_CONTROLLER + 16];
  const struct xd_xml *image = xd_xml_child (a->dev, "Image", NULL);
  const char *uuid = image ? xd_xml_attr (image, "uuid") : NULL;
  uint8_t g[16];
  char *loc;
  int r;

  snprintf (key, sizeof key, "%s:%lu:%lu", name, a->port, a->device);
  if (uuid == NULL || xd_guid_parse (uuid, g) == -1) {
    xd_error ("%s: hard disk %s: no Image with a valid uuid", o->vm->io->name,
              key);
    errno = EIO;
    return -1;
  }
  loc = vdi_vbox_location (o->text, g);
  if (loc == NULL) {
    xd_error ("%s: hard disk %s: image %s is not in the media registry",
              o->vm->io->name, key, uuid);
    errno = EIO;
    return -1;
  }
  r = vm_add_disk (o->vm, key, loc, o->res, o->opts);
  free (loc);
  return r;
}

static int
compare_attached (const void *x, const void *y)
{
  const struct attached *a = x, *b = y;

  if (a->port != b->port)
    return a->port < b->port ? -1 : 1;
  return a->device < b->device ? -1 : a->device > b->device;
}

/* The hard disks of controller SC, by port and device. */
static int
add_controller (struct vbox_open *o, const struct xd_xml *sc)
{
  const char *name = xd_xml_attr (sc, "name");
  const struct xd_xml *dev = NULL;
  struct attached *v = NULL;
  size_t i, len = 0, cap = 0;
  int r = 0;

  if (name == NULL)
    name = "";
  while (r == 0 && (dev = xd_xml_child (sc, "AttachedDevice", dev))) {
    const char *type = xd_xml_attr (dev, "type");
    struct attached a = { .dev = dev };

    if (type == NULL || strcmp (type, "HardDisk") != 0)
      continue;
    if (check_controller_name (o, name) == -1 ||
        position (o, name, dev, "port", &a.port) == -1 ||
        position (o, name, dev, "device", &a.device) == -1)
      r = -1;
    else if (len >= VM_MAX_DISKS ||
             XD_RESERVE (v, len, cap, 1) == -1) {
      xd_error ("%s: controller \"%s\": too many disks", o->vm->io->name,
                name);
      r = -1;
    }
    else
      v[len++] = a;
  }
  if (r == 0 && len > 1)
    qsort (v, len, sizeof *v, compare_attached);
  for (i = 0; r == 0 && i < len; i++)
    r = add_device (o, name, &v[i]);
  free (v);
  return r;
}

static int
add_controllers (struct vbox_open *o, const struct xd_xml *scs)
{
  const struct xd_xml *sc = NULL;

  while ((sc = xd_xml_child (scs, "StorageController", sc)) != NULL)
    if (add_controller (o, sc) == -1)
      return -1;
  return 0;
}

/* The disks of MACHINE's current state. */
static int
add_disks (struct vbox_open *o, const struct xd_xml *machine)
{
  const struct xd_xml *hw = xd_xml_child (machine, "Hardware", NULL);
  const struct xd_xml *scs = xd_xml_child (machine, "StorageControllers",
                                           NULL);

  if (scs == NULL && hw)
    scs = xd_xml_child (hw, "StorageControllers", NULL);
  if (scs && add_controllers (o, scs) == -1)
    return -1;
  if (o->vm->nr_disks == 0) {
    xd_error ("%s: the VM has no hard disk: no AttachedDevice "
              "type=\"HardDisk\" in its StorageControllers", o->vm->io->name);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
open_vm (struct vm *vm, const char *text, size_t len,
         const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  struct xd_open_opts with_registry = *opts;
  struct vbox_open o = { vm, text, res, &with_registry };
  struct xd_xml *root = xd_xml_parse (text, len, vm->io->name);
  const struct xd_xml *machine;
  int r = -1;

  if (root == NULL)
    return -1;
  machine = strcmp (root->name, "VirtualBox") == 0
    ? xd_xml_child (root, "Machine", NULL) : NULL;
  if (machine == NULL) {
    xd_error ("%s: not a VirtualBox machine file: no VirtualBox/Machine "
              "element", vm->io->name);
    errno = EIO;
  }
  else {
    with_registry.vbox_text = text;
    with_registry.vbox_name = vm->io->name;
    r = add_disks (&o, machine);
  }
  xd_xml_free (root);
  return r;
}

static void *
vbox_open (struct xd_io *io, const struct xd_resolver *res,
           const struct xd_open_opts *opts)
{
  struct vm *vm = vm_new (io, "VirtualBox VM");
  size_t len;
  char *text;

  if (vm == NULL)
    return NULL;
  text = vm_read_text (io, VBOX_MAX_SIZE, ".vbox file", &len);
  if (text == NULL || open_vm (vm, text, len, res, opts) == -1 ||
      vm_select (vm, opts->disk) == -1) {
    free (text);
    vm_free (vm);
    return NULL;
  }
  free (text);
  return vm;
}

const struct xd_format xd_format_vbox = {
  .name = "vbox",
  .display = "VirtualBox .vbox",
  .plugin = "vdix",
  .probe = vbox_probe,
  .config = vbox_config,
  .config_help = "disk=SATA:0:0  .vbox: the disk the default export serves "
                 "(default: the first).",
  .open = vbox_open,
  VM_FORMAT_FIELDS,
};
