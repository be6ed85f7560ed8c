/*
 * jobs.c: see jobs.h. Everything here except the free functions runs on
 * the storage worker thread.
 */
#include "sync/jobs.h"

#include <string.h>

#include "core/alloc.h"

void duro_sync_out_free(sync_out_t *o) {
  duro_free(o->mem);
  o->mem = NULL;
  o->len = 0;
}

void duro_sync_push_job_free(sync_push_job_t *j) {
  if (!j)
    return;
  duro_evlog_key_free(&j->key);
  duro_free(j->msg);
  for (size_t i = 0; i < j->nbodies; i++)
    duro_sync_out_free(&j->bodies[i]);
  duro_free(j);
}

void duro_sync_read_job_free(sync_read_job_t *j) {
  if (!j)
    return;
  duro_evlog_key_free(&j->key);
  for (size_t i = 0; i < j->nmsgs; i++)
    duro_sync_out_free(&j->msgs[i]);
  duro_free(j->msgs);
  duro_free(j);
}

/* ---- answer bytes -------------------------------------------------------------- */

/* Starts an answer in b (empty, storage kept or freed), with the headroom
 * and room for about hint bytes. */
static void out_start(duro_buf_t *b, size_t hint) {
  b->len = 0;
  duro_buf_reserve(b, SYNC_OUT_HEADROOM + hint);
  b->len = SYNC_OUT_HEADROOM;
}

/* The answer's length so far (without the headroom). */
static size_t out_len(const duro_buf_t *b) {
  return b->len - SYNC_OUT_HEADROOM;
}

/* Hands b's block over as an answer, trimmed to size, and leaves b
 * empty. */
static sync_out_t out_take(duro_buf_t *b) {
  sync_out_t o = {duro_realloc(b->data, b->len), out_len(b)};
  b->data = NULL;
  b->len = b->cap = 0;
  return o;
}

/* ---- push ---------------------------------------------------------------------- */

/*
 * Decodes escaped span s as plain text: the span itself when it holds no
 * escape (the usual case), else a decoding in the scratch block (room for
 * every span of the message plus a NUL each, so it never overflows).
 * Returns 0, or -1 when the text holds a NUL.
 */
static int decode(sync_span_t s, const sync_push_job_t *j, char **scratch,
                  size_t *used, duro_evlog_text_t *out) {
  if (!s.p || !memchr(s.p, '\\', s.n)) {
    out->p = s.p;
    out->n = s.n;
    return 0;
  }
  if (!*scratch)
    *scratch = duro_malloc(j->msg_len + 3 * SYNC_MAX_BATCH + 1);
  char *dst = *scratch + *used;
  size_t n;
  if (duro_sync_json_unescape(s.p, s.n, dst, &n) < 0)
    return -1;
  *used += n + 1;
  out->p = dst;
  out->n = n;
  return 0;
}

int duro_sync_push_work(duro_store_db_t *db, void *arg) {
  sync_push_job_t *j = arg;
  duro_evlog_event_t ev[SYNC_MAX_BATCH];
  char *scratch = NULL;
  size_t used = 0;
  for (size_t i = 0; i < j->n; i++) {
    const sync_event_t *e = &j->events[i];
    ev[i] = (duro_evlog_event_t){.seq = e->seq, .parent = e->parent,
                                 .args = {e->args.p, e->args.n}};
    ev[i].invalid = decode(e->name, j, &scratch, &used, &ev[i].name) < 0 ||
                    decode(e->client_id, j, &scratch, &used,
                           &ev[i].client_id) < 0 ||
                    decode(e->session_id, j, &scratch, &used,
                           &ev[i].session_id) < 0;
  }
  /* The client's backendId, decoded; too long or odd, no store has it. */
  char bid[SYNC_MAX_ID + 1];
  size_t bn;
  if (j->has_backend_id &&
      (j->backend_id.n > SYNC_MAX_ID ||
       duro_sync_json_unescape(j->backend_id.p, j->backend_id.n, bid, &bn) <
           0))
    memcpy(bid, "?", 2);
  duro_evlog_append_t a = {
      .key = &j->key,
      .events = ev,
      .n = j->n,
      .backend_id = j->has_backend_id ? bid : NULL,
      .created_at = j->created_at,
  };
  duro_evlog_append(db, &a);
  duro_free(scratch);
  j->result = a.result;
  j->head = a.head;
  memcpy(j->backend_id_out, a.backend_id_out, sizeof(j->backend_id_out));
  memcpy(j->err, a.err, sizeof(j->err));
  if (j->result != DURO_EVLOG_OK)
    return 0;

  /* The broadcast bodies, built here so the loop only frames them. */
  duro_buf_t b = DURO_BUF_INIT;
  size_t items = 0;
  out_start(&b, j->msg_len + 256);
  duro_buf_append_str(&b, duro_sync_response_head);
  for (size_t i = 0; i < j->n; i++) {
    const sync_event_t *e = &j->events[i];
    size_t before = b.len;
    if (items)
      duro_buf_append(&b, ",", 1);
    duro_sync_build_item(&b, e->name.p, e->name.n, e->args.p, e->args.n, e->seq,
                         e->parent, e->client_id.p, e->client_id.n,
                         e->session_id.p, e->session_id.n, j->created_at, 24);
    if (items && out_len(&b) > SYNC_MAX_RESPONSE_BYTES) {
      /* Too big with this item: close the body before it. */
      b.len = before;
      duro_sync_build_response_tail(&b, -1, j->backend_id_out);
      j->body_last[j->nbodies] = j->events[i - 1].seq;
      j->bodies[j->nbodies++] = out_take(&b);
      out_start(&b, SYNC_MAX_RESPONSE_BYTES);
      duro_buf_append_str(&b, duro_sync_response_head);
      items = 0;
      i--;
      continue;
    }
    items++;
  }
  duro_sync_build_response_tail(&b, -1, j->backend_id_out);
  j->body_last[j->nbodies] = j->head;
  j->bodies[j->nbodies++] = out_take(&b);
  return 0;
}

/* ---- page reads ---------------------------------------------------------------- */

typedef struct reader {
  sync_read_job_t *j;
  duro_evlog_read_t r;
  duro_buf_t msg, name, cid, sid;
  size_t cap;              /* of j->msgs */
  size_t items;            /* in msg */
  size_t bytes;            /* in the messages emitted */
  size_t last_len;         /* of the last message: the next one's size hint */
  int64_t last_in_msg;
} reader_t;

/* Closes the Chunk message in rd->msg and adds it to the job's answers. */
static void emit(reader_t *rd) {
  sync_read_job_t *j = rd->j;
  duro_buf_append_str(&rd->msg, duro_sync_chunk_tail);
  if (j->nmsgs == rd->cap) {
    rd->cap = rd->cap ? rd->cap * 2 : 16;
    j->msgs = duro_realloc(j->msgs, rd->cap * sizeof(*j->msgs));
  }
  rd->last_len = out_len(&rd->msg);
  j->msgs[j->nmsgs++] = out_take(&rd->msg);
}

static void start_msg(reader_t *rd) {
  sync_span_t id = {rd->j->id, rd->j->id_len};
  out_start(&rd->msg, rd->last_len);
  duro_sync_build_chunk_head(&rd->msg, id);
  duro_buf_append_str(&rd->msg, duro_sync_response_head);
}

/* The pageInfo of a message ending at rd->last_in_msg. */
static int64_t remaining(const reader_t *rd) {
  int64_t end = rd->r.end_out;
  return rd->j->more_known && rd->last_in_msg < end ? end - rd->last_in_msg
                                                    : -1;
}

static int on_row(void *ud, const duro_evlog_row_t *row) {
  reader_t *rd = ud;
  sync_read_job_t *j = rd->j;
  rd->name.len = rd->cid.len = rd->sid.len = 0;
  duro_sync_json_append_escaped(&rd->name, row->name.p, row->name.n);
  duro_sync_json_append_escaped(&rd->cid, row->client_id.p, row->client_id.n);
  duro_sync_json_append_escaped(&rd->sid, row->session_id.p,
                                row->session_id.n);
  size_t est = rd->name.len + row->args.n + rd->cid.len + rd->sid.len + 200;
  if (rd->items && (rd->items == SYNC_MAX_BATCH ||
                    out_len(&rd->msg) + est > SYNC_MAX_RESPONSE_BYTES)) {
    /* The worker's copy of the backendId: j's is filled in at the end. */
    duro_sync_build_response_tail(&rd->msg, remaining(rd),
                                  rd->r.backend_id_out);
    rd->bytes += out_len(&rd->msg);
    emit(rd);
    rd->items = 0;
  }
  if (!rd->items)
    start_msg(rd);
  else
    duro_buf_append(&rd->msg, ",", 1);
  duro_sync_build_item(&rd->msg, (const char *)rd->name.data, rd->name.len,
                       row->args.p, row->args.n, row->seq, row->parent,
                       (const char *)rd->cid.data, rd->cid.len,
                       (const char *)rd->sid.data, rd->sid.len,
                       row->created_at.p, row->created_at.n);
  rd->items++;
  rd->last_in_msg = row->seq;
  return rd->items == SYNC_MAX_BATCH &&
         rd->bytes + out_len(&rd->msg) >= j->max_bytes;
}

int duro_sync_read_work(duro_store_db_t *db, void *arg) {
  sync_read_job_t *j = arg;
  reader_t rd = {.j = j, .last_in_msg = j->after};
  rd.r = (duro_evlog_read_t){
      .key = &j->key,
      .backend_id = j->check_backend ? j->cursor_backend : NULL,
      .after = j->after,
      .end = j->end,
      .max_rows = j->max_events,
      .row = on_row,
      .ud = &rd,
  };
  j->last = j->after;
  duro_evlog_read(db, &rd.r);
  j->result = rd.r.result;
  j->head = rd.r.head;
  memcpy(j->backend_id, rd.r.backend_id_out, sizeof(j->backend_id));
  memcpy(j->err, rd.r.err, sizeof(j->err));
  if (j->result == DURO_EVLOG_OK) {
    j->end_out = rd.r.end_out;
    if (j->after >= j->end_out) {
      if (j->empty_ok) {
        start_msg(&rd);
        duro_sync_build_response_tail(&rd.msg, -1, j->backend_id);
        emit(&rd);
      }
    } else {
      if (rd.items) {
        duro_sync_build_response_tail(&rd.msg, remaining(&rd), j->backend_id);
        emit(&rd);
      }
      j->last = rd.last_in_msg;
    }
  }
  duro_buf_free(&rd.msg);
  duro_buf_free(&rd.name);
  duro_buf_free(&rd.cid);
  duro_buf_free(&rd.sid);
  return 0;
}
