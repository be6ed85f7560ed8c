/*
 * conn.c: TCP connections; see conn.h for the design.
 */
#include "net/conn_impl.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/err.h"
#include "net/tls.h"
#include "core/log.h"
#include "core/str.h"
#include "net/batch.h"
#include "net/ratelimit.h"

#define READ_BUFFER_SIZE (64 * 1024)
#define MAX_IOV 64
/* A gathering ends when a send is full: as many frames as one writev. */
_Static_assert(MAX_IOV == DURO_GATHER_FULL_FRAMES, "gather.h's full send");
#define LINGER_SECONDS 2
#define RATE_WARN_MS 10000    /* at most one rate limit warning per 10 s */
/* What a queued chunk costs beyond its bytes, counted against the send
 * queue's bound: its header, the allocator's and the queue slot. Without
 * it a stream of tiny frames (a pong is 2 bytes) would hold many times
 * the bound in memory. */
#define ENTRY_COST (sizeof(duro_chunk_t) + 16 + sizeof(duro_chunk_t *))

static uint64_t next_conn_id = 1;

/* ---- loop-wide state ---------------------------------------------------- */

static void flush_conn(duro_conn_t *c);
static void flush_batched(duro_net_t *net);

static void flush_pending(duro_net_t *net) {
  /* Two or more sockets to write: one io_uring submission for all. */
  if (net->batch && net->pending.next != net->pending.prev)
    flush_batched(net);
  /* Pop one at a time: flushing may close connections, whose on_close may
   * queue output to others and put them on the list again. */
  while (!duro_list_empty(&net->pending)) {
    duro_list_t *n = net->pending.next;
    duro_list_remove(n);
    flush_conn(DURO_CONTAINER_OF(n, duro_conn_t, pending_node));
  }
}

/* Forgets the connections read from since the last check, writing their
 * queued output first when flush is set. */
static void release_readers(duro_net_t *net, int flush) {
  for (unsigned i = 0; i < net->nreaders; i++) {
    duro_conn_t *c = net->readers[i];
    c->in_readers = 0;
    if (flush && !duro_list_empty(&c->pending_node))
      duro_conn_flush(c);
    duro_conn_unref(c);
  }
  net->nreaders = 0;
}

/* Output produced by I/O callbacks goes out in the check phase right after
 * them: the connections read from get theirs at once, the rest may be held
 * back a few turns (net/gather.h). Output produced by timers, idle and
 * pending callbacks goes out in the prepare phase, before the loop polls,
 * unless it is being held. */
static void on_flush(uv_check_t *h) {
  duro_net_t *net = h->data;
  int got_input = net->nreaders > 0;
  int was_holding = net->gather.p.holding;
  release_readers(net, 1);
  if (duro_gather_check(&net->gather, got_input, !duro_list_empty(&net->pending)))
    return;
  if (!was_holding) {
    flush_pending(net);
    return;
  }
  uint64_t start = uv_hrtime();
  flush_pending(net);
  duro_gather_written(&net->gather.p, start, uv_hrtime());
}

static void on_prepare(uv_prepare_t *h) {
  duro_net_t *net = h->data;
  if (!net->gather.p.holding)
    flush_pending(net);
}

void duro_net_set_gather(duro_net_t *net, unsigned gather_us) {
  net->gather.p.max_us = gather_us;
}

void duro_net_log_counters(const duro_net_t *net) {
  duro_log_info("net counters: reads=%llu writes=%llu batched_sends=%llu "
                "bytes_written=%llu partial_writes=%llu accepts=%llu "
                "overflows=%llu rate_limited=%llu message_rate_limited=%llu",
                (unsigned long long)net->reads, (unsigned long long)net->writes,
                (unsigned long long)net->batched_sends,
                (unsigned long long)net->bytes_written,
                (unsigned long long)net->partial_writes,
                (unsigned long long)net->accepts,
                (unsigned long long)net->overflows,
                (unsigned long long)net->rate_limited,
                (unsigned long long)net->message_rate_limited);
}

int duro_net_use_io_uring(duro_net_t *net, int on, char *why, size_t whylen) {
  duro_batch_free(net->batch);
  net->batch = on ? duro_batch_new(why, whylen) : NULL;
  return on && !net->batch ? DURO_ENOTSUP : 0;
}

static void free_queue_storage(duro_conn_t *c);

static void on_sweep(uv_timer_t *h) {
  duro_net_t *net = h->data;
  net->now_s = (uint32_t)(uv_now(net->loop) / 1000) + 1;
  DURO_LIST_FOREACH(it, &net->conns) {
    duro_conn_t *c = DURO_CONTAINER_OF(it, duro_conn_t, node);
    /* an idle connection goes back to its inline ring */
    if (c->q_len == 0 && !c->wreq && c->q_mask >= DURO_CONN_QUEUE_INLINE)
      free_queue_storage(c);
    if (c->deadline_s && net->now_s >= c->deadline_s && !c->closed) {
      c->deadline_s = 0;
      if (c->close_after_drain)
        duro_conn_close(c);
      else if (c->proto && c->proto->on_timeout)
        c->proto->on_timeout(c);
      else
        duro_conn_close(c);
    }
  }
}

void duro_net_init(duro_net_t *net, uv_loop_t *loop, size_t max_conns,
                   size_t send_queue_max) {
  memset(net, 0, sizeof(*net));
  net->loop = loop;
  duro_list_init(&net->conns);
  duro_list_init(&net->pending);
  net->max_conns = max_conns;
  net->send_queue_max = send_queue_max;
  net->rbuf_size = READ_BUFFER_SIZE;
  net->rbuf = duro_malloc(net->rbuf_size);
  net->now_s = (uint32_t)(uv_now(loop) / 1000) + 1;
  uv_check_init(loop, &net->flusher);
  net->flusher.data = net;
  uv_check_start(&net->flusher, on_flush);
  uv_unref((uv_handle_t *)&net->flusher);
  uv_prepare_init(loop, &net->preflusher);
  net->preflusher.data = net;
  uv_prepare_start(&net->preflusher, on_prepare);
  uv_unref((uv_handle_t *)&net->preflusher);
  duro_gather_init(&net->gather, loop);
  uv_timer_init(loop, &net->sweeper);
  net->sweeper.data = net;
  uv_timer_start(&net->sweeper, on_sweep, 1000, 1000);
  uv_unref((uv_handle_t *)&net->sweeper);
}

static void free_rbuf(uv_handle_t *h) {
  duro_net_t *net = h->data;
  if (h == (uv_handle_t *)&net->sweeper) {
    duro_free(net->rbuf);
    net->rbuf = NULL;
    duro_ratelimit_free(net->rl);
    net->rl = NULL;
  }
}

void duro_net_limit_rate(duro_net_t *net, const duro_limits_t *limits) {
  if (limits->rate_limit != DURO_RATE_LIMIT_ON)
    return;
  /* One entry per peer with open connections, plus room for recently
   * seen ones; 64 bytes each, so the table stays within a few MB. */
  size_t cap = limits->max_connections;
  cap = cap < 1024 ? 1024 : cap > 65536 ? 65536 : cap;
  duro_ratelimit_opts_t o = {
      .conn_per_s = limits->rate_limit_connections_per_s,
      .conn_burst = limits->rate_limit_connections_burst,
      .msg_per_s = limits->rate_limit_messages_per_s,
      .msg_burst = limits->rate_limit_messages_burst,
      .capacity = cap,
      .exempt_loopback = limits->rate_limit_exempt_loopback,
  };
  /* The seed only has to be unknown to peers: the clock, the pid and an
   * address are enough for a hash that is not a security boundary. */
  uint64_t seed = uv_hrtime() ^ (uint64_t)(uintptr_t)net ^
                  ((uint64_t)getpid() << 32);
  duro_ratelimit_free(net->rl);
  net->rl = duro_ratelimit_new(&o, seed);
  duro_log_info("rate limits: %u connections/s (burst %u) and %u WebSocket "
                "messages/s (burst %u) per client%s",
                o.conn_per_s, o.conn_burst, o.msg_per_s, o.msg_burst,
                o.exempt_loopback ? "; loopback exempt" : "");
}

void duro_net_close(duro_net_t *net) {
  net->closing = 1;
  uv_check_stop(&net->flusher);
  uv_close((uv_handle_t *)&net->flusher, NULL);
  uv_prepare_stop(&net->preflusher);
  uv_close((uv_handle_t *)&net->preflusher, NULL);
  duro_gather_close(&net->gather);
  duro_batch_free(net->batch);
  net->batch = NULL;
  release_readers(net, 0);
  uv_timer_stop(&net->sweeper);
  uv_close((uv_handle_t *)&net->sweeper, free_rbuf);
}

/* ---- connection lifetime -------------------------------------------------- */

/* The ring's slots, inline or on the heap. Capacities are powers of two
 * (q_mask is the capacity minus one); the heap ring is at least 16. */
static inline duro_chunk_t **qslots(duro_conn_t *c) {
  return c->q_mask >= DURO_CONN_QUEUE_INLINE ? c->q.heap : c->q.inl;
}
/* The i-th queued chunk from the head. */
static inline duro_chunk_t *qat(duro_conn_t *c, uint32_t i) {
  return qslots(c)[(c->q_head + i) & c->q_mask];
}

/* Back to the inline ring; only when the queue is empty. */
static void free_queue_storage(duro_conn_t *c) {
  if (c->q_mask >= DURO_CONN_QUEUE_INLINE)
    duro_free(c->q.heap);
  c->q_mask = DURO_CONN_QUEUE_INLINE - 1;
  c->q_head = c->q_len = 0;
}

duro_conn_t *duro_conn_ref(duro_conn_t *c) {
  c->refs++;
  return c;
}

int duro_conn_is_closed(const duro_conn_t *c) { return c->closed; }

int duro_conn_has_output(const duro_conn_t *c) {
  return !c->closed && (c->q_len || c->wreq);
}

size_t duro_conn_queued_bytes(const duro_conn_t *c) { return c->q_bytes; }

void duro_conn_set_proto(duro_conn_t *c, const duro_proto_t *proto,
                         void *data) {
  c->proto = proto;
  c->proto_data = data;
}

void *duro_conn_proto_data(const duro_conn_t *c) { return c->proto_data; }

void duro_conn_set_proto_data(duro_conn_t *c, void *data) {
  c->proto_data = data;
}

duro_conn_t *duro_net_next_conn(duro_net_t *net, duro_conn_t *prev) {
  duro_list_t *n = prev ? prev->node.next : net->conns.next;
  return n == &net->conns ? NULL : DURO_CONTAINER_OF(n, duro_conn_t, node);
}

void duro_conn_unref(duro_conn_t *c) {
  if (--c->refs)
    return;
  /* what close had to keep (a partly written head) goes with the last
   * reference: a write in flight holds one, so none is left now */
  while (c->q_len) {
    duro_chunk_unref(qat(c, 0));
    c->q_head = (c->q_head + 1) & c->q_mask;
    c->q_len--;
  }
  duro_buf_free(&c->in);
  free_queue_storage(c);
  duro_free(c);
}

static void tls_free(duro_conn_t *c);
static void tls_forget_plaintext(duro_conn_t *c);
static void tls_seal(duro_conn_t *c);

static void on_handle_closed(uv_handle_t *h) {
  duro_conn_t *c = (duro_conn_t *)h;
  c->handle_closed = 1;
  tls_free(c);
  if (c->net->rl)
    duro_ratelimit_disconnect(c->net->rl, c->rl_slot);
  duro_list_remove(&c->node);
  c->net->nconns--;
  duro_conn_unref(c);
}

void duro_conn_drop_queue(duro_conn_t *c) {
  /* Entries covered by an in-flight write, and a partly written head, must
   * stay: libuv still points at them, and cutting a frame in half would
   * corrupt the stream. */
  uint32_t keep = c->inflight;
  if (keep == 0 && c->head_off)
    keep = 1;
  while (c->q_len > keep) {
    duro_chunk_t *last = qat(c, c->q_len - 1);
    c->q_bytes -= last->len + ENTRY_COST;
    duro_chunk_unref(last);
    c->q_len--;
  }
  tls_forget_plaintext(c); /* the tail went first */
  if (c->q_len == 0) {
    c->q_bytes = 0;
    c->head_off = 0;
    free_queue_storage(c);
  }
}

void duro_conn_close(duro_conn_t *c) {
  if (c->closed)
    return;
  c->closed = 1;
  duro_list_remove(&c->pending_node);
  duro_conn_drop_queue(c);
  if (c->proto && c->proto->on_close)
    c->proto->on_close(c);
  if (c->carrier && !c->carrier_gone)
    c->carrier->closed(c->carrier_data, c->carried_id);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* ---- reading ---------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  duro_conn_t *c = (duro_conn_t *)h;
  buf->base = (char *)c->net->rbuf;
  buf->len = c->net->rbuf_size;
}

/* Offers input to the protocol until it consumes nothing more. data/len is
 * either the shared read buffer (c->in empty) or c->in itself. */
static void dispatch_input(duro_conn_t *c, uint8_t *data, size_t len,
                           int owned) {
  size_t off = 0;
  while (off < len && !c->closed && c->proto) {
    const duro_proto_t *p = c->proto;
    size_t n = p->on_data(c, data + off, len - off);
    off += n;
    if (n == 0 && p == c->proto)
      break;
  }
  if (c->closed) {
    duro_buf_free(&c->in);
    return;
  }
  if (owned) {
    duro_buf_consume(&c->in, off);
    if (c->in.len == 0)
      duro_buf_free(&c->in);
  } else if (off < len) {
    duro_buf_append(&c->in, data + off, len - off);
  }
}

/* Plaintext in: to the protocol, after what is left from before. */
static void deliver(duro_conn_t *c, uint8_t *data, size_t len) {
  if (c->in.len == 0) {
    dispatch_input(c, data, len, 0);
  } else {
    duro_buf_append(&c->in, data, len);
    dispatch_input(c, c->in.data, c->in.len, 1);
  }
}

static void tls_input(duro_conn_t *c, const uint8_t *data, size_t len);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  duro_conn_t *c = (duro_conn_t *)s;
  if (nread <= 0) {
    if (nread < 0)
      duro_conn_close(c);
    return;
  }
  if (c->close_after_drain)
    return; /* lingering: discard */
  c->net->reads++;
  if (c->net->gather.p.max_us && !c->in_readers &&
      c->net->nreaders < DURO_NET_READERS) {
    duro_gather_note_read(&c->net->gather, c->net->nreaders == 0);
    c->in_readers = 1;
    c->net->readers[c->net->nreaders++] = duro_conn_ref(c);
  }
  duro_conn_ref(c);
  if (__builtin_expect(c->tls != NULL, 0))
    tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
  else
    deliver(c, (uint8_t *)buf->base, (size_t)nread);
  duro_conn_unref(c);
}

void duro_conn_reprocess(duro_conn_t *c) {
  if (c->closed || c->in.len == 0)
    return;
  duro_conn_ref(c);
  dispatch_input(c, c->in.data, c->in.len, 1);
  duro_conn_unref(c);
}

void duro_conn_pause_reading(duro_conn_t *c) {
  if (c->carrier) { /* its carrier reads: the flag is what the protocol sees */
    c->reading = 0;
    return;
  }
  if (c->reading && !c->closed) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

void duro_conn_resume_reading(duro_conn_t *c) {
  if (c->carrier) {
    c->reading = 1;
    return;
  }
  if (!c->reading && !c->closed) {
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->reading = 1;
  }
}

void duro_conn_set_deadline(duro_conn_t *c, unsigned seconds) {
  c->deadline_s = seconds ? c->net->now_s + seconds : 0;
}

/* ---- writing ----------------------------------------------------------------- */

static void mark_pending(duro_conn_t *c) {
  if (duro_list_empty(&c->pending_node) && !c->wreq)
    duro_list_insert_tail(&c->net->pending, &c->pending_node);
}

void duro_conn_want_flush(duro_conn_t *c) {
  if (c->closed || c->close_after_drain)
    return;
  c->want_flush = 1;
  mark_pending(c);
}

static uint32_t fill_iov(duro_conn_t *c, uv_buf_t *iov, size_t *total);
static void advance(duro_conn_t *c, size_t n);

/* Writes what the kernel takes right now, without waiting and without
 * acting on an error (the flush at the end of the loop turn meets it again
 * and closes). For a burst that passes the queue's bound within one loop
 * turn: a reader that keeps up must not pay for our batching. */
static void write_now(duro_conn_t *c) {
  uv_buf_t iov[MAX_IOV];
  while (c->q_len && !c->wreq && !c->in_batch) {
    size_t total;
    uint32_t n = fill_iov(c, iov, &total);
    int w = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
    c->net->writes++;
    if (w <= 0)
      return;
    advance(c, (size_t)w);
    if ((size_t)w < total)
      return;
  }
}

static int tls_send(duro_conn_t *c, duro_chunk_t *chunk);

/* Appends a reference to chunk at the queue's tail. */
static void ring_push(duro_conn_t *c, duro_chunk_t *chunk) {
  if (c->q_len == c->q_mask + 1) {
    int heap = c->q_mask >= DURO_CONN_QUEUE_INLINE;
    uint32_t cap = heap ? (c->q_mask + 1) * 2 : 16;
    duro_chunk_t **q = duro_malloc(cap * sizeof(*q));
    for (uint32_t i = 0; i < c->q_len; i++)
      q[i] = qat(c, i);
    if (heap)
      duro_free(c->q.heap);
    c->q.heap = q;
    c->q_mask = cap - 1;
    c->q_head = 0;
  }
  qslots(c)[(c->q_head + c->q_len) & c->q_mask] = duro_chunk_ref(chunk);
  c->q_len++;
  c->q_bytes += chunk->len + ENTRY_COST;
}

/* Queues chunk, judged against the queue's bound. Under TLS it is
 * plaintext (tls_send counts it) and is sealed into records just before
 * the write that takes it. */
static int queue_raw(duro_conn_t *c, duro_chunk_t *chunk) {
  ring_push(c, chunk);
  mark_pending(c);
  duro_gather_note_queue(&c->net->gather, c->q_len, c->q_bytes);
  /* The bound is on what the peer has not taken: write first, then judge. */
  if (c->q_bytes > c->net->send_queue_max && !c->wreq && !c->in_batch)
    write_now(c);
  if (c->q_bytes > c->net->send_queue_max) {
    c->net->overflows++;
    if (c->proto && c->proto->on_overflow)
      c->proto->on_overflow(c);
    else
      duro_conn_close(c);
    return DURO_ENOSPC;
  }
  return 0;
}

int duro_conn_send(duro_conn_t *c, duro_chunk_t *chunk) {
  if (c->closed || c->close_after_drain)
    return DURO_ECLOSED;
  if (c->carrier) {
    c->carrier->send(c->carrier_data, c->carried_id, chunk);
    return 0;
  }
  if (__builtin_expect(c->tls != NULL, 0))
    return tls_send(c, chunk);
  return queue_raw(c, chunk);
}

int duro_conn_send_copy(duro_conn_t *c, const void *data, size_t len) {
  duro_chunk_t *chunk = duro_chunk_from(data, len);
  int rc = duro_conn_send(c, chunk);
  duro_chunk_unref(chunk);
  return rc;
}

/* Drops n written bytes from the front of the queue. */
static void advance(duro_conn_t *c, size_t n) {
  c->net->bytes_written += n;
  while (n > 0 && c->q_len > 0) {
    duro_chunk_t *head = qat(c, 0);
    size_t left = head->len - c->head_off;
    if (n < left) {
      c->head_off += (uint32_t)n;
      return;
    }
    n -= left;
    c->q_bytes -= head->len + ENTRY_COST;
    duro_chunk_unref(head);
    c->head_off = 0;
    c->q_head = (c->q_head + 1) & c->q_mask;
    c->q_len--;
  }
}

static uint32_t fill_iov(duro_conn_t *c, uv_buf_t *iov, size_t *total) {
  if (__builtin_expect(c->tls != NULL, 0))
    tls_seal(c); /* everything queued so far, in as few records as fit */
  uint32_t n = c->q_len < MAX_IOV ? c->q_len : MAX_IOV;
  *total = 0;
  for (uint32_t i = 0; i < n; i++) {
    duro_chunk_t *ch = qat(c, i);
    uint32_t off = i == 0 ? c->head_off : 0;
    iov[i].base = (char *)ch->data + off;
    iov[i].len = ch->len - off;
    *total += iov[i].len;
  }
  return n;
}

static void on_drained(duro_conn_t *c);

/* The bytes of the entries a write in flight covers. */
static size_t inflight_bytes(duro_conn_t *c) {
  size_t bytes = 0;
  for (uint32_t i = 0; i < c->inflight; i++) {
    duro_chunk_t *ch = qat(c, i);
    bytes += ch->len - (i == 0 ? c->head_off : 0);
  }
  return bytes;
}

static void on_write_done(uv_write_t *req, int status) {
  duro_conn_t *c = req->data;
  size_t bytes = inflight_bytes(c);
  c->inflight = 0;
  advance(c, bytes);
  duro_free(c->wreq);
  c->wreq = NULL;
  if (status < 0) {
    duro_conn_close(c);
    duro_conn_unref(c);
    return;
  }
  if (c->q_len || c->want_flush)
    mark_pending(c);
  else
    on_drained(c);
  duro_conn_unref(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  duro_conn_t *c = req->data;
  duro_free(req);
  if (status < 0)
    duro_conn_close(c);
  duro_conn_unref(c);
}

static void on_drained(duro_conn_t *c) {
  /* A heap ring stays for the next burst (freeing it at every drain would
   * cost a malloc and a free per busy connection per loop turn); the
   * sweep gives it back once the connection has stayed idle. */
  c->q_head = 0;
  if (c->closed)
    return;
  if (c->close_after_drain && c->carrier) {
    duro_conn_close(c); /* the carrier ends it after what it was sent */
    return;
  }
  if (c->close_after_drain) {
    /* Half-close, then drain the peer's input for a moment so that unread
     * request bytes do not turn our FIN into a RST that eats the response. */
    uv_shutdown_t *req = duro_malloc(sizeof(*req));
    req->data = duro_conn_ref(c);
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
      duro_free(req);
      duro_conn_unref(c);
      duro_conn_close(c);
      return;
    }
    duro_conn_resume_reading(c);
    duro_conn_set_deadline(c, LINGER_SECONDS);
    return;
  }
  if (c->proto && c->proto->on_drain)
    c->proto->on_drain(c);
}

/* The kernel buffer is full: hands the rest to uv_write, which waits for
 * POLLOUT. New sends queue behind it until it completes. */
static void wait_writable(duro_conn_t *c) {
  uv_buf_t iov[MAX_IOV];
  size_t total;
  c->net->partial_writes++;
  uint32_t n = fill_iov(c, iov, &total);
  c->wreq = duro_malloc(sizeof(*c->wreq));
  c->wreq->data = duro_conn_ref(c);
  c->inflight = n;
  if (uv_write(c->wreq, (uv_stream_t *)&c->tcp, iov, n, on_write_done) < 0) {
    duro_free(c->wreq);
    c->wreq = NULL;
    c->inflight = 0;
    duro_conn_unref(c);
    duro_conn_close(c);
  }
}

/* Runs the protocol's last-moment hook (duro_conn_want_flush); 1 when c
 * has output that a write may take now. */
static int ready_to_write(duro_conn_t *c) {
  if (c->want_flush && !c->wreq && !c->closed) {
    c->want_flush = 0;
    if (c->proto && c->proto->on_flush)
      c->proto->on_flush(c);
    duro_list_remove(&c->pending_node); /* being flushed right now */
  }
  if (__builtin_expect(c->tls != NULL, 0) && !c->closed)
    tls_seal(c); /* may find the session broken and close */
  return !c->closed && !c->wreq && !c->in_batch && c->q_len;
}

static void flush_conn(duro_conn_t *c) {
  uv_buf_t iov[MAX_IOV];
  if (c->in_batch)
    return; /* its send's result will write the rest */
  while (ready_to_write(c)) {
    size_t total;
    uint32_t n = fill_iov(c, iov, &total);
    int w = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
    c->net->writes++;
    if (w == UV_EAGAIN || w == UV_ENOSYS)
      w = 0;
    if (w < 0) {
      duro_conn_close(c);
      return;
    }
    advance(c, (size_t)w);
    if ((size_t)w == total)
      continue;
    wait_writable(c);
    return;
  }
  if (!c->closed && !c->wreq && c->q_len == 0)
    on_drained(c);
}

/* ---- batched sends (net/batch.h) ------------------------------------------ */

static void on_batch_sent(void *tag, int res, void *arg) {
  duro_conn_t *c = tag;
  size_t total = inflight_bytes(c);
  c->in_batch = 0;
  c->inflight = 0;
  c->net->writes++;
  c->net->batched_sends++;
  if (res > 0)
    advance(c, (size_t)res);
  if (c->closed)
    duro_conn_drop_queue(c); /* what was kept for the kernel to read */
  else if (res < 0 && res != -EAGAIN && res != -EINTR)
    duro_conn_close(c);
  else if ((res < 0 ? 0 : (size_t)res) < total && c->q_len)
    wait_writable(c); /* the socket is full: no second try now */
  else
    flush_conn(c); /* more queued meanwhile, or drained */
  duro_conn_unref(c);
}

/* Writes the pending connections with one io_uring submission per
 * DURO_BATCH_SENDS of them. While its send is queued, a connection's
 * entries count as in flight (duro_conn_drop_queue keeps them) and
 * nothing else writes it. */
static void flush_batched(duro_net_t *net) {
  while (net->batch && !duro_list_empty(&net->pending)) {
    while (!duro_list_empty(&net->pending)) {
      duro_list_t *node = net->pending.next;
      duro_conn_t *c = DURO_CONTAINER_OF(node, duro_conn_t, pending_node);
      uint32_t want = c->q_len < MAX_IOV ? c->q_len : MAX_IOV;
      uv_buf_t *bufs = duro_batch_bufs(net->batch, want);
      if (!bufs)
        break;
      duro_list_remove(node);
      int fd;
      if (!ready_to_write(c) ||
          uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) {
        flush_conn(c); /* closed, drained, or waiting in uv_write */
        continue;
      }
      size_t total;
      uint32_t n = fill_iov(c, bufs, &total);
      c->in_batch = 1;
      c->inflight = n;
      duro_batch_add(net->batch, fd, n, duro_conn_ref(c));
    }
    int rc = duro_batch_run(net->batch, on_batch_sent, NULL);
    if (rc < 0) {
      duro_log_error("io_uring failed (%s): writing with writev from now on",
                     strerror(-rc));
      duro_batch_free(net->batch);
      net->batch = NULL;
    }
  }
}

void duro_conn_flush(duro_conn_t *c) {
  duro_list_remove(&c->pending_node);
  flush_conn(c);
}

void duro_conn_close_after_flush(duro_conn_t *c) {
  if (c->closed || c->close_after_drain)
    return;
  c->close_after_drain = 1;
  duro_conn_set_deadline(c, LINGER_SECONDS + 3);
  if (c->q_len == 0 && !c->wreq)
    on_drained(c);
}

/* ---- peers ---------------------------------------------------------------------- */

/* The peer's address is looked up when needed rather than stored: it is
 * only wanted for logs and loopback checks, and 64 bytes per idle socket
 * add up. */
int duro_conn_peer(const duro_conn_t *c, char *buf, size_t len) {
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (c->closed ||
      uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0) {
    duro_fmt(buf, len, "?");
    return DURO_ECLOSED;
  }
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof(ip));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
  }
  /* for logs: a peer cut short by a small buffer is still a peer */
  return duro_fmt(buf, len, "%s:%d", ip, port) < 0 ? DURO_E2BIG : 0;
}

int duro_conn_over_message_rate(duro_conn_t *c) {
  duro_net_t *net = c->net;
  if (!c->rl_slot || !net->rl)
    return 0;
  if (!duro_ratelimit_message(net->rl, c->rl_slot, uv_now(net->loop)))
    return 0;
  net->message_rate_limited++;
  return 1;
}

int duro_conn_is_loopback(const duro_conn_t *c) {
  struct sockaddr_storage ss;
  int sl = sizeof(ss);
  if (c->closed ||
      uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0)
    return 0;
  if (ss.ss_family == AF_INET)
    return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    static const struct in6_addr loop6 = IN6ADDR_LOOPBACK_INIT;
    return memcmp(a, &loop6, sizeof(loop6)) == 0;
  }
  return 0;
}

/* ---- new connections ---------------------------------------------------------- */

/* Counts a connection refused for its rate and warns at most every
 * RATE_WARN_MS, with the number refused in between. */
static void note_rate_limited(duro_net_t *net, const struct sockaddr *sa) {
  net->rate_limited++;
  net->rl_unreported++;
  uint64_t now = uv_now(net->loop);
  if (net->rl_warned_ms && now - net->rl_warned_ms < RATE_WARN_MS)
    return;
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET)
    uv_ip4_name((const struct sockaddr_in *)(const void *)sa, ip, sizeof(ip));
  else if (sa->sa_family == AF_INET6)
    uv_ip6_name((const struct sockaddr_in6 *)(const void *)sa, ip,
                sizeof(ip));
  duro_log_warn("rate limit: refusing connections over the per-client rate "
                "(latest from %s; %llu refused in the last %u s)",
                ip, (unsigned long long)net->rl_unreported,
                RATE_WARN_MS / 1000);
  net->rl_warned_ms = now;
  net->rl_unreported = 0;
}

duro_conn_t *duro__conn_adopt(duro_net_t *net, int fd,
                              const struct sockaddr *sa) {
  duro_conn_t *c = duro_calloc(1, sizeof(*c));
  c->q_mask = DURO_CONN_QUEUE_INLINE - 1;
  uv_tcp_init(net->loop, &c->tcp);
  if (uv_tcp_open(&c->tcp, fd) < 0) {
    close(fd);
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)duro_free);
    return NULL;
  }
  c->net = net;
  c->refs = 1;
  c->id = next_conn_id++;
  duro_list_init(&c->pending_node);
  duro_list_insert_tail(&net->conns, &c->node);
  net->nconns++;
  net->accepts++;
  if (net->rl && sa) {
    duro_rl_key_t key;
    if (duro_rl_key_from_sockaddr(&key, sa) >= 0)
      c->rl_slot = duro_ratelimit_connect(net->rl, &key, uv_now(net->loop),
                                          &c->rl_retry_ms);
    if (c->rl_retry_ms)
      note_rate_limited(net, sa);
  }
  uv_tcp_nodelay(&c->tcp, 1);
  return c;
}

duro_conn_t *duro__conn_new_carried(duro_net_t *net,
                                    const duro_conn_carrier_t *carrier,
                                    void *data, uint32_t id) {
  duro_conn_t *c = duro_calloc(1, sizeof(*c));
  c->q_mask = DURO_CONN_QUEUE_INLINE - 1;
  uv_tcp_init(net->loop, &c->tcp); /* no socket: only for uv_close */
  c->net = net;
  c->refs = 1;
  c->id = next_conn_id++;
  c->carrier = carrier;
  c->carrier_data = data;
  c->carried_id = id;
  c->reading = 1;
  duro_list_init(&c->pending_node);
  duro_list_insert_tail(&net->conns, &c->node);
  net->nconns++;
  return c;
}

void duro__conn_carried_input(duro_conn_t *c, uint8_t *data, size_t len) {
  if (c->closed)
    return;
  duro_conn_ref(c);
  deliver(c, data, len);
  duro_conn_unref(c);
}

void duro__conn_carried_gone(duro_conn_t *c) {
  c->carrier_gone = 1;
  duro_conn_close(c);
}

/* ---- TLS (net/tls.h) ---------------------------------------------------------- */

struct duro_tls_conn {
  SSL *ssl;
  duro_tls_t *owner;
  uint32_t plain_n;    /* the queue's last plain_n entries are plaintext */
  uint8_t handshaking; /* counted in owner's handshakes in progress */
  uint8_t shed;        /* handshake done: drop the BIOs' grown buffers */
};

int duro_conn_is_tls(const duro_conn_t *c) { return c->tls != NULL; }

int duro__conn_start_tls(duro_conn_t *c, duro_tls_t *t) {
  SSL *ssl = duro_tls_accept(t);
  if (!ssl)
    return DURO_EBUSY;
  c->tls = duro_calloc(1, sizeof(*c->tls));
  c->tls->ssl = ssl;
  c->tls->owner = t;
  c->tls->handshaking = 1;
  return 0;
}

static void tls_handshake_over(duro_conn_t *c) {
  if (c->tls->handshaking) {
    c->tls->handshaking = 0;
    duro_tls_handshake_done(c->tls->owner);
  }
}

static void tls_free(duro_conn_t *c) {
  if (!c->tls)
    return;
  tls_handshake_over(c);
  SSL_free(c->tls->ssl);
  duro_free(c->tls);
  c->tls = NULL;
}

static void tls_forget_plaintext(duro_conn_t *c) {
  if (c->tls)
    c->tls->plain_n = 0;
}

/*
 * Seals the plaintext at the queue's tail into records, as few as fit
 * (up to 16 KiB each: a broadcast's frames to one socket share records
 * rather than paying a record, its MAC and its header each), and queues
 * them with whatever else OpenSSL wrote (handshake messages, tickets,
 * alerts), in the order OpenSSL wrote it. Called just before a write
 * takes the queue, and whenever OpenSSL may have written something.
 */
static void tls_seal(duro_conn_t *c) {
  static uint8_t stage[16384]; /* one record's worth; the loop thread's */
  struct duro_tls_conn *t = c->tls;
  SSL *ssl = t->ssl;
  int ok = 1;
  if (t->plain_n) {
    uint32_t first = c->q_len - t->plain_n;
    size_t fill = 0;
    ERR_clear_error(); /* SSL_get_error reads the thread's queue */
    for (uint32_t i = first; i < c->q_len; i++) {
      duro_chunk_t *ch = qat(c, i);
      const uint8_t *p = ch->data;
      size_t left = ch->len;
      while (left > 0) {
        size_t k = sizeof(stage) - fill < left ? sizeof(stage) - fill : left;
        memcpy(stage + fill, p, k);
        fill += k;
        p += k;
        left -= k;
        if (fill == sizeof(stage)) {
          ok &= SSL_write(ssl, stage, (int)fill) == (int)fill;
          fill = 0;
        }
      }
      c->q_bytes -= ch->len + ENTRY_COST;
      duro_chunk_unref(ch);
    }
    if (fill)
      ok &= SSL_write(ssl, stage, (int)fill) == (int)fill;
    c->q_len = first;
    t->plain_n = 0;
  }
  BIO *w = SSL_get_wbio(ssl);
  size_t n = BIO_ctrl_pending(w);
  if (ok && n) {
    duro_chunk_t *ch = duro_chunk_new(n);
    int got = BIO_read(w, ch->data, (int)n);
    ch->len = got > 0 ? (uint32_t)got : 0;
    if (ch->len)
      ring_push(c, ch);
    duro_chunk_unref(ch);
  }
  if (!ok) /* a session OpenSSL has given up on */
    duro_conn_close(c);
}

/* Moves what OpenSSL wrote (handshake messages, answers to what it read)
 * to the queue, after any plaintext waiting before it. */
static void tls_flush_out(duro_conn_t *c) {
  tls_seal(c);
  if (c->q_len && !c->closed)
    mark_pending(c);
}

/* Queues plaintext: it waits, counted, for the next write's seal. */
static int tls_send(duro_conn_t *c, duro_chunk_t *chunk) {
  if (chunk->len == 0)
    return 0;
  c->tls->plain_n++; /* before queue_raw, which may write (and seal) */
  return queue_raw(c, chunk);
}

/*
 * After the handshake: the memory BIOs keep the capacity their largest
 * contents needed (the certificate chain going out, the ClientHello
 * coming in), which an idle socket would hold for its life. Empty ones
 * are swapped for fresh ones, which allocate only when used.
 */
static void tls_shed_handshake_memory(duro_conn_t *c) {
  SSL *ssl = c->tls->ssl;
  BIO *r = SSL_get_rbio(ssl), *w = SSL_get_wbio(ssl);
  if (BIO_ctrl_pending(r) || BIO_ctrl_pending(w))
    return; /* the next read tries again */
  c->tls->shed = 0;
  (void)duro_tls_fresh_bios(ssl); /* out of memory: the old pair stays */
}

static void tls_input(duro_conn_t *c, const uint8_t *data, size_t len) {
  static uint8_t plain[16384]; /* one record's worth; the loop thread's */
  SSL *ssl = c->tls->ssl;
  /* Another connection's failure may have left errors in the thread's
   * queue, which SSL_get_error would take for this one's. */
  ERR_clear_error();
  if (BIO_write(SSL_get_rbio(ssl), data, (int)len) != (int)len) {
    duro_conn_close(c);
    return;
  }
  if (c->tls->handshaking) {
    int rc = SSL_do_handshake(ssl);
    tls_flush_out(c);
    if (rc != 1) {
      int e = SSL_get_error(ssl, rc);
      if (e != SSL_ERROR_WANT_READ) {
        /* not TLS, a protocol we refuse (1.0, 1.1), no shared cipher */
        duro_log_debug("conn %llu: TLS handshake failed",
                       (unsigned long long)c->id);
        ERR_clear_error();
        duro_conn_close_after_flush(c);
      }
      return;
    }
    tls_handshake_over(c);
    c->tls->shed = 1;
  }
  while (!c->closed && !c->close_after_drain) {
    int n = SSL_read(ssl, plain, (int)sizeof(plain));
    if (n > 0) {
      deliver(c, plain, (size_t)n);
      continue;
    }
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN) /* close_notify: the peer is done */
      duro_conn_close_after_flush(c);
    else if (e != SSL_ERROR_WANT_READ)
      duro_conn_close(c);
    break;
  }
  if (!c->closed)
    tls_flush_out(c);
  if (c->tls && c->tls->shed && !c->closed)
    tls_shed_handshake_memory(c);
}
