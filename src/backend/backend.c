/*
 * backend.c: the backend worker of the seed, routed by path:
 *   /ws/connect                  the coordinator's socket (401 in production)
 *   POST /broadcast              to MessageCoordinator("global")
 *   /api/rooms/<id>/websocket    a Room's socket
 *   /_objects/<BINDING>/<name>/  any object, for other processes (bearer
 *                                secret; see docs/bindings.md)
 *   ?storeId=..&transport=ws|http  LiveStore sync, on any path but
 *                                /_objects/ (before /ws/connect and the rest)
 *   anything else                200 "This worker exports Durable Objects"
 */
#include "backend/backend.h"

#include "backend/forward.h"
#include "backend/link.h"
#include <string.h>
#include <strings.h>

#include "backend/forward.h"
#include "backend/link.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/url.h"
#include "http/bearer.h"
#include "ws/wsconn.h"
#include "sync/options.h"
#include "sync/sync.h"

static int starts_with(const char *s, size_t len, const char *p) {
  size_t n = strlen(p); /* C string: a literal */
  return len >= n && memcmp(s, p, n) == 0;
}

int duro_room_id_valid(const char *id, size_t len) {
  if (len == 0 || len > 64)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

long duro_url_decode(const char *src, size_t len, char *dst) {
  long n = duro_pct_decode(src, len, dst, 0);
  if (n < 0 || memchr(dst, '\0', (size_t)n))
    return DURO_EINVAL;
  return n;
}

#define DURO_OBJECT_NAME_MAX 512

/* The binding protocol's door: 1 when req may pass, else 0 after
 * answering 401. */
static int objects_allowed(duro_backend_t *b, duro_http_req_t *req) {
  if (duro_bearer_allows(req, b->secret, b->secret_len) ||
      duro_secret_header_allows(req, b->secret, b->secret_len))
    return 1;
  duro_header_t hs[2] = {
      {"Content-Type", 12, "text/plain;charset=UTF-8", 24},
      {"WWW-Authenticate", 16, "Bearer realm=\"duro\"", 19},
  };
  static const char msg[] =
      "Unauthorized: a valid 'Authorization: Bearer <DURO_INTERNAL_SECRET>' "
      "(or 'X-Duro-Internal-Secret: <DURO_INTERNAL_SECRET>') header is "
      "required";
  duro_http_respond(req, 401, hs, 2, msg, sizeof(msg) - 1);
  return 0;
}

/* GET /_objects: the bound namespaces, for clients that build an env of
 * bindings (clients/js). */
static void list_bindings(duro_backend_t *b, duro_http_req_t *req) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    duro_header_t allow[1] = {{"Allow", 5, "GET, HEAD", 9}};
    duro_http_respond(req, 405, allow, 1, "Method Not Allowed", 18);
    return;
  }
  duro_ns_info_t info[64];
  size_t n = duro_runtime_namespaces(b->rt, info, 64);
  duro_buf_t body = DURO_BUF_INIT;
  duro_buf_append_str(&body, "{\"bindings\":[");
  for (size_t i = 0; i < n && i < 64; i++) /* names are identifiers */
    duro_buf_printf(&body, "%s{\"name\":\"%s\",\"class\":\"%s\"}",
                    i ? "," : "", info[i].binding, info[i].class_name);
  duro_buf_append_str(&body, "]}");
  duro_header_t ct[1] = {{"Content-Type", 12, "application/json", 16}};
  duro_http_respond(req, 200, ct, 1, (const char *)body.data, body.len);
  duro_buf_free(&body);
}

/* /_object_ids/<BINDING>/<id>[/<path>]: the object with that id (what a
 * client's idFromString or newUniqueId gives), named or not. */
static void route_object_ids(duro_backend_t *b, duro_http_req_t *req) {
  if (!objects_allowed(b, req))
    return;
  const char *p = req->path + 13; /* after "/_object_ids/" */
  size_t left = req->path_len - 13;
  const char *slash = memchr(p, '/', left);
  size_t blen = slash ? (size_t)(slash - p) : 0;
  if (!blen || !duro_runtime_has_binding(b->rt, p, blen)) {
    duro_http_respond_text(req, 404, NULL,
                           blen ? "No such binding"
                                : "Expected /_object_ids/<BINDING>/<id>/<path>");
    return;
  }
  const char *id = slash + 1, *end = p + left;
  const char *ps = memchr(id, '/', (size_t)(end - id));
  size_t idlen = ps ? (size_t)(ps - id) : (size_t)(end - id);
  if (!duro_object_id_valid(id, idlen)) {
    duro_http_respond_text(req, 400, NULL,
                           "Invalid object id: 64 lowercase hex digits");
    return;
  }
  char idz[65];
  memcpy(idz, id, 64);
  idz[64] = '\0';
  duro_runtime_fetch_id(b->rt, p, blen, idz, req, ps ? ps : "/",
                        ps ? (size_t)(end - ps) : 1);
}

/* /_objects/<BINDING>/<name>[/<path>] */
static void route_objects(duro_backend_t *b, duro_http_req_t *req) {
  if (!objects_allowed(b, req))
    return;
  if (req->path_len == 10) { /* "/_objects/" */
    list_bindings(b, req);
    return;
  }
  const char *p = req->path + 10; /* after "/_objects/" */
  size_t left = req->path_len - 10;
  const char *slash = memchr(p, '/', left);
  if (!slash || slash == p) {
    duro_http_respond_text(req, 404, NULL,
                           "Expected /_objects/<BINDING>/<name>/<path>");
    return;
  }
  size_t blen = (size_t)(slash - p);
  if (!duro_runtime_has_binding(b->rt, p, blen)) {
    duro_http_respond_text(req, 404, NULL, "No such binding");
    return;
  }
  const char *name = slash + 1;
  size_t rest = left - blen - 1;
  if (rest == 0) {
    duro_http_respond_text(req, 404, NULL,
                           "Expected /_objects/<BINDING>/<name>/<path>");
    return;
  }
  const char *end = memchr(name, '/', rest);
  size_t nlen = end ? (size_t)(end - name) : rest;
  /* The limit is on the decoded name: an escape is 3 bytes on the wire
   * for 1 byte of name, so longer than 3 * 512 cannot fit. */
  char decoded[3 * DURO_OBJECT_NAME_MAX + 1];
  long dlen = nlen <= 3 * DURO_OBJECT_NAME_MAX
                  ? duro_url_decode(name, nlen, decoded)
                  : DURO_OBJECT_NAME_MAX + 1;
  if (dlen < 0) {
    duro_http_respond_text(req, 400, NULL, "Bad percent-encoding in name");
    return;
  }
  if (dlen == 0 || dlen > DURO_OBJECT_NAME_MAX) {
    duro_http_respond_text(req, 400, NULL,
                           "Object name must be 1 to 512 bytes (decoded)");
    return;
  }
  const char *path = end ? end : "/";
  size_t path_len = end ? rest - nlen : 1;
  duro_runtime_fetch(b->rt, p, blen, decoded, (size_t)dlen, req, path,
                     path_len);
}

static int ends_with(const char *s, size_t len, const char *p) {
  size_t n = strlen(p); /* C string: a literal */
  return len >= n && memcmp(s + len - n, p, n) == 0;
}

static void sync_respond(duro_backend_t *b, duro_http_req_t *req, int status,
                         const char *text) {
  duro_header_t hs[4];
  size_t n = 0;
  const duro_header_t *rh =
      duro_http_header(req, "Access-Control-Request-Headers");
  hs[n++] = (duro_header_t){"Content-Type", 12, "text/plain;charset=UTF-8",
                            24};
  n += duro_sync_cors_headers(b->cfg, hs + n, rh ? rh->value : NULL,
                              rh ? rh->value_len : 0);
  duro_http_respond(req, status, hs, n, text,
                    strlen(text)); /* C string: a literal or a reason */
}

/*
 * LiveStore sync requests (livestore-sync-v0.4.md 3.2), recognised by the
 * query on any path. Returns 1 when req was answered or routed, 0 when it
 * is not a sync request.
 */
static int route_sync(duro_backend_t *b, duro_http_req_t *req) {
  if (!b->sync_bound)
    return 0;
  sync_query_t q;
  duro_sync_query_parse(req->query, req->query_len, &q);
  if (!q.present) {
    duro_sync_query_free(&q);
    /* The reference answers its /websocket endpoint only for sync. */
    if (ends_with(req->path, req->path_len, "/websocket") &&
        !starts_with(req->path, req->path_len, "/api/rooms/")) {
      sync_respond(b, req, 400, "Invalid path");
      return 1;
    }
    return 0;
  }
  req->route = DURO_ROUTE_SYNC;
  if (strcmp(req->method, "OPTIONS") == 0 && duro_sync_config(b->cfg)->cors) {
    sync_respond(b, req, 204, "");
    goto out;
  }
  if (!q.valid) {
    sync_respond(b, req, 400, q.why);
    goto out;
  }
  char why[256];
  if (duro_sync_auth_check(&b->sync_auth, q.store_id, q.store_id_len, q.payload,
                           q.payload_len, why, sizeof(why)) < 0) {
    sync_respond(b, req, 400, why);
    goto out;
  }
  if (q.transport == SYNC_TRANSPORT_WS) {
    if (!duro_ws_is_upgrade(req)) {
      sync_respond(b, req, 426, "Durable Object expected Upgrade: websocket");
      goto out;
    }
    duro_runtime_fetch(b->rt, "LIVESTORE_SYNC", 14, q.store_id,
                       q.store_id_len, req, "/ws", 3);
    goto out;
  }
  if (strcmp(req->method, "POST") != 0) {
    sync_respond(b, req, 400, "Invalid path: the HTTP transport uses POST");
    goto out;
  }
  /* The client names the store twice; a disagreement is a broken client
   * or a proxy that rewrote one of them: refuse rather than guess. */
  const duro_header_t *sid = duro_http_header(req, "x-livestore-store-id");
  if (sid && (sid->value_len != q.store_id_len ||
              memcmp(sid->value, q.store_id, q.store_id_len) != 0)) {
    sync_respond(b, req, 400,
                 "x-livestore-store-id does not match the storeId query");
    goto out;
  }
  duro_runtime_fetch(b->rt, "LIVESTORE_SYNC", 14, q.store_id, q.store_id_len,
                     req, "/http", 5);
out:
  duro_sync_query_free(&q);
  return 1;
}

static void backend_handle(duro_http_req_t *req, void *data) {
  duro_backend_t *b = data;
  /* The binding protocol's prefix is reserved and comes first: its
   * bearer check must not be skipped or shadowed by the sync routing
   * (a sync query, or a path ending in /websocket such as
   * /_objects/ROOMS/<id>/websocket). */
  if (starts_with(req->path, req->path_len, "/_objects/")) {
    req->route = DURO_ROUTE_OBJECTS;
    route_objects(b, req);
    return;
  }
  if (duro_http_path_is(req, "/_duro/link")) { /* another node's link */
    req->route = DURO_ROUTE_OBJECTS;
    if (b->links && duro_forward_is_hop(req, b->secret, b->secret_len))
      duro_links_accept(b->links, req);
    else
      duro_http_respond_text(req, 404, NULL, "Not Found");
    return;
  }
  if (duro_http_path_is(req, "/_objects")) {
    req->route = DURO_ROUTE_OBJECTS;
    if (objects_allowed(b, req))
      list_bindings(b, req);
    return;
  }
  if (starts_with(req->path, req->path_len, "/_object_ids/")) {
    req->route = DURO_ROUTE_OBJECTS;
    route_object_ids(b, req);
    return;
  }
  if (route_sync(b, req))
    return;
  if (duro_http_path_is(req, "/ws/connect")) {
    req->route = DURO_ROUTE_WEBSOCKET;
    if (b->cfg->mode == DURO_MODE_PRODUCTION) {
      duro_http_respond_text(req, 401, NULL, "Unauthorized");
      return;
    }
    if (!duro_ws_is_upgrade(req)) {
      duro_http_respond_text(req, 426, NULL, "Expected Upgrade: websocket");
      return;
    }
    duro_runtime_fetch(b->rt, "MESSAGE_COORDINATOR", 19, "global", 6, req,
                       req->path, req->path_len);
    return;
  }
  if (duro_http_path_is(req, "/broadcast") && strcmp(req->method, "POST") == 0) {
    req->route = DURO_ROUTE_API;
    duro_runtime_fetch(b->rt, "MESSAGE_COORDINATOR", 19, "global", 6, req,
                       req->path, req->path_len);
    return;
  }
  if (starts_with(req->path, req->path_len, "/api/rooms/")) {
    req->route = DURO_ROUTE_WEBSOCKET;
    const char *id = req->path + 11;
    size_t left = req->path_len - 11;
    const char *slash = memchr(id, '/', left);
    size_t idlen = slash ? (size_t)(slash - id) : left;
    if (!duro_room_id_valid(id, idlen)) {
      duro_http_respond_text(
          req, 400, NULL,
          "Invalid room id: use 1 to 64 characters of A-Z a-z 0-9 _ -");
      return;
    }
    if (!slash || left - idlen != 10 || memcmp(slash, "/websocket", 10) != 0) {
      duro_http_respond_text(req, 404, NULL,
                             "Not found: use /api/rooms/<id>/websocket");
      return;
    }
    if (!duro_ws_is_upgrade(req)) {
      duro_http_respond_text(req, 426, NULL, "Expected Upgrade: websocket");
      return;
    }
    duro_runtime_fetch(b->rt, "ROOMS", 5, id, idlen, req, "/websocket", 10);
    return;
  }
  duro_http_respond_text(req, 200, NULL, "This worker exports Durable Objects");
}

static void on_accept(duro_listener_t *l, duro_conn_t *c) {
  duro_backend_t *b = l->data;
  duro_http_attach(c, &b->http_opts);
}

int duro_backend_start(duro_backend_t *b, duro_net_t *net, duro_runtime_t *rt,
                       const duro_config_t *cfg, int port, char *err,
                       size_t errlen) {
  memset(b, 0, sizeof(*b));
  b->rt = rt;
  b->cfg = cfg;
  const char *secret = duro_config_var(cfg, "DURO_INTERNAL_SECRET");
  b->secret = secret && *secret ? secret : NULL;
  if (b->secret &&
      duro_bearer_check("DURO_INTERNAL_SECRET", b->secret, err, errlen) < 0)
    return DURO_EINVAL;
  b->secret_len = b->secret ? strlen(b->secret) : 0; /* C string */
  b->sync_bound = duro_runtime_has_binding(rt, "LIVESTORE_SYNC", 14);
  if (b->sync_bound &&
      (duro_sync_auth_init(&b->sync_auth, cfg, err, errlen) < 0 ||
       duro_sync_setup(rt, cfg, net->loop, &b->sync, err,
                       errlen) < 0))
    return DURO_EINVAL;
  duro_http_opts_init(&b->http_opts, &cfg->limits, backend_handle, b);
  return duro_listener_start(&b->listener, net, cfg->host, port, on_accept, b,
                             err, errlen);
}

void duro_backend_stop(duro_backend_t *b) {
  duro_listener_stop(&b->listener);
  duro_sync_auth_free(&b->sync_auth);
  duro_sync_stop(b->sync);
  b->sync = NULL;
}
