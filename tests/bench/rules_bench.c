/* rules_bench.c - events/s per core through a ruleset (default: the
 * repository's rules/ directory) for a realistic mix of events, timed with
 * the thread's CPU clock on one thread (so the figure is per core). Only
 * rules_engine_eval() is timed.
 *
 *   bench_rules [--events N] [--passes P] [--cold] [RULES.yaml...]
 *
 * Default (production-like): the events are packed to protobuf at setup, in
 * batches of BENCH_BATCH as agents send them; each pass decodes each batch
 * into a fresh arena (untimed: the clock is read around the evaluation
 * only) and evaluates it right away, as bulwarkd does (server/conn.c decodes
 * a frame into one arena, server/rulestage.c evaluates its events next), so
 * the events are contiguous and cache-warm. --cold: the old way, every event
 * decoded once at setup with the default heap allocator and walked pass
 * after pass (hundreds of MB: each event is a cache miss). Both modes see
 * the same events in the same order and must raise the same alerts.
 *
 * Mix (per 100 events): 35 exec, 30 net, 15 file, 15 resource, 3 config,
 * 1 vuln, 1 external; 200 containers over 20 images; a few events of each
 * kind raise alerts (shells from nginx, a privileged container...). */
#include <glob.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/arena.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/evjson.h"
#include "bulwark/rules.h"

#define NCONT 200
#define NIMG 20
#define BENCH_BATCH 1024  /* events per batch: the agent's default batch_events */

static uint32_t rnd(uint64_t *rng, uint32_t n)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return (uint32_t)(*rng % n);
}

static void on_diag(void *ctx, const char *file, unsigned line, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s:%u: %s\n", file ? file : "-", line, msg);
}

static void on_alert(void *ctx, const struct rules_alert *a)
{
    (void)a;
    ++*(uint64_t *)ctx;
}

/* One event of the mix as evjson text. */
static void make_json(uint64_t *rng, char *buf, size_t n, uint64_t i)
{
    static const char *const procs[] = {"python3", "node", "nginx", "java", "curl", "ls", "cat", "grep",
                                        "sh", "bash"};
    static const char *const dests[] = {"api.stripe.com", "db.internal", "redis.internal",
                                        "s3.amazonaws.com", "auth.example.com", "cdn.example.org"};
    static const int ports[] = {443, 5432, 6379, 443, 443, 80};
    static const char *const paths[] = {"/var/log/app.log", "/tmp/x", "/etc/hosts", "/srv/cache/a",
                                        "/usr/bin/python3", "/etc/passwd"};
    unsigned c = rnd(rng, NCONT), img = c % NIMG, r = rnd(rng, 100), k = rnd(rng, 6);
    char cont[512];
    const char *p = procs[rnd(rng, 10)];
    int64_t t = 1714564800000000000LL + (int64_t)i * 1000000;

    snprintf(cont, sizeof cont,
             "\"container\":{\"id\":\"%064u\",\"name\":\"app-%u\",\"image\":\"registry.example.com/team/app%u:1.%u\","
             "\"image_digest\":\"sha256:%064u\",\"k8s_namespace\":\"ns%u\",\"k8s_pod\":\"pod-%u\"}",
             c, c, img, img, img, img % 5, c);
    if (r < 35) {
        snprintf(buf, n, "{\"kind\":\"exec\",\"time_ns\":%" PRId64 ",%s,\"process\":{\"pid\":%u,\"uid\":%u,"
                 "\"name\":\"%s\",\"exe\":\"/usr/bin/%s\",\"cmdline\":\"%s --port 8080 --workers 4\","
                 "\"parent_name\":\"%s\",\"user\":\"app\"},\"exec\":{\"cwd\":\"/srv\"}}",
                 t, cont, 1000 + rnd(rng, 30000), rnd(rng, 2) ? 1000 : 0, p, p, p, rnd(rng, 50) ? "runc" : "nginx");
    } else if (r < 65) {
        snprintf(buf, n, "{\"kind\":\"net\",\"time_ns\":%" PRId64 ",%s,\"process\":{\"pid\":77,\"name\":\"%s\"},"
                 "\"net\":{\"direction\":\"%s\",\"local_addr\":\"10.1.%u.%u\",\"local_port\":%u,"
                 "\"remote_addr\":\"52.1.%u.%u\",\"remote_port\":%d,\"remote_name\":\"%s\"}}",
                 t, cont, p, rnd(rng, 5) ? "outbound" : "inbound", c / 250, c % 250, 30000 + rnd(rng, 30000), k, k,
                 ports[k], dests[k]);
    } else if (r < 80) {
        snprintf(buf, n, "{\"kind\":\"file\",\"time_ns\":%" PRId64 ",%s,\"process\":{\"pid\":77,\"name\":\"%s\"},"
                 "\"file\":{\"op\":\"%s\",\"path\":\"%s\"}}",
                 t, cont, p, rnd(rng, 3) ? "open" : "write", paths[rnd(rng, 6)]);
    } else if (r < 95) {
        snprintf(buf, n, "{\"kind\":\"resource\",\"time_ns\":%" PRId64 ",%s,\"resource\":{\"cpu_cores\":%.3f,"
                 "\"memory_bytes\":%u,\"interval_ms\":10000,\"scope\":\"container\"}}",
                 t, cont, rnd(rng, 500) ? 0.2 + rnd(rng, 100) / 1000.0 : 3.5, 100000000 + rnd(rng, 1000000));
    } else if (r < 98) {
        snprintf(buf, n, "{\"kind\":\"config\",\"time_ns\":%" PRId64 ",%s,\"config\":{\"privileged\":%s,"
                 "\"user_uid\":%u,\"mounts\":[{\"source\":\"/data/%u\",\"target\":\"/data\"},"
                 "{\"source\":\"/etc/localtime\",\"target\":\"/etc/localtime\",\"read_only\":true}]}}",
                 t, cont, rnd(rng, 20) ? "false" : "true", rnd(rng, 3) ? 1000 : 0, c);
    } else if (r < 99) {
        snprintf(buf, n, "{\"kind\":\"vuln\",\"time_ns\":%" PRId64 ",%s,\"vuln\":{\"vuln_id\":\"CVE-2024-%u\","
                 "\"package\":\"openssl\",\"installed_version\":\"3.0.1\",\"fixed_version\":\"%s\","
                 "\"vuln_severity\":\"%s\",\"cvss_score\":7.5}}",
                 t, cont, rnd(rng, 9999), rnd(rng, 2) ? "3.0.14" : "", rnd(rng, 4) ? "HIGH" : "CRITICAL");
    } else {
        snprintf(buf, n, "{\"kind\":\"external\",\"time_ns\":%" PRId64 ",%s,\"external\":{\"source\":\"falco\","
                 "\"rule\":\"Terminal shell in container\",\"priority\":\"Notice\",\"output\":\"shell\"}}",
                 t, cont);
    }
}

static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The events, in the form the mode evaluates them from. */
struct events {
    size_t n;
    Bulwark__V1__Event **heap;   /* --cold: n decoded events */
    uint8_t *packed;             /* production-like: batches back to back */
    size_t *boff;                /* nbatch + 1 offsets into packed */
    size_t nbatch;
};

static void events_release(struct events *evs)
{
    for (size_t i = 0; evs->heap && i < evs->n; i++)
        evjson_event_free(evs->heap[i]);
    free(evs->heap);
    free(evs->packed);
    free(evs->boff);
    memset(evs, 0, sizeof *evs);
}

/* Packs events[0..n) as one Batch appended to evs->packed (cap grows). */
static int pack_batch(struct events *evs, size_t *cap, Bulwark__V1__Event **events, size_t n)
{
    Bulwark__V1__Batch b = BULWARK__V1__BATCH__INIT;
    size_t used = evs->boff[evs->nbatch], len;

    b.epoch = 1;
    b.events = events;
    b.n_events = n;
    len = bulwark__v1__batch__get_packed_size(&b);
    while (used + len > *cap) {
        uint8_t *q = realloc(evs->packed, *cap * 2);

        if (!q)
            return BW_ENOMEM;
        evs->packed = q;
        *cap *= 2;
    }
    bulwark__v1__batch__pack(&b, evs->packed + used);
    evs->boff[++evs->nbatch] = used + len;
    return 0;
}

/* Makes the n events of the mix: decoded on the heap (cold) or packed in
 * batches. 0 or a negative bw_err (a message printed). */
static int events_init(struct events *evs, size_t n, bool cold)
{
    Bulwark__V1__Event *batch[BENCH_BATCH];
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t cap = 1 << 20, nb = 0;
    char buf[4096], err[256];
    int rc = BW_ENOMEM;

    memset(evs, 0, sizeof *evs);
    evs->n = n;
    if (cold)
        evs->heap = calloc(n, sizeof *evs->heap);
    else if ((evs->packed = malloc(cap)))
        evs->boff = calloc(n / BENCH_BATCH + 2, sizeof *evs->boff);
    if (cold ? !evs->heap : !evs->boff)
        goto out;
    for (size_t i = 0; i < n; i++) {
        Bulwark__V1__Event *ev;

        make_json(&rng, buf, sizeof buf, i);
        if ((rc = evjson_event_from_line(buf, strlen(buf), &ev, err, sizeof err)) < 0) {
            fprintf(stderr, "bench_rules: bad event: %s\n%s\n", err, buf);
            goto out;
        }
        if (cold) {
            evs->heap[i] = ev;
            continue;
        }
        batch[nb++] = ev;
        if (nb == BENCH_BATCH || i + 1 == n) {
            rc = pack_batch(evs, &cap, batch, nb);
            while (nb)
                evjson_event_free(batch[--nb]);
            if (rc < 0)
                goto out;
        }
    }
    return 0;
out:
    while (nb)
        evjson_event_free(batch[--nb]);
    events_release(evs);
    return rc;
}

struct run {
    struct rules_engine *e;
    uint64_t alerts, evals;
    double cpu;                  /* seconds spent in rules_engine_eval loops */
};

/* Evaluates n events, each shifted by shift ns (time keeps moving forward
 * from pass to pass); only this is timed. */
static void run_events(struct run *r, Bulwark__V1__Event *const *events, size_t n, int64_t shift)
{
    double t0 = cpu_seconds();

    for (size_t i = 0; i < n; i++) {
        struct rules_event_meta m = {"bench-agent", "bench-host", 1, r->evals + 1};

        events[i]->time_ns += shift;
        rules_engine_eval(r->e, events[i], &m, on_alert, &r->alerts);
        events[i]->time_ns -= shift;
        r->evals++;
    }
    r->cpu += cpu_seconds() - t0;
}

/* One pass over the packed batches: decode into an arena (untimed), evaluate. */
static int run_packed(struct run *r, const struct events *evs, int64_t shift)
{
    for (size_t b = 0; b < evs->nbatch; b++) {
        size_t len = evs->boff[b + 1] - evs->boff[b];
        struct arena *ar = arena_new(FRAME_ARENA_SIZE(len));  /* as server/conn.c */
        ProtobufCAllocator pa;
        Bulwark__V1__Batch *batch;

        if (!ar)
            return BW_ENOMEM;
        pa = arena_pb_allocator(ar);
        batch = bulwark__v1__batch__unpack(&pa, len, evs->packed + evs->boff[b]);
        if (!batch) {
            arena_free(ar);
            return BW_EPROTO;
        }
        run_events(r, batch->events, batch->n_events, shift);
        arena_free(ar);
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t nev = 500000, passes = 4, nfiles = 0, total, enabled;
    const char *files[64];
    struct ruleset *rs = NULL;
    struct events evs;
    struct run r = {0};
    glob_t g = {0};
    bool cold = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            nev = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
            passes = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--cold") == 0)
            cold = true;
        else if (nfiles < 64)
            files[nfiles++] = argv[i];
    }
    if (nfiles == 0) {
        glob("rules/*.yaml", 0, NULL, &g);
        for (size_t i = 0; i < g.gl_pathc && nfiles < 64; i++)
            files[nfiles++] = g.gl_pathv[i];
    }
    if (nev == 0 || passes == 0 || nfiles == 0 || ruleset_load(&rs, files, nfiles, on_diag, NULL) < 0) {
        fprintf(stderr, "usage: bench_rules [--events N] [--passes P] [--cold] [RULES.yaml...] "
                        "(run from the repository)\n");
        return 2;
    }
    ruleset_counts(rs, &total, &enabled, NULL);
    if (events_init(&evs, nev, cold) < 0 || !(r.e = rules_engine_new(rs)))
        return 1;
    for (size_t p = 0; p < passes; p++) {
        int64_t shift = (int64_t)p * (int64_t)nev * 1000000;

        if (cold) {
            run_events(&r, evs.heap, evs.n, shift);
        } else if (run_packed(&r, &evs, shift) < 0) {
            fprintf(stderr, "bench_rules: cannot decode a batch\n");
            return 1;
        }
    }
    printf("rules: %zu loaded, %zu enabled (%zu files)\n", total, enabled, nfiles);
    printf("mode: %s\n", cold ? "cold (events decoded once on the heap, walked each pass)"
                              : "production-like (batches of 1024 decoded into an arena, untimed)");
    printf("events: %" PRIu64 " in %.3f s CPU (one thread)\n", r.evals, r.cpu);
    printf("alerts: %" PRIu64 " (%.2f%% of events)\n", r.alerts, 100.0 * (double)r.alerts / (double)r.evals);
    printf("throughput: %.0f events/s per core\n", (double)r.evals / r.cpu);
    rules_engine_free(r.e);
    events_release(&evs);
    ruleset_free(rs);
    globfree(&g);
    return 0;
}
