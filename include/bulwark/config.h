/* config.h - table-driven configuration shared by bulwarkd and the agent.
 *
 * A program describes its options once as an array of struct config_field
 * ({key, type, offset, default, help}). The same table fills the struct from
 * defaults, a config file ("key = value" lines, '#' comments) and command-line
 * overrides ("--key=value" or "--key value"), and prints --help. The caller
 * validates the filled struct as a whole before using it. */
#ifndef BULWARK_CONFIG_H
#define BULWARK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A numeric macro as the text of a default: F("max_frame", ..., BW_STR(X), ...)
 * keeps one definition of a default the code and the option table share. */
#define BW_STR_(x) #x
#define BW_STR(x) BW_STR_(x)

enum config_type {
    CONFIG_STRING,  /* char * (heap; freed by config_release) */
    CONFIG_U32,     /* uint32_t */
    CONFIG_U64,     /* uint64_t */
    CONFIG_DOUBLE,  /* double */
    CONFIG_BOOL,    /* bool: true/false/yes/no/on/off/1/0 */
    CONFIG_ENUM,    /* int: the index of the value in choices */
};

struct config_field {
    const char *key;
    enum config_type type;
    size_t offset;
    const char *def;   /* default as text; NULL = empty string / 0 */
    const char *help;
    uint64_t min, max; /* for integer types; max 0 = no bound */
    const char *const *choices;  /* CONFIG_ENUM: the values, NULL-terminated */
};

/* Rows of an option table that fills struct type S: an option of type t
 * stored in member m, with default d (text), help h and, for integers, the
 * range lo..hi (hi 0 = no bound); and an enumerated option whose member is
 * an int, its default one of the NULL-terminated choices ch. A table file
 * binds S once: #define F(...) CONFIG_FIELD(struct x_config, __VA_ARGS__). */
#define CONFIG_FIELD(S, k, t, m, d, h, lo, hi) {k, t, offsetof(S, m), d, h, lo, hi, NULL}
#define CONFIG_ENUM_FIELD(S, k, m, d, h, ch) {k, CONFIG_ENUM, offsetof(S, m), d, h, 0, 0, ch}

/* SQLite's synchronous setting of a database (bulwarkd's db_sync, the
 * agent's spool_sync): the choices in enum order, NULL-terminated. */
enum config_sync { CONFIG_SYNC_FULL = 0, CONFIG_SYNC_NORMAL };
extern const char *const config_sync_choices[];

/* Sets every field to its default. */
int config_defaults(const struct config_field *table, size_t n, void *dst);
/* Sets one key from text. Returns 0, BW_ENOTFOUND (unknown key) or BW_EINVAL,
 * with a reason in err. */
int config_set(const struct config_field *table, size_t n, void *dst, const char *key,
               const char *value, char *err, size_t errlen);
/* Reads "key = value" lines; errors carry file:line in err. */
int config_load_file(const struct config_field *table, size_t n, void *dst, const char *path,
                     char *err, size_t errlen);
/* Parses argv: "--config FILE" is loaded first, then every --key=value /
 * --key value overrides it in order. Sets *help when --help/-h is given.
 * Positional arguments are returned through pos/npos (pointers into argv). */
int config_parse_args(const struct config_field *table, size_t n, void *dst, int argc,
                      char **argv, bool *help, char **pos, int *npos, int maxpos, char *err,
                      size_t errlen);
void config_print_help(const struct config_field *table, size_t n, FILE *out);
/* Frees the strings a table owns in dst. */
void config_release(const struct config_field *table, size_t n, void *dst);

#endif
