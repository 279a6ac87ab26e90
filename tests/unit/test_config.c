/* test_config.c - option table: defaults, file with file:line errors, argv overrides. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bulwark/config.h"
#include "bulwark/duration.h"
#include "bulwark/err.h"

struct opts {
    char *listen;
    uint32_t max_frame;
    uint64_t big;
    double rate;
    bool flag;
};

static const struct config_field table[] = {
    {"listen", CONFIG_STRING, offsetof(struct opts, listen), "127.0.0.1:7443", "address", 0, 0, NULL},
    {"max_frame", CONFIG_U32, offsetof(struct opts, max_frame), "1048576", "bytes", 1024, 16777216, NULL},
    {"big", CONFIG_U64, offsetof(struct opts, big), NULL, "n", 0, 0, NULL},
    {"rate", CONFIG_DOUBLE, offsetof(struct opts, rate), "2.5", "r", 0, 0, NULL},
    {"flag", CONFIG_BOOL, offsetof(struct opts, flag), "false", "f", 0, 0, NULL},
};
#define NT (sizeof table / sizeof table[0])

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/bwcfgXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults_file_args(void **state)
{
    struct opts o = {0};
    char err[256];
    bool help;
    char *pos[2];
    int npos;
    char *path = write_tmp("# comment\nlisten = 0.0.0.0:9000\n\nmax_frame=2048\nflag = yes\n");
    char a0[] = "prog", a1[] = "--config", a3[] = "--max-frame=4096", a4[] = "run", a5[] = "--rate",
         a6[] = "7";
    char *argv[] = {a0, a1, path, a3, a4, a5, a6};

    (void)state;
    assert_int_equal(config_defaults(table, NT, &o), 0);
    assert_string_equal(o.listen, "127.0.0.1:7443");
    assert_int_equal(o.max_frame, 1048576);
    assert_int_equal(config_parse_args(table, NT, &o, 7, argv, &help, pos, &npos, 2, err,
                                       sizeof err), 0);
    assert_false(help);
    assert_string_equal(o.listen, "0.0.0.0:9000");   /* from the file */
    assert_int_equal(o.max_frame, 4096);              /* argv beats the file */
    assert_true(o.flag);
    assert_true(o.rate > 6.99 && o.rate < 7.01);
    assert_int_equal(npos, 1);
    assert_string_equal(pos[0], "run");
    config_release(table, NT, &o);
    unlink(path);
    free(path);
}

static void test_errors(void **state)
{
    struct opts o = {0};
    char err[256];
    char *path = write_tmp("listen = x\nmax_frame = 12\n");

    (void)state;
    config_defaults(table, NT, &o);
    assert_int_equal(config_load_file(table, NT, &o, path, err, sizeof err), BW_ECONFIG);
    assert_non_null(strstr(err, ":2:"));          /* file:line */
    assert_non_null(strstr(err, "max_frame"));
    assert_int_equal(config_set(table, NT, &o, "nope", "1", err, sizeof err), BW_ENOTFOUND);
    assert_int_equal(config_set(table, NT, &o, "max_frame", "-5", err, sizeof err), BW_EINVAL);
    assert_int_equal(config_set(table, NT, &o, "flag", "maybe", err, sizeof err), BW_EINVAL);
    assert_int_equal(config_load_file(table, NT, &o, "/nonexistent/x.conf", err, sizeof err),
                     BW_ECONFIG);
    assert_non_null(strstr(err, "/nonexistent/x.conf"));
    config_release(table, NT, &o);
    unlink(path);
    free(path);
}

/* A bare --config (last, empty, or followed by another option) is an
 * error, not a run on defaults. */
static void test_bare_config(void **state)
{
    struct opts o = {0};
    char err[256];
    bool help;
    char *pos[2];
    int npos;
    char a0[] = "prog", a1[] = "--config", a2[] = "--config=", a3[] = "--rate", a4[] = "7";
    char *last[] = {a0, a3, a4, a1}, *empty[] = {a0, a2}, *opt[] = {a0, a1, a3, a4};

    (void)state;
    config_defaults(table, NT, &o);
    assert_int_equal(config_parse_args(table, NT, &o, 4, last, &help, pos, &npos, 2, err,
                                       sizeof err), BW_ECONFIG);
    assert_non_null(strstr(err, "'--config' needs a file name"));
    assert_int_equal(config_parse_args(table, NT, &o, 2, empty, &help, pos, &npos, 2, err,
                                       sizeof err), BW_ECONFIG);
    assert_int_equal(config_parse_args(table, NT, &o, 4, opt, &help, pos, &npos, 2, err,
                                       sizeof err), BW_ECONFIG);
    config_release(table, NT, &o);
}


/* The one duration grammar (config *_ms values, rules, hunt, API). */
static void test_duration_grammar(void **state)
{
    int64_t ns = -1;
    (void)state;
    assert_int_equal(bw_duration_parse("300ms", 0, &ns), 0);
    assert_int_equal(ns, 300000000);
    assert_int_equal(bw_duration_parse("1h30m", 0, &ns), 0);
    assert_int_equal(ns, 5400LL * 1000000000);
    assert_int_equal(bw_duration_parse("1.5h", 0, &ns), 0);
    assert_int_equal(ns, 5400LL * 1000000000);
    assert_int_equal(bw_duration_parse("7d", 0, &ns), 0);
    assert_int_equal(ns, 7LL * 86400 * 1000000000);
    assert_int_equal(bw_duration_parse("2w", 0, &ns), 0);
    assert_int_equal(ns, 14LL * 86400 * 1000000000);
    assert_int_equal(bw_duration_parse("10", 1000000000, &ns), 0);  /* bare: caller's unit */
    assert_int_equal(ns, 10LL * 1000000000);
    ns = 42;
    for (const char *bad[] = {"", "10", "-5s", "s", "5x", "5 s", "5s ", "1e3s", "5s5",
                              "99999999999999999999d", ".s", NULL},
                    **b = bad;
         *b; b++) {
        assert_int_equal(bw_duration_parse(*b, 0, &ns), BW_EINVAL);
        assert_int_equal(ns, 42);
    }
}

/* A *_ms option takes a duration or a number of milliseconds. */
static void test_ms_option_duration(void **state)
{
    struct { uint32_t t_ms; } o = {0};
    static const struct config_field t[] = {
        {"idle_timeout_ms", CONFIG_U32, 0, "1000", "t", 0, 0, NULL},
    };
    char err[256];
    (void)state;
    assert_int_equal(config_set(t, 1, &o, "idle_timeout_ms", "5m", err, sizeof err), 0);
    assert_int_equal(o.t_ms, 300000);
    assert_int_equal(config_set(t, 1, &o, "idle_timeout_ms", "250", err, sizeof err), 0);
    assert_int_equal(o.t_ms, 250);
    assert_int_equal(config_set(t, 1, &o, "idle_timeout_ms", "5 minutes", err, sizeof err),
                     BW_EINVAL);
    assert_non_null(strstr(err, "not a duration"));
    assert_int_equal(o.t_ms, 250);
}

/* An enumerated option takes one of its choices, stored as the index; any
 * other value is refused with the choices named, and the field keeps its
 * value. The default is the first choice when none is given. */
static void test_enum_option(void **state)
{
    static const char *const modes[] = {"auto", "fanotify", "inotify", NULL};
    struct { int mode; } o = {-1};
    static const struct config_field t[] = {
        {"file_mode", CONFIG_ENUM, 0, NULL, "m", 0, 0, modes},
    };
    char err[256];
    (void)state;
    assert_int_equal(config_defaults(t, 1, &o), 0);
    assert_int_equal(o.mode, 0);
    assert_int_equal(config_set(t, 1, &o, "file_mode", "inotify", err, sizeof err), 0);
    assert_int_equal(o.mode, 2);
    assert_int_equal(config_set(t, 1, &o, "file_mode", "Inotify", err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "'file_mode' must be auto, fanotify or inotify, not 'Inotify'");
    assert_int_equal(o.mode, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_grammar),
        cmocka_unit_test(test_ms_option_duration),
        cmocka_unit_test(test_enum_option),
        cmocka_unit_test(test_defaults_file_args),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bare_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
