/*
 * sqlite.c: the SQLite engine of the store (engine.h): one database file in
 * WAL mode, its statements prepared once at open, all of it used by the
 * store's worker thread alone (SQLITE_OPEN_NOMUTEX).
 */
#include <assert.h>
#include <stdarg.h>
#include <string.h>

#include <sqlite3.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "store/db.h"
#include "store/engine.h"

#define BUSY_TIMEOUT_MS 5000 /* another process holding the write lock */
#define SCHEMA_VERSION 1

/* The cached statements, prepared once at open. */
enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_OBJECT_UPSERT,
  ST_KV_PUT,
  ST_KV_DELETE,
  ST_KV_DELETE_ALL,
  ST_ALARM_DELETE_ALL,
  ST_ALARM_SET,
  ST_ALARM_DELETE,
  ST_KV_LOAD,
  ST_ALARMS_LOAD,
  ST_COUNT
};

static const char *const statement_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* A name learnt later fills in a row created from an id. */
    [ST_OBJECT_UPSERT] =
        "INSERT INTO objects(id, namespace, name) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name "
        "WHERE objects.name IS NULL AND excluded.name IS NOT NULL",
    [ST_KV_PUT] = "INSERT INTO kv(object_id, key, value) VALUES(?1, ?2, ?3) "
                  "ON CONFLICT(object_id, key) DO UPDATE SET value = "
                  "excluded.value",
    [ST_KV_DELETE] = "DELETE FROM kv WHERE object_id = ?1 AND key = ?2",
    [ST_KV_DELETE_ALL] = "DELETE FROM kv WHERE object_id = ?1",
    [ST_ALARM_DELETE_ALL] = "DELETE FROM alarms WHERE object_id = ?1",
    [ST_ALARM_SET] = "INSERT INTO alarms(object_id, name, due_ms) "
                     "VALUES(?1, ?2, ?3) ON CONFLICT(object_id, name) "
                     "DO UPDATE SET due_ms = excluded.due_ms",
    [ST_ALARM_DELETE] = "DELETE FROM alarms WHERE object_id = ?1 AND name = ?2",
    /* BLOBs compare with memcmp, a shorter prefix first. */
    [ST_KV_LOAD] = "SELECT key, value FROM kv WHERE object_id = ?1 "
                   "ORDER BY key",
    [ST_ALARMS_LOAD] =
        "SELECT a.object_id, o.namespace, o.name, a.name, a.due_ms "
        "FROM alarms AS a JOIN objects AS o ON o.id = a.object_id "
        "ORDER BY a.due_ms, a.object_id, a.name",
};

static const char schema_sql[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) "
    "WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', 1);"
    "CREATE TABLE IF NOT EXISTS objects(id TEXT PRIMARY KEY, "
    "namespace TEXT NOT NULL, name TEXT);"
    "CREATE TABLE IF NOT EXISTS kv(object_id TEXT NOT NULL, key BLOB NOT NULL, "
    "value BLOB NOT NULL, PRIMARY KEY(object_id, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS alarms(object_id TEXT NOT NULL, "
    "name TEXT NOT NULL, due_ms INTEGER NOT NULL, "
    "PRIMARY KEY(object_id, name)) WITHOUT ROWID;"
    "COMMIT;";

typedef struct sq {
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  char *path;
} sq_t;

sqlite3 *duro_store__sqlite(duro_store_db_t *h) {
  assert(h->engine == &duro_store_sqlite);
  return ((sq_t *)h->conn)->db;
}

/* Maps an SQLite (extended) result code to a DURO_E* code. */
static int map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    return 0;
  case SQLITE_FULL:
    return DURO_ENOSPC;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return DURO_EBUSY;
  case SQLITE_TOOBIG:
    return DURO_E2BIG;
  case SQLITE_NOMEM:
    return DURO_ENOMEM;
  default:
    return DURO_EIO;
  }
}

/* The connection's error text into why, for the log line written where
 * the failure is decided (taken before a ROLLBACK could replace it).
 * Returns the DURO_E* code of rc. */
static int fail(sq_t *q, int rc, char *why, size_t whylen) {
  const char *msg = q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc);
  duro_err_fmt(DURO_EIO, why, whylen, "%s", msg ? msg : "unknown error");
  return map_rc(rc) ? map_rc(rc) : DURO_EIO;
}

/* Steps a statement that returns no rows and resets it. Returns SQLITE_OK
 * or the failing code. */
static int step_done(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void sq_close(void *conn) {
  sq_t *q = conn;
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(q->st[i]);
  if (q->db) {
    /* close_v2 defers the close if a run() job leaked a statement, rather
     * than leaving the file open for good. */
    int rc = sqlite3_close_v2(q->db);
    if (rc != SQLITE_OK)
      duro_log_error("store: closing %s: %s", q->path, sqlite3_errstr(rc));
  }
  duro_free(q->path);
  duro_free(q);
}

/* Opens the database, configures it, creates the schema and prepares the
 * statements. */
static int sq_open(const char *path, int sync_full, int shared, void **conn,
                   char *why, size_t whylen) {
  sqlite3_stmt *st = NULL;
  char *msg = NULL;
  int rc, code = 0;

  if (!sqlite3_threadsafe())
    return duro_err_fmt(DURO_ENOTSUP, why, whylen,
                        "sqlite was built without thread support");
  sq_t *q = duro_calloc(1, sizeof(*q));
  q->path = duro_strdup(path);
  rc = sqlite3_open_v2(
      path, &q->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    duro_err_fmt(DURO_EIO, why, whylen, "open %s: %s", path,
                 q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_extended_result_codes(q->db, 1);
  sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);

  /* journal_mode answers with the mode in force, which is not WAL when,
   * for instance, the file system cannot hold the shared-memory index. */
  rc = sqlite3_prepare_v2(q->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal") != 0) {
      duro_err_fmt(DURO_EIO, why, whylen,
                   "%s: cannot enable WAL (journal_mode is %s)", path,
                   mode ? mode : "unknown");
      rc = SQLITE_ERROR;
      goto fail;
    }
    rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK) {
    duro_err_fmt(DURO_EIO, why, whylen, "%s: journal_mode=WAL: %s", path,
                 sqlite3_errmsg(q->db));
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;

  rc = sqlite3_exec(q->db,
                    sync_full
                        ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
                        : "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;",
                    NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    duro_err_fmt(DURO_EIO, why, whylen, "%s: pragmas: %s", path,
                 msg ? msg : sqlite3_errstr(rc));
    goto fail;
  }
  rc = sqlite3_exec(q->db, schema_sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    duro_err_fmt(DURO_EIO, why, whylen, "%s: creating schema: %s", path,
                 msg ? msg : sqlite3_errstr(rc));
    goto fail;
  }

  rc = sqlite3_prepare_v2(q->db,
                          "SELECT value FROM meta WHERE key = 'schema_version'",
                          -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      sqlite3_int64 v = sqlite3_column_int64(st, 0);
      if (v != SCHEMA_VERSION) {
        code = duro_err_fmt(DURO_ENOTSUP, why, whylen,
                            "%s: schema version %lld is not supported (this "
                            "build knows %d)",
                            path, (long long)v, SCHEMA_VERSION);
        goto fail;
      }
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_CORRUPT;
    }
  }
  if (rc != SQLITE_OK) {
    duro_err_fmt(DURO_EIO, why, whylen, "%s: reading schema version: %s", path,
                 sqlite3_errmsg(q->db));
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;

  for (int i = 0; i < ST_COUNT; i++) {
    rc = sqlite3_prepare_v3(q->db, statement_sql[i], -1,
                            SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
    if (rc != SQLITE_OK) {
      duro_err_fmt(DURO_EIO, why, whylen, "%s: preparing statement %d: %s",
                   path, i, sqlite3_errmsg(q->db));
      goto fail;
    }
  }
  *conn = q;
  return 0;

fail:
  sqlite3_free(msg);
  sqlite3_finalize(st);
  if (q->db && !sqlite3_get_autocommit(q->db))
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  sq_close(q);
  if (code)
    return code;
  return map_rc(rc) ? map_rc(rc) : DURO_EIO;
}

static void bind_id(sqlite3_stmt *st, const char *object_id) {
  sqlite3_bind_text(st, 1, object_id, 64, SQLITE_STATIC);
}

/* Applies one object's writes inside the caller's transaction. Returns
 * SQLITE_OK or the failing code; the statement that failed has already
 * been undone by SQLite, the caller rolls back the rest. */
static int apply(sq_t *q, const duro_store_writes_t *w) {
  sqlite3_stmt *st = q->st[ST_OBJECT_UPSERT];
  int rc;

  if (w->node_id) /* owners are PostgreSQL's (store/owners.h) */
    return SQLITE_MISUSE;
  bind_id(st, w->object_id);
  sqlite3_bind_text(st, 2, w->namespace_name, -1, SQLITE_STATIC);
  if (w->object_name)
    sqlite3_bind_text(st, 3, w->object_name, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 3);
  if ((rc = step_done(st)) != SQLITE_OK)
    return rc;

  for (const duro_store_op_t *op = w->head; op; op = op->next) {
    switch (op->kind) {
    case DURO_OP_PUT:
      st = q->st[ST_KV_PUT];
      bind_id(st, w->object_id);
      /* data is never NULL, so an empty key binds as an empty blob. */
      sqlite3_bind_blob64(st, 2, op->data, op->klen, SQLITE_STATIC);
      sqlite3_bind_blob64(st, 3, op->data + op->klen, op->vlen, SQLITE_STATIC);
      rc = step_done(st);
      break;
    case DURO_OP_DELETE:
      st = q->st[ST_KV_DELETE];
      bind_id(st, w->object_id);
      sqlite3_bind_blob64(st, 2, op->data, op->klen, SQLITE_STATIC);
      rc = step_done(st);
      break;
    case DURO_OP_DELETE_ALL:
      st = q->st[ST_KV_DELETE_ALL];
      bind_id(st, w->object_id);
      if ((rc = step_done(st)) != SQLITE_OK)
        break;
      st = q->st[ST_ALARM_DELETE_ALL];
      bind_id(st, w->object_id);
      rc = step_done(st);
      break;
    case DURO_OP_SET_ALARM:
      st = q->st[ST_ALARM_SET];
      bind_id(st, w->object_id);
      sqlite3_bind_text64(st, 2, (const char *)op->data, op->klen,
                          SQLITE_STATIC, SQLITE_UTF8);
      sqlite3_bind_int64(st, 3, op->due_ms);
      rc = step_done(st);
      break;
    case DURO_OP_DELETE_ALARM:
      st = q->st[ST_ALARM_DELETE];
      bind_id(st, w->object_id);
      sqlite3_bind_text64(st, 2, (const char *)op->data, op->klen,
                          SQLITE_STATIC, SQLITE_UTF8);
      rc = step_done(st);
      break;
    default:
      assert(0 && "unknown op");
      rc = SQLITE_INTERNAL;
    }
    if (rc != SQLITE_OK)
      return rc;
  }
  return SQLITE_OK;
}

/* Rolls back the open transaction, if SQLite has not already done so (it
 * does for some errors, such as SQLITE_FULL). 1 if there was one. */
static int sq_abandon(void *conn) {
  sq_t *q = conn;
  if (sqlite3_get_autocommit(q->db))
    return 0;
  if (step_done(q->st[ST_ROLLBACK]) != SQLITE_OK)
    duro_log_error("store: ROLLBACK failed: %s", sqlite3_errmsg(q->db));
  return 1;
}

static int sq_commit(void *conn, duro_store_writes_t *const *w, size_t n,
                     char *why, size_t whylen) {
  sq_t *q = conn;
  int rc = step_done(q->st[ST_BEGIN]);
  for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
    rc = apply(q, w[i]);
  if (rc == SQLITE_OK)
    rc = step_done(q->st[ST_COMMIT]);
  if (rc == SQLITE_OK)
    return 0;
  int code = fail(q, rc, why, whylen);
  sq_abandon(q);
  return code;
}

/* Copies a blob column into a new block; returns NULL (with *len 0 and
 * *ok 0) only if SQLite ran out of memory producing it. */
static uint8_t *column_dup(sqlite3_stmt *st, int col, size_t *len, int *ok) {
  const void *p = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  if (!p && n > 0) {
    *ok = 0;
    *len = 0;
    return NULL;
  }
  *len = (size_t)n;
  return duro_memdup(p, (size_t)n);
}

static char *column_strdup(sqlite3_stmt *st, int col) {
  const char *p = (const char *)sqlite3_column_text(st, col);
  return p ? duro_strndup(p, (size_t)sqlite3_column_bytes(st, col)) : NULL;
}

static int sq_load_kv(void *conn, const char *object_id, duro_kv_t **out,
                      size_t *nout, char *why, size_t whylen) {
  sq_t *q = conn;
  sqlite3_stmt *st = q->st[ST_KV_LOAD];
  duro_kv_t *kv = NULL;
  size_t n = 0, cap = 0;
  int rc, ok = 1;

  bind_id(st, object_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      kv = duro_realloc(kv, cap * sizeof(*kv));
    }
    kv[n].key = column_dup(st, 0, &kv[n].key_len, &ok);
    kv[n].value = column_dup(st, 1, &kv[n].value_len, &ok);
    n++;
    if (!ok) {
      rc = SQLITE_NOMEM;
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    int code = fail(q, rc, why, whylen);
    sqlite3_reset(st);
    duro_store_kv_free(kv, n);
    return code;
  }
  sqlite3_reset(st);
  *out = kv;
  *nout = n;
  return 0;
}

static int sq_load_alarms(void *conn, duro_alarm_row_t **out, size_t *nout,
                          char *why, size_t whylen) {
  sq_t *q = conn;
  sqlite3_stmt *st = q->st[ST_ALARMS_LOAD];
  duro_alarm_row_t *rows = NULL;
  size_t n = 0, cap = 0;
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (!id || sqlite3_column_bytes(st, 0) != 64 || !duro_store__valid_id(id)) {
      /* Not an id this store writes: no object can own the alarm. */
      duro_log_warn("store: skipping an alarm with a malformed object id");
      continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      rows = duro_realloc(rows, cap * sizeof(*rows));
    }
    duro_alarm_row_t *r = &rows[n++];
    memcpy(r->object_id, id, 65);
    r->namespace_name = column_strdup(st, 1);
    r->object_name = column_strdup(st, 2);
    r->alarm_name = column_strdup(st, 3);
    r->due_ms = sqlite3_column_int64(st, 4);
    if (!r->namespace_name || !r->alarm_name) {
      rc = SQLITE_NOMEM; /* both columns are NOT NULL */
      break;
    }
  }
  if (rc != SQLITE_DONE) {
    int code = fail(q, rc, why, whylen);
    sqlite3_reset(st);
    duro_store_alarms_free(rows, n);
    return code;
  }
  sqlite3_reset(st);
  *out = rows;
  *nout = n;
  return 0;
}

const duro_store_engine_t duro_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .commit = sq_commit,
    .load_kv = sq_load_kv,
    .load_alarms = sq_load_alarms,
    .abandon = sq_abandon,
};
