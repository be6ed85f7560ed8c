/*
 * catalog.c: see catalog.h.
 */
#include "store/catalog.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "store/db.h"

/* An object's name, key count, key and value bytes and first alarm, as
 * columns of "objects o"; read_summary reads them back. */
#define SUMMARY_COLUMNS                                                        \
  "o.name,"                                                                    \
  " (SELECT count(*) FROM kv WHERE kv.object_id = o.id),"                      \
  " (SELECT coalesce(sum(length(key) + length(value)), 0) FROM kv"             \
  "   WHERE kv.object_id = o.id),"                                             \
  " (SELECT min(due_ms) FROM alarms WHERE alarms.object_id = o.id)"

/* SUMMARY_COLUMNS from column col on into r (the name copied). */
static void read_summary(sqlite3_stmt *st, int col, duro_object_row_t *r) {
  const unsigned char *name = sqlite3_column_text(st, col);
  if (name)
    r->name = duro_strndup((const char *)name,
                           (size_t)sqlite3_column_bytes(st, col));
  r->keys = (uint64_t)sqlite3_column_int64(st, col + 1);
  r->bytes = (uint64_t)sqlite3_column_int64(st, col + 2);
  r->next_alarm_ms = sqlite3_column_type(st, col + 3) == SQLITE_NULL
                         ? -1
                         : sqlite3_column_int64(st, col + 3);
}

int duro_store_list_objects(duro_store_db_t *h, const char *ns,
                            const char *after, unsigned limit,
                            duro_object_row_t **rows, size_t *n) {
  static const char sql[] =
      "SELECT o.id, " SUMMARY_COLUMNS
      " FROM objects o WHERE o.namespace = ?1 AND o.id > ?2"
      " ORDER BY o.id LIMIT ?3";
  PGconn *pg = duro_store__pg(h);
  if (pg)
    return duro_store__pg_list_objects(pg, ns, after, limit, rows, n);
  sqlite3 *db = duro_store__sqlite(h);
  sqlite3_stmt *st = NULL;
  *rows = NULL;
  *n = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return DURO_EIO;
  sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, limit);
  duro_object_row_t *out = limit ? duro_calloc(limit, sizeof(*out)) : NULL;
  size_t got = 0;
  int rc;
  while (got < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    duro_object_row_t *r = &out[got];
    const unsigned char *id = sqlite3_column_text(st, 0);
    int idlen = sqlite3_column_bytes(st, 0);
    if (!id || idlen != 64)
      continue; /* not an id duro wrote */
    memcpy(r->id, id, 64);
    r->id[64] = '\0';
    read_summary(st, 1, r);
    got++;
  }
  rc = got == limit ? SQLITE_DONE : rc;
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    duro_object_rows_free(out, got);
    return DURO_EIO;
  }
  *rows = out;
  *n = got;
  return 0;
}

void duro_object_rows_free(duro_object_row_t *rows, size_t n) {
  for (size_t i = 0; i < n; i++)
    duro_free(rows[i].name);
  duro_free(rows);
}

int duro_store_object_summary(duro_store_db_t *h, const char *id,
                              duro_object_row_t *row) {
  static const char sql[] =
      "SELECT " SUMMARY_COLUMNS " FROM objects o WHERE o.id = ?1";
  PGconn *pg = duro_store__pg(h);
  if (pg)
    return duro_store__pg_object_summary(pg, id, row);
  sqlite3_stmt *st = NULL;
  memset(row, 0, sizeof(*row));
  if (sqlite3_prepare_v2(duro_store__sqlite(h), sql, -1, &st, NULL) != SQLITE_OK)
    return DURO_EIO;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    memcpy(row->id, id, 64);
    read_summary(st, 0, row);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? DURO_ENOENT : DURO_EIO;
}

int duro_store_object_alarms(duro_store_db_t *h, const char *id,
                             duro_alarm_entry_t **out, size_t *n) {
  static const char sql[] =
      "SELECT name, due_ms FROM alarms WHERE object_id = ?1"
      " ORDER BY due_ms, name";
  PGconn *pg = duro_store__pg(h);
  if (pg)
    return duro_store__pg_object_alarms(pg, id, out, n);
  sqlite3_stmt *st = NULL;
  *out = NULL;
  *n = 0;
  if (sqlite3_prepare_v2(duro_store__sqlite(h), sql, -1, &st, NULL) != SQLITE_OK)
    return DURO_EIO;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 8;
      *out = duro_realloc(*out, cap * sizeof(**out));
    }
    const unsigned char *name = sqlite3_column_text(st, 0);
    (*out)[*n].name = duro_strndup(name ? (const char *)name : "",
                                   (size_t)sqlite3_column_bytes(st, 0));
    (*out)[*n].due_ms = sqlite3_column_int64(st, 1);
    (*n)++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    duro_alarm_entries_free(*out, *n);
    *out = NULL;
    *n = 0;
    return DURO_EIO;
  }
  return 0;
}

void duro_alarm_entries_free(duro_alarm_entry_t *a, size_t n) {
  for (size_t i = 0; i < n; i++)
    duro_free(a[i].name);
  duro_free(a);
}

int duro_store_kv_page(duro_store_db_t *h, const char *id, const void *after,
                       size_t after_len, unsigned limit, duro_kv_t **kv,
                       size_t *n) {
  static const char first[] =
      "SELECT key, value FROM kv WHERE object_id = ?1 ORDER BY key LIMIT ?3";
  static const char next[] = "SELECT key, value FROM kv WHERE object_id = ?1"
                             " AND key > ?2 ORDER BY key LIMIT ?3";
  PGconn *pg = duro_store__pg(h);
  if (pg)
    return duro_store__pg_kv_page(pg, id, after, after_len, limit, kv, n);
  sqlite3_stmt *st = NULL;
  *kv = NULL;
  *n = 0;
  if (sqlite3_prepare_v2(duro_store__sqlite(h), after ? next : first, -1, &st,
                         NULL) != SQLITE_OK)
    return DURO_EIO;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (after)
    sqlite3_bind_blob(st, 2, after_len ? after : "", (int)after_len,
                      SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, limit);
  duro_kv_t *out = limit ? duro_calloc(limit, sizeof(*out)) : NULL;
  size_t got = 0;
  int rc = SQLITE_DONE;
  while (got < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    size_t klen = (size_t)sqlite3_column_bytes(st, 0);
    const void *k = sqlite3_column_blob(st, 0);
    size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
    const void *v = sqlite3_column_blob(st, 1);
    out[got].key = duro_malloc(klen ? klen : 1);
    if (klen)
      memcpy(out[got].key, k, klen);
    out[got].key_len = klen;
    out[got].value = duro_malloc(vlen ? vlen : 1);
    if (vlen)
      memcpy(out[got].value, v, vlen);
    out[got].value_len = vlen;
    got++;
  }
  rc = got == limit ? SQLITE_DONE : rc;
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    duro_store_kv_free(out, got);
    return DURO_EIO;
  }
  *kv = out;
  *n = got;
  return 0;
}
