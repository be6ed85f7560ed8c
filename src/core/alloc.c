/* alloc.c: see alloc.h. */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size) {
  fprintf(stderr, "duro: out of memory allocating %zu bytes\n", size);
  abort();
}

void *duro_malloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    out_of_memory(size);
  return p;
}

void *duro_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    out_of_memory(n * size);
  return p;
}

void *duro_realloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  if (!p)
    out_of_memory(size);
  return p;
}

char *duro_strdup(const char *s) {
  return duro_strndup(s, strlen(s)); /* C string: what strdup takes */
}

char *duro_strndup(const char *s, size_t len) {
  char *p = duro_malloc(len + 1);
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

void *duro_memdup(const void *src, size_t len) {
  void *p = duro_malloc(len);
  if (len)
    memcpy(p, src, len);
  return p;
}
