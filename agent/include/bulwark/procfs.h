/* procfs.h - bounded readers of /proc, /sys/fs/cgroup and runtime state
 * files below a host root, and pure parsers of their text. Container
 * attribution, the collectors and the sensor read through it; it knows no
 * event (evbuild.h builds those, procref.h a process's reference).
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

#define PROCFS_PATH_MAX 4096
#define PROCFS_JSON_MAX (4u << 20)

/* dst = root + rel, where rel is formatted ("/proc/%d/stat"). A root of
 * "/" or "" adds nothing. BW_ETOOBIG when it does not fit. */
int procfs_path(char *dst, size_t n, const char *root, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads at most cap-1 bytes from the start of path into buf and
 * NUL-terminates it; *len (may be NULL) gets the byte count. Never reads past
 * the cap, whatever the file's size. 0, BW_ENOTFOUND or BW_EIO. */
int procfs_read(const char *path, char *buf, size_t cap, size_t *len);
/* The same for a file inside process pid's root (a container's own files:
 * "/etc/passwd", "/proc/1/stat"), which that container controls: symlinks
 * resolve within that root (openat2 RESOLVE_IN_ROOT, not against the
 * agent's, the host's), and the file must be a regular file before it is
 * opened for reading (opened O_PATH first), so a container can point the
 * agent neither at the host's files nor at a device node (a watchdog opened
 * by root is a reboot). BW_EINVAL for anything but a regular file. */
int procfs_read_in_root(const char *root, int pid, const char *path, char *buf, size_t cap,
                        size_t *len);
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

/* The command line of pid as procref_build() gives it, into buf of
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

#endif
