/* store_query.c - the store's read-only connection (include/bulwark/store.h):
 * opening it, its statements, and the event queries that walk the chunk
 * summaries newest first and scan only candidate chunks, plus the event
 * count. The alert queries on this connection are in store_alerts.c. */
#include <limits.h>
#include <stdlib.h>

#include "bulwark/err.h"
#include "store_internal.h"


static const char *const rsql[R_CORE_COUNT] = {
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_AGENT_ID] = "SELECT id FROM agents WHERE agent_id = ?1",
    [R_HOST_ID] = "SELECT id FROM hosts WHERE hostname = ?1",
    [R_CONT_ID] = "SELECT id, host FROM containers WHERE container_id = ?1",
    [R_LAST_CHUNK] = "SELECT last_id FROM event_chunks ORDER BY first_id DESC LIMIT 1",
    [R_CHUNKS] = "SELECT first_id, last_id, min_time, max_time, kinds, hosts, containers,"
                 " agents FROM event_chunks WHERE first_id <= ?1 ORDER BY first_id DESC",
    /* The rowid range drives the scan; the other terms are exact filters
     * applied to each row of a candidate chunk (no secondary index). */
    [R_SCAN] = EVENT_SELECT
               " WHERE e.id BETWEEN ?1 AND ?2"
               " AND (?3 = 0 OR e.time_ns >= ?3) AND (?4 = 0 OR e.time_ns < ?4)"
               " AND (?5 < 0 OR e.agent = ?5) AND (?6 < 0 OR e.host = ?6)"
               " AND (?7 < 0 OR e.container = ?7) AND (?8 = 0 OR e.kind = ?8)"
               " AND e.severity >= ?10"
               " AND (?11 IS NULL OR e.container IN (SELECT id FROM containers WHERE image = ?11))"
               " ORDER BY e.id DESC LIMIT ?9",
    [R_SUM_ROWS] = "SELECT coalesce(sum(n_rows), 0) FROM event_chunks",
    [R_COUNT_TAIL] = "SELECT count(*) FROM events WHERE id > ?1",
    /* A reverse rowid range scan with exact filters: alerts are few. */
    [R_ALERTS] = ALERT_SELECT
                 " WHERE id <= ?1"
                 " AND (?2 = 0 OR last_seen >= ?2) AND (?3 = 0 OR last_seen < ?3)"
                 " AND (?4 IS NULL OR rule = ?4)"
                 " AND (?5 IS NULL OR coalesce(hostname, '') = ?5)"
                 " AND (?6 IS NULL OR coalesce(container_id, '') = ?6)"
                 " AND priority >= ?7 AND (?9 IS NULL OR status = ?9)"
                 " ORDER BY id DESC LIMIT ?8",
    [R_ALERT_COUNT] = "SELECT count(*) FROM alerts",
    [R_EVID_LIST] = "SELECT v.agent, a.agent_id, v.epoch, v.seq, coalesce(v.event_id, 0)"
                    " FROM alert_evidence AS v LEFT JOIN agents AS a ON a.id = v.agent"
                    " WHERE v.alert_id = ?1 ORDER BY v.agent, v.epoch, v.seq",
    /* An event by the id recorded at raise time, checked against the link. */
    [R_EVENT_GET] = EVENT_SELECT
                    " WHERE e.id = ?1 AND e.agent = ?2 AND e.epoch = ?3 AND e.seq = ?4",
    /* An event searched for in one candidate chunk (no index on seq). */
    [R_EVENT_FIND] = EVENT_SELECT
                     " WHERE e.id BETWEEN ?1 AND ?2 AND e.agent = ?3 AND e.epoch = ?4"
                     " AND e.seq = ?5 LIMIT 1",
};

/* ------------------------------------------------------------ the reader */

/* Resolved filter: dimension ids, -1 = any. */
struct query_filter {
    int64_t agent;
    int64_t host;
    int64_t container;
};

int store_reader_open(struct store_reader **out, const char *path, char *err, size_t errlen)
{
    struct store_reader *r = NULL;
    int64_t version;
    int rc = BW_EIO;

    if (!out || !path || !*path) {
        store_set_err(err, errlen, "store path missing");
        return BW_EINVAL;
    }
    if (!(r = calloc(1, sizeof *r))) {
        store_set_err(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    /* NOMUTEX: a reader has one user at a time (store.h), so SQLite's own
     * mutex around every call (13 per exported row) is not needed. */
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        store_set_err(err, errlen, "open '%s' read-only: %s", path,
                r->db ? sqlite3_errmsg(r->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(r->db, STORE_BUSY_MS);
    if (sql_user_version(r->db, &version) < 0) {
        store_set_err(err, errlen, "read schema version of '%s': %s", path, sqlite3_errmsg(r->db));
        goto out;
    }
    if (version != STORE_SCHEMA_VERSION) {
        store_set_err(err, errlen, "'%s' has schema version %lld, expected %d", path,
                (long long)version, STORE_SCHEMA_VERSION);
        rc = BW_ECONFIG;
        goto out;
    }
    if (sql_prepare_all(r->db, rsql, R_CORE_COUNT, r->st, "reader", err, errlen) < 0 ||
        sql_prepare_all(r->db, store_api_rsql, R_API_COUNT - R_CORE_COUNT,
                          r->st + R_CORE_COUNT, "api reader", err, errlen) < 0 ||
        sql_prepare_all(r->db, store_fleet_rsql, R_COUNT - R_API_COUNT, r->st + R_API_COUNT,
                          "fleet reader", err, errlen) < 0)
        goto out;
    *out = r;
    r = NULL;
    rc = 0;
out:
    store_reader_close(r);
    return rc;
}

void store_reader_close(struct store_reader *r)
{
    if (!r)
        return;
    for (int i = 0; i < R_COUNT; i++)
        sqlite3_finalize(r->st[i]);
    sqlite3_close(r->db);
    free(r);
}

/* Dimension id of key via statement i: *id = 0 if absent. */
/* The id of a named dimension (0 if unknown); for a container also the
 * host it lives on (*host, when not NULL). */
static int reader_dim(struct store_reader *r, enum rstmt i, const char *key, int64_t *id,
                      int64_t *host)
{
    sqlite3_stmt *st = r->st[i];
    int rc;

    if (bind_text(st, 1, key) != SQLITE_OK)
        return BW_EIO;
    *id = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        if (host)
            *host = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : BW_EIO;
}

/* Could a chunk with this summary row (R_CHUNKS columns) hold a match? */
static bool chunk_may_match(sqlite3_stmt *st, const struct store_query *q,
                            const struct query_filter *f)
{
    int64_t min_time = sqlite3_column_int64(st, 2), max_time = sqlite3_column_int64(st, 3);
    uint64_t kinds = (uint64_t)sqlite3_column_int64(st, 4);
    if (q->since_ns != 0 && max_time < q->since_ns)
        return false;
    if (q->until_ns != 0 && min_time >= q->until_ns)
        return false;
    if (q->kind != 0 && !(kinds & kind_bit(q->kind)))
        return false;
    const struct {
        int col;
        int64_t id;
    } sums[3] = {{5, f->host}, {6, f->container}, {7, f->agent}};
    for (int i = 0; i < 3; i++) {
        if (sums[i].id < 0)
            continue;
        const void *blob = sqlite3_column_blob(st, sums[i].col);
        if (!sum_may_contain(blob, sqlite3_column_bytes(st, sums[i].col), sums[i].id))
            return false;
    }
    return true;
}

/* Reads the current row of an EVENT_SELECT statement. */
void store_row_read(sqlite3_stmt *st, struct store_row *row)
{
    *row = (struct store_row){
        .id = sqlite3_column_int64(st, 0),
        .seq = (uint64_t)sqlite3_column_int64(st, 1),
        .epoch = (uint64_t)sqlite3_column_int64(st, 2),
        .time_ns = sqlite3_column_int64(st, 3),
        .recv_ns = sqlite3_column_int64(st, 4),
        .kind = sqlite3_column_int(st, 5),
        .severity = sqlite3_column_int(st, 6),
        .agent_id = col_text(st, 7),
        .hostname = col_text(st, 8),
        .container_id = col_text(st, 9),
    };
    row->body = sqlite3_column_blob(st, 10);
    row->body_len = (size_t)sqlite3_column_bytes(st, 10);
}

/* Scans ids lo..hi newest first with the exact filters, calling fn for up to
 * *left rows; returns 0, fn's non-zero value or BW_EIO. */
static int reader_scan(struct store_reader *r, const struct store_query *q,
                       const struct query_filter *f, int64_t lo, int64_t hi, uint32_t *left,
                       store_row_fn fn, void *ctx)
{
    /* With a rule, the evidence links drive the scan (rowid lookups). */
    sqlite3_stmt *st = r->st[q->rule ? R_SCAN_RULE : R_SCAN];
    int rc = 0, step = SQLITE_DONE;
    if (sqlite3_bind_int64(st, 1, lo) || sqlite3_bind_int64(st, 2, hi) ||
        sqlite3_bind_int64(st, 3, q->since_ns) || sqlite3_bind_int64(st, 4, q->until_ns) ||
        sqlite3_bind_int64(st, 5, f->agent) || sqlite3_bind_int64(st, 6, f->host) ||
        sqlite3_bind_int64(st, 7, f->container) || sqlite3_bind_int(st, 8, q->kind) ||
        sqlite3_bind_int64(st, 9, *left) || sqlite3_bind_int(st, 10, q->min_severity) ||
        bind_text(st, 11, q->image) || (q->rule && bind_text(st, 12, q->rule)))
        return BW_EIO;
    while (*left > 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_row row;
        store_row_read(st, &row);
        (*left)--;
        if ((rc = fn(&row, ctx)) != 0)
            goto out;
    }
    if (*left > 0 && step != SQLITE_DONE)
        rc = BW_EIO;
out:
    sqlite3_reset(st);
    return rc;
}

/* Rows with id > q->after_id, oldest first, with the exact filters: a
 * rowid range scan (export reads everything in order; filters are rare). */
static int reader_scan_after(struct store_reader *r, const struct store_query *q,
                             const struct query_filter *f, store_row_fn fn, void *ctx)
{
    sqlite3_stmt *st = r->st[R_EVENTS_AFTER];

    if (sqlite3_bind_int64(st, 1, q->after_id) || sqlite3_bind_int64(st, 3, q->since_ns) ||
        sqlite3_bind_int64(st, 4, q->until_ns) || sqlite3_bind_int64(st, 5, f->agent) ||
        sqlite3_bind_int64(st, 6, f->host) || sqlite3_bind_int64(st, 7, f->container) ||
        sqlite3_bind_int(st, 8, q->kind) || sqlite3_bind_int64(st, 9, q->limit) ||
        sqlite3_bind_int(st, 10, q->min_severity) || bind_text(st, 11, q->image) ||
        bind_text(st, 12, q->rule))
        return BW_EIO;
    return store_event_rows(st, fn, ctx);
}

int store_step_rows(sqlite3_stmt *st, store_emit_fn emit, void *fn, void *ctx)
{
    int rc = 0, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = emit(st, fn, ctx)) != 0)
            break;
    if (rc == 0 && step != SQLITE_DONE)
        rc = BW_EIO;
    sqlite3_reset(st);
    return rc;
}

static int event_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_row row;
    store_row_read(st, &row);
    return ((store_row_fn)fn)(&row, ctx);
}

int store_event_rows(sqlite3_stmt *st, store_row_fn fn, void *ctx)
{
    return store_step_rows(st, event_emit, (void *)fn, ctx);
}

/* Resolves the name filters to dimension ids; *none when a named agent,
 * host or container does not exist (no row can match). */
static int reader_filter(struct store_reader *r, const struct store_query *q,
                         struct query_filter *f, bool *none)
{
    const struct {
        enum rstmt st;
        const char *key;
        int64_t *id;
    } dims[3] = {{R_AGENT_ID, q->agent_id, &f->agent},
                 {R_HOST_ID, q->hostname, &f->host},
                 {R_CONT_ID, q->container_id, &f->container}};
    int64_t cont_host = 0;

    *f = (struct query_filter){-1, -1, -1};
    *none = false;
    for (int i = 0; i < 3; i++) {
        if (!dims[i].key)
            continue;
        if (dims[i].st == R_CONT_ID && !*dims[i].key) {
            *dims[i].id = 0;  /* "" = host events */
            continue;
        }
        int rc = reader_dim(r, dims[i].st, dims[i].key, dims[i].id,
                            dims[i].st == R_CONT_ID ? &cont_host : NULL);
        if (rc < 0)
            return rc;
        if (*dims[i].id == 0)
            *none = true;
    }
    /* A container lives on one host: its host's summaries prune chunks far
     * better than a container bitset, which saturates with thousands of
     * containers in a chunk (0: a container stored before schema 3). */
    if (f->container > 0 && f->host < 0 && cont_host > 0)
        f->host = cont_host;
    return 0;
}

int store_query_events(struct store_reader *r, const struct store_query *q, store_row_fn fn,
                       void *ctx)
{
    struct query_filter f;
    sqlite3_stmt *chunks = NULL;
    int64_t hi, last_id;
    uint32_t left;
    bool none;
    int rc, step = SQLITE_DONE;

    if (!r || !q || !fn || q->limit == 0 || q->limit > STORE_QUERY_MAX_LIMIT ||
        q->before_id < 0 || q->after_id < 0)
        return BW_EINVAL;
    /* One read transaction: one snapshot for the chunk walk and the scans. */
    if (sql_exec(r->st[R_BEGIN]) < 0)
        return BW_EIO;
    if ((rc = reader_filter(r, q, &f, &none)) < 0 || none)
        goto out;
    if (q->ascending) {
        rc = reader_scan_after(r, q, &f, fn, ctx);
        goto out;
    }
    if (q->rule) {
        /* Evidence links are few: one lookup-driven scan, no chunk walk. */
        left = q->limit;
        rc = reader_scan(r, q, &f, 1, q->before_id > 0 ? q->before_id - 1 : INT64_MAX, &left,
                         fn, ctx);
        goto out;
    }
    hi = q->before_id > 0 ? q->before_id - 1 : INT64_MAX;
    left = q->limit;
    if ((rc = sql_int(r->st[R_LAST_CHUNK], &last_id)) < 0)
        goto out;
    /* Rows past the last summarised chunk are always candidates. */
    if (hi > last_id && ((rc = reader_scan(r, q, &f, last_id + 1, hi, &left, fn, ctx)) != 0 ||
                         left == 0))
        goto out;
    chunks = r->st[R_CHUNKS];
    if (sqlite3_bind_int64(chunks, 1, hi) != SQLITE_OK) {
        rc = BW_EIO;
        goto out;
    }
    while (left > 0 && (step = sqlite3_step(chunks)) == SQLITE_ROW) {
        if (!chunk_may_match(chunks, q, &f))
            continue;
        int64_t lo = sqlite3_column_int64(chunks, 0), end = sqlite3_column_int64(chunks, 1);
        if ((rc = reader_scan(r, q, &f, lo, end < hi ? end : hi, &left, fn, ctx)) != 0)
            goto out;
    }
    if (left > 0 && step != SQLITE_DONE)
        rc = BW_EIO;
out:
    if (chunks)
        sqlite3_reset(chunks);
    if (sql_exec(r->st[R_COMMIT]) < 0 && rc == 0)
        rc = BW_EIO;
    return rc;
}

int store_count_events(struct store_reader *r, uint64_t *out)
{
    int64_t summed, last_id, tail;
    int rc;

    if (!r || !out)
        return BW_EINVAL;
    if (sql_exec(r->st[R_BEGIN]) < 0)
        return BW_EIO;
    if ((rc = sql_int(r->st[R_SUM_ROWS], &summed)) < 0 ||
        (rc = sql_int(r->st[R_LAST_CHUNK], &last_id)) < 0 ||
        (rc = sqlite3_bind_int64(r->st[R_COUNT_TAIL], 1, last_id) ? BW_EIO : 0) < 0 ||
        (rc = sql_int(r->st[R_COUNT_TAIL], &tail)) < 0)
        goto out;
    *out = (uint64_t)(summed + tail);
out:
    if (sql_exec(r->st[R_COMMIT]) < 0 && rc == 0)
        rc = BW_EIO;
    return rc;
}
