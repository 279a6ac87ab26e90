/* dnswatch.c - the source of remote names of the connection collector and
 * the eBPF sensor: DNS answers seen on the wire in every network namespace
 * it watches (listed by dns_watch_scan, the one namespace pass both use).
 *
 * One AF_PACKET SOCK_DGRAM socket per network namespace, with a classic BPF
 * filter that passes only UDP packets from port 53 (IPv4 unfragmented, IPv6
 * without extension headers), so the agent wakes for DNS answers only. A
 * socket belongs to the namespace it was made in: for a namespace other
 * than the agent's own, a short-lived helper thread enters it (setns on
 * host_root/proc/PID/ns/net), makes the socket and ends, leaving the loop
 * thread's namespace untouched. The socket is made with protocol 0 (it
 * receives nothing), the filter attached, and only then bound to all
 * protocols, so no unfiltered packet is ever queued.
 *
 * Each answer (agent/dns.c) puts (address -> the name asked for) in the
 * namespace's cache (DNS_WATCH_CACHE entries, LRU), kept for the record's
 * TTL but at least DNS_WATCH_TTL_MIN and at most DNS_WATCH_TTL_MAX seconds
 * (local resolvers such as dnsmasq answer with TTL 0, and the connection is
 * seen up to a scan interval later). At most DNS_WATCH_NS namespaces are
 * watched; a readable socket is read at most DNS_WATCH_BURST packets per
 * loop turn. The collector also drains the sockets just before it looks
 * connections up (dns_watch_drain): libuv runs timers before polling, so an
 * answer queued while the loop was busy would otherwise be read after the
 * scan that finds its connection. Without CAP_NET_RAW (or CAP_SYS_ADMIN for other namespaces)
 * the failure is logged once, the namespace is not tried again while it
 * lives, and connections there keep no name. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulwark/dns.h"
#include "bulwark/dnswatch.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"

#define DNS_WATCH_NS 256
#define DNS_WATCH_CACHE 2048     /* names per namespace: at most ~0.6 MB each */
#define DNS_WATCH_TTL_MIN 300
#define DNS_WATCH_TTL_MAX 86400
#define DNS_WATCH_BURST 64
#define DNS_WATCH_DRAIN 1024     /* packets read per namespace before a scan */
#define DNS_WATCH_PKT 9216       /* an EDNS answer with its IP and UDP headers */
#define DNS_WATCH_RCVBUF (1 << 20)
#define DNS_WATCH_PIDS (1u << 20)   /* processes listed per pass */

struct dns_ns {
    struct dns_watch *w;
    uint64_t netns;
    int fd;
    uint32_t gen;              /* the last sync that listed the namespace */
    uv_poll_t poll;
    struct dns_cache *cache;
};

struct dns_watch {
    uv_loop_t *loop;
    char *host_root;
    uint64_t own_netns;
    struct dns_ns *ns[DNS_WATCH_NS];
    size_t nns;
    uint32_t gen;
    int pending;               /* sockets closing */
    bool stopping;
    void (*done)(void *arg);
    void *done_arg;
    bool logged_fail, logged_full;
    uint64_t answers;
    uint8_t pkt[DNS_WATCH_PKT];
};

/* ------------------------------------------------------------- sockets */

/* UDP from port 53, on a packet that starts at its IP header. Jumps are
 * counted from the next instruction: 15 takes, 16 drops. */
static const struct sock_filter dns_bpf[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),                  /* version */
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xF0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 0, 7),        /* IPv4, else to IPv6 */
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),                  /* protocol */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 11),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),                  /* flags and fragment */
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3FFF, 9, 0),
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                 /* X = header length */
    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 0),                  /* UDP source port */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 53, 5, 6),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x60, 0, 5),        /* IPv6 */
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),                  /* next header */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 3),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 40),                 /* UDP source port */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 53, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0xFFFF),                      /* take */
    BPF_STMT(BPF_RET | BPF_K, 0),                           /* drop */
};

/* A filtered packet socket in the calling thread's namespace; -errno. */
static int dns_socket(void)
{
    struct sock_fprog prog = {.len = sizeof dns_bpf / sizeof dns_bpf[0],
                              .filter = (struct sock_filter *)dns_bpf};
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), rcv = DNS_WATCH_RCVBUF;

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ||
        bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        int e = errno;

        close(fd);
        return -e;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);  /* best effort */
    return fd;
}

struct dns_opener {
    char path[PROCFS_PATH_MAX];
    int fd;                    /* the socket, or -errno */
};

/* The helper thread: enters the namespace, makes the socket, ends. */
static void *dns_opener_main(void *arg)
{
    struct dns_opener *o = arg;
    int nfd = open(o->path, O_RDONLY | O_CLOEXEC);

    if (nfd < 0) {
        o->fd = -errno;
        return NULL;
    }
    o->fd = setns(nfd, CLONE_NEWNET) < 0 ? -errno : dns_socket();
    close(nfd);
    return NULL;
}

/* A socket in the network namespace of pid (the loop thread's own when it
 * is the agent's); -errno. */
static int dns_socket_in(struct dns_watch *w, uint64_t netns, int pid)
{
    struct dns_opener o = {.fd = -EINVAL};
    pthread_t t;
    int rc;

    if (netns == w->own_netns)
        return dns_socket();
    if (procfs_path(o.path, sizeof o.path, w->host_root, "/proc/%d/ns/net", pid) < 0)
        return -ENAMETOOLONG;
    if ((rc = pthread_create(&t, NULL, dns_opener_main, &o)) != 0)
        return -rc;
    pthread_join(t, NULL);
    return o.fd;
}

/* -------------------------------------------------------------- reading */

struct dns_put {
    struct dns_cache *cache;
    int64_t now;
};

static int on_answer(void *ctx, const struct dns_answer *a)
{
    struct dns_put *p = ctx;
    int64_t ttl = a->ttl < DNS_WATCH_TTL_MIN ? DNS_WATCH_TTL_MIN
                  : a->ttl > DNS_WATCH_TTL_MAX ? DNS_WATCH_TTL_MAX
                                               : (int64_t)a->ttl;

    return dns_cache_put(p->cache, a->family, a->addr, a->name, p->now + ttl * 1000000000);
}

/* Reads at most max queued packets of ns into its cache. */
static void dns_ns_read(struct dns_ns *ns, int max)
{
    struct dns_watch *w = ns->w;

    for (int i = 0; i < max; i++) {
        ssize_t r = recv(ns->fd, w->pkt, sizeof w->pkt, 0);
        struct dns_put p = {.cache = ns->cache, .now = evb_now_ns()};
        int n;

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;  /* EAGAIN: drained; the rest waits for the next turn */
        n = dns_parse_packet(w->pkt, (size_t)r, on_answer, &p);
        if (n > 0)
            w->answers += (uint64_t)n;
    }
}

static void on_dns_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    dns_ns_read(h->data, DNS_WATCH_BURST);
}

void dns_watch_drain(struct dns_watch *w)
{
    for (size_t i = 0; w && i < w->nns; i++)
        if (w->ns[i]->fd >= 0)
            dns_ns_read(w->ns[i], DNS_WATCH_DRAIN);
}

/* -------------------------------------------------------------- the set */

static uint64_t dns_own_netns(const char *host_root)
{
    char link[64];

    (void)host_root;  /* the agent's own, wherever /proc of the host is */
    if (procfs_readlink("/proc/self/ns/net", link, sizeof link) < 0)
        return 0;
    return procfs_link_inode(link, "net");
}

struct dns_watch *dns_watch_new(uv_loop_t *loop, const char *host_root)
{
    struct dns_watch *w = calloc(1, sizeof *w);

    if (!w)
        return NULL;
    w->loop = loop;
    w->host_root = strdup(host_root ? host_root : "/");
    if (!w->host_root) {
        free(w);
        return NULL;
    }
    w->own_netns = dns_own_netns(host_root);
    return w;
}

void dns_watch_begin(struct dns_watch *w)
{
    if (w)
        w->gen++;
}

static struct dns_ns *dns_find_ns(struct dns_watch *w, uint64_t netns)
{
    for (size_t i = 0; i < w->nns; i++)
        if (w->ns[i]->netns == netns)
            return w->ns[i];
    return NULL;
}

void dns_watch_ns(struct dns_watch *w, uint64_t netns, int pid)
{
    struct dns_ns *ns;

    if (!w || w->stopping || !netns)
        return;
    if ((ns = dns_find_ns(w, netns))) {
        ns->gen = w->gen;
        return;
    }
    if (w->nns == DNS_WATCH_NS) {
        if (!w->logged_full)
            log_msg(LOG_WARN, "net", "more than %u network namespaces: DNS names are watched "
                    "in the first %u only", DNS_WATCH_NS, DNS_WATCH_NS);
        w->logged_full = true;
        return;
    }
    if (!(ns = calloc(1, sizeof *ns)))
        return;
    ns->w = w;
    ns->netns = netns;
    ns->gen = w->gen;
    ns->fd = dns_socket_in(w, netns, pid);
    if (ns->fd < 0) {
        /* kept without a socket, so the namespace is not tried every scan */
        if (!w->logged_fail)
            log_msg(LOG_WARN, "net", "cannot watch DNS answers in network namespace %" PRIu64
                    " (pid %d): %s; connections there keep no remote name", netns, pid,
                    strerror(-ns->fd));
        w->logged_fail = true;
    } else if (!(ns->cache = dns_cache_new(DNS_WATCH_CACHE)) ||
               uv_poll_init(w->loop, &ns->poll, ns->fd) != 0) {
        dns_cache_free(ns->cache);
        close(ns->fd);
        free(ns);
        return;
    } else {
        ns->poll.data = ns;
        uv_poll_start(&ns->poll, UV_READABLE, on_dns_readable);
    }
    w->ns[w->nns++] = ns;
}

static void on_ns_closed(uv_handle_t *h)
{
    struct dns_ns *ns = h->data;
    struct dns_watch *w = ns->w;

    close(ns->fd);
    dns_cache_free(ns->cache);
    free(ns);
    if (--w->pending == 0 && w->stopping && w->done)
        w->done(w->done_arg);
}

/* Stops watching ns (its memory goes in the close callback, or now when
 * it has no socket). */
static void dns_ns_close(struct dns_ns *ns)
{
    if (ns->fd < 0) {
        free(ns);
        return;
    }
    ns->w->pending++;
    uv_poll_stop(&ns->poll);
    uv_close((uv_handle_t *)&ns->poll, on_ns_closed);
}

void dns_watch_end(struct dns_watch *w)
{
    size_t j = 0;

    if (!w || w->stopping)
        return;
    for (size_t i = 0; i < w->nns; i++) {
        if (w->ns[i]->gen == w->gen)
            w->ns[j++] = w->ns[i];
        else
            dns_ns_close(w->ns[i]);  /* the namespace is gone */
    }
    w->nns = j;
}

static int netns_pid_cmp(const void *a, const void *b)
{
    const struct netns_pid *x = a, *y = b;

    if (x->netns != y->netns)
        return x->netns < y->netns ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Every pid with its network namespace, sorted by (netns, pid). */
static int list_pids(const char *root, struct netns_pid **out, size_t *nout)
{
    char path[PROCFS_PATH_MAX], link[64];
    struct netns_pid *v = NULL, *tmp;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;

    if (procfs_path(path, sizeof path, root, "/proc") < 0 || !(d = opendir(path)))
        return BW_EIO;
    while ((de = readdir(d))) {
        int pid = procfs_pid_of(de->d_name);
        uint64_t ino;

        if (pid < 0 || procfs_path(path, sizeof path, root, "/proc/%d/ns/net", pid) < 0 ||
            procfs_readlink(path, link, sizeof link) < 0 || !(ino = procfs_link_inode(link, "net")))
            continue;  /* gone, a kernel thread, or not ours to read */
        if (n == cap) {
            if (cap >= DNS_WATCH_PIDS)
                break;
            cap = cap ? cap * 2 : 1024;
            tmp = realloc(v, cap * sizeof *v);
            if (!tmp) {
                free(v);
                closedir(d);
                return BW_ENOMEM;
            }
            v = tmp;
        }
        v[n++] = (struct netns_pid){ino, pid};
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, netns_pid_cmp);
    *out = v;
    *nout = n;
    return 0;
}

int dns_watch_scan(struct dns_watch *w, const char *host_root, struct netns_pid **pids,
                   size_t *npids)
{
    struct netns_pid *v = NULL;
    size_t n = 0;
    int rc = list_pids(host_root, &v, &n);

    if (rc < 0)
        return rc;
    dns_watch_begin(w);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || v[i].netns != v[i - 1].netns)
            dns_watch_ns(w, v[i].netns, v[i].pid);
    dns_watch_end(w);
    if (pids) {
        *pids = v;
        *npids = n;
    } else {
        free(v);
    }
    return 0;
}

const char *dns_watch_name(struct dns_watch *w, uint64_t netns, uint8_t family,
                           const uint8_t *addr)
{
    struct dns_ns *ns = w ? dns_find_ns(w, netns) : NULL;

    return ns && ns->cache ? dns_cache_get(ns->cache, family, addr, evb_now_ns()) : NULL;
}

void dns_watch_close(struct dns_watch *w, void (*done)(void *arg), void *arg)
{
    if (!w) {
        if (done)
            done(arg);
        return;
    }
    w->stopping = true;
    for (size_t i = 0; i < w->nns; i++)
        dns_ns_close(w->ns[i]);
    w->nns = 0;
    if (w->pending == 0) {
        if (done)
            done(arg);
        return;
    }
    w->done = done;
    w->done_arg = arg;
}

void dns_watch_free(struct dns_watch *w)
{
    if (!w)
        return;
    /* every socket was closed by dns_watch_close on the loop */
    free(w->host_root);
    free(w);
}
