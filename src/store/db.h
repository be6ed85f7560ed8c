/*
 * db.h: inside src/store/ only. The handle handed to a module job's work
 * function (duro_store_db_t, opaque above store/) is the worker's sqlite3
 * connection itself: no wrapper, no allocation. These two casts are the
 * whole mapping; nothing outside this folder (and its unit tests) may
 * include this header.
 */
#ifndef DURO_STORE_DB_H
#define DURO_STORE_DB_H

#include <sqlite3.h>

#include "store/store.h"

static inline duro_store_db_t *duro_store__handle(sqlite3 *db) {
  return (duro_store_db_t *)(void *)db;
}

static inline sqlite3 *duro_store__sqlite(duro_store_db_t *h) {
  return (sqlite3 *)(void *)h;
}

#endif
