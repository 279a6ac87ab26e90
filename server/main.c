/* main.c - bulwarkd: argv and config, signals, the loop; nothing else.
 *
 * SIGTERM/SIGINT: stop accepting, commit and ack what was received, close
 * the streams, exit 0. SIGHUP: reload the TLS files (new connections use
 * them) and the log level. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/conn.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/hunt.h"
#include "bulwark/log.h"
#include "bulwark/rules.h"
#include "bulwark/rulestage.h"
#include "bulwark/server.h"
#include "bulwark/store.h"
#include "bulwark/tls.h"
#include "bulwark/writer.h"

#define DRAIN_DEADLINE_MS 4000u

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bulwarkd [--config FILE] [--KEY=VALUE ...]\n"
            "       bulwarkd rules check FILE...\n"
            "       bulwarkd rules test DIR [--rules FILE...]\n"
            "       bulwarkd rules hunt FILE... --since DURATION [--db PATH]\n"
            "\n"
            "Bulwark server: takes mutually authenticated TLS event streams from\n"
            "bulwark-agent, stores them in SQLite and acknowledges only what is\n"
            "committed. Options (also as 'key = value' lines in the config file):\n\n");
    config_print_help(server_config_table, server_config_table_len, out);
}

static void server_finish(struct server *srv);

static void on_state_saved(struct writer_item *it, void *owner)
{
    if (it->rc < 0)
        log_msg(LOG_WARN, "rules", "detector state not saved: %s", bw_strerror(it->rc));
    writer_item_free(it);
    (void)owner;
}

/* Each connection is a descriptor: raise the soft limit towards what
 * max_connections needs (the hard limit is the ceiling), and say so when the
 * hard limit is too low instead of failing accepts later. */
static void server_raise_nofile(const struct server_config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->max_connections + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        log_msg(LOG_WARN, "server",
                "open-file limit %llu is below max_connections %u + 64; raise it (LimitNOFILE=)",
                (unsigned long long)rl.rlim_cur, cfg->max_connections);
}

/* Queues the detector state for the writer (stored in its own transaction
 * slot, behind the batches before it). */
static void server_save_state(struct server *srv)
{
    struct writer_item *it;

    if (!srv->rules || !srv->writer)
        return;
    it = calloc(1, sizeof *it);
    if (!it)
        return;
    it->type = WRITER_STATE;
    it->agent_id = strdup(RULESTAGE_STATE_KEY);
    buf_init(&it->state, 64u * 1024 * 1024);
    it->done = on_state_saved;
    it->owner = srv;
    if (!it->agent_id || rulestage_save(srv->rules, &it->state) < 0) {
        log_msg(LOG_WARN, "rules", "cannot serialise detector state");
        writer_item_free(it);
        return;
    }
    writer_submit(srv->writer, it);
}

static void on_state_timer(uv_timer_t *t)
{
    server_save_state(t->data);
}

static void on_writer_room(void *ctx)
{
    conn_resume_blocked(ctx);
}

static void on_writer_idle(void *ctx)
{
    struct server *srv = ctx;
    if (srv->draining && !srv->blocked)
        server_finish(srv);
}

static void on_writer_closed(void *ctx)
{
    (void)ctx;
}

static void on_drain_deadline(uv_timer_t *t)
{
    struct server *srv = t->data;
    log_msg(LOG_WARN, "server", "drain deadline passed; closing remaining streams");
    server_finish(srv);
}

/* The writer has committed everything received and the acks are queued:
 * close the streams and the writer; the loop then runs out of handles. */
static void server_finish(struct server *srv)
{
    struct writer_stats ws;

    if (!srv->writer || srv->finished)
        return;
    srv->finished = true;
    conn_close_all(srv);
    uv_timer_stop(&srv->drain_timer);
    uv_close((uv_handle_t *)&srv->drain_timer, NULL);
    uv_close((uv_handle_t *)&srv->yield_idle, NULL);
    uv_close((uv_handle_t *)&srv->state_timer, NULL);
    uv_close((uv_handle_t *)&srv->sig_term, NULL);
    uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_close((uv_handle_t *)&srv->sig_hup, NULL);
    writer_set_idle_cb(srv->writer, NULL, NULL);
    writer_set_room_cb(srv->writer, NULL, NULL);
    writer_stop(srv->writer, on_writer_closed, srv);
    writer_get_stats(srv->writer, &ws);
    log_msg(LOG_INFO, "server",
            "stopped: %llu connections, %llu events stored, %llu duplicates skipped, "
            "%llu refused (tls %llu, auth %llu, protocol %llu)",
            (unsigned long long)srv->stats.accepted, (unsigned long long)ws.events_stored,
            (unsigned long long)ws.events_duplicate,
            (unsigned long long)(srv->stats.handshake_failed + srv->stats.auth_refused +
                                 srv->stats.protocol_errors),
            (unsigned long long)srv->stats.handshake_failed,
            (unsigned long long)srv->stats.auth_refused,
            (unsigned long long)srv->stats.protocol_errors);
    srv->exit_code = ws.commit_failures ? 1 : 0;
}

static void on_sigterm(uv_signal_t *h, int signum)
{
    struct server *srv = h->data;

    if (srv->draining)
        return;
    log_msg(LOG_INFO, "server", "%s: draining", signum == SIGINT ? "SIGINT" : "SIGTERM");
    srv->draining = true;
    listener_stop(srv);
    uv_update_time(srv->loop);  /* the loop time may be a busy pass old */
    uv_timer_start(&srv->drain_timer, on_drain_deadline, DRAIN_DEADLINE_MS, 0);
    conn_drain_all(srv);
    uv_timer_stop(&srv->state_timer);
    server_save_state(srv);  /* behind the drained batches, so it covers them */
    if (writer_pending(srv->writer) == 0 && !srv->blocked)
        server_finish(srv);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    struct server *srv = h->data;
    char err[512];
    struct tls_ctx *t = tls_ctx_new(TLS_ROLE_SERVER, srv->cfg->tls_ca, srv->cfg->tls_cert,
                                    srv->cfg->tls_key, err, sizeof err);
    (void)signum;
    if (srv->rules)  /* compiles beside the loop, swaps on it; logs the outcome */
        rulestage_reload_start(srv->rules, h->loop, NULL, NULL);
    if (!t) {
        log_msg(LOG_ERROR, "server", "SIGHUP: keeping the old TLS files: %s", err);
        return;
    }
    tls_ctx_free(srv->tls);  /* live connections hold their own reference */
    srv->tls = t;
    log_msg(LOG_INFO, "server", "SIGHUP: reloaded TLS certificate, key and CA");
}

/* `bulwarkd rules check|test|hunt ...` */
static int server_rules_cli(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "hunt") == 0)
        return hunt_main(argc - 1, argv + 1);
    return rules_cli_main(argc, argv);
}

/* Loads the rules (none when cfg->rules is empty, or is the default
 * directory and that is not installed) and restores the detector state the
 * last run saved. The writer is not running yet: the store is ours. */
static int server_open_rules(struct server *srv, struct store *store)
{
    const struct server_config *cfg = srv->cfg;
    struct stat st;
    struct buf blob;
    int rc;

    if (!*cfg->rules)
        return 0;
    if (strcmp(cfg->rules, BULWARK_RULES_DIR) == 0 && stat(cfg->rules, &st) != 0) {
        log_msg(LOG_WARN, "rules", "no rules at %s; running without rules (see --rules)",
                cfg->rules);
        return 0;
    }
    if (rulestage_open(&srv->rules, cfg->rules) < 0)
        return BW_ECONFIG;
    buf_init(&blob, 64u * 1024 * 1024);
    rc = store_state_get(store, RULESTAGE_STATE_KEY, &blob);
    if (rc == 0 && rulestage_restore(srv->rules, buf_head(&blob), buf_size(&blob)) == 0)
        log_msg(LOG_INFO, "rules", "restored detector state (%zu bytes)", buf_size(&blob));
    else if (rc == 0)
        log_msg(LOG_WARN, "rules", "saved detector state is unreadable; starting fresh");
    buf_release(&blob);
    return 0;
}

int main(int argc, char **argv)
{
    struct server_config cfg;
    struct server *srv = NULL;
    struct store *store = NULL;
    struct store_options so = {0};
    char err[512];
    bool help;
    char *pos[1];
    int npos, rc = 1;
    enum log_level lvl = LOG_INFO;
    uv_loop_t loop;

    if (argc >= 2 && strcmp(argv[1], "rules") == 0)
        return server_rules_cli(argc - 1, argv + 1);
    memset(&cfg, 0, sizeof cfg);
    signal(SIGPIPE, SIG_IGN);
    config_defaults(server_config_table, server_config_table_len, &cfg);
    if (config_parse_args(server_config_table, server_config_table_len, &cfg, argc, argv, &help,
                          pos, &npos, 0, err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd: %s\n", err);
        goto out_cfg;
    }
    if (help) {
        usage(stdout);
        rc = 0;
        goto out_cfg;
    }
    if (server_config_check(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd: %s\n", err);
        goto out_cfg;
    }
    log_level_parse(cfg.log_level, &lvl);
    log_set_level(lvl);
    server_raise_nofile(&cfg);

    srv = calloc(1, sizeof *srv);
    if (!srv)
        goto out_cfg;
    srv->cfg = &cfg;
    buf_init(&srv->sendbuf, (size_t)cfg.max_frame + FRAME_HEADER_SIZE);
    uv_loop_init(&loop);
    srv->loop = &loop;
    srv->tls = tls_ctx_new(TLS_ROLE_SERVER, cfg.tls_ca, cfg.tls_cert, cfg.tls_key, err, sizeof err);
    if (!srv->tls) {
        log_msg(LOG_ERROR, "server", "tls: %s", err);
        goto out_loop;
    }
    so.path = cfg.db;
    so.sync_full = strcmp(cfg.sync, "full") == 0;
    if (store_open(&store, &so, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "server", "store: %s", err);
        goto out_loop;
    }
    log_msg(LOG_INFO, "server", "bulwarkd %s, database %s (synchronous=%s)", BULWARK_VERSION,
            cfg.db, cfg.sync);
    if (server_open_rules(srv, store) < 0) {
        store_close(store);
        goto out_loop;
    }
    if (writer_start(&srv->writer, &loop, store, cfg.queue_events) < 0) {
        writer_stop(srv->writer, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        writer_free(srv->writer);
        goto out_loop;
    }
    writer_set_room_cb(srv->writer, on_writer_room, srv);
    writer_set_idle_cb(srv->writer, on_writer_idle, srv);
    writer_set_alert_suppression(srv->writer, (int64_t)cfg.alert_suppression_ms * 1000000);
    uv_timer_init(&loop, &srv->state_timer);
    srv->state_timer.data = srv;
    if (srv->rules)
        uv_timer_start(&srv->state_timer, on_state_timer, cfg.state_save_interval_ms,
                       cfg.state_save_interval_ms);

    uv_idle_init(&loop, &srv->yield_idle);
    srv->yield_idle.data = srv;
    uv_timer_init(&loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    uv_signal_init(&loop, &srv->sig_term);
    uv_signal_init(&loop, &srv->sig_int);
    uv_signal_init(&loop, &srv->sig_hup);
    srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
    uv_signal_start(&srv->sig_term, on_sigterm, SIGTERM);
    uv_signal_start(&srv->sig_int, on_sigterm, SIGINT);
    uv_signal_start(&srv->sig_hup, on_sighup, SIGHUP);

    if (listener_start(srv) < 0) {
        srv->draining = true;
        server_finish(srv);
        uv_run(&loop, UV_RUN_DEFAULT);
        writer_free(srv->writer);
        goto out_loop;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    writer_free(srv->writer);
    rc = srv->exit_code;
    log_msg(LOG_INFO, "server", "exit %d", rc);
out_loop:
    rulestage_free(srv->rules);
    if (uv_loop_close(&loop) != 0)
        log_msg(LOG_WARN, "server", "loop closed with live handles");
    tls_ctx_free(srv->tls);
    buf_release(&srv->sendbuf);
    free(srv);
out_cfg:
    config_release(server_config_table, server_config_table_len, &cfg);
    return rc;
}
