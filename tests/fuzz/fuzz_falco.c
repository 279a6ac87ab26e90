/* fuzz_falco.c - fuzz target for the Falco collector's line parser: the
 * input is split at newlines as the collector splits Falco's output, each
 * line goes through falco_parse_line() (JSON, UTF-8 repair, the event), and
 * each event is printed as evjson and packed as the spool would. Built as a
 * libFuzzer target with clang (-DBULWARK_FUZZ=ON) and always as a corpus
 * replayer. Seeded with tests/fixtures/falco. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/collector.h"
#include "bulwark/evjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the agent does with an event: print it (--output stdout) and pack it (the spool). */
static void fuzz_use(Bulwark__V1__Event *ev)
{
    json_t *j = evjson_event_to_json(ev);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    size_t n = bulwark__v1__event__get_packed_size(ev);
    uint8_t *buf = malloc(n ? n : 1);

    if (buf && bulwark__v1__event__pack(ev, buf) != n)
        abort();
    free(buf);
    free(s);
    json_decref(j);
    evjson_event_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        Bulwark__V1__Event *ev = NULL;
        int repaired;

        if (falco_parse_line(p, len, NULL, &ev, &repaired) == 0)
            fuzz_use(ev);
        p += len + (nl ? 1 : 0);
    }
    return 0;
}
