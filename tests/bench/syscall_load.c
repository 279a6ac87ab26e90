/* syscall_load.c - the syscall-heavy workload of the eBPF sensor's
 * benchmark (tests/bench/sensor.sh; not a test). One mode per run; prints
 * "MODE N SECONDS CPU": the wall time (CLOCK_MONOTONIC) and the CPU time
 * (user + system, its children's included) the run took. The kernel
 * programs of the sensor run inside the traced syscalls, so their cost is
 * in CPU; on a shared machine the wall time also holds the time spent
 * waiting for a core, which other work decides.
 *
 *   bench_syscalls open N PATH   N x (open PATH read-only, fstat, close)
 *   bench_syscalls stat N PATH   N x stat PATH (a syscall the sensor does not trace)
 *   bench_syscalls exec N        N x (fork, exec /bin/true, wait)
 *   bench_syscalls tcp N         N x (connect to a loopback listener, accept, close both)
 *   bench_syscalls rate R S PATH opens PATH read-only (open, close) at R a second for S
 *                                seconds, paced every millisecond; prints the count it
 *                                reached and the time it took (behind when it is longer) */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_open(long n, const char *path)
{
    struct stat st;

    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);

        if (fd < 0 || fstat(fd, &st) < 0) {
            perror(path);
            return 1;
        }
        close(fd);
    }
    return 0;
}

/* CPU seconds (user + system) of this process and its waited-for children. */
static double cpu_now(void)
{
    struct rusage self, kids;

    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                    kids.ru_stime.tv_sec) +
           (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
                    kids.ru_stime.tv_usec) / 1e6;
}

/* open-close of path at rate r a second for secs seconds: each turn
 * catches up with where the clock says the count should be, then sleeps
 * for a millisecond, so a slow stretch is made up at once. */
static int run_rate(long r, double secs, const char *path, long *done)
{
    double t0 = now(), t;
    struct timespec ms = {.tv_nsec = 1000000};

    *done = 0;
    while ((t = now() - t0) < secs) {
        long due = (long)(t * (double)r);

        for (; *done < due; (*done)++) {
            int fd = open(path, O_RDONLY);

            if (fd < 0) {
                perror(path);
                return 1;
            }
            close(fd);
        }
        nanosleep(&ms, NULL);
    }
    return 0;
}

static int run_stat(long n, const char *path)
{
    struct stat st;

    for (long i = 0; i < n; i++)
        if (stat(path, &st) < 0) {
            perror(path);
            return 1;
        }
    return 0;
}

static int run_exec(long n)
{
    for (long i = 0; i < n; i++) {
        int status;
        pid_t pid = fork();

        if (pid < 0)
            return 1;
        if (pid == 0) {
            execl("/bin/true", "true", "bench-exec", (char *)NULL);
            _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
            return 1;
    }
    return 0;
}

static int run_tcp(long n)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 128) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0)
        return 1;
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0), s;

        /* no TIME_WAIT pile-up: the client side closes with a reset */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};

        if (c < 0 || setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0 ||
            connect(c, (struct sockaddr *)&a, sizeof a) < 0 || (s = accept(l, NULL, NULL)) < 0)
            return 1;
        close(c);
        close(s);
    }
    close(l);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    double t0, c0;
    int rc;

    if (argc < 3 || n <= 0) {
        fprintf(stderr, "usage: %s open|stat N PATH | exec N | tcp N | rate R SECONDS PATH\n",
                argv[0]);
        return 2;
    }
    t0 = now();
    c0 = cpu_now();
    if (!strcmp(argv[1], "open") && argc > 3)
        rc = run_open(n, argv[3]);
    else if (!strcmp(argv[1], "stat") && argc > 3)
        rc = run_stat(n, argv[3]);
    else if (!strcmp(argv[1], "exec"))
        rc = run_exec(n);
    else if (!strcmp(argv[1], "tcp"))
        rc = run_tcp(n);
    else if (!strcmp(argv[1], "rate") && argc > 4) {
        double secs = strtod(argv[3], NULL);

        if (secs <= 0 || secs > 3600)
            return 2;
        rc = run_rate(n, secs, argv[4], &n);
    }
    else
        rc = 2;
    if (rc == 0)
        printf("%s %ld %.4f %.4f\n", argv[1], n, now() - t0, cpu_now() - c0);
    return rc;
}
