/* integrity.h - bulwarkd's check of its database file at start: PRAGMA
 * quick_check (store_quick_check) on a libuv pool thread with a read-only
 * connection of its own, so ingest starts at once and goes on meanwhile.
 * The outcome comes back on the loop thread. */
#ifndef BULWARK_INTEGRITY_H
#define BULWARK_INTEGRITY_H

#include <stdint.h>
#include <uv.h>

enum integrity_state {
    INTEGRITY_CHECKING = 0,  /* not finished yet */
    INTEGRITY_OK,            /* no problem found */
    INTEGRITY_CORRUPT,       /* problems found (the store goes on serving) */
    INTEGRITY_FAILED,        /* the check could not run (reason logged) */
    INTEGRITY_SKIPPED,       /* integrity_check = false */
};

/* "checking", "ok", "corrupt", "failed", "skipped" */
const char *integrity_state_name(enum integrity_state s);

struct integrity_result {
    enum integrity_state state;
    uint64_t problems;       /* corrupt: how many (at most 100 are counted) */
    char first[256];         /* corrupt: the first problem as SQLite words it */
    int64_t done_ns;         /* wall clock when it finished; 0 while checking */
    int64_t took_ns;
};

struct integrity;
/* Loop thread, with the outcome (the check is freed after it returns). */
typedef void (*integrity_done_fn)(const struct integrity_result *res, void *ctx);

/* Starts the check of the database at path. 0, or a negative bw_err (then
 * done is never called). */
int integrity_start(struct integrity **out, uv_loop_t *loop, const char *path,
                    integrity_done_fn done, void *ctx);
/* Asks a running check to stop soon (any thread; NULL is a no-op). done
 * still runs, with INTEGRITY_FAILED if it stopped before the end. */
void integrity_cancel(struct integrity *ic);

#endif
