/*
 * webhook.c: see webhook.h.
 */
#include "sync/webhook.h"

#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "http/client.h"
#include "sync/proto.h"

#define WEBHOOK_TIMEOUT_MS 10000
#define WEBHOOK_BACKOFF_MS 250

typedef struct hook_item {
  duro_list_t node;
  char *body;
  size_t len;
  unsigned tries;
} hook_item_t;

struct sync_webhook {
  uv_loop_t *loop;
  duro_url_t url;
  char path[300];
  duro_list_t queue;
  size_t queued;
  uint64_t dropped;
  hook_item_t *inflight;
  uv_timer_t retry;
  int closing;
};

static void pump(sync_webhook_t *w);

static void item_free(hook_item_t *it) {
  duro_free(it->body);
  duro_free(it);
}

static void on_retry(uv_timer_t *t) { pump(t->data); }

static void on_response(const duro_http_client_res_t *res, void *ud) {
  sync_webhook_t *w = ud;
  hook_item_t *it = w->inflight;
  w->inflight = NULL;
  if (w->closing) {
    item_free(it);
    return;
  }
  if (res->status >= 200 && res->status < 300) {
    item_free(it);
    pump(w);
    return;
  }
  if (++it->tries >= WEBHOOK_TRIES) {
    duro_log_warn("sync webhook: dropped a batch after %u attempts (last: %s)",
                  it->tries,
                  res->status ? "HTTP error status" : res->error ? res->error
                                                                 : "failed");
    item_free(it);
    pump(w);
    return;
  }
  /* Back to the head of the queue; retried after the backoff. */
  duro_list_t *head = &w->queue;
  it->node.next = head->next;
  it->node.prev = head;
  head->next->prev = &it->node;
  head->next = &it->node;
  w->queued++;
  uv_timer_start(&w->retry, on_retry,
                 (uint64_t)WEBHOOK_BACKOFF_MS << (it->tries - 1), 0);
}

static void pump(sync_webhook_t *w) {
  if (w->inflight || duro_list_empty(&w->queue) ||
      uv_is_active((uv_handle_t *)&w->retry))
    return;
  hook_item_t *it = DURO_CONTAINER_OF(w->queue.next, hook_item_t, node);
  duro_list_remove(&it->node);
  w->queued--;
  w->inflight = it;
  duro_header_t ct = {"Content-Type", 12, "application/json", 16};
  duro_http_client_request(w->loop, &w->url, "POST", w->path, &ct, 1,
                           it->body, it->len, WEBHOOK_TIMEOUT_MS, 64 * 1024,
                           on_response, w);
}

sync_webhook_t *duro_sync_webhook_new(uv_loop_t *loop, const char *url,
                                      char *err, size_t errlen) {
  sync_webhook_t *w = duro_calloc(1, sizeof(*w));
  if (duro_url_parse(url, &w->url, err, errlen) < 0) {
    duro_free(w);
    return NULL;
  }
  /* The whole URL path is the request path (the client would prefix
   * base_path to it). */
  if (duro_fmt(w->path, sizeof(w->path), "%s",
               *w->url.base_path ? w->url.base_path : "/") < 0) {
    duro_free(w);
    duro_err_fmt(DURO_EINVAL, err, errlen, "'%s': path too long", url);
    return NULL;
  }
  w->url.base_path[0] = '\0';
  w->loop = loop;
  duro_list_init(&w->queue);
  uv_timer_init(loop, &w->retry);
  w->retry.data = w;
  uv_unref((uv_handle_t *)&w->retry);
  return w;
}

void duro_sync_webhook_post(sync_webhook_t *w, const char *store_id,
                            size_t store_id_len, const char *batch,
                            size_t batch_len, int64_t head,
                            const char *created_at) {
  if (!w || w->closing)
    return;
  if (w->queued >= WEBHOOK_MAX_QUEUE) {
    hook_item_t *old = DURO_CONTAINER_OF(w->queue.next, hook_item_t, node);
    duro_list_remove(&old->node);
    w->queued--;
    item_free(old);
    if (w->dropped++ % 1000 == 0)
      duro_log_warn("sync webhook: receiver too slow, dropping old batches "
                    "(%llu so far)",
                    (unsigned long long)w->dropped);
  }
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_append_str(&b, "{\"storeId\":");
  duro_sync_json_append_string(&b, store_id, store_id_len);
  duro_buf_printf(&b, ",\"head\":%lld,\"createdAt\":\"%s\",\"batch\":",
                  (long long)head, created_at);
  duro_buf_append(&b, batch, batch_len);
  duro_buf_append(&b, "}", 1);
  hook_item_t *it = duro_calloc(1, sizeof(*it));
  it->body = (char *)b.data;
  it->len = b.len;
  duro_list_insert_tail(&w->queue, &it->node);
  w->queued++;
  pump(w);
}

static void on_timer_closed(uv_handle_t *h) {
  sync_webhook_t *w = h->data;
  if (!w->inflight)
    duro_free(w);
}

void duro_sync_webhook_free(sync_webhook_t *w) {
  if (!w)
    return;
  w->closing = 1;
  while (!duro_list_empty(&w->queue)) {
    hook_item_t *it = DURO_CONTAINER_OF(w->queue.next, hook_item_t, node);
    duro_list_remove(&it->node);
    item_free(it);
  }
  uv_close((uv_handle_t *)&w->retry, on_timer_closed);
}
