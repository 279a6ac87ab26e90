/* falco.c - the `falco` collector: Falco's JSON output (json_output: true,
 * one alert per line) becomes one `external` event per alert.
 *
 * cfg->falco_file is a path as the agent sees it (not below host_root) and
 * may be:
 *  - a regular file (file_output), read every FALCO_TICK_MS. The position
 *    read (device, inode, offset after the last line taken) goes to the
 *    spool with the events of those lines (env->mark), so a restart, even
 *    after a crash, resumes after the last stored line: nothing Falco wrote
 *    while the agent was down is lost, nothing is reported twice. With no
 *    stored position (the very first start) an existing file is read from
 *    its end, so history is not replayed. A stored position of another
 *    inode (the file was rotated while the agent was down) or past the end
 *    (it was cut) starts at 0, and says so. A file that appears later, or
 *    the new file after a rotation, is read from its start. Rotation by rename (a new inode at
 *    the path) is noticed at end of file: the old file is read to its end
 *    first, then the new one is opened. Truncation in place (copytruncate)
 *    is noticed when the file is shorter than what was read: reading starts
 *    again at 0 (lines written between our last read and the truncation are
 *    lost: copytruncate's own window).
 *  - a FIFO (program_output to a named pipe), opened O_RDONLY|O_NONBLOCK
 *    and read when uv_poll says so. When every writer went away (read
 *    returns 0) the FIFO is reopened, so Falco can restart.
 * In one-shot mode (no loop) scan() reads the file from its start to end.
 *
 * A partial last line is kept until its newline arrives. At the end of a
 * stream (rotation, FIFO writers gone) an unterminated last line is parsed
 * like any other. A line longer than FALCO_LINE_MAX is counted and skipped
 * up to its newline; a line that is not a JSON object with a string "rule"
 * or "output" is counted and skipped. Text that is not valid UTF-8 (raw
 * bytes, Latin-1, a \u0000 or a lone surrogate escape, a raw control
 * character) is repaired, each bad sequence becoming U+FFFD, and the alert
 * kept. Every skipped or repaired line is counted; each kind is logged with
 * the file name and byte offset at once and then at most every
 * FALCO_LOG_EVERY_NS with the count of lines not logged since. Absent keys
 * (Falco writes "source" only since 0.33, "hostname" since 0.30) are
 * absent from the event.
 *
 * Each alert: external {source "falco", rule, priority, output, fields =
 * output_fields as strings (null values left out; plus falco.source and
 * falco.hostname), tags}, time from "time" (RFC 3339, ns) or now, severity
 * from priority (Emergency..Debug; unknown -> warning), a process ref from
 * proc.* / user.* fields, and a container ref when container.id is set and
 * not "host" (the attribution cache's ref when proc.pid resolves to the
 * same container, else one built from the container.* and k8s.* fields).
 *
 * When the agent's queue is full (has_room() says no; asked before each
 * alert, so the wait is not counted as a drop), reading stops and the line
 * is parsed again on the next scan: the collector pushes back (on a FIFO,
 * Falco then blocks or drops by its own buffer policy). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulwark/clock.h"
#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"

#define FALCO_LINE_MAX (1024u * 1024)
#define FALCO_CHUNK (64u * 1024)
#define FALCO_BUF_CAP (FALCO_LINE_MAX + FALCO_CHUNK)
#define FALCO_SCAN_BYTES (4u * 1024 * 1024)  /* read per scan/poll callback */
#define FALCO_TICK_MS 250u
#define FALCO_STR_MAX 1024u      /* evjson's bound, so --stdout output replays */
#define FALCO_CMDLINE_MAX 4096u
#define FALCO_ID_MAX 128u        /* container id bound the server enforces */
#define FALCO_FIELDS_MAX 256u
#define FALCO_TAGS_MAX 64u
#define FALCO_LOG_EVERY_NS (10 * 1000000000LL)

/* What the collector logs about lines, each kind rate-limited apart. */
enum falco_note { FALCO_NOT_JSON, FALCO_NOT_ALERT, FALCO_TOO_LONG, FALCO_REPAIRED, FALCO_NOTES };

static const char *const falco_note_what[FALCO_NOTES] = {
    [FALCO_NOT_JSON] = "skipped a line that is not json",
    [FALCO_NOT_ALERT] = "skipped a json line that is not a falco alert",
    [FALCO_TOO_LONG] = "skipped a line longer than 1 MiB",
    [FALCO_REPAIRED] = "repaired invalid utf-8 in an alert (U+FFFD)",
};

enum falco_line_rc { FALCO_LINE_OK = 0, FALCO_LINE_STALL = 1 };

struct falco {
    struct collector base;
    const struct collector_env *env;
    char *path;
    int fd;
    bool fifo;
    dev_t dev;
    ino_t ino;
    off_t off;             /* bytes read from the regular file */
    char *buf;             /* FALCO_BUF_CAP: unprocessed bytes [0, len) */
    size_t len;
    bool skipping;         /* discarding a too-long line up to its newline */
    bool opened_once;      /* only the first open starts at the end */
    bool open_logged;
    char *mark_key;        /* "falco:PATH": the position kept in the spool */
    struct {
        uint64_t total, unlogged;
        int64_t logged_ns;  /* monotonic; 0: never */
    } notes[FALCO_NOTES];
    uint64_t repaired;
    uv_timer_t timer;
    uv_poll_t *poll;       /* heap: one per FIFO fd, closed before the fd */
    bool poll_active;      /* stopped while the agent's queue is full */
    bool timer_init;
    int closing;           /* handles not yet closed */
    void (*done)(void *arg);
    void *done_arg;
};

/* ------------------------------------------------------------- helpers */

/* Sets *dst to a bounded copy of v; leaves the default for NULL or "". */
static int falco_set(char **dst, const char *v, size_t max)
{
    if (!v || !*v)
        return 0;
    *dst = evb_strndup_utf8(v, strlen(v), max);
    return *dst ? 0 : BW_ENOMEM;
}

/* A field value as text: strings as they are, numbers and booleans
 * printed, arrays and objects as compact JSON. NULL for null/absent or on
 * ENOMEM (*nomem set). The result is malloc'd and bounded. */
static char *falco_value_text(const json_t *v, bool *nomem)
{
    char num[64], *dump, *s;

    if (!v)
        return NULL;  /* an absent key (source, hostname before Falco 0.30 / 0.33) */
    switch (json_typeof(v)) {
    case JSON_STRING:
        s = evb_strndup_utf8(json_string_value(v), json_string_length(v), FALCO_STR_MAX);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = strdup(num);
        break;
    case JSON_REAL:
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        s = strdup(num);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        s = strdup(json_is_true(v) ? "true" : "false");
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        dump = json_dumps(v, JSON_COMPACT);
        s = dump ? evb_strndup_utf8(dump, strlen(dump), FALCO_STR_MAX) : NULL;
        free(dump);
        break;
    default:
        return NULL;
    }
    if (!s)
        *nomem = true;
    return s;
}

/* An integer field (a JSON integer or a decimal string); false if neither. */
static bool falco_int_field(const json_t *fields, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(fields, key);
    const char *s;
    char *end;
    long long x;

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    s = json_string_value(v);
    if (!s || !*s)
        return false;
    errno = 0;
    x = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

static const char *falco_str_field(const json_t *fields, const char *key)
{
    const char *s = json_string_value(json_object_get(fields, key));

    return s && *s && strcmp(s, "<NA>") != 0 ? s : NULL;
}

static Bulwark__V1__Severity falco_severity(const char *p)
{
    static const struct {
        const char *name;
        Bulwark__V1__Severity sev;
    } map[] = {
        {"emergency", BULWARK__V1__SEVERITY__SEVERITY_EMERGENCY},
        {"alert", BULWARK__V1__SEVERITY__SEVERITY_ALERT},
        {"critical", BULWARK__V1__SEVERITY__SEVERITY_CRITICAL},
        {"error", BULWARK__V1__SEVERITY__SEVERITY_ERROR},
        {"warning", BULWARK__V1__SEVERITY__SEVERITY_WARNING},
        {"notice", BULWARK__V1__SEVERITY__SEVERITY_NOTICE},
        {"informational", BULWARK__V1__SEVERITY__SEVERITY_INFO},
        {"info", BULWARK__V1__SEVERITY__SEVERITY_INFO},
        {"debug", BULWARK__V1__SEVERITY__SEVERITY_DEBUG},
    };

    for (size_t i = 0; p && i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(p, map[i].name))
            return map[i].sev;
    return BULWARK__V1__SEVERITY__SEVERITY_WARNING;
}

/* ------------------------------------------------------------ the event */

static int falco_add_field(Bulwark__V1__ExternalAlert *x, const char *key, char *value)
{
    Bulwark__V1__ExternalAlert__FieldsEntry *e;

    if (!value)
        return 0;
    if (x->n_fields == FALCO_FIELDS_MAX) {
        free(value);
        return 0;
    }
    e = calloc(1, sizeof *e);
    if (!e) {
        free(value);
        return BW_ENOMEM;
    }
    bulwark__v1__external_alert__fields_entry__init(e);
    e->value = value;
    x->fields[x->n_fields++] = e;
    e->key = evb_strndup_utf8(key, strlen(key), FALCO_STR_MAX);
    return e->key ? 0 : BW_ENOMEM;
}

static int falco_fill_alert(Bulwark__V1__ExternalAlert *x, const json_t *o)
{
    const json_t *fields = json_object_get(o, "output_fields"), *tags = json_object_get(o, "tags");
    const json_t *v;
    const char *key;
    bool nomem = false;
    size_t i;

    if (falco_set(&x->source, "falco", FALCO_STR_MAX) < 0 ||
        falco_set(&x->rule, json_string_value(json_object_get(o, "rule")), FALCO_STR_MAX) < 0 ||
        falco_set(&x->priority, json_string_value(json_object_get(o, "priority")),
                  FALCO_STR_MAX) < 0 ||
        falco_set(&x->output, json_string_value(json_object_get(o, "output")), FALCO_STR_MAX) < 0)
        return BW_ENOMEM;
    x->fields = calloc(FALCO_FIELDS_MAX, sizeof *x->fields);
    if (!x->fields)
        return BW_ENOMEM;
    if (json_is_object(fields)) {
        json_object_foreach((json_t *)fields, key, v) {
            if (falco_add_field(x, key, falco_value_text(v, &nomem)) < 0 || nomem)
                return BW_ENOMEM;
        }
    }
    if (falco_add_field(x, "falco.source",
                        falco_value_text(json_object_get(o, "source"), &nomem)) < 0 ||
        falco_add_field(x, "falco.hostname",
                        falco_value_text(json_object_get(o, "hostname"), &nomem)) < 0 || nomem)
        return BW_ENOMEM;
    if (json_is_array(tags) && json_array_size(tags) > 0) {
        x->tags = calloc(FALCO_TAGS_MAX, sizeof *x->tags);
        if (!x->tags)
            return BW_ENOMEM;
        json_array_foreach(tags, i, v) {
            if (x->n_tags == FALCO_TAGS_MAX)
                break;
            if (!json_is_string(v))
                continue;
            x->tags[x->n_tags] =
                evb_strndup_utf8(json_string_value(v), json_string_length(v), FALCO_STR_MAX);
            if (!x->tags[x->n_tags++])
                return BW_ENOMEM;
        }
    }
    return 0;
}

static int falco_fill_process(Bulwark__V1__Event *ev, const json_t *f)
{
    Bulwark__V1__ProcessRef *p;
    const char *exe = falco_str_field(f, "proc.exepath");
    int64_t pid, n;

    if (!falco_int_field(f, "proc.pid", &pid) || pid <= 0 || pid > INT32_MAX)
        return 0;
    p = calloc(1, sizeof *p);
    if (!p)
        return BW_ENOMEM;
    bulwark__v1__process_ref__init(p);
    ev->process = p;
    p->pid = (int32_t)pid;
    if (falco_int_field(f, "proc.ppid", &n) && n > 0 && n <= INT32_MAX)
        p->ppid = (int32_t)n;
    /* ids Falco's output does not give stay absent, not 0 (root) */
    if (falco_int_field(f, "user.uid", &n) && n >= 0 && n <= UINT32_MAX) {
        p->uid_opt_case = BULWARK__V1__PROCESS_REF__UID_OPT_UID;
        p->uid = (uint32_t)n;
    }
    if (falco_int_field(f, "group.gid", &n) && n >= 0 && n <= UINT32_MAX) {
        p->gid_opt_case = BULWARK__V1__PROCESS_REF__GID_OPT_GID;
        p->gid = (uint32_t)n;
    }
    if (!exe || exe[0] != '/')
        exe = falco_str_field(f, "proc.exe");
    if (falco_set(&p->exe, exe, FALCO_STR_MAX) < 0 ||
        falco_set(&p->name, falco_str_field(f, "proc.name"), FALCO_STR_MAX) < 0 ||
        falco_set(&p->cmdline, falco_str_field(f, "proc.cmdline"), FALCO_CMDLINE_MAX) < 0 ||
        falco_set(&p->parent_name, falco_str_field(f, "proc.pname"), FALCO_STR_MAX) < 0 ||
        falco_set(&p->user, falco_str_field(f, "user.name"), FALCO_STR_MAX) < 0)
        return BW_ENOMEM;
    return 0;
}

static int falco_fill_container(struct containers *cache, Bulwark__V1__Event *ev,
                                const json_t *f)
{
    const char *id = falco_str_field(f, "container.id");
    const char *repo = falco_str_field(f, "container.image.repository");
    const char *tag = falco_str_field(f, "container.image.tag");
    const char *image = falco_str_field(f, "container.image");
    Bulwark__V1__ContainerRef *c;
    char ref[FALCO_STR_MAX];
    int64_t pid;

    if (!id || !strcmp(id, "host"))
        return 0;
    if (cache && falco_int_field(f, "proc.pid", &pid) && pid > 0 && pid <= INT32_MAX) {
        const Bulwark__V1__ContainerRef *known = containers_lookup_pid(cache, (int)pid);

        if (known && known->id && !strncmp(known->id, id, strlen(id))) {
            ev->container = containers_ref_dup(known);
            return ev->container ? 0 : BW_ENOMEM;
        }
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return BW_ENOMEM;
    bulwark__v1__container_ref__init(c);
    ev->container = c;
    if (repo) {
        snprintf(ref, sizeof ref, "%s%s%s", repo, tag ? ":" : "", tag ? tag : "");
        image = ref;
    }
    if (falco_set(&c->id, id, FALCO_ID_MAX) < 0 ||
        falco_set(&c->name, falco_str_field(f, "container.name"), FALCO_STR_MAX) < 0 ||
        falco_set(&c->image, image, FALCO_STR_MAX) < 0 ||
        falco_set(&c->image_digest, falco_str_field(f, "container.image.digest"),
                  FALCO_STR_MAX) < 0 ||
        falco_set(&c->runtime, falco_str_field(f, "container.type"), FALCO_STR_MAX) < 0 ||
        falco_set(&c->k8s_namespace, falco_str_field(f, "k8s.ns.name"), FALCO_STR_MAX) < 0 ||
        falco_set(&c->k8s_pod, falco_str_field(f, "k8s.pod.name"), FALCO_STR_MAX) < 0 ||
        falco_set(&c->k8s_pod_uid, falco_str_field(f, "k8s.pod.uid"), FALCO_STR_MAX) < 0)
        return BW_ENOMEM;
    return 0;
}

/* Builds the event of one alert object. 0 or BW_ENOMEM. */
static int falco_event(struct containers *cache, const json_t *o, Bulwark__V1__Event **out)
{
    Bulwark__V1__Event *ev = calloc(1, sizeof *ev);
    Bulwark__V1__ExternalAlert *x = calloc(1, sizeof *x);
    const json_t *fields = json_object_get(o, "output_fields");
    const char *when = json_string_value(json_object_get(o, "time"));
    int64_t t;

    if (!ev || !x) {
        free(ev);
        free(x);
        return BW_ENOMEM;
    }
    bulwark__v1__event__init(ev);
    bulwark__v1__external_alert__init(x);
    ev->body_case = BULWARK__V1__EVENT__BODY_EXTERNAL;
    ev->external = x;
    if (when && evjson_parse_time(when, &t) == 0 && t > 0)
        ev->time_ns = t;
    else if (falco_int_field(fields, "evt.time", &t) && t > 0)
        ev->time_ns = t;
    else
        ev->time_ns = evb_now_ns();
    ev->severity = falco_severity(json_string_value(json_object_get(o, "priority")));
    if (falco_fill_alert(x, o) < 0 || falco_fill_process(ev, fields) < 0 ||
        falco_fill_container(cache, ev, fields) < 0) {
        evjson_event_free(ev);
        return BW_ENOMEM;
    }
    *out = ev;
    return 0;
}

/* ------------------------------------------------------------ the lines */

/* Appends the UTF-8 of U+FFFD. */
static size_t falco_fffd(char *out)
{
    memcpy(out, "\xEF\xBF\xBD", 3);
    return 3;
}

static int falco_hex4(const char *p, size_t left)
{
    int v = 0;

    if (left < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d = c >= '0' && c <= '9'   ? c - '0'
                                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0. */
static size_t falco_utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Copies a JSON line into out (at least 6 * len + 1 bytes) with every
 * invalid UTF-8 sequence replaced by U+FFFD and, inside strings, \u0000 and
 * lone surrogate escapes by \ufffd and raw control characters escaped, so
 * that a line Falco or a pipe damaged still parses. Returns the length and
 * sets *fixes to the number of repairs. */
static size_t falco_repair(const char *in, size_t len, char *out, size_t *fixes)
{
    size_t i = 0, o = 0;
    bool in_str = false;

    *fixes = 0;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        size_t n;

        if (c >= 0x80) {
            n = falco_utf8_len((const unsigned char *)in + i, len - i);
            if (n == 0) {
                o += falco_fffd(out + o);
                (*fixes)++;
                i++;
                continue;
            }
            memcpy(out + o, in + i, n);
            o += n;
            i += n;
            continue;
        }
        if (!in_str) {
            in_str = c == '"';
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (c == '"') {
            in_str = false;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, 7, "\\u%04x", c);
            (*fixes)++;
            i++;
            continue;
        } else if (c == '\\' && i + 1 < len && in[i + 1] == 'u') {
            int u = falco_hex4(in + i + 2, len - i - 2), u2 = -1;

            if (u >= 0xD800 && u <= 0xDBFF && i + 12 <= len && in[i + 6] == '\\' &&
                in[i + 7] == 'u')
                u2 = falco_hex4(in + i + 8, len - i - 8);
            if (u >= 0xD800 && u <= 0xDBFF && u2 >= 0xDC00 && u2 <= 0xDFFF) {
                memcpy(out + o, in + i, 12);  /* a valid pair */
                o += 12;
                i += 12;
            } else if (u == 0 || (u >= 0xD800 && u <= 0xDFFF)) {
                memcpy(out + o, "\\ufffd", 6);
                o += 6;
                i += 6;
                (*fixes)++;
            } else {
                out[o++] = in[i++];  /* a valid escape, or a broken one jansson refuses */
            }
            continue;
        } else if (c == '\\' && i + 1 < len) {
            out[o++] = in[i++];  /* the escaped character is copied with it */
        }
        out[o++] = in[i++];
    }
    out[o] = '\0';
    return o;
}

int falco_parse_line(const char *line, size_t len, struct containers *cache,
                     Bulwark__V1__Event **out, int *repaired)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, 0, &jerr);
    int rc;

    *out = NULL;
    *repaired = 0;
    if (!o) {
        char *fixed = len <= FALCO_LINE_MAX ? malloc(6 * len + 1) : NULL;
        size_t fixes = 0, flen;

        if (!fixed)
            return len <= FALCO_LINE_MAX ? BW_ENOMEM : BW_EINVAL;
        flen = falco_repair(line, len, fixed, &fixes);
        if (fixes > 0)
            o = json_loadb(fixed, flen, 0, &jerr);
        free(fixed);
        if (!o)
            return BW_EINVAL;
        *repaired = 1;
    }
    if (!json_is_object(o) || (!json_is_string(json_object_get(o, "rule")) &&
                               !json_is_string(json_object_get(o, "output")))) {
        json_decref(o);
        return BW_ENOTFOUND;
    }
    rc = falco_event(cache, o, out);
    json_decref(o);
    return rc;
}

/* Counts a line of kind `note` and logs it, at once for the first of its
 * kind and then at most every FALCO_LOG_EVERY_NS. */
static void falco_note(struct falco *fc, enum falco_note note, uint64_t at)
{
    int64_t now = clock_mono_ns();

    if (note != FALCO_REPAIRED)
        fc->base.errors++;
    fc->notes[note].total++;
    if (fc->notes[note].logged_ns && now - fc->notes[note].logged_ns < FALCO_LOG_EVERY_NS) {
        fc->notes[note].unlogged++;
        return;
    }
    log_msg(LOG_WARN, "falco", "'%s': %s at byte %" PRIu64 " (%" PRIu64 " such lines so far, "
            "%" PRIu64 " not logged since the last report)", fc->path, falco_note_what[note],
            at, fc->notes[note].total, fc->notes[note].unlogged);
    fc->notes[note].unlogged = 0;
    fc->notes[note].logged_ns = now;
}

/* One line, without its newline, at byte `at` of the file. FALCO_LINE_STALL
 * when the line must be tried again later (queue full, out of memory). */
static int falco_line(struct falco *fc, const char *line, size_t len, uint64_t at, int *emitted)
{
    Bulwark__V1__Event *ev = NULL;
    size_t i = 0;
    int rc, repaired;

    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return FALCO_LINE_OK;  /* blank */
    if (!fc->env->has_room(fc->env->emit_ctx))
        return FALCO_LINE_STALL;  /* the queue is full: the line waits, not a drop */
    rc = falco_parse_line(line, len, fc->env->containers, &ev, &repaired);
    if (rc == BW_ENOMEM)
        return FALCO_LINE_STALL;
    if (rc < 0) {
        falco_note(fc, rc == BW_ENOTFOUND ? FALCO_NOT_ALERT : FALCO_NOT_JSON, at);
        return FALCO_LINE_OK;
    }
    if (repaired)
        falco_note(fc, FALCO_REPAIRED, at);
    if (fc->env->emit(fc->env->emit_ctx, ev) < 0)
        return FALCO_LINE_STALL;
    fc->base.events++;
    (*emitted)++;
    return FALCO_LINE_OK;
}

/* Stores where reading stands after the lines taken (a regular file only). */
static void falco_mark(struct falco *fc, uint64_t off)
{
    uint64_t v[4] = {(uint64_t)fc->dev, (uint64_t)fc->ino, off, 0};

    if (!fc->fifo && fc->mark_key && fc->env->mark)
        fc->env->mark(fc->env->emit_ctx, fc->mark_key, v);
}

/* Parses the complete lines in the buffer and keeps the partial last one.
 * With `final` (end of a stream) the partial line is parsed too. Returns
 * true when it stalled (the rest stays buffered). */
static bool falco_consume(struct falco *fc, bool final, int *emitted)
{
    uint64_t base = (uint64_t)fc->off - fc->len;  /* file offset of buf[0] */
    size_t pos = 0;
    bool stalled = false;

    while (pos < fc->len) {
        char *nl = memchr(fc->buf + pos, '\n', fc->len - pos);
        size_t llen = nl ? (size_t)(nl - (fc->buf + pos)) : fc->len - pos;

        if (!nl && !final)
            break;
        if (fc->skipping) {
            fc->skipping = false;  /* the tail of a too-long line ends here */
        } else if (llen > FALCO_LINE_MAX) {
            falco_note(fc, FALCO_TOO_LONG, base + pos);
        } else if (falco_line(fc, fc->buf + pos, llen, base + pos, emitted) == FALCO_LINE_STALL) {
            stalled = true;
            break;
        }
        pos += llen + (nl ? 1 : 0);
    }
    if (pos > 0 && !fc->skipping)
        falco_mark(fc, base + pos);
    memmove(fc->buf, fc->buf + pos, fc->len - pos);
    fc->len -= pos;
    if (fc->skipping) {
        fc->len = 0;  /* still inside a too-long line: drop what we have */
    } else if (fc->len > FALCO_LINE_MAX) {
        falco_note(fc, FALCO_TOO_LONG, base + pos);
        fc->len = 0;
        fc->skipping = true;
    }
    return stalled;
}

/* -------------------------------------------------------------- the file */

static void on_falco_poll(uv_poll_t *h, int status, int events);

static void on_falco_closed(uv_handle_t *h)
{
    struct falco *fc = h->data;

    if (h != (uv_handle_t *)&fc->timer)
        free(h);
    if (--fc->closing == 0 && fc->done)
        fc->done(fc->done_arg);
}

/* Starts polling the FIFO fd (without a loop the timer or scan() reads). */
static void falco_poll_begin(struct falco *fc)
{
    uv_poll_t *p = malloc(sizeof *p);

    if (!p)
        return;  /* the timer still reads it, every FALCO_TICK_MS */
    if (uv_poll_init(fc->env->loop, p, fc->fd) != 0) {
        free(p);
        return;
    }
    p->data = fc;
    uv_poll_start(p, UV_READABLE | UV_DISCONNECT, on_falco_poll);
    fc->poll = p;
    fc->poll_active = true;
}

static void falco_close_fd(struct falco *fc)
{
    if (fc->poll) {
        uv_poll_stop(fc->poll);  /* removes the fd from epoll: safe to close */
        fc->closing++;
        uv_close((uv_handle_t *)fc->poll, on_falco_closed);
        fc->poll = NULL;
    }
    if (fc->fd >= 0)
        close(fc->fd);
    fc->fd = -1;
    fc->len = 0;
    fc->skipping = false;
}

/* At the first open: the stored position of this file, if any. Returns
 * true when reading goes on from it (fc->off set, fd seeked) or from 0
 * because the stored one is of another file; false when there is none. */
static bool falco_resume(struct falco *fc, const struct stat *st)
{
    uint64_t v[4];

    if (!fc->env->mark_get || !fc->mark_key ||
        fc->env->mark_get(fc->env->emit_ctx, fc->mark_key, v) < 0)
        return false;
    if (v[0] == (uint64_t)st->st_dev && v[1] == (uint64_t)st->st_ino &&
        v[2] <= (uint64_t)st->st_size && lseek(fc->fd, (off_t)v[2], SEEK_SET) == (off_t)v[2]) {
        fc->off = (off_t)v[2];
        log_msg(LOG_INFO, "falco", "'%s': resuming at byte %" PRIu64 " (%" PRIu64 " bytes "
                "written since)", fc->path, v[2], (uint64_t)st->st_size - v[2]);
        return true;
    }
    log_msg(LOG_WARN, "falco", "'%s' is not the file last read (rotated or cut while the agent "
            "was down): reading it from its start", fc->path);
    return true;
}

/* Opens the path; with at_end a regular file is read from its stored
 * position, or without one from its end. Starts polling a FIFO. 0, or
 * BW_EAGAIN when there is nothing to open yet. */
static int falco_open(struct falco *fc, bool at_end)
{
    struct stat st;
    int fd;

    fd = open(fc->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))) {
        if (!fc->open_logged)
            log_msg(LOG_WARN, "falco", "cannot read '%s': %s (retrying)", fc->path,
                    fd < 0 ? strerror(errno) : "not a regular file or fifo");
        fc->open_logged = true;
        if (fd >= 0)
            close(fd);
        return BW_EAGAIN;
    }
    if (fc->open_logged)
        log_msg(LOG_INFO, "falco", "reading '%s'", fc->path);
    fc->open_logged = false;
    fc->fd = fd;
    fc->fifo = S_ISFIFO(st.st_mode);
    fc->dev = st.st_dev;
    fc->ino = st.st_ino;
    fc->off = 0;
    if (!fc->fifo && at_end && !falco_resume(fc, &st)) {
        fc->off = lseek(fd, 0, SEEK_END);
        if (fc->off < 0)
            fc->off = 0;
        falco_mark(fc, (uint64_t)fc->off);  /* a restart goes on from here */
    }
    if (fc->fifo && fc->env->loop)
        falco_poll_begin(fc);
    return 0;
}

/* Regular file at its end: notices truncation and rotation. Returns true
 * when reading should go on (from 0, or in the new file). */
static bool falco_check_rotation(struct falco *fc, int *emitted)
{
    struct stat st, cur;

    if (fstat(fc->fd, &cur) == 0 && cur.st_size < fc->off) {
        log_msg(LOG_INFO, "falco", "'%s' was truncated: reading from its start", fc->path);
        lseek(fc->fd, 0, SEEK_SET);
        fc->off = 0;
        fc->len = 0;
        fc->skipping = false;
        return true;
    }
    if (stat(fc->path, &st) != 0 || (st.st_dev == fc->dev && st.st_ino == fc->ino))
        return false;  /* same file, or the new one is not there yet */
    if (falco_consume(fc, true, emitted))
        return false;  /* stalled on the old file's last line: later */
    log_msg(LOG_INFO, "falco", "'%s' was rotated: reading the new file", fc->path);
    falco_close_fd(fc);
    return falco_open(fc, false) == 0;
}

/* Reads what is there, at most FALCO_SCAN_BYTES. Returns events emitted. */
static int falco_pump(struct falco *fc)
{
    size_t total = 0;
    bool stalled = false;
    int emitted = 0;

    if (fc->fd < 0) {
        if (falco_open(fc, !fc->opened_once && fc->env->loop) < 0)
            return 0;
        fc->opened_once = true;
    }
    while (total < FALCO_SCAN_BYTES) {
        ssize_t r;

        if ((stalled = falco_consume(fc, false, &emitted)))
            break;  /* queue full: leave the rest in the file */
        r = read(fc->fd, fc->buf + fc->len, FALCO_CHUNK);
        if (r > 0) {
            fc->len += (size_t)r;
            fc->off += r;
            total += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;  /* a FIFO with nothing to read */
        if (r < 0) {
            log_msg(LOG_WARN, "falco", "'%s': read error: %s (reopening)", fc->path,
                    strerror(errno));
            fc->base.errors++;
            falco_close_fd(fc);
            break;
        }
        if (fc->fifo) {  /* every writer went away: finish, then reopen */
            if ((stalled = falco_consume(fc, true, &emitted)))
                break;
            falco_close_fd(fc);
            falco_open(fc, false);
            break;
        }
        if (!falco_check_rotation(fc, &emitted))
            break;
    }
    if (fc->poll && stalled == fc->poll_active) {
        /* a level-triggered FIFO would call us again at once: while the
         * queue is full the timer retries instead */
        if (stalled)
            uv_poll_stop(fc->poll);
        else
            uv_poll_start(fc->poll, UV_READABLE | UV_DISCONNECT, on_falco_poll);
        fc->poll_active = !stalled;
    }
    return emitted;
}

static int falco_scan(struct collector *c)
{
    return falco_pump((struct falco *)c);
}

/* ------------------------------------------------------------ the loop */

static void on_falco_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    falco_pump(h->data);
}

static void on_falco_timer(uv_timer_t *h)
{
    struct falco *fc = h->data;

    if (fc->fd >= 0 && fc->poll && fc->poll_active)
        return;  /* a polled FIFO reads itself */
    falco_pump(fc);
}

static int falco_start(struct collector *c)
{
    struct falco *fc = (struct falco *)c;

    if (!fc->env->loop)
        return 0;
    falco_open(fc, true);
    fc->opened_once = true;  /* a file that appears later is read from its start */
    uv_timer_init(fc->env->loop, &fc->timer);
    fc->timer.data = fc;
    fc->timer_init = true;
    uv_timer_start(&fc->timer, on_falco_timer, FALCO_TICK_MS, FALCO_TICK_MS);
    return 0;
}

static void falco_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    struct falco *fc = (struct falco *)c;

    fc->done = done;
    fc->done_arg = arg;
    fc->closing++;  /* held while closing, so done runs once, last */
    falco_close_fd(fc);
    if (fc->timer_init) {
        fc->timer_init = false;
        fc->closing++;
        uv_close((uv_handle_t *)&fc->timer, on_falco_closed);
    }
    if (--fc->closing == 0 && done)
        done(arg);
}

static void falco_destroy(struct collector *c)
{
    struct falco *fc = (struct falco *)c;

    if (fc->fd >= 0)
        close(fc->fd);
    free(fc->buf);
    free(fc->path);
    free(fc->mark_key);
    free(fc);
}

struct collector *collector_falco_new(const struct collector_env *env)
{
    struct falco *fc = calloc(1, sizeof *fc);

    if (!fc)
        return NULL;
    fc->base.name = "falco";
    fc->base.start = falco_start;
    fc->base.scan = falco_scan;
    fc->base.stop = falco_stop;
    fc->base.destroy = falco_destroy;
    fc->env = env;
    fc->fd = -1;
    fc->path = strdup(env->cfg->falco_file ? env->cfg->falco_file : "");
    fc->buf = malloc(FALCO_BUF_CAP);
    if (env->loop && fc->path && asprintf(&fc->mark_key, "falco:%s", fc->path) < 0)
        fc->mark_key = NULL;
    if (!fc->path || !fc->buf || (env->loop && !fc->mark_key)) {
        falco_destroy(&fc->base);
        return NULL;
    }
    return &fc->base;
}
