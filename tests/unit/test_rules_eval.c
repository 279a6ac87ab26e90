/* test_rules_eval.c - the fast paths of rule evaluation against plain
 * references: substring search by a needle's rarest byte (contains,
 * icontains) against memmem/strcasestr over random texts, tests folded at
 * load time (bulwark.kind, evt.dir, evt.type under the rule's kinds), AND/OR
 * operands reordered, numeric `in` lists that are bisected, substring tests
 * of one OR merged into one scan, and string sets behind their first-byte
 * and length filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/rules.h"

#define NNEEDLES 24

static char tmpdir[64];

static struct ruleset *load(const char *text)
{
    char path[128];
    const char *p = path;
    struct ruleset *rs = NULL;
    FILE *f;

    snprintf(path, sizeof path, "%s/r.yaml", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(ruleset_load(&rs, &p, 1, NULL, NULL), 0);
    return rs;
}

/* Which rules fired: bit i for rule "r<i>". */
static void on_alert(void *ctx, const struct rules_alert *a)
{
    *(uint64_t *)ctx |= 1ull << strtoul(a->rule + 1, NULL, 10);
}

static uint64_t fired(struct rules_engine *e, const char *json)
{
    char err[256];
    struct rules_event_meta m = {"agent-1", "node-1", 1, 1};
    Bulwark__V1__Event *ev = NULL;
    uint64_t bits = 0;

    if (evjson_event_from_line(json, strlen(json), &ev, err, sizeof err) != 0)
        fail_msg("bad event %s: %s", json, err);
    assert_true(rules_engine_eval(e, ev, &m, on_alert, &bits) >= 0);
    evjson_event_free(ev);
    return bits;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void random_text(char *dst, size_t maxlen)
{
    static const char alpha[] = "aAbB+-/:x.zZ ";
    size_t n = rnd((unsigned)maxlen + 1);

    for (size_t i = 0; i < n; i++)
        dst[i] = alpha[rnd(sizeof alpha - 1)];
    dst[n] = '\0';
}

/* contains and icontains agree with memmem and strcasestr on random texts
 * over a small alphabet (many near misses, hits at the start and the end,
 * needles whose searched byte repeats or is a letter of either case). */
static void test_substrings_match_reference(void **state)
{
    char needles[NNEEDLES][8], text[16384], json[512], cmd[64];
    size_t used = 0;
    struct ruleset *rs;
    struct rules_engine *e;

    (void)state;
    for (int i = 0; i < NNEEDLES; i++) {
        do
            random_text(needles[i], 4);
        while (needles[i][0] == '\0' || needles[i][0] == ' ' || needles[i][strlen(needles[i]) - 1] == ' ');
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "- rule: r%d\n  condition: 'proc.cmdline %s \"%s\"'\n  output: x\n  priority: INFO\n",
                                 i, i % 2 ? "icontains" : "contains", needles[i]);
    }
    rs = load(text);
    e = rules_engine_new(rs);
    assert_non_null(e);
    for (int round = 0; round < 3000; round++) {
        uint64_t want = 0, got;

        random_text(cmd, 24);
        snprintf(json, sizeof json,
                 "{\"kind\":\"exec\",\"time_ns\":1000,\"process\":{\"name\":\"x\",\"cmdline\":\"%s\"},\"exec\":{}}", cmd);
        for (int i = 0; i < NNEEDLES; i++) {
            bool hit = i % 2 ? strcasestr(cmd, needles[i]) != NULL
                             : memmem(cmd, strlen(cmd), needles[i], strlen(needles[i])) != NULL;

            want |= (uint64_t)hit << i;
        }
        got = fired(e, json);
        if (got != want)
            fail_msg("cmdline '%s': fired %#llx, want %#llx", cmd, (unsigned long long)got,
                     (unsigned long long)want);
    }
    rules_engine_free(e);
    ruleset_free(rs);
}

static const char *const EXEC =
    "{\"kind\":\"exec\",\"time_ns\":1000,\"container\":{\"id\":\"c1\"},\"process\":{\"pid\":42,\"name\":\"bash\","
    "\"cmdline\":\"bash -c x\"},\"exec\":{}}";
static const char *const NET_IN =
    "{\"kind\":\"net\",\"time_ns\":1000,\"process\":{\"name\":\"curl\"},\"net\":{\"direction\":\"inbound\","
    "\"local_addr\":\"10.0.0.1\",\"local_port\":8080,\"remote_addr\":\"1.2.3.4\",\"remote_port\":40000}}";
static const char *const NET_OUT =
    "{\"kind\":\"net\",\"time_ns\":1000,\"process\":{\"name\":\"curl\"},\"net\":{\"direction\":\"outbound\","
    "\"local_addr\":\"10.0.0.1\",\"local_port\":40000,\"remote_addr\":\"1.2.3.4\",\"remote_port\":3333}}";
static const char *const RES =
    "{\"kind\":\"resource\",\"time_ns\":1000,\"resource\":{\"cpu_cores\":0.25,\"scope\":\"container\"}}";

/* Tests that depend only on the kind or type are decided at load time;
 * the answers are those of the field values. */
static void test_folded_tests(void **state)
{
    struct ruleset *rs = load(
        "- rule: r0\n  condition: bulwark.kind = exec\n  output: x\n  priority: INFO\n"
        "- rule: r1\n  condition: bulwark.kind != exec\n  output: x\n  priority: INFO\n"
        "- rule: r2\n  condition: bulwark.kind in (net, resource, nosuch)\n  output: x\n  priority: INFO\n"
        "- rule: r3\n  condition: bulwark.kind = nosuch\n  output: x\n  priority: INFO\n"
        "- rule: r4\n  condition: evt.dir = < and evt.type = connect\n  output: x\n  priority: INFO\n"
        "- rule: r5\n  condition: evt.dir != <\n  output: x\n  priority: INFO\n"
        "- rule: r6\n  condition: evt.type in (connect, accept) and not evt.type = execve\n  output: x\n  priority: INFO\n"
        "- rule: r7\n  condition: not (evt.type = execve and proc.name = bash) or fd.lport = 8080\n"
        "  output: x\n  priority: INFO\n"
        "- rule: r8\n  condition: proc.name = bash and (bulwark.kind = net or evt.type = execve)\n"
        "  output: x\n  priority: INFO\n"
        "- rule: r9\n  condition: (proc.cmdline contains \"-c\" or proc.pid = 1) and container.id != host"
        " and proc.name in (sh, bash)\n  output: x\n  priority: INFO\n"
        "- rule: r10\n  condition: resource.cpu_cores in (0.5, 0.25, -1, 3) and bulwark.kind = resource\n"
        "  output: x\n  priority: INFO\n"
        "- rule: r11\n  condition: fd.sport in (3334, 3333, 9999, -5, 1, 5555, 4444, 14444, 7777)\n"
        "  output: x\n  priority: INFO\n"
        "- rule: r12\n  condition: fd.sport in (3334, 9999, -5, 1, 5555, 4444, 14444, 7777)\n"
        "  output: x\n  priority: INFO\n");
    struct rules_engine *e = rules_engine_new(rs);

    (void)state;
    assert_non_null(e);
    assert_int_equal(fired(e, EXEC), 1u << 0 | 1u << 8 | 1u << 9);
    assert_int_equal(fired(e, NET_OUT), 1u << 1 | 1u << 2 | 1u << 4 | 1u << 6 | 1u << 7 | 1u << 11);
    assert_int_equal(fired(e, NET_IN), 1u << 1 | 1u << 2 | 1u << 6 | 1u << 7);
    assert_int_equal(fired(e, RES), 1u << 1 | 1u << 2 | 1u << 7 | 1u << 10);
    rules_engine_free(e);
    ruleset_free(rs);
}

static bool has(const char *h, const char *needle, bool icase)
{
    return icase ? strcasestr(h, needle) != NULL : memmem(h, strlen(h), needle, strlen(needle)) != NULL;
}

/* Substring tests of one OR on one field run as one scan per searched
 * byte; results agree with a test-by-test reference, also under `not`,
 * mixed with other fields and operators, and with an empty needle. */
static void test_merged_substrings_match_reference(void **state)
{
    char nd[16][8], text[4096], json[512], cmd[64], exe[64];
    struct ruleset *rs;
    struct rules_engine *e;
    size_t used = 0;

    (void)state;
    for (int i = 0; i < 16; i++) {
        do
            random_text(nd[i], 4);
        while (nd[i][0] == '\0' || nd[i][0] == ' ' || nd[i][strlen(nd[i]) - 1] == ' ');
    }
    used += (size_t)snprintf(text + used, sizeof text - used,
        "- rule: r0\n  condition: 'proc.cmdline contains \"%s\" or proc.cmdline icontains \"%s\" or "
        "proc.cmdline contains \"%s\" or proc.cmdline icontains \"%s\" or proc.cmdline contains \"%s\" or "
        "proc.cmdline icontains \"%s\"'\n  output: x\n  priority: INFO\n",
        nd[0], nd[1], nd[2], nd[3], nd[4], nd[5]);
    used += (size_t)snprintf(text + used, sizeof text - used,
        "- rule: r1\n  condition: 'not (proc.cmdline icontains \"%s\" or proc.cmdline contains \"%s\" or "
        "proc.cmdline icontains \"%s\" or proc.cmdline contains \"%s\")'\n  output: x\n  priority: INFO\n",
        nd[6], nd[7], nd[8], nd[9]);
    used += (size_t)snprintf(text + used, sizeof text - used,
        "- rule: r2\n  condition: 'proc.cmdline contains \"%s\" or proc.name in (a, b) or proc.exe contains \"%s\" "
        "or proc.cmdline icontains \"%s\" or proc.exe icontains \"%s\"'\n  output: x\n  priority: INFO\n",
        nd[10], nd[11], nd[12], nd[13]);
    snprintf(text + used, sizeof text - used,
        "- rule: r3\n  condition: 'proc.name = a and (proc.cmdline icontains \"%s\" or proc.cmdline contains \"\")'\n"
        "  output: x\n  priority: INFO\n", nd[14]);
    rs = load(text);
    e = rules_engine_new(rs);
    assert_non_null(e);
    for (int round = 0; round < 3000; round++) {
        static const char *const names[] = {"a", "b", "x"};
        const char *name = names[rnd(3)];
        uint64_t want = 0, got;
        bool any = false;

        random_text(cmd, 24);
        random_text(exe, 12);
        snprintf(json, sizeof json,
                 "{\"kind\":\"exec\",\"time_ns\":1000,\"process\":{\"name\":\"%s\",\"exe\":\"%s\",\"cmdline\":\"%s\"},"
                 "\"exec\":{}}", name, exe, cmd);
        for (int i = 0; i < 6; i++)
            any |= has(cmd, nd[i], i % 2);
        want |= (uint64_t)any;
        any = false;
        for (int i = 6; i < 10; i++)
            any |= has(cmd, nd[i], i % 2 == 0);
        want |= (uint64_t)!any << 1;
        any = has(cmd, nd[10], false) || strcmp(name, "x") != 0 || has(exe, nd[11], false) ||
              has(cmd, nd[12], true) || has(exe, nd[13], true);
        want |= (uint64_t)any << 2;
        want |= (uint64_t)(strcmp(name, "a") == 0) << 3;
        got = fired(e, json);
        if (got != want)
            fail_msg("name '%s' exe '%s' cmdline '%s': fired %#llx, want %#llx", name, exe, cmd,
                     (unsigned long long)got, (unsigned long long)want);
    }
    rules_engine_free(e);
    ruleset_free(rs);
}

/* `in` on strings agrees with a linear search: items of many lengths (past
 * the filter's 31), sharing first bytes, the empty string; probes that are
 * items, near misses (one byte changed, one byte longer) and random text. */
static void test_string_sets_match_reference(void **state)
{
    char items[40][48], text[4096], json[512], name[64];
    size_t used;
    struct ruleset *rs;
    struct rules_engine *e;

    (void)state;
    used = (size_t)snprintf(text, sizeof text, "- rule: r0\n  condition: 'proc.name in (\"\"");
    for (int i = 0; i < 40; i++) {
        random_text(items[i], i < 20 ? 6 : 40);
        used += (size_t)snprintf(text + used, sizeof text - used, ", \"%s\"", items[i]);
    }
    snprintf(text + used, sizeof text - used, ")'\n  output: x\n  priority: INFO\n");
    rs = load(text);
    e = rules_engine_new(rs);
    assert_non_null(e);
    for (int round = 0; round < 3000; round++) {
        bool want = false;
        size_t len;

        switch (rnd(4)) {
        case 0: snprintf(name, sizeof name, "%s", items[rnd(40)]); break;
        case 1:
            snprintf(name, sizeof name, "%s", items[rnd(40)]);
            if ((len = strlen(name)) > 0)
                name[rnd((unsigned)len)] ^= 1;
            break;
        case 2: snprintf(name, sizeof name, "%sa", items[rnd(40)]); break;
        default: random_text(name, 40); break;
        }
        want = name[0] == '\0';
        for (int i = 0; i < 40 && !want; i++)
            want = strcmp(name, items[i]) == 0;
        snprintf(json, sizeof json,
                 "{\"kind\":\"exec\",\"time_ns\":1000,\"process\":{\"name\":\"%s\",\"cmdline\":\"c\"},\"exec\":{}}",
                 name);
        if (fired(e, json) != (uint64_t)want)
            fail_msg("name '%s': want %d", name, want);
    }
    rules_engine_free(e);
    ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_substrings_match_reference),
        cmocka_unit_test(test_folded_tests),
        cmocka_unit_test(test_merged_substrings_match_reference),
        cmocka_unit_test(test_string_sets_match_reference),
    };
    int rc;

    snprintf(tmpdir, sizeof tmpdir, "/tmp/bw-rules-eval-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    {
        char path[128];

        snprintf(path, sizeof path, "%s/r.yaml", tmpdir);
        unlink(path);
        rmdir(tmpdir);
    }
    return rc;
}
