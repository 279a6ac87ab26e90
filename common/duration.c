/* duration.c - the one duration grammar (include/bulwark/duration.h). */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "bulwark/duration.h"
#include "bulwark/err.h"

#define NS_MAX 9000000000000000000.0  /* under INT64_MAX: ~285 years */

static const struct {
    const char *name;
    double ns;
} units[] = {
    {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}, {"w", 604800e9},
};

/* Reads digits['.'digits] at *p into *v; false when there is no digit. */
static bool read_number(const char **p, double *v)
{
    const char *s = *p;
    double x = 0, scale = 1;
    bool any = false;

    for (; *s >= '0' && *s <= '9'; s++, any = true)
        x = x * 10 + (*s - '0');
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++, any = true) {
            scale /= 10;
            x += (*s - '0') * scale;
        }
    }
    if (!any || x > NS_MAX)
        return false;
    *p = s;
    *v = x;
    return true;
}

int bw_duration_parse(const char *s, int64_t bare_unit_ns, int64_t *out_ns)
{
    double total = 0, v;
    const char *p = s;

    if (!s || !*s)
        return BW_EINVAL;
    if (!read_number(&p, &v))
        return BW_EINVAL;
    if (!*p) {
        if (bare_unit_ns <= 0 || v * (double)bare_unit_ns > NS_MAX)
            return BW_EINVAL;
        *out_ns = (int64_t)(v * (double)bare_unit_ns);
        return 0;
    }
    for (;;) {
        size_t best = 0, k = sizeof units / sizeof units[0];
        /* The longest unit that matches ("ms" before "m"). */
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t n = strlen(units[i].name);
            if (strncmp(p, units[i].name, n) == 0 && n > best) {
                best = n;
                k = i;
            }
        }
        if (k == sizeof units / sizeof units[0])
            return BW_EINVAL;
        total += v * units[k].ns;
        if (total > NS_MAX)
            return BW_EINVAL;
        p += best;
        if (!*p)
            break;
        if (!read_number(&p, &v))
            return BW_EINVAL;
    }
    *out_ns = (int64_t)total;
    return 0;
}
