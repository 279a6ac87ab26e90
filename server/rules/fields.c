/* fields.c - the field table: Falco field names (and ours) mapped onto
 * Bulwark events, and the accessor that fetches one field of one event
 * without allocating (derived values are built in the context's scratch).
 * docs/rules.md lists the same table for users; keep them in step. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define K_EXEC RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_EXEC)
#define K_NET RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_NET)
#define K_FILE RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_FILE)
#define K_RES RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_RESOURCE)
#define K_CFG RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_CONFIG)
#define K_VULN RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_VULN)
#define K_EXT RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_EXTERNAL)
#define K_MISCONF RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_MISCONFIG)
#define K_SECRET RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_SECRET)
#define K_SYS RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_SYSCALL)
#define K_ALL RULES_ALL_KINDS

static const struct field_def table[] = {
    {"evt.type", F_EVT_TYPE, VT_TYPE, K_ALL, false, "execve (exec), connect/accept (net), openat/rename/unlink/chmod (file), the syscall's name (syscall), or our kind names"},
    {"evt.dir", F_EVT_DIR, VT_STR, K_ALL, false, "always '<' (events are complete)"},
    {"evt.time", F_EVT_TIME, VT_INT, K_ALL, false, "event time, Unix ns"},
    {"evt.num", F_EVT_NUM, VT_INT, K_ALL, false, "event sequence number (per agent epoch)"},
    {"evt.is_open_write", F_EVT_IS_OPEN_WRITE, VT_BOOL, K_FILE, false, "file write or create"},
    {"evt.is_open_read", F_EVT_IS_OPEN_READ, VT_BOOL, K_FILE, false, "file open"},
    {"evt.res", F_EVT_RES, VT_STR, K_SYS | K_NET | K_FILE, false, "SUCCESS, or the error's name: ENOENT, EPERM, EINPROGRESS... (syscall events; the eBPF sensor's connects, accepts and opens)"},
    {"evt.rawres", F_EVT_RAWRES, VT_INT, K_SYS | K_NET | K_FILE, false, "the syscall's return value (syscall events; the eBPF sensor's connects, accepts and opens)"},
    {"evt.arg", F_EVT_ARG, VT_STR, K_SYS | K_FILE, true, "evt.arg[NAME] or evt.arg.NAME: an argument (syscall events; flags and name of the eBPF sensor's opens)"},
    {"bulwark.kind", F_KIND, VT_STR, K_ALL, false, "exec, net, file, resource, config, vuln, external, syscall, misconfig, secret"},
    {"bulwark.severity", F_SEVERITY, VT_STR, K_ALL, false, "event severity: debug ... emergency"},
    {"agent.id", F_AGENT_ID, VT_STR, K_ALL, false, "agent that sent the event"},
    {"host.name", F_HOST_NAME, VT_STR, K_ALL, false, "host name of that agent"},
    {"evt.hostname", F_HOST_NAME, VT_STR, K_ALL, false, "alias of host.name"},
    {"container.id", F_CONTAINER_ID, VT_STR, K_ALL, false, "container id; 'host' for host events"},
    {"container.name", F_CONTAINER_NAME, VT_STR, K_ALL, false, "container name; 'host' for host events"},
    {"container.image", F_CONTAINER_IMAGE, VT_STR, K_ALL, false, "image reference as run"},
    {"container.image.repository", F_IMAGE_REPOSITORY, VT_STR, K_ALL, false, "image without tag/digest"},
    {"container.image.tag", F_IMAGE_TAG, VT_STR, K_ALL, false, "image tag"},
    {"container.image.digest", F_IMAGE_DIGEST, VT_STR, K_ALL, false, "image digest sha256:..."},
    {"container.type", F_CONTAINER_RUNTIME, VT_STR, K_ALL, false, "docker, containerd, cri-o, podman"},
    {"container.runtime", F_CONTAINER_RUNTIME, VT_STR, K_ALL, false, "alias of container.type"},
    {"container.privileged", F_CONTAINER_PRIVILEGED, VT_BOOL, K_ALL, false, "privileged (config events; other events when the agent read the container's spec)"},
    {"k8s.ns.name", F_K8S_NS, VT_STR, K_ALL, false, "Kubernetes namespace"},
    {"k8s.pod.name", F_K8S_POD, VT_STR, K_ALL, false, "Kubernetes pod"},
    {"k8s.pod.uid", F_K8S_POD_UID, VT_STR, K_ALL, false, "Kubernetes pod uid"},
    {"proc.pid", F_PROC_PID, VT_INT, K_ALL, false, "process id"},
    {"proc.ppid", F_PROC_PPID, VT_INT, K_ALL, false, "parent process id"},
    {"proc.name", F_PROC_NAME, VT_STR, K_ALL, false, "process name (comm)"},
    {"proc.exe", F_PROC_EXE, VT_STR, K_ALL, false, "executable path"},
    {"proc.exepath", F_PROC_EXE, VT_STR, K_ALL, false, "executable path"},
    {"proc.cmdline", F_PROC_CMDLINE, VT_STR, K_ALL, false, "command line"},
    {"proc.args", F_PROC_ARGS, VT_STR, K_ALL, false, "command line after the first word"},
    {"proc.pname", F_PROC_PNAME, VT_STR, K_ALL, false, "parent process name"},
    {"proc.tty", F_PROC_TTY, VT_INT, K_EXEC, false, "controlling terminal's device number, 0 for none (exec events; 1/0 from sources that only know whether there is one)"},
    {"proc.cwd", F_PROC_CWD, VT_STR, K_EXEC, false, "working directory (exec events)"},
    {"user.uid", F_USER_UID, VT_INT, K_ALL, false, "process uid (absent when the source did not give it)"},
    {"user.name", F_USER_NAME, VT_STR, K_ALL, false, "process user name"},
    {"group.gid", F_GROUP_GID, VT_INT, K_ALL, false, "process gid (absent when the source did not give it)"},
    {"user.loginuid", F_USER_LOGINUID, VT_INT, K_ALL, false, "audit login uid; -1 when never logged in"},
    {"proc.aname", F_PROC_ANAME, VT_STR, K_ALL, true, "proc.aname[N]: name of the Nth ancestor (0: the process, 1: its parent; up to 8)"},
    {"proc.aname", F_PROC_ANAME_ANY, VT_LIST, K_ALL, false, "names of the known ancestors (list: =, in and contains match any)"},
    {"proc.apid", F_PROC_APID, VT_INT, K_ALL, true, "proc.apid[N]: pid of the Nth ancestor"},
    {"proc.aexe", F_PROC_AEXE, VT_STR, K_ALL, true, "proc.aexe[N]: executable path of the Nth ancestor"},
    {"proc.aexepath", F_PROC_AEXE, VT_STR, K_ALL, true, "alias of proc.aexe[N]"},
    {"proc.pexe", F_PROC_PEXE, VT_STR, K_ALL, false, "parent's executable path"},
    {"proc.pexepath", F_PROC_PEXE, VT_STR, K_ALL, false, "alias of proc.pexe"},
    {"proc.pcmdline", F_PROC_PCMDLINE, VT_STR, K_ALL, false, "parent's command line"},
    {"proc.sname", F_PROC_SNAME, VT_STR, K_ALL, false, "name of the session leader"},
    {"proc.vpid", F_PROC_VPID, VT_INT, K_ALL, false, "pid in the process's own pid namespace"},
    {"proc.vtid", F_PROC_VTID, VT_INT, K_ALL, false, "thread id in that namespace"},
    {"thread.vtid", F_PROC_VTID, VT_INT, K_ALL, false, "alias of proc.vtid"},
    {"proc.sid", F_PROC_SID, VT_INT, K_ALL, false, "session id"},
    {"proc.pgid", F_PROC_PGID, VT_INT, K_ALL, false, "process group id"},
    {"proc.vpgid", F_PROC_VPGID, VT_INT, K_ALL, false, "process group id in the process's pid namespace"},
    {"proc.is_vpgid_leader", F_PROC_IS_VPGID_LEADER, VT_BOOL, K_ALL, false, "the process leads its process group"},
    {"proc.is_sid_leader", F_PROC_IS_SID_LEADER, VT_BOOL, K_ALL, false, "the process leads its session"},
    {"proc.is_exe_from_memfd", F_PROC_IS_EXE_FROM_MEMFD, VT_BOOL, K_ALL, false, "the executable is a memfd (fileless)"},
    {"thread.cap_effective", F_THREAD_CAP_EFFECTIVE, VT_STR, K_ALL, false, "effective capabilities: CAP_... names separated by spaces (at the event with the eBPF sensor, else at exec)"},
    {"thread.cap_permitted", F_THREAD_CAP_PERMITTED, VT_STR, K_ALL, false, "permitted capabilities, likewise"},
    {"fd.name", F_FD_NAME, VT_STR, K_NET | K_FILE | K_SYS, false, "file path, or lip:lport->rip:rport"},
    {"fd.nameraw", F_FD_NAMERAW, VT_STR, K_FILE, false, "the file path as the process gave it (eBPF sensor: relative, or with . and ..), else fd.name"},
    {"fd.num", F_FD_NUM, VT_INT, K_SYS | K_FILE, false, "the fd a syscall event acts on, or the fd an open returned (eBPF sensor)"},
    {"fd.directory", F_FD_DIRECTORY, VT_STR, K_FILE, false, "directory of the file"},
    {"fd.filename", F_FD_FILENAME, VT_STR, K_FILE, false, "file name without directory"},
    {"fd.typechar", F_FD_TYPECHAR, VT_STR, K_NET | K_FILE | K_SYS, false, "f (file), 4 or 6 (ip)"},
    {"fd.type", F_FD_TYPE, VT_STR, K_NET | K_FILE | K_SYS, false, "file, ipv4, ipv6"},
    {"fd.l4proto", F_FD_L4PROTO, VT_STR, K_NET | K_SYS, false, "tcp, udp"},
    {"fd.sip", F_FD_SIP, VT_STR, K_NET | K_SYS, false, "server address (remote if outbound)"},
    {"fd.cip", F_FD_CIP, VT_STR, K_NET | K_SYS, false, "client address"},
    {"fd.rip", F_FD_RIP, VT_STR, K_NET | K_SYS, false, "remote address"},
    {"fd.lip", F_FD_LIP, VT_STR, K_NET | K_SYS, false, "local address"},
    {"fd.sport", F_FD_SPORT, VT_INT, K_NET | K_SYS, false, "server port"},
    {"fd.cport", F_FD_CPORT, VT_INT, K_NET | K_SYS, false, "client port"},
    {"fd.rport", F_FD_RPORT, VT_INT, K_NET | K_SYS, false, "remote port"},
    {"fd.lport", F_FD_LPORT, VT_INT, K_NET | K_SYS, false, "local port"},
    {"fd.ip", F_FD_IP, VT_NET, K_NET | K_SYS, false, "either end's address: =, != and in hold when they hold for one end"},
    {"fd.net", F_FD_NET, VT_NET, K_NET | K_SYS, false, "either end's address against networks (fd.net = \"10.0.0.0/8\"), likewise"},
    {"fd.snet", F_FD_SNET, VT_NET, K_NET | K_SYS, false, "server address against networks"},
    {"fd.cnet", F_FD_CNET, VT_NET, K_NET | K_SYS, false, "client address against networks"},
    {"fd.lnet", F_FD_LNET, VT_NET, K_NET | K_SYS, false, "local address against networks"},
    {"fd.rnet", F_FD_RNET, VT_NET, K_NET | K_SYS, false, "remote address against networks"},
    {"fd.connected", F_FD_CONNECTED, VT_BOOL, K_NET, false, "the socket is connected: true (connects are reported when they succeeded or are in progress, accepts when they succeeded)"},
    {"fd.name_changed", F_FD_NAME_CHANGED, VT_BOOL, K_NET, false, "the event renamed its fd: false (Falco sets it on sendto/sendmsg of an unconnected socket, which no source reports)"},
    {"fd.sip.name", F_FD_SIP_NAME, VT_STR, K_NET, false, "server host name when known"},
    {"fd.rip.name", F_FD_RIP_NAME, VT_STR, K_NET, false, "remote host name when known"},
    {"net.direction", F_NET_DIRECTION, VT_STR, K_NET, false, "outbound, inbound"},
    {"net.remote_name", F_NET_REMOTE_NAME, VT_STR, K_NET, false, "remote host name when known"},
    {"net.dest", F_NET_DEST, VT_STR, K_NET, false, "remote name (or address):port"},
    {"file.op", F_FILE_OP, VT_STR, K_FILE, false, "write, create, rename, delete, chmod, open"},
    {"file.path", F_FILE_PATH, VT_STR, K_FILE, false, "path"},
    {"file.new_path", F_FILE_NEW_PATH, VT_STR, K_FILE, false, "new path of a rename"},
    {"resource.cpu_cores", F_RES_CPU, VT_DBL, K_RES, false, "CPU over the interval, cores"},
    {"resource.memory_bytes", F_RES_MEM, VT_INT, K_RES, false, "memory used"},
    {"resource.memory_limit_bytes", F_RES_MEM_LIMIT, VT_INT, K_RES, false, "memory limit"},
    {"resource.interval_ms", F_RES_INTERVAL, VT_INT, K_RES, false, "sample interval"},
    {"resource.scope", F_RES_SCOPE, VT_STR, K_RES, false, "container or host"},
    {"config.privileged", F_CFG_PRIVILEGED, VT_BOOL, K_CFG, false, "privileged"},
    {"config.user_uid", F_CFG_USER_UID, VT_INT, K_CFG, false, "uid the container runs as (absent when the runtime's config does not say)"},
    {"config.cap_add", F_CFG_CAP_ADD, VT_LIST, K_CFG, false, "added capabilities (list)"},
    {"config.host_network", F_CFG_HOST_NETWORK, VT_BOOL, K_CFG, false, "host network namespace"},
    {"config.host_pid", F_CFG_HOST_PID, VT_BOOL, K_CFG, false, "host PID namespace"},
    {"config.host_ipc", F_CFG_HOST_IPC, VT_BOOL, K_CFG, false, "host IPC namespace"},
    {"config.mounts.source", F_CFG_MOUNT_SOURCE, VT_LIST, K_CFG, false, "mount sources (list)"},
    {"config.mounts.target", F_CFG_MOUNT_TARGET, VT_LIST, K_CFG, false, "mount targets (list)"},
    {"config.mounts.rw_source", F_CFG_MOUNT_RW_SOURCE, VT_LIST, K_CFG, false, "sources of writable mounts (list)"},
    {"config.read_only_rootfs", F_CFG_READ_ONLY_ROOTFS, VT_BOOL, K_CFG, false, "read-only root file system"},
    {"config.no_new_privileges", F_CFG_NO_NEW_PRIVS, VT_BOOL, K_CFG, false, "no-new-privileges"},
    {"config.seccomp_profile", F_CFG_SECCOMP, VT_STR, K_CFG, false, "seccomp profile"},
    {"config.apparmor_profile", F_CFG_APPARMOR, VT_STR, K_CFG, false, "AppArmor profile"},
    {"config.env_names", F_CFG_ENV_NAMES, VT_LIST, K_CFG, false, "environment variable names (list)"},
    {"vuln.id", F_VULN_ID, VT_STR, K_VULN, false, "CVE-..., GHSA-..."},
    {"vuln.package", F_VULN_PACKAGE, VT_STR, K_VULN, false, "package"},
    {"vuln.installed_version", F_VULN_INSTALLED, VT_STR, K_VULN, false, "installed version"},
    {"vuln.fixed_version", F_VULN_FIXED, VT_STR, K_VULN, false, "fixed version ('' if none)"},
    {"vuln.severity", F_VULN_SEVERITY, VT_STR, K_VULN, false, "scanner's severity: CRITICAL, HIGH..."},
    {"vuln.cvss", F_VULN_CVSS, VT_DBL, K_VULN, false, "CVSS score"},
    {"vuln.title", F_VULN_TITLE, VT_STR, K_VULN, false, "title"},
    {"vuln.scanner", F_VULN_SCANNER, VT_STR, K_VULN, false, "trivy"},
    {"vuln.target", F_VULN_TARGET, VT_STR, K_VULN, false, "scanned target"},
    {"vuln.pkg_path", F_VULN_PKG_PATH, VT_STR, K_VULN, false, "a language package's file (a jar)"},
    {"scan.artifact", F_SCAN_ARTIFACT, VT_STR, K_VULN | K_MISCONF | K_SECRET, false, "what was scanned: image, path, repository"},
    {"scan.artifact_type", F_SCAN_ARTIFACT_TYPE, VT_STR, K_VULN | K_MISCONF | K_SECRET, false, "container_image, filesystem, repository, vm"},
    {"misconfig.id", F_MISCONF_ID, VT_STR, K_MISCONF, false, "check id: DS002, KSV017, AVD-AWS-0107"},
    {"misconfig.avd_id", F_MISCONF_AVD_ID, VT_STR, K_MISCONF, false, "AVD-DS-0002"},
    {"misconfig.title", F_MISCONF_TITLE, VT_STR, K_MISCONF, false, "title"},
    {"misconfig.severity", F_MISCONF_SEVERITY, VT_STR, K_MISCONF, false, "scanner's severity: CRITICAL, HIGH..."},
    {"misconfig.status", F_MISCONF_STATUS, VT_STR, K_MISCONF, false, "FAIL"},
    {"misconfig.message", F_MISCONF_MESSAGE, VT_STR, K_MISCONF, false, "what is wrong, in this file"},
    {"misconfig.target", F_MISCONF_TARGET, VT_STR, K_MISCONF, false, "the file checked"},
    {"misconfig.type", F_MISCONF_TYPE, VT_STR, K_MISCONF, false, "dockerfile, kubernetes, terraform..."},
    {"misconfig.line", F_MISCONF_LINE, VT_INT, K_MISCONF, false, "first line of the cause (absent if unknown)"},
    {"secret.rule_id", F_SECRET_RULE, VT_STR, K_SECRET, false, "aws-access-key-id, github-pat..."},
    {"secret.category", F_SECRET_CATEGORY, VT_STR, K_SECRET, false, "AWS, GitHub..."},
    {"secret.title", F_SECRET_TITLE, VT_STR, K_SECRET, false, "title"},
    {"secret.severity", F_SECRET_SEVERITY, VT_STR, K_SECRET, false, "scanner's severity: CRITICAL, HIGH..."},
    {"secret.target", F_SECRET_TARGET, VT_STR, K_SECRET, false, "the file"},
    {"secret.line", F_SECRET_LINE, VT_INT, K_SECRET, false, "line of the match (absent if unknown)"},
    {"secret.match", F_SECRET_MATCH, VT_STR, K_SECRET, false, "redacted: the key name and ****, never the value"},
    {"falco.rule", F_FALCO_RULE, VT_STR, K_EXT, false, "external alert's rule"},
    {"falco.priority", F_FALCO_PRIORITY, VT_STR, K_EXT, false, "external alert's priority"},
    {"falco.output", F_FALCO_OUTPUT, VT_STR, K_EXT, false, "external alert's text"},
    {"falco.source", F_FALCO_SOURCE, VT_STR, K_EXT, false, "tool that raised it (falco)"},
    {"falco.tags", F_FALCO_TAGS, VT_LIST, K_EXT, false, "external alert's tags (list)"},
    {"falco.field", F_FALCO_FIELD, VT_STR, K_EXT, true, "falco.field[proc.name]: one of its fields"},
    {"proc.stdin_is_socket", F_PROC_STDIN_SOCKET, VT_BOOL, K_EXEC, false, "fd 0 is a socket, any family (exec events)"},
    {"proc.stdout_is_socket", F_PROC_STDOUT_SOCKET, VT_BOOL, K_EXEC, false, "fd 1 is a socket (exec events)"},
    {"proc.stderr_is_socket", F_PROC_STDERR_SOCKET, VT_BOOL, K_EXEC, false, "fd 2 is a socket (exec events)"},
    {"proc.stdio_rip", F_PROC_STDIO_RIP, VT_STR, K_EXEC, false, "remote address of a TCP socket on fds 0-2; absent if none (exec events)"},
    {"proc.stdio_rport", F_PROC_STDIO_RPORT, VT_INT, K_EXEC, false, "its remote port (exec events)"},
    {"proc.is_exe_upper_layer", F_PROC_EXE_UPPER_LAYER, VT_BOOL, K_EXEC, false, "executable in the container's overlay upper layer (exec events)"},
    {"proc.exe_written_after_start", F_PROC_EXE_AFTER_START, VT_BOOL, K_EXEC, false, "executable changed after the container started (exec events)"},
    {"proc.duration", F_PROC_DURATION, VT_INT, K_ALL, false, "ns since the process started: the event's time minus the process's start (absent when the source gave no start)"},
    {"anomaly.mean", F_ANOMALY_MEAN, VT_DBL, 0, false, "output only: baseline mean"},
    {"anomaly.sigma", F_ANOMALY_SIGMA, VT_DBL, 0, false, "output only: baseline sigma"},
    {"anomaly.value", F_ANOMALY_VALUE, VT_DBL, 0, false, "output only: the sample"},
};

const struct field_def *fields_table(size_t *n)
{
    *n = sizeof table / sizeof *table;
    return table;
}

bool rules_field_at(size_t i, const char **name, const char **type, const char **doc)
{
    static const char *const types[] = {"string", "int", "number", "bool", "list", "type",
                                        "ipnet"};

    if (i >= sizeof table / sizeof *table)
        return false;
    *name = table[i].name;
    *type = types[table[i].type];
    *doc = table[i].doc;
    return true;
}

/* Looks up "name" or "name[arg]"; the arg is copied into arg. */
const struct field_def *fields_lookup(const char *name, char *arg, size_t arglen)
{
    const char *br = strchr(name, '[');
    size_t nlen = br ? (size_t)(br - name) : strlen(name);

    if (arglen)
        arg[0] = '\0';
    /* Falco spells evt.arg[NAME] also evt.arg.NAME */
    if (!br && !strncmp(name, "evt.arg.", 8) && name[8]) {
        size_t alen = strlen(name + 8);

        if (alen >= arglen)
            return NULL;
        memcpy(arg, name + 8, alen + 1);
        for (size_t i = 0; i < sizeof table / sizeof *table; i++)
            if (table[i].id == F_EVT_ARG)
                return &table[i];
        return NULL;
    }
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        if (strlen(table[i].name) != nlen || strncmp(table[i].name, name, nlen) != 0)
            continue;
        if (table[i].takes_arg != (br != NULL))
            continue;  /* proc.aname and proc.aname[N] are two fields */
        if (br) {
            size_t alen = strlen(br + 1);

            if (alen == 0 || br[alen] != ']' || alen > arglen)
                return NULL;
            memcpy(arg, br + 1, alen - 1);
            arg[alen - 1] = '\0';
        }
        return &table[i];
    }
    return NULL;
}

/* ------------------------------------------------------------ evt.type */

enum {
    T_EXECVE = 1u << 0, T_CONNECT = 1u << 1, T_ACCEPT = 1u << 2, T_OPEN = 1u << 3,
    T_RENAME = 1u << 4, T_UNLINK = 1u << 5, T_CHMOD = 1u << 6, T_RESOURCE = 1u << 7,
    T_CONFIG = 1u << 8, T_VULN = 1u << 9, T_EXTERNAL = 1u << 10, T_MISCONFIG = 1u << 11,
    T_SECRET = 1u << 12,
    /* syscall events (the eBPF sensor) */
    T_PTRACE = 1u << 13, T_MOUNT = 1u << 14, T_UMOUNT = 1u << 15, T_UNSHARE = 1u << 16,
    T_SETNS = 1u << 17, T_MODULE = 1u << 18, T_MEMFD = 1u << 19, T_DUP = 1u << 20,
    T_SETUID = 1u << 21, T_SETGID = 1u << 22, T_SOCKET = 1u << 23, T_SYMLINK = 1u << 24,
    T_LINK = 1u << 25, T_BIND = 1u << 26, T_LISTEN = 1u << 27, T_BPF = 1u << 28,
};
#define T_SYSCALLS 0x1fffe000u
_Static_assert(T_SYSCALLS == (T_PTRACE | T_MOUNT | T_UMOUNT | T_UNSHARE | T_SETNS | T_MODULE |
                              T_MEMFD | T_DUP | T_SETUID | T_SETGID | T_SOCKET | T_SYMLINK |
                              T_LINK | T_BIND | T_LISTEN | T_BPF),
               "syscall type bits");

static const struct { const char *name; uint32_t bits; } type_names[] = {
    {"execve", T_EXECVE}, {"execveat", T_EXECVE}, {"exec", T_EXECVE},
    {"connect", T_CONNECT}, {"accept", T_ACCEPT}, {"accept4", T_ACCEPT},
    {"net", T_CONNECT | T_ACCEPT},
    {"open", T_OPEN}, {"openat", T_OPEN}, {"openat2", T_OPEN}, {"creat", T_OPEN},
    {"rename", T_RENAME}, {"renameat", T_RENAME}, {"renameat2", T_RENAME},
    {"unlink", T_UNLINK}, {"unlinkat", T_UNLINK}, {"rmdir", T_UNLINK},
    {"chmod", T_CHMOD}, {"fchmod", T_CHMOD}, {"fchmodat", T_CHMOD},
    {"file", T_OPEN | T_RENAME | T_UNLINK | T_CHMOD},
    {"resource", T_RESOURCE}, {"config", T_CONFIG}, {"vuln", T_VULN}, {"external", T_EXTERNAL},
    {"misconfig", T_MISCONFIG}, {"secret", T_SECRET},
    {"ptrace", T_PTRACE}, {"mount", T_MOUNT}, {"umount", T_UMOUNT}, {"umount2", T_UMOUNT},
    {"unshare", T_UNSHARE}, {"setns", T_SETNS}, {"init_module", T_MODULE},
    {"finit_module", T_MODULE}, {"memfd_create", T_MEMFD}, {"dup", T_DUP}, {"dup2", T_DUP},
    {"dup3", T_DUP}, {"setuid", T_SETUID}, {"setreuid", T_SETUID}, {"setresuid", T_SETUID},
    {"setgid", T_SETGID}, {"setregid", T_SETGID}, {"setresgid", T_SETGID}, {"socket", T_SOCKET},
    {"symlink", T_SYMLINK}, {"symlinkat", T_SYMLINK}, {"link", T_LINK}, {"linkat", T_LINK},
    {"bind", T_BIND}, {"listen", T_LISTEN}, {"bpf", T_BPF},
    {"syscall", T_SYSCALLS},
};

uint32_t fields_type_bits(const char *name)
{
    for (size_t i = 0; i < sizeof type_names / sizeof *type_names; i++)
        if (strcmp(type_names[i].name, name) == 0)
            return type_names[i].bits;
    return 0;
}

uint32_t fields_kind_types(rules_kinds kinds)
{
    static const uint32_t types[RULES_KINDS] = {
        T_EXECVE, T_CONNECT | T_ACCEPT, T_OPEN | T_RENAME | T_UNLINK | T_CHMOD, T_RESOURCE, T_CONFIG,
        T_VULN, T_EXTERNAL, T_SYSCALLS, T_MISCONFIG, T_SECRET,
    };
    uint32_t t = 0;

    for (size_t k = 0; k < RULES_KINDS; k++)
        if (kinds & (1u << k))
            t |= types[k];
    return t;
}

static const char *type_name(uint32_t bit)
{
    switch (bit) {
    case T_EXECVE: return "execve";
    case T_CONNECT: return "connect";
    case T_ACCEPT: return "accept";
    case T_OPEN: return "openat";
    case T_RENAME: return "rename";
    case T_UNLINK: return "unlink";
    case T_CHMOD: return "chmod";
    case T_RESOURCE: return "resource";
    case T_CONFIG: return "config";
    case T_VULN: return "vuln";
    case T_EXTERNAL: return "external";
    case T_MISCONFIG: return "misconfig";
    case T_SECRET: return "secret";
    }
    return "unknown";
}

void fields_prepare(struct evctx *c)
{
    const Bulwark__V1__Event *ev = c->ev;

    c->kind_bit = ev->body_case >= 10 && ev->body_case < 10 + RULES_KINDS
                      ? RULES_KIND_BIT(ev->body_case) : 0;
    c->has_anomaly = false;
    switch (ev->body_case) {
    case BULWARK__V1__EVENT__BODY_EXEC: c->type_bit = T_EXECVE; break;
    case BULWARK__V1__EVENT__BODY_NET:
        c->type_bit = ev->net->direction == BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND ? T_ACCEPT
                                                                                          : T_CONNECT;
        break;
    case BULWARK__V1__EVENT__BODY_FILE:
        switch (ev->file->op) {
        case BULWARK__V1__FILE_ACCESS__OP__RENAME: c->type_bit = T_RENAME; break;
        case BULWARK__V1__FILE_ACCESS__OP__DELETE: c->type_bit = T_UNLINK; break;
        case BULWARK__V1__FILE_ACCESS__OP__CHMOD: c->type_bit = T_CHMOD; break;
        default: c->type_bit = T_OPEN; break;
        }
        break;
    case BULWARK__V1__EVENT__BODY_RESOURCE: c->type_bit = T_RESOURCE; break;
    case BULWARK__V1__EVENT__BODY_CONFIG: c->type_bit = T_CONFIG; break;
    case BULWARK__V1__EVENT__BODY_VULN: c->type_bit = T_VULN; break;
    case BULWARK__V1__EVENT__BODY_EXTERNAL: c->type_bit = T_EXTERNAL; break;
    case BULWARK__V1__EVENT__BODY_MISCONFIG: c->type_bit = T_MISCONFIG; break;
    case BULWARK__V1__EVENT__BODY_SECRET: c->type_bit = T_SECRET; break;
    case BULWARK__V1__EVENT__BODY_SYSCALL:  /* one bit (a name we do not know: none) */
        c->type_bit = fields_type_bits(ev->syscall->type) & T_SYSCALLS;
        c->type_bit &= -c->type_bit;
        break;
    default: c->type_bit = 0; break;
    }
}

/* --------------------------------------------------------------- access */

static int vstr(struct fval *v, const char *s)
{
    if (!s)
        return -1;
    v->type = VT_STR;
    v->s = s;
    return 0;
}

static int vint(struct fval *v, int64_t i)
{
    v->type = VT_INT;
    v->i = i;
    return 0;
}

static int vbool(struct fval *v, bool b)
{
    v->type = VT_BOOL;
    v->i = b;
    return 0;
}

static int vdbl(struct fval *v, double d)
{
    v->type = VT_DBL;
    v->d = d;
    return 0;
}

static int vlist(struct fval *v, const char *const *list, size_t n)
{
    v->type = VT_LIST;
    v->list = list;
    v->n = n;
    return 0;
}

static int vnet(struct fval *v, const char *const *list, size_t n)
{
    v->type = VT_NET;
    v->list = list;
    v->n = n;
    return 0;
}

static int vnet1(struct evctx *c, struct fval *v, const char *addr)
{
    c->list[0] = addr;
    return vnet(v, c->list, 1);
}

/* Decimal digits of v into dst (NUL-terminated, at least 21 bytes); returns the length. */
static size_t fmt_u64(char *dst, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        dst[i++] = tmp[--n];
    dst[i] = '\0';
    return i;
}

/* Fields built in scratch space are kept out of line so that the
 * accessor of the plain fields stays a small function. */
#define NOINLINE __attribute__((noinline))

/* "nginx", "library/nginx", "reg:5000/app" from an image reference. */
NOINLINE static int image_repo(struct evctx *c, const char *img, struct fval *v)
{
    const char *at = strchr(img, '@'), *slash, *colon;
    size_t n = at ? (size_t)(at - img) : strlen(img);

    slash = memrchr(img, '/', n);
    colon = memrchr(slash ? slash : img, ':', n - (size_t)(slash ? slash - img : 0));
    if (colon)
        n = (size_t)(colon - img);
    if (n >= sizeof c->scratch[1])
        return -1;
    memcpy(c->scratch[1], img, n);
    c->scratch[1][n] = '\0';
    return vstr(v, c->scratch[1]);
}

NOINLINE static int image_tag(struct evctx *c, const char *img, struct fval *v)
{
    const char *at = strchr(img, '@'), *slash, *colon;
    size_t n = at ? (size_t)(at - img) : strlen(img);

    slash = memrchr(img, '/', n);
    colon = memrchr(slash ? slash : img, ':', n - (size_t)(slash ? slash - img : 0));
    if (!colon)
        return at ? -1 : vstr(v, "latest");
    if (at) {  /* name:tag@sha256:...: the tag runs to the '@' */
        size_t tl = (size_t)(at - colon - 1);

        if (tl >= sizeof c->scratch[1])
            return -1;
        memcpy(c->scratch[1], colon + 1, tl);
        c->scratch[1][tl] = '\0';
        return vstr(v, c->scratch[1]);
    }
    return vstr(v, colon + 1);
}

static int nonempty(struct fval *v, const char *s)
{
    return s && *s ? vstr(v, s) : -1;
}

NOINLINE static int net_fd_name(struct evctx *c, const Bulwark__V1__NetConnection *n, bool out, struct fval *v)
{
    snprintf(c->scratch[0], sizeof c->scratch[0], "%s:%u->%s:%u", out ? n->local_addr : n->remote_addr,
             out ? n->local_port : n->remote_port, out ? n->remote_addr : n->local_addr,
             out ? n->remote_port : n->local_port);
    return vstr(v, c->scratch[0]);
}

/* net.dest: hot (first-seen rules), so no printf */
NOINLINE static int net_dest(struct evctx *c, const Bulwark__V1__NetConnection *n, const char *name, struct fval *v)
{
    const char *host = name ? name : n->remote_addr;
    size_t hl = strlen(host), pl;
    char port[12];

    pl = fmt_u64(port, n->remote_port);
    if (hl + pl + 2 > sizeof c->scratch[2])
        return -1;
    memcpy(c->scratch[2], host, hl);
    c->scratch[2][hl] = ':';
    memcpy(c->scratch[2] + hl + 1, port, pl + 1);
    return vstr(v, c->scratch[2]);
}

static int net_field(struct evctx *c, const Bulwark__V1__NetConnection *n, enum field_id id,
                     struct fval *v)
{
    bool out = n->direction != BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND;
    const char *name = n->remote_name && *n->remote_name ? n->remote_name : NULL;

    switch (id) {
    case F_FD_NAME: return net_fd_name(c, n, out, v);
    case F_FD_TYPECHAR: return vstr(v, strchr(n->remote_addr, ':') ? "6" : "4");
    case F_FD_TYPE: return vstr(v, strchr(n->remote_addr, ':') ? "ipv6" : "ipv4");
    case F_FD_L4PROTO: return vstr(v, n->protocol == BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP ? "udp" : "tcp");
    case F_FD_SIP: return vstr(v, out ? n->remote_addr : n->local_addr);
    case F_FD_CIP: return vstr(v, out ? n->local_addr : n->remote_addr);
    case F_FD_RIP: return vstr(v, n->remote_addr);
    case F_FD_LIP: return vstr(v, n->local_addr);
    case F_FD_SPORT: return vint(v, out ? n->remote_port : n->local_port);
    case F_FD_CPORT: return vint(v, out ? n->local_port : n->remote_port);
    case F_FD_RPORT: return vint(v, n->remote_port);
    case F_FD_LPORT: return vint(v, n->local_port);
    case F_FD_SIP_NAME: return out ? nonempty(v, name) : -1;
    case F_FD_RIP_NAME:
    case F_NET_REMOTE_NAME: return nonempty(v, name);
    case F_NET_DIRECTION: return vstr(v, out ? "outbound" : "inbound");
    case F_FD_IP:
    case F_FD_NET:
        c->list[0] = n->local_addr;
        c->list[1] = n->remote_addr;
        return vnet(v, c->list, 2);
    case F_FD_SNET: return vnet1(c, v, out ? n->remote_addr : n->local_addr);
    case F_FD_CNET: return vnet1(c, v, out ? n->local_addr : n->remote_addr);
    case F_FD_LNET: return vnet1(c, v, n->local_addr);
    case F_FD_RNET: return vnet1(c, v, n->remote_addr);
    case F_NET_DEST: return net_dest(c, n, name, v);
    default: return -1;
    }
}

NOINLINE static int file_directory(struct evctx *c, const char *path, struct fval *v)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (!slash)
        return -1;
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof c->scratch[0])
        return -1;
    memcpy(c->scratch[0], path, n);
    c->scratch[0][n] = '\0';
    return vstr(v, c->scratch[0]);
}

static const char *syscall_res(int64_t res);

static int file_field(struct evctx *c, enum field_id id, const char *arg, struct fval *v)
{
    static const char *const ops[] = {"write", "create", "rename", "delete", "chmod", "open"};
    const Bulwark__V1__FileAccess *f = c->ev->file;
    const char *slash;

    switch (id) {
    case F_FD_NAME:
    case F_FILE_PATH: return vstr(v, f->path);
    case F_FD_NAMERAW: return vstr(v, *f->path_raw ? f->path_raw : f->path);
    case F_FD_DIRECTORY: return file_directory(c, f->path, v);
    case F_FD_FILENAME:
        slash = strrchr(f->path, '/');
        return vstr(v, slash ? slash + 1 : f->path);
    case F_FD_TYPECHAR: return vstr(v, "f");
    case F_FD_TYPE: return vstr(v, "file");
    case F_FD_NUM: return f->fd_opt_case ? vint(v, f->fd) : -1;
    case F_EVT_RES: return f->res_opt_case ? vstr(v, syscall_res(f->res)) : -1;
    case F_EVT_RAWRES: return f->res_opt_case ? vint(v, f->res) : -1;
    case F_FILE_OP: return (unsigned)f->op < 6 ? vstr(v, ops[f->op]) : -1;
    case F_FILE_NEW_PATH: return nonempty(v, f->new_path);
    case F_EVT_IS_OPEN_WRITE:
        return vbool(v, f->op == BULWARK__V1__FILE_ACCESS__OP__WRITE || f->op == BULWARK__V1__FILE_ACCESS__OP__CREATE);
    case F_EVT_IS_OPEN_READ: return vbool(v, f->op == BULWARK__V1__FILE_ACCESS__OP__OPEN);
    case F_EVT_ARG:  /* an open's arguments as Falco names them (eBPF sensor) */
        if (!f->fd_opt_case || !arg)
            return -1;
        if (!strcmp(arg, "flags"))
            return nonempty(v, f->open_flags);
        return !strcmp(arg, "name") ? vstr(v, f->path) : -1;
    default: return -1;
    }
}

/* evt.res: Falco's rendering of a result */
static const char *syscall_res(int64_t res)
{
    const char *name;

    if (res >= 0)
        return "SUCCESS";
    name = res >= -4095 ? strerrorname_np((int)-res) : NULL;
    return name ? name : "EUNKNOWN";
}

static int syscall_field(struct evctx *c, enum field_id id, const char *arg, struct fval *v)
{
    const Bulwark__V1__Syscall *x = c->ev->syscall;
    bool has_fd = x->fd_type && *x->fd_type;

    switch (id) {
    case F_EVT_RES: return vstr(v, syscall_res(x->res));
    case F_EVT_RAWRES: return vint(v, x->res);
    case F_EVT_ARG:
        for (size_t i = 0; arg && i < x->n_args; i++)
            if (strcmp(x->args[i]->key, arg) == 0)
                return vstr(v, x->args[i]->value);
        return -1;
    case F_FD_NUM: return has_fd ? vint(v, x->fd) : -1;
    case F_FD_NAME: return has_fd ? vstr(v, x->fd_name) : -1;
    case F_FD_TYPECHAR: return has_fd ? vstr(v, x->fd_type) : -1;
    default: return x->conn ? net_field(c, x->conn, id, v) : -1;
    }
}

static int config_field(struct evctx *c, enum field_id id, struct fval *v)
{
    const Bulwark__V1__ContainerConfig *k = c->ev->config;
    size_t n = 0;

    switch (id) {
    case F_CONTAINER_PRIVILEGED:
    case F_CFG_PRIVILEGED: return vbool(v, k->privileged);
    case F_CFG_USER_UID: return k->user_uid_opt_case ? vint(v, k->user_uid) : -1;
    case F_CFG_CAP_ADD: return vlist(v, (const char *const *)k->cap_add, k->n_cap_add);
    case F_CFG_HOST_NETWORK: return vbool(v, k->host_network);
    case F_CFG_HOST_PID: return vbool(v, k->host_pid);
    case F_CFG_HOST_IPC: return vbool(v, k->host_ipc);
    case F_CFG_MOUNT_SOURCE:
    case F_CFG_MOUNT_TARGET:
    case F_CFG_MOUNT_RW_SOURCE:
        for (size_t i = 0; i < k->n_mounts && n < RULES_LIST_MAX; i++) {
            const Bulwark__V1__Mount *mt = k->mounts[i];

            if (id == F_CFG_MOUNT_RW_SOURCE && mt->read_only)
                continue;
            c->list[n++] = id == F_CFG_MOUNT_TARGET ? mt->target : mt->source;
        }
        return vlist(v, c->list, n);
    case F_CFG_READ_ONLY_ROOTFS: return vbool(v, k->read_only_rootfs);
    case F_CFG_NO_NEW_PRIVS: return vbool(v, k->no_new_privileges);
    case F_CFG_SECCOMP: return vstr(v, k->seccomp_profile);
    case F_CFG_APPARMOR: return vstr(v, k->apparmor_profile);
    case F_CFG_ENV_NAMES: return vlist(v, (const char *const *)k->env_names, k->n_env_names);
    default: return -1;
    }
}

/* The attack signs of an exec (ProcessExec 11-17). */
static int exec_sign_field(const Bulwark__V1__ProcessExec *x, enum field_id id, struct fval *v)
{
    switch (id) {
    case F_PROC_STDIN_SOCKET: return vbool(v, x->stdin_socket);
    case F_PROC_STDOUT_SOCKET: return vbool(v, x->stdout_socket);
    case F_PROC_STDERR_SOCKET: return vbool(v, x->stderr_socket);
    case F_PROC_STDIO_RIP: return nonempty(v, x->stdio_remote_addr);
    case F_PROC_STDIO_RPORT: return x->stdio_remote_addr && *x->stdio_remote_addr ? vint(v, x->stdio_remote_port) : -1;
    case F_PROC_EXE_UPPER_LAYER: return vbool(v, x->exe_upper_layer);
    case F_PROC_EXE_AFTER_START: return vbool(v, x->exe_written_after_start);
    default: return -1;
    }
}

static int misconfig_field(const Bulwark__V1__MisconfigFinding *f, enum field_id id,
                           struct fval *v)
{
    switch (id) {
    case F_MISCONF_ID: return vstr(v, f->check_id);
    case F_MISCONF_AVD_ID: return nonempty(v, f->avd_id);
    case F_MISCONF_TITLE: return vstr(v, f->title);
    case F_MISCONF_SEVERITY: return vstr(v, f->finding_severity);
    case F_MISCONF_STATUS: return vstr(v, f->status);
    case F_MISCONF_MESSAGE: return vstr(v, f->message);
    case F_MISCONF_TARGET: return vstr(v, f->target);
    case F_MISCONF_TYPE: return nonempty(v, f->target_type);
    case F_MISCONF_LINE: return f->start_line ? vint(v, f->start_line) : -1;
    case F_SCAN_ARTIFACT: return nonempty(v, f->artifact_name);
    case F_SCAN_ARTIFACT_TYPE: return nonempty(v, f->artifact_type);
    default: return -1;
    }
}

static int secret_field(const Bulwark__V1__SecretFinding *f, enum field_id id, struct fval *v)
{
    switch (id) {
    case F_SECRET_RULE: return vstr(v, f->rule_id);
    case F_SECRET_CATEGORY: return vstr(v, f->category);
    case F_SECRET_TITLE: return vstr(v, f->title);
    case F_SECRET_SEVERITY: return vstr(v, f->finding_severity);
    case F_SECRET_TARGET: return vstr(v, f->target);
    case F_SECRET_LINE: return f->start_line ? vint(v, f->start_line) : -1;
    case F_SECRET_MATCH: return nonempty(v, f->match_redacted);
    case F_SCAN_ARTIFACT: return nonempty(v, f->artifact_name);
    case F_SCAN_ARTIFACT_TYPE: return nonempty(v, f->artifact_type);
    default: return -1;
    }
}

NOINLINE static int body_field(struct evctx *c, enum field_id id, const char *arg, struct fval *v)
{
    const Bulwark__V1__Event *ev = c->ev;

    switch (ev->body_case) {
    case BULWARK__V1__EVENT__BODY_EXEC:
        if (id == F_PROC_TTY) {
            const Bulwark__V1__ProcessExec *x = ev->exec;

            if (x->tty_nr_opt_case)
                return vint(v, x->tty_nr);
            return x->tty_opt_case ? vint(v, x->tty ? 1 : 0) : -1;
        }
        if (id == F_PROC_CWD)
            return nonempty(v, ev->exec->cwd);
        return exec_sign_field(ev->exec, id, v);
    case BULWARK__V1__EVENT__BODY_NET:
        if (id == F_FD_CONNECTED || id == F_FD_NAME_CHANGED)
            return vbool(v, id == F_FD_CONNECTED);
        if (id == F_EVT_RES || id == F_EVT_RAWRES) {
            if (!ev->net->res_opt_case)
                return -1;
            return id == F_EVT_RES ? vstr(v, syscall_res(ev->net->res)) : vint(v, ev->net->res);
        }
        return net_field(c, ev->net, id, v);
    case BULWARK__V1__EVENT__BODY_SYSCALL: return syscall_field(c, id, arg, v);
    case BULWARK__V1__EVENT__BODY_FILE: return file_field(c, id, arg, v);
    case BULWARK__V1__EVENT__BODY_RESOURCE: {
        const Bulwark__V1__ResourceSample *r = ev->resource;

        switch (id) {
        case F_RES_CPU: return vdbl(v, r->cpu_cores);
        case F_RES_MEM: return vint(v, (int64_t)r->memory_bytes);
        case F_RES_MEM_LIMIT: return vint(v, (int64_t)r->memory_limit_bytes);
        case F_RES_INTERVAL: return vint(v, r->interval_ms);
        case F_RES_SCOPE: return vstr(v, r->scope);
        default: return -1;
        }
    }
    case BULWARK__V1__EVENT__BODY_CONFIG: return config_field(c, id, v);
    case BULWARK__V1__EVENT__BODY_VULN: {
        const Bulwark__V1__VulnFinding *f = ev->vuln;

        switch (id) {
        case F_VULN_ID: return vstr(v, f->vuln_id);
        case F_VULN_PACKAGE: return vstr(v, f->package);
        case F_VULN_INSTALLED: return vstr(v, f->installed_version);
        case F_VULN_FIXED: return vstr(v, f->fixed_version);
        case F_VULN_SEVERITY: return vstr(v, f->vuln_severity);
        case F_VULN_CVSS: return vdbl(v, f->cvss_score);
        case F_VULN_TITLE: return vstr(v, f->title);
        case F_VULN_SCANNER: return vstr(v, f->scanner);
        case F_VULN_TARGET: return vstr(v, f->target);
        case F_VULN_PKG_PATH: return nonempty(v, f->pkg_path);
        case F_SCAN_ARTIFACT: return nonempty(v, f->artifact_name);
        case F_SCAN_ARTIFACT_TYPE: return nonempty(v, f->artifact_type);
        default: return -1;
        }
    }
    case BULWARK__V1__EVENT__BODY_EXTERNAL: {
        const Bulwark__V1__ExternalAlert *x = ev->external;

        switch (id) {
        case F_FALCO_RULE: return vstr(v, x->rule);
        case F_FALCO_PRIORITY: return vstr(v, x->priority);
        case F_FALCO_OUTPUT: return vstr(v, x->output);
        case F_FALCO_SOURCE: return vstr(v, x->source);
        case F_FALCO_TAGS: return vlist(v, (const char *const *)x->tags, x->n_tags);
        case F_FALCO_FIELD:
            for (size_t i = 0; arg && i < x->n_fields; i++)
                if (strcmp(x->fields[i]->key, arg) == 0)
                    return vstr(v, x->fields[i]->value);
            return -1;
        default: return -1;
        }
    }
    case BULWARK__V1__EVENT__BODY_MISCONFIG: return misconfig_field(ev->misconfig, id, v);
    case BULWARK__V1__EVENT__BODY_SECRET: return secret_field(ev->secret, id, v);
    default:
        return -1;
    }
}

/* Capability names by number (linux/capability.h). */
static const char *const cap_table[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

/* A capability mask as Falco writes it: names separated by spaces
 * ("CAP_CHOWN CAP_SYS_ADMIN"), "" for none; bits past the table are left
 * out. */
NOINLINE static int cap_names(struct evctx *c, uint64_t mask, struct fval *v)
{
    size_t used = 0;

    _Static_assert(sizeof cap_table / sizeof *cap_table <= 64, "a mask has 64 bits");
    c->caps[0] = '\0';
    for (size_t i = 0; i < sizeof cap_table / sizeof *cap_table; i++) {
        size_t n = strlen(cap_table[i]);

        if (!(mask >> i & 1))
            continue;
        if (used + n + 2 > sizeof c->caps)
            break;  /* cannot happen: every name fits */
        if (used)
            c->caps[used++] = ' ';
        memcpy(c->caps + used, cap_table[i], n + 1);
        used += n;
    }
    return vstr(v, c->caps);
}

/* N of proc.aname[N]: 0 to 99, or -1. */
static int ancestor_index(const char *arg)
{
    int n = 0;

    if (!arg || !*arg || strlen(arg) > 2)
        return -1;
    for (; *arg; arg++) {
        if (*arg < '0' || *arg > '9')
            return -1;
        n = n * 10 + (*arg - '0');
    }
    return n;
}

/* The fields of a process's lineage and sessions (procref_build()
 * fills them at exec): absent when the source did not give them. */
NOINLINE static int lineage_field(struct evctx *c, const Bulwark__V1__ProcessRef *p,
                                  enum field_id id, const char *arg, struct fval *v)
{
    const Bulwark__V1__ProcessAncestor *a = NULL;
    int k = ancestor_index(arg);
    size_t n = 0;

    if (id == F_PROC_ANAME || id == F_PROC_APID || id == F_PROC_AEXE) {
        if (k < 0 || (k > 0 && (size_t)k > p->n_ancestors))
            return -1;
        if (k > 0)
            a = p->ancestors[k - 1];
        if (id == F_PROC_ANAME)
            return a ? nonempty(v, a->name) : nonempty(v, p->name);
        if (id == F_PROC_APID)
            return vint(v, a ? a->pid : p->pid);
        return a ? nonempty(v, a->exe) : nonempty(v, p->exe);
    }
    switch (id) {
    case F_PROC_ANAME_ANY:
        for (size_t i = 0; i < p->n_ancestors && n < RULES_LIST_MAX; i++)
            c->list[n++] = p->ancestors[i]->name;
        return n ? vlist(v, c->list, n) : -1;
    case F_PROC_PEXE: return p->n_ancestors ? nonempty(v, p->ancestors[0]->exe) : -1;
    case F_PROC_PCMDLINE: return nonempty(v, p->parent_cmdline);
    case F_PROC_SNAME: return nonempty(v, p->session_name);
    case F_PROC_VPID: return p->vpid_opt_case ? vint(v, p->vpid) : -1;
    case F_PROC_VTID: return p->vtid_opt_case ? vint(v, p->vtid) : -1;
    case F_PROC_SID: return p->sid_opt_case ? vint(v, p->sid) : -1;
    case F_PROC_PGID: return p->pgid_opt_case ? vint(v, p->pgid) : -1;
    case F_PROC_VPGID: return p->vpgid_opt_case ? vint(v, p->vpgid) : -1;
    case F_PROC_IS_VPGID_LEADER:
        return p->vpgid_opt_case && p->vpid_opt_case ? vbool(v, p->vpgid == p->vpid) : -1;
    case F_PROC_IS_SID_LEADER: return p->sid_opt_case ? vbool(v, p->sid == p->pid) : -1;
    case F_PROC_IS_EXE_FROM_MEMFD:  /* the sensor says so, or the kernel names a memfd
                                     * "/memfd:NAME (deleted)" */
        if (p->exe_from_memfd)
            return vbool(v, true);
        return *p->exe ? vbool(v, strncmp(p->exe, "/memfd:", 7) == 0) : -1;
    case F_USER_LOGINUID:  /* Falco's -1 for "never logged in" (4294967295) */
        if (!p->loginuid_opt_case)
            return -1;
        return vint(v, p->loginuid == UINT32_MAX ? -1 : (int64_t)p->loginuid);
    default: return -1;
    }
}

static const char *const kind_names[RULES_KINDS] = {
    "exec", "net", "file", "resource", "config", "vuln", "external", "syscall", "misconfig",
    "secret"};

const char *fields_kind_const(enum field_id id, size_t k)
{
    if (k >= RULES_KINDS)
        return NULL;
    switch (id) {
    case F_KIND: return kind_names[k];
    case F_EVT_DIR: return "<";
    default: return NULL;
    }
}
static const char *const severity_names[] = {"unspecified", "debug", "info", "notice", "warning",
                                              "error", "critical", "alert", "emergency"};

int fields_get(struct evctx *c, enum field_id id, const char *arg, struct fval *v)
{
    const Bulwark__V1__Event *ev = c->ev;
    const Bulwark__V1__ContainerRef *ct = ev->container;
    const Bulwark__V1__ProcessRef *p = ev->process;
    const char *args;

    switch (id) {
    case F_EVT_TYPE:
        if (ev->body_case == BULWARK__V1__EVENT__BODY_SYSCALL)
            return vstr(v, ev->syscall->type);
        return vstr(v, type_name(c->type_bit));
    case F_EVT_DIR: return vstr(v, "<");
    case F_EVT_TIME: return vint(v, ev->time_ns);
    case F_EVT_NUM: return c->m ? vint(v, (int64_t)c->m->seq) : -1;
    case F_KIND: return c->kind_bit ? vstr(v, kind_names[ev->body_case - 10]) : -1;
    case F_SEVERITY:
        return (unsigned)ev->severity < 9 ? vstr(v, severity_names[ev->severity]) : -1;
    case F_AGENT_ID: return c->m ? nonempty(v, c->m->agent_id) : -1;
    case F_HOST_NAME: return c->m ? nonempty(v, c->m->hostname) : -1;
    case F_CONTAINER_ID: return ct ? vstr(v, ct->id) : vstr(v, "host");
    case F_CONTAINER_NAME: return ct ? vstr(v, ct->name) : vstr(v, "host");
    case F_CONTAINER_IMAGE: return ct ? nonempty(v, ct->image) : -1;
    case F_IMAGE_REPOSITORY: return ct && *ct->image ? image_repo(c, ct->image, v) : -1;
    case F_IMAGE_TAG: return ct && *ct->image ? image_tag(c, ct->image, v) : -1;
    case F_IMAGE_DIGEST: return ct ? nonempty(v, ct->image_digest) : -1;
    case F_CONTAINER_RUNTIME: return ct ? nonempty(v, ct->runtime) : -1;
    case F_CONTAINER_PRIVILEGED:  /* a config event's own, else the reference's */
        if (ev->body_case == BULWARK__V1__EVENT__BODY_CONFIG)
            return body_field(c, id, arg, v);
        return ct && ct->privileged_opt_case ? vbool(v, ct->privileged) : -1;
    case F_K8S_NS: return ct ? nonempty(v, ct->k8s_namespace) : -1;
    case F_K8S_POD: return ct ? nonempty(v, ct->k8s_pod) : -1;
    case F_K8S_POD_UID: return ct ? nonempty(v, ct->k8s_pod_uid) : -1;
    case F_PROC_PID: return p ? vint(v, p->pid) : -1;
    case F_PROC_PPID: return p ? vint(v, p->ppid) : -1;
    case F_PROC_NAME: return p ? vstr(v, p->name) : -1;
    case F_PROC_EXE: return p ? vstr(v, p->exe) : -1;
    case F_PROC_CMDLINE: return p ? vstr(v, p->cmdline) : -1;
    case F_PROC_ARGS:
        if (!p)
            return -1;
        args = strchr(p->cmdline, ' ');
        return vstr(v, args ? args + 1 : "");
    case F_PROC_PNAME: return p ? vstr(v, p->parent_name) : -1;
    case F_USER_UID: return p && p->uid_opt_case ? vint(v, p->uid) : -1;
    case F_USER_NAME: return p ? vstr(v, p->user) : -1;
    case F_GROUP_GID: return p && p->gid_opt_case ? vint(v, p->gid) : -1;
    case F_PROC_ANAME: case F_PROC_ANAME_ANY: case F_PROC_APID: case F_PROC_AEXE:
    case F_PROC_PEXE: case F_PROC_PCMDLINE: case F_PROC_SNAME: case F_PROC_VPID:
    case F_PROC_VTID: case F_PROC_SID: case F_PROC_PGID: case F_PROC_VPGID:
    case F_PROC_IS_VPGID_LEADER: case F_PROC_IS_SID_LEADER: case F_USER_LOGINUID:
    case F_PROC_IS_EXE_FROM_MEMFD:
        return p ? lineage_field(c, p, id, arg, v) : -1;
    case F_THREAD_CAP_EFFECTIVE:
        return p && p->cap_effective_opt_case ? cap_names(c, p->cap_effective, v) : -1;
    case F_THREAD_CAP_PERMITTED:
        return p && p->cap_permitted_opt_case ? cap_names(c, p->cap_permitted, v) : -1;
    case F_PROC_DURATION:  /* Falco's: from the process's start to this event */
        if (!p || p->start_time_ns <= 0)
            return -1;
        return vint(v, ev->time_ns > p->start_time_ns ? ev->time_ns - p->start_time_ns : 0);
    case F_ANOMALY_MEAN: return c->has_anomaly ? vdbl(v, c->anomaly_mean) : -1;
    case F_ANOMALY_SIGMA: return c->has_anomaly ? vdbl(v, c->anomaly_sigma) : -1;
    case F_ANOMALY_VALUE: return c->has_anomaly ? vdbl(v, c->anomaly_value) : -1;
    default: return body_field(c, id, arg, v);
    }
}

size_t fields_proc_str_offset(enum field_id id)
{
    switch (id) {
    case F_PROC_NAME: return offsetof(Bulwark__V1__ProcessRef, name);
    case F_PROC_EXE: return offsetof(Bulwark__V1__ProcessRef, exe);
    case F_PROC_CMDLINE: return offsetof(Bulwark__V1__ProcessRef, cmdline);
    case F_PROC_PNAME: return offsetof(Bulwark__V1__ProcessRef, parent_name);
    default: return 0;
    }
}

const char *fields_format(const struct fval *v, char *dst, size_t n)
{
    size_t used = 0;

    switch (v->type) {
    case VT_STR:
    case VT_TYPE:
        return v->s;
    case VT_INT:
        if (n < 24)
            return "";
        if (v->i < 0) {
            dst[0] = '-';
            fmt_u64(dst + 1, (uint64_t)0 - (uint64_t)v->i);
        } else {
            fmt_u64(dst, (uint64_t)v->i);
        }
        return dst;
    case VT_BOOL: return v->i ? "true" : "false";
    case VT_DBL: snprintf(dst, n, "%.3g", v->d); return dst;
    case VT_LIST:  /* items joined by ',', cut at n - 1 bytes */
    case VT_NET:
        for (size_t i = 0; i < v->n && used + 1 < n; i++) {
            const char *it = v->list[i];

            if (i)
                dst[used++] = ',';
            for (; *it && used + 1 < n; it++)
                dst[used++] = *it;
        }
        dst[used] = '\0';
        return dst;
    }
    return "";
}
