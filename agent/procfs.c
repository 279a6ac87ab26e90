/* procfs.c - bounded readers of /proc, /sys/fs/cgroup and runtime files
 * below a host root, and pure parsers of their text (bulwark/procfs.h).
 * No protobuf, no loop: container attribution, the collectors and the
 * sensor build on it.
 *
 * Nothing here logs: callers decide whether a failure is worth a line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bulwark/err.h"
#include "bulwark/procfs.h"

static int err_of_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ESRCH:
    case ENOTDIR:
        return BW_ENOTFOUND;
    case ENOMEM:
        return BW_ENOMEM;
    case ENAMETOOLONG:
        return BW_ETOOBIG;
    default:
        return BW_EIO;
    }
}

static int path_vfmt(char *dst, size_t n, const char *root, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int path_vfmt(char *dst, size_t n, const char *root, const char *fmt, va_list ap)
{
    size_t rl = root ? strlen(root) : 0;
    int m;

    while (rl > 0 && root[rl - 1] == '/')
        rl--;  /* "/" and "/host/" add no slash of their own */
    if (rl >= n)
        return BW_ETOOBIG;
    if (rl)
        memcpy(dst, root, rl);
    m = vsnprintf(dst + rl, n - rl, fmt, ap);
    if (m < 0 || (size_t)m >= n - rl)
        return BW_ETOOBIG;
    return 0;
}

int procfs_path(char *dst, size_t n, const char *root, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = path_vfmt(dst, n, root, fmt, ap);
    va_end(ap);
    return rc;
}

int procfs_read(const char *path, char *buf, size_t cap, size_t *len)
{
    size_t got = 0;
    int fd, rc = 0;

    if (cap == 0)
        return BW_EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err_of_errno(errno);
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = err_of_errno(errno);
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
out:
    close(fd);
    buf[rc == 0 ? got : 0] = '\0';
    if (rc == 0 && len)
        *len = got;
    return rc;
}

int procfs_read_in_root(const char *root, int pid, const char *path, char *buf, size_t cap,
                        size_t *len)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    char dir[PROCFS_PATH_MAX], self[64];
    int dfd = -1, fd = -1, rc;
    struct stat st;

    if (cap == 0 || pid <= 0 || !path)
        return BW_EINVAL;
    if ((rc = procfs_path(dir, sizeof dir, root, "/proc/%d/root", pid)) < 0)
        return rc;
    dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_of_errno(errno);
    fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof how);
    rc = fd < 0 ? err_of_errno(errno) : 0;
    close(dfd);
    if (rc == 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)))
        rc = BW_EINVAL;
    if (rc == 0)
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    if (rc == 0)
        rc = procfs_read(self, buf, cap, len);
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        buf[0] = '\0';
    return rc;
}

int procfs_read_at(const char *root, char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    char path[PROCFS_PATH_MAX];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = path_vfmt(path, sizeof path, root, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return rc;
    return procfs_read(path, buf, cap, len);
}

int procfs_readlink(const char *path, char *buf, size_t cap)
{
    ssize_t r = readlink(path, buf, cap);

    if (r < 0)
        return err_of_errno(errno);
    if ((size_t)r >= cap)
        return BW_ETOOBIG;
    buf[r] = '\0';
    return 0;
}

int procfs_load_json(const char *path, size_t max, json_t **out)
{
    char *buf = malloc(max + 2);
    json_error_t jerr;
    size_t len = 0;
    json_t *j;
    int rc;

    if (!buf)
        return BW_ENOMEM;
    rc = procfs_read(path, buf, max + 2, &len);
    if (rc < 0)
        goto out;
    if (len > max) {
        rc = BW_ETOOBIG;
        goto out;
    }
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        rc = BW_EINVAL;
        goto out;
    }
    *out = j;
out:
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ stat */

int procfs_parse_stat(const char *text, struct procfs_stat *st)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')'), *p;
    struct procfs_stat s = {0};
    unsigned long long v[20];
    char *end;
    size_t cl;
    long pid;

    if (!open || !close || close < open)
        return BW_EINVAL;
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno || end == text || pid <= 0 || pid > INT32_MAX)
        return BW_EINVAL;
    cl = (size_t)(close - open - 1);
    if (cl >= sizeof s.comm)
        cl = sizeof s.comm - 1;
    memcpy(s.comm, open + 1, cl);
    s.pid = (int)pid;
    p = close + 1;
    while (*p == ' ')
        p++;
    if (!*p)
        return BW_EINVAL;
    s.state = *p++;
    /* fields 4.. (ppid pgrp session tty_nr ... starttime is field 22) */
    for (int i = 0; i < 19; i++) {
        long long sv;

        errno = 0;
        sv = strtoll(p, &end, 10);
        if (errno || end == p)
            return BW_EINVAL;
        v[i] = (unsigned long long)sv;
        p = end;
    }
    s.ppid = (int)v[0];
    s.pgrp = (int)v[1];
    s.session = (int)v[2];
    s.tty_nr = (int)v[3];
    s.starttime = v[18];
    *st = s;
    return 0;
}

int procfs_read_stat(const char *root, int pid, struct procfs_stat *st)
{
    char buf[1024];
    int rc = procfs_read_at(root, buf, sizeof buf, NULL, "/proc/%d/stat", pid);

    if (rc < 0)
        return rc;
    return procfs_parse_stat(buf, st);
}

int procfs_btime(const char *root, int64_t *btime_s)
{
    char buf[16384];
    const char *p;
    int rc = procfs_read_at(root, buf, sizeof buf, NULL, "/proc/stat");

    if (rc < 0)
        return rc;
    p = strstr(buf, "\nbtime ");
    if (!p)
        return BW_EINVAL;
    *btime_s = strtoll(p + 7, NULL, 10);
    return 0;
}

int64_t procfs_start_ns(int64_t btime_s, uint64_t starttime)
{
    long hz = sysconf(_SC_CLK_TCK);

    if (hz <= 0)
        hz = 100;
    return btime_s * 1000000000LL + (int64_t)(starttime / (uint64_t)hz) * 1000000000LL +
           (int64_t)(starttime % (uint64_t)hz) * (1000000000LL / hz);
}

int procfs_pid_of(const char *name)
{
    long v = 0;

    if (!*name)
        return -1;
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT32_MAX / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v > 0 ? (int)v : -1;
}

uint64_t procfs_link_inode(const char *link, const char *prefix)
{
    size_t pl = strlen(prefix);
    const char *p;
    uint64_t v = 0;

    if (strncmp(link, prefix, pl) != 0 || link[pl] != ':' || link[pl + 1] != '[')
        return 0;
    for (p = link + pl + 2; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    return *p == ']' ? v : 0;
}

/* ------------------------------------------------------- net/tcp rows */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "0100007F:1F90" -> address bytes (as the kernel held them) and port. */
static bool parse_endpoint(const char *s, size_t n, uint8_t family, uint8_t *addr, uint16_t *port)
{
    size_t words = family == 4 ? 1 : 4, i;
    uint32_t w, pv = 0;

    if (n != words * 8 + 5 || s[words * 8] != ':')
        return false;
    for (i = 0; i < words; i++) {
        w = 0;
        for (size_t j = 0; j < 8; j++) {
            int v = hexval(s[i * 8 + j]);

            if (v < 0)
                return false;
            w = w << 4 | (uint32_t)v;
        }
        memcpy(addr + i * 4, &w, 4);
    }
    for (i = words * 8 + 1; i < n; i++) {
        int v = hexval(s[i]);

        if (v < 0)
            return false;
        pv = pv << 4 | (uint32_t)v;
    }
    *port = (uint16_t)pv;
    return true;
}

bool procfs_parse_tcp_row(const char *line, uint8_t family, struct procfs_tcp_row *r)
{
    const char *tok[10];
    size_t len[10], nt = 0;
    const char *p = line;

    while (*p && nt < 10) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '\n')
            break;
        tok[nt] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        len[nt] = (size_t)(p - tok[nt]);
        nt++;
    }
    if (nt < 10 || len[3] != 2)
        return false;
    memset(r, 0, sizeof *r);
    if (!parse_endpoint(tok[1], len[1], family, r->laddr, &r->lport) ||
        !parse_endpoint(tok[2], len[2], family, r->raddr, &r->rport))
        return false;
    r->state = hexval(tok[3][0]) * 16 + hexval(tok[3][1]);
    r->inode = strtoull(tok[9], NULL, 10);
    return r->state >= 0;
}

/* ---------------------------------------------------------- process ref */

/* The text after "\nKEY" of status (KEY includes its colon), or NULL. */
static const char *status_line(const char *status, const char *key)
{
    size_t kl = strlen(key);

    for (const char *p = strstr(status, key); p; p = strstr(p + 1, key))
        if (p == status || p[-1] == '\n')
            return p + kl;
    return NULL;
}

int procfs_status_id(const char *status, const char *key, uint32_t *out)
{
    const char *p = status_line(status, key);
    unsigned long v;
    char *end;

    if (!p)
        return BW_ENOTFOUND;
    errno = 0;
    (void)strtoul(p, &end, 10);  /* real id, then effective */
    if (end == p)
        return BW_ENOTFOUND;
    p = end;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return BW_ENOTFOUND;  /* one id only: not a status line */
    v = strtoul(p, &end, 10);
    if (errno || end == p || v > UINT32_MAX)
        return BW_ENOTFOUND;
    *out = (uint32_t)v;
    return 0;
}

int procfs_status_last(const char *status, const char *key, int32_t *out)
{
    const char *p = status_line(status, key);
    long v = -1;

    if (!p)
        return BW_ENOTFOUND;
    for (;;) {
        char *end;
        long x;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            break;  /* the end of the line (strtol would skip the newline) */
        errno = 0;
        x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX)
            break;
        v = x;
        p = end;
    }
    if (v < 0)
        return BW_ENOTFOUND;
    *out = (int32_t)v;
    return 0;
}

int procfs_status_mask(const char *status, const char *key, uint64_t *out)
{
    const char *p = status_line(status, key);
    unsigned long long v;
    char *end;

    if (!p)
        return BW_ENOTFOUND;
    while (*p == ' ' || *p == '\t')
        p++;
    errno = 0;
    v = strtoull(p, &end, 16);
    if (errno || end == p || (*end != '\n' && *end != '\0'))
        return BW_ENOTFOUND;
    *out = v;
    return 0;
}

int procfs_read_cmdline(const char *root, int pid, char *buf, size_t cap)
{
    size_t len = 0;
    int rc = procfs_read_at(root, buf, cap + 1, &len, "/proc/%d/cmdline", pid);

    if (rc < 0) {
        buf[0] = '\0';
        return rc;
    }
    procfs_argv_flatten(buf, len);
    return 0;
}

size_t procfs_argv_flatten(char *cmd, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (cmd[i] == '\0' || cmd[i] == '\n')
            cmd[i] = ' ';
    while (len > 0 && cmd[len - 1] == ' ')
        len--;
    cmd[len] = '\0';
    return len;
}

/* Every segment kept had a '/' before it, so the output never outgrows the
 * input; a path that does not start with '/' would break that and is left
 * alone. */
void procfs_path_normalize(char *p)
{
    char *out = p, *in = p;

    if (p[0] != '/')
        return;
    while (*in) {
        char *seg;
        size_t n;

        while (*in == '/')
            in++;
        seg = in;
        n = strcspn(seg, "/");
        in += n;
        if (n == 0 || (n == 1 && seg[0] == '.'))
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, n);
        out += n;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}
