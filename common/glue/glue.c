/* xdisk: the nbdkit plugin callbacks every plugin shares, see
 * xd-glue.h.
 *
 * The image is opened (or created) once, in .get_ready (before nbdkit
 * forks, so errors reach the user), into an image that every
 * connection shares.  Because all connections share one image and
 * .flush makes everything durable, multi-conn stays consistent for
 * writes too.
 */

#include <config.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue/xd-glue.h"
#include "glue/xd-glue-create.h"
#include "core/xd-path.h"
#include "include/xd-report.h"

const char *const xd_glue_kind = "plugin";

/* Parameters. */
static char *filename;                  /* real path */
static char *filename_arg;              /* file= as given */
static const char *allow_external;      /* allow-external-files= */

/* Opened in .get_ready. */
static struct xd_path_policy policy;
static struct xd_resolver *resolver;
static struct xd_image *disk;
static bool disk_writable;              /* opened for writing */
static const char *readonly_why;        /* why not, when the format says */

/* Open connections, to finish the image when the last one closes. */
static atomic_uint connections;
static atomic_bool warned_readonly;

void
xd_glue_load (void)
{
  xd_set_reporters (nbdkit_verror, nbdkit_vdebug);
}

void
xd_glue_unload (void)
{
  free (filename);
  free (filename_arg);
  xd_glue_create_free ();
  xd_glue_forget_description ();
}

int
xd_glue_config (const char *key, const char *value)
{
  if (strcmp (key, "file") == 0) {
    free (filename_arg);
    filename_arg = strdup (value);
    if (filename_arg == NULL) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "allow-external-files") == 0) {
    allow_external = value;
    return 0;
  }
  switch (xd_glue_config_create (key, value)) {
  case -1: return -1;
  case 0: return 0;
  }
  switch (xd_glue_config_common (key, value)) {
  case -1: return -1;
  case 0: return 0;
  }
  nbdkit_error ("unknown parameter '%s' (see '%s --help')",
                key, xd_glue_name);
  return -1;
}

int
xd_glue_config_complete (void)
{
  if (filename_arg == NULL) {
    nbdkit_error ("you must supply the file=<FILENAME> parameter");
    return -1;
  }
  if (xd_glue_create_complete () == -1)
    return -1;
  /* A file to create does not exist yet: resolve its directory. */
  free (filename);
  filename = xd_glue_creating () ? xd_glue_create_path (filename_arg)
                                 : nbdkit_realpath (filename_arg);
  return filename ? 0 : -1;
}

/* Open FILENAME for writing, or read-only when it or its file system
 * cannot be written (serving it read-only, as nbdkit's file plugin
 * does).
 */
static struct xd_io *
open_file (void)
{
  struct xd_io *io = xd_io_open_file_rw (filename);

  if (io) {
    disk_writable = true;
    return io;
  }
  if (errno != EACCES && errno != EROFS && errno != EPERM)
    return NULL;
  nbdkit_debug ("%s: cannot be written: serving it read-only", filename);
  return xd_io_open_file (filename);
}

/* Open the image; on failure everything opened is freed by the caller,
 * as nbdkit does not call .cleanup after a failed .get_ready.
 */
static int
open_image (void)
{
  const struct xd_format *format;
  struct xd_io *io;

  if (xd_path_policy_init (&policy, filename, allow_external) == -1)
    return -1;
  resolver = xd_resolver_new_dir (&policy);
  if (resolver == NULL)
    return -1;
  io = open_file ();
  if (io == NULL)
    return -1;
  format = xd_glue_choose_format (io);
  if (format == NULL) {
    xd_io_close (io);
    return -1;
  }
  nbdkit_debug ("%s: opening as %s", filename, format->display);
  xd_glue_opts.served = xd_glue_formats;
  xd_glue_opts.writable = disk_writable;
  disk = xd_image_open (io, resolver, &xd_glue_opts, format);
  return disk ? 0 : -1;
}

static int
create_image (void)
{
  xd_glue_opts.served = xd_glue_formats;
  disk = xd_glue_create_image (filename, allow_external, &policy, &resolver);
  disk_writable = disk != NULL;
  return disk ? 0 : -1;
}

int
xd_glue_get_ready (void)
{
  int r = xd_glue_creating () ? create_image () : open_image ();

  if (r == -1) {
    xd_glue_cleanup ();
    return -1;
  }
  if (disk_writable && !xd_image_can_write (disk, &readonly_why))
    disk_writable = false;
  xd_glue_set_description (xd_image_describe (disk));
  return 0;
}

void
xd_glue_cleanup (void)
{
  if (disk && disk_writable)
    xd_image_flush (disk);
  xd_image_close (disk);
  disk = NULL;
  xd_resolver_free (resolver);
  resolver = NULL;
  xd_path_policy_free (&policy);
}

void
xd_glue_dump_plugin (void)
{
  xd_glue_dump ();
}

void *
xd_glue_open (int readonly)
{
  /* Said once, and only to a client that wanted to write. */
  if (!readonly && !disk_writable && readonly_why &&
      !atomic_exchange (&warned_readonly, true))
    nbdkit_error ("%s: serving read-only: %s", filename, readonly_why);
  connections++;
  /* All state is in the shared image. */
  return NBDKIT_HANDLE_NOT_NEEDED;
}

/* The last client has gone: a format that writes its tables at the end
 * (a streamOptimized VMDK being created) finishes the image now.
 */
void
xd_glue_close (void *handle XD_UNUSED)
{
  if (--connections == 0 && disk_writable &&
      xd_image_finish (disk) == -1)
    nbdkit_error ("%s: the image could not be finished", filename);
}

int64_t
xd_glue_get_size (void *handle XD_UNUSED)
{
  return (int64_t) xd_image_size (disk);
}

int
xd_glue_block_size (void *handle XD_UNUSED, uint32_t *minimum,
                    uint32_t *preferred, uint32_t *maximum)
{
  xd_glue_block_sizes (disk, minimum, preferred, maximum);
  return 0;
}

int
xd_glue_can_multi_conn (void *handle XD_UNUSED)
{
  return 1;
}

int
xd_glue_can_extents (void *handle XD_UNUSED)
{
  return disk->format->extents != NULL;
}

int
xd_glue_can_write (void *handle XD_UNUSED)
{
  return disk_writable;
}

int
xd_glue_can_flush (void *handle XD_UNUSED)
{
  return disk_writable;
}

int
xd_glue_can_fua (void *handle XD_UNUSED)
{
  /* nbdkit calls .flush after a FUA write: flush is what makes writes
   * durable in every format, data and metadata together.
   */
  return disk_writable ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
}

int
xd_glue_can_zero (void *handle XD_UNUSED)
{
  /* Formats without zero states get zeros written by xd_image_zero. */
  return disk_writable;
}

int
xd_glue_can_fast_zero (void *handle XD_UNUSED)
{
  return disk->format->zero != NULL;
}

int
xd_glue_can_trim (void *handle XD_UNUSED)
{
  return disk_writable && disk->format->trim != NULL;
}

int
xd_glue_pread (void *handle XD_UNUSED, void *buf, uint32_t count,
               uint64_t offset, uint32_t flags XD_UNUSED)
{
  return xd_image_read (disk, buf, count, offset);
}

int
xd_glue_pwrite (void *handle XD_UNUSED, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags XD_UNUSED)
{
  return xd_image_write (disk, buf, count, offset);
}

int
xd_glue_zero (void *handle XD_UNUSED, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  return xd_image_zero (disk, count, offset,
                        (flags & NBDKIT_FLAG_MAY_TRIM) != 0,
                        (flags & NBDKIT_FLAG_FAST_ZERO) != 0);
}

int
xd_glue_trim (void *handle XD_UNUSED, uint32_t count, uint64_t offset,
              uint32_t flags XD_UNUSED)
{
  return xd_image_trim (disk, count, offset);
}

int
xd_glue_flush (void *handle XD_UNUSED, uint32_t flags XD_UNUSED)
{
  return xd_image_flush (disk);
}

int
xd_glue_extents (void *handle XD_UNUSED, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents)
{
  return xd_image_extents (disk, count, offset,
                           (flags & NBDKIT_FLAG_REQ_ONE) != 0,
                           xd_glue_add_extent, extents);
}

const char *
xd_glue_export_description (void *handle XD_UNUSED)
{
  return xd_glue_description ();
}
