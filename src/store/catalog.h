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

/* One object's row as duro_store_list_objects gives it (name, keys,
 * bytes, next alarm): 0 with *row filled, DURO_ENOENT when storage has no
 * such object, or another negative DURO_E* code. Free row->name. */
int duro_store_object_summary(duro_store_db_t *db, const char *id,
                              duro_object_row_t *row);

/* One alarm of an object, as stored. */
typedef struct duro_alarm_entry {
  char *name; /* duro_malloc'ed */
  int64_t due_ms;
} duro_alarm_entry_t;

/* The alarms of object id, by due time: 0 with *out (free with
 * duro_alarm_entries_free) and *n, or a negative DURO_E* code. */
int duro_store_object_alarms(duro_store_db_t *db, const char *id,
                             duro_alarm_entry_t **out, size_t *n);
void duro_alarm_entries_free(duro_alarm_entry_t *a, size_t n);

/* A page of object id's kv pairs in key order (memcmp, as loads give
 * them): those whose key sorts after after (after_len bytes; NULL: from
 * the first), at most limit. 0 with *kv (free with duro_store_kv_free)
 * and *n, or a negative DURO_E* code. */
int duro_store_kv_page(duro_store_db_t *db, const char *id, const void *after,
                       size_t after_len, unsigned limit, duro_kv_t **kv,
                       size_t *n);

#endif
