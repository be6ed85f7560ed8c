/*
 * gate.c: the output gate. Outputs (responses, socket messages, closes,
 * broadcasts, stub calls) are appended to the object's held list and
 * tagged, when the event ends, with the last sequence number submitted;
 * they are performed in order as soon as the object's durable sequence
 * number reaches their tag, which for an event without writes and
 * nothing in flight is at the end of the event itself.
 *
 * A broadcast is framed once into a refcounted chunk and fanned out here:
 * the same chunk goes into every recipient's send queue.
 *
 * What a released or dropped output sends to another object (a stub
 * call, the answer to one) is appended to rt->posted (duro__post); the
 * caller, events.c, starts the poster that runs it on the next loop turn.
 *
 * Calls only registry.c inside objects/ (see object.h).
 */
#include "objects/gate.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "objects/registry.h"

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

void duro__gate_tag(duro_object_t *o, size_t first, uint64_t tag) {
  for (size_t i = first; i < o->nops; i++)
    o->ops[i].tag = tag;
}

void duro__post(duro_runtime_t *rt, duro_object_t *to, obj_event_t *ev) {
  ev->to = to;
  duro_list_insert_tail(&rt->posted, &ev->node);
}

/* ---- responses ------------------------------------------------------------------ */

held_resp_t *duro__resp_500(void) {
  static const char text[] = "Internal Server Error";
  held_resp_t *resp = duro_calloc(1, sizeof(*resp));
  resp->status = 500;
  resp->body = duro_memdup(text, sizeof(text)); /* with its NUL, as before */
  resp->body_len = sizeof(text) - 1;
  return resp;
}

held_resp_t *duro__resp_unavailable(const char *why) {
  static const char ra[] = "1";
  size_t len = strlen(why); /* C string: the runtime's reason */
  held_resp_t *resp = duro_calloc(1, sizeof(*resp));
  resp->status = 503;
  resp->headers = duro_calloc(1, sizeof(duro_header_t));
  resp->headers[0].name = duro_strndup("Retry-After", 11);
  resp->headers[0].name_len = 11;
  resp->headers[0].value = duro_strndup(ra, 1);
  resp->headers[0].value_len = 1;
  resp->nheaders = 1;
  resp->body = duro_memdup(why, len + 1);
  resp->body_len = len;
  return resp;
}

int duro__respond_headers(duro_request_t *r, int status,
                          const duro_header_t *headers, size_t nheaders,
                          const void *body, size_t len) {
  if (r->answered)
    return DURO_EINVAL;
  if (status < 100 || status > 599 || status == 101)
    status = 500;
  r->answered = 1;
  held_resp_t *resp = duro_calloc(1, sizeof(*resp));
  resp->status = status;
  resp->nheaders = nheaders;
  resp->headers = duro_calloc(nheaders ? nheaders : 1, sizeof(duro_header_t));
  for (size_t i = 0; i < nheaders; i++) {
    resp->headers[i].name = duro_strndup(headers[i].name, headers[i].name_len);
    resp->headers[i].name_len = headers[i].name_len;
    resp->headers[i].value =
        duro_strndup(headers[i].value, headers[i].value_len);
    resp->headers[i].value_len = headers[i].value_len;
  }
  resp->body = duro_memdup(body, len);
  resp->body_len = len;
  held_op_t *op = duro__hold(r->target, HELD_RESPOND);
  op->u.respond.req = r;
  op->u.respond.resp = resp;
  return 0;
}

int duro__respond(duro_request_t *r, int status, const char *content_type,
                  const void *body, size_t len) {
  static const char plain[] = "text/plain;charset=UTF-8";
  duro_header_t h = {"Content-Type", 12, plain, sizeof(plain) - 1};
  if (content_type) {
    h.value = content_type;
    h.value_len = strlen(content_type); /* C string: per duro.h */
  }
  return duro__respond_headers(r, status, &h, 1, body, len);
}

/* The end of a stub call: its callback runs as an event of the caller,
 * with resp (taken over; NULL when there is none) or err. Frees r. */
void duro__stub_answer(duro_request_t *r, held_resp_t *resp, int err) {
  obj_event_t *ev = duro_calloc(1, sizeof(*ev));
  ev->kind = EV_STUB_DONE;
  ev->cb = r->cb;
  ev->cb_ud = r->cb_ud;
  ev->resp = resp;
  ev->err = err;
  duro__post(r->rt, r->caller, ev);
  duro__request_free(r);
}

void duro__request_fail(duro_request_t *r, int status, int err,
                        const char *why) {
  if (r->caller) {
    duro__stub_answer(r, NULL, err);
    return;
  }
  if (r->http) {
    duro_header_t h = {"Retry-After", 11, "1", 1};
    duro_http_respond(r->http, status, &h, 1, why,
                      strlen(why)); /* C string: the runtime's reason */
    r->http = NULL;
  }
  duro__request_free(r);
}

/* Answers r with resp (taken over): over HTTP, or to the calling object. */
static void deliver_response(duro_request_t *r, held_resp_t *resp) {
  duro_object_t *target = r->target;
  if (target)
    target->open_requests--;
  if (r->caller) {
    duro__stub_answer(r, resp, 0);
    return;
  }
  duro_http_respond(r->http, resp->status, resp->headers, resp->nheaders,
                    resp->body, resp->body_len);
  r->http = NULL;
  duro__resp_free(resp);
  duro__request_free(r);
}

/* ---- performing and dropping outputs ---------------------------------------------- */

/* Fans a held broadcast out: the same frame chunk into every queue. */
static void release_broadcast(duro_object_t *o, held_op_t *op) {
  uint64_t sent = 0, deflated = 0;
  /* compressed at most once, for the recipients that negotiated it */
  duro_ws_shared_t m = {.plain = op->u.bc.frame};
  o->rt->broadcasts++;
  DURO_LIST_FOREACH_SAFE(it, tmp, &o->sockets) {
    duro_socket_t *s = DURO_CONTAINER_OF(it, duro_socket_t, node);
    duro_conn_t *c = s->conn;
    if (c == op->u.bc.except ||
        (op->u.bc.tag && !duro__socket_has_tag(s, op->u.bc.tag)))
      continue;
    int rc = duro_ws_send_shared(c, &m);
    sent += rc >= 0;
    deflated += rc == 1;
    if (rc == DURO_ECLOSED && !duro_conn_is_closed(c))
      duro_ws_close(c, 1011, "gone");
  }
  o->rt->deliveries += sent;
  duro_ws_count_sent(sent,
                     (sent - deflated) * m.plain->len +
                         (deflated ? deflated * m.deflated->len : 0),
                     deflated);
  duro_ws_shared_done(&m);
}

static void drop_op(const duro_object_t *o, held_op_t *op);

static void run_op(duro_object_t *o, held_op_t *op) {
  switch (op->kind) {
  case HELD_BROADCAST:
    release_broadcast(o, op);
    break;
  case HELD_SEND:
    if ((op->u.send.whole
             ? duro_ws_send_frame(op->u.send.conn, op->u.send.frame)
             : duro_ws_send_piece(op->u.send.conn, op->u.send.frame,
                                  op->u.send.starts_message)) ==
            DURO_ECLOSED &&
        !duro_conn_is_closed(op->u.send.conn))
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
    /* The call becomes an event of its target, found (and activated)
     * when the event runs. */
    duro_request_t *r = op->u.stub.req;
    op->u.stub.req = NULL;
    obj_event_t *ev = duro_calloc(1, sizeof(*ev));
    ev->kind = EV_FETCH;
    ev->req = r;
    duro__post(o->rt, NULL, ev);
    break;
  }
  }
  drop_op(o, op);
}

/* Frees what an op holds without performing it. A dropped response or
 * stub call still gets an answer, so no caller waits forever: 500, or
 * 503 when the object was given up (another node may serve it now). */
static void drop_op(const duro_object_t *o, held_op_t *op) {
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
      deliver_response(op->u.respond.req,
                       o->phase == OBJ_LOST
                           ? duro__resp_unavailable(
                                 "Service Unavailable: the object moved to "
                                 "another node before this was durable; try "
                                 "again")
                           : duro__resp_500());
    }
    break;
  case HELD_STUB:
    if (op->u.stub.req)
      duro__stub_answer(op->u.stub.req, NULL, DURO_ECANCELED);
    break;
  }
  memset(op, 0, sizeof(*op));
}

void duro__gate_release(duro_object_t *o) {
  while (o->ops_head < o->nops && o->ops[o->ops_head].tag <= o->durable) {
    held_op_t op = o->ops[o->ops_head++];
    run_op(o, &op);
  }
  if (o->ops_head == o->nops && !o->in_event) {
    o->ops_head = o->nops = 0;
    o->ev_first_op = 0;
  }
}

void duro__gate_drop_from(duro_object_t *o, size_t first) {
  for (size_t i = first; i < o->nops; i++)
    drop_op(o, &o->ops[i]);
  o->nops = first;
}

void duro__gate_drop_tagged(duro_object_t *o, uint64_t seq) {
  size_t keep = o->ops_head;
  while (keep < o->nops && o->ops[keep].tag < seq)
    keep++;
  duro__gate_drop_from(o, keep);
}
