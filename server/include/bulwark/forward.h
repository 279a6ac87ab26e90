/* forward.h - bulwarkd pushes alerts (and, when configured, events) to
 * SIEMs: RFC 5424 syslog over TLS with octet counting (RFC 5425), the
 * message CEF or JSON; Splunk HEC over HTTPS; a generic JSON webhook signed
 * with HMAC-SHA256. docs/api.md "Forwarding to a SIEM" is the user's guide.
 *
 * Each destination runs on a thread of its own, never on the loop: it reads
 * the store through its own read-only connection and keeps a durable
 * cursor per stream (store_forward_cursor_*), advanced in a short
 * transaction after the destination has taken a batch. A destination that
 * is down is retried with exponential backoff and resumes from its cursor,
 * after a restart of bulwarkd too. */
#ifndef BULWARK_FORWARD_H
#define BULWARK_FORWARD_H

struct forwarder;
struct server_config;

/* Starts one thread per configured destination (*out NULL and 0 when none
 * is configured). Fails (BW_ECONFIG, logged) when a secret file cannot be
 * read or a destination is malformed. */
int forward_start(struct forwarder **out, const struct server_config *cfg);
/* Stops and joins the threads; a batch being sent is cut short (its cursor
 * not advanced, so it is sent again next time). forward_stop(NULL) is a
 * no-op. */
void forward_stop(struct forwarder *f);

#endif
