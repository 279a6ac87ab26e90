/* net.c - the connection collector: new outbound TCP connections (IPv4 and
 * IPv6) of every network namespace, mapped to their process and container.
 *
 * Every scan_interval_ms (and on scan()):
 *  1. list host_root/proc and read each process's ns/net link, keeping the
 *     pids of every distinct network namespace;
 *  2. read net/tcp and net/tcp6 of one process per namespace; rows in
 *     ESTABLISHED or SYN_SENT whose local port is not a listening port of
 *     that namespace are outbound;
 *  3. each (netns, local, remote) tuple not seen in the previous pass is
 *     new: its socket inode is looked up in a small cache, then in the
 *     fd/ links ("socket:[inode]") of the namespace's processes, with a
 *     bounded number of readlinks per pass; the owning pid gives the
 *     process and the container;
 *  4. tuples that disappeared are forgotten (a reconnect on the same tuple
 *     is reported again).
 * With a loop, every namespace listed in step 1 is also watched for DNS
 * answers (dnswatch.c): a connection whose remote address was resolved
 * there carries the name asked for in remote_name.
 * The first pass reports the connections already open. A connection that
 * opens and closes between two passes is missed; one whose owner cannot be
 * found within the budget is reported without process and container.
 *
 * /proc/net/tcp prints each address as 32-bit words in host byte order
 * ("0100007F" is 127.0.0.1 on little-endian hosts), so the words are copied
 * back to memory as they were, then formatted with inet_ntop. */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/dns.h"
#include "bulwark/dnswatch.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/execattr.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"
#include "bulwark/procref.h"

#define NET_MAX_CONNS (1u << 18)   /* tracked tuples, all namespaces */
#define NET_MAX_LISTEN 4096        /* listening ports remembered per namespace */
#define NET_FD_BUDGET 50000        /* fd readlinks per pass */
#define NET_INODE_CACHE 4096
#define NET_REP_TRIES 3            /* pids tried to read a namespace's tables */

enum { NET_ESTABLISHED = 1, NET_SYN_SENT = 2, NET_LISTEN = 10 };  /* /proc/net/tcp "st" */

struct conn_key {  /* compared with memcmp: always memset first */
    uint64_t netns;
    uint8_t laddr[16], raddr[16];
    uint16_t lport, rport;
    uint8_t family;
    uint8_t pad[3];
};

struct conn {
    struct conn_key k;
    uint64_t inode;
    int pid;
};

struct inode_pid {
    uint64_t inode;
    int pid;
};

struct net_col {
    struct collector base;
    const struct collector_env *env;
    struct collector_ticker ticker;
    struct conn_key *known;
    size_t nknown;
    struct inode_pid cache[NET_INODE_CACHE];
    size_t cache_next;
    int64_t btime;
    struct procref_lineage lineage;  /* ancestor chains of the owners seen */
    struct execattr_users users;     /* user names by mount namespace and uid */
    bool logged_full;
    struct dns_watch *dns;     /* NULL in one-shot mode */
    int stopping;              /* ticker and DNS sockets still closing */
    void (*done)(void *arg);
    void *done_arg;
};

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct conn_key));
}

static int conn_cmp(const void *a, const void *b)
{
    return key_cmp(&((const struct conn *)a)->k, &((const struct conn *)b)->k);
}

/* ------------------------------------------------------------- tables */

struct ns_scan {
    struct conn *rows;
    size_t n, cap;
    uint16_t listen[NET_MAX_LISTEN];
    size_t nlisten;
};

static bool is_listening(const struct ns_scan *s, uint16_t port)
{
    for (size_t i = 0; i < s->nlisten; i++)
        if (s->listen[i] == port)
            return true;
    return false;
}

/* Reads one table of pid's namespace into s. 0, BW_ENOTFOUND, BW_ENOMEM. */
static int read_table(struct net_col *nc, int pid, uint64_t netns, uint8_t family,
                      struct ns_scan *s, struct conn **pending, size_t *np, size_t *npcap)
{
    char path[PROCFS_PATH_MAX], line[512];
    struct procfs_tcp_row r;
    FILE *f;
    int rc = 0;

    if (procfs_path(path, sizeof path, nc->env->cfg->host_root, "/proc/%d/net/%s", pid,
                    family == 4 ? "tcp" : "tcp6") < 0)
        return BW_ENOTFOUND;
    f = fopen(path, "re");
    if (!f)
        return BW_ENOTFOUND;
    while (fgets(line, sizeof line, f)) {
        struct conn *c;

        if (!strchr(line, '\n') && !feof(f)) {  /* overlong: skip the rest of it */
            int ch;

            while ((ch = fgetc(f)) != EOF && ch != '\n')
                ;
            continue;
        }
        if (!procfs_parse_tcp_row(line, family, &r))
            continue;
        if (r.state == NET_LISTEN) {
            if (s->nlisten < NET_MAX_LISTEN)
                s->listen[s->nlisten++] = r.lport;
            continue;
        }
        if (r.state != NET_ESTABLISHED && r.state != NET_SYN_SENT)
            continue;
        if (*np == *npcap) {
            if (*npcap >= NET_MAX_CONNS) {
                if (!nc->logged_full) {
                    nc->logged_full = true;
                    log_msg(LOG_WARN, "net", "more than %u connections: the rest are not tracked",
                            NET_MAX_CONNS);
                }
                break;
            }
            *npcap = *npcap ? *npcap * 2 : 256;
            c = realloc(*pending, *npcap * sizeof *c);
            if (!c) {
                rc = BW_ENOMEM;
                break;
            }
            *pending = c;
        }
        c = &(*pending)[(*np)++];
        memset(c, 0, sizeof *c);
        c->k.netns = netns;
        c->k.family = family;
        memcpy(c->k.laddr, r.laddr, 16);
        memcpy(c->k.raddr, r.raddr, 16);
        c->k.lport = r.lport;
        c->k.rport = r.rport;
        c->inode = r.inode;
        c->pid = -1;
    }
    fclose(f);
    return rc;
}

/* ------------------------------------------------------------ owners */

static int cache_get(const struct net_col *nc, uint64_t inode)
{
    for (size_t i = 0; i < NET_INODE_CACHE; i++)
        if (nc->cache[i].inode == inode && inode)
            return nc->cache[i].pid;
    return -1;
}

static void cache_put(struct net_col *nc, uint64_t inode, int pid)
{
    nc->cache[nc->cache_next] = (struct inode_pid){inode, pid};
    nc->cache_next = (nc->cache_next + 1) % NET_INODE_CACHE;
}

/* Finds owners of the unresolved new connections new[0..n) among the pids
 * of their namespace, spending at most *budget readlinks. */
static void resolve_owners(struct net_col *nc, struct conn *fresh, size_t n,
                           const struct netns_pid *pids, size_t npids, long *budget)
{
    const char *root = nc->env->cfg->host_root;
    char path[PROCFS_PATH_MAX], link[64];
    size_t unresolved = 0;

    for (size_t i = 0; i < n; i++) {
        if (fresh[i].inode && (fresh[i].pid = cache_get(nc, fresh[i].inode)) < 0)
            unresolved++;
    }
    for (size_t i = 0; i < npids && unresolved && *budget > 0; i++) {
        struct dirent *de;
        bool wanted = false;
        DIR *d;

        for (size_t j = 0; j < n && !wanted; j++)
            wanted = fresh[j].pid < 0 && fresh[j].inode && fresh[j].k.netns == pids[i].netns;
        if (!wanted || procfs_path(path, sizeof path, root, "/proc/%d/fd", pids[i].pid) < 0 ||
            !(d = opendir(path)))
            continue;
        while (unresolved && *budget > 0 && (de = readdir(d))) {
            uint64_t ino;

            if (de->d_name[0] == '.')
                continue;
            (*budget)--;
            if (procfs_path(path, sizeof path, root, "/proc/%d/fd/%s", pids[i].pid, de->d_name) < 0 ||
                procfs_readlink(path, link, sizeof link) < 0 ||
                !(ino = procfs_link_inode(link, "socket")))
                continue;
            for (size_t j = 0; j < n; j++)
                if (fresh[j].pid < 0 && fresh[j].inode == ino) {
                    fresh[j].pid = pids[i].pid;
                    cache_put(nc, ino, pids[i].pid);
                    unresolved--;
                }
        }
        closedir(d);
    }
}

/* ------------------------------------------------------------- events */

static int emit_conn(struct net_col *nc, const struct conn *c)
{
    const struct collect_config *cfg = nc->env->cfg;
    Bulwark__V1__NetConnection *n;
    Bulwark__V1__Event *ev;
    char a[INET6_ADDRSTRLEN];
    const char *name;
    int af = c->k.family == 4 ? AF_INET : AF_INET6, rc = BW_ENOMEM;

    ev = evb_event_new(evb_now_ns(), BULWARK__V1__SEVERITY__SEVERITY_INFO);
    if (!ev)
        return BW_ENOMEM;
    n = evb_msg_new(&bulwark__v1__net_connection__descriptor);
    if (!n)
        goto out;
    ev->body_case = BULWARK__V1__EVENT__BODY_NET;
    ev->net = n;
    n->direction = BULWARK__V1__NET_CONNECTION__DIRECTION__OUTBOUND;
    n->protocol = BULWARK__V1__NET_CONNECTION__PROTOCOL__TCP;
    n->local_port = c->k.lport;
    n->remote_port = c->k.rport;
    n->netns_inode = c->k.netns;
    if (!inet_ntop(af, c->k.laddr, a, sizeof a) || evb_set_str(&n->local_addr, a, 64) < 0 ||
        !inet_ntop(af, c->k.raddr, a, sizeof a) || evb_set_str(&n->remote_addr, a, 64) < 0)
        goto out;
    name = dns_watch_name(nc->dns, c->k.netns, c->k.family, c->k.raddr);
    if (name && evb_set_str(&n->remote_name, name, DNS_NAME_MAX) < 0)
        goto out;
    if (c->pid > 0) {
        const Bulwark__V1__ContainerRef *cref;

        /* the owner may have exited since: then the event has no process */
        if (procref_build(cfg->host_root, c->pid, cfg->cmdline_max, nc->btime, &nc->lineage,
                          &ev->process, NULL) == BW_ENOMEM)
            goto out;
        cref = nc->env->containers ? containers_lookup_pid(nc->env->containers, c->pid) : NULL;
        if (cref && !(ev->container = containers_ref_dup(cref)))
            goto out;
        if (execattr_name_user(&nc->users, cfg->host_root, c->pid, ev) < 0)
            goto out;
    }
    rc = nc->env->emit(nc->env->emit_ctx, ev);
    ev = NULL;
    if (rc < 0) {
        rc = 0;
        goto out;
    }
    nc->base.events++;
    rc = 1;
out:
    evb_msg_free(ev ? &ev->base : NULL);
    return rc;
}

/* --------------------------------------------------------------- scan */

static int net_scan(struct collector *col)
{
    struct net_col *nc = (struct net_col *)col;
    struct netns_pid *pids = NULL;
    struct conn *all = NULL, *fresh = NULL;
    struct conn_key *keys = NULL;
    size_t npids = 0, nall = 0, capall = 0, nfresh = 0;
    struct ns_scan *s = malloc(sizeof *s);
    long budget = NET_FD_BUDGET;
    int rc, emitted = 0;

    if (!s)
        return BW_ENOMEM;
    if (!nc->btime && procfs_btime(nc->env->cfg->host_root, &nc->btime) < 0)
        nc->btime = 0;
    /* step 1, and the DNS watch follows the namespaces listed */
    rc = dns_watch_scan(nc->dns, nc->env->cfg->host_root, &pids, &npids);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < npids;) {
        size_t j = i, first = nall;
        int tries = 0;

        while (j < npids && pids[j].netns == pids[i].netns)
            j++;
        /* the first of the namespace's pids whose tables can be read */
        for (size_t k = i; k < j && tries < NET_REP_TRIES; k++, tries++) {
            int r4, r6;

            s->nlisten = 0;
            nall = first;
            r4 = read_table(nc, pids[k].pid, pids[k].netns, 4, s, &all, &nall, &capall);
            r6 = r4 == BW_ENOMEM ? r4
                                 : read_table(nc, pids[k].pid, pids[k].netns, 6, s, &all, &nall, &capall);
            if (r4 == BW_ENOMEM || r6 == BW_ENOMEM) {
                rc = BW_ENOMEM;
                goto out;
            }
            if (r4 == 0 || r6 == 0)
                break;
        }
        /* keep the outbound rows only */
        size_t w = first;

        for (size_t k = first; k < nall; k++)
            if (!is_listening(s, all[k].k.lport))
                all[w++] = all[k];
        nall = w;
        i = j;
    }
    if (nall)
        qsort(all, nall, sizeof *all, conn_cmp);
    keys = malloc((nall ? nall : 1) * sizeof *keys);
    fresh = malloc((nall ? nall : 1) * sizeof *fresh);
    if (!keys || !fresh) {
        rc = BW_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nall; i++) {
        if (i > 0 && key_cmp(&all[i].k, &all[i - 1].k) == 0)
            continue;  /* the same tuple twice (a table read twice) */
        if (!nc->known || !bsearch(&all[i].k, nc->known, nc->nknown, sizeof *keys, key_cmp))
            fresh[nfresh++] = all[i];
    }
    resolve_owners(nc, fresh, nfresh, pids, npids, &budget);
    if (nfresh)
        dns_watch_drain(nc->dns);  /* answers that came before these connections */
    for (size_t i = 0; i < nfresh; i++) {
        rc = emit_conn(nc, &fresh[i]);
        if (rc < 0)
            goto out;
        emitted += rc;
    }
    /* the table of what is open now replaces the old one */
    size_t nk = 0;

    for (size_t i = 0; i < nall; i++)
        if (i == 0 || key_cmp(&all[i].k, &all[i - 1].k) != 0)
            keys[nk++] = all[i].k;
    free(nc->known);
    nc->known = keys;
    nc->nknown = nk;
    keys = NULL;
    rc = 0;
out:
    free(keys);
    free(fresh);
    free(all);
    free(pids);
    free(s);
    return rc < 0 ? rc : emitted;
}

/* ---------------------------------------------------------- lifecycle */

static int net_start(struct collector *c)
{
    struct net_col *nc = (struct net_col *)c;
    int rc;

    if (!nc->env->loop)
        return BW_EINVAL;
    nc->dns = dns_watch_new(nc->env->loop, nc->env->cfg->host_root);  /* NULL: no names */
    rc = net_scan(c);
    if (rc < 0)
        log_msg(LOG_WARN, "net", "first scan of '%s/proc' failed: %s", nc->env->cfg->host_root,
                bw_strerror(rc));
    return collector_ticker_start(&nc->ticker, nc->env->loop, nc->env->cfg->scan_interval_ms, c);
}

static void on_part_stopped(void *arg)
{
    struct net_col *nc = arg;

    if (--nc->stopping == 0 && nc->done)
        nc->done(nc->done_arg);
}

static void net_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    struct net_col *nc = (struct net_col *)c;

    nc->done = done;
    nc->done_arg = arg;
    nc->stopping = 2;
    collector_ticker_stop(&nc->ticker, on_part_stopped, nc);
    dns_watch_close(nc->dns, on_part_stopped, nc);
}

static void net_destroy(struct collector *c)
{
    struct net_col *nc = (struct net_col *)c;

    dns_watch_free(nc->dns);
    free(nc->known);
    procref_lineage_release(&nc->lineage);
    execattr_users_release(&nc->users);
    free(nc);
}

struct collector *collector_net_new(const struct collector_env *env)
{
    struct net_col *nc = calloc(1, sizeof *nc);

    if (!nc)
        return NULL;
    nc->base.name = "net";
    nc->base.start = net_start;
    nc->base.scan = net_scan;
    nc->base.stop = net_stop;
    nc->base.destroy = net_destroy;
    nc->env = env;
    return &nc->base;
}
