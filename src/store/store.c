/*
 * store.c: the SQLite storage worker (see store.h for the contract).
 *
 * This file owns the database connection, its prepared statements, the job
 * queues between the loop and the worker thread, and the group commit.
 *
 * Threads. The loop thread builds jobs and appends them to `pending`; the
 * worker takes them in FIFO order, runs them, appends them to `done` and
 * wakes the loop with uv_async_send; the loop's async callback drains
 * `done` in order and runs the callbacks. Both lists and the counters are
 * guarded by one mutex; the worker sleeps on a condition variable when
 * `pending` is empty. The connection is opened, used and closed on the
 * worker alone (SQLITE_OPEN_NOMUTEX: no other thread ever sees it), so the
 * loop never calls sqlite3. Because there is exactly one worker and both
 * lists are FIFO, callbacks fire in submission order.
 *
 * Group commit. The worker takes the run of consecutive commit jobs at the
 * head of `pending` (at most GROUP_MAX), so a duro_store_run or load job
 * queued between two commits still sees exactly the commits before it.
 * The run is applied in one BEGIN IMMEDIATE ... COMMIT; if any statement or
 * the COMMIT fails, the transaction is rolled back and each batch is retried
 * in its own transaction, so each gets its own status. Callbacks are posted
 * only after COMMIT returned, which is what makes status 0 durable (under
 * synchronous=FULL: fsynced; under NORMAL: safe from a process crash but
 * not from a power loss, see store.h).
 *
 * Closing. duro_store_close queues a CLOSE job. When the worker reaches it,
 * it finalizes the statements, closes the database, marks itself exited,
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
#include <sqlite3.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "store/db.h"

#define GROUP_MAX 256          /* batches per grouped transaction */
#define BUSY_TIMEOUT_MS 5000   /* another process holding the write lock */
#define SCHEMA_VERSION 1

enum job_kind { JOB_COMMIT, JOB_LOAD_KV, JOB_LOAD_ALARMS, JOB_RUN, JOB_CLOSE };
enum op_kind { OP_PUT, OP_DELETE, OP_DELETE_ALL, OP_SET_ALARM, OP_DELETE_ALARM };

/* The cached statements, prepared once at open. */
enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_OBJECT_UPSERT,
  ST_KV_PUT,
  ST_KV_DELETE,
  ST_KV_DELETE_ALL,
  ST_ALARM_DELETE_ALL,
  ST_ALARM_SET,
  ST_ALARM_DELETE,
  ST_KV_LOAD,
  ST_ALARMS_LOAD,
  ST_COUNT
};

static const char *const statement_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* A name learnt later fills in a row created from an id. */
    [ST_OBJECT_UPSERT] =
        "INSERT INTO objects(id, namespace, name) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name "
        "WHERE objects.name IS NULL AND excluded.name IS NOT NULL",
    [ST_KV_PUT] = "INSERT INTO kv(object_id, key, value) VALUES(?1, ?2, ?3) "
                  "ON CONFLICT(object_id, key) DO UPDATE SET value = "
                  "excluded.value",
    [ST_KV_DELETE] = "DELETE FROM kv WHERE object_id = ?1 AND key = ?2",
    [ST_KV_DELETE_ALL] = "DELETE FROM kv WHERE object_id = ?1",
    [ST_ALARM_DELETE_ALL] = "DELETE FROM alarms WHERE object_id = ?1",
    [ST_ALARM_SET] = "INSERT INTO alarms(object_id, name, due_ms) "
                     "VALUES(?1, ?2, ?3) ON CONFLICT(object_id, name) "
                     "DO UPDATE SET due_ms = excluded.due_ms",
    [ST_ALARM_DELETE] = "DELETE FROM alarms WHERE object_id = ?1 AND name = ?2",
    /* BLOBs compare with memcmp, a shorter prefix first. */
    [ST_KV_LOAD] = "SELECT key, value FROM kv WHERE object_id = ?1 "
                   "ORDER BY key",
    [ST_ALARMS_LOAD] =
        "SELECT a.object_id, o.namespace, o.name, a.name, a.due_ms "
        "FROM alarms AS a JOIN objects AS o ON o.id = a.object_id "
        "ORDER BY a.due_ms, a.object_id, a.name",
};

static const char schema_sql[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) "
    "WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', 1);"
    "CREATE TABLE IF NOT EXISTS objects(id TEXT PRIMARY KEY, "
    "namespace TEXT NOT NULL, name TEXT);"
    "CREATE TABLE IF NOT EXISTS kv(object_id TEXT NOT NULL, key BLOB NOT NULL, "
    "value BLOB NOT NULL, PRIMARY KEY(object_id, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS alarms(object_id TEXT NOT NULL, "
    "name TEXT NOT NULL, due_ms INTEGER NOT NULL, "
    "PRIMARY KEY(object_id, name)) WITHOUT ROWID;"
    "COMMIT;";

/* One write of a batch. data holds the key (or alarm name) then the value,
 * then a NUL so that an alarm name is a C string. */
typedef struct op {
  struct op *next;
  int kind;
  int64_t due_ms;
  size_t klen;
  size_t vlen;
  uint8_t data[];
} op_t;

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
  char object_id[65];
  int valid; /* object_id is 64 lowercase hex characters */
  op_t *head;
  op_t **tail;
  const char *namespace_name; /* points into names */
  const char *object_name;    /* points into names, or NULL */
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
  int closing;
  int teardown; /* CLOSE was delivered: close the async handle */
  void (*close_cb)(void *);
  void *close_data;
  job_t close_job;

  /* Worker thread only (and open, before/after the worker runs). */
  char *path;
  int sync_full;
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  char errmsg[256]; /* the last SQLite failure, for the decision's log */
  int open_rc;
  char open_err[256];
};

#define JOB_OF(n) DURO_CONTAINER_OF((n), job_t, node)
#define BATCH_OF(j) DURO_CONTAINER_OF((j), duro_store_batch_t, job)

/* ------------------------------------------------------------------ */
/* Error mapping                                                        */

/* Maps an SQLite (extended) result code to a DURO_E* code. */
static int map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    return 0;
  case SQLITE_FULL:
    return DURO_ENOSPC;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return DURO_EBUSY;
  case SQLITE_TOOBIG:
    return DURO_E2BIG;
  case SQLITE_NOMEM:
    return DURO_ENOMEM;
  default:
    return DURO_EIO;
  }
}

/* Remembers the connection's error text for the log line written where the
 * failure is decided (the caller may run ROLLBACK first, which would
 * replace it). Returns rc. */
static int note_error(duro_store_t *s, int rc) {
  const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
  return duro_err_fmt(rc, s->errmsg, sizeof(s->errmsg), "%s",
                      msg ? msg : "unknown error");
}

/* Steps a statement that returns no rows and resets it. Returns SQLITE_OK
 * or the failing code (with s->errmsg set). */
static int step_done(duro_store_t *s, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    note_error(s, rc);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int valid_object_id(const char *id) {
  if (!id || strnlen(id, 65) != 64)
    return 0;
  for (size_t i = 0; i < 64; i++) {
    char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------ */
/* Worker: open and close                                               */

static void open_error(duro_store_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void open_error(duro_store_t *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  /* A message cut short (DURO_E2BIG) is still the message to show. */
  if (duro_vfmt(s->open_err, sizeof(s->open_err), fmt, ap) == DURO_EINVAL)
    s->open_err[0] = '\0';
  va_end(ap);
}

static void db_close(duro_store_t *s) {
  for (int i = 0; i < ST_COUNT; i++) {
    sqlite3_finalize(s->st[i]);
    s->st[i] = NULL;
  }
  if (s->db) {
    /* close_v2 defers the close if a run() job leaked a statement, rather
     * than leaving the file open for good. */
    int rc = sqlite3_close_v2(s->db);
    if (rc != SQLITE_OK)
      duro_log_error("store: closing %s: %s", s->path, sqlite3_errstr(rc));
    s->db = NULL;
  }
}

/* Opens the database, configures it, creates the schema and prepares the
 * statements. Runs on the worker. Returns 0 or a DURO_E* code with
 * s->open_err set and the connection closed. */
static int db_open(duro_store_t *s) {
  sqlite3_stmt *st = NULL;
  char *msg = NULL;
  int rc;

  if (!sqlite3_threadsafe()) {
    open_error(s, "sqlite was built without thread support");
    return DURO_ENOTSUP;
  }
  rc = sqlite3_open_v2(s->path, &s->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_NOMUTEX,
                       NULL);
  if (rc != SQLITE_OK) {
    open_error(s, "open %s: %s", s->path,
               s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

  /* journal_mode answers with the mode in force, which is not WAL when,
   * for instance, the file system cannot hold the shared-memory index. */
  rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
      open_error(s, "%s: cannot enable WAL (journal_mode is %s)", s->path,
                 mode ? mode : "unknown");
      rc = SQLITE_ERROR;
      goto fail;
    }
    rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK) {
    open_error(s, "%s: journal_mode=WAL: %s", s->path, sqlite3_errmsg(s->db));
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;

  rc = sqlite3_exec(s->db,
                    s->sync_full
                        ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
                        : "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;",
                    NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    open_error(s, "%s: pragmas: %s", s->path, msg ? msg : sqlite3_errstr(rc));
    goto fail;
  }
  rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    open_error(s, "%s: creating schema: %s", s->path,
               msg ? msg : sqlite3_errstr(rc));
    goto fail;
  }

  rc = sqlite3_prepare_v2(
      s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
      NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      sqlite3_int64 v = sqlite3_column_int64(st, 0);
      if (v != SCHEMA_VERSION) {
        open_error(s, "%s: schema version %lld is not supported (this build "
                      "knows %d)",
                   s->path, (long long)v, SCHEMA_VERSION);
        sqlite3_finalize(st);
        db_close(s);
        return DURO_ENOTSUP;
      }
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_CORRUPT;
    }
  }
  if (rc != SQLITE_OK) {
    open_error(s, "%s: reading schema version: %s", s->path,
               sqlite3_errmsg(s->db));
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;

  for (int i = 0; i < ST_COUNT; i++) {
    rc = sqlite3_prepare_v3(s->db, statement_sql[i], -1,
                            SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK) {
      open_error(s, "%s: preparing statement %d: %s", s->path, i,
                 sqlite3_errmsg(s->db));
      goto fail;
    }
  }
  return 0;

fail:
  sqlite3_free(msg);
  sqlite3_finalize(st);
  if (s->db && !sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  db_close(s);
  return map_rc(rc) ? map_rc(rc) : DURO_EIO;
}

/* ------------------------------------------------------------------ */
/* Worker: commits                                                      */

static void bind_id(sqlite3_stmt *st, const char *object_id) {
  sqlite3_bind_text(st, 1, object_id, 64, SQLITE_STATIC);
}

/* Applies the batch's writes inside the caller's transaction. Returns
 * SQLITE_OK or the failing code (s->errmsg set); the statement that failed
 * has already been undone by SQLite, the caller rolls back the rest. */
static int apply_batch(duro_store_t *s, duro_store_batch_t *b) {
  sqlite3_stmt *st = s->st[ST_OBJECT_UPSERT];
  int rc;

  bind_id(st, b->object_id);
  sqlite3_bind_text(st, 2, b->namespace_name, -1, SQLITE_STATIC);
  if (b->object_name)
    sqlite3_bind_text(st, 3, b->object_name, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 3);
  if ((rc = step_done(s, st)) != SQLITE_OK)
    return rc;

  for (op_t *op = b->head; op; op = op->next) {
    switch (op->kind) {
    case OP_PUT:
      st = s->st[ST_KV_PUT];
      bind_id(st, b->object_id);
      /* data is never NULL, so an empty key binds as an empty blob. */
      sqlite3_bind_blob64(st, 2, op->data, op->klen, SQLITE_STATIC);
      sqlite3_bind_blob64(st, 3, op->data + op->klen, op->vlen, SQLITE_STATIC);
      rc = step_done(s, st);
      break;
    case OP_DELETE:
      st = s->st[ST_KV_DELETE];
      bind_id(st, b->object_id);
      sqlite3_bind_blob64(st, 2, op->data, op->klen, SQLITE_STATIC);
      rc = step_done(s, st);
      break;
    case OP_DELETE_ALL:
      st = s->st[ST_KV_DELETE_ALL];
      bind_id(st, b->object_id);
      if ((rc = step_done(s, st)) != SQLITE_OK)
        break;
      st = s->st[ST_ALARM_DELETE_ALL];
      bind_id(st, b->object_id);
      rc = step_done(s, st);
      break;
    case OP_SET_ALARM:
      st = s->st[ST_ALARM_SET];
      bind_id(st, b->object_id);
      sqlite3_bind_text64(st, 2, (const char *)op->data, op->klen,
                          SQLITE_STATIC, SQLITE_UTF8);
      sqlite3_bind_int64(st, 3, op->due_ms);
      rc = step_done(s, st);
      break;
    case OP_DELETE_ALARM:
      st = s->st[ST_ALARM_DELETE];
      bind_id(st, b->object_id);
      sqlite3_bind_text64(st, 2, (const char *)op->data, op->klen,
                          SQLITE_STATIC, SQLITE_UTF8);
      rc = step_done(s, st);
      break;
    default:
      assert(0 && "unknown op");
      rc = SQLITE_INTERNAL;
    }
    if (rc != SQLITE_OK)
      return rc;
  }
  return SQLITE_OK;
}

/* Rolls back the open transaction, if SQLite has not already done so (it
 * does for some errors, such as SQLITE_FULL). */
static void rollback(duro_store_t *s) {
  if (sqlite3_get_autocommit(s->db))
    return;
  int rc = sqlite3_step(s->st[ST_ROLLBACK]);
  sqlite3_reset(s->st[ST_ROLLBACK]);
  if (rc != SQLITE_DONE)
    duro_log_error("store: ROLLBACK failed: %s", sqlite3_errmsg(s->db));
}

/* Applies batches[0..n) in one transaction. Returns SQLITE_OK once COMMIT
 * returned, else rolls back and returns the failing code. */
static int commit_transaction(duro_store_t *s, duro_store_batch_t **batches,
                              size_t n) {
  int rc = step_done(s, s->st[ST_BEGIN]);
  for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
    rc = apply_batch(s, batches[i]);
  if (rc == SQLITE_OK)
    rc = step_done(s, s->st[ST_COMMIT]);
  if (rc != SQLITE_OK)
    rollback(s);
  return rc;
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
  size_t m = 0;
  int rc;

  for (size_t i = 0; i < n; i++) {
    duro_store_batch_t *b = BATCH_OF(jobs[i]);
    if (b->valid)
      live[m++] = b; /* invalid ones carry DURO_EINVAL from submission */
  }
  if (m == 0)
    return;

  if (m > 1) {
    rc = commit_transaction(s, live, m);
    if (rc == SQLITE_OK) {
      for (size_t i = 0; i < m; i++)
        live[i]->job.status = 0;
      *tx += 1;
      *nb += m;
      note_group(sizes, m);
      return;
    }
    duro_log_warn("store: group commit of %zu batches failed (%s: %s); "
                  "committing them one by one",
                  m, duro_err_name(map_rc(rc)), s->errmsg);
  }
  for (size_t i = 0; i < m; i++) {
    rc = commit_transaction(s, &live[i], 1);
    live[i]->job.status = map_rc(rc);
    if (rc == SQLITE_OK) {
      *tx += 1;
      *nb += 1;
      note_group(sizes, 1);
    } /* a failure is the caller's to log: it decides what follows */
  }
}

/* ------------------------------------------------------------------ */
/* Worker: loads and run                                                */

/* Copies a blob column into a new block; returns NULL (with *len 0 and
 * *ok 0) only if SQLite ran out of memory producing it. */
static uint8_t *column_dup(sqlite3_stmt *st, int col, size_t *len, int *ok) {
  const void *p = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  if (!p && n > 0) {
    *ok = 0;
    *len = 0;
    return NULL;
  }
  *len = (size_t)n;
  return duro_memdup(p, (size_t)n);
}

static char *column_strdup(sqlite3_stmt *st, int col) {
  const char *p = (const char *)sqlite3_column_text(st, col);
  return p ? duro_strndup(p, (size_t)sqlite3_column_bytes(st, col)) : NULL;
}

static void load_kv(duro_store_t *s, load_kv_job_t *lj) {
  sqlite3_stmt *st = s->st[ST_KV_LOAD];
  duro_kv_t *kv = NULL;
  size_t n = 0, cap = 0;
  int rc, ok = 1;

  if (!lj->valid) {
    lj->job.status = DURO_EINVAL;
    return;
  }
  bind_id(st, lj->object_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      kv = duro_realloc(kv, cap * sizeof(*kv));
    }
    kv[n].key = column_dup(st, 0, &kv[n].key_len, &ok);
    kv[n].value = column_dup(st, 1, &kv[n].value_len, &ok);
    n++;
    if (!ok) {
      rc = SQLITE_NOMEM;
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    note_error(s, rc);
    sqlite3_reset(st);
    duro_store_kv_free(kv, n);
    lj->job.status = map_rc(rc); /* the caller logs it and retries */
    return;
  }
  sqlite3_reset(st);
  lj->job.status = 0;
  lj->job.rows = kv;
  lj->job.nrows = n;
}

static void load_alarms(duro_store_t *s, job_t *j) {
  sqlite3_stmt *st = s->st[ST_ALARMS_LOAD];
  duro_alarm_row_t *rows = NULL;
  size_t n = 0, cap = 0;
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (!id || sqlite3_column_bytes(st, 0) != 64 || !valid_object_id(id)) {
      /* Not an id this store writes: no object can own the alarm. */
      duro_log_warn("store: skipping an alarm with a malformed object id");
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      rows = duro_realloc(rows, cap * sizeof(*rows));
    }
    duro_alarm_row_t *r = &rows[n++];
    memcpy(r->object_id, id, 65);
    r->namespace_name = column_strdup(st, 1);
    r->object_name = column_strdup(st, 2);
    r->alarm_name = column_strdup(st, 3);
    r->due_ms = sqlite3_column_int64(st, 4);
    if (!r->namespace_name || !r->alarm_name) {
      rc = SQLITE_NOMEM; /* both columns are NOT NULL */
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    note_error(s, rc);
    sqlite3_reset(st);
    duro_store_alarms_free(rows, n);
    j->status = map_rc(rc); /* the caller logs it */
    return;
  }
  sqlite3_reset(st);
  j->status = 0;
  j->rows = rows;
  j->nrows = n;
}

static void run_work(duro_store_t *s, job_t *j) {
  int status = j->cb.run.work(duro_store__handle(s->db), j->data);
  if (!sqlite3_get_autocommit(s->db)) {
    /* Leaving it open would fold the next commits into it. */
    duro_log_error("store: a run job returned inside a transaction; "
                   "rolled back");
    rollback(s);
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

  db_close(s);
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

  s->open_rc = db_open(s);
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

    switch (jobs[0]->kind) {
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

/* Queues a job for the worker, or, once the worker is gone, straight to
 * done as cancelled (still after every earlier job). */
static void submit(duro_store_t *s, job_t *j) {
  int wake_loop = 0;

  uv_mutex_lock(&s->mu);
  if (s->worker_exited) {
    j->status = DURO_ECANCELED;
    duro_list_insert_tail(&s->done, &j->node);
    wake_loop = !s->async_closing;
  } else {
    duro_list_insert_tail(&s->pending, &j->node);
    uv_cond_signal(&s->cond);
  }
  uv_mutex_unlock(&s->mu);
  if (wake_loop)
    uv_async_send(&s->async);
}

static void free_ops(op_t *op) {
  while (op) {
    op_t *next = op->next;
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

  for (;;) {
    uv_mutex_lock(&s->mu);
    if (duro_list_empty(&s->done)) {
      uv_mutex_unlock(&s->mu);
      return;
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
}

static void free_store(duro_store_t *s) {
  uv_sem_destroy(&s->opened);
  uv_cond_destroy(&s->cond);
  uv_mutex_destroy(&s->mu);
  duro_free(s->path);
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

int duro_store_open(uv_loop_t *loop, const char *path, int synchronous_full,
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
  duro_list_init(&s->pending);
  duro_list_init(&s->done);

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
  b->valid = valid_object_id(object_id);
  if (b->valid)
    memcpy(b->object_id, object_id, 65);
  b->tail = &b->head;
  memcpy(b->names, namespace_name, nl);
  b->namespace_name = b->names;
  if (object_name) {
    memcpy(b->names + nl, object_name, ol);
    b->object_name = b->names + nl;
  }
  return b;
}

/* Appends one op holding a copy of key then value (then a NUL). */
static op_t *add_op(duro_store_batch_t *b, int kind, const void *key,
                    size_t klen, const void *val, size_t vlen) {
  if (klen > SIZE_MAX / 4 || vlen > SIZE_MAX / 4)
    abort(); /* callers check sizes against their limits first */
  op_t *op = duro_malloc(sizeof(*op) + klen + vlen + 1);
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
  add_op(b, OP_PUT, key, klen, val, vlen);
}

void duro_store_batch_delete(duro_store_batch_t *b, const void *key,
                             size_t klen) {
  add_op(b, OP_DELETE, key, klen, NULL, 0);
}

void duro_store_batch_delete_all(duro_store_batch_t *b) {
  add_op(b, OP_DELETE_ALL, NULL, 0, NULL, 0);
}

void duro_store_batch_set_alarm(duro_store_batch_t *b, const char *alarm_name,
                                int64_t due_ms) {
  size_t n = strlen(alarm_name); /* C string: an alarm name, per duro.h */
  add_op(b, OP_SET_ALARM, alarm_name, n, NULL, 0)->due_ms = due_ms;
}

void duro_store_batch_delete_alarm(duro_store_batch_t *b,
                                   const char *alarm_name) {
  size_t n = strlen(alarm_name); /* C string: an alarm name, per duro.h */
  add_op(b, OP_DELETE_ALARM, alarm_name, n, NULL, 0);
}

int duro_store_batch_empty(const duro_store_batch_t *b) {
  return b->head == NULL;
}

void duro_store_batch_free(duro_store_batch_t *b) {
  if (!b)
    return;
  free_ops(b->head);
  duro_free(b);
}

void duro_store_commit(duro_store_t *s, duro_store_batch_t *b,
                       void (*cb)(int status, void *data), void *data) {
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
  lj->valid = valid_object_id(object_id);
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

