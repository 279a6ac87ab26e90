/* hostbind.c - host name -> agent id bindings (see bulwark/hostbind.h).
 *
 * One entry per agent, indexed twice (by host name and by agent id) in
 * chained hash tables that double when they fill. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/hash.h"
#include "bulwark/hostbind.h"

struct hb_entry {
    char *host;
    char *agent;
    struct hb_entry *next_host, *next_agent;
};

struct hostbind {
    struct hb_entry **by_host, **by_agent;
    size_t nbuckets, count;
};

#define HB_INITIAL_BUCKETS 64u

static size_t hb_hash(const char *s)
{
    return (size_t)bw_hash(s, strlen(s));
}

struct hostbind *hostbind_new(void)
{
    struct hostbind *hb = calloc(1, sizeof *hb);

    if (!hb)
        return NULL;
    hb->nbuckets = HB_INITIAL_BUCKETS;
    hb->by_host = calloc(hb->nbuckets, sizeof *hb->by_host);
    hb->by_agent = calloc(hb->nbuckets, sizeof *hb->by_agent);
    if (!hb->by_host || !hb->by_agent) {
        hostbind_free(hb);
        return NULL;
    }
    return hb;
}

void hostbind_free(struct hostbind *hb)
{
    if (!hb)
        return;
    for (size_t i = 0; hb->by_host && i < hb->nbuckets; i++) {
        struct hb_entry *e = hb->by_host[i], *next;
        for (; e; e = next) {
            next = e->next_host;
            free(e->host);
            free(e->agent);
            free(e);
        }
    }
    free(hb->by_host);
    free(hb->by_agent);
    free(hb);
}

size_t hostbind_count(const struct hostbind *hb)
{
    return hb->count;
}

static struct hb_entry *hb_find_host(const struct hostbind *hb, const char *host)
{
    struct hb_entry *e = hb->by_host[hb_hash(host) % hb->nbuckets];

    while (e && strcmp(e->host, host) != 0)
        e = e->next_host;
    return e;
}

static struct hb_entry *hb_find_agent(const struct hostbind *hb, const char *agent)
{
    struct hb_entry *e = hb->by_agent[hb_hash(agent) % hb->nbuckets];

    while (e && strcmp(e->agent, agent) != 0)
        e = e->next_agent;
    return e;
}

static void hb_link(struct hostbind *hb, struct hb_entry *e)
{
    size_t h = hb_hash(e->host) % hb->nbuckets, a = hb_hash(e->agent) % hb->nbuckets;

    e->next_host = hb->by_host[h];
    hb->by_host[h] = e;
    e->next_agent = hb->by_agent[a];
    hb->by_agent[a] = e;
}

/* Takes e out of the host-name index (its name is about to change). */
static void hb_unlink_host(struct hostbind *hb, struct hb_entry *e)
{
    struct hb_entry **p = &hb->by_host[hb_hash(e->host) % hb->nbuckets];

    while (*p != e)
        p = &(*p)->next_host;
    *p = e->next_host;
}

static int hb_grow(struct hostbind *hb)
{
    size_t n = hb->nbuckets * 2;
    struct hb_entry **bh = calloc(n, sizeof *bh), **ba = calloc(n, sizeof *ba);
    struct hb_entry *all = NULL;

    if (!bh || !ba) {
        free(bh);
        free(ba);
        return BW_ENOMEM;
    }
    for (size_t i = 0; i < hb->nbuckets; i++) {  /* gather every entry once */
        struct hb_entry *e = hb->by_host[i], *next;
        for (; e; e = next) {
            next = e->next_host;
            e->next_host = all;
            all = e;
        }
    }
    free(hb->by_host);
    free(hb->by_agent);
    hb->by_host = bh;
    hb->by_agent = ba;
    hb->nbuckets = n;
    while (all) {
        struct hb_entry *next = all->next_host;
        hb_link(hb, all);
        all = next;
    }
    return 0;
}

int hostbind_claim(struct hostbind *hb, const char *hostname, const char *agent_id,
                   const char **owner)
{
    struct hb_entry *held = hb_find_host(hb, hostname), *mine;
    char *host;

    if (held) {
        if (strcmp(held->agent, agent_id) == 0)
            return 0;
        *owner = held->agent;
        return BW_EAUTH;
    }
    if ((host = strdup(hostname)) == NULL)
        return BW_ENOMEM;
    mine = hb_find_agent(hb, agent_id);
    if (mine) {  /* renamed: the old name is free again */
        hb_unlink_host(hb, mine);
        free(mine->host);
        mine->host = host;
        size_t h = hb_hash(host) % hb->nbuckets;
        mine->next_host = hb->by_host[h];
        hb->by_host[h] = mine;
        return 0;
    }
    if (hb->count >= hb->nbuckets && hb_grow(hb) < 0) {
        free(host);
        return BW_ENOMEM;
    }
    if ((mine = calloc(1, sizeof *mine)) == NULL || (mine->agent = strdup(agent_id)) == NULL) {
        free(mine);
        free(host);
        return BW_ENOMEM;
    }
    mine->host = host;
    hb_link(hb, mine);
    hb->count++;
    return 0;
}
