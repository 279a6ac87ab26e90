/* ratelimit.c - token buckets in a fixed table (see bulwark/ratelimit.h). */
#include <string.h>

#include "bulwark/clock.h"
#include "bulwark/hash.h"
#include "bulwark/ratelimit.h"

void ratelimit_init(struct ratelimit *rl)
{
    memset(rl->slot, 0, sizeof rl->slot);
    pthread_mutex_init(&rl->mu, NULL);
}

void ratelimit_release(struct ratelimit *rl)
{
    pthread_mutex_destroy(&rl->mu);
}

bool ratelimit_take(struct ratelimit *rl, const char *key, double per_min, double burst,
                    bool take, unsigned *retry_s)
{
    uint64_t h = bw_hash(key, strlen(key)) | 1;
    int64_t now = clock_mono_ns();
    struct ratelimit_slot *e = &rl->slot[h % RATELIMIT_SLOTS];
    bool ok;

    pthread_mutex_lock(&rl->mu);
    if (e->hash != h) {
        e->hash = h;
        e->tokens = burst;
        e->last_ns = now;
    }
    e->tokens += (double)(now - e->last_ns) / 6e10 * per_min;
    if (e->tokens > burst)
        e->tokens = burst;
    e->last_ns = now;
    ok = e->tokens >= 1.0;
    if (take)
        e->tokens = ok ? e->tokens - 1.0 : e->tokens;
    else if (retry_s)
        *retry_s = (unsigned)((1.0 - e->tokens) * 60.0 / per_min) + 1;
    pthread_mutex_unlock(&rl->mu);
    return ok;
}
