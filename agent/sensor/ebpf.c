/* ebpf.c - the eBPF sensor's user side: loads the kernel programs
 * (sensor.bpf.c, embedded as a bpftool skeleton), tells them which syscalls
 * to report (the filter map), reads their ring buffer on the agent's loop
 * (uv_poll on ring_buffer__epoll_fd) and turns each record into an event:
 *   - exec (sched_process_exec)      -> ProcessExec, full argv from the new image
 *   - connect / accept / accept4     -> NetConnection (OUTBOUND / INBOUND)
 *   - open / openat / openat2, read-only, below sensor_read_paths (but
 *     /etc/ld.so.cache)              -> FileAccess(OPEN)
 * Writes, renames, deletes and chmods stay with the file collector.
 *
 * A bounded pid table (exe, command line, parent) fills the process of the
 * syscall events: an exec sets a pid's entry, a fork copies its parent's,
 * an exit removes it. When the table is full a new process is reported
 * with its comm only (counted in errors), never by growing the table.
 * A record the kernel could not write (ring buffer full) is counted by the
 * kernel (sensor_stats.kernel_drops) and reported in the heartbeat. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/hash.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"
#include "bulwark/sensor.h"
#include "sensor_event.h"
#include "sensor.skel.h"

#define PIDS_CAP 16384u          /* pid table slots (a power of two) */
#define PIDS_MAX (PIDS_CAP / 4 * 3)
#define PID_STR_MAX 1024u        /* exe and command line kept per pid */
#define PATHS_MAX 32             /* watched path prefixes */

struct pid_entry {
    uint32_t pid;                /* 0: free slot */
    uint32_t ppid;
    char *exe, *cmdline;
    char comm[SENSOR_COMM];
};

struct ebpf_col {
    struct collector base;
    const struct collector_env *env;
    struct sensor_bpf *skel;
    struct ring_buffer *rb;
    uv_poll_t poll;
    bool poll_on;
    void (*done)(void *);
    void *done_arg;
    int64_t boot_to_unix_ns;     /* add to a boot-clock time */
    struct pid_entry *pids;
    size_t npids;
    char *paths[PATHS_MAX];      /* watched prefixes, without a trailing '/' */
    size_t npaths;
    uint64_t records;
    bool logged_full, logged_bad;
    char error[SENSOR_WHY_MAX];
};

/* ------------------------------------------------------------ pid table
 * Open addressing with linear probing; removal shifts the run back, so no
 * tombstones accumulate. */

static size_t pid_slot(uint32_t pid)
{
    return bw_hash(&pid, sizeof pid) & (PIDS_CAP - 1);
}

static struct pid_entry *pid_find(struct ebpf_col *e, uint32_t pid)
{
    for (size_t i = pid_slot(pid);; i = (i + 1) & (PIDS_CAP - 1)) {
        if (e->pids[i].pid == pid)
            return &e->pids[i];
        if (!e->pids[i].pid)
            return NULL;
    }
}

static void pid_clear(struct pid_entry *p)
{
    free(p->exe);
    free(p->cmdline);
    memset(p, 0, sizeof *p);
}

static void pid_remove(struct ebpf_col *e, uint32_t pid)
{
    struct pid_entry *p = pid_find(e, pid);
    size_t i, j;

    if (!p)
        return;
    pid_clear(p);
    e->npids--;
    i = (size_t)(p - e->pids);
    for (j = (i + 1) & (PIDS_CAP - 1); e->pids[j].pid; j = (j + 1) & (PIDS_CAP - 1)) {
        size_t home = pid_slot(e->pids[j].pid);
        /* Move j back into the hole i unless its home lies in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);

        if (stays)
            continue;
        e->pids[i] = e->pids[j];
        memset(&e->pids[j], 0, sizeof e->pids[j]);
        i = j;
    }
}

/* The entry of pid, made empty when new; NULL when the table is full. */
static struct pid_entry *pid_upsert(struct ebpf_col *e, uint32_t pid)
{
    size_t i;

    if (!pid)
        return NULL;
    for (i = pid_slot(pid); e->pids[i].pid; i = (i + 1) & (PIDS_CAP - 1))
        if (e->pids[i].pid == pid) {
            pid_clear(&e->pids[i]);
            e->pids[i].pid = pid;
            return &e->pids[i];
        }
    if (e->npids >= PIDS_MAX) {
        e->base.errors++;
        if (!e->logged_full) {
            e->logged_full = true;
            log_msg(LOG_WARN, "ebpf", "pid table full (%u processes): new ones are reported "
                    "with their comm only (counted, not logged again)", PIDS_MAX);
        }
        return NULL;
    }
    e->npids++;
    e->pids[i].pid = pid;
    return &e->pids[i];
}

/* ------------------------------------------------------------ records */

/* The strings of a record: s[i] points into data, n[i] its length
 * without a final NUL. BW_EINVAL when the lengths do not fit the record. */
static int rec_strings(const struct sensor_rec *r, size_t len, const char *s[SENSOR_NSTR],
                       size_t n[SENSOR_NSTR])
{
    const char *p = (const char *)(r + 1);
    size_t left = len - sizeof *r;

    for (int i = 0; i < SENSOR_NSTR; i++) {
        if (r->lens[i] > left)
            return BW_EINVAL;
        s[i] = p;
        n[i] = r->lens[i];
        if (n[i] && p[n[i] - 1] == '\0' && i != 1)
            n[i]--;
        p += r->lens[i];
        left -= r->lens[i];
    }
    return 0;
}

/* A ProcessRef of the record's process: the kernel's ids, and exe and
 * command line from the pid table. NULL on ENOMEM. */
static Bulwark__V1__ProcessRef *rec_process(struct ebpf_col *e, const struct sensor_rec *r)
{
    Bulwark__V1__ProcessRef *p = procfs_msg_new(&bulwark__v1__process_ref__descriptor);
    const struct pid_entry *pe = pid_find(e, r->pid);
    char comm[SENSOR_COMM + 1], pcomm[SENSOR_COMM + 1];

    if (!p)
        return NULL;
    memcpy(comm, r->comm, SENSOR_COMM);
    memcpy(pcomm, r->pcomm, SENSOR_COMM);
    comm[SENSOR_COMM] = pcomm[SENSOR_COMM] = '\0';
    p->pid = (int32_t)r->pid;
    p->tid = (int32_t)r->tid;
    p->ppid = (int32_t)r->ppid;
    p->uid = r->uid;
    p->gid = r->gid;
    p->cgroup_id = r->cgroup_id;
    p->start_time_ns = e->boot_to_unix_ns + (int64_t)r->start_ns;
    if (procfs_set_str(&p->name, comm, PROCFS_STR_MAX) < 0 ||
        procfs_set_str(&p->parent_name, pcomm, PROCFS_STR_MAX) < 0 ||
        (pe && pe->exe && procfs_set_str(&p->exe, pe->exe, PROCFS_STR_MAX) < 0) ||
        (pe && pe->cmdline && procfs_set_str(&p->cmdline, pe->cmdline, PROCFS_CMDLINE_MAX) < 0)) {
        procfs_msg_free(&p->base);
        return NULL;
    }
    return p;
}

/* A new event of the record's time and process, with its container. */
static Bulwark__V1__Event *rec_event(struct ebpf_col *e, const struct sensor_rec *r)
{
    Bulwark__V1__Event *ev = procfs_event_new(e->boot_to_unix_ns + (int64_t)r->ts_ns,
                                              BULWARK__V1__SEVERITY__SEVERITY_INFO);
    const Bulwark__V1__ContainerRef *cref;

    if (!ev)
        return NULL;
    ev->process = rec_process(e, r);
    if (!ev->process)
        goto fail;
    /* The container from the cgroup path of /proc/PID (cached by the
     * containers module); a process gone by now is reported as a host one. */
    cref = e->env->containers && r->cgroup_id ? containers_lookup_pid(e->env->containers, (int)r->pid)
                                              : NULL;
    if (cref && !(ev->container = containers_ref_dup(cref)))
        goto fail;
    return ev;
fail:
    procfs_msg_free(&ev->base);
    return NULL;
}

static void ebpf_emit(struct ebpf_col *e, Bulwark__V1__Event *ev)
{
    if (e->env->emit(e->env->emit_ctx, ev) == 0)
        e->base.events++;
}

/* Records the new image in the pid table, and reports it when asked. */
static void on_exec(struct ebpf_col *e, const struct sensor_rec *r, const char *s[], size_t n[],
                    bool report)
{
    struct pid_entry *pe = pid_upsert(e, r->pid);
    const struct collect_config *cfg = e->env->cfg;
    size_t cap = cfg->cmdline_max && cfg->cmdline_max < PROCFS_CMDLINE_MAX ? cfg->cmdline_max
                                                                           : PROCFS_CMDLINE_MAX;
    char *cmd = malloc(cap + 1), path[PROCFS_PATH_MAX], cwd[PROCFS_PATH_MAX];
    Bulwark__V1__ProcessExec *x = NULL;
    Bulwark__V1__Event *ev = NULL;
    size_t len = n[1] < cap ? n[1] : cap;

    if (!cmd)
        return;
    memcpy(cmd, s[1], len);
    procfs_argv_flatten(cmd, len);
    if (pe) {
        pe->ppid = r->ppid;
        memcpy(pe->comm, r->comm, SENSOR_COMM);
        pe->exe = procfs_strndup_utf8(s[0], n[0], PID_STR_MAX);
        pe->cmdline = procfs_strdup(cmd, PID_STR_MAX);
    }
    if (!report)
        goto out;
    ev = rec_event(e, r);
    x = procfs_msg_new(&bulwark__v1__process_exec__descriptor);
    if (!ev || !x)
        goto out;
    ev->body_case = BULWARK__V1__EVENT__BODY_EXEC;
    ev->exec = x;
    x->tty = r->tty != 0;
    x = NULL;
    /* the table keeps a shorter command line than the event carries */
    if (procfs_set_str(&ev->process->cmdline, cmd, PROCFS_CMDLINE_MAX) < 0)
        goto out;
    if (n[0] && s[0][0] == '/') {
        char *exe = procfs_strndup_utf8(s[0], n[0], PROCFS_STR_MAX);

        if (!exe)
            goto out;
        free(ev->process->exe);
        ev->process->exe = exe;
    }
    if (procfs_path(path, sizeof path, cfg->host_root, "/proc/%u/cwd", r->pid) == 0 &&
        procfs_readlink(path, cwd, sizeof cwd) == 0 &&
        procfs_set_str(&ev->exec->cwd, cwd, PROCFS_STR_MAX) < 0)
        goto out;
    ebpf_emit(e, ev);
    ev = NULL;
out:
    procfs_msg_free(x ? &x->base : NULL);
    procfs_msg_free(ev ? &ev->base : NULL);
    free(cmd);
}

static void on_fork(struct ebpf_col *e, const struct sensor_rec *r)
{
    const struct pid_entry *parent = pid_find(e, r->ppid);
    char *exe = parent && parent->exe ? strdup(parent->exe) : NULL;
    char *cmd = parent && parent->cmdline ? strdup(parent->cmdline) : NULL;
    struct pid_entry *pe = pid_upsert(e, r->pid);  /* may move nothing: parent stays valid */

    if (!pe) {
        free(exe);
        free(cmd);
        return;
    }
    pe->ppid = r->ppid;
    memcpy(pe->comm, r->comm, SENSOR_COMM);
    pe->exe = exe;
    pe->cmdline = cmd;
}

static bool watched(const struct ebpf_col *e, const char *path)
{
    for (size_t i = 0; i < e->npaths; i++) {
        size_t l = strlen(e->paths[i]);

        if (!strncmp(path, e->paths[i], l) && (path[l] == '/' || path[l] == '\0' || l == 0))
            return true;
    }
    return false;
}

/* An absolute form of the path an open got (relative to its dirfd or
 * cwd, read from /proc while the process lives). BW_ENOTFOUND if gone. */
static int abs_path(const struct ebpf_col *e, const struct sensor_rec *r, const char *p, size_t n,
                    long dirfd, char *out, size_t cap)
{
    char link[PROCFS_PATH_MAX], base[PROCFS_PATH_MAX];
    int rc;

    if (n && p[0] == '/') {
        if (n >= cap)
            return BW_ETOOBIG;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
    }
    rc = dirfd == AT_FDCWD
             ? procfs_path(link, sizeof link, e->env->cfg->host_root, "/proc/%u/cwd", r->pid)
             : procfs_path(link, sizeof link, e->env->cfg->host_root, "/proc/%u/fd/%ld", r->pid, dirfd);
    if (rc < 0 || (rc = procfs_readlink(link, base, sizeof base)) < 0)
        return rc;
    if ((size_t)snprintf(out, cap, "%s/%.*s", strcmp(base, "/") ? base : "", (int)n, p) >= cap)
        return BW_ETOOBIG;
    return 0;
}

static void on_open(struct ebpf_col *e, const struct sensor_rec *r, const char *s[], size_t n[])
{
    char path[PROCFS_PATH_MAX];
    uint64_t flags;
    long dirfd;
    Bulwark__V1__FileAccess *f;
    Bulwark__V1__Event *ev;

#ifdef SYS_open
    if (r->nr == SYS_open) {
        flags = r->args[1];
        dirfd = AT_FDCWD;
    } else
#endif
    {
        flags = r->args[2];
        dirfd = (long)(int)r->args[0];
    }
    /* Reads only: writes, creations and the rest come from the file collector. */
    if (r->res < 0 || (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
        return;
    /* The dynamic loader reads its cache at every exec: an event per exec
     * that no rule asks for. */
    if (abs_path(e, r, s[0], n[0], dirfd, path, sizeof path) < 0 || !watched(e, path) ||
        !strcmp(path, "/etc/ld.so.cache"))
        return;
    ev = rec_event(e, r);
    f = procfs_msg_new(&bulwark__v1__file_access__descriptor);
    if (!ev || !f) {
        procfs_msg_free(f ? &f->base : NULL);
        procfs_msg_free(ev ? &ev->base : NULL);
        return;
    }
    ev->body_case = BULWARK__V1__EVENT__BODY_FILE;
    ev->file = f;
    f->op = BULWARK__V1__FILE_ACCESS__OP__OPEN;
    if (procfs_set_str(&f->path, path, PROCFS_STR_MAX) < 0) {
        procfs_msg_free(&ev->base);
        return;
    }
    ebpf_emit(e, ev);
}

static int addr_str(const struct sensor_tuple *t, const uint8_t *a, char **out)
{
    char buf[INET6_ADDRSTRLEN];

    if (!inet_ntop(t->family, a, buf, sizeof buf))
        return BW_EINVAL;
    return procfs_set_str(out, buf, PROCFS_STR_MAX);
}

static void on_conn(struct ebpf_col *e, const struct sensor_rec *r, bool inbound)
{
    const struct sensor_tuple *t = &r->tuple;
    Bulwark__V1__NetConnection *c;
    Bulwark__V1__Event *ev;

    if ((r->res < 0 && !(r->res == -EINPROGRESS && !inbound)) ||
        (t->family != AF_INET && t->family != AF_INET6) ||
        (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP))
        return;
    ev = rec_event(e, r);
    c = procfs_msg_new(&bulwark__v1__net_connection__descriptor);
    if (!ev || !c)
        goto fail;
    ev->body_case = BULWARK__V1__EVENT__BODY_NET;
    ev->net = c;
    c->direction = inbound ? BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND
                           : BULWARK__V1__NET_CONNECTION__DIRECTION__OUTBOUND;
    c->protocol = t->proto == IPPROTO_UDP ? BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP
                                          : BULWARK__V1__NET_CONNECTION__PROTOCOL__TCP;
    c->local_port = t->sport;
    c->remote_port = t->dport;
    if (addr_str(t, t->saddr, &c->local_addr) < 0 || addr_str(t, t->daddr, &c->remote_addr) < 0) {
        procfs_msg_free(&ev->base);
        return;
    }
    ebpf_emit(e, ev);
    return;
fail:
    procfs_msg_free(c ? &c->base : NULL);
    procfs_msg_free(ev ? &ev->base : NULL);
}

static void on_syscall(struct ebpf_col *e, const struct sensor_rec *r, const char *s[], size_t n[])
{
    switch (r->nr) {
#ifdef SYS_open
    case SYS_open:
#endif
#ifdef SYS_openat2
    case SYS_openat2:
#endif
    case SYS_openat: on_open(e, r, s, n); break;
    case SYS_connect: on_conn(e, r, false); break;
#ifdef SYS_accept
    case SYS_accept:
#endif
    case SYS_accept4: on_conn(e, r, true); break;
    default: break;
    }
}

/* ring_buffer callback: one record. Never stops the read (returns 0). */
static int on_record(void *ctx, void *data, size_t len)
{
    struct ebpf_col *e = ctx;
    const struct sensor_rec *r = data;
    const char *s[SENSOR_NSTR];
    size_t n[SENSOR_NSTR];

    e->records++;
    if (len < sizeof *r || rec_strings(r, len, s, n) < 0) {
        e->base.errors++;
        if (!e->logged_bad) {
            e->logged_bad = true;
            log_msg(LOG_WARN, "ebpf", "malformed record of %zu bytes from the kernel (counted, "
                    "not logged again)", len);
        }
        return 0;
    }
    switch (r->kind) {
    case SENSOR_EXEC: on_exec(e, r, s, n, e->env->cfg->sensor_exec); break;
    case SENSOR_FORK: on_fork(e, r); break;
    case SENSOR_EXIT: pid_remove(e, r->pid); break;
    case SENSOR_SYSCALL: on_syscall(e, r, s, n); break;
    default: e->base.errors++; break;
    }
    return 0;
}

/* ------------------------------------------------------------ loading */

/* The syscalls the collector turns into events, and what the kernel
 * side must capture for each. */
static const struct {
    long nr;
    uint32_t want;
} wanted[] = {
#ifdef SYS_open
    {SYS_open, SENSOR_WANT_ENTER | SENSOR_WANT_PATH0},
#endif
    {SYS_openat, SENSOR_WANT_ENTER | SENSOR_WANT_PATH1},
#ifdef SYS_openat2
    {SYS_openat2, SENSOR_WANT_ENTER | SENSOR_WANT_PATH1 | SENSOR_WANT_HOW2},
#endif
    {SYS_connect, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK},
#ifdef SYS_accept
    {SYS_accept, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK_RES},
#endif
    {SYS_accept4, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK_RES},
};

/* Fills the kernel's filter map with the syscalls the enabled kinds need;
 * the others never leave the kernel. The count traced, or -errno. */
static int ebpf_set_filter(struct ebpf_col *e)
{
    const struct collect_config *cfg = e->env->cfg;
    int fd = bpf_map__fd(e->skel->maps.filter), n = 0;

    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        uint32_t key = (uint32_t)wanted[i].nr, v = wanted[i].want;
        bool net = v & (SENSOR_WANT_SOCK | SENSOR_WANT_SOCK_RES);

        if (!(net ? cfg->sensor_net : cfg->sensor_read))
            continue;
        if (key >= SENSOR_SYSCALLS || bpf_map_update_elem(fd, &key, &v, BPF_ANY) < 0)
            return -errno;
        n++;
    }
    return n;
}

static int ebpf_paths(struct ebpf_col *e)
{
    const char *p = e->env->cfg->sensor_read_paths ? e->env->cfg->sensor_read_paths : "";

    while (*p && e->npaths < PATHS_MAX) {
        size_t l = strcspn(p, ",");
        size_t k = l;

        while (k > 1 && p[k - 1] == '/')
            k--;
        if (k && p[0] == '/') {
            e->paths[e->npaths] = strndup(p, k == 1 ? 0 : k);  /* "/" watches everything */
            if (!e->paths[e->npaths])
                return BW_ENOMEM;
            e->npaths++;
        }
        p += l;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct ebpf_col *e = h->data;
    int rc;

    (void)events;
    if (status < 0)
        return;
    rc = ring_buffer__consume(e->rb);
    if (rc < 0)
        log_msg(LOG_WARN, "ebpf", "reading the ring buffer: %s", strerror(-rc));
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char line[512];

    if (level == LIBBPF_DEBUG)
        return 0;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_msg(LOG_DEBUG, "ebpf", "libbpf: %s", line);
    return 0;
}

static int ebpf_start(struct collector *c)
{
    struct ebpf_col *e = (struct ebpf_col *)c;
    const char *step = "open";
    int rc, traced;

    if (!e->env->loop)
        return BW_EINVAL;
    libbpf_set_print(libbpf_quiet);
    e->boot_to_unix_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
    rc = ebpf_paths(e);
    if (rc < 0)
        return rc;
    e->skel = sensor_bpf__open();
    if (!e->skel) {
        rc = -errno;
        goto fail;
    }
    e->skel->rodata->self_tgid = (uint32_t)getpid();
    step = "load";
    if ((rc = sensor_bpf__load(e->skel)) < 0)
        goto fail;
    step = "filter";
    if ((rc = ebpf_set_filter(e)) < 0)
        goto fail;
    traced = rc;
    step = "attach";
    if ((rc = sensor_bpf__attach(e->skel)) < 0)
        goto fail;
    step = "ring buffer";
    e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.events), on_record, e, NULL);
    if (!e->rb) {
        rc = -errno;
        goto fail;
    }
    if (uv_poll_init(e->env->loop, &e->poll, ring_buffer__epoll_fd(e->rb)) < 0) {
        rc = -EIO;
        goto fail;
    }
    e->poll.data = e;
    e->poll_on = true;
    uv_poll_start(&e->poll, UV_READABLE, on_readable);
    log_msg(LOG_INFO, "ebpf", "sensor running: exec, fork, exit and %d syscalls traced%s", traced,
            e->env->cfg->sensor_exec ? "; execs reported" : "");
    return 0;
fail:
    snprintf(e->error, sizeof e->error, "%s failed: %s", step, strerror(rc < 0 ? -rc : EIO));
    ring_buffer__free(e->rb);
    e->rb = NULL;
    sensor_bpf__destroy(e->skel);
    e->skel = NULL;
    return BW_EIO;
}

static int ebpf_scan(struct collector *c)
{
    (void)c;
    return 0;
}

static void on_poll_closed(uv_handle_t *h)
{
    struct ebpf_col *e = h->data;

    if (e->done)
        e->done(e->done_arg);
}

static void ebpf_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    struct ebpf_col *e = (struct ebpf_col *)c;

    e->done = done;
    e->done_arg = arg;
    if (e->poll_on) {
        e->poll_on = false;
        uv_poll_stop(&e->poll);
        uv_close((uv_handle_t *)&e->poll, on_poll_closed);
        return;
    }
    if (done)
        done(arg);
}

static void ebpf_destroy(struct collector *c)
{
    struct ebpf_col *e = (struct ebpf_col *)c;

    ring_buffer__free(e->rb);
    sensor_bpf__destroy(e->skel);
    for (size_t i = 0; i < PIDS_CAP; i++)
        if (e->pids[i].pid)
            pid_clear(&e->pids[i]);
    for (size_t i = 0; i < e->npaths; i++)
        free(e->paths[i]);
    free(e->pids);
    free(e);
}

struct collector *collector_ebpf_new(const struct collector_env *env)
{
    struct ebpf_col *e = calloc(1, sizeof *e);

    if (!e)
        return NULL;
    e->pids = calloc(PIDS_CAP, sizeof *e->pids);
    if (!e->pids) {
        free(e);
        return NULL;
    }
    e->env = env;
    e->base = (struct collector){.name = "ebpf", .start = ebpf_start, .scan = ebpf_scan,
                                 .stop = ebpf_stop, .destroy = ebpf_destroy};
    return &e->base;
}

void collector_ebpf_stats(struct collector *c, struct sensor_stats *out)
{
    struct ebpf_col *e = (struct ebpf_col *)c;
    int ncpu = libbpf_num_possible_cpus();

    *out = (struct sensor_stats){.records = e->records};
    if (!e->skel || ncpu <= 0 || ncpu > 4096)
        return;
    uint64_t *v = calloc((size_t)ncpu, sizeof *v);
    if (!v)
        return;
    for (uint32_t k = 0; k < SENSOR_DROP_N; k++) {
        uint64_t sum = 0;

        if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.drops), &k, v) < 0)
            continue;
        for (int i = 0; i < ncpu; i++)
            sum += v[i];
        if (k == SENSOR_DROP_RINGBUF)
            out->kernel_drops = sum;
        else
            out->pending_drops = sum;
    }
    free(v);
}

const char *collector_ebpf_error(const struct collector *c)
{
    return ((const struct ebpf_col *)c)->error;
}
