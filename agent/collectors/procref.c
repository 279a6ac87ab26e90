/* procref.c - a ProcessRef built from what /proc tells of a process: ids,
 * exe, command line, capabilities, login uid, session and its ancestors,
 * with a cache of ancestor chains (bulwark/procref.h). The collectors and
 * the sensor share it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/procfs.h"
#include "bulwark/procref.h"

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
struct procref_lineage_entry {
    int pid;                  /* 0: empty slot */
    uint64_t start;
    size_t n;
    struct lineage_link a[PROCREF_ANCESTORS_MAX];
};

static void entry_clear(struct procref_lineage_entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->a[i].exe);
    memset(e, 0, sizeof *e);
}

void procref_lineage_release(struct procref_lineage *c)
{
    if (!c || !c->slots)
        return;
    for (size_t i = 0; i < PROCREF_LINEAGE_SLOTS; i++)
        entry_clear(&c->slots[i]);
    free(c->slots);
    c->slots = NULL;
}

static struct procref_lineage_entry *lineage_slot(struct procref_lineage *c, int pid, uint64_t start)
{
    uint64_t h = (uint64_t)(uint32_t)pid * 0x9E3779B97F4A7C15ull ^ start * 0xC2B2AE3D27D4EB4Full;

    return &c->slots[(h >> 32) % PROCREF_LINEAGE_SLOTS];
}

/* The cached chain above (pid, start), or NULL. */
static const struct procref_lineage_entry *lineage_get(struct procref_lineage *c, int pid,
                                                      uint64_t start)
{
    const struct procref_lineage_entry *e;

    if (!c || !c->slots)
        return NULL;
    e = lineage_slot(c, pid, start);
    return e->pid == pid && e->start == start ? e : NULL;
}

/* Remembers that the chain above (pid, start) is a[0, n). Best effort: on
 * ENOMEM the slot is left empty. */
static void lineage_put(struct procref_lineage *c, int pid, uint64_t start,
                        Bulwark__V1__ProcessAncestor *const *a, size_t n)
{
    struct procref_lineage_entry *e;

    if (!c || pid <= 0 || (!c->slots && !(c->slots = calloc(PROCREF_LINEAGE_SLOTS, sizeof *c->slots))))
        return;
    e = lineage_slot(c, pid, start);
    entry_clear(e);
    for (size_t i = 0; i < n && i < PROCREF_ANCESTORS_MAX; i++) {
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

/* Appends one ancestor to p (its array holds PROCREF_ANCESTORS_MAX). */
static int add_ancestor(Bulwark__V1__ProcessRef *p, int pid, const char *name, const char *exe)
{
    Bulwark__V1__ProcessAncestor *x = evb_msg_new(&bulwark__v1__process_ancestor__descriptor);

    if (!x)
        return BW_ENOMEM;
    p->ancestors[p->n_ancestors++] = x;
    x->pid = pid;
    if (evb_set_str(&x->name, name, EVB_STR_MAX) < 0 ||
        evb_set_str(&x->exe, exe ? exe : "", EVB_STR_MAX) < 0)
        return BW_ENOMEM;
    return 0;
}

/* Walks up from st's parent: one ProcessAncestor per process met, parent
 * first, stopping at pid 0, a vanished process or PROCREF_ANCESTORS_MAX;
 * or, past an ancestor whose chain the cache holds, taking that chain.
 * Then caches the chains above the process and above its parent. */
static int add_ancestors(const char *root, const struct procfs_stat *st,
                         struct procref_lineage *cache, Bulwark__V1__ProcessRef *p)
{
    char link[PROCFS_PATH_MAX];
    struct procfs_stat a;
    uint64_t pstart = 0;
    size_t hit_at = 0;      /* depth of the ancestor whose chain the cache gave */
    int pid = st->ppid, rc;

    p->ancestors = calloc(PROCREF_ANCESTORS_MAX, sizeof *p->ancestors);
    if (!p->ancestors)
        return BW_ENOMEM;
    while (pid > 0 && p->n_ancestors < PROCREF_ANCESTORS_MAX &&
           procfs_read_stat(root, pid, &a) == 0) {
        const struct procref_lineage_entry *e;

        read_exe(root, pid, link, sizeof link);
        if ((rc = add_ancestor(p, a.pid, a.comm, link)) < 0)
            return rc;
        if (p->n_ancestors == 1)
            pstart = a.starttime;
        if ((e = lineage_get(cache, a.pid, a.starttime))) {
            hit_at = p->n_ancestors;
            for (size_t i = 0; i < e->n && p->n_ancestors < PROCREF_ANCESTORS_MAX; i++)
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

int procref_build(const char *root, int pid, uint32_t cmdline_max, int64_t btime_s,
                  struct procref_lineage *cache, Bulwark__V1__ProcessRef **out,
                  struct procfs_stat *st_out)
{
    Bulwark__V1__ProcessRef *p = NULL;
    struct procfs_stat st, sst;
    char link[PROCFS_PATH_MAX], status[4096];
    char *cmd = NULL;
    size_t cap = cmdline_max ? cmdline_max : EVB_CMDLINE_MAX;
    int rc;

    if (cap > EVB_CMDLINE_MAX)
        cap = EVB_CMDLINE_MAX;
    rc = procfs_read_stat(root, pid, &st);
    if (rc < 0)
        return rc == BW_EINVAL ? BW_EINVAL : BW_ENOTFOUND;
    p = evb_msg_new(&bulwark__v1__process_ref__descriptor);
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
    if ((rc = evb_set_str(&p->exe, link, EVB_STR_MAX)) < 0 ||
        (rc = evb_set_str(&p->name, st.comm, EVB_STR_MAX)) < 0 ||
        (rc = evb_set_str(&p->cmdline, cmd, EVB_CMDLINE_MAX)) < 0 ||
        (rc = add_ancestors(root, &st, cache, p)) < 0)
        goto out;
    if (p->n_ancestors > 0 &&
        ((rc = evb_set_str(&p->parent_name, p->ancestors[0]->name, EVB_STR_MAX)) < 0 ||
         (procfs_read_cmdline(root, st.ppid, cmd, cap) == 0 &&
          (rc = evb_set_str(&p->parent_cmdline, cmd, EVB_CMDLINE_MAX)) < 0)))
        goto out;
    if (st.session > 0 && procfs_read_stat(root, st.session, &sst) == 0 &&
        (rc = evb_set_str(&p->session_name, sst.comm, EVB_STR_MAX)) < 0)
        goto out;
    if (st_out)
        *st_out = st;
    *out = p;
    p = NULL;
out:
    free(cmd);
    evb_msg_free(p ? &p->base : NULL);
    return rc;
}
