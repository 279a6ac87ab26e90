/* server_config.c - bulwarkd's option table and whole-config validation. */
#include <string.h>

#include "bulwark/duration.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/log.h"
#include "bulwark/server.h"

/* The option table's rows (config.h): F an option, E an enumerated one. */
#define F(...) CONFIG_FIELD(struct server_config, __VA_ARGS__)
#define E(...) CONFIG_ENUM_FIELD(struct server_config, __VA_ARGS__)

static const char *const api_tls_names[] = {"auto", "on", "off", NULL};
const char *const server_forward_format_names[] = {"cef", "json", "ecs", "ocsf", NULL};

const struct config_field server_config_table[] = {
    F("listen", CONFIG_STRING, listen, "127.0.0.1:7443",
      "address:port for agent streams ([v6]:port for IPv6; port 0 picks a free one)", 0, 0),
    F("db", CONFIG_STRING, db, "bulwark.db", "SQLite database file", 0, 0),
    F("tls_ca", CONFIG_STRING, tls_ca, NULL, "fleet CA bundle that signs agent certificates", 0, 0),
    F("tls_cert", CONFIG_STRING, tls_cert, NULL, "server certificate chain (PEM)", 0, 0),
    F("tls_key", CONFIG_STRING, tls_key, NULL, "server private key (PEM)", 0, 0),
    F("max_connections", CONFIG_U32, max_connections, "10000", "most agent connections at once",
      1, 1000000),
    F("max_frame", CONFIG_U32, max_frame, BW_STR(FRAME_DEFAULT_MAX_BYTES), "largest frame accepted, bytes", 4096,
      64u * 1024 * 1024),
    F("handshake_timeout_ms", CONFIG_U32, handshake_timeout_ms, "10000",
      "time from accept to a valid Hello", 100, 600000),
    F("idle_timeout_ms", CONFIG_U32, idle_timeout_ms, "60000",
      "close a stream silent for this long (agents heartbeat)", 1000, 86400000),
    F("heartbeat_interval_ms", CONFIG_U32, heartbeat_interval_ms, "10000",
      "heartbeat interval asked of agents", 100, 3600000),
    F("max_batch_events", CONFIG_U32, max_batch_events, "4096", "most events in one batch", 1,
      65536),
    F("max_inflight_batches", CONFIG_U32, max_inflight_batches, "16",
      "batches an agent may send before an ack", 1, 1024),
    F("queue_events", CONFIG_U64, queue_events, "262144",
      "events queued for the store before reading stops (back-pressure)", 1024, 100000000),
    E("db_sync", db_sync, "full",
      "full: an ack survives power loss; normal: survives a crash of bulwarkd only",
      config_sync_choices),
    F("integrity_check", CONFIG_BOOL, integrity_check, "true",
      "check the database file at start (PRAGMA quick_check, beside ingest)", 0, 0),
    F("rules", CONFIG_STRING, rules, BULWARK_RULES_DIR,
      "comma-separated rule files and directories (*.yaml); empty = no rules", 0, 0),
    F("alert_suppression_ms", CONFIG_U32, alert_suppression_ms, "600000",
      "a repeat of an alert (same rule and key) within this window increments it", 0,
      86400000),
    F("state_save_interval_ms", CONFIG_U32, state_save_interval_ms, "60000",
      "how often detector state is saved to the database", 1000, 86400000),
    E("log_level", log_level, "info", "the lowest level logged", log_level_names),
    F("api_listen", CONFIG_STRING, api_listen, "",
      "address:port of the REST API and dashboard; empty = off (port 0 picks a free one)", 0,
      0),
    E("api_tls", api_tls, "auto",
      "auto: HTTPS with tls_cert/tls_key unless api_listen is loopback; on; off (loopback only)",
      api_tls_names),
    F("api_threads", CONFIG_U32, api_threads, "4", "the API's worker threads", 1, 64),
    F("api_max_connections", CONFIG_U32, api_max_connections, "256",
      "most API connections at once", 1, 65536),
    F("api_per_ip_connections", CONFIG_U32, api_per_ip_connections, "64",
      "most API connections from one address", 1, 65536),
    F("api_timeout_s", CONFIG_U32, api_timeout_s, "30", "close an idle API connection after",
      1, 3600),
    F("api_rate_per_min", CONFIG_U32, api_rate_per_min, "6000",
      "requests a token may make a minute (bursts of a quarter of it); 429 past it", 1,
      10000000),
    F("api_auth_failures_per_min", CONFIG_U32, api_auth_failures_per_min, "30",
      "failed authentications an address may make a minute; past it, 429 for everything", 1,
      1000000),
    F("api_body_max", CONFIG_U32, api_body_max, "65536", "largest request body, bytes (413)",
      256, 16u * 1024 * 1024),
    F("api_cors_origin", CONFIG_STRING, api_cors_origin, "",
      "an origin allowed to call the API from a browser; empty = no CORS", 0, 0),
    F("web_root", CONFIG_STRING, web_root, BULWARK_WEB_DIR,
      "the dashboard's files, served at / by the API; empty = none", 0, 0),
    F("enroll_listen", CONFIG_STRING, enroll_listen, "",
      "address:port where new agents enroll with a token (server-authenticated TLS); "
      "empty = off", 0, 0),
    F("enroll_ca_cert", CONFIG_STRING, enroll_ca_cert, "",
      "CA certificate that signs enrolled agents' certificates (one tls_ca trusts)", 0, 0),
    F("enroll_ca_key", CONFIG_STRING, enroll_ca_key, "", "that CA's private key (PEM)", 0, 0),
    F("cert_lifetime", CONFIG_STRING, cert_lifetime, "90d",
      "life of an issued agent certificate (agents renew at two thirds of it); 10s..825d", 0,
      0),
    F("enroll_failures_per_min", CONFIG_U32, enroll_failures_per_min, "10",
      "failed enrollments an address may make a minute; past it, refused at once", 1, 100000),
    F("revocation_poll_ms", CONFIG_U32, revocation_poll_ms, "2000",
      "how often agent revocations ('bulwarkd agent revoke') are read from the database", 100,
      3600000),
    F("forward_syslog", CONFIG_STRING, forward_syslog, "",
      "host:port of a syslog receiver over TLS (RFC 5425) that gets alerts; empty = none", 0, 0),
    F("forward_syslog_ca", CONFIG_STRING, forward_syslog_ca, "",
      "CA bundle that signs the syslog receiver's certificate; empty = the system's", 0, 0),
    E("forward_format", forward_format, "cef",
      "syslog message format: cef, json (native), ecs or ocsf", server_forward_format_names),
    F("forward_hec_url", CONFIG_STRING, forward_hec_url, "",
      "https://host:port[/path] of a Splunk HTTP Event Collector; empty = none", 0, 0),
    F("forward_hec_token_file", CONFIG_STRING, forward_hec_token_file, "",
      "file holding the HEC token", 0, 0),
    F("forward_hec_ca", CONFIG_STRING, forward_hec_ca, "",
      "CA bundle for the HEC's certificate; empty = the system's", 0, 0),
    F("forward_webhook_url", CONFIG_STRING, forward_webhook_url, "",
      "https://host:port/path that gets HMAC-signed JSON POSTs; empty = none", 0, 0),
    F("forward_webhook_secret_file", CONFIG_STRING, forward_webhook_secret_file, "",
      "file holding the webhook's HMAC-SHA256 key", 0, 0),
    F("forward_webhook_ca", CONFIG_STRING, forward_webhook_ca, "",
      "CA bundle for the webhook's certificate; empty = the system's", 0, 0),
    E("forward_json_format", forward_json_format, "json",
      "record format in HEC and webhook bodies: json (native), ecs or ocsf",
      server_forward_format_names + 1),
    F("forward_events", CONFIG_BOOL, forward_events, "false",
      "forward events as well as alerts", 0, 0),
    F("forward_poll_ms", CONFIG_U32, forward_poll_ms, "1000",
      "how often a caught-up destination looks for new records", 10, 600000),
    F("forward_retry_max_ms", CONFIG_U32, forward_retry_max_ms, "60000",
      "longest wait between retries of a destination that is down", 100, 3600000),
};
const size_t server_config_table_len = sizeof server_config_table / sizeof server_config_table[0];

int64_t server_cert_lifetime_s(const struct server_config *c)
{
    int64_t ns;

    if (bw_duration_parse(c->cert_lifetime, 1000000000LL, &ns) < 0 ||
        ns < 10LL * 1000000000 || ns > 825LL * 86400 * 1000000000)
        return BW_EINVAL;
    return ns / 1000000000;
}

int server_config_check(const struct server_config *c, char *err, size_t errlen)
{
    /* The enumerated options are checked as they are set (CONFIG_ENUM). */
    if (!*c->tls_ca || !*c->tls_cert || !*c->tls_key) {
        snprintf(err, errlen, "tls_ca, tls_cert and tls_key are required (deploy/gen-certs.sh "
                              "makes a dev CA)");
        return BW_ECONFIG;
    }
    if (!*c->db) {
        snprintf(err, errlen, "'db' must name a file");
        return BW_ECONFIG;
    }
    if (*c->forward_hec_url &&
        (strncmp(c->forward_hec_url, "https://", 8) != 0 || !*c->forward_hec_token_file)) {
        snprintf(err, errlen, "'forward_hec_url' must be https://... and needs "
                              "forward_hec_token_file");
        return BW_ECONFIG;
    }
    if (*c->forward_webhook_url && (strncmp(c->forward_webhook_url, "https://", 8) != 0 ||
                                    !*c->forward_webhook_secret_file)) {
        snprintf(err, errlen, "'forward_webhook_url' must be https://... and needs "
                              "forward_webhook_secret_file");
        return BW_ECONFIG;
    }
    if (*c->enroll_listen && (!*c->enroll_ca_cert || !*c->enroll_ca_key)) {
        snprintf(err, errlen, "'enroll_listen' needs enroll_ca_cert and enroll_ca_key");
        return BW_ECONFIG;
    }
    if (server_cert_lifetime_s(c) < 0) {
        snprintf(err, errlen, "'cert_lifetime' must be a duration from 10s to 825d, not '%s'",
                 c->cert_lifetime);
        return BW_ECONFIG;
    }
    if (c->queue_events < c->max_batch_events) {
        snprintf(err, errlen, "'queue_events' must be at least max_batch_events");
        return BW_ECONFIG;
    }
    return 0;
}
