/*
 * batch.c: a write pass's sends through io_uring; see batch.h.
 */
#include "net/batch.h"

#include <errno.h>
#include <liburing.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/alloc.h"
#include "core/err.h"

/* The buffers are handed to the kernel as they are: libuv's uv_buf_t is
 * laid out as struct iovec on Unix. */
_Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec) &&
                   offsetof(uv_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(uv_buf_t, len) == offsetof(struct iovec, iov_len),
               "uv_buf_t is not an iovec");

struct duro_batch {
  struct io_uring ring;
  unsigned n;          /* sends queued */
  unsigned nbufs;      /* buffers used by them */
  void *tags[DURO_BATCH_SENDS];
  struct msghdr msgs[DURO_BATCH_SENDS];
  uv_buf_t bufs[DURO_BATCH_IOVS];
};

duro_batch_t *duro_batch_new(char *why, size_t whylen) {
  duro_batch_t *b = duro_calloc(1, sizeof(*b));
  /* SUBMIT_ALL: one bad entry does not stop the rest from being consumed,
   * so a submission takes all or (on a failed call) none. */
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
  int rc = io_uring_queue_init_params(DURO_BATCH_SENDS, &b->ring, &p);
  if (rc == -EINVAL) { /* a kernel before 5.19: no COOP_TASKRUN */
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SUBMIT_ALL;
    rc = io_uring_queue_init_params(DURO_BATCH_SENDS, &b->ring, &p);
  }
  if (rc < 0) {
    duro_err_fmt(DURO_EIO, why, whylen, "io_uring unavailable: %s", strerror(-rc));
    duro_free(b);
    return NULL;
  }
  return b;
}

void duro_batch_free(duro_batch_t *b) {
  if (!b)
    return;
  io_uring_queue_exit(&b->ring);
  duro_free(b);
}

uv_buf_t *duro_batch_bufs(duro_batch_t *b, unsigned want) {
  if (b->n == DURO_BATCH_SENDS || DURO_BATCH_IOVS - b->nbufs < want)
    return NULL;
  return &b->bufs[b->nbufs];
}

void duro_batch_add(duro_batch_t *b, int fd, unsigned n, void *tag) {
  struct msghdr *m = &b->msgs[b->n];
  memset(m, 0, sizeof(*m));
  m->msg_iov = (struct iovec *)(void *)&b->bufs[b->nbufs];
  m->msg_iovlen = n;
  b->nbufs += n;
  b->tags[b->n] = tag;
  /* the ring has DURO_BATCH_SENDS entries and is empty between runs */
  struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
  io_uring_prep_sendmsg(sqe, fd, m, MSG_DONTWAIT | MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, b->n);
  b->n++;
}

unsigned duro_batch_len(const duro_batch_t *b) { return b->n; }

int duro_batch_run(duro_batch_t *b, void (*done)(void *tag, int res, void *arg),
                   void *arg) {
  unsigned n = b->n;
  int res[DURO_BATCH_SENDS];
  b->n = 0;
  b->nbufs = 0;
  for (unsigned i = 0; i < n; i++)
    res[i] = -EAGAIN; /* not sent: the caller writes it another way */
  int submitted;
  do /* the enter returns the count consumed even if its wait is cut short */
    submitted = n ? io_uring_submit_and_wait(&b->ring, n) : 0;
  while (submitted == -EINTR);
  int failed = submitted < 0 ? submitted : 0;
  for (int got = 0; got < submitted;) {
    struct io_uring_cqe *cqe;
    int rc = io_uring_wait_cqe(&b->ring, &cqe);
    if (rc == -EINTR)
      continue;
    if (rc < 0) {
      failed = rc;
      break;
    }
    uint64_t i = io_uring_cqe_get_data64(cqe);
    if (i < n)
      res[i] = cqe->res;
    io_uring_cqe_seen(&b->ring, cqe);
    got++;
  }
  if (!failed && (unsigned)submitted < n)
    failed = -EIO;
  for (unsigned i = 0; i < n; i++)
    done(b->tags[i], res[i], arg);
  return failed;
}
