/* test_spool.c - the durable spool: seqs are contiguous and never reused in
 * an epoch, survive reopen, reads honour their limits, acks trim (at once for
 * readers, on disk later, and a crash in between loses nothing and keeps the
 * file consistent), a full spool refuses and counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/spool.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);

    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/bw_spool_XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof fx->path, "%s/spool.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    static const char *const suffix[] = {"", "-wal", "-shm", "2", "2-wal", "2-shm"};
    char p[160];

    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", fx->path, suffix[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static struct spool *open_spool(const char *path, uint64_t max_events, uint64_t max_bytes)
{
    struct spool_options opt = {.path = path, .max_events = max_events, .max_bytes = max_bytes,
                                .sync_full = true};
    struct spool *s = NULL;
    char err[256] = "";
    int rc = spool_open(&s, &opt, err, sizeof err);

    if (rc != 0)
        print_error("spool_open: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

static Bulwark__V1__Event *make_event(int i)
{
    char line[256];
    Bulwark__V1__Event *ev = NULL;
    int n = snprintf(line, sizeof line,
                     "{\"kind\":\"exec\",\"time_ns\":%d,\"process\":{\"pid\":%d,\"cmdline\":\"cmd %d\"}}",
                     1000 + i, 100 + i, i);

    assert_int_equal(evjson_event_from_line(line, (size_t)n, &ev, NULL, 0), 0);
    return ev;
}

/* Appends n events numbered from first; returns how many were accepted. */
static size_t append_n(struct spool *s, int first, size_t n, uint64_t *seqs)
{
    Bulwark__V1__Event *evs[64];
    size_t accepted = 99;

    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        evs[i] = make_event(first + (int)i);
    assert_int_equal(spool_append(s, evs, n, &accepted), 0);
    for (size_t i = 0; i < n; i++) {
        if (seqs)
            seqs[i] = evs[i]->seq;
        evjson_event_free(evs[i]);
    }
    return accepted;
}

struct got {
    size_t n;
    uint64_t seq[64];
    int32_t pid[64];
    size_t stop_after;  /* 0 = never */
};

static int on_event(uint64_t seq, const uint8_t *data, size_t len, void *ctx)
{
    struct got *g = ctx;
    Bulwark__V1__Event *ev = bulwark__v1__event__unpack(NULL, len, data);

    assert_non_null(ev);
    assert_int_equal(ev->seq, seq);  /* the packed event carries its seq */
    assert_true(g->n < 64);
    g->seq[g->n] = seq;
    g->pid[g->n] = ev->process->pid;
    g->n++;
    bulwark__v1__event__free_unpacked(ev, NULL);
    return g->stop_after && g->n >= g->stop_after ? 1 : 0;
}

static void test_append_contiguous(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_spool(fx->path, 0, 0);
    struct spool_stats st;
    uint64_t seqs[8];

    {
        struct stat sb;

        assert_int_equal(stat(fx->path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);  /* events may hold secrets */
    }
    spool_get_stats(s, &st);
    assert_true(st.epoch != 0);
    assert_true(st.epoch <= INT64_MAX);
    assert_int_equal(st.last_seq, 0);
    assert_int_equal(st.depth, 0);

    assert_int_equal(append_n(s, 0, 5, seqs), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(seqs[i], i + 1);
    assert_int_equal(append_n(s, 5, 3, seqs), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(seqs[i], 6 + i);
    assert_int_equal(append_n(s, 0, 0, NULL), 0);

    spool_get_stats(s, &st);
    assert_int_equal(st.last_seq, 8);
    assert_int_equal(st.acked_seq, 0);
    assert_int_equal(st.depth, 8);
    assert_int_equal(st.dropped, 0);
    assert_true(st.bytes > 8 * 10);

    /* Across the 16-row insert: 37 = 16 + 16 + 5, each row its own event. */
    {
        struct got g = {0};

        assert_int_equal(append_n(s, 8, 37, NULL), 37);
        assert_int_equal(spool_read(s, 0, 64, 1 << 20, on_event, &g), 0);
        assert_int_equal(g.n, 45);
        for (size_t i = 0; i < g.n; i++) {
            assert_int_equal(g.seq[i], i + 1);
            assert_int_equal(g.pid[i], 100 + (int32_t)i);
        }
    }
    spool_close(s);
}

static void test_reopen_keeps_state(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_spool(fx->path, 0, 0);
    struct spool_stats before, after;
    uint64_t seqs[4];
    struct got g = {0};

    append_n(s, 0, 10, NULL);
    assert_int_equal(spool_ack(s, 4), 0);
    spool_get_stats(s, &before);
    spool_close(s);

    s = open_spool(fx->path, 0, 0);
    spool_get_stats(s, &after);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(after.last_seq, 10);
    assert_int_equal(after.acked_seq, 4);
    assert_int_equal(after.depth, 6);

    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.seq[0], 5);
    assert_int_equal(g.pid[0], 104);
    assert_int_equal(append_n(s, 10, 4, seqs), 4);
    assert_int_equal(seqs[0], 11);
    spool_close(s);
}

static void test_read_limits_and_order(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_spool(fx->path, 0, 0);
    struct spool_stats st;
    struct got g = {0};
    size_t one;

    append_n(s, 0, 10, NULL);
    spool_get_stats(s, &st);
    one = st.bytes / 10;  /* the test events have the same size */
    assert_int_equal(st.bytes, one * 10);

    assert_int_equal(spool_read(s, 0, 3, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(g.seq[i], i + 1);
        assert_int_equal(g.pid[i], 100 + (int)i);
    }

    memset(&g, 0, sizeof g);
    assert_int_equal(spool_read(s, 7, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.seq[0], 8);
    assert_int_equal(g.seq[2], 10);

    /* byte limit: exactly two fit; one byte less gives one */
    memset(&g, 0, sizeof g);
    assert_int_equal(spool_read(s, 0, 64, 2 * one, on_event, &g), 0);
    assert_int_equal(g.n, 2);
    memset(&g, 0, sizeof g);
    assert_int_equal(spool_read(s, 0, 64, 2 * one - 1, on_event, &g), 0);
    assert_int_equal(g.n, 1);
    /* at least one, even when it alone is over the limit */
    memset(&g, 0, sizeof g);
    assert_int_equal(spool_read(s, 4, 64, 1, on_event, &g), 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seq[0], 5);

    /* the callback can stop the read */
    memset(&g, 0, sizeof g);
    g.stop_after = 2;
    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 2);

    /* nothing after the end */
    memset(&g, 0, sizeof g);
    assert_int_equal(spool_read(s, 10, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 0);
    spool_close(s);
}

static void test_ack_never_reuses_seq(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_spool(fx->path, 0, 0);
    struct spool_stats st;
    struct got g = {0};
    uint64_t seqs[2], epoch;

    append_n(s, 0, 5, NULL);
    assert_int_equal(spool_ack(s, 2), 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.acked_seq, 2);
    assert_int_equal(st.depth, 3);
    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.seq[0], 3);

    /* backwards is a no-op; beyond last_seq is refused and deletes nothing */
    assert_int_equal(spool_ack(s, 1), 0);
    assert_int_equal(spool_ack(s, 6), BW_EINVAL);
    spool_get_stats(s, &st);
    assert_int_equal(st.acked_seq, 2);
    assert_int_equal(st.depth, 3);

    assert_int_equal(spool_ack(s, 5), 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.bytes, 0);
    epoch = st.epoch;
    spool_close(s);

    s = open_spool(fx->path, 0, 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.epoch, epoch);
    assert_int_equal(st.last_seq, 5);
    assert_int_equal(st.acked_seq, 5);
    assert_int_equal(append_n(s, 0, 2, seqs), 2);
    assert_int_equal(seqs[0], 6);
    assert_int_equal(seqs[1], 7);
    spool_close(s);
}

static void test_full_refuses_and_counts(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_spool(fx->path, 3, 0);
    struct spool_stats st;
    uint64_t seqs[5];

    assert_int_equal(append_n(s, 0, 5, seqs), 3);
    assert_int_equal(seqs[2], 3);
    assert_int_equal(seqs[3], 0);  /* refused events get no seq */
    assert_int_equal(append_n(s, 5, 1, NULL), 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.last_seq, 3);
    assert_int_equal(st.dropped, 3);
    spool_close(s);

    s = open_spool(fx->path, 3, 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.dropped, 3);
    /* an ack makes room again; what was spooled was never evicted */
    assert_int_equal(spool_ack(s, 1), 0);
    assert_int_equal(append_n(s, 6, 2, seqs), 1);
    assert_int_equal(seqs[0], 4);
    spool_get_stats(s, &st);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(st.depth, 3);
    spool_close(s);

    /* max_bytes: room for two events of this size */
    s = open_spool(fx->path, 0, 0);
    spool_get_stats(s, &st);
    {
        uint64_t one = st.bytes / st.depth;

        spool_ack(s, st.last_seq);
        spool_close(s);
        s = open_spool(fx->path, 0, 2 * one + one / 2);
        assert_int_equal(append_n(s, 0, 3, NULL), 2);
        spool_get_stats(s, &st);
        assert_int_equal(st.bytes, 2 * one);
        assert_int_equal(st.dropped, 5);
    }
    spool_close(s);
}

static void test_new_file_new_epoch(void **state)
{
    struct fixture *fx = *state;
    char other[160];
    struct spool *a = open_spool(fx->path, 0, 0), *b;
    struct spool_stats sa, sb;
    uint64_t seqs[1];

    snprintf(other, sizeof other, "%s2", fx->path);
    b = open_spool(other, 0, 0);
    append_n(a, 0, 3, NULL);
    assert_int_equal(append_n(b, 0, 1, seqs), 1);
    assert_int_equal(seqs[0], 1);
    spool_get_stats(a, &sa);
    spool_get_stats(b, &sb);
    assert_true(sa.epoch != 0 && sb.epoch != 0);
    assert_true(sa.epoch != sb.epoch);
    spool_close(a);
    spool_close(b);
}

/* Runs fn(path) in a child that ends with _exit() and no spool_close(): what
 * a crash leaves is what SQLite committed. */
static void in_crashing_child(const char *path, void (*fn)(const char *))
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        fn(path);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void few_acks_then_crash(const char *path)
{
    struct spool *s = open_spool(path, 0, 0);
    struct got g = {0};

    for (int i = 0; i < 3; i++)
        append_n(s, i * 20, 20, NULL);
    assert_int_equal(spool_ack(s, 30), 0);
    /* acked rows are gone for readers at once, trimmed on disk or not */
    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.seq[0], 31);
    append_n(s, 60, 1, NULL);  /* too few acked rows to delete with it */
    if (spool_ack(s, 61) != 0)
        _exit(1);
}

static void many_acks_then_crash(const char *path)
{
    struct spool *s = open_spool(path, 0, 0);

    for (int i = 0; i < 40; i++)
        append_n(s, i * 64, 64, NULL);          /* 2,560 events */
    assert_int_equal(spool_ack(s, 2500), 0);
    append_n(s, 2560, 1, NULL);                  /* the deletion rides on this commit */
}

static void test_deferred_trim_survives_crash(void **state)
{
    struct fixture *fx = *state;
    struct spool *s;
    struct spool_stats st;
    struct got g = {0};

    in_crashing_child(fx->path, few_acks_then_crash);
    /* the file is consistent (open checks rows against meta); every event is
     * still there, the acked ones too: the server's committed_seq, acked by
     * the shipper on connecting, is what keeps them from being sent again */
    s = open_spool(fx->path, 0, 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.last_seq, 61);
    assert_true(st.acked_seq <= 61);
    assert_int_equal(spool_ack(s, 30), 0);       /* as a Welcome would */
    spool_get_stats(s, &st);
    assert_int_equal(st.depth, 31);
    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 31);
    assert_int_equal(g.seq[0], 31);
    assert_int_equal(g.seq[30], 61);
    spool_close(s);
    teardown(state);
    setup(state);
    fx = *state;

    in_crashing_child(fx->path, many_acks_then_crash);
    s = open_spool(fx->path, 0, 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.last_seq, 2561);
    assert_int_equal(st.acked_seq, 2500);        /* persisted with that commit */
    assert_int_equal(st.depth, 61);
    memset(&g, 0, sizeof g);
    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 61);
    assert_int_equal(g.seq[0], 2501);
    spool_close(s);
}

static void test_open_errors(void **state)
{
    struct fixture *fx = *state;
    struct spool_options opt = {.path = fx->dir};  /* a directory */
    struct spool *s = NULL;
    char err[256] = "";

    assert_true(spool_open(&s, &opt, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "spool"));
}

/* Marks are stored with the events of their transaction, read back after a
 * reopen, replaced per key, and may be stored alone; a version 1 file is
 * upgraded in place with its events. */
static void test_marks(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_spool(fx->path, 0, 0);
    Bulwark__V1__Event *evs[2] = {make_event(1), make_event(2)};
    struct spool_mark m = {.key = "replay:/x", .v = {1, 2, 300, 4}};
    uint64_t v[SPOOL_MARK_VALUES] = {0};
    size_t accepted = 0;
    sqlite3_int64 ver = 0;

    assert_int_equal(spool_mark_get(s, "replay:/x", v), BW_ENOTFOUND);
    assert_int_equal(spool_append_marked(s, evs, 2, &m, 1, &accepted), 0);
    assert_int_equal(accepted, 2);
    m.v[2] = 400;
    assert_int_equal(spool_append_marked(s, NULL, 0, &m, 1, &accepted), 0);  /* alone */
    evjson_event_free(evs[0]);
    evjson_event_free(evs[1]);
    spool_close(s);

    /* back to version 1 (no marks table), as an older agent left it */
    {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "DROP TABLE marks; DROP TABLE quarantine;"
                                      "ALTER TABLE meta DROP COLUMN quarantined;"
                                      "ALTER TABLE meta DROP COLUMN machine;"
                                      "ALTER TABLE meta DROP COLUMN file_dev;"
                                      "ALTER TABLE meta DROP COLUMN file_ino;"
                                      "PRAGMA user_version = 1;", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    s = open_spool(fx->path, 0, 0);
    assert_int_equal(spool_mark_get(s, "replay:/x", v), BW_ENOTFOUND);
    assert_int_equal(append_n(s, 3, 1, NULL), 1);
    {
        struct spool_stats st;
        spool_get_stats(s, &st);
        assert_int_equal(st.last_seq, 3);  /* the events survived the upgrade */
    }
    assert_int_equal(spool_append_marked(s, NULL, 0, &m, 1, &accepted), 0);
    spool_close(s);
    s = open_spool(fx->path, 0, 0);
    assert_int_equal(spool_mark_get(s, "replay:/x", v), 0);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[2], 400);
    assert_int_equal(v[3], 4);
    spool_close(s);
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        ver = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(ver, 3);
}

static struct spool *open_as(const char *path, const char *machine)
{
    struct spool_options opt = {.path = path, .sync_full = true, .machine_id = machine};
    struct spool *s = NULL;
    char err[256] = "";

    if (spool_open(&s, &opt, err, sizeof err) != 0)
        print_error("spool_open: %s\n", err);
    assert_non_null(s);
    return s;
}

static void test_quarantine(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_spool(fx->path, 0, 0);
    Bulwark__V1__Event *standin = make_event(99);
    uint8_t packed[512];
    size_t len;
    struct spool_stats st;
    struct got g = {0};

    append_n(s, 0, 5, NULL);
    assert_int_equal(spool_ack(s, 1), 0);
    standin->seq = 3;
    len = bulwark__v1__event__pack(standin, packed);
    assert_int_equal(spool_quarantine(s, 1, "acked", packed, len), BW_EINVAL);
    assert_int_equal(spool_quarantine(s, 6, "never made", packed, len), BW_EINVAL);
    assert_int_equal(spool_quarantine(s, 3, "refused", packed, len), 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.quarantined, 1);
    assert_int_equal(st.depth, 4);  /* the stand-in keeps the seq */
    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.seq[1], 3);
    assert_int_equal(g.pid[1], 199);
    spool_close(s);
    s = open_spool(fx->path, 0, 0);
    spool_get_stats(s, &st);
    assert_int_equal(st.quarantined, 1);  /* persisted */
    spool_close(s);
    evjson_event_free(standin);
}

static void test_moved_spool_new_epoch(void **state)
{
    struct fixture *fx = *state;
    struct spool *s = open_as(fx->path, "m1");
    struct spool_stats st, st2;
    struct got g = {0};

    append_n(s, 0, 5, NULL);
    assert_int_equal(spool_ack(s, 2), 0);
    spool_get_stats(s, &st);
    spool_close(s);
    s = open_as(fx->path, "m1");  /* the same machine and file */
    spool_get_stats(s, &st2);
    assert_int_equal(st2.epoch, st.epoch);
    assert_int_equal(st2.last_seq, 5);
    spool_close(s);
    s = open_as(fx->path, "m2");  /* a clone */
    spool_get_stats(s, &st2);
    assert_int_not_equal(st2.epoch, st.epoch);
    assert_int_equal(st2.last_seq, 3);
    assert_int_equal(st2.acked_seq, 0);
    /* the unacked events, renumbered 1..3, each packed with its new seq */
    assert_int_equal(spool_read(s, 0, 64, SIZE_MAX, on_event, &g), 0);
    assert_int_equal(g.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(g.seq[i], i + 1);
        assert_int_equal(g.pid[i], 102 + (int)i);
    }
    append_n(s, 5, 1, NULL);
    spool_get_stats(s, &st);
    assert_int_equal(st.last_seq, 4);
    spool_close(s);
    s = open_as(fx->path, "m2");  /* settled: no second new epoch */
    spool_get_stats(s, &st);
    assert_int_equal(st.epoch, st2.epoch);
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_contiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_limits_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_never_reuses_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_refuses_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_file_new_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_trim_survives_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_spool_new_epoch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
