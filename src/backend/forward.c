/*
 * forward.c: the internal hop between cluster nodes; see forward.h.
 *
 * One forward_t per forwarded request, from duro_forward until its
 * client is answered, through the HTTP client (http/client.h). A
 * WebSocket does not come here: it travels over the node link to its
 * owner (backend/link.h).
 *
 * The request stays ours while the upstream works: if its client leaves,
 * the http layer only detaches it (req->conn NULL), and answering it then
 * just frees it; no retry is started for a client that has gone.
 */
#include "backend/forward.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "http/client.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BODY (1024 * 1024)
#define MAX_TRIES 2 /* the node asked first, then the owner it named */

typedef struct forward {
  duro_http_req_t *req; /* until answered */
  duro_forward_opts_t o;
  char *secret;    /* ours: o.secret points here */
  char *url;       /* the node tried now */
  duro_url_t node; /* url, parsed */
  char *target;    /* the request target, path and query */
  int tries;
} forward_t;

static void forward_free(forward_t *f) {
  duro_free(f->secret);
  duro_free(f->url);
  duro_free(f->target);
  duro_free(f);
}

/* ---- answers ------------------------------------------------------------- */

/* Answers the client with a text reason and, for a 503, Retry-After: 1
 * (the owner may be back or moved by then); ends f. */
static void answer(forward_t *f, int status, const char *reason) {
  duro_header_t hs[2] = {
      {"Content-Type", 12, "text/plain;charset=UTF-8", 24},
      {"Retry-After", 11, "1", 1},
  };
  duro_http_respond(f->req, status, hs, status == 503 ? 2 : 1, reason,
                    strlen(reason)); /* C string: our literals */
  forward_free(f);
}

/* Relays the owner's answer (but its hop-by-hop headers); ends f. */
static void relay_answer(forward_t *f, const duro_http_client_res_t *res) {
  duro_header_t *hs = duro_malloc((res->nheaders + 1) * sizeof(*hs));
  size_t n = 0;
  for (size_t i = 0; i < res->nheaders; i++)
    if (!duro_http_relay_skips(res->headers[i].name, res->headers[i].name_len))
      hs[n++] = res->headers[i];
  duro_http_respond(f->req, res->status, hs, n, res->body, res->body_len);
  duro_free(hs);
  forward_free(f);
}

void duro_forward_misdirected(duro_http_req_t *req, const char *owner_url) {
  duro_header_t hs[3] = {
      {"Content-Type", 12, "text/plain;charset=UTF-8", 24},
      {"Retry-After", 11, "1", 1},
      {DURO_OWNER_HEADER, sizeof(DURO_OWNER_HEADER) - 1, owner_url,
       strlen(owner_url)}, /* C string: the owner's advertised URL */
  };
  static const char body[] =
      "Misdirected Request: this node does not own the object";
  duro_http_respond(req, 421, hs, 3, body, sizeof(body) - 1);
}

/* ---- the hop ------------------------------------------------------------- */

/* Checks the n given bytes against the secret in time that depends on
 * the secret's length only. */
static int secret_equals(const char *given, size_t n, const char *secret,
                         size_t secret_len) {
  unsigned diff = n != secret_len;
  for (size_t i = 0; i < secret_len; i++)
    diff |= (unsigned char)(secret[i] ^ (i < n ? given[i] : 0));
  return diff == 0;
}

int duro_forward_is_hop(const duro_http_req_t *req, const char *secret,
                        size_t secret_len) {
  if (!secret || secret_len == 0 ||
      duro_http_header_count(req, DURO_HOP_HEADER) != 1)
    return 0;
  const duro_header_t *h = duro_http_header(req, DURO_HOP_HEADER);
  return secret_equals(h->value, h->value_len, secret, secret_len);
}

/* 1 for a client header that travels on: not hop-by-hop, not internal
 * (a public client must not speak for a node). */
static int passes(const duro_header_t *h) {
  return !duro_http_relay_skips(h->name, h->name_len) &&
         !(h->name_len >= 7 && duro_memcaseeq(h->name, 7, "X-Duro-", 7));
}

/* The headers for the owner: the client's that pass and the hop's own,
 * pointing into req and f (a new array for the caller to free; *n set). */
static duro_header_t *hop_headers(const forward_t *f, size_t *n) {
  const duro_http_req_t *req = f->req;
  duro_header_t *hs = duro_malloc((req->nheaders + 1) * sizeof(*hs));
  size_t k = 0;
  for (size_t i = 0; i < req->nheaders; i++)
    if (passes(&req->headers[i]))
      hs[k++] = req->headers[i];
  hs[k++] =
      (duro_header_t){DURO_HOP_HEADER, sizeof(DURO_HOP_HEADER) - 1, f->secret,
                      strlen(f->secret)}; /* C string: copied config */
  *n = k;
  return hs;
}

/* The request target as the client sent it: path and query, without the
 * scheme and authority of an absolute-form target. */
static char *origin_target(const duro_http_req_t *req) {
  const char *end = req->target + req->target_len;
  if (req->path >= req->target && req->path < end)
    return duro_strndup(req->path, (size_t)(end - req->path));
  /* "http://host?q": the root, which http.c supplies on its own */
  duro_buf_t b = DURO_BUF_INIT;
  duro_buf_append(&b, req->path, req->path_len);
  if (req->query_len) {
    duro_buf_append(&b, "?", 1);
    duro_buf_append(&b, req->query, req->query_len);
  }
  char *s = duro_strndup((const char *)b.data, b.len);
  duro_buf_free(&b);
  return s;
}

/* Parses a node's URL: only http:// (a hop carries the secret; https
 * would need a trust store that the options do not carry). */
static int parse_node(const char *url, duro_url_t *out) {
  char err[128];
  if (duro_url_parse(url, out, err, sizeof(err)) < 0 || out->https)
    return DURO_EINVAL;
  return 0;
}

/* ---- the outcome --------------------------------------------------------- */

static void send_hop(forward_t *f);

/* The node could not be reached, or the exchange failed: tells the
 * caller about a dead node, then answers; ends f. */
/* One warning a second at most: a dead owner fails every request sent to
 * it until its lease lapses, and each would say the same. */
static void warn_failed(forward_t *f, const char *why) {
  static uint64_t last_ms, quiet;
  uint64_t now = uv_now(f->o.loop);
  if (last_ms && now - last_ms < 1000) {
    quiet++;
    return;
  }
  if (quiet)
    duro_log_warn("forward to %s failed: %s (and %llu other forwards since "
                  "the last warning)",
                  f->url, why ? why : "?", (unsigned long long)quiet);
  else
    duro_log_warn("forward to %s failed: %s", f->url, why ? why : "?");
  last_ms = now;
  quiet = 0;
}

static void failed(forward_t *f, int reached, int answered, int timed_out,
                   const char *why) {
  warn_failed(f, why);
  if (!reached || (!answered && !timed_out)) {
    if (f->o.unreachable)
      f->o.unreachable(f->o.ud, f->url);
    answer(f, 503, "Service Unavailable: object's owner node unreachable");
  } else if (timed_out) {
    answer(f, 504, "Gateway Timeout: object's owner node did not answer");
  } else {
    answer(f, 502, "Bad Gateway: object's owner node answered wrongly");
  }
}

/* A node answered 421 and named the owner in value (len bytes, NULL when
 * it named none): learn it and try there, once; ends f or sends again. */
static void misdirected(forward_t *f, const char *value, size_t len) {
  if (!value) {
    answer(f, 503, "Service Unavailable: object's owner unknown");
    return;
  }
  char *owner = duro_strndup(value, len);
  duro_url_t node;
  if (memchr(value, '\0', len) || parse_node(owner, &node) < 0) {
    duro_free(owner);
    answer(f, 502, "Bad Gateway: a node named a malformed owner URL");
    return;
  }
  if (f->o.learned)
    f->o.learned(f->o.ud, f->o.key, owner);
  if (f->tries >= MAX_TRIES || !f->req->conn) {
    duro_free(owner);
    answer(f, 503, "Service Unavailable: object's owner is moving");
    return;
  }
  duro_log_debug("forward: %s names %s as the owner", f->url, owner);
  duro_free(f->url);
  f->url = owner;
  f->node = node;
  send_hop(f);
}

/* ---- plain HTTP ---------------------------------------------------------- */

static void on_answer(const duro_http_client_res_t *res, void *ud) {
  forward_t *f = ud;
  if (res->status == 421) {
    const duro_header_t *h = duro_http_client_header(res, DURO_OWNER_HEADER);
    size_t vl = h ? h->value_len : 0;
    const char *v = h ? duro_trim_ows(h->value, &vl) : NULL;
    misdirected(f, v, vl);
  } else if (res->status) {
    relay_answer(f, res);
  } else {
    failed(f, res->reached, res->answered, res->err == DURO_ETIMEDOUT,
           res->error);
  }
}

/* ---- starting ------------------------------------------------------------ */

/* Sends the request to f->node (one try). */
static void send_hop(forward_t *f) {
  f->tries++;
  size_t n;
  duro_header_t *hs = hop_headers(f, &n);
  duro_http_client_request(f->o.loop, &f->node, f->req->method, f->target, hs,
                           n, f->req->body.data, f->req->body.len,
                           f->o.timeout_ms, f->o.max_body, on_answer, f);
  duro_free(hs);
}

void duro_forward(duro_http_req_t *req, const char *url,
                  const duro_forward_opts_t *o) {
  if (!o->secret) {
    duro_http_respond_text(req, 500, NULL,
                           "Internal Server Error: forwarding needs "
                           "DURO_INTERNAL_SECRET");
    return;
  }
  if (req->upgrade) { /* a WebSocket travels over a node link (link.h) */
    duro_http_respond_text(req, 500, NULL,
                           "Internal Server Error: an upgrade cannot be "
                           "forwarded as a request");
    return;
  }
  forward_t *f = duro_calloc(1, sizeof(*f));
  f->req = req;
  if (parse_node(url, &f->node) < 0) {
    duro_log_warn("forward: '%s' is not an http:// node URL", url);
    answer(f, 502, "Bad Gateway: object's owner node has a bad URL");
    return;
  }
  f->o = *o;
  f->secret = duro_strdup(o->secret);
  f->o.secret = f->secret;
  if (!f->o.timeout_ms)
    f->o.timeout_ms = DEFAULT_TIMEOUT_MS;
  if (!f->o.max_body)
    f->o.max_body = DEFAULT_MAX_BODY;
  f->url = duro_strdup(url);
  f->target = origin_target(req);
  send_hop(f);
}
