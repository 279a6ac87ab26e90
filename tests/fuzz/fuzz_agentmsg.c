/* fuzz_agentmsg.c - fuzz target for one agent message as the server takes
 * it: the payload of one frame (no length prefix, so every mutation reaches
 * the decoder), decoded into an arena exactly as server/conn.c does, then
 * the field check on the wire and the hello / batch validation
 * (fuzz_ingest.h, shared with fuzz_frame.c, which fuzzes the framing).
 * The same bytes also go through the agent's check of a spool row
 * (wirecheck_event, seq 1). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bulwark/arena.h"
#include "bulwark/wirecheck.h"
#include "fuzz_ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *ar;
    ProtobufCAllocator pa;
    uint8_t *raw;
    uint64_t next = 1;
    char why[256];

    if (size == 0 || size > 1024 * 1024)
        return 0;  /* the reader refuses empty frames; the limit bounds the rest */
    ar = arena_new(size * 4 + 4096);
    raw = ar ? arena_alloc(ar, size) : NULL;
    if (raw) {
        memcpy(raw, data, size);
        pa = arena_pb_allocator(ar);
        fuzz_ingest_payload(raw, size, &pa, &next);
    }
    arena_free(ar);
    (void)wirecheck_event(data, size, 1, why, sizeof why);
    return 0;
}
