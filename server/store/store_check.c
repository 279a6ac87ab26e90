/* store_check.c - the database file's integrity check (include/bulwark/store.h):
 * PRAGMA quick_check on a read-only connection of its own, cancellable.
 * bulwarkd runs it once at start on a thread of its own (server/integrity.c)
 * while ingest goes on: in WAL mode the check's read transaction does not
 * block the writer (the log grows until it ends, then checkpoints resume). */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

#define STORE_CHECK_POLL_OPS 10000  /* VM steps between looks at the cancel flag */

/* SQLite words a problem on several lines ("*** in database main ***\n
 * Tree 5 page 12 ..."): one line for logs and JSON. */
static void copy_line(char *out, size_t n, const char *msg)
{
    size_t k = 0;

    if (!strncmp(msg, "*** in database main ***", 24))
        msg += 24;
    while (*msg == '\n' || *msg == ' ')
        msg++;
    for (; *msg && k + 1 < n; msg++)
        out[k++] = (unsigned char)*msg < 0x20 ? ' ' : *msg;
    out[k] = '\0';
}

static int on_check_progress(void *arg)
{
    const atomic_bool *cancel = arg;
    return atomic_load(cancel) ? 1 : 0;
}

int store_quick_check(const char *path, const atomic_bool *cancel, uint64_t *problems,
                      char *first, size_t firstlen, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    int rc = BW_EIO, step;

    if (firstlen)
        first[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        store_set_err(err, errlen, "open '%s' read-only: %s", path,
                      db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, STORE_BUSY_MS);
    sqlite3_progress_handler(db, STORE_CHECK_POLL_OPS, on_check_progress, (void *)cancel);
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(100)", -1,
                           &st, NULL) != SQLITE_OK) {
        step = sqlite3_errcode(db);
        goto failed;
    }
    /* At most 100 problems are listed: the count saturates there. */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(st, 0);
        if (msg && strcmp(msg, "ok") == 0)
            continue;
        if (n++ == 0 && firstlen)
            copy_line(first, firstlen, msg ? msg : "?");
    }
    if (step == SQLITE_DONE) {
        *problems = n;
        rc = 0;
        goto out;
    }
failed:
    if (step == SQLITE_INTERRUPT) {
        store_set_err(err, errlen, "check of '%s' cancelled", path);
        rc = BW_EAGAIN;
    } else if ((step & 0xff) == SQLITE_CORRUPT || (step & 0xff) == SQLITE_NOTADB) {
        /* damage bad enough that the check itself stops is a finding too */
        if (n++ == 0 && firstlen)
            snprintf(first, firstlen, "%s", sqlite3_errmsg(db));
        *problems = n;
        rc = 0;
    } else {
        store_set_err(err, errlen, "check of '%s': %s", path, sqlite3_errmsg(db));
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
