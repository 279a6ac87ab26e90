/* loadgen.c - the load generator of the performance harness (tests/bench,
 * not a test; docs/performance.md): N agent streams to bulwarkd from one
 * process and one libuv loop, each with its own identity.
 *
 * Identities: one EC P-256 key shared by all, and N certificates
 * (CN=<prefix>-<i>, clientAuth) signed in-process by the dev CA key that
 * deploy/gen-certs.sh made. tls.h builds a context only from files, so the
 * certificates are written as PEM into a temporary directory and each
 * identity gets its own tls_ctx on its first connect (the cost in time and
 * memory is reported: ctx_ms, rss).
 *
 * Events: a few pools of realistic packed events (evpool.c, from the agent's
 * synthetic source); event `seq` of agent i is template (seq - 1) of pool
 * i % pools, stamped with its seq, so a resend after a reconnect rebuilds
 * exactly the same bytes and nothing is kept per event.
 *
 * Phases: CONNECT (all streams connect; nothing is sent until all have a
 * Welcome or the connect timeout passes), SEND (for --duration or until
 * each agent sent --events), DRAIN (no new events; wait until every sent
 * event is acked), CLOSE (one summary line of key=value on stdout).
 * Everything is bounded by --max-runtime. Loopback addresses only. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "bulwark/err.h"
#include "bulwark/clock.h"
#include "bulwark/frame.h"
#include "bulwark/net.h"
#include "bulwark/tls.h"
#include "evpool.h"

#define LG_ID_MAX 48
#define LG_POOL_EVENTS 1024u
#define LG_WINDOW_MAX 1024u
#define LG_WRITE_PENDING_MAX (8u * 1024 * 1024)  /* stop building batches above */
#define LG_ERRORS_SHOWN 10u
#define LG_HIST_SUB 16u
#define LG_HIST_BUCKETS (64u * LG_HIST_SUB)
#define LG_AGENTS_MAX 100000u

/* --------------------------------------------------------------- histogram */

/* Log-linear: 16 linear buckets per power of two (about 6% resolution),
 * values in microseconds; the maximum is kept exactly. */
struct hist {
    uint64_t n, max;
    uint64_t c[LG_HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
    unsigned e;

    if (v < LG_HIST_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);  /* >= 4 */
    return (e - 3u) * LG_HIST_SUB + (unsigned)((v >> (e - 4u)) & (LG_HIST_SUB - 1));
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->c[hist_index(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The q-quantile in milliseconds (bucket midpoint, never above the max). */
static double hist_quantile_ms(const struct hist *h, double q)
{
    uint64_t want, seen = 0;

    if (h->n == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)h->n);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        double lo, width, mid;

        seen += h->c[i];
        if (seen < want)
            continue;
        if (i < LG_HIST_SUB) {
            lo = i;
            width = 1;
        } else {
            unsigned e = i / LG_HIST_SUB + 3u, sub = i % LG_HIST_SUB;
            lo = ldexp(LG_HIST_SUB + sub, (int)e - 4);
            width = ldexp(1, (int)e - 4);
        }
        mid = lo + width / 2;
        return (mid > (double)h->max ? (double)h->max : mid) / 1000.0;
    }
    return (double)h->max / 1000.0;
}

/* ------------------------------------------------------------------ state */

enum phase { PH_CONNECT, PH_SEND, PH_DRAIN, PH_CLOSE };
enum st { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_HELLO, ST_STREAMING, ST_CLOSING };

struct options {
    const char *server;
    const char *certs;          /* directory with ca.pem and ca.key */
    const char *server_name;
    const char *prefix;
    const char *workdir;        /* certificates go here; default a temp dir */
    const char *acked_out;      /* "agent_id epoch acked" per line */
    uint32_t agents;
    double rate;                /* events/s per agent; 0 = full speed */
    double duration_s;
    uint64_t events;            /* per agent; 0 = unlimited */
    uint32_t batch;
    bool heartbeat_only;
    uint32_t hb_ms;             /* 0 = what Welcome says */
    bool connect_storm;
    uint32_t max_pending;       /* connects+handshakes at once unless storm */
    uint32_t tick_ms;
    double connect_timeout_s, drain_timeout_s, max_runtime_s, progress_s;
    uint32_t reconnect_min_ms, reconnect_max_ms;
    uint32_t pools;
    bool keep_workdir;
};

struct inflight {
    uint64_t last_seq;
    uint64_t sent_ns;
};

struct stream {
    struct loadgen *lg;
    uint32_t idx;
    enum st state;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t timer;           /* pacing/heartbeat tick, or the retry wait */
    struct tls_ctx *ctx;        /* this identity; made on first connect */
    struct tls_conn *tls;
    struct frame_reader reader;
    uint64_t epoch;
    uint64_t next_seq;          /* next seq to send on this link */
    uint64_t max_sent;          /* highest seq ever sent */
    uint64_t acked;
    uint64_t allowed;           /* highest seq that may be sent now */
    double credit;              /* rate mode: fractional events due */
    uint64_t last_tick_ns, last_tx_ns;
    struct inflight *ring;
    uint32_t ring_cap, ring_head, ring_len;
    uint32_t window, max_batch, hb_ms, server_max_frame;
    size_t write_pending;
    uint32_t backoff_ms;
    bool ever_welcomed, down, need_ack, queued;
};

struct loadgen {
    uv_loop_t *loop;
    struct options o;
    struct sockaddr_storage addr;
    struct stream *s;
    uint32_t *queue;            /* streams waiting for a connect slot */
    uint32_t q_head, q_len;
    uint32_t pending, streaming, welcomed_once, down, need_ack;
    bool in_outage, back;
    enum phase phase;
    uv_timer_t control;
    uv_signal_t sigint, sigterm;
    int handles;
    uint64_t rng;

    char dir[256];
    char key_path[300];
    char ca_path[300];
    struct evpool *pool;
    struct frame_batch batch;
    struct buf plain;
    uint8_t readbuf[65536];
    uint8_t scratch[8192];

    uint64_t t_progress, t_start, t_connected, t_send, t_send_end, t_drained, t_outage, t_end;
    double certgen_ms, ctx_ms, setup_rss_mib, build_ns_per_event;
    double reconnect_ms, restream_ms;  /* the longest outage */
    struct rusage ru_send, ru_end;
    uint64_t acked_at_send_end;

    uint64_t events_sent, events_resent, events_acked, batches, heartbeats, hb_echoes;
    uint64_t connects, disconnects, errors, lost, tls_failures, connect_failures;
    uint32_t errors_shown;
    struct hist ack, hb;
};

static double ms_since(uint64_t t0, uint64_t t1)
{
    return t1 > t0 ? (double)(t1 - t0) / 1e6 : 0;
}

static uint64_t lg_rand(struct loadgen *lg)
{
    /* xorshift64*: jitter only */
    lg->rng ^= lg->rng >> 12;
    lg->rng ^= lg->rng << 25;
    lg->rng ^= lg->rng >> 27;
    return lg->rng * 2685821657736338717ull;
}

static void stream_id(const struct loadgen *lg, uint32_t i, char *out, size_t len)
{
    snprintf(out, len, "%s-%" PRIu32, lg->o.prefix, i);
}

static void lg_error(struct loadgen *lg, const struct stream *s, const char *what)
{
    char id[LG_ID_MAX];

    lg->errors++;
    if (lg->errors_shown >= LG_ERRORS_SHOWN)
        return;
    lg->errors_shown++;
    stream_id(lg, s->idx, id, sizeof id);
    fprintf(stderr, "loadgen: %s: %s%s\n", id, what,
            lg->errors_shown == LG_ERRORS_SHOWN ? " (further errors only counted)" : "");
}

/* ----------------------------------------------------------- certificates */

static int cert_write(const char *path, X509 *x)
{
    FILE *fp = fopen(path, "w");
    int ok;

    if (!fp)
        return BW_EIO;
    ok = PEM_write_X509(fp, x);
    return fclose(fp) == 0 && ok ? 0 : BW_EIO;
}

/* The extensions every agent certificate carries (made once: parsing them
 * per certificate would cost more than signing). */
struct cert_exts {
    X509_EXTENSION *e[3];
};

static int cert_exts_init(struct cert_exts *x)
{
    static const struct {
        int nid;
        const char *value;
    } want[3] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "clientAuth"},
    };

    for (size_t i = 0; i < 3; i++)
        if (!(x->e[i] = X509V3_EXT_conf_nid(NULL, NULL, want[i].nid, want[i].value)))
            return BW_EINVAL;
    return 0;
}

static void cert_exts_release(struct cert_exts *x)
{
    for (size_t i = 0; i < 3; i++)
        X509_EXTENSION_free(x->e[i]);
}

/* One leaf certificate for `id`, signed by the CA. */
static int cert_make(X509 *ca, EVP_PKEY *cakey, EVP_PKEY *key, const struct cert_exts *ext,
                     const char *id, uint64_t serial, const char *path)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int rc = BW_EINVAL;

    if (!x || !name)
        goto out;
    if (!X509_set_version(x, 2) || !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
        !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)id, -1, -1,
                                    0) ||
        !X509_set_subject_name(x, name) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 86400) || !X509_set_pubkey(x, key))
        goto out;
    for (size_t i = 0; i < 3; i++)
        if (!X509_add_ext(x, ext->e[i], -1))
            goto out;
    if (X509_sign(x, cakey, EVP_sha256()) <= 0)
        goto out;
    rc = cert_write(path, x);
out:
    X509_NAME_free(name);
    X509_free(x);
    return rc;
}

/* Writes key.pem and one <id>.pem per agent into lg->dir. */
static int certs_make(struct loadgen *lg)
{
    char path[400];
    FILE *fp = NULL;
    X509 *ca = NULL;
    EVP_PKEY *cakey = NULL, *key = NULL;
    struct cert_exts ext = {{NULL}};
    uint64_t t0 = (uint64_t)clock_mono_ns(), serial0;
    int rc = BW_EIO;

    snprintf(lg->ca_path, sizeof lg->ca_path, "%s/ca.pem", lg->o.certs);
    snprintf(path, sizeof path, "%s/ca.key", lg->o.certs);
    if ((fp = fopen(lg->ca_path, "r")) == NULL || !(ca = PEM_read_X509(fp, NULL, NULL, NULL))) {
        fprintf(stderr, "loadgen: cannot read ca certificate '%s'\n", lg->ca_path);
        goto out;
    }
    fclose(fp);
    if ((fp = fopen(path, "r")) == NULL ||
        !(cakey = PEM_read_PrivateKey(fp, NULL, NULL, NULL))) {
        fprintf(stderr, "loadgen: cannot read ca key '%s'\n", path);
        goto out;
    }
    fclose(fp);
    fp = NULL;
    if (cert_exts_init(&ext) < 0) {
        fprintf(stderr, "loadgen: cannot make certificate extensions\n");
        goto out;
    }
    if (!(key = EVP_EC_gen("P-256"))) {
        fprintf(stderr, "loadgen: cannot generate a P-256 key\n");
        goto out;
    }
    snprintf(lg->key_path, sizeof lg->key_path, "%s/key.pem", lg->dir);
    if (!(fp = fopen(lg->key_path, "w")) || !PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL,
                                                                  NULL)) {
        fprintf(stderr, "loadgen: cannot write '%s'\n", lg->key_path);
        goto out;
    }
    fclose(fp);
    fp = NULL;
    serial0 = (lg_rand(lg) >> 2) & ~(uint64_t)0xfffff;  /* random base, room for N */
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        char id[LG_ID_MAX];

        stream_id(lg, i, id, sizeof id);
        snprintf(path, sizeof path, "%s/%s.pem", lg->dir, id);
        if (cert_make(ca, cakey, key, &ext, id, serial0 + i + 1, path) < 0) {
            fprintf(stderr, "loadgen: cannot make certificate '%s'\n", path);
            goto out;
        }
    }
    lg->certgen_ms = ms_since(t0, (uint64_t)clock_mono_ns());
    rc = 0;
out:
    if (fp)
        fclose(fp);
    cert_exts_release(&ext);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    return rc;
}

/* One tls_ctx per identity, made before the clock starts (tls.h builds a
 * context from files only; see the note at the top). */
static int ctxs_make(struct loadgen *lg)
{
    uint64_t t0 = (uint64_t)clock_mono_ns();

    for (uint32_t i = 0; i < lg->o.agents; i++) {
        char id[LG_ID_MAX], cert[400], err[256];

        stream_id(lg, i, id, sizeof id);
        snprintf(cert, sizeof cert, "%s/%s.pem", lg->dir, id);
        lg->s[i].ctx = tls_ctx_new(TLS_ROLE_CLIENT, lg->ca_path, cert, lg->key_path, err,
                                   sizeof err);
        if (!lg->s[i].ctx) {
            fprintf(stderr, "loadgen: %s\n", err);
            return BW_ETLS;
        }
    }
    lg->ctx_ms = ms_since(t0, (uint64_t)clock_mono_ns());
    return 0;
}

static void certs_remove(struct loadgen *lg)
{
    char path[400];

    if (!lg->dir[0] || lg->o.keep_workdir)
        return;
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        char id[LG_ID_MAX];

        stream_id(lg, i, id, sizeof id);
        snprintf(path, sizeof path, "%s/%s.pem", lg->dir, id);
        unlink(path);
    }
    unlink(lg->key_path);
    if (!lg->o.workdir)
        rmdir(lg->dir);
}

/* ---------------------------------------------------------------- writing */

struct lg_write {
    uv_write_t req;
    struct stream *s;
    size_t n;
    struct buf b;
};

static void stream_close(struct stream *s, const char *why, bool error);
static void stream_pump(struct stream *s);

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
static void stream_pump(struct stream *s)
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

static void stream_connect(struct stream *s);

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
    h.protocol_version = 1;
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

static void stream_connect(struct stream *s)
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
    s->tls = tls_conn_new(s->ctx, lg->o.server_name);
    if (!s->tls) {
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

static void lg_close_all(struct loadgen *lg);

static bool lg_drained(const struct loadgen *lg)
{
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        const struct stream *s = &lg->s[i];
        if (s->acked < s->max_sent)
            return false;
    }
    return true;
}

static void lg_enter_drain(struct loadgen *lg, uint64_t now)
{
    lg->phase = PH_DRAIN;
    lg->t_send_end = now;
    lg->acked_at_send_end = lg->events_acked;
    for (uint32_t i = 0; i < lg->o.agents; i++)
        if (lg->s[i].allowed > lg->s[i].max_sent)
            lg->s[i].allowed = lg->s[i].max_sent;  /* nothing new from here on */
}

static void on_control(uv_timer_t *t)
{
    struct loadgen *lg = t->data;
    uint64_t now = (uint64_t)clock_mono_ns();

    if (now - lg->t_start > (uint64_t)(lg->o.max_runtime_s * 1e9)) {
        fprintf(stderr, "loadgen: max runtime passed\n");
        lg_close_all(lg);
        return;
    }
    switch (lg->phase) {
    case PH_CONNECT:
        if (lg->welcomed_once < lg->o.agents &&
            now - lg->t_start < (uint64_t)(lg->o.connect_timeout_s * 1e9))
            return;
        if (lg->welcomed_once < lg->o.agents)
            fprintf(stderr, "loadgen: only %" PRIu32 " of %" PRIu32 " connected; going on\n",
                    lg->welcomed_once, lg->o.agents);
        lg->phase = PH_SEND;
        lg->t_send = lg->t_progress = now;
        getrusage(RUSAGE_SELF, &lg->ru_send);
        for (uint32_t i = 0; i < lg->o.agents; i++) {
            struct stream *s = &lg->s[i];
            if (!lg->o.heartbeat_only && lg->o.rate <= 0)
                s->allowed = lg->o.events ? lg->o.events : UINT64_MAX;
            s->last_tick_ns = now;
            stream_pump(s);
        }
        return;
    case PH_SEND: {
        bool done = lg->o.duration_s > 0 && now - lg->t_send >= (uint64_t)(lg->o.duration_s * 1e9);
        if (!done && lg->o.events && !lg->o.heartbeat_only) {
            done = true;
            for (uint32_t i = 0; i < lg->o.agents && done; i++)
                done = lg->s[i].acked >= lg->o.events;
        }
        if (lg->o.progress_s > 0 && now >= lg->t_progress) {
            lg->t_progress = now + (uint64_t)(lg->o.progress_s * 1e9);
            fprintf(stderr, "loadgen: t=%.0fs streaming=%" PRIu32 " acked=%" PRIu64
                            " disconnects=%" PRIu64 "\n",
                    (double)(now - lg->t_send) / 1e9, lg->streaming, lg->events_acked,
                    lg->disconnects);
        }
        if (done)
            lg_enter_drain(lg, now);
        return;
    }
    case PH_DRAIN:
        if (lg_drained(lg) && lg->down == 0) {
            lg->t_drained = now;
            lg_close_all(lg);
        } else if (now - lg->t_send_end > (uint64_t)(lg->o.drain_timeout_s * 1e9)) {
            fprintf(stderr, "loadgen: drain timeout: %" PRIu64 " events not acked\n",
                    lg->events_sent - lg->events_acked);
            lg_close_all(lg);
        }
        return;
    case PH_CLOSE:
        return;
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    struct loadgen *lg = h->loop->data;
    lg->handles--;
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct loadgen *lg = sig->data;
    fprintf(stderr, "loadgen: signal %d, stopping\n", signum);
    lg_close_all(lg);
}

static void lg_close_all(struct loadgen *lg)
{
    if (lg->phase == PH_CLOSE)
        return;
    if (lg->phase == PH_SEND)
        lg_enter_drain(lg, (uint64_t)clock_mono_ns());
    lg->phase = PH_CLOSE;
    lg->t_end = (uint64_t)clock_mono_ns();
    getrusage(RUSAGE_SELF, &lg->ru_end);
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        struct stream *s = &lg->s[i];

        if (s->state == ST_STREAMING && tls_conn_established(s->tls)) {
            tls_conn_shutdown(s->tls);
            stream_flush(s);
        }
        if (s->state != ST_IDLE && s->state != ST_CLOSING) {
            uv_timer_stop(&s->timer);
            stream_set_state(s, ST_CLOSING);
            uv_close((uv_handle_t *)&s->tcp, on_tcp_closed);
        }
        uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    }
    uv_close((uv_handle_t *)&lg->control, on_handle_closed);
    uv_close((uv_handle_t *)&lg->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&lg->sigterm, on_handle_closed);
}

/* ---------------------------------------------------------------- summary */

static double cpu_s(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
           (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

static long proc_status_kib(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);

    if (!fp)
        return -1;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(fp);
    return v;
}

static int lg_write_acked(const struct loadgen *lg)
{
    FILE *fp;

    if (!lg->o.acked_out)
        return 0;
    if (!(fp = fopen(lg->o.acked_out, "w"))) {
        fprintf(stderr, "loadgen: cannot write '%s': %s\n", lg->o.acked_out, strerror(errno));
        return BW_EIO;
    }
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        char id[LG_ID_MAX];
        stream_id(lg, i, id, sizeof id);
        fprintf(fp, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", id, lg->s[i].epoch, lg->s[i].acked,
                lg->s[i].max_sent);
    }
    return fclose(fp) == 0 ? 0 : BW_EIO;
}

static void lg_summary(const struct loadgen *lg)
{
    const struct options *o = &lg->o;
    uint64_t send_end = lg->t_send_end ? lg->t_send_end : lg->t_end;
    double win_s = lg->t_send && send_end > lg->t_send ? (double)(send_end - lg->t_send) / 1e9 : 0;
    uint64_t last = lg->t_drained ? lg->t_drained : lg->t_end;
    double tot_s = lg->t_send && last > lg->t_send ? (double)(last - lg->t_send) / 1e9 : 0;
    double wall_s = lg->t_send ? (double)(lg->t_end - lg->t_send) / 1e9 : 0;
    double cpu = lg->t_send ? cpu_s(&lg->ru_end) - cpu_s(&lg->ru_send) : 0;
    const char *mode = o->heartbeat_only ? "heartbeat" : o->rate > 0 ? "rate" : "full";

    printf("loadgen mode=%s agents=%" PRIu32 " rate=%g batch=%" PRIu32 " duration_s=%.1f"
           " connected=%" PRIu32 " connect_ms=%.0f certgen_ms=%.0f ctx_ms=%.0f"
           " events_sent=%" PRIu64 " events_acked=%" PRIu64 " events_resent=%" PRIu64
           " batches=%" PRIu64 " eps=%.0f eps_total=%.0f"
           " ack_p50_ms=%.2f ack_p99_ms=%.2f ack_max_ms=%.2f"
           " heartbeats=%" PRIu64 " hb_rtt_p50_ms=%.2f hb_rtt_p99_ms=%.2f hb_rtt_max_ms=%.2f"
           " connects=%" PRIu64 " disconnects=%" PRIu64 " reconnect_ms=%.0f restream_ms=%.0f"
           " connect_failures=%" PRIu64 " tls_failures=%" PRIu64 " errors=%" PRIu64
           " lost=%" PRIu64 " drained=%d lg_cpu_pct=%.1f lg_setup_rss_mib=%.1f lg_rss_mib=%.1f lg_hwm_mib=%.1f"
           " build_ns_per_event=%.0f\n",
           mode, o->agents, o->rate, o->batch, win_s, lg->welcomed_once,
           lg->t_connected ? ms_since(lg->t_start, lg->t_connected) : -1.0, lg->certgen_ms,
           lg->ctx_ms, lg->events_sent, lg->events_acked, lg->events_resent, lg->batches,
           win_s > 0 ? (double)lg->acked_at_send_end / win_s : 0,
           tot_s > 0 ? (double)lg->events_acked / tot_s : 0, hist_quantile_ms(&lg->ack, 0.50),
           hist_quantile_ms(&lg->ack, 0.99), (double)lg->ack.max / 1000.0, lg->heartbeats,
           hist_quantile_ms(&lg->hb, 0.50), hist_quantile_ms(&lg->hb, 0.99),
           (double)lg->hb.max / 1000.0, lg->connects, lg->disconnects, lg->reconnect_ms,
           lg->restream_ms, lg->connect_failures, lg->tls_failures, lg->errors, lg->lost,
           lg->t_drained != 0, wall_s > 0 ? 100.0 * cpu / wall_s : 0, lg->setup_rss_mib,
           (double)proc_status_kib("VmRSS") / 1024.0, (double)proc_status_kib("VmHWM") / 1024.0,
           lg->build_ns_per_event);
    fflush(stdout);
}

/* ------------------------------------------------------------------ setup */

/* Our own cost per event: stamp + frame_batch_add + finish, no TLS. */
static int lg_measure_build(struct loadgen *lg)
{
    const uint64_t n = 200000;
    uint64_t t0 = (uint64_t)clock_mono_ns(), seq = 1;
    uint32_t per = lg->o.batch < 1024 ? lg->o.batch : 1024;  /* fits one frame */
    int rc = 0;

    while (seq <= n && rc == 0) {
        for (uint32_t k = 0; k < per && seq <= n && rc == 0; k++, seq++) {
            size_t len;
            const uint8_t *t = evpool_get(&lg->pool[0], seq - 1, &len);
            rc = frame_batch_add(&lg->batch, lg->scratch, evpool_stamp(lg->scratch, seq, t, len));
        }
        buf_reset(&lg->plain);
        if (rc == 0)
            rc = frame_batch_finish(&lg->batch, 1, FRAME_DEFAULT_MAX * 2, &lg->plain);
    }
    lg->build_ns_per_event = (double)((uint64_t)clock_mono_ns() - t0) / (double)n;
    buf_reset(&lg->plain);
    return rc;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return false;
}

static int parse_u64(const char *name, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < lo || x > hi) {
        fprintf(stderr, "loadgen: --%s must be an integer in %" PRIu64 "..%" PRIu64 ", not '%s'\n",
                name, lo, hi, v);
        return BW_EINVAL;
    }
    *out = x;
    return 0;
}

static int parse_double(const char *name, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x;

    errno = 0;
    x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "loadgen: --%s must be a number in %g..%g, not '%s'\n", name, lo, hi, v);
        return BW_EINVAL;
    }
    *out = x;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bulwark-loadgen --server 127.0.0.1:PORT --certs DIR [options]\n"
            "  --certs DIR           ca.pem and ca.key (deploy/gen-certs.sh DIR)\n"
            "  --agents N            agent streams, each its own identity (1)\n"
            "  --rate R              events/s per agent, 0 = full speed (0)\n"
            "  --duration S          seconds of sending after all connect (10)\n"
            "  --events N            events per agent, 0 = no limit (0)\n"
            "  --batch B             events per batch, capped by Welcome (1024)\n"
            "  --heartbeat-only      idle streams sending Heartbeat every --hb-ms\n"
            "  --hb-ms MS            heartbeat interval, 0 = the server's (0)\n"
            "  --connect-storm       all connect at once (no --max-pending cap)\n"
            "  --max-pending N       connects and handshakes in progress at once (256)\n"
            "  --tick-ms MS          rate pacing tick per stream (100)\n"
            "  --connect-timeout S   go on with whoever connected after S (120)\n"
            "  --drain-timeout S     wait for acks after sending (60)\n"
            "  --max-runtime S       hard stop (900)\n"
            "  --reconnect-min-ms MS / --reconnect-max-ms MS   backoff (100 / 5000)\n"
            "  --prefix P            agent ids P-0 .. P-(N-1) (loadgen)\n"
            "  --pools K             distinct event pools (seeds) (8)\n"
            "  --server-name NAME    name the server certificate must carry (127.0.0.1)\n"
            "  --workdir DIR         where certificates go (a temp dir, removed)\n"
            "  --keep-workdir        keep the certificates\n"
            "  --acked-out FILE      per agent: 'id epoch acked max_sent'\n"
            "  --progress S          progress line on stderr every S s (0 = off)\n"
            "Prints one line of key=value on stdout. Exit 1 if events were lost, the drain\n"
            "did not finish or not every agent connected; 2 on bad usage.\n");
}

static int lg_parse(struct options *o, int argc, char **argv)
{
    enum { O_SERVER = 256, O_CERTS, O_AGENTS, O_RATE, O_DURATION, O_EVENTS, O_BATCH, O_HBONLY,
           O_HBMS, O_STORM, O_PENDING, O_TICK, O_CTIMEOUT, O_DTIMEOUT, O_RUNTIME, O_RMIN, O_RMAX,
           O_PREFIX, O_POOLS, O_SNAME, O_WORKDIR, O_KEEP, O_ACKED, O_PROGRESS, O_HELP };
    static const struct option lo[] = {
        {"server", required_argument, NULL, O_SERVER}, {"certs", required_argument, NULL, O_CERTS},
        {"agents", required_argument, NULL, O_AGENTS}, {"rate", required_argument, NULL, O_RATE},
        {"duration", required_argument, NULL, O_DURATION},
        {"events", required_argument, NULL, O_EVENTS}, {"batch", required_argument, NULL, O_BATCH},
        {"heartbeat-only", no_argument, NULL, O_HBONLY}, {"hb-ms", required_argument, NULL, O_HBMS},
        {"connect-storm", no_argument, NULL, O_STORM},
        {"max-pending", required_argument, NULL, O_PENDING},
        {"tick-ms", required_argument, NULL, O_TICK},
        {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
        {"drain-timeout", required_argument, NULL, O_DTIMEOUT},
        {"max-runtime", required_argument, NULL, O_RUNTIME},
        {"reconnect-min-ms", required_argument, NULL, O_RMIN},
        {"reconnect-max-ms", required_argument, NULL, O_RMAX},
        {"prefix", required_argument, NULL, O_PREFIX}, {"pools", required_argument, NULL, O_POOLS},
        {"server-name", required_argument, NULL, O_SNAME},
        {"workdir", required_argument, NULL, O_WORKDIR},
        {"keep-workdir", no_argument, NULL, O_KEEP},
        {"acked-out", required_argument, NULL, O_ACKED},
        {"progress", required_argument, NULL, O_PROGRESS}, {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    uint64_t u;
    int c, rc = 0;

    *o = (struct options){.server_name = "127.0.0.1", .prefix = "loadgen", .agents = 1,
                          .duration_s = 10, .batch = 1024, .max_pending = 256, .tick_ms = 100,
                          .connect_timeout_s = 120, .drain_timeout_s = 60, .max_runtime_s = 900,
                          .reconnect_min_ms = 100, .reconnect_max_ms = 5000, .pools = 8};
    while (rc == 0 && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_SERVER: o->server = optarg; break;
        case O_CERTS: o->certs = optarg; break;
        case O_AGENTS:
            if ((rc = parse_u64("agents", optarg, 1, LG_AGENTS_MAX, &u)) == 0)
                o->agents = (uint32_t)u;
            break;
        case O_RATE: rc = parse_double("rate", optarg, 0, 1e7, &o->rate); break;
        case O_DURATION: rc = parse_double("duration", optarg, 0, 86400, &o->duration_s); break;
        case O_EVENTS: rc = parse_u64("events", optarg, 0, UINT64_MAX / 2, &o->events); break;
        case O_BATCH:
            if ((rc = parse_u64("batch", optarg, 1, 65536, &u)) == 0)
                o->batch = (uint32_t)u;
            break;
        case O_HBONLY: o->heartbeat_only = true; break;
        case O_HBMS:
            if ((rc = parse_u64("hb-ms", optarg, 0, 3600000, &u)) == 0)
                o->hb_ms = (uint32_t)u;
            break;
        case O_STORM: o->connect_storm = true; break;
        case O_PENDING:
            if ((rc = parse_u64("max-pending", optarg, 1, LG_AGENTS_MAX, &u)) == 0)
                o->max_pending = (uint32_t)u;
            break;
        case O_TICK:
            if ((rc = parse_u64("tick-ms", optarg, 1, 60000, &u)) == 0)
                o->tick_ms = (uint32_t)u;
            break;
        case O_CTIMEOUT:
            rc = parse_double("connect-timeout", optarg, 0, 86400, &o->connect_timeout_s);
            break;
        case O_DTIMEOUT:
            rc = parse_double("drain-timeout", optarg, 0, 86400, &o->drain_timeout_s);
            break;
        case O_RUNTIME: rc = parse_double("max-runtime", optarg, 1, 86400, &o->max_runtime_s); break;
        case O_RMIN:
            if ((rc = parse_u64("reconnect-min-ms", optarg, 2, 600000, &u)) == 0)
                o->reconnect_min_ms = (uint32_t)u;
            break;
        case O_RMAX:
            if ((rc = parse_u64("reconnect-max-ms", optarg, 2, 600000, &u)) == 0)
                o->reconnect_max_ms = (uint32_t)u;
            break;
        case O_PREFIX: o->prefix = optarg; break;
        case O_POOLS:
            if ((rc = parse_u64("pools", optarg, 1, 1024, &u)) == 0)
                o->pools = (uint32_t)u;
            break;
        case O_SNAME: o->server_name = optarg; break;
        case O_WORKDIR: o->workdir = optarg; break;
        case O_KEEP: o->keep_workdir = true; break;
        case O_ACKED: o->acked_out = optarg; break;
        case O_PROGRESS: rc = parse_double("progress", optarg, 0, 3600, &o->progress_s); break;
        case O_HELP: usage(stdout); exit(0);
        default: rc = BW_EINVAL; break;
        }
    }
    if (rc == 0 && (optind < argc || !o->server || !o->certs)) {
        usage(stderr);
        rc = BW_EINVAL;
    }
    if (rc == 0 && strlen(o->prefix) > 24) {
        fprintf(stderr, "loadgen: --prefix is limited to 24 characters\n");
        rc = BW_EINVAL;
    }
    if (rc == 0 && o->reconnect_max_ms < o->reconnect_min_ms)
        o->reconnect_max_ms = o->reconnect_min_ms;
    if (rc == 0 && o->duration_s <= 0 && (o->events == 0 || o->heartbeat_only)) {
        fprintf(stderr, "loadgen: give --duration (or --events without --heartbeat-only)\n");
        rc = BW_EINVAL;
    }
    return rc;
}

static int lg_setup(struct loadgen *lg)
{
    char host[64];

    if (net_addr_parse(lg->o.server, &lg->addr) < 0 || !addr_is_loopback(&lg->addr)) {
        fprintf(stderr, "loadgen: --server '%s' must be a loopback address:port\n", lg->o.server);
        return BW_EINVAL;
    }
    if (getrandom(&lg->rng, sizeof lg->rng, 0) != sizeof lg->rng || lg->rng == 0)
        lg->rng = (uint64_t)clock_wall_ns() | 1;
    if (lg->o.workdir) {
        snprintf(lg->dir, sizeof lg->dir, "%s", lg->o.workdir);
        if (mkdir(lg->dir, 0700) < 0 && errno != EEXIST) {
            fprintf(stderr, "loadgen: cannot create '%s': %s\n", lg->dir, strerror(errno));
            return BW_EIO;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(lg->dir, sizeof lg->dir, "%s/loadgen.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(lg->dir)) {
            fprintf(stderr, "loadgen: cannot create a temp dir: %s\n", strerror(errno));
            lg->dir[0] = '\0';
            return BW_EIO;
        }
    }
    if (certs_make(lg) < 0)
        return BW_EIO;
    lg->pool = calloc(lg->o.pools, sizeof *lg->pool);
    lg->s = calloc(lg->o.agents, sizeof *lg->s);
    lg->queue = calloc(lg->o.agents, sizeof *lg->queue);
    if (!lg->pool || !lg->s || !lg->queue)
        return BW_ENOMEM;
    for (uint32_t p = 0; p < lg->o.pools; p++) {
        snprintf(host, sizeof host, "node-%" PRIu32, p + 1);
        if (evpool_init(&lg->pool[p], LG_POOL_EVENTS, p + 1, host, false) < 0) {
            fprintf(stderr, "loadgen: cannot make the event pool\n");
            return BW_ENOMEM;
        }
    }
    if (ctxs_make(lg) < 0)
        return BW_ETLS;
    lg->setup_rss_mib = (double)proc_status_kib("VmRSS") / 1024.0;
    frame_batch_init(&lg->batch, FRAME_DEFAULT_MAX);
    buf_init(&lg->plain, FRAME_DEFAULT_MAX * 2 + 1024);
    return lg_measure_build(lg);
}

int main(int argc, char **argv)
{
    struct loadgen *lg = calloc(1, sizeof *lg);
    uv_loop_t loop;
    int rc = 2;

    if (!lg || lg_parse(&lg->o, argc, argv) < 0)
        goto out;
    rc = 1;
    /* a write to a stream the server reset (kill -9) must fail, not kill us */
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&loop) < 0)
        goto out;
    lg->loop = &loop;
    loop.data = lg;
    if (lg_setup(lg) < 0)
        goto out_loop;

    uv_timer_init(&loop, &lg->control);
    lg->control.data = lg;
    uv_signal_init(&loop, &lg->sigint);
    uv_signal_init(&loop, &lg->sigterm);
    lg->sigint.data = lg->sigterm.data = lg;
    uv_signal_start(&lg->sigint, on_signal, SIGINT);
    uv_signal_start(&lg->sigterm, on_signal, SIGTERM);
    lg->handles = 3;
    lg->t_start = (uint64_t)clock_mono_ns();
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        struct stream *s = &lg->s[i];

        s->lg = lg;
        s->idx = i;
        if (getrandom(&s->epoch, sizeof s->epoch, 0) != sizeof s->epoch)
            s->epoch = lg_rand(lg);
        s->epoch &= INT64_MAX;
        if (s->epoch == 0)
            s->epoch = 1;
        s->backoff_ms = lg->o.reconnect_min_ms;
        frame_reader_init(&s->reader, FRAME_DEFAULT_MAX);
        uv_timer_init(&loop, &s->timer);
        s->timer.data = s;
        lg->handles++;
    }
    for (uint32_t i = 0; i < lg->o.agents; i++)
        stream_connect(&lg->s[i]);
    uv_timer_start(&lg->control, on_control, 100, 100);
    uv_run(&loop, UV_RUN_DEFAULT);

    lg_summary(lg);
    rc = lg_write_acked(lg) < 0 || lg->lost > 0 || !lg->t_drained ||
                 lg->welcomed_once < lg->o.agents
             ? 1
             : 0;
out_loop:
    if (lg->s) {
        for (uint32_t i = 0; i < lg->o.agents; i++) {
            tls_conn_free(lg->s[i].tls);
            tls_ctx_free(lg->s[i].ctx);
            frame_reader_release(&lg->s[i].reader);
            free(lg->s[i].ring);
        }
    }
    if (lg->pool)
        for (uint32_t p = 0; p < lg->o.pools; p++)
            evpool_release(&lg->pool[p]);
    frame_batch_release(&lg->batch);
    buf_release(&lg->plain);
    certs_remove(lg);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "loadgen: handles left open at exit\n");
out:
    if (lg) {
        free(lg->s);
        free(lg->queue);
        free(lg->pool);
    }
    free(lg);
    return rc;
}
