/* frame.h - bytes <-> protocol frames: 4-byte big-endian length, then one
 * serialized bulwark.v1.Frame. No sockets here: feed bytes, take frames. */
#ifndef BULWARK_FRAME_H
#define BULWARK_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/buf.h"
#include "bulwark/v1/bulwark.pb-c.h"

/* The protocol version this build speaks (Hello/Welcome.protocol_version;
 * proto/bulwark/v1, docs/protocol.md "Versioning"). */
#define BULWARK_PROTOCOL_VERSION 1u

#define FRAME_HEADER_SIZE 4u
/* The first arena chunk for a frame of len bytes and everything protobuf-c
 * unpacks from it: the copy of the bytes plus the decoded tree, which is
 * about three times the wire size for event batches (strings copied, one
 * struct per message), plus the fixed part of a batch. A larger tree only
 * takes another chunk. */
#define FRAME_ARENA_SIZE(len) ((size_t)(len) * 4 + 4096)
#define FRAME_DEFAULT_MAX_BYTES 1048576  /* plain digits: also the options' default text */
#define FRAME_DEFAULT_MAX ((uint32_t)FRAME_DEFAULT_MAX_BYTES)

struct frame_reader {
    struct buf in;
    uint32_t max_frame;   /* largest payload accepted */
};

void frame_reader_init(struct frame_reader *r, uint32_t max_frame);
void frame_reader_release(struct frame_reader *r);
/* Adds received plaintext; BW_ETOOBIG if more than one max frame is pending. */
int frame_reader_feed(struct frame_reader *r, const void *p, size_t n);
/* Takes the next complete frame payload. Returns 1 and points *payload at
 * it (valid until the next feed/next call), 0 if more bytes are needed,
 * BW_ETOOBIG if the length prefix exceeds max_frame, BW_EPROTO for a zero
 * length. */
int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len);

/* Unpacks a payload into a Frame; NULL (BW_EPROTO) if it is not valid
 * protobuf or has no message set. Free with frame_free(). `alloc` may be
 * NULL for the default allocator. */
Bulwark__V1__Frame *frame_decode(const uint8_t *payload, size_t len, ProtobufCAllocator *alloc);
void frame_free(Bulwark__V1__Frame *f, ProtobufCAllocator *alloc);

/* Appends the length prefix and the packed frame to out. BW_ETOOBIG if the
 * packed size exceeds max_frame or out's maximum. */
int frame_encode(const Bulwark__V1__Frame *f, uint32_t max_frame, struct buf *out);

/* Finds the raw bytes of each event of a Batch frame payload without
 * unpacking them, so the store can keep the agent's bytes instead of packing
 * the decoded events again. Fills ev[i]/evlen[i] for up to max events in
 * order and sets *n. Returns 0, or BW_EPROTO when the payload is not one
 * Batch (no batch, a batch field seen twice, bad wire data) or holds more
 * than max events: the caller then packs the decoded events instead. */
int frame_batch_scan(const uint8_t *payload, size_t len, const uint8_t **ev, size_t *evlen,
                     size_t max, size_t *n);

/* Builds a Batch frame from events that are already packed (as the agent's
 * spool keeps them), without unpacking them: the body collects each event as
 * field 2 of Batch, then finish writes the length prefix, the Frame.batch tag
 * and the epoch in front of it. */
struct frame_batch {
    struct buf body;
    size_t count;
};

void frame_batch_init(struct frame_batch *b, size_t max_bytes);
void frame_batch_release(struct frame_batch *b);
/* Adds one packed bulwark.v1.Event; BW_ETOOBIG if the body would pass max. */
int frame_batch_add(struct frame_batch *b, const uint8_t *event, size_t len);
/* Appends the whole frame to out and empties the batch. BW_ETOOBIG if it
 * would exceed max_frame. */
int frame_batch_finish(struct frame_batch *b, uint64_t epoch, uint32_t max_frame, struct buf *out);
/* Size of the frame payload finish would produce with one more event of len. */
size_t frame_batch_size_with(const struct frame_batch *b, size_t len);

#endif
