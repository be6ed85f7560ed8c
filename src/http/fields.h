/*
 * fields.h: header fields gathered from http-parser's callbacks, shared by
 * the server (http.c) and the client (client.c).
 *
 * http-parser may hand a name or a value over in several pieces. The bytes
 * are appended to a buffer the caller owns (it may hold other bytes first,
 * such as the request target), and only offsets are kept while it grows;
 * duro_fields_resolve turns them into pointers once it no longer does.
 */
#ifndef DURO_HTTP_FIELDS_H
#define DURO_HTTP_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/types.h"

typedef struct duro_fields {
  size_t *offs; /* name offset, name length, value offset, value length */
  size_t noffs, cap;
  uint8_t last; /* what came last: 0 nothing, 1 a name, 2 a value */
} duro_fields_t;

/* The number of fields so far. */
static inline size_t duro_fields_count(const duro_fields_t *f) {
  return f->noffs / 4;
}

/* 1 when the next name piece starts a new field (the last piece was not a
 * name), so a caller can check its field limit before adding. */
static inline int duro_fields_starts_field(const duro_fields_t *f) {
  return f->last != 1;
}

/* Appends a piece of a field name to text. */
void duro_fields_name(duro_fields_t *f, duro_buf_t *text, const char *at,
                      size_t n);
/* Appends a piece of a field value to text. DURO_EPROTO when no name came
 * before it. */
int duro_fields_value(duro_fields_t *f, duro_buf_t *text, const char *at,
                      size_t n);
/* Appends a whole field. */
void duro_fields_add(duro_fields_t *f, duro_buf_t *text, const char *name,
                     size_t name_len, const char *value, size_t value_len);
/* A newly allocated array of the duro_fields_count() fields, pointing into
 * text's bytes (valid while text is neither freed nor grown). Never NULL. */
duro_header_t *duro_fields_resolve(const duro_fields_t *f,
                                   const duro_buf_t *text);
/* The first of n headers named name (NUL-terminated; compared
 * case-insensitively), or NULL. */
const duro_header_t *duro_header_find(const duro_header_t *hs, size_t n,
                                      const char *name);
/* Frees the offsets; f is empty afterwards. */
void duro_fields_free(duro_fields_t *f);

#endif
