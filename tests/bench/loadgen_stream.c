/* loadgen_stream.c - one agent stream of the load generator (see
 * loadgen.h): TCP connect (within the --max-pending slots), the TLS
 * handshake with the stream's own identity, Hello -> Welcome, batches within
 * the window and the Acks that retire them, heartbeats, and the one close
 * path with its reconnect after a backoff. Fleet-wide counters and the
 * outage clock live in struct loadgen; the phases are loadgen.c's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "loadgen.h"

/* ---------------------------------------------------------------- writing */

struct lg_write {
    uv_write_t req;
    struct stream *s;
    size_t n;
    struct buf b;
};

static void stream_close(struct stream *s, const char *why, bool error);

static void on_write(uv_write_t *req, int status)
{
    struct lg_write *w = req->data;
    struct stream *s = w->s;

    s->write_pending -= w->n;
    buf_release(&w->b);
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        stream_close(s, uv_strerror(status), false);
        return;
    }
    if (s->state == ST_STREAMING && s->write_pending < LG_WRITE_PENDING_MAX / 2)
        stream_pump(s);
}

/* Sends the ciphertext TLS has produced. */
static int stream_flush(struct stream *s)
{
    struct lg_write *w;
    uv_buf_t ub;

    if (s->state == ST_CLOSING || s->state == ST_IDLE)
        return BW_ECLOSED;
    w = malloc(sizeof *w);
    if (!w)
        return BW_ENOMEM;
    buf_init(&w->b, 64u * 1024 * 1024);
    if (tls_conn_take_output(s->tls, &w->b) == 0) {
        buf_release(&w->b);
        free(w);
        return 0;
    }
    w->s = s;
    w->n = buf_size(&w->b);
    w->req.data = w;
    ub = uv_buf_init((char *)buf_head(&w->b), (unsigned)w->n);
    if (uv_write(&w->req, (uv_stream_t *)&s->tcp, &ub, 1, on_write) < 0) {
        buf_release(&w->b);
        free(w);
        stream_close(s, "write failed", false);
        return BW_EIO;
    }
    s->write_pending += w->n;
    return 0;
}

static int stream_send(struct stream *s, const Bulwark__V1__Frame *f)
{
    struct loadgen *lg = s->lg;
    int rc;

    buf_reset(&lg->plain);
    rc = frame_encode(f, s->server_max_frame ? s->server_max_frame : FRAME_DEFAULT_MAX, &lg->plain);
    if (rc == 0)
        rc = tls_conn_write(s->tls, buf_head(&lg->plain), buf_size(&lg->plain));
    if (rc < 0) {
        lg_error(lg, s, "cannot send a frame");
        stream_close(s, NULL, true);
        return rc;
    }
    s->last_tx_ns = (uint64_t)clock_mono_ns();
    return stream_flush(s);
}

static void stream_heartbeat(struct stream *s)
{
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__Heartbeat hb = BULWARK__V1__HEARTBEAT__INIT;
    Bulwark__V1__AgentHealth h = BULWARK__V1__AGENT_HEALTH__INIT;

    h.spool_depth = s->max_sent >= s->acked ? s->max_sent - s->acked : 0;
    h.events_total = s->max_sent;
    hb.sent_at_ns = clock_wall_ns();
    hb.health = &h;
    f.msg_case = BULWARK__V1__FRAME__MSG_HEARTBEAT;
    f.heartbeat = &hb;
    if (stream_send(s, &f) == 0)
        s->lg->heartbeats++;
}

/* Builds and sends batches while the window, the write queue and the
 * events due allow. */
void stream_pump(struct stream *s)
{
    struct loadgen *lg = s->lg;
    const struct evpool *pool = &lg->pool[s->idx % lg->o.pools];

    while (s->state == ST_STREAMING && lg->phase >= PH_SEND && lg->phase < PH_CLOSE &&
           s->ring_len < s->window && s->write_pending < LG_WRITE_PENDING_MAX &&
           s->next_seq <= s->allowed) {
        uint64_t first = s->next_seq, seq = first;
        int rc = 0;

        while (seq <= s->allowed && seq - first < s->max_batch) {
            size_t len, n;
            const uint8_t *t = evpool_get(pool, seq - 1, &len);

            if (len + EVPOOL_SEQ_MAX > sizeof lg->scratch)
                break;
            n = evpool_stamp(lg->scratch, seq, t, len);
            if (frame_batch_size_with(&lg->batch, n) + 16 > s->server_max_frame)
                break;
            if ((rc = frame_batch_add(&lg->batch, lg->scratch, n)) < 0)
                break;
            seq++;
        }
        buf_reset(&lg->plain);
        if (rc == 0 && seq == first)
            rc = BW_ETOOBIG;
        if (rc == 0)
            rc = frame_batch_finish(&lg->batch, s->epoch, s->server_max_frame, &lg->plain);
        if (rc == 0)
            rc = tls_conn_write(s->tls, buf_head(&lg->plain), buf_size(&lg->plain));
        if (rc < 0) {
            frame_batch_release(&lg->batch);
            frame_batch_init(&lg->batch, FRAME_DEFAULT_MAX);
            lg_error(lg, s, "cannot build a batch");
            stream_close(s, NULL, true);
            return;
        }
        s->ring[(s->ring_head + s->ring_len) % s->ring_cap] =
            (struct inflight){.last_seq = seq - 1, .sent_ns = (uint64_t)clock_mono_ns()};
        s->ring_len++;
        if (seq - 1 > s->max_sent) {
            uint64_t fresh = seq - 1 - (first > s->max_sent ? first - 1 : s->max_sent);
            lg->events_sent += fresh;
            lg->events_resent += (seq - first) - fresh;
            s->max_sent = seq - 1;
        } else {
            lg->events_resent += seq - first;
        }
        lg->batches++;
        s->next_seq = seq;
        s->last_tx_ns = (uint64_t)clock_mono_ns();
        if (stream_flush(s) < 0)
            return;
    }
}

/* ------------------------------------------------------------- lifecycle */

static bool state_pending(enum st st)
{
    return st == ST_CONNECTING || st == ST_HANDSHAKE || st == ST_HELLO;
}

/* Gives free connect slots to queued streams. */
static void lg_admit(struct loadgen *lg)
{
    while (lg->q_len > 0 && lg->phase < PH_CLOSE &&
           (lg->o.connect_storm || lg->pending < lg->o.max_pending)) {
        struct stream *s = &lg->s[lg->queue[lg->q_head]];

        lg->q_head = (lg->q_head + 1) % lg->o.agents;
        lg->q_len--;
        s->queued = false;
        stream_connect(s);
    }
}

static void stream_set_state(struct stream *s, enum st st)
{
    struct loadgen *lg = s->lg;
    bool was = state_pending(s->state), is = state_pending(st);

    if (s->state == ST_STREAMING)
        lg->streaming--;
    if (st == ST_STREAMING)
        lg->streaming++;
    s->state = st;
    if (was && !is) {
        lg->pending--;
        lg_admit(lg);
    } else if (!was && is) {
        lg->pending++;
    }
}

static void on_retry(uv_timer_t *t)
{
    stream_connect(t->data);
}

static void on_tcp_closed(uv_handle_t *h)
{
    struct stream *s = h->data;
    struct loadgen *lg = s->lg;
    uint32_t d = s->backoff_ms;

    tls_conn_free(s->tls);
    s->tls = NULL;
    frame_reader_release(&s->reader);
    frame_reader_init(&s->reader, FRAME_DEFAULT_MAX);
    s->state = ST_IDLE;
    lg->handles--;
    if (lg->phase == PH_CLOSE)
        return;
    /* backoff doubles up to the max; each wait drawn from [d/2, d] */
    s->backoff_ms = d >= lg->o.reconnect_max_ms / 2 ? lg->o.reconnect_max_ms : d * 2;
    uv_timer_start(&s->timer, on_retry, d / 2 + lg_rand(lg) % (d / 2 + 1), 0);
}

/* The one close path. `why` is logged as an error when `error` is set. */
static void stream_close(struct stream *s, const char *why, bool error)
{
    struct loadgen *lg = s->lg;

    if (s->state == ST_IDLE || s->state == ST_CLOSING)
        return;
    if (error && why)
        lg_error(lg, s, why);
    if (s->state == ST_STREAMING && lg->phase != PH_CLOSE) {
        lg->disconnects++;
        if (!s->down) {
            if (!lg->in_outage) {
                lg->in_outage = true;
                lg->back = false;
                lg->t_outage = (uint64_t)clock_mono_ns();
            }
            s->down = true;
            lg->down++;
        }
    } else if (s->state == ST_CONNECTING) {
        lg->connect_failures++;
    } else if (s->state == ST_HANDSHAKE) {
        lg->tls_failures++;
    }
    uv_timer_stop(&s->timer);
    stream_set_state(s, ST_CLOSING);
    uv_close((uv_handle_t *)&s->tcp, on_tcp_closed);
}

static void stream_start_timer(struct stream *s);

/* An outage runs from the first stream that drops while streaming until
 * every dropped stream has a Welcome again (reconnect_ms) and, when events
 * flow, an Ack after it (restream_ms). The longest outage is reported. */
static void lg_outage_check(struct loadgen *lg, uint64_t t)
{
    double ms = ms_since(lg->t_outage, t);

    if (!lg->in_outage || lg->down > 0)
        return;
    if (!lg->back) {
        lg->back = true;
        if (ms > lg->reconnect_ms)
            lg->reconnect_ms = ms;
        fprintf(stderr, "loadgen: all streams back %.0f ms after the first drop\n", ms);
    }
    if (lg->need_ack == 0) {
        lg->in_outage = false;
        if (ms > lg->restream_ms)
            lg->restream_ms = ms;
        fprintf(stderr, "loadgen: all streams acked again %.0f ms after the first drop\n", ms);
    }
}

static void stream_on_welcome(struct stream *s, const Bulwark__V1__Welcome *w)
{
    struct loadgen *lg = s->lg;

    if (w->epoch != s->epoch) {
        stream_close(s, "welcome for another epoch", true);
        return;
    }
    if (w->committed_seq > s->max_sent) {
        stream_close(s, "server committed events never sent", true);
        return;
    }
    if (w->committed_seq < s->acked) {
        /* acked before, not committed now: the server lost them */
        lg->lost += s->acked - w->committed_seq;
        lg_error(lg, s, "server lost acked events");
        s->acked = w->committed_seq;
    } else if (w->committed_seq > s->acked) {
        lg->events_acked += w->committed_seq - s->acked;  /* committed, ack lost */
        s->acked = w->committed_seq;
    }
    s->next_seq = s->acked + 1;
    s->window = w->max_inflight_batches ? w->max_inflight_batches : 1;
    if (s->window > LG_WINDOW_MAX)
        s->window = LG_WINDOW_MAX;
    if (s->ring_cap < s->window) {
        struct inflight *r = realloc(s->ring, s->window * sizeof *r);
        if (!r) {
            stream_close(s, "out of memory", true);
            return;
        }
        s->ring = r;
        s->ring_cap = s->window;
    }
    s->ring_head = s->ring_len = 0;
    s->max_batch = lg->o.batch;
    if (w->max_batch_events && w->max_batch_events < s->max_batch)
        s->max_batch = w->max_batch_events;
    s->server_max_frame = w->max_frame ? w->max_frame : FRAME_DEFAULT_MAX;
    if (s->server_max_frame > FRAME_DEFAULT_MAX)
        s->server_max_frame = FRAME_DEFAULT_MAX;
    s->hb_ms = lg->o.hb_ms ? lg->o.hb_ms : w->heartbeat_interval_ms ? w->heartbeat_interval_ms : 10000;
    s->backoff_ms = lg->o.reconnect_min_ms;
    stream_set_state(s, ST_STREAMING);
    lg->connects++;
    if (!s->ever_welcomed) {
        s->ever_welcomed = true;
        if (++lg->welcomed_once == lg->o.agents) {
            lg->t_connected = (uint64_t)clock_mono_ns();
            fprintf(stderr, "loadgen: all %" PRIu32 " connected in %.0f ms\n", lg->o.agents,
                    ms_since(lg->t_start, lg->t_connected));
        }
    }
    if (s->down) {
        s->down = false;
        lg->down--;
        if (!lg->o.heartbeat_only && !s->need_ack) {
            s->need_ack = true;
            lg->need_ack++;
        }
        lg_outage_check(lg, (uint64_t)clock_mono_ns());
    }
    stream_start_timer(s);
    stream_pump(s);
}

static void stream_on_ack(struct stream *s, const Bulwark__V1__Ack *a)
{
    struct loadgen *lg = s->lg;
    uint64_t t = (uint64_t)clock_mono_ns();

    if (a->epoch != s->epoch || a->up_to_seq >= s->next_seq) {
        stream_close(s, "ack for events never sent", true);
        return;
    }
    if (a->up_to_seq <= s->acked)
        return;
    lg->events_acked += a->up_to_seq - s->acked;
    s->acked = a->up_to_seq;
    while (s->ring_len > 0 && s->ring[s->ring_head].last_seq <= a->up_to_seq) {
        hist_add(&lg->ack, (t - s->ring[s->ring_head].sent_ns) / 1000u);
        s->ring_head = (s->ring_head + 1) % s->ring_cap;
        s->ring_len--;
    }
    if (s->need_ack) {
        s->need_ack = false;
        lg->need_ack--;
        lg_outage_check(lg, t);
    }
    stream_pump(s);
}

static void stream_on_frame(struct stream *s, const Bulwark__V1__Frame *f)
{
    switch (f->msg_case) {
    case BULWARK__V1__FRAME__MSG_WELCOME:
        if (s->state != ST_HELLO)
            stream_close(s, "unexpected welcome", true);
        else
            stream_on_welcome(s, f->welcome);
        break;
    case BULWARK__V1__FRAME__MSG_ACK:
        if (s->state != ST_STREAMING)
            stream_close(s, "ack before welcome", true);
        else
            stream_on_ack(s, f->ack);
        break;
    case BULWARK__V1__FRAME__MSG_HEARTBEAT: {
        int64_t rtt = clock_wall_ns() - f->heartbeat->sent_at_ns;
        s->lg->hb_echoes++;
        if (rtt >= 0)
            hist_add(&s->lg->hb, (uint64_t)rtt / 1000u);
        break;
    }
    case BULWARK__V1__FRAME__MSG_ERROR: {
        char why[300];
        snprintf(why, sizeof why, "server error %d: %.256s", (int)f->error->code,
                 f->error->message ? f->error->message : "");
        stream_close(s, why, true);
        break;
    }
    default:
        stream_close(s, "unexpected frame from server", true);
        break;
    }
}

static void stream_read_frames(struct stream *s)
{
    for (;;) {
        const uint8_t *p;
        size_t len;
        long n;
        int rc = 0;

        while (s->state >= ST_HELLO && s->state <= ST_STREAMING &&
               (rc = frame_reader_next(&s->reader, &p, &len)) == 1) {
            Bulwark__V1__Frame *f = frame_decode(p, len, NULL);
            if (!f) {
                stream_close(s, "invalid frame from server", true);
                return;
            }
            stream_on_frame(s, f);
            frame_free(f, NULL);
        }
        if (s->state != ST_HELLO && s->state != ST_STREAMING)
            return;
        if (rc < 0) {
            stream_close(s, "bad frame from server", true);
            return;
        }
        n = tls_conn_read(s->tls, &s->reader.in);
        if (n == BW_ECLOSED) {
            stream_close(s, "server closed the stream", false);
            return;
        }
        if (n < 0) {
            stream_close(s, tls_conn_error(s->tls), true);
            return;
        }
        if (n == 0)
            break;
    }
    /* An idle stream keeps no read buffer (10,000 of them add up). */
    if (buf_size(&s->reader.in) == 0 && s->reader.in.cap > 0) {
        frame_reader_release(&s->reader);
        frame_reader_init(&s->reader, FRAME_DEFAULT_MAX);
    }
}

static void stream_send_hello(struct stream *s)
{
    struct loadgen *lg = s->lg;
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__Hello h = BULWARK__V1__HELLO__INIT;
    Bulwark__V1__Labels lb = BULWARK__V1__LABELS__INIT;
    char id[LG_ID_MAX], host[LG_ID_MAX + 8];

    stream_id(lg, s->idx, id, sizeof id);
    snprintf(host, sizeof host, "host-%s", id);
    lb.environment = "bench";
    h.protocol_version = BULWARK_PROTOCOL_VERSION;
    h.agent_id = id;
    h.hostname = host;
    h.agent_version = "loadgen";
    h.labels = &lb;
    h.epoch = s->epoch;
    h.max_frame = FRAME_DEFAULT_MAX;
    f.msg_case = BULWARK__V1__FRAME__MSG_HELLO;
    f.hello = &h;
    stream_set_state(s, ST_HELLO);
    stream_send(s, &f);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct stream *s = h->data;
    /* one thread: the shared buffer is consumed before the next read */
    *out = uv_buf_init((char *)s->lg->readbuf, sizeof s->lg->readbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct stream *s = st->data;
    int rc;

    if (nread == 0 || s->state == ST_CLOSING || s->state == ST_IDLE)
        return;
    if (nread < 0) {
        stream_close(s, nread == UV_EOF ? "server closed the connection" : uv_strerror((int)nread),
                     false);
        return;
    }
    rc = tls_conn_feed(s->tls, b->base, (size_t)nread);
    if (rc < 0) {
        stream_flush(s);
        stream_close(s, tls_conn_error(s->tls), true);
        return;
    }
    if (s->state == ST_HANDSHAKE) {
        rc = tls_conn_handshake(s->tls);
        stream_flush(s);
        if (s->state != ST_HANDSHAKE)
            return;
        if (rc < 0) {
            stream_close(s, tls_conn_error(s->tls), true);
            return;
        }
        if (rc == 0)
            return;
        stream_send_hello(s);
        if (s->state != ST_HELLO)
            return;
    }
    stream_read_frames(s);
    if (s->state == ST_HELLO || s->state == ST_STREAMING)
        stream_flush(s);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct stream *s = req->data;

    if (s->state != ST_CONNECTING)
        return;
    if (status < 0) {
        stream_close(s, uv_strerror(status), false);
        return;
    }
    stream_set_state(s, ST_HANDSHAKE);
    uv_tcp_nodelay(&s->tcp, 1);
    if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) < 0 ||
        tls_conn_handshake(s->tls) < 0) {
        stream_close(s, "cannot start tls", true);
        return;
    }
    stream_flush(s);
}

void stream_connect(struct stream *s)
{
    struct loadgen *lg = s->lg;

    if (s->state != ST_IDLE || s->queued || lg->phase == PH_CLOSE)
        return;
    if (!lg->o.connect_storm && lg->pending >= lg->o.max_pending) {
        lg->queue[(lg->q_head + lg->q_len) % lg->o.agents] = s->idx;
        lg->q_len++;
        s->queued = true;
        return;
    }
    s->tls = tls_conn_new(lg->ctx, lg->o.server_name);
    if (!s->tls || tls_conn_use_identity(s->tls, lg->ids[s->idx]) < 0) {
        tls_conn_free(s->tls);
        s->tls = NULL;
        lg_error(lg, s, "cannot create a tls connection");
        return;
    }
    uv_tcp_init(lg->loop, &s->tcp);
    s->tcp.data = s;
    s->creq.data = s;
    lg->handles++;
    stream_set_state(s, ST_CONNECTING);
    if (uv_tcp_connect(&s->creq, &s->tcp, (const struct sockaddr *)&lg->addr, on_connect) < 0)
        stream_close(s, "cannot connect", false);
}

/* ----------------------------------------------------------------- timers */

/* Rate mode: events come due at --rate; every mode: heartbeat when idle
 * (heartbeat-only: every interval). */
static void on_tick(uv_timer_t *t)
{
    struct stream *s = t->data;
    struct loadgen *lg = s->lg;
    uint64_t now = (uint64_t)clock_mono_ns();

    if (s->state != ST_STREAMING)
        return;
    if (lg->phase == PH_SEND && !lg->o.heartbeat_only && lg->o.rate > 0) {
        uint64_t due;

        s->credit += (double)(now - s->last_tick_ns) * lg->o.rate / 1e9;
        due = (uint64_t)s->credit;
        s->credit -= (double)due;
        s->allowed += due;
        if (lg->o.events && s->allowed > lg->o.events)
            s->allowed = lg->o.events;
    }
    s->last_tick_ns = now;
    if (lg->o.heartbeat_only || now - s->last_tx_ns >= (uint64_t)s->hb_ms * 1000000u)
        stream_heartbeat(s);
    stream_pump(s);
}

static void stream_start_timer(struct stream *s)
{
    struct loadgen *lg = s->lg;
    uint64_t every = lg->o.heartbeat_only || lg->o.rate <= 0 ? s->hb_ms : lg->o.tick_ms;

    /* a random phase so that N streams do not tick together */
    uv_timer_start(&s->timer, on_tick, 1 + lg_rand(lg) % every, every);
}

/* ------------------------------------------------------------ setup, end */

static void on_timer_closed(uv_handle_t *h)
{
    struct stream *s = h->data;

    s->lg->handles--;
}

void stream_init(struct stream *s, struct loadgen *lg, uint32_t idx)
{
    s->lg = lg;
    s->idx = idx;
    if (getrandom(&s->epoch, sizeof s->epoch, 0) != sizeof s->epoch)
        s->epoch = lg_rand(lg);
    s->epoch &= INT64_MAX;
    if (s->epoch == 0)
        s->epoch = 1;
    s->backoff_ms = lg->o.reconnect_min_ms;
    frame_reader_init(&s->reader, FRAME_DEFAULT_MAX);
    uv_timer_init(lg->loop, &s->timer);
    s->timer.data = s;
    lg->handles++;
}

void stream_stop(struct stream *s)
{
    if (s->state == ST_STREAMING && tls_conn_established(s->tls)) {
        tls_conn_shutdown(s->tls);
        stream_flush(s);
    }
    if (s->state != ST_IDLE && s->state != ST_CLOSING) {
        uv_timer_stop(&s->timer);
        stream_set_state(s, ST_CLOSING);
        uv_close((uv_handle_t *)&s->tcp, on_tcp_closed);
    }
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

/* After the loop ends (or for a stream never started: all zero). */
void stream_release(struct stream *s)
{
    tls_conn_free(s->tls);
    s->tls = NULL;
    frame_reader_release(&s->reader);
    free(s->ring);
    s->ring = NULL;
}
