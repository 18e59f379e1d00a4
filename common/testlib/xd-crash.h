/* xdisk: power-loss simulation for the write paths (unit tests).
 *
 * SIGKILL does not simulate a power cut: the kernel still writes what
 * the process wrote.  After a power cut the file holds every write made
 * before the last completed flush (fdatasync) and any subset of the
 * writes made after it, in any order, and a write may be torn at a
 * sector boundary.
 *
 * A recorder is a writable memory io that logs every write, truncate
 * and flush the format code makes.  xd_powerloss_run drives a format's
 * write ops with a random sequence of writes, zeros and flushes on a
 * recorder, then rebuilds every crash state the flush barriers allow
 * (every subset of the writes between two barriers when there are few,
 * a sample when there are many, plus torn writes) and checks each:
 *
 *  - the image opens with the format's own open (read-only);
 *  - the format's check op (if any) finds nothing wrong;
 *  - every sector reads back as the last value written to it before the
 *    last client flush that completed, or as a value some later write
 *    or zero gave it: never older data, never garbage;
 *  - every few states, the image also opens for writing, takes writes
 *    and a flush, and every sector is read again: the new data where it
 *    was written, what the crash state showed everywhere else.
 *
 * A write that did not reach the disk leaves garbage, not zeros, where
 * it would have filled a hole (space the file grew into, by a truncate
 * or by a later write landing further on): a file system may give the
 * file space before the data lands.  A hole no write covered reads as
 * zeros; space that held data before keeps it.
 *
 * Writes are whole sectors with contents that identify the operation
 * and the sector, so a sector from the wrong place or time is caught.
 */
#ifndef XDISK_CRASH_H
#define XDISK_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xd-format.h"
#include "io/xd-io.h"

struct xd_recorder;

/* A growable memory io starting with the LEN bytes at BUF, which logs
 * what is written to it.  *REC receives the recorder, which outlives
 * the io (free it with xd_recorder_free after the io is closed).
 */
extern struct xd_io *xd_recorder_io_new (const void *buf, size_t len,
                                         const char *name,
                                         struct xd_recorder **rec);
/* From now on: the current bytes are the state before the first logged
 * write, and the log starts empty.
 */
extern void xd_recorder_start (struct xd_recorder *rec);
/* Number of writes and flushes logged since xd_recorder_start. */
extern void xd_recorder_counts (const struct xd_recorder *rec,
                                size_t *writes, size_t *flushes);
extern void xd_recorder_free (struct xd_recorder *rec);

struct xd_powerloss_case {
  const char *name;             /* for messages */
  const struct xd_format *format;
  /* Either create an image with CREATE (CREATE->path may be NULL)... */
  const struct xd_create_opts *create;
  /* ...or open the existing image IMAGE (IMAGE_LEN bytes) for writing. */
  const void *image;
  size_t image_len;
  /* The io's name and the resolver for names the image holds (a
   * parent): NULL for a lone image (a stream resolver).
   */
  const char *io_name;
  const struct xd_resolver *res;

  unsigned seed;
  unsigned nr_ops;              /* writes and zeros */
  uint32_t max_sectors;         /* longest write or zero, in sectors */
  unsigned flush_every;         /* a client flush every N ops (about) */
  bool use_zero;                /* mix in zero ops (may_trim false/true) */
  /* Epochs (the writes between two barriers) of at most this many
   * writes are checked for every subset; longer ones are sampled.
   */
  unsigned exhaustive_max;      /* default 10 (1024 subsets) */
  unsigned samples_per_epoch;   /* for longer epochs; default 64 */
  /* Also states where the sector a write was putting down when the
   * power went reads as garbage (a disk without sector atomicity): for
   * formats whose metadata updates are made for it (VHDX's log).
   */
  bool garble;
  /* Crash states are opened (read-only) and checked with this format,
   * if not NULL: a stricter or another view of the same image.
   */
  const struct xd_format *check_format;
};

/* Why a run failed. */
enum xd_powerloss_failure {
  XD_PL_OK = 0,
  XD_PL_SETUP,                  /* the case itself: open, create, an op */
  XD_PL_OPEN,                   /* a crash state does not open */
  XD_PL_SIZE,                   /* ...opens with another disk size */
  XD_PL_CHECK,                  /* ...fails the format's check */
  XD_PL_READ,                   /* ...fails a read */
  XD_PL_OLD_DATA,               /* a sector shows data older than the last
                                   write to it before a completed flush */
  XD_PL_ZEROS,                  /* ...zeros where that flushed data was */
  XD_PL_GARBAGE,                /* ...data no op put there */
  XD_PL_REOPEN,                 /* writing after the crash failed */
  XD_PL_REVERIFY,               /* after that write, a sector changed */
  XD_PL_NR_KINDS
};

struct xd_powerloss_stats {
  unsigned long states;         /* crash states checked */
  unsigned long epochs;
  unsigned long writes;         /* image writes logged */
  unsigned long flushes;        /* barriers logged */
  unsigned long reopened;       /* states also opened for writing */
  unsigned long torn;           /* states with a torn or garbled write */
  /* On failure: the first kind found, every kind found in the failing
   * state (bit 1 << kind: its sectors are all checked), and whether
   * that state had a torn write.  STATES is then the failing state's
   * number (1: the first state checked).
   */
  enum xd_powerloss_failure failure;
  unsigned kinds;
  bool failed_torn;
};

/* Run the case: 0 if every crash state passed, -1 after printing the
 * first failure (to stderr, with the state: epoch, writes applied) and
 * setting STATS->failure.
 * The environment variable XDISK_CRASH_MAX_STATES=N stops after N
 * states (the valgrind run of tests/run-sanitizers sets it).
 */
extern int xd_powerloss_run (const struct xd_powerloss_case *c,
                             struct xd_powerloss_stats *stats);

#endif /* XDISK_CRASH_H */
