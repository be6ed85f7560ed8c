/*
 * tunnel.h: a browser's WebSocket forwarded to an object on the backend
 * through the binding protocol (and, with duro_tunnel_start_with, any
 * client's WebSocket relayed to another duro node: backend/forward.c).
 *
 * The frontend opens its own upgrade to /_objects/<BINDING>/<name>/<path>
 * on the backend (with the internal secret; over TLS when the backend is
 * https) and, once the backend said 101, answers the browser's upgrade
 * itself. From then on both sides speak RFC 6455 to their peer and the
 * frontend relays the bytes unchanged: browser frames are already masked
 * as a client's must be, the backend's are unmasked as a server's must
 * be, and the only extension is permessage-deflate, offered up as the
 * browser offered it and answered down as the backend answered, so each
 * frame means the same on both hops and a byte relay is a correct
 * intermediary that costs no framing work.
 */
#ifndef DURO_FRONTEND_TUNNEL_H
#define DURO_FRONTEND_TUNNEL_H

#include "http/client.h"
#include "http/http.h"

/* Takes req over: answers it with 101 and relays, or with 502 (backend
 * unreachable) or the backend's own refusal status. path is the full
 * backend path (already including /_objects/...). secret may be NULL;
 * else it goes up as Authorization: Bearer <secret>. */
void duro_tunnel_start(duro_http_req_t *req, uv_loop_t *loop,
                       const duro_url_t *backend, const char *path,
                       const char *secret, unsigned timeout_ms);

/* Why an upgrade could not be relayed, told before the client is
 * answered (duro_tunnel_opts_t.on_failure). */
typedef struct duro_tunnel_failure {
  int status;       /* the backend's answer when it was not a 101, else 0 */
  uint8_t reached;  /* the connection to the backend had opened */
  uint8_t answered; /* some bytes of an answer had come */
  uint8_t timed_out;
  const char *head; /* status != 0: the answer's head (up to its blank
                       line), head_len bytes, borrowed for the call */
  size_t head_len;
  const char *why;  /* what failed, for the log; may be NULL */
} duro_tunnel_failure_t;

typedef struct duro_tunnel_opts {
  uv_loop_t *loop;
  const duro_url_t *backend; /* read during duro_tunnel_start_with only */
  const char *path;          /* the request target, after backend's base
                                path (query included) */
  /* Extra request headers, read during the call only. Those the tunnel
   * writes itself (the upgrade's own, Sec-WebSocket-Key, -Version,
   * -Accept, -Extensions) and duro_http_relay_skips' are dropped. */
  const duro_header_t *headers;
  size_t nheaders;
  unsigned timeout_ms;       /* connecting and the backend's 101 */
  /* May be NULL. Called when the upgrade failed while the client has not
   * been answered, with req: returns 1 when it took req over (answered it
   * or started another tunnel with it), 0 to let the tunnel answer (502,
   * 504 or the backend's status) as it would without it. */
  int (*on_failure)(void *ud, duro_http_req_t *req,
                    const duro_tunnel_failure_t *f);
  /* May be NULL. Called instead when the backend said 101: req is gone
   * (the client got its 101, or had left and the tunnel ended). */
  void (*on_upgraded)(void *ud);
  void *ud;
} duro_tunnel_opts_t;

/* duro_tunnel_start with options (o is read during the call only). When
 * req is not an acceptable upgrade it is answered (400 or 426) inside
 * this call and no callback runs; else exactly one of on_failure and
 * on_upgraded runs, once, on a later turn, never inside this call. */
void duro_tunnel_start_with(duro_http_req_t *req, const duro_tunnel_opts_t *o);

/* Shutdown of a frontend without its own backend: every relayed socket
 * gets a close frame 1001 "going away" (when the backend's stream is
 * between two frames; else just the end of the connection), which then
 * closes once the frame is out; the backend sides are closed. */
void duro_tunnel_going_away(void);

#endif
