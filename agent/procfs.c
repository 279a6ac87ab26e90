/* procfs.c - bounded readers of /proc and runtime files below a host root,
 * and the event-building helpers the collectors share (bulwark/procfs.h).
 *
 * Nothing here logs: callers decide whether a failure is worth a line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/err.h"
#include "bulwark/clock.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"

static int err_of_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ESRCH:
    case ENOTDIR:
        return BW_ENOTFOUND;
    case ENOMEM:
        return BW_ENOMEM;
    case ENAMETOOLONG:
        return BW_ETOOBIG;
    default:
        return BW_EIO;
    }
}

static int path_vfmt(char *dst, size_t n, const char *root, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int path_vfmt(char *dst, size_t n, const char *root, const char *fmt, va_list ap)
{
    size_t rl = root ? strlen(root) : 0;
    int m;

    while (rl > 0 && root[rl - 1] == '/')
        rl--;  /* "/" and "/host/" add no slash of their own */
    if (rl >= n)
        return BW_ETOOBIG;
    if (rl)
        memcpy(dst, root, rl);
    m = vsnprintf(dst + rl, n - rl, fmt, ap);
    if (m < 0 || (size_t)m >= n - rl)
        return BW_ETOOBIG;
    return 0;
}

int procfs_path(char *dst, size_t n, const char *root, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = path_vfmt(dst, n, root, fmt, ap);
    va_end(ap);
    return rc;
}

int procfs_read(const char *path, char *buf, size_t cap, size_t *len)
{
    size_t got = 0;
    int fd, rc = 0;

    if (cap == 0)
        return BW_EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err_of_errno(errno);
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = err_of_errno(errno);
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
out:
    close(fd);
    buf[rc == 0 ? got : 0] = '\0';
    if (rc == 0 && len)
        *len = got;
    return rc;
}

int procfs_read_at(const char *root, char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    char path[PROCFS_PATH_MAX];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = path_vfmt(path, sizeof path, root, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return rc;
    return procfs_read(path, buf, cap, len);
}

int procfs_readlink(const char *path, char *buf, size_t cap)
{
    ssize_t r = readlink(path, buf, cap);

    if (r < 0)
        return err_of_errno(errno);
    if ((size_t)r >= cap)
        return BW_ETOOBIG;
    buf[r] = '\0';
    return 0;
}

int procfs_load_json(const char *path, size_t max, json_t **out)
{
    char *buf = malloc(max + 2);
    json_error_t jerr;
    size_t len = 0;
    json_t *j;
    int rc;

    if (!buf)
        return BW_ENOMEM;
    rc = procfs_read(path, buf, max + 2, &len);
    if (rc < 0)
        goto out;
    if (len > max) {
        rc = BW_ETOOBIG;
        goto out;
    }
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        rc = BW_EINVAL;
        goto out;
    }
    *out = j;
out:
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ stat */

int procfs_parse_stat(const char *text, struct procfs_stat *st)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')'), *p;
    struct procfs_stat s = {0};
    unsigned long long v[20];
    char *end;
    size_t cl;
    long pid;

    if (!open || !close || close < open)
        return BW_EINVAL;
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno || end == text || pid <= 0 || pid > INT32_MAX)
        return BW_EINVAL;
    cl = (size_t)(close - open - 1);
    if (cl >= sizeof s.comm)
        cl = sizeof s.comm - 1;
    memcpy(s.comm, open + 1, cl);
    s.pid = (int)pid;
    p = close + 1;
    while (*p == ' ')
        p++;
    if (!*p)
        return BW_EINVAL;
    s.state = *p++;
    /* fields 4.. (ppid pgrp session tty_nr ... starttime is field 22) */
    for (int i = 0; i < 19; i++) {
        long long sv;

        errno = 0;
        sv = strtoll(p, &end, 10);
        if (errno || end == p)
            return BW_EINVAL;
        v[i] = (unsigned long long)sv;
        p = end;
    }
    s.ppid = (int)v[0];
    s.pgrp = (int)v[1];
    s.session = (int)v[2];
    s.tty_nr = (int)v[3];
    s.starttime = v[18];
    *st = s;
    return 0;
}

int procfs_read_stat(const char *root, int pid, struct procfs_stat *st)
{
    char buf[1024];
    int rc = procfs_read_at(root, buf, sizeof buf, NULL, "/proc/%d/stat", pid);

    if (rc < 0)
        return rc;
    return procfs_parse_stat(buf, st);
}

int procfs_btime(const char *root, int64_t *btime_s)
{
    char buf[16384];
    const char *p;
    int rc = procfs_read_at(root, buf, sizeof buf, NULL, "/proc/stat");

    if (rc < 0)
        return rc;
    p = strstr(buf, "\nbtime ");
    if (!p)
        return BW_EINVAL;
    *btime_s = strtoll(p + 7, NULL, 10);
    return 0;
}

int64_t procfs_start_ns(int64_t btime_s, uint64_t starttime)
{
    long hz = sysconf(_SC_CLK_TCK);

    if (hz <= 0)
        hz = 100;
    return btime_s * 1000000000LL + (int64_t)(starttime / (uint64_t)hz) * 1000000000LL +
           (int64_t)(starttime % (uint64_t)hz) * (1000000000LL / hz);
}

int procfs_pid_of(const char *name)
{
    long v = 0;

    if (!*name)
        return -1;
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT32_MAX / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v > 0 ? (int)v : -1;
}

uint64_t procfs_link_inode(const char *link, const char *prefix)
{
    size_t pl = strlen(prefix);
    const char *p;
    uint64_t v = 0;

    if (strncmp(link, prefix, pl) != 0 || link[pl] != ':' || link[pl + 1] != '[')
        return 0;
    for (p = link + pl + 2; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    return *p == ']' ? v : 0;
}

/* ------------------------------------------------------- net/tcp rows */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "0100007F:1F90" -> address bytes (as the kernel held them) and port. */
static bool parse_endpoint(const char *s, size_t n, uint8_t family, uint8_t *addr, uint16_t *port)
{
    size_t words = family == 4 ? 1 : 4, i;
    uint32_t w, pv = 0;

    if (n != words * 8 + 5 || s[words * 8] != ':')
        return false;
    for (i = 0; i < words; i++) {
        w = 0;
        for (size_t j = 0; j < 8; j++) {
            int v = hexval(s[i * 8 + j]);

            if (v < 0)
                return false;
            w = w << 4 | (uint32_t)v;
        }
        memcpy(addr + i * 4, &w, 4);
    }
    for (i = words * 8 + 1; i < n; i++) {
        int v = hexval(s[i]);

        if (v < 0)
            return false;
        pv = pv << 4 | (uint32_t)v;
    }
    *port = (uint16_t)pv;
    return true;
}

bool procfs_parse_tcp_row(const char *line, uint8_t family, struct procfs_tcp_row *r)
{
    const char *tok[10];
    size_t len[10], nt = 0;
    const char *p = line;

    while (*p && nt < 10) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '\n')
            break;
        tok[nt] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        len[nt] = (size_t)(p - tok[nt]);
        nt++;
    }
    if (nt < 10 || len[3] != 2)
        return false;
    memset(r, 0, sizeof *r);
    if (!parse_endpoint(tok[1], len[1], family, r->laddr, &r->lport) ||
        !parse_endpoint(tok[2], len[2], family, r->raddr, &r->rport))
        return false;
    r->state = hexval(tok[3][0]) * 16 + hexval(tok[3][1]);
    r->inode = strtoull(tok[9], NULL, 10);
    return r->state >= 0;
}

/* ---------------------------------------------------------- process ref */

/* The text after "\nKEY" of status (KEY includes its colon), or NULL. */
static const char *status_line(const char *status, const char *key)
{
    size_t kl = strlen(key);

    for (const char *p = strstr(status, key); p; p = strstr(p + 1, key))
        if (p == status || p[-1] == '\n')
            return p + kl;
    return NULL;
}

int procfs_status_id(const char *status, const char *key, uint32_t *out)
{
    const char *p = status_line(status, key);
    unsigned long v;
    char *end;

    if (!p)
        return BW_ENOTFOUND;
    errno = 0;
    (void)strtoul(p, &end, 10);  /* real id, then effective */
    if (end == p)
        return BW_ENOTFOUND;
    p = end;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return BW_ENOTFOUND;  /* one id only: not a status line */
    v = strtoul(p, &end, 10);
    if (errno || end == p || v > UINT32_MAX)
        return BW_ENOTFOUND;
    *out = (uint32_t)v;
    return 0;
}

int procfs_status_last(const char *status, const char *key, int32_t *out)
{
    const char *p = status_line(status, key);
    long v = -1;

    if (!p)
        return BW_ENOTFOUND;
    for (;;) {
        char *end;
        long x;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            break;  /* the end of the line (strtol would skip the newline) */
        errno = 0;
        x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX)
            break;
        v = x;
        p = end;
    }
    if (v < 0)
        return BW_ENOTFOUND;
    *out = (int32_t)v;
    return 0;
}

int procfs_status_mask(const char *status, const char *key, uint64_t *out)
{
    const char *p = status_line(status, key);
    unsigned long long v;
    char *end;

    if (!p)
        return BW_ENOTFOUND;
    while (*p == ' ' || *p == '\t')
        p++;
    errno = 0;
    v = strtoull(p, &end, 16);
    if (errno || end == p || (*end != '\n' && *end != '\0'))
        return BW_ENOTFOUND;
    *out = v;
    return 0;
}

int procfs_read_cmdline(const char *root, int pid, char *buf, size_t cap)
{
    size_t len = 0;
    int rc = procfs_read_at(root, buf, cap + 1, &len, "/proc/%d/cmdline", pid);

    if (rc < 0) {
        buf[0] = '\0';
        return rc;
    }
    procfs_argv_flatten(buf, len);
    return 0;
}

/* The exe link of pid into link (empty when unreadable: kernel threads,
 * other users' processes without CAP_SYS_PTRACE). */
static void read_exe(const char *root, int pid, char *link, size_t cap)
{
    char path[PROCFS_PATH_MAX];

    if (procfs_path(path, sizeof path, root, "/proc/%d/exe", pid) < 0 ||
        procfs_readlink(path, link, cap) < 0)
        link[0] = '\0';
}

/* ------------------------------------------------------------ lineage */

struct lineage_link {
    int pid;
    char name[sizeof ((struct procfs_stat *)0)->comm];
    char *exe;                /* malloc'd, or NULL for "" */
};

/* The chain above one process (pid, start): its parent first. */
struct procfs_lineage_entry {
    int pid;                  /* 0: empty slot */
    uint64_t start;
    size_t n;
    struct lineage_link a[PROCFS_ANCESTORS_MAX];
};

static void entry_clear(struct procfs_lineage_entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->a[i].exe);
    memset(e, 0, sizeof *e);
}

void procfs_lineage_release(struct procfs_lineage *c)
{
    if (!c || !c->slots)
        return;
    for (size_t i = 0; i < PROCFS_LINEAGE_SLOTS; i++)
        entry_clear(&c->slots[i]);
    free(c->slots);
    c->slots = NULL;
}

static struct procfs_lineage_entry *lineage_slot(struct procfs_lineage *c, int pid, uint64_t start)
{
    uint64_t h = (uint64_t)(uint32_t)pid * 0x9E3779B97F4A7C15ull ^ start * 0xC2B2AE3D27D4EB4Full;

    return &c->slots[(h >> 32) % PROCFS_LINEAGE_SLOTS];
}

/* The cached chain above (pid, start), or NULL. */
static const struct procfs_lineage_entry *lineage_get(struct procfs_lineage *c, int pid,
                                                      uint64_t start)
{
    const struct procfs_lineage_entry *e;

    if (!c || !c->slots)
        return NULL;
    e = lineage_slot(c, pid, start);
    return e->pid == pid && e->start == start ? e : NULL;
}

/* Remembers that the chain above (pid, start) is a[0, n). Best effort: on
 * ENOMEM the slot is left empty. */
static void lineage_put(struct procfs_lineage *c, int pid, uint64_t start,
                        Bulwark__V1__ProcessAncestor *const *a, size_t n)
{
    struct procfs_lineage_entry *e;

    if (!c || pid <= 0 || (!c->slots && !(c->slots = calloc(PROCFS_LINEAGE_SLOTS, sizeof *c->slots))))
        return;
    e = lineage_slot(c, pid, start);
    entry_clear(e);
    for (size_t i = 0; i < n && i < PROCFS_ANCESTORS_MAX; i++) {
        struct lineage_link *l = &e->a[i];

        l->pid = a[i]->pid;
        snprintf(l->name, sizeof l->name, "%s", a[i]->name);
        if (*a[i]->exe && !(l->exe = strdup(a[i]->exe))) {
            entry_clear(e);
            return;
        }
        e->n = i + 1;
    }
    e->pid = pid;
    e->start = start;
}

/* Appends one ancestor to p (its array holds PROCFS_ANCESTORS_MAX). */
static int add_ancestor(Bulwark__V1__ProcessRef *p, int pid, const char *name, const char *exe)
{
    Bulwark__V1__ProcessAncestor *x = procfs_msg_new(&bulwark__v1__process_ancestor__descriptor);

    if (!x)
        return BW_ENOMEM;
    p->ancestors[p->n_ancestors++] = x;
    x->pid = pid;
    if (procfs_set_str(&x->name, name, PROCFS_STR_MAX) < 0 ||
        procfs_set_str(&x->exe, exe ? exe : "", PROCFS_STR_MAX) < 0)
        return BW_ENOMEM;
    return 0;
}

/* Walks up from st's parent: one ProcessAncestor per process met, parent
 * first, stopping at pid 0, a vanished process or PROCFS_ANCESTORS_MAX;
 * or, past an ancestor whose chain the cache holds, taking that chain.
 * Then caches the chains above the process and above its parent. */
static int add_ancestors(const char *root, const struct procfs_stat *st,
                         struct procfs_lineage *cache, Bulwark__V1__ProcessRef *p)
{
    char link[PROCFS_PATH_MAX];
    struct procfs_stat a;
    uint64_t pstart = 0;
    size_t hit_at = 0;      /* depth of the ancestor whose chain the cache gave */
    int pid = st->ppid, rc;

    p->ancestors = calloc(PROCFS_ANCESTORS_MAX, sizeof *p->ancestors);
    if (!p->ancestors)
        return BW_ENOMEM;
    while (pid > 0 && p->n_ancestors < PROCFS_ANCESTORS_MAX &&
           procfs_read_stat(root, pid, &a) == 0) {
        const struct procfs_lineage_entry *e;

        read_exe(root, pid, link, sizeof link);
        if ((rc = add_ancestor(p, a.pid, a.comm, link)) < 0)
            return rc;
        if (p->n_ancestors == 1)
            pstart = a.starttime;
        if ((e = lineage_get(cache, a.pid, a.starttime))) {
            hit_at = p->n_ancestors;
            for (size_t i = 0; i < e->n && p->n_ancestors < PROCFS_ANCESTORS_MAX; i++)
                if ((rc = add_ancestor(p, e->a[i].pid, e->a[i].name, e->a[i].exe)) < 0)
                    return rc;
            break;
        }
        if (a.ppid == pid)
            break;
        pid = a.ppid;
    }
    if (cache && p->n_ancestors > 0) {
        cache->hits += hit_at > 0;
        cache->misses += hit_at == 0;
        lineage_put(cache, st->pid, st->starttime, p->ancestors, p->n_ancestors);
        if (hit_at != 1)  /* else the parent's chain is what the cache holds */
            lineage_put(cache, p->ancestors[0]->pid, pstart, p->ancestors + 1, p->n_ancestors - 1);
    }
    if (p->n_ancestors == 0) {
        free(p->ancestors);
        p->ancestors = NULL;
    }
    return 0;
}

/* The ids of status: uid, gid, the namespace-local pid, tid and group, and
 * the capability masks. */
static void set_status_ids(const char *status, Bulwark__V1__ProcessRef *p)
{
    uint64_t mask;
    uint32_t u;
    int32_t v;

    if (procfs_status_mask(status, "CapEff:", &mask) == 0) {
        p->cap_effective_opt_case = BULWARK__V1__PROCESS_REF__CAP_EFFECTIVE_OPT_CAP_EFFECTIVE;
        p->cap_effective = mask;
    }
    if (procfs_status_mask(status, "CapPrm:", &mask) == 0) {
        p->cap_permitted_opt_case = BULWARK__V1__PROCESS_REF__CAP_PERMITTED_OPT_CAP_PERMITTED;
        p->cap_permitted = mask;
    }
    if (procfs_status_id(status, "Uid:", &u) == 0) {
        p->uid_opt_case = BULWARK__V1__PROCESS_REF__UID_OPT_UID;
        p->uid = u;
    }
    if (procfs_status_id(status, "Gid:", &u) == 0) {
        p->gid_opt_case = BULWARK__V1__PROCESS_REF__GID_OPT_GID;
        p->gid = u;
    }
    if (procfs_status_last(status, "NSpid:", &v) == 0) {
        /* an exec leaves the thread that made it the group leader: tid = pid */
        p->vpid_opt_case = BULWARK__V1__PROCESS_REF__VPID_OPT_VPID;
        p->vpid = v;
        p->vtid_opt_case = BULWARK__V1__PROCESS_REF__VTID_OPT_VTID;
        p->vtid = v;
    }
    if (procfs_status_last(status, "NSpgid:", &v) == 0) {
        p->vpgid_opt_case = BULWARK__V1__PROCESS_REF__VPGID_OPT_VPGID;
        p->vpgid = v;
    }
}

/* The audit login uid (4294967295: never logged in, as daemons and
 * containers), absent when the file cannot be read. */
static void set_loginuid(const char *root, int pid, Bulwark__V1__ProcessRef *p)
{
    char buf[32], *end;
    unsigned long v;

    if (procfs_read_at(root, buf, sizeof buf, NULL, "/proc/%d/loginuid", pid) < 0)
        return;
    errno = 0;
    v = strtoul(buf, &end, 10);
    if (errno || end == buf || v > UINT32_MAX)
        return;
    p->loginuid_opt_case = BULWARK__V1__PROCESS_REF__LOGINUID_OPT_LOGINUID;
    p->loginuid = (uint32_t)v;
}

size_t procfs_argv_flatten(char *cmd, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (cmd[i] == '\0' || cmd[i] == '\n')
            cmd[i] = ' ';
    while (len > 0 && cmd[len - 1] == ' ')
        len--;
    cmd[len] = '\0';
    return len;
}

/* Every segment kept had a '/' before it, so the output never outgrows the
 * input; a path that does not start with '/' would break that and is left
 * alone. */
void procfs_path_normalize(char *p)
{
    char *out = p, *in = p;

    if (p[0] != '/')
        return;
    while (*in) {
        char *seg;
        size_t n;

        while (*in == '/')
            in++;
        seg = in;
        n = strcspn(seg, "/");
        in += n;
        if (n == 0 || (n == 1 && seg[0] == '.'))
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, n);
        out += n;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

int procfs_process_ref(const char *root, int pid, uint32_t cmdline_max, int64_t btime_s,
                       struct procfs_lineage *cache, Bulwark__V1__ProcessRef **out,
                       struct procfs_stat *st_out)
{
    Bulwark__V1__ProcessRef *p = NULL;
    struct procfs_stat st, sst;
    char link[PROCFS_PATH_MAX], status[4096];
    char *cmd = NULL;
    size_t cap = cmdline_max ? cmdline_max : PROCFS_CMDLINE_MAX;
    int rc;

    if (cap > PROCFS_CMDLINE_MAX)
        cap = PROCFS_CMDLINE_MAX;
    rc = procfs_read_stat(root, pid, &st);
    if (rc < 0)
        return rc == BW_EINVAL ? BW_EINVAL : BW_ENOTFOUND;
    p = procfs_msg_new(&bulwark__v1__process_ref__descriptor);
    cmd = malloc(cap + 1);
    if (!p || !cmd) {
        rc = BW_ENOMEM;
        goto out;
    }
    p->pid = st.pid;
    p->ppid = st.ppid;
    p->start_time_ns = procfs_start_ns(btime_s, st.starttime);
    p->sid_opt_case = BULWARK__V1__PROCESS_REF__SID_OPT_SID;
    p->sid = st.session;
    p->pgid_opt_case = BULWARK__V1__PROCESS_REF__PGID_OPT_PGID;
    p->pgid = st.pgrp;
    if (procfs_read_at(root, status, sizeof status, NULL, "/proc/%d/status", pid) == 0)
        set_status_ids(status, p);
    set_loginuid(root, pid, p);
    /* at most cap bytes are read, whatever the command line's length */
    (void)procfs_read_cmdline(root, pid, cmd, cap);
    read_exe(root, pid, link, sizeof link);
    if ((rc = procfs_set_str(&p->exe, link, PROCFS_STR_MAX)) < 0 ||
        (rc = procfs_set_str(&p->name, st.comm, PROCFS_STR_MAX)) < 0 ||
        (rc = procfs_set_str(&p->cmdline, cmd, PROCFS_CMDLINE_MAX)) < 0 ||
        (rc = add_ancestors(root, &st, cache, p)) < 0)
        goto out;
    if (p->n_ancestors > 0 &&
        ((rc = procfs_set_str(&p->parent_name, p->ancestors[0]->name, PROCFS_STR_MAX)) < 0 ||
         (procfs_read_cmdline(root, st.ppid, cmd, cap) == 0 &&
          (rc = procfs_set_str(&p->parent_cmdline, cmd, PROCFS_CMDLINE_MAX)) < 0)))
        goto out;
    if (st.session > 0 && procfs_read_stat(root, st.session, &sst) == 0 &&
        (rc = procfs_set_str(&p->session_name, sst.comm, PROCFS_STR_MAX)) < 0)
        goto out;
    if (st_out)
        *st_out = st;
    *out = p;
    p = NULL;
out:
    free(cmd);
    procfs_msg_free(p ? &p->base : NULL);
    return rc;
}

/* --------------------------------------------------------- event helpers */

int64_t procfs_now_ns(void)
{
    return clock_wall_ns();
}

char *procfs_strdup(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    char *d = malloc(n + 1);

    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *procfs_strndup_utf8(const char *s, size_t n, size_t max)
{
    char *p;

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int procfs_set_str(char **field, const char *s, size_t max)
{
    char *d = procfs_strdup(s, max);

    if (!d)
        return BW_ENOMEM;
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = d;
    return 0;
}

/* The generated descriptors give proto3 strings &protobuf_c_empty_string
 * as default, so protobuf-c's own walker frees exactly our malloc'd tree. */
void procfs_msg_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

void *procfs_msg_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);

    if (m)
        d->message_init(m);
    return m;
}

Bulwark__V1__Event *procfs_event_new(int64_t time_ns, Bulwark__V1__Severity sev)
{
    Bulwark__V1__Event *ev = procfs_msg_new(&bulwark__v1__event__descriptor);

    if (ev) {
        ev->time_ns = time_ns;
        ev->severity = sev;
    }
    return ev;
}

/* ---------------------------------------------------------------- ticker */

static void on_tick(uv_timer_t *h)
{
    struct procfs_ticker *t = h->data;
    int rc = t->c->scan(t->c);

    if (rc < 0)
        log_msg(LOG_WARN, t->c->name, "scan failed: %s", bw_strerror(rc));
}

int procfs_ticker_start(struct procfs_ticker *t, uv_loop_t *loop, uint32_t ms, struct collector *c)
{
    if (t->on)
        return 0;
    if (uv_timer_init(loop, &t->timer) < 0)
        return BW_EIO;
    t->timer.data = t;
    t->c = c;
    t->on = true;
    uv_timer_start(&t->timer, on_tick, ms ? ms : 1000, ms ? ms : 1000);
    return 0;
}

static void on_ticker_closed(uv_handle_t *h)
{
    struct procfs_ticker *t = h->data;
    void (*done)(void *) = t->done;

    t->on = false;
    t->done = NULL;
    if (done)
        done(t->done_arg);
}

void procfs_ticker_stop(struct procfs_ticker *t, void (*done)(void *arg), void *arg)
{
    if (!t->on || uv_is_closing((uv_handle_t *)&t->timer)) {
        if (!t->on && done)
            done(arg);
        else {
            t->done = done;
            t->done_arg = arg;
        }
        return;
    }
    t->done = done;
    t->done_arg = arg;
    uv_close((uv_handle_t *)&t->timer, on_ticker_closed);
}
