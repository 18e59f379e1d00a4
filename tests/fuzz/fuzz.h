/* xdisk fuzzing: helpers shared by the libFuzzer targets.
 *
 * Every target defines LLVMFuzzerTestOneInput.  It is linked either with
 * libFuzzer (clang, make fuzz) or with run-inputs.c (any compiler, make
 * check), which feeds it the saved regression inputs.
 *
 * An input is one image file, or a "bundle" that describes several
 * sparse files compactly, so that images larger than the input (every
 * VHDX is at least a few MiB, mostly zeros) and multi-file images
 * (descriptor plus extents, parent chains) can be fuzzed too:
 *
 *   "XDFZ" record...
 *   record:  'F' len:u8 name[len]       start a new file called NAME
 *            'S' size:le64               set the current file's size
 *            'D' off:le64 len:le32 data  LEN bytes of data at OFF
 *
 * Anything else ends the bundle.  Files are zeros where no data was
 * given; a file's size is its 'S' record, or else the end of its last
 * data.  The first file is the image that is opened.  fuzz-pack makes
 * bundles from image files.
 */
#ifndef XDISK_FUZZ_H
#define XDISK_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-driver.h"
#include "io/xd-io.h"

#define FZ_MAGIC "XDFZ"
#define FZ_MAX_FILES 8
#define FZ_MAX_NAME 64
#define FZ_MAX_CHUNKS 4096
/* Files of a bundle are clipped to this, which keeps every target's
 * work (tables read, logs replayed) bounded per input.
 */
#define FZ_MAX_FILE_SIZE (UINT64_C (64) << 20)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

struct fz_chunk {
  uint64_t offset;
  const uint8_t *data;          /* points into the input */
  size_t len;
};

struct fz_file {
  char name[FZ_MAX_NAME + 1];
  uint64_t size;
  bool size_set;
  struct fz_chunk *chunks;
  size_t nr_chunks;
};

#define FZ_MAX_PATCHES 512

struct fz_bundle {
  struct fz_file files[FZ_MAX_FILES];
  size_t nr_files;
  uint8_t patches[FZ_MAX_PATCHES][4];   /* see fz_fix_checksums */
  size_t nr_patches;
};

/* Split DATA into files (a plain input is one file, DEFAULT_NAME).
 * Always yields at least one file.  Aborts only if out of memory.
 */
extern void fz_bundle_parse (const uint8_t *data, size_t size,
                             const char *default_name, struct fz_bundle *b);
extern void fz_bundle_free (struct fz_bundle *b);

/* Recompute the checksums of the VHD and VHDX structures in B (VHD
 * footers and dynamic header, VHDX headers, region tables and log
 * entries) and store them as extra data, so that mutations reach the
 * code behind each checksum.  The targets do this for inputs whose size
 * is not 3 mod 4, so that checksum errors stay reachable too.
 */
extern void fz_fix_checksums (struct fz_bundle *b);
static inline bool
fz_want_fixed_checksums (size_t size)
{
  return size % 4 != 3;
}

/* An xd_io reading file F from memory (F must outlive it). */
extern struct xd_io *fz_io_open (const struct fz_file *f);

/* Write the files of B into this process's private temporary directory
 * and return the real path of the first one (static storage).
 * fz_remove_files deletes them again.
 */
extern const char *fz_write_files (const struct fz_bundle *b);
extern void fz_remove_files (const struct fz_bundle *b);
/* Remove every file of the private directory: the bundle's and those a
 * target made there (created images, their extents and parents).
 */
extern void fz_clear_files (void);

/* Install reporters that format every message (so that format strings
 * and their arguments are exercised) and count the errors.  Messages go
 * to stderr only if XDISK_FUZZ_VERBOSE is set.  Call at the start of
 * every input.
 */
extern void fz_init (void);
extern unsigned long fz_errors (void);

/* Call right before a function fz_check_failure judges: clears errno
 * (so that a value left by an earlier call cannot pass for this one's)
 * and returns the error count to pass as BEFORE.
 */
extern unsigned long fz_begin (void);

/* The project's contract: a function that returns -1 "after reporting"
 * has called xd_error since BEFORE (from fz_begin) and set errno.
 * Abort otherwise.
 */
extern void fz_check_failure (int r, unsigned long before, const char *what);

/* Abort with a message: a broken invariant is a bug like a crash. */
extern void fz_fail (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2), noreturn));

/* The read path of a whole disk, as the plugin glue drives it. */
struct fz_disk_ops {
  int (*read) (void *disk, void *buf, uint32_t count, uint64_t offset);
  int (*extents) (void *disk, uint32_t count, uint64_t offset,
                  bool req_one, xd_extent_fn add, void *opaque);
};

/* Read a bounded number of blocks spread over a disk of SIZE bytes and
 * query their extents, checking that extents are well formed and that
 * ranges reported as zero read as zeros.
 */
extern void fz_exercise_disk (void *disk, uint64_t size,
                              const struct fz_disk_ops *ops);

/* Open the file PATH as FORMAT (NULL: detect) under the default path
 * policy, through the registry as a plugin does, with OPTS, and
 * exercise the disk: the whole-disk targets of every format.
 */
struct xd_format;
struct xd_open_opts;
extern void fz_serve_file (const char *path, const struct xd_format *format,
                           const struct xd_open_opts *opts);

struct xd_image;

/* Run IMG's check op, if its format has one, as xdisk-check does: 0 if
 * it found the image sound, -1 after reporting every problem (through
 * xd_error, with errno set).  Never a crash, whatever the image holds.
 */
extern int fz_check_image (struct xd_image *img);

/* Check (fz_check_image), describe, read and query IMG as fz_serve_file
 * does, then close it.
 */
extern void fz_exercise_image (struct xd_image *img);

/* The write-path targets (fuzz-write-common.c).  FORMAT's image is
 * made from the input, opened writable through the registry, checked
 * with its check op, and takes the ops the input describes; then it is
 * closed, reopened read-only, checked and read back against a shadow
 * copy of what the ops acknowledged.
 *
 * Input: byte 0 is the number of ops (at most 32), then 8 bytes per op
 * (see decode_op), then the image: a file or a bundle.  An image part
 * shorter than 16 bytes is instead the parameters of an image the
 * target creates with FORMAT's create op (type, size, block size, a
 * differencing child: see create_image), so that a few bytes are a
 * valid seed.
 */
struct fz_write_target {
  const struct xd_format *format;
  const char *default_name;     /* the image's file name: "disk.vhd" */
  const char *const *types;     /* create-type= values, NULL-terminated */
  bool differencing;            /* the create op takes a parent */
};

extern int fz_write_run (const struct fz_write_target *t,
                         const uint8_t *data, size_t size);

#endif /* XDISK_FUZZ_H */
