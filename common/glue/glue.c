/* xdisk: the nbdkit plugin callbacks every plugin shares, see
 * xd-glue.h.
 *
 * The image is opened (or created) once, in .get_ready (before nbdkit
 * forks, so errors reach the user), into an image that every
 * connection shares.  Because all connections share one image and
 * .flush makes everything durable, multi-conn stays consistent for
 * writes too.
 *
 * An appliance being created holds several disks (xd_format.disks):
 * each is its own NBD export, named by its member name, the first the
 * default; a connection's handle says which disk it serves.
 *
 * An image given by url= is read through a site (xd-glue-remote.h),
 * read-only, and each disk served is read ahead (xd-readahead.h): over
 * a network every read is a round trip, and a copying client waits
 * for each of its requests.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "glue/xd-glue.h"
#include "glue/xd-glue-create.h"
#include "core/xd-path.h"
#include "io/xd-readahead.h"
#include "include/xd-math.h"
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
/* url=: each disk (the image, or each disk of a VM) as an io behind
 * read-ahead, indexed like the disks; NULL for local files.
 */
static struct xd_io **served;
static size_t nr_served;

/* Read-ahead of a remote image's decoded disk: pieces of this size (as
 * the filters use, see filter-glue.c), cache= bytes of them (2 to 64).
 */
#define READ_AHEAD_CHUNK (UINT32_C (4) << 20)
/* Read ahead where an extents reply says the data starts. */
#define EXTENTS_HINT (2 * READ_AHEAD_CHUNK)

/* Open connections, to finish the image when the last one closes;
 * for an appliance, the connections of each disk.
 */
static atomic_uint connections;
static atomic_uint *disk_connections;
static atomic_bool warned_readonly;

/* A connection: the image it serves (the disk, or one disk of an
 * appliance) and that disk's index.
 */
struct conn {
  struct xd_image *img;
  size_t index;
};

/* The number of disks DISK serves as exports, 0 if it is not an
 * appliance.
 */
static size_t
nr_disks (void)
{
  return disk && disk->format->disks ? disk->format->disks (disk->h) : 0;
}

static const char *
disk_name (size_t i)
{
  return disk->format->disk_name (disk->h, i);
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
  free (filename_arg);
  xd_glue_create_free ();
  xd_glue_remote_free ();
  xd_glue_forget_description ();
}

int
xd_glue_config (const char *key, const char *value)
{
  /* nbdkit vmdkx https://host/disk.vmdk: the bare argument is file=. */
  if (strcmp (key, "file") == 0 && xd_glue_looks_like_url (value))
    key = "url";
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
  switch (xd_glue_config_remote (key, value)) {
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

/* url= instead of file=: read-only, never created. */
static int
remote_complete (void)
{
  if (filename_arg) {
    nbdkit_error ("give file= or url=, not both");
    return -1;
  }
  if (xd_glue_creating ()) {
    nbdkit_error ("%s: create=true: xdisk creates local files only",
                  xd_glue_remote_display ());
    return -1;
  }
  free (filename);
  filename = strdup (xd_glue_remote_display ());
  if (filename == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  return 0;
}

int
xd_glue_config_complete (void)
{
  if (xd_glue_create_complete () == -1 || xd_glue_remote_complete () == -1)
    return -1;
  if (xd_glue_remote ())
    return remote_complete ();
  if (filename_arg == NULL) {
    nbdkit_error ("you must supply the file=<FILENAME> or url=<URL> "
                  "parameter");
    return -1;
  }
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

  if (xd_glue_remote ()) {
    io = xd_glue_remote_open (allow_external, &resolver);
    readonly_why = "the image is on a server (url=): xdisk writes local "
      "files only";
  }
  else {
    if (xd_path_policy_init (&policy, filename, allow_external) == -1)
      return -1;
    resolver = xd_resolver_new_dir (&policy);
    io = resolver ? open_file () : NULL;
  }
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

/* IMG behind read-ahead, on as many threads as the site has
 * connections: with two fewer (as the filters do), a sparse VMDK chain
 * on bench/remote-chain took 1.5 s instead of 1.25.
 */
static struct xd_io *
open_served (struct xd_image *img)
{
  size_t threads = xd_max_u64 (xd_glue_remote_connections (), 2);

  return xd_glue_open_readahead (img, filename, READ_AHEAD_CHUNK, threads);
}

/* Threads must not start before nbdkit forks (in .get_ready): the
 * served disks are opened by the first connection, under this lock.
 */
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;

static int
open_all_served (void)
{
  size_t n = nr_disks () > 0 ? nr_disks () : 1, i;

  served = calloc (n, sizeof *served);
  if (served == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  nr_served = n;
  for (i = 0; i < n; i++) {
    served[i] = open_served (nr_disks () > 0
                             ? disk->format->disk (disk->h, i) : disk);
    if (served[i] == NULL)
      return -1;
  }
  return 0;
}

static void
close_all_served (void)
{
  size_t i;

  for (i = 0; i < nr_served; i++)
    if (served[i])
      xd_io_close (served[i]);  /* stops the read-ahead threads */
  free (served);
  served = NULL;
  nr_served = 0;
}

static int
ensure_served (void)
{
  int r = 0;

  pthread_mutex_lock (&served_lock);
  if (served == NULL && open_all_served () == -1) {
    close_all_served ();
    r = -1;
  }
  pthread_mutex_unlock (&served_lock);
  return r;
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
  if (nr_disks () > 0) {
    disk_connections = calloc (nr_disks (), sizeof *disk_connections);
    if (disk_connections == NULL) {
      nbdkit_error ("calloc: %m");
      xd_glue_cleanup ();
      return -1;
    }
  }
  xd_glue_set_description (xd_image_describe (disk));
  return 0;
}

void
xd_glue_cleanup (void)
{
  close_all_served ();
  if (disk && disk_writable)
    xd_image_flush (disk);
  xd_image_close (disk);
  disk = NULL;
  free (disk_connections);
  disk_connections = NULL;
  xd_resolver_free (resolver);
  resolver = NULL;
  xd_path_policy_free (&policy);
  xd_glue_remote_close ();
}

void
xd_glue_dump_plugin (void)
{
  xd_glue_dump ();
  xd_glue_remote_dump ();
}

/* The disk the default export serves: the one disk= names when it
 * names one of the disks (a .vmx's device key), else the first.
 */
static size_t
default_disk (void)
{
  size_t i, n = nr_disks ();

  for (i = 0; xd_glue_opts.disk && i < n; i++)
    if (strcasecmp (xd_glue_opts.disk, disk_name (i)) == 0)
      return i;
  return 0;
}

/* The disk of the appliance the client asked for by export name: the
 * default_disk for the default export ("").  SIZE_MAX after reporting.
 */
static size_t
find_disk (const char *name)
{
  size_t i, n = nr_disks ();

  if (name == NULL || *name == '\0')
    return default_disk ();
  for (i = 0; i < n; i++)
    if (strcmp (name, disk_name (i)) == 0)
      return i;
  nbdkit_error ("%s: no disk is called '%s' (nbdinfo --list shows the %zu "
                "disk exports)", filename, name, n);
  return SIZE_MAX;
}

void *
xd_glue_open (int readonly)
{
  struct conn *c = calloc (1, sizeof *c);

  if (c == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  if (xd_glue_remote () && ensure_served () == -1) {
    free (c);
    return NULL;
  }
  c->img = disk;
  if (nr_disks () > 0) {
    c->index = find_disk (nbdkit_export_name ());
    if (c->index == SIZE_MAX) {
      free (c);
      return NULL;
    }
    c->img = disk->format->disk (disk->h, c->index);
    disk_connections[c->index]++;
  }
  /* Said once, and only to a client that wanted to write. */
  if (!readonly && !disk_writable && readonly_why &&
      !atomic_exchange (&warned_readonly, true))
    nbdkit_error ("%s: serving read-only: %s", filename, readonly_why);
  connections++;
  return c;
}

/* The last client has gone: a format that writes its tables at the end
 * (a streamOptimized VMDK being created) finishes the image now; for an
 * appliance, the last client of one of its disks finishes that disk.
 */
void
xd_glue_close (void *handle)
{
  struct conn *c = handle;
  bool appliance = nr_disks () > 0;

  if (disk == NULL) {           /* nbdkit cleaned up first */
    free (c);
    return;
  }
  if (appliance && --disk_connections[c->index] == 0 && disk_writable &&
      xd_image_finish (c->img) == -1)
    nbdkit_error ("%s: disk %s could not be finished", filename,
                  disk_name (c->index));
  if (--connections == 0 && !appliance && disk_writable &&
      xd_image_finish (disk) == -1)
    nbdkit_error ("%s: the image could not be finished", filename);
  free (c);
}

int
xd_glue_list_exports (int readonly XD_UNUSED, int is_tls XD_UNUSED,
                      struct nbdkit_exports *exports)
{
  size_t i, n = nr_disks ();

  if (n == 0)
    return nbdkit_use_default_export (exports);
  for (i = 0; i < n; i++)
    if (nbdkit_add_export (exports, disk_name (i), NULL) == -1)
      return -1;
  return 0;
}

const char *
xd_glue_default_export (int readonly XD_UNUSED, int is_tls XD_UNUSED)
{
  return nr_disks () > 0 ? disk_name (default_disk ()) : "";
}

/* The image a connection serves. */
static struct xd_image *
img_of (void *handle)
{
  return ((struct conn *) handle)->img;
}

int64_t
xd_glue_get_size (void *handle)
{
  return (int64_t) xd_image_size (img_of (handle));
}

int
xd_glue_block_size (void *handle, uint32_t *minimum,
                    uint32_t *preferred, uint32_t *maximum)
{
  xd_glue_block_sizes (img_of (handle), minimum, preferred, maximum);
  return 0;
}

int
xd_glue_can_multi_conn (void *handle XD_UNUSED)
{
  return 1;
}

int
xd_glue_can_extents (void *handle)
{
  return img_of (handle)->format->extents != NULL;
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
xd_glue_can_fast_zero (void *handle)
{
  return img_of (handle)->format->zero != NULL;
}

int
xd_glue_can_trim (void *handle)
{
  return disk_writable && img_of (handle)->format->trim != NULL;
}

/* The read-ahead io of a connection's disk, or NULL (a local file). */
static struct xd_io *
served_of (void *handle)
{
  size_t i = ((struct conn *) handle)->index;

  return i < nr_served ? served[i] : NULL;
}

int
xd_glue_pread (void *handle, void *buf, uint32_t count,
               uint64_t offset, uint32_t flags XD_UNUSED)
{
  struct xd_io *io = served_of (handle);

  if (io)
    return io->ops->pread (io, buf, count, offset);
  return xd_image_read (img_of (handle), buf, count, offset);
}

int
xd_glue_pwrite (void *handle, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags XD_UNUSED)
{
  return xd_image_write (img_of (handle), buf, count, offset);
}

int
xd_glue_zero (void *handle, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  return xd_image_zero (img_of (handle), count, offset,
                        (flags & NBDKIT_FLAG_MAY_TRIM) != 0,
                        (flags & NBDKIT_FLAG_FAST_ZERO) != 0);
}

int
xd_glue_trim (void *handle, uint32_t count, uint64_t offset,
              uint32_t flags XD_UNUSED)
{
  return xd_image_trim (img_of (handle), count, offset);
}

int
xd_glue_flush (void *handle, uint32_t flags XD_UNUSED)
{
  return xd_image_flush (img_of (handle));
}

/* Extents passed on to nbdkit, noting where the first data starts. */
struct extents_seen {
  struct nbdkit_extents *extents;
  uint64_t first_data;
  bool data_seen;
};

static int
add_extent_seen (void *opaque, uint64_t offset, uint64_t length,
                 uint32_t type)
{
  struct extents_seen *seen = opaque;

  if ((type & XD_EXTENT_ZERO) == 0 && !seen->data_seen) {
    seen->first_data = offset;
    seen->data_seen = true;
  }
  return xd_glue_add_extent (seen->extents, offset, length, type);
}

/* A client that asks where the data is (nbdcopy, qemu-img) is about to
 * read it: over url= the first data of the reply is read ahead a
 * little, while the client gets ready.
 */
int
xd_glue_extents (void *handle, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents)
{
  struct extents_seen seen = { .extents = extents };
  struct xd_io *io = served_of (handle);

  if (xd_image_extents (img_of (handle), count, offset,
                        (flags & NBDKIT_FLAG_REQ_ONE) != 0,
                        add_extent_seen, &seen) == -1)
    return -1;
  if (io && seen.data_seen)
    xd_readahead_hint (io, seen.first_data, EXTENTS_HINT);
  return 0;
}

const char *
xd_glue_export_description (void *handle)
{
  char *text;
  const char *interned;

  if (nr_disks () == 0)
    return xd_glue_description ();
  /* An appliance's disk describes itself. */
  text = xd_image_describe (img_of (handle));
  interned = text ? nbdkit_strdup_intern (text) : NULL;
  free (text);
  return interned;
}
