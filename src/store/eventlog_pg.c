/*
 * eventlog_pg.c: the LiveStore event logs on PostgreSQL, behind the same
 * calls as eventlog.c (which hands a PostgreSQL job's handle here).
 *
 * Layout: one table for every store's events, keyed by (store_id, seq),
 * and one context row per store with its head and backendId
 * (duro_eventlog, duro_eventlog_context; created with the schema in
 * postgres.c). The context row is read FOR UPDATE, so two appends to one
 * store never interleave their check and their write, whichever node and
 * connection they come from.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/db.h"
#include "store/eventlog.h"

/* The failure's text into err (one line). */
static void set_err(char *err, size_t len, PGconn *c, const char *what) {
  duro_store__pg_say(err, len, what, PQerrorMessage(c));
}

static int command(PGconn *c, const char *sql, int n, const char *const *v,
                   const int *len) {
  PGresult *r = PQexecParams(c, sql, n, NULL, v, len, NULL, 0);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
           PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  return ok ? 0 : -1;
}

/*
 * Reads (and locks) the store's head and backendId, creating its context
 * row on first use, inside the caller's transaction. 0 or -1.
 */
static int load_context(PGconn *c, const duro_evlog_key_t *k, int64_t *head,
                        char bid[DURO_EVLOG_BACKEND_ID_LEN + 1]) {
  const char *v[2] = {k->store_id, NULL};
  int len[2] = {(int)k->store_id_len, 0};
  for (int attempt = 0; attempt < 2; attempt++) {
    PGresult *r = PQexecParams(c,
                               "SELECT head, backend_id FROM "
                               "duro_eventlog_context WHERE store_id = $1 "
                               "FOR UPDATE",
                               1, NULL, v, len, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      PQclear(r);
      return -1;
    }
    if (PQntuples(r) == 1) {
      *head = strtoll(PQgetvalue(r, 0, 0), NULL, 10); /* C string: libpq */
      int n = PQgetlength(r, 0, 1);
      if (n > DURO_EVLOG_BACKEND_ID_LEN) { /* not a row we wrote */
        PQclear(r);
        return -1;
      }
      memcpy(bid, PQgetvalue(r, 0, 1), (size_t)n);
      bid[n] = '\0';
      PQclear(r);
      return 0;
    }
    PQclear(r);
    /* A new store: events left without a context row (a wiped context)
     * go, as on SQLite; the row may race with another connection's, so
     * it is read again either way. */
    char fresh[DURO_EVLOG_BACKEND_ID_LEN + 1];
    duro_evlog__new_backend_id(fresh);
    v[1] = fresh;
    if (command(c, "DELETE FROM duro_eventlog WHERE store_id = $1", 1, v, len) <
            0 ||
        command(c,
                "INSERT INTO duro_eventlog_context(store_id, head, "
                "backend_id) VALUES($1, 0, $2) ON CONFLICT DO NOTHING",
                2, v, len) < 0)
      return -1;
  }
  return -1;
}

void duro_evlog__pg_append(PGconn *c, duro_evlog_append_t *a) {
  if (command(c, "BEGIN", 0, NULL, NULL) < 0) {
    set_err(a->err, sizeof(a->err), c, "begin");
    a->result = DURO_EVLOG_DBERR;
    return;
  }
  if (load_context(c, a->key, &a->head, a->backend_id_out) < 0) {
    set_err(a->err, sizeof(a->err), c, "context");
    goto dberr;
  }
  if ((a->result = duro_evlog__judge_append(a)) != DURO_EVLOG_OK)
    goto rollback;
  for (size_t i = 0; i < a->n; i++) {
    const duro_evlog_event_t *e = &a->events[i];
    char seq[24], parent[24];
    duro_store__pg_int(seq, e->seq);
    duro_store__pg_int(parent, e->parent);
    const char *v[8] = {a->key->store_id,
                        seq,
                        parent,
                        e->name.p ? e->name.p : "",
                        e->args.p,
                        a->created_at,
                        e->client_id.p ? e->client_id.p : "",
                        e->session_id.p ? e->session_id.p : ""};
    int len[8] = {(int)a->key->store_id_len,
                  0,
                  0,
                  (int)e->name.n,
                  (int)e->args.n,
                  0,
                  (int)e->client_id.n,
                  (int)e->session_id.n};
    /* text parameters go by length: the texts are not NUL-terminated */
    const int fmt[8] = {1, 0, 0, 1, 1, 0, 1, 1};
    PGresult *r = PQexecParams(
        c,
        "INSERT INTO duro_eventlog(store_id, seq, parent, name, args, "
        "created_at, client_id, session_id) VALUES($1::text, $2, $3, "
        "$4::text, $5::text, $6, $7::text, $8::text)",
        8, NULL, v, len, fmt, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
      set_err(a->err, sizeof(a->err), c, "insert");
      goto dberr;
    }
  }
  char head[24];
  duro_store__pg_int(head, a->events[a->n - 1].seq);
  const char *v[2] = {head, a->key->store_id};
  int len[2] = {0, (int)a->key->store_id_len};
  if (command(c,
              "UPDATE duro_eventlog_context SET head = $1 WHERE store_id "
              "= $2",
              2, v, len) < 0) {
    set_err(a->err, sizeof(a->err), c, "head");
    goto dberr;
  }
  if (command(c, "COMMIT", 0, NULL, NULL) < 0) {
    set_err(a->err, sizeof(a->err), c, "commit");
    goto dberr;
  }
  a->head = a->events[a->n - 1].seq;
  a->result = DURO_EVLOG_OK;
  return;

dberr:
  a->result = DURO_EVLOG_DBERR;
rollback:
  command(c, "ROLLBACK", 0, NULL, NULL);
}

/* A text column as {ptr, len}: "" for NULL unless null_ok. */
static duro_evlog_text_t column(const PGresult *r, int row, int col,
                                int null_ok) {
  if (PQgetisnull(r, row, col))
    return (duro_evlog_text_t){null_ok ? NULL : "", 0};
  return (duro_evlog_text_t){PQgetvalue(r, row, col),
                             (size_t)PQgetlength(r, row, col)};
}

void duro_evlog__pg_read(PGconn *c, duro_evlog_read_t *rd) {
  PGresult *r = NULL;
  if (command(c, "BEGIN", 0, NULL, NULL) < 0) {
    set_err(rd->err, sizeof(rd->err), c, "begin");
    rd->result = DURO_EVLOG_DBERR;
    return;
  }
  if (load_context(c, rd->key, &rd->head, rd->backend_id_out) < 0) {
    set_err(rd->err, sizeof(rd->err), c, "context");
    goto dberr;
  }
  if (!duro_evlog__judge_read(rd))
    goto done;
  char after[24], last[24], limit[24];
  duro_store__pg_int(after, rd->after);
  duro_store__pg_int(last, rd->end_out);
  duro_store__pg_int(limit, rd->max_rows > INT64_MAX ? INT64_MAX
                                                     : (int64_t)rd->max_rows);
  const char *v[4] = {rd->key->store_id, after, last, limit};
  int len[4] = {(int)rd->key->store_id_len, 0, 0, 0};
  r = PQexecParams(c,
                   "SELECT seq, parent, name, args, created_at, client_id, "
                   "session_id FROM duro_eventlog WHERE store_id = $1 AND "
                   "seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
                   4, NULL, v, len, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    set_err(rd->err, sizeof(rd->err), c, "select");
    goto dberr;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    duro_evlog_row_t row = {
        .seq = strtoll(PQgetvalue(r, i, 0), NULL, 10), /* C string: libpq */
        .parent = strtoll(PQgetvalue(r, i, 1), NULL, 10), /* C string: libpq */
        .name = column(r, i, 2, 0),
        .args = column(r, i, 3, 1),
        .created_at = column(r, i, 4, 0),
        .client_id = column(r, i, 5, 0),
        .session_id = column(r, i, 6, 0),
    };
    if (rd->row(rd->ud, &row))
      break;
  }
  goto done;

dberr:
  rd->result = DURO_EVLOG_DBERR;
done:
  PQclear(r);
  command(c, rd->result == DURO_EVLOG_DBERR ? "ROLLBACK" : "COMMIT", 0, NULL,
          NULL);
}
