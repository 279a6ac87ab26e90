/* resource.c - the resource collector: every resource_interval_ms, CPU (as a
 * fraction of one core over the interval) and memory of each container, and
 * of the host as a whole (scope "host").
 *
 * Container cgroups are found by walking, below host_root/sys/fs/cgroup:
 *   cgroup v2   the root itself (cgroup.controllers at the top) or, on
 *               hybrid hosts, the "unified" mount
 *   cgroup v1   cpuacct (or "cpu,cpuacct") and memory controller mounts
 * and matching each directory's path with the same rules as /proc/PID/cgroup
 * (containers_parse_cgroup); the walk stops at the first match, so a
 * container's own sub-cgroups are counted in it. CPU comes from v2
 * cpu.stat usage_usec, else v1 cpuacct.usage (ns); memory from v2
 * memory.current / memory.max, else v1 memory.usage_in_bytes /
 * memory.limit_in_bytes (an unlimited limit is reported as 0). Hybrid hosts
 * typically give CPU from v2 (usage_usec is always there) and memory from v1.
 * The host's figures come from /proc/stat (all but idle and iowait) and
 * /proc/meminfo (MemTotal - MemAvailable).
 *
 * The first sample of a container (or the host) only primes its counters;
 * samples follow from the next pass, over the real elapsed time. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/clock.h"
#include "bulwark/evbuild.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"

#define RES_MAX_CONTAINERS 4096
#define RES_MAX_DIRS 20000   /* cgroup directories visited per hierarchy and pass */
#define RES_MAX_DEPTH 12
#define RES_UNLIMITED (1ULL << 62)

enum { H_V2, H_CPU1, H_MEM1, H_COUNT };

struct found {
    char id[65], runtime[16];
    char *dir[H_COUNT];   /* relative to host_root; NULL when not in that hierarchy */
};

struct res_state {
    char id[65];
    int cpu_src;          /* 1 v2, 2 v1 */
    uint64_t usage_ns;
    int64_t mono_ns;
    bool seen;
};

struct res_col {
    struct collector base;
    const struct collector_env *env;
    struct collector_ticker ticker;
    struct res_state *st;
    size_t nst;
    uint64_t host_busy;
    int64_t host_mono;
    bool logged_full;
};

struct walk {
    struct found *v;
    size_t n;
    int hier;
    size_t dirs;
    bool oom;
};

/* ------------------------------------------------------------ discovery */

static void walk_add(struct walk *w, const char *runtime, const char *id, const char *dir)
{
    struct found *f = NULL;

    for (size_t i = 0; i < w->n && !f; i++)
        if (strcmp(w->v[i].id, id) == 0)
            f = &w->v[i];
    if (!f) {
        if (w->n >= RES_MAX_CONTAINERS)
            return;
        f = &w->v[w->n++];
        memset(f, 0, sizeof *f);
        snprintf(f->id, sizeof f->id, "%s", id);
        snprintf(f->runtime, sizeof f->runtime, "%s", runtime);
    }
    if (!f->dir[w->hier] && !(f->dir[w->hier] = evb_strdup(dir, PROCFS_PATH_MAX)))
        w->oom = true;
}

/* Depth-first below root+dir; rel is the cgroup path ("/system.slice/..."). */
static void walk_dir(struct walk *w, const char *root, const char *base, const char *rel, int depth)
{
    char path[PROCFS_PATH_MAX], text[PROCFS_PATH_MAX + 8], child[PROCFS_PATH_MAX];
    char runtime[16], id[65];
    struct dirent *de;
    DIR *d;

    if (depth > RES_MAX_DEPTH || w->dirs >= RES_MAX_DIRS || w->oom)
        return;
    w->dirs++;
    if (snprintf(text, sizeof text, "0::%s", *rel ? rel : "/") >= (int)sizeof text)
        return;
    if (*rel && containers_parse_cgroup(text, runtime, sizeof runtime, id, sizeof id, NULL, 0) == 1) {
        if (snprintf(path, sizeof path, "%s%s", base, rel) < (int)sizeof path)
            walk_add(w, runtime, id, path);
        return;
    }
    if (procfs_path(path, sizeof path, root, "%s%s", base, rel) < 0 || !(d = opendir(path)))
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
            continue;
        if (snprintf(child, sizeof child, "%s/%s", rel, de->d_name) >= (int)sizeof child)
            continue;
        walk_dir(w, root, base, child, depth + 1);
    }
    closedir(d);
}

/* The first of the candidate hierarchy dirs holding file; NULL if none. */
static const char *hier_find(const char *root, const char *const *cands, const char *file)
{
    char path[PROCFS_PATH_MAX];

    for (; *cands; cands++)
        if (procfs_path(path, sizeof path, root, "%s/%s", *cands, file) == 0 &&
            access(path, R_OK) == 0)
            return *cands;
    return NULL;
}

static void discover(const char *root, struct walk *w)
{
    static const char *const v2[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified", NULL};
    static const char *const cpu1[] = {"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct",
                                       "/sys/fs/cgroup/cpuacct,cpu", NULL};
    static const char *const mem1[] = {"/sys/fs/cgroup/memory", NULL};
    const char *base[H_COUNT] = {hier_find(root, v2, "cgroup.controllers"),
                                 hier_find(root, cpu1, "cpuacct.usage"),
                                 hier_find(root, mem1, "memory.usage_in_bytes")};

    for (int h = 0; h < H_COUNT; h++) {
        if (!base[h])
            continue;
        w->hier = h;
        w->dirs = 0;
        walk_dir(w, root, base[h], "", 0);
    }
}

/* ------------------------------------------------------------- reading */

static bool read_u64(const char *root, const char *dir, const char *file, uint64_t *v)
{
    char buf[64], *end;
    unsigned long long x;

    if (procfs_read_at(root, buf, sizeof buf, NULL, "%s/%s", dir, file) < 0)
        return false;
    x = strtoull(buf, &end, 10);
    if (end == buf)
        return false;
    *v = x;
    return true;
}

/* usage_usec of a v2 cpu.stat, in ns. */
static bool read_cpu_stat(const char *root, const char *dir, uint64_t *ns)
{
    char buf[2048];
    const char *p;

    if (procfs_read_at(root, buf, sizeof buf, NULL, "%s/cpu.stat", dir) < 0)
        return false;
    p = strncmp(buf, "usage_usec ", 11) == 0 ? buf : strstr(buf, "\nusage_usec ");
    if (!p)
        return false;
    *ns = strtoull(p + (*p == '\n' ? 12 : 11), NULL, 10) * 1000ULL;
    return true;
}

struct sample {
    int cpu_src;
    uint64_t usage_ns, mem, limit;
    bool has_mem;
};

static void read_sample(const char *root, const struct found *f, struct sample *s)
{
    uint64_t v;
    char buf[64];

    memset(s, 0, sizeof *s);
    if (f->dir[H_V2] && read_cpu_stat(root, f->dir[H_V2], &s->usage_ns))
        s->cpu_src = 1;
    else if (f->dir[H_CPU1] && read_u64(root, f->dir[H_CPU1], "cpuacct.usage", &s->usage_ns))
        s->cpu_src = 2;
    if (f->dir[H_V2] && read_u64(root, f->dir[H_V2], "memory.current", &s->mem)) {
        s->has_mem = true;
        if (procfs_read_at(root, buf, sizeof buf, NULL, "%s/memory.max", f->dir[H_V2]) == 0 &&
            strncmp(buf, "max", 3) != 0)
            s->limit = strtoull(buf, NULL, 10);
    } else if (f->dir[H_MEM1] && read_u64(root, f->dir[H_MEM1], "memory.usage_in_bytes", &s->mem)) {
        s->has_mem = true;
        if (read_u64(root, f->dir[H_MEM1], "memory.limit_in_bytes", &v) && v < RES_UNLIMITED)
            s->limit = v;
    }
}

/* ------------------------------------------------------------- events */

static int emit_sample(struct res_col *rc_, const struct found *f, double cores, uint64_t mem,
                       uint64_t limit, int64_t interval_ns)
{
    Bulwark__V1__ResourceSample *r;
    Bulwark__V1__Event *ev = evb_event_new(evb_now_ns(), BULWARK__V1__SEVERITY__SEVERITY_INFO);
    int rc = BW_ENOMEM;

    if (!ev)
        return BW_ENOMEM;
    r = evb_msg_new(&bulwark__v1__resource_sample__descriptor);
    if (!r)
        goto out;
    ev->body_case = BULWARK__V1__EVENT__BODY_RESOURCE;
    ev->resource = r;
    r->cpu_cores = cores;
    r->memory_bytes = mem;
    r->memory_limit_bytes = limit;
    r->interval_ms = (uint32_t)(interval_ns / 1000000);
    if (evb_set_str(&r->scope, f ? "container" : "host", 16) < 0)
        goto out;
    if (f) {
        const Bulwark__V1__ContainerRef *cref =
            rc_->env->containers ? containers_lookup_id(rc_->env->containers, f->runtime, f->id) : NULL;

        if (cref) {
            ev->container = containers_ref_dup(cref);
        } else if ((ev->container = evb_msg_new(&bulwark__v1__container_ref__descriptor))) {
            if (evb_set_str(&ev->container->id, f->id, 64) < 0 ||
                evb_set_str(&ev->container->runtime, f->runtime, 16) < 0)
                goto out;
        }
        if (!ev->container)
            goto out;
    }
    rc = rc_->env->emit(rc_->env->emit_ctx, ev);
    ev = NULL;
    if (rc < 0) {
        rc = 0;
        goto out;
    }
    rc_->base.events++;
    rc = 1;
out:
    evb_msg_free(ev ? &ev->base : NULL);
    return rc;
}

static struct res_state *state_of(struct res_col *r, const char *id)
{
    struct res_state *t;

    for (size_t i = 0; i < r->nst; i++)
        if (strcmp(r->st[i].id, id) == 0)
            return &r->st[i];
    if (r->nst >= RES_MAX_CONTAINERS)
        return NULL;
    t = realloc(r->st, (r->nst + 1) * sizeof *t);
    if (!t)
        return NULL;
    r->st = t;
    t = &r->st[r->nst++];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    return t;
}

static int sample_container(struct res_col *r, const struct found *f, int64_t now)
{
    const char *root = r->env->cfg->host_root;
    struct res_state *st = state_of(r, f->id);
    struct sample s;
    double cores = 0;
    int64_t interval;
    bool primed;

    if (!st)
        return 0;
    st->seen = true;
    read_sample(root, f, &s);
    if (!s.cpu_src && !s.has_mem) {
        r->base.errors++;  /* the cgroup went away between the walk and the read */
        return 0;
    }
    primed = st->mono_ns && st->cpu_src == s.cpu_src && now > st->mono_ns;
    if (primed && s.cpu_src && s.usage_ns >= st->usage_ns)
        cores = (double)(s.usage_ns - st->usage_ns) / (double)(now - st->mono_ns);
    interval = now - st->mono_ns;
    st->cpu_src = s.cpu_src;
    st->usage_ns = s.usage_ns;
    st->mono_ns = now;
    if (!primed)
        return 0;
    return emit_sample(r, f, cores, s.mem, s.limit, interval);
}

static int sample_host(struct res_col *r, int64_t now)
{
    const char *root = r->env->cfg->host_root;
    char buf[4096];
    unsigned long long v[10] = {0};
    uint64_t total = 0, busy, mem_total = 0, mem_avail = 0;
    const char *p;
    char *end;
    long hz = sysconf(_SC_CLK_TCK);
    int rc = 0;

    if (procfs_read_at(root, buf, sizeof buf, NULL, "/proc/stat") < 0 || strncmp(buf, "cpu ", 4) != 0)
        return 0;
    p = buf + 4;
    for (int i = 0; i < 10; i++) {
        v[i] = strtoull(p, &end, 10);
        if (end == p)
            break;
        p = end;
    }
    for (int i = 0; i < 8; i++)  /* guest time is already in user */
        total += v[i];
    busy = total - v[3] - v[4];
    if (procfs_read_at(root, buf, sizeof buf, NULL, "/proc/meminfo") == 0) {
        if ((p = strstr(buf, "MemTotal:")))
            mem_total = strtoull(p + 9, NULL, 10) * 1024;
        if ((p = strstr(buf, "MemAvailable:")))
            mem_avail = strtoull(p + 13, NULL, 10) * 1024;
    }
    if (hz <= 0)
        hz = 100;
    if (r->host_mono && now > r->host_mono && busy >= r->host_busy)
        rc = emit_sample(r, NULL,
                         (double)(busy - r->host_busy) * 1e9 / (double)hz / (double)(now - r->host_mono),
                         mem_total > mem_avail ? mem_total - mem_avail : 0, mem_total, now - r->host_mono);
    r->host_busy = busy;
    r->host_mono = now;
    return rc;
}

static int res_scan(struct collector *c)
{
    struct res_col *r = (struct res_col *)c;
    struct walk w = {.v = calloc(RES_MAX_CONTAINERS, sizeof(struct found))};
    int64_t now = clock_mono_ns();
    int emitted = 0, rc = 0;
    size_t keep = 0;

    if (!w.v)
        return BW_ENOMEM;
    discover(r->env->cfg->host_root, &w);
    if (w.oom) {
        rc = BW_ENOMEM;
        goto out;
    }
    if (w.n >= RES_MAX_CONTAINERS && !r->logged_full) {
        r->logged_full = true;
        log_msg(LOG_WARN, "resource", "more than %u container cgroups: the rest are not sampled",
                RES_MAX_CONTAINERS);
    }
    for (size_t i = 0; i < r->nst; i++)
        r->st[i].seen = false;
    for (size_t i = 0; i < w.n && rc >= 0; i++) {
        rc = sample_container(r, &w.v[i], now);
        emitted += rc > 0;
    }
    if (rc >= 0) {
        rc = sample_host(r, now);
        emitted += rc > 0;
    }
    for (size_t i = 0; i < r->nst; i++)  /* forget containers that are gone */
        if (r->st[i].seen)
            r->st[keep++] = r->st[i];
    r->nst = keep;
out:
    for (size_t i = 0; i < w.n; i++)
        for (int h = 0; h < H_COUNT; h++)
            free(w.v[i].dir[h]);
    free(w.v);
    return rc < 0 ? rc : emitted;
}

/* ---------------------------------------------------------- lifecycle */

static int res_start(struct collector *c)
{
    struct res_col *r = (struct res_col *)c;
    int rc;

    if (!r->env->loop)
        return BW_EINVAL;
    rc = res_scan(c);  /* primes */
    if (rc < 0)
        log_msg(LOG_WARN, "resource", "first sample failed: %s", bw_strerror(rc));
    return collector_ticker_start(&r->ticker, r->env->loop,
                                  r->env->cfg->resource_interval_ms ? r->env->cfg->resource_interval_ms
                                                                    : 5000,
                                  c);
}

static void res_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    collector_ticker_stop(&((struct res_col *)c)->ticker, done, arg);
}

static void res_destroy(struct collector *c)
{
    struct res_col *r = (struct res_col *)c;

    free(r->st);
    free(r);
}

struct collector *collector_resource_new(const struct collector_env *env)
{
    struct res_col *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->base.name = "resource";
    r->base.start = res_start;
    r->base.scan = res_scan;
    r->base.stop = res_stop;
    r->base.destroy = res_destroy;
    r->env = env;
    return &r->base;
}
