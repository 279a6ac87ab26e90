/* anomaly.h - anomaly detectors the rules engine feeds (pure, bounded).
 *
 * (a) CPU spike per key (container): an exponentially weighted mean and
 *     variance of samples; it fires when samples stay above mean + k*sigma
 *     and an absolute floor for `sustain` samples in a row spanning at least
 *     `sustain_ns`, after a warm-up, then not again for a cooldown. Samples
 *     in the start-up grace of a key (its first sample, or the first after
 *     a gap that marks a restart) are neither judged nor learned.
 * (b) First-seen value per group (outbound destination per image digest,
 *     fleet-wide): during a learning period that starts when the group is
 *     first seen, values are learned silently; afterwards a value never seen
 *     before fires once and is learned.
 * State is bounded (LRU over keys/groups) and can be saved to and restored
 * from a byte string, so that it survives a restart of the server. */
#ifndef BULWARK_ANOMALY_H
#define BULWARK_ANOMALY_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark/buf.h"

struct anomaly_cpu;
struct anomaly_firstseen;

struct anomaly_cpu_params {
    double alpha;            /* EWMA weight of a new sample, 0 < alpha <= 1 (0.1) */
    double k;                /* sigmas above the mean (3) */
    double floor;            /* absolute minimum to fire, in cores (0.5) */
    uint32_t warmup;         /* samples before a key may fire (12) */
    int64_t cooldown_ns;     /* quiet time after firing, per key (10 min) */
    size_t max_keys;         /* LRU bound (100,000) */
    uint32_t sustain;        /* high samples in a row to fire (0 or 1: any one) */
    int64_t sustain_ns;      /* ... spanning at least this, first to last (0) */
    int64_t grace_ns;        /* start-up grace after a key's first sample or a restart (0) */
    int64_t restart_gap_ns;  /* a gap between samples longer than this is a
                              * restart; 0: three times the key's previous gap */
};

struct anomaly_cpu_result {
    double mean, sigma;      /* the baseline the sample was compared with */
};

struct anomaly_cpu *anomaly_cpu_new(const struct anomaly_cpu_params *p);
void anomaly_cpu_free(struct anomaly_cpu *d);
/* Feeds one sample. Returns 1 when it is a spike (out filled), 0 if not,
 * BW_ENOMEM. A spike does not pollute the baseline it was judged against. */
int anomaly_cpu_observe(struct anomaly_cpu *d, const char *key, int64_t time_ns, double value,
                        struct anomaly_cpu_result *out);

struct anomaly_firstseen_params {
    int64_t learning_ns;     /* learning period per group (24 h) */
    size_t max_groups;       /* LRU bound over groups (10,000) */
    size_t max_values;       /* values kept per group (1,024; oldest forgotten) */
};

struct anomaly_firstseen *anomaly_firstseen_new(const struct anomaly_firstseen_params *p);
void anomaly_firstseen_free(struct anomaly_firstseen *d);
/* Returns 1 when value is new for group after its learning period, 0 if not
 * (known, or still learning), BW_ENOMEM. */
int anomaly_firstseen_observe(struct anomaly_firstseen *d, const char *group, const char *value,
                              int64_t time_ns);

/* Serialises the state (versioned, bounded); restore replaces the state
 * and refuses (BW_EINVAL) a malformed or foreign blob, keeping the old one. */
int anomaly_cpu_save(const struct anomaly_cpu *d, struct buf *out);
int anomaly_cpu_restore(struct anomaly_cpu *d, const uint8_t *p, size_t n);
int anomaly_firstseen_save(const struct anomaly_firstseen *d, struct buf *out);
int anomaly_firstseen_restore(struct anomaly_firstseen *d, const uint8_t *p, size_t n);
/* The checksum that ends every blob, over the bytes before it (for tools
 * and tests that write blobs of an older version). */
uint64_t anomaly_blob_checksum(const uint8_t *p, size_t n);

#endif
