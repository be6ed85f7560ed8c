/*
 * catalog_pg.c: the catalog's queries on PostgreSQL (catalog.c hands a
 * PostgreSQL job's handle here); the same rows as on SQLite, in the same
 * order (ids and names in the "C" collation, keys as bytea).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "store/catalog.h"
#include "store/db.h"

#define SUMMARY_COLUMNS                                                        \
  "o.name,"                                                                    \
  " (SELECT count(*) FROM duro_kv k WHERE k.object_id = o.id),"                \
  " (SELECT coalesce(sum(length(key) + length(value)), 0) FROM duro_kv k"      \
  "   WHERE k.object_id = o.id),"                                              \
  " (SELECT min(due_ms) FROM duro_alarms a WHERE a.object_id = o.id)"

static void read_summary(const PGresult *r, int row, int col,
                         duro_object_row_t *out) {
  if (!PQgetisnull(r, row, col))
    out->name =
        duro_strndup(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
  out->keys = strtoull(PQgetvalue(r, row, col + 1), NULL, 10); /* C string: libpq */
  out->bytes = strtoull(PQgetvalue(r, row, col + 2), NULL, 10); /* C string: libpq */
  out->next_alarm_ms = PQgetisnull(r, row, col + 3)
                           ? -1
                           : strtoll(PQgetvalue(r, row, col + 3), NULL, 10); /* C string: libpq */
}

/* Runs sql with text parameters; the result, or NULL on failure. */
static PGresult *query(PGconn *c, const char *sql, int n, const char *const *v,
                       const int *len, const int *fmt, int binary) {
  PGresult *r = PQexecParams(c, sql, n, NULL, v, len, fmt, binary);
  if (PQresultStatus(r) == PGRES_TUPLES_OK)
    return r;
  PQclear(r);
  return NULL;
}

int duro_store__pg_list_objects(PGconn *c, const char *ns, const char *after,
                                unsigned limit, duro_object_row_t **rows,
                                size_t *n) {
  char lim[24];
  duro_store__pg_int(lim, limit);
  const char *v[3] = {ns, after ? after : "", lim};
  PGresult *r = query(c,
                      "SELECT o.id, " SUMMARY_COLUMNS
                      " FROM duro_objects o WHERE o.namespace = $1 AND o.id > "
                      "$2 ORDER BY o.id LIMIT $3",
                      3, v, NULL, NULL, 0);
  *rows = NULL;
  *n = 0;
  if (!r)
    return DURO_EIO;
  int m = PQntuples(r);
  duro_object_row_t *out = m ? duro_calloc((size_t)m, sizeof(*out)) : NULL;
  size_t got = 0;
  for (int i = 0; i < m; i++) {
    if (PQgetlength(r, i, 0) != 64)
      continue; /* not an id duro wrote */
    memcpy(out[got].id, PQgetvalue(r, i, 0), 65);
    read_summary(r, i, 1, &out[got]);
    got++;
  }
  PQclear(r);
  *rows = out;
  *n = got;
  return 0;
}

int duro_store__pg_object_summary(PGconn *c, const char *id,
                                  duro_object_row_t *row) {
  const char *v[1] = {id};
  PGresult *r =
      query(c, "SELECT " SUMMARY_COLUMNS " FROM duro_objects o WHERE o.id = $1",
            1, v, NULL, NULL, 0);
  memset(row, 0, sizeof(*row));
  if (!r)
    return DURO_EIO;
  int found = PQntuples(r) == 1;
  if (found) {
    memcpy(row->id, id, 64);
    read_summary(r, 0, 0, row);
  }
  PQclear(r);
  return found ? 0 : DURO_ENOENT;
}

int duro_store__pg_object_alarms(PGconn *c, const char *id,
                                 duro_alarm_entry_t **out, size_t *n) {
  const char *v[1] = {id};
  PGresult *r = query(c,
                      "SELECT name, due_ms FROM duro_alarms WHERE object_id = "
                      "$1 ORDER BY due_ms, name",
                      1, v, NULL, NULL, 0);
  *out = NULL;
  *n = 0;
  if (!r)
    return DURO_EIO;
  int m = PQntuples(r);
  if (m)
    *out = duro_malloc((size_t)m * sizeof(**out));
  for (int i = 0; i < m; i++) {
    (*out)[i].name =
        duro_strndup(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
    (*out)[i].due_ms = strtoll(PQgetvalue(r, i, 1), NULL, 10); /* C string: libpq */
  }
  *n = (size_t)m;
  PQclear(r);
  return 0;
}

int duro_store__pg_kv_page(PGconn *c, const char *id, const void *after,
                           size_t after_len, unsigned limit, duro_kv_t **kv,
                           size_t *n) {
  char lim[24];
  duro_store__pg_int(lim, limit);
  const char *v[3] = {id, lim, after_len ? after : ""};
  int len[3] = {0, 0, (int)after_len};
  const int fmt[3] = {0, 0, 1}; /* the key as bytes */
  PGresult *r =
      after ? query(c,
                    "SELECT key, value FROM duro_kv WHERE object_id = $1 AND "
                    "key > $3::bytea ORDER BY key LIMIT $2",
                    3, v, len, fmt, 1)
            : query(c,
                    "SELECT key, value FROM duro_kv WHERE object_id = $1 "
                    "ORDER BY key LIMIT $2",
                    2, v, len, fmt, 1);
  *kv = NULL;
  *n = 0;
  if (!r)
    return DURO_EIO;
  int m = PQntuples(r);
  duro_kv_t *out = m ? duro_calloc((size_t)m, sizeof(*out)) : NULL;
  for (int i = 0; i < m; i++) {
    size_t kl = (size_t)PQgetlength(r, i, 0), vl = (size_t)PQgetlength(r, i, 1);
    out[i].key = duro_malloc(kl ? kl : 1);
    memcpy(out[i].key, PQgetvalue(r, i, 0), kl);
    out[i].key_len = kl;
    out[i].value = duro_malloc(vl ? vl : 1);
    memcpy(out[i].value, PQgetvalue(r, i, 1), vl);
    out[i].value_len = vl;
  }
  PQclear(r);
  *kv = out;
  *n = (size_t)m;
  return 0;
}
