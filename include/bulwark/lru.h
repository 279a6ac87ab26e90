/* lru.h - the one bounded LRU map (the rules engine's correlation and
 * running-image state in correlate.c, the anomaly detectors' per-key state
 * in anomaly.c; the API's network edges and address cache).
 *
 * Intrusive: an entry is one allocation that begins with a struct lru_node
 * and has its key copied after the caller's bytes (lru_entry_alloc). Keys
 * are bytes (klen), hashed with bw_hash. The map holds at most max entries;
 * lru_get evicts the least recently used one (through the caller's free
 * function) to make room. Buckets double while the load passes 1. Not
 * thread-safe: one user, one thread. */
#ifndef BULWARK_LRU_H
#define BULWARK_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/hash.h"

struct lru_node {
    struct lru_node *hnext;        /* bucket chain */
    struct lru_node *prev, *next;  /* recency list; head.next is the newest */
    uint64_t hash;
    size_t klen;
    const char *key;               /* in the entry's allocation, NUL-terminated */
};

struct lru {
    struct lru_node **bucket;      /* NULL until lru_init */
    size_t nbucket;                /* a power of two */
    size_t n, max;
    struct lru_node head;          /* sentinel of the recency list */
};

/* Frees one entry (the whole allocation); NULL means free(). */
typedef void (*lru_free_fn)(struct lru_node *);

static inline uint64_t lru_hash(const char *key, size_t klen)
{
    return bw_hash(key, klen);
}

/* 0 or BW_ENOMEM. max 0 is taken as 1. */
int lru_init(struct lru *l, size_t max);
/* Frees every entry and the buckets; l is then as if never initialised. */
void lru_release(struct lru *l, lru_free_fn free_fn);
/* Moves src into dst (dst released by the caller first). */
void lru_move(struct lru *dst, struct lru *src);

/* The entry of key, or NULL; the recency order is not changed. */
struct lru_node *lru_find(const struct lru *l, const char *key, size_t klen, uint64_t h);
/* Makes e the newest. */
void lru_touch(struct lru *l, struct lru_node *e);
/* Unlinks e (the caller frees it). */
void lru_remove(struct lru *l, struct lru_node *e);
/* Links a new entry as the newest, or as the oldest when at_tail (a restore
 * keeps the saved order). The caller keeps n <= max. */
void lru_insert(struct lru *l, struct lru_node *e, bool at_tail);
/* An entry of size bytes (zeroed; a struct lru_node first) with the key
 * copied after it, hash set. NULL on ENOMEM. */
void *lru_entry_alloc(size_t size, const char *key, size_t klen, uint64_t h);
/* Finds the entry of key or makes one of size bytes, evicting the oldest
 * (free_fn) when full; either way it becomes the newest. *created (may be
 * NULL) tells which. 0 or BW_ENOMEM. */
int lru_get(struct lru *l, const char *key, size_t klen, size_t size, lru_free_fn free_fn,
            struct lru_node **out, bool *created);

#endif
