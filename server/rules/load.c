/* load.c - ruleset_load(): reads Falco rule files (list, macro and rule
 * items; override/append, the older `append: true`, exceptions) plus our
 * extensions (anomaly, threshold, correlate, group_by, priority_from,
 * alert_source, running_image), then compiles every rule and builds the kind
 * indexes.
 *
 * Loading is two-phase: all files are read into raw items first (later
 * items override or append to earlier ones by name), then macros are parsed
 * and rules compiled. YAML and condition syntax errors refuse the load with
 * file:line; anything a rule uses that we cannot run disables that rule
 * only, reported once through diag. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "bulwark/duration.h"
#include "bulwark/err.h"
#include "internal.h"

#define LOAD_TAGS_MAX 64
#define LOAD_EXCEPTIONS_MAX 256
#define LOAD_OVERRIDE_MAX 16
/* What conditions may expand to (tests and values, ~150 bytes each once
 * compiled): a fixed allowance plus so many per byte of input. Falco's three
 * files together (225 KB) use under 7,000 and a generated 1 MB file of 4,000
 * rules about 120,000; a file whose macros double at each level (`m2: m1 or
 * m1`...) is refused at the bound, after ~50 MB and a fraction of a second,
 * instead of taking exponential time and memory. */
#define LOAD_BUDGET_BASE 250000u
#define LOAD_BUDGET_PER_BYTE 8u

struct frag {
    char *text;
    const char *file;
    unsigned line;
};

struct fragv {
    struct frag *v;
    size_t n;
};

struct exc {
    char *name;
    const struct ynode *fields, *comps;
    const struct ynode **values;   /* sequences of value tuples (appends add more) */
    size_t nvalues;
    const char *file;
    unsigned line;
};

struct raw_rule {
    char *name;
    const char *file;
    unsigned line;
    struct fragv cond, output, desc;
    int32_t priority;
    char **tags;
    size_t ntags;
    bool enabled;
    struct exc *exc;
    size_t nexc;
    const struct ynode *source, *anomaly, *threshold, *correlate, *group_by, *priority_from,
        *alert_source, *running_image;
};

struct raw_macro {
    char *name;
    struct fragv cond;
    const char *file;
    unsigned line;
};

struct loader {
    rules_diag_fn diag;
    void *ctx;
    struct ruleset *rs;
    struct ynode ***docs;
    size_t *ndocs;
    size_t nfiles;
    struct raw_rule *rules;
    size_t nrules;
    struct raw_macro *macros;
    size_t nmacros;
    struct list_def *lists;
    size_t nlists;
    struct nameidx rule_idx, macro_idx, list_idx;   /* name -> index in the arrays above */
    size_t input_bytes;   /* of every file: what the compile budget grows with */
    uint64_t work;        /* name probes and compiled nodes (tests check it grows linearly) */
    const char *file;     /* file being read */
};

static void diag(struct loader *l, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void diag(struct loader *l, const char *file, unsigned line, const char *fmt, ...)
{
    char msg[RULES_MSG_MAX];
    va_list ap;

    if (!l->diag)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->diag(l->ctx, file, line, msg);
}

static int bad(struct loader *l, const struct ynode *n, const char *what, const char *name)
{
    diag(l, l->file, n ? n->line : 0, "%s%s%s%s", what, name ? " '" : "", name ? name : "", name ? "'" : "");
    return BW_ECONFIG;
}

static bool is_scalar(const struct ynode *n)
{
    return n && n->type == Y_SCALAR;
}

/* Grows *arr (of element size sz) to hold n + 1 elements. */
static int grow(void *arr, size_t n, size_t sz)
{
    void **pp = arr, *p;

    if (n & (n - 1) && n > 4)
        return 0;
    p = realloc(*pp, (n < 4 ? 4 : n * 2) * sz);
    if (!p)
        return BW_ENOMEM;
    *pp = p;
    return 0;
}

static void fragv_release(struct fragv *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].text);
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

static int fragv_add(struct loader *l, struct fragv *f, const struct ynode *n)
{
    int rc = grow(&f->v, f->n, sizeof *f->v);

    if (rc < 0)
        return rc;
    f->v[f->n].text = strdup(n->s);
    if (!f->v[f->n].text)
        return BW_ENOMEM;
    f->v[f->n].file = l->file;
    f->v[f->n].line = n->line;
    f->n++;
    return 0;
}

static int fragv_set(struct loader *l, struct fragv *f, const struct ynode *n)
{
    fragv_release(f);
    return fragv_add(l, f, n);
}

/* Joined text (malloc'd), fragments separated by a space. */
static char *fragv_join(const struct fragv *f)
{
    size_t len = 1, off = 0;
    char *s;

    for (size_t i = 0; i < f->n; i++)
        len += strlen(f->v[i].text) + 1;
    s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < f->n; i++) {
        size_t n = strlen(f->v[i].text);

        if (i)
            s[off++] = ' ';
        memcpy(s + off, f->v[i].text, n + 1);
        off += n;
    }
    return s;
}

/* file:line of byte offset off in the joined text. */
static void fragv_locate(const struct fragv *f, size_t off, const char **file, unsigned *line)
{
    size_t start = 0;

    *file = f->n ? f->v[0].file : NULL;
    *line = f->n ? f->v[0].line : 0;
    for (size_t i = 0; i < f->n; i++) {
        size_t n = strlen(f->v[i].text);

        if (off <= start + n || i + 1 == f->n) {
            *file = f->v[i].file;
            *line = f->v[i].line;
            for (size_t j = 0; j < off - start && j < n; j++)
                *line += f->v[i].text[j] == '\n';
            return;
        }
        start += n + 1;
    }
}

static void strs_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Appends the scalars of sequence seq to *v (skipping duplicates if uniq). */
static int strs_add_seq(struct loader *l, char ***v, size_t *n, const struct ynode *seq, bool uniq)
{
    if (!seq || seq->type != Y_SEQ)
        return bad(l, seq, "expected a list", NULL);
    for (size_t i = 0; i < seq->n; i++) {
        const struct ynode *it = seq->kids[i];
        bool dup = false;
        int rc;

        if (!is_scalar(it))
            return bad(l, it, "expected a list of strings", NULL);
        for (size_t j = 0; uniq && j < *n && !dup; j++)
            dup = strcmp((*v)[j], it->s) == 0;
        if (dup)
            continue;
        if (uniq && *n >= LOAD_TAGS_MAX)  /* bounds the duplicate check too */
            return bad(l, it, "more than 64 tags", NULL);
        rc = grow(v, *n, sizeof **v);
        if (rc < 0)
            return rc;
        (*v)[*n] = strdup(it->s);
        if (!(*v)[*n])
            return BW_ENOMEM;
        ++*n;
    }
    return 0;
}

static int parse_bool(struct loader *l, const struct ynode *n, bool *out)
{
    if (is_scalar(n) && (strcasecmp(n->s, "true") == 0 || strcasecmp(n->s, "yes") == 0)) {
        *out = true;
        return 0;
    }
    if (is_scalar(n) && (strcasecmp(n->s, "false") == 0 || strcasecmp(n->s, "no") == 0)) {
        *out = false;
        return 0;
    }
    return bad(l, n, "expected true or false", NULL);
}

/* ---------------------------------------------------------------- lists */

static struct list_def *list_find(struct loader *l, const char *name)
{
    size_t i;

    return nameidx_get(&l->list_idx, name, &i) ? &l->lists[i] : NULL;
}

static int load_list(struct loader *l, const struct ynode *item, const char *name, bool append)
{
    const struct ynode *items = ynode_get(item, "items");
    struct list_def *d = list_find(l, name);
    size_t first;
    int rc;

    if (!items)
        return bad(l, item, "list without items:", name);
    if (append && !d) {
        diag(l, l->file, item->line, "list '%s': append to an undefined list ignored", name);
        return 0;
    }
    if (!d) {
        rc = grow(&l->lists, l->nlists, sizeof *l->lists);
        if (rc < 0)
            return rc;
        d = &l->lists[l->nlists];
        memset(d, 0, sizeof *d);
        d->name = strdup(name);
        if (!d->name || (rc = nameidx_put(&l->list_idx, d->name, l->nlists)) < 0) {
            free(d->name);
            return BW_ENOMEM;
        }
        l->nlists++;
    } else if (!append) {
        strs_free(d->items, d->n);
        d->items = NULL;
        d->n = 0;
    }
    first = d->n;
    rc = strs_add_seq(l, &d->items, &d->n, items, false);
    /* Falco pastes a list's items into the condition, so an item written
     * in quotes ('"10.0.0.0/8"', '"puma reactor"') is one quoted value:
     * the quotes are not part of it. */
    for (size_t i = first; rc == 0 && i < d->n; i++) {
        char *it = d->items[i];
        size_t len = strlen(it);

        if (len >= 2 && (it[0] == '"' || it[0] == '\'') && it[len - 1] == it[0]) {
            memmove(it, it + 1, len - 2);
            it[len - 2] = '\0';
        }
    }
    return rc;
}

/* --------------------------------------------------------------- macros */

static int load_macro(struct loader *l, const struct ynode *item, const char *name, bool append)
{
    const struct ynode *cond = ynode_get(item, "condition");
    struct raw_macro *m = NULL;
    size_t mi;
    int rc;

    if (!is_scalar(cond))
        return bad(l, item, "macro without a condition:", name);
    if (nameidx_get(&l->macro_idx, name, &mi))
        m = &l->macros[mi];
    if (append) {
        if (!m) {
            diag(l, l->file, item->line, "macro '%s': append to an undefined macro ignored", name);
            return 0;
        }
        return fragv_add(l, &m->cond, cond);
    }
    if (!m) {
        rc = grow(&l->macros, l->nmacros, sizeof *l->macros);
        if (rc < 0)
            return rc;
        m = &l->macros[l->nmacros];
        memset(m, 0, sizeof *m);
        m->name = strdup(name);
        if (!m->name || (rc = nameidx_put(&l->macro_idx, m->name, l->nmacros)) < 0) {
            free(m->name);
            return BW_ENOMEM;
        }
        l->nmacros++;
    }
    m->file = l->file;
    m->line = item->line;
    return fragv_set(l, &m->cond, cond);
}

/* ---------------------------------------------------------------- rules */

static struct raw_rule *rule_find(struct loader *l, const char *name)
{
    size_t i;

    return nameidx_get(&l->rule_idx, name, &i) ? &l->rules[i] : NULL;
}

static void exc_release(struct exc *x)
{
    free(x->name);
    free(x->values);
}

static void raw_rule_release(struct raw_rule *r)
{
    free(r->name);
    fragv_release(&r->cond);
    fragv_release(&r->output);
    fragv_release(&r->desc);
    strs_free(r->tags, r->ntags);
    for (size_t i = 0; i < r->nexc; i++)
        exc_release(&r->exc[i]);
    free(r->exc);
    memset(r, 0, sizeof *r);
}

static int exc_add_values(struct exc *x, const struct ynode *values)
{
    int rc = grow(&x->values, x->nvalues, sizeof *x->values);

    if (rc < 0)
        return rc;
    x->values[x->nvalues++] = values;
    return 0;
}

/* exceptions: [{name, fields, comps, values}]; append merges values by name. */
static int load_exceptions(struct loader *l, struct raw_rule *r, const struct ynode *seq, bool append)
{
    int rc;

    if (seq->type != Y_SEQ)
        return bad(l, seq, "exceptions: expected a list", NULL);
    if (!append) {
        for (size_t i = 0; i < r->nexc; i++)
            exc_release(&r->exc[i]);
        r->nexc = 0;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const struct ynode *e = seq->kids[i], *name = ynode_get(e, "name");
        const struct ynode *fields = ynode_get(e, "fields"), *values = ynode_get(e, "values");
        struct exc *x = NULL;

        if (e->type != Y_MAP || !is_scalar(name))
            return bad(l, e, "exception without a name", NULL);
        if (values && values->type != Y_SEQ)
            return bad(l, values, "exception values: expected a list", NULL);
        for (size_t j = 0; j < r->nexc && !x; j++)
            if (strcmp(r->exc[j].name, name->s) == 0)
                x = &r->exc[j];
        if (!x) {
            if (!fields || (fields->type != Y_SEQ && fields->type != Y_SCALAR))
                return bad(l, e, "exception without fields:", name->s);
            if (r->nexc >= LOAD_EXCEPTIONS_MAX)  /* bounds the search by name above */
                return bad(l, e, "more than 256 exceptions in a rule", NULL);
            rc = grow(&r->exc, r->nexc, sizeof *r->exc);
            if (rc < 0)
                return rc;
            x = &r->exc[r->nexc];
            memset(x, 0, sizeof *x);
            x->name = strdup(name->s);
            if (!x->name)
                return BW_ENOMEM;
            r->nexc++;
            x->fields = fields;
            x->comps = ynode_get(e, "comps");
            x->file = l->file;
            x->line = e->line;
        }
        if (values && (rc = exc_add_values(x, values)) < 0)
            return rc;
    }
    return 0;
}

static int rule_set_key(struct loader *l, struct raw_rule *r, const struct ynode *item, const char *key,
                        bool append)
{
    const struct ynode *v = ynode_get(item, key);

    if (!v)
        return 0;
    if (strcmp(key, "condition") == 0 || strcmp(key, "output") == 0 || strcmp(key, "desc") == 0) {
        struct fragv *f = key[0] == 'c' ? &r->cond : key[0] == 'o' ? &r->output : &r->desc;

        if (!is_scalar(v))
            return bad(l, v, "expected a string for", key);
        return append && f->n ? fragv_add(l, f, v) : fragv_set(l, f, v);
    }
    if (strcmp(key, "priority") == 0) {
        if (!is_scalar(v) || !(r->priority = priority_parse(v->s)))
            return bad(l, v, "unknown priority", is_scalar(v) ? v->s : NULL);
        return 0;
    }
    if (strcmp(key, "tags") == 0) {
        if (!append) {
            strs_free(r->tags, r->ntags);
            r->tags = NULL;
            r->ntags = 0;
        }
        if (v->type == Y_SCALAR && !*v->s)
            return 0;
        return strs_add_seq(l, &r->tags, &r->ntags, v, true);
    }
    if (strcmp(key, "enabled") == 0)
        return parse_bool(l, v, &r->enabled);
    if (strcmp(key, "exceptions") == 0)
        return load_exceptions(l, r, v, append);
    return 0;
}

static const char *const rule_keys[] = {"condition", "output", "desc", "priority", "tags", "enabled",
                                        "exceptions"};

static void rule_set_ext(struct raw_rule *r, const struct ynode *item)
{
    const struct ynode *v;

#define EXT(field, key) if ((v = ynode_get(item, key))) r->field = v
    EXT(source, "source");
    EXT(anomaly, "anomaly");
    EXT(threshold, "threshold");
    EXT(correlate, "correlate");
    EXT(group_by, "group_by");
    EXT(priority_from, "priority_from");
    EXT(alert_source, "alert_source");
    EXT(running_image, "running_image");
#undef EXT
}

static int load_rule(struct loader *l, const struct ynode *item, const char *name, bool append)
{
    const struct ynode *override = ynode_get(item, "override");
    struct raw_rule *r = rule_find(l, name);
    int rc = 0;

    if (override || append) {
        if (!r) {
            diag(l, l->file, item->line, "rule '%s': override of an undefined rule ignored", name);
            return 0;
        }
        if (override && override->type != Y_MAP)
            return bad(l, override, "override: expected a mapping", NULL);
        if (override && override->n > 2 * LOAD_OVERRIDE_MAX)  /* each key is looked up in item */
            return bad(l, override, "override: more than 16 keys", NULL);
        for (size_t i = 0; override && i + 1 < override->n && rc == 0; i += 2) {
            const struct ynode *k = override->kids[i], *how = override->kids[i + 1];

            if (!is_scalar(k) || !is_scalar(how) ||
                (strcmp(how->s, "append") != 0 && strcmp(how->s, "replace") != 0))
                return bad(l, how, "override: expected append or replace", NULL);
            rc = rule_set_key(l, r, item, k->s, strcmp(how->s, "append") == 0);
        }
        if (append) {  /* the older form: condition and exceptions append */
            rc = rule_set_key(l, r, item, "condition", true);
            if (rc == 0)
                rc = rule_set_key(l, r, item, "exceptions", true);
        }
        return rc;
    }
    if (r && !ynode_get(item, "condition") && !ynode_get(item, "correlate") && ynode_get(item, "enabled"))
        return rule_set_key(l, r, item, "enabled", false);  /* enable/disable only */
    if (!r) {
        rc = grow(&l->rules, l->nrules, sizeof *l->rules);
        if (rc < 0)
            return rc;
        r = &l->rules[l->nrules];
        memset(r, 0, sizeof *r);
        r->name = strdup(name);
        if (!r->name || (rc = nameidx_put(&l->rule_idx, r->name, l->nrules)) < 0) {
            free(r->name);
            return BW_ENOMEM;
        }
        l->nrules++;
    } else {  /* a full redefinition replaces the rule in place */
        char *keep = r->name;

        r->name = NULL;
        raw_rule_release(r);
        r->name = keep;
    }
    r->file = l->file;
    r->line = item->line;
    r->enabled = true;
    r->priority = BULWARK__V1__SEVERITY__SEVERITY_WARNING;
    if (!ynode_get(item, "condition") && !ynode_get(item, "correlate"))
        return bad(l, item, "rule without a condition:", name);
    for (size_t i = 0; i < sizeof rule_keys / sizeof *rule_keys && rc == 0; i++)
        rc = rule_set_key(l, r, item, rule_keys[i], false);
    rule_set_ext(r, item);
    return rc;
}

static int load_item(struct loader *l, const struct ynode *item)
{
    static const char *const kinds[] = {"rule", "macro", "list"};
    const struct ynode *app = ynode_get(item, "append");
    bool append = false;
    int rc;

    if (item->type != Y_MAP)
        return bad(l, item, "expected a mapping (rule, macro or list item)", NULL);
    if (app && (rc = parse_bool(l, app, &append)) < 0)
        return rc;
    for (size_t k = 0; k < 3; k++) {
        const struct ynode *name = ynode_get(item, kinds[k]);

        if (!name)
            continue;
        if (!is_scalar(name) || !*name->s)
            return bad(l, name, "expected a name for", kinds[k]);
        if (k == 0)
            return load_rule(l, item, name->s, append);
        if (k == 1)
            return load_macro(l, item, name->s, append || (ynode_get(item, "override") != NULL));
        return load_list(l, item, name->s, append || (ynode_get(item, "override") != NULL));
    }
    if (!ynode_get(item, "required_engine_version") && !ynode_get(item, "required_plugin_versions"))
        diag(l, l->file, item->line, "unknown item ignored");
    return 0;
}

/* ------------------------------------------------------------- compiling */

static int parse_fragv(struct loader *l, const struct fragv *f, struct anode **out)
{
    char err[RULES_MSG_MAX];
    const char *file;
    unsigned line;
    size_t off = 0;
    char *text = fragv_join(f);
    int rc;

    if (!text)
        return BW_ENOMEM;
    rc = cond_parse(text, out, &off, err, sizeof err);
    free(text);
    if (rc == BW_ECONFIG) {
        fragv_locate(f, off, &file, &line);
        diag(l, file, line, "%s", err);
    }
    return rc;
}

/* Durations in bulwark/duration.h's grammar; a bare number is seconds. */
static bool parse_duration(const char *s, int64_t *ns)
{
    return bw_duration_parse(s, 1000000000, ns) == 0;
}

static bool parse_num(const struct ynode *n, double lo, double hi, double *out)
{
    char *end;
    double v;

    if (!is_scalar(n))
        return false;
    errno = 0;
    v = strtod(n->s, &end);
    if (errno || end == n->s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

struct cr {   /* compile of one rule: where problems go */
    struct loader *l;
    struct raw_rule *raw;
    struct rule *r;
    char reason[RULES_MSG_MAX];
};

static int disable(struct cr *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int disable(struct cr *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->reason[0]) {
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof c->reason, fmt, ap);
        va_end(ap);
    }
    return BW_EINVAL;
}

static int field_arg(struct cr *c, const struct ynode *n, struct gfield *g, const char *what)
{
    char arg[RULES_KEY_MAX];
    const struct field_def *fd;

    if (!is_scalar(n))
        return disable(c, "%s: expected a field name", what);
    fd = fields_lookup(n->s, arg, sizeof arg);
    if (!fd || fd->kinds == 0)
        return disable(c, "unsupported field '%s'", n->s);
    g->id = fd->id;
    if (fd->takes_arg && !(g->arg = strdup(arg)))
        return BW_ENOMEM;
    return 0;
}

/* Optional number param: k of map m into *dst within [lo, hi]. */
static int num_param(struct cr *c, const struct ynode *m, const char *k, double lo, double hi, double *dst)
{
    const struct ynode *v = ynode_get(m, k);

    if (v && !parse_num(v, lo, hi, dst))
        return disable(c, "invalid value for '%s'", k);
    return 0;
}

static int dur_param(struct cr *c, const struct ynode *m, const char *k, int64_t *dst)
{
    const struct ynode *v = ynode_get(m, k);

    if (v && (!is_scalar(v) || !parse_duration(v->s, dst)))
        return disable(c, "invalid duration for '%s'", k);
    return 0;
}

static int compile_anomaly(struct cr *c)
{
    const struct ynode *a = c->raw->anomaly, *type = ynode_get(a, "type"), *val;
    struct rule *r = c->r;
    double d;
    int rc = 0;

    if (!a || a->type != Y_MAP || !is_scalar(type))
        return disable(c, "%s", "anomaly: expected a mapping with a type");
    r->source = "anomaly";
    rc = field_arg(c, ynode_get(a, "by") ? ynode_get(a, "by") : &(struct ynode){.type = Y_SCALAR, .s = "container.id"},
                   &r->by, "anomaly.by");
    if (rc < 0)
        return rc;
    val = ynode_get(a, "value");
    if (strcmp(type->s, "cpu_spike") == 0) {
        struct gfield g = {0};

        r->type = RT_CPU_SPIKE;
        /* a spike must last (4 samples over 20 s) and a start-up is given
         * a minute: docs/rules.md says why these defaults */
        r->cpu = (struct anomaly_cpu_params){.alpha = 0.1, .k = 3, .floor = 0.5, .warmup = 12,
                                             .cooldown_ns = 600000000000LL, .max_keys = 100000,
                                             .sustain = 4, .sustain_ns = 20000000000LL,
                                             .grace_ns = 60000000000LL};
        rc = field_arg(c, val ? val : &(struct ynode){.type = Y_SCALAR, .s = "resource.cpu_cores"}, &g,
                       "anomaly.value");
        r->value = g.id;
        free(g.arg);
        if (rc == 0)
            rc = num_param(c, a, "alpha", 1e-6, 1, &r->cpu.alpha);
        if (rc == 0)
            rc = num_param(c, a, "k", 0, 1000, &r->cpu.k);
        if (rc == 0)
            rc = num_param(c, a, "floor", 0, 1e9, &r->cpu.floor);
        d = r->cpu.warmup;
        if (rc == 0 && (rc = num_param(c, a, "warmup", 0, 1e6, &d)) == 0)
            r->cpu.warmup = (uint32_t)d;
        d = (double)r->cpu.max_keys;
        if (rc == 0 && (rc = num_param(c, a, "max_keys", 1, 1e7, &d)) == 0)
            r->cpu.max_keys = (size_t)d;
        if (rc == 0)
            rc = dur_param(c, a, "cooldown", &r->cpu.cooldown_ns);
        d = r->cpu.sustain;
        if (rc == 0 && (rc = num_param(c, a, "sustain", 1, 1e6, &d)) == 0)
            r->cpu.sustain = (uint32_t)d;
        if (rc == 0)
            rc = dur_param(c, a, "sustain_for", &r->cpu.sustain_ns);
        if (rc == 0)
            rc = dur_param(c, a, "startup_grace", &r->cpu.grace_ns);
        if (rc == 0)
            rc = dur_param(c, a, "restart_gap", &r->cpu.restart_gap_ns);
        return rc;
    }
    if (strcmp(type->s, "first_seen") == 0) {
        struct gfield g = {0};

        r->type = RT_FIRST_SEEN;
        r->fs = (struct anomaly_firstseen_params){.learning_ns = 86400000000000LL, .max_groups = 10000,
                                                  .max_values = 1024};
        rc = field_arg(c, val ? val : &(struct ynode){.type = Y_SCALAR, .s = "net.dest"}, &g, "anomaly.value");
        r->value = g.id;
        free(g.arg);
        if (rc == 0)
            rc = dur_param(c, a, "learning", &r->fs.learning_ns);
        d = (double)r->fs.max_groups;
        if (rc == 0 && (rc = num_param(c, a, "max_groups", 1, 1e7, &d)) == 0)
            r->fs.max_groups = (size_t)d;
        d = (double)r->fs.max_values;
        if (rc == 0 && (rc = num_param(c, a, "max_values", 1, 1e6, &d)) == 0)
            r->fs.max_values = (size_t)d;
        return rc;
    }
    return disable(c, "unsupported anomaly type '%s'", type->s);
}

/* running_image: {window, hold, max_images, max_findings}, each optional. */
static int compile_running_image(struct cr *c)
{
    const struct ynode *m = c->raw->running_image;
    struct rule *r = c->r;
    double d;
    int rc;

    if (m->type != Y_MAP)
        return disable(c, "%s", "running_image: expected a mapping");
    r->type = RT_RUNNING_IMAGE;
    r->run = (struct run_params){.window_ns = 600000000000LL, .hold_ns = 7 * 86400000000000LL,
                                 .max_images = 10000, .max_findings = 10000};
    rc = dur_param(c, m, "window", &r->run.window_ns);
    if (rc == 0)
        rc = dur_param(c, m, "hold", &r->run.hold_ns);
    d = (double)r->run.max_images;
    if (rc == 0 && (rc = num_param(c, m, "max_images", 1, 1e6, &d)) == 0)
        r->run.max_images = (size_t)d;
    d = (double)r->run.max_findings;
    if (rc == 0 && (rc = num_param(c, m, "max_findings", 1, 1e6, &d)) == 0)
        r->run.max_findings = (size_t)d;
    return rc;
}

static int window_params(struct cr *c, const struct ynode *m, const char *what)
{
    struct rule *r = c->r;
    const struct ynode *by = ynode_get(m, "by");
    double d = 10000;
    int rc;

    r->within_ns = -1;
    rc = dur_param(c, m, "within", &r->within_ns);
    if (rc == 0 && r->within_ns < 0)
        rc = disable(c, "%s: missing 'within'", what);
    if (rc == 0)
        rc = field_arg(c, by ? by : &(struct ynode){.type = Y_SCALAR, .s = "container.id"}, &r->by, what);
    if (rc == 0 && (rc = num_param(c, m, "max_groups", 1, 1e7, &d)) == 0)
        r->max_groups = (size_t)d;
    return rc;
}

static int compile_threshold(struct cr *c)
{
    const struct ynode *t = c->raw->threshold;
    double count = 0;
    int rc;

    if (!t || t->type != Y_MAP)
        return disable(c, "%s", "threshold: expected a mapping");
    c->r->type = RT_THRESHOLD;
    if (!parse_num(ynode_get(t, "count"), 1, 1000, &count))
        return disable(c, "%s", "threshold: 'count' must be 1..1000");
    c->r->count = (uint32_t)count;
    rc = window_params(c, t, "threshold");
    return rc;
}

/* Correlation members are resolved after every rule is compiled. */
static int compile_correlate_members(struct cr *c, const struct compile_env *env)
{
    const struct ynode *k = c->raw->correlate, *all = ynode_get(k, "all"), *seq = ynode_get(k, "sequence");
    const struct ynode *list = all ? all : seq;
    struct rule *r = c->r;
    int rc;

    if (!list || list->type != Y_SEQ || list->n < 1 || list->n > RULES_MAX_MEMBERS || (all && seq))
        return disable(c, "%s", "correlate: expected 'all' or 'sequence' with 1 to 8 members");
    r->sequence = seq != NULL;
    for (size_t i = 0; i < list->n; i++) {
        const struct ynode *m = list->kids[i], *rn = m->type == Y_SCALAR ? m : ynode_get(m, "rule");
        const struct ynode *cond = ynode_get(m, "condition");
        struct member *mb = &r->members[r->nmembers++];

        mb->rule = -1;
        if (rn && is_scalar(rn)) {
            struct ruleset *rs = c->l->rs;
            size_t j;

            if (nameidx_get(&c->l->rule_idx, rn->s, &j))  /* raw rule j compiled into rs->rules[j] */
                mb->rule = (int)j;
            if (mb->rule < 0)
                return disable(c, "correlate: unknown rule '%s'", rn->s);
            if (rs->rules[mb->rule].type == RT_CORRELATE)
                return disable(c, "correlate: '%s' is a correlation itself", rn->s);
            if (rs->rules[mb->rule].unsupported)
                return disable(c, "correlate: rule '%s' is not supported", rn->s);
            mb->kinds = rs->rules[mb->rule].kinds;
        } else if (is_scalar(cond)) {
            struct fragv f = {0};
            struct anode *ast = NULL;
            const char *save = c->l->file;

            c->l->file = c->raw->file;
            rc = fragv_add(c->l, &f, cond);
            c->l->file = save;
            if (rc == 0)
                rc = parse_fragv(c->l, &f, &ast);
            fragv_release(&f);
            if (rc < 0)
                return rc;
            rc = compile_cond(env, ast, &mb->cond, c->reason, sizeof c->reason);
            cond_free(ast);
            if (rc < 0)
                return rc;
            mb->kinds = cnode_kinds(mb->cond);
            cnode_simplify(mb->cond, mb->kinds);
            rc = cprog_compile(mb->cond, &mb->prog);
            if (rc < 0)
                return rc;
        } else {
            return disable(c, "%s", "correlate: a member is a rule name or {condition: ...}");
        }
    }
    return 0;
}

/* AST of the rule's exceptions, "(f1 c1 v1 and f2 c2 v2) or ...", or NULL. */
static int exceptions_ast(struct cr *c, struct anode **out)
{
    struct anode *any = NULL;
    int rc = 0;

    *out = NULL;
    for (size_t i = 0; i < c->raw->nexc && rc == 0; i++) {
        const struct exc *x = &c->raw->exc[i];
        bool single = x->fields->type == Y_SCALAR;
        size_t nf = single ? 1 : x->fields->n;

        if (x->comps && (single ? x->comps->type != Y_SCALAR : x->comps->type != Y_SEQ || x->comps->n != nf)) {
            rc = disable(c, "exception '%s': comps do not match fields", x->name);  /* any is freed below */
            break;
        }
        for (size_t vs = 0; vs < x->nvalues && rc == 0; vs++) {
            const struct ynode *values = x->values[vs];
            size_t ntuples = single ? 1 : values->n;

            for (size_t t = 0; t < ntuples && rc == 0; t++) {
                const struct ynode *tuple = single ? values : values->kids[t];
                struct anode *conj = NULL;

                if (!single && (tuple->type != Y_SEQ || tuple->n != nf)) {
                    rc = disable(c, "exception '%s': a value tuple does not match fields", x->name);
                    break;
                }
                for (size_t f = 0; f < nf && rc == 0; f++) {
                    const struct ynode *fn = single ? x->fields : x->fields->kids[f];
                    const struct ynode *cmp = x->comps ? (single ? x->comps : x->comps->kids[f]) : NULL;
                    const struct ynode *val = single ? tuple : tuple->kids[f];
                    struct anode *n = calloc(1, sizeof *n), *both;
                    const char *op = cmp && is_scalar(cmp) ? cmp->s : single ? "in" : "=";

                    if (!n) {
                        rc = BW_ENOMEM;
                        break;
                    }
                    n->type = A_CMP;
                    n->name = strdup(is_scalar(fn) ? fn->s : "");
                    n->op = strdup(op);
                    n->is_list = val->type == Y_SEQ;
                    n->nvals = val->type == Y_SEQ ? val->n : 1;
                    n->vals = calloc(n->nvals ? n->nvals : 1, sizeof *n->vals);
                    if (!n->name || !n->op || !n->vals) {
                        n->nvals = 0;
                        cond_free(n);
                        rc = BW_ENOMEM;
                        break;
                    }
                    for (size_t j = 0; j < n->nvals; j++) {
                        const struct ynode *vv = val->type == Y_SEQ ? val->kids[j] : val;

                        n->vals[j].s = strdup(is_scalar(vv) ? vv->s : "");
                        if (!n->vals[j].s)
                            rc = BW_ENOMEM;
                    }
                    if (strcmp(op, "exists") == 0) {
                        for (size_t j = 0; j < n->nvals; j++)
                            free(n->vals[j].s);
                        n->nvals = 0;
                    }
                    both = conj ? calloc(1, sizeof *both) : n;
                    if (!both) {
                        cond_free(n);
                        rc = BW_ENOMEM;
                        break;
                    }
                    if (conj) {
                        both->type = A_AND;
                        both->a = conj;
                        both->b = n;
                    }
                    conj = both;
                }
                if (conj && rc == 0) {
                    struct anode *o = any ? calloc(1, sizeof *o) : conj;

                    if (!o) {
                        cond_free(conj);
                        rc = BW_ENOMEM;
                        break;
                    }
                    if (any) {
                        o->type = A_OR;
                        o->a = any;
                        o->b = conj;
                    }
                    any = o;
                } else {
                    cond_free(conj);
                }
            }
        }
    }
    if (rc < 0) {
        cond_free(any);
        return rc;
    }
    *out = any;
    return 0;
}

static int compile_condition(struct cr *c, const struct compile_env *env)
{
    struct anode *ast = NULL, *exc = NULL;
    int rc = parse_fragv(c->l, &c->raw->cond, &ast);

    if (rc < 0)
        return rc;
    rc = exceptions_ast(c, &exc);
    if (rc == 0 && exc) {
        struct anode *not = calloc(1, sizeof *not), *both = calloc(1, sizeof *both);

        if (!not || !both) {
            free(not);
            free(both);
            cond_free(exc);
            rc = BW_ENOMEM;
        } else {
            not->type = A_NOT;
            not->a = exc;
            both->type = A_AND;
            both->a = ast;
            both->b = not;
            ast = both;
        }
    }
    if (rc == 0)
        rc = compile_cond(env, ast, &c->r->cond, c->reason, sizeof c->reason);
    cond_free(ast);
    if (rc == 0) {
        c->r->kinds = cnode_kinds(c->r->cond);
        cnode_simplify(c->r->cond, c->r->kinds);
        rc = cprog_compile(c->r->cond, &c->r->prog);
    }
    return rc;
}

static int compile_rule_common(struct cr *c)
{
    struct raw_rule *raw = c->raw;
    struct rule *r = c->r;
    char *text;
    int rc;

    r->file = raw->file;
    r->line = raw->line;
    r->priority = raw->priority;
    r->source = "rule";
    r->tags = raw->tags;
    raw->tags = NULL;
    r->ntags = raw->ntags;
    raw->ntags = 0;
    if (!(r->desc = fragv_join(&raw->desc)) || !(text = fragv_join(&raw->output)))
        return BW_ENOMEM;
    for (size_t n = strlen(text); n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '); n--)
        text[n - 1] = '\0';  /* folded YAML scalars end with a newline */
    rc = output_compile(text, &r->out);
    free(text);
    if (rc < 0)
        return rc;
    if (raw->source && (!is_scalar(raw->source) || (strcmp(raw->source->s, "syscall") != 0 &&
                                                     strcmp(raw->source->s, "bulwark") != 0)))
        return disable(c, "unsupported source '%s'", is_scalar(raw->source) ? raw->source->s : "?");
    if (raw->group_by) {
        const struct ynode *g = raw->group_by;
        size_t n = g->type == Y_SEQ ? g->n : 1;

        if (n > RULES_MAX_GROUP_FIELDS)
            return disable(c, "%s", "group_by: at most 4 fields");
        for (size_t i = 0; i < n; i++) {
            rc = field_arg(c, g->type == Y_SEQ ? g->kids[i] : g, &r->group[r->ngroup++], "group_by");
            if (rc < 0)
                return rc;
        }
    }
    if (raw->priority_from) {
        struct gfield g = {0};

        rc = field_arg(c, raw->priority_from, &g, "priority_from");
        free(g.arg);
        if (rc < 0)
            return rc;
        r->priority_from = g.id;
    }
    if (raw->alert_source) {
        static const char *const ok[] = {"rule", "correlation", "anomaly", "falco"};

        for (size_t i = 0; i < 4; i++)
            if (is_scalar(raw->alert_source) && strcmp(raw->alert_source->s, ok[i]) == 0)
                r->source = ok[i];
        if (!is_scalar(raw->alert_source) || strcmp(r->source, raw->alert_source->s) != 0)
            return disable(c, "%s", "alert_source: rule, correlation, anomaly or falco");
    }
    return 0;
}

void rule_release(struct rule *r)
{
    free(r->name);
    free(r->desc);
    free(r->reason);
    strs_free(r->tags, r->ntags);
    cprog_free(r->prog);  /* borrows cond: first */
    cnode_free(r->cond);
    output_release(&r->out);
    for (size_t i = 0; i < r->ngroup; i++)
        free(r->group[i].arg);
    free(r->by.arg);
    for (size_t i = 0; i < r->nmembers; i++) {
        cprog_free(r->members[i].prog);
        cnode_free(r->members[i].cond);
    }
}

/* Compiles raw rule i into rs->rules[i]. BW_EINVAL (disabled) is absorbed
 * here; BW_ECONFIG and BW_ENOMEM are returned. */
static int compile_rule(struct loader *l, size_t i, const struct compile_env *env, bool corr_pass)
{
    struct cr c = {.l = l, .raw = &l->rules[i], .r = &l->rs->rules[i]};
    int rc;

    if (!corr_pass) {
        c.r->name = strdup(c.raw->name);
        if (!c.r->name)
            return BW_ENOMEM;
        rc = compile_rule_common(&c);
        if (rc == 0) {
            if (c.raw->correlate) {
                c.r->type = RT_CORRELATE;
                c.r->source = "correlation";
                rc = window_params(&c, c.raw->correlate, "correlate");
            } else if (c.raw->anomaly) {
                rc = compile_anomaly(&c);
            } else if (c.raw->threshold) {
                rc = compile_threshold(&c);
            } else if (c.raw->running_image) {
                rc = compile_running_image(&c);
            }
        }
        if (rc == 0 && !c.raw->correlate)
            rc = compile_condition(&c, env);
        if (rc == 0 && c.r->type == RT_RUNNING_IMAGE &&
            c.r->kinds != RULES_KIND_BIT(BULWARK__V1__EVENT__BODY_VULN))
            rc = disable(&c, "%s", "running_image: the condition must select vuln events only");
        if (rc == 0 && c.raw->correlate && c.raw->cond.n)
            rc = disable(&c, "%s", "correlate: use member conditions, not a rule condition");
    } else {
        if (c.r->type != RT_CORRELATE || c.r->unsupported)
            return 0;
        rc = compile_correlate_members(&c, env);
    }
    if (rc == BW_ETOOBIG) {
        diag(l, c.r->file, c.r->line, "rule '%s': %s; file refused", c.r->name, c.reason);
        return BW_ECONFIG;
    }
    if (rc == BW_EINVAL) {
        c.r->unsupported = true;
        c.r->reason = strdup(c.reason[0] ? c.reason : "invalid rule");
        if (!c.r->reason)
            return BW_ENOMEM;
        diag(l, c.r->file, c.r->line, "rule '%s' disabled: %s", c.r->name, c.r->reason);
        return 0;
    }
    return rc;
}

static int index_add(uint32_t **arr, size_t *n, uint32_t v)
{
    int rc = grow(arr, *n, sizeof **arr);

    if (rc < 0)
        return rc;
    (*arr)[(*n)++] = v;
    return 0;
}

static int build_indexes(struct ruleset *rs, struct loader *l)
{
    int rc = 0;

    for (size_t i = 0; i < rs->n; i++) {
        struct rule *r = &rs->rules[i];

        r->enabled = l->rules[i].enabled && !r->unsupported;
        if (!r->enabled && !r->unsupported && !r->reason && !(r->reason = strdup("disabled in the rule file")))
            return BW_ENOMEM;
        if (r->enabled && r->type == RT_CORRELATE)
            for (size_t j = 0; j < r->nmembers; j++)
                if (r->members[j].rule >= 0)
                    rs->rules[r->members[j].rule].evaluate = true;
    }
    for (size_t i = 0; i < rs->n && rc == 0; i++) {
        struct rule *r = &rs->rules[i];
        rules_kinds kinds = r->kinds;

        r->evaluate = (r->evaluate || r->enabled) && !r->unsupported;
        rs->n_enabled += r->enabled;
        rs->n_unsupported += r->unsupported;
        if (!r->evaluate)
            continue;
        if (r->type == RT_CORRELATE) {
            kinds = 0;
            for (size_t j = 0; j < r->nmembers; j++)
                kinds |= r->members[j].kinds;
        }
        for (size_t k = 0; k < RULES_KINDS && rc == 0; k++) {
            if (!(kinds & (1u << k)))
                continue;
            if (r->type == RT_CORRELATE)
                rc = index_add(&rs->corr_by_kind[k], &rs->n_corr_by_kind[k], (uint32_t)i);
            else
                rc = index_add(&rs->by_kind[k], &rs->n_by_kind[k], (uint32_t)i);
        }
    }
    return rc;
}

static int compile_all(struct loader *l)
{
    size_t budget = LOAD_BUDGET_BASE + LOAD_BUDGET_PER_BYTE * l->input_bytes;
    struct compile_env env = {.lists = l->lists, .list_idx = &l->list_idx, .macro_idx = &l->macro_idx,
                              .budget = &budget, .work = &l->work};
    struct ruleset *rs = l->rs;
    int rc = 0;

    env.macros = calloc(l->nmacros ? l->nmacros : 1, sizeof *env.macros);
    if (!env.macros)
        return BW_ENOMEM;
    for (size_t i = 0; i < l->nmacros && rc == 0; i++) {
        env.macros[i].name = l->macros[i].name;
        env.macros[i].file = l->macros[i].file;
        env.macros[i].line = l->macros[i].line;
        rc = parse_fragv(l, &l->macros[i].cond, &env.macros[i].ast);
    }
    if (rc == 0) {
        rs->rules = calloc(l->nrules ? l->nrules : 1, sizeof *rs->rules);
        rc = rs->rules ? 0 : BW_ENOMEM;
    }
    if (rc == 0)
        rs->n = l->nrules;
    for (size_t i = 0; i < l->nrules && rc == 0; i++)
        rc = compile_rule(l, i, &env, false);
    for (size_t i = 0; i < l->nrules && rc == 0; i++)
        rc = compile_rule(l, i, &env, true);
    if (rc == 0)
        rc = build_indexes(rs, l);
    for (size_t i = 0; i < l->nmacros; i++)
        cond_free(env.macros[i].ast);
    free(env.macros);
    rs->load_work = l->work;
    return rc;
}

/* ------------------------------------------------------------------ API */

void ruleset_free(struct ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_release(&rs->rules[i]);
    free(rs->rules);
    for (size_t k = 0; k < RULES_KINDS; k++) {
        free(rs->by_kind[k]);
        free(rs->corr_by_kind[k]);
    }
    strs_free(rs->files, rs->nfiles);
    free(rs);
}

static void loader_release(struct loader *l)
{
    for (size_t i = 0; i < l->nrules; i++)
        raw_rule_release(&l->rules[i]);
    free(l->rules);
    for (size_t i = 0; i < l->nmacros; i++) {
        free(l->macros[i].name);
        fragv_release(&l->macros[i].cond);
    }
    free(l->macros);
    for (size_t i = 0; i < l->nlists; i++) {
        free(l->lists[i].name);
        strs_free(l->lists[i].items, l->lists[i].n);
    }
    free(l->lists);
    for (size_t i = 0; i < l->nfiles; i++)
        yaml_free_docs(l->docs[i], l->ndocs[i]);
    free(l->docs);
    free(l->ndocs);
    nameidx_release(&l->rule_idx);
    nameidx_release(&l->macro_idx);
    nameidx_release(&l->list_idx);
}

/* Reads file fi of the ruleset, from text when not NULL (len bytes), else
 * from the file it names. */
static int load_file(struct loader *l, size_t fi, const char *text, size_t len)
{
    struct stat st;
    char err[RULES_MSG_MAX];
    unsigned line = 0;
    int rc;

    l->file = l->rs->files[fi];
    if (!text && stat(l->file, &st) == 0)
        l->input_bytes += (size_t)st.st_size;
    l->input_bytes += len;
    if (text)
        rc = yaml_load_string(text, len, &l->docs[fi], &l->ndocs[fi], &line, err, sizeof err);
    else
        rc = yaml_load_file(l->file, &l->docs[fi], &l->ndocs[fi], &line, err, sizeof err);
    if (rc < 0) {
        diag(l, l->file, line, "%s", err);
        return rc;
    }
    l->nfiles = fi + 1;
    for (size_t d = 0; d < l->ndocs[fi]; d++) {
        const struct ynode *doc = l->docs[fi][d];

        if (doc->type == Y_SCALAR && !*doc->s)
            continue;  /* empty document */
        if (doc->type != Y_SEQ)
            return bad(l, doc, "expected a list of rule, macro and list items", NULL);
        for (size_t i = 0; i < doc->n; i++) {
            rc = load_item(l, doc->kids[i]);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ruleset_load() over n files, or over one text named paths[0] when text is
 * not NULL. */
static int load(struct ruleset **out, const char *const *paths, size_t n, const char *text, size_t len,
                rules_diag_fn diag_fn, void *ctx)
{
    struct loader l = {.diag = diag_fn, .ctx = ctx};
    int rc = BW_ENOMEM;

    l.rule_idx.work = l.macro_idx.work = l.list_idx.work = &l.work;
    l.rs = calloc(1, sizeof *l.rs);
    l.docs = calloc(n ? n : 1, sizeof *l.docs);
    l.ndocs = calloc(n ? n : 1, sizeof *l.ndocs);
    if (!l.rs || !l.docs || !l.ndocs)
        goto out;
    l.rs->files = calloc(n ? n : 1, sizeof *l.rs->files);
    if (!l.rs->files)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!(l.rs->files[i] = strdup(paths[i])))
            goto out;
        l.rs->nfiles = i + 1;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = load_file(&l, i, text, len);
    if (rc == 0)
        rc = compile_all(&l);
    if (rc == 0) {
        *out = l.rs;
        l.rs = NULL;
    }
out:
    if (rc == BW_ENOMEM)
        diag(&l, NULL, 0, "out of memory");
    loader_release(&l);
    ruleset_free(l.rs);
    return rc;
}

int ruleset_load(struct ruleset **out, const char *const *paths, size_t n, rules_diag_fn diag_fn, void *ctx)
{
    return load(out, paths, n, NULL, 0, diag_fn, ctx);
}

int ruleset_load_text(struct ruleset **out, const char *name, const char *text, size_t len,
                      rules_diag_fn diag_fn, void *ctx)
{
    return load(out, &name, 1, text, len, diag_fn, ctx);
}

void ruleset_counts(const struct ruleset *rs, size_t *total, size_t *enabled, size_t *unsupported)
{
    if (total)
        *total = rs->n;
    if (enabled)
        *enabled = rs->n_enabled;
    if (unsupported)
        *unsupported = rs->n_unsupported;
}

void ruleset_foreach(const struct ruleset *rs, rules_rule_fn fn, void *ctx)
{
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule *r = &rs->rules[i];

        if (fn(ctx, r->name, r->file, r->line, r->enabled ? NULL : r->reason))
            return;
    }
}
