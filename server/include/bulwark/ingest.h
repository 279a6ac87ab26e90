/* ingest.h - frame -> validated events, ready for the store (pure: no
 * sockets, no loop, no logging; unit-tested and fuzzed directly). */
#ifndef BULWARK_INGEST_H
#define BULWARK_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/limits.h"
#include "bulwark/store.h"
#include "bulwark/v1/bulwark.pb-c.h"

/* Checks every field of a decoded frame on its wire bytes (raw/len, what f
 * was decoded from) against bulwark/limits.h: strings within their limit,
 * valid UTF-8 without NUL; repeated fields and maps within theirs; enums one
 * of their declared values. Returns 0 or BW_EPROTO with a reason naming the
 * field (and the event's seq inside a batch) in why. */
int ingest_check_frame(const Bulwark__V1__Frame *f, const uint8_t *raw, size_t len, char *why,
                       size_t whylen);

/* Checks a Hello against the identity the TLS layer proved (peer_cn).
 * Returns 0, BW_EAUTH (agent id differs from the certificate) or BW_EPROTO
 * (bad version, epoch 0 or past 2^63-1, bad id, empty host name or one with
 * control characters or spaces, long version); a lower-case reason goes to
 * why. */
int ingest_check_hello(const Bulwark__V1__Hello *h, const char *peer_cn, char *why, size_t whylen);
/* The agent's labels of a checked Hello as the store keeps them: compact
 * JSON with sorted keys, as evjson writes a message ("{}" when there are
 * none; the wire check bounded their number and sizes). malloc'd; NULL on
 * ENOMEM. */
char *ingest_hello_labels_json(const Bulwark__V1__Hello *h);

/* A validated batch in the store's terms. Owns the packed bodies. */
struct ingest_batch {
    struct store_batch sb;
    struct store_event *events;
    uint8_t *bodies;          /* one allocation holding every packed event */
    uint64_t first_seq, last_seq;
};

/* Validates a Batch of the stream (agent, epoch) whose next expected seq is
 * *expect_next: the epoch must match, 1..max_events events, seqs contiguous
 * and increasing, the first at most *expect_next (a resend may overlap what
 * was already sent, a gap is an error), every event with a known kind, a
 * time, a valid severity and bounded strings. On success fills out (release
 * with ingest_batch_release) and advances *expect_next. Returns 0, BW_EPROTO
 * or BW_ETOOBIG with a reason in why. raw/rawlen, when not NULL, are the
 * agent's bytes of each event (frame_batch_scan) and become the stored
 * bodies as they are; otherwise the decoded events are packed again. out
 * keeps pointers into b (container refs, the decoded events) and raw: both
 * must outlive it. */
int ingest_batch_build(const Bulwark__V1__Batch *b, const uint8_t *const *raw,
                       const size_t *rawlen, const char *agent_id, const char *hostname,
                       uint64_t epoch, uint32_t max_events, int64_t recv_ns,
                       uint64_t *expect_next, struct ingest_batch *out, char *why, size_t whylen);
void ingest_batch_release(struct ingest_batch *ib);

#endif
