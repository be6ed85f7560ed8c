/*
 * test_forward.c: the internal hop between cluster nodes
 * (src/backend/forward.c) on real loopback connections.
 *
 * One loop in the test thread runs three duro HTTP listeners: the entry
 * node, whose handler calls duro_forward, and two owner nodes A and B,
 * whose handlers record what reached them and answer as each test says
 * (an answer, a 421 naming the other node, nothing).
 * The client is a plain socket read without blocking between loop turns.
 *
 * - duro_forward_is_hop: the right secret once; wrong, shorter, longer,
 *   repeated, absent, or no secret configured: not a hop.
 * - Plain HTTP: method, path and query, body and the client's headers
 *   arrive; the client's X-Duro-* and hop-by-hop headers do not; the hop
 *   header carries the secret; the owner's status, headers and body come
 *   back. A HEAD's answer (a length, no body) does not hang the hop.
 * - 421 with X-Duro-Owner: learned, then the named node answers; a second
 *   421: 503 with Retry-After.
 * - A node that is not listening: unreachable(url), 503 with Retry-After.
 * - A node that never answers: 504; a client that leaves meanwhile.
 * - An upgrade: 500 at once, no node sees it (a WebSocket travels over a
 *   node link, backend/link.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "backend/forward.h"
#include "core/config.h"
#include "core/err.h"
#include "http/http.h"
#include "net/conn.h"
#include "net/listener.h"
#include "ws/frame.h"
#include "ws/wsconn.h"

#define SECRET "s3cret-hop"
#define MAX_TURNS 3000 /* about 3 s of 1 ms waits */
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* What an owner node does with a request. */
typedef enum { ANSWER, MISDIRECT, HOLD } behaviour_t;

/* An owner node: its listener and what reached it. */
typedef struct fixture fixture_t;

typedef struct node {
  fixture_t *f;
  duro_listener_t listener;
  duro_http_opts_t http;
  char url[64];
  behaviour_t does;
  struct node *other; /* named by a 421 */
  int hits, hops;     /* requests; of them, real hops */
  char method[16];
  char target[256];
  char headers[4096]; /* "name: value\n" each, as received */
  char body[256];
  duro_http_req_t *held; /* HOLD: answered at teardown */
} node_t;

struct fixture {
  uv_loop_t loop;
  duro_net_t net;
  duro_listener_t entry;
  duro_http_opts_t entry_http;
  node_t a, b;
  const char *to; /* where the entry node forwards */
  duro_forward_opts_t fw;
  int unreachable, learned;
  char unreachable_url[64], learned_url[64];
  int client; /* -1 once closed */
  int eof;
  uint8_t in[64 * 1024];
  size_t in_len;
};

/* ---- the nodes ----------------------------------------------------------- */

static void on_unreachable(void *ud, const char *url) {
  fixture_t *f = ud;
  f->unreachable++;
  snprintf(f->unreachable_url, sizeof(f->unreachable_url), "%s", url);
}

static void on_learned(void *ud, const char *key, const char *url) {
  (void)key;
  fixture_t *f = ud;
  f->learned++;
  snprintf(f->learned_url, sizeof(f->learned_url), "%s", url);
}

static void entry_handler(duro_http_req_t *req, void *data) {
  fixture_t *f = data;
  duro_forward(req, f->to, &f->fw);
}

static void record(node_t *n, const duro_http_req_t *req) {
  n->hits++;
  n->hops += duro_forward_is_hop(req, SECRET, strlen(SECRET));
  snprintf(n->method, sizeof(n->method), "%s", req->method);
  snprintf(n->target, sizeof(n->target), "%.*s", (int)req->target_len,
           req->target);
  size_t off = 0;
  n->headers[0] = '\0';
  for (size_t i = 0; i < req->nheaders; i++) {
    const duro_header_t *h = &req->headers[i];
    int k = snprintf(n->headers + off, sizeof(n->headers) - off, "%.*s: %.*s\n",
                     (int)h->name_len, h->name, (int)h->value_len, h->value);
    assert_true(k > 0 && (size_t)k < sizeof(n->headers) - off);
    off += (size_t)k;
  }
  snprintf(n->body, sizeof(n->body), "%.*s", (int)req->body.len,
           req->body.data ? (const char *)req->body.data : "");
}

static void node_handler(duro_http_req_t *req, void *data) {
  node_t *n = data;
  fixture_t *f = n->f;
  record(n, req);
  if (n->does == MISDIRECT) {
    duro_forward_misdirected(req, n->other->url);
  } else if (n->does == HOLD) {
    n->held = req;
  } else {
    duro_header_t hs[2] = {{"X-Answer", 8, n == &f->a ? "a" : "b", 1},
                           {"Content-Type", 12, "text/plain", 10}};
    duro_http_respond(req, 201, hs, 2, "made", 4);
  }
}

static void speak_http(duro_listener_t *l, duro_conn_t *c) {
  duro_http_attach(c, l->data);
}

static void start_node(fixture_t *f, duro_listener_t *l, duro_http_opts_t *http,
                       duro_http_handler h, void *data) {
  duro_limits_t limits;
  duro_limits_defaults(&limits);
  duro_http_opts_init(http, &limits, h, data);
  char err[128];
  assert_int_equal(duro_listener_start(l, &f->net, "127.0.0.1", 0, speak_http,
                                       http, err, sizeof(err)),
                   0);
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  f->client = -1;
  uv_loop_init(&f->loop);
  duro_net_init(&f->net, &f->loop, 64, 1024 * 1024);
  start_node(f, &f->entry, &f->entry_http, entry_handler, f);
  start_node(f, &f->a.listener, &f->a.http, node_handler, &f->a);
  start_node(f, &f->b.listener, &f->b.http, node_handler, &f->b);
  f->a.f = f->b.f = f;
  snprintf(f->a.url, sizeof(f->a.url), "http://127.0.0.1:%d",
           duro_listener_port(&f->a.listener));
  snprintf(f->b.url, sizeof(f->b.url), "http://127.0.0.1:%d",
           duro_listener_port(&f->b.listener));
  f->a.other = &f->b;
  f->b.other = &f->a;
  f->to = f->a.url;
  f->fw = (duro_forward_opts_t){.loop = &f->loop,
                                .secret = SECRET,
                                .timeout_ms = 2000,
                                .max_body = 64 * 1024,
                                .unreachable = on_unreachable,
                                .learned = on_learned,
                                .ud = f};
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  if (f->client >= 0)
    close(f->client);
  node_t *nodes[2] = {&f->a, &f->b};
  for (int i = 0; i < 2; i++)
    if (nodes[i]->held)
      duro_http_respond(nodes[i]->held, 200, NULL, 0, "late", 4);
  for (duro_conn_t *c = duro_net_next_conn(&f->net, NULL); c;
       c = duro_net_next_conn(&f->net, c))
    duro_conn_close(c);
  duro_listener_stop(&f->entry);
  duro_listener_stop(&f->a.listener);
  duro_listener_stop(&f->b.listener);
  duro_net_close(&f->net);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0); /* no handle left behind */
  free(f);
  return 0;
}

/* ---- the client ------------------------------------------------------------
 */

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

static int wait_for(fixture_t *f, int (*done)(const fixture_t *)) {
  for (int i = 0; i < MAX_TURNS && !done(f); i++)
    if (!turn(f))
      usleep(1000);
  return done(f);
}

static int got_eof(const fixture_t *f) { return f->eof; }
static int got_head(const fixture_t *f) {
  return memmem(f->in, f->in_len, "\r\n\r\n", 4) != NULL;
}
static int a_held(const fixture_t *f) { return f->a.held != NULL; }

static void connect_to(fixture_t *f, duro_listener_t *l) {
  f->client = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->client >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)duro_listener_port(l))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(f->client, (struct sockaddr *)&a, sizeof(a)), 0);
}

static void connect_client(fixture_t *f) { connect_to(f, &f->entry); }

static void client_send(fixture_t *f, const void *data, size_t len) {
  assert_int_equal(send(f->client, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Sends a request with Connection: close and returns the whole answer as
 * a C string in f->in. */
static const char *exchange_with(fixture_t *f, duro_listener_t *l,
                                 const char *request) {
  connect_to(f, l);
  client_send(f, request, strlen(request));
  assert_true(wait_for(f, got_eof));
  assert_true(f->in_len < sizeof(f->in));
  f->in[f->in_len] = '\0';
  return (const char *)f->in;
}

static const char *exchange(fixture_t *f, const char *request) {
  return exchange_with(f, &f->entry, request);
}

/* The body of an answer in f->in. */
static const char *body_of(const char *answer) {
  const char *b = strstr(answer, "\r\n\r\n");
  assert_non_null(b);
  return b + 4;
}

/* ---- is_hop
 * ------------------------------------------------------------------ */

static int is_hop_with(const char *value, int twice, const char *secret) {
  duro_header_t hs[2] = {{DURO_HOP_HEADER, 10, value, 0},
                         {DURO_HOP_HEADER, 10, value, 0}};
  hs[0].value_len = hs[1].value_len = value ? strlen(value) : 0;
  duro_http_req_t *req =
      duro_http_req_new("GET", "/x", 2, hs, value ? (twice ? 2 : 1) : 0, "", 0);
  int r = duro_forward_is_hop(req, secret, secret ? strlen(secret) : 0);
  duro_http_req_free(req);
  return r;
}

static void test_is_hop(void **state) {
  assert_int_equal(is_hop_with(SECRET, 0, SECRET), 1);
  assert_int_equal(is_hop_with("s3cret-hoq", 0, SECRET), 0);
  assert_int_equal(is_hop_with("s3cret-ho", 0, SECRET), 0);
  assert_int_equal(is_hop_with(SECRET "x", 0, SECRET), 0);
  assert_int_equal(is_hop_with("", 0, SECRET), 0);
  assert_int_equal(is_hop_with(NULL, 0, SECRET), 0);
  assert_int_equal(is_hop_with(SECRET, 1, SECRET), 0); /* repeated */
  assert_int_equal(is_hop_with(SECRET, 0, NULL), 0);   /* no secret: never */
  assert_int_equal(is_hop_with("", 0, ""), 0);
  /* the header name is matched case-insensitively */
  duro_header_t h = {"x-duro-hop", 10, SECRET, strlen(SECRET)};
  duro_http_req_t *req = duro_http_req_new("GET", "/", 1, &h, 1, "", 0);
  assert_int_equal(duro_forward_is_hop(req, SECRET, strlen(SECRET)), 1);
  duro_http_req_free(req);
}

/* ---- plain HTTP
 * --------------------------------------------------------------- */

static void test_request_replayed_and_answer_relayed(void **state) {
  fixture_t *f = *state;
  const char *ans = exchange(
      f, "POST /things/x%20y?a=1&b=%2F HTTP/1.1\r\nHost: entry\r\n"
         "X-Duro-Hop: forged\r\nx-duro-owner: http://evil\r\n"
         "X-Custom: yes\r\nCookie: c=1\r\nAuthorization: Bearer user\r\n"
         "Keep-Alive: 5\r\nProxy-Authorization: p\r\nTE: trailers\r\n"
         "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
  assert_int_equal(f->a.hits, 1);
  assert_int_equal(f->a.hops, 1); /* one hop header: the secret */
  assert_string_equal(f->a.method, "POST");
  assert_string_equal(f->a.target, "/things/x%20y?a=1&b=%2F");
  assert_string_equal(f->a.body, "hello");
  const char *h = f->a.headers;
  assert_non_null(strstr(h, "X-Custom: yes\n"));
  assert_non_null(strstr(h, "Cookie: c=1\n"));
  assert_non_null(strstr(h, "Authorization: Bearer user\n"));
  assert_non_null(strstr(h, "X-Duro-Hop: " SECRET "\n"));
  assert_null(strstr(h, "forged"));
  assert_null(strcasestr(h, "x-duro-owner"));
  assert_null(strcasestr(h, "Keep-Alive"));
  assert_null(strcasestr(h, "Proxy-"));
  assert_null(strcasestr(h, "TE:"));
  assert_null(strstr(h, "Host: entry"));
  char host[80];
  snprintf(host, sizeof(host), "Host: %s\n", f->a.url + 7);
  assert_non_null(strstr(h, host));
  assert_non_null(strstr(h, "Content-Length: 5\n"));

  assert_memory_equal(ans, "HTTP/1.1 201 ", 13);
  assert_non_null(strstr(ans, "\r\nX-Answer: a\r\n"));
  assert_non_null(strstr(ans, "\r\nContent-Type: text/plain\r\n"));
  assert_non_null(strstr(ans, "\r\nContent-Length: 4\r\n"));
  assert_string_equal(body_of(ans), "made");
  assert_int_equal(f->unreachable + f->learned, 0);
}

static void test_head_answer_has_no_body(void **state) {
  fixture_t *f = *state;
  const char *ans =
      exchange(f, "HEAD /h HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n");
  assert_string_equal(f->a.method, "HEAD");
  assert_memory_equal(ans, "HTTP/1.1 201 ", 13);
  assert_string_equal(body_of(ans), "");
}

static void test_misdirected_followed_once(void **state) {
  fixture_t *f = *state;
  f->a.does = MISDIRECT;
  const char *ans = exchange(
      f, "GET /o?q=1 HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n");
  assert_int_equal(f->a.hits, 1);
  assert_int_equal(f->b.hits, 1);
  assert_int_equal(f->b.hops, 1);
  assert_string_equal(f->b.target, "/o?q=1");
  assert_int_equal(f->learned, 1);
  assert_string_equal(f->learned_url, f->b.url);
  assert_memory_equal(ans, "HTTP/1.1 201 ", 13);
  assert_non_null(strstr(ans, "\r\nX-Answer: b\r\n"));
}

static void test_second_misdirect_is_503(void **state) {
  fixture_t *f = *state;
  f->a.does = MISDIRECT;
  f->b.does = MISDIRECT;
  const char *ans =
      exchange(f, "GET /o HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n");
  assert_int_equal(f->a.hits, 1);
  assert_int_equal(f->b.hits, 1); /* no third try */
  assert_true(f->learned >= 1);
  assert_memory_equal(ans, "HTTP/1.1 503 ", 13);
  assert_non_null(strstr(ans, "\r\nRetry-After: 1\r\n"));
  assert_null(strstr(ans, "X-Duro-Owner")); /* a 421 stays internal */
}

static void test_misdirected_answer(void **state) {
  fixture_t *f = *state;
  f->a.does = MISDIRECT; /* asked directly, as a forwarder asks it */
  const char *ans =
      exchange_with(f, &f->a.listener,
                    "GET /o HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  assert_memory_equal(ans, "HTTP/1.1 421 Misdirected Request\r\n", 34);
  char owner[96];
  snprintf(owner, sizeof(owner), "\r\nX-Duro-Owner: %s\r\n", f->b.url);
  assert_non_null(strstr(ans, owner));
  assert_non_null(strstr(ans, "\r\nRetry-After: 1\r\n"));
  assert_true(strlen(body_of(ans)) > 0);
}

static int unused_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
  close(s); /* nobody listens there now */
  return ntohs(a.sin_port);
}

static void test_unreachable_node(void **state) {
  fixture_t *f = *state;
  char dead[64];
  snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", unused_port());
  f->to = dead;
  const char *ans =
      exchange(f, "POST /o HTTP/1.1\r\nHost: e\r\nContent-Length: 1\r\n"
                  "Connection: close\r\n\r\nx");
  assert_int_equal(f->unreachable, 1);
  assert_string_equal(f->unreachable_url, dead);
  assert_memory_equal(ans, "HTTP/1.1 503 ", 13);
  assert_non_null(strstr(ans, "\r\nRetry-After: 1\r\n"));
  assert_non_null(strstr(body_of(ans), "unreachable"));
}

static void test_bad_url_is_502(void **state) {
  fixture_t *f = *state;
  f->to = "https://127.0.0.1:1";
  const char *ans =
      exchange(f, "GET / HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n");
  assert_memory_equal(ans, "HTTP/1.1 502 ", 13);
  assert_int_equal(f->unreachable, 0);
}

static void test_silent_node_times_out(void **state) {
  fixture_t *f = *state;
  f->a.does = HOLD;
  f->fw.timeout_ms = 100;
  const char *ans =
      exchange(f, "GET /slow HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n");
  assert_memory_equal(ans, "HTTP/1.1 504 ", 13);
  assert_int_equal(f->unreachable, 0); /* it was reached: not dropped */
}

static void test_client_leaves_while_forwarded(void **state) {
  fixture_t *f = *state;
  f->a.does = HOLD;
  connect_client(f);
  const char req[] = "GET /slow HTTP/1.1\r\nHost: e\r\n\r\n";
  client_send(f, req, sizeof(req) - 1);
  assert_true(wait_for(f, a_held));
  close(f->client);
  f->client = -1;
  for (int i = 0; i < 20; i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  /* the owner answers late: the entry node has nobody to tell */
  duro_http_respond(f->a.held, 200, NULL, 0, "late", 4);
  f->a.held = NULL;
  for (int i = 0; i < 50; i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

/* ---- WebSocket
 * ---------------------------------------------------------------- */

static const char ws_request[] =
    "GET /rooms/r1/ws?token=abc&x=%20 HTTP/1.1\r\nHost: entry\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: chat\r\nOrigin: http://site\r\n"
    "Cookie: s=1\r\nX-Duro-Hop: forged\r\nX-Duro-Internal-Secret: no\r\n\r\n";

/* Sends the upgrade and returns the answer's head (taken from the input)
 * as a C string in out. */
static void ws_open(fixture_t *f, char *out, size_t size) {
  connect_client(f);
  client_send(f, ws_request, sizeof(ws_request) - 1);
  assert_true(wait_for(f, got_head));
  uint8_t *end = memmem(f->in, f->in_len, "\r\n\r\n", 4);
  size_t n = (size_t)(end - f->in) + 4;
  assert_true(n < size);
  memcpy(out, f->in, n);
  out[n] = '\0';
  memmove(f->in, f->in + n, f->in_len - n);
  f->in_len -= n;
}

/* An upgrade is not forwarded here (it travels over a node link): 500 at
 * once, and no node sees it. */
static void test_upgrade_refused(void **state) {
  fixture_t *f = *state;
  f->a.does = ANSWER;
  char head[1024];
  ws_open(f, head, sizeof(head));
  assert_memory_equal(head, "HTTP/1.1 500 ", 13);
  assert_int_equal(f->a.hits + f->b.hits, 0);
  assert_int_equal(f->unreachable + f->learned, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_is_hop),
      cmocka_unit_test_setup_teardown(test_request_replayed_and_answer_relayed,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_head_answer_has_no_body, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_misdirected_followed_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_second_misdirect_is_503, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_misdirected_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreachable_node, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_url_is_502, setup, teardown),
      cmocka_unit_test_setup_teardown(test_silent_node_times_out, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_client_leaves_while_forwarded, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
