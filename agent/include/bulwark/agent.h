/* agent.h - bulwark-agent's configuration and its pipeline:
 *
 *   sources (synthetic, replay) ─┐
 *   collectors (proc, net, ...) ─┴─> bounded queue ─> spool ─> shipper ─> bulwarkd
 *                                                 └─> stdout (NDJSON), when output=stdout
 *
 * Everything runs on one libuv loop. The queue is flushed into the spool
 * (one SQLite transaction) when it holds a chunk or its oldest event is
 * 250 ms old (a pull source is pulled on a period matched to its rate);
 * when it is full, collectors' events are refused and counted (collectors
 * cannot wait), and the heartbeat says so. */
#ifndef BULWARK_AGENT_H
#define BULWARK_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/config.h"

/* The values of the enumerated options, in the order of their choices in
 * agent_config_table. */
enum agent_source { AGENT_SOURCE_HOST = 0, AGENT_SOURCE_SYNTHETIC, AGENT_SOURCE_REPLAY,
                    AGENT_SOURCE_NONE };
enum agent_output { AGENT_OUTPUT_SERVER = 0, AGENT_OUTPUT_STDOUT };
enum agent_sensor { AGENT_SENSOR_AUTO = 0, AGENT_SENSOR_EBPF, AGENT_SENSOR_PROCFS };
/* "host", "synthetic", ...: for logs. */
extern const char *const agent_source_names[];

struct agent_config {
    char *server;
    char *server_name;
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    char *agent_id;
    char *enroll_token_file;
    char *enroll_server;
    double renew_at;
    char *hostname;
    char *spool;
    uint64_t spool_max_events;
    uint64_t spool_max_bytes;
    int spool_sync;             /* enum config_sync */
    int source;                 /* enum agent_source */
    int output;                 /* enum agent_output */
    bool once;
    double synthetic_rate;
    uint64_t synthetic_count;
    uint64_t synthetic_seed;
    char *synthetic_scenario;
    char *replay_file;
    char *host_root;
    char *machine_id;
    int sensor;                 /* enum agent_sensor */
    char *sensor_read_paths;
    bool collect_proc;
    bool collect_net;
    bool collect_file;
    bool collect_resource;
    bool collect_config;
    uint32_t scan_interval_ms;
    uint32_t resource_interval_ms;
    uint32_t cmdline_max;
    char *file_paths;
    int file_mode;              /* enum file_mode (collector.h) */
    char *trivy_dir;
    char *falco_file;
    uint32_t queue_events;
    uint32_t batch_events;
    uint32_t max_frame;
    bool exit_when_drained;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    char *label_cloud;
    char *label_region;
    char *label_environment;
    char *label_tenant;
    int log_level;              /* enum log_level */
};

extern const struct config_field agent_config_table[];
extern const size_t agent_config_table_len;
/* Checks the filled config as a whole; a reason in err. */
int agent_config_check(const struct agent_config *c, char *err, size_t errlen);
/* At start (agent/enroll.c): with enroll_token_file set and no tls_cert
 * yet, makes tls_key, enrolls with enroll_server (verified as server_name
 * against tls_ca) and writes tls_cert. 0 when there is nothing to do or it
 * is done; < 0 (logged) when it failed. */
int agent_enroll(const struct agent_config *cfg, const char *hostname, const char *server_name);

/* Runs the agent until SIGTERM/SIGINT (or, with exit_when_drained / once,
 * until its work is done). Returns the process exit code. */
int agent_run(const struct agent_config *cfg);

#endif
