/* rules.h - the rules engine: Falco-compatible rule files compiled into a
 * fast evaluator, plus correlation, threshold and anomaly rules (pure:
 * events in, alerts out; no loop, no sockets, no SQL). docs/rules.md
 * describes the language, the field table and the default ruleset.
 *
 * A struct ruleset is compiled once and never changes; a struct
 * rules_engine holds the mutable state (correlation windows, thresholds,
 * anomaly detectors), bounded by LRU. One engine is used by one thread at a
 * time; a ruleset may be shared by several engines. */
#ifndef BULWARK_RULES_H
#define BULWARK_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/buf.h"
#include "bulwark/v1/bulwark.pb-c.h"

struct ruleset;       /* compiled, immutable */
struct rules_engine;  /* mutable state: correlation windows, detectors, bounded */

/* Receives one diagnostic: a warning (rule loaded disabled, override of an
 * unknown item) or the error that refused the load. file may be NULL. */
typedef void (*rules_diag_fn)(void *ctx, const char *file, unsigned line, const char *msg);

/* Loads rule files in order (later files may override/append). Returns 0 and *out when usable; warnings
 * (rules using unsupported fields/operators are loaded DISABLED, each reported once with the field/operator
 * and file:line) go through diag. A YAML or condition syntax error returns BW_ECONFIG with file:line via diag
 * and *out untouched. BW_EIO if a file cannot be read, BW_ENOMEM. diag may be NULL. */
int ruleset_load(struct ruleset **out, const char *const *paths, size_t n, rules_diag_fn diag, void *ctx);
/* The same over one rule file held in memory (len bytes, need not end in
 * NUL); name stands for the file in diagnostics. For tests and fuzzing. */
int ruleset_load_text(struct ruleset **out, const char *name, const char *text, size_t len,
                      rules_diag_fn diag, void *ctx);
void ruleset_free(struct ruleset *rs);
/* total: rules defined; enabled: rules that raise alerts; unsupported:
 * rules disabled because they use something this engine does not support
 * (or are invalid in a way that is not a syntax error). Any may be NULL. */
void ruleset_counts(const struct ruleset *rs, size_t *total, size_t *enabled, size_t *unsupported);
/* Walks the rules in load order: name, file, line, and why the rule is
 * disabled (NULL when it is enabled; "disabled in the rule file" when
 * `enabled: false`). Stops when fn returns non-zero. */
typedef int (*rules_rule_fn)(void *ctx, const char *name, const char *file, unsigned line,
                             const char *disabled_reason);
void ruleset_foreach(const struct ruleset *rs, rules_rule_fn fn, void *ctx);

/* Where an event came from; the strings are borrowed for the call. */
struct rules_event_meta { const char *agent_id; const char *hostname; uint64_t epoch; uint64_t seq; };
/* An event that contributed to an alert. */
struct rules_evidence { const char *agent_id; uint64_t epoch; uint64_t seq; };
struct rules_alert {
    const char *rule; int32_t priority; /* Bulwark__V1__Severity */ const char *output; /* rendered */
    const char *source;     /* "rule", "correlation", "anomaly", "falco" */
    const char *group_key;  /* what suppression groups by (container id, host, digest...) */
    const char *agent_id, *hostname, *container_id, *image;   /* NULL when unknown */
    const char *const *tags; size_t n_tags;
    int64_t time_ns;        /* time of the event that raised it */
    const struct rules_evidence *evidence; size_t n_evidence;  /* the triggering event first */
    bool retrospective;     /* set by the caller (retro-hunt); always false here */
};
typedef void (*rules_alert_fn)(void *ctx, const struct rules_alert *a);  /* data valid during the call */

/* A new engine over rs (borrowed: rs must outlive the engine or be swapped
 * out first). NULL on ENOMEM. */
struct rules_engine *rules_engine_new(const struct ruleset *rs);
/* Hot reload: swap in a new ruleset; detector/correlation state of rules whose names persist is kept.
 * Time linear in the number of rules. Returns 0 (the caller frees the old ruleset after), or BW_ENOMEM:
 * nothing changed, the engine still runs the old ruleset (the caller frees the new one). */
int rules_engine_swap(struct rules_engine *e, const struct ruleset *rs);
/* Runs ev through the rules; fn is called once per alert raised, in rule
 * order (correlations last). Time is the event's time_ns, never the clock,
 * so replays and retro-hunts behave like live traffic. Returns the number
 * of alerts raised (>= 0), or BW_ENOMEM (state could not grow; alerts raised
 * before the failure were delivered). Events without a body raise nothing. */
int rules_engine_eval(struct rules_engine *e, const Bulwark__V1__Event *ev, const struct rules_event_meta *m,
                      rules_alert_fn fn, void *ctx);
/* Appends the detector and window state (versioned) to out; restore
 * replaces the state of the rules whose names are in the blob, ignoring
 * names the current ruleset does not have, and refuses (BW_EINVAL) a
 * malformed blob without changing anything. */
int rules_engine_save(const struct rules_engine *e, struct buf *out);   /* detector state, versioned */
int rules_engine_restore(struct rules_engine *e, const uint8_t *p, size_t n);
void rules_engine_free(struct rules_engine *e);

/* The field table in order, for `bulwarkd rules fields` and the docs:
 * name, value type ("string", "int", ...) and description; false past the
 * end. */
bool rules_field_at(size_t i, const char **name, const char **type, const char **doc);

/* Maps a priority name (Falco's or ours, any case: "Critical", "WARNING",
 * "informational", "info") to a Bulwark__V1__Severity; 0 if unknown. */
int32_t rules_priority_from_name(const char *name);

#endif
