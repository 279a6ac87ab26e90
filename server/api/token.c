/* token.c - API tokens: "bwk_" + a 16-hex-digit public id + "_" + 43
 * base64url characters of secret (256 random bits). The store keeps the id,
 * a name, a role and SHA-256 of the secret; the secret is shown once. A
 * check looks the id up and compares hashes with CRYPTO_memcmp, and hashes
 * and compares even when the id is unknown, so the time taken says nothing
 * about which part was wrong. Also `bulwarkd token create|list|revoke`. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/api.h"
#include "bulwark/clock.h"
#include "bulwark/config.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"

_Static_assert(API_SECRET_HASH_LEN == STORE_TOKEN_HASH_LEN, "one hash size for all tokens");
#define TOKEN_SECRET_BYTES 32
#define TOKEN_SECRET_CHARS 43  /* base64url of 32 bytes, unpadded */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int sha256(const char *s, size_t n, uint8_t out[STORE_TOKEN_HASH_LEN])
{
    unsigned len = 0;
    return EVP_Digest(s, n, out, &len, EVP_sha256(), NULL) == 1 && len == STORE_TOKEN_HASH_LEN
               ? 0
               : BW_EIO;
}

int api_secret_new(const char *prefix, char id[API_SECRET_ID_HEX + 1],
                   uint8_t hash[API_SECRET_HASH_LEN], char *text, size_t n)
{
    uint8_t idb[API_SECRET_ID_HEX / 2], sec[TOKEN_SECRET_BYTES + 1] = {0};
    char secret[TOKEN_SECRET_CHARS + 1];
    size_t k = 0;
    int rc = BW_EIO;

    if (n < strlen(prefix) + API_SECRET_ID_HEX + 1 + TOKEN_SECRET_CHARS + 1)
        return BW_EINVAL;
    if (RAND_bytes(idb, sizeof idb) != 1 || RAND_bytes(sec, TOKEN_SECRET_BYTES) != 1)
        return BW_EIO;
    for (size_t i = 0; i < TOKEN_SECRET_BYTES; i += 3) {
        uint32_t v = (uint32_t)sec[i] << 16 | (uint32_t)sec[i + 1] << 8 |
                     (i + 2 < TOKEN_SECRET_BYTES ? sec[i + 2] : 0);
        for (int j = 18; j >= 0 && k < TOKEN_SECRET_CHARS; j -= 6)
            secret[k++] = b64[(v >> j) & 63];
    }
    secret[k] = '\0';
    for (size_t i = 0; i < sizeof idb; i++)
        snprintf(id + 2 * i, 3, "%02x", idb[i]);
    if (sha256(secret, TOKEN_SECRET_CHARS, hash) == 0) {
        snprintf(text, n, "%s%s_%s", prefix, id, secret);
        rc = 0;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(sec, sizeof sec);
    return rc;
}

int api_secret_parse(const char *t, const char *prefix, char id[API_SECRET_ID_HEX + 1],
                     uint8_t hash[API_SECRET_HASH_LEN])
{
    size_t plen = strlen(prefix);
    bool well_formed = true;

    if (strlen(t) != plen + API_SECRET_ID_HEX + 1 + TOKEN_SECRET_CHARS ||
        strncmp(t, prefix, plen) != 0)
        return BW_EAUTH;  /* the length and prefix are public knowledge */
    t += plen;
    memcpy(id, t, API_SECRET_ID_HEX);
    id[API_SECRET_ID_HEX] = '\0';
    for (int i = 0; i < API_SECRET_ID_HEX; i++)
        well_formed &= (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (t[API_SECRET_ID_HEX] != '_' || !well_formed)
        return BW_EAUTH;
    return sha256(t + API_SECRET_ID_HEX + 1, TOKEN_SECRET_CHARS, hash) < 0 ? BW_EIO : 0;
}

int api_token_new(const char *name, enum api_role role, char *text, size_t n,
                  struct store_token *row)
{
    if (!name || !*name || strlen(name) >= sizeof row->name || role == ROLE_NONE)
        return BW_EINVAL;
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->role, sizeof row->role, "%s", api_role_name(role));
    row->created_ns = clock_wall_ns();
    return api_secret_new(API_TOKEN_PREFIX, row->id, row->secret_hash, text, n);
}

int api_token_check(struct api_call *c, const char *authorization)
{
    static const uint8_t dummy[STORE_TOKEN_HASH_LEN];
    const char *t = authorization;
    char id[API_SECRET_ID_HEX + 1];
    uint8_t h[STORE_TOKEN_HASH_LEN];
    struct store_token row;
    int rc;

    if (strncasecmp(t, "Bearer ", 7) != 0)
        return BW_EAUTH;
    t += 7;
    while (*t == ' ')
        t++;
    if ((rc = api_secret_parse(t, API_TOKEN_PREFIX, id, h)) < 0)
        return rc;
    if (!c->reader && !(c->reader = api_reader(c)))
        return BW_EAGAIN;
    rc = store_token_get(c->reader, id, &row);
    if (CRYPTO_memcmp(h, rc == 0 ? row.secret_hash : dummy, sizeof h) != 0 || rc < 0 ||
        row.revoked_ns != 0)
        return BW_EAUTH;
    c->role = api_role_from_name(row.role);
    snprintf(c->actor, sizeof c->actor, "token %s (%s)", row.name, row.id);
    return c->role == ROLE_NONE ? BW_EAUTH : 0;
}

/* ------------------------------------------------------------ the CLI */

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

int api_cli_args(const char *prog, int argc, char **argv, int first, const char *const *names,
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
    if (api_cli_args("bulwarkd token", argc, argv, 2, names, vals, &id) != 0)
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
