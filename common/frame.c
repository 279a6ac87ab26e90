/* frame.c - bytes <-> frames (4-byte big-endian length + packed Frame).
 * Pure: no sockets, no logging. See bulwark/frame.h. */
#include <assert.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/frame.h"

void frame_reader_init(struct frame_reader *r, uint32_t max_frame)
{
    /* Room for one whole frame plus the next header and a TLS read's worth. */
    buf_init(&r->in, (size_t)max_frame + FRAME_HEADER_SIZE + 64 * 1024);
    r->max_frame = max_frame;
}

void frame_reader_release(struct frame_reader *r)
{
    buf_release(&r->in);
}

int frame_reader_feed(struct frame_reader *r, const void *p, size_t n)
{
    return buf_append(&r->in, p, n);
}

static uint32_t frame_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len)
{
    size_t avail = buf_size(&r->in);
    const uint8_t *h = buf_head(&r->in);
    uint32_t n;

    if (avail < FRAME_HEADER_SIZE)
        return 0;
    n = frame_get_be32(h);
    if (n == 0)
        return BW_EPROTO;
    if (n > r->max_frame)
        return BW_ETOOBIG;
    if (avail - FRAME_HEADER_SIZE < n)
        return 0;
    *payload = h + FRAME_HEADER_SIZE;
    *len = n;
    /* Consumed now; the bytes stay valid until the next feed (buf only
     * moves data when appending). */
    buf_consume(&r->in, FRAME_HEADER_SIZE + n);
    return 1;
}

Bulwark__V1__Frame *frame_decode(const uint8_t *payload, size_t len, ProtobufCAllocator *alloc)
{
    Bulwark__V1__Frame *f = bulwark__v1__frame__unpack(alloc, len, payload);

    if (f && f->msg_case == BULWARK__V1__FRAME__MSG__NOT_SET) {
        bulwark__v1__frame__free_unpacked(f, alloc);
        return NULL;
    }
    return f;
}

void frame_free(Bulwark__V1__Frame *f, ProtobufCAllocator *alloc)
{
    if (f)
        bulwark__v1__frame__free_unpacked(f, alloc);
}

int frame_encode(const Bulwark__V1__Frame *f, uint32_t max_frame, struct buf *out)
{
    size_t n = bulwark__v1__frame__get_packed_size(f);
    uint8_t *p;

    if (n == 0 || n > max_frame)
        return BW_ETOOBIG;
    p = buf_reserve(out, FRAME_HEADER_SIZE + n);
    if (!p)
        return BW_ETOOBIG;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    if (bulwark__v1__frame__pack(f, p + FRAME_HEADER_SIZE) != n)
        assert(!"a frame packs to the size it said");
    buf_commit(out, FRAME_HEADER_SIZE + n);
    return 0;
}

/* ------------------------------------------------ Batch from packed events */

enum { PB_WIRE_VARINT = 0, PB_WIRE_LEN = 2 };

static size_t frame_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t frame_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

void frame_batch_init(struct frame_batch *b, size_t max_bytes)
{
    buf_init(&b->body, max_bytes);
    b->count = 0;
}

void frame_batch_release(struct frame_batch *b)
{
    buf_release(&b->body);
    b->count = 0;
}

int frame_batch_add(struct frame_batch *b, const uint8_t *event, size_t len)
{
    uint8_t *p = buf_reserve(&b->body, 1 + 10 + len);
    size_t n;

    if (!p)
        return BW_ETOOBIG;
    p[0] = (uint8_t)(2u << 3 | PB_WIRE_LEN);  /* Batch.events = 2 */
    n = 1 + frame_put_varint(p + 1, len);
    memcpy(p + n, event, len);
    buf_commit(&b->body, n + len);
    b->count++;
    return 0;
}

static size_t frame_batch_payload(size_t body, uint64_t epoch, size_t *batch_len)
{
    size_t bl = body + (epoch ? 1 + frame_varint_size(epoch) : 0);  /* Batch.epoch = 1 */
    *batch_len = bl;
    return 1 + frame_varint_size(bl) + bl;  /* Frame.batch = 3 */
}

size_t frame_batch_size_with(const struct frame_batch *b, size_t len)
{
    size_t bl;
    return frame_batch_payload(buf_size(&b->body) + 1 + frame_varint_size(len) + len,
                               UINT64_MAX, &bl);
}

int frame_batch_finish(struct frame_batch *b, uint64_t epoch, uint32_t max_frame, struct buf *out)
{
    size_t body = buf_size(&b->body), bl;
    size_t payload = frame_batch_payload(body, epoch, &bl);
    uint8_t *p;
    size_t n = 0;

    if (payload > max_frame)
        return BW_ETOOBIG;
    p = buf_reserve(out, FRAME_HEADER_SIZE + payload);
    if (!p)
        return BW_ETOOBIG;
    p[n++] = (uint8_t)(payload >> 24);
    p[n++] = (uint8_t)(payload >> 16);
    p[n++] = (uint8_t)(payload >> 8);
    p[n++] = (uint8_t)payload;
    p[n++] = (uint8_t)(3u << 3 | PB_WIRE_LEN);
    n += frame_put_varint(p + n, bl);
    if (epoch) {
        p[n++] = (uint8_t)(1u << 3 | PB_WIRE_VARINT);
        n += frame_put_varint(p + n, epoch);
    }
    /* the header and the Batch prefix are what frame_batch_payload counted */
    assert(n - FRAME_HEADER_SIZE + body == payload);
    memcpy(p + n, buf_head(&b->body), body);
    buf_commit(out, n + body);
    buf_reset(&b->body);
    b->count = 0;
    return 0;
}

/* ------------------------------------------------ raw scan of a Batch */

/* Reads a varint at *p (bounded by end); 0 or BW_EPROTO. */
static int frame_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*p >= end)
            return BW_EPROTO;
        b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return BW_EPROTO;
}

/* Skips or returns one field: for LEN fields, body and blen are the payload. */
static int frame_next_field(const uint8_t **p, const uint8_t *end, uint32_t *field,
                            unsigned *wire, const uint8_t **body, size_t *blen)
{
    uint64_t key, v;

    if (frame_get_varint(p, end, &key) < 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return BW_EPROTO;
    *field = (uint32_t)(key >> 3);
    *wire = key & 7;
    switch (*wire) {
    case PB_WIRE_VARINT:
        return frame_get_varint(p, end, &v);
    case 1:  /* 64-bit */
        if (end - *p < 8)
            return BW_EPROTO;
        *p += 8;
        return 0;
    case PB_WIRE_LEN:
        if (frame_get_varint(p, end, &v) < 0 || v > (uint64_t)(end - *p))
            return BW_EPROTO;
        *body = *p;
        *blen = (size_t)v;
        *p += v;
        return 0;
    case 5:  /* 32-bit */
        if (end - *p < 4)
            return BW_EPROTO;
        *p += 4;
        return 0;
    default:
        return BW_EPROTO;
    }
}

int frame_batch_scan(const uint8_t *payload, size_t len, const uint8_t **ev, size_t *evlen,
                     size_t max, size_t *n)
{
    const uint8_t *p = payload, *end = payload + len, *batch = NULL, *body = NULL;
    size_t blen = 0, batch_len = 0, count = 0;
    uint32_t field;
    unsigned wire;

    while (p < end) {
        if (frame_next_field(&p, end, &field, &wire, &body, &blen) < 0)
            return BW_EPROTO;
        if (field == 3 && wire == PB_WIRE_LEN) {
            if (batch)
                return BW_EPROTO;  /* merged batches: leave it to the decoder */
            batch = body;
            batch_len = blen;
        }
    }
    if (!batch)
        return BW_EPROTO;
    p = batch;
    end = batch + batch_len;
    while (p < end) {
        if (frame_next_field(&p, end, &field, &wire, &body, &blen) < 0)
            return BW_EPROTO;
        if (field == 2 && wire == PB_WIRE_LEN) {
            if (count == max)
                return BW_EPROTO;
            ev[count] = body;
            evlen[count] = blen;
            count++;
        }
    }
    *n = count;
    return 0;
}
