/*
 * admin.c: see admin.h. Routes:
 *   GET /metrics   Prometheus text format 0.0.4 (admin/metrics.h)
 *   /api/...       the JSON API (admin/api.h)
 *   anything else  404 (405 for /metrics with another method than GET)
 */
#include "admin/admin.h"

#include <stddef.h>
#include <string.h>

#include "admin/api.h"
#include "admin/metrics.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "http/bearer.h"

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

static int path_is(const duro_http_req_t *r, const char *p) {
  size_t n = strlen(p); /* C string: a literal */
  return r->path_len == n && memcmp(r->path, p, n) == 0;
}

static void handle(duro_http_req_t *req, void *data) {
  duro_admin_t *a = data;
  if (!duro_bearer_allows(req, a->token, a->token_len)) {
    duro_header_t hs[1] = {
        {"WWW-Authenticate", 16, "Bearer realm=\"duro-admin\"", 25}};
    static const char msg[] =
        "Unauthorized: the admin listener needs 'Authorization: Bearer "
        "<DURO_ADMIN_TOKEN>' (without a token: loopback callers only)\n";
    duro_http_respond(req, 401, hs, 1, msg, sizeof(msg) - 1);
    return;
  }
  if (req->path_len > 5 && memcmp(req->path, "/api/", 5) == 0) {
    duro_admin_api(a->rt, req);
    return;
  }
  if (!path_is(req, "/metrics")) {
    duro_http_respond_text(req, 404, NULL,
                           "Not Found: the admin listener serves /metrics "
                           "and /api/\n");
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
  uv_timer_init(net->loop, &a->lag_probe);
  a->lag_probe.data = a;
  uv_unref((uv_handle_t *)&a->lag_probe);
  a->lag_due_ns = uv_hrtime() + LAG_PROBE_MS * 1000000ull;
  uv_timer_start(&a->lag_probe, on_lag_probe, LAG_PROBE_MS, LAG_PROBE_MS);
  duro_log_info("admin: metrics on http://%s:%d/metrics%s", cfg->host,
                duro_listener_port(&a->listener),
                a->token ? " (bearer token)" : " (loopback callers only)");
  return 0;
}

void duro_admin_stop(duro_admin_t *a) {
  duro_listener_stop(&a->listener);
  if (a->lag_due_ns) {
    uv_timer_stop(&a->lag_probe);
    uv_close((uv_handle_t *)&a->lag_probe, NULL);
    a->lag_due_ns = 0;
  }
}
