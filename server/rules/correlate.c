/* correlate.c - per-rule engine state: threshold and correlation windows
 * (bounded LRU maps from group key to a fixed-size slot), the anomaly
 * detectors of anomaly rules, and their save/restore encoding.
 *
 * Times are event times. A window slot of a threshold rule is a ring of the
 * last `count` match times; the rule fires when the oldest of them is within
 * `within` of the newest, then the slot starts again. A correlation slot
 * keeps, per member, when it last matched and which event it was; all-of
 * fires when every member matched within `within` of now, a sequence when
 * the members matched in order with the first no older than `within`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "internal.h"
#include "bulwark/lru.h"

#define STATE_VERSION 1
#define EVI_AGENT_MAX 65
#define THRESH_EVI_MAX 8
#define THRESHOLD_COUNT_MAX 1000

struct evi {
    char agent[EVI_AGENT_MAX];
    uint64_t epoch, seq;
};

/* A map from group key to a fixed-size slot: the engine's one LRU (lru.h),
 * each entry the node, then the slot at SLOT_OFF (16-byte aligned), then
 * the key. */
struct smap {
    struct lru l;
    size_t slot_size;
};

#define SLOT_OFF ((sizeof(struct lru_node) + 15) & ~(size_t)15)
#define SLOT(e) ((unsigned char *)(e) + SLOT_OFF)

struct rstate {
    enum rule_type type;
    struct smap win;         /* running_image: the running table */
    struct smap held;        /* running_image: the findings held */
    struct anomaly_cpu *cpu;
    struct anomaly_firstseen *fs;
    uint32_t count;          /* threshold ring size */
    size_t nmembers;
    struct evi out[RULES_MAX_MEMBERS > THRESH_EVI_MAX ? RULES_MAX_MEMBERS : THRESH_EVI_MAX];
};

/* threshold slot: times[count], then evidence ring; correlation slot below */
struct cslot {
    uint32_t set;            /* members matched (bit i), or sequence progress */
    int64_t t0;
    int64_t t[RULES_MAX_MEMBERS];
    struct evi e[RULES_MAX_MEMBERS];
};

struct tslot_head {
    uint32_t filled, next;
};

/* running_image. Strings are cut to their slot (a container id is 64 hex,
 * a digest 71 bytes; longer names and titles are shortened, never refused). */
struct ri_run {              /* keyed "d:<digest>", or "r:<reference>" without a digest */
    int64_t last_ns;         /* the container's latest event */
    int64_t ev_ns;           /* the event in e (refreshed every window / 2) */
    char id[80], name[128], image[256], digest[80];
    struct evi e;
};

struct ri_find {             /* keyed "<digest or reference>|<id>|<package>|<version>" */
    int64_t time_ns;         /* the scan */
    double cvss;
    char image[256], digest[80];
    char vuln_id[64], package[128], installed[64], fixed[64], severity[16], title[160],
        scanner[16], target[128];
    struct evi e;
};

static int smap_init(struct smap *m, size_t max, size_t slot_size)
{
    m->slot_size = slot_size;
    return lru_init(&m->l, max);
}

static void smap_release(struct smap *m)
{
    lru_release(&m->l, NULL);
}

/* The slot for key (created zeroed when missing, *created then set when
 * created is not NULL; the oldest key is evicted at the bound). Becomes the
 * most recent. NULL on ENOMEM. */
static void *smap_add(struct smap *m, const char *key, bool *created)
{
    struct lru_node *e;
    bool made;

    if (lru_get(&m->l, key, strlen(key), SLOT_OFF + m->slot_size, NULL, &e, &made) < 0)
        return NULL;
    if (made && created)
        *created = true;
    return SLOT(e);
}

static void *smap_get(struct smap *m, const char *key)
{
    return smap_add(m, key, NULL);
}

/* The slot for key, or NULL; the recency order is not changed. */
static void *smap_peek(const struct smap *m, const char *key)
{
    size_t klen = strlen(key);
    struct lru_node *e = lru_find(&m->l, key, klen, lru_hash(key, klen));

    return e ? SLOT(e) : NULL;
}

/* ---------------------------------------------------------------- state */

static size_t thresh_evi(uint32_t count)
{
    return count < THRESH_EVI_MAX ? count : THRESH_EVI_MAX;
}

static size_t slot_size(const struct rule *r)
{
    if (r->type == RT_THRESHOLD)
        return sizeof(struct tslot_head) + r->count * sizeof(int64_t) + thresh_evi(r->count) * sizeof(struct evi);
    return sizeof(struct cslot);
}

struct rstate *rstate_new(const struct rule *r)
{
    struct rstate *s = calloc(1, sizeof *s);
    int rc = 0;

    if (!s)
        return NULL;
    s->type = r->type;
    s->count = r->count;
    s->nmembers = r->nmembers;
    switch (r->type) {
    case RT_CPU_SPIKE:
        s->cpu = anomaly_cpu_new(&r->cpu);
        rc = s->cpu ? 0 : BW_ENOMEM;
        break;
    case RT_FIRST_SEEN:
        s->fs = anomaly_firstseen_new(&r->fs);
        rc = s->fs ? 0 : BW_ENOMEM;
        break;
    case RT_THRESHOLD:
    case RT_CORRELATE:
        rc = smap_init(&s->win, r->max_groups, slot_size(r));
        break;
    case RT_RUNNING_IMAGE:
        rc = smap_init(&s->win, r->run.max_images, sizeof(struct ri_run));
        if (rc == 0)
            rc = smap_init(&s->held, r->run.max_findings, sizeof(struct ri_find));
        break;
    default:
        break;
    }
    if (rc < 0) {
        rstate_free(s);
        return NULL;
    }
    return s;
}

void rstate_free(struct rstate *s)
{
    if (!s)
        return;
    smap_release(&s->win);
    smap_release(&s->held);
    anomaly_cpu_free(s->cpu);
    anomaly_firstseen_free(s->fs);
    free(s);
}

/* Field by field: the structs have padding, which memcmp would compare. */
static bool cpu_params_equal(const struct anomaly_cpu_params *a, const struct anomaly_cpu_params *b)
{
    return a->alpha == b->alpha && a->k == b->k && a->floor == b->floor && a->warmup == b->warmup &&
           a->cooldown_ns == b->cooldown_ns && a->max_keys == b->max_keys &&
           a->sustain == b->sustain && a->sustain_ns == b->sustain_ns &&
           a->grace_ns == b->grace_ns && a->restart_gap_ns == b->restart_gap_ns;
}

bool rstate_compatible(const struct rule *a, const struct rule *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case RT_CPU_SPIKE: return cpu_params_equal(&a->cpu, &b->cpu);
    case RT_FIRST_SEEN: return memcmp(&a->fs, &b->fs, sizeof a->fs) == 0;
    case RT_RUNNING_IMAGE: return memcmp(&a->run, &b->run, sizeof a->run) == 0;
    case RT_THRESHOLD: return a->count == b->count && a->max_groups == b->max_groups;
    case RT_CORRELATE:
        return a->nmembers == b->nmembers && a->sequence == b->sequence && a->max_groups == b->max_groups;
    default: return true;
    }
}

static void evi_set(struct evi *e, const struct evctx *c)
{
    const char *agent = c->m && c->m->agent_id ? c->m->agent_id : "";
    size_t n = strlen(agent);

    if (n >= sizeof e->agent)
        n = sizeof e->agent - 1;
    memcpy(e->agent, agent, n);
    e->agent[n] = '\0';
    e->epoch = c->m ? c->m->epoch : 0;
    e->seq = c->m ? c->m->seq : 0;
}

/* e is a copy in s->out (restored slots are not trusted to be terminated). */
static void evi_out(struct evi *e, struct rules_evidence *o)
{
    e->agent[sizeof e->agent - 1] = '\0';
    o->agent_id = e->agent;
    o->epoch = e->epoch;
    o->seq = e->seq;
}

int rstate_cpu(struct rstate *s, const struct rule *r, struct evctx *c, const char *key)
{
    struct anomaly_cpu_result res;
    struct fval v;
    double x;
    int rc;

    if (fields_get(c, r->value, NULL, &v) < 0)
        return 0;
    x = v.type == VT_DBL ? v.d : (double)v.i;
    rc = anomaly_cpu_observe(s->cpu, key, c->ev->time_ns, x, &res);
    if (rc == 1) {
        c->has_anomaly = true;
        c->anomaly_mean = res.mean;
        c->anomaly_sigma = res.sigma;
        c->anomaly_value = x;
    }
    return rc;
}

int rstate_first_seen(struct rstate *s, const struct rule *r, struct evctx *c, const char *key)
{
    char num[64];
    struct fval v;

    if (fields_get(c, r->value, NULL, &v) < 0)
        return 0;
    return anomaly_firstseen_observe(s->fs, key, fields_format(&v, num, sizeof num), c->ev->time_ns);
}

static bool within(int64_t now, int64_t then, int64_t w)
{
    return now <= then || (uint64_t)now - (uint64_t)then <= (uint64_t)w;
}

int rstate_threshold(struct rstate *s, const struct rule *r, struct evctx *c, const char *key,
                     struct rules_evidence *ev, size_t *n_ev)
{
    unsigned char *slot = smap_get(&s->win, key);
    struct tslot_head *h = (struct tslot_head *)slot;
    int64_t *times, now = c->ev->time_ns;
    struct evi *e;
    size_t ne = thresh_evi(s->count);

    if (!slot)
        return BW_ENOMEM;
    times = (int64_t *)(slot + sizeof *h);
    e = (struct evi *)(times + s->count);
    times[h->next % s->count] = now;
    evi_set(&e[h->next % ne], c);
    h->next = (h->next + 1) % (s->count * (uint32_t)ne);  /* multiple of both ring sizes */
    if (h->filled < s->count)
        h->filled++;
    if (h->filled < s->count || !within(now, times[h->next % s->count], r->within_ns))
        return 0;
    /* newest first */
    *n_ev = 0;
    for (size_t i = 0; i < ne && i < h->filled; i++) {
        size_t idx = (h->next + ne * s->count - 1 - i) % ne;

        s->out[i] = e[idx];
        evi_out(&s->out[i], &ev[(*n_ev)++]);
    }
    h->filled = 0;
    return 1;
}

int rstate_correlate(struct rstate *s, const struct rule *r, struct evctx *c, const char *key,
                     const bool *matched, struct rules_evidence *ev, size_t *n_ev)
{
    struct cslot *sl = smap_get(&s->win, key);
    int64_t now = c->ev->time_ns;
    size_t n = r->nmembers, last = 0;

    if (!sl)
        return BW_ENOMEM;
    if (r->sequence) {
        uint32_t p = sl->set <= n ? sl->set : 0;

        if (p > 0 && !within(now, sl->t0, r->within_ns))
            p = 0;
        if (p < n && matched[p]) {
            if (p == 0)
                sl->t0 = now;
            sl->t[p] = now;
            evi_set(&sl->e[p], c);
            last = p++;
        } else if (p == 0 || !matched[0]) {
            sl->set = p;
            return 0;
        }
        sl->set = p;
        if (p < n)
            return 0;
    } else {
        uint32_t all = (1u << n) - 1;

        sl->set &= all;

        for (size_t i = 0; i < n; i++) {
            if (matched[i]) {
                sl->t[i] = now;
                sl->set |= 1u << i;
                evi_set(&sl->e[i], c);
                last = i;
            } else if ((sl->set & (1u << i)) && !within(now, sl->t[i], r->within_ns)) {
                sl->set &= ~(1u << i);
            }
        }
        if (sl->set != all)
            return 0;
    }
    /* the triggering member first, then the others in order */
    *n_ev = 0;
    s->out[0] = sl->e[last];
    evi_out(&s->out[0], &ev[(*n_ev)++]);
    for (size_t i = 0; i < n; i++) {
        if (i == last)
            continue;
        s->out[*n_ev] = sl->e[i];
        evi_out(&s->out[*n_ev], &ev[*n_ev]);
        ++*n_ev;
    }
    memset(sl, 0, sizeof *sl);
    return 1;
}

/* ------------------------------------------------------ running image */

/* Copies s (NULL: "") into a slot of n bytes, cut to fit. */
static void scopy(char *dst, size_t n, const char *s)
{
    size_t l = s ? strlen(s) : 0;

    if (l >= n)
        l = n - 1;
    memcpy(dst, s ? s : "", l);
    dst[l] = '\0';
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* "<tag>:<v>" into key; false when v is empty or too long to be a key. */
static bool ri_key(char *key, size_t n, char tag, const char *v)
{
    size_t l = v ? strlen(v) : 0;

    if (l == 0 || l + 3 > n)
        return false;
    key[0] = tag;
    key[1] = ':';
    memcpy(key + 2, v, l + 1);
    return true;
}

static bool ri_recent(int64_t now, int64_t then, int64_t w)
{
    uint64_t d = now > then ? (uint64_t)now - (uint64_t)then : (uint64_t)then - (uint64_t)now;

    return d <= (uint64_t)w;
}

static void ri_fill(struct run_match *m, struct ri_find *f, struct ri_run *run)
{
    *m = (struct run_match){
        .id = run->id, .name = run->name, .image = run->image, .digest = run->digest,
        .vuln_id = f->vuln_id, .package = f->package, .installed = f->installed, .fixed = f->fixed,
        .severity = f->severity, .title = f->title, .scanner = f->scanner, .target = f->target,
        .cvss = f->cvss,
    };
    evi_out(&f->e, &m->ev[0]);
    evi_out(&run->e, &m->ev[1]);
}

/* Whether finding f is of the image of running container r: by digest when
 * both know it, else by reference. */
static bool ri_same_image(const struct ri_find *f, const struct ri_run *r)
{
    if (f->digest[0] && r->digest[0])
        return strcmp(f->digest, r->digest) == 0;
    return f->image[0] && strcmp(f->image, r->image) == 0;
}

/* A running container of reference ref known by its digest: a walk of the
 * running table, for a finding that names no digest (rare: a scan of an
 * image by reference whose report had no digest). */
static struct ri_run *ri_find_ref(struct rstate *s, const struct rule *r, const char *ref,
                                  int64_t now)
{
    for (struct lru_node *e = s->win.l.head.next; e != &s->win.l.head; e = e->next) {
        struct ri_run *run = (struct ri_run *)SLOT(e);

        if (ri_recent(now, run->last_ns, r->run.window_ns) && strcmp(run->image, ref) == 0)
            return run;
    }
    return NULL;
}

int rstate_running_finding(struct rstate *s, const struct rule *r, struct evctx *c,
                           struct run_match *m)
{
    const Bulwark__V1__ContainerRef *ct = c->ev->container;
    const Bulwark__V1__VulnFinding *v = c->ev->vuln;
    const char *digest = ct ? str_or_empty(ct->image_digest) : "";
    const char *image = ct ? str_or_empty(ct->image) : "";
    char key[RULES_KEY_MAX];
    struct ri_find *f;
    struct ri_run *run = NULL;
    int64_t now = c->ev->time_ns;
    int n;

    if (!v || (!*digest && !*image))
        return 0;  /* not an image's finding (a repository, a file system): nothing runs it */
    n = snprintf(key, sizeof key, "%s|%s|%s|%s", *digest ? digest : image, str_or_empty(v->vuln_id),
                 str_or_empty(v->package), str_or_empty(v->installed_version));
    if (n < 0 || (size_t)n >= sizeof key)
        return 0;
    if (!(f = smap_get(&s->held, key)))
        return BW_ENOMEM;
    f->time_ns = now;
    f->cvss = v->cvss_score;
    scopy(f->image, sizeof f->image, image);
    scopy(f->digest, sizeof f->digest, digest);
    scopy(f->vuln_id, sizeof f->vuln_id, v->vuln_id);
    scopy(f->package, sizeof f->package, v->package);
    scopy(f->installed, sizeof f->installed, v->installed_version);
    scopy(f->fixed, sizeof f->fixed, v->fixed_version);
    scopy(f->severity, sizeof f->severity, v->vuln_severity);
    scopy(f->title, sizeof f->title, v->title);
    scopy(f->scanner, sizeof f->scanner, v->scanner);
    scopy(f->target, sizeof f->target, v->target);
    evi_set(&f->e, c);
    /* containers known by digest are under "d:", the others under "r:" */
    if (ri_key(key, sizeof key, 'd', digest) && (run = smap_peek(&s->win, key)) &&
        !ri_recent(now, run->last_ns, r->run.window_ns))
        run = NULL;
    if (!run && ri_key(key, sizeof key, 'r', image) && (run = smap_peek(&s->win, key)) &&
        !ri_recent(now, run->last_ns, r->run.window_ns))
        run = NULL;
    if (!run && !*digest)
        run = ri_find_ref(s, r, image, now);
    if (!run)
        return 0;
    ri_fill(m, f, run);
    return 1;
}

int rstate_running_seen(struct rstate *s, const struct rule *r, struct evctx *c, run_match_fn fn,
                        void *ctx)
{
    const Bulwark__V1__ContainerRef *ct = c->ev->container;
    char key[RULES_KEY_MAX];
    int64_t now = c->ev->time_ns;
    struct ri_run *run;
    bool created = false, started;

    if (!ct || !ct->id || !*ct->id || strcmp(ct->id, "host") == 0)
        return 0;
    if (!ri_key(key, sizeof key, 'd', ct->image_digest) && !ri_key(key, sizeof key, 'r', ct->image))
        return 0;
    /* the hot path: one lookup; the slot (which container of the image
     * witnesses that it runs, and with which event) is rewritten at a start
     * and when its evidence is half a window old */
    if (!(run = smap_add(&s->win, key, &created)))
        return BW_ENOMEM;
    started = created || !ri_recent(now, run->last_ns, r->run.window_ns);
    if (!started && now < run->last_ns)
        return 0;  /* an older event (replayed): nothing new */
    run->last_ns = now;
    if (started || !ri_recent(now, run->ev_ns, r->run.window_ns / 2)) {
        run->ev_ns = now;
        scopy(run->id, sizeof run->id, ct->id);
        scopy(run->name, sizeof run->name, ct->name);
        scopy(run->image, sizeof run->image, ct->image);
        scopy(run->digest, sizeof run->digest, ct->image_digest);
        evi_set(&run->e, c);
    }
    if (!started)
        return 0;
    /* The image starts running: its held findings fire (a linear pass over
     * at most max_findings, once per start; expired findings go). */
    for (struct lru_node *e = s->held.l.head.next, *nx; e != &s->held.l.head; e = nx) {
        struct ri_find *f = (struct ri_find *)SLOT(e);
        struct run_match m;

        nx = e->next;
        if (now > f->time_ns && (uint64_t)now - (uint64_t)f->time_ns > (uint64_t)r->run.hold_ns) {
            lru_remove(&s->held.l, e);
            free(e);
            continue;
        }
        if (!ri_same_image(f, run))
            continue;
        ri_fill(&m, f, run);
        fn(ctx, r, &m);
    }
    return 0;
}

/* ------------------------------------------------------- save / restore */

static int put(struct buf *b, const void *p, size_t n)
{
    return buf_append(b, p, n);
}

static int put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    return put(b, x, 4);
}

static bool get_u32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    if (end - *p < 4)
        return false;
    *v = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 | (*p)[3];
    *p += 4;
    return true;
}

/* A map: version, slot size, count, then oldest first: key length, key,
 * slot bytes (host layout: the blob is read back by the same build). */
static int smap_save(const struct smap *m, struct buf *out)
{
    int rc = put_u32(out, STATE_VERSION);

    if (rc == 0)
        rc = put_u32(out, (uint32_t)m->slot_size);
    if (rc == 0)
        rc = put_u32(out, (uint32_t)m->l.n);
    for (const struct lru_node *e = m->l.head.prev; rc == 0 && e != &m->l.head; e = e->prev) {
        rc = put_u32(out, (uint32_t)e->klen);
        if (rc == 0)
            rc = put(out, e->key, e->klen);
        if (rc == 0)
            rc = put(out, SLOT(e), m->slot_size);
    }
    return rc;
}

/* Windows: one map; running_image: the running table, then the findings. */
int rstate_save(const struct rstate *s, struct buf *out)
{
    int rc;

    if (s->cpu)
        return anomaly_cpu_save(s->cpu, out);
    if (s->fs)
        return anomaly_firstseen_save(s->fs, out);
    if (!s->win.l.bucket)
        return 0;
    rc = smap_save(&s->win, out);
    if (rc == 0 && s->held.l.bucket)
        rc = smap_save(&s->held, out);
    return rc;
}

/* Reads a map saved by smap_save from *p into fresh (initialised like m);
 * advances *p. */
static int smap_load(const struct smap *m, struct smap *fresh, const uint8_t **p,
                     const uint8_t *end)
{
    uint32_t ver, ssz, cnt;
    char key[RULES_KEY_MAX];
    int rc;

    if (!get_u32(p, end, &ver) || ver != STATE_VERSION || !get_u32(p, end, &ssz) ||
        ssz != m->slot_size || !get_u32(p, end, &cnt))
        return BW_EINVAL;
    rc = smap_init(fresh, m->l.max, m->slot_size);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t kl;
        void *slot;

        if (!get_u32(p, end, &kl) || kl >= sizeof key || (size_t)(end - *p) < kl + ssz) {
            rc = BW_EINVAL;
            break;
        }
        memcpy(key, *p, kl);
        key[kl] = '\0';
        *p += kl;
        slot = smap_get(fresh, key);
        if (!slot) {
            rc = BW_ENOMEM;
            break;
        }
        memcpy(slot, *p, ssz);
        *p += ssz;
    }
    if (rc < 0)
        smap_release(fresh);
    return rc;
}

/* Moves fresh into *m (released first). */
static void smap_replace(struct smap *m, struct smap *fresh)
{
    smap_release(m);
    m->slot_size = fresh->slot_size;
    lru_move(&m->l, &fresh->l);
}

int rstate_restore(struct rstate *s, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    struct smap fresh, held = {0};
    int rc;

    if (s->cpu)
        return anomaly_cpu_restore(s->cpu, p, n);
    if (s->fs)
        return anomaly_firstseen_restore(s->fs, p, n);
    if (!s->win.l.bucket)
        return n == 0 ? 0 : BW_EINVAL;
    rc = smap_load(&s->win, &fresh, &p, end);
    if (rc < 0)
        return rc;
    if (s->held.l.bucket && (rc = smap_load(&s->held, &held, &p, end)) < 0) {
        smap_release(&fresh);
        return rc;
    }
    if (p != end) {
        smap_release(&fresh);
        smap_release(&held);
        return BW_EINVAL;
    }
    smap_replace(&s->win, &fresh);
    if (s->held.l.bucket)
        smap_replace(&s->held, &held);
    return 0;
}
