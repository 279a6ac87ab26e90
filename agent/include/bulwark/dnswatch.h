/* dnswatch.h - DNS answers watched per network namespace, for the remote
 * names of the connection collector and the eBPF sensor
 * (agent/collectors/dnswatch.c). */
#ifndef BULWARK_DNSWATCH_H
#define BULWARK_DNSWATCH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct dns_watch;

/* A process and its network namespace (the inode of its ns/net link). */
struct netns_pid {
    uint64_t netns;
    int pid;
};

/* NULL on ENOMEM. host_root is where the host's /proc is. */
struct dns_watch *dns_watch_new(uv_loop_t *loop, const char *host_root);
/* A pass over the namespaces: begin, then dns_watch_ns for each namespace
 * that has processes (pid: one of them), then end, which stops watching the
 * namespaces not listed. A namespace's socket is opened the first time it is
 * listed; failures are logged once. */
void dns_watch_begin(struct dns_watch *w);
void dns_watch_ns(struct dns_watch *w, uint64_t netns, int pid);
void dns_watch_end(struct dns_watch *w);
/* The whole pass: lists every process of host_root/proc with its network
 * namespace (kernel threads and unreadable ones left out), then begin, ns
 * for each namespace (its lowest pid), end (w NULL: the list only). With
 * pids, *pids (sorted by (netns, pid); the caller frees it) and *npids are
 * set on success; without, the list is freed. 0, BW_EIO (no /proc) or
 * BW_ENOMEM. */
int dns_watch_scan(struct dns_watch *w, const char *host_root, struct netns_pid **pids,
                   size_t *npids);
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
