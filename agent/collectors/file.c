/* file.c - the `file` collector: writes, creations, renames, deletions and
 * metadata changes below sensitive paths, on the host and inside running
 * containers' root filesystems, as `file` events.
 *
 * Watched: every path of cfg->file_paths (comma-separated, absolute;
 * default FILE_PATHS_DEFAULT), below host_root, and below the root
 * filesystem of each running container found under host_root:
 *   containerd (Kubernetes CRI, and Docker >= 23 with the containerd
 *     snapshotter):  /run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/rootfs
 *   Docker overlay2: /var/lib/docker/overlay2/<mount-id>/merged, the
 *     container id from /var/lib/docker/image/overlay2/layerdb/mounts/<id>/mount-id
 *   CRI-O and Podman (root): /var/lib/containers/storage/overlay/<layer>/merged,
 *     the id from overlay-containers/containers.json
 * Containers are looked for again every FILE_RESCAN_MS (and by scan()).
 * Paths in events are as the container sees them ("/etc/passwd") with the
 * container ref set; host paths have no container unless the process that
 * did it (fanotify) runs in one.
 *
 * Directories are watched one by one, breadth-first over all roots, down to
 * FILE_DEPTH_MAX levels below each configured path and at most
 * FILE_WATCH_MAX directories in all (the first time the limit is hit it is
 * logged); new directories are watched as they appear. Symbolic links are
 * followed only for the configured paths on the host (/bin -> usr/bin);
 * never inside a container, whose links point into the host's tree.
 *
 * Two kernel interfaces, chosen at start (mode "auto": fanotify if the
 * agent may use it, else inotify):
 *  - fanotify (CAP_SYS_ADMIN; kernel >= 5.17 for FAN_RENAME): a
 *    FAN_CLASS_NOTIF group with FAN_REPORT_DFID_NAME, one inode mark per
 *    directory; events carry the pid of the process, so events have a
 *    process ref (pid, comm, exe) and container attribution. A directory's
 *    handle is recorded when it is marked, so paths are resolved without
 *    open_by_handle_at. A root whose filesystem cannot report file ids
 *    (overlayfs before Linux 6.6) is watched with inotify instead.
 *  - inotify: same coverage, but no pid: events have no process ref. A
 *    rename is paired by its cookie; a file moved in from an unwatched
 *    place is a rename with an empty path, moved out one with an empty
 *    new_path.
 * Credential reads (fanotify only: an open without its process says
 * nothing): in every root, the directories of FILE_OPEN_PATHS (mounted
 * secrets, cloud and cluster credentials of root) are watched for opens as
 * well, and an open of a file in them is an `open` event. In a container a
 * directory whose real path leaves the container's root (an absolute
 * symbolic link such as /var/run -> /run) is not watched. A secret
 * bind-mounted into a container (Kubernetes' service-account token) is not
 * in the root's overlay and is not seen this way.
 * Both miss: changes deeper than FILE_DEPTH_MAX or beyond FILE_WATCH_MAX;
 * changes while the queue overflowed (counted in errors, logged once);
 * writes through a hard link from an unwatched directory (inotify) and
 * changes made by mmap. Writes are coalesced: one `write` per file and
 * process until it is closed; a new file's first writes are part of its
 * `create`. Events from the agent itself (fanotify) are ignored.
 *
 * When emit() reports the queue full the event is dropped and counted by
 * the agent: the kernel queue cannot be paused without losing events. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/execattr.h"
#include "bulwark/evjson.h"
#include "bulwark/hash.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"
#include "bulwark/procref.h"

#define FILE_PATHS_DEFAULT "/etc,/usr/bin,/usr/sbin,/bin,/sbin,/usr/lib,/lib"
#define FILE_PATHS_MAX 32u
#define FILE_WATCH_MAX 8192u
#define FILE_HASH_SIZE 16384u     /* power of two, > 2 * FILE_WATCH_MAX */
#define FILE_ROOTS_MAX 512u       /* the host and running containers */
#define FILE_DEPTH_MAX 3u
#define FILE_RESCAN_MS 5000u
#define FILE_READ_BUF (64u * 1024)
#define FILE_READS_MAX 16u        /* reads of FILE_READ_BUF per callback */
#define FILE_DIRTY_MAX 64u
/* Directories whose file opens are reported (credential reads), in each root. */
static const char *const FILE_OPEN_PATHS[] = {
    "/var/run/secrets", "/run/secrets", "/root/.aws", "/root/.kube", "/root/.config/gcloud",
    "/root/.azure", "/root/.docker",
};
#define FILE_MOVES_MAX 16u
#define FILE_STR_MAX 1024u        /* evjson's bound, so --stdout output replays */
#define FILE_FH_MAX (8 + 4 + 128) /* fsid, handle type, MAX_HANDLE_SZ */

#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200       /* Linux 6.5: a handle to identify, not to open */
#endif


/* Not in collector.h yet: lets the agent's config (and tests) pick the
 * interface instead of "auto". */

enum file_kind { FW_FREE = 0, FW_INOTIFY, FW_FANOTIFY };

struct file_root {
    char *host;        /* host path of the root ("" for host_root "/") */
    char *runtime;     /* NULL for the host */
    char *id;
    uint32_t gen;
};

struct file_watch {
    uint8_t kind;      /* enum file_kind */
    uint8_t depth;
    bool open;         /* fanotify: opens are reported too */
    uint16_t root;
    int wd;            /* inotify */
    uint16_t fhlen;    /* fanotify: fsid + type + handle bytes */
    unsigned char *fh;
    uint64_t key;
    char *path;        /* inside its root: "/etc/ssl" */
};

struct file_dirty {
    uint64_t key;      /* hash of root and path */
    int32_t pid;
    uint32_t age;
};

struct file_move {     /* an IN_MOVED_FROM waiting for its IN_MOVED_TO */
    uint32_t cookie;
    uint16_t root;
    bool isdir;
    char *path;
};

struct file_job {      /* a directory to watch (breadth-first walk) */
    uint16_t root;
    uint8_t depth;
    bool follow;
    bool open;         /* a credential directory: watch opens too */
    char *path;
};

struct file_col {
    struct collector base;
    const struct collector_env *env;
    int mode;
    int64_t btime_s;   /* boot time, for process start times (0: not read yet) */
    struct procref_lineage lineage;  /* ancestor chains of the processes seen */
    struct execattr_users users;     /* user names by mount namespace and uid */
    char *paths[FILE_PATHS_MAX];
    size_t npaths;
    char *host_root;   /* without trailing '/'; "" for "/" */
    int ifd, ffd;
    bool fan_rename;   /* FAN_RENAME accepted (Linux >= 5.17) */
    uv_poll_t ipoll, fpoll;
    uv_timer_t timer;
    bool ipoll_init, fpoll_init, timer_init, started;
    int closing;
    void (*done)(void *arg);
    void *done_arg;
    struct file_root roots[FILE_ROOTS_MAX];
    size_t nroots;
    uint32_t gen;
    struct file_watch *watches;      /* FILE_WATCH_MAX */
    uint32_t *hash;                  /* FILE_HASH_SIZE: watch index + 1, 0 = empty */
    size_t nwatches;
    bool limit_logged, overflow_logged;
    struct file_dirty dirty[FILE_DIRTY_MAX];
    uint32_t dirty_clock;
    struct file_move moves[FILE_MOVES_MAX];
    size_t nmoves;
    struct file_job *jobs;           /* FILE_WATCH_MAX */
    size_t jhead, jtail;
    char *rbuf;                      /* FILE_READ_BUF */
    pid_t self;
};

/* ------------------------------------------------------------- helpers */

static uint64_t file_key_wd(int wd)
{
    return bw_hash(&wd, sizeof wd) | 1;  /* odd: inotify */
}

static uint64_t file_key_fh(const unsigned char *fh, size_t n)
{
    return bw_hash(fh, n) & ~1ULL;       /* even: fanotify */
}

static int file_set(char **dst, const char *v)
{
    if (!v || !*v)
        return 0;
    *dst = evb_strndup_utf8(v, strlen(v), FILE_STR_MAX);
    return *dst ? 0 : BW_ENOMEM;
}

/* "dir" + "/" + "name" into out; false when it does not fit. */
static bool file_join(char *out, size_t n, const char *dir, const char *name)
{
    return snprintf(out, n, "%s/%s", strcmp(dir, "/") ? dir : "", name) < (int)n;
}

/* ------------------------------------------------------- the watch table */

static struct file_watch *file_find(struct file_col *f, uint64_t key, int kind, int wd,
                                    const unsigned char *fh, size_t fhlen)
{
    for (uint32_t i = (uint32_t)key & (FILE_HASH_SIZE - 1);; i = (i + 1) & (FILE_HASH_SIZE - 1)) {
        struct file_watch *w;

        if (!f->hash[i])
            return NULL;
        w = &f->watches[f->hash[i] - 1];
        if (w->key != key || w->kind != kind)
            continue;
        if (kind == FW_INOTIFY ? w->wd == wd
                               : w->fhlen == fhlen && !memcmp(w->fh, fh, fhlen))
            return w;
    }
}

static void file_hash_insert(struct file_col *f, uint32_t idx)
{
    uint32_t i = (uint32_t)f->watches[idx].key & (FILE_HASH_SIZE - 1);

    while (f->hash[i])
        i = (i + 1) & (FILE_HASH_SIZE - 1);
    f->hash[i] = idx + 1;
}

/* Linear probing delete with backward shift. */
static void file_hash_remove(struct file_col *f, uint32_t idx)
{
    uint32_t i = (uint32_t)f->watches[idx].key & (FILE_HASH_SIZE - 1), j;

    while (f->hash[i] != idx + 1)
        i = (i + 1) & (FILE_HASH_SIZE - 1);
    for (j = i;;) {
        uint32_t home;

        f->hash[i] = 0;
        for (;;) {
            j = (j + 1) & (FILE_HASH_SIZE - 1);
            if (!f->hash[j])
                return;
            home = (uint32_t)f->watches[f->hash[j] - 1].key & (FILE_HASH_SIZE - 1);
            /* move j to i unless its home lies cyclically in (i, j] */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        f->hash[i] = f->hash[j];
        i = j;
    }
}

static uint64_t file_fan_mask(const struct file_col *f)
{
    return FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR |
           FAN_EVENT_ON_CHILD | (f->fan_rename ? FAN_RENAME : FAN_MOVE);
}

/* Frees a table entry; with `unmark` the kernel watch is removed too. */
static void file_watch_drop(struct file_col *f, struct file_watch *w, bool unmark)
{
    uint32_t idx = (uint32_t)(w - f->watches);

    if (unmark && w->kind == FW_INOTIFY && f->ifd >= 0)
        inotify_rm_watch(f->ifd, w->wd);
    if (unmark && w->kind == FW_FANOTIFY && f->ffd >= 0) {
        char hp[PATH_MAX];

        if (snprintf(hp, sizeof hp, "%s%s", f->roots[w->root].host, w->path) < (int)sizeof hp)
            fanotify_mark(f->ffd, FAN_MARK_REMOVE | FAN_MARK_DONT_FOLLOW | FAN_MARK_ONLYDIR,
                          file_fan_mask(f) | (w->open ? FAN_OPEN : 0), AT_FDCWD, hp);
    }
    file_hash_remove(f, idx);
    free(w->fh);
    free(w->path);
    memset(w, 0, sizeof *w);
    f->nwatches--;
}

/* Drops the watches of path and below it in root (a directory that was
 * deleted or moved out of sight). */
static void file_drop_tree(struct file_col *f, uint16_t root, const char *path, bool unmark)
{
    size_t n = strlen(path);

    for (size_t i = 0; i < FILE_WATCH_MAX && f->nwatches; i++) {
        struct file_watch *w = &f->watches[i];

        if (w->kind != FW_FREE && w->root == root && !strncmp(w->path, path, n) &&
            (w->path[n] == '\0' || w->path[n] == '/'))
            file_watch_drop(f, w, unmark);
    }
}

static struct file_watch *file_watch_slot(struct file_col *f)
{
    for (size_t i = 0; i < FILE_WATCH_MAX; i++)
        if (f->watches[i].kind == FW_FREE)
            return &f->watches[i];
    return NULL;
}

#define FILE_IN_MASK                                                                          \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE |      \
     IN_ATTRIB | IN_ONLYDIR | IN_EXCL_UNLINK)

/* Records a directory's fanotify id (fsid, handle type, handle) as the
 * kernel reports it. Returns its length or 0. */
static size_t file_fh_of(const char *hp, bool follow, unsigned char *out)
{
    struct {
        struct file_handle h;
        unsigned char bytes[128];
    } fh;
    struct statfs sfs;
    int mnt, flags = follow ? AT_SYMLINK_FOLLOW : 0;

    fh.h.handle_bytes = sizeof fh.bytes;
    if (name_to_handle_at(AT_FDCWD, hp, &fh.h, &mnt, flags | AT_HANDLE_FID) != 0) {
        fh.h.handle_bytes = sizeof fh.bytes;
        if (errno != EINVAL || name_to_handle_at(AT_FDCWD, hp, &fh.h, &mnt, flags) != 0)
            return 0;
    }
    if (statfs(hp, &sfs) != 0 || fh.h.handle_bytes > sizeof fh.bytes)
        return 0;
    memcpy(out, &sfs.f_fsid, 8);
    memcpy(out + 8, &fh.h.handle_type, 4);
    memcpy(out + 12, fh.h.f_handle, fh.h.handle_bytes);
    return 12 + fh.h.handle_bytes;
}


/* A container's credential directory must stay inside its root: an
 * absolute link on the way (/var/run -> /run) would lead to the host's. */
static bool file_inside_root(const struct file_col *f, uint16_t root, const char *hp)
{
    const char *top = f->roots[root].host;
    char real[PATH_MAX], rtop[PATH_MAX];
    size_t n;

    if (!f->roots[root].runtime)
        return true;
    if (!realpath(hp, real) || !realpath(top, rtop))
        return false;
    n = strlen(rtop);
    return !strncmp(real, rtop, n) && (real[n] == '/' || real[n] == '\0');
}

/* Adds FAN_OPEN to an existing fanotify watch of directory hp. */
static void file_watch_opens(struct file_col *f, struct file_watch *w, const char *hp, bool follow)
{
    unsigned flags = FAN_MARK_ADD | FAN_MARK_ONLYDIR | (follow ? 0 : FAN_MARK_DONT_FOLLOW);

    if (w->kind == FW_FANOTIFY && !w->open &&
        fanotify_mark(f->ffd, flags, file_fan_mask(f) | FAN_OPEN, AT_FDCWD, hp) == 0)
        w->open = true;
}

/* Watches one directory (with open, its file opens too: fanotify only).
 * Returns 1 when newly watched, 0 when it already was, BW_ETOOBIG at the
 * limit, BW_EIO when it cannot be watched. */
static int file_watch_add(struct file_col *f, uint16_t root, const char *path, uint8_t depth,
                          bool follow, bool open)
{
    unsigned char fh[FILE_FH_MAX];
    struct file_watch *w = NULL;
    char hp[PATH_MAX];
    size_t fhlen = 0;
    uint64_t key = 0;
    int kind = 0, wd = -1;
    struct stat st;

    if (snprintf(hp, sizeof hp, "%s%s", f->roots[root].host, path) >= (int)sizeof hp ||
        (follow ? stat(hp, &st) : lstat(hp, &st)) != 0 || !S_ISDIR(st.st_mode) ||
        (open && !file_inside_root(f, root, hp)))
        return BW_EIO;
    if (f->ffd >= 0) {
        unsigned flags = FAN_MARK_ADD | FAN_MARK_ONLYDIR | (follow ? 0 : FAN_MARK_DONT_FOLLOW);

        fhlen = file_fh_of(hp, follow, fh);
        if (fhlen) {
            key = file_key_fh(fh, fhlen);
            w = file_find(f, key, FW_FANOTIFY, -1, fh, fhlen);
            if (!w && f->nwatches < FILE_WATCH_MAX &&
                fanotify_mark(f->ffd, flags, file_fan_mask(f) | (open ? FAN_OPEN : 0), AT_FDCWD,
                              hp) == 0)
                kind = FW_FANOTIFY;
        }
    }
    if (!w && !kind && f->ifd < 0 && f->ffd >= 0)  /* fanotify cannot watch it */
        f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (!w && !kind && f->ifd >= 0) {
        if (f->nwatches >= FILE_WATCH_MAX)
            return BW_ETOOBIG;
        wd = inotify_add_watch(f->ifd, hp, FILE_IN_MASK | (follow ? 0 : IN_DONT_FOLLOW));
        if (wd < 0)
            return BW_EIO;
        key = file_key_wd(wd);
        w = file_find(f, key, FW_INOTIFY, wd, NULL, 0);
        if (!w)
            kind = FW_INOTIFY;
    }
    if (w) {  /* already watched: a link or a bind mount */
        if (open)
            file_watch_opens(f, w, hp, follow);
        return 0;
    }
    if (!kind)
        return f->nwatches >= FILE_WATCH_MAX ? BW_ETOOBIG : BW_EIO;
    w = file_watch_slot(f);
    if (!w)
        return BW_ETOOBIG;
    w->path = strdup(path);
    if (kind == FW_FANOTIFY && w->path && (w->fh = malloc(fhlen)))
        memcpy(w->fh, fh, fhlen);
    if (!w->path || (kind == FW_FANOTIFY && !w->fh)) {
        free(w->path);
        w->path = NULL;
        if (kind == FW_INOTIFY)
            inotify_rm_watch(f->ifd, wd);
        return BW_EIO;
    }
    w->kind = (uint8_t)kind;
    w->open = open && kind == FW_FANOTIFY;
    w->root = root;
    w->depth = depth;
    w->wd = wd;
    w->fhlen = (uint16_t)fhlen;
    w->key = key;
    file_hash_insert(f, (uint32_t)(w - f->watches));
    f->nwatches++;
    return 1;
}

/* ------------------------------------------------------------- the walk */

static void file_job_push(struct file_col *f, uint16_t root, const char *path, uint8_t depth,
                          bool follow, bool open)
{
    struct file_job *j;

    if (f->jtail - f->jhead >= FILE_WATCH_MAX)
        return;  /* more pending directories than could ever be watched */
    j = &f->jobs[f->jtail % FILE_WATCH_MAX];
    j->path = strdup(path);
    if (!j->path)
        return;
    j->root = root;
    j->depth = depth;
    j->follow = follow;
    j->open = open;
    f->jtail++;
}

/* Watches the queued directories and their subdirectories, breadth-first
 * (so with many roots every one gets its top levels first). */
static void file_walk(struct file_col *f)
{
    while (f->jhead != f->jtail) {
        struct file_job job = f->jobs[f->jhead++ % FILE_WATCH_MAX];
        char hp[PATH_MAX], sub[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int rc = file_watch_add(f, job.root, job.path, job.depth, job.follow, job.open);

        if (rc == BW_ETOOBIG && !f->limit_logged) {
            log_msg(LOG_WARN, "file", "watch limit of %u directories reached at '%s%s': "
                    "deeper or later directories are not watched", FILE_WATCH_MAX,
                    f->roots[job.root].host, job.path);
            f->limit_logged = true;
        }
        if (rc < 0 || job.depth >= FILE_DEPTH_MAX ||
            snprintf(hp, sizeof hp, "%s%s", f->roots[job.root].host, job.path) >= (int)sizeof hp ||
            !(d = opendir(hp))) {
            free(job.path);
            continue;
        }
        while ((de = readdir(d)) != NULL) {
            struct stat st;

            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (de->d_type == DT_UNKNOWN) {
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                    !S_ISDIR(st.st_mode))
                    continue;
            } else if (de->d_type != DT_DIR) {
                continue;
            }
            if (file_join(sub, sizeof sub, job.path, de->d_name))
                file_job_push(f, job.root, sub, (uint8_t)(job.depth + 1), false, job.open);
        }
        closedir(d);
        free(job.path);
    }
}

/* The root of host path `host`, added (and its paths queued) if new. */
static int file_root_get(struct file_col *f, const char *host, const char *runtime,
                         const char *id)
{
    struct file_root *r;
    size_t i;

    for (i = 0; i < f->nroots; i++)
        if (f->roots[i].host && !strcmp(f->roots[i].host, host)) {
            f->roots[i].gen = f->gen;
            return (int)i;
        }
    for (i = 0; i < f->nroots; i++)
        if (!f->roots[i].host)
            break;
    if (i == FILE_ROOTS_MAX)
        return BW_ETOOBIG;
    r = &f->roots[i];
    r->host = strdup(host);
    r->runtime = runtime ? strdup(runtime) : NULL;
    r->id = id ? strdup(id) : NULL;
    if (!r->host || (runtime && !r->runtime) || (id && !r->id)) {
        free(r->host);
        free(r->runtime);
        free(r->id);
        memset(r, 0, sizeof *r);
        return BW_ENOMEM;
    }
    r->gen = f->gen;
    if (i == f->nroots)
        f->nroots++;
    for (size_t p = 0; p < f->npaths; p++)  /* follow links only on the host */
        file_job_push(f, (uint16_t)i, f->paths[p], 0, runtime == NULL, false);
    for (size_t p = 0; f->ffd >= 0 && p < sizeof FILE_OPEN_PATHS / sizeof *FILE_OPEN_PATHS; p++)
        file_job_push(f, (uint16_t)i, FILE_OPEN_PATHS[p], 0, runtime == NULL, true);
    return (int)i;
}

/* Reads a small file's first line into out (NUL-terminated, no newline). */
static bool file_read_line(const char *path, char *out, size_t n)
{
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    if (fd < 0)
        return false;
    r = read(fd, out, n - 1);
    close(fd);
    if (r <= 0)
        return false;
    out[r] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] != '\0';
}

static bool file_is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool file_safe_name(const char *s)
{
    return s[0] != '.' && !strchr(s, '/') && strlen(s) <= 128;
}

/* containerd: /run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/rootfs */
static void file_find_containerd(struct file_col *f)
{
    char base[PATH_MAX], nsdir[PATH_MAX], rootfs[PATH_MAX];
    struct dirent *ns, *ct;
    DIR *d, *e;

    snprintf(base, sizeof base, "%s" CT_CONTAINERD_TASKS, f->host_root);
    if (!(d = opendir(base)))
        return;
    while ((ns = readdir(d)) != NULL) {
        if (!file_safe_name(ns->d_name) || !file_join(nsdir, sizeof nsdir, base, ns->d_name) ||
            !(e = opendir(nsdir)))
            continue;
        while ((ct = readdir(e)) != NULL) {
            if (!file_safe_name(ct->d_name) ||
                snprintf(rootfs, sizeof rootfs, "%s/%s/rootfs", nsdir, ct->d_name) >=
                    (int)sizeof rootfs ||
                !file_is_dir(rootfs))
                continue;
            file_root_get(f, rootfs, strcmp(ns->d_name, "moby") ? "containerd" : "docker",
                          ct->d_name);
        }
        closedir(e);
    }
    closedir(d);
}

/* Docker overlay2: the mounts in layerdb name each container's mount id. */
static void file_find_docker(struct file_col *f)
{
    char base[PATH_MAX], p[PATH_MAX], mid[160], merged[PATH_MAX];
    struct dirent *de;
    DIR *d;

    snprintf(base, sizeof base, "%s" CT_DOCKER_MOUNTS, f->host_root);
    if (!(d = opendir(base)))
        return;
    while ((de = readdir(d)) != NULL) {
        if (!file_safe_name(de->d_name) ||
            snprintf(p, sizeof p, "%s/%s/mount-id", base, de->d_name) >= (int)sizeof p ||
            !file_read_line(p, mid, sizeof mid) || !file_safe_name(mid) ||
            snprintf(merged, sizeof merged, "%s" CT_DOCKER_OVERLAY "/%s/merged", f->host_root,
                     mid) >= (int)sizeof merged ||
            !file_is_dir(merged))
            continue;
        file_root_get(f, merged, "docker", de->d_name);
    }
    closedir(d);
}

/* CRI-O and Podman (containers/storage): containers.json maps ids to
 * layers; CRI-O's entries carry pod metadata. */
static void file_find_storage(struct file_col *f)
{
    char p[PATH_MAX], merged[PATH_MAX];
    json_error_t jerr;
    const json_t *c;
    json_t *arr;
    size_t i;

    snprintf(p, sizeof p, "%s" CT_STORAGE_LIB "/containers.json",
             f->host_root);
    arr = json_load_file(p, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!arr)
        return;
    json_array_foreach(arr, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *layer = json_string_value(json_object_get(c, "layer"));
        const char *meta = json_string_value(json_object_get(c, "metadata"));

        if (i >= FILE_ROOTS_MAX)
            break;
        if (!id || !layer || !file_safe_name(id) || !file_safe_name(layer) ||
            snprintf(merged, sizeof merged, "%s" CT_STORAGE_OVERLAY "/%s/merged",
                     f->host_root, layer) >= (int)sizeof merged ||
            !file_is_dir(merged))
            continue;
        file_root_get(f, merged, meta && strstr(meta, "\"pod-id\"") ? "cri-o" : "podman", id);
    }
    json_decref(arr);
}

/* Finds the roots (host and running containers), drops vanished ones and
 * watches what is new. */
static void file_rescan(struct file_col *f)
{
    f->gen++;
    file_root_get(f, f->host_root, NULL, NULL);
    file_find_containerd(f);
    file_find_docker(f);
    file_find_storage(f);
    for (size_t i = 1; i < f->nroots; i++) {
        struct file_root *r = &f->roots[i];

        if (!r->host || r->gen == f->gen)
            continue;
        file_drop_tree(f, (uint16_t)i, "", true);
        free(r->host);
        free(r->runtime);
        free(r->id);
        memset(r, 0, sizeof *r);
    }
    file_walk(f);
}

/* ----------------------------------------------------------- the events */

/* The writing process as fully as the proc collector reports it (command
 * line, user, parent, start time); if it is already gone, what its pid and
 * /proc still give. */
static void file_process(struct file_col *f, Bulwark__V1__Event *ev, int pid)
{
    Bulwark__V1__ProcessRef *p = NULL;
    const char *root = *f->host_root ? f->host_root : "/";
    char path[PATH_MAX], buf[PATH_MAX];
    ssize_t n;

    if (!f->btime_s && procfs_btime(root, &f->btime_s) < 0)
        f->btime_s = 0;
    if (procref_build(root, pid, f->env->cfg->cmdline_max ? f->env->cfg->cmdline_max : 4096,
                      f->btime_s, &f->lineage, &p, NULL) == 0) {
        ev->process = p;
        return;
    }
    p = calloc(1, sizeof *p);
    if (!p)
        return;
    bulwark__v1__process_ref__init(p);
    ev->process = p;
    p->pid = pid;
    snprintf(path, sizeof path, "%s/proc/%d/comm", f->host_root, pid);
    if (file_read_line(path, buf, 64))
        file_set(&p->name, buf);
    snprintf(path, sizeof path, "%s/proc/%d/exe", f->host_root, pid);
    n = readlink(path, buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        file_set(&p->exe, buf);
    }
}

static void file_container(struct file_col *f, Bulwark__V1__Event *ev, uint16_t root, int pid)
{
    const struct file_root *r = &f->roots[root];
    const Bulwark__V1__ContainerRef *known = NULL;
    Bulwark__V1__ContainerRef *c;

    if (f->env->containers) {
        if (r->id)
            known = containers_lookup_id(f->env->containers, r->runtime, r->id);
        else if (pid > 0)
            known = containers_lookup_pid(f->env->containers, pid);
    }
    if (known) {
        ev->container = containers_ref_dup(known);
        return;
    }
    if (!r->id)
        return;
    c = calloc(1, sizeof *c);
    if (!c)
        return;
    bulwark__v1__container_ref__init(c);
    ev->container = c;
    file_set(&c->id, r->id);
    file_set(&c->runtime, r->runtime);
}

/* Emits one file event; paths are inside the root ("" when unknown). */
static void file_emit(struct file_col *f, Bulwark__V1__FileAccess__Op op, uint16_t root,
                      const char *path, const char *new_path, int pid)
{
    Bulwark__V1__Event *ev = calloc(1, sizeof *ev);
    Bulwark__V1__FileAccess *fa = calloc(1, sizeof *fa);

    if (!ev || !fa) {
        free(ev);
        free(fa);
        return;
    }
    bulwark__v1__event__init(ev);
    bulwark__v1__file_access__init(fa);
    ev->body_case = BULWARK__V1__EVENT__BODY_FILE;
    ev->file = fa;
    ev->time_ns = evb_now_ns();
    ev->severity = op == BULWARK__V1__FILE_ACCESS__OP__CHMOD ? BULWARK__V1__SEVERITY__SEVERITY_INFO
                                                             : BULWARK__V1__SEVERITY__SEVERITY_NOTICE;
    fa->op = op;
    if (file_set(&fa->path, path) < 0 || file_set(&fa->new_path, new_path) < 0) {
        evjson_event_free(ev);
        return;
    }
    if (pid > 0)
        file_process(f, ev, pid);
    file_container(f, ev, root, pid);
    if (pid > 0 && execattr_name_user(&f->users, *f->host_root ? f->host_root : "/", pid, ev) < 0) {
        evjson_event_free(ev);
        return;
    }
    if (f->env->emit(f->env->emit_ctx, ev) == 0)
        f->base.events++;
}

static uint64_t file_path_key(uint16_t root, const char *path)
{
    /* the root mixed in after the hash: the same path under two roots differs */
    return bw_hash(path, strlen(path)) ^ ((uint64_t)root + 1) * 0x9e3779b97f4a7c15ULL;
}

/* Write coalescing: true when (path, pid) is already dirty. */
static bool file_dirty_test_set(struct file_col *f, uint64_t key, int pid)
{
    struct file_dirty *oldest = &f->dirty[0];

    for (size_t i = 0; i < FILE_DIRTY_MAX; i++) {
        struct file_dirty *d = &f->dirty[i];

        if (d->key == key && d->pid == pid && d->age)
            return true;
        if (d->age < oldest->age)
            oldest = d;
    }
    oldest->key = key;
    oldest->pid = pid;
    oldest->age = ++f->dirty_clock;
    return false;
}

static void file_dirty_clear(struct file_col *f, uint64_t key, int pid)
{
    for (size_t i = 0; i < FILE_DIRTY_MAX; i++)
        if (f->dirty[i].key == key && (pid <= 0 || f->dirty[i].pid == pid))
            f->dirty[i].age = 0;
}

/* One change of `name` in watched directory w. mask uses inotify's bits. */
static void file_change(struct file_col *f, const struct file_watch *w, const char *name,
                        uint32_t mask, int pid)
{
    char path[PATH_MAX];
    uint16_t root = w->root;
    uint64_t key;

    if (!file_join(path, sizeof path, w->path, name))
        return;
    key = file_path_key(root, path);
    if (mask & IN_CREATE) {
        file_emit(f, BULWARK__V1__FILE_ACCESS__OP__CREATE, root, path, NULL, pid);
        if (mask & IN_ISDIR) {
            if (w->depth < FILE_DEPTH_MAX) {
                file_job_push(f, root, path, (uint8_t)(w->depth + 1), false, w->open);
                file_walk(f);
            }
        } else {
            file_dirty_test_set(f, key, pid);  /* its first writes are the create */
        }
    }
    if ((mask & IN_MODIFY) && !file_dirty_test_set(f, key, pid))
        file_emit(f, BULWARK__V1__FILE_ACCESS__OP__WRITE, root, path, NULL, pid);
    if (mask & IN_ATTRIB)
        file_emit(f, BULWARK__V1__FILE_ACCESS__OP__CHMOD, root, path, NULL, pid);
    if (mask & IN_CLOSE_WRITE)
        file_dirty_clear(f, key, pid);
    if (mask & IN_DELETE) {
        file_dirty_clear(f, key, 0);
        file_emit(f, BULWARK__V1__FILE_ACCESS__OP__DELETE, root, path, NULL, pid);
        if (mask & IN_ISDIR)
            file_drop_tree(f, root, path, false);
    }
}

/* A rename from (root a, path from) to (root b, path to); either may be
 * unknown (NULL: outside the watched directories). */
static void file_renamed(struct file_col *f, int ra, const char *from, int rb, const char *to,
                         bool isdir, const struct file_watch *wto, int pid)
{
    bool rewalk = to && isdir && wto && wto->depth < FILE_DEPTH_MAX;

    /* the kernel keeps watching a moved directory's inodes: forget the old
     * paths, and let the walk of the new place find the same watches */
    if (from && isdir)
        file_drop_tree(f, (uint16_t)ra, from, !rewalk);
    file_emit(f, BULWARK__V1__FILE_ACCESS__OP__RENAME, (uint16_t)(to ? rb : ra), from ? from : "",
              to ? to : "", pid);
    if (rewalk) {
        file_job_push(f, (uint16_t)rb, to, (uint8_t)(wto->depth + 1), false, wto->open);
        file_walk(f);
    }
}

static void file_moves_flush(struct file_col *f)
{
    for (size_t i = 0; i < f->nmoves; i++) {
        file_renamed(f, f->moves[i].root, f->moves[i].path, -1, NULL, f->moves[i].isdir, NULL, 0);
        free(f->moves[i].path);
    }
    f->nmoves = 0;
}

static void file_overflow(struct file_col *f, const char *what)
{
    f->base.errors++;
    if (!f->overflow_logged)
        log_msg(LOG_WARN, "file", "%s event queue overflowed: some file changes were lost "
                "(further overflows are counted, not logged)", what);
    f->overflow_logged = true;
}

static void file_inotify_event(struct file_col *f, const struct inotify_event *ie)
{
    struct file_watch *w;
    char path[PATH_MAX];

    if (ie->mask & IN_Q_OVERFLOW) {
        file_overflow(f, "inotify");
        return;
    }
    w = file_find(f, file_key_wd(ie->wd), FW_INOTIFY, ie->wd, NULL, 0);
    if (!w)
        return;
    if (ie->mask & IN_IGNORED) {  /* the directory is gone (or unwatched) */
        file_watch_drop(f, w, false);
        return;
    }
    if (ie->len == 0 || !ie->name[0])
        return;  /* about the directory itself: its parent reports it */
    if (ie->mask & IN_MOVED_FROM) {
        struct file_move *m;

        if (f->nmoves == FILE_MOVES_MAX)
            file_moves_flush(f);
        m = &f->moves[f->nmoves];
        if (!file_join(path, sizeof path, w->path, ie->name) || !(m->path = strdup(path)))
            return;
        m->cookie = ie->cookie;
        m->root = w->root;
        m->isdir = (ie->mask & IN_ISDIR) != 0;
        f->nmoves++;
        return;
    }
    if (ie->mask & IN_MOVED_TO) {
        if (!file_join(path, sizeof path, w->path, ie->name))
            return;
        for (size_t i = 0; i < f->nmoves; i++) {
            struct file_move m = f->moves[i];

            if (m.cookie != ie->cookie)
                continue;
            f->moves[i] = f->moves[--f->nmoves];
            file_renamed(f, m.root, m.path, w->root, path, m.isdir, w, 0);
            free(m.path);
            return;
        }
        file_renamed(f, -1, NULL, w->root, path, (ie->mask & IN_ISDIR) != 0, w, 0);
        return;
    }
    file_change(f, w, ie->name, ie->mask, 0);
}

static void file_inotify_drain(struct file_col *f)
{
    unsigned reads = 0;
    ssize_t r = -1;

    while (reads++ < FILE_READS_MAX && (r = read(f->ifd, f->rbuf, FILE_READ_BUF)) > 0) {
        for (char *p = f->rbuf; p + sizeof(struct inotify_event) <= f->rbuf + r;) {
            const struct inotify_event *ie = (const struct inotify_event *)p;

            file_inotify_event(f, ie);
            p += sizeof *ie + ie->len;
        }
    }
    if (r < 0)  /* drained: a MOVED_FROM still alone was moved out of sight */
        file_moves_flush(f);
}

/* The watch of a fanotify dir-fid record (fsid, file handle, name) and the
 * name after it. Records are only 4-byte aligned: read with memcpy. */
static struct file_watch *file_fan_dir(struct file_col *f, const char *rec, size_t len,
                                       const char **name)
{
    const size_t fsid_off = offsetof(struct fanotify_event_info_fid, fsid);
    const size_t fh_off = offsetof(struct fanotify_event_info_fid, handle);
    const size_t hdr = fh_off + offsetof(struct file_handle, f_handle);
    unsigned char key[FILE_FH_MAX];
    uint32_t hbytes;
    int32_t htype;
    size_t n;

    *name = NULL;
    if (len < hdr)
        return NULL;
    memcpy(&hbytes, rec + fh_off + offsetof(struct file_handle, handle_bytes), sizeof hbytes);
    memcpy(&htype, rec + fh_off + offsetof(struct file_handle, handle_type), sizeof htype);
    if (hbytes > 128 || len < hdr + hbytes)
        return NULL;
    n = 12 + hbytes;
    memcpy(key, rec + fsid_off, 8);
    memcpy(key + 8, &htype, 4);
    memcpy(key + 12, rec + hdr, hbytes);
    if (len > hdr + hbytes && memchr(rec + hdr + hbytes, '\0', len - hdr - hbytes))
        *name = rec + hdr + hbytes;
    return file_find(f, file_key_fh(key, n), FW_FANOTIFY, -1, key, n);
}

/* One event: m is a copy of its metadata, raw the event in the buffer. */
static void file_fan_event(struct file_col *f, const struct fanotify_event_metadata *m,
                           const char *raw)
{
    const struct file_watch *w = NULL, *wold = NULL, *wnew = NULL;
    const char *name = NULL, *oldname = NULL, *newname = NULL;
    const char *p = raw + m->metadata_len, *end = raw + m->event_len;
    uint32_t mask = 0;

    if (m->mask & FAN_Q_OVERFLOW) {
        file_overflow(f, "fanotify");
        return;
    }
    if (m->pid == f->self)
        return;
    while (p + sizeof(struct fanotify_event_info_header) <= end) {
        struct fanotify_event_info_header h;

        memcpy(&h, p, sizeof h);
        if (h.len < sizeof h || h.len > end - p)
            break;
        if (h.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME)
            w = file_fan_dir(f, p, h.len, &name);
        else if (h.info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME)
            wold = file_fan_dir(f, p, h.len, &oldname);
        else if (h.info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
            wnew = file_fan_dir(f, p, h.len, &newname);
        p += h.len;
    }
    if (m->mask & FAN_RENAME) {
        char from[PATH_MAX], to[PATH_MAX];
        bool hf = wold && oldname && file_join(from, sizeof from, wold->path, oldname);
        bool ht = wnew && newname && file_join(to, sizeof to, wnew->path, newname);

        if (hf || ht)
            file_renamed(f, hf ? wold->root : -1, hf ? from : NULL, ht ? wnew->root : -1,
                         ht ? to : NULL, (m->mask & FAN_ONDIR) != 0, wnew, m->pid);
    }
    if (!w || !name || !strcmp(name, "."))
        return;
    if (m->mask & FAN_MOVED_FROM) {  /* kernels without FAN_RENAME: no pairing */
        char from[PATH_MAX];

        if (file_join(from, sizeof from, w->path, name))
            file_renamed(f, w->root, from, -1, NULL, (m->mask & FAN_ONDIR) != 0, NULL, m->pid);
    }
    mask |= m->mask & FAN_CREATE ? IN_CREATE : 0;
    mask |= m->mask & FAN_MODIFY ? IN_MODIFY : 0;
    mask |= m->mask & FAN_ATTRIB ? IN_ATTRIB : 0;
    mask |= m->mask & FAN_CLOSE_WRITE ? IN_CLOSE_WRITE : 0;
    mask |= m->mask & FAN_DELETE ? IN_DELETE : 0;
    mask |= m->mask & FAN_ONDIR ? IN_ISDIR : 0;
    if (m->mask & FAN_MOVED_TO) {
        char to[PATH_MAX];

        if (file_join(to, sizeof to, w->path, name))
            file_renamed(f, -1, NULL, w->root, to, (m->mask & FAN_ONDIR) != 0, w, m->pid);
    }
    if (mask & ~IN_ISDIR)
        file_change(f, w, name, mask, m->pid);
    if ((m->mask & FAN_OPEN) && !(m->mask & FAN_ONDIR) && w->open) {  /* a credential read */
        char path[PATH_MAX];

        if (file_join(path, sizeof path, w->path, name))
            file_emit(f, BULWARK__V1__FILE_ACCESS__OP__OPEN, w->root, path, NULL, m->pid);
    }
}

static void file_fan_drain(struct file_col *f)
{
    unsigned reads = 0;
    ssize_t r;

    while (reads++ < FILE_READS_MAX && (r = read(f->ffd, f->rbuf, FILE_READ_BUF)) > 0) {
        struct fanotify_event_metadata m;

        for (size_t off = 0; off + sizeof m <= (size_t)r; off += m.event_len) {
            memcpy(&m, f->rbuf + off, sizeof m);  /* events are not 8-byte aligned */
            if (m.event_len < sizeof m || m.event_len > (size_t)r - off ||
                m.vers != FANOTIFY_METADATA_VERSION || m.metadata_len < sizeof m)
                break;
            if (m.fd >= 0)
                close(m.fd);
            file_fan_event(f, &m, f->rbuf + off);
        }
    }
}

/* -------------------------------------------------------------- the loop */

static int file_scan(struct collector *c)
{
    struct file_col *f = (struct file_col *)c;
    uint64_t before = f->base.events;

    if (!f->started)
        return 0;  /* one-shot mode: file activity has no snapshot */
    if (f->ffd >= 0)
        file_fan_drain(f);
    if (f->ifd >= 0)
        file_inotify_drain(f);
    file_rescan(f);
    return (int)(f->base.events - before);
}

static void on_file_inotify(uv_poll_t *h, int status, int events)
{
    file_inotify_drain(h->data);
}

static void on_file_fanotify(uv_poll_t *h, int status, int events)
{
    file_fan_drain(h->data);
}

static void on_file_timer(uv_timer_t *h)
{
    struct file_col *f = h->data;

    file_rescan(f);
    /* fanotify may have fallen back to inotify for a new container root */
    if (f->ifd >= 0 && !f->ipoll_init && uv_poll_init(f->env->loop, &f->ipoll, f->ifd) == 0) {
        f->ipoll.data = f;
        f->ipoll_init = true;
        uv_poll_start(&f->ipoll, UV_READABLE, on_file_inotify);
    }
}

static int file_start(struct collector *c)
{
    struct file_col *f = (struct file_col *)c;

    if (f->mode != FILE_MODE_INOTIFY) {
        /* FAN_UNLIMITED_MARKS (we bound marks ourselves) needs CAP_SYS_ADMIN:
         * without it (Linux >= 5.13 lets anyone use fanotify) events carry
         * no pid, so "auto" prefers inotify */
        unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME;

        f->ffd = fanotify_init(flags | FAN_UNLIMITED_MARKS, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
        if (f->ffd < 0 && f->mode == FILE_MODE_FANOTIFY)
            f->ffd = fanotify_init(flags, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
        if (f->ffd < 0 && f->mode == FILE_MODE_FANOTIFY) {
            log_msg(LOG_ERROR, "file", "fanotify unavailable: %s", strerror(errno));
            return BW_EIO;
        }
    }
    if (f->ffd >= 0) {
        /* FAN_RENAME (Linux 5.17) pairs renames; probe it on host_root */
        f->fan_rename = fanotify_mark(f->ffd, FAN_MARK_ADD | FAN_MARK_ONLYDIR, FAN_RENAME,
                                      AT_FDCWD, *f->host_root ? f->host_root : "/") == 0;
        if (f->fan_rename)
            fanotify_mark(f->ffd, FAN_MARK_REMOVE | FAN_MARK_ONLYDIR, FAN_RENAME, AT_FDCWD,
                          *f->host_root ? f->host_root : "/");
    } else {
        f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (f->ifd < 0) {
            log_msg(LOG_ERROR, "file", "inotify unavailable: %s", strerror(errno));
            return BW_EIO;
        }
    }
    f->started = true;
    file_rescan(f);
    log_msg(LOG_INFO, "file", "watching %zu directories in %zu roots with %s", f->nwatches,
            f->nroots, f->ffd >= 0 ? "fanotify (with process)" : "inotify (no process)");
    if (!f->env->loop)
        return 0;
    if (f->ffd >= 0 && uv_poll_init(f->env->loop, &f->fpoll, f->ffd) == 0) {
        f->fpoll.data = f;
        f->fpoll_init = true;
        uv_poll_start(&f->fpoll, UV_READABLE, on_file_fanotify);
    }
    if (f->ifd >= 0 && uv_poll_init(f->env->loop, &f->ipoll, f->ifd) == 0) {
        f->ipoll.data = f;
        f->ipoll_init = true;
        uv_poll_start(&f->ipoll, UV_READABLE, on_file_inotify);
    }
    uv_timer_init(f->env->loop, &f->timer);
    f->timer.data = f;
    f->timer_init = true;
    uv_timer_start(&f->timer, on_file_timer, FILE_RESCAN_MS, FILE_RESCAN_MS);
    return 0;
}

static void on_file_closed(uv_handle_t *h)
{
    struct file_col *f = h->data;

    if (--f->closing == 0 && f->done)
        f->done(f->done_arg);
}

static void file_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    struct file_col *f = (struct file_col *)c;
    uv_handle_t *hs[3] = {f->ipoll_init ? (uv_handle_t *)&f->ipoll : NULL,
                          f->fpoll_init ? (uv_handle_t *)&f->fpoll : NULL,
                          f->timer_init ? (uv_handle_t *)&f->timer : NULL};

    f->done = done;
    f->done_arg = arg;
    f->closing++;
    f->ipoll_init = f->fpoll_init = f->timer_init = false;
    for (size_t i = 0; i < 3; i++) {
        if (!hs[i])
            continue;
        if (hs[i]->type == UV_POLL)
            uv_poll_stop((uv_poll_t *)hs[i]);
        f->closing++;
        uv_close(hs[i], on_file_closed);
    }
    f->started = false;
    if (--f->closing == 0 && done)
        done(arg);
}

static void file_destroy(struct collector *c)
{
    struct file_col *f = (struct file_col *)c;

    for (size_t i = 0; f->watches && i < FILE_WATCH_MAX; i++) {
        free(f->watches[i].path);
        free(f->watches[i].fh);
    }
    for (size_t i = 0; i < f->nroots; i++) {
        free(f->roots[i].host);
        free(f->roots[i].runtime);
        free(f->roots[i].id);
    }
    for (size_t i = 0; i < f->nmoves; i++)
        free(f->moves[i].path);
    while (f->jobs && f->jhead != f->jtail)
        free(f->jobs[f->jhead++ % FILE_WATCH_MAX].path);
    for (size_t i = 0; i < f->npaths; i++)
        free(f->paths[i]);
    procref_lineage_release(&f->lineage);
    execattr_users_release(&f->users);
    if (f->ifd >= 0)
        close(f->ifd);
    if (f->ffd >= 0)
        close(f->ffd);
    free(f->watches);
    free(f->hash);
    free(f->jobs);
    free(f->rbuf);
    free(f->host_root);
    free(f);
}

/* Splits the comma-separated list into absolute paths without trailing
 * slashes. Paths with ".." or not absolute are skipped with a warning. */
static int file_parse_paths(struct file_col *f, const char *list)
{
    const char *p = list && *list ? list : FILE_PATHS_DEFAULT;

    while (*p && f->npaths < FILE_PATHS_MAX) {
        size_t n = strcspn(p, ",");
        const char *s = p;

        p += n + (p[n] == ',');
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || (n > 1 && s[n - 1] == '/')))
            n--;
        if (!n)
            continue;
        if (s[0] != '/' || memmem(s, n, "..", 2)) {
            log_msg(LOG_WARN, "file", "ignoring file path '%.*s': not a plain absolute path",
                    (int)n, s);
            continue;
        }
        f->paths[f->npaths] = strndup(s, n);
        if (!f->paths[f->npaths])
            return BW_ENOMEM;
        f->npaths++;
    }
    return 0;
}

struct collector *collector_file_new_mode(const struct collector_env *env, int mode)
{
    struct file_col *f = calloc(1, sizeof *f);
    const char *hr = env->cfg->host_root && *env->cfg->host_root ? env->cfg->host_root : "/";
    size_t n = strlen(hr);

    if (!f)
        return NULL;
    f->base.name = "file";
    f->base.start = file_start;
    f->base.scan = file_scan;
    f->base.stop = file_stop;
    f->base.destroy = file_destroy;
    f->env = env;
    f->mode = mode;
    f->ifd = f->ffd = -1;
    f->self = getpid();
    while (n > 0 && hr[n - 1] == '/')
        n--;
    f->host_root = strndup(hr, n);
    f->watches = calloc(FILE_WATCH_MAX, sizeof *f->watches);
    f->hash = calloc(FILE_HASH_SIZE, sizeof *f->hash);
    f->jobs = calloc(FILE_WATCH_MAX, sizeof *f->jobs);
    f->rbuf = malloc(FILE_READ_BUF);
    if (!f->host_root || !f->watches || !f->hash || !f->jobs || !f->rbuf ||
        file_parse_paths(f, env->cfg->file_paths) < 0) {
        file_destroy(&f->base);
        return NULL;
    }
    return &f->base;
}

struct collector *collector_file_new(const struct collector_env *env)
{
    return collector_file_new_mode(env, env->cfg->file_mode);
}
