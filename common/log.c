/* log.c - the one logger: "2026-11-29T12:00:00.123Z info module: message".
 *
 * The level is the one piece of process-wide state, set once at start-up
 * before threads exist. Each line is formatted into a local buffer and
 * written with a single fputs, so lines from threads do not interleave. */
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bulwark/err.h"
#include "bulwark/log.h"

static enum log_level log_min = LOG_INFO;

void log_set_level(enum log_level level)
{
    log_min = level;
}

const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; log_level_names[i]; i++) {
        if (strcasecmp(s, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return BW_EINVAL;
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    if (level < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000L,
                          log_level_names[level], module);
    if (n < sizeof line) {
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += (size_t)m;
    }
    if (n > sizeof line - 2)
        n = sizeof line - 2;  /* truncated: keep one line */
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, stderr);
}
