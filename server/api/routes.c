/* routes.c - the REST API's resources: events, alerts (with evidence and
 * triage), agents, rules, the audit trail and whoami. Each handler checks
 * its parameters (400 with the reason), asks the store through the call's
 * reader, and renders with views.c. Lists are keyset-paged newest first:
 * a page token is the last row's id, so pages stay right while rows are
 * being inserted (new rows land before the first page, never inside). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "bulwark/clock.h"
#include "bulwark/cmdq.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"
#include "bulwark/rulestage.h"
#include "bulwark/srvstate.h"

#define API_ID_MAX 256u      /* agent, host and container names */
#define API_NOTE_MAX 2048u   /* an alert status note, bytes */

/* Collects rows into an array, keeping one past the page to tell whether
 * there is a next page. */
struct page {
    json_t *items;
    uint32_t want;   /* page size */
    uint32_t got;
    int64_t last_id; /* id of the last row kept */
    bool more;
};

/* True (and the page marked as having more) once it holds want rows: the
 * row at hand is the look-ahead, not shown. */
static bool page_full(struct page *p)
{
    if (p->got < p->want)
        return false;
    p->more = true;
    return true;
}

/* Appends a rendered row (NULL: out of memory). */
static int page_push(struct page *p, json_t *o, int64_t id)
{
    if (!o || json_array_append_new(p->items, o) != 0)
        return BW_ENOMEM;
    p->got++;
    p->last_id = id;
    return 0;
}

static void page_reply(struct api_call *c, struct page *p, char kind)
{
    char tok[48];
    json_t *o = json_object();

    if (!o) {
        json_decref(p->items);
        api_problem(c, 500, "out of memory");
        return;
    }
    json_object_set_new(o, "items", p->items);
    if (p->more) {
        api_page_token(kind, p->last_id, tok, sizeof tok);
        json_object_set_new(o, "next_page_token", json_string(tok));
    } else {
        json_object_set_new(o, "next_page_token", json_null());
    }
    api_reply_json(c, 200, o);
}

static bool q_page_size(struct api_call *c, uint32_t *out)
{
    int64_t n = API_PAGE_DEFAULT;
    if (!api_q_int(c, "page_size", 1, API_PAGE_MAX, &n))
        return false;
    *out = (uint32_t)n;
    return true;
}

/* "min_severity": a name (warning) or a number (4). */
static bool q_severity(struct api_call *c, const char *name, int32_t *out)
{
    const char *v;
    char *end;
    long n;

    if (!api_q_str(c, name, 16, &v))
        return false;
    if (!v)
        return true;
    n = strtol(v, &end, 10);
    if (*v && !*end && n >= 0 && n <= 8) {
        *out = (int32_t)n;
        return true;
    }
    if ((n = evjson_severity_from_name(v)) < 0) {
        api_problem(c, 400, "'%s' must be a severity: debug, info, notice, warning, error, "
                            "critical, alert or emergency", name);
        return false;
    }
    *out = (int32_t)n;
    return true;
}

static bool q_time_range(struct api_call *c, int64_t *since, int64_t *until)
{
    if (!api_q_time(c, "since", since) || !api_q_time(c, "until", until))
        return false;
    if (*since && *until && *until <= *since) {
        api_problem(c, 400, "'until' must be after 'since' (the range is [since, until))");
        return false;
    }
    return true;
}

/* -------------------------------------------------------------- events */

static int on_event_row(const struct store_row *row, void *ctx)
{
    return page_full(ctx) ? 1 : page_push(ctx, api_event_json(row), row->id);
}

/* The event filters shared by the list and the export (since, until,
 * agent, host, container, image, rule, kind, min_severity). */
bool api_event_filters(struct api_call *c, struct store_query *q)
{
    const char *kind;

    if (!q_time_range(c, &q->since_ns, &q->until_ns) ||
        !api_q_str(c, "agent", API_ID_MAX, &q->agent_id) ||
        !api_q_str(c, "host", API_ID_MAX, &q->hostname) ||
        !api_q_str(c, "container", API_ID_MAX, &q->container_id) ||
        !api_q_str(c, "image", API_ID_MAX, &q->image) ||
        !api_q_str(c, "rule", API_ID_MAX, &q->rule) ||
        !api_q_str(c, "kind", 16, &kind) || !q_severity(c, "min_severity", &q->min_severity))
        return false;
    if (kind && !(q->kind = evjson_kind_from_name(kind))) {
        api_problem(c, 400, "'kind' must be one of exec, net, file, resource, config, vuln, "
                            "external, misconfig, secret");
        return false;
    }
    return true;
}

void api_events_list(struct api_call *c)
{
    static const char *const allowed[] = {"since", "until", "agent", "host", "container",
                                          "image", "rule", "kind", "min_severity",
                                          "page_size", "page_token", NULL};
    struct store_query q = {0};
    struct page p = {0};
    int rc;

    if (!api_params_only(c, allowed) || !api_event_filters(c, &q) || !q_page_size(c, &p.want) ||
        !api_q_page_token(c, "page_token", 'e', &q.before_id))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if (!(p.items = json_array())) {
        api_problem(c, 500, "out of memory");
        return;
    }
    q.limit = p.want + 1;
    rc = store_query_events(c->reader, &q, on_event_row, &p);
    if (rc < 0) {
        json_decref(p.items);
        api_store_problem(c, rc, "event");
        return;
    }
    page_reply(c, &p, 'e');
}

static int on_one_event(const struct store_row *row, void *ctx)
{
    json_t **out = ctx;
    *out = api_event_json(row);
    return *out ? 0 : BW_ENOMEM;
}

void api_event_get(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    json_t *o = NULL;
    int64_t id;
    int rc;

    if (!api_params_only(c, allowed) || !api_path_id(c, &id))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if ((rc = store_event_get(c->reader, id, on_one_event, &o)) < 0) {
        api_store_problem(c, rc, "event");
        return;
    }
    api_reply_json(c, 200, o);
}

/* -------------------------------------------------------------- alerts */

static int on_alert_row(const struct store_alert_row *row, void *ctx)
{
    return page_full(ctx) ? 1 : page_push(ctx, api_alert_json(row), row->id);
}

static bool q_status(struct api_call *c, const char **out)
{
    if (!api_q_str(c, "status", 16, out))
        return false;
    if (*out && strcmp(*out, "open") != 0 && strcmp(*out, "acknowledged") != 0 &&
        strcmp(*out, "resolved") != 0) {
        api_problem(c, 400, "'status' must be open, acknowledged or resolved");
        return false;
    }
    return true;
}

void api_alerts_list(struct api_call *c)
{
    static const char *const allowed[] = {"since", "until", "rule", "host", "container",
                                          "min_severity", "status", "page_size", "page_token",
                                          NULL};
    struct store_alert_query q = {0};
    struct page p = {0};
    int rc;

    if (!api_params_only(c, allowed) || !q_time_range(c, &q.since_ns, &q.until_ns) ||
        !api_q_str(c, "rule", API_ID_MAX, &q.rule) ||
        !api_q_str(c, "host", API_ID_MAX, &q.hostname) ||
        !api_q_str(c, "container", API_ID_MAX, &q.container_id) ||
        !q_severity(c, "min_severity", &q.min_priority) || !q_status(c, &q.status) ||
        !q_page_size(c, &p.want) || !api_q_page_token(c, "page_token", 'a', &q.before_id))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if (!(p.items = json_array())) {
        api_problem(c, 500, "out of memory");
        return;
    }
    q.limit = p.want + 1;
    if ((rc = store_query_alerts(c->reader, &q, on_alert_row, &p)) < 0) {
        json_decref(p.items);
        api_store_problem(c, rc, "alert");
        return;
    }
    page_reply(c, &p, 'a');
}

static int on_one_alert(const struct store_alert_row *row, void *ctx)
{
    json_t **out = ctx;
    *out = api_alert_json(row);
    return *out ? 0 : BW_ENOMEM;
}

static int on_evidence(const struct store_row *row, void *ctx)
{
    json_t *arr = ctx, *o;

    if (row->id == 0) {
        /* Linked, but not stored (or gone by retention): say which. */
        o = json_pack("{s:n, s:o, s:I, s:I, s:b}", "id", "agent_id", api_str(row->agent_id),
                      "epoch", (json_int_t)row->epoch, "seq", (json_int_t)row->seq, "missing",
                      1);
    } else {
        o = api_event_json(row);
    }
    return o && json_array_append_new(arr, o) == 0 ? 0 : BW_ENOMEM;
}

void api_alert_get(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    json_t *o = NULL, *ev;
    int64_t id;
    int rc;

    if (!api_params_only(c, allowed) || !api_path_id(c, &id))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if ((rc = store_alert_get(c->reader, id, on_one_alert, &o)) < 0) {
        api_store_problem(c, rc, "alert");
        return;
    }
    ev = json_array();
    if (!ev || (rc = store_alert_evidence(c->reader, id, on_evidence, ev)) < 0) {
        json_decref(ev);
        json_decref(o);
        api_store_problem(c, ev ? rc : BW_ENOMEM, "alert");
        return;
    }
    json_object_set_new(o, "evidence", ev);
    api_reply_json(c, 200, o);
}

/* PATCH {"status": "acknowledged"|"resolved"|"open", "note": "..."} */
void api_alert_patch(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    const char *ctype = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Type");
    json_error_t jerr;
    json_t *in, *st, *note, *o = NULL;
    const char *status, *note_s = NULL;
    int64_t id;
    int rc;

    if (!api_params_only(c, allowed) || !api_path_id(c, &id))
        return;
    if (!ctype || (strncmp(ctype, "application/json", 16) != 0 &&
                   strncmp(ctype, "application/merge-patch+json", 28) != 0)) {
        api_problem(c, 415, "send the change as application/json");
        return;
    }
    in = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        api_problem(c, 400, "the body must be a JSON object: %s", in ? "not an object" : jerr.text);
        return;
    }
    st = json_object_get(in, "status");
    note = json_object_get(in, "note");
    status = json_string_value(st);
    if (json_object_size(in) != (size_t)(st != NULL) + (note != NULL) || !status ||
        (strcmp(status, "open") != 0 && strcmp(status, "acknowledged") != 0 &&
         strcmp(status, "resolved") != 0) ||
        (note && !json_is_string(note) && !json_is_null(note))) {
        json_decref(in);
        api_problem(c, 400, "the body takes \"status\" (open, acknowledged or resolved) and "
                            "an optional \"note\" (text)");
        return;
    }
    note_s = json_string_value(note);
    if (note_s && (json_string_length(note) > API_NOTE_MAX ||
                   strlen(note_s) != json_string_length(note))) {
        json_decref(in);
        api_problem(c, 400, "'note' must be text of at most %u bytes, without NUL", API_NOTE_MAX);
        return;
    }
    rc = store_alert_set_status(c->api->admin, id, status, note_s, c->actor, clock_wall_ns());
    json_decref(in);
    if (rc < 0) {
        api_store_problem(c, rc, "alert");
        return;
    }
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if ((rc = store_alert_get(c->reader, id, on_one_alert, &o)) < 0) {
        api_store_problem(c, rc, "alert");
        return;
    }
    api_reply_json(c, 200, o);
}

/* -------------------------------------------------------------- agents */

struct agents_ctx {
    struct api *api;
    struct page p;
    int64_t now;
};

static json_t *agent_live_json(const struct srvstate_agent *a)
{
    json_t *h = json_object();
    if (!h)
        return NULL;
    json_object_set_new(h, "peer", api_str(a->peer));
    json_object_set_new(h, "connected_since", api_time(a->connected_ns));
    json_object_set_new(h, "last_heartbeat", api_time(a->health.at_ns));
    return h;
}

static json_t *health_json(const struct srvstate_health *h)
{
    json_t *kinds = json_loads(h->by_kind_json, 0, NULL);
    json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:I}", "at",
                          api_time(h->at_ns), "spool_depth", (json_int_t)h->spool_depth,
                          "spool_dropped", (json_int_t)h->spool_dropped, "events_total",
                          (json_int_t)h->events_total, "source_errors",
                          (json_int_t)h->source_errors, "spool_quarantined",
                          (json_int_t)h->spool_quarantined, "events_by_kind",
                          kinds ? kinds : json_object(), "sensor", h->sensor,
                          "sensor_kernel_drops", (json_int_t)h->sensor_kernel_drops);
    if (o && h->cert_not_after_s)
        json_object_set_new(o, "cert_not_after", api_time(h->cert_not_after_s * 1000000000));
    return o;
}

static json_t *agent_json(struct api *a, const struct store_agent_row *row)
{
    struct srvstate_agent live;
    bool up = srvstate_agent_get(a->state, row->agent_id, &live);
    json_t *o = json_object(), *labels = NULL, *health = NULL;

    if (!o)
        return NULL;
    json_object_set_new(o, "agent_id", api_str(row->agent_id));
    json_object_set_new(o, "hostname", api_str(row->hostname));
    json_object_set_new(o, "version", api_str(row->version));
    if (row->labels_json)
        labels = json_loads(row->labels_json, 0, NULL);
    json_object_set_new(o, "labels", json_is_object(labels) ? labels : json_object());
    if (labels && !json_is_object(labels))
        json_decref(labels);
    json_object_set_new(o, "connected", json_boolean(up));
    json_object_set_new(o, "first_seen", api_time(row->first_seen_ns));
    json_object_set_new(o, "last_seen", api_time(up ? clock_wall_ns() : row->last_seen_ns));
    if (up) {
        json_object_set_new(o, "stream", agent_live_json(&live));
        if (live.health.at_ns)
            health = health_json(&live.health);
    }
    if (!health && row->health_json)
        health = json_loads(row->health_json, 0, NULL);
    json_object_set_new(o, "health", health ? health : json_null());
    return o;
}

static int on_agent_row(const struct store_agent_row *row, void *ctx)
{
    struct agents_ctx *ac = ctx;
    return page_full(&ac->p) ? 1 : page_push(&ac->p, agent_json(ac->api, row), 0);
}

void api_agents_list(struct api_call *c)
{
    static const char *const allowed[] = {"page_size", "page_token", NULL};
    struct agents_ctx ac = {.api = c->api};
    const char *after = NULL;
    json_t *o;
    int rc;

    if (!api_params_only(c, allowed) || !q_page_size(c, &ac.p.want) ||
        !api_q_str(c, "page_token", API_ID_MAX, &after))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if (!(ac.p.items = json_array())) {
        api_problem(c, 500, "out of memory");
        return;
    }
    if ((rc = store_agents_list(c->reader, after ? after : "", ac.p.want + 1, on_agent_row,
                                &ac)) < 0) {
        json_decref(ac.p.items);
        api_store_problem(c, rc, "agent");
        return;
    }
    /* Agents page by their id (ordered by it): the token is the last id. */
    o = json_object();
    if (!o) {
        json_decref(ac.p.items);
        api_problem(c, 500, "out of memory");
        return;
    }
    json_t *last = json_array_get(ac.p.items, json_array_size(ac.p.items) - 1);
    json_object_set_new(o, "items", ac.p.items);
    json_object_set(o, "next_page_token",
                    ac.p.more && last ? json_object_get(last, "agent_id") : json_null());
    api_reply_json(c, 200, o);
}

struct one_agent {
    struct api *api;
    const char *id;
    json_t *o;
};

static int on_agent_match(const struct store_agent_row *row, void *ctx)
{
    struct one_agent *oa = ctx;
    if (strcmp(row->agent_id, oa->id) != 0)
        return 1;
    oa->o = agent_json(oa->api, row);
    return oa->o ? 1 : BW_ENOMEM;
}

void api_agent_get(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    struct one_agent oa = {.api = c->api, .id = c->param};
    char before[API_ID_MAX + 1];
    size_t n = strlen(c->param);
    int rc;

    if (!api_params_only(c, allowed))
        return;
    if (n == 0 || n > API_ID_MAX) {
        api_problem(c, 404, "no such agent");
        return;
    }
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    /* The first agent after the id's predecessor in byte order is the id
     * itself, if it exists: "abc" is looked up as the first after "abb\xff". */
    memcpy(before, c->param, n + 1);
    if ((unsigned char)before[n - 1] > 1) {
        before[n - 1]--;
        rc = store_agents_list(c->reader, before, 2, on_agent_match, &oa);
    } else {
        rc = store_agents_list(c->reader, "", STORE_QUERY_MAX_LIMIT, on_agent_match, &oa);
    }
    if (rc < 0 && rc != 1) {
        api_store_problem(c, rc, "agent");
        return;
    }
    if (!oa.o) {
        api_problem(c, 404, "no such agent");
        return;
    }
    api_reply_json(c, 200, oa.o);
}

/* --------------------------------------------------------------- rules */

/* Runs on the loop: a copy of the loaded rules (name, file, line, why
 * disabled) as JSON, so the API thread never reads the ruleset itself. */
static int on_rule(void *ctx, const char *name, const char *file, unsigned line,
                   const char *disabled_reason)
{
    json_t *arr = ctx;
    json_t *o = json_pack("{s:o, s:o, s:i, s:b, s:o}", "name", api_str(name), "file",
                          api_str(file ? file : ""), "line", (int)line, "enabled",
                          disabled_reason == NULL, "disabled_reason",
                          disabled_reason ? api_str(disabled_reason) : json_null());
    return o && json_array_append_new(arr, o) == 0 ? 0 : BW_ENOMEM;
}

static int cmd_rules_list(void *loop_ctx, void *arg)
{
    struct server *srv = loop_ctx;
    rulestage_foreach(srv->rules, on_rule, arg);
    return 0;
}

/* A reload's outcome, shared by the API thread that waits and the loop
 * that answers: whichever lets go last frees it, so a waiter that gave up
 * never leaves the loop writing into freed memory. */
struct reload_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool done;
    int rc;
};

static void reload_wait_put(struct reload_wait *w)
{
    bool last;
    pthread_mutex_lock(&w->mu);
    last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
}

static void on_reloaded(int rc, void *ctx)
{
    struct reload_wait *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    reload_wait_put(w);
}

static int cmd_rules_reload(void *loop_ctx, void *arg)
{
    return server_reload(loop_ctx, "API", on_reloaded, arg);
}

#define API_RELOAD_WAIT_S 60

struct hits_ctx {
    json_t *by_rule;
};

static int on_hits(const struct store_rule_hits *h, void *ctx)
{
    struct hits_ctx *hc = ctx;
    json_t *o = json_pack("{s:I, s:I, s:I, s:o}", "alerts", (json_int_t)h->alerts, "hits",
                          (json_int_t)h->hits, "open_alerts", (json_int_t)h->open,
                          "last_alert", api_time(h->last_ns));
    return o && json_object_set_new(hc->by_rule, h->rule, o) == 0 ? 0 : BW_ENOMEM;
}

void api_rules_list(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    struct hits_ctx hc;
    json_t *arr, *rule;
    size_t i;
    int rc;

    if (!api_params_only(c, allowed))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    arr = json_array();
    hc.by_rule = json_object();
    if (!arr || !hc.by_rule || (rc = cmdq_call(c->api->cmdq, cmd_rules_list, arr)) < 0 ||
        (rc = store_rule_hits(c->reader, on_hits, &hc)) < 0) {
        json_decref(arr);
        json_decref(hc.by_rule);
        api_problem(c, 503, "the rules cannot be listed now (the server is stopping?)");
        return;
    }
    json_array_foreach(arr, i, rule)
    {
        json_t *h = json_object_get(hc.by_rule, json_string_value(json_object_get(rule, "name")));
        static const char *const keys[] = {"alerts", "hits", "open_alerts", "last_alert"};
        for (size_t k = 0; k < 4; k++) {
            json_t *v = h ? json_object_get(h, keys[k]) : NULL;
            json_object_set_new(rule, keys[k],
                                v ? json_incref(v) : k < 3 ? json_integer(0) : json_null());
        }
    }
    json_decref(hc.by_rule);
    api_reply_json(c, 200, json_pack("{s:o}", "items", arr));
}

void api_rules_reload(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    struct reload_wait *w;
    struct timespec until;
    bool done;
    int rc;

    if (!api_params_only(c, allowed))
        return;
    if (!(w = calloc(1, sizeof *w))) {
        api_problem(c, 500, "out of memory");
        return;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->refs = 2;  /* this thread, and the loop's answer */
    rc = cmdq_call(c->api->cmdq, cmd_rules_reload, w);
    if (rc < 0) {
        w->refs = 1;  /* no answer will come */
    } else {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += API_RELOAD_WAIT_S;
        pthread_mutex_lock(&w->mu);
        while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
            ;
        done = w->done;
        rc = done ? w->rc : BW_EAGAIN;
        pthread_mutex_unlock(&w->mu);
    }
    reload_wait_put(w);
    store_audit_add(c->api->admin, c->actor, "rules.reload", "rules",
                    rc == 0 ? "reloaded" : rc == BW_ECONFIG ? "refused; the running rules stay"
                                                             : bw_strerror(rc),
                    clock_wall_ns());
    if (rc == BW_ECLOSED) {
        api_problem(c, 503, "the server is stopping");
        return;
    }
    if (rc == BW_EAGAIN) {
        api_problem(c, 503, "the reload is still compiling after %d s; see the server's log",
                    API_RELOAD_WAIT_S);
        return;
    }
    if (rc < 0) {
        api_problem(c, 409, "the rule or TLS files were refused (the server's log has "
                            "file:line); what was running stays");
        return;
    }
    api_reply_json(c, 200, json_pack("{s:b}", "reloaded", 1));
}

/* --------------------------------------------------------------- audit */

static int on_audit(const struct store_audit_row *row, void *ctx)
{
    if (page_full(ctx))
        return 1;
    return page_push(ctx,
                     json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)row->id,
                               "time", api_time(row->at_ns), "actor", api_str(row->actor),
                               "action", api_str(row->action), "target", api_str(row->target),
                               "detail", *row->detail ? api_str(row->detail) : json_null()),
                     row->id);
}

void api_audit_list(struct api_call *c)
{
    static const char *const allowed[] = {"page_size", "page_token", NULL};
    struct page p = {0};
    int64_t before = 0;
    int rc;

    if (!api_params_only(c, allowed) || !q_page_size(c, &p.want) ||
        !api_q_page_token(c, "page_token", 'u', &before))
        return;
    if (!(p.items = json_array())) {
        api_problem(c, 500, "out of memory");
        return;
    }
    if ((rc = store_audit_list(c->api->admin, before, p.want + 1, on_audit, &p)) < 0) {
        json_decref(p.items);
        api_store_problem(c, rc, "audit record");
        return;
    }
    page_reply(c, &p, 'u');
}

void api_whoami(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    if (!api_params_only(c, allowed))
        return;
    api_reply_json(c, 200, json_pack("{s:o, s:s}", "actor", api_str(c->actor), "role",
                                     api_role_name(c->role)));
}
