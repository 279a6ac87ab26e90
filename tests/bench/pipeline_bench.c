/* pipeline_bench.c - the server's limit without storage: TLS decryption,
 * framing, decoding (into an arena), the raw event scan, validation and the
 * rules, exactly the calls bulwarkd's connection makes for each batch, on
 * one thread with the thread's CPU clock. This is the "server with
 * storage switched off" baseline measured in-process, so that no production
 * option ever acknowledges events it did not store.
 *
 *   bench_pipeline --certs DIR [--events N] [--batch B] [--rules SPEC]
 *
 * DIR is made by deploy/gen-certs.sh DIR bench-agent. The ciphertext of N
 * events in batches of B is produced first (client side, untimed); then the
 * server side is timed: with the rules (SPEC, default "": none) and without. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulwark/arena.h"
#include "bulwark/err.h"
#include "bulwark/frame.h"
#include "bulwark/ingest.h"
#include "bulwark/log.h"
#include "bulwark/rulestage.h"
#include "bulwark/tls.h"
#include "evpool.h"

#define PB_CHUNK (64 * 1024)

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Moves ciphertext both ways until neither side has more to say. */
static int pb_pump(struct tls_conn *a, struct tls_conn *b)
{
    struct buf t;
    int moved;

    buf_init(&t, 1u << 24);
    do {
        moved = 0;
        if (tls_conn_take_output(a, &t) > 0) {
            if (tls_conn_feed(b, buf_head(&t), buf_size(&t)) < 0)
                return -1;
            buf_reset(&t);
            moved = 1;
        }
        if (tls_conn_take_output(b, &t) > 0) {
            if (tls_conn_feed(a, buf_head(&t), buf_size(&t)) < 0)
                return -1;
            buf_reset(&t);
            moved = 1;
        }
        tls_conn_handshake(a);
        tls_conn_handshake(b);
    } while (moved);
    buf_release(&t);
    return 0;
}

struct pb_pair {
    struct tls_conn *client, *server;
    struct buf cipher;  /* the client's whole stream */
};

static int pb_prepare(struct pb_pair *p, struct tls_ctx *cc, struct tls_ctx *sc,
                      const struct evpool *pool, uint64_t events, uint32_t batch)
{
    struct frame_batch fb;
    struct buf plain;
    uint8_t stamped[2048];
    uint64_t seq = 1;

    p->client = tls_conn_new(cc, "localhost");
    p->server = tls_conn_new(sc, NULL);
    if (!p->client || !p->server || tls_conn_handshake(p->client) < 0 ||
        pb_pump(p->client, p->server) < 0 || !tls_conn_established(p->server))
        return -1;
    frame_batch_init(&fb, FRAME_DEFAULT_MAX);
    buf_init(&plain, FRAME_DEFAULT_MAX * 2);
    buf_init(&p->cipher, (size_t)events * 600 + (1u << 20));
    while (seq <= events) {
        for (uint32_t i = 0; i < batch && seq <= events; i++, seq++) {
            size_t len, n;
            const uint8_t *t = evpool_get(pool, seq, &len);
            if (len + EVPOOL_SEQ_MAX > sizeof stamped)
                continue;
            n = evpool_stamp(stamped, seq, t, len);
            if (frame_batch_add(&fb, stamped, n) < 0)
                return -1;
        }
        buf_reset(&plain);
        if (frame_batch_finish(&fb, 7, FRAME_DEFAULT_MAX, &plain) < 0 ||
            tls_conn_write(p->client, buf_head(&plain), buf_size(&plain)) < 0)
            return -1;
        tls_conn_take_output(p->client, &p->cipher);
    }
    frame_batch_release(&fb);
    buf_release(&plain);
    return 0;
}

/* The server side of bulwarkd's connection for every batch; returns events. */
static uint64_t pb_run(struct pb_pair *p, struct rulestage *rs, uint64_t *alerts)
{
    struct frame_reader rd;
    uint64_t next = 1, events = 0;
    size_t off = 0;

    frame_reader_init(&rd, FRAME_DEFAULT_MAX);
    while (off < buf_size(&p->cipher)) {
        size_t n = buf_size(&p->cipher) - off < PB_CHUNK ? buf_size(&p->cipher) - off : PB_CHUNK;
        long got;
        if (tls_conn_feed(p->server, buf_head(&p->cipher) + off, n) < 0)
            break;
        off += n;
        do {
            const uint8_t *payload;
            size_t len;
            got = tls_conn_read(p->server, &rd.in);
            while (frame_reader_next(&rd, &payload, &len) == 1) {
                struct arena *ar = arena_new(FRAME_ARENA_SIZE(len));
                uint8_t *raw = arena_alloc(ar, len);
                ProtobufCAllocator pa = arena_pb_allocator(ar);
                Bulwark__V1__Frame *f;
                struct ingest_batch ib;
                struct alert_rec *recs = NULL;
                char why[256];
                memcpy(raw, payload, len);
                f = frame_decode(raw, len, &pa);
                /* As a connection does: every field checked on the wire first. */
                if (f && ingest_check_frame(f, raw, len, why, sizeof why) == 0 &&
                    f->msg_case == BULWARK__V1__FRAME__MSG_BATCH) {
                    size_t ne = f->batch->n_events, nraw = 0;
                    const uint8_t **ev = arena_alloc(ar, (ne + 1) * sizeof *ev);
                    size_t *evl = arena_alloc(ar, (ne + 1) * sizeof *evl);
                    bool use = frame_batch_scan(raw, len, ev, evl, ne, &nraw) == 0 && nraw == ne;
                    if (ingest_batch_build(f->batch, use ? ev : NULL, use ? evl : NULL, "bench-agent",
                                           "node", 7, 4096, 1, &next, &ib, why,
                                           sizeof why) == 0) {
                        if (rs)
                            rulestage_eval(rs, f->batch->events, ne, "bench-agent", "node", 7,
                                           &recs);
                        events += ne;
                        ingest_batch_release(&ib);
                    }
                }
                for (struct alert_rec *r = recs; r; r = r->next)
                    (*alerts)++;
                alert_rec_free_list(recs);
                arena_free(ar);
            }
        } while (got > 0);
    }
    frame_reader_release(&rd);
    return events;
}

int main(int argc, char **argv)
{
    const char *certs = NULL, *rules = "";
    uint64_t events = 500000;
    uint32_t batch = 1024;
    char ca[512], scert[512], skey[512], ccert[512], ckey[512], err[512];
    struct tls_ctx *sc, *cc;
    struct evpool pool;
    struct rulestage *rs = NULL;
    int opt;

    static const struct option longopts[] = {{"certs", required_argument, NULL, 'c'},
                                             {"events", required_argument, NULL, 'e'},
                                             {"batch", required_argument, NULL, 'b'},
                                             {"rules", required_argument, NULL, 'r'},
                                             {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': certs = optarg; break;
        case 'e': events = strtoull(optarg, NULL, 10); break;
        case 'b': batch = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': rules = optarg; break;
        default: certs = NULL; optind = argc; break;
        }
    }
    if (!certs || events == 0 || batch == 0 || batch > 4096) {
        fprintf(stderr, "usage: bench_pipeline --certs DIR [--events N] [--batch B] "
                        "[--rules SPEC]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    snprintf(scert, sizeof scert, "%s/server.pem", certs);
    snprintf(skey, sizeof skey, "%s/server.key", certs);
    snprintf(ccert, sizeof ccert, "%s/agent-bench-agent.pem", certs);
    snprintf(ckey, sizeof ckey, "%s/agent-bench-agent.key", certs);
    sc = tls_ctx_new(TLS_ROLE_SERVER, ca, scert, skey, err, sizeof err);
    cc = sc ? tls_ctx_new(TLS_ROLE_CLIENT, ca, ccert, ckey, err, sizeof err) : NULL;
    if (!sc || !cc) {
        fprintf(stderr, "bench_pipeline: %s\n", err);
        return 1;
    }
    if (evpool_init(&pool, 4096, 11, "node", false) < 0)
        return 1;
    if (*rules && rulestage_open(&rs, rules) < 0)
        return 1;
    for (int pass = 0; pass < 2; pass++) {
        struct pb_pair p = {0};
        uint64_t t, n, alerts = 0;
        struct rulestage *use = pass == 0 ? rs : NULL;
        if (pass == 0 && !rs)
            continue;
        if (pb_prepare(&p, cc, sc, &pool, events, batch) < 0) {
            fprintf(stderr, "bench_pipeline: preparing the stream failed\n");
            return 1;
        }
        t = cpu_ns();
        n = pb_run(&p, use, &alerts);
        t = cpu_ns() - t;
        printf("pipeline %-28s %" PRIu64 " events in %.3f s CPU: %.0f events/s per core"
               "%s\n",
               use ? "(tls+decode+validate+rules)" : "(tls+decode+validate)", n, (double)t / 1e9,
               (double)n * 1e9 / (double)t, use ? "" : "");
        if (use)
            printf("alerts raised: %" PRIu64 "\n", alerts);
        tls_conn_free(p.client);
        tls_conn_free(p.server);
        buf_release(&p.cipher);
    }
    rulestage_free(rs);
    evpool_release(&pool);
    tls_ctx_free(sc);
    tls_ctx_free(cc);
    return 0;
}
