/*
 * tunnel.h: a browser's WebSocket forwarded to an object on the backend
 * through the binding protocol.
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
 * backend path (already including /_objects/...). secret may be NULL. */
void duro_tunnel_start(duro_http_req_t *req, uv_loop_t *loop,
                       const duro_url_t *backend, const char *path,
                       const char *secret, unsigned timeout_ms);

/* Shutdown of a frontend without its own backend: every relayed socket
 * gets a close frame 1001 "going away" (when the backend's stream is
 * between two frames; else just the end of the connection), which then
 * closes once the frame is out; the backend sides are closed. */
void duro_tunnel_going_away(void);

#endif
