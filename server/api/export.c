/* export.c - events and alerts after a cursor as NDJSON, streamed in
 * constant memory: the response pulls a page of at most EXPORT_PAGE rows
 * from the store whenever its buffer runs dry, so a call of a million rows
 * holds one page at a time.
 *
 * The cursor contract (docs/api.md): records come in ascending id order; the
 * last line of a complete answer is {"next_cursor": "...", "count": N}.
 * Calling again with that cursor continues exactly after the last record,
 * even while events are being ingested and across server restarts: ids
 * grow in commit order and a reader sees whole transactions, so a record
 * not yet visible always gets an id above every visible one. An answer cut
 * short has no cursor line: its records are delivered again by repeating
 * the same call (nothing is skipped, nothing counted twice by a client that
 * keeps only complete answers). */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/arena.h"
#include "bulwark/buf.h"
#include "bulwark/err.h"
#include "bulwark/log.h"

#define EXPORT_PAGE 1000u
#define EXPORT_BLOCK (64u * 1024)
#define EXPORT_DEFAULT_LIMIT 10000
#define EXPORT_MAX_LIMIT 10000000
#define EXPORT_BUF_MAX (64u * 1024 * 1024)  /* a page of the largest rows */
#define EXPORT_SCRATCH (64u * 1024)  /* one decoded body, reused per row */

enum export_what { EXPORT_EVENTS, EXPORT_ALERTS };

/* The formats (docs/api.md "Export formats"): one renderer per record kind. */
struct export_format {
    const char *name;
    json_t *(*event)(const struct store_row *row);
    json_t *(*alert)(const struct store_alert_row *row);
};

static const struct export_format export_formats[] = {
    {"native", api_event_json, api_alert_json},
    {"ecs", enc_ecs_event, enc_ecs_alert},
    {"ocsf", enc_ocsf_event, enc_ocsf_alert},
};

struct export {
    struct api *api;
    struct store_reader *reader;
    enum export_what what;
    const struct export_format *fmt;
    struct store_query eq;
    struct store_alert_query aq;
    int64_t last_id;
    uint64_t left;   /* records still to send */
    uint64_t count;  /* records sent */
    struct buf out;
    struct arena *scratch;  /* native: the decoded body of the current row */
    bool done;       /* the final line is in out */
    bool failed;
};

static int export_line(struct export *x, json_t *o, int64_t id)
{
    int rc = api_json_append(&x->out, o);

    if (rc == 0)
        rc = buf_append(&x->out, "\n", 1);
    if (rc == 0) {
        x->last_id = id;
        x->count++;
        x->left--;
    }
    return rc;
}

static int on_export_event(const struct store_row *row, void *ctx)
{
    struct export *x = ctx;
    /* Native events are written as text directly (no JSON tree per row:
     * the export's main cost); other formats build their records. */
    if (x->fmt == &export_formats[0]) {
        int rc = api_event_ndjson(row, &x->out, x->scratch);
        if (rc == 0) {
            x->last_id = row->id;
            x->count++;
            x->left--;
        }
        return rc;
    }
    return export_line(x, x->fmt->event(row), row->id);
}

static int on_export_alert(const struct store_alert_row *row, void *ctx)
{
    struct export *x = ctx;
    return export_line(x, x->fmt->alert(row), row->id);
}

/* Appends the next page, or the final line when there is no more. */
static void export_fill(struct export *x)
{
    uint64_t before = x->count;
    uint32_t limit = x->left < EXPORT_PAGE ? (uint32_t)x->left : EXPORT_PAGE;
    int rc = 0;

    if (limit > 0 && x->what == EXPORT_EVENTS) {
        x->eq.after_id = x->last_id;
        x->eq.limit = limit;
        rc = store_query_events(x->reader, &x->eq, on_export_event, x);
    } else if (limit > 0) {
        x->aq.after_id = x->last_id;
        x->aq.limit = limit;
        rc = store_query_alerts(x->reader, &x->aq, on_export_alert, x);
    }
    if (rc < 0) {
        /* No cursor line: the client repeats the call (see the top). */
        log_msg(LOG_WARN, "api", "export cut short: %s", bw_strerror(rc));
        x->failed = true;
        return;
    }
    if (limit == 0 || x->count - before < limit) {
        char tok[48], line[128];
        api_page_token(x->what == EXPORT_EVENTS ? 'x' : 'y', x->last_id, tok, sizeof tok);
        int n = snprintf(line, sizeof line, "{\"next_cursor\":\"%s\",\"count\":%llu}\n", tok,
                         (unsigned long long)x->count);
        if (buf_append(&x->out, line, (size_t)n) == 0)
            x->done = true;
        else
            x->failed = true;
    }
}

static ssize_t on_export_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct export *x = cls;
    size_t n;

    (void)pos;
    while (buf_size(&x->out) == 0 && !x->done && !x->failed)
        export_fill(x);
    n = buf_size(&x->out);
    if (n == 0)
        return x->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    if (n > max)
        n = max;
    memcpy(out, buf_head(&x->out), n);
    buf_consume(&x->out, n);
    if (buf_size(&x->out) == 0)
        buf_reset(&x->out);
    return (ssize_t)n;
}

static void on_export_free(void *cls)
{
    struct export *x = cls;
    struct api *a = x->api;

    api_reader_put(a, x->reader);
    pthread_mutex_lock(&a->pool_mu);
    a->exports--;
    pthread_mutex_unlock(&a->pool_mu);
    buf_release(&x->out);
    arena_free(x->scratch);
    free(x);
}

static void api_export(struct api_call *c, enum export_what what)
{
    static const char *const ev_allowed[] = {"cursor", "limit", "format", "since", "until",
                                             "agent", "host", "container", "image", "rule", "kind",
                                             "min_severity", NULL};
    static const char *const al_allowed[] = {"cursor", "limit", "format", NULL};
    struct api *a = c->api;
    struct export *x;
    const char *format;
    const struct export_format *fmt = &export_formats[0];
    int64_t limit = EXPORT_DEFAULT_LIMIT, after = 0;
    bool busy;

    if (!api_params_only(c, what == EXPORT_EVENTS ? ev_allowed : al_allowed) ||
        !api_q_int(c, "limit", 1, EXPORT_MAX_LIMIT, &limit) ||
        !api_q_page_token(c, "cursor", what == EXPORT_EVENTS ? 'x' : 'y', &after) ||
        !api_q_str(c, "format", 16, &format))
        return;
    if (format) {
        fmt = NULL;
        for (size_t i = 0; i < sizeof export_formats / sizeof export_formats[0]; i++)
            if (strcmp(format, export_formats[i].name) == 0)
                fmt = &export_formats[i];
        if (!fmt) {
            api_problem(c, 400, "'format' must be native, ecs or ocsf");
            return;
        }
    }
    if (!(x = calloc(1, sizeof *x))) {
        api_problem(c, 500, "out of memory");
        return;
    }
    x->api = a;
    x->what = what;
    x->fmt = fmt;
    x->left = (uint64_t)limit;
    x->last_id = after;
    x->eq.ascending = x->aq.ascending = true;
    buf_init(&x->out, EXPORT_BUF_MAX);
    if (what == EXPORT_EVENTS && !api_event_filters(c, &x->eq)) {
        buf_release(&x->out);
        free(x);
        return;
    }
    if (!(x->scratch = arena_new(EXPORT_SCRATCH))) {
        buf_release(&x->out);
        free(x);
        api_problem(c, 500, "out of memory");
        return;
    }
    /* An export holds a reader for its whole answer: at most half the
     * pool, so lists and lookups always find one. */
    pthread_mutex_lock(&a->pool_mu);
    busy = a->exports >= a->maxopen / 2;
    if (!busy)
        a->exports++;
    pthread_mutex_unlock(&a->pool_mu);
    if (busy) {
        buf_release(&x->out);
        arena_free(x->scratch);
        free(x);
        api_problem(c, 429, "too many exports at once; retry shortly");
        if (c->resp)
            MHD_add_response_header(c->resp, "Retry-After", "5");
        return;
    }
    if (!c->reader && !(c->reader = api_reader(c))) {
        x->reader = NULL;
        on_export_free(x);
        return;
    }
    x->reader = c->reader;
    c->reader = NULL;  /* the stream owns it now */
    c->status = 200;
    c->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, EXPORT_BLOCK, on_export_read,
                                                x, on_export_free);
    if (!c->resp) {
        on_export_free(x);
        api_problem(c, 500, "out of memory");
        return;
    }
    MHD_add_response_header(c->resp, "Content-Type", "application/x-ndjson");
    api_headers(a, c->resp, true);
}

void api_export_events(struct api_call *c)
{
    api_export(c, EXPORT_EVENTS);
}

void api_export_alerts(struct api_call *c)
{
    api_export(c, EXPORT_ALERTS);
}
