/*
 * sync.h: setting up the LiveStore sync engine (src/sync/engine.c) for a
 * runtime, as the backend role does at start-up, and the CORS headers of
 * its HTTP transport.
 *
 * The engine's settings (sync.max_message_bytes, sync.cors) and its
 * webhook sender are per runtime: duro_sync_setup puts them in the
 * runtime's slot for the engine (duro_runtime_set_slot), where every
 * sync object finds them when it starts. Sync objects of a runtime that was never set up
 * run with the defaults (1 MiB messages, no CORS, no webhook).
 */
#ifndef DURO_SYNC_SYNC_H
#define DURO_SYNC_SYNC_H

#include "core/config.h"
#include "duro.h"
#include "objects/runtime.h"

typedef struct uv_loop_s uv_loop_t;
typedef struct sync_ctx sync_ctx_t;

/* What the engine counted, for metrics. */
typedef struct duro_sync_stats {
  uint64_t pushes;          /* push requests, WebSocket and HTTP */
  uint64_t pulls;           /* pull requests */
  uint64_t events_appended; /* events of accepted pushes */
  int64_t live_pulls;       /* live pulls open now */
} duro_sync_stats_t;

/* The counters of rt's engine: 0, or DURO_ENOENT when rt has none. */
int duro_sync_stats(const duro_runtime_t *rt, duro_sync_stats_t *out);

/*
 * Sets the engine up for the runtime rt: cfg is borrowed for the life of
 * the process; the webhook sender starts on loop when sync.webhook is set.
 * *out gets the setup's handle, to give to duro_sync_stop. Returns 0, or
 * a negative DURO_E* with a reason in err, leaving *out NULL: DURO_EINVAL
 * (an unusable webhook URL), DURO_EEXIST (rt is already set up) or
 * DURO_ENOSPC (rt has no free slot).
 */
int duro_sync_setup(duro_runtime_t *rt, const duro_config_t *cfg,
                    uv_loop_t *loop, sync_ctx_t **out, char *err,
                    size_t errlen);

/* Takes the settings off the runtime (objects starting later get the
 * defaults) and drops the setup's hold on them: the webhook sender lives
 * on while sync objects that started with it do, and stops with the
 * last. The runtime must not be freed yet. NULL is fine. */
void duro_sync_stop(sync_ctx_t *ctx);

/* The CORS headers of livestore-sync-v0.4.md 3.2 into hs[3] (values point
 * into static text or into req_headers, which may be NULL or empty for
 * "*"). Returns 3, or 0 when CORS is off (or cfg is NULL). */
size_t duro_sync_cors_headers(const duro_config_t *cfg, duro_header_t hs[3],
                              const char *req_headers, size_t req_len);

#endif
