/* dns_bench.c - what a DNS answer costs the agent: packets/s through
 * dns_parse_packet into a namespace's cache (a CNAME chain and two
 * addresses, as a CDN answers), and lookups/s of connections' addresses in
 * a full cache (the net collector's side). Usage: bench_dns [SECONDS]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/dns.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t put_name(uint8_t *p, const char *name)
{
    size_t n = 0;

    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);

        p[n++] = (uint8_t)l;
        memcpy(p + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

/* IPv4/UDP from 53: www.shop.example CNAME edge.cdn.example, two A records. */
static size_t make_packet(uint8_t *p, uint32_t salt)
{
    uint8_t *m = p + 28;
    size_t n = 12, at;

    memset(p, 0, 28);
    memcpy(m, "\x12\x34\x81\x80\x00\x01\x00\x03\x00\x00\x00\x00", 12);
    n += put_name(m + n, "www.shop.example");
    memcpy(m + n, "\x00\x01\x00\x01", 4);
    n += 4;
    memcpy(m + n, "\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c", 10);
    n += 10;
    at = n;
    n += 2;
    n += put_name(m + n, "edge.cdn.example");
    m[at] = 0;
    m[at + 1] = (uint8_t)(n - at - 2);
    for (int i = 0; i < 2; i++) {
        memcpy(m + n, "\xc0\x2e\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04", 12);  /* edge... */
        n += 12;
        m[n++] = 10;
        m[n++] = (uint8_t)(salt >> 16);
        m[n++] = (uint8_t)(salt >> 8);
        m[n++] = (uint8_t)(salt + (uint32_t)i);
    }
    p[0] = 0x45;
    p[2] = (uint8_t)((28 + n) >> 8);
    p[3] = (uint8_t)(28 + n);
    p[9] = 17;
    p[20] = 0;
    p[21] = 53;
    p[24] = (uint8_t)((8 + n) >> 8);
    p[25] = (uint8_t)(8 + n);
    return 28 + n;
}

static int on_answer(void *ctx, const struct dns_answer *a)
{
    return dns_cache_put(ctx, a->family, a->addr, a->name, INT64_MAX);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0, t0, t;
    struct dns_cache *c = dns_cache_new(2048);
    uint8_t pkt[512];
    uint64_t n = 0, hits = 0, last;
    size_t len;

    if (!c)
        return 1;
    /* edge.cdn.example sits at offset 46 of the message: check it once */
    len = make_packet(pkt, 1);
    if (dns_parse_packet(pkt, len, on_answer, c) != 2) {
        fprintf(stderr, "bench_dns: the sample packet does not parse\n");
        return 1;
    }
    t0 = now_s();
    do {
        for (int i = 0; i < 1000; i++, n++) {
            len = make_packet(pkt, (uint32_t)n * 2);
            dns_parse_packet(pkt, len, on_answer, c);
        }
    } while ((t = now_s()) - t0 < secs);
    printf("parse+cache: %.0f answer packets/s (%zu names cached)\n", n / (t - t0),
           dns_cache_count(c));
    last = n;
    n = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < 1000; i++, n++) {
            /* even n: one of the last 1024 answers' addresses (cached);
             * odd n: an address of a long-evicted answer */
            uint32_t salt = (uint32_t)((n & 1 ? n % last : last - 1 - (n / 2) % 1024) * 2);
            uint8_t a[4] = {10, (uint8_t)(salt >> 16), (uint8_t)(salt >> 8), (uint8_t)salt};

            hits += dns_cache_get(c, 4, a, 0) != NULL;
        }
    } while ((t = now_s()) - t0 < secs);
    printf("lookup: %.0f lookups/s in a full cache (%.0f%% hits)\n", n / (t - t0),
           100.0 * (double)hits / (double)n);
    dns_cache_free(c);
    return 0;
}
