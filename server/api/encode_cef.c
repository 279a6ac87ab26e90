/* encode_cef.c - alerts and events as ArcSight CEF:0 lines, the message of
 * the syslog forwarder when forward_format is cef:
 *
 *   CEF:0|Bulwark|Bulwark|<version>|<signature id>|<name>|<severity 0-10>|<ext>
 *
 * Escaping (the CEF spec, "Implementing ArcSight CEF", rev. 25): in the
 * header '\' becomes '\\' and '|' becomes '\|' (a newline there is not
 * allowed, so CR and LF become spaces); in extension values '\' becomes '\\',
 * '=' becomes '\=' and CR/LF become \r and \n. Extension keys are ours and
 * plain. Other control bytes become spaces: a receiver splitting lines must
 * never see one record as two. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "bulwark/err.h"
#include "bulwark/evjson.h"

int enc_cef_severity(int32_t sev)
{
    /* 0..8 -> 0..10; debug/info are low (1-2), critical and above 8-10 */
    static const int map[9] = {0, 1, 2, 3, 5, 7, 8, 9, 10};
    return sev >= 0 && sev <= 8 ? map[sev] : 5;
}

static int S_escape(struct buf *out, const char *s, bool header)
{
    const char *run = s;
    int rc = 0;

    if (!s)
        return 0;
    for (; *s && rc == 0; s++) {
        const char *rep = NULL;
        unsigned char ch = (unsigned char)*s;
        if (ch == '\\')
            rep = "\\\\";
        else if (header && ch == '|')
            rep = "\\|";
        else if (!header && ch == '=')
            rep = "\\=";
        else if (!header && ch == '\n')
            rep = "\\n";
        else if (!header && ch == '\r')
            rep = "\\r";
        else if (ch < 0x20 || ch == 0x7f)
            rep = " ";
        if (!rep)
            continue;
        rc = buf_append(out, run, (size_t)(s - run));
        if (rc == 0)
            rc = buf_append(out, rep, strlen(rep));
        run = s + 1;
    }
    if (rc == 0)
        rc = buf_append(out, run, strlen(run));
    return rc;
}

int enc_cef_header(struct buf *out, const char *s)
{
    return S_escape(out, s, true);
}

int enc_cef_value(struct buf *out, const char *s)
{
    return S_escape(out, s, false);
}

static int S_head(struct buf *out, const char *sig, const char *name, int32_t sev)
{
    int rc = buf_printf(out, "CEF:0|Bulwark|Bulwark|%s|", BULWARK_VERSION);
    if (rc == 0)
        rc = enc_cef_header(out, sig);
    if (rc == 0)
        rc = buf_append(out, "|", 1);
    if (rc == 0)
        rc = enc_cef_header(out, name);
    if (rc == 0)
        rc = buf_printf(out, "|%d|", enc_cef_severity(sev));
    return rc;
}

/* " key=value" (the first without the space); nothing when v is empty. */
static int S_ext(struct buf *out, bool *first, const char *key, const char *v)
{
    int rc;
    if (!v || !*v)
        return 0;
    rc = buf_printf(out, "%s%s=", *first ? "" : " ", key);
    *first = false;
    return rc == 0 ? enc_cef_value(out, v) : rc;
}

static int S_ext_int(struct buf *out, bool *first, const char *key, int64_t v)
{
    int rc = buf_printf(out, "%s%s=%" PRId64, *first ? "" : " ", key, v);
    *first = false;
    return rc;
}

/* csN with its csNLabel, only when there is a value. */
static int S_cs(struct buf *out, bool *first, int n, const char *label, const char *v)
{
    char key[16];
    int rc;

    if (!v || !*v)
        return 0;
    snprintf(key, sizeof key, "cs%dLabel", n);
    rc = S_ext(out, first, key, label);
    snprintf(key, sizeof key, "cs%d", n);
    return rc == 0 ? S_ext(out, first, key, v) : rc;
}

/* Where it happened: host, agent, container (alerts and events alike). */
static int S_where(struct buf *out, bool *first, const char *host, const char *agent,
                   const char *container)
{
    int rc = S_ext(out, first, "dhost", host);
    if (rc == 0)
        rc = S_ext(out, first, "deviceExternalId", agent);
    return rc == 0 ? S_cs(out, first, 1, "container", container) : rc;
}

int enc_cef_alert(const struct store_alert_row *row, struct buf *out)
{
    bool first = true;
    int rc = S_head(out, row->rule, row->rule, row->priority);

    if (rc == 0)
        rc = S_ext_int(out, &first, "externalId", row->id);
    if (rc == 0)
        rc = S_ext_int(out, &first, "rt", row->last_seen_ns / 1000000);
    if (rc == 0)
        rc = S_ext_int(out, &first, "start", row->first_seen_ns / 1000000);
    if (rc == 0)
        rc = S_ext_int(out, &first, "end", row->last_seen_ns / 1000000);
    if (rc == 0)
        rc = S_ext_int(out, &first, "cnt", row->count);
    if (rc == 0)
        rc = S_ext(out, &first, "cat", row->source);
    if (rc == 0)
        rc = S_where(out, &first, row->hostname, row->agent_id, row->container_id);
    if (rc == 0)
        rc = S_cs(out, &first, 2, "image", row->image);
    if (rc == 0)
        rc = S_cs(out, &first, 3, "status", row->status);
    if (rc == 0)
        rc = S_ext(out, &first, "msg", row->output);
    return rc;
}

int enc_cef_event(const struct store_row *row, struct buf *out)
{
    Bulwark__V1__Event *ev = api_event_decode(row);
    const char *kind = evjson_kind_name(row->kind);
    bool first = true;
    int rc;

    if (!kind)
        kind = "unknown";
    rc = S_head(out, kind, kind, row->severity);
    if (rc == 0)
        rc = S_ext_int(out, &first, "externalId", row->id);
    if (rc == 0)
        rc = S_ext_int(out, &first, "rt", row->time_ns / 1000000);
    if (rc == 0)
        rc = S_where(out, &first, row->hostname, row->agent_id, row->container_id);
    if (rc == 0 && ev && ev->process) {
        rc = S_ext(out, &first, "dproc", ev->process->name);
        if (rc == 0 && ev->process->pid)
            rc = S_ext_int(out, &first, "dpid", ev->process->pid);
        if (rc == 0)
            rc = S_ext(out, &first, "duser", ev->process->user);
    }
    if (rc == 0 && ev && ev->body_case == BULWARK__V1__EVENT__BODY_EXEC)
        rc = S_ext(out, &first, "filePath", ev->process ? ev->process->exe : NULL);
    if (rc == 0 && ev && ev->body_case == BULWARK__V1__EVENT__BODY_FILE)
        rc = S_ext(out, &first, "filePath", ev->file->path);
    if (rc == 0 && ev && ev->body_case == BULWARK__V1__EVENT__BODY_NET) {
        const Bulwark__V1__NetConnection *n = ev->net;
        bool in = n->direction == BULWARK__V1__NET_CONNECTION__DIRECTION__INBOUND;
        rc = S_ext(out, &first, "src", in ? n->remote_addr : n->local_addr);
        if (rc == 0)
            rc = S_ext_int(out, &first, "spt", in ? n->remote_port : n->local_port);
        if (rc == 0)
            rc = S_ext(out, &first, "dst", in ? n->local_addr : n->remote_addr);
        if (rc == 0)
            rc = S_ext_int(out, &first, "dpt", in ? n->local_port : n->remote_port);
        if (rc == 0)
            rc = S_ext_int(out, &first, "deviceDirection", in ? 0 : 1);
    }
    if (rc == 0 && ev && ev->body_case == BULWARK__V1__EVENT__BODY_VULN)
        rc = S_ext(out, &first, "msg", ev->vuln->vuln_id);
    if (rc == 0 && ev && ev->body_case == BULWARK__V1__EVENT__BODY_EXTERNAL)
        rc = S_ext(out, &first, "msg", ev->external->output);
    if (ev)
        bulwark__v1__event__free_unpacked(ev, NULL);
    return rc;
}
