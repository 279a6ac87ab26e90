/* main.c - bulwark-agent: argv and config, the source -> spool -> shipper
 * pipeline on one libuv loop, signals. Also `spool-stats`.
 *
 * The produce timer moves events from the source into the spool (one
 * transaction per tick), then kicks the shipper. With exit_when_drained the
 * agent exits 0 once the source is done and the server acked everything. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/config.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"
#include "bulwark/net.h"
#include "bulwark/shipper.h"
#include "bulwark/source.h"
#include "bulwark/spool.h"
#include "bulwark/tls.h"

#define PRODUCE_TICK_MS 10u
#define PRODUCE_CHUNK 1024u
#define PRODUCE_TICK_BUDGET_NS 8000000  /* spend at most ~8 ms of a tick producing */
#define PRODUCE_AHEAD_MAX 200000u       /* at full speed, stay this close to the acks */

struct agent_config {
    char *server;
    char *server_name;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    char *agent_id;
    char *hostname;
    char *spool;
    uint64_t spool_max_events;
    uint64_t spool_max_bytes;
    char *spool_sync;
    char *source;
    double synthetic_rate;
    uint64_t synthetic_count;
    uint64_t synthetic_seed;
    char *replay_file;
    uint32_t batch_events;
    uint32_t max_frame;
    bool exit_when_drained;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    char *label_cloud;
    char *label_region;
    char *label_environment;
    char *label_tenant;
    char *log_level;
};

#define F(k, t, m, d, h, lo, hi) {k, t, offsetof(struct agent_config, m), d, h, lo, hi}
static const struct config_field agent_table[] = {
    F("server", CONFIG_STRING, server, "127.0.0.1:7443", "bulwarkd address, host:port", 0, 0),
    F("server_name", CONFIG_STRING, server_name, NULL,
      "name the server certificate must carry (default: the host of 'server')", 0, 0),
    F("tls_ca", CONFIG_STRING, tls_ca, NULL, "CA that signed the server certificate", 0, 0),
    F("tls_cert", CONFIG_STRING, tls_cert, NULL, "this agent's certificate (CN = agent id)", 0, 0),
    F("tls_key", CONFIG_STRING, tls_key, NULL, "this agent's private key", 0, 0),
    F("agent_id", CONFIG_STRING, agent_id, NULL, "agent id (default: the CN of tls_cert)", 0, 0),
    F("hostname", CONFIG_STRING, hostname, NULL, "host name reported (default: gethostname)", 0,
      0),
    F("spool", CONFIG_STRING, spool, "agent-spool.db", "durable spool file (SQLite)", 0, 0),
    F("spool_max_events", CONFIG_U64, spool_max_events, "1000000",
      "spool bound in events; when full new events are refused and counted", 1, 0),
    F("spool_max_bytes", CONFIG_U64, spool_max_bytes, "536870912", "spool bound in bytes", 65536,
      0),
    F("spool_sync", CONFIG_STRING, spool_sync, "full", "full or normal (SQLite synchronous)", 0,
      0),
    F("source", CONFIG_STRING, source, "synthetic", "synthetic, replay or none", 0, 0),
    F("synthetic_rate", CONFIG_DOUBLE, synthetic_rate, "1000",
      "synthetic events per second (0 = as fast as possible)", 0, 0),
    F("synthetic_count", CONFIG_U64, synthetic_count, "0",
      "total events the spool should ever hold (0 = unlimited); a restart continues", 0, 0),
    F("synthetic_seed", CONFIG_U64, synthetic_seed, "0", "synthetic PRNG seed (0 = random)", 0,
      0),
    F("replay_file", CONFIG_STRING, replay_file, NULL,
      "newline-delimited JSON events for source=replay", 0, 0),
    F("batch_events", CONFIG_U32, batch_events, "1024", "most events per batch", 1, 65536),
    F("max_frame", CONFIG_U32, max_frame, "1048576", "largest frame, bytes", 4096,
      64u * 1024 * 1024),
    F("exit_when_drained", CONFIG_BOOL, exit_when_drained, "false",
      "exit 0 once the source is done and every event is acked", 0, 0),
    F("reconnect_min_ms", CONFIG_U32, reconnect_min_ms, "100", "first reconnect delay", 10,
      600000),
    F("reconnect_max_ms", CONFIG_U32, reconnect_max_ms, "30000", "longest reconnect delay", 10,
      3600000),
    F("label_cloud", CONFIG_STRING, label_cloud, NULL, "label: cloud (aws, gcp, azure, ...)", 0,
      0),
    F("label_region", CONFIG_STRING, label_region, NULL, "label: region", 0, 0),
    F("label_environment", CONFIG_STRING, label_environment, NULL, "label: environment", 0, 0),
    F("label_tenant", CONFIG_STRING, label_tenant, NULL, "label: tenant", 0, 0),
    F("log_level", CONFIG_STRING, log_level, "info", "debug, info, warn or error", 0, 0),
};
#define AGENT_TABLE_LEN (sizeof agent_table / sizeof agent_table[0])

struct agent {
    uv_loop_t loop;
    struct agent_config *cfg;
    struct spool *spool;
    struct source *source;
    struct tls_ctx *tls;
    struct shipper *shipper;
    uv_timer_t produce_timer;
    uv_signal_t sig_term, sig_int;
    bool source_done;
    bool stopping;
    int exit_code;
    uint64_t source_errors;
    char agent_id[128];
    char hostname[256];
    char server_name[256];
};

static int64_t agent_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t agent_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void agent_stop(struct agent *a, int code);

static void agent_check_drained(struct agent *a)
{
    struct spool_stats st;
    struct shipper_stats sh;

    if (!a->cfg->exit_when_drained || !a->source_done || a->stopping)
        return;
    spool_get_stats(a->spool, &st);
    if (st.depth > 0)
        return;
    shipper_get_stats(a->shipper, &sh);
    log_msg(LOG_INFO, "agent", "drained: %llu events acked, ack latency p50 %.2f ms p99 %.2f ms",
            (unsigned long long)st.acked_seq, sh.ack_p50_ms, sh.ack_p99_ms);
    agent_stop(a, 0);
}

static void on_acked(void *ctx)
{
    agent_check_drained(ctx);
}

/* Moves due events from the source into the spool; one transaction a chunk. */
static void on_produce(uv_timer_t *t)
{
    struct agent *a = t->data;
    Bulwark__V1__Event *evs[PRODUCE_CHUNK];
    int64_t start = agent_mono_ns();
    bool produced = false;

    while (!a->source_done && !a->stopping) {
        struct spool_stats st;
        size_t max = PRODUCE_CHUNK, accepted = 0;
        bool done = false;
        int n, rc;

        spool_get_stats(a->spool, &st);
        if (a->cfg->synthetic_count && !strcmp(a->cfg->source, "synthetic")) {
            uint64_t have = st.last_seq + st.dropped;
            if (have >= a->cfg->synthetic_count) {
                a->source_done = true;
                break;
            }
            if (a->cfg->synthetic_count - have < max)
                max = (size_t)(a->cfg->synthetic_count - have);
        }
        if (st.depth >= PRODUCE_AHEAD_MAX)
            break;  /* let the shipper catch up; the source keeps its own pace */
        n = a->source->produce(a->source, agent_wall_ns(), evs, max, &done);
        if (n < 0) {
            a->source_errors++;
            log_msg(LOG_ERROR, "agent", "source %s failed: %s", a->source->name, bw_strerror(n));
            a->source_done = true;
            break;
        }
        if (n > 0) {
            rc = spool_append(a->spool, evs, (size_t)n, &accepted);
            for (int i = 0; i < n; i++)
                evjson_event_free(evs[i]);
            if (rc < 0) {
                log_msg(LOG_ERROR, "agent", "spool append failed: %s", bw_strerror(rc));
                agent_stop(a, 1);
                return;
            }
            produced = true;
        }
        if (done)
            a->source_done = true;
        if (n < (int)max || agent_mono_ns() - start > PRODUCE_TICK_BUDGET_NS)
            break;
    }
    if (produced)
        shipper_kick(a->shipper);
    if (a->source_done) {
        uv_timer_stop(&a->produce_timer);
        agent_check_drained(a);
    }
}

static void on_shipper_closed(void *ctx)
{
    (void)ctx;
}

static void agent_stop(struct agent *a, int code)
{
    if (a->stopping)
        return;
    a->stopping = true;
    a->exit_code = code;
    uv_timer_stop(&a->produce_timer);
    uv_close((uv_handle_t *)&a->produce_timer, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    shipper_stop(a->shipper, on_shipper_closed, a);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct agent *a = h->data;
    log_msg(LOG_INFO, "agent", "%s: stopping (spooled events stay for the next start)",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    agent_stop(a, 0);
}

static int spool_stats_main(const struct agent_config *cfg)
{
    struct spool *sp = NULL;
    struct spool_options so = {.path = cfg->spool, .sync_full = true};
    struct spool_stats st;
    char err[512];

    if (access(cfg->spool, F_OK) != 0) {
        fprintf(stderr, "bulwark-agent: no spool at '%s'\n", cfg->spool);
        return 1;
    }
    if (spool_open(&sp, &so, err, sizeof err) < 0) {
        fprintf(stderr, "bulwark-agent: %s\n", err);
        return 1;
    }
    spool_get_stats(sp, &st);
    printf("{\"epoch\":%llu,\"last_seq\":%llu,\"acked_seq\":%llu,\"depth\":%llu,"
           "\"bytes\":%llu,\"dropped\":%llu}\n",
           (unsigned long long)st.epoch, (unsigned long long)st.last_seq,
           (unsigned long long)st.acked_seq, (unsigned long long)st.depth,
           (unsigned long long)st.bytes, (unsigned long long)st.dropped);
    spool_close(sp);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bulwark-agent [--config FILE] [--KEY=VALUE ...]\n"
                 "       bulwark-agent spool-stats --spool FILE\n\n"
                 "Bulwark agent: spools this host's security events durably and ships\n"
                 "them to bulwarkd over mutually authenticated TLS. Options (also as\n"
                 "'key = value' lines in the config file):\n\n");
    config_print_help(agent_table, AGENT_TABLE_LEN, out);
}

/* Fills derived identity fields; 0 or BW_ECONFIG with a message printed. */
static int agent_resolve_identity(struct agent *a)
{
    const struct agent_config *cfg = a->cfg;
    char host[256];
    unsigned port;

    if (*cfg->agent_id) {
        snprintf(a->agent_id, sizeof a->agent_id, "%s", cfg->agent_id);
    } else if (tls_cert_file_cn(cfg->tls_cert, a->agent_id, sizeof a->agent_id) < 0) {
        fprintf(stderr, "bulwark-agent: cannot read a CN from '%s' (set agent_id)\n",
                cfg->tls_cert);
        return BW_ECONFIG;
    }
    if (*cfg->hostname)
        snprintf(a->hostname, sizeof a->hostname, "%s", cfg->hostname);
    else if (gethostname(a->hostname, sizeof a->hostname) != 0)
        snprintf(a->hostname, sizeof a->hostname, "unknown");
    a->hostname[sizeof a->hostname - 1] = '\0';
    if (net_split_host_port(cfg->server, host, sizeof host, &port) < 0 || port == 0) {
        fprintf(stderr, "bulwark-agent: 'server' must be host:port, not '%s'\n", cfg->server);
        return BW_ECONFIG;
    }
    snprintf(a->server_name, sizeof a->server_name, "%s", *cfg->server_name ? cfg->server_name
                                                                             : host);
    return 0;
}

static struct source *agent_make_source(const struct agent_config *cfg)
{
    char err[512];
    struct source *s = NULL;

    if (!strcmp(cfg->source, "synthetic")) {
        struct synthetic_options so = {.rate = cfg->synthetic_rate,
                                       .seed = cfg->synthetic_seed,
                                       .hostname = NULL,
                                       .scenario = "mixed"};
        s = source_synthetic_new(&so);
        if (!s)
            fprintf(stderr, "bulwark-agent: cannot start the synthetic source\n");
    } else if (!strcmp(cfg->source, "replay")) {
        if (!*cfg->replay_file) {
            fprintf(stderr, "bulwark-agent: source=replay needs replay_file\n");
            return NULL;
        }
        s = source_replay_new(cfg->replay_file, err, sizeof err);
        if (!s)
            fprintf(stderr, "bulwark-agent: %s\n", err);
    } else {
        fprintf(stderr, "bulwark-agent: unknown source '%s' (synthetic, replay, none)\n",
                cfg->source);
    }
    return s;
}

int main(int argc, char **argv)
{
    struct agent_config cfg;
    struct agent *a = NULL;
    struct spool_options so = {0};
    struct shipper_options sho = {0};
    char err[512];
    char *pos[1];
    int npos, rc = 1;
    bool help;
    enum log_level lvl = LOG_INFO;

    memset(&cfg, 0, sizeof cfg);
    signal(SIGPIPE, SIG_IGN);
    config_defaults(agent_table, AGENT_TABLE_LEN, &cfg);
    if (config_parse_args(agent_table, AGENT_TABLE_LEN, &cfg, argc, argv, &help, pos, &npos, 1,
                          err, sizeof err) < 0) {
        fprintf(stderr, "bulwark-agent: %s\n", err);
        goto out_cfg;
    }
    if (help) {
        usage(stdout);
        rc = 0;
        goto out_cfg;
    }
    if (npos == 1) {
        if (strcmp(pos[0], "spool-stats") != 0) {
            fprintf(stderr, "bulwark-agent: unknown command '%s' (see --help)\n", pos[0]);
            goto out_cfg;
        }
        rc = spool_stats_main(&cfg);
        goto out_cfg;
    }
    if (log_level_parse(cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "bulwark-agent: 'log_level' must be debug, info, warn or error\n");
        goto out_cfg;
    }
    log_set_level(lvl);
    if (!*cfg.tls_ca || !*cfg.tls_cert || !*cfg.tls_key) {
        fprintf(stderr, "bulwark-agent: tls_ca, tls_cert and tls_key are required\n");
        goto out_cfg;
    }
    if (strcmp(cfg.spool_sync, "full") != 0 && strcmp(cfg.spool_sync, "normal") != 0) {
        fprintf(stderr, "bulwark-agent: 'spool_sync' must be full or normal\n");
        goto out_cfg;
    }
    a = calloc(1, sizeof *a);
    if (!a)
        goto out_cfg;
    a->cfg = &cfg;
    if (agent_resolve_identity(a) < 0)
        goto out_agent;
    a->tls = tls_ctx_new(TLS_ROLE_CLIENT, cfg.tls_ca, cfg.tls_cert, cfg.tls_key, err, sizeof err);
    if (!a->tls) {
        fprintf(stderr, "bulwark-agent: tls: %s\n", err);
        goto out_agent;
    }
    so.path = cfg.spool;
    so.max_events = cfg.spool_max_events;
    so.max_bytes = cfg.spool_max_bytes;
    so.sync_full = strcmp(cfg.spool_sync, "full") == 0;
    if (spool_open(&a->spool, &so, err, sizeof err) < 0) {
        fprintf(stderr, "bulwark-agent: spool: %s\n", err);
        goto out_agent;
    }
    if (strcmp(cfg.source, "none") == 0) {
        a->source_done = true;
    } else if (!(a->source = agent_make_source(&cfg))) {
        goto out_agent;
    }

    uv_loop_init(&a->loop);
    sho.server = cfg.server;
    sho.server_name = a->server_name;
    sho.agent_id = a->agent_id;
    sho.hostname = a->hostname;
    sho.labels[0] = cfg.label_cloud;
    sho.labels[1] = cfg.label_region;
    sho.labels[2] = cfg.label_environment;
    sho.labels[3] = cfg.label_tenant;
    sho.batch_events = cfg.batch_events;
    sho.max_frame = cfg.max_frame;
    sho.reconnect_min_ms = cfg.reconnect_min_ms;
    sho.reconnect_max_ms = cfg.reconnect_max_ms > cfg.reconnect_min_ms ? cfg.reconnect_max_ms
                                                                       : cfg.reconnect_min_ms;
    if (shipper_new(&a->shipper, &a->loop, &sho, a->tls, a->spool, on_acked, a) < 0) {
        uv_loop_close(&a->loop);
        goto out_agent;
    }
    {
        struct spool_stats st;
        spool_get_stats(a->spool, &st);
        log_msg(LOG_INFO, "agent",
                "bulwark-agent %s as '%s' on %s, spool %s (epoch %llu, %llu events waiting), "
                "source %s, server %s",
                BULWARK_VERSION, a->agent_id, a->hostname, cfg.spool,
                (unsigned long long)st.epoch, (unsigned long long)st.depth, cfg.source,
                cfg.server);
    }
    uv_timer_init(&a->loop, &a->produce_timer);
    uv_signal_init(&a->loop, &a->sig_term);
    uv_signal_init(&a->loop, &a->sig_int);
    a->produce_timer.data = a->sig_term.data = a->sig_int.data = a;
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    if (!a->source_done)
        uv_timer_start(&a->produce_timer, on_produce, 0, PRODUCE_TICK_MS);
    shipper_start(a->shipper);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    shipper_free(a->shipper);
    if (uv_loop_close(&a->loop) != 0)
        log_msg(LOG_WARN, "agent", "loop closed with live handles");
    rc = a->exit_code;
out_agent:
    source_free(a->source);
    spool_close(a->spool);
    tls_ctx_free(a->tls);
    free(a);
out_cfg:
    config_release(agent_table, AGENT_TABLE_LEN, &cfg);
    return rc;
}
