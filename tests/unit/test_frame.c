/* test_frame.c - framing: length prefixes, bounds, partial input, batches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/frame.h"

static void encode_hello(struct buf *out, const char *id)
{
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT;
    Bulwark__V1__Hello h = BULWARK__V1__HELLO__INIT;
    h.protocol_version = BULWARK_PROTOCOL_VERSION;
    h.agent_id = (char *)id;
    h.epoch = 42;
    f.msg_case = BULWARK__V1__FRAME__MSG_HELLO;
    f.hello = &h;
    assert_int_equal(frame_encode(&f, FRAME_DEFAULT_MAX, out), 0);
}

static void test_roundtrip_bytewise(void **state)
{
    struct buf out;
    struct frame_reader r;
    const uint8_t *p;
    size_t len, i;
    int got = 0;

    (void)state;
    buf_init(&out, 1 << 20);
    encode_hello(&out, "agent-1");
    encode_hello(&out, "agent-2");
    frame_reader_init(&r, 1024);
    /* One byte at a time: partial headers and bodies must wait, not fail. */
    for (i = 0; i < buf_size(&out); i++) {
        assert_int_equal(frame_reader_feed(&r, buf_head(&out) + i, 1), 0);
        int rc = frame_reader_next(&r, &p, &len);
        assert_true(rc >= 0);
        if (rc == 1) {
            Bulwark__V1__Frame *f = frame_decode(p, len, NULL);
            assert_non_null(f);
            assert_int_equal(f->msg_case, BULWARK__V1__FRAME__MSG_HELLO);
            assert_string_equal(f->hello->agent_id, got == 0 ? "agent-1" : "agent-2");
            assert_int_equal(f->hello->epoch, 42);
            frame_free(f, NULL);
            got++;
        }
    }
    assert_int_equal(got, 2);
    frame_reader_release(&r);
    buf_release(&out);
}

static void test_limits(void **state)
{
    struct frame_reader r;
    const uint8_t *p;
    size_t len;
    const uint8_t big[4] = {0, 0, 4, 1};   /* 1025 > 1024 */
    const uint8_t zero[4] = {0, 0, 0, 0};

    (void)state;
    frame_reader_init(&r, 1024);
    assert_int_equal(frame_reader_feed(&r, big, 4), 0);
    assert_int_equal(frame_reader_next(&r, &p, &len), BW_ETOOBIG);
    frame_reader_release(&r);

    frame_reader_init(&r, 1024);
    assert_int_equal(frame_reader_feed(&r, zero, 4), 0);
    assert_int_equal(frame_reader_next(&r, &p, &len), BW_EPROTO);
    frame_reader_release(&r);
}

static void test_garbage_is_not_a_frame(void **state)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    const uint8_t empty_frame[] = {0x08, 0x01};  /* field 1 as varint: wrong type */

    (void)state;
    assert_null(frame_decode(junk, sizeof junk, NULL));
    assert_null(frame_decode(empty_frame, sizeof empty_frame, NULL));
}

static void test_batch_from_packed(void **state)
{
    Bulwark__V1__Event ev = BULWARK__V1__EVENT__INIT;
    Bulwark__V1__NetConnection net = BULWARK__V1__NET_CONNECTION__INIT;
    struct frame_batch b;
    struct buf out;
    struct frame_reader r;
    uint8_t packed[256];
    const uint8_t *p;
    size_t len, n;
    Bulwark__V1__Frame *f;

    (void)state;
    net.remote_addr = "192.0.2.7";
    net.remote_port = 3333;
    ev.body_case = BULWARK__V1__EVENT__BODY_NET;
    ev.net = &net;
    frame_batch_init(&b, 1 << 20);
    for (uint64_t seq = 1; seq <= 300; seq++) {
        ev.seq = seq;
        n = bulwark__v1__event__pack(&ev, packed);
        assert_int_equal(frame_batch_add(&b, packed, n), 0);
    }
    size_t predicted = frame_batch_size_with(&b, 0);
    buf_init(&out, 1 << 20);
    assert_int_equal(frame_batch_finish(&b, 7, FRAME_DEFAULT_MAX, &out), 0);
    assert_true(buf_size(&out) - 4 <= predicted);
    frame_reader_init(&r, FRAME_DEFAULT_MAX);
    assert_int_equal(frame_reader_feed(&r, buf_head(&out), buf_size(&out)), 0);
    assert_int_equal(frame_reader_next(&r, &p, &len), 1);
    f = frame_decode(p, len, NULL);
    assert_non_null(f);
    assert_int_equal(f->msg_case, BULWARK__V1__FRAME__MSG_BATCH);
    assert_int_equal(f->batch->epoch, 7);
    assert_int_equal(f->batch->n_events, 300);
    assert_int_equal(f->batch->events[299]->seq, 300);
    assert_int_equal(f->batch->events[0]->net->remote_port, 3333);
    {
        /* The raw scan finds each event's own bytes, in order. */
        const uint8_t *raw[300];
        size_t evlen[300], got = 0;
        assert_int_equal(frame_batch_scan(p, len, raw, evlen, 300, &got), 0);
        assert_int_equal(got, 300);
        Bulwark__V1__Event *e = bulwark__v1__event__unpack(NULL, evlen[41], raw[41]);
        assert_non_null(e);
        assert_int_equal(e->seq, 42);
        bulwark__v1__event__free_unpacked(e, NULL);
        assert_int_equal(frame_batch_scan(p, len, raw, evlen, 299, &got), BW_EPROTO);
        assert_int_equal(frame_batch_scan(p, len - 1, raw, evlen, 300, &got), BW_EPROTO);
    }
    frame_free(f, NULL);
    /* A batch over max_frame is refused. */
    assert_int_equal(frame_batch_add(&b, packed, n), 0);
    assert_int_equal(frame_batch_finish(&b, 7, 4, &out), BW_ETOOBIG);
    frame_reader_release(&r);
    frame_batch_release(&b);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bytewise),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_garbage_is_not_a_frame),
        cmocka_unit_test(test_batch_from_packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
