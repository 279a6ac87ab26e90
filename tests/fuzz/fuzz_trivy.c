/* fuzz_trivy.c - fuzz target for the Trivy collector's report reader: the
 * input is one report file; trivy_report_events() parses and checks it and
 * makes one event per finding (vulnerability, misconfiguration, secret),
 * each packed as the spool would. Built as a libFuzzer target with clang
 * (-DBULWARK_FUZZ=ON) and always as a corpus replayer. Seeded with
 * tests/fixtures/trivy: image reports, a repository scan with
 * misconfigurations and secrets, a file system scan whose secrets were not
 * starred out, and CycloneDX/SPDX SBOMs. */
#include <stdint.h>
#include <stdlib.h>

#include "bulwark/collector.h"
#include "bulwark/evjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_take(void *ctx, Bulwark__V1__Event *ev)
{
    size_t n = bulwark__v1__event__get_packed_size(ev);
    uint8_t *buf = malloc(n ? n : 1);

    (void)ctx;
    if (buf && bulwark__v1__event__pack(ev, buf) != n)
        abort();
    free(buf);
    evjson_event_free(ev);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];

    trivy_report_events((const char *)data, size, 1, fuzz_take, NULL, why, sizeof why);
    return 0;
}
