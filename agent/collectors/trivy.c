/* trivy.c - the `trivy` collector: Trivy scan reports (`trivy image|fs|
 * repo|vm --format json`, SchemaVersion 2) dropped in a directory become one
 * event per finding: `vuln` per vulnerability, `misconfig` per failed
 * configuration check, `secret` per secret found.
 *
 * cfg->trivy_dir is a path as the agent sees it (not below host_root: it is
 * an integration point the operator chooses and mounts). The directory is
 * watched with inotify (IN_CLOSE_WRITE, IN_MOVED_TO); every event, and a
 * timer every TRIVY_RESCAN_MS, runs scan(), which reads each `*.json` file
 * (dot files are ignored, so `.x.json.tmp` + rename is the safe way to
 * write) whose (name, inode, size, mtime) it has not processed yet. A file
 * rewritten in place is a new version and is reported again; a restart of
 * the agent reports the files present again (findings are state).
 *
 * A file that is not a SchemaVersion 2 report (bad JSON, odd types, over
 * TRIVY_FILE_MAX) is counted in `errors`, logged once with its name, and
 * remembered so it is not retried until it changes. An SBOM (CycloneDX or
 * SPDX JSON) is refused the same way but logged as "not a vulnerability
 * report", since it is a scanner's input, not its findings. A file that ends
 * early and was modified less than TRIVY_SETTLE_NS ago is taken to be still
 * being written: it is neither counted nor remembered, and retried later.
 *
 * Every event: scanner "trivy", target (Results[].Target), artifact_name
 * and artifact_type (ArtifactName, ArtifactType: so findings of two
 * repositories or file systems stay apart), time = the file's mtime,
 * severity CRITICAL->critical, HIGH->error, MEDIUM->warning, LOW->notice,
 * anything else->info, and for container images a container ref {image =
 * ArtifactName, image_digest = RepoDigests[0] after '@', else ImageID}.
 *   vuln      {vuln_id, package, installed_version, fixed_version, pkg_path,
 *             vuln_severity, cvss_score (nvd V3Score, else the first), title}
 *   misconfig {check_id (ID), avd_id, title, finding_severity, status,
 *             message, resolution, target_type (Results[].Type), start_line,
 *             end_line (CauseMetadata), primary_url}; checks whose Status is
 *             PASS or EXCEPTION are not findings and are skipped
 *   secret    {rule_id, category, title, finding_severity, start_line,
 *             end_line, match_redacted}. The secret's value is never read
 *             into an event or a log: Match (which Trivy writes with the
 *             value starred out) is cut to the key name before the value,
 *             kept only when Trivy's stars follow it ("AWS_KEY=****"), else
 *             "****"; Code.Lines is not read at all.
 *
 * When the agent's queue is full (has_room() says no; asked before each
 * event, so the wait is not counted as a drop) the report stays pending at
 * that finding and is resumed by the next scan (nothing is skipped).
 * One scan emits at most TRIVY_SCAN_EVENTS_MAX events and parses at most
 * TRIVY_SCAN_FILES_MAX files, so a burst of reports cannot hold the loop
 * (the rest follows TRIVY_BACKLOG_MS later); in one-shot mode (no loop) a
 * scan reads every report. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/collector.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/hash.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"

#define TRIVY_FILE_MAX (64u * 1024 * 1024)
#define TRIVY_SEEN_MAX 4096u
#define TRIVY_RESCAN_MS 5000u
#define TRIVY_BACKLOG_MS 100u
#define TRIVY_SETTLE_NS (5 * 1000000000LL)
#define TRIVY_SCAN_EVENTS_MAX 50000u
#define TRIVY_SCAN_FILES_MAX 16u
#define TRIVY_STR_MAX 1024u   /* the evjson bound, so --stdout output replays */
#define TRIVY_INOTIFY_BUF 4096u
#define TRIVY_KEY_MAX 48u     /* bytes of a secret's key name kept in match_redacted */

struct trivy_seen {
    char *name;
    uint64_t hash;
    uint64_t ino;
    int64_t size;
    int64_t mtime_ns;
    uint32_t gen;      /* scan generation that last saw the file */
};

/* Where a report's walk stands: Results[ri], its section si (one of
 * trivy_sections), entry vi. */
struct trivy_cursor {
    size_t ri, si, vi;
};

/* The report being emitted: resumed at cur when the queue was full. */
struct trivy_pending {
    json_t *root;
    struct trivy_cursor cur;
    int64_t time_ns;
};

struct trivy {
    struct collector base;
    const struct collector_env *env;
    char *dir;
    int ifd;
    int wd;
    uv_poll_t poll;
    uv_timer_t timer;
    bool poll_init, timer_init;
    int closing;
    void (*done)(void *arg);
    void *done_arg;
    struct trivy_seen *seen;   /* TRIVY_SEEN_MAX slots, nseen used */
    size_t nseen;
    uint32_t gen;
    bool full_logged;
    bool dir_logged;
    struct trivy_pending pend;
};

static void on_trivy_timer(uv_timer_t *h);

/* Sets *dst to a bounded copy of the string member `key` of obj (left at
 * the empty default when absent or null). 0 or BW_ENOMEM. */
static int trivy_set(char **dst, const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    if (!v || !*v)
        return 0;
    *dst = evb_strndup_utf8(v, strlen(v), TRIVY_STR_MAX);
    return *dst ? 0 : BW_ENOMEM;
}

static int trivy_set_str(char **dst, const char *v)
{
    if (!v || !*v)
        return 0;
    *dst = evb_strndup_utf8(v, strlen(v), TRIVY_STR_MAX);
    return *dst ? 0 : BW_ENOMEM;
}

/* ----------------------------------------------------------- validation */

/* Whether obj's member key is absent, null, or of the given type. */
static bool trivy_opt(const json_t *obj, const char *key, json_type type)
{
    const json_t *v = json_object_get(obj, key);

    return !v || json_is_null(v) || json_typeof(v) == type;
}

static bool trivy_vuln_ok(const json_t *v)
{
    return trivy_opt(v, "CVSS", JSON_OBJECT);
}

static bool trivy_misconfig_ok(const json_t *v)
{
    const json_t *cause = json_object_get(v, "CauseMetadata");

    return trivy_opt(v, "CauseMetadata", JSON_OBJECT) &&
           trivy_opt(cause, "StartLine", JSON_INTEGER) && trivy_opt(cause, "EndLine", JSON_INTEGER);
}

static bool trivy_secret_ok(const json_t *v)
{
    return trivy_opt(v, "StartLine", JSON_INTEGER) && trivy_opt(v, "EndLine", JSON_INTEGER);
}

/* One finding and where it sits in its report. */
struct trivy_item {
    const json_t *root, *result, *v;
};

static int trivy_vuln_event(const struct trivy_item *it, Bulwark__V1__Event *ev);
static int trivy_misconfig_event(const struct trivy_item *it, Bulwark__V1__Event *ev);
static int trivy_secret_event(const struct trivy_item *it, Bulwark__V1__Event *ev);

/* The finding lists of a Results[] entry: what each entry must and may hold
 * (strings), and what makes its event body. */
struct trivy_section {
    const char *key;
    const char *req[2];           /* required strings */
    const char *opt[9];           /* optional strings */
    bool (*ok)(const json_t *v);  /* the other members' types */
    int (*body)(const struct trivy_item *it, Bulwark__V1__Event *ev);
};

static const struct trivy_section trivy_sections[] = {
    {"Vulnerabilities", {"VulnerabilityID", "PkgName"},
     {"InstalledVersion", "FixedVersion", "Severity", "Title", "PkgPath"}, trivy_vuln_ok,
     trivy_vuln_event},
    {"Misconfigurations", {"ID"},
     {"AVDID", "Title", "Severity", "Status", "Message", "Resolution", "PrimaryURL", "Type"},
     trivy_misconfig_ok, trivy_misconfig_event},
    {"Secrets", {"RuleID"}, {"Category", "Severity", "Title", "Match"}, trivy_secret_ok,
     trivy_secret_event},
};
#define TRIVY_NSECTIONS (sizeof trivy_sections / sizeof trivy_sections[0])

static bool trivy_entry_ok(const struct trivy_section *sec, const json_t *v)
{
    if (!json_is_object(v))
        return false;
    for (size_t k = 0; k < sizeof sec->req / sizeof sec->req[0] && sec->req[k]; k++)
        if (!json_is_string(json_object_get(v, sec->req[k])))
            return false;
    for (size_t k = 0; k < sizeof sec->opt / sizeof sec->opt[0] && sec->opt[k]; k++)
        if (!trivy_opt(v, sec->opt[k], JSON_STRING))
            return false;
    return sec->ok(v);
}

/* An SBOM is a scanner's input, not a report of findings: named apart so
 * the log says so rather than "malformed". NULL when root is not one. */
static const char *trivy_sbom_kind(const json_t *root)
{
    if (json_is_string(json_object_get(root, "bomFormat")))
        return "a CycloneDX SBOM";
    if (json_is_string(json_object_get(root, "spdxVersion")))
        return "an SPDX SBOM";
    return NULL;
}

/* Checks the whole report before anything is emitted, so a bad file emits
 * nothing. Optional members may be absent or null but not of another type.
 * 0 or BW_EINVAL with the reason in why (*sbom set for an SBOM). */
static int trivy_validate(const json_t *root, bool *sbom, char *why, size_t whylen)
{
    const json_t *sv, *results, *meta, *r;
    const char *bom;
    size_t ri;

    if (!json_is_object(root)) {
        snprintf(why, whylen, "not a json object");
        return BW_EINVAL;
    }
    if ((bom = trivy_sbom_kind(root)) != NULL) {
        *sbom = true;
        snprintf(why, whylen, "not a vulnerability report: %s (scan it with 'trivy sbom')", bom);
        return BW_EINVAL;
    }
    sv = json_object_get(root, "SchemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        snprintf(why, whylen, "SchemaVersion is not 2");
        return BW_EINVAL;
    }
    meta = json_object_get(root, "Metadata");
    if (!trivy_opt(root, "ArtifactName", JSON_STRING) ||
        !trivy_opt(root, "ArtifactType", JSON_STRING) || !trivy_opt(root, "Results", JSON_ARRAY) ||
        (meta && !json_is_null(meta) &&
         (!json_is_object(meta) || !trivy_opt(meta, "ImageID", JSON_STRING) ||
          !trivy_opt(meta, "RepoDigests", JSON_ARRAY)))) {
        snprintf(why, whylen, "odd types in the report header");
        return BW_EINVAL;
    }
    results = json_object_get(root, "Results");
    json_array_foreach(results, ri, r) {
        if (!json_is_object(r) || !trivy_opt(r, "Target", JSON_STRING) ||
            !trivy_opt(r, "Type", JSON_STRING)) {
            snprintf(why, whylen, "Results[%zu] has odd types", ri);
            return BW_EINVAL;
        }
        for (size_t si = 0; si < TRIVY_NSECTIONS; si++) {
            const struct trivy_section *sec = &trivy_sections[si];
            const json_t *list = json_object_get(r, sec->key), *v;
            size_t vi;

            if (!trivy_opt(r, sec->key, JSON_ARRAY)) {
                snprintf(why, whylen, "Results[%zu].%s is not a list", ri, sec->key);
                return BW_EINVAL;
            }
            json_array_foreach(list, vi, v) {
                if (!trivy_entry_ok(sec, v)) {
                    snprintf(why, whylen, "Results[%zu].%s[%zu] has odd types", ri, sec->key,
                             vi);
                    return BW_EINVAL;
                }
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------- events */

static Bulwark__V1__Severity trivy_severity(const char *s)
{
    if (!s)
        return BULWARK__V1__SEVERITY__SEVERITY_INFO;
    if (!strcasecmp(s, "CRITICAL"))
        return BULWARK__V1__SEVERITY__SEVERITY_CRITICAL;
    if (!strcasecmp(s, "HIGH"))
        return BULWARK__V1__SEVERITY__SEVERITY_ERROR;
    if (!strcasecmp(s, "MEDIUM"))
        return BULWARK__V1__SEVERITY__SEVERITY_WARNING;
    if (!strcasecmp(s, "LOW"))
        return BULWARK__V1__SEVERITY__SEVERITY_NOTICE;
    return BULWARK__V1__SEVERITY__SEVERITY_INFO;
}

/* CVSS: {"nvd": {"V3Score": 9.8}, "redhat": {...}}: nvd's V3Score, else the
 * first vendor's V3Score, else 0. */
static double trivy_cvss(const json_t *cvss)
{
    const json_t *vendor, *score;
    const char *key;

    if (!json_is_object(cvss))
        return 0;
    score = json_object_get(json_object_get(cvss, "nvd"), "V3Score");
    if (json_is_number(score))
        return json_number_value(score);
    json_object_foreach((json_t *)cvss, key, vendor) {
        score = json_object_get(vendor, "V3Score");
        if (json_is_number(score))
            return json_number_value(score);
    }
    return 0;
}

/* The image's container ref, or NULL (with *err 0) when the artifact is not
 * a container image. */
static Bulwark__V1__ContainerRef *trivy_container(const json_t *root, int *err)
{
    const char *type = json_string_value(json_object_get(root, "ArtifactType"));
    const json_t *meta = json_object_get(root, "Metadata");
    const char *image = json_string_value(json_object_get(root, "ArtifactName"));
    const char *digest = json_string_value(json_array_get(json_object_get(meta, "RepoDigests"), 0));
    Bulwark__V1__ContainerRef *c;

    *err = 0;
    if (type && strcmp(type, "container_image") != 0)
        return NULL;
    if (!type && !json_object_get(meta, "ImageID") && !json_object_get(meta, "RepoDigests"))
        return NULL;  /* old reports without ArtifactType: only images carry these */
    if (digest && strchr(digest, '@'))
        digest = strchr(digest, '@') + 1;
    else if (!digest || !*digest)
        digest = json_string_value(json_object_get(meta, "ImageID"));
    c = calloc(1, sizeof *c);
    if (!c)
        goto out;
    bulwark__v1__container_ref__init(c);
    if (trivy_set_str(&c->image, image) < 0 || trivy_set_str(&c->image_digest, digest) < 0)
        goto out;
    return c;
out:
    if (c) {
        if (c->image != protobuf_c_empty_string)
            free(c->image);
        free(c);
    }
    *err = BW_ENOMEM;
    return NULL;
}

/* A JSON line number as a uint32 (0: absent or out of range). */
static uint32_t trivy_line(const json_t *v)
{
    json_int_t n = json_integer_value(v);

    return n > 0 && n <= (json_int_t)UINT32_MAX ? (uint32_t)n : 0;
}

/* The report-wide strings every finding carries. 0 or BW_ENOMEM. */
static int trivy_common(const struct trivy_item *it, char **scanner, char **target,
                        char **artifact_name, char **artifact_type)
{
    if (trivy_set_str(scanner, "trivy") < 0 || trivy_set(target, it->result, "Target") < 0 ||
        trivy_set(artifact_name, it->root, "ArtifactName") < 0 ||
        trivy_set(artifact_type, it->root, "ArtifactType") < 0)
        return BW_ENOMEM;
    return 0;
}

static int trivy_vuln_event(const struct trivy_item *it, Bulwark__V1__Event *ev)
{
    const json_t *v = it->v;
    Bulwark__V1__VulnFinding *f = evb_msg_new(&bulwark__v1__vuln_finding__descriptor);

    if (!f)
        return BW_ENOMEM;
    ev->body_case = BULWARK__V1__EVENT__BODY_VULN;
    ev->vuln = f;
    f->cvss_score = trivy_cvss(json_object_get(v, "CVSS"));
    if (trivy_set(&f->vuln_id, v, "VulnerabilityID") < 0 ||
        trivy_set(&f->package, v, "PkgName") < 0 ||
        trivy_set(&f->installed_version, v, "InstalledVersion") < 0 ||
        trivy_set(&f->fixed_version, v, "FixedVersion") < 0 ||
        trivy_set(&f->vuln_severity, v, "Severity") < 0 || trivy_set(&f->title, v, "Title") < 0 ||
        trivy_set(&f->pkg_path, v, "PkgPath") < 0 ||
        trivy_common(it, &f->scanner, &f->target, &f->artifact_name, &f->artifact_type) < 0)
        return BW_ENOMEM;
    return 0;
}

static int trivy_misconfig_event(const struct trivy_item *it, Bulwark__V1__Event *ev)
{
    const json_t *v = it->v, *cause = json_object_get(v, "CauseMetadata");
    Bulwark__V1__MisconfigFinding *f = evb_msg_new(&bulwark__v1__misconfig_finding__descriptor);

    if (!f)
        return BW_ENOMEM;
    ev->body_case = BULWARK__V1__EVENT__BODY_MISCONFIG;
    ev->misconfig = f;
    f->start_line = trivy_line(json_object_get(cause, "StartLine"));
    f->end_line = trivy_line(json_object_get(cause, "EndLine"));
    if (trivy_set(&f->check_id, v, "ID") < 0 || trivy_set(&f->avd_id, v, "AVDID") < 0 ||
        trivy_set(&f->title, v, "Title") < 0 ||
        trivy_set(&f->finding_severity, v, "Severity") < 0 ||
        trivy_set(&f->status, v, "Status") < 0 || trivy_set(&f->message, v, "Message") < 0 ||
        trivy_set(&f->resolution, v, "Resolution") < 0 ||
        trivy_set(&f->primary_url, v, "PrimaryURL") < 0 ||
        trivy_set(&f->target_type, it->result, "Type") < 0 ||
        trivy_common(it, &f->scanner, &f->target, &f->artifact_name, &f->artifact_type) < 0)
        return BW_ENOMEM;
    return 0;
}

/* What of a secret's Match may be kept: the key's name before the value,
 * and only when Trivy starred out what follows it ("AWS_KEY=****"), so the
 * name is known not to be part of the value; else just "****". The value
 * itself is never copied. out has room for TRIVY_KEY_MAX + 6 bytes. */
static void trivy_redact(const char *match, char *out, size_t outlen)
{
    size_t k = 0, n;
    const char *p;

    snprintf(out, outlen, "****");
    if (!match)
        return;
    while (match[k] == ' ' || match[k] == '\t')
        k++;
    match += k;
    for (n = 0; n < TRIVY_KEY_MAX && match[n]; n++) {
        char c = match[n];

        if (c == '=' || c == ':')
            break;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '"' || c == '\''))
            return;  /* spaces, slashes...: not a plain key name */
    }
    if (n == 0 || (match[n] != '=' && match[n] != ':'))
        return;
    for (p = match + n + 1; *p == ' ' || *p == '"' || *p == '\''; p++)
        ;
    if (*p != '*')
        return;  /* Trivy did not star the value out right after: keep nothing */
    snprintf(out, outlen, "%.*s%c****", (int)n, match, match[n]);
}

static int trivy_secret_event(const struct trivy_item *it, Bulwark__V1__Event *ev)
{
    const json_t *v = it->v;
    const char *match = json_string_value(json_object_get(v, "Match"));
    Bulwark__V1__SecretFinding *f = evb_msg_new(&bulwark__v1__secret_finding__descriptor);
    char red[TRIVY_KEY_MAX + 8];

    if (!f)
        return BW_ENOMEM;
    ev->body_case = BULWARK__V1__EVENT__BODY_SECRET;
    ev->secret = f;
    f->start_line = trivy_line(json_object_get(v, "StartLine"));
    f->end_line = trivy_line(json_object_get(v, "EndLine"));
    trivy_redact(match, red, sizeof red);
    if (trivy_set(&f->rule_id, v, "RuleID") < 0 || trivy_set(&f->category, v, "Category") < 0 ||
        trivy_set(&f->title, v, "Title") < 0 ||
        trivy_set(&f->finding_severity, v, "Severity") < 0 ||
        (match && *match && trivy_set_str(&f->match_redacted, red) < 0) ||
        trivy_common(it, &f->scanner, &f->target, &f->artifact_name, &f->artifact_type) < 0)
        return BW_ENOMEM;
    return 0;
}

/* Whether an entry is a finding: a configuration check that passed (or is
 * excepted) is listed only with --include-non-failures, and is not one. */
static bool trivy_is_finding(size_t si, const json_t *v)
{
    const char *status = json_string_value(json_object_get(v, "Status"));

    return trivy_sections[si].body != trivy_misconfig_event || !status ||
           (strcasecmp(status, "PASS") != 0 && strcasecmp(status, "EXCEPTION") != 0);
}

/* The finding at *cur or, moving *cur on, the next one; NULL at the end. */
static const json_t *trivy_next(const json_t *root, struct trivy_cursor *cur, const json_t **result)
{
    const json_t *results = json_object_get(root, "Results");

    for (; cur->ri < json_array_size(results); cur->ri++, cur->si = 0, cur->vi = 0) {
        const json_t *r = json_array_get(results, cur->ri);

        for (; cur->si < TRIVY_NSECTIONS; cur->si++, cur->vi = 0) {
            const json_t *list = json_object_get(r, trivy_sections[cur->si].key);

            for (; cur->vi < json_array_size(list); cur->vi++) {
                const json_t *v = json_array_get(list, cur->vi);

                if (trivy_is_finding(cur->si, v)) {
                    *result = r;
                    return v;
                }
            }
        }
    }
    return NULL;
}

/* Builds the event for the finding v of section si. 0 or BW_ENOMEM. */
static int trivy_event(const json_t *root, const json_t *result, size_t si, const json_t *v,
                       int64_t time_ns, Bulwark__V1__Event **out)
{
    const struct trivy_item it = {.root = root, .result = result, .v = v};
    Bulwark__V1__Event *ev = evb_event_new(
        time_ns, trivy_severity(json_string_value(json_object_get(v, "Severity"))));
    int rc;

    if (!ev)
        return BW_ENOMEM;
    if (trivy_sections[si].body(&it, ev) < 0)
        goto out;
    ev->container = trivy_container(root, &rc);
    if (rc < 0)
        goto out;
    *out = ev;
    return 0;
out:
    evjson_event_free(ev);
    return BW_ENOMEM;
}

static void trivy_pending_clear(struct trivy *t)
{
    json_decref(t->pend.root);
    memset(&t->pend, 0, sizeof t->pend);
}

/* Emits the pending report from where it stopped, at most *budget events.
 * Returns the number emitted; *stalled is set when the queue was full or
 * the budget ran out (the report stays pending). */
static int trivy_emit_pending(struct trivy *t, size_t *budget, bool *stalled)
{
    const json_t *r, *v;
    int n = 0;

    *stalled = false;
    for (; (v = trivy_next(t->pend.root, &t->pend.cur, &r)) != NULL; t->pend.cur.vi++) {
        Bulwark__V1__Event *ev = NULL;

        if (*budget == 0 || !t->env->has_room(t->env->emit_ctx)) {
            *stalled = true;  /* the queue is full: not a drop, wait */
            return n;
        }
        if (trivy_event(t->pend.root, r, t->pend.cur.si, v, t->pend.time_ns, &ev) < 0) {
            *stalled = true;  /* out of memory: try again later */
            return n;
        }
        if (t->env->emit(t->env->emit_ctx, ev) < 0) {
            *stalled = true;  /* queue full: this finding again next time */
            return n;
        }
        t->base.events++;
        (*budget)--;
        n++;
    }
    trivy_pending_clear(t);
    return n;
}

/* --------------------------------------------------------------- files */

/* A report's bytes to its checked JSON tree. 0 and *root, or BW_EINVAL with
 * why (*premature: the JSON ended early, perhaps still being written;
 * *sbom: an SBOM, not a report). */
static int trivy_parse(const char *buf, size_t len, json_t **root, bool *premature, bool *sbom,
                       char *why, size_t whylen)
{
    json_error_t jerr;
    int rc;

    *premature = false;
    *sbom = false;
    *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root) {
        *premature = json_error_code(&jerr) == json_error_premature_end_of_input;
        /* jerr.text may quote the input: give only the position */
        snprintf(why, whylen, "invalid json at line %d column %d", jerr.line, jerr.column);
        return BW_EINVAL;
    }
    rc = trivy_validate(*root, sbom, why, whylen);
    if (rc < 0) {
        json_decref(*root);
        *root = NULL;
    }
    return rc;
}

int trivy_report_events(const char *buf, size_t len, int64_t time_ns,
                        int (*fn)(void *ctx, Bulwark__V1__Event *ev), void *ctx, char *why,
                        size_t whylen)
{
    struct trivy_cursor cur = {0};
    const json_t *r, *v;
    json_t *root = NULL;
    bool premature, sbom;
    int n = 0, rc = trivy_parse(buf, len, &root, &premature, &sbom, why, whylen);

    if (rc < 0)
        return rc;
    for (; (v = trivy_next(root, &cur, &r)) != NULL; cur.vi++) {
        Bulwark__V1__Event *ev = NULL;

        rc = trivy_event(root, r, cur.si, v, time_ns, &ev);
        if (rc == 0)
            rc = fn(ctx, ev);
        if (rc < 0)
            goto out;
        n++;
    }
    rc = n;
out:
    json_decref(root);
    return rc;
}

/* Reads and checks one report. 0 and *root; BW_EAGAIN when it looks
 * half-written; BW_EINVAL (*sbom: an SBOM)/BW_ETOOBIG/BW_EIO with why;
 * BW_ENOMEM. */
static int trivy_load(const char *path, const struct stat *st, json_t **root, bool *sbom,
                      char *why, size_t whylen)
{
    struct timespec now;
    char *buf = NULL;
    size_t len = 0, cap;
    int fd = -1, rc;
    bool premature = false;

    if (st->st_size > (off_t)TRIVY_FILE_MAX) {
        snprintf(why, whylen, "larger than %u MiB", TRIVY_FILE_MAX >> 20);
        return BW_ETOOBIG;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return errno == ENOENT ? BW_EAGAIN : BW_EIO;
    }
    cap = (size_t)st->st_size + 1;
    buf = malloc(cap);
    if (!buf) {
        rc = BW_ENOMEM;
        goto out;
    }
    for (;;) {  /* the file may grow while we read: read to end, bounded */
        ssize_t r;

        if (len == cap) {
            size_t ncap = cap * 2;
            char *nb;

            if (cap > TRIVY_FILE_MAX) {
                snprintf(why, whylen, "larger than %u MiB", TRIVY_FILE_MAX >> 20);
                rc = BW_ETOOBIG;
                goto out;
            }
            nb = realloc(buf, ncap);
            if (!nb) {
                rc = BW_ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, whylen, "read error: %s", strerror(errno));
            rc = BW_EIO;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    rc = trivy_parse(buf, len, root, &premature, sbom, why, whylen);
    if (rc < 0 && premature) {
        clock_gettime(CLOCK_REALTIME, &now);
        if ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec -
                ((int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec) <
            TRIVY_SETTLE_NS)
            rc = BW_EAGAIN;
    }
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The slot of name, or NULL. */
static struct trivy_seen *trivy_seen_find(struct trivy *t, const char *name, uint64_t h)
{
    for (size_t i = 0; i < t->nseen; i++)
        if (t->seen[i].hash == h && !strcmp(t->seen[i].name, name))
            return &t->seen[i];
    return NULL;
}

/* Drops the entries of files that were not seen by the last full scan. */
static void trivy_seen_prune(struct trivy *t)
{
    size_t j = 0;

    for (size_t i = 0; i < t->nseen; i++) {
        if (t->seen[i].gen == t->gen)
            t->seen[j++] = t->seen[i];
        else
            free(t->seen[i].name);
    }
    t->nseen = j;
}

static bool trivy_is_report(const char *name)
{
    size_t n = strlen(name);

    return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".json");
}

/* Handles one directory entry. Returns 1 when a report was parsed (and is
 * now pending), 0 when there was nothing to do, or BW_ENOMEM. */
static int trivy_file(struct trivy *t, int dfd, const char *name)
{
    char path[PATH_MAX], why[256];
    struct trivy_seen *s;
    struct stat st;
    json_t *root = NULL;
    uint64_t h = bw_hash(name, strlen(name));
    bool sbom = false;
    int64_t mtime;
    int rc;

    if (fstatat(dfd, name, &st, 0) != 0 || !S_ISREG(st.st_mode))
        return 0;
    mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    s = trivy_seen_find(t, name, h);
    if (s) {
        s->gen = t->gen;
        if (s->ino == (uint64_t)st.st_ino && s->size == (int64_t)st.st_size && s->mtime_ns == mtime)
            return 0;
    } else if (t->nseen == TRIVY_SEEN_MAX) {
        if (!t->full_logged)
            log_msg(LOG_WARN, "trivy", "'%s': more than %u reports, '%s' and later ones are "
                    "skipped until some are removed", t->dir, TRIVY_SEEN_MAX, name);
        t->full_logged = true;
        return 0;
    }
    if (snprintf(path, sizeof path, "%s/%s", t->dir, name) >= (int)sizeof path)
        return 0;
    rc = trivy_load(path, &st, &root, &sbom, why, sizeof why);
    if (rc == BW_EAGAIN || rc == BW_ENOMEM)
        return rc == BW_ENOMEM ? rc : 0;  /* half-written or gone: next scan */
    if (!s) {
        s = &t->seen[t->nseen];
        s->name = strdup(name);
        if (!s->name) {
            json_decref(root);
            return BW_ENOMEM;
        }
        s->hash = h;
        s->gen = t->gen;
        t->nseen++;
    }
    s->ino = (uint64_t)st.st_ino;
    s->size = (int64_t)st.st_size;
    s->mtime_ns = mtime;
    if (rc < 0 && sbom) {
        t->base.errors++;
        log_msg(LOG_WARN, "trivy", "'%s': skipped, %s", path, why);
        return 0;
    }
    if (rc < 0) {
        t->base.errors++;
        log_msg(LOG_WARN, "trivy", "'%s': skipped malformed report: %s (%" PRIu64
                " malformed so far)", path, why, t->base.errors);
        return 0;
    }
    t->pend.root = root;
    t->pend.time_ns = mtime;
    return 1;
}

/* (Re)adds the inotify watch on the directory; quiet when it is missing. */
static void trivy_watch(struct trivy *t)
{
    if (t->ifd < 0 || t->wd >= 0)
        return;
    t->wd = inotify_add_watch(t->ifd, t->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR |
                                                  IN_DELETE_SELF | IN_MOVE_SELF);
    if (t->wd < 0 && !t->dir_logged) {
        log_msg(LOG_WARN, "trivy", "cannot watch '%s': %s (rescanning every %u ms)", t->dir,
                strerror(errno), TRIVY_RESCAN_MS);
        t->dir_logged = true;
    } else if (t->wd >= 0) {
        t->dir_logged = false;
    }
}

static int trivy_scan(struct collector *c)
{
    struct trivy *t = (struct trivy *)c;
    /* one-shot mode has no next scan: no bounds but the agent's queue */
    size_t budget = t->env->loop ? TRIVY_SCAN_EVENTS_MAX : SIZE_MAX, files = 0;
    size_t files_max = t->env->loop ? TRIVY_SCAN_FILES_MAX : SIZE_MAX;
    bool stalled = false, complete = true;
    struct dirent *de;
    DIR *d;
    int n = 0, rc;

    trivy_watch(t);
    if (t->pend.root) {
        n += trivy_emit_pending(t, &budget, &stalled);
        if (stalled)
            goto backlog;
    }
    d = opendir(t->dir);
    if (!d)
        return n;
    t->gen++;
    while ((de = readdir(d)) != NULL) {
        if (!trivy_is_report(de->d_name))
            continue;
        if (files == files_max) {
            complete = false;
            stalled = true;
            break;
        }
        rc = trivy_file(t, dirfd(d), de->d_name);
        if (rc < 0) {
            complete = false;
            stalled = true;
            break;
        }
        if (rc == 0)
            continue;
        files++;
        n += trivy_emit_pending(t, &budget, &stalled);
        if (stalled) {
            complete = false;
            break;
        }
    }
    closedir(d);
    if (complete)
        trivy_seen_prune(t);
backlog:
    if (stalled && t->timer_init && !t->closing)
        uv_timer_start(&t->timer, on_trivy_timer, TRIVY_BACKLOG_MS, TRIVY_RESCAN_MS);
    return n;
}

/* ------------------------------------------------------------ the loop */

static void on_trivy_timer(uv_timer_t *h)
{
    struct trivy *t = h->data;

    trivy_scan(&t->base);
}

static void on_trivy_inotify(uv_poll_t *h, int status, int events)
{
    struct trivy *t = h->data;
    char buf[TRIVY_INOTIFY_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    ssize_t r;

    (void)status;
    (void)events;
    while ((r = read(t->ifd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + r;) {
            const struct inotify_event *ie = (const struct inotify_event *)p;

            if (ie->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                if (t->wd >= 0 && (ie->mask & IN_MOVE_SELF))
                    inotify_rm_watch(t->ifd, t->wd);
                if (ie->wd == t->wd)
                    t->wd = -1;  /* the directory went away: the timer re-adds it */
            }
            any = true;
            p += sizeof *ie + ie->len;
        }
    }
    if (any)
        trivy_scan(&t->base);
}

static int trivy_start(struct collector *c)
{
    struct trivy *t = (struct trivy *)c;

    if (!t->env->loop)
        return 0;
    t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (t->ifd < 0)
        log_msg(LOG_WARN, "trivy", "inotify unavailable (%s): rescanning '%s' every %u ms",
                strerror(errno), t->dir, TRIVY_RESCAN_MS);
    if (t->ifd >= 0) {
        if (uv_poll_init(t->env->loop, &t->poll, t->ifd) != 0) {
            close(t->ifd);
            t->ifd = -1;
        } else {
            t->poll.data = t;
            t->poll_init = true;
            uv_poll_start(&t->poll, UV_READABLE, on_trivy_inotify);
        }
    }
    uv_timer_init(t->env->loop, &t->timer);
    t->timer.data = t;
    t->timer_init = true;
    trivy_watch(t);
    uv_timer_start(&t->timer, on_trivy_timer, 0, TRIVY_RESCAN_MS);
    return 0;
}

static void on_trivy_closed(uv_handle_t *h)
{
    struct trivy *t = h->data;

    if (--t->closing == 0 && t->done)
        t->done(t->done_arg);
}

static void trivy_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    struct trivy *t = (struct trivy *)c;

    t->done = done;
    t->done_arg = arg;
    t->closing = 1;  /* held while closing, so done runs once, last */
    if (t->poll_init) {
        t->poll_init = false;
        t->closing++;
        uv_poll_stop(&t->poll);
        uv_close((uv_handle_t *)&t->poll, on_trivy_closed);
    }
    if (t->timer_init) {
        t->timer_init = false;
        t->closing++;
        uv_close((uv_handle_t *)&t->timer, on_trivy_closed);
    }
    if (t->ifd >= 0) {
        close(t->ifd);  /* the poll handle is stopped: safe */
        t->ifd = -1;
        t->wd = -1;
    }
    if (--t->closing == 0 && done)
        done(arg);
}

static void trivy_destroy(struct collector *c)
{
    struct trivy *t = (struct trivy *)c;

    if (t->ifd >= 0)
        close(t->ifd);
    trivy_pending_clear(t);
    for (size_t i = 0; i < t->nseen; i++)
        free(t->seen[i].name);
    free(t->seen);
    free(t->dir);
    free(t);
}

struct collector *collector_trivy_new(const struct collector_env *env)
{
    struct trivy *t = calloc(1, sizeof *t);
    const char *dir = env->cfg->trivy_dir ? env->cfg->trivy_dir : "";
    size_t n = strlen(dir);

    if (!t)
        return NULL;
    t->base.name = "trivy";
    t->base.start = trivy_start;
    t->base.scan = trivy_scan;
    t->base.stop = trivy_stop;
    t->base.destroy = trivy_destroy;
    t->env = env;
    t->ifd = -1;
    t->wd = -1;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    t->dir = strndup(dir, n);
    t->seen = calloc(TRIVY_SEEN_MAX, sizeof *t->seen);
    if (!t->dir || !t->seen) {
        trivy_destroy(&t->base);
        return NULL;
    }
    return &t->base;
}
