/* log.h - the one logger: one line per message on stderr,
 * "TIME LEVEL MODULE: message". Never pass secrets or raw payloads. */
#ifndef BULWARK_LOG_H
#define BULWARK_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
/* "debug", "info", "warn", "error" in enum order, NULL-terminated (also the
 * choices of the log_level option). */
extern const char *const log_level_names[];

/* Sets the lowest level that is written (default LOG_INFO). Call before
 * starting threads; the logger itself is thread-safe (one fprintf a line). */
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns 0 or BW_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
