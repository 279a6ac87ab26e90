/* procref.h - a process's ProcessRef as /proc tells it, with a cache of
 * the ancestor chains read (procref.c). The collectors and the sensor share
 * it; it reads through procfs.h and builds with evbuild.h. */
#ifndef BULWARK_PROCREF_H
#define BULWARK_PROCREF_H

#include <stdint.h>

#include "bulwark/procfs.h"
#include "bulwark/v1/bulwark.pb-c.h"

/* Ancestors walked up from a process (Falco's proc.aname[1..N]); the
 * protocol accepts up to BW_LIMIT_ANCESTORS. */
#define PROCREF_ANCESTORS_MAX 8
#define PROCREF_LINEAGE_SLOTS 256

/* A cache of ancestor chains, owned by one collector (zero-initialise it;
 * procref_lineage_release() frees it). Walking up costs a stat read and a
 * readlink per ancestor; with the cache, a process whose parent (same pid
 * and start time) was seen before costs its parent's only: the chain above
 * is the one read then. So a chain is as it was when first read: an
 * ancestor that exited since (its child reparented) is still named. Direct
 * mapped, PROCREF_LINEAGE_SLOTS entries. */
struct procref_lineage_entry;
struct procref_lineage {
    struct procref_lineage_entry *slots;  /* allocated on first use */
    uint64_t hits, misses;
};

void procref_lineage_release(struct procref_lineage *c);
/* Builds a ProcessRef of pid: pid, ppid, uid, gid (effective), exe, comm,
 * cmdline (at most cmdline_max bytes read, NUL -> space, trailing spaces
 * dropped), parent name and start time; and what /proc tells without
 * tracing: the ancestors (parent first, up to PROCREF_ANCESTORS_MAX: pid,
 * comm, exe), the parent's cmdline, loginuid, the effective and permitted
 * capability masks, the
 * pid, tid and process group in the process's own pid namespace (last
 * NSpid/NSpgid entry of status), session and process group ids, and the
 * session leader's comm. A field /proc does not give stays absent (uid of
 * an unreadable status is absent, not 0). cache (may be NULL) keeps the
 * chains read. The process may vanish meanwhile: BW_ENOTFOUND. *st_out
 * (may be NULL) gets its stat. */
int procref_build(const char *root, int pid, uint32_t cmdline_max, int64_t btime_s,
                  struct procref_lineage *cache, Bulwark__V1__ProcessRef **out,
                  struct procfs_stat *st_out);

#endif
