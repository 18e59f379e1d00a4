/* xdisk: a VMware VM given by its .vmx, served as its disks.
 *
 * Opening the .vmx opens every disk it names (vmx-parse.c finds them),
 * each through the resolver from the .vmx's own name, so a disk is
 * wherever the .vmx is: a local folder or a URL.  A disk's fileName
 * names its newest snapshot delta; the VMDK driver follows that file's
 * chain down to the base and checks CID/parentCID as for any chain.
 *
 * The handle holds several disks (xd_format.disks): the plugin serves
 * each as an NBD export named by its device key ("scsi0:0"), and the
 * handle's own read ops serve the one disk= selects (the first by
 * default).  Read-only: a VM's disks are served as they are.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vm/vmx.h"
#include "core/xd-format.h"
#include "include/xd-report.h"

extern const struct xd_format xd_format_vmx;

struct vmx_vm;

/* A disk as the plugin serves it: the opened chain (IMG), wrapped in
 * an image of its own (AS_SERVED) whose description says which disk of
 * which VM it is.
 */
struct vmx_vm_disk {
  char key[VMX_DISK_KEY_MAX];
  char *file;                   /* its fileName in the .vmx */
  struct xd_image *img;
  struct xd_image as_served;
  const struct vmx_vm *vm;
};

struct vmx_vm {
  struct xd_io *io;             /* the .vmx */
  struct vmx_vm_disk *disks;
  size_t nr_disks;
  size_t selected;              /* the disk disk= names */
};

extern const struct xd_format xd_vmx_disk;

static bool
vmx_probe (struct xd_io *io XD_UNUSED, const uint8_t *head, size_t len)
{
  return vmx_looks_like (head, len);
}

static int
vmx_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  if (strcmp (key, "disk") != 0)
    return 1;
  if (*value == '\0') {
    xd_error ("disk=: give a disk's device key (scsi0:0)");
    return -1;
  }
  opts->disk = value;
  return 0;
}

/* Open the disk REF names, as the plugin may serve it. */
static struct xd_image *
open_disk (const struct vmx_vm *vm, const struct vmx_disk_ref *ref,
           const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  struct xd_open_opts deeper = *opts;
  const struct xd_format *f;
  struct xd_io *io = xd_resolver_open (res, vm->io->name, ref->file, "disk");

  if (io == NULL)
    return NULL;
  if ((f = xd_detect (io)) == NULL) {
    xd_io_close (io);
    return NULL;
  }
  if (f == &xd_format_vmx || f->disks || strcmp (f->name, "ova") == 0 ||
      strcmp (f->name, "xva") == 0 ||
      (opts->served && !xd_format_in (opts->served, f))) {
    xd_error ("%s: disk %s is \"%s\", a %s file: not a disk %s", vm->io->name,
              ref->key, ref->file, f->display,
              f == &xd_format_raw ? "this plugin serves"
              : "this plugin serves (diskx serves every format)");
    xd_io_close (io);
    errno = EINVAL;
    return NULL;
  }
  deeper.depth++;
  deeper.writable = false;
  deeper.disk = NULL;
  xd_debug ("%s: disk %s is %s (%s)", vm->io->name, ref->key, ref->file,
            f->display);
  return xd_image_open (io, res, &deeper, f);
}

/* Index of the disk disk= names (case-insensitive), or the first. */
static int
select_disk (struct vmx_vm *vm, const char *want)
{
  char keys[512] = "";
  size_t i, used = 0;

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

static void vmx_close (void *h);

static int
open_disks (struct vmx_vm *vm, const struct vmx_config *cfg,
            const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  struct vmx_disk_ref *refs;
  size_t i, n;

  if (vmx_find_disks (cfg, vm->io->name, &refs, &n) == -1)
    return -1;
  if (n == 0) {
    xd_error ("%s: the VM has no hard disk: no <bus>N:M.fileName entry "
              "(scsi, ide, sata, nvme) names a present .vmdk that is not "
              "a CD-ROM", vm->io->name);
    errno = EINVAL;
    return -1;
  }
  vm->disks = calloc (n, sizeof *vm->disks);
  if (vm->disks == NULL) {
    xd_error ("%s: calloc: %m", vm->io->name);
    free (refs);
    return -1;
  }
  for (i = 0; i < n; i++) {
    struct vmx_vm_disk *d = &vm->disks[i];

    memcpy (d->key, refs[i].key, sizeof refs[i].key);
    d->as_served.format = &xd_vmx_disk;
    d->as_served.h = d;
    d->vm = vm;
    vm->nr_disks++;
    d->file = strdup (refs[i].file);
    if (d->file == NULL) {
      xd_error ("%s: strdup: %m", vm->io->name);
      break;
    }
    d->img = open_disk (vm, &refs[i], res, opts);
    if (d->img == NULL)
      break;
  }
  free (refs);
  return i < n ? -1 : 0;
}

/* Read the whole .vmx, bounded. */
static char *
read_text (struct xd_io *io, size_t *len)
{
  char *text;

  if (io->size > VMX_MAX_SIZE) {
    xd_error ("%s: %" PRIu64 " bytes, more than the %u a .vmx may hold",
              io->name, io->size, VMX_MAX_SIZE);
    errno = EIO;
    return NULL;
  }
  text = malloc (io->size + 1);
  if (text == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return NULL;
  }
  if (xd_io_read (io, text, io->size, 0, ".vmx file") == -1) {
    free (text);
    return NULL;
  }
  *len = (size_t) io->size;
  return text;
}

static void *
vmx_open (struct xd_io *io, const struct xd_resolver *res,
          const struct xd_open_opts *opts)
{
  struct vmx_vm *vm = calloc (1, sizeof *vm);
  struct vmx_config cfg;
  size_t len;
  char *text;
  int r;

  if (vm == NULL) {
    xd_error ("%s: calloc: %m", io->name);
    xd_io_close (io);
    return NULL;
  }
  vm->io = io;
  text = read_text (io, &len);
  r = text ? vmx_parse (text, len, io->name, &cfg) : -1;
  free (text);
  if (r == 0) {
    r = open_disks (vm, &cfg, res, opts);
    vmx_config_free (&cfg);
  }
  if (r == 0)
    r = select_disk (vm, opts->disk);
  if (r == -1) {
    vmx_close (vm);
    return NULL;
  }
  return vm;
}

static void
vmx_close (void *h)
{
  struct vmx_vm *vm = h;
  size_t i;

  for (i = 0; i < vm->nr_disks; i++) {
    xd_image_close (vm->disks[i].img);
    free (vm->disks[i].file);
  }
  free (vm->disks);
  xd_io_close (vm->io);
  free (vm);
}

/* ---- one disk as served: its chain, described as the VM's disk ---- */

static struct xd_image *
chain (void *h)
{
  return ((struct vmx_vm_disk *) h)->img;
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

/* The .vmx's file name, without its directory (or URL). */
static const char *
vmx_base_name (const struct vmx_vm *vm)
{
  const char *slash = strrchr (vm->io->name, '/');

  return slash ? slash + 1 : vm->io->name;
}

static char *
disk_describe (void *h)
{
  struct vmx_vm_disk *d = h;
  char *inner = xd_image_describe (d->img), *s;

  if (asprintf (&s, "VMware VM %s, disk %s of %zu (%s): %s",
                vmx_base_name (d->vm), d->key, d->vm->nr_disks, d->file,
                inner ? inner : d->img->format->display) == -1)
    s = NULL;
  free (inner);
  return s;
}

/* Never detected nor named: only ever reached through vmx_disk. */
const struct xd_format xd_vmx_disk = {
  .name = "vmx-disk",
  .display = "VMware VM disk",
  .plugin = "vmdkx",
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
  struct vmx_vm *vm = h;

  return &vm->disks[vm->selected];
}

static uint64_t
vmx_size (void *h)
{
  return disk_size (selected (h));
}

static uint32_t
vmx_preferred_block (void *h)
{
  return disk_preferred_block (selected (h));
}

static int
vmx_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return disk_pread (selected (h), buf, count, offset);
}

static int
vmx_extents (void *h, uint32_t count, uint64_t offset, bool req_one,
             xd_extent_fn add, void *opaque)
{
  return disk_extents (selected (h), count, offset, req_one, add, opaque);
}

static char *
vmx_describe (void *h)
{
  return disk_describe (selected (h));
}

static bool
vmx_can_write (void *h XD_UNUSED, const char **why)
{
  *why = "a VM given by its .vmx is served read-only (serve a disk's "
    "newest .vmdk to write it)";
  return false;
}

static size_t
vmx_disks (void *h)
{
  return ((struct vmx_vm *) h)->nr_disks;
}

static const char *
vmx_disk_name (void *h, size_t i)
{
  return ((struct vmx_vm *) h)->disks[i].key;
}

static struct xd_image *
vmx_disk (void *h, size_t i)
{
  return &((struct vmx_vm *) h)->disks[i].as_served;
}

const struct xd_format xd_format_vmx = {
  .name = "vmx",
  .display = "VMware .vmx",
  .plugin = "vmdkx",
  .probe = vmx_probe,
  .config = vmx_config,
  .config_help = "disk=scsi0:0  .vmx: the disk the default export serves "
                 "(default: the first).",
  .open = vmx_open,
  .close = vmx_close,
  .size = vmx_size,
  .preferred_block = vmx_preferred_block,
  .pread = vmx_pread,
  .extents = vmx_extents,
  .describe = vmx_describe,
  .can_write = vmx_can_write,
  .disks = vmx_disks,
  .disk_name = vmx_disk_name,
  .disk = vmx_disk,
};
