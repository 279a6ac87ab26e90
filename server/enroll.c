/* enroll.c - enrollment, renewal and revocation on the server (see
 * bulwark/enroll.h and docs/security.md).
 *
 * A job (an enrollment or a renewal) is started on the loop thread, runs on
 * libuv's thread pool (the token check is SQLite, the signing is ECDSA) and
 * reports back on the loop thread. An enrollment first issues the
 * certificate and then redeems the token in one transaction, so a bad
 * request never consumes a use and a refused token never yields a
 * certificate. Refusals are audited by the store; failures count against
 * the peer address's bucket, and a peer whose bucket is empty is refused
 * before anything is checked.
 *
 * Revocations: `bulwarkd agent revoke ID` writes a row; this module reads
 * new rows every revocation_poll_ms (and on SIGHUP) on the thread pool, adds
 * them to an in-memory set the handshakes are checked against, and closes
 * the live streams of the newly revoked. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/api.h"
#include "bulwark/buf.h"
#include "bulwark/clock.h"
#include "bulwark/conn.h"
#include "bulwark/enroll.h"
#include "bulwark/err.h"
#include "bulwark/hash.h"
#include "bulwark/limits.h"
#include "bulwark/log.h"
#include "bulwark/ratelimit.h"
#include "bulwark/server.h"
#include "bulwark/store.h"
#include "bulwark/tls.h"

#define ENROLL_TOKEN_PREFIX "bwe_"
#define ENROLL_CERT_MAX (16u * 1024)
#define ENROLL_ID_HOST_MAX 40  /* bytes of the host name kept in a new agent id */
/* Renewals an agent may ask a minute (each is a signature and an audit
 * record); a real agent asks once per certificate. */
#define ENROLL_RENEWALS_PER_MIN 1.0
#define ENROLL_RENEWAL_BURST 3.0

struct enroll {
    struct server *srv;
    struct store_admin *admin;
    struct tls_ca *ca;          /* NULL when enrollment is off */
    int64_t lifetime_s;
    struct ratelimit rl;        /* failed enrollments per peer address */
    /* revoked agent ids: open addressing, load at most one half */
    char **revoked;
    size_t rcap, rcount;
    int64_t cursor;             /* the last revocation row read */
    uv_timer_t poll;
    uv_work_t poll_req;
    bool polling, poll_again, stopped;
    char **fresh;               /* read by the poll job */
    size_t nfresh, capfresh;
};

/* ------------------------------------------------------------ revoked set */

static bool revoked_has(const struct enroll *e, const char *id)
{
    if (e->rcount == 0)
        return false;
    for (size_t i = bw_hash(id, strlen(id)) & (e->rcap - 1);; i = (i + 1) & (e->rcap - 1)) {
        if (!e->revoked[i])
            return false;
        if (strcmp(e->revoked[i], id) == 0)
            return true;
    }
}

/* Adds a copy of id; 1 when new, 0 when known, BW_ENOMEM. */
static int revoked_add(struct enroll *e, const char *id)
{
    if (revoked_has(e, id))
        return 0;
    if ((e->rcount + 1) * 2 > e->rcap) {
        size_t ncap = e->rcap ? e->rcap * 2 : 64;
        char **n = calloc(ncap, sizeof *n);
        if (!n)
            return BW_ENOMEM;
        for (size_t i = 0; i < e->rcap; i++) {
            if (!e->revoked[i])
                continue;
            size_t j = bw_hash(e->revoked[i], strlen(e->revoked[i])) & (ncap - 1);
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = e->revoked[i];
        }
        free(e->revoked);
        e->revoked = n;
        e->rcap = ncap;
    }
    char *copy = strdup(id);
    if (!copy)
        return BW_ENOMEM;
    size_t i = bw_hash(id, strlen(id)) & (e->rcap - 1);
    while (e->revoked[i])
        i = (i + 1) & (e->rcap - 1);
    e->revoked[i] = copy;
    e->rcount++;
    return 1;
}

bool enroll_revoked(const struct enroll *e, const char *agent_id)
{
    return e && agent_id && revoked_has(e, agent_id);
}

/* ------------------------------------------------------------ revocation poll */

static int on_revocation_row(const char *agent_id, void *ctx)
{
    struct enroll *e = ctx;

    if (e->nfresh == e->capfresh) {
        size_t ncap = e->capfresh ? e->capfresh * 2 : 16;
        char **n = realloc(e->fresh, ncap * sizeof *n);
        if (!n)
            return BW_ENOMEM;
        e->fresh = n;
        e->capfresh = ncap;
    }
    if (!(e->fresh[e->nfresh] = strdup(agent_id)))
        return BW_ENOMEM;
    e->nfresh++;
    return 0;
}

static void on_poll_work(uv_work_t *req)
{
    struct enroll *e = req->data;
    int64_t cursor = e->cursor;

    /* Rows read before a failure are kept; the cursor moves past them only. */
    store_agent_revocations(e->admin, &cursor, on_revocation_row, e);
    e->cursor = cursor;
}

static void enroll_poll_start(struct enroll *e);

static void on_poll_done(uv_work_t *req, int status)
{
    struct enroll *e = req->data;

    (void)status;
    e->polling = false;
    for (size_t i = 0; i < e->nfresh; i++) {
        if (revoked_add(e, e->fresh[i]) == 1 && !e->stopped) {
            log_msg(LOG_WARN, "enroll", "agent %s is revoked: its streams are closed and its "
                    "handshakes refused", e->fresh[i]);
            conn_revoke_agent(e->srv, e->fresh[i]);
        }
        free(e->fresh[i]);
    }
    e->nfresh = 0;
    if (e->poll_again && !e->stopped) {
        e->poll_again = false;
        enroll_poll_start(e);
    }
}

static void enroll_poll_start(struct enroll *e)
{
    if (e->stopped)
        return;
    if (e->polling) {
        e->poll_again = true;
        return;
    }
    e->poll_req.data = e;
    if (uv_queue_work(e->srv->loop, &e->poll_req, on_poll_work, on_poll_done) == 0)
        e->polling = true;
}

static void on_poll_timer(uv_timer_t *t)
{
    enroll_poll_start(t->data);
}

void enroll_refresh(struct enroll *e)
{
    if (e)
        enroll_poll_start(e);
}

/* ------------------------------------------------------------ lifecycle */

int enroll_open(struct enroll **out, struct server *srv, char *err, size_t errlen)
{
    const struct server_config *cfg = srv->cfg;
    struct enroll *e = calloc(1, sizeof *e);
    int rc;

    if (!e) {
        snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    e->srv = srv;
    ratelimit_init(&e->rl);
    e->lifetime_s = server_cert_lifetime_s(cfg);
    if ((rc = store_admin_open(&e->admin, cfg->db, err, errlen)) < 0)
        goto fail;
    if (*cfg->enroll_listen && !(e->ca = tls_ca_load(cfg->enroll_ca_cert, cfg->enroll_ca_key,
                                                     err, errlen))) {
        rc = BW_ECONFIG;
        goto fail;
    }
    /* The loop is not running yet: read what is revoked now. */
    on_poll_work(&(uv_work_t){.data = e});
    for (size_t i = 0; i < e->nfresh; i++) {
        revoked_add(e, e->fresh[i]);
        free(e->fresh[i]);
    }
    e->nfresh = 0;
    if (e->rcount)
        log_msg(LOG_INFO, "enroll", "%zu agent ids are revoked", e->rcount);
    uv_timer_init(srv->loop, &e->poll);
    e->poll.data = e;
    uv_timer_start(&e->poll, on_poll_timer, cfg->revocation_poll_ms, cfg->revocation_poll_ms);
    *out = e;
    return 0;
fail:
    store_admin_close(e->admin);
    ratelimit_release(&e->rl);
    free(e);
    return rc;
}

void enroll_stop(struct enroll *e)
{
    if (!e || e->stopped)
        return;
    e->stopped = true;
    uv_timer_stop(&e->poll);
    uv_close((uv_handle_t *)&e->poll, NULL);
}

void enroll_free(struct enroll *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->rcap; i++)
        free(e->revoked[i]);
    free(e->revoked);
    for (size_t i = 0; i < e->nfresh; i++)
        free(e->fresh[i]);
    free(e->fresh);
    tls_ca_free(e->ca);
    store_admin_close(e->admin);
    ratelimit_release(&e->rl);
    free(e);
}

/* ------------------------------------------------------------ jobs */

struct enroll_job {
    uv_work_t req;
    struct enroll *e;
    bool renew;
    char peer[64];
    char actor[80];             /* "peer ADDRESS" in the audit trail */
    char *token;                /* cleansed when done */
    char *csr;
    char hostname[BW_LIMIT_HOSTNAME + 1];
    char agent_id[BW_LIMIT_AGENT_ID + 1];
    struct buf cert;
    char serial[64];
    char why[256];
    int rc;
    enroll_done_fn done;
    void *owner;
};

/* The address of peer without its port: the rate limit's key. */
static void enroll_peer_key(const char *peer, char *out, size_t n)
{
    const char *colon = strrchr(peer, ':');
    size_t len = colon ? (size_t)(colon - peer) : strlen(peer);

    snprintf(out, n, "enroll:%.*s", (int)len, peer);
}

/* A new agent id: the host name's [A-Za-z0-9._-] characters (at most
 * ENROLL_ID_HOST_MAX) and 12 random hex digits (48 bits: no two enrollments
 * meet), so a token holder can never name, and so take over, an existing
 * agent. */
static void enroll_make_id(const char *hostname, char *out, size_t n)
{
    char host[ENROLL_ID_HOST_MAX + 1];
    size_t k = 0;
    uint8_t rnd[6];

    for (const char *p = hostname; *p && k < ENROLL_ID_HOST_MAX; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-')
            host[k++] = c;
    }
    host[k] = '\0';
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memset(rnd, 0, sizeof rnd);
    snprintf(out, n, "%s-%02x%02x%02x%02x%02x%02x", k ? host : "agent", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5]);
}

static void on_job_work(uv_work_t *req)
{
    struct enroll_job *j = req->data;
    struct enroll *e = j->e;
    char id[API_SECRET_ID_HEX + 1] = "";
    uint8_t hash[API_SECRET_HASH_LEN];
    int64_t now = clock_wall_ns();

    if (!j->renew && api_secret_parse(j->token, ENROLL_TOKEN_PREFIX, id, hash) < 0) {
        j->rc = BW_EAUTH;
        snprintf(j->why, sizeof j->why, "enrollment token is not valid");
        store_audit_add(e->admin, j->actor, "agent.enroll_refused", "", j->why, now);
        return;
    }
    if (!j->renew)
        enroll_make_id(j->hostname, j->agent_id, sizeof j->agent_id);
    j->rc = tls_ca_issue(e->ca, j->csr, strlen(j->csr), j->agent_id, e->lifetime_s, &j->cert,
                         j->serial, sizeof j->serial, j->why, sizeof j->why);
    if (j->rc < 0)
        return;
    if (j->renew) {
        char detail[128];
        snprintf(detail, sizeof detail, "serial %s", j->serial);
        j->rc = store_audit_add(e->admin, j->actor, "agent.renew", j->agent_id, detail, now);
        return;
    }
    j->rc = store_enroll_token_redeem(e->admin, id, hash, now, j->actor, j->agent_id, j->why,
                                      sizeof j->why);
    if (j->rc == BW_EIO)
        snprintf(j->why, sizeof j->why, "cannot record the enrollment; try again");
}

static void enroll_job_free(struct enroll_job *j)
{
    if (j->token) {
        OPENSSL_cleanse(j->token, strlen(j->token));
        free(j->token);
    }
    free(j->csr);
    buf_release(&j->cert);
    free(j);
}

static void on_job_done(uv_work_t *req, int status)
{
    struct enroll_job *j = req->data;
    struct enroll *e = j->e;
    char key[96];

    if (status == UV_ECANCELED) {
        j->rc = BW_ECLOSED;
        snprintf(j->why, sizeof j->why, "server is stopping");
    }
    enroll_peer_key(j->peer, key, sizeof key);
    if (j->rc == 0)
        ++*(j->renew ? &e->srv->stats.renewed : &e->srv->stats.enrolled);
    else
        e->srv->stats.enroll_refused++;
    if (j->rc == 0) {
        buf_append(&j->cert, "", 1);  /* NUL-terminated for the caller */
        log_msg(LOG_INFO, "enroll", "%s: %s agent %s (certificate serial %s, %lld s)", j->peer,
                j->renew ? "renewed" : "enrolled", j->agent_id, j->serial,
                (long long)e->lifetime_s);
        j->done(j->owner, 0, j->agent_id, (const char *)buf_head(&j->cert), NULL);
    } else {
        if (!j->renew && (j->rc == BW_EAUTH || j->rc == BW_EINVAL))
            ratelimit_take(&e->rl, key, e->srv->cfg->enroll_failures_per_min,
                           e->srv->cfg->enroll_failures_per_min, true, NULL);
        j->done(j->owner, j->rc, NULL, NULL, j->why);
    }
    enroll_job_free(j);
}

static int enroll_job_start(struct enroll *e, bool renew, const char *peer, const char *token,
                            const char *csr_pem, const char *hostname, const char *agent_id,
                            enroll_done_fn done, void *owner)
{
    struct enroll_job *j = calloc(1, sizeof *j);
    char key[96];
    unsigned retry = 0;

    if (!j)
        return BW_ENOMEM;
    j->e = e;
    j->renew = renew;
    j->done = done;
    j->owner = owner;
    snprintf(j->peer, sizeof j->peer, "%s", peer);
    snprintf(j->actor, sizeof j->actor, "peer %s", peer);
    snprintf(j->hostname, sizeof j->hostname, "%s", hostname ? hostname : "");
    snprintf(j->agent_id, sizeof j->agent_id, "%s", agent_id ? agent_id : "");
    buf_init(&j->cert, ENROLL_CERT_MAX);
    j->csr = strdup(csr_pem ? csr_pem : "");
    j->token = strdup(token ? token : "");
    j->req.data = j;
    if (!j->csr || !j->token) {
        enroll_job_free(j);
        return BW_ENOMEM;
    }
    if (renew)
        snprintf(key, sizeof key, "renew:%s", j->agent_id);
    else
        enroll_peer_key(peer, key, sizeof key);
    if (!e->ca) {
        j->rc = BW_EINVAL;
        snprintf(j->why, sizeof j->why, "this server issues no certificates (enroll_listen is "
                 "off)");
    } else if (!renew && !ratelimit_take(&e->rl, key, e->srv->cfg->enroll_failures_per_min,
                                         e->srv->cfg->enroll_failures_per_min, false, &retry)) {
        j->rc = BW_EAGAIN;
        snprintf(j->why, sizeof j->why, "too many failed enrollments from this address; retry "
                 "in %u s", retry);
    } else if (renew && revoked_has(e, j->agent_id)) {
        j->rc = BW_EAUTH;
        snprintf(j->why, sizeof j->why, "agent '%s' is revoked", j->agent_id);
    } else if (renew && !ratelimit_take(&e->rl, key, ENROLL_RENEWALS_PER_MIN,
                                        ENROLL_RENEWAL_BURST, true, NULL)) {
        j->rc = BW_EAGAIN;
        snprintf(j->why, sizeof j->why, "too many renewals; retry in a minute");
    } else if (uv_queue_work(e->srv->loop, &j->req, on_job_work, on_job_done) == 0) {
        return 0;
    } else {
        j->rc = BW_ECLOSED;
        snprintf(j->why, sizeof j->why, "server is stopping");
    }
    /* Refused at once: still answered through done, on the loop thread. */
    e->srv->stats.enroll_refused++;
    done(owner, j->rc, NULL, NULL, j->why);
    enroll_job_free(j);
    return 0;
}

int enroll_request(struct enroll *e, const char *peer, const char *token, const char *csr_pem,
                   const char *hostname, enroll_done_fn done, void *owner)
{
    return enroll_job_start(e, false, peer, token, csr_pem, hostname, NULL, done, owner);
}

int enroll_renew(struct enroll *e, const char *peer, const char *agent_id, const char *csr_pem,
                 enroll_done_fn done, void *owner)
{
    return enroll_job_start(e, true, peer, NULL, csr_pem, NULL, agent_id, done, owner);
}
