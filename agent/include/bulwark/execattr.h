/* execattr.h - signs of an attack read from /proc when a process execs
 * (agent/collectors/execattr.c), filled into its ProcessExec:
 *  - standard streams that are sockets, and the remote end of the first one
 *    that is a TCP socket (a reverse shell: a shell talking to the network);
 *  - an executable that lives in the overlay upper layer of the container's
 *    root, or whose inode changed after the container started (drift: it
 *    is not the image's; the second also covers tmpfs and volumes).
 * Both read below a host root, like bulwark/procfs.h, and are bounded: three
 * readlinks and at most one TCP table walk of EXECATTR_TCP_ROWS rows; one
 * mountinfo read of at most EXECATTR_MOUNTINFO_MAX bytes. A process gone
 * meanwhile leaves fields unset. */
#ifndef BULWARK_EXECATTR_H
#define BULWARK_EXECATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/lru.h"
#include "bulwark/procref.h"
#include "bulwark/v1/bulwark.pb-c.h"

#define EXECATTR_MOUNTINFO_MAX (256u * 1024u)
#define EXECATTR_TCP_ROWS 65536u   /* rows of a TCP table read to find a socket */

/* Sets x->stdin_socket, stdout_socket, stderr_socket and, when one of fds
 * 0-2 is a TCP socket found in net/tcp{,6} of pid's network namespace,
 * stdio_remote_addr and stdio_remote_port. 0, or BW_ENOMEM. */
int execattr_stdio(const char *root, int pid, Bulwark__V1__ProcessExec *x);

/* *upper = whether pid's executable is the file of the same inode in the
 * upper directory of the overlay mount that holds it. 0 (also when pid is
 * gone: *upper false), BW_ENOMEM. */
int execattr_upper_layer(const char *root, int pid, bool *upper);

/* *after = whether pid's executable changed (its inode's ctime) after the
 * start of pid 1 of its pid namespace (the container's init, read through
 * pid's root: /proc/PID/root/proc/1). False when pid shares the pid
 * namespace of the agent (the host's: its pid 1 started no container) or
 * when any of it cannot be read. Always 0. */
int execattr_written_after_start(const char *root, int pid, bool *after);

/* The attack signs of an exec into x: socket stdio always, drift (upper
 * layer, written after start) only for a process in a container. 0 or
 * BW_ENOMEM. */
int execattr_signs(const char *root, int pid, Bulwark__V1__ProcessExec *x, bool in_container);

struct procref_lineage;
/* For an exec event another source built from what the kernel said (the
 * eBPF sensor): what /proc adds, as the proc collector reads it
 * (procref_build): the ancestors, parent command line, login uid,
 * namespace pids, session and group ids, session leader's name and
 * capability masks, the user's name (user.name, from the passwd file under the
 * process's own root), then the attack signs (execattr_signs, in a container
 * when ev->container is set). What the event already holds (pid, uid, gid,
 * exe, command line, parent name) is kept. 0, BW_ENOTFOUND (the process is
 * gone: the event stays as it was) or BW_ENOMEM. */
int execattr_enrich(const char *root, int pid, int64_t btime_s, struct procref_lineage *cache,
                    Bulwark__V1__Event *ev);

/* user.name: the name of uid in the passwd file process pid sees (its own
 * root: the host's for a host process, the image's in a container, as
 * Falco's), or, for a host process gone already (or a zombie, whose root is
 * no longer readable), the host's; into out (cap bytes). 0, BW_ENOTFOUND
 * (no file, or uid not in it) or BW_ENOMEM. */
int execattr_user(const char *root, int pid, uint32_t uid, bool in_container, char *out,
                  size_t cap);

/* A bounded cache of user names by (mount namespace, uid), so that the file
 * and connection collectors name the user of every event without reading a
 * passwd file each time. An entry (a name, or "no name") lives
 * EXECATTR_USERS_TTL_S seconds: a user added since is found then. Zeroed
 * is empty; one user, one thread. */
#define EXECATTR_USERS_MAX 256u
#define EXECATTR_USERS_TTL_S 60
struct execattr_users {
    struct lru map;
};
void execattr_users_release(struct execattr_users *c);
/* Sets ev->process->user (user.name) when the process has a uid and no
 * name: as execattr_user, through the cache (a process gone already is
 * looked up in the host's file unless ev->container is set). 0 or
 * BW_ENOMEM. */
int execattr_name_user(struct execattr_users *c, const char *root, int pid,
                       Bulwark__V1__Event *ev);

/* Pure part of execattr_upper_layer: in mountinfo text, the mount holding path (the
 * longest mount point that is a prefix of it, the last one listed when
 * several mounts share it). When that mount is an overlay with an
 * upperdir, writes upperdir + the rest of path to out and returns 1; 0 when
 * it is not (or nothing holds path); BW_ETOOBIG when out is too small. */
int execattr_upper_path(const char *mountinfo, const char *path, char *out, size_t n);

#endif
