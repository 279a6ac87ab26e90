/* conn.h - one agent connection: TLS handshake -> Hello -> Welcome ->
 * streaming batches and acks, with one close path. */
#ifndef BULWARK_CONN_H
#define BULWARK_CONN_H

#include <uv.h>

#include "bulwark/server.h"

/* Takes an accepted, initialised TCP handle's owner: call conn_new() then
 * uv_accept() into conn_tcp(). enroll: from the enrollment listener (no
 * client certificate; one EnrollRequest, answered, then closed). Returns
 * NULL on ENOMEM. */
struct conn *conn_new(struct server *srv, bool enroll);
uv_tcp_t *conn_tcp(struct conn *c);
/* Starts reading (after uv_accept succeeded). */
int conn_start(struct conn *c);
/* Closes with a logged reason (NULL = quiet). Safe to call twice. */
void conn_close(struct conn *c, const char *reason);
/* The writer has room again: process buffered frames of blocked conns. */
void conn_resume_blocked(struct server *srv);
/* SIGTERM: stop reading everywhere, submit what was fully received, close
 * streams that never got past Hello. */
void conn_drain_all(struct server *srv);
/* Closes every connection (after the drain committed and acked) and frees
 * the host-name bindings. */
void conn_close_all(struct server *srv);
/* Closes every stream of agent_id, telling it it is revoked. */
void conn_revoke_agent(struct server *srv, const char *agent_id);

#endif
