/*
 * node.c: see node.h.
 *
 * Timing. The lease is LEASE_MS by PostgreSQL's clock from the moment the
 * renewal ran there, which is after the moment this node sent it: so the
 * node's own deadline, measured on its clock from the send, is never later
 * than the real one. It fences itself FENCE_MARGIN_MS before that
 * deadline, which leaves room for a loop turn and a clock that runs a
 * little slow. Renewals go out every RENEW_MS, so three in a row may fail
 * before the node fences.
 *
 * Rejoining. A node that fenced itself registers again; registration
 * takes the node's row only once its old lease has lapsed (store/owners.h),
 * so another node always had the chance to claim its objects first.
 */
#include "backend/node.h"

#include <string.h>

#include "backend/cluster.h"
#include "backend/forward.h"
#include "backend/link.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "http/client.h"
#include "store/owners.h"
#include "store/store.h"

#define LEASE_MS 2000
#define RENEW_MS 500
#define FENCE_MARGIN_MS 500
#define TICK_MS 100
#define ORPHAN_SCAN_MS 1000
#define ORPHAN_AHEAD_MS 2000 /* adopt alarms due this soon */
#define ORPHAN_LIMIT 256
#define FORWARD_TIMEOUT_MS 30000
#define FORWARD_MAX_BODY (16u << 20)
#define CACHE_SLOTS 1024 /* objects whose owner differs from the hash */
#define CACHE_TTL_MS 10000

/* An object that a claim showed to be owned elsewhere. */
typedef struct cached_owner {
  char id[65];
  char url[DURO_ADVERTISE_MAX + 1];
  uint64_t until; /* loop ms */
} cached_owner_t;

struct duro_node {
  uv_loop_t *loop;
  duro_runtime_t *rt;
  duro_store_t *ctl; /* the lease's own connection */
  char id[DURO_NODE_ID_MAX + 1];
  char advertise[DURO_ADVERTISE_MAX + 1];
  const char *secret;
  size_t secret_len;
  uv_timer_t tick;
  int registered;      /* holds its lease (as far as it knows) */
  int job_in_flight;
  int said_busy;       /* logged that the id is held by a live node */
  int said_failure;    /* logged a failed renewal since the last success */
  int read_own;        /* its previous life's alarms are still to be read */
  uint64_t lease_from; /* loop ms when the last good renewal was sent */
  uint64_t next_renew, next_scan;
  duro_owner_t *live; /* the live nodes, by id */
  size_t nlive;
  cached_owner_t *cache; /* CACHE_SLOTS, by the id's first bytes */
  duro_forward_opts_t fwd;
  duro_backend_t *backend;
  duro_links_t *links; /* WebSockets to objects on other nodes */
  uint64_t forwarded, fences;
  void (*stopped)(void *data);
  void *stopped_data;
};

/* ---- placement ------------------------------------------------------------------ */

static uint64_t mix(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 0x100000001b3ull; /* FNV-1a */
  return h;
}

static uint64_t finish64(uint64_t x) { /* splitmix64's finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Rendezvous hashing: the live node with the highest score for id (the
 * smaller id on a tie), or NULL when none is known. Every node that knows
 * the same live nodes picks the same one; a node joining or leaving moves
 * only the objects it wins or had won. */
static const duro_owner_t *pick(const duro_node_t *n, const char *id) {
  const duro_owner_t *best = NULL;
  uint64_t best_score = 0;
  uint64_t h = mix(0xcbf29ce484222325ull, id);
  for (size_t i = 0; i < n->nlive; i++) {
    uint64_t score = finish64(mix(h, n->live[i].node_id));
    if (!best || score > best_score) {
      best = &n->live[i];
      best_score = score;
    }
  }
  return best;
}

static cached_owner_t *cache_slot(const duro_node_t *n, const char *id) {
  return &n->cache[mix(0xcbf29ce484222325ull, id) % CACHE_SLOTS];
}

static void cache_put(duro_node_t *n, const char *id, const char *url) {
  cached_owner_t *c = cache_slot(n, id);
  memcpy(c->id, id, sizeof(c->id));
  if (duro_fmt(c->url, sizeof(c->url), "%s", url) < 0)
    c->id[0] = '\0'; /* does not fit: not cached */
  c->until = uv_now(n->loop) + CACHE_TTL_MS;
}

static const char *cache_get(const duro_node_t *n, const char *id) {
  const cached_owner_t *c = cache_slot(n, id);
  if (memcmp(c->id, id, 65) != 0 || c->until <= uv_now(n->loop))
    return NULL;
  return c->url;
}

/* Forgets the owners that are no longer live nodes (their objects will be
 * claimed by others, found through the hash again). */
static void cache_prune(duro_node_t *n) {
  for (size_t i = 0; i < CACHE_SLOTS; i++) {
    cached_owner_t *c = &n->cache[i];
    if (!c->id[0])
      continue;
    int live = 0;
    for (size_t k = 0; k < n->nlive && !live; k++)
      live = strcmp(n->live[k].advertise, c->url) == 0;
    if (!live)
      c->id[0] = '\0';
  }
}

/* ---- forwarding ------------------------------------------------------------------ */

/* The node at url did not answer: forget it until the next renewal says
 * it is live, so that the next requests go to the others. */
static void on_unreachable(void *ud, const char *url) {
  duro_node_t *n = ud;
  for (size_t i = 0; i < CACHE_SLOTS; i++)
    if (strcmp(n->cache[i].url, url) == 0)
      n->cache[i].id[0] = '\0';
  for (size_t i = 0; i < n->nlive; i++)
    if (strcmp(n->live[i].advertise, url) == 0 &&
        strcmp(n->live[i].node_id, n->id) != 0) {
      memmove(&n->live[i], &n->live[i + 1],
              (n->nlive - i - 1) * sizeof(n->live[0]));
      n->nlive--;
      break;
    }
}

/* A WebSocket goes over the link to that node (one per pair of nodes,
 * where broadcasts travel once); any other request is replayed. */
static void forward(duro_node_t *n, const char *id, duro_http_req_t *req,
                    const char *url) {
  n->forwarded++;
  if (req->upgrade) {
    duro_links_relay(n->links, req, url);
    return;
  }
  duro_forward_opts_t o = n->fwd; /* copied by duro_forward */
  memcpy(o.key, id, sizeof(o.key));
  duro_forward(req, url, &o);
}

/* A node that was not the owner named the owner (421): its next requests
 * go there directly. */
static void on_learned(void *ud, const char *id, const char *url) {
  duro_node_t *n = ud;
  if (strlen(id) == 64) /* C string: the key given to duro_forward */
    cache_put(n, id, url);
}

static int route(void *ud, const char *binding, const char *id,
                 duro_http_req_t *req) {
  (void)binding;
  duro_node_t *n = ud;
  const char *url = cache_get(n, id);
  if (duro_forward_is_hop(req, n->secret, n->secret_len)) {
    /* sent here by another node: served here, or the owner named (a
     * claim just showed it; no claim again for every hop) */
    if (url && strcmp(url, n->advertise) != 0) {
      duro_forward_misdirected(req, url);
      return 1;
    }
    return 0;
  }
  if (!url) {
    const duro_owner_t *o = pick(n, id);
    url = o ? o->advertise : NULL;
  }
  if (!url || strcmp(url, n->advertise) == 0)
    return 0;
  forward(n, id, req, url);
  return 1;
}

static void misplaced(void *ud, const char *id, duro_http_req_t *req,
                      const duro_owner_t *owner) {
  duro_node_t *n = ud;
  if (!owner->advertise[0] || strcmp(owner->advertise, n->advertise) == 0) {
    duro_header_t h = {"Retry-After", 11, "1", 1};
    static const char why[] = "Service Unavailable: the object's owner "
                              "cannot be reached yet; try again";
    duro_http_respond(req, 503, &h, 1, why, sizeof(why) - 1);
    return;
  }
  cache_put(n, id, owner->advertise);
  if (duro_forward_is_hop(req, n->secret, n->secret_len)) {
    duro_forward_misdirected(req, owner->advertise); /* the entry node
                                                        sends it on */
    return;
  }
  forward(n, id, req, owner->advertise);
}

/* A stub call on its way to the owner, over the binding protocol. */
typedef struct remote_call {
  duro_remote_done_fn done;
  void *ctx;
} remote_call_t;

static void call_answered(const duro_http_client_res_t *res, void *ud) {
  remote_call_t *c = ud;
  duro_remote_res_t r = {.status = res->status,
                         .err = res->status ? 0 : DURO_EIO,
                         .headers = res->headers,
                         .nheaders = res->nheaders,
                         .body = res->body,
                         .len = res->body_len};
  c->done(c->ctx, &r);
  duro_free(c);
}

/* Appends name percent-encoded (all but RFC 3986's unreserved bytes). */
static void put_name(duro_buf_t *b, const char *name) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
        (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
        *p == '~') {
      duro_buf_append(b, p, 1);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      duro_buf_append(b, e, 3);
    }
  }
}

/* The stub call req for the object of binding (by name, or by id) goes to
 * owner as /_objects/... or /_object_ids/..., marked as a hop (the owner
 * serves it or answers 421, which the caller sees as that status). */
static void call(void *ud, const char *binding, const char *name,
                 const char *id, const duro_http_req_t *req,
                 const duro_owner_t *owner, duro_remote_done_fn done,
                 void *ctx) {
  duro_node_t *n = ud;
  duro_url_t url;
  char err[128];
  remote_call_t *c = duro_malloc(sizeof(*c));
  c->done = done;
  c->ctx = ctx;
  if (duro_url_parse(owner->advertise, &url, err, sizeof(err)) < 0) {
    duro_http_client_res_t failed = {.err = DURO_EINVAL, .error = err};
    call_answered(&failed, c); /* its own advertised URL: cannot happen */
    return;
  }
  duro_buf_t path = DURO_BUF_INIT;
  duro_buf_append_str(&path, name ? "/_objects/" : "/_object_ids/");
  duro_buf_append_str(&path, binding);
  duro_buf_append(&path, "/", 1);
  if (name)
    put_name(&path, name);
  else
    duro_buf_append_str(&path, id);
  duro_buf_append(&path, req->target, req->target_len);
  duro_buf_append(&path, "", 1); /* NUL */
  size_t m = req->nheaders;
  duro_header_t *hs = duro_calloc(m + 2, sizeof(*hs));
  memcpy(hs, req->headers, m * sizeof(*hs));
  hs[m++] = (duro_header_t){"X-Duro-Internal-Secret", 22, n->secret,
                            n->secret_len};
  hs[m++] = (duro_header_t){DURO_HOP_HEADER, sizeof(DURO_HOP_HEADER) - 1,
                            n->secret, n->secret_len};
  n->forwarded++;
  duro_http_client_request(n->loop, &url, req->method,
                           (const char *)path.data, hs, m, req->body.data,
                           req->body.len, FORWARD_TIMEOUT_MS,
                           FORWARD_MAX_BODY, call_answered, c);
  duro_free(hs);
  duro_buf_free(&path);
}

/* ---- the lease -------------------------------------------------------------------- */

/* One round on the node's connection: register or renew, the live nodes,
 * and (now and then) the alarms nobody owns. Runs on the store's worker:
 * it reads only its own copy of what it needs. */
typedef struct lease_job {
  duro_node_t *n;
  char id[DURO_NODE_ID_MAX + 1];
  char advertise[DURO_ADVERTISE_MAX + 1];
  int registering;
  int64_t orphans_before; /* 0: no scan this round */
  uint64_t started;       /* ms on the loop's clock, when the worker began */
  char why[256];
  duro_owner_t *live;
  size_t nlive;
  duro_alarm_row_t *orphans;
  size_t norphans;
  int read_own;          /* read its previous life's alarms (new life) */
  int own_read;
  duro_alarm_row_t *own;
  size_t nown;
} lease_job_t;

static int lease_work(duro_store_db_t *db, void *arg) {
  lease_job_t *j = arg;
  /* the lease runs from when PostgreSQL executes the statement, which is
   * after this moment (uv_now is this clock in ms, cached per turn) */
  j->started = uv_hrtime() / 1000000;
  int rc = j->registering ? duro_owners_register(db, j->id, j->advertise,
                                                 LEASE_MS, j->why,
                                                 sizeof(j->why))
                          : duro_owners_renew(db, j->id, LEASE_MS);
  if (rc < 0)
    return rc;
  j->own_read = j->read_own &&
                duro_owners_node_alarms(db, j->id, &j->own, &j->nown) == 0;
  if (duro_owners_live(db, &j->live, &j->nlive) < 0)
    j->nlive = 0; /* the lease is what counts; the list comes next time */
  if (j->orphans_before &&
      duro_owners_orphan_alarms(db, j->orphans_before, ORPHAN_LIMIT,
                                &j->orphans, &j->norphans) < 0)
    j->norphans = 0;
  return 0;
}

/* The alarms nobody owns that rendezvous hashing gives this node. */
static void adopt_orphans(duro_node_t *n, duro_alarm_row_t *rows, size_t m) {
  size_t k = 0;
  for (size_t i = 0; i < m; i++) {
    const duro_owner_t *o = pick(n, rows[i].object_id);
    if (o && strcmp(o->node_id, n->id) == 0) {
      duro_alarm_row_t tmp = rows[k];
      rows[k++] = rows[i];
      rows[i] = tmp;
    }
  }
  if (k)
    duro_runtime_adopt_alarms(n->rt, rows, k);
}

/* Serves nothing from now on. The node's row stays registered unless its
 * lease is known to have lapsed: a renewal that still succeeds proves
 * nobody could claim its objects meanwhile, so it serves again at once. */
static void fence(duro_node_t *n, const char *why) {
  if (!duro_runtime_fenced(n->rt)) {
    n->fences++;
    duro_log_warn("node %s: fenced, serving nothing until it holds a lease "
                  "again: %s",
                  n->id, why);
  }
  duro_runtime_fence(n->rt, why);
}

static void lease_done(int status, void *arg) {
  lease_job_t *j = arg;
  duro_node_t *n = j->n;
  n->job_in_flight = 0;
  if (status == 0) {
    if (j->registering || !n->registered)
      duro_log_info("node %s: in the cluster at %s (%zu live node%s)", n->id,
                    n->advertise, j->nlive, j->nlive == 1 ? "" : "s");
    n->registered = 1;
    n->said_busy = n->said_failure = 0;
    n->lease_from = j->started;
    if (j->nlive) {
      duro_free(n->live);
      n->live = j->live;
      n->nlive = j->nlive;
      j->live = NULL;
      cache_prune(n);
    }
    if (j->registering)
      n->read_own = 1; /* a new life: its old objects' alarms are its own */
    if (j->own_read) {
      n->read_own = 0;
      if (j->nown)
        duro_runtime_adopt_alarms(n->rt, j->own, j->nown);
    }
    adopt_orphans(n, j->orphans, j->norphans);
    duro_runtime_unfence(n->rt);
  } else if (status == DURO_EBUSY) {
    if (!n->said_busy)
      duro_log_warn("node %s: %s; waiting for its lease to lapse", n->id,
                    j->why);
    n->said_busy = 1;
  } else if (status == DURO_ESTALE) {
    n->registered = 0; /* registers again: a new life */
    fence(n, "Service Unavailable: this node's lease lapsed; try again");
  } else if (status != DURO_ECANCELED) {
    if (!n->said_failure)
      duro_log_error("node %s: renewing the lease failed: %s%s%s", n->id,
                     duro_strerror(status), j->why[0] ? ": " : "", j->why);
    n->said_failure = 1;
  }
  duro_free(j->live);
  duro_store_alarms_free(j->orphans, j->norphans);
  duro_store_alarms_free(j->own, j->nown);
  duro_free(j);
}

static void send_lease_job(duro_node_t *n, uint64_t now) {
  lease_job_t *j = duro_calloc(1, sizeof(*j));
  j->n = n;
  memcpy(j->id, n->id, sizeof(j->id));
  memcpy(j->advertise, n->advertise, sizeof(j->advertise));
  j->registering = !n->registered;
  j->read_own = n->read_own || j->registering;
  if (now >= n->next_scan) {
    j->orphans_before = duro_now_ms() + ORPHAN_AHEAD_MS;
    n->next_scan = now + ORPHAN_SCAN_MS;
  }
  n->job_in_flight = 1;
  n->next_renew = now + RENEW_MS;
  duro_store_run(n->ctl, lease_work, lease_done, j);
}

static void on_tick(uv_timer_t *t) {
  duro_node_t *n = t->data;
  uint64_t now = uv_now(n->loop);
  /* lease_from came from a finer clock: it may be a little ahead */
  if (n->registered && !duro_runtime_fenced(n->rt) && now > n->lease_from &&
      now - n->lease_from >= LEASE_MS - FENCE_MARGIN_MS)
    fence(n, "Service Unavailable: this node cannot renew its lease "
             "(PostgreSQL unreachable?); try again");
  if (!n->job_in_flight && now >= n->next_renew)
    send_lease_job(n, now);
}

/* ---- start and stop ------------------------------------------------------------- */

/* The advertised URL: given, or the listener's own address. */
static int advertise_url(duro_node_t *n, const duro_config_t *cfg, int port,
                         char *err, size_t errlen) {
  const char *given = duro_cluster_advertise(cfg);
  duro_url_t u;
  if (given) {
    if (duro_url_parse(given, &u, err, errlen) < 0)
      return DURO_EINVAL;
    if (u.https)
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "--advertise: nodes reach each other over "
                          "http:// (TLS between nodes is not supported yet: "
                          "keep them on a private network)");
    if (u.base_path[0])
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "--advertise: expected http://host:port, without "
                          "a path");
    if (duro_fmt(n->advertise, sizeof(n->advertise), "%s", given) < 0)
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "--advertise: the URL is too long");
    /* as given, but without a trailing '/' so that URLs compare equal */
    size_t len = strlen(n->advertise); /* C string: duro_fmt'd */
    if (len && n->advertise[len - 1] == '/')
      n->advertise[len - 1] = '\0';
    return 0;
  }
  if (strcmp(cfg->host, "0.0.0.0") == 0 || strcmp(cfg->host, "::") == 0 ||
      strcmp(cfg->host, "[::]") == 0)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "cluster mode: listening on %s, the other nodes "
                        "need --advertise http://host:port to reach this one",
                        cfg->host);
  int v6 = strchr(cfg->host, ':') != NULL; /* C string: from the config */
  if (duro_fmt(n->advertise, sizeof(n->advertise), "http://%s%s%s:%d",
               v6 ? "[" : "", cfg->host, v6 ? "]" : "", port) < 0)
    return duro_err_fmt(DURO_EINVAL, err, errlen, "host name too long");
  return 0;
}

/* The node id: given, or the advertised URL without its scheme. */
static int node_name(duro_node_t *n, const duro_config_t *cfg, char *err,
                     size_t errlen) {
  const char *given = duro_cluster_node_id(cfg);
  if (!given) {
    size_t len = strlen(n->advertise); /* C string: duro_fmt'd */
    const char *sep = memmem(n->advertise, len, "://", 3);
    given = sep ? sep + 3 : n->advertise;
  }
  if (duro_fmt(n->id, sizeof(n->id), "%s", given) < 0)
    return duro_err_fmt(DURO_EINVAL, err, errlen,
                        "--node-id: at most %d bytes", DURO_NODE_ID_MAX);
  for (const char *p = n->id; *p; p++)
    if ((unsigned char)*p < 0x21 || *p == 0x7f)
      return duro_err_fmt(DURO_EINVAL, err, errlen,
                          "--node-id: no spaces or control characters");
  return 0;
}

int duro_node_start(duro_node_t **out, uv_loop_t *loop, duro_runtime_t *rt,
                    duro_backend_t *b, const duro_config_t *cfg,
                    const char *conninfo, const char *secret, char *err,
                    size_t errlen) {
  int listen_port = duro_listener_port(&b->listener);
  *out = NULL;
  duro_node_t *n = duro_calloc(1, sizeof(*n));
  n->loop = loop;
  n->rt = rt;
  n->secret = secret;
  n->secret_len = secret ? strlen(secret) : 0; /* C string: from the env */
  int rc = advertise_url(n, cfg, listen_port, err, errlen);
  if (rc == 0)
    rc = node_name(n, cfg, err, errlen);
  if (rc == 0)
    rc = duro_store_open_postgres(loop, conninfo, 1, &n->ctl, err, errlen);
  if (rc < 0) {
    duro_free(n);
    return rc;
  }
  n->cache = duro_calloc(CACHE_SLOTS, sizeof(*n->cache));
  n->backend = b;
  n->links = duro_links_new(loop, b->listener.net, &b->http_opts, secret,
                            on_unreachable, n);
  b->links = n->links;
  n->fwd = (duro_forward_opts_t){.loop = loop,
                                 .secret = secret,
                                 .timeout_ms = FORWARD_TIMEOUT_MS,
                                 .max_body = FORWARD_MAX_BODY,
                                 .unreachable = on_unreachable,
                                 .learned = on_learned,
                                 .ud = n};
  duro_cluster_hooks_t hooks = {
      .route = route, .misplaced = misplaced, .call = call, .ud = n};
  duro_runtime_set_cluster(rt, n->id, &hooks);
  duro_store_set_node(duro_runtime_store(rt), n->id);
  duro_runtime_fence(rt, "Service Unavailable: joining the cluster; try "
                         "again");
  uv_timer_init(loop, &n->tick);
  n->tick.data = n;
  uv_timer_start(&n->tick, on_tick, 0, TICK_MS);
  *out = n;
  return 0;
}

static void on_ctl_closed(void *data) {
  duro_node_t *n = data;
  n->backend->links = NULL;
  duro_links_free(n->links);
  void (*cb)(void *) = n->stopped;
  void *cb_data = n->stopped_data;
  duro_free(n->live);
  duro_free(n->cache);
  duro_free(n);
  if (cb)
    cb(cb_data);
}

static void on_tick_closed(uv_handle_t *h) {
  duro_node_t *n = h->data;
  duro_store_close(n->ctl, on_ctl_closed, n);
}

static int release_work(duro_store_db_t *db, void *arg) {
  const duro_node_t *n = arg; /* id only: fixed since start */
  return duro_owners_release(db, n->id);
}

static void release_done(int status, void *arg) {
  duro_node_t *n = arg;
  if (status == 0)
    duro_log_info("node %s: lease released; its objects may move now",
                  n->id);
  else if (status != DURO_ECANCELED)
    duro_log_warn("node %s: releasing the lease failed (%s); it lapses in "
                  "%d ms",
                  n->id, duro_strerror(status), LEASE_MS);
  uv_close((uv_handle_t *)&n->tick, on_tick_closed);
}

void duro_node_stop(duro_node_t *n, void (*cb)(void *data), void *data) {
  n->stopped = cb;
  n->stopped_data = data;
  uv_timer_stop(&n->tick);
  if (n->registered) /* else the id's lease may be another process's */
    duro_store_run(n->ctl, release_work, release_done, n);
  else
    uv_close((uv_handle_t *)&n->tick, on_tick_closed);
}

void duro_node_stats(const duro_node_t *n, duro_node_stats_t *out) {
  out->serving = n->registered && !duro_runtime_fenced(n->rt);
  out->live_nodes = n->nlive;
  out->forwarded = n->forwarded;
  out->fences = n->fences;
}
