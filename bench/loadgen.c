/*
 * loadgen.c: load generator for duro's seed application (MessageCoordinator).
 *
 * It talks to the server only over TCP on 127.0.0.1, so it builds and runs
 * without any part of duro. Three modes:
 *
 *   fanout  N subscriber WebSockets on /ws/connect plus K (default 1) HTTP
 *           keep-alive publishers that send M `POST /broadcast` requests
 *           whose JSON body is {"seq":i,"t":<CLOCK_MONOTONIC us>}; publisher
 *           j sends seqs j, j+K, j+2K, ... with up to W in flight each.
 *           Every text frame a subscriber receives is scanned for seq and t;
 *           now - t goes into a log-linear histogram, seq is checked for
 *           order (per publisher: the server may interleave connections),
 *           duplicates and losses (a bitmap of M bits per subscriber).
 *   idle    N WebSockets held open until stdin closes or a signal arrives;
 *           used to measure the server's memory per idle connection.
 *   handshakes  N connections, C at a time, each making one request
 *           (`GET /`, `Connection: close`) and reading the answer until the
 *           server closes; with --tls each is a full TLS handshake (no
 *           session resumption): handshakes per second and per server CPU.
 *   syncsubs N live LiveStore pullers (bench/sync_bench.mjs fan-out): each
 *           socket sends one SyncWsRpc.Pull (live, cursor None) and reads
 *           the Chunk messages without a JSON parse: the first and last
 *           "seqNum" of a chunk give its event count (the benchmark pushes
 *           contiguous chains; a chunk that does not start where the
 *           previous one ended counts as a gap), and the first "t" (wall
 *           clock ms, stamped by the pusher) gives the chunk's latency.
 *           Works against any server speaking the protocol, so duro and
 *           the reference backend are read by the same client.
 *
 * Design notes. One thread, one epoll instance, level-triggered, all sockets
 * nonblocking. Every read goes into one loop-wide buffer (as in uSockets);
 * a connection keeps only the tail of an incomplete frame between reads, so
 * 10,000 subscribers cost a few hundred bytes each. The clock is read once
 * per recv(), not per frame. Output (handshake, pong, close, requests) is
 * sent directly and queued only if the socket is full, with EPOLLOUT armed
 * until the queue drains. A connection that fails while its input is being
 * processed is only marked; it is closed after processing returns.
 *
 * --tls speaks TLS (OpenSSL, memory BIOs: the socket I/O stays the loop's
 * own, recv() into a cipher buffer that is fed to the SSL, whose output is
 * queued like plain output; no certificate verification: these are test
 * servers on 127.0.0.1). --deflate offers permessage-deflate and inflates
 * RSV1 messages with zlib (raw inflate of the payload plus 00 00 ff ff;
 * one shared stream reset per message when the server answered
 * server_no_context_takeover, else one stream per socket). Subscribers count
 * the bytes they recv() while publishing (ciphertext with --tls): the bytes
 * on the wire per delivery.
 *
 * Every wait is bounded: connecting, publishing and draining each have a
 * deadline, and a run also ends once nothing has arrived for a while after
 * the last request was answered. Exit status: 0 all delivered in order,
 * 1 losses/disorder/errors, 2 usage or setup failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#define RBUF_SIZE (256 * 1024) /* loop-wide receive buffer */
#define MAX_FRAME (64 * 1024)  /* largest server frame we accept */
/* syncsubs: chunks are ~24 KB, but a server may send bigger messages (a
 * backlog page, a fragmented message); the receive buffer must hold the
 * carried tail of an incomplete frame plus room for the next read. */
#define SYNC_RBUF_SIZE (4 * 1024 * 1024)
#define SYNC_MAX_FRAME (2 * 1024 * 1024)
#define CBUF_SIZE (64 * 1024) /* --tls: one recv() of ciphertext */
#define MAX_HEAD 8192          /* largest HTTP response head we accept */
#define MAX_ATTEMPTS 3         /* connect attempts per socket */
#define MAX_EVENTS 1024
#define MAX_ERR_LOG 5 /* individual errors printed before going quiet */

#define ID_SIGNAL UINT64_C(0xffffffff00000001)
#define ID_STDIN UINT64_C(0xffffffff00000002)

/*
 * The key is fixed, so the expected Sec-WebSocket-Accept is the RFC 6455
 * section 1.3 example value and no SHA-1 is needed to check it.
 */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* ST_TLS: the TCP connection is up, the TLS handshake is not done. */
enum { ST_IDLE, ST_CONNECTING, ST_TLS, ST_HANDSHAKE, ST_OPEN, ST_DEAD };

/* conn_t.deflate bits */
#define DEFL_ON 1     /* permessage-deflate negotiated */
#define DEFL_NO_CTX 2 /* server_no_context_takeover: each message on its own */

typedef struct {
  char *p;
  size_t off, len, cap; /* bytes [off, len) are waiting to be sent */
} obuf_t;

typedef struct {
  int fd;
  uint8_t state;
  uint8_t attempts;
  uint8_t is_pub;
  uint32_t events; /* current epoll interest */
  int broken;      /* errno-style code set by a failed send, acted on later */
  int64_t last_seq; /* syncsubs: the last seqNum received (0: none) */
  int64_t *pub_last; /* fanout, K > 1: the last seq from each publisher */
  uint32_t pub_next, pub_out; /* publisher: its next seq, requests in flight */
  uint32_t got;      /* distinct seqs received */
  uint64_t *seen;
  uint8_t ready, done; /* syncsubs: first chunk seen; all events seen;
                          handshakes: the whole answer arrived */
  uint8_t deflate;     /* DEFL_* */
  SSL *ssl;            /* --tls */
  z_stream *zs;        /* --deflate with context takeover: this socket's */
  char *msg;           /* syncsubs: a fragmented message being assembled */
  uint32_t msg_len, msg_cap;
  bool in_msg;
  char *in; /* unconsumed input carried between reads */
  uint32_t in_len, in_cap;
  obuf_t out;
} conn_t;

/* Log-linear latency histogram in microseconds: exact below 128, then 64
 * sub-buckets per power of two (under 1.6 % relative error). */
#define HIST_BUCKETS (128 + 64 * 57)

typedef struct {
  uint64_t n, sum, max;
  uint64_t b[HIST_BUCKETS];
} hist_t;

static struct {
  /* options */
  const char *mode;
  bool sync; /* syncsubs */
  int port;
  const char *path, *store;
  uint32_t events;
  size_t rbuf_size, max_frame;
  uint32_t subs, msgs, window, burst, pubs;
  double rate, hold_s, timeout_s;
  bool quiet, pause;
  bool tls, deflate, hs; /* --tls, --deflate, handshakes mode */
  uint32_t body_bytes;   /* --body-bytes: pad the JSON body to about this */

  /* loop */
  int ep, sigfd;
  struct sockaddr_in addr;
  char *rb;
  conn_t *conns; /* subs, then the publishers from index subs on */
  uint32_t nconns;
  char handshake[768];
  size_t handshake_len;
  SSL_CTX *ssl_ctx;
  char *cb;           /* --tls: ciphertext read buffer (CBUF_SIZE) */
  obuf_t stage;       /* requests being built before encryption */
  char *body_tail;    /* the JSON body after "t":<us> */
  size_t body_tail_len;
  z_stream zshared;   /* --deflate, no context takeover: shared, reset */
  bool zshared_init;
  char *zbuf;         /* inflated message (max_frame + 1) */
  char ext_answer[160]; /* the first Sec-WebSocket-Extensions answer */
  char tls_info[160];   /* the first TLS session: version, cipher, group */
  uint64_t rng;
  bool stop;       /* a signal arrived */
  bool stdin_eof;  /* stdin closed */
  bool stdin_line; /* something arrived on stdin */
  bool stdin_watched;

  /* connect phase */
  uint32_t next_open, connecting, open, failed;

  /* publishers (totals over all of them) */
  uint32_t sent, acked, acked_bad;
  int64_t pub_start, last_ack;

  /* subscribers */
  uint64_t deliveries, distinct, dup, ooo, bad, proto_err, closed, pings;
  /* recv()s that returned data on subscribers while publishing: deliveries
   * per recv shows how many frames the server packs into one send */
  uint64_t sub_recvs;
  uint64_t sub_bytes; /* bytes those recv()s returned (ciphertext with --tls) */
  uint64_t inflated;  /* deliveries that came compressed (RSV1) */
  uint32_t deflate_socks; /* subscribers that negotiated permessage-deflate */
  /* handshakes mode */
  uint32_t hs_next, hs_active, hs_ok, hs_failed, hs_bad;
  int64_t hs_last;
  uint32_t complete;
  int64_t last_delivery, t_done;
  /* syncsubs (times are CLOCK_REALTIME us, comparable with the pusher's) */
  uint32_t ready;
  uint64_t chunks, empty_chunks, gaps, fragmented, sync_err;
  int64_t first_delivery;
  hist_t hist;
  unsigned errs_logged;
} g;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wall clock, for latencies against a timestamp another process wrote. */
static int64_t real_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) {
    fprintf(stderr, "loadgen: out of memory (%zu bytes)\n", n);
    exit(2);
  }
  return q;
}

/* Prints the first few connection errors; a storm of them says nothing new. */
static void logerr(const char *what, int e) {
  if (g.errs_logged++ < MAX_ERR_LOG)
    fprintf(stderr, "loadgen: %s%s%s\n", what, e ? ": " : "", e ? strerror(e) : "");
  else if (g.errs_logged == MAX_ERR_LOG + 1)
    fprintf(stderr, "loadgen: further connection errors not shown\n");
}

/* ---------------------------------------------------------------- histogram */

static unsigned hist_index(uint64_t v) {
  if (v < 128)
    return (unsigned)v;
  int shift = 63 - __builtin_clzll(v) - 6;
  return 128 + (unsigned)(shift - 1) * 64 + (unsigned)((v >> shift) - 64);
}

static void hist_add(hist_t *h, uint64_t v) {
  h->b[hist_index(v)]++;
  h->n++;
  h->sum += v;
  if (v > h->max)
    h->max = v;
}

/* The value at quantile q, as the middle of its bucket (never above max). */
static double hist_quantile_ms(const hist_t *h, double q) {
  if (h->n == 0)
    return 0;
  uint64_t want = (uint64_t)(q * (double)h->n + 0.999999);
  if (want < 1)
    want = 1;
  uint64_t acc = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    acc += h->b[i];
    if (acc < want)
      continue;
    double v;
    if (i < 128) {
      v = i;
    } else {
      unsigned shift = (i - 128) / 64 + 1;
      uint64_t m = (i - 128) % 64 + 64;
      v = (double)(m << shift) + (double)(UINT64_C(1) << shift) / 2;
    }
    if (v > (double)h->max)
      v = (double)h->max;
    return v / 1000.0;
  }
  return (double)h->max / 1000.0;
}

/* ------------------------------------------------------------------ output */

static void conn_watch(conn_t *c, uint32_t id, uint32_t events) {
  if (c->events == events)
    return;
  struct epoll_event ev = {.events = events, .data.u64 = id};
  if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
    perror("loadgen: epoll_ctl");
    exit(2);
  }
  c->events = events;
}

static void obuf_append(obuf_t *b, const void *p, size_t n) {
  if (b->off == b->len)
    b->off = b->len = 0;
  if (b->len + n > b->cap) {
    if (b->off > 0) {
      memmove(b->p, b->p + b->off, b->len - b->off);
      b->len -= b->off;
      b->off = 0;
    }
    if (b->len + n > b->cap) {
      b->cap = (b->len + n) * 2;
      b->p = xrealloc(b->p, b->cap);
    }
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

/* --tls: moves what the SSL wrote (records) to the output queue. */
static void tls_drain(conn_t *c) {
  BIO *w = SSL_get_wbio(c->ssl);
  char *p;
  long n = BIO_get_mem_data(w, &p);
  if (n > 0) {
    obuf_append(&c->out, p, (size_t)n);
    (void)BIO_reset(w);
  }
}

/* Queues n bytes of the protocol's output (encrypted with --tls) without
 * sending them. */
static void out_append(conn_t *c, const void *p, size_t n) {
  if (!c->ssl) {
    obuf_append(&c->out, p, n);
    return;
  }
  while (n > 0) { /* a memory BIO takes everything: no WANT_WRITE */
    int w = SSL_write(c->ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
    if (w <= 0) {
      c->broken = EPROTO;
      return;
    }
    p = (const char *)p + w;
    n -= (size_t)w;
  }
  tls_drain(c);
}

/* Sends what is queued. Returns true if the queue is now empty. A hard
 * error is recorded in c->broken for the caller to act on. */
static bool conn_flush(conn_t *c) {
  obuf_t *b = &c->out;
  while (b->off < b->len) {
    ssize_t w = send(c->fd, b->p + b->off, b->len - b->off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        c->broken = errno;
      return false;
    }
    b->off += (size_t)w;
  }
  b->off = b->len = 0;
  return true;
}

/* Queues n bytes and tries to send them; arms EPOLLOUT if some are left. */
static void conn_write(conn_t *c, uint32_t id, const void *p, size_t n) {
  out_append(c, p, n);
  if (!c->broken && !conn_flush(c) && !c->broken)
    conn_watch(c, id, EPOLLIN | EPOLLOUT);
}

/* A masked client frame (clients must mask, RFC 6455 5.3) with at most
 * 1024 payload bytes: control frames and the syncsubs Pull request. */
#define WS_SEND_MAX 1024
static void ws_send(conn_t *c, uint32_t id, unsigned op, const void *p, size_t n) {
  uint8_t f[8 + WS_SEND_MAX];
  size_t h = 2;
  if (n > WS_SEND_MAX)
    n = WS_SEND_MAX;
  if (op & 0x8 && n > 125)
    n = 125; /* control frames */
  g.rng ^= g.rng << 13;
  g.rng ^= g.rng >> 7;
  g.rng ^= g.rng << 17;
  uint8_t key[4] = {(uint8_t)g.rng, (uint8_t)(g.rng >> 8), (uint8_t)(g.rng >> 16),
                    (uint8_t)(g.rng >> 24)};
  f[0] = (uint8_t)(0x80 | op);
  if (n <= 125) {
    f[1] = (uint8_t)(0x80 | n);
  } else {
    f[1] = 0x80 | 126;
    f[2] = (uint8_t)(n >> 8);
    f[3] = (uint8_t)n;
    h = 4;
  }
  memcpy(f + h, key, 4);
  h += 4;
  for (size_t i = 0; i < n; i++)
    f[h + i] = ((const uint8_t *)p)[i] ^ key[i & 3];
  conn_write(c, id, f, h + n);
}

/* ------------------------------------------------------------- connections */

static int conn_open(conn_t *c, uint32_t id) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return errno;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (struct sockaddr *)&g.addr, sizeof(g.addr)) < 0 &&
      errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return e;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = id};
  if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    close(fd);
    return e;
  }
  c->fd = fd;
  c->events = EPOLLOUT;
  c->state = ST_CONNECTING;
  c->attempts++;
  c->broken = 0;
  c->in_len = 0;
  c->out.off = c->out.len = 0;
  g.connecting++;
  return 0;
}

static void conn_close_fd(conn_t *c) {
  if (c->fd >= 0) {
    close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
  }
  if (c->ssl) {
    SSL_free(c->ssl); /* and its BIOs */
    c->ssl = NULL;
  }
  if (c->zs) {
    inflateEnd(c->zs);
    free(c->zs);
    c->zs = NULL;
  }
  c->deflate = 0;
}

/* handshakes mode: connection c is finished, with the answer (ok) or not. */
static void hs_finish(conn_t *c, bool ok, const char *why, int e) {
  conn_close_fd(c);
  c->state = ST_DEAD;
  g.hs_active--;
  g.hs_last = now_us();
  if (ok) {
    g.hs_ok++;
  } else {
    g.hs_failed++;
    logerr(why, e);
  }
}

/* The connection failed or was closed by the peer. Before it is open it is
 * retried up to MAX_ATTEMPTS times; after that it counts as failed. */
static void conn_fail(conn_t *c, uint32_t id, const char *why, int e) {
  uint8_t was = c->state;
  if (g.hs) {
    hs_finish(c, false, why, e);
    return;
  }
  conn_close_fd(c);
  c->in_len = 0;
  c->out.off = c->out.len = 0;
  if (was == ST_CONNECTING || was == ST_TLS || was == ST_HANDSHAKE) {
    g.connecting--;
    if (c->attempts < MAX_ATTEMPTS && !c->is_pub) {
      int r = conn_open(c, id);
      if (r == 0)
        return;
      e = r;
      why = "connect";
    }
    c->state = ST_DEAD;
    g.failed++;
    logerr(why, e);
    return;
  }
  c->state = ST_DEAD;
  if (c->is_pub) {
    fprintf(stderr, "loadgen: publisher connection lost: %s%s%s\n", why,
            e ? ": " : "", e ? strerror(e) : "");
  } else if (was == ST_OPEN) {
    g.open--;
    g.closed++;
    logerr(why, e);
  }
}

/* Finds header `name` (case-insensitive) in a response head; returns its
 * trimmed value and length, or NULL. The head need not end in NUL. */
static const char *header_find(const char *h, size_t hlen, const char *name,
                               size_t *vlen) {
  size_t nlen = strlen(name);
  const char *end = h + hlen;
  const char *p = memchr(h, '\n', hlen); /* skip the status line */
  while (p && p + 1 < end) {
    p++;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
      break;
    if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
        strncasecmp(p, name, nlen) == 0) {
      const char *v = p + nlen + 1, *ve = eol;
      if (ve > v && ve[-1] == '\r')
        ve--;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    p = eol;
  }
  return NULL;
}

static int status_code(const char *h, size_t hlen) {
  if (hlen < 12 || memcmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ')
    return -1;
  int s = 0;
  for (int i = 9; i < 12; i++) {
    if (h[i] < '0' || h[i] > '9')
      return -1;
    s = s * 10 + (h[i] - '0');
  }
  return s;
}

/* Finds `key` in p[0..n) and parses the integer after it. */
static bool scan_int(const char *p, size_t n, const char *key, size_t klen,
                     int64_t *out) {
  const char *k = memmem(p, n, key, klen);
  if (!k)
    return false;
  const char *s = k + klen, *e = p + n;
  while (s < e && *s == ' ')
    s++;
  bool neg = s < e && *s == '-';
  if (neg)
    s++;
  if (s >= e || *s < '0' || *s > '9')
    return false;
  int64_t v = 0;
  while (s < e && *s >= '0' && *s <= '9' && v < INT64_MAX / 10)
    v = v * 10 + (*s++ - '0');
  *out = neg ? -v : v;
  return true;
}

/* One text message on a subscriber: the per-delivery hot path. */
static void on_text(conn_t *c, const char *p, size_t n, int64_t now) {
  int64_t seq, t;
  g.deliveries++;
  if (!scan_int(p, n, "\"seq\":", 6, &seq) || !scan_int(p, n, "\"t\":", 4, &t) ||
      seq < 0 || (uint64_t)seq >= g.msgs || !c->seen) {
    g.bad++;
    return;
  }
  g.last_delivery = now;
  uint64_t bit = UINT64_C(1) << (seq & 63);
  if (c->seen[seq >> 6] & bit) {
    g.dup++;
    return;
  }
  c->seen[seq >> 6] |= bit;
  int64_t *last = g.pubs > 1 ? &c->pub_last[seq % g.pubs] : &c->last_seq;
  if (seq < *last)
    g.ooo++;
  else
    *last = seq;
  g.distinct++;
  hist_add(&g.hist, now > t ? (uint64_t)(now - t) : 0);
  if (++c->got == g.msgs && ++g.complete == g.subs)
    g.t_done = now;
}

/* ---------------------------------------------------------------- syncsubs */

/* The last occurrence of `key` in p[0..n), or NULL. */
static const char *memrmem_(const char *p, size_t n, const char *key, size_t klen) {
  if (n < klen)
    return NULL;
  for (size_t i = n - klen + 1; i-- > 0;)
    if (p[i] == key[0] && memcmp(p + i, key, klen) == 0)
      return p + i;
  return NULL;
}

/* Parses the decimal number after `at` (JSON, non-negative, optional
 * fraction) as thousandths: "1763900000123.456" -> 1763900000123456. */
static bool scan_milli(const char *at, const char *end, int64_t *out) {
  if (at >= end || *at < '0' || *at > '9')
    return false;
  int64_t v = 0;
  while (at < end && *at >= '0' && *at <= '9' && v < INT64_MAX / 10)
    v = v * 10 + (*at++ - '0');
  int frac = 0;
  if (at < end && *at == '.')
    for (at++; at < end && *at >= '0' && *at <= '9'; at++)
      if (frac < 3) {
        v = v * 10 + (*at - '0');
        frac++;
      }
  for (; frac < 3; frac++)
    v *= 10;
  *out = v;
  return true;
}

/* One complete message on a live puller: the per-chunk hot path. Only the
 * head, the first "seqNum"/"t" and the last "seqNum" are looked at. */
static void on_sync_msg(conn_t *c, const char *p, size_t n, int64_t now) {
  size_t head = n < 64 ? n : 64;
  if (!memmem(p, head, "\"_tag\":\"Chunk\"", 14)) {
    g.sync_err++;
    if (g.errs_logged++ < MAX_ERR_LOG)
      fprintf(stderr, "loadgen: unexpected message: %.*s\n", (int)(n > 300 ? 300 : n), p);
    return;
  }
  g.chunks++;
  if (!c->ready) {
    c->ready = 1;
    g.ready++;
  }
  const char *f = memmem(p, n, "\"seqNum\":", 9);
  if (!f) {
    g.empty_chunks++;
    return;
  }
  const char *l = memrmem_(p, n, "\"seqNum\":", 9), *end = p + n;
  int64_t first, last, t;
  if (!scan_int(f, (size_t)(end - f), "\"seqNum\":", 9, &first) ||
      !scan_int(l, (size_t)(end - l), "\"seqNum\":", 9, &last) || last < first) {
    g.bad++;
    return;
  }
  const char *tk = memmem(p, n, "\"t\":", 4);
  if (tk && scan_milli(tk + 4, end, &t))
    hist_add(&g.hist, now > t ? (uint64_t)(now - t) : 0);
  else
    g.bad++;
  if (first != c->last_seq + 1)
    g.gaps++;
  c->last_seq = last;
  g.deliveries += (uint64_t)(last - first + 1);
  if (g.first_delivery == 0)
    g.first_delivery = now;
  g.last_delivery = now;
  if (!c->done && last >= (int64_t)g.events) {
    c->done = 1;
    if (++g.complete == g.subs)
      g.t_done = now;
  }
}

/* A text or continuation frame on a live puller. Whole messages are
 * handled in place; fragments are assembled in c->msg. */
static bool sync_frame(conn_t *c, unsigned op, bool fin, const char *pl, size_t len,
                       int64_t now) {
  if (op == 0x1 && fin && !c->in_msg) {
    on_sync_msg(c, pl, len, now);
    return true;
  }
  if ((op == 0x1) == c->in_msg)
    return false; /* a continuation without a start, or a new start inside */
  if (op == 0x1) {
    c->in_msg = true;
    c->msg_len = 0;
    g.fragmented++;
  }
  if (c->msg_len + len > g.max_frame)
    return false;
  if (c->msg_len + len > c->msg_cap) {
    c->msg_cap = (uint32_t)(c->msg_len + len) * 2;
    c->msg = xrealloc(c->msg, c->msg_cap);
  }
  memcpy(c->msg + c->msg_len, pl, len);
  c->msg_len += (uint32_t)len;
  if (fin) {
    c->in_msg = false;
    on_sync_msg(c, c->msg, c->msg_len, now);
  }
  return true;
}

/* Sends the socket's live Pull, the envelope the Node client sends. */
static void sync_send_pull(conn_t *c, uint32_t id) {
  char req[512];
  int n = snprintf(req, sizeof(req),
                   "{\"_tag\":\"Request\",\"id\":\"%" PRIu32 "\",\"tag\":\"SyncWsRpc.Pull\","
                   "\"payload\":{\"storeId\":\"%s\",\"live\":true,"
                   "\"cursor\":{\"_tag\":\"None\"}},\"headers\":[]}",
                   id, g.store);
  ws_send(c, id, 0x1, req, (size_t)n);
}

/* Handles the 101 response; returns the bytes it used, 0 if incomplete,
 * or -1 after failing the connection. */
static ssize_t sub_handshake(conn_t *c, uint32_t id, const char *p, size_t n) {
  const char *e = memmem(p, n, "\r\n\r\n", 4);
  if (!e) {
    if (n > MAX_HEAD) {
      conn_fail(c, id, "handshake response too large", 0);
      return -1;
    }
    return 0;
  }
  size_t hlen = (size_t)(e - p) + 4, vlen;
  const char *v = header_find(p, hlen, "sec-websocket-accept", &vlen);
  if (status_code(p, hlen) != 101) {
    conn_fail(c, id, "handshake: status is not 101", 0);
    return -1;
  }
  if (!v || vlen != strlen(WS_ACCEPT) || memcmp(v, WS_ACCEPT, vlen) != 0) {
    conn_fail(c, id, "handshake: bad Sec-WebSocket-Accept", 0);
    return -1;
  }
  /* RFC 7692: the server may accept the offer (one permessage-deflate with
   * its parameters) or ignore it; anything else was never offered. */
  v = header_find(p, hlen, "sec-websocket-extensions", &vlen);
  if (v) {
    if (!g.deflate || vlen < 18 || strncasecmp(v, "permessage-deflate", 18) != 0 ||
        (vlen > 18 && v[18] != ';' && v[18] != ' ') || memchr(v, ',', vlen)) {
      conn_fail(c, id, "handshake: an extension that was not offered", 0);
      return -1;
    }
    c->deflate = DEFL_ON;
    if (memmem(v, vlen, "server_no_context_takeover", 26))
      c->deflate |= DEFL_NO_CTX;
    if (!g.ext_answer[0])
      snprintf(g.ext_answer, sizeof(g.ext_answer), "%.*s", (int)vlen, v);
    g.deflate_socks++;
  }
  c->state = ST_OPEN;
  g.connecting--;
  g.open++;
  if (g.sync)
    sync_send_pull(c, id);
  return (ssize_t)hlen;
}

/* Inflates one compressed message (RFC 7692 7.2.2: the payload plus
 * 00 00 ff ff) into g.zbuf. Returns its length, or -1 if it is corrupt or
 * larger than max_frame. Server windows of up to 15 bits are all read by a
 * 15-bit inflater. */
static ssize_t ws_inflate(conn_t *c, const char *p, size_t n) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  z_stream *z;
  if (c->deflate & DEFL_NO_CTX) {
    z = &g.zshared;
    if (!g.zshared_init) {
      if (inflateInit2(z, -15) != Z_OK)
        return -1;
      g.zshared_init = true;
    }
  } else {
    if (!c->zs) {
      c->zs = calloc(1, sizeof(*c->zs));
      if (!c->zs || inflateInit2(c->zs, -15) != Z_OK) {
        free(c->zs);
        c->zs = NULL;
        return -1;
      }
    }
    z = c->zs;
  }
  size_t cap = g.max_frame + 1;
  z->next_out = (Bytef *)g.zbuf;
  z->avail_out = (uInt)cap;
  z->next_in = (Bytef *)(uintptr_t)p;
  z->avail_in = (uInt)n;
  int rc = inflate(z, Z_SYNC_FLUSH);
  if (rc == Z_OK || (rc == Z_BUF_ERROR && z->avail_in == 0)) {
    z->next_in = (Bytef *)(uintptr_t)tail;
    z->avail_in = sizeof(tail);
    rc = inflate(z, Z_SYNC_FLUSH);
  }
  bool ok = (rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR) &&
            z->avail_in == 0 && z->avail_out > 0;
  size_t out = cap - z->avail_out;
  /* A stream that ended (BFINAL) starts again with the next message. */
  if (!ok || rc == Z_STREAM_END || (c->deflate & DEFL_NO_CTX))
    inflateReset(z);
  return ok ? (ssize_t)out : -1;
}

/* Parses server frames in p[0..n). Returns the bytes consumed, or -1 after
 * failing/closing the connection. */
static ssize_t sub_frames(conn_t *c, uint32_t id, char *p, size_t n,
                          int64_t now) {
  size_t off = 0;
  while (n - off >= 2) {
    uint8_t *f = (uint8_t *)p + off;
    size_t avail = n - off, hdr = 2;
    uint64_t len = f[1] & 0x7f;
    if (len == 126) {
      if (avail < 4)
        break;
      len = (uint64_t)f[2] << 8 | f[3];
      hdr = 4;
    } else if (len == 127) {
      if (avail < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = len << 8 | f[2 + i];
      hdr = 10;
    }
    bool masked = f[1] & 0x80;
    if (masked)
      hdr += 4;
    if (len > g.max_frame) {
      g.proto_err++;
      conn_fail(c, id, "frame larger than the limit (64 KiB; syncsubs 2 MiB)", 0);
      return -1;
    }
    if (avail < hdr + len)
      break;
    char *pl = p + off + hdr;
    if (masked)
      for (size_t i = 0; i < len; i++)
        pl[i] ^= (char)f[hdr - 4 + (i & 3)];
    unsigned op = f[0] & 0x0f;
    bool fin = f[0] & 0x80;
    off += hdr + (size_t)len;
    /* RSV1 is permessage-deflate's "compressed" bit, on the first frame
     * of a data message only; any other RSV bit was never negotiated. */
    bool compressed = (f[0] & 0x70) == 0x40 && (c->deflate & DEFL_ON) &&
                      (op == 0x1 || op == 0x2);
    if ((f[0] & 0x70) && !compressed) {
      g.proto_err++;
      continue;
    }
    if (compressed && op == 0x1 && fin && !g.sync) {
      ssize_t m = ws_inflate(c, pl, (size_t)len);
      if (m < 0) {
        g.proto_err++;
        conn_fail(c, id, "inflate: corrupt or too large", 0);
        return -1;
      }
      g.inflated++;
      on_text(c, g.zbuf, (size_t)m, now);
      continue;
    }
    if (compressed) { /* fragmented, binary, or syncsubs: not expected */
      g.proto_err++;
      continue;
    }
    switch (op) {
    case 0x0:
    case 0x1:
      if (g.sync) {
        if (!sync_frame(c, op, fin, pl, (size_t)len, now)) {
          g.proto_err++;
          conn_fail(c, id, "bad fragmentation or message too large", 0);
          return -1;
        }
      } else if (op == 0x1 && fin)
        on_text(c, pl, (size_t)len, now);
      else
        g.proto_err++; /* the server must send one frame per message */
      break;
    case 0x9:
      g.pings++;
      ws_send(c, id, 0xA, pl, (size_t)len);
      break;
    case 0xA:
      break;
    case 0x8:
      ws_send(c, id, 0x8, pl, len >= 2 ? 2 : 0);
      conn_fail(c, id, "server sent close", 0);
      return -1;
    default: /* binary: unexpected from these servers */
      g.proto_err++;
      break;
    }
  }
  return (ssize_t)off;
}

static void pub_pump(conn_t *c, uint32_t id, int64_t now);

/* Parses pipelined HTTP responses on the publisher. */
static ssize_t pub_responses(conn_t *c, uint32_t id, const char *p, size_t n,
                             int64_t now) {
  size_t off = 0;
  while (off < n) {
    const char *e = memmem(p + off, n - off, "\r\n\r\n", 4);
    if (!e) {
      if (n - off > MAX_HEAD) {
        conn_fail(c, id, "publisher: response head too large", 0);
        return -1;
      }
      break;
    }
    const char *h = p + off;
    size_t hlen = (size_t)(e - h) + 4, vlen;
    int status = status_code(h, hlen);
    size_t clen = 0;
    const char *v = header_find(h, hlen, "content-length", &vlen);
    if (v) {
      for (size_t i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
        clen = clen * 10 + (size_t)(v[i] - '0');
    } else if (header_find(h, hlen, "transfer-encoding", &vlen)) {
      conn_fail(c, id, "publisher: chunked responses are not supported", 0);
      return -1;
    }
    if (status < 0 || clen > MAX_FRAME) {
      conn_fail(c, id, "publisher: malformed response", 0);
      return -1;
    }
    if (n - off < hlen + clen)
      break;
    const char *body = h + hlen;
    if (status != 200 || clen != 12 || memcmp(body, "Message sent", 12) != 0) {
      if (g.acked_bad++ == 0)
        fprintf(stderr, "loadgen: unexpected response %d: %.*s\n", status,
                (int)(clen > 200 ? 200 : clen), body);
    }
    g.acked++;
    if (c->pub_out > 0)
      c->pub_out--;
    g.last_ack = now;
    off += hlen + clen;
  }
  return (ssize_t)off;
}

/* handshakes mode: reads the answer to `GET /` (head and Content-Length
 * body); what follows is ignored. The connection ends when the server
 * closes it. Returns the bytes used. */
static ssize_t hs_response(conn_t *c, uint32_t id, const char *p, size_t n) {
  if (c->done)
    return (ssize_t)n;
  const char *e = memmem(p, n, "\r\n\r\n", 4);
  if (!e) {
    if (n > MAX_HEAD) {
      conn_fail(c, id, "response head too large", 0);
      return -1;
    }
    return 0;
  }
  size_t hlen = (size_t)(e - p) + 4, vlen, clen = 0;
  const char *v = header_find(p, hlen, "content-length", &vlen);
  for (size_t i = 0; v && i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
    clen = clen * 10 + (size_t)(v[i] - '0');
  if (clen > MAX_FRAME) {
    conn_fail(c, id, "response body too large", 0);
    return -1;
  }
  if (n < hlen + clen)
    return 0;
  if (status_code(p, hlen) != 200 && g.hs_bad++ == 0)
    fprintf(stderr, "loadgen: unexpected response: %.*s\n",
            (int)(hlen > 200 ? 200 : hlen), p);
  c->done = 1;
  return (ssize_t)n;
}

/* The server closed the connection (EOF, or TLS close_notify). */
static void conn_eof(conn_t *c, uint32_t id) {
  if (g.hs && c->done)
    hs_finish(c, true, NULL, 0);
  else
    conn_fail(c, id, "server closed the connection", 0);
}

/* Hands the n bytes of protocol input at g.rb (the carried tail of the
 * last read first) to the protocol for this connection and keeps what it
 * did not use. Returns false if the connection was failed or closed. */
static bool conn_input(conn_t *c, uint32_t id, size_t n, int64_t now) {
  ssize_t used = 0;
  size_t off = 0;
  if (c->is_pub) {
    used = pub_responses(c, id, g.rb, n, now);
  } else if (g.hs) {
    used = hs_response(c, id, g.rb, n);
  } else {
    if (c->state == ST_HANDSHAKE) {
      used = sub_handshake(c, id, g.rb, n);
      off = used > 0 ? (size_t)used : 0;
    }
    if (c->state == ST_OPEN)
      used = sub_frames(c, id, g.rb + off, n - off, now);
  }
  if (used < 0)
    return false; /* the connection was failed (and maybe reopened) */
  off += (size_t)used;
  if (c->broken) {
    conn_fail(c, id, "send", c->broken);
    return false;
  }
  if (n - off > c->in_cap) {
    c->in_cap = (uint32_t)(n - off);
    c->in = xrealloc(c->in, c->in_cap);
  }
  if (n > off)
    memcpy(c->in, g.rb + off, n - off);
  c->in_len = (uint32_t)(n - off);
  if (c->is_pub)
    pub_pump(c, id, now);
  return c->fd >= 0;
}

/* Counts a subscriber's recv() while publishing. */
static void count_recv(const conn_t *c, size_t r) {
  if (!c->is_pub && g.pub_start) {
    g.sub_recvs++;
    g.sub_bytes += r;
  }
}

/* Sends what is queued, arming EPOLLOUT if some is left. False if the
 * connection failed. */
static bool conn_push(conn_t *c, uint32_t id) {
  if (c->out.off < c->out.len && !c->broken && !conn_flush(c) && !c->broken)
    conn_watch(c, id, EPOLLIN | EPOLLOUT);
  if (c->broken) {
    conn_fail(c, id, "send", c->broken);
    return false;
  }
  return true;
}

/* The transport is up (TCP connected, and with --tls the handshake done):
 * the protocol starts. */
static void conn_established(conn_t *c, uint32_t id) {
  if (c->is_pub) {
    c->state = ST_OPEN;
    g.connecting--;
    conn_watch(c, id, EPOLLIN);
    conn_push(c, id); /* with --tls: the client Finished */
    return;
  }
  c->state = g.hs ? ST_OPEN : ST_HANDSHAKE;
  conn_watch(c, id, EPOLLIN);
  if (g.hs) {
    char req[128];
    int n = snprintf(req, sizeof(req),
                     "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                     g.port);
    conn_write(c, id, req, (size_t)n);
  } else {
    conn_write(c, id, g.handshake, g.handshake_len);
  }
  if (c->broken)
    conn_fail(c, id, "send", c->broken);
}

/* Logs OpenSSL's error queue (the first few connection errors only). */
static void tls_log(const char *what) {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  if (g.errs_logged < MAX_ERR_LOG)
    fprintf(stderr, "loadgen: %s: %s\n", what, e ? buf : "(no OpenSSL error)");
  ERR_clear_error();
}

/* Drives the TLS handshake as far as the input allows; sends what it
 * produced. Returns false if the connection failed. */
static bool tls_handshake(conn_t *c, uint32_t id) {
  int rc = SSL_do_handshake(c->ssl);
  tls_drain(c);
  if (rc == 1) {
    if (!g.tls_info[0]) {
      const char *grp = SSL_group_to_name(c->ssl, SSL_get_negotiated_group(c->ssl));
      snprintf(g.tls_info, sizeof(g.tls_info), "%s_%s_%s", SSL_get_version(c->ssl),
               SSL_get_cipher_name(c->ssl), grp ? grp : "?");
    }
    conn_established(c, id);
    return c->fd >= 0;
  }
  int e = SSL_get_error(c->ssl, rc);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
    tls_log("TLS handshake");
    conn_fail(c, id, "TLS handshake failed", 0);
    return false;
  }
  return conn_push(c, id);
}

/* TCP is connected: with --tls, a TLS client on memory BIOs sends its
 * ClientHello; else the protocol starts. */
static void conn_connected(conn_t *c, uint32_t id) {
  if (!g.tls) {
    conn_established(c, id);
    return;
  }
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  c->ssl = SSL_new(g.ssl_ctx);
  if (!rb || !wb || !c->ssl) {
    fprintf(stderr, "loadgen: out of memory (SSL)\n");
    exit(2);
  }
  SSL_set_bio(c->ssl, rb, wb);
  SSL_set_connect_state(c->ssl);
  c->state = ST_TLS;
  conn_watch(c, id, EPOLLIN);
  tls_handshake(c, id);
}

/* --tls: reads ciphertext (a few recv()s at most), feeds it to the SSL and
 * hands all the plaintext it yields to the protocol. Every record read
 * from the socket is decrypted at once, so none waits in the SSL while
 * epoll (level-triggered, on the socket) says nothing. */
static void tls_readable(conn_t *c, uint32_t id) {
  for (int iter = 0; iter < 4 && c->fd >= 0; iter++) {
    ssize_t r = recv(c->fd, g.cb, CBUF_SIZE, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      conn_fail(c, id, "recv", errno);
      return;
    }
    if (r == 0) {
      conn_eof(c, id);
      return;
    }
    count_recv(c, (size_t)r);
    if (BIO_write(SSL_get_rbio(c->ssl), g.cb, (int)r) != (int)r) {
      fprintf(stderr, "loadgen: out of memory (BIO)\n");
      exit(2);
    }
    if (c->state == ST_TLS) {
      if (!tls_handshake(c, id))
        return;
      if (c->state == ST_TLS) {
        if (r < CBUF_SIZE)
          return;
        continue;
      }
    }
    /* Each pass either fills g.rb (and goes again) or empties the SSL. */
    for (;;) {
      size_t have = c->in_len, n = have;
      if (have)
        memcpy(g.rb, c->in, have);
      int k = 0;
      while (n < g.rbuf_size && (k = SSL_read(c->ssl, g.rb + n, (int)(g.rbuf_size - n))) > 0)
        n += (size_t)k;
      int e = k > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, k);
      if (n > have && !conn_input(c, id, n, g.sync ? real_us() : now_us()))
        return;
      tls_drain(c); /* post-handshake messages, if any */
      if (!conn_push(c, id))
        return;
      if (e == SSL_ERROR_NONE)
        continue;
      if (e == SSL_ERROR_WANT_READ)
        break;
      if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify */
        conn_eof(c, id);
        return;
      }
      tls_log("TLS read");
      conn_fail(c, id, "TLS read failed", 0);
      return;
    }
    if (r < CBUF_SIZE)
      return; /* drained */
  }
}

/* Reads what the socket has (a few recv()s at most, then back to the loop
 * for fairness) and hands it to the protocol for this connection. */
static void conn_readable(conn_t *c, uint32_t id) {
  if (c->ssl) {
    tls_readable(c, id);
    return;
  }
  for (int iter = 0; iter < 4 && c->fd >= 0; iter++) {
    size_t have = c->in_len;
    if (have)
      memcpy(g.rb, c->in, have);
    ssize_t r = recv(c->fd, g.rb + have, g.rbuf_size - have, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      conn_fail(c, id, "recv", errno);
      return;
    }
    if (r == 0) {
      conn_eof(c, id);
      return;
    }
    count_recv(c, (size_t)r);
    if (!conn_input(c, id, have + (size_t)r, g.sync ? real_us() : now_us()))
      return;
    if ((size_t)r < g.rbuf_size - have)
      return; /* drained */
  }
}

static void conn_writable(conn_t *c, uint32_t id) {
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
      err = errno;
    if (err) {
      conn_fail(c, id, "connect", err);
      return;
    }
    conn_connected(c, id);
    return;
  } else if (conn_flush(c)) {
    conn_watch(c, id, EPOLLIN);
    if (c->is_pub)
      pub_pump(c, id, now_us());
  }
  if (c->broken)
    conn_fail(c, id, "send", c->broken);
}

/* Opens sockets until `burst` handshakes are in flight or all are started. */
static void launch(void) {
  while (g.connecting < g.burst && g.next_open < g.subs) {
    uint32_t id = g.next_open++;
    int e = conn_open(&g.conns[id], id);
    if (e) {
      g.conns[id].state = ST_DEAD;
      g.failed++;
      logerr("socket/connect", e);
      if (e == EMFILE || e == ENFILE) {
        fprintf(stderr, "loadgen: out of file descriptors\n");
        exit(2);
      }
    }
  }
}

/* ------------------------------------------------------------------ loop */

static void handle_signal(void) {
  struct signalfd_siginfo si;
  while (read(g.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
    g.stop = true;
}

static void handle_stdin(void) {
  char buf[4096];
  ssize_t r = read(0, buf, sizeof(buf));
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
    g.stdin_eof = true;
    epoll_ctl(g.ep, EPOLL_CTL_DEL, 0, NULL); /* EOF stays readable */
  } else if (r > 0) {
    g.stdin_line = true;
  }
}

/* Starts watching stdin; stdin that epoll cannot watch (/dev/null, a
 * regular file) counts as already closed. */
static void watch_stdin(void) {
  if (g.stdin_watched)
    return;
  g.stdin_watched = true;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ID_STDIN};
  if (epoll_ctl(g.ep, EPOLL_CTL_ADD, 0, &ev) < 0)
    g.stdin_eof = true;
}

/* Waits up to timeout_ms and dispatches what is ready. */
static void poll_once(int timeout_ms) {
  struct epoll_event ev[MAX_EVENTS];
  int n = epoll_wait(g.ep, ev, MAX_EVENTS, timeout_ms);
  if (n < 0) {
    if (errno == EINTR)
      return;
    perror("loadgen: epoll_wait");
    exit(2);
  }
  for (int i = 0; i < n; i++) {
    uint64_t id = ev[i].data.u64;
    if (id == ID_SIGNAL) {
      handle_signal();
      continue;
    }
    if (id == ID_STDIN) {
      handle_stdin();
      continue;
    }
    conn_t *c = &g.conns[id];
    uint32_t e = ev[i].events;
    if (c->fd < 0)
      continue; /* closed earlier in this batch */
    if (c->state == ST_CONNECTING) {
      conn_writable(c, (uint32_t)id);
      continue;
    }
    if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
      conn_readable(c, (uint32_t)id);
    if (c->fd >= 0 && (e & EPOLLOUT))
      conn_writable(c, (uint32_t)id);
  }
}

/* --pause: prints `word`, then waits (bounded) for a line or EOF on stdin
 * while the connections keep being served. This lets a driver script
 * sample the server between phases. */
static void pause_point(const char *word) {
  if (!g.pause)
    return;
  printf("%s\n", word);
  fflush(stdout);
  watch_stdin();
  g.stdin_line = false;
  int64_t until = now_us() + 120 * INT64_C(1000000);
  while (!g.stdin_line && !g.stdin_eof && !g.stop && now_us() < until)
    poll_once(100);
}

static void setup(uint32_t nconns) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < (rlim_t)nconns + 32) {
    fprintf(stderr,
            "loadgen: RLIMIT_NOFILE is %llu (hard limit %llu), need %u; raise "
            "the hard limit (ulimit -Hn) first\n",
            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
            nconns + 32);
    exit(2);
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGINT);
  sigaddset(&ss, SIGTERM);
  sigaddset(&ss, SIGHUP);
  sigprocmask(SIG_BLOCK, &ss, NULL);
  g.ep = epoll_create1(EPOLL_CLOEXEC);
  g.sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
  if (g.ep < 0 || g.sigfd < 0) {
    perror("loadgen: epoll/signalfd");
    exit(2);
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ID_SIGNAL};
  epoll_ctl(g.ep, EPOLL_CTL_ADD, g.sigfd, &ev);

  g.addr.sin_family = AF_INET;
  g.addr.sin_port = htons((uint16_t)g.port);
  g.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g.rb = xrealloc(NULL, g.rbuf_size);
  g.nconns = nconns;
  g.conns = calloc(nconns, sizeof(conn_t));
  if (!g.conns) {
    fprintf(stderr, "loadgen: out of memory\n");
    exit(2);
  }
  for (uint32_t i = 0; i < nconns; i++) {
    g.conns[i].fd = -1;
    g.conns[i].last_seq = -1;
  }
  g.rng = (uint64_t)now_us() | 1;
  int n = snprintf(g.handshake, sizeof(g.handshake),
                   "GET %s HTTP/1.1\r\n"
                   "Host: 127.0.0.1:%d\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: " WS_KEY "\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s\r\n",
                   g.path, g.port,
                   g.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                               "client_max_window_bits\r\n"
                             : "");
  if (n < 0 || (size_t)n >= sizeof(g.handshake)) {
    fprintf(stderr, "loadgen: --path too long\n");
    exit(2);
  }
  g.handshake_len = (size_t)n;
  if (g.deflate)
    g.zbuf = xrealloc(NULL, g.max_frame + 1);
  if (g.tls) {
    g.ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!g.ssl_ctx) {
      fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
      exit(2);
    }
    /* Test servers on 127.0.0.1 with a throwaway certificate: nothing to
     * verify. No session is ever reused, so every handshake is a full one. */
    SSL_CTX_set_verify(g.ssl_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_min_proto_version(g.ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(g.ssl_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(g.ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
    g.cb = xrealloc(NULL, CBUF_SIZE);
  }
}

/* " tls=1 ..." for the RESULT lines: what the transport was. */
static void print_transport(void) {
  printf(" tls=%d deflate=%d deflate_socks=%u", g.tls, g.deflate, g.deflate_socks);
  if (g.tls)
    printf(" tls_session=%s", g.tls_info[0] ? g.tls_info : "-");
}

/* Opens all subscriber sockets, `burst` handshakes in flight at a time.
 * Returns false if some could not be opened or time ran out. */
static bool connect_all(void) {
  int64_t t0 = now_us();
  /* A slow server (the reference under wrangler dev) gets 4x longer. */
  int64_t deadline = t0 + (30 * INT64_C(1000000) + (int64_t)g.subs * 5000) * (g.sync ? 4 : 1);
  launch();
  while (g.open + g.failed < g.subs && !g.stop) {
    if (now_us() > deadline) {
      fprintf(stderr, "loadgen: timed out connecting (%u of %u open)\n", g.open,
              g.subs);
      return false;
    }
    poll_once(100);
    launch();
  }
  double s = (double)(now_us() - t0) / 1e6;
  if (!g.quiet)
    fprintf(stderr, "loadgen: %u of %u WebSockets open in %.2f s\n", g.open,
            g.subs, s);
  if (g.open < g.subs) {
    fprintf(stderr, "loadgen: %u connections failed\n", g.subs - g.open);
    return false;
  }
  return true;
}

/* Closes everything, saying goodbye on open WebSockets. */
static void close_all(void) {
  static const uint8_t bye[2] = {0x03, 0xe8}; /* 1000 normal closure */
  for (uint32_t i = 0; i < g.nconns; i++) {
    conn_t *c = &g.conns[i];
    if (c->fd < 0)
      continue;
    if (c->state == ST_OPEN && !c->is_pub)
      ws_send(c, i, 0x8, bye, 2);
    conn_close_fd(c);
  }
}

static double cpu_self_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The kernel part of cpu_self_s(). */
static double cpu_sys_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ fanout */

/* The JSON body after {"seq":i,"t":us: "}" alone, or with --body-bytes N
 * an "items" array of catalogue rows (repeating keys, varied values:
 * compressible as real JSON is) that brings the body to about N bytes.
 * Integers, strings and booleans only, so that every server's
 * re-serialisation gives back the same bytes. */
static void make_body_tail(void) {
  static const char *cats[] = {"tools", "garden", "kitchen", "toys", "books", "sports"};
  static const char *colors[] = {"red", "green", "blue", "black", "white"};
  obuf_t b = {0};
  if (g.body_bytes > 0) {
    /* {"seq":<up to 9 digits>,"t":<up to 12 digits> is about 30 bytes */
    size_t want = g.body_bytes > 40 ? g.body_bytes - 30 : 10;
    obuf_append(&b, ",\"items\":[", 10);
    for (uint32_t k = 0; k < 100000; k++) {
      char item[256];
      int n = snprintf(item, sizeof(item),
                       "%s{\"id\":%u,\"sku\":\"SKU-%05u\",\"name\":\"%s item %u\","
                       "\"category\":\"%s\",\"color\":\"%s\",\"price_cents\":%u,"
                       "\"qty\":%u,\"in_stock\":%s}",
                       k ? "," : "", 1000 + k, (k * 7919) % 100000,
                       cats[(k * 5) % 6], k + 1, cats[k % 6], colors[k % 5],
                       499 + (k * 1237) % 5000, 1 + (k * 7) % 9,
                       k % 3 ? "true" : "false");
      if (k > 0 && b.len + (size_t)n + 2 > want)
        break;
      obuf_append(&b, item, (size_t)n);
    }
    obuf_append(&b, "]", 1);
  }
  obuf_append(&b, "}", 1);
  g.body_tail = b.p;
  g.body_tail_len = b.len;
}

/* When publisher c's next request is due (paced mode; 0 when pipelined). */
static int64_t pub_due(const conn_t *c) {
  return g.rate > 0 ? g.pub_start + (int64_t)((double)c->pub_next * 1e6 / g.rate) : 0;
}

/* True if publisher c may send its next request now or later. */
static bool pub_can_send(const conn_t *c) {
  return c->state == ST_OPEN && c->pub_next < g.msgs && c->pub_out < g.window;
}

/* Sends as many requests on publisher c as its window (and, with --rate,
 * the schedule) allows, in one send(). */
static void pub_pump(conn_t *c, uint32_t id, int64_t now) {
  if (g.pub_start == 0)
    return;
  bool any = false;
  g.stage.off = g.stage.len = 0;
  while (pub_can_send(c) && now >= pub_due(c)) {
    char head[64], req[256];
    int hl = snprintf(head, sizeof(head), "{\"seq\":%" PRIu32 ",\"t\":%" PRId64,
                      c->pub_next, now_us());
    int rl = snprintf(req, sizeof(req),
                      "POST /broadcast HTTP/1.1\r\n"
                      "Host: 127.0.0.1:%d\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s",
                      g.port, (size_t)hl + g.body_tail_len, head);
    obuf_append(&g.stage, req, (size_t)rl);
    obuf_append(&g.stage, g.body_tail, g.body_tail_len);
    c->pub_next += g.pubs;
    c->pub_out++;
    g.sent++;
    any = true;
  }
  if (any) /* one send (with --tls, one SSL_write) for all of them */
    out_append(c, g.stage.p, g.stage.len);
  if (any && !c->broken && !conn_flush(c) && !c->broken)
    conn_watch(c, id, EPOLLIN | EPOLLOUT);
  if (c->broken)
    conn_fail(c, id, "publisher send", c->broken);
}

static void pub_pump_all(int64_t now) {
  for (uint32_t j = 0; j < g.pubs; j++)
    pub_pump(&g.conns[g.subs + j], g.subs + j, now);
}

/* Publishers still open. */
static uint32_t pubs_open(void) {
  uint32_t n = 0;
  for (uint32_t j = 0; j < g.pubs; j++)
    n += g.conns[g.subs + j].state == ST_OPEN;
  return n;
}

/* Opens the K publisher connections; false if one could not connect. */
static bool pubs_connect(void) {
  for (uint32_t j = 0; j < g.pubs; j++) {
    conn_t *c = &g.conns[g.subs + j];
    c->is_pub = 1;
    c->pub_next = j;
    int e = conn_open(c, g.subs + j);
    if (e) {
      fprintf(stderr, "loadgen: publisher connect: %s\n", strerror(e));
      return false;
    }
  }
  int64_t deadline = now_us() + 10 * INT64_C(1000000);
  uint32_t n;
  while ((n = pubs_open()) < g.pubs && g.connecting > 0 && !g.stop &&
         now_us() < deadline)
    poll_once(100);
  if (n < g.pubs)
    fprintf(stderr, "loadgen: %u of %u publishers could not connect\n", g.pubs - n,
            g.pubs);
  return n == g.pubs;
}

static int run_fanout(void) {
  setup(g.subs + g.pubs);
  make_body_tail();
  if (!g.quiet)
    fprintf(stderr, "loadgen: fanout port=%d subs=%u msgs=%u pubs=%u %s\n", g.port,
            g.subs, g.msgs, g.pubs, g.rate > 0 ? "paced" : "pipelined");
  for (uint32_t i = 0; i < g.subs; i++) {
    conn_t *c = &g.conns[i];
    c->seen = calloc((g.msgs + 63) / 64, sizeof(uint64_t));
    if (g.pubs > 1) {
      c->pub_last = malloc(g.pubs * sizeof(int64_t));
      for (uint32_t j = 0; c->pub_last && j < g.pubs; j++)
        c->pub_last[j] = -1;
    }
    if (!c->seen || (g.pubs > 1 && !c->pub_last)) {
      fprintf(stderr, "loadgen: out of memory\n");
      return 2;
    }
  }
  int64_t c0 = now_us();
  bool connected = connect_all();
  double connect_s = (double)(now_us() - c0) / 1e6;
  if (!connected) {
    close_all();
    printf("RESULT mode=fanout subs=%u msgs=%u pubs=%u ok=0 error=connect open=%u\n",
           g.subs, g.msgs, g.pubs, g.open);
    return 2;
  }
  if (!pubs_connect()) {
    close_all();
    return 2;
  }

  pause_point("CONNECTED");
  double cpu0 = cpu_self_s();
  g.pub_start = now_us();
  double budget_s = g.timeout_s > 0
                        ? g.timeout_s
                        : 60.0 + g.msgs / 100.0 + (g.rate > 0 ? g.msgs / g.rate : 0);
  int64_t deadline = g.pub_start + (int64_t)(budget_s * 1e6);
  const int64_t quiet_us = 5 * INT64_C(1000000);
  const char *end_reason = "complete";
  pub_pump_all(g.pub_start);
  for (;;) {
    int64_t now = now_us();
    if (g.stop) {
      end_reason = "signal";
      break;
    }
    if (g.complete == g.subs &&
        (g.acked == g.msgs || now - g.t_done > 2 * INT64_C(1000000)))
      break;
    if (now > deadline) {
      end_reason = "timeout";
      break;
    }
    uint32_t pubs_up = pubs_open();
    if (pubs_up == 0 && g.open == 0) {
      end_reason = "disconnected";
      break;
    }
    /* A lost publisher's share never comes; the quiet rule then ends it. */
    bool pub_done = g.acked == g.msgs || pubs_up < g.pubs;
    int64_t last = g.last_delivery > g.last_ack ? g.last_delivery : g.last_ack;
    if (last < g.pub_start)
      last = g.pub_start;
    if (pub_done && now - last > quiet_us) {
      end_reason = "quiet";
      break;
    }
    int timeout_ms = 100;
    for (uint32_t j = 0; g.rate > 0 && j < g.pubs; j++) {
      const conn_t *c = &g.conns[g.subs + j];
      if (!pub_can_send(c))
        continue;
      int64_t due = pub_due(c);
      int64_t wait = due > now ? (due - now + 999) / 1000 : 0;
      if (wait < timeout_ms)
        timeout_ms = (int)wait;
    }
    poll_once(timeout_ms);
    if (g.rate > 0)
      pub_pump_all(now_us());
  }
  int64_t t_end = g.complete == g.subs ? g.t_done : g.last_delivery;
  if (t_end <= g.pub_start)
    t_end = now_us();
  double elapsed = (double)(t_end - g.pub_start) / 1e6;
  double cpu = cpu_self_s() - cpu0;
  uint64_t expected = (uint64_t)g.subs * g.msgs;
  uint64_t lost = expected - g.distinct;
  double dps = elapsed > 0 ? (double)g.deliveries / elapsed : 0;
  double p50 = hist_quantile_ms(&g.hist, 0.50), p99 = hist_quantile_ms(&g.hist, 0.99),
         p999 = hist_quantile_ms(&g.hist, 0.999);
  double mx = (double)g.hist.max / 1000.0;
  double mean = g.hist.n ? (double)g.hist.sum / (double)g.hist.n / 1000.0 : 0;
  bool ok = lost == 0 && g.ooo == 0 && g.dup == 0 && g.bad == 0 &&
            g.proto_err == 0 && g.closed == 0 && g.acked_bad == 0 &&
            g.acked == g.msgs;
  printf("fanout: %u subscribers x %u messages, %s", g.subs, g.msgs,
         g.rate > 0 ? "paced at " : "pipelined, window ");
  if (g.rate > 0)
    printf("%g msg/s", g.rate);
  else
    printf("%u", g.window);
  if (g.pubs > 1) /* the rate is the total, the window per connection */
    printf(" %s %u publisher connections", g.rate > 0 ? "over" : "on each of", g.pubs);
  printf("\n");
  printf("  connect        %.2f s\n", connect_s);
  printf("  deliveries     %" PRIu64 " of %" PRIu64 " (ended: %s)\n", g.deliveries,
         expected, end_reason);
  printf("  elapsed        %.3f s\n", elapsed);
  printf("  deliveries/s   %.0f\n", dps);
  printf("  latency ms     p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
         p50, p99, p999, mx, mean);
  printf("  lost           %" PRIu64 "\n", lost);
  printf("  out-of-order   %" PRIu64 "\n", g.ooo);
  printf("  duplicates %" PRIu64 ", unparsable %" PRIu64 ", protocol errors %" PRIu64
         ", closed by server %" PRIu64 ", pings %" PRIu64 "\n",
         g.dup, g.bad, g.proto_err, g.closed, g.pings);
  printf("  publisher      %u sent, %u answered, %u not 200 \"Message sent\"\n",
         g.sent, g.acked, g.acked_bad);
  printf("  recv calls     %" PRIu64 " on subscribers, %.2f deliveries per recv\n",
         g.sub_recvs, g.sub_recvs ? (double)g.deliveries / (double)g.sub_recvs : 0);
  printf("  bytes received %" PRIu64 " on subscribers%s, %.1f per delivery\n", g.sub_bytes,
         g.tls ? " (TLS records)" : "",
         g.deliveries ? (double)g.sub_bytes / (double)g.deliveries : 0);
  printf("  body           %d bytes (the last seq's; the JSON the servers get)\n",
         snprintf(NULL, 0, "{\"seq\":%" PRIu32 ",\"t\":%" PRId64, g.msgs - 1, now_us()) +
             (int)g.body_tail_len);
  if (g.deflate)
    printf("  deflate        %u of %u subscribers negotiated it (\"%s\"); %" PRIu64
           " deliveries compressed\n",
           g.deflate_socks, g.subs, g.ext_answer, g.inflated);
  printf("  loadgen cpu    %.2f s\n", cpu);
  printf("RESULT mode=fanout subs=%u msgs=%u rate=%g window=%u pubs=%u deliveries=%" PRIu64
         " expected=%" PRIu64 " elapsed_s=%.3f deliveries_per_s=%.0f p50_ms=%.3f"
         " p99_ms=%.3f p999_ms=%.3f max_ms=%.3f mean_ms=%.3f lost=%" PRIu64
         " out_of_order=%" PRIu64 " dup=%" PRIu64 " bad=%" PRIu64
         " proto_err=%" PRIu64 " closed=%" PRIu64 " http_sent=%u http_ok=%u"
         " http_bad=%u connect_s=%.2f loadgen_cpu_s=%.2f sub_recvs=%" PRIu64
         " sub_bytes=%" PRIu64 " inflated=%" PRIu64 " body_tail=%zu",
         g.subs, g.msgs, g.rate, g.window, g.pubs, g.deliveries, expected, elapsed, dps,
         p50, p99, p999, mx, mean, lost, g.ooo, g.dup, g.bad, g.proto_err,
         g.closed, g.sent, g.acked - g.acked_bad, g.acked_bad, connect_s, cpu,
         g.sub_recvs, g.sub_bytes, g.inflated, g.body_tail_len);
  print_transport();
  printf(" end=%s ok=%d\n", end_reason, ok);
  fflush(stdout);
  pause_point("DONE");
  close_all();
  return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- syncsubs */

static int run_syncsubs(void) {
  setup(g.subs);
  for (uint32_t i = 0; i < g.subs; i++)
    g.conns[i].last_seq = 0; /* the first event of a fresh store is 1 */
  if (!g.quiet)
    fprintf(stderr, "loadgen: syncsubs port=%d path=%s store=%s subs=%u events=%u\n",
            g.port, g.path, g.store, g.subs, g.events);
  int64_t c0 = now_us();
  if (!connect_all()) {
    close_all();
    printf("RESULT mode=syncsubs subs=%u ok=0 error=connect open=%u\n", g.subs, g.open);
    return 2;
  }
  /* Every pull answers with its (empty) backlog chunk before the pusher
   * may start, as the Node subscribers wait for theirs. */
  int64_t deadline = now_us() + 120 * INT64_C(1000000);
  while (g.ready < g.subs && g.open == g.subs && !g.stop && now_us() < deadline)
    poll_once(100);
  double connect_s = (double)(now_us() - c0) / 1e6;
  if (g.ready < g.subs) {
    fprintf(stderr, "loadgen: only %u of %u pulls answered (%u open)\n", g.ready,
            g.subs, g.open);
    close_all();
    printf("RESULT mode=syncsubs subs=%u ok=0 error=pull ready=%u open=%u\n", g.subs,
           g.ready, g.open);
    return 2;
  }
  uint64_t backlog = g.deliveries; /* events in the first chunks (0: fresh store) */
  g.deliveries = 0;
  g.first_delivery = g.last_delivery = 0;
  memset(&g.hist, 0, sizeof(g.hist));
  printf("READY subs=%u connect_s=%.2f\n", g.subs, connect_s);
  fflush(stdout);

  /* Until every puller has event `events`, a line or EOF on stdin (the
   * driver gave up), a signal, or --timeout. */
  watch_stdin();
  g.stdin_line = false;
  double cpu0 = cpu_self_s(), sys0 = cpu_sys_s();
  deadline = now_us() + (int64_t)((g.timeout_s > 0 ? g.timeout_s : 600) * 1e6);
  const char *end_reason = "complete";
  while (g.complete < g.subs) {
    if (g.stop) {
      end_reason = "signal";
      break;
    }
    if (g.stdin_line || g.stdin_eof) {
      end_reason = "told";
      break;
    }
    if (now_us() > deadline) {
      end_reason = "timeout";
      break;
    }
    if (g.open == 0) {
      end_reason = "disconnected";
      break;
    }
    poll_once(100);
  }
  double cpu = cpu_self_s() - cpu0, sys = cpu_sys_s() - sys0;
  uint64_t expected = (uint64_t)g.subs * g.events;
  double p50 = hist_quantile_ms(&g.hist, 0.50), p99 = hist_quantile_ms(&g.hist, 0.99),
         p999 = hist_quantile_ms(&g.hist, 0.999);
  double mx = (double)g.hist.max / 1000.0;
  double mean = g.hist.n ? (double)g.hist.sum / (double)g.hist.n / 1000.0 : 0;
  bool ok = g.deliveries == expected && g.gaps == 0 && g.bad == 0 && g.proto_err == 0 &&
            g.closed == 0 && g.sync_err == 0 && backlog == 0;
  printf("syncsubs: %u live pullers x %u events\n", g.subs, g.events);
  printf("  connect+pull   %.2f s\n", connect_s);
  printf("  deliveries     %" PRIu64 " of %" PRIu64 " (ended: %s)\n", g.deliveries,
         expected, end_reason);
  printf("  chunks         %" PRIu64 " (%" PRIu64 " empty, %" PRIu64 " fragmented)\n",
         g.chunks, g.empty_chunks, g.fragmented);
  printf("  latency ms     p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f (per chunk)\n",
         p50, p99, p999, mx, mean);
  printf("  gaps %" PRIu64 ", unparsable %" PRIu64 ", other messages %" PRIu64
         ", protocol errors %" PRIu64 ", closed by server %" PRIu64 ", pings %" PRIu64 "\n",
         g.gaps, g.bad, g.sync_err, g.proto_err, g.closed, g.pings);
  printf("  loadgen cpu    %.2f s (%.2f s in the kernel)\n", cpu, sys);
  /* first_ms/last_ms: wall clock of the first and last delivery, so the
   * driver can measure from its own start of pushing. */
  printf("RESULT mode=syncsubs subs=%u events=%u deliveries=%" PRIu64 " expected=%" PRIu64
         " chunks=%" PRIu64 " gaps=%" PRIu64 " first_ms=%.3f last_ms=%.3f p50_ms=%.3f"
         " p99_ms=%.3f p999_ms=%.3f max_ms=%.3f mean_ms=%.3f bad=%" PRIu64
         " other=%" PRIu64 " proto_err=%" PRIu64 " closed=%" PRIu64 " backlog=%" PRIu64
         " fragmented=%" PRIu64 " connect_s=%.2f loadgen_cpu_s=%.3f loadgen_sys_s=%.3f"
         " end=%s ok=%d\n",
         g.subs, g.events, g.deliveries, expected, g.chunks, g.gaps,
         (double)g.first_delivery / 1000.0, (double)g.last_delivery / 1000.0, p50, p99,
         p999, mx, mean, g.bad, g.sync_err, g.proto_err, g.closed, backlog, g.fragmented,
         connect_s, cpu, sys, end_reason, ok);
  fflush(stdout);
  pause_point("DONE"); /* --pause: the driver reads the server's CPU first */
  close_all();
  return ok ? 0 : 1;
}

/* -------------------------------------------------------------------- idle */

static int run_idle(void) {
  setup(g.subs);
  int64_t c0 = now_us();
  if (!connect_all()) {
    close_all();
    printf("RESULT mode=idle conns=%u ok=0 error=connect open=%u\n", g.subs,
           g.open);
    return 2;
  }
  printf("READY conns=%u connect_s=%.2f\n", g.open, (double)(now_us() - c0) / 1e6);
  fflush(stdout);

  /* Wait for stdin to close, a signal, or --hold seconds. */
  if (g.hold_s <= 0)
    watch_stdin();
  int64_t until = g.hold_s > 0 ? now_us() + (int64_t)(g.hold_s * 1e6) : 0;
  while (!g.stop && !g.stdin_eof && (until == 0 || now_us() < until))
    poll_once(100);
  uint32_t open = g.open;
  close_all();
  printf("RESULT mode=idle conns=%u open_at_end=%u closed_by_server=%" PRIu64
         " pings=%" PRIu64,
         g.subs, open, g.closed, g.pings);
  print_transport();
  printf(" ok=%d\n", g.closed == 0);
  fflush(stdout);
  return g.closed == 0 ? 0 : 1;
}

/* -------------------------------------------------------------- handshakes */

/* Opens connections until `burst` are active or all N are started. */
static void hs_launch(void) {
  while (g.hs_active < g.burst && g.hs_next < g.subs) {
    uint32_t id = g.hs_next++;
    g.hs_active++;
    int e = conn_open(&g.conns[id], id);
    if (e) {
      if (e == EMFILE || e == ENFILE) {
        fprintf(stderr, "loadgen: out of file descriptors\n");
        exit(2);
      }
      hs_finish(&g.conns[id], false, "socket/connect", e);
    }
  }
}

static int run_handshakes(void) {
  setup(g.subs);
  if (!g.quiet)
    fprintf(stderr, "loadgen: handshakes port=%d conns=%u concurrency=%u %s\n", g.port,
            g.subs, g.burst, g.tls ? "tls" : "plain");
  pause_point("CONNECTED"); /* nothing is open yet: the driver's start */
  double cpu0 = cpu_self_s();
  int64_t t0 = now_us();
  int64_t deadline =
      t0 + (int64_t)((g.timeout_s > 0 ? g.timeout_s : 60.0 + g.subs / 100.0) * 1e6);
  const char *end_reason = "complete";
  hs_launch();
  while (g.hs_ok + g.hs_failed < g.subs) {
    if (g.stop) {
      end_reason = "signal";
      break;
    }
    if (now_us() > deadline) {
      end_reason = "timeout";
      break;
    }
    poll_once(100);
    hs_launch();
  }
  int64_t t_end = g.hs_last > t0 ? g.hs_last : now_us();
  double elapsed = (double)(t_end - t0) / 1e6;
  double cpu = cpu_self_s() - cpu0;
  bool ok = g.hs_ok == g.subs && g.hs_bad == 0;
  double rate = elapsed > 0 ? g.hs_ok / elapsed : 0;
  printf("handshakes: %u connections, %u at a time, %s, GET / with Connection: close\n",
         g.subs, g.burst, g.tls ? "TLS (full handshakes)" : "plain TCP");
  printf("  completed      %u (ended: %s), %u failed, %u answers not 200\n", g.hs_ok,
         end_reason, g.hs_failed, g.hs_bad);
  printf("  elapsed        %.3f s\n", elapsed);
  printf("  per second     %.0f\n", rate);
  printf("  loadgen cpu    %.2f s\n", cpu);
  printf("RESULT mode=handshakes conns=%u concurrency=%u handshakes=%u failed=%u bad=%u"
         " elapsed_s=%.3f handshakes_per_s=%.0f loadgen_cpu_s=%.2f",
         g.subs, g.burst, g.hs_ok, g.hs_failed, g.hs_bad, elapsed, rate, cpu);
  print_transport();
  printf(" end=%s ok=%d\n", end_reason, ok);
  fflush(stdout);
  pause_point("DONE");
  close_all();
  return ok ? 0 : 1;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f) {
  fprintf(f,
          "usage: loadgen fanout --port P --subs N --msgs M [--rate R] [--window W]\n"
          "                      [--pubs K]\n"
          "       loadgen syncsubs --port P --store S --subs N --events E [--path P]\n"
          "       loadgen idle   --port P --conns N [--hold S]\n"
          "       loadgen handshakes --port P --conns N [--concurrency C]\n"
          "       common: [--tls] [--deflate] [--burst B] [--quiet]\n"
          "\n"
          "Load generator for duro's seed application; talks to 127.0.0.1 only.\n"
          "\n"
          "fanout  Opens N WebSockets on GET /ws/connect, then K HTTP keep-alive\n"
          "        connections send M `POST /broadcast` requests with the body\n"
          "        {\"seq\":i,\"t\":<monotonic us>}, connection j the seqs j, j+K, ...\n"
          "        Each subscriber checks that every seq arrives once and in order\n"
          "        (per publisher connection) and records now - t.\n"
          "        --rate R     pace to R messages/s (latency); default: pipeline\n"
          "        --pubs K     publisher connections (default 1)\n"
          "        --body-bytes N  pad the body to about N bytes with an \"items\"\n"
          "                     array of catalogue rows (compressible JSON; the\n"
          "                     same bytes every time apart from seq and t)\n"
          "        --window W   max requests without a response, per publisher\n"
          "                     connection (default 64; --pubs 8 --window 1: eight\n"
          "                     publishes in flight, one on each connection)\n"
          "        --timeout S  give up after S seconds of publishing\n"
          "                     (default 60 + M/100, plus M/R when paced)\n"
          "        --pause      print CONNECTED once all sockets are open and DONE\n"
          "                     after the results, each time waiting for a line\n"
          "                     (or EOF) on stdin before going on, so a driver can\n"
          "                     sample the server between phases (bounded: 120 s)\n"
          "syncsubs Opens N WebSockets on --path (default /?storeId=S&transport=ws)\n"
          "        and sends on each a live LiveStore Pull (cursor None) for\n"
          "        --store S; prints READY once every pull's first chunk arrived,\n"
          "        then counts events per chunk (first/last seqNum) and per-chunk\n"
          "        latency (wall clock now - the first event's args.t, in ms)\n"
          "        until all N x E arrived, a line/EOF on stdin, or --timeout S\n"
          "        (default 600). --events E: events the pusher will push. --pause:\n"
          "        print DONE after RESULT and keep the sockets open until a line\n"
          "        or EOF on stdin (bounded: 120 s)\n"
          "idle    Opens N WebSockets, prints READY when all are open, then holds\n"
          "        them (answering pings) until stdin closes, a signal arrives or\n"
          "        --hold S seconds pass.\n"
          "handshakes Opens N connections (--conns), C at a time (--concurrency,\n"
          "        default 50), each sending `GET /` with Connection: close and\n"
          "        reading the answer until the server closes: with --tls, TLS\n"
          "        handshakes per second (no session is reused). --pause: CONNECTED\n"
          "        before the first, DONE after RESULT.\n"
          "common  --burst B    handshakes in flight while connecting (default 500;\n"
          "                     syncsubs 100)\n"
          "        --tls        speak TLS (wss, https); the certificate is not checked\n"
          "        --deflate    offer permessage-deflate (client_max_window_bits);\n"
          "                     compressed messages are inflated and checked alike\n"
          "        --quiet      no progress lines on stderr\n"
          "\n"
          "Prints a human-readable summary and one `RESULT key=value ...` line.\n"
          "Exit: 0 all delivered in order, 1 losses/disorder/errors, 2 setup.\n");
}

static bool parse_u32(const char *s, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v > UINT32_MAX)
    return false;
  *out = (uint32_t)v;
  return true;
}

static bool parse_f64(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || v < 0)
    return false;
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  g.mode = argv[1];
  g.window = 64;
  g.pubs = 1;
  g.burst = 0; /* default per mode, below */
  uint32_t port = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool ok = true;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--quiet")) {
      g.quiet = true;
      continue;
    } else if (!strcmp(a, "--pause")) {
      g.pause = true;
      continue;
    } else if (!strcmp(a, "--tls")) {
      g.tls = true;
      continue;
    } else if (!strcmp(a, "--deflate")) {
      g.deflate = true;
      continue;
    } else if (!v) {
      ok = false;
    } else if (!strcmp(a, "--port")) {
      ok = parse_u32(v, &port) && port > 0 && port < 65536;
    } else if (!strcmp(a, "--subs") || !strcmp(a, "--conns")) {
      ok = parse_u32(v, &g.subs) && g.subs > 0 && g.subs < 10000000;
    } else if (!strcmp(a, "--events")) {
      ok = parse_u32(v, &g.events) && g.events > 0 && g.events < 1000000000;
    } else if (!strcmp(a, "--store")) {
      ok = v[0] && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789_-") == strlen(v) && strlen(v) <= 100;
      g.store = v;
    } else if (!strcmp(a, "--path")) {
      ok = v[0] == '/' && strlen(v) <= 300 && !strpbrk(v, " \r\n");
      g.path = v;
    } else if (!strcmp(a, "--msgs")) {
      ok = parse_u32(v, &g.msgs) && g.msgs > 0 && g.msgs < 100000000;
    } else if (!strcmp(a, "--rate")) {
      ok = parse_f64(v, &g.rate);
    } else if (!strcmp(a, "--pubs")) {
      ok = parse_u32(v, &g.pubs) && g.pubs > 0 && g.pubs <= 1000;
    } else if (!strcmp(a, "--window")) {
      ok = parse_u32(v, &g.window) && g.window > 0;
    } else if (!strcmp(a, "--body-bytes")) {
      ok = parse_u32(v, &g.body_bytes) && g.body_bytes <= 60000;
    } else if (!strcmp(a, "--burst") || !strcmp(a, "--concurrency")) {
      ok = parse_u32(v, &g.burst) && g.burst > 0;
    } else if (!strcmp(a, "--hold")) {
      ok = parse_f64(v, &g.hold_s);
    } else if (!strcmp(a, "--timeout")) {
      ok = parse_f64(v, &g.timeout_s);
    } else {
      fprintf(stderr, "loadgen: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "loadgen: bad or missing value for %s\n", a);
      return 2;
    }
    i++;
  }
  g.port = (int)port;
  if (!g.burst) /* the Node sync client opens 100 at a time */
    g.burst = !strcmp(g.mode, "syncsubs") ? 100 : !strcmp(g.mode, "handshakes") ? 50 : 500;
  g.rbuf_size = RBUF_SIZE;
  g.max_frame = MAX_FRAME;
  if (!g.path)
    g.path = "/ws/connect";
  if (!strcmp(g.mode, "syncsubs")) {
    if (!port || !g.subs || !g.events || !g.store) {
      fprintf(stderr, "loadgen: syncsubs needs --port, --store, --subs and --events\n");
      return 2;
    }
    static char path[160];
    if (!strcmp(g.path, "/ws/connect")) {
      snprintf(path, sizeof(path), "/?storeId=%s&transport=ws", g.store);
      g.path = path;
    }
    if (g.deflate) {
      fprintf(stderr, "loadgen: syncsubs does not speak --deflate\n");
      return 2;
    }
    g.sync = true;
    g.rbuf_size = SYNC_RBUF_SIZE;
    g.max_frame = SYNC_MAX_FRAME;
    return run_syncsubs();
  }
  if (!strcmp(g.mode, "fanout")) {
    if (!port || !g.subs || !g.msgs) {
      fprintf(stderr, "loadgen: fanout needs --port, --subs and --msgs\n");
      return 2;
    }
    return run_fanout();
  }
  if (!strcmp(g.mode, "handshakes")) {
    if (!port || !g.subs) {
      fprintf(stderr, "loadgen: handshakes needs --port and --conns\n");
      return 2;
    }
    g.hs = true;
    return run_handshakes();
  }
  if (!strcmp(g.mode, "idle")) {
    if (!port || !g.subs) {
      fprintf(stderr, "loadgen: idle needs --port and --conns\n");
      return 2;
    }
    return run_idle();
  }
  fprintf(stderr, "loadgen: unknown mode %s\n", g.mode);
  usage(stderr);
  return 2;
}
