/* config.c - the container config collector: when a container appears in a
 * runtime's state directory, one config event from its OCI runtime
 * config.json.
 *
 * Every scan_interval_ms (and on scan()) it lists, below host_root:
 *   containerd  /run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/config.json
 *               (namespace "moby" is Docker's)
 *   docker      /run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/<id>/config.json
 *               and the v1 shim's .../io.containerd.runtime.v1.linux/moby/<id>/config.json
 *   cri-o       /run/containers/storage/overlay-containers/<id>/userdata/config.json
 *   podman      /var/lib/containers/storage/overlay-containers/<id>/userdata/config.json
 *               (a "libpod" / "cri-o" annotation settles which of the last two owns it)
 * A container is reported once, when first seen (the first pass reports the
 * containers already there); one that disappears is forgotten, so a new
 * container with the same id is reported again.
 *
 * Reported: privileged (Docker's hostconfig.json Privileged, the
 * io.kubernetes.cri-o.Privileged annotation, or the shape of a privileged
 * spec: every capability, no seccomp, and no masked paths or all devices
 * allowed), process.user.uid, capabilities of the bounding set beyond the
 * runtime's default set, host network/PID/IPC (no namespace entry of that
 * type, or a path to the host's own namespace), mounts, root.readonly,
 * noNewPrivileges, seccomp ("unconfined" when absent, the profile named by
 * an annotation or "present") and AppArmor ("unconfined" when absent), image
 * reference and digest (in the container reference), and environment
 * variable NAMES: each "NAME=value" is cut at '=' and the value is never
 * copied. A field of an unexpected type is counted in errors and skipped;
 * a file that is not a JSON object is counted, logged once and skipped. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulwark/collector.h"
#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/log.h"
#include "bulwark/procfs.h"

#define CFG_ID_MAX 128
#define CFG_MAX_CONTAINERS 16384
#define CFG_LIST_MAX 256          /* evjson's bound on lists */

struct cfg_seen {
    char id[CFG_ID_MAX + 1];
};

struct cfg_col {
    struct collector base;
    const struct collector_env *env;
    struct collector_ticker ticker;
    struct cfg_seen *known;
    size_t nknown;
    bool logged_full;
};

/* A layout: dir holds one entry per container (or per namespace, then
 * container, when ns is set); file is the config below it. */
static const struct layout {
    const char *dir;
    bool ns;
    const char *file;
    const char *runtime;
} layouts[] = {
    {CT_CONTAINERD_TASKS, true, "config.json", "containerd"},
    {CT_CONTAINERD_TASKS_V1, true, "config.json", "containerd"},
    {CT_DOCKER_TASKS, false, "config.json", "docker"},
    {CT_DOCKER_TASKS_V1, false, "config.json", "docker"},
    {CT_STORAGE_RUN, false, "userdata/config.json", "cri-o"},
    {CT_STORAGE_LIB, false, "userdata/config.json", "podman"},
};

static const char *const caps_docker[] = {
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE", NULL};
static const char *const caps_crio[] = {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "SETGID",
                                        "SETUID", "SETPCAP", "NET_BIND_SERVICE", "KILL", NULL};
static const char *const caps_podman[] = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID",
                                          "KILL", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
                                          "SETPCAP", "SETUID", "SYS_CHROOT", NULL};

static int seen_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cfg_seen *)a)->id, ((const struct cfg_seen *)b)->id);
}

/* ------------------------------------------------------------- parsing */

struct parse {
    const char *root;
    const char *runtime;
    const char *id;
    unsigned odd;        /* fields of an unexpected type */
    bool oom;
};

/* obj[key] if it has type t; NULL if absent or null; counts other types. */
static const json_t *get(struct parse *p, const json_t *obj, const char *key, json_type t)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (!v || json_is_null(v))
        return NULL;
    if (t == JSON_TRUE ? !json_is_boolean(v) : json_typeof(v) != t) {
        p->odd++;
        return NULL;
    }
    return v;
}

static bool get_bool(struct parse *p, const json_t *obj, const char *key)
{
    const json_t *v = get(p, obj, key, JSON_TRUE);

    return v && json_is_true(v);
}

static const char *get_str(struct parse *p, const json_t *obj, const char *key)
{
    const json_t *v = get(p, obj, key, JSON_STRING);

    return v ? json_string_value(v) : NULL;
}

/* Appends a bounded copy of s[0..n) to a string list (at most CFG_LIST_MAX). */
static void list_add(struct parse *p, char ***arr, size_t *n, const char *s, size_t len)
{
    char *d;

    if (*n >= CFG_LIST_MAX)
        return;
    if (!*arr && !(*arr = calloc(CFG_LIST_MAX, sizeof **arr))) {
        p->oom = true;
        return;
    }
    if (len > EVB_STR_MAX)
        len = EVB_STR_MAX;
    d = malloc(len + 1);
    if (!d) {
        p->oom = true;
        return;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    (*arr)[(*n)++] = d;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static const char *const *default_caps(const char *runtime)
{
    if (strcmp(runtime, "cri-o") == 0)
        return caps_crio;
    if (strcmp(runtime, "podman") == 0)
        return caps_podman;
    return caps_docker;
}

/* Capabilities beyond the runtime's default. */
static void parse_caps(struct parse *p, const json_t *process, Bulwark__V1__ContainerConfig *c)
{
    const json_t *caps = get(p, process, "capabilities", JSON_OBJECT);
    const json_t *bounding = get(p, caps, "bounding", JSON_ARRAY), *v;
    const char *const *defaults = default_caps(p->runtime);
    size_t i;

    json_array_foreach(bounding, i, v) {
        const char *name = json_string_value(v);

        if (!name) {
            p->odd++;
            continue;
        }
        if (strncmp(name, "CAP_", 4) == 0)
            name += 4;
        if (!in_list(defaults, name))
            list_add(p, &c->cap_add, &c->n_cap_add, name, strlen(name));
    }
}

/* Environment variable names only: the value after '=' is never copied. */
static void parse_env(struct parse *p, const json_t *process, Bulwark__V1__ContainerConfig *c)
{
    const json_t *env = get(p, process, "env", JSON_ARRAY), *v;
    size_t i;

    json_array_foreach(env, i, v) {
        const char *kv = json_string_value(v);

        if (!kv) {
            p->odd++;
            continue;
        }
        list_add(p, &c->env_names, &c->n_env_names, kv, strcspn(kv, "="));
    }
}

static void parse_mounts(struct parse *p, const json_t *spec, Bulwark__V1__ContainerConfig *c)
{
    const json_t *mounts = get(p, spec, "mounts", JSON_ARRAY), *m;
    size_t i;

    json_array_foreach(mounts, i, m) {
        const json_t *opts, *o;
        Bulwark__V1__Mount *mt;
        size_t j;

        if (!json_is_object(m)) {
            p->odd++;
            continue;
        }
        if (c->n_mounts >= CFG_LIST_MAX)
            break;
        if (!c->mounts && !(c->mounts = calloc(CFG_LIST_MAX, sizeof *c->mounts))) {
            p->oom = true;
            return;
        }
        mt = evb_msg_new(&bulwark__v1__mount__descriptor);
        if (!mt) {
            p->oom = true;
            return;
        }
        c->mounts[c->n_mounts++] = mt;
        if (evb_set_str(&mt->source, get_str(p, m, "source"), EVB_STR_MAX) < 0 ||
            evb_set_str(&mt->target, get_str(p, m, "destination"), EVB_STR_MAX) < 0 ||
            evb_set_str(&mt->type, get_str(p, m, "type"), EVB_STR_MAX) < 0) {
            p->oom = true;
            return;
        }
        opts = get(p, m, "options", JSON_ARRAY);
        json_array_foreach(opts, j, o) {
            if (!json_is_string(o))
                p->odd++;
            else if (strcmp(json_string_value(o), "ro") == 0)
                mt->read_only = true;
        }
    }
}

/* True when the spec shares the host's namespace of this type: no entry for
 * it, or an entry whose path is the host's own (root/proc/1/ns/<name>). */
static bool host_ns(struct parse *p, const json_t *nss, const char *type, const char *name)
{
    char a[PROCFS_PATH_MAX], la[128], lb[128];
    const json_t *e;
    size_t i;

    json_array_foreach(nss, i, e) {
        const char *t = get_str(p, e, "type"), *path = get_str(p, e, "path");

        if (!t || strcmp(t, type) != 0)
            continue;
        if (!path || !*path)
            return false;  /* a namespace of its own */
        if (procfs_path(a, sizeof a, p->root, "%s", path) < 0 || procfs_readlink(a, la, sizeof la) < 0 ||
            procfs_path(a, sizeof a, p->root, "/proc/1/ns/%s", name) < 0 ||
            procfs_readlink(a, lb, sizeof lb) < 0)
            return false;
        return strcmp(la, lb) == 0;
    }
    return true;
}

/* Fills c from the spec; the caller counts p->odd. */
static void parse_spec(struct parse *p, const json_t *spec, const json_t *ann,
                       Bulwark__V1__ContainerConfig *c)
{
    const json_t *process = get(p, spec, "process", JSON_OBJECT);
    const json_t *user = get(p, process, "user", JSON_OBJECT);
    const json_t *linux = get(p, spec, "linux", JSON_OBJECT);
    const json_t *nss = get(p, linux, "namespaces", JSON_ARRAY);
    const json_t *seccomp = get(p, linux, "seccomp", JSON_OBJECT);
    const json_t *uid = get(p, user, "uid", JSON_INTEGER);
    const char *aa = get_str(p, process, "apparmorProfile");
    const char *sp = get_str(p, ann, "io.kubernetes.cri-o.SeccompProfilePath");

    if (uid && json_integer_value(uid) >= 0 && json_integer_value(uid) <= UINT32_MAX) {
        c->user_uid_opt_case = BULWARK__V1__CONTAINER_CONFIG__USER_UID_OPT_USER_UID;
        c->user_uid = (uint32_t)json_integer_value(uid);
    } else if (uid)
        p->odd++;
    parse_caps(p, process, c);
    parse_env(p, process, c);
    parse_mounts(p, spec, c);
    c->no_new_privileges = get_bool(p, process, "noNewPrivileges");
    c->read_only_rootfs = get_bool(p, get(p, spec, "root", JSON_OBJECT), "readonly");
    c->host_network = host_ns(p, nss, "network", "net");
    c->host_pid = host_ns(p, nss, "pid", "pid");
    c->host_ipc = host_ns(p, nss, "ipc", "ipc");
    c->privileged = containers_spec_privileged(spec) ||
                    (strcmp(p->runtime, "docker") == 0 &&
                     containers_docker_privileged(p->root, p->id) == 1);
    if (evb_set_str(&c->seccomp_profile, !seccomp ? "unconfined" : sp && *sp ? sp : "present",
                       EVB_STR_MAX) < 0 ||
        evb_set_str(&c->apparmor_profile, aa && *aa ? aa : "unconfined", EVB_STR_MAX) < 0)
        p->oom = true;
}

/* ------------------------------------------------------------- events */

/* The container reference: the attribution cache's, else id and runtime;
 * image and digest from the annotations when the cache had none. */
static Bulwark__V1__ContainerRef *make_ref(struct cfg_col *cc, struct parse *p, const json_t *ann)
{
    const Bulwark__V1__ContainerRef *cached =
        cc->env->containers ? containers_lookup_id(cc->env->containers, p->runtime, p->id) : NULL;
    Bulwark__V1__ContainerRef *r = cached ? containers_ref_dup(cached)
                                          : evb_msg_new(&bulwark__v1__container_ref__descriptor);
    const char *img = get_str(p, ann, "io.kubernetes.cri.image-name");
    const char *dig = get_str(p, ann, "io.kubernetes.cri-o.ImageRef");

    if (!img)
        img = get_str(p, ann, "io.kubernetes.cri-o.ImageName");
    if (!dig)
        dig = get_str(p, ann, "org.opencontainers.image.digest");
    if (dig && !strstr(dig, "sha256:"))
        dig = NULL;
    if (!r)
        return NULL;
    if ((!*r->id && evb_set_str(&r->id, p->id, CFG_ID_MAX) < 0) ||
        (!*r->runtime && evb_set_str(&r->runtime, p->runtime, 16) < 0) ||
        (!*r->image && img && evb_set_str(&r->image, img, EVB_STR_MAX) < 0) ||
        (!*r->image_digest && dig && evb_set_str(&r->image_digest, strstr(dig, "sha256:"), 128) < 0)) {
        evb_msg_free(&r->base);
        return NULL;
    }
    return r;
}

/* Reads one config.json and emits its event. 1 emitted, 0 skipped. */
static int report(struct cfg_col *cc, const char *runtime, const char *id, const char *rel)
{
    const char *root = cc->env->cfg->host_root;
    char path[PROCFS_PATH_MAX];
    struct parse p = {.root = root, .runtime = runtime, .id = id};
    Bulwark__V1__ContainerConfig *c;
    Bulwark__V1__Event *ev = NULL;
    const json_t *ann;
    json_t *spec = NULL;
    int rc;

    if (procfs_path(path, sizeof path, root, "%s", rel) < 0)
        return 0;
    rc = procfs_load_json(path, PROCFS_JSON_MAX, &spec);
    if (rc == BW_ENOTFOUND)
        return 0;  /* gone meanwhile */
    if (rc == BW_ENOMEM)
        return rc;
    if (rc < 0 || !json_is_object(spec)) {
        cc->base.errors++;
        log_msg(LOG_WARN, "config", "'%s': %s, skipped", path,
                rc == BW_EINVAL || rc == 0 ? "not a JSON object"
                : rc == BW_ETOOBIG     ? "larger than the 4 MiB bound"
                                       : bw_strerror(rc));
        rc = 0;
        goto out;
    }
    ann = get(&p, spec, "annotations", JSON_OBJECT);
    /* the storage directories are shared by CRI-O and Podman */
    if (get_str(&p, ann, "io.kubernetes.cri-o.ContainerType") ||
        get_str(&p, ann, "io.kubernetes.cri-o.Privileged"))
        p.runtime = "cri-o";
    else if (strcmp(runtime, "cri-o") == 0 && ann && json_object_get(ann, "io.container.manager"))
        p.runtime = "podman";
    rc = BW_ENOMEM;
    ev = evb_event_new(evb_now_ns(), BULWARK__V1__SEVERITY__SEVERITY_INFO);
    if (!ev || !(c = evb_msg_new(&bulwark__v1__container_config__descriptor)))
        goto out;
    ev->body_case = BULWARK__V1__EVENT__BODY_CONFIG;
    ev->config = c;
    parse_spec(&p, spec, ann, c);
    if (p.oom || evb_set_str(&c->config_path, rel, EVB_STR_MAX) < 0 ||
        !(ev->container = make_ref(cc, &p, ann)))
        goto out;
    if (c->privileged || c->host_network || c->host_pid || c->host_ipc)
        ev->severity = BULWARK__V1__SEVERITY__SEVERITY_WARNING;
    if (p.odd) {
        cc->base.errors += p.odd;
        log_msg(LOG_WARN, "config", "'%s': %u fields of an unexpected type skipped", path, p.odd);
    }
    rc = cc->env->emit(cc->env->emit_ctx, ev);
    ev = NULL;
    if (rc < 0) {
        rc = 0;
        goto out;
    }
    cc->base.events++;
    rc = 1;
out:
    evb_msg_free(ev ? &ev->base : NULL);
    json_decref(spec);
    return rc;
}

/* --------------------------------------------------------------- scan */

struct pass {
    struct cfg_seen *cur;
    size_t n, cap;
};

static bool pass_has(const struct pass *ps, const char *id)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->cur[i].id, id) == 0)
            return true;
    return false;
}

/* A new id: reported unless seen before; 1, 0 or BW_ENOMEM. */
static int visit(struct cfg_col *cc, struct pass *ps, const char *runtime, const char *id,
                 const char *rel)
{
    char path[PROCFS_PATH_MAX];
    struct cfg_seen key;

    if (strlen(id) > CFG_ID_MAX || pass_has(ps, id))
        return 0;
    if (procfs_path(path, sizeof path, cc->env->cfg->host_root, "%s", rel) < 0 ||
        access(path, F_OK) != 0)
        return 0;  /* a runtime dir without a config (yet) */
    if (ps->n == ps->cap) {
        struct cfg_seen *t;

        if (ps->cap >= CFG_MAX_CONTAINERS) {
            if (!cc->logged_full) {
                cc->logged_full = true;
                log_msg(LOG_WARN, "config", "more than %u containers: the rest are not tracked",
                        CFG_MAX_CONTAINERS);
            }
            return 0;
        }
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        t = realloc(ps->cur, ps->cap * sizeof *t);
        if (!t)
            return BW_ENOMEM;
        ps->cur = t;
    }
    memset(&key, 0, sizeof key);
    memcpy(key.id, id, strlen(id));  /* checked: at most CFG_ID_MAX */
    ps->cur[ps->n++] = key;
    if (cc->known && bsearch(&key, cc->known, cc->nknown, sizeof key, seen_cmp))
        return 0;
    return report(cc, runtime, id, rel);
}

static int scan_dir(struct cfg_col *cc, struct pass *ps, const struct layout *l, const char *sub,
                    const char *runtime)
{
    char dir[PROCFS_PATH_MAX], rel[PROCFS_PATH_MAX];
    struct dirent *de;
    int emitted = 0, rc = 0;
    DIR *d;

    if (procfs_path(dir, sizeof dir, cc->env->cfg->host_root, "%s%s", l->dir, sub) < 0 ||
        !(d = opendir(dir)))
        return 0;
    while ((de = readdir(d)) && rc >= 0) {
        if (de->d_name[0] == '.' ||
            snprintf(rel, sizeof rel, "%s%s/%s/%s", l->dir, sub, de->d_name, l->file) >= (int)sizeof rel)
            continue;
        rc = visit(cc, ps, runtime, de->d_name, rel);
        emitted += rc > 0;
    }
    closedir(d);
    return rc < 0 ? rc : emitted;
}

static int cfg_scan(struct collector *col)
{
    struct cfg_col *cc = (struct cfg_col *)col;
    struct pass ps = {0};
    char dir[PROCFS_PATH_MAX], sub[PROCFS_PATH_MAX];
    int emitted = 0, rc = 0;

    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0] && rc >= 0; i++) {
        const struct layout *l = &layouts[i];
        struct dirent *de;
        DIR *d;

        if (!l->ns) {
            rc = scan_dir(cc, &ps, l, "", l->runtime);
            emitted += rc > 0 ? rc : 0;
            continue;
        }
        if (procfs_path(dir, sizeof dir, cc->env->cfg->host_root, "%s", l->dir) < 0 ||
            !(d = opendir(dir)))
            continue;
        while ((de = readdir(d)) && rc >= 0) {
            if (de->d_name[0] == '.' || strlen(de->d_name) > 64)
                continue;
            snprintf(sub, sizeof sub, "/%s", de->d_name);
            rc = scan_dir(cc, &ps, l, sub, strcmp(de->d_name, "moby") == 0 ? "docker" : l->runtime);
            emitted += rc > 0 ? rc : 0;
        }
        closedir(d);
    }
    if (rc < 0) {
        free(ps.cur);
        return rc;
    }
    if (ps.n)
        qsort(ps.cur, ps.n, sizeof *ps.cur, seen_cmp);
    free(cc->known);
    cc->known = ps.cur;
    cc->nknown = ps.n;
    return emitted;
}

/* ---------------------------------------------------------- lifecycle */

static int cfg_start(struct collector *c)
{
    struct cfg_col *cc = (struct cfg_col *)c;
    int rc;

    if (!cc->env->loop)
        return BW_EINVAL;
    rc = cfg_scan(c);
    if (rc < 0)
        log_msg(LOG_WARN, "config", "first scan failed: %s", bw_strerror(rc));
    return collector_ticker_start(&cc->ticker, cc->env->loop, cc->env->cfg->scan_interval_ms, c);
}

static void cfg_stop(struct collector *c, void (*done)(void *arg), void *arg)
{
    collector_ticker_stop(&((struct cfg_col *)c)->ticker, done, arg);
}

static void cfg_destroy(struct collector *c)
{
    struct cfg_col *cc = (struct cfg_col *)c;

    free(cc->known);
    free(cc);
}

struct collector *collector_config_new(const struct collector_env *env)
{
    struct cfg_col *cc = calloc(1, sizeof *cc);

    if (!cc)
        return NULL;
    cc->base.name = "config";
    cc->base.start = cfg_start;
    cc->base.scan = cfg_scan;
    cc->base.stop = cfg_stop;
    cc->base.destroy = cfg_destroy;
    cc->env = env;
    return &cc->base;
}
