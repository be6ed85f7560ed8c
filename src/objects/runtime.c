/*
 * runtime.c: the runtime as runtime.h shows it to the rest of duro:
 * creating and starting it (the alarms restored from disk), requests from
 * HTTP, the eviction sweep, shutdown, freeing, counters; and store jobs
 * for built-in classes.
 *
 * The work is done by the files below it (see object.h for the order):
 * registry.c (classes, namespaces, instances), alarms.c (the alarm
 * index), gate.c (the output gate), events.c (events, loading, posting,
 * the alarm timer), sockets.c and api.c (include/duro.h).
 *
 * Eviction. Once a second an instance that is idle (no event running or
 * waiting, no socket, no request or stub call open, nothing in flight in
 * the gate, no alarm being delivered) for object_idle_ms is torn down
 * and freed; the next event for it loads it again.
 */
#include "objects/object.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "objects/alarms.h"
#include "objects/events.h"
#include "objects/registry.h"

#define EVICT_SWEEP_MS 1000

/* ---- store jobs for built-in classes ---------------------------------------- */

typedef struct job_ctx {
  duro_object_t *o;
  duro_job_work_fn work;
  duro_job_done_fn done;
  void *arg;
} job_ctx_t;

static int job_work(duro_store_db_t *db, void *data) {
  job_ctx_t *j = data;
  return j->work(db, j->arg);
}

static void job_finished(int status, void *data) {
  job_ctx_t *j = data;
  obj_event_t *ev = duro_calloc(1, sizeof(*ev));
  ev->kind = EV_JOB_DONE;
  ev->err = status;
  ev->job_done = j->done;
  ev->job_arg = j->arg;
  duro_object_t *o = j->o;
  duro_free(j);
  duro__object_deliver(o, ev);
}

void duro_object_job(duro_object_t *o, duro_job_work_fn work,
                     duro_job_done_fn done, void *arg) {
  job_ctx_t *j = duro_malloc(sizeof(*j));
  j->o = o;
  j->work = work;
  j->done = done;
  j->arg = arg;
  o->open_stubs++; /* keeps the instance live until done has run */
  duro_store_run(o->rt->store, job_work, job_finished, j);
}

duro_runtime_t *duro_object_runtime(const duro_object_t *o) { return o->rt; }

int duro_runtime_set_slot(duro_runtime_t *rt, const void *key, void *value) {
  size_t free_at = DURO_RUNTIME_SLOTS;
  for (size_t i = 0; i < DURO_RUNTIME_SLOTS; i++) {
    if (rt->slots[i].key == key) {
      rt->slots[i].value = value;
      if (!value)
        rt->slots[i].key = NULL;
      return 0;
    }
    if (!rt->slots[i].key && free_at == DURO_RUNTIME_SLOTS)
      free_at = i;
  }
  if (!value)
    return 0;
  if (free_at == DURO_RUNTIME_SLOTS)
    return DURO_ENOSPC;
  rt->slots[free_at].key = key;
  rt->slots[free_at].value = value;
  return 0;
}

void *duro_runtime_slot(const duro_runtime_t *rt, const void *key) {
  for (size_t i = 0; i < DURO_RUNTIME_SLOTS; i++)
    if (key && rt->slots[i].key == key)
      return rt->slots[i].value;
  return NULL;
}

duro_store_t *duro_runtime_store(const duro_runtime_t *rt) { return rt->store; }

/* ---- requests from HTTP ---------------------------------------------------------- */

static duro_request_t *new_request(duro_runtime_t *rt, duro_http_req_t *req,
                                   const char *path, size_t path_len) {
  duro_request_t *r = duro_calloc(1, sizeof(*r));
  r->rt = rt;
  r->http = req;
  r->path = duro_strndup(path, path_len);
  r->path_len = path_len;
  return r;
}

/* Starts r's event on o. */
static void deliver_request(duro_object_t *o, duro_request_t *r) {
  obj_event_t *ev = duro_calloc(1, sizeof(*ev));
  ev->kind = EV_FETCH;
  ev->req = r;
  r->target = o;
  duro__object_deliver(o, ev);
}

/* The namespace of binding, or NULL after answering req (404, or 503
 * while shutting down). */
static ns_t *request_ns(duro_runtime_t *rt, const char *binding,
                        size_t binding_len, duro_http_req_t *req) {
  ns_t *ns = duro__ns_find(rt, binding, binding_len);
  if (!ns) {
    duro_http_respond_text(req, 404, NULL, "No such binding");
    return NULL;
  }
  if (rt->shutting_down) {
    duro_http_respond_text(req, 503, NULL, "Shutting down");
    return NULL;
  }
  if (rt->fenced) {
    duro_header_t h = {"Retry-After", 11, "1", 1};
    duro_http_respond(req, 503, &h, 1, rt->fence_why,
                      strlen(rt->fence_why)); /* C string: duro_fmt'd */
    return NULL;
  }
  return ns;
}

/* Cluster mode: 1 when the request for object id went elsewhere (the
 * route hook took it) because the object is not in memory here. */
static int routed_away(duro_runtime_t *rt, const ns_t *ns, const char *id,
                       duro_http_req_t *req) {
  return rt->node_id && rt->hooks.route && !duro__object_find(rt, id) &&
         rt->hooks.route(rt->hooks.ud, ns->name, id, req);
}

void duro_runtime_fetch(duro_runtime_t *rt, const char *binding,
                        size_t binding_len, const char *name, size_t name_len,
                        duro_http_req_t *req, const char *path,
                        size_t path_len) {
  ns_t *ns = request_ns(rt, binding, binding_len, req);
  if (!ns)
    return;
  if (rt->node_id) {
    char id[65];
    duro_object_id_from_name(ns->name, strlen(ns->name), /* C string */
                             name, name_len, id);
    if (routed_away(rt, ns, id, req))
      return;
  }
  deliver_request(duro__object_get(rt, ns, name, name_len),
                  new_request(rt, req, path, path_len));
}

void duro_runtime_fetch_id(duro_runtime_t *rt, const char *binding,
                           size_t binding_len, const char *id,
                           duro_http_req_t *req, const char *path,
                           size_t path_len) {
  ns_t *ns = request_ns(rt, binding, binding_len, req);
  if (ns && !routed_away(rt, ns, id, req))
    deliver_request(duro__object_get_id(rt, ns, id),
                    new_request(rt, req, path, path_len));
}

void duro_runtime_operate(duro_runtime_t *rt, const char *binding,
                          const char *id, duro_http_req_t *req,
                          duro_operator_fn fn, void *arg,
                          void (*arg_free)(void *arg)) {
  ns_t *ns = request_ns(rt, binding, strlen(binding), req); /* C string */
  if (!ns) {
    if (arg_free)
      arg_free(arg);
    return;
  }
  duro_request_t *r = new_request(rt, req, "/", 1);
  r->operate = fn;
  r->operate_arg = arg;
  r->operate_arg_free = arg_free;
  deliver_request(duro__object_get_id(rt, ns, id), r);
}

/* ---- alarms from disk ------------------------------------------------------------- */

static void on_alarms_loaded(int status, duro_alarm_row_t *rows, size_t n,
                             void *data) {
  duro_runtime_t *rt = data;
  if (status < 0) {
    duro_log_error("loading alarms failed: %s", duro_strerror(status));
    return;
  }
  size_t kept = duro__alarms_restore(rt, rows, n);
  duro_store_alarms_free(rows, n);
  if (kept)
    duro_log_info("%zu pending alarm(s) restored", kept);
  duro__alarms_arm(rt);
}

/* ---- eviction ------------------------------------------------------------------------- */

static int evictable(const duro_object_t *o, uint64_t now, uint64_t idle) {
  if (o->phase == OBJ_LOST) /* given up: freed once nothing is in flight */
    idle = 0;
  else if (o->phase != OBJ_READY)
    return 0;
  return !o->in_event && !o->load_in_flight && !o->claim_in_flight &&
         o->nsockets == 0 &&
         duro_list_empty(&o->waiting) && o->open_requests == 0 &&
         o->open_stubs == 0 && o->submitted == o->durable &&
         o->ops_head == o->nops && o->alarms_running == 0 &&
         now - o->last_active_ms >= idle;
}

static void on_evict_timer(uv_timer_t *t) {
  duro_runtime_t *rt = t->data;
  uint64_t now = uv_now(rt->loop);
  uint64_t idle = rt->shutting_down ? 0 : rt->cfg->limits.object_idle_ms;
  DURO_LIST_FOREACH_SAFE(it, tmp, &rt->objects) {
    duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    /* an object whose alarm is being delivered stays (alarms_running) */
    if (evictable(o, now, idle))
      duro__object_free(o);
  }
  if (rt->shutting_down && rt->nobjects == 0 && rt->shutdown_cb) {
    void (*cb)(void *) = rt->shutdown_cb;
    rt->shutdown_cb = NULL;
    cb(rt->shutdown_data);
  }
}

/* ---- lifecycle ---------------------------------------------------------------------- */

duro_runtime_t *duro_runtime_new(uv_loop_t *loop, duro_store_t *store,
                                 const duro_config_t *cfg) {
  duro_runtime_t *rt = duro_calloc(1, sizeof(*rt));
  rt->loop = loop;
  rt->store = store;
  rt->cfg = cfg;
  duro_list_init(&rt->objects);
  duro_list_init(&rt->posted);
  duro_list_init(&rt->load_retry);
  duro__registry_init(rt);
  rt->alarm_armed = INT64_MAX;
  rt->ws_opts.max_message = cfg->limits.ws_max_message_bytes;
  rt->ws_opts.deflate = (uint8_t)cfg->limits.ws_deflate;
  rt->ws_opts.deflate_min = cfg->limits.ws_deflate_min_bytes;
  rt->ws_opts.ping_interval_s = (cfg->limits.ws_ping_interval_ms + 999) / 1000;
  rt->ws_opts.pong_timeout_s = (cfg->limits.ws_pong_timeout_ms + 999) / 1000;
  uv_timer_init(loop, &rt->alarm_timer);
  rt->alarm_timer.data = rt;
  uv_timer_init(loop, &rt->evict_timer);
  rt->evict_timer.data = rt;
  uv_timer_init(loop, &rt->load_timer);
  rt->load_timer.data = rt;
  /* A retry waiting must not keep the loop alive (it never did) */
  uv_unref((uv_handle_t *)&rt->load_timer);
  uv_idle_init(loop, &rt->poster);
  rt->poster.data = rt;
  return rt;
}

void duro_runtime_set_cluster(duro_runtime_t *rt, const char *node_id,
                              const duro_cluster_hooks_t *hooks) {
  duro_free(rt->node_id);
  rt->node_id = duro_strdup(node_id);
  rt->hooks = *hooks;
}

void duro_runtime_fence(duro_runtime_t *rt, const char *why) {
  if (duro_fmt(rt->fence_why, sizeof(rt->fence_why), "%s", why) < 0)
    rt->fence_why[sizeof(rt->fence_why) - 1] = '\0'; /* cut: still a why */
  if (rt->fenced)
    return;
  rt->fenced = 1;
  duro__runtime_fence(rt, rt->fence_why);
}

void duro_runtime_unfence(duro_runtime_t *rt) {
  if (!rt->fenced)
    return;
  rt->fenced = 0;
  duro__alarms_arm(rt);
}

int duro_runtime_fenced(const duro_runtime_t *rt) { return rt->fenced; }

const char *duro_runtime_node(const duro_runtime_t *rt) { return rt->node_id; }

void duro_runtime_adopt_alarms(duro_runtime_t *rt,
                               const duro_alarm_row_t *rows, size_t n) {
  if (duro__alarms_restore(rt, rows, n))
    duro__alarms_arm(rt);
}

void duro_runtime_start(duro_runtime_t *rt) {
  /* a cluster's node adopts alarms as it claims their objects, or as
   * nobody owns them (duro_runtime_adopt_alarms), never all at once */
  if (!rt->node_id)
    duro_store_load_alarms(rt->store, on_alarms_loaded, rt);
  uv_timer_start(&rt->evict_timer, on_evict_timer, EVICT_SWEEP_MS,
                 EVICT_SWEEP_MS);
}

void duro_runtime_shutdown(duro_runtime_t *rt, void (*cb)(void *data),
                           void *data) {
  rt->shutting_down = 1;
  rt->shutdown_cb = cb;
  rt->shutdown_data = data;
  duro__alarms_arm(rt); /* shutting down: stops the alarm timer */
  DURO_LIST_FOREACH(it, &rt->objects) {
    duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    DURO_LIST_FOREACH(si, &o->sockets) {
      duro_socket_t *s = DURO_CONTAINER_OF(si, duro_socket_t, node);
      if (s->conn) /* in a cluster another node takes the object over */
        duro_ws_close(s->conn, rt->node_id ? 1012 : 1001,
                      rt->node_id ? "service restart" : "going away");
    }
  }
  /* Sockets close, instances then become idle; the sweeper finishes. */
  uv_timer_stop(&rt->evict_timer);
  uv_timer_start(&rt->evict_timer, on_evict_timer, 50, 50);
}

/* Each of the four handles' close callbacks counts down; the last one
 * frees the runtime (libuv runs close callbacks in no promised order). */
static void free_runtime(uv_handle_t *h) {
  duro_runtime_t *rt = h->data;
  if (--rt->closing_handles == 0)
    duro_free(rt);
}

void duro_runtime_free(duro_runtime_t *rt) {
  DURO_LIST_FOREACH_SAFE(it, tmp, &rt->objects) {
    duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    while (!duro_list_empty(&o->waiting)) {
      duro_list_t *n = o->waiting.next;
      duro_list_remove(n);
      duro__event_drop(DURO_CONTAINER_OF(n, obj_event_t, node));
    }
    duro__object_free(o);
  }
  while (!duro_list_empty(&rt->posted)) {
    duro_list_t *n = rt->posted.next;
    duro_list_remove(n);
    duro__event_drop(DURO_CONTAINER_OF(n, obj_event_t, node));
  }
  duro__alarms_free(rt);
  duro__registry_free(rt);
  duro_free(rt->node_id);
  rt->closing_handles = 4;
  uv_close((uv_handle_t *)&rt->alarm_timer, free_runtime);
  uv_close((uv_handle_t *)&rt->evict_timer, free_runtime);
  uv_close((uv_handle_t *)&rt->load_timer, free_runtime);
  uv_close((uv_handle_t *)&rt->poster, free_runtime);
}

void duro_runtime_stats(const duro_runtime_t *rt, duro_runtime_stats_t *out) {
  memset(out, 0, sizeof(*out));
  out->live_objects = rt->nobjects;
  const duro_list_t *head = &rt->objects;
  for (const duro_list_t *it = head->next; it != head; it = it->next)
    out->sockets += DURO_CONTAINER_OF(it, duro_object_t, node)->nsockets;
  out->pending_alarms = rt->nalarms;
  out->events = rt->events;
  out->commits = rt->commits;
  out->evictions = rt->evictions;
  out->load_failures = rt->load_failures;
  out->broadcasts = rt->broadcasts;
  out->deliveries = rt->deliveries;
  out->activations = rt->activations;
  out->handler_errors = rt->handler_errors;
  out->commit_failures = rt->commit_failures;
  out->alarms_fired = rt->alarms_fired;
  out->alarms_retried = rt->alarms_retried;
  out->alarms_dropped = rt->alarms_dropped;
  out->claims = rt->claims;
  out->misplaced = rt->misplaced;
  out->objects_lost = rt->objects_lost;
  out->commit_latency = rt->commit_latency;
}

size_t duro_runtime_namespaces(const duro_runtime_t *rt, duro_ns_info_t *out,
                               size_t cap) {
  for (size_t i = 0; i < rt->nns && i < cap; i++) {
    memset(&out[i], 0, sizeof(out[i]));
    out[i].binding = rt->ns[i].name;
    out[i].class_name = rt->ns[i].cls->name;
  }
  const duro_list_t *head = &rt->objects;
  for (const duro_list_t *it = head->next; it != head; it = it->next) {
    const duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    size_t i = (size_t)(o->ns - rt->ns);
    if (i < rt->nns && i < cap) {
      out[i].active++;
      out[i].sockets += o->nsockets;
    }
  }
  return rt->nns;
}

static int by_id(const void *a, const void *b) {
  return strcmp(((const duro_active_info_t *)a)->id,
                ((const duro_active_info_t *)b)->id);
}

size_t duro_runtime_active_objects(const duro_runtime_t *rt,
                                   const char *binding, const char *after,
                                   duro_active_info_t *out, size_t cap) {
  /* Keep the cap smallest ids above after: collect, sort, cut. The
   * candidates are bounded by the instances in memory. */
  size_t n = 0, room = 0;
  duro_active_info_t *all = NULL;
  const duro_list_t *head = &rt->objects;
  for (const duro_list_t *it = head->next; it != head; it = it->next) {
    const duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    if (strcmp(o->ns->name, binding) != 0 ||
        (after && strcmp(o->id, after) <= 0))
      continue;
    if (n == room) {
      room = room ? room * 2 : 64;
      all = duro_realloc(all, room * sizeof(*all));
    }
    memcpy(all[n].id, o->id, sizeof(all[n].id));
    all[n].name = o->name;
    all[n].sockets = o->nsockets;
    n++;
  }
  if (n > 1)
    qsort(all, n, sizeof(*all), by_id);
  if (n > cap)
    n = cap;
  if (n)
    memcpy(out, all, n * sizeof(*all));
  duro_free(all);
  return n;
}

int duro_runtime_active_object(const duro_runtime_t *rt, const char *binding,
                               const char *id, duro_active_info_t *out) {
  const duro_object_t *o = duro__object_find(rt, id);
  if (!o || strcmp(o->ns->name, binding) != 0)
    return 0;
  memcpy(out->id, o->id, sizeof(out->id));
  out->name = o->name;
  out->sockets = o->nsockets;
  return 1;
}

size_t duro_runtime_sockets(const duro_runtime_t *rt, const char *id,
                            duro_socket_info_t *out, size_t cap) {
  const duro_object_t *o = duro__object_find(rt, id);
  size_t n = 0;
  if (!o)
    return 0;
  DURO_LIST_FOREACH(it, &o->sockets) {
    const duro_socket_t *s = DURO_CONTAINER_OF(it, duro_socket_t, node);
    if (n < cap) {
      out[n].index = (unsigned)n;
      out[n].tags = s->tags;
      out[n].ntags = s->ntags;
      out[n].attachment_bytes = s->attachment_len;
      out[n].queued_bytes = s->conn ? duro_conn_queued_bytes(s->conn) : 0;
      uint64_t now_s = uv_now(rt->loop) / 1000;
      out[n].age_s = now_s > s->opened_s ? now_s - s->opened_s : 0;
    }
    n++;
  }
  return n;
}

int duro_runtime_close_socket(duro_runtime_t *rt, const char *id,
                              unsigned index, int code, const char *reason) {
  if (code != 1000 && (code < 3000 || code > 4999))
    return DURO_EINVAL;
  const duro_object_t *o = duro__object_find(rt, id);
  if (!o)
    return DURO_ENOENT;
  unsigned i = 0;
  DURO_LIST_FOREACH(it, &o->sockets) {
    duro_socket_t *s = DURO_CONTAINER_OF(it, duro_socket_t, node);
    if (i++ != index)
      continue;
    if (!s->conn || duro_conn_is_closed(s->conn))
      return DURO_ENOENT;
    duro_ws_close(s->conn, (uint16_t)code, reason);
    return 0;
  }
  return DURO_ENOENT;
}

int duro_runtime_evict(duro_runtime_t *rt, const char *id) {
  duro_object_t *o = duro__object_find(rt, id);
  if (!o)
    return DURO_ENOENT;
  if (!evictable(o, uv_now(rt->loop), 0))
    return DURO_EBUSY;
  duro__object_free(o);
  return 0;
}
