/* sqlite.c - the SQLite plumbing the store and the spool share (sqlite.h). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/sqlite.h"

int sql_error(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_FULL:
        return BW_EFULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return BW_EAGAIN;
    case SQLITE_NOMEM:
        return BW_ENOMEM;
    default:
        return BW_EIO;
    }
}

int sql_exec(sqlite3_stmt *st)
{
    int rc;

    do
        rc = sqlite3_step(st);
    while (rc == SQLITE_ROW);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : sql_error(rc);
}

int sql_int(sqlite3_stmt *st, int64_t *out)
{
    int rc = sqlite3_step(st);

    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_error(rc);
}

int sql_prepare_all(sqlite3 *db, const char *const *sql, int n, sqlite3_stmt **st,
                    const char *what, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        int rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i], NULL);
        if (rc != SQLITE_OK) {
            if (err && errlen)
                snprintf(err, errlen, "prepare %s statement %d: %s", what, i, sqlite3_errmsg(db));
            return sql_error(rc);
        }
    }
    return 0;
}

int sql_prepare_rows(sqlite3 *db, const char *head, int ncols, int nrows, const char *tail,
                     sqlite3_stmt **out, char *err, size_t errlen)
{
    size_t hl = strlen(head), tl = tail ? strlen(tail) : 0;
    size_t size = hl + (size_t)nrows * ((size_t)ncols * 2 + 2) + tl + 1;
    char *sql, *p;
    int rc;

    assert(ncols > 0 && nrows > 0);
    if (!(sql = malloc(size)))
        return BW_ENOMEM;
    memcpy(sql, head, hl);
    p = sql + hl;
    for (int r = 0; r < nrows; r++) {
        *p++ = r ? ',' : '(';
        if (r)
            *p++ = '(';
        for (int c = 0; c < ncols; c++) {
            *p++ = '?';
            *p++ = c + 1 < ncols ? ',' : ')';
        }
    }
    memcpy(p, tail ? tail : "", tl);
    p[tl] = '\0';
    rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    free(sql);
    if (rc != SQLITE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "prepare a %d-row insert: %s", nrows, sqlite3_errmsg(db));
        return sql_error(rc);
    }
    return 0;
}

int sql_user_version(sqlite3 *db, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    rc = rc == SQLITE_OK ? sql_int(st, out) : sql_error(rc);
    sqlite3_finalize(st);
    return rc;
}

int sql_migrate(sqlite3 *db, const char *const *steps, int nsteps, const char *what,
                int64_t *from, char *err, size_t errlen)
{
    int64_t version;
    int rc;

    if ((rc = sql_user_version(db, &version)) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "read the schema version of '%s': %s", what,
                     sqlite3_errmsg(db));
        return rc;
    }
    if (from)
        *from = version;
    if (version < 0 || version > nsteps) {
        if (err && errlen)
            snprintf(err, errlen, "'%s' has schema version %lld, this build knows up to %d", what,
                     (long long)version, nsteps);
        return BW_ECONFIG;
    }
    for (; version < nsteps; version++) {
        if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK ||
            (rc = sqlite3_exec(db, steps[version], NULL, NULL, NULL)) != SQLITE_OK ||
            (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
            if (err && errlen)
                snprintf(err, errlen, "migrate '%s' to schema version %lld: %s", what,
                         (long long)version + 1, sqlite3_errmsg(db));
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return sql_error(rc);
        }
    }
    return 0;
}
