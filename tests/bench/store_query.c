/* store_query.c - query latency of the store on a large database (issue
 * "performance at the limit", target 1: a first page of 100 events in
 * < 50 ms p99 on a 10-million-event database, through the store interface).
 *
 * Builds (or reuses, --reuse) a database of --events realistic events from
 * --agents hosts with --containers containers each, one millisecond apart,
 * through store_append as bulwarkd's writer does; then runs each query shape
 * the REST API will offer (time range, host, container, kind and their
 * combinations) --rounds times with random parameters through a
 * store_reader, and prints p50/p99/max milliseconds per shape. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulwark/err.h"
#include "bulwark/clock.h"
#include "bulwark/store.h"
#include "evpool.h"

#define SQ_BATCH 4096u

struct sq_opts {
    uint64_t events;
    uint32_t agents, containers, rounds;
    const char *db;
    bool reuse;
};

static uint64_t sq_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void sq_names(uint32_t a, uint32_t c, char *agent, char *host, char *cid)
{
    snprintf(agent, 32, "agent-%04u", a);
    snprintf(host, 32, "node-%04u", a);
    if (cid)
        snprintf(cid, 65, "%08x%056x", a * 1000003u + c * 7919u + 1u, c + 1u);
}

static int sq_build(const struct sq_opts *o, int64_t t0)
{
    struct store *s = NULL;
    struct store_options so = {.path = o->db, .sync_full = false};
    struct evpool pool;
    struct store_event *evs = calloc(SQ_BATCH, sizeof *evs);
    uint8_t *bodies = malloc((size_t)SQ_BATCH * 1024);
    Bulwark__V1__ContainerRef *refs = calloc((size_t)o->agents * o->containers, sizeof *refs);
    char (*cids)[65] = calloc((size_t)o->agents * o->containers, 65);
    uint64_t *seq = calloc(o->agents, sizeof *seq);
    char err[256], agent[32], host[32];
    uint64_t done = 0, t_start = (uint64_t)clock_mono_ns(), rng = 42;
    int rc = 1;

    if (!evs || !bodies || !refs || !cids || !seq)
        return 1;
    if (evpool_init(&pool, 4096, 7, "node", false) < 0)
        return 1;
    for (uint32_t a = 0; a < o->agents; a++)
        for (uint32_t c = 0; c < o->containers; c++) {
            size_t k = (size_t)a * o->containers + c;
            sq_names(a, c, agent, host, cids[k]);
            bulwark__v1__container_ref__init(&refs[k]);
            refs[k].id = cids[k];
            refs[k].name = "app";
            refs[k].image = "registry.example.com/app:1";
        }
    if (store_open(&s, &so, err, sizeof err) < 0) {
        fprintf(stderr, "store_query: %s\n", err);
        goto out;
    }
    while (done < o->events) {
        if (store_begin(s) < 0)
            goto out;
        /* A transaction holds batches of several agents, as the writer's do. */
        for (int b = 0; b < 16 && done < o->events; b++) {
            uint32_t a = (uint32_t)(sq_rand(&rng) % o->agents);
            struct store_batch sb = {0};
            struct store_append_result res;
            size_t off = 0;
            /* The decoded events go with the batch (the rollups read net and
             * vuln bodies from them), as bulwarkd's ingest passes them. */
            Bulwark__V1__Event *dec[SQ_BATCH / 16] = {0};
            sq_names(a, 0, agent, host, NULL);
            sb.agent_id = agent;
            sb.hostname = host;
            sb.epoch = 1;
            sb.recv_ns = t0;
            sb.events = evs;
            for (size_t i = 0; i < SQ_BATCH / 16 && done < o->events; i++, done++) {
                size_t len;
                const uint8_t *tmpl = evpool_get(&pool, done, &len);
                uint32_t c = (uint32_t)(sq_rand(&rng) % (o->containers + 1));
                Bulwark__V1__Event *e = bulwark__v1__event__unpack(NULL, len, tmpl);
                evs[i] = (struct store_event){
                    .seq = ++seq[a],
                    .time_ns = t0 + (int64_t)done * 1000000,
                    .kind = e ? (int32_t)e->body_case : 10,
                    .severity = 2,
                    .container = c == o->containers ? NULL
                                                    : &refs[(size_t)a * o->containers + c],
                    .body = bodies + off,
                    .body_len = len,
                    .ev = e,
                };
                memcpy(bodies + off, tmpl, len);
                off += len;
                dec[i] = e;
                sb.n++;
            }
            int arc = store_append(s, &sb, &res);
            for (size_t i = 0; i < sb.n; i++)
                bulwark__v1__event__free_unpacked(dec[i], NULL);
            if (arc < 0)
                goto out;
        }
        if (store_commit(s) < 0)
            goto out;
        if (done % 1000000 < SQ_BATCH)
            fprintf(stderr, "\rbuilding: %" PRIu64 " events (%.0f/s)", done,
                    (double)done * 1e9 / (double)((uint64_t)clock_mono_ns() - t_start));
    }
    fprintf(stderr, "\n");
    rc = 0;
out:
    store_close(s);
    evpool_release(&pool);
    free(evs);
    free(bodies);
    free(refs);
    free(cids);
    free(seq);
    return rc;
}

struct sq_count {
    uint32_t rows;
};

static int sq_row(const struct store_row *row, void *ctx)
{
    (void)row;
    ((struct sq_count *)ctx)->rows++;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

enum { Q_NEWEST, Q_TIME, Q_HOST, Q_CONTAINER, Q_KIND, Q_HOST_KIND, Q_CONTAINER_TIME,
       Q_HOST_TIME_KIND, Q_COUNT };
static const char *const q_names[Q_COUNT] = {
    "newest page", "time range 10 min", "host", "container", "kind", "host + kind",
    "container + time 1 h", "host + time 1 h + kind"};

int main(int argc, char **argv)
{
    struct sq_opts o = {.events = 10000000, .agents = 500, .containers = 10, .rounds = 200,
                        .db = NULL};
    char tmpdb[256];
    struct store_reader *r = NULL;
    char err[256];
    uint64_t rng = 99, *lat;
    int64_t t0, span;
    uint64_t total = 0;
    int opt;

    static const struct option longopts[] = {
        {"events", required_argument, NULL, 'e'}, {"agents", required_argument, NULL, 'a'},
        {"containers", required_argument, NULL, 'c'}, {"rounds", required_argument, NULL, 'r'},
        {"db", required_argument, NULL, 'd'}, {"reuse", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'e': o.events = strtoull(optarg, NULL, 10); break;
        case 'a': o.agents = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c': o.containers = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': o.rounds = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'd': o.db = optarg; break;
        case 'R': o.reuse = true; break;
        default:
            fprintf(stderr, "usage: store_query [--events N] [--agents N] [--containers N] "
                            "[--rounds N] [--db PATH] [--reuse]\n");
            return 2;
        }
    }
    if (!o.db) {
        snprintf(tmpdb, sizeof tmpdb, "/tmp/bulwark-query-%d.db", (int)getpid());
        o.db = tmpdb;
    }
    if (o.agents == 0 || o.containers == 0 || o.events == 0 || o.rounds == 0)
        return 2;
    t0 = (int64_t)1.7e18;  /* fixed, so --reuse knows the layout */
    span = (int64_t)o.events * 1000000;
    if (!(o.reuse && access(o.db, F_OK) == 0) && sq_build(&o, t0) != 0) {
        fprintf(stderr, "store_query: building the database failed\n");
        return 1;
    }
    if (store_reader_open(&r, o.db, err, sizeof err) < 0 || store_count_events(r, &total) < 0) {
        fprintf(stderr, "store_query: %s\n", err);
        return 1;
    }
    printf("database: %" PRIu64 " events, %u hosts x %u containers\n", total, o.agents,
           o.containers);
    lat = calloc(o.rounds, sizeof *lat);
    for (int q = 0; q < Q_COUNT; q++) {
        uint64_t rows = 0;
        for (uint32_t i = 0; i < o.rounds; i++) {
            char agent[32], host[32], cid[65];
            uint32_t a = (uint32_t)(sq_rand(&rng) % o.agents);
            uint32_t c = (uint32_t)(sq_rand(&rng) % o.containers);
            int64_t at = t0 + (int64_t)(sq_rand(&rng) % (uint64_t)span);
            struct store_query sq = {.limit = 100};
            struct sq_count cnt = {0};
            uint64_t t;
            sq_names(a, c, agent, host, cid);
            switch (q) {
            case Q_TIME: sq.since_ns = at; sq.until_ns = at + 600 * INT64_C(1000000000); break;
            case Q_HOST: sq.hostname = host; break;
            case Q_CONTAINER: sq.container_id = cid; break;
            case Q_KIND: sq.kind = 10 + (int32_t)(sq_rand(&rng) % 7); break;
            case Q_HOST_KIND: sq.hostname = host; sq.kind = 10 + (int32_t)(sq_rand(&rng) % 3); break;
            case Q_CONTAINER_TIME:
                sq.container_id = cid;
                sq.since_ns = at;
                sq.until_ns = at + 3600 * INT64_C(1000000000);
                break;
            case Q_HOST_TIME_KIND:
                sq.hostname = host;
                sq.since_ns = at;
                sq.until_ns = at + 3600 * INT64_C(1000000000);
                sq.kind = 11;
                break;
            default: break;
            }
            t = (uint64_t)clock_mono_ns();
            if (store_query_events(r, &sq, sq_row, &cnt) < 0) {
                fprintf(stderr, "store_query: query failed\n");
                return 1;
            }
            lat[i] = (uint64_t)clock_mono_ns() - t;
            rows += cnt.rows;
        }
        qsort(lat, o.rounds, sizeof *lat, cmp_u64);
        printf("%-24s p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms  (%.0f rows/query)\n",
               q_names[q], (double)lat[o.rounds / 2] / 1e6,
               (double)lat[(size_t)((o.rounds - 1) * 0.99)] / 1e6,
               (double)lat[o.rounds - 1] / 1e6, (double)rows / o.rounds);
    }
    free(lat);
    store_reader_close(r);
    return 0;
}
