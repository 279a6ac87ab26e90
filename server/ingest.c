/* ingest.c - frame -> validated, store-ready events (pure).
 *
 * Everything an agent sends is hostile until proved otherwise: this file
 * decides whether a Hello matches the certificate and whether a Batch is
 * well formed, contiguous and bounded. It neither logs nor touches sockets;
 * the connection that called it logs the reason once and closes. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/ingest.h"
#include "bulwark/limits.h"

/* ------------------------------------------------------------ wire checks
 *
 * protobuf-c accepts any bytes in a string field and cuts the C copy at the
 * first NUL, so strings are checked on the wire, where their length is
 * known: every string and every repeated field of every message in a frame,
 * against the limits below (BW_LIMIT_STRING / BW_LIMIT_REPEATED when a field
 * is not listed), and every enum against its declared values. */

struct ingest_limit {
    const ProtobufCMessageDescriptor *msg;
    unsigned field;     /* field number */
    uint32_t max;       /* bytes of a string, entries of a repeated field */
};

static const struct ingest_limit ingest_limits[] = {
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
    {&bulwark__v1__batch__descriptor, 2, UINT32_MAX},  /* events: max_batch_events decides */
};

#define INGEST_WIRE_DEPTH 8     /* Frame > Batch > Event > body > Mount: 5 */

/* Where the walk is, kept cheaply; the text of the path is made only for a
 * refusal. */
struct ingest_level {
    const ProtobufCFieldDescriptor *fd;
    uint32_t index;             /* entry of a repeated field */
};

struct ingest_wire {
    const Bulwark__V1__Frame *f;
    const Bulwark__V1__Event *ev;  /* the event being walked, if any */
    int ev_depth;                  /* levels above it are not named */
    struct ingest_level at[INGEST_WIRE_DEPTH + 1];
    char *why;
    size_t whylen;
};

static uint32_t ingest_limit_of(const ProtobufCMessageDescriptor *d,
                                const ProtobufCFieldDescriptor *fd)
{
    /* Events (the bulk) have one listed field: check them without the loop. */
    if (d == &bulwark__v1__event__descriptor || d == &bulwark__v1__process_ref__descriptor ||
        (d == &bulwark__v1__container_ref__descriptor && fd->id != 1))
        goto deflt;
    for (size_t i = 0; i < sizeof ingest_limits / sizeof ingest_limits[0]; i++)
        if (ingest_limits[i].msg == d && ingest_limits[i].field == fd->id)
            return ingest_limits[i].max;
deflt:
    return fd->label == PROTOBUF_C_LABEL_REPEATED ? BW_LIMIT_REPEATED : BW_LIMIT_STRING;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or values past
 * U+10FFFF; NUL is reported apart (*nul), as it is not text either. */
static bool ingest_utf8_ok(const uint8_t *p, size_t n, bool *nul)
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

static bool ingest_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
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
static int ingest_wire_fail(struct ingest_wire *w, int depth, const char *msg)
{
    char path[160];
    size_t used = 0;

    path[0] = '\0';
    for (int i = w->ev ? w->ev_depth : 0; i <= depth && used < sizeof path; i++) {
        const struct ingest_level *l = &w->at[i];
        int n = snprintf(path + used, sizeof path - used, "%s%s", used ? "." : "", l->fd->name);
        used += n > 0 ? (size_t)n : 0;
        if (l->fd->label == PROTOBUF_C_LABEL_REPEATED && used < sizeof path) {
            n = snprintf(path + used, sizeof path - used, "[%u]", l->index);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (w->ev)
        snprintf(w->why, w->whylen, "event seq %llu: field '%s' %s",
                 (unsigned long long)w->ev->seq, path, msg);
    else
        snprintf(w->why, w->whylen, "field '%s' %s", path, msg);
    return BW_EPROTO;
}

static int ingest_wire_walk(struct ingest_wire *w, const ProtobufCMessageDescriptor *d,
                            const uint8_t *p, size_t n, int depth);

/* One length-delimited field at level depth: a string or a nested message
 * (bytes and packed scalars are bounded by the frame). */
static int ingest_wire_ld(struct ingest_wire *w, const ProtobufCMessageDescriptor *d,
                          const ProtobufCFieldDescriptor *fd, const uint8_t *p, size_t len,
                          int depth)
{
    char msg[96];
    bool nul;
    int rc;

    if (fd->type == PROTOBUF_C_TYPE_STRING) {
        uint32_t max = fd->label == PROTOBUF_C_LABEL_REPEATED ? BW_LIMIT_STRING
                                                              : ingest_limit_of(d, fd);
        if (len > max) {
            snprintf(msg, sizeof msg, "is %zu bytes (limit %u)", len, max);
            return ingest_wire_fail(w, depth, msg);
        }
        if (!ingest_utf8_ok(p, len, &nul))
            return ingest_wire_fail(w, depth, nul ? "has a nul byte" : "is not valid utf-8");
        return 0;
    }
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    if (d != &bulwark__v1__batch__descriptor || fd->id != 2)
        return ingest_wire_walk(w, fd->descriptor, p, len, depth + 1);
    /* One event of a batch: named by its seq from here on. */
    if (!w->f || w->f->msg_case != BULWARK__V1__FRAME__MSG_BATCH ||
        w->at[depth].index >= w->f->batch->n_events)
        return BW_EPROTO;  /* not what the decoder saw: cannot happen */
    w->ev = w->f->batch->events[w->at[depth].index];
    w->ev_depth = depth + 1;
    rc = ingest_wire_walk(w, fd->descriptor, p, len, depth + 1);
    if (rc == 0)
        w->ev = NULL;
    return rc;
}

/* Walks the fields of one message of type d, its own fields at level depth. */
static int ingest_wire_walk(struct ingest_wire *w, const ProtobufCMessageDescriptor *d,
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
    struct ingest_level *l = &w->at[depth];
    int rc;

    if (depth > INGEST_WIRE_DEPTH)
        return BW_EPROTO;
    while (p < end) {
        uint64_t key, v;
        unsigned num;

        if (!ingest_varint(&p, end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
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
            if (seen[i].n > ingest_limit_of(d, fd)) {
                char msg[64];
                snprintf(msg, sizeof msg, "has more than %u entries", seen[i].n - 1);
                return ingest_wire_fail(w, depth, msg);
            }
        }
        switch (key & 7) {
        case 0:
            if (!ingest_varint(&p, end, &v))
                return BW_EPROTO;
            if (fd && fd->type == PROTOBUF_C_TYPE_ENUM &&
                (v > INT32_MAX ||
                 !protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)v))) {
                char msg[64];
                snprintf(msg, sizeof msg, "has no value %lld", (long long)(int64_t)v);
                return ingest_wire_fail(w, depth, msg);
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
            if (!ingest_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return BW_EPROTO;
            if (fd && (rc = ingest_wire_ld(w, d, fd, p, (size_t)v, depth)) < 0)
                return rc;
            p += v;
            break;
        default:
            return BW_EPROTO;
        }
    }
    return 0;
}

int ingest_check_frame(const Bulwark__V1__Frame *f, const uint8_t *raw, size_t len, char *why,
                       size_t whylen)
{
    struct ingest_wire w = {.f = f, .why = why, .whylen = whylen};
    int rc;

    why[0] = '\0';
    rc = ingest_wire_walk(&w, &bulwark__v1__frame__descriptor, raw, len, 0);
    if (rc < 0 && why[0] == '\0')
        snprintf(why, whylen, "invalid frame (not a bulwark.v1.Frame)");
    return rc;
}

/* ------------------------------------------------------------ message checks */

static int ingest_id_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > BW_LIMIT_AGENT_ID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A host name is what the store and the API show to tell hosts apart:
 * printable, without spaces (UTF-8 is checked on the wire). */
static bool ingest_hostname_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > BW_LIMIT_HOSTNAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7F)
            return false;
    return true;
}

int ingest_check_hello(const Bulwark__V1__Hello *h, const char *peer_cn, char *why, size_t whylen)
{
    if (h->protocol_version != INGEST_PROTOCOL_VERSION) {
        snprintf(why, whylen, "unsupported protocol version %u", h->protocol_version);
        return BW_EPROTO;
    }
    if (!ingest_id_ok(h->agent_id)) {
        snprintf(why, whylen, "hello agent_id is empty, too long or has bad characters");
        return BW_EPROTO;
    }
    if (!peer_cn || strcmp(h->agent_id, peer_cn) != 0) {
        snprintf(why, whylen, "hello agent_id '%s' does not match certificate '%s'", h->agent_id,
                 peer_cn ? peer_cn : "");
        return BW_EAUTH;
    }
    if (h->epoch == 0 || h->epoch > BW_LIMIT_EPOCH) {
        snprintf(why, whylen, "hello epoch %llu is not in 1..2^63-1",
                 (unsigned long long)h->epoch);
        return BW_EPROTO;
    }
    if (!ingest_hostname_ok(h->hostname)) {
        snprintf(why, whylen, "hello hostname is empty, over %u bytes or has a control "
                 "character or space", BW_LIMIT_HOSTNAME);
        return BW_EPROTO;
    }
    if (strlen(h->agent_version) > BW_LIMIT_AGENT_VERSION) {
        snprintf(why, whylen, "hello agent_version is over %u bytes", BW_LIMIT_AGENT_VERSION);
        return BW_EPROTO;
    }
    return 0;
}

static int ingest_event_fail(const Bulwark__V1__Event *ev, char *why, size_t whylen,
                             const char *what)
{
    snprintf(why, whylen, "event seq %llu: %s", (unsigned long long)ev->seq, what);
    return BW_EPROTO;
}

/* Numbers the wire check cannot judge: ports, ratios, scores. */
static int ingest_body_check(const Bulwark__V1__Event *ev, char *why, size_t whylen)
{
    const Bulwark__V1__NetConnection *n = ev->net;
    const Bulwark__V1__ResourceSample *r = ev->resource;
    const Bulwark__V1__VulnFinding *v = ev->vuln;

    switch (ev->body_case) {
    case BULWARK__V1__EVENT__BODY_NET:
        if (n->local_port > 65535 || n->remote_port > 65535)
            return ingest_event_fail(ev, why, whylen, "field 'net' has a port over 65535");
        break;
    case BULWARK__V1__EVENT__BODY_RESOURCE:
        if (!isfinite(r->cpu_cores) || r->cpu_cores < 0 || r->cpu_cores > 1e6)
            return ingest_event_fail(ev, why, whylen,
                                     "field 'resource.cpu_cores' is not in 0..1000000");
        break;
    case BULWARK__V1__EVENT__BODY_VULN:
        if (!isfinite(v->cvss_score) || v->cvss_score < 0 || v->cvss_score > 10)
            return ingest_event_fail(ev, why, whylen, "field 'vuln.cvss_score' is not in 0..10");
        break;
    default:
        break;
    }
    return 0;
}

static int ingest_event_check(const Bulwark__V1__Event *ev, char *why, size_t whylen)
{
    if (ev->body_case < BULWARK__V1__EVENT__BODY_EXEC ||
        ev->body_case > BULWARK__V1__EVENT__BODY_EXTERNAL)
        return ingest_event_fail(ev, why, whylen, "has no known kind");
    if (ev->time_ns <= 0)
        return ingest_event_fail(ev, why, whylen, "field 'time_ns' is missing or negative");
    if ((int)ev->severity < 0 || ev->severity > BULWARK__V1__SEVERITY__SEVERITY_EMERGENCY)
        return ingest_event_fail(ev, why, whylen, "field 'severity' is invalid");
    if (ev->container && strlen(ev->container->id) > BW_LIMIT_CONTAINER_ID)
        return ingest_event_fail(ev, why, whylen, "field 'container.id' is too long");
    return ingest_body_check(ev, why, whylen);
}

int ingest_batch_build(const Bulwark__V1__Batch *b, const uint8_t *const *raw,
                       const size_t *rawlen, const char *agent_id, const char *hostname,
                       uint64_t epoch, uint32_t max_events, int64_t recv_ns,
                       uint64_t *expect_next, struct ingest_batch *out, char *why, size_t whylen)
{
    size_t n = b->n_events, total = 0, off = 0;
    uint64_t first;
    int rc;

    memset(out, 0, sizeof *out);
    if (b->epoch != epoch) {
        snprintf(why, whylen, "batch epoch %llu is not the stream's %llu",
                 (unsigned long long)b->epoch, (unsigned long long)epoch);
        return BW_EPROTO;
    }
    if (n == 0 || n > max_events) {
        snprintf(why, whylen, "batch of %zu events (limit 1..%u)", n, max_events);
        return n ? BW_ETOOBIG : BW_EPROTO;
    }
    first = b->events[0]->seq;
    if (first == 0 || first > BW_LIMIT_SEQ || n - 1 > BW_LIMIT_SEQ - first) {
        snprintf(why, whylen, "batch seqs %llu..+%zu are not in 1..2^63-1",
                 (unsigned long long)first, n - 1);
        return BW_EPROTO;
    }
    if (first > *expect_next) {
        snprintf(why, whylen, "batch starts at seq %llu, expected at most %llu",
                 (unsigned long long)first, (unsigned long long)*expect_next);
        return BW_EPROTO;
    }
    for (size_t i = 0; i < n; i++) {
        const Bulwark__V1__Event *ev = b->events[i];
        if (ev->seq != first + i) {
            snprintf(why, whylen, "event seq %llu: batch seqs not contiguous (expected %llu)",
                     (unsigned long long)ev->seq, (unsigned long long)(first + i));
            return BW_EPROTO;
        }
        rc = ingest_event_check(ev, why, whylen);
        if (rc < 0)
            return rc;
        if (!raw)
            total += bulwark__v1__event__get_packed_size(ev);
    }
    out->events = calloc(n, sizeof *out->events);
    out->bodies = raw ? NULL : malloc(total ? total : 1);
    if (!out->events || (!raw && !out->bodies)) {
        ingest_batch_release(out);
        snprintf(why, whylen, "out of memory");
        return BW_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const Bulwark__V1__Event *ev = b->events[i];
        struct store_event *se = &out->events[i];
        se->seq = ev->seq;
        se->time_ns = ev->time_ns;
        se->kind = (int32_t)ev->body_case;
        se->severity = (int32_t)ev->severity;
        se->container = (ev->container && ev->container->id[0]) ? ev->container : NULL;
        if (raw) {
            se->body = raw[i];
            se->body_len = rawlen[i];
        } else {
            se->body = out->bodies + off;
            se->body_len = bulwark__v1__event__pack(ev, out->bodies + off);
            off += se->body_len;
        }
    }
    out->first_seq = first;
    out->last_seq = first + n - 1;
    out->sb.agent_id = agent_id;
    out->sb.hostname = hostname;
    out->sb.epoch = epoch;
    out->sb.recv_ns = recv_ns;
    out->sb.n = n;
    out->sb.events = out->events;
    if (out->last_seq + 1 > *expect_next)
        *expect_next = out->last_seq + 1;
    return 0;
}

void ingest_batch_release(struct ingest_batch *ib)
{
    free(ib->events);
    free(ib->bodies);
    memset(ib, 0, sizeof *ib);
}
