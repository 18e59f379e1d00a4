/* xdisk: bounded table cache, see xd-cache.h.
 *
 * Entries live in a chained hash table keyed by the table's key, and the
 * unpinned ready ones also sit on an LRU list (head = most recent).  One
 * mutex guards the structure; loads happen outside it, with the entry in
 * the LOADING state so that other threads wanting the same key wait on
 * the condition variable instead of loading it again.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "io/xd-cache.h"
#include "include/xd-report.h"

enum entry_state { LOADING, READY, FAILED };

struct entry {
  uint64_t key;
  enum entry_state state;
  unsigned refs;                /* pins, including a loader's */
  struct entry *hnext;          /* hash chain */
  struct entry *prev, *next;    /* LRU list, only while refs == 0 */
  _Alignas (max_align_t) unsigned char data[];
};

struct xd_cache {
  pthread_mutex_t lock;
  pthread_cond_t loaded;
  size_t entry_size, max_entries, nr_entries;
  size_t nr_buckets;            /* power of 2 */
  struct entry **buckets;
  struct entry *lru_head, *lru_tail;
  struct xd_cache_stats stats;
};

static size_t
bucket_of (const struct xd_cache *c, uint64_t key)
{
  /* Fibonacci hashing spreads the sequential keys tables usually have. */
  return (size_t) ((key * UINT64_C (0x9E3779B97F4A7C15)) >> 32)
    & (c->nr_buckets - 1);
}

struct xd_cache *
xd_cache_new (size_t entry_size, size_t max_entries)
{
  struct xd_cache *c = calloc (1, sizeof *c);

  if (c == NULL)
    goto nomem;
  c->entry_size = entry_size;
  c->max_entries = max_entries ? max_entries : 1;
  c->nr_buckets = 16;
  while (c->nr_buckets < 2 * c->max_entries && c->nr_buckets < (1u << 24))
    c->nr_buckets *= 2;
  c->buckets = calloc (c->nr_buckets, sizeof *c->buckets);
  if (c->buckets == NULL)
    goto nomem;
  pthread_mutex_init (&c->lock, NULL);
  pthread_cond_init (&c->loaded, NULL);
  return c;

 nomem:
  xd_error ("table cache: calloc: %m");
  if (c)
    free (c->buckets);
  free (c);
  return NULL;
}

void
xd_cache_free (struct xd_cache *c)
{
  size_t i;

  if (c == NULL)
    return;
  for (i = 0; i < c->nr_buckets; ++i) {
    struct entry *e = c->buckets[i];
    while (e) {
      struct entry *next = e->hnext;
      free (e);
      e = next;
    }
  }
  free (c->buckets);
  pthread_mutex_destroy (&c->lock);
  pthread_cond_destroy (&c->loaded);
  free (c);
}

size_t
xd_cache_entries_for (uint64_t bytes, size_t entry_size, size_t min)
{
  uint64_t n = entry_size ? bytes / entry_size : 0;

  if (n < min)
    n = min;
  if (n > SIZE_MAX / 4)
    n = SIZE_MAX / 4;
  return (size_t) n;
}

static void
lru_unlink (struct xd_cache *c, struct entry *e)
{
  if (e->prev) e->prev->next = e->next; else c->lru_head = e->next;
  if (e->next) e->next->prev = e->prev; else c->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void
lru_push_head (struct xd_cache *c, struct entry *e)
{
  e->prev = NULL;
  e->next = c->lru_head;
  if (c->lru_head) c->lru_head->prev = e; else c->lru_tail = e;
  c->lru_head = e;
}

static void
hash_remove (struct xd_cache *c, struct entry *e)
{
  struct entry **pp = &c->buckets[bucket_of (c, e->key)];

  while (*pp && *pp != e)
    pp = &(*pp)->hnext;
  if (*pp)
    *pp = e->hnext;
  c->nr_entries--;
}

static struct entry *
hash_find (struct xd_cache *c, uint64_t key)
{
  struct entry *e;

  for (e = c->buckets[bucket_of (c, key)]; e; e = e->hnext)
    if (e->key == key)
      return e;
  return NULL;
}

/* Drop unpinned entries, oldest first, while over the limit.  Pinned
 * entries may push the cache past the limit for as long as they are
 * pinned; that is bounded by the number of requests in flight.
 */
static void
evict_while_full (struct xd_cache *c)
{
  while (c->nr_entries > c->max_entries && c->lru_tail) {
    struct entry *victim = c->lru_tail;
    lru_unlink (c, victim);
    hash_remove (c, victim);
    free (victim);
    c->stats.evictions++;
  }
}

/* Pin: take a reference, removing the entry from the LRU list. */
static void
pin_locked (struct xd_cache *c, struct entry *e)
{
  if (e->refs++ == 0 && e->state == READY)
    lru_unlink (c, e);
}

static void
unpin_locked (struct xd_cache *c, struct entry *e)
{
  if (--e->refs > 0)
    return;
  if (e->state == FAILED) {
    free (e);                   /* already out of the hash table */
    return;
  }
  lru_push_head (c, e);
  evict_while_full (c);
}

/* Memory for a new entry: when the cache is full, the least recently
 * used unpinned entry, evicted and reused rather than freed and
 * allocated again.  Freed memory goes back to the kernel and faults in
 * again, zeroed: with 64K inflated grains that was a fifth of the time
 * of copying a streamOptimized VMDK.  The loader fills the data.
 */
static struct entry *
entry_alloc (struct xd_cache *c)
{
  struct entry *e = c->lru_tail;

  if (c->nr_entries >= c->max_entries && e) {
    lru_unlink (c, e);
    hash_remove (c, e);
    c->stats.evictions++;
    return e;
  }
  return malloc (sizeof *e + c->entry_size);
}

static struct entry *
load_new_entry (struct xd_cache *c, uint64_t key,
                xd_cache_load_fn load, void *opaque)
{
  struct entry *e = entry_alloc (c);
  size_t b;
  int r;

  if (e == NULL) {
    xd_error ("table cache: malloc: %m");
    return NULL;
  }
  e->key = key;
  e->state = LOADING;
  e->refs = 1;
  e->prev = e->next = NULL;
  b = bucket_of (c, key);
  e->hnext = c->buckets[b];
  c->buckets[b] = e;
  c->nr_entries++;
  c->stats.misses++;

  pthread_mutex_unlock (&c->lock);
  r = load (opaque, key, e->data);
  pthread_mutex_lock (&c->lock);

  if (r == -1) {
    int saved_errno = errno ? errno : EIO;
    e->state = FAILED;
    hash_remove (c, e);
    pthread_cond_broadcast (&c->loaded);
    unpin_locked (c, e);
    errno = saved_errno;
    return NULL;
  }
  e->state = READY;
  pthread_cond_broadcast (&c->loaded);
  evict_while_full (c);
  return e;
}

const void *
xd_cache_pin (struct xd_cache *c, uint64_t key,
              xd_cache_load_fn load, void *opaque)
{
  struct entry *e;

  pthread_mutex_lock (&c->lock);
  for (;;) {
    e = hash_find (c, key);
    if (e == NULL) {
      e = load_new_entry (c, key, load, opaque);
      break;
    }
    pin_locked (c, e);
    while (e->state == LOADING)
      pthread_cond_wait (&c->loaded, &c->lock);
    if (e->state == READY) {
      c->stats.hits++;
      break;
    }
    /* The other thread's load failed: drop our pin and try ourselves,
     * so that this request reports its own error.
     */
    unpin_locked (c, e);
  }
  pthread_mutex_unlock (&c->lock);
  return e ? e->data : NULL;
}

int
xd_cache_put (struct xd_cache *c, uint64_t key, const void *data)
{
  struct entry *e;
  size_t b;

  pthread_mutex_lock (&c->lock);
  if (hash_find (c, key) != NULL) {
    pthread_mutex_unlock (&c->lock);
    return 0;
  }
  e = entry_alloc (c);
  if (e == NULL) {
    pthread_mutex_unlock (&c->lock);
    return -1;
  }
  e->key = key;
  e->state = READY;
  e->refs = 0;
  memcpy (e->data, data, c->entry_size);
  b = bucket_of (c, key);
  e->hnext = c->buckets[b];
  c->buckets[b] = e;
  c->nr_entries++;
  lru_push_head (c, e);
  evict_while_full (c);
  pthread_mutex_unlock (&c->lock);
  return 0;
}

void
xd_cache_unpin (struct xd_cache *c, const void *data)
{
  struct entry *e =
    (struct entry *) ((const unsigned char *) data
                      - offsetof (struct entry, data));

  pthread_mutex_lock (&c->lock);
  unpin_locked (c, e);
  pthread_mutex_unlock (&c->lock);
}

void
xd_cache_get_stats (struct xd_cache *c, struct xd_cache_stats *stats)
{
  pthread_mutex_lock (&c->lock);
  *stats = c->stats;
  stats->entries = c->nr_entries;
  pthread_mutex_unlock (&c->lock);
}
