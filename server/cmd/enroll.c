/* enroll.c - `bulwarkd enroll-token create|list|revoke` and
 * `bulwarkd agent revoke`: the operator's side of enrollment
 * (docs/security.md). Tokens are made like API tokens (api_secret_new):
 * the text is printed once, only its hash is stored. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/api.h"
#include "bulwark/clock.h"
#include "bulwark/duration.h"
#include "bulwark/enroll.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/limits.h"
#include "bulwark/store.h"
#include "cmd.h"

#define ENROLL_TOKEN_PREFIX "bwe_"
#define ENROLL_MAX_USES 100000u

static void enroll_token_usage(FILE *out)
{
    fprintf(out, "usage: bulwarkd enroll-token create --max-uses N --expires DURATION"
                 " [--name NAME] [--db PATH]\n"
                 "       bulwarkd enroll-token list [--db PATH]\n"
                 "       bulwarkd enroll-token revoke ID [--db PATH]\n"
                 "\n"
                 "create prints the new token once (give it to agents in a file, see\n"
                 "bulwark-agent --enroll-token-file); only a hash of it is stored.\n"
                 "DURATION: 30m, 24h, 7d, ...\n");
}

static int on_enroll_token_row(const struct store_enroll_token *t, void *ctx)
{
    char created[EVJSON_TIME_MAX] = "", expires[EVJSON_TIME_MAX] = "", revoked[EVJSON_TIME_MAX] = "-";
    char uses[32];
    (void)ctx;
    evjson_format_time(t->created_ns, created, sizeof created);
    evjson_format_time(t->expires_ns, expires, sizeof expires);
    if (t->revoked_ns)
        evjson_format_time(t->revoked_ns, revoked, sizeof revoked);
    snprintf(uses, sizeof uses, "%u/%u", t->uses, t->max_uses);
    printf("%-16s  %-11s  %-30s  %-30s  %-30s  %s\n", t->id, uses, created, expires, revoked,
           t->name);
    return 0;
}

/* Parses --max-uses and --expires into t. 0 or 2 (usage). */
static int enroll_token_limits(const char *max_uses, const char *expires,
                               struct store_enroll_token *t)
{
    char *end;
    unsigned long n;
    int64_t ns;

    if (!max_uses || !expires) {
        fprintf(stderr, "bulwarkd enroll-token create: --max-uses N and --expires DURATION are "
                        "required\n");
        return 2;
    }
    n = strtoul(max_uses, &end, 10);
    if (*max_uses < '0' || *max_uses > '9' || *end || n == 0 || n > ENROLL_MAX_USES) {
        fprintf(stderr, "bulwarkd enroll-token create: --max-uses must be 1 to %u, not '%s'\n",
                ENROLL_MAX_USES, max_uses);
        return 2;
    }
    if (bw_duration_parse(expires, 0, &ns) < 0 || ns <= 0) {
        fprintf(stderr, "bulwarkd enroll-token create: --expires must be a duration (30m, 24h, "
                        "7d), not '%s'\n", expires);
        return 2;
    }
    t->max_uses = (uint32_t)n;
    t->created_ns = clock_wall_ns();
    t->expires_ns = t->created_ns + ns;
    return 0;
}

int enroll_token_cli(int argc, char **argv)
{
    static const char *const names[] = {"db", "max-uses", "expires", "name", NULL};
    const char *vals[4] = {"bulwark.db", NULL, NULL, "enrollment"}, *id = NULL, *cmd;
    struct store_admin *adm = NULL;
    struct store_enroll_token t = {0};
    char err[256], text[128];
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        enroll_token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    if (cmd_args("bulwarkd enroll-token", argc, argv, 2, names, vals, &id) != 0)
        return 2;
    if (strcmp(cmd, "create") != 0 && strcmp(cmd, "list") != 0 && strcmp(cmd, "revoke") != 0) {
        fprintf(stderr, "bulwarkd enroll-token: unknown command '%s'\n", cmd);
        enroll_token_usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "create") == 0 && enroll_token_limits(vals[1], vals[2], &t) != 0)
        return 2;
    if (strcmp(cmd, "create") == 0 && strlen(vals[3]) >= sizeof t.name) {
        fprintf(stderr, "bulwarkd enroll-token create: the name must be 1 to 128 bytes\n");
        return 2;
    }
    if (strcmp(cmd, "revoke") == 0 && !id) {
        fprintf(stderr, "bulwarkd enroll-token revoke: which token id?\n");
        return 2;
    }
    if (store_admin_open(&adm, vals[0], err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd enroll-token: %s\n", err);
        return 1;
    }
    rc = 1;
    if (strcmp(cmd, "create") == 0) {
        snprintf(t.name, sizeof t.name, "%s", vals[3]);
        if (api_secret_new(ENROLL_TOKEN_PREFIX, t.id, t.secret_hash, text, sizeof text) < 0) {
            fprintf(stderr, "bulwarkd enroll-token create: no randomness\n");
        } else if (store_enroll_token_add(adm, &t, "cli") < 0) {
            fprintf(stderr, "bulwarkd enroll-token create: cannot store the token in '%s'\n",
                    vals[0]);
        } else {
            printf("%s\n", text);
            fprintf(stderr, "enrollment token %s (%s, %u uses) created; it is shown only now\n",
                    t.id, t.name, t.max_uses);
            rc = 0;
        }
        OPENSSL_cleanse(text, sizeof text);
    } else if (strcmp(cmd, "list") == 0) {
        printf("%-16s  %-11s  %-30s  %-30s  %-30s  %s\n", "ID", "USES", "CREATED", "EXPIRES",
               "REVOKED", "NAME");
        rc = store_enroll_token_list(adm, on_enroll_token_row, NULL) < 0 ? 1 : 0;
    } else {
        int r = store_enroll_token_revoke(adm, id, clock_wall_ns(), "cli");
        if (r == BW_ENOTFOUND)
            fprintf(stderr, "bulwarkd enroll-token revoke: no token '%s'\n", id);
        else if (r < 0)
            fprintf(stderr, "bulwarkd enroll-token revoke: cannot write '%s'\n", vals[0]);
        else
            fprintf(stderr, "enrollment token %s revoked\n", id);
        rc = r < 0 ? 1 : 0;
    }
    store_admin_close(adm);
    return rc;
}

int enroll_agent_cli(int argc, char **argv)
{
    static const char *const names[] = {"db", NULL};
    const char *vals[1] = {"bulwark.db"}, *id = NULL;
    struct store_admin *adm = NULL;
    char err[256];
    int r;

    if (argc < 2 || strcmp(argv[1], "revoke") != 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: bulwarkd agent revoke ID [--db PATH]\n"
                "\n"
                "The agent's streams are closed and every later handshake with its\n"
                "certificate is refused (a running bulwarkd notices within\n"
                "revocation_poll_ms, or at once on SIGHUP).\n");
        return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
    }
    if (cmd_args("bulwarkd agent revoke", argc, argv, 2, names, vals, &id) != 0)
        return 2;
    if (!id || !*id || strlen(id) > BW_LIMIT_AGENT_ID) {
        fprintf(stderr, "bulwarkd agent revoke: which agent id?\n");
        return 2;
    }
    if (store_admin_open(&adm, vals[0], err, sizeof err) < 0) {
        fprintf(stderr, "bulwarkd agent: %s\n", err);
        return 1;
    }
    r = store_agent_revoke(adm, id, clock_wall_ns(), "cli");
    if (r < 0)
        fprintf(stderr, "bulwarkd agent revoke: cannot write '%s'\n", vals[0]);
    else
        fprintf(stderr, "agent %s revoked\n", id);
    store_admin_close(adm);
    return r < 0 ? 1 : 0;
}
