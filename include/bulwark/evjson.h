/* evjson.h - events <-> JSON: the newline-delimited format the agent's
 * `replay` source reads and its stdout mode prints (docs/protocol.md lists
 * the fields). Uses jansson. */
#ifndef BULWARK_EVJSON_H
#define BULWARK_EVJSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/buf.h"
#include "bulwark/v1/bulwark.pb-c.h"

/* Builds a heap Event from a JSON object. Unknown keys are ignored; wrong
 * types and unknown kinds are errors. Strings are bounded (cmdline 4 KiB,
 * others 1 KiB). Returns 0 and *out (free with evjson_event_free()), or
 * BW_EINVAL with a reason in err. */
int evjson_event_from_json(const json_t *obj, Bulwark__V1__Event **out, char *err, size_t errlen);
/* Parses one line of text (a JSON object). */
int evjson_event_from_line(const char *line, size_t len, Bulwark__V1__Event **out, char *err,
                           size_t errlen);
/* A new JSON object (caller decrefs) describing ev; NULL on ENOMEM. */
json_t *evjson_event_to_json(const Bulwark__V1__Event *ev);
/* A new JSON object (caller decrefs) of any message, written as an
 * event's members are (proto3 defaults left out, maps as objects, enums by
 * name); NULL on ENOMEM. */
json_t *evjson_message_to_json(const ProtobufCMessage *m);
/* Appends to out the members of that object except kind, seq, time_ns and
 * severity, each preceded by a comma (",\"container\":{...},\"net\":{...}"),
 * as json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) writes them, without
 * building the tree. 0, or a negative bw_err with out as before. */
int evjson_event_write_members(const Bulwark__V1__Event *ev, struct buf *out);
/* Appends s as a JSON string the same way; when s is not valid UTF-8 each
 * byte from 0x80 up is written as bad instead (already escaped text, at
 * most 6 bytes). BW_ETOOBIG, out unchanged, when out cannot take six bytes
 * per byte of s. */
int evjson_write_string(struct buf *out, const char *s, const char *bad);
/* v in decimal into out (no NUL); returns its length (at most 20). */
size_t evjson_format_int(long long v, char out[24]);
/* Frees an Event built by evjson or the synthetic source (malloc'd tree). */
void evjson_event_free(Bulwark__V1__Event *ev);
/* "exec", "net", "file", "resource", "config", "vuln", "external"; NULL if unknown. */
const char *evjson_kind_name(int kind);
int evjson_kind_from_name(const char *name);  /* 0 if unknown */
/* Parses an RFC 3339 time, "2024-05-01T12:00:00[.123456789](Z|+02:00)" ('t'
 * or a space may stand for 'T', 'z' for 'Z'; digits past nanoseconds are
 * ignored), into Unix ns in *out_ns. The whole of s (not NULL) must be the
 * time. Impossible dates (2023-02-30) and values that overflow int64 ns are
 * refused; times before 1970 give negative values. 0, or BW_EINVAL with
 * *out_ns untouched. */
int evjson_parse_time(const char *s, int64_t *out_ns);
/* Unix ns as RFC 3339 UTC ("2024-05-01T12:00:00Z", or with 9 fraction digits
 * when there is a fraction) into out; BW_ETOOBIG if n is too small
 * (EVJSON_TIME_MAX is enough), BW_EINVAL for years outside 0..9999. */
#define EVJSON_TIME_MAX 40
int evjson_format_time(int64_t ns, char *out, size_t n);
/* Severity names as the protocol's enum displays them: "info", "critical";
 * NULL / -1 when unknown. from_name ignores case. */
const char *evjson_severity_name(int severity);
int evjson_severity_from_name(const char *name);

#endif
