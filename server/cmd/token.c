/* token.c - `bulwarkd token create|list|revoke`: the REST API's tokens
 * (see cmd.h; the tokens themselves are server/api/token.c's). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/api.h"
#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/store.h"
#include "cmd.h"

static void token_usage(FILE *out)
{
    fprintf(out, "usage: bulwarkd token create --role viewer|analyst|admin --name NAME"
                 " [--db PATH]\n"
                 "       bulwarkd token list [--db PATH]\n"
                 "       bulwarkd token revoke ID [--db PATH]\n"
                 "\n"
                 "create prints the new token once; only a hash of it is stored.\n");
}

static int on_token_row(const struct store_token *t, void *ctx)
{
    char created[EVJSON_TIME_MAX] = "", revoked[EVJSON_TIME_MAX] = "-";
    (void)ctx;
    evjson_format_time(t->created_ns, created, sizeof created);
    if (t->revoked_ns)
        evjson_format_time(t->revoked_ns, revoked, sizeof revoked);
    printf("%-16s  %-8s  %-20s  %-30s  %s\n", t->id, t->role, created, revoked, t->name);
    return 0;
}

int cmd_args(const char *prog, int argc, char **argv, int first, const char *const *names,
                 const char **vals, const char **pos)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        size_t k = 0, len = 0;

        if (a[0] != '-') {
            if (*pos) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", prog, a);
                return 2;
            }
            *pos = a;
            continue;
        }
        for (; names[k]; k++) {
            len = strlen(names[k]);
            if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, names[k], len) == 0 &&
                (a[2 + len] == '\0' || a[2 + len] == '='))
                break;
        }
        if (!names[k]) {
            fprintf(stderr, "%s: unknown argument '%s'\n", prog, a);
            return 2;
        }
        if (a[2 + len] == '=')
            v = a + 3 + len;
        else if (i + 1 < argc)
            v = argv[++i];
        if (!v || !*v) {
            fprintf(stderr, "%s: '%s' needs a value\n", prog, a);
            return 2;
        }
        vals[k] = v;
    }
    return 0;
}

/* Options of the token commands: --db, --role, --name. */
int api_token_cli(int argc, char **argv)
{
    const char *db = "bulwark.db", *role = NULL, *name = NULL, *id = NULL, *cmd;
    struct store_admin *adm = NULL;
    char err[256], text[API_TOKEN_MAX];
    struct store_token row;
    int rc = 2;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    static const char *const names[] = {"db", "role", "name", NULL};
    const char *vals[3] = {db, NULL, NULL};
    if (cmd_args("bulwarkd token", argc, argv, 2, names, vals, &id) != 0)
        return 2;
    db = vals[0];
    role = vals[1];
    name = vals[2];
    if (strcmp(cmd, "create") != 0 && strcmp(cmd, "list") != 0 && strcmp(cmd, "revoke") != 0) {
        fprintf(stderr, "bulwarkd token: unknown command '%s'\n", cmd);
        token_usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "create") == 0 && (!role || api_role_from_name(role) == ROLE_NONE || !name)) {
        fprintf(stderr, "bulwarkd token create: --role viewer|analyst|admin and --name are "
                        "required\n");
        return 2;
    }
    if (strcmp(cmd, "revoke") == 0 && !id) {
        fprintf(stderr, "bulwarkd token revoke: which token id?\n");
        return 2;
    }
    if (store_admin_open(&adm, db, err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd token: %s\n", err);
        return 1;
    }
    rc = 1;
    if (strcmp(cmd, "create") == 0) {
        if (api_token_new(name, api_role_from_name(role), text, sizeof text, &row) < 0) {
            fprintf(stderr, "bulwarkd token create: the name must be 1 to 128 bytes\n");
            goto out;
        }
        if (store_token_add(adm, &row, "cli") < 0) {
            fprintf(stderr, "bulwarkd token create: cannot store the token in '%s'\n", db);
            goto out;
        }
        printf("%s\n", text);
        fprintf(stderr, "token %s (%s, role %s) created; it is shown only now\n", row.id,
                row.name, row.role);
        OPENSSL_cleanse(text, sizeof text);
        rc = 0;
    } else if (strcmp(cmd, "list") == 0) {
        printf("%-16s  %-8s  %-20s  %-30s  %s\n", "ID", "ROLE", "CREATED", "REVOKED", "NAME");
        rc = store_token_list(adm, on_token_row, NULL) < 0 ? 1 : 0;
    } else {
        int r = store_token_revoke(adm, id, clock_wall_ns(), "cli");
        if (r == BW_ENOTFOUND)
            fprintf(stderr, "bulwarkd token revoke: no token '%s'\n", id);
        else if (r < 0)
            fprintf(stderr, "bulwarkd token revoke: cannot write '%s'\n", db);
        else
            fprintf(stderr, "token %s revoked\n", id);
        rc = r < 0 ? 1 : 0;
    }
out:
    store_admin_close(adm);
    return rc;
}
