/* xdisk: format drivers, the names an image holds, and the registry.
 *
 * Every format (VMDK, VHD, VHDX, VDI, qcow2, raw) is one struct
 * xd_format.  A driver opens an image from an xd_io (a local file, a
 * memory buffer, an archive member, the layer below an nbdkit filter)
 * plus a resolver for the names the image holds: extent files, parents,
 * backing files.  The resolver decides where such a name may lead: a
 * directory under the path policy, the members of one archive, or
 * nothing at all for a lone stream.  So the same driver serves a
 * plugin, a filter, an OVA member and a parent in another format's
 * chain.
 *
 * The registry (xd_formats) and its content detector let any driver
 * open any other format by name or by detection (qcow2 backing files,
 * the diskx plugin), and let each plugin refuse another format's file
 * with a hint naming the right plugin.
 *
 * Nothing here calls nbdkit: errors go through xd_error.
 */
#ifndef XDISK_FORMAT_H
#define XDISK_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-driver.h"
#include "io/xd-io.h"

/* Longest chain of images (a top image and its parents or backing
 * files, whatever their formats) any open may build: a guard against
 * loops through files that name each other.
 */
#define XD_MAX_CHAIN 256

/* ---- resolvers ---- */

struct xd_resolver;

/* Called by xd_resolver_list for each candidate; returns 0 to go on, 1
 * to stop (found), -1 to stop with an error already reported.
 */
typedef int (*xd_list_fn) (void *opaque, const char *name);

struct xd_resolver_ops {
  /* Open NAME, as stored in the image whose xd_io is named FROM (an
   * io this resolver opened, or the top image).  On failure return NULL
   * with errno ENOENT (no such file or member), EPERM (the policy
   * refuses it) or EINVAL (empty or unusable name), reporting nothing:
   * callers may try several names and report once.
   */
  struct xd_io *(*try_open) (const struct xd_resolver *r, const char *from,
                             const char *name);
  /* Report why try_open failed for NAME with errno ERR, in words that
   * name the file FROM, the name, WHAT it is for ("parent", "extent
   * file", "backing file") and the option that would allow it.
   */
  void (*report) (const struct xd_resolver *r, const char *from,
                  const char *name, const char *what, int err);
  /* Optional: call FN with every file name near FROM that a search may
   * open with try_open: the files of FROM's own directory (UP false) or
   * of the directory above it (UP true).  Without it nothing is listed.
   */
  int (*list) (const struct xd_resolver *r, const char *from, bool up,
               xd_list_fn fn, void *opaque);
  void (*free) (struct xd_resolver *r);
};

struct xd_resolver {
  const struct xd_resolver_ops *ops;
  void *priv;
};

/* Open NAME stored in FROM, reporting an error if it cannot be opened. */
extern struct xd_io *xd_resolver_open (const struct xd_resolver *r,
                                       const char *from, const char *name,
                                       const char *what);
/* Quiet version: NULL with errno set, nothing reported. */
extern struct xd_io *xd_resolver_try_open (const struct xd_resolver *r,
                                           const char *from,
                                           const char *name);
/* Report a failure of xd_resolver_try_open (errno ERR). */
extern void xd_resolver_report (const struct xd_resolver *r, const char *from,
                                const char *name, const char *what, int err);
/* List candidate names near FROM (see xd_resolver_ops.list); 0 if the
 * resolver cannot list.
 */
extern int xd_resolver_list (const struct xd_resolver *r, const char *from,
                             bool up, xd_list_fn fn, void *opaque);
extern void xd_resolver_free (struct xd_resolver *r);

/* Names resolve to local files under POLICY (xd-path.h): today's
 * behaviour for images given by path.  POLICY must outlive the resolver.
 */
struct xd_path_policy;
extern struct xd_resolver *xd_resolver_new_dir (const struct xd_path_policy *policy);

/* A lone stream (an nbdkit filter's layer below, a memory buffer): every
 * name is refused with an error saying that the image names a file
 * outside its stream and that the plugin form, with local files, can
 * serve it.  KIND says what the stream is ("the nbdkit filter's
 * underlying data").
 */
extern struct xd_resolver *xd_resolver_new_stream (const char *kind);

/* ---- open options ---- */

/* Options every driver sees, from the plugin's parameters.  Each format
 * reads the ones that concern it.
 */
struct xd_open_opts {
  uint64_t cache_bytes;         /* budget for metadata table caches */
  unsigned depth;               /* images above this one in the chain */
  bool ignore_parent_mismatch;  /* serve despite a parent identity check */
  int vhd_size_mode;            /* enum vhd_size_mode (vhd.h) */
  const char *snapshot;         /* qcow2: internal snapshot name or id */
  const char *parent;           /* VDI: parent=FILE given by the user */
  /* VDI: the media registry of the VM being opened (a .vbox already
   * read): its text, and the io name of the .vbox, from which the
   * locations it holds resolve.  Looked in for a parent before any
   * directory is listed, so that a resolver that cannot list (HTTP)
   * still finds the chain.  NULL: none.
   */
  const char *vbox_text;
  const char *vbox_name;
  int *vmdk_debug_grains;       /* vmdkx -D vmdkx.grains=1, may be NULL */
  const char *disk;             /* OVA/XVA: disk=N or a name, NULL: first */
  bool verify;                  /* OVA/XVA: check manifest digests */
  /* The formats the plugin serves, NULL-terminated (NULL: any): an
   * appliance (OVA, XVA) refuses a disk of any other format.
   */
  const struct xd_format *const *served;
  /* The top image's io is writable and writes may follow: the driver
   * accepts them (or says through can_write why it cannot).  The open
   * itself must not modify the file (a user serving with nbdkit -r
   * expects it untouched): anything the first write needs (a VHDX log
   * replay, a new CID or GUID) is done by the first write.  Parents and
   * backing files are always opened read-only, whatever this says.
   */
  bool writable;
};

/* What to create (create=true and the create-* parameters).  Sizes are
 * in bytes; 0 or NULL means the format's default.
 */
struct xd_create_opts {
  uint64_t size;                /* create-size= (virtual size) */
  const char *type;             /* create-type= ("dynamic", "fixed",
                                 * "monolithic-sparse", ...) */
  const char *adapter_type;     /* create-adapter-type= (VMDK) */
  const char *hwversion;        /* create-hwversion= (VMDK) */
  uint32_t block_size;          /* create-block-size= (VHD, VHDX, VDI) */
  uint32_t sector_size;         /* create-sector-size= (VHDX) */
  /* create-parent=: the parent's real path; the child stores it as
   * xd_parent_ref_name gives it and opens it through the resolver
   * (xd_image_open_ref), read-only.
   */
  const char *parent;
  /* The path of the file being created (its io is already open). */
  const char *path;
  /* Appliances (OVA, XVA): create-size=A,B,... gives one size per disk,
   * in order (SIZE is the first); VM describes the machine.
   */
  const uint64_t *sizes;
  size_t nr_sizes;
  struct xd_vm_params {
    const char *name;           /* create-name= */
    unsigned cpus;              /* create-cpus= (0: default) */
    uint64_t memory;            /* create-memory= bytes (0: default) */
    const char *firmware;       /* create-firmware=bios|efi */
    const char *os;             /* create-os= */
    const char *nic;            /* create-nic= */
    const char *network;        /* create-network= */
    const char *disk_bus;       /* create-disk-bus= */
    const char *manifest;       /* create-manifest=sha256|sha1|none */
    const char *checksum;       /* create-checksum=xxhash|sha1 (XVA) */
    const char *ovf;            /* create-ovf=FILE (real path) */
  } vm;
};

/* True if any machine parameter (create-name=, create-cpus=, ...) was
 * given: only an appliance takes them.
 */
extern bool xd_vm_params_given (const struct xd_vm_params *vm);

/* The name a child image at CHILD_PATH stores for its parent at
 * PARENT_PATH (both real paths): the parent's file name when both are
 * in one directory, a relative path below the child's directory, else
 * PARENT_PATH itself.  malloc'd, or NULL after reporting.
 */
extern char *xd_parent_ref_name (const char *child_path,
                                 const char *parent_path);

/* The parameter every format with parents shares:
 * ignore-parent-mismatch=true.  0 if KEY is it, 1 if not, -1 on a bad
 * value (reported).
 */
extern int xd_config_parent_mismatch (struct xd_open_opts *opts,
                                      const char *key, const char *value);

/* ---- format drivers ---- */

/* Bytes of the head of a file given to probe functions. */
#define XD_PROBE_BYTES 4096

struct xd_format {
  const char *name;             /* "vmdk", "vhd", ...: format=, backing
                                 * formats, messages */
  const char *display;          /* "VMDK", "VHDX": messages */
  const char *plugin;           /* the plugin that serves it: "vmdkx" */

  /* True if the image in IO is this format.  HEAD holds the first LEN
   * bytes (LEN = min (io->size, XD_PROBE_BYTES)); the probe may read
   * more of IO (a VHD footer at the end).  Must not report errors.
   */
  bool (*probe) (struct xd_io *io, const uint8_t *head, size_t len);

  /* Parameters of this format (for the plugins that serve it): returns
   * 0 if it took KEY, 1 if KEY is not its, -1 on a bad value (reported).
   * CONFIG_HELP is text for --help, or NULL.  DUMP prints extra
   * --dump-plugin lines, each starting with PREFIX ("vmdkx_").
   */
  int (*config) (struct xd_open_opts *opts, const char *key,
                 const char *value);
  const char *config_help;
  void (*dump) (const char *prefix);

  /* Open the image in IO, taking ownership of IO (it is closed on
   * failure too).  Names it holds are opened through RES, which
   * outlives the handle.  NULL after reporting an error.
   */
  void *(*open) (struct xd_io *io, const struct xd_resolver *res,
                 const struct xd_open_opts *opts);
  void (*close) (void *h);
  uint64_t (*size) (void *h);
  /* The natural I/O size (grain, cluster or block), or 0. */
  uint32_t (*preferred_block) (void *h);
  /* Read COUNT bytes at OFFSET, inside the disk.  0, or -1 with errno
   * set (EIO for corrupt data) after reporting.  Thread-safe.
   */
  int (*pread) (void *h, void *buf, uint32_t count, uint64_t offset);
  /* See xd_driver.extents.  May be NULL (everything is data). */
  int (*extents) (void *h, uint32_t count, uint64_t offset, bool req_one,
                  xd_extent_fn add, void *opaque);
  /* What was opened, for the export description: malloc'd, or NULL. */
  char *(*describe) (void *h);

  /* ---- writing (all NULL for a read-only format) ----
   *
   * Every write op is thread-safe (nbdkit PARALLEL) and returns 0, or
   * -1 with errno set after reporting.  Writes must keep the image
   * openable and consistent after a crash at any point: data first,
   * then the tables that point at it, with xd_io_flush between them
   * where the order matters, or the format's own log.  Nothing
   * acknowledged before a completed flush may be lost.
   */

  /* Whether the image opened with OPTS->writable can be written.  If
   * not, *WHY says why ("streamOptimized extents cannot be written"),
   * and the image is served read-only.
   */
  bool (*can_write) (void *h, const char **why);
  int (*pwrite) (void *h, const void *buf, uint32_t count, uint64_t offset);
  /* Make [OFFSET, OFFSET+COUNT) read as zeros, with the format's zero
   * states where it has them.  MAY_TRIM: it may deallocate.  FAST: fail
   * with ENOTSUP (reporting nothing) rather than write zeros slowly.
   * NULL: the glue writes zeros with pwrite.
   */
  int (*zero) (void *h, uint32_t count, uint64_t offset, bool may_trim,
               bool fast);
  /* Deallocate where the format allows, never exposing what a parent
   * holds below.  NULL: trim is ignored (allowed by NBD).
   */
  int (*trim) (void *h, uint32_t count, uint64_t offset);
  /* Return only when every write done before is durable, data and
   * metadata.
   */
  int (*flush) (void *h);
  /* Create a new image in IO (empty, writable, ownership taken) as
   * COPTS asks, and return it opened for writing, as open would.  A
   * parent is opened through RES.  NULL after reporting; the caller
   * removes the file.
   */
  void *(*create) (struct xd_io *io, const struct xd_resolver *res,
                   const struct xd_create_opts *copts,
                   const struct xd_open_opts *opts);
  /* Optional: the last client has gone.  Write what a finished image
   * needs (a streamOptimized VMDK's tables, footer and end marker) and
   * flush.  Writes after it are refused.
   */
  int (*finish) (void *h);
  /* Optional: check the structure of the opened image (tests, and a
   * verifier where qemu-img has none): 0 if sound, -1 after reporting
   * every problem found.
   */
  int (*check) (void *h);
  /* Optional: the create-type= names it accepts, for --help and
   * --dump-plugin ("fixed, dynamic").
   */
  const char *create_types;
  /* Optional: the table of the handles create returns, when it is not
   * this one (an appliance being created is served by its writer's
   * table, not by the reader's).
   */
  const struct xd_format *created;
  /* Optional: a handle holding several disks (an appliance being
   * created), each served as its own NBD export.  DISKS says how many;
   * DISK_NAME is disk I's export name (its member name in the archive);
   * DISK is the image that serves disk I, owned by the handle and valid
   * until close.  The plugin sends every request to a disk's image, and
   * calls finish on a disk's image when the last client of that disk
   * has gone; the handle's own read and write ops are not used.
   */
  size_t (*disks) (void *h);
  const char *(*disk_name) (void *h, size_t i);
  struct xd_image *(*disk) (void *h, size_t i);
};

/* Every format this pack reads, NULL-terminated, raw last: for a format
 * the pack also writes, its reader (write fields NULL), so that what
 * only reads links no writer.
 */
extern const struct xd_format *const xd_formats[];

extern const struct xd_format xd_format_raw;

/* The format called NAME ("qcow2", "vmdk", ...; case-insensitive), or
 * NULL.
 */
extern const struct xd_format *xd_format_by_name (const char *name);

/* True if LIST (NULL-terminated) holds a table of F's format (the same
 * name: a reader and its composed table are one format).
 */
extern bool xd_format_in (const struct xd_format *const *list,
                          const struct xd_format *f);

/* Detect the format of IO from its contents, never its name: the first
 * format whose probe matches, else raw.  Returns NULL only if the head
 * of IO could not be read (reported).
 */
extern const struct xd_format *xd_detect (struct xd_io *io);

/* The table that composes the reader FORMAT (from the registry, the
 * detector) with its writer, or FORMAT itself for a format the pack
 * only reads (libxdiskwrite.la).  Plugins list these tables themselves.
 */
extern const struct xd_format *xd_format_writable (const struct xd_format *format);

/* Every format as a plugin serves it (the registry's order, writable
 * formats composed with their writers; libxdiskwrite.la): the diskx
 * plugin's list.
 */
extern const struct xd_format *const xd_formats_served[];

/* ---- opened images of any format ---- */

struct xd_image {
  const struct xd_format *format;
  void *h;
};

/* Open IO (ownership taken) as FORMAT, or as the detected format when
 * FORMAT is NULL.  OPTS->depth is the number of images above this one;
 * an open deeper than XD_MAX_CHAIN is refused.  NULL after reporting.
 */
extern struct xd_image *xd_image_open (struct xd_io *io,
                                       const struct xd_resolver *res,
                                       const struct xd_open_opts *opts,
                                       const struct xd_format *format);
/* Open the parent or backing file NAME held by the image FROM: resolve
 * it, detect or check its format (FORMAT_NAME may be NULL), open it one
 * level deeper than OPTS says.  WHAT: "backing file", "parent".
 */
extern struct xd_image *xd_image_open_ref (const struct xd_resolver *res,
                                           const char *from, const char *name,
                                           const char *what,
                                           const char *format_name,
                                           const struct xd_open_opts *opts);
extern void xd_image_close (struct xd_image *img);
extern uint64_t xd_image_size (const struct xd_image *img);
extern int xd_image_read (struct xd_image *img, void *buf, uint32_t count,
                          uint64_t offset);
/* Like xd_format.extents; everything is data without one. */
extern int xd_image_extents (struct xd_image *img, uint32_t count,
                             uint64_t offset, bool req_one,
                             xd_extent_fn add, void *opaque);
extern char *xd_image_describe (const struct xd_image *img);

/* The decoded disk of IMG as a read-only xd_io named NAME (read-ahead
 * wraps it, xd-readahead.h).  IMG must outlive it.  NULL after
 * reporting.
 */
extern struct xd_io *xd_image_as_io (struct xd_image *img, const char *name);

/* Writing an opened image (see the write ops of struct xd_format).
 * xd_image_can_write sets *WHY (or NULL for a format the pack only
 * reads) when it returns false.
 */
extern bool xd_image_can_write (const struct xd_image *img,
                                const char **why);
extern int xd_image_write (struct xd_image *img, const void *buf,
                           uint32_t count, uint64_t offset);
extern int xd_image_zero (struct xd_image *img, uint32_t count,
                          uint64_t offset, bool may_trim, bool fast);
extern int xd_image_trim (struct xd_image *img, uint32_t count,
                          uint64_t offset);
extern int xd_image_flush (struct xd_image *img);
extern int xd_image_finish (struct xd_image *img);
/* Create IO as FORMAT (see xd_format.create). */
extern struct xd_image *xd_image_create (struct xd_io *io,
                                         const struct xd_resolver *res,
                                         const struct xd_create_opts *copts,
                                         const struct xd_open_opts *opts,
                                         const struct xd_format *format);

#endif /* XDISK_FORMAT_H */
