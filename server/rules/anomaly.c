/* anomaly.c - the anomaly detectors of include/bulwark/anomaly.h: a CPU
 * spike detector (EWMA mean and variance per key) and a first-seen detector
 * (values per group after a learning period), both bounded by an LRU over
 * their keys, and their versioned binary save/restore format. Pure: no I/O,
 * no clock, no globals.
 *
 * Choices worth knowing:
 * - Baseline: during the first samples the weight of a new sample is
 *   max(alpha, 1/n), which makes the start an exact running (Welford) mean and
 *   population variance, then the plain exponential update of Finch (2009):
 *   d = x - mean; mean += w*d; var = (1 - w) * (var + w*d*d).
 * - A "high" sample (over mean + k*sigma and over the floor, once warmed up)
 *   is never folded into the baseline, whether it fired or fell in the
 *   cooldown. One high sample does not fire: `sustain` of them in a row,
 *   spanning at least `sustain_ns`, do (a start-up burst is short; a miner
 *   is not). A sample that is not high ends the run.
 * - Start-up grace: a key's first sample, and the first sample after a gap
 *   longer than restart_gap_ns (or, when that is 0, three times the key's
 *   previous gap: the agent's interval is learned, not configured twice),
 *   start a grace of grace_ns in which samples are neither judged nor
 *   learned: a container's start-up or restart burst neither fires nor
 *   inflates the baseline. A new container of the same image is a new key
 *   and gets the same grace. A restart that leaves no gap in the samples is
 *   caught by the sustain rule alone. A sustained miner therefore stays high against the pre-spike
 *   baseline and fires again each time a cooldown ends; a genuine permanent
 *   level shift also re-fires once per cooldown (the alert store's
 *   suppression window merges those repeats).
 * - Cooldown is measured on sample time, in either direction: a sample less
 *   than cooldown_ns away from the last firing (an old sample replayed from a
 *   spool included) does not fire.
 * - First-seen values are 64-bit hashes. "Oldest forgotten" is a CLOCK
 *   (second chance) ring: a value seen again since the hand last passed it is
 *   kept one more turn, so a destination in constant use is not forgotten in
 *   favour of one-offs. An evicted group forgets its values and learns again
 *   from scratch: eviction can only make the detector quieter.
 * - Keys are limited to ANOMALY_KEY_MAX bytes (BW_ETOOBIG beyond). */
#include "bulwark/anomaly.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/lru.h"

#define ANOMALY_KEY_MAX 1024u
#define ANOMALY_VERSION 1u      /* first-seen blobs */
#define ANOMALY_CPU_VERSION 2u  /* CPU blobs; version 1 (no run/grace fields) still restores */
#define ANOMALY_MAGIC_CPU "BWAC"
#define ANOMALY_MAGIC_FS "BWAF"
#define ANOMALY_MAX_ENTRIES (1u << 26)  /* sanity bound on any count in a blob */

_Static_assert(sizeof(double) == 8, "doubles are saved as IEEE-754 binary64");

/* ------------------------------------------------------------ hashing */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a, then a splitmix64 finaliser */
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* |a - b| without overflow, as an unsigned distance. */
static uint64_t time_dist(int64_t a, int64_t b)
{
    return a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
}

/* Square root of a finite v >= 0 without libm (bulwark_rules does not link
 * it): the classic exponent-halving guess (within 6 %), then Newton steps,
 * each squaring the relative error, so six reach double precision. */
static double sqrt_pos(double v)
{
    if (!(v > 0) || !isfinite(v))
        return v > 0 ? v : 0;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    bits = (bits >> 1) + (0x3ff0000000000000ULL >> 1);
    double x;
    memcpy(&x, &bits, 8);
    for (int i = 0; i < 6; i++)
        x = 0.5 * (x + v / x);
    return x;
}

uint64_t anomaly_blob_checksum(const uint8_t *p, size_t n)
{
    return hash_bytes(p, n);
}

/* ------------------------------------------------------ the LRU map */

/* The entry of key in l (lru.h), made when missing: an empty key or one
 * past ANOMALY_KEY_MAX is refused (BW_EINVAL, BW_ETOOBIG), else as lru_get. */
static int key_get(struct lru *l, const char *key, size_t size, lru_free_fn free_fn,
                   struct lru_node **out, bool *created)
{
    size_t klen = strlen(key);

    if (klen == 0 || klen > ANOMALY_KEY_MAX)
        return klen ? BW_ETOOBIG : BW_EINVAL;
    return lru_get(l, key, klen, size, free_fn, out, created);
}

/* ------------------------------------------------- blob writer/reader */

struct wr {
    struct buf *b;
    int err;
};

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
    if (w->err == 0)
        w->err = buf_append(w->b, p, n);
}

static void wr_u64(struct wr *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    wr_bytes(w, b, 8);
}

static void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wr_bytes(w, b, 4);
}

static void wr_f64(struct wr *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    wr_u64(w, v);
}

static void wr_key(struct wr *w, const struct lru_node *e)
{
    wr_u32(w, (uint32_t)e->klen);
    wr_bytes(w, e->key, e->klen);
}

/* Writes magic and version; remembers where the blob starts. */
static size_t wr_begin(struct wr *w, const char *magic, uint32_t version)
{
    size_t start = buf_size(w->b);
    wr_bytes(w, magic, 4);
    wr_u32(w, version);
    return start;
}

/* Appends the checksum of the blob; on any error the buffer is put back as
 * it was before the blob. */
static int wr_end(struct wr *w, size_t start)
{
    if (w->err == 0)
        wr_u64(w, hash_bytes(buf_head(w->b) + start, buf_size(w->b) - start));
    if (w->err != 0)
        w->b->len = w->b->off + start;
    return w->err;
}

struct rd {
    const uint8_t *p;
    size_t n;
    bool bad;
    uint32_t version;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->bad || r->n < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

static uint64_t rd_u64(struct rd *r)
{
    const uint8_t *b = rd_take(r, 8);
    uint64_t v = 0;
    for (int i = 0; b && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static uint32_t rd_u32(struct rd *r)
{
    const uint8_t *b = rd_take(r, 4);
    return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 24
             : 0;
}

static double rd_f64(struct rd *r)
{
    uint64_t v = rd_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static const char *rd_key(struct rd *r, size_t *klen)
{
    uint32_t n = rd_u32(r);
    if (n == 0 || n > ANOMALY_KEY_MAX) {
        r->bad = true;
        return NULL;
    }
    *klen = n;
    return (const char *)rd_take(r, n);
}

/* Checks magic, version (1..max, stored in r->version) and the trailing
 * checksum; on success r covers the body between the header and the checksum. */
static int rd_begin(struct rd *r, const uint8_t *p, size_t n, const char *magic, uint32_t max)
{
    if (!p || n < 16 || memcmp(p, magic, 4) != 0)
        return BW_EINVAL;
    *r = (struct rd){.p = p + 4, .n = n - 12};
    struct rd tail = {.p = p + n - 8, .n = 8};
    r->version = rd_u32(r);
    if (r->version < 1 || r->version > max || rd_u64(&tail) != hash_bytes(p, n - 8))
        return BW_EINVAL;
    return 0;
}

/* Reads the fields that follow one entry's key. With out, makes the entry
 * (key, klen, hash h) into *out; without, only checks and skips them.
 * 0, BW_EINVAL (not a blob we wrote) or BW_ENOMEM. */
typedef int (*entry_read_fn)(struct rd *r, const char *key, size_t klen, uint64_t h,
                             struct lru_node **out, void *ctx);

/* Restores a blob (magic, u32 count, then per entry from newest to oldest a
 * key and what read_fn reads) into a fresh map of at most max entries, then
 * swaps it into l: the old state survives a refusal. Entries past max (the
 * oldest) are checked but not kept; a key twice refuses the blob. */
static int lru_restore(struct lru *l, size_t max, const uint8_t *p, size_t n, const char *magic,
                       uint32_t version, entry_read_fn read_fn, void (*free_fn)(struct lru_node *),
                       void *ctx)
{
    struct lru fresh;
    struct rd r;
    int rc;

    if ((rc = rd_begin(&r, p, n, magic, version)) < 0)
        return rc;
    if ((rc = lru_init(&fresh, max)) < 0)
        return rc;
    uint32_t count = rd_u32(&r);
    if (count > ANOMALY_MAX_ENTRIES)
        r.bad = true;
    for (uint32_t i = 0; i < count && !r.bad; i++) {
        size_t klen = 0;
        const char *key = rd_key(&r, &klen);
        if (r.bad)
            break;
        uint64_t h = lru_hash(key, klen);
        if (lru_find(&fresh, key, klen, h)) {
            r.bad = true;  /* a key twice: not a blob we wrote */
            break;
        }
        struct lru_node *e = NULL;
        rc = read_fn(&r, key, klen, h, fresh.n < fresh.max ? &e : NULL, ctx);
        if (rc == BW_EINVAL) {
            r.bad = true;
            break;
        }
        if (rc < 0)
            goto out;
        if (e)
            lru_insert(&fresh, e, true);
    }
    if (r.bad || r.n != 0) {
        rc = BW_EINVAL;
        goto out;
    }
    lru_release(l, free_fn);
    lru_move(l, &fresh);
    return 0;
out:
    lru_release(&fresh, free_fn);
    return rc;
}

/* ======================================================== CPU spikes */

struct cpu_entry {
    struct lru_node node;  /* first */
    uint32_t n;            /* samples folded into the baseline (saturating) */
    bool fired;            /* last_fire is valid */
    bool seen;             /* last_ns is valid */
    double mean, var;
    int64_t last_fire;
    uint32_t run;          /* high samples in a row (saturating) */
    int64_t run_start;     /* time of the first of them */
    int64_t last_ns;       /* newest sample time */
    int64_t step;          /* gap before it (0: unknown) */
    int64_t start_ns;      /* the grace runs from here */
};

struct anomaly_cpu {
    struct anomaly_cpu_params p;
    struct lru keys;
};

static void cpu_entry_free(struct lru_node *e)
{
    free(e);
}

static bool cpu_params_ok(const struct anomaly_cpu_params *p)
{
    return p && p->alpha > 0 && p->alpha <= 1 && p->k >= 0 && isfinite(p->k) &&
           isfinite(p->floor) && p->cooldown_ns >= 0 && p->max_keys > 0 && p->sustain_ns >= 0 &&
           p->grace_ns >= 0 && p->restart_gap_ns >= 0;
}

struct anomaly_cpu *anomaly_cpu_new(const struct anomaly_cpu_params *p)
{
    if (!cpu_params_ok(p))
        return NULL;
    struct anomaly_cpu *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->p = *p;
    if (lru_init(&d->keys, p->max_keys) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

void anomaly_cpu_free(struct anomaly_cpu *d)
{
    if (!d)
        return;
    lru_release(&d->keys, cpu_entry_free);
    free(d);
}

static void cpu_fold(struct cpu_entry *e, double alpha, double x)
{
    if (e->n < UINT32_MAX)
        e->n++;
    double w = 1.0 / e->n > alpha ? 1.0 / e->n : alpha;
    double diff = x - e->mean;
    double incr = w * diff;
    e->mean += incr;
    e->var = (1 - w) * (e->var + diff * incr);
    if (!(e->var >= 0))
        e->var = 0;
}

/* Notes a sample at t: a first sample or one after a restart gap starts a
 * grace (and ends any high run). False while t is in the grace. */
static bool cpu_grace(const struct anomaly_cpu_params *p, struct cpu_entry *e, int64_t t)
{
    if (!e->seen) {
        e->seen = true;
        e->start_ns = e->last_ns = t;
        return p->grace_ns == 0;
    }
    if (t > e->last_ns) {  /* an older sample (replayed) moves nothing */
        int64_t gap = (int64_t)time_dist(t, e->last_ns);
        int64_t limit = p->restart_gap_ns ? p->restart_gap_ns
                        : e->step > 0 && e->step < INT64_MAX / 3 ? 3 * e->step : INT64_MAX;
        if (gap > limit) {
            e->start_ns = t;
            e->run = 0;
        }
        e->step = gap;
        e->last_ns = t;
    }
    return t < e->start_ns || time_dist(t, e->start_ns) >= (uint64_t)p->grace_ns;
}

int anomaly_cpu_observe(struct anomaly_cpu *d, const char *key, int64_t time_ns, double value,
                        struct anomaly_cpu_result *out)
{
    struct lru_node *n;
    bool created;
    int rc;

    if (!d || !key || !isfinite(value))
        return BW_EINVAL;
    if ((rc = key_get(&d->keys, key, sizeof(struct cpu_entry), cpu_entry_free, &n, &created)) < 0)
        return rc;
    struct cpu_entry *e = (struct cpu_entry *)n;
    if (!cpu_grace(&d->p, e, time_ns))
        return 0;
    /* the cheap tests first: most samples are under the floor, and then
     * the square root is not needed (out is filled only on a spike) */
    bool warm = e->n >= d->p.warmup && e->n > 0 && value > d->p.floor;
    double sigma = warm ? sqrt_pos(e->var) : 0;
    bool high = warm && value > e->mean + d->p.k * sigma;
    if (!high) {
        cpu_fold(e, d->p.alpha, value);
        e->run = 0;
        return 0;
    }
    /* High: judged against the baseline, never folded into it. */
    if (e->run == 0)
        e->run_start = time_ns;
    if (e->run < UINT32_MAX)
        e->run++;
    if (e->run < d->p.sustain || time_dist(time_ns, e->run_start) < (uint64_t)d->p.sustain_ns)
        return 0;
    if (e->fired && time_dist(time_ns, e->last_fire) < (uint64_t)d->p.cooldown_ns)
        return 0;
    e->fired = true;
    e->last_fire = time_ns;
    if (out)
        *out = (struct anomaly_cpu_result){.mean = e->mean, .sigma = sigma};
    return 1;
}

/* Blob: "BWAC" u32 version, u32 count, then per key from newest to oldest:
 * u32 klen, key, u32 n, u32 fired, f64 mean, f64 var, i64 last_fire, and
 * from version 2 u32 seen, u32 run, i64 run_start, i64 last_ns, i64 step,
 * i64 start_ns (a version 1 key restores as never seen: it starts a grace);
 * then u64 checksum of everything before it. Little-endian throughout. */
int anomaly_cpu_save(const struct anomaly_cpu *d, struct buf *out)
{
    if (!d || !out)
        return BW_EINVAL;
    struct wr w = {.b = out};
    size_t start = wr_begin(&w, ANOMALY_MAGIC_CPU, ANOMALY_CPU_VERSION);
    wr_u32(&w, (uint32_t)d->keys.n);
    for (const struct lru_node *n = d->keys.head.next; n != &d->keys.head; n = n->next) {
        const struct cpu_entry *e = (const struct cpu_entry *)n;
        wr_key(&w, n);
        wr_u32(&w, e->n);
        wr_u32(&w, e->fired);
        wr_f64(&w, e->mean);
        wr_f64(&w, e->var);
        wr_u64(&w, (uint64_t)e->last_fire);
        wr_u32(&w, e->seen);
        wr_u32(&w, e->run);
        wr_u64(&w, (uint64_t)e->run_start);
        wr_u64(&w, (uint64_t)e->last_ns);
        wr_u64(&w, (uint64_t)e->step);
        wr_u64(&w, (uint64_t)e->start_ns);
    }
    return wr_end(&w, start);
}

/* One key's fields (n, fired, mean, var, last_fire) for lru_restore. */
static int cpu_entry_read(struct rd *r, const char *key, size_t klen, uint64_t h,
                          struct lru_node **out, void *ctx)
{
    struct cpu_entry v = {.n = rd_u32(r)};
    uint32_t fired = rd_u32(r);
    v.mean = rd_f64(r);
    v.var = rd_f64(r);
    v.last_fire = (int64_t)rd_u64(r);
    v.fired = fired == 1;
    uint32_t seen = 0;
    if (r->version >= 2) {
        seen = rd_u32(r);
        v.run = rd_u32(r);
        v.run_start = (int64_t)rd_u64(r);
        v.last_ns = (int64_t)rd_u64(r);
        v.step = (int64_t)rd_u64(r);
        v.start_ns = (int64_t)rd_u64(r);
    }
    v.seen = seen == 1;
    if (r->bad || fired > 1 || seen > 1 || !isfinite(v.mean) || !isfinite(v.var) || v.var < 0)
        return BW_EINVAL;
    if (!out)
        return 0;
    struct cpu_entry *e = lru_entry_alloc(sizeof *e, key, klen, h);
    if (!e)
        return BW_ENOMEM;
    struct lru_node node = e->node;
    *e = v;
    e->node = node;
    *out = &e->node;
    return 0;
}

/* Restores into a fresh map, then swaps: the old state survives a refusal.
 * Keys beyond max_keys (the oldest) are checked but not kept. */
int anomaly_cpu_restore(struct anomaly_cpu *d, const uint8_t *p, size_t n)
{
    if (!d)
        return BW_EINVAL;
    return lru_restore(&d->keys, d->p.max_keys, p, n, ANOMALY_MAGIC_CPU, ANOMALY_CPU_VERSION,
                       cpu_entry_read,
                       cpu_entry_free, NULL);
}

/* ======================================================== first seen */

/* The values of one group: a ring of hashes in arrival order (CLOCK hand at
 * `hand`) and an open-addressing index into it. */
struct fs_group {
    struct lru_node node;  /* first */
    int64_t first_ns;      /* learning starts here */
    uint64_t *ring;        /* value hashes */
    uint8_t *ref;          /* second-chance bits, one byte per slot */
    uint32_t *index;       /* ring position + 1; 0 = empty */
    uint32_t cap;          /* ring capacity (<= max_values) */
    uint32_t n;            /* values held */
    uint32_t hand;         /* oldest position once the ring is full */
    uint32_t icap;         /* index slots, a power of two >= 2 * cap */
};

struct anomaly_firstseen {
    struct anomaly_firstseen_params p;
    struct lru groups;
};

static void fs_group_free(struct lru_node *n)
{
    struct fs_group *g = (struct fs_group *)n;
    free(g->ring);
    free(g->ref);
    free(g->index);
    free(g);
}

/* Index slot holding h, or the empty slot where it would go. */
static uint32_t fs_slot(const struct fs_group *g, uint64_t h)
{
    uint32_t i = (uint32_t)h & (g->icap - 1);
    while (g->index[i] && g->ring[g->index[i] - 1] != h)
        i = (i + 1) & (g->icap - 1);
    return i;
}

/* Deletes slot i by backward shifting (linear probing, no tombstones). */
static void fs_index_del(struct fs_group *g, uint32_t i)
{
    uint32_t mask = g->icap - 1;
    for (uint32_t j = (i + 1) & mask; g->index[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)g->ring[g->index[j] - 1] & mask;
        /* Move j into the hole i if its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            g->index[i] = g->index[j];
            i = j;
        }
    }
    g->index[i] = 0;
}

/* Grows the ring (not yet full of max) and rebuilds the index. */
static int fs_grow(struct fs_group *g, uint32_t max_values)
{
    uint32_t ncap = g->cap ? g->cap * 2 : 8;
    if (ncap > max_values || ncap < g->cap)
        ncap = max_values;
    uint32_t nicap = 16;
    while (nicap < 2 * ncap)
        nicap *= 2;
    uint64_t *ring = realloc(g->ring, (size_t)ncap * sizeof *ring);
    if (!ring)
        return BW_ENOMEM;
    g->ring = ring;
    uint8_t *ref = realloc(g->ref, ncap);
    if (!ref)
        return BW_ENOMEM;
    g->ref = ref;
    uint32_t *index = calloc(nicap, sizeof *index);
    if (!index)
        return BW_ENOMEM;
    free(g->index);
    g->index = index;
    g->icap = nicap;
    g->cap = ncap;
    /* Not full before, so positions 0..n-1 are in arrival order. */
    for (uint32_t i = 0; i < g->n; i++)
        g->index[fs_slot(g, g->ring[i])] = i + 1;
    return 0;
}

/* Learns h (absent); when full, the CLOCK hand picks the value to forget. */
static int fs_learn(struct fs_group *g, uint64_t h, uint32_t max_values)
{
    uint32_t pos;
    int rc;
    if (g->n < max_values) {
        if (g->n == g->cap && (rc = fs_grow(g, max_values)) < 0)
            return rc;
        pos = g->n++;
    } else {
        while (g->ref[g->hand]) {  /* at most one full turn */
            g->ref[g->hand] = 0;
            g->hand = (g->hand + 1) % g->cap;
        }
        pos = g->hand;
        g->hand = (g->hand + 1) % g->cap;
        fs_index_del(g, fs_slot(g, g->ring[pos]));
    }
    g->ring[pos] = h;
    g->ref[pos] = 0;
    g->index[fs_slot(g, h)] = pos + 1;
    return 0;
}

static bool fs_params_ok(const struct anomaly_firstseen_params *p)
{
    return p && p->learning_ns >= 0 && p->max_groups > 0 && p->max_values > 0 &&
           p->max_values <= ANOMALY_MAX_ENTRIES;
}

struct anomaly_firstseen *anomaly_firstseen_new(const struct anomaly_firstseen_params *p)
{
    if (!fs_params_ok(p))
        return NULL;
    struct anomaly_firstseen *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->p = *p;
    if (lru_init(&d->groups, p->max_groups) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

void anomaly_firstseen_free(struct anomaly_firstseen *d)
{
    if (!d)
        return;
    lru_release(&d->groups, fs_group_free);
    free(d);
}

int anomaly_firstseen_observe(struct anomaly_firstseen *d, const char *group, const char *value,
                              int64_t time_ns)
{
    if (!d || !group || !value)
        return BW_EINVAL;
    uint64_t h = hash_bytes(value, strlen(value));
    struct lru_node *n;
    bool created;
    int rc = key_get(&d->groups, group, sizeof(struct fs_group), fs_group_free, &n, &created);
    if (rc < 0)
        return rc;
    struct fs_group *g = (struct fs_group *)n;
    if (created)
        g->first_ns = time_ns;
    if (g->n > 0) {
        uint32_t i = fs_slot(g, h);
        if (g->index[i]) {
            g->ref[g->index[i] - 1] = 1;
            return 0;
        }
    }
    if ((rc = fs_learn(g, h, (uint32_t)d->p.max_values)) < 0)
        return rc;
    bool learning = time_ns < g->first_ns ||
                    time_dist(time_ns, g->first_ns) < (uint64_t)d->p.learning_ns;
    return learning ? 0 : 1;
}

/* Blob: "BWAF" u32 version, u32 count, then per group from newest to
 * oldest: u32 klen, key, i64 first_ns, u32 n, n x u64 hash from oldest to
 * newest (in CLOCK order from the hand), ceil(n/8) bytes of second-chance
 * bits; then u64 checksum of everything before it. */
int anomaly_firstseen_save(const struct anomaly_firstseen *d, struct buf *out)
{
    if (!d || !out)
        return BW_EINVAL;
    struct wr w = {.b = out};
    size_t start = wr_begin(&w, ANOMALY_MAGIC_FS, ANOMALY_VERSION);
    wr_u32(&w, (uint32_t)d->groups.n);
    for (const struct lru_node *n = d->groups.head.next; n != &d->groups.head; n = n->next) {
        const struct fs_group *g = (const struct fs_group *)n;
        uint32_t base = g->n == g->cap ? g->hand : 0;
        wr_key(&w, n);
        wr_u64(&w, (uint64_t)g->first_ns);
        wr_u32(&w, g->n);
        for (uint32_t i = 0; i < g->n; i++)
            wr_u64(&w, g->ring[(base + i) % g->cap]);
        for (uint32_t i = 0; i < g->n; i += 8) {
            uint8_t bits = 0;
            for (uint32_t j = 0; j < 8 && i + j < g->n; j++)
                bits |= (uint8_t)(g->ref[(base + i + j) % g->cap] << j);
            wr_bytes(&w, &bits, 1);
        }
    }
    return wr_end(&w, start);
}

/* Reads one group's values into g (the oldest dropped beyond max_values);
 * g NULL only checks and skips them (a group past max_groups). */
static int fs_restore_values(struct rd *r, struct fs_group *g, uint32_t max_values)
{
    uint32_t n = rd_u32(r);
    if (r->bad || n > ANOMALY_MAX_ENTRIES || r->n < (size_t)n * 8 + (n + 7) / 8)
        return BW_EINVAL;
    const uint8_t *hashes = rd_take(r, (size_t)n * 8);
    const uint8_t *bits = rd_take(r, (n + 7) / 8);
    uint32_t skip = n > max_values ? n - max_values : 0;
    for (uint32_t i = skip; g && i < n; i++) {
        struct rd one = {.p = hashes + (size_t)i * 8, .n = 8};
        uint64_t h = rd_u64(&one);
        if (g->n > 0 && g->index[fs_slot(g, h)])
            return BW_EINVAL;  /* a value twice: not a blob we wrote */
        int rc = fs_learn(g, h, max_values);
        if (rc < 0)
            return rc;
        g->ref[g->n - 1] = (bits[i / 8] >> (i % 8)) & 1;
    }
    return 0;
}

/* One group's fields (first_ns, values) for lru_restore. */
static int fs_group_read(struct rd *r, const char *key, size_t klen, uint64_t h,
                         struct lru_node **out, void *ctx)
{
    const struct anomaly_firstseen *d = ctx;
    int64_t first_ns = (int64_t)rd_u64(r);
    if (r->bad)
        return BW_EINVAL;
    if (!out)  /* a group past max_groups (the oldest): checked and dropped */
        return fs_restore_values(r, NULL, 0) < 0 ? BW_EINVAL : 0;
    struct fs_group *g = lru_entry_alloc(sizeof *g, key, klen, h);
    if (!g)
        return BW_ENOMEM;
    g->first_ns = first_ns;
    int rc = fs_restore_values(r, g, (uint32_t)d->p.max_values);
    if (rc < 0) {
        fs_group_free(&g->node);
        return rc;
    }
    *out = &g->node;
    return 0;
}

int anomaly_firstseen_restore(struct anomaly_firstseen *d, const uint8_t *p, size_t n)
{
    if (!d)
        return BW_EINVAL;
    return lru_restore(&d->groups, d->p.max_groups, p, n, ANOMALY_MAGIC_FS, ANOMALY_VERSION,
                       fs_group_read,
                       fs_group_free, d);
}
