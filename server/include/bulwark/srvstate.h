/* srvstate.h - bulwarkd's published state: the one door through which
 * threads other than the loop (the REST API) see what the loop knows.
 *
 * The loop thread is the only writer: it publishes counters once a second
 * and records agents as they complete a Hello, send a heartbeat or go away.
 * Any thread may read; every reader gets a copy taken under the lock, so no
 * pointer into loop-owned memory ever crosses threads. Only agents
 * connected now are kept (at most one entry per live stream); what an agent
 * reported last before it went away is in the store (agents.health). */
#ifndef BULWARK_SRVSTATE_H
#define BULWARK_SRVSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/integrity.h"

/* Upper bounds of the commit latency histogram, in microseconds; one more
 * bucket counts everything above the last (+Inf). */
#define SRVSTATE_LAT_BUCKETS 12
extern const uint64_t srvstate_lat_bounds_us[SRVSTATE_LAT_BUCKETS];

struct srvstate_counters {
    /* streams */
    uint64_t accepted, refused_limit, handshake_failed, auth_refused, protocol_errors;
    uint32_t connected;
    /* ingest */
    uint64_t batches, events_received;
    /* the writer */
    uint64_t transactions, events_stored, events_duplicate, commit_failures;
    uint64_t queued_events, queue_capacity;
    uint64_t alerts_raised, alerts_merged;
    uint64_t commit_lat_count, commit_lat_sum_us;
    uint64_t commit_lat_buckets[SRVSTATE_LAT_BUCKETS + 1];  /* not cumulative */
    /* agents' own reports (sums over connected agents' last heartbeat) */
    uint64_t agent_spool_dropped, agent_spool_depth, agent_spool_quarantined;
    /* enrollment */
    uint64_t enrolled, enroll_refused, renewed;
    int64_t started_ns, published_ns;
    struct integrity_result integrity;  /* the database check at start */
    bool ready;      /* listening, store open, not draining */
    bool draining;
};

/* The last health an agent reported in a heartbeat. */
struct srvstate_health {
    int64_t at_ns;  /* 0: no heartbeat yet on this stream */
    uint64_t spool_depth, spool_dropped, events_total, source_errors, spool_quarantined;
    int64_t cert_not_after_s;  /* the agent certificate's end; 0 = not reported */
    char by_kind_json[512];  /* {"exec":12,...}, truncated entries dropped */
    char sensor[16];         /* "ebpf", "procfs" or "" (lower-case letters only) */
    uint64_t sensor_kernel_drops;
};

struct srvstate_agent {
    char agent_id[129];
    char hostname[256];
    char version[64];
    char peer[64];
    int64_t connected_ns;
    uint64_t stream;  /* the stream that reported it up (a replaced stream's
                       * late close must not take its successor down) */
    struct srvstate_health health;
};

struct srvstate;

int srvstate_new(struct srvstate **out);
void srvstate_free(struct srvstate *st);

/* Loop thread. */
void srvstate_publish(struct srvstate *st, const struct srvstate_counters *c);
/* An agent's stream completed its Hello (replaces an entry of the same id). */
void srvstate_agent_up(struct srvstate *st, const struct srvstate_agent *a);
void srvstate_agent_health(struct srvstate *st, const char *agent_id,
                           const struct srvstate_health *h);
/* The stream went away: forgets the agent if that stream is its entry's. */
void srvstate_agent_down(struct srvstate *st, const char *agent_id, uint64_t stream);

/* Any thread: copies under the lock. */
void srvstate_counters(struct srvstate *st, struct srvstate_counters *out);
/* Copies of up to max connected agents, in no particular order; returns how
 * many are connected (may exceed max). */
size_t srvstate_agents(struct srvstate *st, struct srvstate_agent *out, size_t max);
/* True and a copy in *out when agent_id is connected now. */
bool srvstate_agent_get(struct srvstate *st, const char *agent_id, struct srvstate_agent *out);

#endif
