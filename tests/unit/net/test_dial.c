/*
 * test_dial.c: outgoing connections (src/net/dial.c) against small
 * loopback servers of this test's own, on one libuv loop.
 *
 * - Plain: on_open, bytes both ways, the server's close as on_end(0).
 * - Nobody listening: on_end with DURO_EIO and libuv's reason.
 * - duro_dial_close inside on_data: no callback after it, the memory
 *   freed (ASan and valgrind watch the rest).
 * - A write the server does not read yet waits (duro_dial_queued > 0)
 *   and on_written says when it went out.
 * - TLS to servers that do not speak it: one that closes at once and one
 *   that answers in plain HTTP both end with DURO_EPROTO and a reason;
 *   on_open never runs. (Certificates, trust and names are checked end to
 *   end in tests/integration/53-tls.test.mjs.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/buf.h"
#include "core/err.h"
#include "net/dial.h"

/* What the server does with a connection. */
enum { ECHO_THEN_CLOSE, CLOSE_AT_ONCE, ANSWER_HTTP, READ_LATER };

typedef struct server {
  uv_tcp_t listen;
  uv_tcp_t peer;
  int mode;
  int has_peer;
  size_t got; /* bytes read by a READ_LATER peer */
} server_t;

typedef struct seen {
  int opens, ends, written, err;
  char why[256];
  duro_buf_t data;
  duro_dial_t *d;
  int close_on_data;
} seen_t;

static void peer_closed(uv_handle_t *h) {}

static void peer_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  static char buf[65536];
  *b = uv_buf_init(buf, sizeof(buf));
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  server_t *srv = s->data;
  if (n < 0) {
    uv_close((uv_handle_t *)s, peer_closed);
    return;
  }
  if (srv->mode == READ_LATER) {
    srv->got += (size_t)n;
    return;
  }
  if (n > 0 && srv->mode == ECHO_THEN_CLOSE) {
    uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
    assert_int_equal(uv_try_write(s, &out, 1), n);
    uv_close((uv_handle_t *)s, peer_closed);
  }
}

static void on_conn(uv_stream_t *l, int status) {
  server_t *srv = l->data;
  assert_int_equal(status, 0);
  uv_tcp_init(l->loop, &srv->peer);
  srv->peer.data = srv;
  assert_int_equal(uv_accept(l, (uv_stream_t *)&srv->peer), 0);
  srv->has_peer = 1;
  if (srv->mode == CLOSE_AT_ONCE) {
    uv_close((uv_handle_t *)&srv->peer, peer_closed);
    return;
  }
  if (srv->mode == ANSWER_HTTP) {
    static char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    uv_buf_t out = uv_buf_init(bad, sizeof(bad) - 1);
    uv_try_write((uv_stream_t *)&srv->peer, &out, 1);
  }
  if (srv->mode != READ_LATER)
    uv_read_start((uv_stream_t *)&srv->peer, peer_alloc, peer_read);
}

/* Listens on 127.0.0.1, any port; fills addr. */
static void serve(uv_loop_t *loop, server_t *srv, int mode,
                  struct sockaddr_in *addr) {
  memset(srv, 0, sizeof(*srv));
  srv->mode = mode;
  uv_tcp_init(loop, &srv->listen);
  srv->listen.data = srv;
  uv_ip4_addr("127.0.0.1", 0, addr);
  assert_int_equal(uv_tcp_bind(&srv->listen, (struct sockaddr *)addr, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&srv->listen, 8, on_conn), 0);
  int len = sizeof(*addr);
  uv_tcp_getsockname(&srv->listen, (struct sockaddr *)addr, &len);
}

static void stop(server_t *srv) {
  uv_close((uv_handle_t *)&srv->listen, NULL);
  if (srv->has_peer && !uv_is_closing((uv_handle_t *)&srv->peer))
    uv_close((uv_handle_t *)&srv->peer, peer_closed);
}

static void cb_open(void *ud) {
  seen_t *s = ud;
  s->opens++;
}
static void cb_data(void *ud, const uint8_t *p, size_t n) {
  seen_t *s = ud;
  duro_buf_append(&s->data, p, n);
  if (s->close_on_data) {
    duro_dial_close(s->d);
    s->d = NULL;
  }
}
static void cb_end(void *ud, int err, const char *why) {
  seen_t *s = ud;
  s->ends++;
  s->err = err;
  snprintf(s->why, sizeof(s->why), "%s", why);
  s->d = NULL;
}
static void cb_written(void *ud) {
  seen_t *s = ud;
  s->written++;
}

static const duro_dial_cbs_t cbs = {cb_open, cb_data, cb_end, cb_written};

/* Runs the loop until pred holds, or fails after about two seconds. */
#define RUN_UNTIL(loop, pred)                                                  \
  do {                                                                         \
    uint64_t end_ = uv_now(loop) + 2000;                                       \
    while (!(pred)) {                                                          \
      uv_run(loop, UV_RUN_NOWAIT);                                             \
      uv_update_time(loop);                                                    \
      assert_true(uv_now(loop) < end_);                                        \
    }                                                                          \
  } while (0)

static void drain(uv_loop_t *loop) {
  for (int i = 0; i < 100 && uv_run(loop, UV_RUN_NOWAIT); i++)
    ;
  assert_int_equal(uv_loop_close(loop), 0);
}

static void test_plain_both_ways_and_server_close(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t srv;
  struct sockaddr_in addr;
  serve(&loop, &srv, ECHO_THEN_CLOSE, &addr);
  seen_t s = {0};
  assert_int_equal(duro_dial_start(&s.d, &loop, (struct sockaddr *)&addr, NULL,
                                   "127.0.0.1", &cbs, &s),
                   0);
  RUN_UNTIL(&loop, s.opens == 1);
  assert_int_equal(duro_dial_write(s.d, "hello", 5), 0);
  RUN_UNTIL(&loop, s.ends == 1);
  assert_int_equal(s.err, 0);
  assert_int_equal(s.data.len, 5);
  assert_memory_equal(s.data.data, "hello", 5);
  stop(&srv);
  duro_buf_free(&s.data);
  drain(&loop);
}

static void test_nobody_listening(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t srv;
  struct sockaddr_in addr;
  serve(&loop, &srv, ECHO_THEN_CLOSE, &addr);
  stop(&srv); /* the port is free again */
  seen_t s = {0};
  assert_int_equal(duro_dial_start(&s.d, &loop, (struct sockaddr *)&addr, NULL,
                                   "127.0.0.1", &cbs, &s),
                   0);
  RUN_UNTIL(&loop, s.ends == 1);
  assert_int_equal(s.opens, 0);
  assert_int_equal(s.err, DURO_EIO);
  assert_string_equal(s.why, uv_strerror(UV_ECONNREFUSED));
  drain(&loop);
}

static void test_close_inside_on_data(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t srv;
  struct sockaddr_in addr;
  serve(&loop, &srv, ECHO_THEN_CLOSE, &addr);
  seen_t s = {.close_on_data = 1};
  assert_int_equal(duro_dial_start(&s.d, &loop, (struct sockaddr *)&addr, NULL,
                                   "127.0.0.1", &cbs, &s),
                   0);
  RUN_UNTIL(&loop, s.opens == 1);
  assert_int_equal(duro_dial_write(s.d, "x", 1), 0);
  RUN_UNTIL(&loop, s.data.len == 1);
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(s.ends, 0); /* closed by us: no on_end */
  stop(&srv);
  duro_buf_free(&s.data);
  drain(&loop);
}

static void test_write_waits_for_a_slow_reader(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t srv;
  struct sockaddr_in addr;
  serve(&loop, &srv, READ_LATER, &addr);
  seen_t s = {0};
  assert_int_equal(duro_dial_start(&s.d, &loop, (struct sockaddr *)&addr, NULL,
                                   "127.0.0.1", &cbs, &s),
                   0);
  RUN_UNTIL(&loop, s.opens == 1 && srv.has_peer);
  size_t big = 16 * 1024 * 1024;
  uint8_t *p = calloc(1, big);
  assert_int_equal(duro_dial_write(s.d, p, big), 0);
  free(p); /* what waits is the dial's own copy */
  assert_true(duro_dial_queued(s.d) > 0);
  assert_int_equal(s.written, 0);
  uv_read_start((uv_stream_t *)&srv.peer, peer_alloc, peer_read);
  RUN_UNTIL(&loop, s.written == 1 && srv.got == big);
  assert_int_equal(duro_dial_queued(s.d), 0);
  duro_dial_close(s.d);
  stop(&srv);
  drain(&loop);
}

static void tls_against(int mode, const char *want) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t srv;
  struct sockaddr_in addr;
  serve(&loop, &srv, mode, &addr);
  char err[256];
  duro_tls_client_t *tls = duro_tls_client_new(NULL, 1, err, sizeof(err));
  assert_non_null(tls);
  seen_t s = {0};
  assert_int_equal(duro_dial_start(&s.d, &loop, (struct sockaddr *)&addr, tls,
                                   "127.0.0.1", &cbs, &s),
                   0);
  RUN_UNTIL(&loop, s.ends == 1);
  assert_int_equal(s.opens, 0);
  assert_int_equal(s.err, DURO_EPROTO);
  if (!strstr(s.why, want))
    fail_msg("why: '%s', wanted '%s'", s.why, want);
  stop(&srv);
  drain(&loop);
  duro_tls_client_free(tls);
}

static void test_tls_to_a_server_that_closes(void **state) {
  tls_against(CLOSE_AT_ONCE, "closed the connection during the TLS handshake");
}

static void test_tls_to_a_plain_http_server(void **state) {
  tls_against(ANSWER_HTTP, "TLS handshake failed");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_both_ways_and_server_close),
      cmocka_unit_test(test_nobody_listening),
      cmocka_unit_test(test_close_inside_on_data),
      cmocka_unit_test(test_write_waits_for_a_slow_reader),
      cmocka_unit_test(test_tls_to_a_server_that_closes),
      cmocka_unit_test(test_tls_to_a_plain_http_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
