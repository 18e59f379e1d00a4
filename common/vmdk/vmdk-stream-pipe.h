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
#include "io/xd-window.h"
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

struct vmdk_stream_writer {
  struct xd_io *io;
  uint64_t size, capacity;      /* bytes, sectors */
  uint64_t nr_grains, nr_gts;
  pthread_mutex_t lock;
  pthread_cond_t cond;          /* a slot changed state, or next moved */
  /* The window of grains (win.size slots in the ring): win.next is the
   * first grain not yet appended, grains below win.floor are appended
   * as they are; win.failed and win.error say the stream failed.
   */
  struct xd_window win;
  struct slot **ring;           /* grain g at ring[g % win.size] */
  uint64_t file_end;            /* sectors */
  uint32_t gt[GTES];            /* the table of grain next / GTES */
  bool gt_used;
  uint32_t *gd;                 /* nr_gts entries */
  unsigned char *stored;        /* bitmap: grains appended with data */
  uint64_t stored_grains;       /* for the debug line */
  bool started, finished;
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
/* The window's steps: the grain at its back edge settled in order
 * (xd_window_settle_ready), zeroed whole (xd_window_settle_zeroed).
 */
extern const struct xd_window_ops vmdk_stream_window_ops;
/* A request's bytes into grain G (vmdk-stream-write.c). */
extern int vmdk_stream_write_in_grain (void *w, uint64_t g, const void *buf,
                                       unsigned off, unsigned len,
                                       uint64_t disk_offset);
/* Stop and join the workers (takes the lock itself). */
extern void vmdk_stream_stop_workers (struct vmdk_stream_writer *w);
/* The grain directory, the footer and the end-of-stream marker. */
extern int vmdk_stream_write_tail (struct vmdk_stream_writer *w);

#endif /* XDISK_VMDK_STREAM_PIPE_H */
