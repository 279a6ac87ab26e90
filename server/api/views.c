/* views.c - the one JSON rendering of each stored thing the API shows:
 * an event (its columns plus the whole decoded body, as evjson prints it)
 * and an alert. Lists, single lookups and the native export all use these. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/arena.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"

json_t *api_event_json(const struct store_row *row)
{
    Bulwark__V1__Event *ev = NULL;
    json_t *o, *body = NULL;
    const char *kind = evjson_kind_name(row->kind), *sev = evjson_severity_name(row->severity);

    o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(row->id));
    json_object_set_new(o, "time", api_time(row->time_ns));
    json_object_set_new(o, "received", api_time(row->recv_ns));
    json_object_set_new(o, "kind", kind ? json_string(kind) : json_integer(row->kind));
    json_object_set_new(o, "severity", sev ? json_string(sev) : json_integer(row->severity));
    json_object_set_new(o, "agent_id", api_str(row->agent_id));
    json_object_set_new(o, "hostname", api_str(row->hostname));
    json_object_set_new(o, "container_id", *row->container_id ? api_str(row->container_id)
                                                                : json_null());
    json_object_set_new(o, "epoch", json_integer((json_int_t)row->epoch));
    json_object_set_new(o, "seq", json_integer((json_int_t)row->seq));
    ev = api_event_decode(row);
    if (ev && (body = evjson_event_to_json(ev))) {
        /* The body's own copies of the columns above are left out. */
        json_object_del(body, "kind");
        json_object_del(body, "seq");
        json_object_del(body, "time_ns");
        json_object_del(body, "severity");
        json_object_update_missing(o, body);
        json_decref(body);
    } else if (row->body_len) {
        json_object_set_new(o, "body_error", json_string("the stored body does not decode"));
    }
    if (ev)
        bulwark__v1__event__free_unpacked(ev, NULL);
    return o;
}

/* A column string as api_str() renders it: invalid UTF-8 bytes as U+FFFD. */
void api_text_str(struct buf *out, const char *s, int *rc)
{
    if (*rc == 0)
        *rc = evjson_write_string(out, s, "\\uFFFD");
}

void api_text_time(struct buf *out, int64_t ns, int *rc)
{
    char t[EVJSON_TIME_MAX];

    if (ns == 0 || evjson_format_time(ns, t, sizeof t) < 0) {
        if (*rc == 0)
            *rc = buf_put(out, "null", 4);
        return;
    }
    api_text_str(out, t, rc);
}

/* prefix, then v in decimal. */
void api_text_int(struct buf *out, const char *prefix, long long v, int *rc)
{
    char t[24];
    size_t n = evjson_format_int(v, t);

    if (*rc == 0)
        *rc = buf_put(out, prefix, strlen(prefix));
    if (*rc == 0)
        *rc = buf_put(out, t, n);
}

/* kind and severity: the name, else the number. */
static void text_name(struct buf *out, const char *name, int32_t v, int *rc)
{
    if (name)
        api_text_str(out, name, rc);
    else
        api_text_int(out, "", v, rc);
}

int api_event_ndjson(const struct store_row *row, struct buf *out, struct arena *scratch)
{
    ProtobufCAllocator pa = arena_pb_allocator(scratch);
    Bulwark__V1__Event *ev = NULL;
    size_t mark = out->len;
    int rc = 0;

    api_text_int(out, "{\"id\":", row->id, &rc);
    if (rc == 0)
        rc = buf_put(out, ",\"time\":", 8);
    api_text_time(out, row->time_ns, &rc);
    if (rc == 0)
        rc = buf_put(out, ",\"received\":", 12);
    api_text_time(out, row->recv_ns, &rc);
    if (rc == 0)
        rc = buf_put(out, ",\"kind\":", 8);
    text_name(out, evjson_kind_name(row->kind), row->kind, &rc);
    if (rc == 0)
        rc = buf_put(out, ",\"severity\":", 12);
    text_name(out, evjson_severity_name(row->severity), row->severity, &rc);
    if (rc == 0)
        rc = buf_put(out, ",\"agent_id\":", 12);
    api_text_str(out, row->agent_id, &rc);
    if (rc == 0)
        rc = buf_put(out, ",\"hostname\":", 12);
    api_text_str(out, row->hostname, &rc);
    if (rc == 0)
        rc = buf_put(out, ",\"container_id\":", 16);
    if (*row->container_id)
        api_text_str(out, row->container_id, &rc);
    else if (rc == 0)
        rc = buf_put(out, "null", 4);
    api_text_int(out, ",\"epoch\":", (long long)row->epoch, &rc);
    api_text_int(out, ",\"seq\":", (long long)row->seq, &rc);
    if (rc == 0 && row->body && row->body_len)
        ev = bulwark__v1__event__unpack(&pa, row->body_len, row->body);
    if (rc == 0 && row->body_len && (!ev || evjson_event_write_members(ev, out) < 0)) {
        static const char err[] = ",\"body_error\":\"the stored body does not decode\"";
        rc = buf_put(out, err, sizeof err - 1);
    }
    arena_reset(scratch);  /* frees ev */
    if (rc == 0)
        rc = buf_put(out, "}\n", 2);
    if (rc < 0)
        out->len = mark;
    return rc;
}

json_t *api_alert_json(const struct store_alert_row *row)
{
    const char *sev = evjson_severity_name(row->priority);
    json_t *o = json_object(), *tags = NULL;

    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(row->id));
    json_object_set_new(o, "rule", api_str(row->rule));
    json_object_set_new(o, "severity", sev ? json_string(sev) : json_integer(row->priority));
    json_object_set_new(o, "output", api_str(row->output));
    json_object_set_new(o, "source", api_str(row->source));
    json_object_set_new(o, "agent_id", *row->agent_id ? api_str(row->agent_id) : json_null());
    json_object_set_new(o, "hostname", *row->hostname ? api_str(row->hostname) : json_null());
    json_object_set_new(o, "container_id",
                        *row->container_id ? api_str(row->container_id) : json_null());
    json_object_set_new(o, "image", *row->image ? api_str(row->image) : json_null());
    if (row->tags_json)
        tags = json_loads(row->tags_json, JSON_REJECT_DUPLICATES, NULL);
    json_object_set_new(o, "tags", json_is_array(tags) ? tags : json_array());
    if (tags && !json_is_array(tags))
        json_decref(tags);
    json_object_set_new(o, "first_seen", api_time(row->first_seen_ns));
    json_object_set_new(o, "last_seen", api_time(row->last_seen_ns));
    json_object_set_new(o, "count", json_integer(row->count));
    json_object_set_new(o, "retrospective", json_boolean(row->retrospective));
    json_object_set_new(o, "evidence_count", json_integer((json_int_t)row->n_evidence));
    json_object_set_new(o, "status", api_str(row->status));
    json_object_set_new(o, "status_note", *row->status_note ? api_str(row->status_note)
                                                              : json_null());
    json_object_set_new(o, "status_by", *row->status_by ? api_str(row->status_by) : json_null());
    json_object_set_new(o, "status_changed", api_time(row->status_ns));
    return o;
}

Bulwark__V1__Event *api_event_decode(const struct store_row *row)
{
    if (!row->body || !row->body_len)
        return NULL;
    return bulwark__v1__event__unpack(NULL, row->body_len, row->body);
}

void api_jset(json_t *root, const char *path, json_t *v)
{
    const char *dot;
    json_t *o = root, *next;
    char key[64];

    if (!v)
        return;
    while ((dot = strchr(path, '.'))) {
        size_t n = (size_t)(dot - path);
        if (n >= sizeof key) {
            json_decref(v);
            return;
        }
        memcpy(key, path, n);
        key[n] = 0;
        next = json_object_get(o, key);
        if (!json_is_object(next)) {
            next = json_object();
            if (!next || json_object_set_new(o, key, next) < 0) {
                json_decref(v);
                return;
            }
        }
        o = next;
        path = dot + 1;
    }
    json_object_set_new(o, path, v);
}

void api_jset_str(json_t *root, const char *path, const char *s)
{
    if (s && *s)
        api_jset(root, path, api_str(s));
}

int api_json_append(struct buf *out, json_t *o)
{
    char *text;
    int rc;

    if (!o)
        return BW_ENOMEM;
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text)
        return BW_ENOMEM;
    rc = buf_append(out, text, strlen(text));
    free(text);
    return rc;
}
