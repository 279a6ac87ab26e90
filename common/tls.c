/* tls.c - TLS 1.3 with mutual authentication over OpenSSL memory BIOs
 * (see bulwark/tls.h).
 *
 * Each conn owns an SSL with two memory BIOs: rbio carries ciphertext from
 * the network into OpenSSL (tls_conn_feed), wbio carries ciphertext from
 * OpenSSL to the network (tls_conn_take_output). No sockets, no logging: the
 * reason for a failure is kept in the conn (or written to the caller's err
 * buffer) for the layer that decides what to do with it.
 *
 * Memory: the server holds thousands of mostly idle conns, so SSL buffers are
 * released when idle (SSL_MODE_RELEASE_BUFFERS) and a memory BIO that once
 * held a large burst is replaced by a fresh one once it drains (a mem BIO
 * never shrinks its buffer on its own).
 *
 * Identities: a context normally presents its own certificate; a context
 * from tls_ctx_new_multi() has none, and each conn presents a tls_identity
 * set with tls_conn_use_identity() (the load generator: one context, 10,000
 * agents, instead of 1.6 ms and ~25 KiB of SSL_CTX per agent). */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bulwark/err.h"
#include "bulwark/tls.h"

#define TLS_CN_MAX 64             /* RFC 5280 ub-common-name */
#define TLS_READ_CHUNK 16384      /* one TLS record of plaintext */
#define TLS_OUT_CHUNK 65536
#define TLS_RECORD_BUF (16384 + 256 + 64)  /* a TLS 1.3 record with its overhead */
#define TLS_BIO_KEEP (64 * 1024)  /* mem BIOs that grew past this are recycled */

struct tls_ctx {
    SSL_CTX *ssl;
    enum tls_role role;
    bool anon_peer;      /* a server that asks for no client certificate */
};

/* A certificate (with any intermediates after it) and its key, in memory. */
struct tls_identity {
    X509 *cert;
    STACK_OF(X509) *chain;  /* NULL when the PEM held the leaf only */
    EVP_PKEY *key;
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio;           /* network -> ssl; owned by ssl */
    BIO *wbio;           /* ssl -> network; owned by ssl */
    enum tls_role role;
    bool anon_peer;      /* from the context: no peer CN is required */
    bool established;
    bool failed;         /* a fatal error happened; every call now fails */
    bool peer_closed;    /* close_notify received */
    bool shut;           /* our close_notify sent */
    size_t rbio_peak;    /* most bytes rbio held since it was last empty */
    size_t wbio_peak;    /* likewise for wbio */
    char peer_cn[TLS_CN_MAX + 1];
    int64_t peer_not_after;  /* the verified peer certificate's end, Unix s; 0 = unknown */
    char err[256];
};

/* Lower-cases s in place (OpenSSL's texts are mostly lower-case already). */
static void tls_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Writes OpenSSL's reason for the earliest queued error (or `fallback`) into
 * dst, lower-case, and clears the queue. */
static void tls_reason(char *dst, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();
    const char *r;

    if (e == 0) {
        snprintf(dst, len, "%s", fallback);
    } else if (ERR_SYSTEM_ERROR(e)) {   /* errno from fopen and friends */
        char sys[128];

        snprintf(dst, len, "%s", strerror_r(ERR_GET_REASON(e), sys, sizeof sys));
    } else if ((r = ERR_reason_error_string(e)) != NULL) {
        snprintf(dst, len, "%s", r);
    } else {
        ERR_error_string_n(e, dst, len);
    }
    tls_lower(dst);
    ERR_clear_error();
}

/* Formats "what 'file': reason" into err. */
static void tls_ctx_err(char *err, size_t errlen, const char *what, const char *file)
{
    char reason[160];

    if (!err || errlen == 0)
        return;
    tls_reason(reason, sizeof reason, "unknown error");
    snprintf(err, errlen, "%s '%s': %s", what, file ? file : "", reason);
}

/* Never prompt on a terminal for an encrypted key: refuse it instead. */
static int tls_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

/* tls_ctx_new() and tls_ctx_new_multi(): cert_file and key_file are both
 * NULL for a context without an identity of its own. */
static struct tls_ctx *tls_ctx_build(enum tls_role role, const char *ca_file,
                                     const char *cert_file, const char *key_file, char *err,
                                     size_t errlen)
{
    struct tls_ctx *ctx = NULL;
    SSL_CTX *s = NULL;
    STACK_OF(X509_NAME) *cas = NULL;

    ERR_clear_error();
    s = SSL_CTX_new(role == TLS_ROLE_SERVER ? TLS_server_method() : TLS_client_method());
    if (!s) {
        tls_ctx_err(err, errlen, "cannot create tls context for", cert_file ? cert_file : ca_file);
        goto out;
    }
    if (!SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION)) {
        tls_ctx_err(err, errlen, "cannot require tls 1.3 for", cert_file);
        goto out;
    }
    SSL_CTX_set_default_passwd_cb(s, tls_no_password);
    if (ca_file && SSL_CTX_load_verify_locations(s, ca_file, NULL) != 1) {
        tls_ctx_err(err, errlen, "cannot load ca", ca_file);
        goto out;
    }
    if (cert_file && SSL_CTX_use_certificate_chain_file(s, cert_file) != 1) {
        tls_ctx_err(err, errlen, "cannot load certificate", cert_file);
        goto out;
    }
    if (key_file && SSL_CTX_use_PrivateKey_file(s, key_file, SSL_FILETYPE_PEM) != 1) {
        tls_ctx_err(err, errlen, "cannot load key", key_file);
        goto out;
    }
    if (cert_file && SSL_CTX_check_private_key(s) != 1) {
        tls_ctx_err(err, errlen, "key does not match certificate", cert_file);
        goto out;
    }

    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_clear_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE);
    SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_verify_depth(s, 4);
    if (role == TLS_ROLE_SERVER && !ca_file) {
        /* The enrollment listener: the peer has no certificate yet. */
        SSL_CTX_set_verify(s, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(s, 0);
        SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    } else if (role == TLS_ROLE_SERVER) {
        /* Every peer must present a certificate issued by our CA. */
        SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        cas = SSL_load_client_CA_file(ca_file);
        if (!cas) {
            tls_ctx_err(err, errlen, "cannot read ca names from", ca_file);
            goto out;
        }
        SSL_CTX_set_client_CA_list(s, cas);  /* takes ownership */
        /* Streams are long-lived: no resumption, so no tickets and no cache. */
        SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(s, 0);
        SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    } else {
        SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    }

    ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    ctx->ssl = s;
    ctx->role = role;
    ctx->anon_peer = role == TLS_ROLE_SERVER && !ca_file;
    s = NULL;
out:
    SSL_CTX_free(s);
    ERR_clear_error();
    return ctx;
}

struct tls_ctx *tls_ctx_new(enum tls_role role, const char *ca_file, const char *cert_file,
                            const char *key_file, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!ca_file || !cert_file || !key_file) {
        if (err && errlen)
            snprintf(err, errlen, "ca, certificate and key files are all required");
        return NULL;
    }
    return tls_ctx_build(role, ca_file, cert_file, key_file, err, errlen);
}

struct tls_ctx *tls_ctx_new_anon_server(const char *cert_file, const char *key_file, char *err,
                                        size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!cert_file || !key_file) {
        if (err && errlen)
            snprintf(err, errlen, "certificate and key files are both required");
        return NULL;
    }
    return tls_ctx_build(TLS_ROLE_SERVER, NULL, cert_file, key_file, err, errlen);
}

struct tls_ctx *tls_ctx_new_multi(const char *ca_file, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!ca_file) {
        if (err && errlen)
            snprintf(err, errlen, "a ca file is required");
        return NULL;
    }
    return tls_ctx_build(TLS_ROLE_CLIENT, ca_file, NULL, NULL, err, errlen);
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

/* Formats "what: reason" into err (for input that has no file name). */
static void tls_mem_err(char *err, size_t errlen, const char *what)
{
    char reason[160];

    if (!err || errlen == 0)
        return;
    tls_reason(reason, sizeof reason, "unknown error");
    snprintf(err, errlen, "%s: %s", what, reason);
}

/* Reads the certificates after the leaf into id->chain. 0 at the clean end
 * of the PEM text, BW_EINVAL on anything else. */
static int tls_identity_read_chain(struct tls_identity *id, BIO *b)
{
    unsigned long e;
    X509 *x;

    while ((x = PEM_read_bio_X509(b, NULL, tls_no_password, NULL)) != NULL) {
        if (!id->chain && (id->chain = sk_X509_new_null()) == NULL) {
            X509_free(x);
            return BW_EINVAL;
        }
        if (!sk_X509_push(id->chain, x)) {
            X509_free(x);
            return BW_EINVAL;
        }
    }
    e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
        return BW_EINVAL;
    ERR_clear_error();
    return 0;
}

/* Parses the certificate PEM (leaf, then any intermediates) into id. */
static int tls_identity_read_cert(struct tls_identity *id, const char *pem, size_t len,
                                  char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    int rc = BW_EINVAL;

    if (!b || (id->cert = PEM_read_bio_X509(b, NULL, tls_no_password, NULL)) == NULL) {
        tls_mem_err(err, errlen, "cannot read certificate");
        goto out;
    }
    if (tls_identity_read_chain(id, b) < 0) {
        tls_mem_err(err, errlen, "cannot read certificate chain");
        goto out;
    }
    rc = 0;
out:
    BIO_free(b);
    return rc;
}

/* tls_identity_from_pem() and tls_identity_with_cert(): the key comes from
 * key_pem, or is base's (shared). */
static struct tls_identity *tls_identity_make(const char *cert_pem, size_t cert_len,
                                              const char *key_pem, size_t key_len,
                                              const struct tls_identity *base, char *err,
                                              size_t errlen)
{
    struct tls_identity *id = NULL, *made = NULL;
    BIO *b = NULL;

    if (err && errlen)
        err[0] = '\0';
    if (!cert_pem || cert_len == 0 || cert_len > INT_MAX ||
        (!base && (!key_pem || key_len == 0 || key_len > INT_MAX))) {
        if (err && errlen)
            snprintf(err, errlen, "a certificate and a key are both required");
        return NULL;
    }
    ERR_clear_error();
    if ((id = calloc(1, sizeof *id)) == NULL) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (tls_identity_read_cert(id, cert_pem, cert_len, err, errlen) < 0)
        goto out;
    if (base) {
        if (EVP_PKEY_up_ref(base->key) != 1)
            goto out;
        id->key = base->key;
    } else if ((b = BIO_new_mem_buf(key_pem, (int)key_len)) == NULL ||
               (id->key = PEM_read_bio_PrivateKey(b, NULL, tls_no_password, NULL)) == NULL) {
        tls_mem_err(err, errlen, "cannot read key");
        goto out;
    }
    if (X509_check_private_key(id->cert, id->key) != 1) {
        tls_mem_err(err, errlen, "key does not match certificate");
        goto out;
    }
    made = id;
    id = NULL;
out:
    BIO_free(b);
    tls_identity_free(id);
    ERR_clear_error();
    return made;
}

struct tls_identity *tls_identity_from_pem(const char *cert_pem, size_t cert_len,
                                           const char *key_pem, size_t key_len, char *err,
                                           size_t errlen)
{
    return tls_identity_make(cert_pem, cert_len, key_pem, key_len, NULL, err, errlen);
}

struct tls_identity *tls_identity_with_cert(const struct tls_identity *base, const char *cert_pem,
                                            size_t cert_len, char *err, size_t errlen)
{
    return tls_identity_make(cert_pem, cert_len, NULL, 0, base, err, errlen);
}

void tls_identity_free(struct tls_identity *id)
{
    if (!id)
        return;
    X509_free(id->cert);
    sk_X509_pop_free(id->chain, X509_free);
    EVP_PKEY_free(id->key);
    free(id);
}

/* A memory BIO that reports "retry" (not EOF) when empty. */
static BIO *tls_mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());

    if (b)
        BIO_set_mem_eof_return(b, -1);
    return b;
}

/* Client side: what the server certificate must name; SNI for DNS names. */
int tls_server_name_check(const char *name)
{
    return name && name[0] && strlen(name) <= TLS_SERVER_NAME_MAX ? 0 : BW_EINVAL;
}

static int tls_conn_set_peer_name(struct tls_conn *c, const char *name)
{
    unsigned char addr[sizeof(struct in6_addr)];

    if (tls_server_name_check(name) < 0)
        return BW_EINVAL;
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) != 1)
            return BW_EINVAL;
        return 0;
    }
    SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                  X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (SSL_set1_host(c->ssl, name) != 1 || SSL_set_tlsext_host_name(c->ssl, name) != 1)
        return BW_EINVAL;
    return 0;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *server_name)
{
    struct tls_conn *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->role = ctx->role;
    c->anon_peer = ctx->anon_peer;
    c->ssl = SSL_new(ctx->ssl);
    c->rbio = tls_mem_bio();
    c->wbio = tls_mem_bio();
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        goto fail;
    }
    SSL_set_bio(c->ssl, c->rbio, c->wbio);  /* ssl owns both now */
    if (c->role == TLS_ROLE_SERVER) {
        SSL_set_accept_state(c->ssl);
    } else {
        if (tls_conn_set_peer_name(c, server_name) < 0)
            goto fail;
        SSL_set_connect_state(c->ssl);
    }
    ERR_clear_error();
    return c;
fail:
    ERR_clear_error();
    tls_conn_free(c);
    return NULL;
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    free(c);
}

int tls_conn_use_identity(struct tls_conn *c, const struct tls_identity *id)
{
    int rc = 0;

    if (c->failed || c->established || !SSL_in_before(c->ssl))
        return BW_EINVAL;
    ERR_clear_error();
    /* Takes references: id may be freed while the conn lives. */
    if (SSL_use_cert_and_key(c->ssl, id->cert, id->key, id->chain, 1) != 1)
        rc = BW_EINVAL;
    ERR_clear_error();
    return rc;
}

/* Records the reason for a fatal error and poisons the conn. A failed
 * handshake still leaves its alert in wbio for tls_conn_take_output(). */
static int tls_conn_fail(struct tls_conn *c, const char *what)
{
    char reason[160];
    long vr = SSL_get_verify_result(c->ssl);

    tls_reason(reason, sizeof reason, "unknown error");
    if (vr != X509_V_OK) {
        snprintf(c->err, sizeof c->err, "%s: %s (%s)", what, reason,
                 X509_verify_cert_error_string(vr));
    } else {
        snprintf(c->err, sizeof c->err, "%s: %s", what, reason);
    }
    tls_lower(c->err);
    c->failed = true;
    return BW_ETLS;
}

/* Copies the verified peer's subject CN. 0 if there is exactly one CN of
 * 1..64 bytes without NUL, BW_ENOTFOUND otherwise. */
static int tls_conn_copy_cn(struct tls_conn *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    X509_NAME *subj;
    unsigned char *utf8 = NULL;
    int i, n, rc = BW_ENOTFOUND;

    if (!peer || SSL_get_verify_result(c->ssl) != X509_V_OK)
        return BW_ENOTFOUND;
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(peer), &tm) == 1)
        c->peer_not_after = (int64_t)timegm(&tm);
    subj = X509_get_subject_name(peer);
    i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (i < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, i) >= 0)
        return BW_ENOTFOUND;
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
    if (n <= 0 || n > TLS_CN_MAX || memchr(utf8, '\0', (size_t)n))
        goto out;
    memcpy(c->peer_cn, utf8, (size_t)n);
    c->peer_cn[n] = '\0';
    rc = 0;
out:
    OPENSSL_free(utf8);
    return rc;
}

int tls_conn_handshake(struct tls_conn *c)
{
    int r;

    if (c->failed)
        return BW_ETLS;
    if (c->established)
        return 1;
    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        if (tls_conn_copy_cn(c) < 0 && c->role == TLS_ROLE_SERVER && !c->anon_peer) {
            /* The CN is the agent's identity: without one we cannot serve. */
            snprintf(c->err, sizeof c->err, "peer certificate has no usable common name");
            c->failed = true;
            return BW_ETLS;
        }
        c->established = true;
        return 1;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    default:
        return tls_conn_fail(c, "handshake failed");
    }
}

bool tls_conn_established(const struct tls_conn *c)
{
    return c->established && !c->failed;
}

/* Replaces a drained memory BIO whose buffer grew past TLS_BIO_KEEP (a
 * mem BIO keeps its largest buffer until freed). */
static void tls_conn_trim_above(struct tls_conn *c, bool reading, size_t keep)
{
    BIO *b = reading ? c->rbio : c->wbio;
    size_t *peak = reading ? &c->rbio_peak : &c->wbio_peak;
    BIO *fresh;

    if (*peak <= keep || BIO_ctrl_pending(b) != 0)
        return;
    if ((fresh = tls_mem_bio()) == NULL)
        return;  /* keep the big one; correctness does not depend on it */
    if (reading) {
        SSL_set0_rbio(c->ssl, fresh);  /* frees the old one */
        c->rbio = fresh;
    } else {
        SSL_set0_wbio(c->ssl, fresh);
        c->wbio = fresh;
    }
    *peak = 0;
}

static void tls_conn_trim(struct tls_conn *c, bool reading)
{
    tls_conn_trim_above(c, reading, TLS_BIO_KEEP);
}

void tls_conn_shrink(struct tls_conn *c)
{
    if (c->failed)
        return;
    tls_conn_trim_above(c, true, 0);
    tls_conn_trim_above(c, false, 0);
    if (c->established)
        SSL_free_buffers(c->ssl);  /* fails harmlessly while a record is pending */
}

int tls_conn_feed(struct tls_conn *c, const void *p, size_t n)
{
    const uint8_t *q = p;
    size_t done, pending;

    if (c->failed)
        return BW_ETLS;
    while (n > 0) {
        size_t chunk = n > INT_MAX ? INT_MAX : n;

        if (BIO_write_ex(c->rbio, q, chunk, &done) != 1 || done == 0) {
            snprintf(c->err, sizeof c->err, "cannot buffer %zu bytes of input", chunk);
            c->failed = true;
            return BW_ETLS;
        }
        q += done;
        n -= done;
    }
    pending = BIO_ctrl_pending(c->rbio);
    if (pending > c->rbio_peak)
        c->rbio_peak = pending;
    if (!c->established && tls_conn_handshake(c) < 0)
        return BW_ETLS;
    return 0;
}

long tls_conn_read(struct tls_conn *c, struct buf *out)
{
    long total = 0;
    size_t got;
    uint8_t *p;

    if (c->failed)
        return BW_ETLS;
    if (c->peer_closed)
        return BW_ECLOSED;
    if (!c->established)
        return 0;
    /* Nothing buffered on either side of the SSL: no read, and no 16 KiB
     * reserved in out (an idle stream's buffer stays released). */
    if (BIO_ctrl_pending(c->rbio) == 0 && !SSL_has_pending(c->ssl))
        return 0;
    ERR_clear_error();
    while (out->max > buf_size(out)) {
        size_t room = out->max - buf_size(out);
        size_t chunk = room < TLS_READ_CHUNK ? room : TLS_READ_CHUNK;
        int r;

        if ((p = buf_reserve(out, chunk)) == NULL)
            return total > 0 ? total : BW_ENOMEM;
        r = SSL_read_ex(c->ssl, p, chunk, &got);
        if (r == 1) {
            buf_commit(out, got);
            total += (long)got;
            continue;
        }
        switch (SSL_get_error(c->ssl, r)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            goto out;
        case SSL_ERROR_ZERO_RETURN:
            c->peer_closed = true;
            return total > 0 ? total : BW_ECLOSED;
        default:
            tls_conn_fail(c, "read failed");
            return total > 0 ? total : BW_ETLS;  /* the error shows next call */
        }
    }
out:
    tls_conn_trim(c, true);
    return total;
}

int tls_conn_write(struct tls_conn *c, const void *p, size_t n)
{
    size_t done, pending;

    if (c->failed)
        return BW_ETLS;
    if (!c->established || c->shut) {
        snprintf(c->err, sizeof c->err, "write %s",
                 c->shut ? "after shutdown" : "before the handshake completed");
        return BW_ETLS;
    }
    if (n == 0)
        return 0;
    ERR_clear_error();
    /* Partial writes are off and wbio is an unbounded memory BIO, so one
     * call encrypts everything or fails. */
    if (SSL_write_ex(c->ssl, p, n, &done) != 1 || done != n)
        return tls_conn_fail(c, "write failed");
    pending = BIO_ctrl_pending(c->wbio);
    if (pending > c->wbio_peak)
        c->wbio_peak = pending;
    return 0;
}

size_t tls_conn_take_output(struct tls_conn *c, struct buf *out)
{
    size_t moved = 0, pending = BIO_ctrl_pending(c->wbio), got;
    uint8_t *p;

    if (pending > c->wbio_peak)
        c->wbio_peak = pending;
    while ((pending = BIO_ctrl_pending(c->wbio)) > 0 && out->max > buf_size(out)) {
        size_t room = out->max - buf_size(out);
        size_t chunk = pending < room ? pending : room;

        if (chunk > TLS_OUT_CHUNK)
            chunk = TLS_OUT_CHUNK;
        if ((p = buf_reserve(out, chunk)) == NULL)
            break;
        if (BIO_read_ex(c->wbio, p, chunk, &got) != 1 || got == 0)
            break;
        buf_commit(out, got);
        moved += got;
    }
    tls_conn_trim(c, false);
    return moved;
}

void tls_conn_shutdown(struct tls_conn *c)
{
    if (c->failed || !c->established || c->shut)
        return;
    ERR_clear_error();
    (void)SSL_shutdown(c->ssl);  /* queues close_notify in wbio */
    ERR_clear_error();
    c->shut = true;
}

/* A memory BIO keeps the largest buffer it needed until it is recycled, so
 * what it costs is its peak since then, not what it holds now. */
static size_t tls_bio_held(BIO *b, size_t peak)
{
    size_t pending = BIO_ctrl_pending(b);

    return pending > peak ? pending : peak;
}

size_t tls_conn_input_held(const struct tls_conn *c)
{
    /* A partial record waits in OpenSSL's own read buffer (released when
     * empty under SSL_MODE_RELEASE_BUFFERS), which holds a whole record. */
    size_t record = SSL_has_pending(c->ssl) ? TLS_RECORD_BUF : 0;

    return tls_bio_held(c->rbio, c->rbio_peak) + record;
}

size_t tls_conn_output_held(const struct tls_conn *c)
{
    return tls_bio_held(c->wbio, c->wbio_peak);
}

size_t tls_conn_output_pending(const struct tls_conn *c)
{
    return BIO_ctrl_pending(c->wbio);
}

const char *tls_conn_peer_cn(const struct tls_conn *c)
{
    /* Still given after a later failure, so the owner can log who it was. */
    if (!c->established || !c->peer_cn[0])
        return NULL;
    return c->peer_cn;
}

int64_t tls_conn_peer_not_after(const struct tls_conn *c)
{
    return c->established ? c->peer_not_after : 0;
}

const char *tls_conn_error(const struct tls_conn *c)
{
    return c->err;
}
