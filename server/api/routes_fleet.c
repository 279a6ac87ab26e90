/* routes_fleet.c - the fleet's views: stats (series and tops for the
 * dashboard's charts), the network (connections aggregated into edges,
 * east-west resolved through the fleet's own container addresses),
 * containers (inventory, posture, open alerts, image findings) and hosts.
 * Every answer comes from the store's rollups and dimension tables
 * (store_rollup.c), never from a scan of the events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/srvstate.h"

#define FLEET_DEFAULT_RANGE_NS (24LL * 3600 * 1000000000LL)
#define FLEET_MAX_BUCKETS 1440
#define FLEET_TOP_DEFAULT 10
#define FLEET_TOP_MAX 100
#define FLEET_EDGES_DEFAULT 200
#define FLEET_EDGES_MAX 1000
/* Distinct edges one answer may gather (each costs about a kilobyte while
 * the answer is built): past it the client must narrow the range. */
#define FLEET_NET_GROUPS_MAX 20000u
#define FLEET_NET_ROWS_MAX 200000u    /* rollup rows (edge-hours) read per answer */
#define FLEET_TOO_MANY 2  /* a callback's stop value */
#define FLEET_ID_MAX 256u
#define FLEET_LIVE_MAX 4096                     /* connected agents looked at */

/* since and until with defaults (the last 24 hours up to now); false with
 * 400 set. */
static bool fleet_range(struct api_call *c, int64_t *since, int64_t *until)
{
    *since = 0;
    *until = 0;
    if (!api_q_time(c, "since", since) || !api_q_time(c, "until", until))
        return false;
    if (!*until)
        *until = clock_wall_ns();
    if (!*since)
        *since = *until - FLEET_DEFAULT_RANGE_NS;
    if (*until <= *since) {
        api_problem(c, 400, "'until' must be after 'since' (the range is [since, until))");
        return false;
    }
    return true;
}

/* ns rounded down / up to a whole unit (API times are after 1970). */
static int64_t floor_to(int64_t ns, int64_t unit)
{
    return ns / unit * unit;
}

static int64_t ceil_to(int64_t ns, int64_t unit)
{
    return floor_to(ns, unit) == ns ? ns : floor_to(ns, unit) + unit;
}

static void severity_key(int32_t sev, char *buf, size_t n)
{
    const char *name = evjson_severity_name(sev);
    snprintf(buf, n, "%s", name ? name : "unspecified");
}

/* obj[key] += n */
static void count_add(json_t *obj, const char *key, uint64_t n)
{
    json_t *v = json_object_get(obj, key);
    json_int_t have = v ? json_integer_value(v) : 0;
    json_object_set_new(obj, key, json_integer(have + (json_int_t)n));
}

/* ---------------------------------------------------------------- stats */

struct series {
    json_t *arr;        /* one object per bucket, dense */
    json_t *by_kind, *by_severity;  /* totals over the range */
    int64_t first_ns, bucket_ns;
    uint64_t total;
};

static int on_series(const struct store_stat_row *row, void *ctx)
{
    struct series *s = ctx;
    char sev[32];
    const char *kind = evjson_kind_name(row->kind);
    json_t *b = json_array_get(s->arr, (size_t)((row->bucket_ns - s->first_ns) / s->bucket_ns));

    if (!b)
        return 0;  /* a bucket outside the asked range cannot come; ignore */
    severity_key(row->severity, sev, sizeof sev);
    count_add(b, "total", row->n);
    count_add(json_object_get(b, "by_severity"), sev, row->n);
    count_add(s->by_severity, sev, row->n);
    if (s->by_kind) {
        count_add(json_object_get(b, "by_kind"), kind ? kind : "other", row->n);
        count_add(s->by_kind, kind ? kind : "other", row->n);
    }
    s->total += row->n;
    return 0;
}

static json_t *series_new(struct series *s, int64_t since, int64_t until, int64_t bucket_ns,
                          bool kinds)
{
    int64_t since_min = floor_to(since, STORE_MINUTE_NS);

    *s = (struct series){.arr = json_array(), .by_severity = json_object(),
                         .by_kind = kinds ? json_object() : NULL, .bucket_ns = bucket_ns};
    s->first_ns = floor_to(since_min, bucket_ns);
    for (int64_t t = s->first_ns; t < until && s->arr; t += bucket_ns) {
        json_t *b = json_pack("{s:o, s:i, s:{}}", "time", api_time(t), "total", 0,
                              "by_severity");
        if (b && kinds)
            json_object_set_new(b, "by_kind", json_object());
        if (!b || json_array_append_new(s->arr, b) != 0) {
            json_decref(s->arr);
            s->arr = NULL;
        }
    }
    return s->arr;
}

static json_t *series_json(struct series *s)
{
    json_t *o = json_pack("{s:I, s:o, s:o}", "total", (json_int_t)s->total, "by_severity",
                          s->by_severity, "series", s->arr);
    if (o && s->by_kind)
        json_object_set_new(o, "by_kind", s->by_kind);
    else
        json_decref(s->by_kind);
    return o;
}

static int on_top(const struct store_stat_row *row, void *ctx)
{
    json_t *o = json_pack("{s:o, s:I}", "name", api_str(row->name), "count", (json_int_t)row->n);
    return o && json_array_append_new(ctx, o) == 0 ? 0 : BW_ENOMEM;
}

static bool q_bucket(struct api_call *c, int64_t *bucket_ns, const char **name)
{
    static const struct {
        const char *name;
        int64_t minutes;
    } buckets[] = {{"1m", 1}, {"5m", 5}, {"1h", 60}, {"1d", 1440}};
    const char *v;

    if (!api_q_str(c, "bucket", 8, &v))
        return false;
    if (!v)
        v = "1h";
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        if (strcmp(v, buckets[i].name) == 0) {
            *bucket_ns = buckets[i].minutes * STORE_MINUTE_NS;
            *name = buckets[i].name;
            return true;
        }
    }
    api_problem(c, 400, "'bucket' must be 1m, 5m, 1h or 1d");
    return false;
}

void api_stats(struct api_call *c)
{
    static const char *const allowed[] = {"since", "until", "bucket", "top", NULL};
    static const struct {
        enum store_stat what;
        const char *name;
    } tops[] = {
        {STORE_STAT_TOP_RULES, "rules"},
        {STORE_STAT_TOP_IMAGES_BY_EVENTS, "images_by_events"},
        {STORE_STAT_TOP_HOSTS_BY_EVENTS, "hosts_by_events"},
        {STORE_STAT_TOP_IMAGES_BY_ALERTS, "images_by_alerts"},
        {STORE_STAT_TOP_HOSTS_BY_ALERTS, "hosts_by_alerts"},
    };
    struct store_stats_query q = {0};
    struct series ev = {0}, al = {0};
    const char *bname = NULL;
    int64_t top = FLEET_TOP_DEFAULT;
    json_t *o = NULL, *t = NULL;
    int rc = BW_ENOMEM;

    if (!api_params_only(c, allowed) || !fleet_range(c, &q.since_ns, &q.until_ns) ||
        !q_bucket(c, &q.bucket_ns, &bname) || !api_q_int(c, "top", 1, FLEET_TOP_MAX, &top))
        return;
    /* 24 hours of minutes (the default range) is the most; an unaligned
     * range touches one bucket more. */
    if ((q.until_ns - q.since_ns) / q.bucket_ns > FLEET_MAX_BUCKETS) {
        api_problem(c, 400, "the range holds more than %d buckets of %s; use a larger bucket",
                    FLEET_MAX_BUCKETS, bname);
        return;
    }
    q.limit = (uint32_t)top;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if (!series_new(&ev, q.since_ns, q.until_ns, q.bucket_ns, true) ||
        !series_new(&al, q.since_ns, q.until_ns, q.bucket_ns, false) || !(t = json_object()))
        goto fail;
    if ((rc = store_stats(c->reader, STORE_STAT_EVENTS, &q, on_series, &ev)) < 0 ||
        (rc = store_stats(c->reader, STORE_STAT_ALERTS, &q, on_series, &al)) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        json_t *arr = json_array();
        if (!arr || json_object_set_new(t, tops[i].name, arr) != 0) {
            rc = BW_ENOMEM;
            goto fail;
        }
        if ((rc = store_stats(c->reader, tops[i].what, &q, on_top, arr)) < 0)
            goto fail;
    }
    o = json_pack("{s:o, s:o, s:s, s:{s:s, s:s, s:s}, s:o, s:o, s:o}", "since",
                  api_time(floor_to(q.since_ns, STORE_MINUTE_NS)), "until",
                  api_time(ceil_to(q.until_ns, STORE_MINUTE_NS)), "bucket", bname,
                  "precision", "series", "1m", "tops_by_events", "1h", "tops_by_alerts", "1h",
                  "events", series_json(&ev), "alerts", series_json(&al), "top", t);
    api_reply_json(c, 200, o);
    return;
fail:
    json_decref(ev.arr);
    json_decref(ev.by_kind);
    json_decref(ev.by_severity);
    json_decref(al.arr);
    json_decref(al.by_severity);
    json_decref(t);
    if (rc == BW_ENOMEM)
        api_problem(c, 500, "out of memory");
    else
        api_store_problem(c, rc, "stats");
}

/* -------------------------------------------------------------- network */

struct net_ctx {
    struct store_reader *reader;
    int64_t since, until;
    json_t *addrs;   /* addr -> the container endpoint it resolves to, or null */
    json_t *edges;   /* key -> edge */
    uint32_t rows;   /* rollup rows read */
    const char *host, *container;  /* filters (either side) */
};

static int on_addr(const struct store_addr_row *row, void *ctx)
{
    json_t **out = ctx;
    *out = json_pack("{s:s, s:o, s:o, s:o}", "type", "container", "container_id",
                     api_str(row->container_id), "image", api_str(row->image), "hostname",
                     api_str(row->hostname));
    return *out ? 0 : BW_ENOMEM;
}

/* The fleet container addr belongs to (borrowed), or NULL: looked up once
 * per address and request. */
static int resolve_addr(struct net_ctx *n, const char *addr, json_t **out)
{
    json_t *e = json_object_get(n->addrs, addr);
    int rc;

    if (!e) {
        if ((rc = store_container_by_addr(n->reader, addr, n->since, n->until, on_addr, &e)) < 0)
            return rc;
        if (json_object_set_new(n->addrs, addr, e ? e : json_null()) != 0)
            return BW_ENOMEM;
    }
    *out = json_is_null(e) ? NULL : e;
    return 0;
}

/* The endpoint an event's own side is: its container, else its host. */
static json_t *local_endpoint(const struct store_net_row *row)
{
    if (*row->container_id)
        return json_pack("{s:s, s:o, s:o, s:o}", "type", "container", "container_id",
                         api_str(row->container_id), "image", api_str(row->image), "hostname",
                         api_str(row->hostname));
    return json_pack("{s:s, s:o}", "type", "host", "hostname", api_str(row->hostname));
}

/* Whether an endpoint (its container id and host, "" when none) passes the
 * host and container filters. */
static bool end_is(const struct net_ctx *n, const char *cid, const char *host)
{
    return (!n->host || strcmp(host, n->host) == 0) &&
           (!n->container || strcmp(cid, n->container) == 0);
}

static const char *jstr_of(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* Folds one row into its edge. Keys and filters work on the row's strings;
 * the endpoints' JSON is built only when an edge is new. */
static int on_net(const struct store_net_row *row, void *ctx)
{
    struct net_ctx *n = ctx;
    json_t *remote, *edge;
    char key[8800];
    const char *proto = row->protocol == BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP ? "udp"
                                                                                   : "tcp";
    const char *rcid, *rhost;
    int rc;

    if (++n->rows > FLEET_NET_ROWS_MAX)
        return FLEET_TOO_MANY;
    if ((rc = resolve_addr(n, row->addr, &remote)) < 0)
        return rc;
    rcid = remote ? jstr_of(remote, "container_id") : "";
    rhost = remote ? jstr_of(remote, "hostname") : "";
    if ((n->host || n->container) && !end_is(n, row->container_id, row->hostname) &&
        !end_is(n, rcid, rhost))
        return 0;
    /* local end: c:<container> or h:<host>; remote end: c:<container> or
     * x:<addr>|<name>; the order says which is the source */
    char lk[400], rk[4300];  /* names are at most 4 KiB (ingest) */
    if (*row->container_id)
        snprintf(lk, sizeof lk, "c:%s", row->container_id);
    else
        snprintf(lk, sizeof lk, "h:%s", row->hostname);
    if (remote)
        snprintf(rk, sizeof rk, "c:%s", rcid);
    else
        snprintf(rk, sizeof rk, "x:%s|%s", row->addr, row->name);
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%u", row->inbound ? rk : lk,
             row->inbound ? lk : rk, proto, row->port);
    if (!(edge = json_object_get(n->edges, key))) {
        if (json_object_size(n->edges) >= FLEET_NET_GROUPS_MAX)
            return FLEET_TOO_MANY;
        json_t *local = local_endpoint(row);
        json_t *far = remote ? json_incref(remote)
                             : json_pack("{s:s, s:o, s:o}", "type", "external", "address",
                                         api_str(row->addr), "name", api_str(row->name));
        edge = local && far ? json_pack("{s:O, s:O, s:s, s:I, s:i, s:i, s:i, s:I, s:I}",
                                        "source", row->inbound ? far : local, "destination",
                                        row->inbound ? local : far, "protocol", proto, "port",
                                        (json_int_t)row->port, "count", 0, "by_source", 0,
                                        "by_destination", 0, "first_ns",
                                        (json_int_t)row->first_ns, "last_ns",
                                        (json_int_t)row->last_ns)
                            : NULL;
        json_decref(local);
        json_decref(far);
        if (!edge || json_object_set_new(n->edges, key, edge) != 0)
            return BW_ENOMEM;
    }
    count_add(edge, "count", row->n);
    count_add(edge, row->inbound ? "by_destination" : "by_source", row->n);
    if (row->first_ns < json_integer_value(json_object_get(edge, "first_ns")))
        json_object_set_new(edge, "first_ns", json_integer(row->first_ns));
    if (row->last_ns > json_integer_value(json_object_get(edge, "last_ns")))
        json_object_set_new(edge, "last_ns", json_integer(row->last_ns));
    return 0;
}

struct edge_ref {
    const char *key;  /* the edge's key in net_ctx.edges */
    json_t *edge;
};

/* Most connections first; ties by first seen, then by the edge's key, so
 * the order does not depend on the order the store read the rows in. */
static int edge_cmp(const void *a, const void *b)
{
    const struct edge_ref *ra = a, *rb = b;
    json_t *x = ra->edge, *y = rb->edge;
    json_int_t cx = json_integer_value(json_object_get(x, "count"));
    json_int_t cy = json_integer_value(json_object_get(y, "count"));
    json_int_t fx = json_integer_value(json_object_get(x, "first_ns"));
    json_int_t fy = json_integer_value(json_object_get(y, "first_ns"));
    if (cx != cy)
        return cx > cy ? -1 : 1;
    if (fx != fy)
        return fx < fy ? -1 : 1;
    return strcmp(ra->key, rb->key);
}

void api_network(struct api_call *c)
{
    static const char *const allowed[] = {"since", "until", "host", "container", "limit", NULL};
    struct net_ctx n = {0};
    int64_t since = 0, until = 0, limit = FLEET_EDGES_DEFAULT;
    struct edge_ref *all = NULL;
    json_t *arr = NULL, *e;
    const char *key;
    size_t count = 0;
    int rc = BW_ENOMEM;

    if (!api_params_only(c, allowed) || !fleet_range(c, &since, &until) ||
        !api_q_str(c, "host", FLEET_ID_MAX, &n.host) ||
        !api_q_str(c, "container", FLEET_ID_MAX, &n.container) ||
        !api_q_int(c, "limit", 1, FLEET_EDGES_MAX, &limit))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    n.addrs = json_object();
    n.edges = json_object();
    arr = json_array();
    if (!n.addrs || !n.edges || !arr)
        goto fail;
    n.reader = c->reader;
    n.since = since;
    n.until = until;
    struct store_net_query nq = {.since_ns = since, .until_ns = until, .hostname = n.host,
                                 .container_id = n.container};
    if ((rc = store_net_edges(c->reader, &nq, on_net, &n)) == FLEET_TOO_MANY) {
        free(all);
        json_decref(n.addrs);
        json_decref(n.edges);
        json_decref(arr);
        api_problem(c, 400, "the range holds more than %u distinct connections (or %u "
                            "connection-hours); narrow it with host, container or a shorter "
                            "since/until", FLEET_NET_GROUPS_MAX, FLEET_NET_ROWS_MAX);
        return;
    }
    if (rc < 0)
        goto fail;
    rc = BW_ENOMEM;
    if (!(all = malloc((json_object_size(n.edges) + 1) * sizeof *all)))
        goto fail;
    json_object_foreach(n.edges, key, e)
        all[count++] = (struct edge_ref){key, e};
    qsort(all, count, sizeof *all, edge_cmp);
    for (size_t i = 0; i < count && i < (size_t)limit; i++) {
        e = all[i].edge;
        json_object_set_new(e, "first_seen",
                            api_time(json_integer_value(json_object_get(e, "first_ns"))));
        json_object_set_new(e, "last_seen",
                            api_time(json_integer_value(json_object_get(e, "last_ns"))));
        json_object_del(e, "first_ns");
        json_object_del(e, "last_ns");
        if (json_array_append(arr, e) != 0)
            goto fail;
    }
    free(all);
    json_decref(n.addrs);
    api_reply_json(c, 200,
                   json_pack("{s:o, s:o, s:s, s:o, s:I, s:b}", "since",
                             api_time(floor_to(since, STORE_HOUR_NS)), "until",
                             api_time(ceil_to(until, STORE_HOUR_NS)), "precision", "1h",
                             "edges", arr, "total_edges", (json_int_t)count, "truncated",
                             count > (size_t)limit));
    json_decref(n.edges);
    return;
fail:
    free(all);
    json_decref(n.addrs);
    json_decref(n.edges);
    json_decref(arr);
    if (rc == BW_ENOMEM)
        api_problem(c, 500, "out of memory");
    else
        api_store_problem(c, rc, "network");
}

/* Answers a page of items ordered by a name (the store's rc < 0: the
 * error instead); the next page token is the last item's name. Takes items. */
static void named_page_reply(struct api_call *c, int rc, json_t *items, bool more,
                             const char *key, const char *what)
{
    json_t *last = json_array_get(items, json_array_size(items) - 1);

    if (rc < 0) {
        json_decref(items);
        api_store_problem(c, rc, what);
        return;
    }
    api_reply_json(c, 200, json_pack("{s:o, s:O}", "items", items, "next_page_token",
                                     more && last ? json_object_get(last, key) : json_null()));
}

/* ----------------------------------------------------------- containers */

static bool mount_sensitive(const char *src)
{
    static const char *const sensitive[] = {
        "/", "/etc", "/proc", "/var/run", "/run", "/root", "/boot", "/sys", "/dev",
        "/var/lib/kubelet", "/var/lib/docker", "/var/lib/containerd", "/home",
        "/var/run/docker.sock", "/run/docker.sock", "/var/run/containerd/containerd.sock",
        "/run/containerd/containerd.sock", "/var/run/crio/crio.sock", "/run/crio/crio.sock",
        "/run/podman/podman.sock", "/var/run/podman/podman.sock",
    };
    for (size_t i = 0; i < sizeof sensitive / sizeof sensitive[0]; i++)
        if (strcmp(src, sensitive[i]) == 0)
            return true;
    return false;
}

/* The posture a config event's body states (NULL when it does not decode). */
static int on_posture(const struct store_row *row, void *ctx)
{
    json_t **out = ctx, *mounts, *caps;
    Bulwark__V1__Event *ev = row->body_len ? bulwark__v1__event__unpack(NULL, row->body_len,
                                                                         row->body)
                                           : NULL;
    const Bulwark__V1__ContainerConfig *cf = ev ? ev->config : NULL;

    if (!cf) {
        if (ev)
            bulwark__v1__event__free_unpacked(ev, NULL);
        return 0;
    }
    mounts = json_array();
    caps = json_array();
    for (size_t i = 0; i < cf->n_mounts && mounts; i++)
        if (cf->mounts[i]->source && mount_sensitive(cf->mounts[i]->source))
            json_array_append_new(
                mounts, json_pack("{s:o, s:o, s:b}", "source", api_str(cf->mounts[i]->source),
                                  "target", api_str(cf->mounts[i]->target), "read_only",
                                  cf->mounts[i]->read_only));
    for (size_t i = 0; i < cf->n_cap_add && caps; i++)
        json_array_append_new(caps, api_str(cf->cap_add[i]));
    *out = json_pack("{s:o, s:o, s:b, s:b, s:b, s:b, s:b, s:b, s:o, s:o, s:I}", "time",
                     api_time(row->time_ns), "user_uid",
                     cf->user_uid_opt_case ? json_integer(cf->user_uid) : json_null(), "privileged",
                     cf->privileged, "host_network", cf->host_network, "host_pid", cf->host_pid,
                     "host_ipc", cf->host_ipc, "read_only_rootfs", cf->read_only_rootfs,
                     "no_new_privileges", cf->no_new_privileges, "cap_add",
                     caps ? caps : json_array(), "sensitive_mounts",
                     mounts ? mounts : json_array(), "event_id", (json_int_t)row->id);
    bulwark__v1__event__free_unpacked(ev, NULL);
    return *out ? 0 : BW_ENOMEM;
}

struct vulns {
    json_t *by_sev;
    uint64_t total, fixable;
};

/* Scanners name severities in capitals (CRITICAL); answers use lower:
 * adds n to by_sev's count of severity. */
static void count_severity(json_t *by_sev, const char *severity, uint64_t n)
{
    char sev[32];
    size_t i;

    for (i = 0; i + 1 < sizeof sev && severity[i]; i++)
        sev[i] = (char)(severity[i] >= 'A' && severity[i] <= 'Z' ? severity[i] + 32 : severity[i]);
    sev[i] = '\0';
    count_add(by_sev, *sev ? sev : "unknown", n);
}

static int on_vuln(const struct store_vuln_count *v, void *ctx)
{
    struct vulns *vs = ctx;

    count_severity(vs->by_sev, v->severity, v->n);
    vs->total += v->n;
    vs->fixable += v->fixable;
    return 0;
}

/* An image's misconfigurations and secrets: {"total": n, "by_severity": {}}. */
struct findings {
    json_t *misconfig, *secret;
};

static int on_finding(const struct store_finding_count *f, void *ctx)
{
    struct findings *fs = ctx;
    json_t *o = f->kind == BULWARK__V1__EVENT__BODY_MISCONFIG ? fs->misconfig
                : f->kind == BULWARK__V1__EVENT__BODY_SECRET  ? fs->secret
                                                              : NULL;

    if (o) {
        count_add(o, "total", f->n);
        count_severity(json_object_get(o, "by_severity"), f->severity, f->n);
    }
    return 0;
}

struct containers_ctx {
    struct store_reader *reader;
    json_t *items;
    uint32_t want, got;
    bool more;
    int err;
};

static json_t *container_json(struct store_reader *r, const struct store_container_row *row,
                              int *err)
{
    json_t *posture = NULL;
    struct vulns vs = {.by_sev = json_object()};
    struct findings fs = {
        .misconfig = json_pack("{s:I, s:{}}", "total", (json_int_t)0, "by_severity"),
        .secret = json_pack("{s:I, s:{}}", "total", (json_int_t)0, "by_severity"),
    };
    int rc = 0;

    if (row->posture_event_id > 0)
        rc = store_event_get(r, row->posture_event_id, on_posture, &posture);
    if ((rc < 0 && rc != BW_ENOTFOUND) || !vs.by_sev || !fs.misconfig || !fs.secret ||
        (*row->image && (rc = store_image_vulns(r, row->image, on_vuln, &vs)) < 0) ||
        (*row->image && (rc = store_image_findings(r, row->image, on_finding, &fs)) < 0)) {
        *err = rc < 0 ? rc : BW_ENOMEM;
        json_decref(posture);
        json_decref(vs.by_sev);
        json_decref(fs.misconfig);
        json_decref(fs.secret);
        return NULL;
    }
#define OPT(s) (*(s) ? api_str(s) : json_null())
    json_t *o = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:{s:I, s:I, s:o}, s:o, s:o}",
        "container_id", api_str(row->container_id), "name", OPT(row->name), "image",
        OPT(row->image), "image_digest", OPT(row->image_digest), "runtime", OPT(row->runtime),
        "k8s_namespace", OPT(row->k8s_namespace), "k8s_pod", OPT(row->k8s_pod), "hostname",
        OPT(row->hostname), "first_seen", api_time(row->first_seen_ns), "last_seen",
        api_time(row->last_seen_ns), "posture", posture ? posture : json_null(), "open_alerts",
        (json_int_t)row->open_alerts, "vulnerabilities", "total", (json_int_t)vs.total,
        "fixable", (json_int_t)vs.fixable, "by_severity", vs.by_sev, "misconfigurations",
        fs.misconfig, "secrets", fs.secret);
#undef OPT
    if (!o)
        *err = BW_ENOMEM;
    return o;
}

static int on_container(const struct store_container_row *row, void *ctx)
{
    struct containers_ctx *cc = ctx;
    json_t *o;

    if (cc->got == cc->want) {
        cc->more = true;
        return 1;
    }
    if (!(o = container_json(cc->reader, row, &cc->err)) ||
        json_array_append_new(cc->items, o) != 0)
        return cc->err ? cc->err : BW_ENOMEM;
    cc->got++;
    return 0;
}

void api_containers_list(struct api_call *c)
{
    static const char *const allowed[] = {"image", "host", "namespace", "page_size",
                                          "page_token", NULL};
    struct store_container_query q = {0};
    struct containers_ctx cc = {0};
    int64_t size = API_PAGE_DEFAULT;
    int rc;

    if (!api_params_only(c, allowed) || !api_q_str(c, "image", FLEET_ID_MAX, &q.image) ||
        !api_q_str(c, "host", FLEET_ID_MAX, &q.hostname) ||
        !api_q_str(c, "namespace", FLEET_ID_MAX, &q.k8s_namespace) ||
        !api_q_int(c, "page_size", 1, API_PAGE_MAX, &size) ||
        !api_q_str(c, "page_token", FLEET_ID_MAX, &q.after))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    cc.reader = c->reader;
    cc.want = (uint32_t)size;
    q.limit = cc.want + 1;
    /* The rows come from one statement while each item reads posture and
     * findings through others of the same connection: collect the page's
     * rows first would need copies, so the lookups run inside the walk. */
    if (!(cc.items = json_array())) {
        api_problem(c, 500, "out of memory");
        return;
    }
    rc = store_containers_list(c->reader, &q, on_container, &cc);
    named_page_reply(c, rc, cc.items, cc.more, "container_id", "container");
}

static int on_one_container(const struct store_container_row *row, void *ctx)
{
    struct containers_ctx *cc = ctx;
    json_t *o = container_json(cc->reader, row, &cc->err);
    if (!o)
        return cc->err ? cc->err : BW_ENOMEM;
    cc->items = o;
    return 0;
}

void api_container_get(struct api_call *c)
{
    static const char *const allowed[] = {NULL};
    struct containers_ctx cc = {0};
    int rc;

    if (!api_params_only(c, allowed))
        return;
    if (!*c->param || strlen(c->param) > FLEET_ID_MAX) {
        api_problem(c, 404, "no such container");
        return;
    }
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    cc.reader = c->reader;
    if ((rc = store_container_get(c->reader, c->param, on_one_container, &cc)) < 0) {
        json_decref(cc.items);
        api_store_problem(c, rc, "container");
        return;
    }
    api_reply_json(c, 200, cc.items);
}

/* ---------------------------------------------------------------- hosts */

struct hosts_ctx {
    json_t *items;
    struct srvstate_agent *live;
    size_t nlive;
    double rate_secs;  /* the span recent_events covers */
    uint32_t want, got;
    bool more;
};

static int on_host(const struct store_host_row *row, void *ctx)
{
    struct hosts_ctx *hc = ctx;
    json_t *agents = json_array(), *o;
    const char *p = row->agents;
    bool up = false;

    if (hc->got == hc->want) {
        hc->more = true;
        return 1;
    }
    while (agents && *p) {
        size_t l = strcspn(p, " ");
        json_array_append_new(agents, json_stringn(p, l));
        p += l + (p[l] == ' ');
    }
    for (size_t i = 0; i < hc->nlive && !up; i++)
        up = strcmp(hc->live[i].hostname, row->hostname) == 0;
    o = json_pack("{s:o, s:o, s:b, s:o, s:o, s:I, s:f}", "hostname", api_str(row->hostname),
                  "agents", agents ? agents : json_array(), "connected", up, "first_seen",
                  api_time(row->first_seen_ns), "last_seen",
                  api_time(up ? clock_wall_ns() : row->last_seen_ns), "recent_events",
                  (json_int_t)row->recent_events, "events_per_second",
                  (double)row->recent_events / hc->rate_secs);
    if (!o || json_array_append_new(hc->items, o) != 0)
        return BW_ENOMEM;
    hc->got++;
    return 0;
}

void api_hosts_list(struct api_call *c)
{
    static const char *const allowed[] = {"page_size", "page_token", NULL};
    struct hosts_ctx hc = {0};
    int64_t size = API_PAGE_DEFAULT, now = clock_wall_ns();
    /* Hosts' counts are kept per hour: the rate covers the previous whole
     * hour and the current one so far. */
    int64_t since = floor_to(now, STORE_HOUR_NS) - STORE_HOUR_NS;
    const char *after = NULL;
    int rc;

    if (!api_params_only(c, allowed) || !api_q_int(c, "page_size", 1, API_PAGE_MAX, &size) ||
        !api_q_str(c, "page_token", FLEET_ID_MAX, &after))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    hc.want = (uint32_t)size;
    hc.rate_secs = (double)(now - since) / 1e9;
    hc.items = json_array();
    hc.live = calloc(FLEET_LIVE_MAX, sizeof *hc.live);
    if (!hc.items || !hc.live) {
        json_decref(hc.items);
        free(hc.live);
        api_problem(c, 500, "out of memory");
        return;
    }
    hc.nlive = srvstate_agents(c->api->state, hc.live, FLEET_LIVE_MAX);
    if (hc.nlive > FLEET_LIVE_MAX)
        hc.nlive = FLEET_LIVE_MAX;
    rc = store_hosts_list(c->reader, after ? after : "", hc.want + 1, since, now, on_host,
                          &hc);
    free(hc.live);
    named_page_reply(c, rc, hc.items, hc.more, "hostname", "host");
}
