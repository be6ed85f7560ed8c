/*
 * test_batch.c: io_uring sends of net/batch.c, and net/conn.c's write
 * pass through them, over real loopback TCP connections.
 *
 * - One submission sends to several sockets, several buffers each; every
 *   result is the byte count and the peers read exactly those bytes.
 * - A socket whose peer does not read: its send comes back at once with
 *   -EAGAIN or a short count (MSG_DONTWAIT: the pass never waits), and
 *   the others in the same batch are not held up.
 * - Through duro_net with io_uring on: a burst to three connections in
 *   one turn, one of whose peers does not read: the readers get every
 *   byte in order, the rest of the slow one waits in a uv_write and
 *   arrives once its peer reads. Nothing is sent twice or lost.
 * Where the kernel refuses io_uring the tests are reported as skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "net/batch.h"
#include "net/conn_impl.h"

/* A connected loopback pair: *a and *b. */
static void tcp_pair(int *a, int *b) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
  assert_int_equal(listen(l, 1), 0);
  *a = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
  *b = accept(l, NULL, NULL);
  assert_true(*b >= 0);
  close(l);
}

static duro_batch_t *batch_or_skip(void) {
  char why[128];
  duro_batch_t *b = duro_batch_new(why, sizeof(why));
  if (!b) {
    print_message("skipped: %s\n", why);
    skip();
  }
  return b;
}

static struct {
  int res[8];
  void *tag[8];
  int n;
} got;

static void record(void *tag, int res, void *arg) {
  got.tag[got.n] = tag;
  got.res[got.n++] = res;
}

static void test_one_submission_many_sockets(void **state) {
  duro_batch_t *b = batch_or_skip();
  int s1, r1, s2, r2;
  tcp_pair(&s1, &r1);
  tcp_pair(&s2, &r2);
  char hello[] = "hello, ", world[] = "world";
  uv_buf_t *bufs = duro_batch_bufs(b, 2);
  assert_non_null(bufs);
  bufs[0] = uv_buf_init(hello, 7);
  bufs[1] = uv_buf_init(world, 5);
  duro_batch_add(b, s1, 2, &s1);
  bufs = duro_batch_bufs(b, 1);
  bufs[0] = uv_buf_init(world, 5);
  duro_batch_add(b, s2, 1, &s2);
  assert_int_equal(duro_batch_len(b), 2);
  memset(&got, 0, sizeof(got));
  assert_int_equal(duro_batch_run(b, record, NULL), 0);
  assert_int_equal(duro_batch_len(b), 0);
  assert_int_equal(got.n, 2);
  assert_ptr_equal(got.tag[0], &s1); /* in the order added */
  assert_int_equal(got.res[0], 12);
  assert_ptr_equal(got.tag[1], &s2);
  assert_int_equal(got.res[1], 5);
  char buf[32];
  assert_int_equal(read(r1, buf, sizeof(buf)), 12);
  assert_memory_equal(buf, "hello, world", 12);
  assert_int_equal(read(r2, buf, sizeof(buf)), 5);
  assert_memory_equal(buf, "world", 5);

  /* full: no room for more buffers than the batch holds */
  assert_null(duro_batch_bufs(b, DURO_BATCH_IOVS + 1));
  close(s1), close(r1), close(s2), close(r2);
  duro_batch_free(b);
}

static void test_full_socket_does_not_wait(void **state) {
  duro_batch_t *b = batch_or_skip();
  int s1, r1, s2, r2;
  tcp_pair(&s1, &r1);
  tcp_pair(&s2, &r2);
  fcntl(s1, F_SETFL, O_NONBLOCK);
  static char big[1 << 16];
  while (write(s1, big, sizeof(big)) > 0) /* until the kernel takes none */
    ;
  assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
  uv_buf_t *bufs = duro_batch_bufs(b, 1);
  bufs[0] = uv_buf_init(big, 100);
  duro_batch_add(b, s1, 1, &s1);
  bufs = duro_batch_bufs(b, 1);
  bufs[0] = uv_buf_init(big, 100);
  duro_batch_add(b, s2, 1, &s2);
  memset(&got, 0, sizeof(got));
  uint64_t t0 = uv_hrtime();
  assert_int_equal(duro_batch_run(b, record, NULL), 0);
  assert_true(uv_hrtime() - t0 < 500000000ull); /* did not wait for r1 */
  assert_int_equal(got.res[0], -EAGAIN);
  assert_int_equal(got.res[1], 100);
  close(s1), close(r1), close(s2), close(r2);
  duro_batch_free(b);
}

/* ---- through duro_net ------------------------------------------------------ */

#define MAX_CONNS 3

static duro_conn_t *accepted[MAX_CONNS];
static int naccepted;

static size_t on_data(duro_conn_t *c, uint8_t *d, size_t n) { return n; }
static void on_close(duro_conn_t *c) {}
static const duro_proto_t proto = {.on_data = on_data, .on_close = on_close};

static void on_accept(duro_listener_t *l, duro_conn_t *c) {
  int fd;
  uv_fileno((uv_handle_t *)&c->tcp, &fd);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  duro_conn_set_proto(c, &proto, NULL);
  accepted[naccepted++] = duro_conn_ref(c);
}

/* Reads what fd has into buf at *have (nonblocking); the count read. */
static size_t slurp(int fd, uint8_t *buf, size_t cap, size_t *have) {
  size_t before = *have;
  for (;;) {
    ssize_t r = read(fd, buf + *have, cap - *have);
    if (r <= 0)
      break;
    *have += (size_t)r;
  }
  return *have - before;
}

static void test_write_pass_through_io_uring(void **state) {
  uv_loop_t loop;
  duro_net_t net;
  duro_listener_t l;
  char err[128];
  uv_loop_init(&loop);
  duro_net_init(&net, &loop, 100, 64 << 20);
  if (duro_net_use_io_uring(&net, 1, err, sizeof(err)) < 0) {
    duro_net_close(&net);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    print_message("skipped: %s\n", err);
    skip();
  }
  naccepted = 0;
  assert_int_equal(duro_listener_start(&l, &net, "127.0.0.1", 0, on_accept,
                                       NULL, err, sizeof(err)),
                   0);
  int client[MAX_CONNS];
  for (int i = 0; i < MAX_CONNS; i++) {
    client[i] = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(client[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)duro_listener_port(&l))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(client[i], (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(client[i], F_SETFL, O_NONBLOCK);
  }
  for (int i = 0; i < 1000 && naccepted < MAX_CONNS; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(naccepted, MAX_CONNS);

  /* 200 numbered chunks of 1 KB to each, queued in one turn */
  enum { CHUNKS = 200, CHUNK = 1024, TOTAL = CHUNKS * CHUNK };
  duro_chunk_t *chunks[CHUNKS];
  for (int k = 0; k < CHUNKS; k++) {
    chunks[k] = duro_chunk_new(CHUNK);
    memset(chunks[k]->data, 'A' + k % 26, CHUNK);
  }
  for (int i = 0; i < MAX_CONNS; i++)
    for (int k = 0; k < CHUNKS; k++)
      assert_int_equal(duro_conn_send(accepted[i], chunks[k]), 0);
  uint64_t w0 = net.writes;
  uv_run(&loop, UV_RUN_NOWAIT); /* the write pass */
  assert_true(net.writes > w0);
  assert_true(net.batched_sends >= MAX_CONNS); /* one submission for all */
  /* the third peer has not read: the rest waits in a uv_write */
  assert_true(accepted[2]->wreq != NULL || accepted[2]->q_len > 0);

  static uint8_t in[MAX_CONNS][TOTAL];
  size_t have[MAX_CONNS] = {0};
  for (int turn = 0; turn < 100000; turn++) {
    int done = 1;
    for (int i = 0; i < 2; i++) /* the first two read all along */
      slurp(client[i], in[i], TOTAL, &have[i]), done &= have[i] == TOTAL;
    if (turn > 1000) /* the third starts reading late */
      slurp(client[2], in[2], TOTAL, &have[2]);
    done &= have[2] == TOTAL;
    if (done)
      break;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  for (int i = 0; i < MAX_CONNS; i++) {
    assert_int_equal(have[i], TOTAL);
    for (int k = 0; k < CHUNKS; k++)
      assert_memory_equal(in[i] + k * CHUNK, chunks[k]->data, CHUNK);
    assert_false(duro_conn_has_output(accepted[i]));
  }
  /* nothing more than sent */
  uint8_t extra[16];
  for (int i = 0; i < MAX_CONNS; i++)
    assert_true(read(client[i], extra, sizeof(extra)) < 0);

  for (int k = 0; k < CHUNKS; k++)
    duro_chunk_unref(chunks[k]);
  for (int i = 0; i < MAX_CONNS; i++) {
    close(client[i]);
    duro_conn_close(accepted[i]);
    duro_conn_unref(accepted[i]);
  }
  duro_listener_stop(&l);
  duro_net_close(&net);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_submission_many_sockets),
      cmocka_unit_test(test_full_socket_does_not_wait),
      cmocka_unit_test(test_write_pass_through_io_uring),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
