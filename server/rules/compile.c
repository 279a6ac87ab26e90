/* compile.c - condition AST -> compiled condition tree. Macros are
 * expanded (each use compiles the macro's AST again, so no sharing to free;
 * every test and value drawn from the load's budget, so a file cannot ask
 * for exponential work: see struct compile_env),
 * unquoted values naming a list are replaced by the list's items (lists in
 * lists too), AND/OR chains are flattened, operands are parsed once
 * (numbers, lower-cased icontains needles, hash sets for `in`), and evt.type
 * tests become a bit mask. Anything this engine cannot run (unknown field,
 * operator, transformer, a value of the wrong type) returns BW_EINVAL with
 * a reason, which disables the rule rather than failing the load. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bulwark/err.h"
#include "internal.h"

#define COMPILE_DEPTH_MAX 64
#define COMPILE_VALUES_MAX 100000

struct cctx {
    const struct compile_env *env;
    char *reason;
    size_t rlen;
    int depth;
};

/* Takes n units (tests or values) from the expansion budget. */
static int spend(struct cctx *cx, size_t n)
{
    if (cx->env->work)
        *cx->env->work += n;
    if (*cx->env->budget < n) {
        snprintf(cx->reason, cx->rlen, "%s",
                 "conditions expand to too many tests and values (macros or lists nested or "
                 "repeated too much for the size of the file)");
        return BW_ETOOBIG;
    }
    *cx->env->budget -= n;
    return 0;
}

static int refuse(struct cctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct cctx *cx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cx->reason, cx->rlen, fmt, ap);
    va_end(ap);
    return BW_EINVAL;
}

/* Frees what n owns (kids and operands), not n itself. */
static void cnode_free_operands(struct cnode *n)
{
    for (size_t i = 0; i < n->n; i++)
        cnode_free(n->kids[i]);
    free(n->kids);
    free(n->arg);
    free(n->s);
    strset_free(n->set);
    free(n->ints);
    free(n->nets);
    free(n->dbls);
    for (size_t i = 0; n->prefixes && i < n->nvals; i++)
        free(n->prefixes[i]);
    free(n->prefixes);
    free(n->plens);
}

void cnode_free(struct cnode *n)
{
    if (!n)
        return;
    cnode_free_operands(n);
    free(n);
}

static const struct { const char *name; enum cop op; } ops[] = {
    {"=", OP_EQ}, {"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT}, {"<=", OP_LE}, {">", OP_GT},
    {">=", OP_GE}, {"contains", OP_CONTAINS}, {"icontains", OP_ICONTAINS},
    {"startswith", OP_STARTSWITH}, {"endswith", OP_ENDSWITH}, {"glob", OP_GLOB}, {"in", OP_IN},
    {"intersects", OP_INTERSECTS}, {"pmatch", OP_PMATCH}, {"exists", OP_EXISTS},
};

static const struct list_def *find_list(const struct compile_env *env, const char *name)
{
    size_t i;

    return nameidx_get(env->list_idx, name, &i) ? &env->lists[i] : NULL;
}

static struct macro_def *find_macro(const struct compile_env *env, const char *name)
{
    size_t i;

    return nameidx_get(env->macro_idx, name, &i) ? &env->macros[i] : NULL;
}

/* A growing array of borrowed strings. */
struct strv {
    char **v;
    size_t n, cap;
};

static int strv_add(struct strv *sv, char *s)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        char **v = realloc(sv->v, cap * sizeof *v);

        if (!v)
            return BW_ENOMEM;
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    return 0;
}

/* Appends value s, or the items of the list it names (recursively). */
static int expand_value(struct cctx *cx, char *s, bool quoted, struct strv *out, int depth)
{
    const struct list_def *l = quoted ? NULL : find_list(cx->env, s);
    int rc;

    if (!l) {
        if (out->n >= COMPILE_VALUES_MAX)
            return refuse(cx, "%s", "list too long");
        rc = spend(cx, 1);
        return rc < 0 ? rc : strv_add(out, s);
    }
    if (depth > COMPILE_DEPTH_MAX)
        return refuse(cx, "list '%s' refers to itself", s);
    for (size_t i = 0; i < l->n; i++) {
        rc = expand_value(cx, l->items[i], false, out, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *out = s[0] == 't';
        return true;
    }
    errno = 0;
    v = strtoll(s, &end, 0);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_dbl(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)  /* finite values only */
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The kinds an event with one of the evt.type bits in tmask can be. */
static rules_kinds type_kinds(uint32_t tmask)
{
    rules_kinds k = 0;

    for (unsigned i = 0; i < RULES_KINDS; i++)
        if (tmask & fields_kind_types((rules_kinds)1 << i))
            k |= (rules_kinds)1 << i;
    return k;
}

/* Which byte of a substring needle to look for first: the one least
 * likely in command lines and paths (rough ranks: letters and digits that
 * are common in text, then separators, count as frequent). For icontains
 * a letter counts as frequent, since both of its cases are searched. */
static size_t needle_pos(const char *s, size_t n, bool icase)
{
    static const char common[] = " -/.etaoinsrhldcu_=:0123456789mfpgwyb,";
    size_t best = 0, best_score = SIZE_MAX;

    for (size_t i = 0; i < n; i++) {
        const char *at = strchr(common, tolower((unsigned char)s[i]));
        size_t rank = at ? (size_t)(at - common) + 1 : 0;
        size_t score = at ? sizeof common - rank : 0;  /* 0 = rare */

        if (icase && isalpha((unsigned char)s[i]))
            score += sizeof common;

        if (score < best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

/* Fills the operand of a comparison from the expanded values. */
static int compile_operand(struct cctx *cx, struct cnode *n, const char *opname, struct strv *vals)
{
    bool set_op = n->op == OP_IN || n->op == OP_INTERSECTS || n->op == OP_PMATCH;
    enum vtype vt = n->vt;

    if (n->op == OP_EXISTS) {
        n->tmask = UINT32_MAX;
        return 0;
    }
    if (!set_op && vals->n != 1)
        return refuse(cx, "operator '%s' takes one value", opname);
    if (vt == VT_TYPE) {
        if (n->op != OP_EQ && n->op != OP_NE && n->op != OP_IN)
            return refuse(cx, "unsupported operator '%s' on evt.type", opname);
        for (size_t i = 0; i < vals->n; i++)
            n->tmask |= fields_type_bits(vals->v[i]);
        n->kinds = type_kinds(n->tmask);
        return 0;
    }
    if (vt == VT_NET) {  /* addresses and networks: =, != and in */
        if (n->op != OP_EQ && n->op != OP_NE && n->op != OP_IN)
            return refuse(cx, "unsupported operator '%s' on an address field", opname);
        n->nets = calloc(vals->n ? vals->n : 1, sizeof *n->nets);
        if (!n->nets)
            return BW_ENOMEM;
        for (size_t i = 0; i < vals->n; i++)
            if (ipnet_parse(vals->v[i], &n->nets[i]) < 0)
                return refuse(cx, "invalid address or network '%.100s'", vals->v[i]);
        n->nvals = vals->n;
        return 0;
    }
    if (vt == VT_INT || vt == VT_DBL || vt == VT_BOOL) {
        bool num_op = n->op <= OP_GE || n->op == OP_IN;

        if (!num_op || (vt == VT_BOOL && n->op != OP_EQ && n->op != OP_NE))
            return refuse(cx, "unsupported operator '%s' on a non-string field", opname);
        if (vt == VT_DBL)
            n->dbls = calloc(vals->n ? vals->n : 1, sizeof *n->dbls);
        else
            n->ints = calloc(vals->n ? vals->n : 1, sizeof *n->ints);
        if (!n->dbls && !n->ints)
            return BW_ENOMEM;
        for (size_t i = 0; i < vals->n; i++) {
            bool ok = vt == VT_DBL ? parse_dbl(vals->v[i], &n->dbls[i]) : parse_i64(vals->v[i], &n->ints[i]);

            if (!ok || (vt == VT_BOOL && (n->ints[i] < 0 || n->ints[i] > 1)))
                return refuse(cx, "invalid value '%.100s' for a numeric or boolean field", vals->v[i]);
        }
        n->nvals = vals->n;
        n->i = n->ints ? n->ints[0] : 0;
        n->d = n->dbls ? n->dbls[0] : 0;
        if (n->op == OP_IN && n->ints)  /* sorted: evaluation bisects */
            qsort(n->ints, n->nvals, sizeof *n->ints, cmp_i64);
        else if (n->op == OP_IN)
            qsort(n->dbls, n->nvals, sizeof *n->dbls, cmp_dbl);
        return 0;
    }
    /* strings and lists of strings */
    if (n->op >= OP_LT && n->op <= OP_GE)
        return refuse(cx, "unsupported operator '%s' on a string field", opname);
    if (n->op == OP_IN || n->op == OP_INTERSECTS) {
        n->set = strset_new(vals->v, vals->n);
        n->nvals = vals->n;
        return n->set ? 0 : BW_ENOMEM;
    }
    if (n->op == OP_PMATCH) {
        n->prefixes = calloc(vals->n ? vals->n : 1, sizeof *n->prefixes);
        n->plens = calloc(vals->n ? vals->n : 1, sizeof *n->plens);
        if (!n->prefixes || !n->plens)
            return BW_ENOMEM;
        for (size_t i = 0; i < vals->n; i++) {
            size_t len = strlen(vals->v[i]);

            while (len > 1 && vals->v[i][len - 1] == '/')
                len--;
            n->prefixes[i] = strndup(vals->v[i], len);
            if (!n->prefixes[i])
                return BW_ENOMEM;
            n->plens[i] = len;
            n->nvals = i + 1;
        }
        return 0;
    }
    n->s = strdup(vals->v[0]);
    if (!n->s)
        return BW_ENOMEM;
    n->slen = strlen(n->s);
    if (n->op == OP_ICONTAINS)
        for (char *p = n->s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    if (n->op == OP_CONTAINS || n->op == OP_ICONTAINS) {
        unsigned char b;

        n->spos = needle_pos(n->s, n->slen, n->op == OP_ICONTAINS);
        b = (unsigned char)n->s[n->spos];
        n->sfind[0] = (char)b;
        if (n->op == OP_ICONTAINS && isalpha(b))
            n->sfind[1] = (char)toupper(b);
    }
    return 0;
}

/* A test of a field whose text depends only on the event's kind (=, != or
 * `in` on bulwark.kind or evt.dir) becomes the set of kinds where it holds. */
static void fold_kind_const(struct cnode *n)
{
    rules_kinds kinds = 0;

    if (n->type != C_CMP || n->vt != VT_STR || (n->op != OP_EQ && n->op != OP_NE && n->op != OP_IN) ||
        !fields_kind_const(n->field, 0))
        return;
    for (size_t k = 0; k < RULES_KINDS; k++) {
        const char *text = fields_kind_const(n->field, k);
        bool hit;

        if (!text)
            continue;  /* a kind number the schema does not use */
        hit = n->op == OP_IN ? strset_has(n->set, text, strlen(text)) : strcmp(text, n->s) == 0;
        if (hit != (n->op == OP_NE))
            kinds |= (rules_kinds)(1u << k);
    }
    n->type = C_KIND;
    n->kinds &= kinds;
}

static int compile_cmp(struct cctx *cx, const struct anode *a, struct cnode **out)
{
    char arg[RULES_KEY_MAX];
    const struct field_def *fd;
    struct strv vals = {0};
    struct cnode *n;
    size_t oi;
    int rc;

    if (a->unsupported)
        return refuse(cx, "%s", a->unsupported);
    fd = fields_lookup(a->name, arg, sizeof arg);
    if (!fd || fd->kinds == 0)
        return refuse(cx, "unsupported field '%s'", a->name);
    for (oi = 0; oi < sizeof ops / sizeof *ops; oi++)
        if (strcmp(ops[oi].name, a->op) == 0)
            break;
    if (oi == sizeof ops / sizeof *ops)
        return refuse(cx, "unsupported operator '%s'", a->op);
    if ((rc = spend(cx, 1)) < 0)
        return rc;
    n = calloc(1, sizeof *n);
    if (!n)
        return BW_ENOMEM;
    n->type = fd->type == VT_TYPE ? C_TYPE : C_CMP;
    n->op = ops[oi].op;
    n->field = fd->id;
    n->vt = fd->type;
    n->kinds = fd->kinds;
    if (n->field == F_PROC_ANAME_ANY && n->op == OP_IN)
        n->op = OP_INTERSECTS;  /* as Falco: true when any ancestor is in the set */
    if (fd->takes_arg && !(n->arg = strdup(arg))) {
        rc = BW_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < a->nvals; i++) {
        rc = expand_value(cx, a->vals[i].s, a->vals[i].quoted, &vals, 0);
        if (rc < 0)
            goto out;
    }
    rc = compile_operand(cx, n, a->op, &vals);
    if (rc < 0)
        goto out;
    fold_kind_const(n);
    if (n->type == C_TYPE && n->op == OP_NE) {  /* evt.type != x: not (evt.type = x) */
        struct cnode *neg = calloc(1, sizeof *neg);

        if (!neg || !(neg->kids = malloc(sizeof *neg->kids))) {
            free(neg);
            rc = BW_ENOMEM;
            goto out;
        }
        neg->type = C_NOT;
        neg->kids[0] = n;
        neg->n = 1;
        n = neg;
    }
    free(vals.v);
    *out = n;
    return 0;
out:
    free(vals.v);
    cnode_free(n);
    return rc;
}

static int compile_node(struct cctx *cx, const struct anode *a, struct cnode **out);

/* Collects the operands of a chain of the same AND/OR into n->kids, left
 * to right. The parser builds "a and b and c ..." leaning left, as deep as
 * it is long: the walk keeps its own stack on the heap (a condition of
 * 100,000 clauses must not overflow the thread's stack). */
static int flatten(struct cctx *cx, const struct anode *a, enum anode_type t, struct cnode *n)
{
    const struct anode **stack = NULL;
    size_t depth = 0, cap = 0, kcap = 0;
    int rc = 0;

    for (const struct anode *x = a; rc == 0 && x;) {
        struct cnode *k = NULL;

        if (x->type == t) {   /* x->b waits; x->a first */
            if (depth == cap) {
                const struct anode **s = realloc(stack, (cap = cap ? cap * 2 : 16) * sizeof *s);

                if (!s) {
                    rc = BW_ENOMEM;
                    break;
                }
                stack = s;
            }
            stack[depth++] = x->b;
            x = x->a;
            continue;
        }
        if (n->n == kcap) {
            struct cnode **kids = realloc(n->kids, (kcap = kcap ? kcap * 2 : 4) * sizeof *kids);

            if (!kids) {
                rc = BW_ENOMEM;
                break;
            }
            n->kids = kids;
        }
        rc = compile_node(cx, x, &k);
        if (rc == 0)
            n->kids[n->n++] = k;
        x = depth ? stack[--depth] : NULL;
    }
    free(stack);
    return rc;
}

static int compile_node(struct cctx *cx, const struct anode *a, struct cnode **out)
{
    struct cnode *n;
    int rc;

    if (++cx->depth > COMPILE_DEPTH_MAX * 8) {
        cx->depth--;
        return refuse(cx, "%s", "condition nested too deep");
    }
    switch (a->type) {
    case A_REF: {
        struct macro_def *m = find_macro(cx->env, a->name);

        if (!m) {
            rc = refuse(cx, "undefined macro '%s'", a->name);
            break;
        }
        if (m->expanding) {
            rc = refuse(cx, "macro '%s' refers to itself", a->name);
            break;
        }
        m->expanding = true;
        rc = compile_node(cx, m->ast, out);
        m->expanding = false;
        break;
    }
    case A_CMP:
        rc = compile_cmp(cx, a, out);
        break;
    case A_NOT:
    case A_AND:
    case A_OR:
        if ((rc = spend(cx, 1)) < 0)
            break;
        n = calloc(1, sizeof *n);
        if (!n) {
            rc = BW_ENOMEM;
            break;
        }
        n->type = a->type == A_NOT ? C_NOT : a->type == A_AND ? C_AND : C_OR;
        if (a->type == A_NOT) {
            n->kids = calloc(1, sizeof *n->kids);
            rc = n->kids ? compile_node(cx, a->a, &n->kids[0]) : BW_ENOMEM;
            n->n = rc == 0;
        } else {
            rc = flatten(cx, a, a->type, n);
        }
        if (rc < 0) {
            cnode_free(n);
            break;
        }
        *out = n;
        break;
    default:
        rc = BW_EINVAL;
        break;
    }
    cx->depth--;
    return rc;
}

int compile_cond(const struct compile_env *env, const struct anode *ast, struct cnode **out,
                 char *reason, size_t rlen)
{
    struct cctx cx = {.env = env, .reason = reason, .rlen = rlen};

    reason[0] = '\0';
    return compile_node(&cx, ast, out);
}

rules_kinds cnode_kinds(const struct cnode *n)
{
    rules_kinds k;

    switch (n->type) {
    case C_FALSE: return 0;
    case C_AND:
        k = RULES_ALL_KINDS;
        for (size_t i = 0; i < n->n; i++)
            k &= cnode_kinds(n->kids[i]);
        return k;
    case C_OR:
        k = 0;
        for (size_t i = 0; i < n->n; i++)
            k |= cnode_kinds(n->kids[i]);
        return k;
    case C_CMP:
    case C_TYPE:
    case C_KIND: return n->kinds;
    default: return RULES_ALL_KINDS;
    }
}

/* ------------------------------------------------------- simplifying */

/* Cost class of evaluating n, for ordering the operands of AND/OR: tests of
 * the kind and type first, then numbers, then string tests that one or two
 * bytes usually decide (= and `in` before !=, which rarely fails), then
 * substring, glob and list tests. */
static int cnode_cost(const struct cnode *n)
{
    switch (n->type) {
    case C_TRUE:
    case C_FALSE:
    case C_TYPE:
    case C_KIND: return 0;
    case C_CMP:
        if (n->vt == VT_LIST)
            return 7;
        if (n->vt != VT_STR)
            return 1;
        switch (n->op) {
        case OP_EQ:
        case OP_EXISTS: return 2;
        case OP_IN:
        case OP_STARTSWITH:
        case OP_PMATCH: return 3;
        case OP_NE: return 4;
        case OP_ENDSWITH: return 5;
        default: return 6;  /* contains, icontains, glob, intersects */
        }
    default:
        return n->cost;
    }
}

/* The cost of AND/OR/NOT n from its operands' (set once, bottom-up, so
 * that ordering does not walk subtrees again at every level). */
static void cnode_set_cost(struct cnode *n)
{
    int worst = 0;

    for (size_t i = 0; i < n->n; i++) {
        int k = cnode_cost(n->kids[i]);

        worst = k > worst ? k : worst;
    }
    n->cost = worst + (n->type != C_NOT);
}

struct costed {
    int cost;
    size_t pos;
    struct cnode *n;
};

static int cmp_costed(const void *a, const void *b)
{
    const struct costed *x = a, *y = b;

    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Cheaper operands first; equal costs keep the written order. Evaluation
 * has no side effects, so the result is the same (out of memory, the order
 * stays as written, which is only slower). */
static void order_by_cost(struct cnode *n)
{
    struct costed *v;
    bool sorted = true;

    for (size_t i = 1; i < n->n && sorted; i++)
        sorted = cnode_cost(n->kids[i - 1]) <= cnode_cost(n->kids[i]);
    if (sorted || !(v = malloc(n->n * sizeof *v)))
        return;
    for (size_t i = 0; i < n->n; i++)
        v[i] = (struct costed){cnode_cost(n->kids[i]), i, n->kids[i]};
    qsort(v, n->n, sizeof *v, cmp_costed);
    for (size_t i = 0; i < n->n; i++)
        n->kids[i] = v[i].n;
    free(v);
}

static void cnode_become(struct cnode *n, enum cnode_type t)
{
    for (size_t i = 0; i < n->n; i++)
        cnode_free(n->kids[i]);
    free(n->kids);
    n->kids = NULL;
    n->n = 0;
    n->type = t;
}

/* What a leaf is on every event of kinds: 1 true, 0 false, -1 it depends. */
static int leaf_const(const struct cnode *n, rules_kinds kinds)
{
    uint32_t types = fields_kind_types(kinds), all = UINT32_MAX;

    switch (n->type) {
    case C_TRUE: return 1;
    case C_FALSE: return 0;
    case C_KIND: return (n->kinds & kinds) == kinds ? 1 : (n->kinds & kinds) == 0 ? 0 : -1;
    case C_TYPE:
        for (size_t k = 0; k < RULES_KINDS; k++)
            if (kinds & (1u << k))
                all &= (n->tmask & fields_kind_types((rules_kinds)(1u << k))) ==
                       fields_kind_types((rules_kinds)(1u << k));
        return all ? 1 : (n->tmask & types) == 0 ? 0 : -1;
    case C_CMP: return (n->kinds & kinds) == 0 ? 0 : -1;  /* absent field: false */
    default: return -1;
    }
}

void cnode_simplify(struct cnode *n, rules_kinds kinds)
{
    size_t w = 0;
    int c;

    if (n->type == C_NOT) {
        cnode_simplify(n->kids[0], kinds);
        c = leaf_const(n->kids[0], kinds);
        if (c >= 0)
            cnode_become(n, c ? C_FALSE : C_TRUE);
        else
            cnode_set_cost(n);
        return;
    }
    if (n->type != C_AND && n->type != C_OR) {
        c = leaf_const(n, kinds);
        if (c >= 0 && n->type == C_CMP) {  /* keep the node, drop its operands */
            struct cnode k = {.type = c ? C_TRUE : C_FALSE};

            cnode_free_operands(n);
            *n = k;
        } else if (c >= 0) {
            n->type = c ? C_TRUE : C_FALSE;
        }
        return;
    }
    /* AND: true operands drop out, a false one decides; OR the reverse.
     * kids[0..w) are the operands kept so far and kids[i..n) those not yet
     * looked at; a dropped operand is freed and its slot left behind, so
     * before cnode_become frees the operands they are made one run
     * kids[0..n) again (each freed once). */
    for (size_t i = 0; i < n->n; i++) {
        struct cnode *k = n->kids[i];

        cnode_simplify(k, kinds);
        c = leaf_const(k, kinds);
        if (c == (n->type == C_OR)) {
            memmove(n->kids + w, n->kids + i, (n->n - i) * sizeof *n->kids);
            n->n = w + (n->n - i);
            cnode_become(n, c ? C_TRUE : C_FALSE);
            return;
        }
        if (c >= 0) {
            cnode_free(k);
            continue;
        }
        n->kids[w++] = k;
    }
    n->n = w;
    if (w == 0) {
        cnode_become(n, n->type == C_AND ? C_TRUE : C_FALSE);
        return;
    }
    order_by_cost(n);
    cnode_set_cost(n);
    if (w == 1) {  /* a lone operand takes the node's place */
        struct cnode *k = n->kids[0];

        free(n->kids);
        *n = *k;
        free(k);
    }
}

int32_t priority_parse(const char *s)
{
    static const struct { const char *name; int32_t sev; } names[] = {
        {"emergency", 8}, {"alert", 7}, {"critical", 6}, {"error", 5}, {"warning", 4},
        {"warn", 4}, {"notice", 3}, {"informational", 2}, {"info", 2}, {"debug", 1},
    };

    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
        if (strcasecmp(names[i].name, s) == 0)
            return names[i].sev;
    return 0;
}

int32_t rules_priority_from_name(const char *name)
{
    return priority_parse(name);
}
