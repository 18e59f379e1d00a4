/* xdisk: the one source of random numbers.
 *
 * Everything random xdisk writes comes from getrandom(2): GUIDs and
 * UUIDs that name images and their generations, and VMDK content IDs.
 *
 * xd_random_bytes is what identifiers that must be unique across
 * machines use: it fails with a clear error rather than hand out a weak
 * substitute.  xd_random_u32 serves the one caller that cannot fail and
 * needs no more than a change: a VMDK CID, which only has to differ
 * from the one before it; if the kernel has no random bytes yet (early
 * boot), it falls back to mixing the clock and the process id.
 */
#ifndef XDISK_RANDOM_H
#define XDISK_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fill BUF with LEN random bytes: 0, or -1 after reporting. */
extern int xd_random_bytes (void *buf, size_t len);

/* A random number for a VMDK content ID; never fails (see above). */
extern uint32_t xd_random_u32 (void);

#endif /* XDISK_RANDOM_H */
