/*
 * store.h: the storage worker.
 *
 * One store owns one database, embedded SQLite (one file per data
 * directory, in WAL mode) or PostgreSQL (duro_store_open_postgres), and one
 * worker thread that alone ever touches the connection and its prepared
 * statements. The loop thread never calls into the database: it queues jobs (commit a batch, load an object's kv pairs,
 * load all alarms, run a module's own work), and the worker posts results
 * back through one uv_async_t. Every completion callback runs on the loop
 * thread, in submission order, never inside the call that queued the job.
 *
 * Group commit: when the worker wakes and finds several commit batches at
 * the head of the queue, it applies up to 256 of them in one transaction
 * (BEGIN IMMEDIATE ... COMMIT), so many objects' events share one fsync.
 * If that grouped transaction fails, it is rolled back and each batch is
 * committed alone, so one bad batch fails only itself.
 *
 * The durability promise (the output gate hangs on it): a commit callback
 * with status 0 runs only after SQLite's COMMIT returned. With
 * synchronous=FULL the WAL was fsynced before COMMIT returned, so the batch
 * survives a process crash, an OS crash and a power loss. With
 * synchronous=NORMAL the batch survives a process crash (it is in the OS
 * page cache), but an OS crash or power loss may roll back the most recent
 * commits (never corrupt the database): the WAL is synced only at
 * checkpoints. A negative status means nothing of the batch was applied.
 *
 * Schema (created on open; meta.schema_version = 1):
 *   objects(id TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT)
 *   kv(object_id, key BLOB, value BLOB, PRIMARY KEY(object_id, key))
 *   alarms(object_id, name TEXT, due_ms INTEGER, PRIMARY KEY(object_id, name))
 * Object ids are 64 lowercase hex characters.
 *
 * Threading: every function here must be called on the thread that runs
 * the loop given to duro_store_open, except that duro_store_run's work
 * function runs on the worker.
 */
#ifndef DURO_STORE_STORE_H
#define DURO_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct uv_loop_s uv_loop_t;
/* A module job's handle on the database, valid only during its work
 * function on the worker (duro_store_run). Opaque above src/store/: the
 * functions that take it (store/eventlog.h) are the store's, so a second
 * storage backend serves the same calls with a handle of its own. */
typedef struct duro_store_db duro_store_db_t;

typedef struct duro_store duro_store_t;
typedef struct duro_store_batch duro_store_batch_t;

/* One key/value pair; key and value are each a separate duro_malloc block. */
typedef struct {
  uint8_t *key;
  size_t key_len;
  uint8_t *value;
  size_t value_len;
} duro_kv_t;

/* One alarm with its object's identity; every string is duro_malloc'ed. */
typedef struct {
  char object_id[65];
  char *namespace_name;
  char *object_name; /* NULL for objects created from an id, not a name */
  char *alarm_name;
  int64_t due_ms;
} duro_alarm_row_t;

/*
 * Opens (creating if needed) the database at path, sets WAL mode,
 * synchronous FULL (synchronous_full != 0) or NORMAL, a busy timeout and
 * foreign keys off, creates the schema, prepares the statements and starts
 * the worker thread (which does all of that; this call waits for it, so it
 * blocks: call it at startup, not while serving).
 * On success returns 0 and stores the new store in *out. On failure returns
 * a negative DURO_E* code (DURO_EIO, DURO_ENOSPC, DURO_EBUSY, DURO_ENOTSUP
 * for a newer schema), writes a one-line reason (NUL-terminated, truncated
 * to errlen) into err, leaves *out NULL, and has freed everything.
 * The worker thread blocks all asynchronous signals.
 */
int duro_store_open(uv_loop_t *loop, const char *path, int synchronous_full,
                    duro_store_t **out, char *err, size_t errlen);

/*
 * The same on PostgreSQL: conninfo is a libpq keyword string or a
 * postgres:// URL (connect_timeout 5 s and TCP keepalives unless it says
 * otherwise). Creates the schema (tables duro_meta, duro_objects, duro_kv,
 * duro_alarms, and the event logs') or checks its version. Every commit
 * waits for PostgreSQL's own durable COMMIT (synchronous_commit on), so
 * status 0 means durable on the server; a group is sent as one pipeline.
 * A lost connection is re-established before the next job; the jobs in
 * between fail with DURO_EIO. Failures as duro_store_open's: a refused
 * connection or authentication is DURO_EIO with libpq's reason, a newer
 * schema DURO_ENOTSUP. Unless shared, the store holds the database for
 * this node alone (a second one gets DURO_EBUSY); shared stores coordinate
 * through the owners of store/owners.h.
 */
int duro_store_open_postgres(uv_loop_t *loop, const char *conninfo,
                             int shared, duro_store_t **out, char *err,
                             size_t errlen);

/* The node whose claims fence batches (store/owners.h): set once, before
 * the first fenced commit (copied). */
void duro_store_set_node(duro_store_t *s, const char *node_id);

/*
 * Starts closing the store. Every job queued before this call still runs
 * and its callback still fires (on the loop, in order). Jobs queued after
 * it (for instance from those callbacks) are not run: their callbacks fire
 * with DURO_ECANCELED, still in order. Then the worker closes the database
 * and exits, the async handle is closed, the store is freed, and finally
 * cb(data) runs on the loop (cb may be NULL). The loop must keep running
 * until cb. Calling any store function after cb ran is undefined; calling
 * close twice is a bug (asserted).
 */
void duro_store_close(duro_store_t *s, void (*cb)(void *data), void *data);

/*
 * A new, empty batch of writes for one event of one object. object_id must
 * be 64 lowercase hex characters; namespace_name and object_name (NULL if
 * the object was created from an id) are copied and used only to insert the
 * objects row if it is missing (a NULL name in that row is filled in when a
 * later batch knows it). An invalid object_id is not rejected here: the
 * commit fails with DURO_EINVAL. Never returns NULL (aborts on OOM).
 */
duro_store_batch_t *duro_store_batch_new(const char *object_id,
                                         const char *namespace_name,
                                         const char *object_name);
/* Appends "set key to value". Both are copied (one allocation per op). */
void duro_store_batch_put(duro_store_batch_t *b, const void *key, size_t klen,
                          const void *val, size_t vlen);
/* Appends "delete key" (no error if absent). The key is copied. */
void duro_store_batch_delete(duro_store_batch_t *b, const void *key,
                             size_t klen);
/* Appends "delete every kv pair AND every alarm of the object"; ops added
 * after it apply on top. The objects row is kept. */
void duro_store_batch_delete_all(duro_store_batch_t *b);
/* Appends "set alarm alarm_name to fire at due_ms" (insert or overwrite).
 * The name is copied. */
void duro_store_batch_set_alarm(duro_store_batch_t *b, const char *alarm_name,
                                int64_t due_ms);
/* Appends "delete alarm alarm_name" (no error if absent). */
void duro_store_batch_delete_alarm(duro_store_batch_t *b,
                                   const char *alarm_name);
/* Fences the batch (PostgreSQL; shared stores): it commits only while
 * this store's node (duro_store_set_node) owns the object at epoch and its
 * lease has not lapsed, both checked inside the commit's transaction; else
 * nothing of it applies and the commit's status is DURO_ESTALE. epoch 0:
 * not fenced. */
void duro_store_batch_fence(duro_store_batch_t *b, int64_t epoch);
/* 1 if no op was added, else 0. */
int duro_store_batch_empty(const duro_store_batch_t *b);
/* Frees a batch that was never submitted (NULL is fine). */
void duro_store_batch_free(duro_store_batch_t *b);

/*
 * Commits batch b in one transaction (possibly shared with other batches)
 * and takes ownership of it: the caller must not touch b afterwards. Ops
 * apply in the order they were added, after the objects row is inserted if
 * missing. cb(status, data) runs on the loop, never from inside this call:
 * status 0 once COMMIT returned (durable as the file comment describes), or
 * a negative code if nothing of the batch was applied: DURO_EIO (including
 * a constraint or trigger failure), DURO_ENOSPC (disk full), DURO_EBUSY,
 * DURO_E2BIG (a value over SQLite's limit), DURO_EINVAL (bad object id),
 * DURO_ECANCELED (submitted after duro_store_close). cb may be NULL.
 */
void duro_store_commit(duro_store_t *s, duro_store_batch_t *b,
                       void (*cb)(int status, void *data), void *data);

/*
 * Loads every kv pair of object_id (copied at once), in ascending memcmp
 * key order (a key sorts before its extensions). cb runs on the loop with
 * status 0 and an array of n pairs that it owns (free with
 * duro_store_kv_free; NULL when n is 0), or a negative code with (NULL, 0).
 * It sees every batch committed before this call was made.
 */
void duro_store_load_kv(duro_store_t *s, const char *object_id,
                        void (*cb)(int status, duro_kv_t *kv, size_t n,
                                   void *data),
                        void *data);
/* Frees n pairs from duro_store_load_kv and the array (NULL is fine). */
void duro_store_kv_free(duro_kv_t *kv, size_t n);

/*
 * Loads every alarm joined with its object's namespace and name (to re-arm
 * alarms after a restart), ordered by due_ms, then object id, then name.
 * cb owns rows (free with duro_store_alarms_free); (NULL, 0) on error.
 */
void duro_store_load_alarms(duro_store_t *s,
                            void (*cb)(int status, duro_alarm_row_t *rows,
                                       size_t n, void *data),
                            void *data);
/* Frees n rows from duro_store_load_alarms and the array (NULL is fine). */
void duro_store_alarms_free(duro_alarm_row_t *rows, size_t n);

/*
 * Runs work(db, arg) on the worker thread, in queue order with every other
 * job (for modules with their own tables, such as the LiveStore event log,
 * which reach them through the store's own calls on db: store/eventlog.h).
 * Those calls may open and end transactions; db must not be kept past
 * work's return. Then done(status, arg) runs on the loop with work's
 * return value. If work returns with a transaction still open, it is
 * rolled back, an error is logged, and a non-negative status becomes
 * DURO_EIO. done may be NULL. After duro_store_close, work is not run and
 * done gets DURO_ECANCELED.
 */
void duro_store_run(duro_store_t *s,
                    int (*work)(duro_store_db_t *db, void *arg),
                    void (*done)(int status, void *arg), void *arg);

/* Counters for benchmarks and tests: transactions committed by commit
 * jobs, and batches committed (failed ones are not counted). Either
 * pointer may be NULL. The values cover the jobs already completed on the
 * worker, whose callbacks may not have run yet. */
void duro_store_stats(duro_store_t *s, uint64_t *transactions,
                      uint64_t *batches);

/* How many batches the transactions carried: out[i] counts those with
 * more than bound i-1 and at most duro_store_group_bounds[i] batches
 * (not cumulative; the last bound is the group's maximum); with the two
 * totals of duro_store_stats, read at the same moment. */
#define DURO_STORE_GROUP_BUCKETS 9
extern const unsigned duro_store_group_bounds[DURO_STORE_GROUP_BUCKETS];
void duro_store_group_sizes(duro_store_t *s,
                            uint64_t out[DURO_STORE_GROUP_BUCKETS],
                            uint64_t *transactions, uint64_t *batches);

#endif
