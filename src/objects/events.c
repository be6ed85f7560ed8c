/*
 * events.c: events one at a time per object, and the life of an instance
 * around them.
 *
 * Events. Every call into a class is an event: begin_event() opens it,
 * the handler runs, end_event() closes it. Writes go to the in-memory map
 * at once and to the event's batch; at the end a non-empty batch is
 * committed as one transaction and gets the object's next sequence
 * number, the event's outputs are tagged with it in the gate (gate.c) and
 * its staged alarm changes are applied (alarms.c; an event that staged
 * none does no alarm work). An object that is loading, or inside an
 * event, queues new events on its waiting list; they run one by one
 * afterwards.
 *
 * The failure boundary. A handler (or the init run before an instance's
 * first event) that returns a negative code fails its event: the event's
 * writes, staged alarms and held outputs are dropped; its request gets a
 * 500, the socket it was serving (message or fresh upgrade) is closed with
 * 1011, a failed alarm is retried with exponential backoff up to
 * alarm_max_retries times. The instance is then reset: teardown, zeroed
 * state, storage reloaded once the commits in flight are done, and init
 * again with the next event. Sockets stay open across a reset.
 *
 * Loading. A new instance (or a reset one) loads its storage before its
 * first event. A load that fails is logged here, once, and retried after
 * LOAD_RETRY_FIRST_MS, doubling up to LOAD_RETRY_MAX_MS while it keeps
 * failing (back to the first delay after a success); the events that
 * arrive meanwhile wait, as they wait for any load, except requests once
 * the retries have gone on for a while (LOAD_FAIL_REQUESTS_MS): they are
 * answered 503 rather than held for a storage that stays away.
 *
 * Posting. Events for other objects (stub calls and their answers, due
 * alarms) run on the next loop turn, never inside the event that caused
 * them: they wait in rt->posted, and the poster (an idle handle, started
 * here after every call into the gate that can append to the list) runs
 * them.
 *
 * Alarms. One timer, armed for the earliest alarm of the index; a due
 * alarm activates its object if needed and is posted to it.
 *
 * Calls registry.c, alarms.c and gate.c inside objects/ (see object.h).
 */
#include "objects/events.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "objects/alarms.h"
#include "objects/gate.h"
#include "objects/registry.h"
#include "store/owners.h"

/* The log fields naming object o (core/log.h). */
#define OBJ_FIELDS(o)                                                          \
  (&(duro_log_fields_t){.ns = (o)->ns->name,                                   \
                        .object = (o)->name ? (o)->name : (o)->id})

#define ALARM_RETRY_BASE_MS 1000
#define LOAD_RETRY_FIRST_MS 100
#define LOAD_RETRY_MAX_MS 5000
/* Requests wait through the first retries of a failed load (a storage
 * hiccup: 100 + 200 + 400 ms); from a retry delay this long on, the
 * storage is away for real and waiting requests are answered 503. */
#define LOAD_FAIL_REQUESTS_MS 800

static void drain(duro_object_t *o);

/* ---- posting ------------------------------------------------------------------ */

/* The target of a posted stub call: found, or created and loaded, now. */
static duro_object_t *stub_target(duro_runtime_t *rt, duro_request_t *r) {
  duro_object_t *t =
      r->stub_name
          ? duro__object_get(rt, r->stub_ns, r->stub_name,
                             strlen(r->stub_name)) /* C string: strdup'd */
          : duro__object_get_id(rt, r->stub_ns, r->stub_id);
  r->target = t;
  return t;
}

static void on_post(uv_idle_t *h) {
  duro_runtime_t *rt = h->data;
  duro_list_t list;
  duro_list_init(&list);
  /* take the current list; events posted while running wait a turn */
  if (!duro_list_empty(&rt->posted)) {
    list.next = rt->posted.next;
    list.prev = rt->posted.prev;
    list.next->prev = &list;
    list.prev->next = &list;
    duro_list_init(&rt->posted);
  }
  while (!duro_list_empty(&list)) {
    duro_list_t *n = list.next;
    duro_list_remove(n);
    obj_event_t *ev = DURO_CONTAINER_OF(n, obj_event_t, node);
    duro_object_t *o = ev->to ? ev->to : stub_target(rt, ev->req);
    duro__object_deliver(o, ev);
  }
  if (duro_list_empty(&rt->posted))
    uv_idle_stop(&rt->poster);
}

/* Starts the poster when something waits in rt->posted. */
static void kick(duro_runtime_t *rt) {
  if (!duro_list_empty(&rt->posted))
    uv_idle_start(&rt->poster, on_post);
}

static void release(duro_object_t *o) {
  duro__gate_release(o);
  kick(o->rt);
}

/* ---- loading and resetting ------------------------------------------------- */

static void on_kv_loaded(int status, duro_kv_t *kv, size_t n, void *data);
static void load_failed(duro_object_t *o, int status);
static int lost_settle(duro_object_t *o);

/* Starts a load of o's storage; with one already at the store, its result
 * is dropped and a new load follows it, so that at most one is in flight
 * (two would fill the map twice, or queue o twice for a retry). */
static void claim_object(duro_object_t *o);

static void load_object(duro_object_t *o) {
  duro_list_remove(&o->load_retry_node); /* a retry waiting is this load */
  o->phase = OBJ_LOADING;
  o->reset_pending = 0;
  if (o->rt->node_id && !o->epoch) { /* a cluster's node loads what it owns */
    claim_object(o);
    return;
  }
  if (o->load_in_flight) {
    o->reload = 1;
    return;
  }
  o->load_in_flight = 1;
  duro_kvmap_clear(&o->kv);
  duro_store_load_kv(o->rt->store, o->id, on_kv_loaded, o);
}

static void on_load_timer(uv_timer_t *t);

/* Arms the retry timer for the earliest retry waiting (a list of the
 * objects whose last load failed: short, and never every object). */
static void arm_load_timer(duro_runtime_t *rt) {
  uint64_t first = UINT64_MAX;
  DURO_LIST_FOREACH(it, &rt->load_retry) {
    const duro_object_t *o =
        DURO_CONTAINER_OF(it, duro_object_t, load_retry_node);
    if (o->load_retry_at < first)
      first = o->load_retry_at;
  }
  if (first == UINT64_MAX) {
    uv_timer_stop(&rt->load_timer);
    return;
  }
  uint64_t now = uv_now(rt->loop);
  uv_timer_start(&rt->load_timer, on_load_timer, first > now ? first - now : 0,
                 0);
}

static void on_load_timer(uv_timer_t *t) {
  duro_runtime_t *rt = t->data;
  uint64_t now = uv_now(rt->loop);
  DURO_LIST_FOREACH_SAFE(it, tmp, &rt->load_retry) {
    duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, load_retry_node);
    if (o->load_retry_at <= now)
      load_object(o); /* takes it off the list */
  }
  arm_load_timer(rt);
}

/*
 * After failed loads (LOAD_FAIL_REQUESTS_MS): the requests waiting for the
 * object are answered now (503, Retry-After), not held for a storage that
 * may stay away (a database restarting); its other events (socket
 * messages, alarms) keep waiting for the retry, as the sockets and the
 * alarm index do.
 */
static void fail_waiting_requests(duro_object_t *o, int status) {
  char why[160];
  if (duro_fmt(why, sizeof(why), "Service Unavailable: the object's storage "
               "cannot be read (%s); try again", duro_strerror(status)) < 0)
    why[0] = '\0';
  DURO_LIST_FOREACH_SAFE(it, tmp, &o->waiting) {
    obj_event_t *ev = DURO_CONTAINER_OF(it, obj_event_t, node);
    if (ev->kind != EV_FETCH)
      continue;
    duro_list_remove(&ev->node);
    duro_request_t *r = ev->req;
    ev->req = NULL;
    duro__event_free(ev);
    duro__request_fail(r, 503, status, why);
  }
}

static void on_kv_loaded(int status, duro_kv_t *kv, size_t n, void *data) {
  duro_object_t *o = data;
  o->load_in_flight = 0;
  if (o->phase == OBJ_LOST) { /* given up while loading */
    duro_store_kv_free(kv, n);
    lost_settle(o);
    return;
  }
  if (o->reload && status != DURO_ECANCELED) {
    o->reload = 0;
    duro_store_kv_free(kv, n);
    load_object(o);
    return;
  }
  if (status < 0) {
    duro_store_kv_free(kv, n);
    load_failed(o, status);
    return;
  }
  o->load_retry_ms = 0;
  for (size_t i = 0; i < n; i++)
    duro_kvmap_append_owned(&o->kv, kv[i].key, kv[i].key_len, kv[i].value,
                            kv[i].value_len);
  duro_free(kv);
  o->phase = OBJ_READY;
  o->inited = 0; /* init runs with the next event (see run_event) */
  drain(o);
}

/* A load (or a claim) failed: retried later, see the file comment. */
static void load_failed(duro_object_t *o, int status) {
  duro_runtime_t *rt = o->rt;
  rt->load_failures++;
  if (status == DURO_ECANCELED) { /* the store is closing: no retry */
    duro_log_error("object %s/%s: loading storage failed: %s", o->ns->name,
                   o->id, duro_strerror(status));
    return;
  }
  {
    /* Retry later rather than run on an empty map; the events that
     * arrived meanwhile wait for the load, as they would for any. */
    uint32_t delay = o->load_retry_ms ? o->load_retry_ms * 2
                                      : LOAD_RETRY_FIRST_MS;
    if (delay > LOAD_RETRY_MAX_MS)
      delay = LOAD_RETRY_MAX_MS;
    o->load_retry_ms = delay;
    duro_log_error("object %s/%s: loading storage failed: %s; retrying in "
                   "%u ms",
                   o->ns->name, o->id, duro_strerror(status), (unsigned)delay);
    o->load_retry_at = uv_now(rt->loop) + delay;
    duro_list_insert_tail(&rt->load_retry, &o->load_retry_node);
    arm_load_timer(rt);
    if (delay >= LOAD_FAIL_REQUESTS_MS)
      fail_waiting_requests(o, status);
  }
}

/* ---- owners (cluster mode) ---------------------------------------------------- */

static void run_event(duro_object_t *o, obj_event_t *ev);
static void end_event(duro_object_t *o, int rc);
static void begin_event(duro_object_t *o);
static void discard_event(duro_object_t *o);

/* Frees a given-up instance once nothing of it is in flight (a commit, a
 * load or claim, a store job, a stub call, a socket not yet closed, a
 * deferred answer). Returns 1 when it was freed. */
static int lost_settle(duro_object_t *o) {
  if (o->phase != OBJ_LOST || o->in_event || o->load_in_flight ||
      o->claim_in_flight || o->submitted != o->durable || o->nsockets ||
      o->open_stubs || o->open_requests || o->alarms_running ||
      !duro_list_empty(&o->waiting))
    return 0;
  duro__object_free(o);
  return 1;
}

/* An event for a given-up instance: requests are answered 503, socket
 * messages dropped, closes and alarms let go, and the completions of its
 * store jobs and stub calls run in an event of their own with
 * DURO_ECANCELED (what they hold is released; their output is dropped). */
static void cancel_event(duro_object_t *o, obj_event_t *ev, const char *why) {
  switch (ev->kind) {
  case EV_FETCH: {
    duro_request_t *r = ev->req;
    ev->req = NULL;
    duro__request_fail(r, 503, DURO_ESTALE, why);
    break;
  }
  case EV_WS_CLOSE:
    duro__socket_free(ev->sock);
    ev->sock = NULL;
    break;
  case EV_ALARM:
    o->alarms_running--;
    break;
  case EV_JOB_DONE:
  case EV_STUB_DONE:
    /* as run_event hands them DURO_ECANCELED after a failed init */
    begin_event(o);
    o->open_stubs--;
    if (ev->kind == EV_JOB_DONE) {
      ev->job_done(o, o->state, DURO_ECANCELED, ev->job_arg);
    } else if (ev->cb) {
      duro_response_t res = {.err = DURO_ECANCELED};
      ev->cb(o, o->state, &res, ev->cb_ud);
    }
    o->in_event = 0;
    discard_event(o);
    break;
  default:
    break;
  }
  duro__event_drop(ev);
}

/* Gives o up: another node owns it (a fenced commit) or this node fenced
 * itself. Its held output is dropped (responses 503), its sockets close
 * with 1012 (the client reconnects, through any node, to the new owner),
 * its waiting events are cancelled, its alarms leave the index (the owner
 * fires them), and it leaves the table, so that the next request makes a
 * new instance that claims the object again (and is sent on to the owner).
 * It is freed once what it has in flight has come back. */
static void lose_object(duro_object_t *o, const char *why) {
  duro_runtime_t *rt = o->rt;
  duro_log_with(DURO_LOG_WARN, OBJ_FIELDS(o), "given up: %s", why);
  rt->objects_lost++;
  duro__object_unlist(o);
  duro_list_remove(&o->load_retry_node);
  o->phase = OBJ_LOST;
  o->epoch = 0;
  duro__alarms_forget(rt, o->id);
  duro__gate_drop_from(o, o->ops_head);
  DURO_LIST_FOREACH_SAFE(it, tmp, &o->sockets) { /* a close may unlist */
    duro_socket_t *sk = DURO_CONTAINER_OF(it, duro_socket_t, node);
    if (sk->conn && !duro_conn_is_closed(sk->conn))
      duro_ws_close(sk->conn, 1012, "the object moved; reconnect");
  }
  while (!duro_list_empty(&o->waiting)) {
    duro_list_t *n = o->waiting.next;
    duro_list_remove(n);
    cancel_event(o, DURO_CONTAINER_OF(n, obj_event_t, node), why);
  }
  kick(rt);
  lost_settle(o);
}

/* The answer of a stub call that went to another node. */
static void remote_call_done(void *ctx, const duro_remote_res_t *res) {
  duro_request_t *r = ctx;
  duro_runtime_t *rt = r->rt;
  held_resp_t *resp = NULL;
  if (res->status) {
    resp = duro_calloc(1, sizeof(*resp));
    resp->status = res->status;
    resp->nheaders = res->nheaders;
    resp->headers = duro_calloc(res->nheaders ? res->nheaders : 1,
                                sizeof(duro_header_t));
    for (size_t i = 0; i < res->nheaders; i++) {
      const duro_header_t *h = &res->headers[i];
      resp->headers[i].name = duro_strndup(h->name, h->name_len);
      resp->headers[i].name_len = h->name_len;
      resp->headers[i].value = duro_strndup(h->value, h->value_len);
      resp->headers[i].value_len = h->value_len;
    }
    resp->body = duro_memdup(res->body, res->len);
    resp->body_len = res->len;
  }
  duro__stub_answer(r, resp, res->status ? 0 : res->err);
  kick(rt);
}

/* A stub call whose target another node owns goes there (the hook), its
 * answer comes back as the caller's event; without the hook it fails. */
static int call_remote(duro_runtime_t *rt, obj_event_t *ev,
                       const duro_owner_t *owner) {
  duro_request_t *r = ev->req;
  if (!r || !r->caller || !rt->hooks.call)
    return 0;
  ev->req = NULL;
  duro__event_drop(ev);
  rt->hooks.call(rt->hooks.ud, r->stub_ns->name, r->stub_name,
                 r->stub_name ? NULL : r->stub_id, r->http, owner,
                 remote_call_done, r);
  return 1;
}

/* The claim found a live owner elsewhere: the requests waiting go to it
 * (through the hook), everything else is let go, and the instance, which
 * never loaded, is freed. */
static void misplaced(duro_object_t *o, const duro_owner_t *owner) {
  duro_runtime_t *rt = o->rt;
  rt->misplaced++;
  duro__alarms_forget(rt, o->id);
  duro__object_unlist(o);
  o->phase = OBJ_LOST;
  char why[160];
  if (duro_fmt(why, sizeof(why), "Service Unavailable: the object is "
               "served by node %s; try again", owner->node_id) < 0)
    why[0] = '\0';
  while (!duro_list_empty(&o->waiting)) {
    duro_list_t *n = o->waiting.next;
    duro_list_remove(n);
    obj_event_t *ev = DURO_CONTAINER_OF(n, obj_event_t, node);
    duro_request_t *r = ev->kind == EV_FETCH ? ev->req : NULL;
    if (r && r->http && !r->caller && !r->operate && rt->hooks.misplaced) {
      duro_http_req_t *http = r->http;
      r->http = NULL;
      ev->req = NULL;
      duro__request_free(r);
      duro__event_drop(ev);
      rt->hooks.misplaced(rt->hooks.ud, o->id, http, owner);
      continue;
    }
    if (ev->kind == EV_FETCH && call_remote(rt, ev, owner))
      continue;
    cancel_event(o, ev, why);
  }
  kick(rt);
  lost_settle(o);
}

typedef struct claim_ctx {
  duro_object_t *o;
  char node_id[DURO_NODE_ID_MAX + 1];
  char id[65];
  duro_owner_t owner;
  duro_alarm_row_t *alarms; /* the object's, read once claimed */
  size_t nalarms;
} claim_ctx_t;

static int claim_work(duro_store_db_t *db, void *arg) {
  claim_ctx_t *c = arg;
  int rc = duro_owners_claim(db, c->node_id, c->id, &c->owner);
  if (rc == 1) {
    int arc = duro_owners_object_alarms(db, c->id, &c->alarms, &c->nalarms);
    if (arc < 0)
      rc = arc; /* claimed again on the retry: the epoch only grows */
  }
  return rc;
}

static void claim_done(int status, void *arg) {
  claim_ctx_t *c = arg;
  duro_object_t *o = c->o;
  duro_runtime_t *rt = o->rt;
  o->claim_in_flight = 0;
  if (o->phase == OBJ_LOST) {
    lost_settle(o);
  } else if (status == 1) {
    rt->claims++;
    o->epoch = c->owner.epoch;
    if (c->nalarms) {
      duro__alarms_restore(rt, c->alarms, c->nalarms);
      duro__alarms_arm(rt);
    }
    load_object(o);
  } else if (status == 0) {
    misplaced(o, &c->owner);
  } else if (status == DURO_ESTALE) {
    lose_object(o, "Service Unavailable: this node's lease lapsed; try "
                   "again");
  } else {
    load_failed(o, status);
  }
  duro_store_alarms_free(c->alarms, c->nalarms);
  duro_free(c);
}

/* Claims o for this node (store/owners.h), then loads it (claim_done). */
static void claim_object(duro_object_t *o) {
  if (o->claim_in_flight)
    return;
  o->claim_in_flight = 1;
  claim_ctx_t *c = duro_calloc(1, sizeof(*c));
  c->o = o;
  memcpy(c->id, o->id, sizeof(c->id));
  if (duro_fmt(c->node_id, sizeof(c->node_id), "%s", o->rt->node_id) < 0)
    c->node_id[0] = '\0'; /* cannot happen: checked when it was set */
  duro_store_run(o->rt->store, claim_work, claim_done, c);
}

void duro__runtime_fence(duro_runtime_t *rt, const char *why) {
  DURO_LIST_FOREACH_SAFE(it, tmp, &rt->objects) {
    duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    if (o->phase != OBJ_LOST)
      lose_object(o, why);
  }
  duro__alarms_arm(rt); /* fenced: stopped */
}

/* After a failed event: the memory state may be half-changed, so rebuild
 * it from storage once the commits in flight are done. */
static void reset_object(duro_object_t *o) {
  if (o->phase == OBJ_LOADING && (o->reset_pending || o->load_in_flight))
    return; /* already torn down; the load to come reads what is durable */
  duro_log_with(DURO_LOG_WARN, OBJ_FIELDS(o),
                "resetting after a failed event");
  if (o->ns->cls->teardown)
    o->ns->cls->teardown(o, o->state);
  memset(o->state, 0, o->ns->cls->state_size);
  o->inited = 0;
  if (o->submitted != o->durable) {
    o->reset_pending = 1;
    o->phase = OBJ_LOADING;
    return;
  }
  load_object(o);
}

static duro_object_t *activate(duro_runtime_t *rt, ns_t *ns, const char *id,
                               const char *name, size_t name_len) {
  duro_object_t *o = duro__object_find(rt, id);
  if (o)
    return o;
  o = duro__object_new(rt, ns, id, name, name_len);
  load_object(o);
  return o;
}

duro_object_t *duro__object_get(duro_runtime_t *rt, ns_t *ns,
                                const char *name, size_t name_len) {
  char id[65];
  size_t nslen = strlen(ns->name); /* C string: a config binding name */
  duro_object_id_from_name(ns->name, nslen, name, name_len, id);
  return activate(rt, ns, id, name, name_len);
}

duro_object_t *duro__object_get_id(duro_runtime_t *rt, ns_t *ns,
                                   const char *id) {
  return activate(rt, ns, id, NULL, 0);
}

/* ---- events ------------------------------------------------------------------ */

static void begin_event(duro_object_t *o) {
  o->in_event = 1;
  o->batch = NULL;
  o->nstaged = 0;
  o->ev_first_op = o->nops;
  o->last_active_ms = uv_now(o->rt->loop);
  o->rt->events++;
}

static void on_commit(int status, void *data);

typedef struct commit_ctx {
  duro_object_t *o;
  uint64_t seq;
  uint64_t submitted_ns; /* uv_hrtime, for the latency histogram */
} commit_ctx_t;

static void discard_event(duro_object_t *o) {
  duro__gate_drop_from(o, o->ev_first_op);
  kick(o->rt);
  if (o->batch)
    duro_store_batch_free(o->batch);
  o->batch = NULL;
  duro__alarms_discard(o);
}

static void end_event(duro_object_t *o, int rc) {
  o->in_event = 0;
  if (rc < 0) {
    o->rt->handler_errors++;
    discard_event(o);
    release(o);
    reset_object(o);
    return;
  }
  uint64_t tag = o->submitted;
  if (o->batch && !duro_store_batch_empty(o->batch)) {
    commit_ctx_t *cc = duro_malloc(sizeof(*cc));
    cc->o = o;
    cc->seq = tag = ++o->submitted;
    cc->submitted_ns = uv_hrtime();
    if (o->epoch)
      duro_store_batch_fence(o->batch, o->epoch);
    duro_store_commit(o->rt->store, o->batch, on_commit, cc);
    o->rt->commits++;
  } else if (o->batch) {
    duro_store_batch_free(o->batch);
  }
  o->batch = NULL;
  duro__gate_tag(o, o->ev_first_op, tag);
  if (o->nstaged) {
    duro__alarms_apply(o);
    duro__alarms_arm(o->rt);
  }
  release(o);
}

static void on_commit(int status, void *data) {
  commit_ctx_t *cc = data;
  duro_object_t *o = cc->o;
  uint64_t seq = cc->seq;
  uint64_t submitted_ns = cc->submitted_ns;
  duro_free(cc);
  if (status == 0)
    duro_histo_add(&o->rt->commit_latency, uv_hrtime() - submitted_ns);
  if (o->phase == OBJ_LOST) { /* its output was dropped when given up */
    o->durable = seq;
    lost_settle(o);
    return;
  }
  if (status == DURO_ESTALE) { /* fenced: another node owns it now */
    o->rt->commit_failures++;
    o->durable = seq;
    lose_object(o, "Service Unavailable: the object moved to another node; "
                   "try again");
    return;
  }
  if (status < 0) {
    o->rt->commit_failures++;
    duro_log_with(DURO_LOG_ERROR, OBJ_FIELDS(o),
                  "commit failed: %s; its output is dropped",
                  duro_strerror(status));
    /* Drop every held output that waited for this commit or a later one. */
    duro__gate_drop_tagged(o, seq);
    kick(o->rt);
    o->durable = seq;
    if (!o->in_event)
      reset_object(o);
  } else {
    o->durable = seq;
  }
  release(o);
  if (o->reset_pending && o->submitted == o->durable && !o->in_event) {
    o->reset_pending = 0;
    load_object(o);
  }
}

/* The close codes after which a class hears ws_error before ws_close, and
 * the error each stands for. */
static int ws_error_of(int code) {
  switch (code) {
  case 1002: /* protocol error */
  case 1007: /* invalid payload (bad UTF-8) */
    return DURO_EPROTO;
  case 1008: /* policy: the slow-reader limit */
    return DURO_ENOSPC;
  case 1009: /* message too big */
    return DURO_E2BIG;
  default:
    return 0;
  }
}

/* Answers r 500 outside the event's (discarded) output: the caller must
 * hear, and the answer waits for nothing of this event. */
static void answer_500(duro_object_t *o, duro_request_t *r) {
  held_op_t *op = duro__hold(o, HELD_RESPOND);
  op->u.respond.req = r;
  op->u.respond.resp = duro__resp_500();
  op->tag = o->submitted;
  r->answered = 1;
  o->ev_first_op = o->nops; /* keep this one */
}

/* Runs one event now. The object is ready and not in an event. The first
 * event of an instance (after a load or a reset) runs init first, in the
 * same event: a failing init fails the event as its handler would. */
static void run_event(duro_object_t *o, obj_event_t *ev) {
  const duro_class_t *cls = o->ns->cls;
  int rc = 0;
  begin_event(o);
  if (!o->inited) {
    o->inited = 1;
    if (cls->init && (rc = cls->init(o, o->state)) < 0)
      duro_log_with(DURO_LOG_ERROR, OBJ_FIELDS(o), "init failed: %s",
                    duro_strerror(rc));
  }
  switch (ev->kind) {
  case EV_FETCH: {
    duro_request_t *r = ev->req;
    r->target = o;
    o->open_requests++;
    o->cur_fetch = r;
    o->ev_accepted = NULL;
    if (rc >= 0 && r->operate)
      rc = r->operate(o, r, r->operate_arg);
    else if (rc >= 0 && cls->fetch)
      rc = cls->fetch(o, o->state, r);
    o->cur_fetch = NULL;
    if (r->upgraded) {
      duro__request_free(r);
      if (rc < 0) {
        /* The 101 is out; the socket it opened is closed as a failed
         * message's would be, and the rest of the event is dropped. */
        discard_event(o);
        if (o->ev_accepted && o->ev_accepted->conn)
          duro_ws_close(o->ev_accepted->conn, 1011, "internal error");
      }
      o->ev_accepted = NULL;
      break;
    }
    if (rc < 0 || (!r->answered && !r->deferred)) {
      if (rc >= 0)
        duro_log_error("object %s: fetch handler returned without answering",
                       o->ns->name);
      if (!r->answered) {
        rc = rc < 0 ? rc : DURO_EPROTO;
        discard_event(o);
        answer_500(o, r);
      }
    }
    break;
  }
  case EV_WS_MESSAGE:
    if (rc >= 0 && cls->ws_message && ev->sock->conn)
      rc = cls->ws_message(o, o->state, ev->sock,
                           ev->opcode == 1 /* text */, ev->data, ev->len);
    if (rc < 0 && ev->sock->conn) {
      discard_event(o);
      duro_ws_close(ev->sock->conn, 1011, "internal error");
    }
    break;
  case EV_WS_CLOSE: {
    int werr = ws_error_of(ev->code);
    if (rc >= 0 && werr && cls->ws_error) {
      /* A close reason is at most 123 bytes: the text fits, and if it
       * ever did not, the error's name alone is the message. */
      char msg[256];
      const char *why = msg;
      if (duro_fmt(msg, sizeof(msg), "%s (close %d%s%.*s)", duro_strerror(werr),
                   ev->code, ev->len ? ": " : "", (int)ev->len,
                   ev->data ? (const char *)ev->data : "") < 0)
        why = duro_strerror(werr);
      rc = cls->ws_error(o, o->state, ev->sock, werr, why);
    }
    if (rc >= 0 && cls->ws_close)
      rc = cls->ws_close(o, o->state, ev->sock, ev->code,
                         ev->data ? (const char *)ev->data : "", ev->len);
    duro__socket_free(ev->sock);
    break;
  }
  case EV_ALARM: {
    alarm_ent_t *a = ev->alarm;
    o->alarms_running--;
    if (a->running == 2) { /* deleted or replaced meanwhile */
      duro__alarm_free(a);
      break;
    }
    /* The alarm is consumed by running; the handler may set it again. */
    duro__alarm_delete(o, a->name);
    if (rc >= 0 && cls->alarm) {
      o->rt->alarms_fired++;
      rc = cls->alarm(o, o->state, a->name);
    }
    a->running = 0;
    if (rc < 0) {
      discard_event(o);
      a->attempts++;
      unsigned max = o->rt->cfg->limits.alarm_max_retries;
      if (a->attempts <= max) {
        o->rt->alarms_retried++;
        duro__alarm_requeue(
            o->rt, a,
            duro_now_ms() + (ALARM_RETRY_BASE_MS
                             << (a->attempts < 16 ? a->attempts - 1 : 15)));
        duro_log_with(DURO_LOG_WARN, OBJ_FIELDS(o),
                      "alarm '%s' failed, retry %u of %u", a->name,
                      a->attempts, max);
        duro__alarms_arm(o->rt);
      } else {
        o->rt->alarms_dropped++;
        duro_log_with(DURO_LOG_ERROR, OBJ_FIELDS(o),
                      "alarm '%s' failed %u times; dropped", a->name,
                      a->attempts);
        end_event(o, rc);
        begin_event(o);
        duro__alarm_delete(o, a->name);
        rc = 0;
      }
    }
    break;
  }
  case EV_JOB_DONE:
    o->open_stubs--;
    ev->job_done(o, o->state, rc < 0 ? DURO_ECANCELED : ev->err, ev->job_arg);
    break;
  case EV_STUB_DONE: {
    duro_response_t res = {0};
    if (ev->resp && rc >= 0) {
      res.status = ev->resp->status;
      res.headers = ev->resp->headers;
      res.nheaders = ev->resp->nheaders;
      res.body = ev->resp->body;
      res.body_len = ev->resp->body_len;
    }
    /* After a failed init the callback still runs, once, to release ud. */
    res.err = rc < 0 ? DURO_ECANCELED : ev->err;
    o->open_stubs--;
    if (ev->cb)
      ev->cb(o, o->state, &res, ev->cb_ud);
    break;
  }
  }
  end_event(o, rc);
}

static void drain(duro_object_t *o) {
  while (o->phase == OBJ_READY && !o->in_event &&
         !duro_list_empty(&o->waiting)) {
    duro_list_t *n = o->waiting.next;
    duro_list_remove(n);
    obj_event_t *ev = DURO_CONTAINER_OF(n, obj_event_t, node);
    run_event(o, ev);
    duro__event_free(ev);
  }
}

void duro__object_deliver(duro_object_t *o, obj_event_t *ev) {
  if (o->phase == OBJ_LOST) { /* given up: what was in flight comes back */
    cancel_event(o, ev, "Service Unavailable: the object moved; try again");
    kick(o->rt);
    lost_settle(o);
    return;
  }
  if (o->phase == OBJ_READY && !o->in_event && duro_list_empty(&o->waiting)) {
    run_event(o, ev);
    duro__event_free(ev);
    return;
  }
  if (ev->borrowed) {
    ev->data = duro_memdup(ev->data, ev->len);
    ev->borrowed = 0;
  }
  duro_list_insert_tail(&o->waiting, &ev->node);
}

void duro__event_drop(obj_event_t *ev) {
  if (ev->kind == EV_ALARM && ev->alarm && ev->alarm->running == 2)
    duro__alarm_free(ev->alarm); /* out of the index: only ev has it */
  if (ev->kind == EV_FETCH && ev->req) /* never dispatched: not answered */
    duro__request_free(ev->req);
  duro__event_free(ev);
}

/* ---- the alarm timer ----------------------------------------------------------- */

static void on_alarm_timer(uv_timer_t *t) {
  duro_runtime_t *rt = t->data;
  rt->alarm_armed = INT64_MAX; /* fired: armed for nothing */
  if (rt->fenced)
    return; /* unfencing arms it again */
  int64_t now = duro_now_ms();
  alarm_ent_t *a;
  while ((a = duro__alarm_take_due(rt, now))) {
    size_t nlen = 0;
    if (a->obj_name)
      nlen = strlen(a->obj_name); /* C string: a strdup'd object name */
    duro_object_t *o = activate(rt, a->ns, a->id, a->obj_name, nlen);
    o->alarms_running++; /* the instance stays until the event has run */
    obj_event_t *ev = duro_calloc(1, sizeof(*ev));
    ev->kind = EV_ALARM;
    ev->alarm = a;
    duro__post(rt, o, ev);
  }
  kick(rt);
  duro__alarms_arm(rt);
}

void duro__alarms_arm(duro_runtime_t *rt) {
  int64_t next = duro__alarm_next_due(rt);
  if (next == INT64_MAX || rt->shutting_down || rt->fenced) {
    if (rt->alarm_armed != INT64_MAX) {
      uv_timer_stop(&rt->alarm_timer);
      rt->alarm_armed = INT64_MAX;
    }
    return;
  }
  if (next == rt->alarm_armed)
    return; /* the earliest alarm did not change */
  int64_t delay = next - duro_now_ms();
  uv_timer_stop(&rt->alarm_timer);
  uv_timer_start(&rt->alarm_timer, on_alarm_timer,
                 delay > 0 ? (uint64_t)delay : 0, 0);
  rt->alarm_armed = next;
}
