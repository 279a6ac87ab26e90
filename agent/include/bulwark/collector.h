/* collector.h - one source of host observations in the agent.
 *
 * Each collector (agent/collectors/<name>.c) watches one thing on the host:
 * processes, connections, files, cgroup resources, container configs, Trivy
 * reports, Falco alerts. It reads everything below env->host_root ("/" in
 * production, a fixture tree in tests), attributes what it sees to a
 * container through env->containers, and hands each event to env->emit,
 * which takes ownership. A collector never blocks the loop for long: scans
 * are bounded per call and files are read with bounded buffers.
 *
 * Bad or hostile input (a malformed file, a vanished process, a 10 MB
 * command line) is counted in `errors`, logged once with the file name and
 * skipped: a collector never stops the agent. */
#ifndef BULWARK_COLLECTOR_H
#define BULWARK_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bulwark/v1/bulwark.pb-c.h"

struct containers;  /* container attribution cache (bulwark/containers.h) */

/* Settings of every collector, filled from the agent's config. */
struct collect_config {
    const char *host_root;          /* "/" by default */
    uint32_t scan_interval_ms;      /* /proc scans (process fallback, connections): 1000 */
    uint32_t resource_interval_ms;  /* cgroup samples: 5000 */
    uint32_t cmdline_max;           /* bytes of command line kept: 4096 */
    const char *file_paths;         /* comma-separated paths watched for file activity */
    const char *sensor_read_paths;  /* eBPF sensor: reads reported below these (comma-separated) */
    bool sensor_exec, sensor_net, sensor_read;  /* what the eBPF sensor reports (collect_proc,
                                                 * collect_net, collect_file) */
    bool sensor_syscalls;           /* ... and its Syscall events (collect_proc) */
    const char *trivy_dir;          /* directory of Trivy JSON reports; "" = off */
    const char *falco_file;         /* Falco JSON output file or FIFO; "" = off */
    bool report_existing;           /* first pass reports what already runs (one-shot) */
    int file_mode;                  /* enum file_mode */
};

struct collector_env {
    uv_loop_t *loop;                /* NULL in one-shot mode: only scan() is called */
    const struct collect_config *cfg;
    struct containers *containers;
    /* Takes ownership of ev (a malloc'd tree, freed with evjson_event_free).
     * Returns 0, or BW_EFULL when the agent's queue is full: then the event
     * was freed and counted as dropped by the agent. */
    int (*emit)(void *ctx, Bulwark__V1__Event *ev);
    /* Whether emit would take an event now. Collectors that can wait (a
     * report or a log read at their own pace) ask first and come back
     * later, so that back-pressure is not counted as a drop. */
    bool (*has_room)(void *ctx);
    /* A reader of a file keeps its position with the events it produced:
     * mark(key, v) after emitting says "after these events I stand at v"
     * (v goes to the spool with them, in one transaction); mark_get gives
     * the last stored v at start (0, or BW_ENOTFOUND: none, or no spool).
     * Both may be NULL (one-shot runs, tests). */
    void (*mark)(void *ctx, const char *key, const uint64_t v[4]);
    int (*mark_get)(void *ctx, const char *key, uint64_t v[4]);
    void *emit_ctx;
};

struct collector {
    const char *name;
    /* Starts watching: opens fds, starts timers on env->loop. 0 or a
     * negative bw_err (the agent logs it and runs without this collector). */
    int (*start)(struct collector *c);
    /* One collection pass now; what a periodic collector's timer runs, and
     * all one-shot mode runs. Returns the number of events emitted or a
     * negative bw_err. */
    int (*scan)(struct collector *c);
    /* Stops and closes every handle; done(arg) runs once they are closed
     * (at once if there were none). */
    void (*stop)(struct collector *c, void (*done)(void *arg), void *arg);
    void (*destroy)(struct collector *c);
    uint64_t events;   /* emitted */
    uint64_t errors;   /* bad input skipped */
};

/* Constructors: NULL on ENOMEM. `env` must outlive the collector. */
struct collector *collector_proc_new(const struct collector_env *env);
struct collector *collector_net_new(const struct collector_env *env);
struct collector *collector_file_new(const struct collector_env *env);
/* File activity through a chosen kernel interface: FILE_MODE_AUTO picks
 * fanotify when the agent may use it fully (CAP_SYS_ADMIN), else inotify. */
enum file_mode { FILE_MODE_AUTO = 0, FILE_MODE_FANOTIFY = 1, FILE_MODE_INOTIFY = 2 };
struct collector *collector_file_new_mode(const struct collector_env *env, int mode);
struct collector *collector_resource_new(const struct collector_env *env);
struct collector *collector_config_new(const struct collector_env *env);
struct collector *collector_trivy_new(const struct collector_env *env);
struct collector *collector_falco_new(const struct collector_env *env);

/* The Falco collector's parser, pure (fuzzed): one line of Falco's JSON
 * output (without its newline) to an event (a heap tree for
 * evjson_event_free()). Invalid UTF-8 is repaired (*repaired set to 1).
 * cache may be NULL. 0, BW_EINVAL (not JSON), BW_ENOTFOUND (JSON but not
 * an alert) or BW_ENOMEM. */
int falco_parse_line(const char *line, size_t len, struct containers *cache,
                     Bulwark__V1__Event **out, int *repaired);

/* The Trivy collector's report reader, pure (fuzzed): a JSON report in buf
 * to one event per finding (vuln, misconfig, secret), each handed to fn
 * (which takes ownership; a negative return stops). The count, or BW_EINVAL
 * with why ("not a vulnerability report: ..." for an SBOM), BW_ENOMEM, or
 * fn's error. */
int trivy_report_events(const char *buf, size_t len, int64_t time_ns,
                        int (*fn)(void *ctx, Bulwark__V1__Event *ev), void *ctx, char *why,
                        size_t whylen);

static inline void collector_free(struct collector *c)
{
    if (c)
        c->destroy(c);
}

/* A timer that runs c->scan(c) every ms, embedded in the collector. */
struct collector_ticker {
    uv_timer_t timer;
    struct collector *c;
    bool on;
    void (*done)(void *arg);
    void *done_arg;
};

/* Starts the timer (first scan after ms). 0 or BW_EIO. */
int collector_ticker_start(struct collector_ticker *t, uv_loop_t *loop, uint32_t ms,
                           struct collector *c);
/* Closes the timer; done(arg) runs once it is closed (at once if never started). */
void collector_ticker_stop(struct collector_ticker *t, void (*done)(void *arg), void *arg);

#endif
