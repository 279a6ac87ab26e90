/* cmdq.h - the command queue into bulwarkd's loop: how another thread (the
 * REST API) asks the loop to act (reload the rules, describe them), the
 * writer's uv_async hand-back in reverse.
 *
 * cmdq_call() queues a command and blocks its calling thread until the loop
 * has run it; the command's function runs on the loop thread and may touch
 * loop state. Never call cmdq_call() from the loop thread itself. After
 * cmdq_close() (the server is stopping) calls fail at once with BW_ECLOSED,
 * and commands still queued are answered BW_ECLOSED without running. */
#ifndef BULWARK_CMDQ_H
#define BULWARK_CMDQ_H

#include <uv.h>

struct cmdq;

/* Runs on the loop thread; its return value is cmdq_call()'s. */
typedef int (*cmdq_fn)(void *loop_ctx, void *arg);

/* loop_ctx is passed to every command (the struct server). */
int cmdq_new(struct cmdq **out, uv_loop_t *loop, void *loop_ctx);
/* Any thread but the loop's: runs fn(loop_ctx, arg) on the loop, waits for
 * it; returns its value, or BW_ECLOSED / BW_ENOMEM. */
int cmdq_call(struct cmdq *q, cmdq_fn fn, void *arg);
/* Loop thread: refuses new commands, answers queued ones, closes the async
 * handle; `closed` runs once it is closed (then cmdq_free). */
void cmdq_close(struct cmdq *q, void (*closed)(void *ctx), void *ctx);
void cmdq_free(struct cmdq *q);

#endif
