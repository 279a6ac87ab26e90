/* encode_ecs.c - events and alerts as Elastic Common Schema documents,
 * version ECS_VERSION (pinned: tests/fixtures/siem/ecs-8.11.0.json is the
 * published field list the export test checks every emitted field and type
 * against). Only ECS fields are emitted; what ECS has no field for goes into
 * `labels` (keyword values) or `message`, so an ECS index template maps
 * every field without dynamic mapping surprises.
 *
 *   exec      event.kind event, category process, type start, process.*
 *   net       event, network, connection+start, source/destination.*, network.*
 *   file      event, file, creation/change/deletion/access, file.*
 *   resource  metric, host, info, container.memory.usage, labels
 *   config    state, configuration, info, labels.*
 *   vuln      state, vulnerability, info, vulnerability.*, package.*
 *   misconfig state, configuration, info, rule.* (the check), file.path
 *   secret    state, configuration, info, rule.* (the secret rule), file.path;
 *             the redacted match as a label, never a value
 *   external  alert, intrusion_detection, info, rule.*, tags
 *   alerts    alert, intrusion_detection, info, rule.*, event.start/end */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/evjson.h"

static json_t *S_strs(const char *a, const char *b)
{
    json_t *arr = json_array();
    if (arr && a)
        json_array_append_new(arr, json_string(a));
    if (arr && b)
        json_array_append_new(arr, json_string(b));
    return arr;
}

static void S_event(json_t *o, const char *kind, const char *category, const char *type,
                    const char *type2, const char *action)
{
    api_jset(o, "ecs.version", json_string(ECS_VERSION));
    api_jset(o, "event.kind", json_string(kind));
    api_jset(o, "event.category", S_strs(category, NULL));
    api_jset(o, "event.type", S_strs(type, type2));
    api_jset_str(o, "event.action", action);
    api_jset(o, "event.module", json_string("bulwark"));
    api_jset(o, "observer.product", json_string("Bulwark"));
    api_jset(o, "observer.vendor", json_string("Bulwark"));
    api_jset(o, "observer.version", json_string(BULWARK_VERSION));
}

/* A label: ECS labels are flat keyword values. */
static void S_label(json_t *o, const char *name, const char *value)
{
    char path[80];
    if (!value || !*value)
        return;
    snprintf(path, sizeof path, "labels.%s", name);
    api_jset(o, path, api_str(value));
}

static void S_container(json_t *o, const Bulwark__V1__ContainerRef *c)
{
    const char *colon;

    if (!c)
        return;
    api_jset_str(o, "container.id", c->id);
    api_jset_str(o, "container.name", c->name);
    api_jset_str(o, "container.runtime", c->runtime);
    if (c->image && *c->image) {
        /* image.name is the repository; the tag is separate (after the last
         * ':' that is past the last '/', so a registry port is not a tag). */
        const char *slash = strrchr(c->image, '/');
        colon = strrchr(c->image, ':');
        if (colon && (!slash || colon > slash) && !strchr(colon, '@')) {
            json_t *name = json_stringn(c->image, (size_t)(colon - c->image));
            api_jset(o, "container.image.name", name ? name : api_str(c->image));
            api_jset(o, "container.image.tag", json_pack("[s]", colon + 1));
        } else {
            api_jset(o, "container.image.name", api_str(c->image));
        }
    }
    if (c->image_digest && *c->image_digest)
        api_jset(o, "container.image.hash.all", json_pack("[o]", api_str(c->image_digest)));
    for (size_t i = 0; i < c->n_labels; i++) {
        char path[160];
        /* ECS object fields take any key; dots would nest, so they become '_'. */
        snprintf(path, sizeof path, "container.labels.%s", c->labels[i]->key);
        for (char *p = path + strlen("container.labels."); *p; p++)
            if (*p == '.')
                *p = '_';
        api_jset(o, path, api_str(c->labels[i]->value));
    }
    if (c->k8s_namespace && *c->k8s_namespace) {
        api_jset(o, "orchestrator.type", json_string("kubernetes"));
        api_jset_str(o, "orchestrator.namespace", c->k8s_namespace);
        api_jset(o, "orchestrator.resource.type", json_string("pod"));
        api_jset_str(o, "orchestrator.resource.name", c->k8s_pod);
        api_jset_str(o, "orchestrator.resource.id", c->k8s_pod_uid);
    }
}

static void S_process(json_t *o, const Bulwark__V1__ProcessRef *p)
{
    char id[16];

    if (!p)
        return;
    if (p->pid)
        api_jset(o, "process.pid", json_integer(p->pid));
    if (p->ppid)
        api_jset(o, "process.parent.pid", json_integer(p->ppid));
    api_jset_str(o, "process.executable", p->exe);
    api_jset_str(o, "process.name", p->name);
    api_jset_str(o, "process.command_line", p->cmdline);
    api_jset_str(o, "process.parent.name", p->parent_name);
    if (p->start_time_ns)
        api_jset(o, "process.start", api_time(p->start_time_ns));
    if (p->uid_opt_case) {  /* an absent id is left out, not written as 0 */
        snprintf(id, sizeof id, "%u", p->uid);
        api_jset(o, "process.user.id", json_string(id));
    }
    api_jset_str(o, "process.user.name", p->user);
    if (p->gid_opt_case) {
        snprintf(id, sizeof id, "%u", p->gid);
        api_jset(o, "process.real_group.id", json_string(id));
    }
}

static void S_net(json_t *o, const Bulwark__V1__NetConnection *n)
{
    bool in = n->direction == BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND;
    const char *src = in ? n->remote_addr : n->local_addr;
    const char *dst = in ? n->local_addr : n->remote_addr;
    uint32_t sport = in ? n->remote_port : n->local_port;
    uint32_t dport = in ? n->local_port : n->remote_port;

    S_event(o, "event", "network", "connection", "start", in ? "accept" : "connect");
    api_jset(o, "network.direction", json_string(in ? "ingress" : "egress"));
    api_jset(o, "network.transport",
             json_string(n->protocol == BULWARK__V1__NET_CONNECTION__PROTOCOL__UDP ? "udp"
                                                                                   : "tcp"));
    if (n->remote_addr && *n->remote_addr)
        api_jset(o, "network.type", json_string(strchr(n->remote_addr, ':') ? "ipv6" : "ipv4"));
    api_jset_str(o, "source.ip", src);
    if (sport)
        api_jset(o, "source.port", json_integer(sport));
    api_jset_str(o, "destination.ip", dst);
    if (dport)
        api_jset(o, "destination.port", json_integer(dport));
    if (!in)
        api_jset_str(o, "destination.domain", n->remote_name);
    else
        api_jset_str(o, "source.domain", n->remote_name);
}

static void S_file(json_t *o, const Bulwark__V1__FileAccess *f)
{
    static const char *const type[] = {"change", "creation", "change", "deletion", "change",
                                       "access"};
    static const char *const action[] = {"write", "create", "rename", "delete", "chmod",
                                         "open"};
    unsigned op = (unsigned)f->op < 6 ? (unsigned)f->op : 0;
    const char *path = f->path, *slash;

    S_event(o, "event", "file", type[op], NULL, action[op]);
    if (f->res_opt_case)  /* an open the eBPF sensor saw, failed ones included */
        api_jset(o, "event.outcome", json_string(f->res < 0 ? "failure" : "success"));
    if (f->op == BULWARK__V1__FILE_ACCESS__OP__RENAME && f->new_path && *f->new_path) {
        /* ECS describes the file as it is now; where it came from is a label. */
        S_label(o, "file_renamed_from", f->path);
        path = f->new_path;
    }
    api_jset_str(o, "file.path", path);
    if (path && (slash = strrchr(path, '/'))) {
        api_jset_str(o, "file.name", slash + 1);
        if (slash > path)
            api_jset(o, "file.directory", json_stringn(path, (size_t)(slash - path)));
        else
            api_jset(o, "file.directory", json_string("/"));
    }
}

static void S_resource(json_t *o, const Bulwark__V1__ResourceSample *r, bool container)
{
    char v[32];

    S_event(o, "metric", "host", "info", NULL, "resource-sample");
    /* ECS's cpu.usage is a fraction of all the host's CPUs, which the agent
     * does not report: cores used stay a label. Memory has its limit. */
    if (container && r->memory_limit_bytes)
        api_jset(o, "container.memory.usage",
                 json_real((double)r->memory_bytes / (double)r->memory_limit_bytes));
    snprintf(v, sizeof v, "%llu", (unsigned long long)r->memory_bytes);
    S_label(o, "memory_bytes", v);
    snprintf(v, sizeof v, "%.3f", r->cpu_cores);
    S_label(o, "cpu_cores", v);
}

static void S_config(json_t *o, const Bulwark__V1__ContainerConfig *c)
{
    char v[16];

    S_event(o, "state", "configuration", "info", NULL, "container-config");
    S_label(o, "privileged", c->privileged ? "true" : "false");
    S_label(o, "host_network", c->host_network ? "true" : "false");
    S_label(o, "host_pid", c->host_pid ? "true" : "false");
    S_label(o, "host_ipc", c->host_ipc ? "true" : "false");
    S_label(o, "read_only_rootfs", c->read_only_rootfs ? "true" : "false");
    S_label(o, "no_new_privileges", c->no_new_privileges ? "true" : "false");
    if (c->user_uid_opt_case) {  /* absent when the runtime's config does not say */
        snprintf(v, sizeof v, "%u", c->user_uid);
        S_label(o, "user_uid", v);
    }
    S_label(o, "seccomp_profile", c->seccomp_profile);
    S_label(o, "apparmor_profile", c->apparmor_profile);
    S_label(o, "config_path", c->config_path);
}

static void S_vuln(json_t *o, const Bulwark__V1__VulnFinding *v)
{
    S_event(o, "state", "vulnerability", "info", NULL, "vulnerability-found");
    api_jset_str(o, "vulnerability.id", v->vuln_id);
    if (v->vuln_id && strncmp(v->vuln_id, "CVE-", 4) == 0)
        api_jset(o, "vulnerability.enumeration", json_string("CVE"));
    api_jset_str(o, "vulnerability.severity", v->vuln_severity);
    if (v->cvss_score > 0) {
        api_jset(o, "vulnerability.score.base", json_real(v->cvss_score));
        api_jset(o, "vulnerability.classification", json_string("CVSS"));
    }
    api_jset_str(o, "vulnerability.description", v->title);
    api_jset(o, "vulnerability.category", json_pack("[s]", "package"));
    api_jset_str(o, "vulnerability.scanner.vendor", v->scanner);
    api_jset_str(o, "package.name", v->package);
    api_jset_str(o, "package.version", v->installed_version);
    S_label(o, "fixed_version", v->fixed_version);
    S_label(o, "scan_target", v->target);
    S_label(o, "pkg_path", v->pkg_path);
    S_label(o, "artifact_name", v->artifact_name);
    S_label(o, "artifact_type", v->artifact_type);
}

/* A scanner's posture finding: the check or secret rule as the ECS rule,
 * the file as file.path, the artifact as labels. */
static void S_posture(json_t *o, const char *action, const char *id, const char *title,
                      const char *category, const char *scanner, const char *target,
                      const char *artifact_name, const char *artifact_type)
{
    S_event(o, "state", "configuration", "info", NULL, action);
    api_jset_str(o, "rule.id", id);
    api_jset_str(o, "rule.name", title);
    api_jset_str(o, "rule.category", category);
    api_jset_str(o, "rule.ruleset", scanner);
    api_jset_str(o, "file.path", target);
    S_label(o, "artifact_name", artifact_name);
    S_label(o, "artifact_type", artifact_type);
}

static void S_misconfig(json_t *o, const Bulwark__V1__MisconfigFinding *m)
{
    S_posture(o, "misconfiguration-found", m->check_id, m->title, m->target_type, m->scanner,
              m->target, m->artifact_name, m->artifact_type);
    api_jset_str(o, "rule.description", m->message);
    api_jset_str(o, "rule.reference", m->primary_url);
    S_label(o, "finding_severity", m->finding_severity);
    S_label(o, "status", m->status);
}

static void S_secret(json_t *o, const Bulwark__V1__SecretFinding *s)
{
    S_posture(o, "secret-found", s->rule_id, s->title, s->category, s->scanner, s->target,
              s->artifact_name, s->artifact_type);
    S_label(o, "finding_severity", s->finding_severity);
    S_label(o, "match_redacted", s->match_redacted);
}

static void S_external(json_t *o, const Bulwark__V1__ExternalAlert *x)
{
    json_t *tags;

    S_event(o, "alert", "intrusion_detection", "info", NULL, "external-alert");
    api_jset_str(o, "event.provider", x->source);
    api_jset_str(o, "rule.name", x->rule);
    api_jset_str(o, "message", x->output);
    S_label(o, "priority", x->priority);
    if (x->n_tags && (tags = json_array())) {
        for (size_t i = 0; i < x->n_tags; i++)
            json_array_append_new(tags, api_str(x->tags[i]));
        api_jset(o, "tags", tags);
    }
}

/* What every event carries: time, identity, host, agent, container. */
static void S_common(json_t *o, const struct store_row *row)
{
    char id[32];
    const char *kind = evjson_kind_name(row->kind);

    api_jset(o, "@timestamp", api_time(row->time_ns));
    api_jset(o, "event.created", api_time(row->recv_ns));
    snprintf(id, sizeof id, "%lld", (long long)row->id);
    api_jset(o, "event.id", json_string(id));
    api_jset(o, "event.sequence", json_integer((json_int_t)row->seq));
    api_jset(o, "event.severity", json_integer(row->severity));
    snprintf(id, sizeof id, "bulwark.%s", kind ? kind : "unknown");
    api_jset(o, "event.dataset", json_string(id));
    api_jset_str(o, "host.name", row->hostname);
    api_jset_str(o, "host.hostname", row->hostname);
    api_jset_str(o, "agent.id", row->agent_id);
    api_jset(o, "agent.type", json_string("bulwark-agent"));
    api_jset_str(o, "container.id", row->container_id);
}

json_t *enc_ecs_event(const struct store_row *row)
{
    Bulwark__V1__Event *ev = api_event_decode(row);
    json_t *o = json_object();

    if (!o)
        goto out;
    S_common(o, row);
    if (!ev) {
        S_event(o, "event", "host", "info", NULL, NULL);
        api_jset(o, "message", json_string("the stored body does not decode"));
        goto out;
    }
    S_container(o, ev->container);
    S_process(o, ev->process);
    switch (ev->body_case) {
    case BULWARK__V1__EVENT__BODY_EXEC:
        S_event(o, "event", "process", "start", NULL, "exec");
        api_jset_str(o, "process.working_directory", ev->exec->cwd);
        break;
    case BULWARK__V1__EVENT__BODY_NET:
        S_net(o, ev->net);
        break;
    case BULWARK__V1__EVENT__BODY_FILE:
        S_file(o, ev->file);
        break;
    case BULWARK__V1__EVENT__BODY_RESOURCE:
        S_resource(o, ev->resource, ev->container != NULL);
        break;
    case BULWARK__V1__EVENT__BODY_CONFIG:
        S_config(o, ev->config);
        break;
    case BULWARK__V1__EVENT__BODY_VULN:
        S_vuln(o, ev->vuln);
        break;
    case BULWARK__V1__EVENT__BODY_EXTERNAL:
        S_external(o, ev->external);
        break;
    case BULWARK__V1__EVENT__BODY_MISCONFIG:
        S_misconfig(o, ev->misconfig);
        break;
    case BULWARK__V1__EVENT__BODY_SECRET:
        S_secret(o, ev->secret);
        break;
    default:
        S_event(o, "event", "host", "info", NULL, NULL);
        break;
    }
out:
    if (ev)
        bulwark__v1__event__free_unpacked(ev, NULL);
    return o;
}

json_t *enc_ecs_alert(const struct store_alert_row *row)
{
    json_t *o = json_object(), *tags;
    char id[32];

    if (!o)
        return NULL;
    S_event(o, "alert", "intrusion_detection", "info", NULL, "alert");
    api_jset(o, "@timestamp", api_time(row->first_seen_ns));
    api_jset(o, "event.start", api_time(row->first_seen_ns));
    api_jset(o, "event.end", api_time(row->last_seen_ns));
    snprintf(id, sizeof id, "%lld", (long long)row->id);
    api_jset(o, "event.id", json_string(id));
    api_jset(o, "event.severity", json_integer(row->priority));
    api_jset(o, "event.dataset", json_string("bulwark.alert"));
    api_jset_str(o, "event.provider", row->source);
    api_jset_str(o, "rule.name", row->rule);
    api_jset(o, "rule.ruleset", json_string("bulwark"));
    api_jset_str(o, "message", row->output);
    api_jset_str(o, "host.name", row->hostname);
    api_jset_str(o, "agent.id", row->agent_id);
    api_jset_str(o, "container.id", row->container_id);
    api_jset_str(o, "container.image.name", row->image);
    tags = row->tags_json ? json_loads(row->tags_json, 0, NULL) : NULL;
    if (json_is_array(tags) && json_array_size(tags))
        api_jset(o, "tags", json_incref(tags));
    json_decref(tags);
    snprintf(id, sizeof id, "%u", row->count);
    S_label(o, "count", id);
    S_label(o, "status", row->status);
    S_label(o, "retrospective", row->retrospective ? "true" : "false");
    return o;
}
