/*
 * admin.h: the admin listener, for operators, on a port of its own, never
 * on the public ones: GET /metrics (Prometheus text format 0.0.4,
 * admin/metrics.h), the JSON API (admin/api.h), the overview's samples
 * (admin/live.h) and the inspector page that shows them all (inspector/,
 * embedded in the binary: GET /).
 *
 * Who may call it: with DURO_ADMIN_TOKEN set (environment or .dev.vars),
 * only requests with "Authorization: Bearer <token>"; without one, only
 * loopback callers, and production refuses to start the listener at all
 * (duro_admin_start fails with a reason).
 *
 * Where it listens: --admin-port N (0: any free port, logged), else
 * "admin": {"port": N} in duro.jsonc (0: off), else 8788 for `duro dev`,
 * else nowhere (duro_admin_port).
 */
#ifndef DURO_ADMIN_ADMIN_H
#define DURO_ADMIN_ADMIN_H

#include "admin/live.h"
#include "core/config.h"
#include "core/histo.h"
#include "core/options.h"
#include "http/http.h"
#include "net/conn.h"
#include "net/listener.h"
#include "objects/runtime.h"

#define DURO_ADMIN_DEV_PORT 8788

/* The "admin" section of duro.jsonc. */
typedef struct duro_admin_config {
  unsigned port; /* 0: no admin listener (unless --admin-port or dev) */
} duro_admin_config_t;

extern const duro_config_section_t duro_admin_section;
/* DURO_ADMIN_TOKEN, read from the environment and .dev.vars. */
extern const char *const duro_admin_env_vars[];

/* The port to listen on for cfg (see above), or -1 for none; *asked is 1
 * when the flag or the file asked for it, 0 when it is dev's default. */
int duro_admin_port(const duro_config_t *cfg, int *asked);

typedef struct duro_admin {
  duro_net_t *net;
  duro_runtime_t *rt; /* NULL in a frontend-only process */
  duro_http_opts_t http_opts;
  duro_listener_t listener;
  const char *token; /* DURO_ADMIN_TOKEN, or NULL */
  size_t token_len;
  uv_timer_t lag_probe; /* every 100 ms: how late it fires */
  uint64_t lag_due_ns;
  duro_histo_t loop_lag;
  duro_live_t live; /* the inspector's overview */
} duro_admin_t;

/* Starts listening on cfg->host:port. Fails (err gets the reason) on a
 * bad token, in production without a token, or when the port is taken. */
int duro_admin_start(duro_admin_t *a, duro_net_t *net, duro_runtime_t *rt,
                     const duro_config_t *cfg, int port, char *err,
                     size_t errlen);
void duro_admin_stop(duro_admin_t *a);

#endif
