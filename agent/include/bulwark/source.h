/* source.h - where the agent's events come from. Each source produces events
 * that the agent spools at once and then gives back with source_release():
 * heap events (evjson_event_free()) unless the source has its own `release`
 * (the synthetic source with `pooled`, whose events live in its memory). */
#ifndef BULWARK_SOURCE_H
#define BULWARK_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bulwark/evjson.h"
#include "bulwark/v1/bulwark.pb-c.h"

struct source {
    const char *name;
    /* Produces up to max events due at now_ns into out[]. Returns the count
     * (>= 0) or a negative bw_err. Sets *done once the source is exhausted
     * (a finite synthetic count, the end of a replay file). */
    int (*produce)(struct source *s, int64_t now_ns, Bulwark__V1__Event **out, size_t max,
                   bool *done);
    void (*destroy)(struct source *s);
    /* Optional: takes back an event this source produced (NULL: the events
     * are heap trees for evjson_event_free()). */
    void (*release)(struct source *s, Bulwark__V1__Event *ev);
    /* Optional, for a source that reads a file: its position after the
     * events produced so far (the agent stores it with them), and a seek to
     * such a position at start, so a restart resumes exactly after what is
     * stored. seek returns 0, or BW_ENOTFOUND when v is not this file's
     * (then the source reads from its start). */
    void (*position)(struct source *s, uint64_t v[4]);
    int (*seek)(struct source *s, const uint64_t v[4]);
};

struct synthetic_options {
    double rate;          /* events per second; 0 = as fast as asked */
    uint64_t count;       /* total events; 0 = unlimited */
    const char *hostname; /* used in generated fields */
    uint64_t seed;        /* PRNG seed; 0 = from time */
    const char *scenario; /* "mixed" (default), or a scripted "miner" / "benign" story */
    /* Events come from the source's own memory (no malloc per field) and must
     * go back through source_release() before source_free(); the memory is
     * reused once every event given out is back. Default (false): heap
     * events for evjson_event_free(). Only the "mixed" mix pools. */
    bool pooled;
};

/* A realistic mix of every event kind (exec, net, file, resource, config,
 * vuln, external) with plausible container, process and network fields. */
struct source *source_synthetic_new(const struct synthetic_options *opt);
/* A scripted scenario ("miner", "benign"; see agent/sources/scenario.c):
 * a finite story in one container. NULL for an unknown name. */
struct source *source_scenario_new(const char *name);
/* Newline-delimited JSON events (evjson format). A malformed line is counted,
 * logged once with file:line, and skipped. NULL + err if the file can't open. */
struct source *source_replay_new(const char *path, char *err, size_t errlen);

/* Gives back an event produced by s (the caller owned it until now). */
static inline void source_release(struct source *s, Bulwark__V1__Event *ev)
{
    if (s && s->release)
        s->release(s, ev);
    else
        evjson_event_free(ev);
}

static inline void source_free(struct source *s)
{
    if (s)
        s->destroy(s);
}

#endif
