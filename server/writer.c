/* writer.c - the single store-writer thread (see bulwark/writer.h).
 *
 * Loop thread                         writer thread
 *   writer_submit() --queue--> take everything queued
 *                                 begin; hello/append each; commit
 *   on_async() <--done list--  hand the items back, uv_async_send
 *   item->done() sends the Ack
 *
 * The queue is bounded in events (the cap is checked by the loop before it
 * reads more); nothing is ever dropped: a failed commit hands every item back
 * with rc < 0, and the connection closes so the agent resends. */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/log.h"
#include "bulwark/writer.h"

/* Most items in one transaction: bounds commit latency under heavy load. */
#define WRITER_GROUP_EVENTS 65536u

struct writer {
    uv_loop_t *loop;
    uv_async_t async;
    struct store *store;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct writer_item *q_head, *q_tail;   /* submitted, not taken (mu) */
    struct writer_item *d_head, *d_tail;   /* done, not handed back (mu) */
    bool stopping;                         /* (mu) */

    /* loop-thread state */
    uint64_t max_events;
    uint64_t queued_events;   /* submitted and not handed back */
    uint64_t pending_items;
    bool full;                /* room callback owed once below half */
    void (*room_cb)(void *);
    void *room_ctx;
    void (*idle_cb)(void *);
    void *idle_ctx;
    void (*closed_cb)(void *);
    void *closed_ctx;

    struct writer_stats stats;  /* transactions etc. written by the thread under mu */
    int64_t suppression_ns;     /* set before the first submit */
};

static uint64_t writer_item_events(const struct writer_item *it)
{
    return it->type == WRITER_BATCH ? it->batch.sb.n : 1;
}

void writer_item_free(struct writer_item *it)
{
    if (!it)
        return;
    free(it->agent_id);
    free(it->hostname);
    free(it->agent_version);
    free(it->labels_json);
    free(it->health_json);
    ingest_batch_release(&it->batch);
    alert_rec_free_list(it->alerts);
    buf_release(&it->state);
    arena_free(it->arena);
    free(it);
}

/* Stores the alerts a batch's events raised, in the batch's transaction.
 * Alerts raised by events the store skipped as resends were stored the
 * first time (or their events were): they are not raised again. */
static int writer_raise_alerts(struct writer *w, struct writer_item *it, uint64_t *raised,
                               uint64_t *merged)
{
    uint64_t first_new = it->batch.first_seq + it->duplicates;

    for (struct alert_rec *r = it->alerts; r; r = r->next) {
        struct store_alert_result res = {0};
        int rc;
        if (r->trigger_seq < first_new)
            continue;
        rc = store_alert_raise(w->store, &r->a, w->suppression_ns, &res);
        if (rc < 0)
            return rc;
        if (res.raised)
            (*raised)++;
        else
            (*merged)++;
    }
    return 0;
}

/* Stores alerts the server raised (a hello's, the server's own). */
static int writer_server_alerts(struct writer *w, struct writer_item *it, uint64_t *raised,
                                uint64_t *merged)
{
    int rc = 0;

    for (struct alert_rec *r = it->alerts; r && rc == 0; r = r->next) {
        struct store_alert_result res = {0};
        rc = store_alert_raise(w->store, &r->a, w->suppression_ns, &res);
        *raised += res.raised;
        *merged += rc == 0 && !res.raised;
    }
    return rc;
}

/* Runs one group of items in one transaction. */
static void writer_run_group(struct writer *w, struct writer_item *group)
{
    struct writer_item *it;
    uint64_t stored = 0, dups = 0, raised = 0, merged = 0;
    int64_t t0 = clock_mono_ns();
    int rc = store_begin(w->store);

    for (it = group; it && rc == 0; it = it->next) {
        if (it->type == WRITER_HELLO) {
            struct store_agent_info a = {
                .agent_id = it->agent_id,
                .hostname = it->hostname,
                .agent_version = it->agent_version,
                .labels_json = it->labels_json,
                .seen_ns = it->recv_ns,
                .holds_hostname = it->holds_hostname,
                .epoch = it->epoch,
            };
            rc = store_agent_epoch(w->store, it->agent_id, &it->prev_epoch);
            if (rc == 0)
                rc = store_agent_seen(w->store, &a);
            if (rc == 0)
                rc = writer_server_alerts(w, it, &raised, &merged);
        } else if (it->type == WRITER_ALERTS) {
            rc = writer_server_alerts(w, it, &raised, &merged);
        } else if (it->type == WRITER_HEALTH) {
            rc = store_agent_health(w->store, it->agent_id, it->health_json, it->recv_ns);
        } else if (it->type == WRITER_STATE) {
            rc = store_state_put(w->store, it->agent_id, buf_head(&it->state),
                                 buf_size(&it->state));
        } else {
            struct store_append_result res = {0};
            rc = store_append(w->store, &it->batch.sb, &res);
            if (rc == BW_ESEQ) {
                /* Only this batch is refused (nothing of it written): its
                 * stream closes and the agent resends from the mark. */
                it->refused = true;
                rc = 0;
                continue;
            }
            it->stored = res.stored;
            it->duplicates = res.duplicates;
            stored += res.stored;
            dups += res.duplicates;
            if (rc == 0)
                rc = writer_raise_alerts(w, it, &raised, &merged);
        }
    }
    if (rc == 0)
        rc = store_commit(w->store);
    else
        store_rollback(w->store);
    if (rc < 0)
        log_msg(LOG_ERROR, "writer", "transaction failed: %s; its batches are not acked",
                store_last_error(w->store, NULL));
    /* After the commit the marks are durable: report them. */
    for (it = group; it; it = it->next) {
        it->rc = rc == 0 && it->refused ? BW_ESEQ : rc;
        if (rc == 0 && !it->refused && (it->type == WRITER_HELLO || it->type == WRITER_BATCH))
            rc = store_committed_seq(w->store, it->agent_id, it->epoch, &it->committed_seq);
        if (rc < 0) {
            it->rc = rc;
            it->stored = it->duplicates = 0;
        }
    }
    uint64_t us = (uint64_t)(clock_mono_ns() - t0) / 1000u;
    size_t b = 0;
    while (b < SRVSTATE_LAT_BUCKETS && us > srvstate_lat_bounds_us[b])
        b++;
    pthread_mutex_lock(&w->mu);
    w->stats.transactions++;
    w->stats.commit_lat_count++;
    w->stats.commit_lat_sum_us += us;
    w->stats.commit_lat_buckets[b]++;
    w->stats.last_failed = rc < 0;
    if (rc == 0) {
        w->stats.events_stored += stored;
        w->stats.events_duplicate += dups;
        w->stats.alerts_raised += raised;
        w->stats.alerts_merged += merged;
    } else {
        w->stats.commit_failures++;
    }
    pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    for (;;) {
        struct writer_item *group, *last, *it;
        uint64_t events = 0;

        pthread_mutex_lock(&w->mu);
        while (!w->q_head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->q_head) {  /* stopping and nothing left */
            pthread_mutex_unlock(&w->mu);
            break;
        }
        /* Take a group bounded in events (at least one item). */
        group = last = w->q_head;
        events = writer_item_events(group);
        while (last->next && events + writer_item_events(last->next) <= WRITER_GROUP_EVENTS) {
            last = last->next;
            events += writer_item_events(last);
        }
        w->q_head = last->next;
        if (!w->q_head)
            w->q_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&w->mu);

        writer_run_group(w, group);

        pthread_mutex_lock(&w->mu);
        for (it = group; it; it = it->next)
            w->stats.items++;
        if (w->d_tail)
            w->d_tail->next = group;
        else
            w->d_head = group;
        w->d_tail = last;
        pthread_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
    }
    uv_async_send(&w->async);
    return NULL;
}

static void on_async(uv_async_t *h)
{
    struct writer *w = h->data;
    struct writer_item *done, *next;

    pthread_mutex_lock(&w->mu);
    done = w->d_head;
    w->d_head = w->d_tail = NULL;
    pthread_mutex_unlock(&w->mu);

    for (; done; done = next) {
        next = done->next;
        done->next = NULL;
        /* every item handed back was counted in by writer_submit */
        assert(w->pending_items > 0 && w->queued_events >= writer_item_events(done));
        w->queued_events -= writer_item_events(done);
        w->pending_items--;
        done->done(done, done->owner);  /* the owner frees the item */
    }
    if (w->full && w->queued_events <= w->max_events / 2) {
        w->full = false;
        if (w->room_cb)
            w->room_cb(w->room_ctx);
    }
    if (w->pending_items == 0 && w->idle_cb)
        w->idle_cb(w->idle_ctx);
}

int writer_start(struct writer **out, uv_loop_t *loop, struct store *store, uint64_t max_events)
{
    struct writer *w = calloc(1, sizeof *w);
    int rc;

    if (!w)
        return BW_ENOMEM;
    w->loop = loop;
    w->store = store;
    w->max_events = max_events;
    w->suppression_ns = 600 * (int64_t)1000000000;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    uv_async_init(loop, &w->async, on_async);
    w->async.data = w;
    *out = w;  /* even on failure: the caller stops and frees it */
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        log_msg(LOG_ERROR, "writer", "cannot start thread: %s", strerror(rc));
        return BW_ENOMEM;
    }
    w->thread_started = true;
    return 0;
}

void writer_set_alert_suppression(struct writer *w, int64_t ns)
{
    w->suppression_ns = ns;
}

void writer_submit(struct writer *w, struct writer_item *it)
{
    it->next = NULL;
    w->queued_events += writer_item_events(it);
    w->pending_items++;
    if (w->queued_events >= w->max_events)
        w->full = true;
    pthread_mutex_lock(&w->mu);
    if (w->q_tail)
        w->q_tail->next = it;
    else
        w->q_head = it;
    w->q_tail = it;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool writer_has_room(const struct writer *w, uint64_t events)
{
    return w->queued_events + events <= w->max_events;
}

void writer_set_room_cb(struct writer *w, void (*cb)(void *ctx), void *ctx)
{
    w->room_cb = cb;
    w->room_ctx = ctx;
}

void writer_set_idle_cb(struct writer *w, void (*cb)(void *ctx), void *ctx)
{
    w->idle_cb = cb;
    w->idle_ctx = ctx;
}

uint64_t writer_pending(const struct writer *w)
{
    return w->pending_items;
}

void writer_get_stats(const struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&w->mu);
    *out = w->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
    out->queued_events = w->queued_events;
}

static void on_async_closed(uv_handle_t *h)
{
    struct writer *w = h->data;
    if (w->closed_cb)
        w->closed_cb(w->closed_ctx);
}

void writer_stop(struct writer *w, void (*closed)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->thread_started) {
        pthread_join(w->thread, NULL);
        w->thread_started = false;
    }
    on_async(&w->async);  /* hand back whatever finished last */
    store_close(w->store);
    w->store = NULL;
    w->closed_cb = closed;
    w->closed_ctx = ctx;
    uv_close((uv_handle_t *)&w->async, on_async_closed);
}

void writer_free(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
