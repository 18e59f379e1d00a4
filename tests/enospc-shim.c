/* enospc-shim: a full filesystem for one file, preloaded into nbdkit by
 * test-enospc.sh (no small filesystem needs mounting).
 *
 *   XDISK_ENOSPC_FILE=/abs/path   the file it acts on (its resolved name)
 *   XDISK_ENOSPC_BUDGET=N         bytes that may still be allocated
 *
 * A pwrite to that file that touches a hole or the space past its end
 * allocates: it is charged its whole length against the budget, and once
 * the budget cannot pay, it fails with ENOSPC and writes nothing, as a
 * full filesystem would.  Overwriting allocated bytes, truncating and
 * punching holes cost nothing.  Other files are untouched.  The shim
 * writes a line to stderr at the first refusal, so that a test can tell
 * that the limit was reached.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool refused;

/* Whether FD is the file named by XDISK_ENOSPC_FILE. */
static bool
is_target (int fd)
{
  const char *want = getenv ("XDISK_ENOSPC_FILE");
  char link[64], path[PATH_MAX];
  ssize_t n;

  if (want == NULL)
    return false;
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, path, sizeof path - 1);
  if (n < 0)
    return false;
  path[n] = '\0';
  return strcmp (path, want) == 0;
}

/* Whether writing COUNT bytes at OFFSET of FD needs new space: some of
 * the range lies in a hole or past the end of the file. */
static bool
allocates (int fd, size_t count, off_t offset)
{
  struct stat st;
  off_t hole;

  if (fstat (fd, &st) == -1 || (off_t) (offset + count) > st.st_size)
    return true;
  hole = lseek (fd, offset, SEEK_HOLE);
  return hole == -1 || hole < (off_t) (offset + count);
}

/* Charge COUNT bytes to the budget; false if it cannot pay. */
static bool
charge (size_t count)
{
  const char *s = getenv ("XDISK_ENOSPC_BUDGET");
  unsigned long long budget;
  char buf[32];
  bool ok;

  if (s == NULL)
    return true;
  budget = strtoull (s, NULL, 10);
  ok = count <= budget;
  if (ok) {
    snprintf (buf, sizeof buf, "%llu", budget - count);
    setenv ("XDISK_ENOSPC_BUDGET", buf, 1);
  }
  else if (!refused) {
    refused = true;
    fprintf (stderr, "enospc-shim: no space left for %zu bytes\n", count);
  }
  return ok;
}

typedef ssize_t (*pwrite_fn) (int, const void *, size_t, off_t);

static ssize_t
shim_pwrite (const char *name, int fd, const void *buf, size_t count,
             off_t offset)
{
  pwrite_fn real = (pwrite_fn) dlsym (RTLD_NEXT, name);
  bool ok = true;

  if (is_target (fd)) {
    pthread_mutex_lock (&lock);
    if (allocates (fd, count, offset))
      ok = charge (count);
    pthread_mutex_unlock (&lock);
  }
  if (!ok) {
    errno = ENOSPC;
    return -1;
  }
  return real (fd, buf, count, offset);
}

ssize_t
pwrite (int fd, const void *buf, size_t count, off_t offset)
{
  return shim_pwrite ("pwrite", fd, buf, count, offset);
}

ssize_t
pwrite64 (int fd, const void *buf, size_t count, off_t offset)
{
  return shim_pwrite ("pwrite64", fd, buf, count, offset);
}
