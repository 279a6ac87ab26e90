/* procfs.c - bounded readers of /proc and runtime files below a host root,
 * and the event-building helpers the collectors share (bulwark/procfs.h).
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
#include <unistd.h>

#include "bulwark/err.h"
#include "bulwark/clock.h"
#include "bulwark/log.h"
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

/* ---------------------------------------------------------- process ref */

/* The effective id of a "Uid:\t0\t0\t0\t0" line, or 0. */
static uint32_t status_id(const char *status, const char *key)
{
    const char *p = strstr(status, key);
    char *end;

    if (!p)
        return 0;
    (void)strtoul(p + strlen(key), &end, 10);  /* real id, then effective */
    return (uint32_t)strtoul(end, NULL, 10);
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

int procfs_process_ref(const char *root, int pid, uint32_t cmdline_max, int64_t btime_s,
                       Bulwark__V1__ProcessRef **out, struct procfs_stat *st_out)
{
    Bulwark__V1__ProcessRef *p = NULL;
    struct procfs_stat st, pst;
    char path[PROCFS_PATH_MAX], link[PROCFS_PATH_MAX], status[4096];
    char *cmd = NULL;
    size_t len = 0, cap = cmdline_max ? cmdline_max : PROCFS_CMDLINE_MAX;
    int rc;

    if (cap > PROCFS_CMDLINE_MAX)
        cap = PROCFS_CMDLINE_MAX;
    rc = procfs_read_stat(root, pid, &st);
    if (rc < 0)
        return rc == BW_EINVAL ? BW_EINVAL : BW_ENOTFOUND;
    p = procfs_msg_new(&bulwark__v1__process_ref__descriptor);
    cmd = malloc(cap + 1);
    if (!p || !cmd) {
        rc = BW_ENOMEM;
        goto out;
    }
    p->pid = st.pid;
    p->ppid = st.ppid;
    p->start_time_ns = procfs_start_ns(btime_s, st.starttime);
    if (procfs_read_at(root, status, sizeof status, NULL, "/proc/%d/status", pid) == 0) {
        p->uid = status_id(status, "\nUid:");
        p->gid = status_id(status, "\nGid:");
    }
    /* at most cap bytes are read, whatever the command line's length */
    if (procfs_read_at(root, cmd, cap + 1, &len, "/proc/%d/cmdline", pid) < 0)
        len = 0;
    procfs_argv_flatten(cmd, len);
    if (procfs_path(path, sizeof path, root, "/proc/%d/exe", pid) == 0 &&
        procfs_readlink(path, link, sizeof link) == 0)
        rc = procfs_set_str(&p->exe, link, PROCFS_STR_MAX);
    if (rc == 0)
        rc = procfs_set_str(&p->name, st.comm, PROCFS_STR_MAX);
    if (rc == 0)
        rc = procfs_set_str(&p->cmdline, cmd, PROCFS_CMDLINE_MAX);
    if (rc == 0 && st.ppid > 0 && procfs_read_stat(root, st.ppid, &pst) == 0)
        rc = procfs_set_str(&p->parent_name, pst.comm, PROCFS_STR_MAX);
    if (rc < 0)
        goto out;
    if (st_out)
        *st_out = st;
    *out = p;
    p = NULL;
out:
    free(cmd);
    procfs_msg_free(p ? &p->base : NULL);
    return rc;
}

/* --------------------------------------------------------- event helpers */

int64_t procfs_now_ns(void)
{
    return clock_wall_ns();
}

char *procfs_strdup(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    char *d = malloc(n + 1);

    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *procfs_strndup_utf8(const char *s, size_t n, size_t max)
{
    char *p;

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int procfs_set_str(char **field, const char *s, size_t max)
{
    char *d = procfs_strdup(s, max);

    if (!d)
        return BW_ENOMEM;
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = d;
    return 0;
}

/* The generated descriptors give proto3 strings &protobuf_c_empty_string
 * as default, so protobuf-c's own walker frees exactly our malloc'd tree. */
void procfs_msg_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

void *procfs_msg_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);

    if (m)
        d->message_init(m);
    return m;
}

Bulwark__V1__Event *procfs_event_new(int64_t time_ns, Bulwark__V1__Severity sev)
{
    Bulwark__V1__Event *ev = procfs_msg_new(&bulwark__v1__event__descriptor);

    if (ev) {
        ev->time_ns = time_ns;
        ev->severity = sev;
    }
    return ev;
}

/* ---------------------------------------------------------------- ticker */

static void on_tick(uv_timer_t *h)
{
    struct procfs_ticker *t = h->data;
    int rc = t->c->scan(t->c);

    if (rc < 0)
        log_msg(LOG_WARN, t->c->name, "scan failed: %s", bw_strerror(rc));
}

int procfs_ticker_start(struct procfs_ticker *t, uv_loop_t *loop, uint32_t ms, struct collector *c)
{
    if (t->on)
        return 0;
    if (uv_timer_init(loop, &t->timer) < 0)
        return BW_EIO;
    t->timer.data = t;
    t->c = c;
    t->on = true;
    uv_timer_start(&t->timer, on_tick, ms ? ms : 1000, ms ? ms : 1000);
    return 0;
}

static void on_ticker_closed(uv_handle_t *h)
{
    struct procfs_ticker *t = h->data;
    void (*done)(void *) = t->done;

    t->on = false;
    t->done = NULL;
    if (done)
        done(t->done_arg);
}

void procfs_ticker_stop(struct procfs_ticker *t, void (*done)(void *arg), void *arg)
{
    if (!t->on || uv_is_closing((uv_handle_t *)&t->timer)) {
        if (!t->on && done)
            done(arg);
        else {
            t->done = done;
            t->done_arg = arg;
        }
        return;
    }
    t->done = done;
    t->done_arg = arg;
    uv_close((uv_handle_t *)&t->timer, on_ticker_closed);
}
