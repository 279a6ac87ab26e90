/* sensor.h - the agent's host sensor (--sensor auto|ebpf|procfs) and the
 * eBPF collector.
 *
 * "procfs" is the set of collectors in agent/collectors/ (process-event
 * connector, /proc/net polling, fanotify). "ebpf" replaces the process and
 * connection collectors with one collector fed by kernel programs
 * (agent/sensor/sensor.bpf.c): every exec with its full argv, every
 * connect/accept, and read opens below the watched paths, as they happen.
 * "auto" runs ebpf when the agent was built with it, the kernel exposes
 * its BTF and the process holds the capabilities, else procfs.
 * docs/collectors.md says what each sees and what each needs. */
#ifndef BULWARK_SENSOR_H
#define BULWARK_SENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/collector.h"

#define SENSOR_WHY_MAX 256

/* What the eBPF sensor counted since it started. */
struct sensor_stats {
    uint64_t records;        /* read from the ring buffer */
    uint64_t kernel_drops;   /* lost in the kernel: ring buffer full */
    uint64_t pending_drops;  /* syscalls not paired: pairing table full */
};

/* Whether the eBPF sensor can run here: true, or false with the reason in
 * why (built without it, no BTF, missing capabilities). A true answer can
 * still fail at load (a kernel that refuses a program): the collector's
 * start() then says why. */
bool sensor_ebpf_usable(char *why, size_t whylen);

/* The eBPF collector; NULL on ENOMEM (or when built without the sensor).
 * It only runs on a loop (start); scan() does nothing. */
struct collector *collector_ebpf_new(const struct collector_env *env);
/* Its counters; c must come from collector_ebpf_new(). */
void collector_ebpf_stats(struct collector *c, struct sensor_stats *out);
/* Why its start() failed ("" if it did not). */
const char *collector_ebpf_error(const struct collector *c);

#endif
