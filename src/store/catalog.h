/*
 * catalog.h: what the store holds per object, for inspection (the admin
 * API): the objects of a namespace in id order, with their key count,
 * key and value bytes and next alarm. Runs on the storage worker inside a
 * module job (duro_store_run), like store/eventlog.h.
 */
#ifndef DURO_STORE_CATALOG_H
#define DURO_STORE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct duro_object_row {
  char id[65];
  char *name;            /* duro_malloc'ed; NULL: created from an id */
  uint64_t keys;         /* kv pairs */
  uint64_t bytes;        /* their keys' and values' bytes */
  int64_t next_alarm_ms; /* the earliest alarm's due time; -1: none */
} duro_object_row_t;

/*
 * The objects of namespace ns (NUL-terminated) whose id sorts after after
 * (NULL or "": from the first), ascending, at most limit of them. On
 * success returns 0 with *rows (free with duro_object_rows_free) and *n;
 * else a negative DURO_E* code with (NULL, 0). Worker thread only.
 */
int duro_store_list_objects(duro_store_db_t *db, const char *ns,
                            const char *after, unsigned limit,
                            duro_object_row_t **rows, size_t *n);
void duro_object_rows_free(duro_object_row_t *rows, size_t n);

#endif
