/* cmdq.c - the command queue into the loop (include/bulwark/cmdq.h).
 *
 * A caller's command lives on its own stack: it is linked into the queue
 * under the mutex, the loop is woken with uv_async_send, the loop thread
 * unlinks and runs everything queued, and signals each command's condition
 * variable. The caller's stack frame outlives its command because the caller
 * waits for `done` before returning. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bulwark/cmdq.h"
#include "bulwark/err.h"

struct cmd {
    cmdq_fn fn;
    void *arg;
    int rc;
    bool done;
    struct cmd *next;
};

struct cmdq {
    uv_async_t async;
    void *loop_ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* signalled when any command is done */
    struct cmd *head, *tail;
    bool closed;
    void (*closed_cb)(void *);
    void *closed_ctx;
};

/* Takes the queue; runs each command (or refuses it once closed). */
static void cmdq_drain(struct cmdq *q, bool run)
{
    struct cmd *list;

    pthread_mutex_lock(&q->mu);
    list = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    for (struct cmd *c = list, *next; c; c = next) {
        next = c->next;
        int rc = run ? c->fn(q->loop_ctx, c->arg) : BW_ECLOSED;
        pthread_mutex_lock(&q->mu);
        c->rc = rc;
        c->done = true;  /* c may be gone once the lock is released */
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
}

static void on_async(uv_async_t *h)
{
    cmdq_drain(h->data, true);
}

int cmdq_new(struct cmdq **out, uv_loop_t *loop, void *loop_ctx)
{
    struct cmdq *q = calloc(1, sizeof *q);

    if (!q)
        return BW_ENOMEM;
    q->loop_ctx = loop_ctx;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (uv_async_init(loop, &q->async, on_async) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->mu);
        free(q);
        return BW_EIO;
    }
    q->async.data = q;
    *out = q;
    return 0;
}

int cmdq_call(struct cmdq *q, cmdq_fn fn, void *arg)
{
    struct cmd c = {.fn = fn, .arg = arg};

    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return BW_ECLOSED;
    }
    if (q->tail)
        q->tail->next = &c;
    else
        q->head = &c;
    q->tail = &c;
    uv_async_send(&q->async);  /* under the lock: close cannot have begun */
    while (!c.done)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    return c.rc;
}

static void on_closed(uv_handle_t *h)
{
    struct cmdq *q = h->data;
    if (q->closed_cb)
        q->closed_cb(q->closed_ctx);
}

void cmdq_close(struct cmdq *q, void (*closed)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_mutex_unlock(&q->mu);
    cmdq_drain(q, false);
    q->closed_cb = closed;
    q->closed_ctx = ctx;
    uv_close((uv_handle_t *)&q->async, on_closed);
}

void cmdq_free(struct cmdq *q)
{
    if (!q)
        return;
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
