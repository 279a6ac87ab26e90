/* hash.h - the one hash function of Bulwark's in-memory maps (the store's
 * dimension and mark caches, the server's table of connected agents, the
 * LRU map (include/bulwark/lru.h: rules engine, API), the agent's file watches).
 * Checksums of saved state are not hashing for a map and use their own
 * (anomaly_blob_checksum, fixed by the blob format).
 *
 * Keys are container ids (64 hex digits), agent ids, host names and small
 * binary keys: hashed eight bytes at a time (a byte-at-a-time hash of a
 * container id was ~5% of the store's writer thread). Not for anything a
 * peer could use to force collisions at scale without a bound on the
 * table's size; every table using it is capped. */
#ifndef BULWARK_HASH_H
#define BULWARK_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t bw_hash(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL), w;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
    }
    if (i < len) {
        w = 0;
        memcpy(&w, p + i, len - i);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    }
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
}

#endif
