/* eval.c - evaluating compiled conditions against one event, the string
 * hash set behind `in`/`intersects`, and output templates. Nothing here
 * allocates per event. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "internal.h"

/* ------------------------------------------------------------- strset */

struct strset {
    char **slots;      /* open addressing, NULL = empty */
    size_t *lens;
    size_t mask;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

struct strset *strset_new(char *const *items, size_t n)
{
    struct strset *s = calloc(1, sizeof *s);
    size_t cap = 8;

    if (!s)
        return NULL;
    while (cap < n * 2)
        cap *= 2;
    s->slots = calloc(cap, sizeof *s->slots);
    s->lens = calloc(cap, sizeof *s->lens);
    s->mask = cap - 1;
    if (!s->slots || !s->lens)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(items[i]), j = hash_bytes(items[i], len) & s->mask;

        if (strset_has(s, items[i], len))
            continue;
        while (s->slots[j])
            j = (j + 1) & s->mask;
        s->slots[j] = strdup(items[i]);
        s->lens[j] = len;
        if (!s->slots[j])
            goto fail;
    }
    return s;
fail:
    strset_free(s);
    return NULL;
}

void strset_free(struct strset *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->slots && i <= s->mask; i++)
        free(s->slots[i]);
    free(s->slots);
    free(s->lens);
    free(s);
}

bool strset_has(const struct strset *s, const char *str, size_t len)
{
    size_t j = hash_bytes(str, len) & s->mask;

    while (s->slots[j]) {
        if (s->lens[j] == len && memcmp(s->slots[j], str, len) == 0)
            return true;
        j = (j + 1) & s->mask;
    }
    return false;
}

/* --------------------------------------------------------- conditions */

static bool pmatch(const struct cnode *n, const char *s, size_t len)
{
    for (size_t i = 0; i < n->nvals; i++) {
        const char *p = n->prefixes[i];
        size_t pl = strlen(p);

        if (pl == 1 && p[0] == '/') {
            if (s[0] == '/')
                return true;
            continue;
        }
        if (len >= pl && memcmp(s, p, pl) == 0 && (s[pl] == '\0' || s[pl] == '/'))
            return true;
    }
    return false;
}

/* A string operator other than != and `in` over a list (handled by callers). */
static bool str_match(const struct cnode *n, const char *s, size_t len)
{
    switch (n->op) {
    case OP_EQ:
    case OP_NE: return len == n->slen && memcmp(s, n->s, len) == 0;
    case OP_CONTAINS: return memmem(s, len, n->s, n->slen) != NULL;
    case OP_ICONTAINS: return strcasestr(s, n->s) != NULL;
    case OP_STARTSWITH: return len >= n->slen && memcmp(s, n->s, n->slen) == 0;
    case OP_ENDSWITH: return len >= n->slen && memcmp(s + len - n->slen, n->s, n->slen) == 0;
    case OP_GLOB: return fnmatch(n->s, s, 0) == 0;
    case OP_IN:
    case OP_INTERSECTS: return strset_has(n->set, s, len);
    case OP_PMATCH: return pmatch(n, s, len);
    case OP_EXISTS: return len > 0;
    default: return false;
    }
}

static bool num_match(const struct cnode *n, const struct fval *v)
{
    if (n->vt == VT_DBL) {
        double d = v->d;

        switch (n->op) {
        case OP_EQ: return d == n->d;
        case OP_NE: return d != n->d;
        case OP_LT: return d < n->d;
        case OP_LE: return d <= n->d;
        case OP_GT: return d > n->d;
        case OP_GE: return d >= n->d;
        case OP_IN:
            for (size_t i = 0; i < n->nvals; i++)
                if (d == n->dbls[i])
                    return true;
            return false;
        default: return true;  /* exists */
        }
    }
    switch (n->op) {
    case OP_EQ: return v->i == n->i;
    case OP_NE: return v->i != n->i;
    case OP_LT: return v->i < n->i;
    case OP_LE: return v->i <= n->i;
    case OP_GT: return v->i > n->i;
    case OP_GE: return v->i >= n->i;
    case OP_IN:
        for (size_t i = 0; i < n->nvals; i++)
            if (v->i == n->ints[i])
                return true;
        return false;
    default: return true;
    }
}

static bool cmp_eval(const struct cnode *n, struct evctx *c)
{
    struct fval v;

    if (!(n->kinds & c->kind_bit) || fields_get(c, n->field, n->arg, &v) < 0)
        return false;  /* an absent field matches nothing, not even != */
    switch (n->vt) {
    case VT_STR:
        return n->op == OP_NE ? !str_match(n, v.s, v.len) : str_match(n, v.s, v.len);
    case VT_LIST: {
        bool any = false;

        if (n->op == OP_EXISTS)
            return v.n > 0;
        if (n->op == OP_IN) {  /* every value in the set */
            for (size_t i = 0; i < v.n; i++)
                if (!strset_has(n->set, v.list[i], strlen(v.list[i])))
                    return false;
            return v.n > 0;
        }
        for (size_t i = 0; i < v.n && !any; i++)
            any = str_match(n, v.list[i], strlen(v.list[i]));
        return n->op == OP_NE ? !any : any;
    }
    default:
        return num_match(n, &v);
    }
}

bool cnode_eval(const struct cnode *n, struct evctx *c)
{
    switch (n->type) {
    case C_TRUE: return true;
    case C_FALSE: return false;
    case C_AND:
        for (size_t i = 0; i < n->n; i++)
            if (!cnode_eval(n->kids[i], c))
                return false;
        return true;
    case C_OR:
        for (size_t i = 0; i < n->n; i++)
            if (cnode_eval(n->kids[i], c))
                return true;
        return false;
    case C_NOT: return !cnode_eval(n->kids[0], c);
    case C_TYPE: return (c->type_bit & n->tmask) != 0;
    case C_CMP: return cmp_eval(n, c);
    }
    return false;
}

/* ------------------------------------------------------------- output */

void output_release(struct output *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->segs[i].text);
        free(o->segs[i].arg);
    }
    free(o->segs);
    o->segs = NULL;
    o->n = 0;
}

static int seg_add(struct output *o, const char *text, size_t len, enum field_id f, const char *arg)
{
    struct outseg *segs = realloc(o->segs, (o->n + 1) * sizeof *segs), *s;

    if (!segs)
        return BW_ENOMEM;
    o->segs = segs;
    s = &segs[o->n];
    memset(s, 0, sizeof *s);
    s->field = f;
    if (text && !(s->text = strndup(text, len)))
        return BW_ENOMEM;
    if (arg && *arg && !(s->arg = strdup(arg))) {
        free(s->text);
        return BW_ENOMEM;
    }
    o->n++;
    return 0;
}

/* "%proc.name" and "%falco.field[x]" become field segments; unknown
 * fields render as <NA>, as Falco prints a field it cannot resolve. */
int output_compile(const char *t, struct output *o)
{
    const char *lit = t, *p = t;
    int rc = 0;

    memset(o, 0, sizeof *o);
    while (*p && rc == 0) {
        const char *s = p + 1, *e = s;
        char name[256], arg[RULES_KEY_MAX];
        const struct field_def *fd;
        size_t n;

        if (*p == '%' && *s == '%') {  /* "%%" stands for '%' */
            rc = seg_add(o, lit, (size_t)(s - lit), F_NONE, NULL);
            p = lit = s + 1;
            continue;
        }
        if (*p != '%' || !(isalpha((unsigned char)*s))) {
            p++;
            continue;
        }
        while (isalnum((unsigned char)*e) || *e == '_' || *e == '.')
            e++;
        while (e > s && e[-1] == '.')
            e--;
        if (*e == '[') {
            const char *close = strchr(e, ']');

            if (close)
                e = close + 1;
        }
        n = (size_t)(e - s);
        if (n >= sizeof name) {
            p = e;
            continue;
        }
        memcpy(name, s, n);
        name[n] = '\0';
        if (p > lit)
            rc = seg_add(o, lit, (size_t)(p - lit), F_NONE, NULL);
        fd = fields_lookup(name, arg, sizeof arg);
        if (rc == 0)
            rc = seg_add(o, NULL, 0, fd ? fd->id : F_NONE, fd ? arg : NULL);
        p = lit = e;
    }
    if (rc == 0 && p > lit)
        rc = seg_add(o, lit, (size_t)(p - lit), F_NONE, NULL);
    if (rc < 0)
        output_release(o);
    return rc;
}

void output_render(const struct output *o, struct evctx *c, char *dst, size_t n)
{
    char num[RULES_KEY_MAX];
    size_t used = 0;

    dst[0] = '\0';
    for (size_t i = 0; i < o->n && used + 1 < n; i++) {
        const struct outseg *sg = &o->segs[i];
        const char *txt = "<NA>";
        struct fval v;
        size_t len;

        if (sg->text)
            txt = sg->text;
        else if (sg->field != F_NONE && fields_get(c, sg->field, sg->arg, &v) == 0)
            txt = fields_format(&v, num, sizeof num);
        len = strlen(txt);
        if (len > n - 1 - used)
            len = n - 1 - used;
        memcpy(dst + used, txt, len);
        used += len;
        dst[used] = '\0';
    }
}
