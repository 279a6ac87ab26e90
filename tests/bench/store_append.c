/* store_append.c - the store's limit on this machine, measured in the same
 * run as the server (tests/bench/perf.sh; docs/performance.md).
 *
 * mode=bare: the rows bulwarkd stores (the typed columns of its events
 * table and the packed event as body, ~200-300 bytes from the agent's
 * synthetic source) appended by one process into a fresh SQLite file: WAL,
 * the server's cache size, one transaction per --txn rows, no secondary
 * index, prepared once. The schema is a copy of the idea, not the store's
 * code, so this is what SQLite itself allows.
 * mode=store: the same events through the real store interface
 * (store_open/store_begin/store_append/store_commit), batches of several
 * agents grouped --txn rows per transaction as the writer groups them.
 *
 * Prints one key=value line per (mode, sync). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bulwark/err.h"
#include "bulwark/clock.h"
#include "bulwark/store.h"
#include "evpool.h"

#define SA_POOL_EVENTS 4096u
#define SA_AGENTS_MAX 1024u

struct sa_options {
    uint64_t rows;
    uint32_t txn;
    uint32_t agents;
    const char *dir;
    bool bare, store, full, normal;
};

struct sa_result {
    double secs;
    uint64_t rows;
    uint64_t body_bytes;
    uint64_t db_bytes;
};

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Size of the database and its WAL, then removes them. */
static uint64_t db_size_remove(const char *path)
{
    char p[600];
    uint64_t n = file_size(path);

    snprintf(p, sizeof p, "%s-wal", path);
    n += file_size(p);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    unlink(path);
    return n;
}

/* A small integer per container id, as the store's dimension table gives. */
static int64_t container_num(const Bulwark__V1__Event *ev)
{
    uint64_t h = 1469598103934665603ull;

    if (!ev->container || !ev->container->id || !ev->container->id[0])
        return 0;
    for (const char *p = ev->container->id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return (int64_t)(h % 1000u) + 1;
}

static int sa_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fprintf(stderr, "store_append: '%s': %s\n", sql, msg ? msg : "error");
    sqlite3_free(msg);
    return BW_EIO;
}

/* ------------------------------------------------------------------ bare */

static int sa_bare(const struct sa_options *o, const struct evpool *pool, bool full,
                   const char *path, struct sa_result *res)
{
    static const char *const schema =
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
        "  body BLOB NOT NULL)";
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *begin = NULL, *commit = NULL;
    uint8_t body[8192];
    uint64_t seq[SA_AGENTS_MAX] = {0}, t0, row = 0;
    int rc = BW_EIO;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                       SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "store_append: cannot open '%s'\n", path);
        goto out;
    }
    if (sa_exec(db, "PRAGMA journal_mode = WAL") < 0 ||
        sa_exec(db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL") < 0 ||
        sa_exec(db, "PRAGMA cache_size = -32768") < 0 || sa_exec(db, schema) < 0)
        goto out;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO events (time_ns, recv_ns, agent, host, container, kind,"
                           " severity, epoch, seq, body) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "BEGIN", -1, &begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK) {
        fprintf(stderr, "store_append: prepare: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    t0 = (uint64_t)clock_mono_ns();
    while (row < o->rows) {
        uint64_t end = row + o->txn < o->rows ? row + o->txn : o->rows;
        int64_t recv = clock_wall_ns();

        if (sqlite3_step(begin) != SQLITE_DONE)
            goto step_failed;
        sqlite3_reset(begin);
        for (; row < end; row++) {
            uint32_t a = (uint32_t)(row % o->agents);
            const Bulwark__V1__Event *ev = pool->ev[row % pool->n];
            size_t len;
            const uint8_t *t = evpool_get(pool, row, &len);
            size_t n = evpool_stamp(body, ++seq[a], t, len);

            res->body_bytes += n;
            sqlite3_bind_int64(ins, 1, ev->time_ns);
            sqlite3_bind_int64(ins, 2, recv);
            sqlite3_bind_int64(ins, 3, a + 1);
            sqlite3_bind_int64(ins, 4, a + 1);
            sqlite3_bind_int64(ins, 5, container_num(ev));
            sqlite3_bind_int64(ins, 6, ev->body_case);
            sqlite3_bind_int64(ins, 7, ev->severity);
            sqlite3_bind_int64(ins, 8, 1000 + a);
            sqlite3_bind_int64(ins, 9, (int64_t)seq[a]);
            sqlite3_bind_blob(ins, 10, body, (int)n, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto step_failed;
            sqlite3_reset(ins);
        }
        if (sqlite3_step(commit) != SQLITE_DONE)
            goto step_failed;
        sqlite3_reset(commit);
    }
    res->secs = (double)((uint64_t)clock_mono_ns() - t0) / 1e9;
    res->rows = row;
    rc = 0;
    goto out;
step_failed:
    fprintf(stderr, "store_append: insert: %s\n", sqlite3_errmsg(db));
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    return rc;
}

/* ----------------------------------------------------------------- store */

static int sa_store(const struct sa_options *o, const struct evpool *pool, bool full,
                    const char *path, struct sa_result *res)
{
    struct store_options so = {.path = path, .sync_full = full};
    struct store *st = NULL;
    struct store_event *evs = NULL;
    uint8_t *bodies = NULL;
    uint64_t seq[SA_AGENTS_MAX] = {0}, t0, row = 0;
    char ids[SA_AGENTS_MAX][32], hosts[SA_AGENTS_MAX][32], err[256];
    uint32_t per = o->txn / o->agents ? o->txn / o->agents : 1;
    int rc;

    evs = calloc(per, sizeof *evs);
    bodies = malloc((size_t)per * 8192);
    if (!evs || !bodies) {
        rc = BW_ENOMEM;
        goto out;
    }
    if ((rc = store_open(&st, &so, err, sizeof err)) < 0) {
        fprintf(stderr, "store_append: %s\n", err);
        goto out;
    }
    if ((rc = store_begin(st)) < 0)
        goto failed;
    for (uint32_t a = 0; a < o->agents; a++) {
        struct store_agent_info ai = {.agent_id = ids[a], .hostname = hosts[a],
                                      .agent_version = "bench", .seen_ns = clock_wall_ns()};
        snprintf(ids[a], sizeof ids[a], "bench-%" PRIu32, a);
        snprintf(hosts[a], sizeof hosts[a], "host-%" PRIu32, a);
        if ((rc = store_agent_seen(st, &ai)) < 0)
            goto failed;
    }
    if ((rc = store_commit(st)) < 0)
        goto failed;

    t0 = (uint64_t)clock_mono_ns();
    while (row < o->rows) {
        uint64_t end = row + o->txn < o->rows ? row + o->txn : o->rows;
        uint32_t a = 0;

        if ((rc = store_begin(st)) < 0)
            goto failed;
        while (row < end) {
            struct store_append_result ar;
            struct store_batch b = {.agent_id = ids[a], .hostname = hosts[a],
                                    .epoch = 1000 + a, .recv_ns = clock_wall_ns(), .events = evs};
            size_t used = 0;

            for (b.n = 0; b.n < per && row < end; b.n++, row++) {
                const Bulwark__V1__Event *ev = pool->ev[row % pool->n];
                size_t len;
                const uint8_t *t = evpool_get(pool, row, &len);
                size_t n = evpool_stamp(bodies + used, ++seq[a], t, len);

                evs[b.n] = (struct store_event){.seq = seq[a], .time_ns = ev->time_ns,
                                                .kind = (int32_t)ev->body_case,
                                                .severity = (int32_t)ev->severity,
                                                .container = ev->container,
                                                .body = bodies + used, .body_len = n,
                                                .ev = ev};
                used += n;
                res->body_bytes += n;
            }
            if ((rc = store_append(st, &b, &ar)) < 0)
                goto failed;
            a = (a + 1) % o->agents;
        }
        if ((rc = store_commit(st)) < 0)
            goto failed;
    }
    res->secs = (double)((uint64_t)clock_mono_ns() - t0) / 1e9;
    res->rows = row;
    rc = 0;
    goto out;
failed:
    fprintf(stderr, "store_append: store: %s\n", bw_strerror(rc));
out:
    store_close(st);
    free(evs);
    free(bodies);
    return rc;
}

/* ------------------------------------------------------------------ main */

static int parse_u64(const char *name, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < lo || x > hi) {
        fprintf(stderr, "store_append: --%s must be an integer in %" PRIu64 "..%" PRIu64 "\n",
                name, lo, hi);
        return BW_EINVAL;
    }
    *out = x;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bulwark-store-append [--rows N] [--txn N] [--agents N]\n"
                 "         [--mode bare|store|all] [--sync full|normal|both] [--dir DIR]\n"
                 "  Appends N rows (500000) in transactions of --txn rows (1000) into a fresh\n"
                 "  SQLite file in DIR (a temp dir) and prints rows/s per mode and sync.\n");
}

static int sa_parse(struct sa_options *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"rows", required_argument, NULL, 'r'}, {"txn", required_argument, NULL, 't'},
        {"agents", required_argument, NULL, 'a'}, {"mode", required_argument, NULL, 'm'},
        {"sync", required_argument, NULL, 's'}, {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    uint64_t u;
    int c;

    *o = (struct sa_options){.rows = 500000, .txn = 1000, .agents = 8, .bare = true,
                             .store = true, .full = true, .normal = true};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (parse_u64("rows", optarg, 1, 1000000000, &o->rows) < 0)
                return BW_EINVAL;
            break;
        case 't':
            if (parse_u64("txn", optarg, 1, 10000000, &u) < 0)
                return BW_EINVAL;
            o->txn = (uint32_t)u;
            break;
        case 'a':
            if (parse_u64("agents", optarg, 1, SA_AGENTS_MAX, &u) < 0)
                return BW_EINVAL;
            o->agents = (uint32_t)u;
            break;
        case 'm':
            o->bare = !strcmp(optarg, "bare") || !strcmp(optarg, "all");
            o->store = !strcmp(optarg, "store") || !strcmp(optarg, "all");
            if (!o->bare && !o->store) {
                fprintf(stderr, "store_append: --mode is bare, store or all\n");
                return BW_EINVAL;
            }
            break;
        case 's':
            o->full = !strcmp(optarg, "full") || !strcmp(optarg, "both");
            o->normal = !strcmp(optarg, "normal") || !strcmp(optarg, "both");
            if (!o->full && !o->normal) {
                fprintf(stderr, "store_append: --sync is full, normal or both\n");
                return BW_EINVAL;
            }
            break;
        case 'd': o->dir = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return BW_EINVAL;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return BW_EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sa_options o;
    struct evpool pool;
    char dir[256], path[400];
    int rc = 1;

    if (sa_parse(&o, argc, argv) < 0)
        return 2;
    if (o.dir) {
        snprintf(dir, sizeof dir, "%s", o.dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/store-append.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "store_append: cannot create a temp dir: %s\n", strerror(errno));
            return 1;
        }
    }
    if (evpool_init(&pool, SA_POOL_EVENTS, 42, "node-1", true) < 0) {
        fprintf(stderr, "store_append: cannot make the event pool\n");
        goto out;
    }
    for (int m = 0; m < 2; m++) {
        for (int sy = 0; sy < 2; sy++) {
            bool store = m == 1, full = sy == 0;
            struct sa_result r = {0};

            if ((store ? !o.store : !o.bare) || (full ? !o.full : !o.normal))
                continue;
            snprintf(path, sizeof path, "%s/%s-%s.db", dir, store ? "store" : "bare",
                     full ? "full" : "normal");
            db_size_remove(path);
            if ((store ? sa_store(&o, &pool, full, path, &r) : sa_bare(&o, &pool, full, path, &r)) <
                0) {
                db_size_remove(path);
                goto out_pool;
            }
            r.db_bytes = db_size_remove(path);
            printf("store_append mode=%s sync=%s rows=%" PRIu64 " txn=%" PRIu32 " secs=%.3f"
                   " rows_per_s=%.0f avg_body=%.0f bytes_per_row=%.1f\n",
                   store ? "store" : "bare", full ? "full" : "normal", r.rows, o.txn, r.secs,
                   r.secs > 0 ? (double)r.rows / r.secs : 0,
                   (double)r.body_bytes / (double)r.rows, (double)r.db_bytes / (double)r.rows);
            fflush(stdout);
        }
    }
    rc = 0;
out_pool:
    evpool_release(&pool);
out:
    if (!o.dir)
        rmdir(dir);
    return rc;
}
