/* duration.h - the one duration grammar of Bulwark: config values, rule
 * files, `rules hunt --since`, API parameters.
 *
 *   duration := part+        part := number unit
 *   number   := digits ['.' digits]
 *   unit     := "ms" | "s" | "m" | "h" | "d" | "w"
 *
 * e.g. "300ms", "30s", "5m", "1h30m", "7d", "1.5h". Where a caller allows
 * it, a bare number is a count of that caller's unit (rule files: seconds;
 * *_ms options: milliseconds). Negative, empty and overflowing values are
 * refused. */
#ifndef BULWARK_DURATION_H
#define BULWARK_DURATION_H

#include <stdint.h>

/* Parses s into *out_ns; bare_unit_ns is what a bare number counts (0: a
 * bare number is refused). 0, or BW_EINVAL with *out_ns untouched. */
int bw_duration_parse(const char *s, int64_t bare_unit_ns, int64_t *out_ns);

#endif
