/* xdisk: a VM served as its disks, whatever its configuration format
 * (see vm.h).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vm/vm.h"
#include "include/xd-report.h"
#include "include/xd-vector.h"

extern const struct xd_format xd_vm_disk;

struct vm *
vm_new (struct xd_io *io, const char *kind)
{
  struct vm *vm = calloc (1, sizeof *vm);

  if (vm == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  vm->io = io;
  vm->kind = kind;
  return vm;
}

void
vm_free (struct vm *vm)
{
  size_t i;

  if (vm == NULL)
    return;
  for (i = 0; i < vm->nr_disks; i++) {
    xd_image_close (vm->disks[i].img);
    free (vm->disks[i].key);
    free (vm->disks[i].file);
  }
  free (vm->disks);
  free (vm->priv);
  xd_io_close (vm->io);
  free (vm);
}

void
vm_close (void *h)
{
  vm_free (h);
}

char *
vm_read_text (struct xd_io *io, size_t max, const char *what, size_t *len)
{
  char *text;

  if (io->size > max) {
    xd_error ("%s: %" PRIu64 " bytes, more than the %zu a %s may hold",
              io->name, io->size, max, what);
    errno = EIO;
    return NULL;
  }
  text = malloc (io->size + 1);
  if (text == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return NULL;
  }
  if (xd_io_read (io, text, io->size, 0, what) == -1) {
    free (text);
    return NULL;
  }
  text[io->size] = '\0';
  *len = (size_t) io->size;
  return text;
}

/* The format of the disk in IO, if the plugin serves it as a disk:
 * never another VM or an appliance.  NULL after reporting.
 */
static const struct xd_format *
disk_format (const struct vm *vm, const char *key, const char *file,
             struct xd_io *io, const struct xd_open_opts *opts)
{
  const struct xd_format *f = xd_detect (io);

  if (f == NULL)
    return NULL;
  if (f->disks || strcmp (f->name, "ova") == 0 ||
      strcmp (f->name, "xva") == 0 ||
      (opts->served && !xd_format_in (opts->served, f))) {
    xd_error ("%s: disk %s is \"%s\", a %s file: not a disk this plugin "
              "serves%s", vm->io->name, key, file, f->display,
              f->disks || f->plugin == NULL ? ""
              : " (diskx serves every disk format)");
    errno = EINVAL;
    return NULL;
  }
  return f;
}

static struct xd_image *
open_disk (const struct vm *vm, const char *key, const char *file,
           const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  struct xd_open_opts deeper = *opts;
  const struct xd_format *f;
  struct xd_io *io = xd_resolver_open (res, vm->io->name, file, "disk");

  if (io == NULL)
    return NULL;
  f = disk_format (vm, key, file, io, opts);
  if (f == NULL) {
    xd_io_close (io);
    return NULL;
  }
  deeper.depth++;
  deeper.writable = false;
  deeper.disk = NULL;
  xd_debug ("%s: disk %s is %s (%s)", vm->io->name, key, file, f->display);
  return xd_image_open (io, res, &deeper, f);
}

int
vm_add_disk (struct vm *vm, const char *key, const char *file,
             const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  struct vm_disk *d;

  if (vm->nr_disks >= VM_MAX_DISKS) {
    xd_error ("%s: more than the %d disks a VM may have", vm->io->name,
              VM_MAX_DISKS);
    errno = EIO;
    return -1;
  }
  if (XD_RESERVE (vm->disks, vm->nr_disks, vm->cap, 1) == -1) {
    xd_error ("%s: %m", vm->io->name);
    return -1;
  }
  d = &vm->disks[vm->nr_disks];
  memset (d, 0, sizeof *d);
  d->key = strdup (key);
  d->file = strdup (file);
  if (d->key == NULL || d->file == NULL) {
    xd_error ("%s: strdup: %m", vm->io->name);
    free (d->key);
    free (d->file);
    return -1;
  }
  d->img = open_disk (vm, key, file, res, opts);
  if (d->img == NULL) {
    free (d->key);
    free (d->file);
    return -1;
  }
  d->as_served.format = &xd_vm_disk;
  vm->nr_disks++;
  return 0;
}

int
vm_select (struct vm *vm, const char *want)
{
  char keys[512] = "";
  size_t i, used = 0;

  /* The disks array no longer moves: point each served image at its
   * disk now.
   */
  for (i = 0; i < vm->nr_disks; i++) {
    vm->disks[i].as_served.h = &vm->disks[i];
    vm->disks[i].vm = vm;
  }
  if (want == NULL)
    return 0;
  for (i = 0; i < vm->nr_disks; i++)
    if (strcasecmp (vm->disks[i].key, want) == 0) {
      vm->selected = i;
      return 0;
    }
  for (i = 0; i < vm->nr_disks && used < sizeof keys - 1; i++) {
    int r = snprintf (keys + used, sizeof keys - used, "%s%s",
                      i ? ", " : "", vm->disks[i].key);
    if (r < 0)
      break;
    used += (size_t) r;
  }
  xd_error ("%s: disk=%s: the VM has no such disk; its disks are %s",
            vm->io->name, want, keys);
  errno = EINVAL;
  return -1;
}

/* ---- one disk as served: its chain, described as the VM's disk ---- */

static struct xd_image *
chain (void *h)
{
  return ((struct vm_disk *) h)->img;
}

static uint64_t
disk_size (void *h)
{
  return xd_image_size (chain (h));
}

static uint32_t
disk_preferred_block (void *h)
{
  struct xd_image *img = chain (h);

  return img->format->preferred_block ?
    img->format->preferred_block (img->h) : 0;
}

static int
disk_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return xd_image_read (chain (h), buf, count, offset);
}

static int
disk_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
              xd_extent_fn add, void *opaque)
{
  return xd_image_extents (chain (h), count, offset, req_one, add, opaque);
}

/* The configuration's file name, without its directory, or a URL's
 * last path segment without its query (?dcPath=...&dsName=...): *LEN
 * bytes at the pointer returned.
 */
static const char *
base_name (const struct vm *vm, int *len)
{
  const char *name = vm->io->name, *end = strchr (name, '?'), *p;

  if (end == NULL || strstr (name, "://") == NULL)
    end = name + strlen (name);
  for (p = end; p > name && p[-1] != '/'; p--)
    ;
  *len = (int) (end - p);
  return p;
}

static char *
disk_describe (void *h)
{
  struct vm_disk *d = h;
  char *inner = xd_image_describe (d->img), *s;
  int len;
  const char *name = base_name (d->vm, &len);

  if (asprintf (&s, "%s %.*s, disk %s of %zu (%s): %s", d->vm->kind, len,
                name, d->key, d->vm->nr_disks, d->file,
                inner ? inner : d->img->format->display) == -1)
    s = NULL;
  free (inner);
  return s;
}

/* Never detected nor named: only ever reached through vm_disk. */
const struct xd_format xd_vm_disk = {
  .name = "vm-disk",
  .display = "VM disk",
  .size = disk_size,
  .preferred_block = disk_preferred_block,
  .pread = disk_pread,
  .extents = disk_extents,
  .describe = disk_describe,
};

/* ---- the VM: its disk= disk ---- */

static void *
selected (void *h)
{
  struct vm *vm = h;

  return &vm->disks[vm->selected];
}

uint64_t
vm_size (void *h)
{
  return disk_size (selected (h));
}

uint32_t
vm_preferred_block (void *h)
{
  return disk_preferred_block (selected (h));
}

int
vm_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return disk_pread (selected (h), buf, count, offset);
}

int
vm_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
            xd_extent_fn add, void *opaque)
{
  return disk_extents (selected (h), count, offset, req_one, add, opaque);
}

char *
vm_describe (void *h)
{
  return disk_describe (selected (h));
}

bool
vm_can_write (void *h XD_UNUSED, const char **why)
{
  *why = "a VM given by its configuration file (.vmx, .vbox, .ovf) is "
    "served read-only: serve a disk's newest file to write it";
  return false;
}

size_t
vm_disks (void *h)
{
  return ((struct vm *) h)->nr_disks;
}

const char *
vm_disk_name (void *h, size_t i)
{
  return ((struct vm *) h)->disks[i].key;
}

struct xd_image *
vm_disk (void *h, size_t i)
{
  return &((struct vm *) h)->disks[i].as_served;
}
