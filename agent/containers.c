/* containers.c - container attribution: /proc/PID/cgroup -> runtime and id,
 * enriched from the runtime's own files and cached (bulwark/containers.h).
 *
 * Recognised cgroup paths (v1 lines, the v2 "0::" line, or both on hybrid
 * hosts; the deepest match of the first matching line wins):
 *   docker      /docker/<id>, .../docker-<id>.scope
 *   containerd  .../cri-containerd-<id>.scope, /kubepods/<qos>/pod<uid>/<id>
 *   cri-o       .../crio-<id>.scope (crio-conmon-* is the monitor: host)
 *   podman      .../libpod-<id>.scope, /libpod_parent/libpod-<id>
 * The pod uid comes from a "pod<uid>" or "kubepods-<qos>-pod<uid>.slice"
 * ancestor (systemd writes its dashes as underscores).
 *
 * Enrichment (every path below host_root; a missing file leaves fields empty):
 *   docker      /var/lib/docker/containers/<id>/config.v2.json: Name,
 *               Config.Image, Image (the image id, "sha256:..."), Config.Labels
 *   containerd  /run/containerd/io.containerd.runtime.v2.task/<ns>/<id>/config.json
 *               annotations io.kubernetes.cri.*
 *   cri-o       /run/containers/storage/overlay-containers/<id>/userdata/config.json
 *               annotations io.kubernetes.* and io.kubernetes.cri-o.Image*
 *   podman      /var/lib/containers/storage/overlay-containers/<id>/userdata/config.json
 *               (or under /run/containers/storage), and the name and image from
 *               the "metadata" of .../overlay-containers/containers.json
 * When a cgroup path does not name the runtime (bare kubepods ids), the
 * runtime whose files hold the id wins; containerd is the fallback. */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evbuild.h"
#include "bulwark/lru.h"
#include "bulwark/procfs.h"

#define CT_ID_LEN 64
#define CT_UID_LEN 36
#define CT_LABELS_MAX 32
#define CT_CGROUP_MAX 16384
#define CT_RUNTIME_MAX 16


/* One container's enriched reference: an entry of the shared LRU map
 * (bulwark/lru.h) keyed by the container id. */
struct ct_entry {
    struct lru_node node;
    Bulwark__V1__ContainerRef *ref;
};

struct containers {
    char *root;
    struct lru map;
};

/* ----------------------------------------------------------------- parse */

struct ct_match {
    const char *runtime;
    char id[CT_ID_LEN + 1];
    char pod[CT_UID_LEN + 1];
};

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool has_prefix(const char *s, size_t n, const char *pre)
{
    size_t pl = strlen(pre);

    return n >= pl && memcmp(s, pre, pl) == 0;
}

/* "<prefix><64 hex>[.scope]" -> the id's start, or NULL. */
static const char *scoped_id(const char *s, size_t n, const char *pre)
{
    size_t pl = strlen(pre), rest;

    if (!has_prefix(s, n, pre))
        return NULL;
    rest = n - pl;
    if (rest == CT_ID_LEN + 6 && memcmp(s + pl + CT_ID_LEN, ".scope", 6) == 0)
        rest = CT_ID_LEN;
    return rest == CT_ID_LEN && is_hex(s + pl, CT_ID_LEN) ? s + pl : NULL;
}

/* A pod uid from "pod<uid>" or "kubepods-<qos>-pod<uid>.slice"; false if none. */
static bool pod_uid_of(const char *s, size_t n, char *out)
{
    const char *u = NULL;
    size_t ul;

    if (n > 6 && memcmp(s + n - 6, ".slice", 6) == 0)
        n -= 6;
    if (has_prefix(s, n, "kubepods")) {
        for (size_t i = n; i >= 4; i--)
            if (memcmp(s + i - 4, "-pod", 4) == 0) {
                u = s + i;
                break;
            }
    } else if (has_prefix(s, n, "pod")) {
        u = s + 3;
    }
    if (!u)
        return false;
    ul = n - (size_t)(u - s);
    if (ul != CT_UID_LEN)
        return false;
    for (size_t i = 0; i < ul; i++) {
        char ch = u[i] == '_' ? '-' : u[i];

        if (ch != '-' && !is_hex(&ch, 1))
            return false;
        out[i] = ch;
    }
    out[ul] = '\0';
    return true;
}

static bool match_path(const char *path, size_t len, struct ct_match *m)
{
    static const struct {
        const char *prefix, *runtime;
    } scopes[] = {
        {"docker-", "docker"},
        {"cri-containerd-", "containerd"},
        {"crio-", "cri-o"},
        {"libpod-", "podman"},
    };
    const char *prev = "", *end = path + len, *s = path;
    size_t prevlen = 0;
    char pod[CT_UID_LEN + 1] = "";
    bool found = false;

    while (s < end) {
        const char *e = memchr(s, '/', (size_t)(end - s)), *id = NULL, *rt = NULL;
        size_t n;

        if (!e)
            e = end;
        n = (size_t)(e - s);
        if (n > 0) {
            if (!pod_uid_of(s, n, pod)) {
                for (size_t i = 0; i < sizeof scopes / sizeof scopes[0] && !id; i++) {
                    id = scoped_id(s, n, scopes[i].prefix);
                    rt = scopes[i].runtime;
                }
                if (!id && n == CT_ID_LEN && is_hex(s, n)) {
                    if (prevlen == 6 && memcmp(prev, "docker", 6) == 0)
                        id = s, rt = "docker";
                    else if (*pod)
                        id = s, rt = "containerd";
                }
            }
            if (id) {
                m->runtime = rt;
                memcpy(m->id, id, CT_ID_LEN);
                m->id[CT_ID_LEN] = '\0';
                memcpy(m->pod, pod, sizeof pod);
                found = true;
            }
            prev = s;
            prevlen = n;
        }
        s = e + 1;
    }
    return found;
}

int containers_parse_cgroup(const char *text, char *runtime, size_t rlen, char *id, size_t idlen,
                            char *pod_uid, size_t podlen)
{
    const char *line = text;
    struct ct_match m = {0};
    bool found = false;
    size_t lines = 0;

    while (*line) {
        const char *nl = strchr(line, '\n'), *p = line, *c2;
        size_t len = nl ? (size_t)(nl - line) : strlen(line);

        if (len > 0) {
            while (p < line + len && *p >= '0' && *p <= '9')
                p++;
            if (p == line || p >= line + len || *p != ':')
                return BW_EINVAL;
            c2 = memchr(p + 1, ':', len - (size_t)(p + 1 - line));
            if (!c2 || c2 + 1 >= line + len || c2[1] != '/')
                return BW_EINVAL;
            lines++;
            if (!found)
                found = match_path(c2 + 1, len - (size_t)(c2 + 1 - line), &m);
        }
        line += len + (nl ? 1 : 0);
    }
    if (lines == 0)
        return BW_EINVAL;
    if (!found)
        return 0;
    snprintf(runtime, rlen, "%s", m.runtime);
    snprintf(id, idlen, "%s", m.id);
    if (pod_uid && podlen)
        snprintf(pod_uid, podlen, "%s", m.pod);
    return 1;
}

/* ----------------------------------------------------------- references */

static void ref_free(Bulwark__V1__ContainerRef *r)
{
    evb_msg_free(r ? &r->base : NULL);
}

static int ref_label(Bulwark__V1__ContainerRef *r, const char *k, const char *v)
{
    Bulwark__V1__ContainerRef__LabelsEntry *e;

    if (r->n_labels >= CT_LABELS_MAX)
        return 0;
    if (!r->labels) {
        r->labels = calloc(CT_LABELS_MAX, sizeof *r->labels);
        if (!r->labels)
            return BW_ENOMEM;
    }
    e = evb_msg_new(&bulwark__v1__container_ref__labels_entry__descriptor);
    if (!e)
        return BW_ENOMEM;
    r->labels[r->n_labels++] = e;
    if (evb_set_str(&e->key, k, EVB_STR_MAX) < 0 ||
        evb_set_str(&e->value, v, EVB_STR_MAX) < 0)
        return BW_ENOMEM;
    return 0;
}

Bulwark__V1__ContainerRef *containers_ref_dup(const Bulwark__V1__ContainerRef *ref)
{
    Bulwark__V1__ContainerRef *d;
    const ProtobufCMessageDescriptor *desc = &bulwark__v1__container_ref__descriptor;
    int rc = 0;

    if (!ref)
        return NULL;
    d = evb_msg_new(desc);
    if (!d)
        return NULL;
    /* every singular field is a string */
    for (unsigned i = 0; i < desc->n_fields && rc == 0; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];

        if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_STRING)
            continue;
        rc = evb_set_str((char **)((char *)d + f->offset),
                         *(char *const *)((const char *)ref + f->offset), EVB_STR_MAX);
    }
    for (size_t i = 0; i < ref->n_labels && rc == 0; i++)
        rc = ref_label(d, ref->labels[i]->key, ref->labels[i]->value);
    d->privileged_opt_case = ref->privileged_opt_case;
    d->privileged = ref->privileged;
    if (rc < 0) {
        ref_free(d);
        return NULL;
    }
    return d;
}

/* ------------------------------------------------------------ enrichment */

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Sets *field from s unless it is already set or s is empty. */
static int fill(char **field, const char *s)
{
    if (!s || !*s || (*field && **field))
        return 0;
    return evb_set_str(field, s, EVB_STR_MAX);
}

/* "sha256:<hex>" from a digest, an "image@sha256:..." reference or a bare id. */
static int fill_digest(char **field, const char *s)
{
    char buf[80];
    const char *p;

    if (!s)
        return 0;
    p = strstr(s, "sha256:");
    if (p)
        return fill(field, p);
    if (strlen(s) == CT_ID_LEN && is_hex(s, CT_ID_LEN)) {
        snprintf(buf, sizeof buf, "sha256:%s", s);
        return fill(field, buf);
    }
    return 0;
}

/* Kubernetes and CRI annotations (or Docker labels) -> reference fields. */
static int apply_annotations(Bulwark__V1__ContainerRef *r, const json_t *ann)
{
    static const struct {
        const char *key;
        size_t off;
    } map[] = {
        {"io.kubernetes.cri.container-name", offsetof(Bulwark__V1__ContainerRef, name)},
        {"io.kubernetes.cri.sandbox-name", offsetof(Bulwark__V1__ContainerRef, k8s_pod)},
        {"io.kubernetes.cri.sandbox-namespace", offsetof(Bulwark__V1__ContainerRef, k8s_namespace)},
        {"io.kubernetes.cri.sandbox-uid", offsetof(Bulwark__V1__ContainerRef, k8s_pod_uid)},
        {"io.kubernetes.cri.image-name", offsetof(Bulwark__V1__ContainerRef, image)},
        {"io.kubernetes.container.name", offsetof(Bulwark__V1__ContainerRef, name)},
        {"io.kubernetes.pod.name", offsetof(Bulwark__V1__ContainerRef, k8s_pod)},
        {"io.kubernetes.pod.namespace", offsetof(Bulwark__V1__ContainerRef, k8s_namespace)},
        {"io.kubernetes.pod.uid", offsetof(Bulwark__V1__ContainerRef, k8s_pod_uid)},
        {"io.kubernetes.cri-o.ImageName", offsetof(Bulwark__V1__ContainerRef, image)},
    };
    int rc = 0;

    if (!json_is_object(ann))
        return 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0] && rc == 0; i++)
        rc = fill((char **)((char *)r + map[i].off), jstr(ann, map[i].key));
    if (rc == 0)
        rc = fill_digest(&r->image_digest, jstr(ann, "io.kubernetes.cri-o.ImageRef"));
    return rc;
}

bool containers_spec_privileged(const json_t *spec)
{
    const json_t *ann = json_object_get(spec, "annotations");
    const json_t *process = json_object_get(spec, "process");
    const json_t *linux = json_object_get(spec, "linux");
    const json_t *bounding = json_object_get(json_object_get(process, "capabilities"), "bounding");
    const json_t *devices = json_object_get(json_object_get(linux, "resources"), "devices");
    const json_t *masked = json_object_get(linux, "maskedPaths"), *v;
    const char *crio = jstr(ann, "io.kubernetes.cri-o.Privileged");
    const char *podman = jstr(ann, "io.podman.annotations.privileged");
    bool sys_admin = false, all_devices = false;
    size_t i, ncaps = 0;

    if ((crio && strcmp(crio, "true") == 0) || (podman && strcasecmp(podman, "true") == 0))
        return true;
    json_array_foreach(bounding, i, v) {
        const char *name = json_string_value(v);

        if (!name)
            continue;
        ncaps++;
        if (strcmp(name, "CAP_SYS_ADMIN") == 0 || strcmp(name, "SYS_ADMIN") == 0)
            sys_admin = true;
    }
    json_array_foreach(devices, i, v) {
        const char *access = jstr(v, "access");

        if (json_is_true(json_object_get(v, "allow")) && !jstr(v, "type") && access &&
            strcmp(access, "rwm") == 0)
            all_devices = true;
    }
    return sys_admin && ncaps >= CONTAINERS_ALL_CAPS && !json_is_object(json_object_get(linux, "seccomp")) &&
           (!json_is_array(masked) || json_array_size(masked) == 0 || all_devices);
}

int containers_docker_privileged(const char *root, const char *id)
{
    char path[PROCFS_PATH_MAX];
    json_t *j = NULL;
    int rc;

    if (procfs_path(path, sizeof path, root, "/var/lib/docker/containers/%s/hostconfig.json", id) < 0 ||
        procfs_load_json(path, PROCFS_JSON_MAX, &j) < 0)
        return BW_ENOTFOUND;
    rc = json_is_true(json_object_get(j, "Privileged"));
    json_decref(j);
    return rc;
}

/* 1 when root+rel is a readable JSON object with annotations applied, 0 if absent. */
static int enrich_oci(const char *root, Bulwark__V1__ContainerRef *r, const char *rel)
{
    char path[PROCFS_PATH_MAX];
    json_t *j = NULL;
    int rc;

    if (procfs_path(path, sizeof path, root, "%s", rel) < 0 ||
        procfs_load_json(path, PROCFS_JSON_MAX, &j) < 0)
        return 0;
    rc = apply_annotations(r, json_object_get(j, "annotations"));
    r->privileged_opt_case = BULWARK__V1__CONTAINER_REF__PRIVILEGED_OPT_PRIVILEGED;
    r->privileged = containers_spec_privileged(j);
    json_decref(j);
    return rc < 0 ? rc : 1;
}

static int enrich_docker(const char *root, Bulwark__V1__ContainerRef *r, const char *id)
{
    char path[PROCFS_PATH_MAX];
    const json_t *cfg, *labels;
    const char *name, *k;
    json_t *j = NULL, *v;
    int rc = 0;

    if (procfs_path(path, sizeof path, root, CT_DOCKER_CONTAINERS "/%s/config.v2.json", id) < 0 ||
        procfs_load_json(path, PROCFS_JSON_MAX, &j) < 0)
        return 0;
    name = jstr(j, "Name");
    if (name && *name == '/')
        name++;
    cfg = json_object_get(j, "Config");
    labels = json_object_get(cfg, "Labels");
    if ((rc = containers_docker_privileged(root, id)) >= 0) {
        r->privileged_opt_case = BULWARK__V1__CONTAINER_REF__PRIVILEGED_OPT_PRIVILEGED;
        r->privileged = rc == 1;
    }
    rc = fill(&r->name, name);
    if (rc == 0)
        rc = fill(&r->image, jstr(cfg, "Image"));
    if (rc == 0)
        rc = fill_digest(&r->image_digest, jstr(j, "Image"));
    if (rc == 0 && json_is_object(labels)) {
        rc = apply_annotations(r, labels);
        json_object_foreach((json_t *)labels, k, v) {
            if (rc == 0 && json_is_string(v))
                rc = ref_label(r, k, json_string_value(v));
        }
    }
    json_decref(j);
    return rc < 0 ? rc : 1;
}

static int enrich_containerd(const char *root, Bulwark__V1__ContainerRef *r, const char *id)
{
    char dir[PROCFS_PATH_MAX], rel[PROCFS_PATH_MAX];
    struct dirent *de;
    DIR *d;
    int rc = 0;

    if (procfs_path(dir, sizeof dir, root, CT_CONTAINERD_TASKS) < 0 || !(d = opendir(dir)))
        return 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' ||
            snprintf(rel, sizeof rel, CT_CONTAINERD_TASKS "/%s/%s/config.json", de->d_name, id) >= (int)sizeof rel)
            continue;
        rc = enrich_oci(root, r, rel);
    }
    closedir(d);
    return rc;
}

/* Podman and CRI-O keep a "metadata" JSON string per container in containers.json. */
static int enrich_storage_meta(const char *root, Bulwark__V1__ContainerRef *r, const char *id)
{
    char path[PROCFS_PATH_MAX];
    json_t *j = NULL, *e, *meta = NULL;
    const json_t *names;
    size_t i;
    int rc = 0;

    if (procfs_path(path, sizeof path, root, CT_STORAGE_LIB "/containers.json") < 0 ||
        procfs_load_json(path, PROCFS_JSON_MAX, &j) < 0)
        return 0;
    json_array_foreach(j, i, e) {
        const char *eid = jstr(e, "id"), *ms = jstr(e, "metadata");

        if (!eid || strcmp(eid, id) != 0)
            continue;
        names = json_object_get(e, "names");
        if (ms)
            meta = json_loads(ms, 0, NULL);
        rc = fill(&r->name, meta ? jstr(meta, "name") : NULL);
        if (rc == 0)
            rc = fill(&r->name, json_string_value(json_array_get(names, 0)));
        if (rc == 0 && meta)
            rc = fill(&r->image, jstr(meta, "image-name"));
        if (rc == 0 && meta)
            rc = fill_digest(&r->image_digest, jstr(meta, "image-id"));
        if (rc == 0)
            rc = fill_digest(&r->image_digest, jstr(e, "image"));
        break;
    }
    json_decref(meta);
    json_decref(j);
    return rc;
}

static int enrich_storage(const char *root, Bulwark__V1__ContainerRef *r, const char *id, bool crio)
{
    char a[PROCFS_PATH_MAX], b[PROCFS_PATH_MAX];
    int rc;

    snprintf(a, sizeof a, "%s/%s/userdata/config.json", crio ? CT_STORAGE_RUN : CT_STORAGE_LIB, id);
    snprintf(b, sizeof b, "%s/%s/userdata/config.json", crio ? CT_STORAGE_LIB : CT_STORAGE_RUN, id);
    rc = enrich_oci(root, r, a);
    if (rc == 0)
        rc = enrich_oci(root, r, b);
    if (rc >= 0 && enrich_storage_meta(root, r, id) < 0)
        rc = BW_ENOMEM;
    return rc;
}

/* Runs the named runtime's enrichment first, then the others (for bare
 * kubepods ids), and settles the runtime on the one whose files hold id. */
static int enrich(const char *root, Bulwark__V1__ContainerRef *r, const char *runtime, const char *id)
{
    static const char *const order[] = {"docker", "containerd", "cri-o", "podman"};
    /* only an unnamed or generic-CRI runtime is looked up in the others' files */
    bool search = !runtime || strcmp(runtime, "containerd") == 0;
    const char *hit = NULL;
    int rc = 0;

    for (int pass = 0; pass < (search ? 5 : 1) && !hit && rc >= 0; pass++) {
        const char *rt = pass == 0 ? runtime : order[pass - 1];

        if (!rt || (pass > 0 && runtime && strcmp(rt, runtime) == 0))
            continue;
        if (strcmp(rt, "docker") == 0)
            rc = enrich_docker(root, r, id);
        else if (strcmp(rt, "containerd") == 0)
            rc = enrich_containerd(root, r, id);
        else
            rc = enrich_storage(root, r, id, strcmp(rt, "cri-o") == 0);
        if (rc > 0)
            hit = rt;
    }
    if (rc < 0)
        return rc;
    return evb_set_str(&r->runtime, hit ? hit : runtime ? runtime : "containerd", CT_RUNTIME_MAX);
}

/* ----------------------------------------------------------------- cache */

struct containers *containers_new(const char *host_root, size_t max_entries)
{
    struct containers *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->root = evb_strdup(host_root ? host_root : "/", PROCFS_PATH_MAX);
    if (!c->root || lru_init(&c->map, max_entries ? max_entries : 1) < 0) {
        containers_free(c);
        return NULL;
    }
    return c;
}

static void ct_entry_free(struct lru_node *n)
{
    ref_free(((struct ct_entry *)n)->ref);
    free(n);
}

void containers_free(struct containers *c)
{
    if (!c)
        return;
    lru_release(&c->map, ct_entry_free);
    free(c->root);
    free(c);
}

static const Bulwark__V1__ContainerRef *lookup(struct containers *c, const char *runtime,
                                               const char *id, const char *pod_uid)
{
    Bulwark__V1__ContainerRef *r;
    struct lru_node *n;
    uint64_t h;

    if (!id || strlen(id) != CT_ID_LEN || !is_hex(id, CT_ID_LEN))
        return NULL;
    h = lru_hash(id, CT_ID_LEN);
    if ((n = lru_find(&c->map, id, CT_ID_LEN, h))) {
        lru_touch(&c->map, n);
        return ((struct ct_entry *)n)->ref;
    }
    r = evb_msg_new(&bulwark__v1__container_ref__descriptor);
    if (!r || evb_set_str(&r->id, id, CT_ID_LEN) < 0 ||
        enrich(c->root, r, runtime && *runtime ? runtime : NULL, id) < 0 ||
        fill(&r->k8s_pod_uid, pod_uid) < 0 ||
        lru_get(&c->map, id, CT_ID_LEN, sizeof(struct ct_entry), ct_entry_free, &n, NULL) < 0) {
        ref_free(r);
        return NULL;
    }
    ((struct ct_entry *)n)->ref = r;
    return r;
}

const Bulwark__V1__ContainerRef *containers_lookup_id(struct containers *c, const char *runtime,
                                                      const char *id)
{
    return lookup(c, runtime, id, NULL);
}

const Bulwark__V1__ContainerRef *containers_lookup_pid(struct containers *c, int pid)
{
    char text[CT_CGROUP_MAX], runtime[CT_RUNTIME_MAX], id[CT_ID_LEN + 1], pod[CT_UID_LEN + 1];

    if (pid <= 0 || procfs_read_at(c->root, text, sizeof text, NULL, "/proc/%d/cgroup", pid) < 0)
        return NULL;
    if (containers_parse_cgroup(text, runtime, sizeof runtime, id, sizeof id, pod, sizeof pod) != 1)
        return NULL;
    return lookup(c, runtime, id, pod);
}
