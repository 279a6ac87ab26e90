/* shipper.c - the agent's stream to bulwarkd (see bulwark/shipper.h).
 *
 * Each connection attempt is a `struct link` (TCP handle, TLS state, frame
 * reader) created on connect and freed in its close callback, so a
 * reconnect never reuses a closing handle. The shipper itself keeps what
 * outlives a link: the spool position, the backoff, the latency sample. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/log.h"
#include "bulwark/net.h"
#include "bulwark/shipper.h"
#include "bulwark/limits.h"
#include "bulwark/wirecheck.h"

#define SHIPPER_WINDOW_MAX 1024u
#define SHIPPER_SAMPLES 65536u
#define SHIPPER_DEAD_INTERVALS 3u   /* heartbeats without any frame: reconnect */

enum link_state { LINK_RESOLVING, LINK_CONNECTING, LINK_HANDSHAKE, LINK_HELLO, LINK_STREAMING };

struct link {
    struct shipper *s;
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct tls_conn *tls;
    struct frame_reader reader;
    enum link_state state;
    bool closing;
    char rbuf[65536];           /* each read lands here; tls_conn_feed copies it */
};

struct inflight {
    uint64_t last_seq;
    uint64_t sent_ns;
};

struct shipper {
    uv_loop_t *loop;
    struct shipper_options opt;
    struct tls_ctx *tls;
    struct spool *spool;
    void (*on_ack)(void *);
    void *ctx;

    struct link *link;
    uv_getaddrinfo_t gai;
    bool resolving;
    uv_timer_t retry_timer;
    uv_timer_t hb_timer;
    uv_timer_t renew_timer;     /* the certificate's renewal is due */
    char *renew_key;            /* the new key while its RenewRequest waits */
    struct tls_ctx *own_tls;    /* made from the renewed files; s->tls then */
    int64_t cert_not_after;     /* the certificate's end (health), Unix seconds */
    uint32_t backoff_ms;
    bool stopping;
    int handles_open;
    void (*closed_cb)(void *);
    void *closed_ctx;

    /* stream position */
    uint64_t epoch;
    uint64_t sent_seq;      /* highest seq sent on this link */
    uint64_t acked_seq;
    uint32_t window;        /* batches in flight allowed (from Welcome) */
    uint32_t max_batch;     /* events per batch (min of ours and the server's) */
    uint32_t server_max_frame;
    uint32_t hb_interval_ms;
    uint64_t last_rx_ns;
    struct inflight ring[SHIPPER_WINDOW_MAX];
    uint32_t ring_head, ring_len;

    struct frame_batch batch;
    struct buf plain;

    /* latency sample (reservoir) */
    double *samples;
    uint32_t nsamples;
    uint64_t seen_samples;
    uint64_t rng;

    struct shipper_stats stats;
};

static void link_close(struct link *l, const char *why);
static void shipper_schedule_retry(struct shipper *s);
static void shipper_renew_schedule(struct shipper *s);
static void shipper_pump(struct shipper *s);

/* Sets spooled event seq aside (see spool_quarantine): a poison pill, one
 * the server refuses or the local check finds broken, would otherwise be
 * resent forever and hold back everything after it. Its stand-in is an
 * external alert with the same seq that the server stores in its place. */
static int shipper_quarantine(struct shipper *s, uint64_t seq, const char *reason, const char *by)
{
    Bulwark__V1__Event ev = BULWARK__V1__EVENT__INIT;
    Bulwark__V1__ExternalAlert ext = BULWARK__V1__EXTERNAL_ALERT__INIT;
    char out[BW_LIMIT_STRING / 2];
    uint8_t packed[BW_LIMIT_STRING];
    size_t len;
    int rc;

    /* the reason may quote what was refused: bound it, keep it valid UTF-8
     * by keeping printable ASCII only */
    snprintf(out, sizeof out, "agent quarantined event seq %llu (%s): %s",
             (unsigned long long)seq, by, reason);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F)
            *p = '?';
    ext.source = "bulwark-agent";
    ext.rule = "Quarantined event";
    ext.priority = "Warning";
    ext.output = out;
    ev.seq = seq;
    ev.time_ns = clock_wall_ns();
    ev.severity = BULWARK__V1__SEVERITY__SEVERITY_WARNING;
    ev.body_case = BULWARK__V1__EVENT__BODY_EXTERNAL;
    ev.external = &ext;
    len = bulwark__v1__event__pack(&ev, packed);
    rc = spool_quarantine(s->spool, seq, reason, packed, len);
    if (rc < 0)
        log_msg(LOG_ERROR, "shipper", "cannot quarantine event seq %llu: %s",
                (unsigned long long)seq, bw_strerror(rc));
    else
        log_msg(LOG_WARN, "shipper", "quarantined event seq %llu (%s): %s",
                (unsigned long long)seq, by, reason);
    return rc;
}

static uint64_t shipper_rand(struct shipper *s)
{
    /* xorshift64*: jitter and reservoir sampling only, not security */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 2685821657736338717ull;
}

/* ------------------------------------------------------------ writing */

struct link_write {
    uv_write_t req;
    struct buf b;
};

static void on_link_write(uv_write_t *req, int status)
{
    struct link_write *w = req->data;
    struct link *l = req->handle->data;

    buf_release(&w->b);
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        link_close(l, uv_strerror(status));
}

static int link_flush(struct link *l)
{
    struct link_write *w;
    uv_buf_t ub;

    if (l->closing)
        return BW_ECLOSED;
    w = malloc(sizeof *w);
    if (!w)
        return BW_ENOMEM;
    buf_init(&w->b, 64u * 1024 * 1024);
    if (tls_conn_take_output(l->tls, &w->b) == 0) {
        buf_release(&w->b);
        free(w);
        return 0;
    }
    w->req.data = w;
    ub = uv_buf_init((char *)buf_head(&w->b), (unsigned)buf_size(&w->b));
    if (uv_write(&w->req, (uv_stream_t *)&l->tcp, &ub, 1, on_link_write) < 0) {
        buf_release(&w->b);
        free(w);
        link_close(l, "write failed");
        return BW_EIO;
    }
    return 0;
}

static int link_send(struct link *l, const Bulwark__V1__Frame *f)
{
    struct shipper *s = l->s;
    int rc;

    buf_reset(&s->plain);
    rc = frame_encode(f, s->server_max_frame ? s->server_max_frame : FRAME_DEFAULT_MAX, &s->plain);
    if (rc == 0)
        rc = tls_conn_write(l->tls, buf_head(&s->plain), buf_size(&s->plain));
    if (rc < 0) {
        link_close(l, "cannot send frame");
        return rc;
    }
    return link_flush(l);
}

/* ------------------------------------------------------------ lifecycle */

static void on_handle_closed(uv_handle_t *h)
{
    struct shipper *s = h->data;
    if (--s->handles_open == 0 && s->closed_cb)
        s->closed_cb(s->closed_ctx);
}

static void on_link_closed(uv_handle_t *h)
{
    struct link *l = h->data;
    struct shipper *s = l->s;

    tls_conn_free(l->tls);
    frame_reader_release(&l->reader);
    free(l);
    if (--s->handles_open == 0 && s->closed_cb)
        s->closed_cb(s->closed_ctx);
}

/* Forgets a renewal's new key (its answer will not come on a new link). */
static void shipper_renew_drop(struct shipper *s)
{
    if (s->renew_key) {
        OPENSSL_cleanse(s->renew_key, strlen(s->renew_key));
        free(s->renew_key);
        s->renew_key = NULL;
    }
}

static void link_close(struct link *l, const char *why)
{
    struct shipper *s = l->s;

    if (l->closing)
        return;
    l->closing = true;
    if (s->link == l)
        s->link = NULL;
    if (l->state == LINK_STREAMING) {
        s->stats.disconnects++;
        s->stats.streaming = false;
    }
    if (why)
        log_msg(s->stopping ? LOG_INFO : LOG_WARN, "shipper", "disconnected from %s: %s",
                s->opt.server, why);
    uv_timer_stop(&s->hb_timer);
    uv_timer_stop(&s->renew_timer);
    shipper_renew_drop(s);
    uv_close((uv_handle_t *)&l->tcp, on_link_closed);
    if (!s->stopping)
        shipper_schedule_retry(s);
}

static void on_retry(uv_timer_t *t);
static void on_heartbeat(uv_timer_t *t);

static void shipper_schedule_retry(struct shipper *s)
{
    uint32_t ms = s->backoff_ms, jittered;

    /* Full backoff doubles up to the max; the wait is drawn from [ms/2, ms]
     * so that a fleet cut off together does not reconnect together. */
    jittered = ms / 2 + (uint32_t)(shipper_rand(s) % (ms / 2 + 1));
    s->backoff_ms = ms >= s->opt.reconnect_max_ms / 2 ? s->opt.reconnect_max_ms : ms * 2;
    uv_timer_start(&s->retry_timer, on_retry, jittered, 0);
}

/* ------------------------------------------------------------ receiving */

static void shipper_on_welcome(struct shipper *s, struct link *l, const Bulwark__V1__Welcome *w)
{
    struct spool_stats st;

    spool_get_stats(s->spool, &st);
    if (w->epoch != s->epoch) {
        link_close(l, "welcome for another epoch");
        return;
    }
    if (w->committed_seq > st.last_seq) {
        /* another spool sends under this epoch (a clone the machine and file
         * checks did not tell apart): this one goes on in a new epoch, so
         * that neither overwrites the other's seqs */
        char why[160];
        snprintf(why, sizeof why, "server has %llu events of this epoch but this spool made "
                 "only %llu (another agent with the same identity and epoch?)",
                 (unsigned long long)w->committed_seq, (unsigned long long)st.last_seq);
        if (spool_new_epoch(s->spool, why) == 0) {
            spool_get_stats(s->spool, &st);
            s->epoch = st.epoch;
            s->acked_seq = 0;
        } else {
            log_msg(LOG_ERROR, "shipper", "%s; cannot start a new epoch", why);
        }
        link_close(l, "committed sequence ahead of the spool");
        return;
    }
    if (w->committed_seq < st.acked_seq)
        log_msg(LOG_ERROR, "shipper",
                "server has only %llu committed but acked %llu before: events %llu..%llu were "
                "lost on the server and are no longer in the spool",
                (unsigned long long)w->committed_seq, (unsigned long long)st.acked_seq,
                (unsigned long long)w->committed_seq + 1, (unsigned long long)st.acked_seq);
    if (w->committed_seq > st.acked_seq)
        spool_ack(s->spool, w->committed_seq);
    s->acked_seq = w->committed_seq > st.acked_seq ? w->committed_seq : st.acked_seq;
    s->sent_seq = w->committed_seq;
    s->window = w->max_inflight_batches ? w->max_inflight_batches : 1;
    if (s->window > SHIPPER_WINDOW_MAX)
        s->window = SHIPPER_WINDOW_MAX;
    s->max_batch = s->opt.batch_events;
    if (w->max_batch_events && w->max_batch_events < s->max_batch)
        s->max_batch = w->max_batch_events;
    s->server_max_frame = w->max_frame ? w->max_frame : FRAME_DEFAULT_MAX;
    s->hb_interval_ms = w->heartbeat_interval_ms ? w->heartbeat_interval_ms : 10000;
    s->ring_head = s->ring_len = 0;
    s->backoff_ms = s->opt.reconnect_min_ms;
    l->state = LINK_STREAMING;
    s->stats.connects++;
    s->stats.streaming = true;
    log_msg(LOG_INFO, "shipper", "connected to %s, committed_seq %llu", s->opt.server,
            (unsigned long long)w->committed_seq);
    uv_timer_start(&s->hb_timer, on_heartbeat, s->hb_interval_ms, s->hb_interval_ms);
    shipper_renew_schedule(s);
    if (s->on_ack)
        s->on_ack(s->ctx);
    shipper_pump(s);
}

static void shipper_sample(struct shipper *s, double ms)
{
    if (s->nsamples < SHIPPER_SAMPLES) {
        s->samples[s->nsamples++] = ms;
    } else {
        uint64_t j = shipper_rand(s) % (s->seen_samples + 1);
        if (j < SHIPPER_SAMPLES)
            s->samples[j] = ms;
    }
    s->seen_samples++;
}

static void shipper_on_ack(struct shipper *s, struct link *l, const Bulwark__V1__Ack *a)
{
    uint64_t t = (uint64_t)clock_mono_ns();

    if (a->epoch != s->epoch || a->up_to_seq > s->sent_seq) {
        link_close(l, "ack for events never sent");
        return;
    }
    if (a->up_to_seq <= s->acked_seq)
        return;
    if (spool_ack(s->spool, a->up_to_seq) < 0) {
        log_msg(LOG_ERROR, "shipper", "cannot trim the spool; will retry with the next ack");
        return;
    }
    s->acked_seq = a->up_to_seq;
    s->stats.acked_seq = a->up_to_seq;
    while (s->ring_len > 0 && s->ring[s->ring_head].last_seq <= a->up_to_seq) {
        shipper_sample(s, (double)(t - s->ring[s->ring_head].sent_ns) / 1e6);
        s->ring_head = (s->ring_head + 1) % SHIPPER_WINDOW_MAX;
        s->ring_len--;
    }
    if (s->on_ack)
        s->on_ack(s->ctx);
    shipper_pump(s);
}

/* ------------------------------------------------------------ renewal */

static void on_renew_due(uv_timer_t *t);

/* Notes the certificate's end (for health); true when renew_at of its life
 * has passed, else arms the renewal timer for then. */
static bool shipper_renew_arm(struct shipper *s)
{
    int64_t nb, na, due, now = clock_wall_ns() / 1000000000;

    if (!s->opt.tls_cert || tls_cert_file_times(s->opt.tls_cert, &nb, &na) < 0 || na <= nb)
        return false;
    s->cert_not_after = na;
    if (s->opt.renew_at <= 0)
        return false;
    due = nb + (int64_t)((double)(na - nb) * s->opt.renew_at);
    if (due <= now)
        return true;
    uv_timer_start(&s->renew_timer, on_renew_due, (uint64_t)(due - now) * 1000, 0);
    return false;
}

/* After a Welcome: renews now or when due. */
static void shipper_renew_schedule(struct shipper *s)
{
    if (shipper_renew_arm(s))
        uv_timer_start(&s->renew_timer, on_renew_due, 0, 0);
}

static void on_renew_due(uv_timer_t *t)
{
    struct shipper *s = t->data;
    struct link *l = s->link;
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__RenewRequest r = BULWARK__V1__RENEW_REQUEST__INIT;
    char err[256], *csr = NULL;

    if (!l || l->state != LINK_STREAMING || s->renew_key)
        return;
    if (!shipper_renew_arm(s))
        return;  /* not due yet (the clock moved): armed again */
    if (tls_csr_new(s->opt.agent_id, &s->renew_key, &csr, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "shipper", "cannot renew the certificate: %s", err);
        return;
    }
    log_msg(LOG_INFO, "shipper", "renewing the certificate in %s over the stream",
            s->opt.tls_cert);
    r.csr_pem = csr;
    f.msg_case = BULWARK__V1__FRAME__MSG_RENEW_REQUEST;
    f.renew_request = &r;
    link_send(l, &f);
    free(csr);
}

/* The answer: the new key and certificate are installed (crash-safe), a
 * context is made from them, and the stream reconnects with it. */
static void shipper_on_renewed(struct shipper *s, struct link *l, const Bulwark__V1__RenewAnswer *a)
{
    struct tls_ctx *t;
    char err[512];
    int64_t nb = 0, na = 0;

    if (!s->renew_key) {
        link_close(l, "renewal answer without a request");
        return;
    }
    if (!*a->cert_pem) {
        log_msg(LOG_WARN, "shipper", "certificate renewal refused: %.256s; retried on the next "
                "connection", a->error);
        shipper_renew_drop(s);
        return;
    }
    if (tls_cert_install(s->opt.tls_cert, s->opt.tls_key, a->cert_pem, s->renew_key) < 0) {
        log_msg(LOG_ERROR, "shipper", "cannot write the renewed certificate to %s and %s",
                s->opt.tls_cert, s->opt.tls_key);
        shipper_renew_drop(s);
        return;
    }
    shipper_renew_drop(s);
    if (!(t = tls_ctx_new(TLS_ROLE_CLIENT, s->opt.tls_ca, s->opt.tls_cert, s->opt.tls_key, err,
                          sizeof err))) {
        log_msg(LOG_ERROR, "shipper", "renewed certificate unusable: %s", err);
        return;
    }
    tls_ctx_free(s->own_tls);  /* a live conn keeps its own reference */
    s->own_tls = s->tls = t;
    tls_cert_file_times(s->opt.tls_cert, &nb, &na);
    log_msg(LOG_INFO, "shipper", "renewed the certificate (valid for %lld s); reconnecting "
            "with it", (long long)(na - nb));
    link_close(l, "reconnecting with the renewed certificate");
}

static void link_on_frame(struct link *l, Bulwark__V1__Frame *f)
{
    struct shipper *s = l->s;

    s->last_rx_ns = (uint64_t)clock_mono_ns();
    switch (f->msg_case) {
    case BULWARK__V1__FRAME__MSG_WELCOME:
        if (l->state != LINK_HELLO)
            link_close(l, "unexpected welcome");
        else
            shipper_on_welcome(s, l, f->welcome);
        break;
    case BULWARK__V1__FRAME__MSG_ACK:
        if (l->state != LINK_STREAMING)
            link_close(l, "ack before welcome");
        else
            shipper_on_ack(s, l, f->ack);
        break;
    case BULWARK__V1__FRAME__MSG_HEARTBEAT:
        break;
    case BULWARK__V1__FRAME__MSG_RENEW_ANSWER:
        shipper_on_renewed(s, l, f->renew_answer);
        break;
    case BULWARK__V1__FRAME__MSG_ERROR: {
        char why[300];
        uint64_t seq = f->error->event_seq;
        snprintf(why, sizeof why, "server error %d: %.256s", (int)f->error->code,
                 f->error->message);
        /* one event refused: set it aside so the resend goes past it */
        if (seq > s->acked_seq && seq <= s->sent_seq)
            shipper_quarantine(s, seq, f->error->message, "refused by the server");
        link_close(l, why);
        break;
    }
    default:
        link_close(l, "unexpected frame from server");
        break;
    }
}

static void link_pump_frames(struct link *l)
{
    for (;;) {
        const uint8_t *p;
        size_t len;
        Bulwark__V1__Frame *f;
        long n;
        int rc = 0;

        while (!l->closing && (rc = frame_reader_next(&l->reader, &p, &len)) == 1) {
            f = frame_decode(p, len, NULL);
            if (!f) {
                link_close(l, "invalid frame from server");
                return;
            }
            link_on_frame(l, f);
            frame_free(f, NULL);
        }
        if (l->closing)
            return;
        if (rc < 0) {
            link_close(l, "bad frame from server");
            return;
        }
        n = tls_conn_read(l->tls, &l->reader.in);
        if (n == BW_ECLOSED) {
            link_close(l, "server closed the stream");
            return;
        }
        if (n < 0) {
            link_close(l, tls_conn_error(l->tls));
            return;
        }
        if (n == 0)
            return;
    }
}

static void link_send_hello(struct link *l)
{
    struct shipper *s = l->s;
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__Hello h = BULWARK__V1__HELLO__INIT;
    Bulwark__V1__Labels lb = BULWARK__V1__LABELS__INIT;

    lb.cloud = (char *)s->opt.labels[0];
    lb.region = (char *)s->opt.labels[1];
    lb.environment = (char *)s->opt.labels[2];
    lb.tenant = (char *)s->opt.labels[3];
    h.protocol_version = BULWARK_PROTOCOL_VERSION;
    h.agent_id = (char *)s->opt.agent_id;
    h.hostname = (char *)s->opt.hostname;
    h.agent_version = BULWARK_VERSION;
    h.labels = &lb;
    h.epoch = s->epoch;
    h.max_frame = s->opt.max_frame;
    f.msg_case = BULWARK__V1__FRAME__MSG_HELLO;
    f.hello = &h;
    l->state = LINK_HELLO;
    link_send(l, &f);
}

static void on_link_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    /* One buffer per link, reused: a fresh 64 KiB malloc per read made glibc
     * consolidate its free lists on every free. */
    struct link *l = h->data;

    (void)suggested;
    out->base = l->rbuf;
    out->len = sizeof l->rbuf;
}

static void on_link_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct link *l = st->data;
    int rc;

    if (nread == 0 || l->closing)
        return;
    if (nread < 0) {
        link_close(l, nread == UV_EOF ? "server closed the connection" : uv_strerror((int)nread));
        return;
    }
    rc = tls_conn_feed(l->tls, b->base, (size_t)nread);
    if (rc < 0) {
        link_flush(l);
        link_close(l, tls_conn_error(l->tls));
        return;
    }
    if (l->state == LINK_HANDSHAKE) {
        rc = tls_conn_handshake(l->tls);
        link_flush(l);
        if (l->closing)
            return;
        if (rc < 0) {
            link_close(l, tls_conn_error(l->tls));
            return;
        }
        if (rc == 0)
            return;
        link_send_hello(l);
        if (l->closing)
            return;
    }
    link_pump_frames(l);
    if (!l->closing)
        link_flush(l);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct link *l = req->data;

    if (l->closing)
        return;
    if (status < 0) {
        link_close(l, uv_strerror(status));
        return;
    }
    l->state = LINK_HANDSHAKE;
    uv_tcp_nodelay(&l->tcp, 1);
    if (uv_read_start((uv_stream_t *)&l->tcp, on_link_alloc, on_link_read) < 0 ||
        tls_conn_handshake(l->tls) < 0) {
        link_close(l, "cannot start tls");
        return;
    }
    link_flush(l);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct shipper *s = req->data;
    struct link *l;
    char host[256];
    unsigned port;

    s->resolving = false;
    if (s->stopping) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0 || !res) {
        log_msg(LOG_WARN, "shipper", "cannot resolve %s: %s", s->opt.server, uv_strerror(status));
        uv_freeaddrinfo(res);
        shipper_schedule_retry(s);
        return;
    }
    net_split_host_port(s->opt.server, host, sizeof host, &port);
    l = calloc(1, sizeof *l);
    if (!l || !(l->tls = tls_conn_new(s->tls, s->opt.server_name))) {
        free(l);
        uv_freeaddrinfo(res);
        /* the server name was checked at start (agent_init): only memory
         * is left to fail here */
        log_msg(LOG_ERROR, "shipper", "cannot start a TLS session: out of memory");
        shipper_schedule_retry(s);
        return;
    }
    l->s = s;
    frame_reader_init(&l->reader, FRAME_DEFAULT_MAX);
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    l->creq.data = l;
    l->state = LINK_CONNECTING;
    s->handles_open++;
    s->link = l;
    ((struct sockaddr_in *)res->ai_addr)->sin_port = htons((uint16_t)port);
    if (uv_tcp_connect(&l->creq, &l->tcp, res->ai_addr, on_connect) < 0)
        link_close(l, "cannot connect");
    uv_freeaddrinfo(res);
}

static void shipper_connect(struct shipper *s)
{
    char host[256];
    unsigned port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

    if (s->stopping || s->link || s->resolving)
        return;
    if (net_split_host_port(s->opt.server, host, sizeof host, &port) < 0) {
        log_msg(LOG_ERROR, "shipper", "'%s' is not host:port", s->opt.server);
        return;
    }
    s->gai.data = s;
    if (uv_getaddrinfo(s->loop, &s->gai, on_resolved, host, NULL, &hints) == 0)
        s->resolving = true;
    else
        shipper_schedule_retry(s);
}

static void on_retry(uv_timer_t *t)
{
    shipper_connect(t->data);
}

static void on_heartbeat(uv_timer_t *t)
{
    struct shipper *s = t->data;
    struct link *l = s->link;
    struct spool_stats st;
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__Heartbeat hb = BULWARK__V1__HEARTBEAT__INIT;
    Bulwark__V1__AgentHealth h = BULWARK__V1__AGENT_HEALTH__INIT;

    if (!l || l->state != LINK_STREAMING)
        return;
    if ((uint64_t)clock_mono_ns() - s->last_rx_ns > (uint64_t)s->hb_interval_ms * SHIPPER_DEAD_INTERVALS * 1000000u) {
        link_close(l, "server silent for three heartbeat intervals");
        return;
    }
    spool_get_stats(s->spool, &st);
    h.spool_depth = st.depth;
    h.spool_dropped = st.dropped;
    h.spool_quarantined = st.quarantined;
    h.events_total = st.last_seq;
    h.cert_not_after = s->cert_not_after;
    if (s->opt.health)
        s->opt.health(s->opt.health_ctx, &h);
    hb.sent_at_ns = clock_wall_ns();
    hb.health = &h;
    f.msg_case = BULWARK__V1__FRAME__MSG_HEARTBEAT;
    f.heartbeat = &hb;
    link_send(l, &f);
}

/* ------------------------------------------------------------ sending */

struct pump_ctx {
    struct shipper *s;
    uint64_t last;
    uint64_t bad_seq;     /* a row that failed the check: quarantined before going on */
    char why[256];
    int rc;
};

static int pump_add(uint64_t seq, const uint8_t *data, size_t len, void *arg)
{
    struct pump_ctx *pc = arg;
    int rc;

    /* the server's own check, before the event leaves: one bad row must not
     * cost the whole batch a refusal */
    if (wirecheck_event(data, len, seq, pc->why, sizeof pc->why) < 0) {
        pc->bad_seq = seq;
        return 1;
    }
    rc = frame_batch_add(&pc->s->batch, data, len);
    if (rc < 0) {
        pc->rc = rc;
        return 1;
    }
    pc->last = seq;
    return 0;
}

static void shipper_pump(struct shipper *s)
{
    struct link *l = s->link;

    while (l && !l->closing && l->state == LINK_STREAMING && s->ring_len < s->window) {
        struct spool_stats st;
        struct pump_ctx pc = {.s = s};
        size_t max_bytes = s->server_max_frame - 64;
        int rc;

        spool_get_stats(s->spool, &st);
        if (st.last_seq <= s->sent_seq)
            return;
        rc = spool_read(s->spool, s->sent_seq, s->max_batch, max_bytes, pump_add, &pc);
        if (rc == 0 && pc.bad_seq) {
            /* the events before it go now; it is set aside (on failure the
             * stream closes and the next one tries again) */
            if (shipper_quarantine(s, pc.bad_seq, pc.why, "local check") < 0) {
                link_close(l, "spool quarantine failed");
                return;
            }
            if (pc.last == 0)
                continue;
        }
        if (rc < 0 || pc.rc < 0 || pc.last == 0) {
            log_msg(LOG_ERROR, "shipper", "cannot read the spool: %s",
                    bw_strerror(rc < 0 ? rc : pc.rc));
            link_close(l, "spool read failed");
            return;
        }
        buf_reset(&s->plain);
        rc = frame_batch_finish(&s->batch, s->epoch, s->server_max_frame, &s->plain);
        if (rc == 0)
            rc = tls_conn_write(l->tls, buf_head(&s->plain), buf_size(&s->plain));
        if (rc < 0) {
            link_close(l, "cannot send batch");
            return;
        }
        s->ring[(s->ring_head + s->ring_len) % SHIPPER_WINDOW_MAX] =
            (struct inflight){.last_seq = pc.last, .sent_ns = (uint64_t)clock_mono_ns()};
        s->ring_len++;
        s->stats.batches_sent++;
        s->stats.events_sent += pc.last - s->sent_seq;
        s->sent_seq = pc.last;
        if (link_flush(l) < 0)
            return;
    }
}

void shipper_kick(struct shipper *s)
{
    shipper_pump(s);
}

/* ------------------------------------------------------------ public */

int shipper_new(struct shipper **out, uv_loop_t *loop, const struct shipper_options *opt,
                struct tls_ctx *tls, struct spool *spool, void (*on_ack)(void *ctx), void *ctx)
{
    struct shipper *s = calloc(1, sizeof *s);
    struct spool_stats st;

    if (!s || !(s->samples = malloc(SHIPPER_SAMPLES * sizeof *s->samples))) {
        free(s);
        return BW_ENOMEM;
    }
    s->loop = loop;
    s->opt = *opt;
    s->tls = tls;
    s->spool = spool;
    s->on_ack = on_ack;
    s->ctx = ctx;
    s->backoff_ms = opt->reconnect_min_ms;
    spool_get_stats(spool, &st);
    s->epoch = st.epoch;
    s->acked_seq = st.acked_seq;
    if (getrandom(&s->rng, sizeof s->rng, 0) != sizeof s->rng || s->rng == 0)
        s->rng = (uint64_t)clock_wall_ns() | 1;
    frame_batch_init(&s->batch, (size_t)opt->max_frame);
    buf_init(&s->plain, (size_t)opt->max_frame + 1024);
    uv_timer_init(loop, &s->retry_timer);
    uv_timer_init(loop, &s->hb_timer);
    uv_timer_init(loop, &s->renew_timer);
    s->retry_timer.data = s->hb_timer.data = s->renew_timer.data = s;
    s->handles_open = 3;
    *out = s;
    return 0;
}

void shipper_start(struct shipper *s)
{
    shipper_connect(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void shipper_get_stats(struct shipper *s, struct shipper_stats *out)
{
    *out = s->stats;
    out->acked_seq = s->acked_seq;
    if (s->nsamples) {
        qsort(s->samples, s->nsamples, sizeof *s->samples, cmp_double);
        out->ack_p50_ms = s->samples[s->nsamples / 2];
        out->ack_p99_ms = s->samples[(size_t)((double)(s->nsamples - 1) * 0.99)];
    }
}

void shipper_stop(struct shipper *s, void (*closed)(void *ctx), void *ctx)
{
    s->stopping = true;
    s->closed_cb = closed;
    s->closed_ctx = ctx;
    if (s->resolving)
        uv_cancel((uv_req_t *)&s->gai);
    if (s->link) {
        struct link *l = s->link;
        if (tls_conn_established(l->tls)) {
            tls_conn_shutdown(l->tls);
            link_flush(l);
        }
        link_close(l, NULL);
    }
    uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->hb_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->renew_timer, on_handle_closed);
}

void shipper_free(struct shipper *s)
{
    if (!s)
        return;
    frame_batch_release(&s->batch);
    buf_release(&s->plain);
    shipper_renew_drop(s);
    tls_ctx_free(s->own_tls);
    free(s->samples);
    free(s);
}
