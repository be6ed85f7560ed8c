/*
 * wsconn.h: the WebSocket protocol (RFC 6455) on a connection.
 *
 * duro_ws_accept() answers the HTTP upgrade and switches the connection
 * over. Incoming frames go through the pure reader of frame.h; messages
 * and the close reach the application through a small handler table.
 * Sends either frame and copy (duro_ws_send) or queue a chunk that is
 * already framed (duro_ws_send_frame), which is how a broadcast goes out:
 * framed once, the same bytes referenced by every recipient's queue.
 *
 * Keepalive: after ping_interval seconds without input the server pings;
 * without any input for pong_timeout more seconds the peer is dead and
 * the connection closes (the application sees 1006). A slow reader whose
 * send queue passes its bound loses its queue and is closed with 1008.
 */
#ifndef DURO_WS_WSCONN_H
#define DURO_WS_WSCONN_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "net/conn.h"

typedef struct duro_ws_handler {
  /* A whole text or binary message. data is valid only during the call. */
  void (*on_message)(duro_conn_t *c, int opcode, const uint8_t *data,
                     size_t len, void *ud);
  /* The socket is gone: code is what the peer sent (1005 if none), 1006
   * when it went away without a close frame, or the code we closed with
   * after a protocol error. Called exactly once. */
  void (*on_close)(duro_conn_t *c, int code, const char *reason,
                   size_t reason_len, void *ud);
} duro_ws_handler_t;

typedef struct duro_ws_opts {
  size_t max_message;
  unsigned ping_interval_s;
  unsigned pong_timeout_s;
  /* permessage-deflate (ws/deflate.h): negotiated when the client offers
   * it and deflate is set; messages of at least deflate_min bytes are
   * then sent compressed (when that makes them smaller). */
  uint8_t deflate;
  size_t deflate_min;
} duro_ws_opts_t;

/* Checks the upgrade headers of req and, when they are fine, answers 101
 * with extra_headers and makes the connection a WebSocket delivering to h
 * with ud. When they are not fine, answers the error (400, or 426 with
 * Sec-WebSocket-Version: 13). Frees req either way. Returns the connection
 * (borrowed: take a reference to keep it) or NULL when refused or gone.
 * h and opts are borrowed and must outlive the connection. */
duro_conn_t *duro_ws_accept(duro_http_req_t *req, const duro_ws_handler_t *h,
                            void *ud, const duro_ws_opts_t *opts,
                            const duro_header_t *extra_headers,
                            size_t nextra);

/* 1 when req asks for a WebSocket: its Upgrade header lists "websocket"
 * (a list such as "websocket, h2c" does). For routing: whether the
 * upgrade is acceptable is duro_ws_refuse_bad_upgrade's question. */
int duro_ws_is_upgrade(const duro_http_req_t *req);

/* Checks the upgrade request: GET, HTTP/1.1 or later, the upgrade headers
 * (ws/handshake.h), one key and one version. Returns 0 when acceptable
 * (req untouched); else answers req with the refusal (400, or 426 with
 * Sec-WebSocket-Version: 13 and a reason), which frees it, and returns
 * DURO_EPROTO. duro_ws_accept starts with this check. */
int duro_ws_refuse_bad_upgrade(duro_http_req_t *req);

/* Frames data as one message and queues it. Returns 0 or DURO_ECLOSED /
 * DURO_ENOSPC (see duro_conn_send). */
int duro_ws_send(duro_conn_t *c, int opcode, const void *data, size_t len);
/* Queues an already framed chunk (the caller keeps its reference). */
int duro_ws_send_frame(duro_conn_t *c, duro_chunk_t *frame);
/* A message framed once for many sends (a broadcast's recipients), with
 * its compressed twin made at most once, for the first recipient that
 * negotiated permessage-deflate. */
typedef struct duro_ws_shared {
  duro_chunk_t *plain;    /* a whole unmasked frame, FIN set (borrowed) */
  duro_chunk_t *deflated; /* made on first need; NULL */
  uint8_t tried;          /* deflated was tried (NULL: not worth it) */
} duro_ws_shared_t;
/* Queues m for one recipient: the compressed frame where c negotiated
 * permessage-deflate and it is worth it, else the plain one. Counts
 * nothing: the caller counts the fan-out once (duro_ws_count_sent).
 * Returns 0 (plain) or 1 (compressed), or DURO_ECLOSED / DURO_ENOSPC. */
int duro_ws_send_shared(duro_conn_t *c, duro_ws_shared_t *m);
/* Drops m's compressed frame, when one was made. */
void duro_ws_shared_done(duro_ws_shared_t *m);
/* Counts a fan-out's messages out, deflated of them compressed. */
void duro_ws_count_sent(uint64_t messages, uint64_t bytes, uint64_t deflated);
/* The same for one piece of a frame sent in several chunks (a head, then
 * a shared payload): starts_message is 1 for the first piece, which the
 * message count counts. */
int duro_ws_send_piece(duro_conn_t *c, duro_chunk_t *piece,
                       int starts_message);

/* Starts the closing handshake with code and reason; the connection closes
 * when the peer answers or after a few seconds. */
void duro_ws_close(duro_conn_t *c, uint16_t code, const char *reason);

/* 1 when c is an open WebSocket that has not started closing. */
int duro_ws_is_open(const duro_conn_t *c);

/* Sets the application pointer handed to the handler. */
void duro_ws_set_ud(duro_conn_t *c, void *ud);

/* What this process's WebSockets received: complete data messages and
 * their payload bytes (after reassembly); and what they were sent: data
 * messages queued and their frame bytes. For metrics. */
typedef struct duro_ws_stats {
  uint64_t messages_in, bytes_in;
  uint64_t messages_out, bytes_out;
  uint64_t deflated_in, deflated_out; /* of those, compressed messages */
} duro_ws_stats_t;
void duro_ws_stats(duro_ws_stats_t *out);

#endif
