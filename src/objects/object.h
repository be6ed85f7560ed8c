/*
 * object.h: the types that the runtime's files share. Not part of the
 * public API; only src/objects/ includes it.
 *
 * The runtime is split by job, one file each, with a small internal
 * header for what the others may call. A file calls only the files
 * before it in this order (never one after it, so there is no call
 * circle), and none of them calls a duro_* function of include/duro.h:
 * what a public function and the runtime both need is an internal
 * duro__* function that the public one wraps.
 *
 *   kvmap.c     an object's storage as an ordered in-memory map
 *   registry.c  classes, bindings (namespaces), ids, the instance hash
 *               table, allocating and freeing instances and the records
 *               they own (requests, responses, sockets, events), the
 *               event's write batch
 *   alarms.c    the alarm index (every scheduled alarm of the process,
 *               found by object and name, ordered by a min-heap on due
 *               time) and the changes an event stages
 *   gate.c      the output gate: held responses, sends, closes,
 *               broadcasts and stub calls, released in order once
 *               durable; answers to stub calls
 *   events.c    events one at a time per object: loading (with backoff)
 *               and resetting instances, run_event, commits, the queue of
 *               events posted for the next loop turn, the alarm timer
 *   sockets.c   the object socket API of duro.h and its WebSocket handler
 *   api.c       the rest of duro.h (requests, storage, alarms, stubs, env)
 *   runtime.c   runtime.h: create, start, fetch, eviction, shutdown,
 *               free, stats, store jobs for built-in classes
 *   loader.c    class libraries (calls runtime.h only)
 *
 * The behaviour has one loop in it: an event's output (a stub call, the
 * answer to one) becomes another object's event. It is cut at the post
 * queue: gate.c only appends events to rt->posted, and events.c, which
 * called into the gate, starts the loop-turn handle that runs them.
 */
#ifndef DURO_OBJECTS_OBJECT_H
#define DURO_OBJECTS_OBJECT_H

#include <stdint.h>

#include "core/histo.h"
#include "core/list.h"
#include "objects/kvmap.h"
#include "objects/runtime.h"

#define DURO_MAX_ALARMS_PER_OBJECT 16
#define DURO_MAX_KEY_BYTES 2048
#define DURO_MAX_VALUE_BYTES (128 * 1024)
#define DURO_MAX_TAGS 10
#define DURO_MAX_TAG_BYTES 256
#define DURO_MAX_ATTACHMENT 2048

/* A registered class: the table as registered (what duro_object_class
 * returns) and the runtime's own copy of it, zero-filled past the
 * registered struct_size, which is what the runtime calls. */
typedef struct class_ent {
  const duro_class_t *table;
  duro_class_t cls;
  const char *origin; /* "built-in" or the library's path (borrowed) */
} class_ent_t;

typedef struct ns {
  char *name;
  const duro_class_t *cls;   /* &class_ent->cls */
  const duro_class_t *table; /* class_ent->table */
} ns_t;

/* A scheduled alarm; the index of these (alarms.c) is the truth for every
 * object, live or not, mirrored to the alarms table on disk. */
typedef struct alarm_ent {
  char id[65];
  ns_t *ns;
  char *obj_name;
  char *name;
  int64_t due;
  uint32_t attempts;
  uint8_t running;          /* 1: delivered, its event not yet run; 2: also
                             * deleted or replaced meanwhile (out of the
                             * index; the event frees it) */
  size_t heap_idx;          /* in rt->alarm_heap, or DURO_ALARM_NOT_QUEUED
                             * (running, or not in the index) */
  struct alarm_ent *hash_next; /* in rt->alarm_buckets */
} alarm_ent_t;

#define DURO_ALARM_NOT_QUEUED ((size_t)-1)

/* A binary min-heap of alarms on due time; each entry knows its index. */
typedef struct duro_alarm_heap {
  alarm_ent_t **v;
  size_t n, cap;
} duro_alarm_heap_t;

/* An alarm change made by the running event, applied when it succeeds. */
typedef struct staged_alarm {
  char *name;
  int64_t due; /* -1 = delete */
} staged_alarm_t;

enum held_kind { HELD_BROADCAST, HELD_SEND, HELD_CLOSE, HELD_RESPOND,
                 HELD_STUB };

typedef struct held_resp {
  int status;
  duro_header_t *headers;
  size_t nheaders;
  uint8_t *body;
  size_t body_len;
} held_resp_t;

typedef struct held_op {
  uint64_t tag; /* released when the object's durable seq reaches it */
  uint8_t kind;
  union {
    struct { duro_chunk_t *frame; char *tag; duro_conn_t *except; } bc;
    struct {
      duro_conn_t *conn;
      duro_chunk_t *frame;
      uint8_t starts_message; /* 0: a later piece of the same frame */
      uint8_t whole;          /* a whole frame: may go compressed */
    } send;
    struct { duro_conn_t *conn; uint16_t code; char *reason; } close;
    struct { duro_request_t *req; held_resp_t *resp; } respond;
    struct { duro_request_t *req; } stub;
  } u;
} held_op_t;

struct duro_request {
  duro_runtime_t *rt;
  duro_http_req_t *http;
  char *path;
  size_t path_len;
  duro_object_t *target;
  /* set for requests sent by duro_stub_fetch */
  duro_object_t *caller;
  duro_fetch_cb cb;
  void *cb_ud;
  ns_t *stub_ns;
  char *stub_name;     /* by name, or */
  char stub_id[65];    /* by id when stub_name is NULL */
  uint8_t answered;
  uint8_t deferred;
  uint8_t upgraded;  /* taken by accept_websocket during its fetch */
  duro_operator_fn operate; /* runs instead of the class's fetch */
  void *operate_arg;
  void (*operate_arg_free)(void *arg);
};

struct duro_socket {
  duro_list_t node; /* in the object's sockets */
  duro_conn_t *conn;
  duro_object_t *obj;
  char **tags;
  uint8_t ntags;
  uint32_t opened_s; /* loop time in seconds at accept (fits the padding) */
  uint8_t *attachment;
  size_t attachment_len;
};

/* OBJ_LOST: a cluster node gave the object up (another node owns it, or
 * this node fenced itself); it is out of the table and only finishes
 * what it had in flight, then is freed (events.c). */
enum obj_phase { OBJ_LOADING, OBJ_READY, OBJ_LOST };

struct duro_object {
  duro_runtime_t *rt;
  ns_t *ns;
  char id[65];
  char *name;
  void *state;
  uint8_t phase;
  uint8_t in_event;
  uint8_t reset_pending;
  uint8_t load_in_flight;       /* a storage load is at the store */
  uint8_t reload;               /* ... and its result is stale: load again */
  uint8_t inited;               /* init ran since the last (re)load */
  uint8_t claim_in_flight;      /* cluster: a claim is at the store */
  uint8_t unlisted;             /* out of the table (OBJ_LOST) */
  int64_t epoch;                /* cluster: the claim's epoch; 0: none */
  duro_kvmap_t kv;
  duro_list_t sockets;
  size_t nsockets;
  duro_list_t waiting;          /* events that arrived while busy/loading */
  /* the running event */
  duro_store_batch_t *batch;
  staged_alarm_t staged[DURO_MAX_ALARMS_PER_OBJECT * 2];
  size_t nstaged;
  size_t ev_first_op;
  duro_request_t *cur_fetch;    /* the request the running fetch got */
  duro_socket_t *ev_accepted;   /* the socket the running fetch accepted */
  /* output gate */
  held_op_t *ops;
  size_t nops, capops, ops_head;
  uint64_t submitted, durable;
  /* things that keep the instance alive */
  size_t open_requests;         /* dispatched to it, not yet answered */
  size_t open_stubs;            /* its calls to others, not yet completed */
  uint32_t alarms_running;      /* alarms delivered, their events not run */
  /* a failed storage load waits to be retried (events.c) */
  uint32_t load_retry_ms;       /* the last delay; 0 after a success */
  uint64_t load_retry_at;       /* loop time of the retry */
  duro_list_t load_retry_node;  /* in rt->load_retry while waiting */
  uint64_t last_active_ms;
  duro_object_t *hash_next;
  duro_list_t node;             /* in rt->objects */
};

/* Event kinds queued on an object. */
enum ev_kind { EV_FETCH, EV_WS_MESSAGE, EV_WS_CLOSE, EV_ALARM, EV_STUB_DONE,
               EV_JOB_DONE };

typedef struct obj_event {
  duro_list_t node;      /* in the object's waiting list, or rt->posted */
  duro_object_t *to;     /* posted: the object it is for; NULL for a stub
                          * call, whose target is found when it runs */
  uint8_t kind;
  duro_request_t *req;
  duro_socket_t *sock;
  int opcode;
  int code;
  uint8_t *data; /* owned copy, unless borrowed */
  uint8_t borrowed;
  size_t len;
  alarm_ent_t *alarm;
  /* EV_STUB_DONE */
  duro_fetch_cb cb;
  void *cb_ud;
  held_resp_t *resp;
  int err;
  /* EV_JOB_DONE */
  duro_job_done_fn job_done;
  void *job_arg;
} obj_event_t;

struct duro_runtime {
  uv_loop_t *loop;
  duro_store_t *store;
  const duro_config_t *cfg;
  class_ent_t **classes;
  size_t nclasses;
  ns_t *ns;
  size_t nns;
  duro_object_t **buckets;
  size_t nbuckets, nobjects;
  duro_list_t objects;
  /* the alarm index (alarms.c) */
  alarm_ent_t **alarm_buckets;  /* by object id */
  size_t nalarm_buckets, nalarms;
  duro_alarm_heap_t alarm_heap; /* the alarms not running, by due time */
  uv_timer_t alarm_timer;       /* for the heap's top (events.c) */
  int64_t alarm_armed;          /* the due it is armed for; INT64_MAX: not */
  uv_timer_t evict_timer;
  uv_timer_t load_timer;        /* retries of failed loads (events.c) */
  duro_list_t load_retry;       /* objects waiting for one */
  uv_idle_t poster;
  duro_list_t posted; /* obj_events for objects, run the next loop turn */
  duro_ws_opts_t ws_opts;
  /* cluster mode (runtime.h): this node's id, or NULL alone */
  char *node_id;
  duro_cluster_hooks_t hooks;
  uint8_t fenced;               /* the node fenced itself: serve nothing */
  char fence_why[160];
  uint64_t claims, misplaced, objects_lost;
  uint8_t shutting_down;
  uint8_t closing_handles;
  void (*shutdown_cb)(void *data);
  void *shutdown_data;
  uint64_t events, commits, evictions, load_failures;
  uint64_t broadcasts, deliveries; /* released by the gate */
  uint64_t activations, handler_errors, commit_failures;
  uint64_t alarms_fired, alarms_retried, alarms_dropped;
  duro_histo_t commit_latency; /* commit submitted to durable */
  struct {
    const void *key;
    void *value;
  } slots[DURO_RUNTIME_SLOTS]; /* duro_runtime_set_slot */
};

#endif
