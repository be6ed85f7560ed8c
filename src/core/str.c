/* str.c: see str.h. */
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/err.h"

int duro_fmt(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = duro_vfmt(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

int duro_vfmt(char *buf, size_t size, const char *fmt, va_list ap) {
  int n = vsnprintf(buf, size, fmt, ap);
  if (n < 0) {
    if (size)
      buf[0] = '\0';
    return DURO_EINVAL;
  }
  return (size_t)n < size ? n : DURO_E2BIG;
}

int duro_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out) {
  if (len == 0 || len > 19)
    return len ? DURO_E2BIG : DURO_EINVAL;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return DURO_EINVAL;
    v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot overflow */
  }
  if (v > max)
    return DURO_E2BIG;
  *out = v;
  return 0;
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

const char *duro_trim_ows(const char *s, size_t *n) {
  while (*n && (s[0] == ' ' || s[0] == '\t')) {
    s++;
    (*n)--;
  }
  while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
    (*n)--;
  return s;
}

int duro_memcaseeq(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen != blen)
    return 0;
  for (size_t i = 0; i < alen; i++)
    if (lower(a[i]) != lower(b[i]))
      return 0;
  return 1;
}
