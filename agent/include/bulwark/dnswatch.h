/* dnswatch.h - DNS answers watched per network namespace, for the
 * connection collector's remote names (agent/collectors/dnswatch.c). */
#ifndef BULWARK_DNSWATCH_H
#define BULWARK_DNSWATCH_H

#include <stdint.h>
#include <uv.h>

struct dns_watch;

/* NULL on ENOMEM. host_root is where the host's /proc is. */
struct dns_watch *dns_watch_new(uv_loop_t *loop, const char *host_root);
/* A pass over the namespaces: begin, then dns_watch_ns for each namespace
 * that has processes (pid: one of them), then end, which stops watching the
 * namespaces not listed. A namespace's socket is opened the first time it is
 * listed; failures are logged once. */
void dns_watch_begin(struct dns_watch *w);
void dns_watch_ns(struct dns_watch *w, uint64_t netns, int pid);
void dns_watch_end(struct dns_watch *w);
/* Reads the answers already queued (bounded), so a connection found now is
 * looked up after the answer that preceded it. */
void dns_watch_drain(struct dns_watch *w);
/* The name addr (4 or 16 bytes of family 4 or 6) was resolved from in
 * netns, or NULL; valid until the loop runs again. */
const char *dns_watch_name(struct dns_watch *w, uint64_t netns, uint8_t family,
                           const uint8_t *addr);
/* Closes every socket; done(arg) once they are closed (at once if none). */
void dns_watch_close(struct dns_watch *w, void (*done)(void *arg), void *arg);
/* After dns_watch_close's done; NULL is a no-op. */
void dns_watch_free(struct dns_watch *w);

#endif
