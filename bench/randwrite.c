/* bench/randwrite: N random aligned writes of SIZE bytes through NBD,
 * DEPTH in flight at once, then a flush: the random-write benchmark of
 * bench/write (the same client for xdisk and qemu-nbd).
 *
 *   randwrite URI N SIZE DEPTH SEED
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

static uint64_t
next_random (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int
fail (struct nbd_handle *nbd)
{
  fprintf (stderr, "randwrite: %s\n", nbd_get_error ());
  if (nbd)
    nbd_close (nbd);
  return 1;
}

int
main (int argc, char **argv)
{
  struct nbd_handle *nbd;
  unsigned long n, done = 0, issued = 0;
  uint64_t size, slots, rnd;
  unsigned depth;
  char *buf;

  if (argc != 6) {
    fprintf (stderr, "usage: randwrite URI N SIZE DEPTH SEED\n");
    return 2;
  }
  n = strtoul (argv[2], NULL, 0);
  size = strtoull (argv[3], NULL, 0);
  depth = (unsigned) atoi (argv[4]);
  rnd = strtoull (argv[5], NULL, 0) | 1;
  buf = malloc (size);
  if (buf == NULL || size == 0 || depth == 0)
    return 2;
  memset (buf, 0x5a, size);
  nbd = nbd_create ();
  if (nbd == NULL || nbd_connect_uri (nbd, argv[1]) == -1)
    return fail (nbd);
  slots = (uint64_t) nbd_get_size (nbd) / size;
  while (done < n) {
    while (issued < n && nbd_aio_in_flight (nbd) < (int) depth) {
      uint64_t off = (next_random (&rnd) % slots) * size;
      /* The buffer is only read: sharing it between commands is safe. */
      if (nbd_aio_pwrite (nbd, buf, size, off, NBD_NULL_COMPLETION, 0) == -1)
        return fail (nbd);
      issued++;
    }
    if (nbd_poll (nbd, -1) == -1)
      return fail (nbd);
    for (;;) {
      int64_t cookie = nbd_aio_peek_command_completed (nbd);
      if (cookie <= 0)
        break;
      if (nbd_aio_command_completed (nbd, (uint64_t) cookie) == -1)
        return fail (nbd);
      done++;
    }
  }
  if (nbd_flush (nbd, 0) == -1)
    return fail (nbd);
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  free (buf);
  return 0;
}
