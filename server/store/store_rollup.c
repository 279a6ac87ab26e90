/* store_rollup.c - the rollups the REST API answers stats, network and
 * inventory questions from, kept by the writer inside the events' own
 * transaction (so a rollup never counts an event that was rolled back, nor
 * misses one that was committed):
 *
 *   roll_kinds         events per (UTC minute, kind, severity): the series
 *   roll_hosts         events per (UTC hour, host)
 *   roll_images        events in containers per (UTC hour, image)
 *   roll_alerts        alert hits (raises and repeats) per (minute, priority)
 *   roll_alert_tops    alert hits per (hour, rule), (hour, hostname), (hour, image)
 *   roll_net           net events per (hour, host, container, direction,
 *                      protocol, service port, remote address, remote name)
 *                      with the first and last event time
 *   container_addrs    the addresses a container's net events name as local
 *   container_posture  the latest config event of each container (its id)
 *   image_vulns        the findings of vuln events per image, by (vuln, package)
 *   image_findings     misconfig and secret findings per image, by (check or rule, file)
 *
 * Each table is keyed only by what one question needs: one keyed by
 * (minute, host, container, kind, severity) had a row for every other event
 * of a fleet of thousands of containers, costing the writer an upsert per
 * two events and the readers a scan as long as the events'. Counts are
 * summed in memory per transaction (a few hundred keys where there are tens
 * of thousands of events) and upserted at commit, or earlier
 * when a table of pending keys fills: SQL adds, so an early flush changes
 * nothing but the number of statements. A rollback drops what is pending.
 * Posture and findings are few and upserted as they come. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/hash.h"
#include "store_internal.h"

#define ROLL_SLOTS 4096u        /* pending keys per table; flushed at 3/4 */
#define ROLL_TEXT_MAX 2048u     /* text part of a key, bytes */

enum roll_table { RT_KINDS, RT_HOSTS, RT_IMAGES, RT_ALERTS, RT_ALERT_TOPS, RT_NET, RT_ADDRS, RT_N };

/* The pending keys' upserts: an INSERT head, one row of values and the
 * conflict clause. In a row, ?N names a value of the key, not a parameter:
 * 1-6 its integers, 7 n, 8 first, 9 last, 10-12 its texts; a row lists the
 * values of its columns in order, each once, and nothing else. Each table
 * has a statement of one row and one of ROLL_ROWS rows, both built by
 * sql_prepare_rows (roll_open_table): per key, a multi-row upsert skips most
 * of a statement's fixed cost (bind checks, step, halt, reset), which was
 * most of the writer's rollup time. */
#define ROLL_ROWS 16
#define ROLL_VALUES 12

struct roll_def {
    const char *head, *row, *tail;
};

static const struct roll_def roll_defs[RT_N] = {
    [RT_KINDS] = {"INSERT INTO roll_kinds (minute, kind, severity, n) VALUES ", "(?1, ?2, ?3, ?7)",
                  " ON CONFLICT DO UPDATE SET n = n + excluded.n"},
    [RT_HOSTS] = {"INSERT INTO roll_hosts (hour, host, n) VALUES ", "(?1, ?2, ?7)",
                  " ON CONFLICT DO UPDATE SET n = n + excluded.n"},
    [RT_IMAGES] = {"INSERT INTO roll_images (hour, image, n) VALUES ", "(?1, ?10, ?7)",
                   " ON CONFLICT DO UPDATE SET n = n + excluded.n"},
    [RT_ALERTS] = {"INSERT INTO roll_alerts (minute, priority, n) VALUES ", "(?1, ?2, ?7)",
                   " ON CONFLICT DO UPDATE SET n = n + excluded.n"},
    [RT_ALERT_TOPS] = {"INSERT INTO roll_alert_tops (hour, what, name, n) VALUES ",
                       "(?1, ?2, ?10, ?7)", " ON CONFLICT DO UPDATE SET n = n + excluded.n"},
    [RT_NET] = {"INSERT INTO roll_net (hour, host, container, inbound, protocol, port, addr,"
                " name, n, first_ns, last_ns) VALUES ",
                "(?1, ?2, ?3, ?4, ?5, ?6, ?10, ?11, ?7, ?8, ?9)",
                " ON CONFLICT DO UPDATE SET n = n + excluded.n,"
                " first_ns = min(first_ns, excluded.first_ns),"
                " last_ns = max(last_ns, excluded.last_ns)"},
    [RT_ADDRS] = {"INSERT INTO container_addrs (container, addr, first_ns, last_ns) VALUES ",
                  "(?1, ?10, ?8, ?9)",
                  " ON CONFLICT DO UPDATE SET"
                  " first_ns = min(first_ns, excluded.first_ns),"
                  " last_ns = max(last_ns, excluded.last_ns)"},
};

/* Posture and findings: upserted as they come, one row each. */
enum roll_stmt { RS_POSTURE, RS_VULN, RS_FINDING, RS_COUNT };

static const char *const roll_sql[RS_COUNT] = {
    [RS_POSTURE] = "INSERT INTO container_posture (container, time_ns, event_id)"
                   " VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET"
                   " time_ns = excluded.time_ns, event_id = excluded.event_id"
                   " WHERE excluded.time_ns >= time_ns",
    [RS_VULN] = "INSERT INTO image_vulns (image, vuln_id, package, severity, fixed_version,"
                " last_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET"
                " severity = excluded.severity, fixed_version = excluded.fixed_version,"
                " last_ns = max(last_ns, excluded.last_ns)",
    [RS_FINDING] = "INSERT INTO image_findings (image, kind, finding_id, target, severity,"
                   " last_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET"
                   " severity = excluded.severity, last_ns = max(last_ns, excluded.last_ns)",
};

/* A pending key: up to six integers and up to three NUL-separated texts. */
struct roll_entry {
    uint64_t hash;      /* 0 = free */
    int64_t k[6];
    char *text;         /* owned; NULL when the key has no text */
    size_t tlen;
    int64_t n, first, last;
};

/* used[0..n) lists the occupied slots, so that a flush and a clear touch
 * only them: clearing all 4,096 slots of six tables per commit cost the
 * writer more than the rollups themselves. */
struct roll_map {
    struct roll_entry slot[ROLL_SLOTS];
    uint16_t used[ROLL_SLOTS];
    size_t n;
};

/* A table's upserts: param j of a row is the key's value src[j] (as ?N of
 * its roll_def row, less one). */
struct roll_upsert {
    sqlite3_stmt *one, *many;
    uint8_t src[ROLL_VALUES];
    int nsrc;
};

struct rollup {
    sqlite3_stmt *st[RS_COUNT];
    struct roll_upsert up[RT_N];
    struct roll_map maps[RT_N];
};

/* Prepares table def's upserts of one and of ROLL_ROWS rows; u->src[j],
 * set from def's row, is the key's value that column j of a row takes. */
static int roll_open_table(sqlite3 *db, const struct roll_def *def, struct roll_upsert *u,
                           char *err, size_t errlen)
{
    int rc;

    assert(strspn(def->row, "(?0123456789, )") == strlen(def->row));
    u->nsrc = 0;
    for (const char *p = strchr(def->row, '?'); p; p = strchr(p + 1, '?')) {
        unsigned long v = strtoul(p + 1, NULL, 10);
        assert(v >= 1 && v <= ROLL_VALUES && u->nsrc < ROLL_VALUES);
        for (int j = 0; j < u->nsrc; j++)
            assert(u->src[j] != v - 1);  /* each value once */
        u->src[u->nsrc++] = (uint8_t)(v - 1);
    }
    if ((rc = sql_prepare_rows(db, def->head, u->nsrc, 1, def->tail, &u->one, err, errlen)) < 0)
        return rc;
    return sql_prepare_rows(db, def->head, u->nsrc, ROLL_ROWS, def->tail, &u->many, err, errlen);
}

int store_rollup_open(struct store *s, char *err, size_t errlen)
{
    int rc;

    if (!(s->roll = calloc(1, sizeof *s->roll))) {
        store_set_err(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    for (int t = 0; t < RT_N; t++)
        if ((rc = roll_open_table(s->db, &roll_defs[t], &s->roll->up[t], err, errlen)) < 0)
            return rc;
    return sql_prepare_all(s->db, roll_sql, RS_COUNT, s->roll->st, "rollup", err, errlen);
}

static void roll_map_clear(struct roll_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct roll_entry *e = &m->slot[m->used[i]];
        free(e->text);
        *e = (struct roll_entry){0};
    }
    m->n = 0;
}

void store_rollup_reset(struct store *s)
{
    if (!s->roll)
        return;
    for (int t = 0; t < RT_N; t++)
        if (s->roll->maps[t].n)
            roll_map_clear(&s->roll->maps[t]);
}

void store_rollup_close(struct store *s)
{
    if (!s->roll)
        return;
    store_rollup_reset(s);
    for (int i = 0; i < RS_COUNT; i++)
        sqlite3_finalize(s->roll->st[i]);
    for (int t = 0; t < RT_N; t++) {
        sqlite3_finalize(s->roll->up[t].one);
        sqlite3_finalize(s->roll->up[t].many);
    }
    free(s->roll);
    s->roll = NULL;
}

/* Binds entry e as row r of table t's upsert st. */
static int roll_bind(sqlite3_stmt *st, const struct roll_upsert *u, int r,
                     const struct roll_entry *e)
{
    const char *text[3] = {"", "", ""};
    const char *p = e->text;
    int b = 0;

    /* the key's texts, NUL-separated in e->text (missing ones are "") */
    for (int k = 0; k < 3 && p; k++) {
        text[k] = p;
        p = p + strlen(p) + 1 < e->text + e->tlen ? p + strlen(p) + 1 : NULL;
    }
    for (int j = 0; j < u->nsrc; j++) {
        int at = r * u->nsrc + j + 1, v = u->src[j];
        if (v >= 9)
            b |= sqlite3_bind_text(st, at, text[v - 9], -1, SQLITE_STATIC);
        else
            b |= sqlite3_bind_int64(st, at, v < 6 ? e->k[v] : v == 6 ? e->n
                                                           : v == 7 ? e->first : e->last);
    }
    return b == SQLITE_OK ? 0 : BW_EIO;
}

/* Upserts one table's pending keys, ROLL_ROWS per statement while there are
 * as many, and empties it. */
static int roll_flush_map(struct store *s, enum roll_table t)
{
    struct roll_map *m = &s->roll->maps[t];
    const struct roll_upsert *u = &s->roll->up[t];
    int rc = 0;

    for (size_t i = 0; i < m->n && rc == 0;) {
        int rows = m->n - i >= ROLL_ROWS ? ROLL_ROWS : 1;
        sqlite3_stmt *st = rows > 1 ? u->many : u->one;
        for (int r = 0; r < rows && rc == 0; r++)
            rc = roll_bind(st, u, r, &m->slot[m->used[i + (size_t)r]]);
        if (rc == 0)
            rc = sql_exec(st);
        i += (size_t)rows;
    }
    roll_map_clear(m);
    return rc;
}

int store_rollup_flush(struct store *s)
{
    int rc = 0;
    for (int t = 0; t < RT_N && rc == 0; t++)
        if (s->roll->maps[t].n)
            rc = roll_flush_map(s, t);
    return rc;
}

/* Adds n (at time t) to the key (k, text of tlen bytes) of table t. */
static int roll_add(struct store *s, enum roll_table t, const int64_t k[6], const char *text,
                    size_t tlen, int64_t n, int64_t time_ns)
{
    struct roll_map *m = &s->roll->maps[t];
    uint64_t h = bw_hash(k, 6 * sizeof *k);
    int rc;

    if (tlen > ROLL_TEXT_MAX)
        return 0;  /* ingest bounds strings far below this; never a key */
    if (text)
        h ^= bw_hash(text, tlen) * 0x9e3779b97f4a7c15ULL;
    h |= 1;
    for (size_t i = h & (ROLL_SLOTS - 1);; i = (i + 1) & (ROLL_SLOTS - 1)) {
        struct roll_entry *e = &m->slot[i];
        if (!e->hash)
            break;
        if (e->hash == h && memcmp(e->k, k, sizeof e->k) == 0 && e->tlen == tlen &&
            (!tlen || memcmp(e->text, text, tlen) == 0)) {
            e->n += n;
            if (time_ns < e->first)
                e->first = time_ns;
            if (time_ns > e->last)
                e->last = time_ns;
            return 0;
        }
    }
    if (m->n + 1 > ROLL_SLOTS * 3 / 4 && (rc = roll_flush_map(s, t)) < 0)
        return rc;
    size_t i = h & (ROLL_SLOTS - 1);
    while (m->slot[i].hash)
        i = (i + 1) & (ROLL_SLOTS - 1);
    struct roll_entry *e = &m->slot[i];
    *e = (struct roll_entry){.hash = h, .tlen = tlen, .n = n, .first = time_ns, .last = time_ns};
    memcpy(e->k, k, sizeof e->k);
    if (tlen) {
        if (!(e->text = malloc(tlen))) {
            e->hash = 0;
            return BW_ENOMEM;
        }
        memcpy(e->text, text, tlen);
    }
    m->used[m->n++] = (uint16_t)i;
    return 0;
}

/* Joins up to three strings (NULL = "") NUL-separated into buf; the length
 * with the last NUL, or 0 when they do not fit. */
static size_t roll_text(char *buf, const char *a, const char *b, const char *c)
{
    const char *v[3] = {a, b, c};
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        size_t l = v[i] ? strlen(v[i]) : 0;
        if (off + l + 1 > ROLL_TEXT_MAX)
            return 0;
        memcpy(buf + off, v[i] ? v[i] : "", l);
        buf[off + l] = '\0';
        off += l + 1;
    }
    return off;
}

/* The unit (minute, hour) holding ns. */
static int64_t unit_of(int64_t ns, int64_t unit)
{
    return ns >= 0 ? ns / unit : (ns - unit + 1) / unit;
}

/* Could addr name this container to the rest of the fleet? Unspecified
 * and loopback addresses are every container's. */
static bool addr_is_own(const char *addr)
{
    return addr && *addr && strcmp(addr, "0.0.0.0") != 0 && strcmp(addr, "::") != 0 &&
           strcmp(addr, "::1") != 0 && strncmp(addr, "127.", 4) != 0;
}

/* t: the stored event's time (the columns', which is what every rollup
 * counts by, whatever the body says). */
static int roll_net(struct store *s, const Bulwark__V1__Event *ev, int64_t t, int64_t host,
                    int64_t container)
{
    const Bulwark__V1__NetConnection *n = ev->net;
    char text[ROLL_TEXT_MAX];
    bool inbound = n->direction == BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND;
    /* The service port: the remote's when going out, our own when coming in
     * (the other side's is an ephemeral port, one key per connection). */
    int64_t k[6] = {unit_of(t, STORE_HOUR_NS), host, container, inbound, n->protocol,
                    inbound ? n->local_port : n->remote_port};
    size_t tlen;
    int rc;

    if (!n->remote_addr || !*n->remote_addr)
        return 0;
    tlen = roll_text(text, n->remote_addr, n->remote_name, NULL);
    if (tlen && (rc = roll_add(s, RT_NET, k, text, tlen, 1, t)) < 0)
        return rc;
    if (container && addr_is_own(n->local_addr)) {
        int64_t a[6] = {container};
        tlen = roll_text(text, n->local_addr, NULL, NULL);
        if (tlen && (rc = roll_add(s, RT_ADDRS, a, text, tlen, 1, t)) < 0)
            return rc;
    }
    return 0;
}

static int roll_vuln(struct store *s, const Bulwark__V1__Event *ev, int64_t t)
{
    const Bulwark__V1__VulnFinding *v = ev->vuln;
    const char *image = ev->container ? ev->container->image : NULL;
    sqlite3_stmt *st = s->roll->st[RS_VULN];

    if (!image || !*image || !v->vuln_id || !*v->vuln_id)
        return 0;
    if (bind_text(st, 1, image) || bind_text(st, 2, v->vuln_id) ||
        bind_text(st, 3, v->package ? v->package : "") ||
        bind_text(st, 4, v->vuln_severity ? v->vuln_severity : "") ||
        bind_text(st, 5, v->fixed_version ? v->fixed_version : "") ||
        sqlite3_bind_int64(st, 6, t))
        return BW_EIO;
    return sql_exec(st);
}

/* A misconfig or secret finding of an image: (check or rule, file) once. */
static int roll_finding(struct store *s, const Bulwark__V1__Event *ev, int64_t t)
{
    const char *image = ev->container ? ev->container->image : NULL;
    sqlite3_stmt *st = s->roll->st[RS_FINDING];
    const char *id, *target, *sev;

    if (ev->body_case == BULWARK__V1__EVENT__BODY_MISCONFIG) {
        id = ev->misconfig->check_id;
        target = ev->misconfig->target;
        sev = ev->misconfig->finding_severity;
    } else {
        id = ev->secret->rule_id;
        target = ev->secret->target;
        sev = ev->secret->finding_severity;
    }
    if (!image || !*image || !id || !*id)
        return 0;
    if (bind_text(st, 1, image) || sqlite3_bind_int64(st, 2, ev->body_case) ||
        bind_text(st, 3, id) || bind_text(st, 4, target ? target : "") ||
        bind_text(st, 5, sev ? sev : "") || sqlite3_bind_int64(st, 6, t))
        return BW_EIO;
    return sql_exec(st);
}

int store_rollup_event(struct store *s, const struct store_event *se, int64_t id, int64_t host,
                       int64_t container)
{
    int64_t hour = unit_of(se->time_ns, STORE_HOUR_NS);
    int64_t kk[6] = {unit_of(se->time_ns, STORE_MINUTE_NS), se->kind, se->severity};
    int64_t kh[6] = {hour, host};
    const char *image = se->container ? se->container->image : NULL;
    Bulwark__V1__Event *own = NULL;
    const Bulwark__V1__Event *ev = se->ev;
    int rc;

    if ((rc = roll_add(s, RT_KINDS, kk, NULL, 0, 1, se->time_ns)) < 0 ||
        (host && (rc = roll_add(s, RT_HOSTS, kh, NULL, 0, 1, se->time_ns)) < 0))
        return rc;
    if (container && image && *image) {
        int64_t ki[6] = {hour};
        char text[ROLL_TEXT_MAX];
        size_t tlen = roll_text(text, image, NULL, NULL);
        if (tlen && (rc = roll_add(s, RT_IMAGES, ki, text, tlen, 1, se->time_ns)) < 0)
            return rc;
    }
    if (se->kind == BULWARK__V1__EVENT__BODY_CONFIG && container) {
        sqlite3_stmt *st = s->roll->st[RS_POSTURE];
        if (sqlite3_bind_int64(st, 1, container) || sqlite3_bind_int64(st, 2, se->time_ns) ||
            sqlite3_bind_int64(st, 3, id))
            return BW_EIO;
        return sql_exec(st);
    }
    if (se->kind != BULWARK__V1__EVENT__BODY_NET && se->kind != BULWARK__V1__EVENT__BODY_VULN &&
        se->kind != BULWARK__V1__EVENT__BODY_MISCONFIG && se->kind != BULWARK__V1__EVENT__BODY_SECRET)
        return 0;
    if (!ev) {
        /* A body that does not decode is stored as sent; it has nothing to
         * roll up. */
        if (!se->body_len ||
            !(own = bulwark__v1__event__unpack(NULL, se->body_len, se->body)))
            return 0;
        ev = own;
    }
    if (ev->body_case == BULWARK__V1__EVENT__BODY_NET && ev->net)
        rc = roll_net(s, ev, se->time_ns, host, container);
    else if (ev->body_case == BULWARK__V1__EVENT__BODY_VULN && ev->vuln)
        rc = roll_vuln(s, ev, se->time_ns);
    else if ((ev->body_case == BULWARK__V1__EVENT__BODY_MISCONFIG && ev->misconfig) ||
             (ev->body_case == BULWARK__V1__EVENT__BODY_SECRET && ev->secret))
        rc = roll_finding(s, ev, se->time_ns);
    if (own)
        bulwark__v1__event__free_unpacked(own, NULL);
    return rc;
}

int store_rollup_alert(struct store *s, const struct store_alert *a)
{
    const char *names[3] = {a->rule, a->hostname, a->image};
    int64_t k[6] = {unit_of(a->time_ns, STORE_MINUTE_NS), a->priority};
    int rc = roll_add(s, RT_ALERTS, k, NULL, 0, 1, a->time_ns);

    for (int what = 0; what < 3 && rc == 0; what++) {
        char text[ROLL_TEXT_MAX];
        int64_t kt[6] = {unit_of(a->time_ns, STORE_HOUR_NS), what};
        size_t tlen = names[what] && *names[what] ? roll_text(text, names[what], NULL, NULL) : 0;
        if (tlen)
            rc = roll_add(s, RT_ALERT_TOPS, kt, text, tlen, 1, a->time_ns);
    }
    return rc;
}
