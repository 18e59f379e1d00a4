/* xdisk: qcow2 headers, header extensions, L1 tables and snapshot
 * tables.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2/qcow2.h"
#include "include/xd-bytes.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define bad(fmt, ...)                                           \
  do {                                                          \
    xd_error ("%s: " fmt, name, ##__VA_ARGS__);                 \
    errno = EIO;                                                \
    return -1;                                                  \
  } while (0)

const char *
qcow2_compression_name (enum qcow2_compression c)
{
  return c == QCOW2_ZSTD ? "zstd" : "zlib";
}

const char *
qcow2_feature_name (const struct qcow2_header *h, unsigned type,
                    unsigned bit)
{
  size_t i;

  for (i = 0; i < h->nr_features; i++)
    if (h->features[i].type == type && h->features[i].bit == bit)
      return h->features[i].name;
  return NULL;
}

uint64_t
qcow2_l1_entries_needed (const struct qcow2_header *h, uint64_t size)
{
  unsigned shift = h->cluster_bits + h->l2_bits;

  return (size >> shift) + ((size & ((UINT64_C (1) << shift) - 1)) != 0);
}

/* ---- the fixed header ---- */

static int
parse_fixed (const uint8_t *buf, size_t len, const char *name,
             struct qcow2_header *h)
{
  if (len < QCOW2_V2_HEADER || xd_be32 (buf) != QCOW2_MAGIC)
    bad ("bad magic: not a qcow2 image");
  h->version = xd_be32 (buf + 4);
  if (h->version != 2 && h->version != 3)
    bad ("qcow2 version %" PRIu32 " is not supported (only 2 and 3)",
         h->version);
  h->cluster_bits = xd_be32 (buf + 20);
  h->size = xd_be64 (buf + 24);
  h->crypt_method = xd_be32 (buf + 32);
  h->l1_size = xd_be32 (buf + 36);
  h->l1_offset = xd_be64 (buf + 40);
  h->refcount_table_offset = xd_be64 (buf + 48);
  h->refcount_table_clusters = xd_be32 (buf + 56);
  h->nb_snapshots = xd_be32 (buf + 60);
  h->snapshots_offset = xd_be64 (buf + 64);
  h->refcount_order = 4;
  h->header_length = QCOW2_V2_HEADER;
  if (h->version == 2)
    return 0;
  if (len < QCOW2_V3_HEADER)
    bad ("qcow2 version 3 header is truncated (%zu bytes)", len);
  h->incompatible = xd_be64 (buf + 72);
  h->compatible = xd_be64 (buf + 80);
  h->autoclear = xd_be64 (buf + 88);
  h->refcount_order = xd_be32 (buf + 96);
  h->header_length = xd_be32 (buf + 100);
  if (h->header_length < QCOW2_V3_HEADER || h->header_length % 8 != 0)
    bad ("header_length %" PRIu32 " is invalid (at least %d, a multiple "
         "of 8)", h->header_length, QCOW2_V3_HEADER);
  return 0;
}

static int
check_geometry (const char *name, uint64_t file_size, struct qcow2_header *h)
{
  if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
      h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
    bad ("cluster_bits %" PRIu32 " is out of range (%d to %d)",
         h->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
  h->cluster_size = UINT64_C (1) << h->cluster_bits;
  if (h->header_length > h->cluster_size)
    bad ("header_length %" PRIu32 " is larger than a cluster (%" PRIu64 ")",
         h->header_length, h->cluster_size);
  if (h->size > QCOW2_MAX_SIZE)
    bad ("virtual size %" PRIu64 " is too large", h->size);
  if (h->refcount_order > 6)
    bad ("refcount_order %" PRIu32 " is out of range (0 to 6)",
         h->refcount_order);
  if (h->refcount_table_offset & (h->cluster_size - 1))
    bad ("refcount_table_offset %" PRIu64 " is not cluster-aligned",
         h->refcount_table_offset);
  if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
    bad ("nb_snapshots %" PRIu32 " is larger than the limit %d",
         h->nb_snapshots, QCOW2_MAX_SNAPSHOTS);
  if (h->nb_snapshots && (h->snapshots_offset & (h->cluster_size - 1)))
    bad ("snapshots_offset %" PRIu64 " is not cluster-aligned",
         h->snapshots_offset);
  if (h->nb_snapshots && h->snapshots_offset >= file_size)
    bad ("snapshots_offset %" PRIu64 " is beyond the end of the file "
         "(size %" PRIu64 ")", h->snapshots_offset, file_size);
  h->extended_l2 = (h->incompatible & QCOW2_INCOMPAT_EXTL2) != 0;
  if (h->extended_l2 && h->cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
    bad ("extended L2 entries need clusters of at least %d bytes "
         "(cluster_bits %" PRIu32 ")", 1 << QCOW2_EXTL2_MIN_CLUSTER_BITS,
         h->cluster_bits);
  h->l2_entry_bytes = h->extended_l2 ? 16 : 8;
  h->l2_bits = h->cluster_bits - (h->extended_l2 ? 4 : 3);
  h->subcluster_bits = h->cluster_bits - (h->extended_l2 ? 5 : 0);
  return 0;
}

/* Name the incompatible feature bits in MASK into BUF. */
static void
name_bits (const struct qcow2_header *h, uint64_t mask, char *buf,
           size_t size)
{
  size_t used = 0;
  unsigned bit;
  const char *n;
  int r;

  buf[0] = '\0';
  for (bit = 0; bit < 64 && used < size; bit++) {
    if (!(mask & (UINT64_C (1) << bit)))
      continue;
    n = qcow2_feature_name (h, 0, bit);
    if (n)
      r = snprintf (buf + used, size - used, "%sbit %u (\"%s\")",
                    used ? ", " : "", bit, n);
    else
      r = snprintf (buf + used, size - used, "%sbit %u", used ? ", " : "",
                    bit);
    if (r < 0)
      break;
    used += (size_t) r;
  }
}

static int
check_features (const char *name, struct qcow2_header *h)
{
  char names[512];
  uint64_t unknown = h->incompatible & ~QCOW2_INCOMPAT_KNOWN;

  if (h->crypt_method != 0) {
    xd_error ("%s: the image is encrypted (crypt_method %" PRIu32 ", %s): "
              "encrypted qcow2 images are not supported; decrypt it with "
              "qemu-img convert", name, h->crypt_method,
              h->crypt_method == 1 ? "AES" :
              h->crypt_method == 2 ? "LUKS" : "unknown method");
    errno = ENOTSUP;
    return -1;
  }
  if (unknown) {
    name_bits (h, unknown, names, sizeof names);
    xd_error ("%s: the image uses incompatible features this plugin does "
              "not know: %s", name, names);
    errno = ENOTSUP;
    return -1;
  }
  if (h->compression != QCOW2_ZLIB && h->compression != QCOW2_ZSTD)
    bad ("unknown compression type %d", (int) h->compression);
  if ((h->incompatible & QCOW2_INCOMPAT_COMPRESSION) &&
      h->compression == QCOW2_ZLIB)
    bad ("the compression type feature bit is set but compression_type "
         "is zlib");
  if (!(h->incompatible & QCOW2_INCOMPAT_COMPRESSION) &&
      h->compression != QCOW2_ZLIB)
    bad ("compression_type %d needs the compression type feature bit",
         (int) h->compression);
  if ((h->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW) &&
      !(h->incompatible & QCOW2_INCOMPAT_DATA_FILE))
    xd_debug ("%s: the raw data file bit is set without a data file",
              name);
  return 0;
}

/* ---- header extensions ---- */

/* A string extension's data (not NUL-terminated) as a C string. */
static int
ext_string (const char *name, const uint8_t *data, uint32_t len,
            size_t max, const char *what, char **out)
{
  if (*out != NULL)
    bad ("the %s header extension appears twice", what);
  if (len == 0 || len > max)
    bad ("the %s header extension has length %" PRIu32 " (1 to %zu)",
         what, len, max);
  if (memchr (data, '\0', len) != NULL)
    bad ("the %s header extension contains a NUL byte", what);
  *out = strndup ((const char *) data, len);
  if (*out == NULL)
    return -1;
  return 0;
}

static int
ext_features (const char *name, const uint8_t *data, uint32_t len,
              struct qcow2_header *h)
{
  size_t i, n = len / QCOW2_FEATURE_NAME_ENTRY;

  if (h->features != NULL)
    bad ("the feature name table appears twice");
  if (len % QCOW2_FEATURE_NAME_ENTRY != 0)
    bad ("feature name table length %" PRIu32 " is not a multiple of %d",
         len, QCOW2_FEATURE_NAME_ENTRY);
  h->features = calloc (n ? n : 1, sizeof *h->features);
  if (h->features == NULL)
    return -1;
  h->nr_features = n;
  for (i = 0; i < n; i++) {
    const uint8_t *e = data + i * QCOW2_FEATURE_NAME_ENTRY;
    h->features[i].type = e[0];
    h->features[i].bit = e[1];
    memcpy (h->features[i].name, e + 2, QCOW2_FEATURE_NAME_ENTRY - 2);
  }
  return 0;
}

static int
ext_crypto (const char *name, const uint8_t *data, uint32_t len,
            struct qcow2_header *h)
{
  if (len != 16)
    bad ("the encryption header extension has length %" PRIu32
         " (expected 16)", len);
  h->has_crypto_ext = true;
  h->crypto_offset = xd_be64 (data);
  h->crypto_length = xd_be64 (data + 8);
  return 0;
}

static int
parse_extension (const char *name, uint32_t type, const uint8_t *data,
                 uint32_t len, struct qcow2_header *h)
{
  switch (type) {
  case QCOW2_EXT_BACKING_FORMAT:
    return ext_string (name, data, len, QCOW2_MAX_FORMAT_NAME,
                       "backing format", &h->backing_format);
  case QCOW2_EXT_DATA_FILE:
    return ext_string (name, data, len, QCOW2_MAX_DATA_FILE_NAME,
                       "external data file", &h->data_file);
  case QCOW2_EXT_FEATURE_NAMES:
    return ext_features (name, data, len, h);
  case QCOW2_EXT_CRYPTO:
    return ext_crypto (name, data, len, h);
  case QCOW2_EXT_BITMAPS:
    h->has_bitmaps_ext = true;  /* persistent dirty bitmaps: not ours */
    return 0;
  default:
    xd_debug ("%s: ignoring unknown header extension 0x%08" PRIx32
              " (%" PRIu32 " bytes)", name, type, len);
    return 0;
  }
}

/* The extensions run from header_length to the backing file name, or
 * to the end of the first cluster; END is that bound.
 */
static int
parse_extensions (const uint8_t *buf, uint64_t end, const char *name,
                  struct qcow2_header *h)
{
  uint64_t pos = h->header_length, next;
  uint32_t type, len;

  while (pos < end) {
    if (end - pos < 8)
      bad ("header extension at offset %" PRIu64 " is truncated", pos);
    type = xd_be32 (buf + pos);
    len = xd_be32 (buf + pos + 4);
    if (type == QCOW2_EXT_END)
      return 0;
    if (len > end - pos - 8)
      bad ("header extension 0x%08" PRIx32 " at offset %" PRIu64 " has "
           "length %" PRIu32 ", beyond the end of the header area "
           "(%" PRIu64 ")", type, pos, len, end);
    if (parse_extension (name, type, buf + pos + 8, len, h) == -1)
      return -1;
    next = pos + 8 + ((uint64_t) len + 7) / 8 * 8;
    pos = next;
  }
  return 0;
}

static int
parse_backing (const uint8_t *buf, size_t len, const char *name,
               struct qcow2_header *h, uint64_t off, uint32_t size)
{
  if (off == 0)
    return 0;
  if (size == 0 || size > QCOW2_MAX_BACKING_NAME)
    bad ("backing_file_size %" PRIu32 " is out of range (1 to %d)", size,
         QCOW2_MAX_BACKING_NAME);
  if (off < h->header_length || off > h->cluster_size ||
      size > h->cluster_size - off)
    bad ("the backing file name (offset %" PRIu64 ", %" PRIu32 " bytes) "
         "is not inside the first cluster after the header", off, size);
  if (off + size > len)
    bad ("the backing file name (offset %" PRIu64 ", %" PRIu32 " bytes) "
         "is beyond the end of the file", off, size);
  if (memchr (buf + off, '\0', size) != NULL)
    bad ("the backing file name contains a NUL byte");
  h->backing_file = strndup ((const char *) buf + off, size);
  if (h->backing_file == NULL)
    return -1;
  return 0;
}

static int
parse_l1_place (const char *name, uint64_t file_size, struct qcow2_header *h)
{
  return qcow2_check_l1 (h, name, file_size, h->l1_offset, h->l1_size,
                         h->size, "active L1 table");
}

int
qcow2_parse_header (const uint8_t *buf, size_t len, uint64_t file_size,
                    const char *name, struct qcow2_header *h)
{
  uint64_t backing_off, ext_end;
  uint32_t backing_size;

  memset (h, 0, sizeof *h);
  if (parse_fixed (buf, len, name, h) == -1)
    return -1;
  if (h->header_length > 104 && len > 104)
    h->compression = buf[104];
  if (check_geometry (name, file_size, h) == -1)
    goto fail;
  if (h->header_length > len)
    bad ("header_length %" PRIu32 " is beyond the end of the file",
         h->header_length);
  backing_off = xd_be64 (buf + 8);
  backing_size = xd_be32 (buf + 16);
  ext_end = xd_min_u64 (h->cluster_size, len);
  if (backing_off != 0 && backing_off < ext_end)
    ext_end = backing_off;
  if (parse_extensions (buf, ext_end, name, h) == -1 ||
      check_features (name, h) == -1 ||
      parse_backing (buf, len, name, h, backing_off, backing_size) == -1 ||
      parse_l1_place (name, file_size, h) == -1)
    goto fail;
  if ((h->incompatible & QCOW2_INCOMPAT_DATA_FILE) == 0 && h->data_file) {
    xd_debug ("%s: ignoring a data file name without the data file bit",
              name);
    free (h->data_file);
    h->data_file = NULL;
  }
  return 0;

 fail:
  qcow2_header_free (h);
  return -1;
}

int
qcow2_read_header (struct xd_io *io, struct qcow2_header *h)
{
  uint8_t head[QCOW2_V3_HEADER];
  uint8_t *buf;
  size_t len;
  uint32_t bits;
  int r;

  len = xd_min_u64 (io->size, sizeof head);
  if (len < QCOW2_V2_HEADER) {
    xd_error ("%s: file too short for a qcow2 header (%" PRIu64 " bytes)",
              io->name, io->size);
    errno = EIO;
    return -1;
  }
  if (xd_io_read (io, head, len, 0, "qcow2 header") == -1)
    return -1;
  bits = xd_be32 (head + 20);
  if (xd_be32 (head) != QCOW2_MAGIC || bits < QCOW2_MIN_CLUSTER_BITS ||
      bits > QCOW2_MAX_CLUSTER_BITS)
    return qcow2_parse_header (head, len, io->size, io->name, h);
  /* The whole first cluster: extensions and the backing name. */
  len = xd_min_u64 (io->size, UINT64_C (1) << bits);
  buf = malloc (len);
  if (buf == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return -1;
  }
  r = xd_io_read (io, buf, len, 0, "qcow2 header cluster");
  if (r == 0)
    r = qcow2_parse_header (buf, len, io->size, io->name, h);
  free (buf);
  return r;
}

void
qcow2_header_free (struct qcow2_header *h)
{
  free (h->backing_file);
  free (h->backing_format);
  free (h->data_file);
  free (h->features);
  h->backing_file = h->backing_format = h->data_file = NULL;
  h->features = NULL;
  h->nr_features = 0;
}

/* ---- L1 tables ---- */

int
qcow2_check_l1 (const struct qcow2_header *h, const char *name,
                uint64_t file_size, uint64_t offset, uint64_t entries,
                uint64_t disk_size, const char *what)
{
  uint64_t needed = qcow2_l1_entries_needed (h, disk_size);
  uint64_t bytes = entries * 8;         /* entries < 2^32 */

  if (entries < needed)
    bad ("%s has %" PRIu64 " entries, too few for a disk of %" PRIu64
         " bytes (needs %" PRIu64 ")", what, entries, disk_size, needed);
  if (bytes > QCOW2_MAX_L1_BYTES)
    bad ("%s has %" PRIu64 " entries, more than the limit of %u bytes",
         what, entries, QCOW2_MAX_L1_BYTES);
  if (entries == 0)
    return 0;
  if (offset & (h->cluster_size - 1))
    bad ("%s offset %" PRIu64 " is not cluster-aligned", what, offset);
  if (offset == 0 || offset > file_size || bytes > file_size - offset)
    bad ("%s (offset %" PRIu64 ", %" PRIu64 " entries) is not inside the "
         "file (size %" PRIu64 ")", what, offset, entries, file_size);
  return 0;
}

int
qcow2_load_l1 (struct xd_io *io, const struct qcow2_header *h,
               uint64_t offset, uint32_t entries, uint64_t **l1p)
{
  const char *name = io->name;
  uint64_t *l1, off;
  uint32_t i;

  l1 = calloc (entries ? entries : 1, sizeof *l1);
  if (l1 == NULL) {
    xd_error ("%s: malloc: %m", name);
    return -1;
  }
  if (entries &&
      xd_io_read (io, l1, (size_t) entries * 8, offset, "L1 table") == -1) {
    free (l1);
    return -1;
  }
  for (i = 0; i < entries; i++) {
    off = be64toh (l1[i]) & QCOW2_OFFSET_MASK;
    l1[i] = off;
    if (off == 0)
      continue;
    if (off & (h->cluster_size - 1) ||
        !xd_io_contains (io, off, h->cluster_size)) {
      xd_error ("%s: L1 entry %" PRIu32 ": L2 table offset %" PRIu64
                " is %s", name, i, off,
                off & (h->cluster_size - 1) ? "not cluster-aligned"
                : "beyond the end of the file");
      free (l1);
      errno = EIO;
      return -1;
    }
  }
  *l1p = l1;
  return 0;
}

/* ---- compressed clusters ---- */

void
qcow2_compressed_range (const struct qcow2_header *h, uint64_t entry,
                        uint64_t *offset, uint64_t *length)
{
  unsigned x = 62 - (h->cluster_bits - 8);
  uint64_t sectors;

  *offset = entry & ((UINT64_C (1) << x) - 1);
  sectors = (entry >> x) & ((UINT64_C (1) << (h->cluster_bits - 8)) - 1);
  *length = (sectors + 1) * 512 - (*offset & 511);
}

/* ---- snapshots ---- */

const struct qcow2_snapshot *
qcow2_find_snapshot (const struct qcow2_snapshot *snaps, size_t n,
                     const char *key)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp (snaps[i].id, key) == 0)
      return &snaps[i];
  for (i = 0; i < n; i++)
    if (strcmp (snaps[i].name, key) == 0)
      return &snaps[i];
  return NULL;
}

void
qcow2_snapshots_free (struct qcow2_snapshot *snaps, size_t n)
{
  size_t i;

  for (i = 0; snaps && i < n; i++) {
    free (snaps[i].id);
    free (snaps[i].name);
  }
  free (snaps);
}

/* Read the snapshot entry at *POS of IO, advancing *POS past it. */
static int
read_snapshot (struct xd_io *io, const struct qcow2_header *h,
               uint64_t *pos, uint32_t index, struct qcow2_snapshot *s)
{
  const char *name = io->name;
  uint8_t e[40], *var;
  uint64_t need, extra;
  uint16_t id_len, name_len;
  char what[64];

  snprintf (what, sizeof what, "snapshot table entry %" PRIu32, index);
  if (xd_io_read (io, e, sizeof e, *pos, what) == -1)
    return -1;
  s->l1_offset = xd_be64 (e);
  s->l1_size = xd_be32 (e + 8);
  id_len = xd_be16 (e + 12);
  name_len = xd_be16 (e + 14);
  s->date_sec = xd_be32 (e + 16);
  s->date_nsec = xd_be32 (e + 20);
  s->vm_clock_nsec = xd_be64 (e + 24);
  s->vm_state_size = xd_be32 (e + 32);
  extra = xd_be32 (e + 36);
  if (extra > QCOW2_SNAPSHOT_MAX_EXTRA)
    bad ("snapshot table entry %" PRIu32 ": extra data size %" PRIu64
         " is too large (limit %d)", index, extra, QCOW2_SNAPSHOT_MAX_EXTRA);
  need = extra + id_len + name_len;
  var = malloc (need + 1);
  if (var == NULL)
    return -1;
  if (xd_io_read (io, var, need, *pos + 40, what) == -1) {
    free (var);
    return -1;
  }
  s->disk_size = h->size;
  if (extra >= 8)
    s->vm_state_size = xd_be64 (var);
  if (extra >= 16)
    s->disk_size = xd_be64 (var + 8);
  s->id = strndup ((const char *) var + extra, id_len);
  s->name = strndup ((const char *) var + extra + id_len, name_len);
  free (var);
  if (s->id == NULL || s->name == NULL)
    return -1;
  if (s->disk_size > QCOW2_MAX_SIZE)
    bad ("snapshot %s: disk size %" PRIu64 " is too large", s->id,
         s->disk_size);
  *pos += (40 + need + 7) / 8 * 8;
  return 0;
}

int
qcow2_read_snapshots (struct xd_io *io, const struct qcow2_header *h,
                      struct qcow2_snapshot **snapsp)
{
  struct qcow2_snapshot *snaps;
  uint64_t pos = h->snapshots_offset;
  uint32_t i;

  *snapsp = NULL;
  if (h->nb_snapshots == 0)
    return 0;
  snaps = calloc (h->nb_snapshots, sizeof *snaps);
  if (snaps == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return -1;
  }
  for (i = 0; i < h->nb_snapshots; i++) {
    if (read_snapshot (io, h, &pos, i, &snaps[i]) == -1) {
      qcow2_snapshots_free (snaps, h->nb_snapshots);
      if (errno != ENOMEM)
        errno = EIO;
      return -1;
    }
  }
  *snapsp = snaps;
  return 0;
}
