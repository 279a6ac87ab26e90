/* test_collectors_a.c - the proc, net, resource and config collectors, run
 * through scan() with no loop on host trees: copies of the fixture hosts in
 * tests/fixtures/hosts/ plus fake /proc entries written here (stat,
 * cmdline, comm, status, cgroup, exe/cwd/ns/fd symlinks, net/tcp{,6}). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/evjson.h"
#include "bulwark/procfs.h"
#include "bulwark/procref.h"

#define D "d0cce701d0cce701d0cce701d0cce701d0cce701d0cce701d0cce701d0cce701"
#define C "c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2"
#define O "c810c810c810c810c810c810c810c810c810c810c810c810c810c810c810c810"
#define P "90d3a41190d3a41190d3a41190d3a41190d3a41190d3a41190d3a41190d3a411"
#define UID_C "5e1d2c3b-4a59-4e8f-9d7c-6b5a4f3e2d1c"
/* Large enough for every connection of a busy host: test_real_net looks for its
 * own among all the host has (a shared CI machine may hold thousands). */
#define SINK_MAX 65536

/* ---------------------------------------------------------------- trees */

static void mkdirs(const char *path)
{
    char buf[4096];

    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
}

static void wr_len(const char *root, const char *rel, const char *data, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", root, rel);
    mkdirs(path);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void wr(const char *root, const char *rel, const char *data)
{
    wr_len(root, rel, data, strlen(data));
}

static void wrf(const char *root, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void wrf(const char *root, const char *rel, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    wr(root, rel, buf);
}

static void lnk(const char *root, const char *rel, const char *target)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/%s", root, rel);
    mkdirs(path);
    unlink(path);
    assert_int_equal(symlink(target, path), 0);
}

static void copy_tree(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *de;

    assert_non_null(d);
    mkdir(dst, 0755);
    while ((de = readdir(d))) {
        char s[4096], t[4096], buf[65536];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(s, sizeof s, "%s/%s", src, de->d_name);
        snprintf(t, sizeof t, "%s/%s", dst, de->d_name);
        assert_int_equal(lstat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            copy_tree(s, t);
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(s, buf, sizeof buf - 1);

            assert_true(n > 0);
            buf[n] = '\0';
            assert_int_equal(symlink(buf, t), 0);
        } else {
            int in = open(s, O_RDONLY), out = open(t, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ssize_t n;

            assert_true(in >= 0 && out >= 0);
            while ((n = read(in, buf, sizeof buf)) > 0)
                assert_int_equal(write(out, buf, (size_t)n), n);
            close(in);
            close(out);
        }
    }
    closedir(d);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_tree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A temp dir, optionally a copy of a fixture host. Caller frees and rm_tree()s. */
static char *host_tree(const char *fixture)
{
    char *root = malloc(4096);

    assert_non_null(root);
    snprintf(root, 4096, "%s/bw-colA-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(root));
    if (fixture) {
        char src[4096];

        snprintf(src, sizeof src, "%s/tests/fixtures/hosts/%s", getenv("BW_SOURCE_DIR"), fixture);
        copy_tree(src, root);
    }
    return root;
}

static char *fixture_path(const char *host)
{
    char *p = malloc(4096);

    assert_non_null(p);
    snprintf(p, 4096, "%s/tests/fixtures/hosts/%s", getenv("BW_SOURCE_DIR"), host);
    return p;
}

/* A fake process: stat, status, comm, cmdline (len bytes), cgroup, links. */
static void add_proc(const char *root, int pid, int ppid, const char *comm, unsigned long long start,
                     const char *cmdline, size_t cmdlen, const char *exe, const char *cgroup,
                     unsigned long long netns)
{
    char rel[256], tgt[64];

    snprintf(rel, sizeof rel, "proc/%d/stat", pid);
    wrf(root, rel, "%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 %llu 10000 100\n", pid,
        comm, ppid, pid, pid, start);
    snprintf(rel, sizeof rel, "proc/%d/status", pid);
    wrf(root, rel, "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n"
                   "Uid:\t1000\t1001\t1001\t1001\nGid:\t2000\t2001\t2001\t2001\n",
        comm, pid, pid, ppid);
    snprintf(rel, sizeof rel, "proc/%d/comm", pid);
    wrf(root, rel, "%s\n", comm);
    snprintf(rel, sizeof rel, "proc/%d/cmdline", pid);
    wr_len(root, rel, cmdline, cmdlen);
    snprintf(rel, sizeof rel, "proc/%d/cgroup", pid);
    wr(root, rel, cgroup);
    if (exe) {
        snprintf(rel, sizeof rel, "proc/%d/exe", pid);
        lnk(root, rel, exe);
    }
    snprintf(rel, sizeof rel, "proc/%d/cwd", pid);
    lnk(root, rel, "/srv/app");
    snprintf(rel, sizeof rel, "proc/%d/ns/net", pid);
    snprintf(tgt, sizeof tgt, "net:[%llu]", netns);
    lnk(root, rel, tgt);
}

/* ----------------------------------------------------------------- sink */

struct sink {
    Bulwark__V1__Event *ev[SINK_MAX];
    size_t n;
};

static int sink_emit(void *ctx, Bulwark__V1__Event *ev)
{
    struct sink *s = ctx;

    if (s->n == SINK_MAX) {
        evjson_event_free(ev);
        return BW_EFULL;
    }
    s->ev[s->n++] = ev;
    return 0;
}

static void sink_clear(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        evjson_event_free(s->ev[i]);
    s->n = 0;
}

struct rig {
    struct collect_config cfg;
    struct collector_env env;
    struct sink sink;
    struct collector *col;
    char *root;
    bool owned;
};

static struct rig *rig_new(char *root, bool owned,
                           struct collector *(*ctor)(const struct collector_env *))
{
    struct rig *r = calloc(1, sizeof *r);

    assert_non_null(r);
    r->root = root;
    r->owned = owned;
    r->cfg = (struct collect_config){.host_root = root, .scan_interval_ms = 1000,
                                     .resource_interval_ms = 5000, .cmdline_max = 4096};
    r->env = (struct collector_env){.cfg = &r->cfg, .containers = containers_new(root, 64),
                                    .emit = sink_emit, .emit_ctx = &r->sink};
    assert_non_null(r->env.containers);
    r->col = ctor(&r->env);
    assert_non_null(r->col);
    return r;
}

static void rig_free(struct rig *r)
{
    collector_free(r->col);
    containers_free(r->env.containers);
    sink_clear(&r->sink);
    if (r->owned)
        rm_tree(r->root);
    free(r->root);
    free(r);
}

static Bulwark__V1__Event *find_pid(struct sink *s, int pid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ev[i]->process && s->ev[i]->process->pid == pid)
            return s->ev[i];
    return NULL;
}

/* ----------------------------------------------------------------- proc */

static void test_parse_stat(void **state)
{
    struct procfs_stat st;

    assert_int_equal(procfs_parse_stat("42 (a) b) c) R 7 42 42 34816 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "
                                       "987 0 0\n", &st), 0);
    assert_int_equal(st.pid, 42);
    assert_int_equal(st.ppid, 7);
    assert_string_equal(st.comm, "a) b) c");
    assert_int_equal(st.pgrp, 42);
    assert_int_equal(st.session, 42);
    assert_int_equal(st.tty_nr, 34816);
    assert_int_equal(st.starttime, 987);
    assert_int_equal(procfs_parse_stat("42 (x) R 1 2\n", &st), BW_EINVAL);
    assert_int_equal(procfs_parse_stat("garbage", &st), BW_EINVAL);
}

/* The status readers: effective ids, the last entry of namespace lists,
 * capability masks, and missing or bad lines as absent. */
static void test_status_readers(void **state)
{
    const char *st = "Name:\tbash\nNSpid:\t4242\t7\nNSpgid:\t4242\t1\nUid:\t1000\t0\t0\t0\n"
                     "Gid:\t5\t6\t6\t6\nXNSpgid:\t9\n";
    uint64_t m = 0;
    uint32_t u = 99;
    int32_t v = 99;

    (void)state;
    assert_int_equal(procfs_status_id(st, "Uid:", &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(procfs_status_id(st, "Gid:", &u), 0);
    assert_int_equal(u, 6);
    assert_int_equal(procfs_status_last(st, "NSpid:", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(procfs_status_last(st, "NSpgid:", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(procfs_status_last("NSpid:\tx\n", "NSpid:", &v), BW_ENOTFOUND);
    assert_int_equal(procfs_status_last("NSpid:\t12\n34\n", "NSpid:", &v), 0);
    assert_int_equal(v, 12);  /* the next line is not read */
    assert_int_equal(procfs_status_id("Uid:\t1000\n7\n", "Uid:", &u), BW_ENOTFOUND);
    assert_int_equal(procfs_status_id("Uid:\t1000\n", "Uid:", &u), BW_ENOTFOUND);
    assert_int_equal(procfs_status_id("Name:\tx\n", "Uid:", &u), BW_ENOTFOUND);
    assert_int_equal(u, 6);  /* untouched on failure */
    assert_int_equal(procfs_status_mask("Name:\tx\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000210000\n",
                                        "CapEff:", &m), 0);
    assert_int_equal(m, 0x210000);
    assert_int_equal(procfs_status_mask("CapEff:\tzz\n", "CapEff:", &m), BW_ENOTFOUND);
}

/* Sets this process's comm (what /proc/PID/stat shows). */
static void set_comm(const char *comm)
{
    prctl(PR_SET_NAME, comm, 0, 0, 0);
}

/* procref_build on a chain this test makes, read from the real /proc:
 * chain-a (a new session and process group) forks chain-b, which forks
 * chain-c. At c the ancestors are b, a, then this test; the session and
 * group are a's; the namespace pid is the pid seen in /proc; uid and
 * loginuid are this process's. */
static void test_lineage_readers(void **state)
{
    char self_comm[64], self_cmd[EVB_CMDLINE_MAX + 1], lbuf[32];
    Bulwark__V1__ProcessRef *ref = NULL;
    struct procfs_stat st, me;
    int fds[2], status;
    pid_t a, c = 0;

    (void)state;
    assert_int_equal(procfs_read_stat("/", getpid(), &me), 0);
    snprintf(self_comm, sizeof self_comm, "%s", me.comm);
    assert_int_equal(procfs_read_cmdline("/", getpid(), self_cmd, EVB_CMDLINE_MAX), 0);
    assert_int_equal(pipe(fds), 0);
    a = fork();
    assert_true(a >= 0);
    if (a == 0) {
        close(fds[0]);
        setsid();
        set_comm("chain-a");
        if (fork() == 0) {
            set_comm("chain-b");
            if (fork() == 0) {
                pid_t pid = getpid();

                set_comm("chain-c");
                if (write(fds[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
                    _exit(1);
            }
        }
        for (;;)
            pause();
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, sizeof c), (ssize_t)sizeof c);
    close(fds[0]);
    assert_int_equal(procref_build("/", c, 0, 0, NULL, &ref, &st), 0);
    kill(-a, SIGKILL);  /* a leads the group b and c are in */
    waitpid(a, &status, 0);

    assert_string_equal(ref->name, "chain-c");
    assert_true(ref->n_ancestors >= 3);
    assert_string_equal(ref->ancestors[0]->name, "chain-b");
    assert_string_equal(ref->ancestors[1]->name, "chain-a");
    assert_int_equal(ref->ancestors[1]->pid, a);
    assert_string_equal(ref->ancestors[2]->name, self_comm);
    assert_int_equal(ref->ancestors[2]->pid, getpid());
    assert_true(ref->n_ancestors <= PROCREF_ANCESTORS_MAX);
    assert_string_equal(ref->parent_name, "chain-b");
    assert_string_equal(ref->parent_cmdline, self_cmd);  /* b forked without exec */
    assert_string_equal(ref->ancestors[0]->exe, ref->exe);
    assert_int_equal(ref->sid_opt_case, BULWARK__V1__PROCESS_REF__SID_OPT_SID);
    assert_int_equal(ref->sid, a);
    assert_int_equal(ref->pgid, a);
    assert_string_equal(ref->session_name, "chain-a");
    assert_int_equal(ref->vpid_opt_case, BULWARK__V1__PROCESS_REF__VPID_OPT_VPID);
    assert_int_equal(ref->vpid, c);
    assert_int_equal(ref->vtid, c);
    assert_int_equal(ref->vpgid, a);  /* not the group leader */
    assert_int_equal(ref->uid_opt_case, BULWARK__V1__PROCESS_REF__UID_OPT_UID);
    assert_int_equal(ref->uid, geteuid());
    assert_int_equal(ref->cap_effective_opt_case, BULWARK__V1__PROCESS_REF__CAP_EFFECTIVE_OPT_CAP_EFFECTIVE);
    assert_int_equal(ref->cap_permitted_opt_case, BULWARK__V1__PROCESS_REF__CAP_PERMITTED_OPT_CAP_PERMITTED);
    if (procfs_read_at("/", lbuf, sizeof lbuf, NULL, "/proc/self/loginuid") == 0) {
        assert_int_equal(ref->loginuid_opt_case, BULWARK__V1__PROCESS_REF__LOGINUID_OPT_LOGINUID);
        assert_int_equal(ref->loginuid, (uint32_t)strtoul(lbuf, NULL, 10));
    } else {
        assert_int_equal(ref->loginuid_opt_case, BULWARK__V1__PROCESS_REF__LOGINUID_OPT__NOT_SET);
    }
    evb_msg_free(&ref->base);
}

/* The names of p's ancestors, joined by '<'. */
static const char *chain_of(const Bulwark__V1__ProcessRef *p, char *buf, size_t n)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < p->n_ancestors; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "<" : "", p->ancestors[i]->name);
    return buf;
}

/* The lineage cache: a second child of the same parent takes the chain
 * above the parent from the cache (a hit) and gets what a walk gives; a
 * new process at the parent's pid (another start time) is a miss and is
 * read afresh. */
static void test_lineage_cache(void **state)
{
    char *root = host_tree(NULL), chain[256];
    struct procref_lineage cache = {0};
    Bulwark__V1__ProcessRef *a = NULL, *b = NULL, *c = NULL, *plain = NULL;
    const char *cg = "0::/\n";

    (void)state;
    wr(root, "proc/stat", "cpu 0\nbtime 1700000000\n");
    add_proc(root, 1, 0, "systemd", 5, "/sbin/init\0", 11, "/sbin/init", cg, 1);
    add_proc(root, 10, 1, "sshd", 50, "sshd\0", 5, "/usr/sbin/sshd", cg, 1);
    add_proc(root, 20, 10, "bash", 100, "-bash\0", 6, "/bin/bash", cg, 1);
    add_proc(root, 30, 20, "ls", 200, "ls\0", 3, "/bin/ls", cg, 1);
    add_proc(root, 31, 20, "cat", 201, "cat\0", 4, "/bin/cat", cg, 1);
    assert_int_equal(procref_build(root, 30, 0, 0, &cache, &a, NULL), 0);
    assert_int_equal(cache.misses, 1);
    assert_int_equal(cache.hits, 0);
    assert_string_equal(chain_of(a, chain, sizeof chain), "bash<sshd<systemd");
    assert_int_equal(procref_build(root, 31, 0, 0, &cache, &b, NULL), 0);
    assert_int_equal(cache.hits, 1);
    assert_string_equal(chain_of(b, chain, sizeof chain), "bash<sshd<systemd");
    assert_string_equal(b->ancestors[1]->exe, "/usr/sbin/sshd");
    assert_int_equal(b->ancestors[2]->pid, 1);
    assert_int_equal(procref_build(root, 31, 0, 0, NULL, &plain, NULL), 0);
    assert_true(protobuf_c_message_get_packed_size(&b->base) ==
                protobuf_c_message_get_packed_size(&plain->base));

    /* pid 20 reused by another process (new start time) under pid 1 */
    add_proc(root, 20, 1, "cron", 300, "cron\0", 5, "/usr/sbin/cron", cg, 1);
    assert_int_equal(procref_build(root, 31, 0, 0, &cache, &c, NULL), 0);
    assert_int_equal(cache.hits, 1);
    assert_int_equal(cache.misses, 2);
    assert_string_equal(chain_of(c, chain, sizeof chain), "cron<systemd");
    evb_msg_free(&a->base);
    evb_msg_free(&b->base);
    evb_msg_free(&c->base);
    evb_msg_free(&plain->base);
    procref_lineage_release(&cache);
    procref_lineage_release(&cache);  /* twice is harmless */
    rm_tree(root);
    free(root);
}

static void test_path_normalize(void **state)
{
    static const char *const cases[][2] = {
        {"/etc/./hostname", "/etc/hostname"}, {"/etc//passwd", "/etc/passwd"},
        {"/tmp/../etc/shadow", "/etc/shadow"}, {"/a/b/../c", "/a/c"}, {"/..", "/"},
        {"/", "/"}, {"/a/b/..", "/a"}, {"/a/./../../etc/shadow", "/etc/shadow"}, {"/etc/", "/etc"},
        /* not absolute: left alone (it once grew without bound and smashed the stack) */
        {"(unreachable)/a/../b", "(unreachable)/a/../b"}, {"socket:[12]/x", "socket:[12]/x"},
    };
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(buf, sizeof buf, "%s", cases[i][0]);
        procfs_path_normalize(buf);
        assert_string_equal(buf, cases[i][1]);
    }
}

static void test_proc_scan(void **state)
{
    struct rig *r = rig_new(host_tree("docker"), true, collector_proc_new);
    static const char cmd[] = "python3\0-m\0http.server\0" "8080";
    const char *dcg = "0::/system.slice/docker-" D ".scope\n";
    Bulwark__V1__Event *ev;
    long hz = sysconf(_SC_CLK_TCK);
    char *big;

    add_proc(r->root, 4100, 1, "nginx", 500, "nginx\0", 6, "/usr/sbin/nginx", dcg, 4026532001ULL);
    /* the first pass only learns what runs */
    assert_int_equal(r->col->scan(r->col), 0);
    assert_int_equal(r->sink.n, 0);
    assert_int_equal(r->col->errors, 0);

    add_proc(r->root, 4242, 4100, "python3", 12345, cmd, sizeof cmd - 1, "/usr/bin/python3.11", dcg,
             4026532001ULL);
    assert_int_equal(r->col->scan(r->col), 1);
    ev = find_pid(&r->sink, 4242);
    assert_non_null(ev);
    assert_int_equal(ev->body_case, BULWARK__V1__EVENT__BODY_EXEC);
    assert_int_equal(ev->process->ppid, 4100);
    assert_int_equal(ev->process->uid, 1001);
    assert_int_equal(ev->process->gid, 2001);
    assert_string_equal(ev->process->exe, "/usr/bin/python3.11");
    assert_string_equal(ev->process->name, "python3");
    assert_string_equal(ev->process->cmdline, "python3 -m http.server 8080");
    assert_string_equal(ev->process->parent_name, "nginx");
    assert_int_equal(ev->process->n_ancestors, 2);  /* nginx, then systemd (pid 1, ppid 0) */
    assert_int_equal(ev->process->ancestors[0]->pid, 4100);
    assert_string_equal(ev->process->ancestors[0]->exe, "/usr/sbin/nginx");
    assert_string_equal(ev->process->ancestors[1]->name, "systemd");
    assert_string_equal(ev->process->ancestors[1]->exe, "");  /* no exe link in the tree */
    assert_string_equal(ev->process->parent_cmdline, "nginx");
    assert_int_equal(ev->process->sid, 4242);
    /* what this fake /proc does not give is absent, not 0 */
    assert_int_equal(ev->process->loginuid_opt_case, BULWARK__V1__PROCESS_REF__LOGINUID_OPT__NOT_SET);
    assert_int_equal(ev->process->vpid_opt_case, BULWARK__V1__PROCESS_REF__VPID_OPT__NOT_SET);
    assert_int_equal(ev->exec->tty_nr_opt_case, BULWARK__V1__PROCESS_EXEC__TTY_NR_OPT_TTY_NR);
    assert_int_equal(ev->exec->tty_nr, 0);
    assert_int_equal(ev->process->start_time_ns,
                     1700000000LL * 1000000000LL + 12345LL * 1000000000LL / hz);
    assert_int_equal(ev->time_ns, ev->process->start_time_ns);
    assert_string_equal(ev->exec->cwd, "/srv/app");
    assert_non_null(ev->container);
    assert_string_equal(ev->container->id, D);
    assert_string_equal(ev->container->name, "web");
    assert_int_equal(r->col->scan(r->col), 0);  /* known now */
    sink_clear(&r->sink);

    /* a 10 MB command line costs cmdline_max bytes */
    big = malloc(10u << 20);
    assert_non_null(big);
    memset(big, 'A', 10u << 20);
    add_proc(r->root, 5000, 1, "big", 20000, big, 10u << 20, "/bin/big", "0::/user.slice\n", 4026531840ULL);
    free(big);
    /* a process gone between the listing and the read; a kernel thread */
    wr(r->root, "proc/6000/cgroup", "0::/\n");
    add_proc(r->root, 7000, 2, "kworker/0:1", 20001, "", 0, NULL, "0::/\n", 4026531840ULL);
    assert_int_equal(r->col->scan(r->col), 1);
    ev = find_pid(&r->sink, 5000);
    assert_non_null(ev);
    assert_int_equal(strlen(ev->process->cmdline), 4096);
    assert_null(ev->container);
    assert_null(find_pid(&r->sink, 7000));
    assert_int_equal(r->col->errors, 1);
    sink_clear(&r->sink);

    r->cfg.cmdline_max = 100;
    /* the same pid with a new start time is a new process */
    add_proc(r->root, 4242, 4100, "sh", 22222, "sh\0-c\0id\0", 9, "/bin/sh", dcg, 4026532001ULL);
    assert_int_equal(r->col->scan(r->col), 1);
    ev = find_pid(&r->sink, 4242);
    assert_non_null(ev);
    assert_string_equal(ev->process->cmdline, "sh -c id");
    assert_int_equal(r->col->events, 3);
    rig_free(r);
}

/* -------------------------------------------------------------- net */

/* /proc/net/tcp's spelling of an address: 32-bit words in host order. */
static void hex_addr(char *out, size_t n, int af, const char *text)
{
    uint8_t a[16];
    uint32_t w;
    size_t words = af == AF_INET ? 1 : 4, off = 0;

    assert_int_equal(inet_pton(af, text, a), 1);
    for (size_t i = 0; i < words; i++) {
        memcpy(&w, a + 4 * i, 4);
        off += (size_t)snprintf(out + off, n - off, "%08X", w);
    }
}

static void tcp_line(char *buf, size_t n, int af, int sl, const char *la, unsigned lp, const char *ra,
                     unsigned rp, unsigned st, unsigned long inode)
{
    char l[40], r[40];

    hex_addr(l, sizeof l, af, la);
    hex_addr(r, sizeof r, af, ra);
    snprintf(buf, n, "%4d: %s:%04X %s:%04X %02X 00000000:00000000 00:00000000 00000000  1000        0 %lu 1 "
                     "0000000000000000 20 4 30 10 -1\n", sl, l, lp, r, rp, st, inode);
}

#define TCP_HDR "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
#define TCP6_HDR "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

static void write_tables(const char *root, bool with_conn)
{
    char a[256], b[256], c[256], d[256], e[256];

    /* host: sshd listens on 22; an inbound connection to it is not reported */
    tcp_line(a, sizeof a, AF_INET, 0, "0.0.0.0", 22, "0.0.0.0", 0, 0x0A, 1100);
    tcp_line(b, sizeof b, AF_INET, 1, "10.0.0.1", 22, "10.0.0.9", 51000, 0x01, 1101);
    wrf(root, "proc/1/net/tcp", TCP_HDR "%s%s", a, b);
    wr(root, "proc/1/net/tcp6", TCP6_HDR);
    /* the container: two IPv4 outbound (one still connecting), one IPv6, one TIME_WAIT */
    tcp_line(a, sizeof a, AF_INET, 0, "0.0.0.0", 80, "0.0.0.0", 0, 0x0A, 2000);
    tcp_line(b, sizeof b, AF_INET, 1, "172.17.0.2", 43210, "93.184.216.34", 443, 0x01, 777001);
    tcp_line(c, sizeof c, AF_INET, 2, "172.17.0.2", 43211, "10.96.0.10", 5432, 0x02, 777003);
    tcp_line(d, sizeof d, AF_INET, 3, "172.17.0.2", 80, "10.244.1.7", 40000, 0x01, 777004);
    tcp_line(e, sizeof e, AF_INET, 4, "172.17.0.2", 43100, "93.184.216.34", 80, 0x06, 0);
    if (with_conn)
        wrf(root, "proc/4100/net/tcp", TCP_HDR "%s%s%s%s%s", a, b, c, d, e);
    else
        wrf(root, "proc/4100/net/tcp", TCP_HDR "%s%s%s", a, c, d);
    tcp_line(a, sizeof a, AF_INET6, 0, "2001:db8::2", 50000, "2606:4700::6810:84e5", 443, 0x01, 777002);
    wrf(root, "proc/4100/net/tcp6", TCP6_HDR "%s", a);
}

static Bulwark__V1__Event *find_conn(struct sink *s, const char *remote, unsigned port)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ev[i]->net && strcmp(s->ev[i]->net->remote_addr, remote) == 0 &&
            s->ev[i]->net->remote_port == port)
            return s->ev[i];
    return NULL;
}

static void test_net_scan(void **state)
{
    struct rig *r = rig_new(host_tree("docker"), true, collector_net_new);
    const char *dcg = "0::/system.slice/docker-" D ".scope\n";
    Bulwark__V1__Event *ev;

    add_proc(r->root, 1, 0, "systemd", 5, "/sbin/init\0", 11, "/usr/lib/systemd/systemd", "0::/init.scope\n",
             4026531840ULL);
    add_proc(r->root, 4100, 1, "nginx", 500, "nginx\0", 6, "/usr/sbin/nginx", dcg, 4026532001ULL);
    add_proc(r->root, 4101, 4100, "curl", 600, "curl\0https://example.com\0", 25, "/usr/bin/curl", dcg,
             4026532001ULL);
    lnk(r->root, "proc/4100/fd/0", "/dev/null");
    lnk(r->root, "proc/4100/fd/5", "socket:[2000]");
    lnk(r->root, "proc/4101/fd/0", "pipe:[99]");
    lnk(r->root, "proc/4101/fd/3", "socket:[777001]");
    lnk(r->root, "proc/4101/fd/4", "socket:[777002]");
    write_tables(r->root, true);

    assert_int_equal(r->col->scan(r->col), 3);
    ev = find_conn(&r->sink, "93.184.216.34", 443);
    assert_non_null(ev);
    assert_int_equal(ev->net->direction, BULWARK__V1__NET_CONNECTION__DIRECTION__OUTBOUND);
    assert_int_equal(ev->net->protocol, BULWARK__V1__NET_CONNECTION__PROTOCOL__TCP);
    assert_string_equal(ev->net->local_addr, "172.17.0.2");
    assert_int_equal(ev->net->local_port, 43210);
    assert_int_equal(ev->net->netns_inode, 4026532001ULL);
    assert_non_null(ev->process);
    assert_int_equal(ev->process->pid, 4101);
    assert_string_equal(ev->process->cmdline, "curl https://example.com");
    assert_non_null(ev->container);
    assert_string_equal(ev->container->id, D);
    assert_string_equal(ev->container->name, "web");

    ev = find_conn(&r->sink, "2606:4700::6810:84e5", 443);
    assert_non_null(ev);
    assert_string_equal(ev->net->local_addr, "2001:db8::2");
    assert_int_equal(ev->net->local_port, 50000);
    assert_int_equal(ev->process->pid, 4101);

    ev = find_conn(&r->sink, "10.96.0.10", 5432);  /* SYN_SENT; its socket is nobody's fd */
    assert_non_null(ev);
    assert_null(ev->process);
    assert_null(find_conn(&r->sink, "10.0.0.9", 51000));    /* inbound to sshd */
    assert_null(find_conn(&r->sink, "10.244.1.7", 40000));  /* inbound to nginx */
    sink_clear(&r->sink);

    assert_int_equal(r->col->scan(r->col), 0);  /* each connection once */
    write_tables(r->root, false);                /* closed: forgotten */
    assert_int_equal(r->col->scan(r->col), 0);
    write_tables(r->root, true);                 /* the same tuple again: reported again */
    assert_int_equal(r->col->scan(r->col), 1);
    assert_non_null(find_conn(&r->sink, "93.184.216.34", 443));
    assert_int_equal(r->col->events, 4);
    rig_free(r);
}

/* ---------------------------------------------------------- resource */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static Bulwark__V1__Event *find_scope(struct sink *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        Bulwark__V1__Event *ev = s->ev[i];

        if (!ev->resource)
            continue;
        if (!id && strcmp(ev->resource->scope, "host") == 0 && !ev->container)
            return ev;
        if (id && ev->container && strcmp(ev->container->id, id) == 0)
            return ev;
    }
    return NULL;
}

struct res_case {
    const char *host, *id, *file, *after;
    uint64_t mem, limit;
    const char *name;
};

static void test_resource_samples(void **state)
{
    static const struct res_case cases[] = {
        {"docker", D, "sys/fs/cgroup/system.slice/docker-" D ".scope/cpu.stat",
         "usage_usec 5050000\nuser_usec 1\n", 73400320, 536870912, "web"},
        {"containerd-k8s", C, "sys/fs/cgroup/cpu,cpuacct/kubepods/burstable/pod" UID_C "/" C "/cpuacct.usage",
         "2050000000\n", 104857600, 0, "api"},
        {"podman", P, "sys/fs/cgroup/unified/machine.slice/libpod-" P ".scope/cpu.stat",
         "usage_usec 3050000\n", 209715200, 1073741824, "db"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct res_case *k = &cases[i];
        struct rig *r = rig_new(host_tree(k->host), true, collector_resource_new);
        Bulwark__V1__Event *ev;
        int64_t t0, t1;
        double lo, hi;

        t0 = mono_ns();
        assert_int_equal(r->col->scan(r->col), 0);  /* primes */
        usleep(100000);
        wr(r->root, k->file, k->after);  /* 50 ms of CPU */
        wr(r->root, "proc/stat", "cpu  10005 0 5000 80000 1000 0 0 0 0 0\nbtime 1700000000\n");
        assert_int_equal(r->col->scan(r->col), 2);  /* the container and the host */
        t1 = mono_ns();
        lo = 0.05e9 / (double)(t1 - t0) - 1e-9;
        hi = 0.05e9 / 0.1e9 + 1e-9;
        ev = find_scope(&r->sink, k->id);
        if (!ev)
            fail_msg("%s: no sample", k->host);
        assert_string_equal(ev->resource->scope, "container");
        if (ev->resource->cpu_cores < lo || ev->resource->cpu_cores > hi)
            fail_msg("%s: cpu %.4f not in [%.4f, %.4f]", k->host, ev->resource->cpu_cores, lo, hi);
        assert_int_equal(ev->resource->memory_bytes, k->mem);
        assert_int_equal(ev->resource->memory_limit_bytes, k->limit);
        assert_true(ev->resource->interval_ms >= 100);
        assert_string_equal(ev->container->name, k->name);
        ev = find_scope(&r->sink, NULL);
        assert_non_null(ev);
        assert_true(ev->resource->cpu_cores >= lo && ev->resource->cpu_cores <= hi);  /* 5 ticks */
        assert_int_equal(ev->resource->memory_bytes, 2000000ULL * 1024);
        assert_int_equal(ev->resource->memory_limit_bytes, 8000000ULL * 1024);
        rig_free(r);
    }
}

/* CRI-O's conmon scope is not a container; a host without containers
 * gives only host samples. */
static void test_resource_no_containers(void **state)
{
    struct rig *r = rig_new(fixture_path("none"), false, collector_resource_new);

    assert_int_equal(r->col->scan(r->col), 0);
    assert_int_equal(r->col->scan(r->col), 1);
    assert_non_null(find_scope(&r->sink, NULL));
    rig_free(r);
    r = rig_new(fixture_path("crio"), false, collector_resource_new);
    assert_int_equal(r->col->scan(r->col), 0);
    assert_int_equal(r->col->scan(r->col), 2);
    assert_non_null(find_scope(&r->sink, O));
    assert_int_equal(find_scope(&r->sink, O)->resource->memory_limit_bytes, 0);  /* "max" */
    rig_free(r);
}

/* ------------------------------------------------------------ config */

static bool has(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static char *dump(const Bulwark__V1__Event *ev)
{
    json_t *j = evjson_event_to_json(ev);
    char *s;

    assert_non_null(j);
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(s);
    return s;
}

static void assert_no_secrets(const Bulwark__V1__Event *ev, const char *const *secrets)
{
    char *s = dump(ev);

    for (; *secrets; secrets++)
        if (strstr(s, *secrets))
            fail_msg("'%s' leaked into %s", *secrets, s);
    free(s);
}

static void test_config_containerd(void **state)
{
    static const char *const secrets[] = {"s3cr3t-hunter2", "postgres://", "wJalrXUtnFEMI", "/usr/bin", NULL};
    struct rig *r = rig_new(fixture_path("containerd-k8s"), false, collector_config_new);
    const Bulwark__V1__ContainerConfig *c;
    Bulwark__V1__Event *ev;

    assert_int_equal(r->col->scan(r->col), 1);
    ev = r->sink.ev[0];
    assert_int_equal(ev->body_case, BULWARK__V1__EVENT__BODY_CONFIG);
    c = ev->config;
    assert_false(c->privileged);
    assert_int_equal(c->user_uid, 1000);
    assert_int_equal(c->n_cap_add, 2);
    assert_true(has(c->cap_add, c->n_cap_add, "NET_ADMIN"));
    assert_true(has(c->cap_add, c->n_cap_add, "SYS_TIME"));
    assert_false(c->host_network);  /* a CNI namespace, not the host's */
    assert_false(c->host_pid);
    assert_false(c->host_ipc);
    assert_int_equal(c->n_mounts, 3);
    assert_string_equal(c->mounts[1]->target, "/etc/config");
    assert_string_equal(c->mounts[1]->source,
                        "/var/lib/kubelet/pods/" UID_C "/volumes/kubernetes.io~configmap/config");
    assert_string_equal(c->mounts[1]->type, "bind");
    assert_true(c->mounts[1]->read_only);
    assert_string_equal(c->mounts[2]->source, "/var/run/docker.sock");
    assert_false(c->mounts[2]->read_only);
    assert_true(c->read_only_rootfs);
    assert_true(c->no_new_privileges);
    assert_string_equal(c->seccomp_profile, "present");
    assert_string_equal(c->apparmor_profile, "cri-containerd.apparmor.d");
    assert_int_equal(c->n_env_names, 5);
    assert_string_equal(c->env_names[0], "PATH");
    assert_string_equal(c->env_names[1], "DATABASE_URL");
    assert_string_equal(c->env_names[2], "AWS_SECRET_ACCESS_KEY");
    assert_string_equal(c->env_names[3], "EMPTY");
    assert_string_equal(c->env_names[4], "NOVALUE");
    assert_string_equal(c->config_path, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" C "/config.json");
    assert_non_null(ev->container);
    assert_string_equal(ev->container->id, C);
    assert_string_equal(ev->container->runtime, "containerd");
    assert_string_equal(ev->container->name, "api");
    assert_string_equal(ev->container->image, "ghcr.io/acme/api:2.3.1");
    assert_string_equal(ev->container->k8s_namespace, "shop");
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_INFO);
    assert_no_secrets(ev, secrets);
    assert_int_equal(r->col->errors, 0);
    assert_int_equal(r->col->scan(r->col), 0);  /* once per container */
    rig_free(r);
}

static void test_config_runtimes(void **state)
{
    static const char *const secrets[] = {"tok-9f8e7d", "pg-pass-1234", "1.25.3", NULL};
    struct rig *r = rig_new(fixture_path("docker"), false, collector_config_new);
    const Bulwark__V1__ContainerConfig *c;

    /* Docker: privileged (hostconfig.json), host network, every capability */
    assert_int_equal(r->col->scan(r->col), 1);
    c = r->sink.ev[0]->config;
    assert_true(c->privileged);
    assert_true(c->host_network);
    assert_false(c->host_pid);
    assert_true(has(c->cap_add, c->n_cap_add, "SYS_ADMIN"));
    assert_false(has(c->cap_add, c->n_cap_add, "CHOWN"));
    assert_string_equal(c->seccomp_profile, "unconfined");
    assert_string_equal(c->apparmor_profile, "unconfined");
    assert_string_equal(r->sink.ev[0]->container->runtime, "docker");
    assert_string_equal(r->sink.ev[0]->container->name, "web");
    assert_string_equal(r->sink.ev[0]->container->image, "nginx:1.25");
    assert_int_equal(r->sink.ev[0]->severity, BULWARK__V1__SEVERITY__SEVERITY_WARNING);
    assert_no_secrets(r->sink.ev[0], secrets);
    rig_free(r);

    /* CRI-O: privileged by annotation, host PID, seccomp profile named */
    r = rig_new(fixture_path("crio"), false, collector_config_new);
    assert_int_equal(r->col->scan(r->col), 1);
    c = r->sink.ev[0]->config;
    assert_true(c->privileged);
    assert_true(c->host_pid);
    assert_false(c->host_network);
    assert_string_equal(c->seccomp_profile, "runtime/default");
    assert_true(has(c->cap_add, c->n_cap_add, "NET_RAW"));  /* beyond CRI-O's defaults */
    assert_true(has(c->env_names, c->n_env_names, "TOKEN"));
    assert_string_equal(r->sink.ev[0]->container->runtime, "cri-o");
    assert_string_equal(r->sink.ev[0]->container->image, "quay.io/acme/worker:1.0");
    assert_no_secrets(r->sink.ev[0], secrets);
    rig_free(r);

    /* Podman */
    r = rig_new(fixture_path("podman"), false, collector_config_new);
    assert_int_equal(r->col->scan(r->col), 1);
    c = r->sink.ev[0]->config;
    assert_false(c->privileged);
    assert_int_equal(c->n_cap_add, 1);
    assert_string_equal(c->cap_add[0], "SYS_PTRACE");
    assert_true(has(c->env_names, c->n_env_names, "POSTGRES_PASSWORD"));
    assert_string_equal(r->sink.ev[0]->container->runtime, "podman");
    assert_string_equal(r->sink.ev[0]->container->name, "db");
    assert_no_secrets(r->sink.ev[0], secrets);
    rig_free(r);

    r = rig_new(fixture_path("none"), false, collector_config_new);
    assert_int_equal(r->col->scan(r->col), 0);
    rig_free(r);
}

static void test_config_odd_types(void **state)
{
    struct rig *r = rig_new(host_tree(NULL), true, collector_config_new);
    const char *task = "run/containerd/io.containerd.runtime.v2.task/default";
    char rel[512];
    const Bulwark__V1__ContainerConfig *c;

    snprintf(rel, sizeof rel, "%s/odd/config.json", task);
    wr(r->root, rel,
       "{\"process\": {\"user\": {\"uid\": \"root\"}, \"env\": [1, \"A=secret-a\", {\"B\": 2}],"
       " \"capabilities\": {\"bounding\": \"all\"}, \"noNewPrivileges\": \"yes\","
       " \"apparmorProfile\": 7},"
       " \"mounts\": [42, {\"destination\": 5, \"source\": \"/x\", \"options\": [\"ro\", 3]}],"
       " \"root\": [], \"linux\": {\"namespaces\": {}, \"seccomp\": \"on\"}, \"annotations\": []}");
    snprintf(rel, sizeof rel, "%s/notjson/config.json", task);
    wr(r->root, rel, "{\"process\": ");
    snprintf(rel, sizeof rel, "%s/array/config.json", task);
    wr(r->root, rel, "[1, 2, 3]");
    snprintf(rel, sizeof rel, "%s/empty/config.json", task);
    wr(r->root, rel, "");

    assert_int_equal(r->col->scan(r->col), 1);
    c = r->sink.ev[0]->config;
    assert_int_equal(c->n_env_names, 1);
    assert_string_equal(c->env_names[0], "A");
    /* no uid in the config: absent, not root */
    assert_int_equal(c->user_uid_opt_case, BULWARK__V1__CONTAINER_CONFIG__USER_UID_OPT__NOT_SET);
    assert_int_equal(c->n_mounts, 1);
    assert_string_equal(c->mounts[0]->source, "/x");
    assert_string_equal(c->mounts[0]->target, "");
    assert_true(c->mounts[0]->read_only);
    assert_string_equal(r->sink.ev[0]->container->id, "odd");
    assert_string_equal(r->sink.ev[0]->container->runtime, "containerd");
    /* 3 bad files + uid, env x2, bounding, nnp, apparmor, mount 42, destination, option 3,
     * root, namespaces, seccomp, annotations */
    assert_int_equal(r->col->errors, 3 + 13);
    {
        static const char *const secrets[] = {"secret-a", NULL};

        assert_no_secrets(r->sink.ev[0], secrets);
    }
    sink_clear(&r->sink);

    /* gone and back: reported again */
    snprintf(rel, sizeof rel, "%s/%s/odd", r->root, task);
    rm_tree(rel);
    assert_int_equal(r->col->scan(r->col), 0);
    snprintf(rel, sizeof rel, "%s/odd/config.json", task);
    wr(r->root, rel, "{\"process\": {\"user\": {\"uid\": 5}}}");
    assert_int_equal(r->col->scan(r->col), 1);
    assert_int_equal(r->sink.ev[0]->config->user_uid, 5);
    rig_free(r);
}

/* ------------------------------------------------------- the real host */

static void on_stopped(void *arg)
{
    *(bool *)arg = true;
}

struct waiter {
    struct rig *r;
    pid_t pid;
    int64_t deadline;
};

static void on_poll_timer(uv_timer_t *t)
{
    struct waiter *w = t->data;

    if (find_pid(&w->r->sink, w->pid) || mono_ns() > w->deadline)
        uv_stop(t->loop);
}

/* The agent's own /proc: a process the test starts is reported with its
 * pid and command line, in netlink mode (when the kernel lets us) or by
 * scans; the collector closes every handle it opened. */
static void test_real_proc(void **state)
{
    uv_loop_t loop;
    uv_timer_t poll;
    struct rig *r = rig_new(evb_strdup("/", 8), false, collector_proc_new);
    struct waiter w = {.r = r, .deadline = mono_ns() + 5000000000LL};
    bool stopped = false;
    Bulwark__V1__Event *ev;
    pid_t child;
    int status;

    assert_int_equal(uv_loop_init(&loop), 0);
    r->env.loop = &loop;
    r->cfg.scan_interval_ms = 50;
    assert_int_equal(r->col->start(r->col), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        execl("/bin/sleep", "sleep", "1.5", (char *)NULL);
        _exit(127);
    }
    w.pid = child;
    uv_timer_init(&loop, &poll);
    poll.data = &w;
    uv_timer_start(&poll, on_poll_timer, 20, 20);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&poll, NULL);
    r->col->stop(r->col, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(stopped);
    assert_int_equal(uv_loop_close(&loop), 0);
    waitpid(child, &status, 0);
    ev = find_pid(&r->sink, child);
    assert_non_null(ev);
    assert_string_equal(ev->process->cmdline, "sleep 1.5");
    assert_string_equal(ev->process->name, "sleep");
    assert_int_equal(ev->process->ppid, getpid());
    rig_free(r);
}

/* A loopback connection this process opens is reported with its ports and
 * this pid; the listener's side of it is not. */
static void test_real_net(void **state)
{
    struct rig *r = rig_new(evb_strdup("/", 8), false, collector_net_new);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int ls = socket(AF_INET, SOCK_STREAM, 0), cs = socket(AF_INET, SOCK_STREAM, 0), as;
    unsigned port, cport;
    bool found = false;

    assert_true(ls >= 0 && cs >= 0);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 1), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    port = ntohs(sa.sin_port);
    assert_int_equal(connect(cs, (struct sockaddr *)&sa, sizeof sa), 0);
    as = accept(ls, NULL, NULL);
    assert_true(as >= 0);
    sl = sizeof sa;
    assert_int_equal(getsockname(cs, (struct sockaddr *)&sa, &sl), 0);
    cport = ntohs(sa.sin_port);
    assert_true(r->col->scan(r->col) >= 1);
    for (size_t i = 0; i < r->sink.n; i++) {
        const Bulwark__V1__NetConnection *n = r->sink.ev[i]->net;

        if (n->remote_port == port && n->local_port == cport) {
            found = true;
            assert_string_equal(n->remote_addr, "127.0.0.1");
            assert_non_null(r->sink.ev[i]->process);
            assert_int_equal(r->sink.ev[i]->process->pid, getpid());
        }
        assert_false(n->local_port == port && n->remote_port == cport);  /* the accepted side */
    }
    assert_true(found);
    close(as);
    close(cs);
    close(ls);
    rig_free(r);
}

/* This machine's cgroups (hybrid here): host samples after priming. */
static void test_real_resource(void **state)
{
    struct rig *r = rig_new(evb_strdup("/", 8), false, collector_resource_new);
    Bulwark__V1__Event *ev;

    assert_true(r->col->scan(r->col) >= 0);
    usleep(50000);
    assert_true(r->col->scan(r->col) >= 1);
    ev = find_scope(&r->sink, NULL);
    assert_non_null(ev);
    assert_true(ev->resource->cpu_cores >= 0);
    assert_true(ev->resource->memory_limit_bytes > ev->resource->memory_bytes);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),
        cmocka_unit_test(test_status_readers),
        cmocka_unit_test(test_lineage_readers),
        cmocka_unit_test(test_lineage_cache),
        cmocka_unit_test(test_path_normalize),
        cmocka_unit_test(test_proc_scan),
        cmocka_unit_test(test_net_scan),
        cmocka_unit_test(test_resource_samples),
        cmocka_unit_test(test_resource_no_containers),
        cmocka_unit_test(test_config_containerd),
        cmocka_unit_test(test_config_runtimes),
        cmocka_unit_test(test_config_odd_types),
        cmocka_unit_test(test_real_proc),
        cmocka_unit_test(test_real_net),
        cmocka_unit_test(test_real_resource),
    };

    if (!getenv("BW_SOURCE_DIR")) {
        fprintf(stderr, "BW_SOURCE_DIR is not set\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
