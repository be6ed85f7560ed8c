/*
 * eventlog.c: see eventlog.h. Everything here except the key helpers runs
 * on the storage worker thread.
 */
#include "sync/eventlog.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "ws/frame.h"

#define STR_(x) #x
#define STR(x) STR_(x)

void duro_sync_store_key_init(sync_store_key_t *k, const char *store_id,
                              size_t len) {
  static const char hex[] = "0123456789abcdef";
  static const char prefix[] = "eventlog_" STR(SYNC_PERSISTENCE_VERSION) "_";
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_Digest(store_id, len, md, &mdlen, EVP_sha256(), NULL);
  k->store_id = duro_strndup(store_id, len);
  k->store_id_len = len;
  size_t n = sizeof(prefix) - 1, cap = n + len + 1 + 16 + 1;
  k->table = duro_malloc(cap);
  memcpy(k->table, prefix, n);
  for (size_t i = 0; i < len; i++) {
    char c = store_id[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9');
    k->table[n++] = ok ? c : '_';
  }
  k->table[n++] = '_';
  for (int i = 0; i < 8; i++) {
    k->table[n++] = hex[md[i] >> 4];
    k->table[n++] = hex[md[i] & 15];
  }
  k->table[n] = '\0';
}

void duro_sync_store_key_free(sync_store_key_t *k) {
  duro_free(k->store_id);
  duro_free(k->table);
  k->store_id = k->table = NULL;
}

void duro_sync_push_job_free(sync_push_job_t *j) {
  if (!j)
    return;
  duro_sync_store_key_free(&j->key);
  duro_free(j->msg);
  for (size_t i = 0; i < j->nbodies; i++)
    duro_chunk_unref(j->bodies[i]);
  duro_free(j);
}

void duro_sync_read_job_free(sync_read_job_t *j) {
  if (!j)
    return;
  duro_sync_store_key_free(&j->key);
  for (size_t i = 0; i < j->nmsgs; i++)
    duro_chunk_unref(j->msgs[i]);
  duro_free(j->msgs);
  duro_free(j);
}

/* ---- worker side ------------------------------------------------------------ */

static void new_backend_id(char out[SYNC_BACKEND_ID_LEN + 1]) {
  static const char abc[] =
      "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";
  unsigned char r[SYNC_BACKEND_ID_LEN];
  if (RAND_bytes(r, sizeof(r)) != 1) {
    /* No entropy source: fall back to the clock and address bits. */
    uint64_t x = (uint64_t)(uintptr_t)out ^ (uint64_t)time(NULL) * 2654435761u;
    for (size_t i = 0; i < sizeof(r); i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      r[i] = (unsigned char)x;
    }
  }
  for (int i = 0; i < SYNC_BACKEND_ID_LEN; i++)
    out[i] = abc[r[i] & 63];
  out[SYNC_BACKEND_ID_LEN] = '\0';
}

static void set_err(char *err, size_t len, sqlite3 *db, const char *what) {
  duro_err_fmt(DURO_EIO, err, len, "%s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/*
 * Prepares before + table + after: a statement naming a store's log
 * table, whose name is as long as the storeId (up to 255 bytes from the
 * sync route, more through /_objects), so the text is built to size.
 * Returns an SQLite code.
 */
static int prepare_on_table(sqlite3 *db, const char *before, const char *table,
                            const char *after, sqlite3_stmt **st) {
  duro_buf_t sql = DURO_BUF_INIT;
  duro_buf_printf(&sql, "%s\"%s\"%s", before, table, after);
  int rc =
      sqlite3_prepare_v2(db, (const char *)sql.data, (int)sql.len, st, NULL);
  duro_buf_free(&sql);
  return rc;
}

/* prepare_on_table for a statement without rows, run at once. */
static int exec_on_table(sqlite3 *db, const char *before, const char *table,
                         const char *after) {
  sqlite3_stmt *st = NULL;
  int rc = prepare_on_table(db, before, table, after, &st);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }
  sqlite3_finalize(st);
  return rc;
}

/*
 * Reads the store's head and backendId, creating the tables and the
 * context row on first use (inside the caller's transaction). Returns
 * SQLITE_OK or an error code.
 */
static int load_context(sqlite3 *db, const sync_store_key_t *k, int64_t *head,
                        char bid[SYNC_BACKEND_ID_LEN + 1]) {
  static const char sel[] =
      "SELECT currentHead, backendId FROM context_7 WHERE storeId = ?1";
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sel, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    /* First store in this database. */
    rc = exec(db, "CREATE TABLE IF NOT EXISTS \"context_7\" ("
                  "\"storeId\" text primary key, "
                  "\"currentHead\" integer not null, "
                  "\"backendId\" text not null) strict");
    if (rc != SQLITE_OK)
      return rc;
    rc = sqlite3_prepare_v2(db, sel, -1, &st, NULL);
    if (rc != SQLITE_OK)
      return rc;
  }
  sqlite3_bind_text(st, 1, k->store_id, (int)k->store_id_len, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *head = sqlite3_column_int64(st, 0);
    const unsigned char *b = sqlite3_column_text(st, 1);
    int n = sqlite3_column_bytes(st, 1);
    /* We write 21 characters; anything longer is not our row. */
    if (!b || n > SYNC_BACKEND_ID_LEN) {
      sqlite3_finalize(st);
      return b ? SQLITE_CORRUPT : SQLITE_NOMEM;
    }
    memcpy(bid, b, (size_t)n);
    bid[n] = '\0';
    sqlite3_finalize(st);
    return SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return rc;
  /* A new store: its log and its context row, with a fresh backendId. */
  /* A log table left over without a context row (a wiped context) starts
   * again empty: its events belonged to a backendId nobody can name. */
  if ((rc = exec_on_table(db, "DROP TABLE IF EXISTS ", k->table, "")) !=
          SQLITE_OK ||
      (rc = exec_on_table(db, "CREATE TABLE IF NOT EXISTS ", k->table,
                          " (\"seqNum\" integer primary key, "
                          "\"parentSeqNum\" integer not null, "
                          "\"name\" text not null, "
                          "\"args\" text, "
                          "\"createdAt\" text not null, "
                          "\"clientId\" text not null, "
                          "\"sessionId\" text not null) strict")) != SQLITE_OK)
    return rc;
  new_backend_id(bid);
  *head = 0;
  rc = sqlite3_prepare_v2(
      db, "INSERT INTO context_7 (storeId, currentHead, backendId) "
          "VALUES (?1, 0, ?2)",
      -1, &st, NULL);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_bind_text(st, 1, k->store_id, (int)k->store_id_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, bid, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Compares an escaped JSON string with plain text. */
static int span_equals(sync_span_t sp, const char *s) {
  char tmp[SYNC_MAX_ID + 1];
  size_t n;
  if (sp.n > SYNC_MAX_ID)
    return 0;
  if (duro_sync_json_unescape(sp.p, sp.n, tmp, &n) < 0)
    return 0;
  return strcmp(tmp, s) == 0;
}

static int bind_decoded(sqlite3_stmt *st, int col, sync_span_t sp) {
  /* Plain content (the usual case) is bound as it is. */
  if (!memchr(sp.p, '\\', sp.n))
    return sqlite3_bind_text(st, col, sp.p, (int)sp.n, SQLITE_STATIC);
  char *tmp = duro_malloc(sp.n + 1);
  size_t n;
  if (duro_sync_json_unescape(sp.p, sp.n, tmp, &n) < 0) {
    duro_free(tmp);
    return SQLITE_MISMATCH;
  }
  return sqlite3_bind_text(st, col, tmp, (int)n, free);
}

static duro_chunk_t *buf_chunk(duro_buf_t *b) {
  duro_chunk_t *c = duro_chunk_from(b->data, b->len);
  b->len = 0;
  return c;
}

int duro_sync_push_work(sqlite3 *db, void *arg) {
  sync_push_job_t *j = arg;
  sqlite3_stmt *ins = NULL, *upd = NULL;
  int rc = exec(db, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "begin");
    j->result = SYNC_JOB_DBERR;
    return 0;
  }
  rc = load_context(db, &j->key, &j->head, j->backend_id_out);
  if (rc != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "context");
    goto dberr;
  }
  if (j->has_backend_id && !span_equals(j->backend_id, j->backend_id_out)) {
    j->result = SYNC_JOB_MISMATCH;
    goto rollback;
  }
  if (j->events[0].parent != j->head) {
    j->result = SYNC_JOB_AHEAD;
    goto rollback;
  }
  for (size_t i = 0; i < j->n; i++) {
    const sync_event_t *e = &j->events[i];
    if (e->seq != e->parent + 1 || (i > 0 && e->parent != j->events[i - 1].seq)) {
      j->result = SYNC_JOB_BROKEN;
      duro_err_fmt(DURO_EPROTO, j->err, sizeof(j->err),
                   "batch is not a chain: event %zu has seqNum %lld and "
                   "parentSeqNum %lld",
                   i, (long long)e->seq, (long long)e->parent);
      goto rollback;
    }
  }
  if ((rc = prepare_on_table(db, "INSERT INTO ", j->key.table,
                             " (seqNum, parentSeqNum, name, args, createdAt, "
                             "clientId, sessionId) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                             &ins)) != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "insert");
    goto dberr;
  }
  for (size_t i = 0; i < j->n; i++) {
    const sync_event_t *e = &j->events[i];
    sqlite3_bind_int64(ins, 1, e->seq);
    sqlite3_bind_int64(ins, 2, e->parent);
    rc = bind_decoded(ins, 3, e->name);
    if (e->args.p)
      sqlite3_bind_text(ins, 4, e->args.p, (int)e->args.n, SQLITE_STATIC);
    else
      sqlite3_bind_null(ins, 4);
    sqlite3_bind_text(ins, 5, j->created_at, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
      rc = bind_decoded(ins, 6, e->client_id);
    if (rc == SQLITE_OK)
      rc = bind_decoded(ins, 7, e->session_id);
    if (rc != SQLITE_OK) {
      j->result = SYNC_JOB_BROKEN;
      duro_err_fmt(DURO_EPROTO, j->err, sizeof(j->err),
                   "event %zu: a string holds NUL", i);
      goto rollback;
    }
    rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    if (rc != SQLITE_DONE) {
      set_err(j->err, sizeof(j->err), db, "insert");
      goto dberr;
    }
  }
  rc = sqlite3_prepare_v2(
      db, "UPDATE context_7 SET currentHead = ?1 WHERE storeId = ?2", -1, &upd,
      NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(upd, 1, j->events[j->n - 1].seq);
    sqlite3_bind_text(upd, 2, j->key.store_id, (int)j->key.store_id_len,
                      SQLITE_STATIC);
    rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  if (rc != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "head");
    goto dberr;
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(upd);
  ins = upd = NULL;
  if (exec(db, "COMMIT") != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "commit");
    goto dberr;
  }
  j->head = j->events[j->n - 1].seq;
  j->result = SYNC_JOB_OK;

  /* The broadcast bodies, built here so the loop only frames them. */
  duro_buf_t b = DURO_BUF_INIT;
  size_t items = 0;
  duro_buf_append_str(&b, duro_sync_response_head);
  for (size_t i = 0; i < j->n; i++) {
    const sync_event_t *e = &j->events[i];
    size_t before = b.len;
    if (items)
      duro_buf_append(&b, ",", 1);
    duro_sync_build_item(&b, e->name.p, e->name.n, e->args.p, e->args.n, e->seq,
                         e->parent, e->client_id.p, e->client_id.n,
                         e->session_id.p, e->session_id.n, j->created_at, 24);
    if (items && b.len > SYNC_MAX_RESPONSE_BYTES) {
      /* Too big with this item: close the body before it. */
      b.len = before;
      duro_sync_build_response_tail(&b, -1, j->backend_id_out);
      j->body_last[j->nbodies] = j->events[i - 1].seq;
      j->bodies[j->nbodies++] = buf_chunk(&b);
      duro_buf_append_str(&b, duro_sync_response_head);
      items = 0;
      i--;
      continue;
    }
    items++;
  }
  duro_sync_build_response_tail(&b, -1, j->backend_id_out);
  j->body_last[j->nbodies] = j->head;
  j->bodies[j->nbodies++] = buf_chunk(&b);
  duro_buf_free(&b);
  return 0;

dberr:
  j->result = SYNC_JOB_DBERR;
rollback:
  sqlite3_finalize(ins);
  sqlite3_finalize(upd);
  exec(db, "ROLLBACK");
  return 0;
}

/* Appends a finished Chunk message (head, response, tail) as a frame or
 * as plain JSON. */
static void emit(sync_read_job_t *j, duro_buf_t *msg, size_t *cap) {
  duro_buf_append_str(msg, duro_sync_chunk_tail);
  if (j->nmsgs == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    j->msgs = duro_realloc(j->msgs, *cap * sizeof(*j->msgs));
  }
  j->msgs[j->nmsgs++] = j->framed
                            ? duro_ws_frame_chunk(DURO_WS_OP_TEXT, msg->data,
                                                  msg->len)
                            : duro_chunk_from(msg->data, msg->len);
  msg->len = 0;
}

static void start_msg(sync_read_job_t *j, duro_buf_t *msg) {
  sync_span_t id = {j->id, j->id_len};
  duro_sync_build_chunk_head(msg, id);
  duro_buf_append_str(msg, duro_sync_response_head);
}

int duro_sync_read_work(sqlite3 *db, void *arg) {
  sync_read_job_t *j = arg;
  sqlite3_stmt *st = NULL;
  duro_buf_t msg = DURO_BUF_INIT, name = DURO_BUF_INIT, cid = DURO_BUF_INIT,
             sid = DURO_BUF_INIT;
  size_t cap = 0;
  j->last = j->after;
  if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "begin");
    j->result = SYNC_JOB_DBERR;
    return 0;
  }
  if (load_context(db, &j->key, &j->head, j->backend_id) != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "context");
    goto dberr;
  }
  if (j->check_backend && strcmp(j->cursor_backend, j->backend_id) != 0) {
    j->result = SYNC_JOB_MISMATCH;
    goto done;
  }
  int64_t end = j->end < 0 ? j->head : j->end;
  if (end > j->head)
    end = j->head;
  j->end_out = end;
  if (j->after >= end) {
    if (j->empty_ok) {
      start_msg(j, &msg);
      duro_sync_build_response_tail(&msg, -1, j->backend_id);
      emit(j, &msg, &cap);
    }
    j->result = SYNC_JOB_OK;
    goto done;
  }
  if (prepare_on_table(db,
                       "SELECT seqNum, parentSeqNum, name, args, createdAt, "
                       "clientId, sessionId FROM ",
                       j->key.table,
                       " WHERE seqNum > ?1 AND seqNum <= ?2 "
                       "ORDER BY seqNum ASC LIMIT ?3",
                       &st) != SQLITE_OK) {
    set_err(j->err, sizeof(j->err), db, "select");
    goto dberr;
  }
  sqlite3_bind_int64(st, 1, j->after);
  sqlite3_bind_int64(st, 2, end);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)j->max_events);
  size_t items = 0, bytes = 0;
  int rc;
  int64_t last_in_msg = j->after;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    int64_t parent = sqlite3_column_int64(st, 1);
    const char *nm = (const char *)sqlite3_column_text(st, 2);
    size_t nml = (size_t)sqlite3_column_bytes(st, 2);
    const char *args = (const char *)sqlite3_column_text(st, 3);
    size_t argsl = (size_t)sqlite3_column_bytes(st, 3);
    const char *at = (const char *)sqlite3_column_text(st, 4);
    size_t atl = (size_t)sqlite3_column_bytes(st, 4);
    const char *c = (const char *)sqlite3_column_text(st, 5);
    size_t cl = (size_t)sqlite3_column_bytes(st, 5);
    const char *s = (const char *)sqlite3_column_text(st, 6);
    size_t sl = (size_t)sqlite3_column_bytes(st, 6);
    name.len = cid.len = sid.len = 0;
    duro_sync_json_append_escaped(&name, nm ? nm : "", nm ? nml : 0);
    duro_sync_json_append_escaped(&cid, c ? c : "", c ? cl : 0);
    duro_sync_json_append_escaped(&sid, s ? s : "", s ? sl : 0);
    size_t est = name.len + argsl + cid.len + sid.len + 200;
    if (items && (items == SYNC_MAX_BATCH ||
                  msg.len + est > SYNC_MAX_RESPONSE_BYTES)) {
      duro_sync_build_response_tail(
          &msg, j->more_known && last_in_msg < end ? end - last_in_msg : -1,
          j->backend_id);
      bytes += msg.len;
      emit(j, &msg, &cap);
      items = 0;
    }
    if (!items)
      start_msg(j, &msg);
    else
      duro_buf_append(&msg, ",", 1);
    duro_sync_build_item(&msg, (const char *)name.data, name.len, args, argsl,
                         seq, parent, (const char *)cid.data, cid.len,
                         (const char *)sid.data, sid.len, at ? at : "",
                         at ? atl : 0);
    items++;
    last_in_msg = seq;
    if (items == SYNC_MAX_BATCH && bytes + msg.len >= j->max_bytes)
      break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    set_err(j->err, sizeof(j->err), db, "select");
    goto dberr;
  }
  if (items) {
    duro_sync_build_response_tail(
        &msg, j->more_known && last_in_msg < end ? end - last_in_msg : -1,
        j->backend_id);
    emit(j, &msg, &cap);
  }
  j->last = last_in_msg;
  j->result = SYNC_JOB_OK;
  goto done;

dberr:
  j->result = SYNC_JOB_DBERR;
done:
  sqlite3_finalize(st);
  exec(db, j->result == SYNC_JOB_DBERR ? "ROLLBACK" : "COMMIT");
  duro_buf_free(&msg);
  duro_buf_free(&name);
  duro_buf_free(&cid);
  duro_buf_free(&sid);
  return 0;
}
