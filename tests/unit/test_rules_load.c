/* test_rules_load.c - the rule loader and condition compiler on hostile and
 * real input: constant operands in every position of AND/OR (the double
 * free Falco's stable file hit), Falco's three upstream rule files, macros
 * nested to blow up, a condition of 100,000 clauses, load work that grows
 * linearly with the number of rules, and refused files that leak nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/rules/internal.h"
#include "bulwark/err.h"
#include "bulwark/rules.h"

/* ------------------------------------------------------------ helpers */

/* The first and the last diagnostic (the one that refused a load) and how
 * many there were. */
struct diags {
    char first[1024], last[1024];
    unsigned count;
};

static void on_diag(void *ctx, const char *file, unsigned line, const char *msg)
{
    struct diags *d = ctx;

    snprintf(d->last, sizeof d->last, "%s:%u: %s", file ? file : "-", line, msg);
    if (d->count++ == 0)
        memcpy(d->first, d->last, sizeof d->first);
}

static int load(const char *text, struct ruleset **rs, struct diags *d)
{
    memset(d, 0, sizeof *d);
    *rs = NULL;
    return ruleset_load_text(rs, "t.yaml", text, strlen(text), on_diag, d);
}

/* A growing text buffer for generated rule files. */
struct text {
    char *s;
    size_t n, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int need;

    for (;;) {
        va_start(ap, fmt);
        need = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        assert_true(need >= 0);
        if (t->s && t->n + (size_t)need < t->cap)
            break;
        t->cap = (t->cap + (size_t)need + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    t->n += (size_t)need;
}

/* ------------------------------------------- constants in AND / OR */

/* Every sequence of up to four operands, each always true, always false or
 * depending on the event (for exec events), joined by `and` or by `or`,
 * plain and negated, loads: simplifying drops or decides on the constants
 * wherever they stand (a true operand before a false one in an AND freed
 * an operand twice). */
static void test_constant_operands_anywhere(void **state)
{
    static const char *const atoms[] = {
        "evt.type = execve",             /* true on exec events */
        "container.privileged = true",   /* a config field: false on exec events */
        "proc.name = sh",                /* depends */
        "bulwark.kind = exec",           /* true, by the kind */
    };
    static const char *const joins[] = {" and ", " or "};
    (void)state;

    for (size_t len = 1; len <= 4; len++) {
        size_t combos = 1;

        for (size_t i = 0; i < len; i++)
            combos *= 4;
        for (size_t c = 0; c < combos; c++) {
            for (size_t j = 0; j < 2; j++) {
                for (int neg = 0; neg < 2; neg++) {
                    char cond[512] = "", text[1024];
                    struct ruleset *rs;
                    struct diags d;
                    size_t total;

                    for (size_t i = 0, x = c; i < len; i++, x /= 4) {
                        strcat(cond, i ? joins[j] : "");
                        strcat(cond, atoms[x % 4]);
                    }
                    snprintf(text, sizeof text,
                             "- rule: r\n  desc: d\n  condition: evt.type = execve and %s(%s)\n"
                             "  output: o\n  priority: INFO\n", neg ? "not " : "", cond);
                    if (load(text, &rs, &d) != 0)
                        fail_msg("refused: %s: %s", cond, d.first);
                    ruleset_counts(rs, &total, NULL, NULL);
                    assert_int_equal(total, 1);
                    ruleset_free(rs);
                }
            }
        }
    }
}

/* ------------------------------------------- Falco's upstream files */

struct upstream {
    const char *files[3];
    size_t nfiles;
    size_t total, min_enabled;   /* enabled counts when pinned; more is fine */
};

static void test_falco_upstream_files(void **state)
{
    static const struct upstream cases[] = {
        {{"falco_rules.yaml"}, 1, 25, 8},
        {{"falco-incubating_rules.yaml"}, 1, 31, 7},
        {{"falco-sandbox_rules.yaml"}, 1, 37, 5},
        {{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}, 3, 93, 20},
    };
    const char *src = getenv("BW_SOURCE_DIR");
    (void)state;

    assert_non_null(src);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char paths[3][1024];
        const char *pp[3];
        struct ruleset *rs = NULL;
        struct diags d = {.count = 0};
        size_t total, enabled;
        int rc;

        for (size_t f = 0; f < cases[i].nfiles; f++) {
            snprintf(paths[f], sizeof paths[f], "%s/tests/fixtures/falco-rules/%s", src, cases[i].files[f]);
            pp[f] = paths[f];
        }
        rc = ruleset_load(&rs, pp, cases[i].nfiles, on_diag, &d);
        if (rc != 0)
            fail_msg("%s refused: %s", cases[i].files[0], d.first);
        ruleset_counts(rs, &total, &enabled, NULL);
        print_message("%s%s: %zu rules, %zu enabled\n", cases[i].files[0], cases[i].nfiles > 1 ? " (+2)" : "",
                      total, enabled);
        assert_int_equal(total, cases[i].total);
        assert_true(enabled >= cases[i].min_enabled);
        ruleset_free(rs);
    }
}

/* -------------------------------------------- what a file may cost */

/* Macros that double at each level (m1: m0 or m0, ...): 22 levels took 7 s
 * and 1.7 GB, 40 levels passed 12 GB. The expansion is bounded by the size
 * of the file, so both are refused (file:line of the rule) at once; a few
 * levels still compile. The same for lists of lists. */
static void test_nested_macros_bounded(void **state)
{
    static const unsigned depths[] = {8, 22, 40};
    (void)state;

    for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
        struct text t = {0};
        struct ruleset *rs;
        struct diags d;
        int rc;

        text_add(&t, "- macro: m0\n  condition: proc.name = x\n");
        for (unsigned k = 1; k <= depths[i]; k++)
            text_add(&t, "- macro: m%u\n  condition: (m%u or m%u)\n", k, k - 1, k - 1);
        text_add(&t, "- rule: r\n  desc: d\n  condition: evt.type = execve and m%u\n"
                     "  output: o\n  priority: INFO\n", depths[i]);
        rc = load(t.s, &rs, &d);
        if (depths[i] == 8) {
            if (rc != 0)
                fail_msg("refused: %s", d.first);
            ruleset_free(rs);
        } else {
            char want[64];

            assert_int_equal(rc, BW_ECONFIG);
            snprintf(want, sizeof want, "t.yaml:%u: rule 'r': conditions expand", 2 * depths[i] + 3);
            if (!strstr(d.last, want))
                fail_msg("depth %u: %s", depths[i], d.last);
        }
        free(t.s);
    }
    {
        struct text t = {0};
        struct ruleset *rs;
        struct diags d;

        text_add(&t, "- list: l0\n  items: [sh, bash]\n");
        for (unsigned k = 1; k <= 40; k++)
            text_add(&t, "- list: l%u\n  items: [l%u, l%u]\n", k, k - 1, k - 1);
        for (unsigned k = 0; k < 64; k++)
            text_add(&t, "- rule: r%u\n  desc: d\n  condition: proc.name in (l40)\n  output: o\n"
                         "  priority: INFO\n", k);
        assert_int_equal(load(t.s, &rs, &d), BW_ECONFIG);
        assert_non_null(strstr(d.last, "conditions expand to too many"));
        free(t.s);
    }
}

struct big_load {
    const char *text;
    int rc;
    size_t total, enabled;
};

static void *big_load_run(void *arg)
{
    struct big_load *b = arg;
    struct ruleset *rs = NULL;
    struct diags d;

    b->rc = load(b->text, &rs, &d);
    if (b->rc == 0) {
        ruleset_counts(rs, &b->total, &b->enabled, NULL);
        ruleset_free(rs);
    }
    return NULL;
}

/* A condition of 100,000 `and` clauses (and as many `or`) overflowed the
 * stack in flatten and killed the server at start and on SIGHUP. It loads
 * now on a thread with a 1 MiB stack (a reload runs on a worker thread),
 * and the rule works. */
static void test_100k_clauses_no_deep_recursion(void **state)
{
    static const char *const joins[] = {" and ", " or "};
    (void)state;

    for (size_t j = 0; j < 2; j++) {
        struct text t = {0};
        struct big_load b = {0};
        pthread_attr_t attr;
        pthread_t th;

        text_add(&t, "- rule: r\n  desc: d\n  condition: evt.type = execve and (");
        for (unsigned k = 0; k < 100000; k++)
            text_add(&t, "%sproc.name != p%u", k ? joins[j] : "", k);
        text_add(&t, ")\n  output: o\n  priority: INFO\n");
        b.text = t.s;
        assert_int_equal(pthread_attr_init(&attr), 0);
        assert_int_equal(pthread_attr_setstacksize(&attr, 1u << 20), 0);
        assert_int_equal(pthread_create(&th, &attr, big_load_run, &b), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        pthread_attr_destroy(&attr);
        assert_int_equal(b.rc, 0);
        assert_int_equal(b.total, 1);
        assert_int_equal(b.enabled, 1);
        free(t.s);
    }
}

/* n rules, each with its own list and macro, and correlations naming rules. */
static uint64_t load_work_of(unsigned n)
{
    struct text t = {0};
    struct ruleset *rs;
    struct diags d;
    uint64_t work;

    for (unsigned k = 0; k < n; k++) {
        text_add(&t, "- list: l%u\n  items: [a%u, b%u]\n- macro: m%u\n  condition: proc.name in (l%u)\n"
                     "- rule: rule %u\n  desc: d\n  condition: evt.type = execve and m%u\n"
                     "  output: o\n  priority: INFO\n  tags: [t%u, u]\n",
                 k, k, k, k, k, k, k, k % 7);
        if (k % 10 == 9)
            text_add(&t, "- rule: corr %u\n  desc: d\n  correlate:\n    within: 10s\n"
                         "    all: [rule %u, rule %u]\n  output: o\n  priority: INFO\n", k, k - 1, k);
    }
    if (load(t.s, &rs, &d) != 0)
        fail_msg("refused: %s", d.first);
    work = rs->load_work;
    ruleset_free(rs);
    free(t.s);
    return work;
}

/* Loading grew with the square of the number of rules (finding a rule,
 * macro or list by name walked them all: 4 MB took 11 s). The loader's
 * work counter (name probes, compiled tests and values) grows linearly. */
static void test_load_work_linear(void **state)
{
    uint64_t small = load_work_of(2000), large = load_work_of(8000);
    (void)state;

    print_message("load work: 2,000 rules %llu, 8,000 rules %llu\n", (unsigned long long)small,
                  (unsigned long long)large);
    assert_true(small > 2000 * 5);
    assert_true(large < small * 5);   /* 4x the rules: ~4x the work, 16x if quadratic */
}

/* Files refused by the YAML reader, and rules disabled half-way through
 * their exceptions, free everything (an alias's anchor name leaked, and the
 * exceptions compiled before one whose comps do not match its fields; ASan's
 * leak check at exit fails the test otherwise). */
static void test_refused_files_leak_nothing(void **state)
{
    static const char exc[] =
        "- rule: r\n  desc: d\n  condition: proc.name = a\n  output: o\n  priority: INFO\n"
        "  exceptions:\n    - name: one\n      fields: [proc.name]\n      values: [[x]]\n"
        "    - name: two\n      fields: [proc.name, proc.cmdline]\n      comps: [=]\n"
        "      values: [[y, z]]\n";
    static const char *const texts[] = {
        "- list: a\n  items: &x [sh]\n- list: b\n  items: *x\n",
        "- rule: r\n  condition: [\n",
        "- rule: r\n  condition: proc.name = (\n  output: o\n  priority: INFO\n",
        "- rule: r\n  condition: proc.name = x\n  output: o\n  priority: INFO\n  tags: *t\n",
    };
    struct text deep = {0};
    struct ruleset *rs;
    struct diags d;
    size_t unsupported;
    (void)state;

    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        assert_int_equal(load(texts[i], &rs, &d), BW_ECONFIG);
    assert_int_equal(load(exc, &rs, &d), 0);
    ruleset_counts(rs, NULL, NULL, &unsupported);
    assert_int_equal(unsupported, 1);
    assert_non_null(strstr(d.first, "exception 'two': comps do not match fields"));
    ruleset_free(rs);
    for (unsigned k = 0; k < 100; k++)
        text_add(&deep, "[");
    assert_int_equal(load(deep.s, &rs, &d), BW_ECONFIG);
    assert_non_null(strstr(d.first, "nesting too deep"));
    free(deep.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_operands_anywhere),
        cmocka_unit_test(test_falco_upstream_files),
        cmocka_unit_test(test_nested_macros_bounded),
        cmocka_unit_test(test_100k_clauses_no_deep_recursion),
        cmocka_unit_test(test_load_work_linear),
        cmocka_unit_test(test_refused_files_leak_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
