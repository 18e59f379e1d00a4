/* xdisk fuzz target: a whole VHD or VHDX opened and read by the vhdx
 * read path (plugins/vhdx/vhd-read.c): footer and dynamic header or
 * VHDX headers, log replay and metadata, parent locators and chains, BAT
 * lookups through the table cache, sector bitmaps, block status.
 *
 * The input is a VHD file, or a bundle (fuzz.h) of a VHDX or of a
 * differencing chain.  The files are written to a private temporary
 * directory (sparse), since the read path opens by path.
 */

#include <config.h>

#include <stdlib.h>

#include "fuzz.h"
#include "vhd-read.h"
#include "xd-path.h"

/* Small, so that BAT pages are evicted. */
#define CACHE_BYTES (64 * 1024)

static int
disk_read (void *disk, void *buf, uint32_t count, uint64_t offset)
{
  return vd_disk_read (disk, buf, count, offset);
}

static int
disk_extents (void *disk, uint32_t count, uint64_t offset, bool req_one,
              xd_extent_fn add, void *opaque)
{
  return vd_disk_extents (disk, count, offset, req_one, add, opaque);
}

static const struct fz_disk_ops ops = {
  .read = disk_read,
  .extents = disk_extents,
};

static void
serve (const char *path, const struct xd_path_policy *policy,
       const struct vd_options *vopts)
{
  struct xd_open_opts opts = { .policy = policy, .cache_bytes = CACHE_BYTES };
  unsigned long before = fz_errors ();
  struct vd_disk *disk;

  disk = vd_disk_open (path, &opts, vopts);
  fz_check_failure (disk ? 0 : -1, before, "vd_disk_open");
  if (disk == NULL)
    return;
  free (vd_disk_describe (disk));
  fz_exercise_disk (disk, disk->top->size, &ops);
  vd_disk_close (disk);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct xd_path_policy policy;
  struct vd_options vopts;
  struct fz_bundle b;
  const char *path;

  fz_init ();
  fz_bundle_parse (data, size, "disk.vhd", &b);
  if (fz_want_fixed_checksums (size))
    fz_fix_checksums (&b);
  path = fz_write_files (&b);
  if (xd_path_policy_init (&policy, path, NULL) == -1)
    fz_fail ("xd_path_policy_init %s", path);
  /* The input's size picks the options, so that all are covered. */
  vopts.size_mode = (enum vhd_size_mode) (size % 3);
  vopts.ignore_parent_mismatch = (size / 3) & 1;
  serve (path, &policy, &vopts);
  xd_path_policy_free (&policy);
  fz_remove_files (&b);
  fz_bundle_free (&b);
  return 0;
}
