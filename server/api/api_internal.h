/* api_internal.h - what the REST API's files share (not a public header):
 * struct api, one call's context, the route handlers, and the helpers every
 * handler uses to read parameters and answer (JSON, RFC 9457 problems).
 *
 *   api.c         the daemon, routing, auth, rate limits, headers, metrics,
 *                 the reader pool, static files (the dashboard)
 *   token.c       token format, hashing, verification, `bulwarkd token`
 *   views.c       events, alerts, agents as JSON (one rendering each)
 *   routes.c      events, alerts, agents, rules, audit, whoami
 *   routes_fleet.c  stats, network, containers, hosts (from the rollups)
 *   ops.c         /healthz, /readyz, /metrics, openapi.json
 *   export.c      NDJSON export streamed in constant memory
 *   encode_ecs.c  events and alerts as Elastic Common Schema 8.11 documents
 *   encode_ocsf.c events and alerts as OCSF 1.1.0 event classes
 *   encode_cef.c  alerts and events as ArcSight CEF lines (the syslog forwarder)
 *   forward.c     push to SIEMs: syslog over TLS, Splunk HEC, signed webhook */
#ifndef BULWARK_API_INTERNAL_H
#define BULWARK_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/api.h"
#include "bulwark/ratelimit.h"
#include "bulwark/buf.h"
#include "bulwark/server.h"
#include "bulwark/store.h"

#define API_PAGE_DEFAULT 100u
#define API_PAGE_MAX 500u
#define API_PARAM_MAX 1024u     /* bytes of one query value */
/* Memory per API connection (request line, headers, buffers): a request
 * whose head passes it is refused by libmicrohttpd itself (414/431). */
#define API_CONN_MEMORY (256u * 1024)


/* The status codes counted per route in /metrics; anything else is "other". */
#define API_CODES 16
extern const unsigned api_codes[API_CODES - 1];

struct api_route;

struct api {
    struct MHD_Daemon *d;
    const struct server_config *cfg;
    struct srvstate *state;
    struct cmdq *cmdq;
    char *db;
    char *web_root;              /* realpath of cfg->web_root; NULL = no dashboard */
    bool tls;
    char *tls_cert_pem, *tls_key_pem;
    uint16_t port;
    /* readers: one per call at a time, kept for reuse */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct store_reader **pool;  /* idle readers */
    size_t npool, nopen, maxopen;
    unsigned exports;            /* export streams open now (pool_mu) */
    struct store_admin *admin;
    struct ratelimit rl;         /* tokens and failing peers */
    /* metrics */
    _Atomic uint64_t (*req)[API_CODES];  /* [route][code index] */
    size_t nroutes;
};

/* One request, from its first callback to the response. */
struct api_call {
    struct api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *param;          /* the {id} of a route that has one */
    enum api_role role;
    char actor[200];            /* "token NAME (ID)", for the audit trail */
    const char *body;           /* PATCH/POST body, NUL-terminated; "" when none */
    size_t body_len;
    struct store_reader *reader;  /* borrowed for the call (api_reader) */
    unsigned status;
    struct MHD_Response *resp;
};

typedef void (*api_handler)(struct api_call *c);

/* ------------------------------------------------------------ answers */

/* Sets a JSON answer (takes the reference to body). */
void api_reply_json(struct api_call *c, unsigned status, json_t *body);
/* The same with the JSON text already written in body, whose memory the
 * answer takes (body is left empty). */
void api_reply_text(struct api_call *c, unsigned status, struct buf *body);
/* Sets an RFC 9457 problem document: application/problem+json with type,
 * title (the status phrase), status, detail (printf) and instance. */
void api_problem(struct api_call *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A store error as a problem: not found -> 404, else 503 (logged once). */
void api_store_problem(struct api_call *c, int rc, const char *what);
/* Adds the security headers every answer carries. */
void api_headers(struct api *a, struct MHD_Response *r, bool api_answer);

/* --------------------------------------------------------- parameters */

/* Refuses (400) any query parameter not in the NULL-terminated list;
 * false when refused. */
bool api_params_only(struct api_call *c, const char *const *allowed);
/* A query parameter: *out NULL when absent; false (400 set) when it is
 * longer than max bytes, holds a NUL, invalid UTF-8 or control bytes. */
bool api_q_str(struct api_call *c, const char *name, size_t max, const char **out);
/* RFC 3339 time; *out untouched when absent. */
bool api_q_time(struct api_call *c, const char *name, int64_t *out);
/* Decimal integer in [lo, hi]; *out untouched when absent. */
bool api_q_int(struct api_call *c, const char *name, int64_t lo, int64_t hi, int64_t *out);
/* A positive row id from the path; false (404) when it is not one. */
bool api_path_id(struct api_call *c, int64_t *out);
bool api_q_page_token(struct api_call *c, const char *name, char kind, int64_t *out);

/* The grammar behind those, pure (params.c; fuzzed by tests/fuzz/fuzz_apiparams.c). */
/* Whether n bytes of s are UTF-8 text without control bytes (or NUL). */
bool api_text_ok(const char *s, size_t n);
/* Decimal digits only (no sign, no space) in [lo, hi]: 0, or BW_EINVAL. */
int api_parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out);
/* An RFC 3339 time, or a duration ago from now_ns ("24h"): 0, or BW_EINVAL
 * with *out untouched. */
int api_parse_time(const char *v, int64_t now_ns, int64_t *out);
/* Page tokens: an opaque base64url text of a kind letter and a row id, at
 * most API_PAGE_TOKEN_MAX bytes. Parsing gives the positive id of a token of
 * that kind: 0, or BW_EINVAL with *out untouched. */
#define API_PAGE_TOKEN_MAX 40u
void api_page_token(char kind, int64_t id, char *out, size_t n);
int api_parse_page_token(const char *v, char kind, int64_t *out);

/* A JSON string of s even when s is not valid UTF-8 (bytes replaced). */
json_t *api_str(const char *s);
/* An RFC 3339 string of ns (null for 0). */
json_t *api_time(int64_t ns);

/* ------------------------------------------------------------- readers */

/* Takes an idle reader (opening one if the pool allows); NULL (and 503
 * set) when none frees within a second. */
struct store_reader *api_reader(struct api_call *c);
void api_reader_put(struct api *a, struct store_reader *r);

/* --------------------------------------------------------------- views */

json_t *api_event_json(const struct store_row *row);
/* The same event as one NDJSON line (the bytes json_dumps would make of
 * api_event_json's object, and a newline) appended to out, without building
 * the tree: the export's per-row cost. The body is decoded into scratch,
 * which is reset before returning (no malloc per event). 0, or a negative
 * bw_err with out as before. */
struct arena;
int api_event_ndjson(const struct store_row *row, struct buf *out, struct arena *scratch);
json_t *api_alert_json(const struct store_alert_row *row);
/* The stored body decoded (free with bulwark__v1__event__free_unpacked);
 * NULL when there is none or it does not decode. */
Bulwark__V1__Event *api_event_decode(const struct store_row *row);
/* Sets v (a new reference, taken) at a dotted path ("process.parent.pid"),
 * making the objects on the way; v NULL is ignored. */
void api_jset(json_t *root, const char *path, json_t *v);
/* Appends o as compact ASCII JSON to out (takes the reference; NULL o is
 * BW_ENOMEM). */
int api_json_append(struct buf *out, json_t *o);
/* api_jset of a string, only when s is not empty. */
void api_jset_str(json_t *root, const char *path, const char *s);
/* JSON text without a tree, the bytes json_dumps makes of api_str(s),
 * api_time(ns) and an integer (after prefix): appended to out while *rc is
 * 0, which the first failure sets. */
void api_text_str(struct buf *out, const char *s, int *rc);
void api_text_time(struct buf *out, int64_t ns, int *rc);
void api_text_int(struct buf *out, const char *prefix, long long v, int *rc);

/* ------------------------------------------------------------ encoders */

#define ECS_VERSION "8.11.0"
#define OCSF_VERSION "1.1.0"

/* One export format: a record as JSON (NULL when out of memory). */
json_t *enc_ecs_event(const struct store_row *row);
json_t *enc_ecs_alert(const struct store_alert_row *row);
json_t *enc_ocsf_event(const struct store_row *row);
json_t *enc_ocsf_alert(const struct store_alert_row *row);
/* A CEF:0 line (no newline) into out; 0 or a negative bw_err. */
int enc_cef_event(const struct store_row *row, struct buf *out);
int enc_cef_alert(const struct store_alert_row *row, struct buf *out);
/* CEF escaping of one header field (| and \, newlines as spaces) or one
 * extension value (= and \, newlines as \n), appended to out. */
int enc_cef_header(struct buf *out, const char *s);
int enc_cef_value(struct buf *out, const char *s);
/* Bulwark severity (0..8) -> CEF 0..10, OCSF severity_id. */
int enc_cef_severity(int32_t sev);
int enc_ocsf_severity(int32_t sev);

/* -------------------------------------------------------------- tokens */

#define API_TOKEN_PREFIX "bwk_"
/* Checks "Bearer <token>" against the store in constant time per token;
 * sets c->role and c->actor. BW_EAUTH when it is not a live token. */
int api_token_check(struct api_call *c, const char *authorization);

/* -------------------------------------------------------------- routes */

/* The event filters the list and the export share (since, until, agent,
 * host, container, kind, min_severity); false with 400 set. */
bool api_event_filters(struct api_call *c, struct store_query *q);

void api_events_list(struct api_call *c);
void api_event_get(struct api_call *c);
void api_alerts_list(struct api_call *c);
void api_alert_get(struct api_call *c);
void api_alert_patch(struct api_call *c);
void api_agents_list(struct api_call *c);
void api_agent_get(struct api_call *c);
void api_rules_list(struct api_call *c);
void api_rules_reload(struct api_call *c);
void api_audit_list(struct api_call *c);
void api_whoami(struct api_call *c);
void api_healthz(struct api_call *c);
void api_readyz(struct api_call *c);
void api_metrics(struct api_call *c);
void api_openapi(struct api_call *c);
void api_export_events(struct api_call *c);
void api_export_alerts(struct api_call *c);
void api_stats(struct api_call *c);
void api_network(struct api_call *c);
void api_containers_list(struct api_call *c);
void api_container_get(struct api_call *c);
void api_hosts_list(struct api_call *c);

/* The route names for /metrics, in table order. */
size_t api_route_count(void);
const char *api_route_name(size_t i);
const char *api_route_method(size_t i);

#endif
