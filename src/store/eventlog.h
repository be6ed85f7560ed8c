/*
 * eventlog.h: the LiveStore event logs in the store's database
 * (livestore-sync-v0.4.md section 12): append a batch to a store's log,
 * read a range of it.
 *
 * Neutral on purpose. store/ is below sync/: nothing here knows the sync
 * protocol or JSON escaping. Text goes in and comes out plain (decoded),
 * rows come out one at a time to the caller's callback, and the caller
 * formats them. The calls run on the storage worker inside a module job
 * (duro_store_run, or duro_object_job above it), with the job's handle;
 * they never touch the loop or log. A second storage backend implements
 * this header against its own handle, and the sync engine above does not
 * change.
 *
 * Layout, in the data directory's one database:
 *   context_7(storeId TEXT PRIMARY KEY, currentHead INTEGER, backendId TEXT)
 *     exactly the reference's table; one row per store.
 *   "eventlog_7_<sanitised>_<h>" one table per store, the reference's
 *     columns (seqNum integer primary key, parentSeqNum, name, args,
 *     createdAt, clientId, sessionId), STRICT.
 * <sanitised> is the storeId with every byte outside [A-Za-z0-9] replaced
 * by '_' as the reference does; because many stores share one database
 * and different ids can sanitise alike ("a b" and "a/b"), <h> is the first
 * 16 hex digits of SHA-256(storeId), so each store has its own table.
 *
 * Atomicity: an append is one BEGIN IMMEDIATE ... COMMIT that reads the
 * head, checks the backendId, the parent and the chain, inserts the batch
 * and moves the head. Jobs run one at a time on the one worker, so the
 * check and the write of one append never interleave with another's; the
 * job's completion, the only place a push is acknowledged, runs after
 * COMMIT returned.
 *
 * Sequence numbers of a store are contiguous from 1 (the head check and
 * the chain check guarantee it), so the events after a cursor number
 * exactly head - cursor and no COUNT(*) is needed.
 */
#ifndef DURO_STORE_EVENTLOG_H
#define DURO_STORE_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define DURO_EVLOG_VERSION 7        /* the reference's persistence version */
#define DURO_EVLOG_BACKEND_ID_LEN 21 /* the backendIds this store creates */

enum duro_evlog_result {
  DURO_EVLOG_OK = 0,
  DURO_EVLOG_AHEAD,    /* append: the first parent is not the head */
  DURO_EVLOG_MISMATCH, /* the caller's backendId is not the store's */
  DURO_EVLOG_BROKEN,   /* append: the batch is not a contiguous chain */
  DURO_EVLOG_DBERR,    /* the database failed; nothing was written */
};

/* Which log: filled on the loop, read-only on the worker. */
typedef struct duro_evlog_key {
  char *store_id;     /* plain, NUL-terminated, no NUL inside */
  size_t store_id_len;
  char *table;        /* "eventlog_7_..." */
} duro_evlog_key_t;

/* Fills k with copies for store_id (and its table name). Never fails. */
void duro_evlog_key_init(duro_evlog_key_t *k, const char *store_id,
                         size_t len);
/* Frees what duro_evlog_key_init allocated (k itself is the caller's). */
void duro_evlog_key_free(duro_evlog_key_t *k);

/* Plain text as {ptr, len}, not NUL-terminated. */
typedef struct duro_evlog_text {
  const char *p;
  size_t n;
} duro_evlog_text_t;

/* One event to append; every text is borrowed for the call. */
typedef struct duro_evlog_event {
  int64_t seq;
  int64_t parent;
  duro_evlog_text_t name;       /* plain text */
  duro_evlog_text_t args;       /* JSON text, stored as it is; p NULL: NULL */
  duro_evlog_text_t client_id;  /* plain text */
  duro_evlog_text_t session_id; /* plain text */
  int invalid; /* the caller could not decode its text: the append fails
                * BROKEN when it reaches this event */
} duro_evlog_event_t;

typedef struct duro_evlog_append {
  /* in */
  const duro_evlog_key_t *key;
  const duro_evlog_event_t *events; /* n of them, 1 or more */
  size_t n;
  const char *backend_id;   /* plain, NUL-terminated; NULL: not checked */
  const char *created_at;   /* ISO 8601, NUL-terminated */
  /* out */
  int result;               /* enum duro_evlog_result */
  int64_t head;             /* after the append (or the head seen) */
  char backend_id_out[DURO_EVLOG_BACKEND_ID_LEN + 1]; /* the store's */
  char err[160];            /* BROKEN, DBERR: why */
} duro_evlog_append_t;

/*
 * Appends a->events to the log of a->key in one transaction, creating the
 * store (its table, its context row, a fresh backendId) on first use.
 * Checks, in order: the backendId (MISMATCH), the first parent against
 * the head (AHEAD), the chain (BROKEN), then inserts (BROKEN at an
 * invalid event, DBERR on a database failure). Anything but OK leaves the
 * log as it was. Worker thread only; db is the job's handle.
 */
void duro_evlog_append(duro_store_db_t *db, duro_evlog_append_t *a);

/* One stored event, valid only during the row callback. Texts are plain;
 * args.p is NULL for an event stored without args. */
typedef struct duro_evlog_row {
  int64_t seq;
  int64_t parent;
  duro_evlog_text_t name;
  duro_evlog_text_t args;
  duro_evlog_text_t created_at;
  duro_evlog_text_t client_id;
  duro_evlog_text_t session_id;
} duro_evlog_row_t;

typedef struct duro_evlog_read {
  /* in */
  const duro_evlog_key_t *key;
  const char *backend_id; /* plain, NUL-terminated; NULL: not checked */
  int64_t after;          /* rows with seqNum > after */
  int64_t end;            /* ... and <= end; < 0: the head now */
  size_t max_rows;        /* at most this many rows */
  /* Called for each row in seqNum order, on the worker; a non-zero return
   * stops the read after that row. */
  int (*row)(void *ud, const duro_evlog_row_t *r);
  void *ud;
  /* out */
  int result;             /* OK, MISMATCH or DBERR */
  int64_t head;
  char backend_id_out[DURO_EVLOG_BACKEND_ID_LEN + 1];
  int64_t end_out;        /* OK: the end used (min(end, head)) */
  char err[160];          /* DBERR: why */
} duro_evlog_read_t;

/*
 * Reads the rows after r->after up to r->end_out of r->key's log, in one
 * transaction (which creates the store on first use, as an append does).
 * When r->backend_id is set and is not the store's, the result is
 * MISMATCH and no row is read. Worker thread only.
 */
void duro_evlog_read(duro_store_db_t *db, duro_evlog_read_t *r);

#endif
