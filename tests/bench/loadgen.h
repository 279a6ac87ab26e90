/* loadgen.h - internal header of the load generator (bulwark-loadgen; see
 * loadgen.c and docs/performance.md). Benchmark code, not a library: the
 * state every part shares and the few functions that cross files.
 *
 *   loadgen.c         options, setup, the phases of a run, main
 *   loadgen_certs.c   the N identities and the one client tls_ctx
 *   loadgen_stream.c  one stream's state machine (connect .. close, retry)
 *   loadgen_report.c  latency histograms, the summary line, --acked-out */
#ifndef BULWARK_BENCH_LOADGEN_H
#define BULWARK_BENCH_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <uv.h>

#include "bulwark/buf.h"
#include "bulwark/frame.h"
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

/* Log-linear: 16 linear buckets per power of two (about 6% resolution),
 * values in microseconds; the maximum is kept exactly. */
struct hist {
    uint64_t n, max;
    uint64_t c[LG_HIST_BUCKETS];
};

enum phase { PH_CONNECT, PH_SEND, PH_DRAIN, PH_CLOSE };
enum st { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_HELLO, ST_STREAMING, ST_CLOSING };

struct options {
    const char *server;
    const char *certs;          /* directory with ca.pem and ca.key */
    const char *server_name;
    const char *prefix;
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

    struct tls_ctx *ctx;        /* one client context for every identity */
    struct tls_identity **ids;  /* ids[i]: CN=<prefix>-<i> */
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

static inline double ms_since(uint64_t t0, uint64_t t1)
{
    return t1 > t0 ? (double)(t1 - t0) / 1e6 : 0;
}

/* loadgen.c */
uint64_t lg_rand(struct loadgen *lg);
void stream_id(const struct loadgen *lg, uint32_t i, char *out, size_t len);
/* Counts an error of stream s; the first LG_ERRORS_SHOWN go to stderr. */
void lg_error(struct loadgen *lg, const struct stream *s, const char *what);

/* loadgen_certs.c: lg->ctx and lg->ids from --certs (sets certgen_ms and
 * ctx_ms); 0 or a negative enum bw_err after saying why on stderr. */
int lg_identities_make(struct loadgen *lg);
void lg_identities_free(struct loadgen *lg);

/* loadgen_stream.c */
void stream_init(struct stream *s, struct loadgen *lg, uint32_t idx);
void stream_release(struct stream *s);
/* Connects now, or queues for a connect slot (--max-pending). */
void stream_connect(struct stream *s);
/* Sends what the window, the write queue and the events due allow. */
void stream_pump(struct stream *s);
/* End of the run: close_notify if streaming, then closes its handles. */
void stream_stop(struct stream *s);

/* loadgen_report.c */
void hist_add(struct hist *h, uint64_t v);
/* A line of /proc/self/status in KiB ("VmRSS"), -1 if unknown. */
long proc_status_kib(const char *key);
int lg_write_acked(const struct loadgen *lg);
void lg_summary(const struct loadgen *lg);

#endif
