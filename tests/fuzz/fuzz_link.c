/*
 * fuzz_link.c: the node-to-node link (src/backend/link.c) on both of its
 * sides, fed a hostile peer node over real loopback sockets.
 *
 * One node (a duro_net_t, an HTTP listener on port 0 and a duro_links_t)
 * lives for the whole run. Its handler stands in for the backend's routes:
 *   /_duro/link   the link's upgrade (owner side; once per input, and only
 *                 from the harness's own socket, not from a carried one)
 *   /relay        (entry mode) carried to the harness's owner node
 *   /hold         not answered until the end of the input
 *   /cast         the request's body (or "cast") as one chunk to every
 *                 held request's connection, so that the owner side
 *                 gathers it into a CAST; then 200
 *   /big          200 with a 192 KiB body
 *   anything else 200 echoing the request's body
 * Each input runs one side; the harness plays the other node. It reads
 * and discards what reaches its sockets (unless told not to), closes them
 * at the end and runs the loop until every connection and handle of the
 * input is gone (abort() otherwise).
 *
 * Input:
 *   byte 0   bits 0-5: bytes per write minus one (1..64), with a loop turn
 *            after each piece; bit 6: the harness does not read (owner
 *            mode: the link; entry mode: the clients) until the end, and
 *            those sockets have small buffers, so the node's send queues
 *            fill (16 KiB bound here); bit 7: entry mode, else owner mode.
 *   then operations until the input ends: an opcode byte, low 4 bits the
 *   operation, high 4 bits v; id is v + 1; L D[L] is a length byte and
 *   that many bytes (cut short at the end of the input).
 *
 *   Owner mode: the harness is an entry node. It connects, asks for the
 *   link (GET /_duro/link, Upgrade: duro-link) and then:
 *     0 L D  writes D on the link as it is (any bytes: messages or not)
 *     1 L D  OPEN id with body D
 *     2 t    OPEN id with the request template t % 6 (the routes above,
 *            pipelined, Connection: close, a body still to come)
 *     3 L D  DATA id with D          4  END id
 *     5 N    N % 16 + 1 loop turns   6  half-closes (v even) or resets
 *                                       the link
 *     7 L D  DATA id with D, 64 times
 *
 *   Entry mode: the harness is the owner node: the node dials its
 *   listening socket for the first /relay and whenever a link failed.
 *     0 L D  writes D on the link as it is
 *     1      a new client (at most 8) asks /relay for a WebSocket
 *     2      the link's answer: 101 (v even) or 403 (v odd)
 *     3 L D  DATA id with D
 *     4 t    DATA id with the answer template t % 8: 101 with a frame
 *            after it; 421 naming this owner again, a dead port, nobody;
 *            503 with a body that is still to come; 101 and 192 KiB;
 *            404 with a body of 200,000 bytes of which 192 KiB come; 192
 *            KiB of bytes
 *     5 M L D  CAST of D to the ids whose bits are set in the byte M
 *            (bit i: id i + 1); M = 0 makes a CAST with no ids
 *     6      END id                  7  N % 16 + 1 loop turns
 *     8 L D  client v % 8 writes D
 *     9      client v % 8 half-closes (v < 8) or resets
 *     10     the link half-closes (v even) or resets
 *   In entry mode every byte the harness writes on the link, but its
 *   templates', has 'w' and 'W' turned into 'v' and 'V': no fuzzed answer
 *   can name an X-Duro-Owner, which the node would dial (only the
 *   templates name one, and only on 127.0.0.1).
 *
 * Every input ends within a few thousand loop turns (4000 for the
 * operations, at most 2000 more for the clean-up).
 * FUZZ_LINK_VERBOSE=1 in the environment prints the node's log.
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

#include "backend/link.h"
#include "backend/linkwire.h"
#include "core/config.h"
#include "core/log.h"
#include "http/http.h"
#include "net/conn.h"
#include "net/listener.h"

#define MAX_SIZE (64 * 1024)
#define MAX_TURNS 4000
#define CLEANUP_TURNS 2000
#define MAX_CLIENTS 8
#define MAX_HELD 16
#define BIG (192 * 1024)

static uv_loop_t loop;
static duro_config_t cfg;
static duro_net_t net;
static duro_listener_t listener;
static duro_http_opts_t opts;
static duro_links_t *links;
static int node_port, owner_fd = -1, baseline_handles;
static char owner_url[64], dead_url[64];
static int entry_mode, link_used, verbose;
static duro_http_req_t *held[MAX_HELD];
static size_t nheld;
static uint8_t *big; /* BIG bytes of 'x' */

/* One socket of the harness. */
typedef struct side {
  int fd;       /* -1 once reset or closed */
  int no_read;  /* not read until the end */
  int wr_shut;  /* half-closed or broken: nothing more is written */
  int eof;      /* the node closed or reset its end */
} side_t;

static side_t link_side, clients[MAX_CLIENTS];
static int nclients, turns;

/* ---- the node's routes --------------------------------------------------- */

static void handle(duro_http_req_t *req, void *data) {
  (void)data;
  if (duro_http_path_is(req, "/_duro/link") && !link_used && !entry_mode) {
    link_used = 1;
    duro_links_accept(links, req);
  } else if (duro_http_path_is(req, "/relay") && entry_mode) {
    duro_links_relay(links, req, owner_url);
  } else if (duro_http_path_is(req, "/hold") && nheld < MAX_HELD) {
    held[nheld++] = req;
  } else if (duro_http_path_is(req, "/cast")) {
    duro_chunk_t *c = req->body.len
                          ? duro_chunk_from(req->body.data, req->body.len)
                          : duro_chunk_from("cast", 4);
    for (size_t i = 0; i < nheld; i++)
      if (held[i]->conn)
        duro_conn_send(held[i]->conn, c);
    duro_chunk_unref(c);
    duro_http_respond_text(req, 200, NULL, "ok");
  } else if (duro_http_path_is(req, "/big")) {
    duro_http_respond(req, 200, NULL, 0, big, BIG);
  } else {
    duro_http_respond(req, 200, NULL, 0, req->body.data, req->body.len);
  }
}

static void on_accept(duro_listener_t *l, duro_conn_t *c) {
  (void)l;
  duro_http_attach(c, &opts);
}

static void unreachable(void *ud, const char *url) {
  (void)ud;
  if (verbose)
    fprintf(stderr, "fuzz_link: unreachable %s\n", url);
}

/* ---- the harness's sockets ----------------------------------------------- */

static void count_handle(uv_handle_t *h, void *arg) {
  (void)h;
  (*(int *)arg)++;
}

static int handle_count(void) {
  int n = 0;
  uv_walk(&loop, count_handle, &n);
  return n;
}

static void drain(side_t *s) {
  char buf[65536];
  if (s->fd < 0 || s->eof || s->no_read)
    return;
  for (;;) {
    ssize_t r = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0)
      continue;
    if (r == 0 || errno != EAGAIN)
      s->eof = 1;
    return;
  }
}

static void close_side(side_t *s) {
  if (s->fd >= 0)
    close(s->fd);
  memset(s, 0, sizeof(*s));
  s->fd = -1;
}

/* No Nagle on the harness's sockets: a small write waiting for the ACK
 * of the one before, which the node's delayed ACK holds back when it has
 * nothing to answer, would arrive only after the input's last turn. */
static void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Entry mode: the node's link to the harness's owner node, accepted (a
 * newer one replaces the older). */
static void accept_link(void) {
  if (owner_fd < 0)
    return;
  for (;;) {
    int fd = accept4(owner_fd, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0)
      return;
    close_side(&link_side);
    no_delay(fd);
    link_side.fd = fd;
  }
}

static void turn(void) {
  uv_run(&loop, UV_RUN_NOWAIT);
  turns++;
  accept_link();
  drain(&link_side);
  for (int i = 0; i < nclients; i++)
    drain(&clients[i]);
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
        break; /* the node does not read: drop the rest */
    } else {
      s->wr_shut = 1;
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

/* A small receive buffer and MSS for the node's socket to the peer of fd,
 * so that its writes go partial when the harness does not read. */
static void small_buffers(int fd) {
  int rcv = 1024, mss = 536;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
}

static int dial_node(int small) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    abort();
  no_delay(fd);
  if (small)
    small_buffers(fd);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)node_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    abort();
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

/* A listening socket on 127.0.0.1 with its URL in url. */
static int listen_local(char *url, size_t n) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      listen(fd, 16) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
    abort();
  snprintf(url, n, "http://127.0.0.1:%d", ntohs(a.sin_port));
  return fd;
}

static void setup(void) {
  char err[256];
  signal(SIGPIPE, SIG_IGN);
  verbose = getenv("FUZZ_LINK_VERBOSE") != NULL;
  duro_log_level = verbose ? DURO_LOG_INFO : DURO_LOG_ERROR;
  uv_loop_init(&loop);
  duro_limits_defaults(&cfg.limits);
  cfg.limits.max_body_bytes = 4096;
  duro_net_init(&net, &loop, 1000, 16 * 1024);
  duro_http_opts_init(&opts, &cfg.limits, handle, NULL);
  if (duro_listener_start(&listener, &net, "127.0.0.1", 0, on_accept, NULL,
                          err, sizeof(err)) < 0) {
    fprintf(stderr, "fuzz_link: %s\n", err);
    abort();
  }
  node_port = duro_listener_port(&listener);
  links = duro_links_new(&loop, &net, &opts, "fuzz-secret", unreachable,
                         NULL);
  owner_fd = listen_local(owner_url, sizeof(owner_url));
  /* a port nobody listens on: bound, then closed */
  close(listen_local(dead_url, sizeof(dead_url)));
  big = malloc(BIG);
  if (!big)
    abort();
  memset(big, 'x', BIG);
  link_side.fd = -1;
  for (int i = 0; i < MAX_CLIENTS; i++)
    clients[i].fd = -1;
  for (int i = 0; i < 10; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  baseline_handles = handle_count();
}

/* ---- messages ------------------------------------------------------------ */

static size_t step; /* bytes per write */

/* Writes a message on the link. */
static void send_msg(uint8_t type, uint32_t id, const void *body,
                     size_t len) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_link_put_head(&b, type, id, len);
  duro_buf_append(&b, body, len);
  /* a big one (a template's) in big pieces: the turns are counted */
  write_side(&link_side, b.data, b.len, b.len > 4096 ? 16384 : step);
  duro_buf_free(&b);
}

/* Entry mode: fuzzed bytes towards the node name no X-Duro-Owner. */
static void defang(uint8_t *p, size_t n) {
  if (!entry_mode)
    return;
  for (size_t i = 0; i < n; i++)
    if (p[i] == 'w' || p[i] == 'W')
      p[i] = (uint8_t)(p[i] - 1);
}

/* The L D of an operation: a copy (defanged) in out, its length. */
static size_t take(const uint8_t **p, const uint8_t *end, uint8_t *out) {
  size_t n = *p < end ? *(*p)++ : 0;
  n = n < (size_t)(end - *p) ? n : (size_t)(end - *p);
  memcpy(out, *p, n);
  *p += n;
  defang(out, n);
  return n;
}

static const char *const owner_requests[] = {
    "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /cast HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "GET /big HTTP/1.1\r\nHost: a\r\n\r\n",
    ("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
     "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n"),
    "GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab",
};

static void run_owner(const uint8_t *p, const uint8_t *end) {
  static const char ask[] = "GET /_duro/link HTTP/1.1\r\nHost: node\r\n"
                            "Upgrade: duro-link\r\nConnection: Upgrade\r\n"
                            "X-Duro-Hop: fuzz-secret\r\n\r\n";
  uint8_t d[256];
  link_side.fd = dial_node(link_side.no_read);
  write_side(&link_side, (const uint8_t *)ask, sizeof(ask) - 1, step);
  while (p < end && turns < MAX_TURNS) {
    unsigned v = *p >> 4;
    uint32_t id = v + 1;
    size_t n;
    switch (*p++ & 15) {
    case 0:
      n = take(&p, end, d);
      write_side(&link_side, d, n, step);
      break;
    case 1:
      n = take(&p, end, d);
      send_msg(DURO_LINK_OPEN, id, d, n);
      break;
    case 2: {
      const char *r = owner_requests[(p < end ? *p++ : 0) % 6];
      send_msg(DURO_LINK_OPEN, id, r, strlen(r)); /* C string: a literal */
      break;
    }
    case 3:
      n = take(&p, end, d);
      send_msg(DURO_LINK_DATA, id, d, n);
      break;
    case 4:
      send_msg(DURO_LINK_END, id, NULL, 0);
      break;
    case 6:
      if (v & 1)
        reset(&link_side);
      else
        shut(&link_side);
      turn();
      break;
    case 7:
      n = take(&p, end, d);
      for (int i = 0; i < 64 && turns < MAX_TURNS; i++)
        send_msg(DURO_LINK_DATA, id, d, n);
      break;
    default: {
      n = p < end ? *p++ % 16 : 0;
      for (size_t i = 0; i <= n; i++)
        turn();
      break;
    }
    }
  }
}

/* Entry mode: the owner's answers for a relay, by template. */
static void send_answer(uint32_t id, unsigned t) {
  duro_buf_t b = DURO_BUF_INIT;
  switch (t % 8) {
  case 0:
    duro_buf_printf(&b, "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                        "\r\n\r\n\x81\x02hi");
    break;
  case 1:
  case 2:
    duro_buf_printf(&b, "HTTP/1.1 421 Misdirected Request\r\n"
                        "X-Duro-Owner: %s\r\nContent-Length: 0\r\n\r\n",
                    t % 8 == 1 ? owner_url : dead_url);
    break;
  case 3:
    duro_buf_printf(&b, "HTTP/1.1 421 Misdirected Request\r\n"
                        "Content-Length: 0\r\n\r\n");
    break;
  case 4:
    duro_buf_printf(&b, "HTTP/1.1 503 Service Unavailable\r\n"
                        "Content-Length: 10\r\n\r\nbusy");
    break;
  case 5:
    duro_buf_printf(&b, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    duro_buf_append(&b, big, BIG);
    break;
  case 6:
    duro_buf_printf(&b, "HTTP/1.1 404 Not Found\r\n"
                        "Content-Length: 200000\r\n\r\n");
    duro_buf_append(&b, big, BIG);
    break;
  default:
    duro_buf_append(&b, big, BIG);
    break;
  }
  send_msg(DURO_LINK_DATA, id, b.data, b.len);
  duro_buf_free(&b);
}

static void run_entry(const uint8_t *p, const uint8_t *end, int no_read) {
  static const char ws[] = "GET /relay HTTP/1.1\r\nHost: node\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "\r\n";
  static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: duro-link\r\nConnection: Upgrade\r\n\r\n";
  static const char no[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                           "\r\n";
  uint8_t d[256];
  while (p < end && turns < MAX_TURNS) {
    unsigned v = *p >> 4;
    uint32_t id = v + 1;
    size_t n;
    switch (*p++ & 15) {
    case 0:
      n = take(&p, end, d);
      write_side(&link_side, d, n, step);
      break;
    case 1:
      if (nclients < MAX_CLIENTS) {
        side_t *c = &clients[nclients++];
        c->fd = dial_node(no_read);
        c->no_read = no_read;
        write_side(c, (const uint8_t *)ws, sizeof(ws) - 1, step);
      }
      break;
    case 2:
      if (v & 1)
        write_side(&link_side, (const uint8_t *)no, sizeof(no) - 1, step);
      else
        write_side(&link_side, (const uint8_t *)ok, sizeof(ok) - 1, step);
      break;
    case 3:
      n = take(&p, end, d);
      send_msg(DURO_LINK_DATA, id, d, n);
      break;
    case 4:
      send_answer(id, p < end ? *p++ : 0);
      break;
    case 5: {
      uint8_t mask = p < end ? *p++ : 0;
      uint32_t ids[8], k = 0;
      for (uint32_t i = 0; i < 8; i++)
        if (mask & (1u << i))
          ids[k++] = i + 1;
      n = take(&p, end, d);
      duro_buf_t b = DURO_BUF_INIT;
      duro_link_put_cast(&b, ids, k, n);
      duro_buf_append(&b, d, n);
      write_side(&link_side, b.data, b.len, step);
      duro_buf_free(&b);
      break;
    }
    case 6:
      send_msg(DURO_LINK_END, id, NULL, 0);
      break;
    case 8:
      n = take(&p, end, d);
      if (v % 8 < (unsigned)nclients)
        write_side(&clients[v % 8], d, n, step);
      break;
    case 9:
      if (v % 8 < (unsigned)nclients) {
        if (v < 8)
          shut(&clients[v % 8]);
        else
          reset(&clients[v % 8]);
      }
      turn();
      break;
    case 10:
      if (v & 1)
        reset(&link_side);
      else
        shut(&link_side);
      turn();
      break;
    default:
      n = p < end ? *p++ % 16 : 0;
      for (size_t i = 0; i <= n; i++)
        turn();
      break;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!links)
    setup();
  if (size == 0 || size > MAX_SIZE)
    return 0;
  step = (size_t)(data[0] & 63) + 1;
  int no_read = (data[0] & 64) != 0;
  entry_mode = (data[0] & 128) != 0;
  link_used = 0;
  turns = 0;
  nclients = 0;
  if (entry_mode) {
    run_entry(data + 1, data + size, no_read);
  } else {
    link_side.no_read = no_read;
    run_owner(data + 1, data + size);
  }
  for (int i = 0; i < 4; i++)
    turn();
  if (verbose) {
    duro_link_stats_t st;
    duro_links_stats(&st);
    fprintf(stderr, "fuzz_link: %d turns; so far links accepted %llu, "
                    "opened %llu, carried %llu, DATA %llu, CAST %llu to %llu; "
                    "%llu overflows\n",
            turns, (unsigned long long)st.links_accepted,
            (unsigned long long)st.links_opened,
            (unsigned long long)st.carried,
            (unsigned long long)st.data_sent,
            (unsigned long long)st.casts_sent,
            (unsigned long long)st.cast_recipients,
            (unsigned long long)net.overflows);
  }

  /* The end: held requests are answered, the harness's sockets close,
   * and everything the input made must go. */
  for (size_t i = 0; i < nheld; i++)
    duro_http_respond(held[i], 200, NULL, 0, NULL, 0);
  nheld = 0;
  link_side.no_read = 0;
  for (int i = 0; i < nclients; i++)
    clients[i].no_read = 0;
  turn();
  close_side(&link_side);
  for (int i = 0; i < MAX_CLIENTS; i++)
    close_side(&clients[i]);
  int i = 0;
  for (; i < CLEANUP_TURNS; i++) {
    accept_link(); /* a link dialled at the very end */
    close_side(&link_side);
    if (net.nconns == 0 && handle_count() == baseline_handles)
      break;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  if (i == CLEANUP_TURNS) {
    fprintf(stderr, "fuzz_link: %zu connections and %d handles (%d before "
                    "the input) left after the input\n",
            net.nconns, handle_count(), baseline_handles);
    abort();
  }
  return 0;
}
