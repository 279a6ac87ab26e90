// SPDX-License-Identifier: GPL-2.0-only
/* sensor.bpf.c - the eBPF sensor's kernel programs (CO-RE, compiled by
 * clang -target bpf against the running kernel's BTF; the skeleton built
 * from it is linked into bulwark-agent).
 *
 *  - raw_tracepoint/sys_enter: when the filter map asks for the syscall,
 *    keeps its arguments in `pending` (one entry per thread); an open that
 *    cannot be reported (a read of a path outside the watched prefixes, a
 *    write that neither truncates nor may open a write name) is dropped
 *    here and keeps nothing;
 *  - raw_tracepoint/sys_exit: pairs them with the result and writes one
 *    record (struct sensor_rec plus its strings) to the ring buffer; opens
 *    are filtered again here (successful reads below the watched prefixes
 *    only), so a busy host's other opens never cross into user space;
 *  - sched_process_exec: one record per successful exec, with the exe path
 *    and argv read from the new image, and whether the executable is in an
 *    overlay's upper layer (written into a container: "drop and execute");
 *  - sched_process_fork / sched_process_exit: process lifetimes, so that
 *    user space keeps its pid table exact and bounded.
 * Records are built in a per-CPU scratch buffer (a path or an argv does not
 * fit the 512-byte BPF stack) and copied into the ring buffer in one
 * bpf_ringbuf_output(); a full ring buffer or pairing table is counted in
 * the per-CPU `drops` array, which user space reports in its health.
 * The agent's own process is never traced (its reads of /proc would feed
 * back into the ring). GPL: bpf_probe_read_user_str and friends need it. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sensor_event.h"

char LICENSE[] SEC("license") = "GPL";

#define SENSOR_SCAN_MAX 256u  /* longest path the read filter decides on */

/* Set by user space before load. */
const volatile __u32 self_tgid = 0;
/* Reads are reported below these prefixes (without a trailing '/'; "" is
 * everything), each as two little-endian 64-bit words, the mask of the bytes
 * that count and its length; nprefixes > SENSOR_PREFIXES turns the filter
 * off. Comparing words keeps the verifier's work small. */
const volatile __u32 nprefixes = 0;
const volatile __u64 prefix_word[SENSOR_PREFIXES][2] = {};
const volatile __u64 prefix_mask[SENSOR_PREFIXES][2] = {};
const volatile __u32 prefix_len[SENSOR_PREFIXES] = {};
/* Write opens are reported of files with these names (NUL-padded, without
 * a '/'), SENSOR_WANT_WNAME. */
const volatile __u32 nwnames = 0;
const volatile char wname[SENSOR_WNAMES][SENSOR_WNAME_MAX] = {};
const volatile __u32 wname_len[SENSOR_WNAMES] = {};

struct pending {
    __u64 args[6];
    __s32 nr;
    __u32 want;
};

struct scratch {
    struct sensor_rec rec;
    char data[SENSOR_NSTR * SENSOR_STR_MAX];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SENSOR_SYSCALLS);
    __type(key, __u32);
    __type(value, __u32);       /* enum sensor_want bits; 0 = not traced */
} filter SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 32768);
    __type(key, __u32);         /* thread id */
    __type(value, struct pending);
} pending SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} scratch SEC(".maps");

/* sys_enter's copy of an open's path, for the read filter (its own map:
 * scratch may be in use by a sys_exit or sched_exec on this CPU). */
struct enter_buf {
    char path[2 * SENSOR_SCAN_MAX];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct enter_buf);
} enter_buf SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SENSOR_DROP_N);
    __type(key, __u32);
    __type(value, __u64);
} drops SEC(".maps");

static __always_inline void count_drop(__u32 what)
{
    __u64 *n = bpf_map_lookup_elem(&drops, &what);

    if (n)
        (*n)++;
}

static __always_inline struct scratch *scratch_get(void)
{
    __u32 zero = 0;

    return bpf_map_lookup_elem(&scratch, &zero);
}

/* The task's capability masks (thread.cap_effective, thread.cap_permitted
 * at the event, as Falco's): kernel_cap_t is one u64 since 6.3 and two
 * u32 before, the same 8 bytes on a little-endian machine. */
static __always_inline void fill_caps(struct sensor_rec *r, struct task_struct *t)
{
    const struct cred *cred = BPF_CORE_READ(t, cred);

    r->cap_eff = r->cap_prm = 0;
    if (!cred)
        return;
    bpf_probe_read_kernel(&r->cap_eff, sizeof r->cap_eff, &cred->cap_effective);
    bpf_probe_read_kernel(&r->cap_prm, sizeof r->cap_prm, &cred->cap_permitted);
}

/* The process fields of every record, from task t (current, or a fork's child). */
static __always_inline void fill_task(struct sensor_rec *r, struct task_struct *t)
{
    struct task_struct *parent = BPF_CORE_READ(t, real_parent);
    struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);

    r->pid = BPF_CORE_READ(t, tgid);
    r->tid = BPF_CORE_READ(t, pid);
    r->ppid = BPF_CORE_READ(parent, tgid);
    r->uid = BPF_CORE_READ(t, cred, euid.val);
    r->gid = BPF_CORE_READ(t, cred, egid.val);
    if (bpf_core_field_exists(t->loginuid))
        r->loginuid = BPF_CORE_READ(t, loginuid.val);
    else
        r->loginuid = (__u32)-1;
    r->tty = 0;
    r->flags = 0;
    if (tty) {
        int major = BPF_CORE_READ(tty, driver, major);
        int minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);

        r->tty = ((__u32)major << 20) | ((__u32)minor & 0xfffff);
    }
    r->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
    fill_caps(r, t);
    bpf_probe_read_kernel_str(r->comm, sizeof r->comm, &t->comm);
    bpf_probe_read_kernel_str(r->pcomm, sizeof r->pcomm, &parent->comm);
    r->ts_ns = bpf_ktime_get_boot_ns();
    r->cgroup_id = bpf_get_current_cgroup_id();
    r->tuple.family = 0;
    r->lens[0] = r->lens[1] = r->lens[2] = 0;
}

/* Whether to wake the reader about a record of size bytes: only when
 * the bytes waiting in the ring cross SENSOR_WAKEUP_BYTES with it. A
 * wake-up costs the traced process more than the record itself (an
 * irq_work: an inter-processor interrupt, a trap to the hypervisor on a
 * VM, ~10 us here), so it must not be paid per record: once the mark is
 * passed, the records after it ask for none (the reader drains all that
 * waits when it wakes; BPF_RB_FORCE_WAKEUP on every record above the mark
 * made every record pay while the reader was being scheduled). Two CPUs
 * crossing together may both miss the mark; the agent also reads on a
 * short timer (SENSOR_READ_MS), so a quiet trickle or a missed mark still
 * arrives within it. An urgent record always wakes. */
static __always_inline __u64 wakeup_flag(bool urgent, __u64 size)
{
    __u64 avail;

    if (urgent)
        return BPF_RB_FORCE_WAKEUP;
    avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    return avail < SENSOR_WAKEUP_BYTES && avail + size >= SENSOR_WAKEUP_BYTES
               ? BPF_RB_FORCE_WAKEUP
               : BPF_RB_NO_WAKEUP;
}

/* Writes the record and its strings (off bytes of data) to the ring. An
 * urgent record wakes the reader at once: one that user space completes
 * from /proc while the process may still live (an exec's cwd, the cwd a
 * relative path is resolved against). */
static __always_inline void submit(struct scratch *s, __u32 off, bool urgent)
{
    __u64 size = sizeof s->rec + off;

    if (size > sizeof *s)
        return;
    if (bpf_ringbuf_output(&events, s, size, wakeup_flag(urgent, size)) < 0)
        count_drop(SENSOR_DROP_RINGBUF);
}

/* Copies a string (user memory when user, else kernel) as string i at *off. */
static __always_inline void put_str(struct scratch *s, int i, __u32 *off, const void *src,
                                    bool user)
{
    __u32 o = *off;
    long n;

    if (!src || o > (SENSOR_NSTR - 1) * SENSOR_STR_MAX || i < 0 || i >= SENSOR_NSTR)
        return;
    if (user)
        n = bpf_probe_read_user_str(&s->data[o], SENSOR_STR_MAX, src);
    else
        n = bpf_probe_read_kernel_str(&s->data[o], SENSOR_STR_MAX, src);
    if (n <= 0)
        return;
    s->rec.lens[i] = n;
    *off = o + n;
}

/* The file behind fd of the current process, or NULL. */
static __always_inline struct file *file_of_fd(long fd)
{
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
    struct file **fds, *f = NULL;

    if (fd < 0 || !fdt || fd >= BPF_CORE_READ(fdt, max_fds))
        return NULL;
    fds = BPF_CORE_READ(fdt, fd);
    if (bpf_probe_read_kernel(&f, sizeof f, &fds[fd]) < 0)
        return NULL;
    return f;
}

/* The socket behind fd of the current process, or NULL. */
static __always_inline struct sock *sock_of_fd(long fd)
{
    struct file *f = file_of_fd(fd);
    struct socket *sock;

    if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & 00170000) != 0140000)  /* S_IFSOCK */
        return NULL;
    sock = BPF_CORE_READ(f, private_data);
    return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* Whether fd of the current process is a regular file: a truncating open
 * of /dev/null (every shell's "> /dev/null") clears no log. */
static __always_inline bool regular_fd(long fd)
{
    struct file *f = file_of_fd(fd);

    return f && (BPF_CORE_READ(f, f_inode, i_mode) & 00170000) == 0100000;  /* S_IFREG */
}

static __always_inline void fill_tuple(struct sensor_tuple *tp, struct sock *sk)
{
    if (!sk)
        return;
    tp->family = BPF_CORE_READ(sk, __sk_common.skc_family);
    tp->proto = BPF_CORE_READ(sk, sk_protocol);
    tp->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
    tp->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (tp->family == 2) {  /* AF_INET */
        BPF_CORE_READ_INTO((__u32 *)tp->saddr, sk, __sk_common.skc_rcv_saddr);
        BPF_CORE_READ_INTO((__u32 *)tp->daddr, sk, __sk_common.skc_daddr);
    } else if (tp->family == 10) {  /* AF_INET6 */
        BPF_CORE_READ_INTO(tp->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
        BPF_CORE_READ_INTO(tp->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
    }
}

/* Whether an open with these flags can be reported: read-only, no
 * O_CREAT or O_TRUNC (writes come from the file collector); at exit it
 * must also have succeeded. */
static __always_inline bool read_flags(__u64 flags)
{
    return (flags & 03) == 0 && !(flags & (0100 | 01000));
}

/* Whether an open with these flags and result truncated a file it opened
 * for writing (Falco's "Clear Log Activities": evt.arg.flags contains
 * O_TRUNC): reported whatever its path (of a regular file: regular_fd),
 * as it is rare. */
static __always_inline bool trunc_open(__u64 flags, __s64 res)
{
    return res >= 0 && (flags & 03) != 0 && (flags & 01000);
}

/* Whether the absolute path at data (n bytes with its NUL) is below a
 * prefix; a relative path is left to user space (it knows the cwd), and so
 * is one with a "/." in its first SENSOR_SCAN_MAX bytes or a longer one
 * ("/tmp/../etc/shadow" is below /etc once normalized, as user space does). */
static __always_inline bool path_wanted(const char *data, __u32 n)
{
    __u64 w0, w1;

    if (nprefixes > SENSOR_PREFIXES || n == 0 || data[0] != '/' || n > SENSOR_SCAN_MAX)
        return true;
    for (__u32 k = 0; k + 1 < SENSOR_SCAN_MAX; k++) {
        if (k + 1 >= n)
            break;
        if (data[k] == '/' && data[k + 1] == '.')
            return true;
    }
    __builtin_memcpy(&w0, data, 8);
    __builtin_memcpy(&w1, data + 8, 8);
    for (__u32 i = 0; i < SENSOR_PREFIXES; i++) {
        __u32 l = prefix_len[i];
        char next;

        if (i >= nprefixes)
            break;
        if (((w0 ^ prefix_word[i][0]) & prefix_mask[i][0]) ||
            ((w1 ^ prefix_word[i][1]) & prefix_mask[i][1]) || l >= n)
            continue;
        next = data[l & (SENSOR_PREFIX_MAX - 1)];
        if (l == 0 || l == SENSOR_PREFIX_MAX || next == '/' || next == '\0')
            return true;
    }
    return false;
}

/* Whether the path at data (n bytes with its NUL) climbs: it has a ".."
 * component in its first SENSOR_SCAN_MAX bytes ("../etc/x", "/tmp/../x").
 * A failed read of such a path is reported (Falco's directory traversal
 * probes: "Directory traversal monitored file read" counts failed opens);
 * the host's other failed opens are not. */
static __always_inline bool path_climbs(const char *data, __u32 n)
{
    for (__u32 k = 0; k + 2 < SENSOR_SCAN_MAX; k++) {
        if (k + 2 >= n)
            break;
        if (data[k] == '.' && data[k + 1] == '.' && (k == 0 || data[k - 1] == '/') &&
            (data[k + 2] == '/' || data[k + 2] == '\0'))
            return true;
    }
    return false;
}

/* Whether an open with these flags and result is a successful write open
 * (for writing, or creating or truncating). */
static __always_inline bool write_open(__u64 flags, __s64 res)
{
    return res >= 0 && ((flags & 03) != 0 || (flags & (0100 | 01000)));
}

/* Whether the path at data (n bytes with its NUL) names a file one of the
 * write names: its last component equals one. */
static __always_inline bool wname_wanted(const char *data, __u32 n)
{
    for (__u32 i = 0; i < SENSOR_WNAMES; i++) {
        __u32 l = wname_len[i], start;
        bool same = true;

        if (i >= nwnames)
            break;
        if (l == 0 || l >= SENSOR_WNAME_MAX || n < l + 1)
            continue;
        start = n - 1 - l;  /* the name's first byte, before the NUL */
        if (start > 0 && data[(start - 1) & (SENSOR_STR_MAX - 1)] != '/')
            continue;
        for (__u32 k = 0; k < SENSOR_WNAME_MAX - 1; k++) {
            if (k >= l)
                break;
            if (data[(start + k) & (SENSOR_STR_MAX - 1)] != wname[i][k]) {
                same = false;
                break;
            }
        }
        if (same)
            return true;
    }
    return false;
}

/* Whether the write open p is reported: its path names a file of the
 * write names. Decided before the record is built (the path is read into
 * the scratch buffer, then again as the record's string), so the host's
 * other write opens cost one string read. */
static __always_inline bool wname_open(const struct pending *p)
{
    const void *path = (const void *)((p->want & SENSOR_WANT_PATH0) ? p->args[0] : p->args[1]);
    struct scratch *s = scratch_get();
    long n;

    if (!s)
        return false;
    n = bpf_probe_read_user_str(s->data, SENSOR_STR_MAX, path);
    return n > 0 && wname_wanted(s->data, (__u32)n);
}

/* Whether a socket of this family is reported (SENSOR_WANT_FAMILY): the
 * common ones are not, their connections are. */
static __always_inline bool family_wanted(__u64 family)
{
    return family != 1 && family != 2 && family != 10 && family != 16;
}

/* Whether the executable of bprm is in an overlay's upper layer: the
 * overlay inode of its path (an ovl_inode, whose __upperdentry follows
 * its vfs_inode) has an upper dentry whose inode is the file's. */
static __always_inline bool exe_upper_layer(struct linux_binprm *bprm)
{
    struct file *f = BPF_CORE_READ(bprm, file);
    struct inode *ino = BPF_CORE_READ(f, f_path.dentry, d_inode);
    struct dentry *upper = NULL;
    __u64 size = bpf_core_type_size(struct inode);

    if (!ino || !size || BPF_CORE_READ(ino, i_sb, s_magic) != 0x794c7630)  /* OVERLAYFS */
        return false;
    if (bpf_probe_read_kernel(&upper, sizeof upper, (char *)ino + size) < 0 || !upper)
        return false;
    return BPF_CORE_READ(upper, d_inode, i_ino) == BPF_CORE_READ(f, f_inode, i_ino);
}

/* Whether the current syscall is a 32-bit (compat) one: its number is from
 * another table (ia32's 42 is pipe, x86-64's connect) and its arguments in
 * other registers, so it is not traced. */
static __always_inline bool compat_syscall(void)
{
#ifdef __TARGET_ARCH_x86
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();

    return BPF_CORE_READ(t, thread_info.status) & 0x0002;  /* TS_COMPAT */
#else
    return false;
#endif
}

/* ---------------------------------------------------------------- hot path
 * sys_enter and sys_exit run for every syscall of the machine, so each
 * returns as early as it can (measured in tests/bench/sensor.sh, figures in
 * docs/performance.md):
 *  - a syscall the filter map does not ask for costs one array lookup at
 *    each end and nothing else: at enter its number comes with the
 *    tracepoint, at exit from the saved registers (SYSCALL_NR_AT_EXIT), so
 *    the `pending` hash is never touched for it (side by side in bpf_stats,
 *    ns a run with the old code -> this: enter 95-102 -> 62-65, exit
 *    126-149 -> 109-112; a hash miss costs more than the register read);
 *  - a traced syscall's six arguments are copied in one read of the
 *    registers (x86-64) instead of six;
 *  - an open is decided at enter as far as its flags and path allow
 *    (open_kept): one that can produce no record keeps no pending state,
 *    and its exit costs one hash lookup that misses.
 * A new syscall handler needs nothing here: an entry in ebpf.c's wanted[]
 * (the filter map) and, if its exit needs more than the arguments, a
 * SENSOR_WANT_* bit handled in sys_exit. */

/* The syscall number at sys_exit, read from the registers the syscall
 * saved; undefined where we do not know the register (then sys_exit looks
 * up `pending` for every syscall, as it once did everywhere). */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR_AT_EXIT(regs) ((long)BPF_CORE_READ((regs), orig_ax))
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR_AT_EXIT(regs) ((long)BPF_CORE_READ((regs), syscallno))
#endif

/* Whether the filter map asks for syscall nr at enter. */
static __always_inline __u32 traced(__u64 nr)
{
    __u32 k = (__u32)nr, *want;

    if (nr >= SENSOR_SYSCALLS)
        return 0;
    want = bpf_map_lookup_elem(&filter, &k);
    return want && (*want & SENSOR_WANT_ENTER) ? *want : 0;
}

/* The syscall's six arguments from its saved user registers. */
static __always_inline void read_args(__u64 args[6], struct pt_regs *regs)
{
#ifdef __TARGET_ARCH_x86
    struct pt_regs r;

    /* one copy of the registers instead of a probe read per argument */
    if (bpf_probe_read_kernel(&r, sizeof r, regs) < 0)
        return;
    args[0] = PT_REGS_PARM1_SYSCALL(&r);
    args[1] = PT_REGS_PARM2_SYSCALL(&r);
    args[2] = PT_REGS_PARM3_SYSCALL(&r);
    args[3] = PT_REGS_PARM4_SYSCALL(&r);
    args[4] = PT_REGS_PARM5_SYSCALL(&r);
    args[5] = r.r9;
#else  /* libbpf 1.1 has no PARM6 macro; none of ours needs it elsewhere */
    args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
    args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
    args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
    args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
    args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
#endif
}

/* At enter: whether open p may produce a record at exit. Not when it is
 * a read whose absolute path is outside the read prefixes (path_wanted,
 * the same test sys_exit makes again on what it reports), nor a write that
 * neither truncates nor may open a file of the write names. When a user read fails here (memory not yet paged in: the
 * kernel's own copy would fault it in) the open is kept and sys_exit
 * decides, as it did before. openat2's open_how is read here too, so its
 * flags and mode travel in args[2] and args[3]. */
static __always_inline bool open_kept(struct pending *p)
{
    const void *path = (const void *)((p->want & SENSOR_WANT_PATH0) ? p->args[0] : p->args[1]);
    struct enter_buf *b;
    __u32 zero = 0;
    __u64 flags;
    long n;

    if (p->want & SENSOR_WANT_HOW2) {
        struct open_how how = {};

        if (bpf_probe_read_user(&how, sizeof how, (const void *)p->args[2]) < 0)
            return true;  /* sys_exit reads it */
        p->args[2] = how.flags;
        p->args[3] = how.mode;
        p->want &= ~SENSOR_WANT_HOW2;
    }
    flags = (p->want & SENSOR_WANT_PATH0) ? p->args[1] : p->args[2];
    if (!read_flags(flags))
        /* a write: kept when it truncates (reported whatever its path) or
         * may open a file of the write names (sys_exit reads its name) */
        return ((flags & 03) != 0 && (flags & 01000)) || (p->want & SENSOR_WANT_WNAME);
    b = bpf_map_lookup_elem(&enter_buf, &zero);
    if (!b)
        return true;
    n = bpf_probe_read_user_str(b->path, SENSOR_SCAN_MAX + 1, path);
    return n <= 0 || path_wanted(b->path, (__u32)n);
}

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
    __u32 want = traced(ctx->args[1]), tid;
    struct pending p = {};
    __u64 id;

    if (!want)
        return 0;  /* the common case: one array lookup */
    id = bpf_get_current_pid_tgid();
    if ((id >> 32) == self_tgid || compat_syscall())
        return 0;
    p.nr = ctx->args[1];
    p.want = want;
    read_args(p.args, (struct pt_regs *)ctx->args[0]);
    if ((want & SENSOR_WANT_READ) && !open_kept(&p))
        return 0;
    tid = (__u32)id;
    if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY) < 0)
        count_drop(SENSOR_DROP_PENDING);
    return 0;
}

SEC("raw_tracepoint/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
    __u32 tid, off = 0;
    struct pending *pp, p;
    struct scratch *s;
    __s64 res = ctx->args[1];
    bool trunc = false, failed = false;

#ifdef SYSCALL_NR_AT_EXIT
    long nr = SYSCALL_NR_AT_EXIT((struct pt_regs *)ctx->args[0]);

    if (!traced(nr))
        return 0;  /* the common case: no hash lookup */
#endif
    tid = (__u32)bpf_get_current_pid_tgid();
    pp = bpf_map_lookup_elem(&pending, &tid);
    if (!pp)
        return 0;
    p = *pp;
    bpf_map_delete_elem(&pending, &tid);
#ifdef SYSCALL_NR_AT_EXIT
    if (p.nr != nr)
        return 0;  /* left by a syscall whose exit was not seen: stale */
#endif
    if (p.want & SENSOR_WANT_HOW2) {
        struct open_how how = {};

        if (bpf_probe_read_user(&how, sizeof how, (const void *)p.args[2]) == 0) {
            p.args[2] = how.flags;  /* as openat carries them */
            p.args[3] = how.mode;
        }
    }
    if (p.want & SENSOR_WANT_READ) {
        __u64 flags = (p.want & SENSOR_WANT_PATH0) ? p.args[1] : p.args[2];

        trunc = trunc_open(flags, res) && regular_fd(res);
        failed = res < 0 && read_flags(flags);  /* kept if its path climbs (below) */
        if (!trunc && !failed && (res < 0 || !read_flags(flags))) {
            if (!(p.want & SENSOR_WANT_WNAME) || !write_open(flags, res) || !wname_open(&p))
                return 0;
            p.want &= ~SENSOR_WANT_READ;  /* a write open of a write name */
        }
    }
    if ((p.want & SENSOR_WANT_FAMILY) && (res < 0 || !family_wanted(p.args[0])))
        return 0;
    s = scratch_get();
    if (!s)
        return 0;
    fill_task(&s->rec, (struct task_struct *)bpf_get_current_task());
    s->rec.kind = SENSOR_SYSCALL;
    s->rec.nr = p.nr;
    s->rec.res = res;
    __builtin_memcpy(s->rec.args, p.args, sizeof p.args);
    if (p.want & SENSOR_WANT_PATH0)
        put_str(s, 0, &off, (const void *)p.args[0], true);
    else if (p.want & SENSOR_WANT_PATH1)
        put_str(s, 0, &off, (const void *)p.args[1], true);
    if (p.want & SENSOR_WANT_PATH2)
        put_str(s, 1, &off, (const void *)p.args[2], true);
    else if (p.want & SENSOR_WANT_PATH3)
        put_str(s, 1, &off, (const void *)p.args[3], true);
    else if (p.want & SENSOR_WANT_PATH1_S1)
        put_str(s, 1, &off, (const void *)p.args[1], true);
    if ((p.want & SENSOR_WANT_READ) && !trunc && !path_wanted(s->data, s->rec.lens[0]))
        return 0;
    if (failed && !path_climbs(s->data, s->rec.lens[0]))
        return 0;
    if (p.want & SENSOR_WANT_SOCK)
        fill_tuple(&s->rec.tuple, sock_of_fd((long)p.args[0]));
    else if ((p.want & SENSOR_WANT_SOCK_RES) && res >= 0)
        fill_tuple(&s->rec.tuple, sock_of_fd(res));
    submit(s, off, (p.want & (SENSOR_WANT_READ | SENSOR_WANT_WNAME)) && s->rec.lens[0] &&
                       s->data[0] != '/');
    return 0;
}

SEC("raw_tracepoint/sched_process_exec")
int sched_exec(struct bpf_raw_tracepoint_args *ctx)
{
    struct task_struct *t = (struct task_struct *)ctx->args[0];
    struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
    __u32 old_tid = ctx->args[1], off = 0;
    unsigned long a0, a1;
    struct scratch *s;
    __u64 len;

    bpf_map_delete_elem(&pending, &old_tid);
    if (BPF_CORE_READ(t, tgid) == self_tgid)
        return 0;
    s = scratch_get();
    if (!s)
        return 0;
    fill_task(&s->rec, t);
    s->rec.kind = SENSOR_EXEC;
    s->rec.nr = -1;
    s->rec.res = 0;
    put_str(s, 0, &off, BPF_CORE_READ(bprm, filename), false);
    /* a memfd's dentry is named "memfd:NAME" (fileless execution) */
    {
        const unsigned char *dn = BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name);
        char pfx[8] = {};

        if (dn && bpf_probe_read_kernel(pfx, 6, dn) == 0 && pfx[0] == 'm' && pfx[1] == 'e' &&
            pfx[2] == 'm' && pfx[3] == 'f' && pfx[4] == 'd' && pfx[5] == ':')
            s->rec.flags |= SENSOR_F_EXE_MEMFD;
    }
    if (exe_upper_layer(bprm))
        s->rec.flags |= SENSOR_F_EXE_UPPER;
    a0 = BPF_CORE_READ(t, mm, arg_start);
    a1 = BPF_CORE_READ(t, mm, arg_end);
    len = a1 > a0 ? a1 - a0 : 0;
    if (len > SENSOR_STR_MAX)
        len = SENSOR_STR_MAX;
    if (off <= SENSOR_STR_MAX && len > 0 &&
        bpf_probe_read_user(&s->data[off], len, (const void *)a0) == 0) {
        s->rec.lens[1] = len;
        off += len;
    }
    submit(s, off, true);
    return 0;
}

/* A small record (no strings) about task t: reserved straight in the ring. */
static __always_inline void task_event(struct task_struct *t, __u32 kind)
{
    __u64 wake = wakeup_flag(false, sizeof(struct sensor_rec));
    struct sensor_rec *r = bpf_ringbuf_reserve(&events, sizeof *r, 0);

    if (!r) {
        count_drop(SENSOR_DROP_RINGBUF);
        return;
    }
    fill_task(r, t);
    r->kind = kind;
    r->nr = -1;
    r->res = 0;
    bpf_ringbuf_submit(r, wake);
}

SEC("raw_tracepoint/sched_process_fork")
int sched_fork(struct bpf_raw_tracepoint_args *ctx)
{
    struct task_struct *child = (struct task_struct *)ctx->args[1];

    /* New processes only, not new threads. */
    if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid) ||
        BPF_CORE_READ(child, real_parent, tgid) == self_tgid)
        return 0;
    task_event(child, SENSOR_FORK);
    return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int sched_exit(struct bpf_raw_tracepoint_args *ctx)
{
    struct task_struct *t = (struct task_struct *)bpf_get_current_task();
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;

    bpf_map_delete_elem(&pending, &tid);
    if ((__u32)id != (__u32)(id >> 32) || (id >> 32) == self_tgid)
        return 0;
    task_event(t, SENSOR_EXIT);
    return 0;
}
