/* procfs.h - bounded readers of /proc, /sys/fs/cgroup and runtime state
 * files below a host root, and the small helpers collectors share to build
 * events (malloc'd trees freed by evjson_event_free()).
 *
 * Every read has a hard size cap: a 10 MB command line or a hostile
 * config.json costs at most the cap. Functions return 0 or a negative
 * bw_err; BW_ENOTFOUND means the file (or the process) is gone, which is
 * normal for /proc and is not an error for callers to log. */
#ifndef BULWARK_PROCFS_H
#define BULWARK_PROCFS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/collector.h"
#include "bulwark/v1/bulwark.pb-c.h"

#define PROCFS_PATH_MAX 4096
#define PROCFS_STR_MAX 1023      /* longest string put in an event (evjson's bound) */
#define PROCFS_CMDLINE_MAX 4096  /* evjson's bound on cmdline */
#define PROCFS_JSON_MAX (4u << 20)

/* dst = root + rel, where rel is formatted ("/proc/%d/stat"). A root of
 * "/" or "" adds nothing. BW_ETOOBIG when it does not fit. */
int procfs_path(char *dst, size_t n, const char *root, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads at most cap-1 bytes from the start of path into buf and
 * NUL-terminates it; *len (may be NULL) gets the byte count. Never reads past
 * the cap, whatever the file's size. 0, BW_ENOTFOUND or BW_EIO. */
int procfs_read(const char *path, char *buf, size_t cap, size_t *len);
/* Same, for root + formatted rel. */
int procfs_read_at(const char *root, char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The target of a symlink, NUL-terminated and bounded. 0, BW_ENOTFOUND, BW_ETOOBIG. */
int procfs_readlink(const char *path, char *buf, size_t cap);
/* Loads a JSON file of at most max bytes: 0 and *out (decref it),
 * BW_ENOTFOUND, BW_ETOOBIG, BW_EINVAL (not JSON), BW_EIO, BW_ENOMEM. */
int procfs_load_json(const char *path, size_t max, json_t **out);

/* Fields of /proc/PID/stat (comm may hold spaces and parentheses). */
struct procfs_stat {
    int pid, ppid;
    char state;
    int pgrp, session;   /* in the pid namespace of the /proc read */
    int tty_nr;
    uint64_t starttime;  /* clock ticks after boot */
    char comm[64];
};

/* The command line of pid as procfs_process_ref() gives it, into buf of
 * cap + 1 bytes (at most cap bytes read). 0 or a negative bw_err. */
int procfs_read_cmdline(const char *root, int pid, char *buf, size_t cap);
/* From the text of /proc/PID/status: the effective id of key ("Uid:",
 * "Gid:") or the last entry of a namespace list ("NSpid:", "NSpgid:").
 * Pure. 0 and *out, or BW_ENOTFOUND when the line is missing or bad. */
int procfs_status_id(const char *status, const char *key, uint32_t *out);
int procfs_status_last(const char *status, const char *key, int32_t *out);
/* The hexadecimal mask of a "CapEff:\t000001ffffffffff" line. Pure. 0 and
 * *out, or BW_ENOTFOUND. */
int procfs_status_mask(const char *status, const char *key, uint64_t *out);

/* Parses the text of /proc/PID/stat. Pure. 0 or BW_EINVAL. */
int procfs_parse_stat(const char *text, struct procfs_stat *st);
int procfs_read_stat(const char *root, int pid, struct procfs_stat *st);
/* Boot time in seconds (the "btime" line of root/proc/stat). */
int procfs_btime(const char *root, int64_t *btime_s);
/* Unix ns of a process start from its starttime ticks and the boot time. */
int64_t procfs_start_ns(int64_t btime_s, uint64_t starttime);
/* A numeric name (a pid), or -1. */
int procfs_pid_of(const char *name);
/* The inode in "net:[4026531840]" or "socket:[123]" (prefix given), or 0. */
uint64_t procfs_link_inode(const char *link, const char *prefix);

/* Ancestors walked up from a process (Falco's proc.aname[1..N]); the
 * protocol accepts up to BW_LIMIT_ANCESTORS. */
#define PROCFS_ANCESTORS_MAX 8
#define PROCFS_LINEAGE_SLOTS 256

/* A cache of ancestor chains, owned by one collector (zero-initialise it;
 * procfs_lineage_release() frees it). Walking up costs a stat read and a
 * readlink per ancestor; with the cache, a process whose parent (same pid
 * and start time) was seen before costs its parent's only: the chain above
 * is the one read then. So a chain is as it was when first read: an
 * ancestor that exited since (its child reparented) is still named. Direct
 * mapped, PROCFS_LINEAGE_SLOTS entries. */
struct procfs_lineage_entry;
struct procfs_lineage {
    struct procfs_lineage_entry *slots;  /* allocated on first use */
    uint64_t hits, misses;
};

void procfs_lineage_release(struct procfs_lineage *c);
/* One row of /proc/PID/net/tcp or tcp6 (family 4 or 6). Addresses are the
 * bytes as the kernel held them ("0100007F" is 127.0.0.1 on little-endian
 * hosts: the 32-bit words are copied back as they were), ready for inet_ntop. */
struct procfs_tcp_row {
    uint8_t laddr[16], raddr[16];
    uint16_t lport, rport;
    int state;          /* "st": 1 established, 2 syn-sent, 10 listen */
    uint64_t inode;
};
/* Parses one line; false for the header or a malformed line. */
bool procfs_parse_tcp_row(const char *line, uint8_t family, struct procfs_tcp_row *r);
/* An argv as the kernel keeps it (NUL-separated, len bytes) to a command
 * line in place: NUL and newline -> space, trailing spaces dropped, and a
 * NUL at the new length (cmd must have room for len + 1 bytes). Returns
 * the new length. */
size_t procfs_argv_flatten(char *cmd, size_t len);

/* Removes "." and empty segments and resolves ".." of an absolute path in
 * place, lexically (as Falco's fd.name; symlinks are not followed):
 * "/tmp/../etc//shadow" -> "/etc/shadow", "/.." -> "/". The result is never
 * longer than the input. A path that does not start with '/' is left as it
 * is. */
void procfs_path_normalize(char *p);

/* Builds a ProcessRef of pid: pid, ppid, uid, gid (effective), exe, comm,
 * cmdline (at most cmdline_max bytes read, NUL -> space, trailing spaces
 * dropped), parent name and start time; and what /proc tells without
 * tracing: the ancestors (parent first, up to PROCFS_ANCESTORS_MAX: pid,
 * comm, exe), the parent's cmdline, loginuid, the effective and permitted
 * capability masks, the
 * pid, tid and process group in the process's own pid namespace (last
 * NSpid/NSpgid entry of status), session and process group ids, and the
 * session leader's comm. A field /proc does not give stays absent (uid of
 * an unreadable status is absent, not 0). cache (may be NULL) keeps the
 * chains read. The process may vanish meanwhile: BW_ENOTFOUND. *st_out
 * (may be NULL) gets its stat. */
int procfs_process_ref(const char *root, int pid, uint32_t cmdline_max, int64_t btime_s,
                       struct procfs_lineage *cache, Bulwark__V1__ProcessRef **out,
                       struct procfs_stat *st_out);

/* ----------------------------------------------------------- event helpers */

int64_t procfs_now_ns(void);
/* A malloc'd copy of s cut to max bytes (NULL s gives ""); NULL on ENOMEM. */
char *procfs_strdup(const char *s, size_t max);
/* A malloc'd copy of s[0, n) cut to at most max bytes on a UTF-8 boundary
 * (a multi-byte sequence is never split; s may hold NULs). NULL on ENOMEM. */
char *procfs_strndup_utf8(const char *s, size_t n, size_t max);
/* Replaces *field (a malloc'd or empty string) with a copy; BW_ENOMEM. */
int procfs_set_str(char **field, const char *s, size_t max);
/* A zeroed, initialised message of descriptor d (malloc'd); NULL on ENOMEM. */
void *procfs_msg_new(const ProtobufCMessageDescriptor *d);
/* Frees a malloc'd message tree (strings, arrays, sub-messages); NULL ok. */
void procfs_msg_free(ProtobufCMessage *m);
/* A new event at time_ns with the given severity; NULL on ENOMEM. */
Bulwark__V1__Event *procfs_event_new(int64_t time_ns, Bulwark__V1__Severity sev);

/* ------------------------------------------------------------- ticker */

/* A timer that runs c->scan(c) every ms, embedded in the collector. */
struct procfs_ticker {
    uv_timer_t timer;
    struct collector *c;
    bool on;
    void (*done)(void *arg);
    void *done_arg;
};

/* Starts the timer (first scan after ms). 0 or BW_EIO. */
int procfs_ticker_start(struct procfs_ticker *t, uv_loop_t *loop, uint32_t ms, struct collector *c);
/* Closes the timer; done(arg) runs once it is closed (at once if never started). */
void procfs_ticker_stop(struct procfs_ticker *t, void (*done)(void *arg), void *arg);

#endif
