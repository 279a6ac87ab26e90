/* names.c - a name -> index hash map for the loader and compiler (rules,
 * macros and lists by name), so that finding an item costs about one probe
 * whatever the number of items: a file of N rules loads in time linear in
 * N. The map borrows the names (they live as long as the items). Every
 * probe is counted into *work when set, so tests can check the cost. */
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "internal.h"

void nameidx_release(struct nameidx *x)
{
    free(x->slots);
    x->slots = NULL;
    x->cap = x->n = 0;
}

/* The slot of name: where it is, or the empty slot where it would go. */
static struct nameidx_slot *slot_of(struct nameidx *x, const char *name)
{
    size_t i = rules_hash_bytes(name, strlen(name)) & (x->cap - 1);

    for (;; i = (i + 1) & (x->cap - 1)) {
        if (x->work)
            ++*x->work;
        if (!x->slots[i].name || strcmp(x->slots[i].name, name) == 0)
            return &x->slots[i];
    }
}

static int grow_map(struct nameidx *x)
{
    struct nameidx old = *x;

    x->cap = old.cap ? old.cap * 2 : 16;
    x->n = 0;
    x->slots = calloc(x->cap, sizeof *x->slots);
    if (!x->slots) {
        *x = old;
        return BW_ENOMEM;
    }
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].name)
            *slot_of(x, old.slots[i].name) = old.slots[i];
    x->n = old.n;
    free(old.slots);
    return 0;
}

int nameidx_put(struct nameidx *x, const char *name, size_t idx)
{
    struct nameidx_slot *s;

    if ((x->n + 1) * 2 > x->cap && grow_map(x) < 0)  /* at most half full */
        return BW_ENOMEM;
    s = slot_of(x, name);
    x->n += s->name == NULL;
    s->name = name;
    s->idx = idx;
    return 0;
}

bool nameidx_get(struct nameidx *x, const char *name, size_t *idx)
{
    const struct nameidx_slot *s;

    if (!x->cap)
        return false;
    s = slot_of(x, name);
    if (!s->name)
        return false;
    *idx = s->idx;
    return true;
}
