/* agent_config.c - bulwark-agent's option table and whole-config checks. */
#include <string.h>

#include "bulwark/agent.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/log.h"
#include "bulwark/spool.h"

/* The option table's rows (config.h): F an option, E an enumerated one. */
#define F(...) CONFIG_FIELD(struct agent_config, __VA_ARGS__)
#define E(...) CONFIG_ENUM_FIELD(struct agent_config, __VA_ARGS__)

const char *const agent_source_names[] = {"host", "synthetic", "replay", "none", NULL};
static const char *const output_names[] = {"server", "stdout", NULL};
static const char *const file_mode_names[] = {"auto", "fanotify", "inotify", NULL};
static const char *const sensor_names[] = {"auto", "ebpf", "procfs", NULL};

const struct config_field agent_config_table[] = {
    F("server", CONFIG_STRING, server, "127.0.0.1:7443", "bulwarkd address, host:port", 0, 0),
    F("server_name", CONFIG_STRING, server_name, NULL,
      "name the server certificate must carry (default: the host of 'server')", 0, 0),
    F("tls_ca", CONFIG_STRING, tls_ca, NULL, "CA that signed the server certificate", 0, 0),
    F("tls_cert", CONFIG_STRING, tls_cert, NULL, "this agent's certificate (CN = agent id)", 0, 0),
    F("tls_key", CONFIG_STRING, tls_key, NULL, "this agent's private key", 0, 0),
    F("agent_id", CONFIG_STRING, agent_id, NULL, "agent id (default: the CN of tls_cert)", 0, 0),
    F("enroll_token_file", CONFIG_STRING, enroll_token_file, NULL,
      "file holding an enrollment token: with no tls_cert yet, the agent makes tls_key, "
      "enrolls and writes tls_cert (empty = off)", 0, 0),
    F("enroll_server", CONFIG_STRING, enroll_server, NULL,
      "bulwarkd's enrollment listener, host:port (its enroll_listen)", 0, 0),
    F("renew_at", CONFIG_DOUBLE, renew_at, "0.6667",
      "renew the certificate over the stream once this fraction of its life has passed "
      "(0 = never)", 0, 0),
    F("hostname", CONFIG_STRING, hostname, NULL, "host name reported (default: gethostname)", 0,
      0),
    F("spool", CONFIG_STRING, spool, "agent-spool.db", "durable spool file (SQLite)", 0, 0),
    F("spool_max_events", CONFIG_U64, spool_max_events, BW_STR(SPOOL_DEFAULT_MAX_EVENTS),
      "spool bound in events; when full new events are refused and counted", 1, 0),
    F("spool_max_bytes", CONFIG_U64, spool_max_bytes, BW_STR(SPOOL_DEFAULT_MAX_BYTES),
      "spool bound in bytes", 65536, 0),
    E("spool_sync", spool_sync, "full", "SQLite synchronous of the spool", config_sync_choices),
    E("source", source, "host", "host (the collectors), synthetic, replay or none",
      agent_source_names),
    E("output", output, "server",
      "server (spool and ship) or stdout (print NDJSON events, no server)", output_names),
    F("once", CONFIG_BOOL, once, "false",
      "one collection pass over the host, then exit once it is shipped or printed", 0, 0),
    F("synthetic_rate", CONFIG_DOUBLE, synthetic_rate, "1000",
      "synthetic events per second (0 = as fast as possible)", 0, 0),
    F("synthetic_count", CONFIG_U64, synthetic_count, "0",
      "total events the spool should ever hold (0 = unlimited); a restart continues", 0, 0),
    F("synthetic_seed", CONFIG_U64, synthetic_seed, "0", "synthetic PRNG seed (0 = random)", 0,
      0),
    F("synthetic_scenario", CONFIG_STRING, synthetic_scenario, "mixed",
      "synthetic scenario: mixed, miner or benign", 0, 0),
    F("replay_file", CONFIG_STRING, replay_file, NULL,
      "newline-delimited JSON events for source=replay", 0, 0),
    F("host_root", CONFIG_STRING, host_root, "/",
      "read /proc, /sys/fs/cgroup, /run, /var/lib below this directory", 0, 0),
    F("machine_id", CONFIG_STRING, machine_id, NULL,
      "this machine's identity for the spool (default: host_root/etc/machine-id); a spool "
      "found on another machine starts a new epoch (tests run two 'machines' on one host)", 0, 0),
    E("sensor", sensor, "auto",
      "host sensor: ebpf (kernel programs: every exec, connect, accept and open as it "
      "happens), procfs (the collectors below) or auto (ebpf when it can run here)",
      sensor_names),
    F("sensor_read_paths", CONFIG_STRING, sensor_read_paths,
      "/etc,/root,/boot,/var/lib/kubelet,/run/secrets",
      "eBPF sensor: comma-separated paths below which file reads are reported", 0, 0),
    F("collect_proc", CONFIG_BOOL, collect_proc, "true", "collector: new processes", 0, 0),
    F("collect_net", CONFIG_BOOL, collect_net, "true", "collector: outbound TCP connections", 0,
      0),
    F("collect_file", CONFIG_BOOL, collect_file, "true",
      "collector: writes below sensitive paths", 0, 0),
    F("collect_resource", CONFIG_BOOL, collect_resource, "true",
      "collector: container and host CPU/memory", 0, 0),
    F("collect_config", CONFIG_BOOL, collect_config, "true",
      "collector: container OCI configuration snapshots", 0, 0),
    F("scan_interval_ms", CONFIG_U32, scan_interval_ms, "1000",
      "period of /proc and runtime-state scans", 100, 3600000),
    F("resource_interval_ms", CONFIG_U32, resource_interval_ms, "5000",
      "period of CPU/memory samples", 100, 3600000),
    F("cmdline_max", CONFIG_U32, cmdline_max, "4096", "bytes of a command line kept", 64, 65536),
    F("file_paths", CONFIG_STRING, file_paths, "/etc,/usr/bin,/usr/sbin,/bin,/sbin,/usr/lib,/lib",
      "comma-separated paths watched for file activity", 0, 0),
    E("file_mode", file_mode, "auto",
      "file activity through fanotify, inotify or auto (fanotify when privileged)",
      file_mode_names),
    F("trivy_dir", CONFIG_STRING, trivy_dir, NULL,
      "directory of Trivy JSON reports to ingest (empty = off)", 0, 0),
    F("falco_file", CONFIG_STRING, falco_file, NULL,
      "Falco JSON output file or FIFO to pass through (empty = off)", 0, 0),
    F("queue_events", CONFIG_U32, queue_events, "65536",
      "events waiting for the spool; beyond it collectors' events are dropped and counted",
      1024, 10000000),
    F("batch_events", CONFIG_U32, batch_events, "1024", "most events per batch", 1, 65536),
    F("max_frame", CONFIG_U32, max_frame, BW_STR(FRAME_DEFAULT_MAX_BYTES), "largest frame, bytes", 4096,
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
    E("log_level", log_level, "info", "the lowest level logged", log_level_names),
};
const size_t agent_config_table_len = sizeof agent_config_table / sizeof agent_config_table[0];

/* The enumerated options are checked as they are set (CONFIG_ENUM). */
int agent_config_check(const struct agent_config *c, char *err, size_t errlen)
{
    if (c->output == AGENT_OUTPUT_SERVER && (!*c->tls_ca || !*c->tls_cert || !*c->tls_key)) {
        snprintf(err, errlen, "tls_ca, tls_cert and tls_key are required to ship to a server "
                              "(or use --output stdout)");
        return BW_ECONFIG;
    }
    if (*c->enroll_token_file && !*c->enroll_server) {
        snprintf(err, errlen, "enroll_token_file needs enroll_server (bulwarkd's enroll_listen)");
        return BW_ECONFIG;
    }
    if (*c->enroll_token_file && *c->agent_id) {
        snprintf(err, errlen, "an enrolled agent's id is the one its certificate names: do not "
                              "set agent_id with enroll_token_file");
        return BW_ECONFIG;
    }
    if (c->renew_at >= 1.0) {
        snprintf(err, errlen, "'renew_at' must be below 1 (a fraction of the certificate's life)");
        return BW_ECONFIG;
    }
    if (c->source == AGENT_SOURCE_REPLAY && !*c->replay_file) {
        snprintf(err, errlen, "source=replay needs replay_file");
        return BW_ECONFIG;
    }
    if (!*c->host_root || c->host_root[0] != '/') {
        snprintf(err, errlen, "'host_root' must be an absolute path");
        return BW_ECONFIG;
    }
    return 0;
}
