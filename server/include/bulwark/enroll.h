/* enroll.h - agent enrollment and certificate lifecycle on the server
 * (docs/security.md, "Enrollment"): enrollment tokens redeemed for a client
 * certificate issued by the enrollment CA, renewals over a welcomed stream,
 * and revoked agent ids that every handshake is checked against.
 *
 * The token check (SQLite) and the signing run on libuv's thread pool with
 * the module's own store_admin connection; the loop thread only starts them
 * and hears the outcome. Also `bulwarkd enroll-token ...` and
 * `bulwarkd agent revoke ...`. */
#ifndef BULWARK_ENROLL_H
#define BULWARK_ENROLL_H

#include <stdbool.h>

struct enroll;
struct server;

/* Loop thread, before the loop runs: opens the module's store connection,
 * reads the revoked agent ids, loads the enrollment CA when enroll_listen
 * is set, and starts polling for new revocations. 0, or BW_ECONFIG with a
 * reason in err. */
int enroll_open(struct enroll **out, struct server *srv, char *err, size_t errlen);
/* Loop thread: stops the poll (work in flight still completes). */
void enroll_stop(struct enroll *e);
/* After the loop has run out: frees it. enroll_free(NULL) is a no-op. */
void enroll_free(struct enroll *e);
/* Loop thread (SIGHUP): reads new revocations now. */
void enroll_refresh(struct enroll *e);
/* Loop thread: is this agent id revoked? */
bool enroll_revoked(const struct enroll *e, const char *agent_id);

/* The outcome, on the loop thread: rc 0 with the agent id and the PEM
 * certificate; else why (BW_EAUTH refused, BW_EAGAIN rate-limited,
 * BW_EINVAL a bad request, BW_EIO, BW_ECLOSED stopping). */
typedef void (*enroll_done_fn)(void *owner, int rc, const char *agent_id, const char *cert_pem,
                               const char *why);
/* Loop thread: an EnrollRequest from peer (an address). The token is copied
 * and never logged. 0 when started (done runs exactly once), BW_ENOMEM. */
int enroll_request(struct enroll *e, const char *peer, const char *token, const char *csr_pem,
                   const char *hostname, enroll_done_fn done, void *owner);
/* Loop thread: a RenewRequest on agent_id's welcomed stream. */
int enroll_renew(struct enroll *e, const char *peer, const char *agent_id, const char *csr_pem,
                 enroll_done_fn done, void *owner);


#endif
