/* wirecheck.c - every field of a bulwark.v1 message checked on its wire
 * bytes against bulwark/limits.h (see bulwark/wirecheck.h). The server runs
 * it on each frame it receives, the agent on each spooled event before it
 * sends it: one check, so what an agent sends is what the server accepts. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/limits.h"
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

static uint32_t wire_limit_of(const ProtobufCMessageDescriptor *d,
                                const ProtobufCFieldDescriptor *fd)
{
    /* Events (the bulk) have two listed fields: check them without the loop. */
    if (d == &bulwark__v1__event__descriptor ||
        (d == &bulwark__v1__process_ref__descriptor && fd->id != 11) ||
        (d == &bulwark__v1__container_ref__descriptor && fd->id != 1))
        goto deflt;
    for (size_t i = 0; i < sizeof wire_limits / sizeof wire_limits[0]; i++)
        if (wire_limits[i].msg == d && wire_limits[i].field == fd->id)
            return wire_limits[i].max;
deflt:
    return fd->label == PROTOBUF_C_LABEL_REPEATED ? BW_LIMIT_REPEATED : BW_LIMIT_STRING;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or values past
 * U+10FFFF; NUL is reported apart (*nul), as it is not text either. */
static bool wire_utf8_ok(const uint8_t *p, size_t n, bool *nul)
{
    size_t i = 0;

    *nul = false;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp;

        /* Most text is ASCII: eight bytes at a time while none is 0 or >= 0x80. */
        while (n - i >= 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull) ||
                (v & 0x8080808080808080ull))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        c = p[i];
        if (c < 0x80) {
            if (c == 0) {
                *nul = true;
                return false;
            }
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
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

static int wire_walk(struct wire_walker *w, const ProtobufCMessageDescriptor *d,
                            const uint8_t *p, size_t n, int depth);

/* One length-delimited field at level depth: a string or a nested message
 * (bytes and packed scalars are bounded by the frame). */
static int wire_ld(struct wire_walker *w, const ProtobufCMessageDescriptor *d,
                          const ProtobufCFieldDescriptor *fd, const uint8_t *p, size_t len,
                          int depth)
{
    char msg[96];
    bool nul;
    int rc;

    if (fd->type == PROTOBUF_C_TYPE_STRING) {
        uint32_t max = fd->label == PROTOBUF_C_LABEL_REPEATED ? BW_LIMIT_STRING
                                                              : wire_limit_of(d, fd);
        if (len > max) {
            snprintf(msg, sizeof msg, "is %zu bytes (limit %u)", len, max);
            return wire_fail(w, depth, msg);
        }
        if (!wire_utf8_ok(p, len, &nul))
            return wire_fail(w, depth, nul ? "has a nul byte" : "is not valid utf-8");
        return 0;
    }
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    if (d != &bulwark__v1__batch__descriptor || fd->id != 2)
        return wire_walk(w, fd->descriptor, p, len, depth + 1);
    /* One event of a batch: named by its seq from here on. */
    if (!w->f || w->f->msg_case != BULWARK__V1__FRAME__MSG_BATCH ||
        w->at[depth].index >= w->f->batch->n_events)
        return BW_EPROTO;  /* not what the decoder saw: cannot happen */
    w->in_ev = true;
    w->ev_seq = w->f->batch->events[w->at[depth].index]->seq;
    w->ev_depth = depth + 1;
    rc = wire_walk(w, fd->descriptor, p, len, depth + 1);
    if (rc == 0)
        w->in_ev = false;
    return rc;
}

/* Walks the fields of one message of type d, its own fields at level depth. */
static int wire_walk(struct wire_walker *w, const ProtobufCMessageDescriptor *d,
                            const uint8_t *p, size_t n, int depth)
{
    const uint8_t *end = p + n;
    /* Entries so far of the repeated fields met (a message has a few). */
    struct {
        const ProtobufCFieldDescriptor *fd;
        uint32_t n;
    } seen[8];
    size_t nseen = 0;
    const ProtobufCFieldDescriptor *fd = NULL;
    struct wire_level *l = &w->at[depth];
    int rc;

    if (depth > WIRE_DEPTH)
        return BW_EPROTO;
    while (p < end) {
        uint64_t key, v;
        unsigned num;

        if (!wire_varint(&p, end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
            return BW_EPROTO;
        num = (unsigned)(key >> 3);
        /* Fields come in order as a rule: try the one after the last first. */
        if (fd && fd + 1 < d->fields + d->n_fields && fd[1].id == num)
            fd++;
        else if (!fd || fd->id != num)
            fd = protobuf_c_message_descriptor_get_field(d, num);
        if (fd) {
            l->fd = fd;
            l->index = 0;
        }
        if (fd && fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t i = 0;
            while (i < nseen && seen[i].fd != fd)
                i++;
            if (i == nseen) {
                if (nseen == sizeof seen / sizeof seen[0])
                    return BW_EPROTO;  /* no message of the schema has that many */
                seen[nseen].fd = fd;
                seen[nseen++].n = 0;
            }
            l->index = seen[i].n++;
            if (seen[i].n > wire_limit_of(d, fd)) {
                char msg[64];
                snprintf(msg, sizeof msg, "has more than %u entries", seen[i].n - 1);
                return wire_fail(w, depth, msg);
            }
        }
        switch (key & 7) {
        case 0:
            if (!wire_varint(&p, end, &v))
                return BW_EPROTO;
            if (d == &bulwark__v1__event__descriptor && num == 1)
                w->seen_seq = v;
            if (fd && fd->type == PROTOBUF_C_TYPE_ENUM &&
                (v > INT32_MAX ||
                 !protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)v))) {
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
            if (fd && (rc = wire_ld(w, d, fd, p, (size_t)v, depth)) < 0)
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
    int rc;

    why[0] = '\0';
    rc = wire_walk(&w, &bulwark__v1__frame__descriptor, raw, len, 0);
    if (rc < 0 && why[0] == '\0')
        snprintf(why, whylen, "invalid frame (not a bulwark.v1.Frame)");
    return rc;
}

int wirecheck_event(const uint8_t *raw, size_t len, uint64_t seq, char *why, size_t whylen)
{
    struct wire_walker w = {.in_ev = true, .ev_seq = seq, .why = why, .whylen = whylen};
    int rc;

    why[0] = '\0';
    rc = wire_walk(&w, &bulwark__v1__event__descriptor, raw, len, 0);
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
