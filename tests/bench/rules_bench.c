/* rules_bench.c - events/s per core through a ruleset (default: the
 * repository's rules/ directory) for a realistic mix of events. The events are
 * built in memory first; only rules_engine_eval() is timed, on one thread,
 * with the thread's CPU clock (so the figure is per core).
 *
 *   bench_rules [--events N] [--passes P] [RULES.yaml...]
 *
 * Mix (per 100 events): 35 exec, 30 net, 15 file, 15 resource, 3 config,
 * 1 vuln, 1 external; 200 containers over 20 images; a few events of each
 * kind raise alerts (shells from nginx, a privileged container...). */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/rules.h"

#define NCONT 200
#define NIMG 20

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
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
static void make_json(char *buf, size_t n, uint64_t i)
{
    static const char *const procs[] = {"python3", "node", "nginx", "java", "curl", "ls", "cat", "grep",
                                        "sh", "bash"};
    static const char *const dests[] = {"api.stripe.com", "db.internal", "redis.internal",
                                        "s3.amazonaws.com", "auth.example.com", "cdn.example.org"};
    static const int ports[] = {443, 5432, 6379, 443, 443, 80};
    static const char *const paths[] = {"/var/log/app.log", "/tmp/x", "/etc/hosts", "/srv/cache/a",
                                        "/usr/bin/python3", "/etc/passwd"};
    unsigned c = rnd(NCONT), img = c % NIMG, r = rnd(100), k = rnd(6);
    char cont[512];
    const char *p = procs[rnd(10)];
    int64_t t = 1714564800000000000LL + (int64_t)i * 1000000;

    snprintf(cont, sizeof cont,
             "\"container\":{\"id\":\"%064u\",\"name\":\"app-%u\",\"image\":\"registry.example.com/team/app%u:1.%u\","
             "\"image_digest\":\"sha256:%064u\",\"k8s_namespace\":\"ns%u\",\"k8s_pod\":\"pod-%u\"}",
             c, c, img, img, img, img % 5, c);
    if (r < 35) {
        snprintf(buf, n, "{\"kind\":\"exec\",\"time_ns\":%" PRId64 ",%s,\"process\":{\"pid\":%u,\"uid\":%u,"
                 "\"name\":\"%s\",\"exe\":\"/usr/bin/%s\",\"cmdline\":\"%s --port 8080 --workers 4\","
                 "\"parent_name\":\"%s\",\"user\":\"app\"},\"exec\":{\"cwd\":\"/srv\"}}",
                 t, cont, 1000 + rnd(30000), rnd(2) ? 1000 : 0, p, p, p, rnd(50) ? "runc" : "nginx");
    } else if (r < 65) {
        snprintf(buf, n, "{\"kind\":\"net\",\"time_ns\":%" PRId64 ",%s,\"process\":{\"pid\":77,\"name\":\"%s\"},"
                 "\"net\":{\"direction\":\"%s\",\"local_addr\":\"10.1.%u.%u\",\"local_port\":%u,"
                 "\"remote_addr\":\"52.1.%u.%u\",\"remote_port\":%d,\"remote_name\":\"%s\"}}",
                 t, cont, p, rnd(5) ? "outbound" : "inbound", c / 250, c % 250, 30000 + rnd(30000), k, k,
                 ports[k], dests[k]);
    } else if (r < 80) {
        snprintf(buf, n, "{\"kind\":\"file\",\"time_ns\":%" PRId64 ",%s,\"process\":{\"pid\":77,\"name\":\"%s\"},"
                 "\"file\":{\"op\":\"%s\",\"path\":\"%s\"}}",
                 t, cont, p, rnd(3) ? "open" : "write", paths[rnd(6)]);
    } else if (r < 95) {
        snprintf(buf, n, "{\"kind\":\"resource\",\"time_ns\":%" PRId64 ",%s,\"resource\":{\"cpu_cores\":%.3f,"
                 "\"memory_bytes\":%u,\"interval_ms\":10000,\"scope\":\"container\"}}",
                 t, cont, rnd(500) ? 0.2 + rnd(100) / 1000.0 : 3.5, 100000000 + rnd(1000000));
    } else if (r < 98) {
        snprintf(buf, n, "{\"kind\":\"config\",\"time_ns\":%" PRId64 ",%s,\"config\":{\"privileged\":%s,"
                 "\"user_uid\":%u,\"mounts\":[{\"source\":\"/data/%u\",\"target\":\"/data\"},"
                 "{\"source\":\"/etc/localtime\",\"target\":\"/etc/localtime\",\"read_only\":true}]}}",
                 t, cont, rnd(20) ? "false" : "true", rnd(3) ? 1000 : 0, c);
    } else if (r < 99) {
        snprintf(buf, n, "{\"kind\":\"vuln\",\"time_ns\":%" PRId64 ",%s,\"vuln\":{\"vuln_id\":\"CVE-2024-%u\","
                 "\"package\":\"openssl\",\"installed_version\":\"3.0.1\",\"fixed_version\":\"%s\","
                 "\"vuln_severity\":\"%s\",\"cvss_score\":7.5}}",
                 t, cont, rnd(9999), rnd(2) ? "3.0.14" : "", rnd(4) ? "HIGH" : "CRITICAL");
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

int main(int argc, char **argv)
{
    size_t nev = 500000, passes = 4, nfiles = 0;
    const char *files[64];
    Bulwark__V1__Event **evs;
    struct ruleset *rs = NULL;
    struct rules_engine *e;
    glob_t g = {0};
    uint64_t alerts = 0, evals = 0;
    size_t total, enabled;
    char buf[4096], err[256];
    double t0, dt;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            nev = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
            passes = strtoul(argv[++i], NULL, 10);
        else if (nfiles < 64)
            files[nfiles++] = argv[i];
    }
    if (nfiles == 0) {
        glob("rules/*.yaml", 0, NULL, &g);
        for (size_t i = 0; i < g.gl_pathc && nfiles < 64; i++)
            files[nfiles++] = g.gl_pathv[i];
    }
    if (nev == 0 || passes == 0 || nfiles == 0 || ruleset_load(&rs, files, nfiles, on_diag, NULL) < 0) {
        fprintf(stderr, "usage: bench_rules [--events N] [--passes P] [RULES.yaml...] (run from the repository)\n");
        return 2;
    }
    ruleset_counts(rs, &total, &enabled, NULL);
    evs = calloc(nev, sizeof *evs);
    if (!evs)
        return 1;
    for (size_t i = 0; i < nev; i++) {
        make_json(buf, sizeof buf, i);
        if (evjson_event_from_line(buf, strlen(buf), &evs[i], err, sizeof err) < 0) {
            fprintf(stderr, "bench_rules: bad event: %s\n%s\n", err, buf);
            return 1;
        }
    }
    e = rules_engine_new(rs);
    if (!e)
        return 1;
    t0 = cpu_seconds();
    for (size_t p = 0; p < passes; p++) {
        int64_t shift = (int64_t)p * (int64_t)nev * 1000000;  /* time keeps moving forward */

        for (size_t i = 0; i < nev; i++) {
            struct rules_event_meta m = {"bench-agent", "bench-host", 1, evals + 1};

            evs[i]->time_ns += shift;
            rules_engine_eval(e, evs[i], &m, on_alert, &alerts);
            evs[i]->time_ns -= shift;
            evals++;
        }
    }
    dt = cpu_seconds() - t0;
    printf("rules: %zu loaded, %zu enabled (%zu files)\n", total, enabled, nfiles);
    printf("events: %" PRIu64 " in %.3f s CPU (one thread)\n", evals, dt);
    printf("alerts: %" PRIu64 " (%.2f%% of events)\n", alerts, 100.0 * (double)alerts / (double)evals);
    printf("throughput: %.0f events/s per core\n", (double)evals / dt);
    rules_engine_free(e);
    for (size_t i = 0; i < nev; i++)
        evjson_event_free(evs[i]);
    free(evs);
    ruleset_free(rs);
    globfree(&g);
    return 0;
}
