/*
 * owners_pg.c: see owners.h; PostgreSQL only.
 */
#include "store/owners.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "store/db.h"

/* Runs sql with text parameters; the result, whatever its status. */
static PGresult *run(PGconn *c, const char *sql, int n, const char *const *v) {
  return PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
}

/* A node id or URL from the database into its field; longer ones than
 * register accepts are cut (only another program could have written
 * them). */
static void copy(char *dst, size_t size, const char *src) {
  if (duro_fmt(dst, size, "%s", src) < 0 && size)
    dst[size - 1] = '\0'; /* DURO_E2BIG: the prefix stays */
}

static int failed(PGresult *r) {
  int rc = duro_store__pg_code(r);
  PQclear(r);
  return rc < 0 ? rc : DURO_EIO;
}

int duro_owners_register(duro_store_db_t *db, const char *node_id,
                         const char *advertise, unsigned lease_ms, char *why,
                         size_t whylen) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return duro_err_fmt(DURO_ENOTSUP, why, whylen,
                        "nodes and owners need PostgreSQL");
  size_t idlen = strlen(node_id);     /* C string: from the config */
  size_t urllen = strlen(advertise); /* C string: from the config */
  if (idlen > DURO_NODE_ID_MAX || urllen > DURO_ADVERTISE_MAX)
    return duro_err_fmt(DURO_EINVAL, why, whylen,
                        "node id or advertised URL too long");
  char ms[24];
  duro_store__pg_int(ms, lease_ms);
  const char *v[3] = {node_id, advertise, ms};
  /* a row of a previous life is taken over once its lease has lapsed */
  PGresult *r = run(c,
                    "INSERT INTO duro_nodes(node_id, advertise, lease_until) "
                    "VALUES($1, $2, clock_timestamp() + $3 * interval '1 ms') "
                    "ON CONFLICT(node_id) DO UPDATE SET advertise = "
                    "excluded.advertise, lease_until = excluded.lease_until, "
                    "registered_at = now() WHERE duro_nodes.lease_until <= "
                    "clock_timestamp() RETURNING 1",
                    3, v);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    duro_store__pg_say(why, whylen, "registering the node",
                       PQresultErrorMessage(r));
    return failed(r);
  }
  int taken = PQntuples(r) == 1;
  PQclear(r);
  if (!taken)
    return duro_err_fmt(DURO_EBUSY, why, whylen,
                        "node id '%s' is held by a live node", node_id);
  return 0;
}

int duro_owners_renew(duro_store_db_t *db, const char *node_id,
                      unsigned lease_ms) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return DURO_ENOTSUP;
  char ms[24];
  duro_store__pg_int(ms, lease_ms);
  const char *v[2] = {node_id, ms};
  PGresult *r = run(c,
                    "UPDATE duro_nodes SET lease_until = clock_timestamp() + "
                    "$2 * interval '1 ms' WHERE node_id = $1 AND lease_until "
                    "> clock_timestamp()",
                    2, v);
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    return failed(r);
  int renewed = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  return renewed ? 0 : DURO_ESTALE;
}

/* One owner from columns node_id, advertise, epoch, live of row 0. */
static void read_owner(const PGresult *r, duro_owner_t *out) {
  memset(out, 0, sizeof(*out));
  copy(out->node_id, sizeof(out->node_id), PQgetvalue(r, 0, 0));
  copy(out->advertise, sizeof(out->advertise), PQgetvalue(r, 0, 1));
  out->epoch = strtoll(PQgetvalue(r, 0, 2), NULL, 10); /* C string: libpq */
  out->live = PQgetvalue(r, 0, 3)[0] == 't';
}

int duro_owners_lookup(duro_store_db_t *db, const char *object_id,
                       duro_owner_t *out) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return DURO_ENOTSUP;
  const char *v[1] = {object_id};
  PGresult *r = run(c,
                    "SELECT o.node_id, coalesce(n.advertise, ''), o.epoch, "
                    "coalesce(n.lease_until > clock_timestamp(), false) FROM "
                    "duro_owners o LEFT JOIN duro_nodes n ON n.node_id = "
                    "o.node_id WHERE o.object_id = $1",
                    1, v);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return failed(r);
  int found = PQntuples(r) == 1;
  if (found)
    read_owner(r, out);
  PQclear(r);
  return found ? 0 : DURO_ENOENT;
}

int duro_owners_claim(duro_store_db_t *db, const char *node_id,
                      const char *object_id, duro_owner_t *out) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return DURO_ENOTSUP;
  const char *v[2] = {object_id, node_id};
  /* Only a live claimer claims (the SELECT gives no row otherwise); the
   * update takes the row when its owner is this node id or not live. */
  PGresult *r = run(
      c,
      "INSERT INTO duro_owners(object_id, node_id, epoch) SELECT $1, $2, 1 "
      "WHERE EXISTS (SELECT 1 FROM duro_nodes WHERE node_id = $2 AND "
      "lease_until > clock_timestamp()) ON CONFLICT(object_id) DO UPDATE SET "
      "node_id = excluded.node_id, epoch = duro_owners.epoch + 1, claimed_at "
      "= now() WHERE duro_owners.node_id = excluded.node_id OR NOT EXISTS "
      "(SELECT 1 FROM duro_nodes n WHERE n.node_id = duro_owners.node_id AND "
      "n.lease_until > clock_timestamp()) RETURNING epoch",
      2, v);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return failed(r);
  if (PQntuples(r) == 1) {
    memset(out, 0, sizeof(*out));
    copy(out->node_id, sizeof(out->node_id), node_id);
    out->epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10); /* C string: libpq */
    out->live = 1;
    PQclear(r);
    return 1;
  }
  PQclear(r);
  /* not ours: because our lease lapsed, or because a live node owns it */
  const char *me[1] = {node_id};
  r = run(c,
          "SELECT 1 FROM duro_nodes WHERE node_id = $1 AND lease_until > "
          "clock_timestamp()",
          1, me);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return failed(r);
  int live = PQntuples(r) == 1;
  PQclear(r);
  if (!live)
    return DURO_ESTALE;
  int rc = duro_owners_lookup(db, object_id, out);
  return rc == DURO_ENOENT ? DURO_EBUSY : rc; /* gone again: try later */
}

int duro_owners_release(duro_store_db_t *db, const char *node_id) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return DURO_ENOTSUP;
  const char *v[1] = {node_id};
  PGresult *r = run(c,
                    "UPDATE duro_nodes SET lease_until = clock_timestamp() "
                    "WHERE node_id = $1",
                    1, v);
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    return failed(r);
  PQclear(r);
  return 0;
}

int duro_owners_live(duro_store_db_t *db, duro_owner_t **out, size_t *n) {
  PGconn *c = duro_store__pg(db);
  *out = NULL;
  *n = 0;
  if (!c)
    return DURO_ENOTSUP;
  PGresult *r = run(c,
                    "SELECT node_id, advertise FROM duro_nodes WHERE "
                    "lease_until > clock_timestamp() ORDER BY node_id",
                    0, NULL);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return failed(r);
  int m = PQntuples(r);
  if (m)
    *out = duro_calloc((size_t)m, sizeof(**out));
  for (int i = 0; i < m; i++) {
    copy((*out)[i].node_id, sizeof((*out)[i].node_id), PQgetvalue(r, i, 0));
    copy((*out)[i].advertise, sizeof((*out)[i].advertise),
         PQgetvalue(r, i, 1));
    (*out)[i].live = 1;
  }
  *n = (size_t)m;
  PQclear(r);
  return 0;
}

/* Runs an alarm query (the columns of duro_store__pg_alarm_rows). */
static int alarm_query(PGconn *c, const char *sql, int n,
                       const char *const *v, duro_alarm_row_t **out,
                       size_t *nout) {
  *out = NULL;
  *nout = 0;
  PGresult *r = run(c, sql, n, v);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return failed(r);
  duro_store__pg_alarm_rows(r, out, nout);
  PQclear(r);
  return 0;
}

int duro_owners_object_alarms(duro_store_db_t *db, const char *object_id,
                              duro_alarm_row_t **out, size_t *n) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return DURO_ENOTSUP;
  const char *v[1] = {object_id};
  return alarm_query(c,
                     "SELECT a.object_id, o.namespace, o.name, a.name, "
                     "a.due_ms FROM duro_alarms a JOIN duro_objects o ON "
                     "o.id = a.object_id WHERE a.object_id = $1 ORDER BY "
                     "a.due_ms, a.name",
                     1, v, out, n);
}

int duro_owners_node_alarms(duro_store_db_t *db, const char *node_id,
                            duro_alarm_row_t **out, size_t *n) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return DURO_ENOTSUP;
  const char *v[1] = {node_id};
  return alarm_query(c,
                     "SELECT a.object_id, o.namespace, o.name, a.name, "
                     "a.due_ms FROM duro_alarms a JOIN duro_objects o ON "
                     "o.id = a.object_id JOIN duro_owners w ON w.object_id = "
                     "a.object_id WHERE w.node_id = $1 ORDER BY a.due_ms, "
                     "a.object_id, a.name",
                     1, v, out, n);
}

int duro_owners_orphan_alarms(duro_store_db_t *db, int64_t due_before_ms,
                              unsigned limit, duro_alarm_row_t **out,
                              size_t *n) {
  PGconn *c = duro_store__pg(db);
  if (!c)
    return DURO_ENOTSUP;
  char due[24], lim[24];
  const char *v[2] = {duro_store__pg_int(due, due_before_ms),
                      duro_store__pg_int(lim, limit)};
  return alarm_query(
      c,
      "SELECT a.object_id, o.namespace, o.name, a.name, a.due_ms FROM "
      "duro_alarms a JOIN duro_objects o ON o.id = a.object_id WHERE "
      "a.due_ms < $1 AND NOT EXISTS (SELECT 1 FROM duro_owners w JOIN "
      "duro_nodes d ON d.node_id = w.node_id WHERE w.object_id = a.object_id "
      "AND d.lease_until > clock_timestamp()) ORDER BY a.due_ms, a.object_id, "
      "a.name LIMIT $2",
      2, v, out, n);
}
