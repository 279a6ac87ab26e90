/* fuzz_frame.c - fuzz target for the pure ingest stages: bytes -> frame
 * reader -> Frame decode -> field check on the wire -> hello check / batch
 * validation, exactly as a connection drives them, with the server's
 * limits. Built as a libFuzzer
 * target with clang (-DBULWARK_FUZZ=ON) and always as a corpus replayer. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct frame_reader r;
    const uint8_t *p;
    size_t len;
    uint64_t next = 1;

    frame_reader_init(&r, 64 * 1024);
    if (frame_reader_feed(&r, data, size) < 0)
        goto out;
    while (frame_reader_next(&r, &p, &len) == 1)
        if (!fuzz_ingest_payload(p, len, NULL, &next))
            break;
out:
    frame_reader_release(&r);
    return 0;
}
