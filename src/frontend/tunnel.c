/*
 * tunnel.c: WebSocket forwarding to the backend; see tunnel.h.
 *
 * Lifetime: the tunnel holds a reference to the browser's connection and
 * owns the upstream connection (net/dial.h: plain or TLS) and a timer.
 * Either side closing closes the other; the tunnel is freed when its
 * timer's close callback has run, letting go of the browser there.
 *
 * Shutdown: the relay follows the frame boundaries of what the backend
 * sends (headers only, a few bytes per frame), so that a frontend going
 * away can put its own close frame (1001) between two of them.
 */
#include "frontend/tunnel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/handshake.h"
#include "ws/wsconn.h"

#define MAX_UPSTREAM_HEAD (16 * 1024)
#define UPSTREAM_HIGH_WATER (1024 * 1024)

/* Where a relayed byte stream is in its frames: only headers are read
 * (at most 14 bytes: 2, an 8-byte length, a 4-byte mask). */
typedef struct frame_track {
  uint64_t left;   /* payload bytes left of the current frame */
  uint8_t hdr[14]; /* the header being read */
  uint8_t hdr_len;
} frame_track_t;

typedef struct tunnel {
  duro_dial_t *up;         /* NULL once it ended */
  uv_timer_t timer;
  duro_http_req_t *req;    /* until the browser is answered */
  duro_conn_t *browser;    /* referenced once relaying */
  duro_buf_t head;         /* upstream response head being read */
  char key[25];            /* our key to the backend */
  char browser_accept[29]; /* what we answer the browser */
  uint8_t offered_deflate; /* the browser's permessage-deflate offer went up */
  duro_buf_t request;      /* upgrade request to the backend */
  int relaying;
  int up_open;             /* connected (and under TLS, verified) */
  int up_closed;
  int browser_paused;
  duro_list_t node;        /* in `relaying` while relaying */
  frame_track_t down;      /* frames the backend sends */
  frame_track_t from_browser; /* frames the browser sends (rate limits) */
} tunnel_t;

static const duro_proto_t tunnel_proto;
static duro_list_t relaying = {&relaying, &relaying};

static void tunnel_handle_closed(uv_handle_t *h) {
  tunnel_t *t = h->data;
  if (t->browser) {
    duro_conn_set_proto_data(t->browser, NULL);
    duro_conn_unref(t->browser);
  }
  duro_buf_free(&t->head);
  duro_buf_free(&t->request);
  duro_free(t);
}

static void close_upstream(tunnel_t *t) {
  if (t->up_closed)
    return;
  t->up_closed = 1;
  duro_list_remove(&t->node);
  uv_timer_stop(&t->timer);
  duro_dial_close(t->up);
  t->up = NULL;
  uv_close((uv_handle_t *)&t->timer, tunnel_handle_closed);
}

/* Answers the browser with an error while still in HTTP, and logs it
 * with detail (for the log only, may be NULL). */
static void refuse_why(tunnel_t *t, int status, const char *reason,
                       const char *detail) {
  if (t->req) {
    duro_log_warn("WebSocket forwarding refused (%d): %s%s%s", status, reason,
                  detail ? ": " : "", detail ? detail : "");
    duro_http_respond_text(t->req, status, NULL, reason);
    t->req = NULL;
  }
  close_upstream(t);
}

static void refuse(tunnel_t *t, int status, const char *reason) {
  refuse_why(t, status, reason, NULL);
}

/* ---- browser side (after the 101) ---------------------------------------- */

static void write_upstream(tunnel_t *t, const uint8_t *data, size_t len) {
  if (duro_dial_write(t->up, data, len) < 0) {
    duro_conn_close(t->browser);
    close_upstream(t);
    return;
  }
  if (duro_dial_queued(t->up) > UPSTREAM_HIGH_WATER) {
    t->browser_paused = 1;
    duro_conn_pause_reading(t->browser);
  }
}

/*
 * Follows the frame boundaries in n bytes of a relayed stream. Returns how
 * many of the frames that begin in them start a message or are a ping:
 * what the backend's own WebSocket code counts against a client's message
 * rate (a continuation is part of a message already counted).
 */
static size_t track_frames(frame_track_t *f, const uint8_t *p, size_t n) {
  size_t messages = 0;
  while (n > 0) {
    if (f->left) {
      size_t k = n < f->left ? n : (size_t)f->left;
      f->left -= k;
      p += k;
      n -= k;
      continue;
    }
    f->hdr[f->hdr_len++] = *p++;
    n--;
    if (f->hdr_len < 2)
      continue;
    uint8_t l7 = f->hdr[1] & 0x7f;
    size_t ext = l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
    size_t need = 2 + ext + ((f->hdr[1] & 0x80) ? 4 : 0);
    if (f->hdr_len < need)
      continue;
    uint64_t len = ext ? 0 : l7;
    for (size_t i = 0; i < ext; i++)
      len = len << 8 | f->hdr[2 + i];
    uint8_t opcode = f->hdr[0] & 0x0f;
    if (opcode == DURO_WS_OP_TEXT || opcode == DURO_WS_OP_BINARY ||
        opcode == DURO_WS_OP_PING)
      messages++;
    f->left = len;
    f->hdr_len = 0;
  }
  return messages;
}

/* Ends a relay from the frontend's side: the browser gets a close frame
 * when the backend's stream is between two frames (else it would land
 * inside one), then both sides close. */
static void end_relay(tunnel_t *t, uint16_t code, const char *reason) {
  duro_conn_t *c = t->browser;
  if (c && !duro_conn_is_closed(c) && t->down.left == 0 && t->down.hdr_len == 0) {
    duro_chunk_t *ch = duro_ws_close_chunk(code, reason,
                                           strlen(reason)); /* C string */
    duro_conn_send(c, ch);
    duro_chunk_unref(ch);
  }
  if (c)
    duro_conn_close_after_flush(c);
  close_upstream(t);
}

static size_t browser_on_data(duro_conn_t *c, uint8_t *data, size_t len) {
  tunnel_t *t = duro_conn_proto_data(c);
  if (!t || t->up_closed)
    return len;
  /* The backend sees every relayed socket as coming from this frontend
   * (loopback, exempt), so the browser's message rate is checked here. */
  if (t->relaying) {
    size_t messages = track_frames(&t->from_browser, data, len);
    while (messages--)
      if (duro_conn_over_message_rate(c)) {
        end_relay(t, 1008, "rate limit exceeded");
        return len;
      }
  }
  write_upstream(t, data, len);
  return len;
}

static void browser_on_close(duro_conn_t *c) {
  tunnel_t *t = duro_conn_proto_data(c);
  if (t)
    close_upstream(t);
}

static void browser_on_overflow(duro_conn_t *c) {
  /* the browser does not read what the backend sends: give up on both */
  duro_conn_close(c);
}

static const duro_proto_t tunnel_proto = {
    .on_data = browser_on_data,
    .on_close = browser_on_close,
    .on_overflow = browser_on_overflow,
};

/* ---- upstream side ---------------------------------------------------------- */

/* Relays bytes from the backend to the browser. */
static void relay_down(tunnel_t *t, const void *data, size_t n) {
  track_frames(&t->down, data, n);
  if (t->browser && !duro_conn_is_closed(t->browser))
    duro_conn_send_copy(t->browser, data, n);
}

/* The backend said 101: answer the browser (with the extension the
 * backend chose, ext, when it chose one) and start relaying. */
static void start_relay(tunnel_t *t, duro_ws_hdr_t ext, const uint8_t *rest,
                        size_t rest_len) {
  duro_http_req_t *req = t->req;
  t->req = NULL;
  duro_header_t hs[4] = {
      {"Upgrade", 7, "websocket", 9},
      {"Connection", 10, "Upgrade", 7},
      {"Sec-WebSocket-Accept", 20, t->browser_accept, 28},
      {"Sec-WebSocket-Extensions", 24, ext.ptr, ext.len},
  };
  duro_buf_t out = DURO_BUF_INIT;
  duro_http_write_head(&out, 101, hs, ext.ptr ? 4 : 3, -1, 0);
  duro_http_note_response(req, 101);
  duro_conn_t *c = duro_http_detach_conn(req);
  if (!c) {
    duro_buf_free(&out);
    close_upstream(t);
    return;
  }
  duro_conn_send_copy(c, out.data, out.len);
  duro_buf_free(&out);
  t->browser = duro_conn_ref(c);
  duro_conn_set_proto(c, &tunnel_proto, t);
  duro_conn_set_deadline(c, 0); /* the backend pings; its silence ends us */
  t->relaying = 1;
  uv_timer_stop(&t->timer);
  duro_list_insert_tail(&relaying, &t->node);
  if (rest_len)
    relay_down(t, rest, rest_len);
}

/* Checks the upstream answer once its head is complete (every parse is
 * bounded by head.len: the buffer is not NUL-terminated). */
static void on_up_head(tunnel_t *t) {
  int status;
  const char *why;
  duro_ws_hdr_t ext;
  int n = duro_ws_check_answer_ext((const char *)t->head.data, t->head.len,
                                   t->key, t->offered_deflate, &ext, &status,
                                   &why);
  if (n == DURO_AGAIN)
    return;
  if (n < 0 && status != 101) {
    if (status == 0) {
      refuse(t, 502, "Bad Gateway: malformed answer from the backend");
      return;
    }
    char msg[64];
    if (duro_fmt(msg, sizeof(msg), "The backend answered %d to the "
                 "WebSocket upgrade", status) < 0)
      abort(); /* a three-digit status always fits */
    refuse(t, status >= 400 && status < 600 ? status : 502, msg);
    return;
  }
  if (n < 0) {
    refuse_why(t, 502, "Bad Gateway: the backend's upgrade answer is wrong",
               why);
    return;
  }
  start_relay(t, ext, t->head.data + n, t->head.len - (size_t)n);
  duro_buf_free(&t->head);
}

static void on_up_data(void *ud, const uint8_t *data, size_t len) {
  tunnel_t *t = ud;
  if (t->relaying) {
    relay_down(t, data, len);
    return;
  }
  duro_buf_append(&t->head, data, len);
  if (t->head.len > MAX_UPSTREAM_HEAD) {
    refuse(t, 502, "Bad Gateway: oversized answer from the backend");
    return;
  }
  on_up_head(t);
}

static void on_up_end(void *ud, int err, const char *why) {
  tunnel_t *t = ud;
  t->up = NULL; /* gone after this call */
  if (t->relaying) {
    if (t->browser)
      duro_conn_close_after_flush(t->browser);
    close_upstream(t);
  } else if (!t->up_open) {
    refuse_why(t, 502, "Bad Gateway: backend unavailable", why);
  } else {
    refuse_why(t, 502, "Bad Gateway: the backend closed the connection",
               err ? why : NULL);
  }
}

static void on_up_open(void *ud) {
  tunnel_t *t = ud;
  t->up_open = 1;
  if (duro_dial_write(t->up, t->request.data, t->request.len) < 0)
    refuse(t, 502, "Bad Gateway: cannot send to the backend");
}

/* The backend took what waited: the browser may send again. */
static void on_up_written(void *ud) {
  tunnel_t *t = ud;
  if (t->browser_paused && t->up &&
      duro_dial_queued(t->up) < UPSTREAM_HIGH_WATER / 2) {
    t->browser_paused = 0;
    duro_conn_resume_reading(t->browser);
  }
}

static const duro_dial_cbs_t up_cbs = {
    .on_open = on_up_open,
    .on_data = on_up_data,
    .on_end = on_up_end,
    .on_written = on_up_written,
};

static void on_up_timeout(uv_timer_t *tm) {
  refuse(tm->data, 504, "Gateway Timeout: the backend did not answer");
}

static void fail_soon(uv_timer_t *tm) {
  refuse(tm->data, 502, "Bad Gateway: cannot connect to the backend");
}

void duro_tunnel_start(duro_http_req_t *req, uv_loop_t *loop,
                       const duro_url_t *backend, const char *path,
                       const char *secret, unsigned timeout_ms) {
  if (duro_ws_refuse_bad_upgrade(req) < 0)
    return;
  const duro_header_t *key = duro_http_header(req, "Sec-WebSocket-Key");
  tunnel_t *t = duro_calloc(1, sizeof(*t));
  t->req = req;
  duro_ws_accept_key(key->value, key->value_len, t->browser_accept);
  duro_ws_client_key(t->key);
  duro_url_write_request_line(&t->request, backend, "GET", path);
  duro_buf_printf(&t->request,
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
                  t->key);
  if (secret)
    duro_buf_printf(&t->request, "Authorization: Bearer %s\r\n", secret);
  /* The browser's permessage-deflate offer goes up when it is one duro
   * takes (checked token by token, so only those bytes are copied): the
   * frames are relayed as they are, compressed or not. */
  const duro_header_t *ext = duro_http_header(req, "Sec-WebSocket-Extensions");
  if (ext && duro_ws_deflate_accepts(ext->value, ext->value_len)) {
    duro_buf_append_str(&t->request, "Sec-WebSocket-Extensions: ");
    duro_buf_append(&t->request, ext->value, ext->value_len);
    duro_buf_append_str(&t->request, "\r\n");
    t->offered_deflate = 1;
  }
  duro_buf_append_str(&t->request, "\r\n");

  duro_list_init(&t->node);
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  if (duro_url_dial(&t->up, loop, backend, &up_cbs, t) < 0) {
    uv_timer_start(&t->timer, fail_soon, 0, 0);
    return;
  }
  uv_timer_start(&t->timer, on_up_timeout, timeout_ms, 0);
}

void duro_tunnel_going_away(void) {
  DURO_LIST_FOREACH_SAFE(it, tmp, &relaying) {
    tunnel_t *t = DURO_CONTAINER_OF(it, tunnel_t, node);
    end_relay(t, 1001, "going away");
  }
}
