/*
 * batch.h: the sends of one write pass, submitted together through
 * io_uring. Internal to net/.
 *
 * A fan-out writes one socket per recipient; with writev that is one
 * system call each, and on loopback the sender also pays for waking the
 * receiver at every one. Here the pass queues one IORING_OP_SENDMSG per
 * socket and submits them all with one io_uring_enter: the kernel runs
 * them back to back. MSG_DONTWAIT makes every send finish during that
 * call: what a socket does not take comes back as a short count or
 * -EAGAIN, and the caller hands the rest to libuv as before (uv_write
 * waits for the socket to drain). So nothing is ever in flight when
 * duro_batch_run returns, and the queued chunks need no extra reference.
 *
 * Where io_uring is missing or refused (an old kernel, a container's
 * seccomp filter, kernel.io_uring_disabled), duro_batch_new fails and
 * net/ writes with writev as before.
 */
#ifndef DURO_NET_BATCH_H
#define DURO_NET_BATCH_H

#include <stddef.h>
#include <uv.h>

/* Sends per submission, and iovecs for all of them. */
#define DURO_BATCH_SENDS 256u
#define DURO_BATCH_IOVS 4096u

typedef struct duro_batch duro_batch_t;

/* A new batch with its own ring. NULL (and a reason in why) when io_uring
 * cannot be used here. */
duro_batch_t *duro_batch_new(char *why, size_t whylen);
/* NULL is fine. */
void duro_batch_free(duro_batch_t *b);

/* Room for the next send's want buffers: NULL when the batch is full and
 * must be run first. */
uv_buf_t *duro_batch_bufs(duro_batch_t *b, unsigned want);
/* Queues a send of the first n buffers that duro_batch_bufs returned, on
 * fd, with tag for duro_batch_run. */
void duro_batch_add(duro_batch_t *b, int fd, unsigned n, void *tag);
/* Sends queued so far (0 after a run). */
unsigned duro_batch_len(const duro_batch_t *b);

/*
 * Submits every queued send and waits for their results (each finishes in
 * the call: see above), then calls done(tag, res, arg) for each in the
 * order they were added: res is the bytes sent or a negative errno
 * (-EAGAIN: the socket took nothing, or the send was not submitted).
 * Returns 0, or a negative errno when the ring failed: done still ran for
 * every send, but the batch must be freed, not used again (entries the
 * kernel did not consume are still in its ring).
 */
int duro_batch_run(duro_batch_t *b, void (*done)(void *tag, int res, void *arg),
                   void *arg);

#endif
