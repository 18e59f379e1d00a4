/* xdisk: reading little- and big-endian integers from untrusted buffers.
 *
 * On-disk structures are read into byte buffers and decoded field by
 * field with these accessors, never by casting the buffer to a struct:
 * that keeps alignment and byte order out of the parsers.
 */
#ifndef XDISK_BYTES_H
#define XDISK_BYTES_H

#include <stdint.h>
#include <string.h>
#include <endian.h>

static inline uint16_t
xd_le16 (const void *p)
{
  uint16_t v;
  memcpy (&v, p, sizeof v);
  return le16toh (v);
}

static inline uint32_t
xd_le32 (const void *p)
{
  uint32_t v;
  memcpy (&v, p, sizeof v);
  return le32toh (v);
}

static inline uint64_t
xd_le64 (const void *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return le64toh (v);
}

static inline uint16_t
xd_be16 (const void *p)
{
  uint16_t v;
  memcpy (&v, p, sizeof v);
  return be16toh (v);
}

static inline uint32_t
xd_be32 (const void *p)
{
  uint32_t v;
  memcpy (&v, p, sizeof v);
  return be32toh (v);
}

static inline uint64_t
xd_be64 (const void *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return be64toh (v);
}

static inline void
xd_put_le32 (void *p, uint32_t v)
{
  v = htole32 (v);
  memcpy (p, &v, sizeof v);
}

static inline void
xd_put_le64 (void *p, uint64_t v)
{
  v = htole64 (v);
  memcpy (p, &v, sizeof v);
}

static inline void
xd_put_be32 (void *p, uint32_t v)
{
  v = htobe32 (v);
  memcpy (p, &v, sizeof v);
}

static inline void
xd_put_be64 (void *p, uint64_t v)
{
  v = htobe64 (v);
  memcpy (p, &v, sizeof v);
}

#endif /* XDISK_BYTES_H */
