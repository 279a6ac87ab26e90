/* test_sources.c - the synthetic source (deterministic, every kind, rate and
 * count limits, well-formed events) and the replay source (valid lines kept,
 * malformed ones counted, logged with file:line, skipped). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/source.h"

#define T0 1700000000000000000LL
#define BATCH 256

static struct source *synth(double rate, uint64_t count, uint64_t seed)
{
    struct synthetic_options opt = {.rate = rate, .count = count, .hostname = "node-a", .seed = seed};
    struct source *s = source_synthetic_new(&opt);

    assert_non_null(s);
    return s;
}

static uint8_t *pack(const Bulwark__V1__Event *ev, size_t *len)
{
    uint8_t *p;

    *len = bulwark__v1__event__get_packed_size(ev);
    p = malloc(*len + 1);
    assert_non_null(p);
    assert_int_equal(bulwark__v1__event__pack(ev, p), *len);
    return p;
}

static void free_events(Bulwark__V1__Event **evs, int n)
{
    for (int i = 0; i < n; i++)
        evjson_event_free(evs[i]);
}

static void test_synthetic_deterministic(void **state)
{
    struct source *a = synth(0, 0, 42), *b = synth(0, 0, 42), *c = synth(0, 0, 43);
    Bulwark__V1__Event *ea[BATCH], *eb[BATCH], *ec[BATCH];
    bool done = true;
    size_t differ = 0;

    for (int round = 0; round < 4; round++) {
        int64_t now = T0 + round * 1000000LL;
        int na = a->produce(a, now, ea, BATCH, &done), nb = b->produce(b, now, eb, BATCH, &done);
        int nc = c->produce(c, now, ec, BATCH, &done);

        assert_false(done);
        assert_int_equal(na, BATCH);
        assert_int_equal(nb, BATCH);
        assert_int_equal(nc, BATCH);
        for (int i = 0; i < BATCH; i++) {
            size_t la, lb, lc;
            uint8_t *pa = pack(ea[i], &la), *pb = pack(eb[i], &lb), *pc = pack(ec[i], &lc);

            assert_int_equal(la, lb);
            assert_memory_equal(pa, pb, la);
            differ += la != lc || memcmp(pa, pc, la) != 0;
            free(pa);
            free(pb);
            free(pc);
        }
        free_events(ea, na);
        free_events(eb, nb);
        free_events(ec, nc);
    }
    assert_true(differ > 4 * BATCH * 9 / 10);  /* another seed, other events */
    source_free(a);
    source_free(b);
    source_free(c);
}

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* 10k events: every kind, plausible fields, and each one survives the JSON
 * round trip (so it is within evjson's bounds). */
static void test_synthetic_mix(void **state)
{
    struct source *s = synth(0, 0, 7);
    Bulwark__V1__Event *evs[BATCH];
    unsigned kinds[17] = {0};
    size_t total_bytes = 0, total = 0, port3333 = 0, ipv6 = 0;
    bool done;

    while (total < 10000) {
        int64_t now = T0 + (int64_t)total;
        int n = s->produce(s, now, evs, BATCH, &done);

        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
            Bulwark__V1__Event *ev = evs[i], *back = NULL;
            json_t *j = evjson_event_to_json(ev);
            char err[256] = "";
            size_t l1, l2;
            uint8_t *p1, *p2;

            assert_int_equal(ev->time_ns, now);
            assert_true(ev->body_case >= BULWARK__V1__EVENT__BODY_EXEC &&
                        ev->body_case <= BULWARK__V1__EVENT__BODY_EXTERNAL);
            assert_non_null(ev->exec);
            kinds[ev->body_case]++;
            assert_true(ev->severity != BULWARK__V1__SEVERITY__SEVERITY_UNSPECIFIED);
            if (ev->container) {
                assert_true(is_hex(ev->container->id, 64));
                if (ev->body_case == BULWARK__V1__EVENT__BODY_CONFIG ||
                    ev->body_case == BULWARK__V1__EVENT__BODY_VULN) {
                    assert_true(strncmp(ev->container->image_digest, "sha256:", 7) == 0);
                    assert_true(is_hex(ev->container->image_digest + 7, 64));
                }
                assert_true(ev->container->image[0] != '\0');
            } else {
                assert_true(ev->body_case == BULWARK__V1__EVENT__BODY_RESOURCE ||
                            ev->body_case == BULWARK__V1__EVENT__BODY_VULN);
            }
            if (ev->process) {
                assert_true(ev->process->pid > 0);
                assert_true(ev->process->exe[0] == '/');
                assert_true(ev->process->cmdline[0] != '\0');
            }
            if (ev->body_case == BULWARK__V1__EVENT__BODY_NET) {
                assert_true(ev->net->remote_port > 0 && ev->net->remote_port < 65536);
                port3333 += ev->net->remote_port == 3333;
                ipv6 += strchr(ev->net->remote_addr, ':') != NULL;
            }
            if (ev->body_case == BULWARK__V1__EVENT__BODY_RESOURCE &&
                strcmp(ev->resource->scope, "container") == 0)
                assert_true(ev->resource->cpu_cores >= 0.01 && ev->resource->cpu_cores <= 0.9);

            assert_non_null(j);
            assert_int_equal(evjson_event_from_json(j, &back, err, sizeof err), 0);
            p1 = pack(ev, &l1);
            p2 = pack(back, &l2);
            assert_int_equal(l1, l2);
            assert_memory_equal(p1, p2, l1);
            total_bytes += l1;
            free(p1);
            free(p2);
            json_decref(j);
            evjson_event_free(back);
            total++;
        }
        free_events(evs, n);
    }
    for (int k = BULWARK__V1__EVENT__BODY_EXEC; k <= BULWARK__V1__EVENT__BODY_EXTERNAL; k++)
        assert_true(kinds[k] > 0);
    /* mostly exec/net/resource; few config/vuln/external */
    assert_true(kinds[BULWARK__V1__EVENT__BODY_NET] > 2000);
    assert_true(kinds[BULWARK__V1__EVENT__BODY_EXEC] > 2000);
    assert_true(kinds[BULWARK__V1__EVENT__BODY_RESOURCE] > 2000);
    assert_true(kinds[BULWARK__V1__EVENT__BODY_EXTERNAL] < 300);
    assert_true(port3333 > 0 && port3333 < kinds[BULWARK__V1__EVENT__BODY_NET] / 20);
    assert_true(ipv6 > 0);
    print_message("synthetic: %zu events, %zu bytes packed on average\n", total, total_bytes / total);
    assert_true(total_bytes / total >= 150 && total_bytes / total <= 300);
    source_free(s);
}

static void test_synthetic_rate(void **state)
{
    struct source *s = synth(100, 0, 1);
    Bulwark__V1__Event *evs[BATCH];
    int64_t now = T0;
    size_t total = 0;
    bool done;
    int n;

    /* one simulated second, polled every 10 ms */
    for (int i = 0; i <= 100; i++, now += 10000000LL) {
        n = s->produce(s, now, evs, BATCH, &done);
        assert_true(n >= 0);
        total += (size_t)n;
        free_events(evs, n);
    }
    assert_true(total >= 95 && total <= 105);

    /* a stalled loop gets at most one second's worth, not a burst */
    now += 60LL * 1000000000LL;
    n = s->produce(s, now, evs, BATCH, &done);
    assert_true(n >= 95 && n <= 101);
    free_events(evs, n);
    /* and the same instant again gives nothing */
    n = s->produce(s, now, evs, BATCH, &done);
    assert_int_equal(n, 0);
    assert_false(done);
    source_free(s);
}

static void test_synthetic_count(void **state)
{
    struct source *s = synth(0, 250, 3);
    Bulwark__V1__Event *evs[100];
    bool done = true;
    int n;

    n = s->produce(s, T0, evs, 100, &done);
    assert_int_equal(n, 100);
    assert_false(done);
    free_events(evs, n);
    n = s->produce(s, T0, evs, 100, &done);
    assert_int_equal(n, 100);
    assert_false(done);
    free_events(evs, n);
    n = s->produce(s, T0, evs, 100, &done);
    assert_int_equal(n, 50);
    assert_true(done);
    free_events(evs, n);
    done = false;
    n = s->produce(s, T0, evs, 100, &done);
    assert_int_equal(n, 0);
    assert_true(done);
    source_free(s);

    struct synthetic_options bad = {.scenario = "no-such-scenario"};
    assert_null(source_synthetic_new(&bad));
}

/* Pooled events are the very same events (same bytes for the same seed), stay
 * valid while more are made, and the memory is reused once all are back. */
static void test_synthetic_pooled(void **state)
{
    struct synthetic_options opt = {.hostname = "node-a", .seed = 11, .pooled = true};
    struct source *heap = synth(0, 0, 11), *pool = source_synthetic_new(&opt);
    Bulwark__V1__Event *eh[2][BATCH], *ep[2][BATCH];
    bool done;

    assert_non_null(pool);
    assert_non_null(pool->release);
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 2; k++) {  /* two batches out at once */
            int64_t now = T0 + (round * 2 + k) * 1000000LL;

            assert_int_equal(heap->produce(heap, now, eh[k], BATCH, &done), BATCH);
            assert_int_equal(pool->produce(pool, now, ep[k], BATCH, &done), BATCH);
        }
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < BATCH; i++) {
                size_t lh, lp;
                uint8_t *ph = pack(eh[k][i], &lh), *pp = pack(ep[k][i], &lp);
                json_t *j = evjson_event_to_json(ep[k][i]);

                assert_non_null(j);
                json_decref(j);
                assert_int_equal(lh, lp);
                assert_memory_equal(ph, pp, lh);
                free(ph);
                free(pp);
                source_release(heap, eh[k][i]);
                source_release(pool, ep[k][i]);
            }
        }
    }
    source_free(heap);
    source_free(pool);
}

/* With a rate, one call's events are spread over the time since the last call,
 * increasing, the last one at now. */
static void test_synthetic_rate_spreads_times(void **state)
{
    struct source *s = synth(1000, 0, 5);
    Bulwark__V1__Event *evs[BATCH];
    int64_t t1 = T0 + 250000000LL;
    bool done;
    int n;

    assert_int_equal(s->produce(s, T0, evs, BATCH, &done), 1);  /* the first token */
    assert_int_equal(evs[0]->time_ns, T0);
    free_events(evs, 1);
    n = s->produce(s, t1, evs, BATCH, &done);
    assert_true(n >= 249 && n <= 251);
    for (int i = 0; i < n; i++) {
        assert_true(evs[i]->time_ns > T0 && evs[i]->time_ns <= t1);
        if (i > 0)
            assert_true(evs[i]->time_ns > evs[i - 1]->time_ns);
    }
    assert_int_equal(evs[n - 1]->time_ns, t1);
    assert_true(evs[0]->time_ns - T0 < 2000000);  /* about 1 ms after the last call */
    free_events(evs, n);
    source_free(s);
}

/* ---------------------------------------------------------------- replay */

struct tmpfile {
    char dir[64];
    char path[128];
    char log[128];
};

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 65536);

    assert_non_null(f);
    assert_non_null(buf);
    assert_true(fread(buf, 1, 65535, f) < 65535);
    fclose(f);
    return buf;
}

static size_t count_substr(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_replay(void **state)
{
    struct tmpfile t;
    static const char text[] =
        "{\"kind\":\"exec\",\"time_ns\":5,\"process\":{\"pid\":1}}\n"  /* 1 */
        "\n"                                                           /* 2: blank */
        "{\"kind\":\"net\",\"net\":{\"remote_port\":\"x\"}}\n"         /* 3: bad field */
        "{\"kind\":\"file\",\"file\":{\"path\":\"/etc/passwd\"}}\n"    /* 4: no time */
        "this is not json\n"                                           /* 5 */
        "{\"kind\":\"vuln\",\"time\":\"2024-05-01T12:00:00Z\"}\n"      /* 6 */
        "{\"kind\":\"resource\",\"time_ns\":9,\"resource\":{\"cpu_cores\":0.5}}"; /* 7: no newline */
    Bulwark__V1__Event *evs[8];
    char err[256] = "", *log;
    struct source *s;
    int saved, fd, n, total = 0;
    bool done = false;
    char buf[192];

    snprintf(t.dir, sizeof t.dir, "/tmp/bw_replay_XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    snprintf(t.path, sizeof t.path, "%s/events.ndjson", t.dir);
    snprintf(t.log, sizeof t.log, "%s/stderr.log", t.dir);
    write_file(t.path, text, sizeof text - 1);

    s = source_replay_new(t.path, err, sizeof err);
    assert_non_null(s);

    /* capture the log to check what a user sees */
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    fd = open(t.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);

    n = s->produce(s, T0, evs, 2, &done);  /* max is honoured */
    assert_int_equal(n, 2);
    assert_false(done);
    assert_int_equal(evs[0]->body_case, BULWARK__V1__EVENT__BODY_EXEC);
    assert_int_equal(evs[0]->time_ns, 5);
    assert_int_equal(evs[1]->body_case, BULWARK__V1__EVENT__BODY_FILE);
    assert_int_equal(evs[1]->time_ns, T0);  /* missing time -> now */
    free_events(evs, n);
    total += n;
    while (!done) {
        n = s->produce(s, T0 + 1, evs, 8, &done);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            if (evs[i]->body_case == BULWARK__V1__EVENT__BODY_VULN)
                assert_int_equal(evs[i]->time_ns, 1714564800000000000LL);
            if (evs[i]->body_case == BULWARK__V1__EVENT__BODY_RESOURCE)
                assert_true(evs[i]->resource->cpu_cores == 0.5);
        }
        free_events(evs, n);
        total += n;
    }
    assert_int_equal(total, 4);
    n = s->produce(s, T0 + 2, evs, 8, &done);
    assert_int_equal(n, 0);
    assert_true(done);
    source_free(s);

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    log = read_all(t.log);
    snprintf(buf, sizeof buf, "%s:3: ", t.path);
    assert_int_equal(count_substr(log, buf), 1);
    assert_non_null(strstr(log, "net.remote_port"));
    snprintf(buf, sizeof buf, "%s:5: ", t.path);
    assert_int_equal(count_substr(log, buf), 1);
    assert_int_equal(count_substr(log, "skipped malformed line:"), 2);
    assert_non_null(strstr(log, "4 events, 2 malformed lines skipped"));
    free(log);

    assert_null(source_replay_new("/nonexistent/bw/none.ndjson", err, sizeof err));
    assert_non_null(strstr(err, "none.ndjson"));

    unlink(t.path);
    unlink(t.log);
    rmdir(t.dir);
}

/* An overlong line is skipped as malformed without holding the rest back. */
static void test_replay_long_line(void **state)
{
    char dir[64], path[128], err[256];
    size_t big = 1024 * 1024 + 10;
    char *text = malloc(big + 200);
    Bulwark__V1__Event *evs[4];
    struct source *s;
    size_t len = 0;
    bool done = false;
    int n, total = 0;

    assert_non_null(text);
    snprintf(dir, sizeof dir, "/tmp/bw_replay_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/long.ndjson", dir);
    memset(text, ' ', big);
    text[0] = '{';
    len = big;
    text[len++] = '\n';
    memcpy(text + len, "{\"kind\":\"exec\"}\n", 16);
    len += 16;
    write_file(path, text, len);
    free(text);

    s = source_replay_new(path, err, sizeof err);
    assert_non_null(s);
    while (!done) {
        n = s->produce(s, T0, evs, 4, &done);
        assert_true(n >= 0);
        free_events(evs, n);
        total += n;
    }
    assert_int_equal(total, 1);
    source_free(s);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_deterministic),
        cmocka_unit_test(test_synthetic_mix),
        cmocka_unit_test(test_synthetic_rate),
        cmocka_unit_test(test_synthetic_count),
        cmocka_unit_test(test_synthetic_pooled),
        cmocka_unit_test(test_synthetic_rate_spreads_times),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_replay_long_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
