/* store_api.c - what the REST API reads and owns in the store
 * (include/bulwark/store.h): lookups by id, the agents list, tokens, and
 * struct store_admin, the read-write connection for the tables the API owns
 * (api_tokens, alert status, audit, forwarding cursors). Every change a
 * user makes through store_admin is one short transaction that also appends
 * its audit record; a forwarder's cursor advance is one short transaction
 * of its own (machine bookkeeping, not audited). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bulwark/err.h"
#include "store_internal.h"

/* The API's reader statements (prepared with the reader's own). */
const char *const store_api_rsql[R_API_COUNT - R_CORE_COUNT] = {
    [R_EVENT_BY_ID - R_CORE_COUNT] = EVENT_SELECT " WHERE e.id = ?1",
    /* Numbered as R_SCAN's parameters (?2 is not used). */
    [R_EVENTS_AFTER - R_CORE_COUNT] =
        EVENT_SELECT " WHERE e.id > ?1"
                     " AND (?3 = 0 OR e.time_ns >= ?3) AND (?4 = 0 OR e.time_ns < ?4)"
                     " AND (?5 < 0 OR e.agent = ?5) AND (?6 < 0 OR e.host = ?6)"
                     " AND (?7 < 0 OR e.container = ?7) AND (?8 = 0 OR e.kind = ?8)"
                     " AND e.severity >= ?10"
                     " AND (?11 IS NULL OR e.container IN"
                     "      (SELECT id FROM containers WHERE image = ?11))"
                     " AND (?12 IS NULL OR e.id IN (SELECT v.event_id FROM alert_evidence AS v"
                     "      JOIN alerts AS a ON a.id = v.alert_id WHERE a.rule = ?12))"
                     " ORDER BY e.id LIMIT ?9",
    /* Events that are evidence of the rule's alerts, newest first, with
     * R_SCAN's parameters: the IN list drives rowid lookups. */
    [R_SCAN_RULE - R_CORE_COUNT] =
        EVENT_SELECT " WHERE e.id IN (SELECT v.event_id FROM alert_evidence AS v"
                     "  JOIN alerts AS a ON a.id = v.alert_id WHERE a.rule = ?12)"
                     " AND e.id BETWEEN ?1 AND ?2"
                     " AND (?3 = 0 OR e.time_ns >= ?3) AND (?4 = 0 OR e.time_ns < ?4)"
                     " AND (?5 < 0 OR e.agent = ?5) AND (?6 < 0 OR e.host = ?6)"
                     " AND (?7 < 0 OR e.container = ?7) AND (?8 = 0 OR e.kind = ?8)"
                     " AND e.severity >= ?10"
                     " AND (?11 IS NULL OR e.container IN"
                     "      (SELECT id FROM containers WHERE image = ?11))"
                     " ORDER BY e.id DESC LIMIT ?9",
    [R_ALERT_BY_ID - R_CORE_COUNT] = ALERT_SELECT " WHERE id = ?1",
    [R_ALERTS_AFTER - R_CORE_COUNT] = ALERT_SELECT
    " WHERE id > ?1 AND priority >= ?3 AND (?4 IS NULL OR status = ?4) ORDER BY id LIMIT ?2",
    [R_AGENTS - R_CORE_COUNT] =
        "SELECT agent_id, hostname, version, labels, health, first_seen, last_seen,"
        " coalesce(health_at, 0) FROM agents WHERE agent_id > ?1 ORDER BY agent_id LIMIT ?2",
    [R_TOKEN_GET - R_CORE_COUNT] =
        "SELECT id, name, role, secret_hash, created_at, coalesce(revoked_at, 0)"
        " FROM api_tokens WHERE id = ?1",
    [R_RULE_HITS - R_CORE_COUNT] =
        "SELECT rule, count(*), sum(count), max(last_seen),"
        " sum(CASE WHEN status = 'open' THEN 1 ELSE 0 END) FROM alerts GROUP BY rule",
};

static int rule_hits_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_rule_hits h = {
        .rule = col_text(st, 0),
        .alerts = (uint64_t)sqlite3_column_int64(st, 1),
        .hits = (uint64_t)sqlite3_column_int64(st, 2),
        .last_ns = sqlite3_column_int64(st, 3),
        .open = (uint64_t)sqlite3_column_int64(st, 4),
    };
    return ((store_rule_hits_fn)fn)(&h, ctx);
}

int store_rule_hits(struct store_reader *r, store_rule_hits_fn fn, void *ctx)
{
    if (!r || !fn)
        return BW_EINVAL;
    return store_step_rows(r->st[R_RULE_HITS], rule_hits_emit, (void *)fn, ctx);
}

int store_event_get(struct store_reader *r, int64_t id, store_row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    struct store_row row;
    int rc, step;

    if (!r || !fn || id <= 0)
        return BW_EINVAL;
    st = r->st[R_EVENT_BY_ID];
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return BW_EIO;
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        store_row_read(st, &row);
        rc = fn(&row, ctx);
    } else {
        rc = step == SQLITE_DONE ? BW_ENOTFOUND : BW_EIO;
    }
    sqlite3_reset(st);
    return rc;
}

struct found {
    store_alert_fn fn;
    void *ctx;
    bool any;
};

static int on_one_alert(const struct store_alert_row *row, void *ctx)
{
    struct found *f = ctx;
    f->any = true;
    return f->fn(row, f->ctx);
}

int store_alert_get(struct store_reader *r, int64_t id, store_alert_fn fn, void *ctx)
{
    struct found f = {fn, ctx, false};
    sqlite3_stmt *st;
    int rc;

    if (!r || !fn || id <= 0)
        return BW_EINVAL;
    st = r->st[R_ALERT_BY_ID];
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return BW_EIO;
    rc = store_alert_rows(st, on_one_alert, &f);
    return rc == 0 && !f.any ? BW_ENOTFOUND : rc;
}

static int agent_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_agent_row row = {
        .agent_id = col_text(st, 0),
        .hostname = col_text(st, 1),
        .version = col_text(st, 2),
        .labels_json = (const char *)sqlite3_column_text(st, 3),
        .health_json = (const char *)sqlite3_column_text(st, 4),
        .first_seen_ns = sqlite3_column_int64(st, 5),
        .last_seen_ns = sqlite3_column_int64(st, 6),
        .health_ns = sqlite3_column_int64(st, 7),
    };
    return ((store_agent_fn)fn)(&row, ctx);
}

int store_agents_list(struct store_reader *r, const char *after, uint32_t limit,
                      store_agent_fn fn, void *ctx)
{
    sqlite3_stmt *st;

    if (!r || !fn || limit == 0 || limit > STORE_QUERY_MAX_LIMIT)
        return BW_EINVAL;
    st = r->st[R_AGENTS];
    if (bind_text(st, 1, after ? after : "") || sqlite3_bind_int64(st, 2, limit))
        return BW_EIO;
    return store_step_rows(st, agent_emit, (void *)fn, ctx);
}

/* Reads a token row (R_TOKEN_GET / A_TOKEN_LIST columns). */
static void token_read(sqlite3_stmt *st, struct store_token *t)
{
    const void *h = sqlite3_column_blob(st, 3);

    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", col_text(st, 0));
    snprintf(t->name, sizeof t->name, "%s", col_text(st, 1));
    snprintf(t->role, sizeof t->role, "%s", col_text(st, 2));
    if (h && sqlite3_column_bytes(st, 3) == STORE_TOKEN_HASH_LEN)
        memcpy(t->secret_hash, h, STORE_TOKEN_HASH_LEN);
    t->created_ns = sqlite3_column_int64(st, 4);
    t->revoked_ns = sqlite3_column_int64(st, 5);
}

int store_token_get(struct store_reader *r, const char *id, struct store_token *out)
{
    sqlite3_stmt *st;
    int step;

    if (!r || !id || !out)
        return BW_EINVAL;
    st = r->st[R_TOKEN_GET];
    if (bind_text(st, 1, id) != SQLITE_OK)
        return BW_EIO;
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        token_read(st, out);
    sqlite3_reset(st);
    return step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? BW_ENOTFOUND : BW_EIO;
}

/* ------------------------------------------------------------ the admin */

#define ETOKEN_SELECT                                                              \
    "SELECT id, name, secret_hash, max_uses, uses, expires_at, created_at,"       \
    " coalesce(revoked_at, 0) FROM enroll_tokens"

enum astmt {
    A_BEGIN,
    A_COMMIT,
    A_ROLLBACK,
    A_TOKEN_ADD,
    A_TOKEN_REVOKE,
    A_TOKEN_EXISTS,
    A_TOKEN_LIST,
    A_ALERT_STATUS,
    A_AUDIT_ADD,
    A_AUDIT_LIST,
    A_CURSOR_GET,
    A_CURSOR_PUT,
    A_ETOKEN_ADD,
    A_ETOKEN_REVOKE,
    A_ETOKEN_LIST,
    A_ETOKEN_GET,
    A_ETOKEN_USE,
    A_AGENT_REVOKE,
    A_REVOKED_SINCE,
    A_COUNT
};

static const char *const asql[A_COUNT] = {
    [A_BEGIN] = "BEGIN IMMEDIATE",
    [A_COMMIT] = "COMMIT",
    [A_ROLLBACK] = "ROLLBACK",
    [A_TOKEN_ADD] = "INSERT INTO api_tokens (id, name, role, secret_hash, created_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
    [A_TOKEN_REVOKE] = "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?2)"
                       " WHERE id = ?1",
    [A_TOKEN_EXISTS] = "SELECT count(*) FROM api_tokens WHERE id = ?1",
    [A_TOKEN_LIST] = "SELECT id, name, role, secret_hash, created_at, coalesce(revoked_at, 0)"
                     " FROM api_tokens ORDER BY created_at, id",
    [A_ALERT_STATUS] = "UPDATE alerts SET status = ?2, status_note = ?3, status_by = ?4,"
                       " status_at = ?5 WHERE id = ?1",
    [A_AUDIT_ADD] = "INSERT INTO audit (at, actor, action, target, detail)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
    [A_AUDIT_LIST] = "SELECT id, at, actor, action, target, coalesce(detail, '') FROM audit"
                     " WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    [A_CURSOR_GET] = "SELECT last_id FROM forward_cursors WHERE dest = ?1 AND stream = ?2",
    [A_CURSOR_PUT] = "INSERT INTO forward_cursors (dest, stream, last_id, updated_at)"
                     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (dest, stream) DO UPDATE"
                     " SET last_id = max(last_id, excluded.last_id),"
                     " updated_at = excluded.updated_at",
    [A_ETOKEN_ADD] = "INSERT INTO enroll_tokens (id, name, secret_hash, max_uses, expires_at,"
                     " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [A_ETOKEN_REVOKE] = "UPDATE enroll_tokens SET revoked_at = coalesce(revoked_at, ?2)"
                        " WHERE id = ?1",
    [A_ETOKEN_LIST] = ETOKEN_SELECT " ORDER BY created_at, id",
    [A_ETOKEN_GET] = ETOKEN_SELECT " WHERE id = ?1",
    [A_ETOKEN_USE] = "UPDATE enroll_tokens SET uses = uses + 1 WHERE id = ?1",
    [A_AGENT_REVOKE] = "INSERT INTO agent_revocations (agent_id, revoked_at) VALUES (?1, ?2)"
                       " ON CONFLICT (agent_id) DO NOTHING",
    [A_REVOKED_SINCE] = "SELECT rowid, agent_id FROM agent_revocations WHERE rowid > ?1"
                        " ORDER BY rowid",
};

struct store_admin {
    sqlite3 *db;
    pthread_mutex_t mu;  /* one statement set, many API threads */
    sqlite3_stmt *st[A_COUNT];
};

int store_admin_open(struct store_admin **out, const char *path, char *err, size_t errlen)
{
    struct store_admin *a;
    int rc = BW_EIO;

    if (!out || !path || !*path) {
        store_set_err(err, errlen, "store path missing");
        return BW_EINVAL;
    }
    if (!(a = calloc(1, sizeof *a))) {
        store_set_err(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    pthread_mutex_init(&a->mu, NULL);
    if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        store_set_err(err, errlen, "open '%s': %s", path,
                      a->db ? sqlite3_errmsg(a->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(a->db, STORE_BUSY_MS);
    if (sqlite3_exec(a->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
        store_set_err(err, errlen, "set up '%s' (wal): %s", path, sqlite3_errmsg(a->db));
        goto out;
    }
    if ((rc = store_schema_migrate(a->db, path, err, errlen)) < 0 ||
        (rc = sql_prepare_all(a->db, asql, A_COUNT, a->st, "admin", err, errlen)) < 0)
        goto out;
    *out = a;
    return 0;
out:
    store_admin_close(a);
    return rc;
}

void store_admin_close(struct store_admin *a)
{
    if (!a)
        return;
    for (int i = 0; i < A_COUNT; i++)
        sqlite3_finalize(a->st[i]);
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Binds and steps the audit insert (inside the caller's transaction). */
static int audit_add(struct store_admin *a, const char *actor, const char *action,
                     const char *target, const char *detail, int64_t now_ns)
{
    sqlite3_stmt *st = a->st[A_AUDIT_ADD];
    if (sqlite3_bind_int64(st, 1, now_ns) || bind_text(st, 2, actor ? actor : "") ||
        bind_text(st, 3, action) || bind_text(st, 4, target ? target : "") ||
        bind_text(st, 5, detail))
        return BW_EIO;
    return sql_exec(st);
}

/* Ends the transaction: commit when rc is 0, else roll back; returns rc
 * (or BW_EIO when the commit failed). */
static int admin_end(struct store_admin *a, int rc)
{
    if (rc == 0 && sql_exec(a->st[A_COMMIT]) < 0)
        rc = BW_EIO;
    if (rc < 0 && !sqlite3_get_autocommit(a->db))
        sql_exec(a->st[A_ROLLBACK]);
    for (int i = 0; i < A_COUNT; i++)
        sqlite3_clear_bindings(a->st[i]);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int admin_begin(struct store_admin *a)
{
    pthread_mutex_lock(&a->mu);
    if (sql_exec(a->st[A_BEGIN]) < 0) {
        pthread_mutex_unlock(&a->mu);
        return BW_EIO;
    }
    return 0;
}

int store_token_add(struct store_admin *a, const struct store_token *t, const char *actor)
{
    int64_t exists;
    int rc;
    char detail[200];

    if (!a || !t || !*t->id || !*t->name || !*t->role)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    sqlite3_stmt *st = a->st[A_TOKEN_EXISTS];
    if (bind_text(st, 1, t->id) || (rc = sql_int(st, &exists)) < 0) {
        rc = BW_EIO;
        goto out;
    }
    if (exists) {
        rc = BW_EINVAL;
        goto out;
    }
    st = a->st[A_TOKEN_ADD];
    if (bind_text(st, 1, t->id) || bind_text(st, 2, t->name) || bind_text(st, 3, t->role) ||
        sqlite3_bind_blob(st, 4, t->secret_hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 5, t->created_ns) || sql_exec(st) < 0) {
        rc = BW_EIO;
        goto out;
    }
    snprintf(detail, sizeof detail, "role %s, name %s", t->role, t->name);
    rc = audit_add(a, actor, "token.create", t->id, detail, t->created_ns);
out:
    return admin_end(a, rc);
}

/* Sets revoked_at on the row id of stmt (?1 id, ?2 time) and audits it as
 * action: store_token_revoke, store_enroll_token_revoke. */
static int admin_revoke(struct store_admin *a, enum astmt stmt, const char *id, int64_t now_ns,
                        const char *actor, const char *action)
{
    int rc;

    if (!a || !id || !*id)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    sqlite3_stmt *st = a->st[stmt];
    if (bind_text(st, 1, id) || sqlite3_bind_int64(st, 2, now_ns) || sql_exec(st) < 0) {
        rc = BW_EIO;
        goto out;
    }
    if (sqlite3_changes(a->db) == 0) {
        rc = BW_ENOTFOUND;
        goto out;
    }
    rc = audit_add(a, actor, action, id, NULL, now_ns);
out:
    return admin_end(a, rc);
}

int store_token_revoke(struct store_admin *a, const char *id, int64_t now_ns, const char *actor)
{
    return admin_revoke(a, A_TOKEN_REVOKE, id, now_ns, actor, "token.revoke");
}

/* Steps a list statement of the admin under its lock. */
static int admin_list(struct store_admin *a, enum astmt stmt, store_emit_fn emit, void *fn,
                      void *ctx)
{
    int rc;

    if (!a || !fn)
        return BW_EINVAL;
    pthread_mutex_lock(&a->mu);
    rc = store_step_rows(a->st[stmt], emit, fn, ctx);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int token_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_token t;
    token_read(st, &t);
    return ((store_token_fn)fn)(&t, ctx);
}

int store_token_list(struct store_admin *a, store_token_fn fn, void *ctx)
{
    return admin_list(a, A_TOKEN_LIST, token_emit, (void *)fn, ctx);
}

int store_alert_set_status(struct store_admin *a, int64_t alert_id, const char *status,
                           const char *note, const char *actor, int64_t now_ns)
{
    char target[32];
    int rc;

    if (!a || alert_id <= 0 || !status || !*status)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    sqlite3_stmt *st = a->st[A_ALERT_STATUS];
    if (sqlite3_bind_int64(st, 1, alert_id) || bind_text(st, 2, status) ||
        bind_text(st, 3, note) || bind_text(st, 4, actor) || sqlite3_bind_int64(st, 5, now_ns) ||
        sql_exec(st) < 0) {
        rc = BW_EIO;
        goto out;
    }
    if (sqlite3_changes(a->db) == 0) {
        rc = BW_ENOTFOUND;
        goto out;
    }
    snprintf(target, sizeof target, "alert/%lld", (long long)alert_id);
    rc = audit_add(a, actor, status, target, note, now_ns);
out:
    return admin_end(a, rc);
}

int store_audit_add(struct store_admin *a, const char *actor, const char *action,
                    const char *target, const char *detail, int64_t now_ns)
{
    int rc;

    if (!a || !action || !*action)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    return admin_end(a, audit_add(a, actor, action, target, detail, now_ns));
}

static int audit_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_audit_row row = {
        .id = sqlite3_column_int64(st, 0),
        .at_ns = sqlite3_column_int64(st, 1),
        .actor = col_text(st, 2),
        .action = col_text(st, 3),
        .target = col_text(st, 4),
        .detail = col_text(st, 5),
    };
    return ((store_audit_fn)fn)(&row, ctx);
}

int store_audit_list(struct store_admin *a, int64_t before_id, uint32_t limit,
                     store_audit_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (!a || !fn || limit == 0 || limit > STORE_QUERY_MAX_LIMIT || before_id < 0)
        return BW_EINVAL;
    pthread_mutex_lock(&a->mu);
    st = a->st[A_AUDIT_LIST];
    if (sqlite3_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX) ||
        sqlite3_bind_int64(st, 2, limit))
        rc = BW_EIO;
    else
        rc = store_step_rows(st, audit_emit, (void *)fn, ctx);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int store_forward_cursor_get(struct store_admin *a, const char *dest, const char *stream,
                             int64_t *out)
{
    int64_t v = 0;
    int rc = 0, step;

    if (!a || !dest || !*dest || !stream || !*stream || !out)
        return BW_EINVAL;
    pthread_mutex_lock(&a->mu);
    sqlite3_stmt *st = a->st[A_CURSOR_GET];
    if (bind_text(st, 1, dest) || bind_text(st, 2, stream)) {
        rc = BW_EIO;
        goto out;
    }
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else if (step != SQLITE_DONE)
        rc = BW_EIO;
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&a->mu);
    if (rc == 0)
        *out = v;
    return rc;
}

int store_forward_cursor_put(struct store_admin *a, const char *dest, const char *stream,
                             int64_t last_id, int64_t now_ns)
{
    int rc;

    if (!a || !dest || !*dest || !stream || !*stream || last_id < 0)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    sqlite3_stmt *st = a->st[A_CURSOR_PUT];
    if (bind_text(st, 1, dest) || bind_text(st, 2, stream) ||
        sqlite3_bind_int64(st, 3, last_id) || sqlite3_bind_int64(st, 4, now_ns) ||
        sql_exec(st) < 0)
        rc = BW_EIO;
    return admin_end(a, rc);
}

/* ------------------------------------------------------ enrollment */

/* Reads an enrollment token row (ETOKEN_SELECT columns). */
static void etoken_read(sqlite3_stmt *st, struct store_enroll_token *t)
{
    const void *h = sqlite3_column_blob(st, 2);

    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", col_text(st, 0));
    snprintf(t->name, sizeof t->name, "%s", col_text(st, 1));
    if (h && sqlite3_column_bytes(st, 2) == STORE_TOKEN_HASH_LEN)
        memcpy(t->secret_hash, h, STORE_TOKEN_HASH_LEN);
    t->max_uses = (uint32_t)sqlite3_column_int64(st, 3);
    t->uses = (uint32_t)sqlite3_column_int64(st, 4);
    t->expires_ns = sqlite3_column_int64(st, 5);
    t->created_ns = sqlite3_column_int64(st, 6);
    t->revoked_ns = sqlite3_column_int64(st, 7);
}

int store_enroll_token_add(struct store_admin *a, const struct store_enroll_token *t,
                           const char *actor)
{
    char detail[256];
    int rc;

    if (!a || !t || !*t->id || !*t->name || t->max_uses == 0)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    sqlite3_stmt *st = a->st[A_ETOKEN_ADD];
    if (bind_text(st, 1, t->id) || bind_text(st, 2, t->name) ||
        sqlite3_bind_blob(st, 3, t->secret_hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC) ||
        sqlite3_bind_int64(st, 4, t->max_uses) || sqlite3_bind_int64(st, 5, t->expires_ns) ||
        sqlite3_bind_int64(st, 6, t->created_ns)) {
        rc = BW_EIO;
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = sqlite3_extended_errcode(a->db) == SQLITE_CONSTRAINT_PRIMARYKEY ? BW_EINVAL : BW_EIO;
        sqlite3_reset(st);
        goto out;
    }
    sqlite3_reset(st);
    snprintf(detail, sizeof detail, "max uses %u, name %s", t->max_uses, t->name);
    rc = audit_add(a, actor, "enroll_token.create", t->id, detail, t->created_ns);
out:
    return admin_end(a, rc);
}

int store_enroll_token_revoke(struct store_admin *a, const char *id, int64_t now_ns,
                              const char *actor)
{
    return admin_revoke(a, A_ETOKEN_REVOKE, id, now_ns, actor, "enroll_token.revoke");
}

static int etoken_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct store_enroll_token t;
    etoken_read(st, &t);
    return ((store_enroll_token_fn)fn)(&t, ctx);
}

int store_enroll_token_list(struct store_admin *a, store_enroll_token_fn fn, void *ctx)
{
    return admin_list(a, A_ETOKEN_LIST, etoken_emit, (void *)fn, ctx);
}

int store_enroll_token_redeem(struct store_admin *a, const char *id,
                              const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now_ns,
                              const char *actor, const char *agent_id, char *why,
                              size_t whylen)
{
    static const uint8_t dummy[STORE_TOKEN_HASH_LEN];
    struct store_enroll_token t;
    char detail[256];
    bool refused = false;
    int rc, step;

    if (!a || !id || !hash || !agent_id)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    sqlite3_stmt *st = a->st[A_ETOKEN_GET];
    if (bind_text(st, 1, id)) {
        rc = BW_EIO;
        goto out;
    }
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        etoken_read(st, &t);
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = BW_EIO;
        goto out;
    }
    /* Compared even for an unknown id: the time says nothing of which part
     * was wrong. */
    bool same = CRYPTO_memcmp(hash, step == SQLITE_ROW ? t.secret_hash : dummy,
                              STORE_TOKEN_HASH_LEN) == 0;
    refused = true;
    if (step != SQLITE_ROW || !same)
        snprintf(why, whylen, "enrollment token is not valid");
    else if (t.revoked_ns)
        snprintf(why, whylen, "enrollment token was revoked");
    else if (now_ns >= t.expires_ns)
        snprintf(why, whylen, "enrollment token has expired");
    else if (t.uses >= t.max_uses)
        snprintf(why, whylen, "enrollment token is used up (%u of %u uses)", t.uses, t.max_uses);
    else
        refused = false;
    if (refused) {
        /* the refusal's audit record is committed; the caller hears no */
        rc = audit_add(a, actor, "agent.enroll_refused", id, why, now_ns);
        goto out;
    }
    st = a->st[A_ETOKEN_USE];
    if (bind_text(st, 1, id) || sql_exec(st) < 0) {
        rc = BW_EIO;
        goto out;
    }
    snprintf(detail, sizeof detail, "token %s, use %u of %u", id, t.uses + 1, t.max_uses);
    rc = audit_add(a, actor, "agent.enroll", agent_id, detail, now_ns);
out:
    rc = admin_end(a, rc);
    return rc == 0 && refused ? BW_EAUTH : rc;
}

int store_agent_revoke(struct store_admin *a, const char *agent_id, int64_t now_ns,
                       const char *actor)
{
    int rc;

    if (!a || !agent_id || !*agent_id)
        return BW_EINVAL;
    if ((rc = admin_begin(a)) < 0)
        return rc;
    sqlite3_stmt *st = a->st[A_AGENT_REVOKE];
    if (bind_text(st, 1, agent_id) || sqlite3_bind_int64(st, 2, now_ns) || sql_exec(st) < 0) {
        rc = BW_EIO;
        goto out;
    }
    rc = audit_add(a, actor, "agent.revoke", agent_id, NULL, now_ns);
out:
    return admin_end(a, rc);
}

struct revoked_ctx {
    store_revoked_fn fn;
    void *ctx;
    int64_t *cursor;
};

static int revoked_emit(sqlite3_stmt *st, void *fn, void *ctx)
{
    struct revoked_ctx *rc = ctx;
    (void)fn;
    *rc->cursor = sqlite3_column_int64(st, 0);
    return rc->fn(col_text(st, 1), rc->ctx);
}

int store_agent_revocations(struct store_admin *a, int64_t *cursor, store_revoked_fn fn,
                            void *ctx)
{
    struct revoked_ctx rctx = {fn, ctx, cursor};
    sqlite3_stmt *st;
    int rc;

    if (!a || !cursor || !fn)
        return BW_EINVAL;
    pthread_mutex_lock(&a->mu);
    st = a->st[A_REVOKED_SINCE];
    rc = sqlite3_bind_int64(st, 1, *cursor) ? BW_EIO
                                             : store_step_rows(st, revoked_emit, NULL, &rctx);
    pthread_mutex_unlock(&a->mu);
    return rc;
}
