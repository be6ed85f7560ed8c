/*
 * object.h: internals shared by the runtime's files (runtime.c, api.c,
 * sockets.c). Not part of the public API.
 */
#ifndef DURO_OBJECTS_OBJECT_H
#define DURO_OBJECTS_OBJECT_H

#include <stdint.h>

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

/* A scheduled alarm; the table of these is the truth for every object,
 * live or not, mirrored to the alarms table on disk. */
typedef struct alarm_ent {
  char id[65];
  ns_t *ns;
  char *obj_name;
  char *name;
  int64_t due;
  uint32_t attempts;
  uint8_t running;
} alarm_ent_t;

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
    struct { duro_conn_t *conn; duro_chunk_t *frame; } send;
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
};

struct duro_socket {
  duro_list_t node; /* in the object's sockets */
  duro_conn_t *conn;
  duro_object_t *obj;
  char **tags;
  uint8_t ntags;
  uint8_t *attachment;
  size_t attachment_len;
};

enum obj_phase { OBJ_LOADING, OBJ_READY };

struct duro_object {
  duro_runtime_t *rt;
  ns_t *ns;
  char id[65];
  char *name;
  void *state;
  uint8_t phase;
  uint8_t in_event;
  uint8_t reset_pending;
  uint8_t inited;               /* init ran since the last (re)load */
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
  uint64_t last_active_ms;
  duro_object_t *hash_next;
  duro_list_t node;             /* in rt->objects */
};

/* Event kinds queued on an object. */
enum ev_kind { EV_FETCH, EV_WS_MESSAGE, EV_WS_CLOSE, EV_ALARM, EV_STUB_DONE,
               EV_JOB_DONE };

typedef struct obj_event {
  duro_list_t node;
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
  alarm_ent_t **alarms;
  size_t nalarms, capalarms;
  uv_timer_t alarm_timer;
  uv_timer_t evict_timer;
  uv_idle_t poster;
  duro_list_t posted; /* obj_events for other objects, run next turn */
  duro_ws_opts_t ws_opts;
  uint8_t shutting_down;
  uint8_t closing_handles;
  void (*shutdown_cb)(void *data);
  void *shutdown_data;
  uint64_t events, commits, evictions;
};

/* runtime.c */
ns_t *duro__ns_find(const duro_runtime_t *rt, const char *name, size_t len);
duro_object_t *duro__object_get(duro_runtime_t *rt, ns_t *ns,
                                const char *name, size_t name_len);
duro_object_t *duro__object_get_id(duro_runtime_t *rt, ns_t *ns,
                                   const char *id);
void duro__object_deliver(duro_object_t *o, obj_event_t *ev);
void duro__post(duro_runtime_t *rt, duro_object_t *o, obj_event_t *ev);
held_op_t *duro__hold(duro_object_t *o, int kind);
void duro__request_free(duro_request_t *r);
void duro__alarm_reschedule(duro_runtime_t *rt);
alarm_ent_t *duro__alarm_find(duro_runtime_t *rt, const char *id,
                              const char *name);
void duro__resp_free(held_resp_t *r);

/* sockets.c */
extern const duro_ws_handler_t duro__object_ws_handler;
void duro__socket_free(duro_socket_t *s);
void duro__release_broadcast(duro_object_t *o, held_op_t *op);

#endif
