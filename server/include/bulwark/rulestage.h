/* rulestage.h - the rules stage of bulwarkd's pipeline (ingest -> rules ->
 * store): owns the loaded ruleset and the engine's state, evaluates each
 * validated batch on the loop thread, and turns alerts into owned records
 * the writer thread stores in the same transaction as the events.
 *
 * Rule sources are a comma-separated list of files and directories
 * (directories contribute their *.yaml files in name order). A reload builds
 * a whole new ruleset on a worker thread, beside the loop, and swaps it in on
 * the loop between two batches; a bad file is refused with file:line and the
 * running rules stay. */
#ifndef BULWARK_RULESTAGE_H
#define BULWARK_RULESTAGE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "bulwark/buf.h"
#include "bulwark/rules.h"
#include "bulwark/store.h"
#include "bulwark/v1/bulwark.pb-c.h"

struct rulestage;

/* An alert ready for store_alert_raise(); owns every string it points to. */
struct alert_rec {
    struct store_alert a;
    uint64_t trigger_seq;       /* seq of the event that raised it (its agent's) */
    struct alert_rec *next;
};

void alert_rec_free_list(struct alert_rec *list);
/* An alert the server itself raises (source "server"), merged per agent
 * (agent_id NULL: about the server itself, merged per rule): e.g. "Duplicate
 * agent identity" (tags ["identity"]). hostname may be NULL. NULL when out
 * of memory. */
struct alert_rec *alert_rec_server(const char *rule, int32_t priority, const char *output,
                                   const char *agent_id, const char *hostname,
                                   const char *tags_json, int64_t time_ns);

/* Loads the rules named by spec ("" = none). Diagnostics are logged with
 * file:line. Returns 0, or BW_ECONFIG (nothing created) on an error. */
int rulestage_open(struct rulestage **out, const char *spec);
/* Not while a reload is in flight (the loop has run until it finished). */
void rulestage_free(struct rulestage *rs);
/* Loads spec again on the calling thread and, on success, swaps it in
 * (state kept), else keeps the old; 0 or negative. It blocks for as long as
 * compiling takes: the loop uses rulestage_reload_start(). */
int rulestage_reload(struct rulestage *rs);
/* Called on the loop when a reload has finished: status 0 (the new rules
 * run), or negative (refused, logged; the old rules stay). */
typedef void (*rulestage_reload_fn)(struct rulestage *rs, int status, void *ctx);
/* Loads the spec again on a worker thread of loop (compiling never blocks
 * the loop) and, on success, swaps the new rules in on the loop (detector
 * and window state of rules that keep their names is kept). Returns at once:
 * 0 when started, or when one is already running (then another follows it,
 * so the files as they are now are read); BW_ENOMEM. done may be NULL; it
 * is called once per reload that ran. Loop thread only. */
int rulestage_reload_start(struct rulestage *rs, uv_loop_t *loop, rulestage_reload_fn done, void *ctx);
/* Runs events[from..n) of a validated batch through the rules, appending
 * alerts to *out (in order). */
void rulestage_eval(struct rulestage *rs, Bulwark__V1__Event *const *events, size_t n,
                    const char *agent_id, const char *hostname, uint64_t epoch,
                    struct alert_rec **out);
/* The same over any engine (retro-hunt uses a fresh one); counts alerts
 * into *count when not NULL. */
struct rules_engine;
void rulestage_eval_engine(struct rules_engine *e, Bulwark__V1__Event *const *events, size_t n,
                           const char *agent_id, const char *hostname, uint64_t epoch,
                           struct alert_rec **out, uint64_t *count);
/* Detector state for the store (and back at start-up). */
int rulestage_save(struct rulestage *rs, struct buf *out);
int rulestage_restore(struct rulestage *rs, const uint8_t *p, size_t n);

/* Walks the loaded rules (loop thread; see ruleset_foreach). */
void rulestage_foreach(const struct rulestage *rs, rules_rule_fn fn, void *ctx);

#define RULESTAGE_STATE_KEY "rules_engine"

#endif
