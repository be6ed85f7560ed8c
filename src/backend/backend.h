/*
 * backend.h: the backend role: the seed's backend worker routes and the
 * /_objects binding protocol, served on one listener.
 */
#ifndef DURO_BACKEND_BACKEND_H
#define DURO_BACKEND_BACKEND_H

#include "core/config.h"
#include "http/http.h"
#include "net/conn.h"
#include "objects/runtime.h"
#include "sync/auth.h"
#include "sync/sync.h"

typedef struct duro_backend {
  duro_runtime_t *rt;
  const duro_config_t *cfg;
  duro_http_opts_t http_opts;
  duro_listener_t listener;
  const char *secret; /* DURO_INTERNAL_SECRET, or NULL */
  size_t secret_len;
  int sync_bound;     /* LIVESTORE_SYNC is a bound namespace */
  sync_auth_t sync_auth;
  sync_ctx_t *sync;   /* the sync engine's setup for rt (sync/sync.h) */
  struct duro_links *links; /* cluster mode: the node links (link.h) */
} duro_backend_t;

/* Starts listening on cfg->host:port. err gets a reason on failure. */
int duro_backend_start(duro_backend_t *b, duro_net_t *net, duro_runtime_t *rt,
                       const duro_config_t *cfg, int port, char *err,
                       size_t errlen);
void duro_backend_stop(duro_backend_t *b);

/* Validates a room id: 1..64 characters of [A-Za-z0-9_-]. */
int duro_room_id_valid(const char *id, size_t len);

/* Percent-decodes src into dst (room for len bytes + NUL). Returns the
 * decoded length, or DURO_EINVAL for a bad escape or a NUL byte. */
long duro_url_decode(const char *src, size_t len, char *dst);

#endif
