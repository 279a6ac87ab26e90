/* arena.h - a bump allocator: many small allocations, one free.
 *
 * Per-batch data (a decoded frame and everything protobuf-c allocates for
 * it) comes from one arena and is released at once when the batch is stored,
 * instead of field by field. Not thread-safe; an arena may move between
 * threads with its owner. */
#ifndef BULWARK_ARENA_H
#define BULWARK_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena;

/* chunk: the first chunk's size (later chunks are at least as large as the
 * request). NULL on ENOMEM. */
struct arena *arena_new(size_t chunk);
void arena_free(struct arena *a);
/* 16-byte aligned memory valid until arena_free; NULL on ENOMEM. */
void *arena_alloc(struct arena *a, size_t n);
/* A copy of the string s in a; NULL on ENOMEM. */
char *arena_strdup(struct arena *a, const char *s);
/* Forgets every allocation but keeps the first chunk for reuse, so an arena
 * reset per item (an exported event) allocates nothing in the common case. */
void arena_reset(struct arena *a);
/* A protobuf-c allocator drawing from a (its free is a no-op). */
ProtobufCAllocator arena_pb_allocator(struct arena *a);

#endif
