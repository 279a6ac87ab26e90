/* test_collectors_b.c - the file, trivy and falco collectors on temp dirs:
 * file activity through inotify (and fanotify when the test may use it)
 * below a temp host_root, including container root filesystems, and
 * credential reads (fanotify opens); Trivy
 * reports (fields, severities, malformed files counted once, no repeats,
 * new files, the inotify trigger); Falco JSON lines (appends across scans,
 * partial lines, malformed and too-long lines, rotation, truncation, a
 * FIFO). Collectors are pumped by calling scan() or running their loop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bulwark/collector.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"

/* file.c: picks fanotify or inotify (not in collector.h yet). */
#define MODE_FANOTIFY 1
#define MODE_INOTIFY 2

#define SINK_MAX 2048

struct sink {
    Bulwark__V1__Event *ev[SINK_MAX];
    size_t n;
    size_t limit;  /* BW_EFULL once n reaches it (0: SINK_MAX) */
    size_t refused;
};

static int sink_emit(void *ctx, Bulwark__V1__Event *ev)
{
    struct sink *s = ctx;
    size_t cap = s->limit ? s->limit : SINK_MAX;

    if (s->n >= cap) {
        evjson_event_free(ev);
        s->refused++;
        return BW_EFULL;
    }
    s->ev[s->n++] = ev;
    return 0;
}

static bool sink_has_room(void *ctx)
{
    const struct sink *s = ctx;

    return s->n < (s->limit ? s->limit : SINK_MAX);
}

static void sink_clear(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        evjson_event_free(s->ev[i]);
    s->n = 0;
}

struct fx {
    char dir[64];
    uv_loop_t loop;
    struct collect_config cfg;
    struct collector_env env;
    struct sink sink;
    struct collector *c;
    char path[256];        /* trivy dir or falco file */
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static struct fx *fx_new(bool loop)
{
    struct fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/bw-colb-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (loop)
        assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cfg.host_root = "/";
    f->cfg.file_paths = "";
    f->cfg.trivy_dir = "";
    f->cfg.falco_file = "";
    f->env.loop = loop ? &f->loop : NULL;
    f->env.cfg = &f->cfg;
    f->env.emit = sink_emit;
    f->env.has_room = sink_has_room;
    f->env.emit_ctx = &f->sink;
    return f;
}

static void on_stopped(void *arg)
{
    (*(int *)arg)++;
}

/* Stops the collector, runs the loop until its handles are closed, and
 * checks none is left. */
static void fx_free(struct fx *f)
{
    if (f->c && f->env.loop) {
        int stopped = 0;

        f->c->stop(f->c, on_stopped, &stopped);
        for (int i = 0; i < 100 && !stopped; i++)
            uv_run(&f->loop, UV_RUN_NOWAIT);
        assert_int_equal(stopped, 1);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        assert_int_equal(uv_loop_close(&f->loop), 0);
    } else if (f->env.loop) {
        assert_int_equal(uv_loop_close(&f->loop), 0);
    }
    collector_free(f->c);
    sink_clear(&f->sink);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
}

static void put(const char *path, const char *data, size_t len, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void puts_append(const char *path, const char *s)
{
    put(path, s, strlen(s), O_APPEND);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    if (len)
        *len = (size_t)n;
    return buf;
}

static char *fixture(const char *rel)
{
    const char *src = getenv("BW_SOURCE_DIR");
    char p[PATH_MAX];

    snprintf(p, sizeof p, "%s/tests/fixtures/%s", src ? src : ".", rel);
    return slurp(p, NULL);
}

static void copy_fixture(const char *rel, const char *dst)
{
    char *s = fixture(rel);

    put(dst, s, strlen(s), O_TRUNC);
    free(s);
}

/* Line n (from 1) of a fixture, with its newline. */
static char *fixture_line(const char *rel, int n)
{
    char *all = fixture(rel), *p = all, *line;

    for (int i = 1; i < n; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    line = strndup(p, (size_t)(strchr(p, '\n') - p + 1));
    free(all);
    assert_non_null(line);
    return line;
}

static void set_old_mtime(const char *path)
{
    struct timespec ts[2] = {{.tv_sec = 1700000000}, {.tv_sec = 1700000000}};

    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static const Bulwark__V1__Event *find_vuln(const struct sink *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ev[i]->body_case == BULWARK__V1__EVENT__BODY_VULN &&
            !strcmp(s->ev[i]->vuln->vuln_id, id))
            return s->ev[i];
    return NULL;
}

static const char *alert_field(const Bulwark__V1__ExternalAlert *x, const char *key)
{
    for (size_t i = 0; i < x->n_fields; i++)
        if (!strcmp(x->fields[i]->key, key))
            return x->fields[i]->value;
    return NULL;
}

/* -------------------------------------------------------------- trivy */

static struct fx *trivy_fx(bool loop)
{
    struct fx *f = fx_new(loop);

    snprintf(f->path, sizeof f->path, "%s/reports", f->dir);
    assert_int_equal(mkdir(f->path, 0755), 0);
    f->cfg.trivy_dir = f->path;
    f->c = collector_trivy_new(&f->env);
    assert_non_null(f->c);
    return f;
}

static void test_trivy_report(void **state)
{
    struct fx *f = trivy_fx(false);
    const Bulwark__V1__Event *ev;
    char p[PATH_MAX];
    struct stat st;

    snprintf(p, sizeof p, "%s/nginx-1.25.3.json", f->path);
    copy_fixture("trivy/nginx-1.25.3.json", p);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(f->c->scan(f->c), 8);
    assert_int_equal(f->sink.n, 8);
    assert_int_equal(f->c->events, 8);
    assert_int_equal(f->c->errors, 0);

    ev = find_vuln(&f->sink, "CVE-2023-45853");
    assert_non_null(ev);
    assert_string_equal(ev->vuln->package, "zlib1g");
    assert_string_equal(ev->vuln->installed_version, "1:1.2.13.dfsg-1");
    assert_string_equal(ev->vuln->fixed_version, "");
    assert_string_equal(ev->vuln->vuln_severity, "CRITICAL");
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_CRITICAL);
    assert_true(ev->vuln->cvss_score > 9.79 && ev->vuln->cvss_score < 9.81);  /* nvd first */
    assert_string_equal(ev->vuln->title, "zlib: integer overflow and resultant heap-based buffer "
                                         "overflow in zipOpenNewFileInZip4_6");
    assert_string_equal(ev->vuln->scanner, "trivy");
    assert_string_equal(ev->vuln->target, "nginx:1.25.3 (debian 12.4)");
    assert_non_null(ev->container);
    assert_string_equal(ev->container->image, "nginx:1.25.3");
    assert_string_equal(ev->container->image_digest,
                        "sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac");
    assert_int_equal(ev->time_ns, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);

    ev = find_vuln(&f->sink, "CVE-2024-2961");  /* no nvd score: the first V3Score */
    assert_non_null(ev);
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_ERROR);
    assert_true(ev->vuln->cvss_score > 8.09 && ev->vuln->cvss_score < 8.11);
    assert_string_equal(ev->vuln->fixed_version, "2.36-9+deb12u7");
    assert_int_equal(find_vuln(&f->sink, "CVE-2024-0727")->severity,
                     BULWARK__V1__SEVERITY__SEVERITY_WARNING);
    assert_int_equal(find_vuln(&f->sink, "CVE-2011-3374")->severity,
                     BULWARK__V1__SEVERITY__SEVERITY_NOTICE);
    ev = find_vuln(&f->sink, "TEMP-0290435-0B57B5");
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_INFO);
    assert_true(ev->vuln->cvss_score == 0);
    ev = find_vuln(&f->sink, "CVE-2023-45288");
    assert_string_equal(ev->vuln->target, "usr/local/bin/gosu");
    assert_string_equal(ev->vuln->fixed_version, "1.21.9, 1.22.2");

    /* every event survives the evjson round trip (stdout mode -> replay) */
    for (size_t i = 0; i < f->sink.n; i++) {
        json_t *j = evjson_event_to_json(f->sink.ev[i]);
        Bulwark__V1__Event *back = NULL;
        char err[256];

        assert_non_null(j);
        assert_int_equal(evjson_event_from_json(j, &back, err, sizeof err), 0);
        evjson_event_free(back);
        json_decref(j);
    }

    /* the same file is not reported twice */
    sink_clear(&f->sink);
    assert_int_equal(f->c->scan(f->c), 0);
    assert_int_equal(f->sink.n, 0);

    /* a new file is picked up; no RepoDigests: the digest is the ImageID */
    snprintf(p, sizeof p, "%s/redis-7.2.4.json", f->path);
    copy_fixture("trivy/redis-7.2.4.json", p);
    assert_int_equal(f->c->scan(f->c), 2);
    ev = find_vuln(&f->sink, "CVE-2024-28182");
    assert_non_null(ev);
    assert_string_equal(ev->container->image, "registry.example.com/cache/redis:7.2.4");
    assert_string_equal(ev->container->image_digest,
                        "sha256:170a1e90f8436daa6778aeea3926e716928826c215ac23a8e0d2f8e0e1f0a7d4");

    /* a report rewritten in place is a new version */
    sink_clear(&f->sink);
    set_old_mtime(p);
    assert_int_equal(f->c->scan(f->c), 2);
    assert_int_equal(f->c->errors, 0);
    fx_free(f);
}

static void test_trivy_malformed(void **state)
{
    static const char *const bad[] = {"malformed-not-json.json", "malformed-schema1.json",
                                      "malformed-odd-types.json", "malformed-truncated.json"};
    struct fx *f = trivy_fx(false);
    char p[PATH_MAX], rel[128];
    char *full;
    size_t len;

    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", f->path, bad[i]);
        snprintf(rel, sizeof rel, "trivy/%s", bad[i]);
        copy_fixture(rel, p);
        set_old_mtime(p);  /* the truncated one is not "still being written" */
    }
    snprintf(p, sizeof p, "%s/notes.txt", f->path);  /* not *.json: ignored */
    put(p, "x", 1, O_TRUNC);
    snprintf(p, sizeof p, "%s/nginx.json", f->path);
    copy_fixture("trivy/nginx-1.25.3.json", p);
    assert_int_equal(f->c->scan(f->c), 8);
    assert_int_equal(f->c->errors, 4);
    assert_int_equal(f->c->scan(f->c), 0);  /* counted once, not retried */
    assert_int_equal(f->c->errors, 4);

    /* a report still being written (ends early, just modified) is not an
     * error: it is read once it is complete */
    full = fixture("trivy/redis-7.2.4.json");
    len = strlen(full);
    snprintf(p, sizeof p, "%s/redis.json", f->path);
    put(p, full, len / 2, O_TRUNC);
    assert_int_equal(f->c->scan(f->c), 0);
    assert_int_equal(f->c->errors, 4);
    put(p, full + len / 2, len - len / 2, O_APPEND);
    assert_int_equal(f->c->scan(f->c), 2);
    assert_int_equal(f->c->errors, 4);
    free(full);
    fx_free(f);
}

/* A full queue: the report resumes where it stopped, nothing is lost. */
static void test_trivy_backpressure(void **state)
{
    struct fx *f = trivy_fx(false);
    char p[PATH_MAX];

    snprintf(p, sizeof p, "%s/nginx.json", f->path);
    copy_fixture("trivy/nginx-1.25.3.json", p);
    f->sink.limit = 3;
    assert_int_equal(f->c->scan(f->c), 3);
    f->sink.limit = 6;
    assert_int_equal(f->c->scan(f->c), 3);
    f->sink.limit = 0;
    assert_int_equal(f->c->scan(f->c), 2);
    assert_int_equal(f->sink.n, 8);
    assert_int_equal(f->sink.refused, 0);  /* waiting is not dropping */
    for (size_t i = 0; i < f->sink.n; i++)  /* eight different findings */
        for (size_t j = 0; j < i; j++)
            assert_false(!strcmp(f->sink.ev[i]->vuln->vuln_id, f->sink.ev[j]->vuln->vuln_id) &&
                         !strcmp(f->sink.ev[i]->vuln->target, f->sink.ev[j]->vuln->target));
    fx_free(f);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With a loop, a report renamed into the directory is read at once (the
 * inotify trigger, not the 5 s rescan). */
static void test_trivy_watch(void **state)
{
    struct fx *f = trivy_fx(true);
    char tmp[PATH_MAX], dst[PATH_MAX];
    int64_t t0;

    assert_int_equal(f->c->start(f->c), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);  /* the first rescan: nothing */
    assert_int_equal(f->sink.n, 0);
    snprintf(tmp, sizeof tmp, "%s/.nginx.json.tmp", f->path);
    snprintf(dst, sizeof dst, "%s/nginx.json", f->path);
    copy_fixture("trivy/nginx-1.25.3.json", tmp);
    assert_int_equal(rename(tmp, dst), 0);
    t0 = mono_ms();
    while (f->sink.n < 8 && mono_ms() - t0 < 10000)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->sink.n, 8);
    assert_true(mono_ms() - t0 < 2000);
    fx_free(f);
}

/* The first event of kind `kind` whose id (check id or rule id) is id. */
static const Bulwark__V1__Event *find_finding(const struct sink *s, int kind, const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        const Bulwark__V1__Event *ev = s->ev[i];

        if ((int)ev->body_case != kind)
            continue;
        if ((kind == BULWARK__V1__EVENT__BODY_MISCONFIG && !strcmp(ev->misconfig->check_id, id)) ||
            (kind == BULWARK__V1__EVENT__BODY_SECRET && !strcmp(ev->secret->rule_id, id)))
            return ev;
    }
    return NULL;
}

/* Whether needle occurs in any event's wire bytes or JSON form. */
static bool sink_mentions(const struct sink *s, const char *needle)
{
    bool found = false;

    for (size_t i = 0; i < s->n && !found; i++) {
        size_t n = bulwark__v1__event__get_packed_size(s->ev[i]);
        uint8_t *buf = malloc(n + 1);
        json_t *j = evjson_event_to_json(s->ev[i]);
        char *text = j ? json_dumps(j, 0) : NULL;

        assert_non_null(buf);
        assert_non_null(text);
        assert_int_equal(bulwark__v1__event__pack(s->ev[i], buf), n);
        found = memmem(buf, n, needle, strlen(needle)) != NULL || strstr(text, needle) != NULL;
        free(text);
        json_decref(j);
        free(buf);
    }
    return found;
}

/* Misconfigurations and secrets become events; the artifact (a repository,
 * a file system) and a language package's file are kept; secret values
 * never reach an event. */
static void test_trivy_misconfig_secret(void **state)
{
    struct fx *f = trivy_fx(false);
    const Bulwark__V1__Event *ev;
    char p[PATH_MAX];

    snprintf(p, sizeof p, "%s/shop.json", f->path);
    copy_fixture("trivy/repo-shop-config.json", p);
    /* 3 failed checks (the PASS one is no finding) and 2 secrets */
    assert_int_equal(f->c->scan(f->c), 5);
    assert_int_equal(f->c->errors, 0);
    assert_null(find_finding(&f->sink, BULWARK__V1__EVENT__BODY_MISCONFIG, "KSV001"));

    ev = find_finding(&f->sink, BULWARK__V1__EVENT__BODY_MISCONFIG, "KSV017");
    assert_non_null(ev);
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_ERROR);
    assert_string_equal(ev->misconfig->avd_id, "AVD-KSV-0017");
    assert_string_equal(ev->misconfig->title, "Privileged container");
    assert_string_equal(ev->misconfig->finding_severity, "HIGH");
    assert_string_equal(ev->misconfig->status, "FAIL");
    assert_string_equal(ev->misconfig->target, "deploy/shop.yaml");
    assert_string_equal(ev->misconfig->target_type, "kubernetes");
    assert_int_equal(ev->misconfig->start_line, 18);
    assert_int_equal(ev->misconfig->end_line, 27);
    assert_string_equal(ev->misconfig->primary_url, "https://avd.aquasec.com/misconfig/ksv017");
    assert_string_equal(ev->misconfig->scanner, "trivy");
    assert_string_equal(ev->misconfig->artifact_name, "https://github.com/example-org/shop");
    assert_string_equal(ev->misconfig->artifact_type, "repository");
    assert_null(ev->container);  /* not an image */
    ev = find_finding(&f->sink, BULWARK__V1__EVENT__BODY_MISCONFIG, "DS002");
    assert_non_null(ev);
    assert_int_equal(ev->misconfig->start_line, 0);  /* no CauseMetadata lines */
    assert_string_equal(ev->misconfig->resolution,
                        "Add 'USER <non root user name>' line to the Dockerfile");
    ev = find_finding(&f->sink, BULWARK__V1__EVENT__BODY_MISCONFIG, "AVD-AWS-0107");
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_CRITICAL);
    assert_string_equal(ev->misconfig->target_type, "terraform");

    ev = find_finding(&f->sink, BULWARK__V1__EVENT__BODY_SECRET, "aws-access-key-id");
    assert_non_null(ev);
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_CRITICAL);
    assert_string_equal(ev->secret->category, "AWS");
    assert_string_equal(ev->secret->title, "AWS Access Key ID");
    assert_string_equal(ev->secret->finding_severity, "CRITICAL");
    assert_string_equal(ev->secret->target, "config/shop.env");
    assert_int_equal(ev->secret->start_line, 3);
    assert_int_equal(ev->secret->end_line, 3);
    assert_string_equal(ev->secret->match_redacted, "AWS_ACCESS_KEY_ID=****");
    assert_string_equal(ev->secret->artifact_type, "repository");
    ev = find_finding(&f->sink, BULWARK__V1__EVENT__BODY_SECRET, "github-pat");
    assert_string_equal(ev->secret->match_redacted, "GITHUB_TOKEN:****");
    assert_false(sink_mentions(&f->sink, "eu-west-1"));  /* Code.Lines is not read */

    /* a second artifact, a file system; its secrets were not starred out by
     * whoever wrote the report: the value is still not carried */
    sink_clear(&f->sink);
    snprintf(p, sizeof p, "%s/billing.json", f->path);
    copy_fixture("trivy/fs-billing-unredacted.json", p);
    assert_int_equal(f->c->scan(f->c), 3);
    ev = find_vuln(&f->sink, "CVE-2021-44228");
    assert_non_null(ev);
    assert_string_equal(ev->vuln->pkg_path, "app/lib/log4j-core-2.14.1.jar");
    assert_string_equal(ev->vuln->package, "org.apache.logging.log4j:log4j-core");
    assert_string_equal(ev->vuln->artifact_name, "/srv/billing");
    assert_string_equal(ev->vuln->artifact_type, "filesystem");
    assert_string_equal(ev->vuln->target, "Java");
    assert_null(ev->container);
    ev = find_finding(&f->sink, BULWARK__V1__EVENT__BODY_SECRET, "aws-secret-access-key");
    assert_string_equal(ev->secret->match_redacted, "****");
    ev = find_finding(&f->sink, BULWARK__V1__EVENT__BODY_SECRET, "private-key");
    assert_string_equal(ev->secret->match_redacted, "****");
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_ERROR);
    assert_false(sink_mentions(&f->sink, "wJalrXUtnFEMI"));
    assert_false(sink_mentions(&f->sink, "EXAMPLEKEY"));
    assert_false(sink_mentions(&f->sink, "MIIEow"));

    /* every event survives the evjson round trip (stdout mode -> replay) */
    for (size_t i = 0; i < f->sink.n; i++) {
        json_t *j = evjson_event_to_json(f->sink.ev[i]);
        Bulwark__V1__Event *back = NULL;
        char err[256];

        assert_non_null(j);
        assert_int_equal(evjson_event_from_json(j, &back, err, sizeof err), 0);
        evjson_event_free(back);
        json_decref(j);
    }
    fx_free(f);
}

static int take_one(void *ctx, Bulwark__V1__Event *ev)
{
    Bulwark__V1__Event **out = ctx;

    evjson_event_free(*out);
    *out = ev;
    return 0;
}

/* What of a secret's Match is kept: a plain key name that Trivy's stars
 * follow, nothing else. */
static void test_trivy_redact(void **state)
{
    static const struct {
        const char *match, *want;
    } cases[] = {
        {"PASSWORD=******", "PASSWORD=****"},
        {"  \"db_password\": \"*****\"", "\"db_password\":****"},
        {"token ghp_0123456789abcdef:*****", "****"},     /* a space: not a key name */
        {"ghp_0123456789abcdef0123456789abcdef0123456789abcdef=***", "****"},  /* too long */
        {"API_KEY=abcdef0123456789", "****"},             /* not starred out */
        {"https://user:****@example.org", "****"},        /* a slash after the colon */
        {"****************", "****"},
        {"=****", "****"},
    };
    char doc[512], why[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Bulwark__V1__Event *ev = NULL;
        json_t *m = json_string(cases[i].match);
        char *q = json_dumps(m, JSON_ENCODE_ANY);

        snprintf(doc, sizeof doc,
                 "{\"SchemaVersion\":2,\"ArtifactName\":\".\",\"ArtifactType\":\"filesystem\","
                 "\"Results\":[{\"Target\":\"a.env\",\"Class\":\"secret\",\"Secrets\":[{"
                 "\"RuleID\":\"r\",\"Severity\":\"LOW\",\"Match\":%s}]}]}", q);
        assert_int_equal(trivy_report_events(doc, strlen(doc), 1, take_one, &ev, why, sizeof why),
                         1);
        assert_non_null(ev);
        assert_string_equal(ev->secret->match_redacted, cases[i].want);
        evjson_event_free(ev);
        free(q);
        json_decref(m);
    }
}

/* SBOMs are refused as what they are, not as malformed reports. */
static void test_trivy_sbom(void **state)
{
    static const char *const boms[] = {"trivy/sbom-cyclonedx.json", "trivy/sbom-spdx.json"};
    struct fx *f = trivy_fx(false);
    char p[PATH_MAX], why[256];

    for (size_t i = 0; i < 2; i++) {
        char *doc = fixture(boms[i]);

        assert_int_equal(trivy_report_events(doc, strlen(doc), 1, take_one, NULL, why, sizeof why),
                         BW_EINVAL);
        assert_non_null(strstr(why, "not a vulnerability report"));
        assert_non_null(strstr(why, i == 0 ? "CycloneDX" : "SPDX"));
        free(doc);
        snprintf(p, sizeof p, "%s/bom%zu.json", f->path, i);
        copy_fixture(boms[i], p);
    }
    assert_int_equal(f->c->scan(f->c), 0);
    assert_int_equal(f->sink.n, 0);
    assert_int_equal(f->c->errors, 2);
    assert_int_equal(f->c->scan(f->c), 0);  /* not retried */
    assert_int_equal(f->c->errors, 2);
    fx_free(f);
}

/* -------------------------------------------------------------- falco */

static struct fx *falco_fx(bool loop, bool create)
{
    struct fx *f = fx_new(loop);

    snprintf(f->path, sizeof f->path, "%s/events.json", f->dir);
    if (create)
        put(f->path, "", 0, O_TRUNC);
    f->cfg.falco_file = f->path;
    f->c = collector_falco_new(&f->env);
    assert_non_null(f->c);
    return f;
}

static void test_falco_lines(void **state)
{
    struct fx *f = falco_fx(true, true);
    char *l1 = fixture_line("falco/alerts.jsonl", 1), *l2 = fixture_line("falco/alerts.jsonl", 2);
    char *l3 = fixture_line("falco/alerts.jsonl", 3), *half;
    const Bulwark__V1__Event *ev;
    const Bulwark__V1__ExternalAlert *x;
    size_t cut = strlen(l2) / 2;

    assert_int_equal(f->c->start(f->c), 0);
    assert_int_equal(f->c->scan(f->c), 0);
    puts_append(f->path, l1);
    half = strndup(l2, cut);
    puts_append(f->path, half);  /* a partial last line waits */
    assert_int_equal(f->c->scan(f->c), 1);
    assert_int_equal(f->c->scan(f->c), 0);
    puts_append(f->path, l2 + cut);
    puts_append(f->path, l3);
    assert_int_equal(f->c->scan(f->c), 2);
    assert_int_equal(f->sink.n, 3);
    assert_int_equal(f->c->errors, 0);

    ev = f->sink.ev[0];  /* a host alert */
    x = ev->external;
    assert_int_equal(ev->body_case, BULWARK__V1__EVENT__BODY_EXTERNAL);
    assert_string_equal(x->source, "falco");
    assert_string_equal(x->rule, "Read sensitive file untrusted");
    assert_string_equal(x->priority, "Warning");
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_WARNING);
    assert_true(strncmp(x->output, "10:20:05.408091526: Warning Sensitive file", 42) == 0);
    assert_int_equal(ev->time_ns, 1714558805408091526LL);
    assert_null(ev->container);
    assert_non_null(ev->process);
    assert_int_equal(ev->process->pid, 48213);
    assert_string_equal(ev->process->name, "cat");
    assert_string_equal(ev->process->exe, "/usr/bin/cat");
    assert_string_equal(ev->process->cmdline, "cat /etc/shadow");
    assert_string_equal(ev->process->user, "root");
    assert_string_equal(alert_field(x, "fd.name"), "/etc/shadow");
    assert_string_equal(alert_field(x, "proc.pid"), "48213");
    assert_string_equal(alert_field(x, "falco.source"), "syscall");
    assert_string_equal(alert_field(x, "falco.hostname"), "node-a");
    assert_null(alert_field(x, "proc.aname[3]"));  /* null values left out */
    assert_int_equal(x->n_tags, 5);
    assert_string_equal(x->tags[0], "T1555");

    ev = f->sink.ev[1];  /* the partial line, completed */
    assert_string_equal(ev->external->rule, "Terminal shell in container");
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_NOTICE);
    assert_non_null(ev->container);
    assert_string_equal(ev->container->id, "3ad7b26ded6d");
    assert_string_equal(ev->container->name, "web");
    assert_string_equal(ev->container->image, "docker.io/library/nginx:1.25.3");
    assert_string_equal(ev->container->k8s_namespace, "shop");
    assert_string_equal(ev->container->k8s_pod, "web-7c5ddbdf54-xq2lk");
    assert_int_equal(ev->process->pid, 51877);
    assert_string_equal(ev->process->parent_name, "runc");
    assert_int_equal(f->sink.ev[2]->severity, BULWARK__V1__SEVERITY__SEVERITY_CRITICAL);
    assert_int_equal(f->sink.ev[2]->process->uid, 33);

    free(l1);
    free(l2);
    free(l3);
    free(half);
    fx_free(f);
}

/* Started with history in the file: only what comes after is read. */
static void test_falco_starts_at_end(void **state)
{
    struct fx *f = falco_fx(true, false);
    char *all = fixture("falco/alerts.jsonl"), *l4 = fixture_line("falco/alerts.jsonl", 4);
    char *l5 = fixture_line("falco/alerts.jsonl", 5);

    put(f->path, all, strlen(all), O_TRUNC);
    assert_int_equal(f->c->start(f->c), 0);
    assert_int_equal(f->c->scan(f->c), 0);
    puts_append(f->path, l4);
    puts_append(f->path, l5);
    assert_int_equal(f->c->scan(f->c), 2);
    assert_string_equal(f->sink.ev[0]->external->rule, "Write below etc");
    assert_int_equal(f->sink.ev[0]->severity, BULWARK__V1__SEVERITY__SEVERITY_ERROR);
    assert_int_equal(f->sink.ev[1]->severity, BULWARK__V1__SEVERITY__SEVERITY_INFO);
    assert_null(f->sink.ev[1]->process);  /* an internal alert: no proc fields */
    free(all);
    free(l4);
    free(l5);
    fx_free(f);

    /* one-shot mode (no loop) reads the whole file */
    f = falco_fx(false, false);
    all = fixture("falco/alerts.jsonl");
    put(f->path, all, strlen(all), O_TRUNC);
    assert_int_equal(f->c->scan(f->c), 5);
    free(all);
    fx_free(f);
}

/* A full queue: lines wait in the file and the buffer, none is dropped. */
static void test_falco_backpressure(void **state)
{
    struct fx *f = falco_fx(false, false);
    char *all = fixture("falco/alerts.jsonl");

    put(f->path, all, strlen(all), O_TRUNC);
    f->sink.limit = 2;
    assert_int_equal(f->c->scan(f->c), 2);
    assert_int_equal(f->c->scan(f->c), 0);  /* still full */
    f->sink.limit = 4;
    assert_int_equal(f->c->scan(f->c), 2);
    f->sink.limit = 0;
    assert_int_equal(f->c->scan(f->c), 1);
    assert_int_equal(f->sink.n, 5);
    assert_int_equal(f->sink.refused, 0);  /* waiting is not dropping */
    assert_string_equal(f->sink.ev[0]->external->rule, "Read sensitive file untrusted");
    assert_string_equal(f->sink.ev[3]->external->rule, "Write below etc");
    free(all);
    fx_free(f);
}

static void test_falco_malformed(void **state)
{
    struct fx *f = falco_fx(true, true);
    char *mixed = fixture("falco/mixed.jsonl"), *l1 = fixture_line("falco/alerts.jsonl", 1);
    size_t big = 1536 * 1024;
    char *junk = malloc(big);

    assert_non_null(junk);
    assert_int_equal(f->c->start(f->c), 0);
    puts_append(f->path, mixed);
    assert_int_equal(f->c->scan(f->c), 2);
    assert_int_equal(f->c->errors, 3);  /* text, truncated json, a json array */

    /* a 1.5 MiB line, written in pieces across scans, then a good line */
    memset(junk, 'x', big);
    put(f->path, junk, big / 2, O_APPEND);
    assert_int_equal(f->c->scan(f->c), 0);
    put(f->path, junk, big / 2, O_APPEND);
    assert_int_equal(f->c->scan(f->c), 0);
    assert_int_equal(f->c->errors, 4);
    put(f->path, junk, 1000, O_APPEND);
    puts_append(f->path, "\n");
    puts_append(f->path, l1);
    assert_int_equal(f->c->scan(f->c), 1);
    assert_int_equal(f->c->errors, 4);  /* the long line counted once */
    assert_string_equal(f->sink.ev[2]->external->rule, "Read sensitive file untrusted");
    free(junk);
    free(mixed);
    free(l1);
    fx_free(f);
}

static void test_falco_rotation(void **state)
{
    struct fx *f = falco_fx(true, true);
    char *l[6], old[PATH_MAX];

    for (int i = 1; i <= 5; i++)
        l[i] = fixture_line("falco/alerts.jsonl", i);
    assert_int_equal(f->c->start(f->c), 0);
    puts_append(f->path, l[1]);
    assert_int_equal(f->c->scan(f->c), 1);

    /* rename + new file: the old file's tail first, then the new file */
    puts_append(f->path, l[2]);
    snprintf(old, sizeof old, "%s.1", f->path);
    assert_int_equal(rename(f->path, old), 0);
    puts_append(f->path, l[3]);
    puts_append(f->path, l[4]);
    assert_int_equal(f->c->scan(f->c), 3);
    assert_string_equal(f->sink.ev[1]->external->rule, "Terminal shell in container");
    assert_string_equal(f->sink.ev[2]->external->rule, "Drop and execute new binary in container");
    assert_string_equal(f->sink.ev[3]->external->rule, "Write below etc");
    puts_append(old, l[5]);  /* the old file is no longer read */
    assert_int_equal(f->c->scan(f->c), 0);

    /* truncation in place (copytruncate), then a shorter content */
    assert_int_equal(truncate(f->path, 0), 0);
    puts_append(f->path, l[5]);
    assert_int_equal(f->c->scan(f->c), 1);
    assert_string_equal(f->sink.ev[4]->external->rule, "Falco internal: syscall event drop");
    assert_int_equal(f->c->errors, 0);
    for (int i = 1; i <= 5; i++)
        free(l[i]);
    fx_free(f);
}

/* A FIFO: read as the writer writes; when it goes away its unterminated
 * last line is parsed and the FIFO reopened for the next writer. */
static void test_falco_fifo(void **state)
{
    struct fx *f = falco_fx(true, false);
    char *l1 = fixture_line("falco/alerts.jsonl", 1), *l2 = fixture_line("falco/alerts.jsonl", 2);
    char *l3 = fixture_line("falco/alerts.jsonl", 3);
    int64_t t0;
    int w;

    assert_int_equal(mkfifo(f->path, 0600), 0);
    assert_int_equal(f->c->start(f->c), 0);
    w = open(f->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);  /* the reader is open */
    assert_true(w >= 0);
    assert_int_equal(write(w, l1, strlen(l1)), (ssize_t)strlen(l1));
    assert_int_equal(write(w, l2, strlen(l2) - 1), (ssize_t)strlen(l2) - 1);  /* no newline */
    t0 = mono_ms();
    while (f->sink.n < 1 && mono_ms() - t0 < 5000)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->sink.n, 1);
    close(w);  /* the writer goes away: the partial line is complete */
    while (f->sink.n < 2 && mono_ms() - t0 < 5000)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->sink.n, 2);
    assert_string_equal(f->sink.ev[1]->external->rule, "Terminal shell in container");

    for (int i = 0; i < 5; i++)  /* let it reopen */
        uv_run(&f->loop, UV_RUN_NOWAIT);
    w = open(f->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(w >= 0);  /* ENXIO here would mean nobody reads the FIFO */
    assert_int_equal(write(w, l3, strlen(l3)), (ssize_t)strlen(l3));
    while (f->sink.n < 3 && mono_ms() - t0 < 5000)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->sink.n, 3);
    assert_string_equal(f->sink.ev[2]->external->rule, "Drop and execute new binary in container");
    close(w);
    assert_int_equal(f->c->errors, 0);
    free(l1);
    free(l2);
    free(l3);
    fx_free(f);
}

/* --------------------------------------------------------------- file */

static void mkdirs(const char *base, const char *rel)
{
    char p[PATH_MAX];

    snprintf(p, sizeof p, "%s/%s", base, rel);
    for (char *s = p + strlen(base) + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static struct fx *file_fx(int mode)
{
    struct fx *f = fx_new(true);

    mkdirs(f->dir, "etc/ssl");
    mkdirs(f->dir, "usr/bin");
    mkdirs(f->dir, "tmp");
    f->cfg.host_root = f->dir;
    f->cfg.file_paths = "/etc, /usr/bin/";
    f->c = collector_file_new_mode(&f->env, mode);
    assert_non_null(f->c);
    return f;
}

static void host_path(const struct fx *f, const char *rel, char *out)
{
    snprintf(out, PATH_MAX, "%s%s", f->dir, rel);
}

static const Bulwark__V1__Event *file_ev(const struct sink *s, size_t i,
                                         Bulwark__V1__FileAccess__Op op, const char *path,
                                         const char *new_path)
{
    const Bulwark__V1__Event *ev;

    assert_true(i < s->n);
    ev = s->ev[i];
    assert_int_equal(ev->body_case, BULWARK__V1__EVENT__BODY_FILE);
    assert_int_equal(ev->file->op, op);
    assert_string_equal(ev->file->path, path);
    assert_string_equal(ev->file->new_path, new_path ? new_path : "");
    assert_true(ev->time_ns > 0);
    return ev;
}

static void test_file_inotify(void **state)
{
    struct fx *f = file_fx(MODE_INOTIFY);
    char p[PATH_MAX], q[PATH_MAX];
    int fd;

    assert_int_equal(f->c->start(f->c), 0);
    host_path(f, "/etc/passwd", p);
    put(p, "root:x:0:0::/root:/bin/sh\n", 26, O_TRUNC);     /* create (+ first writes) */
    fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(fd >= 0);
    for (int i = 0; i < 3; i++)                               /* one write, coalesced */
        assert_int_equal(write(fd, "x:x:1:1::/:/bin/sh\n", 19), 19);
    close(fd);
    host_path(f, "/etc/passwd.bak", q);
    assert_int_equal(rename(p, q), 0);                       /* rename, paired */
    assert_int_equal(chmod(q, 0600), 0);                     /* metadata */
    assert_int_equal(unlink(q), 0);                          /* delete */
    host_path(f, "/tmp/ignored", p);
    put(p, "x", 1, O_TRUNC);                                 /* not watched */
    host_path(f, "/etc/ssl/openssl.cnf", q);
    put(q, "x", 1, O_TRUNC);                                 /* a subdirectory */
    host_path(f, "/tmp/evil.so", p);
    put(p, "x", 1, O_TRUNC);
    host_path(f, "/etc/ld.so.preload", q);
    assert_int_equal(rename(p, q), 0);                       /* moved in */
    f->c->scan(f->c);

    assert_int_equal(f->sink.n, 7);
    file_ev(&f->sink, 0, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/etc/passwd", NULL);
    file_ev(&f->sink, 1, BULWARK__V1__FILE_ACCESS__OP__WRITE, "/etc/passwd", NULL);
    file_ev(&f->sink, 2, BULWARK__V1__FILE_ACCESS__OP__RENAME, "/etc/passwd", "/etc/passwd.bak");
    file_ev(&f->sink, 3, BULWARK__V1__FILE_ACCESS__OP__CHMOD, "/etc/passwd.bak", NULL);
    file_ev(&f->sink, 4, BULWARK__V1__FILE_ACCESS__OP__DELETE, "/etc/passwd.bak", NULL);
    file_ev(&f->sink, 5, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/etc/ssl/openssl.cnf", NULL);
    file_ev(&f->sink, 6, BULWARK__V1__FILE_ACCESS__OP__RENAME, "", "/etc/ld.so.preload");
    assert_null(f->sink.ev[0]->process);                     /* inotify: no pid */
    assert_null(f->sink.ev[0]->container);                   /* the host */

    /* a new directory is watched as it appears */
    sink_clear(&f->sink);
    host_path(f, "/etc/cron.d", p);
    assert_int_equal(mkdir(p, 0755), 0);
    f->c->scan(f->c);
    host_path(f, "/etc/cron.d/job", p);
    put(p, "* * * * * root sh -c x\n", 23, O_TRUNC);
    host_path(f, "/usr/bin/sudo", q);
    put(q, "ELF", 3, O_TRUNC);
    assert_int_equal(unlink(q), 0);
    f->c->scan(f->c);
    assert_int_equal(f->sink.n, 4);
    file_ev(&f->sink, 0, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/etc/cron.d", NULL);
    file_ev(&f->sink, 1, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/etc/cron.d/job", NULL);
    file_ev(&f->sink, 2, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/usr/bin/sudo", NULL);
    file_ev(&f->sink, 3, BULWARK__V1__FILE_ACCESS__OP__DELETE, "/usr/bin/sudo", NULL);

    /* a renamed directory: later changes in it carry the new path */
    sink_clear(&f->sink);
    host_path(f, "/etc/cron.d", p);
    host_path(f, "/etc/cron.daily", q);
    assert_int_equal(rename(p, q), 0);
    f->c->scan(f->c);
    host_path(f, "/etc/cron.daily/job", p);
    assert_int_equal(unlink(p), 0);
    f->c->scan(f->c);
    assert_int_equal(f->sink.n, 2);
    file_ev(&f->sink, 0, BULWARK__V1__FILE_ACCESS__OP__RENAME, "/etc/cron.d", "/etc/cron.daily");
    file_ev(&f->sink, 1, BULWARK__V1__FILE_ACCESS__OP__DELETE, "/etc/cron.daily/job", NULL);
    assert_int_equal(f->c->errors, 0);
    fx_free(f);
}

/* Changes inside containers' root filesystems (containerd, Docker
 * overlay2, containers/storage) are reported with container paths and the
 * container; a container that starts later is found by the rescan. */
static void test_file_containers(void **state)
{
    static const char cd_id[] = "9f2c4e1b7a3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6";
    static const char dk_id[] = "5b1e9d0c3a7f4e2d8c6b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";
    struct fx *f = file_fx(MODE_INOTIFY);
    char p[PATH_MAX], rel[512];
    const Bulwark__V1__Event *ev;

    snprintf(rel, sizeof rel, "run/containerd/io.containerd.runtime.v2.task/k8s.io/%s/rootfs/etc",
             cd_id);
    mkdirs(f->dir, rel);
    mkdirs(f->dir, "var/lib/docker/overlay2/l4y3r/merged/usr/bin");
    snprintf(rel, sizeof rel, "var/lib/docker/image/overlay2/layerdb/mounts/%s", dk_id);
    mkdirs(f->dir, rel);
    snprintf(p, sizeof p, "%s/%s/mount-id", f->dir, rel);
    put(p, "l4y3r", 5, O_TRUNC);
    assert_int_equal(f->c->start(f->c), 0);

    snprintf(p, sizeof p,
             "%s/run/containerd/io.containerd.runtime.v2.task/k8s.io/%s/rootfs/etc/shadow", f->dir,
             cd_id);
    put(p, "root:*:19000::::::\n", 19, O_TRUNC);
    snprintf(p, sizeof p, "%s/var/lib/docker/overlay2/l4y3r/merged/usr/bin/ls", f->dir);
    put(p, "ELF", 3, O_TRUNC);
    f->c->scan(f->c);
    assert_int_equal(f->sink.n, 2);
    ev = file_ev(&f->sink, 0, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/etc/shadow", NULL);
    assert_non_null(ev->container);
    assert_string_equal(ev->container->id, cd_id);
    assert_string_equal(ev->container->runtime, "containerd");
    ev = file_ev(&f->sink, 1, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/usr/bin/ls", NULL);
    assert_non_null(ev->container);
    assert_string_equal(ev->container->id, dk_id);
    assert_string_equal(ev->container->runtime, "docker");

    /* a Podman container starts: found by the next scan */
    sink_clear(&f->sink);
    mkdirs(f->dir, "var/lib/containers/storage/overlay/c0ffee/merged/etc");
    mkdirs(f->dir, "var/lib/containers/storage/overlay-containers");
    snprintf(p, sizeof p, "%s/var/lib/containers/storage/overlay-containers/containers.json",
             f->dir);
    snprintf(rel, sizeof rel,
             "[{\"id\":\"%s\",\"names\":[\"db\"],\"image\":\"abc\",\"layer\":\"c0ffee\","
             "\"metadata\":\"{\\\"image-name\\\":\\\"docker.io/library/postgres:16\\\"}\"}]",
             cd_id + 1);
    put(p, rel, strlen(rel), O_TRUNC);
    f->c->scan(f->c);
    snprintf(p, sizeof p, "%s/var/lib/containers/storage/overlay/c0ffee/merged/etc/hosts", f->dir);
    put(p, "x", 1, O_TRUNC);
    f->c->scan(f->c);
    assert_int_equal(f->sink.n, 1);
    ev = file_ev(&f->sink, 0, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/etc/hosts", NULL);
    assert_string_equal(ev->container->runtime, "podman");
    assert_string_equal(ev->container->id, cd_id + 1);
    fx_free(f);
}

/* A file fixture in fanotify mode, or NULL when this test may not use
 * privileged fanotify (as the agent's "auto" mode wants it). */
static struct fx *fanotify_fx(void)
{
    int probe = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_UNLIMITED_MARKS,
                              O_RDONLY);

    if (probe < 0)
        return NULL;
    close(probe);
    return file_fx(MODE_FANOTIFY);
}

/* fanotify (when this test may use it): the same changes, with the pid of
 * the process that made them. */
static void test_file_fanotify(void **state)
{
    struct fx *f = fanotify_fx();
    char p[PATH_MAX], q[PATH_MAX];
    pid_t child;
    int status;

    if (!f) {
        skip();
        return;
    }
    assert_int_equal(f->c->start(f->c), 0);
    host_path(f, "/etc/passwd", p);
    host_path(f, "/etc/passwd.new", q);
    child = fork();  /* the agent ignores its own pid: a child does it */
    assert_true(child >= 0);
    if (child == 0) {
        int fd = open(q, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || write(fd, "root:x:0:0::/root:/bin/sh\n", 26) != 26 || close(fd) != 0 ||
            rename(q, p) != 0 || unlink(p) != 0)
            _exit(1);
        _exit(0);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(status, 0);
    f->c->scan(f->c);
    assert_int_equal(f->sink.n, 3);
    file_ev(&f->sink, 0, BULWARK__V1__FILE_ACCESS__OP__CREATE, "/etc/passwd.new", NULL);
    file_ev(&f->sink, 1, BULWARK__V1__FILE_ACCESS__OP__RENAME, "/etc/passwd.new", "/etc/passwd");
    file_ev(&f->sink, 2, BULWARK__V1__FILE_ACCESS__OP__DELETE, "/etc/passwd", NULL);
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(f->sink.ev[i]->process);
        assert_int_equal(f->sink.ev[i]->process->pid, child);
    }
    fx_free(f);
}

/* Credential reads (fanotify): an open below a credential directory of the
 * host or of a container is an `open` event with its process; opens
 * elsewhere, of the directory itself, or through a container's absolute
 * link out of its root (/var/run -> /run) are not. */
static void test_file_fanotify_opens(void **state)
{
    static const char id[] = "7a1e9d0c3a7f4e2d8c6b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";
    const char *reads[] = {"/root/.aws/credentials", "/etc/hostname",
                           "/var/lib/containers/storage/overlay/c0ffee/merged/run/secrets/token"};
    char p[PATH_MAX], json[512];
    struct fx *f = fanotify_fx();
    pid_t child;
    int status;

    if (!f) {
        skip();
        return;
    }
    mkdirs(f->dir, "root/.aws");
    mkdirs(f->dir, "var/lib/containers/storage/overlay/c0ffee/merged/run/secrets");
    mkdirs(f->dir, "var/lib/containers/storage/overlay/c0ffee/merged/var");
    mkdirs(f->dir, "var/lib/containers/storage/overlay-containers");
    snprintf(p, sizeof p, "%s/var/lib/containers/storage/overlay/c0ffee/merged/var/run", f->dir);
    assert_int_equal(symlink("/run", p), 0);  /* leads out of the root: not followed */
    snprintf(p, sizeof p, "%s/var/lib/containers/storage/overlay-containers/containers.json",
             f->dir);
    snprintf(json, sizeof json, "[{\"id\":\"%s\",\"layer\":\"c0ffee\"}]", id);
    put(p, json, strlen(json), O_TRUNC);
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        host_path(f, reads[i], p);
        put(p, "secret\n", 7, O_TRUNC);
    }
    assert_int_equal(f->c->start(f->c), 0);
    child = fork();  /* the agent ignores its own pid: a child reads */
    assert_true(child >= 0);
    if (child == 0) {
        char buf[16];

        for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
            int fd;

            host_path(f, reads[i], p);
            fd = open(p, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || read(fd, buf, sizeof buf) != 7 || close(fd) != 0)
                _exit(1);
        }
        host_path(f, "/root/.aws", p);
        _exit(opendir(p) ? 0 : 1);
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(status, 0);
    f->c->scan(f->c);
    assert_int_equal(f->sink.n, 2);
    file_ev(&f->sink, 0, BULWARK__V1__FILE_ACCESS__OP__OPEN, "/root/.aws/credentials", NULL);
    assert_null(f->sink.ev[0]->container);
    file_ev(&f->sink, 1, BULWARK__V1__FILE_ACCESS__OP__OPEN, "/run/secrets/token", NULL);
    assert_non_null(f->sink.ev[1]->container);
    assert_string_equal(f->sink.ev[1]->container->id, id);
    for (size_t i = 0; i < 2; i++) {
        assert_non_null(f->sink.ev[i]->process);
        assert_int_equal(f->sink.ev[i]->process->pid, child);
    }
    fx_free(f);
}

/* The value of fields[key] of an external event, or NULL. */
static const char *falco_field(const Bulwark__V1__Event *ev, const char *key)
{
    for (size_t i = 0; i < ev->external->n_fields; i++)
        if (!strcmp(ev->external->fields[i]->key, key))
            return ev->external->fields[i]->value;
    return NULL;
}

/* Every real upstream line parses; a key Falco did not write is absent,
 * not a crash or an empty value. Damaged text is repaired to U+FFFD. */
static void test_falco_parse_upstream(void **state)
{
    int without = 0;

    (void)state;
    for (int n = 1; n <= 28; n++) {
        char *line = fixture_line("falco/upstream.jsonl", n);
        Bulwark__V1__Event *ev = NULL;
        int repaired = -1;

        assert_int_equal(falco_parse_line(line, strlen(line) - 1, NULL, &ev, &repaired), 0);
        assert_int_equal(repaired, 0);
        assert_int_equal(ev->body_case, BULWARK__V1__EVENT__BODY_EXTERNAL);
        if (!strstr(line, "\"source\"") || !strstr(line, "\"hostname\"")) {
            without++;
            if (!strstr(line, "\"source\""))
                assert_null(falco_field(ev, "falco.source"));
        }
        evjson_event_free(ev);
        free(line);
    }
    assert_true(without >= 10);
    for (int n = 1; n <= 6; n++) {
        char *line = fixture_line("falco/bad-utf8.jsonl", n);
        Bulwark__V1__Event *ev = NULL;
        int repaired = 0;

        assert_int_equal(falco_parse_line(line, strlen(line) - 1, NULL, &ev, &repaired), 0);
        assert_int_equal(repaired, 1);
        assert_non_null(strstr(falco_field(ev, "proc.cmdline"), "\xEF\xBF\xBD"));
        evjson_event_free(ev);
        free(line);
    }
    {
        Bulwark__V1__Event *ev = NULL;
        int repaired = 0;

        assert_int_equal(falco_parse_line("not json", 8, NULL, &ev, &repaired), BW_EINVAL);
        assert_int_equal(falco_parse_line("[1]", 3, NULL, &ev, &repaired), BW_ENOTFOUND);
        assert_int_equal(falco_parse_line("{\"x\":\"\xff\"}", 9, NULL, &ev, &repaired),
                         BW_ENOTFOUND);  /* repaired, still not an alert */
        assert_null(ev);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_falco_parse_upstream),
        cmocka_unit_test(test_trivy_report),
        cmocka_unit_test(test_trivy_malformed),
        cmocka_unit_test(test_trivy_backpressure),
        cmocka_unit_test(test_trivy_watch),
        cmocka_unit_test(test_trivy_misconfig_secret),
        cmocka_unit_test(test_trivy_redact),
        cmocka_unit_test(test_trivy_sbom),
        cmocka_unit_test(test_falco_lines),
        cmocka_unit_test(test_falco_starts_at_end),
        cmocka_unit_test(test_falco_backpressure),
        cmocka_unit_test(test_falco_malformed),
        cmocka_unit_test(test_falco_rotation),
        cmocka_unit_test(test_falco_fifo),
        cmocka_unit_test(test_file_inotify),
        cmocka_unit_test(test_file_containers),
        cmocka_unit_test(test_file_fanotify),
        cmocka_unit_test(test_file_fanotify_opens),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
