/* spool.h - the agent's durable spool (SQLite, WAL).
 *
 * Every event enters the spool, and gets its sequence number, before any
 * send; the spool is trimmed only up to the server's Ack. The spool is created
 * with a random, non-zero epoch: a new spool (reinstalled agent) starts a new
 * epoch, so its sequence numbers restarting at 1 are not taken as resends.
 *
 * Bounded: when max_events or max_bytes would be passed, new events are
 * refused and counted in `dropped` (what is already spooled is never evicted:
 * it may be all that is left of an attack). */
#ifndef BULWARK_SPOOL_H
#define BULWARK_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/v1/bulwark.pb-c.h"

struct spool;

struct spool_options {
    const char *path;
    uint64_t max_events;  /* 0 = default 1,000,000 */
    uint64_t max_bytes;   /* of packed events; 0 = default 512 MiB */
    bool sync_full;       /* synchronous=FULL (default) or NORMAL */
    /* The machine the agent runs on (its machine id, "" if unknown). When
     * set, a spool made on another machine or found in another file (device,
     * inode) starts a new epoch at open, its unacked events renumbered from
     * 1 (logged): a cloned or copied spool never reuses (epoch, seq). NULL:
     * not checked (tools that only read the spool). */
    const char *machine_id;
};

struct spool_stats {
    uint64_t epoch;
    uint64_t last_seq;    /* highest seq assigned */
    uint64_t acked_seq;   /* highest seq the server acked (trimmed) */
    uint64_t depth;       /* last_seq - acked_seq */
    uint64_t bytes;       /* packed bytes spooled and not acked */
    uint64_t dropped;     /* events refused because the spool was full (persisted) */
    uint64_t quarantined; /* events set aside by spool_quarantine() (persisted) */
};

int spool_open(struct spool **out, const struct spool_options *opt, char *err, size_t errlen);
void spool_close(struct spool *s);

/* Assigns seq to each event (ev->seq is set), packs and stores them in one
 * transaction. *accepted is how many were stored: the rest were refused
 * because the spool is full (counted as dropped). 0 or a negative bw_err (then
 * nothing was stored): BW_EFULL when the disk is full or has less than a
 * reserve (8 MiB, counting the spool's free pages) left, which SQLite needs
 * to checkpoint and trim (nothing is lost: the caller keeps the events and
 * tries again), BW_EIO, BW_ENOMEM. */
int spool_append(struct spool *s, Bulwark__V1__Event *const *evs, size_t n, size_t *accepted);

/* A producer's position (a file's identity and offset), named by key, kept
 * with the events it produced. */
#define SPOOL_MARK_VALUES 4
/* The bounds of a spool when its options give none (plain digits: also the
 * agent options' default text). */
#define SPOOL_DEFAULT_MAX_EVENTS 1000000
#define SPOOL_DEFAULT_MAX_BYTES 536870912  /* 512 MiB */
struct spool_mark {
    const char *key;
    uint64_t v[SPOOL_MARK_VALUES];
};

/* spool_append() that also stores marks (key -> v, replacing the key's
 * previous mark) in the same transaction: either the events and the marks
 * are durable or neither. n may be 0 (marks only). */
int spool_append_marked(struct spool *s, Bulwark__V1__Event *const *evs, size_t n,
                        const struct spool_mark *marks, size_t nmarks, size_t *accepted);

/* The last stored mark of key into v. 0, BW_ENOTFOUND or BW_EIO. */
int spool_mark_get(struct spool *s, const char *key, uint64_t v[SPOOL_MARK_VALUES]);

/* Calls fn for spooled events with seq > after_seq in order, stopping after
 * max_events or once max_bytes of packed data would be passed (at least one
 * event is always given). data is the packed bulwark.v1.Event. */
typedef int (*spool_read_fn)(uint64_t seq, const uint8_t *data, size_t len, void *ctx);
int spool_read(struct spool *s, uint64_t after_seq, size_t max_events, size_t max_bytes,
               spool_read_fn fn, void *ctx);

/* Marks events with seq <= up_to_seq acked (the server committed them): at
 * once they are out of depth, bytes and spool_read(), and never read again;
 * their rows are deleted later, with an append's commit once a batch of them
 * waits, by themselves past a larger bound, or at spool_close(), so that an
 * Ack costs no fsync of its own. After a crash the older persisted acked_seq
 * may come back (the rows with it): the server's committed_seq, which the
 * shipper acks on connecting, covers them. 0, BW_EINVAL past last_seq, or
 * BW_EIO. */
int spool_ack(struct spool *s, uint64_t up_to_seq);

void spool_get_stats(const struct spool *s, struct spool_stats *out);

/* Starts a new epoch now (why is logged): the unacked events are renumbered
 * from 1 in it. For a spool that finds another one sends under its epoch
 * (the server has more of the epoch than this spool ever made). 0 or BW_EIO. */
int spool_new_epoch(struct spool *s, const char *why);

/* Sets event seq (not yet acked) aside: its bytes go to the quarantine table
 * with reason, and standin (a packed event with the same seq saying what was
 * set aside) takes its place, so the stream goes on with contiguous seqs.
 * Counted in stats.quarantined. 0, BW_EINVAL (acked or never made),
 * BW_ENOTFOUND or BW_EIO. */
int spool_quarantine(struct spool *s, uint64_t seq, const char *reason,
                     const uint8_t *standin, size_t standin_len);

#endif
