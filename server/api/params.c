/* params.c - the REST API's parameter grammar as pure functions: text
 * checks, integers, times, page tokens (the cursors of lists and exports).
 * api.c reads the values from the request and answers 400/404 when one of
 * these refuses; tests/fuzz/fuzz_apiparams.c calls them without a server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/duration.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/utf8.h"

/* ------------------------------------------------------------------ text */

bool api_text_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    uint32_t cp;

    while (p < end) {
        size_t len;
        if (*p < 0x20 || *p == 0x7f)
            return false;  /* control bytes (and NUL) have no place in a parameter */
        if (!(len = bw_utf8_next(p, (size_t)(end - p), &cp)))
            return false;
        p += len;
    }
    return true;
}

/* --------------------------------------------------------------- numbers */

int api_parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long x;

    /* strtoll alone would take " 5", "+5" and "-5": digits only */
    if (*v < '0' || *v > '9')
        return BW_EINVAL;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (*end || errno || x < lo || x > hi)
        return BW_EINVAL;
    *out = x;
    return 0;
}

int api_parse_time(const char *v, int64_t now_ns, int64_t *out)
{
    int64_t ago;

    if (evjson_parse_time(v, out) == 0)
        return 0;
    /* Or how long ago, in the one duration grammar: since=24h. */
    if (bw_duration_parse(v, 0, &ago) == 0 && ago < now_ns) {
        *out = now_ns - ago;
        return 0;
    }
    return BW_EINVAL;
}

/* ----------------------------------------------------------- page tokens */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A page token is base64url("<kind>1.<id>"): opaque to clients, versioned. */
void api_page_token(char kind, int64_t id, char *out, size_t n)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%c1.%lld", kind, (long long)id);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;

    for (int i = 0; i < len && k + 1 < n; i++) {
        acc = acc << 8 | (uint8_t)raw[i];
        bits += 8;
        while (bits >= 6 && k + 1 < n) {
            bits -= 6;
            out[k++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits > 0 && k + 1 < n)
        out[k++] = b64url[(acc << (6 - bits)) & 63];
    out[k] = '\0';
}

int api_parse_page_token(const char *v, char kind, int64_t *out)
{
    char raw[32];
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    long long id;
    char *end;

    for (const char *p = v; *p; p++) {
        const char *q = strchr(b64url, *p);
        if (!q || k + 1 >= sizeof raw)
            return BW_EINVAL;
        acc = acc << 6 | (uint32_t)(q - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    raw[k] = '\0';
    if (k < 4 || raw[0] != kind || raw[1] != '1' || raw[2] != '.' || raw[3] < '0' ||
        raw[3] > '9')
        return BW_EINVAL;
    errno = 0;
    id = strtoll(raw + 3, &end, 10);
    if (*end || errno || id <= 0)
        return BW_EINVAL;
    *out = id;
    return 0;
}
