/*
 * postgres.c: the PostgreSQL engine of the store (engine.h), with libpq on
 * the store's worker thread (blocking calls there; the loop never waits).
 *
 * Durability: the session runs with synchronous_commit on, so a COMMIT
 * returns once the server has its WAL flushed (and, with a synchronous
 * standby configured, the standby too): status 0 is durable whatever the
 * store's sync flag says (that flag is SQLite's).
 *
 * Group commit: the batches of a group go as one pipeline (BEGIN, the
 * statements, COMMIT, one sync), so a group costs one round trip and one
 * WAL flush however many objects it carries. A failed statement aborts
 * the rest of the pipeline; the transaction is then rolled back and the
 * store retries the batches one by one, as on SQLite.
 *
 * Order: kv keys are bytea, which PostgreSQL compares as memcmp does (a
 * prefix first), and the text columns use the "C" collation, so loads
 * list in the same order as on SQLite.
 *
 * A lost connection is noticed before the next job (ready): libpq
 * reconnects, at most four times a second, and the statements are prepared
 * again; the jobs in between fail with DURO_EIO.
 *
 * One node per database: the session holds an advisory lock, taken at
 * open and again after a reconnection; a second node is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "store/db.h"
#include "store/engine.h"

#define SCHEMA_VERSION 1
#define RECONNECT_MS 250 /* at most four reconnection attempts a second */
/* pg_advisory_xact_lock key for creating the schema: nodes starting at
 * once create it one after the other */
#define SCHEMA_LOCK "7237163812339001"
/* pg_try_advisory_lock key held for the session: one node per database
 * until objects have owners (a second node would share them blindly) */
#define NODE_LOCK "7237163812339002"

static const char schema_sql[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ");"
    "CREATE TABLE IF NOT EXISTS duro_meta(key text COLLATE \"C\" PRIMARY KEY, "
    "value text NOT NULL);"
    "INSERT INTO duro_meta(key, value) VALUES('schema_version', '1') "
    "ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS duro_objects(id text COLLATE \"C\" PRIMARY "
    "KEY, namespace text COLLATE \"C\" NOT NULL, name text COLLATE \"C\");"
    "CREATE TABLE IF NOT EXISTS duro_kv(object_id text COLLATE \"C\" NOT NULL, "
    "key bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY(object_id, key));"
    "CREATE TABLE IF NOT EXISTS duro_alarms(object_id text COLLATE \"C\" NOT "
    "NULL, name text COLLATE \"C\" NOT NULL, due_ms bigint NOT NULL, "
    "PRIMARY KEY(object_id, name));"
    /* the LiveStore event logs (eventlog_pg.c) */
    "CREATE TABLE IF NOT EXISTS duro_eventlog_context(store_id text COLLATE "
    "\"C\" PRIMARY KEY, head bigint NOT NULL, backend_id text NOT NULL);"
    "CREATE TABLE IF NOT EXISTS duro_eventlog(store_id text COLLATE \"C\" NOT "
    "NULL, seq bigint NOT NULL, parent bigint NOT NULL, name text NOT NULL, "
    "args text, created_at text NOT NULL, client_id text NOT NULL, "
    "session_id text NOT NULL, PRIMARY KEY(store_id, seq));"
    /* the cluster's nodes and owners (owners_pg.c), and the fence every
     * fenced batch runs first: the owner row is read FOR SHARE, so a
     * claim (an UPDATE of it) waits for the commit or the commit sees the
     * claim, never both writing in one epoch */
    "CREATE TABLE IF NOT EXISTS duro_nodes(node_id text COLLATE \"C\" PRIMARY "
    "KEY, advertise text NOT NULL, lease_until timestamptz NOT NULL, "
    "registered_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS duro_owners(object_id text COLLATE \"C\" "
    "PRIMARY KEY, node_id text COLLATE \"C\" NOT NULL, epoch bigint NOT NULL, "
    "claimed_at timestamptz NOT NULL DEFAULT now());"
    "CREATE OR REPLACE FUNCTION duro_fence(oid text, node text, ep bigint) "
    "RETURNS void LANGUAGE plpgsql AS $f$ BEGIN "
    "PERFORM 1 FROM duro_owners o JOIN duro_nodes n ON n.node_id = o.node_id "
    "WHERE o.object_id = oid AND o.node_id = node AND o.epoch = ep AND "
    "n.lease_until > clock_timestamp() FOR SHARE OF o; "
    "IF NOT FOUND THEN RAISE EXCEPTION 'duro: node % does not own % at epoch "
    "%', node, oid, ep USING ERRCODE = 'DU001'; END IF; END $f$;"
    "COMMIT;";

/* The prepared statements: name, text, number of parameters. */
enum {
  ST_OBJECT_UPSERT,
  ST_KV_PUT,
  ST_KV_DELETE,
  ST_KV_DELETE_ALL,
  ST_ALARM_DELETE_ALL,
  ST_ALARM_SET,
  ST_ALARM_DELETE,
  ST_KV_LOAD,
  ST_ALARMS_LOAD,
  ST_FENCE,
  ST_COUNT
};

static const struct {
  const char *name;
  const char *sql;
  int nparams;
} statements[ST_COUNT] = {
    /* A name learnt later fills in a row created from an id. */
    [ST_OBJECT_UPSERT] = {"duro_object_upsert",
                          "INSERT INTO duro_objects(id, namespace, name) "
                          "VALUES($1, $2, $3) ON CONFLICT(id) DO UPDATE SET "
                          "name = excluded.name WHERE duro_objects.name IS "
                          "NULL AND excluded.name IS NOT NULL",
                          3},
    [ST_KV_PUT] = {"duro_kv_put",
                   "INSERT INTO duro_kv(object_id, key, value) VALUES($1, "
                   "$2, $3) ON CONFLICT(object_id, key) DO UPDATE SET value "
                   "= excluded.value",
                   3},
    [ST_KV_DELETE] = {"duro_kv_delete",
                      "DELETE FROM duro_kv WHERE object_id = $1 AND key = $2",
                      2},
    [ST_KV_DELETE_ALL] = {"duro_kv_delete_all",
                          "DELETE FROM duro_kv WHERE object_id = $1", 1},
    [ST_ALARM_DELETE_ALL] = {"duro_alarm_delete_all",
                             "DELETE FROM duro_alarms WHERE object_id = $1", 1},
    [ST_ALARM_SET] = {"duro_alarm_set",
                      "INSERT INTO duro_alarms(object_id, name, due_ms) "
                      "VALUES($1, $2, $3) ON CONFLICT(object_id, name) DO "
                      "UPDATE SET due_ms = excluded.due_ms",
                      3},
    [ST_ALARM_DELETE] = {"duro_alarm_delete",
                         "DELETE FROM duro_alarms WHERE object_id = $1 AND "
                         "name = $2",
                         2},
    [ST_KV_LOAD] = {"duro_kv_load",
                    "SELECT key, value FROM duro_kv WHERE object_id = $1 "
                    "ORDER BY key",
                    1},
    [ST_ALARMS_LOAD] = {"duro_alarms_load",
                        "SELECT a.object_id, o.namespace, o.name, a.name, "
                        "a.due_ms FROM duro_alarms AS a JOIN duro_objects AS "
                        "o ON o.id = a.object_id ORDER BY a.due_ms, "
                        "a.object_id, a.name",
                        0},
    [ST_FENCE] = {"duro_fence", "SELECT duro_fence($1, $2, $3)", 3},
};

typedef struct pg {
  PGconn *c;
  uint64_t last_try_ms; /* the last reconnection attempt */
  int shared;           /* other nodes may use the database */
  int broken;           /* a pipeline could not be ended: reconnect */
} pg_t;

PGconn *duro_store__pg(duro_store_db_t *h) {
  return h->engine == &duro_store_postgres ? ((pg_t *)h->conn)->c : NULL;
}

const char *duro_store__pg_int(char buf[24], int64_t v) {
  if (duro_fmt(buf, 24, "%lld", (long long)v) < 0)
    buf[0] = '\0'; /* 24 bytes hold any int64_t */
  return buf;
}

void duro_store__pg_say(char *why, size_t whylen, const char *what,
                        const char *msg) {
  if (!whylen)
    return;
  if (duro_fmt(why, whylen, "%s%s", what, *what ? ": " : "") < 0)
    return; /* what alone fills it */
  /* one line: libpq's messages run over several ("\n\tIs the server
   * running...", one block per host tried) */
  size_t n = strlen(why); /* C string: just formatted */
  int space = 0;
  for (const char *p = msg ? msg : ""; *p && n + 1 < whylen; p++) {
    if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
      space = 1;
      continue;
    }
    if (space && n > 0 && why[n - 1] != ' ')
      why[n++] = ' ';
    space = 0;
    why[n++] = *p;
  }
  why[n] = '\0';
}

/* A failed result's code: by SQLSTATE where one says more than "failed". */
int duro_store__pg_code(const PGresult *r) {
  const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (!st)
    return DURO_EIO;
  if (strcmp(st, "DU001") == 0) /* duro_fence: not the owner any more */
    return DURO_ESTALE;
  if (strcmp(st, "53100") == 0) /* disk_full */
    return DURO_ENOSPC;
  if (strcmp(st, "54000") == 0 || strcmp(st, "54001") == 0) /* too big */
    return DURO_E2BIG;
  if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
      strcmp(st, "55P03") == 0) /* serialization, deadlock, lock */
    return DURO_EBUSY;
  if (strcmp(st, "53200") == 0) /* out_of_memory */
    return DURO_ENOMEM;
  return DURO_EIO;
}

/* Runs sql (no parameters); 0 or a code with why. */
static int exec(PGconn *c, const char *sql, char *why, size_t whylen) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  int rc = 0;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    rc = duro_store__pg_code(r);
    duro_store__pg_say(why, whylen, "", PQerrorMessage(c));
  }
  PQclear(r);
  return rc;
}

/* Settings, schema and statements on a fresh connection. */
static int prepare(PGconn *c, int shared, char *why, size_t whylen) {
  int rc;
  if ((rc = exec(c, "SET synchronous_commit = on", why, whylen)) < 0 ||
      (rc = exec(c, schema_sql, why, whylen)) < 0) {
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
      PQclear(PQexec(c, "ROLLBACK"));
    return rc;
  }
  PGresult *r = PQexec(c, "SELECT value FROM duro_meta WHERE key = "
                          "'schema_version'");
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    duro_store__pg_say(why, whylen, "reading the schema version",
                       PQerrorMessage(c));
    PQclear(r);
    return DURO_EIO;
  }
  long v = strtol(PQgetvalue(r, 0, 0), NULL, 10); /* C string: libpq */
  PQclear(r);
  /* shared: any number of nodes, which the owners keep apart; else this
   * node alone, for as long as the session lasts */
  r = PQexec(c, shared ? "SELECT true"
                       : "SELECT pg_try_advisory_lock(" NODE_LOCK ")");
  int alone = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
              PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  if (!alone)
    return duro_err_fmt(DURO_EBUSY, why, whylen,
                        "PostgreSQL: another duro node is using this "
                        "database (one node per database in this version)");
  if (v != SCHEMA_VERSION)
    return duro_err_fmt(DURO_ENOTSUP, why, whylen,
                        "PostgreSQL: schema version %ld is not supported "
                        "(this build knows %d)",
                        v, SCHEMA_VERSION);
  for (int i = 0; i < ST_COUNT; i++) {
    r = PQprepare(c, statements[i].name, statements[i].sql,
                  statements[i].nparams, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      duro_store__pg_say(why, whylen, "preparing a statement",
                         PQerrorMessage(c));
      PQclear(r);
      return DURO_EIO;
    }
    PQclear(r);
  }
  return 0;
}

static void ignore_notice(void *arg, const char *message) {}

static void pg_close(void *conn) {
  pg_t *p = conn;
  PQfinish(p->c);
  duro_free(p);
}

static int pg_open(const char *conninfo, int sync_full, int shared,
                   void **conn, char *why, size_t whylen) {
  /* defaults first: what the conninfo says comes later and wins */
  const char *keys[] = {"connect_timeout",  "keepalives",
                        "keepalives_idle",  "keepalives_interval",
                        "keepalives_count", "application_name",
                        "dbname",           NULL};
  const char *vals[] = {"5", "1", "5", "2", "2", "duro", conninfo, NULL};
  pg_t *p = duro_calloc(1, sizeof(*p));
  p->shared = shared;
  p->c = PQconnectdbParams(keys, vals, 1);
  if (p->c) /* "relation already exists, skipping" and the like */
    PQsetNoticeProcessor(p->c, ignore_notice, NULL);
  int rc;
  if (!p->c || PQstatus(p->c) != CONNECTION_OK) {
    duro_store__pg_say(why, whylen, "PostgreSQL",
                       p->c ? PQerrorMessage(p->c) : "out of memory");
    rc = DURO_EIO;
  } else if ((rc = prepare(p->c, shared, why, whylen)) == 0) {
    *conn = p;
    return 0;
  }
  pg_close(p);
  return rc;
}

static int pg_ready(void *conn, char *why, size_t whylen) {
  pg_t *p = conn;
  /* A server that died mid-pipeline can leave libpq saying CONNECTION_OK
   * with the pipeline still open; nothing runs on it any more. */
  if (PQstatus(p->c) == CONNECTION_OK && !p->broken &&
      PQpipelineStatus(p->c) == PQ_PIPELINE_OFF)
    return 0;
  uint64_t now = uv_hrtime() / 1000000;
  if (now - p->last_try_ms < RECONNECT_MS)
    return duro_err_fmt(DURO_EIO, why, whylen,
                        "PostgreSQL: the connection is lost");
  p->last_try_ms = now;
  PQreset(p->c);
  p->broken = 0;
  if (PQstatus(p->c) != CONNECTION_OK) {
    duro_store__pg_say(why, whylen, "PostgreSQL: reconnecting",
                       PQerrorMessage(p->c));
    return DURO_EIO;
  }
  int rc = prepare(p->c, p->shared, why, whylen);
  if (rc == 0)
    duro_log_info("store: reconnected to PostgreSQL");
  return rc;
}

static int pg_abandon(void *conn) {
  pg_t *p = conn;
  PGTransactionStatusType st = PQtransactionStatus(p->c);
  if (st == PQTRANS_IDLE || st == PQTRANS_UNKNOWN)
    return 0;
  PGresult *r = PQexec(p->c, "ROLLBACK");
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    duro_log_error("store: ROLLBACK failed: %s", PQerrorMessage(p->c));
  PQclear(r);
  return 1;
}

/* Sends one prepared statement into the pipeline: params of lens (binary
 * where bin[i]). 0, or -1 when libpq could not queue it. */
static int queue_stmt(PGconn *c, int st, const char *const *v, const int *len,
                      const int *bin) {
  return PQsendQueryPrepared(c, statements[st].name, statements[st].nparams, v,
                             len, bin, 0) == 1
             ? 0
             : -1;
}

/* Queues one object's writes; returns how many commands, or -1. */
static int send_writes(PGconn *c, const duro_store_writes_t *w) {
  static const int text3[3] = {0, 0, 0}, kv[3] = {0, 1, 1};
  const char *v[3] = {w->object_id, w->node_id, NULL};
  int len[3] = {64, 0, 0};
  int sent = 0;
  char due[24];
  if (w->node_id) { /* the fence first: nothing after it runs without it */
    duro_store__pg_int(due, w->epoch);
    v[2] = due;
    if (queue_stmt(c, ST_FENCE, v, len, text3) < 0)
      return -1;
    sent++;
  }
  v[1] = w->namespace_name;
  v[2] = w->object_name;
  if (queue_stmt(c, ST_OBJECT_UPSERT, v, len, text3) < 0)
    return -1;
  sent++;
  for (const duro_store_op_t *op = w->head; op; op = op->next) {
    int rc;
    v[0] = w->object_id;
    v[1] = (const char *)op->data;
    len[1] = (int)op->klen;
    switch (op->kind) {
    case DURO_OP_PUT:
      v[2] = (const char *)op->data + op->klen;
      len[2] = (int)op->vlen;
      rc = queue_stmt(c, ST_KV_PUT, v, len, kv);
      break;
    case DURO_OP_DELETE:
      rc = queue_stmt(c, ST_KV_DELETE, v, len, kv);
      break;
    case DURO_OP_DELETE_ALL:
      rc = queue_stmt(c, ST_KV_DELETE_ALL, v, len, text3);
      if (rc == 0) {
        sent++;
        rc = queue_stmt(c, ST_ALARM_DELETE_ALL, v, len, text3);
      }
      break;
    case DURO_OP_SET_ALARM:
      duro_store__pg_int(due, op->due_ms);
      v[2] = due;
      rc = queue_stmt(c, ST_ALARM_SET, v, len, text3);
      break;
    case DURO_OP_DELETE_ALARM:
      rc = queue_stmt(c, ST_ALARM_DELETE, v, len, text3);
      break;
    default:
      rc = -1;
    }
    if (rc < 0)
      return -1;
    sent++;
  }
  return sent;
}

/*
 * Reads the results of a pipeline of `sent` commands and its sync. 0 when
 * every command succeeded, else the first failure's code (why set).
 */
static int read_pipeline(PGconn *c, int sent, char *why, size_t whylen) {
  int rc = 0;
  for (int i = 0; i < sent; i++) {
    PGresult *r = PQgetResult(c);
    if (!r) { /* the connection broke */
      if (rc == 0) {
        rc = DURO_EIO;
        duro_store__pg_say(why, whylen, "PostgreSQL", PQerrorMessage(c));
      }
      return rc;
    }
    ExecStatusType st = PQresultStatus(r);
    if (rc == 0 && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
        st != PGRES_PIPELINE_ABORTED) {
      rc = duro_store__pg_code(r);
      duro_store__pg_say(why, whylen, "", PQresultErrorMessage(r));
    }
    PQclear(r);
    while ((r = PQgetResult(c))) /* the NULL that ends each command */
      PQclear(r);
  }
  PGresult *r = PQgetResult(c); /* the sync */
  if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
    if (rc == 0) {
      rc = DURO_EIO;
      duro_store__pg_say(why, whylen, "PostgreSQL: the pipeline did not end",
                         PQerrorMessage(c));
    }
  }
  PQclear(r);
  return rc;
}

static int pg_commit(void *conn, duro_store_writes_t *const *w, size_t n,
                     char *why, size_t whylen) {
  pg_t *p = conn;
  PGconn *c = p->c;
  if (PQenterPipelineMode(c) != 1) {
    duro_store__pg_say(why, whylen, "PostgreSQL: pipeline mode",
                       PQerrorMessage(c));
    return DURO_EIO;
  }
  int sent = 0, rc = 0;
  if (PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1)
    rc = -1;
  else
    sent++;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int k = send_writes(c, w[i]);
    if (k < 0)
      rc = -1;
    else
      sent += k;
  }
  if (rc == 0) {
    if (PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1)
      rc = -1;
    else
      sent++;
  }
  if (PQpipelineSync(c) != 1 && rc == 0)
    rc = -1;
  if (rc < 0) {
    duro_store__pg_say(why, whylen, "PostgreSQL: sending", PQerrorMessage(c));
    rc = DURO_EIO;
  }
  /* read what was sent, even after a send failure, to end the pipeline */
  int got = read_pipeline(c, sent, why, whylen);
  if (rc == 0)
    rc = got;
  if (PQexitPipelineMode(c) != 1) {
    /* results still owed (the server went away mid-pipeline): the
     * connection is unusable; the next job reconnects (pg_ready) */
    p->broken = 1;
    return rc < 0 ? rc : DURO_EIO;
  }
  if (rc < 0)
    pg_abandon(p); /* an aborted BEGIN block still needs its ROLLBACK */
  return rc;
}

static int pg_load_kv(void *conn, const char *object_id, duro_kv_t **out,
                      size_t *nout, char *why, size_t whylen) {
  pg_t *p = conn;
  const char *v[1] = {object_id};
  PGresult *r = PQexecPrepared(p->c, statements[ST_KV_LOAD].name, 1, v, NULL,
                               NULL, 1 /* binary: bytea as it is */);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = duro_store__pg_code(r);
    duro_store__pg_say(why, whylen, "", PQerrorMessage(p->c));
    PQclear(r);
    return rc;
  }
  int n = PQntuples(r);
  duro_kv_t *kv = n ? duro_malloc((size_t)n * sizeof(*kv)) : NULL;
  for (int i = 0; i < n; i++) {
    kv[i].key_len = (size_t)PQgetlength(r, i, 0);
    kv[i].key = duro_memdup(PQgetvalue(r, i, 0), kv[i].key_len);
    kv[i].value_len = (size_t)PQgetlength(r, i, 1);
    kv[i].value = duro_memdup(PQgetvalue(r, i, 1), kv[i].value_len);
  }
  PQclear(r);
  *out = kv;
  *nout = (size_t)n;
  return 0;
}

static char *text_or_null(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col)
             ? NULL
             : duro_strndup(PQgetvalue(r, row, col),
                            (size_t)PQgetlength(r, row, col));
}

void duro_store__pg_alarm_rows(const PGresult *r, duro_alarm_row_t **out,
                               size_t *nout) {
  int rows = PQntuples(r);
  duro_alarm_row_t *a = rows ? duro_malloc((size_t)rows * sizeof(*a)) : NULL;
  size_t n = 0;
  for (int i = 0; i < rows; i++) {
    const char *id = PQgetvalue(r, i, 0);
    if (PQgetlength(r, i, 0) != 64 || !duro_store__valid_id(id)) {
      duro_log_warn("store: skipping an alarm with a malformed object id");
      continue;
    }
    duro_alarm_row_t *x = &a[n++];
    memcpy(x->object_id, id, 65);
    x->namespace_name = text_or_null(r, i, 1);
    x->object_name = text_or_null(r, i, 2);
    x->alarm_name = text_or_null(r, i, 3);
    x->due_ms = strtoll(PQgetvalue(r, i, 4), NULL, 10); /* C string: libpq */
  }
  *out = a;
  *nout = n;
}

static int pg_load_alarms(void *conn, duro_alarm_row_t **out, size_t *nout,
                          char *why, size_t whylen) {
  pg_t *p = conn;
  PGresult *r = PQexecPrepared(p->c, statements[ST_ALARMS_LOAD].name, 0, NULL,
                               NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = duro_store__pg_code(r);
    duro_store__pg_say(why, whylen, "", PQerrorMessage(p->c));
    PQclear(r);
    return rc;
  }
  duro_store__pg_alarm_rows(r, out, nout);
  PQclear(r);
  return 0;
}

const duro_store_engine_t duro_store_postgres = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .commit = pg_commit,
    .load_kv = pg_load_kv,
    .load_alarms = pg_load_alarms,
    .abandon = pg_abandon,
    .ready = pg_ready,
};
