/*
 * live.c: see live.h.
 */
#include "admin/live.h"

#include <string.h>
#include <time.h>

#include "admin/metrics.h"
#include "core/alloc.h"
#include "core/log.h"
#include "ws/frame.h"

#define TICK_MS 1000

/* The totals now. The admin listener's own requests and the live feed's
 * own messages are left out: the inspector should not watch itself. */
static void read_totals(const duro_live_t *l, duro_live_totals_t *t) {
  memset(t, 0, sizeof(*t));
  t->at_ns = uv_hrtime();
  uint64_t counts[DURO_ROUTE_COUNT][6];
  duro_http_response_counts(counts);
  for (int r = 0; r < DURO_ROUTE_COUNT; r++)
    for (int i = 0; i < 6; i++)
      if (r != DURO_ROUTE_ADMIN)
        t->requests += counts[r][i];
  duro_ws_stats_t ws;
  duro_ws_stats(&ws);
  t->messages_in = ws.messages_in;
  t->messages_out = ws.messages_out - l->own_messages;
  if (l->rt) {
    duro_runtime_stats_t st;
    duro_runtime_stats(l->rt, &st);
    t->deliveries = st.deliveries;
    t->commits = st.commits;
    t->commit_latency = st.commit_latency;
  }
  if (l->loop_lag)
    t->loop_lag = *l->loop_lag;
}

static double per_s(uint64_t a, uint64_t b, double seconds) {
  return b > a && seconds > 0 ? (double)(b - a) / seconds : 0;
}

void duro_live_diff(const duro_live_totals_t *a, const duro_live_totals_t *b,
                    duro_live_sample_t *out) {
  double s = b->at_ns > a->at_ns ? (double)(b->at_ns - a->at_ns) / 1e9 : 0;
  out->requests_s = per_s(a->requests, b->requests, s);
  out->messages_in_s = per_s(a->messages_in, b->messages_in, s);
  out->messages_out_s = per_s(a->messages_out, b->messages_out, s);
  out->deliveries_s = per_s(a->deliveries, b->deliveries, s);
  out->commits_s = per_s(a->commits, b->commits, s);
  out->commit_p99_ms =
      duro_histo_quantile(&b->commit_latency, &a->commit_latency, 0.99) * 1e3;
  out->loop_lag_p99_ms =
      duro_histo_quantile(&b->loop_lag, &a->loop_lag, 0.99) * 1e3;
}

static void write_sample(duro_buf_t *b, const duro_live_sample_t *s) {
  duro_buf_printf(
      b,
      "{\"t_ms\":%llu,\"connections\":%llu,\"websockets\":%llu,"
      "\"objects\":%llu,\"rss_bytes\":%llu,\"requests_per_s\":%.1f,"
      "\"messages_in_per_s\":%.1f,\"messages_out_per_s\":%.1f,"
      "\"deliveries_per_s\":%.1f,\"commits_per_s\":%.1f,"
      "\"commit_p99_ms\":%.3f,\"loop_lag_p99_ms\":%.3f}",
      (unsigned long long)s->t_ms, (unsigned long long)s->connections,
      (unsigned long long)s->websockets, (unsigned long long)s->objects,
      (unsigned long long)s->rss_bytes, s->requests_s, s->messages_in_s,
      s->messages_out_s, s->deliveries_s, s->commits_s, s->commit_p99_ms,
      s->loop_lag_p99_ms);
}

/* The kept samples, oldest first, as a JSON array. */
static void write_history(duro_buf_t *b, const duro_live_t *l) {
  duro_buf_append(b, "[", 1);
  for (size_t i = 0; i < l->count; i++) {
    if (i)
      duro_buf_append(b, ",", 1);
    write_sample(b, &l->ring[(l->head + i) % DURO_LIVE_SAMPLES]);
  }
  duro_buf_append(b, "]", 1);
}

static void send_text(duro_live_t *l, duro_conn_t *only, const duro_buf_t *b) {
  duro_chunk_t *frame = duro_ws_frame_chunk(1 /* text */, b->data, b->len);
  for (size_t i = 0; i < l->nwatchers; i++) {
    if (only && l->watchers[i] != only)
      continue;
    if (duro_ws_send_frame(l->watchers[i], frame) == 0)
      l->own_messages++;
  }
  duro_chunk_unref(frame);
}

static void on_tick(uv_timer_t *t) {
  duro_live_t *l = t->data;
  duro_live_totals_t now;
  read_totals(l, &now);
  duro_live_sample_t s;
  memset(&s, 0, sizeof(s));
  duro_live_diff(&l->last, &now, &s);
  l->last = now;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s.t_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  s.connections = l->net->nconns;
  s.rss_bytes = duro_metrics_rss_bytes();
  if (l->rt) {
    duro_runtime_stats_t st;
    duro_runtime_stats(l->rt, &st);
    s.objects = st.live_objects;
    s.websockets = st.sockets;
  }
  if (l->count == DURO_LIVE_SAMPLES) {
    l->ring[l->head] = s;
    l->head = (l->head + 1) % DURO_LIVE_SAMPLES;
  } else {
    l->ring[(l->head + l->count++) % DURO_LIVE_SAMPLES] = s;
  }
  if (!l->nwatchers)
    return;
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_append(&b, "{\"sample\":", 10);
  write_sample(&b, &s);
  duro_buf_append(&b, "}", 1);
  send_text(l, NULL, &b);
  duro_buf_free(&b);
}

void duro_live_start(duro_live_t *l, uv_loop_t *loop, const duro_net_t *net,
                     const duro_runtime_t *rt, const duro_histo_t *loop_lag) {
  memset(l, 0, sizeof(*l));
  l->net = net;
  l->rt = rt;
  l->loop_lag = loop_lag;
  l->ws_opts.max_message = 1024; /* the page sends nothing */
  l->ws_opts.ping_interval_s = 30;
  l->ws_opts.pong_timeout_s = 30;
  read_totals(l, &l->last);
  uv_timer_init(loop, &l->tick);
  l->tick.data = l;
  uv_unref((uv_handle_t *)&l->tick);
  uv_timer_start(&l->tick, on_tick, TICK_MS, TICK_MS);
  l->started = 1;
}

void duro_live_stop(duro_live_t *l) {
  if (!l->started)
    return;
  for (size_t i = 0; i < l->nwatchers; i++)
    duro_ws_close(l->watchers[i], 1001, "duro is shutting down");
  uv_timer_stop(&l->tick);
  uv_close((uv_handle_t *)&l->tick, NULL);
  l->started = 0;
}

void duro_live_overview(duro_live_t *l, duro_http_req_t *req) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_printf(&b, "{\"interval_ms\":%d,\"version\":\"%s\",\"samples\":",
                  TICK_MS, DURO_VERSION);
  write_history(&b, l);
  duro_buf_append(&b, "}", 1);
  duro_header_t ct[1] = {{"Content-Type", 12, "application/json", 16}};
  duro_http_respond(req, 200, ct, 1, (const char *)b.data, b.len);
  duro_buf_free(&b);
}

/* ---- the watchers' sockets ---------------------------------------------- */

static void on_watcher_message(duro_conn_t *c, int opcode, const uint8_t *data,
                               size_t len, void *ud) {
  /* the page only listens */
}

static void on_watcher_close(duro_conn_t *c, int code, const char *reason,
                             size_t reason_len, void *ud) {
  duro_live_t *l = ud;
  for (size_t i = 0; i < l->nwatchers; i++)
    if (l->watchers[i] == c) {
      l->watchers[i] = l->watchers[--l->nwatchers];
      duro_conn_unref(c);
      return;
    }
}

static const duro_ws_handler_t watcher_handler = {
    .on_message = on_watcher_message,
    .on_close = on_watcher_close,
};

void duro_live_watch(duro_live_t *l, duro_http_req_t *req,
                     int by_subprotocol) {
  if (l->nwatchers == DURO_LIVE_WATCHERS) {
    duro_http_respond_text(req, 503, NULL,
                           "Service Unavailable: too many inspector sockets "
                           "open");
    return;
  }
  duro_header_t proto[1] = {{"Sec-WebSocket-Protocol", 22, "duro-admin", 10}};
  duro_conn_t *c = duro_ws_accept(req, &watcher_handler, l, &l->ws_opts, proto,
                                  by_subprotocol ? 1 : 0);
  if (!c)
    return;
  l->watchers[l->nwatchers++] = duro_conn_ref(c);
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_printf(&b, "{\"interval_ms\":%d,\"version\":\"%s\",\"history\":",
                  TICK_MS, DURO_VERSION);
  write_history(&b, l);
  duro_buf_append(&b, "}", 1);
  send_text(l, c, &b);
  duro_buf_free(&b);
}
