/*
 * store.c: the storage worker (see store.h for the contract).
 *
 * This file owns the job queues between the loop and the worker thread and
 * the group commit; the database itself is an engine's (store/engine.h:
 * SQLite in store/sqlite.c), used on the worker alone.
 *
 * Threads. The loop thread builds jobs and appends them to `pending`; the
 * worker takes them in FIFO order, runs them, appends them to `done` and
 * wakes the loop with uv_async_send; the loop's async callback drains
 * `done` in order and runs the callbacks. Both lists and the counters are
 * guarded by one mutex; the worker sleeps on a condition variable when
 * `pending` is empty. The engine's connection is opened, used and closed on
 * the worker alone, so the loop never calls into the database. Because
 * there is exactly one worker and both lists are FIFO, callbacks fire in
 * submission order.
 *
 * Group commit. The worker takes the run of consecutive commit jobs at the
 * head of `pending` (at most GROUP_MAX), so a duro_store_run or load job
 * queued between two commits still sees exactly the commits before it.
 * The run is applied in one transaction; if any statement or the commit
 * fails, the transaction is rolled back and each batch is retried
 * in its own transaction, so each gets its own status. Callbacks are posted
 * only after COMMIT returned, which is what makes status 0 durable (under
 * synchronous=FULL: fsynced; under NORMAL: safe from a process crash but
 * not from a power loss, see store.h).
 *
 * Closing. duro_store_close queues a CLOSE job. When the worker reaches it,
 * it closes the engine's connection, marks itself exited,
 * cancels whatever was queued after CLOSE and exits. From then on new jobs
 * go straight to `done` with DURO_ECANCELED. The loop, on seeing CLOSE,
 * joins the thread, drains the rest, closes the async handle and, in its
 * close callback, frees the store and calls the user's callback.
 *
 * Memory. A batch is one allocation (names included) plus one per op (key
 * and value share it). The worker allocates nothing on the commit path;
 * batches are freed on the loop after their callback's data was taken.
 */
#include "store/store.h"

#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "store/engine.h"

#define GROUP_MAX 256          /* batches per grouped transaction */

enum job_kind { JOB_COMMIT, JOB_LOAD_KV, JOB_LOAD_ALARMS, JOB_RUN, JOB_CLOSE };

/* A queued unit of work. Jobs live on exactly one of pending, the worker's
 * hands, or done. status and the results are written by the worker before
 * the job is put on done (under the mutex), and read by the loop after. */
typedef struct job {
  duro_list_t node;
  int kind;
  int status;
  void *data;
  union {
    void (*commit)(int, void *);
    void (*load_kv)(int, duro_kv_t *, size_t, void *);
    void (*load_alarms)(int, duro_alarm_row_t *, size_t, void *);
    struct {
      int (*work)(duro_store_db_t *, void *);
      void (*done)(int, void *);
    } run;
  } cb;
  void *rows;
  size_t nrows;
} job_t;

struct duro_store_batch {
  job_t job;
  int valid;               /* object_id is 64 lowercase hex characters */
  duro_store_writes_t w;   /* the names point into names */
  duro_store_op_t **tail;
  char names[];
};

typedef struct {
  job_t job;
  char object_id[65];
  int valid;
} load_kv_job_t;

struct duro_store {
  uv_loop_t *loop;
  uv_async_t async;
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cond;
  uv_sem_t opened;

  /* Guarded by mu. */
  duro_list_t pending;
  duro_list_t done;
  int worker_exited; /* new jobs go to done, cancelled */
  int quiet_close;   /* open failed after the worker started: no async */
  int async_closing; /* the async handle is closing: do not send */
  uint64_t transactions;
  uint64_t batches;
  uint64_t group_sizes[DURO_STORE_GROUP_BUCKETS]; /* transactions by batches */

  /* Loop thread only. */
  int draining;        /* in drain(): submissions wait in staged */
  duro_list_t staged;
  int closing;
  int teardown; /* CLOSE was delivered: close the async handle */
  void (*close_cb)(void *);
  void *close_data;
  job_t close_job;

  /* Worker thread only (and open, before/after the worker runs). */
  char *path;
  int sync_full;
  int shared;    /* other nodes may share the database */
  char *node_id; /* duro_store_set_node: whose claims fence the batches */
  duro_store_db_t db; /* the engine and its connection */
  char errmsg[256];   /* the last failure, for the decision's log */
  int open_rc;
  char open_err[256];
};

#define JOB_OF(n) DURO_CONTAINER_OF((n), job_t, node)
#define BATCH_OF(j) DURO_CONTAINER_OF((j), duro_store_batch_t, job)

int duro_store__valid_id(const char *id) {
  if (!id || strnlen(id, 65) != 64)
    return 0;
  for (size_t i = 0; i < 64; i++) {
    char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return 0;
  }
  return 1;
}

const unsigned duro_store_group_bounds[DURO_STORE_GROUP_BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256};

/* Counts a committed transaction of m batches in its bucket of sizes. */
static void note_group(uint64_t *sizes, size_t m) {
  size_t i = 0;
  while (i < DURO_STORE_GROUP_BUCKETS - 1 && m > duro_store_group_bounds[i])
    i++;
  sizes[i]++;
}

/* Commits a run of commit jobs: together first, then (if that failed) one
 * by one. Sets each job's status; adds to *tx and *nb what was committed,
 * and each transaction's batch count to sizes. */
static void commit_group(duro_store_t *s, job_t **jobs, size_t n,
                         uint64_t *tx, uint64_t *nb, uint64_t *sizes) {
  duro_store_batch_t *live[GROUP_MAX];
  duro_store_writes_t *w[GROUP_MAX];
  const duro_store_engine_t *e = s->db.engine;
  size_t m = 0;
  int rc;

  for (size_t i = 0; i < n; i++) {
    duro_store_batch_t *b = BATCH_OF(jobs[i]);
    if (b->valid) { /* invalid ones carry DURO_EINVAL from submission */
      w[m] = &b->w;
      live[m++] = b;
    }
  }
  if (m == 0)
    return;

  if (m > 1) {
    rc = e->commit(s->db.conn, w, m, s->errmsg, sizeof(s->errmsg));
    if (rc == 0) {
      for (size_t i = 0; i < m; i++)
        live[i]->job.status = 0;
      *tx += 1;
      *nb += m;
      note_group(sizes, m);
      return;
    }
    duro_log_warn("store: group commit of %zu batches failed (%s: %s); "
                  "committing them one by one",
                  m, duro_err_name(rc), s->errmsg);
  }
  for (size_t i = 0; i < m; i++) {
    rc = e->commit(s->db.conn, &w[i], 1, s->errmsg, sizeof(s->errmsg));
    live[i]->job.status = rc;
    if (rc == 0) {
      *tx += 1;
      *nb += 1;
      note_group(sizes, 1);
    } /* a failure is the caller's to log: it decides what follows */
  }
}

/* ------------------------------------------------------------------ */
/* Worker: loads and run                                                */

static void load_kv(duro_store_t *s, load_kv_job_t *lj) {
  duro_kv_t *kv = NULL;
  size_t n = 0;
  if (!lj->valid) {
    lj->job.status = DURO_EINVAL;
    return;
  }
  /* a failure is the caller's to log and retry */
  lj->job.status = s->db.engine->load_kv(s->db.conn, lj->object_id, &kv, &n,
                                         s->errmsg, sizeof(s->errmsg));
  lj->job.rows = kv;
  lj->job.nrows = n;
}

static void load_alarms(duro_store_t *s, job_t *j) {
  duro_alarm_row_t *rows = NULL;
  size_t n = 0;
  j->status = s->db.engine->load_alarms(s->db.conn, &rows, &n, s->errmsg,
                                        sizeof(s->errmsg));
  j->rows = rows;
  j->nrows = n;
}

static void run_work(duro_store_t *s, job_t *j) {
  int status = j->cb.run.work(&s->db, j->data);
  if (s->db.engine->abandon(s->db.conn)) {
    /* Leaving it open would fold the next commits into it. */
    duro_log_error("store: a run job returned inside a transaction; "
                   "rolled back");
    if (status >= 0)
      status = DURO_EIO;
  }
  j->status = status;
}

/* ------------------------------------------------------------------ */
/* Worker: main loop                                                    */

/* Closes the database, hands CLOSE and everything queued after it to the
 * loop (those cancelled), and marks the worker gone. */
static void worker_finish(duro_store_t *s, job_t *close_job) {
  int quiet;

  s->db.engine->close(s->db.conn);
  s->db.conn = NULL;
  uv_mutex_lock(&s->mu);
  s->worker_exited = 1;
  quiet = s->quiet_close;
  if (!quiet) {
    duro_list_insert_tail(&s->done, &close_job->node);
    while (!duro_list_empty(&s->pending)) {
      duro_list_t *n = s->pending.next;
      duro_list_remove(n);
      JOB_OF(n)->status = DURO_ECANCELED;
      duro_list_insert_tail(&s->done, n);
    }
  }
  uv_mutex_unlock(&s->mu);
  if (!quiet)
    uv_async_send(&s->async);
}

static void worker_main(void *arg) {
  duro_store_t *s = arg;
  job_t *jobs[GROUP_MAX];
  sigset_t set;

  /* Asynchronous signals belong to the loop thread. */
  sigfillset(&set);
  sigdelset(&set, SIGSEGV);
  sigdelset(&set, SIGBUS);
  sigdelset(&set, SIGFPE);
  sigdelset(&set, SIGILL);
  sigdelset(&set, SIGTRAP);
  sigdelset(&set, SIGABRT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  s->open_rc = s->db.engine->open(s->path, s->sync_full, s->shared,
                                  &s->db.conn, s->open_err,
                                  sizeof(s->open_err));
  uv_sem_post(&s->opened);
  if (s->open_rc < 0)
    return;

  uint64_t sizes[DURO_STORE_GROUP_BUCKETS] = {0};
  for (;;) {
    size_t n = 0;
    uint64_t tx = 0, nb = 0;

    uv_mutex_lock(&s->mu);
    while (duro_list_empty(&s->pending))
      uv_cond_wait(&s->cond, &s->mu);
    do {
      job_t *j = JOB_OF(s->pending.next);
      if (n > 0 && j->kind != JOB_COMMIT)
        break;
      duro_list_remove(&j->node);
      jobs[n++] = j;
    } while (jobs[0]->kind == JOB_COMMIT && n < GROUP_MAX &&
             !duro_list_empty(&s->pending));
    uv_mutex_unlock(&s->mu);

    int down = 0;
    if (jobs[0]->kind != JOB_CLOSE && s->db.engine->ready &&
        (down = s->db.engine->ready(s->db.conn, s->errmsg,
                                    sizeof(s->errmsg))) < 0) {
      /* the database is away: these jobs fail, later ones try again */
      duro_log_error("store: %s", s->errmsg);
      for (size_t i = 0; i < n; i++)
        jobs[i]->status = down;
    }
    switch (down ? -1 : jobs[0]->kind) {
    case -1:
      break;
    case JOB_COMMIT:
      commit_group(s, jobs, n, &tx, &nb, sizes);
      break;
    case JOB_LOAD_KV:
      load_kv(s, DURO_CONTAINER_OF(jobs[0], load_kv_job_t, job));
      break;
    case JOB_LOAD_ALARMS:
      load_alarms(s, jobs[0]);
      break;
    case JOB_RUN:
      run_work(s, jobs[0]);
      break;
    case JOB_CLOSE:
      worker_finish(s, jobs[0]);
      return;
    }

    uv_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++)
      duro_list_insert_tail(&s->done, &jobs[i]->node);
    s->transactions += tx;
    s->batches += nb;
    for (size_t i = 0; i < DURO_STORE_GROUP_BUCKETS; i++) {
      s->group_sizes[i] += sizes[i];
      sizes[i] = 0;
    }
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
  }
}

/* ------------------------------------------------------------------ */
/* Loop side                                                            */

/* Hands the jobs of list (in order) to the worker, or, once the worker is
 * gone, straight to done as cancelled (still after every earlier job). */
static void hand_over(duro_store_t *s, duro_list_t *list) {
  int wake_loop = 0;

  uv_mutex_lock(&s->mu);
  if (s->worker_exited) {
    DURO_LIST_FOREACH(it, list)
      JOB_OF(it)->status = DURO_ECANCELED;
    duro_list_splice_tail(&s->done, list);
    wake_loop = !s->async_closing;
  } else {
    duro_list_splice_tail(&s->pending, list);
    uv_cond_signal(&s->cond);
  }
  uv_mutex_unlock(&s->mu);
  if (wake_loop)
    uv_async_send(&s->async);
}

/* Queues a job. Jobs submitted by completion callbacks (inside drain) are
 * handed over together when the callbacks are done: the commits that the
 * last group's callbacks start go to the worker as one group, instead of
 * the first waking it alone and taking a flush of its own. */
static void submit(duro_store_t *s, job_t *j) {
  duro_list_t one;
  if (s->draining) {
    duro_list_insert_tail(&s->staged, &j->node);
    return;
  }
  duro_list_init(&one);
  duro_list_insert_tail(&one, &j->node);
  hand_over(s, &one);
}

static void free_ops(duro_store_op_t *op) {
  while (op) {
    duro_store_op_t *next = op->next;
    duro_free(op);
    op = next;
  }
}

/* Runs one finished job's callback and frees the job. */
static void deliver(duro_store_t *s, job_t *j) {
  int status = j->status;
  void *data = j->data;

  switch (j->kind) {
  case JOB_COMMIT: {
    void (*cb)(int, void *) = j->cb.commit;
    duro_store_batch_free(BATCH_OF(j));
    if (cb)
      cb(status, data);
    break;
  }
  case JOB_LOAD_KV: {
    void (*cb)(int, duro_kv_t *, size_t, void *) = j->cb.load_kv;
    duro_kv_t *kv = j->rows;
    size_t n = j->nrows;
    duro_free(DURO_CONTAINER_OF(j, load_kv_job_t, job));
    if (cb)
      cb(status, kv, n, data);
    else
      duro_store_kv_free(kv, n);
    break;
  }
  case JOB_LOAD_ALARMS: {
    void (*cb)(int, duro_alarm_row_t *, size_t, void *) = j->cb.load_alarms;
    duro_alarm_row_t *rows = j->rows;
    size_t n = j->nrows;
    duro_free(j);
    if (cb)
      cb(status, rows, n, data);
    else
      duro_store_alarms_free(rows, n);
    break;
  }
  case JOB_RUN: {
    void (*done)(int, void *) = j->cb.run.done;
    duro_free(j);
    if (done)
      done(status, data);
    break;
  }
  case JOB_CLOSE:
    /* The worker posted CLOSE as its last act; wait for it to return. */
    uv_thread_join(&s->thread);
    s->teardown = 1;
    break;
  }
}

/* Runs every finished job's callback, in order, including jobs finished
 * (cancelled) by those callbacks. */
static void drain(duro_store_t *s) {
  duro_list_t local;

  s->draining = 1;
  for (;;) {
    uv_mutex_lock(&s->mu);
    if (duro_list_empty(&s->done)) {
      uv_mutex_unlock(&s->mu);
      if (duro_list_empty(&s->staged))
        break;
      hand_over(s, &s->staged); /* may go to done: cancelled, delivered */
      continue;
    }
    local.next = s->done.next;
    local.prev = s->done.prev;
    local.next->prev = &local;
    local.prev->next = &local;
    duro_list_init(&s->done);
    uv_mutex_unlock(&s->mu);

    while (!duro_list_empty(&local)) {
      duro_list_t *n = local.next;
      duro_list_remove(n);
      deliver(s, JOB_OF(n));
    }
  }
  s->draining = 0;
}

static void free_store(duro_store_t *s) {
  uv_sem_destroy(&s->opened);
  uv_cond_destroy(&s->cond);
  uv_mutex_destroy(&s->mu);
  duro_free(s->path);
  duro_free(s->node_id);
  duro_free(s);
}

static void on_async_closed(uv_handle_t *h) {
  duro_store_t *s = DURO_CONTAINER_OF((uv_async_t *)h, duro_store_t, async);
  void (*cb)(void *) = s->close_cb;
  void *data = s->close_data;

  drain(s); /* jobs submitted while the handle was closing */
  free_store(s);
  if (cb)
    cb(data);
}

static void on_async(uv_async_t *h) {
  duro_store_t *s = DURO_CONTAINER_OF(h, duro_store_t, async);

  drain(s);
  if (s->teardown && !uv_is_closing((uv_handle_t *)&s->async)) {
    uv_mutex_lock(&s->mu);
    s->async_closing = 1;
    uv_mutex_unlock(&s->mu);
    uv_close((uv_handle_t *)&s->async, on_async_closed);
  }
}

/* ------------------------------------------------------------------ */
/* API                                                                  */

static int open_engine(uv_loop_t *loop, const duro_store_engine_t *engine,
                       const char *path, int synchronous_full, int shared,
                       duro_store_t **out, char *err, size_t errlen) {
  duro_store_t *s;
  int rc;

  *out = NULL;
  if (errlen)
    err[0] = '\0';
  s = duro_calloc(1, sizeof(*s));
  s->loop = loop;
  s->path = duro_strdup(path);
  s->sync_full = synchronous_full != 0;
  s->shared = shared != 0;
  s->db.engine = engine;
  duro_list_init(&s->pending);
  duro_list_init(&s->done);
  duro_list_init(&s->staged);

  if (uv_mutex_init(&s->mu) != 0) {
    duro_err_fmt(DURO_EIO, err, errlen, "store: cannot create a mutex");
    duro_free(s->path);
    duro_free(s);
    return DURO_EIO;
  }
  if (uv_cond_init(&s->cond) != 0) {
    duro_err_fmt(DURO_EIO, err, errlen,
                 "store: cannot create a condition variable");
    uv_mutex_destroy(&s->mu);
    duro_free(s->path);
    duro_free(s);
    return DURO_EIO;
  }
  if (uv_sem_init(&s->opened, 0) != 0) {
    duro_err_fmt(DURO_EIO, err, errlen, "store: cannot create a semaphore");
    uv_cond_destroy(&s->cond);
    uv_mutex_destroy(&s->mu);
    duro_free(s->path);
    duro_free(s);
    return DURO_EIO;
  }
  if ((rc = uv_thread_create(&s->thread, worker_main, s)) != 0) {
    duro_err_fmt(DURO_EIO, err, errlen,
                 "store: cannot start the worker thread: %s", uv_strerror(rc));
    free_store(s);
    return DURO_EIO;
  }
  uv_sem_wait(&s->opened);
  if (s->open_rc < 0) {
    rc = s->open_rc;
    duro_err_fmt(rc, err, errlen, "%s", s->open_err);
    uv_thread_join(&s->thread);
    free_store(s);
    return rc;
  }

  /* The worker touches the handle only when it finishes a job, and no job
   * can be queued before this function returns. */
  if ((rc = uv_async_init(loop, &s->async, on_async)) != 0) {
    duro_err_fmt(DURO_EIO, err, errlen,
                 "store: cannot create the async handle: %s", uv_strerror(rc));
    uv_mutex_lock(&s->mu);
    s->quiet_close = 1;
    uv_mutex_unlock(&s->mu);
    s->close_job.kind = JOB_CLOSE;
    submit(s, &s->close_job);
    uv_thread_join(&s->thread);
    free_store(s);
    return DURO_EIO;
  }
  *out = s;
  return 0;
}

int duro_store_open(uv_loop_t *loop, const char *path, int synchronous_full,
                    duro_store_t **out, char *err, size_t errlen) {
  return open_engine(loop, &duro_store_sqlite, path, synchronous_full, 0,
                     out, err, errlen);
}

int duro_store_open_postgres(uv_loop_t *loop, const char *conninfo,
                             int shared, duro_store_t **out, char *err,
                             size_t errlen) {
  return open_engine(loop, &duro_store_postgres, conninfo, 1, shared, out,
                     err, errlen);
}

void duro_store_set_node(duro_store_t *s, const char *node_id) {
  duro_free(s->node_id);
  s->node_id = node_id ? duro_strdup(node_id) : NULL;
}

void duro_store_batch_fence(duro_store_batch_t *b, int64_t epoch) {
  b->w.epoch = epoch;
}

void duro_store_close(duro_store_t *s, void (*cb)(void *data), void *data) {
  assert(!s->closing && "duro_store_close called twice");
  s->closing = 1;
  s->close_cb = cb;
  s->close_data = data;
  memset(&s->close_job, 0, sizeof(s->close_job));
  s->close_job.kind = JOB_CLOSE;
  submit(s, &s->close_job);
}

duro_store_batch_t *duro_store_batch_new(const char *object_id,
                                         const char *namespace_name,
                                         const char *object_name) {
  size_t nl = strlen(namespace_name) + 1; /* C string: a binding name */
  size_t ol = 0;
  if (object_name) /* the backend refuses a name with %00 in it */
    ol = strlen(object_name) + 1; /* C string: an object's name */
  duro_store_batch_t *b = duro_malloc(sizeof(*b) + nl + ol);

  memset(b, 0, sizeof(*b));
  b->job.kind = JOB_COMMIT;
  b->valid = duro_store__valid_id(object_id);
  if (b->valid)
    memcpy(b->w.object_id, object_id, 65);
  b->tail = &b->w.head;
  memcpy(b->names, namespace_name, nl);
  b->w.namespace_name = b->names;
  if (object_name) {
    memcpy(b->names + nl, object_name, ol);
    b->w.object_name = b->names + nl;
  }
  return b;
}

/* Appends one op holding a copy of key then value (then a NUL). */
static duro_store_op_t *add_op(duro_store_batch_t *b, int kind, const void *key,
                    size_t klen, const void *val, size_t vlen) {
  if (klen > SIZE_MAX / 4 || vlen > SIZE_MAX / 4)
    abort(); /* callers check sizes against their limits first */
  duro_store_op_t *op = duro_malloc(sizeof(*op) + klen + vlen + 1);
  op->next = NULL;
  op->kind = kind;
  op->due_ms = 0;
  op->klen = klen;
  op->vlen = vlen;
  if (klen)
    memcpy(op->data, key, klen);
  if (vlen)
    memcpy(op->data + klen, val, vlen);
  op->data[klen + vlen] = 0;
  *b->tail = op;
  b->tail = &op->next;
  return op;
}

void duro_store_batch_put(duro_store_batch_t *b, const void *key, size_t klen,
                          const void *val, size_t vlen) {
  add_op(b, DURO_OP_PUT, key, klen, val, vlen);
}

void duro_store_batch_delete(duro_store_batch_t *b, const void *key,
                             size_t klen) {
  add_op(b, DURO_OP_DELETE, key, klen, NULL, 0);
}

void duro_store_batch_delete_all(duro_store_batch_t *b) {
  add_op(b, DURO_OP_DELETE_ALL, NULL, 0, NULL, 0);
}

void duro_store_batch_set_alarm(duro_store_batch_t *b, const char *alarm_name,
                                int64_t due_ms) {
  size_t n = strlen(alarm_name); /* C string: an alarm name, per duro.h */
  add_op(b, DURO_OP_SET_ALARM, alarm_name, n, NULL, 0)->due_ms = due_ms;
}

void duro_store_batch_delete_alarm(duro_store_batch_t *b,
                                   const char *alarm_name) {
  size_t n = strlen(alarm_name); /* C string: an alarm name, per duro.h */
  add_op(b, DURO_OP_DELETE_ALARM, alarm_name, n, NULL, 0);
}

int duro_store_batch_empty(const duro_store_batch_t *b) {
  return b->w.head == NULL;
}

void duro_store_batch_free(duro_store_batch_t *b) {
  if (!b)
    return;
  free_ops(b->w.head);
  duro_free(b);
}

void duro_store_commit(duro_store_t *s, duro_store_batch_t *b,
                       void (*cb)(int status, void *data), void *data) {
  if (b->w.epoch > 0) /* fenced: checked against this node's claim */
    b->w.node_id = s->node_id ? s->node_id : "";
  b->job.cb.commit = cb;
  b->job.data = data;
  b->job.status = b->valid ? 0 : DURO_EINVAL;
  submit(s, &b->job);
}

void duro_store_load_kv(duro_store_t *s, const char *object_id,
                        void (*cb)(int status, duro_kv_t *kv, size_t n,
                                   void *data),
                        void *data) {
  load_kv_job_t *lj = duro_calloc(1, sizeof(*lj));
  lj->job.kind = JOB_LOAD_KV;
  lj->job.cb.load_kv = cb;
  lj->job.data = data;
  lj->valid = duro_store__valid_id(object_id);
  if (lj->valid)
    memcpy(lj->object_id, object_id, 65);
  submit(s, &lj->job);
}

void duro_store_kv_free(duro_kv_t *kv, size_t n) {
  for (size_t i = 0; i < n; i++) {
    duro_free(kv[i].key);
    duro_free(kv[i].value);
  }
  duro_free(kv);
}

void duro_store_load_alarms(duro_store_t *s,
                            void (*cb)(int status, duro_alarm_row_t *rows,
                                       size_t n, void *data),
                            void *data) {
  job_t *j = duro_calloc(1, sizeof(*j));
  j->kind = JOB_LOAD_ALARMS;
  j->cb.load_alarms = cb;
  j->data = data;
  submit(s, j);
}

void duro_store_alarms_free(duro_alarm_row_t *rows, size_t n) {
  for (size_t i = 0; i < n; i++) {
    duro_free(rows[i].namespace_name);
    duro_free(rows[i].object_name);
    duro_free(rows[i].alarm_name);
  }
  duro_free(rows);
}

void duro_store_run(duro_store_t *s,
                    int (*work)(duro_store_db_t *db, void *arg),
                    void (*done)(int status, void *arg), void *arg) {
  job_t *j = duro_calloc(1, sizeof(*j));
  j->kind = JOB_RUN;
  j->cb.run.work = work;
  j->cb.run.done = done;
  j->data = arg;
  submit(s, j);
}

void duro_store_stats(duro_store_t *s, uint64_t *transactions,
                      uint64_t *batches) {
  uv_mutex_lock(&s->mu);
  if (transactions)
    *transactions = s->transactions;
  if (batches)
    *batches = s->batches;
  uv_mutex_unlock(&s->mu);
}

void duro_store_group_sizes(duro_store_t *s,
                            uint64_t out[DURO_STORE_GROUP_BUCKETS],
                            uint64_t *transactions, uint64_t *batches) {
  uv_mutex_lock(&s->mu);
  memcpy(out, s->group_sizes, sizeof(s->group_sizes));
  *transactions = s->transactions;
  *batches = s->batches;
  uv_mutex_unlock(&s->mu);
}

