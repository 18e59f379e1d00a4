/* xdisk: manifest and export digests; see xd-digest.h. */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef HAVE_NETTLE
#include <nettle/sha1.h>
#include <nettle/sha2.h>
#endif
#ifdef HAVE_LIBXXHASH
#include <xxhash.h>
#endif

#include "core/xd-digest.h"
#include "core/xd-driver.h"
#include "include/xd-math.h"
#include "include/xd-report.h"

#define IO_PIECE (1024 * 1024)

static const char *const names[] = { "SHA1", "SHA256", "SHA512" };
static const size_t sizes[] = { 20, 32, 64 };

int
xd_digest_by_name (const char *name, enum xd_digest_alg *alg)
{
  size_t i;

  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp (name, names[i]) == 0) {
      *alg = (enum xd_digest_alg) i;
      return 0;
    }
  return -1;
}

const char *
xd_digest_name (enum xd_digest_alg alg)
{
  return names[alg];
}

size_t
xd_digest_hex_len (enum xd_digest_alg alg)
{
  return 2 * sizes[alg];
}

#ifdef HAVE_NETTLE
struct ctx {
  enum xd_digest_alg alg;
  union {
    struct sha1_ctx sha1;
    struct sha256_ctx sha256;
    struct sha512_ctx sha512;
  } u;
};

static void
ctx_init (struct ctx *c, enum xd_digest_alg alg)
{
  c->alg = alg;
  switch (alg) {
  case XD_DIGEST_SHA1: sha1_init (&c->u.sha1); break;
  case XD_DIGEST_SHA256: sha256_init (&c->u.sha256); break;
  case XD_DIGEST_SHA512: sha512_init (&c->u.sha512); break;
  }
}

static void
ctx_update (struct ctx *c, const void *buf, size_t len)
{
  switch (c->alg) {
  case XD_DIGEST_SHA1: sha1_update (&c->u.sha1, len, buf); break;
  case XD_DIGEST_SHA256: sha256_update (&c->u.sha256, len, buf); break;
  case XD_DIGEST_SHA512: sha512_update (&c->u.sha512, len, buf); break;
  }
}

static void
ctx_hex (struct ctx *c, char hex[XD_DIGEST_HEX_MAX])
{
  uint8_t d[64];
  size_t i, n = sizes[c->alg];

  switch (c->alg) {
  case XD_DIGEST_SHA1: sha1_digest (&c->u.sha1, n, d); break;
  case XD_DIGEST_SHA256: sha256_digest (&c->u.sha256, n, d); break;
  case XD_DIGEST_SHA512: sha512_digest (&c->u.sha512, n, d); break;
  }
  for (i = 0; i < n; i++)
    snprintf (hex + 2 * i, 3, "%02x", d[i]);
}

bool
xd_digest_available (void)
{
  return true;
}

int
xd_digest_buf (enum xd_digest_alg alg, const void *buf, size_t len,
               char hex[XD_DIGEST_HEX_MAX])
{
  struct ctx c;

  ctx_init (&c, alg);
  ctx_update (&c, buf, len);
  ctx_hex (&c, hex);
  return 0;
}

int
xd_digest_io (enum xd_digest_alg alg, struct xd_io *io,
              char hex[XD_DIGEST_HEX_MAX])
{
  unsigned char *buf = malloc (IO_PIECE);
  uint64_t off = 0;
  struct ctx c;

  if (buf == NULL) {
    xd_error ("%s: malloc: %m", io->name);
    return -1;
  }
  ctx_init (&c, alg);
  while (off < io->size) {
    size_t n = (size_t) xd_min_u64 (IO_PIECE, io->size - off);
    if (xd_io_read (io, buf, n, off, "data for its digest") == -1) {
      free (buf);
      return -1;
    }
    ctx_update (&c, buf, n);
    off += n;
  }
  free (buf);
  ctx_hex (&c, hex);
  return 0;
}

#else /* !HAVE_NETTLE */

bool
xd_digest_available (void)
{
  return false;
}

int
xd_digest_buf (enum xd_digest_alg alg, const void *buf XD_UNUSED,
               size_t len XD_UNUSED, char hex[XD_DIGEST_HEX_MAX] XD_UNUSED)
{
  xd_error ("cannot compute %s digests: xdisk was built without nettle",
            names[alg]);
  errno = ENOTSUP;
  return -1;
}

int
xd_digest_io (enum xd_digest_alg alg, struct xd_io *io,
              char hex[XD_DIGEST_HEX_MAX] XD_UNUSED)
{
  xd_error ("%s: cannot check its %s digest: xdisk was built without "
            "nettle", io->name, names[alg]);
  errno = ENOTSUP;
  return -1;
}
#endif

#ifdef HAVE_LIBXXHASH
bool
xd_xxh64_available (void)
{
  return true;
}

uint64_t
xd_xxh64 (const void *buf, size_t len)
{
  return XXH64 (buf, len, 0);
}
#else
bool
xd_xxh64_available (void)
{
  return false;
}

uint64_t
xd_xxh64 (const void *buf XD_UNUSED, size_t len XD_UNUSED)
{
  return 0;
}
#endif
