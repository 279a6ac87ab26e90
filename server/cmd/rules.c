/* rules.c - `bulwarkd rules ...`: check (validate rule files and report),
 * test (replay fixture events through the rules and compare the alerts
 * raised with the expected ones), fields (print the field table).
 * A command-line tool: it prints to stdout/stderr and returns an exit
 * status (0 ok, 1 failure, 2 usage). */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/rules.h"
#include "cmd.h"

#define CLI_MAX_FILES 256
#define CLI_LINE_MAX (1024 * 1024)
#define CLI_ALERTS_MAX 10000

static void print_diag(void *ctx, const char *file, unsigned line, const char *msg)
{
    (void)ctx;
    if (file)
        fprintf(stderr, "%s:%u: %s\n", file, line, msg);
    else
        fprintf(stderr, "rules: %s\n", msg);
}

static int usage(void)
{
    fprintf(stderr, "usage: bulwarkd rules check FILE...\n"
                    "       bulwarkd rules test DIR [--rules FILE]...\n"
                    "       bulwarkd rules fields\n"
                    "       bulwarkd rules hunt FILE... --since DURATION [--db PATH] [--max-events N]\n");
    return 2;
}

static int print_disabled(void *ctx, const char *name, const char *file, unsigned line, const char *reason)
{
    (void)ctx;
    if (reason)
        printf("disabled: '%s' (%s:%u): %s\n", name, file, line, reason);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    struct ruleset *rs = NULL;
    size_t total, enabled, unsupported;
    int rc;

    if (argc < 1)
        return usage();
    rc = ruleset_load(&rs, (const char *const *)argv, (size_t)argc, print_diag, NULL);
    if (rc < 0) {
        fprintf(stderr, "rules check: refused: %s\n", bw_strerror(rc));
        return 1;
    }
    ruleset_counts(rs, &total, &enabled, &unsupported);
    printf("%zu rules: %zu enabled, %zu disabled (%zu unsupported)\n", total, enabled, total - enabled,
           unsupported);
    ruleset_foreach(rs, print_disabled, NULL);
    ruleset_free(rs);
    return 0;
}

static int cmd_fields(void)
{
    const char *name, *type, *doc;

    for (size_t i = 0; rules_field_at(i, &name, &type, &doc); i++)
        printf("%-30s %-7s %s\n", name, type, doc);
    return 0;
}

/* --------------------------------------------------------------- test */

struct names {
    char **v;
    size_t n;
    bool overflow;
};

static void names_add(struct names *ns, const char *s)
{
    char **v;

    if (ns->n >= CLI_ALERTS_MAX || !(v = realloc(ns->v, (ns->n + 1) * sizeof *v))) {
        ns->overflow = true;
        return;
    }
    ns->v = v;
    if (!(ns->v[ns->n] = strdup(s))) {
        ns->overflow = true;
        return;
    }
    ns->n++;
}

static void names_release(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
    memset(ns, 0, sizeof *ns);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct tcase {
    struct names got;
    bool verbose;
};

static void on_alert(void *ctx, const struct rules_alert *a)
{
    struct tcase *t = ctx;

    names_add(&t->got, a->rule);
    if (t->verbose)
        printf("    alert %s [%d]: %s\n", a->rule, a->priority, a->output);
}

static void chomp(char *s)
{
    size_t n = strlen(s);

    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

static int read_expected(const char *path, struct names *exp)
{
    FILE *f = fopen(path, "r");
    char line[1024];

    if (!f)
        return BW_EIO;
    while (fgets(line, sizeof line, f)) {
        chomp(line);
        if (line[0] && line[0] != '#')
            names_add(exp, line);
    }
    fclose(f);
    return 0;
}

/* Replays one fixture; returns true when the alerts match. Fixture lines
 * are evjson events; optional "agent_id" and "hostname" keys set the
 * event's origin (default "fixture-agent" / "fixture-host"). */
static bool run_case(const struct ruleset *rs, const char *path, bool verbose)
{
    char exp_path[4096], err[256], *line = NULL;
    struct names exp = {0};
    struct tcase t = {.verbose = verbose};
    struct rules_engine *e = NULL;
    size_t cap = 0, i = 0, j = 0;
    unsigned lineno = 0;
    bool ok = true;
    ssize_t len;
    FILE *f;

    snprintf(exp_path, sizeof exp_path, "%.*s.expected", (int)(strlen(path) - strlen(".ndjson")), path);
    if (read_expected(exp_path, &exp) < 0) {
        printf("FAIL %s: cannot read %s\n", path, exp_path);
        return false;
    }
    f = fopen(path, "r");
    e = rules_engine_new(rs);
    if (!f || !e) {
        printf("FAIL %s: cannot open\n", path);
        ok = false;
        goto out;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        struct rules_event_meta m = {"fixture-agent", "fixture-host", 1, 0};
        Bulwark__V1__Event *ev = NULL;
        json_error_t jerr;
        json_t *obj, *v;

        lineno++;
        chomp(line);
        if (!line[0] || line[0] == '#')
            continue;
        obj = json_loads(line, 0, &jerr);
        if (!obj || evjson_event_from_json(obj, &ev, err, sizeof err) < 0) {
            printf("FAIL %s:%u: bad event: %s\n", path, lineno, obj ? err : jerr.text);
            json_decref(obj);
            ok = false;
            goto out;
        }
        if ((v = json_object_get(obj, "agent_id")) && json_is_string(v))
            m.agent_id = json_string_value(v);
        if ((v = json_object_get(obj, "hostname")) && json_is_string(v))
            m.hostname = json_string_value(v);
        m.seq = lineno;
        if (rules_engine_eval(e, ev, &m, on_alert, &t) < 0) {
            printf("FAIL %s:%u: evaluation error\n", path, lineno);
            ok = false;
        }
        evjson_event_free(ev);
        json_decref(obj);
    }
    if (exp.n > 1)
        qsort(exp.v, exp.n, sizeof *exp.v, cmp_str);
    if (t.got.n > 1)
        qsort(t.got.v, t.got.n, sizeof *t.got.v, cmp_str);
    while (i < exp.n || j < t.got.n) {
        int c = i == exp.n ? 1 : j == t.got.n ? -1 : strcmp(exp.v[i], t.got.v[j]);

        if (c == 0) {
            i++;
            j++;
            continue;
        }
        if (ok) {
            printf("FAIL %s\n", path);
            ok = false;
        }
        if (c < 0)
            printf("  - %s (expected, not raised)\n", exp.v[i++]);
        else
            printf("  + %s (raised, not expected)\n", t.got.v[j++]);
    }
    if (ok)
        printf("ok   %s (%zu alert%s)\n", path, t.got.n, t.got.n == 1 ? "" : "s");
out:
    free(line);
    if (f)
        fclose(f);
    rules_engine_free(e);
    names_release(&exp);
    names_release(&t.got);
    return ok;
}

static int glob_add(const char *pattern, glob_t *g, bool append)
{
    int rc = glob(pattern, append ? GLOB_APPEND : 0, NULL, g);

    return rc == 0 || rc == GLOB_NOMATCH ? 0 : BW_EIO;
}

static int cmd_test(int argc, char **argv)
{
    const char *dir = NULL, *files[CLI_MAX_FILES];
    char pattern[4096];
    struct ruleset *rs = NULL;
    glob_t rg = {0}, cg = {0};
    size_t nfiles = 0, failed = 0;
    bool verbose = false;
    int status = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc && nfiles < CLI_MAX_FILES)
            files[nfiles++] = argv[++i];
        else if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else if (!dir && argv[i][0] != '-')
            dir = argv[i];
        else
            return usage();
    }
    if (!dir)
        return usage();
    if (nfiles == 0) {  /* the repository's rules/: DIR/../../rules, ./rules, the installed dir */
        snprintf(pattern, sizeof pattern, "%s/../../rules/*.yaml", dir);
        glob_add(pattern, &rg, false);
        if (rg.gl_pathc == 0)
            glob_add("rules/*.yaml", &rg, false);
#ifdef BULWARK_RULES_DIR
        if (rg.gl_pathc == 0)
            glob_add(BULWARK_RULES_DIR "/*.yaml", &rg, false);
#endif
        for (size_t i = 0; i < rg.gl_pathc && nfiles < CLI_MAX_FILES; i++)
            files[nfiles++] = rg.gl_pathv[i];
        if (nfiles == 0) {
            fprintf(stderr, "rules test: no rule files found (use --rules FILE)\n");
            goto out;
        }
    }
    if (ruleset_load(&rs, files, nfiles, print_diag, NULL) < 0) {
        fprintf(stderr, "rules test: rule files refused\n");
        goto out;
    }
    snprintf(pattern, sizeof pattern, "%s/*.ndjson", dir);
    glob_add(pattern, &cg, false);
    if (cg.gl_pathc == 0) {
        fprintf(stderr, "rules test: no fixtures (*.ndjson) in %s\n", dir);
        goto out;
    }
    for (size_t i = 0; i < cg.gl_pathc; i++)
        failed += !run_case(rs, cg.gl_pathv[i], verbose);
    printf("%zu cases, %zu failed\n", cg.gl_pathc, failed);
    status = failed ? 1 : 0;
out:
    ruleset_free(rs);
    globfree(&rg);
    globfree(&cg);
    return status;
}

int rules_cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(argv[1], "test") == 0)
        return cmd_test(argc - 2, argv + 2);
    if (strcmp(argv[1], "fields") == 0)
        return cmd_fields();
    if (strcmp(argv[1], "hunt") == 0)
        return hunt_main(argc - 1, argv + 1);
    return usage();
}
