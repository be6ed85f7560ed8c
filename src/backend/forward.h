/*
 * forward.h: the internal hop between cluster nodes. A request that
 * reaches a node for an object another node owns is replayed to the
 * owner, marked with the internal secret, and its answer relayed back.
 * A WebSocket upgrade does not come here: it travels over the node link
 * to its owner (backend/link.h).
 *
 * The hop is trusted only by its secret: a public client's X-Duro-*
 * headers never travel on (they are dropped here) and a node believes a
 * request is a hop only when duro_forward_is_hop says so. A node that
 * gets a hop for an object it does not own answers 421 naming the owner
 * (duro_forward_misdirected) rather than forwarding again, and a
 * forwarder follows one such answer at most, so a hop can never loop.
 */
#ifndef DURO_BACKEND_FORWARD_H
#define DURO_BACKEND_FORWARD_H

#include <stddef.h>
#include <uv.h>

#include "http/http.h"

/* The internal hop header: carries DURO_INTERNAL_SECRET on a forwarded
 * request. */
#define DURO_HOP_HEADER "X-Duro-Hop"
/* The owner a node names when it is not the owner (answer 421). */
#define DURO_OWNER_HEADER "X-Duro-Owner"

/* 1 when req came from another node: it carries exactly one
 * DURO_HOP_HEADER, equal to secret (secret_len bytes; compared in
 * constant time). Secret NULL or empty, header absent, repeated or wrong:
 * 0, a public request, whose hop header is then ignored, never trusted. */
int duro_forward_is_hop(const duro_http_req_t *req, const char *secret,
                        size_t secret_len);

typedef struct duro_forward_opts {
  uv_loop_t *loop;
  const char *secret;  /* DURO_INTERNAL_SECRET (copied); NULL: refused */
  unsigned timeout_ms; /* the whole exchange (0: 10 s) */
  size_t max_body;     /* response body cap (0: 1 MiB) */
  /* called (may be NULL) when the node at url could not be reached
   * (connect refused/timed out, reset before a response): the caller drops
   * that node from its caches. Runs before req is answered. */
  void (*unreachable)(void *ud, const char *url);
  /* called (may be NULL) when a node answered 421 naming another owner
   * (X-Duro-Owner: <url>), so the caller caches object→url. */
  void (*learned)(void *ud, const char *key, const char *url);
  void *ud; /* must outlive every forward started with it */
  /* what the forward is about (copied with the options; given back to
   * learned): the object's id, so that the caller caches its owner */
  char key[65];
} duro_forward_opts_t;

/*
 * Takes req over and forwards it to the duro node whose backend base URL is
 * url ("http://127.0.0.1:PORT", as given by that node's --advertise; only
 * http:// URLs, else 502). o and url are copied: both may go away after
 * the call (url may point into a cache that the callbacks change).
 *
 * The same method, request target (path and query as received), headers
 * (but the hop-by-hop ones, Expect and X-Duro-*) and body, plus
 * DURO_HOP_HEADER; the answer is relayed (but its hop-by-hop headers).
 * An upgrade is answered 500 at once (a caller's bug: see link.h).
 *
 * A 421 naming an owner: o->learned, then one more try at that owner; a
 * second 421 becomes 503. Unreachable: o->unreachable, then 503. No
 * answer in time: 504. Each 503 carries Retry-After: 1. Callbacks run on
 * later turns, never inside this call. The client may leave meanwhile:
 * nothing is sent then and everything is freed.
 */
void duro_forward(duro_http_req_t *req, const char *url,
                  const duro_forward_opts_t *o);

/* Answers req 421 Misdirected Request with X-Duro-Owner: owner_url and
 * Retry-After: 1 and a short text body (a hop that reached a node that is
 * not the owner). owner_url is a C string. */
void duro_forward_misdirected(duro_http_req_t *req, const char *owner_url);

#endif
