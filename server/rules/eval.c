/* eval.c - evaluating compiled conditions against one event, the string
 * hash set behind `in`/`intersects`, and output templates. Nothing here
 * allocates per event. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bulwark/err.h"
#include "internal.h"

/* ------------------------------------------------------------- strset */

struct strset {
    char **slots;      /* open addressing, NULL = empty */
    size_t *lens;
    size_t mask;
    size_t maxlen;     /* of the longest item */
    uint32_t first[256];  /* by first byte: bit min(len, 31) of each item (a filter) */
};

/* The bit of a length in strset.first (31 stands for 31 and longer). */
static inline uint32_t len_bit(size_t len)
{
    return 1u << (len < 31 ? len : 31);
}

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

uint64_t rules_hash_bytes(const char *s, size_t n)
{
    uint64_t h = FNV_OFFSET;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
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
        size_t len = strlen(items[i]), j = rules_hash_bytes(items[i], len) & s->mask;

        if (strset_has(s, items[i], len))
            continue;
        while (s->slots[j])
            j = (j + 1) & s->mask;
        s->slots[j] = strdup(items[i]);
        s->lens[j] = len;
        if (!s->slots[j])
            goto fail;
        s->first[(unsigned char)items[i][0]] |= len_bit(len);
        if (len > s->maxlen)
            s->maxlen = len;
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

static bool strset_probe(const struct strset *s, uint64_t h, const char *str, size_t len)
{
    size_t j = h & s->mask;

    while (s->slots[j]) {
        if (s->lens[j] == len && memcmp(s->slots[j], str, len) == 0)
            return true;
        j = (j + 1) & s->mask;
    }
    return false;
}

bool strset_has(const struct strset *s, const char *str, size_t len)
{
    uint32_t lens = s->first[len ? (unsigned char)str[0] : 0];

    return (lens & len_bit(len)) && len <= s->maxlen && strset_probe(s, rules_hash_bytes(str, len), str, len);
}

/* Most strings tested are in no set: the first byte and the length, looked
 * up in `first`, turn nearly all of them away before the hash and probe. */
bool strset_has_cstr(const struct strset *s, const char *str)
{
    uint32_t lens = s->first[(unsigned char)str[0]];
    uint64_t h = FNV_OFFSET;
    size_t len;

    if (!lens)
        return false;
    for (len = 0; str[len]; len++) {
        if (len == s->maxlen)
            return false;  /* longer than every item */
        h = (h ^ (unsigned char)str[len]) * FNV_PRIME;
    }
    return (lens & len_bit(len)) && strset_probe(s, h, str, len);
}

/* --------------------------------------------------------- conditions */

/* Values are NUL-terminated strings whose length is measured only by the
 * operators that need it: most tests are decided by a byte or two. */

static bool pmatch(const struct cnode *n, const char *s)
{
    for (size_t i = 0; i < n->nvals; i++) {
        const char *p = n->prefixes[i];
        size_t pl = n->plens[i];

        if (pl == 1 && p[0] == '/') {
            if (s[0] == '/')
                return true;
            continue;
        }
        if (strncmp(s, p, pl) == 0 && (s[pl] == '\0' || s[pl] == '/'))
            return true;
    }
    return false;
}

/* Whether NUL-terminated h contains n's needle (icase: ignoring ASCII
 * case; the needle is lower-cased): look for the needle's rarest byte
 * (chosen at compile time; both cases of a letter), then compare around
 * it. No length of h is needed. */
static bool has_needle(const struct cnode *n, const char *h, bool icase)
{
    size_t k = n->spos;
    const char *p = h;

    if (n->slen == 0)
        return true;
    for (;; p++) {
        p = n->sfind[1] ? strpbrk(p, n->sfind) : strchr(p, n->sfind[0]);
        if (!p)
            return false;
        if ((size_t)(p - h) >= k &&
            (icase ? strncasecmp(p - k, n->s, n->slen) : strncmp(p - k, n->s, n->slen)) == 0)
            return true;
    }
}

/* A string operator other than != and `in` over a list (handled by callers). */
static bool str_match(const struct cnode *n, const char *s)
{
    size_t len;

    switch (n->op) {
    case OP_EQ:
    case OP_NE: return s[0] == n->s[0] && strcmp(s, n->s) == 0;
    case OP_CONTAINS: return has_needle(n, s, false);
    case OP_ICONTAINS: return has_needle(n, s, true);
    case OP_STARTSWITH: return strncmp(s, n->s, n->slen) == 0;
    case OP_ENDSWITH:
        len = strlen(s);
        return len >= n->slen && memcmp(s + len - n->slen, n->s, n->slen) == 0;
    case OP_GLOB: return fnmatch(n->s, s, 0) == 0;
    case OP_IN:
    case OP_INTERSECTS: return strset_has_cstr(n->set, s);
    case OP_PMATCH: return pmatch(n, s);
    case OP_EXISTS: return s[0] != '\0';
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
        case OP_IN: {  /* dbls sorted at compile time */
            size_t lo = 0, hi = n->nvals;

            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (n->dbls[mid] < d)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            return lo < n->nvals && n->dbls[lo] == d;
        }
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
    case OP_IN: {  /* ints sorted at compile time */
        size_t lo = 0, hi = n->nvals;

        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (n->ints[mid] < v->i)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo < n->nvals && n->ints[lo] == v->i;
    }
    default: return true;
    }
}

/* ------------------------------------------------------ IP networks */

int ipnet_parse(const char *s, struct ipnet *out)
{
    const char *slash = strchr(s, '/');
    char addr[INET6_ADDRSTRLEN];
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    struct ipnet net = {0};
    unsigned bits = 0;

    if (n == 0 || n >= sizeof addr)
        return -1;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, net.addr) == 1)
        net.family = AF_INET;
    else if (inet_pton(AF_INET6, addr, net.addr) == 1)
        net.family = AF_INET6;
    else
        return -1;
    net.bits = net.family == AF_INET ? 32 : 128;
    if (slash) {
        const char *d = slash + 1;

        if (!*d || strlen(d) > 3)
            return -1;
        for (; *d; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        if (bits > net.bits)
            return -1;
        net.bits = bits;
    }
    *out = net;
    return 0;
}

/* Whether address a (of family fam) lies in net. */
static bool ipnet_has(const struct ipnet *net, unsigned fam, const unsigned char *a)
{
    unsigned whole = net->bits / 8, rest = net->bits % 8;

    if (fam != net->family || memcmp(a, net->addr, whole) != 0)
        return false;
    return rest == 0 || ((a[whole] ^ net->addr[whole]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

/* A VT_NET test, as Falco tests an address field: true when one of the
 * value's addresses (a connection's two ends for fd.ip and fd.net)
 * satisfies it; = and `in`: lies in a network of the operand, !=: lies
 * outside it. */
static bool net_match(const struct cnode *n, const struct fval *v)
{
    for (size_t i = 0; i < v->n; i++) {
        unsigned char a[16];
        unsigned fam = strchr(v->list[i], ':') ? AF_INET6 : AF_INET;
        bool in = false;

        if (inet_pton((int)fam, v->list[i], a) != 1)
            continue;
        for (size_t k = 0; k < n->nvals && !in; k++)
            in = ipnet_has(&n->nets[k], fam, a);
        if (n->op == OP_NE ? !in : in)
            return true;
    }
    return false;
}

bool cnode_cmp_eval(const struct cnode *n, struct evctx *c)
{
    struct fval v;

    if (!(n->kinds & c->kind_bit) || fields_get(c, n->field, n->arg, &v) < 0)
        return false;  /* an absent field matches nothing, not even != */
    switch (n->vt) {
    case VT_STR:
        return n->op == OP_NE ? !str_match(n, v.s) : str_match(n, v.s);
    case VT_LIST: {
        bool any = false;

        if (n->op == OP_EXISTS)
            return v.n > 0;
        if (n->op == OP_IN) {  /* every value in the set */
            for (size_t i = 0; i < v.n; i++)
                if (!strset_has_cstr(n->set, v.list[i]))
                    return false;
            return v.n > 0;
        }
        for (size_t i = 0; i < v.n && !any; i++)
            any = str_match(n, v.list[i]);
        return n->op == OP_NE ? !any : any;
    }
    case VT_NET:
        return n->op == OP_EXISTS ? v.n > 0 : net_match(n, &v);
    default:
        return num_match(n, &v);
    }
}

/* Comparisons, most operands of AND/OR, are evaluated without a call. */
static inline bool kid_eval(const struct cnode *n, struct evctx *c)
{
    return n->type == C_CMP ? cnode_cmp_eval(n, c) : cnode_eval(n, c);
}

bool cnode_eval(const struct cnode *n, struct evctx *c)
{
    switch (n->type) {
    case C_TRUE: return true;
    case C_FALSE: return false;
    case C_AND:
        for (size_t i = 0; i < n->n; i++)
            if (!kid_eval(n->kids[i], c))
                return false;
        return true;
    case C_OR:
        for (size_t i = 0; i < n->n; i++)
            if (kid_eval(n->kids[i], c))
                return true;
        return false;
    case C_NOT: return !cnode_eval(n->kids[0], c);
    case C_TYPE: return (c->type_bit & n->tmask) != 0;
    case C_KIND: return (c->kind_bit & n->kinds) != 0;
    case C_CMP: return cnode_cmp_eval(n, c);
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
    s->len = text ? len : 0;
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
        size_t len = 4;

        if (sg->text) {
            txt = sg->text;
            len = sg->len;
        } else if (sg->field != F_NONE && fields_get(c, sg->field, sg->arg, &v) == 0) {
            txt = fields_format(&v, num, sizeof num);
            len = strlen(txt);
        }
        if (len > n - 1 - used)
            len = n - 1 - used;
        memcpy(dst + used, txt, len);
        used += len;
    }
    dst[used] = '\0';
}
