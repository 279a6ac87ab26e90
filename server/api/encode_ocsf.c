/* encode_ocsf.c - events and alerts as OCSF OCSF_VERSION event classes
 * (pinned: tests/fixtures/siem/ocsf-1.1.0.json lists what each class and
 * object REQUIRES; the export test checks every record against it).
 *
 *   exec      Process Activity 1007, Launch (1)
 *   net       Network Activity 4001, Open (1)
 *   file      File System Activity 1001: Create, Update, Rename, Delete,
 *             Set Attributes, Open by the operation
 *   resource  Inventory Info 5001, Collect (2): the device and its usage
 *   config    Device Config State 5002, Collect (2)
 *   vuln      Vulnerability Finding 2002, Create (1)
 *   misconfig Compliance Finding 2003, Create (1): the check as the control,
 *             status Fail
 *   secret    Detection Finding 2004, Create (1): the secret rule as the
 *             analytic; the redacted match only, never a value
 *   external  Detection Finding 2004, Create (1) (Falco and the like)
 *   alerts    Detection Finding 2004, Create (1)
 *
 * Every record has class_uid, category_uid, activity_id, type_uid
 * (class_uid * 100 + activity_id), severity_id, time (ms since the epoch),
 * metadata.version and metadata.product (name, vendor_name, version), and
 * `unmapped` for what no OCSF attribute holds. */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

enum {
    OCSF_FILE_ACTIVITY = 1001,
    OCSF_PROCESS_ACTIVITY = 1007,
    OCSF_VULN_FINDING = 2002,
    OCSF_COMPLIANCE_FINDING = 2003,
    OCSF_DETECTION_FINDING = 2004,
    OCSF_NETWORK_ACTIVITY = 4001,
    OCSF_INVENTORY_INFO = 5001,
    OCSF_CONFIG_STATE = 5002,
};

int enc_ocsf_severity(int32_t sev)
{
    /* Bulwark (syslog-like, 1 debug .. 8 emergency) -> OCSF 1 Informational
     * .. 6 Fatal; 0 stays Unknown. */
    static const int map[9] = {0, 1, 1, 2, 3, 4, 5, 5, 6};
    return sev >= 0 && sev <= 8 ? map[sev] : 99;
}

static json_t *S_ms(int64_t ns)
{
    return json_integer(ns / 1000000);
}

static json_t *S_base(int class_uid, int activity_id, int32_t severity, int64_t time_ns,
                      const char *message)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    api_jset(o, "class_uid", json_integer(class_uid));
    api_jset(o, "category_uid", json_integer(class_uid / 1000));
    api_jset(o, "activity_id", json_integer(activity_id));
    api_jset(o, "type_uid", json_integer((json_int_t)class_uid * 100 + activity_id));
    api_jset(o, "severity_id", json_integer(enc_ocsf_severity(severity)));
    api_jset(o, "time", S_ms(time_ns));
    api_jset(o, "metadata.version", json_string(OCSF_VERSION));
    api_jset(o, "metadata.product.name", json_string("Bulwark"));
    api_jset(o, "metadata.product.vendor_name", json_string("Bulwark"));
    api_jset(o, "metadata.product.version", json_string(BULWARK_VERSION));
    api_jset_str(o, "message", message);
    return o;
}

/* device: the host the agent runs on (type Server). */
static void S_device(json_t *o, const char *hostname, const char *agent_id)
{
    api_jset(o, "device.type_id", json_integer(1));
    api_jset_str(o, "device.hostname", hostname);
    api_jset_str(o, "device.name", hostname);
    api_jset_str(o, "device.uid", agent_id);
}

static json_t *S_container(const Bulwark__V1__ContainerRef *c)
{
    json_t *o;

    if (!c || !(o = json_object()))
        return NULL;
    api_jset_str(o, "uid", c->id);
    api_jset_str(o, "name", c->name);
    api_jset_str(o, "runtime", c->runtime);
    api_jset_str(o, "pod_uuid", c->k8s_pod_uid);
    if (c->k8s_namespace && *c->k8s_namespace)
        api_jset(o, "orchestrator", json_string("kubernetes"));
    if (c->image && *c->image) {
        /* image.uid is required: the digest when known, else the reference. */
        api_jset(o, "image.uid", api_str(c->image_digest && *c->image_digest ? c->image_digest
                                                                              : c->image));
        api_jset_str(o, "image.name", c->image);
    }
    return o;
}

static json_t *S_process(const Bulwark__V1__ProcessRef *p, bool parent_too)
{
    json_t *o;
    char uid[16];

    if (!(o = json_object()))
        return NULL;
    if (!p)
        return o;
    if (p->pid)
        api_jset(o, "pid", json_integer(p->pid));
    api_jset_str(o, "name", p->name);
    api_jset_str(o, "cmd_line", p->cmdline);
    if (p->exe && *p->exe) {
        const char *slash = strrchr(p->exe, '/');
        api_jset(o, "file.name", api_str(slash ? slash + 1 : p->exe));
        api_jset(o, "file.path", api_str(p->exe));
        api_jset(o, "file.type_id", json_integer(1));
    }
    if (p->start_time_ns)
        api_jset(o, "created_time", S_ms(p->start_time_ns));
    if (p->uid_opt_case) {  /* an absent uid is left out, not written as 0 */
        snprintf(uid, sizeof uid, "%u", p->uid);
        api_jset(o, "user.uid", json_string(uid));
    }
    api_jset_str(o, "user.name", p->user);
    if (parent_too && (p->ppid || (p->parent_name && *p->parent_name))) {
        if (p->ppid)
            api_jset(o, "parent_process.pid", json_integer(p->ppid));
        api_jset_str(o, "parent_process.name", p->parent_name);
    }
    return o;
}

/* The actor of a process launch is its parent; of anything else the
 * process itself. */
static void S_actor(json_t *o, const Bulwark__V1__ProcessRef *p, bool launch)
{
    json_t *a = json_object();

    if (!a)
        return;
    if (p && launch) {
        json_t *pp = json_object();
        if (pp) {
            if (p->ppid)
                api_jset(pp, "pid", json_integer(p->ppid));
            api_jset_str(pp, "name", p->parent_name);
            json_object_set_new(a, "process", pp);
        }
    } else if (p) {
        json_object_set_new(a, "process", S_process(p, true));
    }
    json_object_set_new(o, "actor", a);
}

static void S_unmapped(json_t *o, const char *name, json_t *v)
{
    char path[80];
    snprintf(path, sizeof path, "unmapped.%s", name);
    api_jset(o, path, v);
}

static json_t *S_endpoint(const char *ip, uint32_t port, const char *name)
{
    json_t *e = json_object();
    if (!e)
        return NULL;
    api_jset_str(e, "ip", ip);
    if (port)
        api_jset(e, "port", json_integer(port));
    api_jset_str(e, "hostname", name);
    return e;
}

static json_t *S_net(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    const Bulwark__V1__NetConnection *n = ev->net;
    bool in = n->direction == BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND;
    json_t *o = S_base(OCSF_NETWORK_ACTIVITY, 1, row->severity, row->time_ns, NULL);
    json_t *local = S_endpoint(n->local_addr, n->local_port, NULL);
    json_t *remote = S_endpoint(n->remote_addr, n->remote_port, n->remote_name);

    if (!o) {
        json_decref(local);
        json_decref(remote);
        return NULL;
    }
    json_object_set_new(o, "src_endpoint", in ? remote : local);
    json_object_set_new(o, "dst_endpoint", in ? local : remote);
    /* direction_id: 1 Inbound, 2 Outbound; protocol_num as IANA numbers. */
    api_jset(o, "connection_info.direction_id", json_integer(in ? 1 : 2));
    api_jset(o, "connection_info.direction", json_string(in ? "Inbound" : "Outbound"));
    api_jset(o, "connection_info.protocol_num",
             json_integer(n->protocol == BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP ? 17 : 6));
    api_jset(o, "connection_info.protocol_name",
             json_string(n->protocol == BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP ? "udp"
                                                                                   : "tcp"));
    /* Network Activity has device and actor through the host profile. */
    S_device(o, row->hostname, row->agent_id);
    if (ev->process)
        S_actor(o, ev->process, false);
    api_jset(o, "metadata.profiles", json_pack("[s]", "host"));
    return o;
}

static json_t *S_file(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    /* WRITE, CREATE, RENAME, DELETE, CHMOD, OPEN -> OCSF activity ids */
    static const int activity[] = {3, 1, 5, 4, 6, 14};
    const Bulwark__V1__FileAccess *f = ev->file;
    unsigned op = (unsigned)f->op < 6 ? (unsigned)f->op : 0;
    json_t *o = S_base(OCSF_FILE_ACTIVITY, activity[op], row->severity, row->time_ns, NULL);
    const char *path = f->path ? f->path : "", *slash = strrchr(path, '/');

    if (!o)
        return NULL;
    api_jset(o, "file.name", api_str(slash ? slash + 1 : path));
    api_jset(o, "file.path", api_str(path));
    api_jset(o, "file.type_id", json_integer(1));
    if (f->res_opt_case) {  /* an open the eBPF sensor saw, failed ones included */
        api_jset(o, "status_id", json_integer(f->res < 0 ? 2 : 1));  /* Failure, Success */
        api_jset(o, "status", json_string(f->res < 0 ? "Failure" : "Success"));
    }
    if (f->op == BULWARK__V1__FILE_ACCESS__OP__RENAME && f->new_path && *f->new_path) {
        slash = strrchr(f->new_path, '/');
        api_jset(o, "file_result.name", api_str(slash ? slash + 1 : f->new_path));
        api_jset(o, "file_result.path", api_str(f->new_path));
        api_jset(o, "file_result.type_id", json_integer(1));
    }
    S_device(o, row->hostname, row->agent_id);
    S_actor(o, ev->process, false);
    return o;
}

static json_t *S_finding(int class_uid, const char *uid, const char *title, int32_t sev,
                         int64_t time_ns, const char *message)
{
    json_t *o = S_base(class_uid, 1, sev, time_ns, message);
    if (!o)
        return NULL;
    api_jset(o, "finding_info.uid", api_str(uid));
    api_jset(o, "finding_info.title", api_str(title && *title ? title : uid));
    return o;
}

static json_t *S_vuln(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    const Bulwark__V1__VulnFinding *v = ev->vuln;
    char uid[64];
    json_t *o, *vu, *arr, *pkg;

    snprintf(uid, sizeof uid, "bulwark-event-%lld", (long long)row->id);
    o = S_finding(OCSF_VULN_FINDING, uid, v->title && *v->title ? v->title : v->vuln_id,
                  row->severity, row->time_ns, v->title);
    if (!o)
        return NULL;
    vu = json_object();
    arr = json_array();
    if (!vu || !arr) {
        json_decref(vu);
        json_decref(arr);
        return o;
    }
    api_jset_str(vu, "cve.uid", v->vuln_id);
    if (v->cvss_score > 0)
        S_unmapped(o, "cvss_score", json_real(v->cvss_score));
    api_jset_str(vu, "severity", v->vuln_severity);
    api_jset_str(vu, "title", v->title);
    api_jset_str(vu, "vendor_name", v->scanner);
    api_jset(vu, "is_fix_available", json_boolean(v->fixed_version && *v->fixed_version));
    if (v->package && *v->package && (pkg = json_object())) {
        api_jset(pkg, "name", api_str(v->package));
        api_jset(pkg, "version", api_str(v->installed_version ? v->installed_version : ""));
        api_jset_str(pkg, "fixed_in_version", v->fixed_version);
        api_jset(vu, "affected_packages", json_pack("[o]", pkg));
    }
    json_array_append_new(arr, vu);
    json_object_set_new(o, "vulnerabilities", arr);
    S_device(o, row->hostname, row->agent_id);
    S_unmapped(o, "scan_target", api_str(v->target));
    return o;
}

static json_t *S_external(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    const Bulwark__V1__ExternalAlert *x = ev->external;
    char uid[64];
    json_t *o;

    snprintf(uid, sizeof uid, "bulwark-event-%lld", (long long)row->id);
    o = S_finding(OCSF_DETECTION_FINDING, uid, x->rule, row->severity, row->time_ns, x->output);
    if (!o)
        return NULL;
    api_jset_str(o, "finding_info.analytic.name", x->rule);
    if (x->rule && *x->rule)
        api_jset(o, "finding_info.analytic.type_id", json_integer(1));  /* Rule */
    api_jset_str(o, "metadata.log_provider", x->source);
    S_device(o, row->hostname, row->agent_id);
    S_unmapped(o, "priority", api_str(x->priority));
    return o;
}

/* The artifact and file of a posture finding, where OCSF has no place. */
static void S_scan_unmapped(json_t *o, const char *target, uint32_t line, const char *name,
                            const char *type)
{
    S_unmapped(o, "scan_target", api_str(target));
    if (line)
        S_unmapped(o, "start_line", json_integer(line));
    if (name && *name)
        S_unmapped(o, "artifact_name", api_str(name));
    if (type && *type)
        S_unmapped(o, "artifact_type", api_str(type));
}

/* A finding of the stored event row: uid bulwark-event-<id>, titled title
 * or else fallback. */
static json_t *S_row_finding(int class_uid, const struct store_row *row, const char *title,
                             const char *fallback, const char *message)
{
    char uid[64];

    snprintf(uid, sizeof uid, "bulwark-event-%lld", (long long)row->id);
    return S_finding(class_uid, uid, title && *title ? title : fallback, row->severity,
                     row->time_ns, message);
}

static json_t *S_misconfig(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    const Bulwark__V1__MisconfigFinding *m = ev->misconfig;
    json_t *o = S_row_finding(OCSF_COMPLIANCE_FINDING, row, m->title, m->check_id, m->message);

    if (!o)
        return NULL;
    api_jset_str(o, "finding_info.desc", m->message);
    api_jset_str(o, "compliance.control", m->check_id);
    api_jset(o, "compliance.standards",
             json_pack("[s]", m->scanner && *m->scanner ? m->scanner : "scanner"));
    api_jset(o, "compliance.status_id", json_integer(3));  /* Fail */
    api_jset(o, "compliance.status", json_string("Fail"));
    S_device(o, row->hostname, row->agent_id);
    S_scan_unmapped(o, m->target, m->start_line, m->artifact_name, m->artifact_type);
    return o;
}

static json_t *S_secret(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    const Bulwark__V1__SecretFinding *s = ev->secret;
    json_t *o = S_row_finding(OCSF_DETECTION_FINDING, row, s->title, s->rule_id, s->title);

    if (!o)
        return NULL;
    api_jset_str(o, "finding_info.analytic.name", s->rule_id);
    if (s->rule_id && *s->rule_id)
        api_jset(o, "finding_info.analytic.type_id", json_integer(1));  /* Rule */
    api_jset_str(o, "metadata.log_provider", s->scanner);
    S_device(o, row->hostname, row->agent_id);
    S_scan_unmapped(o, s->target, s->start_line, s->artifact_name, s->artifact_type);
    if (s->match_redacted && *s->match_redacted)
        S_unmapped(o, "match_redacted", api_str(s->match_redacted));
    return o;
}

static json_t *S_inventory(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    const Bulwark__V1__ResourceSample *r = ev->resource;
    json_t *o = S_base(OCSF_INVENTORY_INFO, 2, row->severity, row->time_ns, NULL);

    if (!o)
        return NULL;
    S_device(o, row->hostname, row->agent_id);
    S_unmapped(o, "cpu_cores", json_real(r->cpu_cores));
    S_unmapped(o, "memory_bytes", json_integer((json_int_t)r->memory_bytes));
    S_unmapped(o, "memory_limit_bytes", json_integer((json_int_t)r->memory_limit_bytes));
    S_unmapped(o, "interval_ms", json_integer(r->interval_ms));
    S_unmapped(o, "scope", api_str(r->scope));
    return o;
}

static json_t *S_config(const struct store_row *row, const Bulwark__V1__Event *ev)
{
    const Bulwark__V1__ContainerConfig *c = ev->config;
    json_t *o = S_base(OCSF_CONFIG_STATE, 2, row->severity, row->time_ns, NULL);

    if (!o)
        return NULL;
    S_device(o, row->hostname, row->agent_id);
    S_unmapped(o, "privileged", json_boolean(c->privileged));
    S_unmapped(o, "host_network", json_boolean(c->host_network));
    S_unmapped(o, "host_pid", json_boolean(c->host_pid));
    S_unmapped(o, "host_ipc", json_boolean(c->host_ipc));
    S_unmapped(o, "read_only_rootfs", json_boolean(c->read_only_rootfs));
    S_unmapped(o, "no_new_privileges", json_boolean(c->no_new_privileges));
    if (c->user_uid_opt_case)  /* absent when the runtime's config does not say */
        S_unmapped(o, "user_uid", json_integer(c->user_uid));
    S_unmapped(o, "seccomp_profile", api_str(c->seccomp_profile));
    S_unmapped(o, "apparmor_profile", api_str(c->apparmor_profile));
    return o;
}

json_t *enc_ocsf_event(const struct store_row *row)
{
    Bulwark__V1__Event *ev = api_event_decode(row);
    json_t *o = NULL;
    char seq[32];

    if (!ev) {
        /* Base Event (0): nothing but what the columns say. */
        o = S_base(0, 99, row->severity, row->time_ns, "the stored body does not decode");
        goto out;
    }
    switch (ev->body_case) {
    case BULWARK__V1__EVENT__BODY_EXEC:
        if (!(o = S_base(OCSF_PROCESS_ACTIVITY, 1, row->severity, row->time_ns, NULL)))
            break;
        json_object_set_new(o, "process", S_process(ev->process, true));
        S_actor(o, ev->process, true);
        S_device(o, row->hostname, row->agent_id);
        S_unmapped(o, "cwd", api_str(ev->exec->cwd));
        break;
    case BULWARK__V1__EVENT__BODY_NET:
        o = S_net(row, ev);
        break;
    case BULWARK__V1__EVENT__BODY_FILE:
        o = S_file(row, ev);
        break;
    case BULWARK__V1__EVENT__BODY_RESOURCE:
        o = S_inventory(row, ev);
        break;
    case BULWARK__V1__EVENT__BODY_CONFIG:
        o = S_config(row, ev);
        break;
    case BULWARK__V1__EVENT__BODY_VULN:
        o = S_vuln(row, ev);
        break;
    case BULWARK__V1__EVENT__BODY_EXTERNAL:
        o = S_external(row, ev);
        break;
    case BULWARK__V1__EVENT__BODY_MISCONFIG:
        o = S_misconfig(row, ev);
        break;
    case BULWARK__V1__EVENT__BODY_SECRET:
        o = S_secret(row, ev);
        break;
    default:
        if ((o = S_base(OCSF_INVENTORY_INFO, 99, row->severity, row->time_ns, NULL)))
            S_device(o, row->hostname, row->agent_id);
        break;
    }
    if (o && ev->container) {
        /* OCSF 1.1.0's container profile is attached to no class: the
         * container goes where OCSF keeps what has no attribute, in the
         * shape of its container object. */
        json_t *c = S_container(ev->container);
        if (c)
            S_unmapped(o, "container", c);
    }
out:
    if (o) {
        snprintf(seq, sizeof seq, "%lld", (long long)row->id);
        api_jset(o, "metadata.uid", json_string(seq));
        api_jset(o, "metadata.sequence", json_integer((json_int_t)row->seq));
        api_jset(o, "metadata.logged_time", S_ms(row->recv_ns));
    }
    if (ev)
        bulwark__v1__event__free_unpacked(ev, NULL);
    return o;
}

json_t *enc_ocsf_alert(const struct store_alert_row *row)
{
    char uid[64];
    json_t *o, *tags;

    snprintf(uid, sizeof uid, "bulwark-alert-%lld", (long long)row->id);
    o = S_finding(OCSF_DETECTION_FINDING, uid, row->rule, row->priority, row->first_seen_ns,
                  row->output);
    if (!o)
        return NULL;
    api_jset(o, "finding_info.analytic.name", api_str(row->rule));
    api_jset(o, "finding_info.analytic.type_id", json_integer(1));  /* Rule */
    api_jset(o, "finding_info.first_seen_time", S_ms(row->first_seen_ns));
    api_jset(o, "finding_info.last_seen_time", S_ms(row->last_seen_ns));
    api_jset(o, "start_time", S_ms(row->first_seen_ns));
    api_jset(o, "end_time", S_ms(row->last_seen_ns));
    api_jset(o, "count", json_integer(row->count));
    /* status_id: 1 New, 2 In Progress, 4 Resolved (triage status). */
    api_jset(o, "status_id", json_integer(strcmp(row->status, "resolved") == 0       ? 4
                                          : strcmp(row->status, "acknowledged") == 0 ? 2
                                                                                     : 1));
    api_jset_str(o, "metadata.log_provider", row->source);
    if (*row->hostname || *row->agent_id)
        S_device(o, row->hostname, row->agent_id);
    if (*row->container_id || *row->image) {
        api_jset_str(o, "unmapped.container.uid", row->container_id);
        if (*row->image) {
            api_jset(o, "unmapped.container.image.uid", api_str(row->image));
            api_jset(o, "unmapped.container.image.name", api_str(row->image));
        }
    }
    tags = row->tags_json ? json_loads(row->tags_json, 0, NULL) : NULL;
    if (json_is_array(tags) && json_array_size(tags))
        api_jset(o, "metadata.labels", json_incref(tags));
    json_decref(tags);
    S_unmapped(o, "retrospective", json_boolean(row->retrospective));
    return o;
}
