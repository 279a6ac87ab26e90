/* shipper.h - the agent's one TLS stream to bulwarkd.
 *
 * Connects, says Hello, learns the server's committed seq from Welcome, trims
 * the spool to it and sends spooled events after it in batches, keeping at
 * most the server's window of batches in flight. Each Ack trims the spool.
 * Any failure closes the stream and reconnects with exponential backoff and
 * jitter; nothing is lost because nothing leaves the spool before its Ack. */
#ifndef BULWARK_SHIPPER_H
#define BULWARK_SHIPPER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "bulwark/spool.h"
#include "bulwark/tls.h"

struct shipper;

struct shipper_options {
    const char *server;        /* host:port */
    const char *server_name;   /* name the server certificate must carry */
    const char *agent_id;
    const char *hostname;
    const char *labels[4];     /* cloud, region, environment, tenant */
    uint32_t batch_events;
    uint32_t max_frame;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    /* Renewal: once renew_at (0..1; 0 = never) of the life of the
     * certificate in tls_cert has passed, a new key and a RenewRequest go
     * over the stream; the answer is written to tls_key and tls_cert and
     * the stream reconnects with them. */
    const char *tls_ca, *tls_cert, *tls_key;
    double renew_at;
    /* Fills the heartbeat's health beyond the spool figures (may be NULL). */
    void (*health)(void *ctx, Bulwark__V1__AgentHealth *h);
    void *health_ctx;
};

struct shipper_stats {
    uint64_t connects, disconnects, batches_sent, events_sent, acked_seq;
    bool streaming;
    double ack_p50_ms, ack_p99_ms;  /* batch send -> ack, over a sample */
};

/* tls is borrowed (must outlive the shipper; a renewal makes the shipper
 * its own); spool too. on_ack runs after
 * each Ack trimmed the spool. */
int shipper_new(struct shipper **out, uv_loop_t *loop, const struct shipper_options *opt,
                struct tls_ctx *tls, struct spool *spool, void (*on_ack)(void *ctx), void *ctx);
/* Starts connecting. */
void shipper_start(struct shipper *s);
/* New events were spooled: send them if the window allows. */
void shipper_kick(struct shipper *s);
void shipper_get_stats(struct shipper *s, struct shipper_stats *out);
/* Closes the stream and handles; `closed` runs once everything is closed. */
void shipper_stop(struct shipper *s, void (*closed)(void *ctx), void *ctx);
void shipper_free(struct shipper *s);

#endif
