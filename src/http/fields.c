/* fields.c: see fields.h. */
#include "http/fields.h"

#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"

static void push(duro_fields_t *f, size_t v) {
  if (f->noffs == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 32;
    f->offs = duro_realloc(f->offs, f->cap * sizeof(size_t));
  }
  f->offs[f->noffs++] = v;
}

void duro_fields_name(duro_fields_t *f, duro_buf_t *text, const char *at,
                      size_t n) {
  if (f->last != 1) {
    push(f, text->len);
    push(f, 0);
    push(f, text->len);
    push(f, 0);
  }
  duro_buf_append(text, at, n);
  f->offs[f->noffs - 3] += n;
  f->last = 1;
}

int duro_fields_value(duro_fields_t *f, duro_buf_t *text, const char *at,
                      size_t n) {
  if (f->noffs == 0)
    return DURO_EPROTO;
  if (f->last != 2)
    f->offs[f->noffs - 2] = text->len;
  duro_buf_append(text, at, n);
  f->offs[f->noffs - 1] += n;
  f->last = 2;
  return 0;
}

void duro_fields_add(duro_fields_t *f, duro_buf_t *text, const char *name,
                     size_t name_len, const char *value, size_t value_len) {
  f->last = 0;
  duro_fields_name(f, text, name, name_len);
  duro_fields_value(f, text, value, value_len);
  f->last = 0;
}

duro_header_t *duro_fields_resolve(const duro_fields_t *f,
                                   const duro_buf_t *text) {
  size_t n = duro_fields_count(f);
  duro_header_t *hs = duro_calloc(n ? n : 1, sizeof(*hs));
  for (size_t i = 0; i < n; i++) {
    const size_t *o = f->offs + i * 4;
    hs[i].name = (const char *)text->data + o[0];
    hs[i].name_len = o[1];
    hs[i].value = (const char *)text->data + o[2];
    hs[i].value_len = o[3];
  }
  return hs;
}

const duro_header_t *duro_header_find(const duro_header_t *hs, size_t n,
                                      const char *name) {
  size_t len = strlen(name); /* C string: per fields.h */
  for (size_t i = 0; i < n; i++)
    if (duro_memcaseeq(hs[i].name, hs[i].name_len, name, len))
      return &hs[i];
  return NULL;
}

void duro_fields_free(duro_fields_t *f) {
  duro_free(f->offs);
  memset(f, 0, sizeof(*f));
}
