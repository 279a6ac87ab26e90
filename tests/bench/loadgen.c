/* loadgen.c - the load generator of the performance harness (tests/bench,
 * not a test; docs/performance.md): N agent streams to bulwarkd from one
 * process and one libuv loop, each with its own identity. This file owns the
 * options, the setup and the phases of a run, and main; loadgen.h lists the
 * other parts (identities, one stream's state machine, the report).
 *
 * Identities: one EC P-256 key shared by all, and N certificates
 * (CN=<prefix>-<i>, clientAuth) signed in-process by the dev CA key that
 * deploy/gen-certs.sh made, kept in memory; one client tls_ctx serves them
 * all (tls_conn_use_identity). Their cost is reported: certgen_ms, ctx_ms,
 * lg_setup_rss_mib.
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
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/net.h"
#include "loadgen.h"

/* ---------------------------------------------------------------- helpers */

uint64_t lg_rand(struct loadgen *lg)
{
    /* xorshift64*: jitter only */
    lg->rng ^= lg->rng >> 12;
    lg->rng ^= lg->rng << 25;
    lg->rng ^= lg->rng >> 27;
    return lg->rng * 2685821657736338717ull;
}

void stream_id(const struct loadgen *lg, uint32_t i, char *out, size_t len)
{
    snprintf(out, len, "%s-%" PRIu32, lg->o.prefix, i);
}

void lg_error(struct loadgen *lg, const struct stream *s, const char *what)
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

/* ----------------------------------------------------------------- phases */

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
    for (uint32_t i = 0; i < lg->o.agents; i++)
        stream_stop(&lg->s[i]);
    uv_close((uv_handle_t *)&lg->control, on_handle_closed);
    uv_close((uv_handle_t *)&lg->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&lg->sigterm, on_handle_closed);
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
            "  --acked-out FILE      per agent: 'id epoch acked max_sent'\n"
            "  --progress S          progress line on stderr every S s (0 = off)\n"
            "Prints one line of key=value on stdout. Exit 1 if events were lost, the drain\n"
            "did not finish or not every agent connected; 2 on bad usage.\n");
}

static int lg_parse(struct options *o, int argc, char **argv)
{
    enum { O_SERVER = 256, O_CERTS, O_AGENTS, O_RATE, O_DURATION, O_EVENTS, O_BATCH, O_HBONLY,
           O_HBMS, O_STORM, O_PENDING, O_TICK, O_CTIMEOUT, O_DTIMEOUT, O_RUNTIME, O_RMIN, O_RMAX,
           O_PREFIX, O_POOLS, O_SNAME, O_ACKED, O_PROGRESS, O_HELP };
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
    if (lg_identities_make(lg) < 0)
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
    for (uint32_t i = 0; i < lg->o.agents; i++)
        stream_init(&lg->s[i], lg, i);
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
    if (lg->s)
        for (uint32_t i = 0; i < lg->o.agents; i++)
            stream_release(&lg->s[i]);
    lg_identities_free(lg);
    if (lg->pool)
        for (uint32_t p = 0; p < lg->o.pools; p++)
            evpool_release(&lg->pool[p]);
    frame_batch_release(&lg->batch);
    buf_release(&lg->plain);
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

