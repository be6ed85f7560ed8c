/*
 * engine.h: inside src/store/ only. A storage engine under the store's
 * worker thread: what store.c asks of the database, whichever it is.
 * store.c keeps the jobs, the thread, the group commit's grouping and
 * retries and the callbacks; an engine only talks to its database, on the
 * worker, with a connection of its own (conn).
 *
 * Every function returns 0 or a negative DURO_E* code; a failure leaves
 * the reason in why (for the log line the store writes).
 */
#ifndef DURO_STORE_ENGINE_H
#define DURO_STORE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum duro_store_op_kind {
  DURO_OP_PUT,
  DURO_OP_DELETE,
  DURO_OP_DELETE_ALL, /* every kv pair and every alarm of the object */
  DURO_OP_SET_ALARM,
  DURO_OP_DELETE_ALARM,
};

/* One write of a batch. data holds the key (or alarm name) then the
 * value, then a NUL so that an alarm name is a C string. */
typedef struct duro_store_op {
  struct duro_store_op *next;
  int kind;
  int64_t due_ms;
  size_t klen;
  size_t vlen;
  uint8_t data[];
} duro_store_op_t;

/* One object's writes of one event, as an engine applies them: after the
 * objects row is inserted if missing (a NULL name filled in when known),
 * the ops in order. */
typedef struct duro_store_writes {
  char object_id[65]; /* 64 lowercase hex characters, checked */
  const char *namespace_name;
  const char *object_name; /* NULL: created from an id */
  duro_store_op_t *head;
  /* The fence (store.h, duro_store_batch_fence): with node_id set, the
   * writes apply only while node_id owns the object at epoch, checked in
   * the same transaction; else the commit fails with DURO_ESTALE. */
  const char *node_id;
  int64_t epoch;
} duro_store_writes_t;

typedef struct duro_store_engine {
  const char *name;
  /* Connects to where (a file path, a conninfo), sets durability
   * (sync_full: see store.h), creates or checks the schema; shared: other
   * nodes may use the same database (else the engine may refuse them).
   * 0 with *conn, or a code (DURO_ENOTSUP for a newer schema) with why. */
  int (*open)(const char *where, int sync_full, int shared, void **conn,
              char *why, size_t whylen);
  void (*close)(void *conn);
  /* Applies w[0..n) in one transaction: 0 once it is durable, else
   * nothing of it was applied. */
  int (*commit)(void *conn, duro_store_writes_t *const *w, size_t n,
                char *why, size_t whylen);
  /* An object's kv pairs in memcmp key order, as duro_store_load_kv. */
  int (*load_kv)(void *conn, const char *object_id, duro_kv_t **kv,
                 size_t *n, char *why, size_t whylen);
  /* Every alarm with its object's names, as duro_store_load_alarms. */
  int (*load_alarms)(void *conn, duro_alarm_row_t **rows, size_t *n,
                     char *why, size_t whylen);
  /* After a module job: rolls back a transaction it left open. 1 if there
   * was one, else 0. */
  int (*abandon)(void *conn);
  /* Before every job (NULL: nothing to do): re-establishes a lost
   * connection. 0, or a code with why (the job then fails with it). */
  int (*ready)(void *conn, char *why, size_t whylen);
} duro_store_engine_t;

extern const duro_store_engine_t duro_store_sqlite;
extern const duro_store_engine_t duro_store_postgres;

/* A module job's handle (store.h's duro_store_db_t): the engine and its
 * connection, kept inside the store. */
struct duro_store_db {
  const duro_store_engine_t *engine;
  void *conn;
};

/* 1 if id is 64 lowercase hex characters. */
int duro_store__valid_id(const char *id);

#endif
