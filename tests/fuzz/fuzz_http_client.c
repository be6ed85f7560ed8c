/*
 * fuzz_http_client.c: the HTTP client's response parsing (src/http/client.c,
 * duro_http_client_request), fed a hostile server over a real loopback
 * socket: http-parser's callbacks, header fields arriving in pieces, the
 * caps on head and body, and the ends of a response (EOF, half-close,
 * reset, bytes after the response).
 *
 * The harness listens on 127.0.0.1 and sends requests to itself. Per
 * input it runs one request twice: once with the answer cut into pieces
 * (a loop turn after each), once with the answer in one write. Each time
 * it accepts the client's connection, reads the request (it must be
 * exactly what the client is documented to send), writes the answer, ends
 * the connection and runs the loop until the callback has run and every
 * handle is closed. Checked:
 *   - the callback runs exactly once per request (abort() otherwise, also
 *     when it has not run a few thousand loop turns after the server
 *     closed) and never inside duro_http_client_request;
 *   - a failure has status 0, a DURO_E* code and a message, and nothing
 *     else; a response has err 0, a status from 100 to 999, at most 200
 *     fields whose names and values hold at most 64 KiB in all, and a body
 *     (never NULL) of at most max_body bytes; every byte of them is read,
 *     so ASan sees a dangling pointer;
 *   - both runs give the same result (status, error code, fields, body)
 *     unless the server reset the connection (then the kernel may drop
 *     unread bytes): the cut points must not matter.
 *
 * Input:
 *   byte 0   bits 0-5: bytes per write minus one (1..64; larger when the
 *            answer would need more than 2000 writes); bits 6-7: how the
 *            server ends: 0 closes, 1 half-closes (SHUT_WR) and waits for
 *            the client to close, 2 resets (SO_LINGER 0), 3 closes but
 *            writes the answer before it reads the request
 *   byte 1   max_body, mod 4: 0, 7, 1024 or 64 KiB
 *   rest     the answer's bytes
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "core/log.h"
#include "http/client.h"

#define MAX_SIZE (130 * 1024)
#define MAX_WRITES 2000
#define MAX_TURNS 4000
#define MAX_FIELDS 200            /* client.c's caps */
#define MAX_FIELD_BYTES (64 * 1024)

enum { END_CLOSE, END_HALF_CLOSE, END_RESET, END_EARLY_ANSWER };

static uv_loop_t loop;
static duro_url_t url;
static int listen_fd = -1;
static int baseline_handles;
static char expected[256]; /* the request the client must send */
static size_t expected_len;
static const size_t max_bodies[4] = {0, 7, 1024, 64 * 1024};
static int verbose; /* FUZZ_HTTP_CLIENT_VERBOSE=1: each result */

static const duro_header_t req_headers[] = {
    {"Authorization", 13, "Bearer fuzz", 11}};

typedef struct result {
  int calls;
  int in_request; /* 1 while duro_http_client_request runs */
  size_t max_body;
  int status, err;
  uint64_t hash; /* fields and body */
} result_t;

static void count_handle(uv_handle_t *h, void *arg) { (*(int *)arg)++; }

static int handle_count(void) {
  int n = 0;
  uv_walk(&loop, count_handle, &n);
  return n;
}

/* FNV-1a, so two runs compare without keeping their results. */
static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * UINT64_C(1099511628211);
  return h;
}

static void on_response(const duro_http_client_res_t *res, void *ud) {
  result_t *r = ud;
  if (r->in_request || ++r->calls > 1)
    abort();
  r->status = res->status;
  r->err = res->err;
  if (verbose)
    fprintf(stderr, "fuzz_http_client: status %d, error %d (%s), %zu fields, "
                    "%zu body bytes\n", res->status, res->err,
            res->error ? res->error : "-", res->nheaders, res->body_len);
  r->hash = UINT64_C(14695981039346656037);
  if (res->status == 0) {
    if (res->err >= 0 || !res->error || res->nheaders || res->headers ||
        res->body || res->body_len)
      abort();
    return;
  }
  if (res->err || res->status < 100 || res->status > 999 ||
      res->nheaders > MAX_FIELDS || (res->nheaders && !res->headers) ||
      !res->body || res->body_len > r->max_body)
    abort();
  size_t bytes = 0;
  for (size_t i = 0; i < res->nheaders; i++) {
    const duro_header_t *h = &res->headers[i];
    bytes += h->name_len + h->value_len;
    r->hash = mix(r->hash, &h->name_len, sizeof(h->name_len));
    r->hash = mix(r->hash, h->name, h->name_len);
    r->hash = mix(r->hash, &h->value_len, sizeof(h->value_len));
    r->hash = mix(r->hash, h->value, h->value_len);
  }
  if (bytes > MAX_FIELD_BYTES)
    abort();
  r->hash = mix(r->hash, &res->body_len, sizeof(res->body_len));
  r->hash = mix(r->hash, res->body, res->body_len);
  const duro_header_t *cl = duro_http_client_header(res, "content-length");
  if (cl && (cl < res->headers || cl >= res->headers + res->nheaders))
    abort();
}

static void setup(void) {
  char err[256], base[64];
  signal(SIGPIPE, SIG_IGN);
  verbose = getenv("FUZZ_HTTP_CLIENT_VERBOSE") != NULL;
  duro_log_level = DURO_LOG_ERROR;
  uv_loop_init(&loop);
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      listen(listen_fd, 16) < 0 ||
      getsockname(listen_fd, (struct sockaddr *)&a, &alen) < 0)
    abort();
  int port = ntohs(a.sin_port);
  snprintf(base, sizeof(base), "http://127.0.0.1:%d/base/", port);
  if (duro_url_parse(base, &url, err, sizeof(err)) < 0)
    abort();
  int n = snprintf(expected, sizeof(expected),
                   "POST /base/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Authorization: Bearer fuzz\r\nContent-Length: 2\r\n"
                   "Connection: close\r\n\r\nhi",
                   port);
  if (n <= 0 || (size_t)n >= sizeof(expected))
    abort();
  expected_len = (size_t)n;
  for (int i = 0; i < 10; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  baseline_handles = handle_count();
}

/* Reads the client's request; it must be the expected one. */
static void read_request(int fd) {
  char buf[sizeof(expected)];
  size_t len = 0;
  for (int i = 0; i < MAX_TURNS && len < expected_len; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    ssize_t r = recv(fd, buf + len, expected_len - len, MSG_DONTWAIT);
    if (r > 0)
      len += (size_t)r;
    else if (r == 0 || errno != EAGAIN)
      break;
  }
  if (len != expected_len || memcmp(buf, expected, len) != 0) {
    fprintf(stderr, "fuzz_http_client: the client sent %zu bytes: %.*s\n",
            len, (int)len, buf);
    abort();
  }
}

/* Writes the answer in pieces of step bytes, a loop turn after each. */
static void write_answer(int fd, const uint8_t *p, size_t n, size_t step) {
  size_t off = 0;
  for (int i = 0; off < n && i < MAX_TURNS; i++) {
    size_t k = n - off < step ? n - off : step;
    ssize_t w = send(fd, p + off, k, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0)
      off += (size_t)w;
    else if (w < 0 && errno != EAGAIN)
      return; /* the client is done with us */
    uv_run(&loop, UV_RUN_NOWAIT);
  }
}

static void run(result_t *r, int end, const uint8_t *p, size_t n,
                size_t step) {
  memset(r, 0, sizeof(*r));
  r->max_body = max_bodies[end >> 2];
  end &= 3;
  r->in_request = 1;
  duro_http_client_request(&loop, &url, "POST", "/x", req_headers, 1, "hi", 2,
                           10000, r->max_body, on_response, r);
  r->in_request = 0;
  int fd = -1;
  for (int i = 0; i < MAX_TURNS && fd < 0; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
  }
  if (fd < 0) {
    fprintf(stderr, "fuzz_http_client: the client did not connect\n");
    abort();
  }
  if (end == END_EARLY_ANSWER) {
    write_answer(fd, p, n, step);
    read_request(fd);
  } else {
    read_request(fd);
    write_answer(fd, p, n, step);
  }
  if (end == END_HALF_CLOSE) {
    shutdown(fd, SHUT_WR);
    char buf[256];
    for (int i = 0; i < MAX_TURNS; i++) {
      uv_run(&loop, UV_RUN_NOWAIT);
      ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (k == 0 || (k < 0 && errno != EAGAIN))
        break;
    }
  } else if (end == END_RESET) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  close(fd);
  int i = 0;
  for (; i < MAX_TURNS && !(r->calls && handle_count() == baseline_handles);
       i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  if (i == MAX_TURNS) {
    fprintf(stderr, "fuzz_http_client: %d callbacks, %d handles (%d before)\n",
            r->calls, handle_count(), baseline_handles);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (listen_fd < 0)
    setup();
  if (size < 2 || size > MAX_SIZE)
    return 0;
  int end = data[0] >> 6 | (data[1] & 3) << 2;
  size_t step = (size_t)(data[0] & 63) + 1;
  const uint8_t *p = data + 2;
  size_t n = size - 2;
  if (n / step >= MAX_WRITES)
    step = n / MAX_WRITES + 1;

  result_t cut, whole;
  run(&cut, end, p, n, step);
  run(&whole, end, p, n, n ? n : 1);
  if ((end & 3) != END_RESET &&
      (cut.status != whole.status || cut.err != whole.err ||
       cut.hash != whole.hash)) {
    fprintf(stderr,
            "fuzz_http_client: cut in pieces of %zu: status %d, error %d; "
            "whole: status %d, error %d; %s\n",
            step, cut.status, cut.err, whole.status, whole.err,
            cut.hash != whole.hash ? "fields or body differ" : "");
    abort();
  }
  return 0;
}
