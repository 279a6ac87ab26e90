/* containers.h - which container a process belongs to, and what we know
 * about that container.
 *
 * From /proc/PID/cgroup (below host_root) it recognises Docker, containerd /
 * CRI (Kubernetes pod uid and container id), CRI-O and Podman/libpod paths,
 * for cgroup v1, v2 and hybrid hosts; host processes have no container. It
 * enriches the reference (name, image, digest, k8s namespace/pod) from the
 * runtime's own files (OCI config.json annotations, Docker's
 * config.v2.json) and caches it by container id (bounded, LRU). */
#ifndef BULWARK_CONTAINERS_H
#define BULWARK_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "bulwark/v1/bulwark.pb-c.h"

/* Where the container runtimes keep their state, below the host root: the
 * one table of these paths (attribution, the config and file collectors
 * read them).
 *   CT_CONTAINERD_TASKS     <ns>/<id>/config.json (the OCI spec), <ns>/<id>/rootfs;
 *                           Docker's own containerd runs in namespace "moby"
 *   CT_CONTAINERD_TASKS_V1  the same, containerd's v1 shim
 *   CT_DOCKER_TASKS(_V1)    Docker's private containerd: <id>/config.json
 *   CT_DOCKER_CONTAINERS    <id>/config.v2.json (name, image), <id>/hostconfig.json
 *   CT_DOCKER_MOUNTS        <id>/mount-id: the container's overlay2 layer
 *   CT_DOCKER_OVERLAY       <mount-id>/merged: its root
 *   CT_STORAGE_RUN          CRI-O (containers/storage): <id>/userdata/config.json
 *   CT_STORAGE_LIB          Podman: <id>/userdata/config.json, containers.json (id -> layer)
 *   CT_STORAGE_OVERLAY      <layer>/merged: a CRI-O or Podman container's root */
#define CT_CONTAINERD_TASKS "/run/containerd/io.containerd.runtime.v2.task"
#define CT_CONTAINERD_TASKS_V1 "/run/containerd/io.containerd.runtime.v1.linux"
#define CT_DOCKER_TASKS "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby"
#define CT_DOCKER_TASKS_V1 "/run/docker/containerd/daemon/io.containerd.runtime.v1.linux/moby"
#define CT_DOCKER_CONTAINERS "/var/lib/docker/containers"
#define CT_DOCKER_MOUNTS "/var/lib/docker/image/overlay2/layerdb/mounts"
#define CT_DOCKER_OVERLAY "/var/lib/docker/overlay2"
#define CT_STORAGE_RUN "/run/containers/storage/overlay-containers"
#define CT_STORAGE_LIB "/var/lib/containers/storage/overlay-containers"
#define CT_STORAGE_OVERLAY "/var/lib/containers/storage/overlay"

struct containers;

struct containers *containers_new(const char *host_root, size_t max_entries);
void containers_free(struct containers *c);

/* Parses one /proc/PID/cgroup text: 1 and fills runtime (docker,
 * containerd, cri-o, podman) and id (and pod uid when present), 0 for a host
 * process, BW_EINVAL for text that is not a cgroup file. Pure. */
int containers_parse_cgroup(const char *text, char *runtime, size_t rlen, char *id, size_t idlen,
                            char *pod_uid, size_t podlen);

/* The container of pid, or NULL for a host process (or a vanished one).
 * The reference is owned by the cache and valid until the next lookup;
 * copy it with containers_ref_dup() to put it in an event. */
const Bulwark__V1__ContainerRef *containers_lookup_pid(struct containers *c, int pid);
const Bulwark__V1__ContainerRef *containers_lookup_id(struct containers *c, const char *runtime,
                                                      const char *id);
/* Whether an OCI runtime spec (a config.json) describes a privileged
 * container: its runtime says so (CRI-O's io.kubernetes.cri-o.Privileged
 * "true", Podman's io.podman.annotations.privileged "TRUE"), or its shape
 * does: CAP_SYS_ADMIN among at least CONTAINERS_ALL_CAPS bounding
 * capabilities, no seccomp, and no masked paths or every device allowed.
 * Docker's flag lives in its hostconfig.json, not in the spec (below). Pure. */
#define CONTAINERS_ALL_CAPS 37
bool containers_spec_privileged(const json_t *spec);
/* Docker's flag: 1 when <root>/var/lib/docker/containers/<id>/hostconfig.json
 * says Privileged, 0 when it does not, BW_ENOTFOUND without that file. */
int containers_docker_privileged(const char *root, const char *id);

/* A malloc'd deep copy (freed with the event by evjson_event_free). */
Bulwark__V1__ContainerRef *containers_ref_dup(const Bulwark__V1__ContainerRef *ref);

#endif
