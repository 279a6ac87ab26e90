/* test_dns.c - the DNS answer parser (A/AAAA, CNAME chains, malformed
 * messages, IP/UDP framing) and the per-namespace LRU cache (agent/dns.c). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bulwark/dns.h"
#include "bulwark/err.h"

/* A message under construction. */
struct msg {
    uint8_t b[2048];
    size_t n;
};

static void put8(struct msg *m, unsigned v)
{
    m->b[m->n++] = (uint8_t)v;
}

static void put16(struct msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v & 0xFF);
}

static void put_name(struct msg *m, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);

        put8(m, (unsigned)l);
        memcpy(m->b + m->n, name, l);
        m->n += l;
        name += l + (dot ? 1 : 0);
    }
    put8(m, 0);
}

/* Header (flags, one question unless qd says otherwise) and the question. */
static void start(struct msg *m, unsigned flags, unsigned qd, unsigned an, const char *q)
{
    m->n = 0;
    put16(m, 0x1234);
    put16(m, flags);
    put16(m, qd);
    put16(m, an);
    put16(m, 0);
    put16(m, 0);
    put_name(m, q);
    put16(m, 1);  /* A */
    put16(m, 1);  /* IN */
}

/* A record; owner NULL means a pointer to the question's name (0xC00C). */
static void rr_head(struct msg *m, const char *owner, unsigned type, uint32_t ttl)
{
    if (owner)
        put_name(m, owner);
    else
        put16(m, 0xC00C);
    put16(m, type);
    put16(m, 1);
    put16(m, ttl >> 16);
    put16(m, ttl & 0xFFFF);
}

static void rr_a(struct msg *m, const char *owner, const char *ip)
{
    rr_head(m, owner, 1, 60);
    put16(m, 4);
    inet_pton(AF_INET, ip, m->b + m->n);
    m->n += 4;
}

static void rr_aaaa(struct msg *m, const char *owner, const char *ip)
{
    rr_head(m, owner, 28, 60);
    put16(m, 16);
    inet_pton(AF_INET6, ip, m->b + m->n);
    m->n += 16;
}

static void rr_cname(struct msg *m, const char *owner, const char *target)
{
    size_t len_at;

    rr_head(m, owner, 5, 60);
    len_at = m->n;
    put16(m, 0);
    put_name(m, target);
    m->b[len_at] = (uint8_t)((m->n - len_at - 2) >> 8);
    m->b[len_at + 1] = (uint8_t)(m->n - len_at - 2);
}

struct got {
    size_t n;
    char name[8][DNS_NAME_MAX + 1];
    char addr[8][64];
};

static int collect(void *ctx, const struct dns_answer *a)
{
    struct got *g = ctx;

    if (g->n == 8)
        return BW_EFULL;
    snprintf(g->name[g->n], sizeof g->name[0], "%s", a->name);
    inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, g->addr[g->n], sizeof g->addr[0]);
    g->n++;
    return 0;
}

static int parse(const struct msg *m, struct got *g)
{
    memset(g, 0, sizeof *g);
    return dns_parse_message(m->b, m->n, collect, g);
}

static void test_a_answer(void **state)
{
    struct msg m;
    struct got g;

    start(&m, 0x8180, 1, 1, "XMR-eu1.Nanopool.org");
    rr_a(&m, NULL, "198.51.100.9");
    assert_int_equal(parse(&m, &g), 1);
    assert_string_equal(g.name[0], "xmr-eu1.nanopool.org");  /* lower-case */
    assert_string_equal(g.addr[0], "198.51.100.9");
}

static void test_cname_chain(void **state)
{
    struct msg m;
    struct got g;

    /* the A record first, the CNAMEs after it: order does not matter */
    start(&m, 0x8180, 1, 5, "www.shop.example");
    rr_a(&m, "e1.cdn.example", "192.0.2.7");
    rr_cname(&m, "edge.cdn.example", "e1.cdn.example");
    rr_cname(&m, NULL, "edge.cdn.example");
    rr_aaaa(&m, "e1.cdn.example", "2001:db8::7");
    rr_a(&m, "unrelated.example", "203.0.113.1");  /* nobody asked for it */
    assert_int_equal(parse(&m, &g), 2);
    assert_string_equal(g.name[0], "www.shop.example");
    assert_string_equal(g.addr[0], "192.0.2.7");
    assert_string_equal(g.name[1], "www.shop.example");
    assert_string_equal(g.addr[1], "2001:db8::7");
}

static void test_chain_bound(void **state)
{
    struct msg m;
    struct got g;
    char a[32], b[32];

    /* q -> n1 -> ... -> n20 -> A: longer than DNS_CHAIN_MAX, not followed */
    start(&m, 0x8180, 1, 21, "q.example");
    for (int i = 0; i < 20; i++) {
        snprintf(a, sizeof a, "n%d.example", i);
        snprintf(b, sizeof b, "n%d.example", i + 1);
        rr_cname(&m, i ? a : NULL, b);
    }
    rr_a(&m, "n20.example", "192.0.2.20");
    assert_int_equal(parse(&m, &g), 0);
    /* a CNAME loop ends too */
    start(&m, 0x8180, 1, 3, "loop.example");
    rr_cname(&m, NULL, "x.example");
    rr_cname(&m, "x.example", "loop.example");
    rr_a(&m, "x.example", "192.0.2.30");
    assert_int_equal(parse(&m, &g), 1);
    assert_string_equal(g.name[0], "loop.example");
}

static void test_answers_nothing(void **state)
{
    struct msg m;
    struct got g;

    start(&m, 0x0100, 1, 1, "query.example");  /* a query, not a response */
    rr_a(&m, NULL, "192.0.2.1");
    assert_int_equal(parse(&m, &g), 0);
    start(&m, 0x8183, 1, 1, "nx.example");      /* NXDOMAIN */
    rr_a(&m, NULL, "192.0.2.1");
    assert_int_equal(parse(&m, &g), 0);
    start(&m, 0x8180, 2, 1, "two.example");     /* two questions */
    rr_a(&m, NULL, "192.0.2.1");
    assert_int_equal(parse(&m, &g), 0);
    start(&m, 0x8180, 1, 1, "bad name.example");  /* a space in a label */
    rr_a(&m, NULL, "192.0.2.1");
    assert_int_equal(parse(&m, &g), 0);
}

static void test_malformed(void **state)
{
    struct msg m;
    struct got g;

    start(&m, 0x8180, 1, 1, "a.example");
    rr_a(&m, NULL, "192.0.2.1");
    for (size_t cut = 0; cut < m.n; cut++)  /* every truncation */
        assert_true(dns_parse_message(m.b, cut, collect, &g) == BW_EINVAL);
    /* a compression loop */
    start(&m, 0x8180, 1, 1, "a.example");
    put16(&m, 0xC000 | (unsigned)m.n);
    put16(&m, 1);
    assert_int_equal(parse(&m, &g), BW_EINVAL);
    /* a pointer past the end */
    start(&m, 0x8180, 1, 1, "a.example");
    put16(&m, 0xFFFF);
    assert_int_equal(parse(&m, &g), BW_EINVAL);
    /* a name longer than 253 */
    m.n = 12;
    memcpy(m.b, "\x12\x34\x81\x80\0\1\0\0\0\0\0\0", 12);
    for (int i = 0; i < 5; i++) {
        put8(&m, 63);
        memset(m.b + m.n, 'a', 63);
        m.n += 63;
    }
    put8(&m, 0);
    put16(&m, 1);
    put16(&m, 1);
    assert_int_equal(parse(&m, &g), BW_EINVAL);
    /* the callback's error stops the parse */
    start(&m, 0x8180, 1, 9, "many.example");
    for (int i = 0; i < 9; i++)
        rr_a(&m, NULL, "192.0.2.2");
    assert_int_equal(parse(&m, &g), BW_EFULL);
}

/* An IPv4 or IPv6 packet carrying m from (sport) to 40000. */
static size_t packet(uint8_t *p, int v, unsigned sport, const struct msg *m, bool frag)
{
    size_t hl = v == 4 ? 20 : 40, ulen = 8 + m->n;

    memset(p, 0, hl);
    if (v == 4) {
        p[0] = 0x45;
        p[2] = (uint8_t)((hl + ulen) >> 8);
        p[3] = (uint8_t)(hl + ulen);
        p[6] = frag ? 0x20 : 0x40;  /* MF, else DF */
        p[9] = 17;
    } else {
        p[0] = 0x60;
        p[4] = (uint8_t)(ulen >> 8);
        p[5] = (uint8_t)ulen;
        p[6] = 17;
    }
    p[hl] = (uint8_t)(sport >> 8);
    p[hl + 1] = (uint8_t)sport;
    p[hl + 2] = 40000 >> 8;
    p[hl + 3] = 40000 & 0xFF;
    p[hl + 4] = (uint8_t)(ulen >> 8);
    p[hl + 5] = (uint8_t)ulen;
    memcpy(p + hl + 8, m->b, m->n);
    return hl + ulen;
}

static void test_packets(void **state)
{
    uint8_t p[4096];
    struct msg m;
    struct got g = {0};
    size_t n;

    start(&m, 0x8180, 1, 1, "pool.example");
    rr_a(&m, NULL, "192.0.2.44");
    n = packet(p, 4, 53, &m, false);
    assert_int_equal(dns_parse_packet(p, n, collect, &g), 1);
    assert_string_equal(g.addr[0], "192.0.2.44");
    assert_int_equal(dns_parse_packet(p, n + 10, collect, &g), 1);  /* trailing bytes */
    assert_int_equal(dns_parse_packet(p, n - 1, collect, &g), BW_EINVAL);
    n = packet(p, 6, 53, &m, false);
    assert_int_equal(dns_parse_packet(p, n, collect, &g), 1);
    n = packet(p, 4, 5353, &m, false);
    assert_int_equal(dns_parse_packet(p, n, collect, &g), BW_EINVAL);
    n = packet(p, 4, 53, &m, true);
    assert_int_equal(dns_parse_packet(p, n, collect, &g), BW_EINVAL);
    p[0] = 0x55;
    assert_int_equal(dns_parse_packet(p, n, collect, &g), BW_EINVAL);
    assert_int_equal(dns_parse_packet(p, 0, collect, &g), BW_EINVAL);
}

static void test_cache_lru(void **state)
{
    struct dns_cache *c = dns_cache_new(2);
    uint8_t a[4] = {192, 0, 2, 1}, b[4] = {192, 0, 2, 2}, d[4] = {192, 0, 2, 3};
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};

    assert_non_null(c);
    assert_null(dns_cache_get(c, 4, a, 0));
    assert_int_equal(dns_cache_put(c, 4, a, "a.example", 100), 0);
    assert_int_equal(dns_cache_put(c, 4, b, "b.example", 100), 0);
    assert_string_equal(dns_cache_get(c, 4, a, 50), "a.example");  /* a is now recent */
    assert_null(dns_cache_get(c, 4, a, 100));                       /* expired */
    assert_null(dns_cache_get(c, 6, a6, 0));  /* same leading bytes, other family */
    assert_int_equal(dns_cache_put(c, 4, d, "d.example", 100), 0);  /* evicts b */
    assert_int_equal(dns_cache_count(c), 2);
    assert_null(dns_cache_get(c, 4, b, 0));
    assert_string_equal(dns_cache_get(c, 4, a, 0), "a.example");
    assert_string_equal(dns_cache_get(c, 4, d, 0), "d.example");
    assert_int_equal(dns_cache_put(c, 4, d, "d2.example", 200), 0);  /* replaced */
    assert_string_equal(dns_cache_get(c, 4, d, 150), "d2.example");
    assert_int_equal(dns_cache_count(c), 2);
    /* many more than the cap: bounded, the last ones present */
    for (uint32_t i = 0; i < 1000; i++) {
        uint8_t k[16] = {0};

        memcpy(k, &i, sizeof i);
        assert_int_equal(dns_cache_put(c, 6, k, "x.example", 1000), 0);
    }
    assert_int_equal(dns_cache_count(c), 2);
    dns_cache_free(c);
    dns_cache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_answer),
        cmocka_unit_test(test_cname_chain),
        cmocka_unit_test(test_chain_bound),
        cmocka_unit_test(test_answers_nothing),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_packets),
        cmocka_unit_test(test_cache_lru),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
