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

#endif
