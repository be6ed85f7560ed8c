/*
 * db.h: inside src/store/ only. A module job's handle (duro_store_db_t,
 * opaque above store/) is the engine and its connection (store/engine.h);
 * the modules' functions (eventlog.c, catalog.c) reach the connection
 * through these. Nothing outside this folder (and its unit tests) may include this
 * header.
 */
#ifndef DURO_STORE_DB_H
#define DURO_STORE_DB_H

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"

/* The SQLite connection of a handle of the SQLite engine (asserted). */
sqlite3 *duro_store__sqlite(duro_store_db_t *h);

/* The PostgreSQL connection of a handle of that engine; NULL for another
 * engine's handle (how store/eventlog.c and store/catalog.c choose). */
PGconn *duro_store__pg(duro_store_db_t *h);
/* "what: msg" into why on one line (libpq's messages run over several
 * lines); what may be "". */
void duro_store__pg_say(char *why, size_t whylen, const char *what,
                        const char *msg);
/* v in decimal into buf (a text parameter); returns buf. */
const char *duro_store__pg_int(char buf[24], int64_t v);
/* A failed result's DURO_E* code, from its SQLSTATE. */
int duro_store__pg_code(const PGresult *r);
/* The alarm rows of r (columns object id, namespace, object name, alarm
 * name, due_ms) into *out (free with duro_store_alarms_free); rows with
 * a malformed object id are skipped with a warning. */
void duro_store__pg_alarm_rows(const PGresult *r, duro_alarm_row_t **out,
                               size_t *n);

/* The event logs and the catalog on PostgreSQL (eventlog_pg.c,
 * catalog_pg.c), behind the calls of eventlog.h and catalog.h. */
struct duro_evlog_append;
struct duro_evlog_read;
void duro_evlog__pg_append(PGconn *c, struct duro_evlog_append *a);
void duro_evlog__pg_read(PGconn *c, struct duro_evlog_read *r);
struct duro_object_row;
struct duro_alarm_entry;
int duro_store__pg_list_objects(PGconn *c, const char *ns, const char *after,
                                unsigned limit, struct duro_object_row **rows,
                                size_t *n);
int duro_store__pg_object_summary(PGconn *c, const char *id,
                                  struct duro_object_row *row);
int duro_store__pg_object_alarms(PGconn *c, const char *id,
                                 struct duro_alarm_entry **out, size_t *n);
int duro_store__pg_kv_page(PGconn *c, const char *id, const void *after,
                           size_t after_len, unsigned limit, duro_kv_t **kv,
                           size_t *n);
/* The checks both engines make once a log's context is read
 * (eventlog.c): an append's verdict before any write (OK, or MISMATCH,
 * AHEAD, BROKEN with a->err, in eventlog.h's order); a read's MISMATCH,
 * or OK with r->end_out set, returning 1 when rows are to be read. */
int duro_evlog__judge_append(struct duro_evlog_append *a);
int duro_evlog__judge_read(struct duro_evlog_read *r);
/* A fresh backendId for a new store's log (eventlog.c): out has room
 * for DURO_EVLOG_BACKEND_ID_LEN + 1 bytes. */
void duro_evlog__new_backend_id(char *out);

#endif
