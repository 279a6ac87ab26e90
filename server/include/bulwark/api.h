/* api.h - bulwarkd's REST API (server/api/): libmicrohttpd with its own
 * thread pool, JSON by jansson, bearer tokens with roles. docs/api.md is
 * the user's guide, /api/v1/openapi.json the contract.
 *
 * The API's threads never touch the loop's structures: they read the store
 * through their own read-only connections, the loop's state through
 * srvstate (a published copy), and ask the loop to act through cmdq. They
 * write only the tables the API owns (tokens, alert status, audit), each in
 * one short transaction of their own. */
#ifndef BULWARK_API_H
#define BULWARK_API_H

#include <stddef.h>
#include <stdint.h>

struct api;
struct server;
struct store_token;

/* The roles of API tokens (docs/api.md, "Authentication"). */
enum api_role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_ANALYST, ROLE_ADMIN };

const char *api_role_name(enum api_role r);
enum api_role api_role_from_name(const char *s);  /* ROLE_NONE if unknown */

#define API_TOKEN_MAX 96
/* A new API token (for `bulwarkd token create`): its text, shown once, and
 * the row to store (only a hash of the secret). */
int api_token_new(const char *name, enum api_role role, char *text, size_t n,
                  struct store_token *row);

/* Loop thread, at start: serves cfg->api_listen (NULL *out and 0 when it
 * is empty: the API is off). Logs "api: listening HOST:PORT". */
int api_start(struct api **out, struct server *srv);
/* Loop thread: stops accepting, waits for the API's threads (cmdq must be
 * closed first, so none is waiting on the loop). api_stop(NULL) is a no-op. */
void api_stop(struct api *a);

/* Secret tokens (API and enrollment tokens share the format): PREFIX, a
 * 16-hex-digit public id, "_", 43 base64url characters of secret (256
 * random bits). Only the id and SHA-256 of the secret are ever stored. */
#define API_SECRET_ID_HEX 16
#define API_SECRET_HASH_LEN 32
/* A new token: its text into text (n bytes), its id and its secret's hash.
 * BW_EINVAL when text is too small, BW_EIO when no randomness. */
int api_secret_new(const char *prefix, char id[API_SECRET_ID_HEX + 1],
                   uint8_t hash[API_SECRET_HASH_LEN], char *text, size_t n);
/* Splits a token's text into its id and its secret's hash. BW_EAUTH when
 * it is not of the format (the format is public: this says nothing). */
int api_secret_parse(const char *text, const char *prefix, char id[API_SECRET_ID_HEX + 1],
                     uint8_t hash[API_SECRET_HASH_LEN]);

#endif
