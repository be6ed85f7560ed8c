/*
 * test_wsconn.c: the WebSocket protocol of src/ws/wsconn.c on a real
 * loopback connection.
 *
 * The loop runs in the test thread. The client is a plain socket in the
 * same thread: it writes hand-made frames (masked, as a browser's are) and
 * reads without blocking between loop turns, so every wait is a bounded
 * loop and nothing needs a second thread. The server upgrades every
 * request with duro_ws_accept; its handler records what it is told and
 * echoes each message.
 *
 * - The upgrade: 101 with the RFC 6455 sample accept key; frames sent
 *   right behind the request; bad upgrades refused with 400 or 426.
 * - Messages reach the handler and come back unmasked; fragments are
 *   joined; a ping is answered by a pong with its payload.
 * - Protocol errors close with the code RFC 6455 asks for: an unmasked
 *   frame 1002, invalid UTF-8 1007, a message over max_message 1009.
 * - The closing handshake: the peer's code is echoed and the handler sees
 *   it and the reason; the application's duro_ws_close reaches the peer.
 * - A reader that does not read is closed with 1008 once its send queue
 *   passes the bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/err.h"
#include "http/http.h"
#include "net/conn.h"
#include "ws/frame.h"
#include "ws/wsconn.h"

#define MAX_MESSAGE 64           /* the ws limit under test */
#define SEND_QUEUE (64 * 1024)   /* the per-connection send bound */
#define MAX_TURNS 3000           /* about 3 s of 1 ms waits */
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* ---- the server: upgrade everything, record, echo ------------------------- */

static struct {
  duro_conn_t *conn; /* the accepted WebSocket, with our reference */
  int accepted, refused;
  int messages, last_opcode;
  uint8_t last[256];
  size_t last_len;
  int closes, close_code;
  char close_reason[DURO_WS_MAX_CLOSE_REASON + 1];
  int echo; /* 0: record only (the slow reader test sends its own) */
} seen;

static void on_message(duro_conn_t *c, int opcode, const uint8_t *data,
                       size_t len, void *ud) {
  seen.messages++;
  seen.last_opcode = opcode;
  seen.last_len = len;
  memcpy(seen.last, data, len < sizeof(seen.last) ? len : sizeof(seen.last));
  if (seen.echo)
    duro_ws_send(c, opcode, data, len);
}

static void on_close(duro_conn_t *c, int code, const char *reason,
                     size_t reason_len, void *ud) {
  seen.closes++;
  seen.close_code = code;
  snprintf(seen.close_reason, sizeof(seen.close_reason), "%.*s",
           (int)reason_len, reason ? reason : "");
}

static const duro_ws_handler_t recorder = {on_message, on_close};

typedef struct fixture {
  uv_loop_t loop;
  duro_net_t net;
  duro_listener_t listener;
  duro_http_opts_t http;
  duro_ws_opts_t ws;
  int client;      /* -1 once closed */
  int eof;         /* the server ended its side (or reset) */
  uint8_t in[256 * 1024]; /* what the server sent, not yet taken */
  size_t in_len;
} fixture_t;

static void upgrade_everything(duro_http_req_t *req, void *data) {
  fixture_t *f = data;
  duro_conn_t *c = duro_ws_accept(req, &recorder, NULL, &f->ws, NULL, 0);
  if (!c) {
    seen.refused++;
    return;
  }
  seen.accepted++;
  seen.conn = duro_conn_ref(c);
}

static void speak_http(duro_listener_t *l, duro_conn_t *c) {
  fixture_t *f = l->data;
  duro_http_attach(c, &f->http);
}

static int setup(void **state) {
  memset(&seen, 0, sizeof(seen));
  seen.echo = 1;
  fixture_t *f = calloc(1, sizeof(*f));
  f->client = -1;
  uv_loop_init(&f->loop);
  duro_net_init(&f->net, &f->loop, 16, SEND_QUEUE);
  duro_limits_t limits;
  duro_limits_defaults(&limits);
  duro_http_opts_init(&f->http, &limits, upgrade_everything, f);
  /* keepalive out of the way: no test runs for a minute */
  f->ws = (duro_ws_opts_t){.max_message = MAX_MESSAGE,
                           .ping_interval_s = 60,
                           .pong_timeout_s = 60};
  char err[128];
  assert_int_equal(duro_listener_start(&f->listener, &f->net, "127.0.0.1", 0,
                                       speak_http, f, err, sizeof(err)),
                   0);
  *state = f;
  return 0;
}

static void close_client(fixture_t *f) {
  if (f->client >= 0)
    close(f->client);
  f->client = -1;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  close_client(f);
  for (duro_conn_t *c = duro_net_next_conn(&f->net, NULL); c;
       c = duro_net_next_conn(&f->net, c))
    duro_conn_close(c);
  if (seen.conn)
    duro_conn_unref(seen.conn);
  duro_listener_stop(&f->listener);
  duro_net_close(&f->net);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0); /* no handle left behind */
  free(f);
  return 0;
}

/* ---- the client: bounded waits, raw bytes --------------------------------- */

/* One loop turn, then whatever the server has sent. Returns 1 when
 * something happened (so the caller need not sleep). */
static int turn(fixture_t *f) {
  uv_run(&f->loop, UV_RUN_NOWAIT);
  if (f->client < 0 || f->eof || f->in_len == sizeof(f->in))
    return 0;
  ssize_t r = recv(f->client, f->in + f->in_len, sizeof(f->in) - f->in_len,
                   MSG_DONTWAIT);
  if (r > 0) {
    f->in_len += (size_t)r;
    return 1;
  }
  if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
    f->eof = 1;
  return 0;
}

/* Turns the loop until done(f) holds or about 3 s pass; returns done(f). */
static int wait_for(fixture_t *f, int (*done)(const fixture_t *)) {
  for (int i = 0; i < MAX_TURNS && !done(f); i++)
    if (!turn(f))
      usleep(1000);
  return done(f);
}

static int got_head(const fixture_t *f) {
  return memmem(f->in, f->in_len, "\r\n\r\n", 4) != NULL;
}
static int got_eof(const fixture_t *f) { return f->eof; }
static int handler_closed(const fixture_t *f) { return seen.closes > 0; }
static int upgraded(const fixture_t *f) { return seen.accepted > 0; }

static void take(fixture_t *f, size_t n) {
  memmove(f->in, f->in + n, f->in_len - n);
  f->in_len -= n;
}

static void connect_client(fixture_t *f, int rcvbuf) {
  f->client = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->client >= 0);
  if (rcvbuf)
    setsockopt(f->client, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  struct sockaddr_in a = {
      .sin_family = AF_INET,
      .sin_port = htons((uint16_t)duro_listener_port(&f->listener))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(f->client, (struct sockaddr *)&a, sizeof(a)), 0);
}

static void client_send(fixture_t *f, const void *data, size_t len) {
  assert_int_equal(send(f->client, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Waits for the response head and returns it as a C string in out (the
 * head is taken from the input; bytes after it stay). */
static void read_head(fixture_t *f, char *out, size_t size) {
  assert_true(wait_for(f, got_head));
  uint8_t *end = memmem(f->in, f->in_len, "\r\n\r\n", 4);
  size_t n = (size_t)(end - f->in) + 4;
  assert_true(n < size);
  memcpy(out, f->in, n);
  out[n] = '\0';
  take(f, n);
}

static const char upgrade_request[] =
    "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

/* Connects and upgrades; fails the test unless the server said 101. */
static void open_ws(fixture_t *f) {
  connect_client(f, 0);
  client_send(f, upgrade_request, sizeof(upgrade_request) - 1);
  char head[512];
  read_head(f, head, sizeof(head));
  assert_memory_equal(head, "HTTP/1.1 101 ", 13);
  assert_true(wait_for(f, upgraded));
  assert_true(duro_ws_is_open(seen.conn));
}

/* Frames a client message by hand: b0 is FIN | opcode (RSV bits too, if a
 * test wants them); the payload is masked unless masked == 0. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload,
                           size_t len, int masked) {
  static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  const uint8_t *p = payload;
  size_t n = 0;
  out[n++] = b0;
  uint8_t mask_bit = masked ? 0x80 : 0;
  if (len < 126) {
    out[n++] = mask_bit | (uint8_t)len;
  } else {
    assert_true(len <= 0xffff);
    out[n++] = mask_bit | 126;
    out[n++] = (uint8_t)(len >> 8);
    out[n++] = (uint8_t)len;
  }
  if (masked) {
    memcpy(out + n, key, 4);
    n += 4;
  }
  for (size_t i = 0; i < len; i++)
    out[n + i] = masked ? p[i] ^ key[i % 4] : p[i];
  return n + len;
}

#define FIN 0x80

static void send_frame(fixture_t *f, uint8_t b0, const void *payload,
                       size_t len, int masked) {
  uint8_t out[DURO_WS_MAX_HEADER + 1024];
  assert_true(len <= 1024);
  client_send(f, out, client_frame(out, b0, payload, len, masked));
}

/* A server frame, payload copied out of the input. */
typedef struct frame {
  uint8_t b0, b1;
  int opcode;
  size_t len;
  uint8_t data[2048];
} frame_t;

/* Size of the whole frame at the front of the input, or 0 while it is
 * incomplete. */
static size_t frame_size(const fixture_t *f) {
  const uint8_t *p = f->in;
  if (f->in_len < 2)
    return 0;
  size_t head = 2, len = p[1] & 0x7f;
  if (len == 126) {
    head = 4;
    if (f->in_len < head)
      return 0;
    len = (size_t)p[2] << 8 | p[3];
  } else if (len == 127) {
    head = 10;
    if (f->in_len < head)
      return 0;
    len = 0;
    for (int i = 2; i < 10; i++)
      len = len << 8 | p[i];
  }
  if (p[1] & 0x80)
    head += 4;
  return f->in_len >= head + len ? head + len : 0;
}

static int got_frame(const fixture_t *f) { return frame_size(f) > 0; }

/* Waits for the next server frame and takes it from the input. Server
 * frames are never masked (RFC 6455 5.1). */
static void next_frame(fixture_t *f, frame_t *fr) {
  assert_true(wait_for(f, got_frame));
  size_t size = frame_size(f);
  fr->b0 = f->in[0];
  fr->b1 = f->in[1];
  fr->opcode = fr->b0 & 0x0f;
  assert_int_equal(fr->b1 & 0x80, 0);
  size_t head = (fr->b1 & 0x7f) == 126 ? 4 : (fr->b1 & 0x7f) == 127 ? 10 : 2;
  fr->len = size - head;
  assert_true(fr->len <= sizeof(fr->data));
  memcpy(fr->data, f->in + head, fr->len);
  take(f, size);
}

/* Expects a close frame and returns its code (1005 for an empty one). */
static int next_close_code(fixture_t *f) {
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_CLOSE);
  if (fr.len == 0)
    return DURO_WS_CLOSE_NO_STATUS;
  assert_true(fr.len >= 2);
  return fr.data[0] << 8 | fr.data[1];
}

/* After the server's close frame: its side ends, the client closes its
 * own as a real client would, and the handler is told exactly once. */
static void expect_server_hangs_up(fixture_t *f) {
  assert_true(wait_for(f, got_eof));
  assert_int_equal(f->in_len, 0); /* nothing after the close frame */
  close_client(f);
  assert_true(wait_for(f, handler_closed));
  assert_int_equal(seen.closes, 1);
  assert_false(duro_ws_is_open(seen.conn));
}

/* ---- the upgrade ------------------------------------------------------------ */

static void test_upgrade_answers_101_with_accept_key(void **state) {
  fixture_t *f = *state;
  connect_client(f, 0);
  client_send(f, upgrade_request, sizeof(upgrade_request) - 1);
  char head[512];
  read_head(f, head, sizeof(head));
  assert_memory_equal(head, "HTTP/1.1 101 ", 13);
  assert_non_null(strstr(head, "\r\nSec-WebSocket-Accept: " SAMPLE_ACCEPT
                               "\r\n"));
  assert_non_null(strcasestr(head, "\r\nUpgrade: websocket\r\n"));
  assert_non_null(strcasestr(head, "\r\nConnection: Upgrade\r\n"));
  assert_null(strcasestr(head, "Content-Length")); /* no body follows */
  assert_true(wait_for(f, upgraded));
  assert_int_equal(seen.refused, 0);
  assert_true(duro_ws_is_open(seen.conn));
  assert_int_equal(f->in_len, 0); /* nothing but the head */
}

static void test_frame_behind_the_request_is_delivered(void **state) {
  fixture_t *f = *state;
  connect_client(f, 0);
  /* a client that does not wait for the 101: both in one write */
  uint8_t out[sizeof(upgrade_request) + 64];
  size_t n = sizeof(upgrade_request) - 1;
  memcpy(out, upgrade_request, n);
  n += client_frame(out + n, FIN | DURO_WS_OP_TEXT, "early", 5, 1);
  client_send(f, out, n);
  char head[512];
  read_head(f, head, sizeof(head));
  assert_memory_equal(head, "HTTP/1.1 101 ", 13);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_TEXT);
  assert_int_equal(fr.len, 5);
  assert_memory_equal(fr.data, "early", 5);
  assert_int_equal(seen.messages, 1);
}

/* Sends a request and returns the response head; the server closes. */
static void refused_head(fixture_t *f, const char *request, char *head,
                         size_t size) {
  connect_client(f, 0);
  client_send(f, request, strlen(request));
  read_head(f, head, size);
  assert_true(wait_for(f, got_eof)); /* an upgrade not taken: closed */
  assert_int_equal(seen.accepted, 0);
  assert_null(seen.conn);
}

static void test_upgrade_without_key_is_refused(void **state) {
  fixture_t *f = *state;
  char head[512];
  refused_head(f,
               "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
               head, sizeof(head));
  assert_memory_equal(head, "HTTP/1.1 400 ", 13);
  assert_null(strstr(head, "Sec-WebSocket-Accept"));
  assert_int_equal(seen.refused, 1);
}

static void test_upgrade_with_wrong_version_is_refused(void **state) {
  fixture_t *f = *state;
  char head[512];
  refused_head(f,
               "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
               "Sec-WebSocket-Version: 8\r\n\r\n",
               head, sizeof(head));
  /* 426 names the version we speak (RFC 6455 4.4) */
  assert_memory_equal(head, "HTTP/1.1 426 ", 13);
  assert_non_null(strcasestr(head, "\r\nSec-WebSocket-Version: 13\r\n"));
  assert_null(strstr(head, "Sec-WebSocket-Accept"));
  assert_int_equal(seen.refused, 1);
}

static void test_upgrade_by_post_is_refused(void **state) {
  fixture_t *f = *state;
  char head[512];
  refused_head(f,
               "POST /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
               "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
               head, sizeof(head));
  assert_memory_equal(head, "HTTP/1.1 400 ", 13);
  assert_int_equal(seen.refused, 1);
}

/* ---- messages and control frames --------------------------------------------- */

static void test_text_is_delivered_and_echoed(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | DURO_WS_OP_TEXT, "hello", 5, 1);
  frame_t fr;
  next_frame(f, &fr); /* unmasked: next_frame checks */
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_TEXT);
  assert_int_equal(fr.len, 5);
  assert_memory_equal(fr.data, "hello", 5);
  assert_int_equal(seen.messages, 1);
  assert_int_equal(seen.last_opcode, DURO_WS_OP_TEXT);
  assert_int_equal(seen.last_len, 5);
  assert_memory_equal(seen.last, "hello", 5); /* unmasked for the handler */
  assert_int_equal(seen.closes, 0);
}

static void test_frame_split_across_reads(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  uint8_t out[64];
  size_t n = client_frame(out, FIN | DURO_WS_OP_TEXT, "split", 5, 1);
  client_send(f, out, 3); /* inside the masking key */
  for (int i = 0; i < 20; i++) {
    turn(f);
    usleep(1000);
  }
  assert_int_equal(seen.messages, 0); /* waits for the rest */
  assert_int_equal(f->in_len, 0);
  client_send(f, out + 3, n - 3);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_TEXT);
  assert_memory_equal(fr.data, "split", 5);
  assert_int_equal(seen.messages, 1);
}

static void test_binary_is_delivered_as_binary(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  static const uint8_t bytes[] = {0x00, 0xff, 0x80, 0x7f};
  send_frame(f, FIN | DURO_WS_OP_BINARY, bytes, sizeof(bytes), 1);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_BINARY);
  assert_int_equal(fr.len, sizeof(bytes));
  assert_memory_equal(fr.data, bytes, sizeof(bytes));
  assert_int_equal(seen.last_opcode, DURO_WS_OP_BINARY);
}

static void test_fragments_make_one_message(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, DURO_WS_OP_TEXT, "hel", 3, 1);
  send_frame(f, FIN | DURO_WS_OP_PING, "mid", 3, 1); /* between fragments */
  send_frame(f, FIN | DURO_WS_OP_CONT, "lo", 2, 1);
  /* the pong goes out when the connection next writes: before or after
   * the echo, depending on how the reads fell */
  int pongs = 0, texts = 0;
  for (int i = 0; i < 2; i++) {
    frame_t fr;
    next_frame(f, &fr);
    if (fr.b0 == (FIN | DURO_WS_OP_PONG)) {
      pongs++;
      assert_int_equal(fr.len, 3);
      assert_memory_equal(fr.data, "mid", 3);
    } else {
      texts++;
      assert_int_equal(fr.b0, FIN | DURO_WS_OP_TEXT);
      assert_int_equal(fr.len, 5);
      assert_memory_equal(fr.data, "hello", 5);
    }
  }
  assert_int_equal(pongs, 1);
  assert_int_equal(texts, 1);
  assert_int_equal(seen.messages, 1);
}

static void test_ping_gets_pong_with_its_payload(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | DURO_WS_OP_PING, "are you there?", 14, 1);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_PONG);
  assert_int_equal(fr.len, 14);
  assert_memory_equal(fr.data, "are you there?", 14);
  /* an empty ping gets an empty pong */
  send_frame(f, FIN | DURO_WS_OP_PING, NULL, 0, 1);
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_PONG);
  assert_int_equal(fr.len, 0);
  assert_int_equal(seen.messages, 0); /* control frames are not messages */
  assert_true(duro_ws_is_open(seen.conn));
}

static void test_unsolicited_pong_is_ignored(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | DURO_WS_OP_PONG, "x", 1, 1);
  send_frame(f, FIN | DURO_WS_OP_TEXT, "after", 5, 1);
  frame_t fr;
  next_frame(f, &fr); /* the echo, with no pong or close before it */
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_TEXT);
  assert_memory_equal(fr.data, "after", 5);
  assert_int_equal(seen.messages, 1);
}

/* ---- protocol errors ------------------------------------------------------- */

static void test_unmasked_frame_is_closed_1002(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | DURO_WS_OP_TEXT, "hello", 5, 0);
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_PROTOCOL);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_PROTOCOL);
  assert_int_equal(seen.messages, 0); /* the frame was not delivered */
}

static void test_reserved_bit_is_closed_1002(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | 0x40 | DURO_WS_OP_TEXT, "hello", 5, 1); /* RSV1 */
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_PROTOCOL);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_PROTOCOL);
  assert_int_equal(seen.messages, 0);
}

static void test_fragmented_ping_is_closed_1002(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, DURO_WS_OP_PING, "x", 1, 1); /* control frames need FIN */
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_PROTOCOL);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_PROTOCOL);
}

static void test_invalid_utf8_is_closed_1007(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | DURO_WS_OP_TEXT, "ok \xc3\x28", 5, 1); /* bad 2nd byte */
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_INVALID_DATA);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_INVALID_DATA);
  assert_int_equal(seen.messages, 0);
}

static void test_binary_is_not_checked_as_utf8(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | DURO_WS_OP_BINARY, "ok \xc3\x28", 5, 1);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_BINARY);
  assert_memory_equal(fr.data, "ok \xc3\x28", 5);
}

static void test_message_at_the_limit_passes(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  uint8_t big[MAX_MESSAGE];
  memset(big, 'a', sizeof(big));
  send_frame(f, FIN | DURO_WS_OP_TEXT, big, sizeof(big), 1);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_TEXT);
  assert_int_equal(fr.len, MAX_MESSAGE);
  assert_int_equal(seen.messages, 1);
}

static void test_oversize_message_is_closed_1009(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  uint8_t big[MAX_MESSAGE + 1];
  memset(big, 'a', sizeof(big));
  send_frame(f, FIN | DURO_WS_OP_TEXT, big, sizeof(big), 1);
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_TOO_BIG);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_TOO_BIG);
  assert_int_equal(seen.messages, 0);
}

static void test_oversize_by_fragments_is_closed_1009(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  /* each fragment is under the limit; the message is not */
  uint8_t half[MAX_MESSAGE / 2 + 1];
  memset(half, 'b', sizeof(half));
  send_frame(f, DURO_WS_OP_BINARY, half, sizeof(half), 1);
  send_frame(f, FIN | DURO_WS_OP_CONT, half, sizeof(half), 1);
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_TOO_BIG);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_TOO_BIG);
  assert_int_equal(seen.messages, 0);
}

/* ---- closing ------------------------------------------------------------------ */

static void test_client_close_is_answered(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  static const uint8_t close_1000[] = {0x03, 0xe8, 'b', 'y', 'e'};
  send_frame(f, FIN | DURO_WS_OP_CLOSE, close_1000, sizeof(close_1000), 1);
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_NORMAL);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_NORMAL);
  assert_string_equal(seen.close_reason, "bye");
}

static void test_data_after_close_is_ignored(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  uint8_t out[64];
  static const uint8_t close_1001[] = {0x03, 0xe9};
  size_t n = client_frame(out, FIN | DURO_WS_OP_CLOSE, close_1001, 2, 1);
  n += client_frame(out + n, FIN | DURO_WS_OP_TEXT, "late", 4, 1);
  client_send(f, out, n); /* one write: both frames in one read */
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_GOING_AWAY);
  expect_server_hangs_up(f); /* and no echo before or after the close */
  assert_int_equal(seen.messages, 0);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_GOING_AWAY);
}

static void test_empty_close_is_answered_empty(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  send_frame(f, FIN | DURO_WS_OP_CLOSE, NULL, 0, 1);
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_NO_STATUS);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_NO_STATUS); /* 1005 */
}

static void test_invalid_close_code_is_closed_1002(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  static const uint8_t close_1005[] = {0x03, 0xed}; /* never on the wire */
  send_frame(f, FIN | DURO_WS_OP_CLOSE, close_1005, sizeof(close_1005), 1);
  assert_int_equal(next_close_code(f), DURO_WS_CLOSE_PROTOCOL);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_PROTOCOL);
}

static void test_peer_gone_without_close_is_1006(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  close_client(f);
  assert_true(wait_for(f, handler_closed));
  assert_int_equal(seen.closes, 1);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_ABNORMAL);
}

static void test_server_close_reaches_the_peer(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  duro_ws_close(seen.conn, 4000, "done here");
  assert_false(duro_ws_is_open(seen.conn));
  assert_int_equal(duro_ws_send(seen.conn, DURO_WS_OP_TEXT, "x", 1),
                   DURO_ECLOSED); /* nothing after our close frame */
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_CLOSE);
  assert_int_equal(fr.len, 2 + 9);
  assert_int_equal(fr.data[0] << 8 | fr.data[1], 4000);
  assert_memory_equal(fr.data + 2, "done here", 9);
  /* the peer answers; the connection ends with our code */
  static const uint8_t close_4000[] = {0x0f, 0xa0};
  send_frame(f, FIN | DURO_WS_OP_CLOSE, close_4000, sizeof(close_4000), 1);
  assert_true(wait_for(f, got_eof));
  close_client(f);
  assert_true(wait_for(f, handler_closed));
  assert_int_equal(seen.closes, 1);
  assert_int_equal(seen.close_code, 4000);
  assert_string_equal(seen.close_reason, "done here");
}

/* A reason over the limit is cut before the character that straddles it,
 * and the handler hears the same reason the peer was sent. */
static void test_long_close_reason_is_cut_whole(void **state) {
  fixture_t *f = *state;
  open_ws(f);
  char reason[140];
  memset(reason, 'r', 122);
  memcpy(reason + 122, "\xc3\xa9tail", 7); /* é spans bytes 122-123 */
  duro_ws_close(seen.conn, 4000, reason);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_CLOSE);
  assert_int_equal(fr.len, 2 + 122);
  assert_memory_equal(fr.data + 2, reason, 122);
  static const uint8_t close_4000[] = {0x0f, 0xa0};
  send_frame(f, FIN | DURO_WS_OP_CLOSE, close_4000, sizeof(close_4000), 1);
  assert_true(wait_for(f, got_eof));
  close_client(f);
  assert_true(wait_for(f, handler_closed));
  assert_int_equal(seen.close_code, 4000);
  assert_int_equal(strlen(seen.close_reason), 122);
  assert_memory_equal(seen.close_reason, reason, 122);
}

/* ---- keepalive ----------------------------------------------------------------- */

static int got_eof_and_close(const fixture_t *f) {
  return f->eof && seen.closes > 0;
}

static void test_silent_peer_is_pinged_then_dropped(void **state) {
  fixture_t *f = *state;
  f->ws.ping_interval_s = 1; /* the sweep runs once a second: 1-2 s each */
  f->ws.pong_timeout_s = 1;
  open_ws(f);
  frame_t fr;
  next_frame(f, &fr);
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_PING);
  assert_int_equal(fr.len, 0);
  assert_int_equal(seen.closes, 0); /* pinged, not yet given up */
  /* no answer at all: the peer counts as gone, without a close frame */
  assert_true(wait_for(f, got_eof_and_close));
  assert_int_equal(f->in_len, 0);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_ABNORMAL);
}

/* ---- a reader that does not read -------------------------------------------- */

static void test_slow_reader_is_closed_1008(void **state) {
  fixture_t *f = *state;
  /* small kernel buffers on both ends (accepted sockets inherit the
   * listener's), so the send queue, not the kernel, holds the backlog */
  int small = 4096;
  setsockopt(f->listener.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  connect_client(f, small);
  client_send(f, upgrade_request, sizeof(upgrade_request) - 1);
  char head[512];
  read_head(f, head, sizeof(head));
  assert_memory_equal(head, "HTTP/1.1 101 ", 13);
  assert_true(wait_for(f, upgraded));

  /* the client stops reading while the application keeps sending */
  uint8_t msg[1000];
  memset(msg, 'm', sizeof(msg));
  int rc = 0, sent = 0;
  for (; sent < 4 * SEND_QUEUE / (int)sizeof(msg) && rc == 0; sent++) {
    rc = duro_ws_send(seen.conn, DURO_WS_OP_BINARY, msg, sizeof(msg));
    uv_run(&f->loop, UV_RUN_NOWAIT);
  }
  assert_int_equal(rc, DURO_ENOSPC);
  assert_true(sent > 8); /* a queue's worth got in first */
  assert_false(duro_ws_is_open(seen.conn));
  assert_int_equal(duro_ws_send(seen.conn, DURO_WS_OP_BINARY, msg, 1),
                   DURO_ECLOSED);

  /* the client reads again: whole frames (none cut by the dropped
   * queue), then the close frame, then the end */
  frame_t fr;
  int data_frames = 0;
  for (;;) {
    next_frame(f, &fr);
    if (fr.opcode != DURO_WS_OP_BINARY)
      break;
    assert_int_equal(fr.len, sizeof(msg));
    data_frames++;
  }
  assert_true(data_frames < sent); /* the queued rest was dropped */
  assert_int_equal(fr.b0, FIN | DURO_WS_OP_CLOSE);
  assert_true(fr.len >= 2);
  assert_int_equal(fr.data[0] << 8 | fr.data[1], DURO_WS_CLOSE_POLICY);
  expect_server_hangs_up(f);
  assert_int_equal(seen.close_code, DURO_WS_CLOSE_POLICY);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_upgrade_answers_101_with_accept_key),
      T(test_frame_behind_the_request_is_delivered),
      T(test_upgrade_without_key_is_refused),
      T(test_upgrade_with_wrong_version_is_refused),
      T(test_upgrade_by_post_is_refused),
      T(test_text_is_delivered_and_echoed),
      T(test_frame_split_across_reads),
      T(test_binary_is_delivered_as_binary),
      T(test_fragments_make_one_message),
      T(test_ping_gets_pong_with_its_payload),
      T(test_unsolicited_pong_is_ignored),
      T(test_unmasked_frame_is_closed_1002),
      T(test_reserved_bit_is_closed_1002),
      T(test_fragmented_ping_is_closed_1002),
      T(test_invalid_utf8_is_closed_1007),
      T(test_binary_is_not_checked_as_utf8),
      T(test_message_at_the_limit_passes),
      T(test_oversize_message_is_closed_1009),
      T(test_oversize_by_fragments_is_closed_1009),
      T(test_client_close_is_answered),
      T(test_data_after_close_is_ignored),
      T(test_empty_close_is_answered_empty),
      T(test_invalid_close_code_is_closed_1002),
      T(test_peer_gone_without_close_is_1006),
      T(test_server_close_reaches_the_peer),
      T(test_long_close_reason_is_cut_whole),
      T(test_silent_peer_is_pinged_then_dropped),
      T(test_slow_reader_is_closed_1008),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
