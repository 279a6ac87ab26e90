/* test_srvstate.c - the loop's two doors for other threads: the published
 * state (srvstate: agents up/down/health across replaced streams, copies
 * that outlive the entry, growth past the first chain table) and the
 * command queue (cmdq: commands run on the loop thread, in order, refused
 * once closed, from many threads at once). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>
#include <uv.h>

#include "bulwark/cmdq.h"
#include "bulwark/err.h"
#include "bulwark/srvstate.h"

static struct srvstate_agent agent(const char *id, uint64_t stream)
{
    struct srvstate_agent a = {.stream = stream, .connected_ns = 1};
    snprintf(a.agent_id, sizeof a.agent_id, "%s", id);
    snprintf(a.hostname, sizeof a.hostname, "host-%s", id);
    return a;
}

static void test_agents_up_down(void **state)
{
    struct srvstate *st;
    struct srvstate_agent a, out;
    struct srvstate_health h = {.at_ns = 5, .spool_dropped = 7, .spool_depth = 3};
    (void)state;
    assert_int_equal(srvstate_new(&st), 0);
    a = agent("a1", 1);
    srvstate_agent_up(st, &a);
    srvstate_agent_health(st, "a1", &h);
    assert_true(srvstate_agent_get(st, "a1", &out));
    assert_int_equal(out.health.spool_dropped, 7);
    assert_string_equal(out.hostname, "host-a1");
    /* a new stream of the same agent replaces it; the old stream's late
     * close must not take the new one down */
    a = agent("a1", 2);
    srvstate_agent_up(st, &a);
    srvstate_agent_down(st, "a1", 1);
    assert_true(srvstate_agent_get(st, "a1", &out));
    assert_int_equal(out.stream, 2);
    assert_int_equal(out.health.at_ns, 0);  /* a new stream has no heartbeat yet */
    srvstate_agent_down(st, "a1", 2);
    assert_false(srvstate_agent_get(st, "a1", &out));
    srvstate_agent_health(st, "a1", &h);  /* for an agent gone: ignored */
    assert_false(srvstate_agent_get(st, "a1", &out));
    srvstate_free(st);
}

static void test_many_agents_and_sums(void **state)
{
    struct srvstate *st;
    struct srvstate_counters c = {.connected = 3000, .ready = true}, got;
    static struct srvstate_agent list[4000];
    char id[32];
    (void)state;
    assert_int_equal(srvstate_new(&st), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "agent-%d", i);
        struct srvstate_agent a = agent(id, (uint64_t)i + 1);
        struct srvstate_health h = {.at_ns = 1, .spool_dropped = 1, .spool_depth = 2};
        srvstate_agent_up(st, &a);
        srvstate_agent_health(st, id, &h);
    }
    for (int i = 0; i < 3000; i += 2) {
        snprintf(id, sizeof id, "agent-%d", i);
        srvstate_agent_down(st, id, (uint64_t)i + 1);
    }
    assert_int_equal(srvstate_agents(st, list, 10), 1500);
    assert_int_equal(srvstate_agents(st, list, 4000), 1500);
    for (int i = 0; i < 1500; i++) {
        int n;
        assert_int_equal(sscanf(list[i].agent_id, "agent-%d", &n), 1);
        assert_int_equal(n % 2, 1);
    }
    srvstate_publish(st, &c);
    srvstate_counters(st, &got);
    assert_int_equal(got.connected, 3000);
    assert_int_equal(got.agent_spool_dropped, 1500);
    assert_int_equal(got.agent_spool_depth, 3000);
    assert_true(got.ready);
    srvstate_free(st);
}

/* ------------------------------------------------------------------ cmdq */

struct loop_ctx {
    pthread_t loop_thread;
    int ran;
    int order[64];
};

static int cmd_record(void *loop_ctx, void *arg)
{
    struct loop_ctx *lc = loop_ctx;
    /* commands run on the loop's thread, never the caller's */
    assert_true(pthread_equal(pthread_self(), lc->loop_thread));
    if (lc->ran < 64)
        lc->order[lc->ran] = (int)(intptr_t)arg;
    lc->ran++;
    return (int)(intptr_t)arg;
}

struct caller {
    struct cmdq *q;
    int base, n, failures;
};

static void *caller_main(void *p)
{
    struct caller *c = p;
    for (int i = 0; i < c->n; i++)
        if (cmdq_call(c->q, cmd_record, (void *)(intptr_t)(c->base + i)) != c->base + i)
            c->failures++;
    return NULL;
}

struct stopper {
    uv_timer_t t;
    struct cmdq *q;
    struct caller *callers;
    int ncallers;
};

static void on_check(uv_timer_t *t)
{
    struct stopper *s = t->data;
    struct loop_ctx *lc = uv_loop_get_data(t->loop);
    if (lc->ran < s->ncallers * 50)
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    cmdq_close(s->q, NULL, NULL);
}

static void test_cmdq(void **state)
{
    uv_loop_t loop;
    struct loop_ctx lc = {0};
    struct cmdq *q;
    struct stopper s = {0};
    struct caller callers[4];
    pthread_t th[4];
    (void)state;
    uv_loop_init(&loop);
    uv_loop_set_data(&loop, &lc);
    lc.loop_thread = pthread_self();
    assert_int_equal(cmdq_new(&q, &loop, &lc), 0);
    for (int i = 0; i < 4; i++) {
        callers[i] = (struct caller){q, 1000 * (i + 1), 50, 0};
        pthread_create(&th[i], NULL, caller_main, &callers[i]);
    }
    s.q = q;
    s.ncallers = 4;
    uv_timer_init(&loop, &s.t);
    s.t.data = &s;
    uv_timer_start(&s.t, on_check, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(callers[i].failures, 0);
    }
    assert_int_equal(lc.ran, 200);
    /* closed: refused without running */
    assert_int_equal(cmdq_call(q, cmd_record, (void *)1), BW_ECLOSED);
    assert_int_equal(lc.ran, 200);
    assert_int_equal(uv_loop_close(&loop), 0);
    cmdq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agents_up_down),
        cmocka_unit_test(test_many_agents_and_sums),
        cmocka_unit_test(test_cmdq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
