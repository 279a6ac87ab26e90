/* sqlite.h - the SQLite plumbing the server's store and the agent's spool
 * share: statements prepared once, steps whose failure keeps its cause, the
 * multi-row INSERT, and schema migrations by PRAGMA user_version.
 *
 * Errors: SQLITE_FULL is BW_EFULL (the disk is full), SQLITE_BUSY and
 * SQLITE_LOCKED are BW_EAGAIN (another connection holds the lock), anything
 * else is BW_EIO; sqlite3_errmsg() of the connection tells the rest. */
#ifndef BULWARK_SQLITE_H
#define BULWARK_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* The BW_E* class of a SQLite result code (primary or extended). */
int sql_error(int sqlite_rc);
/* Steps a statement to its end (rows are ignored), then resets it and
 * clears its bindings: 0 or sql_error(). */
int sql_exec(sqlite3_stmt *st);
/* Steps a statement expected to return one integer row (none = 0), then
 * resets it: 0 or sql_error(). */
int sql_int(sqlite3_stmt *st, int64_t *out);
/* Prepares n persistent statements; on failure err names what and which. */
int sql_prepare_all(sqlite3 *db, const char *const *sql, int n, sqlite3_stmt **st,
                    const char *what, char *err, size_t errlen);
/* Prepares head (e.g. "INSERT INTO t(a, b) VALUES ") followed by nrows
 * groups of ncols parameters and then tail (NULL for none; e.g. an
 * "ON CONFLICT ..." clause): row r's column c is parameter r*ncols+c+1, so
 * a caller binds row r from r*ncols+1 on, whichever of its values it maps
 * to the columns. */
int sql_prepare_rows(sqlite3 *db, const char *head, int ncols, int nrows, const char *tail,
                     sqlite3_stmt **out, char *err, size_t errlen);
/* PRAGMA user_version. */
int sql_user_version(sqlite3 *db, int64_t *out);
/* Brings the schema of `what` (a path, for messages) from its user_version
 * to nsteps: steps[v] takes version v to v + 1 and sets PRAGMA user_version
 * itself; each runs in its own BEGIN IMMEDIATE transaction, so a crash
 * leaves a whole version. A version above nsteps (a newer build's file) is
 * refused with BW_ECONFIG. *from (may be NULL) gets the version found. */
int sql_migrate(sqlite3 *db, const char *const *steps, int nsteps, const char *what,
                int64_t *from, char *err, size_t errlen);

#endif
