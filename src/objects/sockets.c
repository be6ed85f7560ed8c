/*
 * sockets.c: WebSockets owned by objects (the hibernation-style API):
 * accept with tags and an attachment, iterate, send, close, broadcast.
 *
 * A socket record holds a reference to its connection, so a held output
 * that names it stays safe after the peer is gone; the record itself is
 * freed (registry.c) once the object's ws_close event has run. Sends,
 * closes and broadcasts are held in the output gate (gate.c, which also
 * fans broadcasts out); messages and closes become events (events.c).
 *
 * Calls registry.c, gate.c and events.c inside objects/ (see object.h).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "objects/events.h"
#include "objects/gate.h"
#include "objects/registry.h"
#include "ws/frame.h"

static void sock_on_message(duro_conn_t *c, int opcode, const uint8_t *data,
                            size_t len, void *ud) {
  duro_socket_t *s = ud;
  duro_object_t *o = s->obj;
  (void)c;
  obj_event_t *ev = duro_calloc(1, sizeof(*ev));
  ev->kind = EV_WS_MESSAGE;
  ev->sock = s;
  ev->opcode = opcode;
  /* Borrowed: run at once without a copy; copied only if it must wait. */
  ev->data = (uint8_t *)data;
  ev->len = len;
  ev->borrowed = 1;
  duro__object_deliver(o, ev);
}

static void sock_on_close(duro_conn_t *c, int code, const char *reason,
                          size_t reason_len, void *ud) {
  duro_socket_t *s = ud;
  duro_object_t *o = s->obj;
  duro_list_remove(&s->node);
  o->nsockets--;
  obj_event_t *ev = duro_calloc(1, sizeof(*ev));
  ev->kind = EV_WS_CLOSE;
  ev->sock = s;
  ev->code = code;
  ev->data = duro_memdup(reason, reason_len);
  ev->len = reason_len;
  duro__object_deliver(o, ev);
}

static const duro_ws_handler_t object_ws_handler = {
    .on_message = sock_on_message,
    .on_close = sock_on_close,
};

duro_socket_t *duro_accept_websocket(duro_request_t *r,
                                     const char *const *tags, size_t ntags,
                                     const void *attachment, size_t len) {
  duro_object_t *o = r->target;
  if (r->answered)
    return NULL;
  if (!r->http || r->caller || !r->http->conn || ntags > DURO_MAX_TAGS ||
      len > DURO_MAX_ATTACHMENT) {
    duro__respond(r, r->caller ? 426 : 500, NULL,
                  "WebSocket upgrade not possible here", 35);
    return NULL;
  }
  for (size_t i = 0; i < ntags; i++)
    if (strlen(tags[i]) > DURO_MAX_TAG_BYTES) { /* C string: per duro.h */
      duro__respond(r, 500, NULL, "tag too long", 12);
      return NULL;
    }
  duro_socket_t *s = duro_calloc(1, sizeof(*s));
  s->obj = o;
  s->opened_s = (uint32_t)(uv_now(o->rt->loop) / 1000);
  duro_conn_t *c = duro_ws_accept(r->http, &object_ws_handler, s,
                                  &o->rt->ws_opts, NULL, 0);
  r->http = NULL;
  r->answered = 1;
  o->open_requests--;
  int in_fetch = o->cur_fetch == r;
  if (in_fetch)
    r->upgraded = 1; /* run_event frees it after the handler returns */
  else
    duro__request_free(r);
  if (!c) {
    duro_free(s);
    return NULL;
  }
  s->conn = duro_conn_ref(c);
  if (in_fetch)
    o->ev_accepted = s; /* closed with 1011 if the fetch fails */
  if (ntags) {
    s->tags = duro_calloc(ntags, sizeof(char *));
    for (size_t i = 0; i < ntags; i++)
      s->tags[i] = duro_strdup(tags[i]);
    s->ntags = (uint8_t)ntags;
  }
  if (len)
    s->attachment = duro_memdup(attachment, len);
  s->attachment_len = len;
  duro_list_insert_tail(&o->sockets, &s->node);
  o->nsockets++;
  return s;
}

int duro_socket_has_tag(const duro_socket_t *s, const char *tag) {
  return duro__socket_has_tag(s, tag);
}

duro_socket_t *duro_socket_next(duro_object_t *o, duro_socket_t *prev,
                                const char *tag) {
  duro_list_t *it = prev ? prev->node.next : o->sockets.next;
  for (; it != &o->sockets; it = it->next) {
    duro_socket_t *s = DURO_CONTAINER_OF(it, duro_socket_t, node);
    if (!tag || duro__socket_has_tag(s, tag))
      return s;
  }
  return NULL;
}

size_t duro_socket_count(const duro_object_t *o) { return o->nsockets; }

int duro_socket_send(duro_socket_t *s, int is_text, const void *data,
                     size_t len) {
  if (!s->conn || !duro_ws_is_open(s->conn))
    return DURO_ECLOSED;
  held_op_t *op = duro__hold(s->obj, HELD_SEND);
  op->u.send.conn = duro_conn_ref(s->conn);
  op->u.send.frame = duro_ws_frame_chunk(
      is_text ? DURO_WS_OP_TEXT : DURO_WS_OP_BINARY, data, len);
  op->u.send.whole = 1;
  return 0;
}

int duro_socket_close(duro_socket_t *s, int code, const char *reason) {
  if (!s->conn)
    return DURO_ECLOSED;
  if (code != 1000 && (code < 3000 || code > 4999))
    return DURO_EINVAL;
  held_op_t *op = duro__hold(s->obj, HELD_CLOSE);
  op->u.close.conn = duro_conn_ref(s->conn);
  op->u.close.code = (uint16_t)code;
  op->u.close.reason = reason ? duro_strndup(reason, strnlen(reason, 123)) : NULL;
  return 0;
}

int duro_broadcast(duro_object_t *o, const char *tag,
                   const duro_socket_t *except, int is_text,
                   const void *data, size_t len) {
  held_op_t *op = duro__hold(o, HELD_BROADCAST);
  op->u.bc.frame = duro_ws_frame_chunk(
      is_text ? DURO_WS_OP_TEXT : DURO_WS_OP_BINARY, data, len);
  op->u.bc.tag = tag ? duro_strdup(tag) : NULL;
  op->u.bc.except = except && except->conn ? duro_conn_ref(except->conn) : NULL;
  int n = 0;
  DURO_LIST_FOREACH(it, &o->sockets) {
    duro_socket_t *s = DURO_CONTAINER_OF(it, duro_socket_t, node);
    if ((!tag || duro__socket_has_tag(s, tag)) &&
        (!except || s != except))
      n++;
  }
  return n;
}

const void *duro_socket_attachment(const duro_socket_t *s, size_t *len) {
  if (len)
    *len = s->attachment_len;
  return s->attachment;
}

int duro_socket_set_attachment(duro_socket_t *s, const void *data,
                               size_t len) {
  if (len > DURO_MAX_ATTACHMENT)
    return DURO_E2BIG;
  duro_free(s->attachment);
  s->attachment = len ? duro_memdup(data, len) : NULL;
  s->attachment_len = len;
  return 0;
}

/* One held send per piece: released together at the end of the event
 * (or when the event's writes are durable), in order, so the pieces reach
 * the connection's queue back to back as one frame. */
int duro_socket_send_frame(duro_socket_t *s, duro_chunk_t *const *parts,
                           size_t nparts) {
  if (!s->conn || !duro_ws_is_open(s->conn))
    return DURO_ECLOSED;
  for (size_t i = 0; i < nparts; i++) {
    held_op_t *op = duro__hold(s->obj, HELD_SEND);
    op->u.send.conn = duro_conn_ref(s->conn);
    op->u.send.frame = duro_chunk_ref(parts[i]);
    op->u.send.starts_message = i == 0;
  }
  return 0;
}
