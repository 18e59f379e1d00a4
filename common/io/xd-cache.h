/* xdisk: a bounded, thread-safe cache of fixed-size metadata tables.
 *
 * Grain tables, BAT pages and similar tables are loaded on demand and
 * kept in a cache of at most MAX_ENTRIES entries, so a 2 TB disk does not
 * need all of its tables in memory.  Readers pin an entry while they use
 * it; only unpinned entries are evicted (least recently used first).
 * Different keys load in parallel; two threads missing on the same key
 * load it once.
 */
#ifndef XDISK_CACHE_H
#define XDISK_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct xd_cache;

/* Fill BUF (entry_size bytes) with the table for KEY: all of it, as BUF
 * may hold another key's old table.  Returns 0, or -1 after reporting
 * an error.
 */
typedef int (*xd_cache_load_fn) (void *opaque, uint64_t key, void *buf);

/* Returns NULL after reporting an error. */
extern struct xd_cache *xd_cache_new (size_t entry_size, size_t max_entries);
extern void xd_cache_free (struct xd_cache *cache);

/* Entries that fit in BYTES, at least MIN. */
extern size_t xd_cache_entries_for (uint64_t bytes, size_t entry_size,
                                    size_t min);

/* Return the table for KEY, pinned, loading it on a miss.  Returns NULL
 * with errno set if loading failed (the loader reported why).
 */
extern const void *xd_cache_pin (struct xd_cache *cache, uint64_t key,
                                 xd_cache_load_fn load, void *opaque);
extern void xd_cache_unpin (struct xd_cache *cache, const void *entry);

/* Store a copy of DATA (entry_size bytes) as the entry for KEY, unless
 * KEY is cached or being loaded: a loader that got the data of further
 * keys with its own.  Returns 0, or -1 (not reported) without memory.
 */
extern int xd_cache_put (struct xd_cache *cache, uint64_t key,
                         const void *data);

/* Counters for debug messages. */
struct xd_cache_stats {
  uint64_t hits, misses, evictions;
  size_t entries;
};
extern void xd_cache_get_stats (struct xd_cache *cache,
                                struct xd_cache_stats *stats);

#endif /* XDISK_CACHE_H */
