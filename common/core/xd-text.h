/* xdisk: text stored in images.
 *
 * VHD parent locators and VHDX metadata hold UTF-16LE file names; VMDK
 * descriptors are 8-bit text of untrusted length and content.
 */
#ifndef XDISK_TEXT_H
#define XDISK_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Convert LEN bytes of UTF-16LE (LEN/2 code units; an odd last byte is an
 * error) to a malloc'd, NUL-terminated UTF-8 string.  Decoding stops at
 * the first U+0000.  Unpaired surrogates are an error.  Returns NULL with
 * errno set to EILSEQ (bad input) or ENOMEM, without reporting.
 */
extern char *xd_utf16le_to_utf8 (const void *buf, size_t len);

/* Copy LEN bytes of a fixed-size text field, stopping at the first NUL,
 * into a malloc'd NUL-terminated string.  NULL with errno = ENOMEM.
 */
extern char *xd_strndup_field (const void *buf, size_t len);

/* Parse a boolean parameter: true/false, yes/no, on/off, 1/0 (any
 * case).  Returns 1, 0, or -1 after reporting an error naming KEY.
 */
extern int xd_parse_bool (const char *key, const char *value);

/* Write V in the largest unit that divides it ("8 MiB", "1474560 bytes")
 * into OUT (LEN bytes), for export descriptions.
 */
extern void xd_human_size (uint64_t v, char *out, size_t len);

#endif /* XDISK_TEXT_H */
