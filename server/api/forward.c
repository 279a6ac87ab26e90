/* forward.c - push to SIEMs (include/bulwark/forward.h): one thread per
 * destination, each with its own store reader and its own short-transaction
 * connection for its cursors (store_admin), like the API's threads. It lives
 * in server/api/ because it is the export's push twin: it renders records
 * with the same encoders (native JSON, ECS, OCSF, CEF) and follows the same
 * ascending-id cursor contract.
 *
 * TLS: a blocking SSL on an ordinary socket, with send/receive timeouts.
 * The thread does nothing but talk to its destination, so blocking costs
 * nothing and keeps each exchange a straight line; common/tls.c's memory
 * BIOs are for the loop, which must never block. forward_stop() shuts the
 * socket down to end a blocked read or write at once.
 *
 * Delivery: a batch's cursor advances only after the destination has taken
 * it (HTTP 2xx; for syslog, the bytes written to a connection the receiver
 * had not closed), so every record is delivered at least once and, unless
 * bulwarkd dies between a delivery and its cursor commit, exactly once.
 * Syslog has no acknowledgement: before each batch the connection is
 * checked for the receiver having closed it (a receiver never sends), so a
 * receiver stopped between batches loses nothing; one that dies in the
 * middle of a batch can lose what the kernel had accepted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "api_internal.h"
#include "bulwark/secretfile.h"
#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/forward.h"
#include "bulwark/log.h"

#define FWD_BATCH 200u                      /* records per delivery */
#define FWD_RECORD_MAX (1024u * 1024)       /* one rendered record */
#define FWD_BODY_MAX (8u * 1024 * 1024)     /* one delivery */
#define FWD_SECRET_MAX 4096u
#define FWD_IO_TIMEOUT_S 10
#define FWD_CONNECT_TIMEOUT_MS 5000
#define FWD_RETRY_MIN_MS 250u
#define FWD_SYSLOG_FACILITY 4               /* security/authorization (RFC 5424) */

enum fwd_kind { FWD_SYSLOG, FWD_HEC, FWD_WEBHOOK };
enum { STREAM_ALERTS, STREAM_EVENTS, STREAMS };
static const char *const stream_name[STREAMS] = {"alerts", "events"};

struct forwarder;

struct fwd_dest {
    struct forwarder *f;
    enum fwd_kind kind;
    const char *name;          /* the cursor's key: syslog, hec, webhook */
    char host[256], port[8], path[1024];
    char *secret;              /* HEC token or HMAC key; never logged */
    bool cef;
    json_t *(*event_json)(const struct store_row *row);
    json_t *(*alert_json)(const struct store_alert_row *row);
    SSL_CTX *ctx;
    SSL *ssl;                  /* syslog keeps its connection; HTTP makes one per batch */
    int fd;                    /* under f->mu (forward_stop shuts it down) */
    struct store_reader *reader;
    struct store_admin *admin;
    int64_t cursor[STREAMS];
    struct buf body, one;
    uint32_t batch_n;
    int64_t batch_last;
    int stream;
    char why[256];             /* the last failure, for the log */
    bool down;
    pthread_t thread;
    bool started;
};

struct forwarder {
    const struct server_config *cfg;
    char hostname[256];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    size_t n;
    struct fwd_dest d[3];
};

/* ------------------------------------------------------------ connection */

static bool S_stopping(struct forwarder *f);

static void S_close(struct fwd_dest *d)
{
    struct forwarder *f = d->f;
    SSL *ssl;
    int fd;

    pthread_mutex_lock(&f->mu);
    ssl = d->ssl;
    fd = d->fd;
    d->ssl = NULL;
    d->fd = -1;
    pthread_mutex_unlock(&f->mu);
    if (ssl) {
        SSL_shutdown(ssl);  /* one close_notify, no waiting for the peer's */
        SSL_free(ssl);
    }
    if (fd >= 0)
        close(fd);
}

static int S_tcp(struct fwd_dest *d)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    struct timeval tv = {.tv_sec = FWD_IO_TIMEOUT_S};
    int fd = -1, gai, one = 1;

    if ((gai = getaddrinfo(d->host, d->port, &hints, &res)) != 0) {
        snprintf(d->why, sizeof d->why, "resolve: %s", gai_strerror(gai));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        struct pollfd p;
        int err = 0;
        socklen_t len = sizeof err;

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
        } else {
            /* In slices, so that forward_stop() never waits for a
             * destination that drops SYNs. */
            int ready = 0;
            for (int waited = 0; ready == 0 && waited < FWD_CONNECT_TIMEOUT_MS &&
                                 !S_stopping(d->f);
                 waited += 250) {
                p = (struct pollfd){.fd = fd, .events = POLLOUT};
                ready = poll(&p, 1, 250);
            }
            if (ready != 1)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
        if (err == 0)
            break;
        snprintf(d->why, sizeof d->why, "connect: %s", strerror(err));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void S_tls_why(struct fwd_dest *d, const char *what)
{
    unsigned long e = ERR_get_error();
    long vr = d->ssl ? SSL_get_verify_result(d->ssl) : X509_V_OK;

    if (vr != X509_V_OK)
        snprintf(d->why, sizeof d->why, "%s: certificate: %s", what,
                 X509_verify_cert_error_string(vr));
    else if (e)
        snprintf(d->why, sizeof d->why, "%s: %s", what, ERR_reason_error_string(e));
    else
        snprintf(d->why, sizeof d->why, "%s: connection closed", what);
    ERR_clear_error();
}

/* A TLS connection whose certificate is valid for d->host. */
static int S_connect(struct fwd_dest *d)
{
    struct forwarder *f = d->f;
    struct in6_addr a6;
    SSL *ssl;
    int fd;

    if ((fd = S_tcp(d)) < 0)
        return BW_EIO;
    if (!(ssl = SSL_new(d->ctx))) {
        close(fd);
        snprintf(d->why, sizeof d->why, "out of memory");
        return BW_ENOMEM;
    }
    pthread_mutex_lock(&f->mu);
    d->fd = fd;
    d->ssl = ssl;
    if (f->stop)
        shutdown(fd, SHUT_RDWR);
    pthread_mutex_unlock(&f->mu);
    SSL_set_fd(ssl, fd);
    if (inet_pton(AF_INET, d->host, &a6) == 1 || inet_pton(AF_INET6, d->host, &a6) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), d->host);
    } else {
        SSL_set_tlsext_host_name(ssl, d->host);
        SSL_set1_host(ssl, d->host);
    }
    if (SSL_connect(ssl) != 1) {
        S_tls_why(d, "tls handshake");
        S_close(d);
        return BW_EIO;
    }
    return 0;
}

static int S_write(struct fwd_dest *d, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        int chunk = n > 1u << 20 ? 1 << 20 : (int)n;
        int w = SSL_write(d->ssl, c, chunk);
        if (w <= 0) {
            S_tls_why(d, "send");
            return BW_EIO;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The receiver of a syslog stream never sends: anything readable on the
 * socket (its close_notify, EOF, an error) means it has gone away. */
static bool S_peer_gone(struct fwd_dest *d)
{
    struct pollfd p = {.fd = d->fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

/* ---------------------------------------------------------------- HTTP */

/* One POST on a fresh connection (Connection: close); 0 on a 2xx status. */
static int S_post(struct fwd_dest *d, const char *content_type, const char *extra_headers)
{
    char head[2048], resp[512];
    size_t got = 0;
    int n, rc, status = 0;

    if ((rc = S_connect(d)) < 0)
        return rc;
    n = snprintf(head, sizeof head,
                 "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: bulwarkd/%s\r\n"
                 "Content-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                 d->path, d->host, d->port, BULWARK_VERSION, content_type, buf_size(&d->body),
                 extra_headers);
    if (n < 0 || (size_t)n >= sizeof head) {
        snprintf(d->why, sizeof d->why, "request headers too long");
        rc = BW_EINVAL;
        goto out;
    }
    if ((rc = S_write(d, head, (size_t)n)) < 0 ||
        (rc = S_write(d, buf_head(&d->body), buf_size(&d->body))) < 0)
        goto out;
    /* The status line is all we need. */
    while (got < sizeof resp - 1 && !memchr(resp, '\n', got)) {
        int r = SSL_read(d->ssl, resp + got, (int)(sizeof resp - 1 - got));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    resp[got] = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        snprintf(d->why, sizeof d->why, "no HTTP answer");
        rc = BW_EIO;
    } else if (status < 200 || status > 299) {
        snprintf(d->why, sizeof d->why, "HTTP status %d", status);
        rc = BW_EIO;
    }
out:
    S_close(d);
    return rc;
}

static int S_hmac_hex(const char *key, const char *ts, const struct buf *body, char *hex)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mc = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    unsigned char md[32];
    size_t mdlen = 0;
    int rc = BW_EIO;

    if (mc && EVP_MAC_init(mc, (const unsigned char *)key, strlen(key), params) == 1 &&
        EVP_MAC_update(mc, (const unsigned char *)ts, strlen(ts)) == 1 &&
        EVP_MAC_update(mc, (const unsigned char *)".", 1) == 1 &&
        EVP_MAC_update(mc, buf_head(body), buf_size(body)) == 1 &&
        EVP_MAC_final(mc, md, &mdlen, sizeof md) == 1 && mdlen == sizeof md) {
        for (size_t i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        rc = 0;
    }
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(mac);
    return rc;
}

/* ----------------------------------------------------------- rendering */

/* Wraps d->one for the destination and appends it to the batch body. */
static int S_wrap(struct fwd_dest *d, int64_t time_ns, int32_t severity, const char *host)
{
    struct buf *b = &d->body;
    size_t mark = b->len;
    int rc = 0;

    if (d->kind == FWD_SYSLOG) {
        /* RFC 5424 with octet counting (RFC 5425): "LEN SP <PRI>1 TIME HOST
         * APP PROCID MSGID - MSG". The syslog severity mirrors ours. */
        int sev = severity <= 0 ? 6 : severity > 8 ? 0 : 8 - severity;
        char hdr[512];
        struct tm tm;
        time_t t = (time_t)(time_ns / 1000000000);
        int n;

        if (sev > 7)
            sev = 7;
        gmtime_r(&t, &tm);
        n = snprintf(hdr, sizeof hdr, "<%d>1 %04d-%02d-%02dT%02d:%02d:%02d.%06dZ %s bulwarkd %d %s - ",
                     FWD_SYSLOG_FACILITY * 8 + sev, tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)((time_ns % 1000000000) / 1000), d->f->hostname, (int)getpid(),
                     d->stream == STREAM_ALERTS ? "alert" : "event");
        rc = buf_printf(b, "%zu %s", (size_t)n + buf_size(&d->one), hdr);
    } else if (d->kind == FWD_HEC) {
        json_t *h = api_str(host && *host ? host : d->f->hostname);
        char *hs = h ? json_dumps(h, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
        json_decref(h);
        if (!hs)
            return BW_ENOMEM;
        rc = buf_printf(b, "{\"time\":%lld.%03lld,\"host\":%s,\"source\":\"bulwarkd\","
                           "\"sourcetype\":\"bulwark:%s\",\"event\":",
                        (long long)(time_ns / 1000000000),
                        (long long)((time_ns % 1000000000) / 1000000), hs,
                        d->stream == STREAM_ALERTS ? "alert" : "event");
        free(hs);
    } else if (d->batch_n > 0) {
        rc = buf_append(b, ",", 1);
    }
    if (rc == 0)
        rc = buf_append(b, buf_head(&d->one), buf_size(&d->one));
    if (rc == 0 && d->kind == FWD_HEC)
        rc = buf_append(b, "}\n", 2);
    if (rc < 0)
        b->len = mark;  /* the batch stays whole without this record */
    return rc;
}

/* Adds one rendered record to the batch: 1 stops the query when the batch
 * is full; a record too large for any batch is skipped, with a warning. */
static int S_add(struct fwd_dest *d, int rc, int64_t id, int64_t time_ns, int32_t sev,
                 const char *host)
{
    if (rc == 0)
        rc = S_wrap(d, time_ns, sev, host);
    buf_reset(&d->one);
    if (rc == BW_ETOOBIG && d->batch_n > 0)
        return 1;  /* the next delivery starts with it */
    if (rc < 0 && rc != BW_ETOOBIG)
        return rc;
    if (rc < 0)
        log_msg(LOG_WARN, "forward", "%s: %s %lld is too large to forward: skipped", d->name,
                stream_name[d->stream], (long long)id);
    else
        d->batch_n++;
    d->batch_last = id;
    return 0;
}

static int on_alert(const struct store_alert_row *row, void *ctx)
{
    struct fwd_dest *d = ctx;
    int rc = d->cef ? enc_cef_alert(row, &d->one) : api_json_append(&d->one, d->alert_json(row));
    return S_add(d, rc, row->id, row->first_seen_ns, row->priority, row->hostname);
}

static int on_event(const struct store_row *row, void *ctx)
{
    struct fwd_dest *d = ctx;
    int rc = d->cef ? enc_cef_event(row, &d->one) : api_json_append(&d->one, d->event_json(row));
    return S_add(d, rc, row->id, row->time_ns, row->severity, row->hostname);
}

/* ------------------------------------------------------------ delivery */

static int S_deliver(struct fwd_dest *d)
{
    char ts[32], sig[80], headers[FWD_SECRET_MAX + 128];

    switch (d->kind) {
    case FWD_SYSLOG:
        if (d->ssl && S_peer_gone(d))
            S_close(d);
        if (!d->ssl && S_connect(d) < 0)
            return BW_EIO;
        return S_write(d, buf_head(&d->body), buf_size(&d->body));
    case FWD_HEC:
        snprintf(headers, sizeof headers, "Authorization: Splunk %s\r\n", d->secret);
        return S_post(d, "application/json", headers);
    case FWD_WEBHOOK:
        /* body: {"stream":"alerts","records":[...]}; the signature covers
         * "<timestamp>.<body>" (docs/api.md). */
        snprintf(ts, sizeof ts, "%lld", (long long)(clock_wall_ns() / 1000000000));
        if (S_hmac_hex(d->secret, ts, &d->body, sig) < 0) {
            snprintf(d->why, sizeof d->why, "hmac failed");
            return BW_EIO;
        }
        snprintf(headers, sizeof headers,
                 "X-Bulwark-Timestamp: %s\r\nX-Bulwark-Signature: v1=%s\r\n", ts, sig);
        return S_post(d, "application/json", headers);
    }
    return BW_EINVAL;
}

/* One batch of a stream: the number of records delivered, or < 0. */
static int S_batch(struct fwd_dest *d, int stream)
{
    int rc;

    d->stream = stream;
    d->batch_n = 0;
    d->batch_last = d->cursor[stream];
    buf_reset(&d->body);
    buf_reset(&d->one);
    if (d->kind == FWD_WEBHOOK &&
        (rc = buf_printf(&d->body, "{\"stream\":\"%s\",\"records\":[", stream_name[stream])) < 0)
        return rc;
    if (stream == STREAM_ALERTS) {
        struct store_alert_query q = {.ascending = true, .after_id = d->cursor[stream],
                                      .limit = FWD_BATCH};
        rc = store_query_alerts(d->reader, &q, on_alert, d);
    } else {
        struct store_query q = {.ascending = true, .after_id = d->cursor[stream],
                                .limit = FWD_BATCH};
        rc = store_query_events(d->reader, &q, on_event, d);
    }
    if (rc < 0) {
        snprintf(d->why, sizeof d->why, "store: %s", bw_strerror(rc));
        return rc;
    }
    if (d->batch_last == d->cursor[stream])
        return 0;
    if (d->batch_n > 0) {
        if (d->kind == FWD_WEBHOOK && (rc = buf_append(&d->body, "]}", 2)) < 0)
            return rc;
        if ((rc = S_deliver(d)) < 0)
            return rc;
    }
    if ((rc = store_forward_cursor_put(d->admin, d->name, stream_name[stream], d->batch_last,
                                       clock_wall_ns())) < 0) {
        snprintf(d->why, sizeof d->why, "store the cursor: %s", bw_strerror(rc));
        return rc;
    }
    d->cursor[stream] = d->batch_last;
    return (int)d->batch_n + 1;
}

static int S_open_store(struct fwd_dest *d)
{
    char err[200];
    int rc;

    if (d->reader)
        return 0;
    if ((rc = store_reader_open(&d->reader, d->f->cfg->db, err, sizeof err)) < 0 ||
        (rc = store_admin_open(&d->admin, d->f->cfg->db, err, sizeof err)) < 0)
        goto fail;
    for (int s = 0; s < STREAMS; s++)
        if ((rc = store_forward_cursor_get(d->admin, d->name, stream_name[s], &d->cursor[s])) < 0)
            goto fail;
    return 0;
fail:
    snprintf(d->why, sizeof d->why, "store: %s", rc == BW_EIO ? err : bw_strerror(rc));
    store_reader_close(d->reader);
    store_admin_close(d->admin);
    d->reader = NULL;
    d->admin = NULL;
    return rc;
}

/* Sleeps ms unless stopped; true when stopping. */
static bool S_wait(struct forwarder *f, uint32_t ms)
{
    struct timespec until;
    bool stop;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mu);
    while (!f->stop && pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0)
        ;
    stop = f->stop;
    pthread_mutex_unlock(&f->mu);
    return stop;
}

static bool S_stopping(struct forwarder *f)
{
    bool stop;
    pthread_mutex_lock(&f->mu);
    stop = f->stop;
    pthread_mutex_unlock(&f->mu);
    return stop;
}

static void *S_run(void *arg)
{
    struct fwd_dest *d = arg;
    struct forwarder *f = d->f;
    uint32_t backoff = 0, max = f->cfg->forward_retry_max_ms;
    int streams = f->cfg->forward_events ? STREAMS : 1;

    while (!S_stopping(f)) {
        int rc = S_open_store(d), moved = 0;

        for (int s = 0; rc == 0 && s < streams && !S_stopping(f); s++) {
            int n = S_batch(d, s);
            if (n < 0)
                rc = n;
            else
                moved += n;
        }
        if (rc < 0) {
            S_close(d);
            if (S_stopping(f))
                break;
            backoff = backoff == 0 ? FWD_RETRY_MIN_MS : backoff >= max / 2 ? max : backoff * 2;
            if (!d->down)
                log_msg(LOG_WARN, "forward", "%s %s:%s: down (%s); retrying, backoff up to %u ms",
                        d->name, d->host, d->port, d->why, max);
            else
                log_msg(LOG_DEBUG, "forward", "%s: still down (%s); next try in %u ms", d->name,
                        d->why, backoff);
            d->down = true;
            S_wait(f, backoff);
            continue;
        }
        if (d->down)
            log_msg(LOG_INFO, "forward", "%s %s:%s: delivering again from alert %lld", d->name,
                    d->host, d->port, (long long)d->cursor[STREAM_ALERTS]);
        d->down = false;
        backoff = 0;
        if (moved == 0)
            S_wait(f, f->cfg->forward_poll_ms);
    }
    S_close(d);
    store_reader_close(d->reader);
    store_admin_close(d->admin);
    d->reader = NULL;
    d->admin = NULL;
    return NULL;
}

/* ---------------------------------------------------------------- setup */

/* https://host[:port][/path] -> d (no user info: credentials belong in
 * the token or secret file, never in a URL that could be logged). */
static int S_parse_url(struct fwd_dest *d, const char *url, const char *default_path)
{
    const char *p = url + strlen("https://"), *end, *colon;
    size_t hl;

    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        return BW_ECONFIG;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return BW_ECONFIG;
        hl = (size_t)(rb - p - 1);
        memcpy(d->host, p + 1, hl < sizeof d->host ? hl : 0);
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hl = (size_t)((colon ? colon : end) - p);
        if (hl < sizeof d->host)
            memcpy(d->host, p, hl);
    }
    if (hl == 0 || hl >= sizeof d->host)
        return BW_ECONFIG;
    d->host[hl] = 0;
    if (colon) {
        size_t pl = (size_t)(end - colon - 1);
        if (pl == 0 || pl >= sizeof d->port || strspn(colon + 1, "0123456789") < pl)
            return BW_ECONFIG;
        memcpy(d->port, colon + 1, pl);
        d->port[pl] = 0;
    } else {
        snprintf(d->port, sizeof d->port, "443");
    }
    snprintf(d->path, sizeof d->path, "%s", *end == '/' ? end : default_path);
    return strpbrk(d->path, " \r\n") ? BW_ECONFIG : 0;
}

static int S_parse_hostport(struct fwd_dest *d, const char *hp)
{
    const char *colon = strrchr(hp, ':');
    size_t hl;

    if (!colon || colon == hp || !colon[1] || strlen(colon + 1) >= sizeof d->port ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return BW_ECONFIG;
    if (*hp == '[' && colon[-1] == ']')
        hp++, hl = (size_t)(colon - hp - 1);
    else
        hl = (size_t)(colon - hp);
    if (hl == 0 || hl >= sizeof d->host)
        return BW_ECONFIG;
    memcpy(d->host, hp, hl);
    d->host[hl] = 0;
    snprintf(d->port, sizeof d->port, "%s", colon + 1);
    return 0;
}

static int S_dest(struct forwarder *f, enum fwd_kind kind, const char *where, const char *ca,
                  const char *secret_file, const char *format)
{
    struct fwd_dest *d = &f->d[f->n];
    static const char *const names[] = {"syslog", "hec", "webhook"};
    int rc;

    d->f = f;
    d->kind = kind;
    d->name = names[kind];
    d->fd = -1;
    buf_init(&d->body, FWD_BODY_MAX);
    buf_init(&d->one, FWD_RECORD_MAX);
    f->n++;
    rc = kind == FWD_SYSLOG ? S_parse_hostport(d, where)
                            : S_parse_url(d, where, kind == FWD_HEC ? "/services/collector/event"
                                                                    : "/");
    if (rc < 0) {
        /* Not echoed: a URL with user information would put a password in
         * the log. */
        log_msg(LOG_ERROR, "forward", "%s: the destination is not %s", d->name,
                kind == FWD_SYSLOG ? "host:port" : "https://host[:port][/path] without user@");
        return rc;
    }
    if (secret_file && *secret_file &&
        (rc = secretfile_read(secret_file, FWD_SECRET_MAX, &d->secret)) < 0) {
        log_msg(LOG_ERROR, "forward", "%s: cannot read a secret from '%s'", d->name,
                secret_file);
        return rc;
    }
    d->cef = strcmp(format, "cef") == 0;
    d->event_json = strcmp(format, "ecs") == 0    ? enc_ecs_event
                    : strcmp(format, "ocsf") == 0 ? enc_ocsf_event
                                                  : api_event_json;
    d->alert_json = strcmp(format, "ecs") == 0    ? enc_ecs_alert
                    : strcmp(format, "ocsf") == 0 ? enc_ocsf_alert
                                                  : api_alert_json;
    if (!(d->ctx = SSL_CTX_new(TLS_client_method())))
        return BW_ENOMEM;
    SSL_CTX_set_min_proto_version(d->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(d->ctx, SSL_VERIFY_PEER, NULL);
    if (ca && *ca ? SSL_CTX_load_verify_locations(d->ctx, ca, NULL) != 1
                  : SSL_CTX_set_default_verify_paths(d->ctx) != 1) {
        log_msg(LOG_ERROR, "forward", "%s: cannot load CA '%s'", d->name, ca && *ca ? ca : "system");
        ERR_clear_error();
        return BW_ECONFIG;
    }
    return 0;
}

int forward_start(struct forwarder **out, const struct server_config *cfg)
{
    struct forwarder *f;
    int rc = 0;

    *out = NULL;
    if (!*cfg->forward_syslog && !*cfg->forward_hec_url && !*cfg->forward_webhook_url)
        return 0;
    if (!(f = calloc(1, sizeof *f)))
        return BW_ENOMEM;
    f->cfg = cfg;
    pthread_mutex_init(&f->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&f->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (gethostname(f->hostname, sizeof f->hostname - 1) != 0 || !*f->hostname ||
        strpbrk(f->hostname, " \t"))
        snprintf(f->hostname, sizeof f->hostname, "-");
    if (*cfg->forward_syslog)
        rc = S_dest(f, FWD_SYSLOG, cfg->forward_syslog, cfg->forward_syslog_ca, NULL,
                    server_forward_format_names[cfg->forward_format]);
    if (rc == 0 && *cfg->forward_hec_url)
        rc = S_dest(f, FWD_HEC, cfg->forward_hec_url, cfg->forward_hec_ca,
                    cfg->forward_hec_token_file,
                    server_forward_format_names[1 + cfg->forward_json_format]);
    if (rc == 0 && *cfg->forward_webhook_url)
        rc = S_dest(f, FWD_WEBHOOK, cfg->forward_webhook_url, cfg->forward_webhook_ca,
                    cfg->forward_webhook_secret_file,
                    server_forward_format_names[1 + cfg->forward_json_format]);
    for (size_t i = 0; rc == 0 && i < f->n; i++) {
        if (pthread_create(&f->d[i].thread, NULL, S_run, &f->d[i]) != 0) {
            rc = BW_ENOMEM;
            break;
        }
        f->d[i].started = true;
        log_msg(LOG_INFO, "forward", "%s: forwarding %s to %s:%s", f->d[i].name,
                cfg->forward_events ? "alerts and events" : "alerts", f->d[i].host,
                f->d[i].port);
    }
    if (rc < 0) {
        forward_stop(f);
        return rc == BW_ENOMEM ? rc : BW_ECONFIG;
    }
    *out = f;
    return 0;
}

void forward_stop(struct forwarder *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    for (size_t i = 0; i < f->n; i++)
        if (f->d[i].fd >= 0)
            shutdown(f->d[i].fd, SHUT_RDWR);  /* ends a blocked read or write now */
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < f->n; i++) {
        struct fwd_dest *d = &f->d[i];
        if (d->started)
            pthread_join(d->thread, NULL);
        SSL_CTX_free(d->ctx);
        if (d->secret) {
            OPENSSL_cleanse(d->secret, strlen(d->secret));
            free(d->secret);
        }
        buf_release(&d->body);
        buf_release(&d->one);
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}
