/* evpool.h - a pool of realistic packed events for the benchmarks
 * (loadgen and store_append): made once by the agent's synthetic source,
 * packed without a sequence number so that stamping any seq costs one
 * varint and one memcpy. Benchmark code only, not part of any library. */
#ifndef BULWARK_BENCH_EVPOOL_H
#define BULWARK_BENCH_EVPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/v1/bulwark.pb-c.h"

#define EVPOOL_SEQ_MAX 11u  /* bytes evpool_stamp() adds: tag + varint */

struct evpool {
    uint8_t *data;              /* packed events back to back, seq omitted */
    size_t *off;                /* n + 1 offsets into data */
    Bulwark__V1__Event **ev;    /* the unpacked events (only if asked) */
    size_t n;
};

/* Makes n events from source_synthetic_new(seed, hostname), times spread
 * one millisecond apart from now. keep_events keeps the unpacked trees (the
 * store API wants the ContainerRef). 0 or a negative bw_err. */
int evpool_init(struct evpool *p, size_t n, uint64_t seed, const char *hostname, bool keep_events);
void evpool_release(struct evpool *p);

/* Template i (modulo n): its bytes and length. */
static inline const uint8_t *evpool_get(const struct evpool *p, uint64_t i, size_t *len)
{
    size_t k = (size_t)(i % p->n);
    *len = p->off[k + 1] - p->off[k];
    return p->data + p->off[k];
}

/* Writes Event.seq = seq (field 1, varint) then the template into dst, which
 * must hold len + EVPOOL_SEQ_MAX bytes: a packed Event with that seq.
 * Returns the bytes written. */
size_t evpool_stamp(uint8_t *dst, uint64_t seq, const uint8_t *tmpl, size_t len);

#endif
