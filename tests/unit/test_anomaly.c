/* test_anomaly.c - the anomaly detectors: CPU spikes (warm-up, firing,
 * cooldown, floor, baseline not polluted by spikes, LRU bound, sustained
 * runs, start-up and restart bursts) and
 * first-seen values (learning period, fires once, bounded values and
 * groups), and their save/restore format (round trip, refusals). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "bulwark/anomaly.h"
#include "bulwark/err.h"

#define SEC 1000000000LL
#define MIN (60 * SEC)

static const struct anomaly_cpu_params cpu_defaults = {
    .alpha = 0.1, .k = 3, .floor = 0.5, .warmup = 12, .cooldown_ns = 10 * MIN,
    .max_keys = 100,
};

/* A noisy baseline around `level`: level +- 0.02, deterministic. */
static double wobble(double level, int i)
{
    static const double d[5] = {0.0, 0.02, -0.01, 0.015, -0.02};
    return level + d[i % 5];
}

static int feed(struct anomaly_cpu *d, const char *key, double level, int n, int64_t step,
                int64_t *t);

/* Feeds n baseline samples 30 s apart from *t; asserts none fires. */
static void feed_baseline(struct anomaly_cpu *d, const char *key, double level, int n,
                          int64_t *t)
{
    assert_int_equal(feed(d, key, level, n, 30 * SEC, t), 0);
}

static void test_cpu_warmup(void **state)
{
    struct anomaly_cpu *d = anomaly_cpu_new(&cpu_defaults);
    int64_t t = 1000 * SEC;
    assert_non_null(d);
    /* Eleven quiet samples, then a huge one: still warming up. */
    feed_baseline(d, "ctr-1", 0.2, 11, &t);
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 8.0, NULL), 0);
    anomaly_cpu_free(d);

    /* The same with twelve quiet samples first: it fires. */
    d = anomaly_cpu_new(&cpu_defaults);
    feed_baseline(d, "ctr-1", 0.2, 12, &t);
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 8.0, NULL), 1);
    anomaly_cpu_free(d);

    /* Bad parameters and arguments are refused. */
    struct anomaly_cpu_params bad = cpu_defaults;
    bad.alpha = 0;
    assert_null(anomaly_cpu_new(&bad));
    bad = cpu_defaults;
    bad.max_keys = 0;
    assert_null(anomaly_cpu_new(&bad));
    d = anomaly_cpu_new(&cpu_defaults);
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 0.0 / 0.0, NULL), BW_EINVAL);
    assert_int_equal(anomaly_cpu_observe(d, "", t, 1.0, NULL), BW_EINVAL);
    anomaly_cpu_free(d);
    anomaly_cpu_free(NULL);
}

static void test_cpu_spike_and_cooldown(void **state)
{
    struct anomaly_cpu *d = anomaly_cpu_new(&cpu_defaults);
    struct anomaly_cpu_result r = {0};
    int64_t t = 1000 * SEC;

    feed_baseline(d, "ctr-1", 0.2, 40, &t);
    feed_baseline(d, "ctr-2", 0.3, 40, &t);
    /* A spike: fires, and reports the baseline it was judged against. */
    int64_t fired_at = t;
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 1.9, &r), 1);
    assert_true(r.mean > 0.18 && r.mean < 0.22);
    assert_true(r.sigma > 0.005 && r.sigma < 0.03);
    /* A sustained miner: high every 30 s, silent during the cooldown... */
    for (t += 30 * SEC; t < fired_at + 10 * MIN; t += 30 * SEC)
        assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 1.9, NULL), 0);
    /* ...and still high against the pre-spike baseline when it ends. */
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 1.9, &r), 1);
    assert_true(r.mean > 0.18 && r.mean < 0.22);
    /* Cooldown is per key: the other container fires at once. */
    assert_int_equal(anomaly_cpu_observe(d, "ctr-2", t, 2.5, NULL), 1);
    /* An old sample (replayed spool) near a firing does not fire again. */
    assert_int_equal(anomaly_cpu_observe(d, "ctr-2", t - 1 * MIN, 2.5, NULL), 0);
    /* Normal samples during the cooldown are still learned and quiet. */
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t + 30 * SEC, 0.21, NULL), 0);
    anomaly_cpu_free(d);
}

static void test_cpu_floor(void **state)
{
    struct anomaly_cpu *d = anomaly_cpu_new(&cpu_defaults);
    int64_t t = 0;
    /* An idle container: 0.01 +- tiny. 0.4 is many sigmas up, but under
     * the 0.5-core floor: not worth an alert. 0.6 is over both. */
    for (int i = 0; i < 30; i++, t += 30 * SEC)
        assert_int_equal(anomaly_cpu_observe(d, "idle", t, 0.01 + (i % 2) * 0.001, NULL), 0);
    assert_int_equal(anomaly_cpu_observe(d, "idle", t, 0.4, NULL), 0);
    assert_int_equal(anomaly_cpu_observe(d, "idle", t + 30 * SEC, 0.6, NULL), 1);
    /* A busy but steady container over the floor: within k sigma, quiet. */
    for (int i = 0; i < 30; i++, t += 30 * SEC)
        assert_int_equal(anomaly_cpu_observe(d, "busy", t, i % 2 ? 3.0 : 2.0, NULL), 0);
    assert_int_equal(anomaly_cpu_observe(d, "busy", t, 3.1, NULL), 0);
    anomaly_cpu_free(d);
}

static void test_cpu_lru_bound(void **state)
{
    struct anomaly_cpu_params p = cpu_defaults;
    char key[32];
    int64_t t = 0;
    p.max_keys = 4;
    struct anomaly_cpu *d = anomaly_cpu_new(&p);

    for (int k = 0; k < 4; k++) {
        snprintf(key, sizeof key, "ctr-%d", k);
        feed_baseline(d, key, 0.2, 20, &t);
    }
    /* Touch ctr-0 so ctr-1 is now the least recently used; a fifth key
     * evicts it. */
    feed_baseline(d, "ctr-0", 0.2, 1, &t);
    feed_baseline(d, "ctr-4", 0.2, 20, &t);
    /* ctr-1 was forgotten: it is warming up again and cannot fire. */
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 5.0, NULL), 0);
    /* ctr-0 kept its baseline (ctr-2 was evicted by ctr-1 coming back). */
    assert_int_equal(anomaly_cpu_observe(d, "ctr-0", t, 5.0, NULL), 1);
    assert_int_equal(anomaly_cpu_observe(d, "ctr-2", t, 5.0, NULL), 0);

    /* The state never holds more than max_keys keys: many keys, small blob. */
    for (int k = 0; k < 1000; k++) {
        snprintf(key, sizeof key, "many-%d", k);
        assert_int_equal(anomaly_cpu_observe(d, key, t, 0.1, NULL), 0);
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(anomaly_cpu_save(d, &b), 0);
    assert_true(buf_size(&b) < 4 * 112 + 64);
    buf_release(&b);
    anomaly_cpu_free(d);
}


/* The defaults of the shipped rule (rules/cryptomining.yaml): 4 high
 * samples over 20 s, a minute of start-up grace, the restart gap learned. */
static const struct anomaly_cpu_params cpu_rule = {
    .alpha = 0.1, .k = 3, .floor = 0.5, .warmup = 12, .cooldown_ns = 10 * MIN,
    .max_keys = 100, .sustain = 4, .sustain_ns = 20 * SEC, .grace_ns = 1 * MIN,
};

/* Feeds n samples of `level` every `step` from *t; returns how many fired. */
static int feed(struct anomaly_cpu *d, const char *key, double level, int n, int64_t step,
                int64_t *t)
{
    int fired = 0;
    for (int i = 0; i < n; i++, *t += step) {
        int rc = anomaly_cpu_observe(d, key, *t, wobble(level, i), NULL);
        assert_true(rc == 0 || rc == 1);
        fired += rc;
    }
    return fired;
}

/* One step of a story: n samples of `level` for key, `step` apart, after a
 * silence of `pause`; `fires` is how many of them must fire. */
struct story {
    const char *key;
    double level;
    int n;
    int64_t step, pause;
    int fires;
};

static void play(struct anomaly_cpu *d, const struct story *s, size_t n, int64_t *t)
{
    for (size_t i = 0; i < n; i++) {
        *t += s[i].pause;
        assert_int_equal(feed(d, s[i].key, s[i].level, s[i].n, s[i].step, t), s[i].fires);
    }
}

/* Plays a story on a new detector with params p. */
static void play_new(const struct anomaly_cpu_params *p, const struct story *s, size_t n)
{
    struct anomaly_cpu *d = anomaly_cpu_new(p);
    int64_t t = 1000 * SEC;
    assert_non_null(d);
    play(d, s, n, &t);
    anomaly_cpu_free(d);
}

static void test_cpu_sustained(void **state)
{
    static const struct story s[] = {
        {"ctr-1", 0.2, 24, 5 * SEC, 0, 0},
        /* One high sample, then three in a row: shorter than sustain. */
        {"ctr-1", 3.0, 1, 5 * SEC, 0, 0},
        {"ctr-1", 0.2, 2, 5 * SEC, 0, 0},
        {"ctr-1", 3.0, 3, 5 * SEC, 0, 0},
        {"ctr-1", 0.2, 2, 5 * SEC, 0, 0},
        /* Four in a row 5 s apart span 15 s < 20 s: the fifth fires. */
        {"ctr-1", 3.0, 4, 5 * SEC, 0, 0},
        {"ctr-1", 3.0, 1, 5 * SEC, 0, 1},
        /* Four samples a minute apart span enough (a slower agent). */
        {"ctr-2", 0.2, 24, 60 * SEC, 5 * SEC, 0},
        {"ctr-2", 3.0, 3, 60 * SEC, 0, 0},
        {"ctr-2", 3.0, 1, 60 * SEC, 0, 1},
    };
    play_new(&cpu_rule, s, sizeof s / sizeof *s);
}

static void test_cpu_restart_bursts(void **state)
{
    static const struct story s[] = {
        /* A new container: its first minute (a start-up burst) neither
         * fires nor enters the baseline, then it learns a quiet baseline. */
        {"ctr-1", 3.5, 12, 5 * SEC, 0, 0},
        {"ctr-1", 0.2, 24, 5 * SEC, 0, 0},
        /* It restarts: no samples for 40 s (three times its 5 s interval
         * is the limit), then 55 s of burst at 17 sigmas of the baseline. */
        {"ctr-1", 3.5, 12, 5 * SEC, 35 * SEC, 0},
        {"ctr-1", 0.2, 12, 5 * SEC, 0, 0},
        /* Restarts in a row (a crash loop) stay quiet too. */
        {"ctr-1", 3.5, 6, 5 * SEC, 30 * SEC, 0},
        {"ctr-1", 3.5, 6, 5 * SEC, 30 * SEC, 0},
        {"ctr-1", 3.5, 6, 5 * SEC, 30 * SEC, 0},
        {"ctr-1", 0.2, 12, 5 * SEC, 0, 0},
        /* The baseline survived: a miner a while later fires. */
        {"ctr-1", 3.5, 5, 5 * SEC, 0, 1},
        /* The new container of a deployment, same image: a new key, quiet. */
        {"ctr-2", 3.5, 12, 5 * SEC, 0, 0},
        {"ctr-2", 0.2, 12, 5 * SEC, 0, 0},
    };
    play_new(&cpu_rule, s, sizeof s / sizeof *s);

    /* A fixed restart gap: with 30 s samples and restart_gap 2m, a 90 s gap
     * is no restart (the burst after it fires), a 3 min gap is one. */
    struct anomaly_cpu_params p = cpu_rule;
    p.restart_gap_ns = 2 * MIN;
    static const struct story fixed[] = {
        {"ctr-3", 0.2, 24, 30 * SEC, 0, 0},
        {"ctr-3", 3.5, 2, 30 * SEC, 3 * MIN, 0},
        {"ctr-3", 0.2, 4, 30 * SEC, 0, 0},
        {"ctr-3", 3.5, 4, 30 * SEC, 60 * SEC, 1},
    };
    play_new(&p, fixed, sizeof fixed / sizeof *fixed);
}

/* The run and the grace survive a save/restore; a version 1 blob (before
 * them) still restores, its keys starting a grace. */
static void test_cpu_run_saved(void **state)
{
    struct anomaly_cpu *a = anomaly_cpu_new(&cpu_rule), *b = anomaly_cpu_new(&cpu_rule);
    struct buf sa;
    int64_t t = 1000 * SEC;
    assert_non_null(a);
    assert_non_null(b);
    buf_init(&sa, 1 << 20);
    assert_int_equal(feed(a, "ctr-1", 0.2, 24, 5 * SEC, &t), 0);
    assert_int_equal(feed(a, "ctr-1", 3.0, 3, 5 * SEC, &t), 0);
    assert_int_equal(anomaly_cpu_save(a, &sa), 0);
    assert_int_equal(anomaly_cpu_restore(b, buf_head(&sa), buf_size(&sa)), 0);
    /* the fourth high sample, 20 s after the first, completes the run */
    assert_int_equal(anomaly_cpu_observe(b, "ctr-1", t + 5 * SEC, 3.0, NULL), 1);
    t += 10 * SEC;

    /* Version 1: magic, version, count 1, key, n, fired, mean, var, last_fire. */
    static const uint8_t v1[] = {
        'B', 'W', 'A', 'C', 1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 'c', 't', 'r', '-', '9',
        20, 0, 0, 0, 0, 0, 0, 0,
        0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xc9, 0x3f,  /* mean 0.2 */
        0x2d, 0x43, 0x1c, 0xeb, 0xe2, 0x36, 0x1a, 0x3f,  /* var 1e-4 */
        0, 0, 0, 0, 0, 0, 0, 0};
    struct buf blob;
    buf_init(&blob, 4096);
    assert_int_equal(buf_append(&blob, v1, sizeof v1), 0);
    uint64_t h = anomaly_blob_checksum(buf_head(&blob), buf_size(&blob));
    uint8_t hb[8];
    for (int i = 0; i < 8; i++)
        hb[i] = (uint8_t)(h >> (8 * i));
    assert_int_equal(buf_append(&blob, hb, 8), 0);
    assert_int_equal(anomaly_cpu_restore(b, buf_head(&blob), buf_size(&blob)), 0);
    /* its baseline is kept (0.2), but its first minute is grace */
    assert_int_equal(feed(b, "ctr-9", 3.0, 12, 5 * SEC, &t), 0);
    assert_int_equal(feed(b, "ctr-9", 3.0, 5, 5 * SEC, &t), 1);
    buf_release(&blob);
    buf_release(&sa);
    anomaly_cpu_free(a);
    anomaly_cpu_free(b);
}

static const struct anomaly_firstseen_params fs_defaults = {
    .learning_ns = 24 * 60 * MIN, .max_groups = 100, .max_values = 1024,
};

static void test_firstseen_learning(void **state)
{
    struct anomaly_firstseen *d = anomaly_firstseen_new(&fs_defaults);
    const int64_t day = 24 * 60 * MIN, t0 = 1000 * day;
    assert_non_null(d);

    /* Learning: everything is silent, and learned. */
    assert_int_equal(anomaly_firstseen_observe(d, "sha256:aa", "10.0.0.1:443", t0), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "sha256:aa", "10.0.0.2:443", t0 + day / 2), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "sha256:aa", "10.0.0.3:443", t0 + day - 1), 0);
    /* A group seen for the first time later has its own learning period. */
    assert_int_equal(anomaly_firstseen_observe(d, "sha256:bb", "10.0.0.1:443", t0 + day), 0);
    /* After learning: known values are quiet, a new one fires once. */
    assert_int_equal(anomaly_firstseen_observe(d, "sha256:aa", "10.0.0.2:443", t0 + day), 0);
    assert_int_equal(
        anomaly_firstseen_observe(d, "sha256:aa", "pool.minexmr.com:4444", t0 + day), 1);
    assert_int_equal(
        anomaly_firstseen_observe(d, "sha256:aa", "pool.minexmr.com:4444", t0 + day + 1), 0);
    /* The later group is still learning. */
    assert_int_equal(
        anomaly_firstseen_observe(d, "sha256:bb", "pool.minexmr.com:4444", t0 + day + 1), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "sha256:bb", "x:1", t0 + 2 * day), 1);
    assert_int_equal(anomaly_firstseen_observe(d, "", "x:1", t0), BW_EINVAL);
    anomaly_firstseen_free(d);
    anomaly_firstseen_free(NULL);
}

static void test_firstseen_bounds(void **state)
{
    struct anomaly_firstseen_params p = {.learning_ns = 0, .max_groups = 2, .max_values = 4};
    struct anomaly_firstseen *d = anomaly_firstseen_new(&p);
    char v[16];

    /* Values: 4 kept. Learn v0..v3, keep using v0, then v4 and v5 arrive:
     * the oldest values not used again (v1, v2) are forgotten first. */
    for (int i = 0; i < 4; i++) {
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(anomaly_firstseen_observe(d, "g", v, 10), 1);
    }
    assert_int_equal(anomaly_firstseen_observe(d, "g", "v0", 11), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "g", "v4", 12), 1);
    assert_int_equal(anomaly_firstseen_observe(d, "g", "v5", 12), 1);
    assert_int_equal(anomaly_firstseen_observe(d, "g", "v0", 13), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "g", "v3", 13), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "g", "v1", 14), 1);  /* forgotten */

    /* Groups: 2 kept; a third evicts the least recently used, which then
     * learns again from scratch (it cannot fire during its new learning). */
    p.learning_ns = 100;
    anomaly_firstseen_free(d);
    d = anomaly_firstseen_new(&p);
    assert_int_equal(anomaly_firstseen_observe(d, "g1", "a", 0), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "g2", "a", 0), 0);
    assert_int_equal(anomaly_firstseen_observe(d, "g3", "a", 500), 0);   /* evicts g1 */
    assert_int_equal(anomaly_firstseen_observe(d, "g2", "b", 500), 1);
    assert_int_equal(anomaly_firstseen_observe(d, "g1", "b", 550), 0);   /* learning again */
    assert_int_equal(anomaly_firstseen_observe(d, "g1", "c", 650), 1);
    anomaly_firstseen_free(d);

    /* Stress the value index through many evictions: a value just seen is
     * always found again, and the state never holds a value twice (restore
     * refuses a blob with duplicates). */
    p = (struct anomaly_firstseen_params){.learning_ns = 0, .max_groups = 1, .max_values = 64};
    d = anomaly_firstseen_new(&p);
    uint32_t rnd = 99;
    for (int i = 0; i < 20000; i++) {
        rnd = rnd * 1103515245u + 12345u;
        snprintf(v, sizeof v, "%u", (rnd >> 16) % 300);
        assert_true(anomaly_firstseen_observe(d, "g", v, i) >= 0);
        assert_int_equal(anomaly_firstseen_observe(d, "g", v, i), 0);
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(anomaly_firstseen_save(d, &b), 0);
    assert_int_equal(anomaly_firstseen_restore(d, buf_head(&b), buf_size(&b)), 0);
    buf_release(&b);
    anomaly_firstseen_free(d);
}

/* Saves d's state into a fresh buffer. */
static void save_cpu(const struct anomaly_cpu *d, struct buf *b)
{
    buf_init(b, 1 << 24);
    assert_int_equal(anomaly_cpu_save(d, b), 0);
}

static void save_fs(const struct anomaly_firstseen *d, struct buf *b)
{
    buf_init(b, 1 << 24);
    assert_int_equal(anomaly_firstseen_save(d, b), 0);
}

static bool buf_equal(const struct buf *a, const struct buf *b)
{
    return buf_size(a) == buf_size(b) && memcmp(buf_head(a), buf_head(b), buf_size(a)) == 0;
}

static void test_save_restore_round_trip(void **state)
{
    struct anomaly_cpu_params cp = cpu_defaults;
    cp.max_keys = 8;
    cp.warmup = 4;
    struct anomaly_cpu *a = anomaly_cpu_new(&cp), *b = anomaly_cpu_new(&cp);
    struct anomaly_firstseen_params fp = {.learning_ns = 200, .max_groups = 4, .max_values = 8};
    struct anomaly_firstseen *fa = anomaly_firstseen_new(&fp), *fb = anomaly_firstseen_new(&fp);
    uint32_t rnd = 7;
    char key[32], val[32];
#define RND() (rnd = rnd * 1103515245u + 12345u, (rnd >> 16) & 0x7fff)

    /* Build some state: 9 keys over an 8-key LRU, spikes and cooldowns;
     * 5 groups over 4, 14 values over 8 per group. */
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof key, "k%u", RND() % 9);
        double v = RND() % 20 == 0 ? 4.0 : 0.2 + (RND() % 10) / 100.0;
        assert_true(anomaly_cpu_observe(a, key, (int64_t)i * 30 * SEC, v, NULL) >= 0);
        snprintf(key, sizeof key, "g%u", RND() % 5);
        snprintf(val, sizeof val, "v%u", RND() % 14);
        assert_true(anomaly_firstseen_observe(fa, key, val, (int64_t)i * 10) >= 0);
    }
    struct buf sa, sb, fsa, fsb;
    save_cpu(a, &sa);
    save_fs(fa, &fsa);
    assert_int_equal(anomaly_cpu_restore(b, buf_head(&sa), buf_size(&sa)), 0);
    assert_int_equal(anomaly_firstseen_restore(fb, buf_head(&fsa), buf_size(&fsa)), 0);
    /* The restored state saves to the same bytes... */
    save_cpu(b, &sb);
    save_fs(fb, &fsb);
    assert_true(buf_equal(&sa, &sb));
    assert_true(buf_equal(&fsa, &fsb));
    /* ...and behaves the same from here on, firing included. */
    int cpu_fired = 0, fs_fired = 0;
    for (int i = 600; i < 1200; i++) {
        snprintf(key, sizeof key, "k%u", RND() % 9);
        double v = RND() % 20 == 0 ? 4.0 : 0.2 + (RND() % 10) / 100.0;
        struct anomaly_cpu_result ra, rb;
        int x = anomaly_cpu_observe(a, key, (int64_t)i * 30 * SEC, v, &ra);
        assert_int_equal(anomaly_cpu_observe(b, key, (int64_t)i * 30 * SEC, v, &rb), x);
        if (x == 1) {
            cpu_fired++;
            assert_true(ra.mean == rb.mean && ra.sigma == rb.sigma);
        }
        snprintf(key, sizeof key, "g%u", RND() % 5);
        snprintf(val, sizeof val, "v%u", RND() % 14);
        x = anomaly_firstseen_observe(fa, key, val, (int64_t)i * 10);
        assert_int_equal(anomaly_firstseen_observe(fb, key, val, (int64_t)i * 10), x);
        fs_fired += x == 1;
    }
#undef RND
    assert_true(cpu_fired > 0);
    assert_true(fs_fired > 0);

    /* Restoring into smaller bounds keeps the most recent keys. */
    cp.max_keys = 2;
    struct anomaly_cpu *small = anomaly_cpu_new(&cp);
    assert_int_equal(anomaly_cpu_restore(small, buf_head(&sa), buf_size(&sa)), 0);
    anomaly_cpu_free(small);
    fp.max_groups = 1;
    fp.max_values = 2;
    struct anomaly_firstseen *fsmall = anomaly_firstseen_new(&fp);
    assert_int_equal(anomaly_firstseen_restore(fsmall, buf_head(&fsa), buf_size(&fsa)), 0);
    anomaly_firstseen_free(fsmall);

    buf_release(&sa);
    buf_release(&sb);
    buf_release(&fsa);
    buf_release(&fsb);
    anomaly_cpu_free(a);
    anomaly_cpu_free(b);
    anomaly_firstseen_free(fa);
    anomaly_firstseen_free(fb);
}

static void test_corrupt_blob_refused(void **state)
{
    struct anomaly_cpu *d = anomaly_cpu_new(&cpu_defaults);
    struct anomaly_firstseen *f = anomaly_firstseen_new(&fs_defaults);
    struct buf good, fgood, after;
    int64_t t = 0;

    feed_baseline(d, "ctr-1", 0.2, 20, &t);
    feed_baseline(d, "ctr-2", 0.2, 20, &t);
    assert_int_equal(anomaly_firstseen_observe(f, "g", "v", 0), 0);
    save_cpu(d, &good);
    save_fs(f, &fgood);
    uint8_t copy[4096];
    assert_true(buf_size(&good) <= sizeof copy);

    /* Every truncation, and every single flipped byte, is refused. */
    for (size_t n = 0; n < buf_size(&good); n++)
        assert_int_equal(anomaly_cpu_restore(d, buf_head(&good), n), BW_EINVAL);
    for (size_t i = 0; i < buf_size(&good); i++) {
        memcpy(copy, buf_head(&good), buf_size(&good));
        copy[i] ^= 0x20;
        assert_int_equal(anomaly_cpu_restore(d, copy, buf_size(&good)), BW_EINVAL);
    }
    for (size_t n = 0; n < buf_size(&fgood); n++)
        assert_int_equal(anomaly_firstseen_restore(f, buf_head(&fgood), n), BW_EINVAL);
    /* Foreign blobs: the other detector's, trailing junk, plain text. */
    assert_int_equal(anomaly_cpu_restore(d, buf_head(&fgood), buf_size(&fgood)), BW_EINVAL);
    assert_int_equal(anomaly_firstseen_restore(f, buf_head(&good), buf_size(&good)), BW_EINVAL);
    memcpy(copy, buf_head(&good), buf_size(&good));
    copy[buf_size(&good)] = 0;
    assert_int_equal(anomaly_cpu_restore(d, copy, buf_size(&good) + 1), BW_EINVAL);
    const char *text = "hello, this is not a detector state at all";
    assert_int_equal(anomaly_cpu_restore(d, (const uint8_t *)text, strlen(text)), BW_EINVAL);
    assert_int_equal(anomaly_cpu_restore(d, NULL, 0), BW_EINVAL);

    /* The state is unchanged by all of that: same bytes, same behaviour. */
    save_cpu(d, &after);
    assert_true(buf_equal(&good, &after));
    assert_int_equal(anomaly_cpu_observe(d, "ctr-1", t, 5.0, NULL), 1);
    buf_release(&after);
    save_fs(f, &after);
    assert_true(buf_equal(&fgood, &after));

    /* A save into a buffer too small fails and leaves it as it was. */
    struct buf tiny;
    buf_init(&tiny, 8);
    assert_int_equal(buf_append(&tiny, "ab", 2), 0);
    assert_int_equal(anomaly_cpu_save(d, &tiny), BW_ETOOBIG);
    assert_int_equal(buf_size(&tiny), 2);
    buf_release(&tiny);

    buf_release(&after);
    buf_release(&good);
    buf_release(&fgood);
    anomaly_cpu_free(d);
    anomaly_firstseen_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_warmup),
        cmocka_unit_test(test_cpu_spike_and_cooldown),
        cmocka_unit_test(test_cpu_floor),
        cmocka_unit_test(test_cpu_lru_bound),
        cmocka_unit_test(test_cpu_sustained),
        cmocka_unit_test(test_cpu_restart_bursts),
        cmocka_unit_test(test_cpu_run_saved),
        cmocka_unit_test(test_firstseen_learning),
        cmocka_unit_test(test_firstseen_bounds),
        cmocka_unit_test(test_save_restore_round_trip),
        cmocka_unit_test(test_corrupt_blob_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
