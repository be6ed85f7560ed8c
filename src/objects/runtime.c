/*
 * runtime.c: namespaces, instances, events, the output gate and alarms.
 *
 * Events. Every call into a class is an event: begin_event() opens it,
 * the handler runs, end_event() closes it. Writes go to the in-memory map
 * at once and to the event's batch; at the end a non-empty batch is
 * committed as one transaction and gets the object's next sequence
 * number. An object that is loading, or inside an event, queues new
 * events on its waiting list; they run one by one afterwards.
 *
 * Output gate. Outputs (responses, socket messages, closes, stub calls)
 * are appended to the object's held list tagged with the last sequence
 * number submitted when the event ends. They are released in order as
 * soon as the object's durable sequence number reaches their tag, which
 * for an event without writes and nothing in flight is at the end of the
 * event itself.
 *
 * The failure boundary. A handler (or the init run before an instance's
 * first event) that returns a negative code fails its event: the event's
 * writes, staged alarms and held outputs are dropped; its request gets a
 * 500, the socket it was serving (message or fresh upgrade) is closed with
 * 1011, a failed alarm is retried. The instance is then reset: teardown,
 * zeroed state, storage reloaded once the commits in flight are done, and
 * init again with the next event. Sockets stay open across a reset.
 *
 * Alarms. One table of every scheduled alarm, loaded from disk at start,
 * changed by events that succeed, and one timer for the earliest. A due
 * alarm activates its object if needed. A failing alarm handler is retried
 * with exponential backoff up to alarm_max_retries times.
 */
#include "objects/object.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#define EVICT_SWEEP_MS 1000
#define ALARM_RETRY_BASE_MS 1000

static void begin_event(duro_object_t *o);
static void end_event(duro_object_t *o, int rc);
static void drain(duro_object_t *o);
static void release(duro_object_t *o);

/* ---- ids and namespaces ---------------------------------------------------- */

void duro_object_id_from_name(const char *ns, size_t ns_len,
                              const char *name, size_t name_len,
                              char out[65]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  EVP_DigestUpdate(ctx, "duro-object-v1:", 15);
  EVP_DigestUpdate(ctx, ns, ns_len);
  EVP_DigestUpdate(ctx, "", 1); /* a NUL keeps ("ab","c") apart from ("a","bc") */
  EVP_DigestUpdate(ctx, name, name_len);
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

ns_t *duro__ns_find(const duro_runtime_t *rt, const char *name, size_t len) {
  for (size_t i = 0; i < rt->nns; i++)
    if (duro_cstr_eq(rt->ns[i].name, name, len))
      return &rt->ns[i];
  return NULL;
}

int duro_runtime_has_binding(const duro_runtime_t *rt, const char *binding,
                             size_t len) {
  return duro__ns_find(rt, binding, len) != NULL;
}

/* ---- the object table ---------------------------------------------------- */

static size_t bucket_of(const duro_runtime_t *rt, const char *id) {
  uint64_t h = 0;
  for (int i = 0; i < 16; i++)
    h = h * 16 + (uint64_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
  return (size_t)(h & (rt->nbuckets - 1));
}

static void table_grow(duro_runtime_t *rt) {
  size_t old_n = rt->nbuckets;
  duro_object_t **old = rt->buckets;
  rt->nbuckets = old_n ? old_n * 2 : 64;
  rt->buckets = duro_calloc(rt->nbuckets, sizeof(*rt->buckets));
  for (size_t i = 0; i < old_n; i++) {
    duro_object_t *o = old[i];
    while (o) {
      duro_object_t *next = o->hash_next;
      size_t b = bucket_of(rt, o->id);
      o->hash_next = rt->buckets[b];
      rt->buckets[b] = o;
      o = next;
    }
  }
  duro_free(old);
}

static duro_object_t *table_find(const duro_runtime_t *rt, const char *id) {
  if (!rt->nbuckets)
    return NULL;
  for (duro_object_t *o = rt->buckets[bucket_of(rt, id)]; o; o = o->hash_next)
    if (memcmp(o->id, id, 64) == 0)
      return o;
  return NULL;
}

static void table_remove(duro_runtime_t *rt, duro_object_t *o) {
  duro_object_t **p = &rt->buckets[bucket_of(rt, o->id)];
  while (*p && *p != o)
    p = &(*p)->hash_next;
  if (*p)
    *p = o->hash_next;
  rt->nobjects--;
}

static void on_kv_loaded(int status, duro_kv_t *kv, size_t n, void *data);

static void load_object(duro_object_t *o) {
  o->phase = OBJ_LOADING;
  duro_kvmap_clear(&o->kv);
  duro_store_load_kv(o->rt->store, o->id, on_kv_loaded, o);
}

static duro_object_t *object_get_by_id(duro_runtime_t *rt, ns_t *ns,
                                       const char *id, const char *name,
                                       size_t name_len) {
  duro_object_t *o = table_find(rt, id);
  if (o)
    return o;
  if (rt->nobjects + 1 > rt->nbuckets)
    table_grow(rt);
  o = duro_calloc(1, sizeof(*o));
  o->rt = rt;
  o->ns = ns;
  memcpy(o->id, id, 65);
  o->name = name ? duro_strndup(name, name_len) : NULL;
  o->state = duro_calloc(1, ns->cls->state_size ? ns->cls->state_size : 1);
  duro_list_init(&o->sockets);
  duro_list_init(&o->waiting);
  o->last_active_ms = uv_now(rt->loop);
  size_t b = bucket_of(rt, id);
  o->hash_next = rt->buckets[b];
  rt->buckets[b] = o;
  rt->nobjects++;
  duro_list_insert_tail(&rt->objects, &o->node);
  load_object(o);
  return o;
}

duro_object_t *duro__object_get(duro_runtime_t *rt, ns_t *ns,
                                const char *name, size_t name_len) {
  char id[65];
  size_t nslen = strlen(ns->name); /* C string: a config binding name */
  duro_object_id_from_name(ns->name, nslen, name, name_len, id);
  return object_get_by_id(rt, ns, id, name, name_len);
}

duro_object_t *duro__object_get_id(duro_runtime_t *rt, ns_t *ns,
                                   const char *id) {
  return object_get_by_id(rt, ns, id, NULL, 0);
}

static void free_event(obj_event_t *ev) {
  if (!ev->borrowed)
    duro_free(ev->data);
  if (ev->resp)
    duro__resp_free(ev->resp);
  duro_free(ev);
}

static void object_free(duro_object_t *o) {
  duro_runtime_t *rt = o->rt;
  if (o->ns->cls->teardown)
    o->ns->cls->teardown(o, o->state);
  table_remove(rt, o);
  duro_list_remove(&o->node);
  duro_kvmap_clear(&o->kv);
  duro_free(o->ops);
  duro_free(o->state);
  duro_free(o->name);
  duro_free(o);
  rt->evictions++;
}

/* ---- loading and resetting ------------------------------------------------- */

static void on_kv_loaded(int status, duro_kv_t *kv, size_t n, void *data) {
  duro_object_t *o = data;
  if (status < 0) {
    duro_log_error("object %s/%s: loading storage failed: %s", o->ns->name,
                   o->id, duro_strerror(status));
    duro_store_kv_free(kv, n);
    /* Try again shortly rather than running on an empty map. */
    load_object(o);
    return;
  }
  for (size_t i = 0; i < n; i++)
    duro_kvmap_append_owned(&o->kv, kv[i].key, kv[i].key_len, kv[i].value,
                            kv[i].value_len);
  duro_free(kv);
  o->phase = OBJ_READY;
  o->inited = 0; /* init runs with the next event (see run_event) */
  drain(o);
}

/* After a failed event: the memory state may be half-changed, so rebuild
 * it from storage once the commits in flight are done. */
static void reset_object(duro_object_t *o) {
  duro_log_warn("object %s(%s): resetting after a failed event",
                o->ns->name, o->name ? o->name : o->id);
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

/* ---- events ------------------------------------------------------------------ */

static void begin_event(duro_object_t *o) {
  o->in_event = 1;
  o->batch = NULL;
  o->nstaged = 0;
  o->ev_first_op = o->nops;
  o->last_active_ms = uv_now(o->rt->loop);
  o->rt->events++;
}

static void drop_op(held_op_t *op);
static void on_commit(int status, void *data);

typedef struct commit_ctx {
  duro_object_t *o;
  uint64_t seq;
} commit_ctx_t;

static void apply_staged_alarms(duro_object_t *o) {
  duro_runtime_t *rt = o->rt;
  for (size_t i = 0; i < o->nstaged; i++) {
    staged_alarm_t *s = &o->staged[i];
    alarm_ent_t *a = duro__alarm_find(rt, o->id, s->name);
    if (s->due < 0) {
      if (a) {
        for (size_t j = 0; j < rt->nalarms; j++)
          if (rt->alarms[j] == a) {
            rt->alarms[j] = rt->alarms[--rt->nalarms];
            break;
          }
        if (a->running)
          a->running = 2; /* deleted while running: the runner frees it */
        else {
          duro_free(a->obj_name);
          duro_free(a->name);
          duro_free(a);
        }
      }
    } else if (a && !a->running) {
      a->due = s->due;
      a->attempts = 0;
    } else {
      if (a) /* running: detach the old entry, the runner frees it */
        for (size_t j = 0; j < rt->nalarms; j++)
          if (rt->alarms[j] == a) {
            rt->alarms[j] = rt->alarms[--rt->nalarms];
            a->running = 2;
            break;
          }
      a = duro_calloc(1, sizeof(*a));
      memcpy(a->id, o->id, 65);
      a->ns = o->ns;
      a->obj_name = o->name ? duro_strdup(o->name) : NULL;
      a->name = duro_strdup(s->name);
      a->due = s->due;
      if (rt->nalarms == rt->capalarms) {
        rt->capalarms = rt->capalarms ? rt->capalarms * 2 : 16;
        rt->alarms = duro_realloc(rt->alarms,
                                  rt->capalarms * sizeof(*rt->alarms));
      }
      rt->alarms[rt->nalarms++] = a;
    }
    duro_free(s->name);
  }
  o->nstaged = 0;
  duro__alarm_reschedule(rt);
}

static void discard_event(duro_object_t *o) {
  for (size_t i = o->ev_first_op; i < o->nops; i++)
    drop_op(&o->ops[i]);
  o->nops = o->ev_first_op;
  if (o->batch)
    duro_store_batch_free(o->batch);
  o->batch = NULL;
  for (size_t i = 0; i < o->nstaged; i++)
    duro_free(o->staged[i].name);
  o->nstaged = 0;
}

static void end_event(duro_object_t *o, int rc) {
  o->in_event = 0;
  if (rc < 0) {
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
    duro_store_commit(o->rt->store, o->batch, on_commit, cc);
    o->rt->commits++;
  } else if (o->batch) {
    duro_store_batch_free(o->batch);
  }
  o->batch = NULL;
  for (size_t i = o->ev_first_op; i < o->nops; i++)
    o->ops[i].tag = tag;
  apply_staged_alarms(o);
  release(o);
}

static void on_commit(int status, void *data) {
  commit_ctx_t *cc = data;
  duro_object_t *o = cc->o;
  uint64_t seq = cc->seq;
  duro_free(cc);
  if (status < 0) {
    duro_log_error("object %s(%s): commit failed: %s; its output is dropped",
                   o->ns->name, o->name ? o->name : o->id,
                   duro_strerror(status));
    /* Drop every held output that waited for this commit or a later one. */
    size_t keep = o->ops_head;
    while (keep < o->nops && o->ops[keep].tag < seq)
      keep++;
    for (size_t i = keep; i < o->nops; i++)
      drop_op(&o->ops[i]);
    o->nops = keep;
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
static held_resp_t *resp_500(void) {
  static const char text[] = "Internal Server Error";
  held_resp_t *resp = duro_calloc(1, sizeof(*resp));
  resp->status = 500;
  resp->body = duro_memdup(text, sizeof(text)); /* with its NUL, as before */
  resp->body_len = sizeof(text) - 1;
  return resp;
}

static void answer_500(duro_object_t *o, duro_request_t *r) {
  held_op_t *op = duro__hold(o, HELD_RESPOND);
  held_resp_t *resp = resp_500();
  op->u.respond.req = r;
  op->u.respond.resp = resp;
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
      duro_log_error("object %s(%s): init failed: %s", o->ns->name,
                     o->name ? o->name : o->id, duro_strerror(rc));
  }
  switch (ev->kind) {
  case EV_FETCH: {
    duro_request_t *r = ev->req;
    r->target = o;
    o->open_requests++;
    o->cur_fetch = r;
    o->ev_accepted = NULL;
    if (rc >= 0 && cls->fetch)
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
    if (a->running == 2) { /* deleted or replaced meanwhile */
      duro_free(a->obj_name);
      duro_free(a->name);
      duro_free(a);
      break;
    }
    /* The alarm is consumed by running; the handler may set it again. */
    duro_alarm_delete(o, a->name);
    if (rc >= 0 && cls->alarm)
      rc = cls->alarm(o, o->state, a->name);
    a->running = 0;
    if (rc < 0) {
      discard_event(o);
      a->attempts++;
      unsigned max = o->rt->cfg->limits.alarm_max_retries;
      if (a->attempts <= max) {
        a->due = duro_now_ms() +
                 (ALARM_RETRY_BASE_MS << (a->attempts < 16 ? a->attempts - 1 : 15));
        duro_log_warn("object %s(%s): alarm '%s' failed, retry %u of %u",
                      o->ns->name, o->name ? o->name : o->id, a->name,
                      a->attempts, max);
        duro__alarm_reschedule(o->rt);
      } else {
        duro_log_error("object %s(%s): alarm '%s' failed %u times; dropped",
                       o->ns->name, o->name ? o->name : o->id, a->name,
                       a->attempts);
        end_event(o, rc);
        begin_event(o);
        duro_alarm_delete(o, a->name);
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
    free_event(ev);
  }
}

void duro__object_deliver(duro_object_t *o, obj_event_t *ev) {
  if (o->phase == OBJ_READY && !o->in_event && duro_list_empty(&o->waiting)) {
    run_event(o, ev);
    free_event(ev);
    return;
  }
  if (ev->borrowed) {
    ev->data = duro_memdup(ev->data, ev->len);
    ev->borrowed = 0;
  }
  duro_list_insert_tail(&o->waiting, &ev->node);
}

/* Cross-object deliveries go through the next loop turn, so one object's
 * event never runs inside another's. */
typedef struct posted {
  duro_list_t node;
  duro_object_t *o;
  obj_event_t *ev;
} posted_t;

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
    posted_t *p = DURO_CONTAINER_OF(n, posted_t, node);
    duro__object_deliver(p->o, p->ev);
    duro_free(p);
  }
  if (duro_list_empty(&rt->posted))
    uv_idle_stop(&rt->poster);
}

void duro__post(duro_runtime_t *rt, duro_object_t *o, obj_event_t *ev) {
  posted_t *p = duro_malloc(sizeof(*p));
  p->o = o;
  p->ev = ev;
  duro_list_insert_tail(&rt->posted, &p->node);
  uv_idle_start(&rt->poster, on_post);
}

/* ---- output gate ---------------------------------------------------------------- */

held_op_t *duro__hold(duro_object_t *o, int kind) {
  if (o->nops == o->capops) {
    /* Reclaim the released prefix before growing. */
    if (o->ops_head) {
      memmove(o->ops, o->ops + o->ops_head,
              (o->nops - o->ops_head) * sizeof(*o->ops));
      o->nops -= o->ops_head;
      o->ev_first_op -= o->ev_first_op >= o->ops_head ? o->ops_head : o->ev_first_op;
      o->ops_head = 0;
    }
    if (o->nops == o->capops) {
      o->capops = o->capops ? o->capops * 2 : 8;
      o->ops = duro_realloc(o->ops, o->capops * sizeof(*o->ops));
    }
  }
  held_op_t *op = &o->ops[o->nops++];
  memset(op, 0, sizeof(*op));
  op->kind = (uint8_t)kind;
  op->tag = UINT64_MAX; /* set when the event ends */
  if (!o->in_event)
    op->tag = o->submitted;
  return op;
}

void duro__resp_free(held_resp_t *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nheaders; i++) {
    duro_free((void *)r->headers[i].name);
    duro_free((void *)r->headers[i].value);
  }
  duro_free(r->headers);
  duro_free(r->body);
  duro_free(r);
}

void duro__request_free(duro_request_t *r) {
  if (r->http)
    duro_http_req_free(r->http);
  duro_free(r->path);
  duro_free(r->stub_name);
  duro_free(r);
}

static void deliver_response(duro_request_t *r, held_resp_t *resp) {
  duro_object_t *target = r->target;
  if (target)
    target->open_requests--;
  if (r->caller) {
    /* A stub call: the response is an event of the caller. */
    obj_event_t *ev = duro_calloc(1, sizeof(*ev));
    ev->kind = EV_STUB_DONE;
    ev->cb = r->cb;
    ev->cb_ud = r->cb_ud;
    ev->resp = resp;
    duro__post(r->rt, r->caller, ev);
    duro__request_free(r);
    return;
  }
  duro_http_respond(r->http, resp->status, resp->headers, resp->nheaders,
                    resp->body, resp->body_len);
  r->http = NULL;
  duro__resp_free(resp);
  duro__request_free(r);
}

static void dispatch_request(duro_runtime_t *rt, duro_request_t *r,
                             duro_object_t *o) {
  obj_event_t *ev = duro_calloc(1, sizeof(*ev));
  ev->kind = EV_FETCH;
  ev->req = r;
  r->target = o;
  duro__object_deliver(o, ev);
}

static void run_op(duro_object_t *o, held_op_t *op) {
  switch (op->kind) {
  case HELD_BROADCAST:
    duro__release_broadcast(o, op);
    break;
  case HELD_SEND:
    if (duro_ws_send_frame(op->u.send.conn, op->u.send.frame) ==
            DURO_ECLOSED &&
        !op->u.send.conn->closed)
      duro_ws_close(op->u.send.conn, 1011, "gone");
    break;
  case HELD_CLOSE:
    duro_ws_close(op->u.close.conn, op->u.close.code,
                  op->u.close.reason ? op->u.close.reason : "");
    break;
  case HELD_RESPOND:
    deliver_response(op->u.respond.req, op->u.respond.resp);
    op->u.respond.req = NULL;
    op->u.respond.resp = NULL;
    break;
  case HELD_STUB: {
    duro_request_t *r = op->u.stub.req;
    op->u.stub.req = NULL;
    duro_object_t *target =
        r->stub_name
            ? duro__object_get(o->rt, r->stub_ns, r->stub_name,
                               strlen(r->stub_name)) /* C string: strdup'd */
            : duro__object_get_id(o->rt, r->stub_ns, r->stub_id);
    obj_event_t *ev = duro_calloc(1, sizeof(*ev));
    ev->kind = EV_FETCH;
    ev->req = r;
    r->target = target;
    duro__post(o->rt, target, ev);
    break;
  }
  }
  drop_op(op);
}

/* Frees what an op holds without performing it. A dropped response or
 * stub call still gets an answer, so no caller waits forever. */
static void drop_op(held_op_t *op) {
  switch (op->kind) {
  case HELD_BROADCAST:
    duro_chunk_unref(op->u.bc.frame);
    duro_free(op->u.bc.tag);
    if (op->u.bc.except)
      duro_conn_unref(op->u.bc.except);
    break;
  case HELD_SEND:
    duro_chunk_unref(op->u.send.frame);
    duro_conn_unref(op->u.send.conn);
    break;
  case HELD_CLOSE:
    duro_free(op->u.close.reason);
    duro_conn_unref(op->u.close.conn);
    break;
  case HELD_RESPOND:
    if (op->u.respond.req) {
      duro__resp_free(op->u.respond.resp);
      deliver_response(op->u.respond.req, resp_500());
    }
    break;
  case HELD_STUB:
    if (op->u.stub.req) {
      duro_request_t *r = op->u.stub.req;
      obj_event_t *ev = duro_calloc(1, sizeof(*ev));
      ev->kind = EV_STUB_DONE;
      ev->cb = r->cb;
      ev->cb_ud = r->cb_ud;
      ev->err = DURO_ECANCELED;
      duro__post(r->rt, r->caller, ev);
      duro__request_free(r);
    }
    break;
  }
  memset(op, 0, sizeof(*op));
}

static void release(duro_object_t *o) {
  while (o->ops_head < o->nops && o->ops[o->ops_head].tag <= o->durable) {
    held_op_t op = o->ops[o->ops_head++];
    run_op(o, &op);
  }
  if (o->ops_head == o->nops && !o->in_event) {
    o->ops_head = o->nops = 0;
    o->ev_first_op = 0;
  }
}

/* ---- store jobs for built-in classes ---------------------------------------- */

typedef struct job_ctx {
  duro_object_t *o;
  duro_job_work_fn work;
  duro_job_done_fn done;
  void *arg;
} job_ctx_t;

static int job_work(sqlite3 *db, void *data) {
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

duro_store_t *duro_runtime_store(const duro_runtime_t *rt) { return rt->store; }

/* ---- requests from HTTP ---------------------------------------------------------- */

void duro_runtime_fetch(duro_runtime_t *rt, const char *binding,
                        size_t binding_len, const char *name, size_t name_len,
                        duro_http_req_t *req, const char *path,
                        size_t path_len) {
  ns_t *ns = duro__ns_find(rt, binding, binding_len);
  if (!ns) {
    duro_http_respond_text(req, 404, NULL, "No such binding");
    return;
  }
  if (rt->shutting_down) {
    duro_http_respond_text(req, 503, NULL, "Shutting down");
    return;
  }
  duro_request_t *r = duro_calloc(1, sizeof(*r));
  r->rt = rt;
  r->http = req;
  r->path = duro_strndup(path, path_len);
  r->path_len = path_len;
  duro_object_t *o = duro__object_get(rt, ns, name, name_len);
  dispatch_request(rt, r, o);
}

/* ---- alarms ------------------------------------------------------------------------- */

alarm_ent_t *duro__alarm_find(duro_runtime_t *rt, const char *id,
                              const char *name) {
  for (size_t i = 0; i < rt->nalarms; i++)
    if (memcmp(rt->alarms[i]->id, id, 64) == 0 &&
        strcmp(rt->alarms[i]->name, name) == 0)
      return rt->alarms[i];
  return NULL;
}

static void on_alarm_timer(uv_timer_t *t);

void duro__alarm_reschedule(duro_runtime_t *rt) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < rt->nalarms; i++)
    if (!rt->alarms[i]->running && rt->alarms[i]->due < next)
      next = rt->alarms[i]->due;
  uv_timer_stop(&rt->alarm_timer);
  if (next == INT64_MAX || rt->shutting_down)
    return;
  int64_t delay = next - duro_now_ms();
  uv_timer_start(&rt->alarm_timer, on_alarm_timer,
                 delay > 0 ? (uint64_t)delay : 0, 0);
}

static void on_alarm_timer(uv_timer_t *t) {
  duro_runtime_t *rt = t->data;
  int64_t now = duro_now_ms();
  for (size_t i = 0; i < rt->nalarms; i++) {
    alarm_ent_t *a = rt->alarms[i];
    if (a->running || a->due > now)
      continue;
    a->running = 1;
    size_t nlen = 0;
    if (a->obj_name)
      nlen = strlen(a->obj_name); /* C string: a strdup'd object name */
    duro_object_t *o = object_get_by_id(rt, a->ns, a->id, a->obj_name, nlen);
    obj_event_t *ev = duro_calloc(1, sizeof(*ev));
    ev->kind = EV_ALARM;
    ev->alarm = a;
    duro__post(rt, o, ev);
  }
  duro__alarm_reschedule(rt);
}

static void on_alarms_loaded(int status, duro_alarm_row_t *rows, size_t n,
                             void *data) {
  duro_runtime_t *rt = data;
  if (status < 0) {
    duro_log_error("loading alarms failed: %s", duro_strerror(status));
    return;
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    ns_t *ns = duro__ns_find(
        rt, rows[i].namespace_name,
        strlen(rows[i].namespace_name)); /* C string: an SQLite text */
    if (!ns) {
      duro_log_warn("alarm of object %s in unbound namespace '%s' ignored",
                    rows[i].object_id, rows[i].namespace_name);
      continue;
    }
    alarm_ent_t *a = duro_calloc(1, sizeof(*a));
    memcpy(a->id, rows[i].object_id, 65);
    a->ns = ns;
    a->obj_name = rows[i].object_name ? duro_strdup(rows[i].object_name) : NULL;
    a->name = duro_strdup(rows[i].alarm_name);
    a->due = rows[i].due_ms;
    if (rt->nalarms == rt->capalarms) {
      rt->capalarms = rt->capalarms ? rt->capalarms * 2 : 16;
      rt->alarms = duro_realloc(rt->alarms, rt->capalarms * sizeof(*rt->alarms));
    }
    rt->alarms[rt->nalarms++] = a;
    kept++;
  }
  duro_store_alarms_free(rows, n);
  if (kept)
    duro_log_info("%zu pending alarm(s) restored", kept);
  duro__alarm_reschedule(rt);
}

/* ---- eviction ------------------------------------------------------------------------- */

static int evictable(const duro_object_t *o, uint64_t now, uint64_t idle) {
  return o->phase == OBJ_READY && !o->in_event && o->nsockets == 0 &&
         duro_list_empty(&o->waiting) && o->open_requests == 0 &&
         o->open_stubs == 0 && o->submitted == o->durable &&
         o->ops_head == o->nops && now - o->last_active_ms >= idle;
}

static void on_evict_timer(uv_timer_t *t) {
  duro_runtime_t *rt = t->data;
  uint64_t now = uv_now(rt->loop);
  uint64_t idle = rt->shutting_down ? 0 : rt->cfg->limits.object_idle_ms;
  DURO_LIST_FOREACH_SAFE(it, tmp, &rt->objects) {
    duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    /* an object whose alarm is being delivered stays */
    int alarm_running = 0;
    for (size_t i = 0; i < rt->nalarms; i++)
      if (rt->alarms[i]->running && memcmp(rt->alarms[i]->id, o->id, 64) == 0)
        alarm_running = 1;
    if (!alarm_running && evictable(o, now, idle))
      object_free(o);
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
  table_grow(rt);
  rt->ws_opts.max_message = cfg->limits.ws_max_message_bytes;
  rt->ws_opts.ping_interval_s = (cfg->limits.ws_ping_interval_ms + 999) / 1000;
  rt->ws_opts.pong_timeout_s = (cfg->limits.ws_pong_timeout_ms + 999) / 1000;
  uv_timer_init(loop, &rt->alarm_timer);
  rt->alarm_timer.data = rt;
  uv_timer_init(loop, &rt->evict_timer);
  rt->evict_timer.data = rt;
  uv_idle_init(loop, &rt->poster);
  rt->poster.data = rt;
  return rt;
}

/* duro_class_t as ABI 1 defines it ends with teardown. A table that says
 * it is shorter is not an ABI 1 table; a longer one comes from a newer
 * header and may only carry zeros (handlers left unset) past our end. */
#define CLASS_SIZE_V1 \
  (offsetof(duro_class_t, teardown) + sizeof(((duro_class_t *)0)->teardown))

#define class_error(err, errlen, ...)                                        \
  duro_err_fmt(DURO_EINVAL, err, errlen, __VA_ARGS__)

int duro_runtime_check_class(const duro_class_t *cls, char *err,
                             size_t errlen) {
  if (!cls->name || !*cls->name ||
      strlen(cls->name) > 128) /* C string: a class's name, per duro.h */
    return class_error(err, errlen,
                       "a class table without a name (or a name over 128 "
                       "bytes)");
  if (cls->abi_version != DURO_ABI_VERSION)
    return class_error(err, errlen,
                       "class '%s' is built for duro ABI %u, this duro has "
                       "ABI %d",
                       cls->name, (unsigned)cls->abi_version,
                       DURO_ABI_VERSION);
  if (cls->struct_size < CLASS_SIZE_V1)
    return class_error(err, errlen,
                       "class '%s' has struct_size %u, not a duro_class_t of "
                       "ABI %d (start the table with DURO_CLASS_INIT)",
                       cls->name, (unsigned)cls->struct_size,
                       DURO_ABI_VERSION);
  const unsigned char *p = (const unsigned char *)cls;
  for (size_t i = sizeof(duro_class_t); i < cls->struct_size; i++)
    if (p[i])
      return class_error(err, errlen,
                         "class '%s' sets handlers this duro does not know "
                         "(built with a newer duro.h: struct_size %u > %zu)",
                         cls->name, (unsigned)cls->struct_size,
                         sizeof(duro_class_t));
  return 0;
}

const char *duro_runtime_class_origin(const duro_runtime_t *rt,
                                      const char *name) {
  for (size_t i = 0; i < rt->nclasses; i++)
    if (strcmp(rt->classes[i]->cls.name, name) == 0)
      return rt->classes[i]->origin;
  return NULL;
}

int duro_runtime_add_class(duro_runtime_t *rt, const duro_class_t *cls,
                           const char *origin, char *err, size_t errlen) {
  int rc = duro_runtime_check_class(cls, err, errlen);
  if (rc < 0)
    return rc;
  const char *by = duro_runtime_class_origin(rt, cls->name);
  if (by) {
    class_error(err, errlen, "class '%s' is already registered (by %s)",
                cls->name, by);
    return DURO_EEXIST;
  }
  class_ent_t *e = duro_calloc(1, sizeof(*e));
  e->table = cls;
  size_t n = cls->struct_size < sizeof(e->cls) ? cls->struct_size
                                               : sizeof(e->cls);
  memcpy(&e->cls, cls, n); /* the rest stays zero: handlers unset */
  e->cls.struct_size = sizeof(e->cls);
  e->origin = origin ? origin : "built-in";
  rt->classes = duro_realloc(rt->classes,
                             (rt->nclasses + 1) * sizeof(*rt->classes));
  rt->classes[rt->nclasses++] = e;
  return 0;
}

int duro_runtime_register(duro_runtime_t *rt, const duro_class_t *cls) {
  return duro_runtime_add_class(rt, cls, NULL, NULL, 0);
}

int duro_runtime_bind(duro_runtime_t *rt, char *err, size_t errlen) {
  const duro_config_t *cfg = rt->cfg;
  rt->ns = duro_calloc(cfg->nbindings ? cfg->nbindings : 1, sizeof(*rt->ns));
  for (size_t i = 0; i < cfg->nbindings; i++) {
    const class_ent_t *ce = NULL;
    for (size_t j = 0; j < rt->nclasses; j++)
      if (strcmp(rt->classes[j]->cls.name, cfg->bindings[i].class_name) == 0)
        ce = rt->classes[j];
    if (!ce)
      return duro_err_fmt(DURO_ENOENT, err, errlen,
                          "binding %s: no class named '%s'",
                          cfg->bindings[i].name, cfg->bindings[i].class_name);
    rt->ns[rt->nns].name = cfg->bindings[i].name;
    rt->ns[rt->nns].cls = &ce->cls;
    rt->ns[rt->nns].table = ce->table;
    rt->nns++;
  }
  return 0;
}

void duro_runtime_start(duro_runtime_t *rt) {
  duro_store_load_alarms(rt->store, on_alarms_loaded, rt);
  uv_timer_start(&rt->evict_timer, on_evict_timer, EVICT_SWEEP_MS,
                 EVICT_SWEEP_MS);
}

void duro_runtime_shutdown(duro_runtime_t *rt, void (*cb)(void *data),
                           void *data) {
  rt->shutting_down = 1;
  rt->shutdown_cb = cb;
  rt->shutdown_data = data;
  uv_timer_stop(&rt->alarm_timer);
  DURO_LIST_FOREACH(it, &rt->objects) {
    duro_object_t *o = DURO_CONTAINER_OF(it, duro_object_t, node);
    DURO_LIST_FOREACH(si, &o->sockets) {
      duro_socket_t *s = DURO_CONTAINER_OF(si, duro_socket_t, node);
      if (s->conn)
        duro_ws_close(s->conn, 1001, "going away");
    }
  }
  /* Sockets close, instances then become idle; the sweeper finishes. */
  uv_timer_stop(&rt->evict_timer);
  uv_timer_start(&rt->evict_timer, on_evict_timer, 50, 50);
}

/* Each of the three handles' close callbacks counts down; the last one
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
      free_event(DURO_CONTAINER_OF(n, obj_event_t, node));
    }
    object_free(o);
  }
  for (size_t i = 0; i < rt->nalarms; i++) {
    duro_free(rt->alarms[i]->obj_name);
    duro_free(rt->alarms[i]->name);
    duro_free(rt->alarms[i]);
  }
  duro_free(rt->alarms);
  duro_free(rt->ns);
  for (size_t i = 0; i < rt->nclasses; i++)
    duro_free(rt->classes[i]);
  duro_free(rt->classes);
  duro_free(rt->buckets);
  rt->closing_handles = 3;
  uv_close((uv_handle_t *)&rt->alarm_timer, free_runtime);
  uv_close((uv_handle_t *)&rt->evict_timer, free_runtime);
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
}
