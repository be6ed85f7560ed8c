/*
 * kvmap.h: an object's storage as an in-memory ordered map.
 *
 * A sorted array of entries compared with memcmp, the order SQLite gives
 * BLOB keys, so list() here and on disk agree. Lookups are binary
 * searches; inserts move the tail. That is right for the small maps that
 * objects keep; a tree can replace it behind the same calls.
 */
#ifndef DURO_OBJECTS_KVMAP_H
#define DURO_OBJECTS_KVMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct duro_kv_entry {
  uint8_t *key;
  size_t key_len;
  uint8_t *value;
  size_t value_len;
} duro_kv_entry_t;

typedef struct duro_kvmap {
  duro_kv_entry_t *e;
  size_t n, cap;
} duro_kvmap_t;

/* Index of key, or -(insertion point) - 1 when absent. */
long duro_kvmap_find(const duro_kvmap_t *m, const void *key, size_t klen);
/* Copies key and value in; replaces an existing value. */
void duro_kvmap_put(duro_kvmap_t *m, const void *key, size_t klen,
                    const void *val, size_t vlen);
/* Takes ownership of key and value (both duro_malloc'ed); keys must come
 * in ascending order (a load from disk). */
void duro_kvmap_append_owned(duro_kvmap_t *m, uint8_t *key, size_t klen,
                             uint8_t *val, size_t vlen);
/* Returns 1 when the key existed. */
int duro_kvmap_delete(duro_kvmap_t *m, const void *key, size_t klen);
void duro_kvmap_clear(duro_kvmap_t *m);
/* First index with key >= key (lower bound). */
size_t duro_kvmap_lower_bound(const duro_kvmap_t *m, const void *key,
                              size_t klen);
/* memcmp order with shorter-is-smaller on a common prefix. */
int duro_key_cmp(const void *a, size_t alen, const void *b, size_t blen);

#endif
