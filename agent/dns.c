/* dns.c - DNS answers from captured packets, and the per-namespace cache of
 * which name each address was resolved from (see bulwark/dns.h).
 *
 * The parser reads bytes a hostile network may have sent: every offset is
 * checked against the message's end, compression pointers are followed at
 * most DNS_JUMPS_MAX times (a loop is a malformed message, not a hang), a
 * name is at most DNS_NAME_MAX bytes of text, and at most DNS_RECORDS_MAX
 * answer records are read. Nothing is allocated.
 *
 * The cache is the shared bounded LRU map (bulwark/lru.h) keyed by family
 * and address: get and put are O(1) on average, and a full cache replaces
 * its least recently used entry. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/dns.h"
#include "bulwark/err.h"
#include "bulwark/lru.h"

#define DNS_JUMPS_MAX 32
#define DNS_HEADER 12
#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1
#define DNS_UDP_PORT 53

/* ------------------------------------------------------------- parsing */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool dns_label_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '*';
}

/* Reads the name at *off into out (DNS_NAME_MAX + 1 bytes, lower-case, no
 * final dot; "" for the root) and moves *off past it. *usable is false when
 * a label holds a byte a host name does not. 0 or BW_EINVAL. */
static int dns_name(const uint8_t *m, size_t len, size_t *off, char *out, bool *usable)
{
    size_t p = *off, n = 0, end = 0;
    bool jumped = false;
    int jumps = 0;

    *usable = true;
    for (;;) {
        uint8_t l;

        if (p >= len)
            return BW_EINVAL;
        l = m[p];
        if ((l & 0xC0) == 0xC0) {
            if (p + 1 >= len || ++jumps > DNS_JUMPS_MAX)
                return BW_EINVAL;
            if (!jumped)
                end = p + 2;
            jumped = true;
            p = (size_t)(l & 0x3F) << 8 | m[p + 1];
            continue;
        }
        if (l & 0xC0)
            return BW_EINVAL;  /* 0x40 and 0x80 label types are not in use */
        if (l == 0)
            break;
        if (p + 1 + l > len || n + (n ? 1 : 0) + l > DNS_NAME_MAX)
            return BW_EINVAL;
        if (n)
            out[n++] = '.';
        for (size_t i = 0; i < l; i++) {
            uint8_t c = m[p + 1 + i];

            if (!dns_label_char(c)) {
                *usable = false;
                c = '?';
            }
            out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        p += 1 + (size_t)l;
    }
    out[n] = '\0';
    *off = jumped ? end : p + 1;
    return 0;
}

/* One answer record kept for the chain walk. */
struct dns_rec {
    uint16_t type;
    uint32_t ttl;
    const uint8_t *rdata;
    bool usable;
    char owner[DNS_NAME_MAX + 1];
    char target[DNS_NAME_MAX + 1];  /* CNAME only */
};

static bool dns_in(char (*names)[DNS_NAME_MAX + 1], size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

int dns_parse_message(const uint8_t *msg, size_t len, dns_answer_fn fn, void *ctx)
{
    struct dns_rec rec[DNS_RECORDS_MAX];
    char alias[DNS_CHAIN_MAX + 1][DNS_NAME_MAX + 1];
    size_t off = DNS_HEADER, nrec = 0, nalias = 1, an;
    uint16_t flags;
    bool usable, grew;
    int n = 0, rc;

    if (!msg || len < DNS_HEADER)
        return BW_EINVAL;
    flags = get16(msg + 2);
    an = get16(msg + 6);
    /* a response (QR), opcode QUERY, rcode NOERROR, one question */
    if (!(flags & 0x8000) || (flags >> 11 & 0xF) != 0 || (flags & 0xF) != 0 ||
        get16(msg + 4) != 1)
        return 0;
    if (dns_name(msg, len, &off, alias[0], &usable) < 0 || off + 4 > len)
        return BW_EINVAL;
    if (!usable || !alias[0][0] || get16(msg + off + 2) != DNS_CLASS_IN)
        return 0;
    off += 4;
    for (size_t i = 0; i < an && nrec < DNS_RECORDS_MAX; i++) {
        struct dns_rec *r = &rec[nrec];
        uint16_t rdlen;

        if (dns_name(msg, len, &off, r->owner, &r->usable) < 0 || off + 10 > len)
            return BW_EINVAL;
        r->type = get16(msg + off);
        r->ttl = get32(msg + off + 4);
        rdlen = get16(msg + off + 8);
        if (off + 10 + rdlen > len)
            return BW_EINVAL;
        r->rdata = msg + off + 10;
        if (r->ttl > INT32_MAX)
            r->ttl = 0;  /* RFC 2181 8: a TTL with the top bit set is 0 */
        if (get16(msg + off + 2) == DNS_CLASS_IN && r->usable &&
            ((r->type == DNS_TYPE_A && rdlen == 4) || (r->type == DNS_TYPE_AAAA && rdlen == 16)))
            nrec++;
        else if (get16(msg + off + 2) == DNS_CLASS_IN && r->usable && r->type == DNS_TYPE_CNAME) {
            size_t t = off + 10;

            if (dns_name(msg, len, &t, r->target, &r->usable) < 0 || t > off + 10 + rdlen)
                return BW_EINVAL;
            nrec += r->usable;
        }
        off += 10 + (size_t)rdlen;
    }
    /* the question's name and the names its CNAMEs lead to, in any order */
    do {
        grew = false;
        for (size_t i = 0; i < nrec && nalias <= DNS_CHAIN_MAX; i++)
            if (rec[i].type == DNS_TYPE_CNAME && dns_in(alias, nalias, rec[i].owner) &&
                !dns_in(alias, nalias, rec[i].target)) {
                memcpy(alias[nalias++], rec[i].target, sizeof alias[0]);
                grew = true;
            }
    } while (grew && nalias <= DNS_CHAIN_MAX);
    for (size_t i = 0; i < nrec; i++) {
        struct dns_answer a = {.ttl = rec[i].ttl, .name = alias[0]};

        if (rec[i].type == DNS_TYPE_CNAME || !dns_in(alias, nalias, rec[i].owner))
            continue;
        a.family = rec[i].type == DNS_TYPE_A ? 4 : 6;
        memcpy(a.addr, rec[i].rdata, a.family == 4 ? 4 : 16);
        if ((rc = fn(ctx, &a)) < 0)
            return rc;
        n++;
    }
    return n;
}

int dns_parse_packet(const uint8_t *pkt, size_t len, dns_answer_fn fn, void *ctx)
{
    const uint8_t *udp;
    size_t hl, ulen;

    if (!pkt || len < 1)
        return BW_EINVAL;
    if (pkt[0] >> 4 == 4) {
        hl = (size_t)(pkt[0] & 0xF) * 4;
        if (hl < 20 || len < hl + 8 || get16(pkt + 2) < hl + 8 || get16(pkt + 2) > len ||
            pkt[9] != 17 || (get16(pkt + 6) & 0x3FFF) != 0)
            return BW_EINVAL;  /* not UDP, or a fragment */
        len = get16(pkt + 2);
    } else if (pkt[0] >> 4 == 6) {
        hl = 40;
        if (len < hl + 8 || hl + get16(pkt + 4) > len || pkt[6] != 17)
            return BW_EINVAL;  /* extension headers are not followed */
        len = hl + get16(pkt + 4);
    } else {
        return BW_EINVAL;
    }
    udp = pkt + hl;
    ulen = get16(udp + 4);
    if (get16(udp) != DNS_UDP_PORT || ulen < 8 || ulen > len - hl)
        return BW_EINVAL;
    return dns_parse_message(udp + 8, ulen - 8, fn, ctx);
}

/* --------------------------------------------------------------- cache */

/* An address's name: one entry of the shared LRU map (include/bulwark/lru.h),
 * keyed by the family and the address's 16 bytes (zero-padded). */
#define DNS_KEY_LEN 17

struct dns_entry {
    struct lru_node node;
    char *name;
    int64_t expires_ns;
};

struct dns_cache {
    struct lru map;
};

static void dns_entry_free(struct lru_node *n)
{
    struct dns_entry *e = (struct dns_entry *)n;

    free(e->name);
    free(e);
}

struct dns_cache *dns_cache_new(size_t cap)
{
    struct dns_cache *c = calloc(1, sizeof *c);

    if (!c || cap == 0 || lru_init(&c->map, cap) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

void dns_cache_free(struct dns_cache *c)
{
    if (!c)
        return;
    lru_release(&c->map, dns_entry_free);
    free(c);
}

size_t dns_cache_count(const struct dns_cache *c)
{
    return c ? c->map.n : 0;
}

static void dns_key(uint8_t key[DNS_KEY_LEN], uint8_t family, const uint8_t *addr)
{
    memset(key, 0, DNS_KEY_LEN);
    key[0] = family;
    memcpy(key + 1, addr, family == 4 ? 4 : 16);
}

const char *dns_cache_get(struct dns_cache *c, uint8_t family, const uint8_t *addr,
                          int64_t now_ns)
{
    uint8_t key[DNS_KEY_LEN];
    struct dns_entry *e;

    dns_key(key, family, addr);
    e = (struct dns_entry *)lru_find(&c->map, (const char *)key, DNS_KEY_LEN,
                                     lru_hash((const char *)key, DNS_KEY_LEN));
    if (!e || e->expires_ns <= now_ns)
        return NULL;
    lru_touch(&c->map, &e->node);
    return e->name;
}

int dns_cache_put(struct dns_cache *c, uint8_t family, const uint8_t *addr, const char *name,
                  int64_t expires_ns)
{
    char *copy = strndup(name, DNS_NAME_MAX);
    uint8_t key[DNS_KEY_LEN];
    struct lru_node *n;

    if (!copy)
        return BW_ENOMEM;
    dns_key(key, family, addr);
    if (lru_get(&c->map, (const char *)key, DNS_KEY_LEN, sizeof(struct dns_entry),
                dns_entry_free, &n, NULL) < 0) {
        free(copy);
        return BW_ENOMEM;
    }
    struct dns_entry *e = (struct dns_entry *)n;
    free(e->name);
    e->name = copy;
    e->expires_ns = expires_ns;
    return 0;
}
