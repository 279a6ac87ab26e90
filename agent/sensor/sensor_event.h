/* sensor_event.h - the records the eBPF sensor's kernel programs
 * (sensor.bpf.c) write into the ring buffer, and the maps' key values that
 * user space (ebpf.c) sets. Shared by both sides, so only fixed-width types:
 * the kernel side gets them from vmlinux.h, user space from linux/types.h.
 *
 * A record is a struct sensor_rec followed by up to three strings (lens[]
 * bytes each, in order, NUL included when not truncated). What the strings
 * and args[] hold depends on the kind and the syscall:
 *   SENSOR_EXEC     s0 exe path (bprm->filename), s1 argv (NUL-separated)
 *   SENSOR_SYSCALL  open/openat/openat2: s0 path, args[1] flags, [2] mode
 *                   (openat: args[2] flags, [3] mode)
 *                   connect/accept/accept4: tuple filled from the socket
 *                   other syscalls: args[] as the syscall got them, s0 the
 *                   first path argument when the syscall has one
 *   SENSOR_FORK, SENSOR_EXIT: no strings. */
#ifndef BULWARK_SENSOR_EVENT_H
#define BULWARK_SENSOR_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SENSOR_STR_MAX 4096u       /* one string's bytes at most (a power of two) */
#define SENSOR_NSTR 3
#define SENSOR_SYSCALLS 512u       /* size of the filter map: syscall numbers below it */
#define SENSOR_COMM 16
#define SENSOR_PREFIXES 8u         /* path prefixes the kernel filters reads by */
#define SENSOR_PREFIX_MAX 16u      /* bytes of one (compared as two 64-bit words) */
#define SENSOR_WAKEUP_BYTES (256u << 10)  /* the kernel wakes the reader past this */
#define SENSOR_READ_MS 20u         /* ... and the reader also reads this often */
#define SENSOR_WNAMES 4u           /* file names whose write opens are reported */
#define SENSOR_WNAME_MAX 16u       /* bytes of one, NUL included */

enum sensor_kind {
    SENSOR_SYSCALL = 1,
    SENSOR_EXEC = 2,
    SENSOR_FORK = 3,
    SENSOR_EXIT = 4,
};

/* Indexes of the per-CPU drop counters (map "drops"). */
enum sensor_drop {
    SENSOR_DROP_RINGBUF = 0,       /* ring buffer full: record lost */
    SENSOR_DROP_PENDING = 1,       /* the enter/exit pairing table was full */
    SENSOR_DROP_N = 2,
};

/* Which syscalls the filter map asks for (the value is a bit set). */
enum sensor_want {
    SENSOR_WANT_ENTER = 1 << 0,    /* keep the entry args, report at exit */
    SENSOR_WANT_SOCK = 1 << 1,     /* fill the tuple from the socket of fd args[0] */
    SENSOR_WANT_SOCK_RES = 1 << 2, /* ... of the fd the syscall returned */
    SENSOR_WANT_PATH0 = 1 << 3,    /* s0 = the string at args[0] */
    SENSOR_WANT_PATH1 = 1 << 4,    /* s0 = the string at args[1] */
    SENSOR_WANT_HOW2 = 1 << 5,     /* openat2: flags and mode from the open_how at args[2] */
    SENSOR_WANT_PATH2 = 1 << 6,    /* s1 = the string at args[2] (rename's new path) */
    SENSOR_WANT_PATH3 = 1 << 7,    /* s1 = the string at args[3] (renameat's new path) */
    SENSOR_WANT_READ = 1 << 8,     /* an open: report successful read-only opens only, of
                                    * paths below the prefixes (or relative ones), and
                                    * successful truncating write opens of any path */
    SENSOR_WANT_WNAME = 1 << 9,    /* ... and successful write opens of files named one of
                                    * the write names (a cgroup's release_agent) */
    SENSOR_WANT_FAMILY = 1 << 10,  /* socket: only of families other than AF_UNIX, AF_INET,
                                    * AF_INET6 and AF_NETLINK (connects report those) */
    SENSOR_WANT_PATH1_S1 = 1 << 11, /* s1 = the string at args[1] (symlink's and link's
                                     * new path) */
};

/* struct sensor_rec.flags */
enum sensor_flag {
    SENSOR_F_EXE_MEMFD = 1 << 0,   /* exec: the new image's file is a memfd */
    SENSOR_F_EXE_UPPER = 1 << 1,   /* exec: ... is in an overlay's upper layer */
};

struct sensor_tuple {
    __u16 family;                  /* AF_INET, AF_INET6, AF_UNIX, 0 = none */
    __u16 proto;                   /* IPPROTO_TCP / IPPROTO_UDP */
    __u16 sport, dport;            /* host order; s = local, d = remote */
    __u8 saddr[16], daddr[16];     /* network order; IPv4 in the first 4 bytes */
};

struct sensor_rec {
    __u64 ts_ns;                   /* bpf_ktime_get_boot_ns() */
    __u64 cgroup_id;
    __u32 kind;                    /* enum sensor_kind */
    __s32 nr;                      /* syscall number (SENSOR_SYSCALL) */
    __s64 res;                     /* syscall result */
    __u64 args[6];
    __u32 pid, tid, ppid;          /* tgid, thread id, parent's tgid */
    __u32 uid, gid, loginuid;
    __u32 tty;                     /* dev_t of the controlling terminal, 0 = none */
    __u32 flags;                   /* SENSOR_F_* */
    __u64 start_ns;                /* task start (boot ns): tells a reused pid apart */
    __u64 cap_eff, cap_prm;        /* the task's effective and permitted capability masks */
    char comm[SENSOR_COMM];
    char pcomm[SENSOR_COMM];       /* parent's comm */
    struct sensor_tuple tuple;
    __u16 lens[SENSOR_NSTR];
    __u16 pad2;
};

#endif
