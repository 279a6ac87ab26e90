/* test_hostbind.c - host name -> agent id bindings: first claim holds,
 * another agent's claim is a conflict naming the holder, a rename frees the
 * old name, the table stays one entry per agent through growth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/hostbind.h"

static void test_claims(void **state)
{
    struct hostbind *hb = hostbind_new();
    const char *owner = NULL;

    (void)state;
    assert_non_null(hb);
    assert_int_equal(hostbind_claim(hb, "web-01", "agent-a", &owner), 0);
    assert_int_equal(hostbind_claim(hb, "web-01", "agent-a", &owner), 0);  /* reconnect */
    assert_int_equal(hostbind_claim(hb, "web-01", "agent-b", &owner), BW_EAUTH);
    assert_string_equal(owner, "agent-a");
    assert_int_equal(hostbind_claim(hb, "db-01", "agent-b", &owner), 0);
    assert_int_equal(hostbind_count(hb), 2);
    /* agent-a renames its host: web-01 is free for anyone, web-02 is a's. */
    assert_int_equal(hostbind_claim(hb, "web-02", "agent-a", &owner), 0);
    assert_int_equal(hostbind_count(hb), 2);
    assert_int_equal(hostbind_claim(hb, "web-02", "agent-b", &owner), BW_EAUTH);
    assert_string_equal(owner, "agent-a");
    assert_int_equal(hostbind_claim(hb, "web-01", "agent-c", &owner), 0);
    assert_int_equal(hostbind_count(hb), 3);
    hostbind_free(hb);
    hostbind_free(NULL);
}

/* Many agents (the table doubles several times), each renaming: one entry
 * per agent and every binding still found by both names. */
static void test_growth(void **state)
{
    struct hostbind *hb = hostbind_new();
    const char *owner;
    char host[32], agent[32];

    (void)state;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(host, sizeof host, "host-%d-%d", round, i);
            snprintf(agent, sizeof agent, "agent-%d", i);
            assert_int_equal(hostbind_claim(hb, host, agent, &owner), 0);
        }
    }
    assert_int_equal(hostbind_count(hb), 5000);
    for (int i = 0; i < 5000; i += 97) {
        snprintf(host, sizeof host, "host-1-%d", i);
        snprintf(agent, sizeof agent, "agent-%d", (i + 1) % 5000);
        assert_int_equal(hostbind_claim(hb, host, agent, &owner), BW_EAUTH);
        snprintf(agent, sizeof agent, "agent-%d", i);
        assert_string_equal(owner, agent);
        snprintf(host, sizeof host, "host-0-%d", i);  /* given up by the rename */
        assert_int_equal(hostbind_claim(hb, host, "newcomer", &owner), 0);
        assert_int_equal(hostbind_claim(hb, "parking", "newcomer", &owner), 0);
    }
    assert_int_equal(hostbind_count(hb), 5001);
    hostbind_free(hb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
