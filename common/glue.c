/* xdisk: nbdkit callbacks shared by every plugin, see xd-glue.h.
 *
 * The image is opened and parsed once, in .get_ready (before nbdkit
 * forks, so errors reach the user), into an image that every
 * connection shares.  Formats are read-only for now, which makes
 * multi-conn trivially consistent.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "xd-glue.h"
#include "xd-inflate.h"
#include "xd-math.h"
#include "xd-path.h"
#include "xd-report.h"

#define DEFAULT_CACHE_BYTES (UINT64_C (32) << 20)

/* Parameters. */
static char *filename;                  /* real path */
static const char *allow_external;      /* allow-external-files= */
static const struct xd_format *pinned;  /* format= */
struct xd_open_opts xd_glue_opts = { .cache_bytes = DEFAULT_CACHE_BYTES };
#define opts xd_glue_opts

/* Opened in .get_ready. */
static struct xd_path_policy policy;
static struct xd_resolver *resolver;
static struct xd_image *disk;
static const char *description;         /* interned */

static bool
serves (const struct xd_format *format)
{
  size_t i;

  for (i = 0; xd_glue_formats[i]; i++)
    if (xd_glue_formats[i] == format)
      return true;
  return false;
}

/* format=NAME: one of the plugin's formats. */
static int
config_format (const char *value)
{
  const struct xd_format *format = xd_format_by_name (value);

  if (format == NULL || !serves (format)) {
    nbdkit_error ("format=%s: %s does not serve that format (see '%s "
                  "--help')", value, xd_glue_name, xd_glue_name);
    return -1;
  }
  pinned = format;
  return 0;
}

/* Offer KEY to each format of the plugin; several may take the same
 * key (ignore-parent-mismatch), and each then sees it.
 */
static int
config_formats (const char *key, const char *value)
{
  bool taken = false;
  size_t i;

  for (i = 0; xd_glue_formats[i]; i++) {
    const struct xd_format *f = xd_glue_formats[i];
    int r;
    if (f->config == NULL)
      continue;
    r = f->config (&opts, key, value);
    if (r == -1)
      return -1;
    if (r == 0)
      taken = true;
  }
  return taken ? 0 : 1;
}

void
xd_glue_load (void)
{
  xd_set_reporters (nbdkit_verror, nbdkit_vdebug);
}

void
xd_glue_unload (void)
{
  free (filename);
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
  if (strcmp (key, "cache") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1)
      return -1;
    opts.cache_bytes = (uint64_t) r;
    return 0;
  }
  if (strcmp (key, "format") == 0)
    return config_format (value);
  switch (config_formats (key, value)) {
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

/* Clip the description to what NBD allows (4096 bytes) at a UTF-8
 * character boundary, and intern it so it lives as long as nbdkit.
 */
static void
set_description (char *text)
{
  size_t len;

  if (text == NULL)
    return;
  len = strlen (text);
  if (len > 4096) {
    len = 4096;
    while (len > 0 && ((unsigned char) text[len] & 0xC0) == 0x80)
      len--;
    text[len] = '\0';
  }
  description = nbdkit_strdup_intern (text);
  free (text);
}

/* The format to open IO as: format= if given; else the detected one if
 * this plugin serves it; else, for a file with no known signature, the
 * plugin's first format, whose parser then says what is wrong.  A file
 * of another known format is refused with the name of its plugin.
 */
static const struct xd_format *
choose_format (struct xd_io *io)
{
  const struct xd_format *found;

  if (pinned)
    return pinned;
  found = xd_detect (io);
  if (found == NULL)
    return NULL;
  if (serves (found))
    return found;
  if (found == &xd_format_raw)
    return xd_glue_formats[0];
  nbdkit_error ("%s: this is a %s file, not %s: use the %s plugin "
                "(or diskx, which serves every format)", io->name,
                found->display, xd_glue_formats[0]->display, found->plugin);
  errno = EINVAL;
  return NULL;
}

int
xd_glue_get_ready (void)
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
  format = choose_format (io);
  if (format == NULL) {
    xd_io_close (io);
    return -1;
  }
  nbdkit_debug ("%s: opening as %s", filename, format->display);
  opts.served = xd_glue_formats;
  disk = xd_image_open (io, resolver, &opts, format);
  if (disk == NULL)
    return -1;
  set_description (xd_image_describe (disk));
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
  size_t i;
  char prefix[64];

  printf ("%s_version=%s\n", xd_glue_name, PACKAGE_VERSION);
  printf ("%s_format=", xd_glue_name);
  for (i = 0; xd_glue_formats[i]; i++)
    printf ("%s%s", i ? "/" : "", xd_glue_formats[i]->display);
  printf ("\n");
  printf ("%s_zlib=%s\n", xd_glue_name, zlibVersion ());
  printf ("%s_inflate=%s\n", xd_glue_name, xd_inflate_library ());
#ifdef __VERSION__
  printf ("%s_compiler=%s\n", xd_glue_name, __VERSION__);
#endif
  printf ("%s_nbdkit_headers=%s\n", xd_glue_name, NBDKIT_VERSION_STRING);
  snprintf (prefix, sizeof prefix, "%s_", xd_glue_name);
  for (i = 0; xd_glue_formats[i]; i++)
    if (xd_glue_formats[i]->dump)
      xd_glue_formats[i]->dump (prefix);
}

void *
xd_glue_open (int readonly XD_UNUSED)
{
  /* All state is in the shared disk handle. */
  return NBDKIT_HANDLE_NOT_NEEDED;
}

int64_t
xd_glue_get_size (void *handle XD_UNUSED)
{
  return (int64_t) xd_image_size (disk);
}

/* Advertise the grain or block size as the preferred request size, so
 * that clients such as nbdcopy read whole grains.  NBD requires a power
 * of two between 512 and 32M.
 *
 * But no more than XD_PREFERRED_MAX: nbdcopy makes every request at
 * least the preferred size, and nbdkit allocates a fresh buffer for
 * each; buffers of several MiB (VHD 2M, VHDX 8M-32M blocks) come from
 * mmap or trimmed heaps, so every request page-faults its whole buffer
 * in.  Measured with nbdcopy on a 512M disk: 256K requests took 0.14 s,
 * 2M 0.21 s, 8M 0.31 s.  A read-only plugin gains nothing from whole
 * blocks: a request spanning blocks is still one pread per contiguous
 * run.
 */
#define XD_PREFERRED_MAX (UINT32_C (256) << 10)

int
xd_glue_block_size (void *handle XD_UNUSED, uint32_t *minimum, uint32_t *preferred,
                    uint32_t *maximum)
{
  uint32_t pref = 0;

  if (disk->format->preferred_block)
    pref = disk->format->preferred_block (disk->h);
  if (pref < 4096 || !xd_is_power_of_2 (pref))
    pref = 4096;
  if (pref > XD_PREFERRED_MAX)
    pref = XD_PREFERRED_MAX;
  *minimum = 1;
  *preferred = pref;
  *maximum = 0xffffffff;
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
xd_glue_pread (void *handle XD_UNUSED, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags XD_UNUSED)
{
  return xd_image_read (disk, buf, count, offset);
}

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  return nbdkit_add_extent (opaque, offset, length, type);
}

int
xd_glue_extents (void *handle XD_UNUSED, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents)
{
  return xd_image_extents (disk, count, offset,
                           (flags & NBDKIT_FLAG_REQ_ONE) != 0,
                           add_extent, extents);
}

const char *
xd_glue_export_description (void *handle XD_UNUSED)
{
  return description;
}
