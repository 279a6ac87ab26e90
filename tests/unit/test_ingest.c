/* test_ingest.c - hello identity checks and batch validation (pure stage). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/ingest.h"

static void test_hello(void **state)
{
    Bulwark__V1__Hello h = BULWARK__V1__HELLO__INIT;
    char why[256];

    (void)state;
    h.protocol_version = 1;
    h.agent_id = "web-01";
    h.epoch = 9;
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), 0);
    /* Another agent's id: refused as an identity problem, with both names. */
    assert_int_equal(ingest_check_hello(&h, "web-02", why, sizeof why), BW_EAUTH);
    assert_non_null(strstr(why, "web-01"));
    assert_non_null(strstr(why, "web-02"));
    assert_int_equal(ingest_check_hello(&h, NULL, why, sizeof why), BW_EAUTH);
    h.protocol_version = 2;
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), BW_EPROTO);
    h.protocol_version = 1;
    h.epoch = 0;
    assert_int_equal(ingest_check_hello(&h, "web-01", why, sizeof why), BW_EPROTO);
    h.epoch = 9;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_batch_ok_and_resend),
        cmocka_unit_test(test_batch_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
