/* tls.h - TLS 1.3 with mutual authentication over memory BIOs.
 *
 * The transport never touches a socket: the owner feeds ciphertext read from
 * the network with tls_conn_feed(), pulls plaintext with tls_conn_read(),
 * writes plaintext with tls_conn_write(), and sends whatever
 * tls_conn_take_output() returns. Upper layers only ever see plaintext. */
#ifndef BULWARK_TLS_H
#define BULWARK_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "bulwark/buf.h"

struct tls_ctx;    /* shared configuration: CA, our certificate and key */
struct tls_conn;   /* one stream */

enum tls_role { TLS_ROLE_SERVER, TLS_ROLE_CLIENT };

/* Loads the CA bundle (to verify the peer), our certificate chain and key.
 * A server requires and verifies a client certificate; a client verifies the
 * server's certificate and its name. Only TLS 1.3. On failure returns NULL and
 * writes a lower-case reason (with the file name) into err. */
struct tls_ctx *tls_ctx_new(enum tls_role role, const char *ca_file, const char *cert_file,
                            const char *key_file, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

/* server_name: for a client, the name the server certificate must carry
 * (DNS name or IP address); ignored for a server. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *server_name);
void tls_conn_free(struct tls_conn *c);

/* Ciphertext from the network. Returns 0 or BW_ETLS (the reason is kept for
 * tls_conn_error()). Drives the handshake as needed. */
int tls_conn_feed(struct tls_conn *c, const void *p, size_t n);
/* Starts (client) or continues the handshake. 1 when complete, 0 when it
 * needs more input, BW_ETLS on failure. */
int tls_conn_handshake(struct tls_conn *c);
bool tls_conn_established(const struct tls_conn *c);
/* Decrypted application data into out (appended, up to out's max). Returns
 * bytes added (0 if none yet), BW_ECLOSED on a clean close_notify, BW_ETLS. */
long tls_conn_read(struct tls_conn *c, struct buf *out);
/* Encrypts n bytes of plaintext (only once established). 0 or BW_ETLS. */
int tls_conn_write(struct tls_conn *c, const void *p, size_t n);
/* Moves pending ciphertext (handshake or records) into out. Returns bytes moved. */
size_t tls_conn_take_output(struct tls_conn *c, struct buf *out);
/* Frees what an idle stream need not hold: empty BIO buffers and record
 * buffers (an idle server holds 10,000 streams). Harmless when busy. */
void tls_conn_shrink(struct tls_conn *c);
/* Sends close_notify (its ciphertext is then available from take_output). */
void tls_conn_shutdown(struct tls_conn *c);
/* The peer certificate's subject CN, once established; NULL otherwise. */
const char *tls_conn_peer_cn(const struct tls_conn *c);
/* Last error as lower-case text, "" if none. */
const char *tls_conn_error(const struct tls_conn *c);

/* Reads the subject CN of the first certificate in a PEM file (the agent's
 * default identity). 0, BW_EIO (unreadable) or BW_ENOTFOUND (no CN). */
int tls_cert_file_cn(const char *path, char *out, size_t outlen);

#endif
