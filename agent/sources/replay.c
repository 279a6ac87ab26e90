/* replay.c - the `replay` source: newline-delimited JSON events (the evjson
 * format) read from a file, for tests, demos and importing captured events.
 *
 * Each line is one event. Blank lines are skipped. A malformed line (bad
 * JSON, a bad field, or longer than 1 MiB) is counted and skipped; the first
 * REPLAY_LOG_MAX of them are logged with file:line and the reason, each once,
 * and a summary is logged at the end of the file. A last line without a
 * newline is read like any other. An event without time_ns gets now_ns.
 * *done is set at end of file. Each produce call reads at most
 * max + REPLAY_SKIP_MAX lines, so a file of garbage cannot hold the loop.
 *
 * Its position (the file's device and inode, the offset after the last line
 * read, the line number) goes to the spool with the events (see source.h);
 * a restart seeks there, so a stop or a kill -9 mid-file neither repeats
 * nor skips a line. A position of another file (the path now names a new
 * file), or past its end (the file was cut), is not used: the file is read
 * from its start, and that is logged. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/log.h"
#include "bulwark/source.h"

#define REPLAY_LINE_MAX (1024 * 1024)
#define REPLAY_LOG_MAX 10
#define REPLAY_SKIP_MAX 4096

struct replay {
    struct source base;
    FILE *f;
    char *path;
    char *line;          /* REPLAY_LINE_MAX bytes */
    size_t lineno;
    uint64_t events;
    uint64_t malformed;
    bool eof;
};

/* Reads one line (without its newline) into r->line. Returns 1, or 0 at end
 * of file, or BW_EIO. *toolong is set when the line was cut. */
static int read_line(struct replay *r, size_t *len, bool *toolong)
{
    size_t n = 0;
    bool any = false;
    int c;

    *toolong = false;
    while ((c = getc_unlocked(r->f)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (n < REPLAY_LINE_MAX)
            r->line[n++] = (char)c;
        else
            *toolong = true;
    }
    if (ferror(r->f))
        return BW_EIO;
    *len = n;
    return any ? 1 : 0;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static void note_malformed(struct replay *r, const char *reason)
{
    r->malformed++;
    if (r->malformed <= REPLAY_LOG_MAX)
        log_msg(LOG_WARN, "replay", "%s:%zu: skipped malformed line: %s%s", r->path, r->lineno, reason,
                r->malformed == REPLAY_LOG_MAX ? " (further malformed lines are not logged)" : "");
}

static int replay_produce(struct source *s, int64_t now_ns, Bulwark__V1__Event **out, size_t max,
                          bool *done)
{
    struct replay *r = (struct replay *)s;
    size_t n = 0, scanned = 0;
    char err[256];

    while (!r->eof && n < max && scanned < max + REPLAY_SKIP_MAX) {
        Bulwark__V1__Event *ev = NULL;
        bool toolong;
        size_t len;
        int rc = read_line(r, &len, &toolong);

        if (rc < 0) {
            log_msg(LOG_ERROR, "replay", "%s: read error after line %zu", r->path, r->lineno);
            r->eof = true;  /* an unreadable file ends the source */
            break;
        }
        if (rc == 0) {
            r->eof = true;
            log_msg(LOG_INFO, "replay", "%s: end of file: %" PRIu64 " events, %" PRIu64
                    " malformed lines skipped", r->path, r->events, r->malformed);
            break;
        }
        r->lineno++;
        scanned++;
        if (toolong) {
            note_malformed(r, "line longer than 1 MiB");
            continue;
        }
        if (is_blank(r->line, len))
            continue;
        rc = evjson_event_from_line(r->line, len, &ev, err, sizeof err);
        if (rc == BW_ENOMEM)
            return n > 0 ? (int)n : BW_ENOMEM;
        if (rc < 0) {
            note_malformed(r, err);
            continue;
        }
        if (ev->time_ns == 0)
            ev->time_ns = now_ns;
        out[n++] = ev;
        r->events++;
    }
    *done = r->eof;
    return (int)n;
}

static void replay_position(struct source *s, uint64_t v[4])
{
    struct replay *r = (struct replay *)s;
    struct stat st;
    off_t off = ftello(r->f);

    memset(v, 0, 4 * sizeof *v);
    if (off < 0 || fstat(fileno(r->f), &st) != 0)
        return;
    v[0] = (uint64_t)st.st_dev;
    v[1] = (uint64_t)st.st_ino;
    v[2] = (uint64_t)off;
    v[3] = r->lineno;
}

static int replay_seek(struct source *s, const uint64_t v[4])
{
    struct replay *r = (struct replay *)s;
    struct stat st;

    if (fstat(fileno(r->f), &st) != 0 || v[0] != (uint64_t)st.st_dev ||
        v[1] != (uint64_t)st.st_ino || v[2] > (uint64_t)st.st_size) {
        log_msg(LOG_WARN, "replay", "%s: the stored position (line %" PRIu64 ") is of another "
                "file or past its end: reading from the start", r->path, v[3]);
        return BW_ENOTFOUND;
    }
    if (fseeko(r->f, (off_t)v[2], SEEK_SET) != 0)
        return BW_EIO;
    r->lineno = (size_t)v[3];
    log_msg(LOG_INFO, "replay", "%s: resuming after line %zu (byte %" PRIu64 ")", r->path,
            r->lineno, v[2]);
    return 0;
}

static void replay_destroy(struct source *s)
{
    struct replay *r = (struct replay *)s;

    if (r->f)
        fclose(r->f);
    free(r->line);
    free(r->path);
    free(r);
}

struct source *source_replay_new(const char *path, char *err, size_t errlen)
{
    struct replay *r = calloc(1, sizeof *r);

    if (!r)
        goto nomem;
    r->base.name = "replay";
    r->base.produce = replay_produce;
    r->base.destroy = replay_destroy;
    r->base.position = replay_position;
    r->base.seek = replay_seek;
    r->path = strdup(path);
    r->line = malloc(REPLAY_LINE_MAX);
    if (!r->path || !r->line)
        goto nomem;
    r->f = fopen(path, "re");
    if (!r->f) {
        if (err && errlen)
            snprintf(err, errlen, "cannot open replay file '%s': %m", path);
        replay_destroy(&r->base);
        return NULL;
    }
    return &r->base;
nomem:
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
    if (r)
        replay_destroy(&r->base);
    return NULL;
}
