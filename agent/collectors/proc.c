/* proc.c - the process collector: one exec event per new process, with
 * pid, ppid, uid, exe, comm, bounded cmdline, parent name, start time, cwd,
 * tty, the ancestor chain, loginuid, session, process group and namespace
 * pids (procref_build()), and the container it runs in.
 *
 * Two modes (docs/collectors.md says what each misses):
 *  - netlink: the kernel's process-event connector (NETLINK_CONNECTOR,
 *    CN_IDX_PROC) reports every exec; each is completed from /proc. Needs
 *    CAP_NET_ADMIN, the initial pid namespace, and host_root's /proc showing
 *    our own pid namespace. A process that exits before we read /proc is
 *    counted as vanished; if the kernel refuses the subscription or the
 *    socket cannot be opened, the collector falls back to scanning.
 *  - scan: every scan_interval_ms, list host_root/proc and diff the set of
 *    (pid, starttime) against the previous pass; a process that lived
 *    between two passes is missed. The first pass of a running agent only
 *    records what exists (the whole process table is not reported at
 *    start); with cfg->report_existing (one-shot mode) it reports them all. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/execattr.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"
#include "bulwark/procref.h"

#define PROC_MAX_PIDS (1u << 20)
#define PROC_NL_BUF 8192
#define PROC_NL_TURN 64  /* datagrams read per poll callback */

struct pidkey {
    int pid;
    uint64_t start;
};

struct proc_col {
    struct collector base;
    const struct collector_env *env;
    uv_timer_t timer;
    uv_poll_t poll;
    bool timer_on, poll_on;
    int nl_fd;
    int closing;
    void (*done)(void *);
    void *done_arg;
    struct pidkey *known;
    size_t nknown;
    bool primed;
    bool logged_vanish, logged_overrun;
    int64_t btime;
    struct procref_lineage lineage;  /* ancestor chains of the processes seen */
};

static int key_cmp(const void *a, const void *b)
{
    const struct pidkey *x = a, *y = b;

    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void count_vanished(struct proc_col *p, int pid)
{
    p->base.errors++;
    if (!p->logged_vanish) {
        p->logged_vanish = true;
        log_msg(LOG_INFO, "proc", "process %d vanished before it could be read (counted, not logged again)",
                pid);
    }
}

/* Reads pid from /proc and emits its exec event. 1 emitted, 0 skipped. */
static int proc_emit_pid(struct proc_col *p, int pid)
{
    const struct collect_config *cfg = p->env->cfg;
    const Bulwark__V1__ContainerRef *cref;
    Bulwark__V1__ProcessRef *ref = NULL;
    Bulwark__V1__ProcessExec *x;
    Bulwark__V1__Event *ev = NULL;
    struct procfs_stat st;
    char path[PROCFS_PATH_MAX], cwd[PROCFS_PATH_MAX];
    int rc;

    rc = procref_build(cfg->host_root, pid, cfg->cmdline_max, p->btime, &p->lineage, &ref, &st);
    if (rc == BW_ENOTFOUND || rc == BW_EINVAL) {
        count_vanished(p, pid);
        return 0;
    }
    if (rc < 0)
        return rc;
    if ((st.pid == 2 || st.ppid == 2) && !*ref->cmdline) {  /* kernel thread */
        evb_msg_free(&ref->base);
        return 0;
    }
    rc = BW_ENOMEM;
    ev = evb_event_new(ref->start_time_ns, BULWARK__V1__SEVERITY__SEVERITY_INFO);
    if (!ev) {
        evb_msg_free(&ref->base);
        goto out;
    }
    ev->process = ref;
    x = evb_msg_new(&bulwark__v1__process_exec__descriptor);
    if (!x)
        goto out;
    ev->body_case = BULWARK__V1__EVENT__BODY_EXEC;
    ev->exec = x;
    x->tty_opt_case = BULWARK__V1__PROCESS_EXEC__TTY_OPT_TTY;
    x->tty = st.tty_nr != 0;
    x->tty_nr_opt_case = BULWARK__V1__PROCESS_EXEC__TTY_NR_OPT_TTY_NR;
    x->tty_nr = (uint32_t)st.tty_nr;
    if (procfs_path(path, sizeof path, cfg->host_root, "/proc/%d/cwd", pid) == 0 &&
        procfs_readlink(path, cwd, sizeof cwd) == 0 &&
        evb_set_str(&x->cwd, cwd, EVB_STR_MAX) < 0)
        goto out;
    cref = p->env->containers ? containers_lookup_pid(p->env->containers, pid) : NULL;
    if (cref && !(ev->container = containers_ref_dup(cref)))
        goto out;
    if (execattr_signs(cfg->host_root, pid, x, cref != NULL) < 0)
        goto out;
    rc = p->env->emit(p->env->emit_ctx, ev);
    ev = NULL;  /* owned (or freed and counted) by the agent */
    if (rc < 0) {
        rc = 0;
        goto out;
    }
    p->base.events++;
    rc = 1;
out:
    evb_msg_free(ev ? &ev->base : NULL);
    return rc;
}

/* One pass over host_root/proc: emits every (pid, starttime) not seen in the
 * previous pass, unless this is the first pass of a running agent. */
static int proc_scan(struct collector *c)
{
    struct proc_col *p = (struct proc_col *)c;
    const char *root = p->env->cfg->host_root;
    struct pidkey *cur = NULL, *tmp;
    size_t n = 0, cap = 0;
    char dir[PROCFS_PATH_MAX];
    struct dirent *de;
    int emitted = 0, rc = 0;
    DIR *d;

    if (!p->btime && procfs_btime(root, &p->btime) < 0)
        p->btime = 0;
    if (procfs_path(dir, sizeof dir, root, "/proc") < 0 || !(d = opendir(dir)))
        return BW_EIO;
    while ((de = readdir(d))) {
        int pid = procfs_pid_of(de->d_name);
        struct procfs_stat st;

        if (pid < 0)
            continue;
        if (procfs_read_stat(root, pid, &st) < 0) {
            count_vanished(p, pid);
            continue;
        }
        if (n == cap) {
            if (cap >= PROC_MAX_PIDS)
                break;
            cap = cap ? cap * 2 : 1024;
            tmp = realloc(cur, cap * sizeof *cur);
            if (!tmp) {
                rc = BW_ENOMEM;
                break;
            }
            cur = tmp;
        }
        cur[n++] = (struct pidkey){pid, st.starttime};
    }
    closedir(d);
    if (rc < 0) {
        free(cur);
        return rc;
    }
    if (n)
        qsort(cur, n, sizeof *cur, key_cmp);
    /* One-shot mode asks for what already runs: report it all. */
    for (size_t i = 0; (p->primed || p->env->cfg->report_existing) && i < n; i++) {
        const struct pidkey *old = p->known ? bsearch(&cur[i], p->known, p->nknown, sizeof *cur, key_cmp)
                                            : NULL;

        if (old && old->start == cur[i].start)
            continue;
        rc = proc_emit_pid(p, cur[i].pid);
        if (rc < 0)
            break;
        emitted += rc;
    }
    free(p->known);
    p->known = cur;
    p->nknown = n;
    p->primed = true;
    return rc < 0 ? rc : emitted;
}

/* ---------------------------------------------------------------- loop */

static void on_timer(uv_timer_t *t)
{
    struct proc_col *p = t->data;
    int rc = proc_scan(&p->base);

    if (rc < 0)
        log_msg(LOG_WARN, "proc", "scan of '%s/proc' failed: %s", p->env->cfg->host_root,
                bw_strerror(rc));
}

static int start_scan_mode(struct proc_col *p)
{
    uint32_t ms = p->env->cfg->scan_interval_ms ? p->env->cfg->scan_interval_ms : 1000;
    int rc;

    if (p->timer_on)
        return 0;
    rc = proc_scan(&p->base);  /* primes the known set */
    if (rc < 0)
        return rc;
    if (uv_timer_init(p->env->loop, &p->timer) < 0)
        return BW_EIO;
    p->timer.data = p;
    p->timer_on = true;
    uv_timer_start(&p->timer, on_timer, ms, ms);
    return 0;
}

static void on_poll_closed(uv_handle_t *h);

/* The kernel refused or lost the subscription: scan instead. */
static void netlink_give_up(struct proc_col *p, const char *why)
{
    log_msg(LOG_WARN, "proc", "process-event connector unusable (%s): falling back to /proc scans",
            why);
    if (p->poll_on && !uv_is_closing((uv_handle_t *)&p->poll)) {
        p->closing++;
        uv_close((uv_handle_t *)&p->poll, on_poll_closed);
    }
    if (start_scan_mode(p) < 0)
        log_msg(LOG_ERROR, "proc", "cannot start /proc scans: process collector stopped");
}

static void on_netlink(uv_poll_t *h, int status, int events)
{
    struct proc_col *p = h->data;
    _Alignas(struct nlmsghdr) char buf[PROC_NL_BUF];

    if (status < 0) {
        netlink_give_up(p, uv_strerror(status));
        return;
    }
    for (int turn = 0; turn < PROC_NL_TURN; turn++) {
        ssize_t r = recv(p->nl_fd, buf, sizeof buf, 0);
        unsigned int len = r > 0 ? (unsigned int)r : 0;

        if (r < 0 && errno == ENOBUFS) {
            p->base.errors++;
            if (!p->logged_overrun) {
                p->logged_overrun = true;
                log_msg(LOG_WARN, "proc", "process events were lost: the connector socket overran");
            }
            continue;
        }
        if (r <= 0)
            return;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
             nh = NLMSG_NEXT(nh, len)) {
            struct cn_msg *cn = NLMSG_DATA(nh);
            struct proc_event pe;  /* the payload is 4-byte aligned only: copy it */
            size_t plen;

            if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_NOOP ||
                nh->nlmsg_len < NLMSG_LENGTH(sizeof *cn) || cn->id.idx != CN_IDX_PROC ||
                cn->id.val != CN_VAL_PROC)
                continue;
            plen = nh->nlmsg_len - NLMSG_LENGTH(sizeof *cn);
            if (plen > cn->len)
                plen = cn->len;
            if (plen < offsetof(struct proc_event, event_data) + sizeof pe.event_data.exec)
                continue;
            memset(&pe, 0, sizeof pe);
            memcpy(&pe, cn->data, plen < sizeof pe ? plen : sizeof pe);
            if (pe.what == PROC_EVENT_NONE && pe.event_data.ack.err != 0) {
                netlink_give_up(p, strerror((int)pe.event_data.ack.err));
                return;
            }
            if (pe.what == PROC_EVENT_EXEC)
                (void)proc_emit_pid(p, (int)pe.event_data.exec.process_tgid);
        }
    }
}

/* Opens and subscribes the connector socket. 0 or a negative bw_err. */
static int netlink_open(struct proc_col *p)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
    enum { REQ_LEN = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(enum proc_cn_mcast_op)) };
    _Alignas(struct nlmsghdr) char req[NLMSG_SPACE(REQ_LEN)];
    struct nlmsghdr *nh = (struct nlmsghdr *)req;
    struct cn_msg *cn = NLMSG_DATA(nh);
    enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
    char self[64], path[PROCFS_PATH_MAX], want[32];
    int fd;

    /* connector pids are the initial namespace's: host_root/proc must be ours */
    snprintf(want, sizeof want, "%d", (int)getpid());
    if (procfs_path(path, sizeof path, p->env->cfg->host_root, "/proc/self") < 0 ||
        procfs_readlink(path, self, sizeof self) < 0 || strcmp(self, want) != 0)
        return BW_EINVAL;
    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR);
    if (fd < 0)
        return BW_EIO;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        goto fail;
    memset(req, 0, sizeof req);
    nh->nlmsg_len = REQ_LEN;
    nh->nlmsg_type = NLMSG_DONE;
    nh->nlmsg_pid = (uint32_t)getpid();
    cn->id.idx = CN_IDX_PROC;
    cn->id.val = CN_VAL_PROC;
    cn->len = sizeof op;
    memcpy(cn->data, &op, sizeof op);
    if (send(fd, req, REQ_LEN, 0) != (ssize_t)REQ_LEN)
        goto fail;
    p->nl_fd = fd;
    return 0;
fail:
    close(fd);
    return BW_EIO;
}

static int proc_start(struct collector *c)
{
    struct proc_col *p = (struct proc_col *)c;

    if (!p->env->loop)
        return BW_EINVAL;
    if (procfs_btime(p->env->cfg->host_root, &p->btime) < 0)
        p->btime = 0;
    if (netlink_open(p) == 0) {
        if (uv_poll_init(p->env->loop, &p->poll, p->nl_fd) == 0) {
            p->poll.data = p;
            p->poll_on = true;
            uv_poll_start(&p->poll, UV_READABLE, on_netlink);
            log_msg(LOG_INFO, "proc", "watching exec events through the process-event connector");
            return 0;
        }
        close(p->nl_fd);
        p->nl_fd = -1;
    }
    log_msg(LOG_INFO, "proc", "scanning '%s/proc' every %u ms", p->env->cfg->host_root,
            p->env->cfg->scan_interval_ms);
    return start_scan_mode(p);
}

static void close_one(struct proc_col *p)
{
    if (--p->closing == 0 && p->done) {
        void (*done)(void *) = p->done;

        p->done = NULL;
        done(p->done_arg);
    }
}

static void on_poll_closed(uv_handle_t *h)
{
    struct proc_col *p = h->data;

    p->poll_on = false;
    if (p->nl_fd >= 0)
        close(p->nl_fd);
    p->nl_fd = -1;
    close_one(p);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct proc_col *p = h->data;

    p->timer_on = false;
    close_one(p);
}

static void proc_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    struct proc_col *p = (struct proc_col *)c;

    p->done = done;
    p->done_arg = arg;
    p->closing++;  /* held until every close is issued */
    if (p->timer_on && !uv_is_closing((uv_handle_t *)&p->timer)) {
        p->closing++;
        uv_close((uv_handle_t *)&p->timer, on_timer_closed);
    }
    if (p->poll_on && !uv_is_closing((uv_handle_t *)&p->poll)) {
        p->closing++;
        uv_close((uv_handle_t *)&p->poll, on_poll_closed);
    }
    close_one(p);
}

static void proc_destroy(struct collector *c)
{
    struct proc_col *p = (struct proc_col *)c;

    if (p->nl_fd >= 0)
        close(p->nl_fd);
    free(p->known);
    procref_lineage_release(&p->lineage);
    free(p);
}

struct collector *collector_proc_new(const struct collector_env *env)
{
    struct proc_col *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->base.name = "proc";
    p->base.start = proc_start;
    p->base.scan = proc_scan;
    p->base.stop = proc_stop;
    p->base.destroy = proc_destroy;
    p->env = env;
    p->nl_fd = -1;
    return &p->base;
}
