/* prog.c - compiled conditions as flat programs: a rule's simplified
 * condition tree (compile.c) laid out as one array of leaf tests, each with
 * the instruction to go to when it holds and when it does not, evaluated by
 * one loop (cprog_eval) instead of a recursive walk.
 *
 * Layout: AND, OR and NOT leave no instruction of their own. Compiling node
 * x "to (T, F)" means: arriving at x's first test, evaluation ends up at T
 * when x holds and at F when it does not. AND(a, b) to (T, F) is a to
 * (b, F) and b to (T, F); OR(a, b) is a to (T, b) and b to (T, F); NOT(a)
 * is a to (F, T); TRUE and FALSE are no test at all, just T or F. Operands
 * are compiled last to first, so every target is already placed: jumps only
 * go forward, and a program runs at most one test per instruction.
 *
 * Leaf tests are specialised at compile time (string `in`, =, !=, a direct
 * pointer for process strings) and the substring tests of one OR on the same
 * field (proc.cmdline contains "a" or ... icontains "b") become one test
 * that fetches the field once and scans it once per distinct searched byte.
 *
 * A program borrows the operands of the tree it was made from (strings,
 * sets, numbers): the tree must outlive it. Nothing here allocates per
 * event. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bulwark/err.h"
#include "internal.h"

#define PROG_TRUE (-1)
#define PROG_FALSE (-2)
#define PROG_NOMEM INT32_MIN   /* compiling ran out of memory (below every target) */

enum icode {
    I_KIND,        /* kind_bit in kinds */
    I_TYPE,        /* type_bit in tmask */
    I_STR_IN,      /* string field in a set */
    I_STR_EQ,      /* string field = s */
    I_STR_NE,      /* string field != s (absent: false) */
    I_NEEDLES,     /* string field contains/icontains any of several needles */
    I_CMP          /* anything else: the tree's own comparison */
};

/* The substring tests merged into one I_NEEDLES, grouped by the byte(s)
 * each searches first (needle_pos() in compile.c): one scan per group. */
struct needle_group {
    char find[3];                  /* searched byte, or both cases of a letter */
    const struct cnode **nodes;    /* the tests that search it */
    size_t n;
};

struct needles {
    struct needle_group *groups;
    size_t n;
    bool empty;                    /* a needle is "": matches any present value */
};

struct insn {
    uint8_t code;                  /* enum icode */
    rules_kinds kinds;             /* kinds where the field exists (I_KIND: where it holds) */
    uint16_t proc_off;             /* process string fields: offset in ProcessRef, else 0 */
    enum field_id field;
    int32_t t, f;                  /* next instruction when true / false; < 0: the result */
    const struct cnode *n;         /* operands, borrowed from the tree */
    struct needles *nd;            /* I_NEEDLES, owned */
};

struct cprog {
    struct insn *insn;
    size_t n, cap;
    int32_t entry;                 /* first instruction, or the constant result */
};

/* ---------------------------------------------------------- compiling */

static void needles_free(struct needles *nd)
{
    if (!nd)
        return;
    for (size_t i = 0; i < nd->n; i++)
        free(nd->groups[i].nodes);
    free(nd->groups);
    free(nd);
}

void cprog_free(struct cprog *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        needles_free(p->insn[i].nd);
    free(p->insn);
    free(p);
}

/* Whether n is a substring test that can join an I_NEEDLES on field. */
static bool is_needle(const struct cnode *n)
{
    return n->type == C_CMP && n->vt == VT_STR && !n->arg &&
           (n->op == OP_CONTAINS || n->op == OP_ICONTAINS);
}

static bool same_needle_field(const struct cnode *a, const struct cnode *b)
{
    return is_needle(a) && is_needle(b) && a->field == b->field && a->kinds == b->kinds;
}

/* Appends an instruction; returns its index (in emission order) or PROG_NOMEM. */
static int32_t emit(struct cprog *p, const struct insn *in)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct insn *v;

        if (cap > INT32_MAX || !(v = realloc(p->insn, cap * sizeof *v)))
            return PROG_NOMEM;
        p->insn = v;
        p->cap = cap;
    }
    p->insn[p->n] = *in;
    return (int32_t)p->n++;
}

static int needles_add(struct needles *nd, const struct cnode *k)
{
    struct needle_group *g = NULL;
    const struct cnode **nodes;

    if (k->slen == 0) {
        nd->empty = true;
        return 0;
    }
    for (size_t i = 0; i < nd->n && !g; i++)
        if (strcmp(nd->groups[i].find, k->sfind) == 0)
            g = &nd->groups[i];
    if (!g) {
        struct needle_group *v = realloc(nd->groups, (nd->n + 1) * sizeof *v);

        if (!v)
            return BW_ENOMEM;
        nd->groups = v;
        g = &v[nd->n++];
        memset(g, 0, sizeof *g);
        memcpy(g->find, k->sfind, sizeof g->find);
    }
    nodes = realloc(g->nodes, (g->n + 1) * sizeof *nodes);
    if (!nodes)
        return BW_ENOMEM;
    g->nodes = nodes;
    g->nodes[g->n++] = k;
    return 0;
}

/* One I_NEEDLES, to (t, f), for kids[first] and every later one of the n
 * (an OR's operands) that tests the same field with a substring. A proc.*
 * string is read through its offset, as I_STR_EQ does. */
static int32_t emit_needles(struct cprog *p, const struct cnode *const *kids, size_t n,
                            size_t first, int32_t t, int32_t f)
{
    const struct cnode *k0 = kids[first];
    struct insn in = {.code = I_NEEDLES, .kinds = k0->kinds, .field = k0->field, .t = t, .f = f,
                      .n = k0, .proc_off = (uint16_t)fields_proc_str_offset(k0->field)};
    int32_t at;

    if (!(in.nd = calloc(1, sizeof *in.nd)))
        return PROG_NOMEM;
    for (size_t i = first; i < n; i++) {
        if (same_needle_field(k0, kids[i]) && needles_add(in.nd, kids[i]) < 0) {
            needles_free(in.nd);
            return PROG_NOMEM;
        }
    }
    at = emit(p, &in);
    if (at < 0)
        needles_free(in.nd);
    return at;
}

static int32_t compile_node(struct cprog *p, const struct cnode *n, int32_t t, int32_t f);

/* OR to (t, f): operands are placed last to first; a run of substring
 * tests on one field is merged into the place of its first member. */
static int32_t compile_or(struct cprog *p, const struct cnode *n, int32_t t, int32_t f)
{
    bool *merged = calloc(n->n ? n->n : 1, sizeof *merged);  /* joins an earlier operand */
    bool *lead = calloc(n->n ? n->n : 1, sizeof *lead);      /* heads a merge */
    int32_t next = f;

    if (!merged || !lead) {
        next = PROG_NOMEM;
        goto out;
    }
    /* which operands merge: those with at least one later same-field peer */
    for (size_t i = 0; i < n->n; i++) {
        size_t peers = 0;

        if (merged[i] || !is_needle(n->kids[i]))
            continue;
        for (size_t j = i + 1; j < n->n; j++)
            peers += !merged[j] && same_needle_field(n->kids[i], n->kids[j]);
        if (peers == 0)
            continue;
        lead[i] = true;
        for (size_t j = i + 1; j < n->n; j++)
            if (!merged[j] && same_needle_field(n->kids[i], n->kids[j]))
                merged[j] = true;
    }
    for (size_t i = n->n; i-- > 0 && next >= PROG_FALSE;) {
        if (merged[i])
            continue;
        if (lead[i])
            next = emit_needles(p, (const struct cnode *const *)n->kids, n->n, i, t, next);
        else
            next = compile_node(p, n->kids[i], t, next);
    }
out:
    free(merged);
    free(lead);
    return next;
}

/* Compiles n to (t, f); returns the instruction to start n at (or t/f
 * when n is constant), or PROG_NOMEM. */
static int32_t compile_node(struct cprog *p, const struct cnode *n, int32_t t, int32_t f)
{
    struct insn in = {.kinds = n->kinds, .field = n->field, .t = t, .f = f, .n = n};
    int32_t next;

    switch (n->type) {
    case C_TRUE: return t;
    case C_FALSE: return f;
    case C_NOT: return compile_node(p, n->kids[0], f, t);
    case C_AND:
        next = t;
        for (size_t i = n->n; i-- > 0 && next >= PROG_FALSE;)
            next = compile_node(p, n->kids[i], next, f);
        return next;
    case C_OR: return compile_or(p, n, t, f);
    case C_KIND: in.code = I_KIND; break;
    case C_TYPE: in.code = I_TYPE; break;
    case C_CMP:
        if (is_needle(n))  /* a lone substring test: no generic dispatch */
            return emit_needles(p, &n, 1, 0, t, f);
        in.code = I_CMP;
        if (n->vt == VT_STR && n->op == OP_IN)
            in.code = I_STR_IN;
        else if (n->vt == VT_STR && n->op == OP_EQ)
            in.code = I_STR_EQ;
        else if (n->vt == VT_STR && n->op == OP_NE)
            in.code = I_STR_NE;
        if (in.code != I_CMP)
            in.proc_off = (uint16_t)fields_proc_str_offset(n->field);
        break;
    }
    return emit(p, &in);
}

int cprog_compile(const struct cnode *n, struct cprog **out)
{
    struct cprog *p = calloc(1, sizeof *p);
    int32_t entry;

    if (!p)
        return BW_ENOMEM;
    entry = compile_node(p, n, PROG_TRUE, PROG_FALSE);
    if (entry < PROG_FALSE) {
        cprog_free(p);
        return BW_ENOMEM;
    }
    /* emitted last operand first: reverse, so evaluation runs forward */
    for (size_t i = 0; i < p->n / 2; i++) {
        struct insn tmp = p->insn[i];

        p->insn[i] = p->insn[p->n - 1 - i];
        p->insn[p->n - 1 - i] = tmp;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct insn *in = &p->insn[i];

        if (in->t >= 0)
            in->t = (int32_t)p->n - 1 - in->t;
        if (in->f >= 0)
            in->f = (int32_t)p->n - 1 - in->f;
    }
    p->entry = entry >= 0 ? (int32_t)p->n - 1 - entry : entry;
    *out = p;
    return 0;
}

/* --------------------------------------------------------- evaluating */

/* Whether needle k (contains or icontains) occurs in h with its searched
 * byte at p. */
static inline bool needle_at(const struct cnode *k, const char *h, const char *p)
{
    if ((size_t)(p - h) < k->spos)
        return false;
    p -= k->spos;
    return k->op == OP_ICONTAINS ? strncasecmp(p, k->s, k->slen) == 0
                                 : strncmp(p, k->s, k->slen) == 0;
}

static bool needles_match(const struct needles *nd, const char *h)
{
    if (nd->empty)
        return true;
    for (size_t i = 0; i < nd->n; i++) {
        const struct needle_group *g = &nd->groups[i];

        for (const char *p = h;; p++) {
            p = g->find[1] ? strpbrk(p, g->find) : strchr(p, g->find[0]);
            if (!p)
                break;
            for (size_t j = 0; j < g->n; j++)
                if (needle_at(g->nodes[j], h, p))
                    return true;
        }
    }
    return false;
}

/* The string value of in's field, or NULL when absent. */
static inline const char *insn_str(const struct insn *in, struct evctx *c)
{
    struct fval v;

    if (!(in->kinds & c->kind_bit))
        return NULL;
    if (in->proc_off) {
        const Bulwark__V1__ProcessRef *pr = c->ev->process;

        return pr ? *(const char *const *)((const char *)pr + in->proc_off) : NULL;
    }
    return fields_get(c, in->field, in->n->arg, &v) == 0 ? v.s : NULL;
}

static inline bool insn_test(const struct insn *in, struct evctx *c)
{
    const char *s;

    switch ((enum icode)in->code) {
    case I_KIND: return (c->kind_bit & in->kinds) != 0;
    case I_TYPE: return (c->type_bit & in->n->tmask) != 0;
    case I_STR_IN: return (s = insn_str(in, c)) && strset_has_cstr(in->n->set, s);
    case I_STR_EQ: return (s = insn_str(in, c)) && s[0] == in->n->s[0] && strcmp(s, in->n->s) == 0;
    case I_STR_NE: return (s = insn_str(in, c)) && (s[0] != in->n->s[0] || strcmp(s, in->n->s) != 0);
    case I_NEEDLES: return (s = insn_str(in, c)) && needles_match(in->nd, s);
    case I_CMP: return cnode_cmp_eval(in->n, c);
    }
    return false;
}

bool cprog_eval(const struct cprog *p, struct evctx *c)
{
    int32_t pc = p->entry;

    while (pc >= 0) {
        const struct insn *in = &p->insn[pc];

        pc = insn_test(in, c) ? in->t : in->f;
    }
    return pc == PROG_TRUE;
}
