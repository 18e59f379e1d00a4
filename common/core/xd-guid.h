/* xdisk: GUIDs and UUIDs.
 *
 * VHDX and VDI store a GUID as Windows does: the first three fields
 * (32, 16 and 16 bits) little-endian, the last eight bytes in the order
 * they are written.  "{b04aefb7-d19e-4a81-b789-25b8e9445913}" is stored
 * b7 ef 4a b0 9e d1 81 4a b7 89 25 b8 e9 44 59 13.  A VHD footer stores
 * its unique id as RFC 4122 does, every field big-endian.
 */
#ifndef XDISK_GUID_H
#define XDISK_GUID_H

#include <stdbool.h>
#include <stdint.h>

/* The 16 stored bytes (the mixed order above) of the GUID written
 * A-B-C-D-E, for an initializer: XD_GUID_BYTES (0xb04aefb7, 0xd19e,
 * 0x4a81, 0xb789, 0x25b8e9445913) for the GUID above.
 */
#define XD_GUID_BYTES(A, B, C, D, E)                                    \
  { (A) & 0xff, (A) >> 8 & 0xff, (A) >> 16 & 0xff, (A) >> 24 & 0xff,    \
    (B) & 0xff, (B) >> 8 & 0xff, (C) & 0xff, (C) >> 8 & 0xff,           \
    (D) >> 8 & 0xff, (D) & 0xff,                                        \
    (E) >> 40 & 0xff, (E) >> 32 & 0xff, (E) >> 24 & 0xff,               \
    (E) >> 16 & 0xff, (E) >> 8 & 0xff, (E) & 0xff }

/* Text of a GUID without braces, and its NUL. */
#define XD_GUID_TEXT 37

/* A fresh random (version 4, variant 1) GUID in the mixed order above,
 * or (xd_uuid_generate) in RFC 4122 order.  0, or -1 after reporting.
 */
extern int xd_guid_generate (uint8_t guid[16]);
extern int xd_uuid_generate (uint8_t uuid[16]);

/* Format a stored (mixed-order) GUID as lower-case text into OUT. */
extern void xd_guid_format (const uint8_t guid[16], char out[XD_GUID_TEXT]);

/* Parse text (with or without braces, any case) into a stored GUID:
 * 0, or -1 if TEXT is not a GUID.
 */
extern int xd_guid_parse (const char *text, uint8_t guid[16]);

/* All zero: the "no GUID" that VHDX and VDI write for "none". */
extern bool xd_guid_is_null (const uint8_t guid[16]);

#endif /* XDISK_GUID_H */
