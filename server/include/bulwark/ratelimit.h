/* ratelimit.h - token buckets keyed by text (a token, a peer address), in a
 * fixed table: the REST API's request and failed-authentication limits and
 * the enrollment listener's failed-enrollment limit. Thread-safe. */
#ifndef BULWARK_RATELIMIT_H
#define BULWARK_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 1024u

struct ratelimit_slot {
    uint64_t hash;  /* 0 = free */
    double tokens;
    int64_t last_ns;
};

struct ratelimit {
    pthread_mutex_t mu;
    struct ratelimit_slot slot[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *rl);
void ratelimit_release(struct ratelimit *rl);
/* Takes one from the bucket of key (per_min a minute, bursts up to burst),
 * or only looks when !take; false when it is empty, and then (when looking)
 * the seconds to wait in *retry_s. Keys share a slot by hash: a collision
 * resets the slot, so an attacker gains at most a burst. */
bool ratelimit_take(struct ratelimit *rl, const char *key, double per_min, double burst,
                    bool take, unsigned *retry_s);

#endif
