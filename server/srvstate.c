/* srvstate.c - the published state (include/bulwark/srvstate.h): counters
 * copied in whole once a second, and the table of connected agents, both
 * behind one mutex. The loop holds the lock only to copy a few hundred bytes;
 * readers hold it only to copy out, so neither side ever waits on the other's
 * work.
 *
 * Agents are nodes in a chained hash (bw_hash of the id) plus a doubly linked
 * list for iteration; the chain table doubles as agents arrive and never
 * shrinks below its start size. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/hash.h"
#include "bulwark/srvstate.h"

#define SRVSTATE_START_BUCKETS 256u

const uint64_t srvstate_lat_bounds_us[SRVSTATE_LAT_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000,
};

struct agent_node {
    struct srvstate_agent a;
    uint64_t hash;
    struct agent_node *chain;       /* next in the bucket */
    struct agent_node *prev, *next; /* all agents */
};

struct srvstate {
    pthread_mutex_t mu;
    struct srvstate_counters c;
    struct agent_node **bucket;
    size_t nbucket;  /* a power of two */
    size_t nagents;
    struct agent_node *all;
};

int srvstate_new(struct srvstate **out)
{
    struct srvstate *st = calloc(1, sizeof *st);

    if (!st)
        return BW_ENOMEM;
    st->nbucket = SRVSTATE_START_BUCKETS;
    st->bucket = calloc(st->nbucket, sizeof *st->bucket);
    if (!st->bucket) {
        free(st);
        return BW_ENOMEM;
    }
    pthread_mutex_init(&st->mu, NULL);
    *out = st;
    return 0;
}

void srvstate_free(struct srvstate *st)
{
    if (!st)
        return;
    for (struct agent_node *n = st->all, *next; n; n = next) {
        next = n->next;
        free(n);
    }
    free(st->bucket);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

void srvstate_publish(struct srvstate *st, const struct srvstate_counters *c)
{
    pthread_mutex_lock(&st->mu);
    uint64_t dropped = 0, depth = 0, quarantined = 0;
    for (const struct agent_node *n = st->all; n; n = n->next) {
        dropped += n->a.health.spool_dropped;
        depth += n->a.health.spool_depth;
        quarantined += n->a.health.spool_quarantined;
    }
    st->c = *c;
    st->c.agent_spool_dropped = dropped;
    st->c.agent_spool_depth = depth;
    st->c.agent_spool_quarantined = quarantined;
    pthread_mutex_unlock(&st->mu);
}

void srvstate_counters(struct srvstate *st, struct srvstate_counters *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->c;
    pthread_mutex_unlock(&st->mu);
}

/* The node of agent_id, or NULL; *slot is where it is (or would be) linked. */
static struct agent_node *find_locked(struct srvstate *st, const char *agent_id, uint64_t h,
                                      struct agent_node ***slot)
{
    struct agent_node **p = &st->bucket[h & (st->nbucket - 1)];

    for (; *p; p = &(*p)->chain)
        if ((*p)->hash == h && strcmp((*p)->a.agent_id, agent_id) == 0)
            break;
    if (slot)
        *slot = p;
    return *p;
}

/* Doubles the chain table when agents outnumber buckets; keeps the old one
 * when memory is short (chains just get longer). */
static void grow_locked(struct srvstate *st)
{
    size_t n = st->nbucket * 2;
    struct agent_node **b;

    if (st->nagents < st->nbucket || !(b = calloc(n, sizeof *b)))
        return;
    for (struct agent_node *a = st->all; a; a = a->next) {
        a->chain = b[a->hash & (n - 1)];
        b[a->hash & (n - 1)] = a;
    }
    free(st->bucket);
    st->bucket = b;
    st->nbucket = n;
}

void srvstate_agent_up(struct srvstate *st, const struct srvstate_agent *a)
{
    uint64_t h = bw_hash(a->agent_id, strlen(a->agent_id));
    struct agent_node **slot, *n;

    pthread_mutex_lock(&st->mu);
    if ((n = find_locked(st, a->agent_id, h, &slot))) {
        n->a = *a;
        goto out;
    }
    if (!(n = calloc(1, sizeof *n)))
        goto out;  /* the API then shows the agent as not connected */
    n->a = *a;
    n->hash = h;
    *slot = n;
    n->next = st->all;
    if (st->all)
        st->all->prev = n;
    st->all = n;
    st->nagents++;
    grow_locked(st);
out:
    pthread_mutex_unlock(&st->mu);
}

void srvstate_agent_health(struct srvstate *st, const char *agent_id,
                           const struct srvstate_health *h)
{
    struct agent_node *n;

    pthread_mutex_lock(&st->mu);
    if ((n = find_locked(st, agent_id, bw_hash(agent_id, strlen(agent_id)), NULL)))
        n->a.health = *h;
    pthread_mutex_unlock(&st->mu);
}

void srvstate_agent_down(struct srvstate *st, const char *agent_id, uint64_t stream)
{
    struct agent_node **slot, *n;

    pthread_mutex_lock(&st->mu);
    n = find_locked(st, agent_id, bw_hash(agent_id, strlen(agent_id)), &slot);
    if (n && n->a.stream == stream) {
        *slot = n->chain;
        if (n->prev)
            n->prev->next = n->next;
        else
            st->all = n->next;
        if (n->next)
            n->next->prev = n->prev;
        st->nagents--;
        free(n);
    }
    pthread_mutex_unlock(&st->mu);
}

size_t srvstate_agents(struct srvstate *st, struct srvstate_agent *out, size_t max)
{
    size_t i = 0, total;

    pthread_mutex_lock(&st->mu);
    for (const struct agent_node *n = st->all; n && i < max; n = n->next)
        out[i++] = n->a;
    total = st->nagents;
    pthread_mutex_unlock(&st->mu);
    return total;
}

bool srvstate_agent_get(struct srvstate *st, const char *agent_id, struct srvstate_agent *out)
{
    struct agent_node *n;

    pthread_mutex_lock(&st->mu);
    n = find_locked(st, agent_id, bw_hash(agent_id, strlen(agent_id)), NULL);
    if (n)
        *out = n->a;
    pthread_mutex_unlock(&st->mu);
    return n != NULL;
}
