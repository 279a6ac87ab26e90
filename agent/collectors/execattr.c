/* execattr.c - signs of an attack read at exec (bulwark/execattr.h).
 *
 * Reverse shell: /proc/PID/fd/{0,1,2} are links; "socket:[INODE]" is a
 * socket. The socket's protocol is read from the socket inode itself (the
 * sockfs xattr "system.sockprotoname", reached through the fd link: "TCP",
 * "TCPv6", "UNIX-STREAM" ...), so only a TCP socket costs a table walk: the
 * inode is looked up in /proc/PID/net/tcp or tcp6, which show the table of
 * the process's own network namespace, and the row gives the remote end.
 * systemd hands every service a unix socket as stdout (the journal), so the
 * socket flags alone do not make a reverse shell; the remote address does.
 *
 * Drift: /proc/PID/exe names the executable as the process sees it. The
 * mount that holds that path is found in /proc/PID/mountinfo; when it is an
 * overlay (a container's root), its upperdir is a host path where the files
 * written since the container started live (new files, and image files
 * changed or chmod'ed, which overlay copies up). The executable is in the
 * upper layer when upperdir/PATH exists and has the inode the exe link
 * resolves to (overlay reports an upper file's own inode number).
 *
 * Written after start: the exe's ctime (a copy, a download, a chmod all set
 * it; a file of the image keeps its extraction time) against the start of
 * the container's init, pid 1 of the process's pid namespace, whose stat is
 * read within the process's root (its /proc/1/stat: the container's own
 * /proc, resolved inside the container as procfs_read_in_root does). Its start in clock ticks after boot becomes wall
 * time with the boot instant taken from CLOCK_REALTIME - CLOCK_BOOTTIME
 * (the btime line of /proc/stat is whole seconds). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/execattr.h"
#include "bulwark/limits.h"
#include "bulwark/procfs.h"
#include "bulwark/procref.h"

/* ------------------------------------------------------------ sockets */

/* The TCP row of socket inode ino in pid's namespace (family 4 or 6),
 * among the table's first EXECATTR_TCP_ROWS rows. */
static bool tcp_row_of(const char *root, int pid, uint8_t family, uint64_t ino,
                       struct procfs_tcp_row *r)
{
    char path[PROCFS_PATH_MAX], line[512];
    bool found = false;
    unsigned rows = 0;
    FILE *f;

    if (procfs_path(path, sizeof path, root, "/proc/%d/net/%s", pid, family == 4 ? "tcp" : "tcp6") < 0 ||
        !(f = fopen(path, "re")))
        return false;
    while (!found && rows++ < EXECATTR_TCP_ROWS && fgets(line, sizeof line, f))
        found = procfs_parse_tcp_row(line, family, r) && r->inode == ino;
    fclose(f);
    return found;
}

/* Fills the remote end from fd's socket when it is TCP. 1 set, 0 not, BW_ENOMEM. */
static int stdio_remote(const char *root, int pid, const char *fdpath, uint64_t ino,
                        Bulwark__V1__ProcessExec *x)
{
    char proto[32], addr[INET6_ADDRSTRLEN];
    struct procfs_tcp_row r;
    ssize_t n = getxattr(fdpath, "system.sockprotoname", proto, sizeof proto - 1);
    uint8_t family;

    if (n <= 0)
        return 0;
    proto[n] = '\0';
    if (strcmp(proto, "TCP") == 0)
        family = 4;
    else if (strcmp(proto, "TCPv6") == 0)
        family = 6;
    else
        return 0;
    if (!tcp_row_of(root, pid, family, ino, &r) ||
        !inet_ntop(family == 4 ? AF_INET : AF_INET6, r.raddr, addr, sizeof addr))
        return 0;
    if (evb_set_str(&x->stdio_remote_addr, addr, BW_LIMIT_ADDR) < 0)
        return BW_ENOMEM;
    x->stdio_remote_port = r.rport;
    return 1;
}

int execattr_stdio(const char *root, int pid, Bulwark__V1__ProcessExec *x)
{
    protobuf_c_boolean *flag[3] = {&x->stdin_socket, &x->stdout_socket, &x->stderr_socket};
    bool have_remote = false;

    for (int fd = 0; fd < 3; fd++) {
        char path[PROCFS_PATH_MAX], link[64];
        uint64_t ino;
        int rc;

        if (procfs_path(path, sizeof path, root, "/proc/%d/fd/%d", pid, fd) < 0 ||
            procfs_readlink(path, link, sizeof link) < 0 || !(ino = procfs_link_inode(link, "socket")))
            continue;
        *flag[fd] = true;
        if (have_remote)
            continue;
        rc = stdio_remote(root, pid, path, ino, x);
        if (rc < 0)
            return rc;
        have_remote = rc > 0;
    }
    return 0;
}

/* ---------------------------------------------------------- upper layer */

/* Copies the mountinfo word at *s (ended by a space or end) to out,
 * decoding the kernel's \ooo escapes, and moves *s past it. false if it
 * does not fit. stop also ends the word (',' in options), unless escaped. */
static bool word(const char **s, const char *end, char stop, char *out, size_t n)
{
    const char *p = *s;
    size_t o = 0;

    while (p < end && *p != ' ' && *p != stop) {
        char ch = *p++;

        if (ch == '\\' && end - p >= 3 && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' && p[1] <= '7' &&
            p[2] >= '0' && p[2] <= '7') {
            ch = (char)((p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0'));
            p += 3;
        }
        if (o + 1 >= n)
            return false;
        out[o++] = ch;
    }
    out[o] = '\0';
    *s = p;
    return true;
}

static void skip_space(const char **s, const char *end)
{
    while (*s < end && **s == ' ')
        (*s)++;
}

/* Length of mount point mp when it holds path, else 0 ("/" counts 1). */
static size_t holds(const char *mp, const char *path)
{
    size_t l = strlen(mp);

    if (strcmp(mp, "/") == 0)
        return 1;
    return strncmp(path, mp, l) == 0 && (path[l] == '/' || path[l] == '\0') ? l : 0;
}

/* The upperdir= value in an overlay's super options, or false. */
static bool upperdir_of(const char *opts, const char *end, char *out, size_t n)
{
    const char *p = opts;

    while (p < end) {
        if ((p == opts || p[-1] == ',') && (size_t)(end - p) > 9 && memcmp(p, "upperdir=", 9) == 0) {
            p += 9;
            return word(&p, end, ',', out, n) && *out;
        }
        p++;
    }
    return false;
}

int execattr_upper_path(const char *mountinfo, const char *path, char *out, size_t n)
{
    char mp[PROCFS_PATH_MAX], mroot[PROCFS_PATH_MAX], up[PROCFS_PATH_MAX];
    char best_up[PROCFS_PATH_MAX] = "", best_root[PROCFS_PATH_MAX] = "", best_mp[PROCFS_PATH_MAX] = "";
    const char *line = mountinfo;
    size_t best = 0;
    bool best_overlay = false;

    while (*line) {
        const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line), *p = line, *sep;
        size_t l;
        bool ok;

        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
        for (int i = 0; i < 3 && p < end; i++) {
            while (p < end && *p != ' ')
                p++;
            skip_space(&p, end);
        }
        if (p < end && word(&p, end, ' ', mroot, sizeof mroot)) {
            skip_space(&p, end);
            ok = word(&p, end, ' ', mp, sizeof mp);
        } else {
            ok = false;
        }
        if (ok && (l = holds(mp, path)) >= best && l > 0 && (sep = strstr(p, " - ")) && sep < end) {
            const char *fs = sep + 3, *sp;

            best = l;
            snprintf(best_mp, sizeof best_mp, "%s", mp);
            snprintf(best_root, sizeof best_root, "%s", mroot);
            best_overlay = false;
            sp = memchr(fs, ' ', (size_t)(end - fs));
            if (sp && sp - fs == 7 && memcmp(fs, "overlay", 7) == 0 &&
                (sp = memchr(sp + 1, ' ', (size_t)(end - sp - 1))) &&
                upperdir_of(sp + 1, end, up, sizeof up)) {
                best_overlay = true;
                snprintf(best_up, sizeof best_up, "%s", up);
            }
        }
        line = nl ? nl + 1 : end;
    }
    if (!best || !best_overlay)
        return 0;
    /* upperdir + mount root (when the mount is a subtree) + path below the mount point */
    if (snprintf(out, n, "%s%s%s", best_up, strcmp(best_root, "/") == 0 ? "" : best_root,
                 path + (strcmp(best_mp, "/") == 0 ? 0 : strlen(best_mp))) >= (int)n)
        return BW_ETOOBIG;
    return 1;
}

int execattr_upper_layer(const char *root, int pid, bool *upper)
{
    char path[PROCFS_PATH_MAX], exe[PROCFS_PATH_MAX], file[PROCFS_PATH_MAX];
    struct stat st_exe, st_up;
    char *info;

    *upper = false;
    if (procfs_path(path, sizeof path, root, "/proc/%d/exe", pid) < 0 ||
        procfs_readlink(path, exe, sizeof exe) < 0 || exe[0] != '/' || stat(path, &st_exe) < 0)
        return 0;
    info = malloc(EXECATTR_MOUNTINFO_MAX);
    if (!info)
        return BW_ENOMEM;
    if (procfs_read_at(root, info, EXECATTR_MOUNTINFO_MAX, NULL, "/proc/%d/mountinfo", pid) < 0 ||
        execattr_upper_path(info, exe, file, sizeof file) != 1 ||
        procfs_path(path, sizeof path, root, "%s", file) < 0)
        goto out;
    *upper = lstat(path, &st_up) == 0 && S_ISREG(st_up.st_mode) && st_up.st_ino == st_exe.st_ino;
out:
    free(info);
    return 0;
}

/* ---------------------------------------------------- written after start */

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int execattr_written_after_start(const char *root, int pid, bool *after)
{
    char path[PROCFS_PATH_MAX], text[1024], ns[64], hostns[64];
    struct timespec rt, bt;
    struct procfs_stat init;
    struct stat st;

    *after = false;
    if (procfs_path(path, sizeof path, root, "/proc/%d/ns/pid", pid) < 0 ||
        procfs_readlink(path, ns, sizeof ns) < 0 ||
        procfs_path(path, sizeof path, root, "/proc/self/ns/pid") < 0 ||
        procfs_readlink(path, hostns, sizeof hostns) < 0 || strcmp(ns, hostns) == 0)
        return 0;  /* the agent's (the host's) pid namespace: its pid 1 started no container */
    if (procfs_read_in_root(root, pid, "/proc/1/stat", text, sizeof text, NULL) < 0 ||
        procfs_parse_stat(text, &init) < 0 ||
        procfs_path(path, sizeof path, root, "/proc/%d/exe", pid) < 0 || stat(path, &st) < 0 ||
        clock_gettime(CLOCK_REALTIME, &rt) < 0 || clock_gettime(CLOCK_BOOTTIME, &bt) < 0)
        return 0;
    *after = ts_ns(&st.st_ctim) > ts_ns(&rt) - ts_ns(&bt) + procfs_start_ns(0, init.starttime);
    return 0;
}

int execattr_signs(const char *root, int pid, Bulwark__V1__ProcessExec *x, bool in_container)
{
    bool upper = false, after = false;
    int rc = execattr_stdio(root, pid, x);

    if (rc == 0 && in_container)
        rc = execattr_upper_layer(root, pid, &upper);
    if (rc == 0 && in_container)
        rc = execattr_written_after_start(root, pid, &after);
    x->exe_upper_layer = upper;
    x->exe_written_after_start = after;
    return rc;
}

/* Copies a string field of src into dst when dst has none. 0 or BW_ENOMEM. */
static int take_str(char **dst, const char *src, size_t max)
{
    if ((!*dst || !**dst) && src && *src)
        return evb_set_str(dst, src, max);
    return 0;
}

/* ------------------------------------------------------------ user name */

#define EXECATTR_PASSWD_MAX 65536  /* bytes of a passwd file read at most */

/* The name of uid in the passwd file the process sees (its own root:
 * the host's for a host process, the image's in a container, as Falco's
 * user.name; pid 0: the host's), into out; BW_ENOTFOUND when the file or
 * the uid is not there. A container's file is read within its root
 * (procfs_read_in_root: it may be a symlink or a device node). */
static int user_name(const char *root, int pid, uint32_t uid, char *out, size_t cap)
{
    char *text = malloc(EXECATTR_PASSWD_MAX), *line, *next;
    int rc = BW_ENOTFOUND;

    if (!text)
        return BW_ENOMEM;
    if ((pid ? procfs_read_in_root(root, pid, "/etc/passwd", text, EXECATTR_PASSWD_MAX, NULL)
             : procfs_read_at(root, text, EXECATTR_PASSWD_MAX, NULL, "/etc/passwd")) < 0) {
        free(text);
        return BW_ENOTFOUND;
    }
    for (line = text; line && *line && rc != 0; line = next) {
        char *c1, *c2, *end;
        unsigned long v;

        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        c1 = strchr(line, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] < '0' || c2[1] > '9')
            continue;
        v = strtoul(c2 + 1, &end, 10);
        if (*end != ':' || v != uid || (size_t)(c1 - line) >= cap || c1 == line)
            continue;
        memcpy(out, line, (size_t)(c1 - line));
        out[c1 - line] = '\0';
        rc = 0;
    }
    free(text);
    return rc;
}

int execattr_user(const char *root, int pid, uint32_t uid, bool in_container, char *out,
                  size_t cap)
{
    int rc = user_name(root, pid, uid, out, cap);

    if (rc == BW_ENOTFOUND && !in_container)
        rc = user_name(root, 0, uid, out, cap);
    return rc;
}

struct user_entry {
    struct lru_node node;
    int64_t expires_ns;
    bool found;
    char name[64];
};

void execattr_users_release(struct execattr_users *c)
{
    lru_release(&c->map, NULL);
}

int execattr_name_user(struct execattr_users *c, const char *root, int pid,
                       Bulwark__V1__Event *ev)
{
    Bulwark__V1__ProcessRef *p = ev->process;
    struct { uint64_t mntns; uint32_t uid, pad; } key = {0};
    char path[PROCFS_PATH_MAX], link[64];
    struct lru_node *n;
    struct user_entry *u;
    int64_t now = clock_mono_ns();
    bool created;
    int rc;

    if (!p || !p->uid_opt_case || (p->user && *p->user))
        return 0;
    /* the file a process sees is its mount namespace's: the key; a process
     * gone (no namespace to read) only has the host's, if any */
    if (procfs_path(path, sizeof path, root, "/proc/%d/ns/mnt", pid) == 0 &&
        procfs_readlink(path, link, sizeof link) == 0)
        key.mntns = procfs_link_inode(link, "mnt");
    if (!key.mntns && ev->container)
        return 0;
    key.uid = p->uid;
    if (!c->map.bucket && lru_init(&c->map, EXECATTR_USERS_MAX) < 0)
        return BW_ENOMEM;
    if (lru_get(&c->map, (const char *)&key, sizeof key, sizeof *u, NULL, &n, &created) < 0)
        return BW_ENOMEM;
    u = (struct user_entry *)n;
    if (created || now >= u->expires_ns) {
        rc = key.mntns ? execattr_user(root, pid, p->uid, ev->container != NULL, u->name,
                                       sizeof u->name)
                       : user_name(root, 0, p->uid, u->name, sizeof u->name);
        if (rc == BW_ENOMEM) {
            lru_remove(&c->map, n);
            free(n);
            return rc;
        }
        u->found = rc == 0;
        u->expires_ns = now + (int64_t)EXECATTR_USERS_TTL_S * 1000000000;
    }
    return u->found && evb_set_str(&p->user, u->name, EVB_STR_MAX) < 0 ? BW_ENOMEM : 0;
}

/* user.name of the event's process, when it has a uid and no name (the
 * eBPF sensor's events have it from its pid table). 0 or BW_ENOMEM. */
static int set_user(const char *root, int pid, Bulwark__V1__Event *ev)
{
    Bulwark__V1__ProcessRef *p = ev->process;
    char user[64];
    int rc;

    if (!p->uid_opt_case || (p->user && *p->user))
        return 0;
    rc = execattr_user(root, pid, p->uid, ev->container != NULL, user, sizeof user);
    if (rc < 0)
        return rc == BW_ENOMEM ? rc : 0;
    return evb_set_str(&p->user, user, EVB_STR_MAX) < 0 ? BW_ENOMEM : 0;
}

int execattr_enrich(const char *root, int pid, int64_t btime_s, struct procref_lineage *cache,
                    Bulwark__V1__Event *ev)
{
    Bulwark__V1__ProcessRef *p = ev->process, *full = NULL;
    int rc;

    if (!p || ev->body_case != BULWARK__V1__EVENT__BODY_EXEC)
        return BW_EINVAL;
    if (set_user(root, pid, ev) < 0)
        return BW_ENOMEM;
    rc = procref_build(root, pid, 0, btime_s, cache, &full, NULL);
    if (rc < 0)
        return rc == BW_ENOMEM ? rc : BW_ENOTFOUND;
    if (p->n_ancestors == 0) {
        p->n_ancestors = full->n_ancestors;
        p->ancestors = full->ancestors;
        full->n_ancestors = 0;
        full->ancestors = NULL;
    }
    if (take_str(&p->parent_cmdline, full->parent_cmdline, EVB_CMDLINE_MAX) < 0 ||
        take_str(&p->session_name, full->session_name, EVB_STR_MAX) < 0 ||
        take_str(&p->parent_name, full->parent_name, EVB_STR_MAX) < 0) {
        evb_msg_free(&full->base);
        return BW_ENOMEM;
    }
#define TAKE(f, C)                                              \
    if (!p->f##_opt_case && full->f##_opt_case) {               \
        p->f##_opt_case = BULWARK__V1__PROCESS_REF__##C;        \
        p->f = full->f;                                         \
    }
    TAKE(loginuid, LOGINUID_OPT_LOGINUID)
    TAKE(vpid, VPID_OPT_VPID)
    TAKE(vtid, VTID_OPT_VTID)
    TAKE(sid, SID_OPT_SID)
    TAKE(pgid, PGID_OPT_PGID)
    TAKE(vpgid, VPGID_OPT_VPGID)
    TAKE(cap_effective, CAP_EFFECTIVE_OPT_CAP_EFFECTIVE)
    TAKE(cap_permitted, CAP_PERMITTED_OPT_CAP_PERMITTED)
#undef TAKE
    evb_msg_free(&full->base);
    return execattr_signs(root, pid, ev->exec, ev->container != NULL);
}
