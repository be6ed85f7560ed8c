/*
 * node.h: this backend as one node of a cluster on PostgreSQL
 * (docs/cluster.md).
 *
 * A node holds a lease in the database (store/owners.h) that it renews
 * every RENEW_MS on a connection of its own, so that renewals never wait
 * behind commits. When it cannot renew in time it fences itself before the
 * lease may lapse: it gives every object up and answers 503 until it holds
 * a lease again. Requests for objects that are not in memory go to the
 * node that rendezvous hashing over the live nodes picks (or that the
 * object's claim names), through backend/forward.h; a request that came
 * from another node is never sent on again.
 */
#ifndef DURO_BACKEND_NODE_H
#define DURO_BACKEND_NODE_H

#include <stddef.h>
#include <uv.h>

#include "backend/backend.h"
#include "core/config.h"
#include "objects/runtime.h"

typedef struct duro_node duro_node_t;

/*
 * Opens the node's own connection to conninfo (blocking: at start-up),
 * sets the runtime's cluster hooks and starts joining: the runtime is
 * fenced ("joining the cluster") until the node holds its lease. The
 * node's id is --node-id, else the advertised host:port; the advertised
 * URL is --advertise, else http://HOST:PORT of the backend's listener
 * (refused when HOST is a wildcard address). secret is
 * DURO_INTERNAL_SECRET (borrowed). The node's links (backend/link.h) go
 * into b, whose listener serves the other nodes' links. 0, or a negative
 * code with err.
 */
int duro_node_start(duro_node_t **out, uv_loop_t *loop, duro_runtime_t *rt,
                    duro_backend_t *b, const duro_config_t *cfg,
                    const char *conninfo, const char *secret, char *err,
                    size_t errlen);

/* Leaves the cluster: the lease is released (its objects may be claimed
 * at once), the connection closed and the node freed; then cb(data). Call
 * it once the runtime has shut down (no commit left in flight). */
void duro_node_stop(duro_node_t *n, void (*cb)(void *data), void *data);

/* For the metrics: 1 while the node holds its lease; the live nodes it
 * knows; requests forwarded to other nodes. */
typedef struct duro_node_stats {
  int serving;
  size_t live_nodes;
  uint64_t forwarded;
  uint64_t fences;
} duro_node_stats_t;
void duro_node_stats(const duro_node_t *n, duro_node_stats_t *out);

#endif
