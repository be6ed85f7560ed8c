/*
 * conn_impl.h: the fields of a connection, for the folders that implement
 * protocols over it (net/, http/, ws/). Everyone else sees duro_conn_t as
 * opaque and uses the functions of net/conn.h; scripts/layers.sh fails if
 * a file outside those three folders includes this header.
 */
#ifndef DURO_NET_CONN_IMPL_H
#define DURO_NET_CONN_IMPL_H

#include "net/conn.h"

/* Send-queue entries kept inside the connection before the ring moves to
 * the heap (a power of two). */
#define DURO_CONN_QUEUE_INLINE 2

struct duro_conn {
  uv_tcp_t tcp;             /* first: uv handle pointers cast back to us */
  duro_net_t *net;
  const duro_proto_t *proto;
  void *proto_data;         /* the protocol's state */
  struct duro_tls_conn *tls; /* NULL: plain TCP (net/tls.h) */
  duro_list_t node;         /* in net->conns */
  duro_list_t pending_node; /* in net->pending while output is queued */
  duro_buf_t in;            /* unconsumed input, freed when empty */
  /* send queue: a ring of chunk references, inline for the first few (a
   * broadcast to an idle socket allocates nothing), on the heap once a
   * reader falls behind (q_cap > 0), back inline when it drains */
  union {
    duro_chunk_t *inl[DURO_CONN_QUEUE_INLINE];
    duro_chunk_t **heap;
  } q;
  uint32_t q_head, q_len;
  uint32_t q_mask;          /* capacity - 1; < INLINE: the inline ring */
  uint32_t head_off;        /* bytes of q[q_head] already written */
  uint32_t inflight;        /* entries covered by the uv_write in flight */
  size_t q_bytes;
  uv_write_t *wreq;         /* only while a uv_write is in flight */
  uint32_t deadline_s;      /* 0 = none */
  uint32_t refs;
  uint32_t rl_slot;         /* the peer's rate limit entry, 0 = none */
  uint32_t rl_retry_ms;     /* > 0: over the connection rate; retry after */
  uint64_t id;
  uint8_t closed;           /* duro_conn_close() ran or the peer went away */
  uint8_t reading;
  uint8_t close_after_drain;
  uint8_t handle_closed;
  uint8_t want_flush;       /* call proto->on_flush before the next write */
  uint8_t in_readers;       /* listed in net->readers */
  uint8_t in_batch;         /* its send is queued in net->batch */
  uint8_t carrier_gone;     /* carried: the other side ended it */
  /* carried (duro__conn_new_carried): no socket of its own; what it sends
   * goes to the carrier, which also feeds it its input */
  const duro_conn_carrier_t *carrier;
  void *carrier_data;
  uint32_t carried_id;
};

#endif
