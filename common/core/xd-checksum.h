/* xdisk: checksums the formats define.
 *
 * CRC-32C (Castagnoli) protects VHDX headers, region tables, metadata and
 * log entries.  The VHD footer uses a one's complement byte sum, which
 * stays with the VHD code.
 */
#ifndef XDISK_CHECKSUM_H
#define XDISK_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of LEN bytes, continuing from CRC (start with 0).  The usual
 * pre- and post-inversion are included, so xd_crc32c (0, "123456789", 9)
 * is 0xe3069283.
 */
extern uint32_t xd_crc32c (uint32_t crc, const void *buf, size_t len);

/* CRC-32C of BUF as if the 4 bytes at FIELD_OFFSET were zero: the way
 * VHDX checksums a structure that contains its own checksum field.
 */
extern uint32_t xd_crc32c_skip_field (const void *buf, size_t len,
                                      size_t field_offset);

#endif /* XDISK_CHECKSUM_H */
