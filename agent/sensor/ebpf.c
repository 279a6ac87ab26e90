/* ebpf.c - the eBPF sensor's user side: loads the kernel programs
 * (sensor.bpf.c, embedded as a bpftool skeleton), tells them which syscalls
 * to report (the filter map), reads their ring buffer on the agent's loop
 * (uv_poll on ring_buffer__epoll_fd) and turns each record into an event:
 *   - exec (sched_process_exec)      -> ProcessExec, full argv from the new image
 *   - connect / accept / accept4     -> NetConnection (OUTBOUND / INBOUND),
 *     with the remote name from the DNS answers seen in the process's
 *     network namespace (dnswatch.c, as the connection collector does)
 *   - open / openat / openat2, read-only, below sensor_read_paths (but
 *     /etc/ld.so.cache)              -> FileAccess(OPEN), with its fd and flags
 *   - the same, truncating a file opened for writing, any path
 *                                    -> FileAccess(WRITE), with its fd and flags
 *   - open / openat / openat2 for writing of a file named one of
 *     write_names (a cgroup's release_agent: the file collector does not
 *     watch the cgroup hierarchy a container mounts) -> FileAccess(WRITE)
 *   - socket of a family other than AF_UNIX, AF_INET, AF_INET6 and
 *     AF_NETLINK (AF_PACKET: raw frames) -> Syscall
 *   - symlink, symlinkat, link, linkat -> Syscall (Falco's target/linkpath,
 *     oldpath/newpath)
 *   - ptrace, mount, umount2, unshare, setns, init_module, finit_module,
 *     memfd_create, the setuid/setgid families, and dup/dup2/dup3 of a
 *     socket (fd redirection)       -> Syscall, with Falco's argument names
 * Other writes, renames, deletes and chmods stay with the file collector.
 * Every event's process carries the task's effective and permitted
 * capabilities, and an exec whether its executable is in an overlay's upper
 * layer (from the kernel: a process gone before /proc is read keeps both).
 *
 * A bounded pid table (exe, command line, parent) fills the process of the
 * syscall events: an exec sets a pid's entry, a fork copies its parent's,
 * an exit removes it. When the table is full a new process is reported
 * with its comm only (counted in errors), never by growing the table.
 * A record the kernel could not write (ring buffer full) is counted by the
 * kernel (sensor_stats.kernel_drops) and reported in the heartbeat. */
#include <assert.h>
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
#include "bulwark/dns.h"
#include "bulwark/dnswatch.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/execattr.h"
#include "bulwark/hash.h"
#include "bulwark/limits.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"
#include "bulwark/procref.h"
#include "bulwark/sensor.h"
#include "sensor_event.h"
#include "sensor.skel.h"

#define PIDS_CAP 16384u          /* pid table slots (a power of two) */
#define PIDS_MAX (PIDS_CAP / 4 * 3)
#define PID_STR_MAX 1024u        /* exe and command line kept per pid */
#define PID_USER_MAX 33u         /* user name kept per pid, NUL included */
#define PATHS_MAX 32             /* watched path prefixes */
#define EBPF_TURN 4096u          /* records read per loop turn */
#define CGROUPS_CAP 1024u        /* cgroup id -> container cache (direct-mapped) */

struct pid_entry {
    uint32_t pid;                /* 0: free slot */
    uint32_t ppid;
    char *exe, *cmdline;
    char comm[SENSOR_COMM];
    bool user_known;             /* user holds user_uid's name ("": none) */
    uint32_t user_uid;
    char user[PID_USER_MAX];
};

/* What a cgroup id was found to be: a container's runtime and id, or the
 * host. A short-lived process may be gone before its record is read; the
 * cgroup it ran in was usually seen before (cgroup v2 ids are not reused). */
struct cgroup_slot {
    uint64_t cgroup_id;          /* 0: free */
    bool host;
    char runtime[16];
    char id[BW_LIMIT_CONTAINER_ID + 1];
};

struct ebpf_col {
    struct collector base;
    const struct collector_env *env;
    struct sensor_bpf *skel;
    struct ring_buffer *rb;
    uv_poll_t poll;
    uv_timer_t timer;            /* reads what waits below the wake-up mark */
    bool poll_on, timer_on;
    int closing;
    void (*done)(void *);
    void *done_arg;
    int64_t boot_to_unix_ns;     /* add to a boot-clock time */
    struct pid_entry *pids;
    size_t npids;
    char *paths[PATHS_MAX];      /* watched prefixes, without a trailing '/' */
    size_t npaths;
    uint64_t records;
    uint32_t turn;               /* records read in this loop turn */
    struct cgroup_slot *cgroups; /* CGROUPS_CAP slots */
    bool logged_full, logged_bad;
    char error[SENSOR_WHY_MAX];
    int64_t btime;                   /* boot time, for /proc start times */
    struct procref_lineage lineage;   /* ancestor chains read at exec */
    struct dns_watch *dns;           /* remote names; NULL: none */
    struct collector_ticker ticker;     /* the namespace pass of the DNS watch */
    uint64_t host_netns;             /* of host_root's pid 1: a gone process's */
    bool dns_drained;                /* in this loop turn */
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

/* ------------------------------------------------------------ syscalls */

/* The syscalls the collector turns into events, and what the kernel
 * side must capture for each. */
enum want_kind { W_READ, W_NET, W_SYSCALL };

static const struct wanted {
    long nr;
    uint32_t want;
    enum want_kind kind;
    const char *name;            /* evt.type */
} wanted[] = {
#ifdef SYS_open
    {SYS_open, SENSOR_WANT_ENTER | SENSOR_WANT_READ | SENSOR_WANT_WNAME | SENSOR_WANT_PATH0, W_READ,
     "open"},
#endif
    {SYS_openat, SENSOR_WANT_ENTER | SENSOR_WANT_READ | SENSOR_WANT_WNAME | SENSOR_WANT_PATH1,
     W_READ, "openat"},
#ifdef SYS_openat2
    {SYS_openat2, SENSOR_WANT_ENTER | SENSOR_WANT_READ | SENSOR_WANT_WNAME | SENSOR_WANT_PATH1 |
     SENSOR_WANT_HOW2, W_READ, "openat2"},
#endif
    {SYS_connect, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK, W_NET, "connect"},
#ifdef SYS_accept
    {SYS_accept, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK_RES, W_NET, "accept"},
#endif
    {SYS_accept4, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK_RES, W_NET, "accept4"},
    {SYS_ptrace, SENSOR_WANT_ENTER, W_SYSCALL, "ptrace"},
    {SYS_mount, SENSOR_WANT_ENTER | SENSOR_WANT_PATH1 | SENSOR_WANT_PATH2, W_SYSCALL, "mount"},
    {SYS_umount2, SENSOR_WANT_ENTER | SENSOR_WANT_PATH0, W_SYSCALL, "umount2"},
    {SYS_unshare, SENSOR_WANT_ENTER, W_SYSCALL, "unshare"},
    {SYS_setns, SENSOR_WANT_ENTER, W_SYSCALL, "setns"},
    {SYS_init_module, SENSOR_WANT_ENTER | SENSOR_WANT_PATH2, W_SYSCALL, "init_module"},
    {SYS_finit_module, SENSOR_WANT_ENTER, W_SYSCALL, "finit_module"},
    {SYS_memfd_create, SENSOR_WANT_ENTER | SENSOR_WANT_PATH0, W_SYSCALL, "memfd_create"},
#ifdef SYS_dup2
    {SYS_dup2, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK, W_SYSCALL, "dup2"},
#endif
    {SYS_dup, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK, W_SYSCALL, "dup"},
    {SYS_dup3, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK, W_SYSCALL, "dup3"},
    {SYS_setuid, SENSOR_WANT_ENTER, W_SYSCALL, "setuid"},
    {SYS_setreuid, SENSOR_WANT_ENTER, W_SYSCALL, "setreuid"},
    {SYS_setresuid, SENSOR_WANT_ENTER, W_SYSCALL, "setresuid"},
    {SYS_setgid, SENSOR_WANT_ENTER, W_SYSCALL, "setgid"},
    {SYS_setregid, SENSOR_WANT_ENTER, W_SYSCALL, "setregid"},
    {SYS_setresgid, SENSOR_WANT_ENTER, W_SYSCALL, "setresgid"},
    {SYS_socket, SENSOR_WANT_ENTER | SENSOR_WANT_FAMILY, W_SYSCALL, "socket"},
    /* a socket made to take connections: its local address at exit (IPv4
     * and IPv6 sockets are reported, see other_reported) */
    {SYS_bind, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK, W_SYSCALL, "bind"},
    {SYS_listen, SENSOR_WANT_ENTER | SENSOR_WANT_SOCK, W_SYSCALL, "listen"},
    /* BPF program loads (Falco's "BPF Program Not Profiled") */
    {SYS_bpf, SENSOR_WANT_ENTER, W_SYSCALL, "bpf"},
    /* links (Falco's "Create Symlink/Hardlink Over Sensitive Files") */
#ifdef SYS_symlink
    {SYS_symlink, SENSOR_WANT_ENTER | SENSOR_WANT_PATH0 | SENSOR_WANT_PATH1_S1, W_SYSCALL,
     "symlink"},
#endif
    {SYS_symlinkat, SENSOR_WANT_ENTER | SENSOR_WANT_PATH0 | SENSOR_WANT_PATH2, W_SYSCALL,
     "symlinkat"},
#ifdef SYS_link
    {SYS_link, SENSOR_WANT_ENTER | SENSOR_WANT_PATH0 | SENSOR_WANT_PATH1_S1, W_SYSCALL, "link"},
#endif
    {SYS_linkat, SENSOR_WANT_ENTER | SENSOR_WANT_PATH1 | SENSOR_WANT_PATH3, W_SYSCALL, "linkat"},
};

/* Files whose opens for writing the kernel reports (by their last path
 * component; at most SENSOR_WNAMES, each shorter than SENSOR_WNAME_MAX):
 * a cgroup v1 hierarchy's release_agent, which a privileged container
 * writes to escape (the file collector does not watch the cgroup
 * hierarchy a container mounts). */
static const char *const write_names[] = {"release_agent"};
_Static_assert(sizeof write_names / sizeof write_names[0] <= SENSOR_WNAMES, "write names");

static const struct wanted *wanted_of(int nr)
{
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        if (wanted[i].nr == nr)
            return &wanted[i];
    return NULL;
}

/* ------------------------------------------------------------ records */

/* The strings of a record: s[i] points into data, n[i] its length
 * without a final NUL (an exec's argv keeps all of its NULs). BW_EINVAL
 * when the lengths do not fit the record. */
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
        if (n[i] && p[n[i] - 1] == '\0' && !(i == 1 && r->kind == SENSOR_EXEC))
            n[i]--;
        p += r->lens[i];
        left -= r->lens[i];
    }
    return 0;
}

/* The pid table's entry of the record's process. One the agent did not
 * see exec or fork (it started before the agent) is entered at its first
 * record with its exe and command line from /proc, once (a process gone
 * by then, its pid maybe another's, keeps its comm only). NULL when the
 * table is full. */
static struct pid_entry *rec_pid(struct ebpf_col *e, const struct sensor_rec *r)
{
    struct pid_entry *pe = pid_find(e, r->pid);
    char path[PROCFS_PATH_MAX], buf[PID_STR_MAX + 1];
    const char *root = e->env->cfg->host_root;
    struct procfs_stat st;
    long hz;

    if (pe || !(pe = pid_upsert(e, r->pid)))
        return pe;
    hz = sysconf(_SC_CLK_TCK);
    pe->ppid = r->ppid;
    memcpy(pe->comm, r->comm, SENSOR_COMM);
    /* the record's process, not one that took its pid since: the same
     * start (the kernel's start_boottime, /proc's in clock ticks) */
    if (hz <= 0 || procfs_read_stat(root, (int)r->pid, &st) < 0 ||
        st.starttime != r->start_ns / (1000000000u / (uint64_t)hz))
        return pe;
    if (procfs_read_cmdline(root, (int)r->pid, buf, PID_STR_MAX) == 0 && buf[0])
        pe->cmdline = evb_strdup(buf, PID_STR_MAX);
    if (procfs_path(path, sizeof path, root, "/proc/%u/exe", r->pid) == 0 &&
        procfs_readlink(path, buf, sizeof buf) == 0)
        pe->exe = evb_strdup(buf, PID_STR_MAX);
    return pe;
}

/* A ProcessRef of the record's process: the kernel's ids, and exe and
 * command line from its pid table entry pe (may be NULL). NULL on ENOMEM. */
static Bulwark__V1__ProcessRef *rec_process(struct ebpf_col *e, const struct sensor_rec *r,
                                            const struct pid_entry *pe)
{
    Bulwark__V1__ProcessRef *p = evb_msg_new(&bulwark__v1__process_ref__descriptor);
    char comm[SENSOR_COMM + 1], pcomm[SENSOR_COMM + 1];

    if (!p)
        return NULL;
    memcpy(comm, r->comm, SENSOR_COMM);
    memcpy(pcomm, r->pcomm, SENSOR_COMM);
    comm[SENSOR_COMM] = pcomm[SENSOR_COMM] = '\0';
    p->pid = (int32_t)r->pid;
    p->tid = (int32_t)r->tid;
    p->ppid = (int32_t)r->ppid;
    p->uid_opt_case = BULWARK__V1__PROCESS_REF__UID_OPT_UID;  /* the kernel always knows */
    p->uid = r->uid;
    p->gid_opt_case = BULWARK__V1__PROCESS_REF__GID_OPT_GID;
    p->gid = r->gid;
    p->cgroup_id = r->cgroup_id;
    p->start_time_ns = e->boot_to_unix_ns + (int64_t)r->start_ns;
    p->cap_effective_opt_case = BULWARK__V1__PROCESS_REF__CAP_EFFECTIVE_OPT_CAP_EFFECTIVE;
    p->cap_effective = r->cap_eff;  /* the kernel's, at the event */
    p->cap_permitted_opt_case = BULWARK__V1__PROCESS_REF__CAP_PERMITTED_OPT_CAP_PERMITTED;
    p->cap_permitted = r->cap_prm;
    if (evb_set_str(&p->name, comm, EVB_STR_MAX) < 0 ||
        evb_set_str(&p->parent_name, pcomm, EVB_STR_MAX) < 0 ||
        (pe && pe->exe && evb_set_str(&p->exe, pe->exe, EVB_STR_MAX) < 0) ||
        (pe && pe->cmdline && evb_set_str(&p->cmdline, pe->cmdline, EVB_CMDLINE_MAX) < 0)) {
        evb_msg_free(&p->base);
        return NULL;
    }
    return p;
}

/* The container of the record's process: by its cgroup id when that was
 * seen before, else from the cgroup path of /proc/PID (the containers
 * module), remembered by cgroup id. A process gone by now whose cgroup was
 * never seen is reported as a host process. */
static const Bulwark__V1__ContainerRef *rec_container(struct ebpf_col *e,
                                                      const struct sensor_rec *r)
{
    struct cgroup_slot *c;
    const Bulwark__V1__ContainerRef *ref;
    char path[PROCFS_PATH_MAX];

    if (!e->env->containers)
        return NULL;
    c = &e->cgroups[bw_hash(&r->cgroup_id, sizeof r->cgroup_id) & (CGROUPS_CAP - 1)];
    if (r->cgroup_id && c->cgroup_id == r->cgroup_id)
        return c->host ? NULL : containers_lookup_id(e->env->containers, c->runtime, c->id);
    ref = containers_lookup_pid(e->env->containers, (int)r->pid);
    if (!r->cgroup_id)
        return ref;
    if (ref && strlen(ref->runtime) < sizeof c->runtime && strlen(ref->id) < sizeof c->id) {
        *c = (struct cgroup_slot){.cgroup_id = r->cgroup_id};
        memcpy(c->runtime, ref->runtime, strlen(ref->runtime) + 1);
        memcpy(c->id, ref->id, strlen(ref->id) + 1);
    } else if (!ref && procfs_path(path, sizeof path, e->env->cfg->host_root, "/proc/%u",
                                   r->pid) == 0 && access(path, F_OK) == 0) {
        *c = (struct cgroup_slot){.cgroup_id = r->cgroup_id, .host = true};
    }
    return ref;
}

/* user.name of the record's process: its uid's name in the passwd file
 * under its root, looked up once per process and uid (at exec, or at its
 * first record when it started before the agent) and kept in the pid
 * table, which forks copy. NULL when the name is not known. */
static const char *rec_user(struct ebpf_col *e, const struct sensor_rec *r,
                            struct pid_entry *pe, bool in_container)
{
    if (!pe)
        return NULL;
    if (!pe->user_known || pe->user_uid != r->uid) {
        pe->user_known = true;
        pe->user_uid = r->uid;
        if (execattr_user(e->env->cfg->host_root, (int)r->pid, r->uid, in_container, pe->user,
                          sizeof pe->user) < 0)
            pe->user[0] = '\0';
    }
    return pe->user[0] ? pe->user : NULL;
}

/* A new event of the record's time and process, with its container. */
static Bulwark__V1__Event *rec_event(struct ebpf_col *e, const struct sensor_rec *r)
{
    Bulwark__V1__Event *ev = evb_event_new(e->boot_to_unix_ns + (int64_t)r->ts_ns,
                                           BULWARK__V1__SEVERITY__SEVERITY_INFO);
    const Bulwark__V1__ContainerRef *cref;
    struct pid_entry *pe;
    const char *user;

    if (!ev)
        return NULL;
    /* rec_container leaves the pid table as it is: pe stays valid */
    pe = rec_pid(e, r);
    ev->process = rec_process(e, r, pe);
    if (!ev->process)
        goto fail;
    cref = rec_container(e, r);
    if (cref && !(ev->container = containers_ref_dup(cref)))
        goto fail;
    user = rec_user(e, r, pe, cref != NULL);
    if (user && evb_set_str(&ev->process->user, user, EVB_STR_MAX) < 0)
        goto fail;
    return ev;
fail:
    evb_msg_free(&ev->base);
    return NULL;
}

/* rec_event() with an empty body of kind body_case (message d). */
static Bulwark__V1__Event *rec_event_body(struct ebpf_col *e, const struct sensor_rec *r,
                                          Bulwark__V1__Event__BodyCase body_case,
                                          const ProtobufCMessageDescriptor *d)
{
    Bulwark__V1__Event *ev = rec_event(e, r);
    void *body = ev ? evb_msg_new(d) : NULL;

    if (!body) {
        evb_msg_free(ev ? &ev->base : NULL);
        return NULL;
    }
    ev->body_case = body_case;
    ev->exec = body;  /* the bodies share one union */
    return ev;
}

static void ebpf_emit(struct ebpf_col *e, Bulwark__V1__Event *ev)
{
    if (e->env->emit(e->env->emit_ctx, ev) == 0)
        e->base.events++;
}

/* The ancestors of the record's process from the pid table (parent
 * first), for an exec whose process was gone before /proc could give them:
 * a process that lives for microseconds keeps its lineage (proc.aname,
 * proc.pcmdline). 0 or BW_ENOMEM. */
static int pid_lineage(struct ebpf_col *e, const struct sensor_rec *r,
                       Bulwark__V1__ProcessRef *p)
{
    uint32_t pid = r->ppid;

    if (p->n_ancestors)
        return 0;
    p->ancestors = calloc(PROCREF_ANCESTORS_MAX, sizeof *p->ancestors);
    if (!p->ancestors)
        return BW_ENOMEM;
    for (int i = 0; i < PROCREF_ANCESTORS_MAX && pid; i++) {
        const struct pid_entry *pe = pid_find(e, pid);
        Bulwark__V1__ProcessAncestor *a;
        char comm[SENSOR_COMM + 1];

        if (!pe)
            break;
        a = evb_msg_new(&bulwark__v1__process_ancestor__descriptor);
        if (!a)
            return BW_ENOMEM;
        p->ancestors[p->n_ancestors++] = a;
        memcpy(comm, pe->comm, SENSOR_COMM);
        comm[SENSOR_COMM] = '\0';
        a->pid = (int32_t)pid;
        if (evb_set_str(&a->name, comm, EVB_STR_MAX) < 0 ||
            (pe->exe && evb_set_str(&a->exe, pe->exe, EVB_STR_MAX) < 0) ||
            (i == 0 && pe->cmdline &&
             evb_set_str(&p->parent_cmdline, pe->cmdline, EVB_CMDLINE_MAX) < 0))
            return BW_ENOMEM;
        pid = pe->ppid != pid ? pe->ppid : 0;
    }
    return 0;
}

/* Records the new image in the pid table, and reports it when asked. */
static void on_exec(struct ebpf_col *e, const struct sensor_rec *r, const char *s[], size_t n[],
                    bool report)
{
    struct pid_entry *pe = pid_upsert(e, r->pid);
    const struct collect_config *cfg = e->env->cfg;
    size_t cap = cfg->cmdline_max && cfg->cmdline_max < EVB_CMDLINE_MAX ? cfg->cmdline_max
                                                                           : EVB_CMDLINE_MAX;
    char *cmd = malloc(cap + 1), path[PROCFS_PATH_MAX], cwd[PROCFS_PATH_MAX];
    Bulwark__V1__Event *ev = NULL;
    size_t len = n[1] < cap ? n[1] : cap;

    if (!cmd)
        return;
    memcpy(cmd, s[1], len);
    procfs_argv_flatten(cmd, len);
    if (pe) {
        pe->ppid = r->ppid;
        memcpy(pe->comm, r->comm, SENSOR_COMM);
        pe->exe = evb_strndup_utf8(s[0], n[0], PID_STR_MAX);
        pe->cmdline = evb_strdup(cmd, PID_STR_MAX);
    }
    if (!report)
        goto out;
    ev = rec_event_body(e, r, BULWARK__V1__EVENT__BODY_EXEC,
                        &bulwark__v1__process_exec__descriptor);
    if (!ev)
        goto out;
    ev->exec->tty_opt_case = BULWARK__V1__PROCESS_EXEC__TTY_OPT_TTY;
    ev->exec->tty = r->tty != 0;
    ev->exec->tty_nr_opt_case = BULWARK__V1__PROCESS_EXEC__TTY_NR_OPT_TTY_NR;
    ev->exec->tty_nr = r->tty;
    ev->process->exe_from_memfd = (r->flags & SENSOR_F_EXE_MEMFD) != 0;
    /* the table keeps a shorter command line than the event carries */
    if (evb_set_str(&ev->process->cmdline, cmd, EVB_CMDLINE_MAX) < 0)
        goto out;
    if (n[0] && s[0][0] == '/') {
        char *exe = evb_strndup_utf8(s[0], n[0], EVB_STR_MAX);

        if (!exe)
            goto out;
        free(ev->process->exe);
        ev->process->exe = exe;
    }
    if (procfs_path(path, sizeof path, cfg->host_root, "/proc/%u/cwd", r->pid) == 0 &&
        procfs_readlink(path, cwd, sizeof cwd) == 0 &&
        evb_set_str(&ev->exec->cwd, cwd, EVB_STR_MAX) < 0)
        goto out;
    /* what /proc adds, as for the proc collector's execs: lineage, sessions,
     * login uid, capabilities, the attack signs (a process already gone
     * keeps what the kernel record said) */
    if (!e->btime && procfs_btime(cfg->host_root, &e->btime) < 0)
        e->btime = 0;
    if (execattr_enrich(cfg->host_root, (int)r->pid, e->btime, &e->lineage, ev) == BW_ENOMEM ||
        pid_lineage(e, r, ev->process) < 0)
        goto out;
    /* the kernel saw the executable itself, also of a process gone by now */
    ev->exec->exe_upper_layer = (r->flags & SENSOR_F_EXE_UPPER) != 0;
    ebpf_emit(e, ev);
    ev = NULL;
out:
    evb_msg_free(ev ? &ev->base : NULL);
    free(cmd);
}

static void on_fork(struct ebpf_col *e, const struct sensor_rec *r)
{
    const struct pid_entry *parent = pid_find(e, r->ppid);
    char *exe, *cmd;
    struct pid_entry *pe;

    /* A child of a process the table does not hold is entered from /proc
     * at its first record (rec_pid), as its parent would be. */
    if (!parent) {
        pid_remove(e, r->pid);
        return;
    }
    exe = parent->exe ? strdup(parent->exe) : NULL;
    cmd = parent->cmdline ? strdup(parent->cmdline) : NULL;
    pe = pid_upsert(e, r->pid);  /* may move nothing: parent stays valid */
    if (!pe) {
        free(exe);
        free(cmd);
        return;
    }
    pe->ppid = r->ppid;
    memcpy(pe->comm, r->comm, SENSOR_COMM);
    pe->exe = exe;
    pe->cmdline = cmd;
    if (parent->user_known) {  /* the same uid and root, until it changes them */
        pe->user_known = true;
        pe->user_uid = parent->user_uid;
        memcpy(pe->user, parent->user, sizeof pe->user);
    }
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
        procfs_path_normalize(out);
        return 0;
    }
    rc = dirfd == AT_FDCWD
             ? procfs_path(link, sizeof link, e->env->cfg->host_root, "/proc/%u/cwd", r->pid)
             : procfs_path(link, sizeof link, e->env->cfg->host_root, "/proc/%u/fd/%ld", r->pid,
                           dirfd);
    if (rc < 0 || (rc = procfs_readlink(link, base, sizeof base)) < 0)
        return rc;
    /* "(unreachable)/..." (a cwd outside the process's root), "socket:[N]"
     * (a dirfd that is no directory): nothing to resolve against */
    if (base[0] != '/')
        return BW_EINVAL;
    if ((size_t)snprintf(out, cap, "%s/%.*s", strcmp(base, "/") ? base : "", (int)n, p) >= cap)
        return BW_ETOOBIG;
    procfs_path_normalize(out);
    return 0;
}

/* Whether the path p (n bytes) names a file of write_names. */
static bool write_named(const char *p, size_t n)
{
    const char *slash = memrchr(p, '/', n);
    size_t off = slash ? (size_t)(slash - p) + 1 : 0;

    for (size_t i = 0; i < sizeof write_names / sizeof write_names[0]; i++)
        if (n - off == strlen(write_names[i]) && !memcmp(p + off, write_names[i], n - off))
            return true;
    return false;
}

struct flag_name {
    uint64_t bit;
    const char *name;
};

/* An open's flags as Falco renders them ("O_TRUNC|O_CREAT|O_WRONLY"), in
 * its order. */
static void open_flags_str(char *out, size_t cap, uint64_t flags)
{
    static const struct flag_name names[] = {
        {O_DIRECTORY, "O_DIRECTORY"}, {O_DIRECT, "O_DIRECT"}, {O_TRUNC, "O_TRUNC"},
        {O_SYNC, "O_SYNC"},           {O_NONBLOCK, "O_NONBLOCK"}, {O_EXCL, "O_EXCL"},
        {O_DSYNC, "O_DSYNC"},         {O_APPEND, "O_APPEND"},   {O_CREAT, "O_CREAT"},
        {0, NULL},
    };
    static const struct flag_name after[] = {
        {O_CLOEXEC, "O_CLOEXEC"}, {O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"},
        {O_NOCTTY, "O_NOCTTY"},   {O_PATH, "O_PATH"},         {0, NULL},
    };
    static const char *const acc[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_RDWR"};
    size_t used = 0;

    out[0] = '\0';
    for (const struct flag_name *t = names; t->name; t++)
        if ((flags & t->bit) == t->bit && !(t->bit == O_DSYNC && (flags & O_SYNC) == O_SYNC))
            used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s|", t->name);
    used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s", acc[flags & O_ACCMODE]);
    for (const struct flag_name *t = after; t->name; t++)
        if ((flags & t->bit) == t->bit)
            used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "|%s", t->name);
}

static void on_open(struct ebpf_col *e, const struct sensor_rec *r, const char *s[], size_t n[])
{
    char path[PROCFS_PATH_MAX], raw[PROCFS_PATH_MAX], flagbuf[192];
    uint64_t flags;
    long dirfd;
    bool write, trunc;
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
    /* Reads, truncations of a file opened for writing (any path, as the
     * kernel reports them) and writes of the write names; the other writes,
     * creations and the rest come from the file collector. */
    trunc = (flags & O_ACCMODE) != O_RDONLY && (flags & O_TRUNC);
    write = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
    /* a failed read is reported when its path climbs (the kernel's
     * path_climbs): a directory traversal probe */
    if ((r->res < 0 && write) || (write && !trunc && !write_named(s[0], n[0])))
        return;
    /* The dynamic loader reads its cache at every exec: an event per exec
     * that no rule asks for. */
    if (abs_path(e, r, s[0], n[0], dirfd, path, sizeof path) < 0 ||
        (!write && (!watched(e, path) || !strcmp(path, "/etc/ld.so.cache"))))
        return;
    ev = rec_event_body(e, r, BULWARK__V1__EVENT__BODY_FILE, &bulwark__v1__file_access__descriptor);
    if (!ev)
        return;
    ev->file->op = write ? BULWARK__V1__FILE_ACCESS__OP__WRITE : BULWARK__V1__FILE_ACCESS__OP__OPEN;
    ev->file->fd_opt_case = BULWARK__V1__FILE_ACCESS__FD_OPT_FD;
    ev->file->fd = r->res < 0 ? -1 : r->res;  /* Falco's fd.num of a failed open */
    ev->file->res_opt_case = BULWARK__V1__FILE_ACCESS__RES_OPT_RES;
    ev->file->res = r->res;
    open_flags_str(flagbuf, sizeof flagbuf, flags);
    /* the path as given, when it is not the normalized one (fd.nameraw) */
    snprintf(raw, sizeof raw, "%.*s", (int)strnlen(s[0], n[0]), s[0]);
    if (evb_set_str(&ev->file->path, path, EVB_STR_MAX) < 0 ||
        evb_set_str(&ev->file->open_flags, flagbuf, sizeof flagbuf) < 0 ||
        (strcmp(raw, path) != 0 && evb_set_str(&ev->file->path_raw, raw, EVB_STR_MAX) < 0)) {
        evb_msg_free(&ev->base);
        return;
    }
    ebpf_emit(e, ev);
}

static int addr_str(const struct sensor_tuple *t, const uint8_t *a, char **out)
{
    char buf[INET6_ADDRSTRLEN];

    if (!inet_ntop(t->family, a, buf, sizeof buf))
        return BW_EINVAL;
    return evb_set_str(out, buf, EVB_STR_MAX);
}

/* The network namespace of pid, or the host's when pid is gone (then
 * *own is false). */
static uint64_t pid_netns(const char *root, uint32_t pid, uint64_t host, bool *own)
{
    char path[PROCFS_PATH_MAX], link[64];
    uint64_t ino = 0;

    if (procfs_path(path, sizeof path, root, "/proc/%u/ns/net", pid) == 0 &&
        procfs_readlink(path, link, sizeof link) == 0)
        ino = procfs_link_inode(link, "net");
    *own = ino != 0;
    return ino ? ino : host;
}

/* The name c's remote address was resolved from in the namespace of r's
 * process, and that namespace. The DNS sockets are drained once per loop
 * turn: every record of the turn was written before it began, so the
 * answers that preceded its connects are queued by then. */
static int conn_name(struct ebpf_col *e, const struct sensor_rec *r,
                     Bulwark__V1__NetConnection *c)
{
    const struct sensor_tuple *t = &r->tuple;
    const char *name;
    uint64_t netns;
    bool own;

    if (!e->dns)
        return 0;
    if (!e->dns_drained) {
        dns_watch_drain(e->dns);
        e->dns_drained = true;
    }
    netns = pid_netns(e->env->cfg->host_root, r->pid, e->host_netns, &own);
    name = dns_watch_name(e->dns, netns, t->family == AF_INET ? 4 : 6, t->daddr);
    if (own || name)
        c->netns_inode = netns;
    return name ? evb_set_str(&c->remote_name, name, DNS_NAME_MAX) : 0;
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
    ev = rec_event_body(e, r, BULWARK__V1__EVENT__BODY_NET,
                        &bulwark__v1__net_connection__descriptor);
    if (!ev)
        return;
    c = ev->net;
    c->direction = inbound ? BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND
                           : BULWARK__V1__NET_CONNECTION__DIRECTION__OUTBOUND;
    c->protocol = t->proto == IPPROTO_UDP ? BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP
                                          : BULWARK__V1__NET_CONNECTION__PROTOCOL__TCP;
    c->local_port = t->sport;
    c->remote_port = t->dport;
    c->res_opt_case = BULWARK__V1__NET_CONNECTION__RES_OPT_RES;
    c->res = r->res;
    if (addr_str(t, t->saddr, &c->local_addr) < 0 || addr_str(t, t->daddr, &c->remote_addr) < 0 ||
        conn_name(e, r, c) < 0) {
        evb_msg_free(&ev->base);
        return;
    }
    ebpf_emit(e, ev);
}

/* ------------------------------------------------- other syscalls */

static const struct flag_name clone_ns[] = {
    {0x00020000, "CLONE_NEWNS"},   {0x02000000, "CLONE_NEWCGROUP"}, {0x04000000, "CLONE_NEWUTS"},
    {0x08000000, "CLONE_NEWIPC"},  {0x10000000, "CLONE_NEWUSER"},   {0x20000000, "CLONE_NEWPID"},
    {0x40000000, "CLONE_NEWNET"},  {0x00000080, "CLONE_NEWTIME"},   {0, NULL},
};

static const struct flag_name ptrace_req[] = {
    {0, "PTRACE_TRACEME"},  {1, "PTRACE_PEEKTEXT"},  {2, "PTRACE_PEEKDATA"}, {4, "PTRACE_POKETEXT"},
    {5, "PTRACE_POKEDATA"}, {6, "PTRACE_POKEUSR"},   {7, "PTRACE_CONT"},     {8, "PTRACE_KILL"},
    {9, "PTRACE_SINGLESTEP"}, {13, "PTRACE_SETREGS"}, {16, "PTRACE_ATTACH"}, {17, "PTRACE_DETACH"},
    {0x4206, "PTRACE_SEIZE"}, {0, NULL},
};

static const struct flag_name socket_family[] = {
    {1, "AF_UNIX"},      {2, "AF_INET"},   {3, "AF_AX25"},     {4, "AF_IPX"},
    {5, "AF_APPLETALK"}, {9, "AF_X25"},    {10, "AF_INET6"},   {15, "AF_KEY"},
    {16, "AF_NETLINK"},  {17, "AF_PACKET"}, {29, "AF_CAN"},    {31, "AF_BLUETOOTH"},
    {38, "AF_ALG"},      {40, "AF_VSOCK"}, {44, "AF_XDP"},     {0, NULL},
};

static const struct flag_name socket_type[] = {
    {1, "SOCK_STREAM"}, {2, "SOCK_DGRAM"}, {3, "SOCK_RAW"}, {4, "SOCK_RDM"},
    {5, "SOCK_SEQPACKET"}, {6, "SOCK_DCCP"}, {10, "SOCK_PACKET"}, {0, NULL},
};

static const struct flag_name bpf_cmd[] = {
    {0, "BPF_MAP_CREATE"},       {1, "BPF_MAP_LOOKUP_ELEM"}, {2, "BPF_MAP_UPDATE_ELEM"},
    {3, "BPF_MAP_DELETE_ELEM"},  {4, "BPF_MAP_GET_NEXT_KEY"}, {5, "BPF_PROG_LOAD"},
    {6, "BPF_OBJ_PIN"},          {7, "BPF_OBJ_GET"},         {8, "BPF_PROG_ATTACH"},
    {9, "BPF_PROG_DETACH"},      {17, "BPF_RAW_TRACEPOINT_OPEN"}, {28, "BPF_LINK_CREATE"},
    {0, NULL},
};

static bool ptrace_reported(uint64_t req)
{
    static const uint64_t reported[] = {0, 4, 5, 6, 13, 16, 0x4206};  /* TRACEME .. SEIZE */

    for (size_t i = 0; i < sizeof reported / sizeof reported[0]; i++)
        if (req == reported[i])
            return true;
    return false;
}

/* Whether a syscall record becomes an event. fd redirection is reported
 * for sockets only (a shell's stdio pointed at a connection), not for
 * every dup of a file; bind and listen for IPv4 and IPv6 sockets (a
 * program's own UNIX sockets are not the network); ptrace for the requests
 * that take hold of or change another process only (a debugger's reads
 * and steps would be thousands of events); bpf for program loads only
 * (BPF agents look maps up all the time). */
static bool other_reported(const char *name, const struct sensor_rec *r, bool inet)
{
    if (!strncmp(name, "dup", 3))
        return inet && r->res >= 0;
    if (!strcmp(name, "bind") || !strcmp(name, "listen"))
        return inet;
    if (!strcmp(name, "ptrace"))
        return ptrace_reported(r->args[0]);
    if (!strcmp(name, "bpf"))
        return r->args[0] == 5;  /* BPF_PROG_LOAD */
    return true;
}

/* "CLONE_NEWNS|CLONE_NEWUSER" (Falco's rendering of a flag set), or the
 * number when no flag is known. */
static void flags_str(char *out, size_t cap, uint64_t v, const struct flag_name *t)
{
    size_t used = 0;

    out[0] = '\0';
    for (; t->name; t++)
        if (v & t->bit)
            used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s%s",
                                     used ? "|" : "", t->name);
    if (!used)
        snprintf(out, cap, "%llu", (unsigned long long)v);
}

static void enum_str(char *out, size_t cap, uint64_t v, const struct flag_name *t)
{
    for (; t->name; t++)
        if (v == t->bit) {
            snprintf(out, cap, "%s", t->name);
            return;
        }
    snprintf(out, cap, "%llu", (unsigned long long)v);
}

/* Adds evt.arg.key = val to x (bounded by BW_LIMIT_SYSCALL_ARGS). */
static int arg_add(Bulwark__V1__Syscall *x, const char *key, const char *val, size_t vlen)
{
    Bulwark__V1__Syscall__ArgsEntry *a, **tmp;

    if (x->n_args >= BW_LIMIT_SYSCALL_ARGS)
        return 0;
    tmp = realloc(x->args, (x->n_args + 1) * sizeof *tmp);
    if (!tmp)
        return BW_ENOMEM;
    x->args = tmp;
    a = evb_msg_new(&bulwark__v1__syscall__args_entry__descriptor);
    if (!a)
        return BW_ENOMEM;
    x->args[x->n_args++] = a;
    a->key = evb_strdup(key, BW_LIMIT_SYSCALL_NAME);
    a->value = evb_strndup_utf8(val, vlen, EVB_STR_MAX);
    return a->key && a->value ? 0 : BW_ENOMEM;
}

static int arg_num(Bulwark__V1__Syscall *x, const char *key, int64_t v)
{
    char buf[24];

    return arg_add(x, key, buf, (size_t)snprintf(buf, sizeof buf, "%lld", (long long)v));
}

static int arg_str(Bulwark__V1__Syscall *x, const char *key, const char *s, size_t n)
{
    return n ? arg_add(x, key, s, n) : 0;
}

static bool link_syscall(const char *name)
{
    return !strcmp(name, "symlink") || !strcmp(name, "symlinkat") || !strcmp(name, "link") ||
           !strcmp(name, "linkat");
}

/* symlink(target, linkpath), symlinkat(target, linkdirfd, linkpath),
 * link(oldpath, newpath), linkat(olddir, oldpath, newdir, newpath, flags):
 * the paths as the process gave them (s0 and s1), as Falco's exit events
 * carry them. */
static int link_args(Bulwark__V1__Syscall *x, const char *name, const __u64 *a, const char *s[],
                     size_t n[])
{
    bool sym = name[0] == 's', at = name[strlen(name) - 1] == 't';
    int rc = arg_str(x, sym ? "target" : "oldpath", s[0], n[0]);

    if (!rc && at && sym)
        rc = arg_num(x, "linkdirfd", (int32_t)a[1]);
    if (!rc && at && !sym)
        rc = arg_num(x, "olddir", (int32_t)a[0]);
    if (!rc && at && !sym)
        rc = arg_num(x, "newdir", (int32_t)a[2]);
    if (!rc)
        rc = arg_str(x, sym ? "linkpath" : "newpath", s[1], n[1]);
    if (!rc && at && !sym)
        rc = arg_num(x, "flags", (int32_t)a[4]);
    return rc;
}

/* The arguments of syscall `name` as Falco names them. */
static int syscall_args(Bulwark__V1__Syscall *x, const char *name, const struct sensor_rec *r,
                        const char *s[], size_t n[])
{
    const __u64 *a = r->args;
    char buf[160];
    int rc = 0;

    if (!strcmp(name, "ptrace")) {
        enum_str(buf, sizeof buf, a[0], ptrace_req);
        rc = arg_add(x, "request", buf, strlen(buf));
        if (!rc)
            rc = arg_num(x, "pid", (int32_t)a[1]);
    } else if (!strcmp(name, "mount")) {
        rc = arg_str(x, "dir", s[0], n[0]);
        if (!rc)
            rc = arg_str(x, "type", s[1], n[1]);
        if (!rc)
            rc = arg_num(x, "flags", (int64_t)a[3]);
    } else if (!strcmp(name, "umount2")) {
        rc = arg_str(x, "name", s[0], n[0]);
        if (!rc)
            rc = arg_num(x, "flags", (int32_t)a[1]);
    } else if (!strcmp(name, "unshare") || !strcmp(name, "setns")) {
        bool un = name[0] == 'u';

        flags_str(buf, sizeof buf, un ? a[0] : a[1], clone_ns);
        rc = un ? 0 : arg_num(x, "fd", (int32_t)a[0]);
        if (!rc)
            rc = arg_add(x, un ? "flags" : "nstype", buf, strlen(buf));
    } else if (!strcmp(name, "init_module")) {
        rc = arg_num(x, "length", (int64_t)a[1]);
        if (!rc)
            rc = arg_str(x, "uargs", s[1], n[1]);
    } else if (!strcmp(name, "finit_module")) {
        rc = arg_num(x, "fd", (int32_t)a[0]);
        if (!rc)
            rc = arg_num(x, "flags", (int32_t)a[2]);
    } else if (!strcmp(name, "memfd_create")) {
        rc = arg_str(x, "name", s[0], n[0]);
        if (!rc)
            rc = arg_num(x, "flags", (int32_t)a[1]);
    } else if (!strcmp(name, "socket")) {
        enum_str(buf, sizeof buf, a[0], socket_family);
        rc = arg_add(x, "domain", buf, strlen(buf));
        enum_str(buf, sizeof buf, a[1] & 0xf, socket_type);
        if (!rc)
            rc = arg_add(x, "type", buf, strlen(buf));
        if (!rc)
            rc = arg_num(x, "proto", (int32_t)a[2]);
    } else if (!strncmp(name, "dup", 3)) {
        rc = arg_num(x, "oldfd", (int32_t)a[0]);
        if (!rc && name[3])
            rc = arg_num(x, "newfd", (int32_t)a[1]);
        if (!rc && name[3] == '3')
            rc = arg_num(x, "flags", (int32_t)a[2]);
    } else if (!strcmp(name, "bind")) {
        rc = arg_num(x, "fd", (int32_t)a[0]);
        if (!rc && (r->tuple.family == AF_INET || r->tuple.family == AF_INET6) &&
            inet_ntop(r->tuple.family, r->tuple.saddr, buf, INET6_ADDRSTRLEN)) {
            size_t l = strlen(buf);

            snprintf(buf + l, sizeof buf - l, ":%u", r->tuple.sport);
            rc = arg_add(x, "addr", buf, strlen(buf));
        }
    } else if (!strcmp(name, "listen")) {
        rc = arg_num(x, "fd", (int32_t)a[0]);
        if (!rc)
            rc = arg_num(x, "backlog", (int32_t)a[1]);
    } else if (!strcmp(name, "bpf")) {
        enum_str(buf, sizeof buf, a[0], bpf_cmd);
        rc = arg_add(x, "cmd", buf, strlen(buf));
    } else if (link_syscall(name)) {
        rc = link_args(x, name, a, s, n);
    } else {  /* the setuid and setgid families: their ids in order */
        static const char *const uid_names[] = {"uid", "ruid", "euid", "suid"};
        static const char *const gid_names[] = {"gid", "rgid", "egid", "sgid"};
        const char *const *names = strstr(name, "uid") ? uid_names : gid_names;
        int first = strncmp(name, "setres", 6) && strncmp(name, "setre", 5) ? 0 : 1;
        int count = !strncmp(name, "setres", 6) ? 3 : !strncmp(name, "setre", 5) ? 2 : 1;

        for (int i = 0; i < count && !rc; i++)
            rc = arg_num(x, names[first + i], (int32_t)a[i]);
    }
    return rc;
}

/* A socket's two ends as a connection (to fill fd.sip, fd.cport, ...). */
static Bulwark__V1__NetConnection *tuple_conn(const struct sensor_tuple *t)
{
    Bulwark__V1__NetConnection *c = evb_msg_new(&bulwark__v1__net_connection__descriptor);

    if (!c)
        return NULL;
    c->protocol = t->proto == IPPROTO_UDP ? BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP
                                          : BULWARK__V1__NET_CONNECTION__PROTOCOL__TCP;
    c->local_port = t->sport;
    c->remote_port = t->dport;
    if (addr_str(t, t->saddr, &c->local_addr) < 0 || addr_str(t, t->daddr, &c->remote_addr) < 0) {
        evb_msg_free(&c->base);
        return NULL;
    }
    return c;
}

static void on_other(struct ebpf_col *e, const struct sensor_rec *r, const char *name,
                     const char *s[], size_t n[])
{
    const struct sensor_tuple *t = &r->tuple;
    bool inet = t->family == AF_INET || t->family == AF_INET6;
    Bulwark__V1__Syscall *x;
    Bulwark__V1__Event *ev;
    char fdname[160];

    if (!other_reported(name, r, inet))
        return;
    ev = rec_event_body(e, r, BULWARK__V1__EVENT__BODY_SYSCALL, &bulwark__v1__syscall__descriptor);
    if (!ev)
        return;
    x = ev->syscall;
    x->res = r->res;
    if (evb_set_str(&x->type, name, BW_LIMIT_SYSCALL_NAME) < 0 ||
        syscall_args(x, name, r, s, n) < 0)
        goto fail;
    if (inet) {
        x->fd = (int32_t)r->args[0];
        if (!(x->conn = tuple_conn(t)))
            goto fail;
        if (!strcmp(name, "bind") || !strcmp(name, "listen"))  /* this end is the server */
            x->conn->direction = BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND;
        snprintf(fdname, sizeof fdname, "%s:%u->%s:%u", x->conn->local_addr, t->sport,
                 x->conn->remote_addr, t->dport);
        if (evb_set_str(&x->fd_name, fdname, EVB_STR_MAX) < 0 ||
            evb_set_str(&x->fd_type, t->family == AF_INET6 ? "6" : "4", 2) < 0)
            goto fail;
    }
    ebpf_emit(e, ev);
    return;
fail:
    evb_msg_free(&ev->base);
}

static void on_syscall(struct ebpf_col *e, const struct sensor_rec *r, const char *s[], size_t n[])
{
    const struct wanted *w = wanted_of(r->nr);

    if (!w)
        return;
    switch (w->kind) {
    case W_READ: on_open(e, r, s, n); break;
    case W_NET: on_conn(e, r, w->nr != SYS_connect); break;
    case W_SYSCALL: on_other(e, r, w->name, s, n); break;
    }
}

/* ring_buffer callback: one record. Ends the loop turn (-EAGAIN) after
 * EBPF_TURN records, so that the queue's flush and the shipper run between
 * bursts; the rest waits in the ring (the poll stays readable). */
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
    /* This record is consumed either way; a negative return ends the turn. */
    return ++e->turn < EBPF_TURN ? 0 : -EAGAIN;
}

/* ------------------------------------------------------------ loading */

/* Fills the kernel's filter map with the syscalls the enabled kinds need;
 * the others never leave the kernel. The count traced, or -errno. */
static int ebpf_set_filter(struct ebpf_col *e)
{
    const struct collect_config *cfg = e->env->cfg;
    int fd = bpf_map__fd(e->skel->maps.filter), n = 0;

    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        uint32_t key = (uint32_t)wanted[i].nr, v = wanted[i].want;
        bool on = wanted[i].kind == W_NET    ? cfg->sensor_net
                  : wanted[i].kind == W_READ ? cfg->sensor_read
                                             : cfg->sensor_syscalls;

        if (!on)
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

/* The read prefixes for the kernel's filter (two words, a mask and a
 * length each); more or longer ones than it holds turn it off (user space
 * then filters alone). */
static void ebpf_kernel_prefixes(struct ebpf_col *e)
{
    struct sensor_bpf__rodata *ro = e->skel->rodata;

    ro->nprefixes = e->npaths <= SENSOR_PREFIXES ? (uint32_t)e->npaths : SENSOR_PREFIXES + 1;
    for (size_t i = 0; i < e->npaths && i < SENSOR_PREFIXES; i++) {
        size_t l = strlen(e->paths[i]);
        unsigned char w[SENSOR_PREFIX_MAX] = {0}, m[SENSOR_PREFIX_MAX] = {0};

        if (l > SENSOR_PREFIX_MAX) {
            ro->nprefixes = SENSOR_PREFIXES + 1;
            return;
        }
        memcpy(w, e->paths[i], l);
        memset(m, 0xff, l);
        memcpy((void *)ro->prefix_word[i], w, sizeof w);  /* the host's byte order, as the */
        memcpy((void *)ro->prefix_mask[i], m, sizeof m);  /* kernel loads the path's words */
        ro->prefix_len[i] = (uint32_t)l;
    }
}

/* The write names for the kernel's filter. */
static void ebpf_kernel_wnames(struct ebpf_col *e)
{
    struct sensor_bpf__rodata *ro = e->skel->rodata;

    ro->nwnames = sizeof write_names / sizeof write_names[0];
    for (size_t i = 0; i < sizeof write_names / sizeof write_names[0]; i++) {
        size_t l = strlen(write_names[i]);

        assert(l < SENSOR_WNAME_MAX);
        memcpy((void *)ro->wname[i], write_names[i], l);
        ro->wname_len[i] = (uint32_t)l;
    }
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ebpf_read(struct ebpf_col *e)
{
    int rc;

    e->turn = 0;
    e->dns_drained = false;
    rc = ring_buffer__consume(e->rb);
    if (rc < 0 && rc != -EAGAIN)
        log_msg(LOG_WARN, "ebpf", "reading the ring buffer: %s", strerror(-rc));
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    if (status == 0)
        ebpf_read(h->data);
}

static void on_read_timer(uv_timer_t *t)
{
    ebpf_read(t->data);
}

/* libbpf's messages (its fmt is printf's) go to our log at debug level. */
__attribute__((format(printf, 2, 0)))
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

static int ebpf_scan(struct collector *c)
{
    struct ebpf_col *e = (struct ebpf_col *)c;

    /* the namespace pass: new namespaces watched, gone ones dropped */
    return e->dns ? dns_watch_scan(e->dns, e->env->cfg->host_root, NULL, NULL) : 0;
}

/* Remote names as the connection collector gets them (dnswatch.c): the
 * namespace pass now and every scan_interval_ms. Nothing (no packet
 * socket) when connections are not reported; failures leave the
 * connections without names. */
static void ebpf_dns_start(struct ebpf_col *e)
{
    const struct collect_config *cfg = e->env->cfg;
    bool own;
    int rc;

    if (!cfg->sensor_net)
        return;
    e->host_netns = pid_netns(cfg->host_root, 1, 0, &own);
    e->dns = dns_watch_new(e->env->loop, cfg->host_root);
    if (!e->dns)
        return;
    rc = ebpf_scan(&e->base);
    if (rc < 0)
        log_msg(LOG_WARN, "ebpf", "listing the network namespaces of '%s/proc' failed: %s",
                cfg->host_root, bw_strerror(rc));
    if (collector_ticker_start(&e->ticker, e->env->loop, cfg->scan_interval_ms, &e->base) < 0)
        log_msg(LOG_WARN, "ebpf", "no namespace pass timer: new namespaces get no remote names");
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
    ebpf_kernel_prefixes(e);
    ebpf_kernel_wnames(e);
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
    uv_timer_init(e->env->loop, &e->timer);
    e->timer.data = e;
    e->timer_on = true;
    uv_timer_start(&e->timer, on_read_timer, SENSOR_READ_MS, SENSOR_READ_MS);
    ebpf_dns_start(e);
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

static void on_part_closed(void *arg)
{
    struct ebpf_col *e = arg;

    if (--e->closing == 0 && e->done)
        e->done(e->done_arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    on_part_closed(h->data);
}

static void ebpf_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    struct ebpf_col *e = (struct ebpf_col *)c;

    e->done = done;
    e->done_arg = arg;
    e->closing++;  /* held until every part was asked to close */
    if (e->skel) {
        struct sensor_stats st;

        collector_ebpf_stats(c, &st);
        log_msg(LOG_INFO, "ebpf", "sensor stopped: %llu records read, %llu lost in the kernel "
                "(ring buffer full), %llu syscalls unpaired", (unsigned long long)st.records,
                (unsigned long long)st.kernel_drops, (unsigned long long)st.pending_drops);
    }
    if (e->timer_on) {
        e->timer_on = false;
        e->closing++;
        uv_timer_stop(&e->timer);
        uv_close((uv_handle_t *)&e->timer, on_handle_closed);
    }
    if (e->poll_on) {
        e->poll_on = false;
        e->closing++;
        uv_poll_stop(&e->poll);
        uv_close((uv_handle_t *)&e->poll, on_handle_closed);
    }
    e->closing += 2;
    collector_ticker_stop(&e->ticker, on_part_closed, e);
    dns_watch_close(e->dns, on_part_closed, e);
    on_part_closed(e);
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
    free(e->cgroups);
    procref_lineage_release(&e->lineage);
    dns_watch_free(e->dns);
    free(e);
}

struct collector *collector_ebpf_new(const struct collector_env *env)
{
    struct ebpf_col *e = calloc(1, sizeof *e);

    if (!e)
        return NULL;
    e->pids = calloc(PIDS_CAP, sizeof *e->pids);
    e->cgroups = calloc(CGROUPS_CAP, sizeof *e->cgroups);
    if (!e->pids || !e->cgroups) {
        free(e->pids);
        free(e->cgroups);
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
