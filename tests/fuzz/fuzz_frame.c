/* fuzz_frame.c - fuzz target for the pure ingest stages: bytes -> frame
 * reader -> Frame decode -> field check on the wire -> hello check / batch
 * validation, exactly as a connection drives them, with the server's
 * limits. Built as a libFuzzer
 * target with clang (-DBULWARK_FUZZ=ON) and always as a corpus replayer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/frame.h"
#include "bulwark/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct frame_reader r;
    const uint8_t *p;
    size_t len;
    uint64_t next = 1;
    char why[256];
    int rc;

    frame_reader_init(&r, 64 * 1024);
    if (frame_reader_feed(&r, data, size) < 0)
        goto out;
    while ((rc = frame_reader_next(&r, &p, &len)) == 1) {
        Bulwark__V1__Frame *f = frame_decode(p, len, NULL);
        if (!f)
            break;
        /* The connection checks every field on the wire first. */
        if (ingest_check_frame(f, p, len, why, sizeof why) < 0) {
            frame_free(f, NULL);
            break;
        }
        if (f->msg_case == BULWARK__V1__FRAME__MSG_HELLO) {
            ingest_check_hello(f->hello, "fuzz-agent", why, sizeof why);
        } else if (f->msg_case == BULWARK__V1__FRAME__MSG_BATCH) {
            struct ingest_batch ib;
            const uint8_t *raw[64];
            size_t rawlen[64], nraw = 0;
            bool use_raw = frame_batch_scan(p, len, raw, rawlen, 64, &nraw) == 0 &&
                           nraw == f->batch->n_events;
            if (ingest_batch_build(f->batch, use_raw ? raw : NULL, use_raw ? rawlen : NULL,
                                   "fuzz-agent", "host", f->batch->epoch, 4096, 1, &next,
                                   &ib, why, sizeof why) == 0)
                ingest_batch_release(&ib);
        }
        frame_free(f, NULL);
    }
out:
    frame_reader_release(&r);
    return 0;
}
