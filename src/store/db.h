/*
 * db.h: inside src/store/ only. A module job's handle (duro_store_db_t,
 * opaque above store/) is the engine and its connection (store/engine.h);
 * the SQLite engine's functions reach its sqlite3 connection through
 * this. Nothing outside this folder (and its unit tests) may include this
 * header.
 */
#ifndef DURO_STORE_DB_H
#define DURO_STORE_DB_H

#include <sqlite3.h>

#include "store/store.h"

/* The SQLite connection of a handle of the SQLite engine (asserted). */
sqlite3 *duro_store__sqlite(duro_store_db_t *h);

#endif
