/* spool.c - the agent's durable spool (see bulwark/spool.h): SQLite in WAL
 * mode, every statement prepared once at open.
 *
 * Schema (PRAGMA user_version 3):
 *   meta(id = 1, epoch, last_seq, acked_seq, dropped,   one row
 *        quarantined, machine, file_dev, file_ino)     (the last four: v3)
 *   events(seq INTEGER PRIMARY KEY, data BLOB)          packed bulwark.v1.Event
 *   marks(key TEXT PRIMARY KEY, v0..v3)                 producers' positions (v2)
 *   quarantine(id, epoch, seq, at_ns, reason, data)     events set aside (v3)
 *
 * A quarantined event (one the server refused, or a row that is no longer an
 * event) keeps its bytes and the reason in quarantine; its row in events
 * gets a stand-in the caller made (an event saying what was set aside), so
 * the stream's seqs stay contiguous and the server records the quarantine.
 * The newest SPOOL_QUARANTINE_KEEP are kept, all are counted.
 *
 * A mark is where a producer (a replay file, a Falco file) stood after the
 * events it made: it is written in the transaction that stores them, so
 * after any stop or crash the events on disk and the position agree and a
 * restart resumes exactly after the last stored event. Version 1 files are
 * upgraded at open (the marks table is added, nothing else changes).
 *
 * A spool belongs to one machine and one file: meta.machine (the host's
 * machine id) and meta.file_dev/file_ino (the file's device and inode) are
 * recorded at the first open. A spool found on another machine or in
 * another file (a cloned VM image, a copied or restored spool) starts a new
 * epoch at open and renumbers its unacked events from 1 in it: two agents
 * made from one image would otherwise send the same (agent, epoch, seq) for
 * different events and the server would keep only one of each.
 *
 * meta.last_seq is kept apart from the rows so that once every event is acked
 * and deleted, the next event still gets last_seq + 1: a seq is never reused
 * within an epoch. On disk the rows present are exactly
 * meta.acked_seq < seq <= last_seq (checked at open).
 *
 * Trimming is deferred: spool_ack() moves the acked position in memory at
 * once (depth, bytes and spool_read() see the acked events as gone) but
 * deletes the rows and persists meta.acked_seq inside an append's
 * transaction once a batch of them waits (SPOOL_TRIM_BATCH_*), so an Ack
 * costs no commit (no fsync) of its own and rows go a few leaf pages at a
 * time. A trim runs by itself only when many acked rows wait (a backlog
 * drained with nothing new coming in) and at close. A crash can leave acked rows on disk with the
 * older meta.acked_seq; that costs nothing but the space: the shipper sends
 * only after the server's committed_seq (its Welcome), which trims them.
 *
 * A spool has one owner thread: nothing here locks, and the data given to a
 * spool_read() callback is valid only during the call (which must not call
 * back into the spool). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/log.h"
#include "bulwark/spool.h"
#include "bulwark/sqlite.h"

#define SPOOL_SCHEMA_VERSION 3
#define SPOOL_QUARANTINE_KEEP 1000
/* Rows go in SPOOL_INSERT_ROWS at a time by one statement: a statement's
 * fixed cost (step, halt, reset) amortised over several rows. */
#define SPOOL_INSERT_ROWS 16
#define SPOOL_PACK_KEEP (256u * 1024)  /* packing buffer kept between appends */
/* Acked rows are deleted with an append once this many wait (deleting
 * whole leaf pages at a time is cheaper than a few rows per commit) ... */
#define SPOOL_TRIM_BATCH_EVENTS 2048u
#define SPOOL_TRIM_BATCH_BYTES (512u * 1024)
/* ... and by themselves (their own commit) once this much waits. */
#define SPOOL_TRIM_EVENTS 16384u
#define SPOOL_TRIM_BYTES (4u * 1024 * 1024)
/* Appends wait (BW_EFULL) while the spool's file system has less than this
 * free, counting the spool's own free pages: SQLite needs room to
 * checkpoint the WAL (up to ~4 MiB of pages copied into the main file) and
 * to delete acked rows. A spool that took the last byte could do neither and
 * would stay stuck even after the server acked everything. */
#define SPOOL_DISK_RESERVE (8ull * 1024 * 1024)

enum spool_stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_SET_LAST,      /* last_seq, dropped, acked_seq */
    ST_SET_ACKED,
    ST_READ,          /* seq > ? ORDER BY seq LIMIT ? */
    ST_BYTES_RANGE,   /* sum of blob sizes with ?1 < seq <= ?2 */
    ST_DELETE_UPTO,
    ST_SET_MARK,
    ST_GET_MARK,
    ST_FREELIST,
    ST_GET_ROW,
    ST_SET_ROW,
    ST_QUAR_INSERT,
    ST_QUAR_TRIM,
    ST_SET_QUAR,
    ST_COUNT
};

static const char *const spool_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO events(seq, data) VALUES (?1, ?2)",
    [ST_SET_LAST] = "UPDATE meta SET last_seq = ?1, dropped = ?2, acked_seq = ?3 WHERE id = 1",
    [ST_SET_ACKED] = "UPDATE meta SET acked_seq = ?1 WHERE id = 1",
    [ST_READ] = "SELECT seq, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [ST_BYTES_RANGE] =
        "SELECT COALESCE(SUM(length(data)), 0) FROM events WHERE seq > ?1 AND seq <= ?2",
    [ST_DELETE_UPTO] = "DELETE FROM events WHERE seq <= ?1",
    [ST_SET_MARK] = "INSERT OR REPLACE INTO marks(key, v0, v1, v2, v3) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_GET_MARK] = "SELECT v0, v1, v2, v3 FROM marks WHERE key = ?1",
    [ST_FREELIST] = "PRAGMA freelist_count",
    [ST_GET_ROW] = "SELECT data FROM events WHERE seq = ?1",
    [ST_SET_ROW] = "UPDATE events SET data = ?2 WHERE seq = ?1",
    [ST_QUAR_INSERT] =
        "INSERT INTO quarantine(epoch, seq, at_ns, reason, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_QUAR_TRIM] = "DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?1",
    [ST_SET_QUAR] = "UPDATE meta SET quarantined = ?1 WHERE id = 1",
};

#define SPOOL_MARKS_TABLE                                                                    \
    "CREATE TABLE IF NOT EXISTS marks(key TEXT PRIMARY KEY, v0 INTEGER NOT NULL,"         \
    " v1 INTEGER NOT NULL, v2 INTEGER NOT NULL, v3 INTEGER NOT NULL) WITHOUT ROWID;"

/* The migrations (sql_migrate runs each in its own transaction): a new
 * file is created at version 2 (spool_schema), so the first step only ever
 * meets a file that is not a spool. */
static const char *const spool_migrations[SPOOL_SCHEMA_VERSION] = {
    /* 0 -> 1: never (a new file is made by spool_schema) */
    "SELECT RAISE(ABORT, 'not a spool');",
    /* 1 -> 2: the marks table */
    SPOOL_MARKS_TABLE "PRAGMA user_version = 2;",
    /* 2 -> 3: the quarantine and the spool's machine and file */
    "ALTER TABLE meta ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE meta ADD COLUMN machine TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE meta ADD COLUMN file_dev INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE meta ADD COLUMN file_ino INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE quarantine(id INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
    " seq INTEGER NOT NULL, at_ns INTEGER NOT NULL, reason TEXT NOT NULL, data BLOB NOT NULL);"
    "PRAGMA user_version = 3;",
};

/* Version 2, upgraded at once to 3 like an old file. */
static const char spool_schema[] =
    "BEGIN;"
    "CREATE TABLE meta(id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL, acked_seq INTEGER NOT NULL, dropped INTEGER NOT NULL);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, data BLOB NOT NULL);"
    "INSERT INTO meta(id, epoch, last_seq, acked_seq, dropped) VALUES (1, ?1, 0, 0, 0);"
    SPOOL_MARKS_TABLE
    "PRAGMA user_version = 2;"
    "COMMIT;";

struct spool {
    sqlite3 *db;
    char *path;
    uint64_t page_size;
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt *ins_many;       /* SPOOL_INSERT_ROWS rows in one statement */
    uint64_t max_events;
    uint64_t max_bytes;
    struct spool_stats stats;     /* acked_seq here is the logical (in-memory) one */
    uint64_t trimmed_seq;         /* rows <= this are deleted; = meta.acked_seq on disk */
    uint64_t untrimmed_bytes;     /* bytes of rows trimmed_seq < seq <= stats.acked_seq */
    /* Events packed for the next multi-row insert (within one append). */
    uint8_t *pack;
    size_t pack_len, pack_cap;
    struct spool_row { uint64_t seq; size_t off, len; } rows[SPOOL_INSERT_ROWS];
    size_t n_rows;
};

static void set_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
    if (err && errlen)
        snprintf(err, errlen, "spool: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec_stmt(struct spool *s, enum spool_stmt i)
{
    return sql_exec(s->st[i]);
}

/* Runs a fixed schema script one statement at a time (the meta insert
 * takes the epoch as ?1). */
static int run_script(sqlite3 *db, const char *sql, uint64_t epoch)
{
    int rc = 0;

    while (rc == 0 && *sql) {
        sqlite3_stmt *st = NULL;
        const char *tail;

        if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK)
            return BW_EIO;
        if (st) {
            if (sqlite3_bind_parameter_count(st) > 0)
                sqlite3_bind_int64(st, 1, (sqlite3_int64)epoch);
            rc = sql_exec(st);
            sqlite3_finalize(st);
        }
        sql = tail;
    }
    if (rc < 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* A random, non-zero 63-bit epoch (fits SQLite's signed INTEGER). */
static int new_epoch(uint64_t *out)
{
    uint64_t v = 0;

    while (v == 0) {
        ssize_t n = getrandom(&v, sizeof v, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof v)
            return BW_EIO;
        v &= INT64_MAX;
    }
    *out = v;
    return 0;
}

/* Returns a single-row query's integers into out[0..n). */
static int query_row(sqlite3 *db, const char *sql, uint64_t *out, int n)
{
    sqlite3_stmt *st = NULL;
    int rc = BW_EIO;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return BW_EIO;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_count(st) >= n) {
        for (int i = 0; i < n; i++)
            out[i] = (uint64_t)sqlite3_column_int64(st, i);
        rc = 0;
    } else {
        rc = BW_ENOTFOUND;
    }
    sqlite3_finalize(st);
    return rc;
}

static int load_state(struct spool *s, char *err, size_t errlen)
{
    uint64_t meta[5], rows[2];
    int64_t ver = 0;
    int rc;

    if ((rc = sql_user_version(s->db, &ver)) < 0) {
        set_err(err, errlen, "cannot read schema version", s->db);
        return rc;
    }
    if (ver == 0) {
        uint64_t epoch;

        rc = new_epoch(&epoch);
        if (rc < 0) {
            if (err && errlen)
                snprintf(err, errlen, "spool: getrandom failed");
            return rc;
        }
        if (run_script(s->db, spool_schema, epoch) < 0) {
            set_err(err, errlen, "cannot create schema", s->db);
            return BW_EIO;
        }
    }
    if ((rc = sql_migrate(s->db, spool_migrations, SPOOL_SCHEMA_VERSION, s->path, NULL, err,
                          errlen)) < 0)
        return rc;
    if (query_row(s->db, "SELECT epoch, last_seq, acked_seq, dropped, quarantined FROM meta"
                  " WHERE id = 1", meta, 5) < 0 ||
        query_row(s->db, "SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM events", rows, 2) < 0) {
        set_err(err, errlen, "cannot read state", s->db);
        return BW_EIO;
    }
    if (meta[0] == 0 || meta[2] > meta[1] || rows[0] != meta[1] - meta[2]) {
        if (err && errlen)
            snprintf(err, errlen, "spool: inconsistent state (epoch %" PRIu64 ", last_seq %" PRIu64
                     ", acked_seq %" PRIu64 ", %" PRIu64 " rows)", meta[0], meta[1], meta[2], rows[0]);
        return BW_EIO;
    }
    s->stats.epoch = meta[0];
    s->stats.last_seq = meta[1];
    s->stats.acked_seq = meta[2];
    s->trimmed_seq = meta[2];
    s->stats.dropped = meta[3];
    s->stats.quarantined = meta[4];
    s->stats.depth = meta[1] - meta[2];
    s->stats.bytes = rows[1];
    return 0;
}

/* Inside a transaction: the rows acked_seq < seq <= last_seq become
 * 1..depth, each packed again with its new seq (the bytes carry it). Through
 * the negatives, so that no step collides with a row not yet moved. */
static int spool_renumber(struct spool *s)
{
    sqlite3_stmt *get = NULL, *put = NULL;
    char sql[96];
    uint8_t *buf = NULL;
    int rc = BW_EIO, src;

    snprintf(sql, sizeof sql, "UPDATE events SET seq = %" PRId64 " - seq",
             (int64_t)s->stats.acked_seq);
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT seq, data FROM events WHERE seq < 0 ORDER BY seq DESC"
                           " LIMIT 1", -1, &get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "UPDATE events SET seq = ?2, data = ?3 WHERE seq = ?1", -1,
                           &put, NULL) != SQLITE_OK)
        goto out;
    while ((src = sqlite3_step(get)) == SQLITE_ROW) {
        int64_t neg = sqlite3_column_int64(get, 0);
        Bulwark__V1__Event *ev = bulwark__v1__event__unpack(
            NULL, (size_t)sqlite3_column_bytes(get, 1), sqlite3_column_blob(get, 1));
        size_t len = 0;

        free(buf);
        buf = NULL;
        if (ev) {  /* a row that is no event stays as it is: the shipper quarantines it */
            ev->seq = (uint64_t)-neg;
            len = bulwark__v1__event__get_packed_size(ev);
            buf = malloc(len ? len : 1);
            if (buf)
                bulwark__v1__event__pack(ev, buf);
            bulwark__v1__event__free_unpacked(ev, NULL);
            if (!buf) {
                rc = BW_ENOMEM;
                goto out;
            }
        }
        sqlite3_bind_int64(put, 1, neg);
        sqlite3_bind_int64(put, 2, -neg);
        if (buf)
            sqlite3_bind_blob64(put, 3, buf, len, SQLITE_STATIC);
        else
            sqlite3_bind_value(put, 3, sqlite3_column_value(get, 1));
        sqlite3_reset(get);  /* after the bind: the old value is copied by then */
        if (sql_exec(put) < 0)
            goto out;
    }
    rc = src == SQLITE_DONE ? 0 : BW_EIO;
out:
    free(buf);
    sqlite3_finalize(get);
    sqlite3_finalize(put);
    return rc;
}

/* Inside no transaction: a new epoch for a spool that moved (why says how),
 * its unacked events renumbered from 1, and the identity recorded (machine
 * and st, each when not NULL). */
static int spool_new_identity(struct spool *s, const char *machine, const struct stat *st,
                              const char *why)
{
    uint64_t epoch = 0, depth = s->stats.last_seq - s->stats.acked_seq;
    sqlite3_stmt *up = NULL;
    int rc;

    if (why && (rc = new_epoch(&epoch)) < 0)
        return rc;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return BW_EIO;
    rc = BW_EIO;
    if (why && spool_renumber(s) < 0)
        goto fail;
    if (sqlite3_prepare_v2(s->db, "UPDATE meta SET machine = COALESCE(?1, machine),"
                           " file_dev = COALESCE(?2, file_dev), file_ino = COALESCE(?3, file_ino),"
                           " epoch = COALESCE(?4, epoch), last_seq = COALESCE(?5, last_seq),"
                           " acked_seq = COALESCE(?6, acked_seq) WHERE id = 1", -1, &up,
                           NULL) != SQLITE_OK)
        goto fail;
    if (machine)
        sqlite3_bind_text(up, 1, machine, -1, SQLITE_STATIC);
    if (st) {
        sqlite3_bind_int64(up, 2, (sqlite3_int64)st->st_dev);
        sqlite3_bind_int64(up, 3, (sqlite3_int64)st->st_ino);
    }
    if (why) {
        sqlite3_bind_int64(up, 4, (sqlite3_int64)epoch);
        sqlite3_bind_int64(up, 5, (sqlite3_int64)depth);
        sqlite3_bind_int64(up, 6, 0);
    }
    if (sql_exec(up) < 0 || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_finalize(up);
    if (why) {
        log_msg(LOG_WARN, "spool", "%s: %s; new epoch %" PRIu64 " (was %" PRIu64 "), its %" PRIu64
                " unacked events renumbered 1..%" PRIu64, s->path, why, epoch, s->stats.epoch,
                depth, depth);
        s->stats.epoch = epoch;
        s->stats.last_seq = depth;
        s->stats.acked_seq = 0;
        s->trimmed_seq = 0;
        s->untrimmed_bytes = 0;
    }
    return 0;
fail:
    sqlite3_finalize(up);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return BW_EIO;
}

static int spool_trim(struct spool *s);

int spool_new_epoch(struct spool *s, const char *why)
{
    if (s->trimmed_seq < s->stats.acked_seq && spool_trim(s) < 0)
        return BW_EIO;  /* the rows the renumbering starts after must be gone */
    return spool_new_identity(s, NULL, NULL, why);
}

/* Compares the machine and file the spool was made for with these. */
static int spool_check_identity(struct spool *s, const char *machine, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    struct stat st;
    char was[128] = "", why[384] = "";
    uint64_t dev = 0, ino = 0;
    int rc;

    if (stat(s->path, &st) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "spool: cannot stat '%s': %s", s->path, strerror(errno));
        return BW_EIO;
    }
    if (sqlite3_prepare_v2(s->db, "SELECT machine, file_dev, file_ino FROM meta WHERE id = 1",
                           -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW) {
        sqlite3_finalize(q);
        set_err(err, errlen, "cannot read identity", s->db);
        return BW_EIO;
    }
    snprintf(was, sizeof was, "%s", sqlite3_column_text(q, 0) ? (const char *)sqlite3_column_text(q, 0) : "");
    dev = (uint64_t)sqlite3_column_int64(q, 1);
    ino = (uint64_t)sqlite3_column_int64(q, 2);
    sqlite3_finalize(q);
    if (!was[0] && dev == 0 && ino == 0) {
        rc = spool_new_identity(s, machine, &st, NULL);  /* first open: recorded */
    } else if (strcmp(was, machine) != 0) {
        snprintf(why, sizeof why, "made on machine '%s', this is '%s' (a cloned host?)", was,
                 machine);
        rc = spool_new_identity(s, machine, &st, why);
    } else if (dev != (uint64_t)st.st_dev || ino != (uint64_t)st.st_ino) {
        snprintf(why, sizeof why, "the file was device %" PRIu64 " inode %" PRIu64 ", now %"
                 PRIu64 " %" PRIu64 " (copied, restored or cloned?)", dev, ino,
                 (uint64_t)st.st_dev, (uint64_t)st.st_ino);
        rc = spool_new_identity(s, machine, &st, why);
    } else {
        rc = 0;
    }
    if (rc < 0)
        set_err(err, errlen, "cannot record identity", s->db);
    return rc;
}

int spool_open(struct spool **out, const struct spool_options *opt, char *err, size_t errlen)
{
    struct spool *s;
    int rc = BW_EIO, fd;

    s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "open", NULL);
        return BW_ENOMEM;
    }
    if (!opt->path || !*opt->path) {
        if (err && errlen)
            snprintf(err, errlen, "spool: no path");
        rc = BW_EINVAL;
        goto out;
    }
    /* events may hold command lines: create the file (and so its -wal and
     * -shm, which SQLite gives the same mode) readable by the agent only */
    fd = open(opt->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);  /* on failure SQLite reports the reason below */
    s->path = strdup(opt->path);
    if (!s->path) {
        set_err(err, errlen, "open", NULL);
        rc = BW_ENOMEM;
        goto out;
    }
    s->max_events = opt->max_events ? opt->max_events : SPOOL_DEFAULT_MAX_EVENTS;
    s->max_bytes = opt->max_bytes ? opt->max_bytes : SPOOL_DEFAULT_MAX_BYTES;
    /* one owner thread (see the top): no SQLite mutexes */
    if (sqlite3_open_v2(opt->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        set_err(err, errlen, "cannot open database", s->db);
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    {
        char mode[16] = "";
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (strcmp(mode, "wal") != 0) {
            set_err(err, errlen, "cannot enable wal", s->db);
            goto out;
        }
    }
    if (sqlite3_exec(s->db, opt->sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                     NULL, NULL, NULL) != SQLITE_OK) {
        set_err(err, errlen, "cannot set synchronous", s->db);
        goto out;
    }
    rc = load_state(s, err, errlen);
    if (rc < 0)
        goto out;
    if (opt->machine_id && (rc = spool_check_identity(s, opt->machine_id, err, errlen)) < 0)
        goto out;
    if (query_row(s->db, "PRAGMA page_size", &s->page_size, 1) < 0)
        s->page_size = 4096;
    if ((rc = sql_prepare_all(s->db, spool_sql, ST_COUNT, s->st, "spool", err, errlen)) < 0 ||
        (rc = sql_prepare_rows(s->db, "INSERT INTO events(seq, data) VALUES ", 2,
                               SPOOL_INSERT_ROWS, NULL, &s->ins_many, err, errlen)) < 0)
        goto out;
    *out = s;
    return 0;
out:
    spool_close(s);
    return rc;
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    if (s->ins_many && s->trimmed_seq < s->stats.acked_seq)  /* all prepared */
        spool_trim(s);  /* best effort: the next open's Welcome trims otherwise */
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_finalize(s->ins_many);
    sqlite3_close(s->db);
    free(s->pack);
    free(s->path);
    free(s);
}

void spool_get_stats(const struct spool *s, struct spool_stats *out)
{
    *out = s->stats;
}

/* Inserts the packed rows: a full set with one statement, fewer one by one. */
static int rows_flush(struct spool *s)
{
    size_t n = s->n_rows;
    int rc = 0;

    s->n_rows = 0;
    s->pack_len = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct spool_row *r = &s->rows[i];
        sqlite3_stmt *st = n == SPOOL_INSERT_ROWS ? s->ins_many : s->st[ST_INSERT];
        int base = n == SPOOL_INSERT_ROWS ? (int)i * 2 : 0;

        sqlite3_bind_int64(st, base + 1, (sqlite3_int64)r->seq);
        sqlite3_bind_blob64(st, base + 2, r->len ? s->pack + r->off : (const void *)"", r->len,
                            SQLITE_STATIC);
        if (n < SPOOL_INSERT_ROWS)
            rc = sql_exec(st);
    }
    if (n == SPOOL_INSERT_ROWS && rc == 0)
        rc = sql_exec(s->ins_many);
    return rc;
}

/* Packs ev (len bytes) as row seq; every SPOOL_INSERT_ROWS rows are inserted. */
static int insert_event(struct spool *s, uint64_t seq, const Bulwark__V1__Event *ev, size_t len)
{
    if (len > s->pack_cap - s->pack_len) {
        size_t cap = s->pack_cap ? s->pack_cap : 16384;
        uint8_t *p;

        while (cap - s->pack_len < len)
            cap *= 2;
        if (!(p = realloc(s->pack, cap)))
            return BW_ENOMEM;
        s->pack = p;
        s->pack_cap = cap;
    }
    if (bulwark__v1__event__pack(ev, s->pack + s->pack_len) != len)
        return BW_EINVAL;
    s->rows[s->n_rows++] = (struct spool_row){.seq = seq, .off = s->pack_len, .len = len};
    s->pack_len += len;
    return s->n_rows == SPOOL_INSERT_ROWS ? rows_flush(s) : 0;
}

/* Inside an open transaction: deletes the acked rows not yet deleted, unless
 * (`all` false) too few wait to be worth it. *trim_to is what meta.acked_seq
 * must say once the caller commits: the rows <= it are gone. */
static int delete_acked(struct spool *s, bool all, uint64_t *trim_to)
{
    *trim_to = s->trimmed_seq;
    if (s->trimmed_seq >= s->stats.acked_seq)
        return 0;
    if (!all && s->stats.acked_seq - s->trimmed_seq < SPOOL_TRIM_BATCH_EVENTS &&
        s->untrimmed_bytes < SPOOL_TRIM_BATCH_BYTES)
        return 0;
    sqlite3_bind_int64(s->st[ST_DELETE_UPTO], 1, (sqlite3_int64)s->stats.acked_seq);
    if (exec_stmt(s, ST_DELETE_UPTO) < 0)
        return BW_EIO;
    *trim_to = s->stats.acked_seq;
    return 0;
}

static void trimmed(struct spool *s, uint64_t trim_to)
{
    if (trim_to > s->trimmed_seq) {
        s->trimmed_seq = trim_to;
        s->untrimmed_bytes = 0;
    }
}

/* Deletes the acked rows in a transaction of their own. */
static int spool_trim(struct spool *s)
{
    uint64_t trim_to;
    int rc;

    if (exec_stmt(s, ST_BEGIN) < 0)
        return BW_EIO;
    rc = delete_acked(s, true, &trim_to);
    if (rc == 0) {
        sqlite3_bind_int64(s->st[ST_SET_ACKED], 1, (sqlite3_int64)trim_to);
        rc = exec_stmt(s, ST_SET_ACKED);
    }
    if (rc == 0)
        rc = exec_stmt(s, ST_COMMIT);
    if (rc < 0) {
        exec_stmt(s, ST_ROLLBACK);
        return rc;
    }
    trimmed(s, trim_to);
    return 0;
}

/* Inside an open transaction: writes the marks. */
static int write_marks(struct spool *s, const struct spool_mark *marks, size_t nmarks)
{
    sqlite3_stmt *st = s->st[ST_SET_MARK];

    for (size_t i = 0; i < nmarks; i++) {
        sqlite3_bind_text(st, 1, marks[i].key, -1, SQLITE_STATIC);
        for (int k = 0; k < SPOOL_MARK_VALUES; k++)
            sqlite3_bind_int64(st, k + 2, (sqlite3_int64)marks[i].v[k]);
        if (sql_exec(st) < 0)
            return BW_EIO;
    }
    return 0;
}

int spool_mark_get(struct spool *s, const char *key, uint64_t v[SPOOL_MARK_VALUES])
{
    sqlite3_stmt *st = s->st[ST_GET_MARK];
    int rc, src;

    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        for (int k = 0; k < SPOOL_MARK_VALUES; k++)
            v[k] = (uint64_t)sqlite3_column_int64(st, k);
        rc = 0;
    } else {
        rc = src == SQLITE_DONE ? BW_ENOTFOUND : BW_EIO;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Whether the file system holds less than SPOOL_DISK_RESERVE free, beside
 * the spool's own free pages. */
static bool disk_low(struct spool *s)
{
    struct statvfs vfs;
    uint64_t avail, pages = 0;

    if (statvfs(s->path, &vfs) != 0)
        return false;  /* cannot tell: SQLite will say */
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (avail >= SPOOL_DISK_RESERVE)
        return false;
    if (sqlite3_step(s->st[ST_FREELIST]) == SQLITE_ROW)
        pages = (uint64_t)sqlite3_column_int64(s->st[ST_FREELIST], 0);
    sqlite3_reset(s->st[ST_FREELIST]);
    return avail + pages * s->page_size < SPOOL_DISK_RESERVE;
}

int spool_append(struct spool *s, Bulwark__V1__Event *const *evs, size_t n, size_t *accepted)
{
    return spool_append_marked(s, evs, n, NULL, 0, accepted);
}

int spool_append_marked(struct spool *s, Bulwark__V1__Event *const *evs, size_t n,
                        const struct spool_mark *marks, size_t nmarks, size_t *accepted)
{
    uint64_t seq = s->stats.last_seq, bytes = s->stats.bytes, depth = s->stats.depth, trim_to;
    size_t i = 0;
    int rc;

    *accepted = 0;
    if (n == 0 && nmarks == 0)
        return 0;
    if (n > 0 && disk_low(s)) {
        /* acked rows waiting for a trim are the room to make: their trim
         * would otherwise ride on this very append */
        if (s->trimmed_seq < s->stats.acked_seq)
            spool_trim(s);
        if (disk_low(s))
            return BW_EFULL;  /* nothing stored: the caller keeps the events and waits */
    }
    if (exec_stmt(s, ST_BEGIN) < 0)
        return BW_EIO;
    rc = delete_acked(s, false, &trim_to);  /* the deferred trim rides on this commit */
    if (rc < 0) {
        i = 0;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        size_t len;

        evs[i]->seq = seq + 1;  /* part of the packed bytes */
        len = bulwark__v1__event__get_packed_size(evs[i]);
        if (depth >= s->max_events || bytes >= s->max_bytes || len > s->max_bytes - bytes) {
            evs[i]->seq = 0;
            break;  /* full: this one and the rest are refused, in order */
        }
        rc = insert_event(s, seq + 1, evs[i], len);
        if (rc < 0)
            goto fail;
        seq++;
        depth++;
        bytes += len;
    }
    if ((rc = rows_flush(s)) < 0 || (rc = write_marks(s, marks, nmarks)) < 0)
        goto fail;
    if (s->pack_cap > SPOOL_PACK_KEEP) {  /* a burst of large events: give it back */
        free(s->pack);
        s->pack = NULL;
        s->pack_cap = 0;
    }
    sqlite3_bind_int64(s->st[ST_SET_LAST], 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(s->st[ST_SET_LAST], 2, (sqlite3_int64)(s->stats.dropped + (n - i)));
    sqlite3_bind_int64(s->st[ST_SET_LAST], 3, (sqlite3_int64)trim_to);
    rc = exec_stmt(s, ST_SET_LAST);
    if (rc == 0)
        rc = exec_stmt(s, ST_COMMIT);
    if (rc < 0)
        goto fail;
    trimmed(s, trim_to);
    s->stats.last_seq = seq;
    s->stats.depth = depth;
    s->stats.bytes = bytes;
    s->stats.dropped += n - i;
    *accepted = i;
    return 0;
fail:
    /* a full disk is not an i/o error: the caller keeps the events and retries */
    if (rc == BW_EIO && (sqlite3_errcode(s->db) & 0xff) == SQLITE_FULL)
        rc = BW_EFULL;
    s->n_rows = 0;
    s->pack_len = 0;
    exec_stmt(s, ST_ROLLBACK);
    for (size_t j = 0; j <= i && j < n; j++)
        evs[j]->seq = 0;
    return rc;
}

int spool_read(struct spool *s, uint64_t after_seq, size_t max_events, size_t max_bytes,
               spool_read_fn fn, void *ctx)
{
    sqlite3_stmt *st = s->st[ST_READ];
    size_t given = 0, bytes = 0;
    int rc = 0, src;

    if (after_seq < s->stats.acked_seq)
        after_seq = s->stats.acked_seq;  /* acked rows awaiting the trim are gone */
    if (after_seq > INT64_MAX)
        return 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
    sqlite3_bind_int64(st, 2, max_events ? (sqlite3_int64)max_events : 1);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        const uint8_t *data = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);

        if (given > 0 && len > max_bytes - bytes)
            break;
        rc = fn(seq, data ? data : (const uint8_t *)"", len, ctx);
        if (rc != 0)
            break;
        given++;
        bytes = len > max_bytes - bytes ? max_bytes : bytes + len;  /* saturates */
    }
    if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = BW_EIO;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc < 0 ? rc : 0;
}

int spool_ack(struct spool *s, uint64_t up_to_seq)
{
    sqlite3_stmt *q = s->st[ST_BYTES_RANGE];
    uint64_t freed = 0;
    int rc;

    if (up_to_seq > s->stats.last_seq)
        return BW_EINVAL;  /* the server cannot have committed what was never sent */
    if (up_to_seq <= s->stats.acked_seq)
        return 0;
    /* a read, no commit: the rows go with the next append (or a trim) */
    sqlite3_bind_int64(q, 1, (sqlite3_int64)s->stats.acked_seq);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)up_to_seq);
    if (sqlite3_step(q) == SQLITE_ROW)
        freed = (uint64_t)sqlite3_column_int64(q, 0);
    rc = sql_exec(q);
    if (rc < 0)
        return rc;
    s->stats.acked_seq = up_to_seq;
    s->stats.depth = s->stats.last_seq - up_to_seq;
    s->stats.bytes = freed > s->stats.bytes ? 0 : s->stats.bytes - freed;
    s->untrimmed_bytes += freed;
    if (s->stats.acked_seq - s->trimmed_seq >= SPOOL_TRIM_EVENTS ||
        s->untrimmed_bytes >= SPOOL_TRIM_BYTES)
        spool_trim(s);  /* a failure here is retried with the next append */
    return 0;
}

int spool_quarantine(struct spool *s, uint64_t seq, const char *reason,
                     const uint8_t *standin, size_t standin_len)
{
    sqlite3_stmt *get = s->st[ST_GET_ROW], *q = s->st[ST_QUAR_INSERT];
    uint64_t old_len = 0;
    int rc = BW_EIO;

    if (seq <= s->stats.acked_seq || seq > s->stats.last_seq)
        return BW_EINVAL;  /* acked rows are the server's, not ours to set aside */
    if (exec_stmt(s, ST_BEGIN) < 0)
        return BW_EIO;
    sqlite3_bind_int64(get, 1, (sqlite3_int64)seq);
    if (sqlite3_step(get) != SQLITE_ROW) {
        sql_exec(get);
        rc = BW_ENOTFOUND;
        goto fail;
    }
    old_len = (uint64_t)sqlite3_column_bytes(get, 0);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)s->stats.epoch);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)seq);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)clock_wall_ns());
    sqlite3_bind_text(q, 4, reason, -1, SQLITE_STATIC);
    /* the row's bytes as they are (a corrupt row may hold text) */
    sqlite3_bind_blob64(q, 5, old_len ? sqlite3_column_blob(get, 0) : (const void *)"", old_len,
                        SQLITE_TRANSIENT);
    rc = sql_exec(q);
    sql_exec(get);
    if (rc < 0)
        goto fail;
    sqlite3_bind_int64(s->st[ST_QUAR_TRIM], 1, SPOOL_QUARANTINE_KEEP);
    sqlite3_bind_int64(s->st[ST_SET_ROW], 1, (sqlite3_int64)seq);
    sqlite3_bind_blob64(s->st[ST_SET_ROW], 2, standin_len ? standin : (const void *)"",
                        standin_len, SQLITE_STATIC);
    sqlite3_bind_int64(s->st[ST_SET_QUAR], 1, (sqlite3_int64)(s->stats.quarantined + 1));
    if ((rc = exec_stmt(s, ST_QUAR_TRIM)) < 0 || (rc = exec_stmt(s, ST_SET_ROW)) < 0 ||
        (rc = exec_stmt(s, ST_SET_QUAR)) < 0 || (rc = exec_stmt(s, ST_COMMIT)) < 0)
        goto fail;
    s->stats.quarantined++;
    s->stats.bytes = s->stats.bytes - (old_len < s->stats.bytes ? old_len : s->stats.bytes) +
                     standin_len;
    return 0;
fail:
    exec_stmt(s, ST_ROLLBACK);
    return rc;
}
