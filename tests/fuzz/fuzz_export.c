/* fuzz_export.c - fuzz target for the export encoders on arbitrary stored
 * records: native JSON (api_event_json / api_alert_json), native NDJSON
 * (api_event_ndjson, which must give the bytes json_dumps gives of the
 * tree), ECS, OCSF and CEF (one line: no raw CR or LF).
 * Input: a selector byte; for an event the row's numbers and NUL-ended
 * strings, then the stored body (a protobuf Event); for an alert its
 * numbers and strings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/api/api_internal.h"
#include "bulwark/arena.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dump_free(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    free(s);
    json_decref(o);
}

static void check_cef_line(struct buf *b)
{
    const uint8_t *p = buf_head(b);
    size_t n = b->len - b->off;

    if (n && (memchr(p, '\n', n) || memchr(p, '\r', n)))
        abort();
}

static void fuzz_event(struct fuzz_in *in)
{
    struct store_row row = {0};
    json_t *tree;
    struct buf b;
    struct arena *scratch = arena_new(64 * 1024);  /* the export's per-stream scratch */

    row.id = (int64_t)fuzz_u64(in, 8);
    row.seq = fuzz_u64(in, 8);
    row.epoch = fuzz_u64(in, 8);
    row.time_ns = (int64_t)fuzz_u64(in, 8);
    row.recv_ns = (int64_t)fuzz_u64(in, 8);
    row.kind = (int32_t)(int8_t)fuzz_u64(in, 1);
    row.severity = (int32_t)(int8_t)fuzz_u64(in, 1);
    row.agent_id = fuzz_str(in);
    row.hostname = fuzz_str(in);
    row.container_id = fuzz_str(in);
    row.body = in->p;
    row.body_len = in->n;

    buf_init(&b, 16 << 20);
    tree = api_event_json(&row);
    if (tree && scratch && api_event_ndjson(&row, &b, scratch) == 0) {
        char *want = json_dumps(tree, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (want && (b.len != strlen(want) + 1 || memcmp(buf_head(&b), want, b.len - 1) != 0 ||
                     ((const char *)buf_head(&b))[b.len - 1] != '\n')) {
            fprintf(stderr, "ndjson: %.*s\ntree:   %s\n", (int)b.len, (const char *)buf_head(&b),
                    want);
            abort();
        }
        free(want);
    }
    json_decref(tree);
    dump_free(enc_ecs_event(&row));
    dump_free(enc_ocsf_event(&row));
    buf_reset(&b);
    if (enc_cef_event(&row, &b) == 0)
        check_cef_line(&b);
    buf_release(&b);
    arena_free(scratch);
}

static void fuzz_alert(struct fuzz_in *in)
{
    struct store_alert_row row = {0};
    struct buf b;

    row.id = (int64_t)fuzz_u64(in, 8);
    row.priority = (int32_t)(int8_t)fuzz_u64(in, 1);
    row.first_seen_ns = (int64_t)fuzz_u64(in, 8);
    row.last_seen_ns = (int64_t)fuzz_u64(in, 8);
    row.status_ns = (int64_t)fuzz_u64(in, 8);
    row.count = (uint32_t)fuzz_u64(in, 4);
    row.retrospective = fuzz_u64(in, 1) & 1;
    row.n_evidence = (size_t)fuzz_u64(in, 2);
    row.rule = fuzz_str(in);
    row.output = fuzz_str(in);
    row.source = fuzz_str(in);
    row.group_key = fuzz_str(in);
    row.agent_id = fuzz_str(in);
    row.hostname = fuzz_str(in);
    row.container_id = fuzz_str(in);
    row.image = fuzz_str(in);
    row.tags_json = fuzz_str(in);
    row.status = fuzz_str(in);
    row.status_note = fuzz_str(in);
    row.status_by = fuzz_str(in);

    dump_free(api_alert_json(&row));
    dump_free(enc_ecs_alert(&row));
    dump_free(enc_ocsf_alert(&row));
    buf_init(&b, 16 << 20);
    if (enc_cef_alert(&row, &b) == 0)
        check_cef_line(&b);
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size, {0}, 0};

    if (fuzz_u64(&in, 1) & 1)
        fuzz_alert(&in);
    else
        fuzz_event(&in);
    fuzz_in_release(&in);
    return 0;
}
