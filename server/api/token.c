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
