/* buf.h - a growable byte buffer with a hard maximum (like curl's dynbuf).
 *
 * struct buf is owned by its caller: buf_init() / buf_release(). Data is
 * appended at the end and consumed from the front. */
#ifndef BULWARK_BUF_H
#define BULWARK_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
    uint8_t *data;
    size_t off;   /* first unconsumed byte */
    size_t len;   /* end of valid data (data[off..len) is unconsumed) */
    size_t cap;
    size_t max;   /* capacity never grows past this */
};

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* Appends n bytes; BW_ETOOBIG if the unconsumed size would pass b->max,
 * BW_ENOMEM on allocation failure. On error the buffer is unchanged. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Makes room for at least n more bytes at the end and returns a pointer to
 * it (write, then buf_commit()); NULL if that would pass max or on ENOMEM. */
uint8_t *buf_reserve(struct buf *b, size_t n);
/* buf_append with its common case (the room is there) inline, for text
 * written in many small pieces (the export's JSON). */
static inline int buf_put(struct buf *b, const void *p, size_t n)
{
    if (n && b->cap - b->len >= n) {  /* cap never passes max */
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
    }
    return buf_append(b, p, n);
}
void buf_commit(struct buf *b, size_t n);
/* buf_reserve with its common case inline. */
static inline uint8_t *buf_room(struct buf *b, size_t n)
{
    return n && b->cap - b->len >= n ? b->data + b->len : buf_reserve(b, n);
}
/* Appends formatted text (no NUL); BW_ETOOBIG past max, the buffer then
 * unchanged. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
static inline size_t buf_size(const struct buf *b) { return b->len - b->off; }
/* NULL for a buffer never written (NULL + 0 is undefined in C). */
static inline const uint8_t *buf_head(const struct buf *b)
{
    return b->data ? b->data + b->off : NULL;
}
void buf_reset(struct buf *b);
/* Frees the storage of an empty buffer but keeps its maximum, so an idle
 * owner (one of 10,000 connections) holds no buffer memory. */
void buf_trim(struct buf *b);

#endif
