/* config.c - fills a program's config struct from its option table:
 * defaults, then a "key = value" file, then command-line overrides. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bulwark/config.h"
#include "bulwark/duration.h"
#include "bulwark/err.h"

#define CONFIG_LINE_MAX 4096

static const struct config_field *config_find(const struct config_field *t, size_t n,
                                              const char *key, size_t keylen)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].key) == keylen && strncmp(t[i].key, key, keylen) == 0)
            return &t[i];
    return NULL;
}

/* Options counted in milliseconds are named *_ms. */
static bool config_is_ms(const char *key)
{
    size_t n = strlen(key);
    return n > 3 && strcmp(key + n - 3, "_ms") == 0;
}

static int config_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!*s || *s == '-' || isspace((unsigned char)*s))
        return BW_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return BW_EINVAL;
    *out = v;
    return 0;
}

const char *const config_sync_choices[] = {"full", "normal", NULL};

static int config_assign(const struct config_field *f, void *dst, const char *value, char *err,
                         size_t errlen)
{
    char *p = (char *)dst + f->offset;
    uint64_t u;
    double d;
    char *end;

    switch (f->type) {
    case CONFIG_STRING: {
        char *copy = strdup(value);
        if (!copy)
            return BW_ENOMEM;
        free(*(char **)p);
        *(char **)p = copy;
        return 0;
    }
    case CONFIG_U32:
    case CONFIG_U64:
        if (config_is_ms(f->key) && config_parse_u64(value, &u) < 0) {
            /* A *_ms option also takes a duration: "10s", "5m", "1h30m". */
            int64_t ns;
            if (bw_duration_parse(value, 1000000, &ns) < 0) {
                snprintf(err, errlen, "'%s': not a duration (300ms, 10s, 5m, 1h) or a number of "
                                      "milliseconds: '%s'", f->key, value);
                return BW_EINVAL;
            }
            u = (uint64_t)(ns / 1000000);
            if (f->type == CONFIG_U32 && u > UINT32_MAX) {
                snprintf(err, errlen, "'%s': '%s' is too long", f->key, value);
                return BW_EINVAL;
            }
        } else if (config_parse_u64(value, &u) < 0 || (f->type == CONFIG_U32 && u > UINT32_MAX)) {
            snprintf(err, errlen, "'%s': not a non-negative integer: '%s'", f->key, value);
            return BW_EINVAL;
        }
        if (u < f->min || (f->max && u > f->max)) {
            snprintf(err, errlen, "'%s': %" PRIu64 " is outside %" PRIu64 "..%" PRIu64, f->key, u,
                     f->min, f->max);
            return BW_EINVAL;
        }
        if (f->type == CONFIG_U32)
            *(uint32_t *)p = (uint32_t)u;
        else
            *(uint64_t *)p = u;
        return 0;
    case CONFIG_DOUBLE:
        errno = 0;
        d = strtod(value, &end);
        if (errno || end == value || *end || d < 0) {
            snprintf(err, errlen, "'%s': not a non-negative number: '%s'", f->key, value);
            return BW_EINVAL;
        }
        *(double *)p = d;
        return 0;
    case CONFIG_ENUM: {
        size_t len = 0;
        for (int i = 0; f->choices[i]; i++) {
            if (!strcmp(value, f->choices[i])) {
                *(int *)p = i;
                return 0;
            }
        }
        len = (size_t)snprintf(err, errlen, "'%s' must be", f->key);
        for (int i = 0; f->choices[i] && len < errlen; i++)
            len += (size_t)snprintf(err + len, errlen - len, "%s%s",
                                    i == 0 ? " " : f->choices[i + 1] ? ", " : " or ",
                                    f->choices[i]);
        if (len < errlen)
            snprintf(err + len, errlen - len, ", not '%s'", value);
        return BW_EINVAL;
    }
    case CONFIG_BOOL:
        if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcasecmp(value, "on") ||
            !strcmp(value, "1"))
            *(bool *)p = true;
        else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") ||
                 !strcasecmp(value, "off") || !strcmp(value, "0"))
            *(bool *)p = false;
        else {
            snprintf(err, errlen, "'%s': not a boolean: '%s'", f->key, value);
            return BW_EINVAL;
        }
        return 0;
    }
    return BW_EINVAL;
}

int config_defaults(const struct config_field *table, size_t n, void *dst)
{
    char err[256];

    for (size_t i = 0; i < n; i++) {
        const char *def = table[i].def;
        int rc;
        if (!def)
            def = table[i].type == CONFIG_STRING ? ""
                  : table[i].type == CONFIG_BOOL ? "false"
                  : table[i].type == CONFIG_ENUM ? table[i].choices[0]
                                                 : "0";
        rc = config_assign(&table[i], dst, def, err, sizeof err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int config_set(const struct config_field *table, size_t n, void *dst, const char *key,
               const char *value, char *err, size_t errlen)
{
    const struct config_field *f = config_find(table, n, key, strlen(key));

    if (!f) {
        snprintf(err, errlen, "unknown option '%s'", key);
        return BW_ENOTFOUND;
    }
    return config_assign(f, dst, value, err, errlen);
}

static char *config_trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int config_load_file(const struct config_field *table, size_t n, void *dst, const char *path,
                     char *err, size_t errlen)
{
    char line[CONFIG_LINE_MAX], msg[256];
    unsigned lineno = 0;
    int rc = 0;
    FILE *fp = fopen(path, "r");

    if (!fp) {
        snprintf(err, errlen, "'%s': %s", path, strerror(errno));
        return BW_ECONFIG;
    }
    while (fgets(line, sizeof line, fp)) {
        char *s, *eq, *key, *val;
        lineno++;
        if (!strchr(line, '\n') && !feof(fp)) {
            snprintf(err, errlen, "%s:%u: line too long", path, lineno);
            rc = BW_ECONFIG;
            goto out;
        }
        s = config_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
            rc = BW_ECONFIG;
            goto out;
        }
        *eq = '\0';
        key = config_trim(s);
        val = config_trim(eq + 1);
        if (config_set(table, n, dst, key, val, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
            rc = BW_ECONFIG;
            goto out;
        }
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "'%s': read error", path);
        rc = BW_ECONFIG;
    }
out:
    fclose(fp);
    return rc;
}

int config_parse_args(const struct config_field *table, size_t n, void *dst, int argc,
                      char **argv, bool *help, char **pos, int *npos, int maxpos, char *err,
                      size_t errlen)
{
    char msg[256];
    int i, rc;

    *help = false;
    *npos = 0;
    /* The config file first, wherever it stands, so the command line wins. */
    for (i = 1; i < argc; i++) {
        const char *path = NULL;
        if (!strcmp(argv[i], "--config"))
            path = i + 1 < argc ? argv[i + 1] : "";
        else if (!strncmp(argv[i], "--config=", 9))
            path = argv[i] + 9;
        if (path && (!*path || !strncmp(path, "--", 2))) {
            /* a bare --config would run on defaults the operator did not mean */
            snprintf(err, errlen, "option '--config' needs a file name");
            return BW_ECONFIG;
        }
        if (path) {
            rc = config_load_file(table, n, dst, path, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *key, *eq, *val;
        size_t keylen;
        const struct config_field *f;

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            continue;
        }
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strncmp(a, "--config=", 9))
            continue;
        if (strncmp(a, "--", 2) != 0) {
            if (*npos >= maxpos) {
                snprintf(err, errlen, "unexpected argument '%s'", a);
                return BW_ECONFIG;
            }
            pos[(*npos)++] = argv[i];
            continue;
        }
        key = a + 2;
        eq = strchr(key, '=');
        keylen = eq ? (size_t)(eq - key) : strlen(key);
        /* Accept --max-frame as well as --max_frame. */
        char norm[128];
        if (keylen >= sizeof norm) {
            snprintf(err, errlen, "unknown option '%s'", a);
            return BW_ECONFIG;
        }
        for (size_t k = 0; k < keylen; k++)
            norm[k] = key[k] == '-' ? '_' : key[k];
        norm[keylen] = '\0';
        f = config_find(table, n, norm, keylen);
        if (!f) {
            snprintf(err, errlen, "unknown option '--%s' (see --help)", norm);
            return BW_ECONFIG;
        }
        if (eq)
            val = eq + 1;
        else if (f->type == CONFIG_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            snprintf(err, errlen, "option '--%s' needs a value", norm);
            return BW_ECONFIG;
        }
        if (config_assign(f, dst, val, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "%s", msg);
            return BW_ECONFIG;
        }
    }
    return 0;
}

void config_print_help(const struct config_field *table, size_t n, FILE *out)
{
    fprintf(out, "  (in a config file: the same keys with '_', e.g. tls_ca = FILE)\n\n");
    static const char *const types[] = {"TEXT", "N", "N", "NUM", "BOOL", NULL};

    for (size_t i = 0; i < n; i++) {
        const struct config_field *f = &table[i];
        char left[96], choices[80] = "";
        size_t len = 0;
        if (f->type == CONFIG_ENUM)
            for (int k = 0; f->choices[k] && len < sizeof choices; k++)
                len += (size_t)snprintf(choices + len, sizeof choices - len, "%s%s",
                                        k ? "|" : "", f->choices[k]);
        /* Shown with hyphens, as GNU tools do; '_' is accepted too. */
        snprintf(left, sizeof left, "--%s=%s", f->key,
                 f->type == CONFIG_ENUM ? choices : types[f->type]);
        for (char *p = left + 2; *p && *p != '='; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  %-30s %s", left, f->help ? f->help : "");
        if (f->def && *f->def)
            fprintf(out, " (default: %s)", f->def);
        fputc('\n', out);
    }
}

void config_release(const struct config_field *table, size_t n, void *dst)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == CONFIG_STRING) {
            char **p = (char **)((char *)dst + table[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}
