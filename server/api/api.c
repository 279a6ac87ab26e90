/* api.c - the REST API's daemon (include/bulwark/api.h): libmicrohttpd with
 * an internal thread pool on epoll, hardened limits, routing, bearer-token
 * authentication, per-token rate limits, the security headers, request
 * counters for /metrics, the pool of read-only store connections, and the
 * dashboard's static files.
 *
 * A request passes, in order: route lookup (404/405), the body cap (413),
 * authentication (401; failures also count against the peer's address,
 * 429 past api_auth_failures_per_min a minute), the role (403), the token's rate
 * limit (429 with Retry-After), then its handler. Only /healthz, /readyz,
 * the OpenAPI document and the dashboard's files need no token. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"
#include "bulwark/secretfile.h"
#include "bulwark/clock.h"
#include "bulwark/duration.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/hash.h"
#include "bulwark/log.h"
#include "bulwark/net.h"

#define API_READER_WAIT_NS (1000LL * 1000000LL)

const unsigned api_codes[API_CODES - 1] = {200, 201, 204, 304, 400, 401, 403, 404,
                                           405, 409, 413, 429, 500, 503, 415};

struct api_route {
    const char *method;
    const char *path;      /* exact, or a prefix followed by one {id} segment */
    bool has_param;
    enum api_role role;    /* ROLE_NONE: public */
    api_handler fn;
    const char *name;      /* the route label in /metrics */
};

static const struct api_route routes[] = {
    {"GET", "/healthz", false, ROLE_NONE, api_healthz, "/healthz"},
    {"GET", "/readyz", false, ROLE_NONE, api_readyz, "/readyz"},
    {"GET", "/metrics", false, ROLE_VIEWER, api_metrics, "/metrics"},
    {"GET", "/api/v1/openapi.json", false, ROLE_NONE, api_openapi, "/api/v1/openapi.json"},
    {"GET", "/api/v1/whoami", false, ROLE_VIEWER, api_whoami, "/api/v1/whoami"},
    {"GET", "/api/v1/events", false, ROLE_VIEWER, api_events_list, "/api/v1/events"},
    {"GET", "/api/v1/events/", true, ROLE_VIEWER, api_event_get, "/api/v1/events/{id}"},
    {"GET", "/api/v1/alerts", false, ROLE_VIEWER, api_alerts_list, "/api/v1/alerts"},
    {"GET", "/api/v1/alerts/", true, ROLE_VIEWER, api_alert_get, "/api/v1/alerts/{id}"},
    {"PATCH", "/api/v1/alerts/", true, ROLE_ANALYST, api_alert_patch, "/api/v1/alerts/{id}"},
    {"GET", "/api/v1/agents", false, ROLE_VIEWER, api_agents_list, "/api/v1/agents"},
    {"GET", "/api/v1/agents/", true, ROLE_VIEWER, api_agent_get, "/api/v1/agents/{id}"},
    {"GET", "/api/v1/rules", false, ROLE_VIEWER, api_rules_list, "/api/v1/rules"},
    {"POST", "/api/v1/rules/reload", false, ROLE_ADMIN, api_rules_reload,
     "/api/v1/rules/reload"},
    {"GET", "/api/v1/audit", false, ROLE_ADMIN, api_audit_list, "/api/v1/audit"},
    {"GET", "/api/v1/export/events", false, ROLE_VIEWER, api_export_events,
     "/api/v1/export/events"},
    {"GET", "/api/v1/export/alerts", false, ROLE_VIEWER, api_export_alerts,
     "/api/v1/export/alerts"},
    {"GET", "/api/v1/stats", false, ROLE_VIEWER, api_stats, "/api/v1/stats"},
    {"GET", "/api/v1/network", false, ROLE_VIEWER, api_network, "/api/v1/network"},
    {"GET", "/api/v1/containers", false, ROLE_VIEWER, api_containers_list,
     "/api/v1/containers"},
    {"GET", "/api/v1/containers/", true, ROLE_VIEWER, api_container_get,
     "/api/v1/containers/{id}"},
    {"GET", "/api/v1/hosts", false, ROLE_VIEWER, api_hosts_list, "/api/v1/hosts"},
};
#define NROUTES (sizeof routes / sizeof routes[0])

size_t api_route_count(void)
{
    return NROUTES + 1;  /* + the dashboard's files */
}

const char *api_route_name(size_t i)
{
    return i < NROUTES ? routes[i].name : "/ (dashboard)";
}

const char *api_route_method(size_t i)
{
    return i < NROUTES ? routes[i].method : "GET";
}

const char *api_role_name(enum api_role r)
{
    static const char *const names[] = {"none", "viewer", "analyst", "admin"};
    return r <= ROLE_ADMIN ? names[r] : "none";
}

enum api_role api_role_from_name(const char *s)
{
    for (enum api_role r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
        if (s && strcmp(s, api_role_name(r)) == 0)
            return r;
    return ROLE_NONE;
}

/* ------------------------------------------------------------ answers */

void api_headers(struct api *a, struct MHD_Response *r, bool api_answer)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    if (a->tls)
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    if (api_answer)
        MHD_add_response_header(r, "Cache-Control", "no-store");
    if (*a->cfg->api_cors_origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", a->cfg->api_cors_origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

static void api_set(struct api_call *c, unsigned status, char *text, size_t len,
                    const char *type)
{
    if (c->resp)
        MHD_destroy_response(c->resp);
    c->status = status;
    c->resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!c->resp) {
        free(text);
        return;
    }
    MHD_add_response_header(c->resp, "Content-Type", type);
    api_headers(c->api, c->resp, true);
}

void api_reply_json(struct api_call *c, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

    json_decref(body);
    if (!text) {
        api_problem(c, 500, "out of memory rendering the answer");
        return;
    }
    api_set(c, status, text, strlen(text), "application/json");
}

void api_reply_text(struct api_call *c, unsigned status, struct buf *body)
{
    size_t n = buf_size(body);
    char *text = (char *)body->data;

    if (body->off) {
        memmove(text, text + body->off, n);
    } else if (!text) {
        api_problem(c, 500, "out of memory rendering the answer");
        return;
    }
    *body = (struct buf){.max = body->max};
    api_set(c, status, text, n, "application/json");
}

static const char *status_phrase(unsigned status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

void api_problem(struct api_call *c, unsigned status, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    json_t *o;
    char *text;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    o = json_pack("{s:s, s:s, s:i, s:o, s:o}", "type", "about:blank", "title",
                  status_phrase(status), "status", (int)status, "detail", api_str(detail),
                  "instance", api_str(c->path ? c->path : ""));
    text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!text) {
        /* Nothing can be rendered: a fixed body, still a problem document. */
        static const char oom[] = "{\"type\":\"about:blank\",\"title\":\"Internal Server "
                                  "Error\",\"status\":500}";
        text = strdup(oom);
        status = 500;
        if (!text)
            return;
    }
    api_set(c, status, text, strlen(text), "application/problem+json");
}

void api_store_problem(struct api_call *c, int rc, const char *what)
{
    if (rc == BW_ENOTFOUND) {
        api_problem(c, 404, "no such %s", what);
        return;
    }
    log_msg(LOG_WARN, "api", "%s %s: store: %s", c->method, c->path, bw_strerror(rc));
    api_problem(c, 503, "the store could not answer (%s); try again", bw_strerror(rc));
}

/* --------------------------------------------------------- parameters */

json_t *api_str(const char *s)
{
    json_t *j;
    size_t n;
    char *copy;

    if (!s)
        return json_null();
    n = strlen(s);
    if ((j = json_stringn(s, n)))
        return j;
    /* Not UTF-8 (stored data is the agents', an attacker's on a bad day):
     * every byte of 0x80 and above becomes U+FFFD, never dropped silently. */
    if (!(copy = malloc(n * 3 + 1)))
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            copy[k++] = (char)b;
        } else {
            memcpy(copy + k, "\xef\xbf\xbd", 3);
            k += 3;
        }
    }
    j = json_stringn(copy, k);
    free(copy);
    return j;
}

json_t *api_time(int64_t ns)
{
    char t[EVJSON_TIME_MAX];
    if (ns == 0 || evjson_format_time(ns, t, sizeof t) < 0)
        return json_null();
    return json_string(t);
}

struct param_check {
    struct api_call *c;
    const char *const *allowed;
    const char *bad;
};

static enum MHD_Result on_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct param_check *pc = cls;
    (void)kind;
    (void)value;
    for (const char *const *a = pc->allowed; *a; a++)
        if (strcmp(*a, key) == 0)
            return MHD_YES;
    pc->bad = key;
    return MHD_NO;
}

bool api_params_only(struct api_call *c, const char *const *allowed)
{
    struct param_check pc = {c, allowed, NULL};

    MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, on_param, &pc);
    if (pc.bad) {
        char name[64];
        snprintf(name, sizeof name, "%s", pc.bad);
        api_problem(c, 400, "unknown query parameter '%s'",
                    api_text_ok(name, strlen(name)) ? name : "?");
        return false;
    }
    return true;
}

bool api_q_str(struct api_call *c, const char *name, size_t max, const char **out)
{
    const char *v = NULL;
    size_t n = 0;

    *out = NULL;
    if (MHD_lookup_connection_value_n(c->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &n) != MHD_YES || !v)
        return true;
    if (n > max) {
        api_problem(c, 400, "'%s' is longer than %zu bytes", name, max);
        return false;
    }
    if (!api_text_ok(v, n)) {
        api_problem(c, 400, "'%s' must be UTF-8 text without control characters", name);
        return false;
    }
    *out = v;
    return true;
}

bool api_q_time(struct api_call *c, const char *name, int64_t *out)
{
    const char *v;

    if (!api_q_str(c, name, 64, &v))
        return false;
    if (!v || api_parse_time(v, clock_wall_ns(), out) == 0)
        return true;
    api_problem(c, 400, "'%s' must be an RFC 3339 time such as 2024-05-01T12:00:00Z, or how "
                        "long ago, such as 24h or 7d", name);
    return false;
}

bool api_q_int(struct api_call *c, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v;

    if (!api_q_str(c, name, 24, &v))
        return false;
    if (!v || api_parse_int(v, lo, hi, out) == 0)
        return true;
    api_problem(c, 400, "'%s' must be an integer from %lld to %lld", name, (long long)lo,
                (long long)hi);
    return false;
}

bool api_path_id(struct api_call *c, int64_t *out)
{
    if (api_parse_int(c->param, 1, INT64_MAX, out) == 0)
        return true;
    api_problem(c, 404, "'%s' is not an id", api_text_ok(c->param, strlen(c->param))
                                                 ? c->param : "?");
    return false;
}

bool api_q_page_token(struct api_call *c, const char *name, char kind, int64_t *out)
{
    const char *v;

    if (!api_q_str(c, name, API_PAGE_TOKEN_MAX, &v))
        return false;
    if (!v || api_parse_page_token(v, kind, out) == 0)
        return true;
    api_problem(c, 400, "'%s' is not a token this server issued for this list", name);
    return false;
}

/* ------------------------------------------------------------- readers */

struct store_reader *api_reader(struct api_call *c)
{
    struct api *a = c->api;
    struct store_reader *r = NULL;
    char err[256];
    int64_t deadline = clock_mono_ns() + API_READER_WAIT_NS;

    pthread_mutex_lock(&a->pool_mu);
    while (a->npool == 0 && a->nopen >= a->maxopen && clock_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&a->pool_cv, &a->pool_mu, &ts);
    }
    if (a->npool > 0) {
        r = a->pool[--a->npool];
    } else if (a->nopen < a->maxopen) {
        a->nopen++;
        pthread_mutex_unlock(&a->pool_mu);
        if (store_reader_open(&r, a->db, err, sizeof err) < 0) {
            log_msg(LOG_WARN, "api", "store reader: %s", err);
            r = NULL;
        }
        pthread_mutex_lock(&a->pool_mu);
        if (!r)
            a->nopen--;
    }
    pthread_mutex_unlock(&a->pool_mu);
    if (!r) {
        api_problem(c, 503, "the store is busy; try again");
        if (c->resp)
            MHD_add_response_header(c->resp, "Retry-After", "1");
    }
    return r;
}

void api_reader_put(struct api *a, struct store_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&a->pool_mu);
    a->pool[a->npool++] = r;  /* pool has room for every reader opened */
    pthread_cond_signal(&a->pool_cv);
    pthread_mutex_unlock(&a->pool_mu);
}

/* --------------------------------------------------------- rate limits */

static void peer_key(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN + 8] = "?";

    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
                      sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      addr, sizeof addr);
    }
    snprintf(out, n, "peer:%s", addr);
}

/* ------------------------------------------------------ static files */

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
        {".json", "application/json"}, {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static void api_static(struct api_call *c)
{
    struct api *a = c->api;
    char want[PATH_MAX], real[PATH_MAX];
    const char *p = c->path;
    struct stat st;
    int fd;

    if (!a->web_root) {
        api_problem(c, 404, "no dashboard is installed (see --web-root)");
        return;
    }
    if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "HEAD") != 0) {
        api_problem(c, 405, "the dashboard's files are read with GET");
        return;
    }
    if (strcmp(p, "/") == 0)
        p = "/index.html";
    if (strstr(p, "..") || strchr(p, '\\') || !api_text_ok(p, strlen(p)) ||
        snprintf(want, sizeof want, "%s%s", a->web_root, p) >= (int)sizeof want ||
        !realpath(want, real) || strncmp(real, a->web_root, strlen(a->web_root)) != 0 ||
        real[strlen(a->web_root)] != '/' || stat(real, &st) != 0 || !S_ISREG(st.st_mode) ||
        (fd = open(real, O_RDONLY | O_CLOEXEC)) < 0) {
        api_problem(c, 404, "no such file");
        return;
    }
    c->status = 200;
    c->resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!c->resp) {
        close(fd);
        api_problem(c, 500, "out of memory");
        return;
    }
    MHD_add_response_header(c->resp, "Content-Type", content_type(real));
    api_headers(a, c->resp, false);
    MHD_add_response_header(c->resp, "Cache-Control", "no-cache");
}

/* ------------------------------------------------------------ requests */

struct req {
    char *body;
    size_t len;
    bool too_big;
    bool answered;  /* a response was queued on the first call */
};

static void api_count(struct api *a, size_t route, unsigned status)
{
    size_t k = API_CODES - 1;
    for (size_t i = 0; i < API_CODES - 1; i++)
        if (api_codes[i] == status)
            k = i;
    atomic_fetch_add_explicit(&a->req[route][k], 1, memory_order_relaxed);
}

/* The route for (method, path): *route its index, or NROUTES for the
 * dashboard; NULL with *allowed set when only the method is wrong. */
static const struct api_route *api_route_find(const char *method, const char *path,
                                              const char **param, size_t *idx, char *allowed,
                                              size_t alen)
{
    const struct api_route *hit = NULL;
    size_t n = 0;

    *allowed = '\0';
    *param = NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        const struct api_route *r = &routes[i];
        size_t plen = strlen(r->path);
        const char *rest;
        if (r->has_param) {
            if (strncmp(path, r->path, plen) != 0 || !path[plen] || strchr(path + plen, '/'))
                continue;
            rest = path + plen;
        } else {
            if (strcmp(path, r->path) != 0)
                continue;
            rest = NULL;
        }
        if (strcmp(method, r->method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            hit = r;
            *param = rest;
            *idx = i;
            return hit;
        }
        n += (size_t)snprintf(allowed + n, n < alen ? alen - n : 0, "%s%s", n ? ", " : "",
                              r->method);
    }
    return NULL;
}

static void api_dispatch(struct api *a, struct api_call *c, size_t *route_idx)
{
    const struct api_route *r;
    char allowed[64], key[240];
    const char *auth;
    unsigned retry = 1;

    *route_idx = NROUTES;
    r = api_route_find(c->method, c->path, &c->param, route_idx, allowed, sizeof allowed);
    if (!r) {
        if (*allowed) {
            api_problem(c, 405, "%s is not allowed here", c->method);
            if (c->resp)
                MHD_add_response_header(c->resp, "Allow", allowed);
        } else if (strncmp(c->path, "/api/", 5) == 0) {
            api_problem(c, 404, "no such API route");
        } else {
            api_static(c);
        }
        return;
    }
    if (r->role != ROLE_NONE) {
        double fails = a->cfg->api_auth_failures_per_min;
        peer_key(c->conn, key, sizeof key);
        /* A peer that failed too often waits before its next token is even
         * checked, so guessing gains nothing from being fast. */
        if (!ratelimit_take(&a->rl, key, fails, fails, false, &retry))
            goto limited;
        auth = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Authorization");
        int trc = auth ? api_token_check(c, auth) : BW_EAUTH;
        if (trc == BW_EAGAIN)
            return;  /* no reader to check it with: 503 is set */
        if (trc < 0) {
            ratelimit_take(&a->rl, key, fails, fails, true, &retry);
            api_problem(c, 401, auth ? "the token is not valid, or was revoked"
                                     : "this route needs 'Authorization: Bearer <token>'");
            if (c->resp)
                MHD_add_response_header(c->resp, "WWW-Authenticate", "Bearer realm=\"bulwark\"");
            return;
        }
        if (c->role < r->role) {
            api_problem(c, 403, "this needs the %s role; the token has %s",
                        api_role_name(r->role), api_role_name(c->role));
            return;
        }
        snprintf(key, sizeof key, "tok:%s", c->actor);
        if (!ratelimit_take(&a->rl, key, a->cfg->api_rate_per_min,
                         a->cfg->api_rate_per_min / 4.0 + 10, true, &retry))
            goto limited;
    }
    r->fn(c);
    return;
limited:
    api_problem(c, 429, "too many requests; retry in %u s", retry);
    if (c->resp) {
        char s[16];
        snprintf(s, sizeof s, "%u", retry);
        MHD_add_response_header(c->resp, "Retry-After", s);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    struct api *a = cls;
    struct req *q = *con_cls;
    struct api_call c = {.api = a, .conn = conn, .method = method, .path = url};
    size_t route = NROUTES;
    enum MHD_Result ok;

    (void)version;
    if (!q) {
        const char *cl;
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > a->cfg->api_body_max)
            q->too_big = true;
        else
            return MHD_YES;
    } else if (*upload_size) {
        if (!q->too_big && q->len + *upload_size <= a->cfg->api_body_max) {
            char *b = realloc(q->body, q->len + *upload_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + q->len, upload, *upload_size);
            q->body = b;
            q->len += *upload_size;
            q->body[q->len] = '\0';
        } else {
            q->too_big = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->answered)
        return MHD_YES;
    q->answered = true;
    c.body = q->body ? q->body : "";
    c.body_len = q->len;
    if (q->too_big) {
        api_problem(&c, 413, "the request body is larger than %u bytes", a->cfg->api_body_max);
    } else {
        api_dispatch(a, &c, &route);
    }
    if (c.reader)
        api_reader_put(a, c.reader);
    if (!c.resp) {
        api_problem(&c, 500, "out of memory");
        if (!c.resp)
            return MHD_NO;
    }
    api_count(a, route, c.status);
    ok = MHD_queue_response(conn, c.status, c.resp);
    MHD_destroy_response(c.resp);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *q = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (q) {
        free(q->body);
        free(q);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own messages (its format strings, not ours). */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap)
{
    char msg[256];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_DEBUG, "api", "http: %s", msg);
}

/* ------------------------------------------------------------ lifecycle */

#define API_PEM_MAX (1u << 20)  /* the TLS certificate chain and key files */

static void api_free(struct api *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->npool; i++)
        store_reader_close(a->pool[i]);
    free(a->pool);
    store_admin_close(a->admin);
    free(a->req);
    free(a->db);
    free(a->web_root);
    if (a->tls_key_pem)
        memset(a->tls_key_pem, 0, strlen(a->tls_key_pem));
    free(a->tls_key_pem);
    free(a->tls_cert_pem);
    pthread_mutex_destroy(&a->pool_mu);
    pthread_cond_destroy(&a->pool_cv);
    ratelimit_release(&a->rl);
    free(a);
}

/* A listening socket on addr (so the bound port is known with port 0). */
static int api_listen(const struct sockaddr_storage *ss, int *fd_out)
{
    int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 256) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)ss)->sin_addr.s_addr) >> 24) ==
               127;
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr);
    return false;
}

int api_start(struct api **out, struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    struct sockaddr_storage ss;
    struct api *a = NULL;
    char err[256], name[INET6_ADDRSTRLEN + 8], real[PATH_MAX];
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int fd = -1, rc;

    *out = NULL;
    if (!*cfg->api_listen)
        return 0;
    if (net_addr_parse(cfg->api_listen, &ss) < 0) {
        log_msg(LOG_ERROR, "api", "'%s' is not an address:port", cfg->api_listen);
        return BW_ECONFIG;
    }
    if (!(a = calloc(1, sizeof *a)))
        return BW_ENOMEM;
    pthread_mutex_init(&a->pool_mu, NULL);
    pthread_cond_init(&a->pool_cv, NULL);
    ratelimit_init(&a->rl);
    a->cfg = cfg;
    a->state = srv->state;
    a->cmdq = srv->cmdq;
    a->maxopen = (size_t)cfg->api_threads * 2 + 2;
    a->nroutes = api_route_count();
    a->pool = calloc(a->maxopen, sizeof *a->pool);
    a->req = calloc(a->nroutes, sizeof *a->req);
    a->db = strdup(cfg->db);
    if (!a->pool || !a->req || !a->db) {
        rc = BW_ENOMEM;
        goto fail;
    }
    if ((rc = store_admin_open(&a->admin, cfg->db, err, sizeof err)) < 0) {
        log_msg(LOG_ERROR, "api", "store: %s", err);
        goto fail;
    }
    if (*cfg->web_root) {
        if (realpath(cfg->web_root, real) && (a->web_root = strdup(real)))
            log_msg(LOG_INFO, "api", "serving the dashboard from %s", real);
        else
            log_msg(LOG_WARN, "api", "no dashboard at '%s': %s", cfg->web_root,
                    strerror(errno));
    }
    a->tls = cfg->api_tls == SERVER_API_TLS_ON ||
             (cfg->api_tls == SERVER_API_TLS_AUTO && !addr_is_loopback(&ss));
    if (!a->tls && !addr_is_loopback(&ss)) {
        log_msg(LOG_ERROR, "api",
                "plain HTTP is served only on loopback; '%s' needs --api-tls on or auto",
                cfg->api_listen);
        rc = BW_ECONFIG;
        goto fail;
    }
    if (a->tls) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            log_msg(LOG_ERROR, "api", "this libmicrohttpd has no TLS support");
            rc = BW_ECONFIG;
            goto fail;
        }
        a->tls_cert_pem = secretfile_slurp(cfg->tls_cert, API_PEM_MAX);
        a->tls_key_pem = secretfile_slurp(cfg->tls_key, API_PEM_MAX);
        if (!a->tls_cert_pem || !a->tls_key_pem) {
            log_msg(LOG_ERROR, "api", "cannot read '%s' or '%s' for HTTPS", cfg->tls_cert,
                    cfg->tls_key);
            rc = BW_ECONFIG;
            goto fail;
        }
        flags |= MHD_USE_TLS;
    }
    if ((rc = api_listen(&ss, &fd)) < 0) {
        log_msg(LOG_ERROR, "api", "cannot listen on '%s': %s", cfg->api_listen, strerror(-rc));
        rc = BW_EIO;
        goto fail;
    }
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls_opts[] = {
        {a->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, a->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, a->tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL},
    };
    a->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->api_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->api_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->api_per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->api_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        a, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!a->d) {
        log_msg(LOG_ERROR, "api", "cannot start the HTTP daemon on '%s'", cfg->api_listen);
        close(fd);
        rc = BW_EIO;
        goto fail;
    }
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    net_addr_format((struct sockaddr *)&ss, name, sizeof name);
    a->port = ntohs(ss.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)(void *)&ss)->sin6_port
                        : ((struct sockaddr_in *)(void *)&ss)->sin_port);
    log_msg(LOG_INFO, "api", "listening %s (%s)", name, a->tls ? "https" : "http");
    *out = a;
    return 0;
fail:
    api_free(a);
    return rc;
}

void api_stop(struct api *a)
{
    if (!a)
        return;
    if (a->d) {
        int fd = MHD_quiesce_daemon(a->d);
        MHD_stop_daemon(a->d);
        if (fd >= 0)
            close(fd);
    }
    api_free(a);
}
