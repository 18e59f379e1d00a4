/* xdisk: an open XVA, shared by its chunk index (xva-index.c) and its
 * format driver (xva.c).  Private to those two files.
 */
#ifndef XDISK_XVA_INDEX_H
#define XDISK_XVA_INDEX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/xd-io.h"
#include "archive/xd-tar.h"
#include "appliance/xva.h"

enum csum_kind { CSUM_NONE, CSUM_SHA1, CSUM_XXH };

struct chunk {
  uint64_t pos;                 /* in the disk */
  uint64_t data;                /* in the archive */
  uint64_t csum;                /* checksum member's data, if kind */
  uint32_t len;
  uint32_t number;
  uint8_t kind;
  bool verified;                /* its checksum was checked */
};

struct vdi_state {
  struct chunk *chunks;
  size_t n, cap;
  struct xd_io_segment *gz;     /* legacy: gzip'd chunk members */
  size_t ngz, gz_cap;
  int64_t last;                 /* number of the last chunk file, -1 */
  uint64_t pos;
  bool started, finished;       /* its run of members began, ended */
};

struct xva {
  struct xd_io *io;             /* the archive (gunzipped if need be) */
  struct xd_xva_meta meta;
  struct vdi_state *vdis;
  /* The walk over the tar headers, which goes on after open as reads
   * need it (see xva_index_to).  walk_lock serialises the walkers; LOCK
   * guards what readers look at: the chunks, positions and flags the
   * walk updates.
   */
  struct xd_tar_cursor *cursor;
  pthread_mutex_t walk_lock;
  bool walk_failed;             /* under walk_lock */
  bool walk_done;               /* the end of the archive was reached */
  size_t members;               /* regular members seen so far */
  uint64_t first_len;           /* the first chunk file's length */
  bool have_first;
  size_t current;               /* VDI whose run of chunks is open */
  bool in_run;
  bool expect;                  /* a chunk file waits for its checksum */
  uint32_t expect_num;
  size_t expect_vdi;
  struct chunk *pending;        /* that chunk, NULL for a keep-alive */
  bool saw_xml;
  /* Serving. */
  size_t chosen;
  struct vdi_state *disk;       /* the chosen one; NULL until chosen */
  bool verify;
  pthread_mutex_t lock;
  struct xd_io **parts;         /* legacy: the inflated chunks */
  size_t nparts;
  uint64_t legacy_bytes;        /* legacy: their total size */
  char *description;
};

/* The walk over the tar headers and the lookups in its index: see
 * xva-index.c.
 */
extern int xva_walk_step (struct xva *x);
extern int xva_walk_to_end (struct xva *x);
extern int xva_index_to (struct xva *x, uint64_t end, size_t max_steps);
extern uint64_t xva_indexed_to (const struct xva *x);
extern bool xva_chunk_at (struct xva *x, uint64_t offset, size_t *i,
                          struct chunk *c);

#endif /* XDISK_XVA_INDEX_H */
