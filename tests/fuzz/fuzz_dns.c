/* fuzz_dns.c - fuzz target for the DNS answer parser the agent runs on
 * captured packets: the input is read both as a packet (IP, UDP, message)
 * and as a bare DNS message, and every answer goes into a small cache.
 * Built as a libFuzzer target with clang (-DBULWARK_FUZZ=ON) and always as a
 * corpus replayer. Seeded with answers (A, AAAA, CNAME chains, compression)
 * and broken ones (pointer loops, truncations, fragments). */
#include <stdint.h>
#include <stdlib.h>

#include "bulwark/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_put(void *ctx, const struct dns_answer *a)
{
    if (a->family != 4 && a->family != 6)
        abort();
    if (dns_cache_put(ctx, a->family, a->addr, a->name, a->ttl) < 0)
        abort();
    if (!dns_cache_get(ctx, a->family, a->addr, -1))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_cache *c = dns_cache_new(8);

    if (!c)
        return 0;
    dns_parse_packet(data, size, fuzz_put, c);
    dns_parse_message(data, size, fuzz_put, c);
    dns_cache_free(c);
    return 0;
}
