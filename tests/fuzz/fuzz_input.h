/* fuzz_input.h - reading a fuzzer's bytes as fields: fixed-size numbers,
 * NUL-terminated strings, the rest. Past the end every field is 0 or "",
 * so any input is some value of every field. */
#ifndef BULWARK_FUZZ_INPUT_H
#define BULWARK_FUZZ_INPUT_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_in {
    const uint8_t *p;
    size_t n;
    char *strs[32];  /* the copies handed out, freed by fuzz_in_release */
    size_t nstrs;
};

static inline uint64_t fuzz_u64(struct fuzz_in *in, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes && in->n; i++, in->p++, in->n--)
        v = v << 8 | *in->p;
    return v;
}

/* The bytes up to the next NUL (or the end), as a C string owned by in. */
static inline const char *fuzz_str(struct fuzz_in *in)
{
    const uint8_t *z = in->n ? memchr(in->p, 0, in->n) : NULL;
    size_t len = z ? (size_t)(z - in->p) : in->n;
    char *s;

    if (in->nstrs == sizeof in->strs / sizeof in->strs[0] || !(s = malloc(len + 1)))
        return "";
    memcpy(s, in->p, len);
    s[len] = '\0';
    in->strs[in->nstrs++] = s;
    in->p += len + (z ? 1 : 0);
    in->n -= len + (z ? 1 : 0);
    return s;
}

static inline void fuzz_in_release(struct fuzz_in *in)
{
    for (size_t i = 0; i < in->nstrs; i++)
        free(in->strs[i]);
    in->nstrs = 0;
}
#endif
