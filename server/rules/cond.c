/* cond.c - the condition parser: Falco condition text -> AST.
 *
 *   expr    := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | primary
 *   primary := "(" expr ")" | MACRO | FIELD OP [VALUE | "(" VALUE, ... ")"]
 *
 * Fields are dotted names with an optional [arg] (proc.aname[2]). Values are
 * quoted ('..' or "..", with backslash escapes) or bare: a bare value runs
 * to whitespace, ',' or ')' so that "evt.dir=<" and "fd.name=/etc" work.
 * Operators we do not run (regex, bcontains...) and Falco's transformers
 * (tolower(fd.name), val(proc.pname)) parse fine and are left for the
 * compiler to refuse, so such a rule is disabled instead of failing the
 * whole file. The parser knows nothing about which fields exist. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "internal.h"

#define COND_DEPTH_MAX 200
#define COND_LIST_MAX 100000

struct cparse {
    const char *text;
    const char *p;
    int depth;
    size_t err_off;
    char *err;
    size_t errlen;
};

static const char *const word_ops[] = {
    "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob",
    "iglob", "in", "intersects", "pmatch", "exists", "regex",
};

static int perr(struct cparse *cp, const char *at, const char *msg)
{
    cp->err_off = (size_t)(at - cp->text);
    snprintf(cp->err, cp->errlen, "condition: %s at offset %zu", msg, cp->err_off);
    return BW_ECONFIG;
}

static void skip_ws(struct cparse *cp)
{
    while (*cp->p && isspace((unsigned char)*cp->p))
        cp->p++;
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Whether the keyword kw is next (as a whole word); consumes it if so. */
static bool keyword(struct cparse *cp, const char *kw)
{
    size_t n = strlen(kw);

    skip_ws(cp);
    if (strncmp(cp->p, kw, n) != 0 || ident_char(cp->p[n]))
        return false;
    cp->p += n;
    return true;
}

/* Frees the tree without recursion (a chain of 100,000 `and` is as deep as
 * it is long): while the node has a left operand, rotate it up (the node
 * becomes its left operand's right one); then free the node and go right. */
void cond_free(struct anode *n)
{
    while (n) {
        struct anode *next;

        if (n->a) {
            next = n->a;
            n->a = next->b;
            next->b = n;
            n = next;
            continue;
        }
        next = n->b;
        free(n->name);
        free(n->op);
        free(n->unsupported);
        for (size_t i = 0; i < n->nvals; i++)
            free(n->vals[i].s);
        free(n->vals);
        free(n);
        n = next;
    }
}

static struct anode *node_new(enum anode_type t, size_t off)
{
    struct anode *n = calloc(1, sizeof *n);

    if (n) {
        n->type = t;
        n->off = off;
    }
    return n;
}

static int parse_or(struct cparse *cp, struct anode **out);

/* A field name with its optional [arg]: malloc'd copy in *out. */
static int read_field(struct cparse *cp, char **out)
{
    const char *s = cp->p;

    if (!isalpha((unsigned char)*cp->p) && *cp->p != '_')
        return perr(cp, cp->p, "expected a field or macro name");
    while (ident_char(*cp->p))
        cp->p++;
    if (*cp->p == '[') {
        const char *close = strchr(cp->p, ']');

        if (!close)
            return perr(cp, cp->p, "unterminated '['");
        cp->p = close + 1;
    }
    *out = strndup(s, (size_t)(cp->p - s));
    return *out ? 0 : BW_ENOMEM;
}

/* A quoted string starting at cp->p (the quote). */
static int read_quoted(struct cparse *cp, char **out)
{
    char q = *cp->p, *dst;
    const char *start = cp->p, *end = cp->p + 1;
    size_t n = 0;

    while (*end && *end != q)  /* the string's extent bounds its copy */
        end += *end == '\\' && end[1] ? 2 : 1;
    dst = malloc((size_t)(end - start));
    if (!dst)
        return BW_ENOMEM;
    for (cp->p++; *cp->p && *cp->p != q; cp->p++) {
        char c = *cp->p;

        if (c == '\\' && cp->p[1]) {
            c = *++cp->p;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        dst[n++] = c;
    }
    if (*cp->p != q) {
        free(dst);
        return perr(cp, start, "unterminated string");
    }
    cp->p++;
    dst[n] = '\0';
    *out = dst;
    return 0;
}

/* Skips a balanced "( ... )" starting at cp->p; used for transformers. */
static int skip_parens(struct cparse *cp)
{
    const char *start = cp->p;
    int level = 0;

    do {
        if (*cp->p == '(')
            level++;
        else if (*cp->p == ')')
            level--;
        else if (!*cp->p)
            return perr(cp, start, "unbalanced parentheses");
        cp->p++;
    } while (level > 0);
    return 0;
}

/* One value: quoted, or bare up to whitespace, ',' or ')'. A bare value of
 * the form name(...) is a transformer: returned with *transformer set. */
static int read_value(struct cparse *cp, struct avalue *v, bool *transformer)
{
    const char *s;

    skip_ws(cp);
    if (*cp->p == '"' || *cp->p == '\'') {
        v->quoted = true;
        return read_quoted(cp, &v->s);
    }
    s = cp->p;
    while (*cp->p && !isspace((unsigned char)*cp->p) && *cp->p != ',' && *cp->p != ')') {
        if (*cp->p == '(') {
            int rc;

            if (cp->p == s)
                return perr(cp, cp->p, "expected a value");
            rc = skip_parens(cp);
            if (rc < 0)
                return rc;
            *transformer = true;
            break;
        }
        cp->p++;
    }
    if (cp->p == s)
        return perr(cp, cp->p, "expected a value");
    v->s = strndup(s, (size_t)(cp->p - s));
    return v->s ? 0 : BW_ENOMEM;
}

static int add_value(struct anode *n, struct avalue v)
{
    if ((n->nvals & (n->nvals + 1)) == 0 || n->nvals == 0) {
        struct avalue *vals = realloc(n->vals, (n->nvals * 2 + 2) * sizeof *vals);

        if (!vals)
            return BW_ENOMEM;
        n->vals = vals;
    }
    n->vals[n->nvals++] = v;
    return 0;
}

static int read_list(struct cparse *cp, struct anode *n, bool *transformer)
{
    const char *start = cp->p;
    int rc;

    cp->p++;  /* ( */
    skip_ws(cp);
    if (*cp->p == ')') {
        cp->p++;
        return 0;
    }
    for (;;) {
        struct avalue v = {0};

        rc = read_value(cp, &v, transformer);
        if (rc == 0 && (rc = add_value(n, v)) < 0)
            free(v.s);
        if (rc < 0)
            return rc;
        if (n->nvals > COND_LIST_MAX)
            return perr(cp, start, "list too long");
        skip_ws(cp);
        if (*cp->p == ',') {
            cp->p++;
            continue;
        }
        if (*cp->p == ')') {
            cp->p++;
            return 0;
        }
        return perr(cp, *cp->p ? cp->p : start, *cp->p ? "expected ',' or ')'" : "unterminated list");
    }
}

/* Reads an operator if one is next; *op is NULL when not. */
static int read_op(struct cparse *cp, char **op)
{
    static const char *const sym_ops[] = {"==", "!=", "<=", ">=", "=", "<", ">"};

    *op = NULL;
    skip_ws(cp);
    for (size_t i = 0; i < sizeof sym_ops / sizeof *sym_ops; i++) {
        size_t n = strlen(sym_ops[i]);

        if (strncmp(cp->p, sym_ops[i], n) == 0) {
            cp->p += n;
            *op = strdup(sym_ops[i]);
            return *op ? 0 : BW_ENOMEM;
        }
    }
    for (size_t i = 0; i < sizeof word_ops / sizeof *word_ops; i++) {
        if (keyword(cp, word_ops[i])) {
            *op = strdup(word_ops[i]);
            return *op ? 0 : BW_ENOMEM;
        }
    }
    return 0;
}

static int set_unsupported(struct anode *n, const char *what, const char *name)
{
    char msg[160];

    if (n->unsupported)
        return 0;
    snprintf(msg, sizeof msg, "unsupported %s '%.100s'", what, name);
    n->unsupported = strdup(msg);
    return n->unsupported ? 0 : BW_ENOMEM;
}

static int parse_primary(struct cparse *cp, struct anode **out)
{
    struct anode *n = NULL;
    const char *start;
    bool transformer = false;
    char *name = NULL;
    int rc;

    skip_ws(cp);
    start = cp->p;
    if (*cp->p == '(') {
        cp->p++;
        rc = parse_or(cp, out);
        if (rc < 0)
            return rc;
        skip_ws(cp);
        if (*cp->p != ')') {
            cond_free(*out);
            *out = NULL;
            return perr(cp, *cp->p ? cp->p : start, "expected ')'");
        }
        cp->p++;
        return 0;
    }
    rc = read_field(cp, &name);
    if (rc < 0)
        return rc;
    n = node_new(A_CMP, (size_t)(start - cp->text));
    if (!n) {
        free(name);
        return BW_ENOMEM;
    }
    n->name = name;
    if (*cp->p == '(') {  /* transformer on the left: tolower(proc.name) */
        rc = skip_parens(cp);
        if (rc == 0)
            rc = set_unsupported(n, "transformer", name);
        if (rc < 0)
            goto out;
    }
    rc = read_op(cp, &n->op);
    if (rc < 0)
        goto out;
    if (!n->op) {
        if (n->unsupported || strchr(name, '.') || strchr(name, '[')) {
            rc = perr(cp, *cp->p ? cp->p : start, "expected an operator");
            goto out;
        }
        n->type = A_REF;
        *out = n;
        return 0;
    }
    if (strcmp(n->op, "exists") == 0) {
        *out = n;
        return 0;
    }
    skip_ws(cp);
    if (*cp->p == '(') {
        n->is_list = true;
        rc = read_list(cp, n, &transformer);
    } else {
        struct avalue v = {0};

        rc = read_value(cp, &v, &transformer);
        if (rc == 0 && (rc = add_value(n, v)) < 0)
            free(v.s);
    }
    if (rc == 0 && transformer)
        rc = set_unsupported(n, "transformer in value of", name);
    if (rc < 0)
        goto out;
    *out = n;
    return 0;
out:
    cond_free(n);
    return rc;
}

static int parse_not(struct cparse *cp, struct anode **out)
{
    const char *start;
    struct anode *n, *a = NULL;
    int rc;

    skip_ws(cp);
    start = cp->p;
    if (!keyword(cp, "not"))
        return parse_primary(cp, out);
    if (++cp->depth > COND_DEPTH_MAX)
        return perr(cp, start, "nested too deep");
    rc = parse_not(cp, &a);
    cp->depth--;
    if (rc < 0)
        return rc;
    n = node_new(A_NOT, (size_t)(start - cp->text));
    if (!n) {
        cond_free(a);
        return BW_ENOMEM;
    }
    n->a = a;
    *out = n;
    return 0;
}

static int parse_binary(struct cparse *cp, struct anode **out, bool is_or)
{
    struct anode *left = NULL, *right = NULL, *n;
    int rc;

    if (++cp->depth > COND_DEPTH_MAX)
        return perr(cp, cp->p, "nested too deep");
    rc = is_or ? parse_binary(cp, &left, false) : parse_not(cp, &left);
    while (rc == 0 && keyword(cp, is_or ? "or" : "and")) {
        size_t off = (size_t)(cp->p - cp->text);

        rc = is_or ? parse_binary(cp, &right, false) : parse_not(cp, &right);
        if (rc < 0)
            break;
        n = node_new(is_or ? A_OR : A_AND, off);
        if (!n) {
            cond_free(right);
            rc = BW_ENOMEM;
            break;
        }
        n->a = left;
        n->b = right;
        left = n;
    }
    cp->depth--;
    if (rc < 0) {
        cond_free(left);
        return rc;
    }
    *out = left;
    return 0;
}

static int parse_or(struct cparse *cp, struct anode **out)
{
    return parse_binary(cp, out, true);
}

int cond_parse(const char *text, struct anode **out, size_t *err_off, char *err, size_t errlen)
{
    struct cparse cp = {.text = text, .p = text, .err = err, .errlen = errlen};
    struct anode *n = NULL;
    int rc;

    skip_ws(&cp);
    if (!*cp.p) {
        rc = perr(&cp, cp.p, "empty condition");
        goto out;
    }
    rc = parse_or(&cp, &n);
    if (rc < 0)
        goto out;
    skip_ws(&cp);
    if (*cp.p) {
        cond_free(n);
        rc = perr(&cp, cp.p, *cp.p == ')' ? "unbalanced ')'" : "unexpected text");
        goto out;
    }
    *out = n;
    return 0;
out:
    *err_off = cp.err_off;
    return rc;
}
