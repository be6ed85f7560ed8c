/*
 * link.h: one link per pair of cluster nodes for the WebSockets that reach
 * an object through a node other than its owner (docs/cluster.md).
 *
 * The entry node (where the client connected) opens one connection to the
 * owner node, an HTTP upgrade to GET /_duro/link with the internal secret,
 * and carries every such client over it (backend/linkwire.h): the client's
 * upgrade request and frames go up as they came, the owner's answer and
 * frames come down as the owner wrote them, so neither side reframes
 * anything. On the owner each carried client is a connection of its own
 * to the HTTP and WebSocket layers (net/conn.h, carried connections), so
 * objects see ordinary sockets. What makes the link worth having: a
 * broadcast frame that the owner sends to many carried clients of one
 * entry node leaves as one CAST message, and the entry node fans that one
 * chunk out to its local sockets. Per-socket order holds: one ordered
 * stream per pair of nodes.
 *
 * A node that is not the owner of the object answers a carried upgrade
 * 421 naming the owner; the entry node follows that once. A link that
 * fails ends its clients (a client still waiting for its answer gets 503
 * with Retry-After); the owner closes what the link carried.
 */
#ifndef DURO_BACKEND_LINK_H
#define DURO_BACKEND_LINK_H

#include <stdint.h>
#include <uv.h>

#include "http/http.h"
#include "net/conn.h"

typedef struct duro_links duro_links_t;

/* The links of this node. http_opts (borrowed) is the protocol its carried
 * clients speak on the owner side (the backend's); secret (borrowed) is
 * DURO_INTERNAL_SECRET; unreachable(ud, url) runs when a link to url could
 * not be opened or failed. */
duro_links_t *duro_links_new(uv_loop_t *loop, duro_net_t *net,
                             const duro_http_opts_t *http_opts,
                             const char *secret,
                             void (*unreachable)(void *ud, const char *url),
                             void *ud);
/* Closes every link (their clients end) and frees them. */
void duro_links_free(duro_links_t *l);

/* Owner side: req is GET /_duro/link from another node (the caller checked
 * the hop's secret): answers 101 and serves the link on its connection. */
void duro_links_accept(duro_links_t *l, duro_http_req_t *req);

/* Entry side: takes the client's WebSocket upgrade req over and carries it
 * to the node at url (an http:// base URL). */
void duro_links_relay(duro_links_t *l, duro_http_req_t *req, const char *url);

/* Counters (for /metrics): links accepted and opened, carried clients,
 * what the owner side sent: DATA messages, CAST messages and the
 * recipients those named; and what the entry side handed to its clients
 * (one per recipient). */
typedef struct duro_link_stats {
  uint64_t links_accepted, links_opened, carried;
  uint64_t data_sent, casts_sent, cast_recipients;
  uint64_t relayed; /* entry side: messages handed to local clients */
} duro_link_stats_t;
void duro_links_stats(duro_link_stats_t *out);

#endif
