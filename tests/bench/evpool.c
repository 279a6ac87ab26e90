/* evpool.c - realistic packed events for the benchmarks (see evpool.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/source.h"
#include "evpool.h"

int evpool_init(struct evpool *p, size_t n, uint64_t seed, const char *hostname, bool keep_events)
{
    struct synthetic_options so = {.rate = 0, .count = n, .hostname = hostname, .seed = seed};
    struct source *src = NULL;
    struct timespec ts;
    size_t cap = n * 512, used = 0, i = 0;
    int64_t t0;
    int rc = BW_ENOMEM;

    memset(p, 0, sizeof *p);
    if (n == 0)
        return BW_EINVAL;
    clock_gettime(CLOCK_REALTIME, &ts);
    t0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    src = source_synthetic_new(&so);
    p->data = malloc(cap);
    p->off = calloc(n + 1, sizeof *p->off);
    if (keep_events)
        p->ev = calloc(n, sizeof *p->ev);
    if (!src || !p->data || !p->off || (keep_events && !p->ev))
        goto out;
    while (i < n) {
        Bulwark__V1__Event *ev = NULL;
        bool done = false;
        size_t len;
        int got = src->produce(src, t0 + (int64_t)i * 1000000, &ev, 1, &done);

        if (got <= 0) {
            rc = got < 0 ? got : BW_EIO;
            goto out;
        }
        ev->seq = 0;  /* omitted when packed: evpool_stamp() puts it first */
        len = bulwark__v1__event__get_packed_size(ev);
        while (used + len > cap) {
            uint8_t *q = realloc(p->data, cap * 2);
            if (!q) {
                evjson_event_free(ev);
                goto out;
            }
            p->data = q;
            cap *= 2;
        }
        bulwark__v1__event__pack(ev, p->data + used);
        p->off[i] = used;
        used += len;
        if (keep_events)
            p->ev[i] = ev;
        else
            evjson_event_free(ev);
        i++;
    }
    p->off[n] = used;
    p->n = n;
    rc = 0;
out:
    source_free(src);
    if (rc < 0) {
        p->n = i;
        evpool_release(p);
    }
    return rc;
}

void evpool_release(struct evpool *p)
{
    if (p->ev)
        for (size_t i = 0; i < p->n; i++)
            evjson_event_free(p->ev[i]);
    free(p->ev);
    free(p->off);
    free(p->data);
    memset(p, 0, sizeof *p);
}

size_t evpool_stamp(uint8_t *dst, uint64_t seq, const uint8_t *tmpl, size_t len)
{
    size_t n = 0;

    dst[n++] = 1u << 3;  /* Event.seq = 1, wire type varint */
    while (seq >= 0x80) {
        dst[n++] = (uint8_t)(seq | 0x80);
        seq >>= 7;
    }
    dst[n++] = (uint8_t)seq;
    memcpy(dst + n, tmpl, len);
    return n + len;
}
