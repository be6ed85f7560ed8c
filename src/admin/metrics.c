/*
 * metrics.c: see metrics.h.
 */
#include "admin/metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "backend/link.h"
#include "core/str.h"
#include "http/http.h"
#include "sync/sync.h"
#include "ws/wsconn.h"
#include "store/store.h"

typedef enum { COUNTER, GAUGE, HISTOGRAM } kind_t;

/* A family's # HELP and # TYPE lines. */
static void head(duro_buf_t *b, const char *name, kind_t kind,
                 const char *help) {
  static const char *const types[] = {"counter", "gauge", "histogram"};
  duro_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                  types[kind]);
}

/* One sample of a family with one label. */
static void labelled(duro_buf_t *b, const char *name, const char *label,
                     const char *value, uint64_t n) {
  duro_buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, value,
                  (unsigned long long)n);
}

/* One family with a single unlabelled sample. */
static void family(duro_buf_t *b, const char *name, kind_t kind,
                   const char *help, uint64_t value) {
  head(b, name, kind, help);
  duro_buf_printf(b, "%s %llu\n", name, (unsigned long long)value);
}

/* A histogram's bucket lines, cumulative, through +Inf, from per-bucket
 * counts (n bounds, then the +Inf bucket's count at counts[n] when
 * with_inf). Returns the total. */
static uint64_t buckets(duro_buf_t *b, const char *name, const double *bounds,
                        const uint64_t *counts, size_t n, int with_inf) {
  uint64_t cum = 0;
  for (size_t i = 0; i < n; i++) {
    cum += counts[i];
    duro_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                    (unsigned long long)cum);
  }
  if (with_inf)
    cum += counts[n];
  duro_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                  (unsigned long long)cum);
  return cum;
}

/* One histogram family in seconds: cumulative buckets, +Inf, sum, count. */
static void histogram(duro_buf_t *b, const char *name, const char *help,
                      const duro_histo_t *h) {
  head(b, name, HISTOGRAM, help);
  buckets(b, name, duro_histo_bounds, h->counts, DURO_HISTO_BUCKETS, 1);
  duro_buf_printf(b, "%s_sum %.9f\n%s_count %llu\n", name,
                  (double)h->sum_ns / 1e9, name, (unsigned long long)h->count);
}

/* Resident set size from /proc/self/statm (its second field, in pages);
 * 0 if unreadable. */
uint64_t duro_metrics_rss_bytes(void) {
  char text[128];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  const char *p = memchr(text, ' ', (size_t)n);
  if (!p)
    return 0;
  p++;
  const char *end = memchr(p, ' ', (size_t)(text + n - p));
  uint64_t pages;
  if (!end || duro_parse_u64(p, (size_t)(end - p), UINT64_MAX, &pages) < 0)
    return 0;
  return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Open descriptors: the entries of /proc/self/fd, less the one reading it. */
static uint64_t open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  uint64_t n = 0;
  if (!d)
    return 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n ? n - 1 : 0;
}

void duro_metrics_write(duro_buf_t *b, const duro_net_t *net,
                        const duro_runtime_t *rt, const duro_histo_t *loop_lag) {
  head(b, "duro_build_info", GAUGE, "The running duro's version.");
  labelled(b, "duro_build_info", "version", DURO_VERSION, 1);
  family(b, "duro_process_resident_memory_bytes", GAUGE,
         "Resident memory of the process.", duro_metrics_rss_bytes());
  family(b, "duro_process_open_fds", GAUGE, "Open file descriptors.",
         open_fds());
  if (loop_lag)
    histogram(b, "duro_event_loop_lag_seconds",
              "How late a 100 ms timer fires: the loop's lag.", loop_lag);

  /* the network (net/conn.h) */
  family(b, "duro_connections_open", GAUGE,
         "TCP connections open on every listener.", net->nconns);
  family(b, "duro_connections_accepted_total", COUNTER,
         "TCP connections accepted.", net->accepts);
  head(b, "duro_connections_refused_total", COUNTER,
       "Connections refused, by reason.");
  labelled(b, "duro_connections_refused_total", "reason", "rate",
           net->rate_limited);
  labelled(b, "duro_connections_refused_total", "reason", "limit",
           net->over_limit);
  family(b, "duro_websocket_rate_limited_total", COUNTER,
         "WebSockets closed (1008) for sending over the per-client message "
         "rate.",
         net->message_rate_limited);
  family(b, "duro_accept_pauses_total", COUNTER,
         "Times accepting paused for want of descriptors (new connections "
         "wait in the kernel's backlog meanwhile).",
         net->accept_pauses);
  family(b, "duro_net_reads_total", COUNTER, "Reads that returned data.",
         net->reads);
  family(b, "duro_net_sends_total", COUNTER,
         "Sends to sockets (a writev, or one send of an io_uring batch).",
         net->writes);
  family(b, "duro_net_io_uring_sends_total", COUNTER,
         "Sends submitted through io_uring.", net->batched_sends);
  family(b, "duro_net_partial_sends_total", COUNTER,
         "Sends the kernel took only part of (the rest waited for the "
         "socket to drain).",
         net->partial_writes);
  family(b, "duro_net_sent_bytes_total", COUNTER, "Bytes sent to sockets.",
         net->bytes_written);
  family(b, "duro_slow_readers_dropped_total", COUNTER,
         "Connections closed because their send queue passed its bound.",
         net->overflows);

  /* HTTP (http/http.h) and WebSockets (ws/wsconn.h) */
  uint64_t counts[DURO_ROUTE_COUNT][6];
  duro_http_response_counts(counts);
  head(b, "duro_http_requests_total", COUNTER,
       "HTTP requests answered (WebSocket 101s included), by route kind and "
       "status class; a pair appears once it has counted one.");
  for (int r = 0; r < DURO_ROUTE_COUNT; r++)
    for (int i = 1; i <= 5; i++)
      if (counts[r][i])
        duro_buf_printf(b,
                        "duro_http_requests_total{route=\"%s\",class="
                        "\"%dxx\"} %llu\n",
                        duro_http_route_name(r), i,
                        (unsigned long long)counts[r][i]);
  duro_ws_stats_t ws;
  duro_ws_stats(&ws);
  family(b, "duro_websocket_messages_received_total", COUNTER,
         "WebSocket data messages received (after reassembly).",
         ws.messages_in);
  family(b, "duro_websocket_received_bytes_total", COUNTER,
         "Payload bytes of those messages.", ws.bytes_in);
  family(b, "duro_websocket_messages_sent_total", COUNTER,
         "WebSocket data messages queued to sockets (a broadcast counts "
         "once per recipient).",
         ws.messages_out);
  family(b, "duro_websocket_sent_bytes_total", COUNTER,
         "Frame bytes of those messages (headers included).", ws.bytes_out);
  head(b, "duro_websocket_deflated_messages_total", COUNTER,
       "Messages compressed with permessage-deflate, received (inflated) "
       "and sent.");
  labelled(b, "duro_websocket_deflated_messages_total", "direction", "in",
           ws.deflated_in);
  labelled(b, "duro_websocket_deflated_messages_total", "direction", "out",
           ws.deflated_out);
  if (!rt)
    return;

  /* the runtime (objects/runtime.h) and its store (store/store.h) */
  duro_runtime_stats_t st;
  duro_runtime_stats(rt, &st);
  family(b, "duro_objects_active", GAUGE, "Object instances in memory.",
         st.live_objects);
  duro_ns_info_t ns[64];
  size_t nns = duro_runtime_namespaces(rt, ns, 64);
  head(b, "duro_websockets_open", GAUGE,
       "WebSockets accepted by objects and open, by namespace.");
  for (size_t i = 0; i < nns && i < 64; i++)
    labelled(b, "duro_websockets_open", "namespace", ns[i].binding,
             ns[i].sockets);
  family(b, "duro_object_events_total", COUNTER,
         "Events run by objects (requests, messages, alarms, ...).",
         st.events);
  family(b, "duro_object_evictions_total", COUNTER,
         "Idle instances evicted from memory.", st.evictions);
  family(b, "duro_object_activations_total", COUNTER,
         "Instances created in memory (first use, or after an eviction).",
         st.activations);
  family(b, "duro_object_handler_errors_total", COUNTER,
         "Events whose handler failed (the instance is reset).",
         st.handler_errors);
  family(b, "duro_broadcasts_total", COUNTER,
         "Broadcasts released to an object's sockets.", st.broadcasts);
  family(b, "duro_deliveries_total", COUNTER,
         "Messages of broadcasts queued to a socket (one per recipient).",
         st.deliveries);
  family(b, "duro_alarms_pending", GAUGE, "Alarms set and not yet fired.",
         st.pending_alarms);
  family(b, "duro_alarms_fired_total", COUNTER, "Alarm handlers run.",
         st.alarms_fired);
  family(b, "duro_alarms_retried_total", COUNTER,
         "Failed alarms queued again with backoff.", st.alarms_retried);
  family(b, "duro_alarms_dropped_total", COUNTER,
         "Alarms dropped after alarm_max_retries failures.",
         st.alarms_dropped);
  family(b, "duro_storage_commits_total", COUNTER,
         "Event write batches committed by objects.", st.commits);
  family(b, "duro_storage_commit_failures_total", COUNTER,
         "Commits that failed (their held output is dropped).",
         st.commit_failures);
  histogram(b, "duro_storage_commit_duration_seconds",
            "From an event's commit to its writes being durable.",
            &st.commit_latency);
  family(b, "duro_storage_load_failures_total", COUNTER,
         "Storage loads that failed (each is retried).", st.load_failures);
  if (duro_runtime_node(rt)) { /* cluster mode (docs/cluster.md) */
    family(b, "duro_cluster_fenced", GAUGE,
           "1 while this node serves nothing (joining, or its lease may "
           "have lapsed).",
           (uint64_t)duro_runtime_fenced(rt));
    family(b, "duro_cluster_claims_total", COUNTER,
           "Objects this node claimed.", st.claims);
    family(b, "duro_cluster_misplaced_total", COUNTER,
           "Claims that found another live owner (the request was sent "
           "there).",
           st.misplaced);
    family(b, "duro_cluster_objects_lost_total", COUNTER,
           "Instances given up: a fenced commit, or this node fenced "
           "itself.",
           st.objects_lost);
    duro_link_stats_t ls;
    duro_links_stats(&ls);
    family(b, "duro_cluster_links_total", COUNTER,
           "Node links: accepted from entry nodes, and opened to owners.",
           ls.links_accepted + ls.links_opened);
    family(b, "duro_cluster_carried_total", COUNTER,
           "Client connections carried over node links.", ls.carried);
    family(b, "duro_cluster_link_data_total", COUNTER,
           "Link messages this owner sent for one carried socket.",
           ls.data_sent);
    family(b, "duro_cluster_link_casts_total", COUNTER,
           "Link messages this owner sent for many carried sockets of one "
           "entry node (a broadcast: one per entry node).",
           ls.casts_sent);
    family(b, "duro_cluster_link_cast_recipients_total", COUNTER,
           "Carried sockets named by those messages.", ls.cast_recipients);
    family(b, "duro_cluster_link_relayed_total", COUNTER,
           "Link messages this entry node handed to its local clients "
           "(one per recipient).",
           ls.relayed);
  }
  uint64_t transactions, batches;
  uint64_t sizes[DURO_STORE_GROUP_BUCKETS];
  duro_store_group_sizes(duro_runtime_store(rt), sizes, &transactions,
                         &batches);
  family(b, "duro_storage_transactions_total", COUNTER,
         "Storage transactions committed (a group commit is one).",
         transactions);
  family(b, "duro_storage_batches_total", COUNTER,
         "Write batches committed inside those transactions.", batches);
  head(b, "duro_storage_batches_per_transaction", HISTOGRAM,
       "Write batches per storage transaction: how much group commit "
       "shares a transaction.");
  double bounds[DURO_STORE_GROUP_BUCKETS];
  for (size_t i = 0; i < DURO_STORE_GROUP_BUCKETS; i++)
    bounds[i] = duro_store_group_bounds[i];
  buckets(b, "duro_storage_batches_per_transaction", bounds, sizes,
          DURO_STORE_GROUP_BUCKETS, 0);
  duro_buf_printf(b,
                  "duro_storage_batches_per_transaction_sum %llu\n"
                  "duro_storage_batches_per_transaction_count %llu\n",
                  (unsigned long long)batches,
                  (unsigned long long)transactions);

  /* LiveStore sync (sync/sync.h), when this runtime serves it */
  duro_sync_stats_t ss;
  if (duro_sync_stats(rt, &ss) == 0) {
    family(b, "duro_livestore_pushes_total", COUNTER,
           "LiveStore push requests (WebSocket and HTTP).", ss.pushes);
    family(b, "duro_livestore_pulls_total", COUNTER, "LiveStore pull requests.",
           ss.pulls);
    family(b, "duro_livestore_events_appended_total", COUNTER,
           "Events of accepted pushes.", ss.events_appended);
    family(b, "duro_livestore_live_pulls", GAUGE,
           "Live pulls open: the subscribers that get new events.",
           ss.live_pulls > 0 ? (uint64_t)ss.live_pulls : 0);
  }
}
