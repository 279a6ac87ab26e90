/* trivy.c - the `trivy` collector: Trivy image-scan reports
 * (`trivy image --format json`, SchemaVersion 2) dropped in a directory
 * become one `vuln` event per vulnerability.
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
 * remembered so it is not retried until it changes. A file that ends early
 * and was modified less than TRIVY_SETTLE_NS ago is taken to be still being
 * written: it is neither counted nor remembered, and retried later.
 *
 * Each event: vuln {vuln_id, package, installed_version, fixed_version,
 * vuln_severity, cvss_score (nvd V3Score, else the first V3Score), title,
 * scanner "trivy", target (Results[].Target)}, time = the file's mtime,
 * severity CRITICAL->critical, HIGH->error, MEDIUM->warning, LOW->notice,
 * anything else->info, and for container images a container ref {image =
 * ArtifactName, image_digest = RepoDigests[0] after '@', else ImageID}.
 *
 * When the agent's queue is full (has_room() says no; asked before each
 * event, so the wait is not counted as a drop) the report stays pending at
 * that vulnerability and is resumed by the next scan (nothing is skipped).
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
#include "bulwark/evjson.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"

#define TRIVY_FILE_MAX (64u * 1024 * 1024)
#define TRIVY_SEEN_MAX 4096u
#define TRIVY_RESCAN_MS 5000u
#define TRIVY_BACKLOG_MS 100u
#define TRIVY_SETTLE_NS (5 * 1000000000LL)
#define TRIVY_SCAN_EVENTS_MAX 50000u
#define TRIVY_SCAN_FILES_MAX 16u
#define TRIVY_STR_MAX 1024u   /* the evjson bound, so --stdout output replays */
#define TRIVY_INOTIFY_BUF 4096u

struct trivy_seen {
    char *name;
    uint64_t hash;
    uint64_t ino;
    int64_t size;
    int64_t mtime_ns;
    uint32_t gen;      /* scan generation that last saw the file */
};

/* The report being emitted: resumed at (ri, vi) when the queue was full. */
struct trivy_pending {
    json_t *root;
    size_t ri, vi;
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

/* ------------------------------------------------------------- helpers */

static uint64_t trivy_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Sets *dst to a bounded copy of the string member `key` of obj (left at
 * the empty default when absent or null). 0 or BW_ENOMEM. */
static int trivy_set(char **dst, const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    if (!v || !*v)
        return 0;
    *dst = procfs_strndup_utf8(v, strlen(v), TRIVY_STR_MAX);
    return *dst ? 0 : BW_ENOMEM;
}

static int trivy_set_str(char **dst, const char *v)
{
    if (!v || !*v)
        return 0;
    *dst = procfs_strndup_utf8(v, strlen(v), TRIVY_STR_MAX);
    return *dst ? 0 : BW_ENOMEM;
}

/* ----------------------------------------------------------- validation */

static bool trivy_opt_string(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return !v || json_is_null(v) || json_is_string(v);
}

static bool trivy_opt_array(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return !v || json_is_null(v) || json_is_array(v);
}

/* Checks the whole report before anything is emitted, so a bad file emits
 * nothing. Optional members may be absent or null but not of another type.
 * 0 or BW_EINVAL with the reason in why. */
static int trivy_validate(const json_t *root, char *why, size_t whylen)
{
    static const char *const vstr[] = {"VulnerabilityID", "PkgName", "InstalledVersion",
                                       "FixedVersion", "Severity", "Title"};
    const json_t *sv, *results, *meta, *r;
    size_t ri;

    if (!json_is_object(root)) {
        snprintf(why, whylen, "not a json object");
        return BW_EINVAL;
    }
    sv = json_object_get(root, "SchemaVersion");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        snprintf(why, whylen, "SchemaVersion is not 2");
        return BW_EINVAL;
    }
    meta = json_object_get(root, "Metadata");
    if (!trivy_opt_string(root, "ArtifactName") || !trivy_opt_string(root, "ArtifactType") ||
        !trivy_opt_array(root, "Results") ||
        (meta && !json_is_null(meta) &&
         (!json_is_object(meta) || !trivy_opt_string(meta, "ImageID") ||
          !trivy_opt_array(meta, "RepoDigests")))) {
        snprintf(why, whylen, "odd types in the report header");
        return BW_EINVAL;
    }
    results = json_object_get(root, "Results");
    json_array_foreach(results, ri, r) {
        const json_t *vulns, *v;
        size_t vi;

        if (!json_is_object(r) || !trivy_opt_string(r, "Target") ||
            !trivy_opt_array(r, "Vulnerabilities")) {
            snprintf(why, whylen, "Results[%zu] has odd types", ri);
            return BW_EINVAL;
        }
        vulns = json_object_get(r, "Vulnerabilities");
        json_array_foreach(vulns, vi, v) {
            const json_t *cvss = json_object_get(v, "CVSS");
            bool ok = json_is_object(v) && json_is_string(json_object_get(v, "VulnerabilityID")) &&
                      json_is_string(json_object_get(v, "PkgName"));

            for (size_t k = 0; ok && k < sizeof vstr / sizeof vstr[0]; k++)
                ok = trivy_opt_string(v, vstr[k]);
            if (ok && cvss && !json_is_null(cvss) && !json_is_object(cvss))
                ok = false;
            if (!ok) {
                snprintf(why, whylen, "Results[%zu].Vulnerabilities[%zu] has odd types", ri, vi);
                return BW_EINVAL;
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

/* Builds the event for one vulnerability. 0 or BW_ENOMEM. */
static int trivy_event(const json_t *root, const json_t *result, const json_t *v, int64_t time_ns,
                       Bulwark__V1__Event **out)
{
    Bulwark__V1__Event *ev = calloc(1, sizeof *ev);
    Bulwark__V1__VulnFinding *f = calloc(1, sizeof *f);
    const char *target = json_string_value(json_object_get(result, "Target"));
    int rc = BW_ENOMEM;

    if (!ev || !f) {
        free(ev);
        free(f);
        return BW_ENOMEM;
    }
    bulwark__v1__event__init(ev);
    bulwark__v1__vuln_finding__init(f);
    ev->body_case = BULWARK__V1__EVENT__BODY_VULN;
    ev->vuln = f;
    ev->time_ns = time_ns;
    ev->severity = trivy_severity(json_string_value(json_object_get(v, "Severity")));
    f->cvss_score = trivy_cvss(json_object_get(v, "CVSS"));
    if (trivy_set(&f->vuln_id, v, "VulnerabilityID") < 0 || trivy_set(&f->package, v, "PkgName") < 0 ||
        trivy_set(&f->installed_version, v, "InstalledVersion") < 0 ||
        trivy_set(&f->fixed_version, v, "FixedVersion") < 0 ||
        trivy_set(&f->vuln_severity, v, "Severity") < 0 || trivy_set(&f->title, v, "Title") < 0 ||
        trivy_set_str(&f->scanner, "trivy") < 0 || trivy_set_str(&f->target, target) < 0)
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
    const json_t *results = json_object_get(t->pend.root, "Results");
    int n = 0;

    *stalled = false;
    for (; t->pend.ri < json_array_size(results); t->pend.ri++, t->pend.vi = 0) {
        const json_t *r = json_array_get(results, t->pend.ri);
        const json_t *vulns = json_object_get(r, "Vulnerabilities");

        for (; t->pend.vi < json_array_size(vulns); t->pend.vi++) {
            Bulwark__V1__Event *ev = NULL;

            if (*budget == 0 || !t->env->has_room(t->env->emit_ctx)) {
                *stalled = true;  /* the queue is full: not a drop, wait */
                return n;
            }
            if (trivy_event(t->pend.root, r, json_array_get(vulns, t->pend.vi), t->pend.time_ns,
                            &ev) < 0) {
                *stalled = true;  /* out of memory: try again later */
                return n;
            }
            if (t->env->emit(t->env->emit_ctx, ev) < 0) {
                *stalled = true;  /* queue full: this vulnerability again next time */
                return n;
            }
            t->base.events++;
            (*budget)--;
            n++;
        }
    }
    trivy_pending_clear(t);
    return n;
}

/* --------------------------------------------------------------- files */

/* A report's bytes to its checked JSON tree. 0 and *root, or BW_EINVAL with
 * why (*premature: the JSON ended early, perhaps still being written). */
static int trivy_parse(const char *buf, size_t len, json_t **root, bool *premature, char *why,
                       size_t whylen)
{
    json_error_t jerr;
    int rc;

    *premature = false;
    *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root) {
        *premature = json_error_code(&jerr) == json_error_premature_end_of_input;
        /* jerr.text may quote the input: give only the position */
        snprintf(why, whylen, "invalid json at line %d column %d", jerr.line, jerr.column);
        return BW_EINVAL;
    }
    rc = trivy_validate(*root, why, whylen);
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
    const json_t *results;
    json_t *root = NULL;
    bool premature;
    size_t ri, vi;
    int n = 0, rc = trivy_parse(buf, len, &root, &premature, why, whylen);

    if (rc < 0)
        return rc;
    results = json_object_get(root, "Results");
    for (ri = 0; ri < json_array_size(results); ri++) {
        const json_t *r = json_array_get(results, ri);
        const json_t *vulns = json_object_get(r, "Vulnerabilities");

        for (vi = 0; vi < json_array_size(vulns); vi++) {
            Bulwark__V1__Event *ev = NULL;

            rc = trivy_event(root, r, json_array_get(vulns, vi), time_ns, &ev);
            if (rc == 0)
                rc = fn(ctx, ev);
            if (rc < 0)
                goto out;
            n++;
        }
    }
    rc = n;
out:
    json_decref(root);
    return rc;
}

/* Reads and checks one report. 0 and *root; BW_EAGAIN when it looks
 * half-written; BW_EINVAL/BW_ETOOBIG/BW_EIO with why; BW_ENOMEM. */
static int trivy_load(const char *path, const struct stat *st, json_t **root, char *why,
                      size_t whylen)
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
    rc = trivy_parse(buf, len, root, &premature, why, whylen);
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
    uint64_t h = trivy_hash(name);
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
    rc = trivy_load(path, &st, &root, why, sizeof why);
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
