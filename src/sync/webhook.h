/*
 * webhook.h: POST every accepted LiveStore batch to a configured URL
 * (sync.webhook), for users who observe pushes without writing C.
 *
 * Best effort and never in the way of a push: the batch is queued after
 * the push was acknowledged; one POST is in flight at a time (so batches
 * arrive in the order they were stored, per process); a failure (no
 * connection, timeout, a status outside 2xx) is retried with backoff
 * (0.25 s doubling, WEBHOOK_TRIES attempts), then dropped with a warning.
 * The queue is bounded: past WEBHOOK_MAX_QUEUE batches the oldest are
 * dropped (counted and logged), so a dead receiver costs bounded memory.
 *
 * Body (application/json):
 *   {"storeId":"...","head":<seqNum of the last event>,
 *    "createdAt":"<ISO time>","batch":[<events as pushed>]}
 */
#ifndef DURO_SYNC_WEBHOOK_H
#define DURO_SYNC_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define WEBHOOK_TRIES 5
#define WEBHOOK_MAX_QUEUE 10000

typedef struct sync_webhook sync_webhook_t;

/* Returns NULL with a reason in err when url is not a usable http:// URL. */
sync_webhook_t *duro_sync_webhook_new(uv_loop_t *loop, const char *url,
                                      char *err, size_t errlen);
/* Queues one batch (everything is copied). store_id is plain text, batch
 * the JSON array text, created_at ASCII. */
void duro_sync_webhook_post(sync_webhook_t *w, const char *store_id,
                            size_t store_id_len, const char *batch,
                            size_t batch_len, int64_t head,
                            const char *created_at);
/* Stops retrying and frees what is queued (an in-flight POST finishes on
 * its own and is then freed). */
void duro_sync_webhook_free(sync_webhook_t *w);

#endif
