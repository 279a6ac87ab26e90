/* fuzz_rules.c - fuzz target for the rule loader and condition compiler:
 * bytes -> one rule file (YAML -> items -> macros, lists, conditions,
 * exceptions, outputs, our extensions) -> compiled, simplified conditions
 * and programs -> an engine over them. Whatever the file holds, loading
 * returns a ruleset or an error, in bounded time and memory, and frees
 * everything. Built as a libFuzzer target with clang (-DBULWARK_FUZZ=ON)
 * and always as a corpus replayer; seeds are Falco's rule files and ours. */
#include <stddef.h>
#include <stdint.h>

#include "bulwark/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ruleset *rs = NULL;
    struct rules_engine *e;

    if (ruleset_load_text(&rs, "fuzz.yaml", (const char *)data, size, NULL, NULL) != 0)
        return 0;
    e = rules_engine_new(rs);
    rules_engine_free(e);
    ruleset_free(rs);
    return 0;
}
