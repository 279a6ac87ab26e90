/* fuzz_evjson.c - fuzz target for evjson (common/evjson.c), both ways:
 *   first byte even: the rest is one NDJSON line (the agent's replay source)
 *   first byte odd:  the rest is a protobuf Event as a peer may send it
 * Whatever decodes is rendered as a tree (evjson_event_to_json) and as text
 * (evjson_event_write_members), which must be the same bytes; a line's
 * event must read back from its own tree. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/buf.h"
#include "bulwark/evjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The text writer gives the bytes json_dumps gives of the tree, without
 * kind, seq, time_ns and severity (evjson.h). */
static void check_writer(const Bulwark__V1__Event *ev, json_t *tree)
{
    json_t *j = json_deep_copy(tree);
    struct buf b;
    char *want;

    if (!j)
        return;
    json_object_del(j, "kind");
    json_object_del(j, "seq");
    json_object_del(j, "time_ns");
    json_object_del(j, "severity");
    want = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    buf_init(&b, 16 << 20);
    if (want && buf_append(&b, "{", 1) == 0 && evjson_event_write_members(ev, &b) == 0 &&
        buf_append(&b, "}", 2) == 0) {
        char *got = (char *)buf_head(&b);
        if (got[1] == ',')
            memmove(got + 1, got + 2, strlen(got + 2) + 1);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "writer: %s\ntree:   %s\n", got, want);
            abort();
        }
    }
    free(want);
    buf_release(&b);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Bulwark__V1__Event *ev = NULL, *back = NULL;
    json_t *tree = NULL, *tree2 = NULL;
    char err[256];
    bool line;

    if (size < 1)
        return 0;
    line = (data[0] & 1) == 0;
    if (line) {
        if (evjson_event_from_line((const char *)data + 1, size - 1, &ev, err, sizeof err) < 0)
            return 0;
    } else if (!(ev = bulwark__v1__event__unpack(NULL, size - 1, data + 1))) {
        return 0;
    }
    tree = evjson_event_to_json(ev);
    if (tree) {
        check_writer(ev, tree);
        /* What a line gave, its own rendering gives again. */
        if (line) {
            if (evjson_event_from_json(tree, &back, err, sizeof err) < 0)
                abort();
            tree2 = evjson_event_to_json(back);
            if (tree2 && !json_equal(tree, tree2))
                abort();
        }
    }
    json_decref(tree2);
    json_decref(tree);
    evjson_event_free(back);
    evjson_event_free(ev);
    return 0;
}
