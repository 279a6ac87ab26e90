/* ingest.c - frame -> validated, store-ready events (pure).
 *
 * Everything an agent sends is hostile until proved otherwise: this file
 * decides whether a Hello matches the certificate and whether a Batch is
 * well formed, contiguous and bounded. It neither logs nor touches sockets;
 * the connection that called it logs the reason once and closes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/ingest.h"

static int ingest_id_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > INGEST_AGENT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
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
    if (h->epoch == 0) {
        snprintf(why, whylen, "hello epoch is 0");
        return BW_EPROTO;
    }
    if (strlen(h->hostname) > 255 || strlen(h->agent_version) > 64) {
        snprintf(why, whylen, "hello hostname or version too long");
        return BW_EPROTO;
    }
    return 0;
}

/* Bounded string check: protobuf-c strings are NUL-terminated copies. */
static int ingest_str_ok(const char *s)
{
    return !s || strnlen(s, INGEST_STRING_MAX + 1) <= INGEST_STRING_MAX;
}

static int ingest_event_check(const Bulwark__V1__Event *ev, char *why, size_t whylen)
{
    const Bulwark__V1__ContainerRef *c = ev->container;
    const Bulwark__V1__ProcessRef *p = ev->process;

    if (ev->body_case < BULWARK__V1__EVENT__BODY_EXEC ||
        ev->body_case > BULWARK__V1__EVENT__BODY_EXTERNAL) {
        snprintf(why, whylen, "event %llu has no known kind", (unsigned long long)ev->seq);
        return BW_EPROTO;
    }
    if (ev->time_ns <= 0) {
        snprintf(why, whylen, "event %llu has no time", (unsigned long long)ev->seq);
        return BW_EPROTO;
    }
    if ((int)ev->severity < 0 || ev->severity > BULWARK__V1__SEVERITY__SEVERITY_EMERGENCY) {
        snprintf(why, whylen, "event %llu has an invalid severity", (unsigned long long)ev->seq);
        return BW_EPROTO;
    }
    if (c && (!ingest_str_ok(c->id) || strlen(c->id) > 128 || !ingest_str_ok(c->name) ||
              !ingest_str_ok(c->image) || !ingest_str_ok(c->image_digest))) {
        snprintf(why, whylen, "event %llu has an oversized container field",
                 (unsigned long long)ev->seq);
        return BW_EPROTO;
    }
    if (p && (!ingest_str_ok(p->exe) || !ingest_str_ok(p->name) || !ingest_str_ok(p->cmdline))) {
        snprintf(why, whylen, "event %llu has an oversized process field",
                 (unsigned long long)ev->seq);
        return BW_EPROTO;
    }
    return 0;
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
    if (first == 0 || first > *expect_next) {
        snprintf(why, whylen, "batch starts at seq %llu, expected at most %llu",
                 (unsigned long long)first, (unsigned long long)*expect_next);
        return BW_EPROTO;
    }
    for (size_t i = 0; i < n; i++) {
        const Bulwark__V1__Event *ev = b->events[i];
        if (ev->seq != first + i) {
            snprintf(why, whylen, "batch seqs not contiguous at %llu",
                     (unsigned long long)ev->seq);
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
        se->ev = ev;
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
