/* xdisk: creating OVA appliances, see ova-write.h.
 *
 * The archive, in the order every importer wants it
 * (../shared/docs/appliance-targets.md §1.2, checklist §7):
 *
 *   header  NAME.ovf        room reserved at creation, rendered last
 *   header  NAME.mf         its length is known at creation
 *   header  NAME-disk1.vmdk a streamOptimized VMDK, appended as written
 *   header  NAME-disk2.vmdk ...
 *   two zero blocks
 *
 * A disk's member size is known only once its stream is finished, and
 * the descriptor and the manifest hold the sizes and digests of every
 * disk: so the disks are written one after another (each member is
 * appended where the previous one ended), and the descriptor, the
 * manifest and every header are written when the last disk is
 * finished.  Until then block 0 holds xd_tar_make_unfinished: a file
 * whose creation stopped at any point (SIGKILL, a full disk) is refused
 * by every tar reader and importer.  The first header is written last,
 * after everything else is durable, so no crash can leave a valid
 * looking archive that lacks data.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliance/ova.h"
#include "appliance/ova-write.h"
#include "appliance/xd-ovf-write.h"
#include "appliance/xd-vmdesc.h"
#include "archive/xd-tar-write.h"
#include "core/xd-digest.h"
#include "core/xd-text.h"
#include "include/xd-clock.h"
#include "include/xd-math.h"
#include "include/xd-report.h"
#include "vmdk/vmdk-read.h"
#include "vmdk/vmdk-stream.h"

enum disk_state {
  DISK_WAITING,                 /* nothing written yet */
  DISK_WRITING,                 /* its stream is being appended */
  DISK_FINISHED,                /* its member is complete */
};

struct ova_writer;

/* One disk of the appliance, served as an NBD export by disk_format. */
struct ova_disk {
  struct ova_writer *ova;
  size_t index;
  char *name;                   /* the member's name, the export's */
  uint64_t size;                /* virtual size */
  struct xd_image img;          /* { &disk_format, this } */
  enum disk_state state;
  struct vmdk_stream_writer *stream;    /* WRITING, FINISHED */
  struct xd_io *member;         /* the member's bytes (a reference) */
  uint64_t header_offset;       /* its tar header; data follows */
  uint64_t member_size;         /* FINISHED: bytes of the member */
  uint64_t populated;           /* FINISHED: bytes of stored grains */
  struct xd_image *reader;      /* FINISHED: opened on the first read */
};

struct ova_writer {
  struct xd_io *io;             /* the .ova file */
  struct xd_vmdesc desc;
  struct xd_ovf_template *template;     /* create-ovf=, or NULL */
  struct xd_open_opts read_opts;        /* reading finished disks back */
  struct xd_resolver *no_names;         /* a member names no file */
  uint64_t mtime;
  char *ovf_name, *mf_name;
  size_t ovf_room;              /* bytes reserved for the descriptor */
  size_t mf_len;                /* bytes of the manifest (0: none) */
  uint64_t next_offset;         /* where the next disk's header goes */
  pthread_mutex_t lock;         /* disk states, next_offset, below */
  pthread_cond_t finished;      /* a disk was finished */
  struct ova_disk *disks;
  size_t nr_disks;
  bool complete;
  bool failed;                  /* completing failed: nothing more */
};

extern const struct xd_format xd_reader_vmdk;
static const struct xd_format disk_format;

/* ---- names and room ---- */

/* The members' base name: the machine's name in the characters every
 * importer takes in a member name ([A-Za-z0-9._-], not starting with a
 * dot, which XO skips: §1.1), short enough for "-diskNNN.vmdk".
 */
static char *
member_base (const char *name)
{
  size_t len = xd_min_u64 (strlen (name), 80), i;
  char *base = malloc (len + 2);

  if (base == NULL)
    return NULL;
  for (i = 0; i < len; i++) {
    char c = name[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              (c == '.' && i > 0);
    base[i] = ok ? c : '_';
  }
  if (len == 0)
    strcpy (base, "vm");
  else
    base[len] = '\0';
  return base;
}

static int
make_names (struct ova_writer *o)
{
  char *base = member_base (o->desc.name);
  size_t i;

  if (base == NULL ||
      asprintf (&o->ovf_name, "%s.ovf", base) == -1 ||
      asprintf (&o->mf_name, "%s.mf", base) == -1)
    goto oom;
  for (i = 0; i < o->nr_disks; i++)
    if (asprintf (&o->disks[i].name, "%s-disk%zu.vmdk", base, i + 1) == -1)
      goto oom;
  free (base);
  return 0;
 oom:
  free (base);
  xd_error ("%s: out of memory", o->io->name);
  return -1;
}

/* Render the descriptor with the disks' sizes (FINAL) or with every
 * size at its largest (to reserve its room).
 */
static int
render_ovf (struct ova_writer *o, bool final, char **text, size_t *len)
{
  struct xd_ovf_disk_out *out = calloc (o->nr_disks, sizeof *out);
  size_t i;
  int r;

  if (out == NULL) {
    xd_error ("%s: out of memory", o->io->name);
    return -1;
  }
  for (i = 0; i < o->nr_disks; i++) {
    out[i].href = o->disks[i].name;
    out[i].capacity = o->disks[i].size;
    out[i].file_size = final ? o->disks[i].member_size : UINT64_MAX;
    out[i].populated = final ? o->disks[i].populated : UINT64_MAX;
  }
  r = o->template
    ? xd_ovf_template_render (o->template, out, o->nr_disks, text, len)
    : xd_ovf_render (&o->desc, out, o->nr_disks, text, len);
  free (out);
  return r;
}

static enum xd_digest_alg
manifest_alg (const struct ova_writer *o)
{
  return o->desc.manifest == XD_MANIFEST_SHA1 ? XD_DIGEST_SHA1
                                               : XD_DIGEST_SHA256;
}

/* One manifest line: "SHA256(name)= hex\n", the exact form vSphere
 * wants (§3: no space after the algorithm nor before '=').
 */
static size_t
mf_line_len (const struct ova_writer *o, const char *name)
{
  enum xd_digest_alg alg = manifest_alg (o);

  return strlen (xd_digest_name (alg)) + 1 + strlen (name) + 3 +
         xd_digest_hex_len (alg) + 1;
}

/* The room of the descriptor and the manifest, and so where the first
 * disk goes.
 */
static int
plan_layout (struct ova_writer *o)
{
  char *text;
  size_t len, i;
  uint64_t at;

  if (render_ovf (o, false, &text, &len) == -1)
    return -1;
  free (text);
  o->ovf_room = len + 1;        /* and a closing newline */
  o->mf_len = 0;
  if (o->desc.manifest != XD_MANIFEST_NONE) {
    o->mf_len = mf_line_len (o, o->ovf_name);
    for (i = 0; i < o->nr_disks; i++)
      o->mf_len += mf_line_len (o, o->disks[i].name);
  }
  at = XD_TAR_BLOCK + xd_tar_padded (o->ovf_room);
  if (o->mf_len)
    at += XD_TAR_BLOCK + xd_tar_padded (o->mf_len);
  o->next_offset = at;
  return 0;
}

/* ---- completing the archive ---- */

static int
write_header (struct ova_writer *o, uint64_t offset, const char *name,
              uint64_t size)
{
  uint8_t block[XD_TAR_BLOCK];

  if (xd_tar_make_header (block, name, size, o->mtime) == -1)
    return -1;
  return xd_io_write (o->io, block, sizeof block, offset, name);
}

/* The descriptor, rendered with the final sizes and padded with spaces
 * to its reserved room (whitespace after the root element is allowed
 * XML), into *TEXT (o->ovf_room bytes).
 */
static int
final_ovf (struct ova_writer *o, char **text)
{
  char *rendered, *padded;
  size_t len;

  if (render_ovf (o, true, &rendered, &len) == -1)
    return -1;
  if (len >= o->ovf_room) {
    xd_error ("%s: the descriptor grew past its reserved room (%zu > %zu "
              "bytes)", o->io->name, len, o->ovf_room - 1);
    free (rendered);
    return errno = EIO, -1;
  }
  padded = malloc (o->ovf_room);
  if (padded == NULL) {
    xd_error ("%s: out of memory", o->io->name);
    free (rendered);
    return -1;
  }
  memcpy (padded, rendered, len);
  memset (padded + len, ' ', o->ovf_room - 1 - len);
  padded[o->ovf_room - 1] = '\n';
  free (rendered);
  *text = padded;
  return 0;
}

/* Append "ALG(NAME)= HEX\n" at *P. */
static void
put_mf_line (const struct ova_writer *o, char **p, const char *name,
             const char *hex)
{
  *p += sprintf (*p, "%s(%s)= %s\n", xd_digest_name (manifest_alg (o)),
                 name, hex);
}

/* The manifest over the descriptor OVF and every disk member, read back
 * from the archive.
 */
static int
make_manifest (struct ova_writer *o, const char *ovf, char **mf)
{
  char hex[XD_DIGEST_HEX_MAX], *p;
  size_t i;

  *mf = p = malloc (o->mf_len + 1);
  if (p == NULL) {
    xd_error ("%s: out of memory", o->io->name);
    return -1;
  }
  if (xd_digest_buf (manifest_alg (o), ovf, o->ovf_room, hex) == -1)
    return -1;
  put_mf_line (o, &p, o->ovf_name, hex);
  for (i = 0; i < o->nr_disks; i++) {
    struct ova_disk *d = &o->disks[i];
    struct xd_io *member = xd_io_open_slice (o->io,
                                             d->header_offset + XD_TAR_BLOCK,
                                             d->member_size, d->name);
    int r = member ? xd_digest_io (manifest_alg (o), member, hex) : -1;

    xd_io_close (member);
    if (r == -1)
      return -1;
    put_mf_line (o, &p, d->name, hex);
  }
  if ((size_t) (p - *mf) != o->mf_len) {
    xd_error ("%s: the manifest is %zu bytes, not the %zu reserved",
              o->io->name, (size_t) (p - *mf), o->mf_len);
    return errno = EIO, -1;
  }
  return 0;
}

/* Everything but the first header: descriptor, manifest, the disks'
 * headers, the end of the archive.
 */
static int
write_all_but_first (struct ova_writer *o, const char *ovf)
{
  uint64_t mf_header = XD_TAR_BLOCK + xd_tar_padded (o->ovf_room);
  static const uint8_t end[2 * XD_TAR_BLOCK];
  char *mf = NULL;
  size_t i;
  int r = -1;

  if (xd_io_write (o->io, ovf, o->ovf_room, XD_TAR_BLOCK,
                   "the OVF descriptor") == -1)
    goto out;
  if (o->mf_len &&
      (make_manifest (o, ovf, &mf) == -1 ||
       write_header (o, mf_header, o->mf_name, o->mf_len) == -1 ||
       xd_io_write (o->io, mf, o->mf_len, mf_header + XD_TAR_BLOCK,
                    "the manifest") == -1))
    goto out;
  for (i = 0; i < o->nr_disks; i++)
    if (write_header (o, o->disks[i].header_offset, o->disks[i].name,
                      o->disks[i].member_size) == -1)
      goto out;
  if (xd_io_write (o->io, end, sizeof end, o->next_offset,
                   "the end of the archive") == -1 ||
      xd_io_truncate (o->io, o->next_offset + sizeof end,
                      "the end of the archive") == -1)
    goto out;
  r = 0;
 out:
  free (mf);
  return r;
}

/* Called with the lock held once every disk is finished. */
static int
complete (struct ova_writer *o)
{
  char *ovf = NULL;
  int r = -1;

  if (final_ovf (o, &ovf) == -1 ||
      write_all_but_first (o, ovf) == -1 ||
      xd_io_flush (o->io) == -1 ||
      write_header (o, 0, o->ovf_name, o->ovf_room) == -1 ||
      xd_io_flush (o->io) == -1)
    goto out;
  o->complete = true;
  xd_debug ("%s: the OVA is complete (%zu disks, %" PRIu64 " bytes)",
            o->io->name, o->nr_disks, o->next_offset + 2 * XD_TAR_BLOCK);
  r = 0;
 out:
  if (r == -1) {
    o->failed = true;
    xd_error ("%s: the OVA could not be completed: the file is not a "
              "valid appliance", o->io->name);
  }
  free (ovf);
  return r;
}

/* ---- one disk ---- */

static const char *
adapter_of (const struct xd_vmdesc *desc)
{
  return desc->bus == XD_BUS_IDE ? "ide" : "lsilogic";
}

/* Start D's stream where the archive ends: called with the lock held,
 * when every disk before it is finished.
 */
static int
start_stream (struct ova_disk *d)
{
  struct ova_writer *o = d->ova;
  struct xd_create_opts copts = { .size = d->size, .path = d->name };
  char hw[16];

  d->header_offset = o->next_offset;
  d->member = xd_io_open_tail (o->io, d->header_offset + XD_TAR_BLOCK,
                               d->name);
  if (d->member == NULL)
    return -1;
  snprintf (hw, sizeof hw, "%u", o->desc.hwversion);
  d->stream = vmdk_stream_create (xd_io_ref (d->member), &copts,
                                  adapter_of (&o->desc), hw);
  if (d->stream == NULL) {
    xd_io_close (d->member);
    d->member = NULL;
    return -1;
  }
  d->state = DISK_WRITING;
  return 0;
}

/* D's state once it is no longer being written, or after
 * XD_APPLIANCE_TURN_SECONDS if it still is: called with the lock held.
 */
static enum disk_state
wait_finished (struct ova_disk *d)
{
  struct ova_writer *o = d->ova;
  struct timespec until =
    xd_monotonic_at (xd_now_ms () + XD_APPLIANCE_TURN_SECONDS * 1000);
  while (d->state == DISK_WRITING && !o->failed &&
         pthread_cond_timedwait (&o->finished, &o->lock, &until) == 0)
    ;
  return d->state;
}

/* The first write to D starts it, if the disks before it are done. */
static int
ensure_writing (struct ova_disk *d)
{
  struct ova_writer *o = d->ova;
  int r = 0;
  size_t i;

  pthread_mutex_lock (&o->lock);
  if (d->state == DISK_WRITING)
    goto out;
  if (d->state == DISK_FINISHED) {
    xd_error ("%s: disk %s is complete (its last client disconnected): "
              "it cannot be written again", o->io->name, d->name);
    r = -1, errno = EROFS;
    goto out;
  }
  for (i = 0; i < d->index; i++)
    if (wait_finished (&o->disks[i]) != DISK_FINISHED) {
      xd_error ("%s: disk %s cannot be written before %s is finished: an "
                "OVA stores its disks one after another, so write them one "
                "at a time, in order (a disk is finished when its last "
                "client disconnects)", o->io->name, d->name,
                o->disks[i].name);
      r = -1, errno = EPERM;
      goto out;
    }
  /* Another request to D may have started it while this one waited. */
  if (d->state == DISK_WAITING)
    r = start_stream (d);
 out:
  pthread_mutex_unlock (&o->lock);
  return r;
}

static uint64_t
disk_size (void *h)
{
  return ((struct ova_disk *) h)->size;
}

static uint32_t
disk_preferred_block (void *h)
{
  struct ova_disk *d = h;

  return d->stream ? vmdk_stream_grain_bytes (d->stream) : 0;
}

/* A finished disk reads through the VMDK reader, on its member. */
static struct xd_image *
finished_reader (struct ova_disk *d)
{
  struct ova_writer *o = d->ova;
  struct xd_io *member;

  pthread_mutex_lock (&o->lock);
  if (d->reader == NULL) {
    member = xd_io_open_slice (o->io, d->header_offset + XD_TAR_BLOCK,
                               d->member_size, d->name);
    if (member)
      d->reader = xd_image_open (member, o->no_names, &o->read_opts,
                                 &xd_reader_vmdk);
  }
  pthread_mutex_unlock (&o->lock);
  return d->reader;
}

/* D's state, which disk_finish changes under the lock. */
static enum disk_state
state_of (struct ova_disk *d)
{
  enum disk_state state;

  pthread_mutex_lock (&d->ova->lock);
  state = d->state;
  pthread_mutex_unlock (&d->ova->lock);
  return state;
}

/* Read D while it is being written: what the stream still holds, else
 * (grains already compressed to the file) wait for D to be finished, as
 * a write to the next disk does: a client reading a disk just written
 * may come before nbdkit closed the client that wrote it.  -1 with
 * errno EAGAIN if D is finished now (read it through the reader).
 */
static int
read_writing (struct ova_disk *d, void *buf, uint32_t count,
              uint64_t offset)
{
  struct ova_writer *o = d->ova;
  enum disk_state state;
  int r;

  xd_error_hold ();
  r = vmdk_stream_pread (d->stream, buf, count, offset);
  if (r == 0 || errno != EIO) {
    xd_error_release (r == -1);
    return r;
  }
  pthread_mutex_lock (&o->lock);
  state = wait_finished (d);
  pthread_mutex_unlock (&o->lock);
  xd_error_release (state != DISK_FINISHED);
  if (state != DISK_FINISHED)
    return errno = EIO, -1;
  return errno = EAGAIN, -1;
}

static int
disk_pread (void *h, void *buf, uint32_t count, uint64_t offset)
{
  struct ova_disk *d = h;
  struct xd_image *reader;

  switch (state_of (d)) {
  case DISK_WAITING:
    memset (buf, 0, count);
    return 0;
  case DISK_WRITING:
    if (read_writing (d, buf, count, offset) == 0)
      return 0;
    if (errno != EAGAIN)
      return -1;
    break;                      /* finished meanwhile */
  case DISK_FINISHED:
    break;
  }
  reader = finished_reader (d);
  return reader ? xd_image_read (reader, buf, count, offset) : -1;
}

static char *
disk_describe (void *h)
{
  struct ova_disk *d = h;
  char size[32], *r;

  xd_human_size (d->size, size, sizeof size);
  if (asprintf (&r, "OVA being created: disk %zu of %zu, %s (%s)",
                d->index + 1, d->ova->nr_disks, d->name, size) == -1)
    return NULL;
  return r;
}

static bool
disk_can_write (void *h XD_UNUSED, const char **why)
{
  *why = NULL;
  return true;
}

static int
disk_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  struct ova_disk *d = h;

  if (ensure_writing (d) == -1)
    return -1;
  return vmdk_stream_pwrite (d->stream, buf, count, offset);
}

static int
disk_zero (void *h, uint32_t count, uint64_t offset, bool may_trim XD_UNUSED,
           bool fast)
{
  struct ova_disk *d = h;

  /* As for a streamOptimized VMDK (vmdk-format.c): a fast zero is a
   * client pre-zeroing the whole disk, which would settle every grain
   * as zeros before the data comes; a new disk reads as zeros anyway.
   */
  if (fast) {
    errno = ENOTSUP;
    return -1;
  }
  if (ensure_writing (d) == -1)
    return -1;
  return vmdk_stream_zero (d->stream, count, offset);
}

static int
disk_trim (void *h XD_UNUSED, uint32_t count XD_UNUSED,
           uint64_t offset XD_UNUSED)
{
  return 0;                     /* allowed by NBD: a no-op */
}

static int disk_finish (void *h);

/* A flush after every grain of the disk went to the file finishes the
 * disk at once (nothing more can be written to it), without waiting
 * for its last client to disconnect.
 */
static int
disk_flush (void *h)
{
  struct ova_disk *d = h;

  if (state_of (d) != DISK_WRITING)
    return xd_io_flush (d->ova->io);
  if (vmdk_stream_flush (d->stream) == -1)
    return -1;
  return vmdk_stream_all_appended (d->stream) ? disk_finish (d) : 0;
}

static bool
all_finished (const struct ova_writer *o)
{
  size_t i;

  for (i = 0; i < o->nr_disks; i++)
    if (o->disks[i].state != DISK_FINISHED)
      return false;
  return true;
}

/* The last client of D has gone: if it was written, its stream is
 * finished (what was never written reads as zeros) and the next disk
 * may start; after the last disk the archive is completed.
 */
static int
disk_finish (void *h)
{
  struct ova_disk *d = h;
  struct ova_writer *o = d->ova;
  int r;

  if (state_of (d) != DISK_WRITING)
    return 0;
  r = vmdk_stream_finish (d->stream);
  pthread_mutex_lock (&o->lock);
  if (r == -1)
    o->failed = true;           /* reported by the stream */
  if (r == 0 && d->state == DISK_WRITING) {
    d->member_size = d->member->size;
    d->populated = vmdk_stream_stored_bytes (d->stream);
    d->state = DISK_FINISHED;
    o->next_offset = d->header_offset + XD_TAR_BLOCK +
                     xd_tar_padded (d->member_size);
    xd_debug ("%s: disk %s finished: %" PRIu64 " bytes of member, %"
              PRIu64 " of data", o->io->name, d->name, d->member_size,
              d->populated);
    if (all_finished (o) && !o->complete && !o->failed)
      r = complete (o);
  }
  pthread_cond_broadcast (&o->finished);
  pthread_mutex_unlock (&o->lock);
  return r;
}

static const struct xd_format disk_format = {
  .name = "ova-disk",
  .display = "OVA disk",
  .plugin = "vmdkx",
  .size = disk_size,
  .preferred_block = disk_preferred_block,
  .pread = disk_pread,
  .describe = disk_describe,
  .can_write = disk_can_write,
  .pwrite = disk_pwrite,
  .zero = disk_zero,
  .trim = disk_trim,
  .flush = disk_flush,
  .finish = disk_finish,
};

/* ---- the appliance ---- */

static void
ova_writer_free (struct ova_writer *o)
{
  size_t i;

  if (o == NULL)
    return;
  for (i = 0; i < o->nr_disks; i++) {
    xd_image_close (o->disks[i].reader);
    vmdk_stream_close (o->disks[i].stream);
    xd_io_close (o->disks[i].member);
    free (o->disks[i].name);
  }
  free (o->disks);
  free (o->ovf_name);
  free (o->mf_name);
  xd_ovf_template_free (o->template);
  xd_resolver_free (o->no_names);
  xd_vmdesc_free (&o->desc);
  pthread_cond_destroy (&o->finished);
  pthread_mutex_destroy (&o->lock);
  xd_io_close (o->io);
  free (o);
}

/* Read the user's OVF (create-ovf=FILE). */
static struct xd_ovf_template *
read_template (const char *path)
{
  struct xd_io *io = xd_io_open_file (path);
  struct xd_ovf_template *t = NULL;
  char *buf;

  if (io == NULL)
    return NULL;
  if (io->size > XD_OVF_MAX_SIZE) {
    xd_error ("%s: create-ovf: the descriptor is larger than %d MiB",
              path, (int) (XD_OVF_MAX_SIZE >> 20));
    xd_io_close (io);
    return errno = EINVAL, NULL;
  }
  buf = malloc (io->size + 1);
  if (buf == NULL)
    xd_error ("%s: out of memory", path);
  else if (xd_io_read (io, buf, io->size, 0, "the OVF descriptor") == 0)
    t = xd_ovf_template_parse (buf, io->size, path);
  free (buf);
  xd_io_close (io);
  return t;
}

/* The disks' sizes from the template when create-size= was not given;
 * the machine description in any case.
 */
static int
describe_machine (struct ova_writer *o, const struct xd_create_opts *copts)
{
  struct xd_create_opts with_sizes = *copts;
  uint64_t *sizes = NULL;
  size_t i, n;
  int r;

  if (o->template && copts->size == 0) {
    n = xd_ovf_template_disks (o->template);
    sizes = calloc (n ? n : 1, sizeof *sizes);
    if (sizes == NULL) {
      xd_error ("%s: out of memory", o->io->name);
      return -1;
    }
    for (i = 0; i < n; i++)
      if ((sizes[i] = xd_ovf_template_capacity (o->template, i)) == 0) {
        xd_error ("%s: create-ovf: disk %zu of the descriptor gives no "
                  "capacity: give the sizes with create-size=", o->io->name,
                  i + 1);
        free (sizes);
        return errno = EINVAL, -1;
      }
    with_sizes.sizes = sizes;
    with_sizes.nr_sizes = n;
    with_sizes.size = n ? sizes[0] : 0;
  }
  r = xd_vmdesc_init (&o->desc, &with_sizes, o->io->name, "OVA");
  free (sizes);
  if (r == 0 && o->template &&
      xd_ovf_template_disks (o->template) != o->desc.nr_disks) {
    xd_error ("%s: create-ovf: the descriptor has %zu disks but "
              "create-size= gives %zu", o->io->name,
              xd_ovf_template_disks (o->template), o->desc.nr_disks);
    return errno = EINVAL, -1;
  }
  return r;
}

/* Every disk fits a streamOptimized VMDK: refused now, not at the
 * first write to a later disk.
 */
static int
check_sizes (const struct ova_writer *o)
{
  size_t i;

  for (i = 0; i < o->desc.nr_disks; i++)
    if (o->desc.sizes[i] % 512 != 0 ||
        o->desc.sizes[i] > VMDK_STREAM_MAX_SIZE) {
      xd_error ("%s: create-size: disk %zu: %" PRIu64 " bytes: an OVA's "
                "disks are streamOptimized VMDKs, a multiple of 512 bytes "
                "up to 2 TiB", o->io->name, i + 1, o->desc.sizes[i]);
      return errno = EINVAL, -1;
    }
  return 0;
}

static int
make_disks (struct ova_writer *o)
{
  size_t i;

  o->nr_disks = o->desc.nr_disks;
  o->disks = calloc (o->nr_disks, sizeof *o->disks);
  if (o->disks == NULL) {
    xd_error ("%s: out of memory", o->io->name);
    return -1;
  }
  for (i = 0; i < o->nr_disks; i++) {
    struct ova_disk *d = &o->disks[i];
    d->ova = o;
    d->index = i;
    d->size = o->desc.sizes[i];
    d->img.format = &disk_format;
    d->img.h = d;
  }
  return 0;
}

/* Block 0 says the archive is unfinished until it is complete. */
static int
mark_unfinished (struct ova_writer *o)
{
  uint8_t block[XD_TAR_BLOCK];

  xd_tar_make_unfinished (block, "OVA");
  return xd_io_write (o->io, block, sizeof block, 0, "the first block");
}

void *
ova_create (struct xd_io *io, const struct xd_resolver *res XD_UNUSED,
            const struct xd_create_opts *copts,
            const struct xd_open_opts *opts)
{
  struct ova_writer *o = calloc (1, sizeof *o);

  if (o == NULL) {
    xd_error ("%s: out of memory", io->name);
    xd_io_close (io);
    return NULL;
  }
  o->io = io;
  pthread_mutex_init (&o->lock, NULL);
  xd_cond_init_monotonic (&o->finished);
  o->mtime = (uint64_t) time (NULL);
  o->read_opts = *opts;
  o->read_opts.writable = false;
  o->read_opts.served = NULL;
  if (copts->vm.ovf && (o->template = read_template (copts->vm.ovf)) == NULL)
    goto err;
  if (describe_machine (o, copts) == -1 || check_sizes (o) == -1 ||
      make_disks (o) == -1 ||
      make_names (o) == -1 || plan_layout (o) == -1 ||
      (o->no_names = xd_resolver_new_stream ("an OVA member")) == NULL ||
      mark_unfinished (o) == -1)
    goto err;
  if (o->desc.manifest != XD_MANIFEST_NONE && !xd_digest_available ()) {
    xd_error ("%s: create-manifest: this build has no digests (nettle "
              "was not found): use create-manifest=none", io->name);
    errno = ENOTSUP;
    goto err;
  }
  return o;
 err:
  ova_writer_free (o);
  return NULL;
}

/* ---- the appliance's table ---- */

static size_t
ova_disks (void *h)
{
  return ((struct ova_writer *) h)->nr_disks;
}

static const char *
ova_disk_name (void *h, size_t i)
{
  return ((struct ova_writer *) h)->disks[i].name;
}

static struct xd_image *
ova_disk (void *h, size_t i)
{
  return &((struct ova_writer *) h)->disks[i].img;
}

static uint64_t
ova_writer_size (void *h)
{
  return ((struct ova_writer *) h)->disks[0].size;
}

static char *
ova_writer_describe (void *h)
{
  struct ova_writer *o = h;
  char *r;

  if (asprintf (&r, "OVA being created: %s, %zu disk%s", o->ovf_name,
                o->nr_disks, o->nr_disks == 1 ? "" : "s") == -1)
    return NULL;
  return r;
}

static int
ova_writer_flush (void *h)
{
  return xd_io_flush (((struct ova_writer *) h)->io);
}

/* nbdkit is exiting, every client gone: a disk still being written is
 * finished as its last client's disconnection would have (nbdkit 1.32
 * may clean up before it runs that client's close), which completes the
 * archive if it was the last one; an appliance whose disks were not all
 * written is left as it is, refused by every reader, and the user is
 * told.
 */
static void
ova_writer_close (void *h)
{
  struct ova_writer *o = h;
  size_t i;

  for (i = 0; i < o->nr_disks && !o->failed; i++)
    if (state_of (&o->disks[i]) == DISK_WRITING)
      disk_finish (&o->disks[i]);
  if (!o->complete && !o->failed)
    for (i = 0; i < o->nr_disks; i++)
      if (o->disks[i].state != DISK_FINISHED) {
        xd_error ("%s: the OVA is incomplete: disk %s was never %s, so "
                  "the file is not a valid appliance", o->io->name,
                  o->disks[i].name,
                  o->disks[i].state == DISK_WAITING ? "written" : "finished");
        break;
      }
  ova_writer_free (o);
}

const struct xd_format xd_ova_creating = {
  .name = "ova",
  .display = "OVA",
  .plugin = "vmdkx",
  .close = ova_writer_close,
  .size = ova_writer_size,
  .describe = ova_writer_describe,
  .flush = ova_writer_flush,
  .disks = ova_disks,
  .disk_name = ova_disk_name,
  .disk = ova_disk,
};
