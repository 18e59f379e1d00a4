/* xdisk: qcow2 metadata parsing (qemu docs/interop/qcow2.txt).
 *
 * The header (versions 2 and 3), its extensions, the feature name table
 * and the snapshot table are read and checked here; the cluster map
 * (L1 and L2 tables) is walked by qcow2-read.c.  All numbers in qcow2
 * are big-endian.  Everything here is nbdkit-free.
 */
#ifndef XDISK_QCOW2_H
#define XDISK_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-driver.h"
#include "io/xd-io.h"

#define QCOW2_MAGIC 0x514649fbU         /* "QFI\xfb" read as be32 */
#define QCOW2_V2_HEADER 72
#define QCOW2_V3_HEADER 104
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21       /* 2 MiB, qemu's limit */
#define QCOW2_EXTL2_MIN_CLUSTER_BITS 14
/* qemu's limits on the tables, which we share: a bigger table is a
 * corrupt header, not a disk anyone made.
 */
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_FORMAT_NAME 63
#define QCOW2_MAX_DATA_FILE_NAME 4096
#define QCOW2_SNAPSHOT_MAX_EXTRA 1024
/* Virtual sizes above this are refused: offsets computed from them must
 * not wrap (qemu's limit is lower still).
 */
#define QCOW2_MAX_SIZE (UINT64_C (1) << 62)

/* incompatible_features */
#define QCOW2_INCOMPAT_DIRTY (UINT64_C (1) << 0)
#define QCOW2_INCOMPAT_CORRUPT (UINT64_C (1) << 1)
#define QCOW2_INCOMPAT_DATA_FILE (UINT64_C (1) << 2)
#define QCOW2_INCOMPAT_COMPRESSION (UINT64_C (1) << 3)
#define QCOW2_INCOMPAT_EXTL2 (UINT64_C (1) << 4)
#define QCOW2_INCOMPAT_KNOWN (UINT64_C (0x1f))
/* compatible_features */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (UINT64_C (1) << 0)
/* autoclear_features */
#define QCOW2_AUTOCLEAR_BITMAPS (UINT64_C (1) << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (UINT64_C (1) << 1)

/* Header extension types. */
#define QCOW2_EXT_END 0x00000000U
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU
#define QCOW2_EXT_FEATURE_NAMES 0x6803f857U
#define QCOW2_EXT_BITMAPS 0x23852875U
#define QCOW2_EXT_CRYPTO 0x0537be77U
#define QCOW2_EXT_DATA_FILE 0x44415441U
#define QCOW2_FEATURE_NAME_ENTRY 48

enum qcow2_compression { QCOW2_ZLIB = 0, QCOW2_ZSTD = 1 };

/* L1, L2 and refcount table entries. */
#define QCOW2_OFFSET_MASK UINT64_C (0x00fffffffffffe00)
#define QCOW2_COPIED (UINT64_C (1) << 63)
#define QCOW2_COMPRESSED (UINT64_C (1) << 62)
#define QCOW2_ZERO_FLAG UINT64_C (1)
#define QCOW2_SUBCLUSTERS 32

/* A feature name table entry: TYPE 0 incompatible, 1 compatible, 2
 * autoclear.
 */
struct qcow2_feature_name {
  uint8_t type, bit;
  char name[QCOW2_FEATURE_NAME_ENTRY - 2 + 1];
};

struct qcow2_header {
  uint32_t version;
  uint32_t cluster_bits;
  uint64_t cluster_size;
  uint64_t size;                /* virtual size, bytes */
  uint32_t crypt_method;
  uint32_t l1_size;
  uint64_t l1_offset;
  uint64_t refcount_table_offset;
  uint32_t refcount_table_clusters;
  uint32_t nb_snapshots;
  uint64_t snapshots_offset;
  uint64_t incompatible, compatible, autoclear;
  uint32_t refcount_order;
  uint32_t header_length;
  enum qcow2_compression compression;

  char *backing_file;           /* NULL if none */
  char *backing_format;         /* from the extension, or NULL */
  char *data_file;              /* external data file name, or NULL */
  bool has_crypto_ext;
  uint64_t crypto_offset, crypto_length;
  bool has_bitmaps_ext;
  struct qcow2_feature_name *features;
  size_t nr_features;

  /* Derived. */
  bool extended_l2;
  uint32_t l2_entry_bytes;      /* 8, or 16 with extended L2 entries */
  uint32_t l2_bits;             /* log2 of entries per L2 table */
  uint32_t subcluster_bits;     /* log2 of the subcluster size */
};

/* Parse the header in BUF, the first LEN bytes of the file NAME, which
 * holds FILE_SIZE bytes.  BUF must hold the whole first cluster, or the
 * whole file if it is shorter.  Checks every field (offsets and sizes
 * against FILE_SIZE, alignment, overflow), refuses encryption and
 * unknown incompatible features with a message naming them, and reads
 * the header extensions and the backing file name.  Returns 0, or -1
 * with errno EIO (ENOTSUP for a valid image using a feature we do not
 * read) after reporting "NAME: ...".
 */
extern int qcow2_parse_header (const uint8_t *buf, size_t len,
                               uint64_t file_size, const char *name,
                               struct qcow2_header *h);
/* Read the first cluster of IO and parse it. */
extern int qcow2_read_header (struct xd_io *io, struct qcow2_header *h);
extern void qcow2_header_free (struct qcow2_header *h);

/* The name the feature name table gives feature BIT of TYPE, or NULL. */
extern const char *qcow2_feature_name (const struct qcow2_header *h,
                                       unsigned type, unsigned bit);

/* Entries of L1 needed to map SIZE (<= QCOW2_MAX_SIZE) bytes. */
extern uint64_t qcow2_l1_entries_needed (const struct qcow2_header *h,
                                         uint64_t size);

struct qcow2_snapshot {
  uint64_t l1_offset;
  uint32_t l1_size;
  char *id, *name;
  uint32_t date_sec, date_nsec;
  uint64_t vm_clock_nsec;
  uint64_t vm_state_size;
  uint64_t disk_size;           /* from the extra data, else the header's */
};

/* Read the snapshot table of IO (H->nb_snapshots entries at
 * H->snapshots_offset), every entry inside the file.  The L1 table of
 * a snapshot is checked (qcow2_check_l1) only when it is served.
 * *SNAPS is malloc'd (NULL when there are none).  Returns 0 or -1.
 */
extern int qcow2_read_snapshots (struct xd_io *io,
                                 const struct qcow2_header *h,
                                 struct qcow2_snapshot **snaps);
extern void qcow2_snapshots_free (struct qcow2_snapshot *snaps, size_t n);

/* The snapshot whose ID is KEY, else the first whose name is KEY (as
 * qemu-img snapshot and convert -l look them up), or NULL.
 */
extern const struct qcow2_snapshot *
qcow2_find_snapshot (const struct qcow2_snapshot *snaps, size_t n,
                     const char *key);

/* Check an L1 table's place: OFFSET cluster-aligned, ENTRIES within
 * QCOW2_MAX_L1_BYTES and the file (FILE_SIZE), and enough entries to
 * map DISK_SIZE bytes (0: do not check).  WHAT names the table.
 */
extern int qcow2_check_l1 (const struct qcow2_header *h, const char *name,
                           uint64_t file_size, uint64_t offset,
                           uint64_t entries, uint64_t disk_size,
                           const char *what);

/* Load the L1 table (ENTRIES entries at OFFSET) into *L1 (malloc'd, host
 * byte order, each masked to its L2 table offset) and check every L2
 * table offset: cluster-aligned and its cluster inside the file.
 */
extern int qcow2_load_l1 (struct xd_io *io, const struct qcow2_header *h,
                          uint64_t offset, uint32_t entries, uint64_t **l1);

/* The host offset and length of the compressed data an L2 ENTRY (with
 * QCOW2_COMPRESSED set) points to.  The length runs to the end of its
 * last sector; the stream may end before it.
 */
extern void qcow2_compressed_range (const struct qcow2_header *h,
                                    uint64_t entry, uint64_t *offset,
                                    uint64_t *length);

extern const char *qcow2_compression_name (enum qcow2_compression c);

/* ---- qcow2-read.c: the reader's operations, composed into
 * xd_format_qcow2 by qcow2-format.c (not an interface for other code) ----
 */

struct xd_open_opts;
struct xd_resolver;

extern void *qcow2_open (struct xd_io *io, const struct xd_resolver *res,
                         const struct xd_open_opts *opts);
extern void qcow2_close (void *hv);
extern uint64_t qcow2_size (void *hv);
extern uint32_t qcow2_preferred_block (void *hv);
extern int qcow2_pread (void *hv, void *bufv, uint32_t count,
                        uint64_t offset);
extern int qcow2_extents (void *hv, uint32_t count, uint64_t offset,
                          bool req_one, xd_extent_fn add, void *opaque);
extern char *qcow2_describe (void *hv);

#endif /* XDISK_QCOW2_H */
