/* ticker.c - the timer that runs a collector's scan every interval
 * (struct collector_ticker, bulwark/collector.h). */
#include "bulwark/collector.h"
#include "bulwark/err.h"
#include "bulwark/log.h"

static void on_tick(uv_timer_t *h)
{
    struct collector_ticker *t = h->data;
    int rc = t->c->scan(t->c);

    if (rc < 0)
        log_msg(LOG_WARN, t->c->name, "scan failed: %s", bw_strerror(rc));
}

int collector_ticker_start(struct collector_ticker *t, uv_loop_t *loop, uint32_t ms,
                           struct collector *c)
{
    if (t->on)
        return 0;
    if (uv_timer_init(loop, &t->timer) < 0)
        return BW_EIO;
    t->timer.data = t;
    t->c = c;
    t->on = true;
    uv_timer_start(&t->timer, on_tick, ms ? ms : 1000, ms ? ms : 1000);
    return 0;
}

static void on_ticker_closed(uv_handle_t *h)
{
    struct collector_ticker *t = h->data;
    void (*done)(void *) = t->done;

    t->on = false;
    t->done = NULL;
    if (done)
        done(t->done_arg);
}

void collector_ticker_stop(struct collector_ticker *t, void (*done)(void *arg), void *arg)
{
    if (!t->on || uv_is_closing((uv_handle_t *)&t->timer)) {
        if (!t->on && done)
            done(arg);
        else {
            t->done = done;
            t->done_arg = arg;
        }
        return;
    }
    t->done = done;
    t->done_arg = arg;
    uv_close((uv_handle_t *)&t->timer, on_ticker_closed);
}
