/* writer.h - the single store-writer thread and its bounded queue.
 *
 * The loop thread submits items (an agent's hello, a validated batch); the
 * writer thread groups everything queued into one transaction (group commit,
 * so many agents share one fsync), commits, and hands the items back to the
 * loop thread through a uv_async, where each item's done callback runs (and
 * sends the Ack). The queue is bounded in events: writer_has_room() tells
 * the loop whether to keep reading; writer_on_room() callbacks wake it. */
#ifndef BULWARK_WRITER_H
#define BULWARK_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "bulwark/arena.h"
#include "bulwark/ingest.h"
#include "bulwark/rulestage.h"
#include "bulwark/srvstate.h"
#include "bulwark/store.h"

struct writer;
struct writer_item;

/* HEALTH: an agent's last heartbeat health (health_json). ALERTS: alerts
 * the server raises about itself (alerts), e.g. a failed integrity check. */
enum writer_item_type { WRITER_HELLO, WRITER_BATCH, WRITER_STATE, WRITER_HEALTH, WRITER_ALERTS };

typedef void (*writer_done_fn)(struct writer_item *it, void *owner);

struct writer_item {
    enum writer_item_type type;
    writer_done_fn done;       /* runs on the loop thread after commit (or failure) */
    void *owner;               /* the connection; kept alive by the caller */
    /* input */
    char *agent_id;            /* owned */
    char *hostname;            /* owned */
    char *agent_version;       /* owned (hello) */
    char *labels_json;         /* owned (hello) */
    char *health_json;         /* owned (health) */
    bool holds_hostname;       /* (hello) the agent holds hostname (hostbind.h) */
    uint64_t epoch;
    int64_t recv_ns;
    struct ingest_batch batch; /* owned (batch) */
    struct arena *arena;       /* owned: the decoded frame and raw bodies the batch points into */
    struct alert_rec *alerts;  /* owned (batch): raised by its events, stored with them;
                                  (hello): raised by the server about the stream;
                                  (alerts): raised by the server about itself */
    struct buf state;          /* owned (state): a named blob, key in agent_id */
    /* output */
    int rc;                    /* 0 or a negative bw_err; BW_ESEQ: this batch was refused
                                * because an earlier one of its stream was not stored */
    bool refused;
    uint64_t committed_seq;
    uint64_t prev_epoch;       /* (hello) the agent's epoch at its previous Hello; 0: none */
    uint32_t stored, duplicates;
    struct writer_item *next;
};

struct writer_stats {
    uint64_t transactions, items, events_stored, events_duplicate, commit_failures;
    bool last_failed;  /* the latest transaction failed (not recovered since) */
    uint64_t queued_events;
    uint64_t alerts_raised, alerts_merged;
    /* commit latency (begin to commit done), srvstate's buckets */
    uint64_t commit_lat_count, commit_lat_sum_us;
    uint64_t commit_lat_buckets[SRVSTATE_LAT_BUCKETS + 1];
};

/* Starts the thread. `store` is owned by the writer from now on. */
int writer_start(struct writer **out, uv_loop_t *loop, struct store *store, uint64_t max_events);
/* Repeats of an alert within this window increment it (default 10 min). */
void writer_set_alert_suppression(struct writer *w, int64_t ns);
/* Queues an item (takes ownership). Never blocks; the caller checked room. */
void writer_submit(struct writer *w, struct writer_item *it);
/* True while `events` more events fit below the cap. */
bool writer_has_room(const struct writer *w, uint64_t events);
/* Called on the loop thread when the queue falls below half the cap. */
void writer_set_room_cb(struct writer *w, void (*cb)(void *ctx), void *ctx);
/* Number of items submitted and not yet handed back. */
uint64_t writer_pending(const struct writer *w);
/* Called (loop thread) once the queue is empty and every item handed back. */
void writer_set_idle_cb(struct writer *w, void (*cb)(void *ctx), void *ctx);
void writer_get_stats(const struct writer *w, struct writer_stats *out);
/* Finishes what is queued, stops the thread, closes the store and the async
 * handle; `closed` runs when the handle is closed (then free with writer_free). */
void writer_stop(struct writer *w, void (*closed)(void *ctx), void *ctx);
void writer_free(struct writer *w);
void writer_item_free(struct writer_item *it);

#endif
