/* falco.c - the `falco` collector: Falco's JSON output (json_output: true,
 * one alert per line) becomes one `external` event per alert.
 *
 * cfg->falco_file is a path as the agent sees it (not below host_root) and
 * may be:
 *  - a regular file (file_output), read every FALCO_TICK_MS. On the first
 *    start of the agent an existing file is read from its end, so history
 *    is not replayed (alerts written while the agent was down are not
 *    reported); a file that appears later, or the new file after a
 *    rotation, is read from its start. Rotation by rename (a new inode at
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
 * or "output" is counted and skipped; the first of each kind per opened
 * file is logged with the file name.
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

#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"

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
    bool bad_logged, long_logged;  /* per opened file */
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
    *dst = procfs_strndup_utf8(v, strlen(v), max);
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
        s = procfs_strndup_utf8(json_string_value(v), json_string_length(v), FALCO_STR_MAX);
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
        s = dump ? procfs_strndup_utf8(dump, strlen(dump), FALCO_STR_MAX) : NULL;
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
    e->key = procfs_strndup_utf8(key, strlen(key), FALCO_STR_MAX);
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
                procfs_strndup_utf8(json_string_value(v), json_string_length(v), FALCO_STR_MAX);
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
    if (falco_int_field(f, "user.uid", &n) && n >= 0 && n <= UINT32_MAX)
        p->uid = (uint32_t)n;
    if (falco_int_field(f, "group.gid", &n) && n >= 0 && n <= UINT32_MAX)
        p->gid = (uint32_t)n;
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

static int falco_fill_container(struct falco *fc, Bulwark__V1__Event *ev, const json_t *f)
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
    if (fc->env->containers && falco_int_field(f, "proc.pid", &pid) && pid > 0 &&
        pid <= INT32_MAX) {
        const Bulwark__V1__ContainerRef *known =
            containers_lookup_pid(fc->env->containers, (int)pid);

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
static int falco_event(struct falco *fc, const json_t *o, Bulwark__V1__Event **out)
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
        ev->time_ns = procfs_now_ns();
    ev->severity = falco_severity(json_string_value(json_object_get(o, "priority")));
    if (falco_fill_alert(x, o) < 0 || falco_fill_process(ev, fields) < 0 ||
        falco_fill_container(fc, ev, fields) < 0) {
        evjson_event_free(ev);
        return BW_ENOMEM;
    }
    *out = ev;
    return 0;
}

/* ------------------------------------------------------------ the lines */

static void falco_bad(struct falco *fc, bool *logged, const char *what)
{
    fc->base.errors++;
    if (!*logged)
        log_msg(LOG_WARN, "falco", "'%s': skipped %s (further ones in this file are counted, "
                "not logged)", fc->path, what);
    *logged = true;
}

/* One line, without its newline. FALCO_LINE_STALL when the line must be
 * tried again later (queue full, out of memory). */
static int falco_line(struct falco *fc, const char *line, size_t len, int *emitted)
{
    Bulwark__V1__Event *ev = NULL;
    json_error_t jerr;
    json_t *o;
    size_t i = 0;
    int rc;

    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return FALCO_LINE_OK;  /* blank */
    o = json_loadb(line, len, 0, &jerr);
    if (!o || !json_is_object(o) || (!json_is_string(json_object_get(o, "rule")) &&
                                     !json_is_string(json_object_get(o, "output")))) {
        json_decref(o);
        falco_bad(fc, &fc->bad_logged, o ? "a json line that is not a falco alert"
                                         : "a line that is not json");
        return FALCO_LINE_OK;
    }
    if (!fc->env->has_room(fc->env->emit_ctx)) {
        json_decref(o);
        return FALCO_LINE_STALL;  /* the queue is full: the line waits, not a drop */
    }
    rc = falco_event(fc, o, &ev);
    json_decref(o);
    if (rc < 0)
        return FALCO_LINE_STALL;
    if (fc->env->emit(fc->env->emit_ctx, ev) < 0)
        return FALCO_LINE_STALL;
    fc->base.events++;
    (*emitted)++;
    return FALCO_LINE_OK;
}

/* Parses the complete lines in the buffer and keeps the partial last one.
 * With `final` (end of a stream) the partial line is parsed too. Returns
 * true when it stalled (the rest stays buffered). */
static bool falco_consume(struct falco *fc, bool final, int *emitted)
{
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
            falco_bad(fc, &fc->long_logged, "a line longer than 1 MiB");
        } else if (falco_line(fc, fc->buf + pos, llen, emitted) == FALCO_LINE_STALL) {
            stalled = true;
            break;
        }
        pos += llen + (nl ? 1 : 0);
    }
    memmove(fc->buf, fc->buf + pos, fc->len - pos);
    fc->len -= pos;
    if (fc->skipping) {
        fc->len = 0;  /* still inside a too-long line: drop what we have */
    } else if (fc->len > FALCO_LINE_MAX) {
        falco_bad(fc, &fc->long_logged, "a line longer than 1 MiB");
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

/* Opens the path; with at_end a regular file is read from its end. Starts
 * polling a FIFO. 0, or BW_EAGAIN when there is nothing to open yet. */
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
    fc->bad_logged = fc->long_logged = false;
    fc->fd = fd;
    fc->fifo = S_ISFIFO(st.st_mode);
    fc->dev = st.st_dev;
    fc->ino = st.st_ino;
    fc->off = 0;
    if (!fc->fifo && at_end) {
        fc->off = lseek(fd, 0, SEEK_END);
        if (fc->off < 0)
            fc->off = 0;
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
    if (!fc->path || !fc->buf) {
        falco_destroy(&fc->base);
        return NULL;
    }
    return &fc->base;
}
