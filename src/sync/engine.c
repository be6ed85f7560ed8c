/*
 * engine.c: the LiveStore 0.4 sync engine (seed 004_*,
 * livestore-sync-v0.4.md): the class behind duro_sync_class_init, of which
 * the built-in SyncBackend (src/classes/sync.c) is one instance and a
 * user's hooked class another. One object per storeId (binding
 * LIVESTORE_SYNC); the backend routes a sync request to it after the
 * connect-time auth check (src/backend/backend.c).
 *
 * Storage is the store's own event log table (store/eventlog.h), reached
 * only through store jobs (duro_object_job, src/sync/jobs.c): a push is
 * one job that checks and appends in one transaction; a pull reads the
 * log in pages, each page one job. Jobs of all objects run in submission
 * order on the one storage worker, and their completions come back as
 * events of this object in the same order. Everything below leans on
 * that order:
 *
 *  - pushes to a store serialise, and their completions (which send the
 *    acknowledgement and the broadcast) arrive in seqNum order;
 *  - when a page read completes, every push that ran before it has
 *    already completed here, and every later push completes after it.
 *    So a pull subscription is first a backlog (pages read from the log up
 *    to the head seen by its first read, paced by the client's Acks, at
 *    most BACKLOG_WINDOW chunks unacknowledged), then a catch-up (pages up
 *    to whatever the head is, for pushes that landed meanwhile), and only
 *    when it has everything up to the head known here does it become live
 *    and receive broadcasts. Pushes completing while a subscription is not
 *    live are not buffered for it; its next page read finds them. Each
 *    event reaches each subscription once, in order, backlog first.
 *
 * Sends go through the output gate like any class's. The engine writes
 * nothing to its objects' kv storage (durability of pushes comes from the
 * job completing after COMMIT), so the gate releases them at the end of
 * the event that made them: in the same loop turn, before the flush. A
 * hook that writes storage holds them until its writes are durable, as
 * it should. A broadcast Chunk is three pieces per subscriber
 * (duro_socket_send_frame): a small head (frame header, envelope, the
 * subscriber's request id) and two chunks shared by every subscriber
 * (the PullResponse built once on the storage thread, and the closing
 * "]}").
 *
 * Per-runtime settings and the webhook sender (sync_ctx_t) are found in
 * the runtime's slot for the engine when an object starts (sync.h);
 * per-socket state (sconn_t) hangs off the socket's attachment (the
 * pointer's bytes).
 * Subscriptions and connections are refcounted because a job in flight
 * may outlive the socket it answers.
 */
#include <stddef.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"
#include "core/str.h"
#include "objects/runtime.h"
#include "store/eventlog.h"
#include "sync/jobs.h"
#include "sync/options.h"
#include "sync/proto.h"
#include "sync/sync.h"
#include "sync/webhook.h"
#include "ws/frame.h"

#define BACKLOG_WINDOW 16      /* backlog chunks sent but not yet acked */
#define BACKLOG_BYTES (1u << 20) /* ... and their bytes (past the first) */
#define PAGE_EVENTS 4000       /* events per page read */
#define PAGE_BYTES (4u << 20)  /* ... or about this many bytes */
#define REFILL_BELOW 24        /* read the next page when fewer queued */
#define HTTP_PULL_EVENTS 10000 /* events in one HTTP pull answer */
#define MAX_PULLS_PER_SOCKET 64 /* open pulls on one connection */
#define HTTP_PULL_BYTES (16u << 20)
#define DEFAULT_MAX_MESSAGE (1u << 20) /* without a setup: the config's */

/* ---- the per-runtime context ------------------------------------------------ */

/* The key of the engine's runtime slot (duro_runtime_set_slot): its
 * address, which nothing else can have. */
static const char ctx_slot;

struct sync_ctx {
  unsigned refs;             /* the setup's, and one per sync object */
  duro_runtime_t *rt;        /* the runtime it hangs on; NULL once stopped */
  const duro_config_t *cfg;  /* borrowed for the process's life */
  sync_webhook_t *webhook;   /* NULL when sync.webhook is unset */
  duro_sync_stats_t stats;   /* duro_sync_stats */
};

static void ctx_unref(sync_ctx_t *c) {
  if (!c || --c->refs)
    return;
  if (c->webhook)
    duro_sync_webhook_free(c->webhook);
  duro_free(c);
}

int duro_sync_setup(duro_runtime_t *rt, const duro_config_t *cfg,
                    uv_loop_t *loop, sync_ctx_t **out, char *err,
                    size_t errlen) {
  *out = NULL;
  if (duro_runtime_slot(rt, &ctx_slot))
    return duro_err_fmt(DURO_EEXIST, err, errlen,
                        "sync: this runtime is already set up");
  sync_webhook_t *w = NULL;
  const char *webhook = duro_sync_config(cfg)->webhook;
  if (webhook) {
    char why[200];
    w = duro_sync_webhook_new(loop, webhook, why, sizeof(why));
    if (!w)
      return duro_err_fmt(DURO_EINVAL, err, errlen, "sync.webhook: %s", why);
  }
  sync_ctx_t *c = duro_calloc(1, sizeof(*c));
  c->refs = 1;
  c->rt = rt;
  c->cfg = cfg;
  c->webhook = w;
  if (duro_runtime_set_slot(rt, &ctx_slot, c) < 0) {
    ctx_unref(c);
    return duro_err_fmt(DURO_ENOSPC, err, errlen,
                        "sync: the runtime has no free slot");
  }
  *out = c;
  return 0;
}

void duro_sync_stop(sync_ctx_t *c) {
  if (!c)
    return;
  if (c->rt && duro_runtime_slot(c->rt, &ctx_slot) == c)
    duro_runtime_set_slot(c->rt, &ctx_slot, NULL);
  c->rt = NULL;
  ctx_unref(c);
}

size_t duro_sync_cors_headers(const duro_config_t *cfg, duro_header_t hs[3],
                              const char *req_headers, size_t req_len) {
  if (!cfg || !duro_sync_config(cfg)->cors)
    return 0;
  hs[0] = (duro_header_t){"Access-Control-Allow-Origin", 27, "*", 1};
  hs[1] = (duro_header_t){"Access-Control-Allow-Methods", 28,
                          "GET, POST, OPTIONS", 18};
  if (req_headers && req_len && !memchr(req_headers, '\r', req_len) &&
      !memchr(req_headers, '\n', req_len))
    hs[2] = (duro_header_t){"Access-Control-Allow-Headers", 28, req_headers,
                            req_len};
  else
    hs[2] = (duro_header_t){"Access-Control-Allow-Headers", 28, "*", 1};
  return 3;
}

/* ---- state ------------------------------------------------------------------- */

typedef struct sync_state sync_state_t;
typedef struct sconn sconn_t;
typedef struct ssub ssub_t;

struct sync_state {
  duro_evlog_key_t key;
  int64_t head;               /* the head as far as completed jobs tell */
  char backend_id[DURO_EVLOG_BACKEND_ID_LEN + 1];
  duro_list_t conns;          /* sconn_t */
  duro_list_t live;           /* live ssub_t, in the order they went live */
  const duro_sync_hooks_t *hooks;
  sync_ctx_t *ctx;            /* referenced; NULL: defaults */
  duro_chunk_t *tail;         /* "]}" */
  sync_event_t events[SYNC_MAX_BATCH]; /* parse scratch */
};

typedef struct sync_obj {
  sync_state_t *st;
} sync_obj_t;

struct sconn {
  duro_list_t node;           /* in st->conns */
  duro_socket_t *sock;        /* NULL once closed */
  duro_list_t subs;           /* ssub_t */
  unsigned nsubs;
  unsigned refs;
};

enum { SUB_BACKLOG, SUB_LIVE, SUB_DONE };

struct ssub {
  duro_list_t cnode;          /* in conn->subs */
  duro_list_t lnode;          /* in st->live while live */
  sconn_t *conn;
  char id[SYNC_MAX_ID_TOKEN + 1];
  size_t id_len;
  char *payload;              /* the Pull's payload JSON (for hooks) */
  size_t payload_len;
  uint8_t live_req, state, reading, read_done, more_known;
  sync_ctx_t *live_ctx;       /* counted in its live_pulls; NULL: not */
  int64_t last;               /* last seqNum read for (or sent to) it */
  int64_t end;                /* backlog end; -1: the head at next read */
  duro_chunk_t **q;           /* Chunk messages read, not yet sent */
  size_t qh, qn, qcap;
  unsigned unacked;
  size_t unacked_bytes;
  uint32_t sizes[BACKLOG_WINDOW]; /* bytes of the unacked chunks, FIFO */
  unsigned acked_pos;             /* ring index of the oldest */
  unsigned refs;
};

/* ---- small helpers --------------------------------------------------------------- */

static sync_span_t span_of(const char *p, size_t n) {
  sync_span_t s = {p, n};
  return s;
}

static void conn_unref(sconn_t *c) {
  if (--c->refs == 0)
    duro_free(c);
}

static void sub_unref(ssub_t *s) {
  if (--s->refs)
    return;
  for (size_t i = s->qh; i < s->qn; i++)
    duro_chunk_unref(s->q[i]);
  duro_free(s->q);
  duro_free(s->payload);
  conn_unref(s->conn);
  duro_free(s);
}

static void sub_kill(ssub_t *s) {
  if (s->state == SUB_DONE)
    return;
  s->state = SUB_DONE;
  s->conn->nsubs--;
  if (s->live_ctx)
    s->live_ctx->stats.live_pulls--;
  s->live_ctx = NULL;
  duro_list_remove(&s->cnode);
  duro_list_remove(&s->lnode);
  for (size_t i = s->qh; i < s->qn; i++)
    duro_chunk_unref(s->q[i]);
  s->qh = s->qn = 0;
  sub_unref(s);
}

/*
 * Takes an answer the worker built (jobs.h) over as a chunk with one
 * reference, without copying its bytes: the block was allocated with a
 * chunk header's room in front, and the header is written here, on the
 * loop (duro_chunk_adopt), so the worker never touches a chunk.
 */
static duro_chunk_t *out_adopt(sync_out_t *o) {
  duro_chunk_t *c = duro_chunk_adopt(o->mem, o->len);
  o->mem = NULL;
  o->len = 0;
  return c;
}

/* A chunk holding the header of one text frame of payload bytes, followed
 * by a copy of head's head_len bytes (the payload's first ones). */
static duro_chunk_t *frame_head(size_t payload, const void *head,
                                size_t head_len) {
  uint8_t hdr[DURO_WS_MAX_HEADER];
  size_t hl = duro_ws_write_header(hdr, DURO_WS_OP_TEXT, 1, payload, NULL);
  duro_chunk_t *hc = duro_chunk_new(hl + head_len);
  memcpy(hc->data, hdr, hl);
  if (head_len)
    memcpy(hc->data + hl, head, head_len);
  return hc;
}

/* Sends one text message whose bytes are parts (the first a frame_head
 * for them all). */
static void send_parts(sconn_t *c, duro_chunk_t *const *parts, size_t n) {
  if (c->sock)
    duro_socket_send_frame(c->sock, parts, n);
}

/* Sends b's bytes as one text message to c and empties b. */
static void send_buf(sconn_t *c, duro_buf_t *b) {
  if (c->sock)
    duro_socket_send(c->sock, 1, b->data, b->len);
  b->len = 0;
}

enum hook { HOOK_PUSH, HOOK_PULL, HOOK_PUSH_RES, HOOK_PULL_RES };

/*
 * Runs hook `which` of st's class, when it has one, for the request id
 * (escaped) with its payload (JSON, may be NULL) and the hook's own fields
 * already in *in (the rest of *in is filled here). Returns 0 (no hook, or
 * it let the request through) or the hook's result; err (errlen > 0) then
 * holds a C string: the hook's text (cut at errlen - 1 bytes, should it
 * fill the buffer without a NUL) or a default when it refused without
 * saying why.
 */
static int run_hook(duro_object_t *o, const sync_state_t *st, enum hook which,
                    sync_span_t id, const char *payload, size_t payload_len,
                    duro_sync_info_t *in, char *err, size_t errlen) {
  static const char *const dflt[] = {
      [HOOK_PUSH] = "onPush hook failed",
      [HOOK_PULL] = "onPull hook failed",
      [HOOK_PUSH_RES] = "onPushRes hook failed",
      [HOOK_PULL_RES] = "onPullRes hook failed",
  };
  const duro_sync_hooks_t *h = st->hooks;
  int (*fn)(duro_object_t *, const duro_sync_info_t *, char *, size_t) =
      !h                       ? NULL
      : which == HOOK_PUSH     ? h->on_push
      : which == HOOK_PULL     ? h->on_pull
      : which == HOOK_PUSH_RES ? h->on_push_res
                               : h->on_pull_res;
  if (!fn)
    return 0;
  in->store_id = st->key.store_id;
  in->store_id_len = st->key.store_id_len;
  /* Hooks see the id's text ("7" for both "7" and 7), as in 0.4.0. */
  sync_span_t text = duro_sync_id_text(id);
  in->request_id = text.p;
  in->request_id_len = text.n;
  in->payload = payload;
  in->payload_len = payload ? payload_len : 0;
  if (which != HOOK_PULL)
    in->cursor = -1;
  err[0] = '\0';
  int rc = fn(o, in, err, errlen);
  err[errlen - 1] = '\0';
  if (rc < 0 && !*err)
    duro_err_fmt(rc, err, errlen, "%s", dflt[which]);
  return rc;
}

/* on_pull_res for one PullResponse (json), as its pull's hook sees it.
 * Returns 0, or the hook's refusal with its text in err. */
static int pull_res_hook(duro_object_t *o, const sync_state_t *st,
                         sync_span_t id, const char *payload,
                         size_t payload_len, const void *json, size_t len,
                         char *err, size_t errlen) {
  duro_sync_info_t in = {.json = json, .json_len = len};
  return run_hook(o, st, HOOK_PULL_RES, id, payload, payload_len, &in, err,
                  errlen);
}

/* The same for a whole Chunk message of request id: its PullResponse is
 * the single value inside "values":[ ... ]}. */
static int chunk_hook(duro_object_t *o, const sync_state_t *st,
                      sync_span_t id, const char *payload, size_t payload_len,
                      const uint8_t *msg, size_t len, char *err,
                      size_t errlen) {
  if (!st->hooks || !st->hooks->on_pull_res)
    return 0;
  duro_buf_t head = DURO_BUF_INIT;
  duro_sync_build_chunk_head(&head, id);
  size_t skip = head.len;
  duro_buf_free(&head);
  if (len < skip + 2)
    return 0;
  return pull_res_hook(o, st, id, payload, payload_len, msg + skip,
                       len - skip - 2, err, errlen);
}

/* Learns the head and backendId from a completed job. */
static void note_store(sync_state_t *st, int64_t head, const char *bid) {
  if (head > st->head)
    st->head = head;
  /* bid is a job's backendId, as long as ours: it always fits */
  if (bid && *bid &&
      duro_fmt(st->backend_id, sizeof(st->backend_id), "%s", bid) < 0)
    st->backend_id[0] = '\0';
}

static void key_copy(duro_evlog_key_t *dst, const duro_evlog_key_t *src) {
  dst->store_id = duro_strndup(src->store_id, src->store_id_len);
  dst->store_id_len = src->store_id_len;
  dst->table = duro_strdup(src->table);
}

static sconn_t *conn_of(duro_socket_t *s) {
  size_t n;
  const void *a = duro_socket_attachment(s, &n);
  sconn_t *c = NULL;
  if (n == sizeof(c))
    memcpy(&c, a, sizeof(c));
  return c;
}

static ssub_t *sub_find(sconn_t *c, sync_span_t id) {
  DURO_LIST_FOREACH(it, &c->subs) {
    ssub_t *s = DURO_CONTAINER_OF(it, ssub_t, cnode);
    if (s->id_len == id.n && memcmp(s->id, id.p, id.n) == 0)
      return s;
  }
  return NULL;
}

static void kill_all_subs(sconn_t *c) {
  while (!duro_list_empty(&c->subs))
    sub_kill(DURO_CONTAINER_OF(c->subs.next, ssub_t, cnode));
}

/* ---- HTTP answers ---------------------------------------------------------------- */

static void http_reply(const sync_state_t *st, duro_request_t *req,
                       duro_buf_t *b) {
  duro_header_t hs[4];
  size_t n = 0;
  hs[n++] = (duro_header_t){"Content-Type", 12, "application/json", 16};
  size_t rl = 0;
  const char *rh =
      duro_request_header(req, "Access-Control-Request-Headers", &rl);
  n += duro_sync_cors_headers(st->ctx ? st->ctx->cfg : NULL, hs + n, rh, rl);
  duro_respond_headers(req, 200, hs, n, b->data, b->len);
}

/* ---- pull: pages, pacing, going live ------------------------------------------ */

typedef struct read_ctx {
  sync_read_job_t *job;
  sync_state_t *st;
  ssub_t *sub;             /* WebSocket pulls */
  duro_request_t *req;     /* HTTP pulls */
  char *payload;           /* HTTP pulls: the request's payload (hooks) */
  size_t payload_len;
} read_ctx_t;

static int read_work(duro_store_db_t *db, void *arg) {
  return duro_sync_read_work(db, ((read_ctx_t *)arg)->job);
}

static void read_done(duro_object_t *o, void *state, int status, void *arg);

static void submit_read(duro_object_t *o, sync_state_t *st, ssub_t *s,
                        int check_backend, const char *cursor_backend) {
  read_ctx_t *ctx = duro_calloc(1, sizeof(*ctx));
  sync_read_job_t *j = duro_calloc(1, sizeof(*j));
  key_copy(&j->key, &st->key);
  memcpy(j->id, s->id, s->id_len);
  j->id_len = s->id_len;
  j->check_backend = check_backend > 0;
  /* Both are SYNC_MAX_ID + 1 bytes: the cursor's id always fits. */
  if (check_backend > 0 &&
      duro_fmt(j->cursor_backend, sizeof(j->cursor_backend), "%s",
               cursor_backend) < 0)
    memcpy(j->cursor_backend, "?", 2); /* as decode_backend: no such id */
  j->after = s->last;
  j->end = s->end;
  j->more_known = s->more_known;
  j->empty_ok = check_backend >= 0 && s->end < 0 && s->more_known;
  j->max_events = PAGE_EVENTS;
  j->max_bytes = PAGE_BYTES;
  ctx->job = j;
  ctx->st = st;
  ctx->sub = s;
  s->refs++;
  s->reading = 1;
  duro_object_job(o, read_work, read_done, ctx);
}

static void sub_fail(sconn_t *c, ssub_t *s, const char *note) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_sync_build_unknown_error(&b, span_of(s->id, s->id_len), note);
  send_buf(c, &b);
  duro_buf_free(&b);
  sub_kill(s);
}

static void backlog_finished(duro_object_t *o, sync_state_t *st, ssub_t *s) {
  if (!s->live_req) {
    duro_buf_t b = DURO_BUF_INIT;
    duro_sync_build_exit_success(&b, span_of(s->id, s->id_len), 0);
    send_buf(s->conn, &b);
    duro_buf_free(&b);
    sub_kill(s);
    return;
  }
  if (st->head > s->last) {
    /* Pushes landed while the backlog went out: read them too. */
    s->read_done = 0;
    s->more_known = 0;
    s->end = -1;
    submit_read(o, st, s, -1, NULL);
    return;
  }
  s->state = SUB_LIVE;
  duro_list_insert_tail(&st->live, &s->lnode);
}

/* Sends what the window allows, reads ahead, finishes the backlog. */
static void sub_pump(duro_object_t *o, sync_state_t *st, ssub_t *s) {
  /* The window: at most BACKLOG_WINDOW chunks and about BACKLOG_BYTES
   * unacknowledged, so a slow client is paced instead of overflowing its
   * send queue (and a chunk bigger than the budget still goes alone). */
  while (s->state == SUB_BACKLOG && s->qh < s->qn &&
         s->unacked < BACKLOG_WINDOW &&
         (s->unacked == 0 ||
          s->unacked_bytes + s->q[s->qh]->len <= BACKLOG_BYTES)) {
    duro_chunk_t *ch = s->q[s->qh++];
    char err[256];
    if (chunk_hook(o, st, span_of(s->id, s->id_len), s->payload,
                   s->payload_len, ch->data, ch->len, err, sizeof(err)) < 0) {
      duro_chunk_unref(ch);
      sub_fail(s->conn, s, err);
      return;
    }
    duro_chunk_t *parts[2] = {frame_head(ch->len, NULL, 0), ch};
    send_parts(s->conn, parts, 2);
    duro_chunk_unref(parts[0]);
    s->sizes[(s->acked_pos + s->unacked) % BACKLOG_WINDOW] = ch->len;
    s->unacked_bytes += ch->len;
    s->unacked++;
    duro_chunk_unref(ch);
  }
  if (s->state != SUB_BACKLOG)
    return;
  if (s->qh == s->qn)
    s->qh = s->qn = 0;
  if (!s->reading && !s->read_done && s->qn - s->qh < REFILL_BELOW)
    submit_read(o, st, s, 0, NULL);
  else if (!s->reading && s->read_done && s->qh == s->qn)
    backlog_finished(o, st, s);
}

/* BackendIdMismatchError for a read whose cursor named another store. */
static void build_mismatch(duro_buf_t *b, sync_span_t id,
                           const sync_read_job_t *j) {
  size_t n = strlen(j->cursor_backend); /* C string: decode_backend's */
  duro_buf_t esc = DURO_BUF_INIT;
  duro_sync_json_append_escaped(&esc, j->cursor_backend, n);
  duro_sync_build_backend_mismatch(b, id, j->backend_id,
                                   span_of((char *)esc.data, esc.len));
  duro_buf_free(&esc);
}

static const uint8_t *out_bytes(const sync_out_t *m) {
  return m->mem + SYNC_OUT_HEADROOM;
}

static void read_done(duro_object_t *o, void *state, int status, void *arg) {
  read_ctx_t *ctx = arg;
  sync_read_job_t *j = ctx->job;
  sync_state_t *st = ctx->st;
  if (status < 0) {
    j->result = DURO_EVLOG_DBERR;
    duro_err_fmt(status, j->err, sizeof(j->err), "storage is closing");
  }
  if (j->result == DURO_EVLOG_OK || j->result == DURO_EVLOG_MISMATCH)
    note_store(st, j->head, j->backend_id);
  if (j->result == DURO_EVLOG_DBERR)
    duro_log(o, DURO_LOG_LEVEL_ERROR, "pull failed: %s", j->err);
  sync_span_t id = span_of(j->id, j->id_len);
  duro_buf_t b = DURO_BUF_INIT;

  if (ctx->req) {
    /* HTTP: the whole answer as one JSON array. */
    duro_buf_append(&b, "[", 1);
    char err[256];
    int refused = 0;
    for (size_t i = 0; j->result == DURO_EVLOG_OK && i < j->nmsgs; i++)
      if (chunk_hook(o, st, id, ctx->payload, ctx->payload_len,
                     out_bytes(&j->msgs[i]), j->msgs[i].len, err,
                     sizeof(err)) < 0) {
        refused = 1;
        break;
      }
    if (refused) {
      duro_sync_build_unknown_error(&b, id, err);
    } else if (j->result == DURO_EVLOG_OK) {
      for (size_t i = 0; i < j->nmsgs; i++) {
        duro_buf_append(&b, out_bytes(&j->msgs[i]), j->msgs[i].len);
        duro_buf_append(&b, ",", 1);
      }
      duro_sync_build_exit_success(&b, id, 0);
    } else if (j->result == DURO_EVLOG_MISMATCH) {
      build_mismatch(&b, id, j);
    } else {
      duro_sync_build_unknown_error(&b, id, j->err);
    }
    duro_buf_append(&b, "]", 1);
    http_reply(st, ctx->req, &b);
    goto out;
  }

  ssub_t *s = ctx->sub;
  s->reading = 0;
  if (s->state == SUB_DONE)
    goto out_sub;
  if (j->result == DURO_EVLOG_MISMATCH) {
    build_mismatch(&b, id, j);
    send_buf(s->conn, &b);
    sub_kill(s);
    goto out_sub;
  }
  if (j->result != DURO_EVLOG_OK) {
    sub_fail(s->conn, s, j->err);
    goto out_sub;
  }
  if (s->end < 0 && s->more_known)
    s->end = j->end_out; /* the backlog ends at the head of the first read */
  if (s->qn + j->nmsgs > s->qcap) {
    s->qcap = (s->qn + j->nmsgs) * 2;
    s->q = duro_realloc(s->q, s->qcap * sizeof(*s->q));
  }
  for (size_t i = 0; i < j->nmsgs; i++)
    s->q[s->qn++] = out_adopt(&j->msgs[i]);
  if (j->last > s->last)
    s->last = j->last;
  if (s->last >= j->end_out)
    s->read_done = 1;
  if (!s->more_known) /* a catch-up page: end is whatever the head is */
    s->end = -1;
  sub_pump(o, st, s);
out_sub:
  sub_unref(s);
out:
  duro_buf_free(&b);
  duro_sync_read_job_free(j);
  duro_free(ctx->payload);
  duro_free(ctx);
}

/* Runs on_pull; a refusal leaves its text in err. */
static int pull_hook(duro_object_t *o, sync_state_t *st, const sync_msg_t *m,
                     char *err, size_t errlen) {
  if (st->ctx)
    st->ctx->stats.pulls++;
  duro_sync_info_t in = {.cursor = m->has_cursor ? m->cursor_seq : -1,
                         .live = m->live};
  return run_hook(o, st, HOOK_PULL, m->id, m->payload.p, m->payload.n, &in,
                  err, errlen);
}

static int decode_backend(const sync_msg_t *m, char out[SYNC_MAX_ID + 1]) {
  size_t n;
  if (m->cursor_backend_id.n > SYNC_MAX_ID ||
      duro_sync_json_unescape(m->cursor_backend_id.p, m->cursor_backend_id.n,
                              out, &n) < 0) {
    /* Too long or odd: no store has such an id. */
    memcpy(out, "?", 2);
  }
  return 0;
}

static void ws_pull(duro_object_t *o, sync_state_t *st, sconn_t *c,
                    const sync_msg_t *m) {
  char err[256];
  duro_buf_t b = DURO_BUF_INIT;
  if (c->nsubs >= MAX_PULLS_PER_SOCKET)
    duro_err_fmt(DURO_EINVAL, err, sizeof(err),
                 "at most %d pulls may be open on one socket",
                 MAX_PULLS_PER_SOCKET);
  if (c->nsubs >= MAX_PULLS_PER_SOCKET ||
      pull_hook(o, st, m, err, sizeof(err)) < 0) {
    duro_sync_build_unknown_error(&b, m->id, err);
    send_buf(c, &b);
    duro_buf_free(&b);
    return;
  }
  ssub_t *s = duro_calloc(1, sizeof(*s));
  memcpy(s->id, m->id.p, m->id.n);
  s->id_len = m->id.n;
  if (m->payload.p) {
    s->payload = duro_strndup(m->payload.p, m->payload.n);
    s->payload_len = m->payload.n;
  }
  s->conn = c;
  c->refs++;
  s->refs = 1;
  s->live_req = (uint8_t)m->live;
  s->state = SUB_BACKLOG;
  s->more_known = 1;
  s->end = -1;
  s->last = m->has_cursor ? m->cursor_seq : 0;
  duro_list_init(&s->lnode);
  duro_list_insert_tail(&c->subs, &s->cnode);
  c->nsubs++;
  if (s->live_req && st->ctx) {
    s->live_ctx = st->ctx;
    st->ctx->stats.live_pulls++;
  }
  char bid[SYNC_MAX_ID + 1] = "";
  if (m->has_cursor)
    decode_backend(m, bid);
  submit_read(o, st, s, m->has_cursor, bid);
}

/* ---- push ------------------------------------------------------------------------ */

typedef struct push_ctx {
  sync_push_job_t *job;
  sync_state_t *st;
  sconn_t *conn;           /* WebSocket pushes (referenced) */
  duro_request_t *req;     /* HTTP pushes */
  char id[SYNC_MAX_ID_TOKEN + 1];
  size_t id_len;
  sync_span_t payload;     /* into job->msg */
  sync_span_t batch;       /* into job->msg */
} push_ctx_t;

static int push_work(duro_store_db_t *db, void *arg) {
  return duro_sync_push_work(db, ((push_ctx_t *)arg)->job);
}

/* Sends one pushed batch to every live subscription of the store: per
 * subscription a small head, then the body and the tail every one of them
 * shares. */
static void broadcast(duro_object_t *o, sync_state_t *st,
                      sync_push_job_t *j) {
  duro_buf_t head = DURO_BUF_INIT;
  for (size_t k = 0; k < j->nbodies; k++) {
    duro_chunk_t *body = out_adopt(&j->bodies[k]);
    int64_t last = j->body_last[k];
    DURO_LIST_FOREACH_SAFE(it, tmp, &st->live) {
      ssub_t *s = DURO_CONTAINER_OF(it, ssub_t, lnode);
      if (last <= s->last)
        continue;
      char err[256];
      if (st->hooks->on_pull_res &&
          pull_res_hook(o, st, span_of(s->id, s->id_len), s->payload,
                        s->payload_len, body->data, body->len, err,
                        sizeof(err)) < 0) {
        sub_fail(s->conn, s, err);
        continue;
      }
      head.len = 0;
      duro_sync_build_chunk_head(&head, span_of(s->id, s->id_len));
      size_t payload = head.len + body->len + st->tail->len;
      duro_chunk_t *parts[3] = {frame_head(payload, head.data, head.len),
                                body, st->tail};
      send_parts(s->conn, parts, 3);
      duro_chunk_unref(parts[0]);
      s->last = last;
    }
    duro_chunk_unref(body);
  }
  duro_buf_free(&head);
}

static void push_reply(push_ctx_t *ctx, duro_buf_t *b) {
  if (ctx->req) {
    duro_buf_t arr = DURO_BUF_INIT;
    duro_buf_append(&arr, "[", 1);
    duro_buf_append(&arr, b->data, b->len);
    duro_buf_append(&arr, "]", 1);
    http_reply(ctx->st, ctx->req, &arr);
    duro_buf_free(&arr);
  } else {
    send_buf(ctx->conn, b);
  }
}

static void push_done(duro_object_t *o, void *state, int status, void *arg) {
  push_ctx_t *ctx = arg;
  sync_push_job_t *j = ctx->job;
  sync_state_t *st = ctx->st;
  sync_span_t id = span_of(ctx->id, ctx->id_len);
  duro_buf_t b = DURO_BUF_INIT;
  if (status < 0) {
    j->result = DURO_EVLOG_DBERR;
    duro_err_fmt(status, j->err, sizeof(j->err), "storage is closing");
  }
  switch (j->result) {
  case DURO_EVLOG_OK: {
    if (st->ctx)
      st->ctx->stats.events_appended += j->n;
    note_store(st, j->head, j->backend_id_out);
    broadcast(o, st, j);
    char err[256];
    duro_sync_info_t in = {.json = ctx->batch.p,
                           .json_len = ctx->batch.n,
                           .nevents = j->n,
                           .head = j->head};
    if (run_hook(o, st, HOOK_PUSH_RES, id, ctx->payload.p, ctx->payload.n,
                 &in, err, sizeof(err)) < 0) {
      duro_sync_build_unknown_error(&b, id, err);
      break;
    }
    duro_sync_build_exit_success(&b, id, 1);
    if (st->ctx && st->ctx->webhook)
      duro_sync_webhook_post(st->ctx->webhook, st->key.store_id,
                             st->key.store_id_len, ctx->batch.p, ctx->batch.n,
                             j->head, j->created_at);
    break;
  }
  case DURO_EVLOG_AHEAD:
    note_store(st, j->head, j->backend_id_out);
    duro_sync_build_server_ahead(&b, id, j->head, j->events[0].parent);
    break;
  case DURO_EVLOG_MISMATCH:
    note_store(st, j->head, j->backend_id_out);
    duro_sync_build_backend_mismatch(&b, id, j->backend_id_out, j->backend_id);
    break;
  case DURO_EVLOG_BROKEN:
    duro_sync_build_unknown_error(&b, id, j->err);
    break;
  default:
    duro_log(o, DURO_LOG_LEVEL_ERROR, "push failed: %s", j->err);
    duro_sync_build_unknown_error(&b, id, "storage error; nothing was stored");
    break;
  }
  push_reply(ctx, &b);
  duro_buf_free(&b);
  if (ctx->conn)
    conn_unref(ctx->conn);
  duro_sync_push_job_free(j);
  duro_free(ctx);
}

static sync_span_t rebase(sync_span_t s, const char *from, char *to) {
  if (s.p)
    s.p = to + (s.p - from);
  return s;
}

/* Starts a push (WebSocket: c set; HTTP: req set). Answers by itself. */
static void push(duro_object_t *o, sync_state_t *st, sconn_t *c,
                 duro_request_t *req, const sync_msg_t *m, const char *data,
                 size_t len) {
  duro_buf_t b = DURO_BUF_INIT;
  push_ctx_t tmp = {.st = st, .conn = c, .req = req};
  if (st->ctx)
    st->ctx->stats.pushes++;
  if (m->nevents == 0) {
    duro_sync_build_exit_success(&b, m->id, 1);
    push_reply(&tmp, &b);
    duro_buf_free(&b);
    return;
  }
  if (m->nevents > SYNC_MAX_BATCH) {
    char note[128];
    duro_err_fmt(DURO_EINVAL, note, sizeof(note),
                 "a push carries at most %d events, this one %zu",
                 SYNC_MAX_BATCH, m->nevents);
    duro_sync_build_unknown_error(&b, m->id, note);
    push_reply(&tmp, &b);
    duro_buf_free(&b);
    return;
  }
  char err[256];
  duro_sync_info_t in = {.json = m->batch.p,
                         .json_len = m->batch.n,
                         .nevents = m->nevents};
  if (run_hook(o, st, HOOK_PUSH, m->id, m->payload.p, m->payload.n, &in, err,
               sizeof(err)) < 0) {
    duro_sync_build_unknown_error(&b, m->id, err);
    push_reply(&tmp, &b);
    duro_buf_free(&b);
    return;
  }
  push_ctx_t *ctx = duro_calloc(1, sizeof(*ctx));
  sync_push_job_t *j = duro_calloc(1, sizeof(*j));
  key_copy(&j->key, &st->key);
  j->msg = duro_memdup(data, len);
  j->msg_len = len;
  j->n = m->nevents;
  for (size_t i = 0; i < j->n; i++) {
    j->events[i] = m->events[i];
    j->events[i].name = rebase(m->events[i].name, data, j->msg);
    j->events[i].args = rebase(m->events[i].args, data, j->msg);
    j->events[i].client_id = rebase(m->events[i].client_id, data, j->msg);
    j->events[i].session_id = rebase(m->events[i].session_id, data, j->msg);
  }
  j->has_backend_id = m->has_backend_id;
  j->backend_id = rebase(m->backend_id, data, j->msg);
  duro_sync_format_time(duro_now_ms(), j->created_at);
  ctx->job = j;
  ctx->st = st;
  ctx->conn = c;
  if (c)
    c->refs++;
  ctx->req = req;
  memcpy(ctx->id, m->id.p, m->id.n);
  ctx->id_len = m->id.n;
  ctx->payload = rebase(m->payload, data, j->msg);
  ctx->batch = rebase(m->batch, data, j->msg);
  duro_object_job(o, push_work, push_done, ctx);
}

/* ---- WebSocket messages --------------------------------------------------------------- */

static void send_defect(sconn_t *c, const char *why) {
  duro_buf_t b = DURO_BUF_INIT;
  duro_sync_build_defect(&b, why);
  send_buf(c, &b);
  duro_buf_free(&b);
  /* The client fails every open request on a Defect. */
  kill_all_subs(c);
}

static void send_pong(sconn_t *c) {
  if (c->sock)
    duro_socket_send(c->sock, 1, duro_sync_pong, duro_sync_pong_len);
}

static int sync_message(duro_object_t *o, void *state, duro_socket_t *sock,
                        int is_text, const void *data, size_t len) {
  sync_state_t *st = ((sync_obj_t *)state)->st;
  sconn_t *c = conn_of(sock);
  if (!c || !st) {
    duro_socket_close(sock, 4000, "sync state lost; reconnect");
    return 0;
  }
  static const char ping[] = "{\"_tag\":\"Ping\"}";
  if (len == sizeof(ping) - 1 && memcmp(data, ping, len) == 0) {
    send_pong(c);
    return 0;
  }
  sync_msg_t m;
  const char *why;
  int rc = duro_sync_parse(data, len, st->events, SYNC_MAX_BATCH, &m, &why);
  duro_buf_t b = DURO_BUF_INIT;
  if (rc == DURO_EPROTO) {
    send_defect(c, why);
    return 0;
  }
  if (rc == DURO_EINVAL) {
    char text[200];
    duro_err_fmt(DURO_EINVAL, text, sizeof(text), "Invalid request: %s", why);
    duro_sync_build_die(&b, m.id, text);
    send_buf(c, &b);
    duro_buf_free(&b);
    return 0;
  }
  size_t max =
      st->ctx ? duro_sync_config(st->ctx->cfg)->max_message_bytes : DEFAULT_MAX_MESSAGE;
  switch (m.kind) {
  case SYNC_MSG_PING:
    send_pong(c);
    break;
  case SYNC_MSG_ACK: {
    /* Acks pace the backlog only; live chunks are not windowed. */
    ssub_t *s = sub_find(c, m.id);
    if (s && s->state == SUB_BACKLOG && s->unacked) {
      s->unacked_bytes -= s->sizes[s->acked_pos];
      s->acked_pos = (s->acked_pos + 1) % BACKLOG_WINDOW;
      s->unacked--;
      sub_pump(o, st, s);
    }
    break;
  }
  case SYNC_MSG_INTERRUPT: {
    /* Pulls stop; a push goes on (its Exit still comes). */
    ssub_t *s = sub_find(c, m.id);
    if (s) {
      duro_sync_build_interrupted(&b, m.id);
      send_buf(c, &b);
      sub_kill(s);
    }
    break;
  }
  case SYNC_MSG_EOF:
    break;
  case SYNC_MSG_REQUEST:
    if (m.http || m.rpc == SYNC_RPC_PING) {
      send_defect(c, "unknown request tag for the WebSocket transport");
      break;
    }
    if (len > max) {
      char note[128];
      duro_err_fmt(DURO_EINVAL, note, sizeof(note),
                   "message of %zu bytes exceeds the limit of %zu", len, max);
      duro_sync_build_unknown_error(&b, m.id, note);
      send_buf(c, &b);
      break;
    }
    if (m.rpc == SYNC_RPC_PULL)
      ws_pull(o, st, c, &m);
    else
      push(o, st, c, NULL, &m, data, len);
    break;
  }
  duro_buf_free(&b);
  (void)is_text;
  return 0;
}

static int sync_ws_close(duro_object_t *o, void *state, duro_socket_t *sock,
                         int code, const char *reason, size_t reason_len) {
  sconn_t *c = conn_of(sock);
  if (!c)
    return 0;
  kill_all_subs(c);
  c->sock = NULL;
  duro_list_remove(&c->node);
  conn_unref(c);
  return 0;
}

/* ---- HTTP transport ------------------------------------------------------------------ */

static int http_request(duro_object_t *o, sync_state_t *st,
                        duro_request_t *req) {
  size_t len;
  const char *body = duro_request_body(req, &len);
  sync_msg_t m;
  const char *why;
  duro_buf_t b = DURO_BUF_INIT;
  int rc = duro_sync_parse(body, len, st->events, SYNC_MAX_BATCH, &m, &why);
  duro_buf_append(&b, "[", 1);
  if (rc == DURO_EPROTO || (rc == 0 && m.kind != SYNC_MSG_REQUEST)) {
    duro_sync_build_defect(
        &b,
        rc == DURO_EPROTO ? why : "expected a Request on the HTTP transport");
  } else if (rc == DURO_EINVAL) {
    char text[200];
    duro_err_fmt(DURO_EINVAL, text, sizeof(text), "Invalid request: %s", why);
    duro_sync_build_die(&b, m.id, text);
  } else if (m.rpc == SYNC_RPC_PING) {
    duro_sync_build_exit_value(&b, m.id, "{\"_tag\":\"SyncMessage.Pong\"}");
  } else if (m.rpc == SYNC_RPC_PUSH) {
    duro_buf_free(&b);
    duro_request_defer(req);
    push(o, st, NULL, req, &m, body, len);
    return 0;
  } else {
    char err[256];
    if (pull_hook(o, st, &m, err, sizeof(err)) < 0) {
      duro_sync_build_unknown_error(&b, m.id, err);
    } else {
      read_ctx_t *ctx = duro_calloc(1, sizeof(*ctx));
      sync_read_job_t *j = duro_calloc(1, sizeof(*j));
      key_copy(&j->key, &st->key);
      memcpy(j->id, m.id.p, m.id.n);
      j->id_len = m.id.n;
      if (m.has_cursor) {
        j->check_backend = 1;
        decode_backend(&m, j->cursor_backend);
        j->after = m.cursor_seq;
      }
      j->end = -1;
      j->more_known = 1;
      j->empty_ok = 1;
      j->max_events = HTTP_PULL_EVENTS;
      j->max_bytes = HTTP_PULL_BYTES;
      ctx->job = j;
      ctx->st = st;
      ctx->req = req;
      if (m.payload.p) {
        ctx->payload = duro_strndup(m.payload.p, m.payload.n);
        ctx->payload_len = m.payload.n;
      }
      duro_request_defer(req);
      duro_object_job(o, read_work, read_done, ctx);
      duro_buf_free(&b);
      return 0;
    }
  }
  duro_buf_append(&b, "]", 1);
  http_reply(st, req, &b);
  duro_buf_free(&b);
  return 0;
}

/* ---- the class ----------------------------------------------------------------------- */

static int sync_init(duro_object_t *o, void *state) {
  sync_obj_t *so = state;
  sync_state_t *st = duro_calloc(1, sizeof(*st));
  const char *name = duro_object_name(o);
  if (!name)
    name = duro_object_id(o); /* addressed by id: the id names the store */
  duro_evlog_key_init(&st->key, name,
                      strlen(name)); /* C string: an object's name or id */
  duro_list_init(&st->conns);
  duro_list_init(&st->live);
  st->hooks = &((const duro_sync_class_t *)duro_object_class(o))->hooks;
  st->ctx = duro_runtime_slot(duro_object_runtime(o), &ctx_slot);
  if (st->ctx)
    st->ctx->refs++;
  st->tail = duro_chunk_from(duro_sync_chunk_tail,
                             strlen(duro_sync_chunk_tail)); /* C string: "]}" */
  so->st = st;
  return 0;
}

static int sync_fetch(duro_object_t *o, void *state, duro_request_t *req) {
  sync_state_t *st = ((sync_obj_t *)state)->st;
  if (duro_request_is_upgrade(req)) {
    sconn_t *c = duro_calloc(1, sizeof(*c));
    duro_list_init(&c->subs);
    c->refs = 1;
    duro_socket_t *s = duro_accept_websocket(req, NULL, 0, &c, sizeof(c));
    if (!s) {
      duro_free(c);
      return 0;
    }
    c->sock = s;
    duro_list_insert_tail(&st->conns, &c->node);
    return 0;
  }
  if (strcmp(duro_request_method(req), "POST") == 0)
    return http_request(o, st, req);
  static const char msg[] = "Invalid path";
  return duro_respond(req, 400, NULL, msg, sizeof(msg) - 1);
}

static void sync_teardown(duro_object_t *o, void *state) {
  sync_obj_t *so = state;
  sync_state_t *st = so->st;
  if (!st)
    return;
  while (!duro_list_empty(&st->conns)) {
    sconn_t *c = DURO_CONTAINER_OF(st->conns.next, sconn_t, node);
    kill_all_subs(c);
    duro_list_remove(&c->node);
    if (c->sock)
      duro_socket_set_attachment(c->sock, NULL, 0);
    c->sock = NULL;
    conn_unref(c);
  }
  duro_chunk_unref(st->tail);
  duro_evlog_key_free(&st->key);
  ctx_unref(st->ctx);
  duro_free(st);
  so->st = NULL;
}

void duro_sync_class_init(duro_sync_class_t *c, const char *name,
                          const duro_sync_hooks_t *hooks) {
  memset(c, 0, sizeof(*c));
  c->cls = (duro_class_t){
      DURO_CLASS_INIT,
      .name = name,
      .state_size = sizeof(sync_obj_t),
      .init = sync_init,
      .fetch = sync_fetch,
      .ws_message = sync_message,
      .ws_close = sync_ws_close,
      .teardown = sync_teardown,
  };
  if (hooks)
    c->hooks = *hooks;
}

void *duro_sync_hooks_ud(const duro_object_t *o) {
  const duro_class_t *cls = duro_object_class(o);
  if (cls->fetch != sync_fetch)
    return NULL;
  return ((const duro_sync_class_t *)cls)->hooks.ud;
}

int duro_sync_stats(const duro_runtime_t *rt, duro_sync_stats_t *out) {
  const sync_ctx_t *c = rt ? duro_runtime_slot(rt, &ctx_slot) : NULL;
  if (!c)
    return DURO_ENOENT;
  *out = c->stats;
  return 0;
}
