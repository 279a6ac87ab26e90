/* lru.c - the rules engine's bounded LRU map (see lru.h). */
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/lru.h"

int lru_init(struct lru *l, size_t max)
{
    *l = (struct lru){.max = max ? max : 1, .nbucket = 64};
    l->head.prev = l->head.next = &l->head;
    l->bucket = calloc(l->nbucket, sizeof *l->bucket);
    return l->bucket ? 0 : BW_ENOMEM;
}

static void list_unlink(struct lru_node *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void list_after(struct lru_node *at, struct lru_node *e)
{
    e->prev = at;
    e->next = at->next;
    at->next->prev = e;
    at->next = e;
}

void lru_release(struct lru *l, lru_free_fn free_fn)
{
    if (!l->bucket)
        return;
    for (struct lru_node *e = l->head.next, *nx; e != &l->head; e = nx) {
        nx = e->next;
        if (free_fn)
            free_fn(e);
        else
            free(e);
    }
    free(l->bucket);
    *l = (struct lru){0};
}

void lru_move(struct lru *dst, struct lru *src)
{
    *dst = *src;
    if (src->n == 0) {
        dst->head.prev = dst->head.next = &dst->head;
    } else {
        dst->head.next->prev = &dst->head;
        dst->head.prev->next = &dst->head;
    }
    *src = (struct lru){0};
}

struct lru_node *lru_find(const struct lru *l, const char *key, size_t klen, uint64_t h)
{
    for (struct lru_node *e = l->bucket[h & (l->nbucket - 1)]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

void lru_touch(struct lru *l, struct lru_node *e)
{
    list_unlink(e);
    list_after(&l->head, e);
}

void lru_remove(struct lru *l, struct lru_node *e)
{
    struct lru_node **pp = &l->bucket[e->hash & (l->nbucket - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    list_unlink(e);
    l->n--;
}

/* Doubles the bucket array (best effort: a failed grow only lengthens the
 * chains). */
static void lru_grow(struct lru *l)
{
    size_t nb = l->nbucket * 2;
    struct lru_node **b = calloc(nb, sizeof *b);

    if (!b)
        return;
    for (struct lru_node *e = l->head.next; e != &l->head; e = e->next) {
        e->hnext = b[e->hash & (nb - 1)];
        b[e->hash & (nb - 1)] = e;
    }
    free(l->bucket);
    l->bucket = b;
    l->nbucket = nb;
}

void lru_insert(struct lru *l, struct lru_node *e, bool at_tail)
{
    size_t i = e->hash & (l->nbucket - 1);

    e->hnext = l->bucket[i];
    l->bucket[i] = e;
    list_after(at_tail ? l->head.prev : &l->head, e);
    if (++l->n > l->nbucket)
        lru_grow(l);
}

void *lru_entry_alloc(size_t size, const char *key, size_t klen, uint64_t h)
{
    char *m = calloc(1, size + klen + 1);
    struct lru_node *n = (struct lru_node *)m;

    if (!m)
        return NULL;
    memcpy(m + size, key, klen);
    n->hash = h;
    n->klen = klen;
    n->key = m + size;
    return m;
}

int lru_get(struct lru *l, const char *key, size_t klen, size_t size, lru_free_fn free_fn,
            struct lru_node **out, bool *created)
{
    uint64_t h = lru_hash(key, klen);
    struct lru_node *n = lru_find(l, key, klen, h);

    if (created)
        *created = !n;
    if (n) {
        lru_touch(l, n);
    } else {
        if (!(n = lru_entry_alloc(size, key, klen, h)))
            return BW_ENOMEM;
        if (l->n >= l->max) {
            struct lru_node *old = l->head.prev;
            lru_remove(l, old);
            if (free_fn)
                free_fn(old);
            else
                free(old);
        }
        lru_insert(l, n, false);
    }
    *out = n;
    return 0;
}
