/*
 * runtime.h: the Durable Object runtime, as the rest of duro sees it.
 *
 * The runtime binds namespace names to classes (from the config), keeps at
 * most one live instance per object id, runs events one at a time, owns
 * the output gate, the alarm schedule and object sockets. Classes see only
 * include/duro.h; the HTTP side hands requests in with duro_runtime_fetch.
 */
#ifndef DURO_OBJECTS_RUNTIME_H
#define DURO_OBJECTS_RUNTIME_H

#include <stddef.h>
#include <uv.h>

#include "core/config.h"
#include "core/histo.h"
#include "duro.h"
#include "http/http.h"
#include "store/owners.h"
#include "store/store.h"
#include "ws/wsconn.h"
#include "core/buf.h"

typedef struct duro_runtime duro_runtime_t;

/* Creates a runtime over an open store. cfg is borrowed for its lifetime. */
duro_runtime_t *duro_runtime_new(uv_loop_t *loop, duro_store_t *store,
                                 const duro_config_t *cfg);
/* Checks a class table against this duro's ABI: 0, or DURO_EINVAL with a
 * message in err naming the class and the reason (no name, another
 * abi_version, a struct_size too small, or handlers set past the end of
 * this duro's duro_class_t). */
int duro_runtime_check_class(const duro_class_t *cls, char *err,
                             size_t errlen);
/* Makes a class available to bindings. cls is borrowed for the runtime's
 * life; the runtime calls a copy of it normalised to its own duro_class_t
 * (unknown-to-the-class handlers zero). origin (borrowed, outliving the
 * runtime; NULL means "built-in") is named in messages. Returns 0,
 * DURO_EINVAL (see duro_runtime_check_class) or DURO_EEXIST for a name
 * already taken, with err (may be NULL) saying which and by whom. */
int duro_runtime_add_class(duro_runtime_t *rt, const duro_class_t *cls,
                           const char *origin, char *err, size_t errlen);
/* duro_runtime_add_class for a built-in class, without a message. */
int duro_runtime_register(duro_runtime_t *rt, const duro_class_t *cls);
/* Who registered the class called name ("built-in" or a library path), or
 * NULL when no such class is registered. */
const char *duro_runtime_class_origin(const duro_runtime_t *rt,
                                      const char *name);
/* Resolves every configured binding to a registered class. On error err
 * names the binding and the missing class. */
int duro_runtime_bind(duro_runtime_t *rt, char *err, size_t errlen);
/* Loads pending alarms and starts the schedule (asynchronously). */
void duro_runtime_start(duro_runtime_t *rt);
/* Closes every object socket with 1001 and tears instances down once
 * their commits are durable; cb(data) runs when nothing is pending. */
void duro_runtime_shutdown(duro_runtime_t *rt, void (*cb)(void *data),
                           void *data);
/* Frees the runtime. Close the store first (duro_store_close runs the
 * last commit callbacks, which still reach the runtime). */
void duro_runtime_free(duro_runtime_t *rt);

/* 1 when binding names a bound namespace. */
int duro_runtime_has_binding(const duro_runtime_t *rt, const char *binding,
                             size_t len);

/* Delivers an HTTP request to the object named name of binding, which sees
 * path (copied) as its path. Takes req over and always answers it (404 for
 * an unknown binding). */
void duro_runtime_fetch(duro_runtime_t *rt, const char *binding,
                        size_t binding_len, const char *name, size_t name_len,
                        duro_http_req_t *req, const char *path,
                        size_t path_len);

/* The same for the object with id (64 lowercase hex digits), created
 * from it when it does not exist (an object created so has no name). */
void duro_runtime_fetch_id(duro_runtime_t *rt, const char *binding,
                           size_t binding_len, const char *id,
                           duro_http_req_t *req, const char *path,
                           size_t path_len);

/* An operator's action on an object (the admin API): it runs as one of
 * the object's events, in place of its class's fetch, with the object's
 * storage loaded. It may use the object API (storage, alarms) in the
 * event's transaction and must answer r; the answer is held, as any
 * response is, until the event's writes are durable. */
typedef int (*duro_operator_fn)(duro_object_t *o, duro_request_t *r,
                                void *arg);
/* Delivers req to the object id (64 hex digits) of binding, activating
 * it when it is not in memory, to run fn with arg. Takes req over and
 * always answers it; arg belongs to the request from here on and is
 * freed with arg_free (may be NULL) whether or not fn ran. */
void duro_runtime_operate(duro_runtime_t *rt, const char *binding,
                          const char *id, duro_http_req_t *req,
                          duro_operator_fn fn, void *arg,
                          void (*arg_free)(void *arg));

/* 1 when s[0..len) is an object id as duro writes them: 64 lowercase hex
 * digits. */
int duro_object_id_valid(const char *s, size_t len);

/* The 64-hex-digit id of name in a namespace (SHA-256 of both). */
void duro_object_id_from_name(const char *ns, size_t ns_len,
                              const char *name, size_t name_len,
                              char out[65]);

/* For engines above the runtime that keep their own tables (the LiveStore
 * sync engine, src/sync/): runs work(db, arg) on the storage thread, in
 * order with every other store job, then done(o, state, status, arg) on
 * the loop thread as an event of o (one at a time with its other events;
 * the instance stays live until then). status is work's return value, or
 * DURO_ECANCELED when the store was closing. db is the store's opaque
 * handle for its module calls (store/eventlog.h), valid during work. */
typedef int (*duro_job_work_fn)(duro_store_db_t *db, void *arg);
typedef void (*duro_job_done_fn)(duro_object_t *o, void *state, int status,
                                 void *arg);
void duro_object_job(duro_object_t *o, duro_job_work_fn work,
                     duro_job_done_fn done, void *arg);
/*
 * Per-runtime state of an engine above the runtime (the sync engine's
 * settings and webhook sender): a few slots, each named by a key, the
 * address of something the engine owns, so engines never collide. Setting
 * NULL empties the key's slot. Returns 0, or DURO_ENOSPC when all
 * DURO_RUNTIME_SLOTS slots are taken by other keys.
 */
#define DURO_RUNTIME_SLOTS 4
int duro_runtime_set_slot(duro_runtime_t *rt, const void *key, void *value);
/* The value under key, or NULL. */
void *duro_runtime_slot(const duro_runtime_t *rt, const void *key);
/* The runtime o lives in. Never fails. */
duro_runtime_t *duro_object_runtime(const duro_object_t *o);

/* Sends one WebSocket message that the caller framed itself as nparts
 * chunks, in order (the first starts with the frame header), held by the
 * output gate like duro_socket_send. The chunks are referenced, not
 * copied (the caller keeps its references): this is for a message whose
 * body is shared by many sockets while its head differs per socket (the
 * sync engine's Chunk: a subscriber's request id around one PullResponse
 * built once), which duro_socket_send would copy per socket and
 * duro_broadcast cannot address. Returns 0 or DURO_ECLOSED. */
int duro_socket_send_frame(duro_socket_t *s, duro_chunk_t *const *parts,
                           size_t nparts);

/* The store the runtime uses (for start-up work of built-in classes). */
duro_store_t *duro_runtime_store(const duro_runtime_t *rt);

/*
 * Cluster mode (docs/cluster.md). With a node id set, an object is served
 * here only once this node claimed it (store/owners.h): its storage is
 * loaded after the claim, its commits are fenced by the claim's epoch, and
 * a fenced commit (another node took it) gives the instance up: its held
 * output is dropped (responses 503 with Retry-After), its sockets close
 * with 1012 and it is freed once nothing of it is in flight.
 */
/* The answer to a call sent to another node (duro_cluster_hooks.call):
 * status 0 when it failed, with err. Borrowed during the callback. */
typedef struct duro_remote_res {
  int status;
  int err;
  const duro_header_t *headers;
  size_t nheaders;
  const void *body;
  size_t len;
} duro_remote_res_t;
typedef void (*duro_remote_done_fn)(void *ctx, const duro_remote_res_t *res);

typedef struct duro_cluster_hooks {
  /* A request for object id of binding, which is not in memory here:
   * return 0 to serve it here (the object is claimed first), or 1 after
   * taking req over (forwarded to its owner, or answered). */
  int (*route)(void *ud, const char *binding, const char *id,
               duro_http_req_t *req);
  /* The claim found that a live node owns the object: req (taken over)
   * goes to it or is answered (a request that came from another node). */
  void (*misplaced)(void *ud, const char *id, duro_http_req_t *req,
                    const duro_owner_t *owner);
  /* A stub call (duro_stub_fetch) for an object that owner serves: req is
   * the call as a request (borrowed until done), for the object named
   * name (NULL: by id) of binding; done(ctx, res) must run exactly once
   * (it may run inside this call). */
  void (*call)(void *ud, const char *binding, const char *name,
               const char *id, const duro_http_req_t *req,
               const duro_owner_t *owner, duro_remote_done_fn done,
               void *ctx);
  void *ud;
} duro_cluster_hooks_t;
/* Turns cluster mode on, before duro_runtime_start (node_id copied). */
void duro_runtime_set_cluster(duro_runtime_t *rt, const char *node_id,
                              const duro_cluster_hooks_t *hooks);
/* The node fenced itself (its lease may lapse, or PostgreSQL is away):
 * every instance is given up as a fenced commit gives it up, and until
 * duro_runtime_unfence requests are answered 503 with why and no alarm
 * fires. */
void duro_runtime_fence(duro_runtime_t *rt, const char *why);
void duro_runtime_unfence(duro_runtime_t *rt);
int duro_runtime_fenced(const duro_runtime_t *rt);
/* The node id of cluster mode, or NULL. */
const char *duro_runtime_node(const duro_runtime_t *rt);
/* Alarms that no live node owns (store/owners.h), for the index: each
 * claims its object when it is due. */
void duro_runtime_adopt_alarms(duro_runtime_t *rt,
                               const duro_alarm_row_t *rows, size_t n);

/* Counters for tests and benchmarks. */
typedef struct duro_runtime_stats {
  size_t live_objects;
  size_t sockets;
  size_t pending_alarms;
  uint64_t events, commits, evictions;
  uint64_t load_failures; /* storage loads that failed (each is retried) */
  uint64_t broadcasts;    /* broadcasts released to an object's sockets */
  uint64_t deliveries;    /* ... their messages queued, one per recipient */
  uint64_t activations;   /* instances created in memory */
  uint64_t handler_errors; /* events whose handler failed */
  uint64_t commit_failures;
  uint64_t alarms_fired, alarms_retried, alarms_dropped;
  uint64_t claims;        /* cluster: objects claimed by this node */
  uint64_t misplaced;     /* ... claims that found another owner */
  uint64_t objects_lost;  /* ... instances given up (fenced) */
  duro_histo_t commit_latency; /* a commit from submission to durable */
} duro_runtime_stats_t;
void duro_runtime_stats(const duro_runtime_t *rt, duro_runtime_stats_t *out);

/* For inspection (the admin API): a namespace with its instances in
 * memory. Strings are borrowed from the runtime. */
typedef struct duro_ns_info {
  const char *binding;
  const char *class_name;
  size_t active;  /* instances in memory */
  size_t sockets; /* their open WebSockets */
} duro_ns_info_t;
/* Fills up to cap entries in binding order; returns how many there are. */
size_t duro_runtime_namespaces(const duro_runtime_t *rt, duro_ns_info_t *out,
                               size_t cap);

/* An instance in memory. */
typedef struct duro_active_info {
  char id[65];
  const char *name; /* borrowed; NULL: created from an id */
  size_t sockets;
} duro_active_info_t;
/* The instances in memory of namespace binding whose id sorts after after
 * (NULL or "": from the first), ascending, at most cap; returns how many
 * were written. */
size_t duro_runtime_active_objects(const duro_runtime_t *rt,
                                   const char *binding, const char *after,
                                   duro_active_info_t *out, size_t cap);
/* An open WebSocket of an instance in memory: index is its place in the
 * object's list (what duro_runtime_close_socket takes); tags are
 * borrowed until the next loop turn. */
typedef struct duro_socket_info {
  unsigned index;
  char *const *tags;
  size_t ntags;
  size_t attachment_bytes;
  size_t queued_bytes; /* sent, not yet taken by the peer's kernel */
  uint64_t age_s;      /* since it was accepted, in whole seconds */
} duro_socket_info_t;
/* Fills up to cap entries for object id; returns how many sockets it has
 * (0 when it is not in memory). */
size_t duro_runtime_sockets(const duro_runtime_t *rt, const char *id,
                            duro_socket_info_t *out, size_t cap);
/* Closes socket index of object id with code (1000 or 3000..4999) and
 * reason, as the peer would see a server close; the object's close
 * handler runs as for any close. 0, DURO_ENOENT (no such object in memory
 * or socket) or DURO_EINVAL (a code a server may not send). */
int duro_runtime_close_socket(duro_runtime_t *rt, const char *id,
                              unsigned index, int code, const char *reason);
/* Evicts object id from memory now if it is idle (as the idle sweep would,
 * without waiting for object_idle_ms): 0, DURO_ENOENT (not in memory) or
 * DURO_EBUSY (an event running or waiting, a socket, a request or a
 * commit open). */
int duro_runtime_evict(duro_runtime_t *rt, const char *id);

/* 1 with *out filled when the instance id of namespace binding is in
 * memory, else 0. */
int duro_runtime_active_object(const duro_runtime_t *rt, const char *binding,
                               const char *id, duro_active_info_t *out);

#endif
