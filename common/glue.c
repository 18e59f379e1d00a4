/* xdisk: the nbdkit plugin callbacks every plugin shares, see
 * xd-glue.h.
 *
 * The image is opened and parsed once, in .get_ready (before nbdkit
 * forks, so errors reach the user), into an image that every
 * connection shares.  Formats are read-only for now, which makes
 * multi-conn trivially consistent.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd-glue.h"
#include "xd-path.h"
#include "xd-report.h"

const char *const xd_glue_kind = "plugin";

/* Parameters. */
static char *filename;                  /* real path */
static const char *allow_external;      /* allow-external-files= */

/* Opened in .get_ready. */
static struct xd_path_policy policy;
static struct xd_resolver *resolver;
static struct xd_image *disk;

void
xd_glue_load (void)
{
  xd_set_reporters (nbdkit_verror, nbdkit_vdebug);
}

void
xd_glue_unload (void)
{
  free (filename);
  xd_glue_forget_description ();
}

int
xd_glue_config (const char *key, const char *value)
{
  if (strcmp (key, "file") == 0) {
    free (filename);
    filename = nbdkit_realpath (value);
    return filename ? 0 : -1;
  }
  if (strcmp (key, "allow-external-files") == 0) {
    allow_external = value;
    return 0;
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
  if (filename == NULL) {
    nbdkit_error ("you must supply the file=<FILENAME> parameter");
    return -1;
  }
  return 0;
}

/* Open the image; on failure everything opened is freed here, as nbdkit
 * does not call .cleanup after a failed .get_ready.
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
  io = xd_io_open_file (filename);
  if (io == NULL)
    return -1;
  format = xd_glue_choose_format (io);
  if (format == NULL) {
    xd_io_close (io);
    return -1;
  }
  nbdkit_debug ("%s: opening as %s", filename, format->display);
  xd_glue_opts.served = xd_glue_formats;
  disk = xd_image_open (io, resolver, &xd_glue_opts, format);
  if (disk == NULL)
    return -1;
  xd_glue_set_description (xd_image_describe (disk));
  return 0;
}

int
xd_glue_get_ready (void)
{
  if (open_image () == -1) {
    xd_glue_cleanup ();
    return -1;
  }
  return 0;
}

void
xd_glue_cleanup (void)
{
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
xd_glue_open (int readonly XD_UNUSED)
{
  /* All state is in the shared image. */
  return NBDKIT_HANDLE_NOT_NEEDED;
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
xd_glue_pread (void *handle XD_UNUSED, void *buf, uint32_t count,
               uint64_t offset, uint32_t flags XD_UNUSED)
{
  return xd_image_read (disk, buf, count, offset);
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
