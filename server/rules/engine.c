/* engine.c - the rules engine: runs one event through the rules indexed
 * for its kind, feeds anomaly/threshold/correlation state, renders and
 * delivers alerts; hot swap of rulesets keeping per-rule state by name;
 * save/restore of that state. No allocation per event on the plain path. */
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "internal.h"

#define ENGINE_MAGIC 0x42575245u  /* "BWRE" */
#define ENGINE_VERSION 1
#define EVIDENCE_MAX 16

struct rules_engine {
    const struct ruleset *rs;
    struct rstate **state;      /* per rule; NULL for plain rules */
    uint32_t *running;          /* running_image rules with state: see every container's events */
    size_t nrunning;
    uint32_t *fired;            /* per rule: generation of the last event it fired on */
    uint32_t gen;
    struct evctx c;
    char out[RULES_OUTPUT_MAX];
    char key[RULES_KEY_MAX];
    char gkey[RULES_KEY_MAX];
    bool matched[RULES_MAX_MEMBERS];
    struct rules_evidence ev[EVIDENCE_MAX];
};

static bool needs_state(const struct rule *r)
{
    return r->evaluate && r->type != RT_PLAIN;
}

static void free_states(struct rstate **st, size_t n)
{
    for (size_t i = 0; st && i < n; i++)
        rstate_free(st[i]);
    free(st);
}

static int engine_bind(struct rules_engine *e, const struct ruleset *rs, struct rstate **old,
                       const struct ruleset *old_rs)
{
    struct rstate **state = calloc(rs->n ? rs->n : 1, sizeof *state);
    uint32_t *fired = calloc(rs->n ? rs->n : 1, sizeof *fired);
    uint32_t *running = calloc(rs->n ? rs->n : 1, sizeof *running);
    struct nameidx kept = {0};   /* old rules with state, by name: a swap runs on the loop */
    size_t nrunning = 0;
    int rc = state && fired && running ? 0 : BW_ENOMEM;

    for (size_t j = 0; rc == 0 && old && j < old_rs->n; j++)
        if (old[j])
            rc = nameidx_put(&kept, old_rs->rules[j].name, j);
    if (rc < 0) {
        free(state);
        free(fired);
        free(running);
        nameidx_release(&kept);
        return rc;
    }
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule *r = &rs->rules[i];
        size_t j;

        if (!needs_state(r))
            continue;
        if (old && nameidx_get(&kept, r->name, &j) && old[j] && rstate_compatible(&old_rs->rules[j], r)) {
            state[i] = old[j];
            old[j] = NULL;
        }
        if (!state[i])
            state[i] = rstate_new(r);  /* NULL on ENOMEM: the rule is skipped */
    }
    nameidx_release(&kept);
    for (size_t i = 0; i < rs->n; i++)
        if (state[i] && rs->rules[i].type == RT_RUNNING_IMAGE)
            running[nrunning++] = (uint32_t)i;
    free(e->running);
    e->running = running;
    e->nrunning = nrunning;
    e->rs = rs;
    e->state = state;
    free(e->fired);
    e->fired = fired;
    e->gen = 0;
    return 0;
}

struct rules_engine *rules_engine_new(const struct ruleset *rs)
{
    struct rules_engine *e = calloc(1, sizeof *e);

    if (!e)
        return NULL;
    if (engine_bind(e, rs, NULL, NULL) < 0) {
        free(e);
        return NULL;
    }
    return e;
}


int rules_engine_swap(struct rules_engine *e, const struct ruleset *rs)
{
    struct rstate **old = e->state;
    const struct ruleset *old_rs = e->rs;
    int rc = engine_bind(e, rs, old, old_rs);

    if (rc < 0)  /* no memory for the new tables: the engine still runs the old rules */
        return rc;
    free_states(old, old_rs->n);
    return 0;
}

void rules_engine_free(struct rules_engine *e)
{
    if (!e)
        return;
    free_states(e->state, e->rs->n);
    free(e->fired);
    free(e->running);
    free(e);
}

/* Formats the values of fields into dst joined by '|'; false if one is absent. */
static bool make_key(struct evctx *c, const struct gfield *g, size_t n, char *dst, size_t len)
{
    char num[64];
    size_t used = 0;

    dst[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        struct fval v;
        const char *s;
        size_t sl;

        if (fields_get(c, g[i].id, g[i].arg, &v) < 0)
            return false;
        s = fields_format(&v, num, sizeof num);
        sl = strlen(s);
        if (used + sl + 2 > len)
            sl = len > used + 2 ? len - used - 2 : 0;
        if (i)
            dst[used++] = '|';
        memcpy(dst + used, s, sl);
        used += sl;
        dst[used] = '\0';
    }
    return true;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static void emit(struct rules_engine *e, const struct rule *r, size_t n_ev, rules_alert_fn fn, void *ctx)
{
    struct evctx *c = &e->c;
    const Bulwark__V1__ContainerRef *ct = c->ev->container;
    struct rules_alert a = {
        .rule = r->name,
        .priority = r->priority,
        .output = e->out,
        .source = r->source,
        .group_key = e->gkey,
        .agent_id = c->m ? nonempty(c->m->agent_id) : NULL,
        .hostname = c->m ? nonempty(c->m->hostname) : NULL,
        .container_id = ct ? nonempty(ct->id) : NULL,
        .image = ct ? nonempty(ct->image) : NULL,
        .tags = (const char *const *)r->tags,
        .n_tags = r->ntags,
        .time_ns = c->ev->time_ns,
        .evidence = e->ev,
        .n_evidence = n_ev,
    };

    if (r->priority_from != F_NONE) {
        struct fval v;
        int32_t p;

        if (fields_get(c, r->priority_from, NULL, &v) == 0 && v.type == VT_STR &&
            (p = priority_parse(v.s)) > 0)
            a.priority = p;
    }
    if (r->ngroup == 0 || !make_key(c, r->group, r->ngroup, e->gkey, sizeof e->gkey)) {
        const char *g = a.container_id ? a.container_id : a.hostname ? a.hostname : a.agent_id;

        make_key(c, NULL, 0, e->gkey, sizeof e->gkey);
        if (g) {
            size_t n = strlen(g) < sizeof e->gkey - 1 ? strlen(g) : sizeof e->gkey - 1;

            memcpy(e->gkey, g, n);
            e->gkey[n] = '\0';
        }
    }
    output_render(&r->out, c, e->out, sizeof e->out);
    fn(ctx, &a);
}

static void own_evidence(struct rules_engine *e)
{
    const struct rules_event_meta *m = e->c.m;

    e->ev[0].agent_id = m ? m->agent_id : NULL;
    e->ev[0].epoch = m ? m->epoch : 0;
    e->ev[0].seq = m ? m->seq : 0;
}

struct run_emit_ctx {
    struct rules_engine *e;
    rules_alert_fn fn;
    void *ctx;
    int alerts;
};

/* Raises running_image rule r for a finding joined with a running
 * container: the rule's output and group render against the finding as if
 * it carried that container; the evidence is the finding, then the
 * container's event. */
static void run_emit(void *p, const struct rule *r, const struct run_match *m)
{
    struct run_emit_ctx *x = p;
    struct rules_engine *e = x->e;
    const Bulwark__V1__Event *ev = e->c.ev;
    Bulwark__V1__Event syn;
    Bulwark__V1__ContainerRef ct;
    Bulwark__V1__VulnFinding v;

    if (!r->enabled)
        return;
    bulwark__v1__event__init(&syn);
    bulwark__v1__container_ref__init(&ct);
    bulwark__v1__vuln_finding__init(&v);
    ct.id = (char *)m->id;
    ct.name = (char *)m->name;
    ct.image = (char *)m->image;
    ct.image_digest = (char *)m->digest;
    v.vuln_id = (char *)m->vuln_id;
    v.package = (char *)m->package;
    v.installed_version = (char *)m->installed;
    v.fixed_version = (char *)m->fixed;
    v.vuln_severity = (char *)m->severity;
    v.cvss_score = m->cvss;
    v.title = (char *)m->title;
    v.scanner = (char *)m->scanner;
    v.target = (char *)m->target;
    syn.time_ns = ev->time_ns;
    syn.severity = ev->severity;
    syn.container = &ct;
    syn.body_case = BULWARK__V1__EVENT__BODY_VULN;
    syn.vuln = &v;
    e->c.ev = &syn;
    fields_prepare(&e->c);
    e->ev[0] = m->ev[0];
    e->ev[1] = m->ev[1];
    emit(e, r, 2, x->fn, x->ctx);
    x->alerts++;
    e->c.ev = ev;
    fields_prepare(&e->c);
}

int rules_engine_eval(struct rules_engine *e, const Bulwark__V1__Event *ev, const struct rules_event_meta *m,
                      rules_alert_fn fn, void *ctx)
{
    const struct ruleset *rs = e->rs;
    struct evctx *c = &e->c;
    int alerts = 0, err = 0;
    size_t k;

    c->ev = ev;
    c->m = m;
    fields_prepare(c);
    if (!c->kind_bit)
        return 0;
    k = (size_t)ev->body_case - 10;
    if (++e->gen == 0) {
        memset(e->fired, 0, rs->n * sizeof *e->fired);
        e->gen = 1;
    }
    struct run_emit_ctx rx = {.e = e, .fn = fn, .ctx = ctx};
    /* A container's exec, resource sample or config snapshot: its image
     * runs. The agent samples every container's resources every few
     * seconds, so connections and file events (the bulk of the traffic)
     * would add cost and no news. */
    if (ev->body_case == BULWARK__V1__EVENT__BODY_RESOURCE ||
        ev->body_case == BULWARK__V1__EVENT__BODY_EXEC ||
        ev->body_case == BULWARK__V1__EVENT__BODY_CONFIG) {
        for (size_t i = 0; i < e->nrunning; i++) {
            int rc = rstate_running_seen(e->state[e->running[i]], &rs->rules[e->running[i]], c,
                                         run_emit, &rx);
            if (rc < 0)
                err = rc;
        }
    }
    for (size_t i = 0; i < rs->n_by_kind[k]; i++) {
        uint32_t idx = rs->by_kind[k][i];
        const struct rule *r = &rs->rules[idx];
        size_t n_ev = 1;
        int rc = 1;

        if (!cprog_eval(r->prog, c))
            continue;
        c->has_anomaly = false;
        if (r->type == RT_RUNNING_IMAGE) {
            struct run_match rm;

            if (!e->state[idx])
                continue;
            rc = rstate_running_finding(e->state[idx], r, c, &rm);
            if (rc < 0)
                err = rc;
            if (rc == 1) {
                e->fired[idx] = e->gen;
                run_emit(&rx, r, &rm);
            }
            continue;
        }
        if (r->type != RT_PLAIN) {
            if (!e->state[idx] || !make_key(c, &r->by, 1, e->key, sizeof e->key))
                continue;
            if (r->type == RT_CPU_SPIKE)
                rc = rstate_cpu(e->state[idx], r, c, e->key);
            else if (r->type == RT_FIRST_SEEN)
                rc = rstate_first_seen(e->state[idx], r, c, e->key);
            else
                rc = rstate_threshold(e->state[idx], r, c, e->key, e->ev, &n_ev);
            if (rc < 0)
                err = rc;
        }
        if (rc != 1)
            continue;
        e->fired[idx] = e->gen;
        if (r->type != RT_THRESHOLD)
            own_evidence(e);
        if (r->enabled) {
            emit(e, r, n_ev, fn, ctx);
            alerts++;
        }
    }
    c->has_anomaly = false;
    for (size_t i = 0; i < rs->n_corr_by_kind[k]; i++) {
        uint32_t idx = rs->corr_by_kind[k][i];
        const struct rule *r = &rs->rules[idx];
        bool any = false;
        size_t n_ev = 0;
        int rc;

        for (size_t j = 0; j < r->nmembers; j++) {
            const struct member *mb = &r->members[j];

            e->matched[j] = mb->rule >= 0 ? e->fired[mb->rule] == e->gen
                                          : (mb->kinds & c->kind_bit) && cprog_eval(mb->prog, c);
            any |= e->matched[j];
        }
        if (!any || !e->state[idx] || !make_key(c, &r->by, 1, e->key, sizeof e->key))
            continue;
        rc = rstate_correlate(e->state[idx], r, c, e->key, e->matched, e->ev, &n_ev);
        if (rc < 0)
            err = rc;
        if (rc == 1 && r->enabled) {
            emit(e, r, n_ev, fn, ctx);
            alerts++;
        }
    }
    return err < 0 ? err : alerts + rx.alerts;
}

/* ------------------------------------------------------- save / restore */

static int put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

    return buf_append(b, x, 4);
}

static bool get_u32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    if (end - *p < 4)
        return false;
    *v = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 | (*p)[3];
    *p += 4;
    return true;
}

/* magic, version, count; per stateful rule: name length, name, type, state
 * length, state (rstate_save). A failed save leaves out as it was. */
int rules_engine_save(const struct rules_engine *e, struct buf *out)
{
    size_t start = out->len, nstate = 0;
    int rc;

    for (size_t i = 0; i < e->rs->n; i++)
        nstate += e->state[i] != NULL;
    rc = put_u32(out, ENGINE_MAGIC);
    if (rc == 0)
        rc = put_u32(out, ENGINE_VERSION);
    if (rc == 0)
        rc = put_u32(out, (uint32_t)nstate);
    for (size_t i = 0; rc == 0 && i < e->rs->n; i++) {
        const struct rule *r = &e->rs->rules[i];
        size_t nl = strlen(r->name), lenpos;

        if (!e->state[i])
            continue;
        rc = put_u32(out, (uint32_t)nl);
        if (rc == 0)
            rc = buf_append(out, r->name, nl);
        if (rc == 0)
            rc = put_u32(out, (uint32_t)r->type);
        lenpos = out->len;
        if (rc == 0)
            rc = put_u32(out, 0);
        if (rc == 0)
            rc = rstate_save(e->state[i], out);
        if (rc == 0) {
            uint32_t len = (uint32_t)(out->len - lenpos - 4);
            uint8_t *p = out->data + lenpos;

            p[0] = (uint8_t)(len >> 24);
            p[1] = (uint8_t)(len >> 16);
            p[2] = (uint8_t)(len >> 8);
            p[3] = (uint8_t)len;
        }
    }
    if (rc < 0)
        out->len = start;
    return rc;
}

static int find_rule(const struct ruleset *rs, const uint8_t *name, size_t nl)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strlen(rs->rules[i].name) == nl && memcmp(rs->rules[i].name, name, nl) == 0)
            return (int)i;
    return -1;
}

/* Two passes: the first checks the framing and restores into fresh state
 * objects; only when all succeeded do they replace the live ones. */
int rules_engine_restore(struct rules_engine *e, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    const struct ruleset *rs = e->rs;
    struct rstate **fresh;
    uint32_t magic, ver, cnt;
    int rc = 0;

    if (!get_u32(&p, end, &magic) || magic != ENGINE_MAGIC || !get_u32(&p, end, &ver) ||
        ver != ENGINE_VERSION || !get_u32(&p, end, &cnt))
        return BW_EINVAL;
    fresh = calloc(rs->n ? rs->n : 1, sizeof *fresh);
    if (!fresh)
        return BW_ENOMEM;
    for (uint32_t i = 0; i < cnt && rc == 0; i++) {
        uint32_t nl, type, sl;
        const uint8_t *name;
        int idx;

        if (!get_u32(&p, end, &nl) || (size_t)(end - p) < nl) {
            rc = BW_EINVAL;
            break;
        }
        name = p;
        p += nl;
        if (!get_u32(&p, end, &type) || !get_u32(&p, end, &sl) || (size_t)(end - p) < sl) {
            rc = BW_EINVAL;
            break;
        }
        idx = find_rule(rs, name, nl);
        if (idx >= 0 && e->state[idx] && rs->rules[idx].type == (enum rule_type)type && !fresh[idx]) {
            fresh[idx] = rstate_new(&rs->rules[idx]);
            rc = fresh[idx] ? rstate_restore(fresh[idx], p, sl) : BW_ENOMEM;
        }
        p += sl;
    }
    if (rc == 0 && p != end)
        rc = BW_EINVAL;
    if (rc == 0) {
        for (size_t i = 0; i < rs->n; i++) {
            if (fresh[i]) {
                rstate_free(e->state[i]);
                e->state[i] = fresh[i];
                fresh[i] = NULL;
            }
        }
    }
    free_states(fresh, rs->n);
    return rc;
}
