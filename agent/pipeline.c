/* pipeline.c - bulwark-agent at run time (see bulwark/agent.h): sources and
 * collectors feed a bounded queue; the queue goes into the spool in one
 * transaction (or to stdout as NDJSON), and the shipper sends what the spool
 * holds. One libuv loop, one owner per object, one stop path.
 *
 * Wakeups: one timer, armed only when there is work. A pull source (synthetic,
 * replay) is pulled on a period matched to its rate (up to FLUSH_MAX_AGE, so
 * 1,000 events/s is one pull, one commit and one batch every 250 ms; an
 * unrated source every TICK_MIN_MS). Collectors push events: an event into an
 * empty queue goes to the spool on the next loop turn (with whatever else
 * that turn produced) when the last flush is FLUSH_MAX_AGE old, else when it
 * will be; a full chunk goes at once. So a sparse event (the exec an intruder
 * makes before killing the agent) is durable and on its way within a loop
 * turn, and a stream still costs at most one commit per FLUSH_MAX_AGE. An
 * idle agent with an empty queue has no timer running at all. */
#include <assert.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/agent.h"
#include "bulwark/clock.h"
#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"
#include "bulwark/net.h"
#include "bulwark/sensor.h"
#include "bulwark/shipper.h"
#include "bulwark/source.h"
#include "bulwark/spool.h"
#include "bulwark/tls.h"

#define TICK_MIN_MS 10u
/* The queue goes to the spool when it holds a chunk, or at most once per
 * this long otherwise: one SQLite commit (an fsync with synchronous=FULL),
 * one batch on the wire and one Ack per 250 ms at low rates. It bounds the
 * time an event waits in memory before it is durable (and sent); an event
 * after a quiet spell waits only for the end of its loop turn. */
#define FLUSH_MAX_AGE_MS 250u
#define FLUSH_MAX_AGE_NS ((int64_t)FLUSH_MAX_AGE_MS * 1000000)
#define CHUNK 1024u
#define TICK_BUDGET_NS 8000000      /* spend at most ~8 ms of a tick producing */
#define AHEAD_MAX 200000u           /* a pull source stays this close to the acks */
#define CONTAINERS_MAX 4096u
#define KINDS 20                    /* Event body cases go up to 19 */
#define MARK_KEYS 4                 /* producers that keep a position (replay, falco) */
#define LOG_EVERY_NS (10 * 1000000000LL)  /* a repeated warning: at most this often */
#define FLUSH_RETRY_MS 1000u        /* the spool's disk was full: try again after */

/* A producer's position after the event in the same queue slot (key 0: none). */
struct qmark {
    uint8_t key;                    /* 1 + index in agent.mark_keys */
    uint64_t v[SPOOL_MARK_VALUES];
};

struct agent {
    uv_loop_t loop;
    const struct agent_config *cfg;
    bool to_stdout;
    struct spool *spool;
    struct source *source;
    struct tls_ctx *tls;
    struct shipper *shipper;
    struct containers *containers;
    struct collect_config ccfg;
    struct collector_env env;
    struct collector *collectors[8];
    size_t ncollectors;
    int closing_collectors;
    struct collector *ebpf;     /* the eBPF sensor when it runs (also in collectors[]) */
    const char *sensor;         /* "ebpf" or "procfs" (source=host), else NULL */
    char sensor_why[2 * SENSOR_WHY_MAX];

    /* the queue: a ring of owned events */
    Bulwark__V1__Event **q;
    struct qmark *qm;               /* q_cap: the position each slot's event ends;
                                     * allocated by the first mark (most agents never mark) */
    uint32_t q_head, q_len, q_cap;
    char *mark_keys[MARK_KEYS];
    char *source_key;               /* the pull source's mark key ("replay:PATH") */
    struct qmark loose[MARK_KEYS];  /* marks made with an empty queue (key 0: none) */

    uv_timer_t tick;            /* pulls the source and/or flushes the queue */
    uint32_t pull_ms;           /* a pull source's period (0: no pull source) */
    int64_t last_flush_ns;      /* when the queue last went to the spool (0: never) */
    uv_signal_t sig_term, sig_int;
    bool source_done;
    bool stopping;
    int exit_code;
    uint64_t produced;          /* events taken from the pull source */
    uint64_t queue_dropped;
    uint64_t queue_dropped_logged, spool_dropped_logged;  /* counts at the last log */
    int64_t queue_drop_log_ns, spool_drop_log_ns, flush_fail_log_ns;
    uint64_t flush_failures;    /* spool appends that failed and are retried */
    uint32_t chunk_max;         /* events per append: halved while the disk is full */
    uint64_t by_kind[KINDS];
    uint64_t printed;
    Bulwark__V1__AgentHealth__EventsByKindEntry health_kinds[KINDS];
    Bulwark__V1__AgentHealth__EventsByKindEntry *health_ptrs[KINDS];
    char agent_id[128];
    char hostname[256];
    char server_name[256];
};

static void agent_stop(struct agent *a, int code);
static void on_tick(uv_timer_t *t);

/* ------------------------------------------------------------ the queue */

/* Gives an event back to whoever made it (the pull source's pool, or the
 * heap for collectors' events: the two never run together). */
static void agent_event_free(struct agent *a, Bulwark__V1__Event *ev)
{
    source_release(a->source, ev);
}

/* How long a queue that is not a full chunk waits: until FLUSH_MAX_AGE after
 * the last flush (0 after a quiet spell: the next loop turn). */
static uint64_t agent_flush_wait_ms(const struct agent *a, int64_t now)
{
    int64_t left = a->last_flush_ns ? a->last_flush_ns + FLUSH_MAX_AGE_NS - now : 0;

    return left <= 0 ? 0 : (uint64_t)(left + 999999) / 1000000;
}

/* Whether a warning last logged at *last may be logged again now. */
static bool agent_log_due(int64_t *last)
{
    int64_t now = clock_mono_ns();

    if (*last && now - *last < LOG_EVERY_NS)
        return false;
    *last = now;
    return true;
}

static int agent_emit(void *ctx, Bulwark__V1__Event *ev)
{
    struct agent *a = ctx;

    if (a->q_len == a->q_cap || a->stopping) {
        a->queue_dropped++;
        agent_event_free(a, ev);
        if (agent_log_due(&a->queue_drop_log_ns)) {
            log_msg(LOG_WARN, "agent", "queue full (%u events wait for the spool): dropped %llu "
                    "events since the last report, %llu in all", a->q_cap,
                    (unsigned long long)(a->queue_dropped - a->queue_dropped_logged),
                    (unsigned long long)a->queue_dropped);
            a->queue_dropped_logged = a->queue_dropped;
        }
        return BW_EFULL;
    }
    assert(a->q_len < a->q_cap);
    a->q[(a->q_head + a->q_len) % a->q_cap] = ev;
    if (a->qm)
        a->qm[(a->q_head + a->q_len) % a->q_cap].key = 0;
    a->q_len++;
    /* A collector's event schedules the flush (a pull source's tick re-arms
     * the timer itself when it is done). */
    if (a->q_len == CHUNK)
        uv_timer_start(&a->tick, on_tick, 0, 0);
    else if (a->q_len == 1 && !uv_is_active((uv_handle_t *)&a->tick))
        uv_timer_start(&a->tick, on_tick, agent_flush_wait_ms(a, clock_mono_ns()), 0);
    return 0;
}

/* A key's index + 1, registered on first use; 0 when the table is full. */
static uint8_t agent_mark_key(struct agent *a, const char *key)
{
    for (int i = 0; i < MARK_KEYS; i++) {
        if (!a->mark_keys[i] && !(a->mark_keys[i] = strdup(key)))
            return 0;
        if (!strcmp(a->mark_keys[i], key))
            return (uint8_t)(i + 1);
    }
    log_msg(LOG_WARN, "agent", "more than %d positions to keep: '%s' is not kept", MARK_KEYS, key);
    return 0;
}

/* Records that `key`'s producer stands at v after the events queued so far:
 * v goes to the spool in the transaction that stores the last of them (or
 * by itself on the next flush when none waits). No-op without a spool. */
static void agent_mark(void *ctx, const char *key, const uint64_t v[SPOOL_MARK_VALUES])
{
    struct agent *a = ctx;
    struct qmark *m;
    uint8_t k;

    if (!a->spool || a->stopping || !(k = agent_mark_key(a, key)))
        return;
    if (!a->qm && !(a->qm = calloc(a->q_cap, sizeof *a->qm))) {
        log_msg(LOG_ERROR, "agent", "out of memory: the position of '%s' is not kept", key);
        return;
    }
    if (a->q_len > 0) {
        m = &a->qm[(a->q_head + a->q_len - 1) % a->q_cap];
        if (m->key && m->key != k)
            return;  /* two producers never share a queue; keep the first */
    } else {
        m = &a->loose[k - 1];
        if (!uv_is_active((uv_handle_t *)&a->tick))
            uv_timer_start(&a->tick, on_tick, agent_flush_wait_ms(a, clock_mono_ns()), 0);
    }
    m->key = k;
    memcpy(m->v, v, sizeof m->v);
}

/* The stored position of key's producer. 0, BW_ENOTFOUND (none, or no spool). */
static int agent_mark_get(void *ctx, const char *key, uint64_t v[SPOOL_MARK_VALUES])
{
    struct agent *a = ctx;

    return a->spool ? spool_mark_get(a->spool, key, v) : BW_ENOTFOUND;
}

static bool agent_loose_marks(const struct agent *a)
{
    for (int i = 0; i < MARK_KEYS; i++)
        if (a->loose[i].key)
            return true;
    return false;
}

static bool agent_has_room(void *ctx)
{
    const struct agent *a = ctx;

    return a->q_len < a->q_cap && !a->stopping;
}

static void agent_print(struct agent *a, const Bulwark__V1__Event *ev)
{
    json_t *j = evjson_event_to_json(ev);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        a->printed++;
    }
    free(s);
    json_decref(j);
}

/* The spool refused events because it holds spool_max_events or _bytes:
 * they are counted in the spool (persisted, shipped in health); say so. */
static void agent_spool_dropped(struct agent *a)
{
    struct spool_stats st;

    if (!agent_log_due(&a->spool_drop_log_ns))
        return;
    spool_get_stats(a->spool, &st);
    log_msg(LOG_WARN, "agent", "spool full (%llu events, %llu bytes waiting for the server): "
            "dropped %llu events since the last report, %llu in all",
            (unsigned long long)st.depth, (unsigned long long)st.bytes,
            (unsigned long long)(st.dropped - a->spool_dropped_logged),
            (unsigned long long)st.dropped);
    a->spool_dropped_logged = st.dropped;
}

/* Empties the queue into the spool (one transaction a chunk, with the
 * producers' positions after the chunk's last event) or stdout. */
static int agent_flush(struct agent *a)
{
    a->last_flush_ns = clock_mono_ns();
    while (a->q_len > 0 || agent_loose_marks(a)) {
        Bulwark__V1__Event *chunk[CHUNK];
        struct spool_mark marks[MARK_KEYS];
        struct qmark last[MARK_KEYS], loose[MARK_KEYS];
        size_t n = 0, nmarks = 0, accepted = 0;
        int rc = 0;

        /* marks made with an empty queue come before every queued event */
        memcpy(last, a->loose, sizeof last);
        memcpy(loose, a->loose, sizeof loose);
        memset(a->loose, 0, sizeof a->loose);
        while (n < a->chunk_max && a->q_len > 0) {
            const struct qmark *m = a->qm ? &a->qm[a->q_head] : NULL;

            if (m && m->key)
                last[m->key - 1] = *m;
            chunk[n++] = a->q[a->q_head];
            a->q_head = (a->q_head + 1) % a->q_cap;
            a->q_len--;
        }
        for (int k = 0; k < MARK_KEYS; k++) {
            if (!last[k].key)
                continue;
            marks[nmarks].key = a->mark_keys[k];
            memcpy(marks[nmarks++].v, last[k].v, sizeof last[k].v);
        }
        if (a->to_stdout) {
            for (size_t i = 0; i < n; i++)
                agent_print(a, chunk[i]);
            fflush(stdout);
        } else {
            rc = spool_append_marked(a->spool, chunk, n, marks, nmarks, &accepted);
        }
        if (rc < 0) {
            /* nothing was stored: the chunk goes back to the queue's head
             * and the marks with it, to be tried again */
            a->q_head = (a->q_head + a->q_cap - (uint32_t)n) % a->q_cap;
            a->q_len += (uint32_t)n;
            assert(a->q_len <= a->q_cap);
            memcpy(a->loose, loose, sizeof loose);
            if (rc == BW_EFULL && a->chunk_max > 1)
                a->chunk_max /= 2;  /* a smaller transaction may fit what is left */
            return rc;
        }
        if (a->chunk_max < CHUNK)
            a->chunk_max *= 2;
        for (size_t i = 0; i < n; i++) {
            if ((unsigned)chunk[i]->body_case < KINDS)
                a->by_kind[chunk[i]->body_case]++;
            agent_event_free(a, chunk[i]);
        }
        if (!a->to_stdout && accepted < n)
            agent_spool_dropped(a);
    }
    return 0;
}

/* ------------------------------------------------------------ progress */

static void agent_check_done(struct agent *a)
{
    struct spool_stats st;
    struct shipper_stats sh;

    if (a->stopping || !a->source_done || a->q_len > 0)
        return;
    if (a->to_stdout) {
        if (a->cfg->once || a->source)
            agent_stop(a, 0);
        return;
    }
    if (!a->cfg->exit_when_drained && !a->cfg->once)
        return;
    spool_get_stats(a->spool, &st);
    if (st.depth > 0)
        return;
    shipper_get_stats(a->shipper, &sh);
    log_msg(LOG_INFO, "agent", "drained: %llu events acked, ack latency p50 %.2f ms p99 %.2f ms",
            (unsigned long long)st.acked_seq, sh.ack_p50_ms, sh.ack_p99_ms);
    agent_stop(a, 0);
}

static void on_acked(void *ctx)
{
    agent_check_done(ctx);
}

/* Pulls due events from the source, within the queue's room and the tick. */
static void agent_pull_source(struct agent *a, int64_t start)
{
    const struct agent_config *cfg = a->cfg;

    while (a->source && !a->source_done && !a->stopping) {
        Bulwark__V1__Event *evs[CHUNK];
        size_t max = CHUNK;
        bool done = false;
        int n;

        if (a->spool) {
            struct spool_stats st;
            spool_get_stats(a->spool, &st);
            if (st.depth + a->q_len >= AHEAD_MAX)
                break;  /* let the shipper catch up; the source keeps its own pace */
            if (cfg->synthetic_count && cfg->source == AGENT_SOURCE_SYNTHETIC) {
                /* The spool remembers across restarts how many it made. */
                uint64_t have = st.last_seq + st.dropped + a->q_len;
                if (have >= cfg->synthetic_count) {
                    a->source_done = true;
                    break;
                }
                if (cfg->synthetic_count - have < max)
                    max = (size_t)(cfg->synthetic_count - have);
            }
        } else if (cfg->synthetic_count && cfg->source == AGENT_SOURCE_SYNTHETIC) {
            if (a->produced >= cfg->synthetic_count) {
                a->source_done = true;
                break;
            }
            if (cfg->synthetic_count - a->produced < max)
                max = (size_t)(cfg->synthetic_count - a->produced);
        }
        if (a->q_cap - a->q_len < max)
            max = a->q_cap - a->q_len;
        if (max == 0)
            break;
        n = a->source->produce(a->source, clock_wall_ns(), evs, max, &done);
        if (n < 0) {
            log_msg(LOG_ERROR, "agent", "source %s failed: %s", a->source->name, bw_strerror(n));
            a->source_done = true;
            break;
        }
        for (int i = 0; i < n; i++)
            agent_emit(a, evs[i]);
        if (a->source->position && a->source_key) {
            uint64_t v[SPOOL_MARK_VALUES];

            a->source->position(a->source, v);
            agent_mark(a, a->source_key, v);
        }
        a->produced += (uint64_t)n;
        if (done)
            a->source_done = true;
        if (n < (int)max || clock_mono_ns() - start > TICK_BUDGET_NS)
            break;
    }
}

/* Arms the timer for the next piece of work, or leaves it stopped. */
static void agent_schedule(struct agent *a, int64_t now)
{
    uint64_t ms;

    if (a->stopping)
        return;
    if (a->source && !a->source_done) {
        ms = a->pull_ms;
    } else if (a->q_len > 0 || agent_loose_marks(a)) {
        ms = agent_flush_wait_ms(a, now);
    } else {
        uv_timer_stop(&a->tick);
        return;
    }
    uv_timer_start(&a->tick, on_tick, ms, 0);
}

static void on_tick(uv_timer_t *t)
{
    struct agent *a = t->data;
    int64_t now = clock_mono_ns();
    bool due;

    agent_pull_source(a, now);
    /* A rated source's period is already the grouping: flush each pull. */
    due = a->q_len >= CHUNK || a->source_done || a->pull_ms > TICK_MIN_MS ||
          agent_flush_wait_ms(a, now) == 0;
    if ((a->q_len > 0 || agent_loose_marks(a)) && due) {
        int rc = agent_flush(a);

        if (rc == BW_EFULL || rc == BW_EIO) {
            /* a full disk (or a passing i/o error) is survived like the
             * server survives one: the events stay queued, the queue pushes
             * back on the sources, and the append is tried again */
            a->flush_failures++;
            if (agent_log_due(&a->flush_fail_log_ns))
                log_msg(LOG_ERROR, "agent", "spool append failed: %s; %u events wait in memory, "
                        "retrying every %u ms (%llu failures so far)",
                        rc == BW_EFULL ? "the spool's disk is full (or under its reserve)" : bw_strerror(rc), a->q_len,
                        FLUSH_RETRY_MS, (unsigned long long)a->flush_failures);
            if (a->shipper)
                shipper_kick(a->shipper);  /* acks free space in the spool */
            uv_timer_start(&a->tick, on_tick, FLUSH_RETRY_MS, 0);
            return;
        }
        if (rc < 0) {
            log_msg(LOG_ERROR, "agent", "spool append failed: %s", bw_strerror(rc));
            agent_stop(a, 1);
            return;
        }
        if (a->flush_failures && a->flush_fail_log_ns) {
            log_msg(LOG_INFO, "agent", "spool append works again after %llu failures",
                    (unsigned long long)a->flush_failures);
            a->flush_fail_log_ns = 0;
        }
        if (a->shipper)
            shipper_kick(a->shipper);
    }
    agent_check_done(a);
    agent_schedule(a, clock_mono_ns());
}

/* A pull source's period: the time it takes to make a chunk at its rate,
 * between TICK_MIN_MS and FLUSH_MAX_AGE_MS; unrated sources (as fast as the
 * spool takes them, a replay file) TICK_MIN_MS. */
static uint32_t agent_pull_ms(const struct agent_config *cfg)
{
    double ms;

    if (cfg->source != AGENT_SOURCE_SYNTHETIC || !(cfg->synthetic_rate > 0))
        return TICK_MIN_MS;
    ms = 1000.0 * CHUNK / cfg->synthetic_rate;
    if (ms < TICK_MIN_MS)
        return TICK_MIN_MS;
    return ms > FLUSH_MAX_AGE_MS ? FLUSH_MAX_AGE_MS : (uint32_t)ms;
}

/* ------------------------------------------------------------ health */

static void agent_health(void *ctx, Bulwark__V1__AgentHealth *h)
{
    struct agent *a = ctx;
    Bulwark__V1__AgentHealth__EventsByKindEntry *entries = a->health_kinds;
    Bulwark__V1__AgentHealth__EventsByKindEntry **ptrs = a->health_ptrs;
    size_t n = 0;
    uint64_t errors = 0;

    /* The entries live in the agent: the shipper packs them at once. */
    for (int k = 10; k < KINDS; k++) {
        const char *name = evjson_kind_name(k);

        if (!name)
            continue;  /* a number the schema does not use */
        bulwark__v1__agent_health__events_by_kind_entry__init(&entries[n]);
        entries[n].key = (char *)name;
        entries[n].value = a->by_kind[k];
        ptrs[n] = &entries[n];
        n++;
    }
    for (size_t i = 0; i < a->ncollectors; i++)
        errors += a->collectors[i]->errors;
    h->n_events_by_kind = n;
    h->events_by_kind = ptrs;
    h->spool_dropped += a->queue_dropped;
    h->source_errors = errors;
    if (a->sensor) {
        h->sensor = (char *)a->sensor;
        h->sensor_reason = a->sensor_why;
    }
    if (a->ebpf) {
        struct sensor_stats st;

        collector_ebpf_stats(a->ebpf, &st);
        h->sensor_records = st.records;
        h->sensor_kernel_drops = st.kernel_drops;
        h->sensor_pending_drops = st.pending_drops;
    }
}

/* ------------------------------------------------------------ collectors */

/* --sensor: starts the eBPF sensor when asked (ebpf) or when it can run
 * here (auto), and says which sensor runs and why. 0, or BW_EIO when ebpf
 * was asked for and cannot run. */
static int agent_start_sensor(struct agent *a)
{
    int want = a->cfg->sensor;
    char why[SENSOR_WHY_MAX];
    struct collector *c;
    int rc;

    a->sensor = "procfs";
    if (want == AGENT_SENSOR_PROCFS || a->cfg->once ||
        !(a->cfg->collect_proc || a->cfg->collect_net || a->cfg->collect_file)) {
        snprintf(a->sensor_why, sizeof a->sensor_why, "%s",
                 a->cfg->once              ? "one-shot scan"
                 : want == AGENT_SENSOR_PROCFS ? "asked for (--sensor procfs)"
                                           : "no process, connection or file collector asked for");
        goto out;
    }
    if (!sensor_ebpf_usable(why, sizeof why)) {
        snprintf(a->sensor_why, sizeof a->sensor_why, "ebpf unusable: %s", why);
        goto refused;
    }
    if (!(c = collector_ebpf_new(&a->env))) {
        snprintf(a->sensor_why, sizeof a->sensor_why, "ebpf: out of memory");
        goto refused;
    }
    if ((rc = c->start(c)) < 0) {
        snprintf(a->sensor_why, sizeof a->sensor_why, "ebpf did not start: %s",
                 collector_ebpf_error(c));
        collector_free(c);
        goto refused;
    }
    a->collectors[a->ncollectors++] = a->ebpf = c;
    a->sensor = "ebpf";
    snprintf(a->sensor_why, sizeof a->sensor_why, "%s: %s",
             want == AGENT_SENSOR_EBPF ? "asked for" : "auto", why);
    goto out;
refused:
    if (want == AGENT_SENSOR_EBPF) {
        log_msg(LOG_ERROR, "agent", "--sensor ebpf: %s", a->sensor_why);
        return BW_EIO;
    }
out:
    log_msg(LOG_INFO, "agent", "sensor %s (%s)", a->sensor, a->sensor_why);
    return 0;
}

static int agent_start_collectors(struct agent *a)
{
    const struct agent_config *cfg = a->cfg;
    struct {
        bool on;
        struct collector *(*make)(const struct collector_env *);
    } table[] = {
        {cfg->collect_proc, collector_proc_new},  /* both replaced by the eBPF sensor */
        {cfg->collect_net, collector_net_new},
        {cfg->collect_file, collector_file_new},
        {cfg->collect_resource, collector_resource_new},
        {cfg->collect_config, collector_config_new},
        {*cfg->trivy_dir != '\0', collector_trivy_new},
        {*cfg->falco_file != '\0', collector_falco_new},
    };

    a->ccfg = (struct collect_config){
        .host_root = cfg->host_root,
        .scan_interval_ms = cfg->scan_interval_ms,
        .resource_interval_ms = cfg->resource_interval_ms,
        .cmdline_max = cfg->cmdline_max,
        .file_paths = cfg->file_paths,
        .sensor_read_paths = cfg->sensor_read_paths,
        .sensor_exec = cfg->collect_proc,
        .sensor_syscalls = cfg->collect_proc,
        .sensor_net = cfg->collect_net,
        .sensor_read = cfg->collect_file,
        .trivy_dir = cfg->trivy_dir,
        .falco_file = cfg->falco_file,
        .report_existing = cfg->once,
        .file_mode = (enum file_mode)cfg->file_mode,
    };
    a->env = (struct collector_env){
        .loop = cfg->once ? NULL : &a->loop,
        .cfg = &a->ccfg,
        .containers = a->containers,
        .emit = agent_emit,
        .has_room = agent_has_room,
        .mark = agent_mark,
        .mark_get = agent_mark_get,
        .emit_ctx = a,
    };
    if (agent_start_sensor(a) < 0)
        return BW_EIO;
    for (size_t i = a->ebpf ? 2 : 0; i < sizeof table / sizeof table[0]; i++) {
        struct collector *c;
        int rc;
        if (!table[i].on)
            continue;
        c = table[i].make(&a->env);
        if (!c) {
            log_msg(LOG_ERROR, "agent", "out of memory starting a collector");
            continue;
        }
        rc = cfg->once ? c->scan(c) : c->start(c);
        if (rc < 0) {
            log_msg(LOG_WARN, "agent", "collector %s is off: %s", c->name, bw_strerror(rc));
            collector_free(c);
            continue;
        }
        a->collectors[a->ncollectors++] = c;
    }
    if (cfg->once)
        a->source_done = true;
    log_msg(LOG_INFO, "agent", "%zu collectors %s, reading below %s", a->ncollectors,
            cfg->once ? "scanned once" : "running", cfg->host_root);
    return 0;
}

static void on_collector_closed(void *arg)
{
    struct agent *a = arg;
    a->closing_collectors--;
}

/* ------------------------------------------------------------ lifecycle */

static void agent_stop(struct agent *a, int code)
{
    if (a->stopping)
        return;
    a->stopping = true;
    a->exit_code = code;
    uv_timer_stop(&a->tick);
    uv_close((uv_handle_t *)&a->tick, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    for (size_t i = 0; i < a->ncollectors; i++) {
        a->closing_collectors++;
        a->collectors[i]->stop(a->collectors[i], on_collector_closed, a);
    }
    /* What the collectors handed over is spooled, not lost. */
    if (agent_flush(a) < 0 && a->q_len > 0)
        log_msg(LOG_ERROR, "agent", "stopping with the spool failing: %u queued events are lost",
                a->q_len);
    if (a->shipper)
        shipper_stop(a->shipper, NULL, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct agent *a = h->data;
    log_msg(LOG_INFO, "agent", "%s: stopping (spooled events stay for the next start)",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    agent_stop(a, 0);
}

static int agent_identity(struct agent *a)
{
    const struct agent_config *cfg = a->cfg;
    char host[256];
    unsigned port;

    if (*cfg->hostname)
        snprintf(a->hostname, sizeof a->hostname, "%s", cfg->hostname);
    else if (gethostname(a->hostname, sizeof a->hostname) != 0)
        snprintf(a->hostname, sizeof a->hostname, "unknown");
    a->hostname[sizeof a->hostname - 1] = '\0';
    if (a->to_stdout)
        return 0;
    if (net_split_host_port(cfg->server, host, sizeof host, &port) < 0 || port == 0) {
        log_msg(LOG_ERROR, "agent", "'server' must be host:port, not '%s'", cfg->server);
        return BW_ECONFIG;
    }
    const char *name = *cfg->server_name ? cfg->server_name : host;
    if (tls_server_name_check(name) < 0 || strlen(name) >= sizeof a->server_name) {
        log_msg(LOG_ERROR, "agent", "'%s' cannot name the TLS server: 1 to %d bytes "
                "(set server_name)", name, TLS_SERVER_NAME_MAX);
        return BW_ECONFIG;
    }
    snprintf(a->server_name, sizeof a->server_name, "%s", name);
    if (agent_enroll(cfg, a->hostname, a->server_name) < 0)
        return BW_EAUTH;
    if (*cfg->agent_id) {
        snprintf(a->agent_id, sizeof a->agent_id, "%s", cfg->agent_id);
    } else if (tls_cert_file_cn(cfg->tls_cert, a->agent_id, sizeof a->agent_id) < 0) {
        log_msg(LOG_ERROR, "agent", "cannot read a CN from '%s' (set agent_id)", cfg->tls_cert);
        return BW_ECONFIG;
    }
    return 0;
}

static struct source *agent_make_source(const struct agent_config *cfg, const char *hostname)
{
    char err[512];
    struct source *s = NULL;

    if (cfg->source == AGENT_SOURCE_SYNTHETIC) {
        struct synthetic_options so = {.rate = cfg->synthetic_rate,
                                       .seed = cfg->synthetic_seed,
                                       .hostname = hostname,
                                       .scenario = cfg->synthetic_scenario,
                                       .pooled = true};
        s = source_synthetic_new(&so);
        if (!s)
            log_msg(LOG_ERROR, "agent", "cannot start the synthetic source (scenario '%s')",
                    cfg->synthetic_scenario);
    } else if (cfg->source == AGENT_SOURCE_REPLAY) {
        s = source_replay_new(cfg->replay_file, err, sizeof err);
        if (!s)
            log_msg(LOG_ERROR, "agent", "%s", err);
    }
    return s;
}

/* A file source with a spool resumes where its stored events end. */
static int agent_source_resume(struct agent *a)
{
    uint64_t v[SPOOL_MARK_VALUES];
    size_t len;
    int rc;

    if (!a->spool || !a->source->seek || a->cfg->source != AGENT_SOURCE_REPLAY)
        return 0;
    len = strlen("replay:") + strlen(a->cfg->replay_file) + 1;
    if (!(a->source_key = malloc(len)))
        return BW_ENOMEM;
    snprintf(a->source_key, len, "replay:%s", a->cfg->replay_file);
    rc = spool_mark_get(a->spool, a->source_key, v);
    if (rc == BW_ENOTFOUND)
        return 0;
    if (rc == 0)
        rc = a->source->seek(a->source, v);
    if (rc < 0 && rc != BW_ENOTFOUND) {
        log_msg(LOG_ERROR, "agent", "cannot resume %s: %s", a->cfg->replay_file, bw_strerror(rc));
        return rc;
    }
    return 0;
}

/* The machine id the spool is tied to: the option, else the first line of
 * host_root/etc/machine-id (systemd) or var/lib/dbus/machine-id, else ""
 * (then only the spool file's device and inode tell a copy). */
static const char *agent_machine_id(const struct agent_config *cfg, char *out, size_t outlen)
{
    static const char *const files[] = {"etc/machine-id", "var/lib/dbus/machine-id"};

    out[0] = '\0';
    if (cfg->machine_id && *cfg->machine_id) {
        snprintf(out, outlen, "%s", cfg->machine_id);
        return out;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0] && !out[0]; i++) {
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof path, "%s%s%s", cfg->host_root,
                 cfg->host_root[strlen(cfg->host_root) - 1] == '/' ? "" : "/", files[i]);
        if (!(f = fopen(path, "re")))
            continue;
        if (!fgets(out, (int)outlen, f))
            out[0] = '\0';
        fclose(f);
        out[strcspn(out, "\r\n \t")] = '\0';
    }
    return out;
}

static int agent_open_shipping(struct agent *a)
{
    const struct agent_config *cfg = a->cfg;
    struct spool_options so = {0};
    struct shipper_options sho = {0};
    struct spool_stats st;
    char err[512], machine[128];

    a->tls = tls_ctx_new(TLS_ROLE_CLIENT, cfg->tls_ca, cfg->tls_cert, cfg->tls_key, err,
                         sizeof err);
    if (!a->tls) {
        log_msg(LOG_ERROR, "agent", "tls: %s", err);
        return BW_ECONFIG;
    }
    so.path = cfg->spool;
    so.max_events = cfg->spool_max_events;
    so.max_bytes = cfg->spool_max_bytes;
    so.sync_full = cfg->spool_sync == CONFIG_SYNC_FULL;
    so.machine_id = agent_machine_id(cfg, machine, sizeof machine);
    if (spool_open(&a->spool, &so, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "agent", "spool: %s", err);
        return BW_EIO;
    }
    sho.server = cfg->server;
    sho.server_name = a->server_name;
    sho.agent_id = a->agent_id;
    sho.hostname = a->hostname;
    sho.tls_ca = cfg->tls_ca;
    sho.tls_cert = cfg->tls_cert;
    sho.tls_key = cfg->tls_key;
    sho.renew_at = cfg->renew_at;
    sho.labels[0] = cfg->label_cloud;
    sho.labels[1] = cfg->label_region;
    sho.labels[2] = cfg->label_environment;
    sho.labels[3] = cfg->label_tenant;
    sho.batch_events = cfg->batch_events;
    sho.max_frame = cfg->max_frame;
    sho.reconnect_min_ms = cfg->reconnect_min_ms;
    sho.reconnect_max_ms = cfg->reconnect_max_ms > cfg->reconnect_min_ms ? cfg->reconnect_max_ms
                                                                         : cfg->reconnect_min_ms;
    sho.health = agent_health;
    sho.health_ctx = a;
    if (shipper_new(&a->shipper, &a->loop, &sho, a->tls, a->spool, on_acked, a) < 0)
        return BW_ENOMEM;
    spool_get_stats(a->spool, &st);
    a->spool_dropped_logged = st.dropped;  /* drops of earlier runs were reported then */
    log_msg(LOG_INFO, "agent",
            "bulwark-agent %s as '%s' on %s, spool %s (epoch %llu, %llu events waiting), "
            "source %s, server %s",
            BULWARK_VERSION, a->agent_id, a->hostname, cfg->spool, (unsigned long long)st.epoch,
            (unsigned long long)st.depth, agent_source_names[cfg->source], cfg->server);
    return 0;
}

int agent_run(const struct agent_config *cfg)
{
    struct agent *a = calloc(1, sizeof *a);
    int rc = 1;

    if (!a)
        return 1;
    a->cfg = cfg;
    a->to_stdout = cfg->output == AGENT_OUTPUT_STDOUT;
    a->q_cap = cfg->queue_events;
    a->chunk_max = CHUNK;
    a->q = calloc(a->q_cap, sizeof *a->q);
    uv_loop_init(&a->loop);
    uv_timer_init(&a->loop, &a->tick);
    uv_signal_init(&a->loop, &a->sig_term);
    uv_signal_init(&a->loop, &a->sig_int);
    a->tick.data = a->sig_term.data = a->sig_int.data = a;
    if (!a->q || agent_identity(a) < 0)
        goto out;
    if (!a->to_stdout && agent_open_shipping(a) < 0)
        goto out;
    if (cfg->source == AGENT_SOURCE_HOST) {
        a->containers = containers_new(cfg->host_root, CONTAINERS_MAX);
        if (!a->containers)
            goto out;
        if (agent_start_collectors(a) < 0)
            goto out;
    } else if (cfg->source == AGENT_SOURCE_NONE) {
        a->source_done = true;
    } else if (!(a->source = agent_make_source(cfg, a->hostname))) {
        goto out;
    } else if (agent_source_resume(a) < 0) {
        goto out;
    }
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    a->pull_ms = a->source ? agent_pull_ms(cfg) : 0;
    uv_timer_start(&a->tick, on_tick, 0, 0);  /* a first pull, or a first flush */
    if (a->shipper)
        shipper_start(a->shipper);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    rc = a->exit_code;
    if (a->to_stdout)
        log_msg(LOG_INFO, "agent", "printed %llu events", (unsigned long long)a->printed);
out:
    if (!a->stopping) {
        /* failed before the loop ran: close what was opened */
        a->stopping = true;
        uv_close((uv_handle_t *)&a->tick, NULL);
        uv_close((uv_handle_t *)&a->sig_term, NULL);
        uv_close((uv_handle_t *)&a->sig_int, NULL);
        if (a->shipper)
            shipper_stop(a->shipper, NULL, NULL);
        uv_run(&a->loop, UV_RUN_DEFAULT);
    }
    for (size_t i = 0; i < a->ncollectors; i++)
        collector_free(a->collectors[i]);
    while (a->q_len > 0) {  /* only when the spool failed */
        agent_event_free(a, a->q[a->q_head]);
        a->q_head = (a->q_head + 1) % a->q_cap;
        a->q_len--;
    }
    shipper_free(a->shipper);
    if (uv_loop_close(&a->loop) != 0)
        log_msg(LOG_WARN, "agent", "loop closed with live handles");
    containers_free(a->containers);
    source_free(a->source);
    spool_close(a->spool);
    tls_ctx_free(a->tls);
    for (int i = 0; i < MARK_KEYS; i++)
        free(a->mark_keys[i]);
    free(a->source_key);
    free(a->q);
    free(a->qm);
    free(a);
    return rc;
}
