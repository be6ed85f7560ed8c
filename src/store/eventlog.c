/*
 * eventlog.c: see eventlog.h. Everything here except the key helpers runs
 * on the storage worker thread.
 */
#include "store/eventlog.h"

#include <openssl/rand.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/sha.h"
#include "core/str.h"
#include "store/db.h"

#define STR_(x) #x
#define STR(x) STR_(x)

void duro_evlog_key_init(duro_evlog_key_t *k, const char *store_id,
                         size_t len) {
  static const char hex[] = "0123456789abcdef";
  static const char prefix[] = "eventlog_" STR(DURO_EVLOG_VERSION) "_";
  uint8_t md[DURO_SHA256_LEN];
  duro_sha256(store_id, len, md);
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

void duro_evlog_key_free(duro_evlog_key_t *k) {
  duro_free(k->store_id);
  duro_free(k->table);
  k->store_id = k->table = NULL;
}

/* ---- worker side ------------------------------------------------------------ */

void duro_evlog__new_backend_id(char *out) {
  static const char abc[] =
      "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";
  unsigned char r[DURO_EVLOG_BACKEND_ID_LEN];
  if (RAND_bytes(r, sizeof(r)) != 1) {
    /* No entropy source: fall back to the clock and address bits. */
    uint64_t x = (uint64_t)(uintptr_t)out ^ (uint64_t)time(NULL) * 2654435761u;
    for (size_t i = 0; i < sizeof(r); i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      r[i] = (unsigned char)x;
    }
  }
  for (int i = 0; i < DURO_EVLOG_BACKEND_ID_LEN; i++)
    out[i] = abc[r[i] & 63];
  out[DURO_EVLOG_BACKEND_ID_LEN] = '\0';
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
static int load_context(sqlite3 *db, const duro_evlog_key_t *k, int64_t *head,
                        char bid[DURO_EVLOG_BACKEND_ID_LEN + 1]) {
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
    if (!b || n > DURO_EVLOG_BACKEND_ID_LEN) {
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
  duro_evlog__new_backend_id(bid);
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

static void bind_text(sqlite3_stmt *st, int col, duro_evlog_text_t t) {
  sqlite3_bind_text(st, col, t.p ? t.p : "", (int)t.n, SQLITE_STATIC);
}

int duro_evlog__judge_append(duro_evlog_append_t *a) {
  if (a->backend_id && strcmp(a->backend_id, a->backend_id_out) != 0)
    return DURO_EVLOG_MISMATCH;
  if (a->events[0].parent != a->head)
    return DURO_EVLOG_AHEAD;
  for (size_t i = 0; i < a->n; i++) {
    const duro_evlog_event_t *e = &a->events[i];
    if (e->seq != e->parent + 1 ||
        (i > 0 && e->parent != a->events[i - 1].seq)) {
      duro_err_fmt(DURO_EPROTO, a->err, sizeof(a->err),
                   "batch is not a chain: event %zu has seqNum %lld and "
                   "parentSeqNum %lld",
                   i, (long long)e->seq, (long long)e->parent);
      return DURO_EVLOG_BROKEN;
    }
    if (e->invalid) {
      duro_err_fmt(DURO_EPROTO, a->err, sizeof(a->err),
                   "event %zu: a string holds NUL", i);
      return DURO_EVLOG_BROKEN;
    }
  }
  return DURO_EVLOG_OK;
}

int duro_evlog__judge_read(duro_evlog_read_t *r) {
  if (r->backend_id && strcmp(r->backend_id, r->backend_id_out) != 0) {
    r->result = DURO_EVLOG_MISMATCH;
    return 0;
  }
  int64_t end = r->end < 0 ? r->head : r->end;
  r->end_out = end > r->head ? r->head : end;
  r->result = DURO_EVLOG_OK;
  return r->after < r->end_out;
}

void duro_evlog_append(duro_store_db_t *h, duro_evlog_append_t *a) {
  PGconn *pg = duro_store__pg(h);
  if (pg) {
    duro_evlog__pg_append(pg, a);
    return;
  }
  sqlite3 *db = duro_store__sqlite(h);
  sqlite3_stmt *ins = NULL, *upd = NULL;
  int rc = exec(db, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) {
    set_err(a->err, sizeof(a->err), db, "begin");
    a->result = DURO_EVLOG_DBERR;
    return;
  }
  rc = load_context(db, a->key, &a->head, a->backend_id_out);
  if (rc != SQLITE_OK) {
    set_err(a->err, sizeof(a->err), db, "context");
    goto dberr;
  }
  if ((a->result = duro_evlog__judge_append(a)) != DURO_EVLOG_OK)
    goto rollback;
  if ((rc = prepare_on_table(db, "INSERT INTO ", a->key->table,
                             " (seqNum, parentSeqNum, name, args, createdAt, "
                             "clientId, sessionId) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                             &ins)) != SQLITE_OK) {
    set_err(a->err, sizeof(a->err), db, "insert");
    goto dberr;
  }
  for (size_t i = 0; i < a->n; i++) {
    const duro_evlog_event_t *e = &a->events[i];
    sqlite3_bind_int64(ins, 1, e->seq);
    sqlite3_bind_int64(ins, 2, e->parent);
    bind_text(ins, 3, e->name);
    if (e->args.p)
      sqlite3_bind_text(ins, 4, e->args.p, (int)e->args.n, SQLITE_STATIC);
    else
      sqlite3_bind_null(ins, 4);
    sqlite3_bind_text(ins, 5, a->created_at, -1, SQLITE_STATIC);
    bind_text(ins, 6, e->client_id);
    bind_text(ins, 7, e->session_id);
    rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    if (rc != SQLITE_DONE) {
      set_err(a->err, sizeof(a->err), db, "insert");
      goto dberr;
    }
  }
  rc = sqlite3_prepare_v2(
      db, "UPDATE context_7 SET currentHead = ?1 WHERE storeId = ?2", -1, &upd,
      NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(upd, 1, a->events[a->n - 1].seq);
    sqlite3_bind_text(upd, 2, a->key->store_id, (int)a->key->store_id_len,
                      SQLITE_STATIC);
    rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  if (rc != SQLITE_OK) {
    set_err(a->err, sizeof(a->err), db, "head");
    goto dberr;
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(upd);
  ins = upd = NULL;
  if (exec(db, "COMMIT") != SQLITE_OK) {
    set_err(a->err, sizeof(a->err), db, "commit");
    goto dberr;
  }
  a->head = a->events[a->n - 1].seq;
  a->result = DURO_EVLOG_OK;
  return;

dberr:
  a->result = DURO_EVLOG_DBERR;
rollback:
  sqlite3_finalize(ins);
  sqlite3_finalize(upd);
  exec(db, "ROLLBACK");
}

/* A text column as {ptr, len}: "" for NULL unless null_ok. */
static duro_evlog_text_t column(sqlite3_stmt *st, int col, int null_ok) {
  const char *p = (const char *)sqlite3_column_text(st, col);
  duro_evlog_text_t t = {p, p ? (size_t)sqlite3_column_bytes(st, col) : 0};
  if (!p && !null_ok)
    t.p = "";
  return t;
}

void duro_evlog_read(duro_store_db_t *h, duro_evlog_read_t *r) {
  PGconn *pg = duro_store__pg(h);
  if (pg) {
    duro_evlog__pg_read(pg, r);
    return;
  }
  sqlite3 *db = duro_store__sqlite(h);
  sqlite3_stmt *st = NULL;
  if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
    set_err(r->err, sizeof(r->err), db, "begin");
    r->result = DURO_EVLOG_DBERR;
    return;
  }
  if (load_context(db, r->key, &r->head, r->backend_id_out) != SQLITE_OK) {
    set_err(r->err, sizeof(r->err), db, "context");
    goto dberr;
  }
  if (!duro_evlog__judge_read(r))
    goto done;
  if (prepare_on_table(db,
                       "SELECT seqNum, parentSeqNum, name, args, createdAt, "
                       "clientId, sessionId FROM ",
                       r->key->table,
                       " WHERE seqNum > ?1 AND seqNum <= ?2 "
                       "ORDER BY seqNum ASC LIMIT ?3",
                       &st) != SQLITE_OK) {
    set_err(r->err, sizeof(r->err), db, "select");
    goto dberr;
  }
  sqlite3_bind_int64(st, 1, r->after);
  sqlite3_bind_int64(st, 2, r->end_out);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)r->max_rows);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    duro_evlog_row_t row = {
        .seq = sqlite3_column_int64(st, 0),
        .parent = sqlite3_column_int64(st, 1),
        .name = column(st, 2, 0),
        .args = column(st, 3, 1),
        .created_at = column(st, 4, 0),
        .client_id = column(st, 5, 0),
        .session_id = column(st, 6, 0),
    };
    if (r->row(r->ud, &row))
      break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    set_err(r->err, sizeof(r->err), db, "select");
    goto dberr;
  }
  goto done;

dberr:
  r->result = DURO_EVLOG_DBERR;
done:
  sqlite3_finalize(st);
  exec(db, r->result == DURO_EVLOG_DBERR ? "ROLLBACK" : "COMMIT");
}
