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
#include "bulwark/arena.h"
#include "bulwark/lru.h"
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

#define NET_BATCH 256  /* rows per address question (<= STORE_ADDRS_MAX) */

/* One end of an edge; strings in the answer's arena ("" when absent). */
struct net_end {
    char type;  /* 'c' container, 'h' host, 'x' external */
    const char *cid, *image, *host;   /* 'c': all three; 'h': host */
    const char *addr, *name;          /* 'x' */
};

/* An address and the fleet container it resolves to (type 0: none). */
struct net_addr {
    struct lru_node node;
    struct net_end end;
};

struct net_edge {
    struct lru_node node;           /* key: source, destination, protocol, port */
    struct net_end src, dst;
    const char *proto;
    uint32_t port;
    uint64_t count, by_source, by_destination;
    int64_t first_ns, last_ns;
};

struct net_ctx {
    struct store_reader *reader;
    int64_t since, until;
    struct lru addrs;    /* addr -> struct net_addr, looked up once per answer */
    struct lru edges;    /* key -> struct net_edge */
    struct arena *strs;  /* the ends' strings */
    uint32_t rows;       /* rollup rows read */
    const char *host, *container;  /* filters (either side) */
    /* rows read but not yet folded: their addresses are resolved together
     * (one store question per batch instead of one per address) */
    struct store_net_row *batch;  /* NET_BATCH */
    size_t nbatch;
    struct arena *batch_strs;  /* the batch's strings, reset after each fold */
};

static int on_addr(const struct store_addr_row *row, void *ctx)
{
    struct net_ctx *n = ctx;
    size_t len = strlen(row->addr);
    struct net_addr *a = (struct net_addr *)lru_find(&n->addrs, row->addr, len,
                                                     lru_hash(row->addr, len));

    if (!a || a->end.type)
        return 0;
    a->end.cid = arena_strdup(n->strs, row->container_id);
    a->end.image = arena_strdup(n->strs, row->image);
    a->end.host = arena_strdup(n->strs, row->hostname);
    if (!a->end.cid || !a->end.image || !a->end.host)
        return BW_ENOMEM;
    a->end.type = 'c';
    return 0;
}

/* Resolves the batch's addresses not seen before in this answer, in one
 * store question: each address is looked up once per answer. */
static int resolve_batch(struct net_ctx *n)
{
    const char *ask[NET_BATCH];
    size_t nask = 0;

    for (size_t i = 0; i < n->nbatch; i++) {
        const char *addr = n->batch[i].addr;
        size_t len = strlen(addr);
        uint64_t h = lru_hash(addr, len);
        struct net_addr *a;
        if (lru_find(&n->addrs, addr, len, h))
            continue;
        if (!(a = lru_entry_alloc(sizeof *a, addr, len, h)))
            return BW_ENOMEM;
        lru_insert(&n->addrs, &a->node, false);
        ask[nask++] = a->node.key;
    }
    return store_containers_by_addrs(n->reader, ask, nask, n->since, n->until, on_addr, n);
}

/* The fleet container addr belongs to, or NULL (resolve_batch ran). */
static const struct net_end *resolved(const struct net_ctx *n, const char *addr)
{
    size_t len = strlen(addr);
    const struct net_addr *a =
        (const struct net_addr *)lru_find(&n->addrs, addr, len, lru_hash(addr, len));

    return a && a->end.type ? &a->end : NULL;
}

/* Whether an endpoint (its container id and host, "" when none) passes the
 * host and container filters. */
static bool end_is(const struct net_ctx *n, const char *cid, const char *host)
{
    return (!n->host || strcmp(host, n->host) == 0) &&
           (!n->container || strcmp(cid, n->container) == 0);
}

/* The event's own side: its container, else its host. */
static int local_end(struct net_ctx *n, const struct store_net_row *row, struct net_end *e)
{
    e->type = *row->container_id ? 'c' : 'h';
    e->host = arena_strdup(n->strs, row->hostname);
    if (e->type == 'c') {
        e->cid = arena_strdup(n->strs, row->container_id);
        e->image = arena_strdup(n->strs, row->image);
        return e->host && e->cid && e->image ? 0 : BW_ENOMEM;
    }
    return e->host ? 0 : BW_ENOMEM;
}

/* Folds one row into its edge. Keys and filters work on the row's strings;
 * an edge's ends are copied only when the edge is new. */
static int fold_row(struct net_ctx *n, const struct store_net_row *row)
{
    const struct net_end *remote = resolved(n, row->addr);
    struct net_edge *edge;
    const char *proto = row->protocol == BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP ? "udp"
                                                                                   : "tcp";
    const char *rcid, *rhost;

    rcid = remote ? remote->cid : "";
    rhost = remote ? remote->host : "";
    if ((n->host || n->container) && !end_is(n, row->container_id, row->hostname) &&
        !end_is(n, rcid, rhost))
        return 0;
    /* local end: c:<container> or h:<host>; remote end: c:<container> or
     * x:<addr>|<name>; the order says which is the source */
    char key[8800], lk[400], rk[4300];  /* names are at most 4 KiB (ingest) */
    if (*row->container_id)
        snprintf(lk, sizeof lk, "c:%s", row->container_id);
    else
        snprintf(lk, sizeof lk, "h:%s", row->hostname);
    if (remote)
        snprintf(rk, sizeof rk, "c:%s", rcid);
    else
        snprintf(rk, sizeof rk, "x:%s|%s", row->addr, row->name);
    int klen = snprintf(key, sizeof key, "%s\x1f%s\x1f%s\x1f%u", row->inbound ? rk : lk,
                        row->inbound ? lk : rk, proto, row->port);
    if (klen < 0 || (size_t)klen >= sizeof key)
        klen = (int)strlen(key);
    uint64_t h = lru_hash(key, (size_t)klen);
    if (!(edge = (struct net_edge *)lru_find(&n->edges, key, (size_t)klen, h))) {
        struct net_end local = {0}, far = {0};
        if (n->edges.n >= FLEET_NET_GROUPS_MAX)
            return FLEET_TOO_MANY;
        if (local_end(n, row, &local) < 0)
            return BW_ENOMEM;
        if (remote) {
            far = *remote;
        } else {
            far = (struct net_end){.type = 'x', .addr = arena_strdup(n->strs, row->addr),
                                   .name = arena_strdup(n->strs, row->name)};
            if (!far.addr || !far.name)
                return BW_ENOMEM;
        }
        if (!(edge = lru_entry_alloc(sizeof *edge, key, (size_t)klen, h)))
            return BW_ENOMEM;
        edge->src = row->inbound ? far : local;
        edge->dst = row->inbound ? local : far;
        edge->proto = proto;
        edge->port = row->port;
        edge->first_ns = row->first_ns;
        edge->last_ns = row->last_ns;
        lru_insert(&n->edges, &edge->node, false);
    }
    edge->count += row->n;
    if (row->inbound)
        edge->by_destination += row->n;
    else
        edge->by_source += row->n;
    if (row->first_ns < edge->first_ns)
        edge->first_ns = row->first_ns;
    if (row->last_ns > edge->last_ns)
        edge->last_ns = row->last_ns;
    return 0;
}

/* Resolves and folds the rows read so far. */
static int fold_batch(struct net_ctx *n)
{
    int rc = resolve_batch(n);

    for (size_t i = 0; i < n->nbatch && rc == 0; i++)
        rc = fold_row(n, &n->batch[i]);
    n->nbatch = 0;
    arena_reset(n->batch_strs);
    return rc;
}

/* Keeps one row (its strings are the store's only during the call) and
 * folds the batch when it is full. */
static int on_net(const struct store_net_row *row, void *ctx)
{
    struct net_ctx *n = ctx;
    struct store_net_row *b = &n->batch[n->nbatch];

    if (++n->rows > FLEET_NET_ROWS_MAX)
        return FLEET_TOO_MANY;
    *b = *row;
    b->hostname = arena_strdup(n->batch_strs, row->hostname);
    b->container_id = arena_strdup(n->batch_strs, row->container_id);
    b->image = arena_strdup(n->batch_strs, row->image);
    b->addr = arena_strdup(n->batch_strs, row->addr);
    b->name = arena_strdup(n->batch_strs, row->name);
    if (!b->hostname || !b->container_id || !b->image || !b->addr || !b->name)
        return BW_ENOMEM;
    return ++n->nbatch == NET_BATCH ? fold_batch(n) : 0;
}

/* Most connections first; ties by first seen, then by the edge's key, so
 * the order does not depend on the order the store read the rows in. */
static int edge_cmp(const void *a, const void *b)
{
    const struct net_edge *x = *(struct net_edge *const *)a, *y = *(struct net_edge *const *)b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->first_ns != y->first_ns)
        return x->first_ns < y->first_ns ? -1 : 1;
    return strcmp(x->node.key, y->node.key);
}

/* An end as the answer shows it (docs/api.md): container, host or external. */
static void end_text(struct buf *out, const struct net_end *e, int *rc)
{
    if (e->type == 'c') {
        api_text_str(out, "container", rc);
        if (*rc == 0)
            *rc = buf_put(out, ",\"container_id\":", 16);
        api_text_str(out, e->cid, rc);
        if (*rc == 0)
            *rc = buf_put(out, ",\"image\":", 9);
        api_text_str(out, e->image, rc);
        if (*rc == 0)
            *rc = buf_put(out, ",\"hostname\":", 12);
        api_text_str(out, e->host, rc);
    } else if (e->type == 'h') {
        api_text_str(out, "host", rc);
        if (*rc == 0)
            *rc = buf_put(out, ",\"hostname\":", 12);
        api_text_str(out, e->host, rc);
    } else {
        api_text_str(out, "external", rc);
        if (*rc == 0)
            *rc = buf_put(out, ",\"address\":", 11);
        api_text_str(out, e->addr, rc);
        if (*rc == 0)
            *rc = buf_put(out, ",\"name\":", 8);
        api_text_str(out, e->name, rc);
    }
}

#define PUT(lit)                                                                         \
    do {                                                                                 \
        if (rc == 0)                                                                     \
            rc = buf_put(&out, lit, sizeof lit - 1);                                     \
    } while (0)

/* The answer as JSON text, written without a tree (an hour of one host's
 * edges built as jansson objects was a third of the question's CPU). */
static int net_answer(struct buf *out_, int64_t since, int64_t until, struct net_edge **all,
                      size_t count, size_t limit)
{
    struct buf out = *out_;
    int rc = 0;

    PUT("{\"since\":");
    api_text_time(&out, floor_to(since, STORE_HOUR_NS), &rc);
    PUT(",\"until\":");
    api_text_time(&out, ceil_to(until, STORE_HOUR_NS), &rc);
    PUT(",\"precision\":\"1h\",\"edges\":[");
    for (size_t i = 0; i < count && i < limit; i++) {
        const struct net_edge *e = all[i];
        if (i)
            PUT(",");
        PUT("{\"source\":{\"type\":");
        end_text(&out, &e->src, &rc);
        PUT("},\"destination\":{\"type\":");
        end_text(&out, &e->dst, &rc);
        PUT("},\"protocol\":");
        api_text_str(&out, e->proto, &rc);
        api_text_int(&out, ",\"port\":", e->port, &rc);
        api_text_int(&out, ",\"count\":", (long long)e->count, &rc);
        api_text_int(&out, ",\"by_source\":", (long long)e->by_source, &rc);
        api_text_int(&out, ",\"by_destination\":", (long long)e->by_destination, &rc);
        PUT(",\"first_seen\":");
        api_text_time(&out, e->first_ns, &rc);
        PUT(",\"last_seen\":");
        api_text_time(&out, e->last_ns, &rc);
        PUT("}");
    }
    api_text_int(&out, "],\"total_edges\":", (long long)count, &rc);
    if (count > limit)
        PUT(",\"truncated\":true}");
    else
        PUT(",\"truncated\":false}");
    *out_ = out;
    return rc;
}
#undef PUT

void api_network(struct api_call *c)
{
    static const char *const allowed[] = {"since", "until", "host", "container", "limit", NULL};
    struct net_ctx n = {0};
    int64_t since = 0, until = 0, limit = FLEET_EDGES_DEFAULT;
    struct net_edge **all = NULL;
    struct buf out;
    size_t count = 0;
    int rc = BW_ENOMEM;

    buf_init(&out, SIZE_MAX);
    if (!api_params_only(c, allowed) || !fleet_range(c, &since, &until) ||
        !api_q_str(c, "host", FLEET_ID_MAX, &n.host) ||
        !api_q_str(c, "container", FLEET_ID_MAX, &n.container) ||
        !api_q_int(c, "limit", 1, FLEET_EDGES_MAX, &limit))
        return;
    if (!c->reader && !(c->reader = api_reader(c)))
        return;
    if (lru_init(&n.addrs, FLEET_NET_ROWS_MAX) < 0 ||
        lru_init(&n.edges, FLEET_NET_GROUPS_MAX) < 0 || !(n.strs = arena_new(64 * 1024)) ||
        !(n.batch_strs = arena_new(64 * 1024)) ||
        !(n.batch = malloc(NET_BATCH * sizeof *n.batch)))
        goto fail;
    n.reader = c->reader;
    n.since = since;
    n.until = until;
    struct store_net_query nq = {.since_ns = since, .until_ns = until, .hostname = n.host,
                                 .container_id = n.container};
    if ((rc = store_net_edges(c->reader, &nq, on_net, &n)) == 0)
        rc = fold_batch(&n);
    if (rc == FLEET_TOO_MANY) {
        api_problem(c, 400, "the range holds more than %u distinct connections (or %u "
                            "connection-hours); narrow it with host, container or a shorter "
                            "since/until", FLEET_NET_GROUPS_MAX, FLEET_NET_ROWS_MAX);
        goto out;
    }
    if (rc < 0)
        goto fail;
    rc = BW_ENOMEM;
    if (!(all = malloc((n.edges.n + 1) * sizeof *all)))
        goto fail;
    for (struct lru_node *e = n.edges.head.next; e != &n.edges.head; e = e->next)
        all[count++] = (struct net_edge *)e;
    qsort(all, count, sizeof *all, edge_cmp);
    if ((rc = net_answer(&out, since, until, all, count, (size_t)limit)) < 0)
        goto fail;
    api_reply_text(c, 200, &out);
    goto out;
fail:
    if (rc == BW_ENOMEM)
        api_problem(c, 500, "out of memory");
    else
        api_store_problem(c, rc, "network");
out:
    free(all);
    buf_release(&out);
    lru_release(&n.addrs, NULL);
    lru_release(&n.edges, NULL);
    arena_free(n.strs);
    arena_free(n.batch_strs);
    free(n.batch);
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
