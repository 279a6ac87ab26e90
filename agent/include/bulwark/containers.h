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
