/* store_sqlite.c - the durable event store (include/bulwark/store.h) on SQLite
 * in WAL mode: the schema and its migration by PRAGMA user_version, the
 * exactly-once marks, the dimension tables (agents, hosts, containers) with
 * in-memory id caches, the per-chunk summaries that stand in for secondary
 * indexes, and the read-only query path. The only server file that includes
 * sqlite3.h; docs/storage.md explains the layout and the reasoning. Also
 * the alerts (suppression by rule and group key, evidence links) and the
 * named detector-state blobs, written inside the events' transactions.
 *
 * Cache rule: every in-memory cache (dimension ids, marks) mirrors what this
 * connection sees in SQL, including the open transaction's own writes. So a
 * rollback simply clears the caches (they refill from the rolled-back tables)
 * and a cache that reaches its cap is cleared rather than evicted entry by
 * entry. The open chunk's summary and the next row id are snapshotted at
 * begin and restored on rollback. The open-alert map follows the same rule;
 * the ring of recently assigned event id ranges (used to resolve evidence
 * links without a search) is emptied by a rollback. */
#include "bulwark/store.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bulwark/err.h"

#define STORE_SCHEMA_VERSION 2
#define STORE_DEFAULT_CHUNK_ROWS 4096u
#define STORE_SUM_BYTES 128                    /* 1024-bit membership summaries */
#define STORE_TOUCH_NS (60LL * 1000000000LL)   /* last_seen granularity */
#define STORE_MAP_MAX (1u << 16)               /* entries per cache, then cleared */
#define STORE_BUSY_MS 5000
#define STORE_RANGES_MAX 4096u                 /* recent (agent, epoch, seq) -> id runs */
#define STORE_ALERT_KEY_MAX 4096u              /* rule + group_key bytes */

/* ------------------------------------------------------------------ schema */

/* store_migrations[v] takes the schema from version v to v + 1 and sets
 * user_version itself, so each step commits atomically with its number. */
static const char *const store_migrations[STORE_SCHEMA_VERSION] = {
    "CREATE TABLE hosts ("
    "  id INTEGER PRIMARY KEY,"
    "  hostname TEXT NOT NULL UNIQUE,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE TABLE agents ("
    "  id INTEGER PRIMARY KEY,"
    "  agent_id TEXT NOT NULL UNIQUE,"
    "  hostname TEXT,"
    "  version TEXT,"
    "  labels TEXT,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE TABLE containers ("
    "  id INTEGER PRIMARY KEY,"
    "  container_id TEXT NOT NULL UNIQUE,"
    "  name TEXT, image TEXT, image_digest TEXT, runtime TEXT,"
    "  k8s_namespace TEXT, k8s_pod TEXT,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE TABLE marks ("
    "  agent INTEGER NOT NULL,"
    "  epoch INTEGER NOT NULL,"
    "  committed_seq INTEGER NOT NULL,"
    "  PRIMARY KEY (agent, epoch)) WITHOUT ROWID;"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  time_ns INTEGER NOT NULL,"
    "  recv_ns INTEGER NOT NULL,"
    "  agent INTEGER NOT NULL,"
    "  host INTEGER NOT NULL,"
    "  container INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  severity INTEGER NOT NULL,"
    "  epoch INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  body BLOB NOT NULL);"
    "CREATE TABLE event_chunks ("
    "  first_id INTEGER PRIMARY KEY,"
    "  last_id INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  min_time INTEGER NOT NULL,"
    "  max_time INTEGER NOT NULL,"
    "  kinds INTEGER NOT NULL,"
    "  hosts BLOB NOT NULL,"
    "  containers BLOB NOT NULL,"
    "  agents BLOB NOT NULL);"
    "PRAGMA user_version = 1;",
    /* 1 -> 2: alerts, their evidence links, detector state. */
    "CREATE TABLE alerts ("
    "  id INTEGER PRIMARY KEY,"
    "  rule TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  output TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  group_key TEXT NOT NULL,"
    "  agent_id TEXT, hostname TEXT, container_id TEXT, image TEXT,"
    "  tags TEXT,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  retrospective INTEGER NOT NULL);"
    "CREATE INDEX alerts_by_group ON alerts (rule, group_key, retrospective);"
    "CREATE INDEX alerts_by_last_seen ON alerts (last_seen);"
    "CREATE TABLE alert_evidence ("
    "  alert_id INTEGER NOT NULL,"
    "  agent INTEGER NOT NULL,"
    "  epoch INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  event_id INTEGER,"
    "  PRIMARY KEY (alert_id, agent, epoch, seq)) WITHOUT ROWID;"
    "CREATE TABLE detector_state ("
    "  key TEXT PRIMARY KEY,"
    "  value BLOB NOT NULL) WITHOUT ROWID;"
    "PRAGMA user_version = 2;",
};

/* Writer statements, prepared once at open. */
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
    W_COUNT
};

static const char *const wsql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_EVENT_ADD] = "INSERT INTO events (id, time_ns, recv_ns, agent, host, container, kind,"
                    " severity, epoch, seq, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                    " ?10, ?11)",
    [W_AGENT_GET] = "SELECT id, last_seen FROM agents WHERE agent_id = ?1",
    [W_AGENT_ADD] = "INSERT INTO agents (agent_id, first_seen, last_seen, hostname)"
                    " VALUES (?1, ?2, ?2, ?3)",
    [W_AGENT_UPSERT] = "INSERT INTO agents (agent_id, hostname, version, labels, first_seen,"
                       " last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                       " ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname,"
                       " version = excluded.version, labels = excluded.labels,"
                       " last_seen = max(last_seen, excluded.last_seen)"
                       " RETURNING id, last_seen",
    [W_AGENT_TOUCH] = "UPDATE agents SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [W_HOST_GET] = "SELECT id, last_seen FROM hosts WHERE hostname = ?1",
    [W_HOST_ADD] = "INSERT INTO hosts (hostname, first_seen, last_seen) VALUES (?1, ?2, ?2)",
    [W_HOST_TOUCH] = "UPDATE hosts SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [W_CONT_GET] = "SELECT id, last_seen FROM containers WHERE container_id = ?1",
    [W_CONT_ADD] = "INSERT INTO containers (container_id, first_seen, last_seen, name, image,"
                   " image_digest, runtime, k8s_namespace, k8s_pod)"
                   " VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [W_CONT_TOUCH] = "UPDATE containers SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [W_MARK_GET] = "SELECT committed_seq FROM marks WHERE agent = ?1 AND epoch = ?2",
    [W_MARK_PUT] = "INSERT INTO marks (agent, epoch, committed_seq) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (agent, epoch) DO UPDATE SET"
                   " committed_seq = excluded.committed_seq",
    [W_CHUNK_PUT] = "INSERT INTO event_chunks (first_id, last_id, n_rows, min_time, max_time,"
                    " kinds, hosts, containers, agents)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    " ON CONFLICT (first_id) DO UPDATE SET last_id = excluded.last_id,"
                    " n_rows = excluded.n_rows, min_time = excluded.min_time,"
                    " max_time = excluded.max_time, kinds = excluded.kinds,"
                    " hosts = excluded.hosts, containers = excluded.containers,"
                    " agents = excluded.agents",
    [W_CHUNK_LAST] = "SELECT first_id, last_id, n_rows, min_time, max_time, kinds, hosts,"
                     " containers, agents FROM event_chunks ORDER BY first_id DESC LIMIT 1",
    [W_MAX_ID] = "SELECT coalesce(max(id), 0) FROM events",
    [W_TAIL_SCAN] = "SELECT id, time_ns, kind, host, container, agent FROM events"
                    " WHERE id > ?1 ORDER BY id",
    /* The latest alert of a (rule, group_key, retrospective): alerts_by_group
     * ends in the rowid, so this is one index probe. */
    [W_ALERT_FIND] = "SELECT id, priority, last_seen, count,"
                     " (SELECT count(*) FROM alert_evidence AS v WHERE v.alert_id = alerts.id)"
                     " FROM alerts WHERE rule = ?1 AND group_key = ?2 AND retrospective = ?3"
                     " ORDER BY id DESC LIMIT 1",
    [W_ALERT_ADD] = "INSERT INTO alerts (rule, priority, output, source, group_key, agent_id,"
                    " hostname, container_id, image, tags, first_seen, last_seen, count,"
                    " retrospective) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11,"
                    " 1, ?12)",
    [W_ALERT_BUMP] = "UPDATE alerts SET count = ?2, last_seen = max(last_seen, ?3),"
                     " first_seen = min(first_seen, ?3) WHERE id = ?1",
    [W_EVID_ADD] = "INSERT OR IGNORE INTO alert_evidence (alert_id, agent, epoch, seq, event_id)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [W_STATE_PUT] = "INSERT INTO detector_state (key, value) VALUES (?1, ?2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [W_STATE_GET] = "SELECT value FROM detector_state WHERE key = ?1",
};

/* Reader statements, prepared once at store_reader_open. */
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
    R_COUNT
};

/* The columns of a struct store_row (see row_read). */
#define EVENT_SELECT                                                                     \
    "SELECT e.id, e.seq, e.epoch, e.time_ns, e.recv_ns, e.kind, e.severity,"            \
    " a.agent_id, h.hostname, c.container_id, e.body"                                   \
    " FROM events AS e"                                                                 \
    " LEFT JOIN agents AS a ON a.id = e.agent"                                          \
    " LEFT JOIN hosts AS h ON h.id = e.host"                                            \
    " LEFT JOIN containers AS c ON c.id = e.container"

static const char *const rsql[R_COUNT] = {
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_AGENT_ID] = "SELECT id FROM agents WHERE agent_id = ?1",
    [R_HOST_ID] = "SELECT id FROM hosts WHERE hostname = ?1",
    [R_CONT_ID] = "SELECT id FROM containers WHERE container_id = ?1",
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
               " ORDER BY e.id DESC LIMIT ?9",
    [R_SUM_ROWS] = "SELECT coalesce(sum(n_rows), 0) FROM event_chunks",
    [R_COUNT_TAIL] = "SELECT count(*) FROM events WHERE id > ?1",
    /* A reverse rowid range scan with exact filters: alerts are few. */
    [R_ALERTS] = "SELECT id, rule, priority, output, source, group_key, agent_id, hostname,"
                 " container_id, image, tags, first_seen, last_seen, count, retrospective,"
                 " (SELECT count(*) FROM alert_evidence AS v WHERE v.alert_id = alerts.id)"
                 " FROM alerts WHERE id <= ?1"
                 " AND (?2 = 0 OR last_seen >= ?2) AND (?3 = 0 OR last_seen < ?3)"
                 " AND (?4 IS NULL OR rule = ?4)"
                 " AND (?5 IS NULL OR coalesce(hostname, '') = ?5)"
                 " AND (?6 IS NULL OR coalesce(container_id, '') = ?6)"
                 " AND priority >= ?7 ORDER BY id DESC LIMIT ?8",
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

static uint64_t map_hash(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct map_entry *map_find(const struct map *m, const void *key, size_t klen)
{
    if (m->cap == 0)
        return NULL;
    uint64_t h = map_hash(key, klen);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct map_entry *e = &m->slot[i];
        if (!e->key)
            return NULL;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    }
}

static void map_clear(struct map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slot[i].key);
    if (m->cap)
        memset(m->slot, 0, m->cap * sizeof *m->slot);
    m->n = 0;
}

static void map_release(struct map *m)
{
    map_clear(m);
    free(m->slot);
    *m = (struct map){0};
}

static int map_grow(struct map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    struct map_entry *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return BW_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slot[i].key)
            continue;
        size_t j = m->slot[i].hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = ns;
    m->cap = ncap;
    return 0;
}

/* Adds an absent key and returns its entry (id/seen/seq zero), or NULL when
 * out of memory. A full map is cleared first: entries refill from SQL.
 * Invalidates entry pointers previously returned for this map. */
static struct map_entry *map_add(struct map *m, const void *key, size_t klen)
{
    if (m->n >= STORE_MAP_MAX)
        map_clear(m);
    if ((m->n + 1) * 4 > m->cap * 3 && map_grow(m) < 0)
        return NULL;
    uint8_t *k = malloc(klen + 1);
    if (!k)
        return NULL;
    memcpy(k, key, klen);
    k[klen] = 0;
    uint64_t h = map_hash(key, klen);
    size_t i = h & (m->cap - 1);
    while (m->slot[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slot[i] = (struct map_entry){.key = k, .klen = klen, .hash = h};
    m->n++;
    return &m->slot[i];
}

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

static uint64_t kind_bit(int64_t kind)
{
    return kind >= 0 && kind < 63 ? 1ULL << kind : 1ULL << 63;
}

static void sum_set(uint8_t *sum, int64_t id)
{
    uint64_t bit = (uint64_t)id % (STORE_SUM_BYTES * 8);
    sum[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* A summary of any width (the blob's length decides) may contain id; an
 * absent summary is "maybe". */
static bool sum_may_contain(const void *sum, int len, int64_t id)
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

static const struct {
    enum wstmt get, add, touch;
} dim_stmt[DIM_N] = {
    [DIM_AGENT] = {W_AGENT_GET, W_AGENT_ADD, W_AGENT_TOUCH},
    [DIM_HOST] = {W_HOST_GET, W_HOST_ADD, W_HOST_TOUCH},
    [DIM_CONTAINER] = {W_CONT_GET, W_CONT_ADD, W_CONT_TOUCH},
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[W_COUNT];
    uint32_t chunk_rows;
    bool in_txn;
    bool txn_failed;       /* a write failed midway: commit must roll back */
    int64_t next_id;       /* id of the next event row */
    struct chunk cur;      /* the open chunk */
    int64_t saved_next_id; /* as at begin, restored by rollback */
    struct chunk saved_cur;
    struct map dims[DIM_N];
    struct map marks;
    struct map alerts;        /* latest alert per (rule, group_key, retrospective) */
    struct ev_range *ranges;  /* ring of STORE_RANGES_MAX recent id runs */
    size_t range_head;        /* next slot to write */
    size_t n_ranges;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Steps a statement that returns no rows, then resets it: 0 or BW_EIO. */
static int stmt_exec(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : BW_EIO;
}

/* Steps a statement expected to return one integer row (none = 0). */
static int stmt_int(sqlite3_stmt *st, int64_t *out)
{
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : BW_EIO;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Reads PRAGMA user_version (a statement used once, at open). */
static int read_user_version(sqlite3 *db, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = BW_EIO;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        goto out;
    rc = stmt_int(st, out);
out:
    sqlite3_finalize(st);
    return rc;
}

/* Brings the schema to STORE_SCHEMA_VERSION, one transaction per step. */
static int schema_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int64_t version;
    if (read_user_version(db, &version) < 0) {
        set_err(err, errlen, "read schema version of '%s': %s", path, sqlite3_errmsg(db));
        return BW_EIO;
    }
    if (version < 0 || version > STORE_SCHEMA_VERSION) {
        set_err(err, errlen, "'%s' has schema version %lld, this build knows up to %d", path,
                (long long)version, STORE_SCHEMA_VERSION);
        return BW_ECONFIG;
    }
    for (; version < STORE_SCHEMA_VERSION; version++) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, store_migrations[version], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            set_err(err, errlen, "migrate '%s' to schema version %lld: %s", path,
                    (long long)version + 1, sqlite3_errmsg(db));
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return BW_EIO;
        }
    }
    return 0;
}

static int on_journal_mode(void *ctx, int ncol, char **val, char **name)
{
    *(bool *)ctx = ncol == 1 && val[0] && strcmp(val[0], "wal") == 0;
    return 0;
}

static int store_pragmas(struct store *s, bool sync_full)
{
    bool wal = false;
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode = WAL", on_journal_mode, &wal, NULL) !=
            SQLITE_OK ||
        !wal)
        return BW_EIO;
    if (sqlite3_exec(s->db,
                     sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA journal_size_limit = 67108864", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(s->db, "PRAGMA cache_size = -32768", NULL, NULL, NULL) != SQLITE_OK)
        return BW_EIO;
    return 0;
}

/* Writes the open chunk's summary row (insert or update). */
static int chunk_flush(struct store *s)
{
    sqlite3_stmt *st = s->st[W_CHUNK_PUT];
    const struct chunk *c = &s->cur;
    if (c->n_rows == 0)
        return 0;
    if (sqlite3_bind_int64(st, 1, c->first_id) || sqlite3_bind_int64(st, 2, c->last_id) ||
        sqlite3_bind_int64(st, 3, c->n_rows) || sqlite3_bind_int64(st, 4, c->min_time) ||
        sqlite3_bind_int64(st, 5, c->max_time) ||
        sqlite3_bind_int64(st, 6, (sqlite3_int64)c->kinds) ||
        sqlite3_bind_blob(st, 7, c->hosts, STORE_SUM_BYTES, SQLITE_STATIC) ||
        sqlite3_bind_blob(st, 8, c->containers, STORE_SUM_BYTES, SQLITE_STATIC) ||
        sqlite3_bind_blob(st, 9, c->agents, STORE_SUM_BYTES, SQLITE_STATIC))
        return BW_EIO;
    return stmt_exec(st);
}

/* Folds one row into the open chunk; a chunk that reaches chunk_rows is
 * written and a new one starts with the next row. */
static int chunk_add(struct store *s, int64_t id, int64_t time_ns, int64_t kind, int64_t host,
                     int64_t container, int64_t agent)
{
    struct chunk *c = &s->cur;
    if (c->n_rows == 0) {
        *c = (struct chunk){.first_id = id, .min_time = time_ns, .max_time = time_ns};
    }
    c->last_id = id;
    c->n_rows++;
    if (time_ns < c->min_time)
        c->min_time = time_ns;
    if (time_ns > c->max_time)
        c->max_time = time_ns;
    c->kinds |= kind_bit(kind);
    sum_set(c->hosts, host);
    sum_set(c->containers, container);
    sum_set(c->agents, agent);
    c->dirty = true;
    if (c->n_rows < (int64_t)s->chunk_rows)
        return 0;
    int rc = chunk_flush(s);
    if (rc == 0)
        *c = (struct chunk){0};
    return rc;
}

/* Finds key in dimension d: the cache first, then the table (caching what
 * it finds). *out is NULL when the table has no such row; an entry pointer
 * is valid until the next map_add on that dimension. */
static int dim_find(struct store *s, enum dim_kind d, const char *key, struct map_entry **out)
{
    size_t klen = strlen(key);
    struct map_entry *e = map_find(&s->dims[d], key, klen);
    if (e) {
        *out = e;
        return 0;
    }
    sqlite3_stmt *st = s->st[dim_stmt[d].get];
    int64_t id = 0, seen = 0;
    if (sqlite3_bind_text(st, 1, key, (int)klen, SQLITE_STATIC) != SQLITE_OK)
        return BW_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        seen = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return BW_EIO;
    *out = NULL;
    if (rc == SQLITE_ROW) {
        if (!(e = map_add(&s->dims[d], key, klen)))
            return BW_ENOMEM;
        e->id = id;
        e->seen = seen;
        *out = e;
    }
    return 0;
}

/* Returns in *id the dimension id of key, inserting the row when missing
 * (extra: the agent's hostname, or the ContainerRef) and refreshing
 * last_seen at most once per STORE_TOUCH_NS. */
static int dim_ensure(struct store *s, enum dim_kind d, const char *key, int64_t now,
                      const void *extra, int64_t *id)
{
    struct map_entry *e;
    int rc = dim_find(s, d, key, &e);
    if (rc < 0)
        return rc;
    if (e) {
        if (now > e->seen && now - e->seen >= STORE_TOUCH_NS) {
            sqlite3_stmt *st = s->st[dim_stmt[d].touch];
            if (sqlite3_bind_int64(st, 1, e->id) || sqlite3_bind_int64(st, 2, now) ||
                stmt_exec(st) < 0)
                return BW_EIO;
            e->seen = now;
        }
        *id = e->id;
        return 0;
    }
    sqlite3_stmt *st = s->st[dim_stmt[d].add];
    rc = bind_text(st, 1, key) | sqlite3_bind_int64(st, 2, now);
    if (d == DIM_AGENT) {
        rc |= bind_text(st, 3, extra);
    } else if (d == DIM_CONTAINER) {
        const Bulwark__V1__ContainerRef *c = extra;
        rc |= bind_text(st, 3, c->name) | bind_text(st, 4, c->image) |
              bind_text(st, 5, c->image_digest) | bind_text(st, 6, c->runtime) |
              bind_text(st, 7, c->k8s_namespace) | bind_text(st, 8, c->k8s_pod);
    }
    if (rc != SQLITE_OK || stmt_exec(st) < 0)
        return BW_EIO;
    int64_t nid = sqlite3_last_insert_rowid(s->db);
    if (!(e = map_add(&s->dims[d], key, strlen(key))))
        return BW_ENOMEM;
    e->id = nid;
    e->seen = now;
    *id = nid;
    return 0;
}

static void mark_key(uint8_t key[16], int64_t agent, uint64_t epoch)
{
    memcpy(key, &agent, 8);
    memcpy(key + 8, &epoch, 8);
}

/* The mark of (agent dim id, epoch) as this connection sees it; 0 if none. */
static int mark_get(struct store *s, int64_t agent, uint64_t epoch, uint64_t *out)
{
    uint8_t key[16];
    mark_key(key, agent, epoch);
    struct map_entry *e = map_find(&s->marks, key, sizeof key);
    if (!e) {
        sqlite3_stmt *st = s->st[W_MARK_GET];
        int64_t v;
        if (sqlite3_bind_int64(st, 1, agent) ||
            sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch) || stmt_int(st, &v) < 0)
            return BW_EIO;
        if (!(e = map_add(&s->marks, key, sizeof key)))
            return BW_ENOMEM;
        e->seq = (uint64_t)v;
    }
    *out = e->seq;
    return 0;
}

static int mark_put(struct store *s, int64_t agent, uint64_t epoch, uint64_t seq)
{
    uint8_t key[16];
    sqlite3_stmt *st = s->st[W_MARK_PUT];
    if (sqlite3_bind_int64(st, 1, agent) || sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch) ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)seq) || stmt_exec(st) < 0)
        return BW_EIO;
    mark_key(key, agent, epoch);
    struct map_entry *e = map_find(&s->marks, key, sizeof key);
    if (!e && !(e = map_add(&s->marks, key, sizeof key)))
        return BW_ENOMEM;
    e->seq = seq;
    return 0;
}

/* Rolls back (if SQLite still has a transaction open) and restores the
 * in-memory state to what it was at begin. */
static void store_abort(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        stmt_exec(s->st[W_ROLLBACK]);
    s->next_id = s->saved_next_id;
    s->cur = s->saved_cur;
    for (int d = 0; d < DIM_N; d++)
        map_clear(&s->dims[d]);
    map_clear(&s->marks);
    map_clear(&s->alerts);
    s->n_ranges = 0;  /* runs noted in this transaction are gone */
    s->in_txn = false;
    s->txn_failed = false;
}

int store_begin(struct store *s)
{
    if (!s || s->in_txn)
        return BW_EINVAL;
    if (stmt_exec(s->st[W_BEGIN]) < 0)
        return BW_EIO;
    s->in_txn = true;
    s->txn_failed = false;
    s->saved_next_id = s->next_id;
    s->saved_cur = s->cur;
    return 0;
}

int store_commit(struct store *s)
{
    if (!s || !s->in_txn)
        return BW_EINVAL;
    if (s->txn_failed || (s->cur.dirty && chunk_flush(s) < 0) ||
        stmt_exec(s->st[W_COMMIT]) < 0) {
        store_abort(s);
        return BW_EIO;
    }
    s->cur.dirty = false;
    s->in_txn = false;
    return 0;
}

void store_rollback(struct store *s)
{
    if (s && s->in_txn)
        store_abort(s);
}

/* Summarises rows that have none (only a database written without chunk
 * rows can have them), so the writer's chunks stay contiguous. */
static int store_summarise_tail(struct store *s, int64_t after_id)
{
    sqlite3_stmt *st = s->st[W_TAIL_SCAN];
    int step = SQLITE_DONE;
    int rc = store_begin(s);
    if (rc < 0)
        return rc;
    if (sqlite3_bind_int64(st, 1, after_id) != SQLITE_OK) {
        rc = BW_EIO;
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = chunk_add(s, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                       sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                       sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5));
        if (rc < 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = BW_EIO;
out:
    sqlite3_reset(st);
    if (rc < 0) {
        store_rollback(s);
        return rc;
    }
    return store_commit(s);
}

/* Loads the open chunk and the next row id from the tables. */
static int store_load(struct store *s)
{
    sqlite3_stmt *st = s->st[W_CHUNK_LAST];
    int64_t last_id = 0, max_id;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct chunk c = {
            .first_id = sqlite3_column_int64(st, 0),
            .last_id = sqlite3_column_int64(st, 1),
            .n_rows = sqlite3_column_int64(st, 2),
            .min_time = sqlite3_column_int64(st, 3),
            .max_time = sqlite3_column_int64(st, 4),
            .kinds = (uint64_t)sqlite3_column_int64(st, 5),
        };
        last_id = c.last_id;
        /* Continue it only if it has room and summaries of our width. */
        bool ok = c.n_rows > 0 && c.n_rows < (int64_t)s->chunk_rows;
        for (int i = 0; i < 3 && ok; i++)
            ok = sqlite3_column_bytes(st, 6 + i) == STORE_SUM_BYTES;
        if (ok) {
            memcpy(c.hosts, sqlite3_column_blob(st, 6), STORE_SUM_BYTES);
            memcpy(c.containers, sqlite3_column_blob(st, 7), STORE_SUM_BYTES);
            memcpy(c.agents, sqlite3_column_blob(st, 8), STORE_SUM_BYTES);
            s->cur = c;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return BW_EIO;
    if (stmt_int(s->st[W_MAX_ID], &max_id) < 0)
        return BW_EIO;
    s->next_id = (max_id > last_id ? max_id : last_id) + 1;
    if (max_id > last_id)
        return store_summarise_tail(s, last_id);
    return 0;
}

int store_open(struct store **out, const struct store_options *opt, char *err, size_t errlen)
{
    struct store *s = NULL;
    int rc;

    if (!out || !opt || !opt->path || !*opt->path) {
        set_err(err, errlen, "store path missing");
        return BW_EINVAL;
    }
    if (!(s = calloc(1, sizeof *s))) {
        set_err(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    s->chunk_rows = opt->chunk_rows ? opt->chunk_rows : STORE_DEFAULT_CHUNK_ROWS;
    if (!(s->ranges = calloc(STORE_RANGES_MAX, sizeof *s->ranges))) {
        set_err(err, errlen, "out of memory");
        rc = BW_ENOMEM;
        goto out;
    }
    if (sqlite3_open_v2(opt->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        set_err(err, errlen, "open '%s': %s", opt->path,
                s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rc = BW_EIO;
        goto out;
    }
    if ((rc = store_pragmas(s, opt->sync_full)) < 0) {
        set_err(err, errlen, "set up '%s' (wal): %s", opt->path, sqlite3_errmsg(s->db));
        goto out;
    }
    if ((rc = schema_migrate(s->db, opt->path, err, errlen)) < 0)
        goto out;
    for (int i = 0; i < W_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, wsql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            set_err(err, errlen, "prepare store statement %d: %s", i, sqlite3_errmsg(s->db));
            rc = BW_EIO;
            goto out;
        }
    }
    if ((rc = store_load(s)) < 0) {
        set_err(err, errlen, "load state of '%s': %s", opt->path, sqlite3_errmsg(s->db));
        goto out;
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->in_txn)
        store_abort(s);
    for (int i = 0; i < W_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    for (int d = 0; d < DIM_N; d++)
        map_release(&s->dims[d]);
    map_release(&s->marks);
    map_release(&s->alerts);
    free(s->ranges);
    free(s);
}

int store_agent_seen(struct store *s, const struct store_agent_info *a)
{
    int64_t host;
    if (!s || !a || !a->agent_id || !*a->agent_id)
        return BW_EINVAL;
    if (s->txn_failed)
        return BW_EIO;
    int rc = 0;
    if (a->hostname && *a->hostname && (rc = dim_ensure(s, DIM_HOST, a->hostname, a->seen_ns,
                                                        NULL, &host)) < 0)
        goto out;
    sqlite3_stmt *st = s->st[W_AGENT_UPSERT];
    if (bind_text(st, 1, a->agent_id) || bind_text(st, 2, a->hostname) ||
        bind_text(st, 3, a->agent_version) || bind_text(st, 4, a->labels_json) ||
        sqlite3_bind_int64(st, 5, a->seen_ns)) {
        rc = BW_EIO;
        goto out;
    }
    int step = sqlite3_step(st);
    int64_t id = 0, seen = 0;
    if (step == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        seen = sqlite3_column_int64(st, 1);
        step = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE || id == 0) {
        rc = BW_EIO;
        goto out;
    }
    size_t klen = strlen(a->agent_id);
    struct map_entry *e = map_find(&s->dims[DIM_AGENT], a->agent_id, klen);
    if (!e && !(e = map_add(&s->dims[DIM_AGENT], a->agent_id, klen))) {
        rc = BW_ENOMEM;
        goto out;
    }
    e->id = id;
    e->seen = seen;
out:
    if (rc < 0 && s->in_txn)
        s->txn_failed = true;
    return rc;
}

/* Notes that (agent, epoch, seq) was stored as row id: extends the newest
 * run when it continues it, else starts a run (overwriting the oldest). */
static void range_note(struct store *s, int64_t agent, uint64_t epoch, uint64_t seq, int64_t id)
{
    if (s->n_ranges > 0) {
        struct ev_range *r = &s->ranges[(s->range_head + STORE_RANGES_MAX - 1) % STORE_RANGES_MAX];
        if (r->agent == agent && r->epoch == epoch && seq == r->last_seq + 1 &&
            id == r->first_id + (int64_t)(r->last_seq - r->first_seq) + 1) {
            r->last_seq = seq;
            return;
        }
    }
    s->ranges[s->range_head] = (struct ev_range){agent, epoch, seq, seq, id};
    s->range_head = (s->range_head + 1) % STORE_RANGES_MAX;
    if (s->n_ranges < STORE_RANGES_MAX)
        s->n_ranges++;
}

/* The row id of (agent, epoch, seq) if it is in a recent run; 0 if not. */
static int64_t range_lookup(const struct store *s, int64_t agent, uint64_t epoch, uint64_t seq)
{
    for (size_t i = 1; i <= s->n_ranges; i++) {
        const struct ev_range *r =
            &s->ranges[(s->range_head + STORE_RANGES_MAX - i) % STORE_RANGES_MAX];
        if (r->agent == agent && r->epoch == epoch && seq >= r->first_seq && seq <= r->last_seq)
            return r->first_id + (int64_t)(seq - r->first_seq);
    }
    return 0;
}

static int batch_check(const struct store_batch *b)
{
    if (!b->agent_id || !*b->agent_id || (b->n > 0 && !b->events))
        return BW_EINVAL;
    if (b->n > UINT32_MAX)
        return BW_ETOOBIG;
    for (size_t i = 0; i < b->n; i++) {
        const struct store_event *ev = &b->events[i];
        if (ev->body_len > 0 && !ev->body)
            return BW_EINVAL;
        if (ev->body_len > INT_MAX)
            return BW_ETOOBIG;
    }
    return 0;
}

static int event_insert(struct store *s, const struct store_batch *b,
                        const struct store_event *ev, int64_t agent, int64_t host,
                        int64_t container)
{
    sqlite3_stmt *st = s->st[W_EVENT_ADD];
    int64_t id = s->next_id;
    int rc = sqlite3_bind_int64(st, 1, id) | sqlite3_bind_int64(st, 2, ev->time_ns) |
             sqlite3_bind_int64(st, 3, b->recv_ns) | sqlite3_bind_int64(st, 4, agent) |
             sqlite3_bind_int64(st, 5, host) | sqlite3_bind_int64(st, 6, container) |
             sqlite3_bind_int(st, 7, ev->kind) | sqlite3_bind_int(st, 8, ev->severity) |
             sqlite3_bind_int64(st, 9, (sqlite3_int64)b->epoch) |
             sqlite3_bind_int64(st, 10, (sqlite3_int64)ev->seq);
    if (ev->body_len > 0)
        rc |= sqlite3_bind_blob(st, 11, ev->body, (int)ev->body_len, SQLITE_STATIC);
    else
        rc |= sqlite3_bind_zeroblob(st, 11, 0);
    if (rc != SQLITE_OK || stmt_exec(st) < 0)
        return BW_EIO;
    s->next_id++;
    return chunk_add(s, id, ev->time_ns, ev->kind, host, container, agent);
}

int store_append(struct store *s, const struct store_batch *b, struct store_append_result *res)
{
    int64_t agent, host = 0;
    uint64_t mark, prev;
    uint32_t stored = 0, dups = 0;
    int rc;

    if (!s || !b || !res || !s->in_txn)
        return BW_EINVAL;
    if (s->txn_failed)
        return BW_EIO;
    if ((rc = batch_check(b)) < 0)
        return rc;
    /* From here a failure may leave half a batch: the transaction is
     * poisoned so that commit rolls it back. */
    if ((rc = dim_ensure(s, DIM_AGENT, b->agent_id, b->recv_ns, b->hostname, &agent)) < 0)
        goto out;
    if (b->hostname && *b->hostname &&
        (rc = dim_ensure(s, DIM_HOST, b->hostname, b->recv_ns, NULL, &host)) < 0)
        goto out;
    if ((rc = mark_get(s, agent, b->epoch, &mark)) < 0)
        goto out;
    prev = mark;
    for (size_t i = 0; i < b->n; i++) {
        const struct store_event *ev = &b->events[i];
        int64_t container = 0;
        if (ev->seq <= mark) {
            dups++;
            continue;
        }
        if (ev->container && ev->container->id && *ev->container->id &&
            (rc = dim_ensure(s, DIM_CONTAINER, ev->container->id, b->recv_ns, ev->container,
                             &container)) < 0)
            goto out;
        if ((rc = event_insert(s, b, ev, agent, host, container)) < 0)
            goto out;
        range_note(s, agent, b->epoch, ev->seq, s->next_id - 1);
        mark = ev->seq;
        stored++;
    }
    if (mark != prev && (rc = mark_put(s, agent, b->epoch, mark)) < 0)
        goto out;
    *res = (struct store_append_result){.committed_seq = mark, .stored = stored,
                                        .duplicates = dups};
out:
    if (rc < 0)
        s->txn_failed = true;
    return rc;
}

int store_committed_seq(struct store *s, const char *agent_id, uint64_t epoch, uint64_t *out)
{
    struct map_entry *e;
    uint64_t seq = 0;
    int rc;

    if (!s || !agent_id || !out)
        return BW_EINVAL;
    if ((rc = dim_find(s, DIM_AGENT, agent_id, &e)) < 0)
        return rc;
    if (e && (rc = mark_get(s, e->id, epoch, &seq)) < 0)
        return rc;
    *out = seq;
    return 0;
}

int store_checkpoint(struct store *s)
{
    if (!s || s->in_txn)
        return BW_EINVAL;
    int rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK ? 0 : BW_EIO;
}

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
    struct map_entry *e = map_find(&s->alerts, key, klen);
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
        if (!(e = map_add(&s->alerts, key, klen)))
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
        int rc = dim_ensure(s, DIM_AGENT, ev->agent_id, 0, NULL, &agent);
        if (rc < 0)
            return rc;
        id = range_lookup(s, agent, ev->epoch, ev->seq);
        if (sqlite3_bind_int64(st, 1, alert_id) || sqlite3_bind_int64(st, 2, agent) ||
            sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->epoch) ||
            sqlite3_bind_int64(st, 4, (sqlite3_int64)ev->seq) ||
            (id ? sqlite3_bind_int64(st, 5, id) : sqlite3_bind_null(st, 5)) ||
            stmt_exec(st) < 0)
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
    if ((rc = alert_find(s, a, key, klen, &e)) < 0)
        goto out;
    if (e && a->priority <= e->prio &&
        time_dist(a->time_ns, e->seen) <= (uint64_t)suppression_ns) {
        /* A repeat: count it on the latest alert of the group. */
        sqlite3_stmt *st = s->st[W_ALERT_BUMP];
        uint32_t count = e->count < UINT32_MAX ? e->count + 1 : e->count;
        int64_t id = e->id;
        if (sqlite3_bind_int64(st, 1, id) || sqlite3_bind_int64(st, 2, count) ||
            sqlite3_bind_int64(st, 3, a->time_ns) || stmt_exec(st) < 0) {
            rc = BW_EIO;
            goto out;
        }
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
        stmt_exec(st) < 0) {
        rc = BW_EIO;
        goto out;
    }
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if ((rc = alert_link(s, id, a, 0, &added)) < 0)
        goto out;
    if (!(e = map_find(&s->alerts, key, klen)) && !(e = map_add(&s->alerts, key, klen))) {
        rc = BW_ENOMEM;
        goto out;
    }
    e->id = id;
    e->prio = a->priority;
    e->seen = a->time_ns;
    e->count = 1;
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
    if (rc != SQLITE_OK || stmt_exec(st) < 0) {
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

/* ------------------------------------------------------------ the reader */

struct store_reader {
    sqlite3 *db;
    sqlite3_stmt *st[R_COUNT];
};

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
        set_err(err, errlen, "store path missing");
        return BW_EINVAL;
    }
    if (!(r = calloc(1, sizeof *r))) {
        set_err(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        set_err(err, errlen, "open '%s' read-only: %s", path,
                r->db ? sqlite3_errmsg(r->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(r->db, STORE_BUSY_MS);
    if (read_user_version(r->db, &version) < 0) {
        set_err(err, errlen, "read schema version of '%s': %s", path, sqlite3_errmsg(r->db));
        goto out;
    }
    if (version != STORE_SCHEMA_VERSION) {
        set_err(err, errlen, "'%s' has schema version %lld, expected %d", path,
                (long long)version, STORE_SCHEMA_VERSION);
        rc = BW_ECONFIG;
        goto out;
    }
    for (int i = 0; i < R_COUNT; i++) {
        if (sqlite3_prepare_v3(r->db, rsql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i],
                               NULL) != SQLITE_OK) {
            set_err(err, errlen, "prepare reader statement %d: %s", i, sqlite3_errmsg(r->db));
            goto out;
        }
    }
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
static int reader_dim(struct store_reader *r, enum rstmt i, const char *key, int64_t *id)
{
    if (bind_text(r->st[i], 1, key) != SQLITE_OK)
        return BW_EIO;
    return stmt_int(r->st[i], id);
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

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* Reads the current row of an EVENT_SELECT statement. */
static void row_read(sqlite3_stmt *st, struct store_row *row)
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
    sqlite3_stmt *st = r->st[R_SCAN];
    int rc = 0, step = SQLITE_DONE;
    if (sqlite3_bind_int64(st, 1, lo) || sqlite3_bind_int64(st, 2, hi) ||
        sqlite3_bind_int64(st, 3, q->since_ns) || sqlite3_bind_int64(st, 4, q->until_ns) ||
        sqlite3_bind_int64(st, 5, f->agent) || sqlite3_bind_int64(st, 6, f->host) ||
        sqlite3_bind_int64(st, 7, f->container) || sqlite3_bind_int(st, 8, q->kind) ||
        sqlite3_bind_int64(st, 9, *left))
        return BW_EIO;
    while (*left > 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_row row;
        row_read(st, &row);
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
    *f = (struct query_filter){-1, -1, -1};
    *none = false;
    for (int i = 0; i < 3; i++) {
        if (!dims[i].key)
            continue;
        if (dims[i].st == R_CONT_ID && !*dims[i].key) {
            *dims[i].id = 0;  /* "" = host events */
            continue;
        }
        int rc = reader_dim(r, dims[i].st, dims[i].key, dims[i].id);
        if (rc < 0)
            return rc;
        if (*dims[i].id == 0)
            *none = true;
    }
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
        q->before_id < 0)
        return BW_EINVAL;
    /* One read transaction: one snapshot for the chunk walk and the scans. */
    if (stmt_exec(r->st[R_BEGIN]) < 0)
        return BW_EIO;
    if ((rc = reader_filter(r, q, &f, &none)) < 0 || none)
        goto out;
    hi = q->before_id > 0 ? q->before_id - 1 : INT64_MAX;
    left = q->limit;
    if ((rc = stmt_int(r->st[R_LAST_CHUNK], &last_id)) < 0)
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
    if (stmt_exec(r->st[R_COMMIT]) < 0 && rc == 0)
        rc = BW_EIO;
    return rc;
}

int store_count_events(struct store_reader *r, uint64_t *out)
{
    int64_t summed, last_id, tail;
    int rc;

    if (!r || !out)
        return BW_EINVAL;
    if (stmt_exec(r->st[R_BEGIN]) < 0)
        return BW_EIO;
    if ((rc = stmt_int(r->st[R_SUM_ROWS], &summed)) < 0 ||
        (rc = stmt_int(r->st[R_LAST_CHUNK], &last_id)) < 0 ||
        (rc = sqlite3_bind_int64(r->st[R_COUNT_TAIL], 1, last_id) ? BW_EIO : 0) < 0 ||
        (rc = stmt_int(r->st[R_COUNT_TAIL], &tail)) < 0)
        goto out;
    *out = (uint64_t)(summed + tail);
out:
    if (stmt_exec(r->st[R_COMMIT]) < 0 && rc == 0)
        rc = BW_EIO;
    return rc;
}

/* ------------------------------------------------------- reading alerts */

int store_query_alerts(struct store_reader *r, const struct store_alert_query *q,
                       store_alert_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    if (!r || !q || !fn || q->limit == 0 || q->limit > STORE_QUERY_MAX_LIMIT ||
        q->before_id < 0)
        return BW_EINVAL;
    st = r->st[R_ALERTS];
    if (sqlite3_bind_int64(st, 1, q->before_id > 0 ? q->before_id - 1 : INT64_MAX) ||
        sqlite3_bind_int64(st, 2, q->since_ns) || sqlite3_bind_int64(st, 3, q->until_ns) ||
        bind_text(st, 4, q->rule) || bind_text(st, 5, q->hostname) ||
        bind_text(st, 6, q->container_id) || sqlite3_bind_int(st, 7, q->min_priority) ||
        sqlite3_bind_int64(st, 8, q->limit))
        return BW_EIO;
    /* A single statement is its own read transaction. */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t count = sqlite3_column_int64(st, 13);
        struct store_alert_row row = {
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
        };
        if ((rc = fn(&row, ctx)) != 0)
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = BW_EIO;
out:
    sqlite3_reset(st);
    return rc;
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
    if ((rc = stmt_int(r->st[R_LAST_CHUNK], &last_id)) < 0 ||
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
            row_read(get, &row);
        else if (step != SQLITE_DONE)
            rc = BW_EIO;
    } else {
        if ((rc = evidence_search(r, agent, epoch, seq, &found)) < 0)
            goto out;
        if (found)
            row_read(r->st[R_EVENT_FIND], &row);
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
    if (stmt_exec(r->st[R_BEGIN]) < 0)
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
    if (stmt_exec(r->st[R_COMMIT]) < 0 && rc == 0)
        rc = BW_EIO;
    return rc;
}

int store_count_alerts(struct store_reader *r, uint64_t *out)
{
    int64_t n;
    if (!r || !out)
        return BW_EINVAL;
    if (stmt_int(r->st[R_ALERT_COUNT], &n) < 0)
        return BW_EIO;
    *out = (uint64_t)n;
    return 0;
}
