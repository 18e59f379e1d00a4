/* vhdx-tool: test helper for the VHDX writer.
 *
 *   vhdx-tool crash FILE OFFSET LENGTH BYTE
 *       open FILE for writing, write LENGTH bytes of BYTE at OFFSET,
 *       flush, and then put back in the header the LogGuid of the log
 *       entry the flush committed: the file as a crash between that
 *       entry and the header emptying the log leaves it, the log in use
 *       for the next open to replay.
 *   vhdx-tool info FILE
 *       print "FIELD VALUE" lines from the VHDX structures: header
 *       sequence and log GUID, region offsets, sector sizes, block size,
 *       flags, then one "bat INDEX STATE OFFSET" line per entry that is
 *       not zero.
 */

#include <config.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhd/vhd-read.h"
#include "vhd/vhdx-write.h"
#include "core/xd-format.h"
#include "core/xd-guid.h"
#include "core/xd-path.h"
#include "include/xd-report.h"

static void
print_error (const char *fmt, va_list ap)
{
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
}

static void
quiet (const char *fmt, va_list ap)
{
  (void) fmt;
  (void) ap;
}

static struct xd_image *
open_image (const char *path, bool writable, struct xd_path_policy *policy,
            struct xd_resolver **res)
{
  struct xd_open_opts opts = { .cache_bytes = 1 << 20,
                               .writable = writable };
  struct xd_io *io;

  if (xd_path_policy_init (policy, path, NULL) == -1 ||
      (*res = xd_resolver_new_dir (policy)) == NULL)
    return NULL;
  io = writable ? xd_io_open_file_rw (path) : xd_io_open_file (path);
  if (io == NULL)
    return NULL;
  /* The detector hands out the reader; writing needs the composed table. */
  return xd_image_open (io, *res, &opts, xd_format_writable (xd_detect (io)));
}

static int
info (struct xd_image *img)
{
  struct vd_layer *l = ((struct vd_disk *) img->h)->top;
  char g[37];
  uint64_t i, e;

  if (strcmp (img->format->name, "vhdx") != 0) {
    fprintf (stderr, "not a VHDX\n");
    return 1;
  }
  xd_guid_format (l->x.header.log_guid, g);
  printf ("header %d\nsequence %" PRIu64 "\nlog_guid %s\n",
          l->x.current_header, l->x.header.sequence, g);
  xd_guid_format (l->x.header.data_write_guid, g);
  printf ("data_write_guid %s\n", g);
  xd_guid_format (l->x.header.file_write_guid, g);
  printf ("file_write_guid %s\n", g);
  printf ("log %" PRIu64 " %" PRIu32 "\n", l->x.header.log_offset,
          l->x.header.log_length);
  printf ("bat %" PRIu64 " %" PRIu32 "\n", l->x.bat_offset,
          l->x.bat_length);
  printf ("metadata %" PRIu64 " %" PRIu32 "\n", l->x.metadata_offset,
          l->x.metadata_length);
  printf ("block_size %" PRIu32 "\nlogical_sector_size %" PRIu32
          "\nphysical_sector_size %" PRIu32 "\n", l->x.block_size,
          l->x.logical_sector_size, l->x.physical_sector_size);
  printf ("leave_blocks_allocated %d\nhas_parent %d\nsize %" PRIu64
          "\nbat_entries %" PRIu64 "\nchunk_ratio %" PRIu64
          "\nlog_entries %u\n", l->x.leave_blocks_allocated,
          l->x.has_parent, l->x.disk_size, l->x.bat_entries,
          l->x.chunk_ratio, l->log_entries);
  if (l->x.parent_linkage)
    printf ("parent_linkage %s\n", l->x.parent_linkage);
  if (l->x.relative_path)
    printf ("relative_path %s\n", l->x.relative_path);
  if (l->x.absolute_win32_path)
    printf ("absolute_win32_path %s\n", l->x.absolute_win32_path);
  for (i = 0; i < l->x.bat_entries; i++) {
    if (vd_layer_bat_entry (l, i, &e) == -1)
      return 1;
    if (e)
      printf ("bat %" PRIu64 " %u %" PRIu64 "\n", i, VHDX_BAT_STATE (e),
              VHDX_BAT_OFFSET (e));
  }
  return 0;
}

/* See "crash" above. */
static int
crash (struct xd_image *img, char **argv)
{
  struct vd_layer *l = ((struct vd_disk *) img->h)->top;
  size_t len = strtoull (argv[4], NULL, 0);
  uint8_t entry[64], hbuf[VHDX_HEADER_SIZE];
  struct vhdx_header h;
  char *buf = malloc (len);
  int slot;

  if (buf == NULL)
    return 1;
  memset (buf, (int) strtol (argv[5], NULL, 0), len);
  if (xd_image_write (img, buf, len, strtoull (argv[3], NULL, 0)) == -1 ||
      xd_image_flush (img) == -1)
    return 1;
  free (buf);
  /* The writer's header and the first entry of its last log. */
  if (vhdx_read_headers (l->io, &l->x) == -1 ||
      xd_io_read (l->io, entry, sizeof entry, l->x.header.log_offset,
                  "log entry") == -1 ||
      memcmp (entry, "loge", 4) != 0) {
    fprintf (stderr, "vhdx-tool: no log entry\n");
    return 1;
  }
  h = l->x.header;
  h.sequence++;
  memcpy (h.log_guid, entry + 32, 16);
  slot = l->x.current_header == 1 ? 2 : 1;
  vhdx_build_header (hbuf, &h);
  return xd_io_write (l->io, hbuf, sizeof hbuf,
                      slot == 1 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET,
                      "header") == 0 && xd_io_flush (l->io) == 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
  struct xd_path_policy policy = { NULL };
  struct xd_resolver *res = NULL;
  struct xd_image *img;
  int r = 1;

  xd_set_reporters (print_error, quiet);
  if (argc < 3) {
    fprintf (stderr, "usage: vhdx-tool info|crash FILE ...\n");
    return 2;
  }
  img = open_image (argv[2], strcmp (argv[1], "crash") == 0, &policy, &res);
  if (img == NULL)
    return 1;
  if (strcmp (argv[1], "info") == 0)
    r = info (img);
  else if (strcmp (argv[1], "crash") == 0 && argc == 6)
    r = crash (img, argv);
  else {
    fprintf (stderr, "vhdx-tool: unknown command %s\n", argv[1]);
    r = 2;
  }
  xd_image_close (img);
  xd_resolver_free (res);
  xd_path_policy_free (&policy);
  return r;
}
