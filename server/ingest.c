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
#include "bulwark/frame.h"
#include "bulwark/evjson.h"
#include "bulwark/ingest.h"
#include "bulwark/limits.h"
#include "bulwark/wirecheck.h"

int ingest_check_frame(const Bulwark__V1__Frame *f, const uint8_t *raw, size_t len, char *why,
                       size_t whylen)
{
    return wirecheck_frame(f, raw, len, why, whylen);
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
    if (h->protocol_version != BULWARK_PROTOCOL_VERSION) {
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

char *ingest_hello_labels_json(const Bulwark__V1__Hello *h)
{
    json_t *o = h->labels ? evjson_message_to_json(&h->labels->base) : json_object();
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    json_decref(o);
    return s;
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
    case BULWARK__V1__EVENT__BODY_EXEC:
        if (ev->exec->stdio_remote_port > 65535)
            return ingest_event_fail(ev, why, whylen, "field 'exec.stdio_remote_port' is over 65535");
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
    if (!evjson_kind_name(ev->body_case))  /* any body the schema declares */
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
