/* fuzz_apiparams.c - fuzz target for the REST API's parameter grammar
 * (server/api/params.c): text checks, integers, times (RFC 3339 or a
 * duration ago), page tokens. A token that parses must encode back to the
 * same id, and a time that parses and formats must parse to the same ns.
 * Input: one byte (the page token's kind letter), then the value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/api/api_internal.h"
#include "bulwark/evjson.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size, {0}, 0};
    char kind = (char)fuzz_u64(&in, 1);
    const char *v = fuzz_str(&in);
    int64_t x, t, again;
    char tok[API_PAGE_TOKEN_MAX + 8], text[EVJSON_TIME_MAX];
    /* a fixed now, so a run is repeatable: 2024-05-01T12:00:00Z */
    const int64_t now = 1714564800LL * 1000000000LL;

    (void)api_text_ok((const char *)data, size);
    if (api_parse_int(v, 0, INT64_MAX, &x) == 0) {
        api_page_token(kind, x, tok, sizeof tok);
        if (x > 0 && (api_parse_page_token(tok, kind, &again) != 0 || again != x))
            abort();
    }
    (void)api_parse_int(v, 1, 500, &x);
    if (api_parse_page_token(v, kind, &x) == 0) {
        if (x <= 0)
            abort();
        api_page_token(kind, x, tok, sizeof tok);
        if (strlen(tok) > API_PAGE_TOKEN_MAX || api_parse_page_token(tok, kind, &again) != 0 ||
            again != x)
            abort();
    }
    if (api_parse_time(v, now, &t) == 0 && evjson_format_time(t, text, sizeof text) == 0) {
        if (evjson_parse_time(text, &again) != 0 || again != t)
            abort();
    }
    fuzz_in_release(&in);
    return 0;
}
