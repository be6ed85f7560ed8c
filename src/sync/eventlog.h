/*
 * eventlog.h: the LiveStore event logs in SQLite (livestore-sync-v0.4.md
 * section 12). The work functions here run on the storage worker thread
 * through duro_object_job; they never touch the loop or log. Each job
 * struct is filled in by the loop, handed to the worker, and read back by
 * the loop in the job's done event (the store's queue orders the two).
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
 * Atomicity: a push is one BEGIN IMMEDIATE ... COMMIT that reads the head,
 * checks the parent and the chain, inserts the batch and moves the head.
 * Jobs run one at a time on the one worker, so the check and the write of
 * one push can never interleave with another's. The job's done event, the
 * only place the push is acknowledged, runs after COMMIT returned.
 *
 * Sequence numbers of a store are contiguous from 1 (the head check and
 * the chain check guarantee it), so the events after a cursor number
 * exactly head - cursor and no COUNT(*) is needed.
 */
#ifndef DURO_SYNC_EVENTLOG_H
#define DURO_SYNC_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "sync/proto.h"

typedef struct sqlite3 sqlite3;

#define SYNC_PERSISTENCE_VERSION 7
#define SYNC_BACKEND_ID_LEN 21

enum sync_job_result {
  SYNC_JOB_OK = 0,
  SYNC_JOB_AHEAD,     /* push: first parent != head */
  SYNC_JOB_MISMATCH,  /* the client's backendId is not the store's */
  SYNC_JOB_BROKEN,    /* push: the batch is not a contiguous chain */
  SYNC_JOB_DBERR,     /* SQLite failed; nothing was written */
};

/* What every job knows about its store. */
typedef struct sync_store_key {
  char *store_id;     /* decoded, NUL-terminated, no NUL inside */
  size_t store_id_len;
  char *table;        /* "eventlog_7_..." */
} sync_store_key_t;

/* Fills k with copies for store_id (and its table name). */
void duro_sync_store_key_init(sync_store_key_t *k, const char *store_id,
                              size_t len);
void duro_sync_store_key_free(sync_store_key_t *k);

typedef struct sync_push_job {
  /* in */
  sync_store_key_t key;
  char *msg;                         /* owned copy of the message */
  sync_event_t events[SYNC_MAX_BATCH]; /* spans into msg */
  size_t n;                          /* 1..SYNC_MAX_BATCH */
  int has_backend_id;
  sync_span_t backend_id;            /* escaped, into msg */
  char created_at[25];
  /* out */
  int result;
  int64_t head;                      /* after the push (or the head seen) */
  char backend_id_out[SYNC_BACKEND_ID_LEN + 1];
  char err[160];
  /* OK: the PullResponse bodies (NoMore, <= 100 events, split further
   * only when over the size limit), plain JSON, not framed. */
  duro_chunk_t *bodies[SYNC_MAX_BATCH];
  int64_t body_last[SYNC_MAX_BATCH]; /* last seqNum in each body */
  size_t nbodies;
} sync_push_job_t;

typedef struct sync_read_job {
  /* in */
  sync_store_key_t key;
  char id[SYNC_MAX_ID + 1];          /* request id, escaped */
  size_t id_len;
  int check_backend;                 /* cursor carried a backendId */
  char cursor_backend[SYNC_MAX_ID + 1];
  int64_t after;                     /* serve seqNum > after */
  int64_t end;                       /* ... and <= end; < 0: the head now */
  int more_known;                    /* backlog paging (else all NoMore) */
  int empty_ok;                      /* nothing to send: one empty NoMore */
  int framed;                        /* WebSocket frames, else plain JSON */
  size_t max_events;                 /* per job */
  size_t max_bytes;                  /* per job, roughly */
  /* out */
  int result;
  int64_t head;
  char backend_id[SYNC_BACKEND_ID_LEN + 1];
  int64_t end_out;                   /* the end used */
  int64_t last;                      /* last seqNum put in msgs (or after) */
  duro_chunk_t **msgs;               /* Chunk messages, owned */
  size_t nmsgs;
  char err[160];
} sync_read_job_t;

/* Worker-thread work functions for duro_object_job; always return 0. */
int duro_sync_push_work(sqlite3 *db, void *arg);
int duro_sync_read_work(sqlite3 *db, void *arg);

void duro_sync_push_job_free(sync_push_job_t *j);
void duro_sync_read_job_free(sync_read_job_t *j);

#endif
