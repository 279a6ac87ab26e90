/* wirecheck.c - every field of a bulwark.v1 message checked on its wire
 * bytes against bulwark/limits.h (see bulwark/wirecheck.h). The server runs
 * it on each frame it receives, the agent on each spooled event before it
 * sends it: one check, so what an agent sends is what the server accepts. */
#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/limits.h"
#include "bulwark/utf8.h"
#include "bulwark/wirecheck.h"

/* ------------------------------------------------------------ wire checks
 *
 * protobuf-c accepts any bytes in a string field and cuts the C copy at the
 * first NUL, so strings are checked on the wire, where their length is
 * known: every string and every repeated field of every message in a frame,
 * against the limits below (BW_LIMIT_STRING / BW_LIMIT_REPEATED when a field
 * is not listed), and every enum against its declared values. */

struct wire_limit {
    const ProtobufCMessageDescriptor *msg;
    unsigned field;     /* field number */
    uint32_t max;       /* bytes of a string, entries of a repeated field */
};

static const struct wire_limit wire_limits[] = {
    {&bulwark__v1__hello__descriptor, 2, BW_LIMIT_AGENT_ID},
    {&bulwark__v1__hello__descriptor, 3, BW_LIMIT_HOSTNAME},
    {&bulwark__v1__hello__descriptor, 4, BW_LIMIT_AGENT_VERSION},
    {&bulwark__v1__labels__descriptor, 1, BW_LIMIT_LABEL},  /* cloud */
    {&bulwark__v1__labels__descriptor, 2, BW_LIMIT_LABEL},  /* region */
    {&bulwark__v1__labels__descriptor, 3, BW_LIMIT_LABEL},  /* environment */
    {&bulwark__v1__labels__descriptor, 4, BW_LIMIT_LABEL},  /* tenant */
    {&bulwark__v1__labels__descriptor, 5, BW_LIMIT_LABELS}, /* extra */
    {&bulwark__v1__labels__extra_entry__descriptor, 1, BW_LIMIT_LABEL_KEY},
    {&bulwark__v1__labels__extra_entry__descriptor, 2, BW_LIMIT_LABEL_VALUE},
    {&bulwark__v1__container_ref__descriptor, 1, BW_LIMIT_CONTAINER_ID},
    {&bulwark__v1__process_ref__descriptor, 11, BW_LIMIT_ANCESTORS},
    {&bulwark__v1__process_exec__descriptor, 14, BW_LIMIT_ADDR},      /* stdio_remote_addr */
    {&bulwark__v1__enroll_request__descriptor, 1, BW_LIMIT_ENROLL_TOKEN},
    {&bulwark__v1__enroll_request__descriptor, 3, BW_LIMIT_HOSTNAME},
    {&bulwark__v1__secret_finding__descriptor, 8, BW_LIMIT_SECRET_MATCH},
    {&bulwark__v1__syscall__descriptor, 1, BW_LIMIT_SYSCALL_NAME},   /* type */
    {&bulwark__v1__syscall__descriptor, 6, BW_LIMIT_SYSCALL_ARGS},   /* args */
    {&bulwark__v1__syscall__args_entry__descriptor, 1, BW_LIMIT_SYSCALL_NAME},
    {&bulwark__v1__batch__descriptor, 2, UINT32_MAX},  /* events: max_batch_events decides */
};

#define WIRE_DEPTH 8     /* Frame > Batch > Event > body > Mount: 5 */

/* ------------------------------------------------------------ the plan
 *
 * The checks each field needs are worked out once from the descriptors and
 * the table above, into a plan per message: what a field number is (string
 * with its limit, nested message, enum, the events of a batch, or nothing to
 * check) is then one array index on the hot path instead of a search of the
 * descriptor and of wire_limits. The plan is built on first use (pthread_once)
 * and never changes after; it holds every message reachable from Frame. */

enum wc_kind {
    WC_OTHER,    /* scalars, bytes, packed runs: bounded by the frame */
    WC_STRING,
    WC_MESSAGE,
    WC_EVENTS,   /* Batch.events: each one named by its seq */
    WC_ENUM,
};

#define WC_NOT_REPEATED 0xFF
#define WC_MAX_REPEATED 8      /* repeated fields of one message (was the walk's cap too) */
#define WC_DIRECT_MAX 255      /* field numbers above are looked up in the descriptor */
#define WC_MAX_MSGS 96
#define WC_MAX_FIELDS 1024     /* fields of all messages */
#define WC_MAX_INDEX 4096      /* direct index entries of all messages */

struct wc_msg;

struct wc_field {
    const ProtobufCFieldDescriptor *fd;
    const struct wc_msg *sub;  /* WC_MESSAGE, WC_EVENTS */
    uint32_t max;              /* WC_STRING: bytes; WC_ENUM: 0..max-1 are all declared */
    uint32_t entries;          /* repeated: most entries */
    uint8_t kind;
    uint8_t slot;              /* repeated: its counter, else WC_NOT_REPEATED */
};

struct wc_msg {
    const ProtobufCMessageDescriptor *d;
    const struct wc_field *fields;  /* parallel to d->fields */
    const uint16_t *index;          /* field number -> 1 + index into fields, 0: unknown */
    uint32_t max_direct;            /* last number index covers */
    bool is_event;
};

struct wc_plan {
    struct wc_msg msgs[WC_MAX_MSGS];
    struct wc_field fields[WC_MAX_FIELDS];
    uint16_t index[WC_MAX_INDEX];
    size_t nmsgs, nfields, nindex;
    const struct wc_msg *frame, *event;
    bool ok;
};

static struct wc_plan wc_plan;
static pthread_once_t wc_plan_once = PTHREAD_ONCE_INIT;

static uint32_t wc_limit_of(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd)
{
    for (size_t i = 0; i < sizeof wire_limits / sizeof wire_limits[0]; i++)
        if (wire_limits[i].msg == d && wire_limits[i].field == fd->id)
            return wire_limits[i].max;
    return fd->label == PROTOBUF_C_LABEL_REPEATED ? BW_LIMIT_REPEATED : BW_LIMIT_STRING;
}

/* The plan of d, made (with those of its nested messages) if new; NULL when
 * the plan's arrays are too small for the schema. */
static const struct wc_msg *wc_plan_msg(struct wc_plan *pl, const ProtobufCMessageDescriptor *d)
{
    struct wc_msg *m;
    struct wc_field *fields;
    uint16_t *index;
    uint32_t max_direct = 0;
    unsigned nrep = 0;

    for (size_t i = 0; i < pl->nmsgs; i++)
        if (pl->msgs[i].d == d)
            return &pl->msgs[i];
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].id <= WC_DIRECT_MAX && d->fields[i].id > max_direct)
            max_direct = d->fields[i].id;
    if (pl->nmsgs == WC_MAX_MSGS || WC_MAX_FIELDS - pl->nfields < d->n_fields ||
        WC_MAX_INDEX - pl->nindex < max_direct + 1)
        return NULL;
    m = &pl->msgs[pl->nmsgs++];
    fields = &pl->fields[pl->nfields];
    pl->nfields += d->n_fields;
    index = &pl->index[pl->nindex];
    pl->nindex += max_direct + 1;
    *m = (struct wc_msg){.d = d, .fields = fields, .index = index, .max_direct = max_direct,
                         .is_event = d == &bulwark__v1__event__descriptor};
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        struct wc_field *f = &fields[i];
        bool rep = fd->label == PROTOBUF_C_LABEL_REPEATED;

        *f = (struct wc_field){.fd = fd, .kind = WC_OTHER, .slot = WC_NOT_REPEATED};
        if (fd->id <= WC_DIRECT_MAX)
            index[fd->id] = (uint16_t)(i + 1);
        if (rep) {
            if (nrep == WC_MAX_REPEATED)
                return NULL;
            f->slot = (uint8_t)nrep++;
            f->entries = wc_limit_of(d, fd);
        }
        switch (fd->type) {
        case PROTOBUF_C_TYPE_STRING:
            f->kind = WC_STRING;
            f->max = rep ? BW_LIMIT_STRING : wc_limit_of(d, fd);
            break;
        case PROTOBUF_C_TYPE_MESSAGE:
            f->kind = d == &bulwark__v1__batch__descriptor && fd->id == 2 ? WC_EVENTS : WC_MESSAGE;
            if (!(f->sub = wc_plan_msg(pl, fd->descriptor)))
                return NULL;
            break;
        case PROTOBUF_C_TYPE_ENUM:
            f->kind = WC_ENUM;
            while (f->max <= INT32_MAX &&
                   protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)f->max))
                f->max++;
            break;
        default:
            break;
        }
    }
    return m;
}

static void wc_plan_build(void)
{
    wc_plan.frame = wc_plan_msg(&wc_plan, &bulwark__v1__frame__descriptor);
    wc_plan.event = wc_plan.frame ? wc_plan_msg(&wc_plan, &bulwark__v1__event__descriptor) : NULL;
    wc_plan.ok = wc_plan.frame && wc_plan.event;
    assert(wc_plan.ok);  /* the arrays above are too small for the schema */
}

/* The field of m numbered num, or NULL when the schema has none. */
static inline const struct wc_field *wc_field_of(const struct wc_msg *m, uint64_t num)
{
    const ProtobufCFieldDescriptor *fd;

    if (num <= m->max_direct) {
        unsigned i = m->index[num];
        return i ? &m->fields[i - 1] : NULL;
    }
    fd = protobuf_c_message_descriptor_get_field(m->d, (unsigned)num);
    return fd ? &m->fields[fd - m->d->fields] : NULL;
}

/* Where the walk is, kept cheaply; the text of the path is made only for a
 * refusal. */
struct wire_level {
    const ProtobufCFieldDescriptor *fd;
    uint32_t index;             /* entry of a repeated field */
};

struct wire_walker {
    const Bulwark__V1__Frame *f;
    bool in_ev;                    /* walking an event, named by ev_seq */
    uint64_t ev_seq;
    int ev_depth;                  /* levels above it are not named */
    uint64_t seen_seq;             /* the last Event.seq met on the wire */
    struct wire_level at[WIRE_DEPTH + 1];
    char *why;
    size_t whylen;
};

/* Whether the 8 bytes at p are all 1..0x7F (ASCII without NUL): a byte of 0
 * borrows, so v - 0x01.. sets its top bit. */
static inline bool wire_ascii8(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return !(((v - 0x0101010101010101ull) | v) & 0x8080808080808080ull);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or values past
 * U+10FFFF; NUL is reported apart (*nul), as it is not text either. */
static bool wire_utf8_ok(const uint8_t *p, size_t n, bool *nul)
{
    size_t i = 0;

    *nul = false;
    /* Most text is ASCII: whole words, then the last word for the tail
     * (overlapping what was checked). */
    if (n >= 8) {
        while (n - i >= 8 && wire_ascii8(p + i))
            i += 8;
        if (i == n || (n - i < 8 && wire_ascii8(p + n - 8)))
            return true;
    }
    while (i < n) {
        uint8_t c;
        size_t len;
        uint32_t cp;

        while (n - i >= 8 && wire_ascii8(p + i))
            i += 8;
        if (i >= n)
            break;
        c = p[i];
        if (c == 0) {
            *nul = true;
            return false;
        }
        if (!(len = bw_utf8_next(p + i, n - i, &cp)))
            return false;
        i += len;
    }
    return true;
}

static inline bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    /* Keys and most lengths are one byte. */
    if (*p < end && **p < 0x80) {
        *v = *(*p)++;
        return true;
    }
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Steps over a varint whose value is not needed: as wire_varint, without
 * decoding it (most are times and sizes of several bytes). */
static inline bool wire_skip_varint(const uint8_t **p, const uint8_t *end)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end - *p >= 8) {
        uint64_t v, last;

        memcpy(&v, *p, 8);
        last = ~v & 0x8080808080808080ull;  /* the top bit of the last byte is clear */
        if (last) {
            *p += (__builtin_ctzll(last) >> 3) + 1;
            return true;
        }
    }
#endif
    uint64_t v;
    return wire_varint(p, end, &v);
}

/* Writes "event seq N: field 'PATH' MSG" or "field 'PATH' MSG" into why,
 * PATH being the fields from the event (or the frame) down to depth. */
static int wire_fail(struct wire_walker *w, int depth, const char *msg)
{
    char path[160];
    size_t used = 0;

    path[0] = '\0';
    for (int i = w->in_ev ? w->ev_depth : 0; i <= depth && used < sizeof path; i++) {
        const struct wire_level *l = &w->at[i];
        int n = snprintf(path + used, sizeof path - used, "%s%s", used ? "." : "", l->fd->name);
        used += n > 0 ? (size_t)n : 0;
        if (l->fd->label == PROTOBUF_C_LABEL_REPEATED && used < sizeof path) {
            n = snprintf(path + used, sizeof path - used, "[%u]", l->index);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (w->in_ev)
        snprintf(w->why, w->whylen, "event seq %llu: field '%s' %s",
                 (unsigned long long)w->ev_seq, path, msg);
    else
        snprintf(w->why, w->whylen, "field '%s' %s", path, msg);
    return BW_EPROTO;
}

static int wire_walk(struct wire_walker *w, const struct wc_msg *m, const uint8_t *p, size_t n,
                     int depth);

/* One length-delimited field f at level depth: a string or a nested message
 * (bytes and packed scalars are bounded by the frame). */
static int wire_ld(struct wire_walker *w, const struct wc_field *f, const uint8_t *p, size_t len,
                   int depth)
{
    char msg[96];
    bool nul;
    int rc;

    switch (f->kind) {
    case WC_STRING:
        if (len > f->max) {
            snprintf(msg, sizeof msg, "is %zu bytes (limit %u)", len, f->max);
            return wire_fail(w, depth, msg);
        }
        if (!wire_utf8_ok(p, len, &nul))
            return wire_fail(w, depth, nul ? "has a nul byte" : "is not valid utf-8");
        return 0;
    case WC_MESSAGE:
        return wire_walk(w, f->sub, p, len, depth + 1);
    case WC_EVENTS:
        /* One event of a batch: named by its seq from here on. */
        if (!w->f || w->f->msg_case != BULWARK__V1__FRAME__MSG_BATCH ||
            w->at[depth].index >= w->f->batch->n_events)
            return BW_EPROTO;  /* not what the decoder saw: cannot happen */
        w->in_ev = true;
        w->ev_seq = w->f->batch->events[w->at[depth].index]->seq;
        w->ev_depth = depth + 1;
        rc = wire_walk(w, f->sub, p, len, depth + 1);
        if (rc == 0)
            w->in_ev = false;
        return rc;
    default:
        return 0;
    }
}

/* Walks the fields of one message of plan m, its own fields at level depth. */
static int wire_walk(struct wire_walker *w, const struct wc_msg *m, const uint8_t *p, size_t n,
                     int depth)
{
    const uint8_t *end = p + n;
    uint32_t seen[WC_MAX_REPEATED] = {0};  /* entries so far of each repeated field */
    struct wire_level *l = &w->at[depth];
    int rc;

    if (depth > WIRE_DEPTH)
        return BW_EPROTO;
    while (p < end) {
        const struct wc_field *f;
        uint64_t key, v;

        if (!wire_varint(&p, end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
            return BW_EPROTO;
        f = wc_field_of(m, key >> 3);
        if (f) {
            l->fd = f->fd;
            l->index = 0;
            if (f->slot != WC_NOT_REPEATED) {
                l->index = seen[f->slot]++;
                if (seen[f->slot] > f->entries) {
                    char msg[64];
                    snprintf(msg, sizeof msg, "has more than %u entries", seen[f->slot] - 1);
                    return wire_fail(w, depth, msg);
                }
            }
        }
        switch (key & 7) {
        case 0:
            if (!(f && f->kind == WC_ENUM) && !(m->is_event && key >> 3 == 1)) {
                if (!wire_skip_varint(&p, end))
                    return BW_EPROTO;
                break;
            }
            if (!wire_varint(&p, end, &v))
                return BW_EPROTO;
            if (m->is_event && key >> 3 == 1)
                w->seen_seq = v;
            if (f && f->kind == WC_ENUM && v >= f->max &&
                (v > INT32_MAX || !protobuf_c_enum_descriptor_get_value(f->fd->descriptor, (int)v))) {
                char msg[64];
                snprintf(msg, sizeof msg, "has no value %lld", (long long)(int64_t)v);
                return wire_fail(w, depth, msg);
            }
            break;
        case 1:
            if (end - p < 8)
                return BW_EPROTO;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return BW_EPROTO;
            p += 4;
            break;
        case 2:
            if (!wire_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return BW_EPROTO;
            if (f && f->kind != WC_OTHER && (rc = wire_ld(w, f, p, (size_t)v, depth)) < 0)
                return rc;
            p += v;
            break;
        default:
            return BW_EPROTO;
        }
    }
    return 0;
}

int wirecheck_frame(const Bulwark__V1__Frame *f, const uint8_t *raw, size_t len, char *why,
                       size_t whylen)
{
    struct wire_walker w = {.f = f, .why = why, .whylen = whylen};
    int rc = BW_EPROTO;

    why[0] = '\0';
    pthread_once(&wc_plan_once, wc_plan_build);
    if (wc_plan.ok)
        rc = wire_walk(&w, wc_plan.frame, raw, len, 0);
    if (rc < 0 && why[0] == '\0')
        snprintf(why, whylen, "invalid frame (not a bulwark.v1.Frame)");
    return rc;
}

int wirecheck_event(const uint8_t *raw, size_t len, uint64_t seq, char *why, size_t whylen)
{
    struct wire_walker w = {.in_ev = true, .ev_seq = seq, .why = why, .whylen = whylen};
    int rc = BW_EPROTO;

    why[0] = '\0';
    pthread_once(&wc_plan_once, wc_plan_build);
    if (wc_plan.ok)
        rc = wire_walk(&w, wc_plan.event, raw, len, 0);
    if (rc < 0 && why[0] == '\0')
        snprintf(why, whylen, "event seq %llu: undecodable (not a bulwark.v1.Event)",
                 (unsigned long long)seq);
    if (rc == 0 && w.seen_seq != seq) {
        /* a row whose bytes say another seq would break the stream's order */
        snprintf(why, whylen, "event seq %llu: field 'seq' says %llu", (unsigned long long)seq,
                 (unsigned long long)w.seen_seq);
        rc = BW_EPROTO;
    }
    return rc;
}

uint64_t wirecheck_why_seq(const char *why)
{
    unsigned long long seq;
    int n = 0;

    if (why && sscanf(why, "event seq %llu:%n", &seq, &n) == 1 && n > 0)
        return seq;
    return 0;
}
