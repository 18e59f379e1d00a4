/* crash-client: random writes through NBD, and checking them afterwards.
 *
 *   crash-client run SOCKET SEED NR_OPS MAX_SECTORS LOG [THREADS]
 *   crash-client verify SOCKET SEED LOG [BASE]
 *
 * run: THREADS connections (default 1) to the NBD server at the Unix
 * SOCKET, each writing and zeroing random whole sectors of its own
 * stripe of the disk and flushing every few operations.  Before each
 * operation it appends "I THREAD OP W|Z FIRST COUNT" to LOG, and after
 * each flush completes "F THREAD OP" (every op of THREAD up to OP is
 * durable).  Lines are written with write(2), so the log survives the
 * server being killed: the tests kill it at a random moment.
 *
 * verify: read the whole disk and check every sector against LOG: it
 * must hold the value of the last op of its thread flushed there (or
 * the BASE file's bytes, zeros without one, if none was), or the value
 * of a later op of that thread.  Anything else (older data, another
 * sector's data, garbage) is reported and the exit status is 1.
 *
 * Each sector written holds words derived from the op, the sector and
 * SEED, so data from another place, op or run is recognised.
 *
 * Exit status: 0 on success, 3 when a request fails on an established
 * connection (the server was killed), 2 on any other error, 1 when
 * verify finds a wrong sector.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>

#include "testlib/xd-pattern.h"

#define SECTOR XD_PATTERN_SECTOR
#define MAX_THREADS 16

static uint64_t seed;

/* Exit statuses: 2 for an error of the client's own (arguments, the
 * log, memory, a connection refused), EXIT_LOST for a request that
 * failed on an established connection: what a server killed in the
 * middle of the run causes, and all that the SIGKILL tests accept.
 */
#define EXIT_LOST 3

#define die(...) fail (2, __VA_ARGS__)
#define lost(...) fail (EXIT_LOST, __VA_ARGS__)

static void __attribute__ ((noreturn, format (printf, 2, 3)))
fail (int status, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  fprintf (stderr, "crash-client: ");
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
  va_end (ap);
  /* _exit: a client whose server was killed stops mid-request, with
   * buffers in use; the leak checker of the sanitizer build must not
   * count them.
   */
  fflush (stderr);
  _exit (status);
}

static struct nbd_handle *
connect_to (const char *sock)
{
  struct nbd_handle *nbd = nbd_create ();

  if (nbd == NULL || nbd_connect_unix (nbd, sock) == -1)
    die ("%s: %s", sock, nbd_get_error ());
  return nbd;
}

static uint64_t
next_random (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* ---- run ---- */

static const char *sock_path;
static int log_fd;
static unsigned long nr_ops;
static uint64_t max_sectors, nr_sectors;
static unsigned nr_threads;
static atomic_ulong next_op;

static void
log_line (const char *fmt, ...)
{
  char line[128];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  /* O_APPEND: one write per line keeps lines whole between threads. */
  if (write (log_fd, line, (size_t) n) != n)
    die ("writing the log: %m");
}

static void *
run_thread (void *arg)
{
  unsigned t = (unsigned) (uintptr_t) arg;
  uint64_t stripe = nr_sectors / nr_threads;
  uint64_t lo = stripe * t;
  uint64_t rnd = (seed + 1) * UINT64_C (0x9E3779B97F4A7C15) + t + 1;
  unsigned char *buf = malloc (max_sectors * SECTOR);
  struct nbd_handle *nbd = connect_to (sock_path);
  unsigned long i, last = 0;

  if (t == nr_threads - 1)
    stripe = nr_sectors - lo;
  if (buf == NULL)
    die ("malloc: %m");
  for (i = 0; i < nr_ops / nr_threads; i++) {
    unsigned long k = ++next_op;
    uint64_t first = lo + next_random (&rnd) % stripe;
    uint64_t count = 1 + next_random (&rnd) % max_sectors;
    bool zero = next_random (&rnd) % 6 == 0;
    int r;

    if (count > lo + stripe - first)
      count = lo + stripe - first;
    log_line ("I %u %lu %c %" PRIu64 " %" PRIu64 "\n", t, k,
              zero ? 'Z' : 'W', first, count);
    if (zero)
      r = nbd_zero (nbd, count * SECTOR, first * SECTOR,
                    next_random (&rnd) & 1 ? LIBNBD_CMD_FLAG_NO_HOLE : 0);
    else {
      xd_pattern_fill (seed, buf, k, first, count);
      r = nbd_pwrite (nbd, buf, count * SECTOR, first * SECTOR, 0);
    }
    if (r == -1)
      lost ("op %lu: %s", k, nbd_get_error ());
    last = k;
    if (next_random (&rnd) % 8 == 0) {
      if (nbd_flush (nbd, 0) == -1)
        lost ("flush: %s", nbd_get_error ());
      log_line ("F %u %lu\n", t, last);
    }
  }
  if (nbd_flush (nbd, 0) == -1)
    lost ("flush: %s", nbd_get_error ());
  log_line ("F %u %lu\n", t, last);
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  free (buf);
  return NULL;
}

static int
do_run (int argc, char **argv)
{
  pthread_t threads[MAX_THREADS];
  struct nbd_handle *nbd;
  unsigned t;

  if (argc < 7)
    die ("usage: run SOCKET SEED NR_OPS MAX_SECTORS LOG [THREADS]");
  sock_path = argv[2];
  seed = strtoull (argv[3], NULL, 0);
  nr_ops = strtoul (argv[4], NULL, 0);
  max_sectors = strtoull (argv[5], NULL, 0);
  nr_threads = argc > 7 ? (unsigned) atoi (argv[7]) : 1;
  if (max_sectors == 0 || nr_threads == 0 || nr_threads > MAX_THREADS)
    die ("bad arguments");
  log_fd = open (argv[6], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd == -1)
    die ("%s: %m", argv[6]);

  nbd = connect_to (sock_path);
  nr_sectors = (uint64_t) nbd_get_size (nbd) / SECTOR;
  if (nr_threads > 1 && nbd_can_multi_conn (nbd) != 1)
    die ("several connections need multi-conn");
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  if (nr_sectors < nr_threads)
    die ("the disk is too small");

  for (t = 0; t < nr_threads; t++)
    if (pthread_create (&threads[t], NULL, run_thread,
                        (void *) (uintptr_t) t) != 0)
      die ("pthread_create failed");
  for (t = 0; t < nr_threads; t++)
    pthread_join (threads[t], NULL);
  close (log_fd);
  return 0;
}

/* ---- verify ---- */

struct op {
  unsigned thread;
  bool zero;
  uint64_t first, count;
};

static struct op *ops;          /* ops[k], k from 1 */
static unsigned long max_op;
static unsigned long flushed[MAX_THREADS];

static void
read_log (const char *path)
{
  FILE *fp = fopen (path, "r");
  char line[256];

  if (fp == NULL)
    die ("%s: %m", path);
  while (fgets (line, sizeof line, fp)) {
    unsigned t;
    unsigned long k;
    char kind;
    uint64_t first, count;

    if (sscanf (line, "I %u %lu %c %" SCNu64 " %" SCNu64, &t, &k, &kind,
                &first, &count) == 5) {
      if (t >= MAX_THREADS || k == 0 || k > 100000000)
        die ("bad log line: %s", line);
      if (k > max_op) {
        struct op *p = realloc (ops, (k + 1) * sizeof *p);
        if (p == NULL)
          die ("realloc: %m");
        memset (p + max_op + 1, 0, (k - max_op) * sizeof *p);
        ops = p;
        max_op = k;
      }
      ops[k] = (struct op) { t, kind == 'Z', first, count };
    }
    else if (sscanf (line, "F %u %lu", &t, &k) == 2 && t < MAX_THREADS) {
      if (k > flushed[t])
        flushed[t] = k;
    }
    /* A line cut short by the kill is ignored. */
  }
  fclose (fp);
}

static bool
covers (const struct op *op, uint64_t s)
{
  return op->count && s >= op->first && s - op->first < op->count;
}

/* Per sector: the last flushed op there (0: none), and whether a later
 * zero of the same thread covers it.
 */
static unsigned long *stable;
static bool *later_zero;

static void
build_model (void)
{
  unsigned long k;
  uint64_t s;

  stable = calloc (nr_sectors, sizeof *stable);
  later_zero = calloc (nr_sectors, sizeof *later_zero);
  if (stable == NULL || later_zero == NULL)
    die ("calloc: %m");
  for (k = 1; k <= max_op; k++) {
    const struct op *op = &ops[k];
    if (op->count == 0)
      continue;
    if (op->first + op->count > nr_sectors)
      die ("op %lu is beyond the disk", k);
    for (s = op->first; s < op->first + op->count; s++) {
      if (k <= flushed[op->thread])
        stable[s] = k;
      else if (op->zero)
        later_zero[s] = true;
    }
  }
}

static bool
sector_ok (uint64_t s, const unsigned char *sec, const unsigned char *base,
           char *why, size_t len)
{
  static const unsigned char zeros[SECTOR];
  unsigned long st = stable[s], k = xd_pattern_op (seed, sec, s);

  if (k != 0 && k <= max_op && covers (&ops[k], s) && !ops[k].zero &&
      (k == st || k > flushed[ops[k].thread]))
    return true;
  if (memcmp (sec, zeros, SECTOR) == 0 &&
      ((st == 0 && memcmp (base, zeros, SECTOR) == 0) ||
       (st != 0 && ops[st].zero) || later_zero[s]))
    return true;
  /* The earlier contents may be data of an earlier run (a parent
   * written by this client with the same seed): compare them whatever
   * they look like.
   */
  if (st == 0 && memcmp (sec, base, SECTOR) == 0)
    return true;
  if (st == 0)
    snprintf (why, len, "should hold its earlier contents%s",
              k ? " (holds a write not made there)" : "");
  else
    snprintf (why, len, "lost op %lu (%s), flushed%s", st,
              ops[st].zero ? "zero" : "write",
              k ? " (holds data of another op)" : "");
  return false;
}

static int
do_verify (int argc, char **argv)
{
  const uint64_t chunk = 1 << 20;
  struct nbd_handle *nbd;
  unsigned char *buf, *base;
  FILE *basefp = NULL;
  unsigned long bad = 0;
  uint64_t off;

  if (argc < 5)
    die ("usage: verify SOCKET SEED LOG [BASE]");
  seed = strtoull (argv[3], NULL, 0);
  nbd = connect_to (argv[2]);
  nr_sectors = (uint64_t) nbd_get_size (nbd) / SECTOR;
  read_log (argv[4]);
  build_model ();
  if (argc > 5 && (basefp = fopen (argv[5], "r")) == NULL)
    die ("%s: %m", argv[5]);
  buf = malloc (chunk);
  base = calloc (1, chunk);
  if (buf == NULL || base == NULL)
    die ("malloc: %m");
  for (off = 0; off < nr_sectors * SECTOR; off += chunk) {
    uint64_t n = nr_sectors * SECTOR - off, s;
    if (n > chunk)
      n = chunk;
    if (nbd_pread (nbd, buf, n, off, 0) == -1)
      die ("reading at %" PRIu64 ": %s", off, nbd_get_error ());
    if (basefp && fread (base, 1, n, basefp) != n)
      die ("%s is shorter than the disk", argv[5]);
    for (s = 0; s < n / SECTOR; s++) {
      char why[128];
      uint64_t sec = off / SECTOR + s;
      if (!sector_ok (sec, buf + s * SECTOR, base + s * SECTOR, why,
                      sizeof why)) {
        if (bad++ < 10)
          fprintf (stderr, "crash-client: sector %" PRIu64 " %s\n", sec,
                   why);
      }
    }
  }
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  if (basefp)
    fclose (basefp);
  free (buf);
  free (base);
  free (stable);
  free (later_zero);
  free (ops);
  printf ("crash-client: %" PRIu64 " sectors checked against %lu ops, "
          "%lu wrong\n", nr_sectors, max_op, bad);
  return bad ? 1 : 0;
}

int
main (int argc, char **argv)
{
  if (argc > 1 && strcmp (argv[1], "run") == 0)
    return do_run (argc, argv);
  if (argc > 1 && strcmp (argv[1], "verify") == 0)
    return do_verify (argc, argv);
  die ("usage: crash-client run|verify ...");
}
