/* rulestage.c - the rules stage: rule files -> engine, batches -> alert
 * records (see bulwark/rulestage.h). Loop thread only, but for the loading
 * of a reload, which runs on a libuv worker thread and touches nothing but
 * the spec (immutable), its own new ruleset and the logger. */
#include <assert.h>
#include <dirent.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bulwark/err.h"
#include "bulwark/log.h"
#include "bulwark/rules.h"
#include "bulwark/rulestage.h"

#define RULESTAGE_MAX_FILES 256

struct rulestage {
    char *spec;
    struct ruleset *set;
    struct rules_engine *engine;
    /* reload in flight: the worker fills next/next_enabled, the loop reads
     * them in on_reload_done (uv_queue_work orders the two) */
    uv_work_t work;
    bool reloading, again;
    struct ruleset *next;
    size_t next_enabled;
    rulestage_reload_fn done;
    void *done_ctx;
};

struct file_list {
    char *paths[RULESTAGE_MAX_FILES];
    size_t n;
};

static void file_list_release(struct file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        free(fl->paths[i]);
    fl->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int file_list_add(struct file_list *fl, const char *path)
{
    if (fl->n == RULESTAGE_MAX_FILES) {
        log_msg(LOG_ERROR, "rules", "more than %d rule files", RULESTAGE_MAX_FILES);
        return BW_ETOOBIG;
    }
    fl->paths[fl->n] = strdup(path);
    if (!fl->paths[fl->n])
        return BW_ENOMEM;
    fl->n++;
    return 0;
}

/* Expands "a.yaml,dir/" into files; directories give their *.yaml sorted. */
static int rulestage_expand(const char *spec, struct file_list *fl)
{
    char *copy = strdup(spec), *save = NULL, *tok;
    int rc = 0;

    if (!copy)
        return BW_ENOMEM;
    for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        struct stat st;
        while (*tok == ' ')
            tok++;
        if (!*tok)
            continue;
        if (stat(tok, &st) != 0) {
            log_msg(LOG_ERROR, "rules", "'%s': no such file or directory", tok);
            rc = BW_ECONFIG;
        } else if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(tok);
            struct dirent *e;
            size_t first = fl->n;
            if (!d) {
                log_msg(LOG_ERROR, "rules", "'%s': cannot open directory", tok);
                rc = BW_ECONFIG;
                break;
            }
            while (rc == 0 && (e = readdir(d))) {
                size_t len = strlen(e->d_name);
                char path[4096];
                if (len < 6 || (strcmp(e->d_name + len - 5, ".yaml") != 0 &&
                                strcmp(e->d_name + len - 4, ".yml") != 0))
                    continue;
                snprintf(path, sizeof path, "%s/%s", tok, e->d_name);
                rc = file_list_add(fl, path);
            }
            closedir(d);
            qsort(fl->paths + first, fl->n - first, sizeof *fl->paths, cmp_str);
        } else {
            rc = file_list_add(fl, tok);
        }
    }
    free(copy);
    return rc;
}

static void on_diag(void *ctx, const char *file, unsigned line, const char *msg)
{
    (void)ctx;
    if (file)
        log_msg(LOG_WARN, "rules", "%s:%u: %s", file, line, msg);
    else
        log_msg(LOG_WARN, "rules", "%s", msg);
}

/* Loads the spec into a new ruleset; NULL (logged) on error. */
static struct ruleset *rulestage_load(const char *spec, size_t *enabled)
{
    struct file_list fl = {.n = 0};
    struct ruleset *set = NULL;
    size_t total = 0, unsupported = 0;
    int rc = rulestage_expand(spec, &fl);

    if (rc == 0)
        rc = ruleset_load(&set, (const char *const *)fl.paths, fl.n, on_diag, NULL);
    if (rc < 0) {
        log_msg(LOG_ERROR, "rules", "rules not loaded: %s", bw_strerror(rc));
        set = NULL;
    } else {
        ruleset_counts(set, &total, enabled, &unsupported);
        log_msg(LOG_INFO, "rules", "loaded %zu rule files: %zu rules, %zu enabled, %zu unsupported",
                fl.n, total, *enabled, unsupported);
    }
    file_list_release(&fl);
    return set;
}

int rulestage_open(struct rulestage **out, const char *spec)
{
    struct rulestage *rs = calloc(1, sizeof *rs);
    size_t enabled;

    if (!rs || !(rs->spec = strdup(spec)))
        goto fail;
    rs->set = rulestage_load(spec, &enabled);
    if (!rs->set)
        goto fail;
    rs->engine = rules_engine_new(rs->set);
    if (!rs->engine)
        goto fail;
    *out = rs;
    return 0;
fail:
    rulestage_free(rs);
    return BW_ECONFIG;
}

void rulestage_free(struct rulestage *rs)
{
    if (!rs)
        return;
    assert(!rs->reloading);
    rules_engine_free(rs->engine);
    ruleset_free(rs->set);
    free(rs->spec);
    free(rs);
}

/* Puts a loaded set (or NULL: refused, logged) in place of the running one
 * and logs the outcome: 0, or negative with the running rules kept. */
static int rulestage_swap_in(struct rulestage *rs, struct ruleset *set, size_t enabled)
{
    int rc;

    if (!set) {
        log_msg(LOG_ERROR, "rules", "reload refused; the running rules stay");
        return BW_ECONFIG;
    }
    rc = rules_engine_swap(rs->engine, set);
    if (rc < 0) {
        ruleset_free(set);
        log_msg(LOG_ERROR, "rules", "out of memory swapping the new rules in; the running rules stay");
        return rc;
    }
    ruleset_free(rs->set);
    rs->set = set;
    log_msg(LOG_INFO, "rules", "reloaded: %zu rules enabled", enabled);
    return 0;
}

int rulestage_reload(struct rulestage *rs)
{
    size_t enabled = 0;
    struct ruleset *set = rulestage_load(rs->spec, &enabled);

    return rulestage_swap_in(rs, set, enabled);
}

static void on_reload_work(uv_work_t *w)
{
    struct rulestage *rs = w->data;

    rs->next = rulestage_load(rs->spec, &rs->next_enabled);
}

static void on_reload_done(uv_work_t *w, int status)
{
    struct rulestage *rs = w->data;
    rulestage_reload_fn done = rs->done;
    void *ctx = rs->done_ctx;
    struct ruleset *set = rs->next;
    int rc;

    (void)status;   /* never cancelled */
    rs->reloading = false;
    rs->next = NULL;
    rc = rulestage_swap_in(rs, set, rs->next_enabled);
    if (rs->again) {
        rs->again = false;
        if (rulestage_reload_start(rs, w->loop, done, ctx) < 0)
            log_msg(LOG_ERROR, "rules", "out of memory: a requested reload did not run");
    }
    if (done)
        done(rs, rc, ctx);
}

int rulestage_reload_start(struct rulestage *rs, uv_loop_t *loop, rulestage_reload_fn done, void *ctx)
{
    if (rs->reloading) {  /* files changed again while reading them: read them once more after */
        rs->again = true;
        rs->done = done;
        rs->done_ctx = ctx;
        return 0;
    }
    rs->work.data = rs;
    rs->done = done;
    rs->done_ctx = ctx;
    if (uv_queue_work(loop, &rs->work, on_reload_work, on_reload_done) != 0)
        return BW_ENOMEM;
    rs->reloading = true;
    return 0;
}

/* ------------------------------------------------------------ alert records */


void alert_rec_free_list(struct alert_rec *r)
{
    while (r) {
        struct alert_rec *next = r->next;
        free(r);  /* one block: see alert_rec_new */
        r = next;
    }
}

/* Copies s into the block at *p (NULL stays NULL). */
static const char *pack_str(char **p, const char *s)
{
    size_t n;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    memcpy(*p, s, n);
    *p += n;
    return *p - n;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* A record holding a deep copy of a in one allocation (the record, the
 * evidence array, then every string), so it is freed with one free() and
 * no field can be forgotten. NULL when out of memory. */
static struct alert_rec *alert_rec_new(const struct store_alert *a, uint64_t trigger_seq)
{
    const char *const strs[] = {a->rule, a->output, a->source, a->group_key, a->agent_id,
                                a->hostname, a->container_id, a->image, a->tags_json};
    size_t size = sizeof(struct alert_rec) + a->n_evidence * sizeof(struct store_evidence);
    struct alert_rec *r;
    struct store_evidence *ev;
    char *p;

    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        size += str_size(strs[i]);
    for (size_t i = 0; i < a->n_evidence; i++)
        size += str_size(a->evidence[i].agent_id);
    if (!(r = malloc(size)))
        return NULL;
    ev = (struct store_evidence *)(r + 1);
    p = (char *)(ev + a->n_evidence);
    r->a = *a;
    r->trigger_seq = trigger_seq;
    r->next = NULL;
    r->a.rule = pack_str(&p, a->rule);
    r->a.output = pack_str(&p, a->output);
    r->a.source = pack_str(&p, a->source);
    r->a.group_key = pack_str(&p, a->group_key);
    r->a.agent_id = pack_str(&p, a->agent_id);
    r->a.hostname = pack_str(&p, a->hostname);
    r->a.container_id = pack_str(&p, a->container_id);
    r->a.image = pack_str(&p, a->image);
    r->a.tags_json = pack_str(&p, a->tags_json);
    for (size_t i = 0; i < a->n_evidence; i++) {
        ev[i] = a->evidence[i];
        ev[i].agent_id = pack_str(&p, a->evidence[i].agent_id);
    }
    r->a.evidence = a->n_evidence ? ev : NULL;
    assert(p == (char *)r + size);
    return r;
}

struct alert_rec *alert_rec_server(const char *rule, int32_t priority, const char *output,
                                   const char *agent_id, const char *hostname,
                                   const char *tags_json, int64_t time_ns)
{
    struct store_alert a = {.rule = rule, .priority = priority, .output = output,
                            .source = "server",
                            .group_key = agent_id ? agent_id : "server",  /* merged per agent */
                            .agent_id = agent_id, .hostname = hostname,
                            .tags_json = tags_json, .time_ns = time_ns};

    if (!rule || !output)
        return NULL;
    return alert_rec_new(&a, 0);
}

struct eval_ctx {
    uint64_t *count;
    struct alert_rec **tail;
    uint64_t seq;
};

/* Evidence arrays of at most this many entries are copied on the stack. */
#define EVAL_EVIDENCE_STACK 64

static void on_alert(void *arg, const struct rules_alert *al)
{
    struct eval_ctx *ec = arg;
    struct store_evidence stack_ev[EVAL_EVIDENCE_STACK], *ev = stack_ev;
    struct alert_rec *r = NULL;
    json_t *tags = json_array();
    char *tags_json = NULL;
    struct store_alert a;

    if (!al->rule || !tags)
        goto fail;
    for (size_t i = 0; i < al->n_tags; i++)
        json_array_append_new(tags, json_string(al->tags[i]));
    if (!(tags_json = json_dumps(tags, JSON_COMPACT)))
        goto fail;
    if (al->n_evidence > EVAL_EVIDENCE_STACK && !(ev = malloc(al->n_evidence * sizeof *ev)))
        goto fail;
    for (size_t i = 0; i < al->n_evidence; i++)
        ev[i] = (struct store_evidence){.agent_id = al->evidence[i].agent_id,
                                        .epoch = al->evidence[i].epoch,
                                        .seq = al->evidence[i].seq};
    a = (struct store_alert){.rule = al->rule, .priority = al->priority, .output = al->output,
                            .source = al->source,
                            .group_key = al->group_key ? al->group_key : "",
                            .agent_id = al->agent_id, .hostname = al->hostname,
                            .container_id = al->container_id, .image = al->image,
                            .tags_json = tags_json, .time_ns = al->time_ns,
                            .retrospective = al->retrospective,
                            .evidence = al->n_evidence ? ev : NULL,
                            .n_evidence = al->n_evidence};
    if (!(r = alert_rec_new(&a, ec->seq)))
        goto fail;
    *ec->tail = r;
    ec->tail = &r->next;
    if (ec->count)
        (*ec->count)++;
    goto out;
fail:
    log_msg(LOG_ERROR, "rules", "out of memory: an alert of '%s' is lost",
            al->rule ? al->rule : "?");
out:
    if (ev != stack_ev)
        free(ev);
    free(tags_json);
    json_decref(tags);
}

void rulestage_eval_engine(struct rules_engine *e, Bulwark__V1__Event *const *events, size_t n,
                           const char *agent_id, const char *hostname, uint64_t epoch,
                           struct alert_rec **out, uint64_t *count)
{
    struct eval_ctx ec = {.count = count, .tail = out};

    while (*ec.tail)
        ec.tail = &(*ec.tail)->next;
    for (size_t i = 0; i < n; i++) {
        struct rules_event_meta m = {agent_id, hostname, epoch, events[i]->seq};
        ec.seq = events[i]->seq;
        if (rules_engine_eval(e, events[i], &m, on_alert, &ec) < 0)
            log_msg(LOG_WARN, "rules", "rule state is full; some correlations were skipped");
    }
}

void rulestage_eval(struct rulestage *rs, Bulwark__V1__Event *const *events, size_t n,
                    const char *agent_id, const char *hostname, uint64_t epoch,
                    struct alert_rec **out)
{
    rulestage_eval_engine(rs->engine, events, n, agent_id, hostname, epoch, out, NULL);
}

int rulestage_save(struct rulestage *rs, struct buf *out)
{
    return rules_engine_save(rs->engine, out);
}

int rulestage_restore(struct rulestage *rs, const uint8_t *p, size_t n)
{
    return rules_engine_restore(rs->engine, p, n);
}

void rulestage_foreach(const struct rulestage *rs, rules_rule_fn fn, void *ctx)
{
    if (rs && rs->set)
        ruleset_foreach(rs->set, fn, ctx);
}
