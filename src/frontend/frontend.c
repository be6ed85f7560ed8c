/*
 * frontend.c: the frontend role's routes.
 *
 *   GET /, /de/             the page; heading from TEST_DO("global")
 *   POST /?/countdown       form action: CountdownTimer("global") /start;
 *                           303 back without JavaScript, JSON with it
 *   GET /api/ws/connect     the socket, forwarded to MessageCoordinator
 *                           ("global") after the Origin and session checks
 *   POST /api/login         optional: a HS256 bearer token buys a session
 *   /app.js, /app.css, ...  embedded assets with ETag / 304
 *
 * Authorization: the page sets a signed session cookie (HttpOnly,
 * SameSite=Lax, Secure behind https). The WebSocket path requires it
 * (401) and an Origin that is the page's own or an allowed one (403):
 * that stops cross-site WebSocket hijacking, where another site's page
 * opens a socket with the user's cookies. The form action and the login
 * hook refuse a foreign Origin too (CSRF, login CSRF).
 */
#include "frontend/frontend.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/b64url.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "frontend/assets.h"
#include "frontend/page.h"
#include "frontend/session.h"
#include "frontend/tunnel.h"
#include "http/bearer.h"
#include "ws/wsconn.h"

const char *const duro_frontend_env_vars[] = {
    "DURO_SESSION_SECRET",
    "DURO_LOGIN_SECRET",
    "DURO_ALLOWED_ORIGINS",
    "DURO_SESSION_TTL",
    "DURO_SESSION_ON_PAGE_LOAD",
    "VITE_WS_HOST",
    "VITE_WS_PATH",
    NULL,
};

#define BACKEND_TIMEOUT_MS 5000
#define COOKIE_NAME "duro_session"


static int method_is(const duro_http_req_t *r, const char *m) {
  return strcmp(r->method, m) == 0;
}

static int behind_https(const duro_http_req_t *r) {
  if (r->conn && duro_conn_is_tls(r->conn))
    return 1; /* our own TLS listener */
  const duro_header_t *h = duro_http_header(r, "X-Forwarded-Proto");
  return h && duro_memcaseeq(h->value, h->value_len, "https", 5);
}

/* ---- authorization ----------------------------------------------------------- */

static int has_session(duro_frontend_t *f, const duro_http_req_t *r,
                       int *why) {
  const duro_header_t *c = duro_http_header(r, "Cookie");
  size_t vlen;
  const char *v = c ? duro_cookie_find(c->value, c->value_len, COOKIE_NAME,
                                       &vlen)
                    : NULL;
  if (!v) {
    *why = DURO_ENOENT;
    return 0;
  }
  *why = duro_session_verify(f->session_secret, f->session_secret_len, v, vlen,
                             duro_now_ms() / 1000);
  return *why == 0;
}

static const char *session_problem(int why) {
  switch (why) {
  case DURO_ENOENT: return "no session cookie";
  case DURO_ETIMEDOUT: return "the session has expired";
  case DURO_EACCES: return "the session cookie's signature is wrong";
  default: return "the session cookie is malformed";
  }
}

/* The Origin must be this page's own (scheme://Host) or an allowed one.
 * A request without Origin is not from a browser page and passes. */
static int origin_ok(duro_frontend_t *f, const duro_http_req_t *r) {
  const duro_header_t *o = duro_http_header(r, "Origin");
  if (!o)
    return 1;
  const duro_header_t *host = duro_http_header(r, "Host");
  if (host) {
    /* scheme "://" Host, compared piece by piece */
    const char *scheme = behind_https(r) ? "https://" : "http://";
    size_t sl = scheme[4] == 's' ? 8 : 7;
    if (o->value_len == sl + host->value_len &&
        duro_memcaseeq(o->value, sl, scheme, sl) &&
        duro_memcaseeq(o->value + sl, host->value_len, host->value,
                       host->value_len))
      return 1;
  }
  if (f->allowed_origins) {
    const char *p = f->allowed_origins;
    while (*p) {
      size_t len = strcspn(p, ","); /* C string: from the config */
      const char *s = p;
      size_t l = len;
      while (l && *s == ' ') {
        s++;
        l--;
      }
      while (l && s[l - 1] == ' ')
        l--;
      if (duro_memcaseeq(s, l, o->value, o->value_len))
        return 1;
      p += len + (p[len] == ',');
    }
  }
  return 0;
}

#define SET_COOKIE_MAX (DURO_SESSION_TOKEN_MAX + 128)

/* Writes the Set-Cookie header for a fresh session into h, its value into
 * out (SET_COOKIE_MAX bytes). */
static void session_cookie(duro_frontend_t *f, const duro_http_req_t *r,
                           char out[SET_COOKIE_MAX], duro_header_t *h) {
  char tok[DURO_SESSION_TOKEN_MAX];
  duro_session_issue(f->session_secret, f->session_secret_len,
                     duro_now_ms() / 1000 + f->session_ttl_s, tok);
  int n = duro_fmt(out, SET_COOKIE_MAX,
                   "%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Lax%s",
                   COOKIE_NAME, tok, f->session_ttl_s,
                   behind_https(r) ? "; Secure" : "");
  if (n < 0)
    abort(); /* the token and the TTL are bounded: it always fits */
  *h = (duro_header_t){"Set-Cookie", 10, out, (size_t)n};
}

/* ---- backend calls ------------------------------------------------------------- */

typedef struct pending {
  duro_frontend_t *f;
  duro_http_req_t *req;
  duro_locale_t locale;
  int enhanced;
  int new_session;
} pending_t;

static void backend_call(duro_frontend_t *f, const char *method,
                         const char *path, duro_http_client_cb cb,
                         pending_t *p) {
  duro_header_t hs[1];
  size_t n = 0;
  if (f->authorization)
    hs[n++] = (duro_header_t){"Authorization", 13, f->authorization,
                              f->authorization_len};
  duro_http_client_request(f->loop, &f->backend, method, path, hs, n, NULL, 0,
                           BACKEND_TIMEOUT_MS, 1024 * 1024, cb, p);
}

/* ---- the page --------------------------------------------------------------------- */

static void render_page(pending_t *p, const char *heading, const char *error) {
  duro_frontend_t *f = p->f;
  duro_http_req_t *req = p->req;
  duro_page_args_t a = {
      .locale = p->locale,
      .heading = heading,
      .error = error,
      .mode = duro_mode_name(f->cfg->mode),
      .backend_port = f->backend.port,
      .ws_host = duro_config_var(f->cfg, "VITE_WS_HOST"),
      .ws_path = duro_config_var(f->cfg, "VITE_WS_PATH"),
  };
  if (req->query_len >= 9 && memcmp(req->query, "started=1", 9) == 0)
    a.notice = duro_page_string(p->locale, "started");
  duro_buf_t body = DURO_BUF_INIT;
  if (duro_page_render(&body, &a) < 0) {
    duro_http_respond_text(req, 500, NULL, "page template missing");
    duro_free(p);
    return;
  }
  char cookie[SET_COOKIE_MAX];
  duro_header_t hs[4];
  size_t n = 0;
  hs[n++] = (duro_header_t){"Content-Type", 12, "text/html;charset=utf-8", 23};
  hs[n++] = (duro_header_t){"Cache-Control", 13, "no-store", 8};
  hs[n++] = (duro_header_t){"Content-Language", 16,
                            p->locale == DURO_LOCALE_DE ? "de" : "en", 2};
  if (p->new_session)
    session_cookie(f, req, cookie, &hs[n++]);
  duro_http_respond(req, 200, hs, n, body.data, body.len);
  duro_buf_free(&body);
  duro_free(p);
}

static void on_heading(const duro_http_client_res_t *res, void *ud) {
  pending_t *p = ud;
  if (res->status == 0) {
    render_page(p, NULL, res->error);
    return;
  }
  if (res->status != 200) {
    char msg[64];
    if (duro_fmt(msg, sizeof(msg), "TEST_DO answered HTTP %d", res->status) <
        0)
      abort(); /* an int always fits */
    render_page(p, NULL, msg);
    return;
  }
  cJSON *j = cJSON_ParseWithLength((const char *)res->body, res->body_len);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (cJSON_IsString(m))
    render_page(p, m->valuestring, NULL);
  else
    render_page(p, NULL, "TEST_DO answered without a message");
  cJSON_Delete(j);
}

static void serve_page(duro_frontend_t *f, duro_http_req_t *req,
                       duro_locale_t locale) {
  pending_t *p = duro_calloc(1, sizeof(*p));
  p->f = f;
  p->req = req;
  p->locale = locale;
  int why;
  p->new_session = f->issue_on_page_load && !has_session(f, req, &why);
  backend_call(f, "GET", "/_objects/TEST_DO/global/", on_heading, p);
}

/* ---- the form action -------------------------------------------------------------- */

static void on_started(const duro_http_client_res_t *res, void *ud) {
  pending_t *p = ud;
  duro_http_req_t *req = p->req;
  int ok = res->status >= 200 && res->status < 300;
  if (p->enhanced) {
    duro_http_respond_text(
        req, ok ? 200 : 502, "application/json",
        ok ? "{\"type\":\"success\",\"status\":200}"
        : res->status
            ? "{\"type\":\"error\",\"status\":502,\"error\":\"the backend "
              "refused\"}"
            : "{\"type\":\"error\",\"status\":502,\"error\":\"backend "
              "unavailable\"}");
  } else if (ok) {
    duro_header_t hs[1] = {p->locale == DURO_LOCALE_DE
                               ? (duro_header_t){"Location", 8,
                                                 "/de/?started=1", 14}
                               : (duro_header_t){"Location", 8, "/?started=1",
                                                 11}};
    duro_http_respond(req, 303, hs, 1, "", 0);
  } else {
    duro_http_respond_textf(req, 502,
                            "Bad Gateway: the countdown was not started (%s)",
                            res->status ? "the backend refused" : res->error);
  }
  duro_free(p);
}

static void countdown_action(duro_frontend_t *f, duro_http_req_t *req,
                             duro_locale_t locale) {
  int why = 0;
  if (!origin_ok(f, req)) {
    duro_http_respond_text(req, 403, NULL, "Forbidden: foreign Origin");
    return;
  }
  if (f->cfg->mode == DURO_MODE_PRODUCTION && !has_session(f, req, &why)) {
    duro_http_respond_textf(req, 401, "Unauthorized: %s",
                            session_problem(why));
    return;
  }
  pending_t *p = duro_calloc(1, sizeof(*p));
  p->f = f;
  p->req = req;
  p->locale = locale;
  const duro_header_t *e = duro_http_header(req, "x-duro-enhanced");
  p->enhanced = e != NULL;
  backend_call(f, "POST", "/_objects/COUNTDOWN_TIMER/global/start", on_started,
               p);
}

/* ---- WebSocket -------------------------------------------------------------------- */

static void ws_connect(duro_frontend_t *f, duro_http_req_t *req) {
  if (!duro_ws_is_upgrade(req)) {
    duro_http_respond_text(req, 426, NULL, "Expected Upgrade: websocket");
    return;
  }
  if (!origin_ok(f, req)) {
    duro_http_respond_text(req, 403, NULL,
                           "Forbidden: the Origin is not this site's");
    return;
  }
  int why;
  if (!has_session(f, req, &why)) {
    duro_http_respond_textf(req, 401, "Unauthorized: %s",
                            session_problem(why));
    return;
  }
  duro_tunnel_start(req, f->loop, &f->backend,
                    "/_objects/MESSAGE_COORDINATOR/global/ws/connect",
                    f->internal_secret, BACKEND_TIMEOUT_MS);
}

/* POST /api/login with Authorization: Bearer <JWT HS256>: a session. */
static void login(duro_frontend_t *f, duro_http_req_t *req) {
  if (!f->login_secret) {
    duro_http_respond_text(req, 404, NULL,
                           "Not found: no login hook is configured "
                           "(set DURO_LOGIN_SECRET)");
    return;
  }
  /* Like the form action: another site's page may not mint a session
   * here (login CSRF), whatever the token. */
  if (!origin_ok(f, req)) {
    duro_http_respond_text(req, 403, NULL, "Forbidden: foreign Origin");
    return;
  }
  const duro_header_t *a = duro_http_header(req, "Authorization");
  int rc = DURO_ENOENT;
  if (a && a->value_len > 7 && duro_memcaseeq(a->value, 7, "Bearer ", 7))
    rc = duro_jwt_verify_hs256(f->login_secret, f->login_secret_len,
                               a->value + 7, a->value_len - 7,
                               duro_now_ms() / 1000);
  if (rc) {
    duro_buf_t msg = DURO_BUF_INIT;
    duro_buf_printf(&msg, "Unauthorized: %s",
                    rc == DURO_ENOENT ? "a bearer token is required"
                    : rc == DURO_ETIMEDOUT ? "the token has expired"
                    : rc == DURO_AGAIN ? "the token is not valid yet (nbf)"
                    : rc == DURO_EACCES ? "the token's signature is wrong"
                                        : "the token is malformed");
    duro_header_t hs[2] = {
        {"Content-Type", 12, "text/plain;charset=UTF-8", 24},
        {"WWW-Authenticate", 16, "Bearer realm=\"duro\"", 19},
    };
    duro_http_respond(req, 401, hs, 2, msg.data, msg.len);
    duro_buf_free(&msg);
    return;
  }
  char cookie[SET_COOKIE_MAX];
  duro_header_t hs[1];
  session_cookie(f, req, cookie, &hs[0]);
  duro_http_respond(req, 204, hs, 1, "", 0);
}

/* ---- assets ------------------------------------------------------------------------ */

static int serve_asset(duro_http_req_t *req) {
  if (req->path_len == 11 && memcmp(req->path, "/index.html", 11) == 0)
    return 0; /* the template is not a page of its own */
  const duro_asset_t *a =
      duro_asset_find(duro_assets, duro_assets_count, req->path, req->path_len);
  if (!a)
    return 0;
  req->route = DURO_ROUTE_ASSET;
  duro_asset_serve(req, a, "public, max-age=300, must-revalidate");
  return 1;
}

/* ---- routing ----------------------------------------------------------------------- */

static void frontend_handle(duro_http_req_t *req, void *data) {
  duro_frontend_t *f = data;
  duro_locale_t locale = DURO_LOCALE_EN;
  int page = duro_http_path_is(req, "/");
  if (duro_http_path_is(req, "/de/")) {
    page = 1;
    locale = DURO_LOCALE_DE;
  }
  if (page) {
    req->route = DURO_ROUTE_PAGE;
    if (method_is(req, "POST")) {
      if (req->query_len == 10 && memcmp(req->query, "/countdown", 10) == 0)
        countdown_action(f, req, locale);
      else
        duro_http_respond_text(req, 404, NULL, "Not found: no such action");
      return;
    }
    if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
      duro_header_t hs[1] = {{"Allow", 5, "GET, HEAD, POST", 15}};
      duro_http_respond(req, 405, hs, 1, "Method Not Allowed", 18);
      return;
    }
    serve_page(f, req, locale);
    return;
  }
  if (duro_http_path_is(req, "/de")) {
    req->route = DURO_ROUTE_PAGE;
    duro_header_t hs[1] = {{"Location", 8, "/de/", 4}};
    duro_http_respond(req, 308, hs, 1, "", 0);
    return;
  }
  if (duro_http_path_is(req, "/api/ws/connect")) {
    req->route = DURO_ROUTE_WEBSOCKET;
    ws_connect(f, req);
    return;
  }
  if (duro_http_path_is(req, "/api/login") && method_is(req, "POST")) {
    req->route = DURO_ROUTE_API;
    login(f, req);
    return;
  }
  if (serve_asset(req))
    return;
  duro_http_respond_text(req, 404, NULL, "Not found");
}

static void on_accept(duro_listener_t *l, duro_conn_t *c) {
  duro_frontend_t *f = l->data;
  duro_http_attach(c, &f->http_opts);
}

int duro_frontend_start(duro_frontend_t *f, duro_net_t *net,
                        const duro_config_t *cfg, int port,
                        duro_tls_client_t *backend_tls, char *err,
                        size_t errlen) {
  memset(f, 0, sizeof(*f));
  f->loop = net->loop;
  f->cfg = cfg;
  if (duro_url_parse(cfg->backend_url, &f->backend, err, errlen) < 0)
    return DURO_EINVAL;
  if (f->backend.https && !backend_tls)
    return duro_err_fmt(DURO_EINVAL, err, errlen, "'%s': https needs the "
                        "certificates to trust", cfg->backend_url);
  f->backend.tls = backend_tls;
  const char *v = duro_config_var(cfg, "DURO_INTERNAL_SECRET");
  f->internal_secret = v && *v ? v : NULL;
  if (f->internal_secret) {
    if (duro_bearer_check("DURO_INTERNAL_SECRET", f->internal_secret, err,
                          errlen) < 0)
      return DURO_EINVAL;
    f->authorization = duro_bearer_header(f->internal_secret);
    f->authorization_len = strlen(f->authorization); /* C string: just made */
  }
  v = duro_config_var(cfg, "DURO_SESSION_SECRET");
  if (v && *v) {
    size_t n = strlen(v); /* C string: from the config */
    if (n < 16 || n >= sizeof(f->session_secret))
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "DURO_SESSION_SECRET must be 16 to %zu characters "
                          "long (it is %zu)",
                          sizeof(f->session_secret) - 1, n);
    memcpy(f->session_secret, v, n);
    f->session_secret_len = n;
  } else if (cfg->mode == DURO_MODE_PRODUCTION) {
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "production mode needs DURO_SESSION_SECRET (the key "
                        "that signs session cookies); set it in the "
                        "environment or in .dev.vars");
  } else {
    /* development: a key for this process only; sessions end at restart */
    uint8_t raw[32];
    RAND_bytes(raw, sizeof(raw));
    f->session_secret_len = duro_b64url_encode(raw, sizeof(raw),
                                               f->session_secret);
    duro_log_warn("DURO_SESSION_SECRET is not set: sessions are signed "
                  "with a random key that dies with this process");
  }
  v = duro_config_var(cfg, "DURO_LOGIN_SECRET");
  f->login_secret = v && *v ? v : NULL;
  f->login_secret_len = f->login_secret ? strlen(v) : 0; /* C string */
  v = duro_config_var(cfg, "DURO_ALLOWED_ORIGINS");
  f->allowed_origins = v && *v ? v : NULL;
  v = duro_config_var(cfg, "DURO_SESSION_TTL");
  f->session_ttl_s = 86400;
  if (v && *v) {
    uint64_t ttl;
    if (duro_parse_u64(v, strlen(v), 10LL * 365 * 86400, &ttl) < 0 || /* C string */
        ttl == 0)
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "DURO_SESSION_TTL must be a number of seconds from "
                          "1 to 315360000 (ten years), not '%s'",
                          v);
    f->session_ttl_s = (unsigned)ttl;
  }
  v = duro_config_var(cfg, "DURO_SESSION_ON_PAGE_LOAD");
  f->issue_on_page_load = !(v && strcmp(v, "false") == 0);

  duro_http_opts_init(&f->http_opts, &cfg->limits, frontend_handle, f);
  return duro_listener_start(&f->listener, net, cfg->host, port, on_accept, f,
                             err, errlen);
}

void duro_frontend_stop(duro_frontend_t *f) {
  duro_listener_stop(&f->listener);
  duro_free(f->authorization);
  f->authorization = NULL;
}
