/* scenario.c - scripted synthetic scenarios: a finite, timed story in one
 * container, for demos and end-to-end tests of the rules.
 *
 *  miner:  a web container with a quiet CPU baseline (learned a day before,
 *          with its usual upstream) drops a miner: the miner starts with a
 *          stratum URL, connects to a pool on a mining port, and CPU climbs
 *          to two cores. The default rules answer with a miner process, a
 *          pool connection, a new outbound destination, a CPU spike and,
 *          correlating the last two, probable cryptojacking.
 *  benign: the same container on a normal day: a maintenance job, its usual
 *          upstream, CPU within its baseline. The default rules stay silent.
 *
 * Event times are laid out relative to the moment the source is created
 * (the learning traffic 26 hours earlier, the story in the last minutes),
 * so the rules, which judge by event time, see the whole story at once. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"
#include "bulwark/source.h"

#define SCN_MAX 64
#define SEC INT64_C(1000000000)

struct scenario {
    struct source base;
    Bulwark__V1__Event *evs[SCN_MAX];
    size_t n, next;
    bool oom;
};

static const char *const scn_cid =
    "5c0ffee1d00d5eed5a1e0fa11ba5eba11fee1deadbeefcafe0123456789abcd0";
static const char *const scn_digest =
    "sha256:9f2c6d2b7f0e4a8c1d3b5e7f9a1c3e5d7b9f1a3c5e7d9b1f3a5c7e9d1b3f5a7c";

static json_t *scn_container(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", scn_cid, "name",
                     "web-frontend", "image", "registry.example.com/shop/web:2.3.1",
                     "image_digest", scn_digest, "runtime", "containerd", "k8s_namespace",
                     "shop", "k8s_pod", "web-frontend-7d9f8c-x2x7q");
}

static json_t *scn_process(int pid, int ppid, const char *name, const char *exe,
                           const char *cmdline, const char *parent)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:s}", "pid", pid, "ppid", ppid,
                     "uid", 1000, "gid", 1000, "user", "app", "name", name, "exe", exe,
                     "cmdline", cmdline, "parent_name", parent);
}

/* Takes ownership of obj (adds the container and the time). */
static void scn_add(struct scenario *s, json_t *obj, int64_t t)
{
    char err[256];
    Bulwark__V1__Event *ev = NULL;

    if (!obj || s->n == SCN_MAX) {
        s->oom = true;
        json_decref(obj);
        return;
    }
    json_object_set_new(obj, "time_ns", json_integer(t));
    json_object_set_new(obj, "container", scn_container());
    if (evjson_event_from_json(obj, &ev, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "scenario", "internal event does not build: %s", err);
        s->oom = true;
    } else {
        s->evs[s->n++] = ev;
    }
    json_decref(obj);
}

static void scn_resource(struct scenario *s, int64_t t, double cpu)
{
    scn_add(s,
            json_pack("{s:s, s:s, s:{s:f, s:I, s:I, s:i, s:s}}", "kind", "resource", "severity",
                      "info", "resource", "cpu_cores", cpu, "memory_bytes",
                      (json_int_t)(180u << 20), "memory_limit_bytes", (json_int_t)(512u << 20),
                      "interval_ms", 5000, "scope", "container"),
            t);
}

static void scn_net(struct scenario *s, int64_t t, json_t *proc, const char *addr, int port,
                    const char *name)
{
    scn_add(s,
            json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:i, s:s, s:i, s:s}}", "kind", "net",
                      "severity", "info", "process", proc, "net", "direction", "outbound",
                      "protocol", "tcp", "local_addr", "10.244.1.17", "local_port", 41022,
                      "remote_addr", addr, "remote_port", port, "remote_name", name),
            t);
}

static json_t *scn_app(void)
{
    return scn_process(4101, 1, "gunicorn", "/usr/local/bin/gunicorn",
                       "gunicorn app:app -b 0.0.0.0:8080 --workers 2", "containerd-shim");
}

static void scn_build(struct scenario *s, bool miner, int64_t now)
{
    int64_t t0 = now - 26 * 3600 * SEC;   /* the image is first seen: learning starts */
    int64_t t1 = now - 10 * 60 * SEC;     /* the CPU baseline */
    int64_t t2 = t1 + 24 * 5 * SEC;       /* the story */

    scn_net(s, t0, scn_app(), "10.0.4.12", 443, "api.payments.internal");
    for (int i = 0; i < 24; i++)
        scn_resource(s, t1 + i * 5 * SEC, 0.08 + ((i % 5) - 2) * 0.004);
    if (miner) {
        const char *cmd = "/tmp/.cache/kworkerd -o stratum+tcp://pool.supportxmr.com:3333 "
                          "-u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSs -k "
                          "--donate-level 1";
        json_t *miner_proc = scn_process(4388, 4101, "kworkerd", "/tmp/.cache/kworkerd", cmd,
                                         "gunicorn");
        scn_add(s,
                json_pack("{s:s, s:s, s:O, s:{s:s}}", "kind", "exec", "severity", "info",
                          "process", miner_proc, "exec", "cwd", "/tmp"),
                t2);
        scn_net(s, t2 + 2 * SEC, miner_proc, "198.51.100.7", 3333, "pool.supportxmr.com");
        for (int i = 1; i <= 6; i++)
            scn_resource(s, t2 + i * 5 * SEC, 1.92 + i * 0.01);
    } else {
        scn_add(s,
                json_pack("{s:s, s:s, s:o, s:{s:s}}", "kind", "exec", "severity", "info",
                          "process",
                          scn_process(4390, 4101, "python3", "/usr/local/bin/python3",
                                      "python3 -m app.jobs.cleanup --older-than 7d", "gunicorn"),
                          "exec", "cwd", "/app"),
                t2);
        scn_net(s, t2 + 2 * SEC, scn_app(), "10.0.4.12", 443, "api.payments.internal");
        for (int i = 1; i <= 6; i++)
            scn_resource(s, t2 + i * 5 * SEC, 0.08 + (i % 3) * 0.004);
    }
}

static int scenario_produce(struct source *src, int64_t now_ns, Bulwark__V1__Event **out,
                            size_t max, bool *done)
{
    struct scenario *s = (struct scenario *)src;
    size_t n = 0;

    (void)now_ns;
    while (n < max && s->next < s->n) {
        out[n++] = s->evs[s->next];
        s->evs[s->next++] = NULL;  /* ownership moves to the caller */
    }
    *done = s->next == s->n;
    return (int)n;
}

static void scenario_destroy(struct source *src)
{
    struct scenario *s = (struct scenario *)src;

    for (size_t i = s->next; i < s->n; i++)
        evjson_event_free(s->evs[i]);
    free(s);
}

struct source *source_scenario_new(const char *name)
{
    struct scenario *s;
    struct timespec ts;
    bool miner;

    if (!strcmp(name, "miner"))
        miner = true;
    else if (!strcmp(name, "benign"))
        miner = false;
    else
        return NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.name = miner ? "scenario miner" : "scenario benign";
    s->base.produce = scenario_produce;
    s->base.destroy = scenario_destroy;
    clock_gettime(CLOCK_REALTIME, &ts);
    scn_build(s, miner, (int64_t)ts.tv_sec * SEC + ts.tv_nsec);
    if (s->oom) {
        scenario_destroy(&s->base);
        return NULL;
    }
    return &s->base;
}
