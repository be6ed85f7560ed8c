/*
 * jobs.h: the sync engine's storage jobs: what a push and a page read hand
 * to the storage worker, and what comes back.
 *
 * Each job struct is filled in on the loop (engine.c), handed to the
 * worker through duro_object_job, and read back on the loop in the job's
 * done event (the store's queue orders the two). The work functions here
 * run on the worker: they decode the request's escaped text, call the
 * store's event log (store/eventlog.h), and build the answers as plain
 * JSON bytes, so the loop only wraps them. They build no chunk and no
 * WebSocket frame (chunks are the loop's: core/buf.h); they never touch
 * the loop or log.
 *
 * sync_out_t: the worker's answer bytes, one malloc'd block with
 * SYNC_OUT_HEADROOM bytes left unused in front of them, so that the loop
 * can take the block over as a chunk without copying the body
 * (engine.c, out_adopt). The worker writes only the bytes after the
 * headroom.
 */
#ifndef DURO_SYNC_JOBS_H
#define DURO_SYNC_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/eventlog.h"
#include "sync/proto.h"

#define SYNC_OUT_HEADROOM DURO_CHUNK_HEADROOM

/* len bytes of JSON at mem + SYNC_OUT_HEADROOM; mem NULL once taken. */
typedef struct sync_out {
  uint8_t *mem;
  size_t len;
} sync_out_t;

/* Frees an answer that was not taken over (mem NULL is fine). */
void duro_sync_out_free(sync_out_t *o);

typedef struct sync_push_job {
  /* in */
  duro_evlog_key_t key;              /* a copy: the job may outlive state */
  char *msg;                         /* owned copy of the message */
  size_t msg_len;
  sync_event_t events[SYNC_MAX_BATCH]; /* spans into msg, escaped */
  size_t n;                          /* 1..SYNC_MAX_BATCH */
  int has_backend_id;
  sync_span_t backend_id;            /* escaped, into msg */
  char created_at[25];
  /* out */
  int result;                        /* enum duro_evlog_result */
  int64_t head;                      /* after the push (or the head seen) */
  char backend_id_out[DURO_EVLOG_BACKEND_ID_LEN + 1];
  char err[160];
  /* OK: the PullResponse bodies (NoMore, <= 100 events, split further
   * only when over the size limit), plain JSON, built once for every
   * live subscription. */
  sync_out_t bodies[SYNC_MAX_BATCH];
  int64_t body_last[SYNC_MAX_BATCH]; /* last seqNum in each body */
  size_t nbodies;
} sync_push_job_t;

typedef struct sync_read_job {
  /* in */
  duro_evlog_key_t key;
  char id[SYNC_MAX_ID_TOKEN + 1];    /* request id, a JSON token */
  size_t id_len;
  int check_backend;                 /* cursor carried a backendId */
  char cursor_backend[SYNC_MAX_ID + 1]; /* ... decoded */
  int64_t after;                     /* serve seqNum > after */
  int64_t end;                       /* ... and <= end; < 0: the head now */
  int more_known;                    /* backlog paging (else all NoMore) */
  int empty_ok;                      /* nothing to send: one empty NoMore */
  size_t max_events;                 /* per job */
  size_t max_bytes;                  /* per job, roughly */
  /* out */
  int result;                        /* enum duro_evlog_result */
  int64_t head;
  char backend_id[DURO_EVLOG_BACKEND_ID_LEN + 1];
  int64_t end_out;                   /* the end used */
  int64_t last;                      /* last seqNum put in msgs (or after) */
  sync_out_t *msgs;                  /* whole Chunk messages, plain JSON */
  size_t nmsgs;
  char err[160];
} sync_read_job_t;

/* Worker-thread work functions for duro_object_job; always return 0 (the
 * outcome is in the job's result). */
int duro_sync_push_work(duro_store_db_t *db, void *arg);
int duro_sync_read_work(duro_store_db_t *db, void *arg);

/* Free a job and whatever of its answers was not taken (loop thread). */
void duro_sync_push_job_free(sync_push_job_t *j);
void duro_sync_read_job_free(sync_read_job_t *j);

#endif
