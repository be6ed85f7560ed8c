/*
 * catalog.c: see catalog.h.
 */
#include "store/catalog.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "store/db.h"

int duro_store_list_objects(duro_store_db_t *h, const char *ns,
                            const char *after, unsigned limit,
                            duro_object_row_t **rows, size_t *n) {
  static const char sql[] =
      "SELECT o.id, o.name,"
      " (SELECT count(*) FROM kv WHERE kv.object_id = o.id),"
      " (SELECT coalesce(sum(length(key) + length(value)), 0) FROM kv"
      "   WHERE kv.object_id = o.id),"
      " (SELECT min(due_ms) FROM alarms WHERE alarms.object_id = o.id)"
      " FROM objects o WHERE o.namespace = ?1 AND o.id > ?2"
      " ORDER BY o.id LIMIT ?3";
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
    const unsigned char *name = sqlite3_column_text(st, 1);
    if (name)
      r->name = duro_strndup((const char *)name,
                             (size_t)sqlite3_column_bytes(st, 1));
    r->keys = (uint64_t)sqlite3_column_int64(st, 2);
    r->bytes = (uint64_t)sqlite3_column_int64(st, 3);
    r->next_alarm_ms = sqlite3_column_type(st, 4) == SQLITE_NULL
                           ? -1
                           : sqlite3_column_int64(st, 4);
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
