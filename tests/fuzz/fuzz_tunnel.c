/*
 * fuzz_tunnel.c: the frontend's WebSocket tunnel (src/frontend/tunnel.c),
 * fed a hostile backend and a hostile browser over real loopback sockets:
 * the parsing of the backend's answer to the frontend's upgrade request,
 * the relay in both directions after a 101 (frame tracking, backpressure,
 * the frontend's going-away close frame) and the teardown when either side
 * half-closes, resets or goes silent at any point. (The per-client message
 * rate limit is off, as in test mode; its end_relay path is not reached.)
 *
 * One frontend (duro_frontend_t on port 0, test mode) lives for the whole
 * run; its backend_url points at a plain listening socket of the harness,
 * which plays the backend. Per input, the harness (as the browser) opens
 * a valid upgrade to /api/ws/connect with a session cookie signed with the
 * frontend's secret, accepts the frontend's upgrade request to the backend
 * and reads it, then runs the input's operations. It reads and discards
 * whatever arrives on both sockets, closes them and runs the loop until
 * every handle and connection of the input is gone (abort() otherwise: no
 * input may leave anything behind for the next one).
 *
 * Input:
 *   byte 0   bits 0-5: bytes per write minus one (1..64): every write is
 *            cut into pieces of that size with a loop turn after each;
 *            bit 6: the browser socket (small receive buffer and MSS) is
 *            not read until the end, so the frontend's queue towards it
 *            fills (its send queue bound is 16 KiB here);
 *            bit 7: the backend socket (always small buffers) is not read
 *            after the request, so the frontend's writes to it go partial.
 *   an odd input length: the browser offers permessage-deflate, which the
 *            frontend passes on and then accepts in the backend's answer.
 *   then operations until the input ends, each an opcode byte whose low
 *   3 bits say what to do:
 *     0 L D[L]  the backend writes the L bytes D (L one byte, cut short
 *               at the end of the input); "{A}" in D becomes the correct
 *               Sec-WebSocket-Accept for the key the frontend sent, so
 *               handwritten heads can be right or wrong at will
 *     1 L D[L]  the browser writes D (frames towards the backend)
 *               For 0 and 1 the high 5 bits v of the opcode byte repeat
 *               the write: 64 times for v = 30, 256 times for v = 31,
 *               else once, so that small inputs reach the size limits
 *               (a repeated write is not cut, one loop turn each)
 *     2 N       N % 16 + 1 loop turns; with v = 31 (as above), first
 *               duro_tunnel_going_away(), the frontend's shutdown, which
 *               puts a close frame 1001 between two of the backend's
 *               frames
 *     3         the backend writes a correct 101 answer
 *     4, 5      the backend, the browser half-closes (SHUT_WR)
 *     6, 7      the backend, the browser resets (close with SO_LINGER 0)
 * So "3" then 0/1 operations exercise the relay, and 0 operations alone
 * the head parser, cut at the chosen points.
 *
 * Every input ends within a few thousand loop turns (4000 for the
 * operations, at most 2000 more for the clean-up).
 * FUZZ_TUNNEL_VERBOSE=1 in the environment prints, per input, the
 * frontend's log and what each side received.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "frontend/frontend.h"
#include "frontend/session.h"
#include "frontend/tunnel.h"
#include "net/conn.h"
#include "ws/handshake.h"

#define MAX_SIZE (64 * 1024)
#define MAX_TURNS 4000    /* per input, operations */
#define CLEANUP_TURNS 2000 /* per input, after closing both sockets */
#define SESSION_SECRET "fuzz-session-secret-0123456789ab" /* 32 characters */

static uv_loop_t loop;
static duro_config_t cfg;
static duro_net_t net;
static duro_frontend_t frontend;
static int front_port, back_fd = -1;
static int baseline_handles;
/* the browser's upgrade request, without and with a permessage-deflate
 * offer (which the frontend carries up, and then accepts in the answer) */
static char request[2][1024];
static size_t request_len[2];
static char backend_url[64];

static duro_var_t vars[] = {
    {"DURO_SESSION_SECRET", SESSION_SECRET},
    {"DURO_INTERNAL_SECRET", "fuzz-internal-secret"},
};

/* One of the harness's two sockets. */
typedef struct side {
  int fd;       /* -1 once reset or closed */
  int no_read;  /* not read until the end */
  int wr_shut;  /* half-closed or broken: nothing more is written */
  int eof;      /* the frontend closed or reset its end */
  char in[4096]; /* the start of what arrived (the backend side keeps the
                    frontend's request here) */
  size_t in_len;
  size_t total; /* bytes that arrived */
} side_t;

static side_t browser, backend;
static int turns;
static int verbose; /* FUZZ_TUNNEL_VERBOSE=1: what each input did */

static void count_handle(uv_handle_t *h, void *arg) { (*(int *)arg)++; }

static int handle_count(void) {
  int n = 0;
  uv_walk(&loop, count_handle, &n);
  return n;
}

static void drain(side_t *s) {
  char buf[65536];
  if (s->fd < 0 || s->eof)
    return;
  for (;;) {
    ssize_t r = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
      s->total += (size_t)r;
      size_t k = sizeof(s->in) - 1 - s->in_len;
      k = (size_t)r < k ? (size_t)r : k;
      memcpy(s->in + s->in_len, buf, k);
      s->in_len += k;
      s->in[s->in_len] = '\0';
      continue;
    }
    if (r == 0 || errno != EAGAIN)
      s->eof = 1;
    return;
  }
}

/* One loop turn, then whatever the frontend sent is read. */
static void turn(void) {
  uv_run(&loop, UV_RUN_NOWAIT);
  turns++;
  if (!browser.no_read)
    drain(&browser);
  if (!backend.no_read)
    drain(&backend);
}

/* Writes n bytes in pieces of step, a loop turn after each piece. */
static void write_side(side_t *s, const uint8_t *p, size_t n, size_t step) {
  size_t off = 0;
  int stuck = 0;
  while (off < n && s->fd >= 0 && !s->wr_shut && turns < MAX_TURNS) {
    size_t k = n - off < step ? n - off : step;
    ssize_t w = send(s->fd, p + off, k, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      off += (size_t)w;
      stuck = 0;
    } else if (w < 0 && errno == EAGAIN) {
      if (++stuck > 50)
        break; /* the frontend does not read: drop the rest */
    } else {
      s->wr_shut = 1; /* the frontend closed or reset */
    }
    turn();
  }
}

static void shut(side_t *s) {
  if (s->fd >= 0 && !s->wr_shut)
    shutdown(s->fd, SHUT_WR);
  s->wr_shut = 1;
}

static void reset(side_t *s) {
  if (s->fd < 0)
    return;
  struct linger l = {1, 0};
  setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(s->fd);
  s->fd = -1;
  s->wr_shut = 1;
}

/* Makes the kernel hold little for the frontend's socket to the peer of
 * fd: a small receive buffer, and a small MSS (with loopback's 64 KiB MSS,
 * the frontend's send buffer would grow past a megabyte). */
static void small_buffers(int fd) {
  int rcv = 1024, mss = 536;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
}

static void setup(void) {
  char err[256];
  signal(SIGPIPE, SIG_IGN);
  verbose = getenv("FUZZ_TUNNEL_VERBOSE") != NULL;
  duro_log_level = verbose ? DURO_LOG_INFO : DURO_LOG_ERROR;
  uv_loop_init(&loop);

  /* the backend: a listening socket nobody but the harness serves */
  back_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  /* small buffers for every connection it accepts (set before the
   * handshake), so that a backend that does not read fills the frontend's
   * queue; the harness reads every loop turn otherwise */
  small_buffers(back_fd);
  if (back_fd < 0 || bind(back_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      listen(back_fd, 16) < 0 ||
      getsockname(back_fd, (struct sockaddr *)&a, &alen) < 0)
    abort();
  snprintf(backend_url, sizeof(backend_url), "http://127.0.0.1:%d",
           ntohs(a.sin_port));

  duro_limits_defaults(&cfg.limits);
  cfg.mode = DURO_MODE_TEST;
  cfg.role = "frontend";
  cfg.host = "127.0.0.1";
  cfg.backend_url = backend_url;
  cfg.vars = vars;
  cfg.nvars = sizeof(vars) / sizeof(vars[0]);
  duro_net_init(&net, &loop, 1000, 16 * 1024);
  if (duro_frontend_start(&frontend, &net, &cfg, 0, NULL, err,
                          sizeof(err)) < 0) {
    fprintf(stderr, "fuzz_tunnel: %s\n", err);
    abort();
  }
  front_port = duro_listener_port(&frontend.listener);

  char tok[DURO_SESSION_TOKEN_MAX + 1];
  size_t n = duro_session_issue(SESSION_SECRET, strlen(SESSION_SECRET),
                                duro_now_ms() / 1000 + 365 * 86400, tok);
  tok[n] = '\0';
  for (int offer = 0; offer < 2; offer++) {
    int len = snprintf(request[offer], sizeof(request[offer]),
                       "GET /api/ws/connect HTTP/1.1\r\n"
                       "Host: 127.0.0.1:%d\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "%s"
                       "Cookie: theme=dark; duro_session=%s\r\n"
                       "\r\n",
                       front_port,
                       offer ? "Sec-WebSocket-Extensions: permessage-deflate; "
                               "client_max_window_bits\r\n"
                             : "",
                       tok);
    if (len <= 0 || (size_t)len >= sizeof(request[offer]))
      abort();
    request_len[offer] = (size_t)len;
  }
  for (int i = 0; i < 10; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  baseline_handles = handle_count();
}

/* The browser connects and asks for the upgrade; the frontend connects to
 * the backend, whose socket is accepted and whose request is read. The
 * accept key for that request goes to accept. */
static void open_tunnel(int browser_small, int offer, char accept[29]) {
  memset(&browser, 0, sizeof(browser));
  memset(&backend, 0, sizeof(backend));
  browser.fd = socket(AF_INET, SOCK_STREAM, 0);
  backend.fd = -1;
  if (browser_small)
    small_buffers(browser.fd);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)front_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(browser.fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    abort();
  fcntl(browser.fd, F_SETFL, O_NONBLOCK);
  if (send(browser.fd, request[offer], request_len[offer], MSG_NOSIGNAL) !=
      (ssize_t)request_len[offer])
    abort();
  for (int i = 0; i < 1000 && backend.fd < 0; i++) {
    turn();
    backend.fd = accept4(back_fd, NULL, NULL, SOCK_NONBLOCK);
  }
  if (backend.fd < 0) {
    fprintf(stderr, "fuzz_tunnel: the frontend did not connect to the "
                    "backend; it answered: %s\n", browser.in);
    abort();
  }
  const char *key = NULL;
  for (int i = 0; i < 1000 && !strstr(backend.in, "\r\n\r\n"); i++)
    turn();
  key = strstr(backend.in, "\r\nSec-WebSocket-Key: ");
  if (!key || !strstr(backend.in, "\r\n\r\n") ||
      !strstr(backend.in, "\r\nAuthorization: Bearer fuzz-internal-secret\r\n") ||
      duro_ws_accept_key(key + 21, 24, accept) < 0) {
    fprintf(stderr, "fuzz_tunnel: unexpected request to the backend: %s\n",
            backend.in);
    abort();
  }
}

/* The backend's bytes with every "{A}" replaced by the accept key. */
static void backend_write(const uint8_t *p, size_t n, const char *accept,
                          size_t step, unsigned times) {
  uint8_t out[256 / 3 * 28 + 256];
  size_t len = 0;
  while (n > 0) {
    const uint8_t *m = memmem(p, n, "{A}", 3);
    size_t k = m ? (size_t)(m - p) : n;
    memcpy(out + len, p, k);
    len += k;
    p += k;
    n -= k;
    if (m) {
      memcpy(out + len, accept, 28);
      len += 28;
      p += 3;
      n -= 3;
    }
  }
  while (times-- && turns < MAX_TURNS)
    write_side(&backend, out, len, step);
}

/* What an opcode's high bits v make of a write: how many times, and in
 * pieces of how many bytes. */
static unsigned repeats(unsigned v, size_t *step) {
  if (v < 30)
    return 1;
  *step = 256;
  return v == 31 ? 256 : 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (back_fd < 0)
    setup();
  if (size == 0 || size > MAX_SIZE)
    return 0;
  size_t step = (size_t)(data[0] & 63) + 1;
  int browser_no_read = (data[0] & 64) != 0;
  int backend_no_read = (data[0] & 128) != 0;
  const uint8_t *p = data + 1, *end = data + size;

  char accept[29];
  turns = 0;
  open_tunnel(browser_no_read, (int)(size & 1), accept);
  browser.no_read = browser_no_read;
  backend.no_read = backend_no_read;

  while (p < end && turns < MAX_TURNS) {
    size_t piece = step;
    unsigned v = *p >> 3;
    unsigned times = repeats(v, &piece);
    uint8_t op = *p++ & 7;
    size_t n;
    switch (op) {
    case 0:
    case 1:
      n = p < end ? *p++ : 0;
      n = n < (size_t)(end - p) ? n : (size_t)(end - p);
      if (op == 0)
        backend_write(p, n, accept, piece, times);
      else
        while (times-- && turns < MAX_TURNS)
          write_side(&browser, p, n, piece);
      p += n;
      break;
    case 2:
      if (v == 31)
        duro_tunnel_going_away();
      n = p < end ? *p++ % 16 : 0;
      for (size_t i = 0; i <= n; i++)
        turn();
      break;
    case 3: {
      char head[256];
      int len = snprintf(head, sizeof(head),
                         "HTTP/1.1 101 Switching Protocols\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n\r\n",
                         accept);
      write_side(&backend, (const uint8_t *)head, (size_t)len, step);
      break;
    }
    case 4: shut(&backend); turn(); break;
    case 5: shut(&browser); turn(); break;
    case 6: reset(&backend); turn(); break;
    case 7: reset(&browser); turn(); break;
    }
  }
  for (int i = 0; i < 4; i++)
    turn();

  /* The end: both sockets go, and so must everything the input made. */
  browser.no_read = backend.no_read = 0;
  drain(&browser);
  drain(&backend);
  if (verbose)
    fprintf(stderr, "fuzz_tunnel: %d turns; the browser got %zu bytes:\n%.200s"
                    "\nthe backend got %zu bytes; %llu partial writes, "
                    "%llu overflows so far\n",
            turns, browser.total, browser.in, backend.total,
            (unsigned long long)net.partial_writes,
            (unsigned long long)net.overflows);
  if (browser.fd >= 0)
    close(browser.fd);
  if (backend.fd >= 0)
    close(backend.fd);
  browser.fd = backend.fd = -1;
  int i = 0;
  for (; i < CLEANUP_TURNS; i++) {
    if (net.nconns == 0 && handle_count() == baseline_handles)
      break;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  if (i == CLEANUP_TURNS) {
    fprintf(stderr, "fuzz_tunnel: %zu connections and %d handles (%d before "
                    "the input) left after the input\n",
            net.nconns, handle_count(), baseline_handles);
    abort();
  }
  int extra = accept4(back_fd, NULL, NULL, SOCK_NONBLOCK);
  if (extra >= 0) {
    fprintf(stderr, "fuzz_tunnel: a second connection to the backend\n");
    abort();
  }
  return 0;
}
