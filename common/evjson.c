/* evjson.c - events <-> JSON (see bulwark/evjson.h).
 *
 * The conversion is driven by the protobuf-c descriptors, so every field of
 * the schema is covered and the JSON names are the proto field names:
 *
 *   {"kind":"net", "seq":7, "time_ns":1700000000000000000, "severity":"info",
 *    "container":{"id":"…","labels":{"app":"web"}}, "process":{"pid":42,…},
 *    "net":{"direction":"outbound","protocol":"tcp","remote_port":443,…}}
 *
 * - "kind" names the body (the oneof member); the body sits under that name.
 * - Enums are lower-case names without the enum's prefix ("info" for
 *   SEVERITY_INFO, "outbound", "rename"); integers are also accepted on input.
 * - Output omits fields at their proto3 default (0, false, "", empty lists),
 *   except enums, which are always written; absent sub-messages are omitted,
 *   present ones are written even when empty (presence survives a round trip).
 *   Fields with presence (the scalar "*_opt" oneofs: uid, gid, tty, vpid...)
 *   are written whenever present, 0 included, and are absent when missing or
 *   null on input: an event without "uid" has no uid, not uid 0.
 * - uint64 values above INT64_MAX are written as decimal strings; 64-bit
 *   fields accept either form on input. Non-finite doubles are omitted.
 * - Input: "time" (RFC 3339 string) is accepted when "time_ns" is absent;
 *   "seq" is read but the spool assigns its own. null means absent. Unknown
 *   keys are ignored. Strings are bounded: cmdline and parent_cmdline 4 KiB,
 *   every other string (and map key) 1 KiB. Longer strings are rejected, not
 *   truncated, so what is stored is always what was sent; lists and maps
 *   hold at most 256 entries.
 * - Invalid UTF-8 in an event (it can come from the wire) is written with the
 *   offending bytes replaced by '?', since JSON strings must be UTF-8.
 *
 * Events built here are malloc'd trees: every string that is not the shared
 * protobuf_c_empty_string, every array and every sub-message is its own
 * allocation. evjson_event_free() walks the descriptors to free them; it does
 * not rely on protobuf_c_message_free_unpacked()'s treatment of defaults.
 * The same layout is what bulwark__v1__event__unpack(NULL, ...) makes, so
 * evjson_event_free() also frees unpacked events, with the unknown fields
 * unpack keeps (the tests check this). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bulwark/buf.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/utf8.h"

#define EVJSON_STR_MAX 1024
#define EVJSON_CMDLINE_MAX 4096
#define EVJSON_LIST_MAX 256
#define EVJSON_LINE_MAX (1024 * 1024)
#define EVJSON_PATH_MAX 128
#define EVJSON_NAME_MAX 64

#define MEMBER(type, msg, off) (*(type *)((char *)(msg) + (off)))
#define CMEMBER(type, msg, off) (*(const type *)((const char *)(msg) + (off)))

struct jctx {
    char *err;
    size_t errlen;
};

static const ProtobufCMessageDescriptor *const event_desc = &bulwark__v1__event__descriptor;

static int fail(struct jctx *cx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "field 'path': reason" (or just the reason) and returns BW_EINVAL. */
static int fail(struct jctx *cx, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (!cx->err || cx->errlen == 0)
        return BW_EINVAL;
    if (path && *path)
        n = snprintf(cx->err, cx->errlen, "field '%s': ", path);
    if (n >= 0 && (size_t)n < cx->errlen) {
        va_start(ap, fmt);
        vsnprintf(cx->err + n, cx->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return BW_EINVAL;
}

/* Paths in messages ("config.mounts[2].source") are cut when too long. */
static void join_path(char *dst, size_t n, const char *path, const char *name)
{
    if (snprintf(dst, n, "%s%s%s", path, *path ? "." : "", name) >= (int)n)
        dst[n - 1] = '\0';
}

static void index_path(char *dst, size_t n, const char *path, size_t i)
{
    if (snprintf(dst, n, "%s[%zu]", path, i) >= (int)n)
        dst[n - 1] = '\0';
}

/* ------------------------------------------------------------------ free */

static void str_free(char *s)
{
    if (s && s != protobuf_c_empty_string)
        free(s);
}

static void msg_free(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d;

    if (!m)
        return;
    d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];

        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            MEMBER(uint32_t, m, f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = MEMBER(size_t, m, f->quantifier_offset);
            void **arr = MEMBER(void **, m, f->offset);

            for (size_t j = 0; arr && j < n; j++) {
                if (f->type == PROTOBUF_C_TYPE_STRING)
                    str_free(arr[j]);
                else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                    msg_free(arr[j]);
            }
            free(arr);
        } else if (f->type == PROTOBUF_C_TYPE_STRING) {
            str_free(MEMBER(char *, m, f->offset));
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            msg_free(MEMBER(ProtobufCMessage *, m, f->offset));
        }
        /* the schema has no bytes fields */
    }
    /* Fields a newer (or hostile) peer sent that this schema does not know:
     * unpack keeps a copy of each. */
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        free(m->unknown_fields[i].data);
    free(m->unknown_fields);
    free(m);
}

void evjson_event_free(Bulwark__V1__Event *ev)
{
    msg_free(ev ? &ev->base : NULL);
}

/* ----------------------------------------------------------- kinds, enums */

const char *evjson_kind_name(int kind)
{
    const ProtobufCFieldDescriptor *f;

    if (kind <= 0)
        return NULL;
    f = protobuf_c_message_descriptor_get_field(event_desc, (unsigned)kind);
    return f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ? f->name : NULL;
}

int evjson_kind_from_name(const char *name)
{
    const ProtobufCFieldDescriptor *f;

    if (!name)
        return 0;
    f = protobuf_c_message_descriptor_get_field_by_name(event_desc, name);
    return f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ? (int)f->id : 0;
}

/* "SEVERITY_INFO" of enum Severity -> "info"; "OUTBOUND" -> "outbound". */
static void enum_display(const ProtobufCEnumDescriptor *ed, const char *name, char *out, size_t n)
{
    size_t plen = strlen(ed->short_name), i = 0;

    if (strlen(name) > plen && name[plen] == '_' && strncasecmp(name, ed->short_name, plen) == 0)
        name += plen + 1;
    for (; name[i] && i + 1 < n; i++)
        out[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    out[i] = '\0';
}

/* ---------------------------------------------------------------- to JSON */

/* A JSON string for s; invalid UTF-8 bytes become '?'. NULL on ENOMEM. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j)
        return j;
    copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* json_object_set_new() with a key repaired as jstr() repairs a value (each
 * byte from 0x80 of an invalid key as '?', as the text writer writes it):
 * jansson refuses a key that is not UTF-8, which would lose the whole map. */
static int jkey_set(json_t *o, const char *key, json_t *v)
{
    json_t *k = jstr(key ? key : "");
    int rc;

    if (!k) {
        json_decref(v);
        return -1;
    }
    rc = json_object_set_new(o, json_string_value(k), v);
    json_decref(k);
    return rc;
}

static json_t *u64_to_json(uint64_t v)
{
    char num[24];

    if (v <= INT64_MAX)
        return json_integer((json_int_t)v);
    snprintf(num, sizeof num, "%" PRIu64, v);
    return json_string(num);
}

static json_t *enum_to_json(const ProtobufCEnumDescriptor *ed, int v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
    char name[EVJSON_NAME_MAX];

    if (!ev)
        return json_integer(v);
    enum_display(ed, ev->name, name, sizeof name);
    return json_string(name);
}

static json_t *msg_to_json(const ProtobufCMessage *m);

/* One value of field f stored at slot. NULL on ENOMEM. */
static json_t *value_to_json(const ProtobufCFieldDescriptor *f, const void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)slot);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return u64_to_json(*(const uint64_t *)slot);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)slot);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM:
        return enum_to_json(f->descriptor, *(const int *)slot);
    case PROTOBUF_C_TYPE_STRING:
        return jstr(*(char *const *)slot ? *(char *const *)slot : "");
    case PROTOBUF_C_TYPE_MESSAGE:
        return msg_to_json(*(const ProtobufCMessage *const *)slot);
    case PROTOBUF_C_TYPE_BYTES:
        break;
    }
    return NULL;
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        break;
    }
    return sizeof(ProtobufCBinaryData);
}

/* A map<string, V> field: protobuf-c gives it as repeated XxxEntry{key, value}. */
static bool field_is_map(const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n;

    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    n = strlen(d->short_name);
    return d->n_fields == 2 && n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 &&
           strcmp(d->fields[0].name, "key") == 0 && d->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           strcmp(d->fields[1].name, "value") == 0;
}

/* Whether a singular field holds its proto3 default and is left out. */
static bool value_is_default(const ProtobufCFieldDescriptor *f, const void *slot)
{
    static const uint8_t zero[8];

    switch (f->type) {
    case PROTOBUF_C_TYPE_ENUM:
        return false;
    case PROTOBUF_C_TYPE_STRING:  /* NULL is tolerated, as protobuf-c's packer does */
        return !*(char *const *)slot || (*(char *const *)slot)[0] == '\0';
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void *const *)slot == NULL;
    case PROTOBUF_C_TYPE_FLOAT:
        return memcmp(slot, zero, 4) == 0 || !isfinite(*(const float *)slot);
    case PROTOBUF_C_TYPE_DOUBLE:
        return memcmp(slot, zero, 8) == 0 || !isfinite(*(const double *)slot);
    default:
        return memcmp(slot, zero, elem_size(f->type)) == 0;
    }
}

/* A scalar member of a oneof is a field with presence (bulwark.proto: each
 * such oneof, "uid_opt", has that one member, since protoc-c 1.4 has no
 * proto3 `optional`): when its case is set it is written even at 0, and
 * when not it is absent. Oneofs of messages (the event body) are not. */
static bool field_has_presence(const ProtobufCFieldDescriptor *f)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* Whether a singular field is left out of the output: absent, or holding
 * its proto3 default without presence. Oneof members not set are skipped
 * before this. */
static bool value_is_left_out(const ProtobufCFieldDescriptor *f, const void *slot)
{
    return !field_has_presence(f) && value_is_default(f, slot);
}

static json_t *repeated_to_json(const ProtobufCFieldDescriptor *f, const void *arr, size_t n)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;  /* entry type, for a map */
    json_t *out = field_is_map(f) ? json_object() : json_array();
    size_t esz = elem_size(f->type);

    for (size_t i = 0; out && i < n; i++) {
        const void *slot = (const char *)arr + i * esz;
        int rc;

        if (json_is_object(out)) {
            const ProtobufCMessage *e = *(const ProtobufCMessage *const *)slot;
            const ProtobufCFieldDescriptor *vf = &ed->fields[1];

            rc = jkey_set(out, CMEMBER(char *, e, ed->fields[0].offset),
                          value_to_json(vf, (const char *)e + vf->offset));
        } else {
            rc = json_array_append_new(out, value_to_json(f, slot));
        }
        if (rc != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *msg_to_json(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();

    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *slot = (const char *)m + f->offset;
        json_t *v;

        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            CMEMBER(uint32_t, m, f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = CMEMBER(size_t, m, f->quantifier_offset);

            if (n == 0)
                continue;
            v = repeated_to_json(f, *(const void *const *)slot, n);
        } else {
            if (value_is_left_out(f, slot))
                continue;
            v = value_to_json(f, slot);
        }
        if (json_object_set_new(o, f->name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *evjson_message_to_json(const ProtobufCMessage *m)
{
    return msg_to_json(m);
}

json_t *evjson_event_to_json(const Bulwark__V1__Event *ev)
{
    const char *kind = evjson_kind_name((int)ev->body_case);
    json_t *o = json_object(), *body;

    if (!o)
        return NULL;
    if (kind && json_object_set_new(o, "kind", json_string(kind)) != 0)
        goto fail;
    body = msg_to_json(&ev->base);
    if (!body || json_object_update(o, body) != 0) {
        json_decref(body);
        goto fail;
    }
    json_decref(body);
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* -------------------------------------------------------------- from JSON */

static int int_from_json(const json_t *v, int64_t lo, int64_t hi, int64_t *out, struct jctx *cx,
                         const char *path)
{
    json_int_t x;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long long y;

        if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
            return fail(cx, path, "expected an integer");
        errno = 0;
        y = strtoll(s, &end, 10);
        if (errno || *end)
            return fail(cx, path, "expected an integer");
        x = y;
    } else if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else {
        return fail(cx, path, "expected an integer");
    }
    if (x < lo || x > hi)
        return fail(cx, path, "integer out of range");
    *out = x;
    return 0;
}

static int u64_from_json(const json_t *v, uint64_t *out, struct jctx *cx, const char *path)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        unsigned long long y;

        if (*s < '0' || *s > '9')
            return fail(cx, path, "expected an unsigned integer");
        errno = 0;
        y = strtoull(s, &end, 10);
        if (errno || *end)
            return fail(cx, path, "expected an unsigned integer");
        *out = y;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(cx, path, "expected an unsigned integer");
    if (json_integer_value(v) < 0)
        return fail(cx, path, "integer out of range");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int enum_from_json(const ProtobufCEnumDescriptor *ed, const json_t *v, int *out,
                          struct jctx *cx, const char *path)
{
    char name[EVJSON_NAME_MAX];

    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);

        if (x < INT_MIN || x > INT_MAX || !protobuf_c_enum_descriptor_get_value(ed, (int)x))
            return fail(cx, path, "unknown value %" JSON_INTEGER_FORMAT, x);
        *out = (int)x;
        return 0;
    }
    if (!json_is_string(v))
        return fail(cx, path, "expected a string");
    for (unsigned i = 0; i < ed->n_values; i++) {
        enum_display(ed, ed->values[i].name, name, sizeof name);
        if (strcasecmp(name, json_string_value(v)) == 0) {
            *out = ed->values[i].value;
            return 0;
        }
    }
    if (json_string_length(v) > EVJSON_NAME_MAX)
        return fail(cx, path, "unknown value");
    return fail(cx, path, "unknown value '%s'", json_string_value(v));
}

/* A bounded malloc'd copy of a JSON string ("" gives the shared empty string). */
static int str_from_json(const json_t *v, size_t max, char **out, struct jctx *cx, const char *path)
{
    size_t len;
    char *s;

    if (!json_is_string(v))
        return fail(cx, path, "expected a string");
    len = json_string_length(v);
    if (len > max)
        return fail(cx, path, "string longer than %zu bytes", max);
    if (strlen(json_string_value(v)) != len)
        return fail(cx, path, "string contains a nul byte");
    if (len == 0) {
        *out = (char *)protobuf_c_empty_string;
        return 0;
    }
    s = malloc(len + 1);
    if (!s)
        return BW_ENOMEM;
    memcpy(s, json_string_value(v), len + 1);
    *out = s;
    return 0;
}

static int msg_from_json(const ProtobufCMessageDescriptor *d, const json_t *obj, uint32_t oneof,
                         ProtobufCMessage **out, struct jctx *cx, const char *path);

/* Parses v into slot, a singular field or one element of a repeated one. */
static int value_from_json(const ProtobufCFieldDescriptor *f, const json_t *v, void *slot,
                           struct jctx *cx, const char *path)
{
    int64_t x = 0;
    int rc = 0;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        rc = int_from_json(v, INT32_MIN, INT32_MAX, &x, cx, path);
        if (rc == 0)
            *(int32_t *)slot = (int32_t)x;
        return rc;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        rc = int_from_json(v, 0, UINT32_MAX, &x, cx, path);
        if (rc == 0)
            *(uint32_t *)slot = (uint32_t)x;
        return rc;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return int_from_json(v, INT64_MIN, INT64_MAX, (int64_t *)slot, cx, path);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return u64_from_json(v, (uint64_t *)slot, cx, path);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!json_is_number(v))
            return fail(cx, path, "expected a number");
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)slot = (float)json_number_value(v);
        else
            *(double *)slot = json_number_value(v);
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return fail(cx, path, "expected true or false");
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        return enum_from_json(f->descriptor, v, (int *)slot, cx, path);
    case PROTOBUF_C_TYPE_STRING:
        return str_from_json(v,
                             strcmp(f->name, "cmdline") == 0 || strcmp(f->name, "parent_cmdline") == 0
                                 ? EVJSON_CMDLINE_MAX
                                 : EVJSON_STR_MAX,
                             (char **)slot, cx, path);
    case PROTOBUF_C_TYPE_MESSAGE:
        return msg_from_json(f->descriptor, v, 0, (ProtobufCMessage **)slot, cx, path);
    case PROTOBUF_C_TYPE_BYTES:
        break;
    }
    return fail(cx, path, "unsupported field type");
}

/* One map entry message {key, value} from a JSON object member. */
static int entry_from_json(const ProtobufCMessageDescriptor *d, const char *key, const json_t *v,
                           ProtobufCMessage **out, struct jctx *cx, const char *path)
{
    const ProtobufCFieldDescriptor *vf = &d->fields[1];
    ProtobufCMessage *e;
    json_t *jkey;
    int rc;

    e = malloc(d->sizeof_message);
    if (!e)
        return BW_ENOMEM;
    d->message_init(e);
    jkey = json_string(key);
    rc = jkey ? str_from_json(jkey, EVJSON_STR_MAX, &MEMBER(char *, e, d->fields[0].offset), cx,
                              path)
              : BW_ENOMEM;
    json_decref(jkey);
    if (rc == 0)
        rc = value_from_json(vf, v, (char *)e + vf->offset, cx, path);
    if (rc < 0) {
        msg_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* A repeated field from a JSON array (or object, for a map). The array is
 * attached to m at once and n grows as elements are parsed, so that on error
 * msg_free(m) frees exactly what was made. */
static int repeated_from_json(const ProtobufCFieldDescriptor *f, const json_t *v,
                              ProtobufCMessage *m, struct jctx *cx, const char *path)
{
    bool map = field_is_map(f);
    size_t n = map ? json_object_size(v) : json_array_size(v), esz = elem_size(f->type);
    size_t *count = &MEMBER(size_t, m, f->quantifier_offset);
    char sub[EVJSON_PATH_MAX];
    char *arr;
    int rc;

    if (map ? !json_is_object(v) : !json_is_array(v))
        return fail(cx, path, map ? "expected an object" : "expected an array");
    if (n > EVJSON_LIST_MAX)
        return fail(cx, path, "more than %d entries", EVJSON_LIST_MAX);
    if (n == 0)
        return 0;
    arr = calloc(n, esz);
    if (!arr)
        return BW_ENOMEM;
    MEMBER(void *, m, f->offset) = arr;
    if (map) {
        const char *key;
        json_t *val;

        json_object_foreach((json_t *)v, key, val) {
            index_path(sub, sizeof sub, path, *count);
            rc = entry_from_json(f->descriptor, key, val, (ProtobufCMessage **)(arr + *count * esz),
                                 cx, sub);
            if (rc < 0)
                return rc;
            ++*count;
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        index_path(sub, sizeof sub, path, i);
        rc = value_from_json(f, json_array_get(v, i), arr + i * esz, cx, sub);
        if (rc < 0)
            return rc;
        ++*count;
    }
    return 0;
}

/* Builds a message of type d from obj. Of the oneof members only the one
 * with id `oneof` is read; it is set (empty if absent from obj). */
static int msg_from_json(const ProtobufCMessageDescriptor *d, const json_t *obj, uint32_t oneof,
                         ProtobufCMessage **out, struct jctx *cx, const char *path)
{
    char sub[EVJSON_PATH_MAX];
    ProtobufCMessage *m;
    int rc = 0;

    if (!json_is_object(obj))
        return fail(cx, path, "expected an object");
    m = malloc(d->sizeof_message);
    if (!m)
        return BW_ENOMEM;
    d->message_init(m);
    for (unsigned i = 0; i < d->n_fields && rc == 0; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const json_t *v = json_object_get(obj, f->name);
        void *slot = (char *)m + f->offset;

        join_path(sub, sizeof sub, path, f->name);
        if (field_has_presence(f)) {  /* present when given, even as 0 */
            if (!v || json_is_null(v))
                continue;
            MEMBER(uint32_t, m, f->quantifier_offset) = f->id;
            rc = value_from_json(f, v, slot, cx, sub);
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (f->id != oneof)
                continue;
            MEMBER(uint32_t, m, f->quantifier_offset) = f->id;
            if (!v || json_is_null(v)) {  /* "kind" alone: an empty body */
                json_t *e = json_object();

                rc = e ? msg_from_json(f->descriptor, e, 0, slot, cx, sub) : BW_ENOMEM;
                json_decref(e);
                continue;
            }
        }
        if (!v || json_is_null(v))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            rc = repeated_from_json(f, v, m, cx, sub);
        else
            rc = value_from_json(f, v, slot, cx, sub);
    }
    if (rc < 0) {
        msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Reads exactly n digits. */
static bool digits(const char **s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*s)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return true;
}

/* RFC 3339 -> Unix ns (include/bulwark/evjson.h). */
int evjson_parse_time(const char *s, int64_t *out_ns)
{
    struct tm tm = {0}, check;
    int year, mon, day, hh, mm, ss, oh = 0, om = 0, sign = 0;
    int64_t frac = 0, secs, ns;
    time_t t;

    if (!digits(&s, 4, &year) || *s++ != '-' || !digits(&s, 2, &mon) || *s++ != '-' ||
        !digits(&s, 2, &day) || (*s != 'T' && *s != 't' && *s != ' '))
        return BW_EINVAL;
    s++;
    if (!digits(&s, 2, &hh) || *s++ != ':' || !digits(&s, 2, &mm) || *s++ != ':' ||
        !digits(&s, 2, &ss))
        return BW_EINVAL;
    if (*s == '.') {
        int nd = 0;

        for (s++; *s >= '0' && *s <= '9'; s++, nd++)
            if (nd < 9)
                frac = frac * 10 + (*s - '0');
        if (nd == 0)
            return BW_EINVAL;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
        if (!digits(&s, 2, &oh) || *s++ != ':' || !digits(&s, 2, &om) || oh > 23 || om > 59)
            return BW_EINVAL;
    } else {
        return BW_EINVAL;
    }
    if (*s || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return BW_EINVAL;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    t = timegm(&tm);
    if (!gmtime_r(&t, &check) || (ss < 60 && check.tm_mday != day))
        return BW_EINVAL;  /* 2023-02-30 */
    secs = (int64_t)t - sign * (oh * 3600 + om * 60);
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &ns) ||
        __builtin_add_overflow(ns, frac, &ns))
        return BW_EINVAL;
    *out_ns = ns;
    return 0;
}

int evjson_event_from_json(const json_t *obj, Bulwark__V1__Event **out, char *err, size_t errlen)
{
    struct jctx cx = {err, errlen};
    ProtobufCMessage *m = NULL;
    const json_t *jkind, *jtime;
    int kind, rc;

    if (err && errlen)
        err[0] = '\0';
    if (!json_is_object(obj))
        return fail(&cx, NULL, "event is not a json object");
    jkind = json_object_get(obj, "kind");
    if (!jkind || json_is_null(jkind))
        return fail(&cx, "kind", "missing");
    if (!json_is_string(jkind))
        return fail(&cx, "kind", "expected a string");
    kind = evjson_kind_from_name(json_string_value(jkind));
    if (kind == 0) {
        if (json_string_length(jkind) > EVJSON_NAME_MAX)
            return fail(&cx, "kind", "unknown kind");
        return fail(&cx, "kind", "unknown kind '%s'", json_string_value(jkind));
    }
    rc = msg_from_json(event_desc, obj, (uint32_t)kind, &m, &cx, "");
    if (rc < 0)
        return rc;
    jtime = json_object_get(obj, "time");
    if (jtime && !json_is_null(jtime) &&
        (!json_object_get(obj, "time_ns") || json_is_null(json_object_get(obj, "time_ns")))) {
        Bulwark__V1__Event *ev = (Bulwark__V1__Event *)m;

        if (!json_is_string(jtime) ||
            evjson_parse_time(json_string_value(jtime), &ev->time_ns) < 0) {
            msg_free(m);
            return fail(&cx, "time", "expected an rfc 3339 time");
        }
    }
    *out = (Bulwark__V1__Event *)m;
    return 0;
}

int evjson_event_from_line(const char *line, size_t len, Bulwark__V1__Event **out, char *err,
                           size_t errlen)
{
    struct jctx cx = {err, errlen};
    json_error_t jerr;
    json_t *obj;
    int rc;

    if (len > EVJSON_LINE_MAX)
        return fail(&cx, NULL, "line longer than %d bytes", EVJSON_LINE_MAX);
    obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)  /* jerr.text may quote the input: give only the position */
        return fail(&cx, NULL, "invalid json at column %d", jerr.column);
    rc = evjson_event_from_json(obj, out, err, errlen);
    json_decref(obj);
    return rc;
}

/* ------------------------------------------------------ names and times */

static const char *const severity_names[] = {
    "unspecified", "debug", "info", "notice", "warning", "error", "critical", "alert",
    "emergency",
};

const char *evjson_severity_name(int severity)
{
    if (severity < 0 || (size_t)severity >= sizeof severity_names / sizeof *severity_names)
        return NULL;
    return severity_names[severity];
}

int evjson_severity_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof severity_names / sizeof *severity_names; i++)
        if (strcasecmp(name, severity_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Writes v as exactly w digits at p. */
static void put_digits(char *p, long long v, int w)
{
    for (int i = w - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
}

/* The proleptic Gregorian date of day z since 1970-01-01 (H. Hinnant's
 * civil_from_days): gmtime_r takes glibc's time zone lock, and the export
 * formats two times per event. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                        /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;   /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                      /* [0, 11] */

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int evjson_format_time(int64_t ns, char *out, size_t n)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000, days, sod, year;
    int mon, mday, m;

    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    sod = sec - days * 86400;
    civil_from_days(days, &year, &mon, &mday);
    if (year > 9999 || year < 0)
        return BW_EINVAL;
    /* Digits by hand: the export formats two times per event. */
    m = frac ? 30 : 20;  /* YYYY-MM-DDTHH:MM:SS[.nnnnnnnnn]Z */
    if ((size_t)m >= n)
        return BW_ETOOBIG;
    put_digits(out, year, 4);
    out[4] = '-';
    put_digits(out + 5, mon, 2);
    out[7] = '-';
    put_digits(out + 8, mday, 2);
    out[10] = 'T';
    put_digits(out + 11, sod / 3600, 2);
    out[13] = ':';
    put_digits(out + 14, sod / 60 % 60, 2);
    out[16] = ':';
    put_digits(out + 17, sod % 60, 2);
    if (frac) {
        out[19] = '.';
        put_digits(out + 20, frac, 9);
    }
    out[m - 1] = 'Z';
    out[m] = '\0';
    return 0;
}

/* ----------------------------------------------------------- to JSON text */

/* The text json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) makes of the trees
 * above, written straight into a buffer: the REST API's export writes
 * hundreds of thousands of events a second, and building, dumping and
 * freeing a jansson tree per event cost it most of its time. The unit test
 * checks both paths give the same bytes. */

size_t evjson_format_int(long long v, char out[24])
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "62636465666768697071727374757677787980818283848586878889909192"
                                "93949596979899";
    char rev[24];
    size_t n = sizeof rev, k = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    /* two digits per division, right to left */
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        rev[--n] = pairs[d + 1];
        rev[--n] = pairs[d];
    }
    if (u >= 10) {
        rev[--n] = pairs[u * 2 + 1];
        rev[--n] = pairs[u * 2];
    } else {
        rev[--n] = (char)('0' + u);
    }
    if (v < 0)
        out[k++] = '-';
    memcpy(out + k, rev + n, sizeof rev - n);
    return k + sizeof rev - n;
}

struct jw {
    struct buf *b;
    int rc;
};

static void jw_put(struct jw *w, const char *p, size_t n)
{
    if (w->rc == 0)
        w->rc = buf_put(w->b, p, n);
}

/* A member's name and colon, after a comma unless !comma. Field names are
 * protobuf identifiers: nothing in them needs escaping. */
static void jw_key(struct jw *w, const char *name, bool comma)
{
    size_t n = strlen(name), k = 0;
    uint8_t *o;

    if (w->rc != 0)
        return;
    if (!(o = buf_room(w->b, n + 4))) {
        w->rc = BW_ETOOBIG;
        return;
    }
    if (comma)
        o[k++] = ',';
    o[k++] = '"';
    memcpy(o + k, name, n);
    k += n;
    o[k++] = '"';
    o[k++] = ':';
    buf_commit(w->b, k);
}

/* What each byte of a string needs: 0 none (copied in runs), 1 an ASCII
 * escape, 2 a UTF-8 sequence starts (or an invalid byte), 3 the end (NUL). */
static const uint8_t jw_class[256] = {
    3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* The short escapes of the control characters that have one. */
static const char jw_short[0x20] = {['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f',
                                    ['\r'] = 'r'};

/* Writes \uXXXX of a UTF-16 unit at o; returns 6. */
static size_t jw_unit(uint8_t *o, uint32_t u)
{
    static const char hex[] = "0123456789ABCDEF";

    o[0] = '\\';
    o[1] = 'u';
    o[2] = (uint8_t)hex[(u >> 12) & 15];
    o[3] = (uint8_t)hex[(u >> 8) & 15];
    o[4] = (uint8_t)hex[(u >> 4) & 15];
    o[5] = (uint8_t)hex[u & 15];
    return 6;
}

/* One pass over the string: runs of bytes that need nothing are copied in
 * bulk, found by a table lookup per byte. Whether the string is valid UTF-8
 * is only known at its end, and when it is not every byte from 0x80 up is
 * written as bad (jansson refuses the whole string): on the first invalid
 * sequence the string is written again in that mode (rare: agents send
 * UTF-8). */
int evjson_write_string(struct buf *b, const char *s, const char *bad)
{
    const unsigned char *start = (const unsigned char *)(s ? s : ""), *p, *end;
    size_t len = strlen((const char *)start), blen = strlen(bad), k;
    bool valid = true;
    uint32_t cp;
    uint8_t *o;

    assert(blen <= 6);
    end = start + len;
    /* The most any byte becomes: \u00XX (6), a replacement (bad, at most 6),
     * or a quarter of an escaped surrogate pair (12 for 4 bytes). */
    if (len > (SIZE_MAX - 2) / 6 || !(o = buf_room(b, len * 6 + 2)))
        return BW_ETOOBIG;
again:
    p = start;
    k = 0;
    o[k++] = '"';
    for (;;) {
        const unsigned char *run = p;
        unsigned c;

        while (jw_class[*p] == 0)
            p++;
        memcpy(o + k, run, (size_t)(p - run));  /* most strings are one run */
        k += (size_t)(p - run);
        c = *p;
        switch (jw_class[c]) {
        case 1:
            o[k++] = '\\';
            if (c == '"' || c == '\\')
                o[k++] = (uint8_t)c;
            else if (jw_short[c])
                o[k++] = (uint8_t)jw_short[c];
            else
                k += jw_unit(o + k - 1, c) - 1;
            p++;
            continue;
        case 2:
            if (!valid) {
                memcpy(o + k, bad, blen);
                k += blen;
                p++;
                continue;
            }
            size_t l = bw_utf8_next(p, (size_t)(end - p), &cp);
            if (l == 0) {
                valid = false;
                goto again;
            }
            p += l;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                k += jw_unit(o + k, 0xd800u | (cp >> 10));
                cp = 0xdc00u | (cp & 0x3ff);
            }
            k += jw_unit(o + k, cp);
            continue;
        default:  /* 3: the NUL at end */
            break;
        }
        break;
    }
    o[k++] = '"';
    buf_commit(b, k);
    return 0;
}

/* Whether s is valid UTF-8 (as jansson checks a key or a string). */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    uint32_t cp;

    while (p < end) {
        size_t l = *p < 0x80 ? 1 : bw_utf8_next(p, (size_t)(end - p), &cp);
        if (l == 0)
            return false;
        p += l;
    }
    return true;
}

/* Whether two map keys are the same once written: a key that is not UTF-8
 * has each byte from 0x80 written as '?' (as jstr() repairs it for the
 * tree), so two such keys may become one, and the last value wins, as in
 * the tree. */
static bool key_same(const char *a, const char *b)
{
    bool va = utf8_ok(a), vb = utf8_ok(b);

    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (!va && ca >= 0x80)
            ca = '?';
        if (!vb && cb >= 0x80)
            cb = '?';
        if (ca != cb)
            return false;
        if (!ca)
            return true;
    }
}

static void jw_str(struct jw *w, const char *s)
{
    if (w->rc == 0)
        w->rc = evjson_write_string(w->b, s, "?");
}

static void jw_int(struct jw *w, long long v)
{
    char t[24];
    jw_put(w, t, evjson_format_int(v, t));
}

/* As jansson: %.17g, ".0" when it would read as an integer, and the
 * exponent without '+' or leading zeros. Non-finite values have no JSON. */
static void jw_real(struct jw *w, double v)
{
    char t[48];
    size_t n;
    char *e;

    if (!isfinite(v)) {
        w->rc = w->rc ? w->rc : BW_EINVAL;
        return;
    }
    n = (size_t)snprintf(t, sizeof t - 3, "%.17g", v);
    if (!strchr(t, '.') && !strchr(t, 'e')) {
        memcpy(t + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(t, 'e'))) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        memmove(start, end, (size_t)(t + n + 1 - end));
        n -= (size_t)(end - start);
    }
    jw_put(w, t, n);
}

static void jw_msg(struct jw *w, const ProtobufCMessage *m);

static void jw_value(struct jw *w, const ProtobufCFieldDescriptor *f, const void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        jw_int(w, *(const int32_t *)slot);
        return;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        jw_int(w, *(const uint32_t *)slot);
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        jw_int(w, *(const int64_t *)slot);
        return;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)slot;
        char num[24];
        if (v <= INT64_MAX) {
            jw_int(w, (long long)v);
            return;
        }
        snprintf(num, sizeof num, "%" PRIu64, v);
        jw_str(w, num);
        return;
    }
    case PROTOBUF_C_TYPE_FLOAT:
        jw_real(w, *(const float *)slot);
        return;
    case PROTOBUF_C_TYPE_DOUBLE:
        jw_real(w, *(const double *)slot);
        return;
    case PROTOBUF_C_TYPE_BOOL:
        jw_put(w, *(const protobuf_c_boolean *)slot ? "true" : "false",
               *(const protobuf_c_boolean *)slot ? 4 : 5);
        return;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)slot);
        char name[EVJSON_NAME_MAX];
        if (!ev) {
            jw_int(w, *(const int *)slot);
            return;
        }
        enum_display(f->descriptor, ev->name, name, sizeof name);
        jw_str(w, name);
        return;
    }
    case PROTOBUF_C_TYPE_STRING:
        jw_str(w, *(char *const *)slot);
        return;
    case PROTOBUF_C_TYPE_MESSAGE:
        jw_msg(w, *(const ProtobufCMessage *const *)slot);
        return;
    case PROTOBUF_C_TYPE_BYTES:
        break;
    }
    w->rc = w->rc ? w->rc : BW_EINVAL;  /* the tree path has no bytes either */
}

/* A map as a jansson object: a repeated key keeps its first place and takes
 * the last value. */
static void jw_map(struct jw *w, const ProtobufCFieldDescriptor *f, const void *arr, size_t n)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *vf = &ed->fields[1];
    const ProtobufCMessage *const *e = arr;
    bool first = true;

    jw_put(w, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const char *key = CMEMBER(char *, e[i], ed->fields[0].offset);
        size_t last = i, k;
        for (k = 0; k < i && !key_same(key, CMEMBER(char *, e[k], ed->fields[0].offset)); k++)
            ;
        if (k < i)
            continue;  /* written at its first place */
        for (k = i + 1; k < n; k++)
            if (key_same(key, CMEMBER(char *, e[k], ed->fields[0].offset)))
                last = k;
        if (!first)
            jw_put(w, ",", 1);
        first = false;
        jw_str(w, key);
        jw_put(w, ":", 1);
        jw_value(w, vf, (const char *)e[last] + vf->offset);
    }
    jw_put(w, "}", 1);
}

/* Writes m's members as msg_to_json keeps them, skipping the fields whose
 * numbers are set in skip, each preceded by a comma unless it is the first
 * and !lead. */
static void jw_members(struct jw *w, const ProtobufCMessage *m, uint64_t skip, bool lead)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    for (unsigned i = 0; i < d->n_fields && w->rc == 0; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *slot = (const char *)m + f->offset;
        size_t n = 0;

        if ((f->id < 64 && (skip >> f->id) & 1) ||
            ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
             CMEMBER(uint32_t, m, f->quantifier_offset) != f->id))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if ((n = CMEMBER(size_t, m, f->quantifier_offset)) == 0)
                continue;
        } else if (value_is_left_out(f, slot)) {
            continue;
        }
        jw_key(w, f->name, lead);
        lead = true;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            jw_value(w, f, slot);
        } else if (field_is_map(f)) {
            jw_map(w, f, *(const void *const *)slot, n);
        } else {
            size_t esz = elem_size(f->type);
            jw_put(w, "[", 1);
            for (size_t k = 0; k < n; k++) {
                if (k)
                    jw_put(w, ",", 1);
                jw_value(w, f, (const char *)*(const void *const *)slot + k * esz);
            }
            jw_put(w, "]", 1);
        }
    }
}

static void jw_msg(struct jw *w, const ProtobufCMessage *m)
{
    jw_put(w, "{", 1);
    jw_members(w, m, 0, false);
    jw_put(w, "}", 1);
}

int evjson_event_write_members(const Bulwark__V1__Event *ev, struct buf *out)
{
    struct jw w = {out, 0};
    size_t mark = out->len;
    /* seq (1), time_ns (2), severity (3): the caller's columns */
    jw_members(&w, &ev->base, 1u << 1 | 1u << 2 | 1u << 3, true);
    if (w.rc < 0)
        out->len = mark;
    return w.rc;
}
