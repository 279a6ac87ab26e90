/* test_execattr.c - the attack signs read at exec (agent/collectors/execattr.c):
 * the standard streams of a real child process set to a TCP connection, a
 * pipe and a unix socketpair, read through the real /proc; and the upper
 * layer path found in mountinfo texts (the mount holding a path, overlays,
 * escapes, bind mounts of a subtree, over-mounts); user.name from the
 * passwd file under the process's root, or the host's when it is gone. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/execattr.h"
#include "bulwark/procfs.h"

/* A child whose fds 0 and 1 are in_fd and out_fd, waiting to be killed. */
static pid_t child_with_stdio(int in_fd, int out_fd)
{
    int ready[2];
    char c;
    pid_t pid;

    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0)
            _exit(1);
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static Bulwark__V1__ProcessExec *exec_of(pid_t pid)
{
    Bulwark__V1__ProcessExec *x = evb_msg_new(&bulwark__v1__process_exec__descriptor);

    assert_non_null(x);
    assert_int_equal(execattr_stdio("/", pid, x), 0);
    return x;
}

static void test_stdio_tcp(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s;
    Bulwark__V1__ProcessExec *x;
    pid_t pid;

    (void)state;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    pid = child_with_stdio(c, c);  /* the connecting end: its remote is the listener */
    x = exec_of(pid);
    assert_true(x->stdin_socket);
    assert_true(x->stdout_socket);
    assert_string_equal(x->stdio_remote_addr, "127.0.0.1");
    assert_int_equal(x->stdio_remote_port, ntohs(a.sin_port));
    evb_msg_free(&x->base);
    reap(pid);
    close(s);
    close(c);
    close(l);
}

static void test_stdio_pipe_and_unix(void **state)
{
    int p[2], u[2];
    Bulwark__V1__ProcessExec *x;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(p), 0);
    pid = child_with_stdio(p[0], p[1]);
    x = exec_of(pid);
    assert_false(x->stdin_socket);
    assert_false(x->stdout_socket);
    assert_string_equal(x->stdio_remote_addr, "");
    evb_msg_free(&x->base);
    reap(pid);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, u), 0);
    pid = child_with_stdio(p[0], u[0]);  /* a journal-like stdout */
    x = exec_of(pid);
    assert_false(x->stdin_socket);
    assert_true(x->stdout_socket);
    assert_string_equal(x->stdio_remote_addr, "");
    assert_int_equal(x->stdio_remote_port, 0);
    evb_msg_free(&x->base);
    reap(pid);
    close(p[0]);
    close(p[1]);
    close(u[0]);
    close(u[1]);
}

static void test_stdio_gone(void **state)
{
    Bulwark__V1__ProcessExec *x;
    pid_t pid = fork();

    (void)state;
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    x = exec_of(pid);  /* no such process: nothing set, no error */
    assert_false(x->stdin_socket || x->stdout_socket || x->stderr_socket);
    evb_msg_free(&x->base);
}

#define OVL "overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/AB:/var/lib/containers/storage/overlay/l/CD,upperdir=/var/lib/containers/storage/overlay/42/diff,workdir=/var/lib/containers/storage/overlay/42/work"

struct upper_case {
    const char *path;
    int rc;
    const char *out;  /* when rc is 1 */
};

static void check_upper(const char *info, const struct upper_case *c, size_t n)
{
    char out[PROCFS_PATH_MAX];

    for (size_t i = 0; i < n; i++) {
        int rc = execattr_upper_path(info, c[i].path, out, sizeof out);

        if (rc != c[i].rc)
            fail_msg("%s: %d, want %d", c[i].path, rc, c[i].rc);
        if (rc == 1)
            assert_string_equal(out, c[i].out);
    }
}

static void test_upper_path(void **state)
{
    static const char info[] =
        "76 51 0:41 / / rw,relatime - " OVL "\n"
        "77 76 0:45 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
        "78 76 0:46 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"
        "79 76 8:1 /vol /data rw,relatime shared:1 master:2 - ext4 /dev/sda1 rw\n"
        "80 76 0:47 / /tmp\\040dir rw - tmpfs tmpfs rw\n";
    static const struct upper_case cases[] = {
        {"/tmp/x", 1, "/var/lib/containers/storage/overlay/42/diff/tmp/x"},
        {"/bin/sh", 1, "/var/lib/containers/storage/overlay/42/diff/bin/sh"},
        /* other file systems hold these: not an overlay */
        {"/data/tool", 0, NULL},
        {"/dev/shm/x", 0, NULL},
        {"/tmp dir/x", 0, NULL},
        /* "/datax" is not below "/data" */
        {"/datax/tool", 1, "/var/lib/containers/storage/overlay/42/diff/datax/tool"},
    };
    char out[PROCFS_PATH_MAX];

    (void)state;
    check_upper(info, cases, sizeof cases / sizeof cases[0]);
    /* too small an output */
    assert_int_equal(execattr_upper_path(info, "/tmp/x", out, 10), BW_ETOOBIG);
    /* no overlay anywhere (a host), garbage, empty text */
    check_upper("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", &(struct upper_case){"/usr/bin/x", 0, NULL}, 1);
    check_upper("", &(struct upper_case){"/x", 0, NULL}, 1);
    check_upper("no fields here\n\n - \n", &(struct upper_case){"/x", 0, NULL}, 1);
}

static void test_upper_path_submount_and_overmount(void **state)
{
    /* an overlay mounted again over / (the last one listed is on top), a
     * bind of an overlay's subtree at /app, an escaped upperdir */
    static const char info[] =
        "76 51 0:41 / / rw - " OVL "\n"
        "90 76 0:50 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/up\\054per,workdir=/w\n"
        "91 90 0:50 /srv/app /app rw - overlay overlay rw,lowerdir=/l,upperdir=/up2,workdir=/w\n";
    static const struct upper_case cases[] = {
        {"/usr/bin/x", 1, "/up,per/usr/bin/x"},
        {"/app/run", 1, "/up2/srv/app/run"},
        {"/app", 1, "/up2/srv/app"},
    };

    (void)state;
    check_upper(info, cases, sizeof cases / sizeof cases[0]);
}

/* An exec event of pid with uid (uid < 0: none), in a container or not. */
static Bulwark__V1__Event *exec_event(int pid, long uid, bool container)
{
    Bulwark__V1__Event *ev = evb_msg_new(&bulwark__v1__event__descriptor);

    assert_non_null(ev);
    ev->process = evb_msg_new(&bulwark__v1__process_ref__descriptor);
    ev->exec = evb_msg_new(&bulwark__v1__process_exec__descriptor);
    assert_true(ev->process && ev->exec);
    ev->body_case = BULWARK__V1__EVENT__BODY_EXEC;
    ev->process->pid = pid;
    if (uid >= 0) {
        ev->process->uid_opt_case = BULWARK__V1__PROCESS_REF__UID_OPT_UID;
        ev->process->uid = (uint32_t)uid;
    }
    if (container) {
        ev->container = evb_msg_new(&bulwark__v1__container_ref__descriptor);
        assert_non_null(ev->container);
    }
    return ev;
}

/* The user's name of an exec: "" when none was found. */
static void assert_user(const char *root, int pid, long uid, bool container, const char *want)
{
    struct procref_lineage cache;
    Bulwark__V1__Event *ev = exec_event(pid, uid, container);

    memset(&cache, 0, sizeof cache);
    execattr_enrich(root, pid, 0, &cache, ev);
    assert_string_equal(ev->process->user ? ev->process->user : "", want);
    procref_lineage_release(&cache);
    evb_msg_free(&ev->base);
}

static void test_user_name(void **state)
{
    char root[] = "/tmp/bw-execattr-XXXXXX", path[256];
    struct passwd *me = getpwuid(getuid());
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof path, "%s/etc", root);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/etc/passwd", root);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("root:x:0:0:root:/root:/bin/sh\n# a comment\nbroken-line\n"
          "odd:x:12ab:1::/:/bin/false\n:x:7:7::/:/bin/false\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", f);
    fclose(f);
    /* no such process under this root: a host process's user is the host's */
    assert_user(root, 999999, 65534, false, "nobody");
    assert_user(root, 999999, 0, false, "root");
    assert_user(root, 999999, 7, false, "");       /* an empty name is no name */
    assert_user(root, 999999, 12, false, "");      /* "12ab" is not 12 */
    assert_user(root, 999999, 4242, false, "");    /* not in the file */
    assert_user(root, 999999, -1, false, "");      /* no uid: nothing to name */
    assert_user(root, 999999, 65534, true, "");    /* a container's is not the host's */
    /* a live process: the passwd file under its own root */
    if (me)
        assert_user("/", (int)getpid(), (long)getuid(), false, me->pw_name);
    unlink(path);
    snprintf(path, sizeof path, "%s/etc", root);
    rmdir(path);
    rmdir(root);
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* user.name of a file or connection event through the cache: the file is
 * read once per (mount namespace, uid), so a name changed in it meanwhile
 * is seen only after the entry's time; a name already set is kept; a
 * container's process gone already has none (not the host's). */
static void test_user_cache(void **state)
{
    char root[] = "/tmp/bw-execattr-XXXXXX", path[256];
    struct passwd *me = getpwuid(getuid());
    struct execattr_users users;
    Bulwark__V1__Event *ev;

    (void)state;
    memset(&users, 0, sizeof users);
    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof path, "%s/etc", root);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/etc/passwd", root);
    put_file(path, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");

    ev = exec_event(999999, 65534, false);
    assert_int_equal(execattr_name_user(&users, root, 999999, ev), 0);
    assert_string_equal(ev->process->user, "nobody");
    evb_msg_free(&ev->base);
    put_file(path, "renamed:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    ev = exec_event(999999, 65534, false);
    assert_int_equal(execattr_name_user(&users, root, 999999, ev), 0);
    assert_string_equal(ev->process->user, "nobody");  /* from the cache */
    evb_msg_free(&ev->base);

    ev = exec_event(999999, 65534, true);  /* a container's, gone */
    assert_int_equal(execattr_name_user(&users, root, 999999, ev), 0);
    assert_string_equal(ev->process->user ? ev->process->user : "", "");
    evb_msg_free(&ev->base);
    ev = exec_event(999999, -1, false);  /* no uid */
    assert_int_equal(execattr_name_user(&users, root, 999999, ev), 0);
    assert_string_equal(ev->process->user ? ev->process->user : "", "");
    evb_msg_free(&ev->base);
    ev = exec_event(999999, 65534, false);  /* named already */
    ev->process->user = strdup("kept");
    assert_int_equal(execattr_name_user(&users, root, 999999, ev), 0);
    assert_string_equal(ev->process->user, "kept");
    evb_msg_free(&ev->base);
    if (me) {  /* a live process: its own mount namespace's file */
        ev = exec_event((int)getpid(), (long)getuid(), false);
        assert_int_equal(execattr_name_user(&users, "/", (int)getpid(), ev), 0);
        assert_string_equal(ev->process->user, me->pw_name);
        evb_msg_free(&ev->base);
    }
    execattr_users_release(&users);
    unlink(path);
    snprintf(path, sizeof path, "%s/etc", root);
    rmdir(path);
    rmdir(root);
}

/* A container's own files are read within its root: an absolute symlink
 * resolves inside it (not to the host's file of that name, where
 * /proc/PID/root/... would lead), and what is no regular file (a FIFO, a
 * device node: a watchdog opened is a reboot) is refused before it is
 * opened. */
static void test_read_in_root(void **state)
{
    char root[] = "/tmp/bw-inroot-XXXXXX", host[] = "/tmp/bw-host-XXXXXX", p[512], buf[64];
    int ready[2], done[2];
    pid_t child;
    char c;

    (void)state;
    if (geteuid() != 0)
        skip();  /* chroot needs root (the README's test command runs as root) */
    assert_non_null(mkdtemp(root));
    assert_non_null(mkdtemp(host));
    snprintf(p, sizeof p, "%s/secret", host);
    put_file(p, "outside\n");
    snprintf(p, sizeof p, "%s/tmp", root);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s%s", root, host);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s%s/secret", root, host);
    put_file(p, "inside\n");
    snprintf(p, sizeof p, "%s/etc", root);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(buf, sizeof buf, "%s/secret", host);
    snprintf(p, sizeof p, "%s/etc/passwd", root);
    assert_int_equal(symlink(buf, p), 0);
    snprintf(p, sizeof p, "%s/fifo", root);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(p, sizeof p, "%s/null", root);
    assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(1, 3)), 0);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (chroot(root) != 0 || write(ready[1], "r", 1) != 1)
            _exit(1);
        _exit(read(done[0], &c, 1) == 1 ? 0 : 2);
    }
    assert_int_equal(read(ready[0], &c, 1), 1);  /* chrooted */

    assert_int_equal(procfs_read_in_root("/", child, "/etc/passwd", buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "inside\n");
    snprintf(p, sizeof p, "/proc/%d/root/etc/passwd", (int)child);
    assert_int_equal(procfs_read(p, buf, sizeof buf, NULL), 0);
    assert_string_equal(buf, "outside\n");  /* the hazard the helper avoids */
    assert_int_equal(procfs_read_in_root("/", child, "/fifo", buf, sizeof buf, NULL), BW_EINVAL);
    assert_int_equal(procfs_read_in_root("/", child, "/null", buf, sizeof buf, NULL), BW_EINVAL);
    assert_int_equal(procfs_read_in_root("/", child, "/etc", buf, sizeof buf, NULL), BW_EINVAL);
    assert_true(procfs_read_in_root("/", child, "/nope", buf, sizeof buf, NULL) < 0);

    assert_int_equal(write(done[1], "d", 1), 1);
    assert_int_equal(waitpid(child, NULL, 0), child);
    close(ready[0]);
    close(ready[1]);
    close(done[0]);
    close(done[1]);
    for (const char *const *n = (const char *const[]){"/etc/passwd", "/fifo", "/null", NULL}; *n;
         n++) {
        snprintf(p, sizeof p, "%s%s", root, *n);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s%s/secret", root, host);
    unlink(p);
    snprintf(p, sizeof p, "%s%s", root, host);
    rmdir(p);
    snprintf(p, sizeof p, "%s/tmp", root);
    rmdir(p);
    snprintf(p, sizeof p, "%s/etc", root);
    rmdir(p);
    rmdir(root);
    snprintf(p, sizeof p, "%s/secret", host);
    unlink(p);
    rmdir(host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdio_tcp),
        cmocka_unit_test(test_stdio_pipe_and_unix),
        cmocka_unit_test(test_stdio_gone),
        cmocka_unit_test(test_upper_path),
        cmocka_unit_test(test_upper_path_submount_and_overmount),
        cmocka_unit_test(test_user_name),
        cmocka_unit_test(test_user_cache),
        cmocka_unit_test(test_read_in_root),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
