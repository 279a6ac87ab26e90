/* dns.h - which name a remote address was resolved from: DNS answers
 * parsed from captured packets (pure, fuzzed) and a bounded cache per
 * network namespace (agent/dns.c). The live capture that feeds them is in
 * agent/collectors/dnswatch.c. */
#ifndef BULWARK_DNS_H
#define BULWARK_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX 253        /* text of a name, without the final dot */
#define DNS_RECORDS_MAX 64      /* answer records read from one message */
#define DNS_CHAIN_MAX 16        /* CNAMEs followed from the question's name */

/* One address of an answer: the name asked for (lower-case, no final dot;
 * the start of the CNAME chain that led to the address) and the record's
 * TTL in seconds. family is 4 or 6; addr holds 4 or 16 bytes. */
struct dns_answer {
    uint8_t family;
    uint8_t addr[16];
    uint32_t ttl;
    const char *name;
};

/* Called once per address; a negative return stops the parse and is
 * returned. */
typedef int (*dns_answer_fn)(void *ctx, const struct dns_answer *a);

/* A DNS message (RFC 1035) to its answers for the question's name: A and
 * AAAA records whose owner is the question's name or reached from it by
 * CNAMEs in the answer section (at most DNS_CHAIN_MAX; records of other
 * owners are ignored, so an answer cannot name an address for a name nobody
 * asked for). Only responses with one question, class IN, opcode QUERY and
 * rcode NOERROR answer anything. Compression pointers are followed with a
 * bound on jumps; a name with a byte outside [A-Za-z0-9_*-] in a label is
 * not used. Returns the number of answers given to fn, 0 for a message that
 * answers nothing, BW_EINVAL for a malformed one, or fn's error. */
int dns_parse_message(const uint8_t *msg, size_t len, dns_answer_fn fn, void *ctx);

/* The same for a packet as an AF_PACKET SOCK_DGRAM socket reads it: an
 * IPv4 (unfragmented) or IPv6 header, UDP from source port 53, then the
 * message. BW_EINVAL for anything else. */
int dns_parse_packet(const uint8_t *pkt, size_t len, dns_answer_fn fn, void *ctx);

/* A bounded LRU map (family, address) -> name of one network namespace.
 * Entries also expire (expires_ns). */
struct dns_cache;

/* NULL on ENOMEM; cap >= 1 entries. */
struct dns_cache *dns_cache_new(size_t cap);
void dns_cache_free(struct dns_cache *c);
/* Sets the name of an address (replacing an older one), evicting the least
 * recently used entry when full. 0 or BW_ENOMEM. */
int dns_cache_put(struct dns_cache *c, uint8_t family, const uint8_t *addr, const char *name,
                  int64_t expires_ns);
/* The name of an address (valid until the next put), or NULL when unknown
 * or expired at now_ns. A hit becomes the most recently used. */
const char *dns_cache_get(struct dns_cache *c, uint8_t family, const uint8_t *addr,
                          int64_t now_ns);
size_t dns_cache_count(const struct dns_cache *c);

#endif
