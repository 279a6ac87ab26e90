/* fuzz_ingest.h - one frame's payload through the connection's checks, as
 * server/conn.c drives them: decode (with the given allocator), the field
 * check on the wire, then the hello check or the batch validation, with the
 * server's limits. Shared by fuzz_frame.c (from a byte stream) and
 * fuzz_agentmsg.c (one payload, decoded into an arena as conn.c does). */
#ifndef BULWARK_FUZZ_INGEST_H
#define BULWARK_FUZZ_INGEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/frame.h"
#include "bulwark/ingest.h"

/* false when the connection would close on this payload */
static inline bool fuzz_ingest_payload(const uint8_t *p, size_t len, ProtobufCAllocator *pa,
                                       uint64_t *next)
{
    Bulwark__V1__Frame *f = frame_decode(p, len, pa);
    char why[256];
    bool ok = false;

    if (!f)
        return false;
    /* The connection checks every field on the wire first. */
    if (ingest_check_frame(f, p, len, why, sizeof why) < 0)
        goto out;
    ok = true;
    if (f->msg_case == BULWARK__V1__FRAME__MSG_HELLO) {
        ingest_check_hello(f->hello, "fuzz-agent", why, sizeof why);
    } else if (f->msg_case == BULWARK__V1__FRAME__MSG_BATCH) {
        struct ingest_batch ib;
        const uint8_t *raw[64];
        size_t rawlen[64], nraw = 0;
        bool use_raw = frame_batch_scan(p, len, raw, rawlen, 64, &nraw) == 0 &&
                       nraw == f->batch->n_events;
        if (ingest_batch_build(f->batch, use_raw ? raw : NULL, use_raw ? rawlen : NULL,
                               "fuzz-agent", "host", f->batch->epoch, 4096, 1, next, &ib, why,
                               sizeof why) == 0)
            ingest_batch_release(&ib);
    }
out:
    frame_free(f, pa);
    return ok;
}
#endif
