/* store_fleet.c - the reader's side of the rollups and the inventory
 * (include/bulwark/store.h): stats series and tops from roll_events and
 * roll_alerts, net edges from roll_net, the fleet's container addresses,
 * containers with their posture and open alerts, image findings, hosts.
 * store_rollup.c keeps those tables; each query here reads one snapshot. */
#include <stdint.h>
#include <stdlib.h>

#include "bulwark/buf.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "store_internal.h"

#define MINUTE_SQL "minute >= ?1 AND minute < ?2"
#define HOUR_SQL "hour >= ?5 AND hour < ?6"

/* The columns of a struct store_container_row (container_emit). */
#define CONTAINER_SELECT                                                                  \
    "SELECT c.container_id, coalesce(c.name, ''), coalesce(c.image, ''),"               \
    " coalesce(c.image_digest, ''), coalesce(c.runtime, ''), coalesce(c.k8s_namespace, ''),"\
    " coalesce(c.k8s_pod, ''), coalesce(h.hostname, ''), c.first_seen, c.last_seen,"    \
    " coalesce(p.event_id, 0), (SELECT count(*) FROM alerts AS al"                      \
    "  WHERE al.container_id = c.container_id AND al.status = 'open')"                  \
    " FROM containers AS c LEFT JOIN hosts AS h ON h.id = c.host"                       \
    " LEFT JOIN container_posture AS p ON p.container = c.id"

/* The network statements: ?1 since hour, ?2 until hour, ?3 hostname,
 * ?4 container id. */
#define NET_SELECT                                                                        \
    "SELECT coalesce(h.hostname, ''), coalesce(c.container_id, ''), coalesce(c.image, ''),"\
    " t.inbound, t.protocol, t.port, t.addr, t.name, t.n, t.first_ns, t.last_ns FROM "
#define NET_JOIN \
    " LEFT JOIN hosts AS h ON h.id = t.host LEFT JOIN containers AS c ON c.id = t.container"
#define NET_HOURS "hour >= ?1 AND hour < ?2"
/* The hours of the range that roll_net has, one row each: joined to
 * roll_net by (hour, host), they seek its primary key's prefix once per hour
 * instead of reading every row of the range (and need no index by host,
 * which would cost the writer an entry per new key). */
#define NET_HOURS_CTE                                                                     \
    "WITH RECURSIVE hours(h) AS (SELECT max(?1, (SELECT min(hour) FROM roll_net))"       \
    " UNION ALL SELECT h + 1 FROM hours WHERE h + 1 < min(?2, (SELECT max(hour) + 1"      \
    " FROM roll_net))) "
#define NET_HOST_ID "SELECT id FROM hosts WHERE hostname = ?3"
#define NET_CONT_ID "SELECT id FROM containers WHERE container_id = ?4"

/* Parameters of the stats statements: ?1 since minute, ?2 until minute,
 * ?3 bucket minutes, ?4 limit, ?5 since hour, ?6 until hour. */
const char *const store_fleet_rsql[R_COUNT - R_API_COUNT] = {
    [R_STATS_EVENTS - R_API_COUNT] =
        "SELECT (minute / ?3) * ?3, kind, severity, sum(n) FROM roll_kinds"
        " WHERE " MINUTE_SQL " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    [R_STATS_ALERTS - R_API_COUNT] =
        "SELECT (minute / ?3) * ?3, 0, priority, sum(n) FROM roll_alerts"
        " WHERE " MINUTE_SQL " GROUP BY 1, 3 ORDER BY 1, 3",
    [R_TOP_RULES - R_API_COUNT] =
        "SELECT name, sum(n) FROM roll_alert_tops WHERE " HOUR_SQL " AND what = 0"
        " GROUP BY name ORDER BY 2 DESC, 1 LIMIT ?4",
    [R_TOP_HOSTS_EVENTS - R_API_COUNT] =
        "SELECT h.hostname, t.n FROM (SELECT host, sum(n) AS n FROM roll_hosts"
        " WHERE " HOUR_SQL " GROUP BY host) AS t"
        " JOIN hosts AS h ON h.id = t.host ORDER BY 2 DESC, 1 LIMIT ?4",
    [R_TOP_IMAGES_EVENTS - R_API_COUNT] =
        "SELECT image, sum(n) FROM roll_images WHERE " HOUR_SQL
        " GROUP BY image ORDER BY 2 DESC, 1 LIMIT ?4",
    [R_TOP_HOSTS_ALERTS - R_API_COUNT] =
        "SELECT name, sum(n) FROM roll_alert_tops WHERE " HOUR_SQL " AND what = 1"
        " GROUP BY name ORDER BY 2 DESC, 1 LIMIT ?4",
    [R_TOP_IMAGES_ALERTS - R_API_COUNT] =
        "SELECT name, sum(n) FROM roll_alert_tops WHERE " HOUR_SQL " AND what = 2"
        " GROUP BY name ORDER BY 2 DESC, 1 LIMIT ?4",
    /* Network edges: rows as stored, one per hour and key, no GROUP BY, so
     * the first rows come at once and a caller that stops early pays for
     * what it read, not for the whole range. Without a filter: the hours'
     * rows. */
    [R_NET - R_API_COUNT] = NET_SELECT "(SELECT * FROM roll_net WHERE " NET_HOURS ") AS t"
        NET_JOIN,
    /* One host (and perhaps a container): rows of either end, read by
     * keys: its own side by (hour, host) per hour, then rows whose remote
     * address is one of its containers' by the index of schema 7 on (addr,
     * hour); the caller checks the resolved ends exactly. */
    [R_NET_HOST - R_API_COUNT] = NET_HOURS_CTE NET_SELECT
        "(SELECT r.* FROM hours CROSS JOIN roll_net AS r WHERE r.hour = hours.h"
        "  AND r.host = (" NET_HOST_ID ") AND r." NET_HOURS
        " UNION ALL SELECT * FROM roll_net WHERE addr IN"
        "  (SELECT a.addr FROM container_addrs AS a WHERE a.container IN"
        "   (SELECT id FROM containers WHERE host = (" NET_HOST_ID ")))"
        "  AND " NET_HOURS " AND host IS NOT (" NET_HOST_ID ")) AS t" NET_JOIN
        " WHERE (?4 IS NULL OR t.container = (" NET_CONT_ID ") OR t.addr IN"
        "  (SELECT a.addr FROM container_addrs AS a WHERE a.container = (" NET_CONT_ID ")))",
    /* One container: its own side by (hour, its host) per hour (a container
     * lives on one host; one seen on several, host -1, or stored before
     * schema 3, host 0, takes the hours' rows instead), then rows whose
     * remote address is one of its own. In the second branch the
     * container drives the join (CROSS JOIN keeps it outside): no
     * container, or one with a host, reads nothing there. */
    [R_NET_CONTAINER - R_API_COUNT] = NET_HOURS_CTE NET_SELECT
        "(SELECT r.* FROM hours CROSS JOIN roll_net AS r WHERE r.hour = hours.h"
        "  AND r.host = (SELECT host FROM containers WHERE container_id = ?4 AND host > 0)"
        "  AND r.container = (" NET_CONT_ID ") AND r." NET_HOURS
        " UNION ALL SELECT r.* FROM containers AS z CROSS JOIN roll_net AS r"
        "  WHERE z.container_id = ?4 AND z.host <= 0 AND r.container = z.id AND r." NET_HOURS
        " UNION ALL SELECT * FROM roll_net WHERE addr IN"
        "  (SELECT a.addr FROM container_addrs AS a WHERE a.container = (" NET_CONT_ID "))"
        "  AND " NET_HOURS " AND container IS NOT (" NET_CONT_ID ")) AS t" NET_JOIN,
    /* ?3: the addresses as a JSON array of strings, one seek each. */
    [R_ADDRS - R_API_COUNT] =
        "SELECT j.value, c.container_id, coalesce(c.image, ''), coalesce(h.hostname, '')"
        " FROM json_each(?3) AS j JOIN containers AS c ON c.id ="
        "  (SELECT a.container FROM container_addrs AS a WHERE a.addr = j.value"
        "   ORDER BY (a.last_ns >= ?1 AND a.first_ns < ?2) DESC, a.last_ns DESC LIMIT 1)"
        " LEFT JOIN hosts AS h ON h.id = c.host",
    [R_CONTAINERS - R_API_COUNT] =
        CONTAINER_SELECT " WHERE c.container_id > ?1 AND (?3 IS NULL OR c.image = ?3)"
        " AND (?4 IS NULL OR h.hostname = ?4) AND (?5 IS NULL OR c.k8s_namespace = ?5)"
        " ORDER BY c.container_id LIMIT ?2",
    [R_CONTAINER_GET - R_API_COUNT] = CONTAINER_SELECT " WHERE c.container_id = ?1",
    [R_IMAGE_VULNS - R_API_COUNT] =
        "SELECT severity, count(*), sum(fixed_version <> '') FROM image_vulns"
        " WHERE image = ?1 GROUP BY severity ORDER BY severity",
    [R_IMAGE_FINDINGS - R_API_COUNT] =
        "SELECT kind, severity, count(*) FROM image_findings"
        " WHERE image = ?1 GROUP BY kind, severity ORDER BY kind, severity",
    [R_HOSTS - R_API_COUNT] =
        "SELECT h.hostname, h.first_seen, h.last_seen,"
        " (SELECT coalesce(group_concat(agent_id, ' '), '') FROM"
        "  (SELECT agent_id FROM agents WHERE hostname = h.hostname ORDER BY agent_id)),"
        " (SELECT coalesce(sum(n), 0) FROM roll_hosts WHERE hour >= ?3 AND hour < ?4"
        "  AND host = h.id)"
        " FROM hosts AS h WHERE h.hostname > ?1 ORDER BY h.hostname LIMIT ?2",
};

/* Steps st (bound) in a read transaction of its own, emitting each row;
 * resets st. A call from inside another's callback (a container's findings
 * while the containers are walked) reads in the walk's transaction.
 * Returns 0, the callback's non-zero value or BW_EIO. */
static int fleet_rows(struct store_reader *r, sqlite3_stmt *st, store_emit_fn emit, void *fn,
                      void *ctx)
{
    int rc;
    bool own = sqlite3_get_autocommit(r->db) != 0;

    if (own && sql_exec(r->st[R_BEGIN]) < 0) {
        sqlite3_reset(st);
        return BW_EIO;
    }
    rc = store_step_rows(st, emit, fn, ctx);
    sqlite3_clear_bindings(st);
    if (own && sql_exec(r->st[R_COMMIT]) < 0 && rc == 0)
        rc = BW_EIO;
    return rc;
}

/* The unit (minute, hour) holding ns, and the first unit at or after ns. */
static int64_t unit_floor(int64_t ns, int64_t unit)
{
    return ns >= 0 ? ns / unit : -((-ns + unit - 1) / unit);
}

static int64_t unit_ceil(int64_t ns, int64_t unit)
{
    int64_t m = unit_floor(ns, unit);
    return m * unit == ns ? m : m + 1;
}

static int stat_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_stat_row row = {0};
    if (sqlite3_column_count(st) == 4) {
        row.bucket_ns = sqlite3_column_int64(st, 0) * STORE_MINUTE_NS;
        row.kind = sqlite3_column_int(st, 1);
        row.severity = sqlite3_column_int(st, 2);
        row.name = "";
        row.n = (uint64_t)sqlite3_column_int64(st, 3);
    } else {
        row.name = col_text(st, 0);
        row.n = (uint64_t)sqlite3_column_int64(st, 1);
    }
    return ((store_stat_fn)fn)(&row, ctx);
}

int store_stats(struct store_reader *r, enum store_stat what, const struct store_stats_query *q,
                store_stat_fn fn, void *ctx)
{
    static const enum rstmt stmt[STORE_STAT_N] = {
        [STORE_STAT_EVENTS] = R_STATS_EVENTS,
        [STORE_STAT_ALERTS] = R_STATS_ALERTS,
        [STORE_STAT_TOP_RULES] = R_TOP_RULES,
        [STORE_STAT_TOP_HOSTS_BY_EVENTS] = R_TOP_HOSTS_EVENTS,
        [STORE_STAT_TOP_IMAGES_BY_EVENTS] = R_TOP_IMAGES_EVENTS,
        [STORE_STAT_TOP_HOSTS_BY_ALERTS] = R_TOP_HOSTS_ALERTS,
        [STORE_STAT_TOP_IMAGES_BY_ALERTS] = R_TOP_IMAGES_ALERTS,
    };
    bool series = what == STORE_STAT_EVENTS || what == STORE_STAT_ALERTS;
    sqlite3_stmt *st;

    if (!r || !q || !fn || (unsigned)what >= STORE_STAT_N || q->until_ns <= q->since_ns ||
        (series && (q->bucket_ns < STORE_MINUTE_NS || q->bucket_ns % STORE_MINUTE_NS)) ||
        (!series && (q->limit == 0 || q->limit > STORE_QUERY_MAX_LIMIT)))
        return BW_EINVAL;
    st = r->st[stmt[what]];
    int64_t v[6] = {unit_floor(q->since_ns, STORE_MINUTE_NS),
                    unit_ceil(q->until_ns, STORE_MINUTE_NS), q->bucket_ns / STORE_MINUTE_NS,
                    q->limit, unit_floor(q->since_ns, STORE_HOUR_NS),
                    unit_ceil(q->until_ns, STORE_HOUR_NS)};
    for (int i = 0; i < 6 && i < sqlite3_bind_parameter_count(st); i++)
        if (sqlite3_bind_int64(st, i + 1, v[i]) != SQLITE_OK)
            return BW_EIO;
    return fleet_rows(r, st, stat_emit, (void *)fn, ctx);
}

static int net_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_net_row row = {
        .hostname = col_text(st, 0),
        .container_id = col_text(st, 1),
        .image = col_text(st, 2),
        .inbound = sqlite3_column_int(st, 3) != 0,
        .protocol = sqlite3_column_int(st, 4),
        .port = (uint32_t)sqlite3_column_int64(st, 5),
        .addr = col_text(st, 6),
        .name = col_text(st, 7),
        .n = (uint64_t)sqlite3_column_int64(st, 8),
        .first_ns = sqlite3_column_int64(st, 9),
        .last_ns = sqlite3_column_int64(st, 10),
    };
    return ((store_net_fn)fn)(&row, ctx);
}

int store_net_edges(struct store_reader *r, const struct store_net_query *q, store_net_fn fn,
                    void *ctx)
{
    sqlite3_stmt *st;

    if (!r || !q || !fn || q->until_ns <= q->since_ns)
        return BW_EINVAL;
    /* the filtered statements read only the rows of their host or container */
    st = r->st[q->hostname ? R_NET_HOST : q->container_id ? R_NET_CONTAINER : R_NET];
    if (sqlite3_bind_int64(st, 1, unit_floor(q->since_ns, STORE_HOUR_NS)) ||
        sqlite3_bind_int64(st, 2, unit_ceil(q->until_ns, STORE_HOUR_NS)) ||
        (st != r->st[R_NET] &&
         (bind_text(st, 3, q->hostname) || bind_text(st, 4, q->container_id)))) {
        sqlite3_reset(st);
        return BW_EIO;
    }
    return fleet_rows(r, st, net_emit, (void *)fn, ctx);
}

static int addr_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_addr_row row = {
        .addr = col_text(st, 0),
        .container_id = col_text(st, 1),
        .image = col_text(st, 2),
        .hostname = col_text(st, 3),
    };
    return ((store_addr_fn)fn)(&row, ctx);
}

int store_containers_by_addrs(struct store_reader *r, const char *const *addrs, size_t n,
                              int64_t since_ns, int64_t until_ns, store_addr_fn fn, void *ctx)
{
    struct buf list;
    sqlite3_stmt *st;
    int rc = 0;

    if (!r || (!addrs && n) || !fn || n > STORE_ADDRS_MAX)
        return BW_EINVAL;
    if (n == 0)
        return 0;
    /* Addresses are IP literals (ingest checks them); one that is not
     * UTF-8 is written with U+FFFD and so matches nothing, as it could
     * not have been stored. */
    buf_init(&list, SIZE_MAX);
    rc = buf_put(&list, "[", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i)
            rc = buf_put(&list, ",", 1);
        if (rc == 0)
            rc = evjson_write_string(&list, addrs[i], "\\uFFFD");
    }
    if (rc == 0)
        rc = buf_put(&list, "]", 1);
    if (rc < 0) {
        buf_release(&list);
        return rc;
    }
    st = r->st[R_ADDRS];
    if (sqlite3_bind_int64(st, 1, since_ns) || sqlite3_bind_int64(st, 2, until_ns) ||
        sqlite3_bind_text(st, 3, (const char *)buf_head(&list), (int)buf_size(&list),
                          SQLITE_STATIC)) {
        sqlite3_reset(st);
        buf_release(&list);
        return BW_EIO;
    }
    rc = fleet_rows(r, st, addr_emit, (void *)fn, ctx);
    buf_release(&list);
    return rc;
}

static int container_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_container_row row = {
        .container_id = col_text(st, 0),
        .name = col_text(st, 1),
        .image = col_text(st, 2),
        .image_digest = col_text(st, 3),
        .runtime = col_text(st, 4),
        .k8s_namespace = col_text(st, 5),
        .k8s_pod = col_text(st, 6),
        .hostname = col_text(st, 7),
        .first_seen_ns = sqlite3_column_int64(st, 8),
        .last_seen_ns = sqlite3_column_int64(st, 9),
        .posture_event_id = sqlite3_column_int64(st, 10),
        .open_alerts = (uint64_t)sqlite3_column_int64(st, 11),
    };
    return ((store_container_fn)fn)(&row, ctx);
}

int store_containers_list(struct store_reader *r, const struct store_container_query *q,
                          store_container_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    if (!r || !q || !fn || q->limit == 0 || q->limit > STORE_QUERY_MAX_LIMIT)
        return BW_EINVAL;
    st = r->st[R_CONTAINERS];
    if (bind_text(st, 1, q->after ? q->after : "") || sqlite3_bind_int64(st, 2, q->limit) ||
        bind_text(st, 3, q->image) || bind_text(st, 4, q->hostname) ||
        bind_text(st, 5, q->k8s_namespace)) {
        sqlite3_reset(st);
        return BW_EIO;
    }
    return fleet_rows(r, st, container_emit, (void *)fn, ctx);
}

struct one {
    store_container_fn fn;
    void *ctx;
    bool any;
};

static int on_one_container(const struct store_container_row *row, void *ctx)
{
    struct one *o = ctx;
    o->any = true;
    return o->fn(row, o->ctx);
}

int store_container_get(struct store_reader *r, const char *container_id,
                        store_container_fn fn, void *ctx)
{
    struct one o = {fn, ctx, false};
    int rc;

    if (!r || !container_id || !fn)
        return BW_EINVAL;
    if (bind_text(r->st[R_CONTAINER_GET], 1, container_id) != SQLITE_OK)
        return BW_EIO;
    rc = fleet_rows(r, r->st[R_CONTAINER_GET], container_emit, (void *)on_one_container, &o);
    return rc == 0 && !o.any ? BW_ENOTFOUND : rc;
}

static int vuln_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_vuln_count row = {
        .severity = col_text(st, 0),
        .n = (uint64_t)sqlite3_column_int64(st, 1),
        .fixable = (uint64_t)sqlite3_column_int64(st, 2),
    };
    return ((store_vuln_fn)fn)(&row, ctx);
}

int store_image_vulns(struct store_reader *r, const char *image, store_vuln_fn fn, void *ctx)
{
    if (!r || !image || !fn)
        return BW_EINVAL;
    if (bind_text(r->st[R_IMAGE_VULNS], 1, image) != SQLITE_OK)
        return BW_EIO;
    return fleet_rows(r, r->st[R_IMAGE_VULNS], vuln_emit, (void *)fn, ctx);
}

static int finding_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_finding_count row = {
        .kind = (int)sqlite3_column_int64(st, 0),
        .severity = col_text(st, 1),
        .n = (uint64_t)sqlite3_column_int64(st, 2),
    };
    return ((store_finding_fn)fn)(&row, ctx);
}

int store_image_findings(struct store_reader *r, const char *image, store_finding_fn fn,
                         void *ctx)
{
    if (!r || !image || !fn)
        return BW_EINVAL;
    if (bind_text(r->st[R_IMAGE_FINDINGS], 1, image) != SQLITE_OK)
        return BW_EIO;
    return fleet_rows(r, r->st[R_IMAGE_FINDINGS], finding_emit, (void *)fn, ctx);
}

static int host_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_host_row row = {
        .hostname = col_text(st, 0),
        .first_seen_ns = sqlite3_column_int64(st, 1),
        .last_seen_ns = sqlite3_column_int64(st, 2),
        .agents = col_text(st, 3),
        .recent_events = (uint64_t)sqlite3_column_int64(st, 4),
    };
    return ((store_host_fn)fn)(&row, ctx);
}

int store_hosts_list(struct store_reader *r, const char *after, uint32_t limit,
                     int64_t rate_since_ns, int64_t rate_until_ns, store_host_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    if (!r || !fn || limit == 0 || limit > STORE_QUERY_MAX_LIMIT)
        return BW_EINVAL;
    st = r->st[R_HOSTS];
    if (bind_text(st, 1, after ? after : "") || sqlite3_bind_int64(st, 2, limit) ||
        sqlite3_bind_int64(st, 3, unit_floor(rate_since_ns, STORE_HOUR_NS)) ||
        sqlite3_bind_int64(st, 4, unit_ceil(rate_until_ns, STORE_HOUR_NS))) {
        sqlite3_reset(st);
        return BW_EIO;
    }
    return fleet_rows(r, st, host_emit, (void *)fn, ctx);
}
