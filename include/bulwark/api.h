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

struct api;
struct server;

/* Loop thread, at start: serves cfg->api_listen (NULL *out and 0 when it
 * is empty: the API is off). Logs "api: listening HOST:PORT". */
int api_start(struct api **out, struct server *srv);
/* Loop thread: stops accepting, waits for the API's threads (cmdq must be
 * closed first, so none is waiting on the loop). api_stop(NULL) is a no-op. */
void api_stop(struct api *a);

/* `bulwarkd token create|list|revoke ...`; returns the exit code. */
int api_token_cli(int argc, char **argv);

#include <stddef.h>
#include <stdint.h>

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

/* The option parsing of the admin subcommands (`bulwarkd token ...`,
 * `enroll-token ...`, `agent ...`): argv[first..] holds "--NAME VALUE" or
 * "--NAME=VALUE" for each name in names (NULL-terminated; each value goes
 * to the same index of vals) and at most one positional argument (*pos).
 * Prints "PROG: reason" and returns 2 on a bad argument, else 0. */
int api_cli_args(const char *prog, int argc, char **argv, int first, const char *const *names,
                 const char **vals, const char **pos);

#endif
