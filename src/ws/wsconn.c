/*
 * wsconn.c: the WebSocket protocol on a connection; see wsconn.h.
 */
#include "ws/wsconn.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/handshake.h"
#include "ws/utf8.h"
#include "net/conn_impl.h"

#define CLOSE_WAIT_SECONDS 5

typedef struct ws_state {
  duro_ws_reader_t reader;
  const duro_ws_handler_t *handler;
  const duro_ws_opts_t *opts;
  void *ud;
  uint8_t close_sent;
  uint8_t ping_out;     /* a keepalive ping is waiting for any input */
  uint8_t notified;     /* handler->on_close ran */
  uint16_t close_code;  /* what the application is told */
  uint8_t close_reason_len;
  char *close_reason;   /* allocated only when a close happens */
  duro_chunk_t *pong;   /* the pong owed for the latest ping, not queued */
} ws_state_t;

static const duro_proto_t ws_proto;

static void remember_close(ws_state_t *w, uint16_t code, const char *reason,
                           size_t len) {
  if (w->close_code)
    return;
  w->close_code = code;
  len = duro_ws_close_reason_len(reason, len); /* as the peer gets it */
  w->close_reason = duro_strndup(reason, len);
  w->close_reason_len = (uint8_t)len;
}

static void drop_pong(ws_state_t *w) {
  duro_chunk_unref(w->pong);
  w->pong = NULL;
}

/* Makes the pong owed answer the latest ping. A pong not queued yet is
 * ours alone (one reference), so it is rewritten in place when the size
 * matches: a flood of pings costs no allocation per ping. */
static void set_pong(ws_state_t *w, const uint8_t *payload, size_t len) {
  if (w->pong && w->pong->refs == 1 && w->pong->len == 2 + len) {
    if (len)
      memcpy(w->pong->data + 2, payload, len);
    return;
  }
  drop_pong(w);
  w->pong = duro_ws_frame_chunk(DURO_WS_OP_PONG, payload, len);
}

/* Queues the pong owed, if any (before a close frame, or when the
 * connection is about to write: ws_on_flush). */
static void send_pong(duro_conn_t *c, ws_state_t *w) {
  if (!w->pong)
    return;
  if (!w->close_sent)
    duro_conn_send(c, w->pong);
  drop_pong(w);
}

static void ws_on_flush(duro_conn_t *c) {
  ws_state_t *w = c->proto_data;
  if (w)
    send_pong(c, w);
}

static void send_close_frame(duro_conn_t *c, ws_state_t *w, uint16_t code,
                             const char *reason, size_t len) {
  if (w->close_sent)
    return;
  send_pong(c, w);
  w->close_sent = 1;
  duro_chunk_t *ch = duro_ws_close_chunk(code, reason, len);
  duro_conn_send(c, ch);
  duro_chunk_unref(ch);
}

/* Ends the connection after a protocol error: close frame, then TCP. */
static void fail_connection(duro_conn_t *c, ws_state_t *w, uint16_t code,
                            const char *reason) {
  size_t len = strlen(reason); /* C string: a static reason */
  remember_close(w, code, reason, len);
  drop_pong(w);
  duro_conn_drop_queue(c);
  send_close_frame(c, w, code, reason, len);
  duro_conn_close_after_flush(c);
}

/* Messages received by this process's WebSockets (duro_ws_stats). */
static duro_ws_stats_t ws_stats;

void duro_ws_stats(duro_ws_stats_t *out) { *out = ws_stats; }

/* The peer's address sends messages faster than its per-client rate
 * (net/ratelimit.h): the message is dropped and the socket closed with
 * 1008. Warns at most once a second; the rest are counted. */
static void rate_limited(duro_conn_t *c, ws_state_t *w) {
  static uint64_t last_warn_ms, unreported;
  uint64_t now = uv_now(c->net->loop);
  unreported++;
  if (!last_warn_ms || now - last_warn_ms >= 1000) {
    char peer[64];
    duro_conn_peer(c, peer, sizeof(peer));
    duro_log_with(DURO_LOG_WARN, &(duro_log_fields_t){.remote = peer},
                  "conn %llu: WebSocket over the per-client message rate: "
                  "closing with 1008 (%llu such closes in the last second)",
                  (unsigned long long)c->id, (unsigned long long)unreported);
    last_warn_ms = now;
    unreported = 0;
  }
  fail_connection(c, w, DURO_WS_CLOSE_POLICY, "rate limit exceeded");
}

/* A compressed message's bytes, inflated: one buffer for the process
 * (the loop thread), valid until the next message. */
static duro_buf_t inflated;

/* Inflates ev's message in place of its compressed bytes, at most the
 * message limit; text must then be UTF-8. 0, or DURO_EPROTO after failing
 * the connection (1009 past the limit, 1007 for bad data). */
static int inflate_message(duro_conn_t *c, ws_state_t *w, duro_ws_event_t *ev) {
  /* what a big message grew the buffer to is not kept for good */
  if (inflated.cap > 1024 * 1024)
    duro_buf_free(&inflated);
  int rc = duro_ws_inflate(ev->data, ev->len, w->opts->max_message, &inflated);
  if (rc == DURO_E2BIG) {
    fail_connection(c, w, DURO_WS_CLOSE_TOO_BIG, "message too big");
    return DURO_EPROTO;
  }
  if (rc < 0 ||
      (ev->opcode == DURO_WS_OP_TEXT &&
       duro_utf8_validate(DURO_UTF8_ACCEPT, inflated.data, inflated.len) !=
           DURO_UTF8_ACCEPT)) {
    fail_connection(c, w, DURO_WS_CLOSE_INVALID_DATA,
                    rc < 0 ? "invalid compressed data" : "invalid utf-8");
    return DURO_EPROTO;
  }
  static uint8_t empty[1];
  ev->data = inflated.len ? inflated.data : empty;
  ev->len = inflated.len;
  ws_stats.deflated_in++;
  return 0;
}

static size_t ws_on_data(duro_conn_t *c, uint8_t *data, size_t len) {
  ws_state_t *w = c->proto_data;
  size_t off = 0;
  /* Any input proves the peer alive. */
  w->ping_out = 0;
  if (!w->close_sent)
    duro_conn_set_deadline(c, w->opts->ping_interval_s);
  while (off < len && !c->closed && !c->close_after_drain) {
    duro_ws_event_t ev;
    ssize_t n = duro_ws_reader_feed(&w->reader, data + off, len - off, &ev);
    if (n == DURO_AGAIN)
      break;
    if (n < 0) {
      fail_connection(c, w, ev.error_code, ev.error_reason);
      return len;
    }
    off += (size_t)n;
    switch (ev.opcode) {
    case 0:
      break;
    case DURO_WS_OP_TEXT:
    case DURO_WS_OP_BINARY:
      if (duro_conn_over_message_rate(c)) {
        rate_limited(c, w);
        return len;
      }
      if (ev.compressed && inflate_message(c, w, &ev) < 0)
        return len;
      ws_stats.messages_in++;
      ws_stats.bytes_in += ev.len;
      if (!w->close_sent && w->handler->on_message)
        w->handler->on_message(c, ev.opcode, ev.data, ev.len, w->ud);
      break;
    case DURO_WS_OP_PING:
      /* A ping costs us a pong: it counts as a message. */
      if (duro_conn_over_message_rate(c)) {
        rate_limited(c, w);
        return len;
      }
      if (!w->close_sent) {
        /* The pong is queued when the connection next writes, for the
         * latest ping only (RFC 6455 5.5.3): a peer that floods pings and
         * does not read is owed one pong, not a queue of them. */
        set_pong(w, ev.data, ev.len);
        duro_conn_want_flush(c);
      }
      break;
    case DURO_WS_OP_PONG:
      break;
    case DURO_WS_OP_CLOSE: {
      const char *reason = ev.len > 2 ? (const char *)ev.data + 2 : "";
      size_t rlen = ev.len > 2 ? ev.len - 2 : 0;
      remember_close(w, ev.close_code, reason, rlen);
      /* Echo the peer's code (an empty close is answered empty). */
      if (ev.close_code == DURO_WS_CLOSE_NO_STATUS)
        send_close_frame(c, w, 0, "", 0);
      else
        send_close_frame(c, w, ev.close_code, "", 0);
      duro_conn_close_after_flush(c);
      return len;
    }
    }
  }
  return off;
}

static void ws_on_close(duro_conn_t *c) {
  ws_state_t *w = c->proto_data;
  if (!w)
    return;
  if (!w->close_code)
    remember_close(w, DURO_WS_CLOSE_ABNORMAL, "", 0);
  if (!w->notified) {
    w->notified = 1;
    if (w->handler->on_close)
      w->handler->on_close(c, w->close_code, w->close_reason,
                           w->close_reason_len, w->ud);
  }
  duro_free(w->close_reason);
  drop_pong(w);
  duro_ws_reader_reset(&w->reader);
  c->proto_data = NULL;
  duro_free(w);
}

static void ws_on_timeout(duro_conn_t *c) {
  ws_state_t *w = c->proto_data;
  if (w->close_sent || w->ping_out) {
    /* No close answer, or no sign of life after a ping: the peer is gone. */
    duro_conn_close(c);
    return;
  }
  w->ping_out = 1;
  duro_chunk_t *ch = duro_ws_frame_chunk(DURO_WS_OP_PING, NULL, 0);
  duro_conn_send(c, ch);
  duro_chunk_unref(ch);
  duro_conn_set_deadline(c, w->opts->pong_timeout_s);
}

static void ws_on_overflow(duro_conn_t *c) {
  ws_state_t *w = c->proto_data;
  static const char reason[] = "slow reader: send queue full";
  char peer[64];
  duro_conn_peer(c, peer, sizeof(peer));
  duro_log_with(DURO_LOG_WARN, &(duro_log_fields_t){.remote = peer},
                "conn %llu: closing slow WebSocket reader",
                (unsigned long long)c->id);
  remember_close(w, DURO_WS_CLOSE_POLICY, reason, sizeof(reason) - 1);
  drop_pong(w);
  duro_conn_drop_queue(c);
  send_close_frame(c, w, DURO_WS_CLOSE_POLICY, reason, sizeof(reason) - 1);
  duro_conn_close_after_flush(c);
}

static const duro_proto_t ws_proto = {
    .on_data = ws_on_data,
    .on_close = ws_on_close,
    .on_timeout = ws_on_timeout,
    .on_overflow = ws_on_overflow,
    .on_flush = ws_on_flush,
};

static duro_ws_hdr_t hdr(const duro_http_req_t *req, const char *name) {
  const duro_header_t *h = duro_http_header(req, name);
  duro_ws_hdr_t v = {NULL, 0};
  if (h) {
    v.ptr = h->value;
    v.len = h->value_len;
  }
  return v;
}

int duro_ws_is_upgrade(const duro_http_req_t *req) {
  const duro_header_t *h = duro_http_header(req, "Upgrade");
  return h && duro_http_header_has_token(h->value, h->value_len, "websocket");
}

/* The HTTP status for a bad upgrade request (reason: a static text), or
 * 0 when it is acceptable. */
static int check_request(const duro_http_req_t *req, const char **reason) {
  if (strcmp(req->method, "GET") != 0) {
    *reason = "WebSocket upgrade requires GET";
    return 400;
  }
  if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1)) {
    *reason = "WebSocket upgrade requires HTTP/1.1";
    return 400;
  }
  /* one key, one version: with two, which one the answer is for is a
   * guess (RFC 6455 4.1 allows each only once) */
  if (duro_http_header_count(req, "Sec-WebSocket-Key") > 1 ||
      duro_http_header_count(req, "Sec-WebSocket-Version") > 1) {
    *reason = "more than one Sec-WebSocket-Key or Sec-WebSocket-Version";
    return 400;
  }
  int status;
  duro_ws_check_upgrade(hdr(req, "Upgrade"), hdr(req, "Connection"),
                        hdr(req, "Sec-WebSocket-Version"),
                        hdr(req, "Sec-WebSocket-Key"), &status, reason);
  return status;
}

int duro_ws_refuse_bad_upgrade(duro_http_req_t *req) {
  const char *reason = NULL;
  int status = check_request(req, &reason);
  if (!status)
    return 0;
  duro_header_t hs[2] = {
      {"Content-Type", 12, "text/plain;charset=UTF-8", 24},
      {"Sec-WebSocket-Version", 21, "13", 2},
  };
  duro_http_respond(req, status, hs, status == 426 ? 2 : 1, reason,
                    strlen(reason)); /* C string: a static reason */
  return DURO_EPROTO;
}

duro_conn_t *duro_ws_accept(duro_http_req_t *req, const duro_ws_handler_t *h,
                            void *ud, const duro_ws_opts_t *opts,
                            const duro_header_t *extra, size_t nextra) {
  if (duro_ws_refuse_bad_upgrade(req) < 0)
    return NULL;
  if (!req->conn) {
    duro_http_req_free(req);
    return NULL;
  }
  duro_ws_hdr_t key = hdr(req, "Sec-WebSocket-Key");
  char accept[29];
  duro_ws_accept_key(key.ptr, key.len, accept);

  duro_header_t hs[16];
  size_t n = 0;
  hs[n++] = (duro_header_t){"Upgrade", 7, "websocket", 9};
  hs[n++] = (duro_header_t){"Connection", 10, "Upgrade", 7};
  hs[n++] = (duro_header_t){"Sec-WebSocket-Accept", 20, accept, 28};
  duro_ws_hdr_t ext = hdr(req, "Sec-WebSocket-Extensions");
  int deflate = opts->deflate && duro_ws_deflate_accepts(ext.ptr, ext.len);
  if (deflate)
    hs[n++] = (duro_header_t){"Sec-WebSocket-Extensions", 24,
                              DURO_WS_DEFLATE_ANSWER,
                              sizeof(DURO_WS_DEFLATE_ANSWER) - 1};
  for (size_t i = 0; i < nextra && n < 16; i++)
    hs[n++] = extra[i];
  duro_buf_t out = DURO_BUF_INIT;
  if (duro_http_write_head(&out, 101, hs, n, -1, 0) < 0) {
    duro_buf_free(&out);
    duro_http_respond(req, 500, NULL, 0, "bad upgrade header", 18);
    return NULL;
  }
  duro_http_note_response(req, 101);
  duro_conn_t *c = duro_http_detach_conn(req);
  duro_chunk_t *ch = duro_buf_to_chunk(&out);
  duro_buf_free(&out);
  duro_conn_send(c, ch);
  duro_chunk_unref(ch);

  ws_state_t *w = duro_calloc(1, sizeof(*w));
  duro_ws_reader_init(&w->reader, 1, opts->max_message);
  w->reader.deflate = (uint8_t)deflate;
  w->handler = h;
  w->opts = opts;
  w->ud = ud;
  c->proto = &ws_proto;
  c->proto_data = w;
  duro_conn_set_deadline(c, opts->ping_interval_s);
  return c;
}

/* 1 when c negotiated permessage-deflate and a payload of len bytes is
 * big enough to try compressing. */
static int wants_deflate(const duro_conn_t *c, size_t len) {
  const ws_state_t *w = c->proto_data;
  return w->reader.deflate && len >= w->opts->deflate_min;
}

/* payload compressed into a frame with RSV1 set, or NULL when that
 * would not be smaller. */
static duro_chunk_t *deflated_frame(int opcode, const uint8_t *payload,
                                    size_t len) {
  static duro_buf_t z; /* the loop thread's scratch */
  z.len = 0;
  if (duro_ws_deflate(payload, len, &z) < 0)
    return NULL;
  duro_chunk_t *ch = duro_ws_frame_chunk(opcode, z.data, z.len);
  ch->data[0] |= 0x40; /* RSV1: compressed */
  if (z.cap > 1024 * 1024)
    duro_buf_free(&z);
  return ch;
}

int duro_ws_send(duro_conn_t *c, int opcode, const void *data, size_t len) {
  if (!duro_ws_is_open(c))
    return DURO_ECLOSED;
  duro_chunk_t *ch = NULL;
  if (opcode < DURO_WS_OP_CLOSE && wants_deflate(c, len))
    ch = deflated_frame(opcode, data, len);
  if (ch)
    ws_stats.deflated_out++;
  else
    ch = duro_ws_frame_chunk(opcode, data, len);
  ws_stats.messages_out++;
  ws_stats.bytes_out += ch->len;
  int rc = duro_conn_send(c, ch);
  duro_chunk_unref(ch);
  return rc;
}

int duro_ws_send_piece(duro_conn_t *c, duro_chunk_t *piece,
                       int starts_message) {
  if (!duro_ws_is_open(c))
    return DURO_ECLOSED;
  ws_stats.messages_out += starts_message != 0;
  ws_stats.bytes_out += piece->len;
  return duro_conn_send(c, piece);
}

int duro_ws_send_frame(duro_conn_t *c, duro_chunk_t *frame) {
  duro_ws_shared_t m = {.plain = frame};
  int rc = duro_ws_send_shared(c, &m);
  if (rc >= 0) {
    duro_chunk_t *sent = rc ? m.deflated : frame;
    ws_stats.messages_out++;
    ws_stats.deflated_out += rc;
    ws_stats.bytes_out += sent->len;
  }
  duro_ws_shared_done(&m);
  return rc < 0 ? rc : 0;
}

/* The compressed side of duro_ws_send_shared, out of its fast path. */
static __attribute__((noinline)) int send_shared_deflated(
    duro_conn_t *c, const ws_state_t *w, duro_ws_shared_t *m) {
  if (!m->tried) {
    m->tried = 1;
    const uint8_t *f = m->plain->data;
    size_t hl = duro_ws_frame_header_len(f, m->plain->len);
    int opcode = f[0] & 0x0f;
    if (hl && (f[0] & 0x80) && opcode >= DURO_WS_OP_TEXT &&
        opcode <= DURO_WS_OP_BINARY && m->plain->len - hl >= w->opts->deflate_min)
      m->deflated = deflated_frame(opcode, f + hl, m->plain->len - hl);
  }
  if (!m->deflated)
    return duro_conn_send(c, m->plain);
  int rc = duro_conn_send(c, m->deflated);
  return rc < 0 ? rc : 1;
}

int duro_ws_send_shared(duro_conn_t *c, duro_ws_shared_t *m) {
  /* duro_ws_is_open, spelled out: this runs once per recipient */
  if (c->closed || c->close_after_drain || c->proto != &ws_proto)
    return DURO_ECLOSED;
  const ws_state_t *w = c->proto_data;
  if (w->close_sent)
    return DURO_ECLOSED;
  if (__builtin_expect(!w->reader.deflate, 1))
    return duro_conn_send(c, m->plain);
  return send_shared_deflated(c, w, m);
}

void duro_ws_shared_done(duro_ws_shared_t *m) {
  if (m->deflated)
    duro_chunk_unref(m->deflated);
  m->deflated = NULL;
}

void duro_ws_count_sent(uint64_t messages, uint64_t bytes, uint64_t deflated) {
  ws_stats.messages_out += messages;
  ws_stats.bytes_out += bytes;
  ws_stats.deflated_out += deflated;
}

void duro_ws_close(duro_conn_t *c, uint16_t code, const char *reason) {
  if (c->closed || c->proto != &ws_proto)
    return;
  ws_state_t *w = c->proto_data;
  if (w->close_sent)
    return;
  size_t len = reason ? strlen(reason) : 0; /* C string, as documented */
  remember_close(w, code, reason ? reason : "", len);
  send_close_frame(c, w, code, reason ? reason : "", len);
  duro_conn_set_deadline(c, CLOSE_WAIT_SECONDS);
}

int duro_ws_is_open(const duro_conn_t *c) {
  if (c->closed || c->close_after_drain || c->proto != &ws_proto)
    return 0;
  const ws_state_t *w = c->proto_data;
  return !w->close_sent;
}

void duro_ws_set_ud(duro_conn_t *c, void *ud) {
  if (c->proto == &ws_proto && c->proto_data)
    ((ws_state_t *)c->proto_data)->ud = ud;
}
