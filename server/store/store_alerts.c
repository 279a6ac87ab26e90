/* store_alerts.c - the alerts of the store (include/bulwark/store.h): raising
 * one inside the events' transaction (suppression by rule and group key, the
 * open-alert cache, evidence links resolved through the writer's ring of
 * recent id runs), the named detector-state blobs, and the reader's alert
 * queries (listing, evidence events, count). Shares store_internal.h with
 * store_sqlite.c and store_query.c. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "store_internal.h"

#define STORE_ALERT_KEY_MAX 4096u              /* rule + group_key bytes */

/* ---------------------------------------------------------------- alerts */

/* Binds s, or NULL when it is NULL or empty (absent columns stay NULL). */
static int bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    return v && *v ? bind_text(st, i, v) : sqlite3_bind_null(st, i);
}

/* |a - b| as an unsigned distance, without overflow. */
static uint64_t time_dist(int64_t a, int64_t b)
{
    return a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
}

/* The open-alert map key: rule NUL group_key NUL retrospective. */
static int alert_key(const struct store_alert *a, uint8_t *key, size_t *klen)
{
    const char *g = a->group_key ? a->group_key : "";
    size_t rl = strlen(a->rule), gl = strlen(g);
    if (rl + gl > STORE_ALERT_KEY_MAX)
        return BW_ETOOBIG;
    memcpy(key, a->rule, rl);
    key[rl] = 0;
    memcpy(key + rl + 1, g, gl);
    key[rl + 1 + gl] = 0;
    key[rl + gl + 2] = a->retrospective;
    *klen = rl + gl + 3;
    return 0;
}

/* The latest alert of the key: the map, else the table (cached when
 * found). *out NULL when there is none. */
static int alert_find(struct store *s, const struct store_alert *a, const uint8_t *key,
                      size_t klen, struct map_entry **out)
{
    struct map_entry *e = store_map_find(&s->alerts, key, klen);
    if (e) {
        *out = e;
        return 0;
    }
    sqlite3_stmt *st = s->st[W_ALERT_FIND];
    if (bind_text(st, 1, a->rule) || bind_text(st, 2, a->group_key ? a->group_key : "") ||
        sqlite3_bind_int(st, 3, a->retrospective))
        return BW_EIO;
    int rc = sqlite3_step(st);
    struct map_entry v = {0};
    if (rc == SQLITE_ROW) {
        v.id = sqlite3_column_int64(st, 0);
        v.prio = sqlite3_column_int(st, 1);
        v.seen = sqlite3_column_int64(st, 2);
        int64_t count = sqlite3_column_int64(st, 3);
        v.count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count;
        v.n_ev = (uint32_t)sqlite3_column_int64(st, 4);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return BW_EIO;
    *out = NULL;
    if (rc == SQLITE_ROW) {
        if (!(e = store_map_add(&s->alerts, key, klen)))
            return BW_ENOMEM;
        e->id = v.id;
        e->prio = v.prio;
        e->seen = v.seen;
        e->count = v.count;
        e->n_ev = v.n_ev;
        *out = e;
    }
    return 0;
}

/* Links the alert to a's evidence while it has fewer than the maximum;
 * *added counts the new links (a repeated link is not stored twice). */
static int alert_link(struct store *s, int64_t alert_id, const struct store_alert *a,
                      uint32_t have, uint32_t *added)
{
    sqlite3_stmt *st = s->st[W_EVID_ADD];
    *added = 0;
    for (size_t i = 0; i < a->n_evidence && have + *added < STORE_ALERT_EVIDENCE_MAX; i++) {
        const struct store_evidence *ev = &a->evidence[i];
        int64_t agent, id;
        /* now = 0: an agent known only from evidence gets a row, a known one
         * is not touched. */
        int rc = store_dim_ensure(s, DIM_AGENT, ev->agent_id, 0, NULL, &agent);
        if (rc < 0)
            return rc;
        id = store_range_lookup(s, agent, ev->epoch, ev->seq);
        if (sqlite3_bind_int64(st, 1, alert_id) || sqlite3_bind_int64(st, 2, agent) ||
            sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->epoch) ||
            sqlite3_bind_int64(st, 4, (sqlite3_int64)ev->seq) ||
            (id ? sqlite3_bind_int64(st, 5, id) : sqlite3_bind_null(st, 5)) ||
            sql_exec(st) < 0)
            return BW_EIO;
        *added += (uint32_t)sqlite3_changes(s->db);
    }
    return 0;
}

static int alert_check(const struct store_alert *a, int64_t suppression_ns)
{
    if (!a->rule || !*a->rule || !a->source || !*a->source || suppression_ns < 0 ||
        (a->n_evidence > 0 && !a->evidence))
        return BW_EINVAL;
    for (size_t i = 0; i < a->n_evidence; i++)
        if (!a->evidence[i].agent_id || !*a->evidence[i].agent_id)
            return BW_EINVAL;
    return 0;
}

/* Records a repeat of alert e: one pending bump per alert per transaction. */
static int alert_bump(struct store *s, struct map_entry *e, uint32_t count, int64_t t)
{
    struct alert_bump *b;

    if (e->bump_gen == s->txn_gen && s->bumps[e->bump_idx].id == e->id) {
        b = &s->bumps[e->bump_idx];
    } else {
        if (s->n_bumps == s->cap_bumps) {
            size_t cap = s->cap_bumps ? s->cap_bumps * 2 : 256;
            struct alert_bump *p = realloc(s->bumps, cap * sizeof *p);
            if (!p)
                return BW_ENOMEM;
            s->bumps = p;
            s->cap_bumps = cap;
        }
        b = &s->bumps[s->n_bumps];
        *b = (struct alert_bump){.id = e->id, .lo = t, .hi = t};
        e->bump_gen = s->txn_gen;
        e->bump_idx = (uint32_t)s->n_bumps++;
    }
    b->count = count;
    if (t < b->lo)
        b->lo = t;
    if (t > b->hi)
        b->hi = t;
    return 0;
}

int store_alert_flush(struct store *s)
{
    sqlite3_stmt *st = s->st[W_ALERT_BUMP];

    for (size_t i = 0; i < s->n_bumps; i++) {
        const struct alert_bump *b = &s->bumps[i];
        if (sqlite3_bind_int64(st, 1, b->id) || sqlite3_bind_int64(st, 2, b->count) ||
            sqlite3_bind_int64(st, 3, b->hi) || sqlite3_bind_int64(st, 4, b->lo) ||
            sql_exec(st) < 0)
            return BW_EIO;
    }
    s->n_bumps = 0;
    return 0;
}

int store_alert_raise(struct store *s, const struct store_alert *a, int64_t suppression_ns,
                      struct store_alert_result *res)
{
    uint8_t key[STORE_ALERT_KEY_MAX + 3];
    struct map_entry *e;
    size_t klen;
    uint32_t added;
    int rc;

    if (!s || !a || !res || !s->in_txn)
        return BW_EINVAL;
    if (s->txn_failed)
        return BW_EIO;
    if ((rc = alert_check(a, suppression_ns)) < 0 || (rc = alert_key(a, key, &klen)) < 0)
        return rc;
    /* Every raise and repeat is a hit in the stats rollup. */
    if ((rc = store_rollup_alert(s, a)) < 0 || (rc = alert_find(s, a, key, klen, &e)) < 0)
        goto out;
    if (e && a->priority <= e->prio &&
        time_dist(a->time_ns, e->seen) <= (uint64_t)suppression_ns) {
        /* A repeat: count it on the latest alert of the group, in memory
         * until the commit writes it (store_alert_flush). */
        uint32_t count = e->count < UINT32_MAX ? e->count + 1 : e->count;
        int64_t id = e->id;
        if ((rc = alert_bump(s, e, count, a->time_ns)) < 0)
            goto out;
        e->count = count;
        if (a->time_ns > e->seen)
            e->seen = a->time_ns;
        if ((rc = alert_link(s, id, a, e->n_ev, &added)) < 0)
            goto out;
        /* alert_link may add agent rows but never touches this map. */
        e->n_ev += added;
        *res = (struct store_alert_result){.alert_id = id, .raised = false, .count = count};
        goto out;
    }
    sqlite3_stmt *st = s->st[W_ALERT_ADD];
    if (bind_text(st, 1, a->rule) || sqlite3_bind_int(st, 2, a->priority) ||
        bind_text(st, 3, a->output ? a->output : "") || bind_text(st, 4, a->source) ||
        bind_text(st, 5, a->group_key ? a->group_key : "") || bind_opt(st, 6, a->agent_id) ||
        bind_opt(st, 7, a->hostname) || bind_opt(st, 8, a->container_id) ||
        bind_opt(st, 9, a->image) || bind_opt(st, 10, a->tags_json) ||
        sqlite3_bind_int64(st, 11, a->time_ns) || sqlite3_bind_int(st, 12, a->retrospective) ||
        sql_exec(st) < 0) {
        rc = BW_EIO;
        goto out;
    }
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if ((rc = alert_link(s, id, a, 0, &added)) < 0)
        goto out;
    if (!(e = store_map_find(&s->alerts, key, klen)) &&
        !(e = store_map_add(&s->alerts, key, klen))) {
        rc = BW_ENOMEM;
        goto out;
    }
    e->id = id;
    e->prio = a->priority;
    e->seen = a->time_ns;
    e->count = 1;
    e->bump_gen = 0;  /* a bump pending for the group's previous alert stays its own */
    e->n_ev = added;
    *res = (struct store_alert_result){.alert_id = id, .raised = true, .count = 1};
out:
    if (rc < 0)
        s->txn_failed = true;
    return rc;
}

int store_state_put(struct store *s, const char *key, const uint8_t *p, size_t n)
{
    if (!s || !key || !*key || (n > 0 && !p) || !s->in_txn)
        return BW_EINVAL;
    if (n > INT_MAX)
        return BW_ETOOBIG;
    if (s->txn_failed)
        return BW_EIO;
    sqlite3_stmt *st = s->st[W_STATE_PUT];
    int rc = bind_text(st, 1, key) |
             (n ? sqlite3_bind_blob(st, 2, p, (int)n, SQLITE_STATIC)
                : sqlite3_bind_zeroblob(st, 2, 0));
    if (rc != SQLITE_OK || sql_exec(st) < 0) {
        s->txn_failed = true;
        return BW_EIO;
    }
    return 0;
}

int store_state_get(struct store *s, const char *key, struct buf *out)
{
    if (!s || !key || !*key || !out)
        return BW_EINVAL;
    sqlite3_stmt *st = s->st[W_STATE_GET];
    if (bind_text(st, 1, key) != SQLITE_OK)
        return BW_EIO;
    int step = sqlite3_step(st), rc;
    if (step == SQLITE_ROW)
        rc = buf_append(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    else
        rc = step == SQLITE_DONE ? BW_ENOTFOUND : BW_EIO;
    sqlite3_reset(st);
    return rc;
}

/* ------------------------------------------------------- reading alerts */

void store_alert_row_read(sqlite3_stmt *st, struct store_alert_row *row)
{
    int64_t count = sqlite3_column_int64(st, 13);
    *row = (struct store_alert_row){
        .id = sqlite3_column_int64(st, 0),
        .rule = col_text(st, 1),
        .priority = sqlite3_column_int(st, 2),
        .output = col_text(st, 3),
        .source = col_text(st, 4),
        .group_key = col_text(st, 5),
        .agent_id = col_text(st, 6),
        .hostname = col_text(st, 7),
        .container_id = col_text(st, 8),
        .image = col_text(st, 9),
        .tags_json = (const char *)sqlite3_column_text(st, 10),
        .first_seen_ns = sqlite3_column_int64(st, 11),
        .last_seen_ns = sqlite3_column_int64(st, 12),
        .count = count > UINT32_MAX ? UINT32_MAX : (uint32_t)count,
        .retrospective = sqlite3_column_int(st, 14) != 0,
        .n_evidence = (size_t)sqlite3_column_int64(st, 15),
        .status = col_text(st, 16),
        .status_note = col_text(st, 17),
        .status_by = col_text(st, 18),
        .status_ns = sqlite3_column_int64(st, 19),
    };
}

static int alert_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_alert_row row;
    store_alert_row_read(st, &row);
    return ((store_alert_fn)fn)(&row, ctx);
}

/* A single statement is its own read transaction. */
int store_alert_rows(sqlite3_stmt *st, store_alert_fn fn, void *ctx)
{
    return store_step_rows(st, alert_emit, (void *)fn, ctx);
}

int store_query_alerts(struct store_reader *r, const struct store_alert_query *q,
                       store_alert_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    if (!r || !q || !fn || q->limit == 0 || q->limit > STORE_QUERY_MAX_LIMIT ||
        q->before_id < 0 || q->after_id < 0)
        return BW_EINVAL;
    if (q->ascending) {
        st = r->st[R_ALERTS_AFTER];
        if (sqlite3_bind_int64(st, 1, q->after_id) || sqlite3_bind_int64(st, 2, q->limit) ||
            sqlite3_bind_int(st, 3, q->min_priority) || bind_text(st, 4, q->status))
            return BW_EIO;
        return store_alert_rows(st, fn, ctx);
    }
    st = r->st[R_ALERTS];
    if (sqlite3_bind_int64(st, 1, q->before_id > 0 ? q->before_id - 1 : INT64_MAX) ||
        sqlite3_bind_int64(st, 2, q->since_ns) || sqlite3_bind_int64(st, 3, q->until_ns) ||
        bind_text(st, 4, q->rule) || bind_text(st, 5, q->hostname) ||
        bind_text(st, 6, q->container_id) || sqlite3_bind_int(st, 7, q->min_priority) ||
        sqlite3_bind_int64(st, 8, q->limit) || bind_text(st, 9, q->status))
        return BW_EIO;
    return store_alert_rows(st, fn, ctx);
}

/* Looks for (agent, epoch, seq) among rows lo..hi; *found when it is there
 * (the row is then read into *row, valid until R_EVENT_FIND is reset). */
static int evidence_scan(struct store_reader *r, int64_t lo, int64_t hi, int64_t agent,
                         uint64_t epoch, uint64_t seq, bool *found)
{
    sqlite3_stmt *st = r->st[R_EVENT_FIND];
    sqlite3_reset(st);
    if (sqlite3_bind_int64(st, 1, lo) || sqlite3_bind_int64(st, 2, hi) ||
        sqlite3_bind_int64(st, 3, agent) || sqlite3_bind_int64(st, 4, (sqlite3_int64)epoch) ||
        sqlite3_bind_int64(st, 5, (sqlite3_int64)seq))
        return BW_EIO;
    int step = sqlite3_step(st);
    *found = step == SQLITE_ROW;
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : BW_EIO;
}

/* Finds an event with no recorded id: the tail, then each chunk whose agent
 * summary may hold the agent, newest first. On success with *found, the row
 * is the current one of R_EVENT_FIND. */
static int evidence_search(struct store_reader *r, int64_t agent, uint64_t epoch, uint64_t seq,
                           bool *found)
{
    sqlite3_stmt *chunks = r->st[R_CHUNKS];
    int64_t last_id;
    int rc, step = SQLITE_DONE;

    *found = false;
    if ((rc = sql_int(r->st[R_LAST_CHUNK], &last_id)) < 0 ||
        (rc = evidence_scan(r, last_id + 1, INT64_MAX, agent, epoch, seq, found)) < 0 || *found)
        return rc;
    if (sqlite3_bind_int64(chunks, 1, INT64_MAX) != SQLITE_OK)
        return BW_EIO;
    while (!*found && (step = sqlite3_step(chunks)) == SQLITE_ROW) {
        if (!sum_may_contain(sqlite3_column_blob(chunks, 7), sqlite3_column_bytes(chunks, 7),
                             agent))
            continue;
        rc = evidence_scan(r, sqlite3_column_int64(chunks, 0), sqlite3_column_int64(chunks, 1),
                           agent, epoch, seq, found);
        if (rc < 0)
            break;
    }
    if (rc == 0 && !*found && step != SQLITE_DONE)
        rc = BW_EIO;
    sqlite3_reset(chunks);
    return rc;
}

/* Calls fn for one evidence link (the current row of R_EVID_LIST). */
static int evidence_one(struct store_reader *r, store_row_fn fn, void *ctx)
{
    sqlite3_stmt *list = r->st[R_EVID_LIST], *get = r->st[R_EVENT_GET];
    int64_t agent = sqlite3_column_int64(list, 0), id = sqlite3_column_int64(list, 4);
    uint64_t epoch = (uint64_t)sqlite3_column_int64(list, 2);
    uint64_t seq = (uint64_t)sqlite3_column_int64(list, 3);
    struct store_row row = {.agent_id = col_text(list, 1), .epoch = epoch, .seq = seq};
    bool found = false;
    int rc = 0;

    if (id > 0) {
        if (sqlite3_bind_int64(get, 1, id) || sqlite3_bind_int64(get, 2, agent) ||
            sqlite3_bind_int64(get, 3, (sqlite3_int64)epoch) ||
            sqlite3_bind_int64(get, 4, (sqlite3_int64)seq)) {
            rc = BW_EIO;
            goto out;
        }
        int step = sqlite3_step(get);
        if (step == SQLITE_ROW)
            store_row_read(get, &row);
        else if (step != SQLITE_DONE)
            rc = BW_EIO;
    } else {
        if ((rc = evidence_search(r, agent, epoch, seq, &found)) < 0)
            goto out;
        if (found)
            store_row_read(r->st[R_EVENT_FIND], &row);
    }
    if (rc == 0)
        rc = fn(&row, ctx);
out:
    sqlite3_reset(get);
    sqlite3_reset(r->st[R_EVENT_FIND]);
    return rc;
}

int store_alert_evidence(struct store_reader *r, int64_t alert_id, store_row_fn fn, void *ctx)
{
    sqlite3_stmt *list;
    int rc = 0, step = SQLITE_DONE;

    if (!r || !fn)
        return BW_EINVAL;
    if (sql_exec(r->st[R_BEGIN]) < 0)
        return BW_EIO;
    list = r->st[R_EVID_LIST];
    if (sqlite3_bind_int64(list, 1, alert_id) != SQLITE_OK) {
        rc = BW_EIO;
        goto out;
    }
    while ((step = sqlite3_step(list)) == SQLITE_ROW)
        if ((rc = evidence_one(r, fn, ctx)) != 0)
            goto out;
    if (step != SQLITE_DONE)
        rc = BW_EIO;
out:
    sqlite3_reset(list);
    if (sql_exec(r->st[R_COMMIT]) < 0 && rc == 0)
        rc = BW_EIO;
    return rc;
}

int store_count_alerts(struct store_reader *r, uint64_t *out)
{
    int64_t n;
    if (!r || !out)
        return BW_EINVAL;
    if (sql_int(r->st[R_ALERT_COUNT], &n) < 0)
        return BW_EIO;
    *out = (uint64_t)n;
    return 0;
}
