/* xdisk vmdkx: the streamOptimized writer's ordered compression
 * pipeline (vmdk-stream-pipe.c), shared with its request handling
 * (vmdk-stream-write.c) and included by those two files only.
 *
 * Requests fill the grains of a window (a ring of slots); a complete
 * grain is settled: compressed by a worker thread, or by the writing
 * thread if there are none; the grains at the window's back edge that
 * are settled are appended in ascending order, each grain table after
 * its last grain.  Every function here is called with the writer's
 * lock held, and may release it while it waits or compresses.
 */
#ifndef XDISK_VMDK_STREAM_PIPE_H
#define XDISK_VMDK_STREAM_PIPE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vmdk/vmdk.h"
#include "vmdk/vmdk-stream.h"
#include "io/xd-codec.h"
#include "io/xd-io.h"
#include "include/xd-clock.h"
#include "include/xd-iszero.h"

#define GRAIN_SECTORS 128
#define GRAIN_BYTES (GRAIN_SECTORS * VMDK_SECTOR)
#define GTES 512
#define GT_SECTORS (GTES * 4 / VMDK_SECTOR)
#define OVERHEAD_SECTORS 128    /* the first grain's sector, as VMware */
#define MARKER_GRAIN_HEAD 12    /* lba (8) + size (4) */
#define DEFLATE_LEVEL 6         /* zlib's default, as VMware and qemu */

enum marker_type { MARKER_EOS = 0, MARKER_GT = 1, MARKER_GD = 2,
                   MARKER_FOOTER = 3 };

enum slot_state {
  SLOT_FILLING,                 /* taking writes */
  SLOT_QUEUED,                  /* complete, waiting for a worker */
  SLOT_COMPRESSING,             /* a thread deflates it, lock released */
  SLOT_DONE,                    /* ready to append (out, or a zero grain) */
};

struct slot {
  uint64_t grain;
  enum slot_state state;
  unsigned char *data;          /* GRAIN_BYTES, NULL while all zero */
  uint64_t filled[GRAIN_SECTORS / 64];  /* sectors written in full */
  unsigned char *out;           /* DONE: marker + stream + padding */
  size_t out_len;               /* 0: an all-zero grain, not stored */
  struct slot *queued;          /* next on the workers' queue */
};

/* A request waiting for the window (on its stack). */
struct waiter {
  uint64_t grain;
  struct waiter *next;
};

struct vmdk_stream_writer {
  struct xd_io *io;
  uint64_t size, capacity;      /* bytes, sectors */
  uint64_t nr_grains, nr_gts;
  pthread_mutex_t lock;
  pthread_cond_t cond;          /* a slot changed state, or next moved */
  uint64_t window;              /* slots in the ring */
  unsigned stall_ms, grace_ms;
  struct slot **ring;           /* grain g at ring[g % window] */
  uint64_t next;                /* first grain not yet appended */
  uint64_t floor;               /* grains below it are appended as they are */
  uint64_t file_end;            /* sectors */
  uint32_t gt[GTES];            /* the table of grain next / GTES */
  bool gt_used;
  uint32_t *gd;                 /* nr_gts entries */
  unsigned char *stored;        /* bitmap: grains appended with data */
  uint64_t progress;            /* bumped whenever anything advances */
  unsigned active, waiting;     /* requests in progress, waiting */
  struct waiter *waiters;       /* the waiting ones */
  uint64_t stored_grains, waits, stalls;  /* for the debug line */
  bool started, finished, failed;
  int error;                    /* errno of the first failure */
  int finish_result;
  struct xd_deflaters *deflaters;
  /* The compressing threads (none: the writing thread compresses). */
  pthread_t workers[VMDK_STREAM_MAX_WORKERS];
  unsigned nr_workers, max_workers;
  bool workers_tried;           /* started on the first complete grain */
  pthread_cond_t work;          /* the queue has a slot, or stop */
  struct slot *queue, **queue_end;
  bool stop;
  unsigned char header[VMDK_SECTOR];
  size_t out_cap;               /* bytes of a slot's out buffer */
};

/* The stream cannot go on: record ERR (the first one is kept and
 * given to every later request) and wake every waiting thread.  -1
 * with errno set to the first error.
 */
extern int vmdk_stream_fail (struct vmdk_stream_writer *w, int err);
/* A request after a failure: reported, -1 with the first error. */
extern int vmdk_stream_refuse_failed (struct vmdk_stream_writer *w);

/* The slot of grain GRAIN in the ring (NULL, or another grain's). */
extern struct slot **vmdk_stream_slot_at (struct vmdk_stream_writer *w,
                                          uint64_t grain);
extern void vmdk_stream_slot_free (struct slot *s);
/* Every sector of S inside the disk has been written. */
extern bool vmdk_stream_slot_complete (const struct vmdk_stream_writer *w,
                                       const struct slot *s);
/* S (FILLING) is complete or due: to the workers, or compressed here. */
extern int vmdk_stream_settle (struct vmdk_stream_writer *w, struct slot *s);
/* Append the settled grains at the window's back edge. */
extern int vmdk_stream_emit_ready (struct vmdk_stream_writer *w);
/* Grain w->next is settled (not stored): move on. */
extern int vmdk_stream_advance (struct vmdk_stream_writer *w);
/* Wait until grain G fits in the window. */
extern int vmdk_stream_wait_window (struct vmdk_stream_writer *w,
                                    uint64_t g);
/* Stop and join the workers (takes the lock itself). */
extern void vmdk_stream_stop_workers (struct vmdk_stream_writer *w);
/* The grain directory, the footer and the end-of-stream marker. */
extern int vmdk_stream_write_tail (struct vmdk_stream_writer *w);

#endif /* XDISK_VMDK_STREAM_PIPE_H */
