/* buf.c - bounded growable byte buffer (see bulwark/buf.h). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/buf.h"
#include "bulwark/err.h"

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void buf_release(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void buf_reset(struct buf *b)
{
    b->off = b->len = 0;
}

/* Ensures room for n more bytes after len, compacting or growing. */
static int buf_make_room(struct buf *b, size_t n)
{
    size_t used = b->len - b->off;
    size_t need, cap;
    uint8_t *p;

    if (n > b->max || used > b->max - n)
        return BW_ETOOBIG;
    if (b->cap - b->len >= n)
        return 0;
    if (b->off > 0) {  /* slide unconsumed bytes to the front first */
        memmove(b->data, b->data + b->off, used);
        b->off = 0;
        b->len = used;
        if (b->cap - b->len >= n)
            return 0;
    }
    need = used + n;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > b->max)
        cap = b->max;
    p = realloc(b->data, cap);
    if (!p)
        return BW_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    rc = buf_make_room(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    if (buf_make_room(b, n) < 0)
        return NULL;
    return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    assert(n <= b->cap - b->len);  /* at most what buf_reserve gave */
    b->len += n;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len - b->off) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
}

void buf_trim(struct buf *b)
{
    if (b->len - b->off != 0)
        return;
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    int n;
    uint8_t *p;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BW_EINVAL;
    if ((size_t)n < sizeof small)
        return buf_append(b, small, (size_t)n);
    if (!(p = buf_reserve(b, (size_t)n + 1)))
        return BW_ETOOBIG;
    va_start(ap, fmt);
    vsnprintf((char *)p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_commit(b, (size_t)n);
    return 0;
}
