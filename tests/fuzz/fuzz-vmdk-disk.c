/* xdisk fuzz target: a whole VMDK opened and read by the vmdkx read path
 * (plugins/vmdkx/vmdk-read.c): descriptor, extents, parents, grain
 * table lookups through the table cache, inflating compressed grains,
 * block status.
 *
 * The input is a VMDK file, or a bundle (fuzz.h) of a descriptor and
 * its extents or of a snapshot chain.  The files are written to a
 * private temporary directory, since the read path opens by path.
 */

#include <config.h>

#include <inttypes.h>
#include <stdlib.h>

#include "fuzz.h"
#include "vmdk-read.h"
#include "xd-path.h"

/* Small, so that grain tables and inflated grains are evicted. */
#define CACHE_BYTES (256 * 1024)

static int
disk_read (void *disk, void *buf, uint32_t count, uint64_t offset)
{
  return vmdk_disk_read (disk, buf, count, offset);
}

static int
disk_extents (void *disk, uint32_t count, uint64_t offset, bool req_one,
              xd_extent_fn add, void *opaque)
{
  return vmdk_disk_extents (disk, count, offset, req_one, add, opaque);
}

static const struct fz_disk_ops ops = {
  .read = disk_read,
  .extents = disk_extents,
};

static void
serve (const char *path, const struct xd_path_policy *policy, bool ignore)
{
  struct xd_open_opts opts = { .policy = policy, .cache_bytes = CACHE_BYTES };
  struct vmdk_open_flags flags = { .ignore_parent_mismatch = ignore };
  unsigned long before = fz_errors ();
  struct vmdk_disk *disk;

  disk = vmdk_disk_open (path, &opts, &flags);
  fz_check_failure (disk ? 0 : -1, before, "vmdk_disk_open");
  if (disk == NULL)
    return;
  if (disk->size > INT64_MAX || disk->nr_extents == 0)
    fz_fail ("disk of %" PRIu64 " bytes, %zu extents", disk->size,
             disk->nr_extents);
  free (vmdk_disk_describe (disk));
  fz_exercise_disk (disk, disk->size, &ops);
  vmdk_disk_close (disk);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct xd_path_policy policy;
  struct fz_bundle b;
  const char *path;

  fz_init ();
  fz_bundle_parse (data, size, "disk.vmdk", &b);
  path = fz_write_files (&b);
  if (xd_path_policy_init (&policy, path, NULL) == -1)
    fz_fail ("xd_path_policy_init %s", path);
  /* Odd-sized inputs serve snapshots whatever their parentCID. */
  serve (path, &policy, size & 1);
  xd_path_policy_free (&policy);
  fz_remove_files (&b);
  fz_bundle_free (&b);
  return 0;
}
