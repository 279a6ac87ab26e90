/* hunt.c - `bulwarkd rules hunt`: the stored history through the rules,
 * findings stored as retrospective alerts (see bulwark/hunt.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/duration.h"
#include "bulwark/err.h"
#include "bulwark/log.h"
#include "bulwark/rules.h"
#include "bulwark/rulestage.h"
#include "bulwark/store.h"
#include "cmd.h"

#define HUNT_DEFAULT_MAX 5000000u  /* ~1.5 GB of packed events at most */
#define HUNT_PAGE 1000u

/* A stored event kept packed (about 300 bytes) until its turn: decoded
 * trees are several times larger. */
struct hunt_row {
    char *agent_id;
    char *hostname;
    uint64_t epoch;
    uint8_t *body;
    size_t body_len;
};

struct hunt {
    struct hunt_row *rows;
    size_t n, cap, max;
    int64_t last_id;
    bool truncated;
};

static int hunt_parse_duration(const char *s, int64_t *out_ns)
{
    int64_t ns;
    if (bw_duration_parse(s, 0, &ns) < 0 || ns <= 0)
        return BW_EINVAL;
    *out_ns = ns;
    return 0;
}

static int hunt_collect(const struct store_row *row, void *arg)
{
    struct hunt *h = arg;
    struct hunt_row *r;

    h->last_id = row->id;
    if (h->n == h->max) {
        h->truncated = true;
        return 1;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4096;
        struct hunt_row *p = realloc(h->rows, cap * sizeof *p);
        if (!p)
            return BW_ENOMEM;
        h->rows = p;
        h->cap = cap;
    }
    r = &h->rows[h->n];
    r->body = malloc(row->body_len ? row->body_len : 1);
    r->agent_id = strdup(row->agent_id);
    r->hostname = strdup(row->hostname);
    r->epoch = row->epoch;
    r->body_len = row->body_len;
    if (!r->body || !r->agent_id || !r->hostname) {
        free(r->body);
        free(r->agent_id);
        free(r->hostname);
        return BW_ENOMEM;
    }
    memcpy(r->body, row->body, row->body_len);
    h->n++;
    return 0;
}

static void hunt_usage(void)
{
    fprintf(stderr, "usage: bulwarkd rules hunt FILE... --since DURATION [--db PATH] "
                    "[--max-events N]\n"
                    "  DURATION: a number with s, m, h or d (90m, 36h, 7d)\n");
}

/* Stores one chunk's alerts, marked retrospective, in one transaction. */
static int hunt_store_alerts(struct store *st, struct alert_rec *recs, uint64_t *alerts)
{
    uint64_t n = 0;

    if (store_begin(st) < 0) {
        fprintf(stderr, "bulwarkd: the database stays locked: %s\n", store_last_error(st, NULL));
        return -1;
    }
    for (struct alert_rec *a = recs; a; a = a->next) {
        struct store_alert_result res;
        a->a.retrospective = true;
        if (store_alert_raise(st, &a->a, 0, &res) < 0) {
            fprintf(stderr, "bulwarkd: storing an alert failed: %s\n", store_last_error(st, NULL));
            store_rollback(st);
            return -1;
        }
        n++;
    }
    if (store_commit(st) < 0) {
        fprintf(stderr, "bulwarkd: storing the alerts failed: %s\n", store_last_error(st, NULL));
        return -1;
    }
    *alerts += n;
    return 0;
}

int hunt_main(int argc, char **argv)
{
    const char *files[64], *db = "bulwark.db";
    size_t nfiles = 0;
    int64_t since = 0;
    uint64_t max = HUNT_DEFAULT_MAX;
    struct store_reader *rd = NULL;
    struct store *st = NULL;
    struct ruleset *set = NULL;
    struct rules_engine *eng = NULL;
    struct store_options so = {0};
    struct hunt h = {0};
    uint64_t alerts = 0;
    char err[512];
    int rc = 1;
    struct timespec now;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--since") && i + 1 < argc) {
            if (hunt_parse_duration(argv[++i], &since) < 0) {
                fprintf(stderr, "bulwarkd: bad duration '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--max-events") && i + 1 < argc) {
            max = strtoull(argv[++i], NULL, 10);
        } else if (argv[i][0] == '-' || nfiles == 64) {
            hunt_usage();
            return 2;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if (nfiles == 0 || since == 0 || max == 0) {
        hunt_usage();
        return 2;
    }
    if (ruleset_load(&set, files, nfiles, NULL, NULL) < 0) {
        fprintf(stderr, "bulwarkd: the rule files do not load (see `bulwarkd rules check`)\n");
        return 1;
    }
    eng = rules_engine_new(set);
    if (!eng || store_reader_open(&rd, db, err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd: %s\n", eng ? err : "out of memory");
        goto out;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    h.max = max;
    /* Newest first by pages, then evaluated oldest first. */
    for (;;) {
        struct store_query q = {.since_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - since,
                                .before_id = h.last_id,
                                .limit = HUNT_PAGE};
        size_t before = h.n;
        int64_t before_id = h.last_id;
        int qrc = store_query_events(rd, &q, hunt_collect, &h);
        if (qrc < 0) {
            fprintf(stderr, "bulwarkd: reading events failed: %s\n", bw_strerror(qrc));
            goto out;
        }
        if (h.truncated || h.last_id == before_id || (h.n == before && h.last_id == 0))
            break;
    }
    if (h.truncated)
        fprintf(stderr, "bulwarkd: hunting the newest %zu events only (--max-events)\n", h.n);
    so.path = db;
    so.sync_full = true;
    if (store_open(&st, &so, err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd: %s\n", err);
        goto out;
    }
    /* Oldest first, a chunk at a time: the chunk is evaluated with no lock
     * held, then its alerts are stored in one short transaction, so a live
     * bulwarkd's writer waits milliseconds for the database, never the
     * whole hunt (its commits would fail after STORE_BUSY_MS). */
    for (size_t end = h.n; end > 0;) {
        size_t start = end > HUNT_PAGE ? end - HUNT_PAGE : 0;
        struct alert_rec *recs = NULL, **tail = &recs;
        for (size_t i = end; i-- > start;) {
            struct hunt_row *r = &h.rows[i];
            Bulwark__V1__Event *ev = bulwark__v1__event__unpack(NULL, r->body_len, r->body);
            if (!ev)
                continue;  /* a row we cannot read is skipped, not fatal */
            rulestage_eval_engine(eng, &ev, 1, r->agent_id, r->hostname, r->epoch, tail, NULL);
            bulwark__v1__event__free_unpacked(ev, NULL);
            while (*tail)
                tail = &(*tail)->next;
        }
        end = start;
        if (!recs)
            continue;
        if (hunt_store_alerts(st, recs, &alerts) < 0) {
            alert_rec_free_list(recs);
            goto out;
        }
        alert_rec_free_list(recs);
    }
    printf("hunted %zu events: %llu retrospective alerts stored\n", h.n,
           (unsigned long long)alerts);
    rc = 0;
out:
    for (size_t i = 0; i < h.n; i++) {
        free(h.rows[i].agent_id);
        free(h.rows[i].hostname);
        free(h.rows[i].body);
    }
    free(h.rows);
    store_close(st);
    store_reader_close(rd);
    rules_engine_free(eng);
    ruleset_free(set);
    return rc;
}
