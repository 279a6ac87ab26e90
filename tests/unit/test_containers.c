/* test_containers.c - container attribution: /proc/PID/cgroup texts of
 * Docker, containerd/CRI, CRI-O and Podman on cgroup v1, v2 and hybrid
 * hosts; enrichment from the fixture hosts in tests/fixtures/hosts/; the
 * bounded LRU cache and deep copies that outlive it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bulwark/containers.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"

#define D "d0cce701d0cce701d0cce701d0cce701d0cce701d0cce701d0cce701d0cce701"
#define C "c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2c0d7a1e2"
#define O "c810c810c810c810c810c810c810c810c810c810c810c810c810c810c810c810"
#define P "90d3a41190d3a41190d3a41190d3a41190d3a41190d3a41190d3a41190d3a411"
#define IMG "sha256:5a1e0b7c5a1e0b7c5a1e0b7c5a1e0b7c5a1e0b7c5a1e0b7c5a1e0b7c5a1e0b7c"
#define UID_C "5e1d2c3b-4a59-4e8f-9d7c-6b5a4f3e2d1c"
#define UID_O "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
#define UID_O_ "7a6b5c4d_3e2f_4a1b_8c9d_0e1f2a3b4c5d"

struct cg_case {
    const char *what, *text, *runtime, *id, *pod;
};

#define V1(path) "12:memory:" path "\n11:cpu,cpuacct:" path "\n4:pids:" path "\n1:name=systemd:" path "\n"
#define HYB(path) "12:memory:" path "\n1:name=systemd:" path "\n0::" path "\n"
#define KP_SYSTEMD(qos, uid) "/kubepods.slice/kubepods-" qos ".slice/kubepods-" qos "-pod" uid ".slice"

static const struct cg_case cases[] = {
    {"docker v1 cgroupfs", V1("/docker/" D), "docker", D, ""},
    {"docker v1 systemd", V1("/system.slice/docker-" D ".scope"), "docker", D, ""},
    {"docker v2", "0::/system.slice/docker-" D ".scope\n", "docker", D, ""},
    {"docker v2 nested init", "0::/system.slice/docker-" D ".scope/init.scope\n", "docker", D, ""},
    {"docker hybrid", HYB("/system.slice/docker-" D ".scope"), "docker", D, ""},
    {"dockershim k8s v2", "0::" KP_SYSTEMD("burstable", "5e1d2c3b_4a59_4e8f_9d7c_6b5a4f3e2d1c")
     "/docker-" D ".scope\n", "docker", D, UID_C},
    {"containerd v1 cgroupfs", V1("/kubepods/burstable/pod" UID_C "/" C), "containerd", C, UID_C},
    {"containerd v1 systemd", V1(KP_SYSTEMD("burstable", "5e1d2c3b_4a59_4e8f_9d7c_6b5a4f3e2d1c")
                                 "/cri-containerd-" C ".scope"), "containerd", C, UID_C},
    {"containerd v2", "0::" KP_SYSTEMD("burstable", "5e1d2c3b_4a59_4e8f_9d7c_6b5a4f3e2d1c")
     "/cri-containerd-" C ".scope\n", "containerd", C, UID_C},
    {"containerd guaranteed v2", "0::/kubepods.slice/kubepods-pod5e1d2c3b_4a59_4e8f_9d7c_6b5a4f3e2d1c"
     ".slice/cri-containerd-" C ".scope\n", "containerd", C, UID_C},
    {"containerd hybrid", HYB("/kubepods/besteffort/pod" UID_C "/" C), "containerd", C, UID_C},
    {"cri-o v1", V1(KP_SYSTEMD("besteffort", UID_O_) "/crio-" O ".scope"), "cri-o", O, UID_O},
    {"cri-o v2", "0::" KP_SYSTEMD("besteffort", UID_O_) "/crio-" O ".scope\n", "cri-o", O, UID_O},
    {"cri-o hybrid", HYB(KP_SYSTEMD("besteffort", UID_O_) "/crio-" O ".scope"), "cri-o", O, UID_O},
    {"cri-o cgroupfs", V1("/kubepods/besteffort/pod" UID_O "/crio-" O), "cri-o", O, UID_O},
    {"podman v1", V1("/machine.slice/libpod-" P ".scope"), "podman", P, ""},
    {"podman v1 cgroupfs", V1("/libpod_parent/libpod-" P), "podman", P, ""},
    {"podman v2 rootless", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" P
     ".scope/container\n", "podman", P, ""},
    {"podman hybrid", HYB("/machine.slice/libpod-" P ".scope"), "podman", P, ""},
};

static void test_parse_runtimes(void **state)
{
    char rt[16], id[65], pod[37];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;

        memset(pod, 'x', sizeof pod);
        rc = containers_parse_cgroup(cases[i].text, rt, sizeof rt, id, sizeof id, pod, sizeof pod);
        if (rc != 1)
            fail_msg("%s: rc %d", cases[i].what, rc);
        if (strcmp(rt, cases[i].runtime) || strcmp(id, cases[i].id) || strcmp(pod, cases[i].pod))
            fail_msg("%s: got %s %s pod '%s'", cases[i].what, rt, id, pod);
    }
}

static void test_parse_hosts_and_garbage(void **state)
{
    static const char *const hosts[] = {
        "0::/init.scope\n",
        "0::/\n",
        V1("/user.slice/user-1000.slice/session-3.scope"),
        "9:name=systemd:/\n4:memory:/process_api/ed462070dd81adbb03b704b81e7dc45d\n0::/\n",
        "0::/machine.slice/libpod-conmon-" P ".scope\n",         /* the monitor, not the container */
        "0::" KP_SYSTEMD("besteffort", UID_O_) "/crio-conmon-" O ".scope\n",
        "0::/kubepods/besteffort/pod" UID_O "\n",                   /* the pod, no container */
        "0::/system.slice/docker-" D "x.scope\n",                   /* not an id */
        "0::/docker/" D "0\n",
        "0::/somewhere/" D "\n",                                   /* a bare id outside a pod */
    };
    static const char *const bad[] = {"", "\n", "hello world\n", "12:memory\n", "x:memory:/\n",
                                      "12:memory:relative\n", "0::\n"};
    char rt[16] = "", id[65] = "", pod[37] = "";

    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        if (containers_parse_cgroup(hosts[i], rt, sizeof rt, id, sizeof id, pod, sizeof pod) != 0)
            fail_msg("host case %zu was attributed to %s %s", i, rt, id);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (containers_parse_cgroup(bad[i], rt, sizeof rt, id, sizeof id, pod, sizeof pod) != BW_EINVAL)
            fail_msg("bad case %zu was accepted", i);
}

static char *fixture(const char *host)
{
    const char *src = getenv("BW_SOURCE_DIR");
    char *p = malloc(4096);

    assert_non_null(src);
    assert_non_null(p);
    snprintf(p, 4096, "%s/tests/fixtures/hosts/%s", src, host);
    return p;
}

static struct containers *open_host(const char *host, size_t max)
{
    char *root = fixture(host);
    struct containers *c = containers_new(root, max);

    free(root);
    assert_non_null(c);
    return c;
}

static void assert_label(const Bulwark__V1__ContainerRef *r, const char *k, const char *v)
{
    for (size_t i = 0; i < r->n_labels; i++)
        if (strcmp(r->labels[i]->key, k) == 0) {
            assert_string_equal(r->labels[i]->value, v);
            return;
        }
    fail_msg("label %s missing", k);
}

static void test_enrich_docker(void **state)
{
    struct containers *c = open_host("docker", 8);
    const Bulwark__V1__ContainerRef *r = containers_lookup_pid(c, 4100);

    assert_non_null(r);
    assert_string_equal(r->id, D);
    assert_string_equal(r->runtime, "docker");
    assert_string_equal(r->name, "web");
    assert_string_equal(r->image, "nginx:1.25");
    assert_string_equal(r->image_digest, IMG);
    assert_string_equal(r->k8s_pod, "");
    assert_label(r, "com.docker.compose.service", "web");
    assert_true(r->privileged_opt_case && r->privileged);  /* hostconfig.json */
    assert_null(containers_lookup_pid(c, 1));     /* init is a host process */
    assert_null(containers_lookup_pid(c, 9999));  /* no such process */
    containers_free(c);
}

static void test_enrich_containerd_k8s(void **state)
{
    struct containers *c = open_host("containerd-k8s", 8);
    const Bulwark__V1__ContainerRef *r = containers_lookup_pid(c, 4200);

    assert_non_null(r);
    assert_string_equal(r->id, C);
    assert_string_equal(r->runtime, "containerd");
    assert_string_equal(r->name, "api");
    assert_string_equal(r->image, "ghcr.io/acme/api:2.3.1");
    assert_string_equal(r->k8s_namespace, "shop");
    assert_string_equal(r->k8s_pod, "api-7d9f8b6c5-x2x9q");
    assert_string_equal(r->k8s_pod_uid, UID_C);
    containers_free(c);
}

static void test_enrich_crio(void **state)
{
    struct containers *c = open_host("crio", 8);
    const Bulwark__V1__ContainerRef *r = containers_lookup_pid(c, 4300);

    assert_non_null(r);
    assert_string_equal(r->runtime, "cri-o");
    assert_string_equal(r->name, "worker");
    assert_string_equal(r->image, "quay.io/acme/worker:1.0");
    assert_string_equal(r->image_digest, IMG);
    assert_string_equal(r->k8s_namespace, "jobs");
    assert_string_equal(r->k8s_pod, "worker-0");
    assert_string_equal(r->k8s_pod_uid, UID_O);
    assert_null(containers_lookup_pid(c, 4302));  /* conmon */
    containers_free(c);

    /* a bare kubepods id: the runtime whose files hold it wins */
    c = open_host("crio", 8);
    r = containers_lookup_pid(c, 4301);
    assert_non_null(r);
    assert_string_equal(r->runtime, "cri-o");
    assert_string_equal(r->name, "worker");
    containers_free(c);
}

static void test_enrich_podman(void **state)
{
    struct containers *c = open_host("podman", 8);
    const Bulwark__V1__ContainerRef *r = containers_lookup_pid(c, 4400);

    assert_non_null(r);
    assert_string_equal(r->id, P);
    assert_string_equal(r->runtime, "podman");
    assert_string_equal(r->name, "db");
    assert_string_equal(r->image, "docker.io/library/postgres:16");
    assert_string_equal(r->image_digest, IMG);
    /* its spec was read: an ordinary container */
    assert_int_equal(r->privileged_opt_case, BULWARK__V1__CONTAINER_REF__PRIVILEGED_OPT_PRIVILEGED);
    assert_false(r->privileged);
    containers_free(c);
    /* CRI-O's annotation says privileged; the copy keeps it */
    c = open_host("crio", 8);
    r = containers_lookup_id(c, "cri-o", O);
    assert_non_null(r);
    assert_true(r->privileged_opt_case && r->privileged);
    Bulwark__V1__ContainerRef *d = containers_ref_dup(r);
    assert_non_null(d);
    assert_true(d->privileged_opt_case && d->privileged);
    containers_free(c);
    Bulwark__V1__Event *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    bulwark__v1__event__init(ev);
    ev->container = d;
    evjson_event_free(ev);
}

/* What makes a spec privileged: the runtimes' annotations, or its shape. */
static void test_spec_privileged(void **state)
{
    static const char *const priv[] = {
        "{\"annotations\":{\"io.podman.annotations.privileged\":\"TRUE\"}}",
        "{\"annotations\":{\"io.kubernetes.cri-o.Privileged\":\"true\"}}",
        NULL,  /* the shape: below */
    };
    static const char *const plain[] = {
        "{}",
        "{\"annotations\":{\"io.podman.annotations.privileged\":\"FALSE\"}}",
        "{\"annotations\":{\"io.podman.annotations.privileged\":true}}",
        "{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_SYS_ADMIN\"]}},\"linux\":{}}",
    };
    json_t *caps = json_array(), *spec;

    for (int i = 0; i < CONTAINERS_ALL_CAPS; i++)
        json_array_append_new(caps, json_string(i ? "CAP_X" : "CAP_SYS_ADMIN"));
    for (size_t i = 0; priv[i]; i++) {
        spec = json_loads(priv[i], 0, NULL);
        assert_true(containers_spec_privileged(spec));
        json_decref(spec);
    }
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        spec = json_loads(plain[i], 0, NULL);
        assert_non_null(spec);
        assert_false(containers_spec_privileged(spec));
        json_decref(spec);
    }
    /* every capability, no seccomp, nothing masked: privileged; a seccomp
     * profile or masked paths make it not */
    spec = json_pack("{s:{s:{s:O}},s:{}}", "process", "capabilities", "bounding", caps, "linux");
    assert_true(containers_spec_privileged(spec));
    json_object_set_new(json_object_get(spec, "linux"), "maskedPaths", json_pack("[s]", "/proc/kcore"));
    assert_false(containers_spec_privileged(spec));
    json_object_del(json_object_get(spec, "linux"), "maskedPaths");
    json_object_set_new(json_object_get(spec, "linux"), "seccomp", json_object());
    assert_false(containers_spec_privileged(spec));
    json_decref(spec);
    json_decref(caps);
}

static void test_host_without_containers(void **state)
{
    struct containers *c = open_host("none", 8);

    assert_null(containers_lookup_pid(c, 1));
    assert_null(containers_lookup_pid(c, 77));
    assert_null(containers_lookup_id(c, "docker", "not-an-id"));
    /* an id no runtime knows: attributed, nothing enriched */
    const Bulwark__V1__ContainerRef *r = containers_lookup_id(c, "docker", D);
    assert_non_null(r);
    assert_string_equal(r->runtime, "docker");
    assert_string_equal(r->name, "");
    containers_free(c);
}

/* A cache of 2: the least recently used entry goes; copies outlive it. */
static void test_lru_and_dup(void **state)
{
    struct containers *c = open_host("docker", 2);
    const Bulwark__V1__ContainerRef *r = containers_lookup_pid(c, 4100);
    Bulwark__V1__Event *ev = calloc(1, sizeof *ev);
    json_t *j;

    assert_non_null(r);
    assert_non_null(ev);
    bulwark__v1__event__init(ev);
    ev->container = containers_ref_dup(r);
    assert_non_null(ev->container);
    assert_ptr_not_equal(ev->container->name, r->name);
    assert_non_null(containers_lookup_id(c, "podman", P));
    assert_non_null(containers_lookup_id(c, "cri-o", O));  /* evicts D */
    assert_non_null(containers_lookup_id(c, "podman", P));
    r = containers_lookup_pid(c, 4100);                    /* evicts O, rebuilds D */
    assert_non_null(r);
    assert_string_equal(r->name, "web");
    containers_free(c);
    /* the copy is the event's, freed with it */
    assert_string_equal(ev->container->name, "web");
    assert_int_equal(ev->container->n_labels, 2);
    j = evjson_event_to_json(ev);
    assert_non_null(j);
    json_decref(j);
    evjson_event_free(ev);
    assert_null(containers_ref_dup(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_runtimes),
        cmocka_unit_test(test_parse_hosts_and_garbage),
        cmocka_unit_test(test_enrich_docker),
        cmocka_unit_test(test_enrich_containerd_k8s),
        cmocka_unit_test(test_enrich_crio),
        cmocka_unit_test(test_enrich_podman),
        cmocka_unit_test(test_spec_privileged),
        cmocka_unit_test(test_host_without_containers),
        cmocka_unit_test(test_lru_and_dup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
