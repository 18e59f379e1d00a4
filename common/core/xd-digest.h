/* xdisk: digests that appliance manifests and exports record.
 *
 * OVA manifests hold SHA-1, SHA-256 or SHA-512 digests of members (from
 * nettle); XVA exports a SHA-1 or an XXH64 digest of each 1 MiB chunk
 * (XXH64 from libxxhash).  Both libraries are optional at build time:
 * without them the matching checks (verify=true) report that this
 * build cannot make them.
 */
#ifndef XDISK_DIGEST_H
#define XDISK_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"

enum xd_digest_alg {
  XD_DIGEST_SHA1,
  XD_DIGEST_SHA256,
  XD_DIGEST_SHA512,
};

/* Hex digits of the longest digest, plus the NUL. */
#define XD_DIGEST_HEX_MAX 129

/* The algorithm a manifest calls NAME ("SHA1", "SHA256", "SHA512",
 * any case).  -1 if unknown.
 */
extern int xd_digest_by_name (const char *name, enum xd_digest_alg *alg);
extern const char *xd_digest_name (enum xd_digest_alg alg);
/* Hex digits of ALG's digests. */
extern size_t xd_digest_hex_len (enum xd_digest_alg alg);

/* True if this build can compute the digests (nettle was found). */
extern bool xd_digest_available (void);

/* The lowercase hex digest of LEN bytes of BUF into HEX. */
extern int xd_digest_buf (enum xd_digest_alg alg, const void *buf,
                          size_t len, char hex[XD_DIGEST_HEX_MAX]);

/* The digest of all of IO, read sequentially in 1 MiB pieces.  0, or
 * -1 after reporting an error (a read error, or no nettle).
 */
extern int xd_digest_io (enum xd_digest_alg alg, struct xd_io *io,
                         char hex[XD_DIGEST_HEX_MAX]);

/* XXH64 with seed 0, if this build has libxxhash. */
extern bool xd_xxh64_available (void);
extern uint64_t xd_xxh64 (const void *buf, size_t len);

#endif /* XDISK_DIGEST_H */
