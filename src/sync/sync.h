/*
 * sync.h: process-wide settings of the LiveStore sync classes
 * (src/classes/sync.c), set once by the backend role at startup.
 */
#ifndef DURO_SYNC_SYNC_H
#define DURO_SYNC_SYNC_H

#include "core/config.h"
#include "duro.h"

typedef struct uv_loop_s uv_loop_t;

/* cfg is borrowed for the life of the process. Starts the webhook sender
 * when sync.webhook is set. Returns 0, or DURO_EINVAL with a reason in err
 * (an unusable webhook URL). */
int duro_sync_setup(const duro_config_t *cfg, uv_loop_t *loop, char *err,
                    size_t errlen);

/* The CORS headers of livestore-sync-v0.4.md 3.2 into hs[3] (values point
 * into static text or into req_headers, which may be NULL or empty for
 * "*"). Returns 3, or 0 when CORS is off. */
size_t duro_sync_cors_headers(const duro_config_t *cfg, duro_header_t hs[3],
                              const char *req_headers, size_t req_len);

#endif
