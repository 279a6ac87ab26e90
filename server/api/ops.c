/* ops.c - what operators and monitoring read: /healthz (the process
 * answers), /readyz (listening, store open, not draining), /metrics in
 * Prometheus' text format from the published state and the API's own
 * request counters, and the OpenAPI document (compiled in). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/buf.h"
#include "bulwark/clock.h"
#include "bulwark/cmdq.h"
#include "bulwark/srvstate.h"

extern const unsigned char bulwark_openapi_json[];
extern const size_t bulwark_openapi_json_len;

void api_healthz(struct api_call *c)
{
    api_reply_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

/* The start's database check: {"state": "ok", "problems": 0, ...}. */
static json_t *integrity_json(const struct integrity_result *r)
{
    json_t *o = json_pack("{s:s, s:I}", "state", integrity_state_name(r->state), "problems",
                          (json_int_t)r->problems);

    if (o && r->done_ns)
        json_object_set_new(o, "checked", api_time(r->done_ns));
    if (o && r->state == INTEGRITY_CORRUPT)
        json_object_set_new(o, "first_problem", api_str(r->first));
    return o;
}

void api_readyz(struct api_call *c)
{
    struct srvstate_counters k;

    srvstate_counters(c->api->state, &k);
    if (!k.ready) {
        api_problem(c, 503, k.draining ? "draining: the server is stopping"
                                       : "not ready: the server is starting");
        return;
    }
    /* A damaged database is reported, not a reason to stop taking events:
     * new events go to new pages (docs/storage.md). */
    api_reply_json(c, 200, json_pack("{s:s, s:i, s:o}", "status", "ready", "connected_agents",
                                     (int)k.connected, "integrity", integrity_json(&k.integrity)));
}

void api_openapi(struct api_call *c)
{
    char *copy = malloc(bulwark_openapi_json_len);

    if (!copy) {
        api_problem(c, 500, "out of memory");
        return;
    }
    memcpy(copy, bulwark_openapi_json, bulwark_openapi_json_len);
    c->status = 200;
    c->resp = MHD_create_response_from_buffer(bulwark_openapi_json_len, copy,
                                              MHD_RESPMEM_MUST_FREE);
    if (!c->resp) {
        free(copy);
        return;
    }
    MHD_add_response_header(c->resp, "Content-Type", "application/json");
    api_headers(c->api, c->resp, true);
}

/* One metric family: HELP, TYPE and a value without labels. */
static void family(struct buf *b, const char *name, const char *type, const char *help,
                   double v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

/* Runs on the loop: the counters as of now, not as of the last tick. */
static int cmd_publish(void *loop_ctx, void *arg)
{
    (void)arg;
    server_publish(loop_ctx);
    return 0;
}

void api_metrics(struct api_call *c)
{
    struct api *a = c->api;
    struct srvstate_counters k;
    struct buf b;
    uint64_t cum = 0;
    char *text;

    cmdq_call(a->cmdq, cmd_publish, NULL);  /* stopping: the last published copy serves */
    srvstate_counters(a->state, &k);
    buf_init(&b, 1u << 20);
    family(&b, "bulwark_up", "gauge", "1 while bulwarkd is ready to take streams.",
           k.ready ? 1 : 0);
    family(&b, "bulwark_start_time_seconds", "gauge", "When bulwarkd started, Unix time.",
           (double)k.started_ns / 1e9);
    family(&b, "bulwark_connected_agents", "gauge", "Agent streams open now.", k.connected);
    family(&b, "bulwark_store_integrity_ok", "gauge",
           "1 when the database passed its check at start, 0 when it failed or could not run, "
           "-1 while it runs or when it is off.",
           k.integrity.state == INTEGRITY_OK                                         ? 1
           : k.integrity.state == INTEGRITY_CHECKING || k.integrity.state == INTEGRITY_SKIPPED ? -1
                                                                                     : 0);
    family(&b, "bulwark_store_integrity_problems", "gauge",
           "Problems the database check at start found (at most 100 are counted).",
           (double)k.integrity.problems);
    family(&b, "bulwark_connections_accepted_total", "counter", "TCP connections accepted.",
           (double)k.accepted);
    buf_printf(&b, "# HELP bulwark_connections_refused_total Streams refused, by reason.\n"
                   "# TYPE bulwark_connections_refused_total counter\n"
                   "bulwark_connections_refused_total{reason=\"limit\"} %llu\n"
                   "bulwark_connections_refused_total{reason=\"tls\"} %llu\n"
                   "bulwark_connections_refused_total{reason=\"auth\"} %llu\n"
                   "bulwark_connections_refused_total{reason=\"protocol\"} %llu\n",
               (unsigned long long)k.refused_limit, (unsigned long long)k.handshake_failed,
               (unsigned long long)k.auth_refused, (unsigned long long)k.protocol_errors);
    buf_printf(&b, "# HELP bulwark_certificates_total Agent certificates, by outcome.\n"
                   "# TYPE bulwark_certificates_total counter\n"
                   "bulwark_certificates_total{outcome=\"enrolled\"} %llu\n"
                   "bulwark_certificates_total{outcome=\"renewed\"} %llu\n"
                   "bulwark_certificates_total{outcome=\"refused\"} %llu\n",
               (unsigned long long)k.enrolled, (unsigned long long)k.renewed,
               (unsigned long long)k.enroll_refused);
    family(&b, "bulwark_batches_received_total", "counter", "Event batches received.",
           (double)k.batches);
    family(&b, "bulwark_events_received_total", "counter", "Events received from agents.",
           (double)k.events_received);
    family(&b, "bulwark_events_stored_total", "counter", "Events committed to the store.",
           (double)k.events_stored);
    family(&b, "bulwark_events_duplicate_total", "counter",
           "Resent events recognised and skipped (exactly-once).", (double)k.events_duplicate);
    family(&b, "bulwark_agent_events_dropped", "gauge",
           "Events connected agents report dropped (spool full), summed.",
           (double)k.agent_spool_dropped);
    family(&b, "bulwark_agent_events_quarantined", "gauge",
           "Events connected agents report quarantined (refused or corrupt), summed.",
           (double)k.agent_spool_quarantined);
    family(&b, "bulwark_agent_spool_depth", "gauge",
           "Events waiting in connected agents' spools, summed.", (double)k.agent_spool_depth);
    family(&b, "bulwark_writer_queue_events", "gauge", "Events queued for the store.",
           (double)k.queued_events);
    family(&b, "bulwark_writer_queue_capacity_events", "gauge",
           "The queue's cap (back-pressure past it).", (double)k.queue_capacity);
    family(&b, "bulwark_commit_failures_total", "counter",
           "Store transactions that failed (their batches were not acked).",
           (double)k.commit_failures);
    family(&b, "bulwark_alerts_raised_total", "counter", "New alerts stored.",
           (double)k.alerts_raised);
    family(&b, "bulwark_alerts_merged_total", "counter",
           "Repeats merged into an open alert (suppression).", (double)k.alerts_merged);
    buf_printf(&b, "# HELP bulwark_commit_duration_seconds Store transaction time, begin to "
                   "durable commit.\n# TYPE bulwark_commit_duration_seconds histogram\n");
    for (int i = 0; i < SRVSTATE_LAT_BUCKETS; i++) {
        cum += k.commit_lat_buckets[i];
        buf_printf(&b, "bulwark_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                   (double)srvstate_lat_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    buf_printf(&b,
               "bulwark_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
               "bulwark_commit_duration_seconds_sum %.6f\n"
               "bulwark_commit_duration_seconds_count %llu\n",
               (unsigned long long)k.commit_lat_count, (double)k.commit_lat_sum_us / 1e6,
               (unsigned long long)k.commit_lat_count);
    buf_printf(&b, "# HELP bulwark_api_requests_total API requests answered, by route and "
                   "status code.\n# TYPE bulwark_api_requests_total counter\n");
    for (size_t r = 0; r < a->nroutes; r++) {
        for (size_t i = 0; i < API_CODES; i++) {
            uint64_t n = atomic_load_explicit(&a->req[r][i], memory_order_relaxed);
            char code[8];
            if (!n)
                continue;
            if (i < API_CODES - 1)
                snprintf(code, sizeof code, "%u", api_codes[i]);
            else
                snprintf(code, sizeof code, "other");
            buf_printf(&b,
                       "bulwark_api_requests_total{method=\"%s\",route=\"%s\",code=\"%s\"} "
                       "%llu\n",
                       api_route_method(r), api_route_name(r), code, (unsigned long long)n);
        }
    }
    if (!(text = malloc(buf_size(&b) + 1))) {
        buf_release(&b);
        api_problem(c, 500, "out of memory");
        return;
    }
    memcpy(text, buf_head(&b), buf_size(&b));
    c->status = 200;
    c->resp = MHD_create_response_from_buffer(buf_size(&b), text, MHD_RESPMEM_MUST_FREE);
    buf_release(&b);
    if (!c->resp) {
        free(text);
        return;
    }
    MHD_add_response_header(c->resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    api_headers(a, c->resp, true);
}
