/* store_internal.h - what the store's files share (not a public header):
 * the statement indexes of the writer and reader connections, the cache map,
 * the chunk summary, struct store and struct store_reader, and the helpers
 * more than one store file calls. Only the files of server/store/ include
 * it (and so sqlite3.h).
 *
 *   store_sqlite.c  open, schema and migration, the write path, the caches
 *   store_alerts.c  alerts, evidence links, detector state: raise and queries
 *   store_query.c   the reader: event queries, chunk walking, counts */
#ifndef BULWARK_STORE_INTERNAL_H
#define BULWARK_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "bulwark/err.h"
#include "bulwark/sqlite.h"
#include "bulwark/store.h"

#define STORE_SCHEMA_VERSION 10
#define STORE_SUM_BYTES 128                    /* 1024-bit membership summaries */
#define STORE_BUSY_MS 5000

/* Writer statements, prepared once at open (SQL in store_sqlite.c). */
enum wstmt {
    W_BEGIN,
    W_COMMIT,
    W_ROLLBACK,
    W_EVENT_ADD,
    W_AGENT_GET,
    W_AGENT_ADD,
    W_AGENT_UPSERT,
    W_AGENT_TOUCH,
    W_HOST_GET,
    W_HOST_ADD,
    W_HOST_TOUCH,
    W_CONT_GET,
    W_CONT_ADD,
    W_CONT_TOUCH,
    W_CONT_HOST,
    W_MARK_GET,
    W_MARK_PUT,
    W_CHUNK_PUT,
    W_CHUNK_LAST,
    W_MAX_ID,
    W_TAIL_SCAN,
    W_ALERT_FIND,
    W_ALERT_ADD,
    W_ALERT_BUMP,
    W_EVID_ADD,
    W_STATE_PUT,
    W_STATE_GET,
    W_AGENT_HEALTH,
    W_HOSTBIND_DROP,
    W_HOSTBIND_PUT,
    W_HOSTBIND_ALL,
    W_AGENT_EPOCH,
    W_COUNT
};

/* Reader statements, prepared once at store_reader_open (SQL in
 * store_query.c). */
enum rstmt {
    R_BEGIN,
    R_COMMIT,
    R_AGENT_ID,
    R_HOST_ID,
    R_CONT_ID,
    R_LAST_CHUNK,
    R_CHUNKS,
    R_SCAN,
    R_SUM_ROWS,
    R_COUNT_TAIL,
    R_ALERTS,
    R_ALERT_COUNT,
    R_EVID_LIST,
    R_EVENT_GET,
    R_EVENT_FIND,
    R_CORE_COUNT,
    /* the API's reads (SQL in store_api.c) */
    R_EVENT_BY_ID = R_CORE_COUNT,
    R_EVENTS_AFTER,
    R_SCAN_RULE,
    R_ALERT_BY_ID,
    R_ALERTS_AFTER,
    R_AGENTS,
    R_TOKEN_GET,
    R_RULE_HITS,
    R_API_COUNT,
    /* the rollups and the inventory (SQL in store_fleet.c) */
    R_STATS_EVENTS = R_API_COUNT,
    R_STATS_ALERTS,
    R_TOP_RULES,
    R_TOP_HOSTS_EVENTS,
    R_TOP_IMAGES_EVENTS,
    R_TOP_HOSTS_ALERTS,
    R_TOP_IMAGES_ALERTS,
    R_NET,
    R_NET_HOST,
    R_NET_CONTAINER,
    R_ADDRS,
    R_CONTAINERS,
    R_CONTAINER_GET,
    R_IMAGE_VULNS,
    R_IMAGE_FINDINGS,
    R_HOSTS,
    R_COUNT
};
extern const char *const store_api_rsql[R_API_COUNT - R_CORE_COUNT];
extern const char *const store_fleet_rsql[R_COUNT - R_API_COUNT];

/* ------------------------------------------------------------ hash maps */

/* One cache entry: a dimension (key = name), a mark (key = agent dim id
 * and epoch as 16 bytes) or an open alert (key = rule, NUL, group_key, NUL,
 * retrospective flag). */
struct map_entry {
    uint8_t *key;  /* NULL = free slot */
    size_t klen;
    uint64_t hash;
    int64_t id;    /* dimension id; alert id */
    int64_t seen;  /* dimension last_seen as stored; alert last_seen */
    uint64_t seq;  /* mark: committed_seq */
    int64_t host;  /* container: its host's dim id, -1 once seen on two hosts */
    uint64_t bump_gen;  /* alert: the transaction whose pending bump is bump_idx */
    uint32_t bump_idx;
    int32_t prio;  /* alert: priority, count and evidence links stored */
    uint32_t count;
    uint32_t n_ev;
};

/* Open addressing, linear probing, no deletion (only clearing). */
struct map {
    struct map_entry *slot;
    size_t cap;  /* 0 or a power of two */
    size_t n;
};

/* Finds key in m; NULL when absent. */
struct map_entry *store_map_find(const struct map *m, const void *key, size_t klen);
/* Adds an absent key and returns its entry (id/seen/seq zero), or NULL when
 * out of memory. A full map is cleared first: entries refill from SQL.
 * Invalidates entry pointers previously returned for this map. */
struct map_entry *store_map_add(struct map *m, const void *key, size_t klen);

/* ------------------------------------------------------- chunk summaries */

/* The in-memory summary of one chunk of consecutive row ids; its row in
 * event_chunks is upserted once per transaction and when it fills. */
struct chunk {
    int64_t first_id;  /* valid when n_rows > 0 */
    int64_t last_id;
    int64_t n_rows;
    int64_t min_time;
    int64_t max_time;
    uint64_t kinds;    /* bit k for kind k (0..62), bit 63 for anything else */
    uint8_t hosts[STORE_SUM_BYTES];       /* bit (dim id mod 1024) */
    uint8_t containers[STORE_SUM_BYTES];  /* id 0 (host events) is bit 0 */
    uint8_t agents[STORE_SUM_BYTES];
    bool dirty;        /* changed since its row was last written */
};

static inline uint64_t kind_bit(int64_t kind)
{
    return kind >= 0 && kind < 63 ? 1ULL << kind : 1ULL << 63;
}

/* A summary of any width (the blob's length decides) may contain id; an
 * absent summary is "maybe". */
static inline bool sum_may_contain(const void *sum, int len, int64_t id)
{
    if (!sum || len <= 0)
        return true;
    uint64_t bit = (uint64_t)id % ((uint64_t)len * 8);
    return (((const uint8_t *)sum)[bit / 8] >> (bit % 8)) & 1;
}

/* ------------------------------------------------------------ the writer */

enum dim_kind { DIM_AGENT, DIM_HOST, DIM_CONTAINER, DIM_N };

/* A run of consecutive seqs of one (agent, epoch) stored under consecutive
 * row ids: seq first_seq + i has id first_id + i. */
struct ev_range {
    int64_t agent;
    uint64_t epoch;
    uint64_t first_seq, last_seq;
    int64_t first_id;
};

/* A repeated alert's new count and time span, merged in memory during a
 * transaction and written with one UPDATE at commit (a noisy rule repeats
 * thousands of times a second; one row update per repeat would cost the
 * writer as much as the events). */
struct alert_bump {
    int64_t id;
    uint32_t count;
    int64_t lo, hi;
};

/* Writes the pending alert bumps (store_alerts.c); called by store_commit. */
int store_alert_flush(struct store *s);

/* Event rows are inserted STORE_INSERT_ROWS at a time by one statement:
 * per row, a multi-row INSERT skips most of a statement's fixed cost (step,
 * halt, reset), which was a quarter of the writer's SQLite time. */
#define STORE_INSERT_ROWS 16
#define STORE_EVENT_COLS 11

/* An event row waiting for its multi-row INSERT; body points into the
 * batch being appended (rows never wait past store_append()). */
struct pending_row {
    int64_t id, time_ns, agent, host, container, seq;
    int kind, severity;
    const void *body;
    int body_len;
};

struct store {
    sqlite3 *db;
    char last_err[160];        /* why the last transaction failed (store_last_error) */
    int last_err_code;
    uint32_t wal_restart_pages;
    int wal_retry_pages;       /* after a RESTART found readers: try again past this */
    sqlite3_stmt *st[W_COUNT];
    sqlite3_stmt *ins_many;    /* INSERT of STORE_INSERT_ROWS event rows */
    struct pending_row pend[STORE_INSERT_ROWS];
    size_t n_pend;
    int64_t append_host;       /* host dim id of the batch being appended */
    uint32_t chunk_rows;
    bool in_txn;
    bool txn_failed;       /* a write failed midway: commit must roll back */
    uint64_t txn_gen;      /* counts transactions (alert bumps are per transaction) */
    struct alert_bump *bumps;  /* repeats of alerts, written once at commit */
    size_t n_bumps, cap_bumps;
    int64_t next_id;       /* id of the next event row */
    struct chunk cur;      /* the open chunk */
    int64_t saved_next_id; /* as at begin, restored by rollback */
    struct chunk saved_cur;
    struct map dims[DIM_N];
    struct map marks;
    struct map alerts;        /* latest alert per (rule, group_key, retrospective) */
    struct rollup *roll;      /* pending rollup counts (store_rollup.c) */
    struct ev_range *ranges;  /* ring of STORE_RANGES_MAX recent id runs */
    size_t range_head;        /* next slot to write */
    size_t n_ranges;
};

/* The rollups (store_rollup.c), kept in the events' transaction: open
 * prepares their statements; event and alert fold one event or alert hit
 * in; flush writes what is pending (at commit, before COMMIT); reset drops
 * it (rollback); close frees. */
struct rollup;
int store_rollup_open(struct store *s, char *err, size_t errlen);
int store_rollup_event(struct store *s, const struct store_event *ev, int64_t id, int64_t host,
                       int64_t container);
int store_rollup_alert(struct store *s, const struct store_alert *a);
int store_rollup_flush(struct store *s);
void store_rollup_reset(struct store *s);
void store_rollup_close(struct store *s);

/* Writes a formatted message into err (may be NULL). */
void store_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Brings db's schema to STORE_SCHEMA_VERSION (store_sqlite.c). */
int store_schema_migrate(sqlite3 *db, const char *path, char *err, size_t errlen);
/* Returns in *id the dimension id of key, inserting the row when missing
 * (extra: the agent's hostname, or the ContainerRef) and refreshing
 * last_seen at most once per STORE_TOUCH_NS. */
int store_dim_ensure(struct store *s, enum dim_kind d, const char *key, int64_t now,
                     const void *extra, int64_t *id);
/* The row id of (agent, epoch, seq) if it is in a recent run; 0 if not. */
int64_t store_range_lookup(const struct store *s, int64_t agent, uint64_t epoch, uint64_t seq);

static inline int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* ------------------------------------------------------------ the reader */

struct store_reader {
    sqlite3 *db;
    sqlite3_stmt *st[R_COUNT];
};

static inline const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* The columns of a struct store_row (see store_row_read). */
#define EVENT_SELECT                                                                     \
    "SELECT e.id, e.seq, e.epoch, e.time_ns, e.recv_ns, e.kind, e.severity,"            \
    " a.agent_id, h.hostname, c.container_id, e.body"                                   \
    " FROM events AS e"                                                                 \
    " LEFT JOIN agents AS a ON a.id = e.agent"                                          \
    " LEFT JOIN hosts AS h ON h.id = e.host"                                            \
    " LEFT JOIN containers AS c ON c.id = e.container"
/* The columns of a struct store_alert_row (see store_alert_row_read). */
#define ALERT_SELECT                                                                     \
    "SELECT id, rule, priority, output, source, group_key, agent_id, hostname,"         \
    " container_id, image, tags, first_seen, last_seen, count, retrospective,"          \
    " (SELECT count(*) FROM alert_evidence AS v WHERE v.alert_id = alerts.id),"         \
    " status, status_note, status_by, status_at FROM alerts"

/* Reads the current row of an EVENT_SELECT statement (store_query.c). */
void store_row_read(sqlite3_stmt *st, struct store_row *row);
/* Calls the typed callback fn (cast to void *) with the current row of st. */
typedef int (*store_emit_fn)(sqlite3_stmt *st, void *fn, void *ctx);
/* The one row loop: steps st (bound), emitting each row until emit returns
 * non-zero, then resets st. Returns 0, emit's non-zero value or BW_EIO. */
int store_step_rows(sqlite3_stmt *st, store_emit_fn emit, void *fn, void *ctx);
/* Steps st (bound, an EVENT_SELECT) calling fn per row, then resets it. */
int store_event_rows(sqlite3_stmt *st, store_row_fn fn, void *ctx);
/* Reads the current row of an ALERT_SELECT statement (store_alerts.c). */
void store_alert_row_read(sqlite3_stmt *st, struct store_alert_row *row);
/* Steps st (bound, an ALERT_SELECT) calling fn per row, then resets it. */
int store_alert_rows(sqlite3_stmt *st, store_alert_fn fn, void *ctx);

#endif
