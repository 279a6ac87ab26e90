/* test_ingest.c - hello identity checks, batch validation and the field
 * checks of bulwark/limits.h on the wire (pure stage). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/ingest.h"
#include "bulwark/limits.h"
#include "bulwark/wirecheck.h"

static void test_hello(void **state)
{
    Bulwark__V1__Hello h = BULWARK__V1__HELLO__INIT;
    char why[256];

    (void)state;
    h.protocol_version = BULWARK_PROTOCOL_VERSION;
    h.agent_id = "web-01";
    h.hostname = "web-01.example";
    h.epoch = 9;
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), 0);
    /* Another agent's id: refused as an identity problem, with both names. */
    assert_int_equal(ingest_check_hello(&h, "web-02", why, sizeof why), BW_EAUTH);
    assert_non_null(strstr(why, "web-01"));
    assert_non_null(strstr(why, "web-02"));
    assert_int_equal(ingest_check_hello(&h, NULL, why, sizeof why), BW_EAUTH);
    h.protocol_version = 2;
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), BW_EPROTO);
    h.protocol_version = BULWARK_PROTOCOL_VERSION;
    h.epoch = 0;
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), BW_EPROTO);
    h.epoch = UINT64_MAX;  /* stored as a signed 64-bit integer */
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "epoch"));
    h.epoch = 9;
    h.hostname = "";
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), BW_EPROTO);
    h.hostname = "web\n01";
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "hostname"));
    h.hostname = "web-01.example";
    h.agent_id = "web 01";
    assert_int_equal(ingest_check_hello(&h, "web 01", why, sizeof why), BW_EPROTO);
}

#define N 8
struct fixture {
    Bulwark__V1__Batch b;
    Bulwark__V1__Event ev[N];
    Bulwark__V1__Event *evp[N];
    Bulwark__V1__ProcessExec exec;
    Bulwark__V1__ContainerRef c;
};

static void fixture_init(struct fixture *f, uint64_t first)
{
    bulwark__v1__batch__init(&f->b);
    bulwark__v1__process_exec__init(&f->exec);
    bulwark__v1__container_ref__init(&f->c);
    f->c.id = "4f1c0ffee";
    for (int i = 0; i < N; i++) {
        bulwark__v1__event__init(&f->ev[i]);
        f->ev[i].seq = first + (uint64_t)i;
        f->ev[i].time_ns = 1700000000000000000;
        f->ev[i].severity = BULWARK__V1__SEVERITY__SEVERITY_INFO;
        f->ev[i].body_case = BULWARK__V1__EVENT__BODY_EXEC;
        f->ev[i].exec = &f->exec;
        f->ev[i].container = i % 2 ? &f->c : NULL;
        f->evp[i] = &f->ev[i];
    }
    f->b.epoch = 5;
    f->b.n_events = N;
    f->b.events = f->evp;
}

static void test_batch_ok_and_resend(void **state)
{
    struct fixture f;
    struct ingest_batch ib;
    uint64_t next = 1;
    char why[256];

    (void)state;
    fixture_init(&f, 1);
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     0);
    assert_int_equal(next, N + 1);
    assert_int_equal(ib.sb.n, N);
    assert_int_equal(ib.first_seq, 1);
    assert_int_equal(ib.last_seq, N);
    assert_null(ib.events[0].container);
    assert_non_null(ib.events[1].container);
    assert_int_equal(ib.events[3].kind, BULWARK__V1__EVENT__BODY_EXEC);
    /* The body is the packed event: it unpacks to the same seq. */
    Bulwark__V1__Event *back =
        bulwark__v1__event__unpack(NULL, ib.events[2].body_len, ib.events[2].body);
    assert_non_null(back);
    assert_int_equal(back->seq, 3);
    bulwark__v1__event__free_unpacked(back, NULL);
    ingest_batch_release(&ib);
    /* A resend overlapping what was sent is fine and does not move next back. */
    fixture_init(&f, 3);
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     0);
    assert_int_equal(next, 3 + N);
    ingest_batch_release(&ib);
}

static void test_batch_refusals(void **state)
{
    struct fixture f;
    struct ingest_batch ib;
    uint64_t next = 1;
    char why[256];

    (void)state;
    fixture_init(&f, 2);  /* gap: 1 was never sent */
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     BW_EPROTO);
    assert_non_null(strstr(why, "expected"));
    assert_int_equal(next, 1);

    fixture_init(&f, 1);
    f.ev[4].seq = 99;  /* not contiguous */
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     BW_EPROTO);

    fixture_init(&f, 1);
    f.b.epoch = 6;  /* another epoch */
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     BW_EPROTO);

    fixture_init(&f, 1);
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, N - 1, 1, &next, &ib, why, sizeof why),
                     BW_ETOOBIG);

    fixture_init(&f, 1);
    f.ev[2].body_case = BULWARK__V1__EVENT__BODY__NOT_SET;
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     BW_EPROTO);

    fixture_init(&f, 1);
    f.ev[2].time_ns = 0;
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     BW_EPROTO);

    fixture_init(&f, 1);
    f.ev[1].severity = (Bulwark__V1__Severity)42;
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     BW_EPROTO);

    fixture_init(&f, 1);
    f.b.n_events = 0;
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why, sizeof why),
                     BW_EPROTO);
    assert_int_equal(next, 1);  /* nothing refused ever advanced the stream */
}

/* A sequence number may not pass 2^63-1 (SQLite integers) nor wrap. */
static void test_batch_seq_range(void **state)
{
    struct fixture f;
    struct ingest_batch ib;
    uint64_t next = UINT64_MAX;
    char why[256];

    (void)state;
    fixture_init(&f, UINT64_MAX - N + 1);
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why,
                                        sizeof why),
                     BW_EPROTO);
    assert_non_null(strstr(why, "2^63-1"));
    fixture_init(&f, BW_LIMIT_SEQ - 2);  /* the last would be 2^63-1 + 5 */
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why,
                                        sizeof why),
                     BW_EPROTO);
    fixture_init(&f, BW_LIMIT_SEQ - N + 1);  /* ends exactly at the limit */
    assert_int_equal(ingest_batch_build(&f.b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why,
                                        sizeof why),
                     0);
    ingest_batch_release(&ib);
}

/* ------------------------------------------------------------ wire checks */

/* Packs f, lets edit change the bytes, decodes them again and runs the
 * field check on them, as the connection does. */
static int check_packed(const Bulwark__V1__Frame *f, const char *find, const char *put, char *why,
                        size_t whylen)
{
    size_t n = bulwark__v1__frame__get_packed_size(f);
    uint8_t *raw = malloc(n);
    Bulwark__V1__Frame *back;
    int rc;

    assert_non_null(raw);
    bulwark__v1__frame__pack(f, raw);
    if (find) {  /* same-length replacement inside the packed bytes */
        size_t fl = strlen(find);
        uint8_t *at = memmem(raw, n, find, fl);
        assert_non_null(at);
        memcpy(at, put, fl);
    }
    back = bulwark__v1__frame__unpack(NULL, n, raw);
    assert_non_null(back);
    rc = ingest_check_frame(back, raw, n, why, whylen);
    bulwark__v1__frame__free_unpacked(back, NULL);
    free(raw);
    return rc;
}

struct wire_fixture {
    struct fixture ev;
    Bulwark__V1__Frame frame;
};

static void wire_fixture_init(struct wire_fixture *w)
{
    fixture_init(&w->ev, 40);
    bulwark__v1__frame__init(&w->frame);
    w->frame.msg_case = BULWARK__V1__FRAME__MSG_BATCH;
    w->frame.batch = &w->ev.b;
    w->ev.exec.cwd = "/srv/app";
}

static void test_wire_strings(void **state)
{
    struct wire_fixture w;
    char why[256];
    char *big = malloc(1024 * 1024 + 1);

    (void)state;
    assert_non_null(big);
    wire_fixture_init(&w);
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);

    /* 1 MB cwd: refused, naming the field, its size and the event's seq. */
    memset(big, 'a', 1024 * 1024);
    big[1024 * 1024] = '\0';
    w.ev.exec.cwd = big;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "event seq 40"));
    assert_non_null(strstr(why, "'exec.cwd'"));
    assert_non_null(strstr(why, "1048576 bytes (limit 4096)"));

    /* Exactly the limit is fine; one more byte is not. */
    big[BW_LIMIT_STRING] = '\0';
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);
    big[BW_LIMIT_STRING] = 'a';
    big[BW_LIMIT_STRING + 1] = '\0';
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);

    /* The stdio peer's address has its own, shorter limit. */
    wire_fixture_init(&w);
    big[BW_LIMIT_ADDR] = '\0';
    w.ev.exec.stdio_remote_addr = big;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);
    big[BW_LIMIT_ADDR] = 'a';
    big[BW_LIMIT_ADDR + 1] = '\0';
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "'exec.stdio_remote_addr' is 65 bytes (limit 64)"));

    /* A NUL inside a container id (the decoded copy would be cut at it). */
    wire_fixture_init(&w);
    w.ev.c.id = "4f1cXffee";
    assert_int_equal(check_packed(&w.frame, "4f1cXffee", "4f1c\0ffee", why, sizeof why),
                     BW_EPROTO);
    assert_non_null(strstr(why, "event seq 41"));  /* the first with a container */
    assert_non_null(strstr(why, "'container.id' has a nul byte"));

    /* Invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate. */
    const char *bad[] = {"/tmp/\x80x", "/tmp/\xc0\xafx", "/tmp/\xed\xa0\x80x", "/tmp/\xf5\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wire_fixture_init(&w);
        w.ev.exec.cwd = (char *)bad[i];
        assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
        assert_non_null(strstr(why, "'exec.cwd' is not valid utf-8"));
    }
    /* Valid multi-byte UTF-8 passes. */
    wire_fixture_init(&w);
    w.ev.exec.cwd = "/home/j\xc3\xbcrgen/\xe6\x97\xa5\xf0\x9f\x90\xb3";
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);

    /* Container ids have their own, shorter limit. */
    wire_fixture_init(&w);
    memset(big, 'f', 200);
    big[200] = '\0';
    w.ev.c.id = big;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "'container.id' is 200 bytes (limit 128)"));

    /* A secret finding's redacted match has its own limit: a key name and
     * stars, never room for a value; a misconfiguration's texts the usual. */
    Bulwark__V1__SecretFinding sec = BULWARK__V1__SECRET_FINDING__INIT;
    Bulwark__V1__MisconfigFinding mis = BULWARK__V1__MISCONFIG_FINDING__INIT;

    wire_fixture_init(&w);
    w.ev.ev[1].body_case = BULWARK__V1__EVENT__BODY_SECRET;
    w.ev.ev[1].secret = &sec;
    w.ev.ev[2].body_case = BULWARK__V1__EVENT__BODY_MISCONFIG;
    w.ev.ev[2].misconfig = &mis;
    memset(big, 'x', BW_LIMIT_SECRET_MATCH);
    big[BW_LIMIT_SECRET_MATCH] = '\0';
    sec.match_redacted = big;
    mis.message = big;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);
    big[BW_LIMIT_SECRET_MATCH] = 'x';
    big[BW_LIMIT_SECRET_MATCH + 1] = '\0';
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "event seq 41: field 'secret.match_redacted' is 129 bytes "
                                "(limit 128)"));
    sec.match_redacted = "AWS_KEY=****";  /* the misconfig's 129-byte message is fine */
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);
    free(big);
}

static void test_wire_counts_and_enums(void **state)
{
    struct wire_fixture w;
    Bulwark__V1__ContainerConfig cfg = BULWARK__V1__CONTAINER_CONFIG__INIT;
    Bulwark__V1__NetConnection net = BULWARK__V1__NET_CONNECTION__INIT;
    Bulwark__V1__ProcessRef proc = BULWARK__V1__PROCESS_REF__INIT;
    Bulwark__V1__ProcessAncestor anc = BULWARK__V1__PROCESS_ANCESTOR__INIT;
    Bulwark__V1__ProcessAncestor *ancs[BW_LIMIT_ANCESTORS + 1];
    char *caps[BW_LIMIT_REPEATED + 1];
    char why[256];

    (void)state;
    for (size_t i = 0; i <= BW_LIMIT_REPEATED; i++)
        caps[i] = "CAP_SYS_ADMIN";
    wire_fixture_init(&w);
    w.ev.ev[3].body_case = BULWARK__V1__EVENT__BODY_CONFIG;
    w.ev.ev[3].config = &cfg;
    cfg.cap_add = caps;
    cfg.n_cap_add = BW_LIMIT_REPEATED;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);
    cfg.n_cap_add = BW_LIMIT_REPEATED + 1;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "event seq 43"));
    assert_non_null(strstr(why, "'config.cap_add[256]' has more than 256 entries"));

    /* A process's ancestors have their own, smaller limit. */
    for (size_t i = 0; i <= BW_LIMIT_ANCESTORS; i++)
        ancs[i] = &anc;
    anc.name = "sh";
    wire_fixture_init(&w);
    w.ev.ev[2].process = &proc;
    proc.ancestors = ancs;
    proc.n_ancestors = BW_LIMIT_ANCESTORS;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), 0);
    proc.n_ancestors = BW_LIMIT_ANCESTORS + 1;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "event seq 42: field 'process.ancestors[16]' has more than 16 entries"));

    /* An enum value the schema does not declare. */
    wire_fixture_init(&w);
    w.ev.ev[0].body_case = BULWARK__V1__EVENT__BODY_NET;
    w.ev.ev[0].net = &net;
    net.protocol = (Bulwark__V1__NetConnection__Protocol)7;
    assert_int_equal(check_packed(&w.frame, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "event seq 40: field 'net.protocol' has no value 7"));
}

/* Hello: label texts must be UTF-8 (they were dropped silently from the
 * stored JSON), host names must not hide a NUL. */
static void test_wire_hello(void **state)
{
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__Hello h = BULWARK__V1__HELLO__INIT;
    Bulwark__V1__Labels l = BULWARK__V1__LABELS__INIT;
    Bulwark__V1__Labels__ExtraEntry e = BULWARK__V1__LABELS__EXTRA_ENTRY__INIT;
    Bulwark__V1__Labels__ExtraEntry *ep = &e;
    char why[256];

    (void)state;
    f.msg_case = BULWARK__V1__FRAME__MSG_HELLO;
    f.hello = &h;
    h.protocol_version = BULWARK_PROTOCOL_VERSION;
    h.agent_id = "web-01";
    h.hostname = "web-01.exampleXevil";
    h.epoch = 9;
    h.labels = &l;
    l.n_extra = 1;
    l.extra = &ep;
    e.key = "team";
    e.value = "caf\xc3\xa9";
    assert_int_equal(check_packed(&f, NULL, NULL, why, sizeof why), 0);
    assert_int_equal(check_packed(&f, "exampleXevil", "example\0evil", why, sizeof why),
                     BW_EPROTO);
    assert_string_equal(why, "field 'hello.hostname' has a nul byte");
    e.value = "caf\xe9";  /* Latin-1 */
    assert_int_equal(check_packed(&f, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_string_equal(why, "field 'hello.labels.extra[0].value' is not valid utf-8");
    e.value = "ok";
    h.agent_version = "1.0-with-a-version-string-that-goes-on-and-on-past-sixty-four-bytes";
    assert_int_equal(check_packed(&f, NULL, NULL, why, sizeof why), BW_EPROTO);
    assert_non_null(strstr(why, "'hello.agent_version' is 67 bytes (limit 64)"));
}

/* Builds f's batch, expecting a refusal whose reason contains `expect`. */
static void refused_with(struct fixture *f, const char *expect)
{
    struct ingest_batch ib;
    uint64_t next = 1;
    char why[256];

    assert_int_equal(ingest_batch_build(&f->b, NULL, NULL, "a", "h", 5, 4096, 1, &next, &ib, why,
                                        sizeof why),
                     BW_EPROTO);
    assert_non_null(strstr(why, expect));
    assert_int_equal(next, 1);
}

/* Numbers the schema cannot bound: ports, CPU, CVSS. */
static void test_event_numbers(void **state)
{
    struct fixture f;
    Bulwark__V1__NetConnection net = BULWARK__V1__NET_CONNECTION__INIT;
    Bulwark__V1__VulnFinding v = BULWARK__V1__VULN_FINDING__INIT;
    Bulwark__V1__ResourceSample r = BULWARK__V1__RESOURCE_SAMPLE__INIT;
    Bulwark__V1__ProcessExec x = BULWARK__V1__PROCESS_EXEC__INIT;

    (void)state;
    fixture_init(&f, 1);
    f.ev[5].body_case = BULWARK__V1__EVENT__BODY_NET;
    f.ev[5].net = &net;
    net.remote_port = 70000;
    refused_with(&f, "event seq 6: field 'net' has a port over 65535");
    fixture_init(&f, 1);
    f.ev[2].body_case = BULWARK__V1__EVENT__BODY_VULN;
    f.ev[2].vuln = &v;
    v.cvss_score = 11.5;
    refused_with(&f, "event seq 3: field 'vuln.cvss_score'");
    fixture_init(&f, 1);
    f.ev[0].body_case = BULWARK__V1__EVENT__BODY_RESOURCE;
    f.ev[0].resource = &r;
    r.cpu_cores = -1;
    refused_with(&f, "event seq 1: field 'resource.cpu_cores'");
    fixture_init(&f, 1);
    f.ev[3].body_case = BULWARK__V1__EVENT__BODY_EXEC;
    f.ev[3].exec = &x;
    x.stdio_remote_port = 65536;
    refused_with(&f, "event seq 4: field 'exec.stdio_remote_port' is over 65535");
}

/* wirecheck_event() on hand-made bytes: the edges of the walk's fast paths
 * (one-byte keys, skipped varints, ASCII checked a word at a time). */
static int raw_event(const uint8_t *tail, size_t n, char *why, size_t whylen)
{
    uint8_t b[64] = {0x08, 0x05};  /* seq 5 */

    assert_true(n <= sizeof b - 2);
    memcpy(b + 2, tail, n);
    return wirecheck_event(b, n + 2, 5, why, whylen);
}

static void test_wire_raw_edges(void **state)
{
    /* time_ns as the longest varint, one byte too long, cut short */
    static const uint8_t t10[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t t11[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t tcut[] = {0x10, 0xff, 0xff};
    /* fields the schema does not know: 200 (varint), 1000 (3 bytes), 9 */
    static const uint8_t unknown[] = {0xc0, 0x0c, 0x01, 0xc2, 0x3e, 0x03, 'a', 0x00, 0xff,
                                      0x4a, 0x01, 0x00};
    /* severity 200 and -1 */
    static const uint8_t sev200[] = {0x18, 0xc8, 0x01};
    static const uint8_t sevneg[] = {0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    char why[256];

    (void)state;
    assert_int_equal(raw_event(t10, sizeof t10, why, sizeof why), 0);
    assert_int_equal(raw_event(t11, sizeof t11, why, sizeof why), BW_EPROTO);
    assert_int_equal(raw_event(tcut, sizeof tcut, why, sizeof why), BW_EPROTO);
    assert_int_equal(raw_event(unknown, sizeof unknown, why, sizeof why), 0);
    assert_int_equal(raw_event(sev200, sizeof sev200, why, sizeof why), BW_EPROTO);
    assert_string_equal(why, "event seq 5: field 'severity' has no value 200");
    assert_int_equal(raw_event(sevneg, sizeof sevneg, why, sizeof why), BW_EPROTO);
    assert_string_equal(why, "event seq 5: field 'severity' has no value -1");

    /* exec.cwd of every length up to 20: a NUL or a stray 0x80 anywhere in
     * it is found, whichever word or tail it falls in */
    for (size_t len = 1; len <= 20; len++) {
        uint8_t ex[24] = {0x52, (uint8_t)(len + 2), 0x0a, (uint8_t)len};
        memset(ex + 4, 'a', len);
        assert_int_equal(raw_event(ex, len + 4, why, sizeof why), 0);
        for (size_t at = 0; at < len; at++) {
            ex[4 + at] = 0;
            assert_int_equal(raw_event(ex, len + 4, why, sizeof why), BW_EPROTO);
            assert_string_equal(why, "event seq 5: field 'exec.cwd' has a nul byte");
            ex[4 + at] = 0x80;
            assert_int_equal(raw_event(ex, len + 4, why, sizeof why), BW_EPROTO);
            assert_string_equal(why, "event seq 5: field 'exec.cwd' is not valid utf-8");
            ex[4 + at] = 0x7f;
            assert_int_equal(raw_event(ex, len + 4, why, sizeof why), 0);
            ex[4 + at] = 'a';
        }
    }
}

/* The labels the store keeps: evjson's rendering, sorted, set fields only. */
static void test_hello_labels_json(void **state)
{
    Bulwark__V1__Hello h = BULWARK__V1__HELLO__INIT;
    Bulwark__V1__Labels l = BULWARK__V1__LABELS__INIT;
    Bulwark__V1__Labels__ExtraEntry e1 = BULWARK__V1__LABELS__EXTRA_ENTRY__INIT,
                                    e2 = BULWARK__V1__LABELS__EXTRA_ENTRY__INIT;
    Bulwark__V1__Labels__ExtraEntry *extra[] = {&e1, &e2};
    char *s;

    (void)state;
    s = ingest_hello_labels_json(&h);
    assert_non_null(s);
    assert_string_equal(s, "{}");
    free(s);
    l.cloud = "aws";
    l.tenant = "t\"1";
    e1.key = "team";
    e1.value = "web";
    e2.key = "app";
    e2.value = "caf\xc3\xa9";
    l.n_extra = 2;
    l.extra = extra;
    h.labels = &l;
    s = ingest_hello_labels_json(&h);
    assert_non_null(s);
    assert_string_equal(s, "{\"cloud\":\"aws\",\"extra\":{\"app\":\"caf\xc3\xa9\",\"team\":\"web\"},"
                           "\"tenant\":\"t\\\"1\"}");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_batch_ok_and_resend),
        cmocka_unit_test(test_batch_refusals),
        cmocka_unit_test(test_batch_seq_range),
        cmocka_unit_test(test_wire_strings),
        cmocka_unit_test(test_wire_counts_and_enums),
        cmocka_unit_test(test_wire_hello),
        cmocka_unit_test(test_event_numbers),
        cmocka_unit_test(test_wire_raw_edges),
        cmocka_unit_test(test_hello_labels_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
