/* buf.c: see buf.h. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "core/alloc.h"

duro_chunk_t *duro_chunk_new(size_t len) {
  duro_chunk_t *c = duro_malloc(sizeof(*c) + len);
  c->refs = 1;
  c->len = (uint32_t)len;
  return c;
}

duro_chunk_t *duro_chunk_from(const void *data, size_t len) {
  duro_chunk_t *c = duro_chunk_new(len);
  if (len)
    memcpy(c->data, data, len);
  return c;
}

_Static_assert(offsetof(duro_chunk_t, data) == DURO_CHUNK_HEADROOM,
               "a chunk's bytes follow its header");

duro_chunk_t *duro_chunk_adopt(void *mem, size_t len) {
  duro_chunk_t *c = mem;
  c->refs = 1;
  c->len = (uint32_t)len;
  return c;
}

void duro_chunk_unref(duro_chunk_t *c) {
  if (c && --c->refs == 0)
    duro_free(c);
}

uint8_t *duro_buf_reserve(duro_buf_t *b, size_t extra) {
  if (b->cap - b->len < extra) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
      cap *= 2;
    b->data = duro_realloc(b->data, cap);
    b->cap = cap;
  }
  return b->data + b->len;
}

void duro_buf_append(duro_buf_t *b, const void *data, size_t len) {
  if (!len)
    return;
  memcpy(duro_buf_reserve(b, len), data, len);
  b->len += len;
}

void duro_buf_append_str(duro_buf_t *b, const char *s) {
  duro_buf_append(b, s, strlen(s)); /* C string: the function's contract */
}

void duro_buf_vprintf(duro_buf_t *b, const char *fmt, va_list ap) {
  /* Format into the room there is; only text that does not fit is
   * formatted a second time, after growing. */
  va_list ap2;
  va_copy(ap2, ap);
  size_t room = b->cap - b->len;
  int n = vsnprintf(room ? (char *)b->data + b->len : NULL, room, fmt, ap2);
  va_end(ap2);
  if (n <= 0)
    return;
  if ((size_t)n >= room) {
    uint8_t *p = duro_buf_reserve(b, (size_t)n + 1);
    vsnprintf((char *)p, (size_t)n + 1, fmt, ap);
  }
  b->len += (size_t)n;
}

void duro_buf_append_i64(duro_buf_t *b, int64_t v) {
  char tmp[20];
  size_t i = sizeof(tmp);
  /* through unsigned, so that INT64_MIN negates without overflow */
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  uint8_t *p = duro_buf_reserve(b, sizeof(tmp) + 1 - i);
  if (v < 0)
    *p++ = '-';
  memcpy(p, tmp + i, sizeof(tmp) - i);
  b->len += sizeof(tmp) - i + (v < 0);
}

void duro_buf_printf(duro_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  duro_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void duro_buf_consume(duro_buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void duro_buf_free(duro_buf_t *b) {
  duro_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

duro_chunk_t *duro_buf_to_chunk(duro_buf_t *b) {
  duro_chunk_t *c = duro_chunk_from(b->data, b->len);
  b->len = 0;
  return c;
}
