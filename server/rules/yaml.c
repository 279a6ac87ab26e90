/* yaml.c - reads a YAML file into a small tree (scalars, sequences, maps)
 * with the line of every node, using libyaml's event parser. Rule files
 * are small; the tree is dropped once the ruleset is compiled. Anchors and
 * aliases are refused (Falco's rule files do not use them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "bulwark/err.h"
#include "internal.h"

#define YAML_FILE_MAX (16u * 1024 * 1024)
#define YAML_DEPTH_MAX 64

static void ynode_free(struct ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ynode_free(n->kids[i]);
    free(n->kids);
    free(n->s);
    free(n);
}

void yaml_free_docs(struct ynode **docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ynode_free(docs[i]);
    free(docs);
}

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
    if (!map || map->type != Y_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kids[i]->type == Y_SCALAR && strcmp(map->kids[i]->s, key) == 0)
            return map->kids[i + 1];
    return NULL;
}

static int kid_add(struct ynode *p, struct ynode *k)
{
    struct ynode **kids;

    if ((p->n & (p->n - 1)) == 0) {   /* grow at powers of two */
        kids = realloc(p->kids, (p->n ? p->n * 2 : 4) * sizeof *kids);
        if (!kids)
            return BW_ENOMEM;
        p->kids = kids;
    }
    p->kids[p->n++] = k;
    return 0;
}

struct yparse {
    yaml_parser_t p;
    unsigned *err_line;
    char *err;
    size_t errlen;
};

static int yerr(struct yparse *y, unsigned line, const char *msg)
{
    *y->err_line = line;
    snprintf(y->err, y->errlen, "%s", msg);
    return BW_ECONFIG;
}

static int next_event(struct yparse *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->p, ev))
        return 0;
    *y->err_line = (unsigned)y->p.problem_mark.line + 1;
    snprintf(y->err, y->errlen, "yaml: %s%s%s", y->p.problem ? y->p.problem : "syntax error",
             y->p.context ? " " : "", y->p.context ? y->p.context : "");
    return BW_ECONFIG;
}

/* Builds the node that starts with ev (already parsed; consumed here). */
static int build(struct yparse *y, yaml_event_t *ev, int depth, struct ynode **out)
{
    struct ynode *n;
    yaml_event_t kev;
    int rc = 0;

    /* ev is ours from here on: every return deletes it (an alias's anchor
     * name, for one, is heap memory) */
    if (depth > YAML_DEPTH_MAX || ev->type == YAML_ALIAS_EVENT) {
        rc = yerr(y, (unsigned)ev->start_mark.line + 1,
                  depth > YAML_DEPTH_MAX ? "yaml: nesting too deep" : "yaml: aliases are not supported");
        yaml_event_delete(ev);
        return rc;
    }
    n = calloc(1, sizeof *n);
    if (!n) {
        yaml_event_delete(ev);
        return BW_ENOMEM;
    }
    n->line = (unsigned)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        yaml_scalar_style_t st = ev->data.scalar.style;

        n->type = Y_SCALAR;
        n->quoted = st != YAML_PLAIN_SCALAR_STYLE;
        if (st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE)
            n->line++;
        n->s = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->s)
            rc = BW_ENOMEM;
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        yaml_event_type_t end = ev->type == YAML_SEQUENCE_START_EVENT ? YAML_SEQUENCE_END_EVENT
                                                                     : YAML_MAPPING_END_EVENT;

        n->type = ev->type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP;
        for (;;) {
            struct ynode *k = NULL;

            rc = next_event(y, &kev);
            if (rc < 0)
                break;
            if (kev.type == end) {
                yaml_event_delete(&kev);
                break;
            }
            rc = build(y, &kev, depth + 1, &k);
            if (rc == 0 && (rc = kid_add(n, k)) < 0)
                ynode_free(k);
            if (rc < 0)
                break;
        }
        break;
    }
    default:
        rc = yerr(y, n->line, "yaml: unexpected event");
        break;
    }
    yaml_event_delete(ev);
    if (rc < 0) {
        ynode_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int parse_all(struct yparse *y, struct ynode ***docs, size_t *ndocs)
{
    struct ynode holder = {.type = Y_SEQ};
    yaml_event_t ev;
    int rc;

    for (;;) {
        rc = next_event(y, &ev);
        if (rc < 0)
            goto out;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;  /* stream start */
        }
        yaml_event_delete(&ev);
        rc = next_event(y, &ev);
        if (rc < 0)
            goto out;
        if (ev.type == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        {
            struct ynode *d = NULL;

            rc = build(y, &ev, 0, &d);
            if (rc == 0 && (rc = kid_add(&holder, d)) < 0)
                ynode_free(d);
            if (rc < 0)
                goto out;
        }
        rc = next_event(y, &ev);  /* document end */
        if (rc < 0)
            goto out;
        yaml_event_delete(&ev);
    }
    *docs = holder.kids;
    *ndocs = holder.n;
    return 0;
out:
    yaml_free_docs(holder.kids, holder.n);
    return rc;
}

int yaml_load_string(const char *text, size_t len, struct ynode ***docs, size_t *ndocs,
                     unsigned *err_line, char *err, size_t errlen)
{
    struct yparse y = {.err_line = err_line, .err = err, .errlen = errlen};
    int rc;

    if (!yaml_parser_initialize(&y.p))
        return BW_ENOMEM;
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    rc = parse_all(&y, docs, ndocs);
    yaml_parser_delete(&y.p);
    return rc;
}

int yaml_load_file(const char *path, struct ynode ***docs, size_t *ndocs, unsigned *err_line,
                   char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    int rc = 0;

    *err_line = 0;
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return BW_EIO;
    }
    do {
        if (cap - len < 65536) {
            char *t;

            cap = cap ? cap * 2 : 65536;
            if (cap > YAML_FILE_MAX + 65536u) {
                snprintf(err, errlen, "file larger than %u bytes", YAML_FILE_MAX);
                rc = BW_ETOOBIG;
                goto out;
            }
            t = realloc(text, cap);
            if (!t) {
                rc = BW_ENOMEM;
                goto out;
            }
            text = t;
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    if (ferror(f)) {
        snprintf(err, errlen, "read error");
        rc = BW_EIO;
        goto out;
    }
    rc = yaml_load_string(text, len, docs, ndocs, err_line, err, errlen);
out:
    free(text);
    fclose(f);
    return rc;
}
