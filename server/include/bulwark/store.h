/* store.h - the durable event store behind a narrow interface.
 *
 * bulwarkd's writer thread is the only caller of the write half (begin,
 * agent_seen, append, commit); readers (the API, tests, benchmarks) open their
 * own struct store_reader. The SQLite implementation lives in
 * server/store/ (store_sqlite.c and the files beside it), the only server
 * code that includes sqlite3.h; a PostgreSQL backend would implement this
 * same header.
 *
 * Exactly-once: for each (agent_id, epoch) the store keeps the highest
 * committed sequence number. store_append() skips events at or below it
 * (resends, counted as duplicates) and advances it in the same transaction
 * that inserts the rest, so a crash can never separate the two.
 *
 * Alerts (store_alert_raise) and detector state (store_state_put) are written
 * by the same writer thread inside the same transaction as the events they
 * come from, so an alert is never committed without its events, nor lost
 * while its events are kept. */
#ifndef BULWARK_STORE_H
#define BULWARK_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/buf.h"
#include "bulwark/v1/bulwark.pb-c.h"

struct store;
struct store_reader;

struct store_options {
    const char *path;     /* SQLite file; created with the schema if missing */
    bool sync_full;       /* synchronous=FULL (default true) or NORMAL */
    uint32_t chunk_rows;  /* rows summarised per chunk; 0 = default (4096) */
    /* WAL pages after which a commit checkpoints with RESTART, waiting
     * briefly for readers, so that overlapping readers (a dashboard that is
     * always querying) cannot starve the checkpoints and let the WAL grow
     * without bound; 0 = default (16384: 64 MiB of 4 KiB pages). */
    uint32_t wal_restart_pages;
};

struct store_agent_info {
    const char *agent_id;
    const char *hostname;
    const char *agent_version;
    const char *labels_json;  /* {"cloud":..,"region":..,...}; may be NULL */
    int64_t seen_ns;
    bool holds_hostname;      /* the agent holds hostname (hostbind.h): kept in
                               * host_bindings, its previous name freed */
    uint64_t epoch;           /* the Hello's epoch, kept as the agent's latest; 0 keeps it */
};

/* One event as the store sees it: the typed columns, plus `body`, the packed
 * bulwark.v1.Event kept as the compact record of everything else. */
struct store_event {
    uint64_t seq;
    int64_t time_ns;
    int32_t kind;      /* Bulwark__V1__Event__BodyCase: 10 exec .. 16 external */
    int32_t severity;  /* Bulwark__V1__Severity */
    const Bulwark__V1__ContainerRef *container;  /* NULL for host events */
    const uint8_t *body;
    size_t body_len;
    /* The decoded event, when the caller has it: the rollups read net,
     * config and vuln bodies from it. NULL: the store unpacks the body of
     * those kinds itself. */
    const Bulwark__V1__Event *ev;
};

/* One agent's batch: contiguous, strictly increasing seq (validated by ingest). */
struct store_batch {
    const char *agent_id;
    const char *hostname;
    uint64_t epoch;
    /* The first batch of a stream after Welcome: its first new event may
     * start past the mark + 1 (the database lost events it once acked, e.g.
     * restored from an older copy; the connection logs it). Any other batch
     * must continue the mark exactly. */
    bool allow_gap;
    int64_t recv_ns;
    size_t n;
    const struct store_event *events;
};

struct store_append_result {
    uint64_t committed_seq;  /* (agent, epoch) high-water mark after this append */
    uint32_t stored;         /* rows inserted */
    uint32_t duplicates;     /* events at or below the previous mark, skipped */
};

/* Opens (creating or migrating by PRAGMA user_version) the store for writing.
 * On failure returns a negative bw_err and a reason in err. */
int store_open(struct store **out, const struct store_options *opt, char *err, size_t errlen);
/* Closes; an open transaction is rolled back. store_close(NULL) is a no-op. */
void store_close(struct store *s);

/* One write transaction groups many batches (group commit). */
int store_begin(struct store *s);
/* Commits; on failure the transaction is rolled back and BW_EFULL (disk
 * full), BW_EAGAIN (locked) or BW_EIO returned: nothing of it is stored and
 * the in-memory marks are as before begin. */
int store_commit(struct store *s);
void store_rollback(struct store *s);
/* Why the last failed transaction failed, for logs ("the database's disk is
 * full", SQLite's message otherwise); *code (may be NULL) its class:
 * BW_EFULL for a full disk, BW_EAGAIN for lock contention, else BW_EIO. */
const char *store_last_error(const struct store *s, int *code);

/* Upserts the agents row (first/last seen, hostname, version, labels), and
 * the agent's host name binding when it holds the name. */
int store_agent_seen(struct store *s, const struct store_agent_info *a);
/* The epoch of the agent's latest Hello stored (0: none, or unknown agent). */
int store_agent_epoch(struct store *s, const char *agent_id, uint64_t *out);
/* The host name bindings kept (hostname -> agent id), oldest first: fn per
 * binding (non-zero stops, and is returned). 0 or BW_EIO. Outside a
 * transaction, before the writer starts (bulwarkd loads them at start). */
typedef int (*store_hostbind_fn)(const char *hostname, const char *agent_id, void *ctx);
int store_hostbind_each(struct store *s, store_hostbind_fn fn, void *ctx);
/* Inserts the batch's new events and advances the mark (inside a transaction).
 * A batch whose first new event does not follow the mark (an earlier batch
 * of its stream failed; see allow_gap) is refused with BW_ESEQ, nothing
 * written and the transaction left usable for the other batches. */
int store_append(struct store *s, const struct store_batch *b, struct store_append_result *res);
/* The mark for (agent_id, epoch) including this transaction's appends; 0 if
 * none. After a commit it is what Welcome and Ack report. */
int store_committed_seq(struct store *s, const char *agent_id, uint64_t epoch, uint64_t *out);

/* -------------------------------------------------------------- alerts */

#define STORE_ALERT_EVIDENCE_MAX 64u  /* evidence links kept per alert (the first) */

/* One event an alert links to, by the agent's own numbering. */
struct store_evidence {
    const char *agent_id;
    uint64_t epoch;
    uint64_t seq;
};

struct store_alert {
    const char *rule;
    int32_t priority;          /* Bulwark__V1__Severity: higher is more severe */
    const char *output;        /* rendered text; NULL = "" */
    const char *source;        /* "rule", "correlation", "anomaly", "falco" */
    const char *group_key;     /* suppression groups by (rule, group_key); NULL = "" */
    const char *agent_id;      /* these four may be NULL or "" */
    const char *hostname;
    const char *container_id;
    const char *image;
    const char *tags_json;     /* JSON array text, or NULL */
    int64_t time_ns;
    bool retrospective;        /* found by a retro-hunt; never merges with live alerts */
    const struct store_evidence *evidence;
    size_t n_evidence;
};

struct store_alert_result {
    int64_t alert_id;
    bool raised;     /* a new alert row (false: merged into alert_id) */
    uint32_t count;  /* the alert's count after this raise */
};

/* Inside a transaction. A repeat of the same rule on the same group_key
 * (and the same retrospective flag) within suppression_ns of the latest such
 * alert's last_seen increments its count, moves last_seen and adds evidence
 * links (at most STORE_ALERT_EVIDENCE_MAX kept per alert), unless the new
 * priority is higher, which raises a new alert. A failure poisons the
 * transaction like store_append. BW_EINVAL for a missing rule or source. */
int store_alert_raise(struct store *s, const struct store_alert *a, int64_t suppression_ns,
                      struct store_alert_result *res);

/* Small named blobs (detector state) kept in the database. put: inside a
 * transaction, replaces any previous value. get: appends the value to out;
 * BW_ENOTFOUND if there is none, BW_ETOOBIG if out cannot hold it. */
int store_state_put(struct store *s, const char *key, const uint8_t *p, size_t n);
int store_state_get(struct store *s, const char *key, struct buf *out);

/* ------------------------------------------------------------- queries */

#define STORE_QUERY_MAX_LIMIT 1000u
#define STORE_MINUTE_NS (60LL * 1000000000LL)  /* series' precision */
#define STORE_HOUR_NS (60 * STORE_MINUTE_NS)    /* tops' and edges' precision */

struct store_query {
    int64_t since_ns;          /* time_ns >= since_ns; 0 = no bound */
    int64_t until_ns;          /* time_ns < until_ns; 0 = no bound */
    const char *agent_id;      /* NULL = any */
    const char *hostname;      /* NULL = any */
    const char *container_id;  /* NULL = any; "" = host events only */
    int32_t kind;              /* 0 = any */
    int32_t min_severity;      /* severity >= min_severity; 0 = any */
    const char *image;         /* NULL = any; events of containers of this image */
    const char *rule;          /* NULL = any; events linked as evidence of this rule's
                                * alerts (links whose event id was recorded) */
    int64_t before_id;         /* cursor: rows with id < before_id; 0 = newest */
    /* ascending: rows with id > after_id, oldest first (export). Ids grow
     * in commit order and a reader sees whole transactions, so a row not
     * yet visible always gets an id above every visible one: resuming after
     * the last id seen never skips or repeats. before_id is then ignored. */
    bool ascending;
    int64_t after_id;
    uint32_t limit;            /* 1..STORE_QUERY_MAX_LIMIT */
};

/* A row, valid only during the callback. Rows come newest first (by id),
 * or oldest first when the query is ascending. */
struct store_row {
    int64_t id;
    uint64_t seq;
    uint64_t epoch;
    int64_t time_ns;
    int64_t recv_ns;
    int32_t kind;
    int32_t severity;
    const char *agent_id;
    const char *hostname;
    const char *container_id;  /* "" for host events */
    const uint8_t *body;
    size_t body_len;
};

/* Return non-zero from the callback to stop early (that value is returned). */
typedef int (*store_row_fn)(const struct store_row *row, void *ctx);

/* Checks the database file's structure (PRAGMA quick_check: every page of
 * every table and index is read) on a read-only connection of its own, so
 * the writer and the readers go on meanwhile. Returns 0 with the number of
 * problems found in *problems (0: intact; at most 100 are counted) and the
 * first one's text in first; BW_EAGAIN when *cancel became true (polled
 * while it runs); BW_EIO with the reason in err when it could not check. */
int store_quick_check(const char *path, const atomic_bool *cancel, uint64_t *problems,
                      char *first, size_t firstlen, char *err, size_t errlen);

/* A read-only connection of its own (WAL readers never block the writer).
 * One thread uses a reader at a time; it may be handed to another thread
 * through a lock (the API's pool). */
int store_reader_open(struct store_reader **out, const char *path, char *err, size_t errlen);
void store_reader_close(struct store_reader *r);
/* Runs a filtered query; returns 0, the callback's non-zero value, or a
 * negative bw_err (BW_EINVAL for a bad limit). */
int store_query_events(struct store_reader *r, const struct store_query *q, store_row_fn fn,
                       void *ctx);
/* Total number of stored events. */
int store_count_events(struct store_reader *r, uint64_t *out);
/* One event by id: fn is called once if it exists; BW_ENOTFOUND if not. */
int store_event_get(struct store_reader *r, int64_t id, store_row_fn fn, void *ctx);

struct store_alert_query {
    int64_t since_ns;          /* last_seen >= since_ns; 0 = no bound */
    int64_t until_ns;          /* last_seen < until_ns; 0 = no bound */
    const char *rule;          /* NULL = any */
    const char *hostname;      /* NULL = any */
    const char *container_id;  /* NULL = any; "" = alerts without a container */
    int32_t min_priority;      /* priority >= min_priority */
    const char *status;        /* NULL = any; "open", "acknowledged", "resolved" */
    int64_t before_id;         /* cursor: alerts with id < before_id; 0 = newest */
    bool ascending;            /* alerts with id > after_id, oldest first (export) */
    int64_t after_id;
    uint32_t limit;            /* 1..STORE_QUERY_MAX_LIMIT */
};

/* An alert, valid only during the callback. Strings are "" when absent,
 * except tags_json, which is NULL. */
struct store_alert_row {
    int64_t id;
    const char *rule;
    int32_t priority;
    const char *output, *source, *group_key;
    const char *agent_id, *hostname, *container_id, *image;
    const char *tags_json;
    int64_t first_seen_ns, last_seen_ns;
    uint32_t count;
    bool retrospective;
    size_t n_evidence;
    const char *status;        /* "open", "acknowledged", "resolved" */
    const char *status_note;   /* "" when none */
    const char *status_by;     /* the token name that set it; "" when none */
    int64_t status_ns;         /* 0 when never changed */
};

typedef int (*store_alert_fn)(const struct store_alert_row *row, void *ctx);

/* Alerts newest first (by id, i.e. by when they were raised); returns 0, the
 * callback's non-zero value, or a negative bw_err (BW_EINVAL for a bad limit). */
int store_query_alerts(struct store_reader *r, const struct store_alert_query *q,
                       store_alert_fn fn, void *ctx);
/* Calls fn once per evidence link of the alert, ordered by (agent, epoch,
 * seq): with the stored event row when it is found, otherwise with a row
 * that has id 0, no body, and only agent_id, epoch and seq set (an event
 * not stored, or deleted by retention). An unknown alert gives no calls. */
int store_alert_evidence(struct store_reader *r, int64_t alert_id, store_row_fn fn, void *ctx);
int store_count_alerts(struct store_reader *r, uint64_t *out);
/* Per rule: alerts raised, hits (the alerts' counts summed), the latest. */
struct store_rule_hits {
    const char *rule;
    uint64_t alerts, hits, open;
    int64_t last_ns;
};
typedef int (*store_rule_hits_fn)(const struct store_rule_hits *h, void *ctx);
int store_rule_hits(struct store_reader *r, store_rule_hits_fn fn, void *ctx);
/* One alert by id: fn is called once if it exists; BW_ENOTFOUND if not. */
int store_alert_get(struct store_reader *r, int64_t id, store_alert_fn fn, void *ctx);

/* ------------------------------------------------------------- agents */

/* Inside a writer transaction: the agent's last heartbeat health (JSON). */
int store_agent_health(struct store *s, const char *agent_id, const char *health_json,
                       int64_t at_ns);

/* An agent as stored, valid only during the callback; strings "" when
 * absent, labels_json and health_json NULL when absent. */
struct store_agent_row {
    const char *agent_id, *hostname, *version;
    const char *labels_json;
    const char *health_json;
    int64_t first_seen_ns, last_seen_ns, health_ns;
};
typedef int (*store_agent_fn)(const struct store_agent_row *row, void *ctx);
/* Agents ordered by agent_id, after `after` ("" = from the first), at most
 * limit (1..STORE_QUERY_MAX_LIMIT). */
int store_agents_list(struct store_reader *r, const char *after, uint32_t limit,
                      store_agent_fn fn, void *ctx);

/* --------------------------------------- rollups and the inventory */

/* Stats answer from rollups kept in the events' transaction (never from
 * the events), by the events' own time: series are exact per UTC minute,
 * tops and net edges per UTC hour. A range covers the whole minutes (for
 * tops and edges, hours) from since's (rounded down) to until's (rounded
 * up). */
enum store_stat {
    STORE_STAT_EVENTS,              /* per bucket, kind and severity */
    STORE_STAT_ALERTS,              /* alert hits per bucket and priority */
    STORE_STAT_TOP_RULES,           /* by alert hits */
    STORE_STAT_TOP_HOSTS_BY_EVENTS,
    STORE_STAT_TOP_IMAGES_BY_EVENTS,
    STORE_STAT_TOP_HOSTS_BY_ALERTS,
    STORE_STAT_TOP_IMAGES_BY_ALERTS,
    STORE_STAT_N
};

struct store_stats_query {
    int64_t since_ns, until_ns;  /* both required, since < until */
    int64_t bucket_ns;           /* a whole number of minutes (series only) */
    uint32_t limit;              /* 1..STORE_QUERY_MAX_LIMIT (tops only) */
};

/* A series row (bucket_ns, kind or 0, severity or priority, n) or a top row
 * (name, n), valid only during the callback. Series rows come by bucket;
 * tops by n descending, then name. */
struct store_stat_row {
    int64_t bucket_ns;
    int32_t kind, severity;
    const char *name;
    uint64_t n;
};
typedef int (*store_stat_fn)(const struct store_stat_row *row, void *ctx);
int store_stats(struct store_reader *r, enum store_stat what, const struct store_stats_query *q,
                store_stat_fn fn, void *ctx);

/* Net events over whole hours, one row per hour and (host, container,
 * direction, protocol, service port, remote address, remote name), in no
 * particular order (the caller sums a key's hours): port is the remote's
 * for outbound connections and the local one for inbound. */
struct store_net_row {
    const char *hostname, *container_id, *image;  /* "" when absent */
    bool inbound;
    int32_t protocol;  /* Bulwark__V1__NetConnection__Protocol */
    uint32_t port;
    const char *addr, *name;
    uint64_t n;
    int64_t first_ns, last_ns;
};
typedef int (*store_net_fn)(const struct store_net_row *row, void *ctx);
struct store_net_query {
    int64_t since_ns, until_ns;
    /* NULL = any; else rows whose own side is this host (container), or
     * whose remote address is one of its containers' (a superset: the
     * caller checks the ends it resolves) */
    const char *hostname, *container_id;
};
int store_net_edges(struct store_reader *r, const struct store_net_query *q, store_net_fn fn,
                    void *ctx);

/* The containers of the fleet that addresses belong to (learnt from the
 * local address of containers' net events): for each address, the one seen
 * with it during [since, until), else the one seen with it last. fn is
 * called once per address that has one (row.addr is that address), in no
 * particular order; an address no container had is left out. One
 * question for n addresses (at most STORE_ADDRS_MAX); 0 or a bw_err. */
#define STORE_ADDRS_MAX 1024u
struct store_addr_row {
    const char *addr, *container_id, *image, *hostname;
};
typedef int (*store_addr_fn)(const struct store_addr_row *row, void *ctx);
int store_containers_by_addrs(struct store_reader *r, const char *const *addrs, size_t n,
                              int64_t since_ns, int64_t until_ns, store_addr_fn fn, void *ctx);

struct store_container_query {
    const char *after;      /* container ids after this one ("" = first) */
    const char *image;      /* NULL = any */
    const char *hostname;   /* NULL = any */
    const char *k8s_namespace;  /* NULL = any */
    uint32_t limit;         /* 1..STORE_QUERY_MAX_LIMIT */
};

/* A container, valid only during the callback; strings "" when absent. */
struct store_container_row {
    const char *container_id, *name, *image, *image_digest, *runtime;
    const char *k8s_namespace, *k8s_pod, *hostname;
    int64_t first_seen_ns, last_seen_ns;
    int64_t posture_event_id;  /* its latest config event; 0 = none */
    uint64_t open_alerts;
};
typedef int (*store_container_fn)(const struct store_container_row *row, void *ctx);
/* Containers ordered by id. */
int store_containers_list(struct store_reader *r, const struct store_container_query *q,
                          store_container_fn fn, void *ctx);
/* One container: fn is called once; BW_ENOTFOUND if there is none. */
int store_container_get(struct store_reader *r, const char *container_id,
                        store_container_fn fn, void *ctx);

/* An image's findings from vuln events (each (vuln, package) once), per
 * severity as the scanner named it; fixable = a fixed version is known. */
struct store_vuln_count {
    const char *severity;
    uint64_t n, fixable;
};
typedef int (*store_vuln_fn)(const struct store_vuln_count *row, void *ctx);
int store_image_vulns(struct store_reader *r, const char *image, store_vuln_fn fn, void *ctx);

/* An image's posture findings from misconfig and secret events (each (check
 * or secret rule, file) once), per kind (an Event body number) and severity
 * as the scanner named it. */
struct store_finding_count {
    int kind;
    const char *severity;
    uint64_t n;
};
typedef int (*store_finding_fn)(const struct store_finding_count *row, void *ctx);
int store_image_findings(struct store_reader *r, const char *image, store_finding_fn fn,
                         void *ctx);

/* A host, valid only during the callback: its agents' ids separated by
 * spaces, and its events whose time lies in [rate_since_ns, rate_until_ns)
 * (whole hours, as the tops). */
struct store_host_row {
    const char *hostname, *agents;
    int64_t first_seen_ns, last_seen_ns;
    uint64_t recent_events;
};
typedef int (*store_host_fn)(const struct store_host_row *row, void *ctx);
/* Hosts ordered by name, after `after` ("" = from the first). */
int store_hosts_list(struct store_reader *r, const char *after, uint32_t limit,
                     int64_t rate_since_ns, int64_t rate_until_ns, store_host_fn fn, void *ctx);

/* ------------------------------------------- what the REST API owns */

/* API tokens: the public id, a name, a role, and only a SHA-256 of the
 * secret (the secret itself is shown once, at creation, never stored). */
#define STORE_TOKEN_HASH_LEN 32
struct store_token {
    char id[33];
    char name[129];
    char role[16];
    uint8_t secret_hash[STORE_TOKEN_HASH_LEN];
    int64_t created_ns;
    int64_t revoked_ns;  /* 0 = live */
};
/* The token with this id into *out; BW_ENOTFOUND if there is none. */
int store_token_get(struct store_reader *r, const char *id, struct store_token *out);

/* A read-write connection of its own for the tables the API owns (tokens,
 * alert status, audit): each call is one short transaction, waiting at most
 * a few seconds for the event writer's group commit, never holding the
 * write lock for longer than its own statements. Thread-safe. Every change
 * goes into the append-only audit table in the same transaction. */
struct store_admin;
/* Creates or migrates the schema if needed. */
int store_admin_open(struct store_admin **out, const char *path, char *err, size_t errlen);
void store_admin_close(struct store_admin *a);
/* BW_EINVAL for a duplicate id or empty fields. */
int store_token_add(struct store_admin *a, const struct store_token *t, const char *actor);
/* BW_ENOTFOUND for an unknown id; revoking twice keeps the first time. */
int store_token_revoke(struct store_admin *a, const char *id, int64_t now_ns,
                       const char *actor);
typedef int (*store_token_fn)(const struct store_token *t, void *ctx);
int store_token_list(struct store_admin *a, store_token_fn fn, void *ctx);
/* Sets an alert's status with a note; BW_ENOTFOUND for an unknown alert. */
int store_alert_set_status(struct store_admin *a, int64_t alert_id, const char *status,
                           const char *note, const char *actor, int64_t now_ns);
/* Appends one audit record (actions that change nothing else, e.g. a
 * rules reload). */
int store_audit_add(struct store_admin *a, const char *actor, const char *action,
                    const char *target, const char *detail, int64_t now_ns);
struct store_audit_row {
    int64_t id, at_ns;
    const char *actor, *action, *target, *detail;
};
typedef int (*store_audit_fn)(const struct store_audit_row *row, void *ctx);
/* Newest first, ids below before_id (0 = newest), at most limit. */
int store_audit_list(struct store_admin *a, int64_t before_id, uint32_t limit,
                     store_audit_fn fn, void *ctx);

/* Enrollment tokens (server/enroll.c): like API tokens, only a SHA-256 of
 * the secret is kept; a token admits max_uses enrollments until expires. */
struct store_enroll_token {
    char id[33];
    char name[129];
    uint8_t secret_hash[STORE_TOKEN_HASH_LEN];
    uint32_t max_uses, uses;
    int64_t created_ns, expires_ns;
    int64_t revoked_ns;  /* 0 = live */
};
/* BW_EINVAL for a duplicate id or empty fields. */
int store_enroll_token_add(struct store_admin *a, const struct store_enroll_token *t,
                           const char *actor);
/* BW_ENOTFOUND for an unknown id; revoking twice keeps the first time. */
int store_enroll_token_revoke(struct store_admin *a, const char *id, int64_t now_ns,
                              const char *actor);
typedef int (*store_enroll_token_fn)(const struct store_enroll_token *t, void *ctx);
int store_enroll_token_list(struct store_admin *a, store_enroll_token_fn fn, void *ctx);
/* Redeems one use of token id whose secret hashes to hash (compared in
 * constant time, also when the id is unknown) for a new agent_id, in one
 * transaction with its audit record (actor: who asked, e.g. "peer
 * 10.0.0.5"). 0 when admitted; BW_EAUTH with the reason in why (unknown,
 * wrong secret, revoked, expired, used up), audited too; BW_EIO. */
int store_enroll_token_redeem(struct store_admin *a, const char *id,
                              const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t now_ns,
                              const char *actor, const char *agent_id, char *why,
                              size_t whylen);
/* Revokes an agent id for good (audited); revoking twice keeps the first. */
int store_agent_revoke(struct store_admin *a, const char *agent_id, int64_t now_ns,
                       const char *actor);
/* Calls fn for each agent id revoked after row *cursor (0 = all), oldest
 * first, and moves *cursor past them. */
typedef int (*store_revoked_fn)(const char *agent_id, void *ctx);
int store_agent_revocations(struct store_admin *a, int64_t *cursor, store_revoked_fn fn,
                            void *ctx);

/* A forwarding destination's durable cursor for one stream ("alerts",
 * "events"): the last record id it has taken delivery of. get: 0 when the
 * destination has none yet. put: one short transaction; the cursor never
 * moves backwards (a lower last_id leaves it as it is). */
int store_forward_cursor_get(struct store_admin *a, const char *dest, const char *stream,
                             int64_t *out);
int store_forward_cursor_put(struct store_admin *a, const char *dest, const char *stream,
                             int64_t last_id, int64_t now_ns);

#endif
