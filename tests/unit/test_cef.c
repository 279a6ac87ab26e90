/* test_cef.c - CEF encoding (server/api/encode_cef.c): golden lines for the
 * escaping rules of the header (| and \) and of extension values (=, \,
 * newlines), an alert and an event as the syslog forwarder sends them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/api/api_internal.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"

#define V BULWARK_VERSION

static char *S_text(struct buf *b)
{
    char *s = calloc(1, buf_size(b) + 1);
    assert_non_null(s);
    if (buf_size(b))
        memcpy(s, buf_head(b), buf_size(b));
    return s;
}

static void S_expect(int (*fn)(struct buf *, const char *), const char *in, const char *want)
{
    struct buf b;
    char *got;

    buf_init(&b, 4096);
    assert_int_equal(fn(&b, in), 0);
    got = S_text(&b);
    assert_string_equal(got, want);
    free(got);
    buf_release(&b);
}

static void test_header_escaping(void **state)
{
    (void)state;
    S_expect(enc_cef_header, "plain", "plain");
    S_expect(enc_cef_header, "a|b", "a\\|b");
    S_expect(enc_cef_header, "back\\slash", "back\\\\slash");
    S_expect(enc_cef_header, "\\|", "\\\\\\|");
    /* = needs no escape in the header; newlines cannot be there at all */
    S_expect(enc_cef_header, "k=v", "k=v");
    S_expect(enc_cef_header, "two\nlines\r", "two lines ");
    S_expect(enc_cef_header, "", "");
}

static void test_value_escaping(void **state)
{
    (void)state;
    S_expect(enc_cef_value, "plain text", "plain text");
    S_expect(enc_cef_value, "a=b", "a\\=b");
    S_expect(enc_cef_value, "c:\\dir", "c:\\\\dir");
    S_expect(enc_cef_value, "line1\nline2\r\n", "line1\\nline2\\r\\n");
    /* a pipe is plain in the extension */
    S_expect(enc_cef_value, "x|y", "x|y");
    S_expect(enc_cef_value, "tab\there", "tab here");
    S_expect(enc_cef_value, "\\=\n", "\\\\\\=\\n");
}

static void test_severity(void **state)
{
    (void)state;
    assert_int_equal(enc_cef_severity(0), 0);
    assert_int_equal(enc_cef_severity(2), 2);
    assert_int_equal(enc_cef_severity(4), 5);
    assert_int_equal(enc_cef_severity(6), 8);
    assert_int_equal(enc_cef_severity(8), 10);
    assert_int_equal(enc_cef_severity(42), 5);
}

static void test_alert_golden(void **state)
{
    struct store_alert_row row = {
        .id = 17,
        .rule = "Shell | in container\\x",
        .priority = 6,
        .output = "sh -c 'a=b'\nsecond line",
        .source = "rule",
        .group_key = "",
        .agent_id = "agent-1",
        .hostname = "web=1",
        .container_id = "c0ffee",
        .image = "nginx:1.25",
        .first_seen_ns = 1714564800123000000LL,
        .last_seen_ns = 1714564860456000000LL,
        .count = 3,
        .status = "open",
        .status_note = "",
        .status_by = "",
    };
    struct buf b;
    char *got;

    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(enc_cef_alert(&row, &b), 0);
    got = S_text(&b);
    assert_string_equal(got,
                        "CEF:0|Bulwark|Bulwark|" V "|Shell \\| in container\\\\x|Shell \\| in "
                        "container\\\\x|8|externalId=17 rt=1714564860456 start=1714564800123 "
                        "end=1714564860456 cnt=3 cat=rule dhost=web\\=1 "
                        "deviceExternalId=agent-1 cs1Label=container cs1=c0ffee "
                        "cs2Label=image cs2=nginx:1.25 cs3Label=status cs3=open "
                        "msg=sh -c 'a\\=b'\\nsecond line");
    assert_null(strchr(got, '\n'));
    free(got);
    buf_release(&b);
}

static void test_event_golden(void **state)
{
    static const char line[] =
        "{\"kind\":\"net\",\"seq\":5,\"time_ns\":1714564800000000000,\"severity\":\"warning\","
        "\"process\":{\"pid\":99,\"name\":\"cu|rl\",\"user\":\"root\"},"
        "\"net\":{\"direction\":\"outbound\",\"protocol\":\"tcp\",\"local_addr\":\"10.0.0.2\","
        "\"local_port\":40000,\"remote_addr\":\"203.0.113.9\",\"remote_port\":3333}}";
    Bulwark__V1__Event *ev = NULL;
    struct store_row row = {0};
    struct buf b;
    uint8_t *packed;
    char err[200], *got;

    (void)state;
    assert_int_equal(evjson_event_from_line(line, strlen(line), &ev, err, sizeof err), 0);
    row.body_len = bulwark__v1__event__get_packed_size(ev);
    packed = malloc(row.body_len);
    assert_non_null(packed);
    bulwark__v1__event__pack(ev, packed);
    row.body = packed;
    row.id = 9;
    row.seq = 5;
    row.time_ns = ev->time_ns;
    row.kind = (int32_t)ev->body_case;
    row.severity = ev->severity;
    row.agent_id = "agent-1";
    row.hostname = "h1";
    row.container_id = "";
    buf_init(&b, 4096);
    assert_int_equal(enc_cef_event(&row, &b), 0);
    got = S_text(&b);
    assert_string_equal(got, "CEF:0|Bulwark|Bulwark|" V "|net|net|5|externalId=9 "
                             "rt=1714564800000 dhost=h1 deviceExternalId=agent-1 dproc=cu|rl "
                             "dpid=99 duser=root src=10.0.0.2 spt=40000 dst=203.0.113.9 "
                             "dpt=3333 deviceDirection=1");
    free(got);
    buf_release(&b);
    free(packed);
    evjson_event_free(ev);
}

/* A buffer too small for the line: an error, never a cut line. */
static void test_bounded(void **state)
{
    struct store_alert_row row = {.id = 1, .rule = "r", .output = "x", .source = "rule",
                                  .group_key = "", .agent_id = "", .hostname = "",
                                  .container_id = "", .image = "", .status = "open",
                                  .status_note = "", .status_by = ""};
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_true(enc_cef_alert(&row, &b) < 0);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_escaping), cmocka_unit_test(test_value_escaping),
        cmocka_unit_test(test_severity),        cmocka_unit_test(test_alert_golden),
        cmocka_unit_test(test_event_golden),    cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
