/* xdisk: what the plugin glue (glue.c) and the filter glue
 * (filter-glue.c) share: the parameters every format takes, choosing
 * the format of a file, the export description and the block sizes.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "glue/xd-glue-common.h"
#include "io/xd-codec.h"
#include "include/xd-math.h"
#include "io/xd-readahead.h"

#define DEFAULT_CACHE_BYTES (UINT64_C (32) << 20)

struct xd_open_opts xd_glue_opts = { .cache_bytes = DEFAULT_CACHE_BYTES };

static const struct xd_format *pinned;  /* format= */
static char *description;               /* malloc'd, clipped */

const struct xd_format *
xd_glue_pinned_format (void)
{
  return pinned;
}

const struct xd_format *
xd_glue_served (const struct xd_format *format)
{
  size_t i;

  for (i = 0; format && xd_glue_formats[i]; i++)
    if (strcmp (xd_glue_formats[i]->name, format->name) == 0)
      return xd_glue_formats[i];
  return NULL;
}

/* format=NAME: one of the formats served. */
static int
config_format (const char *value)
{
  const struct xd_format *format = xd_glue_served (xd_format_by_name (value));

  if (format == NULL) {
    nbdkit_error ("format=%s: %s does not serve that format (see '%s "
                  "--help')", value, xd_glue_name, xd_glue_name);
    return -1;
  }
  pinned = format;
  return 0;
}

/* Offer KEY to each format; several may take the same key
 * (ignore-parent-mismatch), and each then sees it.
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
    r = f->config (&xd_glue_opts, key, value);
    if (r == -1)
      return -1;
    if (r == 0)
      taken = true;
  }
  return taken ? 0 : 1;
}

int
xd_glue_config_common (const char *key, const char *value)
{
  if (strcmp (key, "cache") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1)
      return -1;
    xd_glue_opts.cache_bytes = (uint64_t) r;
    return 0;
  }
  if (strcmp (key, "format") == 0)
    return config_format (value);
  return config_formats (key, value);
}

/* The format to open IO as: format= if given; else the detected one if
 * served; else, for a file with no known signature, the first format
 * served, whose parser then says what is wrong.  A file of another known
 * format is refused with the name of its plugin.
 */
const struct xd_format *
xd_glue_choose_format (struct xd_io *io)
{
  const struct xd_format *found, *served;

  if (pinned)
    return pinned;
  found = xd_detect (io);
  if (found == NULL)
    return NULL;
  served = xd_glue_served (found);
  if (served)
    return served;
  if (found == &xd_format_raw)
    return xd_glue_formats[0];
  nbdkit_error ("%s: this is a %s file, not %s: use the %s %s "
                "(or diskx, which serves every format)", io->name,
                found->display, xd_glue_formats[0]->display, found->plugin,
                xd_glue_kind);
  errno = EINVAL;
  return NULL;
}

/* Clip the description to what NBD allows (4096 bytes) at a UTF-8
 * character boundary.  It lives until xd_glue_forget_description:
 * not interned, because a filter computes it inside one connection and
 * serves it to all.
 */
void
xd_glue_set_description (char *text)
{
  size_t len;

  free (description);
  description = text;
  if (text == NULL)
    return;
  len = strlen (text);
  if (len > 4096) {
    len = 4096;
    while (len > 0 && ((unsigned char) text[len] & 0xC0) == 0x80)
      len--;
    text[len] = '\0';
  }
}

const char *
xd_glue_description (void)
{
  return description;
}

void
xd_glue_forget_description (void)
{
  free (description);
  description = NULL;
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
 * 2M 0.21 s, 8M 0.31 s.  A read-only format gains nothing from whole
 * blocks: a request spanning blocks is still one pread per contiguous
 * run.
 */
#define XD_PREFERRED_MAX (UINT32_C (256) << 10)

void
xd_glue_block_sizes (struct xd_image *img, uint32_t *minimum,
                     uint32_t *preferred, uint32_t *maximum)
{
  uint32_t pref = 0;

  if (img->format->preferred_block)
    pref = img->format->preferred_block (img->h);
  if (pref < 4096 || !xd_is_power_of_2 (pref))
    pref = 4096;
  if (pref > XD_PREFERRED_MAX)
    pref = XD_PREFERRED_MAX;
  *minimum = 1;
  *preferred = pref;
  *maximum = 0xffffffff;
}

void
xd_glue_dump (void)
{
  char prefix[64];
  size_t i;

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

/* For the extents callbacks: one extent to nbdkit. */
int
xd_glue_add_extent (void *opaque, uint64_t offset, uint64_t length,
                    uint32_t type)
{
  return nbdkit_add_extent (opaque, offset, length, type);
}

struct xd_io *
xd_glue_open_readahead (struct xd_image *img, const char *name,
                        size_t chunk_size, size_t threads)
{
  uint64_t chunks = xd_glue_opts.cache_bytes / chunk_size;
  struct xd_io *io = xd_image_as_io (img, name);

  if (io == NULL)
    return NULL;
  chunks = xd_min_u64 (xd_max_u64 (chunks, 2), 64);
  return xd_io_open_readahead (io, chunk_size, (size_t) chunks,
                               (size_t) (chunks * chunk_size), threads);
}
