/*
 * admin.c: see admin.h. Routes:
 *   GET /                 the inspector page (inspector/index.html)
 *   GET /<file>           the inspector's other files (inspector/)
 *   GET /metrics          Prometheus text format 0.0.4 (admin/metrics.h)
 *   GET /api/overview     the last five minutes of samples (admin/live.h)
 *   GET /api/live         a WebSocket of samples, one a second
 *   /api/...              the JSON API (admin/api.h)
 *   anything else         404 (405 for a known route with another method)
 */
#include "admin/admin.h"

#include <stddef.h>
#include <string.h>

#include "admin/api.h"
#include "admin/live.h"
#include "admin/metrics.h"
#include "core/b64url.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "http/asset.h"
#include "http/bearer.h"
#include "ws/wsconn.h"

extern const duro_asset_t duro_inspector_assets[];
extern const size_t duro_inspector_assets_count;

/* ---- the "admin" section ------------------------------------------------- */

static const duro_option_t rows[] = {
    DURO_ROW("port", DURO_OPT_UINT, 0, 0, 65535, NULL,
             offsetof(duro_admin_config_t, port),
             "the admin listener's port, /metrics (0: off; --admin-port "
             "overrides, and `duro dev` opens 8788)"),
};

const duro_config_section_t duro_admin_section = {
    .name = "admin",
    .size = sizeof(duro_admin_config_t),
    .rows = rows,
    .nrows = sizeof(rows) / sizeof(rows[0]),
    .help_title = "settings of the \"admin\" section (the admin listener, "
                  "docs/operations.md)",
    .help_footer = "  DURO_ADMIN_TOKEN (environment or .dev.vars): the bearer "
                   "token the admin listener\n  requires; production refuses "
                   "to open it without one.\n",
    .list_unknown = 1,
};

const char *const duro_admin_env_vars[] = {"DURO_ADMIN_TOKEN", NULL};

int duro_admin_port(const duro_config_t *cfg, int *asked) {
  const duro_admin_config_t *ac = duro_config_section(cfg, &duro_admin_section);
  *asked = 1;
  if (cfg->admin_port >= 0)
    return cfg->admin_port;
  if (ac && ac->port)
    return (int)ac->port;
  *asked = 0;
  return strcmp(cfg->role, "dev") == 0 ? DURO_ADMIN_DEV_PORT : -1;
}

/* ---- serving ------------------------------------------------------------- */

/* The inspector's files carry no data: anyone who reaches the port may
 * load them (the page then asks for the token the API needs). */
static const duro_asset_t *inspector_file(const duro_http_req_t *req) {
  if (duro_http_path_is(req, "/"))
    return duro_asset_find(duro_inspector_assets, duro_inspector_assets_count,
                           "/index.html", 11);
  if (duro_http_path_is(req, "/index.html")) /* one address for the page */
    return NULL;
  return duro_asset_find(duro_inspector_assets, duro_inspector_assets_count,
                         req->path, req->path_len);
}

#define WS_TOKEN_PREFIX "bearer."

/* A browser cannot set Authorization on a WebSocket, so the inspector
 * offers the token as a subprotocol, "bearer.<base64url of the token>",
 * beside "duro-admin" (the way Kubernetes' API server takes one). 1 when
 * one offered value carries the token. */
static int ws_token_allows(const duro_http_req_t *req, const duro_admin_t *a) {
  const duro_header_t *h = duro_http_header(req, "Sec-WebSocket-Protocol");
  if (!h || !a->token)
    return 0;
  size_t pl = sizeof(WS_TOKEN_PREFIX) - 1;
  const char *p = h->value, *end = h->value + h->value_len;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ','))
      p++;
    const char *q = p;
    while (q < end && *q != ',' && *q != ' ')
      q++;
    if ((size_t)(q - p) > pl && memcmp(p, WS_TOKEN_PREFIX, pl) == 0 &&
        (size_t)(q - p) - pl <= 2 * DURO_BEARER_SECRET_MAX) {
      char value[7 + 2 * DURO_BEARER_SECRET_MAX];
      memcpy(value, "Bearer ", 7);
      long n = duro_b64url_decode(p + pl, (size_t)(q - p) - pl,
                                  (uint8_t *)value + 7, sizeof(value) - 7);
      if (n > 0 && duro_bearer_matches(value, 7 + (size_t)n, a->token,
                                       a->token_len))
        return 1;
    }
    p = q;
  }
  return 0;
}

static void handle(duro_http_req_t *req, void *data) {
  duro_admin_t *a = data;
  req->route = DURO_ROUTE_ADMIN;
  const duro_asset_t *asset = inspector_file(req);
  if (asset) {
    /* no-cache: a new duro's inspector is seen at once (the ETag saves
     * the bytes when nothing changed) */
    duro_asset_serve(req, asset, "no-cache");
    return;
  }
  int live = duro_http_path_is(req, "/api/live");
  if (live && duro_ws_is_upgrade(req) && ws_token_allows(req, a)) {
    duro_live_watch(&a->live, req, 1);
    return;
  }
  if (!duro_bearer_allows(req, a->token, a->token_len)) {
    duro_header_t hs[1] = {
        {"WWW-Authenticate", 16, "Bearer realm=\"duro-admin\"", 25}};
    static const char msg[] =
        "Unauthorized: the admin listener needs 'Authorization: Bearer "
        "<DURO_ADMIN_TOKEN>' (without a token: loopback callers only)\n";
    duro_http_respond(req, 401, hs, 1, msg, sizeof(msg) - 1);
    return;
  }
  if (live) {
    if (!duro_ws_is_upgrade(req))
      duro_http_respond_text(req, 426, NULL,
                             "Upgrade Required: /api/live is a WebSocket");
    else
      duro_live_watch(&a->live, req, 0);
    return;
  }
  if (duro_http_path_is(req, "/api/overview") && strcmp(req->method, "GET") == 0) {
    duro_live_overview(&a->live, req);
    return;
  }
  if (req->path_len > 5 && memcmp(req->path, "/api/", 5) == 0) {
    duro_admin_api(a->rt, req);
    return;
  }
  if (!duro_http_path_is(req, "/metrics")) {
    duro_http_respond_text(req, 404, NULL,
                           "Not Found: the admin listener serves / (the "
                           "inspector), /metrics and /api/\n");
    return;
  }
  if (strcmp(req->method, "GET") != 0) {
    duro_header_t allow[1] = {{"Allow", 5, "GET", 3}};
    static const char msg[] = "Method Not Allowed: GET /metrics\n";
    duro_http_respond(req, 405, allow, 1, msg, sizeof(msg) - 1);
    return;
  }
  duro_buf_t body = DURO_BUF_INIT;
  duro_metrics_write(&body, a->net, a->rt, &a->loop_lag);
  duro_header_t ct[1] = {
      {"Content-Type", 12, "text/plain; version=0.0.4; charset=utf-8", 40}};
  duro_http_respond(req, 200, ct, 1, (const char *)body.data, body.len);
  duro_buf_free(&body);
}

#define LAG_PROBE_MS 100

/* The probe's lateness is the loop's lag: time spent in callbacks (or
 * kept from running) beyond what the timer asked for. */
static void on_lag_probe(uv_timer_t *t) {
  duro_admin_t *a = t->data;
  uint64_t now = uv_hrtime();
  duro_histo_add(&a->loop_lag, now > a->lag_due_ns ? now - a->lag_due_ns : 0);
  a->lag_due_ns = now + LAG_PROBE_MS * 1000000ull;
}

static void on_accept(duro_listener_t *l, duro_conn_t *c) {
  duro_admin_t *a = l->data;
  duro_http_attach(c, &a->http_opts);
}

int duro_admin_start(duro_admin_t *a, duro_net_t *net, duro_runtime_t *rt,
                     const duro_config_t *cfg, int port, char *err,
                     size_t errlen) {
  memset(a, 0, sizeof(*a));
  a->net = net;
  a->rt = rt;
  const char *token = duro_config_var(cfg, "DURO_ADMIN_TOKEN");
  a->token = token && *token ? token : NULL;
  if (a->token &&
      duro_bearer_check("DURO_ADMIN_TOKEN", a->token, err, errlen) < 0)
    return DURO_EINVAL;
  if (!a->token && cfg->mode == DURO_MODE_PRODUCTION)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "the admin listener (--admin-port or \"admin\": "
                        "{\"port\"}) needs DURO_ADMIN_TOKEN in production");
  a->token_len = a->token ? strlen(a->token) : 0; /* C string */
  duro_http_opts_init(&a->http_opts, &cfg->limits, handle, a);
  a->http_opts.over_limit_ok = 1; /* reachable when the public side is full */
  int rc = duro_listener_start(&a->listener, net, cfg->host, port, on_accept,
                               a, err, errlen);
  if (rc < 0)
    return rc;
  a->listener.unmetered = 1; /* the token (or loopback) is its door */
  uv_timer_init(net->loop, &a->lag_probe);
  a->lag_probe.data = a;
  uv_unref((uv_handle_t *)&a->lag_probe);
  a->lag_due_ns = uv_hrtime() + LAG_PROBE_MS * 1000000ull;
  uv_timer_start(&a->lag_probe, on_lag_probe, LAG_PROBE_MS, LAG_PROBE_MS);
  duro_live_start(&a->live, net->loop, net, rt, &a->loop_lag);
  int p = duro_listener_port(&a->listener);
  duro_log_info("admin: inspector on http://%s:%d/, metrics on "
                "http://%s:%d/metrics%s",
                cfg->host, p, cfg->host, p,
                a->token ? " (bearer token)" : " (loopback callers only)");
  return 0;
}

void duro_admin_stop(duro_admin_t *a) {
  duro_live_stop(&a->live);
  duro_listener_stop(&a->listener);
  if (a->lag_due_ns) {
    uv_timer_stop(&a->lag_probe);
    uv_close((uv_handle_t *)&a->lag_probe, NULL);
    a->lag_due_ns = 0;
  }
}
