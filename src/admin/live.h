/*
 * live.h: the inspector's overview, a sample of the process once a second
 * (connections, sockets, rates of requests, messages, deliveries and
 * commits, commit latency and loop lag p99, memory), kept for the last
 * five minutes and pushed to the inspector's WebSockets as it is taken.
 *
 *   GET /api/overview  {"interval_ms", "version", "samples": [...]}
 *   GET /api/live      a WebSocket: {"history": [...]} first, then one
 *                      {"sample": {...}} a second
 *
 * A sample: t_ms (wall clock), connections, websockets, objects,
 * rss_bytes, requests_per_s, messages_in_per_s, messages_out_per_s,
 * deliveries_per_s, commits_per_s, commit_p99_ms, loop_lag_p99_ms.
 * Rates are over the second before t_ms; the p99s are of that second's
 * samples (0 when there were none).
 */
#ifndef DURO_ADMIN_LIVE_H
#define DURO_ADMIN_LIVE_H

#include <stdint.h>

#include "core/buf.h"
#include "core/histo.h"
#include "http/http.h"
#include "net/conn.h"
#include "objects/runtime.h"
#include "ws/wsconn.h"

#define DURO_LIVE_SAMPLES 300   /* five minutes at one a second */
#define DURO_LIVE_WATCHERS 32   /* inspector sockets at once */

typedef struct duro_live_sample {
  uint64_t t_ms;
  uint64_t connections, websockets, objects, rss_bytes;
  double requests_s, messages_in_s, messages_out_s, deliveries_s, commits_s;
  double commit_p99_ms, loop_lag_p99_ms;
} duro_live_sample_t;

/* The running totals a sample is the difference of. */
typedef struct duro_live_totals {
  uint64_t at_ns; /* uv_hrtime when read */
  uint64_t requests, messages_in, messages_out, deliveries, commits;
  duro_histo_t commit_latency, loop_lag;
} duro_live_totals_t;

typedef struct duro_live {
  const duro_net_t *net;
  const duro_runtime_t *rt;         /* NULL: no runtime in this process */
  const duro_histo_t *loop_lag;
  uv_timer_t tick;
  int started;
  duro_live_totals_t last;
  duro_live_sample_t ring[DURO_LIVE_SAMPLES];
  size_t head, count;               /* the oldest sample, how many */
  duro_conn_t *watchers[DURO_LIVE_WATCHERS];
  size_t nwatchers;
  uint64_t own_messages;            /* what the feed sent: not counted */
  duro_ws_opts_t ws_opts;
} duro_live_t;

/* Starts sampling (the timer does not keep the loop alive). */
void duro_live_start(duro_live_t *l, uv_loop_t *loop, const duro_net_t *net,
                     const duro_runtime_t *rt, const duro_histo_t *loop_lag);
/* Closes the watchers' sockets (1001) and stops the timer. */
void duro_live_stop(duro_live_t *l);

/* GET /api/overview. */
void duro_live_overview(duro_live_t *l, duro_http_req_t *req);
/* GET /api/live: accepts the WebSocket (503 when DURO_LIVE_WATCHERS are
 * open already). by_subprotocol: the caller was let in by the token
 * offered as a subprotocol, so the answer selects "duro-admin". */
void duro_live_watch(duro_live_t *l, duro_http_req_t *req,
                     int by_subprotocol);

/* The sample of the interval from a to b (for the tests, and the tick). */
void duro_live_diff(const duro_live_totals_t *a, const duro_live_totals_t *b,
                    duro_live_sample_t *out);

#endif
