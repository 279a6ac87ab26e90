/* test_rules.c - the rules engine: loading Falco YAML (lists, macros,
 * override/append, exceptions, errors with file:line, unsupported rules
 * disabled), every operator, output rendering, kind indexing, thresholds
 * and correlations over synthetic time, save/restore, hot swap, and the
 * `rules check` / `rules test` commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../server/rules/internal.h"
#include "cmd/cmd.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"
#include "bulwark/rules.h"

static char tmpdir[64];

/* ------------------------------------------------------------ helpers */

struct diags {
    char text[8192];
    unsigned count;
};

static void on_diag(void *ctx, const char *file, unsigned line, const char *msg)
{
    struct diags *d = ctx;
    size_t used = strlen(d->text);
    const char *base = file ? strrchr(file, '/') : NULL;

    snprintf(d->text + used, sizeof d->text - used, "%s:%u: %s\n", base ? base + 1 : file ? file : "-",
             line, msg);
    d->count++;
}

static char *write_file(const char *name, const char *text)
{
    static char path[8][256];
    static int slot;
    char *p = path[slot++ % 8];
    FILE *f;

    snprintf(p, 256, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Loads one YAML text; returns the rc, the ruleset in *rs on success. */
static int load_text(const char *text, struct ruleset **rs, struct diags *d)
{
    const char *path = write_file("r.yaml", text);

    memset(d, 0, sizeof *d);
    *rs = NULL;
    return ruleset_load(rs, &path, 1, on_diag, d);
}

static struct ruleset *load_ok(const char *text)
{
    struct diags d;
    struct ruleset *rs;

    if (load_text(text, &rs, &d) != 0)
        fail_msg("load failed: %s", d.text);
    return rs;
}

static Bulwark__V1__Event *event(const char *json)
{
    char err[256];
    Bulwark__V1__Event *ev = NULL;

    if (evjson_event_from_line(json, strlen(json), &ev, err, sizeof err) != 0)
        fail_msg("bad event %s: %s", json, err);
    return ev;
}

struct got {
    char names[32][128];
    char outputs[32][512];
    char keys[32][128];
    int32_t prio[32];
    size_t n_ev[32];
    uint64_t ev_seq[32][8];
    size_t n;
};

static void on_alert(void *ctx, const struct rules_alert *a)
{
    struct got *g = ctx;

    if (g->n >= 32)
        return;
    snprintf(g->names[g->n], sizeof g->names[0], "%s", a->rule);
    snprintf(g->outputs[g->n], sizeof g->outputs[0], "%s", a->output);
    snprintf(g->keys[g->n], sizeof g->keys[0], "%s", a->group_key);
    g->prio[g->n] = a->priority;
    g->n_ev[g->n] = a->n_evidence;
    for (size_t i = 0; i < a->n_evidence && i < 8; i++)
        g->ev_seq[g->n][i] = a->evidence[i].seq;
    g->n++;
}

/* Evaluates one event (JSON) with seq; returns the number of alerts. */
static int eval_json(struct rules_engine *e, const char *json, uint64_t seq, struct got *g)
{
    struct rules_event_meta m = {"agent-1", "node-1", 7, seq};
    Bulwark__V1__Event *ev = event(json);
    int rc = rules_engine_eval(e, ev, &m, on_alert, g);

    evjson_event_free(ev);
    return rc;
}

/* Whether condition cond (one rule) matches event json. */
static bool matches(const char *cond, const char *json)
{
    char text[4096];
    struct ruleset *rs;
    struct rules_engine *e;
    struct got g = {0};
    size_t enabled;

    snprintf(text, sizeof text,
             "- list: shells\n  items: [sh, bash]\n"
             "- list: more\n  items: [shells, zsh]\n"
             "- rule: r\n  condition: '%s'\n  output: x\n  priority: INFO\n", cond);
    rs = load_ok(text);
    ruleset_counts(rs, NULL, &enabled, NULL);
    if (enabled != 1)
        fail_msg("condition not supported: %s", cond);
    e = rules_engine_new(rs);
    assert_non_null(e);
    eval_json(e, json, 1, &g);
    rules_engine_free(e);
    ruleset_free(rs);
    return g.n == 1;
}

static const char *const EXEC =
    "{\"kind\":\"exec\",\"time_ns\":1000,\"container\":{\"id\":\"c1\",\"name\":\"web\","
    "\"image\":\"reg.io:5000/shop/web:1.2\",\"image_digest\":\"sha256:aa\"},"
    "\"process\":{\"pid\":42,\"uid\":0,\"name\":\"bash\",\"exe\":\"/bin/bash\","
    "\"cmdline\":\"bash -c Curl http://x\",\"parent_name\":\"nginx\",\"user\":\"root\"},"
    "\"exec\":{\"cwd\":\"/tmp\",\"tty\":true}}";
static const char *const NET =
    "{\"kind\":\"net\",\"time_ns\":1000,\"process\":{\"name\":\"curl\"},\"net\":{\"direction\":\"outbound\","
    "\"local_addr\":\"10.0.0.1\",\"local_port\":40000,\"remote_addr\":\"1.2.3.4\",\"remote_port\":3333,"
    "\"remote_name\":\"pool.example.com\"}}";
static const char *const CFG =
    "{\"kind\":\"config\",\"time_ns\":1000,\"container\":{\"id\":\"c1\"},\"config\":{\"privileged\":true,"
    "\"user_uid\":0,\"cap_add\":[\"NET_ADMIN\",\"SYS_ADMIN\"],\"mounts\":[{\"source\":\"/etc/kubernetes\","
    "\"target\":\"/k\"},{\"source\":\"/data\",\"target\":\"/d\",\"read_only\":true}]}}";

/* An exec whose source gave no ids, tty, lineage or namespaces. */
static const char *const EXEC_BARE =
    "{\"kind\":\"exec\",\"time_ns\":1000,\"process\":{\"pid\":42,\"name\":\"bash\"},\"exec\":{}}";
/* bash (42) < sh (41) < sshd (40, the session leader) < systemd (1), as the
 * proc collector reads it at exec. */
static const char *const EXEC_CHAIN =
    "{\"kind\":\"exec\",\"time_ns\":1000,\"process\":{\"pid\":42,\"ppid\":41,\"name\":\"bash\","
    "\"exe\":\"/bin/bash\",\"uid\":1000,\"gid\":0,\"parent_name\":\"sh\",\"ancestors\":["
    "{\"pid\":41,\"name\":\"sh\",\"exe\":\"/bin/sh\"},{\"pid\":40,\"name\":\"sshd\","
    "\"exe\":\"/usr/sbin/sshd\"},{\"pid\":1,\"name\":\"systemd\"}],\"parent_cmdline\":\"sh -c x\","
    "\"loginuid\":1000,\"vpid\":7,\"vtid\":7,\"sid\":40,\"pgid\":42,\"vpgid\":7,"
    "\"session_name\":\"sshd\",\"cap_effective\":2162688,\"cap_permitted\":0},"
    "\"exec\":{\"tty\":true,\"tty_nr\":34816}}";

/* -------------------------------------------------------------- tests */

static void test_operators(void **state)
{
    (void)state;
    assert_true(matches("proc.name = bash", EXEC));
    assert_true(matches("proc.name == bash", EXEC));
    assert_false(matches("proc.name != bash", EXEC));
    assert_true(matches("proc.pid < 43 and proc.pid <= 42 and proc.pid > 41 and proc.pid >= 42", EXEC));
    assert_false(matches("proc.pid > 42", EXEC));
    assert_true(matches("proc.cmdline contains \"-c Curl\"", EXEC));
    assert_false(matches("proc.cmdline contains curl", EXEC));
    assert_true(matches("proc.cmdline icontains CURL", EXEC));
    assert_true(matches("proc.exe startswith /bin/", EXEC));
    assert_true(matches("proc.exe endswith /bash", EXEC));
    assert_true(matches("proc.exe glob \"/b*/ba?h\"", EXEC));
    assert_false(matches("proc.exe glob \"/usr/*\"", EXEC));
    assert_true(matches("proc.name in (sh, bash)", EXEC));
    assert_true(matches("proc.name in (more)", EXEC));        /* list in a list */
    assert_false(matches("proc.name in (zsh, \"shells\")", EXEC));  /* quoted: not a list name */
    assert_true(matches("proc.pid in (1, 42)", EXEC));
    assert_true(matches("proc.exe pmatch (/usr, /bin)", EXEC));
    assert_false(matches("proc.exe pmatch (/bi)", EXEC));
    assert_true(matches("proc.cwd exists", EXEC));
    assert_false(matches("fd.name exists", EXEC));
    assert_true(matches("not fd.name = x", EXEC));           /* absent field: comparisons false */
    assert_true(matches("(proc.name = sh or proc.name = bash) and not proc.pname = sh", EXEC));
    assert_true(matches("evt.type = execve and evt.dir = <", EXEC));
    assert_true(matches("evt.type in (open, execve) and evt.dir=<", EXEC));
    assert_true(matches("evt.type = exec and evt.type != connect", EXEC));
    assert_true(matches("proc.tty != 0 and user.uid = 0 and user.name = root", EXEC));
    assert_true(matches("container.image.repository = reg.io:5000/shop/web and container.image.tag = 1.2", EXEC));
    assert_true(matches("config.cap_add intersects (SYS_ADMIN, SYS_PTRACE)", CFG));
    assert_false(matches("config.cap_add in (SYS_ADMIN, SYS_PTRACE)", CFG));
    assert_true(matches("config.cap_add in (SYS_ADMIN, NET_ADMIN, X)", CFG));
    assert_true(matches("config.mounts.rw_source pmatch (/etc)", CFG));
    assert_false(matches("config.mounts.rw_source = /data", CFG));
    assert_true(matches("config.privileged = true and container.privileged = true and config.user_uid = 0", CFG));
    assert_true(matches("fd.sport = 3333 and fd.sip.name = pool.example.com and fd.l4proto = tcp", NET));
    assert_true(matches("fd.name = \"10.0.0.1:40000->1.2.3.4:3333\" and net.dest = pool.example.com:3333", NET));
    assert_true(matches("container.id = host and evt.type = connect", NET));
}

/* Absent is not zero: a field the source did not give has no value, so
 * every comparison on it is false (= and != alike, as in Falco), `not` of
 * one is true and `exists` is false; a missing uid is never root. */
static void test_absent_fields(void **state)
{
    (void)state;
    assert_false(matches("user.uid = 0", EXEC_BARE));
    assert_false(matches("user.uid != 0", EXEC_BARE));
    assert_false(matches("user.uid < 1000", EXEC_BARE));
    assert_false(matches("user.uid in (0, 1)", EXEC_BARE));
    assert_true(matches("not user.uid = 0", EXEC_BARE));
    assert_false(matches("user.uid exists", EXEC_BARE));
    assert_false(matches("group.gid = 0", EXEC_BARE));
    assert_false(matches("proc.tty = 0", EXEC_BARE));
    assert_false(matches("proc.tty != 0", EXEC_BARE));
    assert_false(matches("user.loginuid = -1", EXEC_BARE));
    assert_false(matches("proc.vpid exists or proc.sid exists or proc.is_vpgid_leader = false", EXEC_BARE));
    assert_false(matches("proc.aname exists or proc.aname[1] exists or proc.pcmdline exists", EXEC_BARE));
    assert_true(matches("not proc.aname in (sshd)", EXEC_BARE));
    assert_true(matches("proc.aname[0] = bash and proc.apid[0] = 42", EXEC_BARE));
    /* present zeros are values */
    assert_true(matches("user.uid exists and user.uid = 0", EXEC));
    assert_true(matches("group.gid = 0", EXEC_CHAIN));
    assert_true(matches("proc.tty = 1", EXEC));  /* a source that only knows there is one */
    assert_false(matches("user.uid = 0", EXEC_CHAIN));
}

/* What the eBPF sensor adds for Falco's container rules: fd.num of an
 * open, container.privileged on any event, evt.type socket. */
static void test_sensor_container_fields(void **state)
{
    static const char *const RA =
        "{\"kind\":\"file\",\"time_ns\":1000,\"container\":{\"id\":\"c1\"},"
        "\"process\":{\"uid\":0,\"cap_effective\":2097152},"
        "\"file\":{\"op\":\"write\",\"path\":\"/tmp/cg/release_agent\",\"fd\":3}}";
    static const char *const RA_NO_FD =
        "{\"kind\":\"file\",\"time_ns\":1000,\"container\":{\"id\":\"c1\"},"
        "\"file\":{\"op\":\"write\",\"path\":\"/tmp/cg/release_agent\"}}";
    static const char *const PRIV =
        "{\"kind\":\"exec\",\"time_ns\":1000,\"container\":{\"id\":\"c1\",\"privileged\":true},"
        "\"process\":{\"name\":\"debugfs\"},\"exec\":{}}";
    static const char *const PACKET =
        "{\"kind\":\"syscall\",\"time_ns\":1000,\"container\":{\"id\":\"c1\"},"
        "\"syscall\":{\"type\":\"socket\",\"res\":3,\"args\":{\"domain\":\"AF_PACKET\"}}}";
    const char *open_write = "evt.type in (open,openat,openat2) and evt.is_open_write=true and "
                             "fd.typechar=f and fd.num>=0 and fd.name endswith release_agent and "
                             "thread.cap_effective contains CAP_SYS_ADMIN";

    (void)state;
    assert_true(matches(open_write, RA));
    assert_false(matches(open_write, RA_NO_FD));
    assert_true(matches("fd.num = 3", RA));
    assert_true(matches("container.privileged = true and proc.name = debugfs", PRIV));
    assert_false(matches("container.privileged = true", EXEC));   /* absent: unknown */
    assert_true(matches("not container.privileged = true", EXEC));
    assert_true(matches("container.privileged = true", CFG));     /* a config event's own */
    assert_true(matches("evt.type = socket and evt.arg.domain contains AF_PACKET", PACKET));
    assert_false(matches("evt.type = socket", EXEC));
    assert_false(matches("evt.type = dup2", PACKET));
}

/* The exec-time lineage fields (procref_build fills them). */
static void test_lineage_fields(void **state)
{
    (void)state;
    assert_true(matches("proc.aname[0] = bash and proc.aname[1] = sh and proc.aname[2] = sshd and "
                        "proc.aname[3] = systemd and proc.pname = sh", EXEC_CHAIN));
    assert_false(matches("proc.aname[4] exists", EXEC_CHAIN));
    assert_false(matches("proc.aname[x] exists", EXEC_CHAIN));
    assert_true(matches("proc.apid[1] = 41 and proc.apid[2] = 40 and proc.apid[3] = 1", EXEC_CHAIN));
    assert_true(matches("proc.aname = sshd and proc.aname in (login, sshd)", EXEC_CHAIN));
    assert_false(matches("proc.aname in (login, su)", EXEC_CHAIN));
    assert_false(matches("proc.aname = bash", EXEC_CHAIN));  /* the process is not its own ancestor */
    assert_true(matches("not proc.aname in (login, su)", EXEC_CHAIN));
    assert_true(matches("proc.aexe[2] = /usr/sbin/sshd and proc.aexepath[1] = /bin/sh and "
                        "proc.pexe = /bin/sh and proc.pexepath = /bin/sh and proc.pcmdline = \"sh -c x\"",
                        EXEC_CHAIN));
    assert_false(matches("proc.aexe[3] exists", EXEC_CHAIN));  /* systemd's exe was not readable */
    assert_true(matches("proc.sname = sshd and proc.sid = 40 and proc.is_sid_leader = false", EXEC_CHAIN));
    assert_true(matches("proc.vpid = 7 and proc.vtid = 7 and thread.vtid = 7 and proc.vpgid = 7 and "
                        "proc.pgid = 42 and proc.is_vpgid_leader = true", EXEC_CHAIN));
    assert_true(matches("proc.tty = 34816 and user.loginuid = 1000 and user.uid = 1000", EXEC_CHAIN));
    /* 2162688 = bits 16 and 21 */
    assert_true(matches("thread.cap_effective = \"CAP_SYS_MODULE CAP_SYS_ADMIN\" and "
                        "thread.cap_effective icontains sys_module and thread.cap_permitted = \"\"",
                        EXEC_CHAIN));
    assert_false(matches("thread.cap_effective exists", EXEC_BARE));
    assert_true(matches("proc.is_exe_from_memfd = false", EXEC_CHAIN));
    assert_false(matches("proc.is_exe_from_memfd exists", EXEC_BARE));  /* no exe: unknown */
    assert_true(matches("proc.is_exe_from_memfd = true",
                        "{\"kind\":\"exec\",\"process\":{\"pid\":5,\"exe\":\"/memfd:x (deleted)\"},\"exec\":{}}"));
    assert_true(matches("user.loginuid = -1",
                        "{\"kind\":\"exec\",\"process\":{\"pid\":5,\"loginuid\":4294967295},\"exec\":{}}"));
}

/* Fields of the eBPF sensor's events that Falco's stable rules ask for:
 * proc.duration, the address fields and fd.connected of "outbound", an
 * open's fd.num and evt.arg.flags, and the link syscalls' types. */
static void test_sensor_fields(void **state)
{
    static const char *const OUTBOUND =
        "((evt.type = connect or (evt.type in (sendto,sendmsg) and fd.l4proto != tcp and "
        "fd.connected=false and fd.name_changed=true)) and (fd.typechar = 4 or fd.typechar = 6) and "
        "(fd.ip != \"0.0.0.0\" and fd.net != \"127.0.0.0/8\" and not fd.snet in (rfc_1918)) and "
        "(evt.rawres >= 0 or evt.res = EINPROGRESS) and fd.sport in (443, 22))";
    char text[1024];
    struct ruleset *rs;
    struct rules_engine *e;
    struct got g = {0};
    const char *out_public =
        "{\"kind\":\"net\",\"time_ns\":1000,\"process\":{\"name\":\"ssh\"},\"net\":{\"direction\":"
        "\"outbound\",\"local_addr\":\"192.0.2.2\",\"local_port\":40000,\"remote_addr\":\"203.0.113.7\","
        "\"remote_port\":443,\"res\":-115}}";

    (void)state;
    /* proc.duration: event time minus the process's start */
    assert_true(matches("proc.duration = 6000000000",
                        "{\"kind\":\"exec\",\"time_ns\":7000000000,\"process\":{\"pid\":5,"
                        "\"start_time_ns\":1000000000},\"exec\":{}}"));
    assert_false(matches("proc.duration exists", EXEC_BARE));
    assert_true(matches("not proc.duration <= 5000000000",
                        "{\"kind\":\"file\",\"time_ns\":9000000000,\"process\":{\"pid\":5,"
                        "\"start_time_ns\":1000000000},\"file\":{\"op\":\"open\",\"path\":\"/etc/shadow\"}}"));
    /* addresses: either end for fd.ip and fd.net, one end for the others */
    assert_true(matches("fd.net = \"1.2.0.0/16\" and fd.net = \"10.0.0.0/8\" and fd.ip = 1.2.3.4", NET));
    assert_true(matches("fd.snet = \"1.2.3.0/24\" and fd.cnet = \"10.0.0.0/8\" and "
                        "fd.rnet = 1.2.3.4 and fd.lnet != \"1.0.0.0/8\"", NET));
    assert_false(matches("fd.snet in (\"10.0.0.0/8\", \"172.16.0.0/12\")", NET));
    assert_true(matches("fd.net != \"10.0.0.0/8\"", NET));  /* the remote end is outside */
    assert_false(matches("fd.lnet != \"10.0.0.0/8\"", NET));
    assert_true(matches("fd.snet = \"1.2.3.4/31\" and not fd.snet = \"1.2.3.6/31\"", NET));
    assert_true(matches("fd.connected = true and fd.name_changed = false", NET));
    assert_false(matches("evt.rawres exists or evt.res exists", NET));
    assert_true(matches("evt.res = EINPROGRESS and evt.rawres = -115", out_public));
    assert_false(matches("fd.snet exists", EXEC));
    /* Falco's outbound macro, its list items quoted as in the stable file */
    snprintf(text, sizeof text,
             "- list: rfc_1918\n  items: ['\"10.0.0.0/8\"', '\"172.16.0.0/12\"', '\"192.168.0.0/16\"']\n"
             "- rule: r\n  condition: '%s'\n  output: x\n  priority: INFO\n", OUTBOUND);
    rs = load_ok(text);
    e = rules_engine_new(rs);
    assert_non_null(e);
    eval_json(e, out_public, 1, &g);
    assert_int_equal(g.n, 1);
    g.n = 0;
    eval_json(e, NET, 2, &g);  /* port 3333; no result known */
    eval_json(e, "{\"kind\":\"net\",\"net\":{\"direction\":\"outbound\",\"local_addr\":\"192.0.2.2\","
              "\"local_port\":1,\"remote_addr\":\"203.0.113.7\",\"remote_port\":443,\"res\":-111}}", 5, &g);
    eval_json(e, "{\"kind\":\"net\",\"net\":{\"direction\":\"outbound\",\"local_addr\":\"127.0.0.1\","
              "\"local_port\":1,\"remote_addr\":\"127.0.0.1\",\"remote_port\":443}}", 3, &g);
    eval_json(e, "{\"kind\":\"net\",\"net\":{\"direction\":\"outbound\",\"local_addr\":\"192.168.1.2\","
              "\"local_port\":1,\"remote_addr\":\"192.168.1.9\",\"remote_port\":443}}", 4, &g);
    assert_int_equal(g.n, 0);
    rules_engine_free(e);
    ruleset_free(rs);
    { /* a bad network is refused at load */
        struct diags d;

        assert_int_equal(load_text("- rule: r\n  condition: fd.net = \"10.0.0.0/33\"\n  output: x\n"
                                   "  priority: INFO\n", &rs, &d), 0);
        assert_non_null(strstr(d.text, "10.0.0.0/33"));
        ruleset_free(rs);
    }
    /* an open the sensor saw: its fd and flags */
    assert_true(matches("evt.type = openat and evt.is_open_write = true and fd.num >= 0 and "
                        "evt.arg.flags contains O_TRUNC and evt.arg.name = /var/log/syslog and "
                        "fd.filename = syslog",
                        "{\"kind\":\"file\",\"process\":{\"pid\":5},\"file\":{\"op\":\"write\","
                        "\"path\":\"/var/log/syslog\",\"fd\":3,\"open_flags\":\"O_TRUNC|O_WRONLY\"}}"));
    assert_false(matches("fd.num >= 0 or evt.arg.flags exists",
                         "{\"kind\":\"file\",\"file\":{\"op\":\"write\",\"path\":\"/var/log/syslog\"}}"));
    /* the link syscalls */
    assert_true(matches("evt.type in (symlink, symlinkat) and evt.arg.target = /etc/shadow",
                        "{\"kind\":\"syscall\",\"syscall\":{\"type\":\"symlinkat\",\"args\":"
                        "{\"target\":\"/etc/shadow\",\"linkpath\":\"/tmp/x\"}}}"));
    assert_true(matches("evt.type in (link, linkat) and evt.arg.oldpath = /etc/shadow",
                        "{\"kind\":\"syscall\",\"syscall\":{\"type\":\"linkat\",\"args\":"
                        "{\"oldpath\":\"/etc/shadow\",\"newpath\":\"/tmp/x\"}}}"));
    assert_false(matches("evt.type = link",
                         "{\"kind\":\"syscall\",\"syscall\":{\"type\":\"symlink\"}}"));
}

static void test_lists_macros_override_append(void **state)
{
    struct ruleset *rs;
    struct rules_engine *e;
    struct got g = {0};
    size_t total, enabled;

    (void)state;
    rs = load_ok("- list: shells\n  items: [sh]\n"
                 "- list: shells\n  items: [bash]\n  append: true\n"       /* old form */
                 "- list: shells\n  items: [zsh]\n  override:\n    items: append\n"
                 "- macro: shell\n  condition: proc.name in (shells)\n"
                 "- macro: shell\n  condition: or proc.name = fish\n  append: true\n"
                 "- rule: Shell\n  condition: shell\n  output: \"shell %proc.name\"\n  priority: ERROR\n"
                 "- rule: Shell\n  condition: and proc.pname != cron\n  override:\n    condition: append\n"
                 "- rule: Off\n  condition: proc.name = x\n  output: x\n  priority: INFO\n"
                 "- rule: Off\n  enabled: false\n"
                 "- rule: Exc\n  condition: proc.name in (shells)\n  output: x\n  priority: INFO\n"
                 "  exceptions:\n  - name: by_parent\n    fields: [proc.pname, proc.exe]\n"
                 "    comps: [=, startswith]\n    values:\n    - [nginx, /bin]\n"
                 "- rule: Exc\n  exceptions:\n  - name: by_parent\n    values:\n    - [sshd, /]\n"
                 "  override:\n    exceptions: append\n");
    ruleset_counts(rs, &total, &enabled, NULL);
    assert_int_equal(total, 3);
    assert_int_equal(enabled, 2);
    e = rules_engine_new(rs);
    assert_non_null(e);
    /* bash (appended list), parent nginx: Shell fires; Exc is excepted */
    assert_int_equal(eval_json(e, EXEC, 1, &g), 1);
    assert_string_equal(g.names[0], "Shell");
    assert_string_equal(g.outputs[0], "shell bash");
    assert_int_equal(g.prio[0], BULWARK__V1__SEVERITY__SEVERITY_ERROR);
    /* zsh (override append) from sshd, exe /usr/bin/zsh: Shell and Exc (other tuple applies to sshd) */
    g.n = 0;
    assert_int_equal(eval_json(e, "{\"kind\":\"exec\",\"process\":{\"name\":\"zsh\",\"parent_name\":\"cron\","
                                  "\"exe\":\"/usr/bin/zsh\"},\"exec\":{}}", 2, &g), 1);
    assert_string_equal(g.names[0], "Exc");  /* Shell excluded by the appended "and proc.pname != cron" */
    g.n = 0;
    assert_int_equal(eval_json(e, "{\"kind\":\"exec\",\"process\":{\"name\":\"fish\",\"parent_name\":\"sshd\","
                                  "\"exe\":\"/usr/bin/fish\"},\"exec\":{}}", 3, &g), 1);
    assert_string_equal(g.names[0], "Shell");  /* macro append; fish not in shells for Exc */
    g.n = 0;
    assert_int_equal(eval_json(e, "{\"kind\":\"exec\",\"process\":{\"name\":\"sh\",\"parent_name\":\"sshd\","
                                  "\"exe\":\"/usr/bin/sh\"},\"exec\":{}}", 4, &g), 1);
    assert_string_equal(g.names[0], "Shell");  /* Exc excepted by the appended tuple (sshd, /) */
    rules_engine_free(e);
    ruleset_free(rs);
}

static void test_syntax_errors(void **state)
{
    struct ruleset *rs = (struct ruleset *)0x1;
    struct diags d;

    (void)state;
    /* YAML error: line of the problem */
    memset(&d, 0, sizeof d);
    assert_int_equal(load_text("- rule: a\n  condition: x = 1\n  output: [unclosed\n", &rs, &d), BW_ECONFIG);
    assert_ptr_equal(rs, NULL);
    assert_non_null(strstr(d.text, "r.yaml:"));
    /* condition error: line of the rule's condition, out untouched */
    rs = (struct ruleset *)0x1;
    {
        const char *path = write_file("bad.yaml", "- macro: ok\n  condition: proc.name = a\n"
                                                  "- rule: a\n  output: x\n  priority: INFO\n"
                                                  "  condition: >\n    proc.name = a and\n    (proc.pid = 1\n");

        memset(&d, 0, sizeof d);
        assert_int_equal(ruleset_load(&rs, &path, 1, on_diag, &d), BW_ECONFIG);
        assert_ptr_equal(rs, (struct ruleset *)0x1);
        assert_non_null(strstr(d.text, "bad.yaml:7: condition: expected ')'"));
    }
    /* an error in an appended fragment points at the append */
    {
        const char *paths[2];

        paths[0] = write_file("base.yaml", "- rule: a\n  condition: proc.name = a\n  output: x\n  priority: INFO\n");
        paths[1] = write_file("local.yaml", "\n\n- rule: a\n  condition: and (\n  override:\n    condition: append\n");
        memset(&d, 0, sizeof d);
        assert_int_equal(ruleset_load(&rs, paths, 2, on_diag, &d), BW_ECONFIG);
        assert_non_null(strstr(d.text, "local.yaml:4:"));
    }
    /* unknown priority, item that is not a mapping, missing condition */
    assert_int_equal(load_text("- rule: a\n  condition: proc.name = a\n  priority: LOUD\n", &rs, &d), BW_ECONFIG);
    assert_non_null(strstr(d.text, "r.yaml:3: unknown priority 'LOUD'"));
    assert_int_equal(load_text("- just a string\n", &rs, &d), BW_ECONFIG);
    assert_int_equal(load_text("- rule: a\n  output: x\n", &rs, &d), BW_ECONFIG);
    assert_int_equal(load_text("- rule: a\n  condition: proc.name = \"open\n", &rs, &d), BW_ECONFIG);
    assert_ptr_equal(rs, NULL);
}

static void test_unsupported_disabled(void **state)
{
    struct ruleset *rs;
    struct diags d;
    size_t total, enabled, unsupported;

    (void)state;
    assert_int_equal(load_text("- macro: open_write\n  condition: evt.type in (open, openat) and evt.is_open_write=true and fd.ino>=0\n"
                               "- rule: Uses macro\n  condition: open_write and fd.name startswith /etc\n  output: x\n  priority: INFO\n"
                               "- rule: Regex\n  condition: proc.name regex 'a.*'\n  output: x\n  priority: INFO\n"
                               "- rule: Transformer\n  condition: tolower(proc.name) = bash\n  output: x\n  priority: INFO\n"
                               "- rule: Val\n  condition: proc.name = val(proc.pname)\n  output: x\n  priority: INFO\n"
                               "- rule: K8s audit\n  condition: ka.verb = create\n  output: x\n  priority: INFO\n  source: k8s_audit\n"
                               "- rule: Undefined macro\n  condition: no_such_macro\n  output: x\n  priority: INFO\n"
                               "- rule: Bad number\n  condition: proc.pid = abc\n  output: x\n  priority: INFO\n"
                               "- rule: Fine\n  condition: proc.name = bash\n  output: \"%evt.arg.flags %proc.name\"\n  priority: INFO\n",
                               &rs, &d),
                     0);
    ruleset_counts(rs, &total, &enabled, &unsupported);
    assert_int_equal(total, 8);
    assert_int_equal(enabled, 1);
    assert_int_equal(unsupported, 7);
    assert_int_equal(d.count, 7);  /* each reported once */
    assert_non_null(strstr(d.text, "r.yaml:3: rule 'Uses macro' disabled: unsupported field 'fd.ino'"));
    assert_non_null(strstr(d.text, "r.yaml:7: rule 'Regex' disabled: unsupported operator 'regex'"));
    assert_non_null(strstr(d.text, "unsupported transformer 'tolower'"));
    assert_non_null(strstr(d.text, "unsupported transformer in value of 'proc.name'"));
    assert_non_null(strstr(d.text, "unsupported source 'k8s_audit'"));
    assert_non_null(strstr(d.text, "undefined macro 'no_such_macro'"));
    assert_non_null(strstr(d.text, "invalid value 'abc'"));
    {   /* the supported rule runs; unknown output fields render <NA> */
        struct rules_engine *e = rules_engine_new(rs);
        struct got g = {0};

        assert_int_equal(eval_json(e, EXEC, 1, &g), 1);
        assert_string_equal(g.outputs[0], "<NA> bash");
        rules_engine_free(e);
    }
    ruleset_free(rs);
}

static void test_output_rendering(void **state)
{
    struct ruleset *rs;
    struct rules_engine *e;
    struct got g = {0};

    (void)state;
    rs = load_ok("- rule: o\n  condition: evt.type = execve\n  priority: notice\n"
                 "  output: \"Shell %proc.name. by %proc.pname (user=%user.name uid=%user.uid tty=%proc.tty)"
                 " in %container.name/%container.image.tag 100%% %fd.name %nosuch.field at %host.name\"\n");
    e = rules_engine_new(rs);
    eval_json(e, EXEC, 1, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.outputs[0], "Shell bash. by nginx (user=root uid=0 tty=1) in web/1.2 100% <NA> <NA> at node-1");
    assert_int_equal(g.prio[0], BULWARK__V1__SEVERITY__SEVERITY_NOTICE);
    assert_string_equal(g.keys[0], "c1");  /* default group key: the container */
    assert_int_equal(g.n_ev[0], 1);
    assert_int_equal(g.ev_seq[0][0], 1);
    rules_engine_free(e);
    ruleset_free(rs);
}

static void test_kind_index(void **state)
{
    struct ruleset *rs;

    (void)state;
    rs = load_ok("- rule: a\n  condition: evt.type = execve and proc.name = x\n  output: x\n  priority: INFO\n"
                 "- rule: b\n  condition: fd.sport = 1 or evt.type = execve\n  output: x\n  priority: INFO\n"
                 "- rule: c\n  condition: not proc.name = x\n  output: x\n  priority: INFO\n"
                 "- rule: d\n  condition: config.privileged = true\n  output: x\n  priority: INFO\n"
                 "- rule: e\n  condition: evt.type in (open, rename)\n  output: x\n  priority: INFO\n");
    /* kinds: exec 0, net 1, file 2, resource 3, config 4 */
    assert_int_equal(rs->n_by_kind[0], 3);  /* a, b, c */
    assert_int_equal(rs->n_by_kind[1], 2);  /* b, c */
    assert_int_equal(rs->n_by_kind[2], 2);  /* c, e */
    assert_int_equal(rs->n_by_kind[3], 1);  /* c */
    assert_int_equal(rs->n_by_kind[4], 2);  /* c, d */
    ruleset_free(rs);
}

static char *ev_at(char *buf, size_t n, const char *kind, const char *cid, int64_t t, const char *body)
{
    snprintf(buf, n, "{\"kind\":\"%s\",\"time_ns\":%lld,\"container\":{\"id\":\"%s\"},%s}", kind,
             (long long)t, cid, body);
    return buf;
}

#define SEC 1000000000LL

static const char *const CORR_RULES =
    "- rule: A\n  condition: proc.name = a\n  output: a\n  priority: INFO\n"
    "- rule: B\n  condition: proc.name = b\n  output: b\n  priority: INFO\n  enabled: false\n"
    "- rule: Both\n  correlate:\n    all: [A, B]\n    within: 60s\n    by: container.id\n"
    "  output: \"both in %container.id\"\n  priority: CRITICAL\n"
    "- rule: Seq\n  correlate:\n    sequence: [A, {condition: proc.name = c}]\n    within: 1m\n"
    "  output: seq\n  priority: ERROR\n"
    "- rule: Thr\n  condition: proc.name = t\n  threshold:\n    count: 3\n    within: 10s\n    by: container.id\n"
    "  output: thr\n  priority: WARNING\n";

static int feed(struct rules_engine *e, const char *cid, int64_t t, const char *name, uint64_t seq, struct got *g)
{
    char buf[512], body[128];

    snprintf(body, sizeof body, "\"process\":{\"name\":\"%s\"},\"exec\":{}", name);
    return eval_json(e, ev_at(buf, sizeof buf, "exec", cid, t, body), seq, g);
}

static void test_correlation_windows(void **state)
{
    struct ruleset *rs = load_ok(CORR_RULES);
    struct rules_engine *e = rules_engine_new(rs);
    struct got g = {0};

    (void)state;
    /* all-of: A then B (B is silent: enabled false, still evaluated) 30 s later */
    assert_int_equal(feed(e, "c1", 100 * SEC, "a", 1, &g), 1);
    assert_int_equal(feed(e, "c2", 110 * SEC, "b", 2, &g), 0);  /* other container */
    assert_int_equal(feed(e, "c1", 130 * SEC, "b", 3, &g), 1);
    assert_string_equal(g.names[1], "Both");
    assert_string_equal(g.outputs[1], "both in c1");
    assert_string_equal(g.keys[1], "c1");
    assert_int_equal(g.n_ev[1], 2);
    assert_int_equal(g.ev_seq[1][0], 3);  /* the triggering event first */
    assert_int_equal(g.ev_seq[1][1], 1);
    /* fired once: the window starts again */
    g.n = 0;
    assert_int_equal(feed(e, "c1", 131 * SEC, "b", 4, &g), 0);
    /* too far apart: no correlation */
    assert_int_equal(feed(e, "c3", 200 * SEC, "a", 5, &g), 1);
    assert_int_equal(feed(e, "c3", 261 * SEC, "b", 6, &g), 0);
    /* sequence: c before A does not count; A then c within 1 m does */
    g.n = 0;
    assert_int_equal(feed(e, "c4", 300 * SEC, "c", 7, &g), 0);
    assert_int_equal(feed(e, "c4", 310 * SEC, "a", 8, &g), 1);
    assert_int_equal(feed(e, "c4", 320 * SEC, "c", 9, &g), 1);
    assert_string_equal(g.names[1], "Seq");
    assert_int_equal(feed(e, "c5", 400 * SEC, "a", 10, &g), 1);
    assert_int_equal(feed(e, "c5", 461 * SEC, "c", 11, &g), 0);  /* 61 s: too late */
    /* threshold: 3 within 10 s */
    g.n = 0;
    assert_int_equal(feed(e, "c6", 1000 * SEC, "t", 12, &g), 0);
    assert_int_equal(feed(e, "c6", 1005 * SEC, "t", 13, &g), 0);
    assert_int_equal(feed(e, "c6", 1011 * SEC, "t", 14, &g), 0);  /* oldest is 11 s old */
    assert_int_equal(feed(e, "c6", 1012 * SEC, "t", 15, &g), 1);
    assert_string_equal(g.names[0], "Thr");
    assert_int_equal(g.n_ev[0], 3);
    assert_int_equal(g.ev_seq[0][0], 15);
    assert_int_equal(g.ev_seq[0][2], 13);
    assert_int_equal(feed(e, "c6", 1013 * SEC, "t", 16, &g), 0);  /* starts again */
    rules_engine_free(e);
    ruleset_free(rs);
}

static void test_save_restore_and_swap(void **state)
{
    struct ruleset *rs = load_ok(CORR_RULES), *rs2;
    struct rules_engine *e = rules_engine_new(rs), *e2;
    struct got g = {0};
    struct buf b;

    (void)state;
    buf_init(&b, 1 << 20);
    assert_int_equal(feed(e, "c1", 100 * SEC, "a", 1, &g), 1);
    assert_int_equal(feed(e, "c9", 100 * SEC, "t", 2, &g), 0);
    assert_int_equal(feed(e, "c9", 101 * SEC, "t", 3, &g), 0);
    assert_int_equal(rules_engine_save(e, &b), 0);
    /* a restored engine completes the half-done windows */
    e2 = rules_engine_new(rs);
    assert_int_equal(rules_engine_restore(e2, buf_head(&b), buf_size(&b)), 0);
    g.n = 0;
    assert_int_equal(feed(e2, "c1", 110 * SEC, "b", 4, &g), 1);
    assert_string_equal(g.names[0], "Both");
    assert_int_equal(feed(e2, "c9", 102 * SEC, "t", 5, &g), 1);
    /* malformed blobs are refused and change nothing */
    assert_int_equal(rules_engine_restore(e2, buf_head(&b), buf_size(&b) - 1), BW_EINVAL);
    assert_int_equal(rules_engine_restore(e2, (const uint8_t *)"garbage!", 8), BW_EINVAL);
    rules_engine_free(e2);
    /* hot swap: rules whose names persist keep their windows */
    rs2 = load_ok("- rule: A\n  condition: proc.name = a\n  output: a2\n  priority: INFO\n"
                  "- rule: B\n  condition: proc.name = b\n  output: b\n  priority: INFO\n  enabled: false\n"
                  "- rule: New\n  condition: proc.name = n\n  output: n\n  priority: INFO\n"
                  "- rule: Both\n  correlate:\n    all: [A, B]\n    within: 60s\n    by: container.id\n"
                  "  output: \"both again\"\n  priority: CRITICAL\n");
    assert_int_equal(rules_engine_swap(e, rs2), 0);
    ruleset_free(rs);
    g.n = 0;
    assert_int_equal(feed(e, "c1", 120 * SEC, "b", 6, &g), 1);
    assert_string_equal(g.outputs[0], "both again");
    assert_int_equal(feed(e, "c1", 121 * SEC, "n", 7, &g), 1);
    rules_engine_free(e);
    ruleset_free(rs2);
    buf_release(&b);
}


/* A container event of image (ref, digest) at t. */
static char *ctr_at(char *buf, size_t n, const char *id, const char *ref, const char *digest, int64_t t)
{
    snprintf(buf, n, "{\"kind\":\"resource\",\"time_ns\":%lld,\"container\":{\"id\":\"%s\",\"name\":\"n-%s\","
             "\"image\":\"%s\",\"image_digest\":\"%s\"},\"resource\":{\"cpu_cores\":0.1}}",
             (long long)t, id, id, ref, digest);
    return buf;
}

/* A scan's finding for image (ref, digest: "" when unknown) at t. */
static char *scan_at(char *buf, size_t n, const char *cve, const char *ref, const char *digest, int64_t t)
{
    snprintf(buf, n, "{\"kind\":\"vuln\",\"time_ns\":%lld,\"container\":{\"image\":\"%s\",\"image_digest\":\"%s\"},"
             "\"vuln\":{\"vuln_id\":\"%s\",\"package\":\"openssl\",\"installed_version\":\"3.0.1\","
             "\"fixed_version\":\"3.0.2\",\"vuln_severity\":\"CRITICAL\"}}",
             (long long)t, ref, digest, cve);
    return buf;
}

static const char *const RUNNING_RULES =
    "- rule: Vuln running\n  condition: bulwark.kind = vuln and vuln.severity = CRITICAL\n"
    "  running_image: {window: 10m, hold: 1d, max_findings: 3}\n"
    "  output: \"%vuln.id in %container.image (%container.image.digest) running as %container.name\"\n"
    "  priority: ERROR\n"
    "- rule: Spike\n  condition: bulwark.kind = resource\n"
    "  anomaly: {type: cpu_spike, warmup: 3, sustain: 1, sustain_for: 0s, startup_grace: 0s}\n"
    "  output: spike\n  priority: WARNING\n";

static void test_running_image(void **state)
{
    struct ruleset *rs = load_ok(RUNNING_RULES), *rs2 = load_ok(RUNNING_RULES);
    struct rules_engine *e = rules_engine_new(rs);
    int64_t t = 100000 * SEC;
    struct got g = {0};
    char buf[1024];

    (void)state;
    /* The container runs, then the scan of its image arrives: fires, with
     * the finding then the container's event as evidence. */
    assert_int_equal(eval_json(e, ctr_at(buf, sizeof buf, "c1", "web:1", "sha256:a", t), 1, &g), 0);
    assert_int_equal(eval_json(e, scan_at(buf, sizeof buf, "CVE-1", "web:1", "sha256:a", t + 60 * SEC), 2, &g), 1);
    assert_string_equal(g.outputs[0], "CVE-1 in web:1 (sha256:a) running as n-c1");
    assert_int_equal(g.n_ev[0], 2);
    assert_int_equal(g.ev_seq[0][0], 2);
    assert_int_equal(g.ev_seq[0][1], 1);
    /* More events of the running container raise nothing more. */
    assert_int_equal(eval_json(e, ctr_at(buf, sizeof buf, "c1", "web:1", "sha256:a", t + 120 * SEC), 3, &g), 0);

    /* Scan first: nothing runs that image; the container starts later. */
    assert_int_equal(eval_json(e, scan_at(buf, sizeof buf, "CVE-2", "api:2", "sha256:b", t), 4, &g), 0);
    /* not the same digest, though the same reference: a rebuilt image */
    assert_int_equal(eval_json(e, ctr_at(buf, sizeof buf, "c2", "api:2", "sha256:z", t + 3600 * SEC), 5, &g), 0);
    assert_int_equal(eval_json(e, ctr_at(buf, sizeof buf, "c3", "api:2", "sha256:b", t + 3600 * SEC), 6, &g), 1);
    assert_string_equal(g.outputs[1], "CVE-2 in api:2 (sha256:b) running as n-c3");
    assert_int_equal(g.ev_seq[1][0], 4);
    assert_int_equal(g.ev_seq[1][1], 6);

    /* By reference when the scan knows no digest; not running when the
     * container's latest event is older than the window. */
    assert_int_equal(eval_json(e, ctr_at(buf, sizeof buf, "c4", "db:3", "sha256:c", t), 7, &g), 0);
    assert_int_equal(eval_json(e, scan_at(buf, sizeof buf, "CVE-3", "db:3", "", t + 11 * 60 * SEC), 8, &g), 0);
    /* the state is saved and restored with the held finding */
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(rules_engine_save(e, &b), 0);
    struct rules_engine *e2 = rules_engine_new(rs);
    assert_int_equal(rules_engine_restore(e2, buf_head(&b), buf_size(&b)), 0);
    assert_int_equal(eval_json(e2, ctr_at(buf, sizeof buf, "c4", "db:3", "sha256:c", t + 12 * 60 * SEC), 9, &g), 1);
    assert_string_equal(g.outputs[2], "CVE-3 in db:3 (sha256:c) running as n-c4");
    /* Held findings are bounded (max_findings 3: CVE-1 is the oldest and
     * goes) and expire after hold (1 day). */
    assert_int_equal(eval_json(e2, scan_at(buf, sizeof buf, "CVE-4", "x:4", "sha256:d", t + 13 * 60 * SEC), 10, &g), 0);
    /* A hot swap to the same rules keeps the held findings and the CPU
     * baselines (c8 learns three samples before, spikes after). */
    for (int i = 0; i < 3; i++)
        assert_int_equal(eval_json(e2, ctr_at(buf, sizeof buf, "c8", "z:9", "sha256:e", t + (14 + i) * 60 * SEC), 20, &g), 0);
    assert_int_equal(rules_engine_swap(e2, rs2), 0);
    assert_int_equal(eval_json(e2, ev_at(buf, sizeof buf, "resource", "c8", t + 17 * 60 * SEC,
                                         "\"resource\":{\"cpu_cores\":5.0}"), 21, &g), 1);
    assert_string_equal(g.names[3], "Spike");
    assert_int_equal(eval_json(e2, ctr_at(buf, sizeof buf, "c5", "web:1", "sha256:a", t + 3 * 3600 * SEC), 11, &g), 0);
    assert_int_equal(eval_json(e2, ctr_at(buf, sizeof buf, "c7", "x:4", "sha256:d", t + 4 * 3600 * SEC), 12, &g), 1);
    assert_string_equal(g.outputs[4], "CVE-4 in x:4 (sha256:d) running as n-c7");
    assert_int_equal(eval_json(e2, ctr_at(buf, sizeof buf, "c6", "x:4", "sha256:d", t + 2 * 86400 * SEC), 13, &g), 0);
    assert_int_equal(g.n, 5);
    /* A scan that names no digest, while a container of its reference
     * (known by digest) runs: fires at once. */
    assert_int_equal(eval_json(e2, ctr_at(buf, sizeof buf, "c9", "q:5", "sha256:q", t + 3 * 86400 * SEC), 14, &g), 0);
    assert_int_equal(eval_json(e2, scan_at(buf, sizeof buf, "CVE-5", "q:5", "", t + 3 * 86400 * SEC + 60 * SEC), 15, &g), 1);
    assert_string_equal(g.outputs[5], "CVE-5 in q:5 (sha256:q) running as n-c9");
    /* A restore of a truncated blob is refused, the state kept. */
    assert_int_equal(rules_engine_restore(e2, buf_head(&b), buf_size(&b) - 1), BW_EINVAL);
    rules_engine_free(e);
    rules_engine_free(e2);
    ruleset_free(rs2);
    buf_release(&b);

    /* The condition must select findings only. */
    struct ruleset *bad = load_ok("- rule: R\n  condition: proc.name = x\n  running_image: {}\n"
                                  "  output: o\n  priority: INFO\n");
    assert_false(bad->rules[0].enabled);
    assert_non_null(strstr(bad->rules[0].reason, "vuln events only"));
    ruleset_free(bad);
    ruleset_free(rs);
}

static void test_anomaly_rules(void **state)
{
    struct ruleset *rs = load_ok(
        "- rule: Spike\n  condition: bulwark.kind = resource\n"
        "  anomaly: {type: cpu_spike, by: container.id, k: 3, floor: 1, warmup: 5, cooldown: 1m,\n"
        "            sustain: 1, sustain_for: 0s, startup_grace: 0s}\n"
        "  output: \"spike %anomaly.value over %anomaly.mean\"\n  priority: WARNING\n"
        "- rule: New dest\n  condition: evt.type = connect\n"
        "  anomaly: {type: first_seen, by: container.image.digest, value: net.dest, learning: 1h}\n"
        "  output: \"new %net.dest\"\n  priority: NOTICE\n"
        "- rule: Jack\n  correlate: {all: [Spike, New dest], within: 5m, by: container.id}\n"
        "  output: jack\n  priority: CRITICAL\n");
    struct rules_engine *e = rules_engine_new(rs), *e2;
    struct got g = {0};
    char buf[512];
    struct buf b;
    int64_t t = 1000 * SEC;

    (void)state;
    buf_init(&b, 1 << 20);
#define NETB(name) "\"net\":{\"remote_addr\":\"1.1.1.1\",\"remote_port\":443,\"remote_name\":\"" name "\"}"
    snprintf(buf, sizeof buf, "{\"kind\":\"net\",\"time_ns\":%lld,\"container\":{\"id\":\"c1\",\"image_digest\":\"sha256:d\"},%s}",
             (long long)t, NETB("a.example"));
    assert_int_equal(eval_json(e, buf, 1, &g), 0);  /* learning */
    for (int i = 0; i < 10; i++)
        assert_int_equal(eval_json(e, ev_at(buf, sizeof buf, "resource", "c1", t + i * 10 * SEC,
                                            "\"resource\":{\"cpu_cores\":0.2}"), 2, &g), 0);
    assert_int_equal(rules_engine_save(e, &b), 0);
    e2 = rules_engine_new(rs);
    assert_int_equal(rules_engine_restore(e2, buf_head(&b), buf_size(&b)), 0);
    t += 2 * 3600 * SEC;
    assert_int_equal(eval_json(e2, ev_at(buf, sizeof buf, "resource", "c1", t, "\"resource\":{\"cpu_cores\":3.5}"), 3, &g), 1);
    assert_string_equal(g.names[0], "Spike");
    assert_non_null(strstr(g.outputs[0], "spike 3.5 over 0.2"));
    snprintf(buf, sizeof buf, "{\"kind\":\"net\",\"time_ns\":%lld,\"container\":{\"id\":\"c1\",\"image_digest\":\"sha256:d\"},%s}",
             (long long)(t + 60 * SEC), NETB("b.example"));
    assert_int_equal(eval_json(e2, buf, 4, &g), 2);
    assert_string_equal(g.names[1], "New dest");
    assert_string_equal(g.names[2], "Jack");
    snprintf(buf, sizeof buf, "{\"kind\":\"net\",\"time_ns\":%lld,\"container\":{\"id\":\"c1\",\"image_digest\":\"sha256:d\"},%s}",
             (long long)(t + 61 * SEC), NETB("a.example"));
    assert_int_equal(eval_json(e2, buf, 5, &g), 0);  /* learned before the restart */
    rules_engine_free(e2);
    rules_engine_free(e);
    ruleset_free(rs);
    buf_release(&b);
}

static void test_falco_passthrough_and_group(void **state)
{
    struct ruleset *rs = load_ok("- rule: Falco\n  condition: bulwark.kind = external\n"
                                 "  priority_from: falco.priority\n  alert_source: falco\n"
                                 "  group_by: [falco.rule, container.id]\n"
                                 "  output: \"%falco.rule: %falco.field[proc.name]\"\n  priority: WARNING\n");
    struct rules_engine *e = rules_engine_new(rs);
    struct got g = {0};

    (void)state;
    eval_json(e, "{\"kind\":\"external\",\"external\":{\"source\":\"falco\",\"rule\":\"Shell\",\"priority\":\"Critical\","
                 "\"fields\":{\"proc.name\":\"bash\"}}}", 1, &g);
    eval_json(e, "{\"kind\":\"external\",\"external\":{\"rule\":\"X\",\"priority\":\"whatever\"}}", 2, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.prio[0], BULWARK__V1__SEVERITY__SEVERITY_CRITICAL);
    assert_string_equal(g.outputs[0], "Shell: bash");
    assert_string_equal(g.keys[0], "Shell|host");
    assert_int_equal(g.prio[1], BULWARK__V1__SEVERITY__SEVERITY_WARNING);  /* unknown: the rule's own */
    rules_engine_free(e);
    ruleset_free(rs);
}

/* ---------------------------------------------------------------- cli */

static int cli(int argc, const char **argv)
{
    int rc;

    fflush(stdout);
    rc = rules_cli_main(argc, (char **)argv);
    fflush(stdout);
    return rc;
}

static void test_cli(void **state)
{
    const char *src = getenv("BW_SOURCE_DIR");
    char rules_dir[1024], fixtures[1024], glob_rules[4][1024];
    const char *good = write_file("good.yaml", "- rule: a\n  condition: proc.name = a\n  output: x\n  priority: INFO\n"
                                               "- rule: b\n  condition: fd.ino = 1\n  output: x\n  priority: INFO\n");
    const char *bad = write_file("broken.yaml", "- rule: a\n  condition: (proc.name = a\n  output: x\n  priority: INFO\n");

    (void)state;
    assert_int_equal(cli(3, (const char *[]){"rules", "check", good}), 0);
    assert_int_equal(cli(3, (const char *[]){"rules", "check", bad}), 1);
    assert_int_equal(cli(2, (const char *[]){"rules", "check"}), 2);
    assert_int_equal(cli(2, (const char *[]){"rules", "nope"}), 2);
    if (!src)
        skip();
    snprintf(rules_dir, sizeof rules_dir, "%.900s/rules", src);
    snprintf(fixtures, sizeof fixtures, "%.900s/tests/rules", src);
    snprintf(glob_rules[0], sizeof glob_rules[0], "%.900s/cryptomining.yaml", rules_dir);
    snprintf(glob_rules[1], sizeof glob_rules[1], "%.900s/containers.yaml", rules_dir);
    snprintf(glob_rules[2], sizeof glob_rules[2], "%.900s/host.yaml", rules_dir);
    /* the default ruleset loads with every rule enabled, and its fixtures pass */
    assert_int_equal(cli(5, (const char *[]){"rules", "check", glob_rules[0], glob_rules[1], glob_rules[2]}), 0);
    assert_int_equal(cli(3, (const char *[]){"rules", "test", fixtures}), 0);
    {   /* a wrong expectation fails with a diff */
        char cmd[2048];

        snprintf(cmd, sizeof cmd, "cp %s/privileged_container_fires.ndjson %s/ && echo 'Some other rule' > %s/privileged_container_fires.expected",
                 fixtures, tmpdir, tmpdir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(cli(9, (const char *[]){"rules", "test", tmpdir, "--rules", glob_rules[0], "--rules",
                                                 glob_rules[1], "--rules", glob_rules[2]}), 1);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bw-rules-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_absent_fields),
        cmocka_unit_test(test_sensor_container_fields),
        cmocka_unit_test(test_lineage_fields),
        cmocka_unit_test(test_sensor_fields),
        cmocka_unit_test(test_lists_macros_override_append),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_unsupported_disabled),
        cmocka_unit_test(test_output_rendering),
        cmocka_unit_test(test_kind_index),
        cmocka_unit_test(test_correlation_windows),
        cmocka_unit_test(test_save_restore_and_swap),
        cmocka_unit_test(test_anomaly_rules),
        cmocka_unit_test(test_running_image),
        cmocka_unit_test(test_falco_passthrough_and_group),
        cmocka_unit_test(test_cli),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
