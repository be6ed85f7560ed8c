/* kvmap.c: see kvmap.h. */
#include "objects/kvmap.h"

#include <string.h>

#include "core/alloc.h"

int duro_key_cmp(const void *a, size_t alen, const void *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c)
    return c;
  return alen < blen ? -1 : alen > blen ? 1 : 0;
}

size_t duro_kvmap_lower_bound(const duro_kvmap_t *m, const void *key,
                              size_t klen) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (duro_key_cmp(m->e[mid].key, m->e[mid].key_len, key, klen) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

long duro_kvmap_find(const duro_kvmap_t *m, const void *key, size_t klen) {
  size_t i = duro_kvmap_lower_bound(m, key, klen);
  if (i < m->n && duro_key_cmp(m->e[i].key, m->e[i].key_len, key, klen) == 0)
    return (long)i;
  return -(long)i - 1;
}

static void grow(duro_kvmap_t *m) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 8;
    m->e = duro_realloc(m->e, m->cap * sizeof(*m->e));
  }
}

void duro_kvmap_put(duro_kvmap_t *m, const void *key, size_t klen,
                    const void *val, size_t vlen) {
  long i = duro_kvmap_find(m, key, klen);
  if (i >= 0) {
    duro_free(m->e[i].value);
    m->e[i].value = duro_memdup(val, vlen);
    m->e[i].value_len = vlen;
    return;
  }
  size_t at = (size_t)(-i - 1);
  grow(m);
  memmove(m->e + at + 1, m->e + at, (m->n - at) * sizeof(*m->e));
  m->e[at].key = duro_memdup(key, klen);
  m->e[at].key_len = klen;
  m->e[at].value = duro_memdup(val, vlen);
  m->e[at].value_len = vlen;
  m->n++;
}

void duro_kvmap_append_owned(duro_kvmap_t *m, uint8_t *key, size_t klen,
                             uint8_t *val, size_t vlen) {
  grow(m);
  m->e[m->n++] = (duro_kv_entry_t){key, klen, val, vlen};
}

int duro_kvmap_delete(duro_kvmap_t *m, const void *key, size_t klen) {
  long i = duro_kvmap_find(m, key, klen);
  if (i < 0)
    return 0;
  duro_free(m->e[i].key);
  duro_free(m->e[i].value);
  memmove(m->e + i, m->e + i + 1, (m->n - (size_t)i - 1) * sizeof(*m->e));
  m->n--;
  return 1;
}

void duro_kvmap_clear(duro_kvmap_t *m) {
  for (size_t i = 0; i < m->n; i++) {
    duro_free(m->e[i].key);
    duro_free(m->e[i].value);
  }
  duro_free(m->e);
  m->e = NULL;
  m->n = m->cap = 0;
}
