/* test_rulestage.c - the rules stage's reload: it compiles on a worker
 * thread and returns to the loop at once, swaps the new rules in on the
 * loop, keeps the running rules when the new files are refused (macros that
 * would expand without bound), and a reload asked for during another runs
 * after it; the blocking rulestage_reload() does the same in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "bulwark/err.h"
#include "bulwark/rulestage.h"

static char path[256];

static void write_rules(unsigned nrules, unsigned nested)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "- macro: m0\n  condition: proc.name = x\n");
    for (unsigned k = 1; k <= nested; k++)
        fprintf(f, "- macro: m%u\n  condition: (m%u or m%u)\n", k, k - 1, k - 1);
    for (unsigned k = 0; k < nrules; k++)
        fprintf(f, "- rule: r%u\n  desc: d\n  condition: evt.type = execve and m%u\n  output: o\n"
                   "  priority: INFO\n", k, nested);
    fclose(f);
}

struct done {
    int calls;
    int status[4];
};

static void on_done(struct rulestage *rs, int status, void *ctx)
{
    struct done *d = ctx;

    (void)rs;
    if (d->calls < 4)
        d->status[d->calls] = status;
    d->calls++;
}

static int count_enabled(void *ctx, const char *name, const char *file, unsigned line,
                         const char *disabled_reason)
{
    (void)name, (void)file, (void)line;
    *(size_t *)ctx += disabled_reason == NULL;
    return 0;
}

static size_t enabled_of(const struct rulestage *rs)
{
    size_t enabled = 0;

    rulestage_foreach(rs, count_enabled, &enabled);
    return enabled;
}

static void test_reload_beside_the_loop(void **state)
{
    struct rulestage *rs = NULL;
    struct done d = {0};
    uv_loop_t loop;
    (void)state;

    snprintf(path, sizeof path, "/tmp/bw-test-rulestage-%d.yaml", (int)getpid());
    assert_int_equal(uv_loop_init(&loop), 0);
    write_rules(3, 2);
    assert_int_equal(rulestage_open(&rs, path), 0);
    assert_int_equal(enabled_of(rs), 3);

    /* a good file: nothing changes until the loop runs the hand-back */
    write_rules(5, 2);
    assert_int_equal(rulestage_reload_start(rs, &loop, on_done, &d), 0);
    assert_int_equal(d.calls, 0);
    assert_int_equal(enabled_of(rs), 3);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status[0], 0);
    assert_int_equal(enabled_of(rs), 5);

    /* macros doubling 30 times: refused, the running rules stay */
    write_rules(1, 30);
    assert_int_equal(rulestage_reload_start(rs, &loop, on_done, &d), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.status[1], BW_ECONFIG);
    assert_int_equal(enabled_of(rs), 5);

    /* two requests while one runs: the second reads the files again after */
    write_rules(7, 1);
    assert_int_equal(rulestage_reload_start(rs, &loop, on_done, &d), 0);
    assert_int_equal(rulestage_reload_start(rs, &loop, on_done, &d), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(d.calls, 4);
    assert_int_equal(d.status[2], 0);
    assert_int_equal(d.status[3], 0);
    assert_int_equal(enabled_of(rs), 7);

    /* the blocking form (for callers that need the outcome at once) */
    write_rules(2, 30);
    assert_int_equal(rulestage_reload(rs), BW_ECONFIG);
    assert_int_equal(enabled_of(rs), 7);
    write_rules(2, 1);
    assert_int_equal(rulestage_reload(rs), 0);
    assert_int_equal(enabled_of(rs), 2);

    rulestage_free(rs);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_beside_the_loop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
