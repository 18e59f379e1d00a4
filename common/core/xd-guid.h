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
