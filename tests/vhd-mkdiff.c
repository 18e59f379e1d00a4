/* xdisk tests: make differencing VHD children and write patterns in them.
 *
 *   vhd-mkdiff vhd CHILD PARENT [--block-size N] [--locator w2ru|w2ku|macx|all]
 *                               [--parent-name NAME] [--bad-parent-id]
 *   vhd-mkdiff vhdx CHILD PARENT [--block-size N] [--logical-sector 512|4096]
 *                                [--parent-name NAME] [--bad-linkage]
 *   vhd-mkdiff write CHILD OFFSET LENGTH BYTE [--fill-from RAW]
 *   vhd-mkdiff set-creator FILE CREATOR     (4 chars; footer checksum fixed)
 *   vhd-mkdiff fix-footer FILE              (recompute the footer checksum)
 *   vhd-mkdiff fix-dyn-header FILE          (recompute its checksum)
 *   vhd-mkdiff poke FILE OFFSET BE32        (store a big-endian u32)
 *   vhd-mkdiff vhdx-poke FILE REGION OFFSET LE32|LE64:N
 *           store a little-endian value at OFFSET of the VHDX region or
 *           metadata item REGION (bat, metadata, block-size,
 *           logical-sector, virtual-size) found through the first region
 *           table; LE64:N stores a 64-bit N.
 *   vhd-mkdiff fix-crc FILE OFFSET LENGTH   (VHDX: CRC-32C at OFFSET+4)
 *
 * Written from the Microsoft "Virtual Hard Disk Image Format
 * Specification" (2006).  "write" allocates blocks at the end of the
 * file and sets the sector bitmap bit of every sector it touches; the
 * untouched bytes of a partly written sector that was not yet present
 * come from RAW (--fill-from: the expected decoding of the parent at that
 * offset) or are zero, so that tests can compute what must be served.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "include/xd-bytes.h"
#include "core/xd-checksum.h"
#include "include/xd-math.h"

#define FOOTER 512
#define SECTOR 512
#define DYN_HEADER 1024
#define LOCATOR_SPACE 512       /* bytes reserved for each locator */
#define VHD_EPOCH 946684800     /* 2000-01-01 00:00:00 UTC */

static void __attribute__ ((noreturn, format (printf, 1, 2)))
die (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  fprintf (stderr, "vhd-mkdiff: ");
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
  va_end (ap);
  exit (EXIT_FAILURE);
}

static void
pread_all (int fd, void *buf, size_t len, uint64_t off, const char *what)
{
  ssize_t r = pread (fd, buf, len, off);

  if (r == -1)
    die ("reading %s at %" PRIu64 ": %m", what, off);
  if ((size_t) r != len)
    die ("%s at %" PRIu64 " is beyond the end of the file", what, off);
}

static void
pwrite_all (int fd, const void *buf, size_t len, uint64_t off)
{
  if (pwrite (fd, buf, len, off) != (ssize_t) len)
    die ("writing %zu bytes at %" PRIu64 ": %m", len, off);
}

static uint64_t
file_size (int fd)
{
  struct stat st;

  if (fstat (fd, &st) == -1)
    die ("fstat: %m");
  return st.st_size;
}

static uint64_t
parse_u64 (const char *s, const char *what)
{
  char *end;
  uint64_t v;

  errno = 0;
  v = strtoull (s, &end, 0);
  if (errno || end == s)
    die ("%s: cannot parse '%s'", what, s);
  /* Size suffixes K and M (powers of 1024), as qemu-img accepts. */
  if ((*end == 'K' || *end == 'M') && end[1] == '\0') {
    if (xd_mul_overflow (v, *end == 'K' ? 1024 : 1024 * 1024, &v))
      die ("%s: '%s' is too large", what, s);
  }
  else if (*end)
    die ("%s: cannot parse '%s'", what, s);
  return v;
}

/* One's complement of the byte sum, the checksum field counted as 0. */
static uint32_t
vhd_sum (const uint8_t *buf, size_t len, size_t field)
{
  uint32_t sum = 0;
  size_t i;

  for (i = 0; i < len; i++)
    if (i < field || i >= field + 4)
      sum += buf[i];
  return ~sum;
}

/* Store the ASCII/UTF-8 text S as UTF-16 (BE or LE) in OUT (MAX bytes).
 * Non-ASCII bytes are stored as they are: test names are ASCII.
 */
static size_t
put_utf16 (uint8_t *out, size_t max, const char *s, bool big_endian)
{
  size_t n = strlen (s), i;

  if (2 * n > max)
    die ("name '%s' is too long for its field", s);
  for (i = 0; i < n; i++) {
    out[2 * i + (big_endian ? 0 : 1)] = 0;
    out[2 * i + (big_endian ? 1 : 0)] = (uint8_t) s[i];
  }
  return 2 * n;
}

static void
random_bytes (uint8_t *p, size_t n)
{
  static unsigned seed;
  size_t i;

  if (seed == 0)
    seed = time (NULL) ^ getpid ();
  for (i = 0; i < n; i++)
    p[i] = rand_r (&seed);
}

static void
fix_footer (uint8_t *footer)
{
  xd_put_be32 (footer + 64, vhd_sum (footer, FOOTER, 64));
}

/* ---- vhd: create a differencing child ---- */

struct locator {
  const char *code;             /* platform code */
  char text[PATH_MAX + 16];     /* what is stored */
  bool utf16;
};

static size_t
choose_locators (const char *which, const char *parent,
                 const char *name, struct locator *l)
{
  char abs[PATH_MAX];
  const char *base = strrchr (parent, '/') ? strrchr (parent, '/') + 1
                                           : parent;
  size_t n = 0;
  bool all = strcmp (which, "all") == 0;

  if (realpath (parent, abs) == NULL)
    die ("%s: %m", parent);
  if (all || strcmp (which, "w2ru") == 0) {
    l[n].code = "W2ru";
    l[n].utf16 = true;
    snprintf (l[n++].text, sizeof l->text, "%s%s", name ? "" : ".\\",
              name ? name : base);
  }
  if (all || strcmp (which, "w2ku") == 0) {
    l[n].code = "W2ku";
    l[n].utf16 = true;
    snprintf (l[n++].text, sizeof l->text, "%s", name ? name : abs);
  }
  if (all || strcmp (which, "macx") == 0) {
    l[n].code = "MacX";
    l[n].utf16 = false;
    snprintf (l[n++].text, sizeof l->text, "file://%s", name ? name : abs);
  }
  if (n == 0)
    die ("unknown --locator '%s' (w2ru, w2ku, macx or all)", which);
  return n;
}

static void
make_vhd_child (int argc, char **argv)
{
  const char *child = argv[2], *parent = argv[3];
  const char *which = "all", *name = NULL;
  uint32_t block_size = 2 << 20;
  bool bad_id = false;
  uint8_t pfooter[FOOTER], footer[FOOTER], dyn[DYN_HEADER];
  struct locator loc[3];
  size_t nloc, i;
  uint64_t size, entries, bat_off, bat_len, off;
  int pfd, fd;

  for (i = 4; i < (size_t) argc; i++) {
    if (strcmp (argv[i], "--block-size") == 0 && i + 1 < (size_t) argc)
      block_size = parse_u64 (argv[++i], "--block-size");
    else if (strcmp (argv[i], "--locator") == 0 && i + 1 < (size_t) argc)
      which = argv[++i];
    else if (strcmp (argv[i], "--parent-name") == 0 && i + 1 < (size_t) argc)
      name = argv[++i];
    else if (strcmp (argv[i], "--bad-parent-id") == 0)
      bad_id = true;
    else
      die ("unknown option '%s'", argv[i]);
  }
  if (!xd_is_power_of_2 (block_size) || block_size < SECTOR)
    die ("--block-size %" PRIu32 " is not a power of 2 >= 512", block_size);

  pfd = open (parent, O_RDONLY);
  if (pfd == -1)
    die ("%s: %m", parent);
  if (file_size (pfd) < FOOTER)
    die ("%s: too small for a VHD", parent);
  pread_all (pfd, pfooter, FOOTER, file_size (pfd) - FOOTER, "parent footer");
  close (pfd);
  if (memcmp (pfooter, "conectix", 8) != 0)
    die ("%s: no VHD footer at the end", parent);
  size = xd_be64 (pfooter + 48);
  entries = xd_div_round_up (size, block_size);
  if (entries > UINT32_MAX)
    die ("too many blocks");
  nloc = choose_locators (which, parent, name, loc);

  /* Layout: footer copy, dynamic header, locator data, BAT, footer. */
  bat_off = FOOTER + DYN_HEADER + nloc * LOCATOR_SPACE;
  bat_len = (entries * 4 + SECTOR - 1) / SECTOR * SECTOR;

  memset (footer, 0, sizeof footer);
  memcpy (footer, "conectix", 8);
  xd_put_be32 (footer + 8, 2);                  /* features: reserved */
  xd_put_be32 (footer + 12, 0x00010000);        /* format version */
  xd_put_be64 (footer + 16, FOOTER);            /* dynamic header */
  xd_put_be32 (footer + 24, time (NULL) - VHD_EPOCH);
  memcpy (footer + 28, "xdtt", 4);
  xd_put_be32 (footer + 32, 0x00010000);
  memcpy (footer + 36, "Wi2k", 4);
  xd_put_be64 (footer + 40, size);
  xd_put_be64 (footer + 48, size);
  memcpy (footer + 56, pfooter + 56, 4);        /* geometry */
  xd_put_be32 (footer + 60, 4);                 /* differencing */
  random_bytes (footer + 68, 16);
  fix_footer (footer);

  memset (dyn, 0, sizeof dyn);
  memcpy (dyn, "cxsparse", 8);
  xd_put_be64 (dyn + 8, UINT64_MAX);
  xd_put_be64 (dyn + 16, bat_off);
  xd_put_be32 (dyn + 24, 0x00010000);
  xd_put_be32 (dyn + 28, entries);
  xd_put_be32 (dyn + 32, block_size);
  memcpy (dyn + 40, pfooter + 68, 16);          /* parent unique ID */
  if (bad_id)
    dyn[40] ^= 0xff;
  memcpy (dyn + 56, pfooter + 24, 4);           /* parent time stamp */
  put_utf16 (dyn + 64, 512,
             name ? name : (strrchr (parent, '/') ? strrchr (parent, '/') + 1
                                                  : parent), true);

  fd = open (child, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd == -1)
    die ("%s: %m", child);
  off = FOOTER + DYN_HEADER;
  for (i = 0; i < nloc; i++, off += LOCATOR_SPACE) {
    uint8_t data[LOCATOR_SPACE] = { 0 };
    uint8_t *e = dyn + 576 + 24 * i;
    size_t len;

    if (loc[i].utf16)
      len = put_utf16 (data, sizeof data, loc[i].text, false);
    else {
      len = strlen (loc[i].text);
      if (len > sizeof data)
        die ("locator '%s' is too long", loc[i].text);
      memcpy (data, loc[i].text, len);
    }
    memcpy (e, loc[i].code, 4);
    /* Windows stores the space in bytes, the spec says sectors; readers
     * accept both, so store bytes as Hyper-V does.
     */
    xd_put_be32 (e + 4, LOCATOR_SPACE);
    xd_put_be32 (e + 8, len);
    xd_put_be64 (e + 16, off);
    pwrite_all (fd, data, sizeof data, off);
  }
  xd_put_be32 (dyn + 36, vhd_sum (dyn, DYN_HEADER, 36));

  pwrite_all (fd, footer, FOOTER, 0);
  pwrite_all (fd, dyn, DYN_HEADER, FOOTER);
  {
    uint8_t *bat = malloc (bat_len);

    if (bat == NULL)
      die ("malloc: %m");
    memset (bat, 0xff, bat_len);
    pwrite_all (fd, bat, bat_len, bat_off);
    free (bat);
  }
  pwrite_all (fd, footer, FOOTER, bat_off + bat_len);
  if (close (fd) == -1)
    die ("%s: %m", child);
}

/* ---- write: store a pattern in a dynamic or differencing VHD ---- */

struct vhd {
  int fd, fill_fd;
  uint8_t footer[FOOTER];
  uint64_t bat_off, size;
  uint32_t entries, block_size, bitmap_len;
};

static void
open_vhd (struct vhd *v, const char *file)
{
  uint8_t dyn[DYN_HEADER];

  v->fd = open (file, O_RDWR);
  if (v->fd == -1)
    die ("%s: %m", file);
  pread_all (v->fd, v->footer, FOOTER, file_size (v->fd) - FOOTER, "footer");
  if (memcmp (v->footer, "conectix", 8) != 0)
    die ("%s: no VHD footer", file);
  if (xd_be32 (v->footer + 60) != 3 && xd_be32 (v->footer + 60) != 4)
    die ("%s: not a dynamic or differencing VHD", file);
  v->size = xd_be64 (v->footer + 48);
  pread_all (v->fd, dyn, DYN_HEADER, xd_be64 (v->footer + 16),
             "dynamic header");
  v->bat_off = xd_be64 (dyn + 16);
  v->entries = xd_be32 (dyn + 28);
  v->block_size = xd_be32 (dyn + 32);
  if (!xd_is_power_of_2 (v->block_size) || v->block_size < SECTOR)
    die ("%s: bad block size", file);
  v->bitmap_len = (v->block_size / SECTOR / 8 + SECTOR - 1) / SECTOR * SECTOR;
}

/* File offset of block B's bitmap, allocating the block if needed. */
static uint64_t
block_offset (struct vhd *v, uint32_t b)
{
  uint8_t e[4];
  uint64_t end, len;
  uint8_t *zero;

  if (b >= v->entries)
    die ("block %" PRIu32 " is beyond the BAT", b);
  pread_all (v->fd, e, 4, v->bat_off + 4 * (uint64_t) b, "BAT entry");
  if (xd_be32 (e) != 0xFFFFFFFF)
    return (uint64_t) xd_be32 (e) * SECTOR;

  /* New block where the footer was; the footer moves after it. */
  end = file_size (v->fd) - FOOTER;
  if (end % SECTOR || end / SECTOR > UINT32_MAX)
    die ("cannot allocate a block at offset %" PRIu64, end);
  len = v->bitmap_len + (uint64_t) v->block_size;
  zero = calloc (1, len);
  if (zero == NULL)
    die ("calloc: %m");
  pwrite_all (v->fd, zero, len, end);
  free (zero);
  pwrite_all (v->fd, v->footer, FOOTER, end + len);
  xd_put_be32 (e, end / SECTOR);
  pwrite_all (v->fd, e, 4, v->bat_off + 4 * (uint64_t) b);
  return end;
}

/* Write the part [OFF, OFF+LEN) of one sector. */
static void
write_in_sector (struct vhd *v, uint64_t off, uint32_t len, uint8_t byte)
{
  uint32_t b = off / v->block_size;
  uint32_t s = off % v->block_size / SECTOR;
  uint64_t bitmap = block_offset (v, b);
  uint64_t data = bitmap + v->bitmap_len + (uint64_t) s * SECTOR;
  uint8_t bits, sector[SECTOR];

  pread_all (v->fd, &bits, 1, bitmap + s / 8, "sector bitmap");
  if (!(bits & (0x80 >> (s % 8)))) {
    /* Sector not yet present: its other bytes are the parent's. */
    memset (sector, 0, sizeof sector);
    if (v->fill_fd >= 0)
      pread_all (v->fill_fd, sector, SECTOR, off / SECTOR * SECTOR,
                 "--fill-from data");
    pwrite_all (v->fd, sector, SECTOR, data);
    bits |= 0x80 >> (s % 8);
    pwrite_all (v->fd, &bits, 1, bitmap + s / 8);
  }
  memset (sector, byte, len);
  pwrite_all (v->fd, sector, len, data + off % SECTOR);
}

static void vhdx_write_pattern (const char *file, uint64_t off,
                                uint64_t len, uint8_t byte, int fill_fd);

static bool
is_vhdx (const char *file)
{
  char magic[8] = "";
  int fd = open (file, O_RDONLY);

  if (fd == -1)
    die ("%s: %m", file);
  if (pread (fd, magic, 8, 0) == -1)
    die ("%s: %m", file);
  close (fd);
  return memcmp (magic, "vhdxfile", 8) == 0;
}

static void
write_pattern (int argc, char **argv)
{
  struct vhd v = { .fill_fd = -1 };
  uint64_t off, len, end;
  uint8_t byte;

  if (argc < 6)
    die ("usage: write CHILD OFFSET LENGTH BYTE [--fill-from RAW]");
  off = parse_u64 (argv[3], "OFFSET");
  len = parse_u64 (argv[4], "LENGTH");
  byte = parse_u64 (argv[5], "BYTE");
  if (argc == 8 && strcmp (argv[6], "--fill-from") == 0) {
    v.fill_fd = open (argv[7], O_RDONLY);
    if (v.fill_fd == -1)
      die ("%s: %m", argv[7]);
  }
  else if (argc != 6)
    die ("unknown option '%s'", argv[6]);
  if (is_vhdx (argv[2])) {
    vhdx_write_pattern (argv[2], off, len, byte, v.fill_fd);
    return;
  }
  open_vhd (&v, argv[2]);
  if (xd_add_overflow (off, len, &end) || end > v.size)
    die ("write beyond the virtual size %" PRIu64, v.size);
  while (off < end) {
    uint64_t n = xd_min_u64 (end - off, SECTOR - off % SECTOR);

    write_in_sector (&v, off, n, byte);
    off += n;
  }
  if (close (v.fd) == -1)
    die ("close: %m");
}

/* ---- set-creator / fix-footer ---- */

static void
patch_footer (const char *file, const char *creator)
{
  uint8_t footer[FOOTER];
  uint64_t at;
  int fd = open (file, O_RDWR);

  if (fd == -1)
    die ("%s: %m", file);
  at = file_size (fd) - FOOTER;
  pread_all (fd, footer, FOOTER, at, "footer");
  if (creator) {
    if (strlen (creator) > 4)
      die ("creator '%s' is longer than 4 bytes", creator);
    memset (footer + 28, 0, 4);
    memcpy (footer + 28, creator, strlen (creator));
  }
  fix_footer (footer);
  pwrite_all (fd, footer, FOOTER, at);
  /* Dynamic disks: keep the copy at offset 0 the same. */
  if (xd_be32 (footer + 60) != 2)
    pwrite_all (fd, footer, FOOTER, 0);
  if (close (fd) == -1)
    die ("%s: %m", file);
}

static void
fix_dyn_header (const char *file)
{
  uint8_t footer[FOOTER], dyn[DYN_HEADER];
  uint64_t at;
  int fd = open (file, O_RDWR);

  /* Use the footer copy at 0: tests may have damaged the one at the end. */
  if (fd == -1)
    die ("%s: %m", file);
  pread_all (fd, footer, FOOTER, 0, "footer copy");
  if (memcmp (footer, "conectix", 8) != 0)
    die ("%s: no footer copy at offset 0", file);
  at = xd_be64 (footer + 16);
  pread_all (fd, dyn, DYN_HEADER, at, "dynamic header");
  xd_put_be32 (dyn + 36, vhd_sum (dyn, DYN_HEADER, 36));
  pwrite_all (fd, dyn, DYN_HEADER, at);
  if (close (fd) == -1)
    die ("%s: %m", file);
}

static void
poke_be32 (const char *file, uint64_t off, uint32_t value)
{
  uint8_t b[4];
  int fd = open (file, O_RDWR);

  if (fd == -1)
    die ("%s: %m", file);
  xd_put_be32 (b, value);
  pwrite_all (fd, b, 4, off);
  if (close (fd) == -1)
    die ("%s: %m", file);
}

/* VHDX ([MS-VHDX] 2.2): GUIDs as stored (first three fields LE). */
static const uint8_t bat_guid[16] = {
  0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
  0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 };
static const uint8_t metadata_guid[16] = {
  0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
  0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e };
static const uint8_t file_params_guid[16] = {
  0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
  0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b };
static const uint8_t logical_sector_guid[16] = {
  0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47,
  0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f };
static const uint8_t virtual_size_guid[16] = {
  0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
  0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8 };

#define VHDX_REGION_TABLE 0x30000

/* File offset of the region with GUID in the first region table. */
static uint64_t
vhdx_region (int fd, const uint8_t guid[16])
{
  uint8_t t[4096];
  uint32_t n, i;

  pread_all (fd, t, sizeof t, VHDX_REGION_TABLE, "region table");
  if (memcmp (t, "regi", 4) != 0)
    die ("no VHDX region table");
  n = xd_le32 (t + 8);
  for (i = 0; i < n && 16 + 32 * (i + 1) <= sizeof t; i++)
    if (memcmp (t + 16 + 32 * i, guid, 16) == 0)
      return xd_le64 (t + 16 + 32 * i + 16);
  die ("region not found in the VHDX region table");
}

/* File offset of metadata item GUID. */
static uint64_t
vhdx_metadata_item (int fd, const uint8_t guid[16])
{
  uint64_t region = vhdx_region (fd, metadata_guid);
  uint8_t t[65536];
  uint16_t n, i;

  pread_all (fd, t, sizeof t, region, "metadata table");
  n = t[10] | t[11] << 8;
  for (i = 0; i < n && 32 + 32 * (i + 1) <= (int) sizeof t; i++)
    if (memcmp (t + 32 + 32 * i, guid, 16) == 0)
      return region + xd_le32 (t + 32 + 32 * i + 16);
  die ("metadata item not found");
}

static void
vhdx_poke (const char *file, const char *what, uint64_t off,
           const char *value)
{
  uint8_t b[8];
  uint64_t at;
  size_t len = 4;
  int fd = open (file, O_RDWR);

  if (fd == -1)
    die ("%s: %m", file);
  if (strcmp (what, "bat") == 0)
    at = vhdx_region (fd, bat_guid);
  else if (strcmp (what, "metadata") == 0)
    at = vhdx_region (fd, metadata_guid);
  else if (strcmp (what, "block-size") == 0)
    at = vhdx_metadata_item (fd, file_params_guid);
  else if (strcmp (what, "logical-sector") == 0)
    at = vhdx_metadata_item (fd, logical_sector_guid);
  else if (strcmp (what, "virtual-size") == 0)
    at = vhdx_metadata_item (fd, virtual_size_guid);
  else
    die ("unknown VHDX region or item '%s'", what);
  if (strncmp (value, "LE64:", 5) == 0) {
    xd_put_le64 (b, parse_u64 (value + 5, "LE64 value"));
    len = 8;
  }
  else
    xd_put_le32 (b, parse_u64 (value, "LE32 value"));
  if (xd_add_overflow (at, off, &at))
    die ("offset overflow");
  pwrite_all (fd, b, len, at);
  if (close (fd) == -1)
    die ("%s: %m", file);
}

static void
fix_crc (const char *file, uint64_t off, uint64_t len)
{
  uint8_t *buf;
  int fd = open (file, O_RDWR);

  if (fd == -1)
    die ("%s: %m", file);
  if (len < 8 || len > (1 << 20))
    die ("fix-crc: length %" PRIu64 " out of range", len);
  buf = malloc (len);
  if (buf == NULL)
    die ("malloc: %m");
  pread_all (fd, buf, len, off, "checksummed structure");
  xd_put_le32 (buf + 4, xd_crc32c_skip_field (buf, len, 4));
  pwrite_all (fd, buf + 4, 4, off + 4);
  free (buf);
  if (close (fd) == -1)
    die ("%s: %m", file);
}


/* ---- vhdx: create a differencing child ([MS-VHDX] 2.2) ---- */

static const uint8_t page83_guid[16] = {
  0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45,
  0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46 };
static const uint8_t physical_sector_guid[16] = {
  0xc7, 0x48, 0xa3, 0xcd, 0x5d, 0x44, 0x71, 0x44,
  0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56 };
static const uint8_t parent_locator_guid[16] = {
  0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45,
  0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c };
static const uint8_t locator_type_guid[16] = {
  0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
  0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59, 0x13 };

#define MiB (UINT64_C (1) << 20)
#define VHDX_LOG_OFFSET (1 * MiB)
#define VHDX_METADATA_OFFSET (2 * MiB)
#define VHDX_BAT_OFFSET (3 * MiB)

/* The parent's DataWriteGuid: from the header with the highest
 * sequence number among those with a good signature.
 */
static void
vhdx_data_write_guid (int fd, uint8_t guid[16])
{
  uint8_t h[2][4096];
  int best;

  pread_all (fd, h[0], 4096, 0x10000, "header 1");
  pread_all (fd, h[1], 4096, 0x20000, "header 2");
  if (memcmp (h[0], "head", 4) != 0 && memcmp (h[1], "head", 4) != 0)
    die ("parent has no VHDX header");
  if (memcmp (h[0], "head", 4) != 0)
    best = 1;
  else if (memcmp (h[1], "head", 4) != 0)
    best = 0;
  else
    best = xd_le64 (h[1] + 8) > xd_le64 (h[0] + 8);
  memcpy (guid, h[best] + 32, 16);
}

static void
format_guid (const uint8_t g[16], char out[39])
{
  snprintf (out, 39, "{%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x}",
            xd_le32 (g), xd_le16 (g + 4), xd_le16 (g + 6), g[8], g[9],
            g[10], g[11], g[12], g[13], g[14], g[15]);
}

/* Append the key/value pair to the parent locator item LOC (used bytes
 * *END, entry N).
 */
static void
locator_entry (uint8_t *loc, size_t *end, unsigned n, const char *key,
               const char *value)
{
  uint8_t *e = loc + 20 + 12 * n;
  size_t klen, vlen;

  klen = put_utf16 (loc + *end, 4096 - *end, key, false);
  xd_put_le32 (e, *end);
  *end += klen;
  vlen = put_utf16 (loc + *end, 4096 - *end, value, false);
  xd_put_le32 (e + 4, *end);
  *end += vlen;
  e[8] = klen; e[9] = klen >> 8;
  e[10] = vlen; e[11] = vlen >> 8;
}

static void
metadata_entry (uint8_t *md, unsigned n, const uint8_t guid[16],
                uint32_t off, uint32_t len, uint32_t flags)
{
  uint8_t *e = md + 32 + 32 * n;

  memcpy (e, guid, 16);
  xd_put_le32 (e + 16, off);
  xd_put_le32 (e + 20, len);
  xd_put_le32 (e + 24, flags);
}

static void
make_vhdx_child (int argc, char **argv)
{
  const char *child = argv[2], *parent = argv[3], *name = NULL;
  const char *base = strrchr (parent, '/') ? strrchr (parent, '/') + 1
                                           : parent;
  uint64_t block_size = 2 * MiB, size, blocks, chunk, entries, bat_len;
  uint32_t sector = 512;
  bool bad_linkage = false;
  uint8_t linkage[16], hdr[4096], rt[65536], *md;
  char text[PATH_MAX + 16], guid_text[39];
  size_t i, end;
  int pfd, fd;

  for (i = 4; i < (size_t) argc; i++) {
    if (strcmp (argv[i], "--block-size") == 0 && i + 1 < (size_t) argc)
      block_size = parse_u64 (argv[++i], "--block-size");
    else if (strcmp (argv[i], "--logical-sector") == 0 &&
             i + 1 < (size_t) argc)
      sector = parse_u64 (argv[++i], "--logical-sector");
    else if (strcmp (argv[i], "--parent-name") == 0 && i + 1 < (size_t) argc)
      name = argv[++i];
    else if (strcmp (argv[i], "--bad-linkage") == 0)
      bad_linkage = true;
    else
      die ("unknown option '%s'", argv[i]);
  }
  if (!xd_is_power_of_2 (block_size) || block_size < MiB ||
      block_size > 256 * MiB)
    die ("--block-size must be a power of 2 from 1M to 256M");
  if (sector != 512 && sector != 4096)
    die ("--logical-sector must be 512 or 4096");

  pfd = open (parent, O_RDONLY);
  if (pfd == -1)
    die ("%s: %m", parent);
  pread_all (pfd, text, 8, 0, "file identifier");
  if (memcmp (text, "vhdxfile", 8) != 0)
    die ("%s: not a VHDX file", parent);
  vhdx_data_write_guid (pfd, linkage);
  {
    uint8_t b[8];
    uint32_t psector;

    pread_all (pfd, b, 8, vhdx_metadata_item (pfd, virtual_size_guid),
               "parent virtual size");
    size = xd_le64 (b);
    pread_all (pfd, b, 4, vhdx_metadata_item (pfd, logical_sector_guid),
               "parent logical sector size");
    psector = xd_le32 (b);
    if (psector != sector)
      die ("parent logical sector size %" PRIu32 " != %" PRIu32,
           psector, sector);
  }
  close (pfd);
  if (bad_linkage)
    linkage[0] ^= 0xff;
  format_guid (linkage, guid_text);

  chunk = ((UINT64_C (1) << 23) * sector) / block_size;
  blocks = xd_div_round_up (size, block_size);
  entries = xd_div_round_up (blocks, chunk) * (chunk + 1);
  bat_len = xd_div_round_up (entries * 8, MiB) * MiB;

  fd = open (child, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd == -1)
    die ("%s: %m", child);
  memset (hdr, 0, sizeof hdr);
  memcpy (hdr, "vhdxfile", 8);
  put_utf16 (hdr + 8, 512, "xdisk vhd-mkdiff", false);
  pwrite_all (fd, hdr, 4096, 0);

  /* Two headers, sequence numbers 1 and 2. */
  for (i = 0; i < 2; i++) {
    memset (hdr, 0, sizeof hdr);
    memcpy (hdr, "head", 4);
    xd_put_le64 (hdr + 8, i + 1);
    random_bytes (hdr + 16, 32);        /* FileWriteGuid, DataWriteGuid */
    hdr[66] = 1;                        /* version */
    xd_put_le32 (hdr + 68, MiB);        /* log length */
    xd_put_le64 (hdr + 72, VHDX_LOG_OFFSET);
    xd_put_le32 (hdr + 4, xd_crc32c_skip_field (hdr, sizeof hdr, 4));
    pwrite_all (fd, hdr, sizeof hdr, 0x10000 * (i + 1));
  }

  /* Region tables: BAT and metadata, both required. */
  memset (rt, 0, sizeof rt);
  memcpy (rt, "regi", 4);
  xd_put_le32 (rt + 8, 2);
  memcpy (rt + 16, bat_guid, 16);
  xd_put_le64 (rt + 32, VHDX_BAT_OFFSET);
  xd_put_le32 (rt + 40, bat_len);
  xd_put_le32 (rt + 44, 1);
  memcpy (rt + 48, metadata_guid, 16);
  xd_put_le64 (rt + 64, VHDX_METADATA_OFFSET);
  xd_put_le32 (rt + 72, MiB);
  xd_put_le32 (rt + 76, 1);
  xd_put_le32 (rt + 4, xd_crc32c_skip_field (rt, sizeof rt, 4));
  pwrite_all (fd, rt, sizeof rt, VHDX_REGION_TABLE);
  pwrite_all (fd, rt, sizeof rt, VHDX_REGION_TABLE + 0x10000);

  /* Metadata: table, then items from 64 KiB, 4 KiB apart. */
  md = calloc (1, MiB);
  if (md == NULL)
    die ("calloc: %m");
  memcpy (md, "metadata", 8);
  md[10] = 6;                           /* entry count */
  xd_put_le32 (md + 0x10000, block_size);
  xd_put_le32 (md + 0x10004, 2);        /* HasParent */
  metadata_entry (md, 0, file_params_guid, 0x10000, 8, 4);
  xd_put_le64 (md + 0x11000, size);
  metadata_entry (md, 1, virtual_size_guid, 0x11000, 8, 6);
  random_bytes (md + 0x12000, 16);
  metadata_entry (md, 2, page83_guid, 0x12000, 16, 6);
  xd_put_le32 (md + 0x13000, sector);
  metadata_entry (md, 3, logical_sector_guid, 0x13000, 4, 6);
  xd_put_le32 (md + 0x14000, sector);
  metadata_entry (md, 4, physical_sector_guid, 0x14000, 4, 6);
  {
    uint8_t *loc = md + 0x15000;

    memcpy (loc, locator_type_guid, 16);
    loc[18] = 3;                        /* key/value count */
    end = 20 + 12 * 3;
    locator_entry (loc, &end, 0, "parent_linkage", guid_text);
    snprintf (text, sizeof text, ".\\%s", name ? name : base);
    locator_entry (loc, &end, 1, "relative_path", text);
    snprintf (text, sizeof text, "C:\\VMs\\%s", name ? name : base);
    locator_entry (loc, &end, 2, "absolute_win32_path", text);
    metadata_entry (md, 5, parent_locator_guid, 0x15000, end, 4);
  }
  pwrite_all (fd, md, MiB, VHDX_METADATA_OFFSET);
  free (md);

  /* An empty BAT: every block NOT_PRESENT (read from the parent). */
  if (ftruncate (fd, VHDX_BAT_OFFSET + bat_len) == -1)
    die ("%s: %m", child);
  if (close (fd) == -1)
    die ("%s: %m", child);
}

/* ---- write into a VHDX child ---- */

struct vhdx {
  int fd, fill_fd;
  uint64_t bat, size, block_size, chunk;
  uint32_t sector;
};

static void
open_vhdx (struct vhdx *v, const char *file)
{
  uint8_t b[8];

  v->fd = open (file, O_RDWR);
  if (v->fd == -1)
    die ("%s: %m", file);
  v->bat = vhdx_region (v->fd, bat_guid);
  pread_all (v->fd, b, 4, vhdx_metadata_item (v->fd, file_params_guid),
             "file parameters");
  v->block_size = xd_le32 (b);
  pread_all (v->fd, b, 8, vhdx_metadata_item (v->fd, virtual_size_guid),
             "virtual size");
  v->size = xd_le64 (b);
  pread_all (v->fd, b, 4, vhdx_metadata_item (v->fd, logical_sector_guid),
             "logical sector size");
  v->sector = xd_le32 (b);
  if (!xd_is_power_of_2 (v->block_size) || v->block_size < MiB ||
      (v->sector != 512 && v->sector != 4096))
    die ("%s: bad VHDX metadata", file);
  v->chunk = ((UINT64_C (1) << 23) * v->sector) / v->block_size;
}

/* Read BAT entry I; allocate LEN bytes at the end of the file for it
 * (state STATE) if it has no file offset yet.  Returns the offset.
 */
static uint64_t
vhdx_entry (struct vhdx *v, uint64_t i, uint64_t len, unsigned state,
            unsigned *old_state)
{
  uint8_t e[8];
  uint64_t at;

  pread_all (v->fd, e, 8, v->bat + 8 * i, "BAT entry");
  *old_state = xd_le64 (e) & 7;
  if (*old_state == 6 || *old_state == 7)
    return xd_le64 (e) >> 20 << 20;
  at = xd_div_round_up (file_size (v->fd), MiB) * MiB;
  if (ftruncate (v->fd, at + len) == -1)
    die ("ftruncate: %m");
  xd_put_le64 (e, at | state);
  pwrite_all (v->fd, e, 8, v->bat + 8 * i);
  return at;
}

static void
vhdx_write_in_sector (struct vhdx *v, uint64_t off, uint32_t len,
                      uint8_t byte)
{
  uint64_t b = off / v->block_size, c = b / v->chunk;
  uint64_t data, bitmap, bit;
  unsigned state, sb_state;
  uint8_t bits, buf[4096];

  data = vhdx_entry (v, b + c, v->block_size, 7, &state);
  bitmap = vhdx_entry (v, c * (v->chunk + 1) + v->chunk, MiB, 6, &sb_state);
  /* Bit of this sector in its chunk's bitmap, least significant first. */
  bit = off / v->sector - c * v->chunk * (v->block_size / v->sector);
  data += off % v->block_size / v->sector * v->sector;
  pread_all (v->fd, &bits, 1, bitmap + bit / 8, "sector bitmap");
  if (state != 6 && !(bits & (1 << (bit % 8)))) {
    memset (buf, 0, v->sector);
    if (v->fill_fd >= 0)
      pread_all (v->fill_fd, buf, v->sector, off / v->sector * v->sector,
                 "--fill-from data");
    pwrite_all (v->fd, buf, v->sector, data);
    bits |= 1 << (bit % 8);
    pwrite_all (v->fd, &bits, 1, bitmap + bit / 8);
  }
  memset (buf, byte, len);
  pwrite_all (v->fd, buf, len, data + off % v->sector);
}

/* Mark block B FULLY_PRESENT when all its sector bits are set. */
static void
vhdx_maybe_full (struct vhdx *v, uint64_t b)
{
  uint64_t c = b / v->chunk, nbytes = v->block_size / v->sector / 8, i;
  uint8_t e[8], sb[8], bits[8192];

  pread_all (v->fd, e, 8, v->bat + 8 * (b + c), "BAT entry");
  pread_all (v->fd, sb, 8, v->bat + 8 * (c * (v->chunk + 1) + v->chunk),
             "BAT entry");
  if ((xd_le64 (e) & 7) != 7 || (xd_le64 (sb) & 7) != 6)
    return;
  pread_all (v->fd, bits, nbytes,
             (xd_le64 (sb) >> 20 << 20) + (b - c * v->chunk) * nbytes,
             "sector bitmap");
  for (i = 0; i < nbytes; i++)
    if (bits[i] != 0xff)
      return;
  xd_put_le64 (e, (xd_le64 (e) & ~UINT64_C (7)) | 6);
  pwrite_all (v->fd, e, 8, v->bat + 8 * (b + c));
}

static void
vhdx_write_pattern (const char *file, uint64_t off, uint64_t len,
                    uint8_t byte, int fill_fd)
{
  struct vhdx v = { .fill_fd = fill_fd };
  uint64_t end, b;

  open_vhdx (&v, file);
  if (xd_add_overflow (off, len, &end) || end > v.size)
    die ("write beyond the virtual size %" PRIu64, v.size);
  for (b = off; b < end; ) {
    uint64_t n = xd_min_u64 (end - b, v.sector - b % v.sector);

    vhdx_write_in_sector (&v, b, n, byte);
    b += n;
  }
  for (b = off / v.block_size; len && b <= (end - 1) / v.block_size; b++)
    vhdx_maybe_full (&v, b);
  if (close (v.fd) == -1)
    die ("close: %m");
}

int
main (int argc, char **argv)
{
  if (argc >= 4 && strcmp (argv[1], "vhd") == 0)
    make_vhd_child (argc, argv);
  else if (argc >= 4 && strcmp (argv[1], "vhdx") == 0)
    make_vhdx_child (argc, argv);
  else if (argc >= 2 && strcmp (argv[1], "write") == 0)
    write_pattern (argc, argv);
  else if (argc == 4 && strcmp (argv[1], "set-creator") == 0)
    patch_footer (argv[2], argv[3]);
  else if (argc == 3 && strcmp (argv[1], "fix-footer") == 0)
    patch_footer (argv[2], NULL);
  else if (argc == 3 && strcmp (argv[1], "fix-dyn-header") == 0)
    fix_dyn_header (argv[2]);
  else if (argc == 5 && strcmp (argv[1], "poke") == 0)
    poke_be32 (argv[2], parse_u64 (argv[3], "OFFSET"),
               parse_u64 (argv[4], "VALUE"));
  else if (argc == 6 && strcmp (argv[1], "vhdx-poke") == 0)
    vhdx_poke (argv[2], argv[3], parse_u64 (argv[4], "OFFSET"), argv[5]);
  else if (argc == 5 && strcmp (argv[1], "fix-crc") == 0)
    fix_crc (argv[2], parse_u64 (argv[3], "OFFSET"),
             parse_u64 (argv[4], "LENGTH"));
  else {
    fprintf (stderr,
             "usage: vhd-mkdiff vhd CHILD PARENT [--block-size N] "
             "[--locator w2ru|w2ku|macx|all] [--parent-name NAME] "
             "[--bad-parent-id]\n"
             "       vhd-mkdiff vhdx CHILD PARENT [--block-size N] "
             "[--logical-sector 512|4096] [--parent-name NAME] "
             "[--bad-linkage]\n"
             "       vhd-mkdiff write CHILD OFFSET LENGTH BYTE "
             "[--fill-from RAW]\n"
             "       vhd-mkdiff set-creator FILE CREATOR\n"
             "       vhd-mkdiff fix-footer FILE\n"
             "       vhd-mkdiff fix-dyn-header FILE\n"
             "       vhd-mkdiff poke FILE OFFSET BE32\n"
             "       vhd-mkdiff vhdx-poke FILE REGION OFFSET LE32|LE64:N\n"
             "       vhd-mkdiff fix-crc FILE OFFSET LENGTH\n");
    exit (EXIT_FAILURE);
  }
  return EXIT_SUCCESS;
}
