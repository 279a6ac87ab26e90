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
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "internal.h"

#define STATE_VERSION 1
#define EVI_AGENT_MAX 65
#define THRESH_EVI_MAX 8
#define THRESHOLD_COUNT_MAX 1000

struct evi {
    char agent[EVI_AGENT_MAX];
    uint64_t epoch, seq;
};

struct lru_entry {
    struct lru_entry *hnext, *prev, *next;
    uint64_t hash;
    char *key;
    /* the slot's bytes follow at LRU_SLOT_OFF (no flexible array member:
     * the list head embeds an entry, which ISO C does not allow with one) */
};

#define LRU_SLOT_OFF ((sizeof(struct lru_entry) + 15) & ~(size_t)15)
#define LRU_SLOT(e) ((unsigned char *)(e) + LRU_SLOT_OFF)

struct lru {
    struct lru_entry **buckets;
    size_t nb, n, max, slot_size;
    struct lru_entry head;   /* head.next: most recent; head.prev: oldest */
};

struct rstate {
    enum rule_type type;
    struct lru win;
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

static uint64_t key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int lru_init(struct lru *l, size_t max, size_t slot_size)
{
    memset(l, 0, sizeof *l);
    l->max = max ? max : 1;
    l->slot_size = slot_size;
    l->nb = 64;
    while (l->nb < l->max && l->nb < (1u << 20))
        l->nb *= 2;
    l->buckets = calloc(l->nb, sizeof *l->buckets);
    l->head.next = l->head.prev = &l->head;
    return l->buckets ? 0 : BW_ENOMEM;
}

static void lru_unlink(struct lru *l, struct lru_entry *e)
{
    struct lru_entry **pp = &l->buckets[e->hash & (l->nb - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    l->n--;
}

static void lru_release(struct lru *l)
{
    struct lru_entry *e, *nx;

    if (!l->buckets)
        return;
    for (e = l->head.next; e != &l->head; e = nx) {
        nx = e->next;
        free(e->key);
        free(e);
    }
    free(l->buckets);
    l->buckets = NULL;
}

static void lru_front(struct lru *l, struct lru_entry *e)
{
    e->next = l->head.next;
    e->prev = &l->head;
    l->head.next->prev = e;
    l->head.next = e;
}

/* The slot for key (created zeroed when missing; the oldest key is evicted
 * at the bound). Becomes the most recent. NULL on ENOMEM. */
static void *lru_get(struct lru *l, const char *key)
{
    uint64_t h = key_hash(key);
    struct lru_entry *e;

    for (e = l->buckets[h & (l->nb - 1)]; e; e = e->hnext) {
        if (e->hash == h && strcmp(e->key, key) == 0) {
            e->prev->next = e->next;
            e->next->prev = e->prev;
            lru_front(l, e);
            return LRU_SLOT(e);
        }
    }
    if (l->n >= l->max) {
        struct lru_entry *old = l->head.prev;

        lru_unlink(l, old);
        free(old->key);
        free(old);
    }
    e = calloc(1, LRU_SLOT_OFF + l->slot_size);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    e->hash = h;
    e->hnext = l->buckets[h & (l->nb - 1)];
    l->buckets[h & (l->nb - 1)] = e;
    lru_front(l, e);
    l->n++;
    return LRU_SLOT(e);
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
        rc = lru_init(&s->win, r->max_groups, slot_size(r));
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
    lru_release(&s->win);
    anomaly_cpu_free(s->cpu);
    anomaly_firstseen_free(s->fs);
    free(s);
}

bool rstate_compatible(const struct rule *a, const struct rule *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case RT_CPU_SPIKE: return memcmp(&a->cpu, &b->cpu, sizeof a->cpu) == 0;
    case RT_FIRST_SEEN: return memcmp(&a->fs, &b->fs, sizeof a->fs) == 0;
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
    unsigned char *slot = lru_get(&s->win, key);
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
    struct cslot *sl = lru_get(&s->win, key);
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

/* Windows: version, slot size, count, then oldest first: key length, key,
 * slot bytes (host layout: the blob is read back by the same build). */
int rstate_save(const struct rstate *s, struct buf *out)
{
    int rc;

    if (s->cpu)
        return anomaly_cpu_save(s->cpu, out);
    if (s->fs)
        return anomaly_firstseen_save(s->fs, out);
    if (!s->win.buckets)
        return 0;
    rc = put_u32(out, STATE_VERSION);
    if (rc == 0)
        rc = put_u32(out, (uint32_t)s->win.slot_size);
    if (rc == 0)
        rc = put_u32(out, (uint32_t)s->win.n);
    for (const struct lru_entry *e = s->win.head.prev; rc == 0 && e != &s->win.head; e = e->prev) {
        size_t kl = strlen(e->key);

        rc = put_u32(out, (uint32_t)kl);
        if (rc == 0)
            rc = put(out, e->key, kl);
        if (rc == 0)
            rc = put(out, LRU_SLOT(e), s->win.slot_size);
    }
    return rc;
}

int rstate_restore(struct rstate *s, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    uint32_t ver, ssz, cnt;
    struct lru fresh;
    char key[RULES_KEY_MAX];
    int rc;

    if (s->cpu)
        return anomaly_cpu_restore(s->cpu, p, n);
    if (s->fs)
        return anomaly_firstseen_restore(s->fs, p, n);
    if (!s->win.buckets)
        return n == 0 ? 0 : BW_EINVAL;
    if (!get_u32(&p, end, &ver) || ver != STATE_VERSION || !get_u32(&p, end, &ssz) ||
        ssz != s->win.slot_size || !get_u32(&p, end, &cnt))
        return BW_EINVAL;
    rc = lru_init(&fresh, s->win.max, s->win.slot_size);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t kl;
        void *slot;

        if (!get_u32(&p, end, &kl) || kl >= sizeof key || (size_t)(end - p) < kl + ssz) {
            rc = BW_EINVAL;
            break;
        }
        memcpy(key, p, kl);
        key[kl] = '\0';
        p += kl;
        slot = lru_get(&fresh, key);
        if (!slot) {
            rc = BW_ENOMEM;
            break;
        }
        memcpy(slot, p, ssz);
        p += ssz;
    }
    if (rc == 0 && p != end)
        rc = BW_EINVAL;
    if (rc < 0) {
        lru_release(&fresh);
        return rc;
    }
    lru_release(&s->win);
    s->win = fresh;
    /* the list head moved with the struct copy: re-point its neighbours */
    if (s->win.n == 0) {
        s->win.head.next = s->win.head.prev = &s->win.head;
    } else {
        s->win.head.next->prev = &s->win.head;
        s->win.head.prev->next = &s->win.head;
    }
    return 0;
}
