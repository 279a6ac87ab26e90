/* test_store.c - the SQLite event store: exactly-once marks across commit,
 * rollback and reopen; duplicates; dimension caches; chunk-summary queries
 * checked against a brute-force model; pagination; the reader connection;
 * alerts (suppression, rollback, evidence, queries), detector state, and the
 * migration of a version 1 database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "bulwark/err.h"
#include "bulwark/store.h"

#define CHUNK_ROWS 16u

struct fx {
    char dir[64];
    char path[128];
    struct store *s;
};

static void fx_path(const struct fx *f, char *out, size_t len, const char *suffix)
{
    snprintf(out, len, "%s%s", f->path, suffix);
}

static void fx_open(struct fx *f)
{
    char err[256] = "";
    struct store_options o = {.path = f->path, .sync_full = true, .chunk_rows = CHUNK_ROWS};
    int rc = store_open(&f->s, &o, err, sizeof err);
    if (rc != 0)
        fail_msg("store_open: %s", err);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/bw-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/events.db", f->dir);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    store_close(f->s);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        fx_path(f, p, sizeof p, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void fx_reopen(struct fx *f)
{
    store_close(f->s);
    f->s = NULL;
    fx_open(f);
}

/* ------------------------------------------------------------- batches */

/* One event of a test batch, with its packed body. */
struct tev {
    uint64_t seq;
    int64_t time_ns;
    int32_t kind;
    const char *container;  /* NULL = host event */
};

/* Packs a real bulwark.v1.Event (exec or net, by kind) into a malloc'd body. */
static uint8_t *pack_event(const struct tev *t, size_t *len)
{
    Bulwark__V1__Event ev = BULWARK__V1__EVENT__INIT;
    Bulwark__V1__ContainerRef c = BULWARK__V1__CONTAINER_REF__INIT;
    Bulwark__V1__ProcessExec ex = BULWARK__V1__PROCESS_EXEC__INIT;
    Bulwark__V1__NetConnection net = BULWARK__V1__NET_CONNECTION__INIT;
    ev.seq = t->seq;
    ev.time_ns = t->time_ns;
    ev.severity = BULWARK__V1__SEVERITY__SEVERITY_INFO;
    if (t->container) {
        c.id = (char *)t->container;
        ev.container = &c;
    }
    if (t->kind == BULWARK__V1__EVENT__BODY_NET) {
        net.remote_addr = "192.0.2.1";
        ev.body_case = BULWARK__V1__EVENT__BODY_NET;
        ev.net = &net;
    } else {
        ex.cwd = "/";
        ev.body_case = BULWARK__V1__EVENT__BODY_EXEC;
        ev.exec = &ex;
    }
    *len = bulwark__v1__event__get_packed_size(&ev);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    assert_int_equal(bulwark__v1__event__pack(&ev, buf), *len);
    return buf;
}

/* Appends tevs[0..n) as one batch; the store_event kind is taken verbatim
 * from the tev (queries filter on it, whatever the body says). */
static int append_tevs(struct store *s, const char *agent, const char *host, uint64_t epoch,
                       const struct tev *tevs, size_t n, struct store_append_result *res)
{
    struct store_event *evs = calloc(n ? n : 1, sizeof *evs);
    Bulwark__V1__ContainerRef *refs = calloc(n ? n : 1, sizeof *refs);
    uint8_t **bodies = calloc(n ? n : 1, sizeof *bodies);
    assert_true(evs && refs && bodies);
    for (size_t i = 0; i < n; i++) {
        bulwark__v1__container_ref__init(&refs[i]);
        refs[i].id = (char *)tevs[i].container;
        refs[i].image = "nginx:1.25";
        bodies[i] = pack_event(&tevs[i], &evs[i].body_len);
        evs[i] = (struct store_event){.seq = tevs[i].seq, .time_ns = tevs[i].time_ns,
                                      .kind = tevs[i].kind, .severity = 2,
                                      .container = tevs[i].container ? &refs[i] : NULL,
                                      .body = bodies[i], .body_len = evs[i].body_len};
    }
    struct store_batch b = {.agent_id = agent, .hostname = host, .epoch = epoch,
                            .recv_ns = 1000, .n = n, .events = evs};
    int rc = store_append(s, &b, res);
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    free(bodies);
    free(refs);
    free(evs);
    return rc;
}

/* Appends seq lo..hi (host events, kind exec) for agent in one batch. */
static int append_range(struct store *s, const char *agent, uint64_t epoch, uint64_t lo,
                        uint64_t hi, struct store_append_result *res)
{
    size_t n = hi >= lo ? (size_t)(hi - lo + 1) : 0;
    struct tev *t = calloc(n ? n : 1, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        t[i] = (struct tev){.seq = lo + i, .time_ns = (int64_t)(lo + i) * 1000, .kind = 10};
    int rc = append_tevs(s, agent, "host-1", epoch, t, n, res);
    free(t);
    return rc;
}

static uint64_t mark_of(struct store *s, const char *agent, uint64_t epoch)
{
    uint64_t v = 99999;
    assert_int_equal(store_committed_seq(s, agent, epoch, &v), 0);
    return v;
}

static struct store_reader *reader_open(const struct fx *f)
{
    struct store_reader *r = NULL;
    char err[256] = "";
    if (store_reader_open(&r, f->path, err, sizeof err) != 0)
        fail_msg("store_reader_open: %s", err);
    return r;
}

static uint64_t count_of(struct store_reader *r)
{
    uint64_t n = 0;
    assert_int_equal(store_count_events(r, &n), 0);
    return n;
}

/* --------------------------------------------------------- collecting */

struct got_row {
    int64_t id;
    uint64_t seq, epoch;
    int64_t time_ns;
    int32_t kind;
    char agent[32], host[32], container[32];
};

struct collect {
    struct got_row *rows;
    size_t n, cap;
};

static int on_row(const struct store_row *row, void *ctx)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->rows = realloc(c->rows, c->cap * sizeof *c->rows);
        assert_non_null(c->rows);
    }
    struct got_row *g = &c->rows[c->n++];
    *g = (struct got_row){.id = row->id, .seq = row->seq, .epoch = row->epoch,
                          .time_ns = row->time_ns, .kind = row->kind};
    snprintf(g->agent, sizeof g->agent, "%s", row->agent_id);
    snprintf(g->host, sizeof g->host, "%s", row->hostname);
    snprintf(g->container, sizeof g->container, "%s", row->container_id);
    /* The body is the packed event, byte for byte. */
    Bulwark__V1__Event *ev = bulwark__v1__event__unpack(NULL, row->body_len, row->body);
    assert_non_null(ev);
    assert_int_equal(ev->seq, row->seq);
    assert_int_equal(ev->time_ns, row->time_ns);
    assert_string_equal(ev->container ? ev->container->id : "", row->container_id);
    bulwark__v1__event__free_unpacked(ev, NULL);
    return 0;
}

/* Runs q page by page (limit `page`) following the before_id cursor. */
static void query_all(struct store_reader *r, struct store_query q, uint32_t page,
                      struct collect *c)
{
    q.limit = page;
    q.before_id = 0;
    for (;;) {
        size_t before = c->n;
        assert_int_equal(store_query_events(r, &q, on_row, c), 0);
        size_t got = c->n - before;
        assert_true(got <= page);
        for (size_t i = before; q.before_id != 0 && i < c->n; i++)
            assert_true(c->rows[i].id < q.before_id);  /* the cursor is exclusive */
        if (got < page)
            break;
        q.before_id = c->rows[c->n - 1].id;
    }
    for (size_t i = 1; i < c->n; i++)
        assert_true(c->rows[i].id < c->rows[i - 1].id);  /* newest first, no repeats */
}

/* ---------------------------------------------------------------- tests */

static void test_append_commit_reopen(void **state)
{
    struct fx *f = *state;
    struct store_append_result res;
    struct store_agent_info a = {.agent_id = "agent-a", .hostname = "host-1",
                                 .agent_version = "0.1.0",
                                 .labels_json = "{\"cloud\":\"aws\"}", .seen_ns = 5};

    assert_int_equal(mark_of(f->s, "agent-a", 7), 0);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_seen(f->s, &a), 0);
    assert_int_equal(append_range(f->s, "agent-a", 7, 1, 40, &res), 0);
    assert_int_equal(res.stored, 40);
    assert_int_equal(res.duplicates, 0);
    assert_int_equal(res.committed_seq, 40);
    assert_int_equal(mark_of(f->s, "agent-a", 7), 40);
    assert_int_equal(store_commit(f->s), 0);

    fx_reopen(f);
    assert_int_equal(mark_of(f->s, "agent-a", 7), 40);
    /* Continuing after reopen extends the open chunk (40 % 16 = 8 rows in it). */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 7, 38, 45, &res), 0);
    assert_int_equal(res.stored, 5);
    assert_int_equal(res.duplicates, 3);
    assert_int_equal(store_commit(f->s), 0);

    struct store_reader *r = reader_open(f);
    assert_int_equal(count_of(r), 45);
    struct collect c = {0};
    query_all(r, (struct store_query){0}, 1000, &c);
    assert_int_equal(c.n, 45);
    for (size_t i = 0; i < c.n; i++) {
        assert_int_equal(c.rows[i].seq, 45 - i);
        assert_int_equal(c.rows[i].epoch, 7);
        assert_string_equal(c.rows[i].agent, "agent-a");
        assert_string_equal(c.rows[i].host, "host-1");
        assert_string_equal(c.rows[i].container, "");
    }
    free(c.rows);
    store_reader_close(r);
}

static void test_duplicates_skipped(void **state)
{
    struct fx *f = *state;
    struct store_append_result res;

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 1, 10, &res), 0);
    assert_int_equal(store_commit(f->s), 0);
    /* The same batch again (a resend after a lost Ack): nothing stored. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 1, 10, &res), 0);
    assert_int_equal(res.stored, 0);
    assert_int_equal(res.duplicates, 10);
    assert_int_equal(res.committed_seq, 10);
    assert_int_equal(store_commit(f->s), 0);
    /* Partial overlap: 5..15 after mark 10 stores 11..15. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 5, 15, &res), 0);
    assert_int_equal(res.stored, 5);
    assert_int_equal(res.duplicates, 6);
    assert_int_equal(res.committed_seq, 15);
    /* Within one transaction too: the mark already counts this append. */
    assert_int_equal(append_range(f->s, "agent-a", 1, 15, 16, &res), 0);
    assert_int_equal(res.stored, 1);
    assert_int_equal(res.duplicates, 1);
    assert_int_equal(store_commit(f->s), 0);

    struct store_reader *r = reader_open(f);
    assert_int_equal(count_of(r), 16);
    struct collect c = {0};
    query_all(r, (struct store_query){0}, 5, &c);
    assert_int_equal(c.n, 16);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.rows[i].seq, 16 - i);  /* each seq exactly once */
    free(c.rows);
    store_reader_close(r);
}

static void test_rollback_restores_marks(void **state)
{
    struct fx *f = *state;
    struct store_append_result res;
    struct tev t[3] = {{1, 100, 11, "ctr-new"}, {2, 200, 11, NULL}, {3, 300, 12, "ctr-new"}};

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 1, 10, &res), 0);
    assert_int_equal(store_commit(f->s), 0);

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 11, 30, &res), 0);
    /* A new agent, host and container, all created in this transaction. */
    assert_int_equal(append_tevs(f->s, "agent-new", "host-new", 9, t, 3, &res), 0);
    assert_int_equal(mark_of(f->s, "agent-a", 1), 30);
    assert_int_equal(mark_of(f->s, "agent-new", 9), 3);
    store_rollback(f->s);
    assert_int_equal(mark_of(f->s, "agent-a", 1), 10);
    assert_int_equal(mark_of(f->s, "agent-new", 9), 0);

    /* The rolled-back seqs are new again, and the dimension rows that were
     * rolled back are created afresh (no stale cached ids). */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 11, 20, &res), 0);
    assert_int_equal(res.stored, 10);
    assert_int_equal(res.duplicates, 0);
    assert_int_equal(append_tevs(f->s, "agent-new", "host-new", 9, t, 3, &res), 0);
    assert_int_equal(res.stored, 3);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(mark_of(f->s, "agent-a", 1), 20);

    struct store_reader *r = reader_open(f);
    assert_int_equal(count_of(r), 23);
    struct collect c = {0};
    query_all(r, (struct store_query){.agent_id = "agent-new", .container_id = "ctr-new"}, 10,
              &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.rows[0].seq, 3);
    assert_string_equal(c.rows[0].host, "host-new");
    assert_int_equal(c.rows[1].seq, 1);
    free(c.rows);
    store_reader_close(r);

    /* Closing with a transaction open rolls it back. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 21, 25, &res), 0);
    fx_reopen(f);
    assert_int_equal(mark_of(f->s, "agent-a", 1), 20);
}

static void test_epochs_independent(void **state)
{
    struct fx *f = *state;
    struct store_append_result res;

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 100, 1, 5, &res), 0);
    /* A reinstalled agent: new epoch, seq restarts at 1 and is not a resend. */
    assert_int_equal(append_range(f->s, "agent-a", 200, 1, 3, &res), 0);
    assert_int_equal(res.stored, 3);
    assert_int_equal(res.duplicates, 0);
    assert_int_equal(res.committed_seq, 3);
    /* Another agent's marks are its own. */
    assert_int_equal(append_range(f->s, "agent-b", 100, 1, 2, &res), 0);
    assert_int_equal(res.stored, 2);
    assert_int_equal(store_commit(f->s), 0);
    fx_reopen(f);
    assert_int_equal(mark_of(f->s, "agent-a", 100), 5);
    assert_int_equal(mark_of(f->s, "agent-a", 200), 3);
    assert_int_equal(mark_of(f->s, "agent-b", 100), 2);
    assert_int_equal(mark_of(f->s, "agent-b", 200), 0);
    assert_int_equal(mark_of(f->s, "nobody", 100), 0);
}

/* ------------------------------------------------ queries against a model */

struct model_row {
    const char *agent, *host, *container;  /* container "" = host event */
    uint64_t epoch, seq;
    int64_t time_ns;
    int32_t kind;
};

static bool model_match(const struct model_row *m, const struct store_query *q)
{
    return (q->since_ns == 0 || m->time_ns >= q->since_ns) &&
           (q->until_ns == 0 || m->time_ns < q->until_ns) &&
           (!q->agent_id || strcmp(q->agent_id, m->agent) == 0) &&
           (!q->hostname || strcmp(q->hostname, m->host) == 0) &&
           (!q->container_id || strcmp(q->container_id, m->container) == 0) &&
           (q->kind == 0 || q->kind == m->kind);
}

/* Stores ~600 events from three agents (two on one host), four containers,
 * all seven kinds and shuffled times in batches of 1..9 over several
 * transactions and a reopen, then checks each query, paginated across
 * 16-row chunks, against a brute-force filter of the model. */
static void test_queries_match_model(void **state)
{
    struct fx *f = *state;
    static const char *agents[3] = {"agent-a", "agent-b", "agent-c"};
    static const char *hosts[3] = {"host-1", "host-2", "host-2"};
    static const char *ctrs[4] = {"", "ctr-1", "ctr-2", "ctr-3"};
    enum { N = 600 };
    struct model_row *model = calloc(N, sizeof *model);
    uint64_t next_seq[3] = {1, 1, 1};
    uint32_t rnd = 12345;
    size_t n = 0;
    bool reopened = false;
    struct store_append_result res;

    assert_non_null(model);
#define RND() (rnd = rnd * 1103515245u + 12345u, (rnd >> 16) & 0x7fff)
    while (n < N) {
        int tx_batches = 1 + (int)(RND() % 6);
        assert_int_equal(store_begin(f->s), 0);
        for (int b = 0; b < tx_batches && n < N; b++) {
            int ag = (int)(RND() % 3);
            size_t k = 1 + RND() % 40;  /* both sides of the 16-row insert */
            struct tev t[40];
            if (k > N - n)
                k = N - n;
            for (size_t i = 0; i < k; i++) {
                const char *ctr = ctrs[RND() % 4];
                /* one draw per statement: initialisers are unsequenced */
                int64_t tns = 1000000 + (int64_t)(RND() % 5000) * 1000;
                int32_t kind = 10 + (int32_t)(RND() % 7);
                t[i] = (struct tev){.seq = next_seq[ag]++, .time_ns = tns, .kind = kind,
                                    .container = *ctr ? ctr : NULL};
                model[n + i] = (struct model_row){agents[ag], hosts[ag], ctr, 1, t[i].seq,
                                                  t[i].time_ns, t[i].kind};
            }
            assert_int_equal(append_tevs(f->s, agents[ag], hosts[ag], 1, t, k, &res), 0);
            assert_int_equal(res.stored, k);
            n += k;
        }
        assert_int_equal(store_commit(f->s), 0);
        if (n >= N / 2 && !reopened) {
            fx_reopen(f);  /* the open chunk must carry over */
            reopened = true;
        }
    }
#undef RND

    const struct store_query qs[] = {
        {0},
        {.agent_id = "agent-b"},
        {.hostname = "host-2"},
        {.hostname = "host-1"},
        {.container_id = "ctr-2"},
        {.container_id = ""},
        {.kind = 12},
        {.kind = 16},
        {.since_ns = 2000000, .until_ns = 3000000},
        {.since_ns = 5500000},
        {.until_ns = 1100000},
        {.agent_id = "agent-c", .container_id = "", .kind = 10},
        {.hostname = "host-2", .container_id = "ctr-3", .since_ns = 1500000},
        {.agent_id = "agent-a", .hostname = "host-2"},  /* contradictory: none */
        {.agent_id = "no-such-agent"},
        {.container_id = "no-such-container"},
        {.hostname = "no-such-host"},
        {.kind = 13, .since_ns = 9999999},
    };
    struct store_reader *r = reader_open(f);
    assert_int_equal(count_of(r), N);
    for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
        const uint32_t pages[2] = {7, 1000};
        for (int p = 0; p < 2; p++) {
            struct collect c = {0};
            query_all(r, qs[qi], pages[p], &c);
            size_t j = 0;
            for (size_t i = N; i-- > 0;) {
                if (!model_match(&model[i], &qs[qi]))
                    continue;
                if (j >= c.n)
                    fail_msg("query %zu page %u: only %zu rows", qi, pages[p], c.n);
                const struct got_row *g = &c.rows[j++];
                if (strcmp(g->agent, model[i].agent) != 0 || g->seq != model[i].seq)
                    fail_msg("query %zu row %zu: got %s/%llu, want %s/%llu", qi, j - 1,
                             g->agent, (unsigned long long)g->seq, model[i].agent,
                             (unsigned long long)model[i].seq);
                assert_string_equal(g->host, model[i].host);
                assert_string_equal(g->container, model[i].container);
                assert_int_equal(g->kind, model[i].kind);
                assert_int_equal(g->time_ns, model[i].time_ns);
            }
            if (j != c.n)
                fail_msg("query %zu: %zu rows, model has %zu", qi, c.n, j);
            free(c.rows);
        }
    }
    store_reader_close(r);
    free(model);
}

static int stop_after_three(const struct store_row *row, void *ctx)
{
    int *n = ctx;
    return ++*n == 3 ? 42 : 0;
}

static void test_limits_and_early_stop(void **state)
{
    struct fx *f = *state;
    struct store_append_result res;
    struct collect c = {0};
    int seen = 0;

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 1, 50, &res), 0);
    assert_int_equal(store_commit(f->s), 0);
    struct store_reader *r = reader_open(f);
    struct store_query q = {.limit = 0};
    assert_int_equal(store_query_events(r, &q, on_row, &c), BW_EINVAL);
    q.limit = STORE_QUERY_MAX_LIMIT + 1;
    assert_int_equal(store_query_events(r, &q, on_row, &c), BW_EINVAL);
    assert_int_equal(c.n, 0);
    q.limit = STORE_QUERY_MAX_LIMIT;
    assert_int_equal(store_query_events(r, &q, on_row, &c), 0);
    assert_int_equal(c.n, 50);
    c.n = 0;
    q.limit = 1;
    assert_int_equal(store_query_events(r, &q, on_row, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.rows[0].seq, 50);
    /* The cursor excludes before_id itself. */
    c.n = 0;
    q.limit = 20;
    q.before_id = c.rows[0].id - 1;  /* rows[0].id is still the newest row's id */
    assert_int_equal(store_query_events(r, &q, on_row, &c), 0);
    assert_int_equal(c.n, 20);
    assert_int_equal(c.rows[0].seq, 48);
    assert_int_equal(c.rows[19].seq, 29);
    /* A callback's non-zero value stops the query and is returned. */
    q = (struct store_query){.limit = 100};
    assert_int_equal(store_query_events(r, &q, stop_after_three, &seen), 42);
    assert_int_equal(seen, 3);
    free(c.rows);
    store_reader_close(r);
    /* Writes outside a transaction are refused. */
    assert_int_equal(append_range(f->s, "agent-a", 1, 51, 52, &res), BW_EINVAL);
}

static void test_reader_sees_later_commits(void **state)
{
    struct fx *f = *state;
    struct store_append_result res;
    struct collect c = {0};

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 1, 5, &res), 0);
    assert_int_equal(store_commit(f->s), 0);
    struct store_reader *r = reader_open(f);
    assert_int_equal(count_of(r), 5);

    /* Uncommitted rows are invisible; committed ones, including those in the
     * open (partly filled) chunk, are found. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 6, 40, &res), 0);
    assert_int_equal(count_of(r), 5);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(count_of(r), 40);
    query_all(r, (struct store_query){.agent_id = "agent-a"}, 1000, &c);
    assert_int_equal(c.n, 40);
    assert_int_equal(c.rows[0].seq, 40);
    free(c.rows);
    store_reader_close(r);

    /* A reader also works after the writer has closed. */
    store_close(f->s);
    f->s = NULL;
    r = reader_open(f);
    assert_int_equal(count_of(r), 40);
    store_reader_close(r);
    fx_open(f);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct store *s = NULL;
    struct store_reader *r = NULL;
    char err[256] = "";
    char missing[200];
    struct store_options o = {.path = "/nonexistent-dir/x/events.db"};

    assert_true(store_open(&s, &o, err, sizeof err) < 0);
    assert_null(s);
    assert_true(strlen(err) > 0);
    snprintf(missing, sizeof missing, "%s/missing.db", f->dir);
    err[0] = 0;
    assert_true(store_reader_open(&r, missing, err, sizeof err) < 0);
    assert_null(r);
    assert_true(strlen(err) > 0);
    store_close(NULL);
    store_reader_close(NULL);
}


/* ---------------------------------------------------------------- alerts */

#define SEC 1000000000LL
#define WINDOW (60 * SEC)

static struct store_alert_result raise_alert(struct store *s, const char *rule,
                                             const char *group, int32_t prio, int64_t t,
                                             bool retro, const struct store_evidence *ev,
                                             size_t n_ev)
{
    struct store_alert a = {.rule = rule, .priority = prio, .output = "shell in container",
                            .source = "rule", .group_key = group, .agent_id = "agent-a",
                            .hostname = "host-1", .container_id = group, .image = "nginx",
                            .tags_json = "[\"mitre_execution\"]", .time_ns = t,
                            .retrospective = retro, .evidence = ev, .n_evidence = n_ev};
    struct store_alert_result res = {0};
    assert_int_equal(store_alert_raise(s, &a, WINDOW, &res), 0);
    return res;
}

struct got_alert {
    int64_t id;
    char rule[16], host[16], container[16], tags[32];
    int32_t priority;
    int64_t first_seen, last_seen;
    uint32_t count;
    bool retro;
    size_t n_evidence;
};

struct alert_collect {
    struct got_alert rows[256];
    size_t n;
};

static int on_alert(const struct store_alert_row *row, void *ctx)
{
    struct alert_collect *c = ctx;
    assert_true(c->n < 256);
    struct got_alert *g = &c->rows[c->n++];
    *g = (struct got_alert){.id = row->id, .priority = row->priority,
                            .first_seen = row->first_seen_ns, .last_seen = row->last_seen_ns,
                            .count = row->count, .retro = row->retrospective,
                            .n_evidence = row->n_evidence};
    snprintf(g->rule, sizeof g->rule, "%s", row->rule);
    snprintf(g->host, sizeof g->host, "%s", row->hostname);
    snprintf(g->container, sizeof g->container, "%s", row->container_id);
    snprintf(g->tags, sizeof g->tags, "%s", row->tags_json ? row->tags_json : "(null)");
    assert_string_equal(row->source, "rule");
    return 0;
}

static const struct got_alert *alert_by_id(const struct alert_collect *c, int64_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->rows[i].id == id)
            return &c->rows[i];
    fail_msg("alert %lld not found", (long long)id);
    return NULL;
}

static uint64_t alert_count(struct store_reader *r)
{
    uint64_t n = 99;
    assert_int_equal(store_count_alerts(r, &n), 0);
    return n;
}

static void test_alert_suppression(void **state)
{
    struct fx *f = *state;
    const int64_t t = 1000 * SEC;
    struct store_alert_result r1, r2, r3, r4, r5, r6, r7, r8, r9;

    assert_int_equal(store_begin(f->s), 0);
    r1 = raise_alert(f->s, "shell", "ctr-1", 4, t, false, NULL, 0);
    assert_true(r1.raised);
    assert_int_equal(r1.count, 1);
    /* A repeat within the window counts. */
    r2 = raise_alert(f->s, "shell", "ctr-1", 4, t + 10 * SEC, false, NULL, 0);
    assert_false(r2.raised);
    assert_int_equal(r2.alert_id, r1.alert_id);
    assert_int_equal(r2.count, 2);
    /* Another group, or another rule on the same group, is its own alert. */
    r3 = raise_alert(f->s, "shell", "ctr-2", 4, t + 10 * SEC, false, NULL, 0);
    assert_true(r3.raised);
    assert_true(raise_alert(f->s, "miner", "ctr-1", 4, t + 10 * SEC, false, NULL, 0).raised);
    /* Past the window (measured from last_seen, t + 10 s): a new alert. */
    r4 = raise_alert(f->s, "shell", "ctr-1", 4, t + 71 * SEC, false, NULL, 0);
    assert_true(r4.raised);
    assert_true(r4.alert_id != r1.alert_id);
    /* Higher priority within the window: a new alert too. */
    r5 = raise_alert(f->s, "shell", "ctr-1", 6, t + 72 * SEC, false, NULL, 0);
    assert_true(r5.raised);
    /* A lower one after it counts on the latest (the higher) alert. */
    r6 = raise_alert(f->s, "shell", "ctr-1", 4, t + 73 * SEC, false, NULL, 0);
    assert_false(r6.raised);
    assert_int_equal(r6.alert_id, r5.alert_id);
    assert_int_equal(r6.count, 2);
    /* Retrospective alerts never merge with live ones, only with each other. */
    r7 = raise_alert(f->s, "shell", "ctr-1", 4, t + 73 * SEC, true, NULL, 0);
    assert_true(r7.raised);
    r8 = raise_alert(f->s, "shell", "ctr-1", 4, t + 74 * SEC, true, NULL, 0);
    assert_false(r8.raised);
    assert_int_equal(r8.alert_id, r7.alert_id);
    assert_int_equal(store_commit(f->s), 0);

    /* After a reopen (empty map) the open alert is found in the table. */
    fx_reopen(f);
    assert_int_equal(store_begin(f->s), 0);
    r9 = raise_alert(f->s, "shell", "ctr-1", 5, t + 120 * SEC, false, NULL, 0);
    assert_false(r9.raised);
    assert_int_equal(r9.alert_id, r5.alert_id);
    assert_int_equal(r9.count, 3);
    assert_int_equal(store_commit(f->s), 0);

    struct store_reader *r = reader_open(f);
    assert_int_equal(alert_count(r), 6);
    struct alert_collect c = {0};
    assert_int_equal(store_query_alerts(r, &(struct store_alert_query){.limit = 100}, on_alert,
                                        &c), 0);
    assert_int_equal(c.n, 6);
    const struct got_alert *g = alert_by_id(&c, r5.alert_id);
    assert_int_equal(g->count, 3);
    assert_int_equal(g->priority, 6);
    assert_int_equal(g->first_seen, t + 72 * SEC);
    assert_int_equal(g->last_seen, t + 120 * SEC);
    assert_false(g->retro);
    assert_string_equal(g->tags, "[\"mitre_execution\"]");
    g = alert_by_id(&c, r1.alert_id);
    assert_int_equal(g->count, 2);
    assert_int_equal(g->last_seen, t + 10 * SEC);
    g = alert_by_id(&c, r7.alert_id);
    assert_true(g->retro);
    assert_int_equal(g->count, 2);
    store_reader_close(r);
}

static void test_alert_rollback(void **state)
{
    struct fx *f = *state;
    struct store_alert_result res;
    struct store_alert a = {.rule = "x", .source = "rule", .priority = 4};

    assert_int_equal(store_alert_raise(f->s, &a, WINDOW, &res), BW_EINVAL);  /* no txn */
    assert_int_equal(store_begin(f->s), 0);
    a.source = NULL;
    assert_int_equal(store_alert_raise(f->s, &a, WINDOW, &res), BW_EINVAL);
    res = raise_alert(f->s, "shell", "ctr-1", 4, 10 * SEC, false, NULL, 0);
    assert_true(res.raised);
    store_rollback(f->s);
    /* The raise was forgotten: raising again is new. */
    assert_int_equal(store_begin(f->s), 0);
    res = raise_alert(f->s, "shell", "ctr-1", 4, 11 * SEC, false, NULL, 0);
    assert_true(res.raised);
    assert_int_equal(res.count, 1);
    assert_int_equal(store_commit(f->s), 0);
    /* A rolled-back repeat is not counted. */
    assert_int_equal(store_begin(f->s), 0);
    res = raise_alert(f->s, "shell", "ctr-1", 4, 12 * SEC, false, NULL, 0);
    assert_int_equal(res.count, 2);
    store_rollback(f->s);
    assert_int_equal(store_begin(f->s), 0);
    res = raise_alert(f->s, "shell", "ctr-1", 4, 13 * SEC, false, NULL, 0);
    assert_false(res.raised);
    assert_int_equal(res.count, 2);
    assert_int_equal(store_commit(f->s), 0);

    struct store_reader *r = reader_open(f);
    assert_int_equal(alert_count(r), 1);
    struct alert_collect c = {0};
    assert_int_equal(store_query_alerts(r, &(struct store_alert_query){.limit = 10}, on_alert,
                                        &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.rows[0].count, 2);
    assert_int_equal(c.rows[0].first_seen, 11 * SEC);
    assert_int_equal(c.rows[0].last_seen, 13 * SEC);
    store_reader_close(r);
}

struct got_ev {
    int64_t id;
    char agent[16];
    uint64_t epoch, seq;
    bool body_ok;
};

struct ev_collect {
    struct got_ev rows[128];
    size_t n;
};

static int on_evidence(const struct store_row *row, void *ctx)
{
    struct ev_collect *c = ctx;
    assert_true(c->n < 128);
    struct got_ev *g = &c->rows[c->n++];
    *g = (struct got_ev){.id = row->id, .epoch = row->epoch, .seq = row->seq};
    snprintf(g->agent, sizeof g->agent, "%s", row->agent_id);
    if (row->id > 0) {
        Bulwark__V1__Event *ev = bulwark__v1__event__unpack(NULL, row->body_len, row->body);
        g->body_ok = ev && ev->seq == row->seq;
        bulwark__v1__event__free_unpacked(ev, NULL);
    } else {
        assert_int_equal(row->body_len, 0);
    }
    return 0;
}

static void test_alert_evidence(void **state)
{
    struct fx *f = *state;
    struct store_append_result ar;
    struct store_alert_result res;

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 1, 40, &ar), 0);
    assert_int_equal(store_commit(f->s), 0);
    fx_reopen(f);  /* seq 1..40 are now only findable by searching */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 1, 41, 60, &ar), 0);
    assert_int_equal(append_range(f->s, "agent-b", 2, 1, 10, &ar), 0);
    const struct store_evidence ev[] = {
        {"agent-a", 1, 45},   /* stored in this transaction */
        {"agent-b", 2, 7},
        {"agent-a", 1, 3},    /* stored before the reopen: found by the chunk walk */
        {"agent-a", 1, 999},  /* never stored */
        {"agent-a", 1, 45},   /* the same link twice is kept once */
    };
    res = raise_alert(f->s, "miner", "ctr-1", 6, 100 * SEC, false, ev, 5);
    assert_true(res.raised);
    int64_t id = res.alert_id;
    assert_int_equal(store_commit(f->s), 0);

    struct store_reader *r = reader_open(f);
    struct ev_collect c = {0};
    assert_int_equal(store_alert_evidence(r, id, on_evidence, &c), 0);
    assert_int_equal(c.n, 4);
    /* Ordered by (agent, epoch, seq). */
    const struct {
        const char *agent;
        uint64_t epoch, seq;
        bool found;
    } want[4] = {{"agent-a", 1, 3, true}, {"agent-a", 1, 45, true}, {"agent-a", 1, 999, false},
                 {"agent-b", 2, 7, true}};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(c.rows[i].agent, want[i].agent);
        assert_int_equal(c.rows[i].epoch, want[i].epoch);
        assert_int_equal(c.rows[i].seq, want[i].seq);
        assert_int_equal(c.rows[i].id > 0, want[i].found);
        assert_int_equal(c.rows[i].body_ok, want[i].found);
    }
    /* The ids agree with the event rows themselves. */
    struct collect all = {0};
    query_all(r, (struct store_query){0}, 1000, &all);
    for (size_t i = 0; i < all.n; i++) {
        if (strcmp(all.rows[i].agent, "agent-a") == 0 && all.rows[i].seq == 45)
            assert_int_equal(all.rows[i].id, c.rows[1].id);
        if (strcmp(all.rows[i].agent, "agent-a") == 0 && all.rows[i].seq == 3)
            assert_int_equal(all.rows[i].id, c.rows[0].id);
    }
    free(all.rows);

    /* Repeats add links up to STORE_ALERT_EVIDENCE_MAX, no more. */
    struct store_evidence many[70];  /* 67 new links, with the 4 already there 71 */
    for (size_t i = 0; i < 70; i++)
        many[i] = i < 60 ? (struct store_evidence){"agent-a", 1, 1 + i}
                         : (struct store_evidence){"agent-b", 2, i - 59};
    assert_int_equal(store_begin(f->s), 0);
    res = raise_alert(f->s, "miner", "ctr-1", 6, 101 * SEC, false, many, 70);
    assert_false(res.raised);
    assert_int_equal(res.alert_id, id);
    res = raise_alert(f->s, "miner", "ctr-1", 6, 102 * SEC, false, many, 70);
    assert_int_equal(res.count, 3);
    assert_int_equal(store_commit(f->s), 0);
    struct alert_collect ac = {0};
    assert_int_equal(store_query_alerts(r, &(struct store_alert_query){.limit = 10}, on_alert,
                                        &ac), 0);
    assert_int_equal(ac.n, 1);
    assert_int_equal(ac.rows[0].n_evidence, STORE_ALERT_EVIDENCE_MAX);
    c.n = 0;
    assert_int_equal(store_alert_evidence(r, id, on_evidence, &c), 0);
    assert_int_equal(c.n, STORE_ALERT_EVIDENCE_MAX);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.rows[i].id > 0, c.rows[i].seq != 999);
    /* An unknown alert has no evidence. */
    c.n = 0;
    assert_int_equal(store_alert_evidence(r, id + 100, on_evidence, &c), 0);
    assert_int_equal(c.n, 0);
    store_reader_close(r);
}

struct model_alert {
    int64_t id;
    const char *rule, *host, *container;
    int32_t prio;
    int64_t t;
};

static bool alert_match(const struct model_alert *m, const struct store_alert_query *q)
{
    return (q->since_ns == 0 || m->t >= q->since_ns) && (q->until_ns == 0 || m->t < q->until_ns) &&
           (!q->rule || strcmp(q->rule, m->rule) == 0) &&
           (!q->hostname || strcmp(q->hostname, m->host) == 0) &&
           (!q->container_id || strcmp(q->container_id, m->container) == 0) &&
           m->prio >= q->min_priority;
}

static void test_alert_query(void **state)
{
    struct fx *f = *state;
    static const char *rules[3] = {"r0", "r1", "r2"};
    static const char *hosts[2] = {"h1", "h2"};
    static const char *ctrs[3] = {"", "c1", "c2"};
    enum { N = 60 };
    struct model_alert m[N];
    char group[16];

    assert_int_equal(store_begin(f->s), 0);
    for (int i = 0; i < N; i++) {
        m[i] = (struct model_alert){0, rules[i % 3], hosts[(i / 3) % 2], ctrs[(i / 2) % 3],
                                    2 + (i * 7) % 6, (int64_t)(i * 37 % N) * SEC};
        snprintf(group, sizeof group, "g%d", i);
        struct store_alert a = {.rule = m[i].rule, .priority = m[i].prio, .source = "rule",
                                .group_key = group, .hostname = m[i].host,
                                .container_id = m[i].container, .time_ns = m[i].t};
        struct store_alert_result res;
        assert_int_equal(store_alert_raise(f->s, &a, WINDOW, &res), 0);
        assert_true(res.raised);
        m[i].id = res.alert_id;
    }
    assert_int_equal(store_commit(f->s), 0);

    const struct store_alert_query qs[] = {
        {0},
        {.rule = "r1"},
        {.hostname = "h2"},
        {.container_id = ""},
        {.container_id = "c1", .rule = "r2"},
        {.min_priority = 6},
        {.since_ns = 10 * SEC, .until_ns = 30 * SEC},
        {.rule = "nope"},
        {.hostname = "h1", .min_priority = 4, .since_ns = 20 * SEC},
    };
    struct store_reader *r = reader_open(f);
    assert_int_equal(alert_count(r), N);
    for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
        const uint32_t pages[2] = {4, 1000};
        for (int p = 0; p < 2; p++) {
            struct alert_collect c = {0};
            struct store_alert_query q = qs[qi];
            q.limit = pages[p];
            for (;;) {
                size_t before = c.n;
                assert_int_equal(store_query_alerts(r, &q, on_alert, &c), 0);
                if (c.n - before < pages[p])
                    break;
                q.before_id = c.rows[c.n - 1].id;
            }
            size_t j = 0;
            for (int i = N; i-- > 0;) {
                if (!alert_match(&m[i], &qs[qi]))
                    continue;
                if (j >= c.n)
                    fail_msg("alert query %zu: only %zu rows", qi, c.n);
                assert_int_equal(c.rows[j].id, m[i].id);
                assert_string_equal(c.rows[j].rule, m[i].rule);
                assert_string_equal(c.rows[j].container, m[i].container);
                assert_string_equal(c.rows[j].tags, "(null)");
                j++;
            }
            if (j != c.n)
                fail_msg("alert query %zu: %zu rows, model has %zu", qi, c.n, j);
        }
    }
    struct alert_collect c = {0};
    assert_int_equal(store_query_alerts(r, &(struct store_alert_query){.limit = 0}, on_alert, &c),
                     BW_EINVAL);
    store_reader_close(r);
}

static void expect_state(struct store *s, const char *key, const char *want)
{
    struct buf b;
    buf_init(&b, 1024);
    int rc = store_state_get(s, key, &b);
    if (!want) {
        assert_int_equal(rc, BW_ENOTFOUND);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(buf_size(&b), strlen(want));
        assert_memory_equal(buf_head(&b), want, strlen(want));
    }
    buf_release(&b);
}

static void test_state_put_get(void **state)
{
    struct fx *f = *state;
    const uint8_t v1[] = "abc", v2[] = "longer value";

    expect_state(f->s, "cpu", NULL);
    assert_int_equal(store_state_put(f->s, "cpu", v1, 3), BW_EINVAL);  /* no txn */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_state_put(f->s, "cpu", v1, 3), 0);
    assert_int_equal(store_state_put(f->s, "empty", NULL, 0), 0);
    expect_state(f->s, "cpu", "abc");
    assert_int_equal(store_commit(f->s), 0);
    expect_state(f->s, "empty", "");
    /* Overwrite, rolled back: the old value stays. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_state_put(f->s, "cpu", v2, sizeof v2 - 1), 0);
    expect_state(f->s, "cpu", "longer value");
    store_rollback(f->s);
    expect_state(f->s, "cpu", "abc");
    /* Overwrite, committed, survives a reopen. */
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_state_put(f->s, "cpu", v2, sizeof v2 - 1), 0);
    assert_int_equal(store_commit(f->s), 0);
    fx_reopen(f);
    expect_state(f->s, "cpu", "longer value");
    expect_state(f->s, "firstseen", NULL);
    /* A buffer too small for the value. */
    struct buf b;
    buf_init(&b, 4);
    assert_int_equal(store_state_get(f->s, "cpu", &b), BW_ETOOBIG);
    buf_release(&b);
}

/* The version 1 schema exactly as the first store created it. */
static const char schema_v1[] =
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
    "PRAGMA user_version = 1;";

/* Readers that always overlap: two connections, each opening a read
 * transaction before the other closes its own, so some reader always holds
 * a snapshot (a dashboard that is always querying). */
struct overlap {
    const char *path;
    atomic_bool stop;
    atomic_int rounds;
};

static void reader_hold(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;

    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            ;
    sqlite3_finalize(st);
}

static void *overlap_main(void *arg)
{
    struct overlap *o = arg;
    sqlite3 *db[2] = {NULL, NULL};

    for (int i = 0; i < 2; i++) {
        if (sqlite3_open_v2(o->path, &db[i], SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
            return NULL;
        sqlite3_busy_timeout(db[i], 5000);
    }
    reader_hold(db[0]);
    for (int k = 1; !atomic_load(&o->stop); k ^= 1) {
        reader_hold(db[k]);                                  /* the new one first */
        sqlite3_exec(db[k ^ 1], "COMMIT", NULL, NULL, NULL);  /* then the old ends */
        atomic_fetch_add(&o->rounds, 1);
    }
    for (int i = 0; i < 2; i++) {
        sqlite3_exec(db[i], "COMMIT", NULL, NULL, NULL);
        sqlite3_close(db[i]);
    }
    return NULL;
}

/* Appends 5 MiB in 50 commits while readers overlap; returns the largest
 * WAL file seen. */
static off_t wal_peak_under_readers(struct fx *f, uint32_t restart_pages)
{
    static uint8_t body[1024];
    struct store_options o = {.path = f->path, .sync_full = false, .wal_restart_pages = restart_pages};
    struct overlap ov = {.path = f->path};
    struct store_event evs[100];
    struct store_append_result res;
    char err[256] = "", wal[160];
    pthread_t th;
    off_t peak = 0;
    uint64_t seq = 0;

    store_close(f->s);
    assert_int_equal(store_open(&f->s, &o, err, sizeof err), 0);
    fx_path(f, wal, sizeof wal, "-wal");
    assert_int_equal(pthread_create(&th, NULL, overlap_main, &ov), 0);
    while (atomic_load(&ov.rounds) < 2)
        sched_yield();
    for (int c = 0; c < 50; c++) {
        struct stat sb;

        for (size_t i = 0; i < 100; i++) {
            seq++;
            evs[i] = (struct store_event){.seq = seq, .time_ns = (int64_t)seq, .kind = 10,
                                          .severity = 2, .body = body, .body_len = sizeof body};
        }
        struct store_batch b = {.agent_id = "agent-w", .hostname = "host-w", .epoch = restart_pages,
                                .recv_ns = 1000, .n = 100, .events = evs};
        assert_int_equal(store_begin(f->s), 0);
        assert_int_equal(store_append(f->s, &b, &res), 0);
        assert_int_equal(store_commit(f->s), 0);
        if (stat(wal, &sb) == 0 && sb.st_size > peak)
            peak = sb.st_size;
    }
    atomic_store(&ov.stop, true);
    pthread_join(th, NULL);
    assert_true(atomic_load(&ov.rounds) > 2);
    return peak;
}

/* Overlapping readers starve SQLite's passive checkpoints (the control: the
 * WAL holds all 5 MiB); the store's RESTART past the limit keeps it near the
 * limit (128 pages = 512 KiB, plus the commit that crossed it). */
static void test_wal_bounded_under_readers(void **state)
{
    struct fx *f = *state;
    off_t starved = wal_peak_under_readers(f, UINT32_MAX);
    off_t bounded = wal_peak_under_readers(f, 128);

    print_message("wal peak: %lld bytes without the restart, %lld with it\n",
                  (long long)starved, (long long)bounded);
    assert_true(starved > 4 * 1024 * 1024);
    assert_true(bounded < 2 * 1024 * 1024);
}

static int on_stat_total(const struct store_stat_row *row, void *ctx)
{
    *(uint64_t *)ctx += row->n;
    return 0;
}

static int collect_binding(const char *hostname, const char *agent_id, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);

    snprintf(out + n, 256 - n, "%s=%s;", hostname, agent_id);
    return 0;
}

static void test_migrate_from_v1(void **state)
{
    struct fx *f = *state;
    char p[160], err[256] = "";
    sqlite3 *db = NULL;
    struct store_reader *r = NULL;
    struct store_append_result ar;

    /* A version 1 database with one agent, a mark and two summarised rows. */
    store_close(f->s);
    f->s = NULL;
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        fx_path(f, p, sizeof p, suffix[i]);
        unlink(p);
    }
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO agents (id, agent_id, hostname, first_seen, last_seen)"
                     " VALUES (1, 'agent-a', 'host-1', 1, 1);"
                     "INSERT INTO agents (id, agent_id, hostname, first_seen, last_seen)"
                     " VALUES (2, 'agent-b', 'host-1', 2, 2);"
                     "INSERT INTO agents (id, agent_id, hostname, first_seen, last_seen)"
                     " VALUES (3, 'agent-c', 'host-1 (unverified, claimed by agent-c)', 3, 3);"
                     "INSERT INTO hosts (id, hostname, first_seen, last_seen)"
                     " VALUES (1, 'host-1', 1, 1);"
                     "INSERT INTO marks VALUES (1, 7, 2);"
                     "INSERT INTO events VALUES (1, 1000, 1000, 1, 1, 0, 10, 2, 7, 1, x'');"
                     "INSERT INTO events VALUES (2, 2000, 1000, 1, 1, 0, 10, 2, 7, 2, x'');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    /* A reader of this build refuses it until the writer has migrated it. */
    assert_int_equal(store_reader_open(&r, f->path, err, sizeof err), BW_ECONFIG);
    assert_null(r);

    fx_open(f);
    /* 7 -> 8: the names agents hold become bindings, the first seen winning */
    char bound[256] = "";
    assert_int_equal(store_hostbind_each(f->s, collect_binding, bound), 0);
    assert_string_equal(bound, "host-1=agent-a;");
    assert_int_equal(mark_of(f->s, "agent-a", 7), 2);
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_range(f->s, "agent-a", 7, 1, 5, &ar), 0);
    assert_int_equal(ar.stored, 3);
    assert_int_equal(ar.duplicates, 2);
    const struct store_evidence ev[2] = {{"agent-a", 7, 2}, {"agent-a", 7, 5}};
    assert_true(raise_alert(f->s, "shell", "ctr-1", 4, 5 * SEC, false, ev, 2).raised);
    assert_int_equal(store_state_put(f->s, "cpu", (const uint8_t *)"s", 1), 0);
    assert_int_equal(store_commit(f->s), 0);

    r = reader_open(f);
    assert_int_equal(count_of(r), 5);
    assert_int_equal(alert_count(r), 1);
    /* The two v1 rows were rolled up by the migration, the rest as stored. */
    struct store_stats_query sq = {.since_ns = 0, .until_ns = SEC, .bucket_ns = 60 * SEC};
    uint64_t rolled = 0;
    assert_int_equal(store_stats(r, STORE_STAT_EVENTS, &sq, on_stat_total, &rolled), 0);
    assert_int_equal(rolled, 5);
    struct alert_collect ac = {0};
    assert_int_equal(store_query_alerts(r, &(struct store_alert_query){.limit = 10}, on_alert,
                                        &ac), 0);
    struct ev_collect c = {0};
    assert_int_equal(store_alert_evidence(r, ac.rows[0].id, on_evidence, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.rows[0].id, 2);   /* the v1 row, found by searching */
    assert_int_equal(c.rows[1].seq, 5);  /* recorded when it was stored */
    assert_true(c.rows[1].id > 2);
    store_reader_close(r);
    /* Opening again finds version 2 and does nothing more. */
    fx_reopen(f);
    expect_state(f->s, "cpu", "s");
}

/* ---------------------------------------------------------------- rollups */

#define MINUTE (60 * SEC)

struct stat_sum {
    uint64_t total, buckets;
    uint64_t by_bucket[8];  /* by bucket index from 0 */
    char top[64];
    uint64_t top_n;
};

static int on_stat(const struct store_stat_row *row, void *ctx)
{
    struct stat_sum *s = ctx;
    s->total += row->n;
    s->buckets++;
    if (*row->name && !*s->top) {
        snprintf(s->top, sizeof s->top, "%s", row->name);
        s->top_n = row->n;
    }
    if (!*row->name && row->bucket_ns >= 0 && row->bucket_ns / MINUTE < 8)
        s->by_bucket[row->bucket_ns / MINUTE] += row->n;
    return 0;
}

static struct stat_sum stat_of(struct store_reader *r, enum store_stat what, int64_t since,
                               int64_t until, int64_t bucket)
{
    struct stat_sum s = {0};
    struct store_stats_query q = {.since_ns = since, .until_ns = until, .bucket_ns = bucket,
                                  .limit = 5};
    assert_int_equal(store_stats(r, what, &q, on_stat, &s), 0);
    return s;
}

static int on_net_row(const struct store_net_row *row, void *ctx)
{
    uint64_t *n = ctx;
    assert_string_equal(row->addr, "192.0.2.1");
    assert_string_equal(row->container_id, "ctr-1");
    assert_string_equal(row->hostname, "host-1");
    *n += row->n;
    return 0;
}

struct net_span {
    uint64_t rows, n;
    int64_t sum_first, sum_last;
};

static int on_net_span(const struct store_net_row *row, void *ctx)
{
    struct net_span *s = ctx;
    s->rows++;
    s->n += row->n;
    s->sum_first += row->first_ns;
    s->sum_last += row->last_ns;
    return 0;
}

/* Rollups count exactly what is committed: a rollback leaves nothing,
 * more keys than the pending table holds are flushed early and still sum
 * up, bodies without a decoded event (ev NULL) are unpacked, alert hits
 * (raise and repeat) are counted, and ranges round to whole minutes. */
static void test_rollups(void **state)
{
    struct fx *f = *state;
    struct store_append_result ar;
    enum { N = 5000 };
    struct tev *t = calloc(N, sizeof *t);
    uint64_t net = 0;

    assert_non_null(t);
    /* Event i at minute i % 7 (a few keys), and each net event in a minute
     * of its own far away (N / 2 keys: past the pending table's size). */
    for (size_t i = 0; i < N; i++)
        t[i] = (struct tev){.seq = i + 1,
                            .time_ns = i % 2 ? (int64_t)(i % 7) * MINUTE + 1
                                             : 100000 * MINUTE + (int64_t)i * MINUTE,
                            .kind = i % 2 ? 10 : 11, .container = i % 2 ? NULL : "ctr-1"};
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_tevs(f->s, "agent-a", "host-1", 1, t, N, &ar), 0);
    raise_alert(f->s, "shell", "g", 4, 3 * MINUTE, false, NULL, 0);
    store_rollback(f->s);
    struct store_reader *r = reader_open(f);
    assert_int_equal(stat_of(r, STORE_STAT_EVENTS, 0, INT64_MAX / 2, MINUTE).total, 0);
    assert_int_equal(stat_of(r, STORE_STAT_ALERTS, 0, INT64_MAX / 2, MINUTE).total, 0);

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_tevs(f->s, "agent-a", "host-1", 1, t, N, &ar), 0);
    assert_int_equal(ar.stored, N);
    raise_alert(f->s, "shell", "g", 4, 3 * MINUTE, false, NULL, 0);
    raise_alert(f->s, "shell", "g", 4, 3 * MINUTE + SEC, false, NULL, 0);  /* a repeat */
    raise_alert(f->s, "miner", "h", 6, 5 * MINUTE, false, NULL, 0);
    assert_int_equal(store_commit(f->s), 0);

    struct stat_sum all = stat_of(r, STORE_STAT_EVENTS, 0, INT64_MAX / 2, MINUTE);
    assert_int_equal(all.total, N);
    struct stat_sum early = stat_of(r, STORE_STAT_EVENTS, 0, 7 * MINUTE, MINUTE);
    assert_int_equal(early.total, N / 2);
    for (int m = 0; m < 7; m++) {  /* odd i with i % 7 == m */
        uint64_t want = 0;
        for (size_t i = 1; i < N; i += 2)
            want += i % 7 == (size_t)m;
        assert_int_equal(early.by_bucket[m], want);
    }
    /* [1 s, 1 min + 1 s) covers minutes 0 and 1 whole */
    assert_int_equal(stat_of(r, STORE_STAT_EVENTS, 1, MINUTE + 1, MINUTE).total,
                     early.by_bucket[0] + early.by_bucket[1]);
    /* five-minute buckets: minutes 0..4 and 5..6 */
    struct stat_sum five = stat_of(r, STORE_STAT_EVENTS, 0, 7 * MINUTE, 5 * MINUTE);
    assert_int_equal(five.by_bucket[0], early.total - early.by_bucket[5] - early.by_bucket[6]);
    assert_int_equal(five.by_bucket[5], early.by_bucket[5] + early.by_bucket[6]);
    assert_int_equal(stat_of(r, STORE_STAT_ALERTS, 0, 7 * MINUTE, MINUTE).total, 3);
    struct stat_sum rules = stat_of(r, STORE_STAT_TOP_RULES, 0, 7 * MINUTE, MINUTE);
    assert_string_equal(rules.top, "shell");
    assert_int_equal(rules.top_n, 2);
    struct stat_sum hosts = stat_of(r, STORE_STAT_TOP_HOSTS_BY_EVENTS, 0, INT64_MAX / 2, MINUTE);
    assert_string_equal(hosts.top, "host-1");
    assert_int_equal(hosts.top_n, N);
    struct stat_sum images = stat_of(r, STORE_STAT_TOP_IMAGES_BY_EVENTS, 0, INT64_MAX / 2,
                                     MINUTE);
    assert_string_equal(images.top, "nginx:1.25");
    assert_int_equal(images.top_n, N / 2);

    struct store_net_query nq = {.since_ns = 0, .until_ns = INT64_MAX / 2};
    assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
    assert_int_equal(net, N / 2);
    net = 0;
    nq.hostname = "host-1";
    assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
    assert_int_equal(net, N / 2);
    net = 0;
    nq.hostname = "host-2";  /* no such host: nothing */
    assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
    assert_int_equal(net, 0);
    /* by container: its host's rows, one key seek per hour of the range */
    net = 0;
    nq = (struct store_net_query){.since_ns = 0, .until_ns = INT64_MAX / 2,
                                  .container_id = "ctr-1"};
    assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
    assert_int_equal(net, N / 2);
    /* a range through the middle counts the net events of its whole hours */
    for (int k = 0; k < 3; k++) {
        const char *host = k == 1 ? NULL : "host-1", *cid = k == 0 ? NULL : "ctr-1";
        int64_t since = (100000 + 700) * MINUTE + 7 * SEC, until = (100000 + 1500) * MINUTE;
        uint64_t want = 0;
        for (size_t i = 0; i < N; i += 2) {
            int64_t h = (100000 + (int64_t)i) / 60;  /* the event's hour */
            want += h >= (since / MINUTE) / 60 && h < (until / MINUTE + 59) / 60;
        }
        net = 0;
        nq = (struct store_net_query){.since_ns = since, .until_ns = until, .hostname = host,
                                      .container_id = cid};
        assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
        assert_int_equal(net, want);
        assert_true(want > 0 && want < N / 2);
    }
    /* Rollups count by the stored time, whatever the body's own says. */
    struct tev late = {.seq = N + 1, .time_ns = 5, .kind = 11, .container = "ctr-1"};
    size_t blen;
    uint8_t *body = pack_event(&late, &blen);
    Bulwark__V1__ContainerRef ref = BULWARK__V1__CONTAINER_REF__INIT;
    ref.id = "ctr-1";
    struct store_event se = {.seq = N + 1, .time_ns = 900000 * MINUTE, .kind = 11,
                             .severity = 2, .container = &ref, .body = body, .body_len = blen};
    struct store_batch sb = {.agent_id = "agent-a", .hostname = "host-1", .epoch = 1,
                             .recv_ns = 1000, .n = 1, .events = &se};
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_append(f->s, &sb, &ar), 0);
    assert_int_equal(store_commit(f->s), 0);
    free(body);
    net = 0;
    nq = (struct store_net_query){.since_ns = 900000 * MINUTE, .until_ns = 900001 * MINUTE};
    assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
    assert_int_equal(net, 1);
    assert_int_equal(stat_of(r, STORE_STAT_EVENTS, 0, MINUTE, MINUTE).total,
                     early.by_bucket[0]);
    /* ctr-1 seen on a second host (an exec, no net): many-hosted, its
     * container question reads the range's rows instead of one host's and
     * still finds every net event of it */
    struct tev other = {.seq = 1, .time_ns = 5 * MINUTE, .kind = 10, .container = "ctr-1"};
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_tevs(f->s, "agent-b", "host-2", 1, &other, 1, &ar), 0);
    assert_int_equal(store_commit(f->s), 0);
    net = 0;
    nq = (struct store_net_query){.since_ns = 0, .until_ns = INT64_MAX / 2,
                                  .container_id = "ctr-1"};
    assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
    assert_int_equal(net, N / 2 + 1);
    net = 0;
    nq.container_id = "ctr-2";  /* no such container: nothing */
    assert_int_equal(store_net_edges(r, &nq, on_net_row, &net), 0);
    assert_int_equal(net, 0);

    /* The same events again 30 s later (same minutes, a second epoch): the
     * upserts, sixteen keys a statement, meet their rows and add to them. */
    struct net_span sp0 = {0}, sp1 = {0};
    nq = (struct store_net_query){.since_ns = 0, .until_ns = 800000 * MINUTE};
    assert_int_equal(store_net_edges(r, &nq, on_net_span, &sp0), 0);
    assert_true(sp0.rows > 16);
    struct stat_sum before = stat_of(r, STORE_STAT_EVENTS, 0, 7 * MINUTE, MINUTE);
    for (size_t i = 0; i < N; i++)
        t[i].time_ns += 30 * SEC;
    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(append_tevs(f->s, "agent-a", "host-1", 2, t, N, &ar), 0);
    assert_int_equal(ar.stored, N);
    assert_int_equal(store_commit(f->s), 0);
    assert_int_equal(store_net_edges(r, &nq, on_net_span, &sp1), 0);
    assert_int_equal(sp1.rows, sp0.rows);
    assert_int_equal(sp1.n, 2 * sp0.n);
    assert_int_equal(sp1.sum_first, sp0.sum_first);
    assert_int_equal(sp1.sum_last, sp0.sum_last + (int64_t)sp0.rows * 30 * SEC);
    struct stat_sum again = stat_of(r, STORE_STAT_EVENTS, 0, 7 * MINUTE, MINUTE);
    for (int m = 0; m < 7; m++)
        assert_int_equal(again.by_bucket[m], before.by_bucket[m] + early.by_bucket[m]);
    /* N twice, the late event and agent-b's one */
    assert_int_equal(stat_of(r, STORE_STAT_EVENTS, 0, INT64_MAX / 2, MINUTE).total, 2 * N + 2);

    struct store_stats_query bad = {.since_ns = 5, .until_ns = 5, .bucket_ns = MINUTE};
    assert_int_equal(store_stats(r, STORE_STAT_EVENTS, &bad, on_stat, &all), BW_EINVAL);
    bad = (struct store_stats_query){.since_ns = 0, .until_ns = 5, .bucket_ns = SEC};
    assert_int_equal(store_stats(r, STORE_STAT_EVENTS, &bad, on_stat, &all), BW_EINVAL);
    store_reader_close(r);
    free(t);
}

/* Forwarding cursors: 0 before the first delivery, durable across
 * connections, per (destination, stream), never moving backwards. */
static void seen(struct fx *f, const char *agent, const char *host, bool holds, int64_t at)
{
    struct store_agent_info a = {.agent_id = agent, .hostname = host, .agent_version = "t",
                                 .seen_ns = at, .holds_hostname = holds};

    assert_int_equal(store_begin(f->s), 0);
    assert_int_equal(store_agent_seen(f->s, &a), 0);
    assert_int_equal(store_commit(f->s), 0);
}

/* Host name bindings survive a reopen: one name per agent, a rename frees
 * the old name, a flagged claim binds nothing. */
static void test_host_bindings(void **state)
{
    struct fx *f = *state;
    char got[256] = "";

    seen(f, "a1", "h1", true, 1);
    seen(f, "a2", "h1 (unverified, claimed by a2)", false, 2);
    seen(f, "a1", "h1", true, 3);   /* a reconnect changes nothing */
    seen(f, "a1", "h3", true, 4);   /* renamed: h1 is free again */
    seen(f, "a3", "h1", true, 5);
    fx_reopen(f);
    assert_int_equal(store_hostbind_each(f->s, collect_binding, got), 0);
    assert_string_equal(got, "h3=a1;h1=a3;");
}

static void test_forward_cursors(void **state)
{
    struct fx *f = *state;
    struct store_admin *a = NULL;
    char err[256] = "";
    int64_t v = -1;

    assert_int_equal(store_admin_open(&a, f->path, err, sizeof err), 0);
    assert_int_equal(store_forward_cursor_get(a, "syslog", "alerts", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(store_forward_cursor_put(a, "syslog", "alerts", 42, 1), 0);
    assert_int_equal(store_forward_cursor_put(a, "syslog", "events", 7, 1), 0);
    assert_int_equal(store_forward_cursor_put(a, "hec", "alerts", 3, 1), 0);
    /* a late, lower put (a batch delivered twice) leaves it where it is */
    assert_int_equal(store_forward_cursor_put(a, "syslog", "alerts", 40, 2), 0);
    assert_int_equal(store_forward_cursor_put(a, "syslog", "alerts", -1, 2), BW_EINVAL);
    assert_int_equal(store_forward_cursor_put(a, "", "alerts", 1, 2), BW_EINVAL);
    assert_int_equal(store_forward_cursor_get(a, "syslog", "", &v), BW_EINVAL);
    store_admin_close(a);
    a = NULL;

    assert_int_equal(store_admin_open(&a, f->path, err, sizeof err), 0);
    assert_int_equal(store_forward_cursor_get(a, "syslog", "alerts", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(store_forward_cursor_get(a, "syslog", "events", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(store_forward_cursor_get(a, "hec", "alerts", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(store_forward_cursor_get(a, "webhook", "alerts", &v), 0);
    assert_int_equal(v, 0);
    store_admin_close(a);
}

/* Enrollment tokens: redeemed while live, their uses counted, refused when
 * unknown, wrong, revoked, expired or used up (each refusal audited); agent
 * revocations read incrementally by rowid. */
static int on_revoked(const char *agent_id, void *ctx)
{
    char *seen = ctx;
    strcat(seen, agent_id);
    strcat(seen, ";");
    return 0;
}

static int count_audit(const struct store_audit_row *row, void *ctx)
{
    if (strncmp(row->action, "agent.enroll", 12) == 0)
        ++*(int *)ctx;
    return 0;
}

static void test_enroll_tokens(void **state)
{
    struct fx *f = *state;
    struct store_admin *a = NULL;
    struct store_enroll_token t = {.max_uses = 2, .created_ns = 100, .expires_ns = 1000};
    uint8_t wrong[STORE_TOKEN_HASH_LEN];
    char err[256] = "", why[256] = "", seen[256] = "";
    int64_t cursor = 0;
    int audited = 0;

    assert_int_equal(store_admin_open(&a, f->path, err, sizeof err), 0);
    snprintf(t.id, sizeof t.id, "00112233aabbccdd");
    snprintf(t.name, sizeof t.name, "fleet");
    memset(t.secret_hash, 7, sizeof t.secret_hash);
    memset(wrong, 8, sizeof wrong);
    assert_int_equal(store_enroll_token_add(a, &t, "test"), 0);
    assert_int_equal(store_enroll_token_add(a, &t, "test"), BW_EINVAL);  /* duplicate id */

    assert_int_equal(store_enroll_token_redeem(a, t.id, wrong, 200, "peer x", "a-1", why,
                                               sizeof why), BW_EAUTH);
    assert_string_equal(why, "enrollment token is not valid");
    assert_int_equal(store_enroll_token_redeem(a, "ffffffffffffffff", t.secret_hash, 200,
                                               "peer x", "a-1", why, sizeof why), BW_EAUTH);
    assert_int_equal(store_enroll_token_redeem(a, t.id, t.secret_hash, 200, "peer x", "a-1", why,
                                               sizeof why), 0);
    assert_int_equal(store_enroll_token_redeem(a, t.id, t.secret_hash, 1000, "peer x", "a-2",
                                               why, sizeof why), BW_EAUTH);
    assert_string_equal(why, "enrollment token has expired");
    assert_int_equal(store_enroll_token_redeem(a, t.id, t.secret_hash, 300, "peer x", "a-2", why,
                                               sizeof why), 0);
    assert_int_equal(store_enroll_token_redeem(a, t.id, t.secret_hash, 400, "peer x", "a-3", why,
                                               sizeof why), BW_EAUTH);
    assert_string_equal(why, "enrollment token is used up (2 of 2 uses)");
    assert_int_equal(store_enroll_token_revoke(a, t.id, 500, "test"), 0);
    assert_int_equal(store_enroll_token_revoke(a, "nope", 500, "test"), BW_ENOTFOUND);
    assert_int_equal(store_enroll_token_redeem(a, t.id, t.secret_hash, 600, "peer x", "a-3", why,
                                               sizeof why), BW_EAUTH);
    assert_string_equal(why, "enrollment token was revoked");
    assert_int_equal(store_audit_list(a, 0, 100, count_audit, &audited), 0);
    assert_int_equal(audited, 7);  /* 2 enrollments, 5 refusals */

    assert_int_equal(store_agent_revoke(a, "a-1", 700, "test"), 0);
    assert_int_equal(store_agent_revoke(a, "a-2", 700, "test"), 0);
    assert_int_equal(store_agent_revocations(a, &cursor, on_revoked, seen), 0);
    assert_string_equal(seen, "a-1;a-2;");
    assert_int_equal(store_agent_revoke(a, "a-1", 800, "test"), 0);  /* again: no new row */
    assert_int_equal(store_agent_revoke(a, "a-3", 800, "test"), 0);
    seen[0] = '\0';
    assert_int_equal(store_agent_revocations(a, &cursor, on_revoked, seen), 0);
    assert_string_equal(seen, "a-3;");
    store_admin_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_commit_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_restores_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epochs_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_match_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_early_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_sees_later_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_suppression, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_evidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_bounded_under_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_cursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enroll_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_bindings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
