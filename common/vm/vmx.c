/* xdisk: a VMware VM given by its .vmx, served as its disks (vm.h).
 *
 * vmx-parse.c finds the disks; each fileName names the disk's newest
 * snapshot delta, and the VMDK driver follows that file's chain down
 * to the base, checking CID/parentCID as for any chain.  Each disk is
 * an export named by its device key ("scsi0:0").
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vm/vmx.h"
#include "core/xd-format.h"
#include "include/xd-report.h"

static bool
vmx_probe (struct xd_io *io XD_UNUSED, const uint8_t *head, size_t len)
{
  return vmx_looks_like (head, len);
}

/* disk=: shared with the appliances (same field), for diskx and vmdkx
 * alike.
 */
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

static int
open_disks (struct vm *vm, const struct vmx_config *cfg,
            const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  struct vmx_disk_ref *refs;
  size_t i, n;
  int r = 0;

  if (vmx_find_disks (cfg, vm->io->name, &refs, &n) == -1)
    return -1;
  if (n == 0) {
    xd_error ("%s: the VM has no hard disk: no <bus>N:M.fileName entry "
              "(scsi, ide, sata, nvme) names a present .vmdk that is not "
              "a CD-ROM", vm->io->name);
    errno = EINVAL;
    return -1;
  }
  for (i = 0; i < n && r == 0; i++)
    r = vm_add_disk (vm, refs[i].key, refs[i].file, res, opts);
  free (refs);
  return r;
}

static void *
vmx_open (struct xd_io *io, const struct xd_resolver *res,
          const struct xd_open_opts *opts)
{
  struct vm *vm = vm_new (io, "VMware VM");
  struct vmx_config cfg;
  size_t len;
  char *text;
  int r;

  if (vm == NULL)
    return NULL;
  text = vm_read_text (io, VMX_MAX_SIZE, ".vmx file", &len);
  r = text ? vmx_parse (text, len, io->name, &cfg) : -1;
  free (text);
  if (r == 0) {
    r = open_disks (vm, &cfg, res, opts);
    vmx_config_free (&cfg);
  }
  if (r == 0)
    r = vm_select (vm, opts->disk);
  if (r == -1) {
    vm_free (vm);
    return NULL;
  }
  return vm;
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
  VM_FORMAT_FIELDS,
};
