/* store_sqlite.c - the durable event store (include/bulwark/store.h) on SQLite
 * in WAL mode: opening, the schema and its migration by PRAGMA user_version,
 * the write path (events, the exactly-once marks, the dimension tables
 * agents, hosts, containers) with its in-memory caches, the per-chunk
 * summaries that stand in for secondary indexes, and the ring of recently
 * assigned event ids. Alerts, evidence and detector state are in
 * store_alerts.c, the read-only query path in store_query.c; only store
 * files include sqlite3.h. docs/storage.md explains the layout and the
 * reasoning.
 *
 * Cache rule: every in-memory cache (dimension ids, marks) mirrors what this
 * connection sees in SQL, including the open transaction's own writes. So a
 * rollback simply clears the caches (they refill from the rolled-back tables)
 * and a cache that reaches its cap is cleared rather than evicted entry by
 * entry. The open chunk's summary and the next row id are snapshotted at
 * begin and restored on rollback. The open-alert map follows the same rule;
 * the ring of recently assigned event id ranges (used to resolve evidence
 * links without a search) is emptied by a rollback. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/hash.h"
#include "bulwark/log.h"
#include "store_internal.h"

#define STORE_DEFAULT_CHUNK_ROWS 4096u
#define STORE_TOUCH_NS (60LL * 1000000000LL)   /* last_seen granularity */
#define STORE_MAP_MAX (1u << 16)               /* entries per cache, then cleared */
#define STORE_RANGES_MAX 4096u                 /* recent (agent, epoch, seq) -> id runs */
/* The events insert up to VALUES; one row is STORE_EVENT_COLS parameters. */
#define STORE_EVENT_INSERT                                                              \
    "INSERT INTO events (id, time_ns, recv_ns, agent, host, container, kind, severity," \
    " epoch, seq, body) VALUES "
#define STORE_WAL_PASSIVE_PAGES 1000           /* SQLite's own auto-checkpoint size */
#define STORE_WAL_RESTART_PAGES 16384u         /* 64 MiB of 4 KiB pages */
#define STORE_WAL_RESTART_WAIT_MS 200          /* for readers, per RESTART attempt */

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
    /* 2 -> 3: a container lives on one host; queries by container use the
     * host's chunk summaries, which prune far better than container ids. */
    "ALTER TABLE containers ADD COLUMN host INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version = 3;",
    /* 3 -> 4: what the REST API owns or shows: an agent's last heartbeat
     * health, an alert's triage status, API tokens (only a hash of the
     * secret) and the append-only audit trail. */
    "ALTER TABLE agents ADD COLUMN health TEXT;"
    "ALTER TABLE agents ADD COLUMN health_at INTEGER;"
    "ALTER TABLE alerts ADD COLUMN status TEXT NOT NULL DEFAULT 'open';"
    "ALTER TABLE alerts ADD COLUMN status_note TEXT;"
    "ALTER TABLE alerts ADD COLUMN status_by TEXT;"
    "ALTER TABLE alerts ADD COLUMN status_at INTEGER;"
    "CREATE TABLE api_tokens ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  secret_hash BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER) WITHOUT ROWID;"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  detail TEXT);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "PRAGMA user_version = 4;",
    /* 4 -> 5: the rollups the REST API's stats, network and containers
     * answer from (server/store/store_rollup.c keeps them in the events'
     * transaction). The event counts and the posture are rebuilt here from
     * the stored events; net edges, container addresses and image findings
     * live in the bodies and start with this version. The user_version
     * below is the only number in this step: renumber it freely. */
    "CREATE TABLE roll_kinds ("
    "  minute INTEGER NOT NULL, kind INTEGER NOT NULL, severity INTEGER NOT NULL,"
    "  n INTEGER NOT NULL, PRIMARY KEY (minute, kind, severity)) WITHOUT ROWID;"
    "CREATE TABLE roll_hosts ("
    "  hour INTEGER NOT NULL, host INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (hour, host)) WITHOUT ROWID;"
    "CREATE TABLE roll_images ("
    "  hour INTEGER NOT NULL, image TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (hour, image)) WITHOUT ROWID;"
    "CREATE TABLE roll_alerts ("
    "  minute INTEGER NOT NULL, priority INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (minute, priority)) WITHOUT ROWID;"
    /* what: 0 rule, 1 hostname, 2 image */
    "CREATE TABLE roll_alert_tops ("
    "  hour INTEGER NOT NULL, what INTEGER NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (hour, what, name)) WITHOUT ROWID;"
    "CREATE TABLE roll_net ("
    "  hour INTEGER NOT NULL, host INTEGER NOT NULL, container INTEGER NOT NULL,"
    "  inbound INTEGER NOT NULL, protocol INTEGER NOT NULL, port INTEGER NOT NULL,"
    "  addr TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL,"
    "  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,"
    "  PRIMARY KEY (hour, host, container, inbound, protocol, port, addr, name))"
    "  WITHOUT ROWID;"
    "CREATE TABLE container_addrs ("
    "  addr TEXT NOT NULL, container INTEGER NOT NULL,"
    "  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,"
    "  PRIMARY KEY (addr, container)) WITHOUT ROWID;"
    "CREATE TABLE container_posture ("
    "  container INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, event_id INTEGER NOT NULL);"
    "CREATE TABLE image_vulns ("
    "  image TEXT NOT NULL, vuln_id TEXT NOT NULL, package TEXT NOT NULL,"
    "  severity TEXT NOT NULL, fixed_version TEXT NOT NULL, last_ns INTEGER NOT NULL,"
    "  PRIMARY KEY (image, vuln_id, package)) WITHOUT ROWID;"
    "CREATE INDEX alerts_by_container ON alerts (container_id, status);"
    "CREATE INDEX agents_by_hostname ON agents (hostname);"
    "INSERT INTO roll_kinds SELECT time_ns / 60000000000, kind, severity, count(*)"
    "  FROM events GROUP BY 1, 2, 3;"
    "INSERT INTO roll_hosts SELECT time_ns / 3600000000000, host, count(*) FROM events"
    "  WHERE host <> 0 GROUP BY 1, 2;"
    "INSERT INTO roll_images SELECT e.time_ns / 3600000000000, c.image, count(*)"
    "  FROM events AS e JOIN containers AS c ON c.id = e.container"
    "  WHERE coalesce(c.image, '') <> '' GROUP BY 1, 2;"
    "INSERT INTO roll_alerts SELECT last_seen / 60000000000, priority, sum(count) FROM alerts"
    "  GROUP BY 1, 2;"
    "INSERT INTO roll_alert_tops SELECT last_seen / 3600000000000, 0, rule, sum(count)"
    "  FROM alerts GROUP BY 1, 3;"
    "INSERT INTO roll_alert_tops SELECT last_seen / 3600000000000, 1, hostname, sum(count)"
    "  FROM alerts WHERE coalesce(hostname, '') <> '' GROUP BY 1, 3;"
    "INSERT INTO roll_alert_tops SELECT last_seen / 3600000000000, 2, image, sum(count)"
    "  FROM alerts WHERE coalesce(image, '') <> '' GROUP BY 1, 3;"
    "INSERT INTO container_posture SELECT container, max(time_ns), id FROM events"
    "  WHERE kind = 14 AND container <> 0 GROUP BY container;"
    "PRAGMA user_version = 5;",
    /* 5 -> 6: each forwarding destination's durable cursor per stream
     * (alerts, events): the last id it has taken delivery of. */
    "CREATE TABLE forward_cursors ("
    "  dest TEXT NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  last_id INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (dest, stream)) WITHOUT ROWID;"
    "PRAGMA user_version = 6;",
    /* 6 -> 7: enrollment (server/enroll.c): tokens stored as a SHA-256 of
     * their secret with a use count and an expiry, and revoked agent ids
     * (the server reads new ones by rowid). */
    "CREATE TABLE enroll_tokens ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  secret_hash BLOB NOT NULL,"
    "  max_uses INTEGER NOT NULL,"
    "  uses INTEGER NOT NULL DEFAULT 0,"
    "  expires_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE TABLE agent_revocations ("
    "  agent_id TEXT NOT NULL UNIQUE,"
    "  revoked_at INTEGER NOT NULL);"
    "PRAGMA user_version = 7;",
    /* 7 -> 8: which agent each host name belongs to (server/hostbind.c),
     * kept across restarts. A database from before starts with the names
     * its agents hold, the earliest first seen winning a shared name;
     * names filed as unverified claims are not holdings. And each agent's
     * epoch at its latest Hello (0: none yet), to tell when one goes back
     * to an older epoch. */
    "ALTER TABLE agents ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE host_bindings ("
    "  hostname TEXT PRIMARY KEY,"
    "  agent_id TEXT NOT NULL UNIQUE,"
    "  since INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO host_bindings"
    "  SELECT hostname, agent_id, first_seen FROM agents"
    "  WHERE coalesce(hostname, '') <> '' AND hostname NOT LIKE '% (unverified, claimed by %'"
    "  ORDER BY first_seen, id;"
    "PRAGMA user_version = 8;",
    /* 8 -> 9: a network question about one host or container reads only
     * its rows: its own side by roll_net's key (hour, host, ...), one seek
     * per hour, and the rows whose remote address is one of its
     * containers' by (addr, hour), found through containers by host and
     * container_addrs by container (store_fleet.c, R_NET_HOST and
     * R_NET_CONTAINER). Writers pay one index entry per new roll_net key;
     * updates of a key's counts touch none. */
    "CREATE INDEX roll_net_by_addr ON roll_net (addr, hour);"
    "CREATE INDEX containers_by_host ON containers (host);"
    "CREATE INDEX container_addrs_by_container ON container_addrs (container);"
    "PRAGMA user_version = 9;",
    /* 9 -> 10: an image's posture findings from misconfig and secret events
     * (kinds 18, 19; none existed before, so nothing to fill in), each
     * (check or secret rule, file) once. */
    "CREATE TABLE image_findings ("
    "  image TEXT NOT NULL, kind INTEGER NOT NULL, finding_id TEXT NOT NULL,"
    "  target TEXT NOT NULL, severity TEXT NOT NULL, last_ns INTEGER NOT NULL,"
    "  PRIMARY KEY (image, kind, finding_id, target)) WITHOUT ROWID;"
    "PRAGMA user_version = 10;",
};

static const char *const wsql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_EVENT_ADD] = STORE_EVENT_INSERT "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [W_AGENT_GET] = "SELECT id, last_seen FROM agents WHERE agent_id = ?1",
    [W_AGENT_ADD] = "INSERT INTO agents (agent_id, first_seen, last_seen, hostname)"
                    " VALUES (?1, ?2, ?2, ?3)",
    [W_AGENT_UPSERT] = "INSERT INTO agents (agent_id, hostname, version, labels, first_seen,"
                       " last_seen, epoch) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"
                       " ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname,"
                       " version = excluded.version, labels = excluded.labels,"
                       " last_seen = max(last_seen, excluded.last_seen),"
                       " epoch = CASE excluded.epoch WHEN 0 THEN epoch ELSE excluded.epoch END"
                       " RETURNING id, last_seen",
    [W_AGENT_TOUCH] = "UPDATE agents SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [W_HOST_GET] = "SELECT id, last_seen FROM hosts WHERE hostname = ?1",
    [W_HOST_ADD] = "INSERT INTO hosts (hostname, first_seen, last_seen) VALUES (?1, ?2, ?2)",
    [W_HOST_TOUCH] = "UPDATE hosts SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [W_CONT_GET] = "SELECT id, last_seen, host FROM containers WHERE container_id = ?1",
    [W_CONT_ADD] = "INSERT INTO containers (container_id, first_seen, last_seen, name, image,"
                   " image_digest, runtime, k8s_namespace, k8s_pod, host)"
                   " VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [W_CONT_TOUCH] = "UPDATE containers SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [W_CONT_HOST] = "UPDATE containers SET host = ?2 WHERE id = ?1",
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
                     " first_seen = min(first_seen, ?4) WHERE id = ?1",
    [W_EVID_ADD] = "INSERT OR IGNORE INTO alert_evidence (alert_id, agent, epoch, seq, event_id)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [W_STATE_PUT] = "INSERT INTO detector_state (key, value) VALUES (?1, ?2)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [W_STATE_GET] = "SELECT value FROM detector_state WHERE key = ?1",
    [W_AGENT_HEALTH] = "UPDATE agents SET health = ?2, health_at = ?3 WHERE agent_id = ?1",
    /* An agent holds one name: a new one frees its old one. */
    [W_HOSTBIND_DROP] = "DELETE FROM host_bindings WHERE agent_id = ?2 AND hostname <> ?1",
    [W_HOSTBIND_PUT] = "INSERT INTO host_bindings (hostname, agent_id, since) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT (hostname) DO NOTHING",
    [W_HOSTBIND_ALL] = "SELECT hostname, agent_id FROM host_bindings ORDER BY since, hostname",
    [W_AGENT_EPOCH] = "SELECT epoch FROM agents WHERE agent_id = ?1",
};

/* ------------------------------------------------------------ hash maps */

struct map_entry *store_map_find(const struct map *m, const void *key, size_t klen)
{
    if (m->cap == 0)
        return NULL;
    uint64_t h = bw_hash(key, klen);
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
struct map_entry *store_map_add(struct map *m, const void *key, size_t klen)
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
    uint64_t h = bw_hash(key, klen);
    size_t i = h & (m->cap - 1);
    while (m->slot[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slot[i] = (struct map_entry){.key = k, .klen = klen, .hash = h};
    m->n++;
    return &m->slot[i];
}

/* ------------------------------------------------------- chunk summaries */

static void sum_set(uint8_t *sum, int64_t id)
{
    uint64_t bit = (uint64_t)id % (STORE_SUM_BYTES * 8);
    sum[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* ------------------------------------------------------------ the writer */

static const struct {
    enum wstmt get, add, touch;
} dim_stmt[DIM_N] = {
    [DIM_AGENT] = {W_AGENT_GET, W_AGENT_ADD, W_AGENT_TOUCH},
    [DIM_HOST] = {W_HOST_GET, W_HOST_ADD, W_HOST_TOUCH},
    [DIM_CONTAINER] = {W_CONT_GET, W_CONT_ADD, W_CONT_TOUCH},
};

void store_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Brings db's schema to STORE_SCHEMA_VERSION, one transaction per step. */
int store_schema_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    return sql_migrate(db, store_migrations, STORE_SCHEMA_VERSION, path, NULL, err, errlen);
}

static int on_journal_mode(void *ctx, int ncol, char **val, char **name)
{
    *(bool *)ctx = ncol == 1 && val[0] && strcmp(val[0], "wal") == 0;
    return 0;
}

/* Replaces SQLite's auto-checkpoint (same PASSIVE checkpoint past 1,000
 * pages) and adds the RESTART past wal_restart_pages: a PASSIVE checkpoint
 * cannot reset the WAL while any reader still reads part of it, so readers
 * that always overlap would let it grow forever. RESTART waits up to
 * STORE_WAL_RESTART_WAIT_MS for the readers of the moment to finish (queries
 * take milliseconds); if they do not, it is tried again after another
 * eighth of the limit, so a long reader costs the writer one short wait,
 * not one per commit. Runs after each commit, outside the transaction. */
static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store *s = arg;
    int rc;

    if ((uint32_t)pages < s->wal_restart_pages || pages < s->wal_retry_pages) {
        if (pages >= STORE_WAL_PASSIVE_PAGES)
            sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    sqlite3_busy_timeout(db, STORE_WAL_RESTART_WAIT_MS);
    rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    sqlite3_busy_timeout(db, STORE_BUSY_MS);
    if (rc == SQLITE_OK) {
        s->wal_retry_pages = 0;
    } else {
        s->wal_retry_pages = pages + (int)(s->wal_restart_pages / 8);
        log_msg(LOG_WARN, "store", "wal at %d pages: readers held it through a %d ms checkpoint "
                "wait (%s); retrying after %d pages", pages, STORE_WAL_RESTART_WAIT_MS,
                sqlite3_errstr(rc), s->wal_retry_pages);
    }
    return SQLITE_OK;
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
    sqlite3_wal_hook(s->db, store_wal_hook, s);  /* in place of the auto-checkpoint */
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
    return sql_exec(st);
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
    struct map_entry *e = store_map_find(&s->dims[d], key, klen);
    if (e) {
        *out = e;
        return 0;
    }
    sqlite3_stmt *st = s->st[dim_stmt[d].get];
    int64_t id = 0, seen = 0, host = 0;
    if (sqlite3_bind_text(st, 1, key, (int)klen, SQLITE_STATIC) != SQLITE_OK)
        return BW_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        seen = sqlite3_column_int64(st, 1);
        if (d == DIM_CONTAINER)
            host = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return BW_EIO;
    *out = NULL;
    if (rc == SQLITE_ROW) {
        if (!(e = store_map_add(&s->dims[d], key, klen)))
            return BW_ENOMEM;
        e->id = id;
        e->seen = seen;
        e->host = host;
        *out = e;
    }
    return 0;
}

/* A container lives on one host; if it shows up on another (a forged or
 * reused id), it is marked as many-hosted (-1) so that queries by container
 * stop narrowing to one host's chunks. */
static int container_check_host(struct store *s, struct map_entry *e)
{
    sqlite3_stmt *st = s->st[W_CONT_HOST];

    if (e->host == s->append_host || e->host == -1 || e->host == 0)
        return 0;
    if (sqlite3_bind_int64(st, 1, e->id) || sqlite3_bind_int64(st, 2, -1) || sql_exec(st) < 0)
        return BW_EIO;
    e->host = -1;
    return 0;
}

/* Returns in *id the dimension id of key, inserting the row when missing
 * (extra: the agent's hostname, or the ContainerRef) and refreshing
 * last_seen at most once per STORE_TOUCH_NS. */
int store_dim_ensure(struct store *s, enum dim_kind d, const char *key, int64_t now,
                     const void *extra, int64_t *id)
{
    struct map_entry *e;
    int rc = dim_find(s, d, key, &e);
    if (rc < 0)
        return rc;
    if (e) {
        if (d == DIM_CONTAINER && (rc = container_check_host(s, e)) < 0)
            return rc;
        if (now > e->seen && now - e->seen >= STORE_TOUCH_NS) {
            sqlite3_stmt *st = s->st[dim_stmt[d].touch];
            if (sqlite3_bind_int64(st, 1, e->id) || sqlite3_bind_int64(st, 2, now) ||
                sql_exec(st) < 0)
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
              bind_text(st, 7, c->k8s_namespace) | bind_text(st, 8, c->k8s_pod) |
              sqlite3_bind_int64(st, 9, s->append_host);
    }
    if (rc != SQLITE_OK || sql_exec(st) < 0)
        return BW_EIO;
    int64_t nid = sqlite3_last_insert_rowid(s->db);
    if (!(e = store_map_add(&s->dims[d], key, strlen(key))))
        return BW_ENOMEM;
    e->id = nid;
    e->seen = now;
    e->host = d == DIM_CONTAINER ? s->append_host : 0;
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
    struct map_entry *e = store_map_find(&s->marks, key, sizeof key);
    if (!e) {
        sqlite3_stmt *st = s->st[W_MARK_GET];
        int64_t v;
        if (sqlite3_bind_int64(st, 1, agent) ||
            sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch) || sql_int(st, &v) < 0)
            return BW_EIO;
        if (!(e = store_map_add(&s->marks, key, sizeof key)))
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
        sqlite3_bind_int64(st, 3, (sqlite3_int64)seq) || sql_exec(st) < 0)
        return BW_EIO;
    mark_key(key, agent, epoch);
    struct map_entry *e = store_map_find(&s->marks, key, sizeof key);
    if (!e && !(e = store_map_add(&s->marks, key, sizeof key)))
        return BW_ENOMEM;
    e->seq = seq;
    return 0;
}

/* Rolls back (if SQLite still has a transaction open) and restores the
 * in-memory state to what it was at begin. */
static void store_abort(struct store *s)
{
    /* Keep why, before the rollback's own result replaces it. */
    int code = sqlite3_errcode(s->db);
    if (code != SQLITE_OK && code != SQLITE_ROW && code != SQLITE_DONE) {
        s->last_err_code = code == SQLITE_FULL ? BW_EFULL
                           : (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? BW_EAGAIN
                                                                             : BW_EIO;
        snprintf(s->last_err, sizeof s->last_err, "%s", code == SQLITE_FULL
                     ? "the database's disk is full" : sqlite3_errmsg(s->db));
    } else {
        s->last_err_code = BW_EIO;
        snprintf(s->last_err, sizeof s->last_err, "a write of the transaction failed");
    }
    if (!sqlite3_get_autocommit(s->db))
        sql_exec(s->st[W_ROLLBACK]);
    s->next_id = s->saved_next_id;
    s->cur = s->saved_cur;
    for (int d = 0; d < DIM_N; d++)
        map_clear(&s->dims[d]);
    map_clear(&s->marks);
    map_clear(&s->alerts);
    s->n_ranges = 0;  /* runs noted in this transaction are gone */
    s->n_bumps = 0;
    store_rollup_reset(s);
    s->in_txn = false;
    s->txn_failed = false;
}

int store_begin(struct store *s)
{
    if (!s || s->in_txn)
        return BW_EINVAL;
    if (sql_exec(s->st[W_BEGIN]) < 0)
        return BW_EIO;
    s->in_txn = true;
    s->txn_failed = false;
    s->txn_gen++;
    s->n_bumps = 0;
    s->saved_next_id = s->next_id;
    s->saved_cur = s->cur;
    return 0;
}

int store_commit(struct store *s)
{
    if (!s || !s->in_txn)
        return BW_EINVAL;
    if (s->txn_failed || store_alert_flush(s) < 0 || store_rollup_flush(s) < 0 ||
        (s->cur.dirty && chunk_flush(s) < 0) ||
        sql_exec(s->st[W_COMMIT]) < 0) {
        store_abort(s);
        return s->last_err_code;
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
    if (sql_int(s->st[W_MAX_ID], &max_id) < 0)
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
        store_set_err(err, errlen, "store path missing");
        return BW_EINVAL;
    }
    if (!(s = calloc(1, sizeof *s))) {
        store_set_err(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    s->chunk_rows = opt->chunk_rows ? opt->chunk_rows : STORE_DEFAULT_CHUNK_ROWS;
    s->wal_restart_pages = opt->wal_restart_pages ? opt->wal_restart_pages
                                                  : STORE_WAL_RESTART_PAGES;
    if (!(s->ranges = calloc(STORE_RANGES_MAX, sizeof *s->ranges))) {
        store_set_err(err, errlen, "out of memory");
        rc = BW_ENOMEM;
        goto out;
    }
    if (sqlite3_open_v2(opt->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        store_set_err(err, errlen, "open '%s': %s", opt->path,
                s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rc = BW_EIO;
        goto out;
    }
    if ((rc = store_pragmas(s, opt->sync_full)) < 0) {
        store_set_err(err, errlen, "set up '%s' (wal): %s", opt->path, sqlite3_errmsg(s->db));
        goto out;
    }
    if ((rc = store_schema_migrate(s->db, opt->path, err, errlen)) < 0)
        goto out;
    if ((rc = sql_prepare_all(s->db, wsql, W_COUNT, s->st, "store", err, errlen)) < 0 ||
        (rc = sql_prepare_rows(s->db, STORE_EVENT_INSERT, STORE_EVENT_COLS, STORE_INSERT_ROWS, NULL,
                               &s->ins_many, err, errlen)) < 0 ||
        (rc = store_rollup_open(s, err, errlen)) < 0)
        goto out;
    if ((rc = store_load(s)) < 0) {
        store_set_err(err, errlen, "load state of '%s': %s", opt->path, sqlite3_errmsg(s->db));
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
    sqlite3_finalize(s->ins_many);
    store_rollup_close(s);
    sqlite3_close(s->db);
    for (int d = 0; d < DIM_N; d++)
        map_release(&s->dims[d]);
    map_release(&s->marks);
    map_release(&s->alerts);
    free(s->ranges);
    free(s->bumps);
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
    if (a->hostname && *a->hostname && (rc = store_dim_ensure(s, DIM_HOST, a->hostname, a->seen_ns,
                                                        NULL, &host)) < 0)
        goto out;
    sqlite3_stmt *st = s->st[W_AGENT_UPSERT];
    if (bind_text(st, 1, a->agent_id) || bind_text(st, 2, a->hostname) ||
        bind_text(st, 3, a->agent_version) || bind_text(st, 4, a->labels_json) ||
        sqlite3_bind_int64(st, 5, a->seen_ns) ||
        sqlite3_bind_int64(st, 6, (sqlite3_int64)a->epoch)) {
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
    struct map_entry *e = store_map_find(&s->dims[DIM_AGENT], a->agent_id, klen);
    if (!e && !(e = store_map_add(&s->dims[DIM_AGENT], a->agent_id, klen))) {
        rc = BW_ENOMEM;
        goto out;
    }
    e->id = id;
    e->seen = seen;
    if (a->holds_hostname && a->hostname && *a->hostname) {
        sqlite3_stmt *drop = s->st[W_HOSTBIND_DROP], *put = s->st[W_HOSTBIND_PUT];
        if (bind_text(drop, 1, a->hostname) || bind_text(drop, 2, a->agent_id) ||
            sql_exec(drop) < 0 || bind_text(put, 1, a->hostname) ||
            bind_text(put, 2, a->agent_id) || sqlite3_bind_int64(put, 3, a->seen_ns) ||
            sql_exec(put) < 0)
            rc = BW_EIO;
    }
out:
    if (rc < 0 && s->in_txn)
        s->txn_failed = true;
    return rc;
}

int store_agent_epoch(struct store *s, const char *agent_id, uint64_t *out)
{
    sqlite3_stmt *st = s->st[W_AGENT_EPOCH];
    int64_t v;

    if (bind_text(st, 1, agent_id) || sql_int(st, &v) < 0) {
        if (s->in_txn)
            s->txn_failed = true;
        return BW_EIO;
    }
    *out = (uint64_t)v;
    return 0;
}

static int emit_hostbind(sqlite3_stmt *st, void *fn, void *ctx)
{
    const char *host = (const char *)sqlite3_column_text(st, 0);
    const char *agent = (const char *)sqlite3_column_text(st, 1);

    return ((store_hostbind_fn)fn)(host ? host : "", agent ? agent : "", ctx);
}

int store_hostbind_each(struct store *s, store_hostbind_fn fn, void *ctx)
{
    return store_step_rows(s->st[W_HOSTBIND_ALL], emit_hostbind, (void *)fn, ctx);
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
int64_t store_range_lookup(const struct store *s, int64_t agent, uint64_t epoch, uint64_t seq)
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

/* Binds row r at parameter base (columns in W_EVENT_ADD's order). */
static int row_bind(sqlite3_stmt *st, int base, const struct pending_row *r,
                    const struct store_batch *b)
{
    int rc = sqlite3_bind_int64(st, base + 1, r->id) | sqlite3_bind_int64(st, base + 2, r->time_ns) |
             sqlite3_bind_int64(st, base + 3, b->recv_ns) | sqlite3_bind_int64(st, base + 4, r->agent) |
             sqlite3_bind_int64(st, base + 5, r->host) |
             sqlite3_bind_int64(st, base + 6, r->container) | sqlite3_bind_int(st, base + 7, r->kind) |
             sqlite3_bind_int(st, base + 8, r->severity) |
             sqlite3_bind_int64(st, base + 9, (sqlite3_int64)b->epoch) |
             sqlite3_bind_int64(st, base + 10, r->seq);

    if (r->body_len > 0)
        rc |= sqlite3_bind_blob(st, base + 11, r->body, r->body_len, SQLITE_STATIC);
    else
        rc |= sqlite3_bind_zeroblob(st, base + 11, 0);
    return rc == SQLITE_OK ? 0 : BW_EIO;
}

/* Inserts the waiting rows: a full set with the multi-row statement, fewer
 * one by one. */
static int rows_flush(struct store *s, const struct store_batch *b)
{
    size_t n = s->n_pend;
    int rc = 0;

    s->n_pend = 0;
    if (n == STORE_INSERT_ROWS) {
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = row_bind(s->ins_many, (int)i * STORE_EVENT_COLS, &s->pend[i], b);
        return rc == 0 ? sql_exec(s->ins_many) : rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = row_bind(s->st[W_EVENT_ADD], 0, &s->pend[i], b);
        if (rc == 0)
            rc = sql_exec(s->st[W_EVENT_ADD]);
    }
    return rc;
}

/* Queues one event row (its id assigned now) and folds it into the chunk. */
static int event_insert(struct store *s, const struct store_batch *b,
                        const struct store_event *ev, int64_t agent, int64_t host,
                        int64_t container)
{
    int64_t id = s->next_id;
    int rc;

    s->pend[s->n_pend++] = (struct pending_row){
        .id = id, .time_ns = ev->time_ns, .agent = agent, .host = host,
        .container = container, .seq = (int64_t)ev->seq, .kind = ev->kind,
        .severity = ev->severity, .body = ev->body, .body_len = (int)ev->body_len,
    };
    if (s->n_pend == STORE_INSERT_ROWS && (rc = rows_flush(s, b)) < 0)
        return rc;
    s->next_id++;
    if ((rc = store_rollup_event(s, ev, id, host, container)) < 0)
        return rc;
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
    if ((rc = store_dim_ensure(s, DIM_AGENT, b->agent_id, b->recv_ns, b->hostname, &agent)) < 0)
        goto out;
    if (b->hostname && *b->hostname &&
        (rc = store_dim_ensure(s, DIM_HOST, b->hostname, b->recv_ns, NULL, &host)) < 0)
        goto out;
    if ((rc = mark_get(s, agent, b->epoch, &mark)) < 0)
        goto out;
    prev = mark;
    /* Events at or below the mark are resends; the first new one must follow
     * it, or the events between were never stored (an earlier batch of the
     * stream failed with its transaction while this one was in flight):
     * storing it would leave a hole the agent never resends. */
    size_t first = 0;
    while (first < b->n && b->events[first].seq <= mark)
        first++;
    if (first < b->n && b->events[first].seq != mark + 1 && !b->allow_gap) {
        *res = (struct store_append_result){.committed_seq = mark};
        return BW_ESEQ;
    }
    s->append_host = host;
    for (size_t i = 0; i < b->n; i++) {
        const struct store_event *ev = &b->events[i];
        int64_t container = 0;
        if (ev->seq <= mark) {
            dups++;
            continue;
        }
        if (ev->container && ev->container->id && *ev->container->id &&
            (rc = store_dim_ensure(s, DIM_CONTAINER, ev->container->id, b->recv_ns, ev->container,
                             &container)) < 0)
            goto out;
        if ((rc = event_insert(s, b, ev, agent, host, container)) < 0)
            goto out;
        range_note(s, agent, b->epoch, ev->seq, s->next_id - 1);
        mark = ev->seq;
        stored++;
    }
    if ((rc = rows_flush(s, b)) < 0)
        goto out;
    if (mark != prev && (rc = mark_put(s, agent, b->epoch, mark)) < 0)
        goto out;
    *res = (struct store_append_result){.committed_seq = mark, .stored = stored,
                                        .duplicates = dups};
out:
    if (rc < 0) {
        s->n_pend = 0;
        s->txn_failed = true;
    }
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

int store_agent_health(struct store *s, const char *agent_id, const char *health_json,
                       int64_t at_ns)
{
    if (!s || !agent_id || !health_json || !s->in_txn)
        return BW_EINVAL;
    if (s->txn_failed)
        return BW_EIO;
    sqlite3_stmt *st = s->st[W_AGENT_HEALTH];
    if (bind_text(st, 1, agent_id) || bind_text(st, 2, health_json) ||
        sqlite3_bind_int64(st, 3, at_ns) || sql_exec(st) < 0) {
        s->txn_failed = true;
        return BW_EIO;
    }
    return 0;
}

const char *store_last_error(const struct store *s, int *code)
{
    if (code)
        *code = s->last_err_code;
    return s->last_err[0] ? s->last_err : "unknown";
}
