/* utf8.h - the one UTF-8 decoder (RFC 3629, strict: no overlong forms,
 * surrogates or values past U+10FFFF; the rules jansson applies), used by
 * evjson's writer and tree, the wire checks and the API's parameters. */
#ifndef BULWARK_UTF8_H
#define BULWARK_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s (n > 0 bytes left) into *cp: its length, or 0
 * when it is not valid UTF-8 (truncated included). */
static inline size_t bw_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t need;
    uint32_t v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        need = 1, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        need = 2, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3, v = c & 0x07;
    else
        return 0;
    if (n <= need)
        return 0;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((need == 2 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
        (need == 3 && (v < 0x10000 || v > 0x10ffff)))
        return 0;
    *cp = v;
    return need + 1;
}

#endif
