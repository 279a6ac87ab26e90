/* loadgen_report.c - what the load generator reports (see loadgen.h):
 * the latency histograms, the one summary line of key=value on stdout that
 * tests/bench/perf.sh parses (keep its keys and format), and --acked-out. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/err.h"
#include "loadgen.h"

/* --------------------------------------------------------------- histogram */

/* The bucket of v (struct hist in loadgen.h). */
static unsigned hist_index(uint64_t v)
{
    unsigned e;

    if (v < LG_HIST_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);  /* >= 4 */
    return (e - 3u) * LG_HIST_SUB + (unsigned)((v >> (e - 4u)) & (LG_HIST_SUB - 1));
}

void hist_add(struct hist *h, uint64_t v)
{
    h->c[hist_index(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The q-quantile in milliseconds (bucket midpoint, never above the max). */
static double hist_quantile_ms(const struct hist *h, double q)
{
    uint64_t want, seen = 0;

    if (h->n == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)h->n);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        double lo, width, mid;

        seen += h->c[i];
        if (seen < want)
            continue;
        if (i < LG_HIST_SUB) {
            lo = i;
            width = 1;
        } else {
            unsigned e = i / LG_HIST_SUB + 3u, sub = i % LG_HIST_SUB;
            lo = ldexp(LG_HIST_SUB + sub, (int)e - 4);
            width = ldexp(1, (int)e - 4);
        }
        mid = lo + width / 2;
        return (mid > (double)h->max ? (double)h->max : mid) / 1000.0;
    }
    return (double)h->max / 1000.0;
}
/* ---------------------------------------------------------------- summary */

static double cpu_s(const struct rusage *r)
{
    return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
           (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

long proc_status_kib(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);

    if (!fp)
        return -1;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(fp);
    return v;
}

int lg_write_acked(const struct loadgen *lg)
{
    FILE *fp;

    if (!lg->o.acked_out)
        return 0;
    if (!(fp = fopen(lg->o.acked_out, "w"))) {
        fprintf(stderr, "loadgen: cannot write '%s': %s\n", lg->o.acked_out, strerror(errno));
        return BW_EIO;
    }
    for (uint32_t i = 0; i < lg->o.agents; i++) {
        char id[LG_ID_MAX];
        stream_id(lg, i, id, sizeof id);
        fprintf(fp, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", id, lg->s[i].epoch, lg->s[i].acked,
                lg->s[i].max_sent);
    }
    return fclose(fp) == 0 ? 0 : BW_EIO;
}

void lg_summary(const struct loadgen *lg)
{
    const struct options *o = &lg->o;
    uint64_t send_end = lg->t_send_end ? lg->t_send_end : lg->t_end;
    double win_s = lg->t_send && send_end > lg->t_send ? (double)(send_end - lg->t_send) / 1e9 : 0;
    uint64_t last = lg->t_drained ? lg->t_drained : lg->t_end;
    double tot_s = lg->t_send && last > lg->t_send ? (double)(last - lg->t_send) / 1e9 : 0;
    double wall_s = lg->t_send ? (double)(lg->t_end - lg->t_send) / 1e9 : 0;
    double cpu = lg->t_send ? cpu_s(&lg->ru_end) - cpu_s(&lg->ru_send) : 0;
    const char *mode = o->heartbeat_only ? "heartbeat" : o->rate > 0 ? "rate" : "full";

    printf("loadgen mode=%s agents=%" PRIu32 " rate=%g batch=%" PRIu32 " duration_s=%.1f"
           " connected=%" PRIu32 " connect_ms=%.0f certgen_ms=%.0f ctx_ms=%.0f"
           " events_sent=%" PRIu64 " events_acked=%" PRIu64 " events_resent=%" PRIu64
           " batches=%" PRIu64 " eps=%.0f eps_total=%.0f"
           " ack_p50_ms=%.2f ack_p99_ms=%.2f ack_max_ms=%.2f"
           " heartbeats=%" PRIu64 " hb_rtt_p50_ms=%.2f hb_rtt_p99_ms=%.2f hb_rtt_max_ms=%.2f"
           " connects=%" PRIu64 " disconnects=%" PRIu64 " reconnect_ms=%.0f restream_ms=%.0f"
           " connect_failures=%" PRIu64 " tls_failures=%" PRIu64 " errors=%" PRIu64
           " lost=%" PRIu64 " drained=%d lg_cpu_pct=%.1f lg_setup_rss_mib=%.1f lg_rss_mib=%.1f lg_hwm_mib=%.1f"
           " build_ns_per_event=%.0f\n",
           mode, o->agents, o->rate, o->batch, win_s, lg->welcomed_once,
           lg->t_connected ? ms_since(lg->t_start, lg->t_connected) : -1.0, lg->certgen_ms,
           lg->ctx_ms, lg->events_sent, lg->events_acked, lg->events_resent, lg->batches,
           win_s > 0 ? (double)lg->acked_at_send_end / win_s : 0,
           tot_s > 0 ? (double)lg->events_acked / tot_s : 0, hist_quantile_ms(&lg->ack, 0.50),
           hist_quantile_ms(&lg->ack, 0.99), (double)lg->ack.max / 1000.0, lg->heartbeats,
           hist_quantile_ms(&lg->hb, 0.50), hist_quantile_ms(&lg->hb, 0.99),
           (double)lg->hb.max / 1000.0, lg->connects, lg->disconnects, lg->reconnect_ms,
           lg->restream_ms, lg->connect_failures, lg->tls_failures, lg->errors, lg->lost,
           lg->t_drained != 0, wall_s > 0 ? 100.0 * cpu / wall_s : 0, lg->setup_rss_mib,
           (double)proc_status_kib("VmRSS") / 1024.0, (double)proc_status_kib("VmHWM") / 1024.0,
           lg->build_ns_per_event);
    fflush(stdout);
}
