/*
 * conn.h: TCP connections on the libuv loop: accept, read, a send queue of
 * refcounted chunks, batched writes, coarse timeouts and safe teardown.
 *
 * A connection speaks one protocol at a time (HTTP/1.1, then maybe
 * WebSocket); the protocol is a small vtable that gets the bytes read and
 * the close. This module knows nothing of either protocol.
 *
 * Design notes:
 * - Reads land in one loop-wide buffer. Only the unconsumed tail of a
 *   partial request or frame is copied into the connection's own buffer,
 *   which is freed as soon as it drains: an idle connection owns no buffer.
 * - Sends only append a chunk reference to the connection's queue and put
 *   the connection on the pending list. One uv_check handle flushes every
 *   pending connection once per loop turn with a single writev (try_write);
 *   only the remainder of a partial write goes through uv_write.
 * - The queue is bounded: bytes plus a fixed cost per queued chunk, so
 *   that a flood of tiny frames is bounded too. A send that passes the bound first
 *   writes out what the kernel takes at once (a burst queued within one
 *   loop turn is not the reader's fault); if the queue is still over the
 *   bound, the protocol's overflow policy runs (WebSocket: drop the queue
 *   and close 1008).
 * - Timeouts are swept once a second against a per-connection deadline in
 *   whole seconds instead of one timer per connection.
 * - Optional per-client rate limits (net/ratelimit.h): each accepted
 *   connection takes a token from its peer's bucket and keeps the slot for
 *   message checks; the protocol refuses a connection over the rate.
 * - Connections are refcounted: the loop holds one reference while the
 *   socket is open; other holders (an object's socket list, an output gate)
 *   take their own. duro_conn_close() only marks and closes; memory goes
 *   when the last reference is dropped, so a stale holder never touches
 *   freed memory and sends to a closed connection are silently dropped.
 */
#ifndef DURO_NET_CONN_H
#define DURO_NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/list.h"
#include "net/gather.h"

/* Opaque above net/, http/ and ws/: its fields are in net/conn_impl.h,
 * which only those three folders include (scripts/layers.sh checks);
 * everyone else uses the functions below. */
typedef struct duro_conn duro_conn_t;

typedef struct duro_net duro_net_t;
#define DURO_NET_READERS 64
typedef struct duro_listener duro_listener_t;
struct duro_ratelimit;

/* What a protocol does with a connection. */
typedef struct duro_proto {
  /* Bytes arrived. data is mutable and valid only during the call. Returns
   * the number of bytes consumed; the rest is kept and offered again with
   * more bytes appended. The callee may close the connection. */
  size_t (*on_data)(duro_conn_t *c, uint8_t *data, size_t len);
  /* The peer closed, the socket failed or duro_conn_close() was called.
   * Called exactly once; the connection's memory is still valid. */
  void (*on_close)(duro_conn_t *c);
  /* The connection's deadline (see duro_conn_set_deadline) passed. */
  void (*on_timeout)(duro_conn_t *c);
  /* The send queue went over its byte bound. */
  void (*on_overflow)(duro_conn_t *c);
  /* The send queue fully drained (used to close after a final response). */
  void (*on_drain)(duro_conn_t *c);
  /* The queue is about to be written, and duro_conn_want_flush() asked to
   * be told: the last moment to queue output that replaces itself while
   * it waits, such as the one pong owed for a burst of pings. */
  void (*on_flush)(duro_conn_t *c);
} duro_proto_t;

/* Loop-wide network state shared by all listeners of one process. */
struct duro_net {
  uv_loop_t *loop;
  uv_check_t flusher;      /* flushes pending connections each loop turn */
  uv_prepare_t preflusher; /* ... and before the loop sleeps */
  duro_gather_t gather;    /* when pending output is written */
  struct duro_batch *batch; /* io_uring sends (net/batch.h); NULL: writev */
  uint64_t reads;          /* reads so far (a counter, like writes) */
  /* connections read from since the last check: their own answers are
   * written at once, gathering or not (referenced) */
  duro_conn_t *readers[DURO_NET_READERS];
  unsigned nreaders;
  uv_timer_t sweeper;      /* once a second: deadlines */
  duro_list_t conns;       /* every open connection */
  duro_list_t pending;     /* connections with queued output to flush */
  uint32_t now_s;          /* seconds since start, for deadlines */
  size_t nconns;
  size_t max_conns;
  size_t send_queue_max;   /* bytes per connection */
  uint8_t *rbuf;           /* the shared read buffer */
  size_t rbuf_size;
  int closing;
  struct duro_ratelimit *rl; /* NULL: no per-client rate limits */
  uint64_t rl_warned_ms;     /* last rate limit warning */
  uint64_t rl_unreported;    /* refusals since then */
  /* counters */
  uint64_t writes, partial_writes, accepts, overflows, rate_limited;
  uint64_t batched_sends; /* writes that went through net->batch */
  uint64_t over_limit;    /* connections answered 503: max_connections */
  uint64_t message_rate_limited; /* sockets closed: over the message rate */
  uint64_t accept_pauses; /* accepting paused for want of descriptors */
  uint64_t bytes_written;
};


/* Logs the counters below in one line: "net counters: reads=N writes=N
 * batched_sends=N bytes_written=N partial_writes=N accepts=N overflows=N
 * rate_limited=N" (writes: sends, by writev or through io_uring). */
void duro_net_log_counters(const duro_net_t *net);

/* Sets up the loop-wide state: read buffer, flusher and sweeper. */
void duro_net_init(duro_net_t *net, uv_loop_t *loop, size_t max_conns,
                   size_t send_queue_max);
/* Stops the flusher and sweeper handles (connections must be closed). */
void duro_net_close(duro_net_t *net);

/* Turns on the per-client rate limits of limits (config.h) for every
 * listener of net, when limits->rate_limit is on; call before accepting.
 * The table is owned by net and freed by duro_net_close. */
struct duro_limits;
void duro_net_limit_rate(duro_net_t *net, const struct duro_limits *limits);

/*
 * Gathering (net/gather.h): after a loop turn that read input, the output
 * of other connections (a fan-out) may be held back for a few turns so
 * that the fan-outs of requests arriving close together leave in one write
 * per connection; the connections read from get their own output at once.
 * gather_us bounds a brief hold (a lone message waits 50 us) and sets the
 * scale of a sustained one (while the writes are behind: a quarter of the
 * last write pass, from gather_us up to 8 times it). 0 (the default here;
 * duro's setting flush_gather_us defaults to 1000) writes after every turn.
 */
void duro_net_set_gather(duro_net_t *net, unsigned gather_us);

/* on: write a pass's sockets with one io_uring submission (net/batch.h)
 * instead of one writev each. Returns 0, or DURO_ENOTSUP when io_uring
 * cannot be used here (then writev it is, and why says why); off always
 * returns 0. */
int duro_net_use_io_uring(duro_net_t *net, int on, char *why, size_t whylen);

/* Queues a reference to chunk c (the caller keeps its own reference).
 * Bytes go out at the end of this loop turn. Returns 0, DURO_ECLOSED for a
 * closed connection (nothing queued) or DURO_ENOSPC when this send pushed
 * the queue over its bound (the protocol's on_overflow already ran). */
int duro_conn_send(duro_conn_t *c, duro_chunk_t *chunk);
/* Copies len bytes into a new chunk and queues it. */
int duro_conn_send_copy(duro_conn_t *c, const void *data, size_t len);
/* Asks for proto->on_flush before this connection's output is next
 * written: at the end of this loop turn, or when the write in flight
 * completes (a reader that does not read never gets there, so what the
 * protocol holds back for on_flush stays one item, not a queue). */
void duro_conn_want_flush(duro_conn_t *c);
/* Drops every queued chunk that has not started going out. */
void duro_conn_drop_queue(duro_conn_t *c);
/* Writes out everything queued now instead of at the end of the loop turn. */
void duro_conn_flush(duro_conn_t *c);

/* Closes the connection: the protocol's on_close runs once, the socket is
 * closed, queued output is dropped. Safe to call repeatedly and from inside
 * the connection's own callbacks (memory stays until the last unref). */
void duro_conn_close(duro_conn_t *c);
/* Closes once the queued output has been written (a final response, a
 * close frame); forced after the deadline set by the caller. */
void duro_conn_close_after_flush(duro_conn_t *c);

/* Deadline in seconds from now; 0 clears it. */
void duro_conn_set_deadline(duro_conn_t *c, unsigned seconds);

/* Stop/start reading (backpressure). */
void duro_conn_pause_reading(duro_conn_t *c);
void duro_conn_resume_reading(duro_conn_t *c);

/* Takes a reference; returns c. */
duro_conn_t *duro_conn_ref(duro_conn_t *c);
/* Drops a reference; frees the connection after it is closed and the last
 * reference is gone. */
void duro_conn_unref(duro_conn_t *c);

/* 1 once the connection is closed (duro_conn_close ran or the peer went
 * away): sends are dropped from then on. */
int duro_conn_is_closed(const duro_conn_t *c);
/* 1 while an open connection still has output to write: chunks queued or
 * a write in flight. */
int duro_conn_has_output(const duro_conn_t *c);
/* The bytes queued and not yet taken by the kernel (with each chunk's
 * bookkeeping cost, as the send queue's bound counts them). */
size_t duro_conn_queued_bytes(const duro_conn_t *c);
/* Hands the connection to another protocol: proto gets its bytes and its
 * close from now on, with data as its state (duro_conn_proto_data). */
void duro_conn_set_proto(duro_conn_t *c, const duro_proto_t *proto,
                         void *data);
/* The protocol's state, as set by duro_conn_set_proto (or NULL). */
void *duro_conn_proto_data(const duro_conn_t *c);
/* Replaces the protocol's state, keeping the protocol. */
void duro_conn_set_proto_data(duro_conn_t *c, void *data);
/* Iterates net's connections, open and closing (not yet freed): the first
 * when prev is NULL, else the one after prev; NULL after the last. Closing
 * the current one is safe (it stays listed until its handle is closed). */
duro_conn_t *duro_net_next_conn(duro_net_t *net, duro_conn_t *prev);

/* Writes "ip:port" of the peer into buf. DURO_ECLOSED when unknown. */
int duro_conn_peer(const duro_conn_t *c, char *buf, size_t len);
/* 1 when the peer is on a loopback address. */
int duro_conn_is_loopback(const duro_conn_t *c);

/* Takes a message token from the peer's bucket. Returns 1 when the peer
 * is over its message rate (the caller closes the connection), else 0
 * (also without rate limits or for an exempt peer). */
int duro_conn_over_message_rate(duro_conn_t *c);

/* For net/listener.c: wraps an accepted socket fd (taken over) from peer
 * sa in a new connection of net (the loop holds its reference), with its
 * rate-limit slot (sa NULL: none, the connection is not metered). NULL
 * when libuv refused the descriptor (closed). */
duro_conn_t *duro__conn_adopt(duro_net_t *net, int fd,
                              const struct sockaddr *sa);
/* For net/listener.c: makes c a TLS server connection of t before any
 * byte is read. 0, or DURO_EBUSY when t has too many handshakes in
 * progress (the caller closes c). */
struct duro_tls;
int duro__conn_start_tls(duro_conn_t *c, struct duro_tls *t);
/* 1 when c speaks TLS (its listener's, net/tls.h). */
int duro_conn_is_tls(const duro_conn_t *c);

/*
 * A carried connection has no socket of its own: it is a client of
 * another process whose bytes travel inside a carrier (a link between
 * cluster nodes, backend/link.c). The protocols above use it as any
 * connection; what they send goes to carrier->send (with the carrier's
 * id for it, the chunk referenced, not copied: the same broadcast frame
 * to many carried connections of one carrier is one chunk), and its
 * input comes from duro__conn_carried_input. Its peer address is
 * unknown (not loopback) and it is never rate limited.
 */
typedef struct duro_conn_carrier {
  /* chunk is queued for connection id (take a reference to keep it) */
  void (*send)(void *data, uint32_t id, duro_chunk_t *chunk);
  /* the connection closed here: its output ends after what was sent */
  void (*closed)(void *data, uint32_t id);
} duro_conn_carrier_t;
/* A new carried connection of net (the loop holds its reference, as for
 * an accepted one); speaks no protocol until one is attached. */
duro_conn_t *duro__conn_new_carried(duro_net_t *net,
                                    const duro_conn_carrier_t *carrier,
                                    void *data, uint32_t id);
/* Bytes for a carried connection, as a read would deliver them. */
void duro__conn_carried_input(duro_conn_t *c, uint8_t *data, size_t len);
/* The other side ended a carried connection: it closes without telling
 * the carrier. */
void duro__conn_carried_gone(duro_conn_t *c);

/* Offers bytes that were read earlier but not consumed (after a protocol
 * switch or an unpause) to the protocol again, on the next loop turn. */
void duro_conn_reprocess(duro_conn_t *c);

/* Listening sockets live in their own file; most users of connections
 * also start listeners. */
#include "net/listener.h"

#endif
