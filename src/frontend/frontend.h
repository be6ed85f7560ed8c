/*
 * frontend.h: the frontend role: the countdown page, its form action, the
 * authorized WebSocket path, and the static assets. It reaches the
 * backend's objects only through the binding protocol (docs/bindings.md),
 * whether the backend runs in another process or in this one (duro dev).
 */
#ifndef DURO_FRONTEND_FRONTEND_H
#define DURO_FRONTEND_FRONTEND_H

#include "core/config.h"
#include "http/client.h"
#include "http/http.h"
#include "net/conn.h"

typedef struct duro_frontend {
  uv_loop_t *loop;
  const duro_config_t *cfg;
  duro_url_t backend;
  const char *internal_secret;  /* DURO_INTERNAL_SECRET or NULL */
  char *authorization;          /* "Bearer <secret>" (owned) or NULL */
  size_t authorization_len;
  char session_secret[128];
  size_t session_secret_len;
  const char *login_secret;     /* DURO_LOGIN_SECRET (JWT HS256) or NULL */
  size_t login_secret_len;
  const char *allowed_origins;  /* DURO_ALLOWED_ORIGINS, comma-separated */
  unsigned session_ttl_s;
  int issue_on_page_load;
  duro_http_opts_t http_opts;
  duro_listener_t listener;
} duro_frontend_t;

/* Checks the configuration (secrets, backend URL) and starts listening on
 * cfg->host:port. backend_tls: what an https backend must present (not
 * owned; NULL for an http one). Returns 0 or a negative code with err
 * filled. */
int duro_frontend_start(duro_frontend_t *f, duro_net_t *net,
                        const duro_config_t *cfg, int port,
                        duro_tls_client_t *backend_tls, char *err,
                        size_t errlen);
void duro_frontend_stop(duro_frontend_t *f);

/* NULL-terminated: what the frontend takes from the environment or
 * .dev.vars, secrets among them (the program's configuration schema,
 * src/cmd/schema.c, lists them). */
extern const char *const duro_frontend_env_vars[];

#endif
