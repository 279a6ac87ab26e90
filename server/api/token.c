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
#include "bulwark/clock.h"
#include "bulwark/config.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"

#define TOKEN_ID_HEX 16
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

int api_token_new(const char *name, enum api_role role, char *text, size_t n,
                  struct store_token *row)
{
    uint8_t idb[TOKEN_ID_HEX / 2], sec[TOKEN_SECRET_BYTES + 1] = {0};
    char secret[TOKEN_SECRET_CHARS + 1];
    size_t k = 0;

    if (!name || !*name || strlen(name) >= sizeof row->name || role == ROLE_NONE ||
        n < sizeof API_TOKEN_PREFIX + TOKEN_ID_HEX + 1 + TOKEN_SECRET_CHARS)
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
    memset(row, 0, sizeof *row);
    for (size_t i = 0; i < sizeof idb; i++)
        snprintf(row->id + 2 * i, 3, "%02x", idb[i]);
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->role, sizeof row->role, "%s", api_role_name(role));
    row->created_ns = clock_wall_ns();
    if (sha256(secret, TOKEN_SECRET_CHARS, row->secret_hash) < 0)
        return BW_EIO;
    snprintf(text, n, "%s%s_%s", API_TOKEN_PREFIX, row->id, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(sec, sizeof sec);
    return 0;
}

int api_token_check(struct api_call *c, const char *authorization)
{
    static const uint8_t dummy[STORE_TOKEN_HASH_LEN];
    const char *t = authorization, *secret;
    char id[TOKEN_ID_HEX + 1];
    uint8_t h[STORE_TOKEN_HASH_LEN];
    struct store_token row;
    bool well_formed = true;
    int rc;

    if (strncasecmp(t, "Bearer ", 7) != 0)
        return BW_EAUTH;
    t += 7;
    while (*t == ' ')
        t++;
    if (strlen(t) != strlen(API_TOKEN_PREFIX) + TOKEN_ID_HEX + 1 + TOKEN_SECRET_CHARS ||
        strncmp(t, API_TOKEN_PREFIX, strlen(API_TOKEN_PREFIX)) != 0)
        return BW_EAUTH;  /* the length and prefix are public knowledge */
    t += strlen(API_TOKEN_PREFIX);
    memcpy(id, t, TOKEN_ID_HEX);
    id[TOKEN_ID_HEX] = '\0';
    for (int i = 0; i < TOKEN_ID_HEX; i++)
        well_formed &= (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (t[TOKEN_ID_HEX] != '_' || !well_formed)
        return BW_EAUTH;
    secret = t + TOKEN_ID_HEX + 1;
    if (!c->reader && !(c->reader = api_reader(c)))
        return BW_EAGAIN;
    rc = store_token_get(c->reader, id, &row);
    if (sha256(secret, TOKEN_SECRET_CHARS, h) < 0)
        return BW_EIO;
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

/* Options of the token commands: --db, --role, --name ('-' or '_' spelling
 * does not arise: these are single words). */
int api_token_cli(int argc, char **argv)
{
    const char *db = "bulwark.db", *role = NULL, *name = NULL, *id = NULL, *cmd;
    struct store_admin *adm = NULL;
    char err[256], text[API_TOKEN_MAX];
    struct store_token row;
    int rc = 2, i;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        const char **slot = NULL;
        if (strncmp(a, "--db", 4) == 0)
            slot = &db, a += 4;
        else if (strncmp(a, "--role", 6) == 0)
            slot = &role, a += 6;
        else if (strncmp(a, "--name", 6) == 0)
            slot = &name, a += 6;
        else if (a[0] != '-' && !id) {
            id = a;
            continue;
        } else {
            fprintf(stderr, "bulwarkd token: unknown argument '%s'\n", argv[i]);
            return 2;
        }
        if (*a == '=')
            v = a + 1;
        else if (*a == '\0' && i + 1 < argc)
            v = argv[++i];
        if (!v || !*v) {
            fprintf(stderr, "bulwarkd token: '%s' needs a value\n", argv[i]);
            return 2;
        }
        *slot = v;
    }
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
