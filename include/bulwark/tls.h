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
#include <stdint.h>

#include "bulwark/buf.h"

struct tls_ctx;    /* shared configuration: CA, our certificate and key */
struct tls_conn;   /* one stream */
struct tls_identity;  /* a certificate and key held in memory */

enum tls_role { TLS_ROLE_SERVER, TLS_ROLE_CLIENT };

/* Loads the CA bundle (to verify the peer), our certificate chain and key.
 * A server requires and verifies a client certificate; a client verifies the
 * server's certificate and its name. Only TLS 1.3. On failure returns NULL and
 * writes a lower-case reason (with the file name) into err. */
struct tls_ctx *tls_ctx_new(enum tls_role role, const char *ca_file, const char *cert_file,
                            const char *key_file, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

/* A server context that presents cert_file/key_file and asks the peer for
 * no certificate (the enrollment listener: a new agent has none yet). Its
 * conns have no peer CN. NULL and a reason in err on failure. */
struct tls_ctx *tls_ctx_new_anon_server(const char *cert_file, const char *key_file, char *err,
                                        size_t errlen);

/* A client context that trusts ca_file and has no identity of its own: each
 * conn made from it presents the identity given to tls_conn_use_identity()
 * (one context serving many identities; the load generator's 10,000 agents).
 * A conn given none sends no certificate and the server refuses it. Same
 * checks of the server as tls_ctx_new(). NULL and a reason in err on failure. */
struct tls_ctx *tls_ctx_new_multi(const char *ca_file, char *err, size_t errlen);

/* Parses a PEM certificate (the leaf first, then any intermediates) and its
 * PEM private key (unencrypted) from memory; the key must match the
 * certificate. NULL and a lower-case reason in err on failure (nothing of the
 * key is ever written there). tls_identity_free(NULL) is a no-op. */
struct tls_identity *tls_identity_from_pem(const char *cert_pem, size_t cert_len,
                                           const char *key_pem, size_t key_len, char *err,
                                           size_t errlen);
/* Another certificate for base's key, which both then share: parsing a key
 * costs far more than a certificate (~1 ms with OpenSSL 3.0), so many
 * identities with one key are made this way. Same checks and errors. */
struct tls_identity *tls_identity_with_cert(const struct tls_identity *base, const char *cert_pem,
                                            size_t cert_len, char *err, size_t errlen);
void tls_identity_free(struct tls_identity *id);

/* server_name: for a client, the name the server certificate must carry
 * (DNS name or IP address); ignored for a server. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *server_name);
/* Whether name can name a TLS server (what tls_conn_new needs of it): an IP
 * literal, or a host name of 1 to TLS_SERVER_NAME_MAX bytes (SNI's limit).
 * 0 or BW_EINVAL; callers check it where the name is configured, so that
 * tls_conn_new failing later means only out of memory. */
#define TLS_SERVER_NAME_MAX 255
int tls_server_name_check(const char *name);
void tls_conn_free(struct tls_conn *c);
/* Presents id instead of the context's identity on this conn. Only before
 * the handshake starts; the conn keeps its own references, so id may be
 * freed afterwards. 0, or BW_EINVAL (too late, or OpenSSL refused it). */
int tls_conn_use_identity(struct tls_conn *c, const struct tls_identity *id);

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
/* What the conn's memory BIOs cost, in bytes: for each direction the most
 * it held since its buffer was last recycled (a mem BIO keeps its largest
 * buffer), so the owner can bound a peer by what it really allocates. */
size_t tls_conn_input_held(const struct tls_conn *c);
size_t tls_conn_output_held(const struct tls_conn *c);
/* Ciphertext waiting for tls_conn_take_output(). */
size_t tls_conn_output_pending(const struct tls_conn *c);
/* Sends close_notify (its ciphertext is then available from take_output). */
void tls_conn_shutdown(struct tls_conn *c);
/* The peer certificate's subject CN, once established; NULL otherwise. */
const char *tls_conn_peer_cn(const struct tls_conn *c);
/* When the verified peer certificate ends, Unix seconds; 0 before the
 * handshake or when unknown. */
int64_t tls_conn_peer_not_after(const struct tls_conn *c);
/* Last error as lower-case text, "" if none. */
const char *tls_conn_error(const struct tls_conn *c);

/* Reads the subject CN of the first certificate in a PEM file (the agent's
 * default identity). 0, BW_EIO (unreadable) or BW_ENOTFOUND (no CN). */
int tls_cert_file_cn(const char *path, char *out, size_t outlen);

/* ------------------------------------------- enrollment (tls_cert.c) */

/* Makes a new EC P-256 key and a PKCS#10 request for it (subject CN=cn,
 * signed by the key), both as PEM into *key_pem and *csr_pem (heap; the
 * caller frees, cleansing the key). 0 or BW_ETLS with a reason in err. */
int tls_csr_new(const char *cn, char **key_pem, char **csr_pem, char *err, size_t errlen);

/* A certificate authority held by the server: its certificate and key. */
struct tls_ca;
struct tls_ca *tls_ca_load(const char *cert_file, const char *key_file, char *err,
                           size_t errlen);
void tls_ca_free(struct tls_ca *ca);
/* Issues a client certificate for the key of csr_pem (which must be an EC
 * P-256 key that signed the request): subject CN=cn whatever the request
 * says, valid from a minute ago for lifetime_s, clientAuth only, a random
 * 127-bit serial (hex into serial). PEM appended to out. Thread-safe.
 * 0, or BW_EINVAL with a reason in why (a bad request), BW_ETLS. */
int tls_ca_issue(struct tls_ca *ca, const char *csr_pem, size_t csr_len, const char *cn,
                 int64_t lifetime_s, struct buf *out, char *serial, size_t serial_len, char *why,
                 size_t whylen);

/* Installs a new key and its certificate so that a crash at any point
 * leaves a matching pair: the key goes to KEY.new (0600), the certificate
 * over cert_path (0644), then KEY.new over key_path; each write is atomic
 * and synced. 0 or BW_EIO. */
int tls_cert_install(const char *cert_path, const char *key_path, const char *cert_pem,
                     const char *key_pem);
/* At start: finishes an install a crash interrupted (KEY.new matches the
 * certificate: 1) or drops its key (0). BW_EIO when the rename fails. */
int tls_cert_recover(const char *cert_path, const char *key_path);

/* The validity of the first certificate of a PEM file, Unix seconds.
 * 0, BW_EIO (unreadable) or BW_EINVAL. */
int tls_cert_file_times(const char *path, int64_t *not_before, int64_t *not_after);

#endif
