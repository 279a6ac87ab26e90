/* server.c - bulwarkd's lifecycle: the one module that owns the listener,
 * the connections, the writer, the rules, detector-state saving, the
 * published state (srvstate), the command queue (cmdq) and the REST API,
 * and starts and stops them in a fixed order:
 *
 *   start:  TLS -> store -> rules (+ saved state) -> writer -> timers and
 *           signals -> srvstate, cmdq -> listener -> API -> forwarder
 *   stop:   (SIGTERM) listener off, streams drained, state saved behind
 *           them -> writer idle -> API stopped, forwarder stopped, cmdq
 *           closed, streams closed,
 *           writer stopped -> the loop runs out of handles
 *
 * SIGTERM/SIGINT: stop accepting, commit and ack what was received, close
 * the streams, exit 0. SIGHUP: reload the rules and the TLS files (new
 * connections use them). Other threads reach the loop only through
 * srvstate (a published copy) and cmdq (commands run on the loop). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "bulwark/api.h"
#include "bulwark/clock.h"
#include "bulwark/cmdq.h"
#include "bulwark/conn.h"
#include "bulwark/enroll.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/forward.h"
#include "bulwark/frame.h"
#include "bulwark/hostbind.h"
#include "bulwark/log.h"
#include "bulwark/rulestage.h"
#include "bulwark/server.h"
#include "bulwark/srvstate.h"
#include "bulwark/store.h"
#include "bulwark/tls.h"
#include "bulwark/writer.h"

#define DRAIN_DEADLINE_MS 4000u
#define PUBLISH_INTERVAL_MS 1000u
/* An agent's health is stored at most this often, and whenever its drop
 * count grows (the API shows the last stored one for agents gone away). */
#define HEALTH_STORE_NS (60LL * 1000000000LL)
/* ... but at most this often, whatever a peer's heartbeats claim: a stream
 * can make us write (and log) no faster than this. */
#define HEALTH_MIN_NS (5LL * 1000000000LL)

static void server_finish(struct server *srv);
static void server_reload_abandon(struct server *srv);

static void server_close_cmdq(struct server *srv)
{
    if (srv->cmdq && !srv->cmdq_closed) {
        srv->cmdq_closed = true;
        cmdq_close(srv->cmdq, NULL, NULL);
    }
}

static void on_state_saved(struct writer_item *it, void *owner)
{
    if (it->rc < 0)
        log_msg(LOG_WARN, "rules", "detector state not saved: %s", bw_strerror(it->rc));
    writer_item_free(it);
    (void)owner;
}

/* Each connection is a descriptor: raise the soft limit towards what
 * max_connections needs (the hard limit is the ceiling), and say so when the
 * hard limit is too low instead of failing accepts later. */
static void server_raise_nofile(const struct server_config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->max_connections + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        log_msg(LOG_WARN, "server",
                "open-file limit %llu is below max_connections %u + 64; raise it (LimitNOFILE=)",
                (unsigned long long)rl.rlim_cur, cfg->max_connections);
}

/* Queues the detector state for the writer (stored in its own transaction
 * slot, behind the batches before it). */
static void server_save_state(struct server *srv)
{
    struct writer_item *it;

    if (!srv->rules || !srv->writer)
        return;
    it = calloc(1, sizeof *it);
    if (!it)
        return;
    it->type = WRITER_STATE;
    it->agent_id = strdup(RULESTAGE_STATE_KEY);
    buf_init(&it->state, 64u * 1024 * 1024);
    it->done = on_state_saved;
    it->owner = srv;
    if (!it->agent_id || rulestage_save(srv->rules, &it->state) < 0) {
        log_msg(LOG_WARN, "rules", "cannot serialise detector state");
        writer_item_free(it);
        return;
    }
    writer_submit(srv->writer, it);
}

static void on_state_timer(uv_timer_t *t)
{
    server_save_state(t->data);
}

static void on_writer_room(void *ctx)
{
    conn_resume_blocked(ctx);
}

static void on_writer_idle(void *ctx)
{
    struct server *srv = ctx;
    if (srv->draining && !srv->blocked)
        server_finish(srv);
}

static void on_writer_closed(void *ctx)
{
    (void)ctx;
}

static void on_drain_deadline(uv_timer_t *t)
{
    struct server *srv = t->data;
    log_msg(LOG_WARN, "server", "drain deadline passed; closing remaining streams");
    server_finish(srv);
}

/* The writer has committed everything received and the acks are queued:
 * close the streams and the writer; the loop then runs out of handles. */
static void server_finish(struct server *srv)
{
    struct writer_stats ws;

    if (!srv->writer || srv->finished)
        return;
    srv->finished = true;
    srv->ready = false;
    integrity_cancel(srv->integrity_check);  /* its callback still comes, soon */
    server_publish(srv);
    server_close_cmdq(srv);  /* API requests waiting on the loop: refused */
    server_reload_abandon(srv);
    api_stop(srv->api);
    srv->api = NULL;
    forward_stop(srv->fwd);
    srv->fwd = NULL;
    enroll_stop(srv->enroll);
    conn_close_all(srv);
    uv_timer_stop(&srv->publish_timer);
    uv_close((uv_handle_t *)&srv->publish_timer, NULL);
    uv_timer_stop(&srv->drain_timer);
    uv_close((uv_handle_t *)&srv->drain_timer, NULL);
    uv_close((uv_handle_t *)&srv->yield_idle, NULL);
    uv_close((uv_handle_t *)&srv->state_timer, NULL);
    uv_close((uv_handle_t *)&srv->sig_term, NULL);
    uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_close((uv_handle_t *)&srv->sig_hup, NULL);
    writer_set_idle_cb(srv->writer, NULL, NULL);
    writer_set_room_cb(srv->writer, NULL, NULL);
    writer_stop(srv->writer, on_writer_closed, srv);
    writer_get_stats(srv->writer, &ws);
    log_msg(LOG_INFO, "server",
            "stopped: %llu connections, %llu events stored, %llu duplicates skipped, "
            "%llu refused (tls %llu, auth %llu, protocol %llu)",
            (unsigned long long)srv->stats.accepted, (unsigned long long)ws.events_stored,
            (unsigned long long)ws.events_duplicate,
            (unsigned long long)(srv->stats.handshake_failed + srv->stats.auth_refused +
                                 srv->stats.protocol_errors),
            (unsigned long long)srv->stats.handshake_failed,
            (unsigned long long)srv->stats.auth_refused,
            (unsigned long long)srv->stats.protocol_errors);
    /* Failures the writer recovered from (a full disk that was freed) were
     * retried by the agents and are stored: only an unrecovered one fails. */
    srv->exit_code = ws.last_failed ? 1 : 0;
}

static void on_sigterm(uv_signal_t *h, int signum)
{
    struct server *srv = h->data;

    if (srv->draining)
        return;
    log_msg(LOG_INFO, "server", "%s: draining", signum == SIGINT ? "SIGINT" : "SIGTERM");
    srv->draining = true;
    srv->ready = false;
    server_publish(srv);
    listener_stop(srv);
    uv_update_time(srv->loop);  /* the loop time may be a busy pass old */
    uv_timer_start(&srv->drain_timer, on_drain_deadline, DRAIN_DEADLINE_MS, 0);
    conn_drain_all(srv);
    uv_timer_stop(&srv->state_timer);
    server_save_state(srv);  /* behind the drained batches, so it covers them */
    if (writer_pending(srv->writer) == 0 && !srv->blocked)
        server_finish(srv);
}

/* Someone waiting for the outcome of a reload (the API). */
struct reload_waiter {
    server_reload_fn done;
    void *ctx;
    struct reload_waiter *next;
};

/* Completes the waiters of list with rc. */
static void reload_complete(struct reload_waiter *list, int rc)
{
    for (struct reload_waiter *w = list, *next; w; w = next) {
        next = w->next;
        w->done(rc, w->ctx);
        free(w);
    }
}

/* Starts compiling the rules beside the loop with the current waiters. */
static void server_reload_rules_start(struct server *srv);

static void on_rules_reloaded(struct rulestage *rs, int status, void *ctx)
{
    struct server *srv = ctx;
    struct reload_waiter *done = srv->reload_running;
    int rc = status < 0 ? BW_ECONFIG : srv->reload_tls_rc;

    (void)rs;
    srv->reload_running = NULL;
    srv->reloading = false;
    if (status == 0)
        log_msg(LOG_INFO, "server", "%s: reloaded the rules", srv->reload_why);
    else
        log_msg(LOG_ERROR, "server", "%s: rules refused; the running rules stay",
                srv->reload_why);
    reload_complete(done, rc);
    /* Requests that came while compiling read the files again now. */
    if (srv->reload_pending && !srv->finished) {
        srv->reload_pending = false;
        server_reload_rules_start(srv);
    }
}

static void server_reload_rules_start(struct server *srv)
{
    srv->reload_running = srv->reload_queued;
    srv->reload_queued = NULL;
    if (rulestage_reload_start(srv->rules, srv->loop, on_rules_reloaded, srv) < 0) {
        log_msg(LOG_ERROR, "server", "%s: out of memory; the rules were not reloaded",
                srv->reload_why);
        reload_complete(srv->reload_running, BW_ENOMEM);
        srv->reload_running = NULL;
        return;
    }
    srv->reloading = true;
}

/* Loop thread: answers every waiter (the server is stopping). */
static void server_reload_abandon(struct server *srv)
{
    reload_complete(srv->reload_running, BW_ECLOSED);
    reload_complete(srv->reload_queued, BW_ECLOSED);
    srv->reload_running = srv->reload_queued = NULL;
}

int server_reload(struct server *srv, const char *why, server_reload_fn done, void *ctx)
{
    char err[512];
    struct tls_ctx *t, *et = NULL;
    struct reload_waiter *w = NULL;

    if (srv->finished || srv->draining)
        return BW_ECLOSED;
    if (done) {
        if (!(w = calloc(1, sizeof *w)))
            return BW_ENOMEM;
        w->done = done;
        w->ctx = ctx;
    }
    snprintf(srv->reload_why, sizeof srv->reload_why, "%s", why);
    t = tls_ctx_new(TLS_ROLE_SERVER, srv->cfg->tls_ca, srv->cfg->tls_cert, srv->cfg->tls_key,
                    err, sizeof err);
    if (!t) {
        log_msg(LOG_ERROR, "server", "%s: keeping the old TLS files: %s", why, err);
        srv->reload_tls_rc = BW_ECONFIG;
    } else if (*srv->cfg->enroll_listen &&
               !(et = tls_ctx_new_anon_server(srv->cfg->tls_cert, srv->cfg->tls_key, err,
                                              sizeof err))) {
        tls_ctx_free(t);
        log_msg(LOG_ERROR, "server", "%s: keeping the old TLS files: %s", why, err);
        srv->reload_tls_rc = BW_ECONFIG;
    } else {
        tls_ctx_free(srv->tls);  /* live connections hold their own reference */
        srv->tls = t;
        if (et) {
            tls_ctx_free(srv->enroll_tls);
            srv->enroll_tls = et;
        }
        srv->reload_tls_rc = 0;
        log_msg(LOG_INFO, "server", "%s: reloaded TLS certificate, key and CA", why);
    }
    enroll_refresh(srv->enroll);  /* revocations made meanwhile count at once */
    if (!srv->rules) {
        if (w)
            reload_complete(w, srv->reload_tls_rc);
        return 0;
    }
    if (w) {
        w->next = srv->reload_queued;
        srv->reload_queued = w;
    }
    /* One compile at a time; requests during it are served by the next. */
    if (srv->reloading)
        srv->reload_pending = true;
    else
        server_reload_rules_start(srv);
    return 0;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    server_reload(h->data, "SIGHUP", NULL, NULL);
}

/* Loads the rules (none when cfg->rules is empty, or is the default
 * directory and that is not installed) and restores the detector state the
 * last run saved. The writer is not running yet: the store is ours. */
static int server_open_rules(struct server *srv, struct store *store)
{
    const struct server_config *cfg = srv->cfg;
    struct stat st;
    struct buf blob;
    int rc;

    if (!*cfg->rules)
        return 0;
    if (strcmp(cfg->rules, BULWARK_RULES_DIR) == 0 && stat(cfg->rules, &st) != 0) {
        log_msg(LOG_WARN, "rules", "no rules at %s; running without rules (see --rules)",
                cfg->rules);
        return 0;
    }
    if (rulestage_open(&srv->rules, cfg->rules) < 0)
        return BW_ECONFIG;
    buf_init(&blob, 64u * 1024 * 1024);
    rc = store_state_get(store, RULESTAGE_STATE_KEY, &blob);
    if (rc == 0 && rulestage_restore(srv->rules, buf_head(&blob), buf_size(&blob)) == 0)
        log_msg(LOG_INFO, "rules", "restored detector state (%zu bytes)", buf_size(&blob));
    else if (rc == 0)
        log_msg(LOG_WARN, "rules", "saved detector state is unreadable; starting fresh");
    buf_release(&blob);
    return 0;
}

/* ------------------------------------------------------ published state */

/* Copies the loop's and the writer's counters into srvstate. */
void server_publish(struct server *srv)
{
    struct srvstate_counters c = {0};
    struct writer_stats ws = {0};

    if (!srv->state)
        return;
    if (srv->writer)
        writer_get_stats(srv->writer, &ws);
    c.accepted = srv->stats.accepted;
    c.refused_limit = srv->stats.refused_limit;
    c.handshake_failed = srv->stats.handshake_failed;
    c.auth_refused = srv->stats.auth_refused;
    c.protocol_errors = srv->stats.protocol_errors;
    c.connected = srv->nconns;
    c.batches = srv->stats.batches;
    c.events_received = srv->stats.events_received;
    c.transactions = ws.transactions;
    c.events_stored = ws.events_stored;
    c.events_duplicate = ws.events_duplicate;
    c.commit_failures = ws.commit_failures;
    c.queued_events = ws.queued_events;
    c.queue_capacity = srv->cfg->queue_events;
    c.alerts_raised = ws.alerts_raised;
    c.alerts_merged = ws.alerts_merged;
    c.commit_lat_count = ws.commit_lat_count;
    c.commit_lat_sum_us = ws.commit_lat_sum_us;
    memcpy(c.commit_lat_buckets, ws.commit_lat_buckets, sizeof c.commit_lat_buckets);
    c.enrolled = srv->stats.enrolled;
    c.enroll_refused = srv->stats.enroll_refused;
    c.renewed = srv->stats.renewed;
    c.started_ns = srv->started_ns;
    c.published_ns = clock_wall_ns();
    c.integrity = srv->integrity;
    c.ready = srv->ready;
    c.draining = srv->draining;
    srvstate_publish(srv->state, &c);
}

static void on_publish_timer(uv_timer_t *t)
{
    server_publish(t->data);
}

void server_agent_up(struct server *srv, const char *agent_id, const char *hostname,
                     const char *version, const char *peer, uint64_t stream)
{
    struct srvstate_agent a = {.connected_ns = clock_wall_ns(), .stream = stream};

    snprintf(a.agent_id, sizeof a.agent_id, "%s", agent_id);
    snprintf(a.hostname, sizeof a.hostname, "%s", hostname ? hostname : "");
    snprintf(a.version, sizeof a.version, "%s", version ? version : "");
    snprintf(a.peer, sizeof a.peer, "%s", peer ? peer : "");
    srvstate_agent_up(srv->state, &a);
}

void server_agent_down(struct server *srv, const char *agent_id, uint64_t stream)
{
    srvstate_agent_down(srv->state, agent_id, stream);
}

/* {"exec":12,...} into out; entries that do not fit are left out (the
 * sizes are the agent's own counters, the names its event kinds). */
static void health_by_kind(const struct Bulwark__V1__AgentHealth *h, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "{");

    for (size_t i = 0; i < h->n_events_by_kind && n < cap; i++) {
        const char *k = h->events_by_kind[i]->key ? h->events_by_kind[i]->key : "";
        bool plain = *k && strlen(k) < 32;
        for (const char *p = k; *p && plain; p++)
            plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
        if (!plain)
            continue;  /* a name JSON would need escaped is not a kind we know */
        char item[64];
        int m = snprintf(item, sizeof item, "%s\"%s\":%llu", n > 1 ? "," : "", k,
                         (unsigned long long)h->events_by_kind[i]->value);
        if (m < 0 || n + (size_t)m + 2 > cap)
            break;
        memcpy(out + n, item, (size_t)m);
        n += (size_t)m;
    }
    snprintf(out + n, cap - n, "}");
}

/* The sensor's name when it is a plain word (it goes into JSON unescaped), else "". */
static void health_sensor(const struct Bulwark__V1__AgentHealth *h, char *out, size_t cap)
{
    const char *s = h->sensor ? h->sensor : "";
    size_t n = strlen(s);

    out[0] = '\0';
    if (n >= cap)
        return;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'a' || s[i] > 'z')
            return;
    memcpy(out, s, n + 1);
}

static void on_health_stored(struct writer_item *it, void *owner)
{
    (void)owner;
    if (it->rc < 0)
        log_msg(LOG_DEBUG, "server", "agent health not stored: %s", bw_strerror(it->rc));
    writer_item_free(it);
}

void server_agent_health(struct server *srv, const char *agent_id,
                         const struct Bulwark__V1__AgentHealth *h, int64_t *stored_ns,
                         uint64_t *stored_dropped)
{
    struct srvstate_health sh = {.at_ns = clock_wall_ns()};
    struct writer_item *it;

    if (!h)
        return;
    sh.spool_depth = h->spool_depth;
    sh.spool_dropped = h->spool_dropped;
    sh.events_total = h->events_total;
    sh.source_errors = h->source_errors;
    sh.spool_quarantined = h->spool_quarantined;
    sh.cert_not_after_s = h->cert_not_after > 0 && h->cert_not_after < INT64_MAX / 1000000000
                              ? h->cert_not_after
                              : 0;
    health_by_kind(h, sh.by_kind_json, sizeof sh.by_kind_json);
    health_sensor(h, sh.sensor, sizeof sh.sensor);
    sh.sensor_kernel_drops = h->sensor_kernel_drops;
    srvstate_agent_health(srv->state, agent_id, &sh);
    if (sh.at_ns - *stored_ns < HEALTH_MIN_NS ||
        (sh.at_ns - *stored_ns < HEALTH_STORE_NS && h->spool_dropped <= *stored_dropped))
        return;
    if (h->spool_dropped > *stored_dropped)
        log_msg(LOG_WARN, "server", "agent %s reports %llu more events dropped (spool full)",
                agent_id, (unsigned long long)(h->spool_dropped - *stored_dropped));
    if (!writer_has_room(srv->writer, 1) || !(it = calloc(1, sizeof *it)))
        return;  /* the next heartbeat tries again */
    it->type = WRITER_HEALTH;
    it->agent_id = strdup(agent_id);
    it->recv_ns = sh.at_ns;
    it->health_json = malloc(1024);
    if (!it->agent_id || !it->health_json) {
        writer_item_free(it);
        return;
    }
    char cert_end[EVJSON_TIME_MAX] = "";
    if (sh.cert_not_after_s &&
        evjson_format_time(sh.cert_not_after_s * 1000000000, cert_end, sizeof cert_end) < 0)
        cert_end[0] = '\0';
    snprintf(it->health_json, 1024,
             "{\"at\":%lld,\"spool_depth\":%llu,\"spool_dropped\":%llu,\"events_total\":%llu,"
             "\"source_errors\":%llu,\"spool_quarantined\":%llu,\"events_by_kind\":%s,"
             "\"sensor\":\"%s\",\"sensor_kernel_drops\":%llu%s%s%s}",
             (long long)sh.at_ns, (unsigned long long)sh.spool_depth,
             (unsigned long long)sh.spool_dropped, (unsigned long long)sh.events_total,
             (unsigned long long)sh.source_errors, (unsigned long long)sh.spool_quarantined,
             sh.by_kind_json, sh.sensor, (unsigned long long)sh.sensor_kernel_drops,
             *cert_end ? ",\"cert_not_after\":\"" : "", cert_end, *cert_end ? "\"" : "");
    it->done = on_health_stored;
    it->owner = srv;
    writer_submit(srv->writer, it);
    *stored_ns = sh.at_ns;
    *stored_dropped = h->spool_dropped;
}

/* ------------------------------------------------------------- the run */

/* The enrollment listener's TLS context (when enroll_listen is set) and the
 * enrollment module (always: it holds the revocations). */
static int server_open_enroll(struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    char err[512];

    if (*cfg->enroll_listen &&
        !(srv->enroll_tls = tls_ctx_new_anon_server(cfg->tls_cert, cfg->tls_key, err,
                                                    sizeof err))) {
        log_msg(LOG_ERROR, "enroll", "tls: %s", err);
        return BW_ECONFIG;
    }
    if (enroll_open(&srv->enroll, srv, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "enroll", "%s", err);
        return BW_ECONFIG;
    }
    return 0;
}

static void on_server_alert_stored(struct writer_item *it, void *owner)
{
    (void)owner;
    if (it->rc < 0)
        log_msg(LOG_ERROR, "server", "alert '%s' not stored: %s", it->alerts->a.rule,
                bw_strerror(it->rc));
    writer_item_free(it);
}

void server_raise_alert(struct server *srv, const char *rule, int32_t priority,
                        const char *text, const char *agent_id, const char *hostname,
                        const char *tags_json)
{
    struct writer_item *it;
    int64_t now = clock_wall_ns();

    if (srv->finished)
        return;  /* the writer is stopping; the log line said it */
    /* One item over the queue's cap is harmless, and this one must not wait. */
    if (!(it = calloc(1, sizeof *it)) ||
        !(it->alerts = alert_rec_server(rule, priority, text, agent_id, hostname, tags_json,
                                        now))) {
        free(it);
        log_msg(LOG_ERROR, "server", "alert '%s' not raised: out of memory", rule);
        return;
    }
    it->type = WRITER_ALERTS;
    it->recv_ns = now;
    it->done = on_server_alert_stored;
    it->owner = srv;
    writer_submit(srv->writer, it);
}

/* The start's database check finished: publish it; damage is also an alert
 * (source "server"), as the log line alone is easily missed. */
static void on_integrity_done(const struct integrity_result *res, void *ctx)
{
    struct server *srv = ctx;
    char text[512];

    srv->integrity_check = NULL;
    srv->integrity = *res;
    server_publish(srv);
    if (res->state != INTEGRITY_CORRUPT)
        return;
    snprintf(text, sizeof text,
             "the database file %s failed its integrity check: %llu problem(s), the first: %s",
             srv->cfg->db, (unsigned long long)res->problems, res->first);
    server_raise_alert(srv, "Store integrity check failed",
                       BULWARK__V1__SEVERITY__SEVERITY_CRITICAL, text, NULL, NULL,
                       "[\"integrity\",\"store\"]");
}

static int on_hostbind_row(const char *hostname, const char *agent_id, void *ctx)
{
    const char *owner;

    /* The table holds one name per agent and one agent per name: no conflict. */
    return hostbind_claim(ctx, hostname, agent_id, &owner) == BW_ENOMEM ? BW_ENOMEM : 0;
}

/* The host name bindings kept in the store, so a restart does not hand a
 * name to whichever agent says it first. */
static int server_load_hostbinds(struct server *srv, struct store *store)
{
    int rc;

    if (!(srv->hostbind = hostbind_new()))
        return BW_ENOMEM;
    if ((rc = store_hostbind_each(store, on_hostbind_row, srv->hostbind)) < 0) {
        log_msg(LOG_ERROR, "server", "store: host name bindings not read: %s", bw_strerror(rc));
        return rc;
    }
    log_msg(LOG_INFO, "server", "%zu host name binding(s) loaded",
            hostbind_count(srv->hostbind));
    return 0;
}

int server_run(const struct server_config *cfg)
{
    struct server *srv = NULL;
    struct store *store = NULL;
    struct store_options so = {0};
    char err[512];
    int rc = 1;
    uv_loop_t loop;

    server_raise_nofile(cfg);
    srv = calloc(1, sizeof *srv);
    if (!srv)
        return 1;
    srv->cfg = cfg;
    srv->started_ns = clock_wall_ns();
    buf_init(&srv->sendbuf, (size_t)cfg->max_frame + FRAME_HEADER_SIZE);
    uv_loop_init(&loop);
    srv->loop = &loop;
    srv->tls = tls_ctx_new(TLS_ROLE_SERVER, cfg->tls_ca, cfg->tls_cert, cfg->tls_key, err,
                           sizeof err);
    if (!srv->tls) {
        log_msg(LOG_ERROR, "server", "tls: %s", err);
        goto out_loop;
    }
    so.path = cfg->db;
    so.sync_full = cfg->db_sync == CONFIG_SYNC_FULL;
    if (store_open(&store, &so, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "server", "store: %s", err);
        goto out_loop;
    }
    log_msg(LOG_INFO, "server", "bulwarkd %s, database %s (synchronous=%s)", BULWARK_VERSION,
            cfg->db, config_sync_choices[cfg->db_sync]);
    if (server_load_hostbinds(srv, store) < 0 || server_open_rules(srv, store) < 0) {
        store_close(store);
        goto out_loop;
    }

    if (srvstate_new(&srv->state) < 0 || cmdq_new(&srv->cmdq, &loop, srv) < 0) {
        log_msg(LOG_ERROR, "server", "out of memory");
        store_close(store);
        goto out_loop;
    }
    if (writer_start(&srv->writer, &loop, store, cfg->queue_events) < 0) {
        server_close_cmdq(srv);
        writer_stop(srv->writer, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        writer_free(srv->writer);
        goto out_loop;
    }
    writer_set_room_cb(srv->writer, on_writer_room, srv);
    writer_set_idle_cb(srv->writer, on_writer_idle, srv);
    writer_set_alert_suppression(srv->writer, (int64_t)cfg->alert_suppression_ms * 1000000);
    uv_timer_init(&loop, &srv->state_timer);
    srv->state_timer.data = srv;
    if (srv->rules)
        uv_timer_start(&srv->state_timer, on_state_timer, cfg->state_save_interval_ms,
                       cfg->state_save_interval_ms);
    uv_timer_init(&loop, &srv->publish_timer);
    srv->publish_timer.data = srv;
    uv_timer_start(&srv->publish_timer, on_publish_timer, PUBLISH_INTERVAL_MS,
                   PUBLISH_INTERVAL_MS);

    uv_idle_init(&loop, &srv->yield_idle);
    srv->yield_idle.data = srv;
    uv_timer_init(&loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    uv_signal_init(&loop, &srv->sig_term);
    uv_signal_init(&loop, &srv->sig_int);
    uv_signal_init(&loop, &srv->sig_hup);
    srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
    uv_signal_start(&srv->sig_term, on_sigterm, SIGTERM);
    uv_signal_start(&srv->sig_int, on_sigterm, SIGINT);
    uv_signal_start(&srv->sig_hup, on_sighup, SIGHUP);

    if (server_open_enroll(srv) < 0 || listener_start(srv) < 0 || api_start(&srv->api, srv) < 0 ||
        forward_start(&srv->fwd, cfg) < 0) {
        listener_stop(srv);
        srv->draining = true;
        server_finish(srv);
        uv_run(&loop, UV_RUN_DEFAULT);
        writer_free(srv->writer);
        goto out_loop;
    }
    srv->ready = true;
    /* Ingest does not wait for it: the check reads on a pool thread. */
    if (!cfg->integrity_check)
        srv->integrity.state = INTEGRITY_SKIPPED;
    else if ((rc = integrity_start(&srv->integrity_check, &loop, cfg->db, on_integrity_done,
                                   srv)) < 0)
        srv->integrity.state = INTEGRITY_FAILED;
    /* Published before the lines below: a reader of the log finds /readyz
     * ready and the check's state in it. */
    server_publish(srv);
    if (srv->integrity.state == INTEGRITY_SKIPPED)
        log_msg(LOG_INFO, "integrity", "check of '%s' skipped (integrity_check = false)",
                cfg->db);
    else if (srv->integrity.state == INTEGRITY_FAILED)
        log_msg(LOG_ERROR, "integrity", "check not started: %s", bw_strerror(rc));
    uv_run(&loop, UV_RUN_DEFAULT);
    writer_free(srv->writer);
    rc = srv->exit_code;
    log_msg(LOG_INFO, "server", "exit %d", rc);
out_loop:
    rulestage_free(srv->rules);
    hostbind_free(srv->hostbind);  /* when the streams never started */
    if (srv->cmdq && !srv->cmdq_closed) {
        server_close_cmdq(srv);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&loop) != 0)
        log_msg(LOG_WARN, "server", "loop closed with live handles");
    cmdq_free(srv->cmdq);
    srvstate_free(srv->state);
    enroll_free(srv->enroll);
    tls_ctx_free(srv->enroll_tls);
    tls_ctx_free(srv->tls);
    buf_release(&srv->sendbuf);
    free(srv);
    return rc;
}
