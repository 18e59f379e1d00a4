/* mutate: makes damaged images for tests/test-bad-inputs.sh.
 *
 *   mutate layout IMG
 *       Print where IMG's structures are, one per line:
 *         region START LENGTH NAME   a header or table (flip targets)
 *         cut OFFSET NAME            a structure boundary (truncations)
 *       for VMDK sparse and streamOptimized extents, VHD (dynamic,
 *       differencing, fixed), VHDX, VDI and qcow2.  Only the first few grains and
 *       blocks are listed.  Written independently of common/: it reads
 *       the fixed fields of each format's headers and nothing else.
 *   mutate flip IN OUT SEED COUNT START:LENGTH...
 *       Copy IN to OUT with COUNT bytes chosen at random (a fixed
 *       generator seeded with SEED, so runs repeat) inside the given
 *       ranges each XORed with a random non-zero value.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTED 8            /* grains / blocks / tables listed */

static unsigned char *img;
static uint64_t img_size;

static void
die (const char *what)
{
  fprintf (stderr, "mutate: %s: %s\n", what, strerror (errno));
  exit (EXIT_FAILURE);
}

static void
load (const char *path)
{
  FILE *f = fopen (path, "rb");
  long n;

  if (f == NULL || fseek (f, 0, SEEK_END) == -1 || (n = ftell (f)) < 0)
    die (path);
  img_size = (uint64_t) n;
  img = malloc (img_size ? img_size : 1);
  if (img == NULL)
    die ("malloc");
  rewind (f);
  if (img_size && fread (img, 1, img_size, f) != img_size)
    die (path);
  fclose (f);
}

/* Little- and big-endian fields; 0 past the end of the file. */
static uint64_t
get (uint64_t off, unsigned len, int big)
{
  uint64_t v = 0;
  unsigned i;

  if (off > img_size || len > img_size - off)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned shift = big ? 8 * (len - 1 - i) : 8 * i;
    v |= (uint64_t) img[off + i] << shift;
  }
  return v;
}
#define LE(off, len) get ((off), (len), 0)
#define BE(off, len) get ((off), (len), 1)

static void
region (uint64_t start, uint64_t len, const char *name)
{
  if (start >= img_size || len == 0)
    return;
  if (len > img_size - start)
    len = img_size - start;
  printf ("region %" PRIu64 " %" PRIu64 " %s\n", start, len, name);
}

static void
cut (uint64_t off, const char *name)
{
  if (off > 0 && off < img_size)
    printf ("cut %" PRIu64 " %s\n", off, name);
}

/* ---- VMDK ------------------------------------------------------------ */

static void
vmdk_stream (uint64_t sector)
{
  unsigned grains = 0;

  /* Markers: u64 value, u32 size; size 0 means metadata, u32 type
   * follows and VALUE sectors of table follow the marker's sector.
   */
  while (sector * 512 + 512 <= img_size) {
    uint64_t off = sector * 512, val = LE (off, 8);
    uint32_t size = (uint32_t) LE (off + 8, 4);
    if (size) {
      if (grains++ < MAX_LISTED)
        cut (off, "grain");
      sector += (12 + (uint64_t) size + 511) / 512;
      continue;
    }
    switch (LE (off + 12, 4)) {
    case 0: cut (off, "end-of-stream"); return;
    case 1: cut (off, "GT marker"); region (off, 512 + val * 512, "GT"); break;
    case 2: cut (off, "GD marker"); region (off, 512 + val * 512, "GD"); break;
    case 3: cut (off, "footer marker"); region (off, 1024, "footer"); break;
    default: return;
    }
    cut (off + 512, "table");
    sector += 1 + val;
  }
}

static void
vmdk (void)
{
  uint64_t grain = LE (20, 8), desc = LE (28, 8), desc_len = LE (36, 8);
  uint64_t gtes = LE (44, 4), rgd = LE (48, 8), gd = LE (56, 8);
  uint64_t overhead = LE (64, 8), capacity = LE (12, 8);
  uint64_t nr_gd, i, listed = 0;

  region (0, 512, "header");
  cut (512, "header end");
  region (desc * 512, desc_len * 512, "descriptor");
  cut (desc * 512, "descriptor");
  cut ((desc + desc_len) * 512, "descriptor end");
  cut (overhead * 512, "overhead end");
  if (LE (77, 2) == 1 && gd == UINT64_MAX) {     /* streamOptimized */
    region (img_size - 1024, 512, "footer");
    vmdk_stream (overhead);
    return;
  }
  if (grain == 0 || gtes == 0 || gtes > 65536)
    return;
  nr_gd = (capacity + grain * gtes - 1) / (grain * gtes);
  if (nr_gd > 1 << 20)
    return;
  if (rgd) {
    region (rgd * 512, nr_gd * 4, "RGD");
    cut (rgd * 512, "RGD");
  }
  region (gd * 512, nr_gd * 4, "GD");
  cut (gd * 512, "GD");
  cut (gd * 512 + nr_gd * 4, "GD end");
  for (i = 0; i < nr_gd && i < MAX_LISTED; i++) {
    uint64_t gt = LE (gd * 512 + i * 4, 4), j;
    if (gt == 0)
      continue;
    region (gt * 512, gtes * 4, "GT");
    cut (gt * 512, "GT");
    cut (gt * 512 + gtes * 4, "GT end");
    for (j = 0; j < gtes && listed < MAX_LISTED; j++) {
      uint64_t g = LE (gt * 512 + j * 4, 4);
      if (g > 1) {
        cut (g * 512, "grain");
        cut (g * 512 + 512, "grain sector 2");
        listed++;
      }
    }
  }
}

/* ---- VHD ------------------------------------------------------------- */

static void
vhd (uint64_t footer)
{
  uint64_t dyn = BE (footer + 16, 8), bat, entries, block, bitmap, i;
  unsigned listed = 0;

  region (footer, 512, "footer");
  cut (footer, "footer");
  if (footer == 0)                  /* a dynamic disk's footer copy */
    region (img_size - 512, 512, "footer");
  cut (img_size - 512, "trailing footer");
  if (dyn > img_size - 8 || memcmp (img + dyn, "cxsparse", 8) != 0)
    return;
  region (dyn, 1024, "dynamic header");
  cut (dyn, "dynamic header");
  cut (dyn + 1024, "dynamic header end");
  bat = BE (dyn + 16, 8);
  entries = BE (dyn + 28, 4);
  block = BE (dyn + 32, 4);
  region (bat, entries * 4, "BAT");
  cut (bat, "BAT");
  cut (bat + entries * 4, "BAT end");
  for (i = 0; i < 8; i++) {
    uint64_t loc = dyn + 576 + i * 24, at = BE (loc + 16, 8);
    if (BE (loc, 4) == 0)
      continue;
    region (at, BE (loc + 8, 4), "parent locator");
    cut (at, "parent locator");
  }
  bitmap = ((block / 512 + 7) / 8 + 511) / 512 * 512;
  for (i = 0; i < entries && listed < MAX_LISTED; i++) {
    uint64_t s = BE (bat + i * 4, 4);
    if (s == 0xffffffff)
      continue;
    region (s * 512, bitmap, "sector bitmap");
    cut (s * 512, "block bitmap");
    cut (s * 512 + bitmap, "block data");
    listed++;
  }
}

/* ---- VHDX ------------------------------------------------------------ */

static const unsigned char bat_guid[16] = {
  0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
  0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08
};
static const unsigned char meta_guid[16] = {
  0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
  0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e
};

static void
vhdx (void)
{
  uint64_t h, r, i, j, log_off, log_len;
  unsigned listed = 0;

  region (0, 512, "file identifier");
  for (h = 64 * 1024; h <= 128 * 1024; h += 64 * 1024) {
    region (h, 4096, "header");
    cut (h, "header");
    cut (h + 4096, "header end");
  }
  log_len = LE (64 * 1024 + 68, 4);
  log_off = LE (64 * 1024 + 72, 8);
  region (log_off, 4096, "log");
  cut (log_off, "log");
  cut (log_off + 4096, "log entry 2");
  cut (log_off + log_len, "log end");
  for (r = 192 * 1024; r <= 256 * 1024; r += 64 * 1024) {
    region (r, 64 * 1024, "region table");
    cut (r, "region table");
  }
  for (i = 0; i < LE (192 * 1024 + 8, 4) && i < 16; i++) {
    uint64_t e = 192 * 1024 + 16 + i * 32;
    uint64_t off = LE (e + 16, 8), len = LE (e + 24, 4);
    if (e + 32 > img_size)
      break;
    cut (off, "region");
    cut (off + len, "region end");
    if (memcmp (img + e, meta_guid, 16) == 0) {
      region (off, 64 * 1024, "metadata table");
      for (j = 0; j < LE (off + 10, 2) && j < 16; j++) {
        uint64_t m = off + 32 + j * 32;
        region (off + LE (m + 16, 4), LE (m + 20, 4), "metadata item");
        cut (off + LE (m + 16, 4), "metadata item");
      }
    }
    else if (memcmp (img + e, bat_guid, 16) == 0) {
      region (off, len, "BAT");
      for (j = 0; j < len / 8 && listed < MAX_LISTED; j++) {
        uint64_t b = LE (off + j * 8, 8);
        if ((b >> 20) == 0)
          continue;
        cut ((b >> 20) << 20, "block");
        cut (((b >> 20) << 20) + 4096, "block + 4K");
        listed++;
      }
    }
  }
}

/* ---- VDI ------------------------------------------------------------- */

static void
vdi (void)
{
  uint64_t version = LE (0x44, 4), map, data, block, extra, blocks, i;
  unsigned listed = 0;

  region (0, 72, "pre-header");
  if (version >> 16 == 0) {         /* 0.x: the map follows the header */
    region (72, 348, "header");
    map = 420;
    block = LE (0x168, 4);
    extra = 0;
    blocks = LE (0x16c, 4);
    data = map + blocks * 4;
  }
  else {
    region (72, LE (0x48, 4), "header");
    map = LE (0x154, 4);
    data = LE (0x158, 4);
    block = LE (0x178, 4);
    extra = LE (0x17c, 4);
    blocks = LE (0x180, 4);
  }
  cut (72, "header");
  region (map, blocks * 4, "block map");
  cut (map, "block map");
  cut (map + blocks * 4, "block map end");
  cut (data, "data");
  for (i = 0; i < blocks && listed < MAX_LISTED; i++) {
    uint64_t e = LE (map + i * 4, 4);
    if (e >= 0xfffffffe)
      continue;
    cut (data + e * (block + extra) + extra, "block data");
    listed++;
  }
}

/* ---- qcow2 ----------------------------------------------------------- */

static void
qcow2 (void)
{
  uint64_t cs = UINT64_C (1) << (BE (20, 4) & 31), hlen = BE (100, 4);
  uint64_t l1 = BE (40, 8), l1_size = BE (36, 4), i, l2;
  unsigned listed = 0;

  if (BE (4, 4) == 2)
    hlen = 72;
  region (0, hlen, "header");
  region (hlen, 512, "header extensions");
  cut (hlen, "header extensions");
  region (BE (8, 8), BE (16, 4), "backing file name");
  region (l1, l1_size * 8, "L1 table");
  cut (l1, "L1 table");
  region (BE (48, 8), BE (56, 4) * cs, "refcount table");
  cut (BE (48, 8), "refcount table");
  region (BE (64, 8), 512, "snapshot table");
  cut (BE (64, 8), "snapshot table");
  for (i = 0; i < l1_size && i < 64 && listed < MAX_LISTED; i++) {
    l2 = BE (l1 + i * 8, 8) & UINT64_C (0x00fffffffffffe00);
    if (l2 == 0)
      continue;
    region (l2, cs, "L2 table");
    cut (l2, "L2 table");
    cut (l2 + cs, "L2 table end");
    listed++;
  }
}

static int
layout (const char *path)
{
  load (path);
  if (img_size >= 512 && memcmp (img, "KDMV", 4) == 0)
    vmdk ();
  else if (img_size >= 8 && memcmp (img, "vhdxfile", 8) == 0)
    vhdx ();
  else if (img_size >= 104 && memcmp (img, "QFI\xfb", 4) == 0)
    qcow2 ();
  else if (img_size >= 512 && memcmp (img, "conectix", 8) == 0)
    vhd (0);
  else if (img_size >= 512 && memcmp (img + img_size - 512, "conectix", 8) == 0)
    vhd (img_size - 512);
  else if (img_size >= 72 && LE (0x40, 4) == 0xbeda107f)
    vdi ();
  else {
    fprintf (stderr, "mutate: %s: not a format this tool knows\n", path);
    return EXIT_FAILURE;
  }
  free (img);
  return EXIT_SUCCESS;
}

/* ---- flips ----------------------------------------------------------- */

static uint64_t rng;

static uint64_t
next (void)                     /* xorshift64* */
{
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * UINT64_C (2685821657736338717);
}

static int
flip (int argc, char **argv)
{
  uint64_t starts[64], lens[64], total = 0, count, k;
  int n = 0, i;
  FILE *f;

  load (argv[0]);
  rng = strtoull (argv[2], NULL, 0) * 2 + 1;
  count = strtoull (argv[3], NULL, 0);
  for (i = 4; i < argc && n < 64; i++) {
    char *colon;
    starts[n] = strtoull (argv[i], &colon, 0);
    if (*colon != ':')
      continue;
    lens[n] = strtoull (colon + 1, NULL, 0);
    if (starts[n] >= img_size)
      continue;
    if (lens[n] > img_size - starts[n])
      lens[n] = img_size - starts[n];
    total += lens[n++];
  }
  for (k = 0; k < count && total > 0; k++) {
    uint64_t pos = next () % total;
    for (i = 0; pos >= lens[i]; i++)
      pos -= lens[i];
    img[starts[i] + pos] ^= (unsigned char) (next () % 255 + 1);
  }
  f = fopen (argv[1], "wb");
  if (f == NULL || (img_size && fwrite (img, 1, img_size, f) != img_size) ||
      fclose (f) != 0)
    die (argv[1]);
  free (img);
  return EXIT_SUCCESS;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "layout") == 0)
    return layout (argv[2]);
  if (argc >= 7 && strcmp (argv[1], "flip") == 0)
    return flip (argc - 2, argv + 2);
  fprintf (stderr, "usage: mutate layout IMG\n"
           "       mutate flip IN OUT SEED COUNT START:LENGTH...\n");
  return EXIT_FAILURE;
}
