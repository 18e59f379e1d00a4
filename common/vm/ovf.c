/* xdisk: an OVF descriptor with its disks in separate files beside it
 * (an unpacked OVA), served as its disks (vm.h).
 *
 * The descriptor is parsed as the OVA reader parses it (ova.c's
 * xd_ovf_parse); each DiskSection Disk's References File (ovf:href) is
 * opened through the resolver from the .ovf's own name, so it is
 * confined beside the .ovf (remote-sources.md §5.1) and a URL's
 * siblings are fetched as any other.  Each disk is an export named by
 * its href, in DiskSection order; disk= picks the default by href
 * (or by index or diskId, as an OVA's disk= does, where that is the
 * first disk: see check_default).  Chunked and gzip'd files
 * (only ever written into an OVA) are refused.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vm/vm.h"
#include "appliance/ova.h"
#include "core/xd-format.h"
#include "include/xd-report.h"

#define OVF_NAMESPACE "http://schemas.dmtf.org/ovf/envelope/"

/* XML text whose root is an Envelope in the OVF namespace: the
 * namespace URI and an Envelope start tag (prefixed or not) in the
 * head, no NUL.  A .vbox or .vmx has neither.
 */
static bool
ovf_probe (struct xd_io *io XD_UNUSED, const uint8_t *head, size_t len)
{
  return len > 0 && memchr (head, '\0', len) == NULL &&
    memmem (head, len, OVF_NAMESPACE, strlen (OVF_NAMESPACE)) != NULL &&
    (memmem (head, len, "<Envelope", 9) != NULL ||
     memmem (head, len, ":Envelope", 9) != NULL);
}

static int
ovf_config (struct xd_open_opts *opts, const char *key, const char *value)
{
  if (strcmp (key, "disk") != 0)
    return 1;
  if (*value == '\0') {
    xd_error ("disk=: give a disk number, file name (ovf:href) or "
              "ovf:diskId");
    return -1;
  }
  opts->disk = value;
  return 0;
}

/* Refuse what only an OVA holds: the disk's file in chunks or gzip'd. */
static int
check_file (const struct vm *vm, const struct xd_ovf_disk *d)
{
  const char *id = d->disk_id ? d->disk_id : "(no diskId)";

  if (d->file == NULL) {
    xd_error ("%s: disk %s has the fileRef \"%s\", which names no "
              "References/File", vm->io->name, id,
              d->file_ref ? d->file_ref : "");
    errno = EIO;
    return -1;
  }
  if (d->file->chunk_size || d->file->gzip) {
    xd_error ("%s: disk %s: file \"%s\" is %s: not supported beside an "
              ".ovf (pack it into an OVA)", vm->io->name, id,
              d->file->href, d->file->chunk_size ? "split into chunks "
              "(ovf:chunkSize)" : "gzip'd (ovf:compression)");
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
open_disks (struct vm *vm, const struct xd_ovf *ovf,
            const struct xd_resolver *res, const struct xd_open_opts *opts)
{
  size_t i;

  if (ovf->ndisks == 0) {
    xd_error ("%s: the OVF descriptor lists no disk (DiskSection)",
              vm->io->name);
    errno = EINVAL;
    return -1;
  }
  for (i = 0; i < ovf->ndisks; i++) {
    const struct xd_ovf_disk *d = &ovf->disks[i];

    if (check_file (vm, d) == -1 ||
        vm_add_disk (vm, d->file->href, d->file->href, res, opts) == -1)
      return -1;
  }
  return 0;
}

/* The glue serves as its default export the disk whose export name
 * (here the href) disk= names, else the first (common/glue/glue.c,
 * default_disk): a disk= that chose another disk by number or diskId
 * would be served as the first, so it is refused, naming the href to
 * give instead.
 */
static int
check_default (const struct vm *vm, const char *asked, size_t k)
{
  size_t i;

  if (asked == NULL || k == 0)
    return 0;
  for (i = 0; i < vm->nr_disks; i++)
    if (strcasecmp (vm->disks[i].key, asked) == 0)
      return 0;
  xd_error ("%s: disk=%s: name a disk beside an .ovf by its file: "
            "disk=%s", vm->io->name, asked, vm->disks[k].key);
  errno = EINVAL;
  return -1;
}

static void *
ovf_open (struct xd_io *io, const struct xd_resolver *res,
          const struct xd_open_opts *opts)
{
  struct vm *vm = vm_new (io, "OVF");
  struct xd_ovf ovf;
  size_t len, k = 0;
  char *text;
  int r;

  if (vm == NULL)
    return NULL;
  text = vm_read_text (io, (size_t) XD_OVF_MAX_SIZE, "OVF descriptor", &len);
  r = text ? xd_ovf_parse (text, len, io->name, &ovf) : -1;
  free (text);
  if (r == 0) {
    r = xd_ovf_choose_disk (io->name, "OVF", &ovf, opts->disk, &k);
    if (r == 0)
      r = open_disks (vm, &ovf, res, opts);
    xd_ovf_free (&ovf);
  }
  /* vm_select also points each served disk at the VM; the disk is
   * chosen already (an index, href or diskId), so select by number.
   */
  if (r == 0)
    r = check_default (vm, opts->disk, k);
  if (r == 0)
    r = vm_select (vm, NULL);
  if (r == -1) {
    vm_free (vm);
    return NULL;
  }
  vm->selected = k;
  return vm;
}

const struct xd_format xd_format_ovf = {
  .name = "ovf",
  .display = "OVF",
  .plugin = "diskx",
  .probe = ovf_probe,
  .config = ovf_config,
  .config_help = "disk=N|FILE|ID  .ovf: the disk the default export serves "
                 "(default: the first).",
  .open = ovf_open,
  VM_FORMAT_FIELDS,
};
