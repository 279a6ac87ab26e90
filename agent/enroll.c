/* enroll.c - the agent's enrollment (docs/security.md, "Enrollment"): at
 * start, with an enrollment token and no certificate yet, the agent makes
 * its EC P-256 key here, sends a certificate request with the token over
 * TLS that authenticates the server (tls_ca, the server name), and writes
 * the certificate it gets back beside its key. The key never leaves this
 * host; the token is read from a file and never logged.
 *
 * It runs before the agent's loop exists, so it is a plain blocking client
 * (socket timeouts bound every wait) over the same TLS and framing code as
 * the stream. */
#include <netdb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "bulwark/agent.h"
#include "bulwark/buf.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/limits.h"
#include "bulwark/log.h"
#include "bulwark/net.h"
#include "bulwark/secretfile.h"
#include "bulwark/tls.h"

#define ENROLL_TIMEOUT_S 15
#define ENROLL_ANSWER_MAX (64u * 1024)

/* A blocking TLS client on one socket. */
struct enroll_client {
    int fd;
    struct tls_ctx *ctx;
    struct tls_conn *tls;
    struct buf out;
    struct frame_reader reader;
};

static int enroll_connect(const char *hostport, char *err, size_t errlen)
{
    char host[256], ports[16];
    unsigned port;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    struct timeval tv = {.tv_sec = ENROLL_TIMEOUT_S};
    int fd = -1;

    if (net_split_host_port(hostport, host, sizeof host, &port) < 0 || port == 0) {
        snprintf(err, errlen, "'enroll_server' must be host:port, not '%s'", hostport);
        return -1;
    }
    snprintf(ports, sizeof ports, "%u", port);
    if (getaddrinfo(host, ports, &hints, &res) != 0) {
        snprintf(err, errlen, "cannot resolve '%s'", host);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to '%s'", hostport);
    return fd;
}

/* Sends what TLS has queued. */
static int enroll_flush(struct enroll_client *c)
{
    buf_reset(&c->out);
    tls_conn_take_output(c->tls, &c->out);
    for (size_t off = 0; off < buf_size(&c->out);) {
        ssize_t w = send(c->fd, buf_head(&c->out) + off, buf_size(&c->out) - off, MSG_NOSIGNAL);
        if (w <= 0)
            return BW_EIO;
        off += (size_t)w;
    }
    return 0;
}

/* Reads from the socket into TLS once. */
static int enroll_recv(struct enroll_client *c)
{
    uint8_t b[16384];
    ssize_t n = recv(c->fd, b, sizeof b, 0);

    if (n <= 0)
        return BW_ECLOSED;
    return tls_conn_feed(c->tls, b, (size_t)n);
}

/* Sends req and waits for one frame back (decoded into *out). */
static int enroll_exchange(struct enroll_client *c, const struct buf *req,
                           Bulwark__V1__Frame **out, char *err, size_t errlen)
{
    bool sent = false;
    const uint8_t *p;
    size_t len;
    int rc;

    for (;;) {
        rc = tls_conn_handshake(c->tls);
        if (enroll_flush(c) < 0 || rc < 0) {
            snprintf(err, errlen, "%s", rc < 0 ? tls_conn_error(c->tls) : "cannot send");
            return BW_ETLS;
        }
        if (rc == 1 && !sent) {
            if (tls_conn_write(c->tls, buf_head(req), buf_size(req)) < 0 || enroll_flush(c) < 0) {
                snprintf(err, errlen, "cannot send the request");
                return BW_EIO;
            }
            sent = true;
        }
        if (rc == 1) {
            long n = tls_conn_read(c->tls, &c->reader.in);
            if (n < 0 && n != BW_ECLOSED) {
                snprintf(err, errlen, "%s", tls_conn_error(c->tls));
                return BW_ETLS;
            }
            int fr = frame_reader_next(&c->reader, &p, &len);
            if (fr == 1) {
                if (!(*out = frame_decode(p, len, NULL))) {
                    snprintf(err, errlen, "the server's answer is not a frame");
                    return BW_EPROTO;
                }
                return 0;
            }
            if (fr < 0 || n == BW_ECLOSED) {
                snprintf(err, errlen, "the server closed without an answer");
                return BW_EPROTO;
            }
        }
        if (enroll_recv(c) < 0) {
            snprintf(err, errlen, "%s", *tls_conn_error(c->tls) ? tls_conn_error(c->tls)
                                        : "the server closed or timed out without an answer");
            return BW_EIO;
        }
    }
}

/* Enrolls and writes cfg->tls_key and cfg->tls_cert. */
static int agent_enroll_run(const struct agent_config *cfg, const char *hostname,
                            const char *server_name, char *err, size_t errlen)
{
    struct enroll_client c = {.fd = -1};
    Bulwark__V1__Frame f = BULWARK__V1__FRAME__INIT, *ans = NULL;
    Bulwark__V1__EnrollRequest r = BULWARK__V1__ENROLL_REQUEST__INIT;
    char *token = NULL, *key_pem = NULL, *csr_pem = NULL;
    struct buf req;
    int rc;

    buf_init(&req, BW_LIMIT_HELLO_FRAME);
    buf_init(&c.out, 1u << 20);
    frame_reader_init(&c.reader, ENROLL_ANSWER_MAX);
    if ((rc = secretfile_read(cfg->enroll_token_file, BW_LIMIT_ENROLL_TOKEN, &token)) < 0) {
        snprintf(err, errlen, "cannot read an enrollment token from '%s'",
                 cfg->enroll_token_file);
        goto out;
    }
    if ((rc = tls_csr_new(hostname, &key_pem, &csr_pem, err, errlen)) < 0)
        goto out;
    r.token = token;
    r.csr_pem = csr_pem;
    r.hostname = (char *)hostname;
    f.msg_case = BULWARK__V1__FRAME__MSG_ENROLL_REQUEST;
    f.enroll_request = &r;
    if ((rc = frame_encode(&f, BW_LIMIT_HELLO_FRAME, &req)) < 0) {
        snprintf(err, errlen, "enrollment request too large");
        goto out;
    }
    rc = BW_EIO;
    if (!(c.ctx = tls_ctx_new_multi(cfg->tls_ca, err, errlen)))
        goto out;
    if (!(c.tls = tls_conn_new(c.ctx, server_name))) {
        snprintf(err, errlen, "cannot set up tls for '%s'", server_name);
        goto out;
    }
    if ((c.fd = enroll_connect(cfg->enroll_server, err, errlen)) < 0)
        goto out;
    if ((rc = enroll_exchange(&c, &req, &ans, err, errlen)) < 0)
        goto out;
    rc = BW_EAUTH;
    if (ans->msg_case == BULWARK__V1__FRAME__MSG_ERROR) {
        snprintf(err, errlen, "refused by the server: %.300s", ans->error->message);
        goto out;
    }
    if (ans->msg_case != BULWARK__V1__FRAME__MSG_ENROLL_ANSWER || !*ans->enroll_answer->cert_pem) {
        snprintf(err, errlen, "the server's answer is not a certificate");
        goto out;
    }
    if (tls_cert_install(cfg->tls_cert, cfg->tls_key, ans->enroll_answer->cert_pem,
                         key_pem) < 0) {
        snprintf(err, errlen, "cannot write '%s' and '%s'", cfg->tls_key, cfg->tls_cert);
        rc = BW_EIO;
        goto out;
    }
    log_msg(LOG_INFO, "enroll", "enrolled as agent %s; certificate in %s",
            ans->enroll_answer->agent_id, cfg->tls_cert);
    rc = 0;
out:
    frame_free(ans, NULL);
    if (c.fd >= 0)
        close(c.fd);
    tls_conn_free(c.tls);
    tls_ctx_free(c.ctx);
    frame_reader_release(&c.reader);
    buf_release(&c.out);
    if (req.data)
        OPENSSL_cleanse(req.data, req.cap);  /* it held the token */
    buf_release(&req);
    if (token) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    if (key_pem) {
        OPENSSL_cleanse(key_pem, strlen(key_pem));
        free(key_pem);
    }
    free(csr_pem);
    return rc;
}

int agent_enroll(const struct agent_config *cfg, const char *hostname, const char *server_name)
{
    char err[512] = "";
    struct stat st;
    int rc;

    if ((rc = tls_cert_recover(cfg->tls_cert, cfg->tls_key)) != 0)
        log_msg(rc > 0 ? LOG_INFO : LOG_ERROR, "enroll", "%s the key and certificate a crash "
                "left half-installed (%s)", rc > 0 ? "finished installing" : "cannot finish "
                "installing", cfg->tls_key);
    if (!*cfg->enroll_token_file || access(cfg->tls_cert, F_OK) == 0)
        return 0;  /* enrolled before (or not asked to) */
    log_msg(LOG_INFO, "enroll", "no certificate at %s: enrolling with %s", cfg->tls_cert,
            cfg->enroll_server);
    if (stat(cfg->enroll_token_file, &st) == 0 && (st.st_mode & 077))
        log_msg(LOG_WARN, "enroll", "'%s' is readable by others (mode %03o): make it 0600",
                cfg->enroll_token_file, (unsigned)(st.st_mode & 0777));
    rc = agent_enroll_run(cfg, hostname, server_name, err, sizeof err);
    if (rc < 0)
        log_msg(LOG_ERROR, "enroll", "enrollment failed: %s", err);
    return rc;
}
