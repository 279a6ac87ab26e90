/* integrity.c - the database file's integrity check at start
 * (include/bulwark/integrity.h): one uv_work on the libuv pool runs
 * store_quick_check; its after-work callback hands the outcome to the loop. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bulwark/clock.h"
#include "bulwark/err.h"
#include "bulwark/integrity.h"
#include "bulwark/log.h"
#include "bulwark/store.h"

struct integrity {
    uv_work_t work;
    char *path;
    atomic_bool cancel;
    integrity_done_fn done;
    void *ctx;
    int rc;                      /* the pool thread's store_quick_check result */
    char err[512];
    struct integrity_result res;
};

const char *integrity_state_name(enum integrity_state s)
{
    switch (s) {
    case INTEGRITY_CHECKING:
        return "checking";
    case INTEGRITY_OK:
        return "ok";
    case INTEGRITY_CORRUPT:
        return "corrupt";
    case INTEGRITY_FAILED:
        return "failed";
    case INTEGRITY_SKIPPED:
        return "skipped";
    }
    return "failed";
}

/* Pool thread: touches only ic's own fields. */
static void on_check_work(uv_work_t *w)
{
    struct integrity *ic = w->data;
    int64_t t0 = clock_mono_ns();

    ic->rc = store_quick_check(ic->path, &ic->cancel, &ic->res.problems, ic->res.first,
                               sizeof ic->res.first, ic->err, sizeof ic->err);
    ic->res.took_ns = clock_mono_ns() - t0;
}

/* Loop thread. */
static void on_check_done(uv_work_t *w, int status)
{
    struct integrity *ic = w->data;

    ic->res.done_ns = clock_wall_ns();
    if (status < 0 || ic->rc < 0)
        ic->res.state = INTEGRITY_FAILED;
    else
        ic->res.state = ic->res.problems ? INTEGRITY_CORRUPT : INTEGRITY_OK;
    /* The outcome is published before it is logged: whoever reads the log
     * line finds the same state in /readyz and /metrics. */
    ic->done(&ic->res, ic->ctx);
    if (ic->res.state == INTEGRITY_FAILED)
        log_msg(ic->rc == BW_EAGAIN || status < 0 ? LOG_INFO : LOG_ERROR, "integrity", "%s",
                status < 0 ? "integrity check cancelled" : ic->err);
    else if (ic->res.state == INTEGRITY_CORRUPT)
        log_msg(LOG_ERROR, "integrity",
                "check of '%s' found %llu problem(s), the first: %s; the damaged "
                "pages' rows cannot be read (restore from a backup, see docs/storage.md)",
                ic->path, (unsigned long long)ic->res.problems, ic->res.first);
    else
        log_msg(LOG_INFO, "integrity", "check of '%s' ok (%.3f s)", ic->path,
                (double)ic->res.took_ns / 1e9);
    free(ic->path);
    free(ic);
}

int integrity_start(struct integrity **out, uv_loop_t *loop, const char *path,
                    integrity_done_fn done, void *ctx)
{
    struct integrity *ic = calloc(1, sizeof *ic);

    if (!ic || !(ic->path = strdup(path))) {
        free(ic);
        return BW_ENOMEM;
    }
    atomic_init(&ic->cancel, false);
    ic->done = done;
    ic->ctx = ctx;
    ic->work.data = ic;
    if (uv_queue_work(loop, &ic->work, on_check_work, on_check_done) != 0) {
        free(ic->path);
        free(ic);
        return BW_EIO;
    }
    log_msg(LOG_INFO, "integrity", "check of '%s' started", path);
    *out = ic;
    return 0;
}

void integrity_cancel(struct integrity *ic)
{
    if (ic)
        atomic_store(&ic->cancel, true);
}
