/*
 * test_api.c: header injection. An object that copies user input into
 * a response header (duro_respond_headers) must never put a CR or LF on
 * the wire: the response head writer refuses such a header, and the client
 * gets a 500 with none of the object's headers and no injected line. Both
 * the writer alone (duro_http_write_head) and the whole path over real TCP
 * (request -> runtime -> object -> output gate -> connection) are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/err.h"
#include "core/url.h"
#include "http/http.h"
#include "net/conn.h"
#include "objects/runtime.h"
#include "store/store.h"

/* ---- the writer alone ---------------------------------------------------------- */

static void expect_refused(const char *name, const char *value) {
  duro_header_t h = {name, strlen(name), value, strlen(value)};
  duro_buf_t b = DURO_BUF_INIT;
  assert_int_equal(duro_http_write_head(&b, 200, &h, 1, 0, 0), DURO_EINVAL);
  assert_int_equal(b.len, 0); /* nothing half-written */
  duro_buf_free(&b);
}

static void test_write_head_refuses_crlf(void **state) {
  expect_refused("X-Echo", "a\r\nSet-Cookie: evil=1");
  expect_refused("X-Echo", "a\nSet-Cookie: evil=1");
  expect_refused("X-Echo", "a\rSet-Cookie: evil=1");
  expect_refused("X-Echo", "\r\n\r\n<html>");
  expect_refused("X-Echo\r\nSet-Cookie", "evil=1");
  expect_refused("X-A: b\r\nX-Echo", "1");
  expect_refused("X-Echo:", "1"); /* a colon in a name splits it */
  /* a NUL cannot be written either: Node and browsers refuse such heads */
  duro_header_t nul = {"X-Echo", 6, "a\0b", 3};
  duro_buf_t b = DURO_BUF_INIT;
  assert_int_equal(duro_http_write_head(&b, 200, &nul, 1, 0, 0), DURO_EINVAL);
  assert_int_equal(b.len, 0);

  /* and a clean header is written as it is */
  duro_header_t ok = {"X-Echo", 6, "hello world: \"quoted\"", 21};
  assert_int_equal(duro_http_write_head(&b, 200, &ok, 1, 5, 0), 0);
  duro_buf_append(&b, "", 1);
  assert_non_null(strstr((char *)b.data,
                         "\r\nX-Echo: hello world: \"quoted\"\r\n"));
  assert_non_null(strstr((char *)b.data, "\r\nContent-Length: 5\r\n"));
  duro_buf_free(&b);
}

/* ---- the whole path over TCP ------------------------------------------------------ */

typedef struct fixture {
  char dir[64];
  char db[96];
  uv_loop_t loop;
  duro_store_t *store;
  duro_runtime_t *rt;
  duro_config_t cfg;
} fixture_t;

static duro_binding_t bindings[1] = {{"ECHO", "EchoClass", NULL}};
static duro_runtime_t *g_rt;
static duro_http_opts_t g_http_opts;
static int g_respond_rc = 1;

/* GET /?<value>: sets X-Echo to the percent-decoded query, as a careless
 * object that reflects user input would. */
static int echo_fetch(duro_object_t *o, void *state, duro_request_t *req) {
  size_t qlen;
  const char *q = duro_request_query(req, &qlen);
  char v[256];
  long n = duro_pct_decode(q, qlen < 200 ? qlen : 200, v, 0);
  if (n < 0)
    n = 0;
  duro_header_t hs[2] = {
      {"Content-Type", 12, "text/plain", 10},
      {"X-Echo", 6, v, (size_t)n},
  };
  g_respond_rc = duro_respond_headers(req, 200, hs, 2, "body", 4);
  return 0;
}

static const duro_class_t echo_class = {
    DURO_CLASS_INIT,
    .name = "EchoClass",
    .fetch = echo_fetch,
};

static void route(duro_http_req_t *req, void *data) {
  duro_runtime_fetch(g_rt, "ECHO", 4, "x", 1, req, req->path, req->path_len);
}

static void accept_http(duro_listener_t *l, duro_conn_t *c) {
  duro_http_attach(c, &g_http_opts);
}

typedef struct client {
  int port;
  const char *query;
  char reply[2048];
  int done;
} client_t;

/* A blocking client in its own thread: one request, the whole answer. */
static void *client_thread(void *arg) {
  client_t *c = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)c->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     c->query);
    if (write(fd, req, (size_t)n) == n) {
      size_t got = 0;
      ssize_t r;
      while (got < sizeof(c->reply) - 1 &&
             (r = read(fd, c->reply + got, sizeof(c->reply) - 1 - got)) > 0)
        got += (size_t)r;
      c->reply[got] = '\0';
    }
  }
  close(fd);
  __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void store_closed(void *data) { *(int *)data = 1; }

/* Serves one request with query `query` and returns the raw answer. */
static void roundtrip(fixture_t *f, int port, client_t *c, const char *query) {
  memset(c, 0, sizeof(*c));
  c->port = port;
  c->query = query;
  pthread_t th;
  pthread_create(&th, NULL, client_thread, c);
  for (int i = 0; i < 3000 && !__atomic_load_n(&c->done, __ATOMIC_SEQ_CST);
       i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  pthread_join(th, NULL);
  assert_true(c->done);
}

static void test_object_header_injection_is_500(void **state) {
  fixture_t f;
  memset(&f, 0, sizeof(f));
  snprintf(f.dir, sizeof(f.dir), "/tmp/duro-respond-XXXXXX");
  assert_non_null(mkdtemp(f.dir));
  snprintf(f.db, sizeof(f.db), "%s/duro.db", f.dir);
  duro_limits_defaults(&f.cfg.limits);
  f.cfg.bindings = bindings;
  f.cfg.nbindings = 1;
  uv_loop_init(&f.loop);
  char err[256];
  assert_int_equal(duro_store_open(&f.loop, f.db, 1, &f.store, err,
                                   sizeof(err)), 0);
  f.rt = duro_runtime_new(&f.loop, f.store, &f.cfg);
  assert_int_equal(duro_runtime_register(f.rt, &echo_class), 0);
  assert_int_equal(duro_runtime_bind(f.rt, err, sizeof(err)), 0);
  duro_runtime_start(f.rt);
  g_rt = f.rt;

  duro_net_t net;
  duro_listener_t l;
  duro_http_opts_init(&g_http_opts, &f.cfg.limits, route, NULL);
  duro_net_init(&net, &f.loop, 100, 1 << 20);
  assert_int_equal(duro_listener_start(&l, &net, "127.0.0.1", 0, accept_http,
                                       NULL, err, sizeof(err)), 0);
  int port = duro_listener_port(&l);
  client_t c;

  /* the control: a clean value is reflected */
  roundtrip(&f, port, &c, "hello%20there");
  assert_int_equal(g_respond_rc, 0);
  assert_true(strncmp(c.reply, "HTTP/1.1 200 ", 13) == 0);
  assert_non_null(strstr(c.reply, "\r\nX-Echo: hello there\r\n"));

  /* CR LF, bare LF, bare CR: 500, no header of the object's, no injection */
  static const char *const evil[] = {
      "a%0D%0ASet-Cookie:%20evil=1",
      "a%0ASet-Cookie:%20evil=1",
      "a%0DSet-Cookie:%20evil=1",
      "a%0D%0A%0D%0A<script>evil()</script>",
      "a%00b",
  };
  for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
    roundtrip(&f, port, &c, evil[i]);
    /* the object's call itself succeeds: the refusal is at the wire */
    assert_int_equal(g_respond_rc, 0);
    if (strncmp(c.reply, "HTTP/1.1 500 ", 13) != 0)
      fail_msg("query %s: expected 500, got %.60s", evil[i], c.reply);
    assert_null(strstr(c.reply, "evil"));
    assert_null(strstr(c.reply, "X-Echo"));
    assert_null(strstr(c.reply, "text/plain")); /* none of its headers */
    assert_null(strstr(c.reply, "body"));       /* nor its body */
  }

  duro_listener_stop(&l);
  duro_net_close(&net);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  int done = 0;
  duro_store_close(f.store, store_closed, &done);
  while (!done)
    uv_run(&f.loop, UV_RUN_ONCE);
  duro_runtime_free(f.rt);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f.loop), 0);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f.dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_head_refuses_crlf),
      cmocka_unit_test(test_object_header_injection_is_500),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
