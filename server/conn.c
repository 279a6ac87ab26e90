/* conn.c - one agent connection, from accept to close.
 *
 * States: HANDSHAKE (TLS) -> HELLO (await Hello) -> WELCOMING (hello queued
 * to the writer, reading paused) -> STREAMING (batches in, acks out) ->
 * CLOSING. Every failure goes through conn_fail() (log once with the peer and
 * reason, send an Error frame when the stream is up, close) or conn_close();
 * there is one close path and the struct is freed only when both libuv
 * handles are closed and no writer item or write request still refers to it.
 *
 * Back-pressure: before taking a Batch the connection checks that the writer
 * queue has room and that its own in-flight window is not full; if not, it
 * stops reading and waits on srv->blocked until conn_resume_blocked() or its
 * own ack wakes it. Nothing is dropped and nothing grows without bound.
 *
 * Output is bounded by what it costs, not by the bytes of its frames: one
 * uv_write at a time per connection, and what TLS encrypts meanwhile waits
 * in its memory BIO and goes out in the next write, coalesced. The cost of
 * unsent output is that BIO at its peak plus the write in flight (request
 * and buffer capacity). Above CONN_OUT_HIGH the connection takes no more
 * frames (each may produce a reply) and stops reading; below CONN_OUT_LOW it
 * goes on. A peer that stays above it for idle_timeout_ms is not reading its
 * replies and is closed.
 *
 * Before Hello a stream is unauthenticated in all but its certificate: its
 * Hello frame may not pass BW_LIMIT_HELLO_FRAME, it reads CONN_PREHELLO_READ
 * bytes at a time, and all pre-Hello streams together may hold at most
 * CONN_PREHELLO_BUDGET of buffers; past it a stream that already holds part
 * of a Hello stops reading and waits for room (or its handshake timeout). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/arena.h"
#include "bulwark/clock.h"
#include "bulwark/conn.h"
#include "bulwark/enroll.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/hostbind.h"
#include "bulwark/ingest.h"
#include "bulwark/wirecheck.h"
#include "bulwark/limits.h"
#include "bulwark/log.h"
#include "bulwark/net.h"
#include "bulwark/rulestage.h"
#include "bulwark/tls.h"
#include "bulwark/writer.h"

#define CONN_OUT_HIGH (256u * 1024)
#define CONN_OUT_LOW (128u * 1024)
#define CONN_SNDBUF (64 * 1024)
/* Never reached while the pause works; a last guard, closed at once. */
#define CONN_OUT_MAX (8u * 1024 * 1024)
#define CONN_PREHELLO_READ (4u * 1024)
#define CONN_PREHELLO_BUDGET (16u * 1024 * 1024)
#define CONN_CLOSE_GRACE_MS 1000u
/* Bytes one connection may read in one loop pass before it yields: libuv
 * would otherwise read up to 32 x 64 KiB per stream per pass, and decrypting
 * and decoding that much for every agent delays signals and timers. */
#define CONN_TURN_BYTES (256u * 1024)

enum conn_state { CONN_HANDSHAKE, CONN_HELLO, CONN_WELCOMING, CONN_STREAMING, CONN_CLOSING };

struct conn {
    struct server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    struct conn *prev, *next;                  /* srv->conns */
    struct conn *blocked_prev, *blocked_next;  /* srv->blocked while paused */
    struct conn *yield_next;                   /* srv->yielded while yielded */
    struct conn *wait_prev, *wait_next;        /* srv->prehello_wait while waiting */
    size_t turn_bytes;                         /* read since the last yield */
    enum conn_state state;
    struct tls_conn *tls;
    struct frame_reader reader;
    char peer[64];
    char *agent_id;
    char *hostname;
    uint64_t epoch;
    uint64_t expect_next;       /* next seq the agent may send without a gap */
    bool resumed;               /* no batch yet since Welcome */
    bool twin_live;             /* at Hello, another live stream of this agent had
                                 * another epoch (alerted as a duplicate identity) */
    uint64_t acked;
    uint32_t inflight;          /* batches at the writer */
    size_t write_cost;          /* requests + buffer capacity of writes in flight */
    int writes;                 /* uv_write requests in flight */
    size_t prehello_charge;     /* what this stream adds to srv->prehello_bytes */
    int refs;                   /* writer items + write requests in flight */
    int handles_open;
    bool reading, paused, closing, yielded;
    bool registered;            /* reported up in srvstate (server_agent_up) */
    uint64_t stream;            /* this stream's number, unique in this run */
    int64_t health_stored_ns;   /* heartbeat health last queued for the store */
    uint64_t health_dropped;    /* its spool_dropped */
    bool out_paused;            /* unsent output over CONN_OUT_HIGH */
    bool out_paused_once;       /* logged: a slow reader is told of once */
    bool prehello_waiting;      /* on srv->prehello_wait */
    bool enroll;                /* from the enrollment listener: one EnrollRequest */
    bool renewing;              /* a RenewRequest is at enroll.c */
};

struct conn_write {
    uv_write_t req;
    struct conn *c;
    size_t cost;
    struct buf b;
};

static void conn_pump(struct conn *c);
static void conn_maybe_free(struct conn *c);

/* ------------------------------------------------------------ lifecycle */

struct conn *conn_new(struct server *srv, bool enroll)
{
    struct conn *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->srv = srv;
    c->enroll = enroll;
    c->stream = ++srv->streams;
    c->tls = tls_conn_new(enroll ? srv->enroll_tls : srv->tls, NULL);
    if (!c->tls) {
        free(c);
        return NULL;
    }
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    /* Until Welcome only a Hello may come: the reader takes no more. */
    frame_reader_init(&c->reader, BW_LIMIT_HELLO_FRAME);
    snprintf(c->peer, sizeof c->peer, "?");
    /* link */
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    return c;
}

uv_tcp_t *conn_tcp(struct conn *c)
{
    return &c->tcp;
}

static void conn_unblock(struct conn *c)
{
    struct server *srv = c->srv;

    if (!c->paused)
        return;
    c->paused = false;
    if (c->blocked_prev)
        c->blocked_prev->blocked_next = c->blocked_next;
    else if (srv->blocked == c)
        srv->blocked = c->blocked_next;
    if (c->blocked_next)
        c->blocked_next->blocked_prev = c->blocked_prev;
    c->blocked_prev = c->blocked_next = NULL;
}

/* ------------------------------------------------------------ pre-Hello budget */

static bool conn_before_hello(const struct conn *c)
{
    return !c->closing && (c->state == CONN_HANDSHAKE || c->state == CONN_HELLO);
}

static void conn_read_start(struct conn *c);

static void conn_prehello_unwait(struct conn *c)
{
    struct server *srv = c->srv;

    if (!c->prehello_waiting)
        return;
    c->prehello_waiting = false;
    if (c->wait_prev)
        c->wait_prev->wait_next = c->wait_next;
    else
        srv->prehello_wait = c->wait_next;
    if (c->wait_next)
        c->wait_next->wait_prev = c->wait_prev;
    c->wait_prev = c->wait_next = NULL;
}

/* Lets waiting streams read again while the budget has room for a read of
 * each one woken. */
static void conn_prehello_wake(struct server *srv)
{
    size_t projected = srv->prehello_bytes;

    while (srv->prehello_wait && projected + CONN_PREHELLO_READ <= CONN_PREHELLO_BUDGET) {
        struct conn *c = srv->prehello_wait;
        conn_prehello_unwait(c);
        projected += CONN_PREHELLO_READ;
        conn_read_start(c);
    }
}

/* Charges what a pre-Hello stream holds (decrypted Hello bytes at their
 * buffer's capacity, ciphertext at its peak) to the server's budget; a
 * stream past Hello or closing is charged nothing. Over budget, a stream
 * that holds part of a Hello waits; a stream that holds nothing may still
 * read (one CONN_PREHELLO_READ), so a new agent's short Hello gets through. */
static void conn_prehello_account(struct conn *c)
{
    struct server *srv = c->srv;
    size_t now = 0;

    if (conn_before_hello(c))
        now = c->reader.in.cap + tls_conn_input_held(c->tls);
    srv->prehello_bytes = srv->prehello_bytes - c->prehello_charge + now;
    c->prehello_charge = now;
    if (now > 0 && srv->prehello_bytes > CONN_PREHELLO_BUDGET && !c->prehello_waiting) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        c->prehello_waiting = true;
        c->wait_prev = NULL;
        c->wait_next = srv->prehello_wait;
        if (srv->prehello_wait)
            srv->prehello_wait->wait_prev = c;
        srv->prehello_wait = c;
        if (srv->stats.prehello_waits++ % 1000 == 0)
            log_msg(LOG_WARN, "conn", "%s: waits: streams before hello hold %zu bytes (budget %u); "
                    "%llu waits so far", c->peer, srv->prehello_bytes, CONN_PREHELLO_BUDGET,
                    (unsigned long long)srv->stats.prehello_waits);
    } else if (now == 0) {
        conn_prehello_unwait(c);
    }
    if (srv->prehello_wait && srv->prehello_bytes < CONN_PREHELLO_BUDGET)
        conn_prehello_wake(srv);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->handles_open--;
    conn_maybe_free(c);
}

static void conn_maybe_free(struct conn *c)
{
    if (c->handles_open > 0 || c->refs > 0)
        return;
    tls_conn_free(c->tls);
    frame_reader_release(&c->reader);
    free(c->agent_id);
    free(c->hostname);
    free(c);
}

void conn_close(struct conn *c, const char *reason)
{
    struct server *srv = c->srv;

    if (c->closing)
        return;
    if (reason)
        log_msg(LOG_INFO, "conn", "%s%s%s: closed: %s", c->peer, c->agent_id ? " " : "",
                c->agent_id ? c->agent_id : "", reason);
    c->closing = true;
    c->state = CONN_CLOSING;
    if (c->registered)
        server_agent_down(srv, c->agent_id, c->stream);
    conn_unblock(c);
    conn_prehello_account(c);  /* gives back its share; may wake waiters */
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->nconns--;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* ------------------------------------------------------------ writing */

/* What the peer's unsent output costs this server now. */
static size_t conn_out_cost(const struct conn *c)
{
    return tls_conn_output_held(c->tls) + c->write_cost;
}

static void conn_pump(struct conn *c);
static void conn_flush(struct conn *c);
static void conn_trim(struct conn *c);
static void conn_arm_idle(struct conn *c);

/* The peer took enough of its output: take frames and read again. */
static void conn_out_resume(struct conn *c)
{
    c->out_paused = false;
    conn_arm_idle(c);
    conn_pump(c);
    conn_flush(c);
    conn_trim(c);
    conn_read_start(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct conn_write *w = req->data;
    struct conn *c = w->c;

    c->write_cost -= w->cost;
    c->writes--;
    buf_release(&w->b);
    free(w);
    c->refs--;
    if (status < 0 && status != UV_ECANCELED && !c->closing) {
        conn_close(c, uv_strerror(status));
    } else if (!c->closing && c->state != CONN_CLOSING) {
        conn_flush(c);  /* what TLS encrypted while this write was out */
        if (c->out_paused && conn_out_cost(c) <= CONN_OUT_LOW)
            conn_out_resume(c);
    }
    conn_maybe_free(c);
}

/* Hands the ciphertext TLS has produced to one uv_write. Unless forced (the
 * last words before shutdown) it waits while another write is out: on_write
 * sends what gathered meanwhile in one go. */
static void conn_write_out(struct conn *c, bool force)
{
    struct conn_write *w;
    uv_buf_t ub;

    if (c->closing || (c->writes > 0 && !force) || tls_conn_output_pending(c->tls) == 0)
        return;
    w = malloc(sizeof *w);
    if (!w) {
        conn_close(c, "out of memory");
        return;
    }
    buf_init(&w->b, (size_t)c->srv->cfg->max_frame * 2 + 65536);
    if (tls_conn_take_output(c->tls, &w->b) == 0) {
        buf_release(&w->b);
        free(w);
        return;
    }
    w->c = c;
    w->req.data = w;
    w->cost = sizeof *w + w->b.cap;
    ub = uv_buf_init((char *)buf_head(&w->b), (unsigned)buf_size(&w->b));
    c->write_cost += w->cost;
    c->writes++;
    c->refs++;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write) < 0) {
        c->write_cost -= w->cost;
        c->writes--;
        c->refs--;
        buf_release(&w->b);
        free(w);
        conn_close(c, "write failed");
        return;
    }
    if (conn_out_cost(c) > CONN_OUT_MAX)
        conn_close(c, "peer is not reading its replies");
}

static void conn_flush(struct conn *c)
{
    conn_write_out(c, false);
}

static int conn_send(struct conn *c, const Bulwark__V1__Frame *f)
{
    int rc;

    struct buf *b = &c->srv->sendbuf;

    buf_reset(b);
    rc = frame_encode(f, c->srv->cfg->max_frame, b);
    if (rc == 0)
        rc = tls_conn_write(c->tls, buf_head(b), buf_size(b));
    buf_reset(b);
    if (rc < 0) {
        conn_close(c, "cannot send frame");
        return rc;
    }
    conn_flush(c);
    return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    c->refs--;
    conn_close(c, NULL);
    conn_maybe_free(c);
}

static void on_close_grace(uv_timer_t *t)
{
    conn_close(t->data, NULL);
}

/* Ends the stream politely: optional Error frame, close_notify, FIN; the
 * socket closes when the writes are out (or after a short grace). */
static void conn_finish(struct conn *c, Bulwark__V1__Error__Code code, const char *msg)
{
    if (c->closing || c->state == CONN_CLOSING)
        return;
    if (code != BULWARK__V1__ERROR__CODE__UNSPECIFIED && tls_conn_established(c->tls)) {
        Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
        Bulwark__V1__Error e = BULWARK__V1__ERROR__INIT;
        e.code = code;
        e.message = (char *)msg;
        e.event_seq = wirecheck_why_seq(msg);  /* the agent quarantines that event */
        f.msg_case = BULWARK__V1__FRAME__MSG_ERROR;
        f.error = &e;
        if (conn_send(c, &f) < 0)
            return;
    }
    if (tls_conn_established(c->tls)) {
        tls_conn_shutdown(c->tls);
        conn_write_out(c, true);
        if (c->closing)
            return;
    }
    c->state = CONN_CLOSING;
    conn_unblock(c);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    uv_timer_start(&c->timer, on_close_grace, CONN_CLOSE_GRACE_MS, 0);
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) == 0)
        c->refs++;
    else
        conn_close(c, NULL);
}

/* Logs once, counts, tells the agent why (where it can hear), closes. */
static void conn_fail(struct conn *c, Bulwark__V1__Error__Code code, const char *why)
{
    log_msg(LOG_WARN, "conn", "%s%s%s: refused: %s", c->peer, c->agent_id ? " " : "",
            c->agent_id ? c->agent_id : "", why);
    if (code == BULWARK__V1__ERROR__CODE__AUTH)
        c->srv->stats.auth_refused++;
    else
        c->srv->stats.protocol_errors++;
    conn_finish(c, code, why);
}

/* The agent agent_id was revoked (before or after its Hello): refused. */
static void conn_refuse_revoked(struct conn *c, const char *agent_id)
{
    char why[BW_LIMIT_AGENT_ID + 64];

    snprintf(why, sizeof why, "agent '%s' is revoked", agent_id);
    conn_fail(c, BULWARK__V1__ERROR__CODE__AUTH, why);
}

/* Refuses a stream whose TLS handshake or Hello did not complete: logs
 * once, counts it and closes; there is no protocol yet to tell it why (a
 * TLS alert, flushed by the caller, does). */
static void conn_refuse_handshake(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conn_refuse_handshake(struct conn *c, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    c->srv->stats.handshake_failed++;
    log_msg(LOG_WARN, "conn", "%s: refused: %s", c->peer, why);
    conn_close(c, NULL);
}

/* ------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct conn *c = h->data;
    size_t n = conn_before_hello(c) ? CONN_PREHELLO_READ : sizeof c->srv->readbuf;

    (void)suggested;
    *out = uv_buf_init((char *)c->srv->readbuf, (unsigned)n);
}

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;

    if (c->out_paused) {
        char why[128];
        c->srv->stats.output_stalled++;
        snprintf(why, sizeof why, "peer has not read its replies for %u ms (%zu bytes unsent)",
                 c->srv->cfg->idle_timeout_ms, conn_out_cost(c));
        conn_close(c, why);
    } else if (c->state == CONN_HANDSHAKE || c->state == CONN_HELLO) {
        conn_refuse_handshake(c, "handshake timeout");
    } else {
        conn_close(c, "idle timeout");
    }
}

static void conn_arm_idle(struct conn *c)
{
    if (c->state == CONN_STREAMING && !c->out_paused)
        uv_timer_start(&c->timer, on_timeout, c->srv->cfg->idle_timeout_ms, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_yield_idle(uv_idle_t *h);

static void conn_read_start(struct conn *c)
{
    if (c->reading || c->closing || c->paused || c->out_paused || c->prehello_waiting ||
        c->srv->draining ||
        c->state == CONN_WELCOMING || c->state == CONN_CLOSING)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

static void conn_read_stop(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void conn_pause(struct conn *c)
{
    struct server *srv = c->srv;

    conn_read_stop(c);
    if (c->paused)
        return;
    c->paused = true;
    c->blocked_next = srv->blocked;
    c->blocked_prev = NULL;
    if (srv->blocked)
        srv->blocked->blocked_prev = c;
    srv->blocked = c;
}

/* Takes no more frames and reads nothing until the peer reads its output;
 * the timer now measures how long it has not. */
static void conn_out_pause(struct conn *c)
{
    conn_read_stop(c);
    if (c->out_paused)
        return;
    c->out_paused = true;
    c->srv->stats.output_paused++;
    if (!c->out_paused_once)
        log_msg(LOG_INFO, "conn", "%s %s: not reading its replies (%zu bytes unsent): reading "
                "paused", c->peer, c->agent_id ? c->agent_id : "", conn_out_cost(c));
    c->out_paused_once = true;
    uv_timer_start(&c->timer, on_timeout, c->srv->cfg->idle_timeout_ms, 0);
}

static void conn_on_written(struct writer_item *it, void *owner);

/* The host name this agent's events are filed under. The agent id is the
 * certificate's; the host name is a claim: the first agent that claims a
 * name holds it (hostbind.h), and another agent claiming it is logged,
 * counted and filed under "NAME (unverified, claimed by AGENT)" instead, so
 * its events are kept but never mixed with the real host's. NULL on ENOMEM. */
static const char *conn_host_claim(struct conn *c, const Bulwark__V1__Hello *h, char *flagged,
                                   size_t flaggedlen)
{
    struct server *srv = c->srv;
    const char *owner = NULL;
    int rc;

    if (!srv->hostbind && (srv->hostbind = hostbind_new()) == NULL)
        return NULL;
    rc = hostbind_claim(srv->hostbind, h->hostname, h->agent_id, &owner);
    if (rc == 0)
        return h->hostname;
    if (rc != BW_EAUTH)
        return NULL;
    srv->stats.hostname_conflicts++;
    snprintf(flagged, flaggedlen, "%s (unverified, claimed by %s)", h->hostname, h->agent_id);
    log_msg(LOG_WARN, "conn",
            "%s %s: hello claims hostname '%s', which belongs to agent '%s': its events are "
            "filed under '%s'", c->peer, h->agent_id, h->hostname, owner, flagged);
    return flagged;
}

static void conn_on_hello(struct conn *c, Bulwark__V1__Frame *f, struct arena *ar)
{
    const Bulwark__V1__Hello *h = f->hello;
    struct server *srv = c->srv;
    struct writer_item *it;
    char why[256], flagged[BW_LIMIT_HOSTNAME + BW_LIMIT_AGENT_ID + 64];
    const char *host;
    int rc = ingest_check_hello(h, tls_conn_peer_cn(c->tls), why, sizeof why);

    if (rc < 0) {
        conn_fail(c, rc == BW_EAUTH ? BULWARK__V1__ERROR__CODE__AUTH
                     : h->protocol_version != BULWARK_PROTOCOL_VERSION
                         ? BULWARK__V1__ERROR__CODE__UNSUPPORTED_VERSION
                         : BULWARK__V1__ERROR__CODE__PROTOCOL,
                  why);
        goto out;
    }
    if (enroll_revoked(srv->enroll, h->agent_id)) {
        /* revoked between this stream's handshake and its Hello */
        conn_refuse_revoked(c, h->agent_id);
        goto out;
    }
    host = conn_host_claim(c, h, flagged, sizeof flagged);
    if (!host) {
        conn_close(c, "out of memory");
        goto out;
    }
    /* One stream per agent: a newer one replaces a stale older one. Of
     * another epoch while that one lives, it is another spool with the same
     * identity (a cloned host, a copied certificate): said loudly. */
    uint64_t other_epoch = 0;
    for (struct conn *o = srv->conns; o; o = o->next) {
        if (o != c && o->agent_id && strcmp(o->agent_id, h->agent_id) == 0) {
            log_msg(LOG_INFO, "conn", "%s %s: replaced by a new stream from %s", o->peer,
                    o->agent_id, c->peer);
            if (o->epoch && o->epoch != h->epoch)
                other_epoch = o->epoch;
            conn_finish(o, BULWARK__V1__ERROR__CODE__REPLACED, "replaced by a new stream");
            break;
        }
    }
    it = calloc(1, sizeof *it);
    if (it && other_epoch) {
        char text[256];
        snprintf(text, sizeof text, "agent %s has two live streams with epochs %llu and %llu "
                 "(a cloned host or a copied certificate?)", h->agent_id,
                 (unsigned long long)other_epoch, (unsigned long long)h->epoch);
        /* the two streams replace each other at every reconnect: the
         * alert merges (per agent) in the store, the log line is limited
         * (the loop's thread only) */
        static int64_t logged_ns;
        if (clock_mono_ns() - logged_ns > 10 * 1000000000ll) {
            logged_ns = clock_mono_ns();
            log_msg(LOG_WARN, "conn", "%s %s", c->peer, text);
        }
        it->alerts = alert_rec_server("Duplicate agent identity",
                                      BULWARK__V1__SEVERITY__SEVERITY_CRITICAL, text,
                                      h->agent_id, host, "[\"identity\"]", clock_wall_ns());
    }
    c->agent_id = strdup(h->agent_id);
    c->hostname = strdup(host);
    if (it) {
        it->agent_id = strdup(h->agent_id);
        it->hostname = strdup(host);
        it->holds_hostname = host == h->hostname;  /* not a flagged claim */
        it->agent_version = strdup(h->agent_version);
        it->labels_json = ingest_hello_labels_json(h);
    }
    if (!it || !c->agent_id || !c->hostname || !it->agent_id || !it->hostname ||
        !it->agent_version || !it->labels_json) {
        writer_item_free(it);
        conn_close(c, "out of memory");
        goto out;
    }
    c->epoch = h->epoch;
    c->twin_live = other_epoch != 0;
    it->type = WRITER_HELLO;
    it->epoch = h->epoch;
    it->recv_ns = clock_wall_ns();
    it->done = conn_on_written;
    it->owner = c;
    c->refs++;
    c->state = CONN_WELCOMING;
    conn_read_stop(c);  /* nothing may come before Welcome */
    writer_submit(srv->writer, it);
out:
    arena_free(ar);
}

static void conn_on_batch(struct conn *c, Bulwark__V1__Frame *f, struct arena *ar,
                          const uint8_t *raw, size_t rawlen)
{
    struct server *srv = c->srv;
    struct writer_item *it = calloc(1, sizeof *it);
    char why[256];
    int rc;

    if (!it || !(it->agent_id = strdup(c->agent_id))) {
        free(it);
        arena_free(ar);
        conn_close(c, "out of memory");
        return;
    }
    /* The first batch after Welcome may start above committed + 1 only if
     * this server lost events the agent had already seen acked (a database
     * restored from an older copy): they are gone from both sides, so the
     * gap is logged loudly and accepted rather than refused forever. */
    if (c->resumed && f->batch->n_events > 0 && f->batch->events[0]->seq > c->expect_next &&
        f->batch->epoch == c->epoch) {
        log_msg(LOG_WARN, "conn",
                "%s %s: events %llu..%llu of epoch %llu were acked once but are not in this "
                "database (restored from an older copy?): they are lost",
                c->peer, c->agent_id, (unsigned long long)c->expect_next,
                (unsigned long long)f->batch->events[0]->seq - 1, (unsigned long long)c->epoch);
        c->expect_next = f->batch->events[0]->seq;
    }
    bool first_after_welcome = c->resumed;
    c->resumed = false;
    uint64_t fresh = c->expect_next;  /* events below it were evaluated on this stream */
    size_t nev = f->batch->n_events, nraw = 0;
    const uint8_t **rawev = arena_alloc(ar, (nev + 1) * sizeof *rawev);
    size_t *rawlens = arena_alloc(ar, (nev + 1) * sizeof *rawlens);
    /* Keep the agent's own bytes of each event when they can be found. */
    if (!rawev || !rawlens || frame_batch_scan(raw, rawlen, rawev, rawlens, nev, &nraw) < 0 ||
        nraw != nev)
        rawev = NULL;
    rc = ingest_batch_build(f->batch, rawev, rawlens, c->agent_id, c->hostname, c->epoch,
                            srv->cfg->max_batch_events, clock_wall_ns(), &c->expect_next,
                            &it->batch, why, sizeof why);
    if (rc < 0) {
        writer_item_free(it);
        arena_free(ar);
        conn_fail(c, rc == BW_ETOOBIG ? BULWARK__V1__ERROR__CODE__LIMIT
                                      : BULWARK__V1__ERROR__CODE__PROTOCOL, why);
        return;
    }
    if (srv->rules) {
        size_t skip = fresh > it->batch.first_seq ? (size_t)(fresh - it->batch.first_seq) : 0;
        if (skip < f->batch->n_events)
            rulestage_eval(srv->rules, f->batch->events + skip, f->batch->n_events - skip,
                           c->agent_id, c->hostname, c->epoch, &it->alerts);
    }
    /* The store batch points at the item's own copies of the names. */
    it->hostname = strdup(c->hostname ? c->hostname : "");
    if (!it->hostname) {
        writer_item_free(it);
        arena_free(ar);
        conn_close(c, "out of memory");
        return;
    }
    it->batch.sb.hostname = it->hostname;
    it->batch.sb.agent_id = it->agent_id;
    it->batch.sb.allow_gap = first_after_welcome;
    it->type = WRITER_BATCH;
    it->epoch = c->epoch;
    it->arena = ar;  /* the frame, the raw bodies and container refs live in it */
    it->done = conn_on_written;
    it->owner = c;
    c->refs++;
    c->inflight++;
    srv->stats.batches++;
    srv->stats.events_received += it->batch.sb.n;
    writer_submit(srv->writer, it);
}

static void conn_on_heartbeat(struct conn *c, Bulwark__V1__Frame *f, struct arena *ar)
{
    Bulwark__V1__Frame out = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__Heartbeat hb = BULWARK__V1__HEARTBEAT__INIT;

    int64_t end = tls_conn_peer_not_after(c->tls);
    if (end && clock_wall_ns() / 1000000000 >= end) {
        /* a stream outlives no certificate: short lives mean something */
        arena_free(ar);
        conn_fail(c, BULWARK__V1__ERROR__CODE__AUTH, "agent certificate has expired");
        return;
    }
    hb.sent_at_ns = f->heartbeat->sent_at_ns;  /* echoed: the agent measures round trips */
    server_agent_health(c->srv, c->agent_id, f->heartbeat->health, &c->health_stored_ns,
                        &c->health_dropped);
    out.msg_case = BULWARK__V1__FRAME__MSG_HEARTBEAT;
    out.heartbeat = &hb;
    arena_free(ar);
    conn_send(c, &out);
}

/* ------------------------------------------------------------ enrollment */

/* enroll.c's answer to an EnrollRequest: the certificate, or why not; the
 * stream ends either way. */
static void conn_on_enrolled(void *owner, int rc, const char *agent_id, const char *cert_pem,
                             const char *why)
{
    struct conn *c = owner;

    c->refs--;
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    if (rc == 0) {
        Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
        Bulwark__V1__EnrollAnswer a = BULWARK__V1__ENROLL_ANSWER__INIT;
        a.agent_id = (char *)agent_id;
        a.cert_pem = (char *)cert_pem;
        f.msg_case = BULWARK__V1__FRAME__MSG_ENROLL_ANSWER;
        f.enroll_answer = &a;
        if (conn_send(c, &f) == 0)
            conn_finish(c, BULWARK__V1__ERROR__CODE__UNSPECIFIED, NULL);
        return;
    }
    conn_fail(c, rc == BW_EAUTH    ? BULWARK__V1__ERROR__CODE__AUTH
                 : rc == BW_EAGAIN ? BULWARK__V1__ERROR__CODE__LIMIT
                 : rc == BW_EINVAL ? BULWARK__V1__ERROR__CODE__PROTOCOL
                                   : BULWARK__V1__ERROR__CODE__SHUTTING_DOWN,
              why);
}

/* An EnrollRequest: reading stops until enroll.c answers. */
static void conn_on_enroll(struct conn *c, Bulwark__V1__Frame *f, struct arena *ar)
{
    const Bulwark__V1__EnrollRequest *r = f->enroll_request;

    c->state = CONN_WELCOMING;
    conn_read_stop(c);
    c->refs++;
    if (enroll_request(c->srv->enroll, c->peer, r->token, r->csr_pem, r->hostname,
                       conn_on_enrolled, c) < 0) {
        c->refs--;
        conn_close(c, "out of memory");
    }
    arena_free(ar);
}

/* enroll.c's answer to a RenewRequest: the stream goes on either way. */
static void conn_on_renewed(void *owner, int rc, const char *agent_id, const char *cert_pem,
                            const char *why)
{
    struct conn *c = owner;
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__RenewAnswer a = BULWARK__V1__RENEW_ANSWER__INIT;

    (void)agent_id;
    c->refs--;
    c->renewing = false;
    if (c->closing || c->state == CONN_CLOSING) {
        conn_maybe_free(c);
        return;
    }
    if (rc < 0)
        log_msg(LOG_WARN, "conn", "%s %s: renewal refused: %s", c->peer, c->agent_id, why);
    a.cert_pem = rc == 0 ? (char *)cert_pem : "";
    a.error = rc == 0 ? "" : (char *)why;
    f.msg_case = BULWARK__V1__FRAME__MSG_RENEW_ANSWER;
    f.renew_answer = &a;
    conn_send(c, &f);
}

static void conn_on_renew(struct conn *c, Bulwark__V1__Frame *f, struct arena *ar)
{
    if (c->renewing) {
        arena_free(ar);
        conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL, "a renewal is already in progress");
        return;
    }
    c->renewing = true;
    c->refs++;
    if (enroll_renew(c->srv->enroll, c->peer, c->agent_id, f->renew_request->csr_pem,
                     conn_on_renewed, c) < 0) {
        c->refs--;
        c->renewing = false;
        conn_close(c, "out of memory");
    }
    arena_free(ar);
}

void conn_revoke_agent(struct server *srv, const char *agent_id)
{
    for (struct conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->agent_id && strcmp(c->agent_id, agent_id) == 0)
            conn_refuse_revoked(c, agent_id);
    }
}

/* Takes ownership of ar, which holds f and the raw payload. */
static void conn_on_frame(struct conn *c, Bulwark__V1__Frame *f, struct arena *ar,
                          const uint8_t *raw, size_t rawlen)
{
    if (c->state == CONN_HELLO && c->enroll) {
        if (f->msg_case != BULWARK__V1__FRAME__MSG_ENROLL_REQUEST) {
            arena_free(ar);
            conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL,
                      "expected an enrollment request on the enrollment listener");
            return;
        }
        conn_on_enroll(c, f, ar);
        return;
    }
    if (c->state == CONN_HELLO) {
        if (f->msg_case != BULWARK__V1__FRAME__MSG_HELLO) {
            arena_free(ar);
            conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL, "expected hello as the first frame");
            return;
        }
        conn_on_hello(c, f, ar);
        return;
    }
    switch (f->msg_case) {
    case BULWARK__V1__FRAME__MSG_BATCH:
        conn_on_batch(c, f, ar, raw, rawlen);
        return;
    case BULWARK__V1__FRAME__MSG_HEARTBEAT:
        conn_on_heartbeat(c, f, ar);
        return;
    case BULWARK__V1__FRAME__MSG_RENEW_REQUEST:
        conn_on_renew(c, f, ar);
        return;
    case BULWARK__V1__FRAME__MSG_ERROR:
        log_msg(LOG_INFO, "conn", "%s %s: agent error: %.200s", c->peer, c->agent_id,
                f->error->message);
        arena_free(ar);
        conn_finish(c, BULWARK__V1__ERROR__CODE__UNSPECIFIED, NULL);
        return;
    default:
        arena_free(ar);
        conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL, "unexpected frame type");
        return;
    }
}

/* Decodes and handles complete frames while the connection may take them. */
static int conn_process_frames(struct conn *c)
{
    const struct server_config *cfg = c->srv->cfg;

    while (!c->closing && c->state != CONN_CLOSING && c->state != CONN_WELCOMING) {
        const uint8_t *p;
        uint8_t *raw;
        size_t len;
        Bulwark__V1__Frame *f;
        struct arena *ar;
        ProtobufCAllocator pa;
        char why[256];
        int rc;

        if (conn_out_cost(c) > CONN_OUT_HIGH) {
            conn_out_pause(c);
            return 0;
        }
        if (c->state == CONN_STREAMING &&
            (!writer_has_room(c->srv->writer, cfg->max_batch_events) ||
             c->inflight >= cfg->max_inflight_batches)) {
            conn_pause(c);
            return 0;
        }
        rc = frame_reader_next(&c->reader, &p, &len);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            snprintf(why, sizeof why, "%s",
                     rc != BW_ETOOBIG ? "zero-length frame" : "frame too large");
            if (rc == BW_ETOOBIG && c->state == CONN_HELLO)
                snprintf(why, sizeof why, "frame too large for a hello (limit %u bytes)",
                         BW_LIMIT_HELLO_FRAME);
            conn_fail(c, rc == BW_ETOOBIG ? BULWARK__V1__ERROR__CODE__LIMIT
                                          : BULWARK__V1__ERROR__CODE__PROTOCOL, why);
            return rc;
        }
        /* The frame and all protobuf-c allocates for it live in one arena
         * that goes with the batch to the writer and is freed at once. */
        ar = arena_new(FRAME_ARENA_SIZE(len));
        raw = ar ? arena_alloc(ar, len) : NULL;
        if (!raw) {
            arena_free(ar);
            conn_close(c, "out of memory");
            return BW_ENOMEM;
        }
        memcpy(raw, p, len);
        pa = arena_pb_allocator(ar);
        f = frame_decode(raw, len, &pa);
        if (!f) {
            arena_free(ar);
            conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL,
                      "invalid frame (not a bulwark.v1.Frame)");
            return BW_EPROTO;
        }
        if (ingest_check_frame(f, raw, len, why, sizeof why) < 0) {
            arena_free(ar);
            conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL, why);
            return BW_EPROTO;
        }
        conn_on_frame(c, f, ar, raw, len);
    }
    return 0;
}

/* Moves plaintext out of TLS into frames until TLS has no more or the
 * connection must wait. */
static void conn_pump(struct conn *c)
{
    for (;;) {
        long n;

        if (conn_process_frames(c) < 0 || c->closing || c->paused || c->out_paused ||
            c->state == CONN_CLOSING || c->state == CONN_WELCOMING)
            return;
        n = tls_conn_read(c->tls, &c->reader.in);
        if (n == BW_ECLOSED) {
            conn_finish(c, BULWARK__V1__ERROR__CODE__UNSPECIFIED, NULL);
            return;
        }
        if (n < 0) {
            conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL, tls_conn_error(c->tls));
            return;
        }
        if (n == 0)
            return;
    }
}

/* An idle stream keeps no buffers: most of 10,000 agents are idle. */
static void conn_trim(struct conn *c)
{
    buf_trim(&c->reader.in);
    if (buf_size(&c->reader.in) == 0 && !c->closing)
        tls_conn_shrink(c->tls);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    int rc;

    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (c->state == CONN_HANDSHAKE || c->state == CONN_HELLO) {
            conn_refuse_handshake(c, "%s before hello",
                                  nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        } else {
            conn_close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        }
        return;
    }
    if (tls_conn_feed(c->tls, b->base, (size_t)nread) < 0) {
        if (c->state == CONN_HANDSHAKE) {
            conn_flush(c);  /* the alert tells the client why */
            conn_refuse_handshake(c, "tls handshake failed: %s", tls_conn_error(c->tls));
        } else {
            conn_fail(c, BULWARK__V1__ERROR__CODE__PROTOCOL, tls_conn_error(c->tls));
        }
        return;
    }
    if (c->state == CONN_HANDSHAKE) {
        rc = tls_conn_handshake(c->tls);
        conn_flush(c);
        if (c->closing)
            return;
        if (rc < 0) {
            conn_refuse_handshake(c, "tls handshake failed: %s", tls_conn_error(c->tls));
            return;
        }
        if (rc == 0)
            return;
        c->state = CONN_HELLO;
        if (!c->enroll && enroll_revoked(c->srv->enroll, tls_conn_peer_cn(c->tls))) {
            conn_refuse_revoked(c, tls_conn_peer_cn(c->tls));
            return;
        }
    }
    conn_arm_idle(c);
    conn_pump(c);
    conn_flush(c);
    conn_trim(c);
    conn_prehello_account(c);
    c->turn_bytes += (size_t)nread;
    if (c->turn_bytes >= CONN_TURN_BYTES && c->reading && !c->closing) {
        /* Fairness: give the loop back; resume on the next pass. */
        struct server *srv = c->srv;
        conn_read_stop(c);
        c->turn_bytes = 0;
        c->yielded = true;
        c->refs++;  /* the list holds a reference until the idle callback */
        c->yield_next = srv->yielded;
        srv->yielded = c;
        if (!uv_is_active((uv_handle_t *)&srv->yield_idle))
            uv_idle_start(&srv->yield_idle, on_yield_idle);
    }
}

static void on_yield_idle(uv_idle_t *h)
{
    struct server *srv = h->data;
    struct conn *c = srv->yielded, *next;

    srv->yielded = NULL;
    uv_idle_stop(&srv->yield_idle);
    for (; c; c = next) {
        next = c->yield_next;
        c->yield_next = NULL;
        c->yielded = false;
        c->refs--;
        if (c->closing)
            conn_maybe_free(c);
        else
            conn_read_start(c);
    }
}

int conn_start(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        net_addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
    uv_tcp_nodelay(&c->tcp, 1);
    /* What a server sends is small (Welcome, Acks, Heartbeat echoes): a
     * fixed kernel send buffer instead of one autotuned up to megabytes
     * means a peer that reads nothing meets back-pressure after a few
     * hundred KiB, not after the server produced megabytes of replies. */
    int sndbuf = CONN_SNDBUF;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
    uv_timer_start(&c->timer, on_timeout, c->srv->cfg->handshake_timeout_ms, 0);
    conn_read_start(c);
    return c->reading ? 0 : BW_EIO;
}

/* ------------------------------------------------------------ writer results */

/* An agent that says Hello with an epoch it used before, after another one
 * (its spool restored from an older copy, a disk image rolled back), went
 * back in its own history: its older copy may also hold events it never
 * sent. Stored events are safe (exactly-once per epoch); the operator is
 * told, once per such Hello (the alert merges per agent). A clone beside a
 * live original is already the duplicate identity alert. */
static void conn_check_epoch(struct conn *c, const struct writer_item *it)
{
    char text[300];

    if (!it->prev_epoch || it->prev_epoch == c->epoch || it->committed_seq == 0 || c->twin_live)
        return;
    snprintf(text, sizeof text,
             "agent %s went back to epoch %llu (%llu events stored in it before) after epoch "
             "%llu: a spool restored from an older copy or a rolled-back disk image?",
             c->agent_id, (unsigned long long)c->epoch, (unsigned long long)it->committed_seq,
             (unsigned long long)it->prev_epoch);
    log_msg(LOG_WARN, "conn", "%s %s", c->peer, text);
    server_raise_alert(c->srv, "Agent epoch went backwards",
                       BULWARK__V1__SEVERITY__SEVERITY_WARNING, text, c->agent_id, c->hostname,
                       "[\"identity\",\"integrity\"]");
}

static void conn_on_written(struct writer_item *it, void *owner)
{
    struct conn *c = owner;
    const struct server_config *cfg = c->srv->cfg;
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;

    c->refs--;
    if (it->type == WRITER_BATCH)
        c->inflight--;
    if (c->closing || c->state == CONN_CLOSING) {
        writer_item_free(it);
        conn_maybe_free(c);
        return;
    }
    if (it->rc < 0) {
        bool gap = it->rc == BW_ESEQ;
        writer_item_free(it);
        conn_finish(c, BULWARK__V1__ERROR__CODE__UNSPECIFIED, NULL);
        conn_close(c, gap ? "an earlier batch was not stored; the agent will resend from it"
                          : "store failure; the agent will resend");
        return;
    }
    if (it->type == WRITER_HELLO) {
        Bulwark__V1__Welcome w = BULWARK__V1__WELCOME__INIT;
        w.protocol_version = BULWARK_PROTOCOL_VERSION;
        w.epoch = c->epoch;
        w.committed_seq = it->committed_seq;
        w.max_frame = cfg->max_frame;
        w.max_batch_events = cfg->max_batch_events;
        w.heartbeat_interval_ms = cfg->heartbeat_interval_ms;
        w.max_inflight_batches = cfg->max_inflight_batches;
        /* Streaming: frames up to the negotiated maximum from now on. */
        c->reader.max_frame = cfg->max_frame;
        c->reader.in.max = (size_t)cfg->max_frame + FRAME_HEADER_SIZE + 64 * 1024;
        c->expect_next = it->committed_seq + 1;
        c->resumed = true;
        c->acked = it->committed_seq;
        conn_check_epoch(c, it);
        c->state = CONN_STREAMING;
        server_agent_up(c->srv, c->agent_id, c->hostname, it->agent_version, c->peer, c->stream);
        c->registered = true;
        f.msg_case = BULWARK__V1__FRAME__MSG_WELCOME;
        f.welcome = &w;
        log_msg(LOG_INFO, "conn", "%s %s: streaming (epoch %llu, committed %llu)", c->peer,
                c->agent_id, (unsigned long long)c->epoch,
                (unsigned long long)it->committed_seq);
        writer_item_free(it);
        if (conn_send(c, &f) < 0)
            return;
        conn_arm_idle(c);
    } else {
        Bulwark__V1__Ack a = BULWARK__V1__ACK__INIT;
        uint64_t up_to = it->committed_seq;
        writer_item_free(it);
        if (up_to > c->acked) {
            c->acked = up_to;
            a.epoch = c->epoch;
            a.up_to_seq = up_to;
            f.msg_case = BULWARK__V1__FRAME__MSG_ACK;
            f.ack = &a;
            if (conn_send(c, &f) < 0)
                return;
        }
    }
    /* Our window may have opened: take what is buffered, then read again. */
    conn_unblock(c);
    conn_pump(c);
    conn_flush(c);
    conn_trim(c);
    conn_read_start(c);
}

void conn_resume_blocked(struct server *srv)
{
    /* Detach the list first: conns that must wait again re-queue themselves. */
    struct conn *c = srv->blocked, *next;

    srv->blocked = NULL;
    for (; c; c = next) {
        next = c->blocked_next;
        c->blocked_prev = c->blocked_next = NULL;
        c->paused = false;
        if (next)
            next->blocked_prev = NULL;
        conn_pump(c);
        conn_flush(c);
        conn_read_start(c);
    }
}

void conn_drain_all(struct server *srv)
{
    struct conn *c, *next;

    for (c = srv->conns; c; c = next) {
        next = c->next;  /* c may close (unlink) itself, never another */
        conn_read_stop(c);
        if (c->state == CONN_STREAMING) {
            conn_pump(c);  /* what TLS already holds was received: commit it */
            conn_flush(c);
        } else if (c->state == CONN_HANDSHAKE || c->state == CONN_HELLO) {
            conn_close(c, NULL);
        }
    }
}

void conn_close_all(struct server *srv)
{
    on_yield_idle(&srv->yield_idle);  /* drop the yield list's references */
    while (srv->conns) {
        struct conn *c = srv->conns;
        conn_finish(c, BULWARK__V1__ERROR__CODE__SHUTTING_DOWN, "server shutting down");
        conn_close(c, NULL);
    }
    hostbind_free(srv->hostbind);
    srv->hostbind = NULL;
}
