/* server.h - bulwarkd's configuration and the one struct server built in
 * main() and reached by callbacks through handle->data. */
#ifndef BULWARK_SERVER_H
#define BULWARK_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bulwark/buf.h"

#include "bulwark/config.h"
#include "bulwark/integrity.h"

/* The values of the enumerated options, in the order of their choices. */
enum server_api_tls { SERVER_API_TLS_AUTO = 0, SERVER_API_TLS_ON, SERVER_API_TLS_OFF };
/* "cef", "json", "ecs", "ocsf": forward_format indexes it, forward_json_format
 * indexes it from "json" (server_forward_format_names + 1). */
extern const char *const server_forward_format_names[];

struct server_config {
    char *listen;
    char *db;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    uint32_t max_connections;
    uint32_t max_frame;
    uint32_t handshake_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t heartbeat_interval_ms;
    uint32_t max_batch_events;
    uint32_t max_inflight_batches;
    uint64_t queue_events;
    int db_sync;               /* enum config_sync */
    bool integrity_check;          /* PRAGMA quick_check at start (docs/storage.md) */
    char *rules;
    uint32_t alert_suppression_ms;
    uint32_t state_save_interval_ms;
    int log_level;             /* enum log_level */
    /* the REST API (server/api/) */
    char *api_listen;
    int api_tls;               /* enum server_api_tls */
    uint32_t api_threads;
    uint32_t api_max_connections;
    uint32_t api_per_ip_connections;
    uint32_t api_timeout_s;
    uint32_t api_rate_per_min;
    uint32_t api_auth_failures_per_min;
    uint32_t api_body_max;
    char *api_cors_origin;
    char *web_root;
    /* enrollment and certificates (server/enroll.c) */
    char *enroll_listen;
    char *enroll_ca_cert;
    char *enroll_ca_key;
    char *cert_lifetime;           /* a duration; server_cert_lifetime_s() */
    uint32_t enroll_failures_per_min;
    uint32_t revocation_poll_ms;
    /* forwarding to SIEMs (server/api/forward.c) */
    char *forward_syslog;          /* host:port of an RFC 5425 (syslog over TLS) receiver */
    char *forward_syslog_ca;
    int forward_format;            /* syslog message: server_forward_format_names */
    char *forward_hec_url;         /* https://host:port[/path] of a Splunk HEC */
    char *forward_hec_token_file;
    char *forward_hec_ca;
    char *forward_webhook_url;     /* https://host:port/path, HMAC-SHA256 signed */
    char *forward_webhook_secret_file;
    char *forward_webhook_ca;
    int forward_json_format;    /* server_forward_format_names + 1 (no cef) */
    bool forward_events;           /* events too, not only alerts */
    uint32_t forward_poll_ms;
    uint32_t forward_retry_max_ms;
};

extern const struct config_field server_config_table[];
extern const size_t server_config_table_len;
/* Checks the filled config as a whole; reason in err. */
int server_config_check(const struct server_config *c, char *err, size_t errlen);
/* cert_lifetime in seconds, or BW_EINVAL when it is not 10s..825d. */
int64_t server_cert_lifetime_s(const struct server_config *c);

struct conn;
struct hostbind;
struct writer;
struct tls_ctx;
struct rulestage;
struct srvstate;
struct cmdq;
struct api;
struct forwarder;
struct reload_waiter;
struct enroll;

struct server_stats {
    uint64_t accepted, refused_limit, handshake_failed, auth_refused, protocol_errors;
    uint64_t batches, events_received;
    uint64_t output_paused;    /* a peer's unsent output passed its cap: reading stopped */
    uint64_t output_stalled;   /* ... and it never read it: closed */
    uint64_t prehello_waits;   /* a pre-Hello stream waited for the pre-Hello budget */
    uint64_t hostname_conflicts;  /* a Hello claimed a host name another agent holds */
    uint64_t enrolled, enroll_refused, renewed;  /* certificates issued / refused (enroll.c) */
};

struct server {
    uv_loop_t *loop;
    const struct server_config *cfg;
    struct tls_ctx *tls;
    struct writer *writer;
    struct rulestage *rules;   /* NULL when no rules are configured */
    uv_timer_t state_timer;    /* saves detector state periodically */
    uv_timer_t publish_timer;  /* copies counters into srvstate */
    struct srvstate *state;    /* what other threads may read (a published copy) */
    struct cmdq *cmdq;         /* how other threads ask the loop to act */
    struct api *api;           /* the REST API's daemon; NULL when off */
    struct forwarder *fwd;     /* push to SIEMs; NULL when no destination */
    struct enroll *enroll;     /* enrollment, renewal, revocations */
    struct tls_ctx *enroll_tls;  /* the enrollment listener's: no client certificate */
    uv_tcp_t enroll_listener;
    bool enroll_listening;
    int64_t started_ns;
    bool ready;                /* listening and not draining */
    bool cmdq_closed;
    /* rules reloads: one compiles at a time; waiters hear the outcome */
    bool reloading, reload_pending;
    struct reload_waiter *reload_running, *reload_queued;
    int reload_tls_rc;
    char reload_why[16];
    uv_tcp_t listener;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    struct conn *conns;        /* doubly linked list of live connections */
    uint32_t nconns;
    uint64_t streams;          /* connections accepted so far: numbers them */
    struct conn *blocked;      /* connections waiting for writer room */
    struct conn *yielded;      /* connections that used their turn, resumed next loop pass */
    uv_idle_t yield_idle;      /* runs while any connection yielded */
    size_t prehello_bytes;     /* buffers held by streams before their Hello */
    struct conn *prehello_wait;  /* pre-Hello streams waiting for that budget */
    struct hostbind *hostbind; /* host name -> agent id (created at the first Hello) */
    struct integrity *integrity_check;     /* the start's check while it runs */
    struct integrity_result integrity;     /* its outcome (state checking until then) */
    bool draining;             /* SIGTERM: no new input, finish and exit */
    bool finished;             /* server_finish ran: handles are closing */
    bool listening;
    int exit_code;
    struct server_stats stats;
    uint8_t readbuf[64 * 1024];  /* shared by all reads: the loop is one thread */
    struct buf sendbuf;          /* shared encode scratch for outgoing frames (small:
                                  * Welcome, Ack, Heartbeat, Error), written to TLS at once */
};

/* Loop thread: stores an alert the server raises itself (source "server",
 * alert_rec_server), in the writer's next transaction; logs on failure.
 * agent_id NULL: about the server itself. Nothing once it is stopping. */
void server_raise_alert(struct server *srv, const char *rule, int32_t priority,
                        const char *text, const char *agent_id, const char *hostname,
                        const char *tags_json);
/* Runs bulwarkd with a checked configuration until SIGTERM/SIGINT has
 * drained it; returns the exit code. */
int server_run(const struct server_config *cfg);
/* Called on the loop thread with a reload's outcome: 0, BW_ECONFIG when the
 * rules or TLS files were refused (what was refused stays as it was), or
 * BW_ECLOSED when the server stopped first. */
typedef void (*server_reload_fn)(int rc, void *ctx);
/* Loop thread: reloads the TLS files now and the rules beside the loop
 * (compiled on a worker thread, swapped in on the loop); done (may be NULL)
 * gets the outcome. why ("SIGHUP", "API") prefixes the log lines. Returns
 * 0 when started, BW_ECLOSED when stopping, BW_ENOMEM. */
int server_reload(struct server *srv, const char *why, server_reload_fn done, void *ctx);
/* Loop thread: copies counters into srvstate now. */
void server_publish(struct server *srv);
/* Loop thread, from the connections: an agent's stream completed its Hello,
 * went away, or sent a heartbeat's health. `stream` tells the streams of
 * one agent apart. *stored_ns and *stored_dropped are the connection's
 * record of the last health it had stored. */
void server_agent_up(struct server *srv, const char *agent_id, const char *hostname,
                     const char *version, const char *peer, uint64_t stream);
void server_agent_down(struct server *srv, const char *agent_id, uint64_t stream);
struct Bulwark__V1__AgentHealth;
void server_agent_health(struct server *srv, const char *agent_id,
                         const struct Bulwark__V1__AgentHealth *h, int64_t *stored_ns,
                         uint64_t *stored_dropped);

/* Starts listening on cfg->listen; logs "listening HOST:PORT". */
int listener_start(struct server *srv);
void listener_stop(struct server *srv);

#endif
