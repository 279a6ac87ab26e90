/* arena.c - bump allocator over a list of chunks (see bulwark/arena.h). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/arena.h"

struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

struct arena {
    struct arena_chunk *head;
    size_t chunk;
};

static struct arena_chunk *arena_chunk_new(size_t size)
{
    struct arena_chunk *c = malloc(sizeof *c + size);

    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct arena *arena_new(size_t chunk)
{
    struct arena *a = malloc(sizeof *a);

    if (!a)
        return NULL;
    a->chunk = chunk < 1024 ? 1024 : chunk;
    a->head = arena_chunk_new(a->chunk);
    if (!a->head) {
        free(a);
        return NULL;
    }
    return a;
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    while (a->head) {
        struct arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct arena_chunk *c = a->head;
    size_t need = (n + 15) & ~(size_t)15;

    if (need < n)
        return NULL;
    if (c->size - c->used < need) {
        size_t size = a->chunk > need ? a->chunk : need;
        c = arena_chunk_new(size);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
    }
    c->used += need;
    assert(c->used <= c->size);
    return c->data + c->used - need;
}

char *arena_strdup(struct arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena_alloc(a, n);

    if (p)
        memcpy(p, s, n);
    return p;
}

void arena_reset(struct arena *a)
{
    /* head is the newest chunk; the first one (a->chunk bytes) is last */
    while (a->head->next) {
        struct arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    a->head->used = 0;
}

static void *arena_pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

ProtobufCAllocator arena_pb_allocator(struct arena *a)
{
    return (ProtobufCAllocator){.alloc = arena_pb_alloc, .free = arena_pb_free,
                                .allocator_data = a};
}
