/* fuzz_rules.c - fuzz target for the rule loader and condition compiler:
 * bytes -> one rule file (YAML -> items -> macros, lists, conditions,
 * exceptions, outputs, our extensions) -> compiled, simplified conditions
 * and programs -> an engine over them. Whatever the file holds, loading
 * returns a ruleset or an error, in bounded time and memory, and frees
 * everything. A loaded ruleset then judges a few fixed events: every
 * rule's flat program must agree with its condition tree (the two ways of
 * running one condition), and the engine runs them all. Built as a
 * libFuzzer target with clang (-DBULWARK_FUZZ=ON) and always as a corpus
 * replayer; seeds are Falco's rule files and ours. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/rules/internal.h"
#include "bulwark/evjson.h"
#include "bulwark/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CTR "\"container\":{\"id\":\"9a8b7c6d5e4f\",\"name\":\"api-1\",\"image\":\"python:3.12\",\"runtime\":\"docker\"}"
#define PROC "\"process\":{\"pid\":42,\"ppid\":1,\"uid\":0,\"exe\":\"/bin/sh\",\"name\":\"sh\"," \
             "\"cmdline\":\"sh -c xmrig -o stratum+tcp://pool:3333\",\"parent_name\":\"bash\",\"user\":\"root\"}"

static const char *const lines[] = {
    "{\"kind\":\"exec\",\"time\":\"2024-05-01T12:00:00Z\"," CTR "," PROC ",\"exec\":{\"cwd\":\"/tmp\"}}",
    "{\"kind\":\"exec\",\"time\":\"2024-05-01T12:00:01Z\",\"exec\":{\"cwd\":\"/\"}}",
    "{\"kind\":\"net\",\"time\":\"2024-05-01T12:00:02Z\"," CTR "," PROC ",\"net\":{\"direction\":\"outbound\","
    "\"protocol\":\"tcp\",\"local_addr\":\"10.0.0.5\",\"local_port\":40000,\"remote_addr\":\"52.1.2.3\","
    "\"remote_port\":3333,\"remote_name\":\"pool.minexmr.com\"}}",
    "{\"kind\":\"file\",\"time\":\"2024-05-01T12:00:03Z\"," CTR "," PROC ",\"file\":{\"op\":\"write\","
    "\"path\":\"/etc/shadow\"}}",
    "{\"kind\":\"config\",\"time\":\"2024-05-01T12:00:04Z\"," CTR ",\"config\":{\"privileged\":true,"
    "\"user_uid\":0,\"mounts\":[{\"source\":\"/\",\"target\":\"/host\",\"type\":\"bind\"}]}}",
};

#define NEVENTS (sizeof lines / sizeof *lines)

static Bulwark__V1__Event *events[NEVENTS];

static void on_alert(void *ctx, const struct rules_alert *a)
{
    (void)ctx;
    (void)a;
}

/* Every rule's program and tree agree on each event of the kinds it is
 * indexed under (the tree was simplified for those). */
static void check_programs(const struct ruleset *rs)
{
    struct evctx c;

    for (size_t e = 0; e < NEVENTS; e++) {
        memset(&c, 0, sizeof c);
        c.ev = events[e];
        fields_prepare(&c);
        for (size_t i = 0; i < rs->n; i++) {
            const struct rule *r = &rs->rules[i];

            if (r->prog && (r->kinds & c.kind_bit) && cnode_eval(r->cond, &c) != cprog_eval(r->prog, &c))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ruleset *rs = NULL;
    struct rules_engine *e;
    char err[256];

    if (!events[0])
        for (size_t i = 0; i < NEVENTS; i++)
            if (evjson_event_from_line(lines[i], strlen(lines[i]), &events[i], err, sizeof err) != 0)
                abort();
    if (ruleset_load_text(&rs, "fuzz.yaml", (const char *)data, size, NULL, NULL) != 0)
        return 0;
    check_programs(rs);
    e = rules_engine_new(rs);
    for (size_t i = 0; e && i < NEVENTS; i++) {
        struct rules_event_meta m = {"fuzz-agent", "fuzz-host", 1, i + 1};

        rules_engine_eval(e, events[i], &m, on_alert, NULL);
    }
    rules_engine_free(e);
    ruleset_free(rs);
    return 0;
}
